/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/log.c: the line format, and deferred writing (every line written, in
 * order, a line not deferred at once after the lines before it).
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "macro.h"

struct fixture {
        char path[PATH_MAX];
        int saved_stderr;
};

/* stderr goes to a file of the test's own while it runs. */
static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *f = calloc(1, sizeof(*f));
        int fd;

        if (!f)
                return -1;
        snprintf(f->path, sizeof(f->path), "%.4000s/test-log-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        fd = mkstemp(f->path);
        if (fd < 0)
                return -1;
        f->saved_stderr = dup(STDERR_FILENO);
        if (f->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
                return -1;
        close(fd);
        log_set_level(LOG_DEBUG);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        log_defer_stop();
        log_set_level(LOG_INFO);
        dup2(f->saved_stderr, STDERR_FILENO);
        close(f->saved_stderr);
        unlink(f->path);
        free(f);
        return 0;
}

/* What was written to stderr so far (malloc()ed, NUL-terminated). */
static char *written(const struct fixture *f)
{
        FILE *in = fopen(f->path, "r");
        char *buf = NULL;
        size_t cap = 0, len = 0, n;

        assert_non_null(in);
        do {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 65536;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
                n = fread(buf + len, 1, cap - len, in);
                len += n;
        } while (n > 0);
        fclose(in);
        buf[len] = 0;
        return buf;
}

static void test_log_line_format(void **state)
{
        struct fixture *f = *state;
        char *out;

        log_info("GET %s -> %d", "/a\nb\x7f", 200);
        log_info_deferred("not deferred before log_defer_start()");
        assert_int_equal(log_error_errno(-ENOENT, "open '%s'", "x"), -ENOENT);
        log_debug("d");
        log_set_level(LOG_NOTICE);
        log_info("not printed");
        out = written(f);
        assert_string_equal(out, "<6>GET /a?b? -> 200\n"
                                 "<6>not deferred before log_defer_start()\n"
                                 "<3>open 'x': No such file or directory\n"
                                 "<7>test_log_line_format: d\n");
        free(out);
}

/* A message too long for the line is cut, and is still exactly one line. */
static void test_log_long_line(void **state)
{
        struct fixture *f = *state;
        char big[5000], *out;

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        log_warning("%s", big);
        log_error_errno(-EIO, "%s", big);
        out = written(f);
        assert_int_equal(strlen(out),
                         (3 + 2047 + 1) + (3 + 2047 + strlen(": Input/output error\n")));
        assert_ptr_equal(strchr(out, '\n'), out + 3 + 2047);
        free(out);
}

#define THREADS 4
#define LINES   5000

static void *logger(void *arg)
{
        int t = (int)(intptr_t)arg;

        for (int i = 0; i < LINES; i++)
                log_info_deferred("thread %d line %d", t, i);
        return NULL;
}

/* Deferred: every line of every thread is written once, each thread's in its order. */
static void test_log_defer_all_lines_in_order(void **state)
{
        struct fixture *f = *state;
        pthread_t th[THREADS];
        int next[THREADS] = {};
        char *out, *save = NULL;
        size_t lines = 0;

        assert_int_equal(log_defer_start(), 0);
        for (int t = 0; t < THREADS; t++)
                assert_int_equal(pthread_create(&th[t], NULL, logger, (void *)(intptr_t)t), 0);
        for (int t = 0; t < THREADS; t++)
                pthread_join(th[t], NULL);
        log_flush();

        out = written(f);
        for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                int t, i;

                assert_int_equal(sscanf(l, "<6>thread %d line %d", &t, &i), 2);
                assert_true(t >= 0 && t < THREADS);
                assert_int_equal(i, next[t]);
                next[t]++;
                lines++;
        }
        assert_int_equal(lines, THREADS * LINES);
        free(out);
}

/* Deferred: a line not deferred (an info line too) is written at once, after those before it. */
static void test_log_defer_others_at_once(void **state)
{
        struct fixture *f = *state;
        char *out;

        assert_int_equal(log_defer_start(), 0);
        for (int i = 0; i < 1000; i++)
                log_info_deferred("info %d", i);
        log_warning("warned");
        out = written(f);
        assert_non_null(strstr(out, "<6>info 999\n<4>warned\n"));
        assert_int_equal(strstr(out, "<4>warned\n") - out + strlen("<4>warned\n"), strlen(out));
        free(out);
        log_info_deferred("later");
        log_info("now");
        out = written(f);
        assert_non_null(strstr(out, "<4>warned\n<6>later\n<6>now\n"));
        free(out);
}

/* Stopping writes what is left; from then on lines are written at once again. */
static void test_log_defer_stop_writes_all(void **state)
{
        struct fixture *f = *state;
        char *out;

        assert_int_equal(log_defer_start(), 0);
        for (int i = 0; i < 3000; i++)
                log_info_deferred("line %d", i);
        log_defer_stop();
        out = written(f);
        assert_non_null(strstr(out, "<6>line 2999\n"));
        free(out);
        log_info("after");
        out = written(f);
        assert_non_null(strstr(out, "<6>line 2999\n<6>after\n"));
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_log_line_format, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_long_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_defer_all_lines_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_defer_others_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_defer_stop_writes_all, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
