/* Regular expressions: PCRE2, multiline, in one place (regex.h). */
#include "regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static pcre2_code *compile(const char *pattern, int *ret_code, size_t *ret_offset)
{
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_MULTILINE,
                                   ret_code, &off, NULL);
    *ret_offset = off;
    return re;
}

int cln_regex_match(const char *pattern, const char *subject, size_t len)
{
    int code;
    size_t off;
    pcre2_code *re = compile(pattern, &code, &off);
    if (!re)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc =
        pcre2_match(re, (PCRE2_SPTR)(subject ? subject : ""), subject ? len : 0, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0 ? 1 : 0;
}

int cln_regex_check(const char *pattern, char *ret_msg, size_t msg_size, size_t *ret_offset)
{
    int code;
    pcre2_code *re = compile(pattern, &code, ret_offset);
    if (re) {
        pcre2_code_free(re);
        return 0;
    }
    if (msg_size)
        pcre2_get_error_message(code, (PCRE2_UCHAR *)ret_msg, msg_size);
    return -1;
}
