/* SPDX-License-Identifier: MIT */
/*
 * engine/hba.c against the fake sysfs trees of tests/fixtures/sysfs (see its README.md):
 * transports, hosts and kernel ifaces per tree, the garbled tree, and the offload iface records,
 * which must render to the bytes iscsiadm 2.1.8 writes (golden B01, tests/fixtures/sysfs/expected).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macro.h"
#include "engine/hba.h"
#include "engine/iface.h"

#define SYSFS_DIR   "/tests/fixtures/sysfs"
#define GOLDEN_B01  "/tests/fixtures/golden/B/B01_list_autocreates_offload/db_after"
#define HANDLE_BASE "184467440726400"

/* --- helpers ------------------------------------------------------------------------------- */

static char *source_path(const char *rel)
{
        const char *src = getenv("SOURCE_ROOT");
        char *p = NULL;

        assert_non_null(src);
        assert_true(asprintf(&p, "%s%s", src, rel) >= 0);
        return p;
}

static char *tree_path(const char *tree)
{
        _cleanup_free_ char *dir = source_path(SYSFS_DIR);
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, tree) >= 0);
        return p;
}

static void scan_tree(const char *tree, struct hba_inventory *inv)
{
        _cleanup_free_ char *root = tree_path(tree);

        assert_int_equal(hba_scan(root, inv), 0);
}

/* The whole file, or NULL if it does not exist. */
static char *read_file(const char *path, size_t *ret_len)
{
        _cleanup_close_ int fd = -1;
        char *data = NULL;
        size_t n = 0, cap = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                assert_int_equal(errno, ENOENT);
                return NULL;
        }
        for (;;) {
                ssize_t k;

                if (n + 4096 + 1 > cap) {
                        cap = n + 4096 + 1;
                        data = realloc(data, cap);
                        assert_non_null(data);
                }
                k = read(fd, data + n, cap - n - 1);
                assert_true(k >= 0);
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        data[n] = '\0';
        *ret_len = n;
        return data;
}

static const char *or_dash(const char *s)
{
        return s ? s : "-";
}

/* One line per transport: "name handle caps loaded", caps "?" when unknown. */
static char *fmt_transports(const struct hba_inventory *inv)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        for (size_t i = 0; i < inv->n_transports; i++) {
                const struct hba_transport *t = &inv->transports[i];

                fprintf(f, "%s %" PRIu64 " ", t->name, t->handle);
                if (t->caps_known)
                        fprintf(f, "0x%x", t->caps);
                else
                        fputs("?", f);
                fprintf(f, " %s\n", t->loaded ? "loaded" : "unloaded");
        }
        assert_int_equal(fclose(f), 0);
        return buf;
}

/* One line per host, "-" for an unknown value. */
static char *fmt_hosts(const struct hba_inventory *inv)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        for (size_t i = 0; i < inv->n_hosts; i++) {
                const struct hba_host *h = &inv->hosts[i];

                fprintf(f, "host%u %s hw=%s ip=%s netdev=%s iname=%s state=%s speed=%s", h->host_no,
                        or_dash(h->transport), or_dash(h->hwaddress), or_dash(h->ipaddress),
                        or_dash(h->netdev), or_dash(h->initiatorname), or_dash(h->port_state),
                        or_dash(h->port_speed));
                fprintf(f, " offload=%d kifaces=%zu%s\n", h->offload, h->n_kifaces,
                        h->kifaces_unknown ? "?" : "");
        }
        assert_int_equal(fclose(f), 0);
        return buf;
}

/* One line per kernel iface of host_no: "name ipv4|ipv6 num key=value;key=value...". */
static char *fmt_kifaces(const struct hba_inventory *inv, unsigned host_no)
{
        const struct hba_host *h = hba_find_host(inv, host_no);
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        assert_non_null(h);
        f = open_memstream(&buf, &len);
        assert_non_null(f);
        for (size_t i = 0; i < h->n_kifaces; i++) {
                const struct hba_kiface *k = &h->kifaces[i];

                fprintf(f, "%s %s %d ", k->name, k->ipv6 ? "ipv6" : "ipv4", k->iface_num);
                for (size_t a = 0; a < k->n_attrs; a++)
                        fprintf(f, "%s%s=%s", a ? ";" : "", k->attrs[a].key, k->attrs[a].value);
                fputs("\n", f);
        }
        assert_int_equal(fclose(f), 0);
        return buf;
}

struct offload {
        struct iface_rec *v;
        size_t n;
};

static void offload_done(struct offload *o)
{
        for (size_t i = 0; i < o->n; i++)
                iface_rec_done(&o->v[i]);
        free(o->v);
        *o = (struct offload){};
}

static void offload_tree(const char *tree, struct offload *o)
{
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};

        scan_tree(tree, &inv);
        assert_int_equal(hba_offload_ifaces(&inv, &o->v, &o->n), 0);
}

static const struct iface_rec *offload_find(const struct offload *o, const char *name)
{
        for (size_t i = 0; i < o->n; i++)
                if (streq(o->v[i].name, name))
                        return &o->v[i];
        fail_msg("no offload record %s", name);
        return NULL;
}

static const char *rec_str(const struct iface_rec *rec, const char *key)
{
        int idx = iface_field_find(key);

        assert_true(idx >= 0);
        return rec->str[idx];
}

static uint32_t rec_num(const struct iface_rec *rec, const char *key)
{
        int idx = iface_field_find(key);

        assert_true(idx >= 0);
        return rec->num[idx];
}

static void assert_renders(const struct iface_rec *rec, const char *data, size_t len)
{
        _cleanup_free_ char *out = NULL;
        size_t out_len = 0;

        assert_int_equal(iface_render_file(rec, &out, &out_len), 0);
        if (out_len != len || memcmp(out, data, len) != 0)
                fail_msg("%s renders\n%s\nbut iscsiadm wrote\n%.*s", rec->name, out, (int)len,
                         data);
}

/* --- capabilities -------------------------------------------------------------------------- */

static void test_hba_caps_names_decodes_kernel_caps(void **state)
{
        static const struct {
                uint32_t caps;
                const char *names;
        } cases[] = {
                { 0x39, "RECOVERY_L0 MULTI_R2T HDRDGST DATADGST" },
                { 0x89, "RECOVERY_L0 MULTI_R2T TEXT_NEGO" },
                { 0x8b9, "RECOVERY_L0 MULTI_R2T HDRDGST DATADGST TEXT_NEGO DATA_PATH_OFFLOAD" },
                { 0x30b9, "RECOVERY_L0 MULTI_R2T HDRDGST DATADGST TEXT_NEGO DIGEST_OFFLOAD "
                          "PADDING_OFFLOAD" },
                { 0x48b8, "MULTI_R2T HDRDGST DATADGST TEXT_NEGO DATA_PATH_OFFLOAD LOGIN_OFFLOAD" },
                { 0x0e00, "FW_DB SENDTARGETS_OFFLOAD DATA_PATH_OFFLOAD" },
                { 0x0146, "RECOVERY_L1 RECOVERY_L2 MULTI_CONN MARKERS" },
                { 0x7fff, "RECOVERY_L0 RECOVERY_L1 RECOVERY_L2 MULTI_R2T HDRDGST DATADGST "
                          "MULTI_CONN TEXT_NEGO MARKERS FW_DB SENDTARGETS_OFFLOAD "
                          "DATA_PATH_OFFLOAD DIGEST_OFFLOAD PADDING_OFFLOAD LOGIN_OFFLOAD" },
                { 0, "" },
                { 0xffff8000, "" }, /* bits iscsi_if.h does not define */
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *names[32];
                char joined[512] = "";
                size_t n = hba_caps_names(cases[i].caps, names, ELEMENTSOF(names));

                for (size_t k = 0; k < n; k++) {
                        if (k)
                                strcat(joined, " ");
                        strcat(joined, names[k]);
                }
                assert_string_equal(joined, cases[i].names);
        }
}

static void test_hba_caps_names_counts_past_max(void **state)
{
        const char *names[3] = { "x", "x", "sentinel" };
        (void)state;

        assert_int_equal(hba_caps_names(0x39, names, 2), 4);
        assert_string_equal(names[0], "RECOVERY_L0");
        assert_string_equal(names[1], "MULTI_R2T");
        assert_string_equal(names[2], "sentinel");
        assert_int_equal(hba_caps_names(0x8b9, NULL, 0), 6);
}

/* --- transports ---------------------------------------------------------------------------- */

static void test_hba_scan_transports_per_tree(void **state)
{
        static const struct {
                const char *tree;
                const char *lines;
        } cases[] = {
                { "b01", "bnx2i " HANDLE_BASE "08192 0x8b9 loaded\n"
                         "iser " HANDLE_BASE "04096 0x89 loaded\n"
                         "qla4xxx " HANDLE_BASE "12288 0x48b8 loaded\n"
                         "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                { "tcp", "iser " HANDLE_BASE "04096 0x89 loaded\n"
                         "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                { "bnx2i", "bnx2i " HANDLE_BASE "04096 0x8b9 loaded\n"
                           "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                { "cxgb4i", "cxgb4i " HANDLE_BASE "04096 0x30b9 loaded\n"
                            "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                { "qla4xxx", "qla4xxx " HANDLE_BASE "04096 0x48b8 loaded\n"
                             "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                { "be2iscsi", "be2iscsi " HANDLE_BASE "04096 0x8b9 loaded\n"
                              "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                { "qedi", "qedi " HANDLE_BASE "04096 0x8b9 loaded\n"
                          "tcp " HANDLE_BASE "00000 0x39 loaded\n" },
                /* junk handle and caps, "abc" and "0xzz", no handle file, handle 0, a dangling
                 * link and a link to itself: all there, none loaded, caps unknown if garbled */
                { "garbled", "binary 0 ? unloaded\n"
                             "bogus 0 ? unloaded\n"
                             "ghost 0 ? unloaded\n"
                             "loop 0 ? unloaded\n"
                             "nohandle 0 0x8b9 unloaded\n"
                             "tcp " HANDLE_BASE "00000 0x39 loaded\n"
                             "unloaded 0 0x8b9 unloaded\n" },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
                _cleanup_free_ char *got = NULL;

                scan_tree(cases[i].tree, &inv);
                got = fmt_transports(&inv);
                if (!streq(got, cases[i].lines))
                        fail_msg("tree %s: transports\n%sexpected\n%s", cases[i].tree, got,
                                 cases[i].lines);
        }
}

/* --- hosts --------------------------------------------------------------------------------- */

static void test_hba_scan_hosts_per_tree(void **state)
{
        static const struct {
                const char *tree;
                const char *lines;
        } cases[] = {
                { "b01", "host3 tcp hw=default ip=127.0.0.1 netdev=default iname=- state=- "
                         "speed=- offload=0 kifaces=0\n"
                         "host7 bnx2i hw=00:10:18:aa:bb:01 ip=0.0.0.0 netdev=eth2 iname=- "
                         "state=LINK UP speed=10 Gbps offload=1 kifaces=0\n"
                         "host8 qla4xxx hw=00:0e:1e:04:8b:2e ip=20.15.0.7 netdev=- "
                         "iname=iqn.2000-04.com.qlogic:isp8214.000e1e048b2e.4 state=LINK UP "
                         "speed=1 Gbps offload=1 kifaces=2\n" },
                { "tcp", "host2 tcp hw=default ip=127.0.0.1 netdev=default iname=- state=- "
                         "speed=- offload=0 kifaces=0\n"
                         "host4 tcp hw=52:54:00:12:34:56 ip=192.0.2.10 netdev=eth0 "
                         "iname=iqn.2004-10.com.example:tcp-host4 state=- speed=- offload=0 "
                         "kifaces=0\n"
                         "host6 iser hw=default ip=192.0.2.11 netdev=default iname=- state=- "
                         "speed=- offload=0 kifaces=0\n" },
                { "bnx2i", "host10 bnx2i hw=00:10:18:aa:bb:10 ip=10.0.0.10 netdev=eth10 "
                           "iname=- state=LINK UP speed=10 Gbps offload=1 kifaces=0\n"
                           "host11 bnx2i hw=00:10:18:aa:bb:11 ip=fd00::11 netdev=eth11 "
                           "iname=iqn.1994-05.com.example:bnx2i-11 state=LINK DOWN "
                           "speed=Unknown! offload=1 kifaces=0\n" },
                { "cxgb4i", "host12 cxgb4i hw=00:07:43:05:97:07 ip=0.0.0.0 netdev=eth12 "
                            "iname=- state=- speed=- offload=1 kifaces=0\n"
                            "host13 cxgb4i hw=00:07:43:05:97:0f ip=192.0.2.13 netdev=eth13 "
                            "iname=iqn.2004-10.com.example:cxgb4i-13 state=- speed=- "
                            "offload=1 kifaces=0\n" },
                { "qla4xxx", "host14 qla4xxx hw=00:0e:1e:04:8b:14 ip=192.0.2.14 netdev=- "
                             "iname=iqn.2000-04.com.qlogic:isp8324.000e1e048b14.1 state=LINK UP "
                             "speed=10 Gbps offload=1 kifaces=3\n" },
                { "be2iscsi", "host15 be2iscsi hw=00:00:c9:bb:cc:15 ip=192.0.2.15 netdev=- "
                              "iname=iqn.2001-05.com.example:be2iscsi-15 state=LINK UP "
                              "speed=10 Gbps offload=1 kifaces=2\n"
                              "host16 be2iscsi hw=00:00:c9:bb:cc:16 ip=0.0.0.0 netdev=- "
                              "iname=iqn.2001-05.com.example:be2iscsi-16 state=LINK DOWN "
                              "speed=Unknown! offload=1 kifaces=1\n" },
                { "qedi", "host17 qedi hw=00:0e:1e:c0:ff:17 ip=0.0.0.0 netdev=eth17 iname=- "
                          "state=LINK UP speed=25 Gbps offload=1 kifaces=0\n"
                          "host18 qedi hw=00:0e:1e:c0:ff:18 ip=10.0.0.18 netdev=- "
                          "iname=iqn.2004-10.com.example:qedi-18 state=LINK DOWN speed=- "
                          "offload=1 kifaces=0\n" },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
                _cleanup_free_ char *got = NULL;

                scan_tree(cases[i].tree, &inv);
                got = fmt_hosts(&inv);
                if (!streq(got, cases[i].lines))
                        fail_msg("tree %s: hosts\n%sexpected\n%s", cases[i].tree, got,
                                 cases[i].lines);
        }
}

static void test_hba_scan_kernel_ifaces(void **state)
{
        static const struct {
                const char *tree;
                unsigned host_no;
                const char *lines;
        } cases[] = {
                { "b01", 8,
                  "ipv4-iface-8-0 ipv4 0 bootproto=static;enabled=enable;"
                  "gateway=20.15.0.1;ipaddress=20.15.0.7;mtu=1500;port=3260;"
                  "subnet=255.255.255.0;vlan_enabled=disable;vlan_id=0;"
                  "vlan_priority=0\n"
                  "ipv6-iface-8-1 ipv6 1 enabled=enable;ipaddr_autocfg=nd;"
                  "ipaddress=fec0:ce00:7014:41::1e04:9392;link_local_addr="
                  "fe80::20e:1eff:fe04:8b2e;link_local_autocfg=auto;mtu=1500;"
                  "port=3260;router_addr=::\n" },
                { "b01", 7, "" },
                /* regular files only: no subsystem link, no power/ directory; uevent is empty */
                { "be2iscsi", 15,
                  "ipv4-iface-15-0 ipv4 0 bootproto=static;enabled=enable;"
                  "gateway=192.0.2.1;ipaddress=192.0.2.15;"
                  "subnet=255.255.255.0;uevent=;vlan_enabled=enable;"
                  "vlan_id=100;vlan_priority=3\n"
                  "ipv6-iface-15-0 ipv6 0 enabled=enable;ipaddr_autocfg=nd;"
                  "ipaddress=fd00::15;link_local_addr=fe80::200:c9ff:febb:cc15;"
                  "link_local_autocfg=auto;router_addr=::;vlan_enabled=enable;"
                  "vlan_id=100;vlan_priority=3\n" },
                { "be2iscsi", 16,
                  "ipv4-iface-16-0 ipv4 0 bootproto=dhcp;enabled=enable;"
                  "ipaddress=0.0.0.0;vlan_enabled=disable;vlan_id=0;"
                  "vlan_priority=0\n" },
                { "qla4xxx", 14,
                  NULL }, /* counted in test_hba_scan_kernel_iface_numbers_and_families */
                /* junk, NUL bytes, CR and over 4 KiB are dropped; "", "(null)" and blanks kept */
                { "garbled", 20,
                  "ipv4-iface-20-0 ipv4 0 bootproto=static;enabled=enable;"
                  "erl= 2;gateway=(null);header_digest=enable  ;"
                  "max_burst_len=99999999999999;mtu=1500abc;port=-1;subnet=;"
                  "tcp_wsf=300;vlan_id=abc\n"
                  "ipv6-iface-20-1 ipv6 1 ipaddress=fe80::20\n" },
                /* a regular file and a dangling link in iscsi_iface/ are no kernel ifaces */
                { "garbled", 27, "ipv4-iface-27-0 ipv4 0 enabled=enable;ipaddress=10.0.0.27\n" },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
                _cleanup_free_ char *got = NULL;

                scan_tree(cases[i].tree, &inv);
                got = fmt_kifaces(&inv, cases[i].host_no);
                if (cases[i].lines && !streq(got, cases[i].lines))
                        fail_msg("tree %s host%u: kernel ifaces\n%sexpected\n%s", cases[i].tree,
                                 cases[i].host_no, got, cases[i].lines);
        }
}

static void test_hba_scan_kernel_iface_numbers_and_families(void **state)
{
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
        const struct hba_host *h;
        (void)state;

        scan_tree("qla4xxx", &inv);
        h = hba_find_host(&inv, 14);
        assert_non_null(h);
        assert_int_equal(h->n_kifaces, 3);
        assert_string_equal(h->kifaces[0].name, "ipv4-iface-14-0");
        assert_false(h->kifaces[0].ipv6);
        assert_int_equal(h->kifaces[0].iface_num, 0);
        assert_int_equal(h->kifaces[0].n_attrs, 51);
        assert_string_equal(h->kifaces[1].name, "ipv6-iface-14-1");
        assert_true(h->kifaces[1].ipv6);
        assert_int_equal(h->kifaces[1].iface_num, 1);
        assert_int_equal(h->kifaces[1].n_attrs, 43);
        assert_string_equal(h->kifaces[2].name, "ipv6-iface-14-2");
        assert_int_equal(h->kifaces[2].iface_num, 2);
        assert_int_equal(h->kifaces[2].n_attrs, 2);
        for (size_t k = 0; k < h->n_kifaces; k++)
                for (size_t a = 1; a < h->kifaces[k].n_attrs; a++)
                        assert_true(strcmp(h->kifaces[k].attrs[a - 1].key,
                                           h->kifaces[k].attrs[a].key) < 0);
}

static void test_hba_scan_garbled_tree_gives_unknowns(void **state)
{
        static const char *const lines =
                "host20 qla4xxx hw=00:0e:1e:aa:bb:20 ip=- netdev=- iname=- state=LINK UP "
                "speed=- offload=1 kifaces=2\n"
                /* binary hwaddress, "(null)" hwaddress and port_state */
                "host21 bnx2i hw=- ip=10.0.0.21 netdev=eth21 iname=- state=- speed=- offload=1 "
                "kifaces=0\n"
                "host22 bnx2i hw=- ip=10.0.0.22 netdev=eth22 iname=- state=- speed=- offload=1 "
                "kifaces=0\n"
                /* no proc_name: no transport, so no offload host */
                "host23 - hw=00:0e:1e:aa:bb:23 ip=10.0.0.23 netdev=eth23 iname=- state=- "
                "speed=- offload=0 kifaces=0\n"
                /* dangling class links */
                "host24 - hw=- ip=- netdev=- iname=- state=- speed=- offload=0 kifaces=0?\n"
                /* a plain directory in class/: attributes, but no device directory */
                "host25 qedi hw=00:0e:1e:aa:bb:25 ip=10.0.0.25 netdev=- iname=- state=- "
                "speed=- offload=1 kifaces=0?\n"
                /* initiatorname over the 4 KiB cap */
                "host26 qedi hw=00:0e:1e:aa:bb:26 ip=10.0.0.26 netdev=eth26 iname=- state=- "
                "speed=- offload=1 kifaces=0\n"
                "host27 qla4xxx hw=00:0e:1e:aa:bb:27 ip=10.0.0.27 netdev=- iname=- state=- "
                "speed=- offload=1 kifaces=1\n"
                /* links out of the tree, relative and absolute, are not followed */
                "host28 - hw=- ip=- netdev=- iname=- state=- speed=- offload=0 kifaces=0?\n";
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
        _cleanup_free_ char *got = NULL;
        (void)state;

        scan_tree("garbled", &inv);
        got = fmt_hosts(&inv);
        if (!streq(got, lines))
                fail_msg("garbled hosts\n%sexpected\n%s", got, lines);
}

/* A tree made on the spot: name is a file (content "" means a directory) or "->target". */
struct entry {
        const char *path;
        const char *content;
};

static char *make_tree(const struct entry *entries, size_t n)
{
        char tmpl[] = "/tmp/test-hba.XXXXXX";
        char *root;

        assert_non_null(mkdtemp(tmpl));
        root = strdup(tmpl);
        assert_non_null(root);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                char *slash;

                assert_true(asprintf(&p, "%s/%s", root, entries[i].path) >= 0);
                for (slash = strchr(p + strlen(root) + 1, '/'); slash;
                     slash = strchr(slash + 1, '/')) {
                        *slash = '\0';
                        assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
                        *slash = '/';
                }
                if (!*entries[i].content) {
                        assert_int_equal(mkdir(p, 0755), 0);
                } else if (strncmp(entries[i].content, "->", 2) == 0) {
                        assert_int_equal(symlink(entries[i].content + 2, p), 0);
                } else {
                        FILE *f = fopen(p, "w");

                        assert_non_null(f);
                        fputs(entries[i].content, f);
                        assert_int_equal(fclose(f), 0);
                }
        }
        return root;
}

static void remove_tree(char *root)
{
        _cleanup_free_ char *cmd = NULL;

        assert_true(asprintf(&cmd, "rm -rf '%s'", root) >= 0);
        assert_int_equal(system(cmd), 0);
        free(root);
}

static void test_hba_scan_host_names(void **state)
{
        static const struct entry entries[] = {
                { "class/iscsi_host/host4", "" },
                { "class/iscsi_host/host04", "" },
                { "class/iscsi_host/hostX", "" },
                { "class/iscsi_host/host", "" },
                { "class/iscsi_host/host-1", "" },
                { "class/iscsi_host/host4294967295", "" },
                { "class/iscsi_host/host4294967296", "" },
                { "class/iscsi_host/xhost1", "" },
                { "class/iscsi_transport/a-name-that-is-longer-than-31-chars", "" },
        };
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
        char *root = make_tree(entries, ELEMENTSOF(entries));
        (void)state;

        assert_int_equal(hba_scan(root, &inv), 0);
        remove_tree(root);
        assert_int_equal(inv.n_transports, 0);
        assert_int_equal(inv.n_hosts, 2);
        assert_int_equal(inv.hosts[0].host_no, 4);
        assert_int_equal(inv.hosts[1].host_no, 4294967295u);
        assert_true(inv.hosts[0].kifaces_unknown); /* a plain directory: no device directory */
}

static void test_hba_scan_missing_root_is_empty(void **state)
{
        struct hba_inventory inv = { .n_hosts = 99 };
        (void)state;

        assert_int_equal(hba_scan("/nonexistent/sysfs", &inv), 0);
        assert_null(inv.transports);
        assert_int_equal(inv.n_transports, 0);
        assert_null(inv.hosts);
        assert_int_equal(inv.n_hosts, 0);

        inv.n_hosts = 99;
        assert_int_equal(hba_scan(NULL, &inv), -EINVAL);
        assert_int_equal(inv.n_hosts, 99); /* untouched on failure */
        assert_int_equal(hba_scan("/", NULL), -EINVAL);
}

static void test_hba_find_host(void **state)
{
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
        const struct hba_host *h;
        (void)state;

        scan_tree("b01", &inv);
        h = hba_find_host(&inv, 7);
        assert_non_null(h);
        assert_string_equal(h->transport, "bnx2i");
        assert_int_equal(hba_find_host(&inv, 8)->n_kifaces, 2);
        assert_null(hba_find_host(&inv, 5));
        assert_null(hba_find_host(&inv, 9));
        assert_null(hba_find_host(NULL, 7));
}

/* --- offload iface records ----------------------------------------------------------------- */

/* golden B01: the files of the real `iscsiadm -m iface` for the tree of scenario B */
static void test_hba_offload_b01_matches_golden(void **state)
{
        _cleanup_(offload_done) struct offload o = {};
        _cleanup_free_ char *path = source_path(GOLDEN_B01);
        _cleanup_free_ char *dump = NULL;
        size_t len = 0, files = 0;
        char *p, *end;
        (void)state;

        dump = read_file(path, &len);
        assert_non_null(dump);
        offload_tree("b01", &o);
        assert_int_equal(o.n, 3);
        assert_string_equal(o.v[0].name, "bnx2i.00:10:18:aa:bb:01.ipv4.0");
        assert_string_equal(o.v[1].name, "qla4xxx.00:0e:1e:04:8b:2e.ipv4.0");
        assert_string_equal(o.v[2].name, "qla4xxx.00:0e:1e:04:8b:2e.ipv6.1");

        /* sections "== ./ifaces/NAME (mode 600)\n<file>" up to the next "== " line */
        end = dump + len;
        for (p = dump; p < end;) {
                char *eol = memchr(p, '\n', (size_t)(end - p)), *next, *mode;
                _cleanup_free_ char *name = NULL;

                assert_non_null(eol);
                if (strncmp(p, "== ./ifaces/", 12) != 0 || p[12] == ' ') {
                        p = eol + 1;
                        continue;
                }
                mode = memmem(p, (size_t)(eol - p), " (mode ", 7);
                assert_non_null(mode);
                name = strndup(p + 12, (size_t)(mode - p - 12));
                for (next = eol + 1; next < end && strncmp(next, "== ", 3) != 0;)
                        next = (char *)memchr(next, '\n', (size_t)(end - next)) + 1;
                assert_renders(offload_find(&o, name), eol + 1, (size_t)(next - eol - 1));
                files++;
                p = next;
        }
        assert_int_equal(files, o.n);
}

static void test_hba_offload_records_per_tree(void **state)
{
        static const struct {
                const char *tree;
                const char *names[5];
                bool expected_files; /* tests/fixtures/sysfs/expected/<tree>/<name> */
        } cases[] = {
                { "tcp", { NULL }, false },
                { "bnx2i",
                  { "bnx2i.00:10:18:aa:bb:10.ipv4.0", "bnx2i.00:10:18:aa:bb:11.ipv6.0" },
                  true },
                { "cxgb4i",
                  { "cxgb4i.00:07:43:05:97:07.ipv4.0", "cxgb4i.00:07:43:05:97:0f.ipv4.0" },
                  true },
                { "qla4xxx",
                  { "qla4xxx.00:0e:1e:04:8b:14.ipv4.0", "qla4xxx.00:0e:1e:04:8b:14.ipv6.1",
                    "qla4xxx.00:0e:1e:04:8b:14.ipv6.2" },
                  true },
                { "be2iscsi",
                  { "be2iscsi.00:00:c9:bb:cc:15.ipv4.0", "be2iscsi.00:00:c9:bb:cc:15.ipv6.0",
                    "be2iscsi.00:00:c9:bb:cc:16.ipv4.0" },
                  true },
                { "qedi",
                  { "qedi.00:0e:1e:c0:ff:17.ipv4.0", "qedi.00:0e:1e:c0:ff:18.ipv4.0" },
                  true },
                /* iscsiadm's walk order: host20 ... host27 */
                { "garbled",
                  { "qla4xxx.00:0e:1e:aa:bb:20.ipv4.0", "qla4xxx.00:0e:1e:aa:bb:20.ipv6.1",
                    "qedi.00:0e:1e:aa:bb:26.ipv4.0", "qla4xxx.00:0e:1e:aa:bb:27.ipv4.0" },
                  false },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(offload_done) struct offload o = {};
                size_t n = 0;

                offload_tree(cases[i].tree, &o);
                while (n < ELEMENTSOF(cases[i].names) && cases[i].names[n])
                        n++;
                if (o.n != n)
                        fail_msg("tree %s: %zu records, expected %zu", cases[i].tree, o.n, n);
                for (size_t k = 0; k < n; k++) {
                        _cleanup_free_ char *rel = NULL, *path = NULL, *data = NULL;
                        size_t len = 0;

                        assert_string_equal(o.v[k].name, cases[i].names[k]);
                        if (!cases[i].expected_files)
                                continue;
                        assert_true(asprintf(&rel, SYSFS_DIR "/expected/%s/%s", cases[i].tree,
                                             o.v[k].name) >= 0);
                        path = source_path(rel);
                        data = read_file(path, &len);
                        if (!data)
                                fail_msg("missing %s", path);
                        assert_renders(&o.v[k], data, len);
                }
        }
}

static void test_hba_offload_values_follow_libopeniscsiusr(void **state)
{
        _cleanup_(offload_done) struct offload o = {};
        const struct iface_rec *r;
        (void)state;

        offload_tree("qla4xxx", &o);
        r = offload_find(&o, "qla4xxx.00:0e:1e:04:8b:14.ipv4.0");
        /* no netdev attribute: "default"; dhcp_alt_client_id_en is lost as in libopeniscsiusr */
        assert_string_equal(rec_str(r, "net_ifacename"), "default");
        assert_string_equal(rec_str(r, "dhcp_alt_client_id"), "qla-14");
        assert_null(rec_str(r, "dhcp_alt_client_id_state"));
        assert_string_equal(rec_str(r, "subnet_mask"), "255.255.255.0");
        assert_string_equal(rec_str(r, "tcp_nagle"), "disable");
        assert_string_equal(rec_str(r, "tcp_wsf_state"), "enable");
        assert_string_equal(rec_str(r, "strict_login_compliance"), "disable");
        assert_string_equal(rec_str(r, "discovery_auth"), "enable");
        assert_int_equal(rec_num(r, "def_task_mgmt_timeout"), 10);
        assert_int_equal(rec_num(r, "max_receive_data_len"), 262144);
        assert_int_equal(rec_num(r, "ttl"), 64);

        r = offload_find(&o, "qla4xxx.00:0e:1e:04:8b:14.ipv6.1");
        /* no vlan attributes: 65535 and 255 (golden B03) */
        assert_int_equal(rec_num(r, "vlan_id"), 65535);
        assert_int_equal(rec_num(r, "vlan_priority"), 255);
        assert_int_equal(rec_num(r, "iface_num"), 1);
        assert_string_equal(rec_str(r, "router_autocfg"), "Advertised");
        assert_string_equal(rec_str(r, "ipv6_linklocal"), "fe80::20e:1eff:fe04:8b14");
        assert_int_equal(rec_num(r, "traffic_class"), 2);
        assert_int_equal(rec_num(r, "max_outstanding_r2t"), 8);
        assert_true(iface_rec_is_ipv6(r));
}

static void test_hba_offload_garbled_values(void **state)
{
        _cleanup_(offload_done) struct offload o = {};
        const struct iface_rec *r;
        (void)state;

        offload_tree("garbled", &o);
        r = offload_find(&o, "qla4xxx.00:0e:1e:aa:bb:20.ipv4.0");
        /* libopeniscsiusr's "default" placeholder would make our writer pick IPv6 keys */
        assert_null(rec_str(r, "ipaddress"));
        assert_false(iface_rec_is_ipv6(r));
        /* numbers as strtoll() of the first 11 characters, masked to the field */
        assert_int_equal(rec_num(r, "vlan_id"), 0);                /* "abc" */
        assert_int_equal(rec_num(r, "vlan_priority"), 255);        /* absent */
        assert_int_equal(rec_num(r, "mtu"), 1500);                 /* "1500abc" */
        assert_int_equal(rec_num(r, "port"), 65535);               /* "-1" */
        assert_int_equal(rec_num(r, "tcp_wsf"), 44);               /* "300" in a u8 */
        assert_int_equal(rec_num(r, "erl"), 2);                    /* " 2" */
        assert_int_equal(rec_num(r, "max_burst_len"), 1215752191); /* 99999999999 mod 2^32 */
        assert_null(rec_str(r, "gateway"));                        /* "(null)" */
        assert_null(rec_str(r, "subnet_mask"));                    /* "" */
        assert_string_equal(rec_str(r, "header_digest"), "enable  ");
        assert_null(rec_str(r, "initiatorname"));

        r = offload_find(&o, "qla4xxx.00:0e:1e:aa:bb:20.ipv6.1");
        assert_string_equal(rec_str(r, "ipaddress"), "fe80::20");
        assert_null(rec_str(r, "state"));             /* junk bytes */
        assert_null(rec_str(r, "linklocal_autocfg")); /* "auto\r" */

        r = offload_find(&o, "qedi.00:0e:1e:aa:bb:26.ipv4.0");
        assert_null(rec_str(r, "initiatorname")); /* over 4 KiB */
        assert_string_equal(rec_str(r, "ipaddress"), "10.0.0.26");
        assert_string_equal(rec_str(r, "net_ifacename"), "eth26");
}

/* Hosts go in alphasort order ("host10" before "host9"), and the first of a name wins. */
static void test_hba_offload_order_and_duplicates(void **state)
{
        static const struct entry entries[] = {
                { "devices/pci0/0000:01:00.0/host9/iscsi_host/host9/hwaddress",
                  "00:10:18:00:00:01\n" },
                { "devices/pci0/0000:01:00.0/host9/iscsi_host/host9/ipaddress", "10.0.0.9\n" },
                { "devices/pci0/0000:01:00.0/host9/scsi_host/host9/proc_name", "bnx2i\n" },
                { "devices/pci0/0000:01:00.1/host10/iscsi_host/host10/hwaddress",
                  "00:10:18:00:00:01\n" },
                { "devices/pci0/0000:01:00.1/host10/iscsi_host/host10/ipaddress", "10.0.0.10\n" },
                { "devices/pci0/0000:01:00.1/host10/scsi_host/host10/proc_name", "bnx2i\n" },
                { "devices/pci0/0000:01:00.2/host2/iscsi_host/host2/hwaddress",
                  "00:10:18:00:00:02\n" },
                { "devices/pci0/0000:01:00.2/host2/scsi_host/host2/proc_name", "bnx2i\n" },
                { "class/iscsi_host/host9",
                  "->../../devices/pci0/0000:01:00.0/host9/iscsi_host/host9" },
                { "class/iscsi_host/host10",
                  "->../../devices/pci0/0000:01:00.1/host10/iscsi_host/host10" },
                { "class/iscsi_host/host2",
                  "->../../devices/pci0/0000:01:00.2/host2/iscsi_host/host2" },
                { "class/scsi_host/host9",
                  "->../../devices/pci0/0000:01:00.0/host9/scsi_host/host9" },
                { "class/scsi_host/host10",
                  "->../../devices/pci0/0000:01:00.1/host10/scsi_host/host10" },
                { "class/scsi_host/host2",
                  "->../../devices/pci0/0000:01:00.2/host2/scsi_host/host2" },
        };
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
        _cleanup_(offload_done) struct offload o = {};
        char *root = make_tree(entries, ELEMENTSOF(entries));
        (void)state;

        assert_int_equal(hba_scan(root, &inv), 0);
        remove_tree(root);
        assert_int_equal(inv.n_hosts, 3);
        assert_int_equal(hba_offload_ifaces(&inv, &o.v, &o.n), 0);
        assert_int_equal(o.n, 2);
        assert_string_equal(o.v[0].name, "bnx2i.00:10:18:00:00:01.ipv4.0");
        assert_string_equal(rec_str(&o.v[0], "ipaddress"), "10.0.0.10");
        assert_string_equal(rec_str(&o.v[0], "net_ifacename"), "default");
        assert_string_equal(o.v[1].name, "bnx2i.00:10:18:00:00:02.ipv4.0");
        /* no ipaddress file: the placeholder is left out, the record stays IPv4 */
        assert_null(rec_str(&o.v[1], "ipaddress"));
        assert_false(iface_rec_is_ipv6(&o.v[1]));
}

static void test_hba_offload_empty_and_bad_args(void **state)
{
        struct hba_inventory empty = {};
        struct iface_rec *recs = (struct iface_rec *)&empty;
        size_t n = 99;
        (void)state;

        assert_int_equal(hba_offload_ifaces(&empty, &recs, &n), 0);
        assert_null(recs);
        assert_int_equal(n, 0);

        n = 99;
        assert_int_equal(hba_offload_ifaces(NULL, &recs, &n), -EINVAL);
        assert_int_equal(hba_offload_ifaces(&empty, NULL, &n), -EINVAL);
        assert_int_equal(hba_offload_ifaces(&empty, &recs, NULL), -EINVAL);
        assert_int_equal(n, 99);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hba_caps_names_decodes_kernel_caps),
                cmocka_unit_test(test_hba_caps_names_counts_past_max),
                cmocka_unit_test(test_hba_scan_transports_per_tree),
                cmocka_unit_test(test_hba_scan_hosts_per_tree),
                cmocka_unit_test(test_hba_scan_kernel_ifaces),
                cmocka_unit_test(test_hba_scan_kernel_iface_numbers_and_families),
                cmocka_unit_test(test_hba_scan_garbled_tree_gives_unknowns),
                cmocka_unit_test(test_hba_scan_host_names),
                cmocka_unit_test(test_hba_scan_missing_root_is_empty),
                cmocka_unit_test(test_hba_find_host),
                cmocka_unit_test(test_hba_offload_b01_matches_golden),
                cmocka_unit_test(test_hba_offload_records_per_tree),
                cmocka_unit_test(test_hba_offload_values_follow_libopeniscsiusr),
                cmocka_unit_test(test_hba_offload_garbled_values),
                cmocka_unit_test(test_hba_offload_order_and_duplicates),
                cmocka_unit_test(test_hba_offload_empty_and_bad_args),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
