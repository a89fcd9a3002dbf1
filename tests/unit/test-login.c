/* SPDX-License-Identifier: MIT */
/*
 * engine/exec.c (how iscsiadm is run), engine/scsi.c (LUN numbers), and the pure parts of
 * engine/login.c: readiness and iscsid's socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec.h"
#include "login.h"
#include "macro.h"
#include "scsi.h"

static struct exec_result run(const char *const *argv, int64_t timeout_usec, int cancel_fd)
{
        struct exec_result r;

        assert_int_equal(exec_run(argv,
                                  timeout_usec ? clock_usec(CLOCK_MONOTONIC) + timeout_usec : 0,
                                  cancel_fd, &r),
                         0);
        return r;
}

static void test_exec_output_and_exit(void **state)
{
        const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
        struct exec_result r = run(argv, 0, -1);

        (void)state;
        assert_int_equal(r.exit_code, 3);
        assert_false(r.timed_out);
        assert_false(r.cancelled);
        assert_string_equal(r.output, "out\nerr\n");
        exec_result_done(&r);
}

/* The environment is PATH and LC_ALL only, whatever the daemon has. */
static void test_exec_environment_scrubbed(void **state)
{
        const char *argv[] = { "/usr/bin/env", NULL };
        struct exec_result r;

        (void)state;
        setenv("IFD_SECRET_IN_ENV", "do-not-pass", 1);
        r = run(argv, 0, -1);
        assert_int_equal(r.exit_code, 0);
        assert_string_equal(r.output, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
        exec_result_done(&r);
        unsetenv("IFD_SECRET_IN_ENV");
}

/* stdin is /dev/null, and no descriptor of ours but 0, 1, 2 reaches the program. */
static void test_exec_descriptors(void **state)
{
        int leak = open("/dev/null", O_RDONLY); /* not O_CLOEXEC: closed by the spawn anyway */
        const char *argv[] = { "/bin/sh", "-c",
                               "read x || echo eof; ls /proc/self/fd | tr '\\n' ' '", NULL };
        struct exec_result r;

        (void)state;
        assert_true(leak > 2);
        r = run(argv, 0, -1);
        assert_int_equal(r.exit_code, 0);
        /* ls lists 0 1 2 and the directory it reads (3). */
        assert_string_equal(r.output, "eof\n0 1 2 3 ");
        exec_result_done(&r);
        close(leak);
}

static void test_exec_deadline_kills_the_group(void **state)
{
        const char *argv[] = { "/bin/sh", "-c", "sleep 30 & sleep 30; echo never", NULL };
        int64_t t0 = clock_usec(CLOCK_MONOTONIC);
        struct exec_result r = run(argv, 300 * 1000, -1);
        int64_t took = clock_usec(CLOCK_MONOTONIC) - t0;

        (void)state;
        assert_true(r.timed_out);
        assert_int_equal(r.exit_code, -1);
        assert_int_equal(r.signal, SIGKILL);
        assert_true(took < 5 * 1000 * 1000);
        assert_null(r.output);
        exec_result_done(&r);
}

static void test_exec_cancel(void **state)
{
        const char *argv[] = { "/bin/sleep", "30", NULL };
        int fd = eventfd(1, EFD_CLOEXEC); /* readable already: cancelled */
        struct exec_result r;

        (void)state;
        assert_true(fd >= 0);
        r = run(argv, 0, fd);
        assert_true(r.cancelled);
        assert_false(r.timed_out);
        assert_int_equal(r.exit_code, -1);
        exec_result_done(&r);
        close(fd);
}

static void test_exec_output_bounded(void **state)
{
        const char *argv[] = { "/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x", NULL };
        struct exec_result r = run(argv, 0, -1);

        (void)state;
        assert_int_equal(r.exit_code, 0);
        assert_true(r.truncated);
        assert_int_equal(r.output_len, EXEC_OUTPUT_MAX);
        assert_int_equal(strlen(r.output), EXEC_OUTPUT_MAX);
        exec_result_done(&r);
}

static void test_exec_refuses(void **state)
{
        const char *rel[] = { "iscsiadm", NULL };
        const char *none[] = { "/nonexistent/iscsiadm", NULL };
        struct exec_result r;

        (void)state;
        int k;

        assert_int_equal(exec_run(rel, 0, -1, &r), -EINVAL);
        /* glibc reports the failed exec; under valgrind the child exits 127 instead. */
        k = exec_run(none, 0, -1, &r);
        assert_true(k == -ENOENT || (k == 0 && r.exit_code == 127));
        if (k == 0)
                exec_result_done(&r);
}

/* The kernel's scsilun_to_int()/int_to_scsilun(), both ways. */
static void test_scsi_lun_numbers(void **state)
{
        static const struct {
                uint8_t sam[8];
                uint64_t lun;
                const char *hex;
        } v[] = {
                { { 0, 0, 0, 0, 0, 0, 0, 0 }, 0, "0000000000000000" },
                { { 0, 1, 0, 0, 0, 0, 0, 0 }, 1, "0001000000000000" },
                { { 0x01, 0x00, 0, 0, 0, 0, 0, 0 }, 256, "0100000000000000" },
                { { 0x40, 0x05, 0, 0, 0, 0, 0, 0 }, 16389, "4005000000000000" }, /* flat */
                { { 0x41, 0x00, 0, 0, 0, 0, 0, 0 }, 16640, "4100000000000000" },
                { { 0, 1, 0, 2, 0, 0, 0, 0 }, 0x20001, "0001000200000000" },
        };
        char hex[17];

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                assert_int_equal(scsi_lun_from_sam(v[i].sam), v[i].lun);
                scsi_lun_to_sam_hex(v[i].lun, hex);
                assert_string_equal(hex, v[i].hex);
        }
}

static struct session_lun lun(uint64_t n, int type, const char *state, const char *block, bool node,
                              bool udev)
{
        struct session_lun l = { .lun = n, .type = type, .dev_node = node, .udev_done = udev };

        snprintf(l.state, sizeof(l.state), "%s", state);
        snprintf(l.block, sizeof(l.block), "%s", block);
        return l;
}

static void readiness(const struct session_detail *d, const uint64_t *expect, size_t n_expect,
                      bool manual, bool want_ready, const char *want_reason)
{
        struct login_lun_ready *v = NULL;
        const char *why = NULL;
        bool ready = !want_ready;
        size_t n = 0;

        assert_int_equal(login_readiness(d, expect, n_expect, manual, &v, &n, &ready, &why), 0);
        assert_int_equal(ready, want_ready);
        if (want_reason)
                assert_string_equal(why, want_reason);
        else
                assert_null(why);
        free(v);
}

static void test_readiness(void **state)
{
        struct session_lun luns[2] = { lun(0, 12, "running", "", false, false),
                                       lun(1, 0, "running", "sdb", true, false) };
        struct session_detail d = { .luns = luns, .n_luns = 2 };
        const uint64_t two[] = { 0, 1 }, three[] = { 0, 1, 2 };

        (void)state;
        snprintf(d.info.state, sizeof(d.info.state), "LOGGED_IN");
        /* A controller needs no block device; a disk needs its node. */
        readiness(&d, NULL, 0, false, true, NULL);
        readiness(&d, two, 2, false, true, NULL);
        /* A LUN the target reports that the kernel has not made. */
        readiness(&d, three, 3, false, false, "no-device");
        readiness(&d, three, 3, true, false, "not-scanned");
        /* udev runs and has not finished with sdb. */
        d.udev_running = true;
        readiness(&d, NULL, 0, false, false, "udev-pending");
        luns[1].udev_done = true;
        readiness(&d, NULL, 0, false, true, NULL);
        /* No node, no block device, not running. */
        luns[1].dev_node = false;
        readiness(&d, NULL, 0, false, false, "no-device-node");
        luns[1].block[0] = '\0';
        readiness(&d, NULL, 0, false, false, "no-block-device");
        snprintf(luns[1].state, sizeof(luns[1].state), "transport-offline");
        readiness(&d, NULL, 0, false, false, "device-state");
        /* No LUNs at all; a session not logged in. */
        d.n_luns = 0;
        readiness(&d, NULL, 0, false, false, "no-luns");
        snprintf(d.info.state, sizeof(d.info.state), "FREE");
        readiness(&d, two, 2, false, false, "session-state");
}

static void test_iscsid_socket(void **state)
{
        char dir[] = "/tmp/test-login.XXXXXX", path[PATH_MAX];
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/net", dir);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/net/unix", dir);
        /* Not there: no file, a connected socket of that name, a listening one of another. */
        assert_false(login_iscsid_listening(dir));
        f = fopen(path, "w");
        fprintf(f, "Num       RefCount Protocol Flags    Type St Inode Path\n"
                   "0000000000000000: 00000003 00000000 00000000 0001 03 20001 "
                   "@ISCSIADM_ABSTRACT_NAMESPACE\n"
                   "0000000000000000: 00000002 00000000 00010000 0001 01 20002 @other\n");
        fclose(f);
        assert_false(login_iscsid_listening(dir));
        f = fopen(path, "a");
        fprintf(f, "0000000000000000: 00000002 00000000 00010000 0001 01 20003 "
                   "@ISCSIADM_ABSTRACT_NAMESPACE\n");
        fclose(f);
        assert_true(login_iscsid_listening(dir));
        unlink(path);
        snprintf(path, sizeof(path), "%s/net", dir);
        rmdir(path);
        rmdir(dir);
}

static void test_names(void **state)
{
        (void)state;
        assert_string_equal(login_error_to_string(LOGIN_ERR_AUTH), "login-auth-failed");
        assert_string_equal(login_error_to_string(LOGIN_ERR_TIMEOUT), "login-timeout");
        assert_string_equal(login_error_to_string(LOGIN_ERR_ISCSID), "iscsid-unavailable");
        assert_string_equal(login_error_to_string((enum login_error)999), "internal");
        assert_string_equal(login_item_status_to_string(LOGIN_ITEM_ADOPTED), "adopted");
        assert_string_equal(login_op_state_to_string(LOGIN_OP_CANCELLED), "cancelled");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec_output_and_exit),
                cmocka_unit_test(test_exec_environment_scrubbed),
                cmocka_unit_test(test_exec_descriptors),
                cmocka_unit_test(test_exec_deadline_kills_the_group),
                cmocka_unit_test(test_exec_cancel),
                cmocka_unit_test(test_exec_output_bounded),
                cmocka_unit_test(test_exec_refuses),
                cmocka_unit_test(test_scsi_lun_numbers),
                cmocka_unit_test(test_readiness),
                cmocka_unit_test(test_iscsid_socket),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
