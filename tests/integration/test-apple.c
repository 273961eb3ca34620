/* The Apple backend's core operations against tests/emulator/container, an
 * emulator of Apple's container CLI (faithful to its documented behaviour,
 * both JSON schemas, real containers through the local Docker engine; see
 * its header), in each schema: the one stand-in this project allows for a
 * CLI that cannot run here.  Run when CLEANRUN_TEST_ENDPOINT is Docker's
 * (the emulator drives Docker); skipped otherwise. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/apple/apple-internal.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"
#include "runtime/base/random.h"
#include "runtime/runtime.h"

#define EMU_IMAGE "localhost/cleanrun/busybox:1"

static char emulator[PATH_MAX];

static bool on_docker(void)
{
    const char *ep = getenv("CLEANRUN_TEST_ENDPOINT");
    return ep && strstr(ep, "docker.sock");
}

static struct cln_runtime *open_schema(const char *schema)
{
    cr_assert_not_null(realpath("tests/emulator/container", emulator), "run from the top");
    setenv("CONTAINER_EMU_SCHEMA", schema, 1);
    unsetenv("CONTAINER_EMU_HANG");
    unsetenv("CONTAINER_EMU_XPC_FAIL");
    unsetenv("CONTAINER_EMU_SYSTEM");
    setenv("CLEANRUN_APPLE_TIMEOUT_MS", "20000", 1);
    struct cln_runtime *rt = NULL;
    struct cln_error *e = NULL;
    int r = cln_apple_open_cli(emulator, &rt, &e);
    cr_assert_eq(r, 0, "open: %s", e ? cln_error_render(e) : "");
    return rt;
}

static uint64_t ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *text(struct cln_error *e)
{
    return e ? cln_error_text(e) : "";
}

/* create, start, inspect, list by label, exec (status, streams apart, a
 * deadline), logs, remove (twice), and a missing container: notFound */
static void lifecycle(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_schema(schema);
    struct cln_error *e = NULL;
    char rid[17];
    cln_random_hex(rid, 8);
    char name[64];
    snprintf(name, sizeof(name), "cleanrun-apple-%s-%s", schema, rid);
    struct cln_labels l = {0};
    cln_labels_set(&l, "io.cleanrun.run", rid);
    struct cln_image_info img;
    cr_assert_eq(cln_rt_image_inspect(rt, EMU_IMAGE, &img, &e), 1, "%s", text(e));
    cln_image_info_done(&img);
    const char *cmd[] = {"sh", "-c", "echo started; sleep 1000", NULL};
    struct cln_container_config cfg = {.image = EMU_IMAGE, .name = name, .labels = &l, .cmd = cmd};
    char *id = NULL;
    cr_assert_eq(cln_rt_create(rt, &cfg, &id, &e), 0, "%s", text(e));
    cr_assert_str_eq(id, name, "--name becomes the id");
    cr_assert_eq(cln_rt_start(rt, id, &e), 0, "%s", text(e));
    struct cln_container_state st;
    cr_assert_eq(cln_rt_inspect(rt, id, &st, &e), 0, "%s", text(e));
    cr_assert(st.running);
    cr_assert_str_eq(cln_labels_get(&st.labels, "io.cleanrun.run"), rid);
    cln_container_state_done(&st);
    char filter[64];
    snprintf(filter, sizeof(filter), "io.cleanrun.run=%s", rid);
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    cr_assert_eq(cln_rt_list(rt, filter, &cs, &n, &e), 0, "%s", text(e));
    cr_assert_eq(n, 1, "filtered here: the CLI has no label filter");
    cln_container_summaries_free(cs, n);

    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    struct cln_exec_config ec = {.argv = argv, .timeout_ms = 20000};
    struct cln_exec_result er;
    cr_assert_eq(cln_rt_exec(rt, id, &ec, &er, &e), 0, "%s", text(e));
    cr_assert_eq(er.exit_code, 3);
    cr_assert_eq(er.out.data.len, 4);
    cr_assert(memcmp(er.out.data.data, "out\n", 4) == 0);
    cr_assert_eq(er.err.data.len, 4);
    cln_exec_result_done(&er);

    struct cln_capture lo, le;
    cr_assert_eq(cln_rt_logs(rt, id, 0, 0, &lo, &le, &e), 0, "%s", text(e));
    cr_assert(lo.data.len && strstr(lo.data.data, "started"));
    cln_capture_done(&lo);
    cln_capture_done(&le);

    /* a step past its deadline: the CLI killed, and the container (the
     * process in a VM cannot be reached otherwise) */
    const char *slow[] = {"sleep", "100", NULL};
    struct cln_exec_config sc = {.argv = slow, .timeout_ms = 1500};
    uint64_t t0 = ms();
    cr_assert_eq(cln_rt_exec(rt, id, &sc, &er, &e), 0, "%s", text(e));
    uint64_t el = ms() - t0;
    cr_assert_eq(er.status, CLN_EXEC_TIMEOUT);
    cr_assert_str_eq(er.kill_method, "container-kill");
    cr_assert_lt(el, 15000, "%llu ms", (unsigned long long)el);
    cln_exec_result_done(&er);
    /* and the kill happened: the container is no longer running */
    int code = 0;
    cr_assert_eq(cln_rt_wait(rt, id, 15000, &code, &e), 0, "killed: %s", text(e));
    cr_assert_eq(cln_rt_inspect(rt, id, &st, &e), 0, "%s", text(e));
    cr_assert_not(st.running, "container-kill left it running");
    cln_container_state_done(&st);

    cr_assert_eq(cln_rt_remove(rt, id, true, &e), 0, "%s", text(e));
    cr_assert_eq(cln_rt_remove(rt, id, true, &e), 0, "removing a missing one: %s", text(e));
    cr_assert_lt(cln_rt_inspect(rt, id, &st, &e), 0);
    cr_assert(cln_error_has_code(e, CLN_E_NOT_FOUND), "%s", text(e));
    cln_error_free(e);
    free(id);
    cln_labels_done(&l);
    cln_runtime_close(rt);
}

Test(apple_emulator, lifecycle_schema_1, .timeout = 120)
{
    lifecycle("1");
}

Test(apple_emulator, lifecycle_schema_0, .timeout = 120)
{
    lifecycle("0");
}

/* The fault modes: a transient XPC failure is retried and passes; a hung
 * call is killed within its deadline, naming the command; a stopped
 * service says what to run. */
Test(apple_emulator, faults, .timeout = 120)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_schema("1");
    char state[] = "/tmp/cleanrun-apple-xpc-XXXXXX";
    int fd = mkstemp(state);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(state);
    char spec[PATH_MAX + 32];
    snprintf(spec, sizeof(spec), "image:2:%s", state);
    setenv("CONTAINER_EMU_XPC_FAIL", spec, 1);
    struct cln_image_info img;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_rt_image_inspect(rt, EMU_IMAGE, &img, &e), 1, "retried: %s", text(e));
    cln_image_info_done(&img);
    unsetenv("CONTAINER_EMU_XPC_FAIL");
    unlink(state);

    cln_runtime_close(rt);
    /* the bound is read at open: open with 4 s (the emulator, a Python
     * process, may take over 1 s to answer `system status` under load),
     * then make inspect hang */
    setenv("CLEANRUN_APPLE_TIMEOUT_MS", "4000", 1);
    cr_assert_eq(cln_apple_open_cli(emulator, &rt, &e), 0, "%s", text(e));
    setenv("CONTAINER_EMU_HANG", "inspect", 1);
    struct cln_container_state st;
    uint64_t t0 = ms();
    cr_assert_lt(cln_rt_inspect(rt, "whatever", &st, &e), 0);
    uint64_t el = ms() - t0;
    cr_assert(el >= 3900 && el < 10000, "%llu ms", (unsigned long long)el);
    cr_assert(cln_error_has_code(e, CLN_E_TIMEOUT), "%s", text(e));
    cr_assert(strstr(text(e), "container inspect whatever` did not finish within 4000 ms"), "%s",
              text(e));
    cln_error_free(e);
    e = NULL;
    unsetenv("CONTAINER_EMU_HANG");
    cln_runtime_close(rt);

    setenv("CONTAINER_EMU_SYSTEM", "stopped", 1);
    cr_assert_lt(cln_apple_open_cli(emulator, &rt, &e), 0);
    cr_assert(strstr(text(e), "run `container system start`"), "%s", text(e));
    cln_error_free(e);
    unsetenv("CONTAINER_EMU_SYSTEM");
}

/* A fresh runtime of schema 1 with these bounds and faults (the emulator
 * reads CONTAINER_EMU_* at each call). */
static struct cln_runtime *open_with_timeout(const char *schema, const char *timeout_ms)
{
    struct cln_runtime *rt = open_schema(schema);
    cln_runtime_close(rt);
    setenv("CLEANRUN_APPLE_TIMEOUT_MS", timeout_ms, 1);
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_open_cli(emulator, &rt, &e), 0, "open: %s", text(e));
    return rt;
}

static void unique_name(char *buf, size_t size, const char *what, const char *schema)
{
    char rid[17];
    cln_random_hex(rid, 8);
    snprintf(buf, size, "cleanrun-apple-%s-%s-%s", what, schema, rid);
}

/* Whether the emulator (so Docker) still has a container of that name. */
static bool exists(const char *schema, const char *name)
{
    struct cln_runtime *rt = open_schema(schema);
    struct cln_container_state st;
    struct cln_error *e = NULL;
    int r = cln_rt_inspect(rt, name, &st, &e);
    if (r == 0)
        cln_container_state_done(&st);
    else
        cr_assert(cln_error_has_code(e, CLN_E_NOT_FOUND), "%s", text(e));
    cln_error_free(e);
    cln_runtime_close(rt);
    return r == 0;
}

/* A create that hangs after the API server made the container (its reply
 * never comes back): killed at its bound, the CLI counts as stuck, and the
 * container it made is deleted all the same (docs/runtime.md). */
static void create_hung_after(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_with_timeout(schema, "4000");
    char name[80];
    unique_name(name, sizeof(name), "hung", schema);
    const char *cmd[] = {"sleep", "1000", NULL};
    struct cln_container_config cfg = {.image = EMU_IMAGE, .name = name, .cmd = cmd};
    setenv("CONTAINER_EMU_HANG_AFTER", "create", 1);
    char *id = NULL;
    struct cln_error *e = NULL;
    cr_assert_lt(cln_rt_create(rt, &cfg, &id, &e), 0);
    unsetenv("CONTAINER_EMU_HANG_AFTER");
    cr_assert(cln_error_has_code(e, CLN_E_TIMEOUT), "%s", text(e));
    cr_assert(strstr(text(e), "did not finish within 4000 ms"), "%s", text(e));
    cln_error_free(e);
    e = NULL;
    /* the runtime counts as gone from then on */
    struct cln_container_state st;
    cr_assert_lt(cln_rt_inspect(rt, name, &st, &e), 0);
    cr_assert(strstr(text(e), "stopped answering"), "%s", text(e));
    cln_error_free(e);
    cln_runtime_close(rt);
    cr_assert_not(exists(schema, name), "the half-made container %s was left behind", name);
}

Test(apple_emulator, a_create_that_hung_after_making_it_is_cleaned_up_schema_1, .timeout = 120)
{
    create_hung_after("1");
}

Test(apple_emulator, a_create_that_hung_after_making_it_is_cleaned_up_schema_0, .timeout = 120)
{
    create_hung_after("0");
}

/* The calling thread's deadline bounds each call as well as the call's
 * own bound, and is named when it is the one that passed; it says nothing
 * about the CLI, so later calls still run. */
static void thread_deadline(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_with_timeout(schema, "30000");
    setenv("CONTAINER_EMU_HANG", "inspect", 1);
    cln_deadline_set(cln_now_ms() + 1500, "the test's timeout (1.5s)");
    struct cln_container_state st;
    struct cln_error *e = NULL;
    uint64_t t0 = ms();
    cr_assert_lt(cln_rt_inspect(rt, "whatever", &st, &e), 0);
    uint64_t el = ms() - t0;
    cln_deadline_set(0, NULL);
    unsetenv("CONTAINER_EMU_HANG");
    cr_assert_lt(el, 6000, "the thread's 1.5 s, not the call's 30 s: %llu ms",
                 (unsigned long long)el);
    cr_assert(cln_error_has_code(e, CLN_E_TIMEOUT), "%s", text(e));
    cr_assert(strstr(text(e), "the test's timeout (1.5s) passed while `"), "%s", text(e));
    cr_assert_null(strstr(text(e), "did not finish within 30000 ms"), "%s", text(e));
    cln_error_free(e);
    e = NULL;
    /* not taken for a stuck CLI */
    cr_assert_lt(cln_rt_inspect(rt, "cleanrun-apple-no-such-container", &st, &e), 0);
    cr_assert(cln_error_has_code(e, CLN_E_NOT_FOUND), "%s", text(e));
    cln_error_free(e);
    cln_runtime_close(rt);
}

Test(apple_emulator, the_threads_deadline_bounds_a_call_schema_1, .timeout = 120)
{
    thread_deadline("1");
}

Test(apple_emulator, the_threads_deadline_bounds_a_call_schema_0, .timeout = 120)
{
    thread_deadline("0");
}

static char *xpc_state(void)
{
    static char state[64];
    snprintf(state, sizeof(state), "/tmp/cleanrun-apple-xpc-XXXXXX");
    int fd = mkstemp(state);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(state);
    return state;
}

static void xpc_fail(const char *sub, int n, const char *state)
{
    char spec[PATH_MAX + 64];
    snprintf(spec, sizeof(spec), "%s:%d:%s", sub, n, state);
    setenv("CONTAINER_EMU_XPC_FAIL", spec, 1);
}

/* A removal (one call for many ids, every exit status read per id) that
 * meets the API server away is tried again as any call is. */
static void delete_retried(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_schema(schema);
    char name[80];
    unique_name(name, sizeof(name), "xpc", schema);
    const char *cmd[] = {"sleep", "1000", NULL};
    struct cln_container_config cfg = {.image = EMU_IMAGE, .name = name, .cmd = cmd};
    char *id = NULL;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_rt_create(rt, &cfg, &id, &e), 0, "%s", text(e));
    const char *state = xpc_state();
    xpc_fail("delete", 2, state);
    int r = cln_rt_remove(rt, id, true, &e);
    unsetenv("CONTAINER_EMU_XPC_FAIL");
    unlink(state);
    cr_assert_eq(r, 0, "retried: %s", text(e));
    cr_assert_not(exists(schema, name));
    free(id);
    cln_runtime_close(rt);
}

Test(apple_emulator, a_removal_is_retried_after_an_xpc_failure_schema_1, .timeout = 120)
{
    delete_retried("1");
}

Test(apple_emulator, a_removal_is_retried_after_an_xpc_failure_schema_0, .timeout = 120)
{
    delete_retried("0");
}

/* Whether the CLI has networks is its own answer at open: an XPC failure
 * of `network list` is tried again, one that lasts fails the open, and
 * only macOS 15's missing plugin means "no networks". */
static struct cln_runtime *open_apple(struct cln_error **e)
{
    struct cln_runtime_config cfg = {.runtime = "apple", .endpoint = emulator};
    struct cln_runtime *rt = NULL;
    return cln_runtime_open(&cfg, &rt, e) < 0 ? NULL : rt;
}

static void network_probe(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    cln_runtime_close(open_schema(schema));
    struct cln_error *e = NULL;
    const char *state = xpc_state();
    xpc_fail("network list", 2, state);
    struct cln_runtime *rt = open_apple(&e);
    unsetenv("CONTAINER_EMU_XPC_FAIL");
    unlink(state);
    cr_assert_not_null(rt, "retried: %s", text(e));
    cr_assert(cln_runtime_supports(rt, CLN_FEATURE_NETWORK), "an XPC failure is not macOS 15");
    cln_runtime_close(rt);

    xpc_fail("network list", 100, state);
    rt = open_apple(&e);
    unsetenv("CONTAINER_EMU_XPC_FAIL");
    unlink(state);
    cr_assert_null(rt, "an XPC failure that lasts fails the open");
    cr_assert(strstr(text(e), "XPC connection error"), "%s", text(e));
    cln_error_free(e);
    e = NULL;

    setenv("CONTAINER_EMU_MACOS", "15", 1);
    rt = open_apple(&e);
    unsetenv("CONTAINER_EMU_MACOS");
    cr_assert_not_null(rt, "%s", text(e));
    cr_assert_not(cln_runtime_supports(rt, CLN_FEATURE_NETWORK), "macOS 15: no networks");
    cln_runtime_close(rt);
}

Test(apple_emulator, networks_are_decided_by_the_clis_own_answer_schema_1, .timeout = 120)
{
    network_probe("1");
}

Test(apple_emulator, networks_are_decided_by_the_clis_own_answer_schema_0, .timeout = 120)
{
    network_probe("0");
}

/* `container build` has no flag for the network of RUN steps (its builder
 * VM has one): a build that asks for none is refused, nothing built; one
 * that allows a network builds. */
static void build_network(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_schema(schema);
    char rid[17], tag[96];
    cln_random_hex(rid, 8);
    snprintf(tag, sizeof(tag), "localhost/cleanrun/apple-test-build-%s:%s", schema, rid);
    struct cln_build_request req = {.dockerfile = "FROM " EMU_IMAGE "\nRUN echo built > /built\n",
                                    .tag = tag};
    char *id = NULL;
    struct cln_error *e = NULL;
    cr_assert_lt(cln_build_image(rt, &req, NULL, NULL, &id, &e), 0);
    cr_assert(cln_error_has_code(e, CLN_E_UNSUPPORTED), "%s", text(e));
    cr_assert(strstr(text(e), "runtime apple cannot build without network"), "%s", text(e));
    cln_error_free(e);
    e = NULL;
    struct cln_image_info img;
    cr_assert_eq(cln_rt_image_inspect(rt, tag, &img, &e), 0, "nothing built: %s", text(e));

    req.network = true;
    cr_assert_eq(cln_build_image(rt, &req, NULL, NULL, &id, &e), 0, "%s", text(e));
    cr_assert_not_null(id);
    free(id);
    cr_assert_eq(cln_rt_image_remove(rt, tag, true, &e), 0, "%s", text(e));
    cr_assert_eq(cln_rt_image_inspect(rt, tag, &img, &e), 0, "removed: %s", text(e));
    cln_runtime_close(rt);

    /* with the user's consent, read at open, it builds with the builder's */
    setenv("CLEANRUN_APPLE_BUILD_NETWORK", "allow", 1);
    cr_assert_eq(cln_apple_open_cli(emulator, &rt, &e), 0, "%s", text(e));
    unsetenv("CLEANRUN_APPLE_BUILD_NETWORK");
    req.network = false;
    cr_assert_eq(cln_build_image(rt, &req, NULL, NULL, &id, &e), 0, "%s", text(e));
    free(id);
    cr_assert_eq(cln_rt_image_remove(rt, tag, true, &e), 0, "%s", text(e));
    cln_runtime_close(rt);
}

Test(apple_emulator, a_build_without_network_is_refused_schema_1, .timeout = 180)
{
    build_network("1");
}

Test(apple_emulator, a_build_without_network_is_refused_schema_0, .timeout = 180)
{
    build_network("0");
}

/* An exec's stdout (exit 0 asserted), owned. */
static char *exec_out(struct cln_runtime *rt, const char *id, const char *script)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct cln_exec_config ec = {.argv = argv, .timeout_ms = 20000};
    struct cln_exec_result er;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_rt_exec(rt, id, &ec, &er, &e), 0, "%s", text(e));
    cr_assert_eq(er.exit_code, 0, "`%s` exited %d", script, er.exit_code);
    char *s = strndup(er.out.data.data ? er.out.data.data : "", er.out.data.len);
    cln_exec_result_done(&er);
    return s;
}

static bool running(struct cln_runtime *rt, const char *id)
{
    struct cln_container_state st;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_rt_inspect(rt, id, &st, &e), 0, "%s", text(e));
    bool r = st.running;
    cln_container_state_done(&st);
    return r;
}

/* What the lifecycle test does not reach: volumes, a container with an
 * added capability, a tmpfs and a volume mount (seen from inside), files
 * copied in (1.x `cp`, 0.x tar through exec), stop with a grace, kill's
 * result, batch stop and delete with per-id results (one id missing), and
 * images: removal and a pull (of a local name: no registry is contacted
 * that answers, so the failure is what is checked). */
static void operations(const char *schema)
{
    if (!on_docker())
        cr_skip_test("the emulator drives Docker");
    struct cln_runtime *rt = open_schema(schema);
    struct cln_error *e = NULL;
    char rid[17], a[80], b[80], vol[80], missing[80];
    cln_random_hex(rid, 8);
    snprintf(a, sizeof(a), "cleanrun-apple-ops-%s-%s-a", schema, rid);
    snprintf(b, sizeof(b), "cleanrun-apple-ops-%s-%s-b", schema, rid);
    snprintf(vol, sizeof(vol), "cleanrun-apple-ops-%s-%s-v", schema, rid);
    snprintf(missing, sizeof(missing), "cleanrun-apple-ops-%s-%s-none", schema, rid);
    struct cln_labels l = {0};
    cln_labels_set(&l, "io.cleanrun.run", rid);
    char filter[64];
    snprintf(filter, sizeof(filter), "io.cleanrun.run=%s", rid);

    /* a volume, listed by its label */
    char *vname = NULL;
    cr_assert_eq(cln_volume_create(rt, vol, &l, &vname, &e), 0, "%s", text(e));
    cr_assert_str_eq(vname, vol);
    free(vname);
    struct cln_resource *res = NULL;
    size_t nres = 0;
    cr_assert_eq(cln_volume_list(rt, filter, &res, &nres, &e), 0, "%s", text(e));
    cr_assert_eq(nres, 1);
    cr_assert_str_eq(res[0].name, vol);
    cln_resources_free(res, nres);

    /* --cap-add, --tmpfs and a volume mount */
    const char *caps[] = {"NET_ADMIN", NULL};
    struct cln_mount mounts[] = {{.type = CLN_MOUNT_VOLUME, .source = vol, .target = "/data"},
                                 {.type = CLN_MOUNT_TMPFS, .target = "/scratch"}};
    const char *cmd[] = {"sleep", "1000", NULL};
    struct cln_container_config cfg = {.image = EMU_IMAGE,
                                       .name = a,
                                       .labels = &l,
                                       .cmd = cmd,
                                       .mounts = mounts,
                                       .nmounts = 2,
                                       .cap_add = caps};
    char *ida = NULL, *idb = NULL;
    cr_assert_eq(cln_rt_create(rt, &cfg, &ida, &e), 0, "%s", text(e));
    cr_assert_eq(cln_rt_start(rt, ida, &e), 0, "%s", text(e));
    char *capeff = exec_out(rt, ida, "sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status");
    unsigned long long bits = strtoull(capeff, NULL, 16);
    cr_assert(bits & (1ull << 12), "CAP_NET_ADMIN (12) in CapEff %s", capeff);
    free(capeff);
    char *mnt = exec_out(rt, ida, "cat /proc/mounts");
    cr_assert(strstr(mnt, " /scratch tmpfs "), "%s", mnt);
    cr_assert(strstr(mnt, " /data "), "%s", mnt);
    free(mnt);
    free(exec_out(rt, ida, "echo kept > /data/f"));

    /* files in (under a directory that exists: the volume; Docker, under the
     * emulator, cannot copy into a tmpfs), with their modes and parents */
    struct cln_file files[] = {{.path = "dir/hello.txt", .data = "hello\n", .len = 6, .mode = 0640},
                               {.path = "run.sh", .data = "#!/bin/sh\n", .len = 10, .mode = 0755}};
    cr_assert_eq(cln_rt_copy_in(rt, ida, "/data", files, 2, &e), 0, "%s", text(e));
    char *got = exec_out(rt, ida,
                         "cat /data/dir/hello.txt; stat -c %a /data/dir/hello.txt "
                         "/data/run.sh");
    cr_assert_str_eq(got, "hello\n640\n755\n");
    free(got);

    /* kill: its result, and the container stopped by it */
    cr_assert_eq(cln_rt_kill(rt, ida, "KILL", &e), 0, "%s", text(e));
    int code = 0;
    cr_assert_eq(cln_rt_wait(rt, ida, 15000, &code, &e), 0, "%s", text(e));
    cr_assert_not(running(rt, ida));
    cr_assert_lt(cln_rt_kill(rt, missing, "KILL", &e), 0);
    cr_assert(cln_error_has_code(e, CLN_E_NOT_FOUND), "%s", text(e));
    cln_error_free(e);
    e = NULL;

    /* stop with a grace: sleep, the first process, ignores SIGTERM, so
     * the grace runs out before it is killed */
    cfg = (struct cln_container_config){.image = EMU_IMAGE, .name = b, .labels = &l, .cmd = cmd};
    cr_assert_eq(cln_rt_create(rt, &cfg, &idb, &e), 0, "%s", text(e));
    cr_assert_eq(cln_rt_start(rt, idb, &e), 0, "%s", text(e));
    uint64_t t0 = ms();
    cr_assert_eq(cln_rt_stop(rt, idb, 2, &e), 0, "%s", text(e));
    uint64_t el = ms() - t0;
    cr_assert(el >= 1500 && el < 15000, "stopped after %llu ms (grace 2 s)",
              (unsigned long long)el);
    cr_assert_not(running(rt, idb));
    cr_assert_eq(cln_rt_stop(rt, idb, 1, &e), 0, "a stopped one: %s", text(e));

    /* batch stop and delete: a result per id, the missing one's its own */
    cr_assert_eq(cln_rt_start(rt, idb, &e), 0, "%s", text(e));
    const char *ids[] = {idb, missing};
    struct cln_error *errs[3] = {NULL, NULL, NULL};
    cr_assert_eq(cln_rt_stop_many(rt, ids, 2, 1, errs, &e), 0, "%s", text(e));
    cr_assert_null(errs[0], "%s", text(errs[0]));
    cr_assert_not_null(errs[1], "a missing id is an error of its own");
    cr_assert(cln_error_has_code(errs[1], CLN_E_NOT_FOUND), "%s", text(errs[1]));
    cr_assert(strstr(text(errs[1]), missing), "%s", text(errs[1]));
    cln_error_free(errs[1]);
    errs[1] = NULL;
    cr_assert_not(running(rt, idb));
    const char *all[] = {ida, idb, missing};
    cr_assert_eq(cln_rt_remove_many(rt, all, 3, true, errs, &e), 0, "%s", text(e));
    for (int i = 0; i < 3; i++)
        cr_assert_null(errs[i], "id %d: %s (a missing one is removed already)", i, text(errs[i]));
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    cr_assert_eq(cln_rt_list(rt, filter, &cs, &n, &e), 0, "%s", text(e));
    cr_assert_eq(n, 0, "both removed");
    cln_container_summaries_free(cs, n);

    /* the volume outlives its container, then goes */
    cr_assert_eq(cln_volume_remove(rt, vol, false, &e), 0, "%s", text(e));
    cr_assert_eq(cln_volume_list(rt, filter, &res, &nres, &e), 0, "%s", text(e));
    cr_assert_eq(nres, 0);
    cln_resources_free(res, nres);
    cr_assert_eq(cln_volume_remove(rt, vol, false, &e), 0, "gone already: %s", text(e));

    /* images: removing a missing one (forced: fine; not: an error), and a
     * pull of a name no registry has, which fails naming the call */
    char img[96];
    snprintf(img, sizeof(img), "localhost/cleanrun/apple-no-such-image-%s:0", rid);
    cr_assert_eq(cln_rt_image_remove(rt, img, true, &e), 0, "%s", text(e));
    cr_assert_lt(cln_rt_image_remove(rt, img, false, &e), 0);
    cr_assert(strstr(text(e), "image delete"), "%s", text(e));
    cln_error_free(e);
    e = NULL;
    cr_assert_lt(cln_rt_image_pull(rt, img, NULL, NULL, &e), 0);
    cr_assert(strstr(text(e), "image pull --progress none"), "%s", text(e));
    cr_assert(strstr(text(e), "failed to pull image"), "%s", text(e));
    cln_error_free(e);

    free(ida);
    free(idb);
    cln_labels_done(&l);
    cln_runtime_close(rt);
}

Test(apple_emulator, operations_schema_1, .timeout = 240)
{
    operations("1");
}

Test(apple_emulator, operations_schema_0, .timeout = 240)
{
    operations("0");
}
