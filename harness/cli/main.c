/* The cleanrun binary: the command table, top-level help and version,
 * and dispatch to a subcommand (cmd-*.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef CLN_VERSION
#define CLN_VERSION "0.0.0-unknown"
#endif

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    bool developer; /* listed separately in --help */
};

static const struct command commands[] = {
    {"run", cln_cmd_run, "run the tests in spec files", false},
    {"validate", cln_cmd_validate, "check spec files without running anything", false},
    {"list", cln_cmd_list, "list tests and steps after matrix expansion", false},
    {"init", cln_cmd_init, "write a commented starter spec, NAME.cleanrun.toml", false},
    {"ps", cln_cmd_ps, "list the containers cleanrun owns (read-only)", false},
    {"self-test", cln_cmd_selftest, "check this cleanrun against the engine (selftest/ specs)",
     false},
    {"image", cln_cmd_image, "import, list and remove images of the native runtime's store", false},
    {"gc", cln_cmd_gc, "remove what runs whose owner is gone left behind", false},
    {"import", cln_cmd_import, "convert a clnrm spec into a cleanrun spec", false},
    {"toml-decode", cln_cmd_toml_decode,
     "read TOML on stdin, print toml-test tagged JSON (for the conformance suite)", true},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cleanrun [--version] [--help] COMMAND [ARGS...]\n\n"
               "cleanrun runs test specs inside containers and proves that nothing ran\n"
               "on the host.\n\n");
    fprintf(f, "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!commands[i].developer)
            fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nDeveloper commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].developer)
            fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'cleanrun help COMMAND' (or 'cleanrun COMMAND --help') for a command's "
               "options.\n");
}

int main(int argc, char **argv)
{
    /* A closed pipe on stdout is an error on a write, not the end of the
     * run (which still tears down and writes its reports). */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return CLN_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("cleanrun %s\n", CLN_VERSION);
        return CLN_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 && argc > 2) {
        /* cleanrun help COMMAND: that command's own help */
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *args[] = {argv[2], (char *)"--help", NULL};
                return commands[i].fn(2, args);
            }
        fprintf(stderr, "cleanrun help: unknown command '%s'\n", argv[2]);
        usage(stderr);
        return CLN_EXIT_USAGE;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLN_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cleanrun: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLN_EXIT_USAGE;
}
