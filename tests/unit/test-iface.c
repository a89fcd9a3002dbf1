/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/iface.c: the field table, names, every value check, number ranges, the
 * IPv4/IPv6 templates and the naming trap, the binding rules, parse errors and render round trips.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/macro.h"
#include "engine/iface.h"

static void rec_donep(struct iface_rec *rec)
{
        iface_rec_done(rec);
}

static size_t idx_of(const char *key)
{
        int r = iface_field_find(key);

        if (r < 0)
                fail_msg("unknown key %s", key);
        return (size_t)r;
}

/* A key and its value: strings as given, numbers in decimal (set straight into num[]). */
struct kv {
        const char *key;
        const char *value;
};

#define MAX_KV 4

static void build(struct iface_rec *rec, const char *name, const struct kv *set)
{
        assert_int_equal(iface_rec_init(rec, name), 0);
        for (size_t i = 0; i < MAX_KV && set[i].key; i++) {
                size_t idx = idx_of(set[i].key);

                if (iface_fields[idx].type == IFACE_FT_STR)
                        assert_int_equal(iface_rec_set_str(rec, idx, set[i].value), 0);
                else
                        rec->num[idx] = (uint32_t)strtoul(set[i].value, NULL, 10);
        }
}

/* clang-format off */
static const char *const all_keys[IFACE_N_FIELDS] = {
        "iscsi_ifacename", "net_ifacename", "ipaddress", "prefix_len", "hwaddress",
        "transport_name", "initiatorname", "state", "vlan_id", "vlan_priority", "vlan_state",
        "iface_num", "mtu", "port", "bootproto", "subnet_mask", "gateway",
        "dhcp_alt_client_id_state", "dhcp_alt_client_id", "dhcp_dns", "dhcp_learn_iqn",
        "dhcp_req_vendor_id_state", "dhcp_vendor_id_state", "dhcp_vendor_id", "dhcp_slp_da",
        "fragmentation", "gratuitous_arp", "incoming_forwarding", "tos_state", "tos", "ttl",
        "ipv6_autocfg", "linklocal_autocfg", "router_autocfg", "ipv6_linklocal", "ipv6_router",
        "dup_addr_detect_cnt", "flow_label", "gratuitous_neighbor_adv", "hop_limit", "mld",
        "nd_reachable_tmo", "nd_rexmit_time", "nd_stale_tmo", "router_adv_link_mtu",
        "traffic_class", "delayed_ack", "tcp_nagle", "tcp_wsf_state", "tcp_wsf", "tcp_timer_scale",
        "tcp_timestamp", "redirect", "def_task_mgmt_timeout", "header_digest", "data_digest",
        "immediate_data", "initial_r2t", "data_seq_inorder", "data_pdu_inorder", "erl",
        "max_receive_data_len", "first_burst_len", "max_outstanding_r2t", "max_burst_len",
        "chap_auth", "bidi_chap", "strict_login_compliance", "discovery_auth", "discovery_logout",
};
/* clang-format on */

static void test_iface_field_table_order_and_counts(void **state)
{
        size_t v4 = 0, v6 = 0;

        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                assert_string_equal(iface_fields[i].key, all_keys[i]);
                v4 += iface_field_in_template(i, false);
                v6 += iface_field_in_template(i, true);
        }
        assert_int_equal(v4, 55);
        assert_int_equal(v6, 53);

        assert_string_equal(iface_fields[IFACE_F_ISCSI_IFACENAME].key, "iscsi_ifacename");
        assert_string_equal(iface_fields[IFACE_F_NET_IFACENAME].key, "net_ifacename");
        assert_string_equal(iface_fields[IFACE_F_IPADDRESS].key, "ipaddress");
        assert_string_equal(iface_fields[IFACE_F_PREFIX_LEN].key, "prefix_len");
        assert_string_equal(iface_fields[IFACE_F_HWADDRESS].key, "hwaddress");
        assert_string_equal(iface_fields[IFACE_F_TRANSPORT_NAME].key, "transport_name");
        assert_string_equal(iface_fields[IFACE_F_INITIATORNAME].key, "initiatorname");
        assert_false(iface_field_in_template(IFACE_N_FIELDS, false));
}

/* clang-format off */
static const struct type_case {
        const char *key;
        enum iface_ftype type;
} type_cases[] = {
        { "prefix_len", IFACE_FT_U8 }, { "vlan_priority", IFACE_FT_U8 }, { "tos", IFACE_FT_U8 },
        { "ttl", IFACE_FT_U8 }, { "dup_addr_detect_cnt", IFACE_FT_U8 }, { "hop_limit",
          IFACE_FT_U8 },
        { "traffic_class", IFACE_FT_U8 }, { "tcp_wsf", IFACE_FT_U8 }, { "tcp_timer_scale",
          IFACE_FT_U8 },
        { "erl", IFACE_FT_U8 }, { "vlan_id", IFACE_FT_U16 }, { "mtu", IFACE_FT_U16 }, { "port",
          IFACE_FT_U16 },
        { "def_task_mgmt_timeout", IFACE_FT_U16 }, { "max_outstanding_r2t", IFACE_FT_U16 },
        { "flow_label", IFACE_FT_U32 }, { "nd_reachable_tmo", IFACE_FT_U32 }, { "nd_rexmit_time",
          IFACE_FT_U32 },
        { "nd_stale_tmo", IFACE_FT_U32 }, { "router_adv_link_mtu", IFACE_FT_U32 },
        { "max_receive_data_len", IFACE_FT_U32 }, { "first_burst_len", IFACE_FT_U32 },
        { "max_burst_len", IFACE_FT_U32 }, { "iface_num", IFACE_FT_INT },
};
/* clang-format on */

static void test_iface_field_table_types_and_limits(void **state)
{
        size_t numbers = 0;

        for (size_t i = 0; i < ELEMENTSOF(type_cases); i++) {
                const struct iface_field *f = &iface_fields[idx_of(type_cases[i].key)];

                assert_int_equal(f->type, type_cases[i].type);
                assert_int_equal(f->check, IFACE_CK_NUMBER);
                assert_int_equal(f->maxlen, 0);
        }
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                const struct iface_field *f = &iface_fields[i];
                unsigned expect = 79;

                if (f->type != IFACE_FT_STR) {
                        numbers++;
                        continue;
                }
                assert_int_not_equal(f->check, IFACE_CK_NUMBER);
                if (streq(f->key, "iscsi_ifacename"))
                        expect = 64;
                else if (streq(f->key, "net_ifacename") || streq(f->key, "transport_name"))
                        expect = 15;
                else if (streq(f->key, "hwaddress"))
                        expect = 17;
                else if (streq(f->key, "initiatorname"))
                        expect = 255;
                else if (f->check == IFACE_CK_IPADDR || f->check == IFACE_CK_IPV4 ||
                         f->check == IFACE_CK_IPV6 || f->check == IFACE_CK_IPV6_AUTOCFG ||
                         f->check == IFACE_CK_AUTO || f->check == IFACE_CK_ROUTER)
                        expect = 1024;
                if (f->maxlen != expect)
                        fail_msg("%s: maxlen %u, expected %u", f->key, f->maxlen, expect);
        }
        assert_int_equal(numbers, ELEMENTSOF(type_cases));
}

/* clang-format off */
static const struct check_case {
        const char *key;
        enum iface_fcheck check;
} check_cases[] = {
        { "iscsi_ifacename", IFACE_CK_NAME }, { "net_ifacename", IFACE_CK_NETDEV },
        { "ipaddress", IFACE_CK_IPADDR }, { "hwaddress", IFACE_CK_MAC },
        { "transport_name", IFACE_CK_TRANSPORT }, { "initiatorname", IFACE_CK_INAME },
        { "bootproto", IFACE_CK_BOOTPROTO }, { "subnet_mask", IFACE_CK_IPV4 }, { "gateway",
          IFACE_CK_IPV4 },
        { "dhcp_alt_client_id", IFACE_CK_TEXT }, { "dhcp_vendor_id", IFACE_CK_TEXT },
        { "ipv6_autocfg", IFACE_CK_IPV6_AUTOCFG }, { "linklocal_autocfg", IFACE_CK_AUTO },
        { "router_autocfg", IFACE_CK_ROUTER }, { "ipv6_linklocal", IFACE_CK_IPV6 }, { "ipv6_router",
          IFACE_CK_IPV6 },
};
/* clang-format on */

static void test_iface_field_table_check_kinds(void **state)
{
        size_t special = 0;

        for (size_t i = 0; i < ELEMENTSOF(check_cases); i++)
                assert_int_equal(iface_fields[idx_of(check_cases[i].key)].check,
                                 check_cases[i].check);

        /* every other string is enable|disable */
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                bool listed = false;

                if (iface_fields[i].type != IFACE_FT_STR)
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(check_cases); j++)
                        listed = listed || streq(check_cases[j].key, iface_fields[i].key);
                if (listed)
                        special++;
                else if (iface_fields[i].check != IFACE_CK_ENABLE)
                        fail_msg("%s should be enable|disable", iface_fields[i].key);
        }
        assert_int_equal(special, ELEMENTSOF(check_cases));
}

static void test_iface_field_find_and_dead_keys(void **state)
{
        static const char *const dead[] = { "isid", "primary_dns", "secondary_dns",
                                            "ignore_icmp_echo_request" };

        assert_int_equal(iface_field_find("mtu"), 12);
        assert_int_equal(iface_field_find("iface.mtu"), 12);
        assert_int_equal(iface_field_find("iface.iscsi_ifacename"), IFACE_F_ISCSI_IFACENAME);
        assert_int_equal(iface_field_find("discovery_logout"), IFACE_N_FIELDS - 1);
        assert_int_equal(iface_field_find("iface.bogus"), -ENOENT);
        assert_int_equal(iface_field_find("node.startup"), -ENOENT);
        assert_int_equal(iface_field_find("iface."), -ENOENT);
        assert_int_equal(iface_field_find(""), -ENOENT);
        assert_int_equal(iface_field_find(NULL), -EINVAL);

        for (size_t i = 0; i < ELEMENTSOF(dead); i++) {
                char prefixed[64];

                (void)snprintf(prefixed, sizeof(prefixed), "iface.%s", dead[i]);
                assert_true(iface_key_is_dead(dead[i]));
                assert_true(iface_key_is_dead(prefixed));
                assert_int_equal(iface_field_find(dead[i]), -ENOENT);
                assert_int_equal(iface_field_find(prefixed), -ENOENT);
        }
        assert_false(iface_key_is_dead("mtu"));
        assert_false(iface_key_is_dead("iface.bogus"));
        assert_false(iface_key_is_dead(NULL));
}

static void test_iface_rec_init_copy_equal(void **state)
{
        _cleanup_(rec_donep) struct iface_rec a = {}, b = {};

        assert_int_equal(iface_rec_init(&a, "iface0"), 0);
        assert_string_equal(a.name, "iface0");
        assert_string_equal(a.str[IFACE_F_ISCSI_IFACENAME], "iface0");
        assert_string_equal(a.str[IFACE_F_TRANSPORT_NAME], "tcp");
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                assert_int_equal(a.num[i], 0);
                if (i != IFACE_F_ISCSI_IFACENAME && i != IFACE_F_TRANSPORT_NAME)
                        assert_null(a.str[i]);
        }

        assert_int_equal(iface_rec_set_str(&a, IFACE_F_HWADDRESS, "00:11:22:33:44:55"), 0);
        a.num[idx_of("mtu")] = 9000;
        assert_int_equal(iface_rec_copy(&b, &a), 0);
        assert_true(iface_rec_equal(&a, &b));
        assert_ptr_not_equal(a.str[IFACE_F_HWADDRESS], b.str[IFACE_F_HWADDRESS]);

        b.num[idx_of("mtu")] = 1500;
        assert_false(iface_rec_equal(&a, &b));
        b.num[idx_of("mtu")] = 9000;

        /* "" and NULL both unset */
        assert_int_equal(iface_rec_set_str(&b, IFACE_F_HWADDRESS, ""), 0);
        assert_null(b.str[IFACE_F_HWADDRESS]);
        assert_false(iface_rec_equal(&a, &b));
        assert_int_equal(iface_rec_set_str(&a, IFACE_F_HWADDRESS, NULL), 0);
        assert_null(a.str[IFACE_F_HWADDRESS]);
        assert_true(iface_rec_equal(&a, &b));

        /* iscsi_ifacename is the name: set together, never unset */
        assert_int_equal(iface_rec_set_str(&b, IFACE_F_ISCSI_IFACENAME, "iface9"), 0);
        assert_string_equal(b.name, "iface9");
        assert_string_equal(b.str[IFACE_F_ISCSI_IFACENAME], "iface9");
        assert_false(iface_rec_equal(&a, &b));
        assert_int_equal(iface_rec_set_str(&b, IFACE_F_ISCSI_IFACENAME, NULL), -EINVAL);
        assert_string_equal(b.name, "iface9");

        /* numbers are not strings; out of range index */
        assert_int_equal(iface_rec_set_str(&b, idx_of("mtu"), "1500"), -EINVAL);
        assert_int_equal(iface_rec_set_str(&b, IFACE_N_FIELDS, "x"), -EINVAL);

        iface_rec_done(&a);
        assert_null(a.name);
        iface_rec_done(&a); /* twice is fine */
        iface_rec_done(NULL);
}

static void test_iface_builtins(void **state)
{
        _cleanup_(rec_donep) struct iface_rec def = {}, iser = {}, none = {};

        assert_true(iface_name_is_builtin("default"));
        assert_true(iface_name_is_builtin("iser"));
        assert_false(iface_name_is_builtin("iface0"));
        assert_false(iface_name_is_builtin("Default"));
        assert_false(iface_name_is_builtin(NULL));

        assert_int_equal(iface_builtin("default", &def), 0);
        assert_string_equal(def.name, "default");
        assert_string_equal(def.str[IFACE_F_TRANSPORT_NAME], "tcp");
        assert_int_equal(iface_builtin("iser", &iser), 0);
        assert_string_equal(iser.name, "iser");
        assert_string_equal(iser.str[IFACE_F_TRANSPORT_NAME], "iser");
        assert_int_equal(iface_builtin("iface0", &none), -ENOENT);
        assert_null(none.name);
}

/* clang-format off */
static const struct name_case {
        const char *name;
        int r;
        const char *reason;
} name_cases[] = {
        { "iface0", 0, NULL },
        { "a", 0, NULL },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, NULL },
        { "bnx2i.00:10:18:aa:bb:01.ipv4.0", 0, NULL },
        { "eth0-ipv6", 0, NULL },
        { "A_b.c:d-e", 0, NULL },
        { "defaults", 0, NULL },
        { "", -EINVAL, "must be 1 to 64 bytes (got 0), as iscsiadm requires" },
        { "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", -EINVAL,
          "must be 1 to 64 bytes (got 65), as iscsiadm requires" },
        { "my iface", -EINVAL,
          "character ' ' at offset 2 is not allowed (allowed: A-Z a-z 0-9 _ . : -)" },
        { "a/b", -EINVAL,
          "character '/' at offset 1 is not allowed (allowed: A-Z a-z 0-9 _ . : -)" },
        { "bad\nname", -EINVAL,
          "byte 0x0a at offset 3 is not allowed (allowed: A-Z a-z 0-9 _ . : -)" },
        { "caf\xc3\xa9", -EINVAL,
          "byte 0xc3 at offset 3 is not allowed (allowed: A-Z a-z 0-9 _ . : -)" },
        { ".", -EINVAL,
          "must not start with '.': '.', '..' and hidden files cannot be iface files" },
        { "..", -EINVAL,
          "must not start with '.': '.', '..' and hidden files cannot be iface files" },
        { ".hidden", -EINVAL,
          "must not start with '.': '.', '..' and hidden files cannot be iface files" },
        { "-dash", -EINVAL, "must not start with '-': iscsiadm would take the name for an option" },
        { "default", -EINVAL, "'default' is a built-in iface of iscsiadm and cannot be stored" },
        { "iser", -EINVAL, "'iser' is a built-in iface of iscsiadm and cannot be stored" },
        { "iface.example", -EINVAL,
          "'iface.example' is the name of open-iscsi's sample file, which iscsiadm ignores" },
        { NULL, -EINVAL, "is missing: an iface needs a name of 1 to 64 bytes" },
};
/* clang-format on */

static void test_iface_name_validate(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(name_cases); i++) {
                const struct name_case *c = &name_cases[i];
                struct iface_error err = {};
                int r = iface_name_validate(c->name, &err);

                if (r != c->r)
                        fail_msg("name '%s': got %d, expected %d (%s)",
                                 c->name ? c->name : "(null)", r, c->r, err.reason);
                if (c->r == 0)
                        continue;
                assert_string_equal(err.field, "name");
                assert_string_equal(err.reason, c->reason);
        }
        assert_int_equal(iface_name_validate("x y", NULL), -EINVAL);
}

/* clang-format off */
static const struct number_case {
        const char *key;
        int64_t value;
        int r;
        const char *reason;
} number_cases[] = {
        { "prefix_len", 0, 0, NULL },
        { "prefix_len", 255, 0, NULL },
        { "prefix_len", 256, -ERANGE, "must be an integer from 0 to 255 (u8)" },
        { "vlan_priority", -1, -ERANGE, "must be an integer from 0 to 255 (u8)" },
        { "vlan_id", 65535, 0, NULL },
        { "vlan_id", 70000, -ERANGE, "must be an integer from 0 to 65535 (u16)" },
        { "mtu", 99999999, -ERANGE, "must be an integer from 0 to 65535 (u16)" },
        { "flow_label", 4294967295LL, 0, NULL },
        { "flow_label", 4294967296LL, -ERANGE, "must be an integer from 0 to 4294967295 (u32)" },
        { "max_burst_len", -5, -ERANGE, "must be an integer from 0 to 4294967295 (u32)" },
        { "iface_num", 2147483647LL, 0, NULL },
        { "iface_num", 2147483648LL, -ERANGE, "must be an integer from 0 to 2147483647 (int)" },
        { "iface_num", -1, -ERANGE, "must be an integer from 0 to 2147483647 (int)" },
        { "mtu", INT64_MAX, -ERANGE, "must be an integer from 0 to 65535 (u16)" },
        { "mtu", INT64_MIN, -ERANGE, "must be an integer from 0 to 65535 (u16)" },
        { "hwaddress", 1, -EINVAL, "is a string, not a number" },
};
/* clang-format on */

static void test_iface_check_number_ranges(void **state)
{
        struct iface_error err = {};

        for (size_t i = 0; i < ELEMENTSOF(number_cases); i++) {
                const struct number_case *c = &number_cases[i];
                int r;

                memset(&err, 0, sizeof(err));
                r = iface_check_number(idx_of(c->key), c->value, &err);
                if (r != c->r)
                        fail_msg("%s = %" PRId64 ": got %d, expected %d", c->key, c->value, r,
                                 c->r);
                if (c->r == 0)
                        continue;
                assert_string_equal(err.field, c->key);
                assert_string_equal(err.reason, c->reason);
        }
        assert_int_equal(iface_check_number(IFACE_N_FIELDS, 1, &err), -EINVAL);
        assert_null(err.field);
}

/*
 * One validation case: a record named name with these fields set, and the expected result of
 * iface_validate(rec, NULL). reason is a fragment the reason must contain.
 */
struct validate_case {
        const char *name;
        struct kv set[MAX_KV];
        int r;
        const char *field;
        const char *reason;
};

static void run_validate_cases(const struct validate_case *cases, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const struct validate_case *c = &cases[i];
                _cleanup_(rec_donep) struct iface_rec rec = {};
                struct iface_error err = {};
                int r;

                build(&rec, c->name, c->set);
                r = iface_validate(&rec, NULL, &err);
                if (r != c->r)
                        fail_msg("case %zu (%s, %s = '%s'): got %d, expected %d: %s", i, c->name,
                                 c->set[0].key ? c->set[0].key : "-",
                                 c->set[0].value ? c->set[0].value : "", r, c->r,
                                 r < 0 ? err.reason : "");
                if (c->r == 0)
                        continue;
                if (!streq_ptr(err.field, c->field))
                        fail_msg("case %zu: field %s, expected %s (%s)", i,
                                 err.field ? err.field : "(null)", c->field, err.reason);
                if (c->reason && !strstr(err.reason, c->reason))
                        fail_msg("case %zu: reason '%s' lacks '%s'", i, err.reason, c->reason);
        }
}

/* clang-format off */
#define HW { "hwaddress", "00:11:22:33:44:55" }
/* clang-format on */

/* clang-format off */
static const struct validate_case text_cases[] = {
        { "iface0", { { "dhcp_vendor_id", "vendor 1" } }, 0, NULL, NULL },
        { "iface0", { { "dhcp_alt_client_id", "!~{}" } }, 0, NULL, NULL },
        { "iface0", { { "dhcp_vendor_id", "a\nb" } }, -EINVAL, "dhcp_vendor_id",
          "contains control character 0x0a at offset 1" },
        { "iface0", { { "initiatorname", "iqn.2020-01.a\niface.net_ifacename = eth7" } }, -EINVAL,
          "initiatorname",
          "control character 0x0a" },
        { "iface0", { { "dhcp_vendor_id", "a\rb" } }, -EINVAL, "dhcp_vendor_id",
          "control character 0x0d" },
        { "iface0", { { "dhcp_vendor_id", "a\tb" } }, -EINVAL, "dhcp_vendor_id",
          "control character 0x09" },
        { "iface0", { { "dhcp_vendor_id", "a\x7f" } }, -EINVAL, "dhcp_vendor_id",
          "control character 0x7f" },
        { "iface0", { { "dhcp_vendor_id", "caf\xc3\xa9" } }, -EINVAL, "dhcp_vendor_id",
          "non-ASCII byte 0xc3 at offset 3" },
        { "iface0", { { "dhcp_vendor_id", " lead" } }, -EINVAL, "dhcp_vendor_id",
          "starts with a blank" },
        { "iface0", { { "dhcp_vendor_id", "trail " } }, -EINVAL, "dhcp_vendor_id",
          "ends with a blank" },
        { "iface0",
          { { "dhcp_vendor_id", "0123456789012345678901234567890123456789"
                                "012345678901234567890123456789012345678" } },
          0, NULL, NULL },
        { "iface0",
          { { "dhcp_vendor_id", "0123456789012345678901234567890123456789"
                                "0123456789012345678901234567890123456789" } },
          -EINVAL, "dhcp_vendor_id", "is 80 bytes, over the limit of 79" },
        /* the TEXT rule comes before the kind check */
        { "iface0", { { "state", "en\nable" } }, -EINVAL, "state", "control character" },
};
/* clang-format on */

static void test_iface_validate_text_rule(void **state)
{
        run_validate_cases(text_cases, ELEMENTSOF(text_cases));
}

/* clang-format off */
static const struct validate_case kind_cases[] = {
        /* NETDEV */
        { "iface0", { { "net_ifacename", "eth0" } }, 0, NULL, NULL },
        { "iface0", { { "net_ifacename", "default" } }, 0, NULL, NULL },
        { "iface0", { { "net_ifacename", "vlan.100@x-y_z" } }, 0, NULL, NULL },
        { "iface0", { { "net_ifacename", "abcdefghijklmno" } }, 0, NULL, NULL },
        { "iface0", { { "net_ifacename", "abcdefghijklmnop" } }, -EINVAL, "net_ifacename",
          "is 16 bytes, over the limit of 15" },
        { "iface0", { { "net_ifacename", "a/b" } }, -EINVAL, "net_ifacename",
          "'/' is not allowed" },
        { "iface0", { { "net_ifacename", "eth0:1" } }, -EINVAL, "net_ifacename",
          "':' is not allowed" },
        { "iface0", { { "net_ifacename", "eth 0" } }, -EINVAL, "net_ifacename",
          "blanks are not allowed" },
        { "iface0", { { "net_ifacename", "." } }, -EINVAL, "net_ifacename",
          "not a valid network device name" },
        { "iface0", { { "net_ifacename", ".." } }, -EINVAL, "net_ifacename",
          "not a valid network device name" },
        /* MAC */
        { "iface0", { { "hwaddress", "00:0f:1f:92:6b:bf" } }, 0, NULL, NULL },
        { "iface0", { { "hwaddress", "00:0F:1F:92:6B:BF" } }, 0, NULL, NULL },
        { "iface0", { { "hwaddress", "default" } }, 0, NULL, NULL },
        { "iface0", { { "hwaddress", "zz:zz:not-a-mac" } }, -EINVAL, "hwaddress",
          "is not a MAC address" },
        { "iface0", { { "hwaddress", "00-11-22-33-44-55" } }, -EINVAL, "hwaddress",
          "is not a MAC address" },
        { "iface0", { { "hwaddress", "0:11:22:33:44:555" } }, -EINVAL, "hwaddress",
          "is not a MAC address" },
        { "iface0", { { "hwaddress", "00:11:22:33:44:55:66:77" } }, -EINVAL, "hwaddress",
          "is 23 bytes, over the limit of 17" },
        /* IPADDR (with a binding, so the software-iSCSI rule does not apply) */
        { "iface0", { HW, { "ipaddress", "192.168.10.5" } }, 0, NULL, NULL },
        { "iface0", { HW, { "ipaddress", "0.0.0.0" } }, 0, NULL, NULL },
        { "iface0", { HW, { "ipaddress", "999.1.1.1" } }, -EINVAL, "ipaddress",
          "is not an IPv4 address" },
        { "iface0", { HW, { "ipaddress", "not-an-ip" } }, -EINVAL, "ipaddress",
          "is not an IPv4 address" },
        { "iface0", { HW, { "ipaddress", "default" } }, -EINVAL, "ipaddress",
          "is not an IPv4 address" },
        { "e-ipv6", { HW, { "ipaddress", "fe80::1" } }, 0, NULL, NULL },
        { "e-ipv6", { HW, { "ipaddress", "fec0:ce00:7014:41::1e04:9392" } }, 0, NULL, NULL },
        { "e-ipv6", { HW, { "ipaddress", "fe80::g" } }, -EINVAL, "ipaddress",
          "is not an IPv6 address" },
        /* IPV4 */
        { "iface0", { { "subnet_mask", "255.255.255.0" }, { "gateway", "10.0.0.1" } }, 0, NULL,
          NULL },
        { "iface0", { { "subnet_mask", "255.255.255" } }, -EINVAL, "subnet_mask",
          "is not an IPv4 address" },
        { "iface0", { { "gateway", "fe80::1" } }, -EINVAL, "gateway", "is not an IPv4 address" },
        /* IPV6 */
        { "e-ipv6", { { "ipv6_linklocal", "fe80::20e:1eff:fe04:8b2e" }, { "ipv6_router", "::" } },
          0, NULL, NULL },
        { "e-ipv6", { { "ipv6_linklocal", "10.0.0.1" } }, -EINVAL, "ipv6_linklocal",
          "is not an IPv6 address" },
        { "e-ipv6", { { "ipv6_router", "::g" } }, -EINVAL, "ipv6_router",
          "is not an IPv6 address" },
        /* TRANSPORT */
        { "iface0", { { "transport_name", "iser" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "cxgb3i" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "cxgb4i" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "bnx2i" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "qla4xxx" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "be2iscsi" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "ocs" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "qedi" } }, 0, NULL, NULL },
        { "iface0", { { "transport_name", "bogus" } }, -EINVAL, "transport_name",
          "'bogus' is not an open-iscsi transport" },
        { "iface0", { { "transport_name", "TCP" } }, -EINVAL, "transport_name",
          "is not an open-iscsi transport" },
        { "iface0", { { "transport_name", "abcdefghijklmnopq" } }, -EINVAL, "transport_name",
          "is 17 bytes, over the limit of 15" },
        /* ENABLE */
        { "iface0",
          { { "state", "enable" }, { "vlan_state", "disable" }, { "discovery_logout", "enable" } },
          0, NULL, NULL },
        { "iface0", { { "state", "en able" } }, -EINVAL, "state",
          "'en able' must be enable or disable" },
        { "iface0", { { "tcp_nagle", "on" } }, -EINVAL, "tcp_nagle", "must be enable or disable" },
        { "iface0", { { "dhcp_dns", "Enable" } }, -EINVAL, "dhcp_dns",
          "must be enable or disable" },
        { "e-ipv6", { { "mld", "yes" } }, -EINVAL, "mld", "must be enable or disable" },
        /* BOOTPROTO */
        { "iface0", { { "bootproto", "dhcp" } }, 0, NULL, NULL },
        { "iface0", { { "bootproto", "static" } }, 0, NULL, NULL },
        { "iface0", { { "bootproto", "bootp" } }, -EINVAL, "bootproto", "must be dhcp or static" },
        /* IPV6_AUTOCFG */
        { "e-ipv6", { { "ipv6_autocfg", "nd" } }, 0, NULL, NULL },
        { "e-ipv6", { { "ipv6_autocfg", "dhcpv6" } }, 0, NULL, NULL },
        { "e-ipv6", { { "ipv6_autocfg", "disable" } }, 0, NULL, NULL },
        { "e-ipv6", { { "ipv6_autocfg", "auto" } }, -EINVAL, "ipv6_autocfg",
          "must be nd, dhcpv6 or disable" },
        /* AUTO */
        { "e-ipv6", { { "linklocal_autocfg", "auto" }, { "router_autocfg", "disable" } }, 0, NULL,
          NULL },
        { "e-ipv6", { { "router_autocfg", "nd" } }, -EINVAL, "router_autocfg",
          "must be auto or disable" },
        /* INAME */
        { "iface0", { { "initiatorname", "iqn.2020-01.com.example:host1" } }, 0, NULL, NULL },
        { "iface0", { { "initiatorname", "iqn.2000-04.com.qlogic:isp8214.000e1e048b2e.4" } }, 0,
          NULL, NULL },
        { "iface0", { { "initiatorname", "eui.02004567A425678D" } }, 0, NULL, NULL },
        { "iface0", { { "initiatorname", "naa.52004567BA64678D" } }, 0, NULL, NULL },
        { "iface0", { { "initiatorname", "naa.62004567BA64678D0123456789ABCDEF" } }, 0, NULL,
          NULL },
        { "iface0", { { "initiatorname", "iqn.x=y#z" } }, -EINVAL, "initiatorname",
          "yyyy-mm. date" },
        { "iface0", { { "initiatorname", "iqn.2020-13.com.example" } }, -EINVAL, "initiatorname",
          "month 13 is not 01 to 12" },
        { "iface0", { { "initiatorname", "iqn.2020-01." } }, -EINVAL, "initiatorname",
          "naming authority after the date is missing" },
        { "iface0", { { "initiatorname", "iqn.2020-01.com.example:my host" } }, -EINVAL,
          "initiatorname",
          "blanks are not allowed" },
        { "iface0", { { "initiatorname", "eui.02004567A425678" } }, -EINVAL, "initiatorname",
          "16 hex digits" },
        { "iface0", { { "initiatorname", "naa.52004567BA64678D0" } }, -EINVAL, "initiatorname",
          "16 or 32 hex digits" },
        { "iface0", { { "initiatorname", "host1" } }, -EINVAL, "initiatorname",
          "is not an iSCSI name" },
};
/* clang-format on */

static void test_iface_validate_check_kinds(void **state)
{
        run_validate_cases(kind_cases, ELEMENTSOF(kind_cases));
}

/* clang-format off */
static const struct validate_case number_validate_cases[] = {
        { "iface0", { { "mtu", "9000" }, { "vlan_id", "4095" }, { "iface_num", "2147483647" } }, 0,
          NULL, NULL },
        { "iface0", { { "iface_num", "2147483648" } }, -EINVAL, "iface_num",
          "must be an integer from 0 to 2147483647 (int)" },
        { "iface0", { { "prefix_len", "256" } }, -EINVAL, "prefix_len",
          "must be an integer from 0 to 255 (u8)" },
        { "iface0", { { "port", "65536" } }, -EINVAL, "port",
          "must be an integer from 0 to 65535 (u16)" },
        { "iface0", { { "max_burst_len", "4294967295" } }, 0, NULL, NULL },
};
/* clang-format on */

static void test_iface_validate_number_ranges(void **state)
{
        run_validate_cases(number_validate_cases, ELEMENTSOF(number_validate_cases));
}

/* clang-format off */
static const struct validate_case template_cases[] = {
        /* zero numbers of the other block are what every record holds: fine */
        { "iface0", {}, 0, NULL, NULL },
        { "eth0-ipv6", {}, 0, NULL, NULL },
        { "iface0", { { "ipv6_autocfg", "nd" } }, -EINVAL, "ipv6_autocfg",
          "is an IPv6 key, but the name 'iface0' has no 'ipv6'" },
        { "iface0", { { "hop_limit", "64" } }, -EINVAL, "hop_limit",
          "use a name containing 'ipv6'" },
        { "iface0", { { "ipv6_linklocal", "fe80::1" } }, -EINVAL, "ipv6_linklocal",
          "IPv4 key set" },
        { "eth0-ipv6", { { "bootproto", "dhcp" } }, -EINVAL, "bootproto",
          "is an IPv4 key, but the name 'eth0-ipv6' contains 'ipv6'" },
        { "eth0-ipv6", { { "ttl", "64" } }, -EINVAL, "ttl", "use a name without 'ipv6'" },
        { "eth0-ipv6", { { "subnet_mask", "255.255.255.0" } }, -EINVAL, "subnet_mask",
          "IPv6 key set" },
        /* common keys go with both */
        { "eth0-ipv6", { { "mtu", "1500" }, { "delayed_ack", "enable" }, { "erl", "2" } }, 0, NULL,
          NULL },
        { "iface0", { { "mtu", "1500" }, { "delayed_ack", "enable" }, { "erl", "2" } }, 0, NULL,
          NULL },
};
/* clang-format on */

static void test_iface_validate_templates(void **state)
{
        run_validate_cases(template_cases, ELEMENTSOF(template_cases));
}

/* clang-format off */
static const struct validate_case trap_cases[] = {
        /* golden X01: iscsiadm writes IPv6 keys into 'plain' and can never read it again */
        { "plain", { HW, { "ipaddress", "fe80::1" } }, -EINVAL, "ipaddress",
          "is an IPv6 address but the name has no 'ipv6': iscsiadm would write IPv6 keys, "
          "then read the file by its name with the IPv4 key set, making the iface unreadable; "
          "use a name containing 'ipv6'" },
        { "plain", { HW, { "ipaddress", "::1" } }, -EINVAL, "ipaddress",
          "making the iface unreadable" },
        { "iface2-ipv6", { HW, { "ipaddress", "10.0.0.5" } }, -EINVAL, "ipaddress",
          "is an IPv4 address but the name contains 'ipv6': iscsiadm would write IPv4 keys, "
          "then read the file by its name with the IPv6 key set, making the iface unreadable; "
          "use a name without 'ipv6'" },
        { "iface2-ipv6", { HW, { "ipaddress", "::ffff:10.0.0.5" } }, -EINVAL, "ipaddress",
          "has a dotted IPv4 part" },
        { "iface2-ipv6", { HW, { "ipaddress", "fe80::1" } }, 0, NULL, NULL },
        { "ipv6", { HW, { "ipaddress", "2001:db8::5" } }, 0, NULL, NULL },
};
/* clang-format on */

static void test_iface_validate_ipv6_naming_trap(void **state)
{
        run_validate_cases(trap_cases, ELEMENTSOF(trap_cases));

        /* a record that validates is written with the key set its name selects for reading */
        for (size_t i = 0; i < ELEMENTSOF(trap_cases); i++) {
                _cleanup_(rec_donep) struct iface_rec rec = {};

                if (trap_cases[i].r != 0)
                        continue;
                build(&rec, trap_cases[i].name, trap_cases[i].set);
                assert_int_equal(iface_rec_is_ipv6(&rec),
                                 strstr(trap_cases[i].name, "ipv6") != NULL);
        }
}

/* clang-format off */
static const struct ipv6_rule_case {
        const char *name;
        const char *ipaddress;
        const char *bootproto;
        bool ipv6;
} ipv6_rule_cases[] = {
        { "iface0", NULL, NULL, false },
        { "eth0-ipv6", NULL, NULL, true },
        { "iface0", "10.0.0.1", NULL, false },
        { "iface0", "fe80::1", NULL, true },
        { "iface0", "not-an-ip", NULL, true },          /* golden X04 */
        { "iface0", "default", NULL, true },            /* fixed upstream after 2.1.8 (PR 508) */
        { "iface0", "fe80::1", "dhcp", false },
        { "iface0", "fe80::1", "static", true },
        { "x-ipv6", "10.0.0.1", NULL, false },
        { "x-ipv4", NULL, NULL, false },
};
/* clang-format on */

static void test_iface_rec_is_ipv6_writer_rule(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(ipv6_rule_cases); i++) {
                const struct ipv6_rule_case *c = &ipv6_rule_cases[i];
                _cleanup_(rec_donep) struct iface_rec rec = {};

                assert_int_equal(iface_rec_init(&rec, c->name), 0);
                assert_int_equal(iface_rec_set_str(&rec, IFACE_F_IPADDRESS, c->ipaddress), 0);
                assert_int_equal(iface_rec_set_str(&rec, idx_of("bootproto"), c->bootproto), 0);
                if (iface_rec_is_ipv6(&rec) != c->ipv6)
                        fail_msg("case %zu: %s ip=%s bootproto=%s", i, c->name,
                                 c->ipaddress ? c->ipaddress : "-",
                                 c->bootproto ? c->bootproto : "-");
        }
        assert_false(iface_rec_is_ipv6(NULL));
}

/* clang-format off */
static const struct validate_case create_binding_cases[] = {
        /* golden E01: software iSCSI cannot bind by IP alone */
        { "iponly", { { "ipaddress", "127.0.0.1" } }, -EINVAL, "ipaddress",
          "cannot bind a tcp iface by IP address alone" },
        { "iponly", { { "transport_name", "iser" }, { "ipaddress", "127.0.0.1" } }, -EINVAL,
          "ipaddress",
          "cannot bind a iser iface by IP address alone" },
        { "iponly", { { "hwaddress", "default" }, { "ipaddress", "127.0.0.1" } }, -EINVAL,
          "ipaddress",
          "set one of them too" },
        { "iponly", { { "net_ifacename", "default" }, { "ipaddress", "127.0.0.1" } }, -EINVAL,
          "ipaddress",
          "by IP address alone" },
        { "hw", { HW, { "ipaddress", "127.0.0.1" } }, 0, NULL, NULL },
        { "nd", { { "net_ifacename", "eth0" }, { "ipaddress", "127.0.0.1" } }, 0, NULL, NULL },
        /* offload ports take their IP from the iface */
        { "qla", { { "transport_name", "qla4xxx" }, { "ipaddress", "20.15.0.7" } }, 0, NULL, NULL },
        /* both keys set: hwaddress wins, as for iscsiadm's offload ifaces */
        { "bnx2i.x.ipv4.0", { { "transport_name", "bnx2i" }, HW, { "net_ifacename", "eth2" } }, 0,
          NULL, NULL },
        /* required fields */
        { "notransport", { { "transport_name", NULL } }, -EINVAL, "transport_name", "is required" },
        { "bad name", {}, -EINVAL, "name", "character ' ' at offset 3" },
        { "default", {}, -EINVAL, "name", "built-in" },
};
/* clang-format on */

static void test_iface_validate_binding_on_create(void **state)
{
        run_validate_cases(create_binding_cases, ELEMENTSOF(create_binding_cases));
}

/* clang-format off */
static const struct update_case {
        struct kv old[MAX_KV];
        struct kv new[MAX_KV];
        int r;
        const char *field;
} update_cases[] = {
        /* golden B08: hwaddress -> net_ifacename */
        { { HW }, { HW, { "net_ifacename", "eth1" } }, -EINVAL, "net_ifacename" },
        { { HW }, { { "net_ifacename", "eth1" } }, -EINVAL, "net_ifacename" },
        { { HW }, { HW, { "net_ifacename", "default" } }, -EINVAL, "net_ifacename" },
        /* golden B22: net_ifacename -> hwaddress */
        { { { "net_ifacename", "eth1" } }, { { "net_ifacename", "eth1" }, HW }, -EINVAL,
          "hwaddress" },
        { { { "net_ifacename", "eth1" } }, { HW }, -EINVAL, "hwaddress" },
        /* allowed: binding an unbound iface, changing the value, unbinding, unrelated edits */
        { {}, { HW }, 0, NULL },
        { {}, { { "net_ifacename", "eth1" } }, 0, NULL },
        { { { "hwaddress", "default" } }, { { "net_ifacename", "eth1" } }, 0, NULL },
        { { HW }, { { "hwaddress", "00:11:22:33:44:66" } }, 0, NULL },
        { { { "net_ifacename", "eth1" } }, { { "net_ifacename", "eth2" } }, 0, NULL },
        { { HW }, {}, 0, NULL },
        { { HW }, { HW, { "mtu", "9000" } }, 0, NULL },
        { { { "transport_name", "bnx2i" }, HW, { "net_ifacename", "eth2" } },
          { { "transport_name", "bnx2i" }, HW, { "net_ifacename", "eth2" },
            { "ipaddress", "10.1.1.1" } }, 0, NULL },
};
/* clang-format on */

static void test_iface_validate_binding_kind_on_update(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(update_cases); i++) {
                const struct update_case *c = &update_cases[i];
                _cleanup_(rec_donep) struct iface_rec old = {}, rec = {};
                struct iface_error err = {};
                int r;

                build(&old, "iface0", c->old);
                build(&rec, "iface0", c->new);
                assert_int_equal(iface_validate(&old, NULL, &err), 0);
                r = iface_validate(&rec, &old, &err);
                if (r != c->r)
                        fail_msg("case %zu: got %d, expected %d (%s)", i, r, c->r, err.reason);
                if (c->r == 0)
                        continue;
                assert_string_equal(err.field, c->field);
                assert_non_null(strstr(err.reason, "delete the iface and create a new one"));
        }
}

static void test_iface_validate_ifacename_must_match(void **state)
{
        _cleanup_(rec_donep) struct iface_rec rec = {};
        struct iface_error err = {};

        assert_int_equal(iface_rec_init(&rec, "iface0"), 0);
        free(rec.str[IFACE_F_ISCSI_IFACENAME]);
        rec.str[IFACE_F_ISCSI_IFACENAME] = NULL;
        assert_int_equal(iface_validate(&rec, NULL, &err), -EINVAL);
        assert_string_equal(err.field, "iscsi_ifacename");
        assert_string_equal(err.reason, "is missing; it must equal the iface name 'iface0'");

        /* NAME check: the in-file name must be the record name (golden B31 shows why) */
        rec.str[IFACE_F_ISCSI_IFACENAME] = strdup("realname");
        assert_non_null(rec.str[IFACE_F_ISCSI_IFACENAME]);
        assert_int_equal(iface_validate(&rec, NULL, &err), -EINVAL);
        assert_string_equal(err.field, "iscsi_ifacename");
        assert_string_equal(err.reason, "must equal the iface name 'iface0'");
        assert_int_equal(iface_validate(NULL, NULL, &err), -EINVAL);
}

/* A parse case: file name, file text, and the expected result. */
/* clang-format off */
static const struct parse_case {
        const char *file;
        const char *text;
        int r;
        const char *field;
        const char *reason;
} parse_error_cases[] = {
        { "f1", "iface.transport_name = tcp\niface.mtu = 1500abc\n", -EBADMSG, "mtu",
          "line 2: iface.mtu = 1500abc is not a decimal number" },
        { "f1", "iface.transport_name = tcp\niface.port = 0x10\n", -EBADMSG, "port",
          "line 2: iface.port = 0x10 is not a decimal number" },
        { "f1", "iface.transport_name = tcp\niface.vlan_priority = -1\n", -EBADMSG, "vlan_priority",
          "line 2: iface.vlan_priority = -1 is not a decimal number" },
        { "f1", "iface.transport_name = tcp\niface.mtu = +1\n", -EBADMSG, "mtu",
          "line 2: iface.mtu = +1 is not a decimal number" },
        { "f1", "iface.transport_name = tcp\niface.mtu = 1 5\n", -EBADMSG, "mtu",
          "line 2: iface.mtu = 1 5 is not a decimal number" },
        { "f1", "iface.transport_name = tcp\niface.vlan_id = 70000\n", -EBADMSG, "vlan_id",
          "line 2: iface.vlan_id = 70000 is out of range 0 to 65535 (u16)" },
        { "f1", "iface.transport_name = tcp\niface.iface_num = 2147483648\n", -EBADMSG, "iface_num",
          "line 2: iface.iface_num = 2147483648 is out of range 0 to 2147483647 (int)" },
        { "f1", "iface.transport_name = tcp\niface.tos = 256\n", -EBADMSG, "tos",
          "line 2: iface.tos = 256 is out of range 0 to 255 (u8)" },
        { "x-ipv6", "iface.transport_name = tcp\niface.flow_label = 99999999999999999999999\n",
          -EBADMSG, "flow_label",
          "line 2: iface.flow_label = 99999999999999999999999 is out of range 0 to 4294967295 "
          "(u32)" },
        { "f1", "iface.transport_name = tcp\niface.mtu =\n", -EBADMSG, "mtu",
          "line 2: iface.mtu has no value (a number is required)" },
        { "f1", "# BEGIN RECORD 2.1.8\niface.transport_name = tcp\niface.bogus = 1\n", -EBADMSG,
          NULL,
          "line 3: unknown key 'iface.bogus'" },
        { "f1", "iface.transport_name = tcp\nnode.startup = automatic\n", -EBADMSG, NULL,
          "line 2: unknown key 'node.startup'" },
        { "f1", "iface.transport_name = tcp\nmtu = 1500\n", -EBADMSG, NULL,
          "line 2: unknown key 'mtu'" },
        { "f1", "iface.transport_name = tcp\niface.isid = 1\n", -EBADMSG, "isid",
          "line 2: iface.isid is defined by open-iscsi but iscsiadm refuses it" },
        { "f1", "iface.transport_name = tcp\niface.ignore_icmp_echo_request = 1\n", -EBADMSG,
          "ignore_icmp_echo_request",
          "line 2: iface.ignore_icmp_echo_request is defined by open-iscsi but iscsiadm refuses "
          "it" },
        { "f1", "iface.transport_name = tcp\niface.mtu\n", -EBADMSG, NULL,
          "line 2: no '=' (expected 'iface.<key> = <value>')" },
        { "f1", "iface.transport_name = tcp\n = 5\n", -EBADMSG, NULL, "line 2: no key before '='" },
        { "f1", "iface.transport_name = tcp\niface.mtu = 1\n\niface.mtu = 2\n", -EBADMSG, "mtu",
          "line 4: duplicate key iface.mtu (first on line 2)" },
        { "f1", "iface.transport_name = tcp\niface.transport_name = iser\n", -EBADMSG,
          "transport_name",
          "line 2: duplicate key iface.transport_name (first on line 1)" },
        { "f1", "iface.transport_name = tcp\niface.ipv6_autocfg = nd\n", -EBADMSG, "ipv6_autocfg",
          "line 2: iface.ipv6_autocfg is an IPv6 key, but the file name has no 'ipv6', so iscsiadm "
          "reads it "
          "with the IPv4 key set and rejects the file" },
        { "a-ipv6", "iface.transport_name = tcp\niface.ttl = 0\n", -EBADMSG, "ttl",
          "line 2: iface.ttl is an IPv4 key, but the file name contains 'ipv6', so iscsiadm reads "
          "it with the "
          "IPv6 key set and rejects the file" },
        { "f0", "iface.transport_name = tcp\niface.net_ifacename = abcdefghijklmnopqrst\n",
          -EBADMSG,
          "net_ifacename", "line 2: iface.net_ifacename is 20 bytes, over its 15-byte limit "
                           "(iscsiadm would cut it)" },
        { "f2", "iface.transport_name = abcdefghijklmnopq\n", -EBADMSG, "transport_name",
          "line 1: iface.transport_name is 17 bytes, over its 15-byte limit (iscsiadm would cut "
          "it)" },
        { "filename", "iface.iscsi_ifacename = realname\niface.transport_name = tcp\n", -EBADMSG,
          "iscsi_ifacename", "line 1: iface.iscsi_ifacename = realname differs from the file "
                             "name 'filename'" },
        { "notransport", "iface.hwaddress = 00:11:22:33:44:66\n", -EBADMSG, "transport_name",
          "no iface.transport_name: iscsiadm ignores an iface file without it" },
        { "empty", "", -EBADMSG, "transport_name",
          "no iface.transport_name: iscsiadm ignores an iface file without it" },
        { "f1", "iface.transport_name =\n", -EBADMSG, "transport_name",
          "no iface.transport_name: iscsiadm ignores an iface file without it" },
        { "", "iface.transport_name = tcp\n", -EBADMSG, "name",
          "file name must be 1 to 64 bytes (got 0), as iscsiadm requires" },
        { "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
          "iface.transport_name = tcp\n",
          -EBADMSG, "name", "file name must be 1 to 64 bytes (got 65), as iscsiadm requires" },
};
/* clang-format on */

static void test_iface_parse_errors(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(parse_error_cases); i++) {
                const struct parse_case *c = &parse_error_cases[i];
                _cleanup_(rec_donep) struct iface_rec rec = {};
                struct iface_error err = {};
                int r;

                r = iface_parse_file(c->file, c->text, strlen(c->text), &rec, &err);
                if (r != c->r)
                        fail_msg("case %zu: got %d, expected %d (%s)", i, r, c->r, err.reason);
                if (!streq_ptr(err.field, c->field))
                        fail_msg("case %zu: field %s, expected %s", i,
                                 err.field ? err.field : "(null)", c->field ? c->field : "(null)");
                assert_string_equal(err.reason, c->reason);
        }
}

static void test_iface_parse_line_limits(void **state)
{
        _cleanup_(rec_donep) struct iface_rec rec = {}, rec2 = {}, rec3 = {};
        _cleanup_(freep) char *text = NULL;
        static const char nul[] = "iface.transport_name = tcp\niface.state = en\0able\n";
        struct iface_error err = {};
        size_t n = 0;

        /* a 2048-character line: libopeniscsiusr would read it in two pieces */
        text = malloc(4096);
        assert_non_null(text);
        n += (size_t)sprintf(text, "iface.transport_name = tcp\niface.gateway = ");
        memset(text + n, '1', 2048 - strlen("iface.gateway = "));
        n += 2048 - strlen("iface.gateway = ");
        text[n++] = '\n';
        assert_int_equal(iface_parse_file("f1", text, n, &rec, &err), -EBADMSG);
        assert_null(err.field);
        assert_string_equal(err.reason, "line 2: longer than 2047 characters");

        assert_int_equal(iface_parse_file("f1", nul, sizeof(nul) - 1, &rec2, &err), -EBADMSG);
        assert_string_equal(err.reason, "line 2: contains a NUL byte");

        /* a 1025-byte address fits the line but not iscsiadm's char[1025] */
        n = (size_t)sprintf(text, "iface.transport_name = tcp\niface.gateway = ");
        memset(text + n, '1', 1025);
        n += 1025;
        assert_int_equal(iface_parse_file("f1", text, n, &rec3, &err), -EBADMSG);
        assert_string_equal(err.field, "gateway");
        assert_string_equal(
                err.reason,
                "line 2: iface.gateway is 1025 bytes, over its 1024-byte limit (iscsiadm would cut "
                "it)");
}

static void test_iface_parse_reader_rules(void **state)
{
        static const char text[] =
                "# BEGIN RECORD 2.1.8\r\n\n   # an indented comment\n\tiface.iscsi_ifacename=f1  "
                "\r\niface.transport_name   =   tcp\n"
                "iface.initiatorname = iqn.x=y#z\n" /* golden F11: '=' and '#' in a value */
                "iface.hwaddress =\n"               /* golden F10: empty means unset */
                "iface.mtu = 1500\niface.iface_num = 2147483647\niface.vlan_priority = 255\n"
                "iface.state = en able\n" /* inner blanks are kept */
                "# END RECORD";           /* no final newline */
        _cleanup_(rec_donep) struct iface_rec rec = {}, hand = {};
        struct iface_error err = {};

        assert_int_equal(iface_parse_file("f1", text, strlen(text), &rec, &err), 0);
        assert_string_equal(rec.name, "f1");
        assert_string_equal(rec.str[IFACE_F_ISCSI_IFACENAME], "f1");
        assert_string_equal(rec.str[IFACE_F_TRANSPORT_NAME], "tcp");
        assert_string_equal(rec.str[IFACE_F_INITIATORNAME], "iqn.x=y#z");
        assert_null(rec.str[IFACE_F_HWADDRESS]);
        assert_int_equal(rec.num[idx_of("mtu")], 1500);
        assert_int_equal(rec.num[idx_of("iface_num")], 2147483647);
        assert_int_equal(rec.num[idx_of("vlan_priority")], 255);
        assert_string_equal(rec.str[idx_of("state")], "en able");

        /* golden B29: two hand-written lines, no iscsi_ifacename: the name comes from the file */
        static const char minimal[] =
                "iface.transport_name = tcp\niface.hwaddress = 00:C0:DD:08:63:E7\n";
        assert_int_equal(iface_parse_file("hand", minimal, strlen(minimal), &hand, &err), 0);
        assert_string_equal(hand.name, "hand");
        assert_string_equal(hand.str[IFACE_F_ISCSI_IFACENAME], "hand");
        assert_string_equal(hand.str[IFACE_F_HWADDRESS], "00:C0:DD:08:63:E7");
}

/* Every string key of the template set to a valid value, every number to its maximum. */
static void fill_record(struct iface_rec *rec, const char *name)
{
        bool ipv6 = strstr(name, "ipv6") != NULL;

        assert_int_equal(iface_rec_init(rec, name), 0);
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                const struct iface_field *f = &iface_fields[i];
                const char *v = NULL;

                if (!iface_field_in_template(i, ipv6))
                        continue;
                switch (f->check) {
                case IFACE_CK_NUMBER:
                        rec->num[i] = f->type == IFACE_FT_U8  ? 255 :
                                      f->type == IFACE_FT_U16 ? 65535 :
                                      f->type == IFACE_FT_U32 ? 4294967295U :
                                                                2147483647;
                        continue;
                case IFACE_CK_NAME:
                        continue;
                case IFACE_CK_NETDEV:
                        v = "eth0.100";
                        break;
                case IFACE_CK_IPADDR:
                        v = ipv6 ? "2001:db8::1" : "192.168.1.10";
                        break;
                case IFACE_CK_MAC:
                        v = "00:0e:1e:04:8b:2e";
                        break;
                case IFACE_CK_TRANSPORT:
                        v = "qla4xxx";
                        break;
                case IFACE_CK_INAME:
                        v = "iqn.2000-04.com.qlogic:isp8214.000e1e048b2e.4";
                        break;
                case IFACE_CK_ENABLE:
                        v = i % 2 ? "enable" : "disable";
                        break;
                case IFACE_CK_BOOTPROTO:
                        v = "static";
                        break;
                case IFACE_CK_IPV4:
                        v = "255.255.255.0";
                        break;
                case IFACE_CK_IPV6:
                        v = "fe80::20e:1eff:fe04:8b2e";
                        break;
                case IFACE_CK_IPV6_AUTOCFG:
                        v = "dhcpv6";
                        break;
                case IFACE_CK_AUTO:
                        v = "auto";
                        break;
                case IFACE_CK_ROUTER:
                        v = "Advertised";
                        break;
                case IFACE_CK_TEXT:
                        v = "vendor x=1 #2";
                        break;
                case _IFACE_CK_MAX:
                        fail();
                }
                assert_int_equal(iface_rec_set_str(rec, i, v), 0);
        }
}

static size_t count_lines(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static void test_iface_render_round_trip_full_records(void **state)
{
        static const char *const names[] = { "qla4xxx.00:0e:1e:04:8b:2e.ipv4.0",
                                             "qla4xxx.00:0e:1e:04:8b:2e.ipv6.1" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(rec_donep) struct iface_rec rec = {}, back = {};
                _cleanup_(freep) char *file = NULL, *show = NULL, *again = NULL;
                struct iface_error err = {};
                size_t len = 0, show_len = 0, again_len = 0;
                bool ipv6 = i == 1;

                fill_record(&rec, names[i]);
                if (iface_validate(&rec, NULL, &err) < 0)
                        fail_msg("%s: %s: %s", names[i], err.field, err.reason);
                assert_int_equal(iface_rec_is_ipv6(&rec), ipv6);

                assert_int_equal(iface_render_file(&rec, &file, &len), 0);
                assert_int_equal(strlen(file), len);
                assert_int_equal(count_lines(file), (ipv6 ? 53 : 55) + 2);
                assert_int_equal(iface_parse_file(names[i], file, len, &back, &err), 0);
                assert_true(iface_rec_equal(&rec, &back));
                assert_int_equal(iface_render_file(&back, &again, &again_len), 0);
                assert_int_equal(again_len, len);
                assert_memory_equal(again, file, len);

                /* everything is set, so show prints the same lines as the file */
                assert_int_equal(iface_render_show(&rec, &show, &show_len), 0);
                assert_string_equal(show, file);
                assert_non_null(strstr(file, "iface.iface_num = 2147483647\n"));
                assert_non_null(strstr(file, ipv6 ? "iface.flow_label = 4294967295\n" :
                                                    "iface.ttl = 255\n"));
        }
}

static void test_iface_render_exact_bytes(void **state)
{
        _cleanup_(rec_donep) struct iface_rec rec = {};
        _cleanup_(freep) char *file = NULL, *flat = NULL, *show = NULL;
        size_t len = 0;

        assert_int_equal(iface_rec_init(&rec, "iface1"), 0);
        assert_int_equal(iface_rec_set_str(&rec, IFACE_F_NET_IFACENAME, "eth1"), 0);
        assert_int_equal(iface_rec_set_str(&rec, idx_of("bootproto"), "dhcp"), 0);
        rec.num[idx_of("port")] = 3260;
        assert_int_equal(iface_render_file(&rec, &file, &len), 0);
        /* clang-format off */
        assert_string_equal(file,
                            "# BEGIN RECORD 2.1.8\n"
                            "iface.iscsi_ifacename = iface1\n"
                            "iface.net_ifacename = eth1\n"
                            "iface.prefix_len = 0\n"
                            "iface.transport_name = tcp\n"
                            "iface.vlan_id = 0\n"
                            "iface.vlan_priority = 0\n"
                            "iface.iface_num = 0\n"
                            "iface.mtu = 0\n"
                            "iface.port = 3260\n"
                            "iface.bootproto = dhcp\n"
                            "iface.tos = 0\n"
                            "iface.ttl = 0\n"
                            "iface.tcp_wsf = 0\n"
                            "iface.tcp_timer_scale = 0\n"
                            "iface.def_task_mgmt_timeout = 0\n"
                            "iface.erl = 0\n"
                            "iface.max_receive_data_len = 0\n"
                            "iface.first_burst_len = 0\n"
                            "iface.max_outstanding_r2t = 0\n"
                            "iface.max_burst_len = 0\n"
                            "# END RECORD\n");
        /* clang-format on */
        assert_int_equal(len, strlen(file));

        assert_int_equal(iface_render_flat(&rec, &flat, NULL), 0);
        assert_string_equal(flat, "iface1 tcp,<empty>,<empty>,eth1,<empty>\n");

        assert_int_equal(iface_render_show(&rec, &show, NULL), 0);
        assert_int_equal(count_lines(show), 57);
        assert_non_null(strstr(show, "\niface.ipaddress = <empty>\niface.prefix_len = 0\n"));
        assert_non_null(strstr(show, "\niface.bootproto = dhcp\niface.subnet_mask = <empty>\n"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_iface_field_table_order_and_counts),
                cmocka_unit_test(test_iface_field_table_types_and_limits),
                cmocka_unit_test(test_iface_field_table_check_kinds),
                cmocka_unit_test(test_iface_field_find_and_dead_keys),
                cmocka_unit_test(test_iface_rec_init_copy_equal),
                cmocka_unit_test(test_iface_builtins),
                cmocka_unit_test(test_iface_name_validate),
                cmocka_unit_test(test_iface_check_number_ranges),
                cmocka_unit_test(test_iface_validate_text_rule),
                cmocka_unit_test(test_iface_validate_check_kinds),
                cmocka_unit_test(test_iface_validate_number_ranges),
                cmocka_unit_test(test_iface_validate_templates),
                cmocka_unit_test(test_iface_validate_ipv6_naming_trap),
                cmocka_unit_test(test_iface_rec_is_ipv6_writer_rule),
                cmocka_unit_test(test_iface_validate_binding_on_create),
                cmocka_unit_test(test_iface_validate_binding_kind_on_update),
                cmocka_unit_test(test_iface_validate_ifacename_must_match),
                cmocka_unit_test(test_iface_parse_errors),
                cmocka_unit_test(test_iface_parse_line_limits),
                cmocka_unit_test(test_iface_parse_reader_rules),
                cmocka_unit_test(test_iface_render_round_trip_full_records),
                cmocka_unit_test(test_iface_render_exact_bytes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
