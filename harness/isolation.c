/* Isolation evidence and the host-exec lockout. */
#include "isolation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

const char *const cln_ns_names[CLN_NS_COUNT] = {"mnt", "pid",    "net", "uts",
                                                "ipc", "cgroup", "user"};

int cln_ns_read(int pid, struct cln_ns_set *ret)
{
    memset(ret, 0, sizeof(*ret));
    int any = 0, last_errno = 0;
    for (int i = 0; i < CLN_NS_COUNT; i++) {
        if (cln_os_ns_inode(pid, cln_ns_names[i], &ret->ino[i]) == 0)
            any = 1;
        else
            last_errno = errno;
    }
    if (!any) {
        errno = last_errno ? last_errno : ENOENT;
        return -1;
    }
    return 0;
}

static char *read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct cln_buf b = CLN_BUF_INIT;
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0 && b.len < (1u << 20))
        cln_buf_append(&b, tmp, (size_t)n);
    close(fd);
    if (!b.data)
        cln_buf_puts(&b, "");
    return cln_buf_steal(&b);
}

const char *cln_net_mode_name(enum cln_net_mode m)
{
    switch (m) {
    case CLN_NET_NONE:
        return "none";
    case CLN_NET_INTERNAL:
        return "internal";
    case CLN_NET_ROUTED:
        return "routed";
    case CLN_NET_HOST:
        return "host";
    case CLN_NET_UNKNOWN:
        return "unknown";
    }
    return "?";
}

const char *cln_verdict_name(enum cln_verdict v)
{
    switch (v) {
    case CLN_VERDICT_ISOLATED:
        return "isolated";
    case CLN_VERDICT_UNVERIFIED:
        return "unverified";
    case CLN_VERDICT_VIOLATED:
        return "violated";
    }
    return "?";
}

const char *cln_canary_state_name(enum cln_canary_state s)
{
    switch (s) {
    case CLN_CANARY_NOT_RUN:
        return "not-run";
    case CLN_CANARY_FAILED:
        return "failed";
    case CLN_CANARY_PROVEN:
        return "proven";
    case CLN_CANARY_MISSING:
        return "missing";
    case CLN_CANARY_ON_HOST:
        return "on-host";
    }
    return "?";
}

void cln_evidence_done(struct cln_evidence *e)
{
    free(e->container_id);
    free(e->container_name);
    free(e->image_id);
    free(e->exec_id);
    free(e->cgroup);
    free(e->canary_path);
    free(e->canary_note);
    free(e->guest_boot_id);
    free(e->host_boot_id);
    free(e->reason);
    memset(e, 0, sizeof(*e));
}

static char *dup0(const char *s)
{
    return s ? cln_xstrdup(s) : NULL;
}

void cln_evidence_copy(struct cln_evidence *dst, const struct cln_evidence *src)
{
    *dst = *src;
    dst->container_id = dup0(src->container_id);
    dst->container_name = dup0(src->container_name);
    dst->image_id = dup0(src->image_id);
    dst->exec_id = dup0(src->exec_id);
    dst->cgroup = dup0(src->cgroup);
    dst->canary_path = dup0(src->canary_path);
    dst->canary_note = dup0(src->canary_note);
    dst->canary_by = src->canary_by;
    dst->guest_boot_id = dup0(src->guest_boot_id);
    dst->host_boot_id = dup0(src->host_boot_id);
    dst->reason = dup0(src->reason);
}

void cln_canary_check(struct cln_evidence *e, const char *token)
{
    cleanup_free char *path = cln_os_root_path(e->observed_pid, e->canary_path);
    cleanup_free char *in = path ? read_small(path) : NULL;
    size_t tl = strlen(token);
    bool seen = in && strncmp(in, token, tl) == 0;
    struct stat st;
    /* lstat: a dangling link at that path on the host counts too */
    bool on_host = lstat(e->canary_path, &st) == 0 || errno != ENOENT;
    if (on_host)
        e->canary = CLN_CANARY_ON_HOST;
    else if (!seen)
        e->canary = CLN_CANARY_MISSING;
    else
        e->canary = CLN_CANARY_PROVEN;
}

static void set_reason(struct cln_evidence *e, enum cln_verdict v, char *reason)
{
    /* the worst verdict wins, with the first reason given for it */
    if (v > e->verdict || (v == e->verdict && !e->reason)) {
        e->verdict = v;
        free(e->reason);
        e->reason = reason;
    } else {
        free(reason);
    }
}

void cln_evidence_judge(struct cln_evidence *e)
{
    e->verdict = CLN_VERDICT_ISOLATED;
    free(e->reason);
    e->reason = NULL;
    bool vm = e->vm && !e->shares_kernel;
    if (vm) {
        if (!e->guest_boot_id) {
            set_reason(e, CLN_VERDICT_UNVERIFIED,
                       cln_xasprintf("the kernel the container runs on could not be read: %s",
                                     e->canary_note ? e->canary_note : "?"));
            return;
        }
    } else if (e->vm && !e->observed_pid) {
        set_reason(e, CLN_VERDICT_UNVERIFIED,
                   cln_xasprintf("the runtime's containers are said to be virtual machines, but "
                                 "this one runs on this host's kernel (boot id %s) and no process "
                                 "here has its canary under its root: nothing of it can be "
                                 "observed",
                                 e->guest_boot_id));
        return;
    } else if (!e->local) {
        set_reason(e, CLN_VERDICT_UNVERIFIED,
                   cln_xstrdup("the engine is not on this machine: its processes cannot be "
                               "observed from here"));
        return;
    }
    if (!vm) {
        if (e->observed_pid && !e->pid_proven) {
            set_reason(
                e, CLN_VERDICT_UNVERIFIED,
                cln_xasprintf("pid %d, which the engine gives for the container, is not in a "
                              "cgroup naming the container here (the engine is in another pid "
                              "namespace or on another machine): nothing of it can be observed",
                              e->observed_pid));
            return;
        }
        if (!e->observed_pid || !e->ns.ino[CLN_NS_MNT] || !e->host_ns.ino[CLN_NS_MNT]) {
            set_reason(e, CLN_VERDICT_UNVERIFIED,
                       e->observed_pid ? cln_xasprintf("the namespaces of pid %d could not be read",
                                                       e->observed_pid)
                                       : cln_xstrdup("no container process to observe"));
            return;
        }
        /* mnt, pid, uts and net must differ from the harness's own */
        static const enum cln_ns required[] = {CLN_NS_MNT, CLN_NS_PID, CLN_NS_UTS, CLN_NS_NET};
        for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
            enum cln_ns n = required[i];
            if (!e->ns.ino[n] || !e->host_ns.ino[n]) {
                set_reason(e, CLN_VERDICT_UNVERIFIED,
                           cln_xasprintf("the %s namespace could not be read", cln_ns_names[n]));
                continue;
            }
            if (e->ns.ino[n] != e->host_ns.ino[n])
                continue;
            if (n == CLN_NS_NET && e->request.host_network)
                set_reason(e, CLN_VERDICT_UNVERIFIED,
                           cln_xstrdup("shares the host's net namespace, as the spec asked "
                                       "(host_network, allowed by --allow-host-network)"));
            else if (n == CLN_NS_PID && e->request.host_pid)
                set_reason(e, CLN_VERDICT_UNVERIFIED,
                           cln_xstrdup("shares the host's pid namespace, as the spec asked "
                                       "(host_pid, allowed by --allow-host-pid)"));
            else
                set_reason(e, CLN_VERDICT_VIOLATED,
                           cln_xasprintf("pid %d is in the host's %s namespace (inode %llu)",
                                         e->observed_pid, cln_ns_names[n],
                                         (unsigned long long)e->ns.ino[n]));
        }
    }
    switch (e->canary) {
    case CLN_CANARY_PROVEN:
        break;
    case CLN_CANARY_ON_HOST:
        set_reason(e, CLN_VERDICT_VIOLATED,
                   cln_xasprintf("the canary written inside the container is on the host at %s",
                                 e->canary_path));
        break;
    case CLN_CANARY_MISSING:
        if (vm) {
            set_reason(e, CLN_VERDICT_VIOLATED,
                       cln_xasprintf("the canary written inside the container at %s could not be "
                                     "read back there",
                                     e->canary_path));
            break;
        }
        set_reason(e, CLN_VERDICT_VIOLATED,
                   cln_xasprintf("the canary written inside the container is not under the root "
                                 "of pid %d: that is not the process the steps run beside",
                                 e->observed_pid));
        break;
    case CLN_CANARY_FAILED:
        set_reason(e, CLN_VERDICT_UNVERIFIED,
                   cln_xasprintf("the canary could not be written in the container: %s",
                                 e->canary_note ? e->canary_note : "?"));
        break;
    case CLN_CANARY_NOT_RUN:
        set_reason(e, CLN_VERDICT_UNVERIFIED, cln_xstrdup("no canary was written"));
        break;
    }
    if (e->request.privileged)
        set_reason(e, CLN_VERDICT_UNVERIFIED,
                   cln_xstrdup("privileged container, as the spec asked (--allow-privileged): "
                               "a step can leave its namespaces"));
    if (e->request.host_mounts)
        set_reason(e, CLN_VERDICT_UNVERIFIED,
                   cln_xstrdup("host paths mounted, as the spec asked (--allow-host-mounts): a "
                               "step can write to the host"));
    if (e->request.outbound)
        set_reason(e, CLN_VERDICT_UNVERIFIED,
                   cln_xstrdup("a route to the host and beyond, as the spec asked (outbound, "
                               "allowed by --allow-outbound): a step can reach host services"));
    if (e->verdict == CLN_VERDICT_ISOLATED && vm)
        e->reason = cln_xasprintf("a virtual machine with a kernel of its own (boot id %s%s%s); "
                                  "canary %s proven absent on the host",
                                  e->guest_boot_id, e->host_boot_id ? ", this host's " : "",
                                  e->host_boot_id ? e->host_boot_id
                                                  : ", on a host with no Linux "
                                                    "kernel",
                                  e->canary_path);
    else if (e->verdict == CLN_VERDICT_ISOLATED)
        e->reason = cln_xasprintf("mnt, pid, uts and net namespaces differ from the host's; "
                                  "canary %s proven absent on the host",
                                  e->canary_path);
}

/* ---- lockout ---- */

bool cln_lockout_active(void)
{
    return cln_os_exec_locked_out();
}

int cln_lockout_install(struct cln_lockout *ret, struct cln_error **err)
{
    /* once per process: a lockout never lifts, and each filter stacked
     * on the last would count against the kernel's limit (--watch runs
     * a session after another) */
    static char *installed; /* its method, reachable until exit */
    memset(ret, 0, sizeof(*ret));
    if (installed && cln_os_exec_locked_out()) {
        ret->method = cln_xstrdup(installed);
        ret->in_force = true;
        return 0;
    }
    if (cln_os_exec_lockout(&ret->method, err) < 0)
        return -1;
    ret->in_force = true;
    free(installed);
    installed = cln_xstrdup(ret->method);
    return 0;
}

void cln_lockout_done(struct cln_lockout *l)
{
    free(l->method);
    memset(l, 0, sizeof(*l));
}
