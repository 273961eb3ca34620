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

struct cln_runtime;
/* The exit code for a failure to open the engine: 2 for a usage error (an
 * unknown or unavailable runtime), else 3. */
int cln_cli_open_exit_code(const struct cln_error *err);
/* Open the engine (--runtime, --host); on failure print why and return the
 * exit code (2 for a usage error such as an unknown runtime, else 3). */
int cln_cli_open_runtime(const char *runtime, const char *host, struct cln_runtime **ret);

/* Print "cleanrun: <rendered error>" on stderr. */
void cln_cli_print_error(const struct cln_error *err);
