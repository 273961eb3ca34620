#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

static const char *const code_names[] = {
    [CLN_E_OK] = "ok",
    [CLN_E_INVALID] = "invalid",
    [CLN_E_IO] = "io",
    [CLN_E_PARSE] = "parse",
    [CLN_E_SPEC] = "spec",
    [CLN_E_TRANSPORT] = "transport",
    [CLN_E_BACKEND] = "backend",
    [CLN_E_NOT_FOUND] = "not-found",
    [CLN_E_CONFLICT] = "conflict",
    [CLN_E_TIMEOUT] = "timeout",
    [CLN_E_UNSUPPORTED] = "unsupported",
    [CLN_E_INTERRUPTED] = "interrupted",
    [CLN_E_ISOLATION] = "isolation",
    [CLN_E_INTERNAL] = "internal",
};

const char *cln_errcode_name(enum cln_errcode code)
{
    if ((unsigned)code < sizeof(code_names) / sizeof(code_names[0]) && code_names[code])
        return code_names[code];
    return "unknown";
}

int cln_error_setv(struct cln_error **err, enum cln_errcode code, int sys_errno, const char *fmt,
                   va_list ap)
{
    if (code == CLN_E_OK)
        code = CLN_E_INTERNAL;
    if (!err)
        return -(int)code;
    /* A second set would lose the first error; keep it as the cause so that
     * nothing is dropped, but this is a caller bug. */
    struct cln_error *e = cln_xcalloc(1, sizeof(*e));
    e->code = code;
    e->sys_errno = sys_errno;
    e->msg = cln_xvasprintf(fmt, ap);
    e->cause = *err;
    *err = e;
    return -(int)code;
}

int cln_error_set(struct cln_error **err, enum cln_errcode code, int sys_errno, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = cln_error_setv(err, code, sys_errno, fmt, ap);
    va_end(ap);
    return r;
}

int cln_error_wrap(struct cln_error **err, const char *fmt, ...)
{
    if (!err)
        return -(int)CLN_E_INTERNAL;
    enum cln_errcode code = *err ? (*err)->code : CLN_E_INTERNAL;
    struct cln_error *e = cln_xcalloc(1, sizeof(*e));
    va_list ap;
    va_start(ap, fmt);
    e->msg = cln_xvasprintf(fmt, ap);
    va_end(ap);
    e->code = code;
    e->cause = *err;
    *err = e;
    return -(int)code;
}

struct cln_backend_detail *cln_backend_detail_new(const char *backend)
{
    struct cln_backend_detail *d = cln_xcalloc(1, sizeof(*d));
    d->backend = backend ? cln_xstrdup(backend) : NULL;
    d->exit_status = -1;
    return d;
}

void cln_backend_detail_free(struct cln_backend_detail *d)
{
    if (!d)
        return;
    free(d->backend);
    free(d->api_message);
    free(d->api_cause);
    free(d);
}

void cln_error_set_detail(struct cln_error *err, struct cln_backend_detail *detail)
{
    if (!err) {
        cln_backend_detail_free(detail);
        return;
    }
    cln_backend_detail_free(err->detail);
    err->detail = detail;
}

void cln_error_free(struct cln_error *e)
{
    while (e) {
        struct cln_error *next = e->cause;
        free(e->msg);
        free(e->text);
        cln_backend_detail_free(e->detail);
        free(e);
        e = next;
    }
}

enum cln_errcode cln_error_root_code(const struct cln_error *e)
{
    enum cln_errcode code = CLN_E_OK;
    for (; e; e = e->cause)
        if (e->code != CLN_E_OK)
            code = e->code;
    return code;
}

bool cln_error_has_code(const struct cln_error *e, enum cln_errcode code)
{
    for (; e; e = e->cause)
        if (e->code == code)
            return true;
    return false;
}

static void render_detail(struct cln_buf *b, const struct cln_backend_detail *d)
{
    bool any = false;
    cln_buf_puts(b, " (");
    if (d->backend) {
        cln_buf_puts(b, d->backend);
        any = true;
    }
    if (d->http_status) {
        cln_buf_printf(b, "%sHTTP %ld", any ? ", " : "", d->http_status);
        any = true;
    }
    if (d->curl_code) {
        cln_buf_printf(b, "%scurl error %d", any ? ", " : "", d->curl_code);
        any = true;
    }
    if (d->exit_status >= 0) {
        cln_buf_printf(b, "%sexit status %d", any ? ", " : "", d->exit_status);
        any = true;
    }
    if (d->api_message && *d->api_message) {
        cln_buf_printf(b, "%s%s", any ? ": " : "", d->api_message);
        any = true;
    }
    if (d->api_cause && *d->api_cause && (!d->api_message || !strstr(d->api_message, d->api_cause)))
        cln_buf_printf(b, "%scause: %s", any ? "; " : "", d->api_cause);
    cln_buf_puts(b, ")");
}

char *cln_error_render(const struct cln_error *e)
{
    struct cln_buf b = CLN_BUF_INIT;
    int last_errno = 0;
    for (const struct cln_error *l = e; l; l = l->cause) {
        if (l != e)
            cln_buf_puts(&b, ": ");
        cln_buf_puts(&b, l->msg);
        if (l->detail)
            render_detail(&b, l->detail);
        if (l->sys_errno)
            last_errno = l->sys_errno;
    }
    if (last_errno)
        cln_buf_printf(&b, ": %s", strerror(last_errno));
    return cln_buf_steal(&b);
}

cJSON *cln_error_to_json(const struct cln_error *e)
{
    cJSON *arr = cJSON_CreateArray();
    for (const struct cln_error *l = e; l; l = l->cause) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", cln_errcode_name(l->code));
        cJSON_AddStringToObject(o, "message", l->msg);
        if (l->sys_errno) {
            cJSON_AddNumberToObject(o, "errno", l->sys_errno);
            cJSON_AddStringToObject(o, "strerror", strerror(l->sys_errno));
        }
        if (l->detail) {
            const struct cln_backend_detail *d = l->detail;
            cJSON *bd = cJSON_AddObjectToObject(o, "backend");
            if (d->backend)
                cJSON_AddStringToObject(bd, "name", d->backend);
            if (d->http_status)
                cJSON_AddNumberToObject(bd, "http_status", (double)d->http_status);
            if (d->curl_code)
                cJSON_AddNumberToObject(bd, "curl_code", d->curl_code);
            if (d->exit_status >= 0)
                cJSON_AddNumberToObject(bd, "exit_status", d->exit_status);
            if (d->api_message)
                cJSON_AddStringToObject(bd, "message", d->api_message);
            if (d->api_cause)
                cJSON_AddStringToObject(bd, "cause", d->api_cause);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

struct cln_error *cln_error_make(enum cln_errcode code, int sys_errno, const char *fmt, ...)
{
    struct cln_error *e = NULL;
    va_list ap;
    va_start(ap, fmt);
    cln_error_setv(&e, code, sys_errno, fmt, ap);
    va_end(ap);
    return e;
}

static struct cln_backend_detail *detail_dup(const struct cln_backend_detail *d)
{
    if (!d)
        return NULL;
    struct cln_backend_detail *n = cln_backend_detail_new(d->backend);
    n->http_status = d->http_status;
    n->curl_code = d->curl_code;
    n->exit_status = d->exit_status;
    n->api_message = d->api_message ? cln_xstrdup(d->api_message) : NULL;
    n->api_cause = d->api_cause ? cln_xstrdup(d->api_cause) : NULL;
    return n;
}

struct cln_error *cln_error_dup(const struct cln_error *e)
{
    struct cln_error *head = NULL, **tail = &head;
    for (; e; e = e->cause) {
        struct cln_error *n = cln_xcalloc(1, sizeof(*n));
        n->code = e->code;
        n->sys_errno = e->sys_errno;
        n->msg = cln_xstrdup(e->msg);
        n->detail = detail_dup(e->detail);
        *tail = n;
        tail = &n->cause;
    }
    return head;
}

const char *cln_error_text(const struct cln_error *e)
{
    if (!e)
        return NULL;
    if (!e->text)
        ((struct cln_error *)e)->text = cln_error_render(e);
    return e->text;
}
