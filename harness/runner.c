/* The runner: one test at a time per worker, teardown on every path. */
#include "runner.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

const char *cln_status_name(enum cln_status s)
{
    switch (s) {
    case CLN_ST_PASSED:
        return "passed";
    case CLN_ST_FAILED:
        return "failed";
    case CLN_ST_ERROR:
        return "error";
    case CLN_ST_TIMEOUT:
        return "timeout";
    case CLN_ST_SKIPPED:
        return "skipped";
    }
    return "?";
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static char *render(struct cln_error *e)
{
    char *m = cln_error_render(e);
    cln_error_free(e);
    return m;
}

/* "prefix: rendered error", consuming e. */
static char *__attribute__((format(printf, 2, 3)))
render_with(struct cln_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *prefix = cln_xvasprintf(fmt, ap);
    va_end(ap);
    char *m = render(e);
    char *out = cln_xasprintf("%s: %s", prefix, m);
    free(prefix);
    free(m);
    return out;
}

/* The host's static busybox, copied into fresh containers to keep them
 * alive while their step runs by exec (any image, no shell needed). */
#define KEEPALIVE_DIR "/.cleanrun"
#define KEEPALIVE_BIN "/.cleanrun/busybox"
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

/* ---- isolation evidence ---- */

/* Observe a running container: its main process's namespaces (every exec
 * joins them: runc and crun setns(2) into the init process's namespaces),
 * its cgroup, and a random canary written by a process exec'd in it, then
 * looked for under /proc/PID/root and on the host.  has_keepalive: the
 * static busybox is already at KEEPALIVE_BIN. */
static void observe_container(struct cln_runtime *rt, const char *id, bool has_keepalive,
                              const struct cln_spec_privs *privs, struct cln_evidence *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->local = rt->local;
    ev->container_id = cln_xstrdup(id);
    ev->request = (struct cln_isolation_request){
        .host_network = privs && privs->host_network,
        .host_pid = privs && privs->host_pid,
        .privileged = privs && privs->privileged,
        .host_mounts = privs && privs->nmounts,
    };
    ev->method = "none";
    struct cln_container_state st;
    struct cln_error *e = NULL;
    if (rt->desc->ops->inspect(rt->ctx, id, &st, &e) < 0) {
        ev->canary_note = render_with(e, "inspect");
        cln_evidence_judge(ev);
        return;
    }
    ev->container_name = st.name ? cln_xstrdup(st.name) : NULL;
    ev->image_id = st.image_id ? cln_xstrdup(st.image_id) : NULL;
    int pid = st.running ? st.pid : 0;
    cln_container_state_done(&st);
    if (!ev->local || pid <= 0) {
        cln_evidence_judge(ev);
        return;
    }
    ev->observed_pid = pid;
    ev->observed_start = cln_proc_start_time(pid);
    ev->method = "container-init";
    cln_ns_read(pid, &ev->ns);
    cln_ns_read(0, &ev->host_ns);
    ev->cgroup = cln_proc_cgroup(pid);

    unsigned char rnd[8] = {0};
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        memset(rnd, 0x5a, sizeof(rnd));
    char token[40];
    snprintf(token, sizeof(token), "cleanrun-canary-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    ev->canary_path = cln_xasprintf(KEEPALIVE_DIR "/%s", token);
    ev->canary = CLN_CANARY_FAILED;
    pthread_once(&keepalive_once, load_keepalive);
    if (!has_keepalive) {
        struct cln_file f = {
            .path = KEEPALIVE_BIN + 1, .data = keepalive.data, .len = keepalive.len, .mode = 0755};
        if (!keepalive.len) {
            ev->canary_note = cln_xstrdup("no /bin/busybox on the host to write it with");
            cln_evidence_judge(ev);
            return;
        }
        if (rt->desc->ops->copy_in(rt->ctx, id, "/", &f, 1, &e) < 0) {
            ev->canary_note = render(e);
            cln_evidence_judge(ev);
            return;
        }
    }
    const char *argv[] = {KEEPALIVE_BIN,   "sh", "-c", "printf %s \"$1\" > \"$2\"", "canary", token,
                          ev->canary_path, NULL};
    struct cln_exec_config ec = {
        .argv = argv, .user = "0", .timeout_ms = 10000, .output_cap = 4096};
    struct cln_exec_result er;
    if (rt->desc->ops->exec(rt->ctx, id, &ec, &er, &e) < 0) {
        ev->canary_note = render(e);
    } else {
        if (er.status != CLN_EXEC_EXITED || er.exit_code != 0)
            ev->canary_note = cln_xasprintf("the writer exited %d: %.*s", er.exit_code,
                                            (int)(er.err.data.len > 200 ? 200 : er.err.data.len),
                                            er.err.data.data ? er.err.data.data : "");
        else
            cln_canary_check(ev, token);
        cln_exec_result_done(&er);
    }
    cln_evidence_judge(ev);
}

/* The step's evidence: its container's, with the exec's own facts, and
 * the observed process checked again after the step. */
static void step_evidence(const struct cln_evidence *base, const struct cln_attempt *a,
                          struct cln_evidence *ev)
{
    cln_evidence_copy(ev, base);
    if (a) {
        free(ev->exec_id);
        ev->exec_id = a->exec_id ? cln_xstrdup(a->exec_id) : NULL;
        ev->exec_host_pid = a->host_pid;
    }
    if (ev->observed_pid && ev->observed_start &&
        cln_proc_start_time(ev->observed_pid) == ev->observed_start) {
        /* A process may unshare(2) on its own; what matters is whether
         * the namespaces it has now are the host's: judge again on them. */
        struct cln_ns_set now;
        if (cln_ns_read(ev->observed_pid, &now) == 0 && memcmp(&now, &ev->ns, sizeof(now)) != 0) {
            ev->ns = now;
            ev->method = "container-init-reread";
            cln_evidence_judge(ev);
        }
    }
}

/* ---- per-test state ---- */

struct run;

struct test_ctx {
    struct run *run;
    size_t index;
    const struct cln_spec_test *t;
    struct cln_test_result *r;
    struct cln_labels labels;
    uint64_t deadline; /* 0: none */
    /* teardown, LIFO */
    char **containers;
    size_t ncontainers, ccap;
};

struct run {
    struct cln_runtime *rt;
    const struct cln_spec_test *tests;
    size_t n;
    const struct cln_run_options *opts;
    struct cln_test_result *results;
    pthread_mutex_t lock;
    size_t next;
    bool stop; /* fail-fast or interrupted: start nothing new */
    uint64_t run_deadline;
};

static bool interrupted(const struct test_ctx *c)
{
    return c->run->opts->interrupted && *c->run->opts->interrupted;
}

static uint64_t remaining(const struct test_ctx *c, uint64_t want)
{
    uint64_t dl = c->deadline;
    if (c->run->run_deadline && (!dl || c->run->run_deadline < dl))
        dl = c->run->run_deadline;
    if (!dl)
        return want;
    uint64_t now = now_ms();
    uint64_t left = dl > now ? dl - now : 1;
    return want && want < left ? want : left;
}

static bool deadline_passed(const struct test_ctx *c)
{
    uint64_t now = now_ms();
    return (c->deadline && now >= c->deadline) ||
           (c->run->run_deadline && now >= c->run->run_deadline);
}

static void track(struct test_ctx *c, const char *id)
{
    c->containers = cln_xgrow(c->containers, &c->ccap, c->ncontainers + 1, sizeof(char *));
    c->containers[c->ncontainers++] = cln_xstrdup(id);
}

static void teardown_error(struct cln_test_result *r, char *msg)
{
    r->teardown_errors =
        cln_xrealloc(r->teardown_errors, (r->nteardown_errors + 1) * sizeof(char *));
    r->teardown_errors[r->nteardown_errors++] = msg;
}

/* Remove one tracked container now (ephemeral steps). */
static void untrack_remove(struct test_ctx *c, const char *id)
{
    for (size_t i = 0; i < c->ncontainers; i++) {
        if (strcmp(c->containers[i], id) != 0)
            continue;
        struct cln_error *e = NULL;
        if (c->run->rt->desc->ops->remove(c->run->rt->ctx, id, true, &e) < 0)
            teardown_error(c->r, render(e));
        free(c->containers[i]);
        memmove(&c->containers[i], &c->containers[i + 1],
                (c->ncontainers - i - 1) * sizeof(char *));
        c->ncontainers--;
        return;
    }
}

static void teardown(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    while (c->ncontainers) {
        char *id = c->containers[--c->ncontainers];
        struct cln_error *e = NULL;
        if (rt->desc->ops->remove(rt->ctx, id, true, &e) < 0)
            teardown_error(c->r, render(e));
        free(id);
    }
    free(c->containers);
    c->containers = NULL;
    if (c->r->network) {
        struct cln_error *e = NULL;
        if (cln_network_remove(rt, c->r->network, &e) < 0)
            teardown_error(c->r, render(e));
    }
}

static void fail_test(struct cln_test_result *r, enum cln_status st, char *msg)
{
    if (r->status == CLN_ST_PASSED || r->status == CLN_ST_FAILED)
        r->status = st;
    if (!r->error)
        r->error = msg;
    else
        free(msg);
}

/* ---- images ---- */

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

static int ensure_images(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    const struct cln_spec_test *t = c->t;
    for (size_t i = 0; i < t->nimages; i++) {
        const struct cln_spec_image *im = &t->images[i];
        /* only images something uses */
        bool used = false;
        for (size_t k = 0; k < t->nservices; k++)
            used = used || t->services[k].image_idx == (int)i;
        for (size_t k = 0; k < t->nsteps; k++)
            used = used || t->steps[k].image_idx == (int)i;
        if (!used)
            continue;
        struct cln_error *e = NULL;
        if (!im->dockerfile) {
            if (cln_runtime_ensure_image(rt, im->ref, im->pull, NULL, NULL, &e) < 0) {
                fail_test(c->r, CLN_ST_ERROR, render_with(e, "image %s", im->name));
                return -1;
            }
            continue;
        }
        /* Built images are named by the hash of their inputs: reuse while
         * they are unchanged.  One build at a time per process. */
        pthread_mutex_lock(&build_lock);
        struct cln_image_info info;
        int r = rt->desc->ops->image_inspect(rt->ctx, im->ref, &info, &e);
        if (r == 1)
            cln_image_info_done(&info);
        if (r == 0) {
            struct cln_file *files = cln_xcalloc(im->nfiles ? im->nfiles : 1, sizeof(*files));
            for (size_t k = 0; k < im->nfiles; k++)
                files[k] = (struct cln_file){.path = im->files[k].path,
                                             .data = im->files[k].data,
                                             .len = im->files[k].len,
                                             .mode = im->files[k].mode};
            struct cln_labels bl = {0};
            cln_labels_set(&bl, CLN_LABEL_VERSION, c->run->opts->version);
            cln_labels_set(&bl, "io.cleanrun.spec-image", im->name);
            struct cln_build_request req = {.dockerfile = im->dockerfile,
                                            .files = files,
                                            .nfiles = im->nfiles,
                                            .tag = im->ref,
                                            .labels = &bl};
            char *id = NULL;
            r = cln_build_image(rt, &req, NULL, NULL, &id, &e);
            free(id);
            free(files);
            cln_labels_done(&bl);
        }
        pthread_mutex_unlock(&build_lock);
        if (r < 0) {
            fail_test(c->r, CLN_ST_ERROR, render_with(e, "image %s (build)", im->name));
            return -1;
        }
    }
    return 0;
}

/* ---- substitution of service facts ---- */

static const struct cln_service_result *find_service(const struct test_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->r->nservices; i++)
        if (strcmp(c->r->services[i].service->name, name) == 0)
            return &c->r->services[i];
    return NULL;
}

/* ${service.NAME.host} -> NAME; ${service.NAME.port.N} -> the host port. */
static char *substitute(const struct test_ctx *c, const char *s)
{
    if (!strstr(s, "${service."))
        return cln_xstrdup(s);
    struct cln_buf b = CLN_BUF_INIT;
    const char *p = s;
    while (*p) {
        const char *m = strstr(p, "${service.");
        if (!m) {
            cln_buf_puts(&b, p);
            break;
        }
        cln_buf_append(&b, p, (size_t)(m - p));
        const char *end = strchr(m, '}');
        char *ref = cln_xstrndup(m + 10, (size_t)(end - m - 10));
        char *dot = strchr(ref, '.');
        *dot = '\0';
        const struct cln_service_result *sr = find_service(c, ref);
        if (strcmp(dot + 1, "host") == 0) {
            cln_buf_puts(&b, ref);
        } else {
            long port = strtol(dot + 6, NULL, 10);
            bool done = false;
            for (size_t i = 0; sr && i < sr->service->nports && !done; i++)
                if (sr->service->ports[i] == port && sr->host_ports) {
                    cln_buf_printf(&b, "%u", sr->host_ports[i]);
                    done = true;
                }
            if (!done)
                cln_buf_printf(&b, "%ld", port);
        }
        free(ref);
        p = end + 1;
    }
    return cln_buf_steal(&b);
}

static void env_vector(const struct test_ctx *c, const struct cln_labels *env, char ***ret)
{
    char **v = cln_xcalloc(env->len + 1, sizeof(char *));
    for (size_t i = 0; i < env->len; i++) {
        char *val = substitute(c, env->items[i].value);
        v[i] = cln_xasprintf("%s=%s", env->items[i].key, val);
        free(val);
    }
    *ret = v;
}

static void free_vector(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---- services ---- */

struct svc_job {
    struct test_ctx *c;
    size_t idx;
    int rc;
};

static int tcp_ready(uint16_t port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
        ok = 1;
    } else if (errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = s, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof(err);
        if (poll(&pfd, 1, 1000) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
            err == 0)
            ok = 1;
    }
    /* A published port is accepted by the engine's proxy even before the
     * service listens; the proxy then closes at once.  So: connected, and
     * neither closed nor reset within 150 ms (or the server spoke first). */
    if (ok) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        int pr = poll(&pfd, 1, 150);
        if (pr > 0) {
            char c;
            ssize_t n = recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            ok = n > 0;
        } else {
            ok = pr == 0;
        }
    }
    close(s);
    return ok;
}

static int await_ready(struct test_ctx *c, struct cln_service_result *sr, uint64_t started)
{
    const struct cln_spec_service *s = sr->service;
    struct cln_runtime *rt = c->run->rt;
    const struct cln_spec_ready *rd = &s->ready;
    if (rd->kind == CLN_READY_NONE)
        return 0;
    uint64_t until = now_ms() + remaining(c, rd->timeout_ms);
    for (;;) {
        if (interrupted(c))
            return -1;
        struct cln_error *e = NULL;
        int ok = 0;
        if (rd->kind == CLN_READY_EXEC) {
            struct cln_exec_config ec = {.argv = (const char *const *)rd->exec.v,
                                         .timeout_ms = rd->interval_ms * 5 + 1000,
                                         .output_cap = 4096};
            struct cln_exec_result er;
            if (rt->desc->ops->exec(rt->ctx, sr->container_id, &ec, &er, &e) == 0) {
                ok = er.status == CLN_EXEC_EXITED && er.exit_code == 0;
                cln_exec_result_done(&er);
            }
        } else if (rd->kind == CLN_READY_LOG) {
            struct cln_capture out, err;
            if (rt->desc->ops->logs(rt->ctx, sr->container_id, 0, 1 << 20, &out, &err, &e) == 0) {
                ok = cln_regex_match(rd->log_regex, out.data.data, out.data.len) == 1 ||
                     cln_regex_match(rd->log_regex, err.data.data, err.data.len) == 1;
                cln_capture_done(&out);
                cln_capture_done(&err);
            }
        } else {
            for (size_t i = 0; i < s->nports; i++)
                if (s->ports[i] == rd->tcp_port && sr->host_ports)
                    ok = tcp_ready(sr->host_ports[i]);
        }
        cln_error_free(e); /* a failed probe is "not ready yet" */
        if (ok) {
            sr->ready_ms = now_ms() - started;
            return 0;
        }
        /* not ready: is it still running at all? */
        struct cln_container_state st;
        e = NULL;
        if (rt->desc->ops->inspect(rt->ctx, sr->container_id, &st, &e) == 0) {
            bool running = st.running;
            int code = st.exit_code;
            cln_container_state_done(&st);
            if (!running) {
                sr->error =
                    cln_xasprintf("service %s exited (code %d) before it was ready", s->name, code);
                return -1;
            }
        }
        cln_error_free(e);
        if (now_ms() + rd->interval_ms > until) {
            char d[32];
            sr->error = cln_xasprintf("service %s not ready after %s", s->name,
                                      cln_duration_format(rd->timeout_ms, d, sizeof(d)));
            return -1;
        }
        sleep_ms(rd->interval_ms);
    }
}

static struct cln_mount *host_mounts(const struct cln_spec_privs *p)
{
    struct cln_mount *m = cln_xcalloc(p->nmounts ? p->nmounts : 1, sizeof(*m));
    for (size_t i = 0; i < p->nmounts; i++)
        m[i] = (struct cln_mount){.type = CLN_MOUNT_BIND,
                                  .source = p->mounts[i].source,
                                  .target = p->mounts[i].target,
                                  .read_only = p->mounts[i].read_only};
    return m;
}

static void *start_service(void *ud)
{
    struct svc_job *j = ud;
    struct test_ctx *c = j->c;
    struct cln_service_result *sr = &c->r->services[j->idx];
    const struct cln_spec_service *s = sr->service;
    struct cln_runtime *rt = c->run->rt;
    struct cln_error *e = NULL;
    char **env = NULL;
    env_vector(c, &s->env, &env);
    struct cln_port *ports = cln_xcalloc(s->nports ? s->nports : 1, sizeof(*ports));
    for (size_t i = 0; i < s->nports; i++)
        ports[i].container_port = s->ports[i];
    const char **aliases = cln_xcalloc(s->aliases.n + 2, sizeof(char *));
    aliases[0] = s->name;
    for (size_t i = 0; i < s->aliases.n; i++)
        aliases[i + 1] = s->aliases.v[i];
    struct cln_labels labels = {0};
    for (size_t i = 0; i < c->labels.len; i++)
        cln_labels_set(&labels, c->labels.items[i].key, c->labels.items[i].value);
    cln_labels_set(&labels, "io.cleanrun.service", s->name);
    struct cln_mount *mounts = host_mounts(&s->privs);
    struct cln_container_config cfg = {
        .image = s->image,
        .cmd = s->has_command ? (const char *const *)s->command.v : NULL,
        .entrypoint = s->has_entrypoint ? (const char *const *)s->entrypoint.v : NULL,
        .env = (const char *const *)env,
        .labels = &labels,
        .ports = ports,
        .nports = s->nports,
        .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
        .nano_cpus = s->nano_cpus,
        .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS,
        .network = s->privs.host_network ? "host"
                   : c->r->network       ? c->r->network
                                         : NULL,
        .network_aliases = c->r->network && !s->privs.host_network ? aliases : NULL,
        .no_new_privileges = true,
        .privileged = s->privs.privileged,
        .pid_host = s->privs.host_pid,
        .mounts = mounts,
        .nmounts = s->privs.nmounts,
    };
    if (s->privs.host_network)
        cfg.nports = 0; /* the service's ports are the host's */
    char *id = NULL;
    uint64_t started = 0;
    struct cln_container_state st;
    memset(&st, 0, sizeof(st));
    j->rc = -1;
    if (rt->desc->ops->create(rt->ctx, &cfg, &id, &e) < 0) {
        sr->error = render_with(e, "service %s", s->name);
        goto out;
    }
    pthread_mutex_lock(&c->run->lock);
    track(c, id);
    pthread_mutex_unlock(&c->run->lock);
    sr->container_id = id;
    if (s->nfiles) {
        struct cln_file *files = cln_xcalloc(s->nfiles, sizeof(*files));
        for (size_t i = 0; i < s->nfiles; i++)
            files[i] = (struct cln_file){.path = s->files[i].path,
                                         .data = s->files[i].data,
                                         .len = s->files[i].len,
                                         .mode = s->files[i].mode};
        int r = rt->desc->ops->copy_in(rt->ctx, id, "/", files, s->nfiles, &e);
        free(files);
        if (r < 0) {
            sr->error = render_with(e, "service %s: files", s->name);
            goto out;
        }
    }
    started = now_ms();
    if (rt->desc->ops->start(rt->ctx, id, &e) < 0) {
        sr->error = render_with(e, "service %s", s->name);
        goto out;
    }
    if (rt->desc->ops->inspect(rt->ctx, id, &st, &e) < 0) {
        sr->error = render_with(e, "service %s", s->name);
        goto out;
    }
    sr->image_id = st.image_id ? cln_xstrdup(st.image_id) : NULL;
    struct cln_image_info ii;
    if (rt->desc->ops->image_inspect(rt->ctx, s->image, &ii, &e) == 1) {
        sr->image_digest = ii.digest ? cln_xstrdup(ii.digest) : NULL;
        cln_image_info_done(&ii);
    }
    cln_error_free(e); /* the digest is a courtesy to the reader */
    e = NULL;
    sr->host_ports = cln_xcalloc(s->nports ? s->nports : 1, sizeof(uint16_t));
    for (size_t i = 0; i < s->nports; i++)
        for (size_t k = 0; k < st.nports; k++)
            if (st.ports[k].container_port == s->ports[i])
                sr->host_ports[i] = st.ports[k].host_port;
    for (size_t i = 0; i < s->nports && s->privs.host_network; i++)
        sr->host_ports[i] = s->ports[i];
    cln_container_state_done(&st);
    if (await_ready(c, sr, started) == 0) {
        j->rc = 0;
        observe_container(rt, id, false, &s->privs, &sr->evidence);
        sr->observed = true;
    }
out:
    if (j->rc < 0 && sr->container_id) {
        struct cln_capture out, err;
        struct cln_error *le = NULL;
        if (rt->desc->ops->logs(rt->ctx, sr->container_id, 20, 1 << 16, &out, &err, &le) == 0) {
            struct cln_buf b = CLN_BUF_INIT;
            if (out.data.len)
                cln_buf_append(&b, out.data.data, out.data.len);
            if (err.data.len)
                cln_buf_append(&b, err.data.data, err.data.len);
            sr->log_tail = cln_buf_steal(&b);
            cln_capture_done(&out);
            cln_capture_done(&err);
        }
        cln_error_free(le); /* the logs are a courtesy to the reader */
    }
    if (j->rc < 0 && !sr->error)
        sr->error = cln_xasprintf("service %s: interrupted", s->name);
    free_vector(env);
    free(ports);
    free(aliases);
    free(mounts);
    cln_labels_done(&labels);
    return NULL;
}

static int start_services(struct test_ctx *c)
{
    const struct cln_spec_test *t = c->t;
    for (int level = 0; level <= t->max_level; level++) {
        if (interrupted(c)) {
            fail_test(c->r, CLN_ST_ERROR, cln_xstrdup("interrupted"));
            return -1;
        }
        struct svc_job jobs[64];
        pthread_t th[64];
        size_t nj = 0;
        for (size_t i = 0; i < t->nservices && nj < 64; i++)
            if (t->services[i].level == level)
                jobs[nj++] = (struct svc_job){.c = c, .idx = i};
        for (size_t i = 0; i < nj; i++)
            if (pthread_create(&th[i], NULL, start_service, &jobs[i]) != 0) {
                start_service(&jobs[i]);
                th[i] = 0;
            }
        for (size_t i = 0; i < nj; i++)
            if (th[i])
                pthread_join(th[i], NULL);
        for (size_t i = 0; i < nj; i++)
            if (jobs[i].rc < 0) {
                struct cln_service_result *sr = &c->r->services[jobs[i].idx];
                fail_test(c->r, CLN_ST_ERROR, cln_xstrdup(sr->error));
                return -1;
            }
    }
    return 0;
}

/* ---- steps ---- */

struct out_relay {
    struct test_ctx *c;
    const char *step;
};

static void relay_output(int stream, const char *data, size_t len, void *ud)
{
    struct out_relay *o = ud;
    const struct cln_runner_events *ev = &o->c->run->opts->events;
    if (ev->step_output)
        ev->step_output(o->c->index, o->step, stream, data, len, ev->userdata);
}

static void check_files(struct test_ctx *c, const char *id, const struct cln_spec_expect *x,
                        struct cln_attempt *a)
{
    struct cln_runtime *rt = c->run->rt;
    for (size_t i = 0; i < x->nfiles; i++) {
        const struct cln_file_expect *f = &x->files[i];
        struct cln_buf content = CLN_BUF_INIT;
        bool found = false;
        struct cln_error *e = NULL;
        if (rt->desc->ops->copy_out(rt->ctx, id, f->path, &content, &found, &e) < 0) {
            if (!a->error)
                a->error = render(e);
            else
                cln_error_free(e);
            cln_buf_done(&content);
            continue;
        }
        char what[300];
        const char *data = content.data ? content.data : "";
        if (f->exists == 1 && !found) {
            snprintf(what, sizeof(what), "file %s exists", f->path);
            cln_attempt_add_failure(a, what, "exists", "absent", NULL);
        } else if (f->exists == 0 && found) {
            snprintf(what, sizeof(what), "file %s is absent", f->path);
            cln_attempt_add_failure(a, what, "absent", "exists", NULL);
        }
        if (found && f->equals && strcmp(data, f->equals) != 0) {
            snprintf(what, sizeof(what), "file %s equals", f->path);
            cln_attempt_add_failure(a, what, f->equals, data, cln_line_diff(f->equals, data));
        }
        if (found && f->regex && cln_regex_match(f->regex, data, content.len) != 1) {
            snprintf(what, sizeof(what), "file %s matches regex", f->path);
            cln_attempt_add_failure(a, what, f->regex, data, NULL);
        }
        if (!found && (f->equals || f->regex) && f->exists != 1) {
            snprintf(what, sizeof(what), "file %s exists", f->path);
            cln_attempt_add_failure(a, what, "exists", "absent", NULL);
        }
        cln_buf_done(&content);
    }
}

/* A fresh container for an ephemeral step, kept alive by the keepalive
 * binary; returns its id or NULL with *msg set. */
static char *fresh_container(struct test_ctx *c, const struct cln_spec_step *s, char **msg,
                             struct cln_evidence *ev, bool *observed)
{
    struct cln_runtime *rt = c->run->rt;
    pthread_once(&keepalive_once, load_keepalive);
    if (!keepalive.len) {
        *msg = cln_xstrdup("cannot read /bin/busybox (busybox-static), which keeps fresh "
                           "containers alive for their step");
        return NULL;
    }
    static const char *const entry[] = {KEEPALIVE_BIN, "sleep", "2147483647", NULL};
    static const char *const empty[] = {NULL};
    struct cln_labels labels = {0};
    for (size_t i = 0; i < c->labels.len; i++)
        cln_labels_set(&labels, c->labels.items[i].key, c->labels.items[i].value);
    cln_labels_set(&labels, "io.cleanrun.step", s->name);
    struct cln_mount *mounts = host_mounts(&s->privs);
    struct cln_container_config cfg = {
        .image = s->image,
        .entrypoint = entry,
        .cmd = empty,
        .labels = &labels,
        .network = s->privs.host_network         ? "host"
                   : s->network && c->r->network ? c->r->network
                                                 : "none",
        .no_new_privileges = true,
        .init = false,
        .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
        .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS,
        .privileged = s->privs.privileged,
        .pid_host = s->privs.host_pid,
        .mounts = mounts,
        .nmounts = s->privs.nmounts,
    };
    char *id = NULL;
    struct cln_error *e = NULL;
    int r = rt->desc->ops->create(rt->ctx, &cfg, &id, &e);
    cln_labels_done(&labels);
    free(mounts);
    if (r < 0) {
        *msg = render(e);
        return NULL;
    }
    pthread_mutex_lock(&c->run->lock);
    track(c, id);
    pthread_mutex_unlock(&c->run->lock);
    struct cln_file f = {
        .path = KEEPALIVE_BIN + 1, .data = keepalive.data, .len = keepalive.len, .mode = 0755};
    if (rt->desc->ops->copy_in(rt->ctx, id, "/", &f, 1, &e) < 0 ||
        rt->desc->ops->start(rt->ctx, id, &e) < 0) {
        *msg = render(e);
        return id; /* tracked: teardown removes it */
    }
    observe_container(rt, id, true, &s->privs, ev);
    *observed = true;
    return id;
}

/* stdin for a step: the engine's exec has no stdin here, so the text is
 * copied into the container and the step runs as
 *   /.cleanrun/busybox sh -c 'exec "$@" < FILE' cleanrun-stdin ARGV...
 * The shell execs the step's own argv, unchanged, with FILE as its stdin. */
static int stdin_wrap(struct test_ctx *c, const struct cln_spec_step *s, size_t si, const char *id,
                      struct cln_step_result *sr, char **msg)
{
    struct cln_runtime *rt = c->run->rt;
    pthread_once(&keepalive_once, load_keepalive);
    if (!keepalive.len) {
        *msg = cln_xstrdup("stdin needs /bin/busybox (busybox-static) on the host");
        return -1;
    }
    char name[64];
    snprintf(name, sizeof(name), KEEPALIVE_DIR "/stdin-%zu", si);
    struct cln_file files[] = {
        {.path = KEEPALIVE_BIN + 1, .data = keepalive.data, .len = keepalive.len, .mode = 0755},
        {.path = name + 1, .data = s->stdin_text, .len = strlen(s->stdin_text), .mode = 0644},
    };
    struct cln_error *e = NULL;
    if (rt->desc->ops->copy_in(rt->ctx, id, "/", files, 2, &e) < 0) {
        *msg = render_with(e, "stdin");
        return -1;
    }
    struct cln_strv v = {0};
    char *script = cln_xasprintf("exec \"$@\" < %s", name);
    const char *head[] = {KEEPALIVE_BIN, "sh", "-c", script, "cleanrun-stdin"};
    v.v = cln_xcalloc(sr->argv.n + 6, sizeof(char *));
    for (size_t i = 0; i < 5; i++)
        v.v[v.n++] = cln_xstrdup(head[i]);
    for (size_t i = 0; i < sr->argv.n; i++)
        v.v[v.n++] = CLN_TAKE(sr->argv.v[i]);
    free(script);
    free(sr->argv.v);
    sr->argv = v;
    return 0;
}

static void run_step(struct test_ctx *c, size_t si)
{
    const struct cln_spec_step *s = &c->t->steps[si];
    struct cln_step_result *sr = &c->r->steps[si];
    struct cln_runtime *rt = c->run->rt;
    sr->step = s;
    uint64_t t0 = now_ms();
    for (size_t i = 0; i < s->argv.n; i++) {
        sr->argv.v = cln_xrealloc(sr->argv.v, (sr->argv.n + 2) * sizeof(char *));
        sr->argv.v[sr->argv.n++] = substitute(c, s->argv.v[i]);
        sr->argv.v[sr->argv.n] = NULL;
    }
    char *msg = NULL;
    const char *id = NULL;
    char *fresh = NULL;
    char **env = NULL;
    struct out_relay relay = {.c = c, .step = s->name};
    struct cln_evidence base;
    bool observed = false;
    memset(&base, 0, sizeof(base));
    if (s->service) {
        const struct cln_service_result *svc = find_service(c, s->service);
        sr->where = cln_xasprintf("service %s", s->service);
        id = svc ? svc->container_id : NULL;
        if (svc && svc->observed) {
            cln_evidence_copy(&base, &svc->evidence);
            observed = true;
        }
    } else {
        sr->where = cln_xasprintf("image %s (fresh container)", s->image);
        fresh = fresh_container(c, s, &msg, &base, &observed);
        id = fresh;
        if (msg) {
            sr->attempts = cln_xcalloc(1, sizeof(*sr->attempts));
            sr->nattempts = 1;
            sr->attempts[0].status = CLN_ST_ERROR;
            sr->attempts[0].error = msg;
            sr->status = CLN_ST_ERROR;
            goto out;
        }
    }
    sr->container_id = id ? cln_xstrdup(id) : NULL;
    env_vector(c, &s->env, &env);
    if (s->stdin_text && stdin_wrap(c, s, si, id, sr, &msg) < 0) {
        sr->attempts = cln_xcalloc(1, sizeof(*sr->attempts));
        sr->nattempts = 1;
        sr->attempts[0].status = CLN_ST_ERROR;
        sr->attempts[0].error = msg;
        sr->status = CLN_ST_ERROR;
        goto out;
    }
    for (int attempt = 0; attempt <= s->retries; attempt++) {
        if (attempt) {
            if (interrupted(c) || deadline_passed(c))
                break;
            sleep_ms(remaining(c, s->retry_interval_ms));
        }
        sr->attempts = cln_xrealloc(sr->attempts, (sr->nattempts + 1) * sizeof(*sr->attempts));
        struct cln_attempt *a = &sr->attempts[sr->nattempts++];
        memset(a, 0, sizeof(*a));
        uint64_t to = remaining(c, s->timeout_ms);
        struct cln_exec_config ec = {
            .argv = (const char *const *)sr->argv.v,
            .env = (const char *const *)env,
            .workdir = s->workdir,
            .user = s->user,
            .timeout_ms = to,
            .on_output = c->run->opts->events.step_output ? relay_output : NULL,
            .userdata = &relay,
            .cancel = c->run->opts->interrupted,
        };
        struct cln_exec_result er;
        struct cln_error *e = NULL;
        int64_t ooms = observed ? cln_cgroup_oom_kills(base.cgroup) : -1;
        if (rt->desc->ops->exec(rt->ctx, id, &ec, &er, &e) < 0) {
            a->status = CLN_ST_ERROR;
            a->error = render(e);
            sr->status = CLN_ST_ERROR;
            break;
        }
        a->exit_code = er.exit_code;
        a->timed_out = er.status == CLN_EXEC_TIMEOUT;
        a->duration_ms = er.duration_ms;
        a->out = er.out;
        a->err = er.err;
        a->exec_id = CLN_TAKE(er.exec_id);
        a->host_pid = er.host_pid;
        memset(&er.out, 0, sizeof(er.out));
        memset(&er.err, 0, sizeof(er.err));
        cln_exec_result_done(&er);
        if (a->timed_out && interrupted(c)) {
            a->status = CLN_ST_ERROR;
            a->error = cln_xstrdup("interrupted: the step was killed");
            sr->status = CLN_ST_ERROR;
            break;
        }
        if (ooms >= 0 && cln_cgroup_oom_kills(base.cgroup) > ooms) {
            a->oom_killed = true;
            char lim[64];
            int64_t m = s->service ? find_service(c, s->service)->service->memory : s->memory;
            snprintf(lim, sizeof(lim), "within the limit (%lld MiB)",
                     (long long)((m ? m : CLN_DEFAULT_MEMORY) >> 20));
            cln_attempt_add_failure(a, "memory", lim, "killed by the kernel's OOM killer", NULL);
        }
        cln_check_expectations(&s->expect, a);
        if (!a->timed_out && s->expect.nfiles)
            check_files(c, id, &s->expect, a);
        a->status = a->timed_out   ? CLN_ST_TIMEOUT
                    : a->error     ? CLN_ST_ERROR
                    : a->nfailures ? CLN_ST_FAILED
                                   : CLN_ST_PASSED;
        sr->status = a->status;
        if (a->status == CLN_ST_PASSED || a->status == CLN_ST_ERROR)
            break;
    }
out:
    if (observed) {
        step_evidence(&base, sr->nattempts ? &sr->attempts[sr->nattempts - 1] : NULL,
                      &sr->evidence);
        sr->observed = true;
    }
    cln_evidence_done(&base);
    free_vector(env);
    if (fresh) {
        pthread_mutex_lock(&c->run->lock);
        untrack_remove(c, fresh);
        pthread_mutex_unlock(&c->run->lock);
        free(fresh);
    }
    sr->duration_ms = now_ms() - t0;
}

/* ---- one test ---- */

static void run_test(struct run *run, size_t idx)
{
    const struct cln_spec_test *t = &run->tests[idx];
    struct cln_test_result *r = &run->results[idx];
    struct test_ctx c = {.run = run, .index = idx, .t = t, .r = r};
    uint64_t t0 = now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    r->started_unix_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    r->test = t;
    r->status = CLN_ST_PASSED;
    if (t->timeout_ms)
        c.deadline = t0 + t->timeout_ms;
    cln_runtime_labels(&c.labels, run->opts->run_id, run->opts->version, t->name);
    r->services = cln_xcalloc(t->nservices ? t->nservices : 1, sizeof(*r->services));
    r->nservices = t->nservices;
    for (size_t i = 0; i < t->nservices; i++)
        r->services[i].service = &t->services[i];
    r->steps = cln_xcalloc(t->nsteps, sizeof(*r->steps));
    r->nsteps = t->nsteps;
    for (size_t i = 0; i < t->nsteps; i++) {
        r->steps[i].step = &t->steps[i];
        r->steps[i].status = CLN_ST_SKIPPED;
    }

    struct cln_runtime *rt = run->rt;
    if (cln_runtime_supports(rt, CLN_FEATURE_NETWORK)) {
        char name[96];
        snprintf(name, sizeof(name), "cleanrun-%s-%zu", run->opts->run_id, idx);
        char *id = NULL;
        struct cln_error *e = NULL;
        if (cln_network_create(rt, name, &c.labels, false, &id, &e) < 0) {
            fail_test(r, CLN_ST_ERROR, render_with(e, "test network"));
            goto done;
        }
        free(id);
        r->network = cln_xstrdup(name);
    } else {
        r->network_note = cln_xasprintf("runtime '%s' has no networks: services and steps are "
                                        "not on a private network",
                                        rt->desc->name);
    }
    if (ensure_images(&c) < 0 || start_services(&c) < 0)
        goto done;
    for (size_t i = 0; i < t->nsteps; i++) {
        if (interrupted(&c)) {
            fail_test(r, CLN_ST_ERROR, cln_xstrdup("interrupted"));
            break;
        }
        if (deadline_passed(&c)) {
            char d[32];
            fail_test(r, CLN_ST_TIMEOUT,
                      cln_xasprintf("test timeout (%s) reached before step \"%s\"",
                                    cln_duration_format(t->timeout_ms, d, sizeof(d)),
                                    t->steps[i].name));
            break;
        }
        run_step(&c, i);
        enum cln_status st = r->steps[i].status;
        if (st == CLN_ST_PASSED)
            continue;
        if (st == CLN_ST_TIMEOUT && deadline_passed(&c) && !t->steps[i].timeout_ms)
            fail_test(r, CLN_ST_TIMEOUT,
                      cln_xasprintf("test timeout reached in step \"%s\"", t->steps[i].name));
        else if (r->status == CLN_ST_PASSED)
            r->status = st;
        if (!t->steps[i].continue_on_failure || st == CLN_ST_ERROR)
            break;
    }
done:
    r->verdict = CLN_VERDICT_ISOLATED;
    for (size_t i = 0; i < t->nsteps; i++)
        if (r->steps[i].observed) {
            r->any_observed = true;
            if (r->steps[i].evidence.verdict > r->verdict)
                r->verdict = r->steps[i].evidence.verdict;
        }
    teardown(&c);
    if (r->nteardown_errors && r->status == CLN_ST_PASSED) {
        r->status = CLN_ST_ERROR;
        r->error = cln_xstrdup("teardown failed");
    }
    cln_labels_done(&c.labels);
    r->duration_ms = now_ms() - t0;
}

static void *worker(void *ud)
{
    struct run *run = ud;
    for (;;) {
        pthread_mutex_lock(&run->lock);
        if (run->opts->interrupted && *run->opts->interrupted)
            run->stop = true;
        if (run->run_deadline && now_ms() >= run->run_deadline)
            run->stop = true;
        size_t idx = run->next;
        if (idx >= run->n) {
            pthread_mutex_unlock(&run->lock);
            return NULL;
        }
        run->next++;
        if (run->stop) {
            run->results[idx].test = &run->tests[idx];
            run->results[idx].status = CLN_ST_SKIPPED;
            if (run->opts->events.test_finished)
                run->opts->events.test_finished(idx, &run->results[idx],
                                                run->opts->events.userdata);
            pthread_mutex_unlock(&run->lock);
            continue;
        }
        if (run->opts->events.test_started)
            run->opts->events.test_started(idx, run->opts->events.userdata);
        pthread_mutex_unlock(&run->lock);
        run_test(run, idx);
        pthread_mutex_lock(&run->lock);
        enum cln_status st = run->results[idx].status;
        if (run->opts->fail_fast && st != CLN_ST_PASSED && st != CLN_ST_SKIPPED)
            run->stop = true;
        if (run->opts->events.test_finished)
            run->opts->events.test_finished(idx, &run->results[idx], run->opts->events.userdata);
        pthread_mutex_unlock(&run->lock);
    }
}

int cln_run_tests(struct cln_runtime *rt, const struct cln_spec_test *tests, size_t n,
                  const struct cln_run_options *opts, struct cln_test_result *results)
{
    struct run run = {.rt = rt, .tests = tests, .n = n, .opts = opts, .results = results};
    pthread_mutex_init(&run.lock, NULL);
    if (opts->run_timeout_ms)
        run.run_deadline = now_ms() + opts->run_timeout_ms;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t jobs = opts->jobs > 0 ? (size_t)opts->jobs : (cores > 0 ? (size_t)cores : 1);
    if (jobs > n)
        jobs = n ? n : 1;
    pthread_t *th = cln_xcalloc(jobs, sizeof(*th));
    size_t started = 0;
    for (size_t i = 0; i < jobs; i++)
        if (pthread_create(&th[i], NULL, worker, &run) == 0)
            started++;
    if (started == 0)
        worker(&run);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&run.lock);
    return 0;
}

int cln_run_exit_code(const struct cln_test_result *results, size_t n, bool leaks)
{
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cln_test_result *r = &results[i];
        int c = r->status == CLN_ST_FAILED || r->status == CLN_ST_TIMEOUT ? 1
                : r->status == CLN_ST_ERROR                               ? 3
                                                                          : 0;
        if (r->any_observed && r->verdict == CLN_VERDICT_VIOLATED)
            c = 4;
        if (c > code)
            code = c;
    }
    if (leaks && code < 3)
        code = 3;
    return code;
}

static void attempt_done(struct cln_attempt *a)
{
    cln_capture_done(&a->out);
    cln_capture_done(&a->err);
    free(a->exec_id);
    free(a->error);
    for (size_t i = 0; i < a->nfailures; i++) {
        free(a->failures[i].what);
        free(a->failures[i].expected);
        free(a->failures[i].actual);
        free(a->failures[i].diff);
    }
    free(a->failures);
}

void cln_test_result_done(struct cln_test_result *r)
{
    free(r->error);
    free(r->network);
    free(r->network_note);
    for (size_t i = 0; i < r->nservices; i++) {
        free(r->services[i].container_id);
        free(r->services[i].image_id);
        free(r->services[i].image_digest);
        free(r->services[i].host_ports);
        free(r->services[i].error);
        free(r->services[i].log_tail);
        cln_evidence_done(&r->services[i].evidence);
    }
    free(r->services);
    for (size_t i = 0; i < r->nsteps; i++) {
        struct cln_step_result *s = &r->steps[i];
        free(s->where);
        free(s->container_id);
        cln_strv_done(&s->argv);
        for (size_t k = 0; k < s->nattempts; k++)
            attempt_done(&s->attempts[k]);
        free(s->attempts);
        cln_evidence_done(&s->evidence);
    }
    free(r->steps);
    for (size_t i = 0; i < r->nteardown_errors; i++)
        free(r->teardown_errors[i]);
    free(r->teardown_errors);
    memset(r, 0, sizeof(*r));
}
