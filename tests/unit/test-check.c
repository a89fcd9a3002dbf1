/* SPDX-License-Identifier: MIT */
/* The check engine's pure parts: portal parsing and printing, step names, the deciding step. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/check.h"

static void test_portal_parse_and_format(void **state)
{
        static const struct {
                const char *in;
                const char *out; /* NULL: refused */
        } cases[] = {
                { "10.0.0.1", "10.0.0.1:3260" },
                { "10.0.0.1:3261", "10.0.0.1:3261" },
                { "[fd00::1]:860", "[fd00::1]:860" },
                { "fd00::1", "[fd00::1]:3260" },
                { "[fd00::1]", "[fd00::1]:3260" },
                { "::ffff:10.0.0.1", "[::ffff:10.0.0.1]:3260" },
                { "", NULL },
                { "target.example", NULL },
                { "target.example:3260", NULL },
                { "10.0.0.1:", NULL },
                { "10.0.0.1:0", NULL },
                { "10.0.0.1:65536", NULL },
                { "10.0.0.1:+80", NULL },
                { "10.0.0.1:80x", NULL },
                { "10.0.0.256", NULL },
                { "0.0.0.0", NULL },
                { "255.255.255.255", NULL },
                { "239.1.1.1", NULL },
                { "[::]:3260", NULL },
                { "[ff02::1]:3260", NULL },
                { "[fd00::1]x", NULL },
                { "[fd00::1", NULL },
                { "10.0.0.1 ", NULL },
                { "10.0.0.1\n", NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct sockaddr_storage ss;
                const char *why = NULL;
                char buf[64];
                int r = check_parse_portal(cases[i].in, &ss, &why);

                print_message("'%s'\n", cases[i].in);
                if (!cases[i].out) {
                        assert_int_equal(r, -EINVAL);
                        assert_non_null(why);
                        continue;
                }
                assert_int_equal(r, 0);
                check_format_portal(&ss, buf, sizeof(buf));
                assert_string_equal(buf, cases[i].out);
        }
}

static void test_step_names(void **state)
{
        for (int s = 0; s < _CHECK_STEP_MAX; s++)
                assert_int_equal(check_step_from_string(check_step_to_string(s)), s);
        assert_int_equal(check_step_from_string("LINK"), -EINVAL);
        assert_int_equal(check_step_from_string(""), -EINVAL);
        for (int r = 1; r < _CHECK_REASON_MAX; r++)
                assert_non_null(check_reason_to_string(r));
        assert_null(check_reason_to_string(CHECK_REASON_NONE));
}

static void test_deciding_step(void **state)
{
        struct check_spec spec = { .steps = 0xf };
        struct check_result r = {};

        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                r.steps[i].status = CHECK_OK;
        assert_int_equal(check_result_first_failure(&r, &spec), -1);

        /* ICMP filtered, TCP and iSCSI fine: the check passes. */
        r.steps[CHECK_STEP_PING].status = CHECK_FAILED;
        assert_int_equal(check_result_first_failure(&r, &spec), -1);

        /* A black hole: ping and tcp time out, iscsi skipped: tcp decides. */
        r.steps[CHECK_STEP_TCP].status = CHECK_FAILED;
        r.steps[CHECK_STEP_ISCSI].status = CHECK_SKIPPED;
        assert_int_equal(check_result_first_failure(&r, &spec), CHECK_STEP_TCP);

        /* Only ping asked for: its failure decides. */
        spec.steps = 1u << CHECK_STEP_PING;
        assert_int_equal(check_result_first_failure(&r, &spec), CHECK_STEP_PING);

        /* The link decides over everything after it. */
        spec.steps = 0xf;
        r.steps[CHECK_STEP_LINK].status = CHECK_FAILED;
        assert_int_equal(check_result_first_failure(&r, &spec), CHECK_STEP_LINK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_portal_parse_and_format),
                cmocka_unit_test(test_step_names),
                cmocka_unit_test(test_deciding_step),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
