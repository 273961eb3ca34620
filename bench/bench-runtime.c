/* The runtime benchmark's cleanrun side: 1 service container, 50 exec steps
 * in it, 10 one-shot containers (create, start, wait, logs, remove), all
 * through the executor interface.  bench/runtime-bench.py runs it beside the
 * floor client and the docker CLI.
 * Usage: bench-runtime ENDPOINT IMAGE
 *        bench-runtime ENDPOINT IMAGE --ensure-image   build IMAGE (scratch +
 *        /bin/busybox) through the build manager when it is missing */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/error.h"
#include "runtime/runtime.h"

static int fail(struct cln_error *err, const char *what)
{
    char *m = cln_error_render(err);
    fprintf(stderr, "bench-runtime: %s: %s\n", what, m);
    free(m);
    cln_error_free(err);
    return 1;
}

static int ensure_image(struct cln_runtime *rt, const char *image)
{
    struct cln_image_info info;
    struct cln_error *err = NULL;
    int r = cln_rt_image_inspect(rt, image, &info, &err);
    if (r < 0)
        return fail(err, "inspect image");
    if (r == 1) {
        cln_image_info_done(&info);
        return 0;
    }
    FILE *f = fopen("/bin/busybox", "rb");
    if (!f) {
        perror("bench-runtime: /bin/busybox");
        return 1;
    }
    struct cln_buf bb = CLN_BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        cln_buf_append(&bb, tmp, n);
    fclose(f);
    struct cln_file files[] = {{.path = "busybox", .data = bb.data, .len = bb.len, .mode = 0755}};
    struct cln_build_request req = {
        .dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\n"
                      "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
                      "RUN mkdir -p /tmp /www /root && chmod 1777 /tmp\n"
                      "CMD [\"/bin/sh\"]\n",
        .files = files,
        .nfiles = 1,
        .tag = image,
    };
    char *id = NULL;
    r = cln_build_image(rt, &req, NULL, NULL, &id, &err);
    cln_buf_done(&bb);
    free(id);
    return r < 0 ? fail(err, "build image") : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-runtime ENDPOINT IMAGE\n");
        return 2;
    }
    struct cln_runtime_config cfg = {.endpoint = argv[1]};
    struct cln_runtime *rt = NULL;
    struct cln_error *err = NULL;
    if (cln_runtime_open(&cfg, &rt, &err) < 0)
        return fail(err, "open");
    if (argc > 3 && strcmp(argv[3], "--ensure-image") == 0) {
        int r = ensure_image(rt, argv[2]);
        cln_runtime_close(rt);
        return r;
    }
    struct cln_labels labels = {0};
    cln_runtime_labels(&labels, "bench", "bench", NULL);
    static const char *const sleep_cmd[] = {"sleep", "3600", NULL};
    struct cln_container_config svc = {
        .image = argv[2], .cmd = sleep_cmd, .labels = &labels, .network = "none"};
    char *id = NULL;
    if (cln_rt_create(rt, &svc, &id, &err) < 0 || cln_rt_start(rt, id, &err) < 0)
        return fail(err, "service");
    for (int i = 0; i < 50; i++) {
        char n[16];
        snprintf(n, sizeof(n), "%d", i);
        const char *argv_echo[] = {"echo", n, NULL};
        struct cln_exec_config ec = {.argv = argv_echo, .timeout_ms = 30000};
        struct cln_exec_result r;
        if (cln_rt_exec(rt, id, &ec, &r, &err) < 0)
            return fail(err, "exec");
        char want[20];
        snprintf(want, sizeof(want), "%d\n", i);
        if (r.exit_code != 0 || !r.out.data.data || strcmp(r.out.data.data, want) != 0) {
            fprintf(stderr, "bench-runtime: wrong exec result\n");
            return 1;
        }
        cln_exec_result_done(&r);
    }
    for (int i = 0; i < 10; i++) {
        char n[16];
        snprintf(n, sizeof(n), "%d", i);
        const char *cmd[] = {"echo", n, NULL};
        struct cln_container_config one = {
            .image = argv[2], .cmd = cmd, .labels = &labels, .network = "none"};
        char *oid = NULL;
        int code = -1;
        struct cln_capture out, errc;
        if (cln_rt_create(rt, &one, &oid, &err) < 0 || cln_rt_start(rt, oid, &err) < 0 ||
            cln_rt_wait(rt, oid, 30000, &code, &err) < 0 ||
            cln_rt_logs(rt, oid, 0, 0, &out, &errc, &err) < 0)
            return fail(err, "one-shot");
        char want[20];
        snprintf(want, sizeof(want), "%d\n", i);
        if (code != 0 || !out.data.data || strcmp(out.data.data, want) != 0) {
            fprintf(stderr, "bench-runtime: wrong one-shot result\n");
            return 1;
        }
        cln_capture_done(&out);
        cln_capture_done(&errc);
        if (cln_rt_remove(rt, oid, true, &err) < 0)
            return fail(err, "remove");
        free(oid);
    }
    if (cln_rt_remove(rt, id, true, &err) < 0)
        return fail(err, "remove service");
    free(id);
    cln_labels_done(&labels);
    cln_runtime_close(rt);
    return 0;
}
