/* Unit tests of the runtime pieces that need no engine: the stream
 * demultiplexer, the JSON mapping (against fixtures captured from the real
 * Docker 20.10 and Podman 4.3 engines), in-memory tar, API version choice,
 * and the HTTP transport's retry rules (against a socket served here). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "runtime/tar.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/docker/demux.h"
#include "runtime/docker/docker-internal.h"
#include "runtime/docker/http.h"
#include "runtime/runtime.h"

/* ---- demux ---- */

static void frame(struct cln_buf *b, int stream, const char *payload)
{
    size_t n = strlen(payload);
    unsigned char h[8] = {(unsigned char)stream,
                          0,
                          0,
                          0,
                          (unsigned char)(n >> 24),
                          (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8),
                          (unsigned char)n};
    cln_buf_append(b, h, 8);
    cln_buf_append(b, payload, n);
}

static void build_stream(struct cln_buf *b)
{
    frame(b, 1, "hello ");
    frame(b, 2, "warning: x\n");
    frame(b, 1, "");
    frame(b, 0, "stdin echo");
    frame(b, 1, "world\n");
    frame(b, 2, "");
}

static void check_demuxed(struct cln_capture *out, struct cln_capture *err, const char *how)
{
    cr_assert_str_eq(out->data.data, "hello world\n", "%s", how);
    cr_assert_str_eq(err->data.data, "warning: x\n", "%s", how);
    cr_assert_eq(out->total, 12);
    cr_assert_not(out->truncated);
}

Test(demux, every_split_point_gives_the_same_result)
{
    struct cln_buf s = CLN_BUF_INIT;
    build_stream(&s);
    for (size_t cut = 0; cut <= s.len; cut++) {
        struct cln_capture out = {0}, err = {0};
        struct cln_demux d;
        cln_demux_init(&d, &out, &err, 0);
        cln_demux_feed(&d, s.data, cut);
        cln_demux_feed(&d, s.data + cut, s.len - cut);
        char how[32];
        snprintf(how, sizeof(how), "split at %zu", cut);
        check_demuxed(&out, &err, how);
        cr_assert_eq(cln_demux_pending(&d), 0);
        cln_demux_done(&d);
        cln_capture_done(&out);
        cln_capture_done(&err);
    }
    cln_buf_done(&s);
}

Test(demux, one_byte_at_a_time)
{
    struct cln_buf s = CLN_BUF_INIT;
    build_stream(&s);
    struct cln_capture out = {0}, err = {0};
    struct cln_demux d;
    cln_demux_init(&d, &out, &err, 0);
    for (size_t i = 0; i < s.len; i++)
        cln_demux_feed(&d, s.data + i, 1);
    check_demuxed(&out, &err, "bytewise");
    cln_demux_done(&d);
    cln_capture_done(&out);
    cln_capture_done(&err);
    cln_buf_done(&s);
}

Test(demux, cap_keeps_the_start_and_counts_the_rest)
{
    struct cln_buf s = CLN_BUF_INIT;
    frame(&s, 1, "0123456789");
    frame(&s, 1, "abcdef");
    frame(&s, 2, "e");
    frame(&s, 3, "engine says no");
    struct cln_capture out = {0}, err = {0};
    struct cln_demux d;
    cln_demux_init(&d, &out, &err, 12);
    cln_demux_feed(&d, s.data, s.len - 3); /* last frame unfinished */
    cr_assert_str_eq(out.data.data, "0123456789ab");
    cr_assert_eq(out.total, 16);
    cr_assert(out.truncated);
    cr_assert_str_eq(err.data.data, "e");
    cr_assert_eq(cln_demux_pending(&d), 3);
    cln_demux_feed(&d, s.data + s.len - 3, 3);
    cr_assert_str_eq(d.sys.data, "engine says no");
    cln_demux_done(&d);
    cln_capture_done(&out);
    cln_capture_done(&err);
    cln_buf_done(&s);
}

/* ---- JSON mapping against captured fixtures ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "fixture %s", path);
    struct cln_buf b = CLN_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        cln_buf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return cln_buf_steal(&b);
}

struct engine_fixture {
    const char *dir;
    const char *name;
    int pid;
    uint16_t host_port;
    const char *version;
    bool podman;
};

static const struct engine_fixture fixtures[] = {
    {"tests/fixtures/docker", "gifted_wiles", 14367, 32772, "20.10.24+dfsg1", false},
    {"tests/fixtures/podman", "unruffled_albattani", 14653, 32849, "4.3.1", true},
};

Test(docker_json, inspect_running_and_exited)
{
    for (size_t i = 0; i < 2; i++) {
        const struct engine_fixture *fx = &fixtures[i];
        char path[128];
        size_t len;
        snprintf(path, sizeof(path), "%s/inspect-running.json", fx->dir);
        char *json = slurp(path, &len);
        struct cln_container_state st;
        cleanup_error struct cln_error *err = NULL;
        cr_assert_eq(cln_docker_parse_inspect(json, len, &st, &err), 0, "%s", path);
        cr_assert(st.running, "%s", path);
        cr_assert_str_eq(st.status, "running");
        cr_assert_str_eq(st.name, fx->name);
        cr_assert_eq(st.pid, fx->pid);
        cr_assert_eq(st.nports, 1);
        cr_assert_eq(st.ports[0].container_port, 80);
        cr_assert_str_eq(st.ports[0].proto, "tcp");
        cr_assert_eq(st.ports[0].host_port, fx->host_port);
        cr_assert_str_eq(cln_labels_get(&st.labels, "io.cleanrun.run"), "fixture");
        cr_assert_str_eq(cln_labels_get(&st.labels, "io.cleanrun.test"), "capture");
        cr_assert_eq(strncmp(st.image_id, "sha256:", 7), 0);
        cln_container_state_done(&st);
        free(json);

        snprintf(path, sizeof(path), "%s/inspect-exited.json", fx->dir);
        json = slurp(path, &len);
        cr_assert_eq(cln_docker_parse_inspect(json, len, &st, &err), 0);
        cr_assert_not(st.running);
        cr_assert_str_eq(st.status, "exited");
        cr_assert_eq(st.exit_code, 137);
        cr_assert_not(st.oom_killed);
        cr_assert_eq(st.pid, 0);
        cln_container_state_done(&st);
        free(json);
    }
}

Test(docker_json, list_version_and_errors)
{
    for (size_t i = 0; i < 2; i++) {
        const struct engine_fixture *fx = &fixtures[i];
        char path[128];
        size_t len;
        snprintf(path, sizeof(path), "%s/list.json", fx->dir);
        char *json = slurp(path, &len);
        struct cln_container_summary *s = NULL;
        size_t n = 0;
        cleanup_error struct cln_error *err = NULL;
        cr_assert_eq(cln_docker_parse_list(json, len, &s, &n, &err), 0);
        cr_assert_eq(n, 1);
        cr_assert_str_eq(s[0].name, fx->name);
        cr_assert_str_eq(s[0].state, "running");
        cr_assert_gt(s[0].created, 1700000000);
        cr_assert_str_eq(cln_labels_get(&s[0].labels, "io.cleanrun.run"), "fixture");
        cln_container_summaries_free(s, n);
        free(json);

        snprintf(path, sizeof(path), "%s/version.json", fx->dir);
        json = slurp(path, &len);
        struct cln_engine_info info;
        char min_api[16];
        bool podman = !fx->podman;
        cr_assert_eq(
            cln_docker_parse_version(json, len, &info, min_api, sizeof(min_api), &podman, &err), 0);
        cr_assert_eq(podman, fx->podman);
        cr_assert_str_eq(info.version, fx->version);
        cr_assert_str_eq(info.api_version, "1.41");
        cr_assert_str_eq(info.engine, fx->podman ? "Podman Engine" : "Docker Engine");
        cln_engine_info_done(&info);
        free(json);
    }
    size_t len;
    char *json = slurp("tests/fixtures/podman/error-404.json", &len);
    struct cln_http_response resp = {.status = 404};
    cln_buf_append(&resp.body, json, len);
    struct cln_http *h = NULL;
    cleanup_error struct cln_error *err = NULL;
    struct cln_http_config cfg = {.endpoint = "unix:///nonexistent.sock", .backend = "podman"};
    cr_assert_eq(cln_http_new(&cfg, &h, &err), 0);
    cr_assert_lt(cln_http_check(h, &resp, "remove container x", &err), 0);
    cr_assert_eq(err->code, CLN_E_NOT_FOUND);
    char *m = cln_error_render(err);
    cr_assert_str_eq(m, "remove container x (podman, HTTP 404: no container with name or ID "
                        "\"nonexistent-xyz\" found: no such container)");
    free(m);
    cln_http_response_done(&resp);
    cln_http_free(h);
    free(json);
    cr_assert_lt(cln_docker_parse_inspect("[1,2]", 5, &(struct cln_container_state){0}, &err), 0);
}

/* Config.Healthcheck, as both engines report it: the argv cleanrun runs */
Test(docker_json, healthcheck_becomes_an_argv)
{
    static const struct {
        const char *test;
        const char *argv; /* joined by '|', NULL: none */
        uint64_t timeout_ms;
    } cases[] = {
        {"\"Test\":[\"CMD-SHELL\",\"test -f /tmp/ok\"],\"Timeout\":2000000000",
         "/bin/sh|-c|test -f /tmp/ok", 2000},
        {"\"Test\":[\"CMD\",\"curl\",\"-f\",\"http://x/\"]", "curl|-f|http://x/", 0},
        {"\"Test\":[\"NONE\"]", NULL, 0},
        {"\"Test\":[]", NULL, 0},
        {"\"Test\":[\"CMD\"]", NULL, 0},
        {"\"Test\":[\"CMD\",1]", NULL, 0},
        {"\"Interval\":1", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Running\":true},"
                 "\"Config\":{\"Healthcheck\":{%s}}}",
                 cases[i].test);
        struct cln_container_state st;
        cleanup_error struct cln_error *err = NULL;
        cr_assert_eq(cln_docker_parse_inspect(json, strlen(json), &st, &err), 0, "%s", json);
        if (!cases[i].argv) {
            cr_assert_null(st.health_argv, "%s", cases[i].test);
        } else {
            struct cln_buf b = CLN_BUF_INIT;
            for (char **a = st.health_argv; *a; a++)
                cln_buf_printf(&b, "%s%s", a == st.health_argv ? "" : "|", *a);
            cr_assert_str_eq(b.data, cases[i].argv);
            cln_buf_done(&b);
        }
        cr_assert_eq(st.health_timeout_ms, cases[i].timeout_ms);
        cln_container_state_done(&st);
    }
}

Test(docker_json, create_body_is_exact)
{
    struct cln_labels l = {0};
    cln_labels_set(&l, "io.cleanrun.run", "r1");
    static const char *const cmd[] = {"sh", "-c", "echo \"$x\"", NULL};
    static const char *const env[] = {"A=1", NULL};
    static const char *const aliases[] = {"web", NULL};
    struct cln_port port = {.container_port = 8080};
    struct cln_mount mount = {.type = CLN_MOUNT_TMPFS, .target = "/scratch", .tmpfs_size = 1 << 20};
    struct cln_container_config cfg = {
        .image = "localhost/x:1",
        .cmd = cmd,
        .env = env,
        .labels = &l,
        .ports = &port,
        .nports = 1,
        .mounts = &mount,
        .nmounts = 1,
        .memory_bytes = 1 << 26,
        .pids_limit = 100,
        .network = "net1",
        .network_aliases = aliases,
        .no_new_privileges = true,
        .read_only_rootfs = true,
    };
    cJSON *b = cln_docker_create_body(&cfg);
    char *s = cJSON_PrintUnformatted(b);
    cr_assert_str_eq(
        s, "{\"Image\":\"localhost/x:1\",\"Cmd\":[\"sh\",\"-c\",\"echo \\\"$x\\\"\"],"
           "\"Env\":[\"A=1\"],\"Labels\":{\"io.cleanrun.run\":\"r1\"},\"Tty\":false,"
           "\"OpenStdin\":false,\"AttachStdout\":false,\"AttachStderr\":false,"
           "\"HostConfig\":{\"PortBindings\":{\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\","
           "\"HostPort\":\"\"}]},\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/scratch\","
           "\"ReadOnly\":false,\"TmpfsOptions\":{\"SizeBytes\":1048576}}],\"Memory\":67108864,"
           "\"MemorySwap\":67108864,\"PidsLimit\":100,\"NetworkMode\":\"net1\","
           "\"ReadonlyRootfs\":true,\"SecurityOpt\":[\"no-new-privileges\"]},"
           "\"ExposedPorts\":{\"8080/tcp\":{}},\"NetworkingConfig\":{\"EndpointsConfig\":"
           "{\"net1\":{\"Aliases\":[\"web\"]}}}}");
    cJSON_free(s);
    cJSON_Delete(b);
    cln_labels_done(&l);
}

Test(docker_json, api_version_choice)
{
    char v[16];
    cln_docker_pick_api("1.12", "1.41", v, sizeof(v));
    cr_assert_str_eq(v, "1.41");
    cln_docker_pick_api("1.24", "1.51", v, sizeof(v));
    cr_assert_str_eq(v, "1.41");
    /* Docker 29.0-29.2 refuse anything below 1.44 */
    cln_docker_pick_api("1.44", "1.52", v, sizeof(v));
    cr_assert_str_eq(v, "1.44");
    cln_docker_pick_api("1.12", "1.40", v, sizeof(v));
    cr_assert_str_eq(v, "1.40");
    cln_docker_pick_api("", "", v, sizeof(v));
    cr_assert_str_eq(v, "1.41");
}

/* ---- tar ---- */

Test(archive, tar_lists_with_tar_t_and_reads_back)
{
    static const char bin[] = {'a', '\0', 'b'};
    struct cln_file files[] = {
        {.path = "Dockerfile", .data = "FROM scratch\n", .len = 13},
        {.path = "/etc/app/conf.toml", .data = "x = 1\n", .len = 6, .mode = 0600},
        {.path = "bin/tool", .data = bin, .len = 3, .mode = 0755},
    };
    struct cln_buf tar = CLN_BUF_INIT;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_tar_build(files, 3, true, &tar, &err), 0);
    char path[] = "/tmp/cleanrun-tar-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, tar.data, tar.len), (ssize_t)tar.len);
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "tar -tvf %s", path);
    FILE *p = popen(cmd, "r");
    char listing[2048] = "";
    size_t n = fread(listing, 1, sizeof(listing) - 1, p);
    listing[n] = '\0';
    cr_assert_eq(pclose(p), 0, "tar -t failed on our archive");
    unlink(path);
    cr_assert(strstr(listing, "-rw-r--r--") && strstr(listing, " Dockerfile\n"), "%s", listing);
    cr_assert(strstr(listing, "drwxr-xr-x") && strstr(listing, " etc/app/\n"), "%s", listing);
    cr_assert(strstr(listing, "-rw------- ") && strstr(listing, " etc/app/conf.toml\n"), "%s",
              listing);
    cr_assert(strstr(listing, "-rwxr-xr-x") && strstr(listing, " bin/tool\n"), "%s", listing);
    struct cln_buf content = CLN_BUF_INIT;
    bool found = false;
    cr_assert_eq(cln_tar_first_file(tar.data, tar.len, &content, &found, &err), 0);
    cr_assert(found);
    cr_assert_str_eq(content.data, "FROM scratch\n");
    cln_buf_done(&content);
    cln_buf_done(&tar);
    struct cln_file bad = {.path = "a/../../etc/passwd", .data = "", .len = 0};
    cr_assert_lt(cln_tar_build(&bad, 1, true, &tar, &err), 0);
    cr_assert(strstr(err->msg, "invalid file path"), "%s", err->msg);
}

/* ---- transport: retries ---- */

struct server {
    char path[108];
    int delay_ms; /* bind only after this long: connections are refused until then */
    int status;   /* answer every request with this status */
    int requests; /* how many were served */
    int max;
};

static void *serve(void *ud)
{
    struct server *s = ud;
    usleep((useconds_t)s->delay_ms * 1000);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->path);
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    listen(l, 8);
    while (s->requests < s->max) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            break;
        char buf[4096];
        ssize_t n = read(c, buf, sizeof(buf));
        (void)n;
        char resp[256];
        int len = snprintf(resp, sizeof(resp),
                           "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                           "Content-Length: 17\r\nConnection: close\r\n\r\n{\"message\":\"no\"}\n",
                           s->status);
        if (send(c, resp, (size_t)len, MSG_NOSIGNAL) < 0)
            break;
        s->requests++;
        close(c);
    }
    close(l);
    return NULL;
}

static int ping(struct server *s, struct cln_error **err, struct cln_http_response *resp)
{
    char ep[128];
    snprintf(ep, sizeof(ep), "unix://%s", s->path);
    struct cln_http_config cfg = {.endpoint = ep, .backend = "docker"};
    struct cln_http *h = NULL;
    cr_assert_eq(cln_http_new(&cfg, &h, err), 0);
    struct cln_http_request req = {.method = "GET", .path = "/_ping", .raw_path = true};
    int r = cln_http_do(h, &req, resp, err);
    cln_http_free(h);
    return r;
}

Test(http, connection_refused_is_retried_until_the_engine_is_back, .timeout = 20)
{
    struct server s = {.delay_ms = 400, .status = 200, .max = 1};
    snprintf(s.path, sizeof(s.path), "/tmp/cleanrun-http-%d.sock", getpid());
    unlink(s.path);
    pthread_t t;
    pthread_create(&t, NULL, serve, &s);
    struct cln_http_response resp;
    cleanup_error struct cln_error *err = NULL;
    int r = ping(&s, &err, &resp);
    pthread_join(t, NULL);
    unlink(s.path);
    cr_assert_eq(r, 0, "retried until the socket answered");
    cr_assert_eq(resp.status, 200);
    cr_assert_eq(s.requests, 1);
    cln_http_response_done(&resp);
}

Test(http, a_4xx_is_an_answer_not_retried, .timeout = 20)
{
    struct server s = {.delay_ms = 0, .status = 404, .max = 5};
    snprintf(s.path, sizeof(s.path), "/tmp/cleanrun-http4-%d.sock", getpid());
    unlink(s.path);
    pthread_t t;
    pthread_create(&t, NULL, serve, &s);
    usleep(100000);
    struct cln_http_response resp;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(ping(&s, &err, &resp), 0);
    cr_assert_eq(resp.status, 404);
    cr_assert_eq(s.requests, 1, "exactly one request for a 4xx");
    cln_http_response_done(&resp);
    /* unblock the server */
    s.max = 0;
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", s.path);
    (void)connect(c, (struct sockaddr *)&a, sizeof(a)); /* only to wake accept() */
    close(c);
    pthread_join(t, NULL);
    unlink(s.path);
}

Test(http, no_engine_gives_the_curl_code_and_place, .timeout = 20)
{
    struct server s = {0};
    snprintf(s.path, sizeof(s.path), "/tmp/cleanrun-none-%d.sock", getpid());
    struct cln_http_response resp;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_lt(ping(&s, &err, &resp), 0);
    cr_assert_eq(err->code, CLN_E_TRANSPORT);
    cr_assert_eq(err->detail->curl_code, 7); /* CURLE_COULDNT_CONNECT */
    char *m = cln_error_render(err);
    cr_assert(strstr(m, s.path) && strstr(m, "curl error 7"), "%s", m);
    free(m);
}

/* The engines' own words when they cannot start a process, as captured
 * from Docker 20.10 and Podman 4.3 (tests/integration checks them live). */
Test(docker_exec, a_process_that_could_not_start_reads_the_same_on_both_engines)
{
    struct cln_capture out = {0}, err = {0};
    cln_buf_puts(&out.data, "OCI runtime exec failed: exec failed: unable to start container "
                            "process: exec: \"/nonexistent\": stat /nonexistent: no such file or "
                            "directory: unknown\r\n");
    char *d = cln_docker_exec_start_failure(126, &out, &err);
    cln_buf_clear(&out.data);
    cln_buf_puts(&err.data, "Error: runc: exec failed: unable to start container process: exec: "
                            "\"/nonexistent\": stat /nonexistent: no such file or directory: OCI "
                            "runtime attempted to invoke a command that was not found\nError: read "
                            "unixpacket @->/proc/self/fd/14/attach: read: connection reset by "
                            "peer\n");
    char *p = cln_docker_exec_start_failure(127, &out, &err);
    cr_assert_not_null(d);
    cr_assert_not_null(p);
    cr_assert_str_eq(d, "exec: \"/nonexistent\": stat /nonexistent: no such file or directory");
    cr_assert_str_eq(d, p);
    free(d);
    free(p);
    /* a shell's own "not found", and a program's own 126 with a message, are results */
    cln_buf_clear(&err.data);
    cln_buf_puts(&err.data, "sh: nonexistent: not found\n");
    cr_assert_null(cln_docker_exec_start_failure(127, &out, &err));
    cln_buf_clear(&err.data);
    cln_buf_puts(&out.data, "permission denied\n");
    cr_assert_null(cln_docker_exec_start_failure(126, &out, &err));
    cln_capture_done(&out);
    cln_capture_done(&err);
}
