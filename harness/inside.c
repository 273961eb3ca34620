/* What runs inside containers, embedded in the harness: cleanrun-exec
 * (harness/inside/cleanrun-exec.c), built static with musl by the Makefile
 * at CLN_INSIDE_EXEC, one build for every variant. */
#include "runner-internal.h"

#ifndef CLN_INSIDE_EXEC /* the Makefile sets it; this is its value */
#define CLN_INSIDE_EXEC "build/inside/cleanrun-exec"
#endif

__asm__(".section .rodata\n"
        ".balign 16\n"
        "cln_inside_exec_start:\n"
        ".incbin \"" CLN_INSIDE_EXEC "\"\n"
        "cln_inside_exec_end:\n"
        ".balign 8\n"
        "cln_inside_exec_size:\n"
        ".quad cln_inside_exec_end - cln_inside_exec_start\n"
        ".previous\n");
extern const char cln_inside_exec_start[] __asm__("cln_inside_exec_start");
extern const unsigned long long cln_inside_exec_size __asm__("cln_inside_exec_size");

const char *cln_runner_inside_exec(size_t *ret_len)
{
    *ret_len = (size_t)cln_inside_exec_size;
    return cln_inside_exec_start;
}
