/* [services]: image, command, env, files, ports, limits, aliases (host
 * names on the test network), readiness checks, depends_on and the start
 * levels (cycles refused). */
#include "spec-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"

/* ---- readiness ---- */

/* ready.http = "http://HOST:PORT/path": HOST is the service itself (its
 * name, an alias, localhost or 127.0.0.1); PORT one it listens on.  1 when
 * given, 0 when not. */
static int load_ready_http(struct cln_spec_loader *L, tv *rt, const char *w,
                           struct cln_spec_service *s, struct cln_error **err)
{
    struct cln_spec_ready *rd = &s->ready;
    cleanup_free char *url = NULL;
    int r = cln_spec_get_str(L, rt, "http", w, &url, err);
    if (r <= 0)
        return r;
    tv *v = cln_toml_table_find(rt, "http")->value;
    if (strncmp(url, "http://", 7) != 0)
        return cln_spec_err_at(L, v->pos, err,
                               "%s.http \"%s\": give a URL of the service, http://%s:PORT/path", w,
                               url, s->name);
    const char *host = url + 7;
    size_t hl = strcspn(host, ":/");
    bool self = (hl == strlen(s->name) && strncmp(host, s->name, hl) == 0) ||
                (hl == 9 && strncmp(host, "localhost", 9) == 0) ||
                (hl == 9 && strncmp(host, "127.0.0.1", 9) == 0);
    for (size_t i = 0; i < s->aliases.n && !self; i++)
        self = hl == strlen(s->aliases.v[i]) && strncmp(host, s->aliases.v[i], hl) == 0;
    if (!self)
        return cln_spec_err_at(
            L, v->pos, err,
            "%s.http \"%s\": the host must be the service itself (%s, an alias or "
            "localhost): a service is ready by what it serves",
            w, url, s->name);
    long port = 80;
    const char *rest = host + hl;
    if (*rest == ':') {
        char *end = NULL;
        port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
            return cln_spec_err_at(L, v->pos, err, "%s.http \"%s\": the port must be 1-65535", w,
                                   url);
        rest = end;
    }
    rd->kind = CLN_READY_HTTP;
    rd->http_port = (uint16_t)port;
    rd->http_path = cln_xstrdup(*rest ? rest : "/");
    const struct cln_toml_entry *st = cln_toml_table_find(rt, "status");
    if (st) {
        size_t n = st->value->type == CLN_TOML_ARRAY ? cln_toml_array_len(st->value) : 1;
        if (n == 0)
            return cln_spec_err_at(L, st->value->pos, err, "%s.status is empty", w);
        rd->statuses = cln_xcalloc(n, sizeof(int));
        for (size_t i = 0; i < n; i++) {
            tv *c = st->value->type == CLN_TOML_ARRAY ? cln_toml_array_at(st->value, i) : st->value;
            if (c->type != CLN_TOML_INTEGER || c->u.integer < 100 || c->u.integer > 599)
                return cln_spec_err_at(L, c->pos, err, "%s.status must be HTTP statuses (100-599)",
                                       w);
            rd->statuses[rd->nstatuses++] = (int)c->u.integer;
        }
    }
    if ((r = cln_spec_get_str(L, rt, "body", w, &rd->body_regex, err)) < 0)
        return r;
    if (rd->body_regex && (r = cln_spec_check_regex(L, cln_toml_table_find(rt, "body")->value,
                                                    rd->body_regex, w, err)) < 0)
        return r;
    return 1;
}

static int load_ready(struct cln_spec_loader *L, tv *svc, const char *where,
                      struct cln_spec_service *s, struct cln_error **err)
{
    char w[300];
    tv *rt = NULL;
    int r = cln_spec_lookup(L, svc, "ready", where, CLN_TOML_TABLE, NULL, w, sizeof(w), &rt, err);
    if (r <= 0)
        return r;
    if ((r = CLN_SPEC_CHECK_KEYS(L, rt, w, err, "exec", "log", "tcp", "http", "status", "body",
                                 "healthcheck", "interval", "timeout")) < 0)
        return r;
    struct cln_spec_ready *rd = &s->ready;
    rd->interval_ms = 200;
    rd->timeout_ms = 30000;
    int kinds = 0;
    const struct cln_toml_entry *ex = cln_toml_table_find(rt, "exec");
    if (ex) {
        kinds++;
        rd->kind = CLN_READY_EXEC;
        if (ex->value->type == CLN_TOML_STRING) {
            char *cmd = NULL;
            if ((r = cln_spec_interp(L, ex->value, w, &cmd, err)) < 0)
                return r;
            cln_strv_push(&rd->exec, cln_xstrdup("sh"));
            cln_strv_push(&rd->exec, cln_xstrdup("-c"));
            cln_strv_push(&rd->exec, cmd);
        } else if ((r = cln_spec_get_strv(L, rt, "exec", w, &rd->exec, err)) < 0) {
            return r;
        }
        if (rd->exec.n == 0)
            return cln_spec_err_at(L, ex->value->pos, err, "%s.exec: empty command", w);
    }
    if ((r = cln_spec_get_str(L, rt, "log", w, &rd->log_regex, err)) < 0)
        return r;
    if (r > 0) {
        kinds++;
        rd->kind = CLN_READY_LOG;
        if ((r = cln_spec_check_regex(L, cln_toml_table_find(rt, "log")->value, rd->log_regex, w,
                                      err)) < 0)
            return r;
    }
    int64_t port = 0;
    if ((r = cln_spec_get_int(L, rt, "tcp", w, 1, 65535, &port, err)) < 0)
        return r;
    if (r > 0) {
        kinds++;
        rd->kind = CLN_READY_TCP;
        rd->tcp_port = (uint16_t)port;
        bool published = false;
        for (size_t i = 0; i < s->nports; i++)
            published = published || s->ports[i] == port;
        if (!published)
            return cln_spec_err_at(L, cln_toml_table_find(rt, "tcp")->value->pos, err,
                                   "%s.tcp: port %lld must also be listed in %s.ports (the check "
                                   "connects through the published port)",
                                   w, (long long)port, where);
    }
    if ((r = load_ready_http(L, rt, w, s, err)) < 0)
        return r;
    kinds += r;
    bool health = false;
    if ((r = cln_spec_get_bool(L, rt, "healthcheck", w, &health, err)) < 0)
        return r;
    if (r > 0 && !health)
        return cln_spec_err_at(L, cln_toml_table_find(rt, "healthcheck")->value->pos, err,
                               "%s.healthcheck = false checks nothing: leave it out", w);
    if (health) {
        kinds++;
        rd->kind = CLN_READY_HEALTH;
    }
    if (kinds != 1)
        return cln_spec_err_at(L, rt->pos, err,
                               "%s: give exactly one of \"exec\", \"log\", \"tcp\", \"http\", "
                               "\"healthcheck\"",
                               w);
    static const char *const http_only[] = {"status", "body"};
    for (size_t i = 0; i < 2; i++)
        if (rd->kind != CLN_READY_HTTP && cln_toml_table_find(rt, http_only[i]))
            return cln_spec_err_at(L, cln_toml_table_find(rt, http_only[i])->pos, err,
                                   "%s.%s only goes with \"http\"", w, http_only[i]);
    if ((r = cln_spec_get_limit(L, rt, "interval", w, &rd->interval_ms, err)) < 0 ||
        (r = cln_spec_get_limit(L, rt, "timeout", w, &rd->timeout_ms, err)) < 0)
        return r;
    return 0;
}

/* ---- [services] ---- */

/* A host name on the test network: lower-case letters, digits, '-', '_'. */
static bool host_name_ok(const char *n)
{
    if (!*n)
        return false;
    for (const char *c = n; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return false;
    return true;
}

/* Aliases: host names, and each name on the test network names one
 * service. */
static int check_names(struct cln_spec_loader *L, const struct cln_spec_test *t,
                       struct cln_error **err)
{
    for (size_t i = 0; i < t->nservices; i++) {
        const struct cln_spec_service *s = &t->services[i];
        const struct cln_toml_entry *se = cln_toml_table_find(L->services_tbl, s->name);
        const struct cln_toml_entry *ae = cln_toml_table_find(se->value, "aliases");
        for (size_t j = 0; j < s->aliases.n; j++) {
            const char *a = s->aliases.v[j];
            struct cln_toml_pos pos = cln_toml_array_at(ae->value, j)->pos;
            if (!host_name_ok(a))
                return cln_spec_err_at(
                    L, pos, err,
                    "services.%s.aliases[%zu] \"%s\": use lower-case letters, digits, "
                    "'-' and '_' (it is a host name on the test network)",
                    s->name, j, a);
            for (size_t k = 0; k < t->nservices; k++) {
                if (strcmp(t->services[k].name, a) == 0)
                    return cln_spec_err_at(
                        L, pos, err,
                        "services.%s.aliases[%zu] \"%s\" is the name of service \"%s\"", s->name, j,
                        a, t->services[k].name);
                for (size_t m = 0; m < t->services[k].aliases.n; m++)
                    if ((k < i || (k == i && m < j)) && strcmp(t->services[k].aliases.v[m], a) == 0)
                        return cln_spec_err_at(
                            L, pos, err,
                            "services.%s.aliases[%zu] \"%s\" is also an alias of "
                            "service \"%s\"",
                            s->name, j, a, t->services[k].name);
            }
        }
    }
    return 0;
}

int cln_spec_load_services(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                           struct cln_error **err)
{
    tv *svcs = L->services_tbl;
    if (!svcs)
        return 0;
    size_t n = cln_toml_table_len(svcs);
    t->services = cln_xcalloc(n ? n : 1, sizeof(*t->services));
    (void)root;
    for (size_t i = 0; i < n; i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(svcs, i);
        char where[160];
        snprintf(where, sizeof(where), "services.%s", e->key);
        int r = cln_spec_want_type(L, e->value, CLN_TOML_TABLE, where, err);
        if (r == 0)
            r = CLN_SPEC_CHECK_KEYS(L, e->value, where, err, "image", "command", "entrypoint",
                                    "env", "files", "ports", "memory", "cpus", "pids", "depends_on",
                                    "aliases", "ready", "privileged", "host_network", "host_pid",
                                    "outbound", "mounts", "user", "workdir", "volumes", "tmpfs",
                                    "artifacts");
        if (r < 0)
            return r;
        if (!host_name_ok(e->key))
            return cln_spec_err_at(L, e->pos, err,
                                   "service name \"%s\": use lower-case letters, digits, '-' and "
                                   "'_' (it is a host name on the test network)",
                                   e->key);
        struct cln_spec_service *s = &t->services[t->nservices++];
        s->name = cln_xstrdup(e->key);
        s->image_idx = -1;
        char *image = NULL;
        if ((r = cln_spec_get_str(L, e->value, "image", where, &image, err)) < 0)
            return r;
        if (r == 0)
            return cln_spec_err_at(L, e->value->pos, err, "%s: \"image\" is required", where);
        r = cln_spec_resolve_image(L, t, cln_toml_table_find(e->value, "image")->value, image,
                                   where, &s->image, &s->image_idx, err);
        free(image);
        if (r < 0)
            return r;
        if ((r = cln_spec_get_strv(L, e->value, "command", where, &s->command, err)) < 0)
            return r;
        s->has_command = r > 0;
        if ((r = cln_spec_get_strv(L, e->value, "entrypoint", where, &s->entrypoint, err)) < 0)
            return r;
        s->has_entrypoint = r > 0;
        if ((r = cln_spec_get_env(L, e->value, "env", where, &s->env, err)) < 0 ||
            (r = cln_spec_load_files(L, t, e->value, where, true, &s->files, &s->nfiles, err)) <
                0 ||
            (r = cln_spec_get_strv(L, e->value, "depends_on", where, &s->depends_on, err)) < 0 ||
            (r = cln_spec_get_strv(L, e->value, "aliases", where, &s->aliases, err)) < 0)
            return r;
        const struct cln_toml_entry *pe = cln_toml_table_find(e->value, "ports");
        if (pe) {
            if ((r = cln_spec_want_type(L, pe->value, CLN_TOML_ARRAY, "ports", err)) < 0)
                return r;
            size_t np = cln_toml_array_len(pe->value);
            s->ports = cln_xcalloc(np ? np : 1, sizeof(*s->ports));
            for (size_t j = 0; j < np; j++) {
                tv *p = cln_toml_array_at(pe->value, j);
                if (p->type != CLN_TOML_INTEGER || p->u.integer < 1 || p->u.integer > 65535)
                    return cln_spec_err_at(
                        L, p->pos, err, "%s.ports[%zu] must be a port number (1-65535)", where, j);
                for (size_t k = 0; k < s->nports; k++)
                    if (s->ports[k] == p->u.integer)
                        return cln_spec_err_at(L, p->pos, err,
                                               "%s.ports[%zu]: port %lld is listed twice", where, j,
                                               (long long)p->u.integer);
                s->ports[s->nports++] = (uint16_t)p->u.integer;
            }
        }
        if ((r = cln_spec_get_memory(L, e->value, where, &s->memory, err)) < 0 ||
            (r = cln_spec_load_privs(L, e->value, where, &s->privs, t, err)) < 0)
            return r;
        const struct cln_toml_entry *ce = cln_toml_table_find(e->value, "cpus");
        if (ce) {
            double cpus = ce->value->type == CLN_TOML_FLOAT     ? ce->value->u.flt
                          : ce->value->type == CLN_TOML_INTEGER ? (double)ce->value->u.integer
                                                                : -1;
            if (cpus <= 0 || cpus > 1024)
                return cln_spec_err_at(L, ce->value->pos, err,
                                       "%s.cpus must be a positive number of CPUs (e.g. 0.5)",
                                       where);
            s->nano_cpus = (int64_t)(cpus * 1e9);
        }
        if ((r = cln_spec_get_int(L, e->value, "pids", where, 1, 1 << 22, &s->pids, err)) < 0)
            return r;
        if ((r = load_ready(L, e->value, where, s, err)) < 0)
            return r;
        if ((r = cln_spec_get_str(L, e->value, "user", where, &s->user, err)) < 0 ||
            (r = cln_spec_get_str(L, e->value, "workdir", where, &s->workdir, err)) < 0 ||
            (r = cln_spec_load_mounts(L, e->value, where, t, &s->privs, &s->data, err)) < 0 ||
            (r = cln_spec_load_artifacts(L, e->value, where, &s->artifacts, err)) < 0)
            return r;
        if (s->user && (!*s->user || strpbrk(s->user, " \t\n")))
            return cln_spec_err_at(L, cln_toml_table_find(e->value, "user")->value->pos, err,
                                   "%s.user \"%s\" is not a user, uid or uid:gid", where, s->user);
        if (s->workdir && s->workdir[0] != '/')
            return cln_spec_err_at(L, cln_toml_table_find(e->value, "workdir")->value->pos, err,
                                   "%s.workdir \"%s\" must be an absolute path", where, s->workdir);
    }
    int nr = check_names(L, t, err);
    if (nr < 0)
        return nr;
    /* depends_on: names exist, no cycles; levels give the start order. */
    for (size_t i = 0; i < t->nservices; i++) {
        const struct cln_toml_entry *se = cln_toml_table_find(svcs, t->services[i].name);
        tv *dv = cln_toml_table_find(se->value, "depends_on")
                     ? cln_toml_table_find(se->value, "depends_on")->value
                     : NULL;
        for (size_t j = 0; j < t->services[i].depends_on.n; j++) {
            const char *d = t->services[i].depends_on.v[j];
            bool found = false;
            for (size_t k = 0; k < t->nservices; k++)
                found = found || strcmp(t->services[k].name, d) == 0;
            if (!found) {
                const char *names[64];
                size_t nn = 0;
                for (size_t k = 0; k < t->nservices && nn < 64; k++)
                    names[nn++] = t->services[k].name;
                const char *sg = cln_spec_suggest(d, names, nn);
                return cln_spec_err_at(L, cln_toml_array_at(dv, j)->pos, err,
                                       "services.%s.depends_on: no service \"%s\"%s%s%s",
                                       t->services[i].name, d, sg ? " (did you mean \"" : "",
                                       sg ? sg : "", sg ? "\"?)" : "");
            }
            if (strcmp(d, t->services[i].name) == 0)
                return cln_spec_err_at(L, cln_toml_array_at(dv, j)->pos, err,
                                       "services.%s.depends_on: a service cannot depend on itself",
                                       d);
        }
    }
    /* Longest-path levels by relaxation; more than n rounds means a cycle. */
    for (size_t round = 0;; round++) {
        bool changed = false;
        for (size_t i = 0; i < t->nservices; i++) {
            struct cln_spec_service *s = &t->services[i];
            for (size_t j = 0; j < s->depends_on.n; j++)
                for (size_t k = 0; k < t->nservices; k++)
                    if (strcmp(t->services[k].name, s->depends_on.v[j]) == 0 &&
                        s->level < t->services[k].level + 1) {
                        s->level = t->services[k].level + 1;
                        changed = true;
                    }
        }
        if (!changed)
            break;
        if (round > t->nservices) {
            struct cln_buf cyc = CLN_BUF_INIT;
            for (size_t i = 0; i < t->nservices; i++)
                if (t->services[i].level > (int)t->nservices)
                    cln_buf_printf(&cyc, "%s%s", cyc.len ? ", " : "", t->services[i].name);
            const struct cln_toml_entry *se = cln_toml_table_at(svcs, 0);
            int r = cln_spec_err_at(L, se->pos, err, "depends_on forms a cycle among services: %s",
                                    cyc.data ? cyc.data : "?");
            cln_buf_done(&cyc);
            return r;
        }
    }
    for (size_t i = 0; i < t->nservices; i++)
        if (t->services[i].level > t->max_level)
            t->max_level = t->services[i].level;
    return 0;
}
