#include "tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/os.h"
#include "base/strv.h"
#include "base/xalloc.h"

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
    (void)a;
    cln_buf_append(ud, buf, n);
    return (la_ssize_t)n;
}

static int tar_fail(struct archive *a, struct cln_error **err, const char *what)
{
    const char *m = archive_error_string(a);
    return cln_error_set(err, CLN_E_INTERNAL, archive_errno(a), "tar: %s: %s", what,
                         m ? m : "unknown error");
}

static bool bad_path(const char *p)
{
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return true;
        s += n;
        while (*s == '/')
            s++;
    }
    return *p == '\0';
}

/* Directory entries for each parent of path not yet written. */
static int add_parents(struct archive *a, const char *path, struct cln_strv *seen,
                       struct cln_error **err)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        char *dir = cln_xstrndup(path, (size_t)(s - path));
        if (cln_strv_contains(seen, dir)) {
            free(dir);
            continue;
        }
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, dir);
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        archive_entry_set_mtime(e, time(NULL), 0);
        int r = archive_write_header(a, e);
        archive_entry_free(e);
        cln_strv_push(seen, dir);
        if (r != ARCHIVE_OK)
            return tar_fail(a, err, "directory entry");
    }
    return 0;
}

int cln_tar_build(const struct cln_file *files, size_t n, bool with_dirs, struct cln_buf *out,
                  struct cln_error **err)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        while (*p == '/')
            p++;
        if (bad_path(p))
            return cln_error_set(err, CLN_E_INVALID, 0, "invalid file path \"%s\" in archive",
                                 files[i].path);
    }
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    struct cln_buf tmp = CLN_BUF_INIT;
    struct cln_strv seen = {0};
    int r = 0;
    if (archive_write_open(a, &tmp, NULL, write_cb, NULL) != ARCHIVE_OK) {
        r = tar_fail(a, err, "open");
        goto out;
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *p = files[i].path;
        while (*p == '/')
            p++;
        if (with_dirs) {
            r = add_parents(a, p, &seen, err);
            if (r < 0)
                break;
        }
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, p);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, files[i].mode ? files[i].mode & 07777 : 0644);
        archive_entry_set_uid(e, files[i].uid);
        archive_entry_set_gid(e, files[i].gid);
        archive_entry_set_size(e, (la_int64_t)files[i].len);
        archive_entry_set_mtime(e, time(NULL), 0);
        if (archive_write_header(a, e) != ARCHIVE_OK ||
            (files[i].len &&
             archive_write_data(a, files[i].data, files[i].len) != (la_ssize_t)files[i].len))
            r = tar_fail(a, err, p);
        archive_entry_free(e);
    }
    if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
        r = tar_fail(a, err, "close");
out:
    archive_write_free(a);
    cln_strv_done(&seen);
    if (r == 0) {
        cln_buf_append(out, tmp.data, tmp.len);
    }
    cln_buf_done(&tmp);
    return r;
}

int cln_tar_first_file(const void *tar, size_t len, struct cln_buf *content, bool *ret_found,
                       struct cln_error **err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    int r = 0;
    bool found = false;
    cln_buf_clear(content);
    if (archive_read_open_memory(a, tar, len) != ARCHIVE_OK) {
        r = tar_fail(a, err, "read");
        goto out;
    }
    struct archive_entry *e;
    int s;
    while ((s = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        char buf[65536];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
            cln_buf_append(content, buf, (size_t)n);
        if (n < 0) {
            r = tar_fail(a, err, "read data");
            goto out;
        }
        found = true;
        break;
    }
    if (!found && s != ARCHIVE_EOF && s != ARCHIVE_OK)
        r = tar_fail(a, err, "read header");
out:
    archive_read_free(a);
    if (r == 0)
        *ret_found = found;
    return r;
}

/* ---- streaming ---- */

/* libarchive pulls, a download pushes: the pieces go down one end of a
 * socketpair and a thread reads the other with archive_read_open_fd.  When
 * the reader has what it needs it closes its end, and the next piece sent
 * fails with EPIPE (MSG_NOSIGNAL: no SIGPIPE), which ends the transfer. */
struct cln_tar_stream {
    int wr, rd;
    size_t cap;
    pthread_t thread;
    /* results, written by the thread */
    bool found;
    struct cln_file_info info;
    struct cln_capture content;
    char *error;
    int error_errno;
};

static void read_entry(struct cln_tar_stream *s, struct archive *a, struct archive_entry *e)
{
    s->found = true;
    mode_t t = archive_entry_filetype(e);
    s->info.type = t == AE_IFREG   ? CLN_FILE_REGULAR
                   : t == AE_IFDIR ? CLN_FILE_DIRECTORY
                   : t == AE_IFLNK ? CLN_FILE_SYMLINK
                                   : CLN_FILE_OTHER;
    s->info.mode = (uint32_t)archive_entry_perm(e) & 07777;
    s->info.uid = (uint32_t)archive_entry_uid(e);
    s->info.gid = (uint32_t)archive_entry_gid(e);
    const char *un = archive_entry_uname(e), *gn = archive_entry_gname(e);
    const char *lt = archive_entry_symlink(e);
    s->info.uname = un && *un ? cln_xstrdup(un) : NULL;
    s->info.gname = gn && *gn ? cln_xstrdup(gn) : NULL;
    s->info.link_target = lt ? cln_xstrdup(lt) : NULL;
    s->info.size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
    if (s->info.type != CLN_FILE_REGULAR)
        return;
    s->content.total = s->info.size;
    char buf[65536];
    while (s->content.data.len < s->cap) {
        size_t want = s->cap - s->content.data.len;
        la_ssize_t n = archive_read_data(a, buf, want < sizeof(buf) ? want : sizeof(buf));
        if (n < 0) {
            const char *m = archive_error_string(a);
            s->error = cln_xasprintf("tar: read data: %s", m ? m : "unknown error");
            break;
        }
        if (n == 0)
            break;
        cln_buf_append(&s->content.data, buf, (size_t)n);
    }
    s->content.truncated = s->content.total > s->content.data.len;
}

static void *stream_reader(void *ud)
{
    struct cln_tar_stream *s = ud;
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    struct archive_entry *e;
    if (archive_read_open_fd(a, s->rd, 65536) != ARCHIVE_OK) {
        s->error = cln_xasprintf("tar: read: %s", archive_error_string(a));
    } else {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
            read_entry(s, a, e);
        } else if (r != ARCHIVE_EOF) {
            const char *m = archive_error_string(a);
            s->error = cln_xasprintf("tar: read header: %s", m ? m : "unknown error");
            s->error_errno = archive_errno(a);
        }
    }
    archive_read_free(a);
    close(s->rd); /* the writer's next send fails: the transfer stops */
    s->rd = -1;
    return NULL;
}

int cln_tar_stream_new(size_t cap, struct cln_tar_stream **ret, struct cln_error **err)
{
    int sv[2];
    if (cln_os_socketpair(AF_UNIX, SOCK_STREAM, sv) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "tar: socketpair");
    struct cln_tar_stream *s = cln_xcalloc(1, sizeof(*s));
    s->wr = sv[0];
    s->rd = sv[1];
    s->cap = cap;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals are the harness's */
    int pr = pthread_create(&s->thread, NULL, stream_reader, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pr != 0) {
        close(sv[0]);
        close(sv[1]);
        free(s);
        return cln_error_set(err, CLN_E_IO, pr, "tar: start a reader thread");
    }
    *ret = s;
    return 0;
}

bool cln_tar_stream_feed(struct cln_tar_stream *s, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(s->wr, data, len, CLN_MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false; /* the reader is done (EPIPE) */
        data += n;
        len -= (size_t)n;
    }
    return true;
}

int cln_tar_stream_finish(struct cln_tar_stream *s, struct cln_file_info *ret_info,
                          struct cln_capture *ret_content, bool *ret_found, struct cln_error **err)
{
    close(s->wr); /* end of input */
    pthread_join(s->thread, NULL);
    int r = 0;
    if (s->error) {
        r = cln_error_set(err, CLN_E_PARSE, s->error_errno, "%s", s->error);
        cln_file_info_done(&s->info);
        cln_capture_done(&s->content);
    } else {
        *ret_found = s->found;
        *ret_info = s->info;
        *ret_content = s->content;
    }
    free(s->error);
    free(s);
    return r;
}
