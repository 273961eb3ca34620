/* A container configuration for Apple's container CLI: validated before
 * the CLI sees it, then written as `container create` arguments
 * (apple-internal.h; the flags are those of docs/runtime.md "Apple"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apple-internal.h"
#include "runtime/base/buf.h"
#include "runtime/base/error.h"
#include "runtime/base/strv.h"
#include "runtime/base/xalloc.h"

#define MIB (1024LL * 1024LL)

/* The CLI splits "-l k=v" at its first two '=' and refuses a third piece
 * (its label parser: split(separator: "=", maxSplits: 2)): a value's '='
 * is written %3D, and '%' %25; cln_apple_label_decode reads them back. */
char *cln_apple_label_encode(const char *value)
{
    struct cln_buf b = CLN_BUF_INIT;
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '=')
            cln_buf_puts(&b, "%3D");
        else if (*p == '%')
            cln_buf_puts(&b, "%25");
        else
            cln_buf_putc(&b, *p);
    }
    return b.data ? cln_buf_steal(&b) : cln_xstrdup("");
}

char *cln_apple_label_decode(const char *value)
{
    struct cln_buf b = CLN_BUF_INIT;
    for (const char *p = value ? value : ""; *p; p++) {
        if (strncmp(p, "%3D", 3) == 0) {
            cln_buf_putc(&b, '=');
            p += 2;
        } else if (strncmp(p, "%25", 3) == 0) {
            cln_buf_putc(&b, '%');
            p += 2;
        } else {
            cln_buf_putc(&b, *p);
        }
    }
    return b.data ? cln_buf_steal(&b) : cln_xstrdup("");
}

bool cln_apple_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 2 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

/* A label key the CLI's "-l k=v" can carry: not empty, no '=', no
 * whitespace or control characters. */
static bool label_key_ok(const char *k)
{
    if (!k || !*k)
        return false;
    for (const char *p = k; *p; p++)
        if (*p == '=' || (unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

#define INVALID(err, ...) cln_error_set(err, CLN_E_INVALID, 0, "runtime apple: " __VA_ARGS__)

int cln_apple_validate(const struct cln_container_config *cfg, struct cln_error **err)
{
    if (!cfg->image || !*cfg->image)
        return INVALID(err, "image: required");
    if (cfg->name && !cln_apple_name_ok(cfg->name))
        return INVALID(err,
                       "name \"%s\": must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ and be at most 63 "
                       "characters (%zu given)",
                       cfg->name, strlen(cfg->name));
    if (cfg->memory_bytes < 0 || (cfg->memory_bytes && cfg->memory_bytes < MIB))
        return INVALID(err, "memory: %lld bytes (at least 1 MiB, or none for the default)",
                       (long long)cfg->memory_bytes);
    if (cfg->nano_cpus < 0 || cfg->nano_cpus % 1000000000LL != 0)
        return INVALID(err, "cpus: %g; a virtual machine has whole CPUs",
                       (double)cfg->nano_cpus / 1e9);
    for (size_t i = 0; cfg->labels && i < cfg->labels->len; i++)
        if (!label_key_ok(cfg->labels->items[i].key))
            return INVALID(err,
                           "label key \"%s\": empty, or holds '=', a space or a control "
                           "character",
                           cfg->labels->items[i].key);
    for (size_t i = 0; i < cfg->nports; i++) {
        const struct cln_port *p = &cfg->ports[i];
        const char *proto = p->proto ? p->proto : "tcp";
        if (p->container_port == 0)
            return INVALID(err, "ports: container port 0 is out of range 1-65535");
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
            return INVALID(err, "ports: protocol \"%s\" is neither tcp nor udp", proto);
        for (size_t j = 0; j < i; j++) {
            const struct cln_port *q = &cfg->ports[j];
            if (strcmp(proto, q->proto ? q->proto : "tcp") != 0)
                continue;
            if (p->host_port && p->host_port == q->host_port)
                return INVALID(err, "ports: host port %u/%s is published twice", p->host_port,
                               proto);
            if (p->container_port == q->container_port)
                return INVALID(err, "ports: container port %u/%s is published twice",
                               p->container_port, proto);
        }
    }
    /* a VM shares nothing of the host's but what is mounted */
    if (cfg->network && strcmp(cfg->network, "host") == 0)
        return INVALID(err, "network \"host\": a container is a virtual machine, with no way "
                            "into the host's network");
    if (cfg->network && strcmp(cfg->network, "bridge") == 0)
        return INVALID(err, "network \"bridge\": Docker's; the CLI's own is \"default\"");
    if (cfg->privileged)
        return INVALID(err, "privileged: the CLI has no privileged containers");
    if (cfg->pid_host)
        return INVALID(err, "pid_host: a virtual machine cannot share the host's processes");
    if (cfg->extra_hosts && cfg->extra_hosts[0])
        return INVALID(err, "extra_hosts (%s): the CLI takes no host entries", cfg->extra_hosts[0]);
    for (size_t i = 0; cfg->network_aliases && cfg->network_aliases[i]; i++)
        return INVALID(err, "network aliases (%s): the CLI takes none", cfg->network_aliases[i]);
    for (size_t i = 0; i < cfg->nmounts; i++) {
        const struct cln_mount *m = &cfg->mounts[i];
        if (!m->target || m->target[0] != '/')
            return INVALID(err, "mount target \"%s\": not an absolute path",
                           m->target ? m->target : "");
        if (m->type == CLN_MOUNT_BIND && (!m->source || m->source[0] != '/'))
            return INVALID(err, "mount source \"%s\": not an absolute path",
                           m->source ? m->source : "");
        if (m->type == CLN_MOUNT_VOLUME && (!m->source || !cln_apple_name_ok(m->source)))
            return INVALID(err, "volume \"%s\": not a valid volume name",
                           m->source ? m->source : "");
        if (m->type == CLN_MOUNT_TMPFS && (m->tmpfs_size || m->tmpfs_mode))
            return INVALID(err, "tmpfs %s: --tmpfs takes no size or mode", m->target);
        if (strchr(m->target, ',') || (m->source && strchr(m->source, ',')))
            return INVALID(err, "mount %s: a ',' cannot be written in --mount", m->target);
    }
    return 0;
}

char **cln_apple_create_argv(const struct cln_container_config *cfg)
{
    struct cln_strv v = {0};
    cln_strv_push(&v, cln_xstrdup("container"));
    cln_strv_push(&v, cln_xstrdup("create"));
    if (cfg->name) {
        cln_strv_push(&v, cln_xstrdup("--name"));
        cln_strv_push(&v, cln_xstrdup(cfg->name));
    }
    for (size_t i = 0; cfg->labels && i < cfg->labels->len; i++) {
        cln_strv_push(&v, cln_xstrdup("-l"));
        char *val = cln_apple_label_encode(cfg->labels->items[i].value);
        cln_strv_push(&v, cln_xasprintf("%s=%s", cfg->labels->items[i].key, val));
        free(val);
    }
    for (const char *const *e = cfg->env; e && *e; e++) {
        cln_strv_push(&v, cln_xstrdup("-e"));
        cln_strv_push(&v, cln_xstrdup(*e));
    }
    if (cfg->workdir) {
        cln_strv_push(&v, cln_xstrdup("-w"));
        cln_strv_push(&v, cln_xstrdup(cfg->workdir));
    }
    if (cfg->user) {
        cln_strv_push(&v, cln_xstrdup("-u"));
        cln_strv_push(&v, cln_xstrdup(cfg->user));
    }
    if (cfg->nano_cpus) {
        cln_strv_push(&v, cln_xstrdup("-c"));
        cln_strv_push(&v, cln_xasprintf("%lld", (long long)(cfg->nano_cpus / 1000000000LL)));
    }
    if (cfg->memory_bytes) {
        cln_strv_push(&v, cln_xstrdup("-m"));
        long long m = (long long)cfg->memory_bytes;
        cln_strv_push(&v, m % MIB == 0 ? cln_xasprintf("%lldM", m / MIB)
                                       : cln_xasprintf("%lldK", (m + 1023) / 1024));
    }
    for (size_t i = 0; i < cfg->nports; i++) {
        const struct cln_port *p = &cfg->ports[i];
        cln_strv_push(&v, cln_xstrdup("-p"));
        cln_strv_push(&v, cln_xasprintf("127.0.0.1:%u:%u/%s", p->host_port, p->container_port,
                                        p->proto ? p->proto : "tcp"));
    }
    for (size_t i = 0; i < cfg->nmounts; i++) {
        const struct cln_mount *m = &cfg->mounts[i];
        if (m->type == CLN_MOUNT_TMPFS) {
            cln_strv_push(&v, cln_xstrdup("--tmpfs"));
            cln_strv_push(&v, cln_xstrdup(m->target));
            continue;
        }
        cln_strv_push(&v, cln_xstrdup("--mount"));
        cln_strv_push(&v, cln_xasprintf("type=%s,source=%s,target=%s%s",
                                        m->type == CLN_MOUNT_BIND ? "bind" : "volume", m->source,
                                        m->target, m->read_only ? ",readonly" : ""));
    }
    if (cfg->read_only_rootfs)
        cln_strv_push(&v, cln_xstrdup("--read-only"));
    if (cfg->init)
        cln_strv_push(&v, cln_xstrdup("--init"));
    for (const char *const *c = cfg->cap_add; c && *c; c++) {
        cln_strv_push(&v, cln_xstrdup("--cap-add"));
        cln_strv_push(&v, cln_xstrdup(*c));
    }
    for (const char *const *c = cfg->cap_drop; c && *c; c++) {
        cln_strv_push(&v, cln_xstrdup("--cap-drop"));
        cln_strv_push(&v, cln_xstrdup(*c));
    }
    /* none given: the CLI's default network */
    if (cfg->network) {
        cln_strv_push(&v, cln_xstrdup("--network"));
        cln_strv_push(&v, cln_xstrdup(cfg->network));
    }
    /* --entrypoint takes the program alone; the rest of the entrypoint goes
     * before the command, as the engine would run them */
    const char *const *cmd = cfg->cmd;
    if (cfg->entrypoint && cfg->entrypoint[0]) {
        cln_strv_push(&v, cln_xstrdup("--entrypoint"));
        cln_strv_push(&v, cln_xstrdup(cfg->entrypoint[0]));
    }
    cln_strv_push(&v, cln_xstrdup("--"));
    cln_strv_push(&v, cln_xstrdup(cfg->image));
    for (const char *const *a = cfg->entrypoint && cfg->entrypoint[0] ? cfg->entrypoint + 1 : NULL;
         a && *a; a++)
        cln_strv_push(&v, cln_xstrdup(*a));
    for (const char *const *a = cmd; a && *a; a++)
        cln_strv_push(&v, cln_xstrdup(*a));
    return v.v; /* NULL-terminated by cln_strv_push */
}

void cln_apple_argv_add_network(char ***argv, const char *network)
{
    size_t n = 0, dash = 0;
    while ((*argv)[n]) {
        if (!dash && strcmp((*argv)[n], "--") == 0)
            dash = n;
        n++;
    }
    if (!dash)
        dash = n;
    char **v = cln_xcalloc(n + 3, sizeof(*v));
    memcpy(v, *argv, dash * sizeof(*v));
    v[dash] = cln_xstrdup("--network");
    v[dash + 1] = cln_xstrdup(network);
    memcpy(v + dash + 2, *argv + dash, (n - dash) * sizeof(*v));
    free(*argv);
    *argv = v;
}

void cln_apple_argv_free(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}
