/* Unit tests of the native runtime's image store (runtime/native/): every
 * archive is made here with libarchive's writer.  A two-layer image (a
 * whiteout and an opaque directory in the top layer) in each format:
 * docker save <= v24 and >= v25, an OCI layout directory (a nested index
 * with two platforms and an attestation), an OCI archive, a rootfs tarball;
 * hostile archives refused with nothing written outside the store and
 * nothing half-made inside it; corrupted blobs refused; list, lookup,
 * remove, prune. */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"
#include "runtime/native/store.h"

/* ---- archives ---- */

struct tent {
    const char *name;
    const char *data; /* file contents, or the link target */
    char type;        /* f file, d dir, l symlink, h hardlink, c char device */
    int mode;         /* 0: 0644 for files, 0755 for dirs */
};

/* A tar in memory, compressed when asked: 0 none, 'g' gzip, 'z' zstd. */
static char *tar_mem_filter(const struct tent *t, size_t n, char filter, size_t *ret_len)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter == 'g')
        archive_write_add_filter_gzip(a);
    if (filter == 'z')
        cr_assert_eq(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    size_t cap = 1 << 20, used = 0;
    char *buf = cln_xmalloc(cap);
    archive_write_set_bytes_in_last_block(a, 1);
    cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, t[i].name);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        size_t dlen = 0;
        switch (t[i].type) {
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, t[i].mode ? t[i].mode : 0755);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, t[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_hardlink(e, t[i].data);
            break;
        case 'c':
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_perm(e, 0666);
            archive_entry_set_rdev(e, makedev(1, 3));
            break;
        default:
            dlen = t[i].data ? strlen(t[i].data) : 0;
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, t[i].mode ? t[i].mode : 0644);
            archive_entry_set_size(e, (la_int64_t)dlen);
        }
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
        if (dlen)
            cr_assert_eq(archive_write_data(a, t[i].data, dlen), (la_ssize_t)dlen);
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *ret_len = used;
    return buf;
}

static char *tar_mem(const struct tent *t, size_t n, bool gz, size_t *ret_len)
{
    return tar_mem_filter(t, n, gz ? 'g' : 0, ret_len);
}

/* A file entry with binary contents, for archives of archives. */
struct bent {
    char *name;
    char *data;
    size_t len;
};

static void tar_file(const char *path, const struct bent *b, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, b[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)b[i].len);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        cr_assert_eq(archive_write_data(a, b[i].data, b[i].len), (la_ssize_t)b[i].len);
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static char *sha(const void *data, size_t len)
{
    char hex[NATIVE_HEX_LEN + 1];
    struct native_sha256 *h = native_sha256_new();
    native_sha256_update(h, data, len);
    native_sha256_final(h, hex);
    return cln_xasprintf("sha256:%s", hex);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct cln_buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        cln_buf_append(&b, tmp, n);
    fclose(f);
    cln_buf_putc(&b, '\0');
    return cln_buf_steal(&b);
}

/* ---- the test image: two layers and a config, in every format ---- */

static const struct tent LAYER1[] = {
    {"./", NULL, 'd', 0755},
    {"etc/", NULL, 'd', 0},
    {"etc/hello", "hello\n", 'f', 0},
    {"bin/", NULL, 'd', 0},
    {"bin/tool", "#!/bin/sh\n", 'f', 0755},
    {"a/", NULL, 'd', 0},
    {"a/keep", "k", 'f', 0},
    {"a/gone", "g", 'f', 0},
    {"d/", NULL, 'd', 0},
    {"d/old", "o", 'f', 0},
    {"bin/link", "/bin/tool", 'l', 0},
    {"bin/hard", "bin/tool", 'h', 0},
};
static const struct tent LAYER2[] = {
    {"a/", NULL, 'd', 0},
    {"a/.wh.gone", NULL, 'f', 0},
    {"d/", NULL, 'd', 0},
    {"d/new", "n", 'f', 0},
    {"d/.wh..wh..opq", NULL, 'f', 0},
    {"etc/", NULL, 'd', 0},
    {"etc/hello2", "hello2\n", 'f', 0},
};

struct image {
    char *layer[2]; /* the blobs as stored (gzip or not) */
    size_t layer_len[2];
    char *layer_digest[2];
    char *diff_id[2];
    char *config;
    char *config_digest;
    char *manifest;
    char *manifest_digest;
};

static void image_make(struct image *im, bool gz)
{
    const struct tent *ls[2] = {LAYER1, LAYER2};
    size_t ns[2] = {CLN_ARRAY_SIZE(LAYER1), CLN_ARRAY_SIZE(LAYER2)};
    for (int i = 0; i < 2; i++) {
        size_t rawlen = 0;
        char *raw = tar_mem(ls[i], ns[i], false, &rawlen);
        im->diff_id[i] = sha(raw, rawlen);
        if (gz) {
            free(raw);
            raw = tar_mem(ls[i], ns[i], true, &rawlen);
        }
        im->layer[i] = raw;
        im->layer_len[i] = rawlen;
        im->layer_digest[i] = sha(raw, rawlen);
    }
    im->config = cln_xasprintf(
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
        "\"config\":{\"Entrypoint\":[\"/bin/tool\"],\"Cmd\":[\"run\"],\"Env\":[\"PATH=/bin\","
        "\"A=1\"],\"WorkingDir\":\"/etc\",\"User\":\"1000:1000\",\"Labels\":{\"k\":\"v\"},"
        "\"ExposedPorts\":{\"80/tcp\":{}},\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],"
        "\"Interval\":1000000000,\"Retries\":3}},\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[\"%s\",\"%s\"]}}",
        im->diff_id[0], im->diff_id[1]);
    im->config_digest = sha(im->config, strlen(im->config));
    const char *lt = gz ? "application/vnd.oci.image.layer.v1.tar+gzip"
                        : "application/vnd.oci.image.layer.v1.tar";
    im->manifest = cln_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
        "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
        im->config_digest, strlen(im->config), lt, im->layer_digest[0], im->layer_len[0], lt,
        im->layer_digest[1], im->layer_len[1]);
    im->manifest_digest = sha(im->manifest, strlen(im->manifest));
}

static void image_done(struct image *im)
{
    for (int i = 0; i < 2; i++) {
        free(im->layer[i]);
        free(im->layer_digest[i]);
        free(im->diff_id[i]);
    }
    free(im->config);
    free(im->config_digest);
    free(im->manifest);
    free(im->manifest_digest);
}

static char *blob_name(const char *digest)
{
    return cln_xasprintf("blobs/sha256/%s", digest + 7);
}

/* docker save <= v24 */
static void write_docker_old(const char *path, struct image *im)
{
    cleanup_free char *cfgname = cln_xasprintf("%s.json", im->config_digest + 7);
    cleanup_free char *mj = cln_xasprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"test/img:old\"],"
                                          "\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\"]}]",
                                          cfgname);
    struct bent b[] = {
        {(char *)"manifest.json", mj, strlen(mj)},
        {cfgname, im->config, strlen(im->config)},
        {(char *)"l1/VERSION", (char *)"1.0", 3},
        {(char *)"l1/layer.tar", im->layer[0], im->layer_len[0]},
        {(char *)"l2/layer.tar", im->layer[1], im->layer_len[1]},
    };
    tar_file(path, b, CLN_ARRAY_SIZE(b));
}

static const char OCI_LAYOUT[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

/* docker save >= v25: an OCI layout plus manifest.json */
static void write_docker_new(const char *path, struct image *im)
{
    cleanup_free char *index = cln_xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest."
        "v1+json\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image."
        "ref.name\":\"new\"}}]}",
        im->manifest_digest, strlen(im->manifest));
    cleanup_free char *cb = blob_name(im->config_digest);
    cleanup_free char *l1 = blob_name(im->layer_digest[0]);
    cleanup_free char *l2 = blob_name(im->layer_digest[1]);
    cleanup_free char *mb = blob_name(im->manifest_digest);
    cleanup_free char *mj = cln_xasprintf(
        "[{\"Config\":\"%s\",\"RepoTags\":[\"test/img:new\"],\"Layers\":[\"%s\",\"%s\"]}]", cb, l1,
        l2);
    struct bent b[] = {
        {(char *)"oci-layout", (char *)OCI_LAYOUT, strlen(OCI_LAYOUT)},
        {(char *)"index.json", index, strlen(index)},
        {(char *)"manifest.json", mj, strlen(mj)},
        {mb, im->manifest, strlen(im->manifest)},
        {cb, im->config, strlen(im->config)},
        {l1, im->layer[0], im->layer_len[0]},
        {l2, im->layer[1], im->layer_len[1]},
    };
    tar_file(path, b, CLN_ARRAY_SIZE(b));
}

/* An OCI layout: index.json -> a nested index (arm64, amd64, an attestation). */
static void oci_files(struct image *im, struct bent *b, size_t *n, char **owned)
{
    char *nested = cln_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"sha256:%064d\",\"size\":10,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"arm64\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+"
        "json\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":"
        "\"amd64\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
        "\"sha256:%064d\",\"size\":10,\"annotations\":{\"vnd.docker.reference.type\":"
        "\"attestation-manifest\"},\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}"
        "]}",
        1, im->manifest_digest, strlen(im->manifest), 2);
    char *nested_digest = sha(nested, strlen(nested));
    char *index = cln_xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+"
        "json\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"io.containerd.image.name\":"
        "\"test/img:oci\"}}]}",
        nested_digest, strlen(nested));
    size_t i = 0;
    owned[0] = nested;
    owned[1] = index;
    owned[2] = blob_name(nested_digest);
    owned[3] = blob_name(im->manifest_digest);
    owned[4] = blob_name(im->config_digest);
    owned[5] = blob_name(im->layer_digest[0]);
    owned[6] = blob_name(im->layer_digest[1]);
    free(nested_digest);
    b[i++] = (struct bent){(char *)"oci-layout", (char *)OCI_LAYOUT, strlen(OCI_LAYOUT)};
    b[i++] = (struct bent){(char *)"index.json", index, strlen(index)};
    b[i++] = (struct bent){owned[2], nested, strlen(nested)};
    b[i++] = (struct bent){owned[3], im->manifest, strlen(im->manifest)};
    b[i++] = (struct bent){owned[4], im->config, strlen(im->config)};
    b[i++] = (struct bent){owned[5], im->layer[0], im->layer_len[0]};
    b[i++] = (struct bent){owned[6], im->layer[1], im->layer_len[1]};
    *n = i;
}

static void write_oci(const char *path, struct image *im, bool dir)
{
    struct bent b[8];
    char *owned[7];
    size_t n = 0;
    oci_files(im, b, &n, owned);
    if (dir) {
        cleanup_free char *blobs = cln_xasprintf("%s/blobs/sha256", path);
        cr_assert_eq(mkdir(path, 0755), 0);
        cleanup_free char *bl = cln_xasprintf("%s/blobs", path);
        cr_assert_eq(mkdir(bl, 0755), 0);
        cr_assert_eq(mkdir(blobs, 0755), 0);
        for (size_t i = 0; i < n; i++) {
            cleanup_free char *p = cln_xasprintf("%s/%s", path, b[i].name);
            write_file(p, b[i].data, b[i].len);
        }
    } else {
        tar_file(path, b, n);
    }
    for (size_t i = 0; i < 7; i++)
        free(owned[i]);
}

/* ---- fixtures ---- */

static char work[64];
static char *store_root;
static struct cln_store *store;

static void setup(void)
{
    snprintf(work, sizeof(work), "/tmp/cln-native-XXXXXX");
    cr_assert_not_null(mkdtemp(work));
    cr_assert_eq(chmod(work, 0755), 0);
    store_root = cln_xasprintf("%s/store", work);
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_store_open(store_root, &store, &err), 0, "%s", cln_error_text(err));
}

static void teardown(void)
{
    cln_store_close(store);
    store = NULL;
    free(store_root);
    (void)native_rm_rf(AT_FDCWD, work);
}

static char *wpath(const char *name)
{
    return cln_xasprintf("%s/%s", work, name);
}

static size_t count_dir(const char *rel)
{
    cleanup_free char *p = cln_xasprintf("%s/%s", store_root, rel);
    size_t n = 0;
    DIR *d = opendir(p);
    cr_assert_not_null(d, "%s", p);
    const struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The unpacked layers honour the image: contents, whiteout, opaque dir. */
static void check_image(const char *name, const struct image *im, const char *ref)
{
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_image *img = NULL;
    cr_assert_eq(cln_store_image_get(store, name, &img, &err), 0, "%s", cln_error_text(err));
    cr_assert_str_eq(img->id, im->config_digest);
    cr_assert_eq(img->layer_dirs.n, 2);
    const char *l1 = img->layer_dirs.v[0], *l2 = img->layer_dirs.v[1];
    cr_assert(strstr(l1, im->diff_id[0] + 7), "bottom first: %s", l1);
    cleanup_free char *p = cln_xasprintf("%s/etc/hello", l1);
    cleanup_free char *t = read_text(p);
    cr_assert_str_eq(t, "hello\n");
    struct stat st, st2;
    cleanup_free char *tool = cln_xasprintf("%s/bin/tool", l1);
    cleanup_free char *hard = cln_xasprintf("%s/bin/hard", l1);
    cr_assert_eq(stat(tool, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0755);
    cr_assert_eq(stat(hard, &st2), 0);
    cr_assert_eq(st.st_ino, st2.st_ino, "a hardlink within the layer");
    cleanup_free char *link = cln_xasprintf("%s/bin/link", l1);
    char target[64] = {0};
    cr_assert_gt(readlink(link, target, sizeof(target) - 1), 0);
    cr_assert_str_eq(target, "/bin/tool");
    cleanup_free char *gone = cln_xasprintf("%s/a/gone", l2);
    cleanup_free char *marker = cln_xasprintf("%s/a/.wh.gone", l2);
    cleanup_free char *opq = cln_xasprintf("%s/d/.wh..wh..opq", l2);
    cleanup_free char *d = cln_xasprintf("%s/d", l2);
    cleanup_free char *dnew = cln_xasprintf("%s/d/new", l2);
    cr_assert_eq(lstat(gone, &st), 0, "the whiteout of a/gone");
    cr_assert_eq(lstat(marker, &st2), -1, "markers are not content");
    cr_assert_eq(lstat(opq, &st2), -1, "markers are not content");
    cr_assert_eq(lstat(dnew, &st2), 0);
    char v[4] = {0};
    if (geteuid() == 0) {
        cr_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        cr_assert_eq(lgetxattr(d, "trusted.overlay.opaque", v, sizeof(v)), 1);
    } else {
        cr_assert_eq(lgetxattr(d, "user.overlay.opaque", v, sizeof(v)), 1);
    }
    cr_assert_eq(v[0], 'y');
    const struct cln_image_config *c = img->config;
    cr_assert(c->has_entrypoint && c->has_cmd);
    cr_assert_str_eq(c->entrypoint.v[0], "/bin/tool");
    cr_assert_str_eq(c->cmd.v[0], "run");
    cr_assert_eq(c->env.n, 2);
    cr_assert_str_eq(c->working_dir, "/etc");
    cr_assert_str_eq(c->user, "1000:1000");
    cr_assert_str_eq(c->label_keys.v[0], "k");
    cr_assert_str_eq(c->label_values.v[0], "v");
    cr_assert_str_eq(c->exposed_ports.v[0], "80/tcp");
    cr_assert(c->has_healthcheck);
    cr_assert_eq(c->health_interval_ns, 1000000000);
    cr_assert_eq(c->health_retries, 3);
    cr_assert_str_eq(c->health_test.v[1], "true");
    cln_store_image_free(img);
    if (ref) {
        struct cln_store_info info = {0};
        cr_assert_eq(cln_store_lookup(store, ref, &info, &err), 0, "%s", cln_error_text(err));
        cr_assert_str_eq(info.id, im->config_digest);
        cr_assert(cln_strv_contains(&info.refs, ref));
        cr_assert_gt(info.size, 0);
        cr_assert_str_eq(info.created, "2024-01-01T00:00:00Z");
        cln_store_info_done(&info);
    }
    cr_assert_eq(count_dir("tmp"), 0, "nothing left in tmp/");
}

static void import_ok(const char *path, const char *ref, const struct image *im)
{
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, path, NULL, &l, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.v[0].id, im->config_digest);
    cln_store_images_done(&l);
    check_image(ref, im, ref);
}

TestSuite(native_store, .init = setup, .fini = teardown, .timeout = 30);

Test(native_store, the_default_root)
{
    cleanup_free char *r = NULL;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_store_default_root(&r, &err), 0);
    if (geteuid() == 0)
        cr_assert_str_eq(r, "/var/lib/cleanrun");
    else
        cr_assert(strstr(r, "/cleanrun"));
}

Test(native_store, imports_docker_save_up_to_v24)
{
    struct image im = {0};
    image_make(&im, false);
    cleanup_free char *p = wpath("old.tar");
    write_docker_old(p, &im);
    import_ok(p, "test/img:old", &im);
    image_done(&im);
}

Test(native_store, imports_docker_save_from_v25)
{
    struct image im = {0};
    image_make(&im, false);
    cleanup_free char *p = wpath("new.tar");
    write_docker_new(p, &im);
    import_ok(p, "test/img:new", &im);
    /* the manifest is the archive's own, stored as a verified blob */
    struct cln_store_info info = {0};
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_store_lookup(store, "test/img:new", &info, &err), 0);
    cr_assert_str_eq(info.manifest, im.manifest_digest);
    cln_store_info_done(&info);
    image_done(&im);
}

Test(native_store, imports_an_oci_layout_directory_selecting_linux_amd64)
{
    struct image im = {0};
    image_make(&im, true);
    cleanup_free char *p = wpath("layout");
    write_oci(p, &im, true);
    import_ok(p, "test/img:oci", &im);
    image_done(&im);
}

Test(native_store, imports_an_oci_archive_with_gzip_layers)
{
    struct image im = {0};
    image_make(&im, true);
    cleanup_free char *p = wpath("oci.tar");
    write_oci(p, &im, false);
    import_ok(p, "test/img:oci", &im);
    /* again: the layers are there already and are not unpacked twice */
    import_ok(p, "test/img:oci", &im);
    cr_assert_eq(count_dir("layers"), 2);
    image_done(&im);
}

Test(native_store, imports_a_rootfs_tarball_as_one_layer)
{
    size_t len = 0;
    cleanup_free char *tar = tar_mem(LAYER1, CLN_ARRAY_SIZE(LAYER1), true, &len);
    cleanup_free char *p = wpath("rootfs.tar.gz");
    write_file(p, tar, len);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, p, "rootfs", &l, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(l.n, 1);
    cr_assert(cln_strv_contains(&l.v[0].refs, "rootfs:latest"));
    cln_store_images_done(&l);
    struct cln_store_image *img = NULL;
    cr_assert_eq(cln_store_image_get(store, "rootfs", &img, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(img->layer_dirs.n, 1);
    cr_assert_str_eq(img->config->os, "linux");
    cr_assert_not(img->config->has_cmd);
    cleanup_free char *hello = cln_xasprintf("%s/etc/hello", img->layer_dirs.v[0]);
    cleanup_free char *t = read_text(hello);
    cr_assert_str_eq(t, "hello\n");
    cln_store_image_free(img);
}

Test(native_store, imports_a_zstd_layer)
{
    struct archive *probe = archive_write_new();
    bool zstd = archive_write_add_filter_zstd(probe) == ARCHIVE_OK;
    archive_write_free(probe);
    if (!zstd)
        cr_skip_test("this libarchive writes no zstd");
    size_t len = 0;
    cleanup_free char *tar = tar_mem_filter(LAYER1, CLN_ARRAY_SIZE(LAYER1), 'z', &len);
    cr_assert_eq((unsigned char)tar[0], 0x28, "zstd magic");
    cleanup_free char *p = wpath("rootfs.tar.zst");
    write_file(p, tar, len);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, p, "zst", &l, &err), 0, "%s", cln_error_text(err));
    cln_store_images_done(&l);
    struct cln_store_image *img = NULL;
    cr_assert_eq(cln_store_image_get(store, "zst", &img, &err), 0, "%s", cln_error_text(err));
    cleanup_free char *hello = cln_xasprintf("%s/etc/hello", img->layer_dirs.v[0]);
    cleanup_free char *t = read_text(hello);
    cr_assert_str_eq(t, "hello\n");
    cln_store_image_free(img);
}

/* As an ordinary user: whiteouts as char devices 0/0 (unprivileged since
 * Linux 5.8) or user.overlay.whiteout files, opaque directories as
 * user.overlay.opaque.  In a child that drops to uid 65534 when root. */
static int whiteouts_as_user(const char *archive, const struct image *im)
{
    cleanup_free char *root = wpath("store-user");
    struct cln_store *s = NULL;
    struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    struct cln_store_image *img = NULL;
    int ret = 0;
    if (cln_store_open(root, &s, &err) < 0 || cln_store_import(s, archive, NULL, &l, &err) < 0 ||
        cln_store_image_get(s, im->config_digest, &img, &err) < 0) {
        fprintf(stderr, "%s\n", cln_error_text(err));
        ret = 20;
    }
    if (ret == 0) {
        cleanup_free char *gone = cln_xasprintf("%s/a/gone", img->layer_dirs.v[1]);
        cleanup_free char *d = cln_xasprintf("%s/d", img->layer_dirs.v[1]);
        struct stat st;
        char v[4] = {0}, w[4] = {0};
        if (lstat(gone, &st) < 0)
            ret = 21;
        else if (!(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) &&
                 lgetxattr(gone, "user.overlay.whiteout", w, sizeof(w)) < 0)
            ret = 22;
        else if (lgetxattr(d, "user.overlay.opaque", v, sizeof(v)) != 1 || v[0] != 'y')
            ret = 23;
        else if (lgetxattr(d, "trusted.overlay.opaque", v, sizeof(v)) >= 0)
            ret = 24;
    }
    cln_store_image_free(img);
    cln_store_images_done(&l);
    cln_error_free(err);
    cln_store_close(s);
    return ret;
}

Test(native_store, honours_whiteouts_as_an_ordinary_user)
{
    struct image im = {0};
    image_make(&im, false);
    cleanup_free char *p = wpath("old.tar");
    write_docker_old(p, &im);
    if (geteuid() != 0) {
        cr_assert_eq(whiteouts_as_user(p, &im), 0);
        image_done(&im);
        return;
    }
    cr_assert_eq(chmod(work, 0777), 0);
    cr_assert_eq(chmod(p, 0644), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(10);
        _exit(whiteouts_as_user(p, &im));
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    image_done(&im);
}

/* ---- hostile archives ---- */

static void refused(const struct tent *t, size_t n, const char *what)
{
    size_t len = 0;
    cleanup_free char *tar = tar_mem(t, n, false, &len);
    cleanup_free char *p = wpath("hostile.tar");
    write_file(p, tar, len);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_lt(cln_store_import(store, p, NULL, &l, &err), 0, "%s was accepted", what);
    cr_assert(strstr(cln_error_text(err), what), "%s", cln_error_text(err));
    cr_assert_eq(count_dir("layers"), 0, "nothing half-made");
    cr_assert_eq(count_dir("tmp"), 0, "nothing left behind");
    cleanup_free char *out = wpath("outside");
    struct stat st;
    cr_assert_eq(stat(out, &st), 0);
    cr_assert_eq(st.st_nlink, 2, "nothing written outside (%s)", out);
}

static void outside(void)
{
    cleanup_free char *out = wpath("outside");
    cr_assert_eq(mkdir(out, 0755), 0);
}

Test(native_store, refuses_an_absolute_path)
{
    outside();
    const struct tent t[] = {{"etc/", NULL, 'd', 0}, {"/tmp/x", "x", 'f', 0}};
    refused(t, 2, "'/tmp/x': absolute path refused");
}

Test(native_store, refuses_dotdot)
{
    outside();
    const struct tent t[] = {{"a/", NULL, 'd', 0}, {"a/../../outside/x", "x", 'f', 0}};
    refused(t, 2, "'a/../../outside/x': '..' component refused");
}

Test(native_store, refuses_a_symlink_leaving_the_layer)
{
    outside();
    const struct tent t[] = {{"esc", "../../../../../../outside", 'l', 0}, {"esc/x", "x", 'f', 0}};
    refused(t, 2, "entry 'esc': symlink to '../../../../../../outside' leaves the layer");
}

Test(native_store, refuses_writing_through_a_symlink)
{
    outside();
    cleanup_free char *out = wpath("outside");
    /* absolute: inside the container's root, so accepted as a link, but
     * never followed while unpacking */
    const struct tent t[] = {{"ln", out, 'l', 0}, {"ln/x", "x", 'f', 0}};
    refused(t, 2, "entry 'ln/x': its parent 'ln' is a symlink: refused");
}

Test(native_store, refuses_a_hardlink_out_of_the_layer)
{
    outside();
    const struct tent t[] = {{"h", "../outside/x", 'h', 0}};
    refused(t, 1, "'..' component refused");
    const struct tent t2[] = {{"h", "/etc/passwd", 'h', 0}};
    refused(t2, 1, "'/etc/passwd': absolute path refused");
}

Test(native_store, refuses_too_many_entries)
{
    outside();
    cln_store_set_limits(store, 3, 0);
    const struct tent t[] = {
        {"a", "1", 'f', 0}, {"b", "2", 'f', 0}, {"c", "3", 'f', 0}, {"d", "4", 'f', 0}};
    refused(t, 4, "more than 3 entries: refused");
}

Test(native_store, refuses_too_many_bytes)
{
    outside();
    cln_store_set_limits(store, 0, 4);
    const struct tent t[] = {{"a", "12345678", 'f', 0}};
    refused(t, 1, "entry 'a': more than 4 bytes unpacked: refused");
}

Test(native_store, refuses_a_device_node_when_not_root)
{
    outside();
    if (geteuid() == 0) {
        cr_assert_eq(chmod(work, 0777), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            if (setgid(65534) < 0 || setuid(65534) < 0)
                _exit(10);
            cleanup_free char *root = wpath("store-nobody");
            struct cln_store *s = NULL;
            struct cln_error *err = NULL;
            if (cln_store_open(root, &s, &err) < 0)
                _exit(11);
            size_t len = 0;
            char *tar = tar_mem((const struct tent[]){{"dev/null", NULL, 'c', 0}}, 1, false, &len);
            cleanup_free char *p = wpath("dev.tar");
            write_file(p, tar, len);
            free(tar);
            struct cln_store_images l = {0};
            int r = cln_store_import(s, p, NULL, &l, &err);
            bool ok = r < 0 && strstr(cln_error_text(err), "entry 'dev/null': device node refused");
            cln_error_free(err);
            cln_store_close(s);
            _exit(ok ? 0 : 12);
        }
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    } else {
        const struct tent t[] = {{"dev/null", NULL, 'c', 0}};
        refused(t, 1, "entry 'dev/null': device node refused");
    }
}

Test(native_store, keeps_a_device_node_and_setuid_bits_as_root)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    const struct tent t[] = {{"dev/null", NULL, 'c', 0}, {"su", "x", 'f', 04755}};
    size_t len = 0;
    cleanup_free char *tar = tar_mem(t, 2, false, &len);
    cleanup_free char *p = wpath("dev.tar");
    write_file(p, tar, len);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, p, "dev", &l, &err), 0, "%s", cln_error_text(err));
    cln_store_images_done(&l);
    struct cln_store_image *img = NULL;
    cr_assert_eq(cln_store_image_get(store, "dev", &img, &err), 0);
    cleanup_free char *dn = cln_xasprintf("%s/dev/null", img->layer_dirs.v[0]);
    cleanup_free char *su = cln_xasprintf("%s/su", img->layer_dirs.v[0]);
    struct stat st;
    cr_assert_eq(lstat(dn, &st), 0);
    cr_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
    cr_assert_eq(lstat(su, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 04755);
    cln_store_image_free(img);
}

/* ---- corrupted blobs ---- */

Test(native_store, refuses_a_corrupted_layer_blob)
{
    struct image im = {0};
    image_make(&im, true);
    im.layer[1][im.layer_len[1] / 2] ^= 0x55; /* same size, other bytes */
    cleanup_free char *p = wpath("layout");
    write_oci(p, &im, true);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_lt(cln_store_import(store, p, NULL, &l, &err), 0);
    cr_assert(strstr(cln_error_text(err), "digest mismatch"), "%s", cln_error_text(err));
    cr_assert(strstr(cln_error_text(err), im.layer_digest[1]), "%s", cln_error_text(err));
    cr_assert_eq(count_dir("tmp"), 0);
    struct cln_store_images all = {0};
    cr_assert_eq(cln_store_list(store, &all, &err), 0);
    cr_assert_eq(all.n, 0, "no image recorded");
    cln_store_images_done(&all);
    image_done(&im);
}

Test(native_store, refuses_a_diff_id_that_does_not_match)
{
    struct image im = {0};
    image_make(&im, false);
    /* a config that names another diff_id for the top layer */
    char *bad = im.config;
    char *at = strstr(bad, im.diff_id[1] + 7);
    at[0] = at[0] == '0' ? '1' : '0';
    free(im.config_digest);
    im.config_digest = sha(im.config, strlen(im.config));
    cleanup_free char *p = wpath("old.tar");
    write_docker_old(p, &im);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_lt(cln_store_import(store, p, NULL, &l, &err), 0);
    cr_assert(strstr(cln_error_text(err), "the config's diff_id is"), "%s", cln_error_text(err));
    cr_assert_eq(count_dir("tmp"), 0);
    image_done(&im);
}

Test(native_store, refuses_a_config_that_is_not_its_digest)
{
    struct image im = {0};
    image_make(&im, false);
    im.config[strlen(im.config) - 2] = ' '; /* still JSON, other bytes */
    cleanup_free char *p = wpath("new.tar");
    write_docker_new(p, &im);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_lt(cln_store_import(store, p, NULL, &l, &err), 0);
    cr_assert(strstr(cln_error_text(err), "image config: digest mismatch"), "%s",
              cln_error_text(err));
    image_done(&im);
}

/* ---- list, lookup, remove, prune ---- */

static char *import_rootfs(int i)
{
    const struct tent t[] = {{"f", NULL, 'f', 0}};
    struct tent tt = t[0];
    cleanup_free char *data = cln_xasprintf("%d", i);
    tt.data = data;
    size_t len = 0;
    cleanup_free char *tar = tar_mem(&tt, 1, false, &len);
    cleanup_free char *p = wpath("r.tar");
    write_file(p, tar, len);
    cleanup_free char *ref = cln_xasprintf("r%d:1", i);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, p, ref, &l, &err), 0, "%s", cln_error_text(err));
    char *id = cln_xstrdup(l.v[0].id);
    cln_store_images_done(&l);
    return id;
}

Test(native_store, lists_looks_up_removes_and_prunes)
{
    struct image im = {0};
    image_make(&im, false);
    cleanup_free char *p = wpath("old.tar");
    write_docker_old(p, &im);
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(store, p, "second:tag", &l, &err), 0, "%s", cln_error_text(err));
    cln_store_images_done(&l);
    cleanup_free char *rid = import_rootfs(0);

    cr_assert_eq(cln_store_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 2);
    cln_store_images_done(&l);

    struct cln_store_info info = {0};
    cleanup_free char *prefix = cln_xstrndup(im.config_digest + 7, 12);
    cr_assert_eq(cln_store_lookup(store, prefix, &info, &err), 0);
    cr_assert_str_eq(info.id, im.config_digest);
    cr_assert_eq(info.refs.n, 2);
    cr_assert_str_eq(info.refs.v[0], "second:tag");
    cr_assert_str_eq(info.refs.v[1], "test/img:old");
    cln_store_info_done(&info);
    cr_assert_eq(cln_store_lookup(store, "r0", &info, &err), -CLN_E_NOT_FOUND);
    cr_assert(strstr(cln_error_text(err), "cleanrun image import"));
    cln_error_free(CLN_TAKE(err));

    /* a name goes, the image stays while it has another */
    cr_assert_eq(cln_store_remove(store, "second:tag", &err), 0);
    cr_assert_eq(cln_store_lookup(store, "test/img:old", &info, &err), 0);
    cr_assert_eq(info.refs.n, 1);
    cln_store_info_done(&info);
    cr_assert_eq(cln_store_remove(store, "test/img:old", &err), 0);
    cr_assert_eq(cln_store_lookup(store, prefix, &info, &err), -CLN_E_NOT_FOUND);
    cln_error_free(CLN_TAKE(err));

    /* by id: the image and its names */
    cr_assert_eq(cln_store_remove(store, rid, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(cln_store_lookup(store, "r0:1", &info, &err), -CLN_E_NOT_FOUND);
    cln_error_free(CLN_TAKE(err));

    cr_assert_eq(count_dir("layers"), 3);
    size_t freed = 0;
    cr_assert_eq(cln_store_prune(store, &freed, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(freed, 3 + 4, "3 layers, 2 manifests and 2 configs");
    cr_assert_eq(count_dir("layers"), 0);
    cr_assert_eq(count_dir("blobs/sha256"), 0);
    image_done(&im);
}

Test(native_store, prune_keeps_what_images_use)
{
    cleanup_free char *a = import_rootfs(1);
    cleanup_free char *b = import_rootfs(2);
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_store_remove(store, "r1:1", &err), 0);
    size_t freed = 0;
    cr_assert_eq(cln_store_prune(store, &freed, &err), 0);
    cr_assert_eq(freed, 3);
    struct cln_store_image *img = NULL;
    cr_assert_eq(cln_store_image_get(store, "r2:1", &img, &err), 0, "%s", cln_error_text(err));
    cr_assert_str_eq(img->id, b);
    cln_store_image_free(img);
}

Test(native_store, refuses_an_ambiguous_prefix)
{
    /* 17 images: two share a first hex digit */
    char *ids[17];
    for (int i = 0; i < 17; i++)
        ids[i] = import_rootfs(i);
    char shared[2] = {0};
    for (int i = 0; i < 17 && !shared[0]; i++)
        for (int j = i + 1; j < 17; j++)
            if (ids[i][7] == ids[j][7])
                shared[0] = ids[i][7];
    cleanup_error struct cln_error *err = NULL;
    struct cln_store_info info = {0};
    cr_assert_eq(cln_store_lookup(store, shared, &info, &err), -CLN_E_CONFLICT);
    cr_assert(strstr(cln_error_text(err), "ambiguous"), "%s", cln_error_text(err));
    cln_error_free(CLN_TAKE(err));
    cr_assert_eq(cln_store_remove(store, shared, &err), -CLN_E_CONFLICT);
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_list(store, &l, &err), 0);
    cr_assert_eq(l.n, 17, "nothing removed");
    cln_store_images_done(&l);
    for (int i = 0; i < 17; i++)
        free(ids[i]);
}
