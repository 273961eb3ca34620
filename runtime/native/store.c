/* The image store itself: its root, the lock, the database images.json
 * (images, names, layer sizes), and list, lookup, remove, prune and
 * getting an image's config and layers.  Imports are import.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"

#define DB_FILE "images.json"

int cln_store_default_root(char **ret, struct cln_error **err)
{
    if (geteuid() == 0) {
        *ret = cln_xstrdup("/var/lib/cleanrun");
        return 0;
    }
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/') {
        *ret = cln_xasprintf("%s/cleanrun", xdg);
        return 0;
    }
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        const struct passwd *pw = getpwuid(geteuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || home[0] != '/')
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "no home directory for the image store (set XDG_DATA_HOME)");
    *ret = cln_xasprintf("%s/.local/share/cleanrun", home);
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    cleanup_free char *p = cln_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
}

int cln_store_open(const char *root, struct cln_store **ret, struct cln_error **err)
{
    if (!root || !*root)
        return cln_error_set(err, CLN_E_INVALID, 0, "image store: no root directory");
    if (mkdir_p(root, 0700) < 0)
        return cln_error_set(err, CLN_E_IO, errno, "image store: create '%s'", root);
    char real[PATH_MAX];
    if (!realpath(root, real))
        return cln_error_set(err, CLN_E_IO, errno, "image store: resolve '%s'", root);
    struct cln_store *s = cln_xcalloc(1, sizeof(*s));
    s->root = cln_xstrdup(real);
    s->lockfd = -1;
    s->is_root = geteuid() == 0;
    s->max_entries = 1000000;
    s->max_bytes = 64ull << 30;
    s->rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;
    if (s->rootfd < 0)
        r = cln_error_set(err, CLN_E_IO, errno, "image store: open '%s'", real);
    static const char *const dirs[] = {"blobs", "blobs/sha256", "layers", "tmp"};
    for (size_t i = 0; r == 0 && i < CLN_ARRAY_SIZE(dirs); i++)
        if (mkdirat(s->rootfd, dirs[i], 0700) < 0 && errno != EEXIST)
            r = cln_error_set(err, CLN_E_IO, errno, "image store: create %s/%s", real, dirs[i]);
    if (r == 0) {
        s->lockfd = openat(s->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lockfd < 0)
            r = cln_error_set(err, CLN_E_IO, errno, "image store: open %s/lock", real);
    }
    if (r < 0) {
        cln_store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void cln_store_close(struct cln_store *s)
{
    if (!s)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->rootfd >= 0)
        close(s->rootfd);
    free(s->root);
    free(s);
}

void cln_store_set_limits(struct cln_store *s, uint64_t max_entries, uint64_t max_bytes)
{
    if (max_entries)
        s->max_entries = max_entries;
    if (max_bytes)
        s->max_bytes = max_bytes;
}

int native_lock(struct cln_store *s, bool exclusive, struct cln_error **err)
{
    while (flock(s->lockfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
        if (errno != EINTR)
            return cln_error_set(err, CLN_E_IO, errno, "image store: lock %s/lock", s->root);
    return 0;
}

void native_unlock(struct cln_store *s)
{
    (void)flock(s->lockfd, LOCK_UN);
}

char *native_ref_normalize(const char *ref)
{
    const char *slash = strrchr(ref, '/');
    const char *last = slash ? slash + 1 : ref;
    if (strchr(last, ':') || strchr(ref, '@'))
        return cln_xstrdup(ref);
    return cln_xasprintf("%s:latest", ref);
}

/* ---- the database ---- */

static cJSON *obj(cJSON *parent, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (!cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
        o = cJSON_AddObjectToObject(parent, key);
    }
    return o;
}

static int db_load(struct cln_store *s, cJSON **ret, struct cln_error **err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    cJSON *db = NULL;
    struct cln_error *e = NULL;
    if (native_read_verified(s->rootfd, DB_FILE, NULL, -1, 256u << 20, "image store", &text, &len,
                             &e) < 0) {
        if (e->code != CLN_E_NOT_FOUND) {
            *err = e;
            return cln_error_wrap(err, "image store: read %s/%s", s->root, DB_FILE);
        }
        cln_error_free(e); /* no database yet: an empty store */
        db = cJSON_CreateObject();
    } else {
        db = cJSON_ParseWithLength(text, len);
        if (!cJSON_IsObject(db)) {
            cJSON_Delete(db);
            return cln_error_set(err, CLN_E_PARSE, 0, "image store: %s/%s is not a JSON object",
                                 s->root, DB_FILE);
        }
    }
    obj(db, "images");
    obj(db, "refs");
    obj(db, "layers");
    *ret = db;
    return 0;
}

static int db_save(struct cln_store *s, const cJSON *db, struct cln_error **err)
{
    char *text = cJSON_PrintUnformatted(db);
    if (!text)
        abort();
    int r = native_write_atomic(s->rootfd, DB_FILE, text, strlen(text), err);
    cJSON_free(text);
    return r < 0 ? cln_error_wrap(err, "image store: save %s/%s", s->root, DB_FILE) : 0;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_str(cJSON *o, const char *key, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (v)
        cJSON_AddStringToObject(o, key, v);
}

int native_db_add(struct cln_store *s, const char *config_digest, const char *manifest_digest,
                  const char *created, const struct cln_strv *diff_ids, const uint64_t *sizes,
                  const struct cln_strv *refs, struct cln_error **err)
{
    cleanup_json cJSON *db = NULL;
    if (db_load(s, &db, err) < 0)
        return -CLN_E_IO;
    cJSON *layers = obj(db, "layers");
    double total = 0;
    for (size_t i = 0; i < diff_ids->n; i++) {
        const cJSON *known = cJSON_GetObjectItemCaseSensitive(layers, diff_ids->v[i]);
        if (sizes[i] || !cJSON_IsNumber(known)) {
            cJSON_DeleteItemFromObjectCaseSensitive(layers, diff_ids->v[i]);
            cJSON_AddNumberToObject(layers, diff_ids->v[i], (double)sizes[i]);
            total += (double)sizes[i];
        } else {
            total += known->valuedouble;
        }
    }
    cJSON *images = obj(db, "images");
    cJSON_DeleteItemFromObjectCaseSensitive(images, config_digest);
    cJSON *img = cJSON_AddObjectToObject(images, config_digest);
    set_str(img, "manifest", manifest_digest);
    set_str(img, "created", created);
    cJSON_AddNumberToObject(img, "size", total);
    cJSON *names = obj(db, "refs");
    for (size_t i = 0; refs && i < refs->n; i++) {
        cleanup_free char *n = native_ref_normalize(refs->v[i]);
        set_str(names, n, config_digest);
    }
    return db_save(s, db, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void info_fill(const cJSON *db, const char *id, struct cln_store_info *i)
{
    const cJSON *img =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(db, "images"), id);
    const char *m = jstr(img, "manifest"), *c = jstr(img, "created");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(img, "size");
    i->id = cln_xstrdup(id);
    i->manifest = m ? cln_xstrdup(m) : NULL;
    i->created = c ? cln_xstrdup(c) : NULL;
    i->size = cJSON_IsNumber(size) ? (uint64_t)size->valuedouble : 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(db, "refs"))
    {
        if (cJSON_IsString(r) && !strcmp(r->valuestring, id))
            cln_strv_add(&i->refs, r->string);
    }
    if (i->refs.n > 1)
        qsort(i->refs.v, i->refs.n, sizeof(*i->refs.v), cmp_str);
}

void cln_store_info_done(struct cln_store_info *i)
{
    free(i->id);
    free(i->manifest);
    free(i->created);
    cln_strv_done(&i->refs);
    *i = (struct cln_store_info){0};
}

void cln_store_images_done(struct cln_store_images *l)
{
    for (size_t i = 0; i < l->n; i++)
        cln_store_info_done(&l->v[i]);
    free(l->v);
    *l = (struct cln_store_images){0};
}

int cln_store_list(struct cln_store *s, struct cln_store_images *ret, struct cln_error **err)
{
    cleanup_json cJSON *db = NULL;
    if (native_lock(s, false, err) < 0)
        return -CLN_E_IO;
    int r = db_load(s, &db, err);
    native_unlock(s);
    if (r < 0)
        return r;
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(db, "images");
    struct cln_store_images l = {0};
    size_t n = (size_t)cJSON_GetArraySize(images);
    l.v = cln_xcalloc(n ? n : 1, sizeof(*l.v));
    const cJSON *img;
    cJSON_ArrayForEach(img, images)
    {
        info_fill(db, img->string, &l.v[l.n++]);
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), cmp_str); /* id is the first member */
    *ret = l;
    return 0;
}

/* name as a ref, then as an id or a prefix of one. */
static int resolve(const cJSON *db, const char *name, char **ret_id, bool *ret_by_ref,
                   struct cln_error **err)
{
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(db, "refs");
    cleanup_free char *norm = native_ref_normalize(name);
    const char *id = jstr(refs, name);
    if (!id)
        id = jstr(refs, norm);
    if (id) {
        *ret_by_ref = true;
        *ret_id = cln_xstrdup(id);
        return 0;
    }
    const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
    size_t n = strlen(hex);
    const char *found = NULL;
    if (n && n <= NATIVE_HEX_LEN && strspn(hex, "0123456789abcdef") == n) {
        const cJSON *images = cJSON_GetObjectItemCaseSensitive(db, "images");
        for (const cJSON *img = images->child; img; img = img->next) {
            if (strncmp(img->string + 7, hex, n) != 0)
                continue;
            if (found) {
                cln_error_set(err, CLN_E_CONFLICT, 0,
                              "image '%s' is ambiguous: %s and %s, at least", name, found,
                              img->string);
                return -CLN_E_CONFLICT;
            }
            found = img->string;
        }
    }
    if (!found) {
        cln_error_set(err, CLN_E_NOT_FOUND, 0,
                      "no image '%s' in the store (cleanrun image import FILE adds one)", name);
        return -CLN_E_NOT_FOUND;
    }
    *ret_by_ref = false;
    *ret_id = cln_xstrdup(found);
    return 0;
}

int cln_store_lookup(struct cln_store *s, const char *name, struct cln_store_info *ret,
                     struct cln_error **err)
{
    cleanup_json cJSON *db = NULL;
    cleanup_free char *id = NULL;
    bool by_ref = false;
    if (native_lock(s, false, err) < 0)
        return -CLN_E_IO;
    int r = db_load(s, &db, err);
    native_unlock(s);
    if (r < 0 || (r = resolve(db, name, &id, &by_ref, err)) < 0)
        return r;
    *ret = (struct cln_store_info){0};
    info_fill(db, id, ret);
    return 0;
}

static int remove_locked(struct cln_store *s, const char *name, struct cln_error **err)
{
    cleanup_json cJSON *db = NULL;
    cleanup_free char *id = NULL;
    bool by_ref = false;
    int r = db_load(s, &db, err);
    if (r < 0 || (r = resolve(db, name, &id, &by_ref, err)) < 0)
        return r;
    cJSON *refs = obj(db, "refs");
    if (by_ref) {
        cleanup_free char *norm = native_ref_normalize(name);
        cJSON_DeleteItemFromObjectCaseSensitive(
            refs, cJSON_GetObjectItemCaseSensitive(refs, name) ? name : norm);
    }
    bool still_named = false;
    for (cJSON *ent = refs->child, *next = NULL; ent; ent = next) {
        next = ent->next;
        if (!cJSON_IsString(ent) || strcmp(ent->valuestring, id) != 0)
            continue;
        if (by_ref)
            still_named = true;
        else
            cJSON_Delete(cJSON_DetachItemViaPointer(refs, ent));
    }
    if (!still_named)
        cJSON_DeleteItemFromObjectCaseSensitive(obj(db, "images"), id);
    return db_save(s, db, err);
}

int cln_store_remove(struct cln_store *s, const char *name, struct cln_error **err)
{
    if (native_lock(s, true, err) < 0)
        return -CLN_E_IO;
    int r = remove_locked(s, name, err);
    native_unlock(s);
    return r;
}

static int image_config(struct cln_store *s, const char *id, struct cln_image_config **ret,
                        struct cln_error **err)
{
    char hex[NATIVE_HEX_LEN + 1];
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (native_digest_hex(id, hex, err) < 0)
        return -CLN_E_INVALID;
    cleanup_free char *path = cln_xasprintf("blobs/sha256/%s", hex);
    int r = native_read_verified(s->rootfd, path, id, -1, NATIVE_MAX_JSON, "image config", &text,
                                 &len, err);
    if (r == 0)
        r = cln_image_config_parse(text, len, ret, err);
    if (r < 0)
        cln_error_wrap(err, "image %s", id);
    return r;
}

/* Remove every entry of dir (relative to the root) that keep does not
 * name; count them. */
static void sweep(struct cln_store *s, const char *dir, const cJSON *keep, size_t *freed)
{
    int fd = openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    const struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
            continue;
        if (keep && cJSON_GetObjectItemCaseSensitive(keep, de->d_name))
            continue;
        if (native_rm_rf(dirfd(d), de->d_name) == 0)
            (*freed)++;
    }
    closedir(d);
}

static int prune_locked(struct cln_store *s, size_t *ret_freed, struct cln_error **err)
{
    cleanup_json cJSON *db = NULL;
    if (db_load(s, &db, err) < 0)
        return -CLN_E_IO;
    cleanup_json cJSON *blobs = cJSON_CreateObject();
    cleanup_json cJSON *layers = cJSON_CreateObject();
    const cJSON *img;
    cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(db, "images"))
    {
        const char *m = jstr(img, "manifest");
        struct cln_image_config *c = NULL;
        if (image_config(s, img->string, &c, err) < 0 || !c)
            return cln_error_wrap(err, "prune: keeping everything");
        cJSON_AddTrueToObject(blobs, img->string + 7);
        if (m && strlen(m) > 7)
            cJSON_AddTrueToObject(blobs, m + 7);
        for (size_t i = 0; i < c->diff_ids.n; i++)
            if (strlen(c->diff_ids.v[i]) > 7)
                cJSON_AddTrueToObject(layers, c->diff_ids.v[i] + 7);
        cln_image_config_free(c);
    }
    size_t freed = 0;
    sweep(s, "blobs/sha256", blobs, &freed);
    sweep(s, "layers", layers, &freed);
    size_t tmp = 0;
    sweep(s, "tmp", NULL, &tmp);
    cJSON *known = obj(db, "layers");
    for (cJSON *l = known->child, *next = NULL; l; l = next) {
        next = l->next;
        if (strlen(l->string) <= 7 || !cJSON_GetObjectItemCaseSensitive(layers, l->string + 7))
            cJSON_Delete(cJSON_DetachItemViaPointer(known, l));
    }
    if (db_save(s, db, err) < 0)
        return -CLN_E_IO;
    if (ret_freed)
        *ret_freed = freed;
    return 0;
}

int cln_store_prune(struct cln_store *s, size_t *ret_freed, struct cln_error **err)
{
    if (native_lock(s, true, err) < 0)
        return -CLN_E_IO;
    int r = prune_locked(s, ret_freed, err);
    native_unlock(s);
    return r;
}

int cln_store_image_get(struct cln_store *s, const char *name, struct cln_store_image **ret,
                        struct cln_error **err)
{
    struct cln_store_info info = {0};
    int r = cln_store_lookup(s, name, &info, err);
    if (r < 0)
        return r;
    struct cln_store_image *img = cln_xcalloc(1, sizeof(*img));
    img->id = CLN_TAKE(info.id);
    img->manifest = CLN_TAKE(info.manifest);
    cln_store_info_done(&info);
    r = native_lock(s, false, err);
    if (r == 0) {
        r = image_config(s, img->id, &img->config, err);
        for (size_t i = 0; r == 0 && img->config && i < img->config->diff_ids.n; i++) {
            char hex[NATIVE_HEX_LEN + 1];
            struct stat st;
            cleanup_free char *rel = NULL;
            if ((r = native_digest_hex(img->config->diff_ids.v[i], hex, err)) < 0)
                break;
            rel = cln_xasprintf("layers/%s", hex);
            if (fstatat(s->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                r = cln_error_set(err, CLN_E_NOT_FOUND, errno,
                                  "image %s: layer %s is missing from the store (import the "
                                  "image again)",
                                  img->id, img->config->diff_ids.v[i]);
            else
                cln_strv_push(&img->layer_dirs, cln_xasprintf("%s/%s", s->root, rel));
        }
        native_unlock(s);
    }
    if (r < 0) {
        cln_store_image_free(img);
        return r;
    }
    *ret = img;
    return 0;
}

void cln_store_image_free(struct cln_store_image *img)
{
    if (!img)
        return;
    free(img->id);
    free(img->manifest);
    cln_image_config_free(img->config);
    cln_strv_done(&img->layer_dirs);
    free(img);
}
