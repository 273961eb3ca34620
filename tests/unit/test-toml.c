/* Unit tests: the TOML parser's tree, positions, getters and messages.
 * (Conformance to TOML 1.0 as a whole is checked by the toml-test corpus.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/toml/toml-json.h"
#include "harness/toml/toml.h"
#include "runtime/base/error.h"

static struct cln_toml_doc *parse_ok(const char *text)
{
    struct cln_toml_doc *doc = NULL;
    cleanup_error struct cln_error *err = NULL;
    int r = cln_toml_parse(text, strlen(text), "spec.toml", &doc, &err);
    if (r < 0) {
        char *m = cln_error_render(err);
        cr_assert_fail("unexpected parse error: %s", m);
        free(m);
        return NULL;
    }
    return doc;
}

/* Parse text that must fail; return the rendered message (caller frees). */
static char *parse_err(const char *text)
{
    struct cln_toml_doc *doc = NULL;
    cleanup_error struct cln_error *err = NULL;
    int r = cln_toml_parse(text, strlen(text), "spec.toml", &doc, &err);
    cr_assert_lt(r, 0, "should be rejected: %s", text);
    cr_assert_null(doc);
    cr_assert_eq(err->code, CLN_E_PARSE);
    return cln_error_render(err);
}

#define assert_err(text, expected)                                                                 \
    do {                                                                                           \
        char *m_ = parse_err(text);                                                                \
        cr_assert_str_eq(m_, expected);                                                            \
        free(m_);                                                                                  \
    } while (0)

Test(toml, scalars_have_types_values_and_positions)
{
    struct cln_toml_doc *doc = parse_ok("name = \"web\"\n"
                                        "  port = 8080\n"
                                        "ratio = 0.5\n"
                                        "on = true\n"
                                        "when = 1979-05-27T07:32:00-07:00\n");
    const struct cln_toml_value *root = cln_toml_root(doc);
    cr_assert_eq(cln_toml_table_len(root), 5);
    const struct cln_toml_entry *e = cln_toml_table_find(root, "port");
    cr_assert_not_null(e);
    cr_assert_eq(e->value->type, CLN_TOML_INTEGER);
    cr_assert_eq(e->value->u.integer, 8080);
    cr_assert_eq(e->pos.line, 2);
    cr_assert_eq(e->pos.col, 3);
    cr_assert_eq(e->value->pos.line, 2);
    cr_assert_eq(e->value->pos.col, 10);
    e = cln_toml_table_find(root, "when");
    cr_assert_eq(e->value->type, CLN_TOML_DATETIME);
    cr_assert_eq(e->value->u.dt.offset_minutes, -420);
    cr_assert_eq(e->value->u.dt.year, 1979);
    cr_assert_eq(cln_toml_table_find(root, "ratio")->value->u.flt, 0.5);
    cr_assert(cln_toml_table_find(root, "on")->value->u.boolean);
    cr_assert_null(cln_toml_table_find(root, "missing"));
    cln_toml_free(doc);
}

Test(toml, columns_count_characters_not_bytes)
{
    struct cln_toml_doc *doc = parse_ok("\"é€\" = 1 \n  x = [\"ü\", 2]\n");
    const struct cln_toml_value *root = cln_toml_root(doc);
    const struct cln_toml_entry *e = cln_toml_table_find(root, "x");
    const struct cln_toml_value *second = cln_toml_array_at(e->value, 1);
    cr_assert_eq(second->pos.line, 2);
    cr_assert_eq(second->pos.col, 13);
    cln_toml_free(doc);
    assert_err("\"é€\" = 1 x\n", "spec.toml:1:10: expected end of line after value, found 'x'");
}

Test(toml, iteration_is_in_document_order)
{
    struct cln_toml_doc *doc = parse_ok("z = 1\na = 2\nm = 3\n[b]\n[aa]\n");
    const struct cln_toml_value *root = cln_toml_root(doc);
    const char *want[] = {"z", "a", "m", "b", "aa"};
    cr_assert_eq(cln_toml_table_len(root), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(cln_toml_table_at(root, i)->key, want[i]);
    cr_assert_null(cln_toml_table_at(root, 5));
    cln_toml_free(doc);
}

Test(toml, many_keys_use_the_hash_index)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    for (int i = 0; i < 5000; i++)
        fprintf(f, "key%d = %d\n", i, i);
    fclose(f);
    struct cln_toml_doc *doc = parse_ok(text);
    const struct cln_toml_value *root = cln_toml_root(doc);
    cr_assert_eq(cln_toml_table_len(root), 5000);
    for (int i = 0; i < 5000; i += 7) {
        char k[16];
        snprintf(k, sizeof(k), "key%d", i);
        const struct cln_toml_entry *e = cln_toml_table_find(root, k);
        cr_assert_not_null(e, "%s", k);
        cr_assert_eq(e->value->u.integer, i);
        cr_assert_eq(e->pos.line, (uint32_t)i + 1);
    }
    cr_assert_null(cln_toml_table_find(root, "key5000"));
    cln_toml_free(doc);
    free(text);
    char *m = parse_err("a1=1\na2=1\na3=1\na4=1\na5=1\na6=1\na7=1\na8=1\na9=1\na5=2\n");
    cr_assert_str_eq(m, "spec.toml:10:1: duplicate key \"a5\" (first defined at 5:1)");
    free(m);
}

Test(toml, tables_arrays_of_tables_and_dotted_keys)
{
    struct cln_toml_doc *doc = parse_ok("[server]\n"
                                        "image.name = \"busybox\"\n"
                                        "[[steps]]\n"
                                        "run = [\"echo\", \"a b\"]\n"
                                        "[[steps]]\n"
                                        "run = \"true\"\n");
    const struct cln_toml_value *root = cln_toml_root(doc);
    const struct cln_toml_value *server = NULL, *steps = NULL;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_toml_get_table(doc, root, "server", &server, &err), 1);
    const struct cln_toml_value *image = NULL;
    cr_assert_eq(cln_toml_get_table(doc, server, "image", &image, &err), 1);
    const char *name = NULL;
    cr_assert_eq(cln_toml_get_string(doc, image, "name", &name, &err), 1);
    cr_assert_str_eq(name, "busybox");
    cr_assert_eq(cln_toml_get_array(doc, root, "steps", &steps, &err), 1);
    cr_assert_eq(cln_toml_array_len(steps), 2);
    const struct cln_toml_value *run = NULL;
    cr_assert_eq(cln_toml_get_array(doc, cln_toml_array_at(steps, 0), "run", &run, &err), 1);
    const char *arg = NULL;
    cr_assert_eq(cln_toml_as_string(doc, cln_toml_array_at(run, 1), "run[1]", &arg, &err), 1);
    cr_assert_str_eq(arg, "a b");
    cr_assert_null(err);
    cln_toml_free(doc);
}

Test(toml, getters_report_absent_and_wrong_type_with_position)
{
    struct cln_toml_doc *doc = parse_ok("[test]\nname = \"x\"\ntimeout = 30\n");
    const struct cln_toml_value *test = cln_toml_table_find(cln_toml_root(doc), "test")->value;
    cleanup_error struct cln_error *err = NULL;
    const char *s = "untouched";
    cr_assert_eq(cln_toml_get_string(doc, test, "image", &s, &err), 0);
    cr_assert_str_eq(s, "untouched");
    cr_assert_null(err);
    cr_assert_lt(cln_toml_get_string(doc, test, "timeout", &s, &err), 0);
    cr_assert_str_eq(s, "untouched");
    cr_assert_eq(err->code, CLN_E_SPEC);
    cr_assert_str_eq(err->msg, "spec.toml:3:11: \"timeout\" must be a string, not an integer");
    cln_error_free(err);
    err = NULL;
    int64_t n = 0;
    cr_assert_lt(cln_toml_get_integer(doc, test, "name", &n, &err), 0);
    cr_assert_str_eq(err->msg, "spec.toml:2:8: \"name\" must be an integer, not a string");
    cln_error_free(err);
    err = NULL;
    bool b;
    cr_assert_lt(cln_toml_get_bool(doc, test, "name", &b, &err), 0);
    cln_error_free(err);
    err = NULL;
    double d;
    cr_assert_lt(cln_toml_get_float(doc, test, "timeout", &d, &err), 0);
    cr_assert_str_eq(err->msg, "spec.toml:3:11: \"timeout\" must be a float, not an integer");
    cln_toml_free(doc);
}

Test(toml, strings_all_forms)
{
    struct cln_toml_doc *doc = parse_ok("a = \"tab\\there \\u00e9 \\U0001F600\"\n"
                                        "b = 'C:\\path'\n"
                                        "c = \"\"\"\nline1\nline2 \\\n    joined\"\"\"\n"
                                        "d = '''\n raw \\n '''\n"
                                        "e = \"\"\"\"quoted\"\"\"\"\n"
                                        "f = \"nul\\u0000inside\"\n");
    const struct cln_toml_value *r = cln_toml_root(doc);
    cr_assert_str_eq(cln_toml_table_find(r, "a")->value->u.str.ptr, "tab\there é 😀");
    cr_assert_str_eq(cln_toml_table_find(r, "b")->value->u.str.ptr, "C:\\path");
    cr_assert_str_eq(cln_toml_table_find(r, "c")->value->u.str.ptr, "line1\nline2 joined");
    cr_assert_str_eq(cln_toml_table_find(r, "d")->value->u.str.ptr, " raw \\n ");
    cr_assert_str_eq(cln_toml_table_find(r, "e")->value->u.str.ptr, "\"quoted\"");
    const struct cln_toml_value *f = cln_toml_table_find(r, "f")->value;
    cr_assert_eq(f->u.str.len, 10);
    cr_assert_eq(memcmp(f->u.str.ptr, "nul\0inside", 10), 0);
    cln_toml_free(doc);
}

Test(toml, numbers)
{
    struct cln_toml_doc *doc =
        parse_ok("a = 0xDEAD_beef\nb = 0o755\nc = 0b1010\nd = -9223372036854775808\n"
                 "e = 1_000\nf = 6.626e-34\ng = -inf\nh = nan\ni = +0.0\n");
    const struct cln_toml_value *r = cln_toml_root(doc);
    cr_assert_eq(cln_toml_table_find(r, "a")->value->u.integer, 0xDEADBEEF);
    cr_assert_eq(cln_toml_table_find(r, "b")->value->u.integer, 0755);
    cr_assert_eq(cln_toml_table_find(r, "c")->value->u.integer, 10);
    cr_assert_eq(cln_toml_table_find(r, "d")->value->u.integer, INT64_MIN);
    cr_assert_eq(cln_toml_table_find(r, "e")->value->u.integer, 1000);
    cr_assert_float_eq(cln_toml_table_find(r, "f")->value->u.flt, 6.626e-34, 1e-40);
    cr_assert(isinf(cln_toml_table_find(r, "g")->value->u.flt));
    cr_assert(isnan(cln_toml_table_find(r, "h")->value->u.flt));
    cln_toml_free(doc);
}

Test(toml, error_messages_name_file_line_and_column)
{
    assert_err("image = \"a\"\n\nimage = \"b\"\n",
               "spec.toml:3:1: duplicate key \"image\" (first defined at 1:1)");
    assert_err("[svc]\nx = 1\n[svc]\n",
               "spec.toml:3:2: duplicate table \"svc\" (first defined at 1:2)");
    assert_err("a = 9223372036854775808\n",
               "spec.toml:1:5: integer 9223372036854775808 does not fit in 64 bits");
    assert_err("a = \"unterminated\nb = 1\n",
               "spec.toml:1:5: unterminated string (a single-line string must close on the same "
               "line)");
    assert_err("a = tru\n",
               "spec.toml:1:5: invalid value (booleans are true and false, in lower case; strings "
               "need quotes)");
    assert_err("a = hello\n", "spec.toml:1:5: expected a value, found 'h' (strings need quotes)");
    assert_err("a = 1\nb = \"\\q\"\n",
               "spec.toml:2:6: invalid escape sequence \\'q' (valid: \\b \\t \\n \\f \\r \\\" \\\\ "
               "\\uXXXX \\UXXXXXXXX)");
    assert_err("x = 2021-02-30\n", "spec.toml:1:5: invalid date: day 30 out of range for 2021-02");
    assert_err("x = [1, 2\n", "spec.toml:1:5: unterminated array (missing ']')");
    assert_err("x = {a = 1,\n", "spec.toml:1:12: unterminated inline table (an inline table must "
                                "close on the same line)");
    assert_err("x = 01\n", "spec.toml:1:5: leading zeros are not allowed in a decimal number");
    assert_err("x = 1__0\n",
               "spec.toml:1:5: invalid number: an underscore must be between two digits");
    assert_err("= 1\n",
               "spec.toml:1:1: expected a key (letters, digits, '_', '-', or a quoted string), "
               "found '='");
    assert_err("a b = 1\n", "spec.toml:1:3: expected '=' after key, found 'b'");
    assert_err("a = 1\r\nb = 2\rc = 3\n",
               "spec.toml:2:6: carriage return not followed by a line feed (bare CR is not a "
               "newline in TOML)");
    assert_err("a = \"\x01\"\n", "spec.toml:1:6: control character U+0001 is not allowed");
    assert_err("a = \"\xC3\x28\"\n", "spec.toml:1:6: invalid UTF-8 sequence");
    assert_err("a = \"\xED\xA0\x80\"\n", "spec.toml:1:6: UTF-8 encoded surrogate U+D800");
}

Test(toml, redefinition_rules)
{
    assert_err("[a.b]\nz = 1\n[a]\nb.c = 2\n",
               "spec.toml:4:1: cannot add keys to table \"b\" with dotted keys here: it was "
               "defined by a table header (at 1:4)");
    assert_err("a = {b = 1}\na.c = 2\n",
               "spec.toml:2:1: cannot add keys to inline table \"a\" (defined at 1:1): an "
               "inline table is complete once closed");
    assert_err("a.b = 1\n[a]\n", "spec.toml:2:2: cannot define table \"a\" with a header: dotted "
                                 "keys already defined it (at 1:1)");
    assert_err("a = []\n[[a]]\n", "spec.toml:2:3: cannot append to \"a\" with [[...]]: it is an "
                                  "array value (defined at 1:1)");
    assert_err("[[a]]\n[a]\n",
               "spec.toml:2:2: table \"a\" conflicts with the array of tables defined at 1:3");
    assert_err("a = 1\n[a.b]\n",
               "spec.toml:2:2: cannot define a table under \"a\": it is not a table (defined at "
               "1:1)");
    /* The allowed ones: super-table after sub-table, tables under dotted ones. */
    cln_toml_free(parse_ok("[a.b]\n[a]\nc = 1\n"));
    cln_toml_free(parse_ok("[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n"));
    cln_toml_free(parse_ok("[[a]]\n[a.b]\n[[a]]\n[a.b]\n"));
}

Test(toml, bom_crlf_and_empty_input)
{
    struct cln_toml_doc *doc = parse_ok("\xEF\xBB\xBF"
                                        "a = 1\r\nb = 2\r\n");
    const struct cln_toml_entry *b = cln_toml_table_find(cln_toml_root(doc), "b");
    cr_assert_eq(b->pos.line, 2);
    cr_assert_eq(b->pos.col, 1);
    cln_toml_free(doc);
    doc = parse_ok("");
    cr_assert_eq(cln_toml_table_len(cln_toml_root(doc)), 0);
    cln_toml_free(doc);
}

Test(toml, deep_nesting_is_an_error_not_a_crash)
{
    char text[2000];
    size_t n = 0;
    n += (size_t)snprintf(text, sizeof(text), "a = ");
    for (int i = 0; i < 500; i++)
        text[n++] = '[';
    text[n] = '\0';
    char *m = parse_err(text);
    cr_assert(strstr(m, "nested deeper than 128"), "%s", m);
    free(m);
}

Test(toml, parse_file_reads_and_names_the_file)
{
    char path[] = "/tmp/cleanrun-toml-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char text[] = "ok = true\nbad = \n";
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    struct cln_toml_doc *doc = NULL;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_lt(cln_toml_parse_file(path, &doc, &err), 0);
    char want[128];
    snprintf(want, sizeof(want), "%s:2:7: expected a value, found end of line", path);
    cr_assert_str_eq(err->msg, want);
    unlink(path);
    cln_error_free(err);
    err = NULL;
    cr_assert_lt(cln_toml_parse_file("/nonexistent/x.toml", &doc, &err), 0);
    cr_assert_eq(err->code, CLN_E_IO);
    char *m = cln_error_render(err);
    cr_assert_str_eq(m, "cannot open /nonexistent/x.toml: No such file or directory");
    free(m);
}

Test(toml, tagged_json_rendering)
{
    struct cln_toml_doc *doc = parse_ok("s = \"q\\\"\\u0001\"\nt = 07:32:00.5\nd = 2000-01-02\n"
                                        "o = 2000-01-02T03:04:05+05:30\n[[x]]\n");
    cleanup_buf struct cln_buf out = CLN_BUF_INIT;
    cln_toml_to_tagged_json(cln_toml_root(doc), &out);
    cr_assert_str_eq(out.data,
                     "{\"s\":{\"type\":\"string\",\"value\":\"q\\\"\\u0001\"},"
                     "\"t\":{\"type\":\"time-local\",\"value\":\"07:32:00.5\"},"
                     "\"d\":{\"type\":\"date-local\",\"value\":\"2000-01-02\"},"
                     "\"o\":{\"type\":\"datetime\",\"value\":\"2000-01-02T03:04:05+05:30\"},"
                     "\"x\":[{}]}");
    cln_toml_free(doc);
}
