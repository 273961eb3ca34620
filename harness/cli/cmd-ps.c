/* cleanrun ps (docs/cli.md): the containers cleanrun owns, read-only, as a
 * table or JSON. */
#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "harness/reclaim.h"
#include "harness/text.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/runtime.h"

static const char ps_help[] = "usage: cleanrun ps [OPTIONS]\n\n"
                              "List the containers cleanrun owns (running or not), read-only.\n\n"
                              "  --image IMAGE     only this image\n"
                              "  --test NAME       only this test's\n"
                              "  --state STATE     only in this state (running, exited, created, "
                              "...)\n"
                              "  --name PATTERN    only names matching the shell pattern\n"
                              "  --run ID          only this run's\n"
                              "  --format FORMAT   table (default) or json\n"
                              "  --runtime NAME, --host URL   which engine\n";

struct ps_opts {
    const char *image, *test, *state, *name, *run;
    bool json;
};

static int ps_option(int opt, const char *arg, void *ud)
{
    struct ps_opts *o = ud;
    switch (opt) {
    case 'i':
        o->image = arg;
        return 0;
    case 't':
        o->test = arg;
        return 0;
    case 's': {
        static const char *const states[] = {"created",  "running", "paused", "restarting",
                                             "removing", "exited",  "dead"};
        bool known = false;
        for (size_t i = 0; i < CLN_ARRAY_SIZE(states); i++)
            known = known || strcmp(arg, states[i]) == 0;
        if (!known) {
            fprintf(stderr,
                    "cleanrun ps: --state is one of created, running, paused, restarting, "
                    "removing, exited, dead, not \"%s\"\n",
                    arg);
            return CLN_EXIT_USAGE;
        }
        o->state = arg;
        return 0;
    }
    case 'n':
        o->name = arg;
        return 0;
    case 'R':
        o->run = arg;
        return 0;
    case 'f':
        if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0) {
            fprintf(stderr, "cleanrun ps: --format is table or json, not \"%s\"\n", arg);
            return CLN_EXIT_USAGE;
        }
        o->json = strcmp(arg, "json") == 0;
        return 0;
    default:
        return CLN_EXIT_USAGE;
    }
}

/* "Up 3 seconds (healthy)" -> "healthy"; NULL without a health check. */
static const char *health_of(const char *status, char *buf, size_t size)
{
    static const char *const states[] = {"healthy", "unhealthy", "health: starting"};
    for (size_t i = 0; status && i < 3; i++) {
        const char *p = strstr(status, states[i]);
        if (p && p > status && p[-1] == '(') {
            snprintf(buf, size, "%s", i == 2 ? "starting" : states[i]);
            return buf;
        }
    }
    return NULL;
}

static bool selected(const struct ps_opts *o, const struct cln_container_summary *s)
{
    const char *t = cln_labels_get(&s->labels, CLN_LABEL_TEST);
    return !((o->image && (!s->image || strcmp(s->image, o->image) != 0)) ||
             (o->test && (!t || strcmp(t, o->test) != 0)) ||
             (o->state && (!s->state || strcmp(s->state, o->state) != 0)) ||
             (o->name && (!s->name || fnmatch(o->name, s->name, 0) != 0)));
}

/* One container, as ps shows it. */
struct row {
    const struct cln_container_summary *s;
    const char *test, *run, *service, *step, *owner, *health;
    uint64_t age_ms;
    char hb[32];
};

static void add_string_or_null(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_json(cJSON *arr, const struct row *r)
{
    const struct cln_container_summary *s = r->s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id ? s->id : "");
    cJSON_AddStringToObject(o, "name", s->name ? s->name : "");
    cJSON_AddStringToObject(o, "image", s->image ? s->image : "");
    cJSON_AddStringToObject(o, "run", r->run ? r->run : "");
    cJSON_AddStringToObject(o, "owner", r->owner);
    add_string_or_null(o, "test", r->test);
    add_string_or_null(o, "service", r->service);
    add_string_or_null(o, "step", r->step);
    cJSON_AddStringToObject(o, "state", s->state ? s->state : "");
    add_string_or_null(o, "health", r->health);
    cJSON_AddNumberToObject(o, "created", (double)s->created);
    uint64_t age_s = r->age_ms / 1000;
    cJSON_AddNumberToObject(o, "age_s", (double)age_s);
    cJSON_AddItemToArray(arr, o);
}

static void print_row(const struct row *r)
{
    const struct cln_container_summary *s = r->s;
    char age[32];
    char what[80];
    snprintf(what, sizeof(what), "%s%s",
             r->service ? "service "
             : r->step  ? "step "
                        : "-",
             r->service ? r->service
             : r->step  ? r->step
                        : "");
    /* labels and names are anyone's text: never raw on a terminal */
    cleanup_free char *vt = cln_text_name(r->test ? r->test : "-");
    cleanup_free char *vw = cln_text_name(what);
    cleanup_free char *vn = cln_text_name(s->name ? s->name : "");
    cleanup_free char *vr = cln_text_name(r->run ? r->run : "");
    printf("%-12.12s  %-14s  %-8s  %-24s  %-16s  %-8s  %-9s  %-8s  %s\n", s->id ? s->id : "", vr,
           r->owner, vt, vw, s->state ? s->state : "", r->health ? r->health : "-",
           cln_duration_format(r->age_ms, age, sizeof(age)), vn);
}

static void show(const struct ps_opts *o, const struct cln_runtime *rt,
                 const struct cln_container_summary *cs, size_t n)
{
    cleanup_json cJSON *arr = o->json ? cJSON_CreateArray() : NULL;
    if (!o->json)
        printf("%-12s  %-14s  %-8s  %-24s  %-16s  %-8s  %-9s  %-8s  %s\n", "CONTAINER", "RUN",
               "OWNER", "TEST", "SERVICE/STEP", "STATE", "HEALTH", "AGE", "NAME");
    time_t now = (time_t)(cln_wall_ms() / 1000);
    for (size_t i = 0; i < n; i++) {
        const struct cln_container_summary *s = &cs[i];
        if (!selected(o, s))
            continue;
        struct row r = {
            .s = s,
            .test = cln_labels_get(&s->labels, CLN_LABEL_TEST),
            .run = cln_labels_get(&s->labels, CLN_LABEL_RUN),
            .service = cln_labels_get(&s->labels, "io.cleanrun.service"),
            .step = cln_labels_get(&s->labels, "io.cleanrun.step"),
            .owner = cln_owner_state_name(cln_owner_state(&s->labels, cln_runtime_local(rt))),
            .age_ms = s->created && now > s->created ? (uint64_t)(now - s->created) * 1000 : 0,
        };
        r.health = health_of(s->status, r.hb, sizeof(r.hb));
        if (o->json)
            add_json(arr, &r);
        else
            print_row(&r);
    }
    if (o->json) {
        cleanup_free char *txt = cJSON_Print(arr);
        printf("%s\n", txt);
    }
}

int cln_cmd_ps(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"image", required_argument, NULL, 'i'},
        {"test", required_argument, NULL, 't'},
        {"state", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"run", required_argument, NULL, 'R'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    static const struct cln_cli_engine_cmd cmd = {
        .name = "ps", .help = ps_help, .longopts = longopts, .option = ps_option};
    struct ps_opts o = {0};
    struct cln_runtime *rt = NULL;
    int code = cln_cli_engine_start(&cmd, argc, argv, &o, &rt);
    if (code >= 0)
        return code;
    char filter[128];
    if (o.run)
        snprintf(filter, sizeof(filter), CLN_LABEL_RUN "=%s", o.run);
    else
        snprintf(filter, sizeof(filter), CLN_LABEL_RUN);
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    struct cln_error *err = NULL;
    if (cln_rt_list(rt, filter, &cs, &n, &err) < 0) {
        code = cln_cli_fail(err, CLN_EXIT_INFRA);
        cln_runtime_close(rt);
        return code;
    }
    show(&o, rt, cs, n);
    cln_container_summaries_free(cs, n);
    cln_runtime_close(rt);
    return CLN_EXIT_OK;
}
