/* Unit tests: the Docker backend's timing rules that need no engine (the
 * exec exit-code poll). */
#include <criterion/criterion.h>
#include <stdint.h>

#include "runtime/docker/docker-internal.h"

/* ---- the exec exit-code poll ---- */

Test(docker_exec, exit_code_poll_sleeps_2_s_in_all_and_not_after_the_last_inspect)
{
    uint64_t total = 0;
    unsigned n = 0, prev = 0;
    for (unsigned i = 0; i < 64; i++) {
        unsigned d = cln_docker_exit_poll_delay_us(i);
        if (!d) {
            /* once it says stop, it keeps saying so */
            for (unsigned j = i; j < 64; j++)
                cr_assert_eq(cln_docker_exit_poll_delay_us(j), 0, "attempt %u", j);
            break;
        }
        if (i == 0)
            cr_assert_eq(d, CLN_DOCKER_EXIT_POLL_FIRST_US);
        else
            cr_assert(d == 2 * prev || total + d == (uint64_t)CLN_DOCKER_EXIT_POLL_MS * 1000,
                      "attempt %u: %u us after %u us: doubles, or is the last and fits", i, d,
                      prev);
        total += d;
        prev = d;
        n++;
    }
    cr_assert_eq(total, (uint64_t)CLN_DOCKER_EXIT_POLL_MS * 1000, "%llu us",
                 (unsigned long long)total);
    cr_assert_eq(n, 12, "12 sleeps between 13 inspects, none after the last");
    cr_assert_eq(cln_docker_exit_poll_delay_us(11), 976500, "the last sleep is cut to fit");
}
