/* The core operations on Apple's container CLI (docs/runtime.md "Apple"):
 * each one or a few CLI calls through the runtime's broker, bounded, with
 * transient failures retried (apple-cli.c).  Not in the registry yet: the
 * keep-alive files, a VM's isolation evidence and the feature managers are
 * still to come; until then only tests open it (cln_apple_open_cli). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apple-internal.h"
#include "runtime/backend.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

#define CALL_MS 30000  /* one CLI call that should be quick */
#define PULL_MS 600000 /* an image pull */

struct apple {
    struct cln_runtime *rt;
    char cli[PATH_MAX];
    struct cln_apple_policy quick; /* a call that should be quick */
};

extern char **environ;

/* The CLI's environment: what it needs of ours (HOME, PATH, USER, LOGNAME,
 * TMPDIR, LANG, LC_*) and its own settings (CONTAINER_*); nothing else. */
static void cli_env(struct cln_strv *v)
{
    static const char *const keep[] = {
        "HOME=", "PATH=", "USER=", "LOGNAME=", "TMPDIR=", "LANG=", "LC_", "CONTAINER_"};
    for (char **e = environ; e && *e; e++)
        for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++)
            if (strncmp(*e, keep[i], strlen(keep[i])) == 0) {
                cln_strv_add(v, *e);
                break;
            }
}

/* argv: "container" and the rest, NULL-terminated */
static int call(struct apple *a, const char *const *argv, const struct cln_apple_policy *pol,
                struct cln_apple_call *ret, struct cln_error **err)
{
    /* argv[0] is the path the broker runs */
    size_t n = 0;
    while (argv[n])
        n++;
    const char **v = cln_xcalloc(n + 1, sizeof(*v));
    v[0] = a->cli;
    for (size_t i = 1; i < n; i++)
        v[i] = argv[i];
    cleanup_strv struct cln_strv env = {0};
    cli_env(&env);
    int r = cln_apple_call(a->rt, a->cli, v, cln_strv_argv(&env), pol ? pol : &a->quick, ret, err);
    free(v);
    return r;
}

/* A call whose output is not wanted. */
static int call0(struct apple *a, const char *const *argv, struct cln_error **err)
{
    struct cln_apple_call c;
    int r = call(a, argv, NULL, &c, err);
    if (r == 0)
        cln_apple_call_done(&c);
    return r;
}

static void a_close(void *ctx)
{
    free(ctx);
}

static int a_ping(void *ctx, struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container", "system", "status", "--format", "json", NULL};
    struct cln_apple_policy pol = a->quick;
    pol.any_exit = true; /* exit 1 means "not running": read what it says */
    struct cln_apple_call c;
    int r = call(a, argv, &pol, &c, err);
    if (r < 0)
        return r;
    cleanup_free char *st = cln_apple_parse_system_status(c.out.data, c.out.len);
    int code = c.exit_status;
    cln_apple_call_done(&c);
    if (code == 0 && st && strcmp(st, "running") == 0)
        return 0;
    return cln_error_set(err, CLN_E_TRANSPORT, 0,
                         "runtime apple: the container system service is %s (`%s system status` "
                         "exited %d): run `container system start`",
                         st ? st : "not answering", a->cli, code);
}

static int a_version(void *ctx, struct cln_engine_info *ret, struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container", "--version", NULL};
    struct cln_apple_call c;
    memset(ret, 0, sizeof(*ret));
    if (call(a, argv, NULL, &c, err) < 0)
        return -1;
    /* "container CLI version 0.5.0 (build: release, commit: 1a2b3c)" */
    const char *v = c.out.data ? strstr(c.out.data, "version ") : NULL;
    ret->engine = cln_xstrdup("Apple container");
    ret->version = v ? cln_xstrndup(v + 8, strcspn(v + 8, " \n")) : cln_xstrdup("unknown");
    ret->os = cln_xstrdup("linux"); /* the guest's */
    cln_apple_call_done(&c);
    return 0;
}

static int a_image_inspect(void *ctx, const char *ref, struct cln_image_info *ret,
                           struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container", "image", "inspect", ref, NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    if (call(a, argv, NULL, &c, &e) < 0) {
        if (cln_error_root_code(e) == CLN_E_NOT_FOUND) {
            cln_error_free(e);
            return 0;
        }
        *err = e;
        return -1;
    }
    int r = cln_apple_parse_image(c.out.data, c.out.len, ret, err);
    cln_apple_call_done(&c);
    return r;
}

static int a_image_pull(void *ctx, const char *ref, cln_progress_fn progress, void *ud,
                        struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container", "image", "pull", "--progress", "none", ref, NULL};
    struct cln_apple_policy pol = {.timeout_ms = PULL_MS, .tries = 3, .backoff_ms = 500};
    struct cln_apple_call c;
    if (call(a, argv, &pol, &c, err) < 0)
        return -1;
    if (progress && c.out.len)
        progress(c.out.data, ud);
    cln_apple_call_done(&c);
    return 0;
}

static int a_image_remove(void *ctx, const char *ref, bool force, struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container",        "image", "delete", force ? "-f" : ref,
                          force ? ref : NULL, NULL};
    return call0(a, argv, err);
}

static int a_create(void *ctx, const struct cln_container_config *cfg, char **ret_id,
                    struct cln_error **err)
{
    struct apple *a = ctx;
    if (cln_apple_validate(cfg, err) < 0)
        return -1;
    char **argv = cln_apple_create_argv(cfg);
    struct cln_apple_call c;
    int r = call(a, (const char *const *)argv, NULL, &c, err);
    cln_apple_argv_free(argv);
    if (r < 0)
        return r;
    size_t n = c.out.len;
    while (n && (c.out.data[n - 1] == '\n' || c.out.data[n - 1] == '\r'))
        n--;
    *ret_id = n ? cln_xstrndup(c.out.data, n) : cfg->name ? cln_xstrdup(cfg->name) : NULL;
    cln_apple_call_done(&c);
    if (!*ret_id)
        return cln_error_set(err, CLN_E_PARSE, 0, "runtime apple: create printed no id");
    return 0;
}

static int a_start(void *ctx, const char *id, struct cln_error **err)
{
    const char *argv[] = {"container", "start", id, NULL};
    return call0(ctx, argv, err);
}

static int a_stop(void *ctx, const char *id, unsigned grace_s, struct cln_error **err)
{
    char t[16];
    snprintf(t, sizeof(t), "%u", grace_s);
    const char *argv[] = {"container", "stop", "-t", t, id, NULL};
    struct apple *a = ctx;
    struct cln_apple_policy pol = a->quick;
    pol.timeout_ms = CALL_MS + (uint64_t)grace_s * 1000;
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    if (call(a, argv, &pol, &c, &e) < 0) {
        /* stopping a stopped container is fine */
        if (cln_error_has_code(e, CLN_E_CONFLICT)) {
            cln_error_free(e);
            return 0;
        }
        *err = e;
        return -1;
    }
    cln_apple_call_done(&c);
    return 0;
}

static int a_kill(void *ctx, const char *id, const char *sig, struct cln_error **err)
{
    const char *argv[] = {"container", "kill", "-s", sig ? sig : "KILL", id, NULL};
    return call0(ctx, argv, err);
}

static int a_inspect(void *ctx, const char *id, struct cln_container_state *ret,
                     struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container", "inspect", id, NULL};
    struct cln_apple_call c;
    memset(ret, 0, sizeof(*ret));
    if (call(a, argv, NULL, &c, err) < 0)
        return -1;
    struct cln_container_state *s = NULL;
    size_t n = 0;
    int r = cln_apple_parse_containers(c.out.data, c.out.len, &s, &n, NULL, err);
    cln_apple_call_done(&c);
    if (r < 0)
        return cln_error_wrap(err, "runtime apple: inspect %s", id);
    if (n == 0) { /* 0.x: an empty array for a missing id */
        free(s);
        return cln_error_set(err, CLN_E_NOT_FOUND, 0, "runtime apple: container %s not found", id);
    }
    *ret = s[0];
    for (size_t i = 1; i < n; i++)
        cln_container_state_done(&s[i]);
    free(s);
    return 0;
}

/* No wait command (docs/runtime.md): inspect until it is not running,
 * 20 ms then doubling to 500 ms between looks, within timeout_ms. */
static int a_wait(void *ctx, const char *id, uint64_t timeout_ms, int *ret_exit_code,
                  struct cln_error **err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t pause = 20;
    for (;;) {
        struct cln_container_state st;
        if (a_inspect(ctx, id, &st, err) < 0)
            return -1;
        bool running = st.running;
        *ret_exit_code = st.exit_code; /* -1: the CLI records none */
        cln_container_state_done(&st);
        if (!running)
            return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t el = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000 +
                      (uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000);
        if (timeout_ms && el >= timeout_ms)
            return cln_error_set(err, CLN_E_TIMEOUT, 0,
                                 "runtime apple: container %s still running after %llu ms", id,
                                 (unsigned long long)timeout_ms);
        if (timeout_ms && el + pause > timeout_ms)
            pause = timeout_ms - el;
        struct timespec ts = {(time_t)(pause / 1000), (long)(pause % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        pause = pause * 2 > 500 ? 500 : pause * 2;
    }
}

static int a_remove(void *ctx, const char *id, bool force, struct cln_error **err)
{
    const char *argv[] = {"container", "delete", force ? "-f" : id, force ? id : NULL, NULL};
    struct cln_error *e = NULL;
    if (call0(ctx, argv, &e) < 0) {
        if (cln_error_root_code(e) == CLN_E_NOT_FOUND) { /* removing a missing one is fine */
            cln_error_free(e);
            return 0;
        }
        *err = e;
        return -1;
    }
    return 0;
}

/* "key=value" or "key" against the labels */
static bool labels_match(const struct cln_labels *l, const char *filter)
{
    if (!filter)
        return true;
    const char *eq = strchr(filter, '=');
    cleanup_free char *key = eq ? cln_xstrndup(filter, (size_t)(eq - filter)) : cln_xstrdup(filter);
    const char *v = cln_labels_get(l, key);
    return v && (!eq || strcmp(v, eq + 1) == 0);
}

static int a_list(void *ctx, const char *label_filter, struct cln_container_summary **ret,
                  size_t *ret_n, struct cln_error **err)
{
    struct apple *a = ctx;
    /* the CLI has no label filter: all of them, filtered here */
    const char *argv[] = {"container", "ls", "-a", "--format", "json", NULL};
    struct cln_apple_call c;
    *ret = NULL;
    *ret_n = 0;
    if (call(a, argv, NULL, &c, err) < 0)
        return -1;
    struct cln_container_state *s = NULL;
    size_t n = 0;
    int r = cln_apple_parse_containers(c.out.data, c.out.len, &s, &n, NULL, err);
    cln_apple_call_done(&c);
    if (r < 0)
        return cln_error_wrap(err, "runtime apple: list containers");
    struct cln_container_summary *out = cln_xcalloc(n ? n : 1, sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!labels_match(&s[i].labels, label_filter))
            continue;
        struct cln_container_summary *o = &out[k++];
        o->id = cln_xstrdup(s[i].id);
        o->name = cln_xstrdup(s[i].name);
        o->image = s[i].image_id ? cln_xstrdup(s[i].image_id) : NULL;
        o->state = cln_xstrdup(s[i].status);
        o->status = cln_xstrdup(s[i].status);
        for (size_t j = 0; j < s[i].labels.len; j++)
            cln_labels_set(&o->labels, s[i].labels.items[j].key, s[i].labels.items[j].value);
    }
    cln_apple_states_free(s, n);
    *ret = out;
    *ret_n = k;
    return 0;
}

static void capture_from(struct cln_capture *dst, struct cln_buf *b, uint64_t total)
{
    memset(dst, 0, sizeof(*dst));
    dst->data = *b;
    memset(b, 0, sizeof(*b));
    dst->total = total;
    dst->truncated = total > dst->data.len;
}

static int a_logs(void *ctx, const char *id, unsigned tail, size_t cap, struct cln_capture *ret_out,
                  struct cln_capture *ret_err, struct cln_error **err)
{
    struct apple *a = ctx;
    char n[16];
    snprintf(n, sizeof(n), "%u", tail);
    const char *argv[] = {"container", "logs", tail ? "-n" : id, tail ? n : NULL, id, NULL};
    if (!tail)
        argv[3] = NULL;
    struct cln_apple_policy pol = a->quick;
    pol.cap = cap;
    struct cln_apple_call c;
    if (call(a, argv, &pol, &c, err) < 0)
        return -1;
    /* the CLI prints the container's stdout and stderr as one stream */
    capture_from(ret_out, &c.out, c.out_total);
    memset(ret_err, 0, sizeof(*ret_err));
    cln_apple_call_done(&c);
    return 0;
}

static int a_exec(void *ctx, const char *id, const struct cln_exec_config *cfg,
                  struct cln_exec_result *ret, struct cln_error **err)
{
    struct apple *a = ctx;
    struct cln_strv v = {0};
    cln_strv_add(&v, "container");
    cln_strv_add(&v, "exec");
    for (const char *const *e = cfg->env; e && *e; e++) {
        cln_strv_add(&v, "-e");
        cln_strv_add(&v, *e);
    }
    if (cfg->workdir) {
        cln_strv_add(&v, "-w");
        cln_strv_add(&v, cfg->workdir);
    }
    if (cfg->user) {
        cln_strv_add(&v, "-u");
        cln_strv_add(&v, cfg->user);
    }
    cln_strv_add(&v, id);
    for (const char *const *x = cfg->argv; *x; x++)
        cln_strv_add(&v, *x);
    struct cln_apple_policy pol = {.timeout_ms = cfg->timeout_ms,
                                   .tries = 1, /* a step is not run twice behind its back */
                                   .cap = cfg->output_cap,
                                   .any_exit = true};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    int r = call(a, cln_strv_argv(&v), &pol, &c, &e);
    cln_strv_done(&v);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    memset(ret, 0, sizeof(*ret));
    ret->duration_ms =
        (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000 + (uint64_t)((t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (r < 0 && cln_error_root_code(e) == CLN_E_TIMEOUT && cfg->timeout_ms) {
        /* killing the CLI does not kill the process in the VM: the
         * container is killed, as for an engine nothing can be proven of */
        cln_error_free(e);
        e = NULL;
        (void)a_kill(a, id, "KILL", &e);
        cln_error_free(e);
        ret->status = CLN_EXEC_TIMEOUT;
        ret->exit_code = -1;
        ret->kill_method = "container-kill";
        return 0;
    }
    if (r < 0) {
        *err = e;
        return -1;
    }
    ret->status = CLN_EXEC_EXITED;
    ret->exit_code = c.exit_status; /* 255 for a missing program too (docs/runtime.md) */
    capture_from(&ret->out, &c.out, c.out_total);
    capture_from(&ret->err, &c.err, c.err_total);
    if (cfg->on_output) {
        if (ret->out.data.len)
            cfg->on_output(1, ret->out.data.data, ret->out.data.len, cfg->userdata);
        if (ret->err.data.len)
            cfg->on_output(2, ret->err.data.data, ret->err.data.len, cfg->userdata);
    }
    cln_apple_call_done(&c);
    return 0;
}

static const struct cln_runtime_ops apple_ops = {
    .close = a_close,
    .ping = a_ping,
    .version = a_version,
    .image_inspect = a_image_inspect,
    .image_pull = a_image_pull,
    .image_remove = a_image_remove,
    .create = a_create,
    .start = a_start,
    .stop = a_stop,
    .kill = a_kill,
    .wait = a_wait,
    .remove = a_remove,
    .inspect = a_inspect,
    .list = a_list,
    .logs = a_logs,
    .exec = a_exec,
};

static char cli_path[PATH_MAX];
static const char *const cli_programs[] = {cli_path, NULL};
static const struct cln_runtime_desc apple_backend = {
    .name = "apple", .ops = &apple_ops, .host_programs = cli_programs};

int cln_apple_open_cli(const char *cli, struct cln_runtime **ret, struct cln_error **err)
{
    if (!cli || cli[0] != '/' || strlen(cli) >= sizeof(cli_path))
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "runtime apple: the CLI must be an absolute path (%s)",
                             cli ? cli : "none");
    if (access(cli, X_OK) < 0)
        return cln_error_set(err, CLN_E_NOT_FOUND, errno, "runtime apple: %s", cli);
    snprintf(cli_path, sizeof(cli_path), "%s", cli); /* one CLI a process */
    struct apple *a = cln_xcalloc(1, sizeof(*a));
    snprintf(a->cli, sizeof(a->cli), "%s", cli);
    /* CLEANRUN_APPLE_TIMEOUT_MS: each quick call's bound (default 30 s) */
    const char *t = getenv("CLEANRUN_APPLE_TIMEOUT_MS");
    long long tm = t ? strtoll(t, NULL, 10) : 0;
    a->quick = (struct cln_apple_policy){
        .timeout_ms = tm > 0 ? (uint64_t)tm : CALL_MS, .tries = 4, .backoff_ms = 200};
    struct cln_runtime *rt = cln_runtime_new(&apple_backend, a, cli, false, NULL);
    a->rt = rt;
    struct cln_engine_info info;
    if (a_ping(a, err) < 0 || a_version(a, &info, err) < 0) {
        cln_runtime_close(rt);
        return -1;
    }
    cln_runtime_set_info(rt, &info);
    *ret = rt;
    return 0;
}
