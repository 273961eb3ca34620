/* Watch mode (watch.h): what is watched, waiting for a change to settle,
 * and which tests run again.
 *
 * Everything is watched through directories (runtime/base/os-watch.h),
 * by canonical path: the directory of every spec file and source (a file
 * matches by name, so an editor's write-and-rename is seen), and every
 * directory of the trees given to run (hidden ones skipped, links followed
 * only inside the tree, as the loader's search does), where a *.cleanrun.toml
 * appearing, changing or going counts, and a directory appearing or going
 * means walking the tree again.  A wanted directory that does not exist is
 * watched through its nearest ancestor that does, until it appears.  After
 * each load the watches are brought up to date: added for what the specs
 * now use, removed for what they no longer do, added again for a
 * directory that was removed and made again. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/exit.h"
#include "harness/spec.h"
#include "runtime/base/cleanup.h"
#include "runtime/base/deadline.h"
#include "runtime/base/os-watch.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

#define QUIET_MS_DEFAULT 200
/* A change that never settles (a source rewritten every 100 ms) runs all
 * the same this long after it began. */
#define SETTLE_MAX_MS 5000
/* Waiting idle is bounded too: the interrupt flag is checked between. */
#define IDLE_WAIT_MS 60000
/* Without a wake pipe (it could not be made), the flag alone says. */
#define IDLE_WAIT_NO_PIPE_MS 100
#define MAX_DEPTH 32

struct wdir {
    char *path; /* canonical */
    int id;     /* -1: gone (to be watched again if still wanted) */
    bool tree;  /* in a tree given to run: spec files appearing here count */
    bool keep;  /* wanted at the last refresh */
};

struct watcher {
    const struct cln_watch_opts *o;
    struct cln_os_watch *os;
    char *cwd; /* for showing paths; NULL: absolute */
    struct wdir *dirs;
    size_t ndirs, capdirs;
    struct cln_strv files;   /* canonical paths of every file watched */
    struct cln_strv missing; /* wanted directories that do not exist */
    struct cln_strv used;    /* spec files and sources of the tests (last good load, and a failed
                                load's since) */
    struct cln_strv known;   /* spec files of the tests of the last good load */
    struct cln_strv pending; /* what changed since the last good load */
    bool pending_all;        /* events were lost: everything may have changed */
    bool rescan;             /* a tree changed: walk it again */
    bool hit;                /* the events just read had a relevant one */
    bool ran;                /* a load succeeded and its tests ran */
    bool warned;             /* a watch that could not be added was reported */
    int code;                /* the last run's exit code */
};

/* ---- paths ---- */

static char *join(const char *dir, const char *name)
{
    return cln_xasprintf("%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* p is dir or inside it (both canonical). */
static bool is_under(const char *p, const char *dir)
{
    size_t dl = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return p[0] == '/';
    return strncmp(p, dir, dl) == 0 && (p[dl] == '/' || p[dl] == '\0');
}

/* p with its directory made canonical: the directory watched and the name
 * its events carry (p itself may not exist; nor may its directory, then
 * p is only made absolute). */
static char *path_key(const char *p)
{
    const char *slash = strrchr(p, '/');
    cleanup_free char *dir =
        slash ? cln_xstrndup(p, slash == p ? 1 : (size_t)(slash - p)) : cln_xstrdup(".");
    const char *base = slash ? slash + 1 : p;
    cleanup_free char *real = realpath(dir, NULL);
    if (real)
        return *base ? join(real, base) : CLN_TAKE(real);
    if (p[0] == '/')
        return cln_xstrdup(p);
    cleanup_free char *cwd = getcwd(NULL, 0);
    return cwd ? join(cwd, p) : cln_xstrdup(p);
}

static char *parent_of(const char *p)
{
    const char *slash = strrchr(p, '/');
    return cln_xstrndup(p, !slash || slash == p ? 1 : (size_t)(slash - p));
}

static void add_unique(struct cln_strv *v, char *s)
{
    if (cln_strv_contains(v, s))
        free(s);
    else
        cln_strv_push(v, s);
}

/* What a person reads: relative to the working directory when inside it. */
static const char *shown(const struct watcher *w, const char *p)
{
    size_t cl = w->cwd ? strlen(w->cwd) : 0;
    if (cl > 1 && strncmp(p, w->cwd, cl) == 0 && p[cl] == '/')
        return p + cl + 1;
    return p;
}

/* ---- the watches ---- */

static struct wdir *dir_find(struct watcher *w, const char *path)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (strcmp(w->dirs[i].path, path) == 0)
            return &w->dirs[i];
    return NULL;
}

/* Watch dir (canonical), or while it does not exist its nearest ancestor
 * that does. */
static void want_dir(struct watcher *w, const char *dir, bool tree)
{
    struct wdir *d = dir_find(w, dir);
    if (d && d->id >= 0) {
        d->keep = true;
        d->tree = d->tree || tree;
        return;
    }
    int id = cln_os_watch_add_dir(w->os, dir);
    if (id < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            if (!cln_strv_contains(&w->missing, dir))
                cln_strv_add(&w->missing, dir);
            cleanup_free char *parent = parent_of(dir);
            if (strcmp(parent, dir) != 0)
                want_dir(w, parent, false);
        } else if (!w->warned) {
            w->warned = true;
            fprintf(stderr, "cleanrun: watch: cannot watch %s: %s%s\n", dir, strerror(e),
                    e == ENOSPC ? " (the user's limit of watches: changes there are not seen)"
                                : "");
        }
        return;
    }
    if (d) {
        d->id = id;
        d->keep = true;
        d->tree = tree;
        return;
    }
    w->dirs = cln_xgrow(w->dirs, &w->capdirs, w->ndirs + 1, sizeof(struct wdir));
    w->dirs[w->ndirs++] =
        (struct wdir){.path = cln_xstrdup(dir), .id = id, .tree = tree, .keep = true};
}

/* The directories a walk has entered, by device and inode (a link loop is
 * entered once). */
struct seen {
    struct stat *v;
    size_t n, cap;
};

static bool seen_before(struct seen *s, const struct stat *st)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].st_dev == st->st_dev && s->v[i].st_ino == st->st_ino)
            return true;
    s->v = cln_xgrow(s->v, &s->cap, s->n + 1, sizeof(struct stat));
    s->v[s->n++] = *st;
    return false;
}

/* A tree given to run, as the loader searches it (spec-discover.c): every
 * directory watched, every spec file in it among the files. */
static void walk(struct watcher *w, const char *dir, const char *root, struct seen *sd, int depth)
{
    want_dir(w, dir, true);
    if (depth > MAX_DEPTH)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    const struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *p = join(dir, de->d_name);
        cleanup_free char *real = NULL;
        struct stat st;
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            real = realpath(p, NULL);
            if (!real || !is_under(real, root) || stat(real, &st) < 0)
                continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (!seen_before(sd, &st))
                walk(w, real ? real : p, root, sd, depth + 1);
        } else if (S_ISREG(st.st_mode) && has_suffix(de->d_name, CLN_SPEC_SUFFIX)) {
            add_unique(&w->files, CLN_TAKE(p));
        }
    }
    closedir(d);
}

/* Bring the watches up to date with the paths given and w->used. */
static void refresh(struct watcher *w)
{
    static const char *const dot[] = {"."};
    const char *const *paths = w->o->npaths ? w->o->paths : dot;
    size_t np = w->o->npaths ? w->o->npaths : 1;
    for (size_t i = 0; i < w->ndirs; i++)
        w->dirs[i].keep = w->dirs[i].tree = false;
    cln_strv_done(&w->files);
    cln_strv_done(&w->missing);
    for (size_t i = 0; i < np; i++) {
        struct stat st;
        cleanup_free char *root = NULL;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode) && (root = realpath(paths[i], NULL))) {
            struct seen sd = {0};
            seen_before(&sd, &st);
            walk(w, root, root, &sd, 0);
            free(sd.v);
        } else {
            add_unique(&w->files, path_key(paths[i]));
        }
    }
    for (size_t i = 0; i < w->used.n; i++)
        add_unique(&w->files, cln_xstrdup(w->used.v[i]));
    for (size_t i = 0; i < w->files.n; i++) {
        cleanup_free char *dir = parent_of(w->files.v[i]);
        want_dir(w, dir, false);
    }
    /* what is no longer wanted */
    for (size_t i = 0; i < w->ndirs;) {
        struct wdir *d = &w->dirs[i];
        if (d->keep) {
            i++;
            continue;
        }
        if (d->id >= 0)
            (void)cln_os_watch_remove(w->os, d->id); /* EINVAL: already gone */
        free(d->path);
        w->dirs[i] = w->dirs[--w->ndirs];
    }
    w->rescan = false;
}

/* Everything watched at or under path may have changed. */
static void touch_under(struct watcher *w, const char *path)
{
    for (size_t i = 0; i < w->files.n; i++)
        if (is_under(w->files.v[i], path) && !cln_strv_contains(&w->pending, w->files.v[i]))
            cln_strv_add(&w->pending, w->files.v[i]);
}

static void on_dir_event(struct watcher *w, struct wdir *d, const struct cln_os_watch_event *ev)
{
    if (ev->flags & CLN_OS_WATCH_GONE) {
        touch_under(w, d->path);
        (void)cln_os_watch_remove(w->os, d->id); /* a directory moved away is still watched */
        d->id = -1;
        w->rescan = w->hit = true;
        return;
    }
    if (!ev->name) {
        /* the host cannot tell which entry: any of them */
        touch_under(w, d->path);
        w->rescan = w->hit = true;
        return;
    }
    cleanup_free char *p = join(d->path, ev->name);
    bool visible = ev->name[0] != '.';
    if (cln_strv_contains(&w->files, p) ||
        (d->tree && visible && has_suffix(ev->name, CLN_SPEC_SUFFIX))) {
        if (!cln_strv_contains(&w->pending, p))
            cln_strv_add(&w->pending, p);
        w->hit = true;
    }
    if (d->tree && visible && (ev->flags & CLN_OS_WATCH_ISDIR)) {
        touch_under(w, p);
        w->rescan = w->hit = true;
    }
    for (size_t i = 0; i < w->missing.n; i++)
        if (is_under(w->missing.v[i], p)) {
            touch_under(w, p);
            w->rescan = w->hit = true;
            break;
        }
}

static void on_event(const struct cln_os_watch_event *ev, void *userdata)
{
    struct watcher *w = userdata;
    if (ev->flags & CLN_OS_WATCH_OVERFLOW) {
        w->pending_all = w->rescan = w->hit = true;
        return;
    }
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].id == ev->id)
            on_dir_event(w, &w->dirs[i], ev);
}

/* Wait for a change that matters, then until nothing more comes for the
 * quiet time.  1: changed, 0: interrupted, -1: watching failed (errno). */
static int wait_for_change(struct watcher *w)
{
    const struct cln_watch_opts *o = w->o;
    uint64_t quiet = o->quiet_ms ? o->quiet_ms : QUIET_MS_DEFAULT;
    uint64_t first = 0, last = 0;
    for (;;) {
        if (*o->interrupted)
            return 0;
        int timeout = o->wake_fd >= 0 ? IDLE_WAIT_MS : IDLE_WAIT_NO_PIPE_MS;
        if (first) {
            uint64_t now = cln_now_ms();
            uint64_t until =
                last + quiet < first + SETTLE_MAX_MS ? last + quiet : first + SETTLE_MAX_MS;
            if (now >= until)
                return 1;
            if (until - now < (uint64_t)timeout)
                timeout = (int)(until - now);
        }
        struct pollfd p[2] = {
            {.fd = cln_os_watch_fd(w->os), .events = POLLIN},
            {.fd = o->wake_fd, .events = POLLIN}, /* < 0: ignored by poll */
        };
        int n = poll(p, 2, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (p[1].revents)
            return 0;
        if (p[0].revents & POLLIN) {
            w->hit = false;
            if (cln_os_watch_read(w->os, on_event, w) < 0)
                return -1;
            if (w->hit) {
                last = cln_now_ms();
                first = first ? first : last;
            }
        } else if (p[0].revents) {
            errno = EIO;
            return -1;
        }
    }
}

/* ---- a cycle: load, refresh the watches, run what changed ---- */

static void print_changed(const struct watcher *w)
{
    FILE *out = w->o->out;
    if (w->pending_all) {
        fprintf(out, "changed: events were lost, running every test again\n");
        return;
    }
    fprintf(out, "changed:");
    for (size_t i = 0; i < w->pending.n && i < 5; i++)
        fprintf(out, "%s %s", i ? "," : "", shown(w, w->pending.v[i]));
    if (w->pending.n > 5)
        fprintf(out, " and %zu more", w->pending.n - 5);
    fprintf(out, "\n");
}

/* The files a test uses: its spec file (as events name it, and where a
 * link leads) and its sources. */
static void add_used(struct cln_strv *v, const struct cln_spec_test *t)
{
    char *key = path_key(t->file);
    char *real = realpath(t->file, NULL);
    if (real && strcmp(real, key) != 0)
        add_unique(v, real);
    else
        free(real);
    add_unique(v, key);
    for (size_t k = 0; k < t->sources.n; k++)
        add_unique(v, cln_xstrdup(t->sources.v[k]));
}

static bool test_changed(const struct watcher *w, const struct cln_spec_test *t)
{
    if (!w->ran || w->pending_all)
        return true;
    cleanup_free char *key = path_key(t->file);
    if (!cln_strv_contains(&w->known, key) || cln_strv_contains(&w->pending, key))
        return true;
    cleanup_free char *real = realpath(t->file, NULL);
    if (real && cln_strv_contains(&w->pending, real))
        return true;
    for (size_t k = 0; k < t->sources.n; k++)
        if (cln_strv_contains(&w->pending, t->sources.v[k]))
            return true;
    return false;
}

static void cycle(struct watcher *w)
{
    const struct cln_watch_opts *o = w->o;
    bool changed = !w->ran || w->pending_all || w->pending.n;
    if (changed && o->clear)
        fputs("\033[H\033[2J\033[3J", o->out);
    if (w->pending.n || w->pending_all)
        print_changed(w);
    fflush(o->out);

    struct cln_spec_set set = {0};
    int r = o->cb->load(o->userdata, &set);
    if (r != 0) {
        /* watch what the last good load used and what this one read, and
         * keep what changed for when the specs load again */
        for (size_t i = 0; i < set.n; i++)
            add_used(&w->used, &set.tests[i]);
        refresh(w);
        cln_spec_set_done(&set);
        w->code = r;
        return;
    }
    struct cln_spec_set sel = {.tests =
                                   cln_xcalloc(set.n ? set.n : 1, sizeof(struct cln_spec_test))};
    for (size_t i = 0; i < set.n; i++)
        if (test_changed(w, &set.tests[i]))
            sel.tests[sel.n++] = set.tests[i]; /* borrowed: set keeps them */
    cln_strv_done(&w->used);
    cln_strv_done(&w->known);
    for (size_t i = 0; i < set.n; i++) {
        add_used(&w->used, &set.tests[i]);
        add_unique(&w->known, path_key(set.tests[i].file));
    }
    /* before the run: what changes during it is seen */
    refresh(w);
    cln_strv_done(&w->pending);
    w->pending_all = false;
    if (!sel.n) {
        fprintf(o->out, "no selected test uses what changed\n");
    } else if (!*o->interrupted) {
        w->code = o->cb->run(o->userdata, &sel);
        w->ran = true;
    }
    free(sel.tests);
    cln_spec_set_done(&set);
}

int cln_watch(const struct cln_watch_opts *o)
{
    struct watcher w = {.o = o, .code = CLN_EXIT_OK, .cwd = getcwd(NULL, 0)};
    if (cln_os_watch_open(&w.os) < 0) {
        int e = errno;
        fprintf(stderr, "cleanrun run: --watch: cannot watch files here: %s\n", strerror(e));
        free(w.cwd);
        return e == ENOSYS ? CLN_EXIT_USAGE : CLN_EXIT_INFRA;
    }
    cycle(&w);
    bool say = true;
    while (!*o->interrupted) {
        if (say) {
            fprintf(o->out, "watching %zu files (Ctrl-C to stop)\n", w.files.n);
            fflush(o->out);
        }
        say = true;
        int r = wait_for_change(&w);
        if (r < 0) {
            fprintf(stderr, "cleanrun run: --watch: watching failed: %s\n", strerror(errno));
            w.code = CLN_EXIT_INFRA;
            break;
        }
        if (r == 0)
            break;
        if (w.rescan && !w.pending.n && !w.pending_all) {
            /* only the shape of a tree changed (a directory made, moved or
             * removed): watch it as it is now; spec files that came with
             * it (written before its watch was added) are changes */
            struct cln_strv before = w.files;
            w.files = (struct cln_strv){0};
            refresh(&w);
            for (size_t i = 0; i < w.files.n; i++)
                if (has_suffix(w.files.v[i], CLN_SPEC_SUFFIX) &&
                    !cln_strv_contains(&before, w.files.v[i]))
                    cln_strv_add(&w.pending, w.files.v[i]);
            cln_strv_done(&before);
            if (!w.pending.n) {
                say = false;
                continue;
            }
        }
        cycle(&w);
    }
    for (size_t i = 0; i < w.ndirs; i++)
        free(w.dirs[i].path);
    free(w.dirs);
    cln_os_watch_close(w.os);
    cln_strv_done(&w.files);
    cln_strv_done(&w.missing);
    cln_strv_done(&w.used);
    cln_strv_done(&w.known);
    cln_strv_done(&w.pending);
    free(w.cwd);
    return w.code;
}
