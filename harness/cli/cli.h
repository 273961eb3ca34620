/* Subcommands of the cleanrun binary, and what they share (common.c).
 * Each command takes argv starting at its own name and returns the process
 * exit status (enum cln_exit, harness/exit.h). */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "harness/exit.h"

struct cln_error;
struct cln_runtime;

int cln_cmd_toml_decode(int argc, char **argv);
int cln_cmd_run(int argc, char **argv);
int cln_cmd_validate(int argc, char **argv);
int cln_cmd_list(int argc, char **argv);
int cln_cmd_init(int argc, char **argv);
int cln_cmd_gc(int argc, char **argv);
int cln_cmd_ps(int argc, char **argv);
int cln_cmd_selftest(int argc, char **argv);
int cln_cmd_image(int argc, char **argv);
int cln_cmd_import(int argc, char **argv);

/* The exit code for a failure to open the engine: 2 for a usage error (an
 * unknown or unavailable runtime), else 3. */
int cln_cli_open_exit_code(const struct cln_error *err);
/* Open the engine (--runtime, --host); on failure print why and return the
 * exit code (2 for a usage error such as an unknown runtime, else 3). */
int cln_cli_open_runtime(const char *runtime, const char *host, struct cln_runtime **ret);

/* Print "cleanrun: <rendered error>" on stderr. */
void cln_cli_print_error(const struct cln_error *err);
/* Print err as above, free it, and return code (for `return cln_cli_fail(err, 3);`). */
int cln_cli_fail(struct cln_error *err, int code);

/* ---- the skeleton of the commands that talk to an engine (gc, ps, self-test) ---- */

/* A command's own options, besides --runtime, --host and --help. */
struct cln_cli_engine_cmd {
    const char *name;              /* "gc": in messages, "cleanrun gc: ..." */
    const char *help;              /* printed on stdout for --help (exit 0) */
    const struct option *longopts; /* its own, ending with a zero entry; MAY be NULL.  The
                                    * values 'r', 'H' and 'h' are taken */
    /* One of its own options was given: 0, or the exit code to return
     * (having said why on stderr).  MAY be NULL without longopts. */
    int (*option)(int opt, const char *arg, void *userdata);
    bool operands_ignored; /* else an operand is "unexpected argument" (exit 2) */
};

/* Which engine the command was told to use. */
struct cln_cli_engine {
    const char *runtime, *host; /* NULL: not given */
};

/* Parse argv for cmd into *ret.  Returns -1 to go on, or the exit code to
 * return now: 0 after --help, 2 for a usage error (said on stderr). */
int cln_cli_engine_parse(const struct cln_cli_engine_cmd *cmd, int argc, char **argv,
                         struct cln_cli_engine *ret, void *userdata);
/* Open the engine it names (cln_cli_open_runtime). */
int cln_cli_engine_open(const struct cln_cli_engine *e, struct cln_runtime **ret);
/* Both: parse, then open.  -1 with *ret open, or the exit code to return. */
int cln_cli_engine_start(const struct cln_cli_engine_cmd *cmd, int argc, char **argv,
                         void *userdata, struct cln_runtime **ret);
