/* The registry of backends and discovery: which engine a run talks to.
 *
 * Adding a backend is one folder under runtime/ defining a descriptor and
 * one line in BACKENDS below.  Discovery walks the registry: an endpoint
 * the user named (--host, or a backend's variable such as $DOCKER_HOST) is
 * the only one tried; otherwise each backend's well-known endpoints, in
 * registry order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime-internal.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/xalloc.h"

/* X(descriptor): one line per backend, in discovery order. */
#define BACKENDS(X)                                                                                \
    X(cln_docker_desc)                                                                             \
    X(cln_podman_desc)                                                                             \
    X(cln_apple_desc)                                                                              \
    X(cln_native_desc)

#define DECLARE(d) extern const struct cln_runtime_desc d;
BACKENDS(DECLARE)
#undef DECLARE

#ifndef __linux__
/* runtime/native/ is built on Linux only: elsewhere it is known, not built */
const struct cln_runtime_desc cln_native_desc = {
    .name = "native", .unavailable = "it makes containers with Linux's namespaces and cgroups"};
#endif

#define ENTRY(d) &(d),
const struct cln_runtime_desc *const cln_runtime_registry[] = {BACKENDS(ENTRY) NULL};
#undef ENTRY

const struct cln_runtime_desc *cln_runtime_find(const char *name)
{
    for (size_t i = 0; cln_runtime_registry[i]; i++)
        if (strcmp(cln_runtime_registry[i]->name, name) == 0)
            return cln_runtime_registry[i];
    return NULL;
}

/* "  Start one, e.g. A or B, or point VAR at a running engine" */
static void start_hint(struct cln_buf *b, const struct cln_runtime_desc *only)
{
    cln_buf_puts(b, "\n  Start one, e.g. ");
    size_t n = 0;
    const char *var = NULL;
    for (size_t i = 0; cln_runtime_registry[i]; i++) {
        const struct cln_runtime_desc *d = cln_runtime_registry[i];
        if (!d->ops || !d->start_hint || (only && d != only))
            continue;
        cln_buf_printf(b, "%s%s", n++ ? " or " : "", d->start_hint);
        if (!var)
            var = d->endpoint_env;
    }
    if (var)
        cln_buf_printf(b, ", or point %s at a running engine", var);
}

static void known_list(struct cln_buf *b)
{
    for (size_t i = 0; cln_runtime_registry[i]; i++)
        cln_buf_printf(b, "%s%s", i ? ", " : "", cln_runtime_registry[i]->name);
}

struct candidate {
    char *endpoint;
    const struct cln_runtime_desc *desc;
    const char *source;
};

#define MAX_CANDIDATES 16

static void add_candidate(struct candidate *c, size_t *n, char *endpoint,
                          const struct cln_runtime_desc *desc, const char *source)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(c[i].endpoint, endpoint) == 0) {
            free(endpoint);
            return;
        }
    if (*n == MAX_CANDIDATES) {
        free(endpoint);
        return;
    }
    c[*n] = (struct candidate){.endpoint = endpoint, .desc = desc, .source = source};
    (*n)++;
}

/* The backend to open a named endpoint with: the one asked for, else the
 * first that claims it, else the first built in. */
static const struct cln_runtime_desc *opener(const struct cln_runtime_desc *asked,
                                             const char *endpoint)
{
    if (asked)
        return asked;
    for (size_t i = 0; cln_runtime_registry[i]; i++) {
        const struct cln_runtime_desc *d = cln_runtime_registry[i];
        if (d->ops && d->open && d->claims && d->claims(endpoint))
            return d;
    }
    for (size_t i = 0; cln_runtime_registry[i]; i++)
        if (cln_runtime_registry[i]->open)
            return cln_runtime_registry[i];
    return NULL;
}

/* The first backend (the one asked for, else any) whose variable names an
 * endpoint, and that endpoint. */
static const struct cln_runtime_desc *named_by_env(const struct cln_runtime_desc *asked,
                                                   const char **ret_endpoint)
{
    for (size_t i = 0; cln_runtime_registry[i]; i++) {
        const struct cln_runtime_desc *d = cln_runtime_registry[i];
        const char *v = d->endpoint_env ? getenv(d->endpoint_env) : NULL;
        if (d->ops && d->open && v && *v && (!asked || d == asked)) {
            *ret_endpoint = v;
            return d;
        }
    }
    return NULL;
}

int cln_runtime_open(const struct cln_runtime_config *cfg, struct cln_runtime **ret,
                     struct cln_error **err)
{
    const char *name = cfg && cfg->runtime ? cfg->runtime : getenv("CLEANRUN_RUNTIME");
    if (name && !*name)
        name = NULL;
    const struct cln_runtime_desc *asked = NULL;
    if (name) {
        asked = cln_runtime_find(name);
        if (!asked) {
            struct cln_buf k = CLN_BUF_INIT;
            known_list(&k);
            int rc = cln_error_set(err, CLN_E_INVALID, 0, "unknown runtime '%s' (known: %s)", name,
                                   k.data);
            cln_buf_done(&k);
            return rc;
        }
        if (!asked->ops || !asked->open)
            return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                                 "runtime '%s' is not built into this cleanrun (%s)", name,
                                 asked->unavailable ? asked->unavailable : "not on this platform");
    }

    /* An engine the user named (--host, a backend's variable) is the only
     * one tried: a suite meant for one engine never runs on another. */
    struct candidate cands[MAX_CANDIDATES] = {{0}};
    size_t nc = 0;
    const char *named = NULL;
    char var[64];
    if (cfg && cfg->endpoint) {
        named = "--host";
        add_candidate(cands, &nc, cln_xstrdup(cfg->endpoint), opener(asked, cfg->endpoint), named);
    } else {
        const char *v = NULL;
        const struct cln_runtime_desc *d = named_by_env(asked, &v);
        if (d) {
            snprintf(var, sizeof(var), "$%s", d->endpoint_env);
            named = var;
            add_candidate(cands, &nc, cln_xstrdup(v), asked ? asked : d, named);
        }
    }
    if (!named) {
        for (size_t i = 0; cln_runtime_registry[i]; i++) {
            const struct cln_runtime_desc *d = cln_runtime_registry[i];
            if (!d->ops || !d->open || !d->candidates || (asked && d != asked) ||
                (d->named_only && !asked))
                continue;
            struct cln_endpoint_candidate ec[MAX_CANDIDATES];
            size_t n = d->candidates(ec, MAX_CANDIDATES);
            for (size_t k = 0; k < n; k++)
                add_candidate(cands, &nc, ec[k].endpoint, d, ec[k].source);
        }
    }

    struct cln_buf tried = CLN_BUF_INIT;
    int rc = -CLN_E_TRANSPORT;
    for (size_t i = 0; i < nc; i++) {
        struct cln_runtime *rt = NULL;
        struct cln_error *e = NULL;
        const char *ep = cands[i].endpoint;
        if (!cands[i].desc || cands[i].desc->open(ep, &rt, &e) < 0) {
            char *why = e ? cln_error_render(e) : cln_xstrdup("no backend can open it");
            cln_error_free(e);
            if (named) {
                struct cln_buf h = CLN_BUF_INIT;
                start_hint(&h, asked);
                rc = cln_error_set(err, CLN_E_TRANSPORT, 0,
                                   "no container engine answered: the engine named by %s (%s): "
                                   "%s (only the engine named is tried)%s",
                                   named, ep, why, h.data);
                cln_buf_done(&h);
                free(why);
                break;
            }
            cln_buf_printf(&tried, "\n  %s (%s): %s", ep, cands[i].source, why);
            free(why);
            continue;
        }
        const char *kind = cln_runtime_name(rt);
        if (name && strcmp(name, kind) != 0) {
            cln_buf_printf(&tried, "\n  %s (%s): answers, but it is %s, not %s", ep,
                           cands[i].source, rt->info.engine ? rt->info.engine : kind, name);
            const char *engine = rt->info.engine ? rt->info.engine : kind;
            if (named)
                rc = cln_error_set(err, CLN_E_TRANSPORT, 0,
                                   "the engine named by %s (%s) is %s, not the runtime %s asked "
                                   "for",
                                   named, ep, engine, name);
            cln_runtime_close(rt);
            if (named)
                break;
            continue;
        }
        /* A backend that runs host programs is usable only with its broker. */
        if (cln_runtime_broker_check(rt, &e) < 0) {
            char *why = cln_error_render(e);
            cln_error_free(e);
            cln_runtime_close(rt);
            if (named) {
                rc = cln_error_set(err, CLN_E_TRANSPORT, 0, "the engine named by %s (%s): %s",
                                   named, ep, why);
                free(why);
                break;
            }
            cln_buf_printf(&tried, "\n  %s (%s): %s", ep, cands[i].source, why);
            free(why);
            continue;
        }
        free(rt->endpoint);
        rt->endpoint = cln_xstrdup(ep);
        *ret = rt;
        rc = 0;
        break;
    }
    for (size_t i = 0; i < nc; i++)
        free(cands[i].endpoint);
    if (rc < 0 && !*err) {
        struct cln_buf h = CLN_BUF_INIT;
        start_hint(&h, asked);
        rc = cln_error_set(err, CLN_E_TRANSPORT, 0, "no container engine answered%s%s; tried:%s%s",
                           name ? " for runtime " : "", name ? name : "",
                           tried.len ? tried.data : " (nothing)", h.data);
        cln_buf_done(&h);
    }
    cln_buf_done(&tried);
    return rc;
}
