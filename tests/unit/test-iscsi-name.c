/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/iscsi-name.c: names and TargetAddress values as a hostile SendTargets
 * reply could send them. Everything that could leave the nodes/ directory, split a binding id
 * or break a line of a record is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "iscsi-name.h"
#include "macro.h"

static void test_names_accepted(void **state)
{
        static const char *const good[] = {
                "iqn.2003-01.org.example:disk1",
                "iqn.2001-04.com.example",
                "iqn.1992-08.com.netapp:sn.33615311",
                "iqn.2000-01.com.synology:box.Target-1.abc_def",
                "iqn.2010-12.org.my-domain:target:with:colons",
                "eui.02004567A425678D",
                "naa.52004567BA64678D",
                "naa.62004567BA64678D0123456789ABCDEF",
        };
        struct iface_error err = {};

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (iscsi_name_validate(good[i], "target", &err) != 0)
                        fail_msg("'%s' refused: %s", good[i], err.reason);
}

static void test_names_refused(void **state)
{
        static const struct {
                const char *name, *why;
        } bad[] = {
                { "", "empty" },
                { "../../etc/passwd", "'/'" },
                { "iqn.2003-01.org.example:../../x", "'/'" },
                { "iqn.2003-01.org.example:a..b", "'..'" },
                { "..", "'..'" },
                { "iqn.2003-01.org.example:a b", "' '" },
                { "iqn.2003-01.org.example:a\tb", "control" },
                { "iqn.2003-01.org.example:a\nnode.startup = automatic", "control" },
                { "iqn.2003-01.org.example:a,127.0.0.1,3260,1,iface0", "','" },
                { "iqn.2003-01.org.example:caf\xc3\xa9", "not ASCII" },
                { "iqn.2003-01.org.example:a\x7f", "not ASCII" },
                { "iqn.2003-13.org.example:x", "month 13" },
                { "iqn.03-01.org.example:x", "year and month" },
                { "iqn.2003-01..org:x", "'..'" },
                { "iqn.2003-01.:x", "reversed domain" },
                { "iqn.2003-01.org.example:", "end with ':'" },
                { "eui.123", "16 hexadecimal" },
                { "eui.02004567A425678Z", "16 hexadecimal" },
                { "naa.1234", "16 or 32" },
                { "target-without-prefix", "iqn., eui. or naa." },
                { "IQN.2003-01.org.example:x", "iqn., eui. or naa." },
        };
        char long_name[ISCSI_NAME_MAX + 2];
        struct iface_error err = {};

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = (struct iface_error){};
                if (iscsi_name_validate(bad[i].name, "target", &err) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i].name);
                assert_string_equal(err.field, "target");
                if (!strstr(err.reason, bad[i].why))
                        fail_msg("'%s': reason '%s' lacks '%s'", bad[i].name, err.reason,
                                 bad[i].why);
        }
        /* 223 bytes are fine, 224 are not */
        memset(long_name, 'a', sizeof(long_name));
        memcpy(long_name, "iqn.2003-01.org.example:", 24);
        long_name[ISCSI_NAME_MAX] = '\0';
        assert_int_equal(iscsi_name_validate(long_name, "target", &err), 0);
        long_name[ISCSI_NAME_MAX] = 'a';
        long_name[ISCSI_NAME_MAX + 1] = '\0';
        assert_int_equal(iscsi_name_validate(long_name, "target", &err), -EINVAL);
        assert_non_null(strstr(err.reason, "longer than 223"));
}

static void test_target_addresses(void **state)
{
        struct iscsi_portal p;
        struct iface_error err = {};

        (void)state;
        assert_int_equal(iscsi_target_address_parse("10.0.0.1:3261,2", "portal", &p, &err), 0);
        assert_string_equal(p.address, "10.0.0.1");
        assert_int_equal(p.port, 3261);
        assert_int_equal(p.tpgt, 2);
        assert_int_equal(iscsi_target_address_parse("[fd00::0001]:3260,1", "portal", &p, &err), 0);
        assert_string_equal(p.address, "fd00::1"); /* canonical, as it goes into paths */
        assert_int_equal(p.tpgt, 1);
        assert_int_equal(iscsi_target_address_parse("192.168.1.5", "portal", &p, &err), 0);
        assert_int_equal(p.port, 3260);
        assert_int_equal(p.tpgt, -1);

        static const char *const bad[] = {
                "",
                "target.example.com:3260,1", /* a host name: nothing from the wire is resolved */
                "10.0.0.1:0,1",
                "10.0.0.1:65536,1",
                "10.0.0.1:3260,70000",
                "10.0.0.1:3260,-1",
                "10.0.0.1:32a0,1",
                "[fd00::1:3260,1",
                "[fd00::1]3260,1",
                "fd00::1:3260,1",
                "../../x:3260,1",
                "10.0.0.1/8:3260,1",
                "10.0.0.1:3260,1\nnode.startup = automatic",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (iscsi_target_address_parse(bad[i], "portal", &p, &err) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_accepted),
                cmocka_unit_test(test_names_refused),
                cmocka_unit_test(test_target_addresses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
