/* SPDX-License-Identifier: MIT */
/* Unit tests of engine/store.c: schema, rows, intents, audit, atomicity, errno mapping. */
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
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "macro.h"
#include "store.h"

struct fixture {
        char dir[PATH_MAX];
        char db_path[PATH_MAX];
        struct store *s;
};

#define SENTINEL ((struct store *)(uintptr_t)0x5e5e5e5e)

/* dir + "/" + name into buf (PATH_MAX), asserting it fits. */
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

static void rm_rf(const char *path)
{
        (void)chmod(path, 0700);
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *f;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/test-store-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        path_join(f->db_path, f->dir, "ifaced.db");
        if (store_open(f->db_path, &f->s) < 0) {
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

        store_close(f->s);
        rm_rf(f->dir);
        free(f);
        return 0;
}

/* A second, raw connection to the same file: what another process (or an attacker) sees. */
static sqlite3 *raw_open(const char *path)
{
        sqlite3 *db = NULL;

        assert_int_equal(
                sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                SQLITE_OK);
        return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *stmt = NULL;
        int64_t v;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        v = sqlite3_column_int64(stmt, 0);
        sqlite3_finalize(stmt);
        return v;
}

static void raw_exec(const char *path, const char *sql)
{
        sqlite3 *db = raw_open(path);

        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static struct store_change change(const char *name, const char *content, uint64_t revision,
                                  const char *action, int64_t now_usec)
{
        return (struct store_change){
                .name = name,
                .content = content,
                .revision = revision,
                .origin = "api",
                .now_usec = now_usec,
                .action = action,
                .actor = "tester",
                .request_id = "req-1",
                .before = NULL,
        };
}

/* Collected copies of what the foreach callbacks saw. */
struct seen {
        size_t n;
        char *name[16];
        char *content[16];
        uint64_t revision[16];
        int64_t created[16], updated[16];
        char *origin[16], *actor[16], *request_id[16], *action[16], *before[16];
        int64_t id[16];
        int stop_after; /* > 0: return -ECANCELED after that many */
};

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

static void seen_free(struct seen *v)
{
        for (size_t i = 0; i < v->n; i++) {
                free(v->name[i]);
                free(v->content[i]);
                free(v->origin[i]);
                free(v->actor[i]);
                free(v->request_id[i]);
                free(v->action[i]);
                free(v->before[i]);
        }
        memset(v, 0, sizeof(*v));
}

static int seen_stop(struct seen *v)
{
        if (v->stop_after > 0 && (int)v->n >= v->stop_after)
                return -ECANCELED;
        return 0;
}

static int collect_row(const struct store_row *row, void *ud)
{
        struct seen *v = ud;

        assert_true(v->n < ELEMENTSOF(v->name));
        v->name[v->n] = strdup(row->name);
        v->content[v->n] = strdup(row->content);
        v->origin[v->n] = strdup(row->origin);
        v->revision[v->n] = row->revision;
        v->created[v->n] = row->created_usec;
        v->updated[v->n] = row->updated_usec;
        v->n++;
        return seen_stop(v);
}

static int collect_intent(const struct store_intent *in, void *ud)
{
        struct seen *v = ud;

        assert_true(v->n < ELEMENTSOF(v->name));
        v->name[v->n] = strdup(in->name);
        v->content[v->n] = dup_or_null(in->content);
        v->origin[v->n] = strdup(in->origin);
        v->actor[v->n] = dup_or_null(in->actor);
        v->request_id[v->n] = dup_or_null(in->request_id);
        v->revision[v->n] = in->revision;
        v->n++;
        return seen_stop(v);
}

static int collect_audit(const struct store_audit *a, void *ud)
{
        struct seen *v = ud;

        assert_true(v->n < ELEMENTSOF(v->name));
        v->id[v->n] = a->id;
        v->created[v->n] = a->at_usec;
        v->name[v->n] = strdup(a->name);
        v->action[v->n] = strdup(a->action);
        v->origin[v->n] = strdup(a->origin);
        v->revision[v->n] = a->revision;
        v->actor[v->n] = dup_or_null(a->actor);
        v->request_id[v->n] = dup_or_null(a->request_id);
        v->before[v->n] = dup_or_null(a->before);
        v->content[v->n] = dup_or_null(a->after);
        v->n++;
        return seen_stop(v);
}

static size_t count_rows(struct store *s)
{
        size_t n = 12345;

        assert_int_equal(store_count(s, &n), 0);
        return n;
}

static uint64_t max_revision(struct store *s)
{
        uint64_t v = 12345;

        assert_int_equal(store_max_revision(s, &v), 0);
        return v;
}

static size_t count_audit(struct store *s, const char *name)
{
        struct seen v = { 0 };
        size_t n;

        assert_int_equal(store_audit_foreach(s, name, SIZE_MAX, collect_audit, &v), 0);
        n = v.n;
        seen_free(&v);
        return n;
}

static size_t count_intents(struct store *s)
{
        struct seen v = { 0 };
        size_t n;

        assert_int_equal(store_intents_foreach(s, collect_intent, &v), 0);
        n = v.n;
        seen_free(&v);
        return n;
}

static void test_store_new_db_is_empty(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db;

        assert_int_equal(count_rows(f->s), 0);
        assert_int_equal(max_revision(f->s), 0);
        assert_int_equal(count_intents(f->s), 0);
        assert_int_equal(count_audit(f->s, NULL), 0);
        assert_int_equal(store_check(f->s), 0);

        db = raw_open(f->db_path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 5);
        sqlite3_close(db);
}

static void test_store_file_db_uses_wal(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db = raw_open(f->db_path);
        sqlite3_stmt *stmt = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
        sqlite3_finalize(stmt);
        sqlite3_close(db);
}

static void test_store_crud_round_trip(void **state)
{
        /* Content kept byte for byte: newlines, quotes, SQL-looking text, UTF-8. */
        static const struct {
                const char *name;
                const char *content;
        } rows[] = {
                { "iface0",
                  "# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = iface0\n# END RECORD\n" },
                { "a'); DROP TABLE ifaces; --", "x = 'y'\n\"z\"\n" },
                { "b", "" },
                { "c", "caf\xc3\xa9 \t tab\n\n" },
        };
        /* Name order is strcmp order. */
        static const size_t order[] = { 1, 2, 3, 0 };
        struct fixture *f = *state;
        struct seen v = { 0 };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                struct store_change c =
                        change(rows[i].name, rows[i].content, 10 + i, "create", 1000 + (int64_t)i);

                assert_int_equal(store_apply(f->s, &c), 0);
        }

        assert_int_equal(count_rows(f->s), ELEMENTSOF(rows));
        assert_int_equal(store_rows_foreach(f->s, collect_row, &v), 0);
        assert_int_equal(v.n, ELEMENTSOF(rows));
        for (size_t k = 0; k < ELEMENTSOF(order); k++) {
                size_t i = order[k];

                assert_string_equal(v.name[k], rows[i].name);
                assert_string_equal(v.content[k], rows[i].content);
                assert_int_equal(v.revision[k], 10 + i);
                assert_string_equal(v.origin[k], "api");
                assert_int_equal(v.created[k], 1000 + (int64_t)i);
                assert_int_equal(v.updated[k], 1000 + (int64_t)i);
        }
        seen_free(&v);
        assert_int_equal(max_revision(f->s), 13);
}

static void test_store_update_keeps_created_usec(void **state)
{
        struct fixture *f = *state;
        struct store_change c = change("e0", "v1\n", 1, "create", 100);
        struct seen v = { 0 };

        assert_int_equal(store_apply(f->s, &c), 0);
        c = change("e0", "v2\n", 2, "update", 200);
        c.origin = "external";
        c.before = "v1\n";
        assert_int_equal(store_apply(f->s, &c), 0);

        assert_int_equal(store_rows_foreach(f->s, collect_row, &v), 0);
        assert_int_equal(v.n, 1);
        assert_string_equal(v.content[0], "v2\n");
        assert_int_equal(v.revision[0], 2);
        assert_string_equal(v.origin[0], "external");
        assert_int_equal(v.created[0], 100);
        assert_int_equal(v.updated[0], 200);
        seen_free(&v);

        /* The audit entry of the update carries before and after. */
        assert_int_equal(store_audit_foreach(f->s, "e0", 1, collect_audit, &v), 0);
        assert_int_equal(v.n, 1);
        assert_string_equal(v.action[0], "update");
        assert_string_equal(v.before[0], "v1\n");
        assert_string_equal(v.content[0], "v2\n");
        seen_free(&v);
}

static void test_store_delete_removes_row_and_audits(void **state)
{
        struct fixture *f = *state;
        struct store_change c = change("e0", "v1\n", 1, "create", 100);
        struct seen v = { 0 };

        assert_int_equal(store_apply(f->s, &c), 0);
        c = change("e0", NULL, 2, "delete", 300);
        c.before = "v1\n";
        assert_int_equal(store_apply(f->s, &c), 0);

        assert_int_equal(count_rows(f->s), 0);
        assert_int_equal(store_audit_foreach(f->s, "e0", 10, collect_audit, &v), 0);
        assert_int_equal(v.n, 2);
        assert_string_equal(v.action[0], "delete");
        assert_int_equal(v.revision[0], 2);
        assert_int_equal(v.created[0], 300);
        assert_string_equal(v.before[0], "v1\n");
        assert_null(v.content[0]);
        assert_string_equal(v.action[1], "create");
        assert_null(v.before[1]);
        assert_string_equal(v.content[1], "v1\n");
        seen_free(&v);

        /* Deleting a row that is not there is recorded, not refused. */
        c = change("ghost", NULL, 3, "recover", 400);
        assert_int_equal(store_apply(f->s, &c), 0);
        assert_int_equal(count_audit(f->s, "ghost"), 1);
}

static void test_store_intent_put_replace_drop_foreach(void **state)
{
        struct fixture *f = *state;
        struct store_intent a = { .name = "a",
                                  .content = "A1\n",
                                  .revision = 1,
                                  .origin = "api",
                                  .actor = "alice",
                                  .request_id = "r1" };
        struct store_intent b = {
                .name = "b", .content = NULL, .revision = 2, .origin = "external"
        };
        struct seen v = { 0 };

        assert_int_equal(store_intent_put(f->s, &a), 0);
        assert_int_equal(store_intent_put(f->s, &b), 0);

        assert_int_equal(store_intents_foreach(f->s, collect_intent, &v), 0);
        assert_int_equal(v.n, 2);
        assert_string_equal(v.name[0], "a");
        assert_string_equal(v.content[0], "A1\n");
        assert_int_equal(v.revision[0], 1);
        assert_string_equal(v.origin[0], "api");
        assert_string_equal(v.actor[0], "alice");
        assert_string_equal(v.request_id[0], "r1");
        assert_string_equal(v.name[1], "b");
        assert_null(v.content[1]);
        assert_int_equal(v.revision[1], 2);
        assert_string_equal(v.origin[1], "external");
        assert_null(v.actor[1]);
        assert_null(v.request_id[1]);
        seen_free(&v);

        /* A second intent for a name replaces the first. */
        a.content = "A3\n";
        a.revision = 3;
        a.actor = NULL;
        assert_int_equal(store_intent_put(f->s, &a), 0);
        assert_int_equal(store_intents_foreach(f->s, collect_intent, &v), 0);
        assert_int_equal(v.n, 2);
        assert_string_equal(v.name[0], "b");
        assert_string_equal(v.name[1], "a");
        assert_string_equal(v.content[1], "A3\n");
        assert_int_equal(v.revision[1], 3);
        assert_null(v.actor[1]);
        seen_free(&v);
        assert_int_equal(max_revision(f->s), 3);

        /* A negative return of the callback stops the walk and is returned. */
        v.stop_after = 1;
        assert_int_equal(store_intents_foreach(f->s, collect_intent, &v), -ECANCELED);
        assert_int_equal(v.n, 1);
        seen_free(&v);

        assert_int_equal(store_intent_drop(f->s, "a"), 0);
        assert_int_equal(store_intent_drop(f->s, "a"), 0);
        assert_int_equal(store_intent_drop(f->s, "never"), 0);
        assert_int_equal(store_intents_foreach(f->s, collect_intent, &v), 0);
        assert_int_equal(v.n, 1);
        assert_string_equal(v.name[0], "b");
        seen_free(&v);

        /* Intents are not rows. */
        assert_int_equal(count_rows(f->s), 0);
}

static void test_store_apply_drops_intent(void **state)
{
        struct fixture *f = *state;
        struct store_intent in = {
                .name = "e0", .content = "v1\n", .revision = 7, .origin = "api"
        };
        struct store_intent other = {
                .name = "e1", .content = "w\n", .revision = 8, .origin = "api"
        };
        struct store_change c = change("e0", "v1\n", 7, "create", 1);
        struct seen v = { 0 };

        assert_int_equal(store_intent_put(f->s, &in), 0);
        assert_int_equal(store_intent_put(f->s, &other), 0);
        assert_int_equal(store_apply(f->s, &c), 0);

        assert_int_equal(store_intents_foreach(f->s, collect_intent, &v), 0);
        assert_int_equal(v.n, 1);
        assert_string_equal(v.name[0], "e1");
        seen_free(&v);
}

/*
 * A trigger added behind the store's back makes one step of store_apply fail; whatever step
 * it is, the row, the audit trail and the intent must be as they were before.
 */
static void test_store_apply_is_atomic(void **state)
{
        static const struct {
                const char *trigger;
                const char *content; /* NULL = a delete */
        } cases[] = {
                { "CREATE TRIGGER boom BEFORE UPDATE ON ifaces"
                  " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  "new\n" },
                { "CREATE TRIGGER boom BEFORE DELETE ON ifaces"
                  " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  NULL },
                { "CREATE TRIGGER boom BEFORE INSERT ON audit"
                  " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  "new\n" },
                { "CREATE TRIGGER boom BEFORE INSERT ON audit"
                  " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  NULL },
                { "CREATE TRIGGER boom BEFORE DELETE ON intents"
                  " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  "new\n" },
                { "CREATE TRIGGER boom BEFORE DELETE ON intents"
                  " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                  NULL },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char name[32];
                struct store_change c;
                struct store_intent in;
                struct seen v = { 0 };
                uint64_t rev = 100 * (i + 1);

                snprintf(name, sizeof(name), "victim%zu", i);
                c = change(name, "old\n", rev, "create", 10);
                assert_int_equal(store_apply(f->s, &c), 0);
                in = (struct store_intent){ .name = name,
                                            .content = cases[i].content,
                                            .revision = rev + 1,
                                            .origin = "api" };
                assert_int_equal(store_intent_put(f->s, &in), 0);

                raw_exec(f->db_path, cases[i].trigger);

                c = change(name, cases[i].content, rev + 1, cases[i].content ? "update" : "delete",
                           20);
                c.before = "old\n";
                /* RAISE(ABORT) is a constraint failure, which the store maps to -EEXIST. */
                assert_int_equal(store_apply(f->s, &c), -EEXIST);

                raw_exec(f->db_path, "DROP TRIGGER boom");

                /* Only this case's row is left: earlier cases ended by deleting theirs or not. */
                assert_int_equal(store_rows_foreach(f->s, collect_row, &v), 0);
                {
                        size_t k = 0;

                        while (k < v.n && !streq(v.name[k], name))
                                k++;
                        assert_true(k < v.n);
                        assert_string_equal(v.content[k], "old\n");
                        assert_int_equal(v.revision[k], rev);
                        assert_int_equal(v.updated[k], 10);
                }
                seen_free(&v);

                assert_int_equal(count_audit(f->s, name), 1);
                assert_int_equal(store_intents_foreach(f->s, collect_intent, &v), 0);
                assert_int_equal(v.n, 1);
                assert_string_equal(v.name[0], name);
                assert_int_equal(v.revision[0], rev + 1);
                seen_free(&v);

                /* No transaction was left open: the same change now goes through. */
                assert_int_equal(store_apply(f->s, &c), 0);
                assert_int_equal(count_intents(f->s), 0);
        }
}

static void test_store_busy_is_ebusy(void **state)
{
        struct fixture *f = *state;
        struct store_intent in = { .name = "e0", .content = "x", .revision = 1, .origin = "api" };
        struct store_change c = change("e0", "x", 1, "create", 1);
        sqlite3 *db = raw_open(f->db_path);

        /* Another writer holds the write lock past our busy timeout (5 s). */
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(store_intent_put(f->s, &in), -EBUSY);
        assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        assert_int_equal(count_intents(f->s), 0);
        assert_int_equal(store_apply(f->s, &c), 0);
        assert_int_equal(count_rows(f->s), 1);
}

static void test_store_audit_newest_first_and_limit(void **state)
{
        static const struct {
                const char *name;
                const char *content;
                const char *action;
        } steps[] = {
                { "a", "a1", "create" }, { "b", "b1", "create" }, { "a", "a2", "update" },
                { "b", NULL, "delete" }, { "a", "a3", "update" },
        };
        static const struct {
                const char *name;
                size_t limit;
                size_t expect_n;
                uint64_t expect_first_rev;
        } queries[] = {
                { NULL, SIZE_MAX, 5, 5 }, { NULL, 2, 2, 5 }, { "a", SIZE_MAX, 3, 5 },
                { "a", 1, 1, 5 },         { "b", 10, 2, 4 }, { "nobody", 10, 0, 0 },
                { NULL, 0, 0, 0 },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                struct store_change c = change(steps[i].name, steps[i].content, i + 1,
                                               steps[i].action, 1000 * (int64_t)(i + 1));

                c.request_id = i % 2 ? NULL : "rq";
                assert_int_equal(store_apply(f->s, &c), 0);
        }

        for (size_t q = 0; q < ELEMENTSOF(queries); q++) {
                struct seen v = { 0 };

                assert_int_equal(store_audit_foreach(f->s, queries[q].name, queries[q].limit,
                                                     collect_audit, &v),
                                 0);
                assert_int_equal(v.n, queries[q].expect_n);
                if (v.n > 0)
                        assert_int_equal(v.revision[0], queries[q].expect_first_rev);
                for (size_t k = 0; k < v.n; k++) {
                        size_t step = v.revision[k] - 1;

                        if (k > 0)
                                assert_true(v.id[k] < v.id[k - 1]);
                        if (queries[q].name)
                                assert_string_equal(v.name[k], queries[q].name);
                        assert_string_equal(v.name[k], steps[step].name);
                        assert_string_equal(v.action[k], steps[step].action);
                        assert_int_equal(v.created[k], 1000 * (int64_t)(step + 1));
                        assert_string_equal(v.actor[k], "tester");
                        if (step % 2)
                                assert_null(v.request_id[k]);
                        else
                                assert_string_equal(v.request_id[k], "rq");
                        if (steps[step].content)
                                assert_string_equal(v.content[k], steps[step].content);
                        else
                                assert_null(v.content[k]);
                }
                seen_free(&v);
        }
}

static void test_store_audit_is_append_only(void **state)
{
        static const char *const attacks[] = {
                "UPDATE audit SET action = 'forged'",
                "UPDATE audit SET after = NULL WHERE name = 'e0'",
                "DELETE FROM audit",
                "DELETE FROM audit WHERE id = 1",
        };
        struct fixture *f = *state;
        struct store_change c = change("e0", "v1", 1, "create", 1);
        struct seen v = { 0 };
        sqlite3 *db;

        assert_int_equal(store_apply(f->s, &c), 0);

        db = raw_open(f->db_path);
        sqlite3_extended_result_codes(db, 1);
        for (size_t i = 0; i < ELEMENTSOF(attacks); i++)
                assert_int_equal(sqlite3_exec(db, attacks[i], NULL, NULL, NULL),
                                 SQLITE_CONSTRAINT_TRIGGER);
        sqlite3_close(db);

        assert_int_equal(store_audit_foreach(f->s, NULL, 10, collect_audit, &v), 0);
        assert_int_equal(v.n, 1);
        assert_string_equal(v.action[0], "create");
        assert_string_equal(v.content[0], "v1");
        seen_free(&v);
}

static void test_store_max_revision_includes_deleted(void **state)
{
        struct fixture *f = *state;
        struct store_change c = change("e0", "v", 5, "create", 1);
        struct store_intent in = { .name = "e1", .content = "w", .revision = 9, .origin = "api" };

        assert_int_equal(store_apply(f->s, &c), 0);
        assert_int_equal(max_revision(f->s), 5);

        c = change("e0", NULL, 6, "delete", 2);
        assert_int_equal(store_apply(f->s, &c), 0);
        assert_int_equal(count_rows(f->s), 0);
        assert_int_equal(count_intents(f->s), 0);
        /* Only the audit trail still knows revision 6. */
        assert_int_equal(max_revision(f->s), 6);

        /* A pending intent counts too, even above every row. */
        assert_int_equal(store_intent_put(f->s, &in), 0);
        assert_int_equal(max_revision(f->s), 9);
        assert_int_equal(store_intent_drop(f->s, "e1"), 0);
        assert_int_equal(max_revision(f->s), 6);
}

static void test_store_reopen_keeps_data(void **state)
{
        struct fixture *f = *state;
        struct store_change c = change("e0", "v1\n", 1, "create", 100);
        struct store_intent in = { .name = "e1", .content = NULL, .revision = 2, .origin = "api" };
        struct seen v = { 0 };
        sqlite3 *db;
        int64_t objects;

        assert_int_equal(store_apply(f->s, &c), 0);
        assert_int_equal(store_intent_put(f->s, &in), 0);

        db = raw_open(f->db_path);
        objects = raw_int(db, "SELECT COUNT(*) FROM sqlite_master");
        sqlite3_close(db);

        /* Migrations are idempotent: reopening twice changes neither data nor schema. */
        for (int round = 0; round < 2; round++) {
                f->s = store_close(f->s);
                assert_null(f->s);
                assert_int_equal(store_open(f->db_path, &f->s), 0);

                assert_int_equal(store_rows_foreach(f->s, collect_row, &v), 0);
                assert_int_equal(v.n, 1);
                assert_string_equal(v.name[0], "e0");
                assert_string_equal(v.content[0], "v1\n");
                assert_int_equal(v.created[0], 100);
                seen_free(&v);
                assert_int_equal(count_intents(f->s), 1);
                assert_int_equal(count_audit(f->s, NULL), 1);
                assert_int_equal(max_revision(f->s), 2);

                db = raw_open(f->db_path);
                assert_int_equal(raw_int(db, "PRAGMA user_version"), 5);
                assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master"), objects);
                sqlite3_close(db);
        }
}

/* What another connection (an admin's sqlite3) sees: the integer sql selects. */
static int64_t outside_int(struct fixture *f, const char *sql)
{
        sqlite3 *db = raw_open(f->db_path);
        int64_t v = raw_int(db, sql);

        sqlite3_close(db);
        return v;
}

/*
 * Deferred changes (a batch's rows once its writers are answered): copied, not yet in the db,
 * written first by the next write transaction, kept if it rolls back, dropped intents of failed
 * changes included, and written by store_close at the latest.
 */
static void test_store_deferred_changes(void **state)
{
        struct fixture *f = *state;
        char name[8] = "d0", content[8] = "v1\n";
        struct store_change c = change(name, content, 1, "create", 10);
        const struct store_change *v[] = { &c };
        struct store_intent in0 = {
                .name = "d0", .content = "v1\n", .revision = 1, .origin = "api"
        };
        struct store_intent in9 = {
                .name = "d9", .content = "x\n", .revision = 2, .origin = "api"
        };
        struct store_intent again = {
                .name = "d0", .content = "v2\n", .revision = 3, .origin = "api"
        };
        const char *drops[] = { "d9" };
        int64_t since = 0;

        assert_int_equal(store_intent_put(f->s, &in0), 0);
        assert_int_equal(store_intent_put(f->s, &in9), 0);
        assert_false(store_deferred_pending(f->s, NULL));
        assert_int_equal(store_defer_many(f->s, v, 1, drops, 1), 0);
        /* The caller's strings may go: the store holds copies. */
        strcpy(name, "zz");
        strcpy(content, "gone\n");
        assert_true(store_deferred_pending(f->s, &since));
        assert_true(since > 0);
        assert_int_equal(outside_int(f, "SELECT count(*) FROM ifaces"), 0);
        assert_int_equal(outside_int(f, "SELECT count(*) FROM intents"), 2);

        /* A transaction that fails keeps them; the next one writes them before its own
         * statements (so d0's new intent is not dropped by the older change's drop). */
        raw_exec(f->db_path, "CREATE TRIGGER t_fail BEFORE INSERT ON audit BEGIN "
                             "SELECT RAISE(ABORT, 'injected'); END");
        assert_true(store_intent_put(f->s, &again) < 0);
        assert_true(store_deferred_pending(f->s, NULL));
        raw_exec(f->db_path, "DROP TRIGGER t_fail");
        assert_int_equal(outside_int(f, "SELECT count(*) FROM ifaces"), 0);
        assert_int_equal(store_intent_put(f->s, &again), 0);
        assert_false(store_deferred_pending(f->s, NULL));
        assert_int_equal(outside_int(f, "SELECT count(*) FROM ifaces WHERE name = 'd0' AND "
                                        "content = 'v1' || char(10) AND revision = 1"),
                         1);
        assert_int_equal(outside_int(f, "SELECT count(*) FROM audit WHERE name = 'd0' AND "
                                        "actor = 'tester' AND request_id = 'req-1'"),
                         1);
        assert_int_equal(outside_int(f, "SELECT count(*) FROM intents WHERE name = 'd0' AND "
                                        "revision = 3"),
                         1);
        assert_int_equal(outside_int(f, "SELECT count(*) FROM intents"), 1);

        /* The readers of this connection write them first; store_close at the latest. */
        c = change("d1", "w\n", 4, "create", 20);
        assert_int_equal(store_defer_many(f->s, v, 1, NULL, 0), 0);
        assert_int_equal(count_rows(f->s), 2);
        assert_false(store_deferred_pending(f->s, NULL));
        c = change("d2", "u\n", 5, "create", 30);
        assert_int_equal(store_defer_many(f->s, v, 1, NULL, 0), 0);
        f->s = store_close(f->s);
        assert_int_equal(outside_int(f, "SELECT count(*) FROM ifaces"), 3);
        assert_int_equal(store_open(f->db_path, &f->s), 0);
}

static void test_store_memory_works(void **state)
{
        struct store *s = NULL;
        struct store_change c = change("e0", "v", 1, "create", 1);
        struct seen v = { 0 };

        (void)state;
        assert_int_equal(store_open(":memory:", &s), 0);
        assert_non_null(s);
        assert_int_equal(store_apply(s, &c), 0);
        assert_int_equal(count_rows(s), 1);
        assert_int_equal(store_rows_foreach(s, collect_row, &v), 0);
        assert_string_equal(v.content[0], "v");
        seen_free(&v);
        assert_int_equal(count_audit(s, "e0"), 1);
        assert_int_equal(store_check(s), 0);
        assert_null(store_close(s));
        assert_null(store_close(NULL));
}

/* The sessions table (v4): its rows are apart from the ifaces and the node db, and audited. */
static void test_store_session_rows(void **state)
{
        struct store *s = NULL;
        struct store_change c =
                change("7", "iqn.2026-12.t:a,10.0.0.1,3260,1,default", 1, "login", 50);
        struct seen v = { 0 };

        (void)state;
        c.session = true;
        c.kind = "session";
        assert_int_equal(store_open(":memory:", &s), 0);
        assert_int_equal(store_apply(s, &c), 0);
        assert_int_equal(count_rows(s), 0);
        assert_int_equal(store_session_rows_foreach(s, collect_row, &v), 0);
        assert_int_equal(v.n, 1);
        assert_string_equal(v.name[0], "7");
        assert_string_equal(v.content[0], "iqn.2026-12.t:a,10.0.0.1,3260,1,default");
        seen_free(&v);
        c.content = NULL;
        c.action = "logout";
        c.revision = 2;
        assert_int_equal(store_apply(s, &c), 0);
        assert_int_equal(store_session_rows_foreach(s, collect_row, &v), 0);
        assert_int_equal(v.n, 0);
        assert_int_equal(count_audit(s, "7"), 2);
        assert_null(store_close(s));
}

static void test_store_open_refuses_newer_schema(void **state)
{
        struct fixture *f = *state;
        struct store *s = SENTINEL;
        char path[PATH_MAX];

        path_join(path, f->dir, "newer.db");
        raw_exec(path, "CREATE TABLE future(x); PRAGMA user_version = 6;");

        assert_int_equal(store_open(path, &s), -EIO);
        assert_ptr_equal(s, SENTINEL);

        /* It was left as it was. */
        {
                sqlite3 *db = raw_open(path);

                assert_int_equal(raw_int(db, "PRAGMA user_version"), 6);
                assert_int_equal(raw_int(db, "SELECT COUNT(*) FROM sqlite_master"), 1);
                sqlite3_close(db);
        }
}

static void test_store_open_errors(void **state)
{
        static const struct {
                const char *rel;     /* path under the test dir */
                const char *garbage; /* if set, write this file first */
                int expect;
        } cases[] = {
                { "missing-dir/ifaced.db", NULL, -ENOENT },
                { "missing-dir/deeper/ifaced.db", NULL, -ENOENT },
                { "not-a-db",
                  "this is not a sqlite database, not even close......"
                  "................................................",
                  -EUCLEAN }, /* SQLITE_NOTADB: a damaged or foreign file */
                { "not-a-db/ifaced.db", NULL, -ENOTDIR }, /* under the file just made */
                { ".", NULL, -EIO },                      /* a directory */
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct store *s = SENTINEL;
                char path[PATH_MAX];

                path_join(path, f->dir, cases[i].rel);
                if (cases[i].garbage) {
                        FILE *fp = fopen(path, "w");

                        assert_non_null(fp);
                        fputs(cases[i].garbage, fp);
                        fclose(fp);
                }
                assert_int_equal(store_open(path, &s), cases[i].expect);
                assert_ptr_equal(s, SENTINEL);
        }
}

/*
 * Root ignores permission bits, so a read-only bind mount in a private mount namespace of a
 * child stands in for a write-protected db; the mount dies with the child. As another user,
 * permission bits do the job.
 */
static int read_only_child(const char *dir, const char *existing, const char *fresh, bool as_root)
{
        struct store *s = SENTINEL;
        int r;

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
                if (chmod(existing, 0400) < 0 || chmod(dir, 0500) < 0)
                        return 98;
        }

        r = store_open(existing, &s);
        if (r != -EROFS || s != SENTINEL)
                return 1;
        r = store_open(fresh, &s);
        if (r != (as_root ? -EROFS : -EACCES) || s != SENTINEL)
                return 2;
        return 0;
}

static void test_store_open_read_only(void **state)
{
        struct fixture *f = *state;
        char dir[PATH_MAX], existing[PATH_MAX], fresh[PATH_MAX];
        struct store *s = NULL;
        int status;
        pid_t pid;

        path_join(dir, f->dir, "ro");
        path_join(existing, dir, "existing.db");
        path_join(fresh, dir, "fresh.db");
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(store_open(existing, &s), 0);
        store_close(s);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(read_only_child(dir, existing, fresh, geteuid() == 0));

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        (void)chmod(dir, 0700);
        if (WEXITSTATUS(status) == 77)
                skip(); /* no CAP_SYS_ADMIN for a private mount namespace */
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_store_invalid_args(void **state)
{
        struct fixture *f = *state;
        struct store *s = SENTINEL;
        struct store_change c = change("e0", "x", 1, "create", 1);
        struct store_intent in = { .name = "e0", .content = "x", .revision = 1, .origin = "api" };
        uint64_t rev = 77;
        size_t n = 77;

        assert_int_equal(store_open(NULL, &s), -EINVAL);
        assert_ptr_equal(s, SENTINEL);
        assert_int_equal(store_open(f->db_path, NULL), -EINVAL);
        assert_int_equal(store_max_revision(NULL, &rev), -EINVAL);
        assert_int_equal(rev, 77);
        assert_int_equal(store_count(NULL, &n), -EINVAL);
        assert_int_equal(n, 77);
        assert_int_equal(store_rows_foreach(f->s, NULL, NULL), -EINVAL);
        assert_int_equal(store_intents_foreach(f->s, NULL, NULL), -EINVAL);
        assert_int_equal(store_audit_foreach(f->s, NULL, 1, NULL, NULL), -EINVAL);
        assert_int_equal(store_intent_drop(f->s, NULL), -EINVAL);

        c.name = NULL;
        assert_int_equal(store_apply(f->s, &c), -EINVAL);
        c = change("e0", "x", 1, NULL, 1);
        assert_int_equal(store_apply(f->s, &c), -EINVAL);
        c = change("e0", "x", (uint64_t)INT64_MAX + 1, "create", 1);
        assert_int_equal(store_apply(f->s, &c), -EINVAL);
        in.origin = NULL;
        assert_int_equal(store_intent_put(f->s, &in), -EINVAL);
        assert_int_equal(store_apply(f->s, NULL), -EINVAL);
        assert_int_equal(store_check(NULL), -EINVAL);

        assert_int_equal(count_rows(f->s), 0);
        assert_int_equal(count_intents(f->s), 0);
        assert_int_equal(count_audit(f->s, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_store_new_db_is_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_file_db_uses_wal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_crud_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_update_keeps_created_usec, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_store_delete_removes_row_and_audits, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_store_intent_put_replace_drop_foreach, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_store_apply_drops_intent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_apply_is_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_deferred_changes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_busy_is_ebusy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_audit_newest_first_and_limit, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_store_audit_is_append_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_max_revision_includes_deleted, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_store_reopen_keeps_data, setup, teardown),
                cmocka_unit_test(test_store_memory_works),
                cmocka_unit_test(test_store_session_rows),
                cmocka_unit_test_setup_teardown(test_store_open_refuses_newer_schema, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_store_open_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_open_read_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_store_invalid_args, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
