/* Safe unpacking of archives into a directory: image layers (whiteouts in
 * overlay's format, owners and modes) and the staging of image archives.
 *
 * Nothing is ever written outside the target directory: every parent is
 * reached one component at a time with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so an entry under a symlink
 * is refused, and every final component is created with *at calls that do
 * not follow it.  Refused, with the entry's name: absolute names, `..`,
 * symlinks whose target leaves the directory, hardlinks outside it, device
 * nodes when not root, too many entries or bytes.  Setuid and setgid bits
 * and owners are kept only as root. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."

struct dirmeta {
    char *path; /* "." for the root */
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
};

struct unpack {
    int rootfd;
    const struct native_unpack_opts *o;
    struct dirmeta *dirs;
    size_t ndirs, cap;
    uint64_t entries, bytes;
};

static int openat2_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve =
                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    for (int i = 0; i < 100; i++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return (int)fd;
    }
    return -1;
}

/* raw without "./", empty and "." components; refuse absolute names and
 * "..".  "" is the root itself. */
static int clean_name(const char *raw, const char *what, char **ret, struct cln_error **err)
{
    if (!raw || !*raw) {
        cln_error_set(err, CLN_E_INVALID, 0, "an entry without a name");
        return -CLN_E_INVALID;
    }
    if (raw[0] == '/') {
        cln_error_set(err, CLN_E_INVALID, 0, "%s '%s': absolute path refused", what, raw);
        return -CLN_E_INVALID;
    }
    struct cln_buf out = {0};
    const char *p = raw;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            cln_buf_done(&out);
            cln_error_set(err, CLN_E_INVALID, 0, "%s '%s': '..' component refused", what, raw);
            return -CLN_E_INVALID;
        }
        if (n && !(n == 1 && p[0] == '.')) {
            if (out.len)
                cln_buf_putc(&out, '/');
            cln_buf_append(&out, p, n);
        }
        p += n;
        if (*p == '/')
            p++;
    }
    *ret = out.len ? cln_buf_steal(&out) : cln_xstrdup("");
    cln_buf_done(&out);
    return 0;
}

/* Does a symlink at path (clean, relative to the root) with this target
 * resolve, lexically, outside the root?  Absolute targets resolve in it. */
static bool link_escapes(const char *path, const char *target)
{
    long depth = 0;
    if (target[0] != '/')
        for (const char *p = path; *p; p++)
            depth += *p == '/';
    for (const char *p = target; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return true;
        } else if (n && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return false;
}

/* An O_PATH fd on the parent directory of path (clean, not ""), creating
 * missing directories when create; *ret_base points into path. */
static int open_parent(struct unpack *u, const char *path, const char *entry, bool create,
                       int *ret_fd, const char **ret_base, struct cln_error **err)
{
    cleanup_close int cur = openat(u->rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) {
        cln_error_set(err, CLN_E_IO, errno, "open the target directory");
        return -CLN_E_INVALID;
    }
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (!p[n])
            break;
        cleanup_free char *comp = cln_xstrndup(p, n);
        int fd = openat2_beneath(cur, comp, O_PATH | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
                cln_error_set(err, CLN_E_IO, errno, "entry '%s': create its parent '%.*s'", entry,
                              (int)(p - path + n), path);
                return -CLN_E_INVALID;
            }
            fd = openat2_beneath(cur, comp, O_PATH | O_DIRECTORY);
        }
        if (fd < 0) {
            int e = errno;
            struct stat st;
            if ((e == ELOOP || e == ENOTDIR || e == EXDEV) &&
                fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                cln_error_set(err, CLN_E_INVALID, 0,
                              "entry '%s': its parent '%.*s' is a symlink: refused", entry,
                              (int)(p - path + n), path);
                return -CLN_E_INVALID;
            }
            cln_error_set(err, e == ENOENT ? CLN_E_NOT_FOUND : CLN_E_INVALID, e,
                          "entry '%s': its parent '%.*s' is not a directory", entry,
                          (int)(p - path + n), path);
            return -CLN_E_INVALID;
        }
        close(cur);
        cur = fd;
        p += n + 1;
    }
    *ret_base = p;
    *ret_fd = CLN_TAKE_FD(cur);
    return 0;
}

static void dir_record(struct unpack *u, const char *path, struct archive_entry *e, mode_t mode,
                       bool existed)
{
    struct dirmeta *d = NULL;
    if (existed)
        for (size_t i = 0; i < u->ndirs && !d; i++)
            if (!strcmp(u->dirs[i].path, path))
                d = &u->dirs[i];
    if (!d) {
        u->dirs = cln_xgrow(u->dirs, &u->cap, u->ndirs + 1, sizeof(*u->dirs));
        d = &u->dirs[u->ndirs++];
        d->path = cln_xstrdup(path);
    }
    d->mode = mode;
    d->uid = (uid_t)archive_entry_uid(e);
    d->gid = (gid_t)archive_entry_gid(e);
    d->mtime.tv_sec = archive_entry_mtime(e);
    d->mtime.tv_nsec = archive_entry_mtime_nsec(e);
}

/* Owners and modes of directories, last: children first, so that a
 * directory without write permission is finished after its contents. */
static int dirs_finish(struct unpack *u, int ret, struct cln_error **err)
{
    for (size_t i = u->ndirs; i-- > 0;) {
        struct dirmeta *d = &u->dirs[i];
        cleanup_close int fd =
            ret < 0 ? -1 : openat2_beneath(u->rootfd, d->path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            if (u->o->layer && u->o->is_root && fchown(fd, d->uid, d->gid) < 0)
                ret = cln_error_set(err, CLN_E_IO, errno, "directory '%s': owner", d->path);
            if (ret == 0 && fchmod(fd, d->mode) < 0)
                ret = cln_error_set(err, CLN_E_IO, errno, "directory '%s': mode", d->path);
            struct timespec ts[2] = {d->mtime, d->mtime};
            (void)futimens(fd, ts);
        }
        free(d->path);
    }
    free(u->dirs);
    u->dirs = NULL;
    u->ndirs = 0;
    return ret;
}

static int set_xattr_at(int parent, const char *name, const char *key, const char *val,
                        const char *entry, struct cln_error **err)
{
    cleanup_close int fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fsetxattr(fd, key, val, strlen(val), 0) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': set %s on '%s'", entry, key, name);
    return 0;
}

/* .wh..wh..opq: the parent directory becomes opaque. */
static int whiteout_opaque(struct unpack *u, int parent, const char *entry, struct cln_error **err)
{
    const char *key = u->o->is_root ? "trusted.overlay.opaque" : "user.overlay.opaque";
    return set_xattr_at(parent, ".", key, "y", entry, err);
}

/* .wh.X: X becomes a whiteout (a char device 0/0; when that is not allowed,
 * an empty file with user.overlay.whiteout in a directory marked "x"). */
static int whiteout(struct unpack *u, int parent, const char *name, const char *entry,
                    struct cln_error **err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0; /* X is in this very layer: a whiteout hides lower layers only */
    if (mknodat(parent, name, S_IFCHR, makedev(0, 0)) == 0)
        return 0;
    if (u->o->is_root || (errno != EPERM && errno != EACCES))
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': create the whiteout", entry);
    cleanup_close int fd =
        openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0000);
    if (fd < 0 || fsetxattr(fd, "user.overlay.whiteout", "y", 1, 0) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': create the whiteout", entry);
    char v[2] = {0};
    cleanup_close int dfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0 && fgetxattr(dfd, "user.overlay.opaque", v, 1) == 1 && v[0] == 'y')
        return 0;
    return set_xattr_at(parent, ".", "user.overlay.opaque", "x", entry, err);
}

static int write_data(struct unpack *u, struct archive *a, int fd, const char *entry,
                      struct cln_error **err)
{
    const void *buf;
    size_t size;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return cln_error_set(err, CLN_E_PARSE, 0, "entry '%s': %s", entry,
                                 archive_error_string(a));
        if (off < 0)
            return cln_error_set(err, CLN_E_PARSE, 0, "entry '%s': bad offset", entry);
        u->bytes += size;
        if (u->bytes > u->o->max_bytes)
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "entry '%s': more than %llu bytes unpacked: refused", entry,
                                 (unsigned long long)u->o->max_bytes);
        const char *p = buf;
        while (size) {
            ssize_t n = pwrite(fd, p, size, off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return cln_error_set(err, CLN_E_IO, errno, "entry '%s': write", entry);
            p += n;
            off += n;
            size -= (size_t)n;
        }
    }
    return 0;
}

static int make_file(struct unpack *u, struct archive *a, struct archive_entry *e, int parent,
                     const char *base, const char *entry, mode_t mode, struct cln_error **err)
{
    cleanup_close int fd =
        openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': create", entry);
    if (write_data(u, a, fd, entry, err) < 0)
        return -CLN_E_INVALID;
    la_int64_t size = archive_entry_size(e);
    if (size >= 0 && ftruncate(fd, size) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': size", entry);
    if (u->o->layer && u->o->is_root &&
        fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': owner", entry);
    if (fchmod(fd, mode) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': mode", entry);
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    (void)futimens(fd, ts);
    return 0;
}

static int make_link(struct unpack *u, struct archive_entry *e, int parent, const char *base,
                     const char *path, const char *entry, struct cln_error **err)
{
    const char *hl = archive_entry_hardlink(e);
    if (hl) {
        cleanup_free char *target = NULL;
        if (clean_name(hl, "hardlink target of", &target, err) < 0)
            return cln_error_wrap(err, "entry '%s'", entry);
        if (!*target)
            return cln_error_set(err, CLN_E_INVALID, 0, "entry '%s': hardlink to the root", entry);
        cleanup_close int tparent = -1;
        const char *tbase = NULL;
        if (open_parent(u, target, entry, false, &tparent, &tbase, err) < 0)
            return cln_error_wrap(err, "hardlink '%s' -> '%s' refused", entry, hl);
        if (linkat(tparent, tbase, parent, base, 0) < 0)
            return cln_error_set(err, CLN_E_INVALID, errno,
                                 "entry '%s': hardlink to '%s' (not in the archive before it)",
                                 entry, hl);
        return 0;
    }
    const char *target = archive_entry_symlink(e);
    if (!target || !*target)
        return cln_error_set(err, CLN_E_INVALID, 0, "entry '%s': symlink without a target", entry);
    if (link_escapes(path, target))
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "entry '%s': symlink to '%s' leaves the layer: refused", entry,
                             target);
    if (symlinkat(target, parent, base) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': create the symlink", entry);
    if (u->o->layer && u->o->is_root &&
        fchownat(parent, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "entry '%s': owner", entry);
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    (void)utimensat(parent, base, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int one_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
                     struct cln_error **err)
{
    const char *entry = archive_entry_pathname(e);
    cleanup_free char *path = NULL;
    if (clean_name(entry, "entry", &path, err) < 0)
        return -CLN_E_INVALID;
    if (++u->entries > u->o->max_entries)
        return cln_error_set(err, CLN_E_INVALID, 0, "entry '%s': more than %llu entries: refused",
                             entry, (unsigned long long)u->o->max_entries);
    mode_t type = archive_entry_filetype(e);
    bool hardlink = archive_entry_hardlink(e) != NULL;
    /* setuid and setgid only as root; the sticky bit (a shared /tmp's) always */
    mode_t perm = archive_entry_perm(e) & (u->o->layer && u->o->is_root ? 07777 : 01777);
    if (!u->o->layer)
        perm = type == AE_IFDIR ? 0700 : 0600;
    if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK) && (!u->o->layer || !u->o->is_root))
        return cln_error_set(err, CLN_E_INVALID, 0, "entry '%s': device node refused (%s)", entry,
                             u->o->layer ? "only root may create one"
                                         : "an image archive has none");
    if (!*path) {
        if (type == AE_IFDIR)
            dir_record(u, ".", e, perm, true);
        return 0;
    }

    cleanup_close int parent = -1;
    const char *base = NULL;
    if (open_parent(u, path, entry, true, &parent, &base, err) < 0)
        return -CLN_E_INVALID;

    if (u->o->layer && !strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
        if (!strcmp(base, WH_OPAQUE))
            return whiteout_opaque(u, parent, entry, err);
        if (!strncmp(base, WH_META, strlen(WH_META)))
            return 0; /* aufs metadata (.wh..wh.plnk, ...): not content */
        if (!base[strlen(WH_PREFIX)])
            return cln_error_set(err, CLN_E_INVALID, 0, "entry '%s': a bare whiteout", entry);
        return whiteout(u, parent, base + strlen(WH_PREFIX), entry, err);
    }

    struct stat st;
    bool exists = fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !(S_ISDIR(st.st_mode) && type == AE_IFDIR && !hardlink)) {
        if (native_rm_rf(parent, base) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "entry '%s': replace what is there", entry);
        exists = false;
    }
    if (hardlink || type == AE_IFLNK)
        return make_link(u, e, parent, base, path, entry, err);
    switch (type) {
    case AE_IFREG:
        return make_file(u, a, e, parent, base, entry, perm, err);
    case AE_IFDIR:
        if (!exists && mkdirat(parent, base, 0700) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "entry '%s': create", entry);
        dir_record(u, path, e, perm, exists);
        return 0;
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        if (!u->o->layer)
            break;
        if (mknodat(parent, base, type | perm, archive_entry_rdev(e)) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "entry '%s': create the node", entry);
        if (u->o->is_root && fchownat(parent, base, (uid_t)archive_entry_uid(e),
                                      (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
            return cln_error_set(err, CLN_E_IO, errno, "entry '%s': owner", entry);
        return 0;
    default:
        break;
    }
    return cln_error_set(err, CLN_E_INVALID, 0, "entry '%s': unsupported file type 0%o refused",
                         entry, (unsigned)type);
}

int native_unpack(struct archive *a, int dirfd, const struct native_unpack_opts *o,
                  uint64_t *ret_bytes, struct cln_error **err)
{
    struct unpack u = {.rootfd = dirfd, .o = o};
    struct archive_entry *e;
    int ret = 0;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            ret = cln_error_set(err, CLN_E_PARSE, 0, "not a readable tar archive: %s",
                                archive_error_string(a));
            break;
        }
        if ((ret = one_entry(&u, a, e, err)) < 0)
            break;
    }
    ret = dirs_finish(&u, ret, err);
    if (ret == 0 && ret_bytes)
        *ret_bytes = u.bytes;
    return ret;
}
