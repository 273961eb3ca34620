/* cleanrun-exec: the first program of a step's exec inside a container,
 * built static (musl) and delivered beside the keep-alive busybox at
 * /.cleanrun/exec.  It does what the step needs done in its own process,
 * then becomes the step's program with the argv and environment it was
 * given, untouched (a shell would add SHLVL and PWD, and run its own
 * applet of a program's name):
 *
 *   cleanrun-exec [-c TOKEN PATH] [-i FILE] -- PROGRAM [ARG...]
 *
 *   -c  write TOKEN to PATH, a new file: the canary (docs/isolation.md),
 *       written by the step's own process; when it cannot be written the
 *       step runs all the same (the harness finds it missing and writes
 *       one itself)
 *   -i  FILE as standard input
 *
 * PROGRAM is found along PATH as execvp(3) does.  When it cannot be run,
 * or FILE cannot be opened, it prints one line to stderr and exits 127:
 *   cleanrun-exec: exec ERRNO PROGRAM
 *   cleanrun-exec: stdin ERRNO FILE
 * which the harness turns into its error (harness/steps.c).  It is not
 * linked with the harness: it runs in the container, on its kernel only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int err, const char *name)
{
    fprintf(stderr, "cleanrun-exec: %s %d %s\n", what, err, name);
    return 127;
}

static void write_canary(const char *token, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t len = strlen(token);
    ssize_t n = write(fd, token, len);
    if (close(fd) < 0 || n != (ssize_t)len)
        (void)unlink(path); /* half a canary is none */
}

int main(int argc, char **argv)
{
    int i = 1;
    while (i < argc && strcmp(argv[i], "--") != 0) {
        if (strcmp(argv[i], "-c") == 0 && i + 2 < argc) {
            write_canary(argv[i + 1], argv[i + 2]);
            i += 3;
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            int fd = open(argv[i + 1], O_RDONLY | O_CLOEXEC);
            if (fd < 0 || dup2(fd, 0) < 0)
                return fail("stdin", errno, argv[i + 1]);
            close(fd);
            i += 2;
        } else {
            return fail("usage", EINVAL, argv[i]);
        }
    }
    if (i + 1 >= argc)
        return fail("usage", EINVAL, "--");
    execvp(argv[i + 1], argv + i + 1);
    return fail("exec", errno, argv[i + 1]);
}
