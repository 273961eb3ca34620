/* Expectations: exit codes, output, duration and files (by lstat inside
 * the container); diffs for people. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"
#include "regex.h"
#include "runner-internal.h"
#include "text.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

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

static void check_not_regex(const char *what, const char *regex, const struct cln_capture *c,
                            struct cln_attempt *a)
{
    if (cln_regex_match(regex, c->data.data, c->data.len) != 1)
        return;
    char w[320];
    snprintf(w, sizeof(w), "%s does not match regex", what);
    char *av = quote(c);
    cln_attempt_add_failure(a, w, regex, av, NULL);
    free(av);
}

/* ---- JSON values ---- */

static const char *json_kind(const cJSON *j)
{
    return cJSON_IsObject(j)   ? "an object"
           : cJSON_IsArray(j)  ? "an array"
           : cJSON_IsString(j) ? "a string"
           : cJSON_IsNumber(j) ? "a number"
           : cJSON_IsBool(j)   ? "a boolean"
                               : "null";
}

/* j as compact JSON, at most CLN_QUOTE_CAP of it. */
static char *json_text(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (!s)
        return cln_xstrdup("?");
    char *v = cln_text_visible(s, strlen(s), CLN_QUOTE_CAP, VIS);
    cJSON_free(s);
    return v;
}

/* Follow path ("$", .key, ['key'], [N]) from root.  NULL when a step is
 * missing, with *why saying where it stopped. */
static const cJSON *json_follow(const cJSON *root, const char *path, char **why)
{
    const cJSON *cur = root;
    struct cln_buf at = CLN_BUF_INIT;
    cln_buf_putc(&at, '$');
    const char *p = path + 1;
    while (*p) {
        char key[256];
        long idx = -1;
        const char *start = p;
        if (*p == '.') {
            size_t n = strcspn(p + 1, ".[");
            snprintf(key, sizeof(key), "%.*s", (int)n, p + 1);
            p += 1 + n;
        } else if (p[1] == '\'' || p[1] == '"') {
            const char *end = strchr(p + 2, p[1]);
            snprintf(key, sizeof(key), "%.*s", (int)(end - p - 2), p + 2);
            p = end + 2;
        } else {
            idx = strtol(p + 1, NULL, 10);
            p = strchr(p, ']') + 1;
        }
        const cJSON *next = NULL;
        if (idx >= 0) {
            if (!cJSON_IsArray(cur))
                *why = cln_xasprintf("%s is %s, not an array", at.data, json_kind(cur));
            else if (!(next = cJSON_GetArrayItem(cur, (int)idx)))
                *why = cln_xasprintf("%s has %d elements: no [%ld]", at.data,
                                     cJSON_GetArraySize(cur), idx);
        } else {
            if (!cJSON_IsObject(cur)) {
                *why = cln_xasprintf("%s is %s, not an object", at.data, json_kind(cur));
            } else if (!(next = cJSON_GetObjectItemCaseSensitive(cur, key))) {
                struct cln_buf keys = CLN_BUF_INIT;
                int k = 0;
                for (const cJSON *c = cur->child; c && k < 20; c = c->next, k++)
                    cln_buf_printf(&keys, "%s\"%s\"", k ? ", " : "", c->string ? c->string : "");
                if (cur->child && k == 20)
                    cln_buf_printf(&keys, ", ...");
                *why = cln_xasprintf("%s has no key \"%s\" (its keys: %s)", at.data, key,
                                     keys.data ? keys.data : "none");
                cln_buf_done(&keys);
            }
        }
        if (!next) {
            cln_buf_done(&at);
            return NULL;
        }
        cln_buf_append(&at, start, (size_t)(p - start));
        cur = next;
    }
    cln_buf_done(&at);
    return cur;
}

static void check_json(const char *what, const struct cln_json_expect *je, const cJSON *doc,
                       struct cln_attempt *a)
{
    char w[512];
    char *why = NULL;
    const cJSON *v = json_follow(doc, je->path, &why);
    if (!v) {
        if (je->exists != 0) {
            snprintf(w, sizeof(w), "%s json %s exists", what, je->path);
            cln_attempt_add_failure(a, w, je->equals ? je->equals : "(a value)", why, NULL);
        }
        free(why);
        return;
    }
    if (je->exists == 0) {
        snprintf(w, sizeof(w), "%s json %s is absent", what, je->path);
        char *av = json_text(v);
        cln_attempt_add_failure(a, w, "(no value)", av, NULL);
        free(av);
        return;
    }
    if (je->equals) {
        cJSON *want = cJSON_Parse(je->equals);
        if (!want || !cJSON_Compare(v, want, true)) {
            snprintf(w, sizeof(w), "%s json %s equals", what, je->path);
            char *av = json_text(v);
            cln_attempt_add_failure(a, w, je->equals, av, NULL);
            free(av);
        }
        cJSON_Delete(want);
    }
    if (je->regex) {
        char *text = cJSON_IsString(v) ? cln_xstrdup(v->valuestring) : cJSON_PrintUnformatted(v);
        if (text && cln_regex_match(je->regex, text, strlen(text)) != 1) {
            snprintf(w, sizeof(w), "%s json %s matches regex", what, je->path);
            char *av = json_text(v);
            cln_attempt_add_failure(a, w, je->regex, av, NULL);
            free(av);
        }
        free(text); /* cJSON's allocator is the default one */
    }
}

/* regex (each), not_regex (none) and json of content. */
static void check_content_expect(const char *what, const struct cln_content_expect *x,
                                 const struct cln_capture *c, struct cln_attempt *a)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->regex.n; i++)
        check_regex(what, x->regex.v[i], c, a);
    for (size_t i = 0; i < x->not_regex.n; i++)
        check_not_regex(what, x->not_regex.v[i], c, a);
    if (!x->njson)
        return;
    const char *end = NULL;
    cJSON *doc =
        cJSON_ParseWithLengthOpts(c->data.data ? c->data.data : "", c->data.len, &end, false);
    if (doc) { /* nothing but white space after the document */
        const char *stop = (c->data.data ? c->data.data : "") + c->data.len;
        while (end < stop && strchr(" \t\r\n", *end))
            end++;
        if (end != stop) {
            cJSON_Delete(doc);
            doc = NULL;
        }
    }
    if (!doc) {
        char w[320], *av = quote(c);
        snprintf(w, sizeof(w), "%s is JSON", what);
        size_t off = end && c->data.data ? (size_t)(end - c->data.data) : 0;
        char *act = cln_xasprintf("not JSON (at byte %zu): %s", off, av);
        cln_attempt_add_failure(a, w, "a JSON document", act, NULL);
        free(act);
        free(av);
        return;
    }
    for (size_t i = 0; i < x->njson; i++)
        check_json(what, &x->json[i], doc, a);
    cJSON_Delete(doc);
}

static bool content_checked(const struct cln_content_expect *x)
{
    return x && (x->regex.n || x->not_regex.n || x->njson);
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
    check_content_expect(name, &x->content, c, a);
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
    check_truncated(name,
                    x->equals || x->contains.n || x->not_contains.n || content_checked(&x->content),
                    c, a);
}

void cln_check_content(const char *what, const char *equals, size_t equals_len,
                       const struct cln_content_expect *x, const struct cln_capture *content,
                       struct cln_attempt *a)
{
    if (equals)
        check_equals(what, equals, equals_len, content, a);
    check_content_expect(what, x, content, a);
    check_truncated(what, equals || content_checked(x), content, a);
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

static int stat_files(struct cln_runtime *rt, const char *id, const struct cln_spec_expect *x,
                      uint64_t timeout_ms, struct file_stat *ret, struct cln_attempt *a)
{
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
        .argv = argv, .user = "0", .timeout_ms = timeout_ms, .output_cap = 1 << 16};
    struct cln_exec_result er;
    struct cln_error *e = NULL;
    int r = cln_rt_exec(rt, id, &ec, &er, &e);
    free(argv);
    if (r < 0) {
        cln_runner_attempt_error(a, cln_runner_wrap(e, "expect.files: look at the files"));
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
        cln_runner_attempt_error(
            a, cln_error_make(CLN_E_BACKEND, 0,
                              "expect.files: looking at the files failed (exit %d): %.*s",
                              er.exit_code, (int)(er.err.data.len > 200 ? 200 : er.err.data.len),
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

void cln_check_files(struct cln_runtime *rt, const char *id, const struct cln_spec_expect *x,
                     uint64_t timeout_ms, struct cln_attempt *a)
{
    struct file_stat *st = cln_xcalloc(x->nfiles, sizeof(*st));
    if (stat_files(rt, id, x, timeout_ms, st, a) < 0) {
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
        if (!f->equals && !content_checked(&f->content))
            continue;
        struct cln_capture content;
        memset(&content, 0, sizeof(content));
        bool found = false;
        struct cln_error *e = NULL;
        if (read_content(rt, id, f->path, &content, &found, &e) < 0) {
            cln_runner_attempt_error(a, e);
            continue;
        }
        if (!found) {
            snprintf(what, sizeof(what), "file %s is a regular file", f->path);
            cln_attempt_add_failure(a, what, "a regular file (for its content)",
                                    cln_file_type_name(fs->type), NULL);
            continue;
        }
        snprintf(what, sizeof(what), "file %s", f->path);
        cln_check_content(what, f->equals, f->equals_len, &f->content, &content, a);
        cln_capture_done(&content);
    }
    free(st);
}
