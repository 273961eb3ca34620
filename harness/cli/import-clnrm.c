/* `cleanrun import clnrm`: the document.  Which of clnrm's top-level
 * sections there are ([test.metadata] or [meta], [vars], [limits],
 * [services], [[steps]], [[scenario]], and those with no counterpart), the
 * [test] table, and the output put together: a header comment, the losses
 * of the top level, then [test], [vars], [services.X] and [[steps]]. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "toml-writer.h"
#include "harness/text.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

#ifndef CLN_VERSION
#define CLN_VERSION "0.0.0-unknown"
#endif

/* ---- durations ---- */

/* A duration as clnrm reads one ("60s", "5m", "1h", "2d", "10 seconds"...)
 * or as cleanrun does ("1m30s", "500ms"), in ms; false if neither. */
static bool clnrm_duration(const char *s, uint64_t *ret_ms)
{
    cleanup_error struct cln_error *err = NULL;
    if (cln_duration_parse(s, ret_ms, &err) == 0)
        return true;
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = NULL;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return false;
    size_t ul = strlen(end);
    while (ul && (end[ul - 1] == ' ' || end[ul - 1] == '\t'))
        ul--;
    static const struct {
        const char *unit;
        uint64_t s;
    } units[] = {{"s", 1},     {"sec", 1},     {"secs", 1},    {"second", 1},  {"seconds", 1},
                 {"m", 60},    {"min", 60},    {"mins", 60},   {"minute", 60}, {"minutes", 60},
                 {"h", 3600},  {"hr", 3600},   {"hrs", 3600},  {"hour", 3600}, {"hours", 3600},
                 {"d", 86400}, {"day", 86400}, {"days", 86400}};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(units); i++)
        if (strlen(units[i].unit) == ul && memcmp(units[i].unit, end, ul) == 0) {
            if (n > UINT64_MAX / 1000 / units[i].s)
                return false;
            *ret_ms = n * units[i].s * 1000;
            return true;
        }
    return false;
}

/* ---- the document ---- */

/* [vars]: strings, integers, booleans; a value may use the ones before it. */
static void convert_vars(struct cln_import *I, te *ve)
{
    if (!cln_import_want_type(I, ve->value, CLN_TOML_TABLE, "a table", "vars"))
        return;
    cleanup_buf struct cln_buf nb = CLN_BUF_INIT;
    cleanup_buf struct cln_buf kb = CLN_BUF_INIT;
    for (size_t i = 0; i < cln_toml_table_len(ve->value); i++) {
        te *e = cln_toml_table_at(ve->value, i);
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), "vars", e);
        tv *v = e->value;
        if (memchr(e->key, '}', e->keylen) || memchr(e->key, '\0', e->keylen)) {
            cln_import_lost(I, &nb, e->pos, w, "cleanrun's ${NAME} cannot name it");
            continue;
        }
        if (v->type == CLN_TOML_STRING) {
            cleanup_free char *s =
                cln_import_conv_text(I, &nb, v->u.str.ptr, v->u.str.len, v->pos, w);
            if (!s)
                continue;
            cln_toml_put_key(&kb, e->key, e->keylen);
            cln_buf_puts(&kb, " = ");
            cln_toml_put_cstr(&kb, s);
        } else if (v->type == CLN_TOML_INTEGER || v->type == CLN_TOML_BOOL) {
            cln_toml_put_key(&kb, e->key, e->keylen);
            if (v->type == CLN_TOML_INTEGER)
                cln_buf_printf(&kb, " = %lld", (long long)v->u.integer);
            else
                cln_buf_printf(&kb, " = %s", v->u.boolean ? "true" : "false");
        } else {
            cln_import_lost(I, &nb, e->pos, w,
                            "cleanrun's [vars] are strings, integers and booleans");
            continue;
        }
        cln_buf_putc(&kb, '\n');
        cln_strv_add(&I->vars, e->key);
    }
    if (kb.len || nb.len) {
        cln_buf_puts(&I->vars_out, "\n[vars]\n");
        cln_buf_append(&I->vars_out, nb.data, nb.len);
        cln_buf_append(&I->vars_out, kb.data, kb.len);
    }
}

static void convert_limits(struct cln_import *I, te *le)
{
    if (!cln_import_want_type(I, le->value, CLN_TOML_TABLE, "a table", "limits"))
        return;
    for (size_t i = 0; i < cln_toml_table_len(le->value); i++) {
        te *e = cln_toml_table_at(le->value, i);
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), "limits", e);
        bool mem = cln_import_key_is(e, "memory_mb");
        if (!mem && !cln_import_key_is(e, "cpu_millicores")) {
            cln_import_lost(I, &I->head, e->pos, w,
                            "not a key of clnrm's limits: clnrm ignores it");
            continue;
        }
        if (!cln_import_want_type(I, e->value, CLN_TOML_INTEGER, "an integer", w))
            continue;
        int64_t n = e->value->u.integer;
        if (mem && (n < 4 || n > (INT64_C(1) << 40)))
            cln_import_lost(I, &I->head, e->pos, w, "cleanrun's memory limit is at least 4MiB");
        else if (!mem && (n < 1 || n > 1024000))
            cln_import_lost(I, &I->head, e->pos, w,
                            "not a number of millicores cleanrun can give (1 to "
                            "1024000)");
        else if (mem)
            I->memory_mb = n;
        else {
            I->millicores = n;
            I->millicores_e = e;
        }
    }
    if (I->memory_mb || I->millicores)
        cln_import_note(&I->head,
                        "[limits] applies to every service (memory, cpus) and every step in a "
                        "fresh container (memory)");
}

/* The sections clnrm knows that have no counterpart, and why. */
static const struct {
    const char *key, *why;
} unconverted[] = {
    {"otel", "OpenTelemetry export: cleanrun collects no spans"},
    {"otel_validation", "OpenTelemetry span validation: cleanrun collects no spans"},
    {"otel_headers", "OpenTelemetry export: cleanrun collects no spans"},
    {"otel_propagators", "OpenTelemetry export: cleanrun collects no spans"},
    {"expect", "expectations on OpenTelemetry spans: cleanrun collects no spans; a step's own "
               "expect is kept"},
    {"assertions", "clnrm's assertions have no counterpart; cleanrun records isolation evidence "
                   "for every step"},
    {"report", "give `cleanrun run --report json=FILE --report junit=FILE` instead"},
    {"determinism", "cleanrun has no seeded randomness or frozen clock"},
    {"matrix", "clnrm's [matrix] feeds its Tera templates: render the file with clnrm first"},
};

int cln_import_convert(struct cln_import *I, struct cln_toml_doc *doc, struct cln_buf *out)
{
    tv *root = cln_toml_root(doc);
    te *test = NULL, *meta = NULL, *svcs[2] = {NULL, NULL}, *steps = NULL, *scen = NULL,
       *vars = NULL, *limits = NULL;
    const struct cln_import_slot tables[] = {{"test", &test},        {"meta", &meta},
                                             {"services", &svcs[0]}, {"service", &svcs[1]},
                                             {"vars", &vars},        {"limits", &limits}};
    const struct cln_import_slot arrays[] = {{"steps", &steps}, {"scenario", &scen}};
    for (size_t i = 0; i < cln_toml_table_len(root); i++) {
        te *e = cln_toml_table_at(root, i);
        te **tat = cln_import_slot_of(e, tables, CLN_ARRAY_SIZE(tables));
        te **aat = cln_import_slot_of(e, arrays, CLN_ARRAY_SIZE(arrays));
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), "", e);
        size_t k = 0;
        while (k < CLN_ARRAY_SIZE(unconverted) && !cln_import_key_is(e, unconverted[k].key))
            k++;
        if (tat) {
            if (cln_import_want_type(I, e->value, CLN_TOML_TABLE, "a table", w))
                *tat = e;
        } else if (aat) {
            if (cln_import_want_type(I, e->value, CLN_TOML_ARRAY, "an array of tables", w))
                *aat = e;
        } else if (k < CLN_ARRAY_SIZE(unconverted)) {
            cln_import_lost(I, &I->head, e->pos, w, "%s", unconverted[k].why);
        } else {
            cln_import_lost(I, &I->head, e->pos, w,
                            "not a key of clnrm's format: clnrm ignores it");
        }
    }
    te *md = test ? cln_toml_table_find(test->value, "metadata") : NULL;
    if (md && !cln_import_want_type(I, md->value, CLN_TOML_TABLE, "a table", "test.metadata"))
        return -1;
    if (!meta && !md) {
        bool cleanrun = test && cln_toml_table_find(test->value, "name");
        cln_import_err_at(I, test ? test->pos : (struct cln_toml_pos){1, 1},
                          "not a clnrm spec: no [test.metadata] or [meta] table%s",
                          cleanrun ? " (this looks like a cleanrun spec already)" : "");
        return -1;
    }
    if (!steps && !scen) {
        cln_import_err_at(I, (meta ? meta : test)->pos,
                          "not a clnrm spec: no [[steps]] or [[scenario]] (clnrm needs one)");
        return -1;
    }

    /* [test]: [meta] first (clnrm reads the name and description there first) */
    struct cln_buf tb = CLN_BUF_INIT, tk = CLN_BUF_INIT;
    te *name = NULL, *desc = NULL, *timeout = NULL;
    for (int m = 0; m < 2; m++) {
        te *sect = m == 0 ? meta : md;
        if (!sect)
            continue;
        const char *sp = m == 0 ? "meta" : "test.metadata";
        for (size_t i = 0; i < cln_toml_table_len(sect->value); i++) {
            te *e = cln_toml_table_at(sect->value, i);
            char w[PATHLEN];
            cln_import_path_of(w, sizeof(w), sp, e);
            if (cln_import_key_is(e, "name") || cln_import_key_is(e, "description") ||
                cln_import_key_is(e, "version") || (m == 1 && cln_import_key_is(e, "timeout"))) {
                if (!cln_import_want_type(I, e->value, CLN_TOML_STRING, "a string", w))
                    continue;
                if (cln_import_key_is(e, "version")) {
                    cln_import_lost(I, &tb, e->pos, w, "a cleanrun spec has no version");
                } else if (cln_import_key_is(e, "timeout")) {
                    timeout = e;
                } else if (m == 1 && meta) {
                    cln_import_lost(I, &tb, e->pos, w,
                                    "[meta] is there: clnrm reads %.*s from [meta]", (int)e->keylen,
                                    e->key);
                } else if (cln_import_key_is(e, "name")) {
                    name = e;
                } else {
                    desc = e;
                }
            } else {
                cln_import_lost(I, &tb, e->pos, w, "not a key of clnrm's [%s]: clnrm ignores it",
                                sp);
            }
        }
    }
    if (test)
        for (size_t i = 0; i < cln_toml_table_len(test->value); i++) {
            te *e = cln_toml_table_at(test->value, i);
            char w[PATHLEN];
            cln_import_path_of(w, sizeof(w), "test", e);
            if (!cln_import_key_is(e, "metadata"))
                cln_import_lost(I, &tb, e->pos, w, "not a key of clnrm's [test]: clnrm ignores it");
        }
    if (!name || !name->value->u.str.len) {
        cln_import_err_at(I, name ? name->value->pos : (meta ? meta : md)->pos,
                          "%s needs a name (clnrm requires one)",
                          meta ? "[meta]" : "[test.metadata]");
    } else {
        cln_buf_puts(&tk, "name = ");
        cln_import_put_conv(I, &tk, &tb, name->value, meta ? "meta.name" : "test.metadata.name");
        cln_buf_putc(&tk, '\n');
    }
    if (desc) {
        cln_buf_puts(&tk, "description = ");
        cln_import_put_conv(I, &tk, &tb, desc->value,
                            meta ? "meta.description" : "test.metadata.description");
        cln_buf_putc(&tk, '\n');
    }
    if (timeout) {
        uint64_t ms = 0;
        if (!clnrm_duration(timeout->value->u.str.ptr, &ms))
            cln_import_lost(I, &tb, timeout->pos, "test.metadata.timeout",
                            "\"%s\" is not a duration (like \"60s\", \"5m\", \"1h\")",
                            timeout->value->u.str.ptr);
        else if (!ms)
            cln_import_lost(I, &tb, timeout->pos, "test.metadata.timeout",
                            "zero: cleanrun's timeout is a limit; none is the key left out");
        else {
            cln_import_put_duration(&tk, "timeout", ms);
            cln_buf_putc(&tk, '\n');
        }
    }

    if (vars)
        convert_vars(I, vars);
    if (limits)
        convert_limits(I, limits);

    /* services: clnrm takes [services], or else [service] */
    if (svcs[0] && svcs[1])
        cln_import_lost(I, &I->head, svcs[1]->pos, "service",
                        "[services] is there: clnrm uses [services] and ignores [service]");
    te *st = svcs[0] ? svcs[0] : svcs[1];
    const char *tname = svcs[0] ? "services" : "service";
    size_t ns = st ? cln_toml_table_len(st->value) : 0;
    I->svcs = cln_xcalloc(ns ? ns : 1, sizeof(*I->svcs));
    for (size_t i = 0; i < ns; i++) {
        te *e = cln_toml_table_at(st->value, i);
        I->svcs[i].key = cln_xstrndup(e->key, e->keylen);
        I->svcs[i].name = cln_import_host_name(I, e);
        I->nsvcs++;
    }
    for (size_t i = 0; i < ns; i++)
        if (!cln_import_convert_service(I, cln_toml_table_at(st->value, i), tname, &I->svcs[i])) {
            free(I->svcs[i].name);
            I->svcs[i].name = NULL;
        }

    /* clnrm runs [[steps]] first, then each [[scenario]] */
    for (size_t i = 0; steps && i < cln_toml_array_len(steps->value); i++) {
        char w[PATHLEN];
        cln_import_pathf(w, sizeof(w), "steps[%zu]", i);
        cln_import_convert_step(I, cln_toml_array_at(steps->value, i), w, NULL);
    }
    for (size_t i = 0; scen && i < cln_toml_array_len(scen->value); i++) {
        char w[PATHLEN];
        cln_import_pathf(w, sizeof(w), "scenario[%zu]", i);
        cln_import_convert_scenario(I, cln_toml_array_at(scen->value, i), w);
    }
    if (I->fresh_steps) {
        cln_import_note(&tk,
                        "clnrm runs a step without a service in a fresh container of its default "
                        "image (cleanroom.toml [containers] default_image, " CLNRM_DEFAULT_IMAGE
                        " unless set; --default-image here); cleanrun gives it no network");
        cln_import_image_note(I, &tk, I->default_image);
        cln_buf_puts(&tk, "default_image = ");
        cln_toml_put_cstr(&tk, I->default_image);
        cln_buf_putc(&tk, '\n');
        if (I->millicores)
            cln_import_lost(
                I, &I->head, I->millicores_e->pos, "limits.cpu_millicores",
                "for the steps in fresh containers: cleanrun limits the CPUs of services only");
    }
    if (!I->nerrors && !I->nsteps)
        cln_import_err_at(I, (steps ? steps : scen)->pos,
                          "nothing to run once converted: no step or scenario could be converted");

    cleanup_free char *file = cln_text_name(I->file);
    cln_buf_printf(out,
                   "# Converted from the clnrm spec %s by `cleanrun import clnrm` (cleanrun %s).\n"
                   "# What could not be converted is marked \"" LOSS "...\" (and was said on "
                   "stderr).\n",
                   file, CLN_VERSION);
    cln_buf_append(out, I->head.data, I->head.len);
    cln_buf_puts(out, "\n[test]\n");
    cln_buf_append(out, tb.data, tb.len);
    cln_buf_append(out, tk.data, tk.len);
    cln_buf_done(&tb);
    cln_buf_done(&tk);
    cln_buf_append(out, I->vars_out.data, I->vars_out.len);
    cln_buf_append(out, I->services.data, I->services.len);
    cln_buf_append(out, I->steps.data, I->steps.len);
    return I->nerrors ? -1 : 0;
}

void cln_import_done(struct cln_import *I)
{
    for (size_t i = 0; i < I->nnotes; i++)
        free(I->notes[i].text);
    free(I->notes);
    for (size_t i = 0; i < I->nsvcs; i++) {
        free(I->svcs[i].key);
        free(I->svcs[i].name);
    }
    free(I->svcs);
    cln_strv_done(&I->vars);
    cln_strv_done(&I->images);
    cln_buf_done(&I->head);
    cln_buf_done(&I->vars_out);
    cln_buf_done(&I->services);
    cln_buf_done(&I->steps);
}
