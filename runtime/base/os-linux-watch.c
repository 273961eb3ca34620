/* The host OS seam (os-watch.h) on Linux: watching directories with
 * inotify. */
#include "os-watch.h"

#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "xalloc.h"

struct cln_os_watch {
    int fd;
};

/* What a directory watch reports: entries created, written and closed,
 * moved in or out, removed, their attributes changed (`touch`), and the
 * directory itself removed or moved (IN_IGNORED and IN_Q_OVERFLOW come
 * whatever the mask).  IN_MODIFY is left out on purpose: a file being
 * written is reported once it is closed, not at every write. */
#define DIR_MASK                                                                                   \
    (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

int cln_os_watch_open(struct cln_os_watch **ret)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -1;
    struct cln_os_watch *w = cln_xmalloc(sizeof(*w));
    w->fd = fd;
    *ret = w;
    return 0;
}

int cln_os_watch_fd(const struct cln_os_watch *w)
{
    return w->fd;
}

int cln_os_watch_add_dir(struct cln_os_watch *w, const char *dir)
{
    return inotify_add_watch(w->fd, dir, DIR_MASK);
}

int cln_os_watch_remove(struct cln_os_watch *w, int id)
{
    return inotify_rm_watch(w->fd, id);
}

int cln_os_watch_read(struct cln_os_watch *w,
                      void (*fn)(const struct cln_os_watch_event *ev, void *userdata),
                      void *userdata)
{
    alignas(struct inotify_event) char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
    int count = 0;
    /* what is queued now, a bounded amount: a flood of events cannot keep
     * the caller here (it polls again) */
    for (int reads = 0; reads < 64; reads++) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return count;
        if (n <= 0)
            return -1;
        for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
            const struct inotify_event *ie = (const struct inotify_event *)(void *)(buf + off);
            off += sizeof(struct inotify_event) + ie->len;
            struct cln_os_watch_event ev = {.id = ie->wd, .name = ie->len ? ie->name : NULL};
            if (ie->mask & IN_Q_OVERFLOW)
                ev = (struct cln_os_watch_event){.id = -1, .flags = CLN_OS_WATCH_OVERFLOW};
            else if (ie->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
                ev = (struct cln_os_watch_event){.id = ie->wd, .flags = CLN_OS_WATCH_GONE};
            else
                ev.flags = CLN_OS_WATCH_CHANGED | ((ie->mask & IN_ISDIR) ? CLN_OS_WATCH_ISDIR : 0);
            fn(&ev, userdata);
            count++;
        }
    }
    return count;
}

void cln_os_watch_close(struct cln_os_watch *w)
{
    if (!w)
        return;
    close(w->fd);
    free(w);
}
