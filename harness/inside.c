/* What runs inside containers, embedded in the harness: cleanrun-exec
 * (harness/inside/cleanrun-exec.c), built static with musl by the Makefile
 * at CLN_INSIDE_EXEC, one build for every variant. */
#include "runner-internal.h"

#ifndef CLN_INSIDE_EXEC
#error "CLN_INSIDE_EXEC: the path of the built cleanrun-exec (the Makefile sets it)"
#endif

__asm__(".section .rodata\n"
        ".balign 16\n"
        "cln_inside_exec_start:\n"
        ".incbin \"" CLN_INSIDE_EXEC "\"\n"
        "cln_inside_exec_end:\n"
        ".previous\n");
extern const char cln_inside_exec_start[] __asm__("cln_inside_exec_start");
extern const char cln_inside_exec_end[] __asm__("cln_inside_exec_end");

const char *cln_runner_inside_exec(size_t *ret_len)
{
    *ret_len = (size_t)(cln_inside_exec_end - cln_inside_exec_start);
    return cln_inside_exec_start;
}
