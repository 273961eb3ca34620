/* The spec loader: TOML tree -> tests, with every check done up front. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "spec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ftw.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "spec-schema.h"
#include "toml/toml.h"

typedef const struct cln_toml_value tv;

struct loader {
    struct cln_toml_doc *doc;
    const char *path;
    char *dir;
    char *real_dir; /* dir, canonical (realpath) */
    unsigned allow; /* enum cln_allow bits of the run */
    struct cln_labels vars;
    struct cln_labels matrix;
    struct cln_strv host_env; /* allowlist */
    const struct cln_toml_value *services_tbl;
};

/* ---- small helpers ---- */

void cln_strv_done(struct cln_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void strv_push(struct cln_strv *v, char *s)
{
    v->v = cln_xrealloc(v->v, (v->n + 2) * sizeof(char *));
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
}

size_t cln_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    /* Optimal string alignment: Levenshtein plus adjacent transpositions
     * ("rnu" is one edit from "run"). */
    size_t pp[65], prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = pp[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t best = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        memcpy(pp, prev, (lb + 1) * sizeof(size_t));
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static int __attribute__((format(printf, 4, 5)))
err_at(struct loader *L, struct cln_toml_pos pos, struct cln_error **err, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cln_error_set(err, CLN_E_SPEC, 0, "%s:%u:%u: %s", L->path, pos.line, pos.col, msg);
}

/* The closest of the candidates to word, or NULL when none is close. */
static const char *suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = 99, len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = cln_edit_distance(word, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return bd <= limit ? best : NULL;
}

/* Every key of table t must be one of allowed. */
static int check_keys(struct loader *L, tv *t, const char *where, const char *const *allowed,
                      size_t n, struct cln_error **err)
{
    for (size_t i = 0; i < cln_toml_table_len(t); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(t, i);
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++)
            ok = strcmp(e->key, allowed[j]) == 0;
        if (ok)
            continue;
        const char *s = suggest(e->key, allowed, n);
        char hint[96] = "";
        if (s)
            snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", s);
        struct cln_buf list = CLN_BUF_INIT;
        for (size_t j = 0; j < n; j++)
            cln_buf_printf(&list, "%s%s", j ? ", " : "", allowed[j]);
        int r = err_at(L, e->pos, err, "unknown key \"%s\" in %s%s; known keys: %s", e->key, where,
                       hint, list.data);
        cln_buf_done(&list);
        return r;
    }
    return 0;
}

#define CHECK_KEYS(L, t, where, err, ...)                                                          \
    ({                                                                                             \
        static const char *const allowed_[] = {__VA_ARGS__};                                       \
        check_keys(L, t, where, allowed_, CLN_ARRAY_SIZE(allowed_), err);                          \
    })

static const char *type_article(enum cln_toml_type t)
{
    return t == CLN_TOML_INTEGER || t == CLN_TOML_ARRAY || t == CLN_TOML_DATETIME ? "an" : "a";
}

static int want_type(struct loader *L, tv *v, enum cln_toml_type t, const char *what,
                     struct cln_error **err)
{
    if (v->type == t)
        return 0;
    return err_at(L, v->pos, err, "%s must be %s %s, not %s %s", what, type_article(t),
                  cln_toml_type_name(t), type_article(v->type), cln_toml_type_name(v->type));
}

/* ---- interpolation ---- */

/* Expand ${name}, ${matrix.name}, ${env.NAME}; keep ${service.*} for the
 * runner (checked here); $$ is a literal $. */
static int interp(struct loader *L, tv *v, const char *what, char **ret, struct cln_error **err)
{
    const char *s = v->u.str.ptr;
    if (memchr(s, '\0', v->u.str.len))
        return err_at(L, v->pos, err, "%s contains a NUL character", what);
    struct cln_buf b = CLN_BUF_INIT;
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            cln_buf_putc(&b, '$');
            p += 2;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            cln_buf_putc(&b, *p++);
            continue;
        }
        const char *end = strchr(p + 2, '}');
        if (!end) {
            cln_buf_done(&b);
            return err_at(L, v->pos, err, "%s: unterminated \"${\" (write $$ for a literal $)",
                          what);
        }
        char *name = cln_xstrndup(p + 2, (size_t)(end - p - 2));
        const char *val = NULL;
        bool keep = false;
        if (strncmp(name, "matrix.", 7) == 0) {
            val = cln_labels_get(&L->matrix, name + 7);
        } else if (strncmp(name, "env.", 4) == 0) {
            bool allowed = false;
            for (size_t i = 0; i < L->host_env.n; i++)
                allowed = allowed || strcmp(L->host_env.v[i], name + 4) == 0;
            if (!allowed) {
                int r = err_at(L, v->pos, err,
                               "%s: ${%s} reads the host environment, but \"%s\" is not in "
                               "[test] host_env (the allowlist)",
                               what, name, name + 4);
                free(name);
                cln_buf_done(&b);
                return r;
            }
            val = getenv(name + 4);
            if (!val)
                val = "";
        } else if (strncmp(name, "service.", 8) == 0) {
            /* service.NAME.host or service.NAME.port.N: resolved when running */
            char svc[128];
            const char *rest = name + 8, *dot = strchr(rest, '.');
            size_t sl = dot ? (size_t)(dot - rest) : strlen(rest);
            snprintf(svc, sizeof(svc), "%.*s", (int)sl, rest);
            const struct cln_toml_entry *se = cln_toml_table_find(L->services_tbl, svc);
            bool form_ok = dot && (strcmp(dot, ".host") == 0 || strncmp(dot, ".port.", 6) == 0);
            if (!se || !form_ok) {
                int r = err_at(L, v->pos, err,
                               se ? "%s: ${%s}: use ${service.NAME.host} or "
                                    "${service.NAME.port.PORT}"
                                  : "%s: ${%s}: no service \"%s\" in this spec",
                               what, name, svc);
                free(name);
                cln_buf_done(&b);
                return r;
            }
            if (strncmp(dot, ".port.", 6) == 0) {
                /* PORT: digits, 1-65535, and one the service publishes */
                const char *ps = dot + 6;
                char *pend = NULL;
                long port = strtol(ps, &pend, 10);
                bool digits = *ps >= '0' && *ps <= '9' && pend && !*pend;
                bool listed = false;
                const struct cln_toml_entry *pe = se->value->type == CLN_TOML_TABLE
                                                      ? cln_toml_table_find(se->value, "ports")
                                                      : NULL;
                for (size_t k = 0;
                     pe && pe->value->type == CLN_TOML_ARRAY && k < cln_toml_array_len(pe->value);
                     k++) {
                    tv *pv = cln_toml_array_at(pe->value, k);
                    listed = listed || (pv->type == CLN_TOML_INTEGER && pv->u.integer == port);
                }
                bool number = digits && port >= 1 && port <= 65535;
                if (!number || !listed) {
                    int r = number ? err_at(L, v->pos, err,
                                            "%s: ${%s}: service \"%s\" does not publish port %ld "
                                            "(add it to its ports)",
                                            what, name, svc, port)
                                   : err_at(L, v->pos, err,
                                            "%s: ${%s}: \"%s\" is not a port number (1-65535)",
                                            what, name, ps);
                    free(name);
                    cln_buf_done(&b);
                    return r;
                }
            }
            keep = true;
        } else {
            val = cln_labels_get(&L->vars, name);
        }
        if (!val && !keep) {
            int r;
            if (strncmp(name, "matrix.", 7) == 0)
                r = err_at(L, v->pos, err, "%s: ${%s}: no such key in [matrix]", what, name);
            else
                r = err_at(L, v->pos, err,
                           "%s: unknown variable ${%s} (define it in [vars]; write $$ for a "
                           "literal $)",
                           what, name);
            free(name);
            cln_buf_done(&b);
            return r;
        }
        if (keep)
            cln_buf_append(&b, p, (size_t)(end - p + 1));
        else
            cln_buf_puts(&b, val);
        free(name);
        p = end + 1;
    }
    *ret = cln_buf_steal(&b);
    return 0;
}

static int get_str(struct loader *L, tv *t, const char *key, const char *where, char **ret,
                   struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.%s", where, key);
    int r = want_type(L, e->value, CLN_TOML_STRING, what, err);
    if (r < 0)
        return r;
    r = interp(L, e->value, what, ret, err);
    return r < 0 ? r : 1;
}

static int get_bool(struct loader *L, tv *t, const char *key, const char *where, bool *ret,
                    struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.%s", where, key);
    int r = want_type(L, e->value, CLN_TOML_BOOL, what, err);
    if (r < 0)
        return r;
    *ret = e->value->u.boolean;
    return 1;
}

static int get_int(struct loader *L, tv *t, const char *key, const char *where, int64_t lo,
                   int64_t hi, int64_t *ret, struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.%s", where, key);
    int r = want_type(L, e->value, CLN_TOML_INTEGER, what, err);
    if (r < 0)
        return r;
    if (e->value->u.integer < lo || e->value->u.integer > hi)
        return err_at(L, e->value->pos, err, "%s must be between %lld and %lld", what,
                      (long long)lo, (long long)hi);
    *ret = e->value->u.integer;
    return 1;
}

static int get_duration(struct loader *L, tv *t, const char *key, const char *where, uint64_t *ret,
                        struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.%s", where, key);
    if (e->value->type != CLN_TOML_STRING)
        return err_at(L, e->value->pos, err,
                      "%s must be a duration string such as \"5s\", not %s %s", what,
                      type_article(e->value->type), cln_toml_type_name(e->value->type));
    cleanup_free char *s = NULL;
    int r = interp(L, e->value, what, &s, err);
    if (r < 0)
        return r;
    struct cln_error *de = NULL;
    if (cln_duration_parse(s, ret, &de) < 0) {
        r = err_at(L, e->value->pos, err, "%s: %s", what, de->msg);
        cln_error_free(de);
        return r;
    }
    return 1;
}

/* A duration that is a limit (a timeout, an interval): zero is refused,
 * it would mean "no limit" or "no pause" by accident; no limit is the key
 * left out. */
static int get_limit(struct loader *L, tv *t, const char *key, const char *where, uint64_t *ret,
                     struct cln_error **err)
{
    uint64_t v = 0;
    int r = get_duration(L, t, key, where, &v, err);
    if (r <= 0)
        return r;
    if (v == 0)
        return err_at(L, cln_toml_table_find(t, key)->value->pos, err,
                      "%s.%s is zero: give a positive duration (leave the key out for %s)", where,
                      key, strcmp(key, "interval") == 0 ? "the default" : "no limit of its own");
    *ret = v;
    return 1;
}

/* A string array (or, when allow_string, a single string as one item). */
static int get_strv(struct loader *L, tv *t, const char *key, const char *where,
                    struct cln_strv *ret, struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.%s", where, key);
    int r = want_type(L, e->value, CLN_TOML_ARRAY, what, err);
    if (r < 0)
        return r;
    struct cln_strv v = {0};
    strv_push(&v, NULL);
    v.n = 0;
    for (size_t i = 0; i < cln_toml_array_len(e->value); i++) {
        tv *item = cln_toml_array_at(e->value, i);
        char iw[256];
        snprintf(iw, sizeof(iw), "%s[%zu]", what, i);
        char *s = NULL;
        r = want_type(L, item, CLN_TOML_STRING, iw, err);
        if (r == 0)
            r = interp(L, item, iw, &s, err);
        if (r < 0) {
            cln_strv_done(&v);
            return r;
        }
        strv_push(&v, s);
    }
    *ret = v;
    return 1;
}

/* A table of string values (env). */
static int get_env(struct loader *L, tv *t, const char *key, const char *where,
                   struct cln_labels *ret, struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, key);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.%s", where, key);
    int r = want_type(L, e->value, CLN_TOML_TABLE, what, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < cln_toml_table_len(e->value); i++) {
        const struct cln_toml_entry *kv = cln_toml_table_at(e->value, i);
        char iw[400];
        snprintf(iw, sizeof(iw), "%s.%s", what, kv->key);
        if (kv->keylen == 0 || strchr(kv->key, '='))
            return err_at(L, kv->pos, err, "%s: invalid environment variable name", iw);
        char *s = NULL;
        r = want_type(L, kv->value, CLN_TOML_STRING, iw, err);
        if (r == 0)
            r = interp(L, kv->value, iw, &s, err);
        if (r < 0)
            return r;
        cln_labels_set(ret, kv->key, s);
        free(s);
    }
    return 1;
}

static int parse_size(const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    static const struct {
        const char *u;
        double m;
    } units[] = {{"", 1},           {"b", 1},           {"k", 1024},        {"kb", 1024},
                 {"kib", 1024},     {"m", 1048576},     {"mb", 1048576},    {"mib", 1048576},
                 {"g", 1073741824}, {"gb", 1073741824}, {"gib", 1073741824}};
    char u[8];
    size_t n = strlen(end);
    if (n >= sizeof(u))
        return -1;
    for (size_t i = 0; i <= n; i++)
        u[i] = (char)(end[i] >= 'A' && end[i] <= 'Z' ? end[i] + 32 : end[i]);
    for (size_t i = 0; i < CLN_ARRAY_SIZE(units); i++)
        if (strcmp(u, units[i].u) == 0) {
            *ret = (int64_t)(v * units[i].m);
            return 0;
        }
    return -1;
}

static int check_regex(struct loader *L, tv *v, const char *re, const char *what,
                       struct cln_error **err)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_MULTILINE, &code, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return 0;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    return err_at(L, v->pos, err, "%s: invalid regular expression at offset %zu: %s", what,
                  (size_t)off, (const char *)msg);
}

/* ---- files (images' build contexts and services' files) ---- */

#define SOURCE_MAX ((size_t)64 << 20) /* a files[].source may be at most this big */

static void add_use(struct cln_spec_test *t, enum cln_allow what, struct cln_toml_pos pos,
                    char *desc);

/* Open path (canonical) for reading as a regular file, never blocking (a
 * FIFO) and never through a symlink.  Inside the spec's directory it is
 * opened beneath that directory (openat2 RESOLVE_BENEATH), so that nothing
 * swapped in after the check leads out of it. */
static int open_source(const struct loader *L, const char *real, bool inside)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
#ifdef SYS_openat2
    if (inside) {
        cleanup_close int dfd = open(L->real_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return -1;
        struct {
            uint64_t flags, mode, resolve;
        } how = {.flags = (uint64_t)flags,
                 .resolve = 0x08 /* RESOLVE_BENEATH */ | 0x04 /* NO_SYMLINKS */ |
                            0x02 /* NO_MAGICLINKS */};
        int fd = (int)syscall(SYS_openat2, dfd, real + strlen(L->real_dir) + 1, &how, sizeof(how));
        if (fd >= 0 || errno != ENOSYS)
            return fd;
    }
#endif
    (void)inside;
    return open(real, flags);
}

/* files[].source: a file relative to the spec's directory.  Resolved
 * (symlinks too) before any check; outside the directory it needs
 * --allow-host-files (recorded as a use: cln_spec_check_allowed refuses it
 * with file:line:col), and is not read without it; it must be a regular
 * file, never a FIFO, a device, a directory or a /proc or /sys file.
 * Returns 1 when read, 0 when left for the flag's check. */
static int read_source(struct loader *L, struct cln_spec_test *t, tv *v, const char *what,
                       const char *source, struct cln_buf *out, uint32_t *mode,
                       struct cln_error **err)
{
    cleanup_free char *joined =
        source[0] == '/' ? cln_xstrdup(source) : cln_xasprintf("%s/%s", L->dir, source);
    cleanup_free char *real = realpath(joined, NULL);
    if (!real)
        return err_at(L, v->pos, err, "%s \"%s\": %s", what, source, strerror(errno));
    size_t dl = strlen(L->real_dir);
    bool inside = strncmp(real, L->real_dir, dl) == 0 && real[dl] == '/';
    if (!inside && !(L->allow & CLN_ALLOW_HOST_FILES)) {
        add_use(t, CLN_ALLOW_HOST_FILES, v->pos,
                cln_xasprintf("%s \"%s\" is the host file %s, outside the spec's directory %s",
                              what, source, real, L->real_dir));
        return 0;
    }
    cleanup_close int fd = open_source(L, real, inside);
    if (fd < 0)
        return err_at(L, v->pos, err, "%s \"%s\" (%s): %s", what, source, real,
                      errno == ELOOP || errno == EXDEV
                          ? "it changed to lead out of the spec's directory"
                          : strerror(errno));
    struct stat st;
    struct statfs sf;
    if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0)
        return err_at(L, v->pos, err, "%s \"%s\": %s", what, source, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_at(L, v->pos, err,
                      "%s \"%s\" (%s) is not a regular file (a directory, FIFO, socket or "
                      "device is never copied)",
                      what, source, real);
    if (sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC)
        return err_at(L, v->pos, err,
                      "%s \"%s\" (%s) is in /proc or /sys: the host's state, never a file to "
                      "copy",
                      what, source, real);
    if ((uint64_t)st.st_size > SOURCE_MAX)
        return err_at(L, v->pos, err, "%s \"%s\" is larger than %zu MiB", what, source,
                      SOURCE_MAX >> 20);
    *mode = st.st_mode & 0777;
    char tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0 && out->len <= SOURCE_MAX)
        cln_buf_append(out, tmp, (size_t)n);
    if (n < 0)
        return err_at(L, v->pos, err, "%s \"%s\": %s", what, source, strerror(errno));
    if (out->len > SOURCE_MAX)
        return err_at(L, v->pos, err, "%s \"%s\" is larger than %zu MiB", what, source,
                      SOURCE_MAX >> 20);
    return 1;
}

static int load_files(struct loader *L, struct cln_spec_test *test, tv *t, const char *where,
                      bool in_container, struct cln_spec_file_item **ret, size_t *ret_n,
                      struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(t, "files");
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof(what), "%s.files", where);
    int r = want_type(L, e->value, CLN_TOML_ARRAY, what, err);
    if (r < 0)
        return r;
    size_t n = cln_toml_array_len(e->value);
    struct cln_spec_file_item *items = cln_xcalloc(n ? n : 1, sizeof(*items));
    size_t done = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        tv *f = cln_toml_array_at(e->value, i);
        char fw[256];
        snprintf(fw, sizeof(fw), "%s[%zu]", what, i);
        r = want_type(L, f, CLN_TOML_TABLE, fw, err);
        if (r == 0)
            r = CHECK_KEYS(L, f, fw, err, "path", "content", "source", "mode");
        char *path = NULL, *content = NULL, *source = NULL;
        int64_t mode = 0;
        if (r == 0 && (r = get_str(L, f, "path", fw, &path, err)) == 0)
            r = err_at(L, f->pos, err, "%s: \"path\" is required", fw);
        if (r >= 0)
            r = get_str(L, f, "content", fw, &content, err);
        if (r >= 0)
            r = get_str(L, f, "source", fw, &source, err);
        if (r >= 0)
            r = get_int(L, f, "mode", fw, 0, 07777, &mode, err);
        if (r >= 0 && !!content == !!source)
            r = err_at(L, f->pos, err, "%s: give exactly one of \"content\" or \"source\"", fw);
        if (r >= 0 && !path)
            r = err_at(L, f->pos, err, "%s: \"path\" is required", fw);
        if (r >= 0 && path && in_container && path[0] != '/')
            r = err_at(L, f->pos, err, "%s: path \"%s\" must be absolute (in the container)", fw,
                       path);
        if (r >= 0 && path && (!*path || path[strlen(path) - 1] == '/'))
            r = err_at(L, cln_toml_table_find(f, "path")->value->pos, err,
                       "%s: path \"%s\" names a directory, not a file", fw, path);
        if (r >= 0 && path && !in_container && (path[0] == '/' || strstr(path, "..")))
            r = err_at(L, f->pos, err,
                       "%s: path \"%s\" must be relative to the build context, without \"..\"", fw,
                       path);
        if (r >= 0) {
            struct cln_spec_file_item *it = &items[done++];
            it->path = CLN_TAKE(path);
            it->mode = (uint32_t)mode;
            if (content) {
                it->len = strlen(content);
                it->data = CLN_TAKE(content);
            } else if (source) {
                struct cln_buf b = CLN_BUF_INIT;
                uint32_t m = 0644;
                char sw[300];
                snprintf(sw, sizeof(sw), "%s.source", fw);
                int rr = read_source(L, test, cln_toml_table_find(f, "source")->value, sw, source,
                                     &b, &m, err);
                if (rr < 0) {
                    r = rr;
                    cln_buf_done(&b);
                } else {
                    it->len = b.len;
                    it->data = cln_buf_steal(&b);
                    if (!it->mode)
                        it->mode = m;
                }
            }
            r = r > 0 ? 0 : r;
        }
        free(path);
        free(content);
        free(source);
    }
    *ret = items;
    *ret_n = done;
    return r < 0 ? r : 1;
}

/* ---- sections ---- */

/* FNV-1a 64 over the inputs of a build. */
static void build_hash(struct cln_spec_image *im)
{
    uint64_t h = 1469598103934665603ULL;
#define MIX(p, n)                                                                                  \
    for (size_t k_ = 0; k_ < (n); k_++) {                                                          \
        h ^= ((const unsigned char *)(p))[k_];                                                     \
        h *= 1099511628211ULL;                                                                     \
    }
    MIX(im->dockerfile, strlen(im->dockerfile) + 1);
    MIX(&im->outbound, sizeof(im->outbound)); /* what RUN could reach changes what it made */
    for (size_t i = 0; i < im->nfiles; i++) {
        MIX(im->files[i].path, strlen(im->files[i].path) + 1);
        MIX(&im->files[i].mode, sizeof(im->files[i].mode));
        MIX(im->files[i].data, im->files[i].len);
        MIX(&im->files[i].len, sizeof(im->files[i].len));
    }
#undef MIX
    snprintf(im->hash, sizeof(im->hash), "%016llx", (unsigned long long)h);
}

/* The images a Dockerfile builds FROM (not its own stages), for the
 * build's hash: a new image under the same tag must make a new build. */
static void dockerfile_bases(struct cln_spec_image *im)
{
    char **stages = NULL;
    size_t nstages = 0;
    for (const char *p = im->dockerfile; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1),
                 p);
        p += len + (nl ? 1 : 0);
        char *w[8];
        size_t nw = 0;
        for (char *tok = line; nw < 8;) {
            while (*tok == ' ' || *tok == '\t' || *tok == '\r')
                tok++;
            if (!*tok)
                break;
            w[nw++] = tok;
            while (*tok && *tok != ' ' && *tok != '\t' && *tok != '\r')
                tok++;
            if (*tok)
                *tok++ = '\0';
        }
        if (nw < 2 || strcasecmp(w[0], "FROM") != 0)
            continue;
        size_t k = 1;
        while (k < nw && strncmp(w[k], "--", 2) == 0)
            k++; /* --platform=... */
        if (k >= nw)
            continue;
        bool stage = false;
        for (size_t i = 0; i < nstages && !stage; i++)
            stage = strcasecmp(stages[i], w[k]) == 0;
        if (!stage) {
            im->bases = cln_xrealloc(im->bases, (im->nbases + 2) * sizeof(char *));
            im->bases[im->nbases++] = cln_xstrdup(w[k]);
            im->bases[im->nbases] = NULL;
        }
        if (k + 2 < nw && strcasecmp(w[k + 1], "AS") == 0) {
            stages = cln_xrealloc(stages, (nstages + 1) * sizeof(char *));
            stages[nstages++] = cln_xstrdup(w[k + 2]);
        }
    }
    cln_strv_free(stages, nstages);
}

static int load_images(struct loader *L, tv *root, struct cln_spec_test *t, struct cln_error **err)
{
    tv *imgs = NULL;
    int r = cln_toml_get_table(L->doc, root, "images", &imgs, err);
    if (r <= 0)
        return r;
    size_t n = cln_toml_table_len(imgs);
    t->images = cln_xcalloc(n ? n : 1, sizeof(*t->images));
    for (size_t i = 0; i < n; i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(imgs, i);
        char where[160];
        snprintf(where, sizeof(where), "images.%s", e->key);
        r = want_type(L, e->value, CLN_TOML_TABLE, where, err);
        if (r == 0)
            r = CHECK_KEYS(L, e->value, where, err, "ref", "pull", "dockerfile", "files",
                           "outbound");
        if (r < 0)
            return r;
        struct cln_spec_image *im = &t->images[t->nimages++];
        im->name = cln_xstrdup(e->key);
        im->pull = CLN_PULL_IF_MISSING;
        char *pull = NULL;
        if ((r = get_str(L, e->value, "ref", where, &im->ref, err)) < 0 ||
            (r = get_str(L, e->value, "dockerfile", where, &im->dockerfile, err)) < 0 ||
            (r = get_str(L, e->value, "pull", where, &pull, err)) < 0)
            return r;
        if (pull) {
            const struct cln_toml_entry *pe = cln_toml_table_find(e->value, "pull");
            if (strcmp(pull, "never") == 0)
                im->pull = CLN_PULL_NEVER;
            else if (strcmp(pull, "if-missing") == 0)
                im->pull = CLN_PULL_IF_MISSING;
            else if (strcmp(pull, "always") == 0)
                im->pull = CLN_PULL_ALWAYS;
            else
                r = err_at(L, pe->value->pos, err,
                           "%s.pull: \"%s\" is not a pull policy (never, if-missing, always)",
                           where, pull);
            free(pull);
            if (r < 0)
                return r;
        }
        if (!!im->ref == !!im->dockerfile)
            return err_at(L, e->value->pos, err,
                          "%s: give exactly one of \"ref\" (an image to use) or \"dockerfile\" "
                          "(an image to build)",
                          where);
        if (im->ref && cln_toml_table_find(e->value, "files"))
            return err_at(L, cln_toml_table_find(e->value, "files")->pos, err,
                          "%s: \"files\" only goes with \"dockerfile\"", where);
        if (im->dockerfile && cln_toml_table_find(e->value, "pull"))
            return err_at(L, cln_toml_table_find(e->value, "pull")->pos, err,
                          "%s: \"pull\" only goes with \"ref\"", where);
        r = load_files(L, t, e->value, where, false, &im->files, &im->nfiles, err);
        if (r < 0)
            return r;
        if ((r = get_bool(L, e->value, "outbound", where, &im->outbound, err)) < 0)
            return r;
        if (r > 0 && !im->dockerfile)
            return err_at(L, cln_toml_table_find(e->value, "outbound")->pos, err,
                          "%s: \"outbound\" only goes with \"dockerfile\" (a build's RUN steps)",
                          where);
        if (im->outbound)
            add_use(t, CLN_ALLOW_OUTBOUND, cln_toml_table_find(e->value, "outbound")->pos,
                    cln_xasprintf("%s.outbound = true (the build's RUN steps reach the network)",
                                  where));
        if (im->dockerfile)
            dockerfile_bases(im);
        if (im->dockerfile) {
            build_hash(im);
            im->ref = cln_xasprintf("localhost/cleanrun/spec-%s:%s", im->name, im->hash);
            for (char *c = im->ref; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
        }
    }
    return 0;
}

static int find_image(const struct cln_spec_test *t, const char *name)
{
    for (size_t i = 0; i < t->nimages; i++)
        if (strcmp(t->images[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* image = "name" (an [images] key) or a literal reference (with ':' or '/'). */
static int resolve_image(struct loader *L, struct cln_spec_test *t, tv *v, const char *ref,
                         const char *what, char **ret, int *ret_idx, struct cln_error **err)
{
    int idx = find_image(t, ref);
    if (idx >= 0) {
        *ret = cln_xstrdup(t->images[idx].ref);
        *ret_idx = idx;
        return 0;
    }
    if (!strchr(ref, ':') && !strchr(ref, '/') && !strchr(ref, '@')) {
        const char *names[64];
        size_t n = 0;
        for (size_t i = 0; i < t->nimages && n < 64; i++)
            names[n++] = t->images[i].name;
        const char *s = suggest(ref, names, n);
        return err_at(L, v->pos, err,
                      "%s: no image \"%s\" in [images]%s%s%s (a literal reference needs a tag, "
                      "e.g. \"%s:latest\")",
                      what, ref, s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "", ref);
    }
    *ret = cln_xstrdup(ref);
    *ret_idx = -1;
    return 0;
}

/* ready.http = "http://HOST:PORT/path": HOST is the service itself (its
 * name, an alias, localhost or 127.0.0.1); PORT one it listens on.  1 when
 * given, 0 when not. */
static int load_ready_http(struct loader *L, tv *rt, const char *w, struct cln_spec_service *s,
                           struct cln_error **err)
{
    struct cln_spec_ready *rd = &s->ready;
    cleanup_free char *url = NULL;
    int r = get_str(L, rt, "http", w, &url, err);
    if (r <= 0)
        return r;
    tv *v = cln_toml_table_find(rt, "http")->value;
    if (strncmp(url, "http://", 7) != 0)
        return err_at(L, v->pos, err,
                      "%s.http \"%s\": give a URL of the service, http://%s:PORT/path", w, url,
                      s->name);
    const char *host = url + 7;
    size_t hl = strcspn(host, ":/");
    bool self = (hl == strlen(s->name) && strncmp(host, s->name, hl) == 0) ||
                (hl == 9 && strncmp(host, "localhost", 9) == 0) ||
                (hl == 9 && strncmp(host, "127.0.0.1", 9) == 0);
    for (size_t i = 0; i < s->aliases.n && !self; i++)
        self = hl == strlen(s->aliases.v[i]) && strncmp(host, s->aliases.v[i], hl) == 0;
    if (!self)
        return err_at(L, v->pos, err,
                      "%s.http \"%s\": the host must be the service itself (%s, an alias or "
                      "localhost): a service is ready by what it serves",
                      w, url, s->name);
    long port = 80;
    const char *rest = host + hl;
    if (*rest == ':') {
        char *end = NULL;
        port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
            return err_at(L, v->pos, err, "%s.http \"%s\": the port must be 1-65535", w, url);
        rest = end;
    }
    rd->kind = CLN_READY_HTTP;
    rd->http_port = (uint16_t)port;
    rd->http_path = cln_xstrdup(*rest ? rest : "/");
    const struct cln_toml_entry *st = cln_toml_table_find(rt, "status");
    if (st) {
        size_t n = st->value->type == CLN_TOML_ARRAY ? cln_toml_array_len(st->value) : 1;
        if (n == 0)
            return err_at(L, st->value->pos, err, "%s.status is empty", w);
        rd->statuses = cln_xcalloc(n, sizeof(int));
        for (size_t i = 0; i < n; i++) {
            tv *c = st->value->type == CLN_TOML_ARRAY ? cln_toml_array_at(st->value, i) : st->value;
            if (c->type != CLN_TOML_INTEGER || c->u.integer < 100 || c->u.integer > 599)
                return err_at(L, c->pos, err, "%s.status must be HTTP statuses (100-599)", w);
            rd->statuses[rd->nstatuses++] = (int)c->u.integer;
        }
    }
    if ((r = get_str(L, rt, "body", w, &rd->body_regex, err)) < 0)
        return r;
    if (rd->body_regex &&
        (r = check_regex(L, cln_toml_table_find(rt, "body")->value, rd->body_regex, w, err)) < 0)
        return r;
    return 1;
}

static int load_ready(struct loader *L, tv *svc, const char *where, struct cln_spec_service *s,
                      struct cln_error **err)
{
    const struct cln_toml_entry *e = cln_toml_table_find(svc, "ready");
    if (!e)
        return 0;
    char w[300];
    snprintf(w, sizeof(w), "%s.ready", where);
    int r = want_type(L, e->value, CLN_TOML_TABLE, w, err);
    if (r == 0)
        r = CHECK_KEYS(L, e->value, w, err, "exec", "log", "tcp", "http", "status", "body",
                       "healthcheck", "interval", "timeout");
    if (r < 0)
        return r;
    struct cln_spec_ready *rd = &s->ready;
    rd->interval_ms = 200;
    rd->timeout_ms = 30000;
    int kinds = 0;
    const struct cln_toml_entry *ex = cln_toml_table_find(e->value, "exec");
    if (ex) {
        kinds++;
        rd->kind = CLN_READY_EXEC;
        if (ex->value->type == CLN_TOML_STRING) {
            char *cmd = NULL;
            if ((r = interp(L, ex->value, w, &cmd, err)) < 0)
                return r;
            strv_push(&rd->exec, cln_xstrdup("sh"));
            strv_push(&rd->exec, cln_xstrdup("-c"));
            strv_push(&rd->exec, cmd);
        } else if ((r = get_strv(L, e->value, "exec", w, &rd->exec, err)) < 0) {
            return r;
        }
        if (rd->exec.n == 0)
            return err_at(L, ex->value->pos, err, "%s.exec: empty command", w);
    }
    if ((r = get_str(L, e->value, "log", w, &rd->log_regex, err)) < 0)
        return r;
    if (r > 0) {
        kinds++;
        rd->kind = CLN_READY_LOG;
        if ((r = check_regex(L, cln_toml_table_find(e->value, "log")->value, rd->log_regex, w,
                             err)) < 0)
            return r;
    }
    int64_t port = 0;
    if ((r = get_int(L, e->value, "tcp", w, 1, 65535, &port, err)) < 0)
        return r;
    if (r > 0) {
        kinds++;
        rd->kind = CLN_READY_TCP;
        rd->tcp_port = (uint16_t)port;
        bool published = false;
        for (size_t i = 0; i < s->nports; i++)
            published = published || s->ports[i] == port;
        if (!published)
            return err_at(L, cln_toml_table_find(e->value, "tcp")->value->pos, err,
                          "%s.tcp: port %lld must also be listed in %s.ports (the check "
                          "connects through the published port)",
                          w, (long long)port, where);
    }
    if ((r = load_ready_http(L, e->value, w, s, err)) < 0)
        return r;
    kinds += r;
    bool health = false;
    if ((r = get_bool(L, e->value, "healthcheck", w, &health, err)) < 0)
        return r;
    if (r > 0 && !health)
        return err_at(L, cln_toml_table_find(e->value, "healthcheck")->value->pos, err,
                      "%s.healthcheck = false checks nothing: leave it out", w);
    if (health) {
        kinds++;
        rd->kind = CLN_READY_HEALTH;
    }
    if (kinds != 1)
        return err_at(L, e->value->pos, err,
                      "%s: give exactly one of \"exec\", \"log\", \"tcp\", \"http\", "
                      "\"healthcheck\"",
                      w);
    static const char *const http_only[] = {"status", "body"};
    for (size_t i = 0; i < 2; i++)
        if (rd->kind != CLN_READY_HTTP && cln_toml_table_find(e->value, http_only[i]))
            return err_at(L, cln_toml_table_find(e->value, http_only[i])->pos, err,
                          "%s.%s only goes with \"http\"", w, http_only[i]);
    if ((r = get_limit(L, e->value, "interval", w, &rd->interval_ms, err)) < 0 ||
        (r = get_limit(L, e->value, "timeout", w, &rd->timeout_ms, err)) < 0)
        return r;
    return 0;
}

/* ---- privileges: beyond the hermetic defaults ---- */

const char *cln_allow_flag(enum cln_allow a)
{
    switch (a) {
    case CLN_ALLOW_PRIVILEGED:
        return "--allow-privileged";
    case CLN_ALLOW_HOST_NETWORK:
        return "--allow-host-network";
    case CLN_ALLOW_HOST_PID:
        return "--allow-host-pid";
    case CLN_ALLOW_HOST_MOUNTS:
        return "--allow-host-mounts";
    case CLN_ALLOW_ENGINE_SOCKET:
        return "--allow-engine-socket";
    case CLN_ALLOW_OUTBOUND:
        return "--allow-outbound";
    case CLN_ALLOW_HOST_FILES:
        return "--allow-host-files";
    }
    return "?";
}

static void add_use(struct cln_spec_test *t, enum cln_allow what, struct cln_toml_pos pos,
                    char *desc)
{
    t->uses = cln_xrealloc(t->uses, (t->nuses + 1) * sizeof(*t->uses));
    t->uses[t->nuses++] =
        (struct cln_spec_priv_use){.what = what, .line = pos.line, .col = pos.col, .desc = desc};
}

/* The engines' sockets: mounting one (or a directory holding one) hands
 * the container the engine, which is the host. */
static const char *const engine_sockets[] = {
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
    "/run/containerd/containerd.sock",
    "/run/user",
    "/var/run/user",
};

/* Is the canonical path p at or above the path q (also canonicalised)? */
static bool covers(const char *p, const char *q)
{
    cleanup_free char *rq = realpath(q, NULL);
    const char *t = rq ? rq : q;
    size_t pl = strlen(p);
    if (pl == 1 && p[0] == '/')
        return true;
    return strncmp(t, p, pl) == 0 && (t[pl] == '\0' || t[pl] == '/');
}

/* nftw has no user data: the search's state, per thread. */
static __thread size_t walk_budget;
static __thread char walk_found[4096];
#define WALK_MAX 100000

static int walk_one(const char *fpath, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (walk_budget-- == 0)
        return 2;
    if (flag == FTW_F && S_ISSOCK(sb->st_mode)) {
        snprintf(walk_found, sizeof(walk_found), "%s", fpath);
        return 1;
    }
    return 0;
}

/* Why a mount of the canonical path src hands the container a socket (an
 * engine's, or any daemon's: each is a way to the host), or NULL: the
 * well-known engine sockets at or under it, then every socket in the tree
 * (symlinks not followed), at most WALK_MAX entries looked at. */
static char *socket_in_mount(const char *src)
{
    for (size_t i = 0; i < CLN_ARRAY_SIZE(engine_sockets); i++)
        if (covers(src, engine_sockets[i]))
            return cln_xasprintf("%s, which holds the engine socket %s", src, engine_sockets[i]);
    struct stat st;
    if (lstat(src, &st) < 0)
        return NULL;
    if (S_ISSOCK(st.st_mode))
        return cln_xasprintf("%s, a socket", src);
    if (!S_ISDIR(st.st_mode))
        return NULL;
    walk_budget = WALK_MAX;
    walk_found[0] = '\0';
    int r = nftw(src, walk_one, 32, FTW_PHYS);
    if (r == 1)
        return cln_xasprintf("%s, which holds the socket %s", src, walk_found);
    if (r == 2)
        return cln_xasprintf("%s, a tree too large to search for sockets (more than %d entries)",
                             src, WALK_MAX);
    return NULL;
}

/* privileged, host_network, host_pid, outbound, mounts: in a service or a
 * fresh-container step. */
static int load_privs(struct loader *L, tv *tbl, const char *where, struct cln_spec_privs *p,
                      struct cln_spec_test *t, struct cln_error **err)
{
    static const struct {
        const char *key;
        enum cln_allow what;
    } flags[] = {{"privileged", CLN_ALLOW_PRIVILEGED},
                 {"host_network", CLN_ALLOW_HOST_NETWORK},
                 {"host_pid", CLN_ALLOW_HOST_PID},
                 {"outbound", CLN_ALLOW_OUTBOUND}};
    bool *dst[] = {&p->privileged, &p->host_network, &p->host_pid, &p->outbound};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(flags); i++) {
        int r = get_bool(L, tbl, flags[i].key, where, dst[i], err);
        if (r < 0)
            return r;
        if (*dst[i])
            add_use(t, flags[i].what, cln_toml_table_find(tbl, flags[i].key)->pos,
                    cln_xasprintf("%s.%s = true", where, flags[i].key));
    }
    if (p->outbound && p->host_network)
        return err_at(L, cln_toml_table_find(tbl, "outbound")->pos, err,
                      "%s: outbound and host_network exclude each other", where);
    const struct cln_toml_entry *me = cln_toml_table_find(tbl, "mounts");
    if (!me)
        return 0;
    char what[200];
    snprintf(what, sizeof(what), "%s.mounts", where);
    int r = want_type(L, me->value, CLN_TOML_ARRAY, what, err);
    if (r < 0)
        return r;
    size_t n = cln_toml_array_len(me->value);
    p->mounts = cln_xcalloc(n ? n : 1, sizeof(*p->mounts));
    for (size_t i = 0; i < n; i++) {
        tv *m = cln_toml_array_at(me->value, i);
        char mw[260];
        snprintf(mw, sizeof(mw), "%s[%zu]", what, i);
        r = want_type(L, m, CLN_TOML_TABLE, mw, err);
        if (r == 0)
            r = CHECK_KEYS(L, m, mw, err, "source", "target", "read_only");
        if (r < 0)
            return r;
        struct cln_spec_mount *sm = &p->mounts[p->nmounts++];
        if ((r = get_str(L, m, "source", mw, &sm->source, err)) < 0 ||
            (r = get_str(L, m, "target", mw, &sm->target, err)) < 0 ||
            (r = get_bool(L, m, "read_only", mw, &sm->read_only, err)) < 0)
            return r;
        if (!sm->source || !sm->target)
            return err_at(L, m->pos, err,
                          "%s: \"source\" (a host path) and \"target\" are required", mw);
        struct cln_toml_pos pos = cln_toml_table_find(m, "source")->value->pos;
        if (sm->source[0] != '/')
            return err_at(L, pos, err, "%s.source must be an absolute host path, not \"%s\"", mw,
                          sm->source);
        if (sm->target[0] != '/')
            return err_at(L, cln_toml_table_find(m, "target")->value->pos, err,
                          "%s.target must be an absolute path in the container, not \"%s\"", mw,
                          sm->target);
        /* Canonical before any check, and what the engine gets: /var/./run,
         * /proc/1/root or a symlink to /var/run are /run (or /). */
        char *real = realpath(sm->source, NULL);
        if (!real)
            return err_at(L, pos, err, "%s.source \"%s\": %s", mw, sm->source, strerror(errno));
        if (strcmp(real, sm->source) != 0) {
            free(sm->source);
            sm->source = real;
        } else {
            free(real);
        }
        add_use(t, CLN_ALLOW_HOST_MOUNTS, pos,
                cln_xasprintf("%s mounts the host's %s", mw, sm->source));
        char *sock = socket_in_mount(sm->source);
        if (sock)
            add_use(t, CLN_ALLOW_ENGINE_SOCKET, pos,
                    cln_xasprintf("%s hands the container %s", mw, sock));
        free(sock);
    }
    return 0;
}

static void privs_done(struct cln_spec_privs *p)
{
    for (size_t i = 0; i < p->nmounts; i++) {
        free(p->mounts[i].source);
        free(p->mounts[i].target);
    }
    free(p->mounts);
}

int cln_spec_check_allowed(const struct cln_spec_set *set, unsigned allowed, struct cln_error **err)
{
    int bad = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct cln_spec_test *t = &set->tests[i];
        /* matrix expansions repeat a file's uses: report each place once */
        bool seen_file = false;
        for (size_t k = 0; k < i && !seen_file; k++)
            seen_file = strcmp(set->tests[k].file, t->file) == 0 && set->tests[k].nuses;
        if (seen_file)
            continue;
        for (size_t u = 0; u < t->nuses; u++) {
            if (allowed & t->uses[u].what)
                continue;
            cln_error_set(err, CLN_E_SPEC, 0,
                          "%s:%u:%u: %s needs %s on the command line (cleanrun keeps "
                          "containers hermetic unless the run allows it)",
                          t->file, t->uses[u].line, t->uses[u].col, t->uses[u].desc,
                          cln_allow_flag(t->uses[u].what));
            bad++;
        }
    }
    return bad ? -1 : 0;
}

/* memory = "64MiB" at where; *ret untouched when absent. */
static int get_memory(struct loader *L, tv *tbl, const char *where, int64_t *ret,
                      struct cln_error **err)
{
    char *mem = NULL;
    int r = get_str(L, tbl, "memory", where, &mem, err);
    if (r <= 0 || !mem)
        return r;
    r = parse_size(mem, ret) < 0 || *ret < 4L * 1048576
            ? err_at(L, cln_toml_table_find(tbl, "memory")->value->pos, err,
                     "%s.memory: \"%s\" is not a size of at least 4MiB (e.g. \"64MiB\", "
                     "\"1GiB\")",
                     where, mem)
            : 1;
    free(mem);
    return r;
}

/* A host name on the test network: lower-case letters, digits, '-', '_'. */
static bool host_name_ok(const char *n)
{
    if (!*n)
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return false;
    return true;
}

/* Aliases: host names, and each name on the test network names one
 * service. */
static int check_names(struct loader *L, const struct cln_spec_test *t, struct cln_error **err)
{
    for (size_t i = 0; i < t->nservices; i++) {
        const struct cln_spec_service *s = &t->services[i];
        const struct cln_toml_entry *se = cln_toml_table_find(L->services_tbl, s->name);
        const struct cln_toml_entry *ae = cln_toml_table_find(se->value, "aliases");
        for (size_t j = 0; j < s->aliases.n; j++) {
            const char *a = s->aliases.v[j];
            struct cln_toml_pos pos = cln_toml_array_at(ae->value, j)->pos;
            if (!host_name_ok(a))
                return err_at(L, pos, err,
                              "services.%s.aliases[%zu] \"%s\": use lower-case letters, digits, "
                              "'-' and '_' (it is a host name on the test network)",
                              s->name, j, a);
            for (size_t k = 0; k < t->nservices; k++) {
                if (strcmp(t->services[k].name, a) == 0)
                    return err_at(L, pos, err,
                                  "services.%s.aliases[%zu] \"%s\" is the name of service \"%s\"",
                                  s->name, j, a, t->services[k].name);
                for (size_t m = 0; m < t->services[k].aliases.n; m++)
                    if ((k < i || (k == i && m < j)) && strcmp(t->services[k].aliases.v[m], a) == 0)
                        return err_at(L, pos, err,
                                      "services.%s.aliases[%zu] \"%s\" is also an alias of "
                                      "service \"%s\"",
                                      s->name, j, a, t->services[k].name);
            }
        }
    }
    return 0;
}

static int load_services(struct loader *L, tv *root, struct cln_spec_test *t,
                         struct cln_error **err)
{
    tv *svcs = L->services_tbl;
    if (!svcs)
        return 0;
    size_t n = cln_toml_table_len(svcs);
    t->services = cln_xcalloc(n ? n : 1, sizeof(*t->services));
    (void)root;
    for (size_t i = 0; i < n; i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(svcs, i);
        char where[160];
        snprintf(where, sizeof(where), "services.%s", e->key);
        int r = want_type(L, e->value, CLN_TOML_TABLE, where, err);
        if (r == 0)
            r = CHECK_KEYS(L, e->value, where, err, "image", "command", "entrypoint", "env",
                           "files", "ports", "memory", "cpus", "pids", "depends_on", "aliases",
                           "ready", "privileged", "host_network", "host_pid", "outbound", "mounts");
        if (r < 0)
            return r;
        if (!host_name_ok(e->key))
            return err_at(L, e->pos, err,
                          "service name \"%s\": use lower-case letters, digits, '-' and "
                          "'_' (it is a host name on the test network)",
                          e->key);
        struct cln_spec_service *s = &t->services[t->nservices++];
        s->name = cln_xstrdup(e->key);
        s->image_idx = -1;
        char *image = NULL;
        if ((r = get_str(L, e->value, "image", where, &image, err)) < 0)
            return r;
        if (r == 0)
            return err_at(L, e->value->pos, err, "%s: \"image\" is required", where);
        r = resolve_image(L, t, cln_toml_table_find(e->value, "image")->value, image, where,
                          &s->image, &s->image_idx, err);
        free(image);
        if (r < 0)
            return r;
        if ((r = get_strv(L, e->value, "command", where, &s->command, err)) < 0)
            return r;
        s->has_command = r > 0;
        if ((r = get_strv(L, e->value, "entrypoint", where, &s->entrypoint, err)) < 0)
            return r;
        s->has_entrypoint = r > 0;
        if ((r = get_env(L, e->value, "env", where, &s->env, err)) < 0 ||
            (r = load_files(L, t, e->value, where, true, &s->files, &s->nfiles, err)) < 0 ||
            (r = get_strv(L, e->value, "depends_on", where, &s->depends_on, err)) < 0 ||
            (r = get_strv(L, e->value, "aliases", where, &s->aliases, err)) < 0)
            return r;
        const struct cln_toml_entry *pe = cln_toml_table_find(e->value, "ports");
        if (pe) {
            if ((r = want_type(L, pe->value, CLN_TOML_ARRAY, "ports", err)) < 0)
                return r;
            size_t np = cln_toml_array_len(pe->value);
            s->ports = cln_xcalloc(np ? np : 1, sizeof(*s->ports));
            for (size_t j = 0; j < np; j++) {
                tv *p = cln_toml_array_at(pe->value, j);
                if (p->type != CLN_TOML_INTEGER || p->u.integer < 1 || p->u.integer > 65535)
                    return err_at(L, p->pos, err, "%s.ports[%zu] must be a port number (1-65535)",
                                  where, j);
                for (size_t k = 0; k < s->nports; k++)
                    if (s->ports[k] == p->u.integer)
                        return err_at(L, p->pos, err, "%s.ports[%zu]: port %lld is listed twice",
                                      where, j, (long long)p->u.integer);
                s->ports[s->nports++] = (uint16_t)p->u.integer;
            }
        }
        if ((r = get_memory(L, e->value, where, &s->memory, err)) < 0 ||
            (r = load_privs(L, e->value, where, &s->privs, t, err)) < 0)
            return r;
        const struct cln_toml_entry *ce = cln_toml_table_find(e->value, "cpus");
        if (ce) {
            double cpus = ce->value->type == CLN_TOML_FLOAT     ? ce->value->u.flt
                          : ce->value->type == CLN_TOML_INTEGER ? (double)ce->value->u.integer
                                                                : -1;
            if (cpus <= 0 || cpus > 1024)
                return err_at(L, ce->value->pos, err,
                              "%s.cpus must be a positive number of CPUs (e.g. 0.5)", where);
            s->nano_cpus = (int64_t)(cpus * 1e9);
        }
        if ((r = get_int(L, e->value, "pids", where, 1, 1 << 22, &s->pids, err)) < 0)
            return r;
        if ((r = load_ready(L, e->value, where, s, err)) < 0)
            return r;
    }
    int nr = check_names(L, t, err);
    if (nr < 0)
        return nr;
    /* depends_on: names exist, no cycles; levels give the start order. */
    for (size_t i = 0; i < t->nservices; i++) {
        const struct cln_toml_entry *se = cln_toml_table_find(svcs, t->services[i].name);
        tv *dv = cln_toml_table_find(se->value, "depends_on")
                     ? cln_toml_table_find(se->value, "depends_on")->value
                     : NULL;
        for (size_t j = 0; j < t->services[i].depends_on.n; j++) {
            const char *d = t->services[i].depends_on.v[j];
            bool found = false;
            for (size_t k = 0; k < t->nservices; k++)
                found = found || strcmp(t->services[k].name, d) == 0;
            if (!found) {
                const char *names[64];
                size_t nn = 0;
                for (size_t k = 0; k < t->nservices && nn < 64; k++)
                    names[nn++] = t->services[k].name;
                const char *sg = suggest(d, names, nn);
                return err_at(L, cln_toml_array_at(dv, j)->pos, err,
                              "services.%s.depends_on: no service \"%s\"%s%s%s",
                              t->services[i].name, d, sg ? " (did you mean \"" : "", sg ? sg : "",
                              sg ? "\"?)" : "");
            }
            if (strcmp(d, t->services[i].name) == 0)
                return err_at(L, cln_toml_array_at(dv, j)->pos, err,
                              "services.%s.depends_on: a service cannot depend on itself", d);
        }
    }
    /* Longest-path levels by relaxation; more than n rounds means a cycle. */
    for (size_t round = 0;; round++) {
        bool changed = false;
        for (size_t i = 0; i < t->nservices; i++) {
            struct cln_spec_service *s = &t->services[i];
            for (size_t j = 0; j < s->depends_on.n; j++)
                for (size_t k = 0; k < t->nservices; k++)
                    if (strcmp(t->services[k].name, s->depends_on.v[j]) == 0 &&
                        s->level < t->services[k].level + 1) {
                        s->level = t->services[k].level + 1;
                        changed = true;
                    }
        }
        if (!changed)
            break;
        if (round > t->nservices) {
            struct cln_buf cyc = CLN_BUF_INIT;
            for (size_t i = 0; i < t->nservices; i++)
                if (t->services[i].level > (int)t->nservices)
                    cln_buf_printf(&cyc, "%s%s", cyc.len ? ", " : "", t->services[i].name);
            const struct cln_toml_entry *se = cln_toml_table_at(svcs, 0);
            int r = err_at(L, se->pos, err, "depends_on forms a cycle among services: %s",
                           cyc.data ? cyc.data : "?");
            cln_buf_done(&cyc);
            return r;
        }
    }
    for (size_t i = 0; i < t->nservices; i++)
        if (t->services[i].level > t->max_level)
            t->max_level = t->services[i].level;
    return 0;
}

static int load_stream_expect(struct loader *L, tv *ex, const char *key, const char *where,
                              struct cln_stream_expect *se, struct cln_error **err)
{
    se->empty = -1;
    const struct cln_toml_entry *e = cln_toml_table_find(ex, key);
    if (!e)
        return 0;
    char w[300];
    snprintf(w, sizeof(w), "%s.%s", where, key);
    if (e->value->type == CLN_TOML_STRING)
        return interp(L, e->value, w, &se->equals, err);
    int r = want_type(L, e->value, CLN_TOML_TABLE, w, err);
    if (r == 0)
        r = CHECK_KEYS(L, e->value, w, err, "equals", "contains", "not_contains", "regex", "empty");
    if (r < 0)
        return r;
    bool empty = false;
    if ((r = get_str(L, e->value, "equals", w, &se->equals, err)) < 0)
        return r;
    /* contains: a string or a list */
    const struct cln_toml_entry *c = cln_toml_table_find(e->value, "contains");
    if (c && c->value->type == CLN_TOML_STRING) {
        char *s = NULL;
        if ((r = interp(L, c->value, w, &s, err)) < 0)
            return r;
        strv_push(&se->contains, s);
    } else if ((r = get_strv(L, e->value, "contains", w, &se->contains, err)) < 0) {
        return r;
    }
    c = cln_toml_table_find(e->value, "not_contains");
    if (c && c->value->type == CLN_TOML_STRING) {
        char *s = NULL;
        if ((r = interp(L, c->value, w, &s, err)) < 0)
            return r;
        strv_push(&se->not_contains, s);
    } else if ((r = get_strv(L, e->value, "not_contains", w, &se->not_contains, err)) < 0) {
        return r;
    }
    /* an empty list, or an empty string, checks nothing: a mistake */
    static const char *const lists[] = {"contains", "not_contains"};
    const struct cln_strv *vals[] = {&se->contains, &se->not_contains};
    for (size_t k = 0; k < 2; k++) {
        const struct cln_toml_entry *le = cln_toml_table_find(e->value, lists[k]);
        if (!le)
            continue;
        if (vals[k]->n == 0)
            return err_at(L, le->value->pos, err, "%s.%s is empty: it would check nothing", w,
                          lists[k]);
        for (size_t i = 0; i < vals[k]->n; i++)
            if (!*vals[k]->v[i])
                return err_at(L,
                              le->value->type == CLN_TOML_ARRAY
                                  ? cln_toml_array_at(le->value, i)->pos
                                  : le->value->pos,
                              err, "%s.%s: an empty string would check nothing", w, lists[k]);
    }
    if ((r = get_str(L, e->value, "regex", w, &se->regex, err)) < 0)
        return r;
    if (se->regex &&
        (r = check_regex(L, cln_toml_table_find(e->value, "regex")->value, se->regex, w, err)) < 0)
        return r;
    if ((r = get_bool(L, e->value, "empty", w, &empty, err)) < 0)
        return r;
    if (r > 0)
        se->empty = empty;
    if (se->empty == 1 && (se->equals || se->contains.n || se->regex))
        return err_at(L, cln_toml_table_find(e->value, "empty")->pos, err,
                      "%s: \"empty = true\" contradicts the other expectations", w);
    return 0;
}

static int load_expect(struct loader *L, tv *step, const char *where, struct cln_spec_expect *x,
                       struct cln_error **err)
{
    x->exit_kind = CLN_EXIT_EXPECT_LIST;
    x->codes = cln_xcalloc(1, sizeof(int));
    x->ncodes = 1; /* no expectation: exit 0 */
    x->out.empty = x->err.empty = -1;
    const struct cln_toml_entry *e = cln_toml_table_find(step, "expect");
    if (!e)
        return 0;
    char w[300];
    snprintf(w, sizeof(w), "%s.expect", where);
    int r = want_type(L, e->value, CLN_TOML_TABLE, w, err);
    if (r == 0)
        r = CHECK_KEYS(L, e->value, w, err, "exit", "stdout", "stderr", "files", "max_duration");
    if (r < 0)
        return r;
    const struct cln_toml_entry *ex = cln_toml_table_find(e->value, "exit");
    if (ex) {
        tv *v = ex->value;
        if (v->type == CLN_TOML_INTEGER && v->u.integer >= 0 && v->u.integer <= 255) {
            x->codes[0] = (int)v->u.integer;
        } else if (v->type == CLN_TOML_STRING && strcmp(v->u.str.ptr, "non-zero") == 0) {
            x->exit_kind = CLN_EXIT_EXPECT_NONZERO;
        } else if (v->type == CLN_TOML_STRING && strcmp(v->u.str.ptr, "any") == 0) {
            x->exit_kind = CLN_EXIT_EXPECT_ANY;
        } else if (v->type == CLN_TOML_ARRAY && cln_toml_array_len(v) > 0) {
            x->ncodes = cln_toml_array_len(v);
            x->codes = cln_xrealloc(x->codes, x->ncodes * sizeof(int));
            for (size_t i = 0; i < x->ncodes; i++) {
                tv *c = cln_toml_array_at(v, i);
                if (c->type != CLN_TOML_INTEGER || c->u.integer < 0 || c->u.integer > 255)
                    return err_at(L, c->pos, err, "%s.exit[%zu] must be an exit code (0-255)", w,
                                  i);
                x->codes[i] = (int)c->u.integer;
            }
        } else {
            return err_at(L, v->pos, err,
                          "%s.exit must be an exit code (0-255), a list of them, \"non-zero\" "
                          "or \"any\"",
                          w);
        }
    }
    if ((r = load_stream_expect(L, e->value, "stdout", w, &x->out, err)) < 0 ||
        (r = load_stream_expect(L, e->value, "stderr", w, &x->err, err)) < 0 ||
        (r = get_limit(L, e->value, "max_duration", w, &x->max_duration_ms, err)) < 0)
        return r;
    const struct cln_toml_entry *fe = cln_toml_table_find(e->value, "files");
    if (fe) {
        char fw[340];
        snprintf(fw, sizeof(fw), "%s.files", w);
        if ((r = want_type(L, fe->value, CLN_TOML_ARRAY, fw, err)) < 0)
            return r;
        size_t n = cln_toml_array_len(fe->value);
        x->files = cln_xcalloc(n ? n : 1, sizeof(*x->files));
        for (size_t i = 0; i < n; i++) {
            tv *f = cln_toml_array_at(fe->value, i);
            char iw[400];
            snprintf(iw, sizeof(iw), "%s[%zu]", fw, i);
            r = want_type(L, f, CLN_TOML_TABLE, iw, err);
            if (r == 0)
                r = CHECK_KEYS(L, f, iw, err, "path", "exists", "type", "mode", "owner", "group",
                               "equals", "regex");
            if (r < 0)
                return r;
            struct cln_file_expect *fx = &x->files[x->nfiles++];
            fx->exists = -1;
            fx->type = -1;
            fx->mode = -1;
            bool exists = true;
            if ((r = get_str(L, f, "path", iw, &fx->path, err)) < 0)
                return r;
            if (r == 0 || fx->path[0] != '/')
                return err_at(L, f->pos, err, "%s: an absolute \"path\" is required", iw);
            if (strcmp(fx->path, "/") != 0 && fx->path[strlen(fx->path) - 1] == '/')
                return err_at(L, cln_toml_table_find(f, "path")->value->pos, err,
                              "%s.path \"%s\": no trailing '/' (use type = \"directory\")", iw,
                              fx->path);
            if ((r = get_bool(L, f, "exists", iw, &exists, err)) < 0)
                return r;
            if (r > 0)
                fx->exists = exists;
            char *type = NULL;
            if ((r = get_str(L, f, "type", iw, &type, err)) < 0)
                return r;
            if (type) {
                static const char *const types[] = {"file", "directory", "symlink"};
                for (int k = 0; k < 3; k++)
                    if (strcmp(type, types[k]) == 0)
                        fx->type = k == 0   ? CLN_FILE_REGULAR
                                   : k == 1 ? CLN_FILE_DIRECTORY
                                            : CLN_FILE_SYMLINK;
                if (fx->type < 0) {
                    const char *sg = suggest(type, types, 3);
                    r = err_at(L, cln_toml_table_find(f, "type")->value->pos, err,
                               "%s.type \"%s\" is not a type (file, directory, symlink)%s%s%s", iw,
                               type, sg ? "; did you mean \"" : "", sg ? sg : "", sg ? "\"?" : "");
                    free(type);
                    return r;
                }
                free(type);
            }
            int64_t mode = -1;
            if ((r = get_int(L, f, "mode", iw, 0, 07777, &mode, err)) < 0)
                return r;
            fx->mode = (int)mode;
            if ((r = get_str(L, f, "owner", iw, &fx->owner, err)) < 0 ||
                (r = get_str(L, f, "group", iw, &fx->group, err)) < 0)
                return r;
            static const char *const idkeys[] = {"owner", "group"};
            char *ids[] = {fx->owner, fx->group};
            for (int k = 0; k < 2; k++)
                if (ids[k] && (!*ids[k] || strpbrk(ids[k], ": \t\n")))
                    return err_at(L, cln_toml_table_find(f, idkeys[k])->value->pos, err,
                                  "%s.%s \"%s\" is not a user or group name or number", iw,
                                  idkeys[k], ids[k]);
            if ((r = get_str(L, f, "equals", iw, &fx->equals, err)) < 0 ||
                (r = get_str(L, f, "regex", iw, &fx->regex, err)) < 0)
                return r;
            fx->equals_len = fx->equals ? strlen(fx->equals) : 0;
            if (fx->regex && (r = check_regex(L, cln_toml_table_find(f, "regex")->value, fx->regex,
                                              iw, err)) < 0)
                return r;
            bool about = fx->type >= 0 || fx->mode >= 0 || fx->owner || fx->group;
            if (fx->exists == 0 && (fx->equals || fx->regex || about))
                return err_at(L, f->pos, err,
                              "%s: \"exists = false\" contradicts the other expectations", iw);
            if ((fx->equals || fx->regex) && fx->type >= 0 && fx->type != CLN_FILE_REGULAR)
                return err_at(L, cln_toml_table_find(f, "type")->pos, err,
                              "%s: a content expectation needs type = \"file\"", iw);
            if (fx->exists == -1 && !fx->equals && !fx->regex)
                fx->exists = 1;
        }
    }
    return 0;
}

static int load_steps(struct loader *L, tv *root, struct cln_spec_test *t,
                      const char *default_service, const char *default_image,
                      struct cln_error **err)
{
    tv *steps = NULL;
    const struct cln_toml_entry *se = cln_toml_table_find(root, "steps");
    if (!se)
        return err_at(L, (struct cln_toml_pos){1, 1}, err,
                      "the test has no steps (add [[steps]] with a \"run\" command)");
    if (se->value->type != CLN_TOML_ARRAY)
        return err_at(L, se->value->pos, err,
                      "\"steps\" must be an array of tables ([[steps]]), not %s %s",
                      type_article(se->value->type), cln_toml_type_name(se->value->type));
    steps = se->value;
    size_t n = cln_toml_array_len(steps);
    if (n == 0)
        return err_at(L, se->pos, err, "the test has no steps");
    t->steps = cln_xcalloc(n, sizeof(*t->steps));
    for (size_t i = 0; i < n; i++) {
        tv *st = cln_toml_array_at(steps, i);
        char where[64];
        snprintf(where, sizeof(where), "steps[%zu]", i);
        int r = want_type(L, st, CLN_TOML_TABLE, where, err);
        if (r == 0)
            r = CHECK_KEYS(L, st, where, err, "name", "service", "image", "run", "env", "workdir",
                           "user", "stdin", "timeout", "retries", "retry_interval",
                           "continue_on_failure", "network", "memory", "pids", "privileged",
                           "host_network", "host_pid", "outbound", "mounts", "expect");
        if (r < 0)
            return r;
        struct cln_spec_step *s = &t->steps[t->nsteps++];
        s->line = st->pos.line;
        s->image_idx = -1;
        if ((r = get_str(L, st, "name", where, &s->name, err)) < 0)
            return r;
        if (!s->name)
            s->name = cln_xasprintf("step %zu", i + 1);
        char *img = NULL;
        if ((r = get_str(L, st, "service", where, &s->service, err)) < 0 ||
            (r = get_str(L, st, "image", where, &img, err)) < 0)
            return r;
        if (s->service && img) {
            free(img);
            return err_at(L, st->pos, err,
                          "%s: give \"service\" (exec in a running service) or \"image\" (a "
                          "fresh container), not both",
                          where);
        }
        if (!s->service && !img) {
            if (default_service)
                s->service = cln_xstrdup(default_service);
            else if (default_image)
                img = cln_xstrdup(default_image);
            else {
                return err_at(L, st->pos, err,
                              "%s: where does it run? Give \"service\" or \"image\", or set "
                              "[test] default_service / default_image",
                              where);
            }
        }
        if (s->service) {
            bool found = false;
            const char *names[64];
            size_t nn = 0;
            for (size_t k = 0; k < t->nservices; k++) {
                found = found || strcmp(t->services[k].name, s->service) == 0;
                if (nn < 64)
                    names[nn++] = t->services[k].name;
            }
            if (!found) {
                const struct cln_toml_entry *sv = cln_toml_table_find(st, "service");
                const char *sg = suggest(s->service, names, nn);
                return err_at(L, sv ? sv->value->pos : st->pos, err,
                              "%s.service: no service \"%s\" in [services]%s%s%s", where,
                              s->service, sg ? " (did you mean \"" : "", sg ? sg : "",
                              sg ? "\"?)" : "");
            }
        } else {
            const struct cln_toml_entry *iv = cln_toml_table_find(st, "image");
            r = resolve_image(L, t, iv ? iv->value : st, img, where, &s->image, &s->image_idx, err);
            free(img);
            if (r < 0)
                return r;
        }
        const struct cln_toml_entry *run = cln_toml_table_find(st, "run");
        if (!run)
            return err_at(L, st->pos, err, "%s: \"run\" is required (a command)", where);
        if (run->value->type == CLN_TOML_STRING) {
            char *cmd = NULL;
            if ((r = interp(L, run->value, "run", &cmd, err)) < 0)
                return r;
            if (!cmd || !cmd[strspn(cmd, " \t\n")]) {
                free(cmd);
                return err_at(L, run->value->pos, err, "%s.run: empty command", where);
            }
            s->shell = true;
            strv_push(&s->argv, cln_xstrdup("sh"));
            strv_push(&s->argv, cln_xstrdup("-c"));
            strv_push(&s->argv, cmd);
        } else if (run->value->type == CLN_TOML_ARRAY) {
            if ((r = get_strv(L, st, "run", where, &s->argv, err)) < 0)
                return r;
            if (s->argv.n == 0)
                return err_at(L, run->value->pos, err, "%s.run: empty command", where);
        } else {
            return err_at(L, run->value->pos, err,
                          "%s.run must be an array (argv, run exactly) or a string (run by sh "
                          "-c in the container), not %s %s",
                          where, type_article(run->value->type),
                          cln_toml_type_name(run->value->type));
        }
        int64_t retries = 0;
        if ((r = get_env(L, st, "env", where, &s->env, err)) < 0 ||
            (r = get_str(L, st, "workdir", where, &s->workdir, err)) < 0 ||
            (r = get_str(L, st, "user", where, &s->user, err)) < 0 ||
            (r = get_str(L, st, "stdin", where, &s->stdin_text, err)) < 0 ||
            (r = get_limit(L, st, "timeout", where, &s->timeout_ms, err)) < 0 ||
            (r = get_int(L, st, "retries", where, 0, 100, &retries, err)) < 0 ||
            (r = get_duration(L, st, "retry_interval", where, &s->retry_interval_ms, err)) < 0 ||
            (r = get_bool(L, st, "continue_on_failure", where, &s->continue_on_failure, err)) < 0 ||
            (r = get_bool(L, st, "network", where, &s->network, err)) < 0)
            return r;
        s->retries = (int)retries;
        static const char *const fresh_only[] = {"network",    "memory",       "pids",
                                                 "privileged", "host_network", "host_pid",
                                                 "outbound",   "mounts"};
        for (size_t k = 0; s->service && k < sizeof(fresh_only) / sizeof(fresh_only[0]); k++)
            if (cln_toml_table_find(st, fresh_only[k]))
                return err_at(L, cln_toml_table_find(st, fresh_only[k])->pos, err,
                              "%s.%s only applies to steps in a fresh container (\"image\"); a "
                              "service step runs in the service's container (set it on the "
                              "service)",
                              where, fresh_only[k]);
        if ((r = get_memory(L, st, where, &s->memory, err)) < 0 ||
            (r = get_int(L, st, "pids", where, 1, 1 << 22, &s->pids, err)) < 0 ||
            (r = load_privs(L, st, where, &s->privs, t, err)) < 0)
            return r;
        if (s->network && s->privs.host_network)
            return err_at(L, cln_toml_table_find(st, "host_network")->pos, err,
                          "%s: network (the test network) and host_network exclude each other",
                          where);
        if (!retries && cln_toml_table_find(st, "retry_interval"))
            return err_at(L, cln_toml_table_find(st, "retry_interval")->pos, err,
                          "%s.retry_interval without retries", where);
        if (retries && !s->retry_interval_ms)
            s->retry_interval_ms = 500;
        if ((r = load_expect(L, st, where, &s->expect, err)) < 0)
            return r;
    }
    return 0;
}

/* ---- one test (one matrix combination) ---- */

static int load_test(struct loader *L, tv *root, struct cln_spec_test *t, struct cln_error **err)
{
    tv *test = NULL;
    int r = cln_toml_get_table(L->doc, root, "test", &test, err);
    if (r < 0)
        return r;
    if (r == 0)
        return err_at(L, (struct cln_toml_pos){1, 1}, err,
                      "no [test] table (a spec needs [test] with a name, and [[steps]])");
    if ((r = CHECK_KEYS(L, test, "[test]", err, "name", "description", "tags", "timeout",
                        "host_env", "default_service", "default_image")) < 0)
        return r;
    t->file = cln_xstrdup(L->path);
    t->line = cln_toml_table_find(root, "test")->pos.line;
    char *name = NULL, *dsvc = NULL, *dimg = NULL;
    if ((r = get_str(L, test, "name", "test", &name, err)) < 0)
        return r;
    if (r == 0)
        return err_at(L, cln_toml_table_find(root, "test")->pos, err, "[test] needs a \"name\"");
    if (!*name) {
        free(name);
        return err_at(L, cln_toml_table_find(test, "name")->value->pos, err, "test.name is empty");
    }
    if (L->matrix.len) {
        struct cln_buf b = CLN_BUF_INIT;
        cln_buf_printf(&b, "%s[", name);
        for (size_t i = 0; i < L->matrix.len; i++)
            cln_buf_printf(&b, "%s%s=%s", i ? "," : "", L->matrix.items[i].key,
                           L->matrix.items[i].value);
        cln_buf_putc(&b, ']');
        free(name);
        name = cln_buf_steal(&b);
        for (size_t i = 0; i < L->matrix.len; i++)
            cln_labels_set(&t->matrix, L->matrix.items[i].key, L->matrix.items[i].value);
    }
    t->name = name;
    if ((r = get_str(L, test, "description", "test", &t->description, err)) < 0 ||
        (r = get_strv(L, test, "tags", "test", &t->tags, err)) < 0 ||
        (r = get_limit(L, test, "timeout", "test", &t->timeout_ms, err)) < 0 ||
        (r = get_str(L, test, "default_service", "test", &dsvc, err)) < 0 ||
        (r = get_str(L, test, "default_image", "test", &dimg, err)) < 0)
        goto out;
    if (dsvc && dimg) {
        r = err_at(L, cln_toml_table_find(test, "default_image")->pos, err,
                   "[test]: give default_service or default_image, not both");
        goto out;
    }
    if ((r = load_images(L, root, t, err)) < 0 || (r = load_services(L, root, t, err)) < 0)
        goto out;
    if (dsvc) {
        bool found = false;
        for (size_t i = 0; i < t->nservices; i++)
            found = found || strcmp(t->services[i].name, dsvc) == 0;
        if (!found) {
            r = err_at(L, cln_toml_table_find(test, "default_service")->value->pos, err,
                       "test.default_service: no service \"%s\" in [services]", dsvc);
            goto out;
        }
    }
    if (dimg) {
        char *ref = NULL;
        int idx;
        r = resolve_image(L, t, cln_toml_table_find(test, "default_image")->value, dimg,
                          "test.default_image", &ref, &idx, err);
        free(ref);
        if (r < 0)
            goto out;
    }
    r = load_steps(L, root, t, dsvc, dimg, err);
out:
    free(dsvc);
    free(dimg);
    return r < 0 ? r : 0;
}

static void image_done(struct cln_spec_image *im)
{
    cln_strv_free(im->bases, im->nbases);
    free(im->name);
    free(im->ref);
    free(im->dockerfile);
    for (size_t i = 0; i < im->nfiles; i++) {
        free(im->files[i].path);
        free(im->files[i].data);
    }
    free(im->files);
}

static void stream_done(struct cln_stream_expect *s)
{
    free(s->equals);
    free(s->regex);
    cln_strv_done(&s->contains);
    cln_strv_done(&s->not_contains);
}

static void test_done(struct cln_spec_test *t)
{
    free(t->name);
    free(t->file);
    free(t->description);
    cln_strv_done(&t->tags);
    cln_labels_done(&t->matrix);
    for (size_t i = 0; i < t->nimages; i++)
        image_done(&t->images[i]);
    free(t->images);
    for (size_t i = 0; i < t->nservices; i++) {
        struct cln_spec_service *s = &t->services[i];
        free(s->name);
        free(s->image);
        cln_strv_done(&s->command);
        cln_strv_done(&s->entrypoint);
        cln_labels_done(&s->env);
        for (size_t j = 0; j < s->nfiles; j++) {
            free(s->files[j].path);
            free(s->files[j].data);
        }
        free(s->files);
        free(s->ports);
        cln_strv_done(&s->depends_on);
        cln_strv_done(&s->aliases);
        cln_strv_done(&s->ready.exec);
        free(s->ready.log_regex);
        free(s->ready.http_path);
        free(s->ready.statuses);
        free(s->ready.body_regex);
        privs_done(&s->privs);
    }
    free(t->services);
    for (size_t i = 0; i < t->nsteps; i++) {
        struct cln_spec_step *s = &t->steps[i];
        free(s->name);
        free(s->service);
        free(s->image);
        cln_strv_done(&s->argv);
        cln_labels_done(&s->env);
        free(s->workdir);
        free(s->user);
        free(s->stdin_text);
        free(s->expect.codes);
        stream_done(&s->expect.out);
        stream_done(&s->expect.err);
        for (size_t j = 0; j < s->expect.nfiles; j++) {
            free(s->expect.files[j].path);
            free(s->expect.files[j].owner);
            free(s->expect.files[j].group);
            free(s->expect.files[j].equals);
            free(s->expect.files[j].regex);
        }
        free(s->expect.files);
        privs_done(&s->privs);
    }
    free(t->steps);
    for (size_t i = 0; i < t->nuses; i++)
        free(t->uses[i].desc);
    free(t->uses);
    memset(t, 0, sizeof(*t));
}

void cln_spec_set_done(struct cln_spec_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        test_done(&set->tests[i]);
    free(set->tests);
    memset(set, 0, sizeof(*set));
}

/* ---- files, vars, matrix ---- */

static int load_vars(struct loader *L, tv *root, struct cln_error **err)
{
    tv *test = NULL;
    int r = cln_toml_get_table(L->doc, root, "test", &test, err);
    if (r > 0 && (r = get_strv(L, test, "host_env", "test", &L->host_env, err)) < 0)
        return r;
    for (size_t i = 0; i < L->host_env.n; i++) {
        const char *n = L->host_env.v[i] ? L->host_env.v[i] : "";
        bool ok = (*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') || *n == '_';
        for (const char *c = n; ok && *c; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                 *c == '_';
        if (!ok)
            return err_at(
                L, cln_toml_array_at(cln_toml_table_find(test, "host_env")->value, i)->pos, err,
                "test.host_env[%zu] \"%s\" is not an environment variable name "
                "(letters, digits and '_', not starting with a digit)",
                i, n);
    }
    tv *vars = NULL;
    r = cln_toml_get_table(L->doc, root, "vars", &vars, err);
    if (r <= 0)
        return r;
    /* In order: a variable may use the ones before it. */
    for (size_t i = 0; i < cln_toml_table_len(vars); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(vars, i);
        char what[160];
        snprintf(what, sizeof(what), "vars.%s", e->key);
        if (e->value->type != CLN_TOML_STRING && e->value->type != CLN_TOML_INTEGER &&
            e->value->type != CLN_TOML_BOOL)
            return err_at(L, e->value->pos, err,
                          "%s must be a string, integer or boolean, not %s %s", what,
                          type_article(e->value->type), cln_toml_type_name(e->value->type));
        char *s = NULL;
        if (e->value->type == CLN_TOML_STRING) {
            if ((r = interp(L, e->value, what, &s, err)) < 0)
                return r;
        } else if (e->value->type == CLN_TOML_INTEGER) {
            s = cln_xasprintf("%lld", (long long)e->value->u.integer);
        } else {
            s = cln_xstrdup(e->value->u.boolean ? "true" : "false");
        }
        cln_labels_set(&L->vars, e->key, s);
        free(s);
    }
    return 0;
}

static int expand_matrix(struct loader *L, tv *root, struct cln_spec_set *set,
                         struct cln_error **err)
{
    tv *m = NULL;
    int r = cln_toml_get_table(L->doc, root, "matrix", &m, err);
    if (r < 0)
        return r;
    size_t nkeys = cln_toml_table_len(m);
    size_t total = 1;
    for (size_t i = 0; i < nkeys; i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(m, i);
        char what[160];
        snprintf(what, sizeof(what), "matrix.%s", e->key);
        if ((r = want_type(L, e->value, CLN_TOML_ARRAY, what, err)) < 0)
            return r;
        size_t n = cln_toml_array_len(e->value);
        if (n == 0)
            return err_at(L, e->value->pos, err, "%s is empty", what);
        for (size_t j = 0; j < n; j++) {
            tv *v = cln_toml_array_at(e->value, j);
            if (v->type != CLN_TOML_STRING && v->type != CLN_TOML_INTEGER &&
                v->type != CLN_TOML_BOOL)
                return err_at(L, v->pos, err, "%s[%zu] must be a string, integer or boolean", what,
                              j);
        }
        total *= n;
        if (total > 1000)
            return err_at(L, e->value->pos, err, "the matrix has more than 1000 combinations");
    }
    for (size_t c = 0; c < total; c++) {
        cln_labels_done(&L->matrix);
        size_t rest = c;
        for (size_t i = nkeys; i-- > 0;) {
            const struct cln_toml_entry *e = cln_toml_table_at(m, i);
            size_t n = cln_toml_array_len(e->value);
            tv *v = cln_toml_array_at(e->value, rest % n);
            rest /= n;
            char buf[32];
            const char *s = v->type == CLN_TOML_STRING ? v->u.str.ptr
                            : v->type == CLN_TOML_BOOL ? (v->u.boolean ? "true" : "false")
                                                       : buf;
            if (v->type == CLN_TOML_INTEGER)
                snprintf(buf, sizeof(buf), "%lld", (long long)v->u.integer);
            cln_labels_set(&L->matrix, e->key, s);
        }
        /* keep the matrix keys in document order */
        struct cln_labels ordered = {0};
        for (size_t i = 0; i < nkeys; i++) {
            const char *k = cln_toml_table_at(m, i)->key;
            cln_labels_set(&ordered, k, cln_labels_get(&L->matrix, k));
        }
        cln_labels_done(&L->matrix);
        L->matrix = ordered;
        /* variables may use the matrix: reload them per combination */
        cln_labels_done(&L->vars);
        cln_strv_done(&L->host_env);
        if ((r = load_vars(L, root, err)) < 0)
            return r;
        set->tests = cln_xgrow(set->tests, &set->cap, set->n + 1, sizeof(*set->tests));
        struct cln_spec_test *t = &set->tests[set->n];
        memset(t, 0, sizeof(*t));
        if ((r = load_test(L, root, t, err)) < 0) {
            test_done(t);
            return r;
        }
        set->n++;
    }
    return 0;
}

int cln_spec_load_file(const char *path, const struct cln_load_options *opts,
                       struct cln_spec_set *set, struct cln_error **err)
{
    struct loader L;
    memset(&L, 0, sizeof(L));
    L.path = path;
    L.allow = opts ? opts->allow : 0;
    int r = cln_toml_parse_file(path, &L.doc, err);
    if (r < 0) {
        /* a TOML syntax error in a spec is a spec error (exit code 2) */
        if (r == -CLN_E_PARSE) {
            (*err)->code = CLN_E_SPEC;
            return -CLN_E_SPEC;
        }
        return r;
    }
    const char *slash = strrchr(path, '/');
    size_t dlen = slash == path ? 1 : (size_t)(slash - path); /* "/x.toml": "/" */
    L.dir = slash ? cln_xstrndup(path, dlen) : cln_xstrdup(".");
    L.real_dir = realpath(L.dir, NULL);
    if (!L.real_dir)
        L.real_dir = cln_xstrdup(L.dir);
    tv *root = cln_toml_root(L.doc);
    size_t before = set->n;
    /* every unknown key and wrongly typed value of the file at once; only
     * then the checks of meaning, which stop at the first */
    r = cln_spec_schema_check(L.doc, 100, err) ? -CLN_E_SPEC : 0;
    if (r == 0)
        r = CHECK_KEYS(&L, root, "the spec (top level)", err, "test", "vars", "matrix", "images",
                       "services", "steps");
    if (r == 0)
        r = cln_toml_get_table(L.doc, root, "services", &L.services_tbl, err);
    if (r >= 0)
        r = expand_matrix(&L, root, set, err);
    if (r < 0) {
        for (size_t i = before; i < set->n; i++)
            test_done(&set->tests[i]);
        set->n = before;
        /* TOML-level errors are spec errors too, for exit codes */
        if (*err && (*err)->code == CLN_E_PARSE)
            (*err)->code = CLN_E_SPEC;
        r = -CLN_E_SPEC;
    }
    cln_labels_done(&L.vars);
    cln_labels_done(&L.matrix);
    cln_strv_done(&L.host_env);
    free(L.dir);
    free(L.real_dir);
    cln_toml_free(L.doc);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The directories a search has entered, by device and inode: a symlink
 * loop (two links to ".") is entered once. */
struct seen_dirs {
    dev_t *dev;
    ino_t *ino;
    size_t n, cap_dev, cap_ino;
};

static bool seen_before(struct seen_dirs *sd, const struct stat *st)
{
    for (size_t i = 0; i < sd->n; i++)
        if (sd->dev[i] == st->st_dev && sd->ino[i] == st->st_ino)
            return true;
    sd->dev = cln_xgrow(sd->dev, &sd->cap_dev, sd->n + 1, sizeof(dev_t));
    sd->ino = cln_xgrow(sd->ino, &sd->cap_ino, sd->n + 1, sizeof(ino_t));
    sd->dev[sd->n] = st->st_dev;
    sd->ino[sd->n] = st->st_ino;
    sd->n++;
    return false;
}

/* Collect spec files under dir (recursively), skipping hidden entries;
 * a symlink is followed only when it leads to a place inside the tree
 * (root, canonical), and each directory is entered once. */
static void find_specs(const char *dir, const char *root, struct seen_dirs *sd,
                       struct cln_strv *out, int depth)
{
    if (depth > 32)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    size_t rl = strlen(root);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = cln_xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        bool ok = lstat(p, &st) == 0;
        if (ok && S_ISLNK(st.st_mode)) {
            char *real = realpath(p, NULL);
            ok = real && strncmp(real, root, rl) == 0 &&
                 (real[rl] == '/' || real[rl] == '\0' || (rl == 1 && root[0] == '/')) &&
                 stat(real, &st) == 0;
            free(real);
        }
        if (ok && S_ISDIR(st.st_mode)) {
            if (!seen_before(sd, &st))
                find_specs(p, root, sd, out, depth + 1);
            free(p);
        } else if (ok && S_ISREG(st.st_mode) && has_suffix(de->d_name, CLN_SPEC_SUFFIX)) {
            strv_push(out, p);
        } else {
            free(p);
        }
    }
    closedir(d);
}

int cln_spec_load_paths(const char *const *paths, size_t n, const struct cln_load_options *opts,
                        struct cln_spec_set *set, struct cln_error **err)
{
    struct cln_strv files = {0};
    struct cln_error *errs = NULL;
    size_t nerr = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            cln_error_set(&errs, CLN_E_SPEC, errno, "%s", paths[i]);
            nerr++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            struct cln_strv found = {0};
            char *root = realpath(paths[i], NULL);
            struct seen_dirs sd = {0};
            seen_before(&sd, &st);
            find_specs(paths[i], root ? root : paths[i], &sd, &found, 0);
            free(root);
            free(sd.dev);
            free(sd.ino);
            if (found.n)
                qsort(found.v, found.n, sizeof(char *), cmp_str);
            else {
                cln_error_set(&errs, CLN_E_SPEC, 0,
                              "%s: no spec files (named *" CLN_SPEC_SUFFIX ") in this directory",
                              paths[i]);
                nerr++;
            }
            for (size_t j = 0; j < found.n; j++)
                strv_push(&files, CLN_TAKE(found.v[j]));
            cln_strv_done(&found);
        } else {
            /* An explicitly named file is loaded whatever its name. */
            strv_push(&files, cln_xstrdup(paths[i]));
        }
    }
    /* the same file named twice, or a directory and a file in it: once */
    char **reals = cln_xcalloc(files.n + 1, sizeof(char *));
    for (size_t i = 0; i < files.n; i++) {
        reals[i] = realpath(files.v[i], NULL);
        bool dup = false;
        for (size_t k = 0; k < i && reals[i] && !dup; k++)
            dup = reals[k] && strcmp(reals[k], reals[i]) == 0;
        if (dup) {
            free(files.v[i]);
            files.v[i] = NULL;
        }
    }
    cln_strv_free(reals, files.n);
    for (size_t i = 0; i < files.n; i++) {
        struct cln_error *e = NULL;
        if (!files.v[i])
            continue;
        if (cln_spec_load_file(files.v[i], opts, set, &e) < 0) {
            /* each of the file's errors on its own, in the file's order
             * (chains are newest outermost) */
            size_t depth = 0;
            for (const struct cln_error *l = e; l; l = l->cause)
                depth++;
            const struct cln_error **v = cln_xcalloc(depth, sizeof(const struct cln_error *));
            size_t k = depth;
            for (const struct cln_error *l = e; l; l = l->cause)
                v[--k] = l;
            for (k = 0; k < depth; k++)
                cln_error_set(&errs, CLN_E_SPEC, v[k]->sys_errno, "%s", v[k]->msg);
            free(v);
            cln_error_free(e);
            nerr++;
        }
    }
    cln_strv_done(&files);
    if (nerr) {
        *err = errs;
        return -CLN_E_SPEC;
    }
    return 0;
}
