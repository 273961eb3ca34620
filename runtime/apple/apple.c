/* Apple's container CLI as a backend (docs/runtime.md "Apple"): the
 * descriptors, and how an endpoint (the CLI's path) is found and opened.
 * Built on every platform: on Linux it is tested against the emulator in
 * tests/emulator/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apple-internal.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"

char cln_apple_cli_path[4096];
const char *const cln_apple_host_programs[] = {cln_apple_cli_path, NULL};

static int apple_open(const char *endpoint, struct cln_runtime **ret, struct cln_error **err);

/* An executable file (not a socket, not a URL): the CLI. */
static bool apple_claims(const char *endpoint)
{
    struct stat st;
    return endpoint && endpoint[0] == '/' && stat(endpoint, &st) == 0 && S_ISREG(st.st_mode) &&
           access(endpoint, X_OK) == 0;
}

static size_t apple_candidates(struct cln_endpoint_candidate *ret, size_t max)
{
    size_t n = 0;
    static const char *const fixed[] = {"/usr/local/bin/container", "/opt/homebrew/bin/container"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed) && n < max; i++)
        if (apple_claims(fixed[i]))
            ret[n++] = (struct cln_endpoint_candidate){.endpoint = cln_xstrdup(fixed[i]),
                                                       .source = "Apple's container CLI"};
    return n;
}

#define APPLE_DESC                                                                                 \
    .name = "apple", .ops = &cln_apple_ops, .volume = &cln_apple_volume_ops,                       \
    .build = &cln_apple_build_ops, .batch = &cln_apple_batch_ops,                                  \
    .host_programs = cln_apple_host_programs, .open = apple_open, .candidates = apple_candidates,  \
    .endpoint_env = "CLEANRUN_APPLE_CLI", .start_hint = "'container system start' (Apple)",        \
    .claims = apple_claims, .copy_running_only = true, .exec_stdin = true, .vm = true

const struct cln_runtime_desc cln_apple_desc = {
    APPLE_DESC,
    .network = &cln_apple_network_ops,
};

/* macOS 15: no `container network` (seed 001: a NULL manager, never a stub) */
static const struct cln_runtime_desc apple_desc_no_networks = {
    APPLE_DESC,
    .network_requires = "requires macOS 26",
};

const struct cln_runtime_desc *cln_apple_pick_desc(const bool *has_networks)
{
    return has_networks && !*has_networks ? &apple_desc_no_networks : &cln_apple_desc;
}

/* macOS 15's CLI has no `container network`: the word is taken for a
 * plugin's name, which is not there (exit 64). */
static bool no_network_plugin(const struct cln_apple_call *c)
{
    static const char said[] = "Plugin 'container-network' not found";
    return c->exit_status == 64 && c->err.data &&
           memmem(c->err.data, c->err.len, said, sizeof(said) - 1) != NULL;
}

static int apple_open(const char *endpoint, struct cln_runtime **ret, struct cln_error **err)
{
    struct cln_runtime *rt = NULL;
    if (cln_apple_open_desc(endpoint, &cln_apple_desc, &rt, err) < 0)
        return -1;
    /* networks where the CLI has them: decided by its own answer, after
     * the retries of any call; anything but that answer is an error */
    struct apple *a = cln_runtime_ctx(rt);
    const char *argv[] = {"container", "network", "list", "--format", "json", NULL};
    struct cln_apple_policy pol = a->quick;
    pol.any_exit = true;
    struct cln_apple_call c;
    if (cln_apple_cli_call(a, argv, &pol, &c, err) < 0) {
        cln_runtime_close(rt);
        return cln_error_wrap(err, "runtime apple: ask whether it has networks");
    }
    bool has = c.exit_status == 0;
    if (!has && !no_network_plugin(&c)) {
        struct cln_apple_failure f;
        cln_apple_classify(c.exit_status, c.err.data, c.err.len, &f);
        cln_error_set(err, CLN_E_BACKEND, 0,
                      "runtime apple: ask whether it has networks: `%s network list --format "
                      "json` failed",
                      a->cli);
        cln_apple_set_detail(*err, c.exit_status, &f);
        cln_apple_failure_done(&f);
        cln_apple_call_done(&c);
        cln_runtime_close(rt);
        return -1;
    }
    cln_apple_call_done(&c);
    cln_runtime_set_desc(rt, cln_apple_pick_desc(&has));
    *ret = rt;
    return 0;
}
