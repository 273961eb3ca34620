/* Importing images into the store (docs/runtime.md "Native (in progress):
 * the image store"): `docker save` archives (the <= v24 layout, manifest.json
 * with "<hex>.json" and "<id>/layer.tar"; the >= v25 OCI layout), OCI image
 * layout directories and OCI archives (linux/amd64 from an index,
 * attestations skipped), and plain rootfs tarballs (one layer, a minimal
 * config).  Archives are unpacked into a staging directory under tmp/ first
 * (safely: unpack.c), then read as a directory.  Verified in order: index
 * and manifest blobs against their descriptors, the config against its
 * digest (the image id), each layer blob against its descriptor, each
 * uncompressed stream against its diff_id. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"

#if defined(__aarch64__)
#define HOST_ARCH "arm64"
#else
#define HOST_ARCH "amd64"
#endif

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

struct importer {
    struct cln_store *s;
    int dfd;             /* the layout or staging directory */
    const char *ref;     /* the caller's extra name; may be NULL */
    struct cln_strv ids; /* images imported */
};

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int read_json(int dfd, const char *path, const char *digest, int64_t size, const char *what,
                     char **ret_text, size_t *ret_len, cJSON **ret, struct cln_error **err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (native_read_verified(dfd, path, digest, size, NATIVE_MAX_JSON, what, &text, &len, err) < 0)
        return -CLN_E_INVALID;
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j)
        return cln_error_set(err, CLN_E_PARSE, 0, "%s '%s': not JSON", what, path);
    *ret = j;
    if (ret_text)
        *ret_text = CLN_TAKE(text);
    if (ret_len)
        *ret_len = len;
    return 0;
}

static bool layer_type_ok(const char *mt)
{
    return !mt || (!strstr(mt, "nondistributable") && !strstr(mt, "foreign") &&
                   (!strncmp(mt, "application/vnd.oci.image.layer.v1.tar", 38) ||
                    !strncmp(mt, "application/vnd.docker.image.rootfs.diff.tar", 44)));
}

/* Verify a layer blob against its descriptor: size, then sha256. */
static int verify_blob(int dfd, const char *path, const char *digest, int64_t size,
                       struct cln_error **err)
{
    char want[NATIVE_HEX_LEN + 1], hex[NATIVE_HEX_LEN + 1];
    if (native_digest_hex(digest, want, err) < 0)
        return -CLN_E_INVALID;
    cleanup_close int fd = native_open_in_root(dfd, path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return cln_error_set(err, CLN_E_NOT_FOUND, errno, "layer blob '%s'", path);
    if (size >= 0 && st.st_size != size)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "layer blob '%s': size mismatch: %lld bytes, the descriptor says %lld",
                             path, (long long)st.st_size, (long long)size);
    uint64_t n = 0;
    if (native_hash_fd(fd, &n, hex, err) < 0)
        return cln_error_wrap(err, "layer blob '%s'", path);
    if (strcmp(hex, want) != 0)
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "layer blob '%s': digest mismatch: sha256:%s, expected %s", path, hex,
                             digest);
    return 0;
}

static bool layer_present(struct cln_store *s, const char *diff_id)
{
    char hex[NATIVE_HEX_LEN + 1];
    struct cln_error *e = NULL;
    if (native_digest_hex(diff_id, hex, &e) < 0) {
        cln_error_free(e); /* reported when the layer is unpacked */
        return false;
    }
    cleanup_free char *p = cln_xasprintf("layers/%s", hex);
    struct stat st;
    return fstatat(s->rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* The layers of one image: paths[i] (digests[i] and sizes[i] when known)
 * against the config's diff_ids; then the blobs and the database. */
static int finish_image(struct importer *im, const struct cln_image_config *c,
                        const char *config_text, size_t config_len, const char *manifest_text,
                        size_t manifest_len, const struct cln_strv *paths,
                        const struct cln_strv *digests, const int64_t *blob_sizes,
                        struct cln_strv *names, struct cln_error **err)
{
    if (paths->n != c->diff_ids.n)
        return cln_error_set(err, CLN_E_INVALID, 0, "%zu layers, but the config has %zu diff_ids",
                             paths->n, c->diff_ids.n);
    cleanup_free uint64_t *sizes = cln_xcalloc(paths->n + 1, sizeof(*sizes));
    for (size_t i = 0; i < paths->n; i++) {
        bool existed = false;
        if (layer_present(im->s, c->diff_ids.v[i]))
            continue;
        if (digests && digests->v[i] &&
            verify_blob(im->dfd, paths->v[i], digests->v[i], blob_sizes[i], err) < 0)
            return -CLN_E_INVALID;
        if (native_layer_unpack(im->s, im->dfd, paths->v[i], c->diff_ids.v[i], NULL, &sizes[i],
                                &existed, err) < 0)
            return -CLN_E_INVALID;
    }
    cleanup_free char *config_digest = NULL;
    cleanup_free char *manifest_digest = NULL;
    if (native_blob_put(im->s, config_text, config_len, &config_digest, err) < 0 ||
        native_blob_put(im->s, manifest_text, manifest_len, &manifest_digest, err) < 0)
        return -CLN_E_IO;
    if (im->ref)
        cln_strv_add(names, im->ref);
    if (native_db_add(im->s, config_digest, manifest_digest, c->created, &c->diff_ids, sizes, names,
                      err) < 0)
        return -CLN_E_IO;
    cln_strv_push(&im->ids, CLN_TAKE(config_digest));
    return 0;
}

/* ---- OCI layouts (and docker save >= v25) ---- */

static int oci_manifest(struct importer *im, const char *digest, int64_t size,
                        struct cln_strv *names, struct cln_error **err)
{
    char hex[NATIVE_HEX_LEN + 1];
    if (native_digest_hex(digest, hex, err) < 0)
        return cln_error_wrap(err, "manifest");
    cleanup_free char *path = cln_xasprintf("blobs/sha256/%s", hex);
    cleanup_free char *mtext = NULL, *ctext = NULL;
    size_t mlen = 0, clen = 0;
    cleanup_json cJSON *m = NULL;
    cleanup_json cJSON *cfgj = NULL;
    if (read_json(im->dfd, path, digest, size, "manifest", &mtext, &mlen, &m, err) < 0)
        return -CLN_E_INVALID;
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(m, "config");
    const cJSON *csize = cJSON_GetObjectItemCaseSensitive(cd, "size");
    const char *cdigest = jstr(cd, "digest");
    if (!cdigest || native_digest_hex(cdigest, hex, err) < 0)
        return cln_error_set(err, CLN_E_INVALID, 0, "manifest %s: no config digest", digest);
    cleanup_free char *cpath = cln_xasprintf("blobs/sha256/%s", hex);
    if (read_json(im->dfd, cpath, cdigest, cJSON_IsNumber(csize) ? (int64_t)csize->valuedouble : -1,
                  "image config", &ctext, &clen, &cfgj, err) < 0)
        return -CLN_E_INVALID;
    struct cln_image_config *c = NULL;
    if (cln_image_config_parse(ctext, clen, &c, err) < 0)
        return -CLN_E_PARSE;
    struct cln_strv paths = {0}, digests = {0};
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(m, "layers");
    size_t n = (size_t)cJSON_GetArraySize(layers);
    cleanup_free int64_t *bsizes = cln_xcalloc(n + 1, sizeof(*bsizes));
    const cJSON *l;
    int r = 0;
    if (!cJSON_IsArray(layers))
        layers = NULL;
    cJSON_ArrayForEach(l, layers)
    {
        const char *ld = jstr(l, "digest"), *mt = jstr(l, "mediaType");
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(l, "size");
        if (!layer_type_ok(mt)) {
            r = cln_error_set(err, CLN_E_UNSUPPORTED, 0, "layer %s: media type '%s' unsupported",
                              ld ? ld : "?", mt);
            break;
        }
        if (!ld || native_digest_hex(ld, hex, err) < 0) {
            r = cln_error_set(err, CLN_E_INVALID, 0, "a layer without a digest");
            break;
        }
        bsizes[paths.n] = cJSON_IsNumber(ls) ? (int64_t)ls->valuedouble : -1;
        cln_strv_push(&paths, cln_xasprintf("blobs/sha256/%s", hex));
        cln_strv_add(&digests, ld);
    }
    if (r == 0)
        r = finish_image(im, c, ctext, clen, mtext, mlen, &paths, &digests, bsizes, names, err);
    cln_strv_done(&paths);
    cln_strv_done(&digests);
    cln_image_config_free(c);
    return r < 0 ? cln_error_wrap(err, "manifest %s", digest) : 0;
}

static bool platform_ok(const cJSON *desc)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(desc, "platform");
    if (!cJSON_IsObject(p))
        return true;
    const char *os = jstr(p, "os"), *arch = jstr(p, "architecture");
    return (!os || !strcmp(os, "linux")) && (!arch || !strcmp(arch, HOST_ARCH));
}

static void add_names(const cJSON *desc, struct cln_strv *names)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(desc, "annotations");
    const char *full = jstr(ann, "io.containerd.image.name");
    const char *ref = jstr(ann, "org.opencontainers.image.ref.name");
    if (full)
        cln_strv_add(names, full);
    else if (ref && (strchr(ref, '/') || strchr(ref, ':')))
        cln_strv_add(names, ref);
}

/* docker save >= v25 names images in manifest.json: every RepoTags of the
 * entry whose Config is this manifest's config blob. */
static void docker_names(const cJSON *dm, int dfd, const char *mdigest, struct cln_strv *names)
{
    char hex[NATIVE_HEX_LEN + 1];
    struct cln_error *e = NULL;
    cleanup_json cJSON *m = NULL;
    cleanup_free char *path = NULL;
    if (!dm || native_digest_hex(mdigest, hex, &e) < 0) {
        cln_error_free(e); /* reported when the manifest is read */
        return;
    }
    path = cln_xasprintf("blobs/sha256/%s", hex);
    if (read_json(dfd, path, mdigest, -1, "manifest", NULL, NULL, &m, &e) < 0) {
        cln_error_free(e); /* reported when the manifest is read */
        return;
    }
    const char *cd = jstr(cJSON_GetObjectItemCaseSensitive(m, "config"), "digest");
    const cJSON *ent;
    cJSON_ArrayForEach(ent, dm)
    {
        const char *cfg = jstr(ent, "Config");
        if (!cd || !cfg || !strstr(cfg, cd + 7))
            continue;
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ent, "RepoTags"))
        {
            if (cJSON_IsString(t) && !cln_strv_contains(names, t->valuestring))
                cln_strv_add(names, t->valuestring);
        }
    }
}

/* via: the descriptor of the index that led here (its names), or NULL. */
static int oci_index(struct importer *im, const cJSON *index, const cJSON *dm, int depth,
                     const cJSON *via, struct cln_error **err)
{
    if (depth > 4)
        return cln_error_set(err, CLN_E_INVALID, 0, "indexes nested too deep");
    size_t before = im->ids.n;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(index, "manifests"))
    {
        const char *mt = jstr(d, "mediaType"), *digest = jstr(d, "digest");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(d, "size");
        int64_t sz = cJSON_IsNumber(size) ? (int64_t)size->valuedouble : -1;
        const char *refty =
            jstr(cJSON_GetObjectItemCaseSensitive(d, "annotations"), "vnd.docker.reference.type");
        if (!mt || !digest || (refty && !strcmp(refty, "attestation-manifest")) || !platform_ok(d))
            continue;
        if (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST)) {
            char hex[NATIVE_HEX_LEN + 1];
            cleanup_json cJSON *sub = NULL;
            if (native_digest_hex(digest, hex, err) < 0)
                return cln_error_wrap(err, "index");
            cleanup_free char *path = cln_xasprintf("blobs/sha256/%s", hex);
            if (read_json(im->dfd, path, digest, sz, "index", NULL, NULL, &sub, err) < 0 ||
                oci_index(im, sub, dm, depth + 1, d, err) < 0)
                return -CLN_E_INVALID;
            continue;
        }
        if (strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0)
            continue; /* unknown media types are not errors (image-layout.md) */
        struct cln_strv names = {0};
        add_names(d, &names);
        if (via)
            add_names(via, &names);
        docker_names(dm, im->dfd, digest, &names);
        int r = oci_manifest(im, digest, sz, &names, err);
        cln_strv_done(&names);
        if (r < 0)
            return r;
        if (depth > 0)
            break; /* one platform's manifest from a nested index */
    }
    if (depth == 0 && im->ids.n == before)
        return cln_error_set(err, CLN_E_NOT_FOUND, 0, "no linux/%s image manifest in index.json",
                             HOST_ARCH);
    return 0;
}

static int import_oci(struct importer *im, struct cln_error **err)
{
    cleanup_json cJSON *layout = NULL;
    cleanup_json cJSON *index = NULL;
    cleanup_json cJSON *dm = NULL;
    if (read_json(im->dfd, "oci-layout", NULL, -1, "OCI layout", NULL, NULL, &layout, err) < 0)
        return -CLN_E_INVALID;
    if (!jstr(layout, "imageLayoutVersion"))
        return cln_error_set(err, CLN_E_INVALID, 0, "oci-layout: no imageLayoutVersion");
    if (read_json(im->dfd, "index.json", NULL, -1, "OCI layout", NULL, NULL, &index, err) < 0)
        return -CLN_E_INVALID;
    struct cln_error *e = NULL;
    if (read_json(im->dfd, "manifest.json", NULL, -1, "docker save", NULL, NULL, &dm, &e) < 0)
        cln_error_free(e); /* an OCI layout without docker's manifest.json */
    return oci_index(im, index, cJSON_IsArray(dm) ? dm : NULL, 0, NULL, err);
}

/* ---- docker save <= v24 ---- */

static int docker_entry(struct importer *im, const cJSON *ent, struct cln_error **err)
{
    const char *cfg = jstr(ent, "Config");
    if (!cfg)
        return cln_error_set(err, CLN_E_INVALID, 0, "manifest.json: an entry without Config");
    /* the config's name is its digest: "<hex>.json" or "blobs/sha256/<hex>" */
    const char *base = strrchr(cfg, '/') ? strrchr(cfg, '/') + 1 : cfg;
    cleanup_free char *digest = cln_xasprintf("sha256:%.64s", base);
    struct cln_error *e = NULL;
    char hex[NATIVE_HEX_LEN + 1];
    if (native_digest_hex(digest, hex, &e) < 0) {
        cln_error_free(e); /* a config not named by its digest: hashed as read */
        free(digest);
        digest = NULL;
    }
    cleanup_free char *ctext = NULL;
    size_t clen = 0;
    cleanup_json cJSON *cj = NULL;
    if (read_json(im->dfd, cfg, digest, -1, "image config", &ctext, &clen, &cj, err) < 0)
        return -CLN_E_INVALID;
    struct cln_image_config *c = NULL;
    if (cln_image_config_parse(ctext, clen, &c, err) < 0)
        return cln_error_wrap(err, "'%s'", cfg);
    struct cln_strv paths = {0}, names = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ent, "Layers"))
    {
        if (cJSON_IsString(it))
            cln_strv_add(&paths, it->valuestring);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ent, "RepoTags"))
    {
        if (cJSON_IsString(it))
            cln_strv_add(&names, it->valuestring);
    }
    /* a manifest of our own, so that every image has one */
    cleanup_json cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "schemaVersion", 2);
    cJSON_AddStringToObject(m, "mediaType", MT_OCI_MANIFEST);
    cJSON *cd = cJSON_AddObjectToObject(m, "config");
    cleanup_free char *cdigest = NULL;
    {
        char h[NATIVE_HEX_LEN + 1];
        struct native_sha256 *sh = native_sha256_new();
        native_sha256_update(sh, ctext, clen);
        native_sha256_final(sh, h);
        cdigest = cln_xasprintf("sha256:%s", h);
    }
    cJSON_AddStringToObject(cd, "mediaType", "application/vnd.oci.image.config.v1+json");
    cJSON_AddStringToObject(cd, "digest", cdigest);
    cJSON_AddNumberToObject(cd, "size", (double)clen);
    cJSON *ls = cJSON_AddArrayToObject(m, "layers");
    for (size_t i = 0; i < paths.n && i < c->diff_ids.n; i++) {
        struct stat st;
        int fd = native_open_in_root(im->dfd, paths.v[i], O_RDONLY);
        bool ok = fd >= 0 && fstat(fd, &st) == 0;
        if (fd >= 0)
            close(fd);
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "mediaType", "application/vnd.oci.image.layer.v1.tar");
        cJSON_AddStringToObject(l, "digest", c->diff_ids.v[i]);
        cJSON_AddNumberToObject(l, "size", ok ? (double)st.st_size : 0);
        cJSON_AddItemToArray(ls, l);
    }
    char *mtext = cJSON_PrintUnformatted(m);
    if (!mtext)
        abort();
    int r = finish_image(im, c, ctext, clen, mtext, strlen(mtext), &paths, NULL, NULL, &names, err);
    cJSON_free(mtext);
    cln_strv_done(&paths);
    cln_strv_done(&names);
    cln_image_config_free(c);
    return r < 0 ? cln_error_wrap(err, "image config '%s'", cfg) : 0;
}

static int import_docker(struct importer *im, struct cln_error **err)
{
    cleanup_json cJSON *dm = NULL;
    if (read_json(im->dfd, "manifest.json", NULL, -1, "docker save", NULL, NULL, &dm, err) < 0)
        return -CLN_E_INVALID;
    if (!cJSON_IsArray(dm) || cJSON_GetArraySize(dm) == 0)
        return cln_error_set(err, CLN_E_INVALID, 0, "manifest.json: not a non-empty array");
    const cJSON *ent;
    cJSON_ArrayForEach(ent, dm)
    {
        if (docker_entry(im, ent, err) < 0)
            return -CLN_E_INVALID;
    }
    return 0;
}

static int import_dir(struct importer *im, struct cln_error **err)
{
    struct stat st;
    if (fstatat(im->dfd, "oci-layout", &st, 0) == 0)
        return import_oci(im, err);
    if (fstatat(im->dfd, "manifest.json", &st, 0) == 0)
        return import_docker(im, err);
    return cln_error_set(err, CLN_E_INVALID, 0,
                         "neither an OCI layout (oci-layout) nor a docker save (manifest.json)");
}

/* ---- archives and rootfs tarballs ---- */

static void archive_freep(struct archive **a)
{
    if (*a)
        archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

static int open_archive(const char *path, struct archive **ret, struct cln_error **err)
{
    struct archive *a = archive_read_new();
    native_archive_filters(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        int r = cln_error_set(err, CLN_E_PARSE, archive_errno(a), "'%s': %s", path,
                              archive_error_string(a));
        archive_read_free(a);
        return r;
    }
    *ret = a;
    return 0;
}

/* Is the archive an image (top-level oci-layout or manifest.json)? */
static int sniff(struct cln_store *s, const char *path, bool *ret_image, struct cln_error **err)
{
    cleanup_archive struct archive *a = NULL;
    if (open_archive(path, &a, err) < 0)
        return -CLN_E_PARSE;
    struct archive_entry *e;
    uint64_t n = 0;
    bool image = false;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return cln_error_set(err, CLN_E_PARSE, 0, "'%s': not a tar archive: %s", path,
                                 archive_error_string(a));
        const char *name = archive_entry_pathname(e);
        if (name && !strncmp(name, "./", 2))
            name += 2;
        if (name && (!strcmp(name, "oci-layout") || !strcmp(name, "manifest.json")))
            image = true;
        if (++n > s->max_entries)
            return cln_error_set(err, CLN_E_INVALID, 0, "'%s': more than %llu entries: refused",
                                 path, (unsigned long long)s->max_entries);
    }
    *ret_image = image;
    return 0;
}

static int import_rootfs(struct importer *im, const char *path, struct cln_error **err)
{
    cleanup_free char *diff_id = NULL;
    uint64_t size = 0;
    bool existed = false;
    if (native_layer_unpack(im->s, AT_FDCWD, path, NULL, &diff_id, &size, &existed, err) < 0)
        return -CLN_E_INVALID;
    char created[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cleanup_json cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "architecture", HOST_ARCH);
    cJSON_AddStringToObject(cfg, "os", "linux");
    cJSON_AddStringToObject(cfg, "created", created);
    cJSON_AddObjectToObject(cfg, "config");
    cJSON *rootfs = cJSON_AddObjectToObject(cfg, "rootfs");
    cJSON_AddStringToObject(rootfs, "type", "layers");
    cJSON_AddItemToObject(rootfs, "diff_ids",
                          cJSON_CreateStringArray((const char *[]){diff_id}, 1));
    char *ctext = cJSON_PrintUnformatted(cfg);
    if (!ctext)
        abort();
    struct cln_image_config *c = NULL;
    int r = cln_image_config_parse(ctext, strlen(ctext), &c, err);
    struct cln_strv names = {0};
    if (r == 0) {
        char h[NATIVE_HEX_LEN + 1];
        struct native_sha256 *sh = native_sha256_new();
        native_sha256_update(sh, ctext, strlen(ctext));
        native_sha256_final(sh, h);
        cleanup_free char *mtext = cln_xasprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
            "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu},"
            "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":"
            "\"%s\",\"size\":%llu}]}",
            MT_OCI_MANIFEST, h, strlen(ctext), diff_id, (unsigned long long)size);
        cleanup_free char *cd = NULL, *md = NULL;
        if (native_blob_put(im->s, ctext, strlen(ctext), &cd, err) < 0 ||
            native_blob_put(im->s, mtext, strlen(mtext), &md, err) < 0)
            r = -CLN_E_IO;
        if (r == 0 && im->ref)
            cln_strv_add(&names, im->ref);
        if (r == 0) {
            uint64_t sizes[1] = {size};
            r = native_db_add(im->s, cd, md, created, &c->diff_ids, sizes, &names, err);
        }
        if (r == 0)
            cln_strv_push(&im->ids, CLN_TAKE(cd));
    }
    cJSON_free(ctext);
    cln_strv_done(&names);
    cln_image_config_free(c);
    return r;
}

static int import_locked(struct importer *im, const char *path, struct cln_error **err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return cln_error_set(err, CLN_E_NOT_FOUND, errno, "'%s'", path);
    if (S_ISDIR(st.st_mode)) {
        im->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (im->dfd < 0)
            return cln_error_set(err, CLN_E_IO, errno, "open '%s'", path);
        return import_dir(im, err);
    }
    bool image = false;
    if (sniff(im->s, path, &image, err) < 0)
        return -CLN_E_PARSE;
    if (!image)
        return import_rootfs(im, path, err);
    cleanup_free char *tmp = NULL;
    cleanup_archive struct archive *a = NULL;
    if (native_tmpdir(im->s, "import", &tmp, &im->dfd, err) < 0 || open_archive(path, &a, err) < 0)
        return -CLN_E_IO;
    struct native_unpack_opts o = {.layer = false,
                                   .is_root = im->s->is_root,
                                   .max_entries = im->s->max_entries,
                                   .max_bytes = im->s->max_bytes};
    int r = native_unpack(a, im->dfd, &o, NULL, err);
    if (r == 0)
        r = import_dir(im, err);
    (void)native_rm_rf(im->s->rootfd, tmp);
    return r;
}

int cln_store_import(struct cln_store *s, const char *path, const char *ref,
                     struct cln_store_images *ret, struct cln_error **err)
{
    struct importer im = {.s = s, .dfd = -1, .ref = ref};
    if (native_lock(s, true, err) < 0)
        return -CLN_E_IO;
    int r = import_locked(&im, path, err);
    native_unlock(s);
    if (im.dfd >= 0)
        close(im.dfd);
    if (r < 0) {
        cln_strv_done(&im.ids);
        return cln_error_wrap(err, "import '%s'", path);
    }
    struct cln_store_images l = {.v = cln_xcalloc(im.ids.n + 1, sizeof(*l.v))};
    for (size_t i = 0; r == 0 && i < im.ids.n; i++)
        if ((r = cln_store_lookup(s, im.ids.v[i], &l.v[l.n], err)) == 0)
            l.n++;
    cln_strv_done(&im.ids);
    if (r < 0) {
        cln_store_images_done(&l);
        return r;
    }
    *ret = l;
    return 0;
}
