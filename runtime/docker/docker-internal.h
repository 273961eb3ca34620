/* The Docker Engine API backend (also Podman's Docker-compatible API). */
#pragma once

#include <cjson/cJSON.h>

#include "http.h"
#include "runtime/backend.h"

struct docker {
    struct cln_http *http;
    bool podman;
    bool local;
    char api_version[16];
};

extern const struct cln_runtime_desc cln_docker_desc, cln_podman_desc;
extern const struct cln_runtime_ops cln_docker_ops;
extern const struct cln_network_ops cln_docker_network_ops;
extern const struct cln_volume_ops cln_docker_volume_ops;
extern const struct cln_build_ops cln_docker_build_ops;

/* How long discovery waits for an engine's first answer. */
#define CLN_DOCKER_OPEN_TIMEOUT_MS 5000

/* ---- JSON mapping (docker-json.c) ---- */

/* The body of POST /containers/create. */
cJSON *cln_docker_create_body(const struct cln_container_config *cfg);
/* GET /containers/{id}/json into a state. */
int cln_docker_parse_inspect(const char *json, size_t len, struct cln_container_state *ret,
                             struct cln_error **err);
/* GET /containers/json into summaries. */
int cln_docker_parse_list(const char *json, size_t len, struct cln_container_summary **ret,
                          size_t *ret_n, struct cln_error **err);
/* GET /version into engine info; *podman set when it is Podman. */
int cln_docker_parse_version(const char *json, size_t len, struct cln_engine_info *ret,
                             char *min_api, size_t min_api_size, bool *podman,
                             struct cln_error **err);
/* Pick the API version to speak: 1.41 clamped into [min, max]. */
void cln_docker_pick_api(const char *min_api, const char *max_api, char *out, size_t size);
/* filters={"label":[label]} URL-encoded into b, with a leading '&' or '?'. */
void cln_docker_label_filter(struct cln_buf *b, char sep, const char *label);
/* A string array (NULL-terminated v; NULL: empty) as a JSON array. */
cJSON *cln_docker_strv_json(const char *const *v);
/* cln_labels (NULL: none) -> a labels object */
cJSON *cln_docker_labels_json(const struct cln_labels *l);
/* Labels object -> cln_labels */
void cln_docker_labels_from_json(const cJSON *obj, struct cln_labels *ret);

/* ---- killing (docker-exec.c) ---- */
struct cln_proc_scope;
/* A container's scope (its init's pid namespace and cgroup) when the init
 * the engine names is, on this kernel, that container's; its pid in
 * *ret_init (may be NULL).  false: not running, not here, not proven. */
bool cln_docker_container_scope(struct docker *d, const char *id, uint64_t min_start,
                                struct cln_proc_scope *ret, char **ret_cgroup, int *ret_init);

/* ---- streams and files (docker-exec.c) ---- */
int cln_docker_logs(void *ctx, const char *id, unsigned tail, size_t cap,
                    struct cln_capture *ret_out, struct cln_capture *ret_err,
                    struct cln_error **err);
int cln_docker_exec(void *ctx, const char *id, const struct cln_exec_config *cfg,
                    struct cln_exec_result *ret, struct cln_error **err);
int cln_docker_copy_in(void *ctx, const char *id, const char *dir, const struct cln_file *files,
                       size_t n, struct cln_error **err);
int cln_docker_copy_out(void *ctx, const char *id, const char *path, size_t cap,
                        struct cln_file_info *ret_info, struct cln_capture *ret_content,
                        bool *ret_found, struct cln_error **err);

/* The exec's exit code after its stream ended: the engine may still say
 * Running for a moment (moby #45795), so it is asked again.  After the
 * attempt-th inspect (from 0) said Running: how long to sleep before the
 * next one, in microseconds, or 0 when that inspect was the last.  The
 * sleeps double from CLN_DOCKER_EXIT_POLL_FIRST_US and add up to
 * CLN_DOCKER_EXIT_POLL_MS exactly (the last one cut to fit): 13 inspects
 * and 12 sleeps between them, 2 s in all, none after the last inspect. */
#define CLN_DOCKER_EXIT_POLL_FIRST_US 500
#define CLN_DOCKER_EXIT_POLL_MS 2000
unsigned cln_docker_exit_poll_delay_us(unsigned attempt);

/* Did the engine fail to start an exec's process?  From its exit code and
 * output (Docker writes the OCI runtime's error to stdout with 126, Podman
 * to stderr with 127): the cause in words, newly allocated, or NULL. */
char *cln_docker_exec_start_failure(int exit_code, const struct cln_capture *out,
                                    const struct cln_capture *err);

/* ---- requests (docker.c) ---- */

/* Run a request with a JSON body (or none) and check the status; the response
 * body is returned in resp (caller frees with cln_http_response_done). */
int cln_docker_call(struct docker *d, const char *method, const char *path, const cJSON *body,
                    const char *what, struct cln_http_response *resp, struct cln_error **err);

/* POST a JSON body (or none) and return the answer's string field, newly
 * allocated, in *ret: "Id" of a creation, "Name" of a volume.  A missing
 * field is a CLN_E_PARSE error "WHAT: no FIELD in the answer". */
int cln_docker_post_for(struct docker *d, const char *path, const cJSON *body, const char *what,
                        const char *field, char **ret, struct cln_error **err);
/* DELETE path; an engine that says 404 (already gone) is a success.  Never
 * cut short by an interrupt: removals are how a run cleans up. */
int cln_docker_delete(struct docker *d, const char *path, const char *what, struct cln_error **err);

/* Build-output / pull-progress NDJSON stream scanner. */
struct cln_docker_ndjson {
    struct cln_buf line;
    cln_progress_fn progress;
    void *userdata;
    char *error;  /* first in-band error, owned */
    char *aux_id; /* aux.ID of a build, owned */
};
bool cln_docker_ndjson_feed(const char *data, size_t len, void *userdata);
void cln_docker_ndjson_finish(struct cln_docker_ndjson *s);
void cln_docker_ndjson_done(struct cln_docker_ndjson *s);
/* The outcome of a streamed NDJSON request (a pull, a build) once s is
 * finished: r is cln_http_do's result (a failure is wrapped with what); a
 * non-2xx status, or an in-band error under a 200, is an error carrying
 * the engine's message. */
int cln_docker_ndjson_check(struct docker *d, int r, const struct cln_http_response *resp,
                            struct cln_docker_ndjson *s, const char *what, struct cln_error **err);
