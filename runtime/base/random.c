/* Random identifiers from the kernel (cln_os_random: getrandom(2) on Linux). */
#include "random.h"
#include "os.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void cln_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    size_t done = 0;
    while (done < nbytes) {
        size_t want = nbytes - done < sizeof(buf) ? nbytes - done : sizeof(buf);
        ssize_t n = cln_os_random(buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* no entropy source at all (a seccomp'd sandbox): unique, if
             * not secret: the time, the pid and a counter */
            static unsigned counter;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                         ((uint64_t)getpid() << 40) ^
                         __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
            /* cppcheck-suppress knownConditionTrueFalse ; it misreads cln_os_random's -1 */
            for (size_t i = 0; i < want;
                 i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
                buf[i] = (unsigned char)(x >> 56);
            n = (ssize_t)want;
        }
        for (ssize_t i = 0; i < n; i++) {
            out[2 * (done + (size_t)i)] = hex[buf[i] >> 4];
            out[2 * (done + (size_t)i) + 1] = hex[buf[i] & 15];
        }
        done += (size_t)n;
    }
    out[2 * nbytes] = '\0';
}
