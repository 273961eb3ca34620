/* Shared between the spec loader's files (harness/spec*.c) only; the rest of
 * the harness uses spec.h.
 *
 * Failures return a negative -code with *err set to one error,
 * "FILE:LINE:COL: message".  The getters (and cln_spec_load_files) return 0
 * when the key is absent, leaving *ret untouched, and 1 when it is present
 * and valid; the other functions return 0 on success. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/cleanup.h"
#include "spec.h"
#include "toml/toml.h"

struct cln_buf;
struct cln_error;

/* Short for the TOML values the loader reads. */
typedef const struct cln_toml_value tv;

/* One file being loaded (one matrix combination at a time). */
struct cln_spec_loader {
    struct cln_toml_doc *doc;
    const char *path;
    char *dir;
    char *real_dir; /* dir, canonical (realpath) */
    unsigned allow; /* enum cln_allow bits of the run */
    struct cln_labels vars;
    struct cln_labels matrix;
    struct cln_strv host_env; /* allowlist */
    const struct cln_toml_value *services_tbl;
};

/* ---- values, keys and messages (spec-values.c) ---- */

/* Append s (owned) to v, keeping it NULL-terminated. */

/* Set *err to "PATH:LINE:COL: message" (CLN_E_SPEC); returns -CLN_E_SPEC. */
int cln_spec_err_at(struct cln_spec_loader *L, struct cln_toml_pos pos, struct cln_error **err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The closest of the candidates to word, or NULL when none is close. */
const char *cln_spec_suggest(const char *word, const char *const *cands, size_t n);

/* Every key of table t must be one of allowed (with a did-you-mean). */
int cln_spec_check_keys(struct cln_spec_loader *L, tv *t, const char *where,
                        const char *const *allowed, size_t n, struct cln_error **err);
#define CLN_SPEC_CHECK_KEYS(L, t, where, err, ...)                                                 \
    ({                                                                                             \
        static const char *const allowed_[] = {__VA_ARGS__};                                       \
        cln_spec_check_keys(L, t, where, allowed_, CLN_ARRAY_SIZE(allowed_), err);                 \
    })

/* "an" for integer, array, date-time; "a" for the others. */
const char *cln_spec_type_article(enum cln_toml_type t);
/* v must be of type t: "WHAT must be a T, not a U" at v's position. */
int cln_spec_want_type(struct cln_spec_loader *L, tv *v, enum cln_toml_type t, const char *what,
                       struct cln_error **err);

/* The lookup every getter starts with: key in table t, written as
 * "WHERE.KEY" into what (what_size bytes, truncated like snprintf).
 * 0: absent (*ret untouched).  1: present with type `type`, *ret its value.
 * Negative: of another type, the error at the value's position, saying
 * "WHAT must be WANTED, not a U"; wanted NULL means "a/an TYPE". */
int cln_spec_lookup(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                    enum cln_toml_type type, const char *wanted, char *what, size_t what_size,
                    tv **ret, struct cln_error **err);

/* Typed getters of key in table t, where names t in messages ("steps[0]").
 * Strings are interpolated (cln_spec_interp). */
int cln_spec_get_str(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                     char **ret, struct cln_error **err);
int cln_spec_get_bool(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                      bool *ret, struct cln_error **err);
/* An integer in [lo, hi]. */
int cln_spec_get_int(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                     int64_t lo, int64_t hi, int64_t *ret, struct cln_error **err);
/* A duration string ("5s"), in ms; zero allowed. */
int cln_spec_get_duration(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                          uint64_t *ret, struct cln_error **err);
/* A duration that is a limit (a timeout, an interval): zero refused. */
int cln_spec_get_limit(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                       uint64_t *ret, struct cln_error **err);
/* An array of strings. */
int cln_spec_get_strv(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                      struct cln_strv *ret, struct cln_error **err);
/* A table of string values (env), added to *ret. */
int cln_spec_get_env(struct cln_spec_loader *L, tv *t, const char *key, const char *where,
                     struct cln_labels *ret, struct cln_error **err);
/* tbl.memory = "64MiB" (at least 4MiB), in bytes. */
int cln_spec_get_memory(struct cln_spec_loader *L, tv *tbl, const char *where, int64_t *ret,
                        struct cln_error **err);
/* "64MiB", "1g", "4096": bytes (B, K, KB, KiB, M..., G...; any case). */
int cln_spec_parse_size(const char *s, int64_t *ret);
/* re must compile (PCRE2, multi-line); the error at v's position. */
int cln_spec_check_regex(struct cln_spec_loader *L, tv *v, const char *re, const char *what,
                         struct cln_error **err);

/* ---- interpolation and the matrix (spec-interp.c) ---- */

/* The string v with ${...} expanded into *ret (owned); what names it in
 * messages. */
int cln_spec_interp(struct cln_spec_loader *L, tv *v, const char *what, char **ret,
                    struct cln_error **err);
/* One test per combination of [matrix] (one without it), appended to set. */
int cln_spec_expand_matrix(struct cln_spec_loader *L, tv *root, struct cln_spec_set *set,
                           struct cln_error **err);

/* ---- privileges and host files (spec-policy.c) ---- */

/* Record that t asks for what (desc owned), for cln_spec_check_allowed. */
void cln_spec_add_use(struct cln_spec_test *t, enum cln_allow what, struct cln_toml_pos pos,
                      char *desc);
/* privileged, host_network, host_pid, outbound, mounts of tbl into *p. */
int cln_spec_load_privs(struct cln_spec_loader *L, tv *tbl, const char *where,
                        struct cln_spec_privs *p, struct cln_spec_test *t, struct cln_error **err);
/* Read files[].source into out, its permission bits into *mode: 1 when
 * read, 0 when left for --allow-host-files (recorded as a use of t). */
int cln_spec_read_source(struct cln_spec_loader *L, struct cln_spec_test *t, tv *v,
                         const char *what, const char *source, struct cln_buf *out, uint32_t *mode,
                         struct cln_error **err);

/* ---- files and images (spec-images.c) ---- */

/* t.files: in a container (absolute paths) or a build context (relative). */
int cln_spec_load_files(struct cln_spec_loader *L, struct cln_spec_test *test, tv *t,
                        const char *where, bool in_container, struct cln_spec_file_item **ret,
                        size_t *ret_n, struct cln_error **err);
int cln_spec_load_images(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                         struct cln_error **err);
/* ref: an [images] key or a literal reference; *ret owned, *ret_idx the
 * image's index or -1. */
int cln_spec_resolve_image(struct cln_spec_loader *L, struct cln_spec_test *t, tv *v,
                           const char *ref, const char *what, char **ret, int *ret_idx,
                           struct cln_error **err);

/* ---- volumes, mounts, artifacts, owners (spec-data.c) ---- */

/* [volumes] names into t->volumes. */
int cln_spec_load_volumes(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                          struct cln_error **err);
/* tbl.volumes and tbl.tmpfs (the volumes must be t's). */
int cln_spec_load_mounts(struct cln_spec_loader *L, tv *tbl, const char *where,
                         const struct cln_spec_test *t, const struct cln_spec_privs *p,
                         struct cln_spec_mounts *m, struct cln_error **err);
/* tbl.artifacts: absolute paths, each once. */
int cln_spec_load_artifacts(struct cln_spec_loader *L, tv *tbl, const char *where,
                            struct cln_strv *ret, struct cln_error **err);
/* owner = "uid[:gid]" or "user[:group]": the numbers, -1 for a name (a
 * gid of -1 with a name: its primary group).  -1 when malformed. */
int cln_spec_parse_owner(const char *owner, int64_t *uid, int64_t *gid);

/* ---- services (spec-services.c), steps (spec-steps.c) ---- */

int cln_spec_load_services(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                           struct cln_error **err);
int cln_spec_load_steps(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                        const char *default_service, const char *default_image,
                        struct cln_error **err);

/* ---- one test (spec.c) ---- */

/* The test of the current matrix combination into *t (zeroed by the
 * caller; on failure the caller frees it with cln_spec_test_done). */
int cln_spec_load_test(struct cln_spec_loader *L, tv *root, struct cln_spec_test *t,
                       struct cln_error **err);
void cln_spec_test_done(struct cln_spec_test *t);
