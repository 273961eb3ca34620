/* The host OS seam (runtime/base/os.h), continued: watching directories
 * for changes, for `cleanrun run --watch` (harness/cli/watch.c).  Part of
 * the seam like os.h, and in its own header only because os.h's owner
 * edits it concurrently: Linux's half is os-linux-watch.c (inotify); a
 * port writes os-<os>-watch.c (kqueue, FSEvents), and a host that cannot
 * watch returns -1 with ENOSYS from cln_os_watch_open, which the caller
 * reports.
 *
 * The unit is a directory: its entries created, written and closed,
 * renamed in or out, removed, their attributes changed, and the directory
 * itself removed or renamed.  Files are watched through their directory,
 * matched by name, because editors save by writing a new file and
 * renaming it over the old one (a watch on the old file would go with
 * it). */
#pragma once

struct cln_os_watch;

enum {
    CLN_OS_WATCH_CHANGED = 1u << 0,  /* an entry (name) or, name NULL, some entry changed */
    CLN_OS_WATCH_GONE = 1u << 1,     /* the directory itself was removed, renamed or unmounted:
                                      * its id is no longer valid (name NULL) */
    CLN_OS_WATCH_OVERFLOW = 1u << 2, /* events were lost: anything may have changed (id -1) */
    CLN_OS_WATCH_ISDIR = 1u << 3,    /* the entry is a directory */
};

struct cln_os_watch_event {
    int id;           /* what cln_os_watch_add_dir returned; -1 with OVERFLOW */
    unsigned flags;   /* CLN_OS_WATCH_* */
    const char *name; /* the entry's name; NULL: the host cannot tell which (check them all) */
};

/* A watcher: 0 with *ret set, or -1 with errno (ENOSYS: this host cannot
 * watch; EMFILE: the user's limit of watchers). */
int cln_os_watch_open(struct cln_os_watch **ret);
/* A close-on-exec, non-blocking descriptor that polls readable when events
 * are waiting. */
int cln_os_watch_fd(const struct cln_os_watch *w);
/* Watch the directory dir (symbolic links not followed).  Its id (>= 0;
 * the same id when it is already watched, also under another path), or -1
 * with errno (ENOTDIR, ENOENT, ENOSPC: the user's limit of watches). */
int cln_os_watch_add_dir(struct cln_os_watch *w, const char *dir);
/* Stop watching id.  0, or -1 with errno (EINVAL: not watched, e.g. gone). */
int cln_os_watch_remove(struct cln_os_watch *w, int id);
/* Take the waiting events without blocking (a bounded number: poll again
 * for more), calling fn for each (ev and its name valid during the call).
 * The number of events, or -1 with errno. */
int cln_os_watch_read(struct cln_os_watch *w,
                      void (*fn)(const struct cln_os_watch_event *ev, void *userdata),
                      void *userdata);
/* NULL-safe. */
void cln_os_watch_close(struct cln_os_watch *w);
