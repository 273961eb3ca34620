/* String vectors (strv.h). */
#include "strv.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void cln_strv_push(struct cln_strv *v, char *s)
{
    v->v = cln_xrealloc(v->v, (v->n + 2) * sizeof(char *));
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
}

void cln_strv_add(struct cln_strv *v, const char *s)
{
    cln_strv_push(v, s ? cln_xstrdup(s) : NULL);
}

bool cln_strv_contains(const struct cln_strv *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] && strcmp(v->v[i], s) == 0)
            return true;
    return false;
}

char *cln_strv_take(struct cln_strv *v, size_t i)
{
    char *s = v->v[i];
    memmove(&v->v[i], &v->v[i + 1], (v->n - i) * sizeof(char *)); /* with the NULL */
    v->n--;
    return s;
}

const char *const *cln_strv_argv(const struct cln_strv *v)
{
    static const char *const empty[] = {NULL};
    return v->v ? (const char *const *)v->v : empty;
}

void cln_strv_done(struct cln_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}
