/* What the image store's files share (runtime/native/ only): the store
 * object, digests, blobs, files written atomically, safe unpacking. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/error.h"
#include "runtime/native/store.h"

struct archive;

struct cln_store {
    char *root;
    int rootfd;   /* O_DIRECTORY */
    int lockfd;   /* the lock file, flock()ed */
    bool is_root; /* euid 0: owners, devices, setuid bits and trusted.* xattrs */
    uint64_t max_entries, max_bytes;
};

#define NATIVE_HEX_LEN 64
#define NATIVE_MAX_JSON (16u << 20) /* manifests, configs, indexes */

/* ---- digests (blob.c) ---- */

struct native_sha256;
struct native_sha256 *native_sha256_new(void);
void native_sha256_update(struct native_sha256 *h, const void *p, size_t n);
/* Finish: hex gets 64 lowercase hex digits and a NUL; frees h. */
void native_sha256_final(struct native_sha256 *h, char hex[NATIVE_HEX_LEN + 1]);
void native_sha256_free(struct native_sha256 *h); /* NULL-safe, without finishing */

/* "sha256:<64 lowercase hex>": hex gets the hex part.  CLN_E_INVALID otherwise. */
int native_digest_hex(const char *digest, char hex[NATIVE_HEX_LEN + 1], struct cln_error **err);

/* Hash fd from its current offset to its end. */
int native_hash_fd(int fd, uint64_t *ret_size, char hex[NATIVE_HEX_LEN + 1],
                   struct cln_error **err);

/* Read what dirfd/path names (resolved in dirfd's root; at most max bytes)
 * into a NUL-terminated buffer; when digest is not NULL verify the size
 * (when size >= 0), then the digest.  what names it in errors. */
int native_read_verified(int dirfd, const char *path, const char *digest, int64_t size, size_t max,
                         const char *what, char **ret, size_t *ret_len, struct cln_error **err);

/* Store data as blobs/sha256/<its hex> (temp file, fsync, rename; kept when
 * there).  *ret_digest (may be NULL) gets "sha256:<hex>". */
int native_blob_put(struct cln_store *s, const void *data, size_t len, char **ret_digest,
                    struct cln_error **err);

/* Replace dirfd/name with data: a temp file beside it, fsync, rename, fsync
 * of the directory. */
int native_write_atomic(int dirfd, const char *name, const void *data, size_t len,
                        struct cln_error **err);

/* Remove dirfd/name and everything under it, never following a symlink;
 * directories without write permission are made writable first. */
int native_rm_rf(int dirfd, const char *name);

/* Open path in dirfd's root (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS):
 * symlinks resolve inside dirfd, never out of it.  -1 with errno. */
int native_open_in_root(int dirfd, const char *path, int flags);

/* A fresh directory under tmp/ (prefix, then random hex): its name in
 * *ret_name (relative to rootfd) and an fd on it. */
int native_tmpdir(struct cln_store *s, const char *prefix, char **ret_name, int *ret_fd,
                  struct cln_error **err);

/* ---- unpacking (unpack.c) ---- */

struct native_unpack_opts {
    bool layer;   /* an image layer: whiteouts, owners, modes; else plain staging */
    bool is_root; /* owners, device nodes, setuid bits, trusted.* xattrs */
    uint64_t max_entries, max_bytes;
};

/* Unpack every entry of a (opened for reading) into the directory dirfd,
 * refusing hostile entries with an error naming them.  *ret_bytes (may be
 * NULL) gets the bytes of regular files. */
int native_unpack(struct archive *a, int dirfd, const struct native_unpack_opts *o,
                  uint64_t *ret_bytes, struct cln_error **err);

/* Register the decompression filters libarchive has built in (gzip, zstd,
 * xz, bzip2 as available, and none); never one that runs a program. */
void native_archive_filters(struct archive *a);

/* Unpack the layer blob srcdir/path (tar; gzip or zstd compressed or not)
 * into layers/<diff_id hex>/ unless it is there: into a temp dir first,
 * checking the uncompressed stream against diff_id (when not NULL; else
 * *ret_diff_id gets the computed one), then renamed.  *ret_size gets the
 * layer's bytes (0 when it was already there). */
int native_layer_unpack(struct cln_store *s, int srcdir, const char *path, const char *diff_id,
                        char **ret_diff_id, uint64_t *ret_size, bool *ret_existed,
                        struct cln_error **err);

/* ---- the database, images.json (store.c) ---- */

/* Record an imported image: its manifest and config digests, layer sizes
 * (diff_ids with sizes, for layers just unpacked; size 0 keeps the known
 * one) and names.  Called with the exclusive lock held. */
int native_db_add(struct cln_store *s, const char *config_digest, const char *manifest_digest,
                  const char *created, const struct cln_strv *diff_ids, const uint64_t *sizes,
                  const struct cln_strv *refs, struct cln_error **err);

/* "name" -> "name:latest" when it has neither tag nor digest. */
char *native_ref_normalize(const char *ref);

/* flock the store: exclusive or shared; unlock. */
int native_lock(struct cln_store *s, bool exclusive, struct cln_error **err);
void native_unlock(struct cln_store *s);
