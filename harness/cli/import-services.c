/* `cleanrun import clnrm`: clnrm's [services] (or [service]) as cleanrun's
 * [services.NAME]: the image (tagged as clnrm tags it), args, env, ports,
 * volumes as mounts, health_check as ready, and [limits] (memory, cpus); a
 * plugin only as a plain container of its image. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "toml-writer.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

void cln_import_image_note(struct cln_import *I, struct cln_buf *nb, const char *ref)
{
    if (cln_strv_contains(&I->images, ref))
        return;
    cln_strv_add(&I->images, ref);
    cln_import_note(
        nb,
        "image \"%s\" is used as it is: it must be present in the engine's local images "
        "(pull or import it beforehand; cleanrun does not pull from a public registry here)",
        ref);
}

/* A host name on the test network from a clnrm service name: lower-case
 * letters, digits, '-', '_'; each once. */
char *cln_import_host_name(struct cln_import *I, te *e)
{
    struct cln_buf b = CLN_BUF_INIT;
    for (size_t i = 0; i < e->keylen; i++) {
        char c = e->key[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        cln_buf_putc(&b, ok ? c : '-');
    }
    if (!b.len)
        cln_buf_puts(&b, "service");
    size_t base = b.len;
    for (unsigned n = 2;; n++) {
        bool taken = false;
        for (size_t i = 0; i < I->nsvcs; i++)
            taken = taken || (I->svcs[i].name && strcmp(I->svcs[i].name, b.data) == 0);
        if (!taken)
            break;
        b.len = base;
        cln_buf_printf(&b, "-%u", n);
    }
    return cln_buf_steal(&b);
}

const struct cln_import_svc *cln_import_find_svc(const struct cln_import *I, const char *key,
                                                 size_t len)
{
    for (size_t i = 0; i < I->nsvcs; i++)
        if (strlen(I->svcs[i].key) == len && memcmp(I->svcs[i].key, key, len) == 0)
            return &I->svcs[i];
    return NULL;
}

static void put_cpus(struct cln_buf *kb, int64_t millicores)
{
    char d[32];
    snprintf(d, sizeof(d), "%lld.%03lld", (long long)(millicores / 1000),
             (long long)(millicores % 1000));
    size_t n = strlen(d);
    while (d[n - 1] == '0' && d[n - 2] != '.')
        d[--n] = '\0';
    cln_buf_printf(kb, "cpus = %s\n", d);
}

/* health_check = { cmd, interval, timeout, retries } as ready. */
static void put_ready(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *hc,
                      const char *path)
{
    size_t errors = I->nerrors;
    te *cmd = NULL;
    int64_t secs[3] = {-1, -1, -1}; /* interval, timeout, retries */
    static const char *const nk[] = {"interval", "timeout", "retries"};
    for (size_t i = 0; i < cln_toml_table_len(hc); i++) {
        te *e = cln_toml_table_at(hc, i);
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), path, e);
        size_t k = 0;
        while (k < 3 && !cln_import_key_is(e, nk[k]))
            k++;
        if (cln_import_key_is(e, "cmd")) {
            if (cln_import_want_strings(I, e->value, w))
                cmd = e;
        } else if (k < 3) {
            if (cln_import_want_type(I, e->value, CLN_TOML_INTEGER, "an integer", w)) {
                if (e->value->u.integer < 0)
                    cln_import_err_at(I, e->value->pos, "%s must not be negative", w);
                else
                    secs[k] = e->value->u.integer;
            }
        } else {
            cln_import_lost(I, nb, e->pos, w,
                            "not a key of clnrm's health_check: clnrm ignores it");
        }
    }
    if (!cmd || !cln_toml_array_len(cmd->value)) {
        if (I->nerrors == errors)
            cln_import_err_at(I, hc->pos, "%s needs a cmd (clnrm requires one)", path);
        return;
    }
    tv *a = cmd->value;
    size_t n = cln_toml_array_len(a);
    tv *a0 = cln_toml_array_at(a, 0);
    bool shell = n == 2 && strcmp(a0->u.str.ptr, "CMD-SHELL") == 0;
    bool docker_cmd = n > 1 && strcmp(a0->u.str.ptr, "CMD") == 0;
    char w[PATHLEN];
    cln_import_pathf(w, sizeof(w), "%s.cmd", path);
    cln_buf_puts(kb, "ready = { exec = ");
    if (shell) {
        cln_import_pathf(w, sizeof(w), "%s.cmd[1]", path);
        cln_import_put_conv(I, kb, nb, cln_toml_array_at(a, 1), w);
    } else {
        cln_import_put_conv_array(I, kb, nb, a, docker_cmd ? 1 : 0, w);
    }
    if (secs[0] > 0) {
        cln_buf_puts(kb, ", ");
        cln_import_put_duration(kb, "interval", (uint64_t)secs[0] * 1000);
    }
    if (secs[2] > 0 && secs[0] >= 0 && (secs[0] > 0 || secs[1] > 0) && secs[2] < 100000 &&
        secs[0] < 1000000 && secs[1] < 1000000) {
        uint64_t each = (uint64_t)secs[0] + (uint64_t)(secs[1] > 0 ? secs[1] : 0);
        cln_buf_puts(kb, ", ");
        cln_import_put_duration(kb, "timeout", (uint64_t)secs[2] * each * 1000);
        cln_import_note(nb,
                        "health_check: ready.timeout is retries x (interval + timeout) of clnrm's");
    }
    cln_buf_puts(kb, " }\n");
}

/* volumes = [{ host_path, container_path, read_only }] as mounts. */
static void put_mounts(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *vols,
                       const char *path)
{
    if (!cln_import_want_type(I, vols, CLN_TOML_ARRAY, "an array of tables", path))
        return;
    struct cln_buf m = CLN_BUF_INIT;
    for (size_t i = 0; i < cln_toml_array_len(vols); i++) {
        tv *v = cln_toml_array_at(vols, i);
        char w[PATHLEN];
        cln_import_pathf(w, sizeof(w), "%s[%zu]", path, i);
        if (!cln_import_want_type(I, v, CLN_TOML_TABLE, "a table", w))
            continue;
        tv *src = NULL, *dst = NULL, *ro = NULL;
        size_t errors = I->nerrors;
        for (size_t k = 0; k < cln_toml_table_len(v); k++) {
            te *e = cln_toml_table_at(v, k);
            char kw[PATHLEN];
            cln_import_path_of(kw, sizeof(kw), w, e);
            if (cln_import_key_is(e, "host_path") || cln_import_key_is(e, "container_path")) {
                if (cln_import_want_type(I, e->value, CLN_TOML_STRING, "a string", kw)) {
                    if (e->value->u.str.ptr[0] != '/')
                        cln_import_err_at(I, e->value->pos,
                                          "%s must be an absolute path (clnrm requires it)", kw);
                    else if (cln_import_key_is(e, "host_path"))
                        src = e->value;
                    else
                        dst = e->value;
                }
            } else if (cln_import_key_is(e, "read_only")) {
                if (cln_import_want_type(I, e->value, CLN_TOML_BOOL, "a boolean", kw))
                    ro = e->value;
            } else {
                cln_import_lost(I, nb, e->pos, kw,
                                "not a key of clnrm's volumes: clnrm ignores it");
            }
        }
        if (!src || !dst) {
            if (I->nerrors == errors)
                cln_import_err_at(I, v->pos,
                                  "%s needs host_path and container_path (clnrm requires both)", w);
            continue;
        }
        cln_buf_puts(&m, m.len ? ", { source = " : "mounts = [{ source = ");
        cln_import_put_conv(I, &m, nb, src, w);
        cln_buf_puts(&m, ", target = ");
        cln_import_put_conv(I, &m, nb, dst, w);
        if (ro && ro->u.boolean)
            cln_buf_puts(&m, ", read_only = true");
        cln_buf_puts(&m, " }");
    }
    if (m.len) {
        cln_import_note(nb, "volumes -> mounts: host paths, which cleanrun mounts only with "
                            "`--allow-host-mounts` (run and validate)");
        cln_buf_append(kb, m.data, m.len);
        cln_buf_puts(kb, "]\n");
    }
    cln_buf_done(&m);
}

static void put_ports(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *a,
                      const char *path)
{
    if (!cln_import_want_type(I, a, CLN_TOML_ARRAY, "an array of integers", path))
        return;
    size_t n = 0;
    for (size_t i = 0; i < cln_toml_array_len(a); i++) {
        tv *p = cln_toml_array_at(a, i);
        char w[PATHLEN];
        cln_import_pathf(w, sizeof(w), "%s[%zu]", path, i);
        if (!cln_import_want_type(I, p, CLN_TOML_INTEGER, "an integer", w))
            continue;
        if (p->u.integer < 1 || p->u.integer > 65535) {
            cln_import_lost(I, nb, p->pos, w, "%lld is not a port (1-65535)",
                            (long long)p->u.integer);
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup = dup || cln_toml_array_at(a, k)->u.integer == p->u.integer;
        if (dup)
            continue;
        cln_buf_printf(kb, "%s%lld", n++ ? ", " : "ports = [", (long long)p->u.integer);
    }
    if (n)
        cln_buf_puts(kb, "]\n");
}

/* A service as [services.NAME]; false if it is not converted. */
bool cln_import_convert_service(struct cln_import *I, te *se, const char *tname,
                                const struct cln_import_svc *sv)
{
    char path[PATHLEN];
    cln_import_path_of(path, sizeof(path), tname, se);
    if (!cln_import_want_type(I, se->value, CLN_TOML_TABLE, "a table", path))
        return false;
    cleanup_buf struct cln_buf nb = CLN_BUF_INIT;
    cleanup_buf struct cln_buf kb = CLN_BUF_INIT;
    cleanup_free char *ref = NULL;
    char w[PATHLEN];
    size_t errors = I->nerrors;
    te *plugin = NULL, *type = NULL, *image = NULL, *args = NULL, *ports = NULL, *vols = NULL,
       *hc = NULL;
    te *env[2] = {NULL, NULL};
    const struct cln_import_slot strs[] = {{"plugin", &plugin}, {"type", &type}, {"image", &image}};
    for (size_t i = 0; i < cln_toml_table_len(se->value); i++) {
        te *e = cln_toml_table_at(se->value, i);
        te **at = cln_import_slot_of(e, strs, CLN_ARRAY_SIZE(strs));
        cln_import_path_of(w, sizeof(w), path, e);
        if (at) {
            if (cln_import_want_type(I, e->value, CLN_TOML_STRING, "a string", w))
                *at = e;
        } else if (cln_import_key_is(e, "args")) {
            if (cln_import_want_strings(I, e->value, w))
                args = e;
        } else if (cln_import_key_is(e, "env") || cln_import_key_is(e, "env_vars")) {
            if (cln_import_want_string_table(I, e->value, w))
                env[cln_import_key_is(e, "env") ? 0 : 1] = e;
        } else if (cln_import_key_is(e, "ports")) {
            ports = e;
        } else if (cln_import_key_is(e, "volumes")) {
            vols = e;
        } else if (cln_import_key_is(e, "health_check")) {
            if (cln_import_want_type(I, e->value, CLN_TOML_TABLE, "a table", w))
                hc = e;
        } else if (cln_import_key_is(e, "username") || cln_import_key_is(e, "password") ||
                   cln_import_key_is(e, "strict")) {
            cln_import_lost(I, &nb, e->pos, w, "a setting of clnrm's surrealdb plugin");
        } else if (cln_import_key_is(e, "wait_for_span") ||
                   cln_import_key_is(e, "wait_for_span_timeout_secs")) {
            cln_import_lost(I, &nb, e->pos, w,
                            "waits for an OpenTelemetry span: cleanrun collects no spans; give the "
                            "service a ready check");
        } else {
            cln_import_lost(I, &nb, e->pos, w, "not a key of clnrm's services: clnrm ignores it");
        }
    }
    te *pe = plugin ? plugin : type;
    const char *kind = pe ? pe->value->u.str.ptr : "generic_container";
    if (strcmp(kind, "generic_container") != 0) {
        cln_import_path_of(w, sizeof(w), path, pe);
        if (!image) {
            cln_buf_putc(&I->services, '\n');
            cln_import_lost(
                I, &I->services, se->pos, path,
                "plugin \"%s\" without an image: cleanrun starts containers of images, and "
                "has no plugins",
                kind);
            return false;
        }
        cln_import_lost(
            I, &nb, pe->pos, w,
            "plugin \"%s\": the service is converted as a plain container of its image; what "
            "the plugin does besides is not",
            kind);
    }
    if (!image) {
        if (I->nerrors == errors)
            cln_import_err_at(I, se->pos,
                              "%s has no image (clnrm's generic_container requires one)", path);
        return false;
    }
    cln_import_path_of(w, sizeof(w), path, image);
    ref = cln_import_conv_text(I, &nb, image->value->u.str.ptr, image->value->u.str.len,
                               image->value->pos, w);
    if (!ref)
        return false;
    if (!*ref) {
        cln_import_err_at(I, image->value->pos, "%s is empty (clnrm requires an image)", w);
        return false;
    }
    if (!strpbrk(ref, ":/@")) {
        char *tagged = cln_xasprintf("%s:latest", ref);
        free(ref);
        ref = tagged;
        cln_import_note(&nb, "image \"%s\" without a tag: clnrm adds \":latest\"",
                        image->value->u.str.ptr);
    }
    cln_import_image_note(I, &nb, ref);
    cln_buf_puts(&kb, "image = ");
    cln_toml_put_cstr(&kb, ref);
    cln_buf_putc(&kb, '\n');
    if (args) {
        cln_import_path_of(w, sizeof(w), path, args);
        cln_buf_puts(&kb, "command = ");
        cln_import_put_conv_array(I, &kb, &nb, args->value, 0, w);
        cln_buf_putc(&kb, '\n');
    }
    if (env[0] && env[1]) {
        cln_import_path_of(w, sizeof(w), path, env[1]);
        cln_import_lost(I, &nb, env[1]->pos, w,
                        "env is there too: env is the key of clnrm's format");
        env[1] = NULL;
    }
    if (!env[0] && env[1]) {
        cln_import_note(&nb, "env_vars (as clnrm's book writes it) is converted as env");
        env[0] = env[1];
    }
    if (env[0]) {
        cln_import_path_of(w, sizeof(w), path, env[0]);
        cln_import_put_env(I, &kb, &nb, env[0]->value, w);
    }
    if (ports) {
        cln_import_path_of(w, sizeof(w), path, ports);
        put_ports(I, &kb, &nb, ports->value, w);
    }
    if (vols) {
        cln_import_path_of(w, sizeof(w), path, vols);
        put_mounts(I, &kb, &nb, vols->value, w);
    }
    if (hc) {
        cln_import_path_of(w, sizeof(w), path, hc);
        put_ready(I, &kb, &nb, hc->value, w);
    }
    if (I->memory_mb)
        cln_buf_printf(&kb, "memory = \"%lldMiB\"\n", (long long)I->memory_mb);
    if (I->millicores)
        put_cpus(&kb, I->millicores);
    cln_buf_puts(&I->services, "\n[services.");
    cln_toml_put_key(&I->services, sv->name, strlen(sv->name));
    cln_buf_puts(&I->services, "]\n");
    if (strcmp(sv->name, sv->key) != 0)
        cln_import_note(
            &I->services,
            "clnrm's service \"%s\" is \"%s\" here (a host name: lower-case letters, digits, "
            "'-' and '_')",
            sv->key, sv->name);
    if (nb.len)
        cln_buf_append(&I->services, nb.data, nb.len);
    cln_buf_append(&I->services, kb.data, kb.len);
    return true;
}
