/* The shape of a spec (docs/spec.md), and the walk that reports every
 * unknown key and wrongly typed value of a document at once. */
#include "spec-schema.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/buf.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "spec.h"
#include "toml/toml.h"

#define S CLN_SCHEMA_STRING
#define I CLN_SCHEMA_INTEGER
#define F CLN_SCHEMA_FLOAT
#define B CLN_SCHEMA_BOOL
#define A CLN_SCHEMA_ARRAY
#define T CLN_SCHEMA_TABLE
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define DURATION "a duration string such as \"5s\""
#define STRINGS "an array of strings"

/* ---- files, mounts ---- */

static const struct cln_schema_key file_keys[] = {
    {.name = "path", .types = S, .doc = "where the file goes"},
    {.name = "content", .types = S, .doc = "the file's content"},
    {.name = "source", .types = S, .doc = "a file to copy, relative to the spec's directory"},
    {.name = "mode", .types = I, .doc = "permissions, e.g. 0o755 (default 0644, or the source's)"},
};
static const struct cln_schema_table file_table = {file_keys, N(file_keys), NULL};

static const struct cln_schema_key ctr_file_keys[] = {
    {.name = "path", .types = S, .doc = "where the file goes"},
    {.name = "content", .types = S, .doc = "the file's content"},
    {.name = "source", .types = S, .doc = "a file to copy, relative to the spec's directory"},
    {.name = "mode", .types = I, .doc = "permissions, e.g. 0o755 (default 0644, or the source's)"},
    {.name = "owner", .types = S, .doc = "uid[:gid] or user[:group] (default root)"},
};
static const struct cln_schema_table ctr_file_table = {ctr_file_keys, N(ctr_file_keys), NULL};

static const struct cln_schema_key volume_mount_keys[] = {
    {.name = "volume", .types = S, .doc = "a [volumes] name"},
    {.name = "target", .types = S, .doc = "an absolute path in the container"},
    {.name = "read_only", .types = B, .doc = "mount it read-only"},
};
static const struct cln_schema_table volume_mount_table = {volume_mount_keys, N(volume_mount_keys),
                                                           NULL};

static const struct cln_schema_key tmpfs_keys[] = {
    {.name = "target", .types = S, .doc = "an absolute path in the container"},
    {.name = "size", .types = S, .doc = "its size limit, e.g. \"64MiB\""},
    {.name = "mode", .types = I, .doc = "its permissions (default 0o1777)"},
};
static const struct cln_schema_table tmpfs_table = {tmpfs_keys, N(tmpfs_keys), NULL};

#define DATA_KEYS                                                                                  \
    {.name = "volumes",                                                                            \
     .types = A,                                                                                   \
     .items = T,                                                                                   \
     .items_wanted = "a table ({ volume = ..., target = ... })",                                   \
     .item_table = &volume_mount_table,                                                            \
     .doc = "[volumes] mounted in the container"},                                                 \
        {.name = "tmpfs",                                                                          \
         .types = A,                                                                               \
         .items = S | T,                                                                           \
         .items_wanted = "a path or a table ({ target = ..., size = ... })",                       \
         .item_table = &tmpfs_table,                                                               \
         .doc = "tmpfs mounts"},                                                                   \
    {                                                                                              \
        .name = "artifacts", .types = A, .items = S, .items_wanted = "a string",                   \
        .doc = "paths copied out for --artifacts (a trailing / for a directory)"                   \
    }

static const struct cln_schema_key mount_keys[] = {
    {.name = "source", .types = S, .doc = "an absolute host path"},
    {.name = "target", .types = S, .doc = "an absolute path in the container"},
    {.name = "read_only", .types = B, .doc = "mount it read-only"},
};
static const struct cln_schema_table mount_table = {mount_keys, N(mount_keys), NULL};

static const struct cln_schema_key string_value = {.types = S, .doc = "a string"};
static const struct cln_schema_table env_table = {NULL, 0, &string_value};

/* ---- [test], [vars], [matrix], [images] ---- */

static const struct cln_schema_key test_keys[] = {
    {.name = "name", .types = S, .doc = "the test's name in results"},
    {.name = "description", .types = S, .doc = "free text"},
    {.name = "tags", .types = A, .items = S, .items_wanted = "a string", .doc = "for --tag"},
    {.name = "timeout",
     .types = S,
     .wanted = DURATION,
     .doc = "limit for the whole test; steps get what is left of it"},
    {.name = "host_env",
     .types = A,
     .items = S,
     .items_wanted = "a string",
     .doc = "host environment variables the spec may read as ${env.NAME}"},
    {.name = "default_service", .types = S, .doc = "where steps without service/image run"},
    {.name = "default_image",
     .types = S,
     .doc = "where steps without service/image run (a fresh container)"},
};
static const struct cln_schema_table test_table = {test_keys, N(test_keys), NULL};

static const struct cln_schema_key var_value = {
    .types = S | I | B, .wanted = "a string, integer or boolean", .doc = "a variable: ${name}"};
static const struct cln_schema_table vars_table = {NULL, 0, &var_value};

static const struct cln_schema_key matrix_value = {.types = A,
                                                   .items = S | I | B,
                                                   .items_wanted = "a string, integer or boolean",
                                                   .doc = "the values of one matrix key"};
static const struct cln_schema_key combination_value = {
    .types = S | I | B, .wanted = "a string, integer or boolean", .doc = "a matrix value"};
static const struct cln_schema_table combination_table = {NULL, 0, &combination_value};
static const struct cln_schema_key matrix_keys[] = {
    {.name = "include",
     .types = A,
     .items = T,
     .items_wanted = "a table (a combination: { key = value, ... })",
     .item_table = &combination_table,
     .doc = "combinations added"},
    {.name = "exclude",
     .types = A,
     .items = T,
     .items_wanted = "a table ({ key = value, ... })",
     .item_table = &combination_table,
     .doc = "combinations removed: those with all these values"},
};
static const struct cln_schema_table matrix_table = {matrix_keys, N(matrix_keys), &matrix_value};

static const struct cln_schema_key image_keys[] = {
    {.name = "ref", .types = S, .doc = "an image reference, e.g. localhost/cleanrun/busybox:1"},
    {.name = "pull", .types = S, .doc = "with ref: never, if-missing (default) or always"},
    {.name = "dockerfile", .types = S, .doc = "the Dockerfile text of an image to build"},
    {.name = "files",
     .types = A,
     .items = T,
     .items_wanted = "a table ({ path = ..., content = ... })",
     .item_table = &file_table,
     .doc = "with dockerfile: the rest of the build context"},
    {.name = "outbound",
     .types = B,
     .doc = "with dockerfile: RUN steps reach the network (needs --allow-outbound)"},
};
static const struct cln_schema_table image_table = {image_keys, N(image_keys), NULL};
static const struct cln_schema_key image_value = {
    .types = T, .table = &image_table, .doc = "an image the services and steps refer to"};
static const struct cln_schema_table images_table = {NULL, 0, &image_value};

static const struct cln_schema_table empty_table = {NULL, 0, NULL};
static const struct cln_schema_key volume_value = {
    .types = T, .table = &empty_table, .doc = "a volume the test's containers share"};
static const struct cln_schema_table volumes_table = {NULL, 0, &volume_value};

/* ---- [services.NAME] ---- */

static const struct cln_schema_key ready_keys[] = {
    {.name = "exec",
     .types = A | S,
     .wanted = "an array (argv) or a string (sh -c)",
     .items = S,
     .items_wanted = "a string",
     .doc = "run inside the service until it exits 0"},
    {.name = "log", .types = S, .doc = "until a line of its output matches (PCRE2)"},
    {.name = "tcp", .types = I, .doc = "until this port (one of ports) accepts connections"},
    {.name = "http",
     .types = S,
     .doc = "until GET of this URL (http://SERVICE:PORT/path, or a published PORT) answers"},
    {.name = "status",
     .types = I | A,
     .items = I,
     .items_wanted = "an integer",
     .doc = "with http: the status(es) that mean ready (default 200-399)"},
    {.name = "body", .types = S, .doc = "with http: a regex the body must match"},
    {.name = "healthcheck", .types = B, .doc = "until the image's own HEALTHCHECK says healthy"},
    {.name = "interval", .types = S, .wanted = DURATION, .doc = "between checks (default 200ms)"},
    {.name = "timeout", .types = S, .wanted = DURATION, .doc = "give up after (default 30s)"},
};
static const struct cln_schema_table ready_table = {ready_keys, N(ready_keys), NULL};

#define PRIVILEGE_KEYS                                                                             \
    {.name = "privileged", .types = B, .doc = "a privileged container (--allow-privileged)"},      \
        {.name = "host_network",                                                                   \
         .types = B,                                                                               \
         .doc = "the host's network namespace (--allow-host-network)"},                            \
        {.name = "host_pid", .types = B, .doc = "the host's pid namespace (--allow-host-pid)"},    \
        {.name = "outbound",                                                                       \
         .types = B,                                                                               \
         .doc = "a route to the host and beyond (--allow-outbound)"},                              \
    {                                                                                              \
        .name = "mounts", .types = A, .items = T,                                                  \
        .items_wanted = "a table ({ source = ..., target = ... })", .item_table = &mount_table,    \
        .doc = "bind mounts of host paths (--allow-host-mounts)"                                   \
    }

static const struct cln_schema_key service_keys[] = {
    {.name = "image", .types = S, .doc = "an [images] name or a reference"},
    {.name = "command",
     .types = A,
     .items = S,
     .items_wanted = "a string",
     .doc = "replaces the image's CMD"},
    {.name = "entrypoint",
     .types = A,
     .items = S,
     .items_wanted = "a string",
     .doc = "replaces the image's ENTRYPOINT ([] clears it)"},
    {.name = "env",
     .types = T,
     .table = &env_table,
     .doc = "environment variables (only these: nothing from the host)"},
    {.name = "files",
     .types = A,
     .items = T,
     .items_wanted = "a table ({ path = ..., content = ... })",
     .item_table = &ctr_file_table,
     .doc = "files copied in before it starts"},
    {.name = "ports",
     .types = A,
     .items = I,
     .items_wanted = "a port number (1-65535)",
     .doc = "container ports published on 127.0.0.1"},
    {.name = "memory", .types = S, .doc = "memory limit, e.g. \"64MiB\" (default 512MiB)"},
    {.name = "cpus",
     .types = I | F,
     .wanted = "a positive number of CPUs (e.g. 0.5)",
     .doc = "CPU limit"},
    {.name = "pids", .types = I, .doc = "process limit (default 512)"},
    {.name = "depends_on",
     .types = A,
     .items = S,
     .items_wanted = "a string",
     .doc = "services started and ready first"},
    {.name = "aliases",
     .types = A,
     .items = S,
     .items_wanted = "a string",
     .doc = "more host names on the test network"},
    {.name = "ready", .types = T, .table = &ready_table, .doc = "readiness check"},
    {.name = "user", .types = S, .doc = "user, uid or uid:gid it runs as"},
    {.name = "workdir", .types = S, .doc = "its working directory"},
    PRIVILEGE_KEYS,
    DATA_KEYS,
};
static const struct cln_schema_table service_table = {service_keys, N(service_keys), NULL};
static const struct cln_schema_key service_value = {
    .types = T, .table = &service_table, .doc = "a container that runs for the whole test"};
static const struct cln_schema_table services_table = {NULL, 0, &service_value};

/* ---- [[steps]] and expect ---- */

static const struct cln_schema_key json_keys[] = {
    {.name = "path", .types = S, .doc = "a JSON path: $, .key, ['key'], [index]"},
    {.name = "equals",
     .types = S | I | F | B | A | T | CLN_SCHEMA_DATETIME,
     .wanted = "a value",
     .doc = "the value there"},
    {.name = "exists", .types = B, .doc = "a value is there / none is"},
    {.name = "regex", .types = S, .doc = "the value (a string's text) matches"},
};
static const struct cln_schema_table json_table = {json_keys, N(json_keys), NULL};
#define JSON_KEY                                                                                   \
    {                                                                                              \
        .name = "json", .types = T | A, .wanted = "a table or an array of tables", .items = T,     \
        .items_wanted = "a table ({ path = ..., equals = ... })", .item_table = &json_table,       \
        .table = &json_table, .doc = "values in the content as a JSON document"                    \
    }

static const struct cln_schema_key stream_keys[] = {
    {.name = "equals", .types = S, .doc = "exactly this"},
    {.name = "contains",
     .types = S | A,
     .wanted = "a string or an array of strings",
     .items = S,
     .items_wanted = "a string",
     .doc = "each of these appears"},
    {.name = "not_contains",
     .types = S | A,
     .wanted = "a string or an array of strings",
     .items = S,
     .items_wanted = "a string",
     .doc = "none of these appears"},
    {.name = "regex",
     .types = S | A,
     .wanted = "a string or an array of strings",
     .items = S,
     .items_wanted = "a string",
     .doc = "PCRE2, multiline: each matches"},
    {.name = "not_regex",
     .types = S | A,
     .wanted = "a string or an array of strings",
     .items = S,
     .items_wanted = "a string",
     .doc = "none of these matches"},
    JSON_KEY,
    {.name = "empty", .types = B, .doc = "no output at all / some output"},
};
static const struct cln_schema_table stream_table = {stream_keys, N(stream_keys), NULL};

static const struct cln_schema_key fexpect_keys[] = {
    {.name = "path", .types = S, .doc = "absolute path in the container"},
    {.name = "exists", .types = B, .doc = "present / absent (default: present)"},
    {.name = "type", .types = S, .doc = "file, directory or symlink"},
    {.name = "mode", .types = I, .doc = "the permission bits, e.g. 0o644"},
    {.name = "owner", .types = S, .doc = "a user name or uid"},
    {.name = "group", .types = S, .doc = "a group name or gid"},
    {.name = "equals", .types = S, .doc = "the content exactly"},
    {.name = "regex",
     .types = S | A,
     .wanted = "a string or an array of strings",
     .items = S,
     .items_wanted = "a string",
     .doc = "the content matches (PCRE2): each"},
    {.name = "not_regex",
     .types = S | A,
     .wanted = "a string or an array of strings",
     .items = S,
     .items_wanted = "a string",
     .doc = "the content matches none of these"},
    JSON_KEY,
};
static const struct cln_schema_table fexpect_table = {fexpect_keys, N(fexpect_keys), NULL};

static const struct cln_schema_key expect_keys[] = {
    {.name = "exit",
     .types = I | A | S,
     .wanted = "an exit code (0-255), a list of them, \"non-zero\" or \"any\"",
     .doc = "the exit code"},
    {.name = "stdout",
     .types = S | T,
     .wanted = "a string (equals) or a table",
     .table = &stream_table,
     .doc = "standard output"},
    {.name = "stderr",
     .types = S | T,
     .wanted = "a string (equals) or a table",
     .table = &stream_table,
     .doc = "standard error"},
    {.name = "files",
     .types = A,
     .items = T,
     .items_wanted = "a table ({ path = ..., exists = ... })",
     .item_table = &fexpect_table,
     .doc = "files in the step's container after it ran"},
    {.name = "max_duration", .types = S, .wanted = DURATION, .doc = "the step took at most this"},
};
static const struct cln_schema_table expect_table = {expect_keys, N(expect_keys), NULL};

static const struct cln_schema_key step_keys[] = {
    {.name = "name", .types = S, .doc = "defaults to step N"},
    {.name = "service", .types = S, .doc = "run in this running service"},
    {.name = "image", .types = S, .doc = "run in a fresh container of this image"},
    {.name = "run",
     .types = A | S,
     .wanted = "an array (argv, run exactly) or a string (run by sh -c in the container)",
     .items = S,
     .items_wanted = "a string",
     .doc = "the command"},
    {.name = "env", .types = T, .table = &env_table, .doc = "environment for the step"},
    {.name = "workdir", .types = S, .doc = "working directory (must exist)"},
    {.name = "user", .types = S, .doc = "user, uid or uid:gid"},
    {.name = "stdin", .types = S, .doc = "text fed to standard input"},
    {.name = "timeout", .types = S, .wanted = DURATION, .doc = "the step's deadline"},
    {.name = "retries", .types = I, .doc = "run again until the expectations hold (0-100)"},
    {.name = "retry_interval",
     .types = S,
     .wanted = DURATION,
     .doc = "between attempts (default 500ms)"},
    {.name = "continue_on_failure", .types = B, .doc = "go on with the next steps after a failure"},
    {.name = "network", .types = B, .doc = "fresh containers only: join the test network"},
    {.name = "memory", .types = S, .doc = "fresh containers only: memory limit"},
    {.name = "pids", .types = I, .doc = "fresh containers only: process limit"},
    {.name = "files",
     .types = A,
     .items = T,
     .items_wanted = "a table ({ path = ..., content = ... })",
     .item_table = &ctr_file_table,
     .doc = "fresh containers only: files copied in before it starts"},
    PRIVILEGE_KEYS,
    DATA_KEYS,
    {.name = "expect", .types = T, .table = &expect_table, .doc = "expectations"},
};
static const struct cln_schema_table step_table = {step_keys, N(step_keys), NULL};

/* ---- the root ---- */

static const struct cln_schema_key root_keys[] = {
    {.name = "test", .types = T, .table = &test_table, .doc = "the test"},
    {.name = "vars", .types = T, .table = &vars_table, .doc = "variables, used as ${name}"},
    {.name = "matrix",
     .types = T,
     .table = &matrix_table,
     .doc = "the test runs once per combination"},
    {.name = "images", .types = T, .table = &images_table, .doc = "images, by name"},
    {.name = "volumes",
     .types = T,
     .table = &volumes_table,
     .doc = "volumes shared by the test's containers, by name"},
    {.name = "services", .types = T, .table = &services_table, .doc = "services, by name"},
    {.name = "steps",
     .types = A,
     .wanted = "an array of tables ([[steps]])",
     .items = T,
     .items_wanted = "a table ([[steps]])",
     .item_table = &step_table,
     .doc = "the steps, in order"},
};
const struct cln_schema_table cln_spec_schema = {root_keys, N(root_keys), NULL};

/* ---- the walk ---- */

struct walk {
    const struct cln_toml_doc *doc;
    struct cln_error **err;
    size_t n, max;
};

static void __attribute__((format(printf, 3, 4)))
report(struct walk *w, struct cln_toml_pos pos, const char *fmt, ...)
{
    if (w->n++ >= w->max)
        return;
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cln_error_set(w->err, CLN_E_SPEC, 0, "%s:%u:%u: %s", cln_toml_name(w->doc), pos.line, pos.col,
                  msg);
}

static unsigned type_bit(enum cln_toml_type t)
{
    switch (t) {
    case CLN_TOML_STRING:
        return S;
    case CLN_TOML_INTEGER:
        return I;
    case CLN_TOML_FLOAT:
        return F;
    case CLN_TOML_BOOL:
        return B;
    case CLN_TOML_ARRAY:
        return A;
    case CLN_TOML_TABLE:
        return T;
    default:
        return CLN_SCHEMA_DATETIME;
    }
}

static const char *article(enum cln_toml_type t)
{
    return t == CLN_TOML_INTEGER || t == CLN_TOML_ARRAY || t == CLN_TOML_DATETIME ||
                   t == CLN_TOML_DATETIME_LOCAL
               ? "an"
               : "a";
}

/* "a string", "a string or an integer", from type bits */
static void describe(unsigned types, struct cln_buf *b)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{S, "a string"},  {I, "an integer"}, {F, "a float"},
                 {B, "a boolean"}, {A, "an array"},   {T, "a table"}};
    size_t n = 0, total = 0;
    for (size_t i = 0; i < N(names); i++)
        total += (types & names[i].bit) != 0;
    for (size_t i = 0; i < N(names); i++)
        if (types & names[i].bit) {
            n++;
            cln_buf_printf(b, "%s%s", n == 1 ? "" : n == total ? " or " : ", ", names[i].name);
        }
}

static size_t edit(const char *a, const char *b)
{
    return cln_edit_distance(a, b);
}

static void walk_table(struct walk *w, const struct cln_toml_value *t,
                       const struct cln_schema_table *s, const char *where, const char *prefix);

static void walk_value(struct walk *w, const struct cln_toml_value *v,
                       const struct cln_schema_key *k, const char *what)
{
    if (!(type_bit(v->type) & k->types)) {
        struct cln_buf b = CLN_BUF_INIT;
        if (k->wanted)
            cln_buf_puts(&b, k->wanted);
        else
            describe(k->types, &b);
        report(w, v->pos, "%s must be %s, not %s %s", what, b.data, article(v->type),
               cln_toml_type_name(v->type));
        cln_buf_done(&b);
        return;
    }
    if (v->type == CLN_TOML_TABLE && k->table) {
        walk_table(w, v, k->table, what, what);
    } else if (v->type == CLN_TOML_ARRAY && (k->items || k->item_table)) {
        for (size_t i = 0; i < cln_toml_array_len(v); i++) {
            const struct cln_toml_value *it = cln_toml_array_at(v, i);
            char iw[400];
            snprintf(iw, sizeof(iw), "%s[%zu]", what, i);
            if (k->items && !(type_bit(it->type) & k->items)) {
                struct cln_buf b = CLN_BUF_INIT;
                if (k->items_wanted)
                    cln_buf_puts(&b, k->items_wanted);
                else
                    describe(k->items, &b);
                report(w, it->pos, "%s must be %s, not %s %s", iw, b.data, article(it->type),
                       cln_toml_type_name(it->type));
                cln_buf_done(&b);
                continue;
            }
            if (it->type == CLN_TOML_TABLE && k->item_table)
                walk_table(w, it, k->item_table, iw, iw);
        }
    }
}

static void unknown_key(struct walk *w, const struct cln_toml_entry *e,
                        const struct cln_schema_table *s, const char *where)
{
    const char *best = NULL;
    size_t bd = 99, len = strlen(e->key);
    struct cln_buf list = CLN_BUF_INIT;
    for (size_t j = 0; j < s->nkeys; j++) {
        size_t d = edit(e->key, s->keys[j].name);
        if (d < bd) {
            bd = d;
            best = s->keys[j].name;
        }
        cln_buf_printf(&list, "%s%s", j ? ", " : "", s->keys[j].name);
    }
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    char hint[96] = "";
    if (best && bd <= limit)
        snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", best);
    report(w, e->pos, "unknown key \"%s\" in %s%s; known keys: %s", e->key, where, hint,
           list.data ? list.data : "");
    cln_buf_done(&list);
}

static const struct cln_schema_key *find_key(const struct cln_schema_table *s, const char *name)
{
    for (size_t j = 0; j < s->nkeys; j++)
        if (strcmp(s->keys[j].name, name) == 0)
            return &s->keys[j];
    return NULL;
}

static void walk_table(struct walk *w, const struct cln_toml_value *t,
                       const struct cln_schema_table *s, const char *where, const char *prefix)
{
    for (size_t i = 0; i < cln_toml_table_len(t); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(t, i);
        char what[400];
        snprintf(what, sizeof(what), "%s%s%s", prefix, *prefix ? "." : "", e->key);
        const struct cln_schema_key *k = s->keys ? find_key(s, e->key) : NULL;
        if (!k)
            k = s->value;
        if (k)
            walk_value(w, e->value, k, what);
        else if (s->keys) /* a map (keys NULL) takes any key */
            unknown_key(w, e, s, where);
    }
}

size_t cln_spec_schema_check(const struct cln_toml_doc *doc, size_t max, struct cln_error **err)
{
    struct walk w = {.doc = doc, .err = err, .max = max};
    const struct cln_toml_value *root = cln_toml_root(doc);
    /* the top level names its parts as a reader writes them: [test],
     * services.NAME, steps[N] */
    for (size_t i = 0; i < cln_toml_table_len(root); i++) {
        const struct cln_toml_entry *e = cln_toml_table_at(root, i);
        const struct cln_schema_key *k = find_key(&cln_spec_schema, e->key);
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\"", e->key);
        if (!k) {
            unknown_key(&w, e, &cln_spec_schema, "the spec (top level)");
        } else if (!(type_bit(e->value->type) & k->types)) {
            walk_value(&w, e->value, k, quoted); /* the type error */
        } else if (strcmp(e->key, "test") == 0) {
            walk_table(&w, e->value, &test_table, "[test]", "test");
        } else if (strcmp(e->key, "steps") == 0) {
            for (size_t j = 0; j < cln_toml_array_len(e->value); j++) {
                const struct cln_toml_value *st = cln_toml_array_at(e->value, j);
                char sw[32];
                snprintf(sw, sizeof(sw), "steps[%zu]", j);
                if (st->type != CLN_TOML_TABLE)
                    report(&w, st->pos, "%s must be a table, not %s %s", sw, article(st->type),
                           cln_toml_type_name(st->type));
                else
                    walk_table(&w, st, &step_table, sw, sw);
            }
        } else {
            /* services.NAME, images.NAME, vars.NAME, matrix.NAME */
            for (size_t j = 0; j < cln_toml_table_len(e->value); j++) {
                const struct cln_toml_entry *m = cln_toml_table_at(e->value, j);
                char what[400];
                snprintf(what, sizeof(what), "%s.%s", e->key, m->key);
                const struct cln_schema_key *mk =
                    k->table->keys ? find_key(k->table, m->key) : NULL;
                walk_value(&w, m->value, mk ? mk : k->table->value, what);
            }
        }
    }
    return w.n;
}
