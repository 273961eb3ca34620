/* Unit tests: errors, buffers, durations, logging. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/log.h"

/* ---- errors ---- */

Test(error, set_returns_negative_code_and_fills_chain)
{
    cleanup_error struct cln_error *err = NULL;
    int r = cln_error_set(&err, CLN_E_IO, ENOENT, "open %s", "/nope");
    cr_assert_eq(r, -CLN_E_IO);
    cr_assert_not_null(err);
    cr_assert_str_eq(err->msg, "open /nope");
    cr_assert_eq(err->sys_errno, ENOENT);
    cr_assert_null(err->cause);
}

Test(error, wrap_pushes_context_and_keeps_code)
{
    cleanup_error struct cln_error *err = NULL;
    cln_error_set(&err, CLN_E_IO, ENOENT, "open /etc/x");
    int r = cln_error_wrap(&err, "load spec %s", "a.toml");
    cr_assert_eq(r, -CLN_E_IO);
    cr_assert_str_eq(err->msg, "load spec a.toml");
    cr_assert_str_eq(err->cause->msg, "open /etc/x");
    cr_assert_eq(cln_error_root_code(err), CLN_E_IO);
    cr_assert(cln_error_has_code(err, CLN_E_IO));
    cr_assert_not(cln_error_has_code(err, CLN_E_BACKEND));
}

Test(error, render_is_one_line_outer_to_inner_with_strerror)
{
    cleanup_error struct cln_error *err = NULL;
    cln_error_set(&err, CLN_E_IO, ENOENT, "open /etc/x");
    cln_error_wrap(&err, "load spec");
    char *s = cln_error_render(err);
    cr_assert_str_eq(s, "load spec: open /etc/x: No such file or directory");
    free(s);
}

Test(error, render_includes_backend_detail)
{
    cleanup_error struct cln_error *err = NULL;
    cln_error_set(&err, CLN_E_NOT_FOUND, 0, "inspect container abc");
    struct cln_backend_detail *d = cln_backend_detail_new("docker");
    d->http_status = 404;
    d->api_message = strdup("No such container: abc");
    cln_error_set_detail(err, d);
    cln_error_wrap(&err, "step 2");
    char *s = cln_error_render(err);
    cr_assert_str_eq(s, "step 2: inspect container abc (docker, HTTP 404: No such container: abc)");
    free(s);
}

Test(error, render_exit_status_and_cause)
{
    cleanup_error struct cln_error *err = NULL;
    cln_error_set(&err, CLN_E_BACKEND, 0, "container run");
    struct cln_backend_detail *d = cln_backend_detail_new("apple");
    d->exit_status = 1;
    d->api_message = strdup("Error: notFound");
    d->api_cause = strdup("image missing");
    cln_error_set_detail(err, d);
    char *s = cln_error_render(err);
    cr_assert_str_eq(s,
                     "container run (apple, exit status 1: Error: notFound; cause: image missing)");
    free(s);
}

Test(error, json_lists_layers_outermost_first)
{
    cleanup_error struct cln_error *err = NULL;
    cln_error_set(&err, CLN_E_TRANSPORT, ECONNREFUSED, "connect /var/run/docker.sock");
    struct cln_backend_detail *d = cln_backend_detail_new("docker");
    d->curl_code = 7;
    cln_error_set_detail(err, d);
    cln_error_wrap(&err, "ping");
    cJSON *j = cln_error_to_json(err);
    cr_assert_eq(cJSON_GetArraySize(j), 2);
    cJSON *outer = cJSON_GetArrayItem(j, 0), *inner = cJSON_GetArrayItem(j, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(outer, "message")->valuestring, "ping");
    cr_assert_str_eq(cJSON_GetObjectItem(inner, "code")->valuestring, "transport");
    cr_assert_eq(cJSON_GetObjectItem(inner, "errno")->valueint, ECONNREFUSED);
    cJSON *b = cJSON_GetObjectItem(inner, "backend");
    cr_assert_str_eq(cJSON_GetObjectItem(b, "name")->valuestring, "docker");
    cr_assert_eq(cJSON_GetObjectItem(b, "curl_code")->valueint, 7);
    cJSON_Delete(j);
}

Test(error, free_is_null_safe)
{
    cln_error_free(NULL);
    cln_backend_detail_free(NULL);
}

/* ---- buffers ---- */

Test(buf, append_printf_and_steal)
{
    struct cln_buf b = CLN_BUF_INIT;
    cln_buf_puts(&b, "abc");
    cln_buf_putc(&b, '-');
    cln_buf_printf(&b, "%d/%s", 42, "x");
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "abc-42/x");
    char *s = cln_buf_steal(&b);
    cr_assert_str_eq(s, "abc-42/x");
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    free(s);
}

Test(buf, long_printf_and_binary_data)
{
    cleanup_buf struct cln_buf b = CLN_BUF_INIT;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cln_buf_printf(&b, "<%s>", big);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(b.data[1000], '>');
    cln_buf_append(&b, "\0\1", 2);
    cr_assert_eq(b.len, 1003);
    cr_assert_eq(b.data[1001], '\0');
    cr_assert_eq(b.data[1003], '\0');
}

Test(buf, consume_and_clear)
{
    cleanup_buf struct cln_buf b = CLN_BUF_INIT;
    cln_buf_puts(&b, "hello world");
    cln_buf_consume(&b, 6);
    cr_assert_str_eq(b.data, "world");
    cln_buf_consume(&b, 100);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    char *s = cln_buf_steal(&b);
    cr_assert_str_eq(s, "");
    free(s);
}

Test(buf, steal_of_empty_buffer_is_empty_string)
{
    struct cln_buf b = CLN_BUF_INIT;
    char *s = cln_buf_steal(&b);
    cr_assert_str_eq(s, "");
    free(s);
}

/* ---- durations ---- */

static uint64_t dur(const char *s)
{
    uint64_t ms = 12345;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_eq(cln_duration_parse(s, &ms, &err), 0, "\"%s\" should parse", s);
    return ms;
}

Test(duration, accepts_the_documented_forms)
{
    cr_assert_eq(dur("150ms"), 150);
    cr_assert_eq(dur("5s"), 5000);
    cr_assert_eq(dur("2m"), 120000);
    cr_assert_eq(dur("1h30m"), 5400000);
    cr_assert_eq(dur("1h2m3s4ms"), 3723004);
    cr_assert_eq(dur("1.5s"), 1500);
    cr_assert_eq(dur("0.25m"), 15000);
    cr_assert_eq(dur("0"), 0);
    cr_assert_eq(dur("0s"), 0);
}

static void dur_bad(const char *s, const char *why)
{
    uint64_t ms = 777;
    cleanup_error struct cln_error *err = NULL;
    cr_assert_lt(cln_duration_parse(s, &ms, &err), 0, "\"%s\" should be rejected", s);
    cr_assert_eq(ms, 777, "ret must not be written on failure");
    cr_assert_eq(err->code, CLN_E_INVALID);
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", s);
    cr_assert(strstr(err->msg, quoted), "message names the text: %s", err->msg);
    cr_assert(strstr(err->msg, why), "message says why (%s): %s", why, err->msg);
}

Test(duration, rejects_bad_input_naming_the_text)
{
    dur_bad("", "empty");
    dur_bad("5", "missing unit");
    dur_bad("5x", "unknown unit");
    dur_bad("5 s", "missing unit");
    dur_bad("1s1h", "largest first");
    dur_bad("1s1s", "largest first");
    dur_bad("-5s", "expected a number");
    dur_bad("s", "expected a number");
    dur_bad("1.s", "digits");
    dur_bad("99999999999999999999h", "too large");
    dur_bad("6000000000000h", "too large");
}

Test(duration, format_is_compact)
{
    char b[32];
    cr_assert_str_eq(cln_duration_format(150, b, sizeof(b)), "150ms");
    cr_assert_str_eq(cln_duration_format(2500, b, sizeof(b)), "2.500s");
    cr_assert_str_eq(cln_duration_format(125000, b, sizeof(b)), "2m05s");
    cr_assert_str_eq(cln_duration_format(5400000, b, sizeof(b)), "1h30m00s");
}

Test(duration, limits_read_as_written)
{
    char b[32];
    static const struct {
        uint64_t ms;
        const char *s;
    } cases[] = {{3000, "3s"},   {1500, "1.5s"},    {1250, "1.25s"},      {90000, "1m30s"},
                 {250, "250ms"}, {7200000, "2h"},   {3600500, "1h500ms"}, {0, "0ms"},
                 {60000, "1m"},  {61001, "1m1s1ms"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_str_eq(cln_duration_format_limit(cases[i].ms, b, sizeof(b)), cases[i].s);
        uint64_t back = 0;
        cleanup_error struct cln_error *err = NULL;
        if (cases[i].ms)
            cr_assert(cln_duration_parse(b, &back, &err) == 0 && back == cases[i].ms, "%s", b);
    }
}

/* ---- logging ---- */

struct captured {
    int n;
    enum cln_log_level level;
    char last[128];
};

static void capture(enum cln_log_level level, const char *msg, void *ud)
{
    struct captured *c = ud;
    c->n++;
    c->level = level;
    snprintf(c->last, sizeof(c->last), "%s", msg);
}

Test(log, goes_to_the_installed_sink_only_up_to_its_level)
{
    struct captured c = {0};
    cln_log(CLN_LOG_ERROR, "dropped: no sink");
    cln_log_set_sink(capture, &c, CLN_LOG_INFO);
    cln_log(CLN_LOG_INFO, "hello %d", 7);
    cln_log(CLN_LOG_DEBUG, "too verbose");
    cr_assert_eq(c.n, 1);
    cr_assert_str_eq(c.last, "hello 7");
    cr_assert_eq(c.level, CLN_LOG_INFO);
    cr_assert(cln_log_enabled(CLN_LOG_WARN));
    cr_assert_not(cln_log_enabled(CLN_LOG_DEBUG));
    cln_log_set_sink(NULL, NULL, CLN_LOG_ERROR);
    cln_log(CLN_LOG_ERROR, "dropped again");
    cr_assert_eq(c.n, 1);
}
