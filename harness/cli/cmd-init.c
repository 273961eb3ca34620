/* cleanrun init (docs/cli.md): write a commented starter spec,
 * NAME.cleanrun.toml, in the current directory, that passes as written on
 * an engine with the base image (`make demo` builds it) and teaches the
 * format as it goes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "harness/spec.h"
#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/os.h"
#include "runtime/base/xalloc.h"

#define DEFAULT_IMAGE "localhost/cleanrun/busybox:1"
#define NAME_MAX_LEN 64

static const char init_help[] =
    "usage: cleanrun init [NAME] [--force] [--image REF]\n\n"
    "Write NAME" CLN_SPEC_SUFFIX " in the current directory: a commented starter spec\n"
    "(a service with a readiness check and files, a step in it, steps in fresh\n"
    "containers on the test's network, expectations) that passes as written.\n"
    "NAME: letters, digits, '.', '_' and '-' (default: the current directory's\n"
    "name made so, else \"example\").\n\n"
    "  --image REF   the image of the service and steps (default " DEFAULT_IMAGE ",\n"
    "                which 'make demo' builds); the spec's commands are busybox's\n"
    "  -f, --force   replace an existing NAME" CLN_SPEC_SUFFIX "\n\n"
    "Exit status: 0 written, 2 a usage error or the file exists (without\n"
    "--force), 3 the file could not be written.\n";

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* NAME as given (a file name ending in .cleanrun.toml is taken for its
 * NAME): NULL with the reason printed when it cannot name a spec. */
static char *given_name(const char *arg)
{
    size_t n = strlen(arg), sl = strlen(CLN_SPEC_SUFFIX);
    if (n > sl && strcmp(arg + n - sl, CLN_SPEC_SUFFIX) == 0)
        n -= sl;
    bool ok = n > 0 && n <= NAME_MAX_LEN && arg[0] != '.' && arg[0] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = name_char(arg[i]);
    if (!ok) {
        fprintf(stderr,
                "cleanrun init: NAME must be 1 to %d letters, digits, '.', '_' or '-', not "
                "starting with '.' or '-' (it names the file and the test), not \"%s\"\n",
                NAME_MAX_LEN, arg);
        return NULL;
    }
    return cln_xstrndup(arg, n);
}

/* The current directory's name, lower-cased, every run of other
 * characters made one '-', trimmed; "example" when nothing is left. */
static char *default_name(void)
{
    cleanup_free char *cwd = getcwd(NULL, 0);
    const char *base = cwd ? strrchr(cwd, '/') : NULL;
    base = base ? base + 1 : "";
    struct cln_buf b = CLN_BUF_INIT;
    bool dash = false;
    for (const char *p = base; *p && b.len < 40; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        if (name_char(c) && c != '-') {
            if (dash && b.len)
                cln_buf_putc(&b, '-');
            /* a leading '.' or '_' would hide the file or start oddly */
            if (b.len || (c != '.' && c != '_'))
                cln_buf_putc(&b, c);
            dash = false;
        } else {
            dash = true;
        }
    }
    while (b.len && (b.data[b.len - 1] == '.' || b.data[b.len - 1] == '_'))
        b.data[--b.len] = '\0';
    if (!b.len) {
        cln_buf_done(&b);
        return cln_xstrdup("example");
    }
    return cln_buf_steal(&b);
}

/* An image reference as it may go between TOML quotes as it is. */
static bool valid_ref(const char *ref)
{
    if (!*ref || strlen(ref) > 255)
        return false;
    for (const char *p = ref; *p; p++)
        if (!name_char(*p) && *p != ':' && *p != '/' && *p != '@' && *p != '+')
            return false;
    return true;
}

/* The JSON Schema of the format on this machine, beside this cleanrun:
 * installed (PREFIX/share/cleanrun), or its source tree's docs/ (a binary
 * in build/ or build/VARIANT/).  Canonical, or NULL. */
static char *find_schema(void)
{
    cleanup_free char *exe = cln_os_self_exe();
    char *slash = exe ? strrchr(exe, '/') : NULL;
    if (!slash)
        return NULL;
    *slash = '\0';
    static const char *const rel[] = {"../share/cleanrun/spec.schema.json",
                                      "../docs/spec.schema.json", "../../docs/spec.schema.json"};
    for (size_t i = 0; i < CLN_ARRAY_SIZE(rel); i++) {
        cleanup_free char *p = cln_xasprintf("%s/%s", exe, rel[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            return realpath(p, NULL);
    }
    return NULL;
}

static void write_spec(struct cln_buf *b, const char *name, const char *image, const char *schema)
{
    const char *pull = strncmp(image, "localhost/", 10) == 0 ? "never" : "if-missing";
    if (schema)
        cln_buf_printf(b,
                       "#:schema file://%s\n"
                       "# (the line above: the JSON Schema of this format, for editors built on\n"
                       "# taplo, e.g. VS Code's Even Better TOML; that path is this machine's\n"
                       "# copy, from the cleanrun that wrote this file: elsewhere, change it or\n"
                       "# drop the line; docs/spec.md, \"Editor support\")\n",
                       schema);
    cln_buf_printf(b,
                   "# %s" CLN_SPEC_SUFFIX ": a cleanrun test spec, written by `cleanrun init`.\n"
                   "#\n"
                   "# Everything in it runs inside containers, never on the host: services\n"
                   "# run for the whole test, and steps run one after another, each by exec\n"
                   "# inside a container; each step's result carries evidence that it was\n"
                   "# isolated.  Specs are read strictly: an unknown key, a wrong type or a\n"
                   "# bad reference is an error at its file:line:col, before anything runs.\n"
                   "#\n"
                   "#     cleanrun validate %s" CLN_SPEC_SUFFIX "      check it, run nothing\n"
                   "#     cleanrun run %s" CLN_SPEC_SUFFIX "           run it (exit 0: passed)\n"
                   "#     cleanrun run --watch %s" CLN_SPEC_SUFFIX "   and again at every save\n"
                   "#\n"
                   "# Every key is in docs/spec.md, the command line in docs/cli.md (in\n"
                   "# cleanrun's source).\n"
                   "\n"
                   "# The test: its name in results, tags to select it by (cleanrun run\n"
                   "# --tag starter), and a limit for all of it (a step may have its own).\n"
                   "[test]\n"
                   "name = \"%s\"\n"
                   "tags = [\"starter\"]\n"
                   "timeout = \"2m\"\n"
                   "\n",
                   name, name, name, name, name);
    cln_buf_printf(b,
                   "# Images, each under a name of your choosing (here \"busybox\"), for the\n"
                   "# services and steps below.  localhost/cleanrun/busybox:1 is the small\n"
                   "# image that `make demo` (or `.ci/setup images`) builds from the host's\n"
                   "# static busybox: nothing is pulled (pull = \"never\").  To use your own\n"
                   "# image, set ref to it (with pull = \"if-missing\" the engine may pull it),\n"
                   "# or build one here from a Dockerfile:\n"
                   "#     [images.app]\n"
                   "#     dockerfile = \"\"\"\n"
                   "#     FROM localhost/cleanrun/busybox:1\n"
                   "#     RUN mkdir /app\n"
                   "#     \"\"\"\n"
                   "# The commands below are busybox's (cat, httpd, wget): in another image,\n"
                   "# use its own programs.\n"
                   "[images.busybox]\n"
                   "ref = \"%s\"\n"
                   "pull = \"%s\"\n"
                   "\n"
                   "# Variables: ${greeting} anywhere below is replaced by its value.\n"
                   "[vars]\n"
                   "greeting = \"hello from %s\"\n"
                   "\n",
                   image, pull, name);
    cln_buf_puts(
        b, "# A service: a container that runs for the whole test, on the test's\n"
           "# private network, where the other containers reach it by its name, web.\n"
           "[services.web]\n"
           "image = \"busybox\"          # an [images] name, or a reference\n"
           "command = [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]   # replaces the "
           "image's CMD\n"
           "# Files copied in before it starts: inline content, or\n"
           "# source = \"some/file\" (a host file, relative to this spec's directory).\n"
           "files = [{ path = \"/www/index.html\", content = \"${greeting}\\n\" }]\n"
           "# The steps wait until it is ready: here, until a GET of / answers\n"
           "# (or: tcp = PORT, log = \"regex\", exec = [...], healthcheck = true).\n"
           "ready = { http = \"http://web:8080/\", timeout = \"30s\" }\n"
           "\n"
           "# Steps run in order, each by exec inside a container.  A step without\n"
           "# expectations must exit 0; the first that fails ends the test.\n"
           "\n"
           "# In the running service, where its files are.\n"
           "[[steps]]\n"
           "name = \"the page is in place\"\n"
           "service = \"web\"\n"
           "run = [\"cat\", \"/www/index.html\"]   # an argv, passed exactly (no shell)\n"
           "expect.stdout = \"${greeting}\\n\"    # exactly this output, byte for byte\n"
           "\n"
           "# In a fresh container of an image, removed afterwards.  It has no\n"
           "# network at all unless it asks: network = true joins the test's private\n"
           "# network, to reach the service by name (and nothing beyond it).\n"
           "[[steps]]\n"
           "name = \"fetch the page over the test network\"\n"
           "image = \"busybox\"\n"
           "network = true\n"
           "run = [\"wget\", \"-q\", \"-O-\", \"http://web:8080/\"]\n"
           "expect.exit = 0\n"
           "expect.stdout.contains = [\"${greeting}\"]\n"
           "\n"
           "# A string runs as `sh -c` inside the container.  A failure can be the\n"
           "# expected outcome:\n"
           "[[steps]]\n"
           "name = \"a page that does not exist\"\n"
           "image = \"busybox\"\n"
           "network = true\n"
           "run = \"wget -q -O- http://web:8080/missing 2>&1\"\n"
           "expect.exit = \"non-zero\"           # or a code, a list of codes, \"any\"\n"
           "expect.stdout.contains = [\"404\"]\n");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write the file: without force, only if it does not exist (O_EXCL); with
 * force, through a hidden temporary file renamed over it (nothing sees it
 * half written).  0, -EEXIST, or -1 with errno. */
static int write_file(const char *path, const struct cln_buf *b, bool force)
{
    mode_t mask = umask(0);
    umask(mask);
    cleanup_free char *tmp = force ? cln_xasprintf(".%s.XXXXXX", path) : NULL;
    int fd = force ? mkstemp(tmp) : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return !force && errno == EEXIST ? -EEXIST : -1;
    int r = write_all(fd, b->data, b->len);
    if (r == 0 && force)
        r = fchmod(fd, 0666 & ~mask);
    if (close(fd) < 0)
        r = -1;
    if (r == 0 && force)
        r = rename(tmp, path);
    if (r < 0) {
        int e = errno;
        (void)unlink(force ? tmp : path);
        errno = e;
    }
    return r;
}

int cln_cmd_init(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"force", no_argument, NULL, 'f'},
        {"image", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    const char *image = DEFAULT_IMAGE;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            force = true;
            break;
        case 'i':
            if (!valid_ref(optarg)) {
                fprintf(stderr,
                        "cleanrun init: --image takes an image reference (letters, digits and "
                        "._-:/@+), not \"%s\"\n",
                        optarg);
                return CLN_EXIT_USAGE;
            }
            image = optarg;
            break;
        case 'h':
            fputs(init_help, stdout);
            return CLN_EXIT_OK;
        default:
            fprintf(stderr, "cleanrun init: unknown option %s (see 'cleanrun init --help')\n",
                    argv[optind - 1]);
            return CLN_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "cleanrun init: one NAME at most (see 'cleanrun init --help')\n");
        return CLN_EXIT_USAGE;
    }
    cleanup_free char *name = optind < argc ? given_name(argv[optind]) : default_name();
    if (!name)
        return CLN_EXIT_USAGE;
    cleanup_free char *path = cln_xasprintf("%s" CLN_SPEC_SUFFIX, name);
    cleanup_free char *schema = find_schema();
    struct cln_buf b = CLN_BUF_INIT;
    write_spec(&b, name, image, schema);
    int r = write_file(path, &b, force);
    int e = errno;
    cln_buf_done(&b);
    if (r == -EEXIST) {
        fprintf(stderr, "cleanrun init: %s exists: not overwritten (--force replaces it)\n", path);
        return CLN_EXIT_USAGE;
    }
    if (r < 0) {
        fprintf(stderr, "cleanrun init: cannot write %s: %s\n", path, strerror(e));
        return CLN_EXIT_INFRA;
    }
    printf("wrote %s: test \"%s\", a service and 3 steps on %s\n", path, name, image);
    if (strcmp(image, DEFAULT_IMAGE) == 0)
        printf("(%s is built by 'make demo' or '.ci/setup images' in cleanrun's source)\n", image);
    else
        printf("(its commands are busybox's: cat, httpd, wget; use %s's own)\n", image);
    printf("\nnext:\n"
           "  cleanrun validate %s      check it, run nothing\n"
           "  cleanrun run %s           run it\n"
           "  cleanrun run --watch %s   and again at every save\n",
           path, path, path);
    return CLN_EXIT_OK;
}
