#include "tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
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
static int add_parents(struct archive *a, const char *path, char ***seen, size_t *nseen,
                       size_t *cap, struct cln_error **err)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        char *dir = cln_xstrndup(path, (size_t)(s - path));
        bool dup = false;
        for (size_t i = 0; i < *nseen && !dup; i++)
            dup = strcmp((*seen)[i], dir) == 0;
        if (dup) {
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
        *seen = cln_xgrow(*seen, cap, *nseen + 1, sizeof(char *));
        (*seen)[(*nseen)++] = dir;
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
    char **seen = NULL;
    size_t nseen = 0, cap = 0;
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
            r = add_parents(a, p, &seen, &nseen, &cap, err);
            if (r < 0)
                break;
        }
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, p);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, files[i].mode ? files[i].mode & 07777 : 0644);
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
    cln_strv_free(seen, nseen);
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
