/* The native runtime as a backend (docs/runtime.md "Native"): the executor
 * interface over the image store (store.h) and containers (container.h),
 * no daemon.  The endpoint is the store's root, "native:///var/lib/cleanrun"
 * as root; the runtime is chosen only when asked for by name (--runtime
 * native, $CLEANRUN_RUNTIME) or by such an endpoint (--host).
 *
 * Containers live in this process: each is a monitor and an init forked by
 * the runtime's broker, dying with it.  What outlives a crash is files: the
 * container's directory under <root>/containers/<id>/ and its record
 * <root>/containers/<id>.json (name, image, labels, owner), written before
 * the container is made, so that `cleanrun ps` and `gc` of another process
 * see it and remove what is left (cln_ctr_reclaim) once its owner is gone.
 *
 * Threads: the table of containers is behind one lock; each container's
 * state changes (start, inspect, kill, stop, reaping) behind its own; execs,
 * copies and logs run beside them.  An entry is held by a count while in
 * use; remove takes it out of the table, kills it, waits for the last user
 * and frees it. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/random.h"
#include "runtime/base/xalloc.h"
#include "runtime/backend.h"
#include "runtime/native/container.h"
#include "runtime/native/store.h"

#define ENDPOINT_SCHEME "native://"

struct entry {
    char *id, *name, *image, *image_id;
    struct cln_labels labels;
    int64_t created; /* unix seconds */
    char **health_argv;
    uint64_t health_timeout_ms;
    struct cln_ctr *c;
    pthread_mutex_t mu; /* c's state: start, inspect, kill, stop, reaping */
    int refs;           /* users, under the runtime's lock */
    bool gone;          /* being removed (or removed): no new users */
    bool removed;       /* done: freed by the last user out */
    int waiters;        /* removers waiting for another remover, holding a ref */
    char started_at[40], finished_at[40];
    struct entry *next;
};

struct native {
    struct cln_runtime *rt;
    char *root, *run_dir;
    struct cln_store *store;
    pthread_mutex_t store_mu;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *list;
    int *wakes; /* the eventfds of requests in flight, for interrupt */
    size_t nwakes, capwakes;
    uint64_t owner_start;
    /* rootless with subordinate ids (/etc/subuid, /etc/subgid) and
     * newuidmap: container ids 1.. map to them; else root alone */
    uint32_t subuid, subuid_n, subgid, subgid_n;
};

/* ---- small things ---- */

static void iso_now(char *out, size_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%.19s.%09dZ", base, (int)(ts.tv_nsec % 1000000000L));
}

static int sig_of(const char *s)
{
    if (!s || !*s)
        return SIGKILL;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end && !*end && v > 0 && v < 65)
        return (int)v;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    static const struct {
        const char *name;
        int sig;
    } t[] = {{"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},
             {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP},
             {"CONT", SIGCONT}, {"ALRM", SIGALRM}};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(t); i++)
        if (strcmp(s, t[i].name) == 0)
            return t[i].sig;
    return -1;
}

static void entry_free(struct entry *e)
{
    free(e->id);
    free(e->name);
    free(e->image);
    free(e->image_id);
    cln_labels_done(&e->labels);
    for (size_t i = 0; e->health_argv && e->health_argv[i]; i++)
        free(e->health_argv[i]);
    free(e->health_argv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* The entry of id (full, or a unique prefix of at least 12) or name, under
 * n->mu; gone ones too when asked (not removed ones). */
static struct entry *find_locked(struct native *n, const char *id, bool with_gone)
{
    struct entry *found = NULL;
    size_t len = strlen(id), prefixed = 0;
    for (struct entry *e = n->list; e; e = e->next) {
        if (e->removed || (e->gone && !with_gone))
            continue;
        if (strcmp(e->id, id) == 0 || (e->name && strcmp(e->name, id) == 0))
            return e;
        if (len >= 12 && strncmp(e->id, id, len) == 0) {
            found = e;
            prefixed++;
        }
    }
    return prefixed == 1 ? found : NULL;
}

/* The entry, held (a use of it: remove waits for it to end). */
static struct entry *get(struct native *n, const char *id)
{
    pthread_mutex_lock(&n->mu);
    struct entry *e = find_locked(n, id, false);
    if (e)
        e->refs++;
    pthread_mutex_unlock(&n->mu);
    return e;
}

/* Under n->mu: a removed entry's last user frees it. */
static void release_locked(struct native *n, struct entry *e)
{
    e->refs--;
    if (e->gone)
        pthread_cond_broadcast(&n->cv);
    if (!e->removed || e->refs > 0)
        return;
    for (struct entry **pp = &n->list; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    entry_free(e);
}

static void put(struct native *n, struct entry *e)
{
    pthread_mutex_lock(&n->mu);
    release_locked(n, e);
    pthread_mutex_unlock(&n->mu);
}

static int not_found(const char *id, struct cln_error **err)
{
    return cln_error_set(err, CLN_E_NOT_FOUND, 0, "runtime native: no such container: %s", id);
}

/* An eventfd that interrupt() wakes, for one request. */
static int wake_open(struct native *n)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&n->mu);
    if (n->nwakes == n->capwakes) {
        n->capwakes = n->capwakes ? n->capwakes * 2 : 16;
        n->wakes = cln_xrealloc(n->wakes, n->capwakes * sizeof(*n->wakes));
    }
    n->wakes[n->nwakes++] = fd;
    pthread_mutex_unlock(&n->mu);
    return fd;
}

static void wake_close(struct native *n, int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nwakes; i++)
        if (n->wakes[i] == fd) {
            n->wakes[i] = n->wakes[--n->nwakes];
            break;
        }
    pthread_mutex_unlock(&n->mu);
    close(fd);
}

static void n_interrupt(void *ctx)
{
    struct native *n = ctx;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nwakes; i++) {
        uint64_t one = 1;
        ssize_t w = write(n->wakes[i], &one, sizeof(one));
        (void)w;
    }
    pthread_mutex_unlock(&n->mu);
}

static const char *n_gone(void *ctx)
{
    (void)ctx;
    return NULL;
}

/* ---- the record on disk: <run_dir>/<id>.json ---- */

static char *record_path(const struct native *n, const char *id)
{
    return cln_xasprintf("%s/%s.json", n->run_dir, id);
}

static int record_write(struct native *n, const struct entry *e, struct cln_error **err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->id);
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddStringToObject(o, "image", e->image);
    cJSON_AddStringToObject(o, "image_id", e->image_id);
    cJSON_AddNumberToObject(o, "created", (double)e->created);
    cJSON_AddNumberToObject(o, "owner_pid", (double)getpid());
    cJSON_AddNumberToObject(o, "owner_start", (double)n->owner_start);
    cJSON *l = cJSON_AddObjectToObject(o, "labels");
    for (size_t i = 0; i < e->labels.len; i++)
        cJSON_AddStringToObject(l, e->labels.items[i].key, e->labels.items[i].value);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cleanup_free char *path = record_path(n, e->id);
    cleanup_free char *tmp = cln_xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t len = strlen(text);
    int e_ = 0;
    if (fd < 0 || write(fd, text, len) != (ssize_t)len)
        e_ = errno ? errno : EIO;
    free(text);
    if (fd >= 0 && close(fd) < 0 && !e_)
        e_ = errno;
    if (!e_ && rename(tmp, path) < 0)
        e_ = errno;
    if (!e_)
        return 0;
    unlink(tmp);
    return cln_error_set(err, CLN_E_IO, e_, "runtime native: writing %s", path);
}

struct record {
    char *id, *name, *image, *image_id;
    int64_t created;
    long owner_pid;
    uint64_t owner_start;
    struct cln_labels labels;
};

static void record_done(struct record *r)
{
    free(r->id);
    free(r->name);
    free(r->image);
    free(r->image_id);
    cln_labels_done(&r->labels);
    memset(r, 0, sizeof(*r));
}

static char *jdup(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? cln_xstrdup(v->valuestring) : NULL;
}

/* 1 read, 0 missing, -1 there but unreadable (not a regular file, not
 * ours, cut short): then nothing may be judged from it. */
static int record_read(const struct native *n, const char *id, struct record *ret)
{
    memset(ret, 0, sizeof(*ret));
    cleanup_free char *path = record_path(n, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        close(fd);
        return -1;
    }
    struct cln_buf b = CLN_BUF_INIT;
    char tmp[8192];
    ssize_t k;
    while ((k = read(fd, tmp, sizeof(tmp))) > 0 && b.len < (1u << 20))
        cln_buf_append(&b, tmp, (size_t)k);
    close(fd);
    cJSON *o = b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    cln_buf_done(&b);
    if (!o)
        return -1;
    ret->id = jdup(o, "id");
    ret->name = jdup(o, "name");
    ret->image = jdup(o, "image");
    ret->image_id = jdup(o, "image_id");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "created");
    ret->created = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15
                       ? (int64_t)v->valuedouble
                       : 0;
    v = cJSON_GetObjectItemCaseSensitive(o, "owner_pid");
    ret->owner_pid =
        cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e9 ? (long)v->valuedouble : 0;
    v = cJSON_GetObjectItemCaseSensitive(o, "owner_start");
    ret->owner_start = cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e18
                           ? (uint64_t)v->valuedouble
                           : 0;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "labels"), *it;
    cJSON_ArrayForEach(it, l)
    {
        if (cJSON_IsString(it) && it->string)
            cln_labels_set(&ret->labels, it->string, it->valuestring);
    }
    cJSON_Delete(o);
    if (!ret->id || strcmp(ret->id, id) != 0) {
        record_done(ret);
        return -1;
    }
    return 1;
}

/* Is the record's owner (a cleanrun process) still there: the same pid
 * started at the same time? */
static bool owner_alive(const struct record *r)
{
    if (r->owner_pid <= 0)
        return false;
    uint64_t st = cln_proc_start_time((int)r->owner_pid);
    return st != 0 && st == r->owner_start;
}

static int map_ids(void *ud, pid_t monitor, struct cln_error **err);

/* cln_ctr_reclaim, as the containers were made (rootless: in a mapped user
 * namespace, when files of other ids are in the way) */
static int reclaim(struct native *n, const char *id, struct cln_error **err)
{
    struct cln_ctr_rootless rl = {
        .broker = n->rt ? cln_runtime_broker(n->rt) : NULL, .map_ids = map_ids, .map_ud = n};
    bool wide = geteuid() != 0 && n->subuid_n && n->subgid_n;
    return cln_ctr_reclaim_rootless(n->run_dir, id, wide ? &rl : NULL, err);
}

/* ---- the core ---- */

static void n_close(void *ctx)
{
    struct native *n = ctx;
    if (!n)
        return;
    /* what was not removed dies now, as it would with this process */
    while (n->list) {
        struct entry *e = n->list;
        n->list = e->next;
        if (!e->removed && e->c) {
            cleanup_free char *rec = record_path(n, e->id);
            if (cln_ctr_remove(e->c, NULL) == 0 || reclaim(n, e->id, NULL) == 0)
                unlink(rec); /* else the record stays, for gc */
        }
        entry_free(e);
    }
    cln_store_close(n->store);
    free(n->root);
    free(n->run_dir);
    free(n->wakes);
    pthread_mutex_destroy(&n->mu);
    pthread_mutex_destroy(&n->store_mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}

static int n_ping(void *ctx, struct cln_error **err)
{
    (void)ctx;
    (void)err;
    return 0;
}

static int n_version(void *ctx, struct cln_engine_info *ret, struct cln_error **err)
{
    (void)ctx;
    (void)err;
    struct utsname u;
    uname(&u);
    ret->engine = cln_xstrdup("cleanrun native");
    ret->version = cln_xstrdup(CLN_VERSION);
    ret->api_version = cln_xstrdup("1");
    ret->os = cln_xstrdup("linux");
    ret->arch = cln_xstrdup(u.machine);
    ret->kernel = cln_xstrdup(u.release);
    return 0;
}

static int image_get(struct native *n, const char *ref, struct cln_store_image **ret,
                     struct cln_error **err)
{
    pthread_mutex_lock(&n->store_mu);
    int r = cln_store_image_get(n->store, ref, ret, err);
    pthread_mutex_unlock(&n->store_mu);
    return r;
}

static int n_image_inspect(void *ctx, const char *ref, struct cln_image_info *ret,
                           struct cln_error **err)
{
    struct native *n = ctx;
    struct cln_store_image *img = NULL;
    struct cln_error *e = NULL;
    if (image_get(n, ref, &img, &e) < 0) {
        if (cln_error_root_code(e) == CLN_E_NOT_FOUND) {
            cln_error_free(e);
            return 0;
        }
        *err = e;
        return cln_error_wrap(err, "runtime native: image %s", ref);
    }
    memset(ret, 0, sizeof(*ret));
    ret->id = cln_xstrdup(img->id);
    for (size_t i = 0; i < img->config->entrypoint.n; i++)
        cln_strv_add(&ret->entrypoint, img->config->entrypoint.v[i]);
    for (size_t i = 0; i < img->config->cmd.n; i++)
        cln_strv_add(&ret->cmd, img->config->cmd.v[i]);
    cln_store_image_free(img);
    return 1;
}

static int n_image_pull(void *ctx, const char *ref, cln_progress_fn progress, void *userdata,
                        struct cln_error **err)
{
    (void)ctx;
    (void)progress;
    (void)userdata;
    return cln_error_set(err, CLN_E_NOT_FOUND, 0,
                         "image %s is not in the native image store, and runtime native does "
                         "not pull images yet: put it there with `cleanrun image import FILE "
                         "--name %s` (FILE: a `docker save` archive, an OCI image layout or "
                         "archive, or a rootfs tarball)",
                         ref, ref);
}

static bool is_record_name(const char *name, char *id);

/* A container (of any process: the records) made from image id, or NULL. */
static char *image_user(struct native *n, const char *image_id)
{
    DIR *d = opendir(n->run_dir);
    char *user = NULL;
    struct dirent *de;
    while (d && !user && (de = readdir(d))) {
        char id[65];
        struct record rec;
        if (!is_record_name(de->d_name, id) || record_read(n, id, &rec) != 1)
            continue;
        if (rec.image_id && strcmp(rec.image_id, image_id) == 0)
            user = CLN_TAKE(rec.id);
        record_done(&rec);
    }
    if (d)
        closedir(d);
    return user;
}

static int n_image_remove(void *ctx, const char *ref, bool force, struct cln_error **err)
{
    struct native *n = ctx;
    /* a container's layers are its root: never pruned under it (as Docker,
     * force only removes the name then) */
    struct cln_store_info info;
    struct cln_error *le = NULL;
    pthread_mutex_lock(&n->store_mu);
    int lr = cln_store_lookup(n->store, ref, &info, &le);
    pthread_mutex_unlock(&n->store_mu);
    cln_error_free(le);
    if (lr == 0) {
        char *user = image_user(n, info.id);
        cln_store_info_done(&info);
        if (user && !force) {
            int r = cln_error_set(err, CLN_E_CONFLICT, 0,
                                  "runtime native: image %s is used by container %.12s", ref, user);
            free(user);
            return r;
        }
        free(user);
    }
    pthread_mutex_lock(&n->store_mu);
    int r = cln_store_remove(n->store, ref, err);
    pthread_mutex_unlock(&n->store_mu);
    return r < 0 ? cln_error_wrap(err, "runtime native: removing image %s", ref) : 0;
}

/* What Docker would run: the entrypoint (the config's, else the image's)
 * and the cmd (the config's; the image's only when the entrypoint is the
 * image's too). */
static void argv_of(const struct cln_container_config *cfg, const struct cln_image_config *ic,
                    struct cln_strv *out)
{
    if (cfg->entrypoint) {
        for (size_t i = 0; cfg->entrypoint[i]; i++)
            cln_strv_add(out, cfg->entrypoint[i]);
    } else {
        for (size_t i = 0; i < ic->entrypoint.n; i++)
            cln_strv_add(out, ic->entrypoint.v[i]);
    }
    if (cfg->cmd) {
        for (size_t i = 0; cfg->cmd[i]; i++)
            cln_strv_add(out, cfg->cmd[i]);
    } else if (!cfg->entrypoint) {
        for (size_t i = 0; i < ic->cmd.n; i++)
            cln_strv_add(out, ic->cmd.v[i]);
    }
}

/* The image's HEALTHCHECK as argv, NULL when none. */
static char **health_of(const struct cln_image_config *ic)
{
    const struct cln_strv *t = &ic->health_test;
    if (!ic->has_healthcheck || t->n < 2)
        return NULL;
    struct cln_strv v = {0};
    if (strcmp(t->v[0], "CMD-SHELL") == 0) {
        cln_strv_add(&v, "/bin/sh");
        cln_strv_add(&v, "-c");
        cln_strv_add(&v, t->v[1]);
    } else if (strcmp(t->v[0], "CMD") == 0) {
        for (size_t i = 1; i < t->n; i++)
            cln_strv_add(&v, t->v[i]);
    } else {
        return NULL;
    }
    cln_strv_add(&v, NULL);
    return v.v;
}

/* What this runtime cannot do yet, said before anything is made. */
static int refuse(const struct cln_container_config *cfg, struct cln_error **err)
{
    const char *what = NULL;
    if (cfg->nports)
        what = "publish ports (its containers have only loopback)";
    else if (cfg->network && strcmp(cfg->network, "host") == 0 && geteuid() != 0)
        what = "share the host's network when rootless (its /sys could not be mounted)";
    else if (cfg->network && strcmp(cfg->network, "none") != 0 && strcmp(cfg->network, "host") != 0)
        what = "attach a container to a network (its containers have only loopback)";
    else if (cfg->network_aliases && cfg->network_aliases[0])
        what = "give network aliases (its containers have only loopback)";
    else if (cfg->pid_host)
        what = "share the host's pid namespace";
    else if ((cfg->cap_add && cfg->cap_add[0]) || (cfg->cap_drop && cfg->cap_drop[0]))
        what = "add or drop capabilities";
    if (what)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0, "runtime native cannot %s", what);
    for (size_t i = 0; i < cfg->nmounts; i++)
        if (cfg->mounts[i].type == CLN_MOUNT_VOLUME)
            return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                                 "runtime native cannot mount volumes (%s at %s)",
                                 cfg->mounts[i].source, cfg->mounts[i].target);
    return 0;
}

#define NEWUIDMAP "/usr/bin/newuidmap"
#define NEWGIDMAP "/usr/bin/newgidmap"
static const char *const rootless_programs[] = {NEWUIDMAP, NEWGIDMAP, NULL};

/* Run one of the id-mapping programs (setuid root, from the shadow suite)
 * on the monitor's user namespace: root to the caller, 1.. to its
 * subordinate ids.  Through the runtime's broker, recorded. */
static int map_one(struct native *n, const char *prog, pid_t pid, uint32_t self, uint32_t start,
                   uint32_t count, struct cln_error **err)
{
    char a[6][16];
    snprintf(a[0], sizeof(a[0]), "%d", (int)pid);
    snprintf(a[1], sizeof(a[1]), "%u", (unsigned)self);
    snprintf(a[2], sizeof(a[2]), "%u", (unsigned)start);
    snprintf(a[3], sizeof(a[3]), "%u", (unsigned)count);
    const char *argv[] = {prog, a[0], "0", a[1], "1", "1", a[2], a[3], NULL};
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "pipe");
    struct cln_broker_spawn_req req = {.path = prog, .argv = argv, .stderr_fd = pipefd[1]};
    struct cln_broker_child ch;
    int r = cln_runtime_spawn(n->rt, &req, &ch, err);
    close(pipefd[1]);
    if (r < 0) {
        close(pipefd[0]);
        return r;
    }
    int st = 0;
    r = cln_broker_wait(&ch, 10000, &st, err);
    if (r < 0) { /* never left running */
        cln_broker_kill(&ch, SIGKILL, NULL);
        cln_broker_wait(&ch, 2000, &st, NULL);
    }
    char msg[256] = "";
    ssize_t k = read(pipefd[0], msg, sizeof(msg) - 1); /* it has ended: no wait */
    close(pipefd[0]);
    msg[k > 0 ? k : 0] = 0;
    msg[strcspn(msg, "\n")] = 0;
    cln_broker_child_done(&ch);
    if (r < 0)
        return r;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return cln_error_set(err, CLN_E_ISOLATION, 0, "%s failed (status %d): %s", prog, st, msg);
    return 0;
}

static int map_ids(void *ud, pid_t monitor, struct cln_error **err)
{
    struct native *n = ud;
    int r = map_one(n, NEWUIDMAP, monitor, (uint32_t)geteuid(), n->subuid, n->subuid_n, err);
    if (r == 0)
        r = map_one(n, NEWGIDMAP, monitor, (uint32_t)getegid(), n->subgid, n->subgid_n, err);
    return r;
}

/* The first range of /etc/subuid or /etc/subgid for this user (by name or
 * id): 0 when none. */
static void subids(const char *file, const char *name, unsigned id, uint32_t *start,
                   uint32_t *count)
{
    *start = *count = 0;
    FILE *f = fopen(file, "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        char who[128], *end = NULL;
        const char *colon = strchr(line, ':');
        if (!colon || (size_t)(colon - line) >= sizeof(who) || !strchr(colon + 1, ':'))
            continue;
        memcpy(who, line, (size_t)(colon - line));
        who[colon - line] = 0;
        errno = 0;
        unsigned long s = strtoul(colon + 1, &end, 10);
        if (errno || *end != ':' || colon[1] == '-')
            continue;
        const char *cs = end + 1;
        unsigned long c = strtoul(cs, &end, 10);
        if (errno || end == cs || *cs == '-' || c == 0 || c > 0xffff0000UL || s > 0xffff0000UL ||
            s + c > 0xffffffffUL)
            continue;
        char num[16];
        snprintf(num, sizeof(num), "%u", id);
        if ((name && strcmp(who, name) == 0) || strcmp(who, num) == 0) {
            *start = (uint32_t)s;
            *count = (uint32_t)c;
            break;
        }
    }
    if (f)
        fclose(f);
}

static int n_create(void *ctx, const struct cln_container_config *cfg, char **ret_id,
                    struct cln_error **err)
{
    struct native *n = ctx;
    int r = refuse(cfg, err);
    if (r < 0)
        return r;
    if (cfg->name) {
        struct entry *dup = get(n, cfg->name);
        if (dup) {
            r = cln_error_set(err, CLN_E_CONFLICT, 0,
                              "runtime native: the container name \"%s\" is in use by %s",
                              cfg->name, dup->id);
            put(n, dup);
            return r;
        }
    }
    struct cln_store_image *img = NULL;
    if (image_get(n, cfg->image, &img, err) < 0)
        return cln_error_wrap(err, "runtime native: image %s", cfg->image);
    struct entry *e = cln_xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->mu, NULL);
    char hex[65];
    cln_random_hex(hex, 32);
    e->id = cln_xstrdup(hex);
    e->name = cfg->name ? cln_xstrdup(cfg->name) : cln_xasprintf("native-%.12s", hex);
    e->image = cln_xstrdup(cfg->image);
    e->image_id = cln_xstrdup(img->id);
    e->created = (int64_t)time(NULL);
    for (size_t i = 0; cfg->labels && i < cfg->labels->len; i++)
        cln_labels_set(&e->labels, cfg->labels->items[i].key, cfg->labels->items[i].value);
    e->health_argv = health_of(img->config);
    e->health_timeout_ms =
        img->config->health_timeout_ns > 0 ? (uint64_t)img->config->health_timeout_ns / 1000000 : 0;
    cleanup_strv struct cln_strv argv = {0};
    argv_of(cfg, img->config, &argv);
    if (argv.n == 0) {
        cln_store_image_free(img);
        entry_free(e);
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "runtime native: no command: none given, none in the image %s",
                             cfg->image);
    }
    struct cln_ctr_mount m[32];
    if (cfg->nmounts > CLN_ARRAY_SIZE(m)) {
        cln_store_image_free(img);
        entry_free(e);
        return cln_error_set(err, CLN_E_INVALID, 0, "runtime native: more than %zu mounts",
                             CLN_ARRAY_SIZE(m));
    }
    for (size_t i = 0; i < cfg->nmounts; i++)
        m[i] = (struct cln_ctr_mount){.type = cfg->mounts[i].type == CLN_MOUNT_TMPFS ? CLN_CTR_TMPFS
                                                                                     : CLN_CTR_BIND,
                                      .source = cfg->mounts[i].source,
                                      .target = cfg->mounts[i].target,
                                      .read_only = cfg->mounts[i].read_only,
                                      .size = cfg->mounts[i].tmpfs_size,
                                      .mode = cfg->mounts[i].tmpfs_mode};
    /* the record first: a crash from here on leaves something gc finds */
    r = record_write(n, e, err);
    if (r < 0) {
        cln_store_image_free(img);
        entry_free(e);
        return r;
    }
    bool wide = geteuid() != 0 && n->subuid_n && n->subgid_n;
    struct cln_ctr_config cc = {
        .map_ids = wide ? map_ids : NULL,
        .map_ud = n,
        .uid_count = wide ? n->subuid_n + 1 : 1,
        .gid_count = wide ? n->subgid_n + 1 : 1,
        .id = e->id,
        .run_dir = n->run_dir,
        .hostname = NULL,
        .argv = cln_strv_argv(&argv),
        .env = cfg->env,
        .workdir = cfg->workdir,
        .user = cfg->user,
        .read_only = cfg->read_only_rootfs,
        .privileged = cfg->privileged,
        .host_network = cfg->network && strcmp(cfg->network, "host") == 0,
        .memory_bytes = cfg->memory_bytes,
        .pids_max = cfg->pids_limit,
        .cpu_millis = cfg->nano_cpus / 1000000,
        .created_only = true,
        .broker = cln_runtime_broker(n->rt),
        .mounts = m,
        .nmounts = cfg->nmounts,
        .extra_hosts = cfg->extra_hosts,
    };
    char host[13];
    snprintf(host, sizeof(host), "%.12s", e->id);
    cc.hostname = host;
    if (!cc.broker) /* cln_runtime_open checks it: never here */
        r = cln_error_set(err, CLN_E_INTERNAL, 0, "runtime native: its broker is missing");
    else
        r = cln_ctr_create_from(img, &cc, &e->c, err);
    cln_store_image_free(img);
    if (r < 0) {
        /* what a failed create left (it removes its own): the record goes
         * with the last of it, else it stays for gc */
        cleanup_free char *rec = record_path(n, e->id);
        if (reclaim(n, e->id, NULL) == 0)
            unlink(rec);
        entry_free(e);
        return cln_error_wrap(err, "runtime native: creating a container of %s", cfg->image);
    }
    pthread_mutex_lock(&n->mu);
    e->next = n->list;
    n->list = e;
    pthread_mutex_unlock(&n->mu);
    *ret_id = cln_xstrdup(e->id);
    return 0;
}

static int n_start(void *ctx, const char *id, struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    pthread_mutex_lock(&e->mu);
    struct cln_ctr_state st;
    int r = cln_ctr_inspect(e->c, &st, err);
    if (r == 0 && !st.running)
        r = cln_error_set(err, CLN_E_CONFLICT, 0,
                          "runtime native: container %s has ended; it cannot be started again",
                          e->id);
    if (r == 0 && st.created) {
        r = cln_ctr_start(e->c, err);
        if (r == 0)
            iso_now(e->started_at, sizeof(e->started_at));
    }
    pthread_mutex_unlock(&e->mu);
    put(n, e);
    if (r < 0 && cln_error_root_code(*err) == CLN_E_INVALID) {
        /* the program could not start: as the engines word it */
        char *why = cln_error_render(*err);
        cln_error_free(*err);
        *err = NULL;
        r = cln_error_set(err, CLN_E_INVALID, 0, "could not start the process: %s", why);
        free(why);
    }
    return r;
}

/* Wait (at most timeout_ms, 0: no bound) until e ended, or an interrupt:
 * 1 ended, 0 not yet, -CLN_E_INTERRUPTED. */
static int wait_end(struct native *n, struct entry *e, uint64_t timeout_ms)
{
    int wake = wake_open(n);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = 0;
    for (;;) {
        struct pollfd pf[2] = {{.fd = cln_ctr_wait_fd(e->c), .events = POLLIN},
                               {.fd = wake, .events = POLLIN}};
        int to = -1;
        if (timeout_ms) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            int64_t spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
            int64_t left = (int64_t)(timeout_ms > INT32_MAX ? INT32_MAX : timeout_ms) - spent;
            to = left <= 0 ? 0 : (int)left;
        }
        int k = poll(pf, 2, to);
        if (k < 0 && errno == EINTR)
            continue;
        if (k > 0 && pf[1].revents) {
            r = -CLN_E_INTERRUPTED;
            break;
        }
        r = k > 0 ? 1 : 0;
        break;
    }
    wake_close(n, wake);
    return r;
}

static void note_finish(struct entry *e)
{
    if (!e->finished_at[0])
        iso_now(e->finished_at, sizeof(e->finished_at));
}

static int n_wait(void *ctx, const char *id, uint64_t timeout_ms, int *ret_exit_code,
                  struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    int w = wait_end(n, e, timeout_ms);
    int r;
    if (w == -CLN_E_INTERRUPTED) {
        r = cln_error_set(err, CLN_E_INTERRUPTED, 0, "runtime native: waiting for container %s",
                          e->id);
    } else if (w == 0) {
        r = cln_error_set(err, CLN_E_TIMEOUT, 0,
                          "runtime native: container %s still running after %llu ms", e->id,
                          (unsigned long long)timeout_ms);
    } else {
        pthread_mutex_lock(&e->mu);
        r = cln_ctr_wait(e->c, 5000, ret_exit_code, err);
        if (r == 0)
            note_finish(e);
        pthread_mutex_unlock(&e->mu);
    }
    put(n, e);
    return r;
}

static int n_stop(void *ctx, const char *id, unsigned grace_s, struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    pthread_mutex_lock(&e->mu);
    struct cln_ctr_state st;
    int r = cln_ctr_inspect(e->c, &st, err);
    if (r == 0 && st.running) {
        /* a container never started has nothing to stop gracefully */
        r = cln_ctr_stop(e->c, st.created ? 0 : grace_s * 1000u, err);
        if (r == 0)
            note_finish(e);
    }
    pthread_mutex_unlock(&e->mu);
    put(n, e);
    return r < 0 ? cln_error_wrap(err, "runtime native: stopping %s", id) : 0;
}

static int n_kill(void *ctx, const char *id, const char *signal, struct cln_error **err)
{
    struct native *n = ctx;
    int sig = sig_of(signal);
    if (sig < 0)
        return cln_error_set(err, CLN_E_INVALID, 0, "runtime native: unknown signal %s", signal);
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    pthread_mutex_lock(&e->mu);
    int r = cln_ctr_kill(e->c, sig, err);
    pthread_mutex_unlock(&e->mu);
    put(n, e);
    return r;
}

/* Remove a container this process does not hold: what a dead owner left,
 * or what a failed removal of ours left. */
static int remove_foreign(struct native *n, const char *id, struct cln_error **err)
{
    /* only a full id names a directory: never a path */
    if (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
        return 0;
    struct record rec;
    cleanup_free char *dir = cln_xasprintf("%s/%s", n->run_dir, id);
    cleanup_free char *path = record_path(n, id);
    struct stat st;
    int has = record_read(n, id, &rec);
    if (has < 0)
        return cln_error_set(err, CLN_E_IO, 0,
                             "runtime native: the record %s cannot be read: not removing "
                             "container %s",
                             path, id);
    if (has == 0 && lstat(dir, &st) < 0)
        return 0;
    bool ours = has && rec.owner_pid == getpid() && rec.owner_start == n->owner_start;
    if (has && !ours && owner_alive(&rec)) {
        int r = cln_error_set(err, CLN_E_CONFLICT, 0,
                              "runtime native: container %s belongs to cleanrun process %ld, "
                              "which is running",
                              id, rec.owner_pid);
        record_done(&rec);
        return r;
    }
    if (has)
        record_done(&rec);
    int r = reclaim(n, id, err);
    if (r == 0 && unlink(path) < 0 && errno != ENOENT)
        r = cln_error_set(err, CLN_E_IO, errno, "runtime native: removing %s", path);
    return r;
}

/* Take e out of use and remove it; e is held once by the caller. */
static int remove_held(struct native *n, struct entry *e, struct cln_error **err)
{
    /* its processes end: execs, waits and copies in flight return */
    pthread_mutex_lock(&e->mu);
    struct cln_error *ke = NULL;
    cln_ctr_kill(e->c, SIGKILL, &ke);
    cln_error_free(ke);
    pthread_mutex_unlock(&e->mu);
    pthread_mutex_lock(&n->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    while (e->refs - e->waiters > 1)
        if (pthread_cond_timedwait(&n->cv, &n->mu, &until) == ETIMEDOUT)
            break;
    bool busy = e->refs - e->waiters > 1;
    pthread_mutex_unlock(&n->mu);
    if (busy) {
        pthread_mutex_lock(&n->mu);
        e->gone = false; /* still there: it may be removed again */
        pthread_cond_broadcast(&n->cv);
        release_locked(n, e);
        pthread_mutex_unlock(&n->mu);
        return cln_error_set(err, CLN_E_TIMEOUT, 0,
                             "runtime native: container %s: a request on it did not end within "
                             "30 s",
                             e->id);
    }
    struct cln_error *re = NULL;
    int r = cln_ctr_remove(e->c, &re); /* frees c, even on error */
    e->c = NULL;
    if (r < 0) {
        /* what is left is for reclaim, now or by gc: the record stays until then */
        if (reclaim(n, e->id, NULL) == 0) {
            cln_error_free(re);
            re = NULL;
            r = 0;
        }
    }
    cleanup_free char *rec = record_path(n, e->id);
    if (r == 0 && unlink(rec) < 0 && errno != ENOENT)
        r = cln_error_set(&re, CLN_E_IO, errno, "runtime native: removing %s", rec);
    if (r < 0 && err)
        *err = re;
    else
        cln_error_free(re);
    pthread_mutex_lock(&n->mu);
    e->removed = true;
    pthread_cond_broadcast(&n->cv);
    release_locked(n, e);
    pthread_mutex_unlock(&n->mu);
    return r;
}

static int n_remove(void *ctx, const char *id, bool force, struct cln_error **err)
{
    struct native *n = ctx;
    pthread_mutex_lock(&n->mu);
    struct entry *e = find_locked(n, id, true);
    if (!e) {
        pthread_mutex_unlock(&n->mu);
        return remove_foreign(n, id, err);
    }
    e->refs++;
    if (e->gone) { /* another thread removes it: done when it is */
        e->waiters++;
        while (e->gone && !e->removed)
            pthread_cond_wait(&n->cv, &n->mu);
        e->waiters--;
        bool done = e->removed;
        release_locked(n, e);
        pthread_mutex_unlock(&n->mu);
        return done ? 0
                    : cln_error_set(err, CLN_E_TIMEOUT, 0,
                                    "runtime native: container %s: removing it did not finish", id);
    }
    pthread_mutex_unlock(&n->mu);
    if (!force) {
        struct cln_ctr_state st;
        pthread_mutex_lock(&e->mu);
        int r = cln_ctr_inspect(e->c, &st, err);
        pthread_mutex_unlock(&e->mu);
        if (r == 0 && st.running && !st.created)
            r = cln_error_set(err, CLN_E_CONFLICT, 0,
                              "runtime native: container %s is running: stop it first, or "
                              "remove it with force",
                              e->id);
        if (r < 0) {
            put(n, e);
            return r;
        }
    }
    pthread_mutex_lock(&n->mu);
    if (e->gone) { /* another remover came first meanwhile */
        e->waiters++;
        while (e->gone && !e->removed)
            pthread_cond_wait(&n->cv, &n->mu);
        e->waiters--;
        bool done = e->removed;
        release_locked(n, e);
        pthread_mutex_unlock(&n->mu);
        return done ? 0
                    : cln_error_set(err, CLN_E_TIMEOUT, 0,
                                    "runtime native: container %s: removing it did not finish", id);
    }
    e->gone = true;
    pthread_mutex_unlock(&n->mu);
    int r = remove_held(n, e, err);
    return r < 0 ? cln_error_wrap(err, "runtime native: removing container %s", id) : 0;
}

static int n_inspect(void *ctx, const char *id, struct cln_container_state *ret,
                     struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    memset(ret, 0, sizeof(*ret));
    if (!e)
        return not_found(id, err);
    struct cln_ctr_state st;
    pthread_mutex_lock(&e->mu);
    int r = cln_ctr_inspect(e->c, &st, err);
    if (r == 0 && !st.running)
        note_finish(e);
    if (r == 0) {
        ret->id = cln_xstrdup(e->id);
        ret->name = cln_xstrdup(e->name);
        ret->image_id = cln_xstrdup(e->image_id);
        ret->status = cln_xstrdup(st.created ? "created" : st.running ? "running" : "exited");
        ret->running = st.running && !st.created;
        ret->oom_killed = st.oom_killed;
        ret->exit_code = st.running ? 0 : st.exit_code;
        ret->pid = ret->running ? (int)cln_ctr_first_pid(e->c) : 0;
        ret->started_at = e->started_at[0] ? cln_xstrdup(e->started_at) : NULL;
        ret->finished_at = e->finished_at[0] ? cln_xstrdup(e->finished_at) : NULL;
        for (size_t i = 0; i < e->labels.len; i++)
            cln_labels_set(&ret->labels, e->labels.items[i].key, e->labels.items[i].value);
        if (e->health_argv) {
            size_t k = 0;
            while (e->health_argv[k])
                k++;
            ret->health_argv = cln_xcalloc(k + 1, sizeof(char *));
            for (size_t i = 0; i < k; i++)
                ret->health_argv[i] = cln_xstrdup(e->health_argv[i]);
        }
        ret->health_timeout_ms = e->health_timeout_ms;
    }
    pthread_mutex_unlock(&e->mu);
    put(n, e);
    return r;
}

static bool is_record_name(const char *name, char *id)
{
    size_t len = strlen(name);
    if (len != 64 + 5 || strcmp(name + 64, ".json") != 0 || strspn(name, "0123456789abcdef") != 64)
        return false;
    memcpy(id, name, 64);
    id[64] = 0;
    return true;
}

static int n_list(void *ctx, const char *label_filter, struct cln_container_summary **ret,
                  size_t *ret_n, struct cln_error **err)
{
    struct native *n = ctx;
    *ret = NULL;
    *ret_n = 0;
    DIR *d = opendir(n->run_dir);
    if (!d)
        return cln_error_set(err, CLN_E_IO, errno, "runtime native: listing %s", n->run_dir);
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char id[65];
        if (!is_record_name(de->d_name, id))
            continue;
        struct record rec;
        if (record_read(n, id, &rec) != 1)
            continue;
        if (!cln_labels_match(&rec.labels, label_filter)) {
            record_done(&rec);
            continue;
        }
        const char *state = NULL;
        char status[64];
        struct entry *e = get(n, id);
        if (e) {
            struct cln_ctr_state st;
            struct cln_error *ie = NULL;
            pthread_mutex_lock(&e->mu);
            int r = cln_ctr_inspect(e->c, &st, &ie);
            pthread_mutex_unlock(&e->mu);
            cln_error_free(ie);
            state = r < 0 ? "dead" : st.created ? "created" : st.running ? "running" : "exited";
            if (r == 0 && !st.running)
                snprintf(status, sizeof(status), "Exited (%d)", st.exit_code);
            else
                snprintf(status, sizeof(status), "%s",
                         r < 0        ? "Dead"
                         : st.created ? "Created"
                                      : "Up");
            put(n, e);
        } else if (rec.owner_pid == getpid() && rec.owner_start == n->owner_start) {
            /* ours, being removed, or left by a removal that failed */
            state = "dead";
            snprintf(status, sizeof(status), "Dead");
        } else if (owner_alive(&rec)) {
            state = "running";
            snprintf(status, sizeof(status), "Up (cleanrun process %ld)", rec.owner_pid);
        } else {
            state = "exited";
            snprintf(status, sizeof(status), "Exited (its cleanrun process %ld is gone)",
                     rec.owner_pid);
        }
        if (*ret_n == cap) {
            cap = cap ? cap * 2 : 8;
            *ret = cln_xrealloc(*ret, cap * sizeof(**ret));
        }
        struct cln_container_summary *s = &(*ret)[(*ret_n)++];
        memset(s, 0, sizeof(*s));
        s->id = CLN_TAKE(rec.id);
        s->name = CLN_TAKE(rec.name);
        s->image = CLN_TAKE(rec.image);
        s->state = cln_xstrdup(state);
        s->status = cln_xstrdup(status);
        s->created = rec.created;
        s->labels = rec.labels;
        memset(&rec.labels, 0, sizeof(rec.labels));
        record_done(&rec);
    }
    closedir(d);
    return 0;
}

static int n_logs(void *ctx, const char *id, unsigned tail, size_t cap, struct cln_capture *ret_out,
                  struct cln_capture *ret_err, struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    int r = cln_ctr_logs(e->c, tail, cap, ret_out, ret_err, err);
    put(n, e);
    return r;
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void capture_set(struct cln_capture *c, char *data, size_t len, size_t dropped)
{
    memset(c, 0, sizeof(*c));
    c->data.data = data;
    c->data.len = len;
    c->data.cap = len + 1;
    c->total = (uint64_t)len + dropped;
    c->truncated = dropped > 0;
}

static int n_exec(void *ctx, const char *id, const struct cln_exec_config *cfg,
                  struct cln_exec_result *ret, struct cln_error **err)
{
    struct native *n = ctx;
    memset(ret, 0, sizeof(*ret));
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    int wake = wake_open(n);
    struct cln_ctr_exec x = {
        .argv = cfg->argv,
        .env = cfg->env,
        .workdir = cfg->workdir,
        .user = cfg->user,
        .stdin_data = cfg->stdin_data,
        .stdin_len = cfg->stdin_len,
        .out_cap = cfg->output_cap ? cfg->output_cap : CLN_DEFAULT_OUTPUT_CAP,
        .timeout_ms = cfg->timeout_ms > 0xffffffffu ? 0xffffffffu : (unsigned)cfg->timeout_ms,
        .wake_fd = wake,
        .on_output = cfg->on_output,
        .userdata = cfg->userdata,
    };
    uint64_t t0 = mono_ms();
    struct cln_ctr_exec_result res;
    int r = cln_ctr_exec(e->c, &x, &res, err);
    wake_close(n, wake);
    put(n, e);
    if (r < 0) {
        if (cln_error_root_code(*err) != CLN_E_INVALID)
            return cln_error_wrap(err, "runtime native: exec in container %s", id);
        /* the process could not start: worded the same on every backend */
        const struct cln_error *in = *err;
        char *why = cln_error_render(in);
        cln_error_free(*err);
        *err = NULL;
        r = cln_error_set(err, CLN_E_INVALID, 0, "could not start the process: %s", why);
        free(why);
        return r;
    }
    ret->duration_ms = mono_ms() - t0;
    ret->host_pid = (int)res.host_pid;
    ret->exec_id = res.host_pid > 0 ? cln_xasprintf("native-exec-%d", (int)res.host_pid) : NULL;
    if (res.timed_out) {
        ret->status = CLN_EXEC_TIMEOUT;
        ret->exit_code = -1;
        ret->kill_method = "host-signal";
        ret->interrupted = res.interrupted;
    } else {
        ret->status = CLN_EXEC_EXITED;
        ret->exit_code = res.exit_code;
    }
    capture_set(&ret->out, CLN_TAKE(res.out), res.out_len, res.out_dropped);
    capture_set(&ret->err, CLN_TAKE(res.err), res.err_len, res.err_dropped);
    cln_ctr_exec_result_done(&res);
    return 0;
}

static int n_copy_in(void *ctx, const char *id, const char *dir, const struct cln_file *files,
                     size_t nfiles, struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    int r = cln_ctr_copy_in(e->c, dir, files, nfiles, err);
    put(n, e);
    return r;
}

static int n_copy_out(void *ctx, const char *id, const char *path, size_t cap,
                      struct cln_file_info *ret_info, struct cln_capture *ret_content,
                      bool *ret_found, struct cln_error **err)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return not_found(id, err);
    int r = cln_ctr_copy_out(e->c, path, cap, ret_info, ret_content, ret_found, err);
    put(n, e);
    return r;
}

static bool n_owns_pid(void *ctx, const char *id, int pid)
{
    struct native *n = ctx;
    struct entry *e = get(n, id);
    if (!e)
        return false;
    pthread_mutex_lock(&e->mu);
    bool yes = e->c && cln_ctr_has_pid(e->c, (pid_t)pid);
    pthread_mutex_unlock(&e->mu);
    put(n, e);
    return yes;
}

static const struct cln_proof_ops native_proof_ops = {.owns_pid = n_owns_pid};

static const struct cln_runtime_ops native_ops = {
    .close = n_close,
    .ping = n_ping,
    .version = n_version,
    .image_inspect = n_image_inspect,
    .image_pull = n_image_pull,
    .image_remove = n_image_remove,
    .create = n_create,
    .start = n_start,
    .stop = n_stop,
    .kill = n_kill,
    .wait = n_wait,
    .remove = n_remove,
    .inspect = n_inspect,
    .list = n_list,
    .logs = n_logs,
    .exec = n_exec,
    .copy_in = n_copy_in,
    .copy_out = n_copy_out,
    .interrupt = n_interrupt,
    .gone = n_gone,
};

/* ---- the image store ---- */

static void summaries_of(const struct cln_store_images *l, struct cln_image_summary **ret,
                         size_t *ret_n)
{
    *ret = cln_xcalloc(l->n ? l->n : 1, sizeof(**ret));
    *ret_n = l->n;
    for (size_t i = 0; i < l->n; i++) {
        (*ret)[i].id = cln_xstrdup(l->v[i].id);
        for (size_t k = 0; k < l->v[i].refs.n; k++)
            cln_strv_add(&(*ret)[i].names, l->v[i].refs.v[k]);
        (*ret)[i].created = l->v[i].created ? cln_xstrdup(l->v[i].created) : NULL;
        (*ret)[i].size = l->v[i].size;
    }
}

static int i_import(void *ctx, const char *path, const char *name, struct cln_image_summary **ret,
                    size_t *ret_n, struct cln_error **err)
{
    struct native *n = ctx;
    struct cln_store_images l = {0};
    pthread_mutex_lock(&n->store_mu);
    int r = cln_store_import(n->store, path, name, &l, err);
    pthread_mutex_unlock(&n->store_mu);
    if (r < 0)
        return cln_error_wrap(err, "runtime native: importing %s", path);
    summaries_of(&l, ret, ret_n);
    cln_store_images_done(&l);
    return 0;
}

static int i_list(void *ctx, struct cln_image_summary **ret, size_t *ret_n, struct cln_error **err)
{
    struct native *n = ctx;
    struct cln_store_images l = {0};
    pthread_mutex_lock(&n->store_mu);
    int r = cln_store_list(n->store, &l, err);
    pthread_mutex_unlock(&n->store_mu);
    if (r < 0)
        return cln_error_wrap(err, "runtime native: listing images");
    summaries_of(&l, ret, ret_n);
    cln_store_images_done(&l);
    return 0;
}

static int i_prune(void *ctx, size_t *ret_freed, struct cln_error **err)
{
    struct native *n = ctx;
    pthread_mutex_lock(&n->store_mu);
    int r = cln_store_prune(n->store, ret_freed, err);
    pthread_mutex_unlock(&n->store_mu);
    return r < 0 ? cln_error_wrap(err, "runtime native: pruning the image store") : 0;
}

static const struct cln_image_ops native_image_ops = {
    .import = i_import,
    .list = i_list,
    .prune = i_prune,
};

/* ---- the descriptor ---- */

static bool native_claims(const char *endpoint)
{
    return endpoint && strncmp(endpoint, ENDPOINT_SCHEME, strlen(ENDPOINT_SCHEME)) == 0;
}

static size_t native_candidates(struct cln_endpoint_candidate *ret, size_t max)
{
    char *root = NULL;
    struct cln_error *e = NULL;
    if (max == 0 || cln_store_default_root(&root, &e) < 0) {
        cln_error_free(e);
        return 0;
    }
    ret[0] = (struct cln_endpoint_candidate){.endpoint = cln_xasprintf(ENDPOINT_SCHEME "%s", root),
                                             .source = "the native image store"};
    free(root);
    return 1;
}

static int native_open(const char *endpoint, struct cln_runtime **ret, struct cln_error **err);
static const struct cln_image_ops native_image_ops;

const struct cln_runtime_desc cln_native_desc = {
    .name = "native",
    .ops = &native_ops,
    .images = &native_image_ops,
    .proof = &native_proof_ops,
    .network_requires = "its containers have only loopback until \"Native 2 of 3\"",
    .build_requires =
        "until \"Native 3 of 3\": build it with an engine, then cleanrun image import",
    .broker_fns = cln_native_broker_fns,
    .open = native_open,
    .candidates = native_candidates,
    .endpoint_env = NULL,
    .start_hint = NULL,
    .claims = native_claims,
    .named_only = true,
    .exec_stdin = true,
    .bind_checked = true,
};

/* As an ordinary user: containers in a user namespace, and no limits (no
 * cgroup is delegated on a v1 or hybrid layout) */
static const struct cln_runtime_desc native_rootless_desc = {
    .name = "native",
    .ops = &native_ops,
    .images = &native_image_ops,
    .proof = &native_proof_ops,
    .network_requires = "its containers have only loopback until \"Native 2 of 3\"",
    .build_requires =
        "until \"Native 3 of 3\": build it with an engine, then cleanrun image import",
    .broker_fns = cln_native_broker_fns,
    .open = native_open,
    .candidates = native_candidates,
    .claims = native_claims,
    .named_only = true,
    .exec_stdin = true,
    .bind_checked = true,
    .no_limits = "runtime native runs rootless here, and no cgroup is delegated to this user",
};

/* ... and with subordinate ids, mapped by newuidmap and newgidmap */
static const struct cln_runtime_desc native_rootless_mapped_desc = {
    .name = "native",
    .ops = &native_ops,
    .images = &native_image_ops,
    .proof = &native_proof_ops,
    .network_requires = "its containers have only loopback until \"Native 2 of 3\"",
    .build_requires =
        "until \"Native 3 of 3\": build it with an engine, then cleanrun image import",
    .broker_fns = cln_native_broker_fns,
    .host_programs = rootless_programs,
    .open = native_open,
    .candidates = native_candidates,
    .claims = native_claims,
    .named_only = true,
    .exec_stdin = true,
    .bind_checked = true,
    .no_limits = "runtime native runs rootless here, and no cgroup is delegated to this user",
};

static int native_open(const char *endpoint, struct cln_runtime **ret, struct cln_error **err)
{
    if (!native_claims(endpoint) || endpoint[strlen(ENDPOINT_SCHEME)] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "runtime native: the endpoint must be " ENDPOINT_SCHEME
                             "/ABSOLUTE/STORE/ROOT, not %s",
                             endpoint);
    const char *root = endpoint + strlen(ENDPOINT_SCHEME);
    struct native *n = cln_xcalloc(1, sizeof(*n));
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_init(&n->store_mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    n->root = cln_xstrdup(root);
    n->run_dir = cln_xasprintf("%s/containers", root);
    n->owner_start = cln_proc_start_time((int)getpid());
    int r = 0;
    if (n->owner_start == 0) /* records must name their owner, or gc would take them */
        r = cln_error_set(err, CLN_E_IO, 0, "runtime native: this process's start time is unknown");
    if (r == 0)
        r = cln_store_open(root, &n->store, err);
    if (r == 0 && mkdir(n->run_dir, 0700) < 0 && errno != EEXIST)
        r = cln_error_set(err, CLN_E_IO, errno, "creating %s", n->run_dir);
    if (r < 0) {
        n_close(n);
        return cln_error_wrap(err, "runtime native: the store at %s", root);
    }
    struct cln_engine_info info = {0};
    n_version(n, &info, NULL);
    const struct cln_runtime_desc *desc = &cln_native_desc;
    if (geteuid() != 0) {
        struct passwd pw, *pwp = NULL;
        char buf[1024];
        getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &pwp);
        subids("/etc/subuid", pwp ? pwp->pw_name : NULL, (unsigned)geteuid(), &n->subuid,
               &n->subuid_n);
        subids("/etc/subgid", pwp ? pwp->pw_name : NULL, (unsigned)geteuid(), &n->subgid,
               &n->subgid_n); /* (its first field is the user, by name or uid) */
        bool tools = access(NEWUIDMAP, X_OK) == 0 && access(NEWGIDMAP, X_OK) == 0;
        if (!tools)
            n->subuid_n = n->subgid_n = 0;
        desc = n->subuid_n && n->subgid_n ? &native_rootless_mapped_desc : &native_rootless_desc;
    }
    struct cln_runtime *rt = cln_runtime_new(desc, n, endpoint, true, &info);
    n->rt = rt;
    *ret = rt;
    return 0;
}
