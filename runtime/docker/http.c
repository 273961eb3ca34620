#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <errno.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/base/log.h"
#include "runtime/base/xalloc.h"

#define POOL_MAX 16
#define RETRIES 6 /* 50 ms doubling: about 3 s in all, an engine restart's worth */

struct slot {
    CURL *easy;
    CURLM *multi; /* owns the connection cache of this slot */
};

/* A request in flight: its multi handle, to wake it (interrupts, the
 * engine gone), and when it started (the watchdog). */
struct inflight {
    CURLM *multi;
    uint64_t started;
    struct inflight *next;
};

struct cln_http {
    char *endpoint;    /* as configured */
    char *base_url;    /* http://localhost or http(s)://host:port */
    char *socket_path; /* unix socket, or NULL */
    bool tls;
    char *ca_file, *cert_file, *key_file;
    char *prefix;
    char *backend;
    pthread_mutex_t lock;
    struct slot pool[POOL_MAX];
    size_t npool;
    /* under lock */
    struct inflight *inflight;
    unsigned epoch; /* bumped by each interrupt; also read atomically */
    char *gone;     /* set once; also read atomically */
    /* the watchdog */
    pthread_t watchdog;
    bool watchdog_running, stopping;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    uint64_t last_ping;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void *watchdog_main(void *ud);

int cln_http_new(const struct cln_http_config *cfg, struct cln_http **ret, struct cln_error **err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return cln_error_set(err, CLN_E_TRANSPORT, 0, "libcurl initialisation failed: %s",
                             curl_easy_strerror(global_rc));
    const char *ep = cfg->endpoint;
    char *base_url = NULL, *socket_path = NULL;
    bool tls = cfg->tls;
    if (strncmp(ep, "unix://", 7) == 0) {
        const char *path = ep + 7;
        if (strlen(path) >= 108)
            return cln_error_set(err, CLN_E_INVALID, 0, "socket path %s is longer than 107 bytes",
                                 path);
        if (path[0] != '/')
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "engine address \"%s\": the socket path must be absolute", ep);
        socket_path = cln_xstrdup(path);
        base_url = cln_xstrdup("http://localhost");
    } else {
        const char *hostport;
        if (strncmp(ep, "tcp://", 6) == 0) {
            hostport = ep + 6;
        } else if (strncmp(ep, "http://", 7) == 0) {
            hostport = ep + 7;
        } else if (strncmp(ep, "https://", 8) == 0) {
            hostport = ep + 8;
            tls = true;
        } else {
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "unsupported engine address \"%s\" (use unix://PATH or "
                                 "tcp://HOST:PORT)",
                                 ep);
        }
        size_t hl = strcspn(hostport, "/");
        if (hl == 0)
            return cln_error_set(err, CLN_E_INVALID, 0, "engine address \"%s\" has no host", ep);
        base_url = cln_xasprintf("%s://%.*s", tls ? "https" : "http", (int)hl, hostport);
    }
    struct cln_http *h = cln_xcalloc(1, sizeof(*h));
    h->endpoint = cln_xstrdup(ep);
    h->base_url = base_url;
    h->socket_path = socket_path;
    h->tls = tls;
    h->backend = cln_xstrdup(cfg->backend ? cfg->backend : "engine");
    h->prefix = cln_xstrdup("");
    h->ca_file = cfg->ca_file ? cln_xstrdup(cfg->ca_file) : NULL;
    h->cert_file = cfg->cert_file ? cln_xstrdup(cfg->cert_file) : NULL;
    h->key_file = cfg->key_file ? cln_xstrdup(cfg->key_file) : NULL;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!cfg->no_watchdog) {
        /* The watchdog takes no signal: they are the harness's to wait for
         * (a signal delivered here would be lost, or kill the process). */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        h->watchdog_running = pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    *ret = h;
    return 0;
}

void cln_http_free(struct cln_http *h)
{
    if (!h)
        return;
    if (h->watchdog_running) {
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->watchdog, NULL);
    }
    for (size_t i = 0; i < h->npool; i++) {
        curl_multi_cleanup(h->pool[i].multi);
        curl_easy_cleanup(h->pool[i].easy);
    }
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    free(h->endpoint);
    free(h->base_url);
    free(h->socket_path);
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
    free(h->prefix);
    free(h->backend);
    free(h->gone);
    free(h);
}

void cln_http_set_prefix(struct cln_http *h, const char *prefix)
{
    free(h->prefix);
    h->prefix = cln_xstrdup(prefix);
}

const char *cln_http_backend(const struct cln_http *h)
{
    return h->backend;
}

void cln_http_set_backend(struct cln_http *h, const char *backend)
{
    free(h->backend);
    h->backend = cln_xstrdup(backend);
}

const char *cln_http_endpoint(const struct cln_http *h)
{
    return h->endpoint;
}

const char *cln_http_socket_path(const struct cln_http *h)
{
    return h->socket_path;
}

/* ---- interrupts and liveness ---- */

static void wake_all_locked(struct cln_http *h)
{
    for (struct inflight *f = h->inflight; f; f = f->next)
        curl_multi_wakeup(f->multi);
}

void cln_http_interrupt(struct cln_http *h)
{
    pthread_mutex_lock(&h->lock);
    __atomic_add_fetch(&h->epoch, 1, __ATOMIC_RELEASE);
    wake_all_locked(h);
    pthread_mutex_unlock(&h->lock);
}

const char *cln_http_gone(struct cln_http *h)
{
    return __atomic_load_n(&h->gone, __ATOMIC_ACQUIRE);
}

static void mark_gone(struct cln_http *h, const char *why)
{
    pthread_mutex_lock(&h->lock);
    if (!h->gone) {
        char *g = cln_xasprintf("the engine at %s stopped answering (%s)", h->endpoint, why);
        __atomic_store_n(&h->gone, g, __ATOMIC_RELEASE);
        wake_all_locked(h);
        cln_log(CLN_LOG_WARN, "%s: %s; every request fails from now on", h->backend, g);
    }
    pthread_mutex_unlock(&h->lock);
}

static void add_inflight(struct cln_http *h, struct inflight *f)
{
    pthread_mutex_lock(&h->lock);
    bool was_idle = !h->inflight;
    f->next = h->inflight;
    h->inflight = f;
    if (was_idle)
        pthread_cond_broadcast(&h->cond); /* the watchdog times it */
    pthread_mutex_unlock(&h->lock);
}

static void remove_inflight(struct cln_http *h, struct inflight *f)
{
    pthread_mutex_lock(&h->lock);
    for (struct inflight **p = &h->inflight; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    pthread_mutex_unlock(&h->lock);
}

static void setup_transport(struct cln_http *h, CURL *c)
{
    if (h->socket_path)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->socket_path);
    if (h->tls) {
        if (h->ca_file)
            curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
        if (h->cert_file)
            curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_file);
        if (h->key_file)
            curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_file);
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CLN_HTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
}

/* What a failed transfer's curl code and errno mean, in words. */
static void describe_failure(CURLcode rc, long os_errno, const char *errbuf, char *out, size_t size)
{
    if (rc == CURLE_COULDNT_CONNECT && os_errno)
        snprintf(out, size, "connect: %s", strerror((int)os_errno));
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(out, size, "no answer within %d s (connect)", CLN_HTTP_CONNECT_TIMEOUT_MS / 1000);
    else if ((rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR) && os_errno)
        snprintf(out, size, "%s: %s", curl_easy_strerror(rc), strerror((int)os_errno));
    else if (rc == CURLE_GOT_NOTHING)
        snprintf(out, size, "the connection closed without an answer");
    else
        snprintf(out, size, "%s", errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

#define WATCH_AFTER_MS 2000  /* ping when a request has been in flight this long */
#define WATCH_EVERY_MS 2000  /* and at most this often */
#define PING_TIMEOUT_MS 5000 /* an engine that does not answer a ping in this time is gone */

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

/* GET /_ping on a connection of its own; true when the engine answered. */
static bool ping(struct cln_http *h, char *why, size_t why_size)
{
    CURL *c = curl_easy_init();
    if (!c)
        return true; /* cannot tell: do not declare it gone */
    char errbuf[CURL_ERROR_SIZE] = "";
    cleanup_free char *url = cln_xasprintf("%s/_ping", h->base_url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    setup_transport(h, c);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)PING_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK)
        return true; /* any answer: it is alive */
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(why, why_size, "no answer to a ping within %d s", PING_TIMEOUT_MS / 1000);
    else
        describe_failure(rc, os_errno, errbuf, why, why_size);
    return false;
}

static void *watchdog_main(void *ud)
{
    struct cln_http *h = ud;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping && !h->gone) {
        uint64_t oldest = 0;
        for (struct inflight *f = h->inflight; f; f = f->next)
            if (!oldest || f->started < oldest)
                oldest = f->started;
        if (!oldest) {
            pthread_cond_wait(&h->cond, &h->lock);
            continue;
        }
        uint64_t due = oldest + WATCH_AFTER_MS;
        if (h->last_ping + WATCH_EVERY_MS > due)
            due = h->last_ping + WATCH_EVERY_MS;
        uint64_t now = cln_now_ms();
        if (now < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t wait = due - now;
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&h->cond, &h->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&h->lock);
        cln_log(CLN_LOG_DEBUG, "%s: a request has been in flight for %llu ms: pinging the engine",
                h->backend, (unsigned long long)(now - oldest));
        char why[256];
        bool alive = ping(h, why, sizeof(why));
        if (!alive)
            mark_gone(h, why);
        pthread_mutex_lock(&h->lock);
        h->last_ping = cln_now_ms();
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* ---- requests ---- */

static int acquire(struct cln_http *h, struct slot *ret, struct cln_error **err)
{
    pthread_mutex_lock(&h->lock);
    if (h->npool > 0) {
        *ret = h->pool[--h->npool];
        pthread_mutex_unlock(&h->lock);
        return 0;
    }
    pthread_mutex_unlock(&h->lock);
    ret->easy = curl_easy_init();
    ret->multi = curl_multi_init();
    if (!ret->easy || !ret->multi) {
        curl_easy_cleanup(ret->easy);
        curl_multi_cleanup(ret->multi);
        return cln_error_set(err, CLN_E_TRANSPORT, 0, "cannot create a curl handle");
    }
    return 0;
}

static void release(struct cln_http *h, struct slot s)
{
    pthread_mutex_lock(&h->lock);
    if (h->npool < POOL_MAX) {
        h->pool[h->npool++] = s;
        s.easy = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    if (s.easy) {
        curl_multi_cleanup(s.multi);
        curl_easy_cleanup(s.easy);
    }
}

struct xfer {
    const struct cln_http_request *req;
    struct cln_http_response *resp;
    size_t delivered; /* body bytes handed out */
    bool answered;    /* a status line arrived */
    long status;      /* of the last status line */
};

#define ERROR_BODY_MAX 65536

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    /* An error answer's body is the engine's message, not the stream the
     * caller asked for: collect it (bounded) for cln_http_check. */
    if (x->req->on_data && (x->status < 200 || x->status >= 300)) {
        size_t room = x->resp->body.len < ERROR_BODY_MAX ? ERROR_BODY_MAX - x->resp->body.len : 0;
        cln_buf_append(&x->resp->body, data, n < room ? n : room);
        return n;
    }
    x->delivered += n;
    if (x->req->on_data) {
        if (!x->req->on_data(data, n, x->req->userdata)) {
            x->resp->aborted = true;
            return 0;
        }
        return n;
    }
    cln_buf_append(&x->resp->body, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    x->answered = true;
    if (n > 9 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);
        if (sp)
            x->status = strtol(sp + 1, NULL, 10);
    }
    const char *want = x->req->want_header;
    if (!want)
        return n;
    size_t wl = strlen(want);
    if (n > wl + 1 && strncasecmp(data, want, wl) == 0 && data[wl] == ':') {
        const char *v = data + wl + 1;
        size_t vl = n - wl - 1;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        free(x->resp->header_value);
        x->resp->header_value = cln_xstrndup(v, vl);
    }
    return n;
}

void cln_http_escape(struct cln_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            cln_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            cln_buf_append(b, e, 3);
        }
    }
}

/* Why perform() gave up, beyond curl's own result. */
enum stop_reason {
    STOP_NONE,
    STOP_LIMIT,     /* the client's own total time limit */
    STOP_THREAD,    /* the calling thread's deadline */
    STOP_INTERRUPT, /* cln_http_interrupt, for a request without on_deadline */
    STOP_GONE,      /* the engine stopped answering */
};

/* One attempt.  Returns the curl result; the response is filled. */
static CURLcode perform(struct cln_http *h, struct slot *s, const struct cln_http_request *req,
                        struct cln_http_response *resp, struct xfer *x, char *errbuf,
                        long *os_errno, enum stop_reason *stop)
{
    CURL *c = s->easy;
    curl_easy_reset(c);
    cleanup_free char *url =
        cln_xasprintf("%s%s%s", h->base_url, req->raw_path ? "" : h->prefix, req->path);
    struct curl_slist *headers = NULL, *tmp;
    if (req->content_type) {
        char ct[128];
        snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type);
        if ((tmp = curl_slist_append(headers, ct)))
            headers = tmp;
    }
    /* Skip libcurl's 100-continue wait on large bodies. */
    if ((tmp = curl_slist_append(headers, "Expect:")))
        headers = tmp;

    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    setup_transport(h, c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
    }

    CURLcode rc = CURLE_OK;
    CURLMcode mrc = curl_multi_add_handle(s->multi, c);
    if (mrc != CURLM_OK) {
        snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_multi_strerror(mrc));
        curl_slist_free_all(headers);
        return CURLE_FAILED_INIT;
    }
    uint64_t start = cln_now_ms();
    struct inflight me = {.multi = s->multi, .started = start};
    add_inflight(h, &me);
    unsigned epoch = __atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE);
    /* The request's own deadline and the thread's, which act through
     * on_deadline when there is one; the client's limit, which does not. */
    uint64_t thread_dl = cln_deadline_get(NULL);
    uint64_t own = req->timeout_ms ? start + req->timeout_ms : 0;
    uint64_t soft = req->on_deadline ? cln_deadline_min(own, thread_dl) : own;
    uint64_t limit = req->long_running ? 0 : start + CLN_HTTP_DEFAULT_TIMEOUT_MS;
    if (!req->on_deadline)
        limit = cln_deadline_min(limit, thread_dl);
    uint64_t hard = 0;
    bool done = false;
    while (!done) {
        int running = 0;
        mrc = curl_multi_perform(s->multi, &running);
        if (mrc != CURLM_OK) {
            snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_multi_strerror(mrc));
            rc = CURLE_FAILED_INIT;
            break;
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(s->multi, &left))) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == c) {
                rc = m->data.result;
                done = true;
            }
        }
        if (done)
            break;
        uint64_t t = cln_now_ms();
        if (cln_http_gone(h)) {
            *stop = STOP_GONE;
            resp->aborted = true;
            break;
        }
        bool interrupted =
            !req->uninterruptible && __atomic_load_n(&h->epoch, __ATOMIC_ACQUIRE) != epoch;
        if (interrupted && !req->on_deadline) {
            *stop = STOP_INTERRUPT;
            resp->aborted = true;
            break;
        }
        if (limit && t >= limit) {
            *stop = limit == thread_dl ? STOP_THREAD : STOP_LIMIT;
            resp->aborted = true;
            break;
        }
        if (!resp->deadline_passed && ((soft && t >= soft) || interrupted)) {
            resp->deadline_passed = true;
            resp->interrupted = interrupted;
            hard = t + req->grace_ms;
            if (req->on_deadline)
                req->on_deadline(req->userdata);
            t = cln_now_ms();
        }
        if (resp->deadline_passed && t >= hard) {
            resp->aborted = true;
            break;
        }
        uint64_t until = cln_deadline_min(resp->deadline_passed ? hard : soft, limit);
        int wait_ms = 1000;
        if (until) {
            uint64_t left_ms = until > t ? until - t : 0;
            if (left_ms < (uint64_t)wait_ms)
                wait_ms = (int)left_ms;
        }
        mrc = curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
        if (mrc != CURLM_OK) {
            snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_multi_strerror(mrc));
            rc = CURLE_FAILED_INIT;
            break;
        }
    }
    remove_inflight(h, &me);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, os_errno);
    curl_multi_remove_handle(s->multi, c);
    curl_slist_free_all(headers);
    /* A transfer we cut, or one the write callback stopped, is not a
     * transport failure. */
    if (resp->aborted && (rc == CURLE_WRITE_ERROR || rc == CURLE_OK))
        rc = CURLE_OK;
    return rc;
}

static bool transient(CURLcode rc, bool idempotent)
{
    if (rc == CURLE_COULDNT_CONNECT)
        return true; /* nothing was sent */
    return idempotent &&
           (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING);
}

static void add_detail(struct cln_http *h, struct cln_error *e, CURLcode rc)
{
    struct cln_backend_detail *d = cln_backend_detail_new(h->backend);
    d->curl_code = (int)rc;
    cln_error_set_detail(e, d);
}

int cln_http_do(struct cln_http *h, const struct cln_http_request *req,
                struct cln_http_response *resp, struct cln_error **err)
{
    const char *gone = cln_http_gone(h);
    if (gone) {
        memset(resp, 0, sizeof(*resp));
        int r = cln_error_set(err, CLN_E_TRANSPORT, 0, "%s", gone);
        add_detail(h, *err, CURLE_COULDNT_CONNECT);
        cln_log(CLN_LOG_DEBUG, "%s: %s %s%s: not sent, the engine is gone", h->backend, req->method,
                req->raw_path ? "" : h->prefix, req->path);
        return r;
    }
    struct slot s;
    int r = acquire(h, &s, err);
    if (r < 0)
        return r;
    char errbuf[CURL_ERROR_SIZE];
    bool idempotent = req->idempotent || strcmp(req->method, "GET") == 0 ||
                      strcmp(req->method, "HEAD") == 0 || strcmp(req->method, "DELETE") == 0;
    CURLcode rc = CURLE_OK;
    long os_errno = 0;
    enum stop_reason stop = STOP_NONE;
    unsigned delay = 50;
    uint64_t t0 = cln_now_ms();
    const char *where = req->raw_path ? "" : h->prefix;
    int attempts = 0;
    for (int attempt = 0;; attempt++) {
        attempts = attempt + 1;
        memset(resp, 0, sizeof(*resp));
        struct xfer x = {.req = req, .resp = resp};
        stop = STOP_NONE;
        rc = perform(h, &s, req, resp, &x, errbuf, &os_errno, &stop);
        if (rc == CURLE_OK || stop != STOP_NONE)
            break;
        /* Retry only when nothing reached the caller yet, and never past
         * the thread's deadline. */
        uint64_t dl = cln_deadline_get(NULL);
        if (req->no_retry || attempt >= RETRIES || !transient(rc, idempotent) ||
            (req->on_data && x.delivered) || cln_http_gone(h) ||
            (dl && cln_now_ms() + delay >= dl)) {
            break;
        }
        if (cln_log_enabled(CLN_LOG_INFO)) {
            char why[CURL_ERROR_SIZE + 64];
            describe_failure(rc, os_errno, errbuf, why, sizeof(why));
            cln_log(CLN_LOG_INFO, "%s: %s %s%s: %s; %s in %u ms (retry %d of %d)", h->backend,
                    req->method, where, req->path, why,
                    rc == CURLE_COULDNT_CONNECT ? "connecting again" : "reconnecting", delay,
                    attempt + 1, RETRIES);
        }
        cln_http_response_done(resp);
        /* tv_nsec must stay below 1 s: nanosleep refuses the 1600 ms sleep
         * otherwise (EINVAL, no sleep at all). */
        struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay *= 2;
    }
    release(h, s);
    unsigned long long ms = (unsigned long long)(cln_now_ms() - t0);
    if (stop != STOP_NONE) {
        cln_http_response_done(resp);
        const char *what = NULL;
        switch (stop) {
        case STOP_GONE:
            r = cln_error_set(err, CLN_E_TRANSPORT, 0, "%s", cln_http_gone(h));
            break;
        case STOP_INTERRUPT:
            r = cln_error_set(err, CLN_E_INTERRUPTED, 0, "interrupted (%s %s%s)", req->method,
                              where, req->path);
            break;
        case STOP_THREAD:
            cln_deadline_get(&what);
            r = cln_error_set(
                err, CLN_E_TIMEOUT, 0, "%s passed while the engine at %s had not answered %s %s%s",
                what ? what : "the deadline", h->endpoint, req->method, where, req->path);
            break;
        default:
            r = cln_error_set(err, CLN_E_TIMEOUT, 0,
                              "the engine at %s did not answer %s %s%s within %d s", h->endpoint,
                              req->method, where, req->path,
                              (int)((cln_now_ms() - t0 + 500) / 1000));
            break;
        }
        add_detail(h, *err, CURLE_OPERATION_TIMEDOUT);
        cln_log(CLN_LOG_DEBUG, "%s: %s %s%s: no answer, stopped after %llu ms (%s)", h->backend,
                req->method, where, req->path, ms, (*err)->msg);
        return r;
    }
    if (rc != CURLE_OK) {
        cln_http_response_done(resp);
        char why[CURL_ERROR_SIZE + 64];
        describe_failure(rc, os_errno, errbuf, why, sizeof(why));
        /* An engine that refuses connections after every retry is gone. */
        if (rc == CURLE_COULDNT_CONNECT && !req->no_retry)
            mark_gone(h, why);
        r = cln_error_set(err, CLN_E_TRANSPORT, 0, "the engine at %s: %s (%s %s%s)", h->endpoint,
                          why, req->method, where, req->path);
        add_detail(h, *err, rc);
        cln_log(CLN_LOG_DEBUG, "%s: %s %s%s: failed after %llu ms and %d attempt%s: %s", h->backend,
                req->method, where, req->path, ms, attempts, attempts == 1 ? "" : "s", why);
        return r;
    }
    if (attempts > 1)
        cln_log(CLN_LOG_INFO, "%s: %s %s%s: answered at attempt %d", h->backend, req->method, where,
                req->path, attempts);
    cln_log(CLN_LOG_DEBUG, "%s: %s %s%s: %ld in %llu ms%s", h->backend, req->method, where,
            req->path, resp->status, ms,
            resp->deadline_passed ? (resp->interrupted ? ", interrupted" : ", past its deadline")
                                  : "");
    return 0;
}

void cln_http_response_done(struct cln_http_response *r)
{
    cln_buf_done(&r->body);
    free(r->header_value);
    r->header_value = NULL;
}

char *cln_http_error_message(const char *body, size_t len)
{
    if (!body || !len)
        return NULL;
    char *msg = NULL;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m))
        msg = cln_xstrdup(m->valuestring);
    else if (!j)
        msg = cln_xstrndup(body, len > 300 ? 300 : len);
    cJSON_Delete(j);
    if (msg) {
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        if (!n) {
            free(msg);
            msg = NULL;
        }
    }
    return msg;
}

int cln_http_check(struct cln_http *h, const struct cln_http_response *resp, const char *what,
                   struct cln_error **err)
{
    if (resp->status >= 200 && resp->status < 300)
        return 0;
    enum cln_errcode code = resp->status == 404   ? CLN_E_NOT_FOUND
                            : resp->status == 409 ? CLN_E_CONFLICT
                                                  : CLN_E_BACKEND;
    struct cln_backend_detail *d = cln_backend_detail_new(h->backend);
    d->http_status = resp->status;
    d->api_message = cln_http_error_message(resp->body.data, resp->body.len);
    if (resp->body.len) {
        cJSON *j = cJSON_ParseWithLength(resp->body.data, resp->body.len);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cause");
        if (cJSON_IsString(c))
            d->api_cause = cln_xstrdup(c->valuestring);
        cJSON_Delete(j);
    }
    int r = cln_error_set(err, code, 0, "%s", what);
    cln_error_set_detail(*err, d);
    return r;
}
