/* The JSON of Apple's container CLI, both schemas (apple-internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "apple-internal.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

/* 2001-01-01T00:00:00Z in Unix seconds: Swift's reference date. */
#define SWIFT_EPOCH 978307200.0

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = item(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *dup0(const char *s)
{
    return s ? cln_xstrdup(s) : NULL;
}

char *cln_apple_date_iso(double since_2001)
{
    double unix_s = floor(since_2001 + SWIFT_EPOCH);
    if (!isfinite(unix_s) || unix_s < 0 || unix_s > 253402300799.0) /* year 9999 */
        return NULL;
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return NULL;
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return cln_xstrdup(buf);
}

/* "192.168.64.3/24" -> "192.168.64.3" */
static char *ip_of(const char *cidr)
{
    if (!cidr || !*cidr)
        return NULL;
    return cln_xstrndup(cidr, strcspn(cidr, "/"));
}

static void parse_networks(const cJSON *arr, struct cln_container_state *st)
{
    if (!cJSON_IsArray(arr))
        return;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    st->networks = cln_xcalloc(n ? n : 1, sizeof(*st->networks));
    const cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        if (!cJSON_IsObject(a))
            continue;
        const char *addr = str(a, "ipv4Address");
        if (!addr)
            addr = str(a, "address"); /* up to 0.8 */
        st->networks[st->nnetworks++] =
            (struct cln_network_address){.network = dup0(str(a, "network")), .ip = ip_of(addr)};
    }
}

static void parse_ports(const cJSON *arr, struct cln_container_state *st)
{
    if (!cJSON_IsArray(arr))
        return;
    /* each entry may publish a range: count ports from hostPort/containerPort */
    const cJSON *p;
    cJSON_ArrayForEach(p, arr)
    {
        const cJSON *hp = item(p, "hostPort"), *cp = item(p, "containerPort"),
                    *cnt = item(p, "count");
        if (!cJSON_IsNumber(hp) || !cJSON_IsNumber(cp))
            continue;
        int count = cJSON_IsNumber(cnt) && cnt->valueint > 0 ? cnt->valueint : 1;
        for (int i = 0; i < count && i < 65536; i++) {
            if (hp->valueint + i > 65535 || cp->valueint + i > 65535)
                break;
            st->ports = cln_xrealloc(st->ports, (st->nports + 1) * sizeof(*st->ports));
            struct cln_port_binding *b = &st->ports[st->nports++];
            memset(b, 0, sizeof(*b));
            b->host_port = (uint16_t)(hp->valueint + i);
            b->container_port = (uint16_t)(cp->valueint + i);
            const char *proto = str(p, "proto");
            snprintf(b->proto, sizeof(b->proto), "%s", proto ? proto : "tcp");
        }
    }
}

static void parse_labels(const cJSON *o, struct cln_labels *l)
{
    const cJSON *kv;
    if (!cJSON_IsObject(o))
        return;
    cJSON_ArrayForEach(kv, o)
    {
        if (cJSON_IsString(kv) && kv->string) {
            char *v = cln_apple_label_decode(kv->valuestring);
            cln_labels_set(l, kv->string, v);
            free(v);
        }
    }
}

/* 1.x "state" (or 0.x "status") and whether it ever started: our words */
static void set_status(struct cln_container_state *st, const char *state, bool started)
{
    if (strcmp(state, "running") == 0 || strcmp(state, "stopping") == 0) {
        st->running = true;
        st->status = cln_xstrdup("running");
    } else if (strcmp(state, "stopped") == 0) {
        st->status = cln_xstrdup(started ? "exited" : "created");
    } else {
        st->status = cln_xstrdup(state); /* "unknown": said as it is */
    }
}

static int parse_one(const cJSON *o, size_t idx, struct cln_container_state *st,
                     enum cln_apple_schema *schema, struct cln_error **err)
{
    memset(st, 0, sizeof(*st));
    st->exit_code = -1; /* the CLI records none (docs/runtime.md) */
    const cJSON *status = item(o, "status");
    const cJSON *cfg = item(o, "configuration");
    if (!cJSON_IsObject(cfg) || !(cJSON_IsString(status) || cJSON_IsObject(status)))
        return cln_error_set(err, CLN_E_PARSE, 0,
                             "container %zu of the answer: neither shape (a status string or "
                             "object, and a configuration)",
                             idx);
    const char *id = str(o, "id");
    if (!id)
        id = str(cfg, "id");
    if (!id)
        return cln_error_set(err, CLN_E_PARSE, 0, "container %zu of the answer has no id", idx);
    st->id = cln_xstrdup(id);
    st->name = cln_xstrdup(id); /* --name becomes the id */
    const cJSON *image = item(cfg, "image");
    st->image_id = dup0(str(item(image, "descriptor"), "digest"));
    parse_labels(item(cfg, "labels"), &st->labels);
    parse_ports(item(cfg, "publishedPorts"), st);
    if (cJSON_IsString(status)) { /* 0.x */
        *schema = CLN_APPLE_SCHEMA_0;
        const cJSON *sd = item(o, "startedDate");
        if (cJSON_IsNumber(sd))
            st->started_at = cln_apple_date_iso(sd->valuedouble);
        set_status(st, status->valuestring, st->started_at != NULL);
        parse_networks(item(o, "networks"), st);
    } else { /* 1.x */
        *schema = CLN_APPLE_SCHEMA_1;
        const char *state = str(status, "state");
        st->started_at = dup0(str(status, "startedDate"));
        set_status(st, state ? state : "unknown", st->started_at != NULL);
        parse_networks(item(status, "networks"), st);
    }
    return 0;
}

void cln_apple_states_free(struct cln_container_state *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cln_container_state_done(&s[i]);
    free(s);
}

int cln_apple_parse_containers(const char *json, size_t len, struct cln_container_state **ret,
                               size_t *ret_n, enum cln_apple_schema *ret_schema,
                               struct cln_error **err)
{
    *ret = NULL;
    *ret_n = 0;
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return cln_error_set(err, CLN_E_PARSE, 0, "the answer is not a JSON array");
    }
    size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
    struct cln_container_state *s = cln_xcalloc(n ? n : 1, sizeof(*s));
    enum cln_apple_schema schema = CLN_APPLE_SCHEMA_1;
    const cJSON *o;
    cJSON_ArrayForEach(o, j)
    {
        if (parse_one(o, i, &s[i], &schema, err) < 0) {
            cln_container_state_done(&s[i]);
            cln_apple_states_free(s, i);
            cJSON_Delete(j);
            return -1;
        }
        i++;
    }
    cJSON_Delete(j);
    *ret = s;
    *ret_n = n;
    if (ret_schema)
        *ret_schema = schema;
    return 0;
}

char *cln_apple_parse_system_status(const char *json, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    char *s = dup0(str(j, "status"));
    cJSON_Delete(j);
    return s;
}

int cln_apple_parse_image(const char *json, size_t len, struct cln_image_info *ret,
                          struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return cln_error_set(err, CLN_E_PARSE, 0, "the image answer is not a JSON array");
    }
    const cJSON *o = cJSON_GetArrayItem(j, 0);
    if (!o) {
        cJSON_Delete(j);
        return 0;
    }
    const cJSON *cfg = item(o, "configuration");
    const char *digest = str(item(cfg, "descriptor"), "digest");
    if (!digest)
        digest = str(item(o, "index"), "digest"); /* 0.x releases: {name, index, variants} */
    if (!digest)
        digest = str(item(o, "descriptor"), "digest");
    if (!digest) {
        cJSON_Delete(j);
        return cln_error_set(err, CLN_E_PARSE, 0, "the image answer has no descriptor digest");
    }
    ret->id = cln_xstrdup(digest);
    ret->digest = cln_xstrdup(digest);
    /* 1.x: the OCI image config of each variant; 0.x prints none */
    const cJSON *oci = item(item(cJSON_GetArrayItem(item(o, "variants"), 0), "config"), "config");
    const cJSON *a;
    const cJSON *ep = item(oci, "Entrypoint"), *cmd = item(oci, "Cmd");
    const cJSON *none = NULL;
    if (!cJSON_IsArray(ep))
        ep = none;
    if (!cJSON_IsArray(cmd))
        cmd = none;
    cJSON_ArrayForEach(a, ep)
    {
        if (cJSON_IsString(a))
            cln_strv_add(&ret->entrypoint, a->valuestring);
    }
    cJSON_ArrayForEach(a, cmd)
    {
        if (cJSON_IsString(a))
            cln_strv_add(&ret->cmd, a->valuestring);
    }
    cJSON_Delete(j);
    return 1;
}

bool cln_apple_image_has_config(const char *json, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *v0 = cJSON_GetArrayItem(item(cJSON_GetArrayItem(j, 0), "variants"), 0);
    bool r = cJSON_IsObject(item(item(v0, "config"), "config"));
    cJSON_Delete(j);
    return r;
}

/* id or name, at the top or in configuration (1.x) or config */
static const char *resource_name(const cJSON *o)
{
    static const char *const keys[] = {"id", "name"};
    const cJSON *where[] = {o, item(o, "configuration"), item(o, "config")};
    for (size_t w = 0; w < 3; w++)
        for (size_t k = 0; k < 2; k++)
            if (str(where[w], keys[k]))
                return str(where[w], keys[k]);
    return NULL;
}

int cln_apple_parse_resources(const char *json, size_t len, struct cln_resource **ret,
                              size_t *ret_n, struct cln_error **err)
{
    *ret = NULL;
    *ret_n = 0;
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return cln_error_set(err, CLN_E_PARSE, 0, "the answer is not a JSON array");
    }
    size_t n = (size_t)cJSON_GetArraySize(j), k = 0;
    struct cln_resource *r = cln_xcalloc(n ? n : 1, sizeof(*r));
    const cJSON *o;
    cJSON_ArrayForEach(o, j)
    {
        const char *name = resource_name(o);
        if (!name) {
            cln_resources_free(r, k);
            cJSON_Delete(j);
            return cln_error_set(err, CLN_E_PARSE, 0, "entry %zu of the answer has no id or name",
                                 k);
        }
        r[k].name = cln_xstrdup(name);
        parse_labels(item(o, "labels"), &r[k].labels);
        parse_labels(item(item(o, "configuration"), "labels"), &r[k].labels);
        parse_labels(item(item(o, "config"), "labels"), &r[k].labels);
        k++;
    }
    cJSON_Delete(j);
    *ret = r;
    *ret_n = k;
    return 0;
}

int cln_apple_parse_process(const char *json, size_t len, struct cln_strv *ret,
                            struct cln_error **err)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *p = item(item(cJSON_GetArrayItem(j, 0), "configuration"), "initProcess");
    const char *exe = str(p, "executable");
    if (!exe) {
        cJSON_Delete(j);
        return cln_error_set(err, CLN_E_PARSE, 0, "the answer has no initProcess.executable");
    }
    cln_strv_add(ret, exe);
    const cJSON *a, *args = item(p, "arguments");
    if (!cJSON_IsArray(args))
        args = NULL;
    cJSON_ArrayForEach(a, args)
    {
        if (cJSON_IsString(a))
            cln_strv_add(ret, a->valuestring);
    }
    cJSON_Delete(j);
    return 0;
}
