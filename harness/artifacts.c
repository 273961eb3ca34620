/* --artifacts DIR: what a test's steps and services name in `artifacts`
 * (files, and whole directories for a path ending in '/'), copied out of
 * their containers into DIR/TEST/STEP/PATH (DIR/TEST/services/NAME/PATH),
 * each path capped in size with the truncation recorded; and, when the test
 * did not pass, the last lines of each service's log.  A test's directory
 * is kept when it did not pass, or always with --artifacts-when always.
 *
 * Files come out through the engine's archive API (cln_rt_copy_out, which
 * works on every backend, running container or not); a directory through
 * the keep-alive busybox's tar in the container, run as root as `docker cp`
 * reads.  What is written here is only regular files and directories, by
 * names made safe (no "..", nothing absolute), opened without following
 * links, under a directory cleanrun made. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner-internal.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

#define MARKER ".cleanrun-artifacts"
#define DEFAULT_CAP ((uint64_t)16 << 20)
#define LOG_LINES 1000
#define MAX_ATTACHMENTS 100

void cln_artifact_done(struct cln_artifact *a)
{
    free(a->path);
    free(a->saved);
    free(a->error);
    cln_strv_done(&a->attachments);
    memset(a, 0, sizeof(*a));
}

/* ---- the directory: every operation relative to descriptors opened
 * without following links, in a directory only this user can write ---- */

/* Remove name (in parent) and everything under it: no link followed, no
 * other file system entered. */
static int rm_at(int parent, const char *name, dev_t dev)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    if (st.st_dev != dev) {
        errno = EXDEV;
        return -1;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            r = rm_at(dirfd(d), de->d_name, dev);
    closedir(d);
    if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -1;
    return r;
}

int cln_artifacts_prepare(const char *dir, int *ret_fd, struct cln_error **err)
{
    *ret_fd = -1;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return cln_error_set(err, CLN_E_IO, errno, "--artifacts %s: cannot make it", dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cln_error_set(err, CLN_E_INVALID, errno, "--artifacts %s: not a directory", dir);
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        close(fd);
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "--artifacts %s: it must be a directory of this user's that no "
                             "one else can write in (a link planted in it would lead what "
                             "cleanrun writes elsewhere)",
                             dir);
    }
    bool ours = faccessat(fd, MARKER, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    /* a directory of cleanrun's: the last run's artifacts go; any other
     * is used only when empty (nothing of the user's is ever removed) */
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        close(fd);
        return cln_error_set(err, CLN_E_IO, errno, "--artifacts %s", dir);
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, MARKER))
            continue;
        if (!ours) {
            r = cln_error_set(err, CLN_E_INVALID, 0,
                              "--artifacts %s: the directory is not empty and not one cleanrun "
                              "made (no %s in it): give a new or empty directory",
                              dir, MARKER);
            break;
        }
        if (rm_at(fd, de->d_name, st.st_dev) < 0)
            r = cln_error_set(err, CLN_E_IO, errno, "--artifacts %s: remove the last run's %s", dir,
                              de->d_name);
    }
    closedir(d);
    int mfd = r < 0
                  ? -1
                  : openat(fd, MARKER, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (r == 0 && mfd < 0)
        r = cln_error_set(err, CLN_E_IO, errno, "--artifacts %s: write %s", dir, MARKER);
    if (mfd >= 0) {
        static const char text[] = "a directory of cleanrun's artifacts: each run replaces what "
                                   "is in it\n";
        ssize_t w = write(mfd, text, sizeof(text) - 1);
        if (close(mfd) < 0 || w != (ssize_t)sizeof(text) - 1)
            r = cln_error_set(err, CLN_E_IO, errno, "--artifacts %s: write %s", dir, MARKER);
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

/* A name for the file system: [A-Za-z0-9._-], others '_', at most 80. */
static char *slug(const char *s)
{
    size_t n = strlen(s);
    if (n > 80)
        n = 80;
    char *r = cln_xstrndup(s, n);
    for (char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_'))
            *p = '_';
    if (!*r || r[0] == '.')
        r[0] = '_';
    return r;
}

char **cln_artifacts_test_dirs(const struct cln_spec_test *tests, size_t n)
{
    char **v = cln_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        char *s = slug(tests[i].name);
        for (unsigned k = 2;; k++) {
            /* unique whatever the case (a case-insensitive file system) */
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++)
                taken = strcasecmp(v[j], s) == 0;
            if (!taken)
                break;
            char *base = slug(tests[i].name);
            free(s);
            s = cln_xasprintf("%s-%u", base, k);
            free(base);
        }
        v[i] = s;
    }
    return v;
}

/* ---- writing under the test's directory ---- */

/* rel ("a/b/c"): every component a name (no "", ".", ".."), and no control
 * character anywhere (a name is quoted in reports, and a newline would
 * make a line of its own there). */
static bool rel_ok(const char *rel)
{
    if (!*rel)
        return false;
    for (const char *c = rel; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    for (const char *c = rel; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += n;
        if (*c == '/')
            c++;
    }
    return true;
}

/* The directory rel (whole) or rel's parent (!whole) under root, made as
 * needed, opened without following a link; *leaf the last component when
 * !whole.  -1 with errno. */
static int dirs_at(int root, const char *rel, bool whole, const char **leaf)
{
    int cur = dup(root);
    const char *c = rel;
    while (cur >= 0) {
        size_t n = strcspn(c, "/");
        if (!c[n] && !whole) {
            *leaf = c;
            return cur;
        }
        char name[256];
        if (n == 0 || n >= sizeof(name)) {
            close(cur);
            errno = n ? ENAMETOOLONG : EINVAL;
            return -1;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
            close(cur);
            return -1;
        }
        int next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(cur);
        errno = e;
        cur = next;
        if (!c[n])
            break;
        c += n + 1;
    }
    return cur;
}

static int write_file(int root, const char *rel, const void *data, size_t len)
{
    const char *leaf = NULL;
    int dir = dirs_at(root, rel, false, &leaf);
    if (dir < 0)
        return -1;
    if (!leaf) {
        close(dir);
        errno = EINVAL;
        return -1;
    }
    (void)unlinkat(dir, leaf, 0); /* what an earlier path left: replaced */
    int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int e = errno;
    close(dir);
    if (fd < 0) {
        errno = e;
        return -1;
    }
    const char *d = data;
    while (len) {
        ssize_t w = write(fd, d, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        d += w;
        len -= (size_t)w;
    }
    return close(fd);
}

/* A file written before (a hard link's target), read back. */
static int read_file(int root, const char *rel, struct cln_buf *out)
{
    const char *leaf = NULL;
    int dir = dirs_at(root, rel, false, &leaf);
    if (dir < 0)
        return -1;
    if (!leaf) {
        close(dir);
        errno = EINVAL;
        return -1;
    }
    int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dir);
    if (fd < 0)
        return -1;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        cln_buf_append(out, buf, (size_t)n);
    close(fd);
    return n < 0 ? -1 : 0;
}

static void attach(struct cln_artifact *a, const char *root, const char *rel)
{
    a->files++;
    if (a->attachments.n < MAX_ATTACHMENTS)
        cln_strv_push(&a->attachments, cln_xasprintf("%s/%s", root, rel));
}

/* The test's directory, made on first use (its descriptor in
 * c->artifacts_fd); NULL (and why in *why) when it cannot be. */
static const char *test_dir(struct test_ctx *c, char **why)
{
    if (!c->artifacts_dir) {
        const char *name = c->run->artifact_names[c->index];
        int top = c->run->opts->artifacts_fd;
        if (mkdirat(top, name, 0755) < 0 && errno != EEXIST) {
            *why =
                cln_xasprintf("make %s/%s: %s", c->run->opts->artifacts_dir, name, strerror(errno));
            return NULL;
        }
        c->artifacts_fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c->artifacts_fd < 0) {
            *why =
                cln_xasprintf("open %s/%s: %s", c->run->opts->artifacts_dir, name, strerror(errno));
            return NULL;
        }
        c->artifacts_dir = cln_xasprintf("%s/%s", c->run->opts->artifacts_dir, name);
    }
    return c->artifacts_dir;
}

/* A directory's tar (from the container) into the test's directory, at
 * rel; root names it in what is recorded. */
static void extract_tar(const struct cln_capture *tar, int fd, const char *root, const char *rel,
                        struct cln_artifact *a)
{
    struct archive *ar = archive_read_new();
    archive_read_support_format_tar(ar);
    if (archive_read_open_memory(ar, tar->data.data, tar->data.len) != ARCHIVE_OK) {
        a->error = cln_xasprintf("the directory's archive: %s", archive_error_string(ar));
        archive_read_free(ar);
        return;
    }
    int top = dirs_at(fd, rel, true, NULL);
    if (top < 0) {
        a->error = cln_xasprintf("make %s/%s: %s", root, rel, strerror(errno));
        archive_read_free(ar);
        return;
    }
    close(top);
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        while (name && name[0] == '.' && name[1] == '/')
            name += 2;
        if (!name || !*name || !strcmp(name, "."))
            continue;
        cleanup_free char *clean = cln_xstrdup(name);
        size_t cl = strlen(clean);
        while (cl && clean[cl - 1] == '/')
            clean[--cl] = '\0';
        cleanup_free char *sub = cln_xasprintf("%s/%s", rel, clean);
        mode_t type = archive_entry_filetype(e);
        const char *hard = archive_entry_hardlink(e);
        if (!rel_ok(clean) || (!hard && type != AE_IFREG && type != AE_IFDIR)) {
            a->skipped++;
            continue;
        }
        if (!hard && type == AE_IFDIR) {
            int dfd = dirs_at(fd, sub, true, NULL);
            if (dfd < 0)
                a->skipped++;
            else
                close(dfd);
            continue;
        }
        struct cln_buf b = CLN_BUF_INIT;
        if (hard) { /* a second name of a file written before */
            while (hard[0] == '.' && hard[1] == '/')
                hard += 2;
            cleanup_free char *target = cln_xasprintf("%s/%s", rel, hard);
            if (!rel_ok(hard) || read_file(fd, target, &b) < 0) {
                cln_buf_done(&b);
                a->skipped++;
                continue;
            }
        } else {
            const void *blk;
            size_t len;
            la_int64_t off;
            int rr;
            while ((rr = archive_read_data_block(ar, &blk, &len, &off)) == ARCHIVE_OK)
                cln_buf_append(&b, blk, len);
            if (rr != ARCHIVE_EOF) { /* cut short: the cap */
                cln_buf_done(&b);
                break;
            }
        }
        if (write_file(fd, sub, b.data, b.len) < 0) {
            if (!a->error)
                a->error = cln_xasprintf("write %s/%s: %s", root, sub, strerror(errno));
        } else {
            a->bytes += b.len;
            attach(a, root, sub);
        }
        cln_buf_done(&b);
    }
    if (r != ARCHIVE_EOF && !tar->truncated && !a->error)
        a->error = cln_xasprintf("the directory's archive: %s", archive_error_string(ar));
    archive_read_free(ar);
}

static void save_one(struct test_ctx *c, const char *id, int fd, const char *root, const char *sub,
                     const char *path, uint64_t cap, struct cln_artifact *a)
{
    struct cln_runtime *rt = c->run->rt;
    a->path = cln_xstrdup(path);
    size_t pl = strlen(path);
    bool dir = pl > 1 && path[pl - 1] == '/';
    cleanup_free char *inner = cln_xstrndup(path + 1, dir ? pl - 2 : pl - 1);
    cleanup_free char *rel = cln_xasprintf("%s/%s", sub, inner);
    struct cln_error *e = NULL;
    /* the engine's requests bounded by their own limits, not the test's:
     * artifacts matter most when a test ran out of time */
    const char *dl_what = NULL;
    uint64_t dl = cln_deadline_get(&dl_what);
    cln_deadline_set(0, NULL);
    if (!dir) {
        struct cln_file_info fi;
        struct cln_capture content;
        bool found = false;
        memset(&content, 0, sizeof(content));
        memset(&fi, 0, sizeof(fi));
        if (cln_rt_copy_out(rt, id, path, (size_t)cap, &fi, &content, &found, &e) < 0) {
            a->error = cln_xstrdup(cln_error_text(e));
        } else if (!found) {
            a->error = cln_xstrdup("not found in the container");
        } else if (fi.type == CLN_FILE_DIRECTORY) {
            a->error = cln_xasprintf("a directory: write \"%s/\" to save it", path);
        } else if (fi.type != CLN_FILE_REGULAR) {
            a->skipped = 1; /* a link is not followed (its target may be anything) */
            a->error = fi.type == CLN_FILE_SYMLINK
                           ? cln_xasprintf("a symbolic link (to %s), not saved: name its target",
                                           fi.link_target ? fi.link_target : "?")
                           : cln_xstrdup("not a regular file: not saved");
        } else if (write_file(fd, rel, content.data.data, content.data.len) < 0) {
            a->error = cln_xasprintf("write %s/%s: %s", root, rel, strerror(errno));
        } else {
            a->bytes = content.data.len;
            a->truncated = content.truncated;
            a->saved = cln_xasprintf("%s/%s", root, rel);
            attach(a, root, rel);
        }
        cln_error_free(e);
        cln_capture_done(&content);
        cln_file_info_done(&fi);
        cln_deadline_set(dl, dl_what);
        return;
    }
    /* a directory: its tar, made in the container by the keep-alive busybox */
    cleanup_free char *src = cln_xstrndup(path, pl - 1);
    const char *argv[] = {KEEPALIVE_BIN, "tar", "-cf", "-", "-C", src, ".", NULL};
    struct cln_exec_config ec = {
        .argv = argv, .user = "0", .timeout_ms = 60000, .output_cap = (size_t)cap};
    struct cln_exec_result er;
    int xr = cln_rt_exec(rt, id, &ec, &er, &e);
    cln_deadline_set(dl, dl_what);
    if (xr < 0) {
        a->error = cln_xasprintf("archive the directory in the container: %s", cln_error_text(e));
        cln_error_free(e);
        return;
    }
    cleanup_free char *msg = cln_xstrndup(er.err.data.data ? er.err.data.data : "",
                                          er.err.data.len > 300 ? 300 : er.err.data.len);
    if (er.status == CLN_EXEC_TIMEOUT)
        a->error = cln_xstrdup("archiving the directory in the container took over 60s: what "
                               "came before is saved");
    else if (er.exit_code != 0 && !er.out.truncated && strstr(msg, "No such file") &&
             er.out.data.len == 0)
        a->error = cln_xstrdup("not found in the container");
    else if (er.exit_code != 0 && !er.out.truncated)
        a->error = cln_xasprintf("tar in the container exited %d%s%s: what it archived is saved",
                                 er.exit_code, *msg ? ": " : "", msg);
    if (er.out.data.len) {
        a->truncated = er.out.truncated;
        char *before = a->error;
        a->error = NULL;
        extract_tar(&er.out, fd, root, rel, a);
        if (before) { /* the first problem is the one to say */
            free(a->error);
            a->error = before;
        }
        struct stat st;
        if (fstatat(fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            a->saved = cln_xasprintf("%s/%s", root, rel);
    }
    cln_exec_result_done(&er);
}

char *cln_artifacts_step_dir(size_t si, const char *name)
{
    cleanup_free char *s = slug(name);
    return cln_xasprintf("%02zu-%s", si + 1, s);
}

void cln_artifacts_save(struct test_ctx *c, const char *id, const char *sub,
                        const struct cln_strv *paths, struct cln_artifact **ret, size_t *ret_n)
{
    if (!c->run->opts->artifacts_dir || !paths->n || !id)
        return;
    uint64_t cap = c->run->opts->artifacts_cap ? c->run->opts->artifacts_cap : DEFAULT_CAP;
    *ret = cln_xcalloc(paths->n, sizeof(**ret));
    *ret_n = paths->n;
    char *why = NULL;
    const char *root = test_dir(c, &why);
    for (size_t i = 0; i < paths->n; i++) {
        if (!root) {
            (*ret)[i].path = cln_xstrdup(paths->v[i]);
            (*ret)[i].error = cln_xstrdup(why);
            continue;
        }
        save_one(c, id, c->artifacts_fd, root, sub, paths->v[i], cap, &(*ret)[i]);
    }
    free(why);
}

void cln_artifacts_save_log(struct test_ctx *c, struct cln_service_result *sr)
{
    if (!c->run->opts->artifacts_dir || !sr->container_id)
        return;
    struct cln_capture out, err;
    struct cln_error *e = NULL;
    sr->artifacts = cln_xrealloc(sr->artifacts, (sr->nartifacts + 1) * sizeof(*sr->artifacts));
    struct cln_artifact *a = &sr->artifacts[sr->nartifacts++];
    memset(a, 0, sizeof(*a));
    a->path = cln_xstrdup("log");
    char *why = NULL;
    const char *root = test_dir(c, &why);
    if (!root) {
        a->error = why;
        return;
    }
    if (cln_rt_logs(c->run->rt, sr->container_id, LOG_LINES, 4u << 20, &out, &err, &e) < 0) {
        a->error = cln_xstrdup(cln_error_text(e));
        cln_error_free(e);
        return;
    }
    const struct cln_capture *streams[] = {&out, &err};
    static const char *const names[] = {"stdout", "stderr"};
    for (int k = 0; k < 2; k++) {
        if (!streams[k]->data.len)
            continue;
        cleanup_free char *rel = cln_xasprintf("services/%s.%s.log", sr->service->name, names[k]);
        if (write_file(c->artifacts_fd, rel, streams[k]->data.data, streams[k]->data.len) < 0) {
            a->error = cln_xasprintf("write %s/%s: %s", root, rel, strerror(errno));
            continue;
        }
        a->bytes += streams[k]->data.len;
        a->truncated = a->truncated || streams[k]->truncated;
        attach(a, root, rel);
        if (!a->saved)
            a->saved = cln_xasprintf("%s/services/%s.%s.log", root, sr->service->name, names[k]);
    }
    cln_capture_done(&out);
    cln_capture_done(&err);
}

void cln_artifacts_finish(struct test_ctx *c)
{
    if (!c->artifacts_dir)
        return;
    bool passed = c->r->status == CLN_ST_PASSED || c->r->status == CLN_ST_SKIPPED;
    if (passed && !c->run->opts->artifacts_always) {
        /* (a passing test's steps were saved not knowing how it would end) */
        struct stat st;
        if (fstat(c->run->opts->artifacts_fd, &st) == 0)
            (void)rm_at(c->run->opts->artifacts_fd, c->run->artifact_names[c->index], st.st_dev);
        for (size_t i = 0; i < c->r->nsteps; i++) {
            struct cln_step_result *sr = &c->r->steps[i];
            for (size_t k = 0; k < sr->nartifacts; k++)
                cln_artifact_done(&sr->artifacts[k]);
            free(sr->artifacts);
            sr->artifacts = NULL;
            sr->nartifacts = 0;
        }
        free(c->artifacts_dir);
    } else {
        c->r->artifacts_dir = c->artifacts_dir;
    }
    c->artifacts_dir = NULL;
    if (c->artifacts_fd >= 0)
        close(c->artifacts_fd);
    c->artifacts_fd = -1;
}
