/* The feature managers on Apple's container CLI (docs/runtime.md "Apple"):
 * networks (`container network`, macOS 26 only: the descriptor without
 * them is chosen from the CLI's own answer, apple.c), volumes and builds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apple-internal.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

#define BUILD_MS 1800000 /* a build */

static void add_labels(struct cln_strv *v, const struct cln_labels *labels)
{
    for (size_t i = 0; labels && i < labels->len; i++) {
        cln_strv_add(v, "--label");
        char *val = cln_apple_label_encode(labels->items[i].value);
        cln_strv_push(v, cln_xasprintf("%s=%s", labels->items[i].key, val));
        free(val);
    }
}

/* `container NOUN create [--internal] --label K=V... NAME` */
static int make(struct apple *a, const char *noun, const char *name,
                const struct cln_labels *labels, bool internal, char **ret, struct cln_error **err)
{
    if (!cln_apple_name_ok(name))
        return cln_error_set(err, CLN_E_INVALID, 0,
                             "runtime apple: %s name \"%s\": must match "
                             "^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ and be at most 63 characters",
                             noun, name);
    for (size_t i = 0; labels && i < labels->len; i++)
        if (!labels->items[i].key[0] || strchr(labels->items[i].key, '='))
            return cln_error_set(err, CLN_E_INVALID, 0, "runtime apple: %s label key \"%s\"", noun,
                                 labels->items[i].key);
    struct cln_strv v = {0};
    cln_strv_add(&v, "container");
    cln_strv_add(&v, noun);
    cln_strv_add(&v, "create");
    if (internal)
        cln_strv_add(&v, "--internal");
    add_labels(&v, labels);
    cln_strv_add(&v, name);
    struct cln_apple_call c;
    int r = cln_apple_cli_call(a, cln_strv_argv(&v), NULL, &c, err);
    cln_strv_done(&v);
    if (r < 0)
        return -1;
    cln_apple_call_done(&c);
    *ret = cln_xstrdup(name); /* the name is its id */
    return 0;
}

static int drop(struct apple *a, const char *noun, const char *name, struct cln_error **err)
{
    const char *argv[] = {"container", noun, "delete", name, NULL};
    struct cln_apple_call c;
    struct cln_error *e = NULL;
    if (cln_apple_cli_call(a, argv, &a->sure, &c, &e) < 0) {
        if (cln_error_root_code(e) == CLN_E_NOT_FOUND) { /* gone already */
            cln_error_free(e);
            return 0;
        }
        *err = e;
        return -1;
    }
    cln_apple_call_done(&c);
    return 0;
}

static int list(struct apple *a, const char *noun, const char *label_filter,
                struct cln_resource **ret, size_t *ret_n, struct cln_error **err)
{
    const char *argv[] = {"container", noun, "list", "--format", "json", NULL};
    struct cln_apple_call c;
    *ret = NULL;
    *ret_n = 0;
    if (cln_apple_cli_call(a, argv, NULL, &c, err) < 0)
        return -1;
    struct cln_resource *r = NULL;
    size_t n = 0;
    int rc = cln_apple_parse_resources(c.out.data, c.out.len, &r, &n, err);
    cln_apple_call_done(&c);
    if (rc < 0)
        return cln_error_wrap(err, "runtime apple: list %ss", noun);
    /* the CLI has no label filter: filtered here */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cln_apple_labels_match(&r[i].labels, label_filter)) {
            r[k++] = r[i];
            continue;
        }
        free(r[i].name);
        cln_labels_done(&r[i].labels);
    }
    *ret = r;
    *ret_n = k;
    return 0;
}

static int n_create(void *ctx, const char *name, const struct cln_labels *labels, bool internal,
                    char **ret_id, bool *ret_resolves, struct cln_error **err)
{
    /* no names resolved for the harness's aliases: it writes hosts entries */
    *ret_resolves = false;
    return make(ctx, "network", name, labels, internal, ret_id, err);
}

static int n_connect(void *ctx, const char *network, const char *container,
                     const char *const *aliases, struct cln_error **err)
{
    (void)aliases; /* no aliases: the harness writes hosts entries (resolves = false) */
    return cln_apple_recreate_with_network(ctx, container, network, err);
}

static int n_remove(void *ctx, const char *network, struct cln_error **err)
{
    return drop(ctx, "network", network, err);
}

static int n_list(void *ctx, const char *label_filter, struct cln_resource **ret, size_t *ret_n,
                  struct cln_error **err)
{
    return list(ctx, "network", label_filter, ret, ret_n, err);
}

const struct cln_network_ops cln_apple_network_ops = {
    .create = n_create, .connect = n_connect, .remove = n_remove, .list = n_list};

static int v_create(void *ctx, const char *name, const struct cln_labels *labels, char **ret_name,
                    struct cln_error **err)
{
    return make(ctx, "volume", name, labels, false, ret_name, err);
}

static int v_remove(void *ctx, const char *name, bool force, struct cln_error **err)
{
    (void)force; /* the CLI's volume delete has no force */
    return drop(ctx, "volume", name, err);
}

static int v_list(void *ctx, const char *label_filter, struct cln_resource **ret, size_t *ret_n,
                  struct cln_error **err)
{
    return list(ctx, "volume", label_filter, ret, ret_n, err);
}

const struct cln_volume_ops cln_apple_volume_ops = {
    .create = v_create, .remove = v_remove, .list = v_list};

/* The context written to a private directory (0700), then `container
 * build -t TAG -f DIR/Dockerfile DIR`; the image's id from inspect.  Only
 * with a network for RUN (req->network): the CLI cannot take it away. */
static int b_build(void *ctx, const struct cln_build_request *req, cln_progress_fn progress,
                   void *userdata, char **ret_image_id, struct cln_error **err)
{
    struct apple *a = ctx;
    if (!req->tag || !*req->tag)
        return cln_error_set(err, CLN_E_INVALID, 0, "runtime apple: a build needs a tag");
    /* RUN steps get no network unless asked (docs/spec.md `outbound`), and
     * `container build` has no flag for their network: its builder VM
     * always has one.  Refused rather than built with a network, unless
     * the user consented (CLEANRUN_APPLE_BUILD_NETWORK=allow). */
    if (!req->network && !a->build_network_ok)
        return cln_error_set(err, CLN_E_UNSUPPORTED, 0,
                             "runtime apple cannot build without network: `container build` has "
                             "no option to take the network from its RUN steps (its builder VM "
                             "always has one); image %s asks for none (an image built with a "
                             "network: outbound = true, with --allow-outbound; or consent to "
                             "every build having the builder's network: "
                             "CLEANRUN_APPLE_BUILD_NETWORK=allow)",
                             req->tag);
    cleanup_free char *dir = cln_apple_private_dir(err);
    if (!dir)
        return -1;
    struct cln_file df = {.path = "Dockerfile",
                          .data = req->dockerfile,
                          .len = req->dockerfile ? strlen(req->dockerfile) : 0,
                          .mode = 0644};
    for (size_t i = 0; i < req->nfiles; i++)
        if (strcmp(req->files[i].path, "Dockerfile") == 0) {
            cln_apple_remove_tree(dir);
            return cln_error_set(err, CLN_E_INVALID, 0,
                                 "runtime apple: the build context holds a file named Dockerfile "
                                 "besides the Dockerfile given");
        }
    if (cln_apple_write_files(dir, &df, 1, err) < 0 ||
        cln_apple_write_files(dir, req->files, req->nfiles, err) < 0) {
        cln_apple_remove_tree(dir);
        return cln_error_wrap(err, "runtime apple: the build context of %s", req->tag);
    }
    cleanup_free char *dockerfile = cln_xasprintf("%s/Dockerfile", dir);
    struct cln_strv v = {0};
    cln_strv_add(&v, a->cli);
    cln_strv_add(&v, "build");
    cln_strv_add(&v, "--progress");
    cln_strv_add(&v, "plain");
    cln_strv_add(&v, "-t");
    cln_strv_add(&v, req->tag);
    cln_strv_add(&v, "-f");
    cln_strv_add(&v, dockerfile);
    add_labels(&v, req->labels);
    if (req->no_cache)
        cln_strv_add(&v, "--no-cache");
    cln_strv_add(&v, dir);
    struct cln_apple_policy pol = a->quick;
    pol.timeout_ms = BUILD_MS;
    pol.tries = 1; /* a build is not run twice behind its back */
    pol.any_exit = true;
    struct cln_apple_call c;
    int r = cln_apple_cli_call(a, cln_strv_argv(&v), &pol, &c, err);
    cleanup_free char *line = cln_apple_cmdline(cln_strv_argv(&v));
    cln_strv_done(&v);
    cln_apple_remove_tree(dir);
    if (r < 0)
        return cln_error_wrap(err, "runtime apple: build %s", req->tag);
    /* the build's output, a line at a time (the CLI writes it on both) */
    for (int s = 0; progress && s < 2; s++) {
        const struct cln_buf *b = s ? &c.err : &c.out;
        for (const char *p = b->data; p && p < b->data + b->len;) {
            const char *nl = memchr(p, '\n', (size_t)(b->data + b->len - p));
            size_t k = nl ? (size_t)(nl - p) : (size_t)(b->data + b->len - p);
            cleanup_free char *one = cln_xstrndup(p, k);
            progress(one, userdata);
            p += k + 1;
        }
    }
    if (c.exit_status != 0) {
        struct cln_apple_failure f;
        cln_apple_classify(c.exit_status, c.err.data, c.err.len, &f);
        r = cln_error_set(err, CLN_E_BACKEND, 0, "runtime apple: `%s` failed", line);
        cln_apple_set_detail(*err, c.exit_status, &f);
        cln_apple_failure_done(&f);
        cln_apple_call_done(&c);
        return r;
    }
    cln_apple_call_done(&c);
    struct cln_image_info ii;
    r = cln_rt_image_inspect(a->rt, req->tag, &ii, err);
    if (r == 0)
        return cln_error_set(err, CLN_E_BACKEND, 0,
                             "runtime apple: `%s` succeeded, but image %s is not there", line,
                             req->tag);
    if (r < 0)
        return -1;
    *ret_image_id = ii.id;
    ii.id = NULL;
    cln_image_info_done(&ii);
    return 0;
}

const struct cln_build_ops cln_apple_build_ops = {.build = b_build};
