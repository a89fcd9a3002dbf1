/* SPDX-License-Identifier: MIT */
/* Every /api/v1/ifaces endpoint and status over real HTTP, with both mirrors checked on disk. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "engine.h"
#include "harness.h"

#define POLL_TIMEOUT_MS   3000 /* give up on the watcher after this */
#define DRIFT_DEADLINE_MS 1000 /* DESIGN.md §2: drift is picked up within a second */
#define POLL_STEP_MS      20
#define NAME64            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* SPEC.md §2.2 (golden A02): the file iscsiadm 2.1.8 writes for `-I iface0 -o new`. */
static const char iface0_file[] = "# BEGIN RECORD 2.1.8\n"
                                  "iface.iscsi_ifacename = iface0\n"
                                  "iface.prefix_len = 0\n"
                                  "iface.transport_name = tcp\n"
                                  "iface.vlan_id = 0\n"
                                  "iface.vlan_priority = 0\n"
                                  "iface.iface_num = 0\n"
                                  "iface.mtu = 0\n"
                                  "iface.port = 0\n"
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
                                  "# END RECORD\n";

/* Golden A20: `-I eth0-ipv6 -o new` uses the IPv6 template (8 IPv6 numbers, no tos/ttl). */
static const char eth0_ipv6_file[] = "# BEGIN RECORD 2.1.8\n"
                                     "iface.iscsi_ifacename = eth0-ipv6\n"
                                     "iface.prefix_len = 0\n"
                                     "iface.transport_name = tcp\n"
                                     "iface.vlan_id = 0\n"
                                     "iface.vlan_priority = 0\n"
                                     "iface.iface_num = 0\n"
                                     "iface.mtu = 0\n"
                                     "iface.port = 0\n"
                                     "iface.dup_addr_detect_cnt = 0\n"
                                     "iface.flow_label = 0\n"
                                     "iface.hop_limit = 0\n"
                                     "iface.nd_reachable_tmo = 0\n"
                                     "iface.nd_rexmit_time = 0\n"
                                     "iface.nd_stale_tmo = 0\n"
                                     "iface.router_adv_link_mtu = 0\n"
                                     "iface.traffic_class = 0\n"
                                     "iface.tcp_wsf = 0\n"
                                     "iface.tcp_timer_scale = 0\n"
                                     "iface.def_task_mgmt_timeout = 0\n"
                                     "iface.erl = 0\n"
                                     "iface.max_receive_data_len = 0\n"
                                     "iface.first_burst_len = 0\n"
                                     "iface.max_outstanding_r2t = 0\n"
                                     "iface.max_burst_len = 0\n"
                                     "# END RECORD\n";

/* Golden A03: `iscsiadm -m iface -I iface0` after `-o new`. */
static const char iface0_show[] = "# BEGIN RECORD 2.1.8\n"
                                  "iface.iscsi_ifacename = iface0\n"
                                  "iface.net_ifacename = <empty>\n"
                                  "iface.ipaddress = <empty>\n"
                                  "iface.prefix_len = 0\n"
                                  "iface.hwaddress = <empty>\n"
                                  "iface.transport_name = tcp\n"
                                  "iface.initiatorname = <empty>\n"
                                  "iface.state = <empty>\n"
                                  "iface.vlan_id = 0\n"
                                  "iface.vlan_priority = 0\n"
                                  "iface.vlan_state = <empty>\n"
                                  "iface.iface_num = 0\n"
                                  "iface.mtu = 0\n"
                                  "iface.port = 0\n"
                                  "iface.bootproto = <empty>\n"
                                  "iface.subnet_mask = <empty>\n"
                                  "iface.gateway = <empty>\n"
                                  "iface.dhcp_alt_client_id_state = <empty>\n"
                                  "iface.dhcp_alt_client_id = <empty>\n"
                                  "iface.dhcp_dns = <empty>\n"
                                  "iface.dhcp_learn_iqn = <empty>\n"
                                  "iface.dhcp_req_vendor_id_state = <empty>\n"
                                  "iface.dhcp_vendor_id_state = <empty>\n"
                                  "iface.dhcp_vendor_id = <empty>\n"
                                  "iface.dhcp_slp_da = <empty>\n"
                                  "iface.fragmentation = <empty>\n"
                                  "iface.gratuitous_arp = <empty>\n"
                                  "iface.incoming_forwarding = <empty>\n"
                                  "iface.tos_state = <empty>\n"
                                  "iface.tos = 0\n"
                                  "iface.ttl = 0\n"
                                  "iface.delayed_ack = <empty>\n"
                                  "iface.tcp_nagle = <empty>\n"
                                  "iface.tcp_wsf_state = <empty>\n"
                                  "iface.tcp_wsf = 0\n"
                                  "iface.tcp_timer_scale = 0\n"
                                  "iface.tcp_timestamp = <empty>\n"
                                  "iface.redirect = <empty>\n"
                                  "iface.def_task_mgmt_timeout = 0\n"
                                  "iface.header_digest = <empty>\n"
                                  "iface.data_digest = <empty>\n"
                                  "iface.immediate_data = <empty>\n"
                                  "iface.initial_r2t = <empty>\n"
                                  "iface.data_seq_inorder = <empty>\n"
                                  "iface.data_pdu_inorder = <empty>\n"
                                  "iface.erl = 0\n"
                                  "iface.max_receive_data_len = 0\n"
                                  "iface.first_burst_len = 0\n"
                                  "iface.max_outstanding_r2t = 0\n"
                                  "iface.max_burst_len = 0\n"
                                  "iface.chap_auth = <empty>\n"
                                  "iface.bidi_chap = <empty>\n"
                                  "iface.strict_login_compliance = <empty>\n"
                                  "iface.discovery_auth = <empty>\n"
                                  "iface.discovery_logout = <empty>\n"
                                  "# END RECORD\n";

/* The numbers of the IPv4 and IPv6 templates (SPEC.md §2.1). */
static const char *const ipv4_numbers[] = {
        "prefix_len",
        "vlan_id",
        "vlan_priority",
        "iface_num",
        "mtu",
        "port",
        "tos",
        "ttl",
        "tcp_wsf",
        "tcp_timer_scale",
        "def_task_mgmt_timeout",
        "erl",
        "max_receive_data_len",
        "first_burst_len",
        "max_outstanding_r2t",
        "max_burst_len",
};
static const char *const ipv6_only_numbers[] = {
        "dup_addr_detect_cnt", "flow_label",   "hop_limit",           "nd_reachable_tmo",
        "nd_rexmit_time",      "nd_stale_tmo", "router_adv_link_mtu", "traffic_class",
};

/*
 * The file iscsiadm writes for an IPv4 tcp iface with only net_ifacename, vlan_id and mtu set:
 * the A02 template with those lines changed. Owned by the caller.
 */
static char *ipv4_file(const char *name, const char *netdev, unsigned vlan_id, unsigned mtu)
{
        char *s = NULL, netdev_line[64] = "";

        if (netdev)
                snprintf(netdev_line, sizeof(netdev_line), "iface.net_ifacename = %s\n", netdev);
        if (asprintf(&s,
                     "# BEGIN RECORD 2.1.8\n"
                     "iface.iscsi_ifacename = %s\n"
                     "%s"
                     "iface.prefix_len = 0\n"
                     "iface.transport_name = tcp\n"
                     "iface.vlan_id = %u\n"
                     "iface.vlan_priority = 0\n"
                     "iface.iface_num = 0\n"
                     "iface.mtu = %u\n"
                     "iface.port = 0\n"
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
                     "# END RECORD\n",
                     name, netdev_line, vlan_id, mtu) < 0)
                harness_broken("out of memory");
        return s;
}

/* --- helpers ------------------------------------------------------------------------------- */

/* POST a body that must be created; returns the ETag (owned). */
static char *create_ok(struct harness *h, const char *body)
{
        struct hresp r = {};
        char *etag;

        http(h, "POST", "/api/v1/ifaces", "application/json", body, &r);
        if (r.status != 201)
                fail_msg("POST %s: status %ld, body %s", body, r.status, r.body);
        assert_non_null(r.etag);
        etag = strdup(r.etag);
        assert_non_null(etag);
        hresp_done(&r);
        return etag;
}

/* GET path as JSON, asserting the status; returns the parsed body. */
static json_t *get_json(struct harness *h, const char *path, long status)
{
        struct hresp r = {};
        json_t *j;

        http(h, "GET", path, NULL, NULL, &r);
        if (r.status != status)
                fail_msg("GET %s: status %ld, expected %ld; body %s", path, r.status, status,
                         r.body);
        j = hresp_json(&r);
        assert_non_null(j);
        hresp_done(&r);
        return j;
}

/* The item names of a list body joined with ','. Owned. */
static char *item_names(const json_t *list)
{
        const json_t *items = json_object_get(list, "items"), *it;
        size_t i, cap = 1, len = 0;
        char *out;

        assert_true(json_is_array(items));
        json_array_foreach (items, i, it)
                cap += strlen(hjson_str(it, "name") ? hjson_str(it, "name") : "?") + 1;
        out = calloc(1, cap);
        assert_non_null(out);
        json_array_foreach (items, i, it) {
                const char *n = hjson_str(it, "name");

                len += (size_t)sprintf(out + len, "%s%s", i ? "," : "", n ? n : "?");
        }
        return out;
}

/* Poll GET path until it answers want, at most POLL_TIMEOUT_MS. Returns elapsed ms or -1. */
static long poll_status(struct harness *h, const char *path, long want)
{
        int64_t start = harness_now_ms();

        for (;;) {
                long s = http(h, "GET", path, NULL, NULL, NULL);

                if (s == want)
                        return (long)(harness_now_ms() - start);
                if (harness_now_ms() - start > POLL_TIMEOUT_MS)
                        return -1;
                harness_sleep_ms(POLL_STEP_MS);
        }
}

/* Poll GET path until the JSON member key is the integer want. Returns elapsed ms or -1. */
static long poll_int(struct harness *h, const char *path, const char *key, long long want)
{
        int64_t start = harness_now_ms();

        for (;;) {
                struct hresp r = {};
                json_t *j;
                long long v = -1;

                if (http(h, "GET", path, NULL, NULL, &r) == 200 && (j = hresp_json(&r))) {
                        v = hjson_int(j, key);
                        json_decref(j);
                }
                hresp_done(&r);
                if (v == want)
                        return (long)(harness_now_ms() - start);
                if (harness_now_ms() - start > POLL_TIMEOUT_MS)
                        return -1;
                harness_sleep_ms(POLL_STEP_MS);
        }
}

static json_t *health(struct harness *h)
{
        return get_json(h, "/api/v1/health", 200);
}

static long long health_imported(struct harness *h)
{
        json_t *j = health(h);
        long long v = hjson_int(json_object_get(j, "drift"), "imported");

        json_decref(j);
        assert_true(v >= 0);
        return v;
}

/* The health problem about name (a new reference), or NULL. */
static json_t *health_problem(struct harness *h, const char *name)
{
        json_t *j = health(h), *p, *found = NULL;
        size_t i;

        assert_true(json_is_array(json_object_get(j, "problems")));
        json_array_foreach (json_object_get(j, "problems"), i, p)
                if (hjson_str(p, "name") && strcmp(hjson_str(p, "name"), name) == 0)
                        found = json_incref(p);
        json_decref(j);
        return found;
}

/* Poll health until a problem about name appears. */
static json_t *poll_problem(struct harness *h, const char *name)
{
        int64_t start = harness_now_ms();

        for (;;) {
                json_t *p = health_problem(h, name);

                if (p)
                        return p;
                if (harness_now_ms() - start > POLL_TIMEOUT_MS)
                        return NULL;
                harness_sleep_ms(POLL_STEP_MS);
        }
}

/* The Allow header as a sorted, comparable set: "DELETE,GET,HEAD". */
static void allow_set(const char *allow, char *out, size_t size)
{
        const char *known[] = { "DELETE", "GET", "HEAD", "PATCH", "POST", "PUT" };
        size_t len = 0;

        out[0] = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
                const char *p = allow;
                size_t n = strlen(known[i]);
                bool found = false;

                while (p && (p = strstr(p, known[i]))) {
                        bool start = p == allow || p[-1] == ' ' || p[-1] == ',';
                        bool end = p[n] == 0 || p[n] == ',' || p[n] == ' ';

                        found |= start && end;
                        p += n;
                }
                if (found)
                        len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "",
                                                known[i]);
        }
}

/* --- create -------------------------------------------------------------------------------- */

static void test_ifaces_create_bare_writes_iscsiadm_template(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        struct hsnap *s;
        const struct hsnap_row *row;
        struct stat st;
        char path[1024], *file = NULL;
        json_t *j;
        long n;

        assert_int_equal(
                http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"iface0\"}", &r),
                201);
        assert_string_equal(r.location, "/api/v1/ifaces/iface0");
        assert_non_null(r.etag);
        assert_true(hetag_revision(r.etag) > 0);
        assert_non_null(r.content_type);
        assert_true(strncmp(r.content_type, "application/json", 16) == 0);

        j = hresp_json(&r);
        assert_non_null(j);
        assert_string_equal(hjson_str(j, "name"), "iface0");
        assert_string_equal(hjson_str(j, "transport_name"), "tcp");
        for (size_t i = 0; i < sizeof(ipv4_numbers) / sizeof(ipv4_numbers[0]); i++) {
                if (!json_is_integer(json_object_get(j, ipv4_numbers[i])))
                        fail_msg("'%s' is not an integer in %s", ipv4_numbers[i], r.body);
                assert_int_equal(hjson_int(j, ipv4_numbers[i]), 0);
        }
        for (size_t i = 0; i < sizeof(ipv6_only_numbers) / sizeof(ipv6_only_numbers[0]); i++)
                assert_null(json_object_get(j, ipv6_only_numbers[i]));
        assert_null(json_object_get(j, "net_ifacename"));
        assert_null(json_object_get(j, "hwaddress"));
        json_decref(j);

        /* The file: iscsiadm's exact bytes, 0600, in a 0700 directory. */
        n = harness_file(h, "iface0", &file);
        assert_true(n > 0);
        assert_string_equal(file, iface0_file);
        assert_int_equal((size_t)n, strlen(iface0_file));
        snprintf(path, sizeof(path), "%s/iface0", h->ifaces);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(stat(h->ifaces, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        free(file);

        /* The row: the same bytes, the revision of the ETag, one audit entry. */
        s = harness_snapshot(h);
        row = hsnap_row(s, "iface0");
        assert_non_null(row);
        assert_string_equal(row->content, iface0_file);
        assert_int_equal(row->revision, hetag_revision(r.etag));
        assert_int_equal(s->audit_count, 1);
        hresp_done(&r);

        /* An existing name, and the built-ins, are conflicts that change nothing. */
        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"iface0\"}", &r);
        assert_problem(&r, 409, NULL);
        http(h, "POST", "/api/v1/ifaces", "application/json",
             "{\"name\":\"iface0\",\"net_ifacename\":\"eth0\"}", &r);
        assert_problem(&r, 409, NULL);
        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"default\"}", &r);
        assert_problem(&r, 409, NULL);
        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"iser\"}", &r);
        assert_problem(&r, 409, NULL);
        hresp_done(&r);

        {
                struct hsnap *after = harness_snapshot(h);

                assert_snapshot_equal(s, after);
                hsnap_free(after);
        }
        hsnap_free(s);
}

static void test_ifaces_create_with_values(void **state)
{
        struct harness *h = *state;
        char *etag, *file = NULL, *want;
        json_t *j;

        etag = create_ok(h, "{\"name\":\"v0\",\"net_ifacename\":\"eth1\",\"vlan_id\":12,"
                            "\"mtu\":9000,\"transport_name\":\"tcp\"}");
        free(etag);

        j = get_json(h, "/api/v1/ifaces/v0", 200);
        assert_string_equal(hjson_str(j, "net_ifacename"), "eth1");
        assert_int_equal(hjson_int(j, "vlan_id"), 12);
        assert_int_equal(hjson_int(j, "mtu"), 9000);
        json_decref(j);

        want = ipv4_file("v0", "eth1", 12, 9000);
        assert_true(harness_file(h, "v0", &file) > 0);
        assert_string_equal(file, want);
        free(file);
        free(want);

        /* 64 bytes is the longest name (golden A13); media type parameters and case are fine. */
        assert_int_equal(http(h, "POST", "/api/v1/ifaces", "Application/JSON; charset=utf-8",
                              "{\"name\":\"" NAME64 "\"}", NULL),
                         201);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/" NAME64, NULL, NULL, NULL), 200);
        assert_true(harness_file(h, NAME64, &file) > 0);
        assert_non_null(strstr(file, "iface.iscsi_ifacename = " NAME64 "\n"));
        free(file);
}

/* --- get ----------------------------------------------------------------------------------- */

static void test_ifaces_get_json_text_builtins_missing(void **state)
{
        struct harness *h = *state;
        struct hresp r = {}, c = {};
        json_t *a, *b;

        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"iface0\"}", &c);
        assert_int_equal(c.status, 201);

        assert_int_equal(http(h, "GET", "/api/v1/ifaces/iface0", NULL, NULL, &r), 200);
        assert_string_equal(r.etag, c.etag);
        a = hresp_json(&c);
        b = hresp_json(&r);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);

        /* iscsiadm's show text (golden A03), same ETag. */
        harness_header(h, "Accept: text/plain");
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/iface0", NULL, NULL, &r), 200);
        assert_non_null(r.content_type);
        assert_true(strncmp(r.content_type, "text/plain", 10) == 0);
        assert_true(strncmp(r.body,
                            "# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = iface0\n"
                            "iface.net_ifacename = <empty>\n",
                            80) == 0);
        assert_true(r.body_len > 13 && strcmp(r.body + r.body_len - 13, "# END RECORD\n") == 0);
        assert_string_equal(r.body, iface0_show);
        assert_string_equal(r.etag, c.etag);

        /* JSON wins when the client prefers it. */
        harness_header(h, "Accept: application/json, text/plain;q=0.5");
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/iface0", NULL, NULL, &r), 200);
        assert_true(strncmp(r.content_type, "application/json", 16) == 0);

        /* The built-ins always exist. */
        a = get_json(h, "/api/v1/ifaces/default", 200);
        assert_string_equal(hjson_str(a, "name"), "default");
        assert_string_equal(hjson_str(a, "transport_name"), "tcp");
        json_decref(a);
        a = get_json(h, "/api/v1/ifaces/iser", 200);
        assert_string_equal(hjson_str(a, "name"), "iser");
        assert_string_equal(hjson_str(a, "transport_name"), "iser");
        json_decref(a);

        http(h, "GET", "/api/v1/ifaces/nosuch", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        harness_header(h, "Accept: text/plain");
        http(h, "GET", "/api/v1/ifaces/nosuch", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);

        hresp_done(&r);
        hresp_done(&c);
}

/* --- list ---------------------------------------------------------------------------------- */

static void test_ifaces_list_order_is_iscsiadm_order(void **state)
{
        struct harness *h = *state;
        const char *names[] = { "b", "B", "a-1", "a.1", "a0" };
        char body[64], *got;
        json_t *j;

        j = get_json(h, "/api/v1/ifaces", 200);
        got = item_names(j);
        assert_string_equal(got, "default,iser");
        assert_true(json_is_null(json_object_get(j, "next_cursor")));
        free(got);
        json_decref(j);

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(body, sizeof(body), "{\"name\":\"%s\"}", names[i]);
                free(create_ok(h, body));
        }

        j = get_json(h, "/api/v1/ifaces", 200);
        got = item_names(j);
        assert_string_equal(got, "B,a-1,a.1,a0,b,default,iser");
        assert_true(json_is_null(json_object_get(j, "next_cursor")));
        free(got);
        json_decref(j);
}

static void walk_pages(struct harness *h, unsigned limit, const char *want)
{
        char path[256], *cursor = NULL, all[1024] = "";
        size_t len = 0, pages = 0;

        for (;;) {
                json_t *j, *next;
                char *got;

                if (cursor)
                        snprintf(path, sizeof(path), "/api/v1/ifaces?limit=%u&cursor=%s", limit,
                                 cursor);
                else
                        snprintf(path, sizeof(path), "/api/v1/ifaces?limit=%u", limit);
                j = get_json(h, path, 200);
                got = item_names(j);
                assert_true(json_array_size(json_object_get(j, "items")) <= limit);
                len += (size_t)snprintf(all + len, sizeof(all) - len, "%s%s",
                                        len && *got ? "," : "", got);
                free(got);
                free(cursor);
                cursor = NULL;
                next = json_object_get(j, "next_cursor");
                assert_true(json_is_null(next) || json_is_string(next));
                if (json_is_string(next)) {
                        /* a page that announces more must be full */
                        assert_int_equal(json_array_size(json_object_get(j, "items")), limit);
                        cursor = strdup(json_string_value(next));
                }
                json_decref(j);
                pages++;
                assert_true(pages < 100);
                if (!cursor)
                        break;
        }
        if (strcmp(all, want) != 0)
                fail_msg("limit %u walked '%s', expected '%s'", limit, all, want);
}

static void test_ifaces_list_pagination_walks_everything_once(void **state)
{
        struct harness *h = *state;
        const char *want = "p1,p2,p3,p4,p5,p6,p7,default,iser";
        char body[64];

        for (int i = 7; i >= 1; i--) {
                snprintf(body, sizeof(body), "{\"name\":\"p%d\"}", i);
                free(create_ok(h, body));
        }
        for (unsigned limit = 1; limit <= 10; limit++)
                walk_pages(h, limit, want);
        walk_pages(h, 1000, want);
}

static void test_ifaces_list_filters(void **state)
{
        struct harness *h = *state;
        json_t *j, *it;
        char *got;
        size_t i;

        free(create_ok(h, "{\"name\":\"n1\",\"net_ifacename\":\"eth1\"}"));
        free(create_ok(h, "{\"name\":\"n2\",\"net_ifacename\":\"eth2\"}"));
        free(create_ok(h, "{\"name\":\"n3\",\"net_ifacename\":\"eth1\",\"vlan_id\":3}"));
        free(create_ok(h, "{\"name\":\"ib0\",\"transport_name\":\"iser\","
                          "\"net_ifacename\":\"ib0\"}"));
        free(create_ok(h, "{\"name\":\"hw\",\"hwaddress\":\"00:11:22:33:44:55\"}"));

        j = get_json(h, "/api/v1/ifaces?transport_name=iser", 200);
        got = item_names(j);
        assert_string_equal(got, "ib0,iser");
        json_array_foreach (json_object_get(j, "items"), i, it)
                assert_string_equal(hjson_str(it, "transport_name"), "iser");
        free(got);
        json_decref(j);

        j = get_json(h, "/api/v1/ifaces?net_ifacename=eth1", 200);
        got = item_names(j);
        assert_string_equal(got, "n1,n3");
        json_array_foreach (json_object_get(j, "items"), i, it)
                assert_string_equal(hjson_str(it, "net_ifacename"), "eth1");
        free(got);
        json_decref(j);

        j = get_json(h, "/api/v1/ifaces?transport_name=tcp", 200);
        got = item_names(j);
        assert_string_equal(got, "hw,n1,n2,n3,default");
        free(got);
        json_decref(j);

        j = get_json(h, "/api/v1/ifaces?transport_name=tcp&net_ifacename=eth1&limit=1", 200);
        got = item_names(j);
        assert_string_equal(got, "n1");
        assert_true(json_is_string(json_object_get(j, "next_cursor")));
        free(got);
        json_decref(j);

        j = get_json(h, "/api/v1/ifaces?net_ifacename=eth9", 200);
        assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
        assert_true(json_is_null(json_object_get(j, "next_cursor")));
        json_decref(j);

        /* A filter value with an encoded NUL is not its prefix: refused, or matching nothing. */
        {
                struct hresp r = {};

                http(h, "GET", "/api/v1/ifaces?net_ifacename=eth1%00x", NULL, NULL, &r);
                if (r.status == 200) {
                        j = hresp_json(&r);
                        got = item_names(j);
                        if (*got)
                                fail_msg("?net_ifacename=eth1%%00x matched '%s'", got);
                        free(got);
                        json_decref(j);
                } else
                        assert_problem(&r, 400, "net_ifacename");
                hresp_done(&r);
        }
}

static void test_ifaces_list_bad_parameters(void **state)
{
        struct harness *h = *state;
        static const struct {
                const char *query;
                const char *field;
        } cases[] = {
                { "limit=0", "limit" },
                { "limit=1001", "limit" },
                { "limit=x", "limit" },
                { "limit=-1", "limit" },
                { "limit=", "limit" },
                { "limit=1.5", "limit" },
                { "limit=99999999999999999999", "limit" },
                { "cursor=!!!", "cursor" },
                { "cursor=", "cursor" },
                { "cursor=YS9i", "cursor" }, /* base64url of "a/b": not a name */
                { "bogus=1", "bogus" },
                { "limit=%205", "limit" },    /* strtoul() would skip the blank ... */
                { "limit=%20%2B5", "limit" }, /* ... and then take the '+' refused above */
                { "limit=%095", "limit" },
        };
        struct hresp r = {};
        char path[128];
        size_t failed = 0;

        free(create_ok(h, "{\"name\":\"iface0\"}"));
        assert_int_equal(http(h, "GET", "/api/v1/ifaces?limit=1000", NULL, NULL, NULL), 200);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces?limit=1", NULL, NULL, NULL), 200);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char why[512];

                snprintf(path, sizeof(path), "/api/v1/ifaces?%s", cases[i].query);
                http(h, "GET", path, NULL, NULL, &r);
                if (!harness_problem_ok(&r, 400, cases[i].field, why, sizeof(why))) {
                        fprintf(stderr, "FAIL GET %s: %s\n", path, why);
                        failed++;
                }
        }
        hresp_done(&r);
        if (failed)
                fail_msg("%zu bad query parameter(s) were not refused", failed);
}

/* --- put ----------------------------------------------------------------------------------- */

static void test_ifaces_put_replaces_whole_record(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        struct hsnap *before, *after;
        char *etag1, *etag2, *file = NULL, *want;
        json_t *j;

        etag1 = create_ok(h, "{\"name\":\"p0\",\"net_ifacename\":\"eth0\",\"mtu\":1500,"
                             "\"initiatorname\":\"iqn.2020-01.com.example:p0\"}");

        /* mtu and initiatorname are omitted: they are reset. */
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"net_ifacename\":\"eth0\",\"vlan_id\":5}", &r);
        assert_int_equal(r.status, 200);
        assert_non_null(r.etag);
        assert_string_not_equal(r.etag, etag1);
        assert_true(hetag_revision(r.etag) > hetag_revision(etag1));
        etag2 = strdup(r.etag);
        j = hresp_json(&r);
        assert_int_equal(hjson_int(j, "vlan_id"), 5);
        assert_int_equal(hjson_int(j, "mtu"), 0);
        assert_null(json_object_get(j, "initiatorname"));
        assert_string_equal(hjson_str(j, "transport_name"), "tcp");
        json_decref(j);

        want = ipv4_file("p0", "eth0", 5, 0);
        assert_true(harness_file(h, "p0", &file) > 0);
        assert_string_equal(file, want);
        free(file);
        free(want);

        http(h, "GET", "/api/v1/ifaces/p0", NULL, NULL, &r);
        assert_string_equal(r.etag, etag2);

        /* The current ETag matches; the name may be repeated in the body. */
        harness_header(h, "If-Match: %s", etag2);
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"name\":\"p0\",\"net_ifacename\":\"eth0\",\"mtu\":9000}", &r);
        assert_int_equal(r.status, 200);
        assert_string_not_equal(r.etag, etag2);

        /* A stale ETag is refused and changes nothing. */
        before = harness_snapshot(h);
        harness_header(h, "If-Match: %s", etag2);
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"net_ifacename\":\"eth0\",\"mtu\":1}", &r);
        assert_problem(&r, 412, NULL);
        harness_header(h, "If-Match: %s", etag1);
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"net_ifacename\":\"eth0\",\"mtu\":1}", &r);
        assert_problem(&r, 412, NULL);
        after = harness_snapshot(h);
        assert_snapshot_equal(before, after);
        hsnap_free(after);

        /* Missing, built-in, and a body naming another iface: refused, nothing changes. */
        http(h, "PUT", "/api/v1/ifaces/nosuch", "application/json", "{\"net_ifacename\":\"eth0\"}",
             &r);
        assert_problem(&r, 404, NULL);
        http(h, "PUT", "/api/v1/ifaces/default", "application/json", "{\"mtu\":1}", &r);
        assert_problem(&r, 409, NULL);
        http(h, "PUT", "/api/v1/ifaces/iser", "application/json", "{\"mtu\":1}", &r);
        assert_problem(&r, 409, NULL);
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"name\":\"p1\",\"net_ifacename\":\"eth0\"}", &r);
        assert_problem(&r, 400, "name");
        after = harness_snapshot(h);
        assert_snapshot_equal(before, after);
        hsnap_free(after);
        hsnap_free(before);

        /* "*" matches whatever is current; so does a list holding the current tag. */
        harness_header(h, "If-Match: *");
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"net_ifacename\":\"eth0\",\"mtu\":1400}", &r);
        assert_int_equal(r.status, 200);
        free(etag2);
        etag2 = strdup(r.etag);
        harness_header(h, "If-Match: %s, %s", etag1, etag2);
        http(h, "PUT", "/api/v1/ifaces/p0", "application/json",
             "{\"net_ifacename\":\"eth0\",\"mtu\":1300}", &r);
        assert_int_equal(r.status, 200);

        want = ipv4_file("p0", "eth0", 0, 1300);
        assert_true(harness_file(h, "p0", &file) > 0);
        assert_string_equal(file, want);
        free(file);
        free(want);

        hresp_done(&r);
        free(etag1);
        free(etag2);
}

/* --- patch --------------------------------------------------------------------------------- */

static void test_ifaces_patch_merges(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        struct hsnap *before, *after;
        char *etag, *file = NULL;
        json_t *want, *got;

        free(create_ok(h, "{\"name\":\"m0\",\"net_ifacename\":\"eth0\","
                          "\"initiatorname\":\"iqn.2020-01.com.example:m0\",\"mtu\":9000,"
                          "\"vlan_id\":7}"));
        want = get_json(h, "/api/v1/ifaces/m0", 200);

        /* Only the given key changes. */
        http(h, "PATCH", "/api/v1/ifaces/m0", "application/merge-patch+json", "{\"mtu\":1500}", &r);
        assert_int_equal(r.status, 200);
        got = hresp_json(&r);
        json_object_set_new(want, "mtu", json_integer(1500));
        assert_true(json_equal(want, got));
        json_decref(got);
        etag = strdup(r.etag);

        /* null removes a string and resets a number to 0. */
        http(h, "PATCH", "/api/v1/ifaces/m0", "application/merge-patch+json; charset=utf-8",
             "{\"initiatorname\":null,\"vlan_id\":null}", &r);
        assert_int_equal(r.status, 200);
        got = hresp_json(&r);
        json_object_del(want, "initiatorname");
        json_object_set_new(want, "vlan_id", json_integer(0));
        assert_true(json_equal(want, got));
        json_decref(got);
        assert_string_not_equal(r.etag, etag);
        free(etag);
        etag = strdup(r.etag);
        {
                char *w = ipv4_file("m0", "eth0", 0, 1500);

                assert_true(harness_file(h, "m0", &file) > 0);
                assert_string_equal(file, w);
                free(w);
                free(file);
        }

        before = harness_snapshot(h);

        /* An empty patch changes nothing: same ETag, no write, no audit entry. */
        http(h, "PATCH", "/api/v1/ifaces/m0", "application/merge-patch+json", "{}", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.etag, etag);

        /* A merge patch must say so. */
        http(h, "PATCH", "/api/v1/ifaces/m0", "application/json", "{\"mtu\":1}", &r);
        assert_problem(&r, 415, NULL);

        /* Stale If-Match. */
        harness_header(h, "If-Match: \"%" PRIu64 "\"", hetag_revision(etag) + 100);
        http(h, "PATCH", "/api/v1/ifaces/m0", "application/merge-patch+json", "{\"mtu\":1}", &r);
        assert_problem(&r, 412, NULL);

        http(h, "PATCH", "/api/v1/ifaces/nosuch", "application/merge-patch+json", "{\"mtu\":1}",
             &r);
        assert_problem(&r, 404, NULL);
        http(h, "PATCH", "/api/v1/ifaces/default", "application/merge-patch+json", "{\"mtu\":1}",
             &r);
        assert_problem(&r, 409, NULL);

        after = harness_snapshot(h);
        assert_snapshot_equal(before, after);
        hsnap_free(after);
        hsnap_free(before);

        /* The current If-Match works. */
        harness_header(h, "If-Match: %s", etag);
        http(h, "PATCH", "/api/v1/ifaces/m0", "application/merge-patch+json", "{\"mtu\":1}", &r);
        assert_int_equal(r.status, 200);
        got = hresp_json(&r);
        assert_int_equal(hjson_int(got, "mtu"), 1);
        json_decref(got);

        json_decref(want);
        free(etag);
        hresp_done(&r);
}

static void test_ifaces_patch_binding_kind_is_fixed(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        struct hsnap *before, *after;

        free(create_ok(h, "{\"name\":\"hw0\",\"hwaddress\":\"00:11:22:33:44:55\"}"));
        free(create_ok(h, "{\"name\":\"nd0\",\"net_ifacename\":\"eth0\"}"));
        before = harness_snapshot(h);

        /* hwaddress -> net_ifacename (iscsiadm B08): delete and create instead. */
        http(h, "PATCH", "/api/v1/ifaces/hw0", "application/merge-patch+json",
             "{\"hwaddress\":null,\"net_ifacename\":\"eth1\"}", &r);
        assert_problem(&r, 400, "net_ifacename");
        http(h, "PATCH", "/api/v1/ifaces/hw0", "application/merge-patch+json",
             "{\"net_ifacename\":\"eth1\"}", &r);
        assert_problem(&r, 400, "net_ifacename");
        http(h, "PUT", "/api/v1/ifaces/hw0", "application/json", "{\"net_ifacename\":\"eth1\"}",
             &r);
        assert_problem(&r, 400, "net_ifacename");

        /* net_ifacename -> hwaddress (B22). */
        http(h, "PATCH", "/api/v1/ifaces/nd0", "application/merge-patch+json",
             "{\"net_ifacename\":null,\"hwaddress\":\"00:11:22:33:44:66\"}", &r);
        assert_problem(&r, 400, "hwaddress");

        after = harness_snapshot(h);
        assert_snapshot_equal(before, after);
        hsnap_free(after);
        hsnap_free(before);

        /* The same hw binding with a new MAC is fine, and delete + create switches kind. */
        http(h, "PATCH", "/api/v1/ifaces/hw0", "application/merge-patch+json",
             "{\"hwaddress\":\"00:11:22:33:44:77\"}", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(http(h, "DELETE", "/api/v1/ifaces/hw0", NULL, NULL, NULL), 204);
        free(create_ok(h, "{\"name\":\"hw0\",\"net_ifacename\":\"eth1\"}"));
        hresp_done(&r);
}

/* --- ipv6 ---------------------------------------------------------------------------------- */

static void test_ifaces_ipv6_template_and_naming_rule(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        struct hsnap *before, *after;
        char *file = NULL;
        json_t *j, *d;

        free(create_ok(h, "{\"name\":\"eth0-ipv6\"}"));
        assert_true(harness_file(h, "eth0-ipv6", &file) > 0);
        assert_string_equal(file, eth0_ipv6_file);
        assert_null(strstr(file, "iface.tos"));
        assert_null(strstr(file, "iface.ttl"));
        free(file);

        j = get_json(h, "/api/v1/ifaces/eth0-ipv6", 200);
        for (size_t i = 0; i < sizeof(ipv6_only_numbers) / sizeof(ipv6_only_numbers[0]); i++)
                assert_int_equal(hjson_int(j, ipv6_only_numbers[i]), 0);
        assert_null(json_object_get(j, "tos"));
        assert_null(json_object_get(j, "ttl"));
        json_decref(j);

        before = harness_snapshot(h);

        /* An IPv6 address on a name without "ipv6" would make the file unreadable (X01). */
        http(h, "POST", "/api/v1/ifaces", "application/json",
             "{\"name\":\"iface9\",\"ipaddress\":\"fe80::1\",\"net_ifacename\":\"eth0\"}", &r);
        assert_problem(&r, 400, "ipaddress");
        d = hresp_json(&r);
        assert_non_null(strcasestr(hjson_str(d, "detail"), "ipv6"));
        json_decref(d);

        /* IPv4-only keys on an ipv6 name (B19). */
        http(h, "PATCH", "/api/v1/ifaces/eth0-ipv6", "application/merge-patch+json", "{\"tos\":5}",
             &r);
        assert_problem(&r, 400, "tos");
        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"x-ipv6\",\"tos\":1}",
             &r);
        assert_problem(&r, 400, "tos");
        http(h, "POST", "/api/v1/ifaces", "application/json",
             "{\"name\":\"x-ipv6\",\"net_ifacename\":\"eth0\",\"ipaddress\":\"10.0.0.1\"}", &r);
        assert_problem(&r, 400, "ipaddress");

        after = harness_snapshot(h);
        assert_snapshot_equal(before, after);
        hsnap_free(after);
        hsnap_free(before);

        /* An IPv6 address on an ipv6 name is fine, and IPv6 keys can be set. */
        free(create_ok(h, "{\"name\":\"e1-ipv6\",\"net_ifacename\":\"eth1\","
                          "\"ipaddress\":\"fe80::1\",\"hop_limit\":64}"));
        assert_true(harness_file(h, "e1-ipv6", &file) > 0);
        assert_non_null(strstr(file, "iface.ipaddress = fe80::1\n"));
        assert_non_null(strstr(file, "iface.hop_limit = 64\n"));
        assert_null(strstr(file, "iface.tos"));
        free(file);
        hresp_done(&r);
}

/* --- delete -------------------------------------------------------------------------------- */

static void test_ifaces_delete(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        struct hsnap *before, *after;
        char *etag, *file = NULL;

        free(create_ok(h, "{\"name\":\"d0\"}"));
        etag = create_ok(h, "{\"name\":\"d1\"}");

        assert_int_equal(http(h, "DELETE", "/api/v1/ifaces/d0", NULL, NULL, &r), 204);
        assert_int_equal(r.body_len, 0);
        assert_int_equal(harness_file(h, "d0", &file), -ENOENT);
        after = harness_snapshot(h);
        assert_null(hsnap_row(after, "d0"));
        assert_non_null(hsnap_row(after, "d1"));
        hsnap_free(after);
        http(h, "GET", "/api/v1/ifaces/d0", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);

        before = harness_snapshot(h);
        http(h, "DELETE", "/api/v1/ifaces/d0", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        http(h, "DELETE", "/api/v1/ifaces/default", NULL, NULL, &r);
        assert_problem(&r, 409, NULL);
        http(h, "DELETE", "/api/v1/ifaces/iser", NULL, NULL, &r);
        assert_problem(&r, 409, NULL);
        harness_header(h, "If-Match: \"%" PRIu64 "\"", hetag_revision(etag) + 1000);
        http(h, "DELETE", "/api/v1/ifaces/d1", NULL, NULL, &r);
        assert_problem(&r, 412, NULL);
        after = harness_snapshot(h);
        assert_snapshot_equal(before, after);
        hsnap_free(after);
        hsnap_free(before);

        harness_header(h, "If-Match: %s", etag);
        assert_int_equal(http(h, "DELETE", "/api/v1/ifaces/d1", NULL, NULL, &r), 204);
        assert_int_equal(harness_file(h, "d1", &file), -ENOENT);
        after = harness_snapshot(h);
        assert_int_equal(after->n_rows, 0);
        assert_int_equal(after->n_files, 0);
        assert_int_equal(after->audit_count, 4); /* two creates, two deletes */
        hsnap_free(after);

        /* The name can be used again. */
        free(create_ok(h, "{\"name\":\"d1\"}"));
        free(etag);
        hresp_done(&r);
}

/* --- routing ------------------------------------------------------------------------------- */

static void test_ifaces_head_405_and_unknown_routes(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        char set[128];
        char *etag;

        etag = create_ok(h, "{\"name\":\"iface0\"}");

        assert_int_equal(http(h, "HEAD", "/api/v1/ifaces", NULL, NULL, &r), 200);
        assert_int_equal(r.body_len, 0);
        assert_int_equal(http(h, "HEAD", "/api/v1/ifaces/iface0", NULL, NULL, &r), 200);
        assert_int_equal(r.body_len, 0);
        assert_string_equal(r.etag, etag);
        assert_int_equal(http(h, "HEAD", "/api/v1/health", NULL, NULL, &r), 200);
        assert_int_equal(r.body_len, 0);
        assert_int_equal(http(h, "HEAD", "/api/v1/ifaces/nosuch", NULL, NULL, &r), 404);
        assert_int_equal(r.body_len, 0);
        /* the connection is still usable after the bodiless answers */
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/iface0", NULL, NULL, NULL), 200);

        http(h, "DELETE", "/api/v1/ifaces", NULL, NULL, &r);
        assert_problem(&r, 405, NULL);
        assert_non_null(r.allow);
        allow_set(r.allow, set, sizeof(set));
        assert_string_equal(set, "GET,HEAD,POST");

        http(h, "POST", "/api/v1/health", "application/json", "{}", &r);
        assert_problem(&r, 405, NULL);
        assert_non_null(r.allow);
        allow_set(r.allow, set, sizeof(set));
        assert_string_equal(set, "GET,HEAD");

        http(h, "POST", "/api/v1/ifaces/iface0", "application/json", "{}", &r);
        assert_problem(&r, 405, NULL);
        assert_non_null(r.allow);
        allow_set(r.allow, set, sizeof(set));
        assert_string_equal(set, "DELETE,GET,HEAD,PATCH,PUT");

        http(h, "PUT", "/openapi.yaml", "application/json", "{}", &r);
        assert_problem(&r, 405, NULL);
        assert_non_null(r.allow);

        http(h, "GET", "/api/v1/nope", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        http(h, "GET", "/api/v1/ifaces/iface0/extra", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        http(h, "GET", "/api/v1/ifaces/", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        http(h, "DELETE", "/nope", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);

        free(etag);
        hresp_done(&r);
}

/*
 * libmicrohttpd decodes "%00" in place, which ends the C string: "seed0%00evil" must not reach
 * seed0 (nor "/api/v1/health%00x" the health route). Any client error is acceptable.
 */
static void test_ifaces_path_with_encoded_nul_is_refused(void **state)
{
        struct harness *h = *state;
        static const struct {
                const char *method;
                const char *path;
                const char *content_type;
                const char *body;
        } reqs[] = {
                { "GET", "/api/v1/ifaces/seed0%00junk", NULL, NULL },
                { "PATCH", "/api/v1/ifaces/seed0%00x", "application/merge-patch+json",
                  "{\"mtu\":1234}" },
                { "PUT", "/api/v1/ifaces/seed0%00x", "application/json",
                  "{\"net_ifacename\":\"eth0\",\"mtu\":1}" },
                { "DELETE", "/api/v1/ifaces/seed0%00evil", NULL, NULL },
                { "POST", "/api/v1/ifaces%00x", "application/json", "{\"name\":\"v0\"}" },
                { "GET", "/api/v1/health%00x", NULL, NULL },
        };
        struct hsnap *before, *after;
        struct hresp r = {};
        size_t failed = 0;

        free(create_ok(h, "{\"name\":\"seed0\",\"net_ifacename\":\"eth0\"}"));
        before = harness_snapshot(h);
        for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
                http(h, reqs[i].method, reqs[i].path, reqs[i].content_type, reqs[i].body, &r);
                if (r.status < 400 || r.status >= 500) {
                        fprintf(stderr, "FAIL %s %s: status %ld, expected a 4xx; body %.200s\n",
                                reqs[i].method, reqs[i].path, r.status, r.body);
                        failed++;
                }
        }
        after = harness_snapshot(h);
        hresp_done(&r);
        if (failed)
                fail_msg("%zu request(s) with an encoded NUL in the path were served", failed);
        assert_snapshot_equal(before, after);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/seed0", NULL, NULL, NULL), 200);
        hsnap_free(after);
        hsnap_free(before);
}

/* --- health, openapi, request ids ---------------------------------------------------------- */

static void test_ifaces_health_reports_state(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        json_t *j;

        assert_int_equal(http(h, "GET", "/api/v1/health", NULL, NULL, &r), 200);
        assert_true(strncmp(r.content_type, "application/json", 16) == 0);
        j = hresp_json(&r);
        assert_non_null(j);
        assert_string_equal(hjson_str(j, "version"), ENGINE_VERSION);
        assert_true(json_is_true(json_object_get(json_object_get(j, "db"), "ok")));
        assert_true(json_is_true(json_object_get(json_object_get(j, "iscsi_root"), "ok")));
        assert_int_equal(hjson_int(j, "records"), 0);
        assert_int_equal(hjson_int(json_object_get(j, "drift"), "imported"), 0);
        assert_true(json_is_array(json_object_get(j, "problems")));
        assert_int_equal(json_array_size(json_object_get(j, "problems")), 0);
        json_decref(j);

        free(create_ok(h, "{\"name\":\"a\"}"));
        free(create_ok(h, "{\"name\":\"b\"}"));
        j = health(h);
        assert_int_equal(hjson_int(j, "records"), 2);
        assert_int_equal(hjson_int(json_object_get(j, "drift"), "imported"), 0);
        json_decref(j);
        hresp_done(&r);
}

static const char ext0_v1[] = "# BEGIN RECORD 2.1.8\n"
                              "iface.iscsi_ifacename = ext0\n"
                              "iface.net_ifacename = eth3\n"
                              "iface.prefix_len = 0\n"
                              "iface.transport_name = tcp\n"
                              "iface.vlan_id = 0\n"
                              "iface.vlan_priority = 0\n"
                              "iface.iface_num = 0\n"
                              "iface.mtu = 1500\n"
                              "iface.port = 0\n"
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
                              "# END RECORD\n";

static void test_ifaces_drift_import_change_remove(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        long long imported0;
        char *file = NULL, *v2;
        const struct hsnap_row *row;
        struct hsnap *s;
        json_t *j;
        long ms;

        imported0 = health_imported(h);

        /* Added behind our back: visible within a second, with the file's values. */
        harness_write_file(h, "ext0", ext0_v1);
        ms = poll_status(h, "/api/v1/ifaces/ext0", 200);
        if (ms < 0)
                fail_msg("a file written into ifaces/ was not imported within %d ms",
                         POLL_TIMEOUT_MS);
        if (ms > DRIFT_DEADLINE_MS)
                fail_msg("drift took %ld ms to show, more than %d ms", ms, DRIFT_DEADLINE_MS);
        j = get_json(h, "/api/v1/ifaces/ext0", 200);
        assert_string_equal(hjson_str(j, "net_ifacename"), "eth3");
        assert_string_equal(hjson_str(j, "transport_name"), "tcp");
        assert_int_equal(hjson_int(j, "mtu"), 1500);
        json_decref(j);
        assert_true(poll_int(h, "/api/v1/health", "records", 1) >= 0);
        assert_true(health_imported(h) > imported0);

        /* The row holds the file's bytes as they are. */
        s = harness_snapshot(h);
        row = hsnap_row(s, "ext0");
        assert_non_null(row);
        assert_string_equal(row->content, ext0_v1);
        hsnap_free(s);

        /* Changed behind our back. */
        imported0 = health_imported(h);
        v2 = strdup(ext0_v1);
        memcpy(strstr(v2, "mtu = 1500"), "mtu = 9000", 10);
        harness_write_file(h, "ext0", v2);
        ms = poll_int(h, "/api/v1/ifaces/ext0", "mtu", 9000);
        if (ms < 0)
                fail_msg("a changed file was not imported within %d ms", POLL_TIMEOUT_MS);
        assert_true(ms <= DRIFT_DEADLINE_MS);
        assert_true(health_imported(h) > imported0);
        assert_true(harness_file(h, "ext0", &file) > 0);
        assert_string_equal(file, v2);
        free(file);
        free(v2);

        /* An imported record is edited through the API like any other. */
        http(h, "PATCH", "/api/v1/ifaces/ext0", "application/merge-patch+json", "{\"vlan_id\":4}",
             &r);
        assert_int_equal(r.status, 200);

        /* Removed behind our back. */
        harness_remove_file(h, "ext0");
        ms = poll_status(h, "/api/v1/ifaces/ext0", 404);
        if (ms < 0)
                fail_msg("a removed file was still served after %d ms", POLL_TIMEOUT_MS);
        assert_true(ms <= DRIFT_DEADLINE_MS);
        s = harness_snapshot(h);
        assert_null(hsnap_row(s, "ext0"));
        hsnap_free(s);
        hresp_done(&r);
}

static void test_ifaces_drift_unreadable_is_reported_not_imported(void **state)
{
        struct harness *h = *state;
        struct hsnap *s;
        json_t *p, *j;

        /* An unknown key (iscsiadm X02): reported, never half-imported. */
        harness_write_file(h, "bogus0",
                           "# BEGIN RECORD 2.1.8\n"
                           "iface.iscsi_ifacename = bogus0\n"
                           "iface.transport_name = tcp\n"
                           "iface.net_ifacename = eth0\n"
                           "iface.bogus = 1\n"
                           "# END RECORD\n");
        p = poll_problem(h, "bogus0");
        if (!p)
                fail_msg("health never listed the unreadable file bogus0");
        assert_string_equal(hjson_str(p, "kind"), "unreadable");
        assert_non_null(hjson_str(p, "reason"));
        assert_true(strlen(hjson_str(p, "reason")) > 0);
        json_decref(p);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/bogus0", NULL, NULL, NULL), 404);
        j = health(h);
        assert_string_equal(hjson_str(j, "status"), "degraded");
        assert_int_equal(hjson_int(j, "records"), 0);
        json_decref(j);
        s = harness_snapshot(h);
        assert_int_equal(s->n_rows, 0);
        assert_int_equal(s->audit_count, 0);
        hsnap_free(s);

        /* A name the API would refuse (space): reported as such. */
        harness_write_file(h, "bad name",
                           "# BEGIN RECORD 2.1.8\n"
                           "iface.iscsi_ifacename = bad name\n"
                           "iface.transport_name = tcp\n"
                           "# END RECORD\n");
        p = poll_problem(h, "bad name");
        if (!p)
                fail_msg("health never listed the file 'bad name'");
        assert_string_equal(hjson_str(p, "kind"), "unsupported-name");
        assert_true(hjson_str(p, "reason") && strlen(hjson_str(p, "reason")) > 0);
        json_decref(p);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/bad%20name", NULL, NULL, NULL), 404);

        /* Still 404 after the watcher had time for another pass. */
        harness_sleep_ms(200);
        assert_int_equal(http(h, "GET", "/api/v1/ifaces/bogus0", NULL, NULL, NULL), 404);

        /* Removing them clears the problems (and leaves the mirrors in agreement). */
        harness_remove_file(h, "bogus0");
        harness_remove_file(h, "bad name");
        for (int64_t start = harness_now_ms();; harness_sleep_ms(POLL_STEP_MS)) {
                json_t *a = health_problem(h, "bogus0"), *b = health_problem(h, "bad name");
                bool gone = !a && !b;

                json_decref(a);
                json_decref(b);
                if (gone)
                        break;
                if (harness_now_ms() - start > POLL_TIMEOUT_MS)
                        fail_msg("problems of removed files are still listed");
        }
}

static void test_ifaces_drift_bad_rewrite_keeps_last_good_version(void **state)
{
        struct harness *h = *state;
        json_t *p, *j;
        char *bad;

        harness_write_file(h, "ext0", ext0_v1);
        if (poll_status(h, "/api/v1/ifaces/ext0", 200) < 0)
                fail_msg("ext0 was not imported");

        /* The same file with a changed mtu and an unknown key: not a half import. */
        bad = strdup(ext0_v1);
        memcpy(strstr(bad, "mtu = 1500"), "mtu = 9000", 10);
        bad = realloc(bad, strlen(bad) + 32);
        strcpy(strstr(bad, "# END RECORD"), "iface.bogus = 1\n# END RECORD\n");
        harness_write_file(h, "ext0", bad);
        p = poll_problem(h, "ext0");
        if (!p)
                fail_msg("health never listed the broken rewrite of ext0");
        assert_string_equal(hjson_str(p, "kind"), "unreadable");
        json_decref(p);
        j = get_json(h, "/api/v1/ifaces/ext0", 200);
        assert_int_equal(hjson_int(j, "mtu"), 1500);
        json_decref(j);
        free(bad);

        /* Put the good file back: the problem goes, the mirrors agree again. */
        harness_write_file(h, "ext0", ext0_v1);
        for (int64_t start = harness_now_ms();; harness_sleep_ms(POLL_STEP_MS)) {
                json_t *q = health_problem(h, "ext0");

                json_decref(q);
                if (!q)
                        break;
                if (harness_now_ms() - start > POLL_TIMEOUT_MS)
                        fail_msg("the problem of ext0 stayed after the file was repaired");
        }
}

static void test_ifaces_openapi_is_served(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        const char *p;

        assert_int_equal(http(h, "GET", "/openapi.yaml", NULL, NULL, &r), 200);
        assert_true(r.body_len > 100);
        /* The document may open with comment lines (the SPDX header); then "openapi: 3.1". */
        p = r.body;
        while (*p == '#' || *p == '\n') {
                p = strchr(p, '\n');
                assert_non_null(p);
                p++;
        }
        assert_true(strncmp(p, "openapi: 3.1", 12) == 0);
        assert_non_null(strstr(r.body, "/api/v1/ifaces"));
        hresp_done(&r);
}

static void test_ifaces_request_id_echoed_or_generated(void **state)
{
        struct harness *h = *state;
        struct hresp r = {};
        char first[128];
        json_t *j;

        harness_header(h, "X-Request-Id: it-req-42");
        http(h, "GET", "/api/v1/health", NULL, NULL, &r);
        assert_string_equal(r.request_id, "it-req-42");

        http(h, "GET", "/api/v1/health", NULL, NULL, &r);
        assert_non_null(r.request_id);
        assert_true(strlen(r.request_id) > 0);
        snprintf(first, sizeof(first), "%s", r.request_id);
        http(h, "GET", "/api/v1/health", NULL, NULL, &r);
        assert_non_null(r.request_id);
        assert_string_not_equal(r.request_id, first);

        /* Problem bodies carry the id: sent ... */
        harness_header(h, "X-Request-Id: it-req-43");
        http(h, "GET", "/api/v1/ifaces/nosuch", NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        assert_string_equal(r.request_id, "it-req-43");
        j = hresp_json(&r);
        assert_string_equal(hjson_str(j, "request_id"), "it-req-43");
        json_decref(j);

        /* ... or generated, the same as the header. */
        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"a/b\"}", &r);
        assert_problem(&r, 400, "name");
        assert_non_null(r.request_id);
        j = hresp_json(&r);
        assert_string_equal(hjson_str(j, "request_id"), r.request_id);
        json_decref(j);

        /* An id that could smuggle text into logs is replaced, not echoed. */
        harness_header(h, "X-Request-Id: bad id\"<x>");
        http(h, "GET", "/api/v1/health", NULL, NULL, &r);
        assert_non_null(r.request_id);
        assert_string_not_equal(r.request_id, "bad id\"<x>");

        /* Writes answer with the id as well. */
        harness_header(h, "X-Request-Id: it-req-44");
        http(h, "POST", "/api/v1/ifaces", "application/json", "{\"name\":\"a\"}", &r);
        assert_int_equal(r.status, 201);
        assert_string_equal(r.request_id, "it-req-44");
        assert_non_null(r.etag);
        snprintf(first, sizeof(first), "%s", r.etag);

        /* A header field's name in any case, and of two the first (server/http.c takes them in
         * one pass over the fields). */
        harness_header(h, "x-REQUEST-id: it-req-45");
        harness_header(h, "X-Request-Id: it-req-46");
        harness_header(h, "if-none-match: %s", first);
        harness_header(h, "If-None-Match: \"0\"");
        http(h, "GET", "/api/v1/ifaces/a", NULL, NULL, &r);
        assert_int_equal(r.status, 304);
        assert_string_equal(r.request_id, "it-req-45");
        harness_header(h, "If-None-Match: \"0\"");
        harness_header(h, "if-none-match: %s", first);
        http(h, "GET", "/api/v1/ifaces/a", NULL, NULL, &r);
        assert_int_equal(r.status, 200);
        hresp_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, harness_setup, harness_teardown)
                T(test_ifaces_create_bare_writes_iscsiadm_template),
                T(test_ifaces_create_with_values),
                T(test_ifaces_get_json_text_builtins_missing),
                T(test_ifaces_list_order_is_iscsiadm_order),
                T(test_ifaces_list_pagination_walks_everything_once),
                T(test_ifaces_list_filters),
                T(test_ifaces_list_bad_parameters),
                T(test_ifaces_put_replaces_whole_record),
                T(test_ifaces_patch_merges),
                T(test_ifaces_patch_binding_kind_is_fixed),
                T(test_ifaces_ipv6_template_and_naming_rule),
                T(test_ifaces_delete),
                T(test_ifaces_head_405_and_unknown_routes),
                T(test_ifaces_path_with_encoded_nul_is_refused),
                T(test_ifaces_health_reports_state),
                T(test_ifaces_drift_import_change_remove),
                T(test_ifaces_drift_unreadable_is_reported_not_imported),
                T(test_ifaces_drift_bad_rewrite_keeps_last_good_version),
                T(test_ifaces_openapi_is_served),
                T(test_ifaces_request_id_echoed_or_generated),
#undef T
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
