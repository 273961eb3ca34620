/* Failures of Apple's container CLI, classified (apple-internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apple-internal.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* Codes of the CLI's ContainerizationError that may pass on another try;
 * every other (invalidArgument, exists, invalidState, unsupported, empty,
 * cancelled, internalError, unknown, and words we do not know) is not
 * retried. */
static const char *const transient[] = {"timeout", "interrupted"};

static bool in(const char *code, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, set[i]) == 0)
            return true;
    return false;
}

/* The last non-empty line of text, trimmed, owned. */
static char *last_line(const char *text, size_t len)
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start && text[start - 1] != '\n')
        start--;
    return cln_xstrndup(text + start, len - start);
}

void cln_apple_classify(int exit_status, const char *text, size_t len,
                        struct cln_apple_failure *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->cls = CLN_APPLE_PERMANENT;
    text = text ? text : "";
    /* the first "Error: CODE: \"MESSAGE\"" line */
    const char *e = NULL;
    for (const char *p = text; p && p < text + len;) {
        if ((size_t)(text + len - p) >= 7 && memcmp(p, "Error: ", 7) == 0) {
            e = p + 7;
            break;
        }
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        p = nl ? nl + 1 : NULL;
    }
    if (e) {
        const char *end = memchr(e, '\n', (size_t)(text + len - e));
        size_t ll = end ? (size_t)(end - e) : (size_t)(text + len - e);
        size_t cl = strcspn(e, ":\n");
        if (cl < ll && cl < sizeof(ret->code) && e[cl] == ':') {
            snprintf(ret->code, sizeof(ret->code), "%.*s", (int)cl, e);
            const char *m = e + cl + 1, *mend = e + ll;
            while (m < mend && *m == ' ')
                m++;
            /* cppcheck-suppress knownConditionTrueFalse ; it misreads the loop above */
            if (mend - m >= 2 && *m == '"' && mend[-1] == '"') {
                m++;
                mend--;
            }
            ret->message = cln_xstrndup(m, (size_t)(mend - m));
        } else {
            ret->message = cln_xstrndup(e, ll);
        }
    } else {
        ret->message = last_line(text, len);
    }
    /* XPC: the API server is away (starting, restarting): worth another go */
    bool xpc = memmem(text, len, "XPC connection", 14) || memmem(text, len, "xpc error", 9) ||
               memmem(text, len, "Connection invalid", 18);
    /* 1.x wraps a missing id in delete, stop and kill:
     * internalError: "failed to delete container" (cause: "notFound: ...") */
    if (strcmp(ret->code, "notFound") == 0 || memmem(text, len, "(cause: \"notFound", 17))
        ret->cls = CLN_APPLE_NOT_FOUND;
    else if (exit_status != 64 /* the argument parser's refusal */ &&
             (in(ret->code, transient, sizeof(transient) / sizeof(*transient)) || xpc))
        ret->cls = CLN_APPLE_TRANSIENT;
    else
        ret->cls = CLN_APPLE_PERMANENT;
}

void cln_apple_failure_done(struct cln_apple_failure *f)
{
    free(f->message);
    f->message = NULL;
}

void cln_apple_set_detail(struct cln_error *e, int exit_status, const struct cln_apple_failure *f)
{
    if (!e)
        return;
    struct cln_backend_detail *d = cln_backend_detail_new("apple");
    d->exit_status = exit_status;
    const char *m = f->message && *f->message ? f->message : "(no message)";
    d->api_message = f->code[0] ? cln_xasprintf("%s: %s", f->code, m) : cln_xstrdup(m);
    cln_error_set_detail(e, d);
}
