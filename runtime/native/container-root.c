/* A container's root, built by its init (pid 1 of the new pid namespace, in
 * the new mount namespace): NATIVE.md §1.1 steps 6-10 and §2.2-2.3.
 * Nothing here may touch the host's mounts: / is made slave (recursively)
 * first, every target inside the rootfs is opened with RESOLVE_IN_ROOT and
 * RESOLVE_NO_SYMLINKS and mounted through /proc/self/fd, and the old root is
 * detached after pivot_root.  Only system calls (and snprintf) here. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/native/container-internal.h"
#include "runtime/native/container.h"

/* moby daemon/pkg/oci/defaults.go */
static const char *const masked[] = {
    "proc/acpi",
    "proc/asound",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/sched_debug",
    "proc/scsi",
    "proc/timer_list",
    "proc/timer_stats",
    "sys/devices/virtual/powercap",
    "sys/firmware",
};
static const char *const readonly[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys",
                                       "proc/sysrq-trigger"};

/* rel under root, no symlink followed, no escape; O_PATH. */
static int open_in(int root, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)(O_PATH | O_CLOEXEC | O_NOFOLLOW | flags),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

/* A directory rel under root, made when missing, as an O_PATH fd. */
static int dir_in(int root, const char *rel)
{
    if (mkdirat(root, rel, 0755) < 0 && errno != EEXIST)
        return -1;
    return open_in(root, rel, O_DIRECTORY);
}

static int mount_fd(const char *src, int fd, const char *type, unsigned long flags,
                    const char *data)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    return mount(src, p, type, flags, data);
}

static int mount_at(int root, const char *rel, const char *src, const char *type,
                    unsigned long flags, const char *data)
{
    int fd = dir_in(root, rel);
    if (fd < 0)
        return -1;
    int r = mount_fd(src, fd, type, flags, data);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

#define FAIL(w)                                                                                    \
    do {                                                                                           \
        *what = (w);                                                                               \
        return -errno;                                                                             \
    } while (0)

static int make_dev(int root, bool userns, const char **what)
{
    if (mount_at(root, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
                 "mode=755,size=65536k") < 0)
        FAIL("mounting /dev");
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {{"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
                 {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0}};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(nodes); i++) {
        if (userns) { /* no mknod in a user namespace: the host's node bound (bubblewrap's way) */
            int f = openat(root, nodes[i].name,
                           O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
            if (f < 0)
                FAIL("making a /dev node's mount point");
            close(f);
            char host[32];
            snprintf(host, sizeof(host), "/%s", nodes[i].name);
            int fd = open_in(root, nodes[i].name, 0);
            int r = fd < 0 ? -1 : mount_fd(host, fd, NULL, MS_BIND, NULL);
            int e = errno;
            if (fd >= 0)
                close(fd);
            errno = e;
            if (r < 0)
                FAIL("binding a /dev node of the host");
            continue;
        }
        if (mknodat(root, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
            FAIL("mknod in /dev");
        if (fchmodat(root, nodes[i].name, 0666, 0) < 0) /* the umask */
            FAIL("chmod in /dev");
    }
    static const char *const links[][2] = {{"pts/ptmx", "dev/ptmx"},
                                           {"/proc/self/fd", "dev/fd"},
                                           {"/proc/self/fd/0", "dev/stdin"},
                                           {"/proc/self/fd/1", "dev/stdout"},
                                           {"/proc/self/fd/2", "dev/stderr"}};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], root, links[i][1]) < 0)
            FAIL("symlink in /dev");
    /* (gid 5 is not mapped in a rootless container's user namespace) */
    if (mount_at(root, "dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                 userns ? "newinstance,ptmxmode=0666,mode=0620"
                        : "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
        FAIL("mounting /dev/pts");
    if (mount_at(root, "dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
                 "mode=1777,size=67108864") < 0)
        FAIL("mounting /dev/shm");
    if (mount_at(root, "dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) <
        0)
        FAIL("mounting /dev/mqueue");
    return 0;
}

/* Masked paths (a directory: a read-only tmpfs; a file: /dev/null bound),
 * then read-only paths (bound onto themselves, remounted read-only). */
static int lock_down(int root, const char **what)
{
    int null = open_in(root, "dev/null", 0);
    if (null < 0)
        FAIL("opening /dev/null");
    struct stat st;
    if (fstat(null, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
        close(null);
        errno = EPERM;
        FAIL("/dev/null is not 1:3");
    }
    for (size_t i = 0; i < CLN_ARRAY_SIZE(masked); i++) {
        int fd = open_in(root, masked[i], 0);
        if (fd < 0)
            continue; /* missing paths are skipped */
        int r = fstat(fd, &st);
        if (r == 0 && S_ISDIR(st.st_mode))
            r = mount_fd("tmpfs", fd, "tmpfs", MS_RDONLY, "nr_blocks=1,nr_inodes=1");
        else if (r == 0) {
            char src[64];
            snprintf(src, sizeof(src), "/proc/self/fd/%d", null);
            r = mount_fd(src, fd, NULL, MS_BIND, NULL);
        }
        close(fd);
        if (r < 0) {
            close(null);
            FAIL("masking a path");
        }
    }
    close(null);
    for (size_t i = 0; i < CLN_ARRAY_SIZE(readonly); i++) {
        int fd = open_in(root, readonly[i], 0);
        if (fd < 0)
            continue;
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        int r = mount(p, p, NULL, MS_BIND | MS_REC, NULL);
        close(fd);
        /* the new mount is on top: reopen to remount it */
        fd = open_in(root, readonly[i], 0);
        if (r == 0 && fd >= 0)
            r = mount_fd(NULL, fd, NULL,
                         MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (fd >= 0)
            close(fd);
        if (r < 0)
            FAIL("making a path read-only");
    }
    return 0;
}

/* /etc/hosts or /etc/resolv.conf: the host file src bound on it. */
static int bind_etc(int root, const char *rel, const char *src, bool ro_rootfs)
{
    if (mkdirat(root, "etc", 0755) < 0 && errno != EEXIST)
        return ro_rootfs ? 0 : -1;
    int fd = open_in(root, rel, 0);
    if (fd < 0 && errno == ENOENT) {
        int etc = open_in(root, "etc", O_DIRECTORY);
        if (etc < 0)
            return -1;
        int c = openat(etc, strrchr(rel, '/') + 1,
                       O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        close(etc);
        if (c < 0)
            return -1;
        close(c);
        fd = open_in(root, rel, 0);
    }
    if (fd < 0)
        return -1;
    struct stat st;
    int r = fstat(fd, &st);
    if (r == 0 && !S_ISREG(st.st_mode)) {
        errno = EINVAL;
        r = -1;
    }
    if (r == 0)
        r = mount_fd(src, fd, NULL, MS_BIND, NULL);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* rel's directories under root made one by one (0755), none through a
 * symlink; the last one as an O_PATH fd, or -1. */
static int mkdir_p_in(int root, const char *rel)
{
    int dir = dup(root);
    const char *c = rel;
    while (dir >= 0 && *c) {
        char name[256];
        size_t n = strcspn(c, "/");
        if (n == 0 || n >= sizeof(name)) {
            close(dir);
            errno = n ? ENAMETOOLONG : EINVAL;
            return -1;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        c += n;
        while (*c == '/')
            c++;
        if (mkdirat(dir, name, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            close(dir);
            errno = e;
            return -1;
        }
        int next = open_in(dir, name, O_DIRECTORY);
        int e = errno;
        close(dir);
        errno = e;
        dir = next;
    }
    return dir;
}

/* A file rel under root, made empty when missing (its directories too), as
 * an O_PATH fd, or -1. */
static int file_in(int root, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    char parent[4096];
    size_t pl = slash ? (size_t)(slash - rel) : 0;
    if (pl >= sizeof(parent)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(parent, rel, pl);
    parent[pl] = '\0';
    int dir = pl ? mkdir_p_in(root, parent) : dup(root);
    if (dir < 0)
        return -1;
    const char *name = slash ? slash + 1 : rel;
    int f = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f >= 0)
        close(f);
    int fd = f >= 0 || errno == EEXIST ? open_in(dir, name, 0) : -1;
    int e = errno;
    close(dir);
    errno = e;
    return fd;
}

/* The caller's mounts (cln_ctr_mount), in order. */
static int user_mounts(int root, const struct ctr_paths *p, const char **what)
{
    for (size_t i = 0; i < p->nmounts; i++) {
        const struct ctr_mount *m = &p->mounts[i];
        int fd = m->is_dir ? mkdir_p_in(root, m->target) : file_in(root, m->target);
        if (fd < 0)
            FAIL("making a mount's target");
        int r;
        unsigned long ro = m->read_only ? MS_RDONLY : 0;
        if (m->type == CLN_CTR_TMPFS) {
            char opts[64];
            if (m->size)
                snprintf(opts, sizeof(opts), "mode=%o,size=%llu", m->mode ? m->mode : 01777,
                         (unsigned long long)m->size);
            else
                snprintf(opts, sizeof(opts), "mode=%o", m->mode ? m->mode : 01777);
            r = mount_fd("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | ro, opts);
        } else if (p->userns) {
            /* rootless: a mount of the host's namespace cannot be bound
             * here, nor cloned there (no CAP_SYS_ADMIN on the host): the
             * path, opened again in this namespace (a copy of the host's),
             * must be what the host opened; cloned and attached here */
            struct stat a, b;
            /* (as the host opened it: a final symlink followed, as a bind does) */
            int src = m->source ? open(m->source, O_PATH | O_CLOEXEC) : -1;
            r = src < 0 || fstat(src, &a) < 0 || fstat(m->source_fd, &b) < 0 ? -1 : 0;
            if (r == 0 && (a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
                errno = ESTALE; /* replaced between the two opens */
                r = -1;
            }
            int tree =
                r == 0
                    ? open_tree(src, "",
                                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH)
                    : -1;
            if (r == 0 && tree < 0)
                r = -1;
            struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID |
                                                  (m->read_only ? MOUNT_ATTR_RDONLY : 0)};
            if (r == 0)
                r = mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
            if (r == 0)
                r = move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
            int e = errno;
            if (tree >= 0)
                close(tree);
            if (src >= 0)
                close(src);
            errno = e;
        } else {
            /* the detached copy made on the host (read-only there when
             * asked), attached here */
            r = move_mount(m->source_fd, "", fd, "",
                           MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
        }
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        if (r < 0)
            FAIL(m->type == CLN_CTR_TMPFS ? "mounting a tmpfs" : "binding a host path");
    }
    return 0;
}

int ctr_setup_root(const struct ctr_paths *p, const char **what)
{
    /* Before anything: nothing done here may propagate to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        FAIL("making / a slave");
    int mode = CTR_SETUP_OVERLAY;
    if (mount("overlay", p->rootfs, "overlay", 0, p->lowerdir) < 0) {
        if (errno == ENODEV)
            FAIL("mounting the overlay (no overlayfs in this kernel)");
        /* The fallback: overlayfs refused the upper directory's filesystem
         * (an overlay, NFS...): upper and work on a tmpfs instead. */
        if (mount("tmpfs", p->scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=700") < 0)
            FAIL("mounting a tmpfs for the overlay's upper directory");
        char up[4096], wk[4096];
        snprintf(up, sizeof(up), "%s/upper", p->scratch);
        snprintf(wk, sizeof(wk), "%s/work", p->scratch);
        if (mkdir(up, 0755) < 0 || mkdir(wk, 0700) < 0)
            FAIL("making the tmpfs upper directory");
        if (mount("overlay", p->rootfs, "overlay", 0, p->lowerdir_tmp) < 0)
            FAIL("mounting the overlay (upper on tmpfs)");
        mode = CTR_SETUP_TMPFS_UPPER;
    }
    if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        FAIL("binding the rootfs onto itself");
    if (mount(NULL, p->rootfs, NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL("making the rootfs private");
    int root = open(p->rootfs, O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (root < 0)
        FAIL("opening the rootfs");
    int r = 0;
    if (mount_at(root, "proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL) < 0) {
        *what = "mounting /proc";
        r = -errno;
    }
    if (r == 0)
        r = make_dev(root, p->userns, what);
    if (r == 0 &&
        mount_at(root, "sys", "sysfs", "sysfs",
                 MS_NOSUID | MS_NOEXEC | MS_NODEV | (p->privileged ? 0 : MS_RDONLY), NULL) < 0) {
        *what = "mounting /sys";
        r = -errno;
    }
    if (r == 0 && bind_etc(root, "etc/hosts", p->hosts, p->read_only) < 0) {
        *what = "binding /etc/hosts";
        r = -errno;
    }
    if (r == 0 && bind_etc(root, "etc/resolv.conf", p->resolv, p->read_only) < 0) {
        *what = "binding /etc/resolv.conf";
        r = -errno;
    }
    if (r == 0)
        r = user_mounts(root, p, what);
    if (r == 0)
        r = p->privileged ? 0 : lock_down(root, what);
    if (r == 0 && p->read_only &&
        mount(NULL, p->rootfs, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
        *what = "remounting the rootfs read-only";
        r = -errno;
    }
    close(root);
    if (r < 0)
        return r;
    /* pivot_root(".", "."), then detach the old root (NATIVE.md §1.1 step 9). */
    int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (oldroot < 0)
        FAIL("opening the old root");
    if (chdir(p->rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || fchdir(oldroot) < 0 ||
        mount(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL) < 0 || umount2(".", MNT_DETACH) < 0 ||
        chdir("/") < 0) {
        int e = errno;
        close(oldroot);
        errno = e;
        FAIL("pivot_root");
    }
    close(oldroot);
    if (sethostname(p->hostname, strlen(p->hostname)) < 0)
        FAIL("sethostname");
    return mode;
}

int ctr_loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    return r < 0 ? -e : 0;
}
