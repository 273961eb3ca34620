/* Shared between the files of `cleanrun import clnrm` (cmd-import.c and
 * import-*.c) only.
 *
 * The conversion reads the clnrm spec as our TOML parser gives it and
 * writes the cleanrun spec into the buffers of struct cln_import, section by
 * section; cln_import_convert() puts them together.  Each error
 * (cln_import_err_at) and each warning (cln_import_lost, which also leaves a
 * "# cleanrun import: ..." comment where the value would have gone) is kept
 * with its position, for cmd-import.c to print in file order.  Paths such as
 * "services.db.image" name the keys in messages. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/strv.h"

/* Short for the TOML values and table entries the conversion reads. */
typedef const struct cln_toml_value tv;
typedef const struct cln_toml_entry te;

#define PATHLEN 400
#define LOSS "# cleanrun import: "
#define NOTE "# note: "
/* clnrm's default image for a step without a service: cleanroom.toml's
 * [containers] default_image, whose default is this. */
#define CLNRM_DEFAULT_IMAGE "alpine:latest"

/* A warning or an error, reported in file order. */
struct cln_import_note {
    struct cln_toml_pos pos;
    size_t seq;
    bool error;
    char *text;
};

/* A clnrm service and its name in the output (NULL: not converted). */
struct cln_import_svc {
    char *key;
    char *name;
};

/* One conversion: file and default_image are the caller's, the rest is
 * freed by cln_import_done(). */
struct cln_import {
    const char *file;
    const char *default_image;
    struct cln_import_note *notes;
    size_t nnotes, capnotes, nerrors, nwarnings;
    struct cln_import_svc *svcs;
    size_t nsvcs;
    struct cln_strv vars;   /* [vars] entries converted so far */
    struct cln_strv images; /* image references given their note */
    int64_t memory_mb;      /* [limits]; 0: not given or not converted */
    int64_t millicores;
    te *millicores_e;
    bool fresh_steps;        /* a step runs in a fresh container of default_image */
    size_t nsteps;           /* [[steps]] written */
    struct cln_buf head;     /* comments before [test]: top-level losses */
    struct cln_buf vars_out; /* [vars] */
    struct cln_buf services; /* [services.X] */
    struct cln_buf steps;    /* [[steps]] */
};

/* ---- notes, clnrm's values, strings (import-values.c) ---- */

/* An error at pos: nothing will be written. */
void cln_import_err_at(struct cln_import *I, struct cln_toml_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A "# note: ..." comment line in b. */
void cln_import_note(struct cln_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* KEY (at pos) is not converted: a warning, and a comment in b. */
void cln_import_lost(struct cln_import *I, struct cln_buf *b, struct cln_toml_pos pos,
                     const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

bool cln_import_key_is(te *e, const char *k);
/* A key's path in messages ("services.db.image", "steps[2].command"): cut
 * if it is very long. */
void cln_import_pathf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "a.b" for messages: a key with a NUL or a dot is quoted. */
void cln_import_path_of(char *out, size_t size, const char *parent, te *e);

/* Where a key's entry goes: cln_import_slot_of() gives the slot of the
 * first of keys that e is, or NULL. */
struct cln_import_slot {
    const char *key;
    te **at;
};
te **cln_import_slot_of(te *e, const struct cln_import_slot *s, size_t n);

/* v is of type t, else an error "PATH must be WHAT, not ..." and false. */
bool cln_import_want_type(struct cln_import *I, tv *v, enum cln_toml_type t, const char *what,
                          const char *path);
bool cln_import_want_strings(struct cln_import *I, tv *v, const char *path);
bool cln_import_want_string_table(struct cln_import *I, tv *v, const char *path);

/* The first "ab" in the len bytes of s, or NULL (also for s NULL). */
const char *cln_import_find2(const char *s, size_t len, char a, char b);
/* The text of a clnrm string as cleanrun should read it ({{ NAME }} of a
 * [vars] entry as ${NAME}, '$' doubled where cleanrun would read "${" or
 * "$$"), other template expressions reported into b; NULL (an error said)
 * for a NUL character.  Free it. */
char *cln_import_conv_text(struct cln_import *I, struct cln_buf *b, const char *s, size_t len,
                           struct cln_toml_pos pos, const char *path);
/* The converted string v, quoted, into kb (what was lost of it into nb);
 * false for an error. */
bool cln_import_put_conv(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *v,
                         const char *path);
/* [ ... ] of the strings of the array a from its element from on. */
void cln_import_put_conv_array(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *a,
                               size_t from, const char *path);
/* env = { K = "v", ... } of a table of strings already checked. */
void cln_import_put_env(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, tv *t,
                        const char *path);
/* key = "DURATION" (no newline). */
void cln_import_put_duration(struct cln_buf *kb, const char *key, uint64_t ms);

/* ---- images and services (import-services.c) ---- */

/* Once per image reference: a note that it must be in the local images. */
void cln_import_image_note(struct cln_import *I, struct cln_buf *nb, const char *ref);
/* The host name of the service e on the test network, unique among
 * I->svcs.  Free it. */
char *cln_import_host_name(struct cln_import *I, te *e);
/* The service clnrm names key, or NULL. */
const struct cln_import_svc *cln_import_find_svc(const struct cln_import *I, const char *key,
                                                 size_t len);
/* The service se (of [tname]) as [services.NAME] into I->services; false if
 * it is not converted. */
bool cln_import_convert_service(struct cln_import *I, te *se, const char *tname,
                                const struct cln_import_svc *sv);

/* ---- steps and scenarios (import-steps.c) ---- */

/* A [[steps]] table (or a scenario's steps, named "SCENARIO: NAME") into
 * I->steps. */
void cln_import_convert_step(struct cln_import *I, tv *st, const char *path, const char *scenario);
/* A [[scenario]]: its run as a step, then its steps. */
void cln_import_convert_scenario(struct cln_import *I, tv *sc, const char *path);

/* ---- the document (import-clnrm.c) ---- */

/* The cleanrun spec of doc into out; 0, or -1 if there are errors (out is
 * then not to be written).  The notes are in I either way. */
int cln_import_convert(struct cln_import *I, struct cln_toml_doc *doc, struct cln_buf *out);
/* Free what I holds. */
void cln_import_done(struct cln_import *I);
