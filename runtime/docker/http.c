#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

#define POOL_MAX 16
#define RETRIES 6 /* 50 ms doubling: about 3 s in all, an engine restart's worth */

struct slot {
    CURL *easy;
    CURLM *multi; /* owns the connection cache of this slot */
};

struct cln_http {
    char *base_url;    /* http://localhost or http(s)://host:port */
    char *socket_path; /* unix socket, or NULL */
    bool tls, local;
    char *ca_file, *cert_file, *key_file;
    char *prefix;
    char *backend;
    pthread_mutex_t lock;
    struct slot pool[POOL_MAX];
    size_t npool;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cln_http_new(const struct cln_http_config *cfg, struct cln_http **ret, struct cln_error **err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return cln_error_set(err, CLN_E_TRANSPORT, 0, "libcurl initialisation failed: %s",
                             curl_easy_strerror(global_rc));
    const char *ep = cfg->endpoint;
    struct cln_http *h = cln_xcalloc(1, sizeof(*h));
    h->backend = cln_xstrdup(cfg->backend ? cfg->backend : "engine");
    h->prefix = cln_xstrdup("");
    if (strncmp(ep, "unix://", 7) == 0) {
        const char *path = ep + 7;
        if (strlen(path) >= 108) {
            free(h->backend);
            free(h->prefix);
            free(h);
            return cln_error_set(err, CLN_E_INVALID, 0, "socket path %s is longer than 107 bytes",
                                 path);
        }
        h->socket_path = cln_xstrdup(path);
        h->base_url = cln_xstrdup("http://localhost");
        h->local = true;
    } else {
        const char *hostport;
        bool tls = cfg->tls;
        if (strncmp(ep, "tcp://", 6) == 0) {
            hostport = ep + 6;
        } else if (strncmp(ep, "http://", 7) == 0) {
            hostport = ep + 7;
        } else if (strncmp(ep, "https://", 8) == 0) {
            hostport = ep + 8;
            tls = true;
        } else {
            free(h->backend);
            free(h->prefix);
            free(h);
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "unsupported engine address \"%s\" (use unix://PATH or "
                                 "tcp://HOST:PORT)",
                                 ep);
        }
        size_t hl = strcspn(hostport, "/");
        h->base_url = cln_xasprintf("%s://%.*s", tls ? "https" : "http", (int)hl, hostport);
        h->tls = tls;
        h->local = strncmp(hostport, "127.", 4) == 0 || strncmp(hostport, "localhost", 9) == 0 ||
                   strncmp(hostport, "[::1]", 5) == 0;
    }
    h->ca_file = cfg->ca_file ? cln_xstrdup(cfg->ca_file) : NULL;
    h->cert_file = cfg->cert_file ? cln_xstrdup(cfg->cert_file) : NULL;
    h->key_file = cfg->key_file ? cln_xstrdup(cfg->key_file) : NULL;
    pthread_mutex_init(&h->lock, NULL);
    *ret = h;
    return 0;
}

void cln_http_free(struct cln_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->npool; i++) {
        curl_multi_cleanup(h->pool[i].multi);
        curl_easy_cleanup(h->pool[i].easy);
    }
    pthread_mutex_destroy(&h->lock);
    free(h->base_url);
    free(h->socket_path);
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
    free(h->prefix);
    free(h->backend);
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

bool cln_http_is_local(const struct cln_http *h)
{
    return h->local;
}

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
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
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

/* One attempt.  Returns the curl result; the response is filled. */
static CURLcode perform(struct cln_http *h, struct slot *s, const struct cln_http_request *req,
                        struct cln_http_response *resp, struct xfer *x, char *errbuf)
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
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
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
    uint64_t start = now_ms();
    uint64_t deadline = req->timeout_ms ? start + req->timeout_ms : 0, hard = 0;
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
        int wait_ms = req->cancel ? 100 : 1000;
        if (deadline || req->cancel) {
            uint64_t t = now_ms();
            bool cancelled = req->cancel && *req->cancel;
            if (!resp->deadline_passed && ((deadline && t >= deadline) || cancelled)) {
                resp->deadline_passed = true;
                hard = t + req->grace_ms;
                if (req->on_deadline)
                    req->on_deadline(req->userdata);
            }
            if (resp->deadline_passed && t >= hard) {
                resp->aborted = true;
                break;
            }
            uint64_t until = resp->deadline_passed ? hard : deadline;
            uint64_t left_ms = until > t ? until - t : 0;
            if (until && left_ms < (uint64_t)wait_ms)
                wait_ms = (int)left_ms;
        }
        mrc = curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
        if (mrc != CURLM_OK) {
            snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_multi_strerror(mrc));
            rc = CURLE_FAILED_INIT;
            break;
        }
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
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

int cln_http_do(struct cln_http *h, const struct cln_http_request *req,
                struct cln_http_response *resp, struct cln_error **err)
{
    struct slot s;
    int r = acquire(h, &s, err);
    if (r < 0)
        return r;
    char errbuf[CURL_ERROR_SIZE];
    bool idempotent = req->idempotent || strcmp(req->method, "GET") == 0 ||
                      strcmp(req->method, "HEAD") == 0 || strcmp(req->method, "DELETE") == 0;
    CURLcode rc = CURLE_OK;
    unsigned delay = 50;
    for (int attempt = 0;; attempt++) {
        memset(resp, 0, sizeof(*resp));
        struct xfer x = {.req = req, .resp = resp};
        rc = perform(h, &s, req, resp, &x, errbuf);
        if (rc == CURLE_OK)
            break;
        /* Retry only when nothing reached the caller yet. */
        if (req->no_retry || attempt >= RETRIES || !transient(rc, idempotent) ||
            (req->on_data && x.delivered)) {
            break;
        }
        cln_http_response_done(resp);
        struct timespec ts = {0, (long)delay * 1000000L};
        nanosleep(&ts, NULL);
        delay *= 2;
    }
    release(h, s);
    if (rc != CURLE_OK) {
        cln_http_response_done(resp);
        int r2 = cln_error_set(err, CLN_E_TRANSPORT, 0, "%s %s%s%s: %s", req->method,
                               h->socket_path ? h->socket_path : h->base_url,
                               req->raw_path ? "" : h->prefix, req->path,
                               errbuf[0] ? errbuf : curl_easy_strerror(rc));
        struct cln_backend_detail *d = cln_backend_detail_new(h->backend);
        d->curl_code = (int)rc;
        cln_error_set_detail(*err, d);
        return r2;
    }
    return 0;
}

void cln_http_response_done(struct cln_http_response *r)
{
    cln_buf_done(&r->body);
    free(r->header_value);
    r->header_value = NULL;
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
    if (resp->body.len) {
        cJSON *j = cJSON_ParseWithLength(resp->body.data, resp->body.len);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cause");
        if (cJSON_IsString(m))
            d->api_message = cln_xstrdup(m->valuestring);
        else if (!j)
            d->api_message =
                cln_xstrndup(resp->body.data, resp->body.len > 300 ? 300 : resp->body.len);
        if (cJSON_IsString(c))
            d->api_cause = cln_xstrdup(c->valuestring);
        cJSON_Delete(j);
        if (d->api_message) {
            size_t n = strlen(d->api_message);
            while (n && (d->api_message[n - 1] == '\n' || d->api_message[n - 1] == ' '))
                d->api_message[--n] = '\0';
        }
    }
    int r = cln_error_set(err, code, 0, "%s", what);
    cln_error_set_detail(*err, d);
    return r;
}
