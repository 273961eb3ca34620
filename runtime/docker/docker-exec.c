/* Docker Engine API backend: exec with deadlines that kill, logs, files. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demux.h"
#include "docker-internal.h"
#include "runtime/tar.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- killing a process tree on the host ---- */

/* Children of pid from /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN). */
static size_t children_of(int pid, int *out, size_t max)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && n < max) {
        if (de->d_name[0] == '.')
            continue;
        char cpath[300];
        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", pid, de->d_name);
        FILE *f = fopen(cpath, "re");
        if (!f)
            continue;
        long c;
        while (n < max && fscanf(f, "%ld", &c) == 1)
            out[n++] = (int)c;
        fclose(f);
    }
    closedir(dir);
    return n;
}

int cln_kill_process_tree(int pid)
{
    /* Stop the root first so it cannot fork while we walk, then collect the
     * tree breadth-first, stopping each, and kill everything. */
    enum { MAX = 4096 };
    int *all = cln_xmalloc(MAX * sizeof(int));
    size_t n = 0;
    if (kill(pid, SIGSTOP) == 0)
        all[n++] = pid;
    for (size_t i = 0; i < n && n < MAX; i++) {
        int kids[256];
        size_t k = children_of(all[i], kids, 256);
        for (size_t j = 0; j < k && n < MAX; j++)
            if (kill(kids[j], SIGSTOP) == 0)
                all[n++] = kids[j];
    }
    int killed = 0;
    for (size_t i = 0; i < n; i++)
        if (kill(all[i], SIGKILL) == 0)
            killed++;
    free(all);
    return killed;
}

/* ---- exec ---- */

struct exec_run {
    struct docker *d;
    const char *container;
    const char *exec_id;
    struct cln_demux demux;
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
static int exec_inspect(struct docker *d, const char *exec_id, bool *running, int *exit_code,
                        int *pid, struct cln_error **err)
{
    cleanup_free char *path = cln_xasprintf("/exec/%s/json", exec_id);
    struct cln_http_response resp;
    int r = cln_docker_call(d, "GET", path, NULL, "inspect exec", &resp, err);
    if (r < 0)
        return r;
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

/* The deadline passed: kill the process.  Docker has no call to kill an exec,
 * so with a local engine we signal the process tree by its host pid; with a
 * remote one, or without a pid, we kill the container. */
static void exec_deadline(void *ud)
{
    struct exec_run *x = ud;
    bool running = false;
    int code = -1, pid = 0;
    struct cln_error *e = NULL;
    if (exec_inspect(x->d, x->exec_id, &running, &code, &pid, &e) == 0 && pid > 0)
        x->host_pid = pid;
    cln_error_free(e); /* best effort: the container kill below still applies */
    e = NULL;
    if (x->d->local && x->host_pid > 0 && cln_kill_process_tree(x->host_pid) > 0) {
        x->kill_method = "host-signal";
        return;
    }
    cleanup_free char *path = cln_xasprintf("/containers/%s/kill?signal=SIGKILL", x->container);
    struct cln_http_response resp;
    if (cln_docker_call(x->d, "POST", path, NULL, "kill container", &resp, &e) == 0)
        cln_http_response_done(&resp);
    cln_error_free(e); /* the stream's end or the grace period settles it */
    x->kill_method = "container-kill";
}

static cJSON *strv_json(const char *const *v)
{
    cJSON *a = cJSON_CreateArray();
    for (; v && *v; v++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*v));
    return a;
}

int cln_docker_exec(void *ctx, const char *id, const struct cln_exec_config *cfg,
                    struct cln_exec_result *ret, struct cln_error **err)
{
    struct docker *d = ctx;
    if (!cfg->argv || !cfg->argv[0])
        return cln_error_set(err, CLN_E_INVALID, 0, "exec: empty command");
    uint64_t t0 = now_ms();

    cleanup_json cJSON *body = cJSON_CreateObject();
    cJSON_AddBoolToObject(body, "AttachStdin", false);
    cJSON_AddBoolToObject(body, "AttachStdout", true);
    cJSON_AddBoolToObject(body, "AttachStderr", true);
    cJSON_AddBoolToObject(body, "Tty", false);
    cJSON_AddItemToObject(body, "Cmd", strv_json(cfg->argv));
    if (cfg->env)
        cJSON_AddItemToObject(body, "Env", strv_json(cfg->env));
    if (cfg->workdir)
        cJSON_AddStringToObject(body, "WorkingDir", cfg->workdir);
    if (cfg->user)
        cJSON_AddStringToObject(body, "User", cfg->user);
    cleanup_free char *path = cln_xasprintf("/containers/%s/exec", id);
    char what[96];
    snprintf(what, sizeof(what), "create exec in container %.12s", id);
    struct cln_http_response resp;
    int r = cln_docker_call(d, "POST", path, body, what, &resp, err);
    if (r < 0)
        return r;
    cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    const cJSON *eid = cJSON_GetObjectItemCaseSensitive(j, "Id");
    cleanup_free char *exec_id = cJSON_IsString(eid) ? cln_xstrdup(eid->valuestring) : NULL;
    cJSON_Delete(j);
    cln_http_response_done(&resp);
    if (!exec_id)
        return cln_error_set(err, CLN_E_PARSE, 0, "%s: no Id in the answer", what);

    struct cln_exec_result res;
    memset(&res, 0, sizeof(res));
    struct exec_run x = {.d = d, .container = id, .exec_id = exec_id};
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
        .cancel = cfg->cancel,
    };
    r = cln_http_do(d->http, &req, &resp, err);
    if (r == 0) {
        snprintf(what, sizeof(what), "start exec in container %.12s", id);
        r = cln_http_check(d->http, &resp, what, err);
    }
    bool timed_out = resp.deadline_passed;
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
     * exit code a moment later (moby #45795), so ask until it says, with a
     * short doubling back-off bounded at about 2 s. */
    bool running = true;
    int code = -1, pid = 0;
    unsigned delay_us = 500;
    for (int i = 0; i < 13; i++) {
        r = exec_inspect(d, exec_id, &running, &code, &pid, err);
        if (r < 0 || !running || timed_out)
            break;
        struct timespec ts = {0, (long)delay_us * 1000L};
        nanosleep(&ts, NULL);
        delay_us *= 2;
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
    res.status = timed_out ? CLN_EXEC_TIMEOUT : CLN_EXEC_EXITED;
    res.exit_code = timed_out ? -1 : code;
    res.host_pid = d->local ? (x.host_pid ? x.host_pid : pid) : 0;
    res.kill_method = x.kill_method;
    res.exec_id = CLN_TAKE(exec_id);
    res.duration_ms = now_ms() - t0;
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

/* HEAD archive: 0 when path is a directory, CLN_E_NOT_FOUND otherwise. */
static int dir_exists(struct docker *d, const char *id, const char *dir, struct cln_error **err)
{
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_printf(&path, "/containers/%s/archive?path=", id);
    cln_http_escape(&path, dir);
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
     * first, so that both behave the same. */
    int r = dir_exists(d, id, dir, err);
    if (r < 0)
        return r;
    struct cln_buf tar = CLN_BUF_INIT;
    r = cln_tar_build(files, n, false, &tar, err);
    if (r < 0)
        return cln_error_wrap(err, "copy files into container %.12s", id);
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_printf(&path, "/containers/%s/archive?path=", id);
    cln_http_escape(&path, dir);
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

int cln_docker_copy_out(void *ctx, const char *id, const char *file, struct cln_buf *ret_content,
                        bool *ret_found, struct cln_error **err)
{
    struct docker *d = ctx;
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_printf(&path, "/containers/%s/archive?path=", id);
    cln_http_escape(&path, file);
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "GET", .path = path.data};
    int r = cln_http_do(d->http, &req, &resp, err);
    cln_buf_done(&path);
    char what[320];
    snprintf(what, sizeof(what), "copy %s out of container %.12s", file, id);
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    if (resp.status == 404) {
        cln_http_response_done(&resp);
        *ret_found = false;
        return 0;
    }
    r = cln_http_check(d->http, &resp, what, err);
    if (r == 0) {
        bool found = false;
        r = cln_tar_first_file(resp.body.data, resp.body.len, ret_content, &found, err);
        if (r < 0)
            r = cln_error_wrap(err, "%s", what);
        else
            *ret_found = found;
    }
    cln_http_response_done(&resp);
    return r;
}
