/* The one string vector: owned strings, counted, and NULL-terminated
 * after every push (so v can be passed as an argv or env). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cln_strv {
    char **v; /* NULL while empty */
    size_t n;
};

/* Append s, taking ownership (s may be NULL only as a placeholder). */
void cln_strv_push(struct cln_strv *v, char *s);
/* Append a copy of s. */
void cln_strv_add(struct cln_strv *v, const char *s);
bool cln_strv_contains(const struct cln_strv *v, const char *s);
/* Take out element i (its ownership passes to the caller), keeping order. */
char *cln_strv_take(struct cln_strv *v, size_t i);
/* The vector as a NULL-terminated array; never NULL (a static empty one
 * for an empty vector). */
const char *const *cln_strv_argv(const struct cln_strv *v);
void cln_strv_done(struct cln_strv *v);

static inline void cln_strv_donep(struct cln_strv *v)
{
    cln_strv_done(v);
}
#define cleanup_strv __attribute__((cleanup(cln_strv_donep)))
