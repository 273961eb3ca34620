/* Containers and networks for a test: the routed network and hosts
 * entries, placement (network, host mounts), the keep-alive busybox, and
 * fresh containers for steps. */
#include "runner-internal.h"

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
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/proc.h"
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
    if (run->ka_state <= 0 || kept)
        return; /* kept: its containers still mount it; gc removes both */
    struct cln_error *e = NULL;
    (void)cln_volume_remove(run->rt, run->ka_volume, true, &e);
    cln_error_free(e); /* the leak audit finds it if it is still there */
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
    /* the keep-alive busybox: the run's volume, read-only, or a copy */
    const struct cln_buf *ka = cln_runner_keepalive();
    const char *kavol =
        req->keepalive && ka->len ? cln_runner_keepalive_volume(c, req->cfg.image) : NULL;
    if (kavol) {
        mounts = cln_xrealloc(mounts, (nmounts + 1) * sizeof(*mounts));
        mounts[nmounts++] = (struct cln_mount){
            .type = CLN_MOUNT_VOLUME, .source = kavol, .target = KEEPALIVE_DIR, .read_only = true};
    }
    size_t nka = 0;
    const struct cln_file *ka_files = cln_runner_keepalive_files(&nka);
    struct cln_file *files = cln_xcalloc(req->nfiles + nka + 1, sizeof(*files));
    size_t nfiles = req->nfiles;
    if (req->nfiles)
        memcpy(files, req->files, req->nfiles * sizeof(*files));
    for (size_t i = 0; req->keepalive && !kavol && i < nka; i++)
        files[nfiles++] = ka_files[i];
    cleanup_strv struct cln_strv hosts = {0};
    bool with_hosts =
        pl->mode != CLN_NET_NONE && pl->mode != CLN_NET_HOST && c->r->network && !c->resolves;
    if (with_hosts)
        cln_runner_hosts_vector(c, req->hosts_known, &hosts);
    /* a service with no network (a lone one) reaches itself by its names */
    for (size_t i = 0; pl->mode == CLN_NET_NONE && req->aliases && req->aliases[i]; i++)
        cln_strv_push(&hosts, cln_xasprintf("%s:127.0.0.1", req->aliases[i]));
    with_hosts = with_hosts || hosts.n;
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
    cfg.extra_hosts = with_hosts ? cln_strv_argv(&hosts) : NULL;
    struct cln_error *e = NULL;
    *ret_id = NULL;
    int r = cln_rt_create(rt, &cfg, ret_id, &e);
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
    r = nfiles ? cln_rt_copy_in(rt, *ret_id, "/", files, nfiles, &e) : 0;
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
                                 struct cln_error **err, struct cln_evidence *ev, bool *observed,
                                 char token[static 40])
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
                .entrypoint = entry,
                .cmd = empty,
                .init = false,
                .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
                .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS},
        .join = s->network,
        .keepalive = true,
    };
    char *id = NULL;
    struct cln_error *e = NULL;
    if (cln_runner_create_container(c, &req, &id, err) < 0)
        return id; /* NULL, or tracked: teardown removes it */
    if (cln_rt_start(rt, id, &e) < 0) {
        *err = e;
        return id;
    }
    cln_runner_observe_container(rt, id, true, &s->privs, pl.mode, pl.reason, ev, token);
    *observed = true;
    return id;
}
