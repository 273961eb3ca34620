/* Docker's multiplexed stream (exec, logs, attach without a TTY): frames of an
 * 8-byte header [stream, 0, 0, 0, size (big-endian u32)] and size bytes.
 * Stream 0 is stdin echoed, 1 stdout, 2 stderr, 3 an engine error.
 *
 * Feed bytes as they arrive, split anywhere; each payload piece goes to the
 * capture of its stream, kept up to the cap and counted beyond it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

struct cln_demux {
    uint8_t header[8];
    size_t have;        /* header bytes collected */
    uint32_t remaining; /* payload bytes left in the current frame */
    int stream;
    size_t cap; /* per stream */
    struct cln_capture *out, *err;
    struct cln_buf sys; /* stream 3 text */
    cln_output_fn on_output;
    void *userdata;
};

void cln_demux_init(struct cln_demux *d, struct cln_capture *out, struct cln_capture *err,
                    size_t cap);
void cln_demux_feed(struct cln_demux *d, const char *data, size_t len);
/* Bytes of an unfinished frame at the end: 0 for a clean stream. */
size_t cln_demux_pending(const struct cln_demux *d);
void cln_demux_done(struct cln_demux *d);

/* Append to a capture, keeping at most cap bytes. */
void cln_capture_add(struct cln_capture *c, const char *data, size_t len, size_t cap);
