/* SPDX-License-Identifier: MIT */
/* A table of bad requests: each must get the right problem+json and leave both mirrors untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define J     "application/json"
#define MP    "application/merge-patch+json"
#define COLL  "/api/v1/ifaces"
#define SEED0 "/api/v1/ifaces/seed0"
#define SEED1 "/api/v1/ifaces/seed1-ipv6"

#define A16       "aaaaaaaaaaaaaaaa"
#define A80       A16 A16 A16 A16 A16
#define HUGE_BODY "@huge" /* replaced by a 70 KiB JSON body at run time */
#define HUGE_SIZE (70 * 1024)

/*
 * For requests where any client error is right (400 or 404 are both defensible), the status may be
 * ANY_4XX and the field ANY_FIELD: the case then proves only "refused as problem+json, nothing
 * changed".
 */
#define ANY_4XX 0L
static const char any_field[] = "(any)";
#define ANY_FIELD any_field

/* 33 query arguments: one more than the server hands to the api. */
#define ARGS8(p) p "1=1&" p "2=1&" p "3=1&" p "4=1&" p "5=1&" p "6=1&" p "7=1&" p "8=1&"
#define ARGS33   ARGS8("a") ARGS8("b") ARGS8("c") ARGS8("d") "e=1"

struct bad_case {
        const char *name;
        const char *method;
        const char *path;
        const char *content_type; /* NULL: no Content-Type header at all */
        const char *body;         /* NULL: no body */
        long status;
        const char *field;    /* the problem's "field", NULL: none */
        const char *if_match; /* If-Match header, NULL: none */
};

static const struct bad_case cases[] = {
        /* --- names (SPEC.md §6.1) --- */
        { "name empty", "POST", COLL, J, "{\"name\":\"\"}", 400, "name" },
        { "name 65 bytes", "POST", COLL, J, "{\"name\":\"" A16 A16 A16 A16 "a\"}", 400, "name" },
        { "name with slash", "POST", COLL, J, "{\"name\":\"a/b\"}", 400, "name" },
        { "name dot", "POST", COLL, J, "{\"name\":\".\"}", 400, "name" },
        { "name dotdot", "POST", COLL, J, "{\"name\":\"..\"}", 400, "name" },
        { "name hidden", "POST", COLL, J, "{\"name\":\".hidden\"}", 400, "name" },
        { "name leading dash", "POST", COLL, J, "{\"name\":\"-lead\"}", 400, "name" },
        { "name with space", "POST", COLL, J, "{\"name\":\"sp ace\"}", 400, "name" },
        { "name with tab", "POST", COLL, J, "{\"name\":\"tab\\t\"}", 400, "name" },
        { "name with newline", "POST", COLL, J, "{\"name\":\"a\\nb\"}", 400, "name" },
        { "name with CR", "POST", COLL, J, "{\"name\":\"a\\rb\"}", 400, "name" },
        { "name default", "POST", COLL, J, "{\"name\":\"default\"}", 409, NULL },
        { "name iser", "POST", COLL, J, "{\"name\":\"iser\"}", 409, NULL },
        { "name iface.example", "POST", COLL, J, "{\"name\":\"iface.example\"}", 400, "name" },
        { "name non-ASCII raw", "POST", COLL, J, "{\"name\":\"\xc3\xa9\"}", 400, "name" },
        { "name non-ASCII escaped", "POST", COLL, J, "{\"name\":\"e\\u00e9\"}", 400, "name" },
        { "name missing", "POST", COLL, J, "{\"net_ifacename\":\"eth0\"}", 400, "name" },
        { "name null", "POST", COLL, J, "{\"name\":null}", 400, "name" },
        { "name number", "POST", COLL, J, "{\"name\":5}", 400, "name" },
        { "name existing", "POST", COLL, J, "{\"name\":\"seed0\",\"net_ifacename\":\"eth0\"}", 409,
          NULL },

        /* --- values of every type (SPEC.md §6.3, §6.4) --- */
        { "mac bad hex", "POST", COLL, J, "{\"name\":\"v0\",\"hwaddress\":\"zz:11:22:33:44:55\"}",
          400, "hwaddress" },
        { "mac short", "POST", COLL, J, "{\"name\":\"v0\",\"hwaddress\":\"00:11:22:33:44\"}", 400,
          "hwaddress" },
        { "mac long", "POST", COLL, J, "{\"name\":\"v0\",\"hwaddress\":\"00:11:22:33:44:55:66\"}",
          400, "hwaddress" },
        { "mac dashes", "POST", COLL, J, "{\"name\":\"v0\",\"hwaddress\":\"00-11-22-33-44-55\"}",
          400, "hwaddress" },
        { "ipv4 999.1.1.1", "POST", COLL, J,
          "{\"name\":\"v0\",\"net_ifacename\":\"eth0\",\"ipaddress\":\"999.1.1.1\"}", 400,
          "ipaddress" },
        { "ipv6 on a non-ipv6 name", "POST", COLL, J,
          "{\"name\":\"v0\",\"net_ifacename\":\"eth0\",\"ipaddress\":\"fe80::1\"}", 400,
          "ipaddress" },
        { "subnet mask bad", "POST", COLL, J, "{\"name\":\"v0\",\"subnet_mask\":\"255.255.255\"}",
          400, "subnet_mask" },
        { "netdev 16 bytes", "POST", COLL, J,
          "{\"name\":\"v0\",\"net_ifacename\":\"eth0123456789012\"}", 400, "net_ifacename" },
        { "netdev with slash", "POST", COLL, J, "{\"name\":\"v0\",\"net_ifacename\":\"eth/0\"}",
          400, "net_ifacename" },
        { "netdev alias label", "POST", COLL, J, "{\"name\":\"v0\",\"net_ifacename\":\"eth0:1\"}",
          400, "net_ifacename" },
        { "transport unknown", "POST", COLL, J, "{\"name\":\"v0\",\"transport_name\":\"bogus\"}",
          400, "transport_name" },
        { "transport 16 bytes", "POST", COLL, J,
          "{\"name\":\"v0\",\"transport_name\":\"abcdefghijklmnop\"}", 400, "transport_name" },
        { "transport empty", "POST", COLL, J, "{\"name\":\"v0\",\"transport_name\":\"\"}", 400,
          "transport_name" },
        { "initiatorname bad", "POST", COLL, J, "{\"name\":\"v0\",\"initiatorname\":\"notaniqn\"}",
          400, "initiatorname" },
        { "initiatorname bad month", "POST", COLL, J,
          "{\"name\":\"v0\",\"initiatorname\":\"iqn.2020-13.com.example:a\"}", 400,
          "initiatorname" },
        { "enable field yes", "POST", COLL, J, "{\"name\":\"v0\",\"state\":\"yes\"}", 400,
          "state" },
        { "digest field yes", "POST", COLL, J, "{\"name\":\"v0\",\"data_digest\":\"yes\"}", 400,
          "data_digest" },
        { "bootproto bootp", "POST", COLL, J, "{\"name\":\"v0\",\"bootproto\":\"bootp\"}", 400,
          "bootproto" },
        { "ipv6_autocfg auto", "POST", COLL, J, "{\"name\":\"v0-ipv6\",\"ipv6_autocfg\":\"auto\"}",
          400, "ipv6_autocfg" },
        { "linklocal_autocfg yes", "POST", COLL, J,
          "{\"name\":\"v0-ipv6\",\"linklocal_autocfg\":\"yes\"}", 400, "linklocal_autocfg" },
        { "u8 256", "POST", COLL, J, "{\"name\":\"v0\",\"vlan_priority\":256}", 400,
          "vlan_priority" },
        { "u8 tos 256", "POST", COLL, J, "{\"name\":\"v0\",\"tos\":256}", 400, "tos" },
        { "u16 65536", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":65536}", 400, "mtu" },
        { "u32 4294967296", "POST", COLL, J, "{\"name\":\"v0\",\"max_burst_len\":4294967296}", 400,
          "max_burst_len" },
        { "u32 ipv6 4294967296", "POST", COLL, J,
          "{\"name\":\"v0-ipv6\",\"flow_label\":4294967296}", 400, "flow_label" },
        { "negative mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":-1}", 400, "mtu" },
        { "negative int", "POST", COLL, J, "{\"name\":\"v0\",\"iface_num\":-1}", 400, "iface_num" },
        { "float mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":1.5}", 400, "mtu" },
        { "exponent mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":1e3}", 400, "mtu" },
        { "string mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":\"1500\"}", 400, "mtu" },
        { "true mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":true}", 400, "mtu" },
        { "object mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":{}}", 400, "mtu" },
        { "integer beyond int64", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":99999999999999999999}",
          400, "body" },
        { "string 80 bytes", "POST", COLL, J, "{\"name\":\"v0\",\"dhcp_vendor_id\":\"" A80 "\"}",
          400, "dhcp_vendor_id" },

        /* --- wrong JSON types --- */
        { "body array", "POST", COLL, J, "[{\"name\":\"v0\"}]", 400, "body" },
        { "body empty array", "POST", COLL, J, "[]", 400, "body" },
        { "body string", "POST", COLL, J, "\"v0\"", 400, "body" },
        { "body number", "POST", COLL, J, "5", 400, "body" },
        { "body null", "POST", COLL, J, "null", 400, "body" },
        { "hwaddress object", "POST", COLL, J, "{\"name\":\"v0\",\"hwaddress\":{}}", 400,
          "hwaddress" },
        { "netdev array", "POST", COLL, J, "{\"name\":\"v0\",\"net_ifacename\":[\"eth0\"]}", 400,
          "net_ifacename" },
        { "initiatorname number", "POST", COLL, J, "{\"name\":\"v0\",\"initiatorname\":5}", 400,
          "initiatorname" },

        /* --- invalid JSON --- */
        { "json truncated", "POST", COLL, J, "{\"name\":\"v0\"", 400, "body" },
        { "json trailing garbage", "POST", COLL, J, "{\"name\":\"v0\"} x", 400, "body" },
        { "json two documents", "POST", COLL, J, "{\"name\":\"v0\"}{\"name\":\"v1\"}", 400,
          "body" },
        { "json single quotes", "POST", COLL, J, "{'name':'v0'}", 400, "body" },
        { "json empty body", "POST", COLL, J, "", 400, "body" },
        { "json blank body", "POST", COLL, J, " \n", 400, "body" },
        { "json invalid UTF-8 in value", "POST", COLL, J,
          "{\"name\":\"v0\",\"dhcp_vendor_id\":\"a\xff"
          "b\"}",
          400, "body" },
        { "json invalid UTF-8 in name", "POST", COLL, J,
          "{\"name\":\"v\xff"
          "0\"}",
          400, "body" },
        { "json overlong UTF-8", "POST", COLL, J,
          "{\"name\":\"v\xc0\xaf"
          "0\"}",
          400, "body" },
        { "json lone surrogate", "POST", COLL, J,
          "{\"name\":\"v0\",\"dhcp_vendor_id\":\"\\ud800\"}", 400, "body" },
        { "json NUL escape in value", "POST", COLL, J,
          "{\"name\":\"v0\",\"dhcp_vendor_id\":\"a\\u0000b\"}", 400, "body" },
        { "json NUL escape in name", "POST", COLL, J, "{\"name\":\"v0\\u0000x\"}", 400, "body" },
        { "json duplicate name", "POST", COLL, J, "{\"name\":\"x\",\"name\":\"y\"}", 400, "body" },
        { "json duplicate mtu", "POST", COLL, J, "{\"name\":\"v0\",\"mtu\":1,\"mtu\":2}", 400,
          "body" },

        /* --- injection attempts (SPEC.md §2.1 F14) --- */
        { "initiatorname newline injection", "POST", COLL, J,
          "{\"name\":\"v0\",\"net_ifacename\":\"eth0\","
          "\"initiatorname\":\"iqn.2020-01.com.example:a\\niface.net_ifacename = eth7\"}",
          400, "initiatorname" },
        { "netdev newline injection", "POST", COLL, J,
          "{\"name\":\"v0\",\"net_ifacename\":\"eth0\\niface.mtu = 1\"}", 400, "net_ifacename" },
        { "value with CR", "POST", COLL, J, "{\"name\":\"v0\",\"dhcp_vendor_id\":\"a\\rb\"}", 400,
          "dhcp_vendor_id" },
        { "value with tab", "POST", COLL, J, "{\"name\":\"v0\",\"dhcp_vendor_id\":\"a\\tb\"}", 400,
          "dhcp_vendor_id" },
        { "value with DEL", "POST", COLL, J, "{\"name\":\"v0\",\"dhcp_vendor_id\":\"a\\u007fb\"}",
          400, "dhcp_vendor_id" },
        { "value non-ASCII", "POST", COLL, J, "{\"name\":\"v0\",\"dhcp_vendor_id\":\"\\u00e9\"}",
          400, "dhcp_vendor_id" },
        { "value leading space", "POST", COLL, J, "{\"name\":\"v0\",\"dhcp_vendor_id\":\" a\"}",
          400, "dhcp_vendor_id" },
        { "value trailing space", "POST", COLL, J,
          "{\"name\":\"v0\",\"dhcp_alt_client_id\":\"a \"}", 400, "dhcp_alt_client_id" },
        { "key with iface. prefix", "POST", COLL, J, "{\"name\":\"v0\",\"iface.mtu\":1}", 400,
          "iface.mtu" },
        { "key unknown", "POST", COLL, J, "{\"name\":\"v0\",\"bogus\":1}", 400, "bogus" },
        { "key dead isid", "POST", COLL, J, "{\"name\":\"v0\",\"isid\":\"1\"}", 400, "isid" },
        { "key dead primary_dns", "POST", COLL, J, "{\"name\":\"v0\",\"primary_dns\":\"10.0.0.1\"}",
          400, "primary_dns" },
        { "iscsi_ifacename differs", "POST", COLL, J,
          "{\"name\":\"v0\",\"iscsi_ifacename\":\"v1\"}", 400, "iscsi_ifacename" },
        { "key node.startup", "POST", COLL, J, "{\"name\":\"v0\",\"node.startup\":\"automatic\"}",
          400, "node.startup" },

        /* --- size and media type --- */
        { "huge body POST", "POST", COLL, J, HUGE_BODY, 413, NULL },
        { "huge body PUT", "PUT", SEED0, J, HUGE_BODY, 413, NULL },
        { "huge body PATCH", "PATCH", SEED0, MP, HUGE_BODY, 413, NULL },
        { "content-type text/plain", "POST", COLL, "text/plain", "{\"name\":\"v0\"}", 415, NULL },
        { "content-type none", "POST", COLL, NULL, "{\"name\":\"v0\"}", 415, NULL },
        { "content-type form", "POST", COLL, "application/x-www-form-urlencoded",
          "{\"name\":\"v0\"}", 415, NULL },
        { "content-type merge patch on POST", "POST", COLL, MP, "{\"name\":\"v0\"}", 415, NULL },
        { "content-type json prefix", "POST", COLL, "application/jsonx", "{\"name\":\"v0\"}", 415,
          NULL },
        { "content-type text on PUT", "PUT", SEED0, "text/plain", "{\"net_ifacename\":\"eth0\"}",
          415, NULL },
        { "content-type json on PATCH", "PATCH", SEED0, J, "{\"mtu\":1}", 415, NULL },
        { "content-type none on PATCH", "PATCH", SEED0, NULL, "{\"mtu\":1}", 415, NULL },

        /* --- rules against the stored version --- */
        { "binding netdev to hw", "PATCH", SEED0, MP,
          "{\"net_ifacename\":null,\"hwaddress\":\"00:11:22:33:44:55\"}", 400, "hwaddress" },
        { "binding add hw to netdev", "PATCH", SEED0, MP, "{\"hwaddress\":\"00:11:22:33:44:55\"}",
          400, "hwaddress" },
        { "binding PUT netdev to hw", "PUT", SEED0, J, "{\"hwaddress\":\"00:11:22:33:44:55\"}", 400,
          "hwaddress" },
        { "tcp with ipaddress only", "POST", COLL, J,
          "{\"name\":\"v0\",\"ipaddress\":\"10.0.0.1\"}", 400, "ipaddress" },
        { "iser with ipaddress only", "POST", COLL, J,
          "{\"name\":\"v0\",\"transport_name\":\"iser\",\"ipaddress\":\"10.0.0.1\"}", 400,
          "ipaddress" },
        { "PUT tcp with ipaddress only", "PUT", SEED0, J, "{\"ipaddress\":\"10.0.0.1\"}", 400,
          "ipaddress" },
        { "PATCH name change", "PATCH", SEED0, MP, "{\"name\":\"other\"}", 400, "name" },
        { "PATCH name null", "PATCH", SEED0, MP, "{\"name\":null}", 400, "name" },
        { "PUT name mismatch", "PUT", SEED0, J, "{\"name\":\"other\",\"net_ifacename\":\"eth0\"}",
          400, "name" },
        { "PATCH iscsi_ifacename", "PATCH", SEED0, MP, "{\"iscsi_ifacename\":\"other\"}", 400,
          "iscsi_ifacename" },
        { "PATCH transport null", "PATCH", SEED0, MP, "{\"transport_name\":null}", 400,
          "transport_name" },
        { "PATCH transport empty", "PATCH", SEED0, MP, "{\"transport_name\":\"\"}", 400,
          "transport_name" },
        { "PATCH bad value", "PATCH", SEED0, MP, "{\"mtu\":70000}", 400, "mtu" },
        { "PATCH body array", "PATCH", SEED0, MP, "[]", 400, "body" },
        { "PATCH unknown key", "PATCH", SEED0, MP, "{\"bogus\":null}", 400, "bogus" },
        { "IPv4 string key on ipv6", "PATCH", SEED1, MP, "{\"bootproto\":\"dhcp\"}", 400,
          "bootproto" },
        { "IPv4 number key on ipv6", "PATCH", SEED1, MP, "{\"ttl\":64}", 400, "ttl" },
        { "IPv4 address on ipv6", "PATCH", SEED1, MP,
          "{\"net_ifacename\":\"eth0\",\"ipaddress\":\"10.0.0.1\"}", 400, "ipaddress" },
        { "IPv6 key on ipv4", "PATCH", SEED0, MP, "{\"hop_limit\":64}", 400, "hop_limit" },

        /* --- missing, built-in, preconditions --- */
        { "PATCH missing", "PATCH", "/api/v1/ifaces/nosuch", MP, "{\"mtu\":1}", 404, NULL },
        { "PUT missing", "PUT", "/api/v1/ifaces/nosuch", J, "{\"mtu\":1}", 404, NULL },
        { "DELETE missing", "DELETE", "/api/v1/ifaces/nosuch", NULL, NULL, 404, NULL },
        { "PATCH default", "PATCH", "/api/v1/ifaces/default", MP, "{\"mtu\":1}", 409, NULL },
        { "PUT iser", "PUT", "/api/v1/ifaces/iser", J, "{\"mtu\":1}", 409, NULL },
        { "DELETE default", "DELETE", "/api/v1/ifaces/default", NULL, NULL, 409, NULL },
        { "If-Match stale PATCH", "PATCH", SEED0, MP, "{\"mtu\":1}", 412, NULL, "\"999999\"" },
        { "If-Match stale PUT", "PUT", SEED0, J, "{\"net_ifacename\":\"eth0\",\"mtu\":1}", 412,
          NULL, "\"999999\"" },
        { "If-Match stale DELETE", "DELETE", SEED0, NULL, NULL, 412, NULL, "\"999999\"" },
        { "If-Match weak", "PATCH", SEED0, MP, "{\"mtu\":1}", 412, NULL, "W/\"1\"" },
        { "If-Match star on missing", "PUT", "/api/v1/ifaces/nosuch", J, "{\"mtu\":1}", 412, NULL,
          "*" },
        { "If-Match malformed", "PATCH", SEED0, MP, "{\"mtu\":1}", 400, "If-Match", "garbage" },
        /* RFC 9110 13.1.1: a well-formed tag that is not ours does not match: 412, not 400 */
        { "If-Match opaque PATCH", "PATCH", SEED0, MP, "{\"mtu\":1}", 412, NULL, "\"abc\"" },
        { "If-Match opaque DELETE", "DELETE", SEED0, NULL, NULL, 412, NULL, "\"abc\", \"x-1\"" },
        { "If-Match unterminated", "PATCH", SEED0, MP, "{\"mtu\":1}", 400, "If-Match", "\"abc" },

        /* --- routing and query --- */
        { "method not allowed", "DELETE", COLL, NULL, NULL, 405, NULL },
        { "unknown route", "GET", "/api/v1/bogus", NULL, NULL, 404, NULL },
        { "unknown route POST", "POST", "/api/v2/ifaces", J, "{\"name\":\"v0\"}", 404, NULL },
        { "list limit 0", "GET", COLL "?limit=0", NULL, NULL, 400, "limit" },
        { "list bad cursor", "GET", COLL "?cursor=!!", NULL, NULL, 400, "cursor" },
        { "list unknown parameter", "GET", COLL "?sort=name", NULL, NULL, 400, "sort" },
        { "list too many parameters", "GET", COLL "?" ARGS33, NULL, NULL, 400, NULL },
        { "list limit with blank and plus", "GET", COLL "?limit=%20%2B5", NULL, NULL, 400,
          "limit" },

        /*
         * A percent-encoded NUL must not cut the path short: "seed0%00evil" is not "seed0".
         * Last in the table, so that a regression cannot spill into the cases above.
         */
        { "path NUL PATCH", "PATCH", SEED0 "%00x", MP, "{\"mtu\":1234}", ANY_4XX, ANY_FIELD },
        { "path NUL PUT", "PUT", SEED0 "%00x", J, "{\"net_ifacename\":\"eth0\",\"mtu\":1}", ANY_4XX,
          ANY_FIELD },
        { "path NUL DELETE", "DELETE", SEED0 "%00evil", NULL, NULL, ANY_4XX, ANY_FIELD },
        { "path NUL POST", "POST", COLL "%00x", J, "{\"name\":\"v0\"}", ANY_4XX, ANY_FIELD },
};

static char *huge_body(void)
{
        static const char head[] = "{\"name\":\"v0\",\"dhcp_vendor_id\":\"";
        char *b = malloc(HUGE_SIZE + 1);

        if (!b)
                harness_broken("out of memory");
        memset(b, 'a', HUGE_SIZE);
        memcpy(b, head, sizeof(head) - 1);
        memcpy(b + HUGE_SIZE - 2, "\"}", 2);
        b[HUGE_SIZE] = 0;
        return b;
}

static void seed(struct harness *h)
{
        assert_int_equal(
                http(h, "POST", COLL, J, "{\"name\":\"seed0\",\"net_ifacename\":\"eth0\"}", NULL),
                201);
        assert_int_equal(http(h, "POST", COLL, J, "{\"name\":\"seed1-ipv6\"}", NULL), 201);
}

static void test_errors_bad_input_table(void **state)
{
        struct harness *h = *state;
        char *huge = huge_body();
        size_t failed = 0;

        assert_true(sizeof(cases) / sizeof(cases[0]) >= 45);
        seed(h);

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct bad_case *c = &cases[i];
                const char *body = c->body && strcmp(c->body, HUGE_BODY) == 0 ? huge : c->body;
                struct hsnap *before, *after;
                struct hresp r = {};
                char why[768], field_copy[128];
                const char *field;
                long status;
                bool ok;

                before = harness_snapshot(h);
                if (c->if_match)
                        harness_header(h, "If-Match: %s", c->if_match);
                http(h, c->method, c->path, c->content_type, body, &r);
                after = harness_snapshot(h);

                ok = true;
                status = c->status;
                field = c->field;
                if (status == ANY_4XX)
                        status = r.status >= 400 && r.status < 500 ? r.status : 400;
                if (field == ANY_FIELD) {
                        json_t *j = hresp_json(&r);

                        /* whatever the field is, it is checked to be present as it is */
                        field = j ? hjson_str(j, "field") : NULL;
                        snprintf(field_copy, sizeof(field_copy), "%s", field ? field : "");
                        field = field ? field_copy : NULL;
                        json_decref(j);
                }
                if (!harness_problem_ok(&r, status, field, why, sizeof(why))) {
                        fprintf(stderr, "FAIL case '%s' (%s %s): %s\n", c->name, c->method, c->path,
                                why);
                        ok = false;
                }
                if (!hsnap_equal(before, after, why, sizeof(why))) {
                        fprintf(stderr, "FAIL case '%s' (%s %s): state changed: %s\n", c->name,
                                c->method, c->path, why);
                        ok = false;
                }
                if (!ok)
                        failed++;

                hsnap_free(before);
                hsnap_free(after);
                hresp_done(&r);
        }
        free(huge);

        /* The seeds are still there. */
        if (http(h, "GET", SEED0, NULL, NULL, NULL) != 200 ||
            http(h, "GET", SEED1, NULL, NULL, NULL) != 200) {
                fprintf(stderr, "FAIL: a seed iface is gone after the table\n");
                failed++;
        }

        if (failed)
                fail_msg("%zu of %zu bad-input cases failed (listed above)", failed,
                         sizeof(cases) / sizeof(cases[0]));
}

/* After a burst of refusals the server still serves normal requests on the same connection. */
static void test_errors_server_healthy_after_refusals(void **state)
{
        struct harness *h = *state;
        char *huge = huge_body();

        seed(h);
        for (int i = 0; i < 5; i++) {
                assert_int_equal(http(h, "POST", COLL, J, huge, NULL), 413);
                assert_int_equal(http(h, "POST", COLL, J, "{\"name\":", NULL), 400);
                assert_int_equal(http(h, "POST", COLL, "text/plain", "x", NULL), 415);
        }
        free(huge);
        assert_int_equal(http(h, "POST", COLL, J, "{\"name\":\"after\"}", NULL), 201);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/after", NULL, NULL, NULL), 200);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_errors_bad_input_table, harness_setup,
                                                harness_teardown),
                cmocka_unit_test_setup_teardown(test_errors_server_healthy_after_refusals,
                                                harness_setup, harness_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
