/* Docker Engine API backend: connection, images, container lifecycle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "docker-internal.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/log.h"
#include "runtime/base/os.h"
#include "runtime/base/xalloc.h"

/* Requests an interrupt never cuts short: removals and kills (how a run
 * cleans up), and creations (one cut short may still be carried out by the
 * engine, leaving a container or network the run does not know it has:
 * its teardown would miss it).  Each is short and bounded anyway. */
static bool never_interrupted(const char *method, const char *path)
{
    static const char *const creations[] = {"/containers/create", "/networks/create",
                                            "/volumes/create"};
    if (strcmp(method, "DELETE") == 0 || strstr(path, "/kill"))
        return true;
    for (size_t i = 0; i < sizeof(creations) / sizeof(creations[0]); i++)
        if (strncmp(path, creations[i], strlen(creations[i])) == 0)
            return true;
    return false;
}

/* Send a request with a JSON body (or none): any answer is a success here;
 * a transport failure is wrapped with what. */
static int send_json(struct docker *d, const char *method, const char *path, const cJSON *body,
                     const char *what, struct cln_http_response *resp, struct cln_error **err)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    struct cln_http_request req = {
        .method = method,
        .path = path,
        .content_type = body ? "application/json" : NULL,
        .body = text,
        .body_len = text ? strlen(text) : 0,
        .uninterruptible = never_interrupted(method, path),
    };
    int r = cln_http_do(d->http, &req, resp, err);
    cJSON_free(text);
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    return 0;
}

int cln_docker_call(struct docker *d, const char *method, const char *path, const cJSON *body,
                    const char *what, struct cln_http_response *resp, struct cln_error **err)
{
    int r = send_json(d, method, path, body, what, resp, err);
    if (r < 0)
        return r;
    r = cln_http_check(d->http, resp, what, err);
    if (r < 0)
        cln_http_response_done(resp);
    return r;
}

/* A call whose body we do not need; statuses in ok[] count as success too. */
static int call_simple(struct docker *d, const char *method, const char *path, const cJSON *body,
                       const char *what, const long *ok, size_t nok, struct cln_error **err)
{
    struct cln_http_response resp;
    int r = send_json(d, method, path, body, what, &resp, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nok; i++)
        if (resp.status == ok[i]) {
            cln_http_response_done(&resp);
            return 0;
        }
    r = cln_http_check(d->http, &resp, what, err);
    cln_http_response_done(&resp);
    return r;
}

int cln_docker_post_for(struct docker *d, const char *path, const cJSON *body, const char *what,
                        const char *field, char **ret, struct cln_error **err)
{
    struct cln_http_response resp;
    int r = cln_docker_call(d, "POST", path, body, what, &resp, err);
    if (r < 0)
        return r;
    cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);
    if (cJSON_IsString(v))
        *ret = cln_xstrdup(v->valuestring);
    else
        r = cln_error_set(err, CLN_E_PARSE, 0, "%s: no %s in the answer", what, field);
    cJSON_Delete(j);
    cln_http_response_done(&resp);
    return r;
}

int cln_docker_delete(struct docker *d, const char *path, const char *what, struct cln_error **err)
{
    static const long ok[] = {404};
    return call_simple(d, "DELETE", path, NULL, what, ok, 1, err);
}

static void docker_close(void *ctx)
{
    struct docker *d = ctx;
    if (!d)
        return;
    cln_http_free(d->http);
    free(d);
}

/* GET an unversioned path (/_ping, /version) and check the status; resp
 * is filled on success only (caller frees). */
static int get_raw(struct docker *d, const char *path, const char *what,
                   struct cln_http_response *resp, struct cln_error **err)
{
    struct cln_http_request req = {.method = "GET", .path = path, .raw_path = true};
    int r = cln_http_do(d->http, &req, resp, err);
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    r = cln_http_check(d->http, resp, what, err);
    if (r < 0)
        cln_http_response_done(resp);
    return r;
}

static int docker_ping(void *ctx, struct cln_error **err)
{
    struct cln_http_response resp;
    int r = get_raw(ctx, "/_ping", "ping", &resp, err);
    if (r == 0)
        cln_http_response_done(&resp);
    return r;
}

static int docker_version(void *ctx, struct cln_engine_info *ret, struct cln_error **err)
{
    struct docker *d = ctx;
    struct cln_http_response resp;
    int r = get_raw(d, "/version", "version", &resp, err);
    if (r < 0)
        return r;
    char min_api[16];
    bool podman = false;
    r = cln_docker_parse_version(resp.body.data, resp.body.len, ret, min_api, sizeof(min_api),
                                 &podman, err);
    if (r == 0) {
        free(ret->api_version);
        ret->api_version = cln_xstrdup(d->api_version);
    }
    cln_http_response_done(&resp);
    return r;
}

static void docker_interrupt(void *ctx)
{
    struct docker *d = ctx;
    cln_http_interrupt(d->http);
}

static const char *docker_gone(void *ctx)
{
    struct docker *d = ctx;
    return cln_http_gone(d->http);
}

/* Is the engine on this kernel, so that the pids it reports may be
 * looked up in /proc here?  Decided from what the engine says of itself,
 * not from its address: a unix socket (a TCP endpoint, even 127.0.0.1,
 * may be a tunnel to another machine), a Linux engine, and the kernel
 * release it reports being this kernel's.  This is a necessary condition
 * only: every pid is still proven to be the container's (its cgroup names
 * the container) before it is used or signalled. */
static bool engine_is_local(const struct cln_http *h, const struct cln_engine_info *info)
{
    if (!cln_http_socket_path(h))
        return false;
    struct utsname u;
    if (uname(&u) < 0)
        return false;
    return info->os && strcmp(info->os, "linux") == 0 && info->kernel &&
           strcmp(info->kernel, u.release) == 0;
}

static int docker_open(const char *endpoint, struct cln_runtime **ret, struct cln_error **err)
{
    const char *tls_verify = getenv("DOCKER_TLS_VERIFY");
    const char *cert_path = getenv("DOCKER_CERT_PATH");
    bool tls = tls_verify && *tls_verify && strcmp(tls_verify, "0") != 0;
    cleanup_free char *ca = NULL, *cert = NULL, *key = NULL, *home_certs = NULL;
    if (tls) {
        if (strncmp(endpoint, "unix://", 7) == 0)
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "DOCKER_TLS_VERIFY is set but %s is a unix socket (TLS needs "
                                 "tcp://HOST:PORT)",
                                 endpoint);
        if (!cert_path || !*cert_path) {
            const char *home = getenv("HOME");
            home_certs = cln_xasprintf("%s/.docker", home && *home ? home : "");
            cert_path = home_certs;
        }
        ca = cln_xasprintf("%s/ca.pem", cert_path);
        cert = cln_xasprintf("%s/cert.pem", cert_path);
        key = cln_xasprintf("%s/key.pem", cert_path);
        const char *files[] = {ca, cert, key};
        for (size_t i = 0; i < 3; i++)
            if (access(files[i], R_OK) < 0)
                return cln_error_set(err, CLN_E_INVALID, errno,
                                     "DOCKER_TLS_VERIFY is set but %s cannot be read "
                                     "(DOCKER_CERT_PATH names the directory of ca.pem, "
                                     "cert.pem and key.pem)",
                                     files[i]);
    }
    if (strncmp(endpoint, "unix://", 7) == 0) {
        struct stat st;
        if (stat(endpoint + 7, &st) < 0)
            return cln_error_set(err, CLN_E_TRANSPORT, errno, "%s", endpoint + 7);
        if (!S_ISSOCK(st.st_mode))
            return cln_error_set(err, CLN_E_TRANSPORT, 0, "%s is not a socket", endpoint + 7);
    }
    struct cln_http_config hc = {
        .endpoint = endpoint,
        .tls = tls,
        .ca_file = ca,
        .cert_file = cert,
        .key_file = key,
        .backend = "docker",
    };
    struct docker *d = cln_xcalloc(1, sizeof(*d));
    int r = cln_http_new(&hc, &d->http, err);
    if (r < 0) {
        free(d);
        return r;
    }
    /* Ask the engine which API versions it speaks before using any, with a
     * short limit: an engine that accepts connections but does not answer
     * (a frozen daemon) is reported, not waited for. */
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "GET",
                                   .path = "/version",
                                   .raw_path = true,
                                   .no_retry = true,
                                   .timeout_ms = CLN_DOCKER_OPEN_TIMEOUT_MS};
    bool got = cln_http_do(d->http, &req, &resp, err) == 0;
    r = got ? 0 : -1;
    if (got && resp.deadline_passed)
        r = cln_error_set(err, CLN_E_TRANSPORT, 0,
                          "it accepts connections but did not answer GET /version within %d s",
                          CLN_DOCKER_OPEN_TIMEOUT_MS / 1000);
    else if (got)
        r = cln_http_check(d->http, &resp, "version", err);
    char min_api[16] = "";
    bool podman = false;
    struct cln_engine_info info;
    memset(&info, 0, sizeof(info));
    if (r == 0)
        r = cln_docker_parse_version(resp.body.data, resp.body.len, &info, min_api, sizeof(min_api),
                                     &podman, err);
    if (got)
        cln_http_response_done(&resp);
    if (r < 0) {
        docker_close(d);
        return r;
    }
    d->podman = podman;
    d->local = engine_is_local(d->http, &info);
    cln_docker_pick_api(min_api, info.api_version, d->api_version, sizeof(d->api_version));
    char prefix[24];
    snprintf(prefix, sizeof(prefix), "/v%s", d->api_version);
    cln_http_set_prefix(d->http, prefix);
    cln_http_set_backend(d->http, podman ? "podman" : "docker");
    cln_log(CLN_LOG_INFO, "%s: %s %s at %s: API %s (the engine speaks %s to %s)%s",
            podman ? "podman" : "docker", info.engine, info.version, endpoint, d->api_version,
            min_api[0] ? min_api : "?", info.api_version, d->local ? ", on this kernel" : "");
    free(info.api_version);
    info.api_version = cln_xstrdup(d->api_version);
    *ret =
        cln_runtime_new(podman ? &cln_podman_desc : &cln_docker_desc, d, endpoint, d->local, &info);
    return 0;
}

/* ---- images ---- */

static int docker_image_inspect(void *ctx, const char *ref, struct cln_image_info *ret,
                                struct cln_error **err)
{
    struct docker *d = ctx;
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, "/images/");
    cln_http_escape(&path, ref);
    cln_buf_puts(&path, "/json");
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "GET", .path = path.data};
    int r = cln_http_do(d->http, &req, &resp, err);
    cln_buf_done(&path);
    if (r < 0)
        return cln_error_wrap(err, "inspect image %s", ref);
    if (resp.status == 404) {
        cln_http_response_done(&resp);
        return 0;
    }
    char what[256];
    snprintf(what, sizeof(what), "inspect image %s", ref);
    r = cln_http_check(d->http, &resp, what, err);
    if (r == 0) {
        cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "Id");
        if (!cJSON_IsString(id)) {
            r = cln_error_set(err, CLN_E_PARSE, 0, "%s: no Id in the answer", what);
        } else {
            memset(ret, 0, sizeof(*ret));
            ret->id = cln_xstrdup(id->valuestring);
            const cJSON *dg =
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "RepoDigests"), 0);
            if (cJSON_IsString(dg))
                ret->digest = cln_xstrdup(dg->valuestring);
            const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "Config");
            const cJSON *x;
            cJSON_ArrayForEach(
                x, cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint")) if (cJSON_IsString(x))
                cln_strv_add(&ret->entrypoint, x->valuestring);
            cJSON_ArrayForEach(x,
                               cJSON_GetObjectItemCaseSensitive(cfg, "Cmd")) if (cJSON_IsString(x))
                cln_strv_add(&ret->cmd, x->valuestring);
            r = 1;
        }
        cJSON_Delete(j);
    }
    cln_http_response_done(&resp);
    return r;
}

static int docker_image_pull(void *ctx, const char *ref, cln_progress_fn progress, void *ud,
                             struct cln_error **err)
{
    struct docker *d = ctx;
    /* Always name a tag or digest: fromImage without one pulls every tag. */
    const char *slash = strrchr(ref, '/');
    const char *last = slash ? slash + 1 : ref;
    bool tagged = strchr(last, ':') || strchr(ref, '@');
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, "/images/create?fromImage=");
    cln_http_escape(&path, ref);
    if (!tagged)
        cln_buf_puts(&path, "&tag=latest");
    struct cln_docker_ndjson scan = {.progress = progress, .userdata = ud};
    struct cln_http_response resp;
    struct cln_http_request req = {
        .method = "POST",
        .path = path.data,
        .on_data = cln_docker_ndjson_feed,
        .userdata = &scan,
        .long_running = true,
    };
    int r = cln_http_do(d->http, &req, &resp, err);
    cln_buf_done(&path);
    cln_docker_ndjson_finish(&scan);
    char what[300];
    snprintf(what, sizeof(what), "pull image %s", ref);
    r = cln_docker_ndjson_check(d, r, &resp, &scan, what, err);
    cln_http_response_done(&resp);
    cln_docker_ndjson_done(&scan);
    return r;
}

static int docker_image_remove(void *ctx, const char *ref, bool force, struct cln_error **err)
{
    struct docker *d = ctx;
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, "/images/");
    cln_http_escape(&path, ref);
    cln_buf_puts(&path, force ? "?force=1" : "?force=0");
    char what[256];
    snprintf(what, sizeof(what), "remove image %s", ref);
    int r = cln_docker_delete(d, path.data, what, err);
    cln_buf_done(&path);
    return r;
}

/* ---- containers ---- */

static int docker_create(void *ctx, const struct cln_container_config *cfg, char **ret_id,
                         struct cln_error **err)
{
    struct docker *d = ctx;
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, "/containers/create");
    if (cfg->name) {
        cln_buf_puts(&path, "?name=");
        cln_http_escape(&path, cfg->name);
    }
    cleanup_json cJSON *body = cln_docker_create_body(cfg);
    char what[256];
    snprintf(what, sizeof(what), "create container from %s", cfg->image);
    int r = cln_docker_post_for(d, path.data, body, what, "Id", ret_id, err);
    cln_buf_done(&path);
    return r;
}

static int container_post(struct docker *d, const char *id, const char *action, const char *query,
                          const char *what, const long *ok, size_t nok, struct cln_error **err)
{
    cleanup_free char *path = cln_xasprintf("/containers/%s/%s%s", id, action, query ? query : "");
    char w[160];
    snprintf(w, sizeof(w), "%s container %.12s", what, id);
    return call_simple(d, "POST", path, NULL, w, ok, nok, err);
}

static int docker_start(void *ctx, const char *id, struct cln_error **err)
{
    static const long ok[] = {304};
    int r = container_post(ctx, id, "start", NULL, "start", ok, 1, err);
    /* A user or group the image does not have: the process could not
     * start, as an exec says it (docs/runtime.md) */
    const struct cln_backend_detail *det = r < 0 ? (*err)->detail : NULL;
    if (det && det->api_message && strncmp(det->api_message, "unable to find ", 15) == 0) {
        char *cause = cln_xstrdup(det->api_message);
        cln_error_free(*err);
        *err = NULL;
        r = cln_error_set(err, CLN_E_INVALID, 0, "could not start the process: %s", cause);
        free(cause);
    }
    return r;
}

static int docker_stop(void *ctx, const char *id, unsigned grace_s, struct cln_error **err)
{
    static const long ok[] = {304};
    char q[24];
    snprintf(q, sizeof(q), "?t=%u", grace_s);
    return container_post(ctx, id, "stop", q, "stop", ok, 1, err);
}

static int docker_kill(void *ctx, const char *id, const char *signal, struct cln_error **err)
{
    char q[48];
    snprintf(q, sizeof(q), "?signal=%s", signal ? signal : "SIGKILL");
    return container_post(ctx, id, "kill", q, "kill", NULL, 0, err);
}

static int docker_wait(void *ctx, const char *id, uint64_t timeout_ms, int *ret_exit_code,
                       struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_free char *path = cln_xasprintf("/containers/%s/wait?condition=not-running", id);
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "POST",
                                   .path = path,
                                   .timeout_ms = timeout_ms,
                                   .idempotent = true,
                                   .long_running = true};
    int r = cln_http_do(d->http, &req, &resp, err);
    if (r < 0)
        return cln_error_wrap(err, "wait for container %.12s", id);
    if (resp.deadline_passed && resp.aborted) {
        cln_http_response_done(&resp);
        return cln_error_set(err, CLN_E_TIMEOUT, 0, "container %.12s still running after %llu ms",
                             id, (unsigned long long)timeout_ms);
    }
    char what[64];
    snprintf(what, sizeof(what), "wait for container %.12s", id);
    r = cln_http_check(d->http, &resp, what, err);
    if (r == 0) {
        cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "StatusCode");
        if (cJSON_IsNumber(sc))
            *ret_exit_code = sc->valueint;
        else
            r = cln_error_set(err, CLN_E_PARSE, 0, "%s: no StatusCode in the answer", what);
        cJSON_Delete(j);
    }
    cln_http_response_done(&resp);
    return r;
}

/* Removing a container another caller is already removing: the engine
 * answers 409 "removal ... is already in progress"; wait until it is gone
 * (the engine tells us: wait?condition=removed), at most 30 s. */
static int await_removal(struct docker *d, const char *id, const char *what, struct cln_error **err)
{
    cleanup_free char *path = cln_xasprintf("/containers/%s/wait?condition=removed", id);
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "POST",
                                   .path = path,
                                   .timeout_ms = 30000,
                                   .idempotent = true,
                                   .long_running = true,
                                   .uninterruptible = true};
    int r = cln_http_do(d->http, &req, &resp, err);
    if (r < 0)
        return cln_error_wrap(err, "%s: wait for the removal in progress", what);
    if (resp.deadline_passed && resp.aborted)
        r = cln_error_set(err, CLN_E_TIMEOUT, 0,
                          "%s: a removal already in progress did not end within 30 s", what);
    else if (resp.status != 404) /* gone before we asked */
        r = cln_http_check(d->http, &resp, what, err);
    cln_http_response_done(&resp);
    return r;
}

/* A running container on this kernel, removed by force: its init killed
 * here, through a pidfd proven the container's (docs/runtime.md), and the
 * engine's word awaited that it stopped, as when a container's process
 * exits on its own; the engine's kill (an OCI runtime process and a round
 * trip more) is left for what this cannot prove.  Best effort: the DELETE
 * with force follows whatever happens here. */
static void kill_here(struct docker *d, const char *id)
{
    struct cln_proc_scope scope;
    char *cgroup = NULL;
    int init = 0;
    if (!cln_docker_container_scope(d, id, 0, &scope, &cgroup, &init))
        return;
    int r = cln_proc_kill_in_scope(init, &scope);
    free(cgroup);
    if (r < 0)
        return;
    int code = 0;
    struct cln_error *e = NULL;
    (void)docker_wait(d, id, 10000, &code, &e);
    cln_error_free(e);
}

static int docker_remove(void *ctx, const char *id, bool force, struct cln_error **err)
{
    struct docker *d = ctx;
    if (force && d->local)
        kill_here(d, id);
    cleanup_free char *path = cln_xasprintf("/containers/%s?v=1&force=%d", id, force ? 1 : 0);
    char what[64];
    snprintf(what, sizeof(what), "remove container %.12s", id);
    struct cln_http_response resp;
    struct cln_http_request req = {.method = "DELETE", .path = path, .uninterruptible = true};
    int r = cln_http_do(d->http, &req, &resp, err);
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    bool in_progress = resp.status == 409 && resp.body.data &&
                       memmem(resp.body.data, resp.body.len, "in progress", 11);
    /* Podman, removing a container whose processes ended a moment ago
     * (killed here, or its own init done): "could not be stopped: ...
     * container state improper: stopped"; once it has seen the stop, again */
    bool improper = resp.status == 500 && resp.body.data &&
                    memmem(resp.body.data, resp.body.len, "state improper", 14);
    if (improper) {
        cln_http_response_done(&resp);
        cleanup_free char *wpath = cln_xasprintf("/containers/%s/wait?condition=not-running", id);
        struct cln_http_request wreq = {
            .method = "POST", .path = wpath, .timeout_ms = 5000, .uninterruptible = true};
        struct cln_error *we = NULL;
        if (cln_http_do(d->http, &wreq, &resp, &we) == 0)
            cln_http_response_done(&resp);
        cln_error_free(we);
        r = cln_http_do(d->http, &req, &resp, err);
        if (r < 0)
            return cln_error_wrap(err, "%s", what);
        in_progress = resp.status == 409 && resp.body.data &&
                      memmem(resp.body.data, resp.body.len, "in progress", 11);
    }
    if (resp.status != 404 && !in_progress)
        r = cln_http_check(d->http, &resp, what, err);
    cln_http_response_done(&resp);
    if (in_progress)
        r = await_removal(d, id, what, err);
    return r;
}

static int docker_inspect(void *ctx, const char *id, struct cln_container_state *ret,
                          struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_free char *path = cln_xasprintf("/containers/%s/json", id);
    char what[64];
    snprintf(what, sizeof(what), "inspect container %.12s", id);
    struct cln_http_response resp;
    int r = cln_docker_call(d, "GET", path, NULL, what, &resp, err);
    if (r < 0)
        return r;
    r = cln_docker_parse_inspect(resp.body.data, resp.body.len, ret, err);
    cln_http_response_done(&resp);
    return r;
}

static int docker_list(void *ctx, const char *label_filter, struct cln_container_summary **ret,
                       size_t *ret_n, struct cln_error **err)
{
    struct docker *d = ctx;
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, "/containers/json?all=1");
    if (label_filter)
        cln_docker_label_filter(&path, '&', label_filter);
    struct cln_http_response resp;
    int r = cln_docker_call(d, "GET", path.data, NULL, "list containers", &resp, err);
    cln_buf_done(&path);
    if (r < 0)
        return r;
    r = cln_docker_parse_list(resp.body.data, resp.body.len, ret, ret_n, err);
    cln_http_response_done(&resp);
    return r;
}

const struct cln_runtime_ops cln_docker_ops = {
    .close = docker_close,
    .ping = docker_ping,
    .version = docker_version,
    .image_inspect = docker_image_inspect,
    .image_pull = docker_image_pull,
    .image_remove = docker_image_remove,
    .create = docker_create,
    .start = docker_start,
    .stop = docker_stop,
    .kill = docker_kill,
    .wait = docker_wait,
    .remove = docker_remove,
    .inspect = docker_inspect,
    .list = docker_list,
    .logs = cln_docker_logs,
    .exec = cln_docker_exec,
    .copy_in = cln_docker_copy_in,
    .copy_out = cln_docker_copy_out,
    .interrupt = docker_interrupt,
    .gone = docker_gone,
};

/* ---- the descriptors: one API, two engines ---- */

static size_t docker_candidates(struct cln_endpoint_candidate *ret, size_t max)
{
    if (max < 1)
        return 0;
    ret[0] = (struct cln_endpoint_candidate){cln_xstrdup("unix:///var/run/docker.sock"),
                                             "default Docker socket"};
    return 1;
}

static size_t podman_candidates(struct cln_endpoint_candidate *ret, size_t max)
{
    size_t n = 0;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg && n < max)
        ret[n++] = (struct cln_endpoint_candidate){
            cln_xasprintf("unix://%s/podman/podman.sock", xdg), "rootless Podman socket"};
    if (n < max)
        ret[n++] = (struct cln_endpoint_candidate){cln_xstrdup("unix:///run/podman/podman.sock"),
                                                   "rootful Podman socket"};
    return n;
}

/* What the two descriptors share: the API, its operations and managers,
 * how an engine is opened and the variable that names it.  They differ
 * in name, where to look and how to start one. */
#define DOCKER_API_DESC                                                                            \
    .ops = &cln_docker_ops, .network = &cln_docker_network_ops, .volume = &cln_docker_volume_ops,  \
    .build = &cln_docker_build_ops, .open = docker_open, .endpoint_env = "DOCKER_HOST"

const struct cln_runtime_desc cln_docker_desc = {
    .name = "docker",
    DOCKER_API_DESC,
    .candidates = docker_candidates,
    .start_hint = "'dockerd &' (Docker)",
    .bind_checked = true,
};

const struct cln_runtime_desc cln_podman_desc = {
    .name = "podman",
    DOCKER_API_DESC,
    .candidates = podman_candidates,
    .start_hint = "'podman system service --time=0 unix:///run/podman/podman.sock &' (Podman)",
};
