/* Docker Engine API backend: the feature managers (networks, volumes, image
 * builds) and the NDJSON progress streams of build and pull. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker-internal.h"
#include "runtime/tar.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- NDJSON progress ---- */

static void ndjson_line(struct cln_docker_ndjson *s, const char *line, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(j, "errorDetail");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(detail, "message");
    /* an error body ({"message": ...}) arrives through the same scanner */
    const cJSON *body_msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (!cJSON_IsString(msg))
        msg = cJSON_IsString(error) ? error : body_msg;
    if (!s->error && cJSON_IsString(msg))
        s->error = cln_xstrdup(msg->valuestring);
    const cJSON *aux = cJSON_GetObjectItemCaseSensitive(j, "aux");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(aux, "ID");
    if (cJSON_IsString(id)) {
        free(s->aux_id);
        s->aux_id = cln_xstrdup(id->valuestring);
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(j, "status");
    const char *text = cJSON_IsString(stream)   ? stream->valuestring
                       : cJSON_IsString(status) ? status->valuestring
                                                : NULL;
    if (text && s->progress) {
        size_t n = strlen(text);
        while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
            n--;
        if (n) {
            char *t = cln_xstrndup(text, n);
            s->progress(t, s->userdata);
            free(t);
        }
    }
    cJSON_Delete(j);
}

bool cln_docker_ndjson_feed(const char *data, size_t len, void *userdata)
{
    struct cln_docker_ndjson *s = userdata;
    cln_buf_append(&s->line, data, len);
    size_t start = 0;
    for (size_t i = 0; i < s->line.len; i++) {
        if (s->line.data[i] == '\n') {
            ndjson_line(s, s->line.data + start, i - start);
            start = i + 1;
        }
    }
    cln_buf_consume(&s->line, start);
    return true;
}

void cln_docker_ndjson_finish(struct cln_docker_ndjson *s)
{
    if (s->line.len)
        ndjson_line(s, s->line.data, s->line.len);
    cln_buf_clear(&s->line);
}

void cln_docker_ndjson_done(struct cln_docker_ndjson *s)
{
    cln_buf_done(&s->line);
    free(s->error);
    free(s->aux_id);
    s->error = s->aux_id = NULL;
}

int cln_docker_ndjson_check(struct docker *d, int r, const struct cln_http_response *resp,
                            struct cln_docker_ndjson *s, const char *what, struct cln_error **err)
{
    if (r < 0)
        return cln_error_wrap(err, "%s", what);
    if (resp->status < 200 || resp->status >= 300) {
        /* The body was streamed to the scanner: its message is the reason. */
        r = cln_http_check(d->http, resp, what, err);
        if (s->error && !(*err)->detail->api_message)
            (*err)->detail->api_message = CLN_TAKE(s->error);
        return r;
    }
    /* A 200 is not success: errors come in the stream. */
    if (s->error) {
        r = cln_error_set(err, CLN_E_BACKEND, 0, "%s", what);
        struct cln_backend_detail *det = cln_backend_detail_new(cln_http_backend(d->http));
        det->http_status = resp->status;
        det->api_message = CLN_TAKE(s->error);
        cln_error_set_detail(*err, det);
        return r;
    }
    return 0;
}

/* ---- helpers ---- */

/* GET a list (base, filtered by label when label_filter is set) and collect
 * each element's Name and Labels. */
static int list_resources(struct docker *d, const char *base, const char *label_filter,
                          const char *array_key, const char *what, struct cln_resource **ret,
                          size_t *ret_n, struct cln_error **err)
{
    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, base);
    if (label_filter)
        cln_docker_label_filter(&path, '?', label_filter);
    struct cln_http_response resp;
    int r = cln_docker_call(d, "GET", path.data, NULL, what, &resp, err);
    cln_buf_done(&path);
    if (r < 0)
        return r;
    cJSON *j = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    const cJSON *arr = array_key ? cJSON_GetObjectItemCaseSensitive(j, array_key) : j;
    struct cln_resource *v = NULL;
    size_t n = 0, cap = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "Name");
        if (!cJSON_IsString(f))
            continue;
        v = cln_xgrow(v, &cap, n + 1, sizeof(*v));
        memset(&v[n], 0, sizeof(v[n]));
        v[n].name = cln_xstrdup(f->valuestring);
        cln_docker_labels_from_json(cJSON_GetObjectItemCaseSensitive(it, "Labels"), &v[n].labels);
        n++;
    }
    cJSON_Delete(j);
    cln_http_response_done(&resp);
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- networks ---- */

/* An internal network reaches nothing but its own containers.  Docker's
 * "Internal" alone still gives the bridge the gateway address, and the host
 * answers on it (INPUT, not FORWARD, sees that traffic): inhibit_ipv4 leaves
 * the bridge without an address, so there is nothing to reach.  Podman's
 * CNI internal networks have no gateway already, and no DNS either. */
static int network_create(void *ctx, const char *name, const struct cln_labels *labels,
                          bool internal, char **ret_id, bool *ret_resolves, struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_json cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "Name", name);
    cJSON_AddBoolToObject(b, "CheckDuplicate", true);
    cJSON_AddStringToObject(b, "Driver", "bridge");
    cJSON_AddBoolToObject(b, "Internal", internal);
    if (internal && !d->podman) {
        cJSON *o = cJSON_AddObjectToObject(b, "Options");
        cJSON_AddStringToObject(o, "com.docker.network.bridge.inhibit_ipv4", "true");
    }
    cJSON_AddItemToObject(b, "Labels", cln_docker_labels_json(labels));
    char what[160];
    snprintf(what, sizeof(what), "create network %s", name);
    int r = cln_docker_post_for(d, "/networks/create", b, what, "Id", ret_id, err);
    if (r == 0)
        *ret_resolves = !(internal && d->podman);
    return r;
}

static int network_connect(void *ctx, const char *network, const char *container,
                           const char *const *aliases, struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_json cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "Container", container);
    cJSON *ep = cJSON_AddObjectToObject(b, "EndpointConfig");
    cJSON *al = cJSON_AddArrayToObject(ep, "Aliases");
    for (; aliases && *aliases; aliases++)
        cJSON_AddItemToArray(al, cJSON_CreateString(*aliases));
    cleanup_free char *path = cln_xasprintf("/networks/%s/connect", network);
    char what[160];
    snprintf(what, sizeof(what), "connect container %.12s to network %s", container, network);
    struct cln_http_response resp;
    int r = cln_docker_call(d, "POST", path, b, what, &resp, err);
    if (r == 0)
        cln_http_response_done(&resp);
    return r;
}

static int network_remove(void *ctx, const char *network, struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_free char *path = cln_xasprintf("/networks/%s", network);
    char what[160];
    snprintf(what, sizeof(what), "remove network %s", network);
    return cln_docker_delete(d, path, what, err);
}

static int network_list(void *ctx, const char *label_filter, struct cln_resource **ret,
                        size_t *ret_n, struct cln_error **err)
{
    return list_resources(ctx, "/networks", label_filter, NULL, "list networks", ret, ret_n, err);
}

const struct cln_network_ops cln_docker_network_ops = {
    .create = network_create,
    .connect = network_connect,
    .remove = network_remove,
    .list = network_list,
};

/* ---- volumes ---- */

static int volume_create(void *ctx, const char *name, const struct cln_labels *labels,
                         char **ret_name, struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_json cJSON *b = cJSON_CreateObject();
    if (name)
        cJSON_AddStringToObject(b, "Name", name);
    cJSON_AddItemToObject(b, "Labels", cln_docker_labels_json(labels));
    return cln_docker_post_for(d, "/volumes/create", b, "create volume", "Name", ret_name, err);
}

static int volume_remove(void *ctx, const char *name, bool force, struct cln_error **err)
{
    struct docker *d = ctx;
    cleanup_free char *path = cln_xasprintf("/volumes/%s?force=%d", name, force ? 1 : 0);
    char what[160];
    snprintf(what, sizeof(what), "remove volume %s", name);
    return cln_docker_delete(d, path, what, err);
}

static int volume_list(void *ctx, const char *label_filter, struct cln_resource **ret,
                       size_t *ret_n, struct cln_error **err)
{
    return list_resources(ctx, "/volumes", label_filter, "Volumes", "list volumes", ret, ret_n,
                          err);
}

const struct cln_volume_ops cln_docker_volume_ops = {
    .create = volume_create,
    .remove = volume_remove,
    .list = volume_list,
};

/* ---- builds ---- */

static int build(void *ctx, const struct cln_build_request *breq, cln_progress_fn progress,
                 void *ud, char **ret_image_id, struct cln_error **err)
{
    struct docker *d = ctx;
    if (!breq->tag || !breq->dockerfile)
        return cln_error_set(err, CLN_E_INVALID, 0, "build: a tag and a Dockerfile are needed");
    for (size_t i = 0; i < breq->nfiles; i++)
        if (strcmp(breq->files[i].path, "Dockerfile") == 0)
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "build %s: the context has a file named Dockerfile; give the "
                                 "Dockerfile text separately",
                                 breq->tag);
    /* The context: the Dockerfile text, then the files. */
    size_t n = breq->nfiles + 1;
    struct cln_file *files = cln_xcalloc(n, sizeof(*files));
    files[0].path = "Dockerfile";
    files[0].data = breq->dockerfile;
    files[0].len = strlen(breq->dockerfile);
    for (size_t i = 0; i < breq->nfiles; i++)
        files[i + 1] = breq->files[i];
    struct cln_buf tar = CLN_BUF_INIT;
    int r = cln_tar_build(files, n, true, &tar, err);
    free(files);
    if (r < 0)
        return cln_error_wrap(err, "build %s", breq->tag);

    struct cln_buf path = CLN_BUF_INIT;
    cln_buf_puts(&path, "/build?rm=1&forcerm=1&t=");
    cln_http_escape(&path, breq->tag);
    if (breq->no_cache)
        cln_buf_puts(&path, "&nocache=1");
    /* RUN steps see no network unless the spec asked and the run allowed it.
     * Podman's compat build (4.3) puts RUN in the host's network namespace
     * unless told otherwise (nsoptions), whatever networkmode says; its
     * networkmode takes buildah's policy names. */
    if (d->podman) {
        cln_buf_puts(&path, "&nsoptions=");
        cln_http_escape(&path, "[{\"Name\":\"network\",\"Host\":false}]");
        if (!breq->network)
            cln_buf_puts(&path, "&networkmode=NetworkDisabled");
    } else if (!breq->network) {
        cln_buf_puts(&path, "&networkmode=none");
    }
    if (breq->labels && breq->labels->len) {
        cJSON *l = cln_docker_labels_json(breq->labels);
        char *s = cJSON_PrintUnformatted(l);
        cln_buf_puts(&path, "&labels=");
        cln_http_escape(&path, s);
        cJSON_free(s);
        cJSON_Delete(l);
    }
    struct cln_docker_ndjson scan = {.progress = progress, .userdata = ud};
    struct cln_http_response resp;
    struct cln_http_request req = {
        .method = "POST",
        .path = path.data,
        .content_type = "application/x-tar",
        .body = tar.data,
        .body_len = tar.len,
        .on_data = cln_docker_ndjson_feed,
        .userdata = &scan,
        .long_running = true,
    };
    r = cln_http_do(d->http, &req, &resp, err);
    cln_buf_done(&path);
    cln_buf_done(&tar);
    char what[300];
    snprintf(what, sizeof(what), "build image %s", breq->tag);
    cln_docker_ndjson_finish(&scan);
    r = cln_docker_ndjson_check(d, r, &resp, &scan, what, err);
    cln_http_response_done(&resp);
    if (r == 0) {
        if (scan.aux_id) {
            *ret_image_id = CLN_TAKE(scan.aux_id);
        } else {
            /* No aux ID in the stream (older engines): ask for the tag. */
            struct cln_image_info info;
            r = cln_docker_ops.image_inspect(d, breq->tag, &info, err);
            if (r == 1) {
                *ret_image_id = CLN_TAKE(info.id);
                cln_image_info_done(&info);
                r = 0;
            } else if (r == 0) {
                r = cln_error_set(err, CLN_E_BACKEND, 0, "%s: the engine reported no image", what);
            }
        }
    }
    cln_docker_ndjson_done(&scan);
    return r;
}

const struct cln_build_ops cln_docker_build_ops = {
    .build = build,
};
