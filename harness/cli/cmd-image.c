/* cleanrun image (docs/cli.md): the images of a runtime's own store (the
 * native runtime's): import, ls, rm, prune.  The runtime is native unless
 * --runtime or --host names another (which then says it has no store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/runtime.h"

static const char image_help[] =
    "usage: cleanrun image import FILE [--name NAME] [--runtime NAME] [--host URL]\n"
    "       cleanrun image ls [--quiet] [--runtime NAME] [--host URL]\n"
    "       cleanrun image rm IMAGE... [--runtime NAME] [--host URL]\n"
    "       cleanrun image prune [--runtime NAME] [--host URL]\n\n"
    "The images of the native runtime's own store (/var/lib/cleanrun as root).\n"
    "  import FILE   a `docker save` archive, an OCI image layout (a directory) or\n"
    "                OCI archive, or a plain rootfs tarball (like `docker import`);\n"
    "                every digest is verified, hostile archives are refused\n"
    "  --name NAME   also name what FILE holds NAME (a rootfs tarball needs one)\n"
    "  ls            every image: id, names, size, creation time\n"
    "  --quiet       ids only\n"
    "  rm IMAGE      a name goes (the image with its last name); an id or a\n"
    "                unique prefix of one: the image and all its names\n"
    "  prune         remove layers and blobs no image uses\n"
    "Exit status: 0 done, 2 usage, 3 a failure (said on stderr).\n";

struct image_opts {
    const char *name;
    bool quiet;
};

static int image_option(int opt, const char *arg, void *ud)
{
    struct image_opts *o = ud;
    if (opt == 'n') {
        if (!*arg) {
            fprintf(stderr, "cleanrun image: --name takes a name\n");
            return CLN_EXIT_USAGE;
        }
        o->name = arg;
        return 0;
    }
    if (opt == 'q') {
        o->quiet = true;
        return 0;
    }
    return CLN_EXIT_USAGE;
}

static void human_size(uint64_t n, char *out, size_t size)
{
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < sizeof(unit) / sizeof(*unit)) {
        v /= 1000;
        u++;
    }
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void print_images(const struct cln_image_summary *v, size_t n, bool quiet)
{
    if (!quiet)
        printf("%-19s  %-9s  %-20s  %s\n", "IMAGE ID", "SIZE", "CREATED", "NAMES");
    for (size_t i = 0; i < n; i++) {
        const char *hex = strncmp(v[i].id, "sha256:", 7) == 0 ? v[i].id + 7 : v[i].id;
        if (quiet) {
            printf("%s\n", v[i].id);
            continue;
        }
        char size[32];
        human_size(v[i].size, size, sizeof(size));
        printf("%-19.12s  %-9s  %-20.19s  ", hex, size, v[i].created ? v[i].created : "-");
        for (size_t k = 0; k < v[i].names.n; k++)
            printf("%s%s", k ? ", " : "", v[i].names.v[k]);
        printf("%s\n", v[i].names.n ? "" : "<none>");
    }
}

int cln_cmd_image(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    static const struct cln_cli_engine_cmd cmd = {.name = "image",
                                                  .help = image_help,
                                                  .longopts = longopts,
                                                  .option = image_option,
                                                  .operands_ignored = true};
    struct image_opts o = {0};
    struct cln_cli_engine e;
    int code = cln_cli_engine_parse(&cmd, argc, argv, &e, &o);
    if (code >= 0)
        return code;
    /* getopt put the operands last: the action, then its arguments */
    if (optind >= argc) {
        fputs(image_help, stderr);
        return CLN_EXIT_USAGE;
    }
    const char *action = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    static const struct {
        const char *name;
        int min, max;
    } actions[] = {{"import", 1, 1},   {"ls", 0, 0},           {"list", 0, 0},
                   {"rm", 1, 1 << 20}, {"remove", 1, 1 << 20}, {"prune", 0, 0}};
    const char *why = "unknown action";
    for (size_t i = 0; i < sizeof(actions) / sizeof(*actions); i++)
        if (strcmp(action, actions[i].name) == 0)
            why = nargs >= actions[i].min && nargs <= actions[i].max ? NULL
                                                                     : "wrong number of arguments";
    if (why) {
        fprintf(stderr, "cleanrun image: %s: %s\n%s", action, why, image_help);
        return CLN_EXIT_USAGE;
    }
    if (!e.runtime && !e.host)
        e.runtime = "native";
    struct cln_runtime *rt = NULL;
    code = cln_cli_engine_open(&e, &rt);
    if (code)
        return code;
    struct cln_error *err = NULL;
    code = CLN_EXIT_OK;
    if (strcmp(action, "import") == 0) {
        struct cln_image_summary *v = NULL;
        size_t n = 0;
        if (cln_image_import(rt, args[0], o.name, &v, &n, &err) < 0) {
            code =
                cln_cli_fail(err, cln_error_root_code(err) == CLN_E_UNSUPPORTED ? CLN_EXIT_USAGE
                                                                                : CLN_EXIT_INFRA);
        } else {
            for (size_t i = 0; i < n; i++) {
                printf("imported %s", v[i].id);
                for (size_t k = 0; k < v[i].names.n; k++)
                    printf("%s%s", k ? ", " : " as ", v[i].names.v[k]);
                printf("\n");
            }
            cln_image_summaries_free(v, n);
        }
    } else if (strcmp(action, "prune") == 0) {
        size_t freed = 0;
        if (cln_image_prune(rt, &freed, &err) < 0)
            code = cln_cli_fail(err, CLN_EXIT_INFRA);
        else
            printf("pruned %zu unused blob%s and layer%s\n", freed, freed == 1 ? "" : "s",
                   freed == 1 ? "" : "s");
    } else if (strcmp(action, "rm") == 0 || strcmp(action, "remove") == 0) {
        for (int i = 0; i < nargs; i++) {
            if (cln_rt_image_remove(rt, args[i], false, &err) < 0) {
                cln_cli_print_error(err);
                cln_error_free(err);
                err = NULL;
                code = CLN_EXIT_INFRA;
                continue;
            }
            printf("removed %s\n", args[i]);
        }
    } else {
        struct cln_image_summary *v = NULL;
        size_t n = 0;
        if (cln_image_list(rt, &v, &n, &err) < 0) {
            code = cln_cli_fail(err, CLN_EXIT_INFRA);
        } else {
            print_images(v, n, o.quiet);
            cln_image_summaries_free(v, n);
        }
    }
    cln_runtime_close(rt);
    return code;
}
