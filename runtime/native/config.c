/* An image config blob (OCI image-spec config.md, Docker's image JSON) into
 * struct cln_image_config: what starting a container from it needs. */
#include <string.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store.h"

static char *str_or_null(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? cln_xstrdup(v->valuestring) : NULL;
}

/* A JSON array of strings into v; *ret_has tells whether it was an array. */
static int strings(const cJSON *o, const char *key, struct cln_strv *v, bool *ret_has,
                   struct cln_error **err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (ret_has)
        *ret_has = cJSON_IsArray(a);
    if (!a || cJSON_IsNull(a))
        return 0;
    if (cJSON_IsString(a)) { /* some writers give a lone string */
        cln_strv_add(v, a->valuestring);
        if (ret_has)
            *ret_has = true;
        return 0;
    }
    if (!cJSON_IsArray(a))
        return cln_error_set(err, CLN_E_PARSE, 0, "image config: %s is not an array", key);
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it))
            return cln_error_set(err, CLN_E_PARSE, 0, "image config: %s has a non-string", key);
        cln_strv_add(v, it->valuestring);
    }
    return 0;
}

static int64_t number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
}

static int parse_inner(const cJSON *cfg, struct cln_image_config *c, struct cln_error **err)
{
    if (strings(cfg, "Entrypoint", &c->entrypoint, &c->has_entrypoint, err) < 0 ||
        strings(cfg, "Cmd", &c->cmd, &c->has_cmd, err) < 0 ||
        strings(cfg, "Env", &c->env, NULL, err) < 0)
        return -CLN_E_PARSE;
    c->working_dir = str_or_null(cfg, "WorkingDir");
    c->user = str_or_null(cfg, "User");
    const cJSON *it;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cfg, "Labels");
    if (!cJSON_IsObject(labels))
        labels = NULL;
    cJSON_ArrayForEach(it, labels)
    {
        if (!cJSON_IsString(it))
            return cln_error_set(err, CLN_E_PARSE, 0, "image config: label '%s' is not a string",
                                 it->string);
        cln_strv_add(&c->label_keys, it->string);
        cln_strv_add(&c->label_values, it->valuestring);
    }
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(cfg, "ExposedPorts");
    if (!cJSON_IsObject(ports))
        ports = NULL;
    cJSON_ArrayForEach(it, ports)
    {
        cln_strv_add(&c->exposed_ports, it->string);
    }
    const cJSON *hc = cJSON_GetObjectItemCaseSensitive(cfg, "Healthcheck");
    if (cJSON_IsObject(hc)) {
        c->has_healthcheck = true;
        if (strings(hc, "Test", &c->health_test, NULL, err) < 0)
            return -CLN_E_PARSE;
        c->health_interval_ns = number(hc, "Interval");
        c->health_timeout_ns = number(hc, "Timeout");
        c->health_start_period_ns = number(hc, "StartPeriod");
        c->health_retries = (int)number(hc, "Retries");
    }
    return 0;
}

int cln_image_config_parse(const char *json, size_t len, struct cln_image_config **ret,
                           struct cln_error **err)
{
    cleanup_json cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root))
        return cln_error_set(err, CLN_E_PARSE, 0, "image config: not a JSON object");
    struct cln_image_config *c = cln_xcalloc(1, sizeof(*c));
    c->os = str_or_null(root, "os");
    c->architecture = str_or_null(root, "architecture");
    c->created = str_or_null(root, "created");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(root, "rootfs");
    int r = cJSON_IsObject(cfg) ? parse_inner(cfg, c, err) : 0;
    if (r == 0 && !cJSON_IsObject(rootfs))
        r = cln_error_set(err, CLN_E_PARSE, 0, "image config: no rootfs");
    if (r == 0 && strings(rootfs, "diff_ids", &c->diff_ids, NULL, err) < 0)
        r = -CLN_E_PARSE;
    if (r < 0) {
        cln_image_config_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

void cln_image_config_free(struct cln_image_config *c)
{
    if (!c)
        return;
    free(c->os);
    free(c->architecture);
    free(c->created);
    free(c->working_dir);
    free(c->user);
    cln_strv_done(&c->entrypoint);
    cln_strv_done(&c->cmd);
    cln_strv_done(&c->env);
    cln_strv_done(&c->label_keys);
    cln_strv_done(&c->label_values);
    cln_strv_done(&c->exposed_ports);
    cln_strv_done(&c->health_test);
    cln_strv_done(&c->diff_ids);
    free(c);
}
