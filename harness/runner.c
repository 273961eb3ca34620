/* The runner: one test at a time per worker, teardown on every path. */
#include "runner.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
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
#include "runtime/base/deadline.h"
#include "runtime/base/proc.h"
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

#define now_ms cln_now_ms

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

/* Is pid, on this kernel, the init of container id?  Its cgroup path names
 * the container's full id (Docker: /docker/ID or docker-ID.scope; Podman:
 * libpod-ID): a pid from an engine in another pid namespace, or on another
 * machine, is not. */
static bool pid_is_container(int pid, const char *id)
{
    if (pid <= 0 || !id || strlen(id) < 32)
        return false;
    cleanup_free char *cg = cln_proc_cgroup(pid);
    return cg && strstr(cg, id) != NULL;
}

/* Observe a running container: its main process's namespaces (every exec
 * joins them: runc and crun setns(2) into the init process's namespaces),
 * its cgroup, and a random canary written by a process exec'd in it, then
 * looked for under /proc/PID/root and on the host.  has_keepalive: the
 * static busybox is already at KEEPALIVE_BIN. */
static void observe_container(struct cln_runtime *rt, const char *id, bool has_keepalive,
                              const struct cln_spec_privs *privs, enum cln_net_mode net_mode,
                              const char *net_reason, struct cln_evidence *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->local = cln_runtime_local(rt);
    ev->container_id = cln_xstrdup(id);
    ev->net_mode = net_mode;
    ev->net_reason = net_reason;
    ev->request = (struct cln_isolation_request){
        .host_network = privs && privs->host_network,
        .host_pid = privs && privs->host_pid,
        .privileged = privs && privs->privileged,
        .host_mounts = privs && privs->nmounts,
        .outbound = privs && privs->outbound,
    };
    ev->method = "none";
    struct cln_container_state st;
    struct cln_error *e = NULL;
    if (cln_rt_inspect(rt, id, &st, &e) < 0) {
        ev->canary_note = render_with(e, "inspect");
        cln_evidence_judge(ev);
        return;
    }
    ev->container_name = st.name ? cln_xstrdup(st.name) : NULL;
    ev->image_id = st.image_id ? cln_xstrdup(st.image_id) : NULL;
    int pid = st.running ? st.pid : 0;
    bool proven = pid_is_container(pid, st.id);
    cln_container_state_done(&st);
    if (!ev->local || pid <= 0) {
        cln_evidence_judge(ev);
        return;
    }
    ev->observed_pid = pid;
    ev->pid_proven = proven;
    if (!proven) {
        cln_evidence_judge(ev);
        return;
    }
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
        if (cln_rt_copy_in(rt, id, "/", &f, 1, &e) < 0) {
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
    if (cln_rt_exec(rt, id, &ec, &er, &e) < 0) {
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
    if (ev->observed_pid && ev->pid_proven && ev->observed_start &&
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

/* A name on the test network and its address, for a network on which the
 * engine resolves no names (cln_network_ops.create's *ret_resolves). */
struct host_entry {
    char *name;
    char *ip;
    size_t service; /* whose */
};

struct test_ctx {
    struct run *run;
    size_t index;
    const struct cln_spec_test *t;
    struct cln_test_result *r;
    struct cln_labels labels;
    uint64_t deadline;    /* the earlier of the test's and the run's; 0: none */
    char limit[96];       /* which limit that is, in words */
    pthread_mutex_t lock; /* containers, the routed network, hosts */
    /* teardown, LIFO */
    char **containers;
    size_t ncontainers, ccap;
    /* networks */
    bool resolves; /* the engine resolves names on the test network */
    char *routed;  /* the test's routed network, once something needed it */
    bool routed_failed;
    struct host_entry *hosts;
    size_t nhosts, hcap;
    size_t *svc_hosts_known; /* per service: how many hosts it was created knowing */
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

/* The limit in force and its description ("the test's timeout (20s)"). */
static void set_limit(struct test_ctx *c, uint64_t test_deadline)
{
    char d[32];
    uint64_t rd = c->run->run_deadline;
    if (rd && (!test_deadline || rd < test_deadline)) {
        c->deadline = rd;
        snprintf(c->limit, sizeof(c->limit), "the run's --timeout (%s)",
                 cln_duration_format_limit(c->run->opts->run_timeout_ms, d, sizeof(d)));
    } else if (test_deadline) {
        c->deadline = test_deadline;
        snprintf(c->limit, sizeof(c->limit), "the test's timeout (%s)",
                 cln_duration_format_limit(c->t->timeout_ms, d, sizeof(d)));
    } else {
        c->deadline = 0;
        c->limit[0] = '\0';
    }
}

/* What is left of the limit, capped at want (0: no cap of its own). */
static uint64_t remaining(const struct test_ctx *c, uint64_t want)
{
    if (!c->deadline)
        return want;
    uint64_t now = now_ms();
    uint64_t left = c->deadline > now ? c->deadline - now : 1;
    return want && want < left ? want : left;
}

static bool deadline_passed(const struct test_ctx *c)
{
    return c->deadline && now_ms() >= c->deadline;
}

/* Stopping what ran when the limit fires (killing the step, reading how
 * it ended, removing its container) takes engine requests too: they get
 * this long past the limit. */
#define STOP_GRACE_MS 10000

/* Every engine request of this thread ends by the limit, and the grace to
 * stop what ran. */
static void enter_limit(const struct test_ctx *c)
{
    char what[200];
    if (!c->deadline) {
        cln_deadline_set(0, NULL);
        return;
    }
    snprintf(what, sizeof(what), "%s and %d s to stop what ran", c->limit, STOP_GRACE_MS / 1000);
    cln_deadline_set(c->deadline + STOP_GRACE_MS, what);
}

static void track(struct test_ctx *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    c->containers = cln_xgrow(c->containers, &c->ccap, c->ncontainers + 1, sizeof(char *));
    c->containers[c->ncontainers++] = cln_xstrdup(id);
    pthread_mutex_unlock(&c->lock);
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
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->ncontainers; i++) {
        if (strcmp(c->containers[i], id) != 0)
            continue;
        char *mine = c->containers[i];
        memmove(&c->containers[i], &c->containers[i + 1],
                (c->ncontainers - i - 1) * sizeof(char *));
        c->ncontainers--;
        pthread_mutex_unlock(&c->lock);
        struct cln_error *e = NULL;
        if (cln_rt_remove(c->run->rt, mine, true, &e) < 0)
            teardown_error(c->r, render(e));
        free(mine);
        return;
    }
    pthread_mutex_unlock(&c->lock);
}

static void teardown(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    while (c->ncontainers) {
        char *id = c->containers[--c->ncontainers];
        struct cln_error *e = NULL;
        if (cln_rt_remove(rt, id, true, &e) < 0)
            teardown_error(c->r, render(e));
        free(id);
    }
    free(c->containers);
    c->containers = NULL;
    const char *nets[] = {c->routed, c->r->network};
    for (size_t i = 0; i < 2; i++) {
        struct cln_error *e = NULL;
        if (nets[i] && cln_network_remove(rt, nets[i], &e) < 0)
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

/* A container's name, readable in `docker ps` too: the run, the test (its
 * number and name) and what it is (a service, a step), within the engines'
 * rule [a-zA-Z0-9][a-zA-Z0-9_.-]+ (other characters become '-'). */
static char *container_name(const struct test_ctx *c, const char *what)
{
    struct cln_buf b = CLN_BUF_INIT;
    cln_buf_printf(&b, "cleanrun-%s-%zu-", c->run->opts->run_id, c->index);
    size_t start = b.len;
    for (const char *p = c->t->name; *p && b.len - start < 40; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        cln_buf_putc(&b, ok ? ch : '-');
    }
    cln_buf_printf(&b, "-%s", what);
    return cln_buf_steal(&b);
}

/* ---- networks ---- */

/* The test's routed network (a route to the host and beyond), made the
 * first time a container needs one: a service that publishes ports (an
 * engine publishes ports only from such a network) or a container the spec
 * gave outbound = true.  Named to sort before the internal one: Podman's
 * CNI programs a container's published ports for each of its networks, in
 * name order, and the first wins. */
static const char *routed_network(struct test_ctx *c, char **msg)
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
            *msg = render_with(e, "routed network");
        } else {
            c->routed = cln_xstrdup(name);
        }
        free(id);
    } else if (!c->routed) {
        *msg = cln_xstrdup("the test's routed network could not be created");
    }
    const char *r = c->routed;
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* "NAME:IP" for each name known so far, NULL-terminated; *ret_n the count. */
static char **hosts_vector(struct test_ctx *c, size_t *ret_n)
{
    pthread_mutex_lock(&c->lock);
    char **v = cln_xcalloc(c->nhosts + 1, sizeof(char *));
    for (size_t i = 0; i < c->nhosts; i++)
        v[i] = cln_xasprintf("%s:%s", c->hosts[i].name, c->hosts[i].ip);
    if (ret_n)
        *ret_n = c->nhosts;
    pthread_mutex_unlock(&c->lock);
    return v;
}

static void add_hosts(struct test_ctx *c, size_t svc, const char *ip)
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

static void free_vector(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---- images ---- */

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

/* A built image's tag: its inputs' hash, which covers the resolved id of
 * every base image (FROM), so that a new base under the same tag makes a
 * new build.  Set on first use, per test (each test owns its images). */
static int built_ref(struct test_ctx *c, struct cln_spec_image *im, char **msg)
{
    struct cln_runtime *rt = c->run->rt;
    uint64_t h = strtoull(im->hash, NULL, 16);
    for (size_t i = 0; i < im->nbases; i++) {
        const char *base = im->bases[i];
        if (strcmp(base, "scratch") == 0)
            continue;
        struct cln_image_info info;
        struct cln_error *e = NULL;
        int r = cln_rt_image_inspect(rt, base, &info, &e);
        if (r < 0) {
            *msg = render_with(e, "image %s: base image %s", im->name, base);
            return -1;
        }
        /* a base that is not here yet is pulled by the build itself: its
         * name stands in for its id until then */
        const char *id = r == 1 ? info.id : base;
        for (const char *p = id; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
        if (r == 1)
            cln_image_info_done(&info);
    }
    free(im->ref);
    im->ref = cln_xasprintf("localhost/cleanrun/spec-%s:%016llx", im->name, (unsigned long long)h);
    for (char *p = im->ref; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    return 0;
}

static int ensure_images(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    const struct cln_spec_test *t = c->t;
    for (size_t i = 0; i < t->nimages; i++) {
        /* the test owns its spec's images: the built tag is set here */
        struct cln_spec_image *im = (struct cln_spec_image *)&t->images[i];
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
        char *msg = NULL;
        if (built_ref(c, im, &msg) < 0) {
            fail_test(c->r, CLN_ST_ERROR, msg);
            return -1;
        }
        /* Built images are named by the hash of their inputs: reuse while
         * they are unchanged.  One build at a time per process. */
        pthread_mutex_lock(&build_lock);
        struct cln_image_info info;
        int r = cln_rt_image_inspect(rt, im->ref, &info, &e);
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
                                            .labels = &bl,
                                            .network = im->outbound};
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
    /* services and steps name the built tags */
    for (size_t k = 0; k < t->nservices; k++) {
        struct cln_spec_service *s = (struct cln_spec_service *)&t->services[k];
        if (s->image_idx >= 0 && t->images[s->image_idx].dockerfile) {
            free(s->image);
            s->image = cln_xstrdup(t->images[s->image_idx].ref);
        }
    }
    for (size_t k = 0; k < t->nsteps; k++) {
        struct cln_spec_step *s = (struct cln_spec_step *)&t->steps[k];
        if (s->image_idx >= 0 && t->images[s->image_idx].dockerfile) {
            free(s->image);
            s->image = cln_xstrdup(t->images[s->image_idx].ref);
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

/* ${service.NAME.host} -> NAME; ${service.NAME.port.N} -> the host port
 * (the loader checked that N is one of NAME's ports). */
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
            for (size_t i = 0; sr && i < sr->service->nports; i++)
                if (sr->service->ports[i] == port && sr->host_ports) {
                    cln_buf_printf(&b, "%u", sr->host_ports[i]);
                    break;
                }
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

/* ---- services ---- */

struct svc_job {
    struct test_ctx *c;
    size_t idx;
    int rc;
};

/* The last log lines of a service, kept in its result (once). */
static void keep_log_tail(struct test_ctx *c, struct cln_service_result *sr)
{
    if (sr->log_tail || !sr->container_id || cln_runtime_gone(c->run->rt))
        return;
    struct cln_capture out, err;
    struct cln_error *le = NULL;
    if (cln_rt_logs(c->run->rt, sr->container_id, 20, 1 << 16, &out, &err,
                                    &le) == 0) {
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

/* Does ip:port accept a connection?  A direct address: nothing but the
 * service itself can accept there (a port nobody listens on is reset). */
static int tcp_listening(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return 0;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return 0;
    int ok = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
        ok = 1;
    } else if (errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = s, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof(err);
        ok = poll(&pfd, 1, 1000) == 1 &&
             getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0;
    }
    close(s);
    return ok;
}

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

/* Wait up to ms, or until the run is interrupted (the CLI's wake fd). */
static void pause_ms(const struct test_ctx *c, uint64_t ms)
{
    int fd = c->run->opts->wake_fd;
    if (fd <= 0 || !c->run->opts->interrupted) {
        sleep_ms(ms);
        return;
    }
    uint64_t until = now_ms() + ms;
    while (!interrupted(c)) {
        uint64_t now = now_ms();
        if (now >= until)
            return;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t left = until - now;
        (void)poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
    }
}

static size_t collect_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct cln_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len < (1u << 20))
        cln_buf_append(b, data, n);
    return n;
}

static bool status_wanted(const struct cln_spec_ready *rd, long status)
{
    if (!rd->nstatuses)
        return status >= 200 && status < 400;
    for (size_t i = 0; i < rd->nstatuses; i++)
        if (rd->statuses[i] == status)
            return true;
    return false;
}

/* http readiness from here (libcurl): at the service's own address where
 * this host can reach it, else through the published port. */
static int http_ready_host(const struct cln_spec_ready *rd, const char *ip, uint16_t port,
                           uint64_t timeout_ms, char **why)
{
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    char url[512];
    snprintf(url, sizeof(url), "http://%s:%u%s", ip, port, rd->http_path);
    struct cln_buf body = CLN_BUF_INIT;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 1));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    int ok = rc == CURLE_OK && status_wanted(rd, status) &&
             (!rd->body_regex || cln_regex_match(rd->body_regex, body.data, body.len) == 1);
    free(*why);
    *why = rc != CURLE_OK
               ? cln_xasprintf("GET %s: %s", url, curl_easy_strerror(rc))
               : cln_xasprintf("GET %s: HTTP %ld%s", url, status,
                               ok || status_wanted(rd, status) ? ", body not matching" : "");
    cln_buf_done(&body);
    return ok;
}

/* http readiness from inside the service (its own loopback), with the
 * keepalive busybox's wget: for a port it does not publish. */
static int http_ready_inside(struct test_ctx *c, const struct cln_service_result *sr,
                             uint64_t timeout_ms, char **why)
{
    const struct cln_spec_ready *rd = &sr->service->ready;
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", rd->http_port, rd->http_path);
    const char *argv[] = {KEEPALIVE_BIN, "wget", "-q", "-S", "-O", "-", url, NULL};
    struct cln_exec_config ec = {.argv = argv,
                                 .user = "0",
                                 .timeout_ms = timeout_ms ? timeout_ms : 1,
                                 .output_cap = 1 << 20};
    struct cln_exec_result er;
    struct cln_error *e = NULL;
    if (cln_rt_exec(c->run->rt, sr->container_id, &ec, &er, &e) < 0) {
        free(*why);
        *why = render_with(e, "GET %s", url);
        return 0;
    }
    /* the last status line wget printed ("  HTTP/1.1 200 OK") */
    long status = 0;
    for (const char *p = er.err.data.data; p && (p = strstr(p, "HTTP/")); p++) {
        const char *sp = strchr(p, ' ');
        if (sp)
            status = strtol(sp + 1, NULL, 10);
    }
    int ok = status_wanted(rd, status) &&
             (!rd->body_regex ||
              cln_regex_match(rd->body_regex, er.out.data.data, er.out.data.len) == 1);
    free(*why);
    *why = status ? cln_xasprintf("GET %s (inside the service): HTTP %ld%s", url, status,
                                  ok || status_wanted(rd, status) ? "" : ", body not matching")
                  : cln_xasprintf("GET %s (inside the service): no answer", url);
    cln_exec_result_done(&er);
    return ok;
}

/* The longest one http readiness request may take before it is retried. */
#define READY_ATTEMPT_MS 5000

/* Probe until ready: never sleeping past the deadline, probing once more
 * at it, and saying how long it really waited. */
static int await_ready(struct test_ctx *c, struct cln_service_result *sr, uint64_t started)
{
    const struct cln_spec_service *s = sr->service;
    struct cln_runtime *rt = c->run->rt;
    const struct cln_spec_ready *rd = &s->ready;
    if (rd->kind == CLN_READY_NONE)
        return 0;
    uint64_t until = now_ms() + remaining(c, rd->timeout_ms);
    char *why = NULL; /* the last probe's answer, for the error */
    int rc = -1;
    /* The image's HEALTHCHECK is run by cleanrun itself, as an exec probe:
     * the same on every backend, whether or not the engine runs health
     * checks (Podman without systemd never does). */
    char **probe = rd->kind == CLN_READY_EXEC ? rd->exec.v : NULL;
    struct cln_container_state hst = {0};
    uint64_t probe_cap = 0;
    if (rd->kind == CLN_READY_HEALTH) {
        struct cln_error *e = NULL;
        if (cln_rt_inspect(rt, sr->container_id, &hst, &e) < 0) {
            sr->error = render_with(e, "service %s: read its image's HEALTHCHECK", s->name);
            return -1;
        }
        if (!hst.health_argv) {
            sr->error = cln_xasprintf("service %s: ready.healthcheck, but its image (%s) "
                                      "has no HEALTHCHECK",
                                      s->name, s->image);
            cln_container_state_done(&hst);
            return -1;
        }
        probe = hst.health_argv;
        probe_cap = hst.health_timeout_ms;
    }
    for (;;) {
        if (interrupted(c))
            break;
        uint64_t left = until > now_ms() ? until - now_ms() : 1;
        struct cln_error *e = NULL;
        int ok = 0;
        if (probe) {
            /* each probe gets at least a second, even the one at the deadline */
            uint64_t t = left > 1000 ? left : 1000;
            if (probe_cap && probe_cap < t)
                t = probe_cap;
            struct cln_exec_config ec = {.argv = (const char *const *)probe,
                                         .timeout_ms = remaining(c, t),
                                         .output_cap = 4096};
            struct cln_exec_result er;
            if (cln_rt_exec(rt, sr->container_id, &ec, &er, &e) == 0) {
                ok = er.status == CLN_EXEC_EXITED && er.exit_code == 0;
                free(why);
                const char *what = probe == rd->exec.v ? "the probe" : "the image's HEALTHCHECK";
                why = er.status == CLN_EXEC_TIMEOUT
                          ? cln_xasprintf("%s did not finish in %" PRIu64 " ms", what, t)
                          : cln_xasprintf("%s exited %d", what, er.exit_code);
                cln_exec_result_done(&er);
            }
        } else if (rd->kind == CLN_READY_LOG) {
            struct cln_capture out, err;
            if (cln_rt_logs(rt, sr->container_id, 0, 1 << 20, &out, &err, &e) == 0) {
                ok = cln_regex_match(rd->log_regex, out.data.data, out.data.len) == 1 ||
                     cln_regex_match(rd->log_regex, err.data.data, err.data.len) == 1;
                cln_capture_done(&out);
                cln_capture_done(&err);
            }
        } else if (rd->kind == CLN_READY_TCP) {
            /* at the service's own address when this host can reach it:
             * in front of a published port, an engine's proxy (docker-proxy)
             * or the process holding the port (Podman's conmon) accepts
             * connections before the service listens */
            if (sr->route_ip)
                ok = tcp_listening(sr->route_ip, rd->tcp_port);
            else
                for (size_t i = 0; i < s->nports; i++)
                    if (s->ports[i] == rd->tcp_port && sr->host_ports)
                        ok = tcp_ready(sr->host_ports[i]);
        } else if (rd->kind == CLN_READY_HTTP) {
            /* as for tcp: the service's own address where this host can
             * reach it; a published port's holder (conmon) can accept and
             * never answer.  Each attempt is capped, so that one request
             * that hangs never uses the whole deadline. */
            uint16_t hp = 0;
            for (size_t i = 0; i < s->nports && sr->host_ports; i++)
                if (s->ports[i] == rd->http_port)
                    hp = sr->host_ports[i];
            uint64_t t = left > 1000 ? left : 1000;
            uint64_t budget = remaining(c, t > READY_ATTEMPT_MS ? READY_ATTEMPT_MS : t);
            if (sr->route_ip)
                ok = http_ready_host(rd, sr->route_ip, rd->http_port, budget, &why);
            else if (hp)
                ok = http_ready_host(rd, "127.0.0.1", hp, budget, &why);
            else
                ok = http_ready_inside(c, sr, budget, &why);
        }
        cln_error_free(e); /* a failed probe is "not ready yet" */
        if (ok) {
            sr->ready_ms = now_ms() - started;
            rc = 0;
            break;
        }
        const char *gone = cln_runtime_gone(rt);
        if (gone) {
            sr->error = cln_xasprintf("service %s: %s", s->name, gone);
            break;
        }
        /* not ready: is it still running at all? */
        struct cln_container_state st;
        e = NULL;
        if (cln_rt_inspect(rt, sr->container_id, &st, &e) == 0) {
            bool running = st.running;
            int code = st.exit_code;
            cln_container_state_done(&st);
            if (!running) {
                sr->error =
                    cln_xasprintf("service %s exited (code %d) before it was ready", s->name, code);
                break;
            }
        }
        cln_error_free(e);
        uint64_t now = now_ms();
        if (now >= until) {
            char d[32], lim[32];
            cln_duration_format(now - started, d, sizeof(d));
            cln_duration_format_limit(rd->timeout_ms, lim, sizeof(lim));
            sr->error = deadline_passed(c) && c->deadline < started + rd->timeout_ms
                            ? cln_xasprintf("service %s not ready after %s: %s reached%s%s",
                                            s->name, d, c->limit, why ? "; " : "", why ? why : "")
                            : cln_xasprintf("service %s not ready after %s (ready.timeout %s)%s%s",
                                            s->name, d, lim, why ? "; " : "", why ? why : "");
            break;
        }
        pause_ms(c, rd->interval_ms < until - now ? rd->interval_ms : until - now);
    }
    free(why);
    cln_container_state_done(&hst);
    return rc;
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

/* Where a container goes: the network to create it on, and whether it
 * then joins the internal test network too. */
struct placement {
    const char *network; /* for create; NULL: the runtime's default */
    bool join_internal;  /* connect to the test network after create */
    enum cln_net_mode mode;
    const char *reason; /* static */
};

static int place(struct test_ctx *c, const struct cln_spec_privs *p, bool wants_net, bool ports,
                 struct placement *ret, char **msg)
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
        const char *routed = routed_network(c, msg);
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

static void *start_service(void *ud)
{
    struct svc_job *j = ud;
    struct test_ctx *c = j->c;
    enter_limit(c);
    struct cln_service_result *sr = &c->r->services[j->idx];
    const struct cln_spec_service *s = sr->service;
    struct cln_runtime *rt = c->run->rt;
    struct cln_error *e = NULL;
    char **env = NULL, **hosts = NULL;
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
    char *id = NULL, *cname = NULL;
    uint64_t started = 0;
    bool has_keepalive = false;
    struct cln_container_state st;
    memset(&st, 0, sizeof(st));
    j->rc = -1;
    struct placement pl;
    memset(&pl, 0, sizeof(pl));
    struct cln_container_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    if (place(c, &s->privs, true, s->nports > 0, &pl, &sr->error) < 0)
        goto out;
    if (c->r->network && !c->resolves && pl.mode != CLN_NET_HOST)
        hosts = hosts_vector(c, &c->svc_hosts_known[j->idx]);
    cname = container_name(c, s->name);
    cfg = (struct cln_container_config){
        .name = cname,
        .image = s->image,
        .cmd = s->has_command ? (const char *const *)s->command.v : NULL,
        .entrypoint = s->has_entrypoint ? (const char *const *)s->entrypoint.v : NULL,
        .env = (const char *const *)env,
        .labels = &labels,
        .ports = ports,
        .nports = pl.mode == CLN_NET_HOST ? 0 : s->nports, /* host: the ports are the host's */
        .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
        .nano_cpus = s->nano_cpus,
        .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS,
        .network = pl.network,
        .network_aliases = pl.mode == CLN_NET_INTERNAL ? aliases : NULL,
        .no_new_privileges = true,
        .privileged = s->privs.privileged,
        .pid_host = s->privs.host_pid,
        .mounts = mounts,
        .nmounts = s->privs.nmounts,
        .extra_hosts = (const char *const *)hosts,
    };
    if (cln_rt_create(rt, &cfg, &id, &e) < 0) {
        sr->error = render_with(e, "service %s", s->name);
        goto out;
    }
    track(c, id);
    sr->container_id = id;
    if (pl.join_internal && cln_network_connect(rt, c->r->network, id, aliases, &e) < 0) {
        sr->error = render_with(e, "service %s: join the test network", s->name);
        goto out;
    }
    /* the spec's files and the keepalive busybox (readiness over http
     * inside it, the canary, /etc/hosts), in one copy before it starts */
    pthread_once(&keepalive_once, load_keepalive);
    has_keepalive = keepalive.len > 0;
    if (s->nfiles || has_keepalive) {
        struct cln_file *files = cln_xcalloc(s->nfiles + 1, sizeof(*files));
        size_t nf = 0;
        for (size_t i = 0; i < s->nfiles; i++)
            files[nf++] = (struct cln_file){.path = s->files[i].path,
                                            .data = s->files[i].data,
                                            .len = s->files[i].len,
                                            .mode = s->files[i].mode};
        if (has_keepalive)
            files[nf++] = (struct cln_file){.path = KEEPALIVE_BIN + 1,
                                            .data = keepalive.data,
                                            .len = keepalive.len,
                                            .mode = 0755};
        int r = cln_rt_copy_in(rt, id, "/", files, nf, &e);
        free(files);
        if (r < 0) {
            sr->error = render_with(e, "service %s: files", s->name);
            goto out;
        }
    }
    started = now_ms();
    if (cln_rt_start(rt, id, &e) < 0) {
        sr->error = render_with(e, "service %s", s->name);
        goto out;
    }
    if (cln_rt_inspect(rt, id, &st, &e) < 0) {
        sr->error = render_with(e, "service %s", s->name);
        goto out;
    }
    sr->image_id = st.image_id ? cln_xstrdup(st.image_id) : NULL;
    if (c->r->network && !c->resolves) {
        const char *ip = cln_container_state_ip(&st, c->r->network);
        if (ip)
            add_hosts(c, j->idx, ip);
    }
    struct cln_image_info ii;
    if (cln_rt_image_inspect(rt, s->image, &ii, &e) == 1) {
        sr->image_digest = ii.digest ? cln_xstrdup(ii.digest) : NULL;
        cln_image_info_done(&ii);
    }
    cln_error_free(e); /* the digest is a courtesy to the reader */
    e = NULL;
    if (c->routed && cln_runtime_local(rt)) {
        const char *ip = cln_container_state_ip(&st, c->routed);
        sr->route_ip = ip ? cln_xstrdup(ip) : NULL;
    }
    sr->host_ports = cln_xcalloc(s->nports ? s->nports : 1, sizeof(uint16_t));
    for (size_t i = 0; i < s->nports; i++)
        for (size_t k = 0; k < st.nports; k++)
            if (st.ports[k].container_port == s->ports[i])
                sr->host_ports[i] = st.ports[k].host_port;
    for (size_t i = 0; i < s->nports && pl.mode == CLN_NET_HOST; i++)
        sr->host_ports[i] = s->ports[i];
    cln_container_state_done(&st);
    if (await_ready(c, sr, started) == 0) {
        j->rc = 0;
        observe_container(rt, id, has_keepalive, &s->privs, pl.mode, pl.reason, &sr->evidence);
        sr->observed = true;
    }
out:
    if (j->rc < 0)
        keep_log_tail(c, sr);
    if (j->rc < 0 && !sr->error)
        sr->error = cln_xasprintf("service %s: interrupted", s->name);
    free_vector(env);
    free_vector(hosts);
    free(ports);
    free(aliases);
    free(mounts);
    free(cname);
    cln_labels_done(&labels);
    cln_deadline_set(0, NULL);
    return NULL;
}

/* Services of one level start together, at most this many at a time. */
#define SERVICE_WORKERS 16

struct level_queue {
    struct svc_job *jobs;
    size_t n, next;
    pthread_mutex_t lock;
};

static void *level_worker(void *ud)
{
    struct level_queue *q = ud;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        size_t i = q->next < q->n ? q->next++ : q->n;
        pthread_mutex_unlock(&q->lock);
        if (i >= q->n)
            return NULL;
        start_service(&q->jobs[i]);
    }
}

/* On a network where the engine resolves no names, each service was
 * created knowing the services started before it; now that all are up,
 * tell each the rest (its /etc/hosts, through the keepalive busybox). */
static int complete_hosts(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    for (size_t i = 0; i < c->r->nservices; i++) {
        struct cln_service_result *sr = &c->r->services[i];
        if (!sr->container_id || !sr->observed || sr->evidence.net_mode == CLN_NET_HOST)
            continue;
        struct cln_buf lines = CLN_BUF_INIT;
        for (size_t k = c->svc_hosts_known[i]; k < c->nhosts; k++)
            if (c->hosts[k].service != i)
                cln_buf_printf(&lines, "%s\t%s\n", c->hosts[k].ip, c->hosts[k].name);
        if (!lines.len) {
            cln_buf_done(&lines);
            continue;
        }
        const char *argv[] = {KEEPALIVE_BIN,    "sh",       "-c", "printf %s \"$1\" >> /etc/hosts",
                              "cleanrun-hosts", lines.data, NULL};
        struct cln_exec_config ec = {
            .argv = argv, .user = "0", .timeout_ms = 10000, .output_cap = 4096};
        struct cln_exec_result er;
        struct cln_error *e = NULL;
        int r = cln_rt_exec(rt, sr->container_id, &ec, &er, &e);
        cln_buf_done(&lines);
        if (r < 0) {
            fail_test(c->r, CLN_ST_ERROR,
                      render_with(e, "service %s: write the test's host names", sr->service->name));
            return -1;
        }
        bool ok = er.status == CLN_EXEC_EXITED && er.exit_code == 0;
        if (!ok)
            fail_test(c->r, CLN_ST_ERROR,
                      cln_xasprintf("service %s: writing the test's host names to /etc/hosts "
                                    "failed (exit %d): %.*s",
                                    sr->service->name, er.exit_code,
                                    (int)(er.err.data.len > 200 ? 200 : er.err.data.len),
                                    er.err.data.data ? er.err.data.data : ""));
        cln_exec_result_done(&er);
        if (!ok)
            return -1;
    }
    return 0;
}

static int start_services(struct test_ctx *c)
{
    const struct cln_spec_test *t = c->t;
    for (int level = 0; level <= t->max_level; level++) {
        if (interrupted(c)) {
            fail_test(c->r, CLN_ST_ERROR, cln_xstrdup("interrupted"));
            return -1;
        }
        struct level_queue q = {
            .jobs = cln_xcalloc(t->nservices ? t->nservices : 1, sizeof(struct svc_job))};
        pthread_mutex_init(&q.lock, NULL);
        for (size_t i = 0; i < t->nservices; i++)
            if (t->services[i].level == level)
                q.jobs[q.n++] = (struct svc_job){.c = c, .idx = i};
        /* this thread is one of the workers */
        size_t helpers = q.n > SERVICE_WORKERS ? SERVICE_WORKERS - 1 : q.n ? q.n - 1 : 0;
        size_t started = 0;
        pthread_t th[SERVICE_WORKERS];
        while (started < helpers && pthread_create(&th[started], NULL, level_worker, &q) == 0)
            started++;
        level_worker(&q); /* this thread works too */
        for (size_t i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        enter_limit(c); /* start_service cleared this thread's limit */
        pthread_mutex_destroy(&q.lock);
        int rc = 0;
        for (size_t i = 0; i < q.n && rc == 0; i++)
            if (q.jobs[i].rc < 0) {
                struct cln_service_result *sr = &c->r->services[q.jobs[i].idx];
                fail_test(c->r, CLN_ST_ERROR, cln_xstrdup(sr->error));
                rc = -1;
            }
        free(q.jobs);
        if (rc < 0)
            return -1;
    }
    if (c->r->network && !c->resolves && c->nhosts)
        return complete_hosts(c);
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

static void attempt_error(struct cln_attempt *a, char *msg)
{
    if (!a->error)
        a->error = msg;
    else
        free(msg);
}

/* What each path of the expectations is, by lstat(2) inside the container
 * (one exec of the keepalive busybox for all of them): the same answer on
 * every engine, which their archive APIs do not give (Podman's follows
 * symlinks and reports owners it did not record). */
struct file_stat {
    bool exists;
    enum cln_file_type type;
    unsigned mode, uid, gid;
    char user[64], group[64];
};

static int stat_files(struct test_ctx *c, const char *id, const struct cln_spec_expect *x,
                      struct file_stat *ret, struct cln_attempt *a)
{
    struct cln_runtime *rt = c->run->rt;
    const char **argv = cln_xcalloc(x->nfiles + 6, sizeof(char *));
    size_t n = 0;
    argv[n++] = KEEPALIVE_BIN;
    argv[n++] = "sh";
    argv[n++] = "-c";
    argv[n++] = "for p; do /.cleanrun/busybox stat -c '%f %a %u %g %U %G' -- \"$p\" "
                "2>/dev/null || echo missing; done";
    argv[n++] = "cleanrun-stat";
    for (size_t i = 0; i < x->nfiles; i++)
        argv[n++] = x->files[i].path;
    struct cln_exec_config ec = {
        .argv = argv, .user = "0", .timeout_ms = remaining(c, 10000), .output_cap = 1 << 16};
    struct cln_exec_result er;
    struct cln_error *e = NULL;
    int r = cln_rt_exec(rt, id, &ec, &er, &e);
    free(argv);
    if (r < 0) {
        attempt_error(a, render_with(e, "expect.files: look at the files"));
        return -1;
    }
    const char *p = er.out.data.data ? er.out.data.data : "";
    size_t i = 0;
    for (; i < x->nfiles && *p; i++) {
        struct file_stat *fs = &ret[i];
        memset(fs, 0, sizeof(*fs));
        unsigned rawmode = 0;
        char u[64], g[64];
        if (strncmp(p, "missing", 7) != 0 && sscanf(p, "%x %o %u %u %63s %63s", &rawmode, &fs->mode,
                                                    &fs->uid, &fs->gid, u, g) == 6) {
            fs->exists = true;
            unsigned fmt = rawmode & 0170000;
            fs->type = fmt == 0100000   ? CLN_FILE_REGULAR
                       : fmt == 0040000 ? CLN_FILE_DIRECTORY
                       : fmt == 0120000 ? CLN_FILE_SYMLINK
                                        : CLN_FILE_OTHER;
            snprintf(fs->user, sizeof(fs->user), "%s", strcmp(u, "UNKNOWN") ? u : "");
            snprintf(fs->group, sizeof(fs->group), "%s", strcmp(g, "UNKNOWN") ? g : "");
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    bool ok = er.status == CLN_EXEC_EXITED && er.exit_code == 0 && i == x->nfiles;
    if (!ok)
        attempt_error(a, cln_xasprintf("expect.files: looking at the files failed (exit %d): %.*s",
                                       er.exit_code,
                                       (int)(er.err.data.len > 200 ? 200 : er.err.data.len),
                                       er.err.data.data ? er.err.data.data : ""));
    cln_exec_result_done(&er);
    return ok ? 0 : -1;
}

/* Does an owner or group expectation (a name, or a number) hold? */
static bool id_matches(const char *want, unsigned num, const char *name)
{
    char *end = NULL;
    unsigned long v = strtoul(want, &end, 10);
    if (*want && end && !*end)
        return v == num;
    return name[0] && strcmp(want, name) == 0;
}

/* The content of path: a symlink's target's, as cat(1) would read it
 * (Docker's archive gives the link itself; Podman's follows it). */
static int read_content(struct cln_runtime *rt, const char *id, const char *path,
                        struct cln_capture *ret, bool *ret_found, struct cln_error **err)
{
    cleanup_free char *cur = cln_xstrdup(path);
    for (int hop = 0; hop < 16; hop++) {
        struct cln_file_info info;
        struct cln_capture content;
        bool found = false;
        if (cln_rt_copy_out(rt, id, cur, 0, &info, &content, &found, err) < 0)
            return -1;
        if (!found || info.type != CLN_FILE_SYMLINK || !info.link_target) {
            *ret_found = found && info.type == CLN_FILE_REGULAR;
            if (*ret_found)
                *ret = content;
            else if (found)
                cln_capture_done(&content);
            if (found)
                cln_file_info_done(&info);
            return 0;
        }
        char *next;
        if (info.link_target[0] == '/') {
            next = cln_xstrdup(info.link_target);
        } else {
            const char *slash = strrchr(cur, '/');
            next = cln_xasprintf("%.*s/%s", (int)(slash ? slash - cur : 0), cur, info.link_target);
        }
        cln_file_info_done(&info);
        cln_capture_done(&content);
        free(cur);
        cur = next;
    }
    return cln_error_set(err, CLN_E_INVALID, 0, "%s: too many levels of symbolic links", path);
}

static void check_files(struct test_ctx *c, const char *id, const struct cln_spec_expect *x,
                        struct cln_attempt *a)
{
    struct cln_runtime *rt = c->run->rt;
    struct file_stat *st = cln_xcalloc(x->nfiles, sizeof(*st));
    if (stat_files(c, id, x, st, a) < 0) {
        free(st);
        return;
    }
    for (size_t i = 0; i < x->nfiles; i++) {
        const struct cln_file_expect *f = &x->files[i];
        const struct file_stat *fs = &st[i];
        char what[300], act[64];
        if (!fs->exists) {
            if (f->exists != 0) {
                snprintf(what, sizeof(what), "file %s exists", f->path);
                cln_attempt_add_failure(a, what, "exists", "absent", NULL);
            }
            continue;
        }
        if (f->exists == 0) {
            snprintf(what, sizeof(what), "file %s is absent", f->path);
            snprintf(act, sizeof(act), "exists (%s)", cln_file_type_name(fs->type));
            cln_attempt_add_failure(a, what, "absent", act, NULL);
            continue;
        }
        if (f->type >= 0 && fs->type != (enum cln_file_type)f->type) {
            snprintf(what, sizeof(what), "file %s type", f->path);
            cln_attempt_add_failure(a, what, cln_file_type_name((enum cln_file_type)f->type),
                                    cln_file_type_name(fs->type), NULL);
        }
        if (f->mode >= 0 && fs->mode != (unsigned)f->mode) {
            char exp[16];
            snprintf(what, sizeof(what), "file %s mode", f->path);
            snprintf(exp, sizeof(exp), "0%o", (unsigned)f->mode);
            snprintf(act, sizeof(act), "0%o", fs->mode);
            cln_attempt_add_failure(a, what, exp, act, NULL);
        }
        if (f->owner && !id_matches(f->owner, fs->uid, fs->user)) {
            snprintf(what, sizeof(what), "file %s owner", f->path);
            snprintf(act, sizeof(act), "%s (uid %u)", fs->user[0] ? fs->user : "?", fs->uid);
            cln_attempt_add_failure(a, what, f->owner, act, NULL);
        }
        if (f->group && !id_matches(f->group, fs->gid, fs->group)) {
            snprintf(what, sizeof(what), "file %s group", f->path);
            snprintf(act, sizeof(act), "%s (gid %u)", fs->group[0] ? fs->group : "?", fs->gid);
            cln_attempt_add_failure(a, what, f->group, act, NULL);
        }
        if (!f->equals && !f->regex)
            continue;
        struct cln_capture content;
        memset(&content, 0, sizeof(content));
        bool found = false;
        struct cln_error *e = NULL;
        if (read_content(rt, id, f->path, &content, &found, &e) < 0) {
            attempt_error(a, render(e));
            continue;
        }
        if (!found) {
            snprintf(what, sizeof(what), "file %s is a regular file", f->path);
            cln_attempt_add_failure(a, what, "a regular file (for its content)",
                                    cln_file_type_name(fs->type), NULL);
            continue;
        }
        snprintf(what, sizeof(what), "file %s", f->path);
        cln_check_content(what, f->equals, f->equals_len, f->regex, &content, a);
        cln_capture_done(&content);
    }
    free(st);
}

/* A fresh container for an ephemeral step, kept alive by the keepalive
 * binary; returns its id or NULL with *msg set. */
static char *fresh_container(struct test_ctx *c, const struct cln_spec_step *s, size_t si,
                             char **msg, struct cln_evidence *ev, bool *observed)
{
    struct cln_runtime *rt = c->run->rt;
    pthread_once(&keepalive_once, load_keepalive);
    if (!keepalive.len) {
        *msg = cln_xstrdup("cannot read /bin/busybox (busybox-static), which keeps fresh "
                           "containers alive for their step");
        return NULL;
    }
    struct placement pl;
    if (place(c, &s->privs, s->network, false, &pl, msg) < 0)
        return NULL;
    static const char *const entry[] = {KEEPALIVE_BIN, "sleep", "2147483647", NULL};
    static const char *const empty[] = {NULL};
    struct cln_labels labels = {0};
    for (size_t i = 0; i < c->labels.len; i++)
        cln_labels_set(&labels, c->labels.items[i].key, c->labels.items[i].value);
    cln_labels_set(&labels, "io.cleanrun.step", s->name);
    struct cln_mount *mounts = host_mounts(&s->privs);
    char **hosts =
        pl.mode != CLN_NET_NONE && pl.mode != CLN_NET_HOST && c->r->network && !c->resolves
            ? hosts_vector(c, NULL)
            : NULL;
    char what[32];
    snprintf(what, sizeof(what), "step%zu", si + 1);
    cleanup_free char *cname = container_name(c, what);
    struct cln_container_config cfg = {
        .name = cname,
        .image = s->image,
        .entrypoint = entry,
        .cmd = empty,
        .labels = &labels,
        .network = pl.network,
        .no_new_privileges = true,
        .init = false,
        .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
        .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS,
        .privileged = s->privs.privileged,
        .pid_host = s->privs.host_pid,
        .mounts = mounts,
        .nmounts = s->privs.nmounts,
        .extra_hosts = (const char *const *)hosts,
    };
    char *id = NULL;
    struct cln_error *e = NULL;
    int r = cln_rt_create(rt, &cfg, &id, &e);
    cln_labels_done(&labels);
    free(mounts);
    free_vector(hosts);
    if (r < 0) {
        *msg = render(e);
        return NULL;
    }
    track(c, id);
    if (pl.join_internal && s->network &&
        cln_network_connect(rt, c->r->network, id, NULL, &e) < 0) {
        *msg = render_with(e, "join the test network");
        return id;
    }
    struct cln_file f = {
        .path = KEEPALIVE_BIN + 1, .data = keepalive.data, .len = keepalive.len, .mode = 0755};
    if (cln_rt_copy_in(rt, id, "/", &f, 1, &e) < 0 ||
        cln_rt_start(rt, id, &e) < 0) {
        *msg = render(e);
        return id; /* tracked: teardown removes it */
    }
    observe_container(rt, id, true, &s->privs, pl.mode, pl.reason, ev);
    *observed = true;
    return id;
}

/* stdin for a step: the engine's exec has no stdin here, so the text is
 * copied into the container and the step runs as
 *   /.cleanrun/busybox sh -c 'exec "$@" < FILE' cleanrun-stdin ARGV...
 * The shell execs the step's own argv, unchanged, with FILE as its stdin.
 * *ret_argv gets the wrapped argv; the step's own stays in the result. */
static int stdin_wrap(struct test_ctx *c, const struct cln_spec_step *s, size_t si, const char *id,
                      const struct cln_strv *argv, struct cln_strv *ret_argv, char **msg)
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
    if (cln_rt_copy_in(rt, id, "/", files, 2, &e) < 0) {
        *msg = render_with(e, "stdin");
        return -1;
    }
    struct cln_strv v = {0};
    char *script = cln_xasprintf("exec \"$@\" < %s", name);
    const char *head[] = {KEEPALIVE_BIN, "sh", "-c", script, "cleanrun-stdin"};
    v.v = cln_xcalloc(argv->n + 6, sizeof(char *));
    for (size_t i = 0; i < 5; i++)
        v.v[v.n++] = cln_xstrdup(head[i]);
    for (size_t i = 0; i < argv->n; i++)
        v.v[v.n++] = cln_xstrdup(argv->v[i]);
    free(script);
    *ret_argv = v;
    return 0;
}

/* An exec into a service failed: when the service is no longer running,
 * that is what to say (not the engine's "container is not running"), with
 * its exit code and, in its result, its last log lines. */
static char *service_gone(struct test_ctx *c, const char *name, struct cln_error *e)
{
    struct cln_service_result *sr = (struct cln_service_result *)find_service(c, name);
    struct cln_container_state st;
    struct cln_error *ie = NULL;
    if (!sr || !sr->container_id ||
        cln_rt_inspect(c->run->rt, sr->container_id, &st, &ie) < 0) {
        cln_error_free(ie);
        return render(e);
    }
    bool running = st.running;
    int code = st.exit_code;
    bool oom = st.oom_killed;
    cln_container_state_done(&st);
    if (running)
        return render(e);
    cln_error_free(e);
    keep_log_tail(c, sr);
    return cln_xasprintf("service %s exited with code %d%s (its last log lines are below)", name,
                         code, oom ? ", killed by the OOM killer" : "");
}

static void step_error(struct cln_step_result *sr, char *msg)
{
    sr->attempts = cln_xcalloc(1, sizeof(*sr->attempts));
    sr->nattempts = 1;
    sr->attempts[0].status = CLN_ST_ERROR;
    sr->attempts[0].error = msg;
    sr->status = CLN_ST_ERROR;
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
    struct cln_strv wrapped = {0};
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
        fresh = fresh_container(c, s, si, &msg, &base, &observed);
        id = fresh;
        if (msg) {
            step_error(sr, msg);
            goto out;
        }
    }
    sr->container_id = id ? cln_xstrdup(id) : NULL;
    env_vector(c, &s->env, &env);
    if (s->stdin_text && stdin_wrap(c, s, si, id, &sr->argv, &wrapped, &msg) < 0) {
        step_error(sr, msg);
        goto out;
    }
    for (int attempt = 0; attempt <= s->retries; attempt++) {
        if (attempt) {
            if (interrupted(c) || deadline_passed(c))
                break;
            pause_ms(c, remaining(c, s->retry_interval_ms));
        }
        sr->attempts = cln_xrealloc(sr->attempts, (sr->nattempts + 1) * sizeof(*sr->attempts));
        struct cln_attempt *a = &sr->attempts[sr->nattempts++];
        memset(a, 0, sizeof(*a));
        uint64_t to = remaining(c, s->timeout_ms);
        struct cln_exec_config ec = {
            .argv = (const char *const *)(wrapped.n ? wrapped.v : sr->argv.v),
            .env = (const char *const *)env,
            .workdir = s->workdir,
            .user = s->user,
            .timeout_ms = to,
            .on_output = c->run->opts->events.step_output ? relay_output : NULL,
            .userdata = &relay,
        };
        struct cln_exec_result er;
        struct cln_error *e = NULL;
        int64_t ooms = observed ? cln_cgroup_oom_kills(base.cgroup) : -1;
        if (cln_rt_exec(rt, id, &ec, &er, &e) < 0) {
            a->status = CLN_ST_ERROR;
            a->error = s->service ? service_gone(c, s->service, e) : render(e);
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
        a->kill_method = er.kill_method;
        if (a->timed_out) {
            char lim[32];
            a->limit =
                s->timeout_ms && to == s->timeout_ms
                    ? cln_xasprintf("the step's timeout (%s)",
                                    cln_duration_format_limit(s->timeout_ms, lim, sizeof(lim)))
                    : cln_xstrdup(c->limit[0] ? c->limit : "a limit");
        }
        memset(&er.out, 0, sizeof(er.out));
        memset(&er.err, 0, sizeof(er.err));
        bool was_interrupted = er.interrupted;
        cln_exec_result_done(&er);
        if (ec.on_output) { /* the end of the step's output: its last partial lines */
            relay_output(1, NULL, 0, &relay);
            relay_output(2, NULL, 0, &relay);
        }
        if (a->timed_out && (was_interrupted || interrupted(c))) {
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
    cln_strv_done(&wrapped);
    free_vector(env);
    /* --keep-on-failure keeps a failed step's container with the test's */
    bool keep = c->run->opts->keep_on_failure && sr->status != CLN_ST_PASSED;
    if (fresh && !keep)
        untrack_remove(c, fresh);
    free(fresh);
    sr->duration_ms = now_ms() - t0;
}

/* ---- one test ---- */

/* The worst verdict of what was observed: every step's, and every
 * service's (a service granted a host mount makes its test unverified
 * even when its steps ran in fresh containers). */
static void judge_test(struct cln_test_result *r)
{
    r->verdict = CLN_VERDICT_ISOLATED;
    for (size_t i = 0; i < r->nsteps; i++)
        if (r->steps[i].observed) {
            r->any_observed = true;
            if (r->steps[i].evidence.verdict > r->verdict)
                r->verdict = r->steps[i].evidence.verdict;
        }
    for (size_t i = 0; i < r->nservices; i++)
        if (r->services[i].observed) {
            r->any_observed = true;
            if (r->services[i].evidence.verdict > r->verdict)
                r->verdict = r->services[i].evidence.verdict;
        }
}

static void run_test(struct run *run, size_t idx)
{
    const struct cln_spec_test *t = &run->tests[idx];
    struct cln_test_result *r = &run->results[idx];
    struct test_ctx c = {.run = run, .index = idx, .t = t, .r = r};
    pthread_mutex_init(&c.lock, NULL);
    uint64_t t0 = now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    r->started_unix_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    r->test = t;
    r->status = CLN_ST_PASSED;
    set_limit(&c, t->timeout_ms ? t0 + t->timeout_ms : 0);
    enter_limit(&c);
    cln_runtime_labels(&c.labels, run->opts->run_id, run->opts->version, t->name);
    r->services = cln_xcalloc(t->nservices ? t->nservices : 1, sizeof(*r->services));
    r->nservices = t->nservices;
    c.svc_hosts_known = cln_xcalloc(t->nservices ? t->nservices : 1, sizeof(size_t));
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
        snprintf(name, sizeof(name), "cleanrun-%s-%zu-net", run->opts->run_id, idx);
        char *id = NULL;
        struct cln_error *e = NULL;
        if (cln_network_create(rt, name, &c.labels, true, &id, &c.resolves, &e) < 0) {
            fail_test(r, CLN_ST_ERROR, render_with(e, "test network"));
            goto done;
        }
        free(id);
        r->network = cln_xstrdup(name);
    } else {
        r->network_note = cln_xasprintf("runtime '%s' has no networks: services and steps are "
                                        "not on a private network",
                                        cln_runtime_name(rt));
    }
    if (ensure_images(&c) < 0 || start_services(&c) < 0)
        goto done;
    for (size_t i = 0; i < t->nsteps; i++) {
        const char *gone = cln_runtime_gone(rt);
        if (gone) {
            fail_test(r, CLN_ST_ERROR,
                      cln_xasprintf("%s: step \"%s\" and those after it did not run", gone,
                                    t->steps[i].name));
            break;
        }
        if (interrupted(&c)) {
            fail_test(r, CLN_ST_ERROR, cln_xstrdup("interrupted"));
            break;
        }
        if (deadline_passed(&c)) {
            fail_test(r, CLN_ST_TIMEOUT,
                      cln_xasprintf("%s reached before step \"%s\"", c.limit, t->steps[i].name));
            break;
        }
        run_step(&c, i);
        enum cln_status st = r->steps[i].status;
        if (st == CLN_ST_PASSED)
            continue;
        if (st == CLN_ST_TIMEOUT && deadline_passed(&c) && !t->steps[i].timeout_ms)
            fail_test(r, CLN_ST_TIMEOUT,
                      cln_xasprintf("%s reached in step \"%s\"", c.limit, t->steps[i].name));
        else if (r->status == CLN_ST_PASSED)
            r->status = st;
        if (!t->steps[i].continue_on_failure || st == CLN_ST_ERROR)
            break;
    }
done:
    judge_test(r);
    /* teardown is bounded by each request's own limits, not the test's */
    cln_deadline_set(0, NULL);
    bool failed = r->status != CLN_ST_PASSED && r->status != CLN_ST_SKIPPED;
    if (failed) /* what each service said, for whoever reads why */
        for (size_t i = 0; i < r->nservices; i++)
            keep_log_tail(&c, &r->services[i]);
    if (failed && run->opts->keep_on_failure && !interrupted(&c) && !cln_runtime_gone(rt)) {
        /* left running for inspection: listed, and removed by the next gc
         * (their owner, this run, is gone by then) */
        r->kept = c.containers;
        r->nkept = c.ncontainers;
        c.containers = NULL;
        c.ncontainers = 0;
        const char *nets[] = {c.routed, r->network};
        for (size_t i = 0; i < 2; i++)
            if (nets[i]) {
                r->kept_networks =
                    cln_xrealloc(r->kept_networks, (r->nkept_networks + 1) * sizeof(char *));
                r->kept_networks[r->nkept_networks++] = cln_xstrdup(nets[i]);
            }
    } else {
        teardown(&c);
    }
    if (r->nteardown_errors && r->status == CLN_ST_PASSED) {
        r->status = CLN_ST_ERROR;
        r->error = cln_xstrdup("teardown failed");
    }
    cln_labels_done(&c.labels);
    for (size_t i = 0; i < c.nhosts; i++) {
        free(c.hosts[i].name);
        free(c.hosts[i].ip);
    }
    free(c.hosts);
    free(c.svc_hosts_known);
    free(c.routed);
    pthread_mutex_destroy(&c.lock);
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
        const char *gone = cln_runtime_gone(run->rt);
        if (run->stop || gone) {
            struct cln_test_result *r = &run->results[idx];
            r->test = &run->tests[idx];
            r->status = run->stop ? CLN_ST_SKIPPED : CLN_ST_ERROR;
            if (!run->stop)
                r->error = cln_xasprintf("not started: %s", gone);
            if (run->opts->events.test_finished)
                run->opts->events.test_finished(idx, r, run->opts->events.userdata);
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
    free(a->limit);
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
        free(r->services[i].route_ip);
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
    cln_strv_free(r->kept, r->nkept);
    cln_strv_free(r->kept_networks, r->nkept_networks);
    memset(r, 0, sizeof(*r));
}
