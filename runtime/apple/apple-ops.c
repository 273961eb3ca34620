/* The core operations on Apple's container CLI (docs/runtime.md "Apple"):
 * each one or a few CLI calls through the runtime's broker, bounded, with
 * transient failures retried (apple-cli.c); the feature managers are in
 * apple-managers.c, the descriptor in apple.c. */
#include <errno.h>
#include <limits.h>
#include <ftw.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apple-internal.h"
#include "runtime/backend.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"
#include "runtime/base/random.h"
#include "runtime/tar.h"

#define CALL_MS 30000    /* one CLI call that should be quick */
#define PULL_MS 600000   /* an image pull */
#define CLEANUP_MS 10000 /* a cleanup that runs even once the CLI counts as stuck */

/* A container created and not started yet, with the arguments that made
 * it: joining a network later means making it again (the CLI connects a
 * container to its networks at create only). */
struct pending {
    char *id;
    char **argv;
    struct pending *next;
};

/* An image's ENTRYPOINT and CMD, found by probe containers where the CLI
 * (0.x) does not print the image's config. */
struct probe {
    char *image_id;
    struct cln_strv entrypoint, cmd;
    struct probe *next;
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
int cln_apple_cli_call(struct apple *a, const char *const *argv, const struct cln_apple_policy *pol,
                       struct cln_apple_call *ret, struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    pthread_mutex_lock(&a->lock);
    cleanup_free char *gone = a->gone ? cln_xstrdup(a->gone) : NULL;
    pthread_mutex_unlock(&a->lock);
    if (gone && !(pol && pol->cleanup))
        return cln_error_set(err, CLN_E_TRANSPORT, 0, "%s", gone);
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
    /* a quick call that hung (its own bound, not the caller's deadline):
     * the API server is stuck, and every later call would hang as long
     * (docs/runtime.md) */
    if (r < 0 && ret->hung && (!pol || !pol->any_exit)) {
        cleanup_free char *why = cln_error_render(*err);
        pthread_mutex_lock(&a->lock);
        if (!a->gone)
            a->gone = cln_xasprintf("runtime apple: the container CLI stopped answering (%s); "
                                    "its API server may be stuck: run `container system stop` "
                                    "and `container system start`",
                                    why);
        pthread_mutex_unlock(&a->lock);
    }
    return r;
}

#define call cln_apple_cli_call

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
    struct apple *a = ctx;
    if (!a)
        return;
    while (a->pending) {
        struct pending *p = a->pending;
        a->pending = p->next;
        free(p->id);
        cln_apple_argv_free(p->argv);
        free(p);
    }
    while (a->probes) {
        struct probe *p = a->probes;
        a->probes = p->next;
        free(p->image_id);
        cln_strv_done(&p->entrypoint);
        cln_strv_done(&p->cmd);
        free(p);
    }
    free(a->gone);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->tracker.lock);
    free(a);
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
    a->major = v ? (int)strtol(v + 8, NULL, 10) : 0;
    cln_apple_call_done(&c);
    return 0;
}

/* ---- images ---- */

static struct probe *probe_find(struct apple *a, const char *image_id)
{
    for (struct probe *p = a->probes; p; p = p->next)
        if (strcmp(p->image_id, image_id) == 0)
            return p;
    return NULL;
}

/* The first process (executable and arguments) of a probe container made
 * from image with args, never started. */
static int probe_process(struct apple *a, const char *image, const char *name, const char *arg,
                         struct cln_strv *ret, struct cln_error **err)
{
    struct cln_labels l = {0};
    cln_runtime_labels(&l, "probe", CLN_VERSION, NULL);
    struct cln_strv v = {0};
    cln_strv_add(&v, "container");
    cln_strv_add(&v, "create");
    cln_strv_add(&v, "--name");
    cln_strv_add(&v, name);
    for (size_t i = 0; i < l.len; i++) {
        cln_strv_add(&v, "-l");
        cln_strv_push(&v, cln_xasprintf("%s=%s", l.items[i].key, l.items[i].value));
    }
    cln_labels_done(&l);
    cln_strv_add(&v, image);
    if (arg)
        cln_strv_add(&v, arg);
    struct cln_apple_call c;
    int r = call(a, cln_strv_argv(&v), NULL, &c, err);
    cln_strv_done(&v);
    if (r < 0)
        return -1;
    cln_apple_call_done(&c);
    const char *iv[] = {"container", "inspect", name, NULL};
    r = call(a, iv, NULL, &c, err);
    if (r == 0) {
        r = cln_apple_parse_process(c.out.data, c.out.len, ret, err);
        cln_apple_call_done(&c);
    }
    return r;
}

/* 0.x prints no image config: two containers created and never started,
 * one without arguments (ENTRYPOINT and CMD) and one with one (ENTRYPOINT
 * and it), tell them apart.  Cached for the image's id. */
static int probe_image(struct apple *a, const char *ref, struct cln_image_info *info,
                       struct cln_error **err)
{
    pthread_mutex_lock(&a->lock);
    struct probe *p = probe_find(a, info->id);
    if (p) {
        for (size_t i = 0; i < p->entrypoint.n; i++)
            cln_strv_add(&info->entrypoint, p->entrypoint.v[i]);
        for (size_t i = 0; i < p->cmd.n; i++)
            cln_strv_add(&info->cmd, p->cmd.v[i]);
    }
    pthread_mutex_unlock(&a->lock);
    if (p)
        return 0;
    char hex[17], na[64], nb[64];
    cln_random_hex(hex, 8);
    snprintf(na, sizeof(na), "cleanrun-probe-%s-a", hex);
    snprintf(nb, sizeof(nb), "cleanrun-probe-%s-b", hex);
    static const char mark[] = "cleanrun-probe-argument";
    cleanup_strv struct cln_strv pa = {0}, pb = {0};
    struct cln_error *ea = NULL;
    int r = probe_process(a, ref, na, NULL, &pa, &ea);
    if (r < 0 && cln_error_root_code(ea) == CLN_E_INVALID) {
        /* "command/entrypoint not specified for container process": the
         * image has neither, and probe B alone tells the rest */
        cln_error_free(ea);
        ea = NULL;
        r = 0;
    }
    if (r < 0)
        *err = ea;
    if (r == 0)
        r = probe_process(a, ref, nb, mark, &pb, err);
    struct cln_error *ignored[2] = {NULL, NULL};
    const char *ids[] = {na, nb};
    struct cln_error *e = NULL;
    (void)cln_apple_batch_ops.remove(a, ids, 2, true, ignored, &e);
    cln_error_free(e);
    cln_error_free(ignored[0]);
    cln_error_free(ignored[1]);
    if (r < 0)
        return cln_error_wrap(err, "runtime apple: the ENTRYPOINT and CMD of image %s", ref);
    /* pb = ENTRYPOINT + [mark], or [mark] alone without an ENTRYPOINT */
    p = cln_xcalloc(1, sizeof(*p));
    p->image_id = cln_xstrdup(info->id);
    size_t nep = pb.n ? pb.n - 1 : 0;
    for (size_t i = 0; i < nep; i++)
        cln_strv_add(&p->entrypoint, pb.v[i]);
    for (size_t i = nep; i < pa.n; i++)
        cln_strv_add(&p->cmd, pa.v[i]);
    for (size_t i = 0; i < p->entrypoint.n; i++)
        cln_strv_add(&info->entrypoint, p->entrypoint.v[i]);
    for (size_t i = 0; i < p->cmd.n; i++)
        cln_strv_add(&info->cmd, p->cmd.v[i]);
    pthread_mutex_lock(&a->lock);
    p->next = a->probes;
    a->probes = p;
    pthread_mutex_unlock(&a->lock);
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
    bool has_config = r == 1 && cln_apple_image_has_config(c.out.data, c.out.len);
    cln_apple_call_done(&c);
    if (r == 1 && !has_config && probe_image(a, ref, ret, err) < 0) {
        cln_image_info_done(ret);
        return -1;
    }
    return r;
}

static int a_image_pull(void *ctx, const char *ref, cln_progress_fn progress, void *ud,
                        struct cln_error **err)
{
    struct apple *a = ctx;
    const char *argv[] = {"container", "image", "pull", "--progress", "none", ref, NULL};
    struct cln_apple_policy pol = {
        .timeout_ms = PULL_MS, .tries = 3, .backoff_ms = 500, .tracker = &a->tracker};
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

/* ---- containers ---- */

static void pending_add(struct apple *a, const char *id, char **argv)
{
    struct pending *p = cln_xcalloc(1, sizeof(*p));
    p->id = cln_xstrdup(id);
    p->argv = argv;
    pthread_mutex_lock(&a->lock);
    p->next = a->pending;
    a->pending = p;
    pthread_mutex_unlock(&a->lock);
}

/* Take id's entry out (NULL: none); the caller frees it. */
static struct pending *pending_take(struct apple *a, const char *id)
{
    pthread_mutex_lock(&a->lock);
    struct pending *r = NULL;
    for (struct pending **p = &a->pending; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0) {
            r = *p;
            *p = r->next;
            break;
        }
    pthread_mutex_unlock(&a->lock);
    return r;
}

static void pending_free(struct pending *p)
{
    if (!p)
        return;
    free(p->id);
    cln_apple_argv_free(p->argv);
    free(p);
}

/* `container delete -f id`, whatever happened before: a create that
 * failed half-way leaves nothing behind.  It runs even when that create
 * hung and the CLI counts as stopped answering, and after the caller's
 * deadline: a cleanup, bounded by CLEANUP_MS alone. */
static void delete_quietly(struct apple *a, const char *id)
{
    const char *argv[] = {"container", "delete", "-f", id, NULL};
    struct cln_apple_policy pol = a->sure;
    pol.cleanup = true;
    pol.timeout_ms = CLEANUP_MS;
    pol.tries = 2; /* one more on an XPC failure, within the bound's reach */
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    if (call(a, argv, &pol, &c, &e) == 0)
        cln_apple_call_done(&c);
    cln_error_free(e); /* a cleanup's failure: gc and the leak audit find what stays */
}

/* argv (container create ...) run; the id it printed */
static int create_from(struct apple *a, char **argv, const char *name, char **ret_id,
                       struct cln_error **err)
{
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    int r = call(a, (const char *const *)argv, NULL, &c, &e);
    if (r < 0) {
        /* a call killed at its deadline or interrupted may have made it */
        enum cln_errcode code = cln_error_root_code(e);
        if (name && (code == CLN_E_TIMEOUT || code == CLN_E_INTERRUPTED))
            delete_quietly(a, name);
        *err = e;
        return -1;
    }
    size_t n = c.out.len;
    while (n && (c.out.data[n - 1] == '\n' || c.out.data[n - 1] == '\r'))
        n--;
    *ret_id = n ? cln_xstrndup(c.out.data, n) : name ? cln_xstrdup(name) : NULL;
    cln_apple_call_done(&c);
    if (!*ret_id)
        return cln_error_set(err, CLN_E_PARSE, 0, "runtime apple: create printed no id");
    return 0;
}

static int free_port(const char *proto, uint16_t *ret, struct cln_error **err)
{
    bool udp = proto && strcmp(proto, "udp") == 0;
    int fd = cln_os_socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0, false);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cln_error_set(err, CLN_E_IO, e, "runtime apple: find a free port on 127.0.0.1");
    }
    close(fd);
    *ret = ntohs(sa.sin_port);
    return 0;
}

static int a_create(void *ctx, const struct cln_container_config *cfg, char **ret_id,
                    struct cln_error **err)
{
    struct apple *a = ctx;
    if (cln_apple_validate(cfg, err) < 0)
        return -1;
    /* the CLI publishes no port the host picks: a free one of the host's,
     * found by binding to it (and let go: another program may take it
     * first, and the create then fails) */
    struct cln_container_config c2 = *cfg;
    struct cln_port *ports = cln_xcalloc(cfg->nports ? cfg->nports : 1, sizeof(*ports));
    for (size_t i = 0; i < cfg->nports; i++) {
        ports[i] = cfg->ports[i];
        if (!ports[i].host_port && free_port(ports[i].proto, &ports[i].host_port, err) < 0) {
            free(ports);
            return -1;
        }
    }
    c2.ports = ports;
    char **argv = cln_apple_create_argv(&c2);
    free(ports);
    if (create_from(a, argv, cfg->name, ret_id, err) < 0) {
        cln_apple_argv_free(argv);
        return -1;
    }
    pending_add(a, *ret_id, argv);
    return 0;
}

int cln_apple_recreate_with_network(struct apple *a, const char *id, const char *network,
                                    struct cln_error **err)
{
    struct pending *p = pending_take(a, id);
    if (!p)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                             "runtime apple: container %s can join network %s only before it "
                             "starts (the CLI connects a container to its networks when it "
                             "makes it)",
                             id, network);
    /* made again, the same but on one more network */
    const char *dv[] = {"container", "delete", "-f", id, NULL};
    struct cln_apple_call c;
    if (call(a, dv, &a->sure, &c, err) < 0) {
        pending_free(p);
        return cln_error_wrap(err, "runtime apple: join %s to network %s", id, network);
    }
    cln_apple_call_done(&c);
    cln_apple_argv_add_network(&p->argv, network);
    char *nid = NULL;
    if (create_from(a, p->argv, id, &nid, err) < 0) {
        pending_free(p);
        return cln_error_wrap(err, "runtime apple: join %s to network %s", id, network);
    }
    if (!nid || strcmp(nid, id) != 0) {
        int r = cln_error_set(err, CLN_E_BACKEND, 0,
                              "runtime apple: container %s, made again to join network %s, came "
                              "back as %s",
                              id, network, nid ? nid : "nothing");
        if (nid)
            delete_quietly(a, nid);
        free(nid);
        pending_free(p);
        return r;
    }
    free(nid);
    pthread_mutex_lock(&a->lock);
    p->next = a->pending;
    a->pending = p;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

static int a_start(void *ctx, const char *id, struct cln_error **err)
{
    struct apple *a = ctx;
    pending_free(pending_take(a, id));
    const char *argv[] = {"container", "start", id, NULL};
    return call0(ctx, argv, err);
}

static int a_stop(void *ctx, const char *id, unsigned grace_s, struct cln_error **err)
{
    char t[16];
    snprintf(t, sizeof(t), "%u", grace_s);
    const char *argv[] = {"container", "stop", "-t", t, id, NULL};
    struct apple *a = ctx;
    struct cln_apple_policy pol = a->sure;
    pol.timeout_ms = a->quick.timeout_ms + (uint64_t)grace_s * 1000;
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
    struct apple *a = ctx;
    const char *argv[] = {"container", "kill", "-s", sig ? sig : "KILL", id, NULL};
    struct cln_apple_call c;
    if (call(a, argv, &a->sure, &c, err) < 0)
        return -1;
    cln_apple_call_done(&c);
    return 0;
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
    struct cln_error *one = NULL;
    const char *ids[] = {id};
    if (cln_apple_batch_ops.remove(ctx, ids, 1, force, &one, err) < 0)
        return -1;
    if (one) {
        *err = one;
        return -1;
    }
    return 0;
}

bool cln_apple_labels_match(const struct cln_labels *l, const char *filter)
{
    return cln_labels_match(l, filter);
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
        if (!cln_labels_match(&s[i].labels, label_filter))
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
    if (cfg->stdin_data)
        cln_strv_add(&v, "-i");
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
                                   .any_exit = true,
                                   .stdin_data = cfg->stdin_data,
                                   .stdin_len = cfg->stdin_len,
                                   .tracker = &a->tracker};
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
    enum cln_errcode code = r < 0 ? cln_error_root_code(e) : CLN_E_OK;
    if (r < 0 && ((code == CLN_E_TIMEOUT && cfg->timeout_ms) || code == CLN_E_INTERRUPTED)) {
        /* killing the CLI does not end the process in the VM, and nothing
         * names it there: the container is killed (docs/runtime.md) */
        cln_error_free(e);
        e = NULL;
        ret->kill_method = "container-kill";
        if (cfg->kill_argv && cfg->kill_argv[0]) {
            /* the harness's way to end the exec's processes inside */
            struct cln_strv k = {0};
            cln_strv_add(&k, "container");
            cln_strv_add(&k, "exec");
            cln_strv_add(&k, "-u");
            cln_strv_add(&k, "0");
            cln_strv_add(&k, id);
            for (const char *const *x = cfg->kill_argv; *x; x++)
                cln_strv_add(&k, *x);
            struct cln_apple_policy kp = a->sure;
            kp.any_exit = true;
            struct cln_apple_call kc;
            if (call(a, cln_strv_argv(&k), &kp, &kc, &e) == 0) {
                if (kc.exit_status == 0)
                    ret->kill_method = "in-container-kill";
                cln_apple_call_done(&kc);
            }
            cln_error_free(e);
            e = NULL;
            cln_strv_done(&k);
        }
        if (strcmp(ret->kill_method, "container-kill") == 0) {
            (void)a_kill(a, id, "KILL", &e);
            cln_error_free(e);
        }
        ret->status = CLN_EXEC_TIMEOUT;
        ret->interrupted = code == CLN_E_INTERRUPTED;
        ret->exit_code = -1;
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

/* ---- files ---- */

char *cln_apple_private_dir(struct cln_error **err)
{
    const char *t = getenv("TMPDIR");
    char *dir = cln_xasprintf("%s/cleanrun-apple-XXXXXX", t && t[0] == '/' ? t : "/tmp");
    if (!mkdtemp(dir)) {
        *err = cln_error_make(CLN_E_IO, errno, "runtime apple: make a private directory %s", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    (void)(flag == FTW_DP ? rmdir(path) : unlink(path));
    return 0;
}

void cln_apple_remove_tree(const char *dir)
{
    if (dir)
        (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool has_dotdot(const char *rel)
{
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        while (*p == '/')
            p++;
    }
    return false;
}

static int make_parents(char *path, size_t from)
{
    for (char *p = path + from + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0755);
        *p = '/';
        if (r < 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

int cln_apple_write_files(const char *root, const struct cln_file *files, size_t n,
                          struct cln_error **err)
{
    for (size_t i = 0; i < n; i++) {
        const char *rel = files[i].path;
        while (*rel == '/')
            rel++;
        if (!*rel || has_dotdot(rel))
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "runtime apple: file path %s leaves its directory", files[i].path);
        cleanup_free char *path = cln_xasprintf("%s/%s", root, rel);
        if (make_parents(path, strlen(root)) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "runtime apple: stage %s", files[i].path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return cln_error_set(err, CLN_E_IO, errno, "runtime apple: stage %s", files[i].path);
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
            return cln_error_set(err, CLN_E_IO, saved, "runtime apple: stage %s", files[i].path);
    }
    return 0;
}

/* 0.x has no `container cp`: an archive through `tar` in the container
 * (the image must have one), fed on stdin. */
static int copy_in_tar(struct apple *a, const char *id, const char *dir,
                       const struct cln_file *files, size_t n, struct cln_error **err)
{
    struct cln_buf tar = CLN_BUF_INIT;
    if (cln_tar_build(files, n, false, &tar, err) < 0) {
        cln_buf_done(&tar);
        return -1;
    }
    const char *argv[] = {"container", "exec", "-i", id, "tar", "-x", "-f", "-", "-C", dir, NULL};
    struct cln_apple_policy pol = a->quick;
    pol.any_exit = true;
    pol.tries = 1;
    pol.stdin_data = tar.data;
    pol.stdin_len = tar.len;
    struct cln_apple_call c;
    int r = call(a, argv, &pol, &c, err);
    cln_buf_done(&tar);
    if (r < 0)
        return cln_error_wrap(err, "runtime apple: copy into %s", id);
    if (c.exit_status != 0) {
        r = cln_error_set(err, CLN_E_BACKEND, 0,
                          "runtime apple: copy into %s:%s: `tar -x` in the container failed", id,
                          dir);
        struct cln_apple_failure f;
        cln_apple_classify(c.exit_status, c.err.data, c.err.len, &f);
        cln_apple_set_detail(*err, c.exit_status, &f);
        cln_apple_failure_done(&f);
    }
    cln_apple_call_done(&c);
    return r;
}

static int a_copy_in(void *ctx, const char *id, const char *dir, const struct cln_file *files,
                     size_t n, struct cln_error **err)
{
    struct apple *a = ctx;
    if (a->major < 1)
        return copy_in_tar(a, id, dir, files, n, err);
    /* 1.x: each file staged in a private directory, then `container cp`
     * to its place (the CLI makes the parents) */
    cleanup_free char *tmp = cln_apple_private_dir(err);
    if (!tmp)
        return -1;
    int r = cln_apple_write_files(tmp, files, n, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        const char *rel = files[i].path;
        while (*rel == '/')
            rel++;
        cleanup_free char *src = cln_xasprintf("%s/%s", tmp, rel);
        cleanup_free char *dst =
            cln_xasprintf("%s:%s%s%s", id, dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
        const char *argv[] = {"container", "cp", src, dst, NULL};
        r = call0(a, argv, err);
    }
    cln_apple_remove_tree(tmp);
    return r < 0 ? cln_error_wrap(err, "runtime apple: copy into %s", id) : 0;
}

static bool missing_path(const char *text, size_t len)
{
    static const char *const words[] = {"No such file", "not found", "Could not find",
                                        "does not exist", "No such container:path"};
    cleanup_free char *t = cln_xstrndup(text ? text : "", len);
    for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
        if (strcasestr(t, words[i]))
            return true;
    return false;
}

static int copy_out_tar(struct apple *a, const char *id, const char *path, size_t cap,
                        struct cln_file_info *ret_info, struct cln_capture *ret_content,
                        bool *ret_found, struct cln_error **err)
{
    cleanup_free char *dir = cln_xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *base = slash && slash[1] ? slash + 1 : ".";
    if (slash)
        *slash = '\0';
    const char *argv[] = {"container", "exec",           id,   "tar", "-c", "-f", "-",
                          "-C",        *dir ? dir : "/", base, NULL};
    struct cln_apple_policy pol = a->quick;
    pol.any_exit = true;
    pol.tries = 1;
    pol.cap = cap + 65536; /* the headers, and a little */
    struct cln_apple_call c;
    if (call(a, argv, &pol, &c, err) < 0)
        return cln_error_wrap(err, "runtime apple: copy %s out of %s", path, id);
    if (c.exit_status != 0 && missing_path(c.err.data, c.err.len) && !c.out.len) {
        cln_apple_call_done(&c);
        *ret_found = false;
        return 0;
    }
    struct cln_tar_stream *ts = NULL;
    int r = cln_tar_stream_new(cap, &ts, err);
    if (r == 0) {
        (void)cln_tar_stream_feed(ts, c.out.data, c.out.len);
        r = cln_tar_stream_finish(ts, ret_info, ret_content, ret_found, err);
    }
    if (r == 0 && !*ret_found && c.exit_status != 0)
        r = cln_error_set(err, CLN_E_BACKEND, 0,
                          "runtime apple: copy %s out of %s: `tar -c` in the container exited "
                          "%d: %.*s",
                          path, id, c.exit_status, (int)(c.err.len > 300 ? 300 : c.err.len),
                          c.err.data ? c.err.data : "");
    cln_apple_call_done(&c);
    return r;
}

static int a_copy_out(void *ctx, const char *id, const char *path, size_t cap,
                      struct cln_file_info *ret_info, struct cln_capture *ret_content,
                      bool *ret_found, struct cln_error **err)
{
    struct apple *a = ctx;
    memset(ret_info, 0, sizeof(*ret_info));
    memset(ret_content, 0, sizeof(*ret_content));
    *ret_found = false;
    cap = cap ? cap : CLN_DEFAULT_OUTPUT_CAP;
    if (a->major < 1)
        return copy_out_tar(a, id, path, cap, ret_info, ret_content, ret_found, err);
    cleanup_free char *tmp = cln_apple_private_dir(err);
    if (!tmp)
        return -1;
    cleanup_free char *src = cln_xasprintf("%s:%s", id, path);
    cleanup_free char *dst = cln_xasprintf("%s/", tmp);
    const char *argv[] = {"container", "cp", src, dst, NULL};
    struct cln_error *e = NULL;
    struct cln_apple_call c;
    if (call(a, argv, NULL, &c, &e) < 0) {
        cln_apple_remove_tree(tmp);
        cleanup_free char *why = cln_error_render(e);
        if (cln_error_root_code(e) == CLN_E_NOT_FOUND || missing_path(why, strlen(why))) {
            cln_error_free(e);
            return 0;
        }
        *err = e;
        return cln_error_wrap(err, "runtime apple: copy %s out of %s", path, id);
    }
    cln_apple_call_done(&c);
    const char *base = strrchr(path, '/');
    base = base && base[1] ? base + 1 : path;
    cleanup_free char *got = cln_xasprintf("%s/%s", tmp, base);
    struct stat st;
    int r = 0;
    if (lstat(got, &st) < 0) {
        r = cln_error_set(err, CLN_E_BACKEND, errno,
                          "runtime apple: `container cp %s` left nothing at %s", src, got);
    } else {
        *ret_found = true;
        ret_info->mode = (uint32_t)(st.st_mode & 07777);
        ret_info->uid = (uint32_t)st.st_uid;
        ret_info->gid = (uint32_t)st.st_gid;
        ret_info->size = (uint64_t)st.st_size;
        if (S_ISDIR(st.st_mode)) {
            ret_info->type = CLN_FILE_DIRECTORY;
        } else if (S_ISLNK(st.st_mode)) {
            ret_info->type = CLN_FILE_SYMLINK;
            char l[PATH_MAX];
            ssize_t n = readlink(got, l, sizeof(l) - 1);
            ret_info->link_target = cln_xstrndup(l, n > 0 ? (size_t)n : 0);
        } else if (S_ISREG(st.st_mode)) {
            ret_info->type = CLN_FILE_REGULAR;
            int fd = open(got, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            char buf[65536];
            ssize_t n = 0;
            while (fd >= 0 && ret_content->data.len < cap &&
                   (n = read(fd, buf,
                             cap - ret_content->data.len < sizeof(buf) ? cap - ret_content->data.len
                                                                       : sizeof(buf))) > 0)
                cln_buf_append(&ret_content->data, buf, (size_t)n);
            if (fd < 0 || n < 0)
                r = cln_error_set(err, CLN_E_IO, errno, "runtime apple: read %s", got);
            if (fd >= 0)
                close(fd);
            ret_content->total = (uint64_t)st.st_size;
            ret_content->truncated = ret_content->total > ret_content->data.len;
        } else {
            ret_info->type = CLN_FILE_OTHER;
        }
    }
    cln_apple_remove_tree(tmp);
    return r;
}

static void a_interrupt(void *ctx)
{
    struct apple *a = ctx;
    cln_apple_tracker_interrupt(&a->tracker);
}

static const char *a_gone(void *ctx)
{
    struct apple *a = ctx;
    pthread_mutex_lock(&a->lock);
    const char *g = a->gone; /* set once, freed at close */
    pthread_mutex_unlock(&a->lock);
    return g;
}

const struct cln_runtime_ops cln_apple_ops = {
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
    .copy_in = a_copy_in,
    .copy_out = a_copy_out,
    .interrupt = a_interrupt,
    .gone = a_gone,
};

/* ---- many at once: `container delete|stop ID...` ---- */

/* The CLI prints each id it did on stdout, a line each, and the failures
 * together on stderr ("Error: " then one line each): the failure of an id
 * is the line that names it. */
/* A character of a container's name (`--name`'s rule). */
static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

/* Whether text names id as a whole word: not inside a longer name (a
 * sentence's full stop after it is not part of the name). */
static bool names_id(const char *text, const char *id)
{
    size_t k = strlen(id);
    if (!k)
        return false;
    for (const char *p = strstr(text, id); p; p = strstr(p + 1, id)) {
        const char *after = p + k;
        bool starts = p == text || !name_char(p[-1]);
        bool ends = !name_char(*after) || (*after == '.' && !name_char(after[1]));
        if (starts && ends)
            return true;
    }
    return false;
}

void cln_apple_per_id(const struct cln_apple_call *c, const char *const *ids, size_t n,
                      const char *what, bool missing_ok, const char *line,
                      struct cln_error **ret_errs)
{
    cleanup_free char *out = cln_xstrndup(c->out.data ? c->out.data : "", c->out.len);
    cleanup_free char *errt = cln_xstrndup(c->err.data ? c->err.data : "", c->err.len);
    for (size_t i = 0; i < n; i++) {
        bool done = false;
        for (char *p = out; p && *p;) {
            size_t k = strcspn(p, "\n");
            if (k == strlen(ids[i]) && strncmp(p, ids[i], k) == 0)
                done = true;
            p += k;
            if (*p)
                p++;
        }
        if (done)
            continue;
        /* its line among the errors */
        const char *hit = NULL;
        for (char *p = errt; p && *p && !hit;) {
            size_t k = strcspn(p, "\n");
            char save = p[k];
            p[k] = '\0';
            if (names_id(p, ids[i]))
                hit = cln_xstrdup(p);
            p[k] = save;
            p += k;
            if (*p)
                p++;
        }
        struct cln_apple_failure f;
        const char *text = hit ? hit : errt;
        cln_apple_classify(c->exit_status, text, text ? strlen(text) : 0, &f);
        if (!(missing_ok && f.cls == CLN_APPLE_NOT_FOUND)) {
            ret_errs[i] =
                cln_error_make(f.cls == CLN_APPLE_NOT_FOUND          ? CLN_E_NOT_FOUND
                               : strcmp(f.code, "invalidState") == 0 ? CLN_E_CONFLICT
                                                                     : CLN_E_BACKEND,
                               0, "runtime apple: %s %s: `%s` failed", what, ids[i], line);
            cln_apple_set_detail(ret_errs[i], c->exit_status, &f);
        }
        cln_apple_failure_done(&f);
        free((char *)hit);
    }
}

static int batch(struct apple *a, const char *verb, const char *const *flags,
                 const char *const *ids, size_t n, uint64_t timeout_ms, bool missing_ok,
                 struct cln_error **ret_errs, struct cln_error **err)
{
    struct cln_strv v = {0};
    cln_strv_add(&v, a->cli);
    cln_strv_add(&v, verb);
    for (const char *const *f = flags; f && *f; f++)
        cln_strv_add(&v, *f);
    for (size_t i = 0; i < n; i++)
        cln_strv_add(&v, ids[i]);
    struct cln_apple_policy pol = a->sure;
    pol.any_exit = true; /* per id, below */
    pol.timeout_ms = timeout_ms;
    struct cln_apple_call c;
    int r = call(a, cln_strv_argv(&v), &pol, &c, err);
    cleanup_free char *line = cln_apple_cmdline(cln_strv_argv(&v));
    cln_strv_done(&v);
    if (r < 0)
        return -1;
    if (c.exit_status != 0)
        cln_apple_per_id(&c, ids, n, verb, missing_ok, line, ret_errs);
    cln_apple_call_done(&c);
    return 0;
}

static int b_remove(void *ctx, const char *const *ids, size_t n, bool force,
                    struct cln_error **ret_errs, struct cln_error **err)
{
    struct apple *a = ctx;
    for (size_t i = 0; i < n; i++)
        pending_free(pending_take(a, ids[i]));
    static const char *const f[] = {"-f", NULL};
    return batch(a, "delete", force ? f : NULL, ids, n, a->quick.timeout_ms, true, ret_errs, err);
}

static int b_stop(void *ctx, const char *const *ids, size_t n, unsigned grace_s,
                  struct cln_error **ret_errs, struct cln_error **err)
{
    struct apple *a = ctx;
    char t[16];
    snprintf(t, sizeof(t), "%u", grace_s);
    const char *const f[] = {"-t", t, NULL};
    return batch(a, "stop", f, ids, n, a->quick.timeout_ms + (uint64_t)grace_s * 1000, false,
                 ret_errs, err);
}

const struct cln_batch_ops cln_apple_batch_ops = {.remove = b_remove, .stop = b_stop};

int cln_apple_open_cli(const char *cli, struct cln_runtime **ret, struct cln_error **err)
{
    return cln_apple_open_desc(cli, NULL, ret, err);
}

int cln_apple_open_desc(const char *cli, const struct cln_runtime_desc *desc,
                        struct cln_runtime **ret, struct cln_error **err)
{
    if (!cli || cli[0] != '/' || strlen(cli) >= sizeof(cln_apple_cli_path))
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "runtime apple: the CLI must be an absolute path (%s)",
                             cli ? cli : "none");
    if (access(cli, X_OK) < 0)
        return cln_error_set(err, CLN_E_NOT_FOUND, errno, "runtime apple: %s", cli);
    snprintf(cln_apple_cli_path, sizeof(cln_apple_cli_path), "%s", cli); /* one CLI a process */
    struct apple *a = cln_xcalloc(1, sizeof(*a));
    snprintf(a->cli, sizeof(a->cli), "%s", cli);
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->tracker.lock, NULL);
    /* CLEANRUN_APPLE_TIMEOUT_MS: each quick call's bound (default 30 s) */
    const char *t = getenv("CLEANRUN_APPLE_TIMEOUT_MS");
    long long tm = t ? strtoll(t, NULL, 10) : 0;
    a->sure = (struct cln_apple_policy){
        .timeout_ms = tm > 0 ? (uint64_t)tm : CALL_MS, .tries = 4, .backoff_ms = 200};
    a->quick = a->sure;
    a->quick.tracker = &a->tracker;
    /* CLEANRUN_APPLE_BUILD_NETWORK=allow: consent to builds whose RUN steps
     * keep the builder VM's network (apple-managers.c) */
    const char *bn = getenv("CLEANRUN_APPLE_BUILD_NETWORK");
    a->build_network_ok = bn && strcmp(bn, "allow") == 0;
    struct cln_runtime *rt =
        cln_runtime_new(desc ? desc : cln_apple_pick_desc(NULL), a, cli, false, NULL);
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
