/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/token.c's verification: a verified row is reused while no connection has
 * committed, and every commit (this connection's, another one's, another process's) counts at
 * the next verification, so a revoked token is refused at once.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "store.h"
#include "tokens.h"

struct fixture {
        char dir[PATH_MAX];
        char db_path[PATH_MAX];
        struct store *s;
        struct tokens *daemon; /* the daemon's connection: the one that verifies */
        struct tokens *cli;    /* another connection to the same file, as the CLI has */
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (flag == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/test-token-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        if (snprintf(f->db_path, sizeof(f->db_path), "%.4000s/ifaced.db", f->dir) >=
                    (int)sizeof(f->db_path) ||
            store_open(f->db_path, &f->s) < 0 || token_table_open(f->db_path, &f->daemon) < 0 ||
            token_table_open(f->db_path, &f->cli) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        token_table_close(f->daemon);
        token_table_close(f->cli);
        store_close(f->s);
        (void)nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* Verify a whole "ifd_<id>_<secret>" token on t. */
static int verify(struct tokens *t, const char *token, struct token_info *ret)
{
        char id[TOKEN_ID_LEN + 1], secret[TOKEN_SECRET_LEN + 1];

        assert_int_equal(token_split(token, id, secret), 0);
        return token_table_verify(t, id, secret, ret);
}

/* The fields of two token_info (not their padding). */
static void assert_info_equal(const struct token_info *a, const struct token_info *b)
{
        assert_string_equal(a->id, b->id);
        assert_int_equal(a->role, b->role);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->created_usec, b->created_usec);
        assert_int_equal(a->revoked_usec, b->revoked_usec);
}

/* A verified token again, with nothing committed in between: the same answer, no db read. */
static void test_token_verify_reuses_while_unchanged(void **state)
{
        struct fixture *f = *state;
        char token[TOKEN_LEN + 1];
        struct token_info made, first, again;
        uint64_t checks;

        assert_int_equal(token_table_create(f->cli, ROLE_VIEWER, "v", "test", NULL, token, &made),
                         0);
        assert_int_equal(verify(f->daemon, token, &first), 0);
        assert_string_equal(first.id, made.id);
        assert_int_equal(first.role, ROLE_VIEWER);
        assert_string_equal(first.name, "v");

        checks = token_table_db_checks(f->daemon);
        for (int i = 0; i < 100; i++) {
                memset(&again, 0x5a, sizeof(again));
                assert_int_equal(verify(f->daemon, token, &again), 0);
                assert_info_equal(&again, &first);
        }
        assert_int_equal(token_table_db_checks(f->daemon), checks);
}

/* A wrong secret for a known (and cached) id is refused, and *ret is left alone. */
static void test_token_verify_wrong_secret_cached_id(void **state)
{
        struct fixture *f = *state;
        char token[TOKEN_LEN + 1];
        struct token_info ti, untouched;

        assert_int_equal(token_table_create(f->cli, ROLE_ADMIN, "a", "test", NULL, token, NULL), 0);
        assert_int_equal(verify(f->daemon, token, &ti), 0);
        token[TOKEN_LEN - 1] = token[TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
        memset(&ti, 0x5a, sizeof(ti));
        untouched = ti;
        assert_int_equal(verify(f->daemon, token, &ti), -EACCES);
        assert_memory_equal(&ti, &untouched, sizeof(ti));
}

/* Revoked through another connection (the CLI): refused at the very next verification. */
static void test_token_verify_revoke_by_other_connection(void **state)
{
        struct fixture *f = *state;
        char token[TOKEN_LEN + 1], other[TOKEN_LEN + 1];
        struct token_info ti, oi;
        uint64_t checks;

        assert_int_equal(token_table_create(f->cli, ROLE_OPERATOR, "o", "test", NULL, token, &ti),
                         0);
        assert_int_equal(token_table_create(f->cli, ROLE_VIEWER, "w", "test", NULL, other, &oi), 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(verify(f->daemon, token, &ti), 0);
                assert_int_equal(verify(f->daemon, other, &oi), 0);
        }
        checks = token_table_db_checks(f->daemon);

        assert_int_equal(token_table_revoke(f->cli, ti.id, "test", NULL), 0);
        assert_int_equal(verify(f->daemon, token, &ti), -EACCES);
        assert_true(token_table_db_checks(f->daemon) > checks);
        /* The other token is unaffected, and is reused again from then on. */
        assert_int_equal(verify(f->daemon, other, &oi), 0);
        checks = token_table_db_checks(f->daemon);
        assert_int_equal(verify(f->daemon, other, &oi), 0);
        assert_int_equal(verify(f->daemon, token, &ti), -EACCES);
        assert_int_equal(token_table_db_checks(f->daemon), checks);
}

/* Revoked through the verifying connection itself (DELETE /api/v1/tokens/{id}). */
static void test_token_verify_revoke_by_same_connection(void **state)
{
        struct fixture *f = *state;
        char token[TOKEN_LEN + 1];
        struct token_info ti;

        assert_int_equal(token_table_create(f->daemon, ROLE_VIEWER, "s", "test", NULL, token, &ti),
                         0);
        assert_int_equal(verify(f->daemon, token, &ti), 0);
        assert_int_equal(verify(f->daemon, token, &ti), 0);
        assert_int_equal(token_table_revoke(f->daemon, ti.id, "test", NULL), 0);
        assert_int_equal(verify(f->daemon, token, &ti), -EACCES);
}

/* Revoked by another process (the token CLI run while the daemon serves): refused at once. */
static void test_token_verify_revoke_by_other_process(void **state)
{
        struct fixture *f = *state;
        char token[TOKEN_LEN + 1];
        struct token_info ti;
        int status;
        pid_t pid;

        assert_int_equal(token_table_create(f->cli, ROLE_VIEWER, "p", "test", NULL, token, &ti), 0);
        assert_int_equal(verify(f->daemon, token, &ti), 0);
        assert_int_equal(verify(f->daemon, token, &ti), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct tokens *t = NULL;

                _exit(token_table_open(f->db_path, &t) == 0 &&
                                      token_table_revoke(t, ti.id, "cli", NULL) == 0 ?
                              0 :
                              1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(verify(f->daemon, token, &ti), -EACCES);
}

/*
 * Many changes by the other connection, each followed at once by a verification: every answer
 * is the one a fresh connection (no cache) gives.
 */
static void test_token_verify_matches_uncached(void **state)
{
        struct fixture *f = *state;
        char tokens[8][TOKEN_LEN + 1];
        struct token_info ti[8];

        for (size_t i = 0; i < ELEMENTSOF(tokens); i++)
                assert_int_equal(token_table_create(f->cli, ROLE_VIEWER + (int)(i % 3), "m", "test",
                                                    NULL, tokens[i], &ti[i]),
                                 0);
        for (size_t i = 0; i < ELEMENTSOF(tokens); i++) {
                if (i % 2 == 0)
                        assert_int_equal(token_table_revoke(f->cli, ti[i].id, "test", NULL), 0);
                for (size_t k = 0; k < ELEMENTSOF(tokens); k++) {
                        struct tokens *fresh = NULL;
                        struct token_info a = {}, b = {};
                        int ra, rb;

                        assert_int_equal(token_table_open(f->db_path, &fresh), 0);
                        ra = verify(f->daemon, tokens[k], &a);
                        rb = verify(fresh, tokens[k], &b);
                        token_table_close(fresh);
                        assert_int_equal(ra, rb);
                        assert_info_equal(&a, &b);
                }
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_token_verify_reuses_while_unchanged, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_token_verify_wrong_secret_cached_id, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_token_verify_revoke_by_other_connection, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_token_verify_revoke_by_same_connection, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_token_verify_revoke_by_other_process, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_token_verify_matches_uncached, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
