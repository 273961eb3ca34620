/* Unit tests of text for people (harness/text.c) and of the byte-exact
 * comparisons of expectations (harness/assert.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness/expect.h"
#include "harness/runner.h"
#include "harness/text.h"

Test(text, control_characters_never_reach_the_terminal_raw)
{
    /* a clear screen, an OSC title, a bell, a carriage return over a line */
    static const char evil[] = "\033[2J\033]0;pwned\007ok\rPASS\x7f";
    char *v = cln_text_visible(evil, sizeof(evil) - 1, 0, CLN_VIS_KEEP_NEWLINES);
    cr_assert_str_eq(v, "^[[2J^[]0;pwned^Gok^MPASS^?");
    for (const char *p = v; *p; p++)
        cr_assert((unsigned char)*p >= 0x20, "raw control byte 0x%02x", (unsigned char)*p);
    free(v);
    char *n = cln_text_name("a name\nwith a line\033[31m");
    cr_assert_str_eq(n, "a name^Jwith a line^[[31m");
    free(n);
}

Test(text, nul_invalid_utf8_and_c1_controls_are_visible)
{
    static const char s[] = "a\0b \xff \xc2\x9b x \xc3\xa9";
    char *v = cln_text_visible(s, sizeof(s) - 1, 0, 0);
    cr_assert_str_eq(v, "a^@b \\xff \\xc2\\x9b x \xc3\xa9");
    free(v);
}

Test(text, trailing_spaces_are_marked_and_long_text_is_cut_saying_so)
{
    char *v = cln_text_visible("a \nb\t\nc", 7, 0,
                               CLN_VIS_KEEP_NEWLINES | CLN_VIS_MARK_EOL_SPACE | CLN_VIS_KEEP_TABS);
    cr_assert_str_eq(v, "a $\nb\t$\nc");
    free(v);
    char big[1000];
    memset(big, 'x', sizeof(big));
    v = cln_text_visible(big, sizeof(big), 100, 0);
    cr_assert(strstr(v, "... (900 more bytes not shown)"), "%s", v);
    cr_assert_lt(strlen(v), 200);
    free(v);
}

/* equals compares lengths and bytes: a NUL is not the end (this code once
 * passed equals = "a" on output "a\0b"); the diff shows the difference. */
Test(expect, equals_is_byte_exact_and_its_diff_shows_nul)
{
    struct cln_spec_expect x = {.exit_kind = CLN_EXIT_EXPECT_ANY};
    x.out.equals = (char *)"a";
    x.out.empty = x.err.empty = -1;
    struct cln_attempt a = {0};
    cln_buf_append(&a.out.data, "a\0b", 3);
    a.out.total = 3;
    cln_check_expectations(&x, &a);
    cr_assert_eq(a.nfailures, 1);
    cr_assert_str_eq(a.failures[0].what, "stdout equals");
    cr_assert(strstr(a.failures[0].diff, "- a\n") && strstr(a.failures[0].diff, "+ a^@b\n"), "%s",
              a.failures[0].diff);
    cr_assert_str_eq(a.failures[0].actual, "a^@b");
    cln_buf_done(&a.out.data);
    free(a.failures[0].what);
    free(a.failures[0].expected);
    free(a.failures[0].actual);
    free(a.failures[0].diff);
    free(a.failures);
}

Test(expect, file_content_is_byte_exact)
{
    struct cln_capture c = {0};
    cln_buf_append(&c.data, "a\0b", 3);
    c.total = 3;
    struct cln_attempt a = {0};
    cln_check_content("file /x", "a", 1, NULL, &c, &a);
    cr_assert_eq(a.nfailures, 1);
    cr_assert_str_eq(a.failures[0].what, "file /x equals");
    struct cln_attempt ok = {0};
    cln_check_content("file /x", "a\0b", 3, NULL, &c, &ok);
    cr_assert_eq(ok.nfailures, 0);
    cln_buf_done(&c.data);
    free(a.failures[0].what);
    free(a.failures[0].expected);
    free(a.failures[0].actual);
    free(a.failures[0].diff);
    free(a.failures);
}

/* What a failure quotes is capped (the 8 MiB kept output once went into
 * the human output twice), saying how much was cut. */
Test(expect, failures_quote_at_most_the_cap)
{
    size_t n = 1 << 20;
    struct cln_spec_expect x = {.exit_kind = CLN_EXIT_EXPECT_ANY};
    x.out.empty = x.err.empty = -1;
    char *needle = (char *)"not there";
    x.out.contains.v = &needle;
    x.out.contains.n = 1;
    struct cln_attempt a = {0};
    cln_buf_reserve(&a.out.data, n);
    for (size_t i = 0; i < n; i++)
        cln_buf_putc(&a.out.data, 'y');
    a.out.total = n;
    cln_check_expectations(&x, &a);
    cr_assert_eq(a.nfailures, 1);
    cr_assert_lt(strlen(a.failures[0].actual), CLN_QUOTE_CAP + 100);
    cr_assert(strstr(a.failures[0].actual, "more bytes not shown"), "cut, and says so");
    cln_buf_done(&a.out.data);
    free(a.failures[0].what);
    free(a.failures[0].expected);
    free(a.failures[0].actual);
    free(a.failures);
}

/* wget -S headers: only status lines count, not a header that says
 * "HTTP/" (Python's http.server: "Server: BaseHTTP/0.6 Python/3.11.2") */
Test(text, http_status_of_wget_headers)
{
    const char *h = "Connecting to 127.0.0.1:8080 (127.0.0.1:8080)\n"
                    "  HTTP/1.0 200 OK\n"
                    "  Server: BaseHTTP/0.6 Python/3.11.2\n"
                    "  Date: Mon, 07 Dec 2026 11:00:00 GMT\n";
    cr_assert_eq(cln_text_http_status(h, strlen(h)), 200);
    const char *r = "  HTTP/1.1 302 Found\n  Location: /x\n  HTTP/1.1 404 Not Found\n"
                    "  X-Via: HTTP/2 proxy\n";
    cr_assert_eq(cln_text_http_status(r, strlen(r)), 404, "the last status line");
    cr_assert_eq(cln_text_http_status("wget: can't connect\n", 20), 0);
    cr_assert_eq(cln_text_http_status(NULL, 0), 0);
}
