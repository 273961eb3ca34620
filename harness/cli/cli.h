/* Subcommands of the cleanrun binary.  Each takes argv starting at its own
 * name and returns the process exit status. */
#pragma once

#define CLN_EXIT_OK 0
#define CLN_EXIT_FAIL 1
#define CLN_EXIT_USAGE 2
#define CLN_EXIT_INFRA 3
#define CLN_EXIT_ISOLATION 4

struct cln_error;

int cln_cmd_toml_decode(int argc, char **argv);
int cln_cmd_run(int argc, char **argv);
int cln_cmd_validate(int argc, char **argv);
int cln_cmd_list(int argc, char **argv);
int cln_cmd_gc(int argc, char **argv);
int cln_cmd_ps(int argc, char **argv);
int cln_cmd_selftest(int argc, char **argv);

/* Print "cleanrun: <rendered error>" on stderr. */
void cln_cli_print_error(const struct cln_error *err);
