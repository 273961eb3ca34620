/* `cleanrun import clnrm`: clnrm's [[steps]] and [[scenario]] as cleanrun's
 * [[steps]]: where each runs (its service, or a fresh container of
 * default_image), the command, workdir, env, and the expected exit code and
 * output regex; a scenario's run (split as clnrm splits it) and its own
 * steps, named after it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "toml-writer.h"
#include "harness/regex.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

/* Would `sh -c` read this word as itself? */
static bool plain_word(const char *s)
{
    if (!*s)
        return false;
    for (const char *c = s; *c; c++)
        if (strchr(" \t\n\"'\\$`|&;<>()*?[]{}~#!=%", *c))
            return false;
    return true;
}

/* Where a step runs: service = "X", or nothing for default_image. */
static void put_where(struct cln_import *I, struct cln_buf *kb, struct cln_buf *nb, te *svc,
                      const char *path)
{
    if (svc) {
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), path, svc);
        const struct cln_import_svc *sv =
            cln_import_find_svc(I, svc->value->u.str.ptr, svc->value->u.str.len);
        if (!sv) {
            cln_import_err_at(I, svc->value->pos,
                              "%s: no service \"%s\" in the spec (clnrm refuses it)", w,
                              svc->value->u.str.ptr);
            return;
        }
        if (sv->name) {
            cln_buf_puts(kb, "service = ");
            cln_toml_put_cstr(kb, sv->name);
            cln_buf_putc(kb, '\n');
            return;
        }
        cln_import_lost(I, nb, svc->pos, w,
                        "service \"%s\" was not converted: the step runs in a fresh container of "
                        "[test] default_image instead",
                        sv->key);
    }
    I->fresh_steps = true;
    if (I->memory_mb)
        cln_buf_printf(kb, "memory = \"%lldMiB\"\n", (long long)I->memory_mb);
}

static void put_step(struct cln_import *I, struct cln_buf *nb, struct cln_buf *kb)
{
    cln_buf_puts(&I->steps, "\n[[steps]]\n");
    cln_buf_append(&I->steps, nb->data, nb->len);
    cln_buf_append(&I->steps, kb->data, kb->len);
    I->nsteps++;
}

/* A [[steps]] table (or a scenario's steps, named "SCENARIO: NAME"). */
void cln_import_convert_step(struct cln_import *I, tv *st, const char *path, const char *scenario)
{
    if (!cln_import_want_type(I, st, CLN_TOML_TABLE, "a table", path))
        return;
    te *name = NULL, *cmd = NULL, *re = NULL, *wd = NULL, *env = NULL, *code = NULL, *cof = NULL,
       *svc = NULL, *desc = NULL;
    cleanup_buf struct cln_buf nb = CLN_BUF_INIT;
    cleanup_buf struct cln_buf kb = CLN_BUF_INIT;
    size_t errors = I->nerrors;
    const struct cln_import_slot strs[] = {{"name", &name},
                                           {"expected_output_regex", &re},
                                           {"workdir", &wd},
                                           {"service", &svc},
                                           {"description", &desc}};
    for (size_t i = 0; i < cln_toml_table_len(st); i++) {
        te *e = cln_toml_table_at(st, i);
        te **at = cln_import_slot_of(e, strs, CLN_ARRAY_SIZE(strs));
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), path, e);
        if (at) {
            if (cln_import_want_type(I, e->value, CLN_TOML_STRING, "a string", w))
                *at = e;
        } else if (cln_import_key_is(e, "command")) {
            if (cln_import_want_strings(I, e->value, w))
                cmd = e;
        } else if (cln_import_key_is(e, "env")) {
            if (cln_import_want_string_table(I, e->value, w))
                env = e;
        } else if (cln_import_key_is(e, "expected_exit_code")) {
            if (cln_import_want_type(I, e->value, CLN_TOML_INTEGER, "an integer", w))
                code = e;
        } else if (cln_import_key_is(e, "continue_on_failure")) {
            if (cln_import_want_type(I, e->value, CLN_TOML_BOOL, "a boolean", w))
                cof = e;
        } else {
            cln_import_lost(I, &nb, e->pos, w, "not a key of clnrm's steps: clnrm ignores it");
        }
    }
    if (!cmd || !cln_toml_array_len(cmd->value)) {
        if (I->nerrors == errors)
            cln_import_err_at(I, cmd ? cmd->value->pos : st->pos,
                              "%s has %s command (clnrm requires one)", path,
                              cmd ? "an empty" : "no");
        return;
    }
    char w[PATHLEN];
    if (desc)
        cln_toml_put_comment(&nb, "# ", desc->value->u.str.ptr);
    if (name || scenario) {
        cln_buf_puts(&kb, "name = ");
        cleanup_free char *n = NULL;
        if (name) {
            cln_import_path_of(w, sizeof(w), path, name);
            n = cln_import_conv_text(I, &nb, name->value->u.str.ptr, name->value->u.str.len,
                                     name->value->pos, w);
        }
        cleanup_free char *full = cln_xasprintf("%s%s%s", scenario ? scenario : "",
                                                scenario && n ? ": " : "", n ? n : "");
        cln_toml_put_cstr(&kb, full);
        cln_buf_putc(&kb, '\n');
    }
    put_where(I, &kb, &nb, svc, path);
    tv *a = cmd->value;
    size_t n = cln_toml_array_len(a);
    bool plain = true;
    for (size_t i = 0; i < n; i++)
        plain = plain && plain_word(cln_toml_array_at(a, i)->u.str.ptr);
    cln_import_path_of(w, sizeof(w), path, cmd);
    cln_buf_puts(&kb, "run = ");
    if (n == 1 && !plain) {
        cln_import_note(&nb, "command is one word a shell splits: run as `sh -c`, as clnrm does");
        cln_import_put_conv(I, &kb, &nb, cln_toml_array_at(a, 0), w);
    } else {
        if (!plain)
            cln_import_note(&nb,
                            "clnrm joins command with spaces and runs it with `sh -c`; here it is "
                            "the argv its docs describe, passed exactly");
        cln_import_put_conv_array(I, &kb, &nb, a, 0, w);
    }
    cln_buf_putc(&kb, '\n');
    if (wd) {
        cln_import_path_of(w, sizeof(w), path, wd);
        cln_buf_puts(&kb, "workdir = ");
        cln_import_put_conv(I, &kb, &nb, wd->value, w);
        cln_buf_putc(&kb, '\n');
    }
    if (env) {
        cln_import_path_of(w, sizeof(w), path, env);
        cln_import_put_env(I, &kb, &nb, env->value, w);
    }
    if (cof)
        cln_buf_printf(&kb, "continue_on_failure = %s\n", cof->value->u.boolean ? "true" : "false");
    if (code) {
        cln_import_path_of(w, sizeof(w), path, code);
        if (code->value->u.integer < 0 || code->value->u.integer > 255)
            cln_import_lost(I, &nb, code->pos, w, "%lld is not an exit code (0-255)",
                            (long long)code->value->u.integer);
        else
            cln_buf_printf(&kb, "expect.exit = %lld\n", (long long)code->value->u.integer);
    }
    if (re) {
        cln_import_path_of(w, sizeof(w), path, re);
        const char *p = re->value->u.str.ptr;
        bool anchored = strpbrk(p, "^$") != NULL;
        cleanup_free char *pat = cln_xasprintf("%s%s", anchored ? "(?-m)" : "", p);
        char msg[256];
        size_t off = 0;
        if (!cln_import_find2(p, strlen(p), '{', '{') &&
            cln_regex_check(pat, msg, sizeof(msg), &off) < 0) {
            cln_import_lost(I, &nb, re->pos, w, "PCRE2 cannot compile it: %s at offset %zu", msg,
                            off >= 5 && anchored ? off - 5 : off);
        } else {
            cleanup_free char *s =
                cln_import_conv_text(I, &nb, pat, strlen(pat), re->value->pos, w);
            if (s) {
                if (anchored)
                    cln_import_note(
                        &nb, "clnrm matches expected_output_regex on stdout with surrounding "
                             "whitespace trimmed, ^ and $ at its ends: (?-m) keeps that "
                             "(cleanrun's regexes are multiline)");
                cln_buf_puts(&kb, "expect.stdout.regex = ");
                cln_toml_put_cstr(&kb, s);
                cln_buf_putc(&kb, '\n');
            }
        }
    }
    if (I->nerrors == errors)
        put_step(I, &nb, &kb);
}

/* clnrm's split of a scenario's run: words separated by blanks, '...' and
 * "..." quote, '\' escapes the next character outside '...'.  -1 if a
 * quote is not closed. */
static int shell_split(const char *s, struct cln_strv *ret)
{
    struct cln_buf w = CLN_BUF_INIT;
    bool sq = false, dq = false, esc = false;
    for (const char *c = s; *c; c++) {
        if (esc) {
            cln_buf_putc(&w, *c);
            esc = false;
        } else if (*c == '\\' && !sq) {
            esc = true;
        } else if (*c == '\'' && !dq) {
            sq = !sq;
        } else if (*c == '"' && !sq) {
            dq = !dq;
        } else if ((*c == ' ' || *c == '\t') && !sq && !dq) {
            if (w.len)
                cln_strv_push(ret, cln_buf_steal(&w));
        } else {
            cln_buf_putc(&w, *c);
        }
    }
    if (w.len)
        cln_strv_push(ret, cln_buf_steal(&w));
    cln_buf_done(&w);
    return sq || dq ? -1 : 0;
}

void cln_import_convert_scenario(struct cln_import *I, tv *sc, const char *path)
{
    if (!cln_import_want_type(I, sc, CLN_TOML_TABLE, "a table", path))
        return;
    te *name = NULL, *steps = NULL, *svc = NULL, *run = NULL, *tmo = NULL;
    cleanup_buf struct cln_buf nb = CLN_BUF_INIT;
    cleanup_buf struct cln_buf kb = CLN_BUF_INIT;
    cleanup_strv struct cln_strv argv = {0};
    size_t errors = I->nerrors;
    const struct cln_import_slot strs[] = {{"name", &name}, {"service", &svc}, {"run", &run}};
    for (size_t i = 0; i < cln_toml_table_len(sc); i++) {
        te *e = cln_toml_table_at(sc, i);
        te **at = cln_import_slot_of(e, strs, CLN_ARRAY_SIZE(strs));
        char w[PATHLEN];
        cln_import_path_of(w, sizeof(w), path, e);
        if (at) {
            if (cln_import_want_type(I, e->value, CLN_TOML_STRING, "a string", w))
                *at = e;
        } else if (cln_import_key_is(e, "steps")) {
            if (cln_import_want_type(I, e->value, CLN_TOML_ARRAY, "an array of tables", w))
                steps = e;
        } else if (cln_import_key_is(e, "timeout_ms")) {
            if (cln_import_want_type(I, e->value, CLN_TOML_INTEGER, "an integer", w))
                tmo = e;
        } else if (cln_import_key_is(e, "concurrent")) {
            if (cln_import_want_type(I, e->value, CLN_TOML_BOOL, "a boolean", w) &&
                e->value->u.boolean)
                cln_import_lost(I, &nb, e->pos, w,
                                "cleanrun runs a test's steps one after another");
        } else if (cln_import_key_is(e, "policy")) {
            cln_import_lost(
                I, &nb, e->pos, w,
                "a security policy of clnrm's: cleanrun's hermetic defaults apply instead");
        } else if (cln_import_key_is(e, "artifacts")) {
            cln_import_lost(I, &nb, e->pos, w,
                            "collects OpenTelemetry spans and logs: cleanrun collects no spans");
        } else {
            cln_import_lost(I, &nb, e->pos, w, "not a key of clnrm's scenario: clnrm ignores it");
        }
    }
    if (!name || !name->value->u.str.len) {
        if (I->nerrors == errors)
            cln_import_err_at(I, name ? name->value->pos : sc->pos,
                              "%s needs a name (clnrm requires one)", path);
        return;
    }
    char w[PATHLEN];
    const char *sname = name->value->u.str.ptr;
    if (run && svc) {
        cln_import_path_of(w, sizeof(w), path, run);
        if (shell_split(run->value->u.str.ptr, &argv) < 0 || !argv.n) {
            cln_import_err_at(I, run->value->pos, "%s: %s (clnrm refuses it)", w,
                              argv.n ? "a quote is not closed" : "no command");
            return;
        }
        cleanup_free char *n =
            cln_import_conv_text(I, &nb, sname, strlen(sname), name->value->pos, path);
        if (!n)
            return;
        cln_buf_puts(&kb, "name = ");
        cln_toml_put_cstr(&kb, n);
        cln_buf_putc(&kb, '\n');
        put_where(I, &kb, &nb, svc, path);
        cln_buf_puts(&kb, "run = [");
        for (size_t i = 0; i < argv.n; i++) {
            cleanup_free char *s =
                cln_import_conv_text(I, &nb, argv.v[i], strlen(argv.v[i]), run->value->pos, w);
            if (i)
                cln_buf_puts(&kb, ", ");
            cln_toml_put_cstr(&kb, s ? s : "");
        }
        cln_buf_puts(&kb, "]\n");
        if (tmo) {
            cln_import_path_of(w, sizeof(w), path, tmo);
            if (tmo->value->u.integer > 0) {
                cln_import_put_duration(&kb, "timeout", (uint64_t)tmo->value->u.integer);
                cln_buf_putc(&kb, '\n');
            } else {
                cln_import_lost(I, &nb, tmo->pos, w, "not a positive number of milliseconds");
            }
        }
        if (I->nerrors == errors) {
            put_step(I, &nb, &kb);
            cln_buf_clear(&nb);
        }
    } else if (run || svc) {
        te *e = run ? run : svc;
        cln_import_path_of(w, sizeof(w), path, e);
        cln_import_lost(I, &nb, e->pos, w,
                        "clnrm runs a scenario's run in its service: it needs both");
    }
    if (tmo && !(run && svc)) {
        cln_import_path_of(w, sizeof(w), path, tmo);
        cln_import_lost(I, &nb, tmo->pos, w, "cleanrun has timeouts per step and per test only");
    }
    if (nb.len) { /* what was lost of a scenario that made no step of its own */
        cln_buf_puts(&I->steps, "\n");
        cln_buf_append(&I->steps, nb.data, nb.len);
        cln_buf_clear(&nb);
    }
    if (steps) {
        cln_import_path_of(w, sizeof(w), path, steps);
        cleanup_free char *n =
            cln_import_conv_text(I, &I->steps, sname, strlen(sname), name->value->pos, path);
        for (size_t i = 0; n && i < cln_toml_array_len(steps->value); i++) {
            char sw[PATHLEN];
            cln_import_pathf(sw, sizeof(sw), "%s[%zu]", w, i);
            cln_import_convert_step(I, cln_toml_array_at(steps->value, i), sw, n);
        }
    }
}
