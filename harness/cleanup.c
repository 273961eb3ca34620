/* Leak audit, removal by run label, and gc of runs whose owner is gone. */
#include "cleanup.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/error.h"
#include "runtime/base/proc.h"
#include "runtime/base/xalloc.h"

void cln_leak_audit_done(struct cln_leak_audit *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->items[i].name);
        free(a->items[i].test);
    }
    free(a->items);
    free(a->error);
    memset(a, 0, sizeof(*a));
}

static void add_leak(struct cln_leak_audit *a, const char *kind, const char *name,
                     const struct cln_labels *labels)
{
    a->items = cln_xrealloc(a->items, (a->n + 1) * sizeof(*a->items));
    const char *test = cln_labels_get(labels, CLN_LABEL_TEST);
    a->items[a->n++] = (struct cln_leak){
        .kind = kind, .name = cln_xstrdup(name), .test = test ? cln_xstrdup(test) : NULL};
}

int cln_audit_run(struct cln_runtime *rt, const char *run_id, struct cln_leak_audit *ret,
                  struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    char filter[128];
    snprintf(filter, sizeof(filter), CLN_LABEL_RUN "=%s", run_id);
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    if (rt->desc->ops->list(rt->ctx, filter, &cs, &n, err) < 0)
        return cln_error_wrap(err, "leak audit: list containers");
    for (size_t i = 0; i < n; i++)
        add_leak(ret, "container", cs[i].id, &cs[i].labels);
    cln_container_summaries_free(cs, n);
    struct cln_resource *rs = NULL;
    if (rt->desc->network) {
        if (cln_network_list(rt, filter, &rs, &n, err) < 0)
            return cln_error_wrap(err, "leak audit: list networks");
        for (size_t i = 0; i < n; i++)
            add_leak(ret, "network", rs[i].name, &rs[i].labels);
        cln_resources_free(rs, n);
    }
    if (rt->desc->volume) {
        if (cln_volume_list(rt, filter, &rs, &n, err) < 0)
            return cln_error_wrap(err, "leak audit: list volumes");
        for (size_t i = 0; i < n; i++)
            add_leak(ret, "volume", rs[i].name, &rs[i].labels);
        cln_resources_free(rs, n);
    }
    ret->done = true;
    return 0;
}

/* Remove one resource, counting it by kind (container, network, volume);
 * the first failure is kept in *first_err. */
static void remove_one(struct cln_runtime *rt, const char *kind, const char *name,
                       size_t removed[3], struct cln_error **first_err)
{
    struct cln_error *e = NULL;
    int r, k;
    if (strcmp(kind, "container") == 0) {
        k = 0;
        r = rt->desc->ops->remove(rt->ctx, name, true, &e);
    } else if (strcmp(kind, "network") == 0) {
        k = 1;
        r = cln_network_remove(rt, name, &e);
    } else {
        k = 2;
        r = cln_volume_remove(rt, name, true, &e);
    }
    if (r == 0) {
        removed[k]++;
        return;
    }
    if (!*first_err)
        *first_err = e;
    else
        cln_error_free(e);
}

int cln_remove_run(struct cln_runtime *rt, const char *run_id, size_t ret_removed[3],
                   struct cln_error **err)
{
    struct cln_leak_audit a;
    if (cln_audit_run(rt, run_id, &a, err) < 0)
        return -1;
    struct cln_error *first = NULL;
    /* containers first: a network in use cannot be removed */
    for (size_t i = 0; i < a.n; i++)
        if (strcmp(a.items[i].kind, "container") == 0)
            remove_one(rt, a.items[i].kind, a.items[i].name, ret_removed, &first);
    for (size_t i = 0; i < a.n; i++)
        if (strcmp(a.items[i].kind, "container") != 0)
            remove_one(rt, a.items[i].kind, a.items[i].name, ret_removed, &first);
    cln_leak_audit_done(&a);
    if (first) {
        *err = first;
        return cln_error_wrap(err, "removing what run %s left", run_id);
    }
    return 0;
}

const char *cln_owner_state_name(enum cln_owner_state s)
{
    switch (s) {
    case CLN_OWNER_ALIVE:
        return "alive";
    case CLN_OWNER_GONE:
        return "gone";
    case CLN_OWNER_UNKNOWN:
        return "unknown";
    }
    return "?";
}

enum cln_owner_state cln_owner_state(const struct cln_labels *labels, bool local)
{
    const char *pid_s = cln_labels_get(labels, CLN_LABEL_OWNER_PID);
    const char *boot = cln_labels_get(labels, CLN_LABEL_OWNER_BOOT);
    const char *start_s = cln_labels_get(labels, CLN_LABEL_OWNER_START);
    if (!pid_s || !boot)
        return CLN_OWNER_UNKNOWN;
    char mine[64];
    cln_boot_id(mine, sizeof(mine));
    if (strcmp(boot, mine) != 0)
        /* with a local engine, another boot id is this machine before a
         * reboot; with a remote one it may be another machine */
        return local ? CLN_OWNER_GONE : CLN_OWNER_UNKNOWN;
    char *end = NULL;
    long pid = strtol(pid_s, &end, 10);
    if (*end || pid <= 0)
        return CLN_OWNER_UNKNOWN;
    if (pid == (long)getpid())
        return CLN_OWNER_ALIVE;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return CLN_OWNER_GONE;
    if (start_s) {
        unsigned long long want = strtoull(start_s, NULL, 10);
        uint64_t now = cln_proc_start_time((int)pid);
        if (want && now && now != want)
            return CLN_OWNER_GONE; /* the pid was given to a later process */
    }
    return CLN_OWNER_ALIVE;
}

void cln_gc_report_done(struct cln_gc_report *r)
{
    for (size_t i = 0; i < r->nerrors; i++)
        free(r->errors[i]);
    free(r->errors);
    memset(r, 0, sizeof(*r));
}

struct dead_runs {
    char **ids;
    size_t n;
};

static void note_run(struct dead_runs *d, const struct cln_labels *labels, bool local)
{
    const char *run = cln_labels_get(labels, CLN_LABEL_RUN);
    if (!run || cln_owner_state(labels, local) != CLN_OWNER_GONE)
        return;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->ids[i], run) == 0)
            return;
    d->ids = cln_xrealloc(d->ids, (d->n + 1) * sizeof(char *));
    d->ids[d->n++] = cln_xstrdup(run);
}

int cln_gc(struct cln_runtime *rt, struct cln_gc_report *ret, struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    struct dead_runs dead = {0};
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    if (rt->desc->ops->list(rt->ctx, CLN_LABEL_RUN, &cs, &n, err) < 0)
        return cln_error_wrap(err, "gc: list containers");
    for (size_t i = 0; i < n; i++)
        note_run(&dead, &cs[i].labels, rt->local);
    cln_container_summaries_free(cs, n);
    struct cln_resource *rs = NULL;
    if (rt->desc->network && cln_network_list(rt, CLN_LABEL_RUN, &rs, &n, err) == 0) {
        for (size_t i = 0; i < n; i++)
            note_run(&dead, &rs[i].labels, rt->local);
        cln_resources_free(rs, n);
    } else if (rt->desc->network) {
        return cln_error_wrap(err, "gc: list networks");
    }
    if (rt->desc->volume && cln_volume_list(rt, CLN_LABEL_RUN, &rs, &n, err) == 0) {
        for (size_t i = 0; i < n; i++)
            note_run(&dead, &rs[i].labels, rt->local);
        cln_resources_free(rs, n);
    } else if (rt->desc->volume) {
        return cln_error_wrap(err, "gc: list volumes");
    }
    ret->runs = dead.n;
    for (size_t i = 0; i < dead.n; i++) {
        struct cln_error *e = NULL;
        size_t removed[3] = {0};
        if (cln_remove_run(rt, dead.ids[i], removed, &e) < 0) {
            ret->errors = cln_xrealloc(ret->errors, (ret->nerrors + 1) * sizeof(char *));
            ret->errors[ret->nerrors++] = cln_error_render(e);
            cln_error_free(e);
        }
        ret->containers += removed[0];
        ret->networks += removed[1];
        ret->volumes += removed[2];
        free(dead.ids[i]);
    }
    free(dead.ids);
    return 0;
}
