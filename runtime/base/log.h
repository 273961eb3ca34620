/* Logging without printing: runtime/ hands messages to a sink that the
 * harness installs.  With no sink installed, messages are dropped. */
#pragma once

enum cln_log_level {
    CLN_LOG_ERROR,
    CLN_LOG_WARN,
    CLN_LOG_INFO,
    CLN_LOG_DEBUG,
};

typedef void (*cln_log_sink_fn)(enum cln_log_level level, const char *msg, void *userdata);

/* Install a sink (NULL removes it) and the most verbose level passed to it.
 * Not thread-safe against concurrent logging: call before starting workers
 * and before opening a runtime.  The sink is called from whichever thread
 * logs (the runner's workers, a backend's watchdog), maybe from several at
 * once: it must be thread-safe itself.  What the runtime says there:
 * ERROR and WARN, an engine that stopped answering; INFO, the engine and
 * API version a backend chose at open, retries and reconnects; DEBUG,
 * every engine request (method, path, status, duration). */
void cln_log_set_sink(cln_log_sink_fn fn, void *userdata, enum cln_log_level max_level);

/* Is a message at this level going anywhere?  Lets callers skip expensive
 * formatting. */
int cln_log_enabled(enum cln_log_level level);

void cln_log(enum cln_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *cln_log_level_name(enum cln_log_level level);
