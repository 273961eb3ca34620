/* The native runtime's image store: content-addressed and verified, with
 * layers unpacked once and shared (docs/runtime.md "Native (in progress):
 * the image store").
 *
 * This is the first building block of runtime/native/: a C API with unit
 * tests.  It is not registered as a backend and no CLI command reaches it
 * yet; a later step wires `cleanrun image import/ls/rm/prune` through the
 * executor interface.  Linux-only (runtime/native/ is a Linux backend).
 *
 * Layout under the root (cln_store_default_root):
 *   blobs/sha256/<hex>     manifests and configs, verified (size, then sha256)
 *   layers/<diffid-hex>/   one layer's tree, unpacked once, never written again;
 *                          whiteouts in overlay's format
 *   images.json            images, refs and layer sizes; replaced atomically
 *   lock                   flock: exclusive to change, shared to read
 *   tmp/                   imports in progress (blobs, staging, unpacking layers)
 *
 * Every function returns 0 or -code and takes struct cln_error **err last
 * (runtime/base/error.h); nothing here prints. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "runtime/base/error.h"
#include "runtime/base/strv.h"

struct cln_store;

/* The default root: /var/lib/cleanrun as root, $XDG_DATA_HOME/cleanrun (or
 * ~/.local/share/cleanrun) otherwise.  *ret is the caller's. */
int cln_store_default_root(char **ret, struct cln_error **err);

/* Open (creating it when missing) the store rooted at root. */
int cln_store_open(const char *root, struct cln_store **ret, struct cln_error **err);
void cln_store_close(struct cln_store *s); /* NULL-safe */

/* Sanity bounds for one import: entries of one archive or layer, and bytes
 * unpacked per layer (defaults: 1,000,000 entries, 64 GiB).  0 keeps a bound. */
void cln_store_set_limits(struct cln_store *s, uint64_t max_entries, uint64_t max_bytes);

/* An image as listed. */
struct cln_store_info {
    char *id;             /* the config digest, "sha256:<hex>" */
    char *manifest;       /* the manifest digest */
    struct cln_strv refs; /* names, sorted; may be empty */
    char *created;        /* the config's "created" (RFC 3339), or NULL */
    uint64_t size;        /* bytes of the unpacked layers */
};

struct cln_store_images {
    struct cln_store_info *v;
    size_t n;
};
void cln_store_images_done(struct cln_store_images *l);

/* Import FILE: a `docker save` archive (either layout), an OCI image layout
 * directory or OCI archive, or a plain rootfs tarball (one layer, a minimal
 * config, as `docker import`).  Every digest is verified.  ref (may be NULL)
 * is added as a name of every image imported (a rootfs tarball has no other).
 * *ret gets the images imported (usually one). */
int cln_store_import(struct cln_store *s, const char *path, const char *ref,
                     struct cln_store_images *ret, struct cln_error **err);

/* Every image, sorted by id. */
int cln_store_list(struct cln_store *s, struct cln_store_images *ret, struct cln_error **err);

/* Find an image by name ("busybox" means "busybox:latest"), by id
 * ("sha256:<hex>") or by a prefix of its hex (with or without "sha256:").
 * CLN_E_NOT_FOUND when none, CLN_E_CONFLICT when a prefix is ambiguous. */
int cln_store_lookup(struct cln_store *s, const char *name, struct cln_store_info *ret,
                     struct cln_error **err);
void cln_store_info_done(struct cln_store_info *i);

/* Remove a name, or an image: by name the name goes, and the image with it
 * when it was its last one; by id or prefix the image and all its names.
 * Blobs and layers stay until cln_store_prune. */
int cln_store_remove(struct cln_store *s, const char *name, struct cln_error **err);

/* Remove blobs and layers no image uses, and leftovers of aborted imports.
 * *ret_freed (may be NULL) gets how many blobs and layers went. */
int cln_store_prune(struct cln_store *s, size_t *ret_freed, struct cln_error **err);

/* An image's configuration (the config blob's "config" and more). */
struct cln_image_config {
    char *os, *architecture, *created;        /* may be NULL */
    bool has_entrypoint, has_cmd;             /* null or absent: false */
    struct cln_strv entrypoint, cmd, env;     /* env as K=V */
    char *working_dir, *user;                 /* may be NULL */
    struct cln_strv label_keys, label_values; /* parallel */
    struct cln_strv exposed_ports;            /* "80/tcp" */
    bool has_healthcheck;
    struct cln_strv health_test; /* ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"] */
    int64_t health_interval_ns, health_timeout_ns, health_start_period_ns;
    int health_retries;
    struct cln_strv diff_ids; /* rootfs.diff_ids, bottom first */
};

/* Parse a config blob (JSON text of len bytes).  *ret is the caller's. */
int cln_image_config_parse(const char *json, size_t len, struct cln_image_config **ret,
                           struct cln_error **err);
void cln_image_config_free(struct cln_image_config *c); /* NULL-safe */

/* What mounting an image needs. */
struct cln_store_image {
    char *id, *manifest;
    struct cln_image_config *config;
    struct cln_strv layer_dirs; /* absolute paths, bottom layer first */
};

/* Look name up (as cln_store_lookup) and load its config and layers. */
int cln_store_image_get(struct cln_store *s, const char *name, struct cln_store_image **ret,
                        struct cln_error **err);
void cln_store_image_free(struct cln_store_image *img); /* NULL-safe */
