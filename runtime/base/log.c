#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static cln_log_sink_fn sink_fn;
static void *sink_data;
static enum cln_log_level sink_max = CLN_LOG_ERROR;

void cln_log_set_sink(cln_log_sink_fn fn, void *userdata, enum cln_log_level max_level)
{
    sink_fn = fn;
    sink_data = userdata;
    sink_max = max_level;
}

int cln_log_enabled(enum cln_log_level level)
{
    return sink_fn && level <= sink_max;
}

void cln_log(enum cln_log_level level, const char *fmt, ...)
{
    if (!cln_log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    /* Truncation is acceptable for a log line. */
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sink_fn(level, msg, sink_data);
}

const char *cln_log_level_name(enum cln_log_level level)
{
    switch (level) {
    case CLN_LOG_ERROR:
        return "error";
    case CLN_LOG_WARN:
        return "warning";
    case CLN_LOG_INFO:
        return "info";
    case CLN_LOG_DEBUG:
        return "debug";
    }
    return "?";
}
