/* Reports, what every format shares: text made safe for each format, the
 * run's times and counts, and writing a report file atomically.  The
 * formats: report-json.c (cJSON), report-junit.c (libxml2's xmlwriter),
 * report-tap.c (TAP 13 with YAML from libyaml's emitter). */
#include "report-internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/xmlstring.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

/* ---- text ---- */

static bool keep_char(int c, enum cln_text_mode mode)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return true;
    switch (mode) {
    case CLN_TEXT_JSON:
        return c != 0;
    case CLN_TEXT_XML: /* XML 1.0 Char */
        return (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000;
    case CLN_TEXT_YAML: /* what libyaml writes without escapes YAMLish cannot read */
        return !(c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029 ||
                 c == 0xFEFF || c == 0xFFFE || c == 0xFFFF);
    }
    return true;
}

char *cln_text_clean(const char *data, size_t len, enum cln_text_mode mode, size_t *ret_changed)
{
    struct cln_buf b = CLN_BUF_INIT;
    size_t changed = 0;
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        int n = (int)(len - i > 4 ? 4 : len - i);
        int c = p[i] < 0x80 ? p[i] : xmlGetUTF8Char(p + i, &n);
        if (p[i] < 0x80)
            n = 1;
        if (c < 0 || n <= 0) { /* an invalid byte */
            if (mode != CLN_TEXT_XML)
                cln_buf_puts(&b, "\xEF\xBF\xBD");
            changed++;
            i++;
            continue;
        }
        if (!keep_char(c, mode)) {
            if (mode != CLN_TEXT_XML)
                cln_buf_puts(&b, "\xEF\xBF\xBD");
            changed += (size_t)n;
        } else {
            cln_buf_append(&b, (const char *)p + i, (size_t)n);
        }
        i += (size_t)n;
    }
    if (ret_changed)
        *ret_changed = changed;
    if (!b.data)
        cln_buf_puts(&b, "");
    return cln_buf_steal(&b);
}

void cln_report_iso_time(int64_t unix_ms, bool with_ms, char *out, size_t size)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms && n + 6 < size)
        snprintf(out + n, size - n, ".%03dZ", (int)(unix_ms % 1000));
}

const char *cln_report_host_name(char *buf, size_t size)
{
    if (gethostname(buf, size) < 0 || !buf[0])
        snprintf(buf, size, "localhost");
    buf[size - 1] = '\0';
    return buf;
}

const struct cln_attempt *cln_report_last_attempt(const struct cln_step_result *s)
{
    return s->nattempts ? &s->attempts[s->nattempts - 1] : NULL;
}

bool cln_report_result_done(const struct cln_report_input *in, size_t i)
{
    return !in->done || in->done[i];
}

void cln_report_count_all(const struct cln_report_input *in, struct cln_report_counts *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < in->n; i++) {
        const struct cln_test_result *r = &in->results[i];
        c->st[cln_report_result_done(in, i) ? r->status : CLN_ST_SKIPPED]++;
        for (size_t k = 0; cln_report_result_done(in, i) && k < r->nsteps; k++)
            if (r->steps[k].observed)
                c->verdicts[r->steps[k].evidence.verdict]++;
    }
}

/* ---- files ---- */

int cln_report_write_file(const char *path, const char *data, struct cln_error **err)
{
    cleanup_free char *tmp = cln_xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cln_error_set(err, CLN_E_IO, errno, "report %s: create a temporary file beside it",
                             path);
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return cln_error_set(err, CLN_E_IO, e, "report %s: write", path);
        }
        off += (size_t)n;
    }
    /* mkstemp makes it 0600: give it what a plain create would (0666 less
     * the umask) */
    mode_t um = umask(0);
    umask(um);
    int r = fchmod(fd, 0666 & ~um) < 0 || fsync(fd) < 0 ? -1 : 0;
    int e = errno;
    if (close(fd) < 0 && r == 0) {
        r = -1;
        e = errno;
    }
    if (r < 0) {
        unlink(tmp);
        return cln_error_set(err, CLN_E_IO, e, "report %s: fsync", path);
    }
    if (rename(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        return cln_error_set(err, CLN_E_IO, e, "report %s: rename into place", path);
    }
    return 0;
}
