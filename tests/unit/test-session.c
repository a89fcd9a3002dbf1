/* SPDX-License-Identifier: MIT */
/*
 * engine/session.c against the fake sysfs trees of tests/fixtures/sysfs (see its README.md): the
 * logged-in session of golden scenario S (s01, and s01-flat where links are files), several
 * sessions (sessions), hostile ones (sessions-garbled), and session_find()'s matching; the full
 * reader over sessions with LUNs (lun-sessions, lun-garbled) with temporary udev, dev and proc
 * roots, and the in-use check.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macro.h"
#include "engine/session.h"

#define SYSFS_DIR "/tests/fixtures/sysfs"

static char *tree_path(const char *tree)
{
        const char *src = getenv("SOURCE_ROOT");
        char *p = NULL;

        assert_non_null(src);
        assert_true(asprintf(&p, "%s" SYSFS_DIR "/%s", src, tree) >= 0);
        return p;
}

static size_t list_tree(const char *tree, struct session_info **ret)
{
        _cleanup_free_ char *root = tree_path(tree);
        size_t n = 0;

        assert_int_equal(session_list(root, ret, &n), 0);
        return n;
}

struct expect {
        unsigned sid;
        const char *target, *ifacename;
        int tpgt;
        const char *state, *address;
        unsigned port;
        int host_no;
        const char *problem; /* "" none; else each ";"-separated part must be in it */
};

static void check_session(const struct session_info *s, const struct expect *e)
{
        char want[256];

        assert_int_equal(s->sid, e->sid);
        assert_string_equal(s->target, e->target);
        assert_string_equal(s->ifacename, e->ifacename);
        assert_int_equal(s->tpgt, e->tpgt);
        assert_string_equal(s->state, e->state);
        assert_string_equal(s->address, e->address);
        assert_int_equal(s->port, e->port);
        assert_int_equal(s->host_no, e->host_no);
        if (isempty(e->problem)) {
                assert_string_equal(s->problem, "");
                return;
        }
        assert_true(strlen(e->problem) < sizeof(want));
        strcpy(want, e->problem);
        for (char *part = strtok(want, ";"); part; part = strtok(NULL, ";"))
                if (!strstr(s->problem, part)) {
                        print_error("sid %u: '%s' not in problem '%s'\n", s->sid, part, s->problem);
                        fail();
                }
}

static void check_tree(const char *tree, const struct expect *e, size_t n_e)
{
        _cleanup_free_ struct session_info *s = NULL;
        size_t n = list_tree(tree, &s);

        assert_int_equal(n, n_e);
        for (size_t i = 0; i < n; i++)
                check_session(&s[i], &e[i]);
}

/* Golden S01: "tcp: [1] 127.0.0.1:3260,1 iqn.2003-01.org.example:disk1", host 3, iface0. */
static const struct expect golden_s[] = {
        { 1, "iqn.2003-01.org.example:disk1", "iface0", 1, "LOGGED_IN", "127.0.0.1", 3260, 3, "" },
};

static void test_session_list_golden_s(void **state)
{
        (void)state;
        check_tree("s01", golden_s, ELEMENTSOF(golden_s));
}

/* The reference fixture as copied without symlinks (class entries are files naming the target). */
static void test_session_list_links_stored_as_files(void **state)
{
        (void)state;
        check_tree("s01-flat", golden_s, ELEMENTSOF(golden_s));
}

static void test_session_list_several_sorted_by_sid(void **state)
{
        static const struct expect e[] = {
                { 1, "iqn.2003-01.org.example:disk1", "iface0", 1, "LOGGED_IN", "127.0.0.1", 3260,
                  3, "" },
                /* the persistent address, as iscsid set it, not the kernel's full spelling */
                { 2, "iqn.2003-01.org.example:disk2", "v6", 2, "LOGGED_IN", "fd00::10", 3261, 3,
                  "" },
                /* FREE and its connection gone */
                { 4, "iqn.2003-01.org.example:disk4", "iface0", 1, "FREE", "", 0, 4,
                  "connection4:0: missing" },
                /* no ifacename attribute (old kernels): "default" */
                { 5, "iqn.2003-01.org.example:disk5", "default", 1, "LOGGED_IN", "192.0.2.21", 3260,
                  4, "" },
                /* plain directories in class/: no device path, so no host */
                { 6, "iqn.2003-01.org.example:disk6", "iface0", 6, "LOGGED_IN", "192.0.2.22", 3260,
                  -1, "" },
                /* FAILED, and a connection with only address and port */
                { 10, "iqn.2003-01.org.example:disk3", "iface0", 3, "FAILED", "192.0.2.20", 3260, 4,
                  "" },
        };

        (void)state;
        check_tree("sessions", e, ELEMENTSOF(e));
}

static void test_session_list_hostile_values(void **state)
{
        static const struct expect e[] = {
                { 1, "", "", 1, "LOGGED_IN", "127.0.0.1", 3260, 3,
                  "targetname: longer than 223 bytes;ifacename: longer than 64 bytes" },
                { 2, "", "iface0", -1, "", "127.0.0.1", 3260, 3,
                  "targetname: not printable text;state: not printable text;tpgt: not a number" },
                /* persistent_* unusable: address and port are used */
                { 3, "iqn.2003-01.org.example:disk1", "", -1, "LOGGED_IN", "192.0.2.3", 3260, 3,
                  "ifacename: not printable text;tpgt: out of range;"
                  "persistent_address: over 4096 bytes;persistent_port: not a number" },
                { 4, "", "", -1, "", "", 0, -1, "session4: leads out of the tree" },
                { 5, "", "", -1, "", "", 0, -1, "session5: leads out of the tree" },
                { 6, "iqn.2003-01.org.example:disk1", "iface0", 1, "LOGGED_IN", "", 0, 3,
                  "connection6:0: leads out of the tree" },
                /* a symlinked attribute is not followed (it points at /etc/passwd) */
                { 7, "", "iface0", -1, "", "127.0.0.1", 0, 3,
                  "targetname: not a regular file;state: empty;tpgt: missing;port: missing" },
                { 8, "", "", -1, "", "", 0, -1, "session8: missing" },
                { 9, "", "", -1, "", "", 0, -1, "session9: a symlink loop" },
        };

        (void)state;
        /* session01, sessionx and session99999999999 are no session names: skipped */
        check_tree("sessions-garbled", e, ELEMENTSOF(e));
}

static void test_session_list_none(void **state)
{
        struct session_info *s = (struct session_info *)&s;
        size_t n = 99;

        (void)state;
        /* a tree without sessions, and no tree at all */
        assert_int_equal(list_tree("b01", &s), 0);
        assert_null(s);
        s = (struct session_info *)&s;
        assert_int_equal(session_list("/nonexistent/sysfs", &s, &n), 0);
        assert_null(s);
        assert_int_equal(n, 0);
}

static void test_session_list_errors(void **state)
{
        char tmpl[] = "/tmp/test-session.XXXXXX";
        _cleanup_free_ char *cls = NULL, *file = NULL;
        struct session_info *s = NULL;
        size_t n = 99;

        (void)state;
        assert_int_equal(session_list(NULL, &s, &n), -EINVAL);
        assert_int_equal(session_list("/", NULL, &n), -EINVAL);
        assert_int_equal(session_list("/", &s, NULL), -EINVAL);
        assert_int_equal(n, 99);

        /* class/iscsi_session is a file: -ENOTDIR; a link out of the tree: -EXDEV */
        assert_non_null(mkdtemp(tmpl));
        assert_true(asprintf(&cls, "%s/class", tmpl) >= 0);
        assert_true(asprintf(&file, "%s/class/iscsi_session", tmpl) >= 0);
        assert_int_equal(mkdir(cls, 0755), 0);
        assert_int_equal(close(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
        assert_int_equal(session_list(tmpl, &s, &n), -ENOTDIR);
        assert_int_equal(unlink(file), 0);
        assert_int_equal(symlink("../../../../../../../../../../sys/class/iscsi_session", file), 0);
        assert_int_equal(session_list(tmpl, &s, &n), -EXDEV);
        assert_int_equal(n, 99); /* untouched on failure */
        assert_null(s);
        (void)unlink(file);
        (void)rmdir(cls);
        (void)rmdir(tmpl);
}

/* Golden S10: deleting the binding of target, 127.0.0.1:3260 and iface0 finds the session. */
static void test_session_find_golden_s10(void **state)
{
        _cleanup_free_ struct session_info *s = NULL;
        size_t n = list_tree("s01", &s);
        const char *t = "iqn.2003-01.org.example:disk1";

        (void)state;
        assert_ptr_equal(session_find(s, n, t, "127.0.0.1", 3260, -1, "iface0"), &s[0]);
        assert_ptr_equal(session_find(s, n, t, "127.0.0.1", 3260, 1, "iface0"), &s[0]);
        assert_ptr_equal(session_find(s, n, t, NULL, 0, -1, "iface0"), &s[0]);          /* D13 */
        assert_ptr_equal(session_find(s, n, NULL, "127.0.0.1", 3260, -1, NULL), &s[0]); /* D14 */
        assert_null(session_find(s, n, t, "127.0.0.1", 3260, 2, "iface0"));
        assert_null(session_find(s, n, t, "127.0.0.1", 3261, -1, "iface0"));
        assert_null(session_find(s, n, t, "127.0.0.2", 3260, -1, "iface0"));
        assert_null(session_find(s, n, t, "127.0.0.1", 3260, -1, "default"));
        assert_null(session_find(s, n, "iqn.2003-01.org.example:disk2", NULL, 0, -1, NULL));
        assert_null(session_find(NULL, 0, t, NULL, 0, -1, NULL));
        assert_null(session_find(s, 0, t, NULL, 0, -1, NULL));
}

static void test_session_find_ipv6_and_unknowns(void **state)
{
        _cleanup_free_ struct session_info *s = NULL, *g = NULL;
        size_t n = list_tree("sessions", &s), ng = list_tree("sessions-garbled", &g);
        const char *t2 = "iqn.2003-01.org.example:disk2";

        (void)state;
        /* the kernel's full spelling, brackets and upper case all name fd00::10 */
        assert_ptr_equal(
                session_find(s, n, t2, "fd00:0000:0000:0000:0000:0000:0000:0010", 3261, 2, "v6"),
                &s[1]);
        assert_ptr_equal(session_find(s, n, t2, "[FD00::10]", 3261, -1, NULL), &s[1]);
        assert_null(session_find(s, n, t2, "fd00::11", 3261, -1, NULL));
        /* old kernel without ifacename: "default" */
        assert_ptr_equal(session_find(s, n, NULL, "192.0.2.21", 0, -1, "default"), &s[3]);
        /* FAILED sessions are sessions too */
        assert_ptr_equal(session_find(s, n, "iqn.2003-01.org.example:disk3", "192.0.2.20", 3260, 3,
                                      "iface0"),
                         &s[5]);
        /* unknown values never match a specific one: session4 has no address or port */
        assert_null(session_find(s, n, "iqn.2003-01.org.example:disk4", "127.0.0.1", 0, -1, NULL));
        assert_null(session_find(s, n, "iqn.2003-01.org.example:disk4", NULL, 3260, -1, NULL));
        assert_ptr_equal(session_find(s, n, "iqn.2003-01.org.example:disk4", NULL, 0, -1, NULL),
                         &s[2]);
        /* garbled: the first readable session of the target, never one with an unknown target */
        assert_ptr_equal(
                session_find(g, ng, "iqn.2003-01.org.example:disk1", "192.0.2.3", 0, -1, NULL),
                &g[2]);
        assert_null(session_find(g, ng, "", NULL, 0, -1, NULL));
        assert_null(session_find(g, ng, NULL, NULL, 0, -1, "")); /* unknown iface names */
}

static void test_session_address_equal(void **state)
{
        static const struct {
                const char *a, *b;
                bool equal;
        } cases[] = {
                { "127.0.0.1", "127.0.0.1", true },
                { "127.0.0.1", "127.0.0.2", false },
                { "fd00::10", "fd00:0:0:0:0:0:0:10", true },
                { "fd00::10", "[fd00::10]", true },
                { "FD00::A", "fd00::a", true },
                { "::ffff:192.0.2.1", "192.0.2.1", true },
                { "fe80::1%eth0", "fe80::1%eth0", true },
                { "fe80::1%eth0", "fe80::1%eth1", false },
                { "fe80::1%eth0", "fe80::1", false },
                { "Target.Example", "target.example", true }, /* no IP: text, any case */
                { "192.0.2.1", "192.0.2.01", false },
                { "", "", false },
                { "", "127.0.0.1", false },
                { NULL, "127.0.0.1", false },
                { "[fd00::10", "fd00::10", false },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (session_address_equal(cases[i].a, cases[i].b) != cases[i].equal ||
                    session_address_equal(cases[i].b, cases[i].a) != cases[i].equal) {
                        print_error("case %zu: '%s' vs '%s'\n", i, cases[i].a ?: "(NULL)",
                                    cases[i].b);
                        fail();
                }
        }
}

/* --- the full reader ------------------------------------------------------------------------ */

#define WWID1 "naa.6001405a1b2c3d4e5f60718293a4b5c6"

/* A temporary directory, removed with everything in it by tmp_done(). */
struct tmp {
        char dir[64];
};

static void tmp_new(struct tmp *t)
{
        strcpy(t->dir, "/tmp/test-session.XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        assert_int_equal(chmod(t->dir, 0755), 0); /* readable by the unprivileged child */
}

static void tmp_done(struct tmp *t)
{
        _cleanup_free_ char *cmd = NULL;

        assert_true(asprintf(&cmd, "rm -rf '%s'", t->dir) >= 0);
        assert_int_equal(system(cmd), 0);
}

/* dir/rel with the directories leading to it, holding text (NULL: a directory). */
static void tmp_put(const char *dir, const char *rel, const char *text)
{
        _cleanup_free_ char *cmd = NULL, *p = NULL;
        FILE *f;

        assert_true(asprintf(&p, "%s/%s", dir, rel) >= 0);
        assert_true(asprintf(&cmd, "mkdir -p \"$(dirname '%s')\"", p) >= 0);
        assert_int_equal(system(cmd), 0);
        if (!text) {
                assert_int_equal(mkdir(p, 0755), 0);
                return;
        }
        f = fopen(p, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static bool tmp_mknod(const char *dir, const char *rel, unsigned ma, unsigned mi)
{
        _cleanup_free_ char *p = NULL;

        if (geteuid() != 0)
                return false;
        assert_true(asprintf(&p, "%s/%s", dir, rel) >= 0);
        assert_int_equal(mknod(p, S_IFBLK | 0600, makedev(ma, mi)), 0);
        return true;
}

static void read_detail(const char *tree, const struct session_roots *over, unsigned sid,
                        struct session_detail *d)
{
        _cleanup_free_ char *root = tree_path(tree);
        struct session_roots r = {
                .sysfs = root,
                .dev = "/nonexistent/dev",
                .udev_data = "/nonexistent/udev",
                .udev_ctl = "/nonexistent/control",
        };

        if (over) {
                r.dev = over->dev ?: r.dev;
                r.udev_data = over->udev_data ?: r.udev_data;
                r.udev_ctl = over->udev_ctl ?: r.udev_ctl;
                if (over->sysfs)
                        r.sysfs = over->sysfs;
        }
        assert_int_equal(session_detail_read(&r, sid, d), 0);
}

static void check_problem(const char *problem, const char *want)
{
        char buf[256];

        if (isempty(want)) {
                assert_string_equal(problem, "");
                return;
        }
        assert_true(strlen(want) < sizeof(buf));
        strcpy(buf, want);
        for (char *part = strtok(buf, ";"); part; part = strtok(NULL, ";"))
                if (!strstr(problem, part)) {
                        print_error("'%s' not in problem '%s'\n", part, problem);
                        fail();
                }
}

static void test_session_detail_logged_in_two_luns(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {};
        const struct session_lun *l;

        (void)state;
        read_detail("lun-sessions", NULL, 1, &d);
        assert_int_equal(d.info.sid, 1);
        assert_string_equal(d.info.target, "iqn.2003-01.org.example:lun1");
        assert_string_equal(d.info.state, "LOGGED_IN");
        assert_string_equal(d.info.address, "10.0.0.1");
        assert_int_equal(d.info.port, 3260);
        assert_int_equal(d.info.host_no, 2);
        assert_string_equal(d.info.problem, "");
        assert_string_equal(d.target_state, "SCANNED");
        assert_int_equal(d.target_id, 0);
        assert_int_equal(d.creator, 4242);
        assert_false(d.boot);
        assert_string_equal(d.initiator, "iqn.2004-10.com.example:test-initiator");
        /* connection 0 */
        assert_string_equal(d.conn_state, "up");
        assert_string_equal(d.cur_address, "10.0.0.1");
        assert_int_equal(d.cur_port, 3260);
        assert_int_equal(d.local_port, 51234);
        /* host2: hwaddress "(null)" */
        assert_string_equal(d.local_address, "10.0.4.2");
        assert_string_equal(d.netdev, "eth1");
        assert_string_equal(d.hwaddress, "");
        assert_string_equal(d.transport, "iscsi_tcp");
        /* negotiated and timeouts */
        assert_string_equal(d.header_digest, "None");
        assert_string_equal(d.data_digest, "None");
        assert_int_equal(d.max_recv_dlength, 262144);
        assert_int_equal(d.max_xmit_dlength, 8192);
        assert_int_equal(d.first_burst_len, 262144);
        assert_int_equal(d.max_burst_len, 16776192);
        assert_int_equal(d.initial_r2t, 0);
        assert_int_equal(d.immediate_data, 1);
        assert_int_equal(d.erl, 0);
        assert_int_equal(d.recovery_tmo, 120);
        assert_int_equal(d.abort_tmo, 15);
        assert_int_equal(d.lu_reset_tmo, 30);
        assert_int_equal(d.tgt_reset_tmo, 30);
        assert_int_equal(d.ping_tmo, 5);
        assert_int_equal(d.recv_tmo, 5);
        assert_int_equal(d.chap_out, 0); /* username "(null)" */
        assert_int_equal(d.chap_in, 0);
        assert_false(d.udev_running);

        assert_int_equal(d.n_luns, 2);
        /* LUN 0: a storage array controller, no block device */
        l = &d.luns[0];
        assert_int_equal(l->lun, 0);
        assert_string_equal(l->lun_sam, "0000000000000000");
        assert_string_equal(l->hctl, "2:0:0:0");
        assert_string_equal(l->state, "running");
        assert_int_equal(l->type, 12);
        assert_string_equal(l->vendor, "LIO-ORG"); /* the kernel's blank padding is gone */
        assert_string_equal(l->model, "RAID-CTRL");
        assert_string_equal(l->rev, "4.0");
        assert_string_equal(l->block, "");
        assert_int_equal(l->major, 0);
        assert_int_equal(l->minor, 0);
        assert_true(l->size_bytes == SESSION_UNKNOWN_U64);
        assert_false(l->dev_node);
        assert_string_equal(l->sg, "sg0");
        assert_int_equal(l->n_holders, 0);
        assert_false(l->udev_done);
        assert_int_equal(l->n_links, 0);
        /* LUN 1: sdb, its partition sdb1, and multipath's dm-0 on sdb1 */
        l = &d.luns[1];
        assert_int_equal(l->lun, 1);
        assert_string_equal(l->lun_sam, "0001000000000000");
        assert_string_equal(l->hctl, "2:0:0:1");
        assert_int_equal(l->type, 0);
        assert_string_equal(l->model, "disk1");
        assert_string_equal(l->wwid, WWID1);
        assert_string_equal(l->block, "sdb");
        assert_int_equal(l->major, 8);
        assert_int_equal(l->minor, 16);
        assert_true(l->size_bytes == 131072ULL * 512);
        assert_string_equal(l->sg, "sg1");
        assert_true(l->ioerr_cnt == 3);
        assert_true(l->iotmo_cnt == 1);
        assert_int_equal(l->n_holders, 2);
        assert_int_equal(l->holders[0].kind, SESSION_HOLDER_PARTITION);
        assert_string_equal(l->holders[0].name, "sdb1");
        assert_string_equal(l->holders[0].of, "sdb");
        assert_int_equal(l->holders[0].major, 8);
        assert_int_equal(l->holders[0].minor, 17);
        assert_string_equal(l->holders[0].dm_name, "");
        assert_int_equal(l->holders[1].kind, SESSION_HOLDER_DM);
        assert_string_equal(l->holders[1].name, "dm-0");
        assert_string_equal(l->holders[1].of, "sdb1");
        assert_string_equal(l->holders[1].dm_name, "mpatha");
        assert_string_equal(l->holders[1].dm_uuid, "mpath-36001405a1b2c3d4e5f60718293a4b5c6");
        assert_int_equal(l->holders[1].major, 254);
        assert_int_equal(l->holders[1].minor, 0);
        assert_string_equal(session_holder_kind_to_string(l->holders[1].kind), "dm");
}

static void test_session_detail_free_without_luns(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {}, g = {};

        (void)state;
        read_detail("lun-sessions", NULL, 2, &d);
        assert_string_equal(d.info.state, "FREE");
        assert_string_equal(d.target_state, "UNBOUND");
        assert_int_equal(d.target_id, -1); /* no target yet */
        assert_int_equal(d.creator, -1);   /* the kernel's: an iBFT boot session */
        assert_true(d.boot);
        assert_string_equal(d.conn_state, "bound");
        assert_int_equal(d.local_port, 0);
        /* host3: ipaddress "(null)", netdev and hwaddress "<NULL>" */
        assert_string_equal(d.local_address, "");
        assert_string_equal(d.netdev, "");
        assert_string_equal(d.hwaddress, "");
        assert_string_equal(d.transport, "iscsi_tcp");
        assert_int_equal(d.n_luns, 0);
        assert_null(d.luns);
        assert_string_equal(d.info.problem, "");

        /* golden S's session: a target directory with no SCSI device in it */
        read_detail("s01", NULL, 1, &g);
        assert_string_equal(g.info.state, "LOGGED_IN");
        assert_int_equal(g.info.host_no, 3);
        assert_string_equal(g.local_address, "127.0.0.1");
        assert_int_equal(g.n_luns, 0);
        assert_string_equal(g.info.problem, "");
}

static void test_session_detail_lun_over_255(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {};

        (void)state;
        read_detail("lun-sessions", NULL, 3, &d);
        assert_int_equal(d.target_id, 7);
        assert_string_equal(d.hwaddress, "52:54:00:12:34:56");
        assert_int_equal(d.n_luns, 2);
        /* int_to_scsilun(): LUN 256 is 0x0100 in the first level; flat space LUN 256 (0x4100)
         * is Linux LUN 16640 */
        assert_int_equal(d.luns[0].lun, 256);
        assert_string_equal(d.luns[0].lun_sam, "0100000000000000");
        assert_string_equal(d.luns[0].hctl, "4:0:7:256");
        assert_string_equal(d.luns[0].block, "sdc");
        assert_int_equal(d.luns[1].lun, 16640);
        assert_string_equal(d.luns[1].lun_sam, "4100000000000000");
        assert_string_equal(d.luns[1].hctl, "4:0:7:16640");
        assert_string_equal(d.luns[1].block, "sdd");
        assert_int_equal(d.luns[1].major, 8);
        assert_int_equal(d.luns[1].minor, 48);
        assert_string_equal(d.info.problem, "");
}

/* session 4 of lun-sessions as the tree has it; false (and why on stderr) if d differs */
static bool many_luns_ok(const struct session_detail *d)
{
        static const struct {
                uint64_t lun;
                const char *sam, *block, *state;
                unsigned minor;
                uint64_t ioerr;
        } want[] = {
                { 0, "0000000000000000", "sde", "running", 64, 0 },
                { 2, "0002000000000000", "sdf", "offline", 80, 0x1f },
                { 3, "0003000000000000", "sdh", "running", 112, 0 },
                { 10, "000a000000000000", "sdg", "running", 96, 0 },
        };

#define CHECK(x)                                                                                   \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x);                    \
                        return false;                                                              \
                }                                                                                  \
        } while (0)

        CHECK(streq(d->info.target, "iqn.2003-01.org.example:many"));
        CHECK(streq(d->info.state, "LOGGED_IN"));
        CHECK(streq(d->info.address, "fd00::1"));
        CHECK(streq(d->info.problem, ""));
        CHECK(d->chap_out == 1 && d->chap_in == 1);
        CHECK(streq(d->header_digest, "CRC32C") && streq(d->data_digest, "None"));
        CHECK(d->initial_r2t == 1 && d->immediate_data == 0 && d->erl == 1);
        CHECK(streq(d->local_address, "fd00::2") && streq(d->netdev, "eth2"));
        CHECK(d->n_luns == ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                const struct session_lun *l = &d->luns[i];

                CHECK(l->lun == want[i].lun);
                CHECK(streq(l->lun_sam, want[i].sam));
                CHECK(streq(l->block, want[i].block));
                CHECK(streq(l->state, want[i].state));
                CHECK(l->major == 8 && l->minor == want[i].minor);
                CHECK(l->size_bytes == 8192ULL * 512);
                CHECK(l->ioerr_cnt == want[i].ioerr && l->iotmo_cnt == 0);
                CHECK(l->n_holders == 0);
        }
        return true;
#undef CHECK
}

static void test_session_detail_several_luns_and_chap(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {};

        (void)state;
        /* 5:0:0:10 comes before 5:0:0:2 in the directory: sorted by LUN */
        read_detail("lun-sessions", NULL, 4, &d);
        assert_true(many_luns_ok(&d));
}

static void test_session_detail_udev_and_dev_node(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {}, big = {};
        struct tmp t;
        _cleanup_free_ char *udev = NULL, *dev = NULL, *ctl = NULL, *many = NULL;
        struct session_roots roots = {};
        const struct session_lun *l;
        bool nodes;

        (void)state;
        tmp_new(&t);
        assert_true(asprintf(&udev, "%s/udev", t.dir) >= 0);
        assert_true(asprintf(&dev, "%s/dev", t.dir) >= 0);
        assert_true(asprintf(&ctl, "%s/control", t.dir) >= 0);
        tmp_put(t.dir, "udev/b8:16",
                "S:disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2003-01.org.example:lun1-lun-1\n"
                "S:disk/by-id/wwn-0x6001405a1b2c3d4e5f60718293a4b5c6\n"
                "S:../../etc/passwd\n"
                "S:/etc/shadow\n"
                "S:disk/by-label/a\x01"
                "b\n"
                "S:disk/by-label/x..y\n"
                "E:ID_SERIAL=36001405a1b2c3d4e5f60718293a4b5c6\n"
                "L:0\n");
        tmp_put(t.dir, "control", "");
        tmp_put(t.dir, "dev", NULL);
        /* sdb is the right node; sdc has another device number; sdd a link to a node */
        nodes = tmp_mknod(t.dir, "dev/sdb", 8, 16);
        if (nodes) {
                assert_true(tmp_mknod(t.dir, "dev/sdc", 8, 99));
                assert_true(tmp_mknod(t.dir, "dev/real-sdd", 8, 48));
        }

        roots = (struct session_roots){ .dev = dev, .udev_data = udev, .udev_ctl = ctl };
        read_detail("lun-sessions", &roots, 1, &d);
        assert_true(d.udev_running);
        l = &d.luns[1];
        assert_string_equal(l->block, "sdb");
        assert_true(l->udev_done);
        assert_int_equal(l->n_links, 3);
        assert_string_equal(
                l->links[0],
                "/dev/disk/by-path/ip-10.0.0.1:3260-iscsi-iqn.2003-01.org.example:lun1-lun-1");
        assert_string_equal(l->links[1], "/dev/disk/by-id/wwn-0x6001405a1b2c3d4e5f60718293a4b5c6");
        assert_string_equal(l->links[2], "/dev/disk/by-label/x..y"); /* ".." only as a name */
        check_problem(d.info.problem, "udev b8:16: a link that is no safe path");
        assert_false(d.luns[0].udev_done); /* no block device */
        assert_int_equal(l->dev_node, nodes);

        /* over 64 links: the first 64 */
        many = calloc(80, 64);
        assert_non_null(many);
        for (int i = 0; i < 80; i++)
                (void)sprintf(many + strlen(many), "S:disk/by-id/link-%d\n", i);
        tmp_put(t.dir, "udev/b8:32", many);
        if (nodes) {
                _cleanup_free_ char *link = NULL;

                assert_true(asprintf(&link, "%s/sdd", dev) >= 0);
                assert_int_equal(symlink("real-sdd", link), 0);
        }
        read_detail("lun-sessions", &roots, 3, &big);
        assert_true(big.luns[0].udev_done);
        assert_int_equal(big.luns[0].n_links, 64);
        assert_string_equal(big.luns[0].links[63], "/dev/disk/by-id/link-63");
        check_problem(big.info.problem, "udev b8:32: over 64 links");
        assert_false(big.luns[0].dev_node); /* sdc: 8:99 is not 8:32 */
        assert_false(big.luns[1].dev_node); /* sdd: a symlink is no device node */
        assert_false(big.luns[1].udev_done);
        tmp_done(&t);
}

/*
 * The tree with every password and password_in at mode 0000; the child reads session 4 (CHAP
 * usernames set) as uid/gid 65534 when it starts as root, so the files are EACCES to it either
 * way. 0 when the whole session reads as it should.
 */
static int unprivileged_child(const char *root, const char *password, bool as_root)
{
        struct session_roots r = { .sysfs = root,
                                   .dev = "/nonexistent/dev",
                                   .udev_data = "/nonexistent/udev",
                                   .udev_ctl = "/nonexistent/control" };
        struct session_detail d = {};
        bool ok;
        int fd;

        if (as_root && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
                return 98;
        fd = open(password, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 || errno != EACCES)
                return 97; /* the test would prove nothing */
        if (session_detail_read(&r, 4, &d) != 0)
                return 1;
        ok = many_luns_ok(&d);
        session_detail_done(&d);
        return ok ? 0 : 2;
}

static void test_session_detail_never_opens_passwords(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {};
        _cleanup_free_ char *src = tree_path("lun-sessions"), *cmd = NULL, *root = NULL, *pw = NULL,
                            *pw_in = NULL;
        const char *sd = "devices/platform/host5/session4/iscsi_session/session4";
        struct session_roots roots = {};
        char ev[4096];
        struct tmp t;
        int fd, status;
        pid_t pid;

        (void)state;
        tmp_new(&t);
        assert_true(asprintf(&root, "%s/sys", t.dir) >= 0);
        assert_true(asprintf(&cmd, "cp -a '%s' '%s'", src, root) >= 0);
        assert_int_equal(system(cmd), 0);
        free(src); /* the forked child must not see it as a leak (valgrind) */
        src = NULL;
        assert_true(asprintf(&pw, "%s/%s/password", root, sd) >= 0);
        assert_true(asprintf(&pw_in, "%s/%s/password_in", root, sd) >= 0);

        /* root would open a 0000 file: watch whether anything opens them at all */
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(inotify_add_watch(fd, pw, IN_OPEN | IN_ACCESS) >= 0);
        assert_true(inotify_add_watch(fd, pw_in, IN_OPEN | IN_ACCESS) >= 0);
        free(cmd);
        assert_true(asprintf(&cmd, "find '%s' -name 'password*' -exec chmod 0000 {} +", root) >= 0);
        assert_int_equal(system(cmd), 0);

        roots.sysfs = root;
        read_detail("lun-sessions", &roots, 4, &d);
        assert_true(many_luns_ok(&d));
        assert_int_equal(read(fd, ev, sizeof(ev)), -1);
        assert_int_equal(errno, EAGAIN);
        (void)close(fd);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(unprivileged_child(root, pw, geteuid() == 0));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        tmp_done(&t);
}

static const struct session_use *find_use(const struct session_use *u, size_t n,
                                          enum session_use_kind kind, const char *device,
                                          const char *what)
{
        for (size_t i = 0; i < n; i++)
                if (u[i].kind == kind && streq(u[i].device, device) && streq(u[i].what, what))
                        return &u[i];
        print_error("no %s use of %s by '%s'\n", session_use_kind_to_string(kind), device, what);
        for (size_t i = 0; i < n; i++)
                print_error("  have %s %s '%s'\n", session_use_kind_to_string(u[i].kind),
                            u[i].device, u[i].what);
        fail();
        return NULL;
}

static void fd_link(const char *proc, const char *rel, const char *target)
{
        _cleanup_free_ char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", proc, rel) >= 0);
        assert_int_equal(symlink(target, p), 0);
}

static void test_session_uses_fake_proc(void **state)
{
        _cleanup_(session_detail_done) struct session_detail d = {}, free_d = {};
        _cleanup_free_ char *proc = NULL, *swaps = NULL, *node = NULL, *swap_what = NULL;
        _cleanup_free_ struct session_use *u = NULL;
        struct session_use *none = (struct session_use *)&none;
        size_t n = 99;
        bool nodes;
        struct tmp t;

        (void)state;
        tmp_new(&t);
        read_detail("lun-sessions", NULL, 1, &d);
        assert_true(asprintf(&proc, "%s/proc", t.dir) >= 0);

        /* no proc at all: unknown is not "unused" */
        assert_int_equal(session_uses(&d, proc, &u, &n), -ENOENT);
        assert_int_equal(n, 99);
        tmp_put(proc, "1/comm", "init\n"); /* no self/mountinfo */
        assert_int_equal(session_uses(&d, proc, &u, &n), -ENOENT);

        tmp_put(proc, "self/mountinfo",
                "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                "36 25 8:17 / /mnt/data\\040dir rw,relatime shared:2 - ext4 /dev/sdb1 rw\n"
                "37 25 254:0 / /srv/mp\xc3\xa9 rw shared:3 - xfs /dev/mapper/mpatha rw\n"
                "garbage\n"
                "38 25 8:17 /sub /mnt/bind rw - ext4 /dev/sdb1 rw\n"
                "39 25 8:17 / /mnt/bind rw - ext4 /dev/sdb1 rw\n");
        nodes = tmp_mknod(t.dir, "swap dev", 8, 16);
        assert_true(asprintf(&swap_what, "%s/swap\\040dev", t.dir) >= 0);
        assert_true(asprintf(&swaps,
                             "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                             "/dev/dm-0                               partition\t1048572\t0\t-2\n"
                             "%s partition\t1048572\t0\t-3\n"
                             "/swapfile                               file\t\t1024\t0\t-4\n",
                             swap_what) >= 0);
        tmp_put(proc, "swaps", swaps);
        /* pid 4194305 has sdb1 open as fd 3, /dev/null as 4, a vanished file as 5; 4194307, with
         * a control character in its name, has sdb open; 4194306 has no fd/ (it exited) */
        tmp_put(proc, "4194305/comm", "fio\n");
        tmp_put(proc, "4194305/fd", NULL);
        tmp_put(proc, "4194307/comm", "ev\x01il\n");
        tmp_put(proc, "4194307/fd", NULL);
        tmp_put(proc, "4194306/comm", "gone\n");
        if (nodes) {
                assert_true(tmp_mknod(t.dir, "part", 8, 17));
                assert_true(tmp_mknod(t.dir, "disk", 8, 16));
        }
        assert_true(asprintf(&node, "%s/part", t.dir) >= 0);
        fd_link(proc, "4194305/fd/3", node);
        fd_link(proc, "4194305/fd/4", "/dev/null");
        fd_link(proc, "4194305/fd/5", "/nonexistent/deleted");
        free(node);
        assert_true(asprintf(&node, "%s/disk", t.dir) >= 0);
        fd_link(proc, "4194307/fd/0", node);

        assert_int_equal(session_uses(&d, proc, &u, &n), 0);
        assert_int_equal(n, nodes ? 8 : 5);
        /* the holder comes first; the rest in the order found */
        assert_int_equal(u[0].kind, SESSION_USE_HOLDER);
        assert_string_equal(u[0].device, "sdb1");
        assert_string_equal(u[0].what, "mpatha");
        assert_int_equal(u[0].lun, 1);
        find_use(u, n, SESSION_USE_MOUNT, "sdb1", "/mnt/data\\040dir");
        find_use(u, n, SESSION_USE_MOUNT, "dm-0", "/srv/mp\\303\\251");
        find_use(u, n, SESSION_USE_MOUNT, "sdb1", "/mnt/bind"); /* once */
        find_use(u, n, SESSION_USE_SWAP, "dm-0", "/dev/dm-0");
        if (nodes) {
                find_use(u, n, SESSION_USE_SWAP, "sdb", swap_what);
                find_use(u, n, SESSION_USE_OPEN, "sdb1", "pid 4194305 (fio)");
                find_use(u, n, SESSION_USE_OPEN, "sdb", "pid 4194307 (ev\\001il)");
        }
        for (size_t i = 0; i < n; i++)
                assert_int_equal(u[i].lun, 1);
        assert_string_equal(session_use_kind_to_string(SESSION_USE_MOUNT), "mount");
        assert_string_equal(session_use_kind_to_string(SESSION_USE_SWAP), "swap");
        assert_string_equal(session_use_kind_to_string(SESSION_USE_HOLDER), "holder");
        assert_string_equal(session_use_kind_to_string(SESSION_USE_OPEN), "open");

        /* a session without block devices uses nothing, whatever proc holds */
        read_detail("lun-sessions", NULL, 2, &free_d);
        assert_int_equal(session_uses(&free_d, "/nonexistent/proc", &none, &n), 0);
        assert_null(none);
        assert_int_equal(n, 0);
        tmp_done(&t);
}

static void test_session_detail_hostile_luns(void **state)
{
        _cleanup_(session_detail_done) struct session_detail a = {}, b = {}, c = {};
        _cleanup_free_ struct session_use *u = NULL;
        size_t n;

        (void)state;
        /* a binary state, a wwid over 255 bytes, a holder link out of the tree; and directories
         * that are no SCSI device of the session (2:0:0:01, 2:0:0:x, 3:0:0:5, power) */
        read_detail("lun-garbled", NULL, 1, &a);
        check_problem(a.info.problem, "lun 0 state: not printable text;"
                                      "lun 0 wwid: longer than 255 bytes;"
                                      "sdb/holders/evil: leads out of the tree");
        assert_int_equal(a.n_luns, 1);
        assert_string_equal(a.luns[0].state, "");
        assert_string_equal(a.luns[0].wwid, "");
        assert_string_equal(a.luns[0].block, "sdb");
        assert_int_equal(a.luns[0].n_holders, 1);
        assert_string_equal(a.luns[0].holders[0].name, "dm-1");
        assert_string_equal(a.luns[0].holders[0].dm_name, "vg0-lv0");
        assert_string_equal(a.luns[0].holders[0].dm_uuid, "LVM-0123456789abcdef");
        assert_int_equal(session_uses(&a, "/nonexistent/proc", &u, &n), -ENOENT);

        /* a type and a counter that are no numbers; a SCSI device link out of the tree */
        read_detail("lun-garbled", NULL, 2, &b);
        check_problem(b.info.problem, "lun 1 type: not a number in range;"
                                      "lun 1 ioerr_cnt: not a number;"
                                      "3:0:0:7: leads out of the tree");
        assert_int_equal(b.n_luns, 2);
        assert_int_equal(b.luns[0].type, -1);
        assert_true(b.luns[0].ioerr_cnt == SESSION_UNKNOWN_U64);
        assert_true(b.luns[0].iotmo_cnt == 0);
        assert_string_equal(b.luns[0].block, "sdc");
        assert_int_equal(b.luns[1].lun, 7);
        assert_string_equal(b.luns[1].state, "");
        assert_string_equal(b.luns[1].block, "");

        /* a dev that is no device number, an absolute holder link */
        read_detail("lun-garbled", NULL, 3, &c);
        check_problem(c.info.problem, "sdd dev: not a device number;"
                                      "sdd/holders/abs: leads out of the tree");
        assert_string_equal(c.luns[0].block, "sdd");
        assert_int_equal(c.luns[0].major, 0);
        assert_int_equal(c.luns[0].minor, 0);
        assert_true(c.luns[0].size_bytes == 2048ULL * 512);
        assert_int_equal(c.luns[0].n_holders, 0);
}

static void test_session_detail_errors(void **state)
{
        _cleanup_free_ char *root = tree_path("lun-sessions");
        struct session_roots roots = { .sysfs = root };
        struct session_detail d = { .target_id = 42 };
        struct session_use *u = NULL;
        size_t n = 99;

        (void)state;
        assert_int_equal(session_detail_read(&roots, 1, NULL), -EINVAL);
        assert_int_equal(session_detail_read(&roots, 9, &d), -ENOENT);
        /* session8 of sessions-garbled: its device is gone, the class link dangles */
        free(root);
        root = tree_path("sessions-garbled");
        roots.sysfs = root;
        assert_int_equal(session_detail_read(&roots, 8, &d), -ENOENT);
        roots.sysfs = "/nonexistent/sysfs";
        assert_int_equal(session_detail_read(&roots, 1, &d), -ENOENT);
        assert_int_equal(d.target_id, 42); /* untouched on failure */
        assert_int_equal(session_uses(NULL, NULL, &u, &n), -EINVAL);
        assert_int_equal(session_uses(&d, NULL, NULL, &n), -EINVAL);
        assert_int_equal(session_uses(&d, NULL, &u, NULL), -EINVAL);
        assert_string_equal(session_holder_kind_to_string(SESSION_HOLDER_PARTITION), "partition");
        assert_string_equal(session_holder_kind_to_string(SESSION_HOLDER_MD), "md");
        assert_string_equal(session_holder_kind_to_string(SESSION_HOLDER_OTHER), "other");
        session_detail_done(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_session_list_golden_s),
                cmocka_unit_test(test_session_list_links_stored_as_files),
                cmocka_unit_test(test_session_list_several_sorted_by_sid),
                cmocka_unit_test(test_session_list_hostile_values),
                cmocka_unit_test(test_session_list_none),
                cmocka_unit_test(test_session_list_errors),
                cmocka_unit_test(test_session_find_golden_s10),
                cmocka_unit_test(test_session_find_ipv6_and_unknowns),
                cmocka_unit_test(test_session_address_equal),
                cmocka_unit_test(test_session_detail_logged_in_two_luns),
                cmocka_unit_test(test_session_detail_free_without_luns),
                cmocka_unit_test(test_session_detail_lun_over_255),
                cmocka_unit_test(test_session_detail_several_luns_and_chap),
                cmocka_unit_test(test_session_detail_udev_and_dev_node),
                cmocka_unit_test(test_session_detail_never_opens_passwords),
                cmocka_unit_test(test_session_uses_fake_proc),
                cmocka_unit_test(test_session_detail_hostile_luns),
                cmocka_unit_test(test_session_detail_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
