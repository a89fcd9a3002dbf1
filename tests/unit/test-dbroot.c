/* SPDX-License-Identifier: MIT */
/*
 * server/dbroot.c: the compiled-in db root read from fake iscsiadm binaries in a temp dir (both
 * distro kinds, none, ambiguous, hostile strings, a string across a read chunk, files that are
 * not binaries), then the whole rule: binary, else layout, else the fixed default, with reasons.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "server/dbroot.h"

/* Some bytes of a real ELF file around the strings, so runs are cut as in a binary. */
static const char elf_noise[] = "\x7f"
                                "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00"
                                "\x3e\x00\x01\x00\x00\x00\x10\x23\x00\x00\x00\x00\x00\x00";

struct fixture {
        char dir[256];
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(p);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/dbroot-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        (void)nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* "<dir>/<rel>", owned. */
static char *path_of(struct fixture *f, const char *rel)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", f->dir, rel) >= 0);
        return p;
}

static void mkdir_in(struct fixture *f, const char *rel)
{
        _cleanup_free_ char *p = path_of(f, rel);

        assert_int_equal(mkdir(p, 0700), 0);
}

/* Write rel: ELF noise, then each string of strs NUL-terminated (a C string table). */
static void write_binary_n(struct fixture *f, const char *rel, const char *const *strs, size_t n)
{
        _cleanup_free_ char *p = path_of(f, rel);
        FILE *fp = fopen(p, "we");

        assert_non_null(fp);
        assert_int_equal(fwrite(elf_noise, 1, sizeof(elf_noise), fp), sizeof(elf_noise));
        for (size_t i = 0; i < n; i++)
                assert_int_equal(fwrite(strs[i], 1, strlen(strs[i]) + 1, fp), strlen(strs[i]) + 1);
        assert_int_equal(fwrite(elf_noise, 1, sizeof(elf_noise), fp), sizeof(elf_noise));
        assert_int_equal(fclose(fp), 0);
}

#define write_binary(f, rel, ...)                                                                  \
        write_binary_n(f, rel, (const char *const[]){ __VA_ARGS__ },                               \
                       ELEMENTSOF(((const char *const[]){ __VA_ARGS__ })))

/* What Debian's and RHEL's iscsiadm hold (strings /usr/sbin/iscsiadm | grep /iscsi, 2.1.8). */
#define DEBIAN_STRINGS                                                                             \
        "/etc/iscsi/ifaces", "/etc/iscsi/send_targets", "/run/lock/iscsi", "/etc/iscsi/nodes",     \
                "/etc/iscsi", "/etc/iscsi/iscsid.conf", "/sys/class/iscsi_host"
#define RHEL_STRINGS                                                                               \
        "/var/lib/iscsi/ifaces", "/var/lib/iscsi/send_targets", "/run/lock/iscsi",                 \
                "/var/lib/iscsi/nodes", "/var/lib/iscsi", "/etc/iscsi/iscsid.conf",                \
                "/etc/iscsi/initiatorname.iscsi"

/* dbroot_from_binary() on one fake file; root is compared only when r == 0. */
static void expect_scan(struct fixture *f, const char *rel, int r, const char *root)
{
        _cleanup_free_ char *p = path_of(f, rel);
        char *got = (char *)"untouched";

        assert_int_equal(dbroot_from_binary(p, &got), r);
        if (r == 0) {
                assert_string_equal(got, root);
                free(got);
        } else
                assert_string_equal(got, "untouched");
}

static void test_dbroot_path_is_valid(void **state)
{
        static const struct {
                const char *p;
                bool ok;
        } cases[] = {
                { "/etc/iscsi", true },
                { "/var/lib/iscsi", true },
                { "/opt/open-iscsi_2.1+x/db.d", true },
                { "/", false },
                { "", false },
                { "etc/iscsi", false },
                { "/etc/iscsi/", false },
                { "/etc//iscsi", false },
                { "/etc/./iscsi", false },
                { "/etc/../tmp", false },
                { "/..", false },
                { "/etc/iscsi/.", false },
                { "/etc/i scsi", false },
                { "/etc/iscsi\n", false },
                { "/etc/is\x01csi", false },
                { "/etc/iscsi;rm", false },
                { "/etc/$HOME", false },
                { "/etc/\xc3\xa9", false },
        };
        char longest[DBROOT_PATH_MAX + 2];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (dbroot_path_is_valid(cases[i].p) != cases[i].ok)
                        fail_msg("dbroot_path_is_valid('%s') != %d", cases[i].p, cases[i].ok);
        assert_false(dbroot_path_is_valid(NULL));

        memset(longest, 'a', sizeof(longest));
        longest[0] = '/';
        longest[DBROOT_PATH_MAX] = 0;
        assert_true(dbroot_path_is_valid(longest));
        longest[DBROOT_PATH_MAX] = 'a';
        longest[DBROOT_PATH_MAX + 1] = 0;
        assert_false(dbroot_path_is_valid(longest));
}

static void test_dbroot_from_binary_kinds(void **state)
{
        struct fixture *f = *state;

        write_binary(f, "debian", DEBIAN_STRINGS);
        expect_scan(f, "debian", 0, "/etc/iscsi");

        write_binary(f, "rhel", RHEL_STRINGS);
        expect_scan(f, "rhel", 0, "/var/lib/iscsi");

        /* Both kinds in one file: it does not say which one it uses. */
        write_binary(f, "both", DEBIAN_STRINGS, RHEL_STRINGS);
        expect_scan(f, "both", -ENOTUNIQ, NULL);

        /* A root needs both ifaces and nodes: a stray "/var/lib/iscsi/ifaces" does not count. */
        write_binary(f, "stray", DEBIAN_STRINGS, "/var/lib/iscsi/ifaces");
        expect_scan(f, "stray", 0, "/etc/iscsi");
        write_binary(f, "ifaces-only", "/etc/iscsi/ifaces", "/etc/iscsi");
        expect_scan(f, "ifaces-only", -ENODATA, NULL);

        /* A binary that names none (not iscsiadm, or a build with the paths elsewhere). */
        write_binary(f, "none", "/run/lock/iscsi", "/sys/class/iscsi_session", "/etc/iscsi",
                     "/etc/iscsi/iscsid.conf");
        expect_scan(f, "none", -ENODATA, NULL);

        /* A message quoting the path is not the path. */
        write_binary(f, "message",
                     "Make sure an iface config is in /etc/iscsi/ifaces. Also /etc/iscsi/nodes");
        expect_scan(f, "message", -ENODATA, NULL);
}

static void test_dbroot_from_binary_hostile(void **state)
{
        struct fixture *f = *state;
        char longroot[DBROOT_PATH_MAX + 20], li[sizeof(longroot) + 16], ln[sizeof(longroot) + 16];

        write_binary(f, "dotdot", "/etc/iscsi/../../tmp/x/ifaces", "/etc/iscsi/../../tmp/x/nodes");
        expect_scan(f, "dotdot", -ENODATA, NULL);

        write_binary(f, "relative", "tmp/x/ifaces", "tmp/x/nodes");
        expect_scan(f, "relative", -ENODATA, NULL);

        write_binary(f, "space", "/tmp/a b/ifaces", "/tmp/a b/nodes");
        expect_scan(f, "space", -ENODATA, NULL);

        write_binary(f, "shell", "/tmp/$(reboot)/ifaces", "/tmp/$(reboot)/nodes");
        expect_scan(f, "shell", -ENODATA, NULL);

        write_binary(f, "slashes", "//etc/iscsi/ifaces", "//etc/iscsi/nodes", "/ifaces", "/nodes");
        expect_scan(f, "slashes", -ENODATA, NULL);

        /* A control byte cuts the run, and what follows it is not absolute; no NUL, no string. */
        write_binary(f, "control", "/tmp/\x01x/etc/iscsi/ifaces", "/tmp/\x1bx/etc/iscsi/nodes");
        expect_scan(f, "control", -ENODATA, NULL);
        write_binary(f, "newline", "/etc/iscsi/ifaces\n", "/etc/iscsi/nodes\n");
        expect_scan(f, "newline", -ENODATA, NULL);

        /* Longer than DBROOT_PATH_MAX. */
        memset(longroot, 'a', sizeof(longroot) - 1);
        longroot[0] = '/';
        longroot[sizeof(longroot) - 1] = 0;
        snprintf(li, sizeof(li), "%s/ifaces", longroot);
        snprintf(ln, sizeof(ln), "%s/nodes", longroot);
        write_binary(f, "long", li, ln);
        expect_scan(f, "long", -ENODATA, NULL);

        /* Hostile pairs around the real one change nothing. */
        write_binary(f, "mixed", "/a/../ifaces", "/a/../nodes", DEBIAN_STRINGS, "/x y/ifaces",
                     "/x y/nodes", li, ln);
        expect_scan(f, "mixed", 0, "/etc/iscsi");

        /* Many valid pairs: more roots than are kept, so it says nothing usable. */
        write_binary(f, "many", "/r1/ifaces", "/r1/nodes", "/r2/ifaces", "/r2/nodes", "/r3/ifaces",
                     "/r3/nodes", "/r4/ifaces", "/r4/nodes", "/r5/ifaces", "/r5/nodes",
                     "/r6/ifaces", "/r6/nodes", "/r7/ifaces", "/r7/nodes", "/r8/ifaces",
                     "/r8/nodes", "/r9/ifaces", "/r9/nodes");
        expect_scan(f, "many", -ENOTUNIQ, NULL);
}

/* The path straddles the 64 KiB read chunk and the file has no NUL before it. */
static void test_dbroot_from_binary_across_chunks(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *p = path_of(f, "big");
        static const char tail[] = "\0/var/lib/iscsi/ifaces\0/var/lib/iscsi/nodes\0";
        size_t pad = 64 * 1024 - 10;
        _cleanup_free_ char *buf = malloc(pad + sizeof(tail));
        int fd;

        assert_non_null(buf);
        memset(buf, 0xff, pad);
        memcpy(buf + pad, tail, sizeof(tail));
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, pad + sizeof(tail)), (ssize_t)(pad + sizeof(tail)));
        assert_int_equal(close(fd), 0);

        expect_scan(f, "big", 0, "/var/lib/iscsi");
}

static void test_dbroot_from_binary_not_a_binary(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *fifo = path_of(f, "fifo"), *huge = path_of(f, "huge");
        int fd;

        expect_scan(f, "missing", -ENOENT, NULL);

        mkdir_in(f, "dir");
        expect_scan(f, "dir", -EINVAL, NULL);

        /* A FIFO must not block the start. */
        assert_int_equal(mkfifo(fifo, 0600), 0);
        expect_scan(f, "fifo", -EINVAL, NULL);

        /* Sparse: larger than DBROOT_FILE_MAX without using the disk. */
        fd = open(huge, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)DBROOT_FILE_MAX + 1), 0);
        assert_int_equal(close(fd), 0);
        expect_scan(f, "huge", -EFBIG, NULL);
}

/* dbroot_detect() with injected candidates; reason must contain each of want_in_reason. */
static void expect_detect(const struct dbroot_config *cfg, const char *root,
                          enum dbroot_source source, const char *const *want_in_reason)
{
        _cleanup_free_ char *got = NULL, *reason = NULL;
        enum dbroot_source s = _DBROOT_SOURCE_INVALID;

        assert_int_equal(dbroot_detect(cfg, &got, &reason, &s), 0);
        assert_string_equal(got, root);
        assert_int_equal(s, source);
        for (size_t i = 0; want_in_reason[i]; i++)
                if (!strstr(reason, want_in_reason[i]))
                        fail_msg("reason '%s' lacks '%s'", reason, want_in_reason[i]);
}

static void test_dbroot_detect_binary_first(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *sbin = path_of(f, "sbin-iscsiadm"), *lib = path_of(f, "lib*.so.0"),
                            *libpath = path_of(f, "lib-x86_64.so.0"), *etc = path_of(f, "etc"),
                            *want = NULL;

        mkdir_in(f, "etc");
        mkdir_in(f, "etc/nodes"); /* a layout too: the binary still wins */

        write_binary(f, "sbin-iscsiadm", DEBIAN_STRINGS);
        write_binary(f, "lib-x86_64.so.0", RHEL_STRINGS);
        assert_true(asprintf(&want, "the compiled-in path of %s", sbin) >= 0);
        expect_detect(
                &(const struct dbroot_config){
                        .binaries = (const char *const[]){ sbin, lib, NULL },
                        .layout_dirs = (const char *const[]){ etc, NULL },
                        .fallback = "/fallback",
                },
                "/etc/iscsi", DBROOT_SOURCE_BINARY, (const char *const[]){ want, NULL });

        /* The first binary says nothing: the library (found by its glob pattern) decides. */
        write_binary(f, "sbin-iscsiadm", "/run/lock/iscsi");
        free(want);
        assert_true(asprintf(&want, "the compiled-in path of %s (%s names no db root)", libpath,
                             sbin) >= 0);
        expect_detect(
                &(const struct dbroot_config){
                        .binaries = (const char *const[]){ sbin, lib, NULL },
                        .layout_dirs = (const char *const[]){ etc, NULL },
                },
                "/var/lib/iscsi", DBROOT_SOURCE_BINARY, (const char *const[]){ want, NULL });
}

static void test_dbroot_detect_layout_then_default(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *sbin = path_of(f, "sbin-iscsiadm"), *gone = path_of(f, "no/iscsiadm"),
                            *etc = path_of(f, "etc"), *var = path_of(f, "var"), *hostile = NULL,
                            *layout = NULL, *dirs = NULL;
        const char *const *none = (const char *const[]){ gone, NULL };

        /* etc exists but is not a db root (only iscsid.conf, as on RHEL); var has nodes/. */
        mkdir_in(f, "etc");
        mkdir_in(f, "var");
        mkdir_in(f, "var/nodes");
        assert_true(asprintf(&layout, "an existing directory with iscsiadm's layout (nodes/)") >=
                    0);
        expect_detect(
                &(const struct dbroot_config){
                        .binaries = none,
                        .layout_dirs = (const char *const[]){ etc, var, NULL },
                        .fallback = "/fallback",
                },
                var, DBROOT_SOURCE_LAYOUT,
                (const char *const[]){ layout, "no iscsiadm or libopeniscsiusr is installed",
                                       NULL });

        /* Order decides between two used roots. */
        mkdir_in(f, "etc/ifaces");
        expect_detect(
                &(const struct dbroot_config){
                        .binaries = none,
                        .layout_dirs = (const char *const[]){ etc, var, NULL },
                },
                etc, DBROOT_SOURCE_LAYOUT, (const char *const[]){ "(ifaces/)", NULL });

        /* A hostile binary and no layout: the fixed default, and the reason says why. */
        write_binary(f, "sbin-iscsiadm", "/tmp/../evil/ifaces", "/tmp/../evil/nodes");
        assert_true(asprintf(&hostile, "%s names no db root", sbin) >= 0);
        assert_true(asprintf(&dirs, "(%s/none)", f->dir) >= 0);
        {
                _cleanup_free_ char *nodir = path_of(f, "none");

                expect_detect(
                        &(const struct dbroot_config){
                                .binaries = (const char *const[]){ sbin, gone, NULL },
                                .layout_dirs = (const char *const[]){ nodir, NULL },
                                .fallback = "/fallback",
                        },
                        "/fallback", DBROOT_SOURCE_DEFAULT,
                        (const char *const[]){ "the fixed default", hostile, dirs, NULL });

                /* No fallback given: open-iscsi's own default. */
                expect_detect(
                        &(const struct dbroot_config){
                                .binaries = none,
                                .layout_dirs = (const char *const[]){ nodir, NULL },
                        },
                        DBROOT_DEFAULT, DBROOT_SOURCE_DEFAULT,
                        (const char *const[]){ "no iscsiadm or libopeniscsiusr is installed",
                                               NULL });
        }
}

/* The real open-iscsi of this machine, if installed: it must name one valid root. */
static void test_dbroot_installed_iscsiadm(void **state)
{
        _cleanup_free_ char *root = NULL, *reason = NULL;
        enum dbroot_source s;

        (void)state;
        if (access("/usr/sbin/iscsiadm", R_OK) < 0)
                skip();

        assert_int_equal(dbroot_from_binary("/usr/sbin/iscsiadm", &root), 0);
        assert_true(dbroot_path_is_valid(root));
        free(root);
        root = NULL;

        assert_int_equal(dbroot_detect(NULL, &root, &reason, &s), 0);
        assert_int_equal(s, DBROOT_SOURCE_BINARY);
        assert_string_equal(reason, "the compiled-in path of /usr/sbin/iscsiadm");
        print_message("installed: iscsi root %s: %s\n", root, reason);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dbroot_path_is_valid),
                cmocka_unit_test_setup_teardown(test_dbroot_from_binary_kinds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dbroot_from_binary_hostile, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dbroot_from_binary_across_chunks, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_dbroot_from_binary_not_a_binary, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_dbroot_detect_binary_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dbroot_detect_layout_then_default, setup,
                                                teardown),
                cmocka_unit_test(test_dbroot_installed_iscsiadm),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
