/* JSON shapes of the Docker Engine API 1.41 (and Podman's compat API). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker-internal.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

cJSON *cln_docker_strv_json(const char *const *v)
{
    cJSON *a = cJSON_CreateArray();
    for (; v && *v; v++)
        cJSON_AddItemToArray(a, cJSON_CreateString(*v));
    return a;
}

cJSON *cln_docker_labels_json(const struct cln_labels *l)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; l && i < l->len; i++)
        cJSON_AddStringToObject(o, l->items[i].key, l->items[i].value);
    return o;
}

cJSON *cln_docker_create_body(const struct cln_container_config *cfg)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "Image", cfg->image);
    if (cfg->cmd)
        cJSON_AddItemToObject(b, "Cmd", cln_docker_strv_json(cfg->cmd));
    if (cfg->entrypoint)
        cJSON_AddItemToObject(b, "Entrypoint", cln_docker_strv_json(cfg->entrypoint));
    cJSON_AddItemToObject(b, "Env", cln_docker_strv_json(cfg->env));
    if (cfg->workdir)
        cJSON_AddStringToObject(b, "WorkingDir", cfg->workdir);
    if (cfg->user)
        cJSON_AddStringToObject(b, "User", cfg->user);
    cJSON_AddItemToObject(b, "Labels", cln_docker_labels_json(cfg->labels));
    cJSON_AddBoolToObject(b, "Tty", false);
    cJSON_AddBoolToObject(b, "OpenStdin", false);
    cJSON_AddBoolToObject(b, "AttachStdout", false);
    cJSON_AddBoolToObject(b, "AttachStderr", false);

    cJSON *hc = cJSON_AddObjectToObject(b, "HostConfig");
    if (cfg->nports) {
        cJSON *exposed = cJSON_AddObjectToObject(b, "ExposedPorts");
        cJSON *pb = cJSON_AddObjectToObject(hc, "PortBindings");
        for (size_t i = 0; i < cfg->nports; i++) {
            char key[32], hp[8];
            snprintf(key, sizeof(key), "%u/%s", cfg->ports[i].container_port,
                     cfg->ports[i].proto ? cfg->ports[i].proto : "tcp");
            snprintf(hp, sizeof(hp), "%u", cfg->ports[i].host_port);
            cJSON_AddItemToObject(exposed, key, cJSON_CreateObject());
            cJSON *arr = cJSON_AddArrayToObject(pb, key);
            cJSON *bind = cJSON_CreateObject();
            cJSON_AddStringToObject(bind, "HostIp", "127.0.0.1");
            cJSON_AddStringToObject(bind, "HostPort", cfg->ports[i].host_port ? hp : "");
            cJSON_AddItemToArray(arr, bind);
        }
    }
    if (cfg->nmounts) {
        cJSON *mounts = cJSON_AddArrayToObject(hc, "Mounts");
        for (size_t i = 0; i < cfg->nmounts; i++) {
            const struct cln_mount *m = &cfg->mounts[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "Type",
                                    m->type == CLN_MOUNT_BIND     ? "bind"
                                    : m->type == CLN_MOUNT_VOLUME ? "volume"
                                                                  : "tmpfs");
            if (m->source)
                cJSON_AddStringToObject(o, "Source", m->source);
            cJSON_AddStringToObject(o, "Target", m->target);
            cJSON_AddBoolToObject(o, "ReadOnly", m->read_only);
            if (m->type == CLN_MOUNT_TMPFS && (m->tmpfs_size || m->tmpfs_mode)) {
                cJSON *t = cJSON_AddObjectToObject(o, "TmpfsOptions");
                if (m->tmpfs_size)
                    cJSON_AddNumberToObject(t, "SizeBytes", (double)m->tmpfs_size);
                if (m->tmpfs_mode)
                    cJSON_AddNumberToObject(t, "Mode", (double)m->tmpfs_mode);
            }
            cJSON_AddItemToArray(mounts, o);
        }
    }
    if (cfg->memory_bytes) {
        cJSON_AddNumberToObject(hc, "Memory", (double)cfg->memory_bytes);
        cJSON_AddNumberToObject(hc, "MemorySwap", (double)cfg->memory_bytes);
    }
    if (cfg->nano_cpus)
        cJSON_AddNumberToObject(hc, "NanoCpus", (double)cfg->nano_cpus);
    if (cfg->pids_limit)
        cJSON_AddNumberToObject(hc, "PidsLimit", (double)cfg->pids_limit);
    if (cfg->network)
        cJSON_AddStringToObject(hc, "NetworkMode", cfg->network);
    if (cfg->init)
        cJSON_AddBoolToObject(hc, "Init", true);
    if (cfg->read_only_rootfs)
        cJSON_AddBoolToObject(hc, "ReadonlyRootfs", true);
    if (cfg->privileged)
        cJSON_AddBoolToObject(hc, "Privileged", true);
    if (cfg->pid_host)
        cJSON_AddStringToObject(hc, "PidMode", "host");
    if (cfg->no_new_privileges) {
        cJSON *so = cJSON_AddArrayToObject(hc, "SecurityOpt");
        cJSON_AddItemToArray(so, cJSON_CreateString("no-new-privileges"));
    }
    if (cfg->cap_add)
        cJSON_AddItemToObject(hc, "CapAdd", cln_docker_strv_json(cfg->cap_add));
    if (cfg->cap_drop)
        cJSON_AddItemToObject(hc, "CapDrop", cln_docker_strv_json(cfg->cap_drop));
    if (cfg->extra_hosts)
        cJSON_AddItemToObject(hc, "ExtraHosts", cln_docker_strv_json(cfg->extra_hosts));
    /* Aliases only exist on user-defined networks. */
    if (cfg->network && cfg->network_aliases && strcmp(cfg->network, "none") != 0 &&
        strcmp(cfg->network, "host") != 0 && strcmp(cfg->network, "bridge") != 0) {
        cJSON *nc = cJSON_AddObjectToObject(b, "NetworkingConfig");
        cJSON *ec = cJSON_AddObjectToObject(nc, "EndpointsConfig");
        cJSON *ep = cJSON_AddObjectToObject(ec, cfg->network);
        cJSON_AddItemToObject(ep, "Aliases", cln_docker_strv_json(cfg->network_aliases));
    }
    return b;
}

static char *dup_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? cln_xstrdup(v->valuestring) : NULL;
}

static int parse_fail(struct cln_error **err, const char *what)
{
    return cln_error_set(err, CLN_E_PARSE, 0, "unexpected JSON from the engine (%s)", what);
}

void cln_docker_labels_from_json(const cJSON *obj, struct cln_labels *ret)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (cJSON_IsString(it) && it->string)
            cln_labels_set(ret, it->string, it->valuestring);
    }
}

/* Config.Healthcheck: Test is ["CMD", argv...], ["CMD-SHELL", command] or
 * ["NONE"]; Docker and Podman both report it from the image. */
static void health_from_json(const cJSON *hc, struct cln_container_state *s)
{
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(hc, "Test");
    int n = cJSON_GetArraySize(test);
    const cJSON *kind = cJSON_GetArrayItem(test, 0);
    if (n < 2 || !cJSON_IsString(kind))
        return;
    for (int i = 1; i < n; i++)
        if (!cJSON_IsString(cJSON_GetArrayItem(test, i)))
            return;
    bool shell = strcmp(kind->valuestring, "CMD-SHELL") == 0;
    if (!shell && strcmp(kind->valuestring, "CMD") != 0)
        return;
    size_t argc = shell ? 3 : (size_t)n - 1;
    char **argv = cln_xcalloc(argc + 1, sizeof(*argv));
    if (shell) {
        argv[0] = cln_xstrdup("/bin/sh");
        argv[1] = cln_xstrdup("-c");
        argv[2] = cln_xstrdup(cJSON_GetArrayItem(test, 1)->valuestring);
    } else {
        for (int i = 1; i < n; i++)
            argv[i - 1] = cln_xstrdup(cJSON_GetArrayItem(test, i)->valuestring);
    }
    s->health_argv = argv;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(hc, "Timeout");
    if (cJSON_IsNumber(t) && t->valuedouble > 0)
        s->health_timeout_ms = (uint64_t)(t->valuedouble / 1e6);
}

int cln_docker_parse_inspect(const char *json, size_t len, struct cln_container_state *ret,
                             struct cln_error **err)
{
    cleanup_json cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(j))
        return parse_fail(err, "container inspect");
    struct cln_container_state s;
    memset(&s, 0, sizeof(s));
    s.id = dup_str(j, "Id");
    char *name = dup_str(j, "Name");
    if (name && name[0] == '/')
        memmove(name, name + 1, strlen(name));
    s.name = name;
    s.image_id = dup_str(j, "Image");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "State");
    if (!s.id || !cJSON_IsObject(st)) {
        cln_container_state_done(&s);
        return parse_fail(err, "container inspect: no Id or State");
    }
    s.status = dup_str(st, "Status");
    s.running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "Running"));
    s.oom_killed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "OOMKilled"));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, "ExitCode");
    s.exit_code = cJSON_IsNumber(v) ? v->valueint : 0;
    v = cJSON_GetObjectItemCaseSensitive(st, "Pid");
    s.pid = cJSON_IsNumber(v) ? v->valueint : 0;
    s.started_at = dup_str(st, "StartedAt");
    s.finished_at = dup_str(st, "FinishedAt");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "Config");
    health_from_json(cJSON_GetObjectItemCaseSensitive(cfg, "Healthcheck"), &s);
    cln_docker_labels_from_json(cJSON_GetObjectItemCaseSensitive(cfg, "Labels"), &s.labels);
    const cJSON *nsettings = cJSON_GetObjectItemCaseSensitive(j, "NetworkSettings");
    const cJSON *net;
    size_t ncap = 0;
    cJSON_ArrayForEach(net, cJSON_GetObjectItemCaseSensitive(nsettings, "Networks"))
    {
        if (!net->string)
            continue;
        s.networks = cln_xgrow(s.networks, &ncap, s.nnetworks + 1, sizeof(*s.networks));
        struct cln_network_address *na = &s.networks[s.nnetworks++];
        na->network = cln_xstrdup(net->string);
        char *ip = dup_str(net, "IPAddress");
        if (ip && !*ip) {
            free(ip);
            ip = NULL;
        }
        na->ip = ip;
    }
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(nsettings, "Ports");
    const cJSON *p;
    size_t cap = 0;
    cJSON_ArrayForEach(p, ports)
    {
        unsigned cport = 0;
        char proto[8] = "tcp";
        if (!p->string || sscanf(p->string, "%u/%7s", &cport, proto) < 1)
            continue;
        const cJSON *b;
        cJSON_ArrayForEach(b, p)
        {
            const cJSON *hp = cJSON_GetObjectItemCaseSensitive(b, "HostPort");
            const cJSON *hip = cJSON_GetObjectItemCaseSensitive(b, "HostIp");
            /* One binding per port: the IPv4 one. */
            if (!cJSON_IsString(hp) || (cJSON_IsString(hip) && strchr(hip->valuestring, ':')))
                continue;
            s.ports = cln_xgrow(s.ports, &cap, s.nports + 1, sizeof(*s.ports));
            struct cln_port_binding *pb = &s.ports[s.nports++];
            pb->container_port = (uint16_t)cport;
            snprintf(pb->proto, sizeof(pb->proto), "%s", proto);
            pb->host_port = (uint16_t)strtoul(hp->valuestring, NULL, 10);
            break;
        }
    }
    *ret = s;
    return 0;
}

int cln_docker_parse_list(const char *json, size_t len, struct cln_container_summary **ret,
                          size_t *ret_n, struct cln_error **err)
{
    cleanup_json cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(j))
        return parse_fail(err, "container list");
    size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
    struct cln_container_summary *v = cln_xcalloc(n ? n : 1, sizeof(*v));
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        struct cln_container_summary *s = &v[i++];
        s->id = dup_str(c, "Id");
        const cJSON *names = cJSON_GetObjectItemCaseSensitive(c, "Names");
        const cJSON *n0 = cJSON_GetArrayItem(names, 0);
        if (cJSON_IsString(n0))
            s->name =
                cln_xstrdup(n0->valuestring[0] == '/' ? n0->valuestring + 1 : n0->valuestring);
        s->image = dup_str(c, "Image");
        s->state = dup_str(c, "State");
        s->status = dup_str(c, "Status");
        const cJSON *cr = cJSON_GetObjectItemCaseSensitive(c, "Created");
        s->created = cJSON_IsNumber(cr) ? (int64_t)cr->valuedouble : 0;
        cln_docker_labels_from_json(cJSON_GetObjectItemCaseSensitive(c, "Labels"), &s->labels);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static int api_cmp(const char *a, const char *b)
{
    unsigned am = 0, an = 0, bm = 0, bn = 0;
    if (sscanf(a, "%u.%u", &am, &an) < 1 || sscanf(b, "%u.%u", &bm, &bn) < 1)
        return 0;
    if (am != bm)
        return am < bm ? -1 : 1;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

void cln_docker_pick_api(const char *min_api, const char *max_api, char *out, size_t size)
{
    const char *pick = "1.41";
    if (max_api && *max_api && api_cmp(max_api, pick) < 0)
        pick = max_api;
    if (min_api && *min_api && api_cmp(min_api, pick) > 0)
        pick = min_api;
    snprintf(out, size, "%s", pick);
}

int cln_docker_parse_version(const char *json, size_t len, struct cln_engine_info *ret,
                             char *min_api, size_t min_api_size, bool *podman,
                             struct cln_error **err)
{
    cleanup_json cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(j))
        return parse_fail(err, "version");
    struct cln_engine_info info;
    memset(&info, 0, sizeof(info));
    bool is_podman = false;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "Components"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "Name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "Podman Engine") == 0)
            is_podman = true;
    }
    info.engine = cln_xstrdup(is_podman ? "Podman Engine" : "Docker Engine");
    info.version = dup_str(j, "Version");
    info.api_version = dup_str(j, "ApiVersion");
    info.os = dup_str(j, "Os");
    info.arch = dup_str(j, "Arch");
    info.kernel = dup_str(j, "KernelVersion");
    char *min = dup_str(j, "MinAPIVersion");
    snprintf(min_api, min_api_size, "%s", min ? min : "");
    free(min);
    if (!info.version || !info.api_version) {
        cln_engine_info_done(&info);
        return parse_fail(err, "version: no Version or ApiVersion");
    }
    *ret = info;
    *podman = is_podman;
    return 0;
}

void cln_docker_label_filter(struct cln_buf *b, char sep, const char *label)
{
    cleanup_json cJSON *f = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(f, "label");
    cJSON_AddItemToArray(arr, cJSON_CreateString(label));
    char *s = cJSON_PrintUnformatted(f);
    cln_buf_putc(b, sep);
    cln_buf_puts(b, "filters=");
    cln_http_escape(b, s);
    cJSON_free(s);
}
