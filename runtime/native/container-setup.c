/* What runs in a container's processes before exec: the root (overlay, /proc,
 * /dev, /sys, masks, pivot_root; NATIVE.md §1.1 steps 6-10, §2.2-2.3) and
 * the process's security (credentials, Docker's 14 capabilities, no_new_privs,
 * seccomp; steps 12-14).  The seccomp filter and the capability set are made
 * before the fork (ctr_proc_prepare) so that children only make system calls
 * (snprintf excepted, on plain integers and strings). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <grp.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/container-internal.h"

/* moby daemon/pkg/oci/caps/defaults.go */
static const cap_value_t default_caps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

/* NATIVE.md §2.5: what Docker's default profile refuses on x86_64 with the
 * 14 default capabilities (66 of the 6.1 table's 362). */
static const char *const denied[] = {
    "_sysctl",
    "acct",
    "add_key",
    "afs_syscall",
    "bpf",
    "clock_settime",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "getpmsg",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "migrate_pages",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pidfd_getfd",
    "pivot_root",
    "process_madvise",
    "putpmsg",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "security",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "syslog",
    "tuxcall",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vserver",
    /* with conditions, below */
    "clone",
    "clone3",
    "socket",
    "personality",
};

static bool is_denied(const char *name)
{
    for (size_t i = 0; i < CLN_ARRAY_SIZE(denied); i++)
        if (strcmp(denied[i], name) == 0)
            return true;
    return false;
}

/* An EPERM-default allowlist equivalent to Docker's default profile with the
 * default capabilities on x86_64 (NATIVE.md §2.5), derived from its facts
 * rather than from the profile's file: every syscall libseccomp knows on the
 * native architecture is allowed except the 66 the profile refuses there;
 * numbers libseccomp does not know (syscalls newer than its table) get EPERM,
 * as they do under Docker.  Docker's conditions: clone without namespace
 * flags, clone3 ENOSYS (glibc falls back to clone only then), socket but
 * AF_ALG (38) and AF_VSOCK (40), personality with Docker's five values.  Any
 * other architecture (x86 int 0x80, x32) is killed, libseccomp's default
 * (Docker allows x86 and x32 with the same rules).  On architectures other
 * than x86_64 the list is x86_64's, not the profile's for that architecture. */
static int add_rules(scmp_filter_ctx ctx)
{
    int r = 0;
    for (int nr = 0; nr < 1024 && r == 0; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (!name)
            continue;
        if (!is_denied(name))
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        free(name);
    }
    if (r == 0) /* NEWNS UTS IPC USER PID NET CGROUP */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, 0x7E020000, 0));
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_LT, 38));
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, 39));
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_GT, 40));
    static const scmp_datum_t persona[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(persona) && r == 0; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_EQ, persona[i]));
    return r;
}

static int build_seccomp(struct sock_fprog *out, struct cln_error **err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return cln_error_set(err, CLN_E_INTERNAL, 0, "seccomp_init failed");
    int r = add_rules(ctx);
    if (r < 0) {
        seccomp_release(ctx);
        return cln_error_set(err, CLN_E_INTERNAL, -r, "building the seccomp filter");
    }
    int fd = memfd_create("cleanrun-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        seccomp_release(ctx);
        return cln_error_set(err, CLN_E_IO, errno, "memfd_create");
    }
    r = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    off_t len = lseek(fd, 0, SEEK_END);
    if (r < 0 || len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0) {
        close(fd);
        return cln_error_set(err, CLN_E_INTERNAL, r < 0 ? -r : 0, "exporting the seccomp filter");
    }
    struct sock_filter *f = cln_xmalloc((size_t)len);
    ssize_t n = pread(fd, f, (size_t)len, 0);
    close(fd);
    if (n != len) {
        free(f);
        return cln_error_set(err, CLN_E_IO, errno, "reading the seccomp filter back");
    }
    out->filter = f;
    out->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
    return 0;
}

int ctr_proc_prepare(struct ctr_proc *p, struct cln_error **err)
{
    int r = build_seccomp(&p->seccomp, err);
    if (r < 0)
        return r;
    p->cap_keep[0] = p->cap_keep[1] = 0;
    for (size_t i = 0; i < CLN_ARRAY_SIZE(default_caps); i++)
        p->cap_keep[default_caps[i] / 64] |= 1UL << (default_caps[i] % 64);
    p->cap_last = CAP_LAST_CAP;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &p->cap_last) != 1)
            p->cap_last = CAP_LAST_CAP;
        fclose(f);
    }
    return 0;
}

void ctr_proc_privileged(struct ctr_proc *p)
{
    free(p->seccomp.filter);
    p->seccomp.filter = NULL;
    p->seccomp.len = 0;
    p->cap_keep[0] = p->cap_keep[1] = 0;
    /* every capability this process may still have (its bounding set), as
     * Docker gives the daemon's */
    for (int c = 0; c <= p->cap_last && c < 128; c++)
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
            p->cap_keep[c / 64] |= 1UL << (c % 64);
}

void ctr_proc_done(struct ctr_proc *p)
{
    cln_strv_done(&p->argv);
    cln_strv_done(&p->env);
    free(p->cwd);
    free(p->seccomp.filter);
    memset(p, 0, sizeof(*p));
}

void ctr_env_merge(struct cln_strv *out, const char *const *base, const char *const *over)
{
    for (size_t i = 0; base && base[i]; i++) {
        const char *eq = strchr(base[i], '=');
        size_t k = eq ? (size_t)(eq - base[i]) : strlen(base[i]);
        bool replaced = false;
        for (size_t j = 0; over && over[j] && !replaced; j++)
            replaced = strncmp(over[j], base[i], k) == 0 && over[j][k] == '=';
        if (!replaced)
            cln_strv_add(out, base[i]);
    }
    for (size_t j = 0; over && over[j]; j++)
        cln_strv_add(out, over[j]);
}

void ctr_close_except(const int *keep, size_t n)
{
    int k[40]; /* 3 + CTR_MAX_MOUNTS, and some */
    size_t m = 0;
    for (size_t i = 0; i < n && m < CLN_ARRAY_SIZE(k); i++)
        if (keep[i] >= 3)
            k[m++] = keep[i];
    for (size_t i = 1; i < m; i++) /* insertion sort: a handful */
        for (size_t j = i; j > 0 && k[j - 1] > k[j]; j--) {
            int t = k[j];
            k[j] = k[j - 1];
            k[j - 1] = t;
        }
    unsigned lo = 3;
    for (size_t i = 0; i < m; i++) {
        if ((unsigned)k[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)k[i] - 1, 0U);
        lo = (unsigned)k[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0U);
}

void ctr_child_fail(int fd, const char *what, int e)
{
    struct ctr_msg m = {.kind = 0, .err = e};
    snprintf(m.text, sizeof(m.text), "%s", what);
    if (fd >= 0) {
        ssize_t n = write(fd, &m, sizeof(m));
        (void)n;
    }
    _exit(127);
}

void ctr_child_exec(const struct ctr_proc *p, int report_fd, int alive_fd)
{
    /* Bounding set first (needs CAP_SETPCAP), then credentials. */
    for (int c = 0; c <= p->cap_last; c++)
        if (!(p->cap_keep[c / 64] & (1UL << (c % 64))) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
            errno != EINVAL)
            ctr_child_fail(report_fd, "PR_CAPBSET_DROP", errno);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        ctr_child_fail(report_fd, "PR_SET_KEEPCAPS", errno);
    /* (in a user namespace setgroups is denied: the groups are the map's) */
    if (!p->userns && setgroups(p->ngroups, p->groups) < 0)
        ctr_child_fail(report_fd, "setgroups", errno);
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        ctr_child_fail(report_fd, "setresgid", errno);
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        ctr_child_fail(report_fd, "setresuid", errno);
    /* permitted and effective: the kept set (no libcap here: this may run
     * in a broker's child, where nothing may allocate) */
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    for (int i = 0; i < 2; i++) {
        uint64_t k = p->cap_keep[0];
        data[i].effective = data[i].permitted = (uint32_t)(i ? k >> 32 : k);
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        ctr_child_fail(report_fd, "capset", errno);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        ctr_child_fail(report_fd, "PR_SET_NO_NEW_PRIVS", errno);
    /* PDEATHSIG after the last credential change (NATIVE.md §6), then the race:
     * the parent keeps alive_fd's write end open, EOF means it has died. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        ctr_child_fail(report_fd, "PR_SET_PDEATHSIG", errno);
    if (alive_fd >= 0) {
        struct pollfd pf = {.fd = alive_fd, .events = POLLIN};
        if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLIN)))
            _exit(137);
    }
    const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
    if (chdir(cwd) < 0)
        ctr_child_fail(report_fd, "chdir to the working directory", errno);
    char buf[16];
    if (!getcwd(buf, sizeof(buf)) && errno == ENOENT) /* CVE-2024-21626 */
        ctr_child_fail(report_fd, "working directory outside the root", ENOENT);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Nothing of the parent's beyond 0-2 survives the exec (CVE-2024-21626). */
    syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    /* Last: with NNP set, the filter needs no capability (NATIVE.md §1.1 step 13). */
    /* (privileged: none, "unconfined" as Docker's) */
    if (p->seccomp.len && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->seccomp, 0, 0) < 0)
        ctr_child_fail(report_fd, "loading the seccomp filter", errno);
    execve(p->argv.v[0], (char *const *)p->argv.v, (char *const *)p->env.v);
    /* No PATH search in execve: try PATH's directories for a bare name. */
    if (!strchr(p->argv.v[0], '/')) {
        static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                           "/usr/bin",        "/sbin",          "/bin"};
        for (size_t i = 0; i < CLN_ARRAY_SIZE(dirs); i++) {
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", dirs[i], p->argv.v[0]);
            execve(path, (char *const *)p->argv.v, (char *const *)p->env.v);
        }
    }
    ctr_child_fail(report_fd, "execve", errno);
}
