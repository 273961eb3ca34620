/* Tar archives in memory (libarchive), for copying files into containers and
 * for image build contexts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "runtime.h"

struct cln_error;

/* Write a ustar/pax archive of the files into out.  Paths are made relative
 * (leading '/' dropped).  With with_dirs, parent directories get entries of
 * their own (0755); without, the extractor creates missing parents and
 * leaves existing ones as they are (copy-in into "/": an entry for "tmp/"
 * would reset /tmp's mode).  A path with a ".." component is refused. */
int cln_tar_build(const struct cln_file *files, size_t n, bool with_dirs, struct cln_buf *out,
                  struct cln_error **err);

/* Read the first regular file of an archive into content (cleared first). */
int cln_tar_first_file(const void *tar, size_t len, struct cln_buf *content, bool *ret_found,
                       struct cln_error **err);

/* The first entry of an archive that arrives in pieces (a download), read
 * as it comes, never holding more than cap bytes of its content: what it
 * is, and for a regular file its content up to cap and its size.  Feed it
 * each piece; false means it has what it needs (stop the transfer). */
struct cln_tar_stream;
int cln_tar_stream_new(size_t cap, struct cln_tar_stream **ret, struct cln_error **err);
bool cln_tar_stream_feed(struct cln_tar_stream *s, const char *data, size_t len);
/* End of input (complete or cut): the entry, if the archive held one.
 * Frees s. */
int cln_tar_stream_finish(struct cln_tar_stream *s, struct cln_file_info *ret_info,
                          struct cln_capture *ret_content, bool *ret_found, struct cln_error **err);
