/* SPDX-License-Identifier: MIT */
/* Unit tests of engine/mirror.c: atomic writes, crash points, listing, and the locks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "mirror.h"

#define SENTINEL ((struct mirror *)(uintptr_t)0x5e5e5e5e)
#define MIB      (1024 * 1024)

struct fixture {
        char dir[PATH_MAX];
        char root[PATH_MAX];
        char lock_dir[PATH_MAX];
        char ifaces[PATH_MAX];
        char tmp[PATH_MAX];
        struct mirror *m;
};

/* Where the fault hook kills the process (in forked children only); NULL = never. */
static const char *crash_point;

static void test_fault(const char *point)
{
        if (crash_point && streq(point, crash_point))
                _exit(9);
}

static void path_join(char *buf, const char *dir, const char *name)
{
        int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

        assert_true(n > 0 && n < PATH_MAX);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (flag == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

static int chmod_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)ftw;
        if (flag == FTW_D && (st->st_mode & 0700) != 0700)
                (void)chmod(path, 0700);
        return 0;
}

static void rm_rf(const char *path)
{
        (void)chmod(path, 0700);
        (void)nftw(path, chmod_entry, 16, FTW_PHYS);
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *f;
        int n;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        n = snprintf(f->dir, sizeof(f->dir), "%s/test-mirror-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        if (n < 0 || n >= (int)sizeof(f->dir) || !mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        path_join(f->root, f->dir, "root");
        path_join(f->lock_dir, f->dir, "lock");
        path_join(f->ifaces, f->root, "ifaces");
        path_join(f->tmp, f->root, ".iscsi-ifaced");
        crash_point = NULL;

        if (mirror_open(f->root, f->lock_dir, test_fault, &f->m) < 0) {
                rm_rf(f->dir);
                free(f);
                return -1;
        }

        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        mirror_close(f->m);
        rm_rf(f->dir);
        free(f);
        return 0;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        assert_int_equal(close(fd), 0);
}

static bool exists(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_join(p, dir, name);
        return lstat(p, &st) == 0;
}

static mode_t mode_of(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_join(p, dir, name);
        assert_int_equal(lstat(p, &st), 0);
        return st.st_mode;
}

static ino_t ino_of(const char *dir, const char *name)
{
        char p[PATH_MAX];
        struct stat st;

        path_join(p, dir, name);
        assert_int_equal(lstat(p, &st), 0);
        return st.st_ino;
}

/* Number of *.tmp entries in the temp directory. */
static size_t count_temps(const struct fixture *f)
{
        char cmd[PATH_MAX + 64];
        size_t n = 0;
        FILE *p;
        int c;

        assert_true(snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '\\.tmp$'", f->tmp) > 0);
        p = popen(cmd, "r");
        assert_non_null(p);
        while ((c = fgetc(p)) != EOF)
                if (c >= '0' && c <= '9')
                        n = n * 10 + (size_t)(c - '0');
        pclose(p);
        return n;
}

static void assert_content(struct mirror *m, const char *name, const char *data, size_t len)
{
        char *buf = NULL;
        size_t n = 0;

        assert_int_equal(mirror_read(m, name, &buf, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(buf, data, len);
        assert_int_equal(buf[n], '\0');
        free(buf);
}

static void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char record[] = "# BEGIN RECORD 2.1.8\n"
                             "iface.iscsi_ifacename = iface0\n"
                             "iface.transport_name = tcp\n"
                             "iface.vlan_id = 0\n"
                             "# END RECORD\n";

static void test_mirror_open_layout(void **state)
{
        struct fixture *f = *state;
        char root[PATH_MAX], lock_dir[PATH_MAX], expect[PATH_MAX], cwd[PATH_MAX], *abs;
        struct mirror *m = NULL;
        mode_t old;

        /* Made by the fixture: the modes are exact whatever the umask was. */
        assert_int_equal(mode_of(f->root, "ifaces") & 07777, 0700);
        assert_true(S_ISDIR(mode_of(f->root, "ifaces")));
        assert_int_equal(mode_of(f->root, ".iscsi-ifaced") & 07777, 0700);
        assert_true(S_ISREG(mode_of(f->tmp, "instance.lock")));
        assert_true(S_ISREG(mode_of(f->lock_dir, "lock.iscsi-ifaced")));
        assert_false(exists(f->lock_dir, "lock.write"));

        /* A second root under a hostile umask. */
        path_join(root, f->dir, "root2");
        path_join(lock_dir, f->dir, "lock");
        old = umask(0777);
        assert_int_equal(mirror_open(root, lock_dir, NULL, &m), 0);
        umask(old);
        assert_int_equal(mode_of(root, "ifaces") & 07777, 0700);
        assert_int_equal(mode_of(root, ".iscsi-ifaced") & 07777, 0700);
        assert_int_equal(mode_of(f->dir, "root2") & 07777, 0755);

        /* The ifaces path is absolute even for a relative root. */
        abs = realpath(root, NULL);
        assert_non_null(abs);
        path_join(expect, abs, "ifaces");
        free(abs);
        assert_string_equal(mirror_ifaces_dir(m), expect);
        assert_null(mirror_close(m));
        assert_null(mirror_close(NULL));

        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(f->dir), 0);
        assert_int_equal(mirror_open("root2", lock_dir, NULL, &m), 0);
        assert_int_equal(chdir(cwd), 0);
        assert_string_equal(mirror_ifaces_dir(m), expect);
        mirror_close(m);
}

static void test_mirror_write_read_round_trip(void **state)
{
        static const struct {
                const char *name;
                const char *data;
                size_t len;
        } cases[] = {
                { "iface0", record, sizeof(record) - 1 },
                { "empty", "", 0 },
                { "no-newline", "iface.mtu = 9000", 16 },
                { "binary", "a\0b\r\n\xff", 6 },
                { "x", "\n\n\n", 3 },
        };
        struct fixture *f = *state;
        mode_t old = umask(0277); /* would give 0400 without the fchmod */

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(mirror_write(f->m, cases[i].name, cases[i].data, cases[i].len), 0);
                assert_content(f->m, cases[i].name, cases[i].data, cases[i].len);
                assert_true(S_ISREG(mode_of(f->ifaces, cases[i].name)));
                assert_int_equal(mode_of(f->ifaces, cases[i].name) & 07777, 0600);
        }
        umask(old);

        assert_int_equal(count_temps(f), 0);
        assert_int_equal(mode_of(f->root, "ifaces") & 07777, 0700);
}

static void test_mirror_rewrite_replaces_atomically(void **state)
{
        struct fixture *f = *state;
        char leftover[PATH_MAX];
        ino_t before;

        assert_int_equal(mirror_write(f->m, "e0", record, sizeof(record) - 1), 0);
        before = ino_of(f->ifaces, "e0");

        /* A stale temp of the same name, with the wrong mode, is simply overwritten. */
        path_join(leftover, f->tmp, "e0.tmp");
        write_file(leftover, "junk junk junk junk junk junk junk junk junk", 44, 0644);

        assert_int_equal(mirror_write(f->m, "e0", "short\n", 6), 0);
        assert_content(f->m, "e0", "short\n", 6);
        /* Replaced by rename (a new inode), not truncated in place as iscsiadm does. */
        assert_true(ino_of(f->ifaces, "e0") != before);
        assert_int_equal(mode_of(f->ifaces, "e0") & 07777, 0600);
        assert_int_equal(count_temps(f), 0);
}

static void test_mirror_remove(void **state)
{
        struct fixture *f = *state;
        char *buf = (char *)"untouched";
        size_t len = 4242;
        char **names = NULL;
        size_t n = 99;

        assert_int_equal(mirror_write(f->m, "e0", "x", 1), 0);
        assert_int_equal(mirror_remove(f->m, "e0"), 0);
        assert_false(exists(f->ifaces, "e0"));
        assert_int_equal(mirror_read(f->m, "e0", &buf, &len), -ENOENT);
        assert_string_equal(buf, "untouched");
        assert_int_equal(len, 4242);
        /* Absent is success. */
        assert_int_equal(mirror_remove(f->m, "e0"), 0);
        assert_int_equal(mirror_remove(f->m, "never-was"), 0);

        assert_int_equal(mirror_list(f->m, &names, &n), 0);
        assert_int_equal(n, 0);
        assert_null(names[0]);
        strv_free(names);
}

static void test_mirror_list_order(void **state)
{
        static const char *const create[] = { "a0", "a.b", "B", "a-b", "a", "Z9", "_x" };
        /* strcmp order, iscsiadm's alphasort in the C locale; hidden names are listed too. */
        static const char *const expect[] = { ".hidden", "B",   "Z9", "_x", "a",
                                              "a-b",     "a.b", "a0", "dir" };
        struct fixture *f = *state;
        char p[PATH_MAX];
        char **names = NULL;
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(create); i++)
                assert_int_equal(mirror_write(f->m, create[i], "x", 1), 0);
        path_join(p, f->ifaces, ".hidden");
        write_file(p, "h", 1, 0600);
        path_join(p, f->ifaces, "dir");
        assert_int_equal(mkdir(p, 0700), 0);

        assert_int_equal(mirror_list(f->m, &names, &n), 0);
        assert_int_equal(n, ELEMENTSOF(expect));
        for (size_t i = 0; i < n; i++)
                assert_string_equal(names[i], expect[i]);
        assert_null(names[n]);
        strv_free(names);

        /* The count is optional, and a second listing sees the same. */
        assert_int_equal(mirror_list(f->m, &names, NULL), 0);
        assert_string_equal(names[0], ".hidden");
        strv_free(names);
}

static void test_mirror_names_rejected(void **state)
{
        static char long_name[257];
        const char *const bad[] = { "",    ".",    "..",          ".hidden",
                                    "a/b", "/abs", "ifaces/../x", long_name };
        struct fixture *f = *state;
        char ok_255[256];
        char *buf = (char *)"untouched";

        memset(long_name, 'x', 256);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(mirror_write(f->m, bad[i], "x", 1), -EINVAL);
                assert_int_equal(mirror_read(f->m, bad[i], &buf, NULL), -EINVAL);
                assert_string_equal(buf, "untouched");
                assert_int_equal(mirror_remove(f->m, bad[i]), -EINVAL);
        }
        assert_int_equal(mirror_write(f->m, NULL, "x", 1), -EINVAL);
        assert_int_equal(mirror_write(f->m, "e0", NULL, 1), -EINVAL);
        assert_int_equal(count_temps(f), 0);

        /* 255 bytes passes the check; only "<name>.tmp" is then too long for the filesystem. */
        memset(ok_255, 'y', 255);
        ok_255[255] = '\0';
        assert_int_equal(mirror_read(f->m, ok_255, &buf, NULL), -ENOENT);
        assert_int_equal(mirror_remove(f->m, ok_255), 0);
        assert_int_equal(mirror_write(f->m, ok_255, "x", 1), -ENAMETOOLONG);
}

static void test_mirror_read_errors(void **state)
{
        struct fixture *f = *state;
        static const struct {
                const char *name;
                char kind; /* d = dir, p = fifo, l = symlink, f = file of size */
                size_t size;
                int expect;
        } cases[] = {
                { "missing", 0, 0, -ENOENT },    { "dir", 'd', 0, -EISDIR },
                { "fifo", 'p', 0, -EINVAL },     { "link", 'l', 0, -ELOOP },
                { "big", 'f', MIB + 1, -EFBIG }, { "max", 'f', MIB, 0 },
        };
        char p[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *buf = (char *)"untouched";
                size_t len = 4242;

                path_join(p, f->ifaces, cases[i].name);
                switch (cases[i].kind) {
                case 'd':
                        assert_int_equal(mkdir(p, 0700), 0);
                        break;
                case 'p':
                        assert_int_equal(mkfifo(p, 0600), 0);
                        break;
                case 'l':
                        assert_int_equal(mirror_write(f->m, "target", "t", 1), 0);
                        assert_int_equal(symlink("target", p), 0);
                        break;
                case 'f': {
                        char *data = malloc(cases[i].size);

                        assert_non_null(data);
                        memset(data, 'k', cases[i].size);
                        write_file(p, data, cases[i].size, 0600);
                        free(data);
                        break;
                }
                default:
                        break;
                }

                assert_int_equal(mirror_read(f->m, cases[i].name, &buf, &len), cases[i].expect);
                if (cases[i].expect < 0) {
                        assert_string_equal(buf, "untouched");
                        assert_int_equal(len, 4242);
                } else {
                        assert_int_equal(len, cases[i].size);
                        assert_int_equal(buf[len], '\0');
                        assert_int_equal(buf[len - 1], 'k');
                        free(buf);
                }
        }
}

static void test_mirror_clean_temps(void **state)
{
        static const char *const leftovers[] = { "e0.tmp", "a.b.tmp", "x.tmp" };
        struct fixture *f = *state;
        char p[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(leftovers); i++) {
                path_join(p, f->tmp, leftovers[i]);
                write_file(p, "partial", 7, 0600);
        }
        path_join(p, f->tmp, "keep");
        write_file(p, "k", 1, 0600);
        path_join(p, f->tmp, "d.tmp");
        assert_int_equal(mkdir(p, 0700), 0);

        assert_int_equal(mirror_clean_temps(f->m), (int)ELEMENTSOF(leftovers));
        for (size_t i = 0; i < ELEMENTSOF(leftovers); i++)
                assert_false(exists(f->tmp, leftovers[i]));
        assert_true(exists(f->tmp, "keep"));
        assert_true(exists(f->tmp, "d.tmp"));
        assert_true(exists(f->tmp, "instance.lock"));
        assert_int_equal(mirror_clean_temps(f->m), 0);
}

/* A failed write leaves no temp file behind. */
static void test_mirror_write_failure_leaves_no_temp(void **state)
{
        struct fixture *f = *state;
        char p[PATH_MAX], inside[PATH_MAX];

        /* rename() of a file onto a directory fails after the temp file was written. */
        path_join(p, f->ifaces, "e0");
        assert_int_equal(mkdir(p, 0700), 0);
        path_join(inside, p, "inside");
        write_file(inside, "x", 1, 0600);

        assert_int_equal(mirror_write(f->m, "e0", "new", 3), -EISDIR);
        assert_int_equal(count_temps(f), 0);
        assert_true(S_ISDIR(mode_of(f->ifaces, "e0")));
}

/*
 * A child dies (_exit inside the fault hook) at each named point of mirror_write. Before the
 * rename the old file is whole and a temp file is left for mirror_clean_temps; after it the new
 * file is whole and no temp remains.
 */
static void test_mirror_crash_points(void **state)
{
        static const struct {
                const char *point;
                bool expect_new;
                int expect_temps;
        } cases[] = {
                { "mirror-tmp-written", false, 1 },
                { "mirror-renamed", true, 0 },
        };
        static const char old_data[] = "# BEGIN RECORD 2.1.8\niface.mtu = 1500\n# END RECORD\n";
        static const char new_data[] = "# BEGIN RECORD 2.1.8\niface.mtu = 9000\n# END RECORD\n";
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int status;
                pid_t pid;

                assert_int_equal(mirror_write(f->m, "e0", old_data, sizeof(old_data) - 1), 0);

                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        crash_point = cases[i].point;
                        (void)mirror_write(f->m, "e0", new_data, sizeof(new_data) - 1);
                        _exit(1); /* the fault point was never reached */
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 9);

                if (cases[i].expect_new)
                        assert_content(f->m, "e0", new_data, sizeof(new_data) - 1);
                else
                        assert_content(f->m, "e0", old_data, sizeof(old_data) - 1);
                assert_int_equal(count_temps(f), (size_t)cases[i].expect_temps);

                /* The temp file is never listed as a record. */
                {
                        char **names = NULL;
                        size_t n = 0;

                        assert_int_equal(mirror_list(f->m, &names, &n), 0);
                        assert_int_equal(n, 1);
                        assert_string_equal(names[0], "e0");
                        strv_free(names);
                }

                assert_int_equal(mirror_clean_temps(f->m), cases[i].expect_temps);
                assert_int_equal(count_temps(f), 0);
                assert_int_equal(mirror_write(f->m, "e0", new_data, sizeof(new_data) - 1), 0);
                assert_content(f->m, "e0", new_data, sizeof(new_data) - 1);
        }
}

static void test_mirror_second_open_is_busy(void **state)
{
        struct fixture *f = *state;
        char other_lock[PATH_MAX];
        struct mirror *m = SENTINEL;

        assert_int_equal(mirror_open(f->root, f->lock_dir, NULL, &m), -EBUSY);
        assert_ptr_equal(m, SENTINEL);
        path_join(other_lock, f->dir, "other-lock");
        assert_int_equal(mirror_open(f->root, other_lock, NULL, &m), -EBUSY);
        assert_ptr_equal(m, SENTINEL);

        /* Free again once the first is closed. */
        f->m = mirror_close(f->m);
        assert_int_equal(mirror_open(f->root, f->lock_dir, NULL, &f->m), 0);
}

static void test_mirror_open_errors(void **state)
{
        static const struct {
                const char *root; /* relative to the test dir */
                const char *lock_dir;
                const char *prepare; /* shell, run in the test dir first */
                int expect;
        } cases[] = {
                { "file", "l1", "echo x > file", -ENOTDIR },
                { "no/such/root", "l2", NULL, -ENOENT },
                { "r3", "l3", "mkdir r3 && touch r3/ifaces", -ENOTDIR },
                { "r4", "l4", "mkdir -p r4 elsewhere && ln -s ../elsewhere r4/.iscsi-ifaced",
                  -ENOTDIR },
                { "r5", "file5", "echo x > file5", -ENOTDIR },
                { "r6", "no/such/lock", NULL, -ENOENT },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char root[PATH_MAX], lock_dir[PATH_MAX], cmd[PATH_MAX + 256];
                struct mirror *m = SENTINEL;

                if (cases[i].prepare) {
                        assert_true(snprintf(cmd, sizeof(cmd), "cd '%s' && %s", f->dir,
                                             cases[i].prepare) > 0);
                        assert_int_equal(system(cmd), 0);
                }
                path_join(root, f->dir, cases[i].root);
                path_join(lock_dir, f->dir, cases[i].lock_dir);
                assert_int_equal(mirror_open(root, lock_dir, NULL, &m), cases[i].expect);
                assert_ptr_equal(m, SENTINEL);
        }

        {
                struct mirror *m = SENTINEL;

                assert_int_equal(mirror_open(NULL, f->lock_dir, NULL, &m), -EINVAL);
                assert_int_equal(mirror_open(f->root, "", NULL, &m), -EINVAL);
                assert_ptr_equal(m, SENTINEL);
                assert_int_equal(mirror_open(f->root, f->lock_dir, NULL, NULL), -EINVAL);
        }
}

/*
 * A root the daemon cannot write. Root ignores permission bits, so it gets a read-only bind
 * mount in a private mount namespace of a child, which dies with the child; other users get a
 * chmod 0500 directory.
 */
static int read_only_child(const char *dir, const char *fresh, const char *existing,
                           const char *lock_dir, bool as_root)
{
        struct mirror *m = SENTINEL;
        int expect = as_root ? -EROFS : -EACCES;

        if (as_root) {
                if (unshare(CLONE_NEWNS) < 0)
                        return 77;
                /* The kernel ignores the type with these flags; valgrind wants a string. */
                if (mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
                        return 77;
                if (mount(dir, dir, "none", MS_BIND, NULL) < 0)
                        return 77;
                if (mount(NULL, dir, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                        return 77;
        } else {
                char p[PATH_MAX];

                if (snprintf(p, sizeof(p), "%s/ifaces", existing) >= (int)sizeof(p))
                        return 98;
                if (chmod(fresh, 0500) < 0 || chmod(p, 0500) < 0)
                        return 98;
        }

        if (mirror_open(fresh, lock_dir, NULL, &m) != expect || m != SENTINEL)
                return 1;
        if (mirror_open(existing, lock_dir, NULL, &m) != expect || m != SENTINEL)
                return 2;
        return 0;
}

static void test_mirror_open_read_only(void **state)
{
        struct fixture *f = *state;
        char ro[PATH_MAX], fresh[PATH_MAX], existing[PATH_MAX];
        struct mirror *m = NULL;
        int status;
        pid_t pid;

        path_join(ro, f->dir, "ro");
        path_join(fresh, ro, "fresh");
        path_join(existing, ro, "existing");
        assert_int_equal(mkdir(ro, 0700), 0);
        assert_int_equal(mkdir(fresh, 0700), 0);
        assert_int_equal(mirror_open(existing, f->lock_dir, NULL, &m), 0);
        mirror_close(m);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(read_only_child(ro, fresh, existing, f->lock_dir, geteuid() == 0));

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip(); /* no CAP_SYS_ADMIN for a private mount namespace */
        assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * A staged write through the spare temp files: the file lands whole and 0600 whatever the umask,
 * and the spares made meanwhile in the temp directory are empty regular 0600 files with one
 * link each (made unnamed with O_TMPFILE and linked, or, without /proc, with O_CREAT). 0 or a
 * line number that failed.
 */
static int staged_write_and_spares_masked(const char *root, const char *lock_dir)
{
        char tmp[PATH_MAX], ifaces[PATH_MAX];
        struct mirror *m = NULL;
        struct mirror_staged st, *placed = &st;
        struct stat sb;
        size_t n_spares = 0;
        DIR *d;

        if (mirror_open(root, lock_dir, NULL, &m) < 0)
                return __LINE__;
        snprintf(tmp, sizeof(tmp), "%s/.iscsi-ifaced", root);
        snprintf(ifaces, sizeof(ifaces), "%s/ifaces", root);
        if (mirror_stage(m, "s0", false, record, sizeof(record) - 1, &st) < 0 ||
            mirror_staged_sync(m, &st) < 0 || mirror_staged_place(m, &st) < 0 ||
            mirror_dirs_sync(m, &placed, 1) < 0)
                return __LINE__;
        mirror_staged_done(m, &st);
        if (mode_of(ifaces, "s0") != (S_IFREG | 0600))
                return __LINE__;

        /* The spare thread, started by the first stage, makes them in the background. */
        for (uint64_t t0 = now_ms(); n_spares < 32 && now_ms() - t0 < 5000;) {
                struct timespec tick = { 0, 10 * 1000 * 1000 };
                struct dirent *de;

                nanosleep(&tick, NULL);
                d = opendir(tmp);
                if (!d)
                        return __LINE__;
                n_spares = 0;
                while ((de = readdir(d))) {
                        if (de->d_name[0] != 's' || !strstr(de->d_name, ".tmp"))
                                continue;
                        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
                            sb.st_mode != (S_IFREG | 0600) || sb.st_size != 0 || sb.st_nlink != 1) {
                                closedir(d);
                                return __LINE__;
                        }
                        n_spares++;
                }
                closedir(d);
        }
        if (n_spares < 32)
                return __LINE__;
        if (mirror_close(m) != NULL)
                return __LINE__;
        return 0;
}

/* The above under umask 0277 all along, the spare thread's files included; the umask back. */
static int staged_write_and_spares(const char *root, const char *lock_dir)
{
        mode_t old = umask(0277);
        int r = staged_write_and_spares_masked(root, lock_dir);

        umask(old);
        return r;
}

static void test_mirror_spares(void **state)
{
        struct fixture *f = *state;
        char root[PATH_MAX];
        int status;
        pid_t pid;

        path_join(root, f->dir, "spares");
        assert_int_equal(staged_write_and_spares(root, f->lock_dir), 0);

        /* Again with /proc hidden: no /proc/self/fd to link an unnamed file by. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (unshare(CLONE_NEWNS) < 0 ||
                    mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("tmpfs", "/proc", "tmpfs", 0, NULL) < 0)
                        _exit(77);
                path_join(root, f->dir, "spares-noproc");
                _exit(staged_write_and_spares(root, f->lock_dir));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip(); /* no CAP_SYS_ADMIN for a private mount namespace */
        assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * A temp file written ahead of its batch (mirror_temp_write): synced or not, mirror_stage_temp()
 * takes it over and it lands whole; one that is not taken is removed by mirror_temp_drop(), and
 * a zeroed one (fd 0, no name) is left alone.
 */
static void test_mirror_temp_ahead(void **state)
{
        struct fixture *f = *state;
        struct mirror_temp t, zero = {};
        struct mirror_staged st, *placed = &st;
        char path[PATH_MAX + 64];
        struct stat sb;

        for (int sync = 0; sync <= 1; sync++) {
                const char *name = sync ? "ahead1" : "ahead0";

                assert_int_equal(mirror_temp_write(f->m, record, sizeof(record) - 1, sync, &t), 0);
                assert_true(t.name[0]);
                assert_true(sync ? t.fd < 0 : t.fd >= 0);
                assert_true(exists(f->tmp, t.name));
                assert_false(exists(f->ifaces, name));

                assert_int_equal(mirror_stage_temp(f->m, name, false, &t, &st), 0);
                assert_false(t.name[0]); /* taken over */
                assert_true(sync ? st.tmp_fd < 0 : st.tmp_fd >= 0);
                assert_int_equal(mirror_staged_sync(f->m, &st), 0);
                assert_int_equal(mirror_staged_place(f->m, &st), 0);
                assert_int_equal(mirror_dirs_sync(f->m, &placed, 1), 0);
                mirror_staged_done(f->m, &st);
                assert_content(f->m, name, record, sizeof(record) - 1);
                assert_int_equal(mode_of(f->ifaces, name), S_IFREG | 0600);
                mirror_temp_drop(f->m, &t); /* nothing left to drop */
        }

        /* Not taken: removed, and its name is no longer in the temp directory. */
        assert_int_equal(mirror_temp_write(f->m, record, sizeof(record) - 1, true, &t), 0);
        snprintf(path, sizeof(path), "%s", t.name);
        assert_true(exists(f->tmp, path));
        mirror_temp_drop(f->m, &t);
        assert_false(exists(f->tmp, path));
        assert_false(t.name[0]);

        /* A zeroed one names nothing: fd 0 stays open. */
        mirror_temp_drop(f->m, &zero);
        assert_int_equal(fstat(0, &sb), 0);
}

static void test_mirror_lock_excludes_second(void **state)
{
        struct fixture *f = *state;
        char root2[PATH_MAX], root3[PATH_MAX];
        struct mirror *m2 = NULL, *m3 = NULL;
        uint64_t t0;

        /* Two instances on two roots share one lock dir, as they would share /run/lock/iscsi. */
        path_join(root2, f->dir, "root2");
        path_join(root3, f->dir, "root3");
        assert_int_equal(mirror_open(root2, f->lock_dir, NULL, &m2), 0);

        assert_int_equal(mirror_lock(f->m, 0), 0);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"),
                         ino_of(f->lock_dir, "lock.iscsi-ifaced"));
        assert_int_equal(mirror_lock(f->m, 0), -EDEADLK);

        t0 = now_ms();
        assert_int_equal(mirror_lock(m2, 60), -ETIMEDOUT);
        assert_true(now_ms() - t0 >= 60);
        assert_int_equal(mirror_lock(m2, 0), -ETIMEDOUT);

        /* A third instance starting now must not take the live lock for a stale one. */
        assert_int_equal(mirror_open(root3, f->lock_dir, NULL, &m3), 0);
        assert_int_equal(mirror_stale_locks_removed(m3), 0);
        assert_true(exists(f->lock_dir, "lock.write"));
        assert_int_equal(mirror_lock(m3, 20), -ETIMEDOUT);
        assert_int_equal(mirror_stale_locks_removed(m3), 0);

        mirror_unlock(f->m);
        assert_false(exists(f->lock_dir, "lock.write"));
        mirror_unlock(f->m); /* twice is harmless */

        assert_int_equal(mirror_lock(m2, 60), 0);
        assert_int_equal(mirror_lock(f->m, 20), -ETIMEDOUT);
        /* Closing releases the lock it holds. */
        m2 = mirror_close(m2);
        assert_false(exists(f->lock_dir, "lock.write"));
        assert_int_equal(mirror_lock(f->m, 0), 0);
        mirror_unlock(f->m);
        mirror_close(m3);
}

static void iscsiadm_lock(const struct fixture *f)
{
        char lock[PATH_MAX], lock_write[PATH_MAX];
        int fd;

        /* libopeniscsiusr idbm.c: open(lock, O_RDWR|O_CREAT), then link(lock, lock.write). */
        path_join(lock, f->lock_dir, "lock");
        path_join(lock_write, f->lock_dir, "lock.write");
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(link(lock, lock_write), 0);
}

static void test_mirror_iscsiadm_lock_blocks_us(void **state)
{
        struct fixture *f = *state;
        char lock[PATH_MAX], lock_write[PATH_MAX];
        uint64_t t0, waited;
        int status;
        pid_t pid;

        path_join(lock, f->lock_dir, "lock");
        path_join(lock_write, f->lock_dir, "lock.write");
        iscsiadm_lock(f);

        /* Restarting never takes iscsiadm's lock for a stale one of ours. */
        f->m = mirror_close(f->m);
        assert_int_equal(mirror_open(f->root, f->lock_dir, NULL, &f->m), 0);
        assert_int_equal(mirror_stale_locks_removed(f->m), 0);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"), ino_of(f->lock_dir, "lock"));

        assert_int_equal(mirror_lock(f->m, 50), -ETIMEDOUT);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"), ino_of(f->lock_dir, "lock"));

        /* iscsiadm finishes after ~100 ms; we get the lock then. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct timespec ts = { .tv_nsec = 100 * 1000 * 1000 };

                nanosleep(&ts, NULL);
                _exit(unlink(lock_write) < 0 ? 1 : 0);
        }
        t0 = now_ms();
        assert_int_equal(mirror_lock(f->m, 5000), 0);
        waited = now_ms() - t0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(waited >= 90);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"),
                         ino_of(f->lock_dir, "lock.iscsi-ifaced"));

        /* Now iscsiadm waits for us. */
        assert_int_equal(link(lock, lock_write), -1);
        assert_int_equal(errno, EEXIST);
        mirror_unlock(f->m);
        assert_int_equal(link(lock, lock_write), 0);
        assert_int_equal(unlink(lock_write), 0);
}

static void test_mirror_unlock_leaves_foreign_lock(void **state)
{
        struct fixture *f = *state;
        char lock_write[PATH_MAX];

        path_join(lock_write, f->lock_dir, "lock.write");
        assert_int_equal(mirror_lock(f->m, 0), 0);

        /* Somebody broke our lock and iscsiadm took it: it is not ours to remove. */
        assert_int_equal(unlink(lock_write), 0);
        iscsiadm_lock(f);
        mirror_unlock(f->m);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"), ino_of(f->lock_dir, "lock"));

        f->m = mirror_close(f->m);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"), ino_of(f->lock_dir, "lock"));
}

static void test_mirror_stale_own_lock_is_cleaned(void **state)
{
        struct fixture *f = *state;
        char src[PATH_MAX], lock_write[PATH_MAX];
        int status;
        pid_t pid;

        path_join(src, f->lock_dir, "lock.iscsi-ifaced");
        path_join(lock_write, f->lock_dir, "lock.write");

        /* An instance dies holding the lock. */
        f->m = mirror_close(f->m);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct mirror *m = NULL;

                if (mirror_open(f->root, f->lock_dir, NULL, &m) < 0 || mirror_lock(m, 0) < 0)
                        _exit(1);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(ino_of(f->lock_dir, "lock.write"),
                         ino_of(f->lock_dir, "lock.iscsi-ifaced"));

        /* The next start removes it, and says so. */
        assert_int_equal(mirror_open(f->root, f->lock_dir, NULL, &f->m), 0);
        assert_int_equal(mirror_stale_locks_removed(f->m), 1);
        assert_false(exists(f->lock_dir, "lock.write"));
        assert_int_equal(mirror_lock(f->m, 0), 0);
        mirror_unlock(f->m);

        /* One left while we run (by an instance on another root that died) goes on lock. */
        assert_int_equal(link(src, lock_write), 0);
        assert_int_equal(mirror_lock(f->m, 0), 0);
        assert_int_equal(mirror_stale_locks_removed(f->m), 2);
        mirror_unlock(f->m);
        assert_false(exists(f->lock_dir, "lock.write"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_mirror_open_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_write_read_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_rewrite_replaces_atomically, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_mirror_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_list_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_names_rejected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_read_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_clean_temps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_write_failure_leaves_no_temp, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_mirror_crash_points, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_second_open_is_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_open_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_open_read_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_spares, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_temp_ahead, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_lock_excludes_second, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mirror_iscsiadm_lock_blocks_us, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_mirror_unlock_leaves_foreign_lock, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_mirror_stale_own_lock_is_cleaned, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
