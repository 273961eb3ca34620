/* The owner of a file copied into a container (files[].owner): numbers
 * as they are; names looked up in the container's own /etc/passwd and
 * /etc/group, read through the engine's archive API before anything is
 * copied in, so that "www-data" is the image's www-data (33 on Debian, 82
 * on Alpine), never the host's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner-internal.h"
#include "runtime/base/buf.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* The numeric field `field` (0-based) of the line of db whose first field
 * is name; -1 when there is none. */
static long long db_lookup(const struct cln_capture *db, const char *name, int field)
{
    const char *p = db->data.data, *end = p ? p + db->data.len : NULL;
    size_t nl = strlen(name);
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *f = p;
            for (int i = 0; i < field && f; i++) {
                f = memchr(f, ':', (size_t)(eol - f));
                f = f ? f + 1 : NULL;
            }
            if (!f || f >= eol || *f < '0' || *f > '9')
                return -1;
            long long v = 0;
            for (; f < eol && *f >= '0' && *f <= '9' && v < 4294967295LL; f++)
                v = v * 10 + (*f - '0');
            return v < 4294967295LL ? v : -1;
        }
        p = eol + 1;
    }
    return -1;
}

static bool is_number(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int read_db(struct cln_runtime *rt, const char *id, const char *path,
                   struct cln_capture *ret, bool *loaded, struct cln_error **err)
{
    if (*loaded)
        return 0;
    struct cln_file_info fi;
    bool found = false;
    memset(ret, 0, sizeof(*ret));
    memset(&fi, 0, sizeof(fi));
    int r = cln_rt_copy_out(rt, id, path, 4u << 20, &fi, ret, &found, err);
    cln_file_info_done(&fi);
    if (r < 0)
        return cln_error_wrap(err, "read %s of the container", path);
    *loaded = true; /* absent: empty, every name unknown */
    return 0;
}

int cln_runner_resolve_owners(struct cln_runtime *rt, const char *id, struct cln_file *files,
                              const char *const *owners, size_t n, struct cln_error **err)
{
    struct cln_capture passwd, group;
    bool have_passwd = false, have_group = false;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *o = owners ? owners[i] : NULL;
        if (!o)
            continue;
        const char *colon = strchr(o, ':');
        size_t ul = colon ? (size_t)(colon - o) : strlen(o);
        char user[64], grp[64];
        snprintf(user, sizeof(user), "%.*s", (int)ul, o);
        snprintf(grp, sizeof(grp), "%s", colon ? colon + 1 : "");
        long long uid, gid = -1;
        if (is_number(user, strlen(user))) {
            uid = strtoll(user, NULL, 10);
            if (!colon)
                gid = uid;
        } else {
            if ((r = read_db(rt, id, "/etc/passwd", &passwd, &have_passwd, err)) < 0)
                break;
            uid = db_lookup(&passwd, user, 2);
            if (uid < 0) {
                r = cln_error_set(err, CLN_E_INVALID, 0,
                                  "file %s: owner \"%s\": no user \"%s\" in the image's "
                                  "/etc/passwd",
                                  files[i].path, o, user);
                break;
            }
            if (!colon)
                gid = db_lookup(&passwd, user, 3); /* its primary group */
        }
        if (colon && is_number(grp, strlen(grp))) {
            gid = strtoll(grp, NULL, 10);
        } else if (colon) {
            if ((r = read_db(rt, id, "/etc/group", &group, &have_group, err)) < 0)
                break;
            gid = db_lookup(&group, grp, 2);
            if (gid < 0) {
                r = cln_error_set(err, CLN_E_INVALID, 0,
                                  "file %s: owner \"%s\": no group \"%s\" in the image's "
                                  "/etc/group",
                                  files[i].path, o, grp);
                break;
            }
        }
        files[i].uid = (uint32_t)uid;
        files[i].gid = (uint32_t)(gid < 0 ? 0 : gid);
    }
    if (have_passwd)
        cln_capture_done(&passwd);
    if (have_group)
        cln_capture_done(&group);
    return r;
}

struct cln_file *cln_runner_spec_files(const struct cln_spec_file_item *items, size_t n,
                                       const char ***ret_owners)
{
    struct cln_file *files = cln_xcalloc(n + 1, sizeof(*files));
    const char **owners = NULL;
    for (size_t i = 0; i < n; i++) {
        files[i] = (struct cln_file){.path = items[i].path,
                                     .data = items[i].data,
                                     .len = items[i].len,
                                     .mode = items[i].mode};
        if (!items[i].owner)
            continue;
        if (items[i].uid >= 0 && items[i].gid >= 0) {
            files[i].uid = (uint32_t)items[i].uid;
            files[i].gid = (uint32_t)items[i].gid;
            continue;
        }
        if (!owners)
            owners = cln_xcalloc(n + 1, sizeof(char *));
        owners[i] = items[i].owner;
    }
    *ret_owners = owners;
    return files;
}
