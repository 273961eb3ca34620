/* A container's user (NATIVE.md §7.3): "user", "uid", "user:group",
 * "uid:gid", "uid:group" or "user:gid".  Names are looked up in the image's
 * /etc/passwd and /etc/group: the file of the topmost layer that has one,
 * opened inside that layer (RESOLVE_IN_ROOT, no symlink out).  Without a
 * group, the user's primary group and the groups listing it apply; a
 * numeric uid the image does not list gets gid 0.  An unknown name is an
 * error.  A whited-out file ends the search (not found). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/container-internal.h"

/* The topmost layer's etc/<name>, opened for reading, or NULL. */
static FILE *open_etc(const struct cln_strv *layers, const char *name)
{
    for (size_t i = layers->n; i-- > 0;) {
        int root = open(layers->v[i], O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (root < 0)
            continue;
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        cleanup_free char *rel = cln_xasprintf("etc/%s", name);
        struct stat st;
        bool here = fstatat(root, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
        int fd = here ? (int)syscall(SYS_openat2, root, rel, &how, sizeof(how)) : -1;
        close(root);
        if (!here)
            continue;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            if (fd >= 0)
                close(fd);
            return NULL; /* a whiteout or anything else: none */
        }
        return fdopen(fd, "re");
    }
    return NULL;
}

static bool numeric(const char *s, unsigned long *v)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    *v = strtoul(s, &end, 10);
    return !*end && !errno && *v <= 0x7fffffffUL;
}

/* field i (0-based) of a ':'-separated line, in place */
static char *field(char *line, int i)
{
    char *p = line;
    for (; i > 0 && p; i--) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    return p;
}

static void cut(char *s)
{
    s[strcspn(s, ":\n")] = 0;
}

int ctr_resolve_user(const struct cln_strv *layers, const char *spec, struct ctr_proc *p,
                     struct cln_error **err)
{
    p->uid = 0;
    p->gid = 0;
    p->ngroups = 0;
    if (!spec || !*spec)
        return 0;
    cleanup_free char *user = cln_xstrdup(spec);
    char *group = strchr(user, ':');
    if (group)
        *group++ = 0;
    unsigned long v;
    bool found = false, uid_num = numeric(user, &v);
    cleanup_free char *name = NULL;
    if (uid_num)
        p->uid = (uid_t)v;
    cleanup_fclose FILE *pw = open_etc(layers, "passwd");
    char line[1024];
    while (pw && !found && fgets(line, sizeof(line), pw)) {
        char *f2 = field(line, 2), *f3 = field(line, 3);
        if (!f2 || !f3)
            continue;
        unsigned long u, g;
        char uid_s[32], gid_s[32];
        snprintf(uid_s, sizeof(uid_s), "%.*s", (int)strcspn(f2, ":"), f2);
        snprintf(gid_s, sizeof(gid_s), "%.*s", (int)strcspn(f3, ":"), f3);
        if (!numeric(uid_s, &u) || !numeric(gid_s, &g))
            continue;
        cut(line);
        if (uid_num ? u == v : strcmp(line, user) == 0) {
            found = true;
            p->uid = (uid_t)u;
            p->gid = (gid_t)g;
            name = cln_xstrdup(line);
        }
    }
    if (!found && !uid_num)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "unable to find user %s: no matching entries in passwd file", user);
    if (group) {
        if (numeric(group, &v)) {
            p->gid = (gid_t)v;
            return 0;
        }
    }
    cleanup_fclose FILE *gr = open_etc(layers, "group");
    bool gfound = false;
    while (gr && fgets(line, sizeof(line), gr)) {
        char *f2 = field(line, 2), *f3 = field(line, 3);
        if (!f2 || !f3)
            continue;
        char gid_s[32];
        snprintf(gid_s, sizeof(gid_s), "%.*s", (int)strcspn(f2, ":"), f2);
        if (!numeric(gid_s, &v))
            continue;
        f3[strcspn(f3, "\n")] = 0;
        cut(line);
        if (group) {
            if (strcmp(line, group) == 0) {
                p->gid = (gid_t)v;
                gfound = true;
                break;
            }
            continue;
        }
        /* supplementary: the groups whose member list names the user */
        for (char *m = f3; name && m && *m && p->ngroups < CLN_ARRAY_SIZE(p->groups);) {
            size_t n = strcspn(m, ",");
            if (n == strlen(name) && strncmp(m, name, n) == 0)
                p->groups[p->ngroups++] = (gid_t)v;
            m = m[n] ? m + n + 1 : NULL;
        }
    }
    if (group && !gfound)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "unable to find group %s: no matching entries in group file", group);
    return 0;
}

int ctr_userns_ids(struct ctr_proc *p, uint32_t count, const char *spec, struct cln_error **err)
{
    p->id_count = count;
    p->userns = count <= 1;
    if (p->userns)
        p->ngroups = 0;
    for (size_t i = 0; i < p->ngroups; i++)
        if (p->groups[i] >= count)
            p->groups[i--] = p->groups[--p->ngroups]; /* an unmapped group: dropped */
    if (p->uid < count && p->gid < count)
        return 0;
    return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                         "user %s (uid %u, gid %u): this rootless container maps ids 0 to %u "
                         "only%s",
                         spec ? spec : "(the image's)", (unsigned)p->uid, (unsigned)p->gid,
                         (unsigned)(count - 1),
                         count <= 1 ? " (root, to the user running cleanrun: no subordinate ids "
                                      "in /etc/subuid and /etc/subgid, or no newuidmap)"
                                    : "");
}
