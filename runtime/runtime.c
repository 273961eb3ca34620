/* The executor interface: backend registry, discovery, feature wrappers. */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/proc.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/xalloc.h"
#include "docker/docker-internal.h"

/* ---- registry ---- */

static const struct cln_runtime_desc docker_desc = {
    .name = "docker",
    .ops = &cln_docker_ops,
    .network = &cln_docker_network_ops,
    .volume = &cln_docker_volume_ops,
    .build = &cln_docker_build_ops,
};

static const struct cln_runtime_desc podman_desc = {
    .name = "podman",
    .ops = &cln_docker_ops,
    .network = &cln_docker_network_ops,
    .volume = &cln_docker_volume_ops,
    .build = &cln_docker_build_ops,
};

/* Apple's container CLI: a backend of its own, built only on macOS. */
static const struct cln_runtime_desc apple_desc = {
    .name = "apple",
    .ops = NULL,
};

const struct cln_runtime_desc *const cln_runtime_registry[] = {
    &docker_desc,
    &podman_desc,
    &apple_desc,
    NULL,
};

const struct cln_runtime_desc *cln_runtime_find(const char *name)
{
    for (size_t i = 0; cln_runtime_registry[i]; i++)
        if (strcmp(cln_runtime_registry[i]->name, name) == 0)
            return cln_runtime_registry[i];
    return NULL;
}

/* ---- labels ---- */

void cln_labels_set(struct cln_labels *l, const char *key, const char *value)
{
    for (size_t i = 0; i < l->len; i++) {
        if (strcmp(l->items[i].key, key) == 0) {
            free((char *)l->items[i].value);
            l->items[i].value = cln_xstrdup(value ? value : "");
            return;
        }
    }
    l->items = cln_xgrow(l->items, &l->cap, l->len + 1, sizeof(*l->items));
    l->items[l->len].key = cln_xstrdup(key);
    l->items[l->len].value = cln_xstrdup(value ? value : "");
    l->len++;
}

const char *cln_labels_get(const struct cln_labels *l, const char *key)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i].key, key) == 0)
            return l->items[i].value;
    return NULL;
}

void cln_labels_done(struct cln_labels *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free((char *)l->items[i].key);
        free((char *)l->items[i].value);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

void cln_runtime_labels(struct cln_labels *l, const char *run_id, const char *version,
                        const char *test)
{
    char pid[24], boot[64], start[32], pidns[32], host[64];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    cln_boot_id(boot, sizeof(boot));
    cln_machine_id(host, sizeof(host));
    snprintf(start, sizeof(start), "%llu", (unsigned long long)cln_proc_start_time(0));
    snprintf(pidns, sizeof(pidns), "%llu", (unsigned long long)cln_proc_pidns(0));
    cln_labels_set(l, CLN_LABEL_OWNER_START, start);
    cln_labels_set(l, CLN_LABEL_RUN, run_id);
    cln_labels_set(l, CLN_LABEL_OWNER_PID, pid);
    cln_labels_set(l, CLN_LABEL_OWNER_PIDNS, pidns);
    cln_labels_set(l, CLN_LABEL_OWNER_BOOT, boot);
    cln_labels_set(l, CLN_LABEL_OWNER_HOST, host);
    cln_labels_set(l, CLN_LABEL_VERSION, version);
    if (test)
        cln_labels_set(l, CLN_LABEL_TEST, test);
}

/* ---- result types ---- */

void cln_container_state_done(struct cln_container_state *s)
{
    free(s->id);
    free(s->name);
    free(s->image_id);
    free(s->status);
    for (char **a = s->health_argv; a && *a; a++)
        free(*a);
    free(s->health_argv);
    free(s->started_at);
    free(s->finished_at);
    free(s->ports);
    for (size_t i = 0; i < s->nnetworks; i++) {
        free(s->networks[i].network);
        free(s->networks[i].ip);
    }
    free(s->networks);
    cln_labels_done(&s->labels);
    memset(s, 0, sizeof(*s));
}

const char *cln_container_state_ip(const struct cln_container_state *s, const char *network)
{
    for (size_t i = 0; i < s->nnetworks; i++)
        if (strcmp(s->networks[i].network, network) == 0)
            return s->networks[i].ip;
    return NULL;
}

const char *cln_file_type_name(enum cln_file_type t)
{
    switch (t) {
    case CLN_FILE_REGULAR:
        return "file";
    case CLN_FILE_DIRECTORY:
        return "directory";
    case CLN_FILE_SYMLINK:
        return "symlink";
    case CLN_FILE_OTHER:
        return "other";
    }
    return "?";
}

void cln_file_info_done(struct cln_file_info *i)
{
    free(i->uname);
    free(i->gname);
    free(i->link_target);
    memset(i, 0, sizeof(*i));
}

void cln_container_summaries_free(struct cln_container_summary *s, size_t n)
{
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        free(s[i].id);
        free(s[i].name);
        free(s[i].image);
        free(s[i].state);
        free(s[i].status);
        cln_labels_done(&s[i].labels);
    }
    free(s);
}

void cln_capture_done(struct cln_capture *c)
{
    cln_buf_done(&c->data);
    c->total = 0;
    c->truncated = false;
}

void cln_exec_result_done(struct cln_exec_result *r)
{
    cln_capture_done(&r->out);
    cln_capture_done(&r->err);
    free(r->exec_id);
    r->exec_id = NULL;
}

void cln_image_info_done(struct cln_image_info *i)
{
    free(i->id);
    free(i->digest);
    i->id = i->digest = NULL;
}

void cln_engine_info_done(struct cln_engine_info *i)
{
    free(i->engine);
    free(i->version);
    free(i->api_version);
    free(i->os);
    free(i->arch);
    free(i->kernel);
    memset(i, 0, sizeof(*i));
}

void cln_resources_free(struct cln_resource *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        cln_labels_done(&r[i].labels);
    }
    free(r);
}

void cln_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- discovery ---- */

#define START_HINT                                                                                 \
    "  Start one, e.g. 'dockerd &' (Docker) or 'podman system service --time=0 "                   \
    "unix:///run/podman/podman.sock &' (Podman), or point DOCKER_HOST at a running engine"

struct candidate {
    char *endpoint;
    const char *kind; /* "docker", "podman" or NULL (either) */
    const char *source;
};

static void add_candidate(struct candidate *c, size_t *n, char *endpoint, const char *kind,
                          const char *source)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(c[i].endpoint, endpoint) == 0) {
            free(endpoint);
            return;
        }
    c[*n].endpoint = endpoint;
    c[*n].kind = kind;
    c[*n].source = source;
    (*n)++;
}

int cln_runtime_open(const struct cln_runtime_config *cfg, struct cln_runtime **ret,
                     struct cln_error **err)
{
    const char *name = cfg && cfg->runtime ? cfg->runtime : getenv("CLEANRUN_RUNTIME");
    if (name && !*name)
        name = NULL;
    if (name) {
        const struct cln_runtime_desc *desc = cln_runtime_find(name);
        if (!desc)
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "unknown runtime '%s' (known: docker, podman, apple)", name);
        if (!desc->ops)
            return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                                 "runtime '%s' is not built into this cleanrun (it needs "
                                 "macOS and Apple's container CLI)",
                                 name);
    }
    bool want_docker = !name || strcmp(name, "docker") == 0;
    bool want_podman = !name || strcmp(name, "podman") == 0;

    /* An engine the user named (--host, $DOCKER_HOST) is the only one
     * tried: a suite meant for one engine never runs on another. */
    struct candidate cands[8] = {{0}};
    size_t nc = 0;
    const char *dh = getenv("DOCKER_HOST");
    const char *named = cfg && cfg->endpoint ? "--host" : dh && *dh ? "$DOCKER_HOST" : NULL;
    if (cfg && cfg->endpoint) {
        add_candidate(cands, &nc, cln_xstrdup(cfg->endpoint), name, "--host");
    } else if (named) {
        add_candidate(cands, &nc, cln_xstrdup(dh), name, "$DOCKER_HOST");
    } else {
        if (want_docker)
            add_candidate(cands, &nc, cln_xstrdup("unix:///var/run/docker.sock"), "docker",
                          "default Docker socket");
        if (want_podman) {
            const char *xdg = getenv("XDG_RUNTIME_DIR");
            if (xdg && *xdg)
                add_candidate(cands, &nc, cln_xasprintf("unix://%s/podman/podman.sock", xdg),
                              "podman", "rootless Podman socket");
            add_candidate(cands, &nc, cln_xstrdup("unix:///run/podman/podman.sock"), "podman",
                          "rootful Podman socket");
        }
    }

    struct cln_buf tried = CLN_BUF_INIT;
    int rc = -CLN_E_TRANSPORT;
    for (size_t i = 0; i < nc; i++) {
        struct cln_runtime *rt = cln_xcalloc(1, sizeof(*rt));
        pthread_mutex_init(&rt->procs_lock, NULL);
        struct cln_error *e = NULL;
        const char *ep = cands[i].endpoint;
        if (cln_docker_open(ep, rt, &e) < 0) {
            char *why = cln_error_render(e);
            cln_error_free(e);
            pthread_mutex_destroy(&rt->procs_lock);
            free(rt);
            if (named) {
                rc = cln_error_set(err, CLN_E_TRANSPORT, 0,
                                   "no container engine answered: the engine named by %s (%s): "
                                   "%s (only the engine named is tried)\n" START_HINT,
                                   named, ep, why);
                free(why);
                break;
            }
            cln_buf_printf(&tried, "\n  %s (%s): %s", ep, cands[i].source, why);
            free(why);
            continue;
        }
        bool podman = ((struct docker *)rt->ctx)->podman;
        const char *kind = podman ? "podman" : "docker";
        if (name && strcmp(name, kind) != 0) {
            cln_buf_printf(&tried, "\n  %s (%s): answers, but it is %s, not %s", ep,
                           cands[i].source, podman ? "Podman" : "Docker", name);
            cln_docker_ops.close(rt->ctx);
            cln_engine_info_done(&rt->info);
            pthread_mutex_destroy(&rt->procs_lock);
            free(rt);
            if (named) {
                rc = cln_error_set(err, CLN_E_TRANSPORT, 0,
                                   "the engine named by %s (%s) is %s, not the runtime %s asked "
                                   "for",
                                   named, ep, podman ? "Podman" : "Docker", name);
                break;
            }
            continue;
        }
        rt->desc = podman ? &podman_desc : &docker_desc;
        rt->endpoint = cln_xstrdup(ep);
        *ret = rt;
        rc = 0;
        break;
    }
    for (size_t i = 0; i < nc; i++)
        free(cands[i].endpoint);
    if (rc < 0 && !*err) {
        rc = cln_error_set(
            err, CLN_E_TRANSPORT, 0, "no container engine answered%s%s; tried:%s\n" START_HINT,
            name ? " for runtime " : "", name ? name : "", tried.len ? tried.data : " (nothing)");
    }
    cln_buf_done(&tried);
    return rc;
}

void cln_runtime_record_host_process(struct cln_runtime *rt, const char *path,
                                     const char *const *argv)
{
    size_t n = 0;
    while (argv && argv[n])
        n++;
    char **v = cln_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        v[i] = cln_xstrdup(argv[i]);
    pthread_mutex_lock(&rt->procs_lock);
    rt->procs = cln_xrealloc(rt->procs, (rt->nprocs + 1) * sizeof(*rt->procs));
    rt->procs[rt->nprocs++] = (struct cln_host_process){.path = cln_xstrdup(path), .argv = v};
    pthread_mutex_unlock(&rt->procs_lock);
}

void cln_runtime_close(struct cln_runtime *rt)
{
    if (!rt)
        return;
    if (rt->desc && rt->desc->ops)
        rt->desc->ops->close(rt->ctx);
    for (size_t i = 0; i < rt->nprocs; i++) {
        free(rt->procs[i].path);
        for (size_t k = 0; rt->procs[i].argv[k]; k++)
            free(rt->procs[i].argv[k]);
        free(rt->procs[i].argv);
    }
    free(rt->procs);
    pthread_mutex_destroy(&rt->procs_lock);
    cln_engine_info_done(&rt->info);
    free(rt->endpoint);
    free(rt);
}

bool cln_runtime_supports(const struct cln_runtime *rt, unsigned features)
{
    if ((features & CLN_FEATURE_NETWORK) && !rt->desc->network)
        return false;
    if ((features & CLN_FEATURE_VOLUME) && !rt->desc->volume)
        return false;
    if ((features & CLN_FEATURE_BUILD) && !rt->desc->build)
        return false;
    return true;
}

int cln_runtime_ensure_image(struct cln_runtime *rt, const char *ref, enum cln_pull_policy policy,
                             cln_progress_fn progress, void *userdata, struct cln_error **err)
{
    const struct cln_runtime_ops *ops = rt->desc->ops;
    if (policy != CLN_PULL_ALWAYS) {
        struct cln_image_info info;
        int r = ops->image_inspect(rt->ctx, ref, &info, err);
        if (r < 0)
            return r;
        if (r == 1) {
            cln_image_info_done(&info);
            return 0;
        }
        if (policy == CLN_PULL_NEVER)
            return cln_error_set(err, CLN_E_NOT_FOUND, 0,
                                 "image %s is not present in %s and the pull policy is "
                                 "\"never\" (build or load it first)",
                                 ref, rt->desc->name);
    }
    return ops->image_pull(rt->ctx, ref, progress, userdata, err);
}

/* ---- feature wrappers ---- */

static int unsupported(const struct cln_runtime *rt, struct cln_error **err, const char *what)
{
    return cln_error_set(err, CLN_E_UNSUPPORTED, 0, "runtime '%s' cannot %s", rt->desc->name, what);
}

void cln_runtime_interrupt(struct cln_runtime *rt)
{
    rt->desc->ops->interrupt(rt->ctx);
}

const char *cln_runtime_gone(struct cln_runtime *rt)
{
    return rt->desc->ops->gone(rt->ctx);
}

int cln_network_create(struct cln_runtime *rt, const char *name, const struct cln_labels *labels,
                       bool internal, char **ret_id, bool *ret_resolves, struct cln_error **err)
{
    if (!rt->desc->network)
        return unsupported(rt, err, "create networks");
    return rt->desc->network->create(rt->ctx, name, labels, internal, ret_id, ret_resolves, err);
}

int cln_network_connect(struct cln_runtime *rt, const char *network, const char *container,
                        const char *const *aliases, struct cln_error **err)
{
    if (!rt->desc->network)
        return unsupported(rt, err, "connect containers to networks");
    return rt->desc->network->connect(rt->ctx, network, container, aliases, err);
}

int cln_network_remove(struct cln_runtime *rt, const char *network, struct cln_error **err)
{
    if (!rt->desc->network)
        return unsupported(rt, err, "remove networks");
    return rt->desc->network->remove(rt->ctx, network, err);
}

int cln_network_list(struct cln_runtime *rt, const char *label_filter, struct cln_resource **ret,
                     size_t *ret_n, struct cln_error **err)
{
    if (!rt->desc->network)
        return unsupported(rt, err, "list networks");
    return rt->desc->network->list(rt->ctx, label_filter, ret, ret_n, err);
}

int cln_volume_create(struct cln_runtime *rt, const char *name, const struct cln_labels *labels,
                      char **ret_name, struct cln_error **err)
{
    if (!rt->desc->volume)
        return unsupported(rt, err, "create volumes");
    return rt->desc->volume->create(rt->ctx, name, labels, ret_name, err);
}

int cln_volume_remove(struct cln_runtime *rt, const char *name, bool force, struct cln_error **err)
{
    if (!rt->desc->volume)
        return unsupported(rt, err, "remove volumes");
    return rt->desc->volume->remove(rt->ctx, name, force, err);
}

int cln_volume_list(struct cln_runtime *rt, const char *label_filter, struct cln_resource **ret,
                    size_t *ret_n, struct cln_error **err)
{
    if (!rt->desc->volume)
        return unsupported(rt, err, "list volumes");
    return rt->desc->volume->list(rt->ctx, label_filter, ret, ret_n, err);
}

int cln_build_image(struct cln_runtime *rt, const struct cln_build_request *req,
                    cln_progress_fn progress, void *userdata, char **ret_image_id,
                    struct cln_error **err)
{
    if (!rt->desc->build)
        return unsupported(rt, err, "build images");
    return rt->desc->build->build(rt->ctx, req, progress, userdata, ret_image_id, err);
}
