/* SPDX-License-Identifier: MIT */
/* Unit tests of api/iface-json.c: JSON <-> record, typed errors that name the field, merge patch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <jansson.h>

#include "api/internal.h"
#include "macro.h"

static json_t *parse(const char *s)
{
        json_error_t jerr;
        json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);

        if (!j)
                fail_msg("bad test JSON %s: %s", s, jerr.text);
        return j;
}

static char *write_rec(const struct iface_rec *rec)
{
        struct sbuf b = {};
        char *out = NULL;

        iface_json_write(&b, rec, NULL);
        assert_int_equal(sbuf_take(&b, &out, NULL), 0);
        return out;
}

static void test_iface_json_round_trip(void **state)
{
        struct iface_rec a = {}, b = {};
        struct iface_error err = {};
        json_t *j = parse("{\"name\":\"iface0\",\"net_ifacename\":\"eth1\",\"mtu\":9000,"
                          "\"initiatorname\":\"iqn.2020-01.com.example:h1\",\"vlan_id\":12}");
        char *text;

        assert_int_equal(iface_json_to_rec(j, NULL, &a, &err), 0);
        json_decref(j);
        assert_string_equal(a.name, "iface0");
        assert_string_equal(a.str[IFACE_F_TRANSPORT_NAME], "tcp");
        assert_string_equal(a.str[IFACE_F_NET_IFACENAME], "eth1");

        text = write_rec(&a);
        /* Unset strings are left out; integers of the key set are always there. */
        assert_null(strstr(text, "\"hwaddress\""));
        assert_non_null(strstr(text, "\"mtu\":9000"));
        assert_non_null(strstr(text, "\"tos\":0"));
        assert_null(strstr(text, "\"hop_limit\""));
        assert_non_null(strstr(text, "\"iscsi_ifacename\":\"iface0\""));

        j = parse(text);
        assert_int_equal(iface_json_to_rec(j, "iface0", &b, &err), 0);
        assert_true(iface_rec_equal(&a, &b));
        json_decref(j);
        free(text);
        iface_rec_done(&a);
        iface_rec_done(&b);
}

/* A snapshot's fields are rendered once and kept on it; every answer equals the plain writer's. */
static void test_iface_json_snap_cache(void **state)
{
        struct iface_snap s = { .refs = 1 };
        struct iface_json_extra x = { .invalid = "mtu: too large" };
        struct iface_error err = {};
        json_t *j = parse("{\"name\":\"c0\",\"hwaddress\":\"00:11:22:33:44:55\",\"mtu\":1500}");
        char *plain, *first, *again;
        const struct iface_rendered *kept;
        struct sbuf b = {};

        assert_int_equal(iface_json_to_rec(j, NULL, &s.rec, &err), 0);
        json_decref(j);
        plain = write_rec(&s.rec);
        assert_null(s.rendered);
        iface_json_write_snap(&b, &s, NULL);
        assert_int_equal(sbuf_take(&b, &first, NULL), 0);
        assert_string_equal(first, plain);
        kept = s.rendered;
        assert_non_null(kept);
        iface_json_write_snap(&b, &s, NULL);
        assert_int_equal(sbuf_take(&b, &again, NULL), 0);
        assert_string_equal(again, plain);
        assert_ptr_equal(s.rendered, kept); /* made once */
        free(again);
        /* The read-only members still follow the extra of each answer. */
        iface_json_write_snap(&b, &s, &x);
        assert_int_equal(sbuf_take(&b, &again, NULL), 0);
        assert_non_null(strstr(again, "\"invalid\":\"mtu: too large\"}"));
        assert_memory_equal(again, plain, strlen(plain) - 1);
        /* A second rendering offered later is refused and freed; the first stays. */
        struct iface_rendered *late = malloc(sizeof(*late) + 1);
        assert_non_null(late);
        late->len = 0;
        late->data[0] = 0;
        assert_ptr_equal(iface_snap_set_rendered(&s, late), kept);
        free(again);
        free(first);
        free(plain);
        free(s.rendered);
        iface_rec_done(&s.rec);
}

static void test_iface_json_ipv6_key_set(void **state)
{
        struct iface_rec a = {};
        struct iface_error err = {};
        json_t *j = parse("{\"name\":\"e0-ipv6\",\"hop_limit\":64}");
        char *text;

        assert_int_equal(iface_json_to_rec(j, NULL, &a, &err), 0);
        json_decref(j);
        text = write_rec(&a);
        assert_non_null(strstr(text, "\"hop_limit\":64"));
        assert_null(strstr(text, "\"tos\""));
        free(text);
        iface_rec_done(&a);
}

struct bad_case {
        const char *json;
        const char *path_name;
        const char *field;
};

static void test_iface_json_errors_name_the_field(void **state)
{
        static const struct bad_case cases[] = {
                { "[]", NULL, "body" },
                { "\"x\"", NULL, "body" },
                { "{}", NULL, "name" },
                { "{\"name\":7}", NULL, "name" },
                { "{\"name\":\"a\"}", "b", "name" },
                { "{\"name\":\"a/b\"}", NULL, "name" },
                { "{\"name\":\"a\",\"mtu\":\"1500\"}", NULL, "mtu" },
                { "{\"name\":\"a\",\"mtu\":1.5}", NULL, "mtu" },
                { "{\"name\":\"a\",\"mtu\":true}", NULL, "mtu" },
                { "{\"name\":\"a\",\"mtu\":65536}", NULL, "mtu" },
                { "{\"name\":\"a\",\"mtu\":-1}", NULL, "mtu" },
                { "{\"name\":\"a\",\"tos\":256}", NULL, "tos" },
                { "{\"name\":\"a\",\"flow_label\":4294967296}", NULL, "flow_label" },
                { "{\"name\":\"a\",\"iface_num\":2147483648}", NULL, "iface_num" },
                { "{\"name\":\"a\",\"hwaddress\":{}}", NULL, "hwaddress" },
                { "{\"name\":\"a\",\"hwaddress\":\"a\\u0000b\"}", NULL, "hwaddress" },
                { "{\"name\":\"a\",\"transport_name\":null}", NULL, "transport_name" },
                { "{\"name\":\"a\",\"transport_name\":\"\"}", NULL, "transport_name" },
                { "{\"name\":\"a\",\"iscsi_ifacename\":\"b\"}", NULL, "iscsi_ifacename" },
                { "{\"name\":\"a\",\"bogus\":1}", NULL, "bogus" },
                { "{\"name\":\"a\",\"iface.mtu\":1}", NULL, "iface.mtu" },
                { "{\"name\":\"a\",\"isid\":\"1\"}", NULL, "isid" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct iface_rec rec = {};
                struct iface_error err = {};
                json_error_t jerr;
                json_t *j = json_loads(cases[i].json, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
                int r;

                assert_non_null(j);
                r = iface_json_to_rec(j, cases[i].path_name, &rec, &err);
                json_decref(j);
                if (r != -EINVAL)
                        fail_msg("case %zu %s: r=%d", i, cases[i].json, r);
                assert_non_null(err.field);
                if (!streq(err.field, cases[i].field))
                        fail_msg("case %zu %s: field %s, want %s", i, cases[i].json, err.field,
                                 cases[i].field);
                assert_true(strlen(err.reason) > 0);
                assert_null(rec.name); /* ret untouched on failure */
        }
}

static void test_iface_json_merge_patch(void **state)
{
        struct iface_rec rec = {};
        struct iface_error err = {};
        json_t *j = parse("{\"name\":\"a\",\"net_ifacename\":\"eth1\",\"mtu\":1500,"
                          "\"initiatorname\":\"iqn.2020-01.com.example:h1\"}");

        assert_int_equal(iface_json_to_rec(j, NULL, &rec, &err), 0);
        json_decref(j);

        j = parse("{\"mtu\":null,\"initiatorname\":null,\"port\":3261}");
        assert_int_equal(iface_json_merge_patch(j, &rec, &err), 0);
        json_decref(j);
        assert_null(rec.str[IFACE_F_INITIATORNAME]);
        assert_string_equal(rec.str[IFACE_F_NET_IFACENAME], "eth1");
        int mtu = iface_field_find("mtu"), port = iface_field_find("port");
        assert_int_equal(rec.num[mtu], 0);
        assert_int_equal(rec.num[port], 3261);

        j = parse("{\"name\":\"other\"}");
        assert_int_equal(iface_json_merge_patch(j, &rec, &err), -EINVAL);
        assert_string_equal(err.field, "name");
        json_decref(j);

        j = parse("[1]");
        assert_int_equal(iface_json_merge_patch(j, &rec, &err), -EINVAL);
        assert_string_equal(err.field, "body");
        json_decref(j);
        iface_rec_done(&rec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_iface_json_round_trip),
                cmocka_unit_test(test_iface_json_snap_cache),
                cmocka_unit_test(test_iface_json_ipv6_key_set),
                cmocka_unit_test(test_iface_json_errors_name_the_field),
                cmocka_unit_test(test_iface_json_merge_patch),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
