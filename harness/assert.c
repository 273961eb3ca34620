/* Expectations: exit codes, output, duration; diffs for people. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "text.h"
#include "runtime/base/buf.h"
#include "runtime/base/xalloc.h"

int cln_regex_match(const char *pattern, const char *subject, size_t len)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_MULTILINE,
                                   &code, &off, NULL);
    if (!re)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc =
        pcre2_match(re, (PCRE2_SPTR)(subject ? subject : ""), subject ? len : 0, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0 ? 1 : 0;
}

void cln_attempt_add_failure(struct cln_attempt *a, const char *what, const char *expected,
                             const char *actual, char *diff)
{
    a->failures = cln_xrealloc(a->failures, (a->nfailures + 1) * sizeof(*a->failures));
    struct cln_failure *f = &a->failures[a->nfailures++];
    f->what = cln_xstrdup(what);
    f->expected = cln_xstrdup(expected ? expected : "");
    f->actual = cln_xstrdup(actual ? actual : "");
    f->diff = diff;
}

/* Split into lines (without their newlines). */
static size_t split_lines(const char *s, char ***ret)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    const char *p = s ? s : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        v = cln_xgrow(v, &cap, n + 1, sizeof(*v));
        v[n++] = cln_xstrndup(p, len);
        p += len + (nl ? 1 : 0);
    }
    *ret = v;
    return n;
}

char *cln_line_diff(const char *expected, const char *actual)
{
    char **e = NULL, **a = NULL;
    size_t ne = split_lines(expected, &e), na = split_lines(actual, &a);
    /* LCS table, bounded: past 400 lines each, show the first difference. */
    struct cln_buf b = CLN_BUF_INIT;
    if (ne <= 400 && na <= 400) {
        size_t *t = cln_xcalloc((ne + 1) * (na + 1), sizeof(size_t));
#define T(i, j) t[(i) * (na + 1) + (j)]
        for (size_t i = ne; i-- > 0;)
            for (size_t j = na; j-- > 0;)
                T(i, j) = strcmp(e[i], a[j]) == 0
                              ? T(i + 1, j + 1) + 1
                              : (T(i + 1, j) > T(i, j + 1) ? T(i + 1, j) : T(i, j + 1));
        size_t i = 0, j = 0;
        while (i < ne || j < na) {
            if (i < ne && j < na && strcmp(e[i], a[j]) == 0) {
                cln_buf_printf(&b, "  %s\n", e[i]);
                i++;
                j++;
            } else if (i < ne && (j == na || T(i + 1, j) >= T(i, j + 1))) {
                cln_buf_printf(&b, "- %s\n", e[i++]);
            } else {
                cln_buf_printf(&b, "+ %s\n", a[j++]);
            }
        }
#undef T
        free(t);
    } else {
        size_t i = 0;
        while (i < ne && i < na && strcmp(e[i], a[i]) == 0)
            i++;
        cln_buf_printf(&b, "(first difference at line %zu)\n- %s\n+ %s\n", i + 1,
                       i < ne ? e[i] : "<end>", i < na ? a[i] : "<end>");
    }
    /* a trailing-newline difference is invisible line by line: say it */
    size_t le = expected ? strlen(expected) : 0, la = actual ? strlen(actual) : 0;
    bool nle = le && expected[le - 1] == '\n', nla = la && actual[la - 1] == '\n';
    if (nle != nla)
        cln_buf_printf(&b, "(%s ends with a newline, %s does not)\n", nle ? "expected" : "actual",
                       nle ? "actual" : "expected");
    for (size_t i = 0; i < ne; i++)
        free(e[i]);
    for (size_t i = 0; i < na; i++)
        free(a[i]);
    free(e);
    free(a);
    return cln_buf_steal(&b);
}

#define VIS (CLN_VIS_KEEP_NEWLINES | CLN_VIS_MARK_EOL_SPACE | CLN_VIS_KEEP_TABS)

/* Output quoted in a failure: visible, and at most CLN_QUOTE_CAP of it. */
static char *quote(const struct cln_capture *c)
{
    return cln_text_visible(c->data.data, c->data.len, CLN_QUOTE_CAP, VIS);
}

/* equals: the same length and the same bytes (a NUL is a byte like any
 * other); the diff is of the visible forms, so that NULs, control
 * characters and trailing spaces show. */
static void check_equals(const char *what, const char *want, size_t want_len,
                         const struct cln_capture *c, struct cln_attempt *a)
{
    if (c->data.len == want_len &&
        (!want_len || (c->data.data && memcmp(c->data.data, want, want_len) == 0)))
        return;
    char *ev = cln_text_visible(want, want_len, CLN_QUOTE_CAP, VIS);
    char *av = quote(c);
    char w[320];
    snprintf(w, sizeof(w), "%s equals", what);
    char *diff = cln_line_diff(ev, av);
    if (strcmp(ev, av) == 0) {
        /* the same when made visible, so the bytes beyond the cap differ */
        free(diff);
        diff = cln_xasprintf("(the first %zu bytes are equal; the lengths are %zu and %zu)\n",
                             CLN_QUOTE_CAP, want_len, c->data.len);
    }
    cln_attempt_add_failure(a, w, ev, av, diff);
    free(ev);
    free(av);
}

static void check_regex(const char *what, const char *regex, const struct cln_capture *c,
                        struct cln_attempt *a)
{
    if (cln_regex_match(regex, c->data.data, c->data.len) == 1)
        return;
    char w[320];
    snprintf(w, sizeof(w), "%s matches regex", what);
    char *av = quote(c);
    cln_attempt_add_failure(a, w, regex, av, NULL);
    free(av);
}

static void check_truncated(const char *what, bool checked, const struct cln_capture *c,
                            struct cln_attempt *a)
{
    if (!c->truncated || !checked)
        return;
    char w[320], actual[96];
    snprintf(w, sizeof(w), "%s was checked in full", what);
    snprintf(actual, sizeof(actual), "only the first %zu of %llu bytes were kept", c->data.len,
             (unsigned long long)c->total);
    cln_attempt_add_failure(a, w, "all of it kept", actual, NULL);
}

static void check_stream(const struct cln_stream_expect *x, const char *name,
                         const struct cln_capture *c, struct cln_attempt *a)
{
    const char *data = c->data.data ? c->data.data : "";
    char what[64];
    if (x->equals)
        check_equals(name, x->equals, strlen(x->equals), c, a);
    for (size_t i = 0; i < x->contains.n; i++)
        if (!memmem(data, c->data.len, x->contains.v[i], strlen(x->contains.v[i]))) {
            snprintf(what, sizeof(what), "%s contains", name);
            char *av = quote(c);
            cln_attempt_add_failure(a, what, x->contains.v[i], av, NULL);
            free(av);
        }
    for (size_t i = 0; i < x->not_contains.n; i++)
        if (memmem(data, c->data.len, x->not_contains.v[i], strlen(x->not_contains.v[i]))) {
            snprintf(what, sizeof(what), "%s does not contain", name);
            char *av = quote(c);
            cln_attempt_add_failure(a, what, x->not_contains.v[i], av, NULL);
            free(av);
        }
    if (x->regex)
        check_regex(name, x->regex, c, a);
    if (x->empty == 1 && c->total != 0) {
        snprintf(what, sizeof(what), "%s is empty", name);
        char *av = quote(c);
        cln_attempt_add_failure(a, what, "(nothing)", av, NULL);
        free(av);
    }
    if (x->empty == 0 && c->total == 0) {
        snprintf(what, sizeof(what), "%s is not empty", name);
        cln_attempt_add_failure(a, what, "(some output)", "(nothing)", NULL);
    }
    check_truncated(name, x->equals || x->contains.n || x->not_contains.n || x->regex, c, a);
}

void cln_check_content(const char *what, const char *equals, size_t equals_len, const char *regex,
                       const struct cln_capture *content, struct cln_attempt *a)
{
    if (equals)
        check_equals(what, equals, equals_len, content, a);
    if (regex)
        check_regex(what, regex, content, a);
    check_truncated(what, equals || regex, content, a);
}

void cln_check_expectations(const struct cln_spec_expect *x, struct cln_attempt *a)
{
    if (a->timed_out)
        return; /* the timeout is the failure */
    char actual[32], expected[160];
    snprintf(actual, sizeof(actual), "%d", a->exit_code);
    switch (x->exit_kind) {
    case CLN_EXIT_EXPECT_ANY:
        break;
    case CLN_EXIT_EXPECT_NONZERO:
        if (a->exit_code == 0)
            cln_attempt_add_failure(a, "exit code", "non-zero", actual, NULL);
        break;
    case CLN_EXIT_EXPECT_LIST: {
        bool ok = false;
        size_t o = 0;
        expected[0] = '\0';
        for (size_t i = 0; i < x->ncodes; i++) {
            ok = ok || x->codes[i] == a->exit_code;
            if (o < sizeof(expected) - 8)
                o += (size_t)snprintf(expected + o, sizeof(expected) - o, "%s%d",
                                      i ? (i + 1 == x->ncodes ? " or " : ", ") : "", x->codes[i]);
        }
        if (!ok)
            cln_attempt_add_failure(a, "exit code", expected, actual, NULL);
        break;
    }
    }
    check_stream(&x->out, "stdout", &a->out, a);
    check_stream(&x->err, "stderr", &a->err, a);
    if (x->max_duration_ms && a->duration_ms > x->max_duration_ms) {
        snprintf(expected, sizeof(expected), "at most %llu ms",
                 (unsigned long long)x->max_duration_ms);
        snprintf(actual, sizeof(actual), "%llu ms", (unsigned long long)a->duration_ms);
        cln_attempt_add_failure(a, "duration", expected, actual, NULL);
    }
}
