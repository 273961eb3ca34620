/* One layer into the store: its blob decompressed (gzip, zstd, xz when
 * libarchive has them built in; never an external program), the tar stream
 * hashed on its way to the unpacker and checked against the diff_id, the
 * tree unpacked into tmp/ and renamed to layers/<diffid-hex>/ once complete. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"

/* Filters compiled into libarchive; one that would run an external program
 * (ARCHIVE_WARN) is left out. */
static bool filter_builtin(int (*fn)(struct archive *))
{
    struct archive *a = archive_read_new();
    bool ok = a && fn(a) == ARCHIVE_OK;
    archive_read_free(a);
    return ok;
}

void native_archive_filters(struct archive *a)
{
    static int (*const filters[])(struct archive *) = {
        archive_read_support_filter_gzip,
        archive_read_support_filter_zstd,
        archive_read_support_filter_xz,
        archive_read_support_filter_bzip2,
    };
    archive_read_support_filter_none(a);
    for (size_t i = 0; i < CLN_ARRAY_SIZE(filters); i++)
        if (filter_builtin(filters[i]))
            filters[i](a);
}

struct tee {
    struct archive *outer;
    struct native_sha256 *h;
    char buf[65536];
    uint64_t total;
};

static la_ssize_t tee_read(struct archive *a, void *data, const void **ret_buf)
{
    (void)a;
    struct tee *t = data;
    la_ssize_t n = archive_read_data(t->outer, t->buf, sizeof(t->buf));
    if (n < 0) {
        archive_set_error(a, EIO, "%s", archive_error_string(t->outer));
        return -1;
    }
    native_sha256_update(t->h, t->buf, (size_t)n);
    t->total += (uint64_t)n;
    *ret_buf = t->buf;
    return n;
}

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

static void tee_freep(struct tee **t)
{
    if (*t) {
        native_sha256_free((*t)->h);
        free(*t);
    }
}

static bool layer_exists(struct cln_store *s, const char *hex)
{
    cleanup_free char *p = cln_xasprintf("layers/%s", hex);
    struct stat st;
    return fstatat(s->rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Unpack fd's layer into dirfd; hex gets the uncompressed stream's sha256. */
static int unpack_hashed(struct cln_store *s, int fd, int dirfd, const char *what,
                         char hex[NATIVE_HEX_LEN + 1], uint64_t *ret_size, struct cln_error **err)
{
    cleanup_archive struct archive *outer = archive_read_new();
    cleanup_archive struct archive *inner = archive_read_new();
    __attribute__((cleanup(tee_freep))) struct tee *t = cln_xcalloc(1, sizeof(*t));
    struct archive_entry *e;
    native_archive_filters(outer);
    archive_read_support_format_raw(outer);
    if (archive_read_open_fd(outer, fd, 65536) != ARCHIVE_OK ||
        archive_read_next_header(outer, &e) != ARCHIVE_OK)
        return cln_error_set(err, CLN_E_PARSE, 0, "%s: %s", what, archive_error_string(outer));
    t->outer = outer;
    t->h = native_sha256_new();
    archive_read_support_format_tar(inner);
    if (archive_read_open(inner, t, NULL, tee_read, NULL) != ARCHIVE_OK)
        return cln_error_set(err, CLN_E_PARSE, 0, "%s: not a tar archive: %s", what,
                             archive_error_string(inner));
    struct native_unpack_opts o = {.layer = true,
                                   .is_root = s->is_root,
                                   .max_entries = s->max_entries,
                                   .max_bytes = s->max_bytes};
    uint64_t size = 0;
    if (native_unpack(inner, dirfd, &o, &size, err) < 0)
        return cln_error_wrap(err, "%s", what);
    /* the rest of the stream (the end blocks, padding) counts for the digest */
    for (;;) {
        la_ssize_t n = archive_read_data(outer, t->buf, sizeof(t->buf));
        if (n < 0)
            return cln_error_set(err, CLN_E_PARSE, 0, "%s: %s", what, archive_error_string(outer));
        if (n == 0)
            break;
        native_sha256_update(t->h, t->buf, (size_t)n);
    }
    native_sha256_final(CLN_TAKE(t->h), hex);
    *ret_size = size;
    return 0;
}

int native_layer_unpack(struct cln_store *s, int srcdir, const char *path, const char *diff_id,
                        char **ret_diff_id, uint64_t *ret_size, bool *ret_existed,
                        struct cln_error **err)
{
    char want[NATIVE_HEX_LEN + 1] = "";
    cleanup_free char *what = cln_xasprintf("layer '%s'", path);
    if (diff_id && native_digest_hex(diff_id, want, err) < 0)
        return cln_error_wrap(err, "%s: its diff_id", what);
    if (diff_id && layer_exists(s, want)) {
        *ret_size = 0;
        *ret_existed = true;
        if (ret_diff_id)
            *ret_diff_id = cln_xstrdup(diff_id);
        return 0;
    }
    cleanup_close int fd = srcdir == AT_FDCWD ? open(path, O_RDONLY | O_CLOEXEC)
                                              : native_open_in_root(srcdir, path, O_RDONLY);
    if (fd < 0)
        return cln_error_set(err, CLN_E_NOT_FOUND, errno, "%s: open", what);
    cleanup_free char *tmp = NULL;
    cleanup_close int tmpfd = -1;
    if (native_tmpdir(s, "layer", &tmp, &tmpfd, err) < 0)
        return -CLN_E_IO;
    char hex[NATIVE_HEX_LEN + 1];
    uint64_t size = 0;
    (void)fchmod(tmpfd, 0755); /* the layer's root, unless the tar names "./" */
    int r = unpack_hashed(s, fd, tmpfd, what, hex, &size, err);
    if (r == 0 && diff_id && strcmp(hex, want) != 0)
        r = cln_error_set(err, CLN_E_INVALID, 0,
                          "%s: digest mismatch: its uncompressed stream is sha256:%s, the "
                          "config's diff_id is %s",
                          what, hex, diff_id);
    bool existed = false;
    if (r == 0) {
        cleanup_free char *dst = cln_xasprintf("layers/%s", hex);
        if (layer_exists(s, hex))
            existed = true;
        else if (renameat(s->rootfd, tmp, s->rootfd, dst) < 0)
            r = cln_error_set(err, CLN_E_IO, errno, "%s: rename into %s/%s", what, s->root, dst);
    }
    if (r < 0 || existed)
        (void)native_rm_rf(s->rootfd, tmp);
    if (r < 0)
        return r;
    *ret_size = existed ? 0 : size;
    *ret_existed = existed;
    if (ret_diff_id)
        *ret_diff_id = cln_xasprintf("sha256:%s", hex);
    return 0;
}
