/* cleanrun import clnrm (docs/cli.md "cleanrun import clnrm"): a spec of
 * clnrm (github.com/seanchatmangpt/clnrm), a Rust test harness of the same
 * shape, converted into a cleanrun spec.
 *
 * The input is read with our TOML parser, so every value has its line and
 * column: what cannot be converted is said on stderr as
 * "FILE:LINE:COL: warning: KEY: not converted (why)" and, at the place it
 * would have gone, as a "# cleanrun import: ..." comment in the output.  A
 * value clnrm itself would refuse (a wrong type, a step without a command)
 * is an error: nothing is written.  The output is TOML written by the
 * conversion (import.h: import-clnrm.c, import-services.c, import-steps.c,
 * import-values.c) with toml-writer.c: every string escaped, '$' doubled
 * where cleanrun would read "${" or "$$".
 *
 * This file is the command: its options, reading FILE, printing the notes
 * in file order, and writing the spec to stdout or -o OUT. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "import.h"
#include "harness/text.h"
#include "harness/toml/toml.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

static const char import_help[] =
    "usage: cleanrun import clnrm FILE.toml [-o OUT] [--force] [--default-image IMAGE]\n\n"
    "Convert a clnrm spec (github.com/seanchatmangpt/clnrm) into a cleanrun spec.\n"
    "What cannot be converted is said on stderr, one line each\n"
    "(FILE:LINE:COL: warning: KEY: not converted (why)), and marked in the output\n"
    "with a \"# cleanrun import:\" comment.\n\n"
    "  -o, --output OUT       write the spec to OUT (default: stdout; \"-\" is stdout);\n"
    "                         name it NAME.cleanrun.toml for `cleanrun run DIR` to find it\n"
    "  -f, --force            overwrite OUT if it exists (else refused)\n"
    "  --default-image IMAGE  where steps without a service run (clnrm: cleanroom.toml's\n"
    "                         [containers] default_image; default " CLNRM_DEFAULT_IMAGE ")\n\n"
    "Exit status: 0 converted (with or without warnings); 2 usage, FILE unreadable,\n"
    "not TOML or not a clnrm spec clnrm would load (every error said, nothing\n"
    "written), or OUT exists without --force or cannot be created; 3 writing OUT\n"
    "failed.\n";

/* ---- the notes, in file order ---- */

static int note_cmp(const void *a, const void *b)
{
    const struct cln_import_note *x = a, *y = b;
    if (x->pos.line != y->pos.line)
        return x->pos.line < y->pos.line ? -1 : 1;
    if (x->pos.col != y->pos.col)
        return x->pos.col < y->pos.col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print the errors (when there are any) or the warnings, in file order. */
static void print_notes(struct cln_import *I)
{
    if (I->nnotes) /* (qsort takes no NULL, even for nothing) */
        qsort(I->notes, I->nnotes, sizeof(*I->notes), note_cmp);
    cleanup_free char *file = cln_text_name(I->file);
    for (size_t i = 0; i < I->nnotes; i++) {
        const struct cln_import_note *n = &I->notes[i];
        if (I->nerrors && !n->error)
            continue;
        cleanup_free char *text = cln_text_name(n->text);
        fprintf(stderr, "%s:%u:%u: %s: %s\n", file, n->pos.line, n->pos.col,
                n->error ? "error" : "warning", text);
    }
}

/* ---- the command ---- */

/* 0, or -errno. */
static int read_file(const char *path, struct cln_buf *b)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        cln_buf_reserve(b, 65536);
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
    }
}

/* The parser's "FILE:L:C: what" said as "FILE:L:C: error: what", as the
 * other errors are. */
static void print_parse_error(const char *file, const struct cln_error *err)
{
    cleanup_free char *msg = cln_error_render(err);
    cleanup_free char *vis = cln_text_name(msg);
    size_t fl = strlen(file), i = fl + 1;
    bool at = strncmp(vis, file, fl) == 0 && vis[fl] == ':';
    for (int part = 0; at && part < 2; part++) {
        size_t d = i;
        while (vis[i] >= '0' && vis[i] <= '9')
            i++;
        at = i > d && vis[i] == ':';
        i++;
    }
    if (at && vis[i] == ' ')
        fprintf(stderr, "%.*s error:%s\n", (int)i, vis, vis + i);
    else
        fprintf(stderr, "cleanrun import: %s\n", vis);
}

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

/* OUT: created, refused if it exists.  With --force, an existing regular
 * file (or the one a link leads to) is replaced at once by a rename, its
 * mode kept, so that a failed write never leaves half a spec; a character
 * device or a FIFO (/dev/stdout) is written into; anything else is refused. */
static int write_out(const char *out, bool force, const struct cln_buf *b)
{
    cleanup_free char *tmp = NULL;
    cleanup_free char *real = NULL;
    struct stat st = {0};
    bool exists = force && stat(out, &st) == 0;
    int fd = -1;
    if (exists && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "cleanrun import: %s is not a file, a character device or a FIFO\n", out);
        return CLN_EXIT_USAGE;
    }
    if (exists && S_ISREG(st.st_mode)) {
        real = realpath(out, NULL);
        tmp = cln_xasprintf("%s.XXXXXX", real ? real : out);
        fd = mkstemp(tmp);
        if (fd >= 0 && fchmod(fd, st.st_mode & 07777) < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            fd = -1;
        }
    } else if (exists) {
        fd = open(out, O_WRONLY | O_TRUNC | O_CLOEXEC);
    } else {
        fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    }
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST && !force)
            fprintf(stderr, "cleanrun import: %s exists (--force to overwrite it)\n", out);
        else
            fprintf(stderr, "cleanrun import: cannot create %s: %s\n", out, strerror(e));
        return CLN_EXIT_USAGE;
    }
    int r = write_all(fd, b->data, b->len);
    int e = errno;
    if (close(fd) < 0 && r == 0) {
        r = -1;
        e = errno;
    }
    if (r == 0 && tmp && rename(tmp, real ? real : out) < 0) {
        r = -1;
        e = errno;
    }
    if (r < 0) {
        fprintf(stderr, "cleanrun import: writing %s: %s\n", out, strerror(e));
        if (tmp)
            unlink(tmp);
        else if (!exists)
            unlink(out);
        return CLN_EXIT_INFRA;
    }
    return CLN_EXIT_OK;
}

int cln_cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"default-image", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *image = CLNRM_DEFAULT_IMAGE;
    bool force = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'i':
            image = optarg;
            break;
        case 'h':
            fputs(import_help, stdout);
            return CLN_EXIT_OK;
        case ':':
            fprintf(stderr, "cleanrun import: %s needs a value\n", argv[optind - 1]);
            return CLN_EXIT_USAGE;
        default:
            fprintf(stderr, "cleanrun import: unknown option %s\n", argv[optind - 1]);
            fputs(import_help, stderr);
            return CLN_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(import_help, stderr);
        return CLN_EXIT_USAGE;
    }
    if (strcmp(argv[optind], "clnrm") != 0) {
        fprintf(stderr, "cleanrun import: unknown format \"%s\" (known: clnrm)\n", argv[optind]);
        return CLN_EXIT_USAGE;
    }
    if (argc - optind != 2) {
        fprintf(stderr, "cleanrun import clnrm: %s\n",
                argc - optind < 2 ? "which file? (cleanrun import clnrm FILE.toml)"
                                  : "one file at a time");
        return CLN_EXIT_USAGE;
    }
    if (!*image || !strpbrk(image, ":/@")) {
        fprintf(stderr,
                "cleanrun import: --default-image \"%s\": give an image reference (with ':', "
                "'/' or '@', e.g. %s)\n",
                image, CLNRM_DEFAULT_IMAGE);
        return CLN_EXIT_USAGE;
    }
    if (out && !*out) {
        fprintf(stderr, "cleanrun import: -o takes a file name (or - for stdout)\n");
        return CLN_EXIT_USAGE;
    }
    if (out && strcmp(out, "-") == 0)
        out = NULL;
    if (out && !force && access(out, F_OK) == 0) {
        fprintf(stderr, "cleanrun import: %s exists (--force to overwrite it)\n", out);
        return CLN_EXIT_USAGE;
    }
    const char *file = argv[optind + 1];
    cleanup_buf struct cln_buf in = CLN_BUF_INIT;
    int rr = read_file(file, &in);
    if (rr < 0) {
        fprintf(stderr, "cleanrun import: cannot read %s: %s\n", file, strerror(-rr));
        return CLN_EXIT_USAGE;
    }
    struct cln_toml_doc *doc = NULL;
    cleanup_error struct cln_error *err = NULL;
    if (cln_toml_parse(in.data ? in.data : "", in.len, file, &doc, &err) < 0) {
        print_parse_error(file, err);
        if (cln_import_find2(in.data, in.len, '{', '{') ||
            cln_import_find2(in.data, in.len, '{', '%'))
            fprintf(stderr,
                    "cleanrun import: %s looks like a Tera template of clnrm's ({{ }}, "
                    "{%% %%}): render it with clnrm first\n",
                    file);
        fprintf(stderr, "cleanrun import: %s is not TOML, nothing written\n", file);
        return CLN_EXIT_USAGE;
    }
    struct cln_import I = {.file = file, .default_image = image};
    cleanup_buf struct cln_buf text = CLN_BUF_INIT;
    int r = cln_import_convert(&I, doc, &text);
    print_notes(&I);
    cln_toml_free(doc);
    size_t warnings = I.nwarnings, errors = I.nerrors;
    cln_import_done(&I);
    if (r < 0) {
        fprintf(stderr, "cleanrun import: %s: %zu error%s, nothing written\n", file, errors,
                errors == 1 ? "" : "s");
        return CLN_EXIT_USAGE;
    }
    if (out) {
        int code = write_out(out, force, &text);
        if (code)
            return code;
    } else if (write_all(STDOUT_FILENO, text.data, text.len) < 0) {
        fprintf(stderr, "cleanrun import: writing stdout: %s\n", strerror(errno));
        return CLN_EXIT_INFRA;
    }
    fprintf(stderr, "cleanrun import: %s: converted%s%s, %zu warning%s\n", file, out ? " to " : "",
            out ? out : "", warnings, warnings == 1 ? "" : "s");
    return CLN_EXIT_OK;
}
