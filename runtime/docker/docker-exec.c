/* Docker Engine API backend: exec with deadlines that kill, logs, files. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demux.h"
#include "docker-internal.h"
#include "runtime/tar.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/os.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- killing a step's processes ---- */

/* A container's scope: its init's pid namespace and cgroup, when the init
 * the engine names is, here, that container's (its cgroup names the
 * container's full id).  Requests bounded to a few seconds: this runs at a
 * deadline, and the engine may be why. */
bool cln_docker_container_scope(struct docker *d, const char *id, uint64_t min_start,
                                struct cln_proc_scope *ret, char **ret_cgroup, int *ret_init)
{
    cleanup_free char *path = cln_xasprintf("/containers/%s/json", id);
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "GET", .path = path, .timeout_ms = 5000};
    struct cln_error *e = NULL;
    if (cln_http_do(d->http, &req, &resp, &e) < 0) {
        cln_error_free(e); /* no scope: the caller kills the container instead */
        return false;
    }
    struct cln_container_state st;
    bool ok = resp.status == 200 && !resp.deadline_passed &&
              cln_docker_parse_inspect(resp.body.data, resp.body.len, &st, &e) == 0;
    cln_error_free(e);
    cln_http_response_done(&resp);
    if (!ok)
        return false;
    char *cg = st.running && st.pid > 0 ? cln_proc_cgroup(st.pid) : NULL;
    ok = cg && st.id && strlen(st.id) >= 12 && strstr(cg, st.id) != NULL;
    if (ok) {
        *ret = (struct cln_proc_scope){.pidns = cln_proc_pidns(st.pid),
                                       .cgroup = cg,
                                       .min_start = min_start,
                                       .exclude = st.pid};
        ok = ret->pidns != 0 && cln_proc_start_time(st.pid) != 0;
        if (ret_init)
            *ret_init = st.pid;
    }
    cln_container_state_done(&st);
    if (!ok) {
        free(cg);
        return false;
    }
    *ret_cgroup = cg;
    return true;
}

/* ---- exec ---- */

struct exec_run {
    struct docker *d;
    const char *container;
    const char *exec_id;
    struct cln_demux demux;
    uint64_t start_ticks; /* before the exec was started: its processes are younger */
    int host_pid;
    const char *kill_method;
};

static bool exec_data(const char *data, size_t len, void *ud)
{
    struct exec_run *x = ud;
    cln_demux_feed(&x->demux, data, len);
    return true;
}

/* GET /exec/{id}/json: running, exit code (-1 if null), pid. */
static int exec_inspect(struct docker *d, const char *exec_id, uint64_t timeout_ms, bool *running,
                        int *exit_code, int *pid, struct cln_error **err)
{
    cleanup_free char *path = cln_xasprintf("/exec/%s/json", exec_id);
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "GET", .path = path, .timeout_ms = timeout_ms};
    int r = cln_http_do(d->http, &req, &resp, err);
    if (r < 0)
        return cln_error_wrap(err, "inspect exec");
    if (resp.deadline_passed) {
        cln_http_response_done(&resp);
        return cln_error_set(err, CLN_E_TIMEOUT, 0, "inspect exec: no answer within %llu ms",
                             (unsigned long long)timeout_ms);
    }
    r = cln_http_check(d->http, &resp, "inspect exec", err);
    if (r < 0) {
        cln_http_response_done(&resp);
        return r;
    }
    cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    if (!cJSON_IsObject(j)) {
        r = cln_error_set(err, CLN_E_PARSE, 0, "inspect exec: not a JSON object");
    } else {
        const cJSON *rn = cJSON_GetObjectItemCaseSensitive(j, "Running");
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(j, "ExitCode");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "Pid");
        *running = cJSON_IsTrue(rn);
        *exit_code = cJSON_IsNumber(ec) ? ec->valueint : -1;
        *pid = cJSON_IsNumber(p) ? p->valueint : 0;
    }
    cJSON_Delete(j);
    cln_http_response_done(&resp);
    return r;
}

/* The deadline passed (or an interrupt): kill the step's processes.
 * Docker has no call to kill an exec.  With an engine on this kernel, the
 * processes are killed here, by pidfd, each one first proven to be the
 * step's: in the container's pid namespace and cgroup (the container's
 * init excluded), started after the exec.  The engine's pid for the exec
 * is only a starting point: once that process has exited its pid may be a
 * host process's, which the proof refuses.  When the exec's own process is
 * gone, the container's processes younger than the exec are the step's
 * (its orphans).  Without a proof, the engine kills the container. */
static void exec_deadline(void *ud)
{
    struct exec_run *x = ud;
    /* The thread's deadline may be what passed: these requests have their
     * own short bounds. */
    const char *what = NULL;
    uint64_t saved = cln_deadline_get(&what);
    char saved_what[160];
    snprintf(saved_what, sizeof(saved_what), "%s", what ? what : "");
    cln_deadline_set(0, NULL);
    bool running = false;
    int code = -1, pid = 0;
    struct cln_error *e = NULL;
    if (exec_inspect(x->d, x->exec_id, 5000, &running, &code, &pid, &e) == 0 && pid > 0)
        x->host_pid = pid;
    cln_error_free(e); /* best effort: without a pid, the orphans or the container */
    e = NULL;
    struct cln_proc_scope scope;
    char *cgroup = NULL;
    if (x->d->local &&
        cln_docker_container_scope(x->d, x->container, x->start_ticks, &scope, &cgroup, NULL)) {
        int root = x->host_pid;
        int fd = root > 0 ? cln_proc_open_scoped(root, &scope) : -1;
        if (fd >= 0)
            close(fd);
        else
            root = 0; /* gone, or not the step's: only the orphans */
        int killed = cln_proc_kill_scoped(root, &scope, root == 0);
        free(cgroup);
        /* Proven, and nothing of the step left: its processes had exited
         * (the stream ends on its own); the container is not touched, it
         * may be a service the next steps need. */
        x->kill_method = killed > 0 ? "host-signal" : "none-left";
        cln_deadline_set(saved, saved_what);
        return;
    }
    cleanup_free char *path = cln_xasprintf("/containers/%s/kill?signal=SIGKILL", x->container);
    struct cln_http_response resp;
    struct cln_http_request req = {
        .method = "POST", .path = path, .timeout_ms = 5000, .uninterruptible = true};
    if (cln_http_do(x->d->http, &req, &resp, &e) == 0)
        cln_http_response_done(&resp);
    cln_error_free(e); /* the stream's end or the grace period settles it */
    x->kill_method = "container-kill";
    cln_deadline_set(saved, saved_what);
}

/* Strip the layers the engines wrap a process-start failure in, so that the
 * cause reads the same on Docker and Podman. */
static char *start_failure_cause(const char *text, size_t len)
{
    char *m = cln_xstrndup(text, len);
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' '))
        m[--n] = '\0';
    static const char *const prefixes[] = {
        "Error: ",       "OCI runtime exec failed: ",          "runc: ", "crun: ",
        "exec failed: ", "unable to start container process: "};
    char *p = m;
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < CLN_ARRAY_SIZE(prefixes); i++) {
            size_t pl = strlen(prefixes[i]);
            if (strncmp(p, prefixes[i], pl) == 0) {
                p += pl;
                again = true;
            }
        }
    }
    static const char *const suffixes[] = {
        ": unknown", ": OCI runtime attempted to invoke a command that was not found",
        ": OCI runtime permission denied error"};
    n = strlen(p);
    for (size_t i = 0; i < CLN_ARRAY_SIZE(suffixes); i++) {
        size_t sl = strlen(suffixes[i]);
        if (n > sl && strcmp(p + n - sl, suffixes[i]) == 0) {
            p[n - sl] = '\0';
            n -= sl;
        }
    }
    char *r = cln_xstrdup(p);
    free(m);
    return r;
}

unsigned cln_docker_exit_poll_delay_us(unsigned attempt)
{
    const uint64_t first = CLN_DOCKER_EXIT_POLL_FIRST_US;
    const uint64_t budget = (uint64_t)CLN_DOCKER_EXIT_POLL_MS * 1000;
    if (attempt >= 32)
        return 0;
    /* Before this sleep: first + 2 first + ... = first (2^attempt - 1). */
    uint64_t slept = first * ((UINT64_C(1) << attempt) - 1);
    if (slept >= budget)
        return 0;
    uint64_t delay = first << attempt;
    return (unsigned)(delay < budget - slept ? delay : budget - slept);
}

static bool starts_with(const struct cln_buf *b, const char *prefix)
{
    size_t pl = strlen(prefix);
    return b->len >= pl && memcmp(b->data, prefix, pl) == 0;
}

char *cln_docker_exec_start_failure(int exit_code, const struct cln_capture *out,
                                    const struct cln_capture *err)
{
    if (exit_code != 126 && exit_code != 127 && exit_code != 125)
        return NULL;
    /* Docker: the daemon writes the error, one line ending "\r\n", to the
     * process's stdout. */
    const struct cln_buf *o = &out->data, *e = &err->data;
    if (!e->len && o->len > 2 && o->len < 4096 && memcmp(o->data + o->len - 2, "\r\n", 2) == 0 &&
        !memchr(o->data, '\n', o->len - 1) &&
        (starts_with(o, "OCI runtime exec failed") || starts_with(o, "unable to find user") ||
         starts_with(o, "unable to find group") || starts_with(o, "exec failed")))
        return start_failure_cause(o->data, o->len);
    /* Podman: conmon writes "Error: runc: exec failed: ..." to stderr. */
    if (!o->len && starts_with(e, "Error: ") && e->len < 4096 &&
        (memmem(e->data, e->len, "exec failed", 11) ||
         memmem(e->data, e->len, "OCI runtime", 11))) {
        size_t l = strcspn(e->data, "\n");
        return start_failure_cause(e->data, l);
    }
    return NULL;
}

int cln_docker_exec(void *ctx, const char *id, const struct cln_exec_config *cfg,
                    struct cln_exec_result *ret, struct cln_error **err)
{
    struct docker *d = ctx;
    if (!cfg->argv || !cfg->argv[0])
        return cln_error_set(err, CLN_E_INVALID, 0, "exec: empty command");
    uint64_t t0 = cln_now_ms();

    cleanup_json cJSON *body = cJSON_CreateObject();
    cJSON_AddBoolToObject(body, "AttachStdin", false);
    cJSON_AddBoolToObject(body, "AttachStdout", true);
    cJSON_AddBoolToObject(body, "AttachStderr", true);
    cJSON_AddBoolToObject(body, "Tty", false);
    cJSON_AddItemToObject(body, "Cmd", cln_docker_strv_json(cfg->argv));
    if (cfg->env)
        cJSON_AddItemToObject(body, "Env", cln_docker_strv_json(cfg->env));
    if (cfg->workdir)
        cJSON_AddStringToObject(body, "WorkingDir", cfg->workdir);
    if (cfg->user)
        cJSON_AddStringToObject(body, "User", cfg->user);
    cleanup_free char *path = cln_xasprintf("/containers/%s/exec", id);
    char what[96];
    snprintf(what, sizeof(what), "create exec in container %.12s", id);
    cleanup_free char *exec_id = NULL;
    int r = cln_docker_post_for(d, path, body, what, "Id", &exec_id, err);
    if (r < 0)
        return r;

    struct cln_exec_result res;
    memset(&res, 0, sizeof(res));
    struct exec_run x = {
        .d = d, .container = id, .exec_id = exec_id, .start_ticks = cln_proc_now_ticks()};
    cln_demux_init(&x.demux, &res.out, &res.err, cfg->output_cap);
    x.demux.on_output = cfg->on_output;
    x.demux.userdata = cfg->userdata;

    /* Start attached, without Upgrade headers: the engine answers 200 and
     * streams the multiplexed output until the process ends (RUNTIMES.md
     * 1.5). */
    cleanup_free char *spath = cln_xasprintf("/exec/%s/start", exec_id);
    static const char start_body[] = "{\"Detach\":false,\"Tty\":false}";
    struct cln_http_request req = {
        .method = "POST",
        .path = spath,
        .content_type = "application/json",
        .body = start_body,
        .body_len = sizeof(start_body) - 1,
        .on_data = exec_data,
        .userdata = &x,
        .timeout_ms = cfg->timeout_ms,
        .on_deadline = exec_deadline,
        .grace_ms = 1000,
        .long_running = true,
    };
    struct cln_http_response resp;
    r = cln_http_do(d->http, &req, &resp, err);
    if (r == 0) {
        snprintf(what, sizeof(what), "start exec in container %.12s", id);
        r = cln_http_check(d->http, &resp, what, err);
        /* Podman refuses an unknown user here, with 500 */
        const struct cln_backend_detail *det = r < 0 ? (*err)->detail : NULL;
        if (det && det->api_message && strncmp(det->api_message, "unable to find ", 15) == 0) {
            char *cause = start_failure_cause(det->api_message, strlen(det->api_message));
            cln_error_free(*err);
            *err = NULL;
            r = cln_error_set(err, CLN_E_INVALID, 0, "could not start the process: %s", cause);
            free(cause);
        }
    }
    bool timed_out = resp.deadline_passed, interrupted = resp.interrupted;
    cln_http_response_done(&resp);
    if (r < 0) {
        cln_demux_done(&x.demux);
        cln_exec_result_done(&res);
        return r;
    }
    if (x.demux.sys.len) {
        r = cln_error_set(err, CLN_E_BACKEND, 0, "exec in container %.12s: %s", id,
                          x.demux.sys.data);
        cln_demux_done(&x.demux);
        cln_exec_result_done(&res);
        return r;
    }
    cln_demux_done(&x.demux);

    /* The stream has ended, so the process has; the engine may record the
     * exit code a moment later (moby #45795), so ask until it says, on the
     * schedule of cln_docker_exit_poll_delay_us(). */
    bool running = true;
    int code = -1, pid = 0;
    for (unsigned i = 0;; i++) {
        r = exec_inspect(d, exec_id, 0, &running, &code, &pid, err);
        if (r < 0 || !running || timed_out)
            break;
        unsigned delay_us = cln_docker_exit_poll_delay_us(i);
        if (!delay_us)
            break;
        struct timespec ts = {(time_t)(delay_us / 1000000), (long)(delay_us % 1000000) * 1000L};
        nanosleep(&ts, NULL);
    }
    if (r < 0) {
        cln_exec_result_done(&res);
        return r;
    }
    if (running && !timed_out) {
        cln_exec_result_done(&res);
        return cln_error_set(err, CLN_E_BACKEND, 0,
                             "exec in container %.12s: output ended but the engine still "
                             "reports the process running",
                             id);
    }
    if (!timed_out) {
        char *cause = cln_docker_exec_start_failure(code, &res.out, &res.err);
        if (cause) {
            cln_exec_result_done(&res);
            r = cln_error_set(err, CLN_E_INVALID, 0, "could not start the process: %s", cause);
            free(cause);
            return r;
        }
    }
    res.status = timed_out ? CLN_EXEC_TIMEOUT : CLN_EXEC_EXITED;
    res.exit_code = timed_out ? -1 : code;
    res.host_pid = d->local ? (x.host_pid ? x.host_pid : pid) : 0;
    res.kill_method = x.kill_method;
    res.interrupted = timed_out && interrupted;
    res.exec_id = CLN_TAKE(exec_id);
    res.duration_ms = cln_now_ms() - t0;
    *ret = res;
    return 0;
}

/* ---- logs ---- */

struct logs_run {
    struct cln_demux demux;
};

static bool logs_data(const char *data, size_t len, void *ud)
{
    struct logs_run *l = ud;
    cln_demux_feed(&l->demux, data, len);
    return true;
}

int cln_docker_logs(void *ctx, const char *id, unsigned tail, size_t cap,
                    struct cln_capture *ret_out, struct cln_capture *ret_err,
                    struct cln_error **err)
{
    struct docker *d = ctx;
    char tailq[24] = "all";
    if (tail)
        snprintf(tailq, sizeof(tailq), "%u", tail);
    cleanup_free char *path =
        cln_xasprintf("/containers/%s/logs?stdout=1&stderr=1&tail=%s", id, tailq);
    struct cln_capture out, errc;
    memset(&out, 0, sizeof(out));
    memset(&errc, 0, sizeof(errc));
    struct logs_run l;
    cln_demux_init(&l.demux, &out, &errc, cap);
    struct cln_http_response resp;
    struct cln_http_request req = {
        .method = "GET", .path = path, .on_data = logs_data, .userdata = &l};
    int r = cln_http_do(d->http, &req, &resp, err);
    char what[64];
    snprintf(what, sizeof(what), "logs of container %.12s", id);
    if (r < 0) {
        r = cln_error_wrap(err, "%s", what);
    } else {
        r = cln_http_check(d->http, &resp, what, err);
    }
    cln_http_response_done(&resp);
    cln_demux_done(&l.demux);
    if (r < 0) {
        cln_capture_done(&out);
        cln_capture_done(&errc);
        return r;
    }
    *ret_out = out;
    *ret_err = errc;
    return 0;
}

/* ---- files ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static size_t base64_decode(const char *in, unsigned char *out, size_t max);

/* /containers/{id}/archive?path=PATH (escaped) into b. */
static void archive_path(struct cln_buf *b, const char *id, const char *path)
{
    cln_buf_printf(b, "/containers/%s/archive?path=", id);
    cln_http_escape(b, path);
}

/* HEAD archive: 0 when path is a directory, CLN_E_NOT_FOUND otherwise. */
static int dir_exists(struct docker *d, const char *id, const char *dir, struct cln_error **err)
{
    struct cln_buf path = CLN_BUF_INIT;
    archive_path(&path, id, dir);
    struct cln_http_response resp;
    struct cln_http_request req = {
        .method = "HEAD", .path = path.data, .want_header = "X-Docker-Container-Path-Stat"};
    int r = cln_http_do(d->http, &req, &resp, err);
    cln_buf_done(&path);
    char what[320];
    snprintf(what, sizeof(what), "copy files into %s in container %.12s", dir, id);
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    if (resp.status == 404) {
        cln_http_response_done(&resp);
        return cln_error_set(err, CLN_E_NOT_FOUND, 0, "%s: no such directory", what);
    }
    r = cln_http_check(d->http, &resp, what, err);
    if (r == 0 && resp.header_value) {
        /* base64 JSON {"name","size","mode",...}; mode bit 31 is Go's ModeDir */
        unsigned char raw[1024];
        size_t n = base64_decode(resp.header_value, raw, sizeof(raw) - 1);
        raw[n] = '\0';
        cJSON *j = cJSON_Parse((const char *)raw);
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "mode");
        if (cJSON_IsNumber(mode) && !((unsigned long long)mode->valuedouble & (1ULL << 31)))
            r = cln_error_set(err, CLN_E_INVALID, 0, "%s: not a directory", what);
        cJSON_Delete(j);
    }
    cln_http_response_done(&resp);
    return r;
}

static size_t base64_decode(const char *in, unsigned char *out, size_t max)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(b64, *in);
        if (!p || !*in)
            continue;
        acc = (acc << 6) | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < max)
                out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

int cln_docker_copy_in(void *ctx, const char *id, const char *dir, const struct cln_file *files,
                       size_t n, struct cln_error **err)
{
    struct docker *d = ctx;
    /* Docker refuses a missing target directory, Podman creates it: check
     * first, so that both behave the same (the root is always one). */
    int r = strcmp(dir, "/") == 0 ? 0 : dir_exists(d, id, dir, err);
    if (r < 0)
        return r;
    struct cln_buf tar = CLN_BUF_INIT;
    r = cln_tar_build(files, n, false, &tar, err);
    if (r < 0)
        return cln_error_wrap(err, "copy files into container %.12s", id);
    struct cln_buf path = CLN_BUF_INIT;
    archive_path(&path, id, dir);
    struct cln_http_response resp;
    struct cln_http_request req = {
        .method = "PUT",
        .path = path.data,
        .content_type = "application/x-tar",
        .body = tar.data,
        .body_len = tar.len,
        .idempotent = true,
    };
    r = cln_http_do(d->http, &req, &resp, err);
    char what[320];
    snprintf(what, sizeof(what), "copy files into %s in container %.12s", dir, id);
    if (r < 0)
        r = cln_error_wrap(err, "%s", what);
    else
        r = cln_http_check(d->http, &resp, what, err);
    cln_http_response_done(&resp);
    cln_buf_done(&path);
    cln_buf_done(&tar);
    return r;
}

static bool copy_out_data(const char *data, size_t len, void *ud)
{
    return cln_tar_stream_feed(ud, data, len);
}

int cln_docker_copy_out(void *ctx, const char *id, const char *file, size_t cap,
                        struct cln_file_info *ret_info, struct cln_capture *ret_content,
                        bool *ret_found, struct cln_error **err)
{
    struct docker *d = ctx;
    char what[320];
    snprintf(what, sizeof(what), "copy %s out of container %.12s", file, id);
    struct cln_tar_stream *ts = NULL;
    int r = cln_tar_stream_new(cap ? cap : CLN_DEFAULT_OUTPUT_CAP, &ts, err);
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    struct cln_buf path = CLN_BUF_INIT;
    archive_path(&path, id, file);
    struct cln_http_response resp;
    /* A 404 answer's body goes through the reader too: harmless, it is not
     * an archive. */
    struct cln_http_request req = {
        .method = "GET", .path = path.data, .on_data = copy_out_data, .userdata = ts};
    r = cln_http_do(d->http, &req, &resp, err);
    cln_buf_done(&path);
    struct cln_file_info info;
    struct cln_capture content;
    bool found = false;
    memset(&info, 0, sizeof(info));
    memset(&content, 0, sizeof(content));
    struct cln_error *te = NULL;
    int tr = cln_tar_stream_finish(ts, &info, &content, &found, &te);
    if (r < 0) {
        cln_error_free(te);
        if (tr == 0) {
            cln_file_info_done(&info);
            cln_capture_done(&content);
        }
        return cln_error_wrap(err, "%s", what);
    }
    if (resp.status == 404) {
        cln_http_response_done(&resp);
        cln_error_free(te);
        if (tr == 0) {
            cln_file_info_done(&info);
            cln_capture_done(&content);
        }
        *ret_found = false;
        return 0;
    }
    r = cln_http_check(d->http, &resp, what, err);
    cln_http_response_done(&resp);
    if (r == 0 && tr < 0) {
        *err = te;
        te = NULL;
        r = cln_error_wrap(err, "%s", what);
    }
    cln_error_free(te);
    if (r < 0) {
        if (tr == 0) {
            cln_file_info_done(&info);
            cln_capture_done(&content);
        }
        return r;
    }
    if (!found) {
        cln_file_info_done(&info);
        cln_capture_done(&content);
        return cln_error_set(err, CLN_E_PARSE, 0, "%s: the engine sent an empty archive", what);
    }
    *ret_info = info;
    *ret_content = content;
    *ret_found = true;
    return 0;
}
