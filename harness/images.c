/* Images for a test: ensured by pull policy, or built (content-hashed,
 * one build at a time per image). */
#include "runner-internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/os.h"
#include "runtime/base/xalloc.h"

/* ---- images ---- */

static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;

/* A built image's tag: its inputs' hash, which covers the resolved id of
 * every base image (FROM), so that a new base under the same tag makes a
 * new build.  Set on first use, per test (each test owns its images). */
static int built_ref(struct test_ctx *c, struct cln_spec_image *im, struct cln_error **err)
{
    struct cln_runtime *rt = c->run->rt;
    uint64_t h = strtoull(im->hash, NULL, 16);
    for (size_t i = 0; i < im->bases.n; i++) {
        const char *base = im->bases.v[i];
        if (strcmp(base, "scratch") == 0)
            continue;
        struct cln_image_info info;
        struct cln_error *e = NULL;
        int r = cln_rt_image_inspect(rt, base, &info, &e);
        if (r < 0) {
            *err = cln_runner_wrap(e, "image %s: base image %s", im->name, base);
            return -1;
        }
        /* a base that is not here yet is pulled by the build itself: its
         * name stands in for its id until then */
        const char *id = r == 1 ? info.id : base;
        for (const char *p = id; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ULL;
        }
        if (r == 1)
            cln_image_info_done(&info);
    }
    free(im->ref);
    im->ref = cln_xasprintf("localhost/cleanrun/spec-%s:%016llx", im->name, (unsigned long long)h);
    for (char *p = im->ref; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    return 0;
}

int cln_runner_ensure_images(struct test_ctx *c)
{
    struct cln_runtime *rt = c->run->rt;
    const struct cln_spec_test *t = c->t;
    for (size_t i = 0; i < t->nimages; i++) {
        /* the test owns its spec's images: the built tag is set here */
        struct cln_spec_image *im = (struct cln_spec_image *)&t->images[i];
        /* only images something uses */
        bool used = false;
        for (size_t k = 0; k < t->nservices; k++)
            used = used || t->services[k].image_idx == (int)i;
        for (size_t k = 0; k < t->nsteps; k++)
            used = used || t->steps[k].image_idx == (int)i;
        if (!used)
            continue;
        struct cln_error *e = NULL;
        if (!im->dockerfile) {
            if (cln_runtime_ensure_image(rt, im->ref, im->pull, NULL, NULL, &e) < 0) {
                cln_runner_fail_test(c->r, CLN_ST_ERROR, cln_runner_wrap(e, "image %s", im->name));
                return -1;
            }
            continue;
        }
        struct cln_error *msg = NULL;
        if (built_ref(c, im, &msg) < 0) {
            cln_runner_fail_test(c->r, CLN_ST_ERROR, msg);
            return -1;
        }
        /* Built images are named by the hash of their inputs: reuse while
         * they are unchanged.  One build at a time per process. */
        pthread_mutex_lock(&build_lock);
        struct cln_image_info info;
        int r = cln_rt_image_inspect(rt, im->ref, &info, &e);
        if (r == 1)
            cln_image_info_done(&info);
        if (r == 0) {
            struct cln_file *files = cln_xcalloc(im->nfiles ? im->nfiles : 1, sizeof(*files));
            for (size_t k = 0; k < im->nfiles; k++)
                files[k] = (struct cln_file){.path = im->files[k].path,
                                             .data = im->files[k].data,
                                             .len = im->files[k].len,
                                             .mode = im->files[k].mode};
            struct cln_labels bl = {0};
            cln_labels_set(&bl, CLN_LABEL_VERSION, c->run->opts->version);
            cln_labels_set(&bl, "io.cleanrun.spec-image", im->name);
            struct cln_build_request req = {.dockerfile = im->dockerfile,
                                            .files = files,
                                            .nfiles = im->nfiles,
                                            .tag = im->ref,
                                            .labels = &bl,
                                            .network = im->outbound};
            char *id = NULL;
            r = cln_build_image(rt, &req, NULL, NULL, &id, &e);
            free(id);
            free(files);
            cln_labels_done(&bl);
        }
        pthread_mutex_unlock(&build_lock);
        if (r < 0) {
            cln_runner_fail_test(c->r, CLN_ST_ERROR,
                                 cln_runner_wrap(e, "image %s (build)", im->name));
            return -1;
        }
    }
    /* services and steps name the built tags */
    for (size_t k = 0; k < t->nservices; k++) {
        struct cln_spec_service *s = (struct cln_spec_service *)&t->services[k];
        if (s->image_idx >= 0 && t->images[s->image_idx].dockerfile) {
            free(s->image);
            s->image = cln_xstrdup(t->images[s->image_idx].ref);
        }
    }
    for (size_t k = 0; k < t->nsteps; k++) {
        struct cln_spec_step *s = (struct cln_spec_step *)&t->steps[k];
        if (s->image_idx >= 0 && t->images[s->image_idx].dockerfile) {
            free(s->image);
            s->image = cln_xstrdup(t->images[s->image_idx].ref);
        }
    }
    return 0;
}
