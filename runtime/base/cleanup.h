/* Scope-bound cleanup and ownership transfer (systemd, crun, bubblewrap).
 *
 *     cleanup_free char *s = NULL;          freed when s goes out of scope
 *     *ret = CLN_TAKE(s);                   hand it over; s becomes NULL
 *
 * Initialise every cleanup variable at its declaration and declare it before
 * the first goto of the function (clang rejects a goto that skips one). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define CLN_DEFINE_CLEANUP(name, type, func)                                                       \
    static inline void name(type *p)                                                               \
    {                                                                                              \
        if (*p)                                                                                    \
            func(*p);                                                                              \
    }

static inline void cln_freep(void *p)
{
    free(*(void **)p);
}

static inline void cln_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

CLN_DEFINE_CLEANUP(cln_fclosep, FILE *, fclose)
CLN_DEFINE_CLEANUP(cln_json_deletep, cJSON *, cJSON_Delete)

#define cleanup_free __attribute__((cleanup(cln_freep)))
#define cleanup_close __attribute__((cleanup(cln_closep)))
#define cleanup_fclose __attribute__((cleanup(cln_fclosep)))
#define cleanup_json __attribute__((cleanup(cln_json_deletep)))

/* Move ownership out of a variable: evaluates to its value and clears it. */
#define CLN_TAKE(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) *p_ = &(p);                                                                  \
        __typeof__(p) v_ = *p_;                                                                    \
        *p_ = NULL;                                                                                \
        v_;                                                                                        \
    })

/* The same for file descriptors: the variable becomes -1. */
#define CLN_TAKE_FD(fd)                                                                            \
    ({                                                                                             \
        int *f_ = &(fd);                                                                           \
        int v_ = *f_;                                                                              \
        *f_ = -1;                                                                                  \
        v_;                                                                                        \
    })

#define CLN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
