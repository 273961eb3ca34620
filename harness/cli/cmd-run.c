/* cleanrun run | validate | list (docs/cli.md). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pcre2.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "harness/cleanup.h"
#include "harness/isolation.h"
#include "harness/report.h"
#include "harness/runner.h"
#include "harness/spec.h"
#include "harness/text.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/buf.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

#ifndef CLN_VERSION
#define CLN_VERSION "0.0.0-unknown"
#endif

struct opts {
    int jobs;
    bool fail_fast;
    const char *filter;
    const char **tags;
    size_t ntags;
    unsigned shard_i, shard_n;
    uint64_t timeout_ms;
    const char *runtime, *host;
    int verbose;
    unsigned allow; /* enum cln_allow bits */
    enum { FMT_HUMAN, FMT_JSON, FMT_TAP } format;
    struct report_req {
        int fmt; /* FMT_JSON, FMT_TAP, or 3: junit */
        const char *path;
    } reports[8];
    size_t nreports;
    const char *shard;
    bool no_gc, no_lockout, keep_on_failure;
    bool quiet;
    bool color;
    char **paths;
    size_t npaths;
};

static void print_usage(const char *cmd, FILE *f)
{
    fprintf(f, "usage: cleanrun %s [OPTIONS] [PATH...]\n\n", cmd);
    if (strcmp(cmd, "run") == 0)
        fprintf(f, "Run the tests in the spec files (PATH: files, or directories searched for\n"
                   "*.cleanrun.toml; default: the current directory).\n\n");
    else if (strcmp(cmd, "validate") == 0)
        fprintf(f, "Check spec files without running anything: the same loader as 'run'.\n\n");
    else
        fprintf(f, "List the tests and their steps, after matrix expansion and selection.\n\n");
    fprintf(f, "Privileges (a spec that asks for one is refused without its flag):\n"
               "  --allow-privileged     privileged = true\n"
               "  --allow-host-network   host_network = true\n"
               "  --allow-host-pid       host_pid = true\n"
               "  --allow-host-mounts    mounts = [{ source = HOST_PATH, ... }]\n"
               "  --allow-engine-socket  a mount that hands a container an engine socket\n"
               "  --allow-outbound       outbound = true (a route to the host and beyond)\n"
               "  --allow-host-files     files[].source outside the spec's directory\n");
    fprintf(f, "Selection:\n"
               "  --filter REGEX     only tests whose name matches (PCRE2)\n"
               "  --tag TAG          only tests with this tag (repeatable: any of them)\n"
               "  --shard I/N        only shard I of N (1-based; stable by test name)\n");
    if (strcmp(cmd, "run") == 0)
        fprintf(f,
                "Running:\n"
                "  -j, --jobs N       tests in parallel (default: the number of cores)\n"
                "  --fail-fast        start no more tests after one fails\n"
                "  --timeout DUR      limit for the whole run (e.g. 10m)\n"
                "  --runtime NAME     docker or podman (default: $CLEANRUN_RUNTIME, else "
                "discover)\n"
                "  --host URL         the engine's address, e.g. unix:///run/podman/podman.sock\n"
                "  --no-gc            do not remove what dead runs left before starting\n"
                "  --keep-on-failure  leave a failed test's containers running for inspection\n"
                "                     (listed with the commands to reach them; the next gc\n"
                "                     removes them)\n"
                "  --no-lockout       do not install the host-exec lockout (not recommended)\n"
                "Output:\n"
                "  -v, --verbose      stream step output\n"
                "  -q, --quiet        only failures and the summary\n"
                "  --no-color         no colour (also: NO_COLOR set)\n"
                "  --format FMT       stdout: human (default), json or tap; with json or tap\n"
                "                     the human output goes to stderr\n"
                "  --report FMT=FILE  also write a report: json, junit or tap (repeatable)\n"
                "\nExit status: 0 all passed, 1 a test failed, 2 usage or spec error, 3 "
                "infrastructure error\n(or a leak), 4 an isolation violation, 130/143 "
                "interrupted.\n");
    else if (strcmp(cmd, "validate") == 0)
        fprintf(f, "\nExit status: 0 every spec is valid, 2 a usage or spec error (every error is "
                   "printed,\nfile:line:col).\n");
    else
        fprintf(f, "\nExit status: 0 listed, 2 a usage or spec error.\n");
}

static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"fail-fast", no_argument, NULL, 'F'},
        {"filter", required_argument, NULL, 'f'},
        {"tag", required_argument, NULL, 't'},
        {"shard", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 'T'},
        {"runtime", required_argument, NULL, 'r'},
        {"host", required_argument, NULL, 'H'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"allow-privileged", no_argument, NULL, 1000 + CLN_ALLOW_PRIVILEGED},
        {"allow-host-network", no_argument, NULL, 1000 + CLN_ALLOW_HOST_NETWORK},
        {"allow-host-pid", no_argument, NULL, 1000 + CLN_ALLOW_HOST_PID},
        {"allow-host-mounts", no_argument, NULL, 1000 + CLN_ALLOW_HOST_MOUNTS},
        {"allow-engine-socket", no_argument, NULL, 1000 + CLN_ALLOW_ENGINE_SOCKET},
        {"allow-outbound", no_argument, NULL, 1000 + CLN_ALLOW_OUTBOUND},
        {"allow-host-files", no_argument, NULL, 1000 + CLN_ALLOW_HOST_FILES},
        {"no-gc", no_argument, NULL, 'G'},
        {"report", required_argument, NULL, 'R'},
        {"format", required_argument, NULL, 'O'},
        {"no-lockout", no_argument, NULL, 'L'},
        {"keep-on-failure", no_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    bool is_run = strcmp(cmd, "run") == 0;
    o->color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "j:vqh", longopts, NULL)) != -1) {
        char *end = NULL;
        if (c > 1000) {
            o->allow |= (unsigned)(c - 1000);
            continue;
        }
        if (!is_run &&
            (c == 'j' || c == 'F' || c == 'T' || c == 'r' || c == 'H' || c == 'v' || c == 'q' ||
             c == 'C' || c == 'G' || c == 'L' || c == 'R' || c == 'O' || c == 'K')) {
            fprintf(stderr, "cleanrun %s: %s is an option of 'run'\n", cmd, argv[optind - 1]);
            return -1;
        }
        switch (c) {
        case 'j': {
            errno = 0;
            long j = strtol(optarg, &end, 10);
            if (errno || *end || j < 1 || j > 256) {
                fprintf(stderr, "cleanrun %s: -j needs a number from 1 to 256, not \"%s\"\n", cmd,
                        optarg);
                return -1;
            }
            o->jobs = (int)j;
            break;
        }
        case 'F':
            o->fail_fast = true;
            break;
        case 'f': {
            int code;
            PCRE2_SIZE off;
            pcre2_code *re =
                pcre2_compile((PCRE2_SPTR)optarg, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
            if (!re) {
                PCRE2_UCHAR m[200];
                pcre2_get_error_message(code, m, sizeof(m));
                fprintf(stderr, "cleanrun %s: --filter \"%s\": %s at offset %zu\n", cmd, optarg,
                        (char *)m, (size_t)off);
                return -1;
            }
            pcre2_code_free(re);
            o->filter = optarg;
            break;
        }
        case 't':
            o->tags = cln_xrealloc(o->tags, (o->ntags + 1) * sizeof(char *));
            o->tags[o->ntags++] = optarg;
            break;
        case 's': {
            o->shard = optarg;
            int used = 0;
            if (sscanf(optarg, "%u/%u%n", &o->shard_i, &o->shard_n, &used) != 2 ||
                optarg[used] != '\0' || optarg[0] < '1' || optarg[0] > '9' || o->shard_n == 0 ||
                o->shard_i == 0 || o->shard_i > o->shard_n) {
                fprintf(stderr, "cleanrun %s: --shard needs I/N with 1 <= I <= N, not \"%s\"\n",
                        cmd, optarg);
                return -1;
            }
            break;
        }
        case 'T': {
            struct cln_error *e = NULL;
            if (cln_duration_parse(optarg, &o->timeout_ms, &e) < 0) {
                fprintf(stderr, "cleanrun %s: --timeout: %s\n", cmd, e->msg);
                cln_error_free(e);
                return -1;
            }
            break;
        }
        case 'r':
            if (!*optarg) {
                fprintf(stderr, "cleanrun %s: --runtime needs a name (docker, podman, apple)\n",
                        cmd);
                return -1;
            }
            o->runtime = optarg;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 'v':
            o->verbose++;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'C':
            o->color = false;
            break;
        case 'G':
            o->no_gc = true;
            break;
        case 'O':
            if (strcmp(optarg, "human") == 0)
                o->format = FMT_HUMAN;
            else if (strcmp(optarg, "json") == 0)
                o->format = FMT_JSON;
            else if (strcmp(optarg, "tap") == 0)
                o->format = FMT_TAP;
            else {
                fprintf(stderr, "cleanrun %s: --format is human, json or tap, not \"%s\"\n", cmd,
                        optarg);
                return -1;
            }
            break;
        case 'R': {
            const char *eq = strchr(optarg, '=');
            size_t kl = eq ? (size_t)(eq - optarg) : 0;
            int fmt = !eq                                           ? -1
                      : kl == 4 && strncmp(optarg, "json", 4) == 0  ? FMT_JSON
                      : kl == 3 && strncmp(optarg, "tap", 3) == 0   ? FMT_TAP
                      : kl == 5 && strncmp(optarg, "junit", 5) == 0 ? 3
                                                                    : -1;
            if (fmt < 0 || !eq[1]) {
                fprintf(stderr,
                        "cleanrun %s: --report takes FORMAT=FILE with FORMAT json, junit or tap, "
                        "not \"%s\"\n",
                        cmd, optarg);
                return -1;
            }
            if (o->nreports == sizeof(o->reports) / sizeof(o->reports[0])) {
                fprintf(stderr, "cleanrun %s: at most 8 --report options\n", cmd);
                return -1;
            }
            o->reports[o->nreports++] = (struct report_req){.fmt = fmt, .path = eq + 1};
            break;
        }
        case 'L':
            o->no_lockout = true;
            break;
        case 'K':
            o->keep_on_failure = true;
            break;
        case 'h':
            print_usage(cmd, stdout);
            return 1;
        default:
            fprintf(stderr, "cleanrun %s: unknown option %s (see 'cleanrun %s --help')\n", cmd,
                    argv[optind - 1], cmd);
            return -1;
        }
    }
    o->paths = argv + optind;
    o->npaths = (size_t)(argc - optind);
    return 0;
}

/* Print a chain of spec errors, one per line, oldest first. */
static void print_spec_errors(const struct cln_error *e)
{
    size_t n = 0;
    for (const struct cln_error *l = e; l; l = l->cause)
        n++;
    const struct cln_error **v = cln_xcalloc(n, sizeof(struct cln_error *));
    size_t i = n;
    for (const struct cln_error *l = e; l; l = l->cause)
        v[--i] = l;
    for (i = 0; i < n; i++)
        fprintf(stderr, "error: %s%s%s\n", v[i]->msg, v[i]->sys_errno ? ": " : "",
                v[i]->sys_errno ? strerror(v[i]->sys_errno) : "");
    free(v);
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* Load, then keep only the selected tests (in place). */
static int load_selected(const struct opts *o, struct cln_spec_set *set)
{
    static const char *const dot[] = {"."};
    const char *const *paths = o->npaths ? (const char *const *)o->paths : dot;
    size_t np = o->npaths ? o->npaths : 1;
    struct cln_error *err = NULL;
    struct cln_load_options lo = {.allow = o->allow};
    if (cln_spec_load_paths(paths, np, &lo, set, &err) < 0) {
        print_spec_errors(err);
        cln_error_free(err);
        return -1;
    }
    size_t keep = 0;
    for (size_t i = 0; i < set->n; i++) {
        struct cln_spec_test *t = &set->tests[i];
        bool ok = true;
        if (o->filter)
            ok = cln_regex_match(o->filter, t->name, strlen(t->name)) == 1;
        if (ok && o->ntags) {
            bool any = false;
            for (size_t k = 0; k < o->ntags; k++)
                for (size_t m = 0; m < t->tags.n; m++)
                    any = any || strcmp(o->tags[k], t->tags.v[m]) == 0;
            ok = any;
        }
        if (ok && o->shard_n)
            ok = name_hash(t->name) % o->shard_n == o->shard_i - 1;
        if (ok) {
            if (keep != i) {
                struct cln_spec_test tmp = set->tests[keep];
                set->tests[keep] = *t;
                *t = tmp;
            }
            keep++;
        }
    }
    /* the unselected ones sit past keep: free them through a second set */
    struct cln_spec_set rest = {.tests = set->tests + keep, .n = set->n - keep};
    for (size_t i = 0; i < rest.n; i++) {
        struct cln_spec_set one = {.tests = cln_xcalloc(1, sizeof(struct cln_spec_test)), .n = 1};
        one.tests[0] = rest.tests[i];
        cln_spec_set_done(&one);
    }
    set->n = keep;
    if (cln_spec_check_allowed(set, o->allow, &err) < 0) {
        print_spec_errors(err);
        cln_error_free(err);
        return -1;
    }
    /* duplicate test names make results ambiguous */
    for (size_t i = 0; i < set->n; i++)
        for (size_t k = i + 1; k < set->n; k++)
            if (strcmp(set->tests[i].name, set->tests[k].name) == 0) {
                fprintf(stderr, "error: %s:%u: test name \"%s\" is also used at %s:%u\n",
                        set->tests[k].file, set->tests[k].line, set->tests[k].name,
                        set->tests[i].file, set->tests[i].line);
                return -1;
            }
    return 0;
}

int cln_cmd_validate(int argc, char **argv)
{
    struct opts o = {0};
    int r = parse_opts("validate", argc, argv, &o);
    if (r != 0) {
        free(o.tags);
        return r > 0 ? CLN_EXIT_OK : CLN_EXIT_USAGE;
    }
    struct cln_spec_set set = {0};
    r = load_selected(&o, &set);
    free(o.tags);
    if (r < 0) {
        cln_spec_set_done(&set);
        return CLN_EXIT_USAGE;
    }
    size_t steps = 0;
    for (size_t i = 0; i < set.n; i++)
        steps += set.tests[i].nsteps;
    printf("ok: %zu test%s, %zu step%s\n", set.n, set.n == 1 ? "" : "s", steps,
           steps == 1 ? "" : "s");
    cln_spec_set_done(&set);
    return CLN_EXIT_OK;
}

/* A string as a TOML basic string: quotes, backslashes, newlines escaped. */
static void print_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if ((unsigned char)*c < 0x20)
                fprintf(f, "\\u%04x", (unsigned char)*c);
            else
                fputc(*c, f);
        }
    }
    fputc('"', f);
}

/* The command as the spec wrote it: run = "..." or run = ["...", ...]. */
static void print_argv(FILE *f, const struct cln_strv *v, bool shell)
{
    if (shell && v->n == 3) {
        print_quoted(f, v->v[2]);
        fputs(" (sh -c)", f);
        return;
    }
    fputc('[', f);
    for (size_t i = 0; i < v->n; i++) {
        print_quoted(f, v->v[i]);
        if (i + 1 < v->n)
            fputs(", ", f);
    }
    fputc(']', f);
}

int cln_cmd_list(int argc, char **argv)
{
    struct opts o = {0};
    int r = parse_opts("list", argc, argv, &o);
    if (r != 0) {
        free(o.tags);
        return r > 0 ? CLN_EXIT_OK : CLN_EXIT_USAGE;
    }
    struct cln_spec_set set = {0};
    r = load_selected(&o, &set);
    free(o.tags);
    if (r < 0) {
        cln_spec_set_done(&set);
        return CLN_EXIT_USAGE;
    }
    for (size_t i = 0; i < set.n; i++) {
        const struct cln_spec_test *t = &set.tests[i];
        printf("%s  (%s:%u)", t->name, t->file, t->line);
        for (size_t k = 0; k < t->tags.n; k++)
            printf("%s%s", k ? "," : "  tags: ", t->tags.v[k]);
        printf("\n");
        for (size_t k = 0; k < t->nservices; k++)
            printf("  service %s: %s\n", t->services[k].name, t->services[k].image);
        for (size_t k = 0; k < t->nsteps; k++) {
            const struct cln_spec_step *s = &t->steps[k];
            printf("  step %zu \"%s\" in %s %s: ", k + 1, s->name, s->service ? "service" : "image",
                   s->service ? s->service : s->image);
            print_argv(stdout, &s->argv, s->shell);
            printf("\n");
        }
    }
    printf("%zu test%s\n", set.n, set.n == 1 ? "" : "s");
    cln_spec_set_done(&set);
    return CLN_EXIT_OK;
}

/* ---- run ---- */

/* Where the human output goes: stdout, or stderr when --format puts a
 * report on stdout. */
static FILE *hout;

/* Signals: SIGINT and SIGTERM are blocked in every thread and taken by one
 * thread with sigwaitinfo(), so that a second SIGINT can do real work: the
 * first stops scheduling and kills the running steps (the runner tears down
 * as usual); the second removes everything the run created at once and
 * exits 130. */
static volatile sig_atomic_t got_signal;
/* Written once on the first signal: ends the runner's pauses (readiness
 * intervals, retry intervals) at once. */
static int wake_pipe[2] = {-1, -1};

static void close_wake_pipe(void)
{
    for (int i = 0; i < 2; i++)
        if (wake_pipe[i] >= 0) {
            close(wake_pipe[i]);
            wake_pipe[i] = -1;
        }
}

struct sig_ctx {
    struct cln_runtime *rt;
    const char *run_id;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished; /* the run has torn down and audited */
};

/* Remove everything with the run's label, a few passes at most (each waits
 * for removals already in progress), until the audit finds nothing. */
static int sweep_run(struct sig_ctx *sc, size_t removed[3], struct cln_error **err)
{
    int r = 0;
    for (int pass = 0; pass < 5; pass++) {
        cln_error_free(*err);
        *err = NULL;
        r = cln_remove_run(sc->rt, sc->run_id, removed, err);
        struct cln_leak_audit a;
        struct cln_error *ae = NULL;
        bool empty = cln_audit_run(sc->rt, sc->run_id, &a, &ae) == 0 && a.n == 0;
        cln_leak_audit_done(&a);
        cln_error_free(ae);
        if (r == 0 && empty)
            break;
    }
    return r;
}

static void *signal_thread(void *ud)
{
    struct sig_ctx *sc = ud;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig < 0)
            continue;
        if (sig == SIGUSR2)
            return NULL; /* the run is over */
        if (!got_signal) {
            got_signal = sig;
            if (wake_pipe[1] >= 0)
                (void)!write(wake_pipe[1], "x", 1);
            fprintf(stderr,
                    "\ncleanrun: %s: stopping and cleaning up (SIGINT again to force "
                    "removal now)\n",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            /* end what waits on the engine now: running steps are killed,
             * a build or pull in flight is cancelled */
            pthread_mutex_lock(&sc->lock);
            if (sc->rt)
                cln_runtime_interrupt(sc->rt);
            pthread_mutex_unlock(&sc->lock);
            continue;
        }
        pthread_mutex_lock(&sc->lock);
        bool opened = sc->rt != NULL;
        pthread_mutex_unlock(&sc->lock);
        if (!opened) {
            /* nothing of this run exists yet */
            fflush(NULL);
            _exit(128 + got_signal);
        }
        /* A second signal: remove everything now, each request and the
         * whole of it bounded (a frozen engine must not hold us); then give
         * the run up to 3 s to finish its own teardown and leak audit (a
         * create request already in flight lands after any sweep); if it is
         * stuck, sweep again and exit. */
        cln_runtime_interrupt(sc->rt);
        size_t removed[3] = {0};
        struct cln_error *e = NULL;
        cln_deadline_set(cln_now_ms() + 3000, "the forced removal's 3 s");
        sweep_run(sc, removed, &e); /* its error, if any, is the second sweep's to report */
        fprintf(stderr,
                "cleanrun: second %s: removed %zu containers, %zu networks, %zu "
                "volumes of run %s\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", removed[0], removed[1], removed[2],
                sc->run_id);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 3;
        pthread_mutex_lock(&sc->lock);
        while (!sc->finished && pthread_cond_timedwait(&sc->cond, &sc->lock, &until) == 0)
            ;
        bool finished = sc->finished;
        pthread_mutex_unlock(&sc->lock);
        if (finished) {
            cln_error_free(e);
            return NULL; /* the run ends the normal way, exit 130 */
        }
        cln_deadline_set(cln_now_ms() + 3000, "the forced removal's 3 s");
        if (sweep_run(sc, removed, &e) < 0) {
            cln_cli_print_error(e);
            fprintf(stderr, "cleanrun: what is left of run %s is for 'cleanrun gc'\n", sc->run_id);
        }
        cln_error_free(e);
        fflush(NULL);
        _exit(128 + got_signal);
    }
}

struct printer;
static void show_progress(struct printer *p);

struct printer {
    const struct opts *o;
    const struct cln_runtime *rt;
    const struct cln_spec_test *tests;
    struct cln_test_result *results;
    size_t n;
    bool *done;
    bool *started;
    size_t next_to_print;
    size_t running, finished;
    uint64_t t0;
    bool tty;
    bool finished_all;
    struct cln_buf *partial; /* -v: a step's last incomplete line, per test and stream */
    pthread_mutex_t lock;
};

/* A closed stdout (cleanrun run | head -1) stops the human output, not the
 * run: SIGPIPE is ignored, and after the first failed write nothing more
 * is written there; tests, teardown and reports go on. */
static bool hout_closed;

static void __attribute__((format(printf, 1, 2))) out(const char *fmt, ...)
{
    if (hout_closed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(hout, fmt, ap);
    va_end(ap);
    if (ferror(hout))
        hout_closed = true;
}

static void flush_out(void)
{
    if (!hout_closed && fflush(hout) != 0)
        hout_closed = true;
}

/* Refresh the progress line twice a second while tests run (TTY only). */
static void *ticker(void *ud)
{
    struct printer *p = ud;
    for (;;) {
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&p->lock);
        bool stop = p->finished_all;
        if (!stop)
            show_progress(p);
        pthread_mutex_unlock(&p->lock);
        if (stop)
            return NULL;
    }
}

static uint64_t mono_ms(void)
{
    return cln_now_ms();
}

static const char *col(const struct printer *p, const char *code)
{
    return p->o->color ? code : "";
}

/* Lines of text from outside cleanrun (a step's output, an engine's
 * message), each made visible: nothing reaches the terminal raw. */
static void print_lines(const char *text, size_t len, const char *indent)
{
    cleanup_free char *v =
        cln_text_visible(text, len, CLN_QUOTE_CAP, CLN_VIS_KEEP_NEWLINES | CLN_VIS_KEEP_TABS);
    const char *p = v;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        out("%s%.*s\n", indent, (int)l, p);
        p += l + (nl ? 1 : 0);
    }
}

static void print_tail(const char *label, const struct cln_capture *c)
{
    if (!c->data.len)
        return;
    const char *d = c->data.data;
    size_t len = c->data.len, lines = 0, start = len;
    while (start > 0 && lines < 10) {
        start--;
        if (d[start] == '\n' && start != len - 1)
            lines++;
    }
    if (start > 0)
        start++;
    out("        last %s:\n", label);
    print_lines(d + start, len - start, "          | ");
    if (c->truncated)
        out("          (kept %zu of %llu bytes)\n", c->data.len, (unsigned long long)c->total);
}

/* One line of outside text, made visible (no line breaks). */
static char *vis(const char *s)
{
    return cln_text_name(s ? s : "");
}

/* The command as the spec wrote it, made visible. */
static void print_command(const struct cln_strv *v, bool shell)
{
    cleanup_free char *m = NULL;
    size_t sz = 0;
    FILE *f = open_memstream(&m, &sz);
    if (!f)
        return;
    print_argv(f, v, shell);
    fclose(f);
    cleanup_free char *vm = vis(m);
    out("        command: %s\n", vm);
}

static void print_result(struct printer *p, size_t i)
{
    const struct cln_test_result *r = &p->results[i];
    const struct cln_spec_test *t = &p->tests[i];
    static const char *const label[] = {"PASS", "FAIL", "ERROR", "TIMEOUT", "SKIP"};
    static const char *const color[] = {"\033[32m", "\033[31m", "\033[35m", "\033[33m", "\033[2m"};
    if (p->o->quiet && r->status == CLN_ST_PASSED)
        return;
    char d[32];
    cleanup_free char *name = vis(t->name);
    out("%s%-7s%s %s  %s\n", col(p, color[r->status]), label[r->status], col(p, "\033[0m"), name,
        cln_duration_format(r->duration_ms, d, sizeof(d)));
    if (r->error)
        print_lines(cln_error_text(r->error), strlen(cln_error_text(r->error)), "        ");
    if (r->network_note)
        out("        note: %s\n", r->network_note);
    bool passed = r->status == CLN_ST_PASSED || r->status == CLN_ST_SKIPPED;
    for (size_t k = 0; k < r->nservices; k++)
        if (!passed && r->services[k].log_tail && *r->services[k].log_tail) {
            out("        last log lines of service %s:\n", r->services[k].service->name);
            print_lines(r->services[k].log_tail, strlen(r->services[k].log_tail), "          | ");
        }
    if (r->nkept) {
        const struct cln_runtime *rt = p->rt;
        bool podman = strcmp(cln_runtime_name(rt), "podman") == 0;
        out("        kept for inspection (--keep-on-failure; the next 'cleanrun gc' removes "
            "them):\n");
        for (size_t k = 0; k < r->nkept; k++) {
            const char *what = "a step's container";
            for (size_t m = 0; m < r->nservices; m++)
                if (r->services[m].container_id &&
                    strcmp(r->services[m].container_id, r->kept[k]) == 0)
                    what = r->services[m].service->name;
            out("          %s %s %s exec -it %.12s /.cleanrun/busybox sh    # %s\n",
                podman ? "podman" : "docker", podman ? "--url" : "-H", cln_runtime_endpoint(rt), r->kept[k],
                what);
        }
    }
    for (size_t k = 0; k < r->nteardown_errors; k++) {
        cleanup_free char *m = vis(cln_error_text(r->teardown_errors[k]));
        out("        teardown: %s\n", m);
    }
    for (size_t k = 0; k < r->nservices; k++) {
        const struct cln_evidence *ev = &r->services[k].evidence;
        if (r->services[k].observed && ev->verdict != CLN_VERDICT_ISOLATED) {
            cleanup_free char *why = vis(ev->reason ? ev->reason : "?");
            out("        isolation %s: service %s: %s\n", cln_verdict_name(ev->verdict),
                r->services[k].service->name, why);
        }
    }
    for (size_t k = 0; k < r->nsteps; k++) {
        const struct cln_evidence *ev = &r->steps[k].evidence;
        if (r->steps[k].observed && ev->verdict != CLN_VERDICT_ISOLATED) {
            cleanup_free char *sn = vis(r->steps[k].step->name);
            cleanup_free char *why = vis(ev->reason ? ev->reason : "?");
            out("        isolation %s: step %zu \"%s\": %s\n", cln_verdict_name(ev->verdict), k + 1,
                sn, why);
        }
    }
    if (r->status == CLN_ST_PASSED || r->status == CLN_ST_SKIPPED)
        return;
    for (size_t k = 0; k < r->nsteps; k++) {
        const struct cln_step_result *s = &r->steps[k];
        if (s->status == CLN_ST_PASSED || s->status == CLN_ST_SKIPPED || !s->nattempts)
            continue;
        const struct cln_attempt *a = &s->attempts[s->nattempts - 1];
        cleanup_free char *sn = vis(s->step->name);
        cleanup_free char *where = vis(s->where ? s->where : "?");
        out("      step %zu \"%s\" (%s:%u) %s in %s\n", k + 1, sn, t->file, s->step->line,
            cln_status_name(s->status), where);
        print_command(s->argv.n ? &s->argv : &s->step->argv, s->step->shell);
        if (s->nattempts > 1)
            out("        attempts: %zu (last shown)\n", s->nattempts);
        if (a->error) {
            cleanup_free char *m = vis(cln_error_text(a->error));
            out("        error: %s\n", m);
        }
        if (a->timed_out && !a->error)
            out("        timed out after %s, %s, and was killed (%s)\n",
                cln_duration_format(a->duration_ms, d, sizeof(d)), a->limit ? a->limit : "a limit",
                a->kill_method ? a->kill_method : "?");
        for (size_t m = 0; m < a->nfailures; m++) {
            const struct cln_failure *f = &a->failures[m];
            cleanup_free char *fw = vis(f->what);
            if (f->diff) {
                out("        expected %s (- expected, + actual):\n", fw);
                print_lines(f->diff, strlen(f->diff), "          ");
            } else if (strchr(f->actual, '\n') || strlen(f->actual) > 60) {
                cleanup_free char *fe = vis(f->expected);
                out("        expected %s: %s\n", fw, fe);
                out("        actual:\n");
                print_lines(f->actual, strlen(f->actual), "          | ");
            } else {
                cleanup_free char *fe = vis(f->expected);
                cleanup_free char *fa = vis(f->actual);
                out("        expected %s: %s, actual: %s\n", fw, fe, fa);
            }
        }
        if (!a->error) {
            out("        exit code: %d\n", a->exit_code);
            print_tail("stdout lines", &a->out);
            print_tail("stderr lines", &a->err);
        }
    }
}

static void clear_progress(struct printer *p)
{
    if (p->tty)
        fprintf(stderr, "\r\033[K");
}

static void show_progress(struct printer *p)
{
    if (!p->tty || p->o->quiet)
        return;
    char d[32];
    fprintf(stderr, "\r\033[K[%zu/%zu done, %zu running, %s]", p->finished, p->n, p->running,
            cln_duration_format(mono_ms() - p->t0, d, sizeof(d)));
    fflush(stderr);
}

static void ev_started(size_t index, void *ud)
{
    struct printer *p = ud;
    pthread_mutex_lock(&p->lock);
    p->running++;
    p->started[index] = true;
    show_progress(p);
    pthread_mutex_unlock(&p->lock);
}

static void ev_finished(size_t index, const struct cln_test_result *r, void *ud)
{
    struct printer *p = ud;
    pthread_mutex_lock(&p->lock);
    (void)r;
    if (p->started[index])
        p->running--;
    p->finished++;
    p->done[index] = true;
    clear_progress(p);
    /* results in the order of the tests, whatever the order they end in */
    while (p->next_to_print < p->n && p->done[p->next_to_print])
        print_result(p, p->next_to_print++);
    flush_out();
    show_progress(p);
    pthread_mutex_unlock(&p->lock);
}

/* -v: a step's output, a whole line at a time (the pieces it arrives in
 * are not lines), each line flushed at once whatever stdout is: a CI log
 * shows it live.  data == NULL: the step ended; its last partial line. */
static void ev_output(size_t index, const char *step, int stream, const char *data, size_t len,
                      void *ud)
{
    struct printer *p = ud;
    pthread_mutex_lock(&p->lock);
    clear_progress(p);
    struct cln_buf *part = &p->partial[index * 2 + (stream == 2)];
    FILE *f = stream == 2 ? stderr : hout;
    cleanup_free char *tn = vis(p->tests[index].name);
    cleanup_free char *sn = vis(step);
    if (data)
        cln_buf_append(part, data, len);
    size_t start = 0;
    for (size_t i = 0; i < part->len; i++) {
        if (part->data[i] != '\n' && !(!data && i + 1 == part->len))
            continue;
        size_t end = part->data[i] == '\n' ? i : i + 1;
        cleanup_free char *line =
            cln_text_visible(part->data + start, end - start, 0, CLN_VIS_KEEP_TABS);
        if (f == hout)
            out("  [%s / %s out] %s\n", tn, sn, line);
        else
            fprintf(f, "  [%s / %s err] %s\n", tn, sn, line);
        start = i + 1;
    }
    cln_buf_consume(part, start);
    if (f == hout)
        flush_out();
    else
        fflush(f);
    show_progress(p);
    pthread_mutex_unlock(&p->lock);
}

static void make_run_id(char *out, size_t size)
{
    unsigned char rnd[6] = {0};
    FILE *f = fopen("/dev/urandom", "re");
    if (f) {
        if (fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        fclose(f);
    }
    snprintf(out, size, "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

/* Every --report destination, before anything runs: its directory exists
 * and takes files, it is not a directory, and no two formats share a file
 * (one would overwrite the other).  -1 with the reason printed. */
static int check_reports(const struct opts *o)
{
    char *real[8] = {0};
    int r = 0;
    for (size_t i = 0; i < o->nreports && r == 0; i++) {
        const char *path = o->reports[i].path;
        const char *slash = strrchr(path, '/');
        char *dir = slash ? cln_xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
                          : cln_xstrdup(".");
        const char *base = slash ? slash + 1 : path;
        struct stat st;
        char *rd = realpath(dir, NULL);
        if (!*base) {
            fprintf(stderr, "cleanrun run: --report %s: names a directory, not a file\n", path);
            r = -1;
        } else if (!rd || stat(rd, &st) < 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "cleanrun run: --report %s: no directory %s\n", path, dir);
            r = -1;
        } else if (access(rd, W_OK) < 0) {
            fprintf(stderr, "cleanrun run: --report %s: cannot write in %s: %s\n", path, dir,
                    strerror(errno));
            r = -1;
        } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            fprintf(stderr, "cleanrun run: --report %s: exists and is not a file\n", path);
            r = -1;
        } else {
            real[i] = cln_xasprintf("%s/%s", rd, base);
            for (size_t k = 0; k < i && r == 0; k++)
                if (real[k] && strcmp(real[k], real[i]) == 0) {
                    fprintf(stderr,
                            "cleanrun run: --report %s: the same file as --report number %zu "
                            "(one would overwrite the other)\n",
                            path, k + 1);
                    r = -1;
                }
        }
        free(rd);
        free(dir);
    }
    for (size_t i = 0; i < 8; i++)
        free(real[i]);
    return r;
}

int cln_cmd_run(int argc, char **argv)
{
    struct opts o = {0};
    int r = parse_opts("run", argc, argv, &o);
    if (r != 0) {
        free(o.tags);
        return r > 0 ? CLN_EXIT_OK : CLN_EXIT_USAGE;
    }
    hout = o.format == FMT_HUMAN ? stdout : stderr;
    if (check_reports(&o) < 0) {
        free(o.tags);
        return CLN_EXIT_USAGE;
    }
    /* Block the signals in every thread from the start (threads made later
     * inherit it; a signal that comes early waits, pending, and is not
     * lost even when inherited as ignored); one thread takes them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    char run_id[16];
    make_run_id(run_id, sizeof(run_id));
    if (pipe2(wake_pipe, O_CLOEXEC) < 0)
        wake_pipe[0] = wake_pipe[1] = -1;
    struct sig_ctx sc = {.run_id = run_id};
    pthread_mutex_init(&sc.lock, NULL);
    pthread_cond_init(&sc.cond, NULL);
    bool sig_thread = pthread_create(&sc.thread, NULL, signal_thread, &sc) == 0;
    struct cln_spec_set set = {0};
    struct cln_runtime *rt = NULL;
    struct cln_error *err = NULL;
    int early = CLN_EXIT_OK;
    if (load_selected(&o, &set) < 0) {
        early = CLN_EXIT_USAGE;
    } else if (set.n == 0) {
        fprintf(stderr, "cleanrun run: no tests selected\n");
        early = CLN_EXIT_USAGE;
    } else {
        early = cln_cli_open_runtime(o.runtime, o.host, &rt);
    }
    if (early == CLN_EXIT_OK && got_signal) {
        fprintf(stderr, "cleanrun: interrupted before any test started\n");
        early = 128 + got_signal;
    }
    if (early != CLN_EXIT_OK) {
        if (sig_thread) {
            pthread_kill(sc.thread, SIGUSR2);
            pthread_join(sc.thread, NULL);
        }
        pthread_mutex_destroy(&sc.lock);
        pthread_cond_destroy(&sc.cond);
        cln_runtime_close(rt);
        free(o.tags);
        cln_spec_set_done(&set);
        close_wake_pipe();
        return early;
    }
    pthread_mutex_lock(&sc.lock);
    /* read by the signal thread (cppcheck does not follow it) */
    // cppcheck-suppress unreadVariable
    sc.rt = rt;
    pthread_mutex_unlock(&sc.lock);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int jobs = o.jobs > 0 ? o.jobs : (cores > 0 ? (int)cores : 1);
    if ((size_t)jobs > set.n)
        jobs = (int)set.n;
    struct timespec wall0;
    clock_gettime(CLOCK_REALTIME, &wall0);
    if (!o.quiet)
        out("cleanrun %s: %zu test%s, runtime %s (%s %s at %s), %d worker%s, run %s\n", CLN_VERSION,
            set.n, set.n == 1 ? "" : "s", cln_runtime_name(rt), cln_runtime_engine(rt)->engine ? cln_runtime_engine(rt)->engine : "?",
            cln_runtime_engine(rt)->version ? cln_runtime_engine(rt)->version : "?", cln_runtime_endpoint(rt), jobs, jobs == 1 ? "" : "s",
            run_id);

    /* what dead runs left behind */
    if (!o.no_gc) {
        struct cln_gc_report gr;
        if (cln_gc(rt, &gr, &err) < 0) {
            fprintf(stderr, "cleanrun: warning: ");
            cln_cli_print_error(err);
            cln_error_free(err);
            err = NULL;
        } else {
            if (gr.runs && !o.quiet)
                out("gc: removed %zu containers, %zu networks, %zu volumes of %zu dead "
                    "run%s\n",
                    gr.containers, gr.networks, gr.volumes, gr.runs, gr.runs == 1 ? "" : "s");
            for (size_t i = 0; i < gr.nerrors; i++)
                fprintf(stderr, "cleanrun: gc: %s\n", gr.errors[i]);
            cln_gc_report_done(&gr);
        }
    }

    /* The host-exec lockout: from here on nothing starts a host process. */
    struct cln_lockout lockout = {0};
    if (o.no_lockout) {
        lockout.method = cln_xstrdup("off: --no-lockout");
    } else if (cln_runtime_host_programs(rt)) {
        struct cln_buf b = CLN_BUF_INIT;
        cln_buf_printf(&b, "not installed: runtime %s runs host programs (", cln_runtime_name(rt));
        for (size_t i = 0; cln_runtime_host_programs(rt)[i]; i++)
            cln_buf_printf(&b, "%s%s", i ? ", " : "", cln_runtime_host_programs(rt)[i]);
        cln_buf_puts(&b, "); every one it starts is recorded");
        lockout.method = cln_buf_steal(&b);
    } else if (cln_lockout_install(&lockout, &err) < 0) {
        char *m = cln_error_render(err);
        lockout.method = cln_xasprintf("not installed: %s", m);
        free(m);
        cln_error_free(err);
        err = NULL;
    }
    if (!o.quiet)
        out("host-exec lockout: %s%s\n", lockout.in_force ? "in force, " : "", lockout.method);
    fflush(hout);

    struct cln_test_result *results = cln_xcalloc(set.n, sizeof(*results));
    struct printer p = {.o = &o,
                        .rt = rt,
                        .tests = set.tests,
                        .results = results,
                        .n = set.n,
                        .done = cln_xcalloc(set.n, sizeof(bool)),
                        .started = cln_xcalloc(set.n, sizeof(bool)),
                        .t0 = mono_ms(),
                        .tty = isatty(STDERR_FILENO) != 0,
                        .partial = cln_xcalloc(set.n * 2, sizeof(struct cln_buf))};
    pthread_mutex_init(&p.lock, NULL);
    struct cln_run_options ro = {
        .jobs = jobs,
        .fail_fast = o.fail_fast,
        .keep_on_failure = o.keep_on_failure,
        .run_timeout_ms = o.timeout_ms,
        .run_id = run_id,
        .version = CLN_VERSION,
        .interrupted = &got_signal,
        .wake_fd = wake_pipe[0],
        .events = {.test_started = ev_started,
                   .test_finished = ev_finished,
                   .step_output = o.verbose ? ev_output : NULL,
                   .userdata = &p},
    };
    pthread_t tick;
    bool ticking = p.tty && !o.quiet && pthread_create(&tick, NULL, ticker, &p) == 0;
    cln_run_tests(rt, set.tests, set.n, &ro, results);
    pthread_mutex_lock(&p.lock);
    p.finished_all = true;
    pthread_mutex_unlock(&p.lock);
    if (ticking)
        pthread_join(tick, NULL);
    clear_progress(&p);

    /* The leak audit: nothing of this run may be left. */
    struct cln_leak_audit audit;
    if (cln_audit_run(rt, run_id, &audit, &err) < 0) {
        audit.error = cln_error_render(err);
        cln_error_free(err);
        err = NULL;
        out("leak audit: could not run: %s\n", audit.error);
    } else {
        /* what --keep-on-failure kept is not a leak */
        size_t keep = 0;
        for (size_t i = 0; i < audit.n; i++) {
            bool kept = false;
            for (size_t t = 0; t < set.n && !kept; t++) {
                const struct cln_test_result *tr = &results[t];
                for (size_t k = 0; k < tr->nkept && !kept; k++)
                    kept = strcmp(tr->kept[k], audit.items[i].name) == 0;
                for (size_t k = 0; k < tr->nkept_networks && !kept; k++)
                    kept = strcmp(tr->kept_networks[k], audit.items[i].name) == 0;
            }
            if (kept) {
                free(audit.items[i].name);
                free(audit.items[i].test);
            } else {
                audit.items[keep++] = audit.items[i];
            }
        }
        audit.n = keep;
    }
    if (!audit.error && audit.n) {
        out("leak audit: %zu resource%s of run %s left behind:\n", audit.n, audit.n == 1 ? "" : "s",
            run_id);
        for (size_t i = 0; i < audit.n; i++)
            out("  %s %s%s%s%s\n", audit.items[i].kind, audit.items[i].name,
                audit.items[i].test ? " (test " : "",
                audit.items[i].test ? audit.items[i].test : "", audit.items[i].test ? ")" : "");
        size_t removed[3] = {0};
        if (cln_remove_listed(rt, &audit, removed, &err) < 0) {
            cln_cli_print_error(err);
            cln_error_free(err);
            err = NULL;
        }
        audit.removed = removed[0] + removed[1] + removed[2];
        out("leak audit: removed %zu of them now\n", audit.removed);
    }

    size_t count[5] = {0}, verdicts[3] = {0};
    for (size_t i = 0; i < set.n; i++) {
        count[results[i].status]++;
        for (size_t k = 0; k < results[i].nsteps; k++)
            if (results[i].steps[k].observed)
                verdicts[results[i].steps[k].evidence.verdict]++;
    }
    if (!o.quiet || verdicts[CLN_VERDICT_VIOLATED])
        out("isolation: %zu step%s isolated, %zu unverified, %zu violated\n",
            verdicts[CLN_VERDICT_ISOLATED], verdicts[CLN_VERDICT_ISOLATED] == 1 ? "" : "s",
            verdicts[CLN_VERDICT_UNVERIFIED], verdicts[CLN_VERDICT_VIOLATED]);
    char d[32];
    out("%zu test%s: %zu passed, %zu failed, %zu errors, %zu timed out, %zu skipped (%s)\n", set.n,
        set.n == 1 ? "" : "s", count[CLN_ST_PASSED], count[CLN_ST_FAILED], count[CLN_ST_ERROR],
        count[CLN_ST_TIMEOUT], count[CLN_ST_SKIPPED],
        cln_duration_format(mono_ms() - p.t0, d, sizeof(d)));
    int code = cln_run_exit_code(results, set.n, audit.n || audit.error);
    if (got_signal) {
        fprintf(stderr, "cleanrun: interrupted (%s); cleaned up\n",
                got_signal == SIGINT ? "SIGINT" : "SIGTERM");
        code = 128 + got_signal;
    }

    /* Reports: the same run in every format; an interrupted run writes what
     * it has, marked partial.  Exit codes never depend on them, except that
     * a report that cannot be written is an infrastructure error. */
    struct timespec wall1;
    clock_gettime(CLOCK_REALTIME, &wall1);
    struct cln_report_input ri = {
        .run_id = run_id,
        .version = CLN_VERSION,
        .rt = rt,
        .start_unix_ms = (int64_t)wall0.tv_sec * 1000 + wall0.tv_nsec / 1000000,
        .end_unix_ms = (int64_t)wall1.tv_sec * 1000 + wall1.tv_nsec / 1000000,
        .duration_ms = mono_ms() - p.t0,
        .jobs = jobs,
        .fail_fast = o.fail_fast,
        .gc = !o.no_gc,
        .filter = o.filter,
        .tags = o.tags,
        .ntags = o.ntags,
        .shard = o.shard,
        .timeout_ms = o.timeout_ms,
        .allow = o.allow,
        .lockout = &lockout,
        .audit = &audit,
        .partial = got_signal != 0,
        .partial_reason = got_signal == SIGINT    ? "interrupted by SIGINT"
                          : got_signal == SIGTERM ? "interrupted by SIGTERM"
                                                  : NULL,
        .exit_code = code,
        .tests = set.tests,
        .results = results,
        .done = p.done,
        .n = set.n,
    };
    bool report_failed = false;
    for (size_t i = 0; i < o.nreports; i++) {
        char *doc = o.reports[i].fmt == FMT_JSON  ? cln_report_json(&ri)
                    : o.reports[i].fmt == FMT_TAP ? cln_report_tap(&ri)
                                                  : cln_report_junit(&ri);
        if (cln_report_write_file(o.reports[i].path, doc, &err) < 0) {
            cln_cli_print_error(err);
            cln_error_free(err);
            err = NULL;
            report_failed = true;
        }
        free(doc);
    }
    if (o.format != FMT_HUMAN) {
        char *doc = o.format == FMT_JSON ? cln_report_json(&ri) : cln_report_tap(&ri);
        if (!hout_closed || hout != stdout)
            fputs(doc, stdout);
        free(doc);
    }
    if (report_failed && code == CLN_EXIT_OK)
        code = CLN_EXIT_INFRA;
    fflush(NULL);
    pthread_mutex_lock(&sc.lock);
    /* read by the signal thread (cppcheck does not follow threads) */
    // cppcheck-suppress unreadVariable
    sc.finished = true;
    pthread_cond_broadcast(&sc.cond);
    pthread_mutex_unlock(&sc.lock);
    if (sig_thread) {
        pthread_kill(sc.thread, SIGUSR2);
        pthread_join(sc.thread, NULL);
    }
    pthread_mutex_destroy(&sc.lock);
    pthread_cond_destroy(&sc.cond);
    cln_leak_audit_done(&audit);
    cln_lockout_done(&lockout);
    for (size_t i = 0; i < set.n; i++)
        cln_test_result_done(&results[i]);
    free(results);
    free(p.done);
    free(p.started);
    for (size_t i = 0; i < set.n * 2; i++)
        cln_buf_done(&p.partial[i]);
    free(p.partial);
    pthread_mutex_destroy(&p.lock);
    cln_runtime_close(rt);
    cln_spec_set_done(&set);
    free(o.tags);
    close_wake_pipe();
    return code;
}
