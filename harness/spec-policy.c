/* What a spec may ask for beyond the hermetic defaults: privileges,
 * network and pid namespaces, host mounts (canonicalised, engine sockets
 * found), and host-file consent (files[].source outside the spec's
 * directory); each use is recorded with file:line:col, and refused by
 * cln_spec_check_allowed unless the run allows it. */
#include "spec-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/xalloc.h"

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

void cln_spec_add_use(struct cln_spec_test *t, enum cln_allow what, struct cln_toml_pos pos,
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
int cln_spec_load_privs(struct cln_spec_loader *L, tv *tbl, const char *where,
                        struct cln_spec_privs *p, struct cln_spec_test *t, struct cln_error **err)
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
        int r = cln_spec_get_bool(L, tbl, flags[i].key, where, dst[i], err);
        if (r < 0)
            return r;
        if (*dst[i])
            cln_spec_add_use(t, flags[i].what, cln_toml_table_find(tbl, flags[i].key)->pos,
                             cln_xasprintf("%s.%s = true", where, flags[i].key));
    }
    if (p->outbound && p->host_network)
        return cln_spec_err_at(L, cln_toml_table_find(tbl, "outbound")->pos, err,
                               "%s: outbound and host_network exclude each other", where);
    char what[200];
    tv *ms = NULL;
    int r = cln_spec_lookup(L, tbl, "mounts", where, CLN_TOML_ARRAY, NULL, what, sizeof(what), &ms,
                            err);
    if (r <= 0)
        return r;
    size_t n = cln_toml_array_len(ms);
    p->mounts = cln_xcalloc(n ? n : 1, sizeof(*p->mounts));
    for (size_t i = 0; i < n; i++) {
        tv *m = cln_toml_array_at(ms, i);
        char mw[260];
        snprintf(mw, sizeof(mw), "%s[%zu]", what, i);
        r = cln_spec_want_type(L, m, CLN_TOML_TABLE, mw, err);
        if (r == 0)
            r = CLN_SPEC_CHECK_KEYS(L, m, mw, err, "source", "target", "read_only");
        if (r < 0)
            return r;
        struct cln_spec_mount *sm = &p->mounts[p->nmounts++];
        if ((r = cln_spec_get_str(L, m, "source", mw, &sm->source, err)) < 0 ||
            (r = cln_spec_get_str(L, m, "target", mw, &sm->target, err)) < 0 ||
            (r = cln_spec_get_bool(L, m, "read_only", mw, &sm->read_only, err)) < 0)
            return r;
        if (!sm->source || !sm->target)
            return cln_spec_err_at(L, m->pos, err,
                                   "%s: \"source\" (a host path) and \"target\" are required", mw);
        struct cln_toml_pos pos = cln_toml_table_find(m, "source")->value->pos;
        if (sm->source[0] != '/')
            return cln_spec_err_at(
                L, pos, err, "%s.source must be an absolute host path, not \"%s\"", mw, sm->source);
        if (sm->target[0] != '/')
            return cln_spec_err_at(
                L, cln_toml_table_find(m, "target")->value->pos, err,
                "%s.target must be an absolute path in the container, not \"%s\"", mw, sm->target);
        /* Canonical before any check, and what the engine gets: /var/./run,
         * /proc/1/root or a symlink to /var/run are /run (or /). */
        char *real = realpath(sm->source, NULL);
        if (!real)
            return cln_spec_err_at(L, pos, err, "%s.source \"%s\": %s", mw, sm->source,
                                   strerror(errno));
        if (strcmp(real, sm->source) != 0) {
            free(sm->source);
            sm->source = real;
        } else {
            free(real);
        }
        cln_spec_add_use(t, CLN_ALLOW_HOST_MOUNTS, pos,
                         cln_xasprintf("%s mounts the host's %s", mw, sm->source));
        char *sock = socket_in_mount(sm->source);
        if (sock)
            cln_spec_add_use(t, CLN_ALLOW_ENGINE_SOCKET, pos,
                             cln_xasprintf("%s hands the container %s", mw, sock));
        free(sock);
    }
    return 0;
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

/* ---- host files: files[].source ---- */

#define SOURCE_MAX ((size_t)64 << 20) /* a files[].source may be at most this big */

/* Open path (canonical) for reading as a regular file, never blocking (a
 * FIFO) and never through a symlink.  Inside the spec's directory it is
 * opened beneath that directory (openat2 RESOLVE_BENEATH), so that nothing
 * swapped in after the check leads out of it. */
static int open_source(const struct cln_spec_loader *L, const char *real, bool inside)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
    if (inside) {
        int fd = cln_os_open_beneath(L->real_dir, real + strlen(L->real_dir) + 1, flags);
        if (fd >= 0 || errno != ENOSYS)
            return fd;
    }
    return open(real, flags);
}

/* files[].source: a file relative to the spec's directory.  Resolved
 * (symlinks too) before any check; outside the directory it needs
 * --allow-host-files (recorded as a use: cln_spec_check_allowed refuses it
 * with file:line:col), and is not read without it; it must be a regular
 * file, never a FIFO, a device, a directory or a /proc or /sys file.
 * Returns 1 when read, 0 when left for the flag's check. */
int cln_spec_read_source(struct cln_spec_loader *L, struct cln_spec_test *t, tv *v,
                         const char *what, const char *source, struct cln_buf *out, uint32_t *mode,
                         struct cln_error **err)
{
    cleanup_free char *joined =
        source[0] == '/' ? cln_xstrdup(source) : cln_xasprintf("%s/%s", L->dir, source);
    cleanup_free char *real = realpath(joined, NULL);
    if (!real)
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\": %s", what, source, strerror(errno));
    size_t dl = strlen(L->real_dir);
    bool inside = strncmp(real, L->real_dir, dl) == 0 && real[dl] == '/';
    cln_strv_add(&t->sources, real); /* for --watch, read or not */
    if (!inside && !(L->allow & CLN_ALLOW_HOST_FILES)) {
        cln_spec_add_use(
            t, CLN_ALLOW_HOST_FILES, v->pos,
            cln_xasprintf("%s \"%s\" is the host file %s, outside the spec's directory %s", what,
                          source, real, L->real_dir));
        return 0;
    }
    cleanup_close int fd = open_source(L, real, inside);
    if (fd < 0)
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\" (%s): %s", what, source, real,
                               errno == ELOOP || errno == EXDEV
                                   ? "it changed to lead out of the spec's directory"
                                   : strerror(errno));
    struct stat st;
    int kernel_fs = fstat(fd, &st) < 0 ? -1 : cln_os_is_kernel_fs(fd);
    if (kernel_fs < 0)
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\": %s", what, source, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cln_spec_err_at(L, v->pos, err,
                               "%s \"%s\" (%s) is not a regular file (a directory, FIFO, socket or "
                               "device is never copied)",
                               what, source, real);
    if (kernel_fs)
        return cln_spec_err_at(
            L, v->pos, err,
            "%s \"%s\" (%s) is in /proc or /sys: the host's state, never a file to "
            "copy",
            what, source, real);
    if ((uint64_t)st.st_size > SOURCE_MAX)
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\" is larger than %zu MiB", what, source,
                               SOURCE_MAX >> 20);
    *mode = st.st_mode & 0777;
    char tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0 && out->len <= SOURCE_MAX)
        cln_buf_append(out, tmp, (size_t)n);
    if (n < 0)
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\": %s", what, source, strerror(errno));
    if (out->len > SOURCE_MAX)
        return cln_spec_err_at(L, v->pos, err, "%s \"%s\" is larger than %zu MiB", what, source,
                               SOURCE_MAX >> 20);
    return 1;
}
