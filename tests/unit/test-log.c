/* Unit tests: what the Docker backend says through the log sink (against
 * an engine faked on a unix socket here, and against none), and its timing
 * rules that need no engine (the exec exit-code poll). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/log.h"
#include "runtime/docker/docker-internal.h"
#include "runtime/docker/http.h"
#include "runtime/runtime.h"

/* ---- a test sink ---- */

#define MAX_LINES 64

struct sink {
    pthread_mutex_t lock; /* the watchdog thread may log too */
    int n;
    enum cln_log_level level[MAX_LINES];
    char line[MAX_LINES][512];
};

static void collect(enum cln_log_level level, const char *msg, void *ud)
{
    struct sink *s = ud;
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_LINES) {
        s->level[s->n] = level;
        snprintf(s->line[s->n], sizeof(s->line[0]), "%s", msg);
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

/* The first line at this level containing every one of the words, or -1. */
static int find(struct sink *s, enum cln_log_level level, const char *a, const char *b)
{
    for (int i = 0; i < s->n; i++)
        if (s->level[i] == level && strstr(s->line[i], a) && (!b || strstr(s->line[i], b)))
            return i;
    return -1;
}

static void dump(const struct sink *s)
{
    for (int i = 0; i < s->n; i++)
        cr_log_info("[%s] %s", cln_log_level_name(s->level[i]), s->line[i]);
}

/* ---- a fake engine: answers every request with the same 200 ---- */

struct engine {
    char path[108];
    int delay_ms; /* listen only after this long: connections are refused until then */
    int max;      /* requests to answer */
    const char *body;
};

static void *serve(void *ud)
{
    struct engine *e = ud;
    usleep((useconds_t)e->delay_ms * 1000);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", e->path);
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(l, 8), 0);
    for (int i = 0; i < e->max; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            break;
        char req[4096];
        ssize_t got = read(c, req, sizeof(req));
        (void)got;
        char resp[1024];
        int len = snprintf(resp, sizeof(resp),
                           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                           strlen(e->body), e->body);
        ssize_t sent = send(c, resp, (size_t)len, MSG_NOSIGNAL);
        (void)sent;
        close(c);
    }
    close(l);
    return NULL;
}

/* Start e on /tmp/cleanrun-log-NAME-PID.sock; its endpoint into ep. */
static pthread_t start_engine(struct engine *e, const char *name, char *ep, size_t ep_size)
{
    snprintf(e->path, sizeof(e->path), "/tmp/cleanrun-log-%s-%d.sock", name, getpid());
    unlink(e->path);
    snprintf(ep, ep_size, "unix://%s", e->path);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, serve, e), 0);
    return t;
}

static const char version_body[] =
    "{\"Version\":\"20.10.24\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\","
    "\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"0.0-test\"}";

Test(log, the_backend_says_each_request_and_its_api_version, .timeout = 20)
{
    struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cln_log_set_sink(collect, &s, CLN_LOG_DEBUG);
    struct engine e = {.max = 2, .body = version_body};
    char ep[128];
    pthread_t t = start_engine(&e, "open", ep, sizeof(ep));
    for (int i = 0; i < 200 && access(e.path, F_OK) < 0; i++)
        usleep(10000);

    struct cln_runtime *rt = NULL;
    cleanup_error struct cln_error *err = NULL;
    int r = cln_docker_desc.open(ep, &rt, &err);
    cr_assert_eq(r, 0, "open: %s", err ? err->msg : "");
    cr_assert_eq(cln_rt_ping(rt, &err), 0);
    cln_runtime_close(rt);
    pthread_join(t, NULL);
    unlink(e.path);
    cln_log_set_sink(NULL, NULL, CLN_LOG_ERROR);
    dump(&s);

    cr_assert_geq(find(&s, CLN_LOG_DEBUG, "docker: GET /version: 200 in ", " ms"), 0,
                  "each request at DEBUG: method, path, status, duration");
    cr_assert_geq(find(&s, CLN_LOG_DEBUG, "GET /_ping: 200 in ", NULL), 0);
    cr_assert_geq(find(&s, CLN_LOG_INFO, "Docker Engine 20.10.24 at unix://", "API 1.41"), 0,
                  "the API version picked at open, at INFO");
    cr_assert_lt(find(&s, CLN_LOG_INFO, "retry", NULL), 0, "no retry here");
}

Test(log, the_backend_says_retries_and_the_engine_gone, .timeout = 30)
{
    struct sink s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cln_log_set_sink(collect, &s, CLN_LOG_INFO);

    /* An engine that comes up 300 ms late: connections refused, retried. */
    struct engine e = {.delay_ms = 300, .max = 1, .body = "OK"};
    char ep[128];
    pthread_t t = start_engine(&e, "late", ep, sizeof(ep));
    struct cln_http_config cfg = {.endpoint = ep, .backend = "docker", .no_watchdog = true};
    struct cln_http *h = NULL;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_http_new(&cfg, &h, &err), 0);
    struct cln_http_request req = {.method = "GET", .path = "/_ping", .raw_path = true};
    struct cln_http_response resp;
    cr_assert_eq(cln_http_do(h, &req, &resp, &err), 0);
    cln_http_response_done(&resp);
    pthread_join(t, NULL);
    unlink(e.path);
    int retry =
        find(&s, CLN_LOG_INFO, "docker: GET /_ping: connect: ", "connecting again in 50 ms");
    int answered = find(&s, CLN_LOG_INFO, "GET /_ping: answered at attempt ", NULL);
    cr_assert_geq(retry, 0, "a retry at INFO");
    cr_assert_gt(answered, retry, "then the answer, at INFO");
    cr_assert_lt(find(&s, CLN_LOG_DEBUG, "GET", NULL), 0, "DEBUG is above the sink's level");

    /* Now it is gone for good: every retry refused, then the engine is
     * marked gone, at WARN, and later requests are not sent. */
    cr_assert_lt(cln_http_do(h, &req, &resp, &err), 0);
    cr_assert_eq(err->code, CLN_E_TRANSPORT);
    cln_error_free(err);
    err = NULL;
    int gone = find(&s, CLN_LOG_WARN, "stopped answering", e.path);
    cr_assert_geq(gone, 0, "the engine gone, at WARN");
    int n = s.n;
    cr_assert_lt(cln_http_do(h, &req, &resp, &err), 0);
    cr_assert_eq(s.n, n, "nothing more at INFO: the request was not sent");
    cln_http_free(h);
    cln_log_set_sink(NULL, NULL, CLN_LOG_ERROR);
    dump(&s);
}

/* ---- the exec exit-code poll ---- */

Test(docker_exec, exit_code_poll_sleeps_2_s_in_all_and_not_after_the_last_inspect)
{
    uint64_t total = 0;
    unsigned n = 0, prev = 0;
    for (unsigned i = 0; i < 64; i++) {
        unsigned d = cln_docker_exit_poll_delay_us(i);
        if (!d) {
            /* once it says stop, it keeps saying so */
            for (unsigned j = i; j < 64; j++)
                cr_assert_eq(cln_docker_exit_poll_delay_us(j), 0, "attempt %u", j);
            break;
        }
        if (i == 0)
            cr_assert_eq(d, CLN_DOCKER_EXIT_POLL_FIRST_US);
        else
            cr_assert(d == 2 * prev || total + d == (uint64_t)CLN_DOCKER_EXIT_POLL_MS * 1000,
                      "attempt %u: %u us after %u us: doubles, or is the last and fits", i, d,
                      prev);
        total += d;
        prev = d;
        n++;
    }
    cr_assert_eq(total, (uint64_t)CLN_DOCKER_EXIT_POLL_MS * 1000, "%llu us",
                 (unsigned long long)total);
    cr_assert_eq(n, 12, "12 sleeps between 13 inspects, none after the last");
    cr_assert_eq(cln_docker_exit_poll_delay_us(11), 976500, "the last sleep is cut to fit");
}
