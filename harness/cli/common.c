/* What the subcommands share (cli.h): opening the engine and saying why it
 * failed, printing errors, and the option skeleton of the commands that
 * talk to an engine (gc, ps, self-test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/runtime.h"

int cln_cli_open_runtime(const char *runtime, const char *host, struct cln_runtime **ret)
{
    cleanup_error struct cln_error *err = NULL;
    struct cln_runtime_config rc = {.runtime = runtime, .endpoint = host};
    if (cln_runtime_open(&rc, ret, &err) == 0)
        return CLN_EXIT_OK;
    cln_cli_print_error(err);
    return cln_cli_open_exit_code(err);
}

int cln_cli_open_exit_code(const struct cln_error *err)
{
    enum cln_errcode ec = cln_error_root_code(err);
    return ec == CLN_E_INVALID || ec == CLN_E_UNSUPPORTED ? CLN_EXIT_USAGE : CLN_EXIT_INFRA;
}

void cln_cli_print_error(const struct cln_error *err)
{
    cleanup_free char *msg = cln_error_render(err);
    fprintf(stderr, "cleanrun: %s\n", msg);
}

int cln_cli_fail(struct cln_error *err, int code)
{
    cln_cli_print_error(err);
    cln_error_free(err);
    return code;
}

/* The command's options after --runtime and --host, then --help (in that
 * order, as each command listed them). */
#define MAX_OPTS 16

int cln_cli_engine_parse(const struct cln_cli_engine_cmd *cmd, int argc, char **argv,
                         struct cln_cli_engine *ret, void *userdata)
{
    struct option longopts[MAX_OPTS + 4] = {
        {"runtime", required_argument, NULL, 'r'},
        {"host", required_argument, NULL, 'H'},
    };
    size_t n = 2;
    for (const struct option *o = cmd->longopts; o && o->name && n < 2 + MAX_OPTS; o++)
        longopts[n++] = *o;
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    *ret = (struct cln_cli_engine){0};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            ret->runtime = optarg;
            break;
        case 'H':
            ret->host = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return CLN_EXIT_OK;
        case '?':
        case ':':
            fprintf(stderr, "cleanrun %s: unknown option %s\n", cmd->name, argv[optind - 1]);
            return CLN_EXIT_USAGE;
        default: {
            int code = cmd->option ? cmd->option(ch, optarg, userdata) : CLN_EXIT_USAGE;
            if (code)
                return code;
        }
        }
    }
    if (!cmd->operands_ignored && optind < argc) {
        fprintf(stderr, "cleanrun %s: unexpected argument \"%s\"\n", cmd->name, argv[optind]);
        return CLN_EXIT_USAGE;
    }
    return -1;
}

int cln_cli_engine_open(const struct cln_cli_engine *e, struct cln_runtime **ret)
{
    return cln_cli_open_runtime(e->runtime, e->host, ret);
}

int cln_cli_engine_start(const struct cln_cli_engine_cmd *cmd, int argc, char **argv,
                         void *userdata, struct cln_runtime **ret)
{
    struct cln_cli_engine e;
    int code = cln_cli_engine_parse(cmd, argc, argv, &e, userdata);
    if (code >= 0)
        return code;
    code = cln_cli_engine_open(&e, ret);
    return code ? code : -1;
}
