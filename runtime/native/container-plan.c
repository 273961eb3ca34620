/* A container's plan (ctr_paths and ctr_proc) as bytes, for the broker's
 * functions (runtime/backend.h "functions the broker runs"): written in the
 * harness, read back in the broker's child with no allocation at all (the
 * child is a copy of a process that may have had threads): strings point
 * into the child's own copy of the bytes, arrays go to static storage. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/native/container-internal.h"

#define PLAN_MAGIC 0x4e4c5043u /* "CPLN" */
#define PLAN_MAX_STRINGS 4096
#define PLAN_MAX_FILTER 4096 /* BPF_MAXINSNS */

/* ---- writing (the harness) ---- */

static void put_u32(struct cln_buf *b, uint32_t v)
{
    cln_buf_append(b, &v, sizeof(v));
}

static void put_str(struct cln_buf *b, const char *s)
{
    put_u32(b, s ? (uint32_t)strlen(s) : UINT32_MAX);
    if (s)
        cln_buf_append(b, s, strlen(s) + 1);
}

static void put_strv(struct cln_buf *b, const struct cln_strv *v)
{
    put_u32(b, (uint32_t)v->n);
    for (size_t i = 0; i < v->n; i++)
        put_str(b, v->v[i]);
}

void ctr_plan_put_paths(struct cln_buf *b, const struct ctr_paths *p)
{
    put_u32(b, PLAN_MAGIC);
    const char *const s[] = {p->dir,   p->rootfs, p->upper,    p->work,         p->scratch,
                             p->hosts, p->resolv, p->lowerdir, p->lowerdir_tmp, p->hostname};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(s); i++)
        put_str(b, s[i]);
    put_u32(b, p->read_only);
    put_u32(b, p->wait_start);
    put_u32(b, p->userns);
    put_u32(b, p->maps_by_caller);
    put_u32(b, p->privileged);
    put_u32(b, p->host_network);
    put_u32(b, p->host_uid);
    put_u32(b, p->host_gid);
    put_u32(b, (uint32_t)p->nmounts);
    for (size_t i = 0; i < p->nmounts; i++) {
        const struct ctr_mount *m = &p->mounts[i];
        put_u32(b, (uint32_t)m->type);
        put_str(b, m->target);
        put_str(b, m->source);
        put_u32(b, m->read_only);
        put_u32(b, m->is_dir);
        put_u32(b, (uint32_t)(m->size >> 32)); /* a tmpfs's size, mode */
        put_u32(b, (uint32_t)m->size);
        put_u32(b, m->mode);
        put_u32(b, m->source_fd >= 0); /* its descriptor: the next one given */
    }
}

void ctr_plan_put_proc(struct cln_buf *b, const struct ctr_proc *p)
{
    put_u32(b, PLAN_MAGIC);
    put_strv(b, &p->argv);
    put_strv(b, &p->env);
    put_str(b, p->cwd);
    put_u32(b, p->uid);
    put_u32(b, p->gid);
    put_u32(b, (uint32_t)p->ngroups);
    for (size_t i = 0; i < p->ngroups; i++)
        put_u32(b, p->groups[i]);
    put_u32(b, p->seccomp.len);
    if (p->seccomp.len) /* (none: privileged) */
        cln_buf_append(b, p->seccomp.filter, p->seccomp.len * sizeof(struct sock_filter));
    cln_buf_append(b, p->cap_keep, sizeof(p->cap_keep));
    put_u32(b, (uint32_t)p->cap_last);
    put_u32(b, p->userns);
    put_u32(b, p->id_count);
}

void ctr_plan_put_u32(struct cln_buf *b, uint32_t v)
{
    put_u32(b, v);
}

void ctr_plan_put_str(struct cln_buf *b, const char *s)
{
    put_str(b, s);
}

/* ---- reading (the broker's child: no allocation) ---- */

static bool get(struct ctr_plan_reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

uint32_t ctr_plan_u32(struct ctr_plan_reader *r)
{
    uint32_t v = 0;
    get(r, &v, sizeof(v));
    return v;
}

char *ctr_plan_str(struct ctr_plan_reader *r)
{
    uint32_t n = ctr_plan_u32(r);
    if (r->bad || n == UINT32_MAX)
        return NULL;
    if ((size_t)(r->end - r->p) < (size_t)n + 1 || r->p[n] != '\0') {
        r->bad = true;
        return NULL;
    }
    char *s = (char *)r->p; /* the child's own copy of the request */
    r->p += n + 1;
    return s;
}

static char *argv_store[PLAN_MAX_STRINGS + 1], *env_store[PLAN_MAX_STRINGS + 1];
static struct sock_filter filter_store[PLAN_MAX_FILTER];
static struct ctr_mount mount_store[CTR_MAX_MOUNTS];

static void get_strv(struct ctr_plan_reader *r, struct cln_strv *v, char **store)
{
    uint32_t n = ctr_plan_u32(r);
    if (n > PLAN_MAX_STRINGS) {
        r->bad = true;
        return;
    }
    for (uint32_t i = 0; i < n && !r->bad; i++)
        if (!(store[i] = ctr_plan_str(r)))
            r->bad = true;
    store[n] = NULL;
    v->v = store;
    v->n = n;
}

int ctr_plan_get_paths(struct ctr_plan_reader *r, struct ctr_paths *p, const int *fds, int nfds)
{
    memset(p, 0, sizeof(*p));
    if (ctr_plan_u32(r) != PLAN_MAGIC)
        return -EINVAL;
    char **s[] = {&p->dir,   &p->rootfs, &p->upper,    &p->work,         &p->scratch,
                  &p->hosts, &p->resolv, &p->lowerdir, &p->lowerdir_tmp, &p->hostname};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(s); i++)
        *s[i] = ctr_plan_str(r);
    p->read_only = ctr_plan_u32(r);
    p->wait_start = ctr_plan_u32(r);
    p->userns = ctr_plan_u32(r);
    p->maps_by_caller = ctr_plan_u32(r);
    p->privileged = ctr_plan_u32(r);
    p->host_network = ctr_plan_u32(r);
    p->host_uid = ctr_plan_u32(r);
    p->host_gid = ctr_plan_u32(r);
    uint32_t n = ctr_plan_u32(r);
    if (n > CTR_MAX_MOUNTS)
        return -EINVAL;
    int k = 0;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct ctr_mount *m = &mount_store[i];
        m->type = (int)ctr_plan_u32(r);
        m->target = ctr_plan_str(r);
        m->source = ctr_plan_str(r);
        m->read_only = ctr_plan_u32(r);
        m->is_dir = ctr_plan_u32(r);
        m->size = (uint64_t)ctr_plan_u32(r) << 32;
        m->size |= ctr_plan_u32(r);
        m->mode = ctr_plan_u32(r);
        m->source_fd = -1;
        if (ctr_plan_u32(r)) {
            if (k >= nfds)
                return -EINVAL;
            m->source_fd = fds[k++];
        }
        if (!m->target)
            r->bad = true;
    }
    p->mounts = mount_store;
    p->nmounts = n;
    return r->bad || !p->dir || !p->rootfs || !p->hostname ? -EINVAL : 0;
}

int ctr_plan_get_proc(struct ctr_plan_reader *r, struct ctr_proc *p)
{
    memset(p, 0, sizeof(*p));
    if (ctr_plan_u32(r) != PLAN_MAGIC)
        return -EINVAL;
    get_strv(r, &p->argv, argv_store);
    get_strv(r, &p->env, env_store);
    p->cwd = ctr_plan_str(r);
    p->uid = ctr_plan_u32(r);
    p->gid = ctr_plan_u32(r);
    uint32_t ng = ctr_plan_u32(r);
    if (ng > CLN_ARRAY_SIZE(p->groups))
        return -EINVAL;
    for (uint32_t i = 0; i < ng; i++)
        p->groups[i] = ctr_plan_u32(r);
    p->ngroups = ng;
    uint32_t fl = ctr_plan_u32(r);
    if (fl > PLAN_MAX_FILTER ||
        (fl && !get(r, filter_store, (size_t)fl * sizeof(struct sock_filter))))
        return -EINVAL;
    p->seccomp.filter = filter_store;
    p->seccomp.len = (unsigned short)fl;
    get(r, p->cap_keep, sizeof(p->cap_keep));
    p->cap_last = (int)ctr_plan_u32(r);
    p->userns = ctr_plan_u32(r);
    p->id_count = ctr_plan_u32(r);
    if (p->cap_last < 0 || p->cap_last >= 128) /* cap_keep's bits */
        return -EINVAL;
    return r->bad || p->argv.n == 0 ? -EINVAL : 0;
}
