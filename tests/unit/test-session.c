/* SPDX-License-Identifier: MIT */
/*
 * engine/session.c against the fake sysfs trees of tests/fixtures/sysfs (see its README.md): the
 * logged-in session of golden scenario S (s01, and s01-flat where links are files), several
 * sessions (sessions), hostile ones (sessions-garbled), and session_find()'s matching.
 */
#include <errno.h>
#include <fcntl.h>
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
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
