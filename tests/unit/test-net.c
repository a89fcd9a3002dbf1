/* SPDX-License-Identifier: MIT */
/* Unit tests of common/net.h: ipv4_format() writes what inet_ntop() writes, for every octet value
 * in every position. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net.h"

static void test_ipv4_format_matches_inet_ntop(void **state)
{
        static const uint8_t others[] = { 0, 1, 9, 10, 99, 100, 199, 255 };

        (void)state;
        for (unsigned pos = 0; pos < 4; pos++)
                for (unsigned v = 0; v < 256; v++)
                        for (size_t k = 0; k < sizeof(others); k++) {
                                uint8_t a[4];
                                char ours[IPV4_STRLEN], theirs[INET_ADDRSTRLEN];

                                memset(a, others[k], sizeof(a));
                                a[pos] = (uint8_t)v;
                                memset(ours, 'x', sizeof(ours));
                                ipv4_format(a, ours);
                                assert_non_null(inet_ntop(AF_INET, a, theirs, sizeof(theirs)));
                                assert_string_equal(ours, theirs);
                        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ipv4_format_matches_inet_ntop),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
