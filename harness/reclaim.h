/* Reclaiming what runs leave behind, even after a crash (docs/cli.md: gc,
 * ps; the leak audit): the leak audit of a run, removal by run label, the
 * owner-state judgement and gc of runs whose owner is gone.
 *
 * Everything cleanrun creates carries its run's labels (docs/labels.md),
 * among them the owner's pid, boot id and start time.  From those alone,
 * with no helper process and no state on disk, a later cleanrun can tell
 * whose owner is gone and remove what it left. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "runtime/runtime.h"

struct cln_error;

/* Something still carrying a run's label. */
struct cln_leak {
    const char *kind; /* "container", "network", "volume" (static) */
    char *name;       /* container id, network or volume name */
    char *test;       /* the test label, or NULL */
};

struct cln_leak_audit {
    bool done; /* the audit ran */
    struct cln_leak *items;
    size_t n;
    char *error;    /* the audit itself failed, or NULL */
    size_t removed; /* leaks removed after they were recorded */
};
void cln_leak_audit_done(struct cln_leak_audit *a);

/* List what still carries run_id's label (containers, networks, volumes). */
int cln_audit_run(struct cln_runtime *rt, const char *run_id, struct cln_leak_audit *ret,
                  struct cln_error **err);
/* Force-remove what an audit listed, containers first; ret_removed as
 * below. */
int cln_remove_listed(struct cln_runtime *rt, const struct cln_leak_audit *a, size_t ret_removed[3],
                      struct cln_error **err);
/* Force-remove everything carrying run_id's label, containers first;
 * ret_removed[0..2] are incremented per container, network, volume. */
int cln_remove_run(struct cln_runtime *rt, const char *run_id, size_t ret_removed[3],
                   struct cln_error **err);

enum cln_owner_state {
    CLN_OWNER_ALIVE,   /* the owner process still runs */
    CLN_OWNER_GONE,    /* its pid is free or taken by a later process, in a pid namespace seen
                          from here; or this machine rebooted since */
    CLN_OWNER_UNKNOWN, /* cannot be judged: another machine's, a pid namespace not visible
                          from here (a sibling container's), or labels without the owner's
                          pid namespace (an older cleanrun) */
};
const char *cln_owner_state_name(enum cln_owner_state s);
/* Judge from a resource's labels (docs/labels.md); local is unused: the
 * labels themselves say where the owner was. */
enum cln_owner_state cln_owner_state(const struct cln_labels *labels, bool local);

struct cln_gc_report {
    size_t runs;    /* dead runs found */
    size_t unknown; /* runs left alone: their owner cannot be judged from here */
    size_t containers, networks, volumes;
    size_t host_dirs; /* the runs' private host directories removed (below) */
    char **errors;    /* removals that failed, rendered */
    size_t nerrors;
};
void cln_gc_report_done(struct cln_gc_report *r);

/* Remove the resources of every run whose owner is gone, and their
 * private host directories (below).  Runs with a live or unknown owner
 * are never touched. */
int cln_gc(struct cln_runtime *rt, struct cln_gc_report *ret, struct cln_error **err);

/* A run's private host directory (for a runtime that copies only into
 * running containers): $TMPDIR (when absolute, else /tmp)/cleanrun-RUN-XXXXXX,
 * 0700, holding an "owner" file with the run's ownership labels, one
 * "key=value" a line, so that gc can tell when its owner is gone even
 * when no container of the run was ever made.  *ret: its canonical path
 * (owned).  0, or -1 with *err. */
int cln_host_dir_make(const char *run_id, char **ret, struct cln_error **err);
/* Remove it and everything in it (never following a link). */
void cln_host_dir_remove(const char *path);
/* Remove the host directories of runs whose owner is gone: only
 * directories named cleanrun-*, owned by this user, mode 0700, whose
 * owner file (a regular file of this user) judges CLN_OWNER_GONE.  Adds
 * to r->host_dirs and r->errors. */
void cln_gc_host_dirs(struct cln_gc_report *r);
