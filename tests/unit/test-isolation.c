/* Unit tests of isolation evidence, the host-exec lockout, owner judgement
 * for gc, and the privilege flags.  Criterion runs each test in its own
 * process, so a test may install the lockout on itself. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/reclaim.h"
#include "harness/isolation.h"
#include "harness/session.h"
#include "runtime/backend.h"
#include "harness/spec.h"
#include "runtime/base/os.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- the lockout ---- */

Test(lockout, execve_is_allowed_before)
{
    char a0[] = "no-such-program";
    char *const argv[] = {a0, NULL};
    errno = 0;
    cr_assert_eq(execve("/nonexistent/cleanrun-no-such-program", argv, NULL), -1);
    cr_assert_eq(errno, ENOENT, "before the lockout a missing program is ENOENT, got %s",
                 strerror(errno));
    cr_assert_not(cln_lockout_active());
}

Test(lockout, execve_fails_with_eperm_after)
{
    struct cln_lockout l;
    struct cln_error *err = NULL;
    int r = cln_lockout_install(&l, &err);
    cr_assert_eq(r, 0, "install: %s", err ? err->msg : "?");
    cr_assert(l.in_force);
    cr_assert(strstr(l.method, "execve"));
    cr_assert(cln_lockout_active());
    char a0[] = "true";
    char *const argv[] = {a0, NULL};
    /* a program that exists: without the filter this would replace us */
    errno = 0;
    cr_assert_eq(execve("/bin/true", argv, NULL), -1);
    cr_assert_eq(errno, EPERM, "execve: %s", strerror(errno));
    errno = 0;
    cr_assert_eq(syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, NULL, 0), -1);
    cr_assert_eq(errno, EPERM, "execveat: %s", strerror(errno));
    cln_lockout_done(&l);
}

Test(lockout, a_forked_child_inherits_it)
{
    struct cln_lockout l;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_lockout_install(&l, &err), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char a0[] = "sh", a1[] = "-c", a2[] = "exit 0";
        char *const argv[] = {a0, a1, a2, NULL};
        execv("/bin/sh", argv);
        _exit(errno == EPERM ? 42 : 43);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 42, "the child's exec was not refused with EPERM");
    cln_lockout_done(&l);
}

static void *try_exec(void *ud)
{
    (void)ud;
    char a0[] = "true";
    char *const argv[] = {a0, NULL};
    execve("/bin/true", argv, NULL);
    return (void *)(intptr_t)errno;
}

Test(lockout, threads_started_before_are_covered)
{
    /* TSYNC: a thread that exists when the filter is loaded gets it too */
    pthread_t th;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    struct cln_lockout l;
    struct cln_error *err = NULL;
    cr_assert_eq(cln_lockout_install(&l, &err), 0);
    cr_assert_eq(pthread_create(&th, NULL, try_exec, NULL), 0);
    void *ret = NULL;
    pthread_join(th, &ret);
    cr_assert_eq((intptr_t)ret, EPERM);
    pthread_mutex_unlock(&m);
    cln_lockout_done(&l);
}

/* ---- namespaces and the verdict ---- */

Test(isolation, own_namespaces_read_the_same_by_pid_and_self)
{
    struct cln_ns_set a, b;
    cr_assert_eq(cln_ns_read(0, &a), 0);
    cr_assert_eq(cln_ns_read(getpid(), &b), 0);
    for (int i = 0; i < CLN_NS_COUNT; i++)
        cr_assert_eq(a.ino[i], b.ino[i], "%s", cln_ns_names[i]);
    cr_assert_neq(a.ino[CLN_NS_MNT], 0);
    cr_assert_eq(cln_ns_read(999999999, &b), -1);
}

static struct cln_evidence isolated_evidence(void)
{
    struct cln_evidence e;
    memset(&e, 0, sizeof(e));
    e.local = true;
    e.observed_pid = 4242;
    e.pid_proven = true;
    for (int i = 0; i < CLN_NS_COUNT; i++) {
        e.host_ns.ino[i] = 4026531835u + (uint64_t)i;
        e.ns.ino[i] = 4026532000u + (uint64_t)i;
    }
    e.canary = CLN_CANARY_PROVEN;
    e.canary_path = cln_xstrdup("/.cleanrun/cleanrun-canary-00");
    return e;
}

Test(isolation, distinct_namespaces_and_a_proven_canary_are_isolated)
{
    struct cln_evidence e = isolated_evidence();
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_ISOLATED, "%s", e.reason);
    cln_evidence_done(&e);
}

Test(isolation, each_shared_required_namespace_is_a_violation)
{
    enum cln_ns req[] = {CLN_NS_MNT, CLN_NS_PID, CLN_NS_UTS, CLN_NS_NET};
    for (size_t i = 0; i < 4; i++) {
        struct cln_evidence e = isolated_evidence();
        e.ns.ino[req[i]] = e.host_ns.ino[req[i]];
        cln_evidence_judge(&e);
        cr_assert_eq(e.verdict, CLN_VERDICT_VIOLATED, "%s shared", cln_ns_names[req[i]]);
        cr_assert(strstr(e.reason, cln_ns_names[req[i]]), "%s", e.reason);
        cln_evidence_done(&e);
    }
    /* ipc shared is not one of the required ones */
    struct cln_evidence e = isolated_evidence();
    e.ns.ino[CLN_NS_IPC] = e.host_ns.ino[CLN_NS_IPC];
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_ISOLATED);
    cln_evidence_done(&e);
}

Test(isolation, host_network_by_request_is_unverified_not_violated)
{
    struct cln_evidence e = isolated_evidence();
    e.ns.ino[CLN_NS_NET] = e.host_ns.ino[CLN_NS_NET];
    e.request.host_network = true;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_UNVERIFIED);
    cr_assert(strstr(e.reason, "host's net namespace"), "%s", e.reason);
    /* but a shared mnt namespace is still a violation */
    e.ns.ino[CLN_NS_MNT] = e.host_ns.ino[CLN_NS_MNT];
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_VIOLATED);
    cln_evidence_done(&e);
}

Test(isolation, canary_states)
{
    struct {
        enum cln_canary_state c;
        enum cln_verdict v;
    } cases[] = {{CLN_CANARY_ON_HOST, CLN_VERDICT_VIOLATED},
                 {CLN_CANARY_MISSING, CLN_VERDICT_VIOLATED},
                 {CLN_CANARY_FAILED, CLN_VERDICT_UNVERIFIED},
                 {CLN_CANARY_NOT_RUN, CLN_VERDICT_UNVERIFIED}};
    for (size_t i = 0; i < 4; i++) {
        struct cln_evidence e = isolated_evidence();
        e.canary = cases[i].c;
        cln_evidence_judge(&e);
        cr_assert_eq(e.verdict, cases[i].v, "canary %s", cln_canary_state_name(cases[i].c));
        cln_evidence_done(&e);
    }
}

/* A VM runtime (Apple's): no process here to observe; its own kernel
 * (another boot id) and the canary are the evidence (docs/isolation.md). */
static struct cln_evidence vm_evidence(void)
{
    struct cln_evidence e;
    memset(&e, 0, sizeof(e));
    e.vm = true;
    e.guest_boot_id = cln_xstrdup("11111111-2222-3333-4444-555555555555");
    e.host_boot_id = cln_xstrdup("99999999-2222-3333-4444-555555555555");
    e.canary = CLN_CANARY_PROVEN;
    e.canary_path = cln_xstrdup("/.cleanrun-canary-00");
    return e;
}

Test(isolation, a_vm_with_its_own_kernel_and_a_proven_canary_is_isolated)
{
    struct cln_evidence e = vm_evidence();
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_ISOLATED, "%s", e.reason);
    cr_assert(strstr(e.reason, "kernel of its own (boot id 11111111"), "%s", e.reason);
    cln_evidence_done(&e);
    /* on a host with no Linux kernel (macOS) there is no host boot id */
    e = vm_evidence();
    free(e.host_boot_id);
    e.host_boot_id = NULL;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_ISOLATED, "%s", e.reason);
    cr_assert(strstr(e.reason, "no Linux kernel"), "%s", e.reason);
    cln_evidence_done(&e);
}

Test(isolation, a_vm_whose_kernel_or_canary_is_not_proven_is_not_isolated)
{
    struct cln_evidence e = vm_evidence();
    free(e.guest_boot_id);
    e.guest_boot_id = NULL;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_UNVERIFIED, "%s", e.reason);
    cln_evidence_done(&e);
    e = vm_evidence();
    e.canary = CLN_CANARY_ON_HOST;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_VIOLATED, "%s", e.reason);
    cln_evidence_done(&e);
    e = vm_evidence();
    e.canary = CLN_CANARY_MISSING;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_VIOLATED, "%s", e.reason);
    cln_evidence_done(&e);
}

Test(isolation, a_said_vm_on_the_hosts_own_kernel_is_judged_by_its_process)
{
    /* the emulator's containers, or a VM runtime that is not one: the same
     * boot id; observed through the process holding the canary */
    struct cln_evidence e = vm_evidence();
    free(e.host_boot_id);
    e.host_boot_id = cln_xstrdup(e.guest_boot_id);
    e.shares_kernel = true;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_UNVERIFIED, "%s", e.reason);
    cr_assert(strstr(e.reason, "this host's kernel"), "%s", e.reason);
    cln_evidence_done(&e);
    struct cln_evidence f = isolated_evidence();
    f.vm = true;
    f.shares_kernel = true;
    f.guest_boot_id = cln_xstrdup("b");
    f.host_boot_id = cln_xstrdup("b");
    cln_evidence_judge(&f);
    cr_assert_eq(f.verdict, CLN_VERDICT_ISOLATED, "%s", f.reason);
    f.ns.ino[CLN_NS_PID] = f.host_ns.ino[CLN_NS_PID];
    cln_evidence_judge(&f);
    cr_assert_eq(f.verdict, CLN_VERDICT_VIOLATED, "%s", f.reason);
    cln_evidence_done(&f);
}

Test(isolation, remote_engine_and_privileges_are_unverified)
{
    struct cln_evidence e = isolated_evidence();
    e.local = false;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_UNVERIFIED);
    cr_assert(strstr(e.reason, "not on this machine"), "%s", e.reason);
    cln_evidence_done(&e);
    e = isolated_evidence();
    e.request.privileged = true;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_UNVERIFIED);
    cln_evidence_done(&e);
    e = isolated_evidence();
    e.request.host_mounts = true;
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_UNVERIFIED);
    cln_evidence_done(&e);
}

Test(isolation, observing_the_harness_itself_is_a_violation)
{
    /* Point the observation at this very process, as a lying engine might:
     * its namespaces are the host's and the canary is on the host. */
    char dir[] = "/tmp/cleanrun-canary-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct cln_evidence e;
    memset(&e, 0, sizeof(e));
    e.local = true;
    e.observed_pid = getpid();
    e.pid_proven = true;
    cr_assert_eq(cln_ns_read(getpid(), &e.ns), 0);
    cr_assert_eq(cln_ns_read(0, &e.host_ns), 0);
    e.canary_path = cln_xasprintf("%s/canary", dir);
    FILE *f = fopen(e.canary_path, "w");
    fputs("tok", f);
    fclose(f);
    cln_canary_check(&e, "tok");
    cr_assert_eq(e.canary, CLN_CANARY_ON_HOST);
    cln_evidence_judge(&e);
    cr_assert_eq(e.verdict, CLN_VERDICT_VIOLATED);
    unlink(e.canary_path);
    rmdir(dir);
    cln_evidence_done(&e);
}

Test(isolation, cgroup_path_of_self)
{
    char *cg = cln_proc_cgroup(getpid());
    cr_assert_not_null(cg);
    cr_assert_eq(cg[0], '/', "%s", cg);
    free(cg);
}

/* ---- owners, for gc ---- */

/* Labels as cleanrun writes them; pidns 0: this process's namespace;
 * host NULL: this machine's id. */
static void owner_labels(struct cln_labels *l, long pid, const char *boot, const char *start,
                         uint64_t pidns, const char *host)
{
    char p[32], ns[32], machine[64];
    snprintf(p, sizeof(p), "%ld", pid);
    snprintf(ns, sizeof(ns), "%llu", (unsigned long long)(pidns ? pidns : cln_proc_pidns(0)));
    cln_machine_id(machine, sizeof(machine));
    cln_labels_set(l, CLN_LABEL_RUN, "r1");
    cln_labels_set(l, CLN_LABEL_OWNER_PID, p);
    cln_labels_set(l, CLN_LABEL_OWNER_BOOT, boot);
    cln_labels_set(l, CLN_LABEL_OWNER_PIDNS, ns);
    cln_labels_set(l, CLN_LABEL_OWNER_HOST, host ? host : machine);
    if (start)
        cln_labels_set(l, CLN_LABEL_OWNER_START, start);
}

static void my_boot(char *out, size_t size)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(out, (int)size, f));
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

Test(gc, owner_states)
{
    char boot[64];
    my_boot(boot, sizeof(boot));
    struct cln_labels l = {0};
    char start[32];
    snprintf(start, sizeof(start), "%llu", (unsigned long long)cln_proc_start_time(0));
    owner_labels(&l, getpid(), boot, start, 0, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_ALIVE);
    /* the parent is alive, but with another start time it is a later process */
    owner_labels(&l, getppid(), boot, "1", 0, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_GONE);
    /* a reaped child's pid is free */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    owner_labels(&l, child, boot, NULL, 0, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_GONE);
    /* another boot of this machine: its owner died with that boot; another
     * machine's: never judged, whether the engine is local or not */
    owner_labels(&l, getpid(), "00000000-0000-0000-0000-000000000000", NULL, 0, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_GONE);
    owner_labels(&l, getpid(), "00000000-0000-0000-0000-000000000000", NULL, 0, "another-machine");
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_UNKNOWN);
    cln_labels_done(&l);
    /* no owner labels, or an older cleanrun's (no pid namespace): never judged */
    cln_labels_set(&l, CLN_LABEL_RUN, "r2");
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_UNKNOWN);
    cln_labels_set(&l, CLN_LABEL_OWNER_PID, "1");
    cln_labels_set(&l, CLN_LABEL_OWNER_BOOT, boot);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_UNKNOWN);
    cln_labels_done(&l);
}

/* Two CI jobs in containers sharing the host's engine: the same boot id,
 * and the other's pid means nothing here.  Its owner is never judged from
 * a pid namespace that cannot see it (this code once said "gone", and gc
 * removed a live run). */
Test(gc, an_owner_in_a_pid_namespace_not_visible_is_never_judged)
{
    char boot[64];
    my_boot(boot, sizeof(boot));
    struct cln_labels l = {0};
    /* pid 1 of another namespace, with its own start time: here pid 1 is
     * a different process, with a different start time */
    owner_labels(&l, 1, boot, "12345", 4026539999ULL, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_UNKNOWN);
    cln_labels_done(&l);
}

/* An owner in a pid namespace below ours (a run in a container, judged
 * from the host) is visible: found by its pid in its own namespace. */
Test(gc, an_owner_in_a_child_pid_namespace_is_judged_by_its_inner_pid)
{
    char boot[64];
    my_boot(boot, sizeof(boot));
    int ready[2], go[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t outer = fork();
    if (outer == 0) {
        /* the next child is pid 1 of a new pid namespace */
        if (unshare(CLONE_NEWPID) < 0)
            _exit(77);
        pid_t inner = fork();
        if (inner == 0) {
            char c = 0;
            (void)!write(ready[1], &c, 1);
            (void)!read(go[0], &c, 1);
            _exit(0);
        }
        waitpid(inner, NULL, 0);
        _exit(0);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    /* find the inner process: its pid namespace differs, its NSpid is 1 */
    uint64_t ns = 0;
    uint64_t start = 0;
    char path[64];
    for (int tries = 0; tries < 100 && !ns; tries++) {
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", outer, outer);
        FILE *f = fopen(path, "r");
        int inner = 0;
        if (f && fscanf(f, "%d", &inner) == 1 && inner > 0) {
            ns = cln_proc_pidns(inner);
            start = cln_proc_start_time(inner);
        }
        if (f)
            fclose(f);
    }
    cr_assert_neq(ns, 0);
    cr_assert_neq(ns, cln_proc_pidns(0));
    char st[32];
    snprintf(st, sizeof(st), "%llu", (unsigned long long)start);
    struct cln_labels l = {0};
    owner_labels(&l, 1, boot, st, ns, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_ALIVE);
    /* another pid in that namespace: nobody there has it */
    owner_labels(&l, 2, boot, st, ns, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_GONE);
    cr_assert_eq(write(go[1], &c, 1), 1);
    int status = 0;
    waitpid(outer, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unshare(CLONE_NEWPID) failed");
    /* the namespace is gone with its last process: nothing there to see */
    owner_labels(&l, 1, boot, st, ns, NULL);
    cr_assert_eq(cln_owner_state(&l, true), CLN_OWNER_UNKNOWN);
    cln_labels_done(&l);
}

/* ---- privilege flags ---- */

static void write_spec(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(privileges, each_needs_its_flag_with_the_position)
{
    char dir[] = "/tmp/cleanrun-privs-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/p.cleanrun.toml", dir);
    write_spec(path, "[test]\nname = \"p\"\n"
                     "[services.web]\nimage = \"localhost/cleanrun/busybox:1\"\n"
                     "host_network = true\n"
                     "privileged = true\n"
                     "mounts = [{ source = \"/var/run/docker.sock\", target = \"/s\" }]\n"
                     "[[steps]]\nimage = \"localhost/cleanrun/busybox:1\"\nrun = [\"true\"]\n"
                     "host_pid = true\n");
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_eq(cln_spec_load_file(path, NULL, &set, &err), 0, "%s", err ? err->msg : "");
    cr_assert_eq(cln_spec_check_allowed(&set, 0, &err), -1);
    char *m = cln_error_render(err);
    /* the source as the engine gets it: canonical (/var/run is /run on Debian) */
    char *real = realpath("/var/run", NULL);
    char *w3 = cln_xasprintf(":7:22: services.web.mounts[0] mounts the host's %s/docker.sock needs "
                             "--allow-host-mounts",
                             real ? real : "/var/run");
    char *w4 = cln_xasprintf(":7:22: services.web.mounts[0] hands the container %s/docker.sock",
                             real ? real : "/var/run");
    free(real);
    const char *const want[] = {":5:1: services.web.host_network = true needs --allow-host-network",
                                ":6:1: services.web.privileged = true needs --allow-privileged",
                                w3,
                                w4,
                                "needs --allow-engine-socket",
                                ":11:1: steps[0].host_pid = true needs --allow-host-pid"};
    for (size_t i = 0; i < 6; i++)
        cr_assert(strstr(m, want[i]), "missing \"%s\" in: %s", want[i], m);
    free(w3);
    free(w4);
    free(m);
    cln_error_free(err);
    err = NULL;
    /* each flag lifts exactly its own refusal */
    cr_assert_eq(cln_spec_check_allowed(&set,
                                        CLN_ALLOW_HOST_NETWORK | CLN_ALLOW_PRIVILEGED |
                                            CLN_ALLOW_HOST_MOUNTS | CLN_ALLOW_HOST_PID,
                                        &err),
                 -1);
    m = cln_error_render(err);
    cr_assert(strstr(m, "--allow-engine-socket"));
    cr_assert_null(strstr(m, "--allow-host-network"), "%s", m);
    free(m);
    cln_error_free(err);
    err = NULL;
    cr_assert_eq(cln_spec_check_allowed(&set, 0x1f, &err), 0);
    cln_spec_set_done(&set);
    unlink(path);
    rmdir(dir);
}

Test(privileges, a_plain_spec_needs_no_flag)
{
    struct cln_spec_set set = {0};
    struct cln_error *err = NULL;
    cr_assert_eq(cln_spec_load_file("specs/http-service.cleanrun.toml", NULL, &set, &err), 0);
    cr_assert_eq(cln_spec_check_allowed(&set, 0, &err), 0);
    cln_spec_set_done(&set);
}

/* ---- text for reports ---- */

#include "harness/report.h"

Test(report_text, json_replaces_invalid_utf8_and_nul)
{
    static const char in[] = "caf\xc3\xa9 \xff\xfe x\0y";
    size_t changed = 0;
    char *out = cln_text_clean(in, sizeof(in) - 1, CLN_TEXT_JSON, &changed);
    cr_assert_str_eq(out, "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd x\xef\xbf\xbdy");
    cr_assert_eq(changed, 3);
    free(out);
}

Test(report_text, xml_removes_what_xml_1_0_forbids)
{
    static const char in[] = "a\x01"
                             "b\x1b[0m\tc\n\xef\xbf\xbe<&>";
    size_t changed = 0;
    char *out = cln_text_clean(in, sizeof(in) - 1, CLN_TEXT_XML, &changed);
    cr_assert_str_eq(out, "ab[0m\tc\n<&>"); /* escaping is the writer's job */
    cr_assert_eq(changed, 5);
    free(out);
}

Test(report_text, yaml_keeps_tab_newline_and_unicode)
{
    static const char in[] = "t\tn\nr\r \xe2\x80\xa8 \xc2\x85 \x07 caf\xc3\xa9";
    char *out = cln_text_clean(in, sizeof(in) - 1, CLN_TEXT_YAML, NULL);
    cr_assert_str_eq(out, "t\tn\nr\r \xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd caf\xc3\xa9");
    free(out);
}

/* ---- host processes a backend started are in the results ---- */

#include <cjson/cJSON.h>

#include "tests/fakes/fake-runtime.h"

Test(report, host_processes_recorded_by_a_backend_are_reported)
{
    struct fake f;
    memset(&f, 0, sizeof(f));
    struct cln_runtime *rt = fake_runtime_new(&f);
    static const char *const a1[] = {"container", "run", "--rm", "x", NULL};
    static const char *const a2[] = {"container", "exec", "c1", "true", NULL};
    cln_runtime_record_host_process(rt, "/usr/local/bin/container", a1);
    cln_runtime_record_host_process(rt, "/usr/local/bin/container", a2);
    struct cln_report_input in = {.run_id = "r", .version = "v", .rt = rt};
    char *doc = cln_report_json(&in);
    cJSON *j = cJSON_Parse(doc);
    cr_assert_not_null(j);
    const cJSON *hp = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "run"), "host_processes");
    cr_assert_eq(cJSON_GetArraySize(hp), 2);
    const cJSON *p1 = cJSON_GetArrayItem(hp, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(p1, "path")->valuestring, "/usr/local/bin/container");
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(p1, "argv"), 2)->valuestring, "c1");
    cJSON_Delete(j);
    free(doc);
    fake_runtime_free(rt);
    fake_done(&f);
}

/* ---- exit codes ---- */

Test(exit_code, violation_wins_then_errors_then_failures)
{
    struct cln_test_result r[3];
    memset(r, 0, sizeof(r));
    r[0].status = CLN_ST_PASSED;
    r[1].status = CLN_ST_PASSED;
    r[2].status = CLN_ST_PASSED;
    cr_assert_eq(cln_session_exit_code(r, 3, false), 0);
    cr_assert_eq(cln_session_exit_code(r, 3, true), 3, "a leak fails the run");
    r[1].status = CLN_ST_TIMEOUT;
    cr_assert_eq(cln_session_exit_code(r, 3, false), 1);
    r[2].status = CLN_ST_ERROR;
    cr_assert_eq(cln_session_exit_code(r, 3, false), 3);
    r[0].any_observed = true;
    r[0].verdict = CLN_VERDICT_UNVERIFIED;
    cr_assert_eq(cln_session_exit_code(r, 3, false), 3, "unverified is not a violation");
    r[0].verdict = CLN_VERDICT_VIOLATED;
    cr_assert_eq(cln_session_exit_code(r, 3, true), 4, "a violation wins over errors and leaks");
}

/* The runs' private host directories: gc removes a dead run's (with what
 * is in it, never what a link in it leads to) and leaves alone a live
 * run's, one that is not 0700, and one without an owner file. */
Test(gc, host_dirs_of_dead_runs_only)
{
    char base[] = "/tmp/cln-test-hostdirs.XXXXXX";
    cr_assert_not_null(mkdtemp(base));
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", base, 1);

    char *live = NULL;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_host_dir_make("aaaa", &live, &e), 0);
    struct stat st;
    cr_assert_eq(stat(live, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);

    /* a run whose owner (a child, reaped) is gone */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t child = fork();
    if (child == 0) {
        char *d = NULL;
        struct cln_error *ce = NULL;
        if (cln_host_dir_make("bbbb", &d, &ce) < 0)
            _exit(1);
        ssize_t w = write(p[1], d, strlen(d));
        _exit(w > 0 ? 0 : 1);
    }
    close(p[1]);
    char dead[512] = {0};
    cr_assert_gt(read(p[0], dead, sizeof(dead) - 1), 0);
    close(p[0]);
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char victim[600], path[700];
    snprintf(victim, sizeof(victim), "%s/victim", base);
    FILE *f = fopen(victim, "w");
    cr_assert_not_null(f);
    fputs("keep me", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/link", dead);
    cr_assert_eq(symlink(victim, path), 0);
    snprintf(path, sizeof(path), "%s/sub", dead);
    cr_assert_eq(mkdir(path, 0755), 0);

    /* the same dead owner, but 0755; and a 0700 one without an owner file */
    char open_dir[600], bare[600], cmd[2000];
    snprintf(open_dir, sizeof(open_dir), "%s/cleanrun-cccc-open", base);
    snprintf(bare, sizeof(bare), "%s/cleanrun-dddd-bare", base);
    cr_assert_eq(mkdir(open_dir, 0755), 0);
    cr_assert_eq(chmod(open_dir, 0755), 0);
    cr_assert_eq(mkdir(bare, 0700), 0);
    snprintf(cmd, sizeof(cmd), "cp '%s/owner' '%s/owner'", dead, open_dir);
    cr_assert_eq(system(cmd), 0);

    struct cln_gc_report r;
    memset(&r, 0, sizeof(r));
    cln_gc_host_dirs(&r);
    cr_assert_eq(r.host_dirs, 1, "removed %zu", r.host_dirs);
    cr_assert_eq(r.nerrors, 0);
    cr_assert_neq(stat(dead, &st), 0, "the dead run's directory is gone");
    cr_assert_eq(stat(live, &st), 0, "the live run's is kept");
    cr_assert_eq(stat(open_dir, &st), 0, "one not 0700 is kept");
    cr_assert_eq(stat(bare, &st), 0, "one without an owner file is kept");
    cr_assert_eq(stat(victim, &st), 0, "a link's target is never followed");
    cln_gc_report_done(&r);

    cln_host_dir_remove(live);
    cr_assert_neq(stat(live, &st), 0);
    free(live);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    cr_assert_eq(system(cmd), 0);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
}
