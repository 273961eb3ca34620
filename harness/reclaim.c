/* Reclaiming (reclaim.h): the leak audit, removal by run label, and gc of
 * runs whose owner is gone. */
#include "reclaim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/os.h"
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
    if (cln_rt_list(rt, filter, &cs, &n, err) < 0)
        return cln_error_wrap(err, "leak audit: list containers");
    for (size_t i = 0; i < n; i++)
        add_leak(ret, "container", cs[i].id, &cs[i].labels);
    cln_container_summaries_free(cs, n);
    struct cln_resource *rs = NULL;
    if (cln_runtime_supports(rt, CLN_FEATURE_NETWORK)) {
        if (cln_network_list(rt, filter, &rs, &n, err) < 0)
            return cln_error_wrap(err, "leak audit: list networks");
        for (size_t i = 0; i < n; i++)
            add_leak(ret, "network", rs[i].name, &rs[i].labels);
        cln_resources_free(rs, n);
    }
    if (cln_runtime_supports(rt, CLN_FEATURE_VOLUME)) {
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
        r = cln_rt_remove(rt, name, true, &e);
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

int cln_remove_listed(struct cln_runtime *rt, const struct cln_leak_audit *a, size_t ret_removed[3],
                      struct cln_error **err)
{
    struct cln_error *first = NULL;
    /* containers first (a network in use cannot be removed), in one
     * request where the runtime takes several */
    const char **ids = cln_xcalloc(a->n + 1, sizeof(*ids));
    size_t nc = 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].kind, "container") == 0)
            ids[nc++] = a->items[i].name;
    struct cln_error **errs = cln_xcalloc(nc + 1, sizeof(struct cln_error *));
    struct cln_error *be = NULL;
    if (nc && cln_rt_remove_many(rt, ids, nc, true, errs, &be) < 0) {
        first = be;
    } else {
        for (size_t i = 0; i < nc; i++) {
            if (!errs[i])
                ret_removed[0]++;
            else if (!first)
                first = errs[i];
            else
                cln_error_free(errs[i]);
        }
    }
    free(errs);
    free(ids);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].kind, "container") != 0)
            remove_one(rt, a->items[i].kind, a->items[i].name, ret_removed, &first);
    if (first) {
        *err = first;
        return -first->code;
    }
    return 0;
}

int cln_remove_run(struct cln_runtime *rt, const char *run_id, size_t ret_removed[3],
                   struct cln_error **err)
{
    struct cln_leak_audit a;
    if (cln_audit_run(rt, run_id, &a, err) < 0)
        return -1;
    int r = cln_remove_listed(rt, &a, ret_removed, err);
    cln_leak_audit_done(&a);
    if (r < 0)
        return cln_error_wrap(err, "removing what run %s left", run_id);
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

/* Is the process that had pid `pid` in pid namespace `pidns` (as that
 * namespace numbers it), started at `start`, alive?  Only answerable for a
 * namespace some process of which is visible here (ours, or one below it):
 * its members are then found by their innermost pid (NSpid).  -1: the
 * namespace is not visible (a sibling container's, or gone: no way to
 * tell), 0: gone, 1: alive. */
static int owner_alive_in(uint64_t pidns, long pid, uint64_t start)
{
    if (pidns == cln_proc_pidns(0)) {
        if (pid == (long)getpid())
            return 1;
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            return 0;
        uint64_t now = cln_proc_start_time((int)pid);
        /* the pid was given to a later process */
        return start && now && now != start ? 0 : 1;
    }
    int *pids = NULL;
    size_t np = 0;
    if (cln_os_pids(&pids, &np) < 0)
        return -1;
    bool visible = false;
    int alive = 0;
    for (size_t i = 0; i < np && alive == 0; i++) {
        int p = pids[i];
        if (cln_proc_pidns(p) != pidns)
            continue;
        visible = true;
        if (cln_proc_inner_pid(p) == pid && (!start || cln_proc_start_time(p) == start))
            alive = 1;
    }
    free(pids);
    return alive ? 1 : visible ? 0 : -1;
}

enum cln_owner_state cln_owner_state(const struct cln_labels *labels, bool local)
{
    (void)local;
    const char *pid_s = cln_labels_get(labels, CLN_LABEL_OWNER_PID);
    const char *boot = cln_labels_get(labels, CLN_LABEL_OWNER_BOOT);
    const char *start_s = cln_labels_get(labels, CLN_LABEL_OWNER_START);
    const char *pidns_s = cln_labels_get(labels, CLN_LABEL_OWNER_PIDNS);
    const char *host = cln_labels_get(labels, CLN_LABEL_OWNER_HOST);
    /* Labels of an older cleanrun say nothing of the owner's pid
     * namespace: never judged (docs/labels.md). */
    if (!pid_s || !boot || !pidns_s || !host)
        return CLN_OWNER_UNKNOWN;
    char mine[64], machine[64];
    cln_boot_id(mine, sizeof(mine));
    cln_machine_id(machine, sizeof(machine));
    if (strcmp(boot, mine) != 0)
        /* another boot: this machine before a reboot (its owner died with
         * it), or another machine using the same engine (never judged) */
        return strcmp(host, machine) == 0 && strcmp(host, "unknown") != 0 ? CLN_OWNER_GONE
                                                                          : CLN_OWNER_UNKNOWN;
    char *end = NULL;
    long pid = strtol(pid_s, &end, 10);
    if (*end || pid <= 0)
        return CLN_OWNER_UNKNOWN;
    unsigned long long ns = strtoull(pidns_s, &end, 10);
    if (*end || !ns)
        return CLN_OWNER_UNKNOWN;
    uint64_t start = start_s ? strtoull(start_s, NULL, 10) : 0;
    int alive = owner_alive_in(ns, pid, start);
    return alive < 0 ? CLN_OWNER_UNKNOWN : alive ? CLN_OWNER_ALIVE : CLN_OWNER_GONE;
}

void cln_gc_report_done(struct cln_gc_report *r)
{
    for (size_t i = 0; i < r->nerrors; i++)
        free(r->errors[i]);
    free(r->errors);
    memset(r, 0, sizeof(*r));
}

/* Every run seen, judged once (all of a run's resources carry the same
 * owner labels). */
struct judged_runs {
    struct cln_strv ids;
    enum cln_owner_state *state;
};

static void judged_free(struct judged_runs *d)
{
    cln_strv_done(&d->ids);
    free(d->state);
}

static void note_run(struct judged_runs *d, const struct cln_labels *labels, bool local)
{
    const char *run = cln_labels_get(labels, CLN_LABEL_RUN);
    if (!run)
        return;
    if (cln_strv_contains(&d->ids, run))
        return;
    d->state = cln_xrealloc(d->state, (d->ids.n + 1) * sizeof(*d->state));
    d->state[d->ids.n] = cln_owner_state(labels, local);
    cln_strv_add(&d->ids, run);
}

int cln_gc(struct cln_runtime *rt, struct cln_gc_report *ret, struct cln_error **err)
{
    memset(ret, 0, sizeof(*ret));
    struct judged_runs dead = {0};
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    if (cln_rt_list(rt, CLN_LABEL_RUN, &cs, &n, err) < 0)
        return cln_error_wrap(err, "gc: list containers");
    for (size_t i = 0; i < n; i++)
        note_run(&dead, &cs[i].labels, cln_runtime_local(rt));
    cln_container_summaries_free(cs, n);
    struct cln_resource *rs = NULL;
    if (cln_runtime_supports(rt, CLN_FEATURE_NETWORK) &&
        cln_network_list(rt, CLN_LABEL_RUN, &rs, &n, err) == 0) {
        for (size_t i = 0; i < n; i++)
            note_run(&dead, &rs[i].labels, cln_runtime_local(rt));
        cln_resources_free(rs, n);
    } else if (cln_runtime_supports(rt, CLN_FEATURE_NETWORK)) {
        judged_free(&dead);
        return cln_error_wrap(err, "gc: list networks");
    }
    if (cln_runtime_supports(rt, CLN_FEATURE_VOLUME) &&
        cln_volume_list(rt, CLN_LABEL_RUN, &rs, &n, err) == 0) {
        for (size_t i = 0; i < n; i++)
            note_run(&dead, &rs[i].labels, cln_runtime_local(rt));
        cln_resources_free(rs, n);
    } else if (cln_runtime_supports(rt, CLN_FEATURE_VOLUME)) {
        judged_free(&dead);
        return cln_error_wrap(err, "gc: list volumes");
    }
    for (size_t i = 0; i < dead.ids.n; i++) {
        if (dead.state[i] != CLN_OWNER_GONE) {
            ret->unknown += dead.state[i] == CLN_OWNER_UNKNOWN;
            continue;
        }
        ret->runs++;
        struct cln_error *e = NULL;
        size_t removed[3] = {0};
        if (cln_remove_run(rt, dead.ids.v[i], removed, &e) < 0) {
            ret->errors = cln_xrealloc(ret->errors, (ret->nerrors + 1) * sizeof(char *));
            ret->errors[ret->nerrors++] = cln_error_render(e);
            cln_error_free(e);
        }
        ret->containers += removed[0];
        ret->networks += removed[1];
        ret->volumes += removed[2];
    }
    judged_free(&dead);
    return 0;
}
