/* cleanrun run | validate | list (docs/cli.md): their options, loading and
 * selecting the specs, validate's and list's output, and `run`'s set-up
 * around the session (harness/session.h): the signal thread (signals.c),
 * the human printer (human.c), the log sink for -v. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "harness/regex.h"
#include "harness/runner.h"
#include "harness/session.h"
#include "harness/spec.h"
#include "human.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/log.h"
#include "runtime/base/xalloc.h"
#include "signals.h"
#include "watch.h"

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
    struct cln_session_report reports[8]; /* --report FORMAT=FILE */
    size_t nreports;
    const char *shard;
    bool no_gc, no_lockout, keep_on_failure;
    const char *artifacts;  /* --artifacts DIR */
    bool artifacts_always;  /* --artifacts-when always */
    uint64_t artifacts_max; /* --artifacts-max SIZE (0: the default) */
    bool quiet;
    bool color;
    bool watch; /* --watch (watch.c) */
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
                "  --runtime NAME     docker, podman, apple or native (default:\n"
                "                     $CLEANRUN_RUNTIME, else discover)\n"
                "  --host URL         the engine's address, e.g. unix:///run/podman/podman.sock\n"
                "  --no-gc            do not remove what dead runs left before starting\n"
                "  --keep-on-failure  leave a failed test's containers running for inspection\n"
                "                     (listed with the commands to reach them; the next gc\n"
                "                     removes them)\n"
                "  --watch            after the run, watch the specs and the files they use,\n"
                "                     and run again the tests whose files change (Ctrl-C\n"
                "                     stops; not with --format json|tap, --keep-on-failure)\n"
                "  --no-lockout       do not install the host-exec lockout (not recommended)\n"
                "  --artifacts DIR    copy the steps' and services' `artifacts` (and the\n"
                "                     services' logs) of tests that did not pass into\n"
                "                     DIR/TEST/... (DIR: new, empty or cleanrun's)\n"
                "  --artifacts-when WHEN  on-failure (default) or always\n"
                "  --artifacts-max SIZE   at most this much of each path (default 16MiB)\n"
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
        {"artifacts", required_argument, NULL, 2000},
        {"artifacts-when", required_argument, NULL, 2001},
        {"artifacts-max", required_argument, NULL, 2002},
        {"watch", no_argument, NULL, 'W'},
        {NULL, 0, NULL, 0},
    };
    bool is_run = strcmp(cmd, "run") == 0;
    o->color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "j:vqh", longopts, NULL)) != -1) {
        char *end = NULL;
        if (c > 1000 && c < 2000) { /* --allow-* */
            o->allow |= (unsigned)(c - 1000);
            continue;
        }
        if (!is_run && (c == 'j' || c == 'F' || c == 'T' || c == 'r' || c == 'H' || c == 'v' ||
                        c == 'q' || c == 'C' || c == 'G' || c == 'L' || c == 'R' || c == 'O' ||
                        c == 'K' || c == 'W' || c == 2000 || c == 2001 || c == 2002)) {
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
            char m[200];
            size_t off = 0;
            if (cln_regex_check(optarg, m, sizeof(m), &off) < 0) {
                fprintf(stderr, "cleanrun %s: --filter \"%s\": %s at offset %zu\n", cmd, optarg, m,
                        off);
                return -1;
            }
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
            if (!o->timeout_ms) {
                fprintf(stderr,
                        "cleanrun %s: --timeout \"%s\": a zero limit is refused (leave "
                        "--timeout out for no limit)\n",
                        cmd, optarg);
                return -1;
            }
            break;
        }
        case 'r':
            if (!*optarg) {
                fprintf(stderr,
                        "cleanrun %s: --runtime needs a name (docker, podman, apple, native)\n",
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
                      : kl == 4 && strncmp(optarg, "json", 4) == 0  ? CLN_SESSION_JSON
                      : kl == 3 && strncmp(optarg, "tap", 3) == 0   ? CLN_SESSION_TAP
                      : kl == 5 && strncmp(optarg, "junit", 5) == 0 ? CLN_SESSION_JUNIT
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
            o->reports[o->nreports++] =
                (struct cln_session_report){.format = (enum cln_session_format)fmt, .path = eq + 1};
            break;
        }
        case 'L':
            o->no_lockout = true;
            break;
        case 'K':
            o->keep_on_failure = true;
            break;
        case 2000:
            if (!*optarg) {
                fprintf(stderr, "cleanrun %s: --artifacts needs a directory\n", cmd);
                return -1;
            }
            o->artifacts = optarg;
            break;
        case 2001:
            if (strcmp(optarg, "always") != 0 && strcmp(optarg, "on-failure") != 0) {
                fprintf(stderr,
                        "cleanrun %s: --artifacts-when is on-failure or always, not \"%s\"\n", cmd,
                        optarg);
                return -1;
            }
            o->artifacts_always = strcmp(optarg, "always") == 0;
            break;
        case 2002: {
            int64_t b = 0;
            if (cln_spec_parse_size_text(optarg, &b) < 0 || b < 1) {
                fprintf(stderr,
                        "cleanrun %s: --artifacts-max needs a size such as 16MiB, not \"%s\"\n",
                        cmd, optarg);
                return -1;
            }
            o->artifacts_max = (uint64_t)b;
            break;
        }
        case 'W':
            o->watch = true;
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

/* The prologue of validate and list: options, then the specs loaded and
 * selected.  Returns -1 to go on, or the exit code to return now. */
static int load_for(const char *cmd, int argc, char **argv, struct opts *o,
                    struct cln_spec_set *set)
{
    int r = parse_opts(cmd, argc, argv, o);
    int code = r > 0 ? CLN_EXIT_OK : r < 0 ? CLN_EXIT_USAGE : -1;
    if (code < 0 && load_selected(o, set) < 0)
        code = CLN_EXIT_USAGE;
    free(o->tags);
    o->tags = NULL;
    if (code >= 0)
        cln_spec_set_done(set);
    return code;
}

int cln_cmd_validate(int argc, char **argv)
{
    struct opts o = {0};
    struct cln_spec_set set = {0};
    int code = load_for("validate", argc, argv, &o, &set);
    if (code >= 0)
        return code;
    size_t steps = 0;
    for (size_t i = 0; i < set.n; i++)
        steps += set.tests[i].nsteps;
    printf("ok: %zu test%s, %zu step%s\n", set.n, set.n == 1 ? "" : "s", steps,
           steps == 1 ? "" : "s");
    cln_spec_set_done(&set);
    return CLN_EXIT_OK;
}

int cln_cmd_list(int argc, char **argv)
{
    struct opts o = {0};
    struct cln_spec_set set = {0};
    int code = load_for("list", argc, argv, &o, &set);
    if (code >= 0)
        return code;
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
            cln_human_print_argv(stdout, &s->argv, s->shell);
            printf("\n");
        }
    }
    printf("%zu test%s\n", set.n, set.n == 1 ? "" : "s");
    cln_spec_set_done(&set);
    return CLN_EXIT_OK;
}

/* ---- run ---- */

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

/* The run itself, once the specs are loaded and the engine is open: the
 * session (harness/session.h) with the human printer's hooks. */
static int run_session(const struct opts *o, struct cln_human *h, const struct cln_signals *sig,
                       const char *run_id, struct cln_runtime *rt, const struct cln_spec_set *set)
{
    struct cln_error *aerr = NULL;
    cleanup_close int afd = -1;
    if (o->artifacts && cln_artifacts_prepare(o->artifacts, &afd, &aerr) < 0) {
        fprintf(stderr, "cleanrun run: %s\n", cln_error_text(aerr));
        cln_error_free(aerr);
        return CLN_EXIT_USAGE;
    }
    /* absolute: the reports' attachments are found from anywhere */
    cleanup_free char *artifacts = o->artifacts ? realpath(o->artifacts, NULL) : NULL;
    struct cln_session_report reports[CLN_ARRAY_SIZE(o->reports) + 1];
    size_t nreports = 0;
    for (size_t i = 0; i < o->nreports; i++)
        reports[nreports++] = o->reports[i];
    if (o->format != FMT_HUMAN)
        reports[nreports++] = (struct cln_session_report){
            .format = o->format == FMT_JSON ? CLN_SESSION_JSON : CLN_SESSION_TAP, .path = NULL};
    struct cln_session_hooks hooks;
    cln_human_hooks(&hooks, o->verbose > 0);
    struct cln_session_opts so = {
        .run_id = run_id,
        .jobs = o->jobs,
        .fail_fast = o->fail_fast,
        .keep_on_failure = o->keep_on_failure,
        .artifacts_dir = artifacts,
        .artifacts_fd = afd,
        .artifacts_always = o->artifacts_always,
        .artifacts_max = o->artifacts_max,
        .timeout_ms = o->timeout_ms,
        .gc = !o->no_gc,
        .no_lockout = o->no_lockout,
        .filter = o->filter,
        .tags = o->tags,
        .ntags = o->ntags,
        .shard = o->shard,
        .allow = o->allow,
        .reports = reports,
        .nreports = nreports,
        .interrupted = cln_signals_flag(sig),
        .wake_fd = cln_signals_wake_fd(sig),
        .hooks = &hooks,
        .userdata = h,
    };
    struct cln_session s;
    int code = cln_session_run(&so, rt, set->tests, set->n, &s);
    fflush(NULL);
    cln_session_done(&s);
    return code;
}

/* A test that needs what the runtime cannot do fails before anything
 * starts (seed 001: "X requires Y"), exit 2. */
static int runtime_fits(struct cln_runtime *rt, const struct cln_spec_set *set)
{
    const char *requires = cln_runtime_missing_requires(rt, CLN_FEATURE_NETWORK);
    int code = CLN_EXIT_OK;
    for (size_t i = 0; requires && i < set->n; i++) {
        const struct cln_spec_test *t = &set->tests[i];
        const char *why = cln_runner_network_reason(t);
        if (!why)
            continue;
        fprintf(stderr,
                "%s:%u:1: test \"%s\" needs a network (%s): runtime %s cannot create networks "
                "(%s)\n",
                t->file, t->line, t->name, why, cln_runtime_name(rt), requires);
        code = CLN_EXIT_USAGE;
    }
    /* a volume, where the runtime makes none */
    for (size_t i = 0; !cln_runtime_supports(rt, CLN_FEATURE_VOLUME) && i < set->n; i++) {
        const struct cln_spec_test *t = &set->tests[i];
        if (!t->volumes.n)
            continue;
        const char *vreq = cln_runtime_missing_requires(rt, CLN_FEATURE_VOLUME);
        fprintf(stderr,
                "%s:%u:1: test \"%s\" has volumes ([volumes.%s]): runtime %s cannot "
                "create volumes%s%s%s\n",
                t->file, t->line, t->name, t->volumes.v[0], cln_runtime_name(rt), vreq ? " (" : "",
                vreq ? vreq : "", vreq ? ")" : "");
        code = CLN_EXIT_USAGE;
    }
    /* an image to build, where the runtime builds none */
    for (size_t i = 0; !cln_runtime_supports(rt, CLN_FEATURE_BUILD) && i < set->n; i++) {
        const struct cln_spec_test *t = &set->tests[i];
        const char *breq = cln_runtime_missing_requires(rt, CLN_FEATURE_BUILD);
        for (size_t k = 0; k < t->nimages; k++) {
            if (!t->images[k].dockerfile)
                continue;
            fprintf(stderr,
                    "%s:%u:1: test \"%s\" builds image %s: runtime %s cannot build images%s%s%s\n",
                    t->file, t->line, t->name, t->images[k].name, cln_runtime_name(rt),
                    breq ? " (" : "", breq ? breq : "", breq ? ")" : "");
            code = CLN_EXIT_USAGE;
        }
    }
    /* a VM shares neither the host's network nor its processes */
    for (size_t i = 0; cln_runtime_vm(rt) && i < set->n; i++) {
        const struct cln_spec_test *t = &set->tests[i];
        for (size_t k = 0; k < t->nuses; k++) {
            const struct cln_spec_priv_use *u = &t->uses[k];
            const char *what = u->what == CLN_ALLOW_HOST_NETWORK    ? "share the host's network"
                               : u->what == CLN_ALLOW_HOST_PID      ? "share the host's processes"
                               : u->what == CLN_ALLOW_PRIVILEGED    ? "be privileged"
                               : u->what == CLN_ALLOW_ENGINE_SOCKET ? "be given an engine's socket"
                                                                    : NULL;
            if (!what)
                continue;
            fprintf(stderr,
                    "%s:%u:%u: %s: runtime %s runs each container in a virtual machine of its "
                    "own, which cannot %s\n",
                    t->file, u->line, u->col, u->desc, cln_runtime_name(rt), what);
            code = CLN_EXIT_USAGE;
        }
    }
    return code;
}

/* ---- run --watch (watch.c) ---- */

struct watching {
    const struct opts *o;
    struct cln_human *h;
    const struct cln_signals *sig;
    char *run_id; /* the signal thread's (its sweep): each run's own id */
    struct cln_runtime *rt;
    unsigned runs;
};

static int watch_load(void *ud, struct cln_spec_set *set)
{
    struct watching *w = ud;
    if (load_selected(w->o, set) < 0)
        return CLN_EXIT_USAGE;
    if (set->n == 0) {
        fprintf(stderr, "cleanrun run: no tests selected\n");
        return CLN_EXIT_USAGE;
    }
    return runtime_fits(w->rt, set);
}

/* One run of a selection: a new run id, a fresh printer, gc only before
 * the first run (later ones would find only what this process owns). */
static int watch_run(void *ud, const struct cln_spec_set *set)
{
    struct watching *w = ud;
    cln_session_new_run_id(w->run_id, 16);
    cln_human_done(w->h);
    cln_human_init(w->h, stdout, w->o->quiet, w->o->color);
    struct opts o = *w->o;
    o.no_gc = o.no_gc || w->runs++ > 0;
    return run_session(&o, w->h, w->sig, w->run_id, w->rt, set);
}

/* cln_cmd_run's set-up and tear-down around cln_watch() instead of one
 * run: the engine is opened first, and spec errors do not end it. */
static int run_watching(struct opts *o)
{
    if (o->format != FMT_HUMAN || o->keep_on_failure) {
        fprintf(stderr, "cleanrun run: --watch is not for %s\n",
                o->keep_on_failure ? "--keep-on-failure (every failed run would leave its "
                                     "containers running until watching ends)"
                                   : "--format json|tap (stdout would carry a document per "
                                     "run: use --report FORMAT=FILE, which each run rewrites)");
        free(o->tags);
        return CLN_EXIT_USAGE;
    }
    char run_id[16];
    cln_session_new_run_id(run_id, sizeof(run_id));
    struct cln_signals sig;
    cln_signals_start(&sig, run_id);
    struct cln_human h;
    cln_human_init(&h, stdout, o->quiet, o->color);
    if (o->verbose)
        cln_log_set_sink(cln_human_log, &h, o->verbose > 1 ? CLN_LOG_DEBUG : CLN_LOG_INFO);
    struct cln_runtime *rt = NULL;
    int code = cln_cli_open_runtime(o->runtime, o->host, &rt);
    if (code == CLN_EXIT_OK) {
        cln_signals_attach(&sig, rt);
        struct watching w = {.o = o, .h = &h, .sig = &sig, .run_id = run_id, .rt = rt};
        const struct cln_watch_ops ops = {.load = watch_load, .run = watch_run};
        struct cln_watch_opts wo = {
            .paths = (const char *const *)o->paths,
            .npaths = o->npaths,
            .cb = &ops,
            .userdata = &w,
            .interrupted = cln_signals_flag(&sig),
            .wake_fd = cln_signals_wake_fd(&sig),
            .out = stdout,
            .clear = isatty(STDOUT_FILENO) != 0,
        };
        code = cln_watch(&wo);
    }
    cln_signals_stop(&sig);
    cln_runtime_close(rt);
    cln_log_set_sink(NULL, NULL, CLN_LOG_ERROR);
    cln_human_done(&h);
    free(o->tags);
    return code;
}

int cln_cmd_run(int argc, char **argv)
{
    struct opts o = {0};
    int r = parse_opts("run", argc, argv, &o);
    if (r != 0) {
        free(o.tags);
        return r > 0 ? CLN_EXIT_OK : CLN_EXIT_USAGE;
    }
    if (check_reports(&o) < 0) {
        free(o.tags);
        return CLN_EXIT_USAGE;
    }
    if (o.watch)
        return run_watching(&o);
    char run_id[16];
    cln_session_new_run_id(run_id, sizeof(run_id));
    struct cln_signals sig;
    cln_signals_start(&sig, run_id);
    struct cln_human h;
    cln_human_init(&h, o.format == FMT_HUMAN ? stdout : stderr, o.quiet, o.color);
    /* -v: the backend's diagnostics too (-vv: its debug messages) */
    if (o.verbose)
        cln_log_set_sink(cln_human_log, &h, o.verbose > 1 ? CLN_LOG_DEBUG : CLN_LOG_INFO);
    struct cln_spec_set set = {0};
    struct cln_runtime *rt = NULL;
    int code = CLN_EXIT_OK;
    if (load_selected(&o, &set) < 0) {
        code = CLN_EXIT_USAGE;
    } else if (set.n == 0) {
        fprintf(stderr, "cleanrun run: no tests selected\n");
        code = CLN_EXIT_USAGE;
    } else {
        code = cln_cli_open_runtime(o.runtime, o.host, &rt);
        if (code == CLN_EXIT_OK)
            code = runtime_fits(rt, &set);
    }
    if (code == CLN_EXIT_OK && *cln_signals_flag(&sig)) {
        fprintf(stderr, "cleanrun: interrupted before any test started\n");
        code = CLN_EXIT_SIGNAL + *cln_signals_flag(&sig);
    }
    if (code == CLN_EXIT_OK) {
        cln_signals_attach(&sig, rt);
        code = run_session(&o, &h, &sig, run_id, rt, &set);
    }
    cln_signals_stop(&sig);
    cln_runtime_close(rt);
    cln_log_set_sink(NULL, NULL, CLN_LOG_ERROR);
    cln_human_done(&h);
    cln_spec_set_done(&set);
    free(o.tags);
    return code;
}
