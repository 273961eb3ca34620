/* Unit tests of the Apple container backend's pure parts: both JSON
 * schemas of the CLI (fixtures written from the documented structs,
 * ../shared/docs/RUNTIMES.md §3.3: 1.x ManagedContainer, 0.x
 * PrintableContainer), its error lines, and the validation and argv of a
 * container configuration. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/apple/apple-internal.h"
#include "runtime/backend.h"
#include "runtime/base/deadline.h"
#include "runtime/base/error.h"

static struct cln_container_state *parse(const char *json, size_t *n, enum cln_apple_schema *schema)
{
    struct cln_container_state *s = NULL;
    struct cln_error *e = NULL;
    int r = cln_apple_parse_containers(json, strlen(json), &s, n, schema, &e);
    cr_assert_eq(r, 0, "%s", e ? cln_error_text(e) : "");
    return s;
}

/* `container inspect` in 1.x: pretty, keys sorted */
static const char inspect_1x[] =
    "[\n"
    "  {\n"
    "    \"configuration\" : {\n"
    "      \"capAdd\" : [],\n"
    "      \"id\" : \"cleanrun-abc-0-web\",\n"
    "      \"image\" : {\n"
    "        \"descriptor\" : {\n"
    "          \"digest\" : \"sha256:1111\",\n"
    "          \"mediaType\" : \"application/vnd.oci.image.index.v1+json\",\n"
    "          \"size\" : 1234\n"
    "        },\n"
    "        \"reference\" : \"docker.io/library/alpine:latest\"\n"
    "      },\n"
    "      \"initProcess\" : {\n"
    "        \"arguments\" : [\"1000\"],\n"
    "        \"executable\" : \"sleep\",\n"
    "        \"user\" : {\"id\" : {\"gid\" : 0, \"uid\" : 0}}\n"
    "      },\n"
    "      \"labels\" : {\n"
    "        \"io.cleanrun.run\" : \"abc\",\n"
    "        \"io.cleanrun.service\" : \"web\"\n"
    "      },\n"
    "      \"publishedPorts\" : [\n"
    "        {\"containerPort\" : 80, \"count\" : 2, \"hostAddress\" : \"127.0.0.1\",\n"
    "         \"hostPort\" : 8080, \"proto\" : \"tcp\"}\n"
    "      ],\n"
    "      \"resources\" : {\"cpuOverhead\" : 1, \"cpus\" : 4, \"memoryInBytes\" : 1073741824}\n"
    "    },\n"
    "    \"id\" : \"cleanrun-abc-0-web\",\n"
    "    \"status\" : {\n"
    "      \"networks\" : [\n"
    "        {\"hostname\" : \"web\", \"ipv4Address\" : \"192.168.64.3/24\",\n"
    "         \"ipv4Gateway\" : \"192.168.64.1\", \"network\" : \"default\"}\n"
    "      ],\n"
    "      \"startedDate\" : \"2026-12-02T04:05:06Z\",\n"
    "      \"state\" : \"running\"\n"
    "    }\n"
    "  }\n"
    "]\n";

Test(apple, the_1x_shape_pretty_and_sorted)
{
    size_t n = 0;
    enum cln_apple_schema schema = CLN_APPLE_SCHEMA_0;
    struct cln_container_state *s = parse(inspect_1x, &n, &schema);
    cr_assert_eq(n, 1);
    cr_assert_eq(schema, CLN_APPLE_SCHEMA_1);
    cr_assert_str_eq(s[0].id, "cleanrun-abc-0-web");
    cr_assert_str_eq(s[0].name, "cleanrun-abc-0-web");
    cr_assert_str_eq(s[0].image_id, "sha256:1111");
    cr_assert(s[0].running);
    cr_assert_str_eq(s[0].status, "running");
    cr_assert_eq(s[0].pid, 0, "a VM: no host pid");
    cr_assert_eq(s[0].exit_code, -1, "the CLI records no exit code");
    cr_assert_str_eq(s[0].started_at, "2026-12-02T04:05:06Z");
    cr_assert_eq(s[0].nnetworks, 1);
    cr_assert_str_eq(s[0].networks[0].network, "default");
    cr_assert_str_eq(s[0].networks[0].ip, "192.168.64.3");
    cr_assert_eq(s[0].nports, 2, "count = 2 publishes a range");
    cr_assert_eq(s[0].ports[1].host_port, 8081);
    cr_assert_eq(s[0].ports[1].container_port, 81);
    cr_assert_str_eq(cln_labels_get(&s[0].labels, "io.cleanrun.service"), "web");
    cln_apple_states_free(s, n);
}

/* `container ls --format json` in 0.x: compact, keys in Swift's order,
 * status a string, networks and startedDate at the top level, dates in
 * seconds since 2001-01-01; attachments with address (<= 0.8) and
 * ipv4Address (0.9+); an unknown key ignored. */
Test(apple, the_0x_shape_compact_and_unsorted)
{
    const char *j =
        "[{\"status\":\"running\",\"configuration\":{\"id\":\"a1\",\"image\":{\"reference\":"
        "\"x\",\"descriptor\":{\"digest\":\"sha256:2222\"}},\"labels\":{}},\"networks\":"
        "[{\"network\":\"default\",\"address\":\"192.168.64.5/24\",\"gateway\":"
        "\"192.168.64.1\"}],\"startedDate\":786240000.5,\"somethingNew\":{\"x\":1}},"
        "{\"status\":\"stopped\",\"configuration\":{\"id\":\"a2\",\"image\":{}},\"networks\":"
        "[{\"network\":\"default\",\"ipv4Address\":\"192.168.64.6/24\"}]}]";
    size_t n = 0;
    enum cln_apple_schema schema = CLN_APPLE_SCHEMA_1;
    struct cln_container_state *s = parse(j, &n, &schema);
    cr_assert_eq(n, 2);
    cr_assert_eq(schema, CLN_APPLE_SCHEMA_0);
    cr_assert_str_eq(s[0].id, "a1");
    cr_assert(s[0].running);
    cr_assert_str_eq(s[0].started_at, "2025-12-01T00:00:00Z");
    cr_assert_str_eq(s[0].networks[0].ip, "192.168.64.5");
    cr_assert_str_eq(s[1].networks[0].ip, "192.168.64.6");
    cr_assert_not(s[1].running);
    cr_assert_str_eq(s[1].status, "created", "stopped and never started");
    cr_assert_null(s[1].image_id);
    cr_assert_eq(s[1].labels.len, 0);
    cln_apple_states_free(s, n);
}

/* The shape is decided per object: one array may hold both (never by a
 * version string); a stopped 1.x container that ran has exited; missing
 * optional keys are fine. */
Test(apple, each_object_its_own_shape)
{
    const char *j = "[{\"configuration\":{\"id\":\"b1\"},\"status\":\"stopping\"},"
                    "{\"id\":\"b2\",\"configuration\":{},\"status\":{\"state\":\"stopped\","
                    "\"startedDate\":\"2026-01-01T00:00:00Z\"}},"
                    "{\"id\":\"b3\",\"configuration\":{},\"status\":{}}]";
    size_t n = 0;
    struct cln_container_state *s = parse(j, &n, NULL);
    cr_assert_eq(n, 3);
    cr_assert(s[0].running, "stopping is still running");
    cr_assert_str_eq(s[1].status, "exited");
    cr_assert_str_eq(s[2].status, "unknown");
    cr_assert_eq(s[2].nnetworks, 0);
    cln_apple_states_free(s, n);
    s = parse("[]", &n, NULL);
    cr_assert_eq(n, 0, "0.x: a missing id is an empty array");
    cln_apple_states_free(s, n);
}

Test(apple, neither_shape_is_an_error_naming_the_object)
{
    const char *bad[] = {
        "{}",
        "[{\"id\":\"c\",\"status\":3,\"configuration\":{}}]",
        "[{\"configuration\":{\"id\":\"c\"},\"status\":\"running\"},{\"status\":\"running\"}]",
        "[{\"configuration\":{},\"status\":\"running\"}]",
        "[",
    };
    const char *want[] = {"not a JSON array", "container 0", "container 1", "no id",
                          "not a JSON array"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct cln_container_state *s = NULL;
        size_t n = 9;
        struct cln_error *e = NULL;
        cr_assert_lt(cln_apple_parse_containers(bad[i], strlen(bad[i]), &s, &n, NULL, &e), 0, "%s",
                     bad[i]);
        cr_assert(strstr(cln_error_text(e), want[i]), "%s: %s", bad[i], cln_error_text(e));
        cr_assert_null(s);
        cr_assert_eq(n, 0);
        cln_error_free(e);
    }
}

Test(apple, dates_status_and_images)
{
    char *d = cln_apple_date_iso(0);
    cr_assert_str_eq(d, "2001-01-01T00:00:00Z");
    free(d);
    cr_assert_null(cln_apple_date_iso(-1e12));
    const char *st = "{\"status\":\"not running\",\"appRoot\":\"/x\"}";
    char *s = cln_apple_parse_system_status(st, strlen(st));
    cr_assert_str_eq(s, "not running");
    free(s);
    const char *img1 = "[{\"configuration\":{\"name\":\"alpine\",\"descriptor\":{\"digest\":"
                       "\"sha256:3333\"}},\"variants\":[]}]";
    const char *img0 = "[{\"reference\":\"alpine\",\"descriptor\":{\"digest\":\"sha256:4444\"}}]";
    struct cln_image_info info;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_parse_image(img1, strlen(img1), &info, &e), 1);
    cr_assert_str_eq(info.id, "sha256:3333");
    cln_image_info_done(&info);
    cr_assert_eq(cln_apple_parse_image(img0, strlen(img0), &info, &e), 1);
    cr_assert_str_eq(info.id, "sha256:4444");
    cln_image_info_done(&info);
    const char *img0r = "[{\"name\":\"alpine\",\"index\":{\"digest\":\"sha256:5555\"},"
                        "\"variants\":[]}]";
    cr_assert_eq(cln_apple_parse_image(img0r, strlen(img0r), &info, &e), 1,
                 "0.x releases (through 0.12.3) print {name, index, variants}");
    cr_assert_str_eq(info.id, "sha256:5555");
    cln_image_info_done(&info);
    cr_assert_eq(cln_apple_parse_image("[]", 2, &info, &e), 0);
}

static enum cln_apple_error_class classify(int code, const char *err, char *msg, size_t size,
                                           char *ecode)
{
    struct cln_apple_failure f;
    cln_apple_classify(code, err, strlen(err), &f);
    snprintf(msg, size, "%s", f.message ? f.message : "");
    snprintf(ecode, 32, "%s", f.code);
    enum cln_apple_error_class c = f.cls;
    cln_apple_failure_done(&f);
    return c;
}

Test(apple, errors_are_classified_from_the_error_line)
{
    char m[256], code[32];
    cr_assert_eq(classify(1, "Error: notFound: \"container x not found\"\n", m, sizeof(m), code),
                 CLN_APPLE_NOT_FOUND);
    cr_assert_str_eq(m, "container x not found");
    cr_assert_str_eq(code, "notFound");
    cr_assert_eq(
        classify(1, "Error: exists: \"container with id x already exists\"\n", m, sizeof(m), code),
        CLN_APPLE_PERMANENT);
    cr_assert_eq(
        classify(1, "Error: invalidState: \"container x is not running\"", m, sizeof(m), code),
        CLN_APPLE_PERMANENT);
    cr_assert_eq(classify(1, "Error: timeout: \"the operation timed out\"", m, sizeof(m), code),
                 CLN_APPLE_TRANSIENT);
    cr_assert_eq(classify(1, "Error: interrupted: \"XPC connection error: Connection interrupted\"",
                          m, sizeof(m), code),
                 CLN_APPLE_TRANSIENT);
    cr_assert_eq(
        classify(1,
                 "Error: internalError: \"failed to connect: XPC connection error: Connection "
                 "invalid\"\nEnsure container system service has been started with `container "
                 "system start`.\n",
                 m, sizeof(m), code),
        CLN_APPLE_TRANSIENT, "an XPC failure passes once the API server is back");
    cr_assert_eq(classify(64, "Error: Missing expected argument '<container-id>'\nHelp: ...\n", m,
                          sizeof(m), code),
                 CLN_APPLE_PERMANENT);
    cr_assert_str_eq(code, "");
    cr_assert_str_eq(m, "Missing expected argument '<container-id>'");
    cr_assert_eq(classify(1, "something else\nthe last words\n\n", m, sizeof(m), code),
                 CLN_APPLE_PERMANENT);
    cr_assert_str_eq(m, "the last words");
}

Test(apple, a_bad_configuration_is_refused_naming_the_field)
{
    struct cln_port dup[] = {{.container_port = 80, .host_port = 9000},
                             {.container_port = 81, .host_port = 9000}};
    struct cln_mount rel = {.type = CLN_MOUNT_BIND, .source = "/srv", .target = "data"};
    struct cln_labels l = {0};
    cln_labels_set(&l, "a=b", "c");
    struct {
        struct cln_container_config cfg;
        const char *want;
    } cases[] = {
        {{.image = "x", .name = "-bad"}, "name \"-bad\""},
        {{.image = "x", .name = "a234567890123456789012345678901234567890123456789012345678901234"},
         "at most 63"},
        {{.image = "x", .memory_bytes = 1000}, "memory"},
        {{.image = "x", .nano_cpus = 1500000000}, "whole CPUs"},
        {{.image = "x", .labels = &l}, "label key \"a=b\""},
        {{.image = "x", .ports = dup, .nports = 2}, "host port 9000/tcp is published twice"},
        {{.image = "x", .mounts = &rel, .nmounts = 1}, "mount target \"data\""},
        {{.image = ""}, "image"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct cln_error *e = NULL;
        cr_assert_lt(cln_apple_validate(&cases[i].cfg, &e), 0, "case %zu", i);
        cr_assert(strstr(cln_error_text(e), cases[i].want), "case %zu: %s", i, cln_error_text(e));
        cr_assert(strstr(cln_error_text(e), "runtime apple"));
        cln_error_free(e);
    }
    cln_labels_done(&l);
    struct cln_container_config ok = {.image = "x", .name = "cleanrun-abc-0-web"};
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_validate(&ok, &e), 0);
}

Test(apple, the_create_argv)
{
    struct cln_labels l = {0};
    cln_labels_set(&l, "io.cleanrun.run", "abc");
    const char *env[] = {"A=1", NULL}, *entry[] = {"/bin/sh", "-c", NULL},
               *cmd[] = {"echo hi", NULL}, *drop[] = {"ALL", NULL};
    struct cln_port p = {.container_port = 80, .host_port = 8080};
    struct cln_mount m = {
        .type = CLN_MOUNT_BIND, .source = "/srv", .target = "/data", .read_only = true};
    struct cln_container_config cfg = {.image = "alpine",
                                       .name = "n1",
                                       .labels = &l,
                                       .env = env,
                                       .workdir = "/w",
                                       .user = "1000",
                                       .nano_cpus = 2000000000,
                                       .memory_bytes = 512LL << 20,
                                       .ports = &p,
                                       .nports = 1,
                                       .mounts = &m,
                                       .nmounts = 1,
                                       .read_only_rootfs = true,
                                       .init = true,
                                       .cap_drop = drop,
                                       .entrypoint = entry,
                                       .cmd = cmd};
    char **a = cln_apple_create_argv(&cfg);
    char line[1024] = "";
    for (char **x = a; *x; x++) {
        strncat(line, *x, sizeof(line) - strlen(line) - 2);  /* NOLINT */
        strncat(line, " ", sizeof(line) - strlen(line) - 1); /* NOLINT */
    }
    cr_assert_str_eq(line, "container create --name n1 -l io.cleanrun.run=abc -e A=1 -w /w -u 1000 "
                           "-c 2 -m 512M -p 127.0.0.1:8080:80/tcp --mount "
                           "type=bind,source=/srv,target=/data,readonly --read-only --init "
                           "--cap-drop ALL --entrypoint /bin/sh -- alpine -c echo hi ");
    cln_apple_argv_free(a);
    cln_labels_done(&l);
}

Test(apple, what_a_virtual_machine_cannot_do_is_refused_naming_the_field)
{
    const char *hosts[] = {"db:10.0.0.2", NULL}, *alias[] = {"db", NULL};
    struct {
        struct cln_container_config cfg;
        const char *want;
    } cases[] = {
        {{.image = "x", .network = "host"}, "network \"host\""},
        {{.image = "x", .network = "bridge"}, "network \"bridge\""},
        {{.image = "x", .privileged = true}, "privileged"},
        {{.image = "x", .pid_host = true}, "pid_host"},
        {{.image = "x", .extra_hosts = hosts}, "extra_hosts (db:10.0.0.2)"},
        {{.image = "x", .network = "n", .network_aliases = alias}, "network aliases (db)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct cln_error *e = NULL;
        cr_assert_lt(cln_apple_validate(&cases[i].cfg, &e), 0, "case %zu", i);
        cr_assert(strstr(cln_error_text(e), cases[i].want), "case %zu: %s", i, cln_error_text(e));
        cln_error_free(e);
    }
}

static char *joined(char **a)
{
    static char line[2048];
    line[0] = '\0';
    for (char **x = a; *x; x++) {
        strncat(line, *x, sizeof(line) - strlen(line) - 2);  /* NOLINT */
        strncat(line, " ", sizeof(line) - strlen(line) - 1); /* NOLINT */
    }
    return line;
}

Test(apple, no_network_is_said_and_a_network_joins_before_the_image)
{
    struct cln_container_config cfg = {.image = "alpine", .name = "n1", .network = "none"};
    char **a = cln_apple_create_argv(&cfg);
    /* omitted, the CLI would put it on its default network */
    cr_assert_str_eq(joined(a), "container create --name n1 --network none -- alpine ");
    cln_apple_argv_free(a);
    cfg.network = "cleanrun-x-egress";
    a = cln_apple_create_argv(&cfg);
    cln_apple_argv_add_network(&a, "cleanrun-x-net");
    cr_assert_str_eq(joined(a), "container create --name n1 --network cleanrun-x-egress --network "
                                "cleanrun-x-net -- alpine ");
    cln_apple_argv_free(a);
}

Test(apple, label_values_pass_the_clis_split_and_come_back)
{
    /* the CLI refuses a third piece of "-l k=v" split at '=' */
    struct cln_labels l = {0};
    cln_labels_set(&l, "io.cleanrun.test", "matrix[codec=gzip] 100%");
    struct cln_container_config cfg = {.image = "alpine", .labels = &l};
    char **a = cln_apple_create_argv(&cfg);
    cr_assert_str_eq(joined(a),
                     "container create -l io.cleanrun.test=matrix[codec%3Dgzip] 100%25 -- alpine ");
    cln_apple_argv_free(a);
    cln_labels_done(&l);
    char *d = cln_apple_label_decode("matrix[codec%3Dgzip] 100%25 %41");
    cr_assert_str_eq(d, "matrix[codec=gzip] 100% %41");
    free(d);
    /* and read back from the CLI's JSON */
    const char json[] = "[{\"id\":\"c\",\"status\":{\"state\":\"running\"},\"configuration\":{"
                        "\"id\":\"c\",\"labels\":{\"t\":\"a%3Db\"}}}]";
    size_t n = 0;
    struct cln_container_state *s = parse(json, &n, NULL);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(cln_labels_get(&s[0].labels, "t"), "a=b");
    cln_apple_states_free(s, n);
}

Test(apple, networks_and_volumes_of_either_shape)
{
    /* 1.x networks {id, configuration{labels}, status}; volumes with a name
     * and labels at the top; unknown keys ignored */
    const char nets[] =
        "[{\"id\":\"default\",\"configuration\":{\"id\":\"default\",\"mode\":\"nat\"},"
        "\"status\":{\"ipv4Subnet\":\"192.168.64.0/24\"}},"
        "{\"configuration\":{\"id\":\"n1\",\"labels\":{\"io.cleanrun.run\":\"r\"}},"
        "\"extra\":[1,2]}]";
    struct cln_resource *r = NULL;
    size_t n = 0;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_parse_resources(nets, strlen(nets), &r, &n, &e), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(r[0].name, "default");
    cr_assert_str_eq(r[1].name, "n1");
    cr_assert_str_eq(cln_labels_get(&r[1].labels, "io.cleanrun.run"), "r");
    cr_assert(cln_apple_labels_match(&r[1].labels, "io.cleanrun.run=r"));
    cr_assert(!cln_apple_labels_match(&r[0].labels, "io.cleanrun.run"));
    cln_resources_free(r, n);
    const char vols[] =
        "[\n  {\n    \"labels\" : {\"k\" : \"v\"},\n    \"name\" : \"vol1\"\n  }\n]";
    cr_assert_eq(cln_apple_parse_resources(vols, strlen(vols), &r, &n, &e), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(r[0].name, "vol1");
    cr_assert_str_eq(cln_labels_get(&r[0].labels, "k"), "v");
    cln_resources_free(r, n);
    cr_assert_lt(cln_apple_parse_resources("[{\"x\":1}]", 9, &r, &n, &e), 0);
    cr_assert(strstr(cln_error_text(e), "no id or name"), "%s", cln_error_text(e));
    cln_error_free(e);
}

Test(apple, an_images_entrypoint_and_cmd)
{
    /* 1.x: the OCI config of the first variant */
    const char img1[] =
        "[{\"id\":\"abc\",\"configuration\":{\"name\":\"x\",\"descriptor\":{\"digest\":"
        "\"sha256:abc\"}},\"variants\":[{\"platform\":{},\"config\":{\"config\":{"
        "\"Entrypoint\":[\"/bin/tini\",\"--\"],\"Cmd\":[\"httpd\",\"-f\"]}}}]}]";
    struct cln_image_info ii;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_parse_image(img1, strlen(img1), &ii, &e), 1);
    cr_assert(cln_apple_image_has_config(img1, strlen(img1)));
    cr_assert_eq(ii.entrypoint.n, 2);
    cr_assert_str_eq(ii.entrypoint.v[0], "/bin/tini");
    cr_assert_eq(ii.cmd.n, 2);
    cr_assert_str_eq(ii.cmd.v[1], "-f");
    cln_image_info_done(&ii);
    /* 0.x prints no config: the backend probes */
    const char img0[] = "[{\"reference\":\"x\",\"descriptor\":{\"digest\":\"sha256:abc\"}}]";
    cr_assert_eq(cln_apple_parse_image(img0, strlen(img0), &ii, &e), 1);
    cr_assert(!cln_apple_image_has_config(img0, strlen(img0)));
    cr_assert_eq(ii.entrypoint.n + ii.cmd.n, 0);
    cln_image_info_done(&ii);
    /* a probe container's first process */
    const char probe[] = "[{\"status\":\"stopped\",\"configuration\":{\"id\":\"p\",\"initProcess\":"
                         "{\"executable\":\"/bin/tini\",\"arguments\":[\"--\",\"x\"]}}}]";
    struct cln_strv v = {0};
    cr_assert_eq(cln_apple_parse_process(probe, strlen(probe), &v, &e), 0);
    cr_assert_eq(v.n, 3);
    cr_assert_str_eq(v.v[2], "x");
    cln_strv_done(&v);
    cr_assert_lt(cln_apple_parse_process("[]", 2, &v, &e), 0);
    cln_error_free(e);
}

/* ---- running the CLI: real processes through a real broker ---- */

static void no_close(void *ctx)
{
    (void)ctx;
}
static const struct cln_runtime_ops cli_ops = {.close = no_close};
static const char *const cli_programs[] = {"/bin/sh", "/bin/sleep", NULL};
static const struct cln_runtime_desc cli_desc = {
    .name = "apple-test", .ops = &cli_ops, .host_programs = cli_programs};

static struct cln_runtime *cli_runtime(void)
{
    return cln_runtime_new(&cli_desc, NULL, "test", true, NULL);
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

Test(apple, a_call_keeps_stdout_stderr_and_its_exit_status_apart)
{
    struct cln_runtime *rt = cli_runtime();
    const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; cat; exit 3", NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_run(rt, "/bin/sh", argv, NULL, "in\n", 3, 5000, 0, &c, &e), 0, "%s",
                 e ? cln_error_text(e) : "");
    cr_assert_eq(c.exit_status, 3);
    cr_assert_eq(c.out.len, 7);
    cr_assert(memcmp(c.out.data, "out\nin\n", 7) == 0);
    cr_assert_eq(c.err.len, 4);
    cln_apple_call_done(&c);
    /* the cap: 200000 bytes written, 1000 kept, no hang */
    const char *big[] = {
        "/bin/sh", "-c",
        "i=0; while [ $i -lt 2000 ]; do "
        "echo 0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567; i=$((i+1)); done",
        NULL};
    cr_assert_eq(cln_apple_run(rt, "/bin/sh", big, NULL, NULL, 0, 20000, 1000, &c, &e), 0);
    cr_assert_eq(c.exit_status, 0);
    cr_assert_eq(c.out.len, 1000);
    cln_apple_call_done(&c);
    cln_runtime_close(rt);
}

/* A CLI that hangs (its API server stuck) is killed at its deadline, and
 * the error names the command line. */
Test(apple, a_hung_call_is_killed_at_its_deadline)
{
    struct cln_runtime *rt = cli_runtime();
    const char *argv[] = {"/bin/sleep", "100", NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    uint64_t t0 = ms_now();
    cr_assert_lt(cln_apple_run(rt, "/bin/sleep", argv, NULL, NULL, 0, 300, 0, &c, &e), 0);
    uint64_t el = ms_now() - t0;
    cr_assert(el >= 290 && el < 2500, "%llu ms", (unsigned long long)el);
    cr_assert_eq(cln_error_root_code(e), CLN_E_TIMEOUT);
    cr_assert(strstr(cln_error_text(e), "`/bin/sleep 100` did not finish within 300 ms"), "%s",
              cln_error_text(e));
    cln_error_free(e);
    cln_runtime_close(rt);
}

/* The calling thread's deadline bounds a call as its own bound does (the
 * second Ctrl-C's 3 s sweep is not 30 s a call), and the error names it,
 * not the call's bound. */
Test(apple, the_threads_deadline_bounds_a_call_and_is_named, .timeout = 20)
{
    struct cln_runtime *rt = cli_runtime();
    const char *argv[] = {"/bin/sleep", "100", NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    uint64_t t0 = ms_now();
    cln_deadline_set(t0 + 300, "the forced removal's 3 s");
    int r = cln_apple_run(rt, "/bin/sleep", argv, NULL, NULL, 0, 30000, 0, &c, &e);
    cln_deadline_set(0, NULL);
    uint64_t el = ms_now() - t0;
    cr_assert_lt(r, 0);
    cr_assert(el >= 290 && el < 2500, "%llu ms", (unsigned long long)el);
    cr_assert_eq(cln_error_root_code(e), CLN_E_TIMEOUT);
    cr_assert(strstr(cln_error_text(e),
                     "the forced removal's 3 s passed while `/bin/sleep 100` was still running"),
              "%s", cln_error_text(e));
    cr_assert_not(c.hung, "the caller's limit: the CLI did not hang");
    cln_error_free(e);
    cln_runtime_close(rt);
}

/* A call whose output ended is exiting: its status is waited for a moment
 * even when the thread's deadline passed meanwhile, not taken for a hang. */
Test(apple, a_call_that_closed_its_output_is_reaped_past_the_threads_deadline, .timeout = 20)
{
    struct cln_runtime *rt = cli_runtime();
    const char *argv[] = {"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 1.2; exit 7", NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    cln_deadline_set(ms_now() + 600, "the test's timeout (0.6s)");
    int r = cln_apple_run(rt, "/bin/sh", argv, NULL, NULL, 0, 30000, 0, &c, &e);
    cln_deadline_set(0, NULL);
    cr_assert_eq(r, 0, "%s", e ? cln_error_text(e) : "");
    cr_assert_eq(c.exit_status, 7);
    cln_apple_call_done(&c);
    cln_runtime_close(rt);
}

/* A transient failure (XPC) is tried again and the call passes; notFound
 * is not retried; every failure says the command line, the exit status
 * and the CLI's own words. */
Test(apple, transient_failures_are_retried_and_permanent_ones_are_not)
{
    char dir[] = "/tmp/cleanrun-apple-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char script[512];
    snprintf(script, sizeof(script),
             "n=$(cat %s/n 2>/dev/null || echo 0); echo $((n+1)) > %s/n; "
             "if [ \"$1\" = xpc ] && [ $n -lt 2 ]; then echo 'Error: internalError: \"failed "
             "to connect: XPC connection error: Connection invalid\"' >&2; exit 1; fi; "
             "if [ \"$1\" = gone ]; then echo 'Error: notFound: \"container not found: x\"' "
             ">&2; exit 1; fi; echo ok",
             dir, dir);
    struct cln_runtime *rt = cli_runtime();
    struct cln_apple_policy pol = {.timeout_ms = 5000, .tries = 3, .backoff_ms = 10};
    const char *xpc[] = {"/bin/sh", "-c", script, "container", "xpc", NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    cr_assert_eq(cln_apple_call(rt, "/bin/sh", xpc, NULL, &pol, &c, &e), 0, "%s",
                 e ? cln_error_text(e) : "");
    cr_assert_eq(c.out.len, 3, "passed on the third try");
    cln_apple_call_done(&c);
    char path[128];
    snprintf(path, sizeof(path), "%s/n", dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    cr_assert_eq(fscanf(f, "%d", &n), 1);
    fclose(f);
    cr_assert_eq(n, 3);
    unlink(path);
    const char *gone[] = {"/bin/sh", "-c", script, "container", "gone", NULL};
    cr_assert_lt(cln_apple_call(rt, "/bin/sh", gone, NULL, &pol, &c, &e), 0);
    cr_assert_eq(cln_error_root_code(e), CLN_E_NOT_FOUND);
    /* the CLI's exit status and message as backend detail */
    const struct cln_backend_detail *d = NULL;
    for (const struct cln_error *l = e; l && !d; l = l->cause)
        d = l->detail;
    cr_assert_not_null(d, "%s", cln_error_text(e));
    cr_assert_str_eq(d->backend, "apple");
    cr_assert_eq(d->exit_status, 1);
    cr_assert_str_eq(d->api_message, "notFound: container not found: x");
    cr_assert(strstr(cln_error_text(e), "(apple, exit status 1: notFound: container not found: x)"),
              "%s", cln_error_text(e));
    cr_assert(strstr(cln_error_text(e), "container gone` failed"), "the command line: %s",
              cln_error_text(e));
    cln_error_free(e);
    f = fopen(path, "r");
    cr_assert_eq(fscanf(f, "%d", &n), 1);
    fclose(f);
    cr_assert_eq(n, 1, "notFound is not retried");
    unlink(path);
    rmdir(dir);
    cln_runtime_close(rt);
}

/* The failure of each id of a batch is the line naming that id, as a
 * whole word: an id that is a prefix of another never takes its line. */
Test(apple, a_batch_failure_is_the_line_naming_that_id_exactly)
{
    static const char errs[] = "Error: notFound: \"container not found: web-1\"\n"
                               "Error: invalidState: \"container web is not running\"\n";
    struct cln_apple_call c = {.exit_status = 1};
    cln_buf_append(&c.err, errs, sizeof(errs) - 1);
    cln_buf_append(&c.out, "db\n", 3);
    const char *ids[] = {"web", "web-1", "db", "we"};
    struct cln_error *got[4] = {NULL, NULL, NULL, NULL};
    cln_apple_per_id(&c, ids, 4, "stop", false, "container stop web web-1 db we", got);
    cr_assert_not_null(got[0]);
    cr_assert_eq(cln_error_root_code(got[0]), CLN_E_CONFLICT, "%s", cln_error_text(got[0]));
    cr_assert_not_null(got[0]->detail);
    cr_assert_eq(got[0]->detail->exit_status, 1);
    cr_assert(strstr(cln_error_text(got[0]), "container web is not running"), "%s",
              cln_error_text(got[0]));
    cr_assert_not_null(got[1]);
    cr_assert_eq(cln_error_root_code(got[1]), CLN_E_NOT_FOUND, "%s", cln_error_text(got[1]));
    cr_assert_null(got[2], "done: printed on stdout");
    /* named by no line: the whole of stderr speaks for it */
    cr_assert_not_null(got[3]);
    for (int i = 0; i < 4; i++)
        cln_error_free(got[i]);
    cln_apple_call_done(&c);
}
