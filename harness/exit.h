/* The exit codes of the cleanrun binary, every command (docs/cli.md, Exit
 * codes): the one place they are defined.  The values are part of the
 * interface: scripts and CI depend on them, never renumber. */
#pragma once

enum cln_exit {
    CLN_EXIT_OK = 0,    /* every test passed (validate: every spec is valid) */
    CLN_EXIT_FAIL = 1,  /* a test failed or timed out (toml-decode: not valid TOML) */
    CLN_EXIT_USAGE = 2, /* usage or spec error, an unknown or unavailable runtime: nothing ran */
    CLN_EXIT_INFRA = 3, /* infrastructure: the engine, an image, a service, a leak; wins over 1 */
    CLN_EXIT_ISOLATION = 4, /* a step's evidence says it was not isolated; wins over 1 and 3 */
    CLN_EXIT_SIGNAL = 128,  /* + the signal's number: 130 SIGINT, 143 SIGTERM (interrupted) */
};
