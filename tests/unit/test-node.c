/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/node.c against the real iscsiadm 2.1.8: every node file in the golden DB
 * dumps of scenarios C, D, E, G and S (tests/fixtures/golden/) is parsed and must render back
 * byte for byte; then the refusals of the parser.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "macro.h"
#include "node.h"

#define GOLDEN_DIR "/tests/fixtures/golden"

static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0, cap = 0, n;

        if (!f)
                return NULL;
        do {
                if (len + 4096 > cap) {
                        cap = cap ? cap * 2 : 65536;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
        } while (n > 0);
        fclose(f);
        buf[len] = 0;
        *ret_len = len;
        return buf;
}

/*
 * Check every regular file under ./nodes/ of one db_after dump: "== ./nodes/T/P/I (mode 600)"
 * (new style) or "== ./nodes/T/ip,port (mode 600)" (old style), its content up to the next "==".
 */
static size_t check_dump(const char *path)
{
        _cleanup_free_ char *dump = NULL;
        size_t len = 0, checked = 0;
        char *p;

        dump = slurp(path, &len);
        assert_non_null(dump);
        for (p = dump; (p = strstr(p, "== ./nodes/"));) {
                char *eol = strchr(p, '\n'), *end, *content;
                struct node_rec rec = {};
                struct iface_error err = {};
                char *out = NULL;
                size_t out_len = 0;
                int r;

                assert_non_null(eol);
                /* directories end in "/ (mode 700)" and symlinks say so; only files count */
                if (!strstr(p, " (mode 600)") || strstr(p, " (mode 600)") > eol) {
                        p = eol;
                        continue;
                }
                content = eol + 1;
                end = strstr(content, "\n== ");
                end = end ? end + 1 : dump + len;

                r = node_parse_file(content, (size_t)(end - content), &rec, &err);
                if (r < 0)
                        fail_msg("%s: %.*s: %s", path, (int)(eol - p), p, err.reason);
                assert_int_equal(node_render_file(&rec, &out, &out_len), 0);
                if (out_len != (size_t)(end - content) || memcmp(out, content, out_len) != 0)
                        fail_msg("%s: %.*s renders differently:\n%s\n--- iscsiadm wrote:\n%.*s",
                                 path, (int)(eol - p), p, out, (int)(end - content), content);
                free(out);
                node_rec_done(&rec);
                checked++;
                p = end;
        }
        return checked;
}

/* Run check on the db_after dump of every case of scenarios C, D, E, G, S; count what it checked. */
static size_t for_each_dump(size_t (*check)(const char *path), size_t *ret_dumps)
{
        static const char *const scenarios[] = { "C", "D", "E", "G", "S" };
        const char *src = getenv("SOURCE_ROOT");
        size_t files = 0, dumps = 0;

        for (size_t s = 0; s < ELEMENTSOF(scenarios); s++) {
                _cleanup_free_ char *dir = NULL;
                struct dirent **cases = NULL;
                int n;

                assert_true(asprintf(&dir, "%s%s/%s", src, GOLDEN_DIR, scenarios[s]) > 0);
                n = scandir(dir, &cases, NULL, alphasort);
                assert_true(n > 0);
                for (int i = 0; i < n; i++) {
                        _cleanup_free_ char *path = NULL;

                        if (cases[i]->d_name[0] != '.') {
                                assert_true(asprintf(&path, "%s/%s/db_after", dir,
                                                     cases[i]->d_name) > 0);
                                files += check(path);
                                dumps++;
                        }
                        free(cases[i]);
                }
                free(cases);
        }
        if (ret_dumps)
                *ret_dumps = dumps;
        return files;
}

static void test_node_golden_round_trip(void **state)
{
        size_t files, dumps = 0;

        (void)state;
        if (!getenv("SOURCE_ROOT")) {
                print_message("SOURCE_ROOT is not set: run through meson\n");
                skip();
        }
        files = for_each_dump(check_dump, &dumps);
        print_message("node files rendered back byte for byte: %zu (from %zu dumps)\n", files,
                      dumps);
        assert_true(dumps >= 50);
        assert_true(files >= 100);
}

/* The content of the file "== ./<name> (mode 600)" in the db_after dump of case dir. */
static char *dump_file(const char *scase, const char *name, size_t *ret_len)
{
        _cleanup_free_ char *path = NULL, *dump = NULL, *hdr = NULL;
        const char *src = getenv("SOURCE_ROOT");
        char *p, *end, *out;
        size_t len = 0;

        assert_non_null(src);
        assert_true(asprintf(&path, "%s%s/%s/db_after", src, GOLDEN_DIR, scase) > 0);
        assert_true(asprintf(&hdr, "== ./%s (mode 600)\n", name) > 0);
        dump = slurp(path, &len);
        assert_non_null(dump);
        p = strstr(dump, hdr);
        assert_non_null(p);
        p += strlen(hdr);
        end = strstr(p, "\n== ");
        end = end ? end + 1 : dump + len;
        out = strndup(p, (size_t)(end - p));
        assert_non_null(out);
        *ret_len = (size_t)(end - p);
        return out;
}

/* Build a node record from defaults as iscsiadm would, and compare with what it wrote. */
static void check_new(const char *scase, const char *conf, const char *node_file,
                      const char *target, const char *address, int port, int tpgt,
                      enum node_disc disc, const char *disc_address, int disc_port)
{
        _cleanup_free_ char *want = NULL, *ifdata = NULL, *out = NULL;
        struct node_rec defaults = {}, rec = {};
        struct iface_rec iface = {};
        struct iface_error err = {};
        size_t want_len = 0, if_len = 0, out_len = 0;

        if (!getenv("SOURCE_ROOT"))
                skip();
        want = dump_file(scase, node_file, &want_len);
        ifdata = dump_file(scase, "ifaces/iface0", &if_len);
        assert_int_equal(iface_parse_file("iface0", ifdata, if_len, &iface, &err), 0);
        assert_int_equal(node_defaults(conf, conf ? strlen(conf) : 0, &defaults, &err), 0);
        assert_int_equal(node_rec_new(&defaults, target, address, port, tpgt, disc, disc_address,
                                      disc_port, &iface, &rec),
                         0);
        assert_int_equal(node_render_file(&rec, &out, &out_len), 0);
        if (out_len != want_len || memcmp(out, want, want_len) != 0)
                fail_msg("%s: %s built from defaults differs:\n%s\n--- iscsiadm wrote:\n%s", scase,
                         node_file, out, want);
        node_rec_done(&defaults);
        node_rec_done(&rec);
        iface_rec_done(&iface);
}

/* `iscsiadm -m node -o new -p 127.0.0.2:3260 -I iface0` without iscsid: compiled defaults. */
static void test_node_new_compiled_defaults(void **state)
{
        (void)state;
        check_new("C/C12_static_add_I", NULL,
                  "nodes/iqn.2003-01.org.example:static1/127.0.0.2,3260",
                  "iqn.2003-01.org.example:static1", "127.0.0.2", 3260, -1, NODE_DISC_STATIC, NULL,
                  0);
}

/* Discovery through iface0 with iscsid answering: iscsid.conf's node keys win. */
static void test_node_new_conf_defaults(void **state)
{
        static const char conf[] = "# iscsid.conf, the keys that differ from the compiled ones\n"
                                   "iscsid.startup = /bin/systemctl start iscsid.socket\n"
                                   "node.startup = manual\n"
                                   "node.session.cmds_max = 64\n"
                                   "  node.session.initial_login_retry_max = 8  \n"
                                   "node.conn[0].timeo.login_timeout = 15\n"
                                   "discovery.sendtargets.auth.authmethod = None\n"
                                   "node.name = not-for-defaults\n"
                                   "node.session.unknown_key = 1\n";

        (void)state;
        check_new("D/D01_discovery_I_iface0", conf,
                  "nodes/iqn.2003-01.org.example:disk1/127.0.0.1,3260,1/iface0",
                  "iqn.2003-01.org.example:disk1", "127.0.0.1", 3260, 1, NODE_DISC_SENDTARGETS,
                  "127.0.0.1", 3260);
}

static void test_node_conf_refusal(void **state)
{
        struct node_rec d = {};
        struct iface_error err = {};
        static const char conf[] = "node.session.cmds_max = lots\n";

        (void)state;
        assert_int_equal(node_defaults(conf, strlen(conf), &d, &err), -EBADMSG);
        assert_non_null(strstr(err.reason, "line 1"));
        node_rec_done(&d);
}

/* Every send_targets/<portal>/st_config of one dump renders back byte for byte. */
static size_t check_st_dump(const char *path)
{
        _cleanup_free_ char *dump = NULL;
        size_t len = 0, checked = 0;
        char *p;

        dump = slurp(path, &len);
        assert_non_null(dump);
        for (p = dump; (p = strstr(p, "/st_config (mode 600)\n"));) {
                char *content = strchr(p, '\n') + 1, *end = strstr(content, "\n== ");
                struct st_rec rec = {};
                struct iface_error err = {};
                char *out = NULL;
                size_t out_len = 0;

                end = end ? end + 1 : dump + len;
                if (st_parse_file(content, (size_t)(end - content), &rec, &err) < 0)
                        fail_msg("%s: st_config: %s", path, err.reason);
                assert_int_equal(st_render_file(&rec, &out, &out_len), 0);
                if (out_len != (size_t)(end - content) || memcmp(out, content, out_len) != 0)
                        fail_msg("%s: st_config renders differently:\n%s", path, out);
                free(out);
                st_rec_done(&rec);
                checked++;
                p = end;
        }
        return checked;
}

static void test_st_golden_round_trip(void **state)
{
        size_t files;

        (void)state;
        if (!getenv("SOURCE_ROOT"))
                skip();
        files = for_each_dump(check_st_dump, NULL);
        print_message("st_config files rendered back byte for byte: %zu\n", files);
        assert_true(files >= 30);
}

/* The discovery record `iscsiadm -m discovery -t st -p 127.0.0.1` wrote, built from defaults. */
static void test_st_new(void **state)
{
        _cleanup_free_ char *want = NULL, *out = NULL;
        struct st_rec rec = {};
        struct iface_error err = {};
        size_t want_len = 0, out_len = 0;
        static const char conf[] = "discovery.sendtargets.auth.authmethod = None\n"
                                   "discovery.sendtargets.address = 10.9.9.9\n"
                                   "node.session.cmds_max = 64\n";

        (void)state;
        if (!getenv("SOURCE_ROOT"))
                skip();
        want = dump_file("D/D01_discovery_I_iface0", "send_targets/127.0.0.1,3260/st_config",
                         &want_len);
        assert_int_equal(st_rec_new(conf, strlen(conf), "127.0.0.1", 3260, &rec, &err), 0);
        assert_int_equal(st_render_file(&rec, &out, &out_len), 0);
        if (out_len != want_len || memcmp(out, want, want_len) != 0)
                fail_msg("built:\n%s\n--- iscsiadm wrote:\n%s", out, want);
        st_rec_done(&rec);

        /* an isns record, an unknown key: refused */
        {
                static const char isns[] = "discovery.type = isns\n"
                                           "discovery.sendtargets.address = 1.2.3.4\n"
                                           "discovery.sendtargets.port = 3260\n";

                assert_int_equal(st_parse_file(isns, strlen(isns), &rec, &err), -EBADMSG);
                assert_non_null(strstr(err.reason, "sendtargets"));
        }
        st_rec_done(&rec);
        assert_int_equal(st_parse_file("discovery.bogus = 1\n", 20, &rec, &err), -EBADMSG);
        st_rec_done(&rec);
}

static const char good[] = "# BEGIN RECORD 2.1.8\n"
                           "node.name = iqn.2003-01.org.example:disk1\n"
                           "node.tpgt = 1\n"
                           "node.startup = manual\n"
                           "iface.iscsi_ifacename = iface0\n"
                           "iface.transport_name = tcp\n"
                           "node.session.auth.chap_algs = SHA3-256,SHA256,SHA1,MD5\n"
                           "node.conn[0].address = 10.0.0.1\n"
                           "node.conn[0].port = 3260\n"
                           "# END RECORD\n";

static int parse_with(const char *key_line, const char *replace, struct iface_error *err)
{
        _cleanup_free_ char *text = NULL;
        struct node_rec rec = {};
        const char *at = strstr(good, replace);
        int r;

        assert_non_null(at);
        assert_true(asprintf(&text, "%.*s%s%s", (int)(at - good), good, key_line,
                             at + strlen(replace)) > 0);
        r = node_parse_file(text, strlen(text), &rec, err);
        node_rec_done(&rec);
        return r;
}

static void test_node_parse_refusals(void **state)
{
        static const struct {
                const char *line, *replaces, *why;
        } cases[] = {
                { "node.startup = sometimes\n", "node.startup = manual\n", "none of the values" },
                { "node.tpgt = 1x\n", "node.tpgt = 1\n", "not a decimal int" },
                { "node.tpgt = 99999999999\n", "node.tpgt = 1\n", "not a decimal int" },
                { "node.bogus = 1\nnode.tpgt = 1\n", "node.tpgt = 1\n", "unknown key" },
                { "node.tpgt = 1\nnode.tpgt = 2\n", "node.tpgt = 1\n", "duplicate key" },
                { "node.session.auth.chap_algs = MD4\n",
                  "node.session.auth.chap_algs = SHA3-256,SHA256,SHA1,MD5\n", "MD5, SHA1" },
                { "node.session.auth.chap_algs = MD5,MD5\n",
                  "node.session.auth.chap_algs = SHA3-256,SHA256,SHA1,MD5\n", "MD5, SHA1" },
                { "iface.mtu = 70000\n", "iface.transport_name = tcp\n", "range" },
                { "iface.nosuch = 1\n", "iface.transport_name = tcp\n", "unknown key" },
                { "no equals sign\n", "node.startup = manual\n", "no '='" },
                { "", "node.name = iqn.2003-01.org.example:disk1\n", "no node.name" },
                { "", "node.conn[0].address = 10.0.0.1\n", "no node.conn[0].address" },
                { "", "iface.iscsi_ifacename = iface0\n", "no iface.iscsi_ifacename" },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct iface_error err = {};

                assert_int_equal(parse_with(cases[i].line, cases[i].replaces, &err), -EBADMSG);
                if (!strstr(err.reason, cases[i].why))
                        fail_msg("case %zu: reason '%s' lacks '%s'", i, err.reason, cases[i].why);
        }
}

static void test_node_render_order(void **state)
{
        struct node_rec rec = {};
        struct iface_error err = {};
        char *out = NULL;
        size_t len = 0;

        (void)state;
        assert_int_equal(node_parse_file(good, strlen(good), &rec, &err), 0);
        assert_string_equal(rec.val[NODE_F_CHAP_ALGS], "SHA3-256,SHA256,SHA1,MD5");
        assert_string_equal(rec.iface.name, "iface0");
        assert_int_equal(node_render_file(&rec, &out, &len), 0);
        /* the iface keys sit between node.startup and the conn keys, all numbers written */
        assert_non_null(strstr(out, "node.startup = manual\niface.iscsi_ifacename = iface0\n"
                                    "iface.prefix_len = 0\niface.transport_name = tcp\n"));
        assert_non_null(strstr(out, "iface.max_burst_len = 0\nnode.session.auth.chap_algs"));
        assert_true(strncmp(out, "# BEGIN RECORD 2.1.8\n", 21) == 0);
        free(out);
        node_rec_done(&rec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_node_golden_round_trip),
                cmocka_unit_test(test_node_parse_refusals),
                cmocka_unit_test(test_node_render_order),
                cmocka_unit_test(test_node_new_compiled_defaults),
                cmocka_unit_test(test_node_new_conf_defaults),
                cmocka_unit_test(test_node_conf_refusal),
                cmocka_unit_test(test_st_golden_round_trip),
                cmocka_unit_test(test_st_new),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
