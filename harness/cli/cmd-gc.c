/* cleanrun gc (docs/cli.md): remove what runs whose owner is gone left
 * behind, or one run's resources (--run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "harness/reclaim.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/runtime.h"

static const char gc_help[] =
    "usage: cleanrun gc [--run ID] [--runtime NAME] [--host URL]\n\n"
    "Remove the containers, networks and volumes of cleanrun runs whose owner\n"
    "process is gone (killed, crashed, or the machine rebooted).  Runs whose\n"
    "owner is alive, or cannot be judged from here (another machine's, or in a\n"
    "pid namespace not visible from here), are never touched.\n"
    "'cleanrun run' does this first unless given --no-gc.\n\n"
    "  --run ID   remove this run's resources, whoever owns them (you say it is\n"
    "             dead; 'cleanrun ps' shows run ids and owners)\n";

static int gc_option(int opt, const char *arg, void *ud)
{
    const char **run = ud;
    if (opt != 'R')
        return CLN_EXIT_USAGE;
    for (const char *p = arg; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            fprintf(stderr, "cleanrun gc: --run takes a run id (hex digits), not \"%s\"\n", arg);
            return CLN_EXIT_USAGE;
        }
    if (!*arg) {
        fprintf(stderr, "cleanrun gc: --run takes a run id\n");
        return CLN_EXIT_USAGE;
    }
    *run = arg;
    return 0;
}

/* gc --run ID: this run's resources, whatever its owner state. */
static int remove_one_run(struct cln_runtime *rt, const char *run)
{
    size_t removed[3] = {0};
    cleanup_error struct cln_error *err = NULL;
    int rc = cln_remove_run(rt, run, removed, &err);
    printf("gc: run %s: removed %zu containers, %zu networks, %zu volumes\n", run, removed[0],
           removed[1], removed[2]);
    if (rc < 0) {
        cln_cli_print_error(err);
        return CLN_EXIT_INFRA;
    }
    return CLN_EXIT_OK;
}

static int gc_dead_runs(struct cln_runtime *rt)
{
    struct cln_gc_report r;
    struct cln_error *err = NULL;
    if (cln_gc(rt, &r, &err) < 0)
        return cln_cli_fail(err, CLN_EXIT_INFRA);
    printf("gc: %zu dead run%s: removed %zu containers, %zu networks, %zu volumes\n", r.runs,
           r.runs == 1 ? "" : "s", r.containers, r.networks, r.volumes);
    if (r.host_dirs)
        printf("gc: removed %zu private host director%s of dead runs\n", r.host_dirs,
               r.host_dirs == 1 ? "y" : "ies");
    if (r.unknown)
        printf("gc: left %zu run%s alone: the owner cannot be judged from here (another "
               "machine's, or a pid namespace not visible here); 'cleanrun gc --run ID' removes "
               "one you know is dead\n",
               r.unknown, r.unknown == 1 ? "" : "s");
    for (size_t i = 0; i < r.nerrors; i++)
        fprintf(stderr, "cleanrun gc: %s\n", r.errors[i]);
    int code = r.nerrors ? CLN_EXIT_INFRA : CLN_EXIT_OK;
    cln_gc_report_done(&r);
    return code;
}

int cln_cmd_gc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"run", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    static const struct cln_cli_engine_cmd cmd = {
        .name = "gc", .help = gc_help, .longopts = longopts, .option = gc_option};
    const char *run = NULL;
    struct cln_runtime *rt = NULL;
    int code = cln_cli_engine_start(&cmd, argc, argv, &run, &rt);
    if (code >= 0)
        return code;
    code = run ? remove_one_run(rt, run) : gc_dead_runs(rt);
    cln_runtime_close(rt);
    return code;
}
