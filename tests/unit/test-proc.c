/* SPDX-License-Identifier: MIT */
/* Unit tests of common/proc.c: self_pid() is getpid(), in the parent and in a forked child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

static void test_self_pid(void **state)
{
        int status;
        pid_t pid;

        assert_int_equal(self_pid(), getpid());
        assert_int_equal(self_pid(), getpid()); /* cached */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(self_pid() == getpid() && self_pid() != getppid() ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(self_pid(), getpid());
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_self_pid),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
