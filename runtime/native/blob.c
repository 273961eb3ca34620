/* The image store's files: sha256 (libcrypto), blobs verified and written
 * atomically, opening inside a root (openat2), temp dirs, removal that
 * never follows a symlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/random.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"

struct native_sha256 {
    EVP_MD_CTX *ctx;
};

struct native_sha256 *native_sha256_new(void)
{
    struct native_sha256 *h = cln_xcalloc(1, sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort(); /* out of memory: as cln_xmalloc */
    return h;
}

void native_sha256_update(struct native_sha256 *h, const void *p, size_t n)
{
    if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
        abort();
}

void native_sha256_final(struct native_sha256 *h, char hex[NATIVE_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != sizeof(md))
        abort();
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    native_sha256_free(h);
}

void native_sha256_free(struct native_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int native_digest_hex(const char *digest, char hex[NATIVE_HEX_LEN + 1], struct cln_error **err)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest + 7) != NATIVE_HEX_LEN ||
        strspn(digest + 7, "0123456789abcdef") != NATIVE_HEX_LEN)
        return cln_error_set(err, CLN_E_INVALID, 0, "not a sha256 digest: '%.80s'",
                             digest ? digest : "(none)");
    memcpy(hex, digest + 7, NATIVE_HEX_LEN + 1);
    return 0;
}

int native_hash_fd(int fd, uint64_t *ret_size, char hex[NATIVE_HEX_LEN + 1], struct cln_error **err)
{
    struct native_sha256 *h = native_sha256_new();
    uint64_t total = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            native_sha256_free(h);
            return cln_error_set(err, CLN_E_IO, e, "read");
        }
        if (n == 0)
            break;
        native_sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    native_sha256_final(h, hex);
    *ret_size = total;
    return 0;
}

int native_open_in_root(int dirfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    for (int i = 0; i < 100; i++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return (int)fd;
    }
    return -1;
}

int native_read_verified(int dirfd, const char *path, const char *digest, int64_t size, size_t max,
                         const char *what, char **ret, size_t *ret_len, struct cln_error **err)
{
    char want[NATIVE_HEX_LEN + 1];
    if (digest && native_digest_hex(digest, want, err) < 0)
        return cln_error_wrap(err, "%s", what);
    cleanup_close int fd = native_open_in_root(dirfd, path, O_RDONLY);
    if (fd < 0)
        return cln_error_set(err, errno == ENOENT ? CLN_E_NOT_FOUND : CLN_E_IO, errno,
                             "%s: open '%s'", what, path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return cln_error_set(err, CLN_E_INVALID, 0, "%s: '%s' is not a regular file", what, path);
    if (digest && size >= 0 && st.st_size != size)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "%s: size mismatch for %s: %lld bytes, the descriptor says %lld", what,
                             digest, (long long)st.st_size, (long long)size);
    if ((uint64_t)st.st_size > max)
        return cln_error_set(err, CLN_E_INVALID, 0, "%s: '%s' is larger than %zu bytes", what, path,
                             max);
    size_t len = (size_t)st.st_size;
    cleanup_free char *data = cln_xmalloc(len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, data + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cln_error_set(err, CLN_E_IO, errno, "%s: read '%s'", what, path);
        if (n == 0)
            return cln_error_set(err, CLN_E_IO, 0, "%s: '%s' shrank while read", what, path);
        got += (size_t)n;
    }
    data[len] = '\0';
    if (digest) {
        char hex[NATIVE_HEX_LEN + 1];
        struct native_sha256 *h = native_sha256_new();
        native_sha256_update(h, data, len);
        native_sha256_final(h, hex);
        if (strcmp(hex, want) != 0)
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "%s: digest mismatch: '%s' is sha256:%s, expected %s", what, path,
                                 hex, digest);
    }
    *ret_len = len;
    *ret = CLN_TAKE(data);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int native_write_atomic(int dirfd, const char *name, const void *data, size_t len,
                        struct cln_error **err)
{
    char rnd[17];
    cln_random_hex(rnd, 8);
    cleanup_free char *tmp = cln_xasprintf(".%s.tmp-%s", name, rnd);
    cleanup_close int fd =
        openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return cln_error_set(err, CLN_E_IO, errno, "create '%s'", tmp);
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        (void)unlinkat(dirfd, tmp, 0);
        return cln_error_set(err, CLN_E_IO, e, "write '%s'", tmp);
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        (void)unlinkat(dirfd, tmp, 0);
        return cln_error_set(err, CLN_E_IO, e, "rename '%s' to '%s'", tmp, name);
    }
    if (fsync(dirfd) < 0 && errno != EINVAL && errno != EBADF)
        return cln_error_set(err, CLN_E_IO, errno, "fsync the directory of '%s'", name);
    return 0;
}

int native_blob_put(struct cln_store *s, const void *data, size_t len, char **ret_digest,
                    struct cln_error **err)
{
    char hex[NATIVE_HEX_LEN + 1];
    struct native_sha256 *h = native_sha256_new();
    native_sha256_update(h, data, len);
    native_sha256_final(h, hex);
    cleanup_close int dfd = openat(s->rootfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return cln_error_set(err, CLN_E_IO, errno, "open %s/blobs/sha256", s->root);
    struct stat st;
    if (fstatat(dfd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != len) {
        if (native_write_atomic(dfd, hex, data, len, err) < 0)
            return cln_error_wrap(err, "store blob sha256:%s", hex);
    }
    if (ret_digest)
        *ret_digest = cln_xasprintf("sha256:%s", hex);
    return 0;
}

static int rm_children(int fd)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (native_rm_rf(dirfd(d), de->d_name) < 0)
            ret = -1;
    }
    closedir(d);
    return ret;
}

int native_rm_rf(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    if ((st.st_mode & 0700) != 0700)
        if (fchmodat(dirfd, name, (st.st_mode & 07777) | 0700, 0) < 0) {
            /* not ours to change: the removal below says what failed */
        }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ret = rm_children(fd);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        ret = -1;
    return ret;
}

int native_tmpdir(struct cln_store *s, const char *prefix, char **ret_name, int *ret_fd,
                  struct cln_error **err)
{
    char rnd[17];
    cln_random_hex(rnd, 8);
    cleanup_free char *name = cln_xasprintf("tmp/%s-%s", prefix, rnd);
    if (mkdirat(s->rootfd, name, 0700) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "create %s/%s", s->root, name);
    int fd = openat(s->rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        (void)native_rm_rf(s->rootfd, name);
        return cln_error_set(err, CLN_E_IO, e, "open %s/%s", s->root, name);
    }
    *ret_fd = fd;
    *ret_name = CLN_TAKE(name);
    return 0;
}
