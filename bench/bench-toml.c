/* Parse a TOML file N times and print the best wall time: the parser's speed
 * without process start-up or output.  Used by bench/toml-speed.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "harness/toml/toml.h"
#include "runtime/base/error.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-toml FILE [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
    double best = 1e9;
    for (int i = 0; i < runs; i++) {
        struct cln_toml_doc *doc = NULL;
        struct cln_error *err = NULL;
        double t0 = now();
        if (cln_toml_parse_file(argv[1], &doc, &err) < 0) {
            char *m = cln_error_render(err);
            fprintf(stderr, "bench-toml: %s\n", m);
            free(m);
            cln_error_free(err);
            return 1;
        }
        cln_toml_free(doc);
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    printf("%.4f\n", best);
    return 0;
}
