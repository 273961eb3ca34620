/* The native image store against a real `docker save`: the engine's own
 * archive of localhost/cleanrun/busybox:1 (GET /images/{name}/get over the
 * engine's socket, libcurl; nothing is pulled, nothing on the engine is
 * changed) imported into a store in a temp dir, every digest verified, and
 * the busybox binary found in its layers.  Run when CLEANRUN_TEST_ENDPOINT
 * is Docker's; skipped otherwise. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/cleanup.h"
#include "runtime/base/xalloc.h"
#include "runtime/native/store-internal.h"
#include "runtime/native/store.h"

#define IMAGE "localhost/cleanrun/busybox:1"

static const char *docker_socket(void)
{
    const char *ep = getenv("CLEANRUN_TEST_ENDPOINT");
    if (!ep || !strstr(ep, "docker.sock"))
        return NULL;
    return strncmp(ep, "unix://", 7) == 0 ? ep + 7 : ep;
}

static void docker_save(const char *sock, const char *path)
{
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    char *name = curl_easy_escape(c, IMAGE, 0);
    cleanup_free char *url = cln_xasprintf("http://localhost/images/%s/get", name);
    curl_free(name);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
    cr_assert_eq(status, 200, "GET %s: HTTP %ld", url, status);
}

static bool same_file(const char *a, const char *b)
{
    cleanup_fclose FILE *fa = fopen(a, "rb");
    cleanup_fclose FILE *fb = fopen(b, "rb");
    if (!fa || !fb)
        return false;
    char x[65536], y[65536];
    for (;;) {
        size_t n = fread(x, 1, sizeof(x), fa), m = fread(y, 1, sizeof(y), fb);
        if (n != m || memcmp(x, y, n) != 0)
            return false;
        if (n == 0)
            return true;
    }
}

Test(native_store, imports_the_engines_docker_save_of_busybox, .timeout = 120)
{
    const char *sock = docker_socket();
    if (!sock)
        cr_skip_test("CLEANRUN_TEST_ENDPOINT is not Docker's");
    char work[] = "/tmp/cln-native-int-XXXXXX";
    cr_assert_not_null(mkdtemp(work));
    cleanup_free char *archive = cln_xasprintf("%s/busybox.tar", work);
    cleanup_free char *root = cln_xasprintf("%s/store", work);
    docker_save(sock, archive);

    struct cln_store *s = NULL;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_store_open(root, &s, &err), 0, "%s", cln_error_text(err));
    struct cln_store_images l = {0};
    cr_assert_eq(cln_store_import(s, archive, NULL, &l, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(l.n, 1);
    cr_assert(cln_strv_contains(&l.v[0].refs, IMAGE));
    cln_store_images_done(&l);

    struct cln_store_image *img = NULL;
    cr_assert_eq(cln_store_image_get(s, IMAGE, &img, &err), 0, "%s", cln_error_text(err));
    cr_assert_geq(img->layer_dirs.n, 1);
    /* the busybox binary as overlay would find it: the topmost layer that has it */
    cleanup_free char *found = NULL;
    for (size_t i = img->layer_dirs.n; i-- > 0 && !found;) {
        char *p = cln_xasprintf("%s/bin/busybox", img->layer_dirs.v[i]);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
            found = p;
        else
            free(p);
    }
    cr_assert_not_null(found, "no executable bin/busybox in any layer");
    struct stat st;
    if (stat("/bin/busybox", &st) == 0) /* the image is built from the host's */
        cr_assert(same_file(found, "/bin/busybox"), "%s differs from /bin/busybox", found);
    /* the applet links point at it */
    bool sh = false;
    for (size_t i = 0; i < img->layer_dirs.n && !sh; i++) {
        cleanup_free char *p = cln_xasprintf("%s/bin/sh", img->layer_dirs.v[i]);
        char target[64] = {0};
        sh = readlink(p, target, sizeof(target) - 1) > 0 && !strcmp(target, "/bin/busybox");
    }
    cr_assert(sh, "bin/sh -> /bin/busybox");
    cr_assert(img->config->has_cmd || img->config->has_entrypoint);
    cln_store_image_free(img);

    /* removed and pruned: the store is empty again */
    size_t freed = 0;
    cr_assert_eq(cln_store_remove(s, IMAGE, &err), 0, "%s", cln_error_text(err));
    cr_assert_eq(cln_store_prune(s, &freed, &err), 0, "%s", cln_error_text(err));
    cr_assert_gt(freed, 2);
    cln_store_close(s);
    (void)native_rm_rf(AT_FDCWD, work);
}
