/* The executor interface: the runtime object, its accessors, and the thin
 * wrappers through which the harness reaches a backend (with registry.c,
 * the only code that touches a descriptor). */
#include "runtime-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/os.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/xalloc.h"

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

bool cln_labels_match(const struct cln_labels *l, const char *filter)
{
    if (!filter)
        return true;
    const char *eq = strchr(filter, '=');
    size_t klen = eq ? (size_t)(eq - filter) : strlen(filter);
    for (size_t i = 0; i < l->len; i++)
        if (strlen(l->items[i].key) == klen && strncmp(l->items[i].key, filter, klen) == 0)
            return !eq || strcmp(l->items[i].value, eq + 1) == 0;
    return false;
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
    cln_strv_done(&i->entrypoint);
    cln_strv_done(&i->cmd);
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

/* ---- the runtime object ---- */

struct cln_runtime *cln_runtime_new(const struct cln_runtime_desc *desc, void *ctx,
                                    const char *endpoint, bool local, struct cln_engine_info *info)
{
    struct cln_runtime *rt = cln_xcalloc(1, sizeof(*rt));
    pthread_mutex_init(&rt->procs_lock, NULL);
    rt->desc = desc;
    rt->ctx = ctx;
    rt->endpoint = cln_xstrdup(endpoint ? endpoint : "");
    rt->local = local;
    if (info) {
        rt->info = *info;
        memset(info, 0, sizeof(*info));
    }
    /* A backend that runs host programs gets its broker now, while the
     * harness can still fork one that can exec (before the lockout); a
     * failure is kept: cln_runtime_open and cln_runtime_spawn report it. */
    if (desc->host_programs || desc->broker_fns)
        (void)cln_broker_start_fns(desc->host_programs, desc->broker_fns, &rt->broker,
                                   &rt->broker_err);
    return rt;
}

void *cln_runtime_ctx(struct cln_runtime *rt)
{
    return rt->ctx;
}

void cln_runtime_set_desc(struct cln_runtime *rt, const struct cln_runtime_desc *desc)
{
    rt->desc = desc;
}

void cln_runtime_set_info(struct cln_runtime *rt, struct cln_engine_info *info)
{
    cln_engine_info_done(&rt->info);
    rt->info = *info;
    memset(info, 0, sizeof(*info));
}

const char *cln_runtime_name(const struct cln_runtime *rt)
{
    return rt->desc->name;
}

const char *cln_runtime_endpoint(const struct cln_runtime *rt)
{
    return rt->endpoint;
}

bool cln_runtime_local(const struct cln_runtime *rt)
{
    return rt->local;
}

bool cln_runtime_vm(const struct cln_runtime *rt)
{
    return rt->desc->vm;
}

const struct cln_engine_info *cln_runtime_engine(const struct cln_runtime *rt)
{
    return &rt->info;
}

const char *const *cln_runtime_host_programs(const struct cln_runtime *rt)
{
    return rt->desc->host_programs;
}

static char **strv_dup(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **d = cln_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        d[i] = cln_xstrdup(v[i]);
    return d;
}

struct cln_host_process *cln_runtime_host_processes(const struct cln_runtime *rt, size_t *ret_n)
{
    /* the lock is not the runtime's state: a reader may take it */
    pthread_mutex_t *lock = (pthread_mutex_t *)&rt->procs_lock;
    pthread_mutex_lock(lock);
    struct cln_host_process *p = cln_xcalloc(rt->nprocs ? rt->nprocs : 1, sizeof(*p));
    for (size_t i = 0; i < rt->nprocs; i++) {
        p[i].path = cln_xstrdup(rt->procs[i].path);
        p[i].argv = strv_dup(rt->procs[i].argv);
    }
    *ret_n = rt->nprocs;
    pthread_mutex_unlock(lock);
    return p;
}

void cln_host_processes_free(struct cln_host_process *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].path);
        for (size_t k = 0; p[i].argv && p[i].argv[k]; k++)
            free(p[i].argv[k]);
        free(p[i].argv);
    }
    free(p);
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
    /* after the backend's close, which may still run host programs */
    cln_broker_stop(rt->broker);
    cln_error_free(rt->broker_err);
    cln_host_processes_free(rt->procs, rt->nprocs);
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
    if ((features & CLN_FEATURE_COPY_CREATED) && rt->desc->copy_running_only)
        return false;
    if ((features & CLN_FEATURE_EXEC_STDIN) && !rt->desc->exec_stdin)
        return false;
    if ((features & CLN_FEATURE_BIND_CHECKED) && !rt->desc->bind_checked)
        return false;
    if ((features & CLN_FEATURE_IMAGE_STORE) && !rt->desc->images)
        return false;
    if ((features & CLN_FEATURE_LIMITS) && rt->desc->no_limits)
        return false;
    return true;
}

int cln_runtime_ensure_image(struct cln_runtime *rt, const char *ref, enum cln_pull_policy policy,
                             cln_progress_fn progress, void *userdata, struct cln_error **err)
{
    if (policy != CLN_PULL_ALWAYS) {
        struct cln_image_info info;
        int r = cln_rt_image_inspect(rt, ref, &info, err);
        if (r < 0)
            return r;
        if (r == 1) {
            cln_image_info_done(&info);
            return 0;
        }
        if (policy == CLN_PULL_NEVER && rt->desc->images)
            return cln_error_set(err, CLN_E_NOT_FOUND, 0,
                                 "image %s is not present in %s and the pull policy is "
                                 "\"never\" (import it first: cleanrun image import FILE "
                                 "--name %s)",
                                 ref, rt->desc->name, ref);
        if (policy == CLN_PULL_NEVER)
            return cln_error_set(err, CLN_E_NOT_FOUND, 0,
                                 "image %s is not present in %s and the pull policy is "
                                 "\"never\" (build or load it first)",
                                 ref, rt->desc->name);
    }
    return cln_rt_image_pull(rt, ref, progress, userdata, err);
}

/* ---- feature wrappers ---- */

static int unsupported(const struct cln_runtime *rt, struct cln_error **err, const char *what)
{
    const char *why = strstr(what, "network") ? rt->desc->network_requires : NULL;
    return cln_error_set(err, CLN_E_UNSUPPORTED, 0, "runtime %s cannot %s%s%s%s", rt->desc->name,
                         what, why ? " (" : "", why ? why : "", why ? ")" : "");
}

const char *cln_runtime_missing_requires(const struct cln_runtime *rt, unsigned feature)
{
    if (feature == CLN_FEATURE_LIMITS)
        return rt->desc->no_limits;
    if (feature == CLN_FEATURE_BUILD && !rt->desc->build)
        return rt->desc->build_requires;
    return feature == CLN_FEATURE_NETWORK && !rt->desc->network ? rt->desc->network_requires : NULL;
}

bool cln_runtime_owns_pid(struct cln_runtime *rt, const char *id, int pid)
{
    return rt->desc->proof && id && pid > 0 && rt->desc->proof->owns_pid(rt->ctx, id, pid);
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

void cln_image_summaries_free(struct cln_image_summary *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].id);
        cln_strv_done(&v[i].names);
        free(v[i].created);
    }
    free(v);
}

int cln_image_import(struct cln_runtime *rt, const char *path, const char *name,
                     struct cln_image_summary **ret, size_t *ret_n, struct cln_error **err)
{
    if (!rt->desc->images)
        return unsupported(rt, err, "import images");
    return rt->desc->images->import(rt->ctx, path, name, ret, ret_n, err);
}

int cln_image_list(struct cln_runtime *rt, struct cln_image_summary **ret, size_t *ret_n,
                   struct cln_error **err)
{
    if (!rt->desc->images)
        return unsupported(rt, err, "list images of its own store");
    return rt->desc->images->list(rt->ctx, ret, ret_n, err);
}

int cln_image_prune(struct cln_runtime *rt, size_t *ret_freed, struct cln_error **err)
{
    if (!rt->desc->images)
        return unsupported(rt, err, "prune images of its own store");
    return rt->desc->images->prune(rt->ctx, ret_freed, err);
}

int cln_build_image(struct cln_runtime *rt, const struct cln_build_request *req,
                    cln_progress_fn progress, void *userdata, char **ret_image_id,
                    struct cln_error **err)
{
    if (!rt->desc->build)
        return unsupported(rt, err, "build images");
    return rt->desc->build->build(rt->ctx, req, progress, userdata, ret_image_id, err);
}

/* ---- the core ---- */

int cln_rt_ping(struct cln_runtime *rt, struct cln_error **err)
{
    return rt->desc->ops->ping(rt->ctx, err);
}

int cln_rt_image_inspect(struct cln_runtime *rt, const char *ref, struct cln_image_info *ret,
                         struct cln_error **err)
{
    return rt->desc->ops->image_inspect(rt->ctx, ref, ret, err);
}

int cln_rt_image_pull(struct cln_runtime *rt, const char *ref, cln_progress_fn progress,
                      void *userdata, struct cln_error **err)
{
    return rt->desc->ops->image_pull(rt->ctx, ref, progress, userdata, err);
}

int cln_rt_image_remove(struct cln_runtime *rt, const char *ref, bool force, struct cln_error **err)
{
    return rt->desc->ops->image_remove(rt->ctx, ref, force, err);
}

int cln_rt_create(struct cln_runtime *rt, const struct cln_container_config *cfg, char **ret_id,
                  struct cln_error **err)
{
    return rt->desc->ops->create(rt->ctx, cfg, ret_id, err);
}

int cln_rt_start(struct cln_runtime *rt, const char *id, struct cln_error **err)
{
    return rt->desc->ops->start(rt->ctx, id, err);
}

int cln_rt_stop(struct cln_runtime *rt, const char *id, unsigned grace_s, struct cln_error **err)
{
    return rt->desc->ops->stop(rt->ctx, id, grace_s, err);
}

int cln_rt_kill(struct cln_runtime *rt, const char *id, const char *signal, struct cln_error **err)
{
    return rt->desc->ops->kill(rt->ctx, id, signal, err);
}

int cln_rt_wait(struct cln_runtime *rt, const char *id, uint64_t timeout_ms, int *ret_exit_code,
                struct cln_error **err)
{
    return rt->desc->ops->wait(rt->ctx, id, timeout_ms, ret_exit_code, err);
}

int cln_rt_remove(struct cln_runtime *rt, const char *id, bool force, struct cln_error **err)
{
    return rt->desc->ops->remove(rt->ctx, id, force, err);
}

int cln_rt_remove_many(struct cln_runtime *rt, const char *const *ids, size_t n, bool force,
                       struct cln_error **ret_errs, struct cln_error **err)
{
    for (size_t i = 0; i < n; i++)
        ret_errs[i] = NULL;
    if (!n)
        return 0;
    if (rt->desc->batch)
        return rt->desc->batch->remove(rt->ctx, ids, n, force, ret_errs, err);
    for (size_t i = 0; i < n; i++)
        (void)cln_rt_remove(rt, ids[i], force, &ret_errs[i]);
    return 0;
}

int cln_rt_stop_many(struct cln_runtime *rt, const char *const *ids, size_t n, unsigned grace_s,
                     struct cln_error **ret_errs, struct cln_error **err)
{
    for (size_t i = 0; i < n; i++)
        ret_errs[i] = NULL;
    if (!n)
        return 0;
    if (rt->desc->batch)
        return rt->desc->batch->stop(rt->ctx, ids, n, grace_s, ret_errs, err);
    for (size_t i = 0; i < n; i++)
        (void)cln_rt_stop(rt, ids[i], grace_s, &ret_errs[i]);
    return 0;
}

int cln_rt_inspect(struct cln_runtime *rt, const char *id, struct cln_container_state *ret,
                   struct cln_error **err)
{
    return rt->desc->ops->inspect(rt->ctx, id, ret, err);
}

int cln_rt_list(struct cln_runtime *rt, const char *label_filter,
                struct cln_container_summary **ret, size_t *ret_n, struct cln_error **err)
{
    return rt->desc->ops->list(rt->ctx, label_filter, ret, ret_n, err);
}

int cln_rt_logs(struct cln_runtime *rt, const char *id, unsigned tail, size_t cap,
                struct cln_capture *ret_out, struct cln_capture *ret_err, struct cln_error **err)
{
    return rt->desc->ops->logs(rt->ctx, id, tail, cap, ret_out, ret_err, err);
}

int cln_rt_exec(struct cln_runtime *rt, const char *id, const struct cln_exec_config *cfg,
                struct cln_exec_result *ret, struct cln_error **err)
{
    if (cfg->stdin_data && !rt->desc->exec_stdin)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0, "runtime %s: exec takes no stdin",
                             rt->desc->name);
    return rt->desc->ops->exec(rt->ctx, id, cfg, ret, err);
}

int cln_rt_copy_in(struct cln_runtime *rt, const char *id, const char *dir,
                   const struct cln_file *files, size_t n, struct cln_error **err)
{
    return rt->desc->ops->copy_in(rt->ctx, id, dir, files, n, err);
}

int cln_rt_copy_out(struct cln_runtime *rt, const char *id, const char *path, size_t cap,
                    struct cln_file_info *ret_info, struct cln_capture *ret_content,
                    bool *ret_found, struct cln_error **err)
{
    return rt->desc->ops->copy_out(rt->ctx, id, path, cap, ret_info, ret_content, ret_found, err);
}
