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
#include "engine/iscsi-nl.h"

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

/* The HBA ping request has the kernel's layout (include/scsi/iscsi_if.h, struct iscsi_uevent). */
static void test_iscsi_nl_ping_encoding(void **state)
{
        struct iscsi_nl_ping req = {
                .transport_handle = 0x1122334455667788ULL,
                .host_no = 7,
                .iface_num = 2,
                .ipv6 = false,
                .payload_size = 64,
        };
        struct sockaddr_in *sin = (struct sockaddr_in *)&req.dst;
        uint8_t buf[256];
        uint32_t u32;
        uint64_t u64;
        uint16_t u16;
        int len;

        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr), 1);
        assert_int_equal(iscsi_nl_ping_encode(&req, 0xabcdef01, buf, 40), -ENOSPC);
        len = iscsi_nl_ping_encode(&req, 0xabcdef01, buf, sizeof(buf));
        /* nlmsghdr (16) + iscsi_uevent (56) + sockaddr_in (16) */
        assert_int_equal(len, 16 + 56 + 16);
        memcpy(&u32, buf, 4);
        assert_int_equal(u32, 88); /* nlmsg_len */
        memcpy(&u16, buf + 4, 2);
        assert_int_equal(u16, 32); /* nlmsg_type ISCSI_UEVENT_PING = 10 + 22 */
        memcpy(&u32, buf + 16, 4);
        assert_int_equal(u32, 32); /* ev.type */
        memcpy(&u64, buf + 16 + 8, 8);
        assert_true(u64 == 0x1122334455667788ULL); /* transport_handle */
        memcpy(&u32, buf + 16 + 16, 4);
        assert_int_equal(u32, 7); /* u.iscsi_ping.host_no */
        memcpy(&u32, buf + 16 + 20, 4);
        assert_int_equal(u32, 2); /* iface_num */
        memcpy(&u32, buf + 16 + 24, 4);
        assert_int_equal(u32, 1); /* iface_type ISCSI_IFACE_TYPE_IPV4 */
        memcpy(&u32, buf + 16 + 28, 4);
        assert_int_equal(u32, 64); /* payload_size */
        memcpy(&u32, buf + 16 + 32, 4);
        assert_true(u32 == 0xabcdef01); /* pid */
        memcpy(&u16, buf + 16 + 56, 2);
        assert_int_equal(u16, AF_INET); /* the destination follows the event */
        assert_memory_equal(buf + 16 + 56 + 4, &sin->sin_addr, 4);

        req.ipv6 = true;
        req.dst.ss_family = AF_INET6;
        len = iscsi_nl_ping_encode(&req, 1, buf, sizeof(buf));
        assert_int_equal(len, 16 + 56 + 28);
        memcpy(&u32, buf + 16 + 24, 4);
        assert_int_equal(u32, 2); /* ISCSI_IFACE_TYPE_IPV6 */
        assert_string_equal(iscsi_nl_ping_status_to_string(ISCSI_NL_PING_NO_ARP_RECEIVED),
                            "no ARP reply (no neighbour answers for the address)");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_portal_parse_and_format),
                cmocka_unit_test(test_step_names),
                cmocka_unit_test(test_deciding_step),
                cmocka_unit_test(test_iscsi_nl_ping_encoding),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
