/* What the runner's files share (harness/runner*.c, services.c, steps.c,
 * containers.c, images.c, observe.c, expect.c): the per-test state and the
 * helpers each of them uses.  Not for the rest of the harness. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runner.h"
#include "runtime/base/deadline.h"

#define now_ms cln_now_ms

struct cln_error;

/* The host's static busybox, copied into fresh containers and services to
 * keep them alive and to run probes (any image, no shell needed). */
#define KEEPALIVE_DIR "/.cleanrun"
#define KEEPALIVE_BIN "/.cleanrun/busybox"
#define KEEPALIVE_EXEC "/.cleanrun/exec" /* harness/inside/cleanrun-exec.c */

/* Stopping what ran when the limit fires (killing the step, reading how
 * it ended, removing its container) takes engine requests too: they get
 * this long past the limit. */
#define STOP_GRACE_MS 10000

struct run;

/* A name on the test network and its address, for a network on which the
 * engine resolves no names (cln_network_ops.create's *ret_resolves). */
struct host_entry {
    char *name;
    char *ip;
    size_t service; /* whose */
};

struct test_ctx {
    struct run *run;
    size_t index;
    const struct cln_spec_test *t;
    struct cln_test_result *r;
    struct cln_labels labels;
    uint64_t deadline;    /* the earlier of the test's and the run's; 0: none */
    char limit[96];       /* which limit that is, in words */
    pthread_mutex_t lock; /* containers, the routed network, hosts */
    /* teardown, LIFO */
    struct cln_strv containers;
    /* a fresh container being removed while the next step goes on */
    pthread_t remover;
    bool removing;
    char *removing_id;
    struct cln_error *removing_error;
    /* networks */
    bool resolves; /* the engine resolves names on the test network */
    char *routed;  /* the test's routed network, once something needed it */
    bool routed_failed;
    struct host_entry *hosts;
    size_t nhosts, hcap;
    size_t *svc_hosts_known; /* per service: how many hosts it was created knowing */
    struct cln_strv volumes; /* the engine's names of t->volumes, once made */
    char *artifacts_dir;     /* --artifacts: the test's directory, once made */
    int artifacts_fd;        /* ...opened; -1 before */
};

struct run {
    struct cln_runtime *rt;
    const struct cln_spec_test *tests;
    size_t n;
    const struct cln_run_options *opts;
    struct cln_test_result *results;
    pthread_mutex_t lock;
    size_t next;
    bool stop; /* fail-fast or interrupted: start nothing new */
    uint64_t run_deadline;
    /* the keep-alive busybox, delivered once for the run (containers.c) */
    pthread_mutex_t ka_lock;
    int ka_state;        /* the volume: 0 not tried, 1 it holds them, -1 copy per container */
    char ka_volume[128]; /* its name, once made */
    int ka_dir_state;    /* the files in host_dir: 0 not written, 1 written, -1 that failed */
    int ka_bind;         /* a local engine binding host_dir's files: 0 not tried yet,
                          * 1 it did, -1 it could not (it sees another filesystem) */
    /* A private host directory of the run (0700), holding the keep-alive
     * files, mounted read-only at KEEPALIVE_DIR (on a local engine, and on
     * a runtime that copies only into running containers), and each
     * container's staged files on the latter (mounted at STAGED_DIR, put
     * in place by cleanrun-exec -F). */
    char *host_dir;        /* made once; removed at the end of the run */
    int host_dir_state;    /* 0 not tried, 1 made, -1 failed */
    unsigned staged;       /* containers staged so far (names their directories) */
    char **artifact_names; /* --artifacts: each test's directory name */
};
#define STAGED_DIR "/.cleanrun-files"

/* Where a container goes: the network to create it on, and whether it
 * then joins the internal test network too. */
struct placement {
    const char *network; /* for create; NULL: the runtime's default */
    bool join_internal;  /* connect to the test network after create */
    enum cln_net_mode mode;
    const char *reason; /* static */
};

/* runner.c */
/* e with a layer of context on it ("prefix: ..."); an error's text,
 * consuming it (for notes and probe answers, which are text). */
struct cln_error *__attribute__((format(printf, 2, 3)))
cln_runner_wrap(struct cln_error *e, const char *fmt, ...);
char *cln_runner_text(struct cln_error *e);
void cln_runner_sleep_ms(uint64_t ms);
char *cln_runner_container_name(const struct test_ctx *c, const char *what);
bool cln_runner_deadline_passed(const struct test_ctx *c);
void cln_runner_enter_limit(const struct test_ctx *c);
void cln_runner_fail_test(struct cln_test_result *r, enum cln_status st, struct cln_error *e);
bool cln_runner_interrupted(const struct test_ctx *c);
uint64_t cln_runner_remaining(const struct test_ctx *c, uint64_t want);
void cln_runner_teardown(struct test_ctx *c);
void cln_runner_track(struct test_ctx *c, const char *id);
void cln_runner_untrack_remove(struct test_ctx *c, const char *id);

/* runner.c (service facts) */
void cln_runner_env_vector(const struct test_ctx *c, const struct cln_labels *env,
                           struct cln_strv *ret);
const struct cln_service_result *cln_runner_find_service(const struct test_ctx *c,
                                                         const char *name);
char *cln_runner_substitute(const struct test_ctx *c, const char *s);

/* observe.c */
/* ret_token: NULL, the canary is written now; else, where it is to be
 * written, it is left to the step's own exec (ret_token gets its token,
 * ev->canary_path its path; "" when there is none to write), and
 * cln_runner_canary_after_step() checks it.  A ret_token that holds a
 * canary's token already (in a gated container's command) is that one. */
void cln_runner_observe_container(struct cln_runtime *rt, const char *id, bool has_keepalive,
                                  const struct cln_spec_privs *privs, enum cln_net_mode net_mode,
                                  const char *net_reason, struct cln_evidence *ev, char *ret_token);
/* The host pid of container id's init when it runs and is proven the
 * container's (its cgroup names the container), else 0. */
int cln_runner_container_pid(struct cln_runtime *rt, const char *id);
/* After the step whose exec was to write the canary: check it; when it is
 * not there (the step could not write it: another user, a read-only root,
 * a program that did not start), write one as before, then judge ev. */
void cln_runner_canary_after_step(struct cln_runtime *rt, const char *id, struct cln_evidence *ev,
                                  const char *token);
void cln_runner_step_evidence(const struct cln_evidence *base, const struct cln_attempt *a,
                              struct cln_evidence *ev);

/* steps.c: what cleanrun-exec's one line "WHAT ERRNO NAME" (after its
 * "cleanrun-exec: ") says, as the error the engine would give, or NULL. */
struct cln_error *cln_runner_inside_error(const char *line);
/* A container whose first process (cleanrun-exec putting its files, owners
 * and hosts in place) failed and exited: that failure, from its log, or
 * NULL. */
struct cln_error *cln_runner_first_process_error(struct test_ctx *c, const char *id);

/* owners.c: files[i] owned as owners[i] says, names looked up in the
 * container's /etc/passwd and /etc/group (read by copy-out). */
int cln_runner_resolve_owners(struct cln_runtime *rt, const char *id, struct cln_file *files,
                              const char *const *owners, size_t n, struct cln_error **err);
/* The spec's files as runtime files (owners by number set) and, per file,
 * the owner still to look up by name (NULL-filled); both freed by the
 * caller (the strings are the spec's). */
struct cln_file *cln_runner_spec_files(const struct cln_spec_file_item *items, size_t n,
                                       const char ***ret_owners);

/* artifacts.c (--artifacts) */
/* Each test's directory name: its name made safe, unique in the run. */
char **cln_artifacts_test_dirs(const struct cln_spec_test *tests, size_t n);
/* A step's directory under its test's: "03-NAME". */
char *cln_artifacts_step_dir(size_t si, const char *name);
/* paths of container id into TESTDIR/sub/, recorded in *ret. */
void cln_artifacts_save(struct test_ctx *c, const char *id, const char *sub,
                        const struct cln_strv *paths, struct cln_artifact **ret, size_t *ret_n);
/* The last lines of a service's log into TESTDIR/services/NAME.STREAM.log. */
void cln_artifacts_save_log(struct test_ctx *c, struct cln_service_result *sr);
/* The test's directory kept (r->artifacts_dir) or, for a test that passed
 * without --artifacts-when always, removed with its record. */
void cln_artifacts_finish(struct test_ctx *c);

/* containers.c */
struct cln_runner_create {
    const char *what;                   /* in the container's name: a service, "step3" */
    const char *label, *label_value;    /* e.g. io.cleanrun.service = web */
    const struct cln_spec_privs *privs; /* beyond the hermetic defaults */
    const struct placement *pl;         /* cln_runner_place()'s */
    struct cln_container_config cfg;    /* the caller's part */
    bool join;                          /* join the test network when pl says so */
    const char *const *aliases;         /* there */
    size_t *hosts_known;                /* cln_runner_hosts_vector()'s */
    const struct cln_file *files;       /* copied in before start */
    size_t nfiles;
    /* per file, NULL or an owner to look up in the container
     * ("user[:group]"); numbers are already in files[].uid/gid */
    const char *const *owners;
    const struct cln_spec_mounts *data; /* volumes and tmpfs, or NULL */
    bool keepalive;     /* with the keep-alive files at KEEPALIVE_DIR (if the host has busybox) */
    const char *prefix; /* of errors: "service web", or NULL */
    const char *files_word; /* in a copy error: "files", or NULL */
};
int cln_runner_create_container(struct test_ctx *c, const struct cln_runner_create *req,
                                char **ret_id, struct cln_error **err);
/* The keep-alive busybox (empty when the host has none); loaded once. */
const struct cln_buf *cln_runner_keepalive(void);
/* What goes at KEEPALIVE_DIR: the busybox and cleanrun-exec, as files to
 * copy (paths relative to /); none when the host has no busybox. */
const struct cln_file *cln_runner_keepalive_files(size_t *ret_n);
/* inside.c: cleanrun-exec, the static binary */
const char *cln_runner_inside_exec(size_t *ret_len);
/* The run's volume holding it (made once, with a container of image), or
 * NULL: the engine cannot fill a volume that way, and each container gets
 * its own copy. */
const char *cln_runner_keepalive_volume(struct test_ctx *c, const char *image);
/* Remove that volume at the end of the run, unless kept is set. */
void cln_runner_keepalive_volume_done(struct run *run, bool kept);
/* The run's host directory removed, with everything in it, unless kept
 * is set (kept containers may bind it; gc removes it once the run is
 * gone). */
void cln_runner_host_dir_done(struct run *run, bool kept);
void cln_runner_add_hosts(struct test_ctx *c, size_t svc, const char *ip);
/* "NAME:IP" for each name known so far; *ret_n (may be NULL) the count. */
void cln_runner_hosts_vector(struct test_ctx *c, size_t *ret_n, struct cln_strv *ret);

/* containers.c */
struct cln_mount *cln_runner_host_mounts(const struct cln_spec_privs *p);
int cln_runner_place(struct test_ctx *c, const struct cln_spec_privs *p, bool wants_net, bool ports,
                     struct placement *ret, struct cln_error **err);
/* gate: NULL, the container is kept alive for its step's exec; else its
 * first process is the step itself behind cleanrun-exec -W (harness/inside),
 * with this argv and env, and the step's workdir and user. */
struct cln_runner_gate {
    const char *const *argv, *const *env;
};
char *cln_runner_fresh_container(struct test_ctx *c, const struct cln_spec_step *s, size_t si,
                                 const struct cln_runner_gate *gate, struct cln_error **err,
                                 struct cln_evidence *ev, bool *observed, char token[static 40]);

/* images.c */
int cln_runner_ensure_images(struct test_ctx *c);

/* services.c */
void cln_runner_keep_log_tail(struct test_ctx *c, struct cln_service_result *sr);
void cln_runner_pause_ms(const struct test_ctx *c, uint64_t ms);
int cln_runner_start_services(struct test_ctx *c);

/* steps.c */
void cln_runner_attempt_error(struct cln_attempt *a, struct cln_error *e);
void cln_runner_run_step(struct test_ctx *c, size_t si);
