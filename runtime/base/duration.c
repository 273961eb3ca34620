#include "duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static int bad(struct cln_error **err, const char *text, size_t len, const char *why)
{
    return cln_error_set(err, CLN_E_INVALID, 0,
                         "invalid duration \"%.*s\": %s (examples: \"150ms\", \"5s\", "
                         "\"2m\", \"1h30m\")",
                         (int)(len > 64 ? 64 : len), text, why);
}

int cln_duration_parse_n(const char *text, size_t len, uint64_t *ret_ms, struct cln_error **err)
{
    /* Unit table in the only order allowed; rank guards order and repeats. */
    static const struct {
        const char *name;
        size_t len;
        uint64_t ms;
    } units[] = {{"h", 1, 3600000}, {"m", 1, 60000}, {"s", 1, 1000}, {"ms", 2, 1}};
    const char *p = text, *end = text + len;
    uint64_t total = 0;
    int next_rank = 0;

    if (len == 0)
        return bad(err, text, len, "empty");
    if (len == 1 && text[0] == '0') {
        *ret_ms = 0;
        return 0;
    }
    while (p < end) {
        uint64_t whole = 0, frac_num = 0, frac_den = 1;
        bool digits = false;
        while (p < end && *p >= '0' && *p <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                return bad(err, text, len, "too large");
            whole = whole * 10 + (uint64_t)(*p - '0');
            digits = true;
            p++;
        }
        if (p < end && *p == '.') {
            p++;
            bool fdigits = false;
            while (p < end && *p >= '0' && *p <= '9') {
                if (frac_den < 1000000000ULL) {
                    frac_num = frac_num * 10 + (uint64_t)(*p - '0');
                    frac_den *= 10;
                }
                fdigits = true;
                p++;
            }
            if (!fdigits)
                return bad(err, text, len, "a '.' must be followed by digits");
        }
        if (!digits)
            return bad(err, text, len, "expected a number");
        const char *u = p;
        while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            p++;
        size_t ulen = (size_t)(p - u);
        if (ulen == 0)
            return bad(err, text, len, "missing unit (h, m, s or ms)");
        int rank = -1;
        for (int i = 0; i < 4; i++)
            if (units[i].len == ulen && memcmp(units[i].name, u, ulen) == 0)
                rank = i;
        if (rank < 0)
            return bad(err, text, len, "unknown unit (use h, m, s or ms)");
        if (rank < next_rank)
            return bad(err, text, len, "units must appear once each, largest first");
        next_rank = rank + 1;
        uint64_t mul = units[rank].ms;
        if (whole > UINT64_MAX / mul)
            return bad(err, text, len, "too large");
        uint64_t add = whole * mul + (frac_num * mul + frac_den / 2) / frac_den;
        if (add > UINT64_MAX - total)
            return bad(err, text, len, "too large");
        total += add;
    }
    *ret_ms = total;
    return 0;
}

int cln_duration_parse(const char *text, uint64_t *ret_ms, struct cln_error **err)
{
    return cln_duration_parse_n(text, strlen(text), ret_ms, err);
}

char *cln_duration_format(uint64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf(buf, size, "%llums", (unsigned long long)ms);
    else if (ms < 60000)
        snprintf(buf, size, "%llu.%03llus", (unsigned long long)(ms / 1000),
                 (unsigned long long)(ms % 1000));
    else {
        unsigned long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60;
        if (h)
            snprintf(buf, size, "%lluh%02llum%02llus", h, m, s);
        else
            snprintf(buf, size, "%llum%02llus", m, s);
    }
    return buf;
}

char *cln_duration_format_limit(uint64_t ms, char *buf, size_t size)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    size_t n = 0;
    buf[0] = '\0';
    if (ms % 1000 && ms >= 1000 && ms < 60000) {
        /* 1.5s, not 1s500ms */
        char frac[8];
        snprintf(frac, sizeof(frac), "%03llu", (unsigned long long)(ms % 1000));
        for (size_t k = strlen(frac); k > 0 && frac[k - 1] == '0'; k--)
            frac[k - 1] = '\0';
        snprintf(buf, size, "%llu.%ss", (unsigned long long)(ms / 1000), frac);
        return buf;
    }
    for (size_t i = 0; i < 3 && n < size; i++)
        if (ms >= units[i].ms) {
            n += (size_t)snprintf(buf + n, size - n, "%llu%s",
                                  (unsigned long long)(ms / units[i].ms), units[i].unit);
            ms %= units[i].ms;
        }
    if ((ms || !n) && n < size)
        snprintf(buf + n, size - n, "%llums", (unsigned long long)ms);
    return buf;
}
