#include "fake-runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

struct fake_ctx {
    struct fake *f;
};

static void logf_(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct fake *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = cln_xvasprintf(fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&f->lock);
    f->log = cln_xgrow(f->log, &f->cap, f->nlog + 1, sizeof(char *));
    f->log[f->nlog++] = s;
    pthread_mutex_unlock(&f->lock);
}

#define F(ctx) (((struct fake_ctx *)(ctx))->f)

static void f_close(void *ctx)
{
    free(ctx);
}
static int f_ping(void *ctx, struct cln_error **err)
{
    (void)ctx;
    (void)err;
    return 0;
}
static int f_version(void *ctx, struct cln_engine_info *ret, struct cln_error **err)
{
    (void)ctx;
    (void)err;
    memset(ret, 0, sizeof(*ret));
    ret->engine = cln_xstrdup("Fake Engine");
    ret->version = cln_xstrdup("1");
    return 0;
}
static int f_image_inspect(void *ctx, const char *ref, struct cln_image_info *ret,
                           struct cln_error **err)
{
    (void)err;
    logf_(F(ctx), "image-inspect %s", ref);
    if (strncmp(ref, "slow-inspect/", 13) == 0) /* an engine under load */
        usleep(300 * 1000);
    memset(ret, 0, sizeof(*ret));
    ret->id = cln_xstrdup("sha256:fake");
    return 1;
}
static int f_image_pull(void *ctx, const char *ref, cln_progress_fn p, void *ud,
                        struct cln_error **err)
{
    (void)p;
    (void)ud;
    (void)err;
    logf_(F(ctx), "pull %s", ref);
    return 0;
}
static int f_image_remove(void *ctx, const char *ref, bool force, struct cln_error **err)
{
    (void)force;
    (void)err;
    logf_(F(ctx), "image-remove %s", ref);
    return 0;
}
static int f_create(void *ctx, const struct cln_container_config *cfg, char **ret_id,
                    struct cln_error **err)
{
    struct fake *f = F(ctx);
    if (strcmp(cfg->image, "fail/create:1") == 0) {
        logf_(f, "create-failed %s", cfg->image);
        return cln_error_set(err, CLN_E_BACKEND, 0, "fake: create refused");
    }
    for (size_t i = 0; f->blind && i < cfg->nmounts; i++)
        if (cfg->mounts[i].type == CLN_MOUNT_BIND) {
            logf_(f, "create-failed %s bind %s", cfg->image, cfg->mounts[i].source);
            return cln_error_set(err, CLN_E_BACKEND, 0,
                                 "invalid mount config for type \"bind\": bind source path does "
                                 "not exist: %s",
                                 cfg->mounts[i].source);
        }
    pthread_mutex_lock(&f->lock);
    int id = ++f->next_id;
    pthread_mutex_unlock(&f->lock);
    const char *svc = cfg->labels ? cln_labels_get(cfg->labels, "io.cleanrun.service") : NULL;
    *ret_id = cln_xasprintf("c%d", id);
    logf_(f, "create c%d %s %s net=%s", id, cfg->image, svc ? svc : "-",
          cfg->network ? cfg->network : "-");
    for (size_t i = 0; i < cfg->nmounts; i++) {
        const struct cln_mount *m = &cfg->mounts[i];
        /* a bind's source as the engine would find it: seen or missing */
        bool seen = m->type != CLN_MOUNT_BIND || (m->source && access(m->source, R_OK) == 0);
        logf_(f, "mount c%d %s %s %s %s%s", id,
              m->type == CLN_MOUNT_BIND     ? "bind"
              : m->type == CLN_MOUNT_VOLUME ? "volume"
                                            : "tmpfs",
              m->source ? m->source : "-", m->target, m->read_only ? "ro" : "rw",
              seen ? "" : " missing");
    }
    return 0;
}
static int f_start(void *ctx, const char *id, struct cln_error **err)
{
    logf_(F(ctx), "start %s", id);
    (void)err;
    return 0;
}
static int f_stop(void *ctx, const char *id, unsigned g, struct cln_error **err)
{
    (void)g;
    (void)err;
    logf_(F(ctx), "stop %s", id);
    return 0;
}
static int f_kill(void *ctx, const char *id, const char *sig, struct cln_error **err)
{
    (void)sig;
    (void)err;
    logf_(F(ctx), "kill %s", id);
    return 0;
}
static void sleep_ms(uint64_t ms);
/* A container ends only by "vanish": any other is still running at the
 * deadline. */
static int f_wait(void *ctx, const char *id, uint64_t t, int *code, struct cln_error **err)
{
    struct fake *f = F(ctx);
    logf_(f, "wait %s", id);
    pthread_mutex_lock(&f->lock);
    bool gone = f->vanished && strcmp(f->vanished, id) == 0;
    *code = f->vanished_code;
    if (gone)
        f->vanish_late = false;
    pthread_mutex_unlock(&f->lock);
    if (gone)
        return 0;
    sleep_ms(t);
    return cln_error_set(err, CLN_E_TIMEOUT, 0, "container %s still running after %llu ms", id,
                         (unsigned long long)t);
}
static int f_remove(void *ctx, const char *id, bool force, struct cln_error **err)
{
    (void)force;
    (void)err;
    logf_(F(ctx), "remove %s", id);
    return 0;
}
static int f_inspect(void *ctx, const char *id, struct cln_container_state *ret,
                     struct cln_error **err)
{
    struct fake *f = F(ctx);
    (void)err;
    memset(ret, 0, sizeof(*ret));
    ret->id = cln_xstrdup(id);
    pthread_mutex_lock(&f->lock);
    bool gone = f->vanished && strcmp(f->vanished, id) == 0 && !f->vanish_late;
    ret->exit_code = gone ? f->vanished_code : 0;
    pthread_mutex_unlock(&f->lock);
    ret->running = !gone;
    ret->status = cln_xstrdup(gone ? "exited" : "running");
    ret->image_id = cln_xstrdup("sha256:fake");
    return 0;
}
static int f_list(void *ctx, const char *filter, struct cln_container_summary **ret, size_t *n,
                  struct cln_error **err)
{
    (void)ctx;
    (void)filter;
    (void)err;
    *ret = NULL;
    *n = 0;
    return 0;
}
static int f_logs(void *ctx, const char *id, unsigned tail, size_t cap, struct cln_capture *o,
                  struct cln_capture *e, struct cln_error **err)
{
    (void)ctx;
    (void)id;
    (void)tail;
    (void)cap;
    (void)err;
    memset(o, 0, sizeof(*o));
    memset(e, 0, sizeof(*e));
    cln_buf_puts(&o->data, "fake log line\n");
    o->total = o->data.len;
    return 0;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int f_exec(void *ctx, const char *id, const struct cln_exec_config *cfg,
                  struct cln_exec_result *ret, struct cln_error **err)
{
    struct fake *f = F(ctx);
    const char *const *a = cfg->argv;
    struct cln_exec_result r;
    memset(&r, 0, sizeof(r));
    r.exec_id = cln_xstrdup("e1");
    logf_(f, "exec %s %s", id, a[0]);
    if (strcmp(a[0], "/.cleanrun/busybox") == 0 && a[4] && strcmp(a[4], "cleanrun-stat") == 0) {
        /* the file expectations' lstat: only /present exists */
        for (size_t i = 5; a[i]; i++)
            cln_buf_puts(&r.out.data,
                         strcmp(a[i], "/present") == 0 ? "81a4 644 0 0 root root\n" : "missing\n");
        r.out.total = r.out.data.len;
    } else if (strcmp(a[0], "true") == 0) {
        r.exit_code = 0;
    } else if (strcmp(a[0], "false") == 0) {
        r.exit_code = 1;
    } else if (strcmp(a[0], "echo") == 0) {
        for (size_t i = 1; a[i]; i++) {
            if (i > 1)
                cln_buf_putc(&r.out.data, ' ');
            cln_buf_puts(&r.out.data, a[i]);
        }
        cln_buf_putc(&r.out.data, '\n');
        r.out.total = r.out.data.len;
    } else if (strcmp(a[0], "sleepms") == 0) {
        uint64_t ms = strtoull(a[1], NULL, 10);
        uint64_t limit = cfg->timeout_ms && cfg->timeout_ms < ms ? cfg->timeout_ms : ms;
        uint64_t slept = 0;
        /* in 10 ms slices: an interrupt ends it as at a deadline */
        while (slept < limit && !__atomic_load_n(&f->interrupted, __ATOMIC_ACQUIRE)) {
            sleep_ms(10);
            slept += 10;
        }
        if (slept < ms) {
            r.status = CLN_EXEC_TIMEOUT;
            r.exit_code = -1;
            r.kill_method = "container-kill";
            r.interrupted = __atomic_load_n(&f->interrupted, __ATOMIC_ACQUIRE);
            r.duration_ms = slept;
        } else {
            r.duration_ms = ms;
        }
    } else if (strcmp(a[0], "flaky") == 0) {
        pthread_mutex_lock(&f->lock);
        int calls = f->flaky_calls++;
        pthread_mutex_unlock(&f->lock);
        r.exit_code = calls < strtol(a[1], NULL, 10) ? 1 : 0;
    } else if (strcmp(a[0], "vanish") == 0 || strcmp(a[0], "vanish-late") == 0) {
        bool late = strcmp(a[0], "vanish-late") == 0;
        pthread_mutex_lock(&f->lock);
        free(f->vanished);
        f->vanished = cln_xstrdup(id);
        f->vanished_code = (int)strtol(a[1], NULL, 10);
        f->vanish_late = late;
        pthread_mutex_unlock(&f->lock);
        r.exit_code = late ? 137 : 126;
        if (!late)
            cln_buf_puts(&r.out.data, "cannot exec in a deleted state: unknown\r\n");
        r.out.total = r.out.data.len;
    } else if (strcmp(a[0], "explode") == 0) {
        free(r.exec_id);
        return cln_error_set(err, CLN_E_TRANSPORT, 0, "fake: the engine went away");
    } else {
        r.exit_code = 127;
    }
    *ret = r;
    return 0;
}
static int f_copy_in(void *ctx, const char *id, const char *dir, const struct cln_file *files,
                     size_t n, struct cln_error **err)
{
    (void)files;
    (void)err;
    logf_(F(ctx), "copy-in %s %s %zu", id, dir, n);
    return 0;
}
/* One file exists: /present, holding "content\n". */
static int f_copy_out(void *ctx, const char *id, const char *path, size_t cap,
                      struct cln_file_info *info, struct cln_capture *content, bool *found,
                      struct cln_error **err)
{
    (void)err;
    (void)cap;
    logf_(F(ctx), "copy-out %s %s", id, path);
    *found = strcmp(path, "/present") == 0;
    if (*found) {
        memset(info, 0, sizeof(*info));
        memset(content, 0, sizeof(*content));
        info->type = CLN_FILE_REGULAR;
        info->mode = 0644;
        cln_buf_puts(&content->data, "content\n");
        content->total = content->data.len;
        info->size = content->total;
    }
    return 0;
}
static void f_interrupt(void *ctx)
{
    struct fake *f = F(ctx);
    __atomic_store_n(&f->interrupted, true, __ATOMIC_RELEASE);
}
static const char *f_gone(void *ctx)
{
    struct fake *f = F(ctx);
    return __atomic_load_n(&f->gone, __ATOMIC_ACQUIRE) ? "the fake engine stopped answering" : NULL;
}

static const struct cln_runtime_ops fake_ops = {
    .close = f_close,
    .ping = f_ping,
    .version = f_version,
    .image_inspect = f_image_inspect,
    .image_pull = f_image_pull,
    .image_remove = f_image_remove,
    .create = f_create,
    .start = f_start,
    .stop = f_stop,
    .kill = f_kill,
    .wait = f_wait,
    .remove = f_remove,
    .inspect = f_inspect,
    .list = f_list,
    .logs = f_logs,
    .exec = f_exec,
    .copy_in = f_copy_in,
    .copy_out = f_copy_out,
    .interrupt = f_interrupt,
    .gone = f_gone,
};

static int n_create(void *ctx, const char *name, const struct cln_labels *l, bool internal,
                    char **ret_id, bool *ret_resolves, struct cln_error **err)
{
    (void)l;
    (void)err;
    logf_(F(ctx), "network-create %s%s", name, internal ? " internal" : "");
    *ret_id = cln_xstrdup(name);
    *ret_resolves = true;
    return 0;
}
static int n_connect(void *ctx, const char *net, const char *c, const char *const *al,
                     struct cln_error **err)
{
    (void)al;
    (void)err;
    logf_(F(ctx), "network-connect %s %s", net, c);
    return 0;
}
static int n_remove(void *ctx, const char *net, struct cln_error **err)
{
    (void)err;
    logf_(F(ctx), "network-remove %s", net);
    return 0;
}
static int n_list(void *ctx, const char *filter, struct cln_resource **ret, size_t *n,
                  struct cln_error **err)
{
    (void)ctx;
    (void)filter;
    (void)err;
    *ret = NULL;
    *n = 0;
    return 0;
}
static const struct cln_network_ops fake_net = {
    .create = n_create, .connect = n_connect, .remove = n_remove, .list = n_list};

static const struct cln_runtime_desc fake_desc = {
    .name = "fake", .ops = &fake_ops, .network = &fake_net, .bind_checked = true};
/* no networks; and it does not say whether it saw a bind's host path */
static const struct cln_runtime_desc fake_desc_nonet = {.name = "fake-nonet", .ops = &fake_ops};
static const char *const fake_programs[] = {"/bin/echo", NULL};
static const struct cln_runtime_desc fake_desc_hostprog = {.name = "fake-hostprog",
                                                           .ops = &fake_ops,
                                                           .network = &fake_net,
                                                           .host_programs = fake_programs,
                                                           .bind_checked = true};

struct cln_runtime *fake_runtime_new(struct fake *f)
{
    pthread_mutex_init(&f->lock, NULL);
    struct fake_ctx *c = cln_xcalloc(1, sizeof(*c));
    c->f = f;
    return cln_runtime_new(f->host_programs ? &fake_desc_hostprog
                           : f->no_network  ? &fake_desc_nonet
                                            : &fake_desc,
                           c, "fake://", f->local, NULL);
}

void fake_runtime_free(struct cln_runtime *rt)
{
    cln_runtime_close(rt);
}

void fake_done(struct fake *f)
{
    for (size_t i = 0; i < f->nlog; i++)
        free(f->log[i]);
    free(f->log);
    free(f->vanished);
    pthread_mutex_destroy(&f->lock);
}

long fake_find(struct fake *f, const char *prefix, size_t from)
{
    for (size_t i = from; i < f->nlog; i++)
        if (strncmp(f->log[i], prefix, strlen(prefix)) == 0)
            return (long)i;
    return -1;
}

size_t fake_count(struct fake *f, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nlog; i++)
        n += strncmp(f->log[i], prefix, strlen(prefix)) == 0;
    return n;
}
