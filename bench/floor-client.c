/* The engine floor for the runtime benchmark: the same API calls as
 * bench-runtime (version, create/start, 50 x exec create/start/inspect, 10 x
 * create/start/wait/logs/remove, remove), made by the least client there is:
 * raw HTTP/1.1 on one kept-alive unix socket (plus one per exec stream,
 * which the engine hijacks), no JSON library, no checks beyond the status.
 * Usage: floor-client SOCKET_PATH IMAGE [EXECS FRESH]
 * (EXECS and FRESH: other counts than 50 and 10, for make bench's
 * per-operation breakdown). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *sock_path;
static int conn = -1;
static char buf[1 << 20];

static int dial(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("floor-client: connect");
        exit(1);
    }
    return s;
}

static void send_req(int s, const char *method, const char *path, const char *body)
{
    char req[4096];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %zu\r\n\r\n%s", method,
                     path, body ? "Content-Type: application/json\r\n" : "", bl, body ? body : "");
    if (write(s, req, (size_t)n) != n) {
        perror("floor-client: write");
        exit(1);
    }
}

/* Read one response on the kept-alive connection; returns the body length
 * (body in buf) and the status in *status.  Handles Content-Length and
 * chunked bodies. */
static size_t recv_resp(int s, int *status)
{
    size_t have = 0;
    char *hdr_end = NULL;
    while (!hdr_end) {
        ssize_t n = read(s, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0) {
            fprintf(stderr, "floor-client: connection closed\n");
            exit(1);
        }
        have += (size_t)n;
        buf[have] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    *status = (int)strtol(buf + 9, NULL, 10);
    size_t hlen = (size_t)(hdr_end + 4 - buf);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    bool chunked = strcasestr(buf, "\r\nTransfer-Encoding: chunked") && (!cl || cl > hdr_end);
    if (cl && cl < hdr_end && !chunked) {
        size_t len = strtoul(cl + 17, NULL, 10);
        while (have < hlen + len) {
            ssize_t n = read(s, buf + have, sizeof(buf) - 1 - have);
            if (n <= 0)
                exit(1);
            have += (size_t)n;
        }
        memmove(buf, buf + hlen, len);
        return len;
    }
    if (!chunked)
        return 0; /* 204 / 304 */
    /* chunked: decode in place */
    size_t out = 0, pos = hlen;
    for (;;) {
        char *crlf;
        while (!(crlf = memmem(buf + pos, have - pos, "\r\n", 2))) {
            ssize_t n = read(s, buf + have, sizeof(buf) - 1 - have);
            if (n <= 0)
                exit(1);
            have += (size_t)n;
        }
        size_t len = strtoul(buf + pos, NULL, 16);
        pos = (size_t)(crlf + 2 - buf);
        while (have < pos + len + 2) {
            ssize_t n = read(s, buf + have, sizeof(buf) - 1 - have);
            if (n <= 0)
                exit(1);
            have += (size_t)n;
        }
        memmove(buf + out, buf + pos, len);
        out += len;
        pos += len + 2;
        if (len == 0)
            return out;
    }
}

static size_t call(const char *method, const char *path, const char *body, int want)
{
    int status;
    send_req(conn, method, path, body);
    size_t n = recv_resp(conn, &status);
    if (status != want && !(want == 204 && status == 304)) {
        buf[n] = '\0';
        fprintf(stderr, "floor-client: %s %s: %d %s\n", method, path, status, buf);
        exit(1);
    }
    buf[n] = '\0';
    return n;
}

static void copy_id(char *dst, size_t size)
{
    const char *p = strstr(buf, "\"Id\":\"");
    if (!p)
        exit(1);
    p += 6;
    size_t n = strcspn(p, "\"");
    snprintf(dst, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: floor-client SOCKET IMAGE [EXECS FRESH]\n");
        return 2;
    }
    int nexec = argc == 5 ? (int)strtol(argv[3], NULL, 10) : 50;
    int nfresh = argc == 5 ? (int)strtol(argv[4], NULL, 10) : 10;
    sock_path = argv[1];
    conn = dial();
    call("GET", "/version", NULL, 200);
    char body[1024], path[256], id[80], eid[80];
    snprintf(body, sizeof(body),
             "{\"Image\":\"%s\",\"Cmd\":[\"sleep\",\"3600\"],\"Labels\":{\"io.cleanrun.run\":"
             "\"bench\"},\"HostConfig\":{\"NetworkMode\":\"none\"}}",
             argv[2]);
    call("POST", "/v1.41/containers/create", body, 201);
    copy_id(id, sizeof(id));
    snprintf(path, sizeof(path), "/v1.41/containers/%s/start", id);
    call("POST", path, NULL, 204);
    for (int i = 0; i < nexec; i++) {
        snprintf(body, sizeof(body),
                 "{\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":false,"
                 "\"Cmd\":[\"echo\",\"%d\"]}",
                 i);
        snprintf(path, sizeof(path), "/v1.41/containers/%s/exec", id);
        call("POST", path, body, 201);
        copy_id(eid, sizeof(eid));
        /* the hijacked stream: its own connection, read to EOF */
        int s = dial();
        snprintf(path, sizeof(path), "/v1.41/exec/%s/start", eid);
        send_req(s, "POST", path, "{\"Detach\":false,\"Tty\":false}");
        while (read(s, buf, sizeof(buf)) > 0)
            ;
        close(s);
        snprintf(path, sizeof(path), "/v1.41/exec/%s/json", eid);
        do
            call("GET", path, NULL, 200);
        while (strstr(buf, "\"Running\":true"));
    }
    for (int i = 0; i < nfresh; i++) {
        char oid[80];
        snprintf(body, sizeof(body),
                 "{\"Image\":\"%s\",\"Cmd\":[\"echo\",\"%d\"],\"Labels\":{\"io.cleanrun.run\":"
                 "\"bench\"},\"HostConfig\":{\"NetworkMode\":\"none\"}}",
                 argv[2], i);
        call("POST", "/v1.41/containers/create", body, 201);
        copy_id(oid, sizeof(oid));
        snprintf(path, sizeof(path), "/v1.41/containers/%s/start", oid);
        call("POST", path, NULL, 204);
        snprintf(path, sizeof(path), "/v1.41/containers/%s/wait?condition=not-running", oid);
        call("POST", path, NULL, 200);
        snprintf(path, sizeof(path), "/v1.41/containers/%s/logs?stdout=1&stderr=1&tail=all", oid);
        call("GET", path, NULL, 200);
        snprintf(path, sizeof(path), "/v1.41/containers/%s?v=1&force=1", oid);
        call("DELETE", path, NULL, 204);
    }
    snprintf(path, sizeof(path), "/v1.41/containers/%s?v=1&force=1", id);
    call("DELETE", path, NULL, 204);
    close(conn);
    return 0;
}
