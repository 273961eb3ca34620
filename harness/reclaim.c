/* Reclaiming (reclaim.h): the leak audit, removal by run label, and gc of
 * runs whose owner is gone. */
#include "reclaim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
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
    cln_gc_host_dirs(ret);
    return 0;
}

/* ---- the runs' private host directories ---- */

static const char *host_dir_parent(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && tmp[0] == '/' ? tmp : "/tmp";
}

#define OWNER_FILE "owner"

int cln_host_dir_make(const char *run_id, char **ret, struct cln_error **err)
{
    *ret = NULL;
    cleanup_free char *t = cln_xasprintf("%s/cleanrun-%s-XXXXXX", host_dir_parent(), run_id);
    if (!mkdtemp(t))
        return cln_error_set(err, CLN_E_IO, errno, "make the run's host directory %s", t);
    char *real = realpath(t, NULL);
    struct cln_labels l = {0};
    cln_runtime_labels(&l, run_id, CLN_VERSION, NULL);
    struct cln_buf b = CLN_BUF_INIT;
    for (size_t i = 0; i < l.len; i++)
        cln_buf_printf(&b, "%s=%s\n", l.items[i].key, l.items[i].value);
    cln_labels_done(&l);
    cleanup_free char *owner = real ? cln_xasprintf("%s/" OWNER_FILE, real) : NULL;
    int fd = owner ? open(owner, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
    int e = errno;
    bool ok = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
    e = ok ? 0 : fd >= 0 ? errno : e;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    cln_buf_done(&b);
    if (!ok) {
        if (owner)
            (void)unlink(owner);
        (void)rmdir(real ? real : t);
        free(real);
        return cln_error_set(err, CLN_E_IO, e, "write the owner of the run's host directory %s", t);
    }
    *ret = real;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

void cln_host_dir_remove(const char *path)
{
    if (path)
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* The labels of dir's owner file; false when it is not one cleanrun wrote
 * for this user. */
static bool read_owner(int dirfd, struct cln_labels *ret)
{
    int fd = openat(dirfd, OWNER_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    char buf[4096];
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()
                    ? read(fd, buf, sizeof(buf) - 1)
                    : -1;
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        cln_labels_set(ret, line, eq + 1);
    }
    return cln_labels_get(ret, CLN_LABEL_RUN) != NULL;
}

void cln_gc_host_dirs(struct cln_gc_report *r)
{
    const char *parent = host_dir_parent();
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "cleanrun-", 9) != 0)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st;
        struct cln_labels l = {0};
        bool ours = fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) == 0700 &&
                    read_owner(fd, &l);
        close(fd);
        if (ours && cln_owner_state(&l, true) == CLN_OWNER_GONE) {
            cleanup_free char *path = cln_xasprintf("%s/%s", parent, de->d_name);
            if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0) {
                r->host_dirs++;
            } else {
                r->errors = cln_xrealloc(r->errors, (r->nerrors + 1) * sizeof(char *));
                r->errors[r->nerrors++] = cln_xasprintf(
                    "remove the host directory %s of a dead run: %s", path, strerror(errno));
            }
        }
        cln_labels_done(&l);
    }
    closedir(d);
}
