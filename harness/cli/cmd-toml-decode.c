/* cleanrun toml-decode: the decoder interface of the toml-test suite. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "harness/toml/toml-json.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/error.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cln_cmd_toml_decode(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: cleanrun toml-decode < FILE.toml\n\n"
               "Developer command: parse TOML from stdin and print it as toml-test\n"
               "tagged JSON on stdout.  Invalid TOML: the error on stderr, exit 1.\n");
        return CLN_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "cleanrun toml-decode: takes no arguments (reads stdin)\n");
        return CLN_EXIT_USAGE;
    }
    cleanup_buf struct cln_buf in = CLN_BUF_INIT;
    for (;;) {
        cln_buf_reserve(&in, 65536);
        ssize_t n = read(STDIN_FILENO, in.data + in.len, in.cap - in.len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "cleanrun toml-decode: reading stdin: %s\n", strerror(errno));
            return CLN_EXIT_INFRA;
        }
        if (n == 0)
            break;
        in.len += (size_t)n;
    }
    struct cln_toml_doc *doc = NULL;
    cleanup_error struct cln_error *err = NULL;
    if (cln_toml_parse(in.data, in.len, "<stdin>", &doc, &err) < 0) {
        cln_cli_print_error(err);
        return CLN_EXIT_FAIL;
    }
    cleanup_buf struct cln_buf out = CLN_BUF_INIT;
    cln_toml_to_tagged_json(cln_toml_root(doc), &out);
    cln_buf_putc(&out, '\n');
    cln_toml_free(doc);
    if (write_all(STDOUT_FILENO, out.data, out.len) < 0) {
        fprintf(stderr, "cleanrun toml-decode: writing stdout: %s\n", strerror(errno));
        return CLN_EXIT_INFRA;
    }
    return CLN_EXIT_OK;
}
