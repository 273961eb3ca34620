/* Files in a running native container, from the host (container.h
 * cln_ctr_copy_in, cln_ctr_copy_out): through the init's root,
 * /proc/<init>/root, held open while the init's pidfd says it is the same
 * process; every path resolved with openat2(RESOLVE_IN_ROOT), so that the
 * image's symlinks are followed as they would be inside the container and
 * never lead out of it.  No process runs for it: no exec, no tar. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/container-internal.h"
#include "runtime/native/container.h"

static int open_root(struct cln_ctr *c, struct cln_error **err)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/root", (int)c->init);
    int fd = c->init_fd >= 0 ? open(p, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    /* the pid was the init's all along: its pidfd still reaches it */
    if (fd >= 0 && syscall(SYS_pidfd_send_signal, c->init_fd, 0, NULL, 0) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return cln_error_set(err, CLN_E_CONFLICT, 0, "container %s is not running", c->id);
}

/* rel under root, as the container sees it (symlinks inside it followed,
 * the final one when follow), never out of it */
static int at_root(int root, const char *rel, int flags, bool follow, mode_t mode)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    int fd;
    /* EAGAIN: a rename anywhere raced a ".." on the way; again, a few times */
    for (int i = 0; i < 8; i++)
        if ((fd = (int)syscall(SYS_openat2, root, *rel ? rel : ".", &how, sizeof(how))) >= 0 ||
            errno != EAGAIN)
            break;
    return fd;
}

/* path's directories, made 0755 where missing, one prefix at a time from
 * the root; an O_PATH fd on the last, or -1 */
static int make_dirs_in(int root, const char *rel)
{
    size_t len = strlen(rel);
    cleanup_free char *pre = cln_xstrdup(rel);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && rel[i] != '/')
            continue;
        pre[i] = '\0';
        int fd = at_root(root, pre, O_PATH | O_DIRECTORY, true, 0);
        if (fd < 0 && errno == ENOENT) {
            const char *slash = strrchr(pre, '/');
            cleanup_free char *parent = slash ? cln_xstrndup(pre, (size_t)(slash - pre)) : NULL;
            int pfd = at_root(root, parent ? parent : "", O_PATH | O_DIRECTORY, true, 0);
            if (pfd < 0)
                return -1;
            int r = mkdirat(pfd, slash ? slash + 1 : pre, 0755);
            int e = errno;
            close(pfd);
            if (r < 0 && e != EEXIST) {
                errno = e;
                return -1;
            }
            fd = at_root(root, pre, O_PATH | O_DIRECTORY, true, 0);
        }
        if (i < len) {
            if (fd < 0)
                return -1;
            close(fd);
            pre[i] = '/';
        } else {
            return fd;
        }
    }
    return at_root(root, "", O_PATH | O_DIRECTORY, true, 0);
}

static bool bad_path(const char *p)
{
    return strcmp(p, "..") == 0 || strncmp(p, "../", 3) == 0 || strstr(p, "/../") ||
           (strlen(p) >= 3 && strcmp(p + strlen(p) - 3, "/..") == 0);
}

int cln_ctr_copy_in(struct cln_ctr *c, const char *dir, const struct cln_file *files, size_t n,
                    struct cln_error **err)
{
    if (!dir || dir[0] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0, "copy into %s: not an absolute directory",
                             dir ? dir : "(none)");
    int root = open_root(c, err);
    if (root < 0)
        return -1;
    while (*dir == '/')
        dir++;
    int d = at_root(root, dir, O_PATH | O_DIRECTORY, true, 0);
    if (d < 0) {
        int e = errno;
        close(root);
        /* worded as the other backends word it */
        if (e == ENOENT || e == ENOTDIR)
            return cln_error_set(err, e == ENOENT ? CLN_E_NOT_FOUND : CLN_E_INVALID, 0,
                                 "copy files into /%s in container %.12s: %s", dir, c->id,
                                 e == ENOENT ? "no such directory" : "not a directory");
        return cln_error_set(err, CLN_E_IO, e, "copy into /%s in container %s", dir, c->id);
    }
    close(d);
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        const char *fp = files[i].path;
        while (fp && *fp == '/')
            fp++;
        if (!fp || !*fp || bad_path(fp) || fp[strlen(fp) - 1] == '/') {
            r = cln_error_set(err, CLN_E_INVALID, 0, "copy in: bad file path %s",
                              files[i].path ? files[i].path : "(none)");
            break;
        }
        cleanup_free char *rel = *dir ? cln_xasprintf("%s/%s", dir, fp) : cln_xstrdup(fp);
        const char *slash = strrchr(rel, '/');
        cleanup_free char *parent = slash ? cln_xstrndup(rel, (size_t)(slash - rel)) : NULL;
        const char *name = slash ? slash + 1 : rel;
        int pfd = parent ? make_dirs_in(root, parent) : at_root(root, "", O_PATH, true, 0);
        if (pfd < 0) {
            r = cln_error_set(err, CLN_E_IO, errno, "copy in: the directories of /%s", rel);
            break;
        }
        /* what is there is replaced, not written through (a symlink) */
        struct stat st;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            (void)unlinkat(pfd, name, 0);
        mode_t mode = files[i].mode ? (mode_t)(files[i].mode & 07777) : 0644;
        int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        int e = errno;
        close(pfd);
        if (fd < 0) {
            r = cln_error_set(err, CLN_E_IO, e, "copy in: creating /%s", rel);
            break;
        }
        const char *data = files[i].data;
        size_t left = files[i].len;
        while (left && r == 0) {
            ssize_t w = write(fd, data, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                r = cln_error_set(err, CLN_E_IO, errno, "copy in: writing /%s", rel);
            else {
                data += w;
                left -= (size_t)w;
            }
        }
        /* (rootless: the file is the caller's, which is the container's
         * root; another owner would be one of the subordinate ids, which
         * this process cannot give) */
        if (r == 0 && geteuid() != 0 && (files[i].uid || files[i].gid))
            r = cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                              "copy in: /%s owned by %u:%u: rootless, copied files belong to "
                              "root in the container",
                              rel, files[i].uid, files[i].gid);
        else if (r == 0 && geteuid() == 0 && fchown(fd, files[i].uid, files[i].gid) < 0)
            r = cln_error_set(err, CLN_E_IO, errno, "copy in: the owner of /%s", rel);
        if (r == 0 && fchmod(fd, mode) < 0)
            r = cln_error_set(err, CLN_E_IO, errno, "copy in: the mode of /%s", rel);
        if (close(fd) < 0 && r == 0)
            r = cln_error_set(err, CLN_E_IO, errno, "copy in: writing /%s", rel);
    }
    close(root);
    return r;
}

int cln_ctr_copy_out(struct cln_ctr *c, const char *path, size_t cap,
                     struct cln_file_info *ret_info, struct cln_capture *ret_content,
                     bool *ret_found, struct cln_error **err)
{
    memset(ret_info, 0, sizeof(*ret_info));
    memset(ret_content, 0, sizeof(*ret_content));
    *ret_found = false;
    if (!path || path[0] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0, "copy out %s: not an absolute path",
                             path ? path : "(none)");
    int root = open_root(c, err);
    if (root < 0)
        return -1;
    const char *rel = path;
    while (*rel == '/')
        rel++;
    int fd = at_root(root, rel, O_PATH, false, 0);
    close(root);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : cln_error_set(err, CLN_E_IO, errno, "copy out %s from container %s", path,
                                   c->id);
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = cln_error_set(err, CLN_E_IO, errno, "copy out %s", path);
        close(fd);
        return r;
    }
    *ret_found = true;
    ret_info->type = S_ISREG(st.st_mode)   ? CLN_FILE_REGULAR
                     : S_ISDIR(st.st_mode) ? CLN_FILE_DIRECTORY
                     : S_ISLNK(st.st_mode) ? CLN_FILE_SYMLINK
                                           : CLN_FILE_OTHER;
    ret_info->mode = (uint32_t)(st.st_mode & 07777);
    ret_info->uid = st.st_uid;
    ret_info->gid = st.st_gid;
    ret_info->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    if (S_ISLNK(st.st_mode)) {
        char t[4096];
        ssize_t n = readlinkat(fd, "", t, sizeof(t) - 1);
        if (n >= 0)
            ret_info->link_target = cln_xstrndup(t, (size_t)n);
    } else if (S_ISREG(st.st_mode)) {
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        int in = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (in < 0) {
            r = cln_error_set(err, CLN_E_IO, errno, "copy out %s", path);
        } else {
            if (!cap)
                cap = CLN_DEFAULT_OUTPUT_CAP;
            /* its size from its inode; only the kept part is read */
            ret_content->total = (uint64_t)st.st_size;
            ret_content->truncated = (uint64_t)st.st_size > cap;
            char buf[65536];
            ssize_t got = 0;
            while (ret_content->data.len < cap && (got = read(in, buf, sizeof(buf))) > 0) {
                size_t room = cap - ret_content->data.len; /* > 0 here */
                if ((size_t)got > room)
                    ret_content->truncated = true;
                cln_buf_append(&ret_content->data, buf, (size_t)got < room ? (size_t)got : room);
            }
            if (got < 0)
                r = cln_error_set(err, CLN_E_IO, errno, "copy out %s", path);
            close(in);
        }
    }
    close(fd);
    if (r < 0) {
        cln_file_info_done(ret_info);
        cln_capture_done(ret_content);
        *ret_found = false;
    }
    return r;
}
