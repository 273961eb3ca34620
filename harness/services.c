/* Services: started a dependency level at a time, readiness awaited
 * (exec, log, tcp, http, the image's HEALTHCHECK), logs kept on failure. */
#include "runner-internal.h"
#include "expect.h"
#include "regex.h"
#include "text.h"

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
#include "runtime/base/os.h"
#include "runtime/base/xalloc.h"

/* ---- services ---- */

struct svc_job {
    struct test_ctx *c;
    size_t idx;
    int rc;
};

/* The last log lines of a service, kept in its result (once). */
void cln_runner_keep_log_tail(struct test_ctx *c, struct cln_service_result *sr)
{
    if (sr->log_tail || !sr->container_id || cln_runtime_gone(c->run->rt))
        return;
    struct cln_capture out, err;
    struct cln_error *le = NULL;
    if (cln_rt_logs(c->run->rt, sr->container_id, 20, 1 << 16, &out, &err, &le) == 0) {
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

/* A connection to a (1 s at most): the socket, or -1. */
static int tcp_connect(const struct sockaddr_in *a)
{
    int s = cln_os_socket(AF_INET, SOCK_STREAM, 0, true);
    if (s < 0)
        return -1;
    bool ok = connect(s, (const struct sockaddr *)a, sizeof(*a)) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = s, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof(err);
        ok = poll(&pfd, 1, 1000) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
             err == 0;
    }
    if (!ok) {
        close(s);
        return -1;
    }
    return s;
}

/* Does ip:port accept a connection?  A direct address: nothing but the
 * service itself can accept there (a port nobody listens on is reset). */
static int tcp_listening(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return 0;
    int s = tcp_connect(&a);
    if (s < 0)
        return 0;
    close(s);
    return 1;
}

static int tcp_ready(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = tcp_connect(&a);
    if (s < 0)
        return 0;
    /* A published port is accepted by the engine's proxy even before the
     * service listens; the proxy then closes at once.  So: connected, and
     * neither closed nor reset within 150 ms (or the server spoke first). */
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    int pr = poll(&pfd, 1, 150), ok = pr == 0;
    if (pr > 0) {
        char c;
        ok = recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
    }
    close(s);
    return ok;
}

/* Wait up to ms, or until the run is interrupted (the CLI's wake fd). */
void cln_runner_pause_ms(const struct test_ctx *c, uint64_t ms)
{
    int fd = c->run->opts->wake_fd;
    if (fd <= 0 || !c->run->opts->interrupted) {
        cln_runner_sleep_ms(ms);
        return;
    }
    uint64_t until = now_ms() + ms;
    while (!cln_runner_interrupted(c)) {
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
        *why = cln_runner_text(cln_runner_wrap(e, "GET %s", url));
        return 0;
    }
    /* the last status line wget printed ("  HTTP/1.1 200 OK") */
    long status = cln_text_http_status(er.err.data.data, er.err.data.len);
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
    /* ready.timeout counts from the start: what the engine took since
     * (inspecting the container and its image, slow under load) is part
     * of it, so that the time reported is the time the deadline was for */
    uint64_t until = started + rd->timeout_ms;
    uint64_t cap = now_ms() + cln_runner_remaining(c, rd->timeout_ms);
    if (cap < until)
        until = cap;
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
            sr->error = cln_runner_wrap(e, "service %s: read its image's HEALTHCHECK", s->name);
            return -1;
        }
        if (!hst.health_argv) {
            sr->error = cln_error_make(CLN_E_INVALID, 0,
                                       "service %s: ready.healthcheck, but its image (%s) "
                                       "has no HEALTHCHECK",
                                       s->name, s->image);
            cln_container_state_done(&hst);
            return -1;
        }
        probe = hst.health_argv;
        probe_cap = hst.health_timeout_ms;
    }
    for (;;) {
        if (cln_runner_interrupted(c))
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
                                         .timeout_ms = cln_runner_remaining(c, t),
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
            uint64_t budget = cln_runner_remaining(c, t > READY_ATTEMPT_MS ? READY_ATTEMPT_MS : t);
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
            sr->error = cln_error_make(CLN_E_TRANSPORT, 0, "service %s: %s", s->name, gone);
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
                /* its files, owners or hosts not put in place (a runtime
                 * that copies only into running containers): say why */
                struct cln_error *first = cln_runner_first_process_error(c, sr->container_id);
                sr->error = first ? cln_runner_wrap(first, "service %s", s->name)
                                  : cln_error_make(CLN_E_BACKEND, 0,
                                                   "service %s exited (code %d) before it was "
                                                   "ready",
                                                   s->name, code);
                break;
            }
        }
        cln_error_free(e);
        uint64_t now = now_ms();
        if (now >= until) {
            char d[32], lim[32];
            cln_duration_format(now - started, d, sizeof(d));
            cln_duration_format_limit(rd->timeout_ms, lim, sizeof(lim));
            sr->error = cln_runner_deadline_passed(c) && c->deadline < started + rd->timeout_ms
                            ? cln_error_make(CLN_E_TIMEOUT, 0,
                                             "service %s not ready after %s: %s reached%s%s",
                                             s->name, d, c->limit, why ? "; " : "", why ? why : "")
                            : cln_error_make(CLN_E_TIMEOUT, 0,
                                             "service %s not ready after %s (ready.timeout %s)%s%s",
                                             s->name, d, lim, why ? "; " : "", why ? why : "");
            break;
        }
        cln_runner_pause_ms(c, rd->interval_ms < until - now ? rd->interval_ms : until - now);
    }
    free(why);
    cln_container_state_done(&hst);
    return rc;
}

static void *start_service(void *ud)
{
    struct svc_job *j = ud;
    struct test_ctx *c = j->c;
    cln_runner_enter_limit(c);
    struct cln_service_result *sr = &c->r->services[j->idx];
    const struct cln_spec_service *s = sr->service;
    struct cln_runtime *rt = c->run->rt;
    struct cln_error *e = NULL;
    cleanup_strv struct cln_strv env = {0};
    cln_runner_env_vector(c, &s->env, &env);
    struct cln_port *ports = cln_xcalloc(s->nports ? s->nports : 1, sizeof(*ports));
    for (size_t i = 0; i < s->nports; i++)
        ports[i].container_port = s->ports[i];
    const char **aliases = cln_xcalloc(s->aliases.n + 2, sizeof(char *));
    aliases[0] = s->name;
    for (size_t i = 0; i < s->aliases.n; i++)
        aliases[i + 1] = s->aliases.v[i];
    char *id = NULL;
    uint64_t started = 0;
    /* the spec's files, and the keepalive busybox (readiness over http
     * inside it, the canary, /etc/hosts): the run's volume or a copy */
    const struct cln_buf *ka = cln_runner_keepalive();
    bool has_keepalive = ka->len > 0;
    const char **owners = NULL;
    struct cln_file *files = cln_runner_spec_files(s->files, s->nfiles, &owners);
    size_t nf = s->nfiles;
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "service %s", s->name);
    struct cln_container_state st;
    memset(&st, 0, sizeof(st));
    j->rc = -1;
    struct placement pl;
    memset(&pl, 0, sizeof(pl));
    /* on the test's network when it has one (or on the runtime's default
     * one, when it has no networks); a lone service, with none */
    bool on_net = c->r->network || !cln_runtime_supports(rt, CLN_FEATURE_NETWORK);
    int cr = cln_runner_place(c, &s->privs, on_net, s->nports > 0, &pl, &sr->error);
    if (cr == 0) {
        struct cln_runner_create req = {
            .what = s->name,
            .label = "io.cleanrun.service",
            .label_value = s->name,
            .privs = &s->privs,
            .pl = &pl,
            .cfg =
                {
                    .image = s->image,
                    .cmd = s->has_command ? (const char *const *)s->command.v : NULL,
                    .entrypoint = s->has_entrypoint ? (const char *const *)s->entrypoint.v : NULL,
                    .env = cln_strv_argv(&env),
                    .ports = ports,
                    /* host: the ports are the host's */
                    .nports = pl.mode == CLN_NET_HOST ? 0 : s->nports,
                    .memory_bytes = s->memory ? s->memory : CLN_DEFAULT_MEMORY,
                    .nano_cpus = s->nano_cpus,
                    .pids_limit = s->pids ? s->pids : CLN_DEFAULT_PIDS,
                    .network_aliases = pl.mode == CLN_NET_INTERNAL && c->resolves ? aliases : NULL,
                    .user = s->user,
                    .workdir = s->workdir,
                },
            .join = true,
            .aliases = aliases,
            .hosts_known = &c->svc_hosts_known[j->idx],
            .files = files,
            .nfiles = nf,
            .owners = owners,
            .data = &s->data,
            .keepalive = true,
            .prefix = prefix,
            .files_word = "files",
        };
        cr = cln_runner_create_container(c, &req, &id, &sr->error);
        sr->container_id = id;
    }
    if (cr < 0)
        goto out;
    started = now_ms();
    if (cln_rt_start(rt, id, &e) < 0) {
        sr->error = cln_runner_wrap(e, "service %s", s->name);
        goto out;
    }
    if (cln_rt_inspect(rt, id, &st, &e) < 0) {
        sr->error = cln_runner_wrap(e, "service %s", s->name);
        goto out;
    }
    sr->image_id = st.image_id ? cln_xstrdup(st.image_id) : NULL;
    if (c->r->network && !c->resolves) {
        const char *ip = cln_container_state_ip(&st, c->r->network);
        if (ip)
            cln_runner_add_hosts(c, j->idx, ip);
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
        /* the canary: written by the exec of the first step in it, where
         * the test has one (one exec fewer), else by a writer now */
        bool has_step = false;
        for (size_t i = 0; i < c->t->nsteps && !has_step; i++)
            has_step = c->t->steps[i].service && !strcmp(c->t->steps[i].service, s->name);
        cln_runner_observe_container(rt, id, has_keepalive, &s->privs, pl.mode, pl.reason,
                                     &sr->evidence, has_step ? sr->canary_token : NULL);
        sr->observed = true;
    }
out:
    if (j->rc < 0)
        cln_runner_keep_log_tail(c, sr);
    if (j->rc < 0 && !sr->error)
        sr->error = cln_error_make(CLN_E_INTERRUPTED, 0, "service %s: interrupted", s->name);
    free(files);
    free(owners);
    free(ports);
    free(aliases);
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
            cln_runner_fail_test(
                c->r, CLN_ST_ERROR,
                cln_runner_wrap(e, "service %s: write the test's host names", sr->service->name));
            return -1;
        }
        bool ok = er.status == CLN_EXEC_EXITED && er.exit_code == 0;
        if (!ok)
            cln_runner_fail_test(
                c->r, CLN_ST_ERROR,
                cln_error_make(CLN_E_BACKEND, 0,
                               "service %s: writing the test's host names to /etc/hosts "
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

int cln_runner_start_services(struct test_ctx *c)
{
    const struct cln_spec_test *t = c->t;
    for (int level = 0; level <= t->max_level; level++) {
        if (cln_runner_interrupted(c)) {
            cln_runner_fail_test(c->r, CLN_ST_ERROR,
                                 cln_error_make(CLN_E_INTERRUPTED, 0, "interrupted"));
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
        cln_runner_enter_limit(c); /* start_service cleared this thread's limit */
        pthread_mutex_destroy(&q.lock);
        int rc = 0;
        for (size_t i = 0; i < q.n && rc == 0; i++)
            if (q.jobs[i].rc < 0) {
                struct cln_service_result *sr = &c->r->services[q.jobs[i].idx];
                cln_runner_fail_test(c->r, CLN_ST_ERROR, cln_error_dup(sr->error));
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
