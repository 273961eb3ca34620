/* Isolation evidence: observing a container (namespaces, cgroup, the
 * canary) and judging each step by it (harness/isolation.c has the rules). */
#include "runner-internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/random.h"
#include "runtime/base/xalloc.h"

/* ---- isolation evidence ---- */

/* Is pid, on this kernel, the init of container id?  Its cgroup path names
 * the container's full id (Docker: /docker/ID or docker-ID.scope; Podman:
 * libpod-ID): a pid from an engine in another pid namespace, or on another
 * machine, is not.  Where no cgroup names it (the native runtime rootless),
 * the runtime that holds the container may prove it. */
static bool pid_is_container(struct cln_runtime *rt, int pid, const char *id)
{
    if (pid <= 0 || !id || strlen(id) < 32)
        return false;
    cleanup_free char *cg = cln_proc_cgroup(pid);
    return (cg && strstr(cg, id) != NULL) || cln_runtime_owns_pid(rt, id, pid);
}

/* Write the canary by an exec of its own (as uid 0, through the
 * keep-alive busybox) and check it. */
static void write_canary(struct cln_runtime *rt, const char *id, struct cln_evidence *ev,
                         const char *token)
{
    const char *argv[] = {KEEPALIVE_BIN,   "sh", "-c", "printf %s \"$1\" > \"$2\"", "canary", token,
                          ev->canary_path, NULL};
    struct cln_exec_config ec = {
        .argv = argv, .user = "0", .timeout_ms = 10000, .output_cap = 4096};
    struct cln_exec_result er;
    struct cln_error *e = NULL;
    ev->canary = CLN_CANARY_FAILED;
    free(ev->canary_note);
    ev->canary_note = NULL;
    if (cln_rt_exec(rt, id, &ec, &er, &e) < 0) {
        /* a container that has exited already (a service that ends at
         * once) is what to say, not the engine's refusal of the exec */
        struct cln_container_state st;
        memset(&st, 0, sizeof(st));
        struct cln_error *ie = NULL;
        if (cln_rt_inspect(rt, id, &st, &ie) == 0 && !st.running) {
            ev->canary_note = cln_xasprintf(
                "the container had exited (code %d) before its canary could be written",
                st.exit_code);
            cln_error_free(e);
        } else {
            ev->canary_note = cln_runner_text(e);
        }
        cln_container_state_done(&st);
        cln_error_free(ie);
        return;
    }
    if (er.status != CLN_EXEC_EXITED || er.exit_code != 0)
        ev->canary_note = cln_xasprintf("the writer exited %d: %.*s", er.exit_code,
                                        (int)(er.err.data.len > 200 ? 200 : er.err.data.len),
                                        er.err.data.data ? er.err.data.data : "");
    else {
        ev->canary_by = "writer";
        cln_canary_check(ev, token);
    }
    cln_exec_result_done(&er);
}

/* This host's boot id, or NULL on a host without one (no Linux kernel). */
static char *host_boot_id(void)
{
    char b[128];
    cln_boot_id(b, sizeof(b));
    return strcmp(b, "unknown") != 0 ? cln_xstrdup(b) : NULL;
}

/* A process on this kernel whose root holds path with token in it: the
 * container's (a random token only its exec wrote), or 0. */
static int find_by_canary(const char *path, const char *token)
{
    int *pids = NULL;
    size_t np = 0;
    if (cln_os_pids(&pids, &np) < 0)
        return 0;
    int found = 0;
    size_t tl = strlen(token);
    for (size_t i = 0; i < np && !found; i++) {
        if (pids[i] <= 1)
            continue;
        cleanup_free char *p = cln_os_root_path(pids[i], path);
        int fd = p ? open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) : -1;
        if (fd < 0)
            continue;
        char buf[64];
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n >= (ssize_t)tl && memcmp(buf, token, tl) == 0)
            found = pids[i];
    }
    free(pids);
    return found;
}

/* A runtime whose containers are VMs: no pid of the container means
 * anything here.  One exec of the keep-alive busybox writes the canary,
 * reads it back, and prints the boot id of the kernel it runs on; the
 * canary must be absent on the host, and the kernel must not be this
 * host's.  One that is (an emulator through a local engine) is observed as
 * a local container instead: the process whose root holds the canary. */
static void observe_vm(struct cln_runtime *rt, const char *id, struct cln_evidence *ev)
{
    ev->vm = true;
    ev->method = "vm-kernel";
    char token[40] = "cleanrun-canary-";
    cln_random_hex(token + strlen(token), 8);
    ev->canary_path = cln_xasprintf("/.%s", token);
    ev->canary = CLN_CANARY_FAILED;
    ev->host_boot_id = host_boot_id();
    static const char script[] = "printf %s \"$1\" > \"$2\" && cat \"$2\" && echo && "
                                 "cat /proc/sys/kernel/random/boot_id";
    const char *argv[] = {KEEPALIVE_BIN,   "sh", "-c", script, "canary", token,
                          ev->canary_path, NULL};
    struct cln_exec_config ec = {
        .argv = argv, .user = "0", .timeout_ms = 30000, .output_cap = 4096};
    struct cln_exec_result er;
    struct cln_error *e = NULL;
    if (cln_rt_exec(rt, id, &ec, &er, &e) < 0) {
        ev->canary_note = cln_runner_text(e);
        return;
    }
    const char *out = er.out.data.data ? er.out.data.data : "";
    if (er.status != CLN_EXEC_EXITED || er.exit_code != 0) {
        ev->canary_note = cln_xasprintf("the writer exited %d: %.*s", er.exit_code,
                                        (int)(er.err.data.len > 200 ? 200 : er.err.data.len),
                                        er.err.data.data ? er.err.data.data : "");
        cln_exec_result_done(&er);
        return;
    }
    size_t tl = strlen(token);
    bool seen = strncmp(out, token, tl) == 0 && out[tl] == '\n';
    if (seen) {
        const char *b = out + tl + 1;
        size_t bl = strcspn(b, "\n");
        if (bl)
            ev->guest_boot_id = cln_xstrndup(b, bl);
    }
    cln_exec_result_done(&er);
    if (!ev->guest_boot_id) {
        ev->canary_note = cln_xstrdup("the writer did not print the canary and the boot id");
        return;
    }
    ev->canary_by = "writer";
    struct stat st;
    bool on_host = lstat(ev->canary_path, &st) == 0 || errno != ENOENT;
    ev->canary = on_host ? CLN_CANARY_ON_HOST : CLN_CANARY_PROVEN;
    if (!ev->host_boot_id || strcmp(ev->host_boot_id, ev->guest_boot_id) != 0)
        return;
    /* this host's kernel: no VM; the container's process, if it is here */
    ev->shares_kernel = true;
    int pid = find_by_canary(ev->canary_path, token);
    if (pid <= 0)
        return;
    ev->local = true;
    ev->method = "canary-search";
    ev->observed_pid = pid;
    ev->pid_proven = true; /* its root holds what only the container's exec wrote */
    ev->observed_start = cln_proc_start_time(pid);
    cln_ns_read(pid, &ev->ns);
    cln_ns_read(0, &ev->host_ns);
    ev->cgroup = cln_proc_cgroup(pid);
    cln_canary_check(ev, token);
}

/* Observe a running container: its main process's namespaces (every exec
 * joins them: runc and crun setns(2) into the init process's namespaces),
 * its cgroup, and a random canary written by a process exec'd in it, then
 * looked for under /proc/PID/root and on the host.  has_keepalive: the
 * static busybox is already at KEEPALIVE_BIN. */
void cln_runner_observe_container(struct cln_runtime *rt, const char *id, bool has_keepalive,
                                  const struct cln_spec_privs *privs, enum cln_net_mode net_mode,
                                  const char *net_reason, struct cln_evidence *ev, char *ret_token)
{
    memset(ev, 0, sizeof(*ev));
    char preset[40] = "";
    if (ret_token) {
        memcpy(preset, ret_token, sizeof(preset));
        preset[sizeof(preset) - 1] = '\0';
        ret_token[0] = '\0';
    }
    ev->local = cln_runtime_local(rt);
    ev->container_id = cln_xstrdup(id);
    ev->net_mode = net_mode;
    ev->net_reason = net_reason;
    ev->request = (struct cln_isolation_request){
        .host_network = privs && privs->host_network,
        .host_pid = privs && privs->host_pid,
        .privileged = privs && privs->privileged,
        .host_mounts = privs && privs->nmounts,
        .outbound = privs && privs->outbound,
    };
    ev->method = "none";
    struct cln_container_state st;
    struct cln_error *e = NULL;
    if (cln_rt_inspect(rt, id, &st, &e) < 0) {
        ev->canary_note = cln_runner_text(cln_runner_wrap(e, "inspect"));
        cln_evidence_judge(ev);
        return;
    }
    ev->container_name = st.name ? cln_xstrdup(st.name) : NULL;
    ev->image_id = st.image_id ? cln_xstrdup(st.image_id) : NULL;
    if (cln_runtime_vm(rt)) {
        bool running = st.running;
        cln_container_state_done(&st);
        if (running) {
            observe_vm(rt, id, ev);
        } else {
            ev->vm = true;
            ev->canary_note = cln_xstrdup("the container is not running");
        }
        cln_evidence_judge(ev);
        return;
    }
    int pid = st.running ? st.pid : 0;
    bool proven = pid_is_container(rt, pid, st.id);
    if (!proven && pid > 0 && ev->local && cln_proc_start_time(pid) == 0) {
        /* gone here: exited since (a service that ends at once), when the
         * engine says so too; else the pid means nothing here (below) */
        struct cln_container_state now;
        memset(&now, 0, sizeof(now));
        struct cln_error *ie = NULL;
        if (cln_rt_inspect(rt, id, &now, &ie) == 0 && !now.running)
            pid = 0;
        cln_container_state_done(&now);
        cln_error_free(ie);
    }
    cln_container_state_done(&st);
    if (!ev->local || pid <= 0) {
        cln_evidence_judge(ev);
        return;
    }
    ev->observed_pid = pid;
    ev->pid_proven = proven;
    if (!proven) {
        cln_evidence_judge(ev);
        return;
    }
    ev->observed_start = cln_proc_start_time(pid);
    ev->method = "container-init";
    cln_ns_read(pid, &ev->ns);
    cln_ns_read(0, &ev->host_ns);
    ev->cgroup = cln_proc_cgroup(pid);

    char token[40] = "cleanrun-canary-";
    if (strncmp(preset, token, strlen(token)) == 0)
        memcpy(token, preset, sizeof(token)); /* already in the container's command */
    else
        cln_random_hex(token + strlen(token), 8);
    ev->canary_path = cln_xasprintf("/.%s", token); /* not in the read-only KEEPALIVE_DIR */
    ev->canary = CLN_CANARY_FAILED;
    const struct cln_buf *ka = cln_runner_keepalive();
    if (!has_keepalive) {
        struct cln_file f = {
            .path = KEEPALIVE_BIN + 1, .data = ka->data, .len = ka->len, .mode = 0755};
        if (!ka->len) {
            ev->canary_note = cln_xstrdup("no /bin/busybox on the host to write it with");
            cln_evidence_judge(ev);
            return;
        }
        if (cln_rt_copy_in(rt, id, "/", &f, 1, &e) < 0) {
            ev->canary_note = cln_runner_text(e);
            cln_evidence_judge(ev);
            return;
        }
    }
    if (ret_token) { /* the step's exec writes it */
        memcpy(ret_token, token, sizeof(token));
        ev->canary = CLN_CANARY_NOT_RUN;
        cln_evidence_judge(ev);
        return;
    }
    write_canary(rt, id, ev, token);
    cln_evidence_judge(ev);
}

int cln_runner_container_pid(struct cln_runtime *rt, const char *id)
{
    struct cln_container_state st;
    struct cln_error *e = NULL;
    if (cln_rt_inspect(rt, id, &st, &e) < 0) {
        cln_error_free(e);
        return 0;
    }
    int pid = st.running && pid_is_container(rt, st.pid, st.id) ? st.pid : 0;
    cln_container_state_done(&st);
    return pid;
}

void cln_runner_canary_after_step(struct cln_runtime *rt, const char *id, struct cln_evidence *ev,
                                  const char *token)
{
    cln_canary_check(ev, token);
    if (ev->canary == CLN_CANARY_MISSING) {
        write_canary(rt, id, ev, token);
    } else {
        ev->canary_by = "step";
    }
    cln_evidence_judge(ev);
}

/* The step's evidence: its container's, with the exec's own facts, and
 * the observed process checked again after the step. */
void cln_runner_step_evidence(const struct cln_evidence *base, const struct cln_attempt *a,
                              struct cln_evidence *ev)
{
    cln_evidence_copy(ev, base);
    if (a) {
        free(ev->exec_id);
        ev->exec_id = a->exec_id ? cln_xstrdup(a->exec_id) : NULL;
        ev->exec_host_pid = a->host_pid;
    }
    if (ev->observed_pid && ev->pid_proven && ev->observed_start &&
        cln_proc_start_time(ev->observed_pid) == ev->observed_start) {
        /* A process may unshare(2) on its own; what matters is whether
         * the namespaces it has now are the host's: judge again on them. */
        /* read whole, from the same process (one that exits meanwhile, as a
         * gated step's init does, gives nothing to judge again) */
        struct cln_ns_set now;
        bool whole = cln_ns_read(ev->observed_pid, &now) == 0 &&
                     cln_proc_start_time(ev->observed_pid) == ev->observed_start;
        for (int k = 0; whole && k < CLN_NS_COUNT; k++)
            whole = now.ino[k] || !ev->ns.ino[k];
        if (whole && memcmp(&now, &ev->ns, sizeof(now)) != 0) {
            ev->ns = now;
            ev->method = "container-init-reread";
            cln_evidence_judge(ev);
        }
    }
}
