#include "demux.h"

#include <string.h>

void cln_capture_add(struct cln_capture *c, const char *data, size_t len, size_t cap)
{
    c->total += len;
    size_t room = c->data.len < cap ? cap - c->data.len : 0;
    size_t keep = len < room ? len : room;
    if (keep)
        cln_buf_append(&c->data, data, keep);
    if (len > room)
        c->truncated = true;
}

void cln_demux_init(struct cln_demux *d, struct cln_capture *out, struct cln_capture *err,
                    size_t cap)
{
    memset(d, 0, sizeof(*d));
    d->out = out;
    d->err = err;
    d->cap = cap ? cap : CLN_DEFAULT_OUTPUT_CAP;
}

void cln_demux_feed(struct cln_demux *d, const char *data, size_t len)
{
    while (len) {
        if (d->remaining == 0) {
            size_t need = 8 - d->have;
            size_t take = len < need ? len : need;
            memcpy(d->header + d->have, data, take);
            d->have += take;
            data += take;
            len -= take;
            if (d->have < 8)
                return;
            d->have = 0;
            d->stream = d->header[0];
            d->remaining = (uint32_t)d->header[4] << 24 | (uint32_t)d->header[5] << 16 |
                           (uint32_t)d->header[6] << 8 | (uint32_t)d->header[7];
            continue;
        }
        size_t take = len < d->remaining ? len : d->remaining;
        switch (d->stream) {
        case 1:
            cln_capture_add(d->out, data, take, d->cap);
            break;
        case 2:
            cln_capture_add(d->err, data, take, d->cap);
            break;
        case 3:
            if (d->sys.len < 4096)
                cln_buf_append(&d->sys, data, take);
            break;
        default:
            break; /* stdin echo: dropped */
        }
        if (d->on_output && (d->stream == 1 || d->stream == 2))
            d->on_output(d->stream, data, take, d->userdata);
        d->remaining -= (uint32_t)take;
        data += take;
        len -= take;
    }
}

size_t cln_demux_pending(const struct cln_demux *d)
{
    return d->have + d->remaining;
}

void cln_demux_done(struct cln_demux *d)
{
    cln_buf_done(&d->sys);
}
