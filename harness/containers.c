/* Containers and networks for a test: the routed network and hosts
 * entries, placement (network, host mounts), the keep-alive busybox, and
 * fresh containers for steps. */
#include "runner-internal.h"
#include "reclaim.h"
#include "runtime/base/log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

/* The host's static busybox, copied into fresh containers to keep them
 * alive while their step runs by exec (any image, no shell needed). */
static pthread_once_t keepalive_once = PTHREAD_ONCE_INIT;
static struct cln_buf keepalive;

static void load_keepalive(void)
{
    int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        cln_buf_append(&keepalive, tmp, (size_t)n);
    close(fd);
}

const struct cln_buf *cln_runner_keepalive(void)
{
    pthread_once(&keepalive_once, load_keepalive);
    return &keepalive;
}

const struct cln_file *cln_runner_keepalive_files(size_t *ret_n)
{
    static struct cln_file files[2];
    const struct cln_buf *ka = cln_runner_keepalive();
    size_t len = 0;
    const char *exec = cln_runner_inside_exec(&len);
    files[0] = (struct cln_file){
        .path = KEEPALIVE_BIN + 1, .data = ka->data, .len = ka->len, .mode = 0755};
    files[1] =
        (struct cln_file){.path = KEEPALIVE_EXEC + 1, .data = exec, .len = len, .mode = 0755};
    *ret_n = ka->len ? 2 : 0;
    return files;
}

/* ---- networks ---- */

/* The test's routed network (a route to the host and beyond), made the
 * first time a container needs one: a service that publishes ports (an
 * engine publishes ports only from such a network) or a container the spec
 * gave outbound = true.  Named to sort before the internal one: Podman's
 * CNI programs a container's published ports for each of its networks, in
 * name order, and the first wins. */
static const char *routed_network(struct test_ctx *c, struct cln_error **err)
{
    pthread_mutex_lock(&c->lock);
    if (!c->routed && !c->routed_failed) {
        char name[96];
        snprintf(name, sizeof(name), "cleanrun-%s-%zu-egress", c->run->opts->run_id, c->index);
        char *id = NULL;
        bool resolves = false;
        struct cln_error *e = NULL;
        if (cln_network_create(c->run->rt, name, &c->labels, false, &id, &resolves, &e) < 0) {
            c->routed_failed = true;
            *err = cln_runner_wrap(e, "routed network");
        } else {
            c->routed = cln_xstrdup(name);
        }
        free(id);
    } else if (!c->routed) {
        *err = cln_error_make(CLN_E_BACKEND, 0, "the test's routed network could not be created");
    }
    const char *r = c->routed;
    pthread_mutex_unlock(&c->lock);
    return r;
}

void cln_runner_hosts_vector(struct test_ctx *c, size_t *ret_n, struct cln_strv *ret)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nhosts; i++)
        cln_strv_push(ret, cln_xasprintf("%s:%s", c->hosts[i].name, c->hosts[i].ip));
    if (ret_n)
        *ret_n = c->nhosts;
    pthread_mutex_unlock(&c->lock);
}

void cln_runner_add_hosts(struct test_ctx *c, size_t svc, const char *ip)
{
    const struct cln_spec_service *s = &c->t->services[svc];
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i <= s->aliases.n; i++) {
        c->hosts = cln_xgrow(c->hosts, &c->hcap, c->nhosts + 1, sizeof(*c->hosts));
        c->hosts[c->nhosts++] =
            (struct host_entry){.name = cln_xstrdup(i ? s->aliases.v[i - 1] : s->name),
                                .ip = cln_xstrdup(ip),
                                .service = svc};
    }
    pthread_mutex_unlock(&c->lock);
}

struct cln_mount *cln_runner_host_mounts(const struct cln_spec_privs *p)
{
    struct cln_mount *m = cln_xcalloc(p->nmounts ? p->nmounts : 1, sizeof(*m));
    for (size_t i = 0; i < p->nmounts; i++)
        m[i] = (struct cln_mount){.type = CLN_MOUNT_BIND,
                                  .source = p->mounts[i].source,
                                  .target = p->mounts[i].target,
                                  .read_only = p->mounts[i].read_only};
    return m;
}

int cln_runner_place(struct test_ctx *c, const struct cln_spec_privs *p, bool wants_net, bool ports,
                     struct placement *ret, struct cln_error **err)
{
    const char *net = c->r->network;
    memset(ret, 0, sizeof(*ret));
    if (p->host_network) {
        *ret = (struct placement){.network = "host",
                                  .mode = CLN_NET_HOST,
                                  .reason = "host_network = true, allowed by "
                                            "--allow-host-network"};
        return 0;
    }
    if (!net) {
        *ret = (struct placement){.network = wants_net ? NULL : "none",
                                  .mode = wants_net ? CLN_NET_UNKNOWN : CLN_NET_NONE,
                                  .reason = wants_net ? "the runtime has no networks: its default "
                                                        "network"
                                                      : "no network"};
        return 0;
    }
    if (p->outbound || ports) {
        const char *routed = routed_network(c, err);
        if (!routed)
            return -1;
        *ret = (struct placement){
            .network = routed,
            .join_internal = wants_net || ports,
            .mode = CLN_NET_ROUTED,
            .reason = p->outbound ? "outbound = true, allowed by --allow-outbound"
                                  : "it publishes ports, which an engine does only from a "
                                    "network with a route out"};
        return 0;
    }
    if (wants_net) {
        *ret = (struct placement){.network = net,
                                  .mode = CLN_NET_INTERNAL,
                                  .reason = "the test's internal network: no route to the host "
                                            "or beyond"};
        return 0;
    }
    *ret = (struct placement){.network = "none", .mode = CLN_NET_NONE, .reason = "no network"};
    return 0;
}

/* The keep-alive busybox once for the run: a volume of the run holding it,
 * filled through a container that is created and never started (an
 * archive into its mount), then checked through a second one; every
 * container mounts it read-only at KEEPALIVE_DIR, and no 2 MB copy (an
 * untar in the engine for each container) is made.  An engine that does
 * not fill a volume that way (Podman copies into the container's own
 * layer) or has no volumes: each container gets its copy, as before. */
static int fill_keepalive_volume(struct test_ctx *c, const char *image, const char *name)
{
    struct cln_runtime *rt = c->run->rt;
    struct cln_labels labels = {0};
    cln_runtime_labels(&labels, c->run->opts->run_id, c->run->opts->version, NULL);
    struct cln_error *e = NULL;
    char *vname = NULL;
    int r = cln_volume_create(rt, name, &labels, &vname, &e);
    free(vname);
    static const char *const cmd[] = {KEEPALIVE_BIN, "true", NULL};
    /* a marker of this run's filling, looked for through a second container */
    char mark[64];
    snprintf(mark, sizeof(mark), "%s\n", c->run->opts->run_id);
    const struct cln_file filled = {
        .path = KEEPALIVE_DIR "/.filled" + 1, .data = mark, .len = strlen(mark), .mode = 0644};
    for (int pass = 0; r == 0 && pass < 2; pass++) {
        struct cln_mount m = {
            .type = CLN_MOUNT_VOLUME, .source = name, .target = KEEPALIVE_DIR, .read_only = pass};
        struct cln_container_config cfg = {.image = image,
                                           .entrypoint = cmd,
                                           .cmd = cmd + 2,
                                           .labels = &labels,
                                           .network = "none",
                                           .mounts = &m,
                                           .nmounts = 1};
        char *id = NULL;
        r = cln_rt_create(rt, &cfg, &id, &e);
        if (r == 0 && pass == 0) {
            size_t nka = 0;
            const struct cln_file *ka_files = cln_runner_keepalive_files(&nka);
            struct cln_file files[4];
            memcpy(files, ka_files, nka * sizeof(*files));
            files[nka++] = filled;
            r = cln_rt_copy_in(rt, id, "/", files, nka, &e);
        } else if (r == 0) {
            /* what a container mounting it sees: the small marker, not the
             * 2 MB busybox again (an archive of it costs the engine ~70 ms) */
            struct cln_file_info fi = {0};
            struct cln_capture content = {0};
            bool found = false;
            r = cln_rt_copy_out(rt, id, KEEPALIVE_DIR "/.filled", 256, &fi, &content, &found, &e);
            if (r == 0 && (!found || content.data.len != filled.len ||
                           memcmp(content.data.data, filled.data, filled.len) != 0))
                r = -1;
            if (found) {
                cln_file_info_done(&fi);
                cln_capture_done(&content);
            }
        }
        if (id) {
            struct cln_error *re = NULL;
            if (cln_rt_remove(rt, id, true, &re) < 0 && r == 0)
                r = -1;
            cln_error_free(re);
            free(id);
        }
    }
    cln_error_free(e);
    cln_labels_done(&labels);
    return r;
}

const char *cln_runner_keepalive_volume(struct test_ctx *c, const char *image)
{
    struct run *run = c->run;
    pthread_mutex_lock(&run->ka_lock);
    if (run->ka_state == 0) {
        run->ka_state = -1;
        if (cln_runner_keepalive()->len && cln_runtime_supports(run->rt, CLN_FEATURE_VOLUME)) {
            snprintf(run->ka_volume, sizeof(run->ka_volume), "cleanrun-%s-keepalive",
                     run->opts->run_id);
            run->ka_state = fill_keepalive_volume(c, image, run->ka_volume) == 0 ? 1 : -1;
            if (run->ka_state < 0) {
                struct cln_error *e = NULL;
                (void)cln_volume_remove(run->rt, run->ka_volume, true, &e);
                cln_error_free(e);
            }
        }
    }
    const char *v = run->ka_state > 0 ? run->ka_volume : NULL;
    pthread_mutex_unlock(&run->ka_lock);
    return v;
}

void cln_runner_keepalive_volume_done(struct run *run, bool kept)
{
    if (run->ka_state != 1 || kept)
        return; /* kept: its containers still mount it; gc removes both */
    struct cln_error *e = NULL;
    (void)cln_volume_remove(run->rt, run->ka_volume, true, &e);
    cln_error_free(e); /* the leak audit finds it if it is still there */
}

/* ---- a runtime that copies only into running containers ----
 * (Apple's `container cp`): what a container needs when its first process
 * starts is written into the run's private host directory and mounted:
 * the keep-alive files read-only at KEEPALIVE_DIR, and a container's own
 * files read-only at STAGED_DIR, which cleanrun-exec -F puts in place
 * before it becomes the container's process. */

/* The run's private host directory (0700), made once. */
static const char *run_host_dir(struct run *run, struct cln_error **err)
{
    pthread_mutex_lock(&run->ka_lock);
    if (run->host_dir_state == 0) {
        if (cln_host_dir_make(run->opts->run_id, &run->host_dir, err) == 0)
            run->host_dir_state = 1;
        else
            run->host_dir_state = -1;
    } else if (run->host_dir_state < 0) {
        *err = cln_error_make(CLN_E_IO, 0, "the run's host directory could not be made");
    }
    const char *d = run->host_dir;
    pthread_mutex_unlock(&run->ka_lock);
    return d;
}

static int make_dirs(char *path, size_t from)
{
    for (char *p = path + from; (p = strchr(p + 1, '/'));) {
        *p = '\0';
        int r = mkdir(path, 0755);
        if (r == 0)
            r = chmod(path, 0755); /* not the umask's */
        else if (errno == EEXIST)
            r = 0;
        *p = '/';
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Write files (paths relative to /) under root, each with its mode. */
static int write_tree(const char *root, const struct cln_file *files, size_t n,
                      struct cln_error **err)
{
    for (size_t i = 0; i < n; i++) {
        const char *rel = files[i].path;
        while (*rel == '/')
            rel++;
        cleanup_free char *path = cln_xasprintf("%s/%s", root, rel);
        bool dotdot = strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0 ||
                      strstr(rel, "/../") ||
                      (strlen(rel) >= 3 && !strcmp(rel + strlen(rel) - 3, "/.."));
        if (!*rel || dotdot)
            return cln_error_set(err, CLN_E_INVALID, 0, "file path %s leaves its directory",
                                 files[i].path);
        if (make_dirs(path, strlen(root)) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "stage %s", files[i].path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return cln_error_set(err, CLN_E_IO, errno, "stage %s", files[i].path);
        const char *d = files[i].data;
        size_t left = files[i].len;
        int r = 0;
        while (left && r == 0) {
            ssize_t w = write(fd, d, left);
            if (w < 0 && errno != EINTR)
                r = -1;
            else if (w > 0) {
                d += w;
                left -= (size_t)w;
            }
        }
        if (r == 0 && fchmod(fd, files[i].mode ? files[i].mode & 07777 : 0644) < 0)
            r = -1;
        int saved = errno;
        if (close(fd) < 0 && r == 0) {
            r = -1;
            saved = errno;
        }
        if (r < 0)
            return cln_error_set(err, CLN_E_IO, saved, "stage %s", files[i].path);
    }
    return 0;
}

/* Whether a local engine binds the run's host directory: 0 not known
 * yet, 1 it does, -1 it does not. */
static int keepalive_bind_state(struct run *run)
{
    pthread_mutex_lock(&run->ka_lock);
    int b = run->ka_bind;
    pthread_mutex_unlock(&run->ka_lock);
    return b;
}

static void keepalive_bind_set(struct run *run, int b)
{
    pthread_mutex_lock(&run->ka_lock);
    if (run->ka_bind == 0)
        run->ka_bind = b;
    pthread_mutex_unlock(&run->ka_lock);
}

/* The keep-alive files in the run's host directory, written once. */
static const char *keepalive_host_dir(struct run *run, struct cln_error **err)
{
    const char *root = run_host_dir(run, err);
    if (!root)
        return NULL;
    pthread_mutex_lock(&run->ka_lock);
    if (run->ka_dir_state == 0) {
        size_t nka = 0;
        const struct cln_file *ka_files = cln_runner_keepalive_files(&nka);
        run->ka_dir_state = write_tree(root, ka_files, nka, err) == 0 ? 1 : -1;
    } else if (run->ka_dir_state < 0) {
        *err = cln_error_make(CLN_E_IO, 0, "the keep-alive files could not be written to %s", root);
    }
    bool ok = run->ka_dir_state == 1;
    pthread_mutex_unlock(&run->ka_lock);
    return ok ? root : NULL;
}

/* A container's files staged in a directory of their own. */
/* A container's staged files (runtimes without COPY_CREATED): under
 * files-N of the run's host directory, the tree in root/ and the host
 * entries in hosts, put in place by cleanrun-exec -F and -H. */
static char *stage_files(struct run *run, const struct cln_file *files, size_t n,
                         const char *const *owners, const struct cln_buf *hosts,
                         struct cln_error **err)
{
    const char *root = run_host_dir(run, err);
    if (!root)
        return NULL;
    pthread_mutex_lock(&run->ka_lock);
    unsigned k = ++run->staged;
    pthread_mutex_unlock(&run->ka_lock);
    char *dir = cln_xasprintf("%s/files-%u", root, k);
    cleanup_free char *tree = cln_xasprintf("%s/root", dir);
    if (mkdir(dir, 0755) < 0 || chmod(dir, 0755) < 0 ||
        (n && (mkdir(tree, 0755) < 0 || chmod(tree, 0755) < 0))) {
        *err = cln_error_make(CLN_E_IO, errno, "make %s", n ? tree : dir);
        free(dir);
        return NULL;
    }
    struct cln_file hf = {.path = "hosts",
                          .data = hosts ? hosts->data : NULL,
                          .len = hosts ? hosts->len : 0,
                          .mode = 0644};
    /* owners: "OWNER<TAB>/PATH" lines, applied by cleanrun-exec -O in the
     * container (names looked up there) */
    struct cln_buf ob = CLN_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        if (owners && owners[i])
            cln_buf_printf(&ob, "%s\t/%s\n", owners[i], p + strspn(p, "/"));
        else if (files[i].uid || files[i].gid)
            cln_buf_printf(&ob, "%u:%u\t/%s\n", files[i].uid, files[i].gid, p + strspn(p, "/"));
    }
    struct cln_file of = {.path = "owners", .data = ob.data, .len = ob.len, .mode = 0644};
    int r = (n && write_tree(tree, files, n, err) < 0) ||
                    (hosts && hosts->len && write_tree(dir, &hf, 1, err) < 0) ||
                    (ob.len && write_tree(dir, &of, 1, err) < 0)
                ? -1
                : 0;
    cln_buf_done(&ob);
    if (r < 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* The test's volumes and tmpfs mounts of a container (data may be NULL)
 * appended to mounts. */
static struct cln_mount *data_mounts(struct test_ctx *c, const struct cln_spec_mounts *data,
                                     struct cln_mount *mounts, size_t *n)
{
    if (!data)
        return mounts;
    mounts = cln_xrealloc(mounts, (*n + data->nvolumes + data->ntmpfs + 1) * sizeof(*mounts));
    for (size_t i = 0; i < data->nvolumes; i++) {
        const char *name = NULL;
        for (size_t k = 0; k < c->t->volumes.n && !name; k++)
            if (k < c->volumes.n && strcmp(c->t->volumes.v[k], data->volumes[i].volume) == 0)
                name = c->volumes.v[k];
        mounts[(*n)++] = (struct cln_mount){.type = CLN_MOUNT_VOLUME,
                                            .source = name,
                                            .target = data->volumes[i].target,
                                            .read_only = data->volumes[i].read_only};
    }
    for (size_t i = 0; i < data->ntmpfs; i++)
        mounts[(*n)++] = (struct cln_mount){.type = CLN_MOUNT_TMPFS,
                                            .target = data->tmpfs[i].target,
                                            .tmpfs_size = data->tmpfs[i].size,
                                            .tmpfs_mode = data->tmpfs[i].mode};
    return mounts;
}

/* The container's first process as the engine would run it: Docker's
 * rule, an entrypoint given clears the image's CMD. */
static int first_process(struct cln_runtime *rt, const struct cln_container_config *cfg,
                         struct cln_strv *ret, struct cln_error **err)
{
    struct cln_image_info ii;
    memset(&ii, 0, sizeof(ii));
    if (!cfg->entrypoint || !cfg->cmd) {
        int r = cln_rt_image_inspect(rt, cfg->image, &ii, err);
        if (r == 0)
            return cln_error_set(err, CLN_E_NOT_FOUND, 0, "image %s is not present", cfg->image);
        if (r < 0)
            return -1;
    }
    const char *const *ep = cfg->entrypoint ? cfg->entrypoint : cln_strv_argv(&ii.entrypoint);
    for (; *ep; ep++)
        cln_strv_add(ret, *ep);
    const char *const *cmd = cfg->cmd ? cfg->cmd : cfg->entrypoint ? NULL : cln_strv_argv(&ii.cmd);
    for (; cmd && *cmd; cmd++)
        cln_strv_add(ret, *cmd);
    cln_image_info_done(&ii);
    if (!ret->n)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "image %s has no ENTRYPOINT or CMD and none was given", cfg->image);
    return 0;
}

void cln_runner_host_dir_done(struct run *run, bool kept)
{
    if (!kept)
        cln_host_dir_remove(run->host_dir);
    free(run->host_dir);
    run->host_dir = NULL;
}

/* The create path services and fresh containers share: the test's labels
 * plus label, the hermetic defaults and the privileges the spec allowed,
 * the hosts entries, a readable name; then create, track for teardown,
 * join the test network (with aliases) and copy the files in.  The
 * caller's part of the config (image, command, env, ports, network,
 * limits) is in req->cfg.  On failure *msg says why, prefixed with
 * req->prefix ("service web") when set; *ret_id is set once created
 * (tracked: teardown removes it). */
int cln_runner_create_container(struct test_ctx *c, const struct cln_runner_create *req,
                                char **ret_id, struct cln_error **err)
{
    struct cln_runtime *rt = c->run->rt;
    const struct placement *pl = req->pl;
    struct cln_labels labels = {0};
    for (size_t i = 0; i < c->labels.len; i++)
        cln_labels_set(&labels, c->labels.items[i].key, c->labels.items[i].value);
    cln_labels_set(&labels, req->label, req->label_value);
    struct cln_mount *mounts = cln_runner_host_mounts(req->privs);
    size_t nmounts = req->privs->nmounts;
    mounts = data_mounts(c, req->data, mounts, &nmounts);
    /* the keep-alive busybox: the run's volume, read-only, or a copy; on a
     * runtime that copies only into running containers, the run's host
     * directory, and the container's files staged and put in place by
     * cleanrun-exec before its process */
    const struct cln_buf *ka = cln_runner_keepalive();
    bool copy_created = cln_runtime_supports(rt, CLN_FEATURE_COPY_CREATED);
    /* the test's host names: given at create, or, where the runtime copies
     * only into running containers (and takes no host entries), staged
     * and appended to /etc/hosts by cleanrun-exec */
    cleanup_strv struct cln_strv hosts = {0};
    bool with_hosts =
        pl->mode != CLN_NET_NONE && pl->mode != CLN_NET_HOST && c->r->network && !c->resolves;
    if (with_hosts)
        cln_runner_hosts_vector(c, req->hosts_known, &hosts);
    /* a service with no network (a lone one) reaches itself by its names */
    for (size_t i = 0; pl->mode == CLN_NET_NONE && req->aliases && req->aliases[i]; i++)
        cln_strv_push(&hosts, cln_xasprintf("%s:127.0.0.1", req->aliases[i]));
    with_hosts = with_hosts || hosts.n;
    struct cln_buf hosts_text = CLN_BUF_INIT;
    for (size_t i = 0; !copy_created && i < hosts.n; i++) {
        const char *colon = strrchr(hosts.v[i], ':');
        cln_buf_printf(&hosts_text, "%s\t%.*s\n", colon + 1, (int)(colon - hosts.v[i]), hosts.v[i]);
    }
    /* the keep-alive busybox: the run's volume, read-only, or a copy; on a
     * runtime that copies only into running containers, the run's host
     * directory, and the container's files staged and put in place by
     * cleanrun-exec before its process */
    const char *kavol = NULL, *kadir = NULL;
    cleanup_free char *kasrc = NULL, *staged = NULL;
    cleanup_strv struct cln_strv wrapped = {0};
    struct cln_error *e = NULL;
    bool stage = !copy_created && (req->nfiles || hosts_text.len);
    /* a local engine binds the run's host directory: no volume to fill,
     * no copy; one that turns out not to see this host's files (another
     * mount namespace: cleanrun in a container beside the engine's socket)
     * gets the volume or a copy instead, from then on */
    int bind = req->keepalive && ka->len && copy_created && cln_runtime_local(rt) &&
                       cln_runtime_supports(rt, CLN_FEATURE_BIND_CHECKED)
                   ? keepalive_bind_state(c->run)
                   : -1;
    if (bind >= 0) {
        struct cln_error *be = NULL;
        kadir = keepalive_host_dir(c->run, &be);
        if (kadir) {
            kasrc = cln_xasprintf("%s%s", kadir, KEEPALIVE_DIR);
        } else {
            cln_log(CLN_LOG_INFO, "the keep-alive files are copied: %s", be ? be->msg : "?");
            cln_error_free(be);
            bind = -1;
        }
    }
    if (bind < 0 && req->keepalive && ka->len && copy_created) {
        kavol = cln_runner_keepalive_volume(c, req->cfg.image);
    } else if (bind < 0 && (req->keepalive || stage)) {
        if (!ka->len) {
            free(mounts);
            cln_labels_done(&labels);
            cln_buf_done(&hosts_text);
            *err = cln_error_make(CLN_E_IO, 0,
                                  "%s%scannot read /bin/busybox (busybox-static), which runtime "
                                  "%s needs in every container",
                                  req->prefix ? req->prefix : "", req->prefix ? ": " : "",
                                  cln_runtime_name(rt));
            return -1;
        }
        kadir = keepalive_host_dir(c->run, &e);
        if (kadir)
            kasrc = cln_xasprintf("%s%s", kadir, KEEPALIVE_DIR);
        if (kadir && stage)
            staged = stage_files(c->run, req->files, req->nfiles, req->owners, &hosts_text, &e);
        if (!kadir || (stage && (!staged || first_process(rt, &req->cfg, &wrapped, &e) < 0))) {
            free(mounts);
            cln_labels_done(&labels);
            cln_buf_done(&hosts_text);
            *err = req->prefix ? cln_runner_wrap(e, "%s", req->prefix) : e;
            return -1;
        }
    }
    if (kavol || kasrc) {
        mounts = cln_xrealloc(mounts, (nmounts + 1) * sizeof(*mounts));
        mounts[nmounts++] = (struct cln_mount){.type = kavol ? CLN_MOUNT_VOLUME : CLN_MOUNT_BIND,
                                               .source = kavol ? kavol : kasrc,
                                               .target = KEEPALIVE_DIR,
                                               .read_only = true};
    }
    if (staged) {
        mounts = cln_xrealloc(mounts, (nmounts + 1) * sizeof(*mounts));
        mounts[nmounts++] = (struct cln_mount){
            .type = CLN_MOUNT_BIND, .source = staged, .target = STAGED_DIR, .read_only = true};
    }
    size_t nka = 0;
    const struct cln_file *ka_files = cln_runner_keepalive_files(&nka);
    struct cln_file *files = cln_xcalloc(req->nfiles + nka + 1, sizeof(*files));
    size_t nfiles = copy_created ? req->nfiles : 0;
    if (nfiles)
        memcpy(files, req->files, req->nfiles * sizeof(*files));
    for (size_t i = 0; req->keepalive && copy_created && !kavol && !kasrc && i < nka; i++)
        files[nfiles++] = ka_files[i];
    /* cleanrun-exec [-F STAGED_DIR/root] [-H STAGED_DIR/hosts] -- the process */
    cleanup_strv struct cln_strv entry = {0};
    static const char *const no_cmd[] = {NULL};
    if (staged) {
        cln_strv_add(&entry, KEEPALIVE_EXEC);
        if (req->nfiles) {
            cln_strv_add(&entry, "-F");
            cln_strv_add(&entry, STAGED_DIR "/root");
        }
        bool owned = false;
        for (size_t i = 0; i < req->nfiles && !owned; i++)
            owned = (req->owners && req->owners[i]) || req->files[i].uid || req->files[i].gid;
        if (owned) {
            cln_strv_add(&entry, "-O");
            cln_strv_add(&entry, STAGED_DIR "/owners");
        }
        if (hosts_text.len) {
            cln_strv_add(&entry, "-H");
            cln_strv_add(&entry, STAGED_DIR "/hosts");
        }
        /* the files and hosts are put in place as root, then the process
         * becomes the user it was to run as */
        if (req->cfg.user) {
            cln_strv_add(&entry, "-u");
            cln_strv_add(&entry, req->cfg.user);
        }
        cln_strv_add(&entry, "--");
        for (size_t i = 0; i < wrapped.n; i++)
            cln_strv_add(&entry, wrapped.v[i]);
    }
    cln_buf_done(&hosts_text);
    cleanup_free char *cname = cln_runner_container_name(c, req->what);
    struct cln_container_config cfg = req->cfg;
    cfg.name = cname;
    cfg.labels = &labels;
    cfg.network = pl->network;
    cfg.no_new_privileges = true;
    cfg.privileged = req->privs->privileged;
    cfg.pid_host = req->privs->host_pid;
    cfg.mounts = mounts;
    cfg.nmounts = nmounts;
    cfg.extra_hosts = with_hosts && copy_created ? cln_strv_argv(&hosts) : NULL;
    if (staged) {
        cfg.entrypoint = cln_strv_argv(&entry);
        cfg.cmd = no_cmd;
        if (cfg.user)
            cfg.user = "0";
    }
    *ret_id = NULL;
    int r = cln_rt_create(rt, &cfg, ret_id, &e);
    if (bind == 0 && r < 0) {
        /* the first bind of the run was refused: again without it, and
         * when that is taken, the engine does not see this host's files
         * (Docker: "bind source path does not exist") */
        struct cln_error *first = e;
        e = NULL;
        kavol = cln_runner_keepalive_volume(c, req->cfg.image);
        nmounts--; /* the keep-alive mount, the last one (no staging here) */
        if (kavol)
            mounts[nmounts++] = (struct cln_mount){.type = CLN_MOUNT_VOLUME,
                                                   .source = kavol,
                                                   .target = KEEPALIVE_DIR,
                                                   .read_only = true};
        for (size_t i = 0; req->keepalive && !kavol && i < nka; i++)
            files[nfiles++] = ka_files[i];
        cfg.nmounts = nmounts;
        r = cln_rt_create(rt, &cfg, ret_id, &e);
        if (r == 0) {
            cln_log(CLN_LOG_INFO, "the engine does not bind %s (%s): the keep-alive files %s",
                    kasrc, first->msg, kavol ? "in a volume" : "copied into each container");
            keepalive_bind_set(c->run, -1);
        }
        cln_error_free(first);
    } else if (bind == 0) {
        keepalive_bind_set(c->run, 1);
    }
    cln_labels_done(&labels);
    free(mounts);
    const char *pfx = req->prefix ? req->prefix : "";
    const char *sep = req->prefix ? ": " : "";
    if (r < 0) {
        free(files);
        *err = req->prefix ? cln_runner_wrap(e, "%s", req->prefix) : e;
        return -1;
    }
    cln_runner_track(c, *ret_id);
    if (pl->join_internal && req->join &&
        cln_network_connect(rt, c->r->network, *ret_id, req->aliases, &e) < 0) {
        free(files);
        *err = cln_runner_wrap(e, "%s%sjoin the test network", pfx, sep);
        return -1;
    }
    bool by_name = false;
    for (size_t i = 0; copy_created && req->owners && i < req->nfiles; i++)
        by_name = by_name || req->owners[i];
    r = by_name ? cln_runner_resolve_owners(rt, *ret_id, files, req->owners, req->nfiles, &e) : 0;
    if (r == 0 && nfiles)
        r = cln_rt_copy_in(rt, *ret_id, "/", files, nfiles, &e);
    free(files);
    if (r < 0) {
        *err = req->files_word ? cln_runner_wrap(e, "%s%s%s", pfx, sep, req->files_word) : e;
        return -1;
    }
    return 0;
}

/* A fresh container for an ephemeral step, kept alive by the keepalive
 * binary; returns its id or NULL with *msg set. */
char *cln_runner_fresh_container(struct test_ctx *c, const struct cln_spec_step *s, size_t si,
                                 const struct cln_runner_gate *gate, struct cln_error **err,
                                 struct cln_evidence *ev, bool *observed, char token[static 40])
{
    struct cln_runtime *rt = c->run->rt;
    const struct cln_buf *ka = cln_runner_keepalive();
    if (!ka->len) {
        *err = cln_error_make(CLN_E_IO, 0,
                              "cannot read /bin/busybox (busybox-static), which keeps fresh "
                              "containers alive for their step");
        return NULL;
    }
    struct placement pl;
    if (cln_runner_place(c, &s->privs, s->network, false, &pl, err) < 0)
        return NULL;
    static const char *const entry[] = {KEEPALIVE_BIN, "sleep", "2147483647", NULL};
    static const char *const empty[] = {NULL};
    char what[32];
    snprintf(what, sizeof(what), "step%zu", si + 1);
    struct cln_runner_create req = {
        .what = what,
        .label = "io.cleanrun.step",
        .label_value = s->name,
        .privs = &s->privs,
        .pl = &pl,
        .cfg = {.image = s->image,
                .entrypoint = gate ? gate->argv : entry,
                .cmd = empty,
                .env = gate ? gate->env : NULL,

                .user = gate ? s->user : NULL,
                .init = false,
                .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
                .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS},
        .join = s->network,
        .keepalive = true,
        .data = &s->data,
        .files_word = s->nfiles ? "files" : NULL,
    };
    const char **owners = NULL;
    struct cln_file *files = cln_runner_spec_files(s->files, s->nfiles, &owners);
    req.files = files;
    req.nfiles = s->nfiles;
    req.owners = owners;
    char *id = NULL;
    struct cln_error *e = NULL;
    int cr = cln_runner_create_container(c, &req, &id, err);
    free(files);
    free(owners);
    if (cr < 0)
        return id; /* NULL, or tracked: teardown removes it */
    if (cln_rt_start(rt, id, &e) < 0) {
        *err = e;
        return id;
    }
    cln_runner_observe_container(rt, id, true, &s->privs, pl.mode, pl.reason, ev, token);
    *observed = true;
    return id;
}
