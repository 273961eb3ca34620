/* cleanrun gc | ps (docs/cli.md). */
#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "harness/cleanup.h"
#include "harness/text.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/duration.h"
#include "runtime/base/error.h"
#include "runtime/base/xalloc.h"
#include "runtime/runtime.h"

struct conn_opts {
    const char *runtime, *host;
};

int cln_cmd_gc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"runtime", required_argument, NULL, 'r'},
        {"host", required_argument, NULL, 'H'},
        {"run", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct conn_opts c = {0};
    const char *run = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            c.runtime = optarg;
            break;
        case 'H':
            c.host = optarg;
            break;
        case 'R':
            for (const char *p = optarg; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
                    fprintf(stderr, "cleanrun gc: --run takes a run id (hex digits), not \"%s\"\n",
                            optarg);
                    return CLN_EXIT_USAGE;
                }
            if (!*optarg) {
                fprintf(stderr, "cleanrun gc: --run takes a run id\n");
                return CLN_EXIT_USAGE;
            }
            run = optarg;
            break;
        case 'h':
            printf("usage: cleanrun gc [--run ID] [--runtime NAME] [--host URL]\n\n"
                   "Remove the containers, networks and volumes of cleanrun runs whose owner\n"
                   "process is gone (killed, crashed, or the machine rebooted).  Runs whose\n"
                   "owner is alive, or cannot be judged from here (another machine's, or in a\n"
                   "pid namespace not visible from here), are never touched.\n"
                   "'cleanrun run' does this first unless given --no-gc.\n\n"
                   "  --run ID   remove this run's resources, whoever owns them (you say it is\n"
                   "             dead; 'cleanrun ps' shows run ids and owners)\n");
            return CLN_EXIT_OK;
        default:
            fprintf(stderr, "cleanrun gc: unknown option %s\n", argv[optind - 1]);
            return CLN_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cleanrun gc: unexpected argument \"%s\"\n", argv[optind]);
        return CLN_EXIT_USAGE;
    }
    struct cln_runtime *rt = NULL;
    int code = cln_cli_open_runtime(c.runtime, c.host, &rt);
    if (code)
        return code;
    struct cln_error *err = NULL;
    if (run) {
        size_t removed[3] = {0};
        int rc = cln_remove_run(rt, run, removed, &err);
        printf("gc: run %s: removed %zu containers, %zu networks, %zu volumes\n", run, removed[0],
               removed[1], removed[2]);
        if (rc < 0) {
            cln_cli_print_error(err);
            cln_error_free(err);
        }
        cln_runtime_close(rt);
        return rc < 0 ? CLN_EXIT_INFRA : CLN_EXIT_OK;
    }
    struct cln_gc_report r;
    if (cln_gc(rt, &r, &err) < 0) {
        cln_cli_print_error(err);
        cln_error_free(err);
        cln_runtime_close(rt);
        return CLN_EXIT_INFRA;
    }
    printf("gc: %zu dead run%s: removed %zu containers, %zu networks, %zu volumes\n", r.runs,
           r.runs == 1 ? "" : "s", r.containers, r.networks, r.volumes);
    if (r.unknown)
        printf("gc: left %zu run%s alone: the owner cannot be judged from here (another "
               "machine's, or a pid namespace not visible here); 'cleanrun gc --run ID' removes "
               "one you know is dead\n",
               r.unknown, r.unknown == 1 ? "" : "s");
    for (size_t i = 0; i < r.nerrors; i++)
        fprintf(stderr, "cleanrun gc: %s\n", r.errors[i]);
    code = r.nerrors ? CLN_EXIT_INFRA : CLN_EXIT_OK;
    cln_gc_report_done(&r);
    cln_runtime_close(rt);
    return code;
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

int cln_cmd_ps(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"runtime", required_argument, NULL, 'r'}, {"host", required_argument, NULL, 'H'},
        {"image", required_argument, NULL, 'i'},   {"test", required_argument, NULL, 't'},
        {"state", required_argument, NULL, 's'},   {"name", required_argument, NULL, 'n'},
        {"run", required_argument, NULL, 'R'},     {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct conn_opts c = {0};
    const char *image = NULL, *test = NULL, *state = NULL, *name = NULL, *run = NULL;
    bool json = false;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            c.runtime = optarg;
            break;
        case 'H':
            c.host = optarg;
            break;
        case 'i':
            image = optarg;
            break;
        case 't':
            test = optarg;
            break;
        case 's': {
            static const char *const states[] = {"created",  "running", "paused", "restarting",
                                                 "removing", "exited",  "dead"};
            bool known = false;
            for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
                known = known || strcmp(optarg, states[i]) == 0;
            if (!known) {
                fprintf(stderr,
                        "cleanrun ps: --state is one of created, running, paused, restarting, "
                        "removing, exited, dead, not \"%s\"\n",
                        optarg);
                return CLN_EXIT_USAGE;
            }
            state = optarg;
            break;
        }
        case 'n':
            name = optarg;
            break;
        case 'R':
            run = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                fprintf(stderr, "cleanrun ps: --format is table or json, not \"%s\"\n", optarg);
                return CLN_EXIT_USAGE;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            printf("usage: cleanrun ps [OPTIONS]\n\n"
                   "List the containers cleanrun owns (running or not), read-only.\n\n"
                   "  --image IMAGE     only this image\n"
                   "  --test NAME       only this test's\n"
                   "  --state STATE     only in this state (running, exited, created, ...)\n"
                   "  --name PATTERN    only names matching the shell pattern\n"
                   "  --run ID          only this run's\n"
                   "  --format FORMAT   table (default) or json\n"
                   "  --runtime NAME, --host URL   which engine\n");
            return CLN_EXIT_OK;
        default:
            fprintf(stderr, "cleanrun ps: unknown option %s\n", argv[optind - 1]);
            return CLN_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cleanrun ps: unexpected argument \"%s\"\n", argv[optind]);
        return CLN_EXIT_USAGE;
    }
    struct cln_runtime *rt = NULL;
    int code = cln_cli_open_runtime(c.runtime, c.host, &rt);
    if (code)
        return code;
    char filter[128];
    if (run)
        snprintf(filter, sizeof(filter), CLN_LABEL_RUN "=%s", run);
    else
        snprintf(filter, sizeof(filter), CLN_LABEL_RUN);
    struct cln_container_summary *cs = NULL;
    size_t n = 0;
    struct cln_error *err = NULL;
    if (cln_rt_list(rt, filter, &cs, &n, &err) < 0) {
        cln_cli_print_error(err);
        cln_error_free(err);
        cln_runtime_close(rt);
        return CLN_EXIT_INFRA;
    }
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (!json)
        printf("%-12s  %-14s  %-8s  %-24s  %-16s  %-8s  %-9s  %-8s  %s\n", "CONTAINER", "RUN",
               "OWNER", "TEST", "SERVICE/STEP", "STATE", "HEALTH", "AGE", "NAME");
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        const struct cln_container_summary *s = &cs[i];
        const char *t = cln_labels_get(&s->labels, CLN_LABEL_TEST);
        if ((image && (!s->image || strcmp(s->image, image) != 0)) ||
            (test && (!t || strcmp(t, test) != 0)) ||
            (state && (!s->state || strcmp(s->state, state) != 0)) ||
            (name && (!s->name || fnmatch(name, s->name, 0) != 0)))
            continue;
        char hb[32];
        const char *health = health_of(s->status, hb, sizeof(hb));
        const char *owner = cln_owner_state_name(cln_owner_state(&s->labels, cln_runtime_local(rt)));
        uint64_t age_ms = s->created && now > s->created ? (uint64_t)(now - s->created) * 1000 : 0;
        const char *rid = cln_labels_get(&s->labels, CLN_LABEL_RUN);
        const char *svc = cln_labels_get(&s->labels, "io.cleanrun.service");
        const char *step = cln_labels_get(&s->labels, "io.cleanrun.step");
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", s->id ? s->id : "");
            cJSON_AddStringToObject(o, "name", s->name ? s->name : "");
            cJSON_AddStringToObject(o, "image", s->image ? s->image : "");
            cJSON_AddStringToObject(o, "run", rid ? rid : "");
            cJSON_AddStringToObject(o, "owner", owner);
            if (t)
                cJSON_AddStringToObject(o, "test", t);
            else
                cJSON_AddNullToObject(o, "test");
            if (svc)
                cJSON_AddStringToObject(o, "service", svc);
            else
                cJSON_AddNullToObject(o, "service");
            if (step)
                cJSON_AddStringToObject(o, "step", step);
            else
                cJSON_AddNullToObject(o, "step");
            cJSON_AddStringToObject(o, "state", s->state ? s->state : "");
            if (health)
                cJSON_AddStringToObject(o, "health", health);
            else
                cJSON_AddNullToObject(o, "health");
            cJSON_AddNumberToObject(o, "created", (double)s->created);
            uint64_t age_s = age_ms / 1000;
            cJSON_AddNumberToObject(o, "age_s", (double)age_s);
            cJSON_AddItemToArray(arr, o);
        } else {
            char age[32];
            char what[80];
            snprintf(what, sizeof(what), "%s%s",
                     svc    ? "service "
                     : step ? "step "
                            : "-",
                     svc    ? svc
                     : step ? step
                            : "");
            /* labels and names are anyone's text: never raw on a terminal */
            cleanup_free char *vt = cln_text_name(t ? t : "-");
            cleanup_free char *vw = cln_text_name(what);
            cleanup_free char *vn = cln_text_name(s->name ? s->name : "");
            cleanup_free char *vr = cln_text_name(rid ? rid : "");
            printf("%-12.12s  %-14s  %-8s  %-24s  %-16s  %-8s  %-9s  %-8s  %s\n",
                   s->id ? s->id : "", vr, owner, vt, vw, s->state ? s->state : "",
                   health ? health : "-", cln_duration_format(age_ms, age, sizeof(age)), vn);
        }
    }
    if (json) {
        char *txt = cJSON_Print(arr);
        printf("%s\n", txt);
        free(txt);
        cJSON_Delete(arr);
    }
    cln_container_summaries_free(cs, n);
    cln_runtime_close(rt);
    return CLN_EXIT_OK;
}
