/* SPDX-License-Identifier: MIT */
/* Unit tests of engine/engine.c: the verbs, the index order, recovery at start, and drift. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "engine.h"
#include "macro.h"

struct fixture {
        char dir[256];
        char root[300];
        char db[300];
        char lock[300];
        struct engine *e;
};

static const struct engine_ctx ctx = { "unit-test", "req-1" };

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

static void fixture_open(struct fixture *f, enum engine_drift_policy drift,
                         void (*hook)(const char *))
{
        struct engine_config cfg = {
                .iscsi_root = f->root,
                .db_path = f->db,
                .lock_dir = f->lock,
                .drift = drift,
                .lock_timeout_ms = 1000,
                .fault = hook,
        };
        char *msg = NULL;
        int r;

        r = engine_new(&cfg, &f->e, &msg);
        if (r < 0)
                fail_msg("engine_new: %s", msg ? msg : strerror(-r));
        free(msg);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        snprintf(f->dir, sizeof(f->dir), "%s/engine-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
        snprintf(f->db, sizeof(f->db), "%s/db.sqlite", f->dir);
        snprintf(f->lock, sizeof(f->lock), "%s/lock", f->dir);
        fixture_open(f, ENGINE_DRIFT_IMPORT, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        engine_free(f->e);
        nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

static void rec_make(struct iface_rec *rec, const char *name, const char *netdev)
{
        assert_int_equal(iface_rec_init(rec, name), 0);
        if (netdev)
                assert_int_equal(iface_rec_set_str(rec, IFACE_F_NET_IFACENAME, netdev), 0);
}

static void create(struct fixture *f, const char *name, const char *netdev)
{
        struct iface_rec rec = {};
        struct iface_error err = {};

        rec_make(&rec, name, netdev);
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), 0);
        iface_rec_done(&rec);
}

static char *file_read(struct fixture *f, const char *name)
{
        char path[600], *buf = NULL;
        size_t n = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/ifaces/%s", f->root, name);
        fp = fopen(path, "re");
        if (!fp)
                return NULL;
        buf = calloc(1, 65536);
        n = fread(buf, 1, 65535, fp);
        buf[n] = 0;
        fclose(fp);
        return buf;
}

static void file_write(struct fixture *f, const char *name, const char *content)
{
        char path[600];
        FILE *fp;

        snprintf(path, sizeof(path), "%s/ifaces/%s", f->root, name);
        fp = fopen(path, "we");
        assert_non_null(fp);
        fputs(content, fp);
        fclose(fp);
}

static int count_sql(struct fixture *f, const char *sql)
{
        sqlite3 *db;
        sqlite3_stmt *st;
        int n = -1;

        assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

/* The row of name and its intent, if any, as one statement sees them (one snapshot). */
static void db_pair(struct fixture *f, const char *name, char **ret_row, char **ret_intent,
                    bool *ret_has_intent)
{
        sqlite3 *db;
        sqlite3_stmt *st;
        const unsigned char *t;

        assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT (SELECT content FROM ifaces WHERE name = ?1),"
                                            " (SELECT content FROM intents WHERE name = ?1),"
                                            " EXISTS (SELECT 1 FROM intents WHERE name = ?1)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        t = sqlite3_column_text(st, 0);
        *ret_row = t ? strdup((const char *)t) : NULL;
        t = sqlite3_column_text(st, 1);
        *ret_intent = t ? strdup((const char *)t) : NULL;
        *ret_has_intent = sqlite3_column_int(st, 2) != 0;
        sqlite3_finalize(st);
        sqlite3_close(db);
}

/* The sqlite row content of name, or NULL. */
static char *row_read(struct fixture *f, const char *name)
{
        char *row = NULL, *intent = NULL;
        bool has_intent;

        db_pair(f, name, &row, &intent, &has_intent);
        free(intent);
        return row;
}

/*
 * Both mirrors hold exactly the bytes of the index for name (or nothing). The file at once; the
 * db durably at once (the row, or the intent whose row is deferred to the next transaction),
 * and the row itself, with no intent left, once the applier has written it (within its linger
 * of a few ms; 2 s allowed).
 */
static void assert_mirrors(struct fixture *f, const char *name, bool present)
{
        struct iface_snap *s = NULL;
        char *file = file_read(f, name), *row = NULL, *intent = NULL;
        int r = engine_iface_get(f->e, name, &s);
        const char *want;
        bool has_intent;

        if (present) {
                assert_int_equal(r, 0);
                assert_non_null(file);
                assert_string_equal(file, s->content);
        } else {
                assert_int_equal(r, -ENOENT);
                assert_null(file);
        }
        want = present ? s->content : NULL;
        db_pair(f, name, &row, &intent, &has_intent);
        if (!(want ? row && streq(row, want) : !row))
                assert_true(has_intent && (want ? intent && streq(intent, want) : !intent));

        for (int i = 0; i < 200; i++) {
                if (!has_intent && (want ? row && streq(row, want) : !row))
                        break;
                usleep(10000);
                free(row);
                free(intent);
                db_pair(f, name, &row, &intent, &has_intent);
        }
        assert_false(has_intent);
        if (want) {
                assert_non_null(row);
                assert_string_equal(row, want);
        } else
                assert_null(row);
        iface_snap_unref(s);
        free(file);
        free(row);
        free(intent);
}

static void test_engine_create_get_delete(void **state)
{
        struct fixture *f = *state;
        struct iface_rec rec = {};
        struct iface_error err = {};
        struct iface_snap *s = NULL;

        rec_make(&rec, "iface0", "eth1");
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, &s, &err), 0);
        assert_non_null(s);
        assert_true(s->revision > 0);
        assert_string_equal(s->origin, "api");
        assert_non_null(strstr(s->content, "iface.net_ifacename = eth1\n"));
        iface_snap_unref(s);
        assert_mirrors(f, "iface0", true);

        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), -EEXIST);
        iface_rec_done(&rec);

        assert_int_equal(engine_iface_delete(f->e, &ctx, "iface0", 0, NULL), 0);
        assert_mirrors(f, "iface0", false);
        assert_int_equal(engine_iface_delete(f->e, &ctx, "iface0", 0, NULL), -ENOENT);
        assert_int_equal(count_sql(f, "SELECT count(*) FROM audit WHERE name = 'iface0'"), 2);
}

/* The temp files in the temp directory: the spares, and any written ahead of a batch. */
static long count_temp_files(const struct fixture *f)
{
        char path[400];
        struct dirent *de;
        long n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "%s/.iscsi-ifaced", f->root);
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strstr(de->d_name, ".tmp"))
                        n++;
        closedir(d);
        return n;
}

/*
 * A create's file is written to a temp file before its batch: when the batch refuses it (the
 * name is taken), that temp file is removed, not left behind.
 */
static void test_engine_refused_create_leaves_no_temp(void **state)
{
        struct fixture *f = *state;
        struct iface_rec rec = {};
        struct iface_error err = {};
        long n0 = -1, n1;

        rec_make(&rec, "iface0", "eth1");
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), 0);
        /* The spare thread started by the first write: wait until it has made its files (it
         * makes more only when fewer than half are left). */
        for (int stable = 0, i = 0; stable < 5 && i < 500; i++) {
                struct timespec tick = { 0, 20 * 1000 * 1000 };
                long n;

                nanosleep(&tick, NULL);
                n = count_temp_files(f);
                stable = n == n0 && n > 33 ? stable + 1 : 0;
                n0 = n;
        }
        assert_true(n0 > 33);

        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), -EEXIST);
        n1 = count_temp_files(f);
        /* One spare was taken for the file written ahead, and removed with the refusal. */
        assert_int_equal(n1, n0 - 1);
        iface_rec_done(&rec);
}

static void test_engine_builtins_are_read_only(void **state)
{
        struct fixture *f = *state;
        struct iface_rec rec = {};
        struct iface_error err = {};
        struct iface_snap *s = NULL;

        assert_int_equal(engine_iface_get(f->e, "iser", &s), 0);
        assert_true(s->builtin);
        assert_string_equal(s->rec.str[IFACE_F_TRANSPORT_NAME], "iser");
        iface_snap_unref(s);

        rec_make(&rec, "default", NULL);
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), -EPERM);
        assert_string_equal(err.field, "name");
        iface_rec_done(&rec);
        assert_int_equal(engine_iface_delete(f->e, &ctx, "default", 0, NULL), -EPERM);
        assert_null(file_read(f, "default"));
}

static int edit_netdev(const struct iface_rec *cur, struct iface_rec *next, struct iface_error *err,
                       void *userdata)
{
        return iface_rec_set_str(next, IFACE_F_NET_IFACENAME, userdata);
}

/* A thread that must not wait for an fsync (an HTTP thread running a route not marked
 * ROUTE_DURABLE) gets -EDEADLK from every durable verb, and nothing is written. */
static void test_engine_durable_guard(void **state)
{
        struct fixture *f = *state;
        struct iface_rec rec = {};
        struct iface_error err = {};
        size_t n = 0;

        rec_make(&rec, "guard0", "eth1");
        engine_thread_forbid_durable(true);
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), -EDEADLK);
        assert_int_equal(engine_restore_files(f->e, &ctx, &n, &err), 0); /* nothing to write */
        engine_thread_forbid_durable(false);
        assert_null(file_read(f, "guard0"));
        assert_int_equal(count_sql(f, "SELECT count(*) FROM intents"), 0);
        assert_int_equal(count_sql(f, "SELECT count(*) FROM audit WHERE name = 'guard0'"), 0);

        /* Another thread, or the same one once allowed again, writes as usual. */
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, NULL, &err), 0);
        assert_mirrors(f, "guard0", true);
        engine_thread_forbid_durable(true);
        assert_int_equal(
                engine_iface_update(f->e, &ctx, "guard0", 0, edit_netdev, "eth2", NULL, &err),
                -EDEADLK);
        assert_int_equal(engine_iface_delete(f->e, &ctx, "guard0", 0, NULL), -EDEADLK);
        engine_thread_forbid_durable(false);
        assert_mirrors(f, "guard0", true);
        iface_rec_done(&rec);
}

static struct iface_body *body_new(const uint64_t key[2], const char *text)
{
        size_t len = strlen(text);
        struct iface_body *b = malloc(sizeof(*b) + len);

        assert_non_null(b);
        b->key[0] = key[0];
        b->key[1] = key[1];
        b->len = len;
        memcpy(b->data, text, len);
        return b;
}

/* The body a GET prepared is copied only for the inventory state it was made for, and a body
 * made for another state replaces it. */
static void test_engine_snap_body(void **state)
{
        struct fixture *f = *state;
        struct iface_rec rec = {};
        struct iface_error err = {};
        struct iface_snap *s = NULL;
        const uint64_t k1[2] = { 1, 7 }, k2[2] = { 2, 7 }, k3[2] = { 1, 8 };
        char *copy = NULL;
        size_t len = 0;

        rec_make(&rec, "body0", "eth1");
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, &s, &err), 0);
        assert_int_equal(iface_snap_body_copy(s, k1, &copy, &len), -ENOENT);

        iface_snap_body_set(s, body_new(k1, "first"));
        assert_int_equal(iface_snap_body_copy(s, k1, &copy, &len), 0);
        assert_int_equal(len, 5);
        assert_string_equal(copy, "first");
        free(copy);
        assert_int_equal(iface_snap_body_copy(s, k2, &copy, &len), -ENOENT);
        assert_int_equal(iface_snap_body_copy(s, k3, &copy, &len), -ENOENT);

        iface_snap_body_set(s, body_new(k2, "second"));
        assert_int_equal(iface_snap_body_copy(s, k1, &copy, &len), -ENOENT);
        assert_int_equal(iface_snap_body_copy(s, k2, &copy, &len), 0);
        assert_string_equal(copy, "second");
        free(copy);
        iface_snap_unref(s);
        iface_rec_done(&rec);
}

/* A conditional write that lost the race against a delete is a failed condition (412), not a
 * missing record (404): the client's If-Match named a revision that no longer exists. */
static void test_engine_if_match_race_with_delete_is_stale(void **state)
{
        struct fixture *f = *state;
        struct iface_rec rec = {};
        struct iface_error err = {};
        struct iface_snap *s = NULL;
        uint64_t rev;

        rec_make(&rec, "gone0", "eth1");
        assert_int_equal(engine_iface_create(f->e, &ctx, &rec, &s, &err), 0);
        iface_rec_done(&rec);
        rev = s->revision;
        iface_snap_unref(s);
        assert_int_equal(engine_iface_delete(f->e, &ctx, "gone0", rev, NULL), 0);

        assert_int_equal(engine_iface_delete(f->e, &ctx, "gone0", rev, NULL), -ESTALE);
        assert_int_equal(
                engine_iface_update(f->e, &ctx, "gone0", rev, edit_netdev, "eth2", NULL, &err),
                -ESTALE);
        /* Without a condition it is simply not there. */
        assert_int_equal(engine_iface_delete(f->e, &ctx, "gone0", 0, NULL), -ENOENT);
        assert_int_equal(
                engine_iface_update(f->e, &ctx, "gone0", 0, edit_netdev, "eth2", NULL, &err),
                -ENOENT);
}

static void test_engine_update_revisions_and_if_match(void **state)
{
        struct fixture *f = *state;
        struct iface_error err = {};
        struct iface_snap *a = NULL, *b = NULL;

        create(f, "iface0", "eth1");
        assert_int_equal(engine_iface_get(f->e, "iface0", &a), 0);

        assert_int_equal(engine_iface_update(f->e, &ctx, "iface0", a->revision + 7, edit_netdev,
                                             "eth2", &b, &err),
                         -ESTALE);
        assert_null(b);
        assert_int_equal(engine_iface_update(f->e, &ctx, "iface0", a->revision, edit_netdev, "eth2",
                                             &b, &err),
                         0);
        assert_true(b->revision > a->revision);
        assert_string_equal(b->rec.str[IFACE_F_NET_IFACENAME], "eth2");
        assert_int_equal(b->created_usec, a->created_usec);
        assert_mirrors(f, "iface0", true);

        /* The old snapshot a reader holds stays valid and unchanged. */
        assert_string_equal(a->rec.str[IFACE_F_NET_IFACENAME], "eth1");
        iface_snap_unref(a);

        /* An edit that changes nothing writes nothing. */
        a = b;
        b = NULL;
        assert_int_equal(
                engine_iface_update(f->e, &ctx, "iface0", 0, edit_netdev, "eth2", &b, &err), 0);
        assert_int_equal(b->revision, a->revision);
        iface_snap_unref(a);
        iface_snap_unref(b);

        /* An invalid edit is refused with the field, and changes nothing. */
        char *before = file_read(f, "iface0");
        assert_int_equal(
                engine_iface_update(f->e, &ctx, "iface0", 0, edit_netdev, "bad/dev", NULL, &err),
                -EINVAL);
        assert_string_equal(err.field, "net_ifacename");
        char *after = file_read(f, "iface0");
        assert_string_equal(before, after);
        free(before);
        free(after);
        assert_int_equal(
                engine_iface_update(f->e, &ctx, "nosuch", 0, edit_netdev, "eth2", NULL, &err),
                -ENOENT);
}

static void test_engine_revisions_never_repeat(void **state)
{
        struct fixture *f = *state;
        struct iface_snap *s = NULL;
        uint64_t first;

        create(f, "x", NULL);
        assert_int_equal(engine_iface_get(f->e, "x", &s), 0);
        first = s->revision;
        iface_snap_unref(s);
        assert_int_equal(engine_iface_delete(f->e, &ctx, "x", 0, NULL), 0);

        /* Across a restart too. */
        engine_free(f->e);
        fixture_open(f, ENGINE_DRIFT_IMPORT, NULL);
        create(f, "x", NULL);
        assert_int_equal(engine_iface_get(f->e, "x", &s), 0);
        assert_true(s->revision > first + 1);
        iface_snap_unref(s);
}

static void test_engine_list_order_filters_and_pages(void **state)
{
        struct fixture *f = *state;
        static const char *const names[] = { "b", "B", "a-1", "a.1", "a0", "Z9" };
        static const char *const want[] = { "B", "Z9", "a-1", "a.1", "a0", "b", "default", "iser" };
        struct engine_list_query q = { .limit = 3 };
        const char *seen[16];
        size_t n_seen = 0;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                create(f, names[i], i % 2 ? "eth1" : NULL);

        for (;;) {
                struct iface_snap **items = NULL;
                size_t n = 0;
                bool more = false;
                char last[80] = "";

                assert_int_equal(engine_iface_list(f->e, &q, &items, &n, &more), 0);
                for (size_t i = 0; i < n; i++) {
                        seen[n_seen++] = strdup(items[i]->rec.name);
                        snprintf(last, sizeof(last), "%s", items[i]->rec.name);
                        iface_snap_unref(items[i]);
                }
                free(items);
                if (!more)
                        break;
                q.after = strdupa(last);
        }
        assert_int_equal(n_seen, ELEMENTSOF(want));
        for (size_t i = 0; i < n_seen; i++) {
                assert_string_equal(seen[i], want[i]);
                free((char *)seen[i]);
        }

        struct iface_snap **items = NULL;
        size_t n = 0;
        bool more = true;
        q = (struct engine_list_query){ .limit = 100, .net_ifacename = "eth1" };
        assert_int_equal(engine_iface_list(f->e, &q, &items, &n, &more), 0);
        assert_int_equal(n, 3);
        assert_false(more);
        for (size_t i = 0; i < n; i++)
                iface_snap_unref(items[i]);
        free(items);

        q = (struct engine_list_query){ .limit = 100, .transport_name = "iser" };
        assert_int_equal(engine_iface_list(f->e, &q, &items, &n, &more), 0);
        assert_int_equal(n, 1);
        assert_string_equal(items[0]->rec.name, "iser");
        iface_snap_unref(items[0]);
        free(items);
}

static const char *ext_file = "# BEGIN RECORD 2.1.8\n"
                              "iface.iscsi_ifacename = ext0\n"
                              "iface.net_ifacename = eth7\n"
                              "iface.transport_name = tcp\n"
                              "# END RECORD\n";

static void test_engine_drift_import(void **state)
{
        struct fixture *f = *state;
        struct engine_health h = {};
        struct iface_snap *s = NULL;

        create(f, "ours", NULL);
        file_write(f, "ext0", ext_file);
        assert_int_equal(engine_rescan(f->e), 0);

        assert_int_equal(engine_iface_get(f->e, "ext0", &s), 0);
        assert_string_equal(s->origin, "external");
        assert_string_equal(s->rec.str[IFACE_F_NET_IFACENAME], "eth7");
        /* The file is imported as it is, not rewritten. */
        assert_string_equal(s->content, ext_file);
        iface_snap_unref(s);
        assert_mirrors(f, "ext0", true);

        /* Removal behind our back. */
        char path[600];
        snprintf(path, sizeof(path), "%s/ifaces/ours", f->root);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(engine_rescan(f->e), 0);
        assert_mirrors(f, "ours", false);

        assert_int_equal(engine_health(f->e, &h), 0);
        assert_int_equal(h.drift_imported, 2);
        assert_int_equal(h.n_events, 2);
        assert_string_equal(h.events[0].name, "ours");
        assert_string_equal(h.events[0].action, "removed");
        assert_string_equal(h.events[1].action, "added");
        assert_int_equal(h.n_problems, 0);
        engine_health_done(&h);
        assert_int_equal(count_sql(f, "SELECT count(*) FROM audit WHERE origin = 'external'"), 2);
}

static void test_engine_unreadable_is_reported_not_imported(void **state)
{
        struct fixture *f = *state;
        struct engine_health h = {};
        struct iface_snap *s = NULL;

        create(f, "keep", "eth1");
        char *good = file_read(f, "keep");

        /* An unknown key breaks iscsiadm's whole listing: never import it, keep the old one. */
        file_write(f, "keep", "iface.transport_name = tcp\niface.bogus = 1\n");
        file_write(f, "bad name", ext_file);
        assert_int_equal(engine_rescan(f->e), 0);

        assert_int_equal(engine_iface_get(f->e, "keep", &s), 0);
        assert_string_equal(s->content, good);
        iface_snap_unref(s);
        assert_int_equal(engine_iface_get(f->e, "bad name", &s), -ENOENT);

        assert_int_equal(engine_health(f->e, &h), 0);
        assert_int_equal(h.n_problems, 2);
        for (size_t i = 0; i < h.n_problems; i++) {
                if (streq(h.problems[i].name, "keep"))
                        assert_string_equal(h.problems[i].kind, "unreadable");
                else {
                        assert_string_equal(h.problems[i].name, "bad name");
                        assert_string_equal(h.problems[i].kind, "unsupported-name");
                }
                assert_true(strlen(h.problems[i].reason) > 0);
        }
        engine_health_done(&h);

        /* Once fixed (here: restored), the problem goes away. */
        file_write(f, "keep", good);
        assert_int_equal(engine_rescan(f->e), 0);
        assert_int_equal(engine_health(f->e, &h), 0);
        assert_int_equal(h.n_problems, 1);
        engine_health_done(&h);
        free(good);
}

static void test_engine_drift_report_policy(void **state)
{
        struct fixture *f = *state;
        struct engine_health h = {};
        struct iface_snap *s = NULL;

        engine_free(f->e);
        fixture_open(f, ENGINE_DRIFT_REPORT, NULL);
        file_write(f, "ext0", ext_file);
        assert_int_equal(engine_rescan(f->e), 0);
        assert_int_equal(engine_iface_get(f->e, "ext0", &s), -ENOENT);
        assert_int_equal(engine_health(f->e, &h), 0);
        assert_int_equal(h.n_problems, 1);
        assert_string_equal(h.problems[0].kind, "drift");
        engine_health_done(&h);
        assert_null(row_read(f, "ext0"));
}

static void test_engine_watcher_imports_within_a_second(void **state)
{
        struct fixture *f = *state;
        struct iface_snap *s = NULL;
        int r = -ENOENT;

        assert_int_equal(engine_start_watch(f->e), 0);
        file_write(f, "ext0", ext_file);
        for (int i = 0; i < 100 && r == -ENOENT; i++) {
                usleep(10000);
                r = engine_iface_get(f->e, "ext0", &s);
        }
        assert_int_equal(r, 0);
        iface_snap_unref(s);
}

/* --- the watcher's full pass lets writes through ------------------------------------------- */

static sem_t pass_paused, pass_resume;
static atomic_int pass_pauses;

/* At the first pause of a full pass: let the test write, and go on once it has written. */
static void pass_hook(const char *point)
{
        struct timespec ts;

        if (!streq(point, "watch-pass-pause") || atomic_fetch_add(&pass_pauses, 1) != 0)
                return;
        sem_post(&pass_paused);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30;
        (void)sem_timedwait(&pass_resume, &ts);
}

static bool wait_get(struct fixture *f, const char *name, int want, int seconds)
{
        int r = -1;

        for (int i = 0; i < seconds * 100; i++) {
                struct iface_snap *s = NULL;

                r = engine_iface_get(f->e, name, &s);
                iface_snap_unref(s);
                if (r == want)
                        return true;
                usleep(10000);
        }
        return false;
}

/* The engine again with pass_hook, its semaphores fresh. */
static void pass_fixture(struct fixture *f)
{
        engine_free(f->e);
        fixture_open(f, ENGINE_DRIFT_IMPORT, pass_hook);
        sem_init(&pass_paused, 0, 0);
        sem_init(&pass_resume, 0, 0);
        atomic_store(&pass_pauses, 0);
}

/* n iface files ext0.. written from outside, as iscsiadm writes them. */
static void ext_files_write(struct fixture *f, int n)
{
        char name[64], body[256];

        for (int i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "ext%d", i);
                snprintf(body, sizeof(body),
                         "# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = %s\n"
                         "iface.net_ifacename = eth7\niface.transport_name = tcp\n"
                         "# END RECORD\n",
                         name);
                file_write(f, name, body);
        }
}

/* At the first pause of a pass: a create, which must get both locks within the lock timeout. */
static void create_at_first_pause(struct fixture *f)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 60;
        assert_int_equal(sem_timedwait(&pass_paused, &ts), 0);
        create(f, "during", "eth2");
        sem_post(&pass_resume);
}

/*
 * A burst of more than 1,024 changed names makes the watcher look at the whole directory. It
 * does so in steps and lets the locks go between them: a write made while the pass is paused
 * (write_lock and iscsiadm's lock taken within the 1 s lock timeout, or it fails) goes through
 * at once, and the pass still imports every new file, drops the records whose files went, and
 * reports the file it cannot read.
 */
static void test_engine_full_pass_lets_writes_through(void **state)
{
        struct fixture *f = *state;
        struct engine_health h = {};
        char name[64], path[600];

        pass_fixture(f);

        /* More records than one step of the pass looks at (256). */
        for (int i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "own%d", i);
                create(f, name, "eth1");
        }
        assert_int_equal(engine_start_watch(f->e), 0);

        /* The burst: 1,100 new files, 10 records' files removed, one file iscsiadm cannot
         * parse. */
        ext_files_write(f, 1100);
        for (int i = 0; i < 10; i++) {
                snprintf(path, sizeof(path), "%s/ifaces/own%d", f->root, i * 30);
                assert_int_equal(unlink(path), 0);
        }
        file_write(f, "junk", "iface.iscsi_ifacename = junk\nthis is no record\n");

        /* Paused between two steps: a write goes through now. */
        create_at_first_pause(f);

        /* The pass goes on to its end: the last file imported, the last removal dropped. */
        assert_true(wait_get(f, "ext1099", 0, 60));
        assert_true(wait_get(f, "own270", -ENOENT, 60));
        for (int i = 0; i < 1100; i++) {
                snprintf(name, sizeof(name), "ext%d", i);
                assert_true(wait_get(f, name, 0, 10));
        }
        for (int i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "own%d", i);
                assert_true(wait_get(f, name, i % 30 == 0 ? -ENOENT : 0, 10));
        }
        assert_mirrors(f, "during", true);
        assert_mirrors(f, "ext0", true);
        assert_mirrors(f, "own0", false);
        assert_mirrors(f, "own1", true);
        assert_true(atomic_load(&pass_pauses) > 1);

        /* The unreadable file is a problem, and the only one. */
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(engine_health(f->e, &h), 0);
                if (h.n_problems > 0)
                        break;
                engine_health_done(&h);
                h = (struct engine_health){};
                usleep(10000);
        }
        assert_int_equal(h.n_problems, 1);
        assert_string_equal(h.problems[0].name, "junk");
        engine_health_done(&h);
        assert_int_equal(count_sql(f, "SELECT count(*) FROM ifaces WHERE name LIKE 'ext%'"), 1100);
}

/*
 * Fewer changed names than a full pass needs (here 100 new files) are reconciled in steps too,
 * 32 at a time: a write made at the first pause goes through, and every file is imported.
 */
static void test_engine_watcher_names_let_writes_through(void **state)
{
        struct fixture *f = *state;
        char name[64];

        pass_fixture(f);
        assert_int_equal(engine_start_watch(f->e), 0);
        ext_files_write(f, 100);
        create_at_first_pause(f);
        for (int i = 0; i < 100; i++) {
                snprintf(name, sizeof(name), "ext%d", i);
                assert_true(wait_get(f, name, 0, 30));
        }
        assert_mirrors(f, "during", true);
        assert_mirrors(f, "ext99", true);
}

static void *rescan_thread(void *userdata)
{
        struct fixture *f = userdata;

        return (void *)(intptr_t)engine_rescan(f->e);
}

/* A rescan (SIGHUP) takes the same steps: a write made at its first pause goes through. */
static void test_engine_rescan_lets_writes_through(void **state)
{
        struct fixture *f = *state;
        pthread_t t;
        void *ret;

        pass_fixture(f);
        ext_files_write(f, 100);
        assert_int_equal(pthread_create(&t, NULL, rescan_thread, f), 0);
        create_at_first_pause(f);
        assert_int_equal(pthread_join(t, &ret), 0);
        assert_int_equal((intptr_t)ret, 0);
        assert_true(wait_get(f, "ext0", 0, 1));
        assert_true(wait_get(f, "ext99", 0, 1));
        assert_mirrors(f, "during", true);
        assert_mirrors(f, "ext50", true);
}

/* --- the node db is read only where it changed --------------------------------------------- */

static atomic_int node_reads;

static void read_hook(const char *point)
{
        if (streq(point, "node-read"))
                atomic_fetch_add(&node_reads, 1);
}

/* Replace "from" by "to" (the same length) in the file at path, in place, as an editor would. */
static void file_edit(const char *path, const char *from, const char *to)
{
        char buf[65536], *p;
        size_t n;
        FILE *fp = fopen(path, "re");

        assert_non_null(fp);
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = 0;
        p = strstr(buf, from);
        assert_non_null(p);
        assert_int_equal(strlen(from), strlen(to));
        memcpy(p, to, strlen(to));
        fp = fopen(path, "we");
        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, n, fp), n);
        fclose(fp);
}

/*
 * A pass over the node db reads a node file only when its print moved since its bytes were last
 * seen equal to its binding's, and only when that print was settled: a file changed again within
 * the same tick as the read (same size, same time) is read again, and its change imported.
 */
static void test_engine_node_db_read_where_changed(void **state)
{
        struct fixture *f = *state;
        struct binding_snap *b = NULL;
        char id[256], path[900];
        struct binding_key key;
        struct iface_error err = {};

        engine_free(f->e);
        fixture_open(f, ENGINE_DRIFT_IMPORT, read_hook);
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "iqn.2001-04.com.example:t%d,10.0.0.1,3260,1,default", i);
                assert_int_equal(binding_id_parse(id, &key, &err), 0);
                assert_int_equal(engine_binding_create(f->e, &ctx, &key, NULL, NULL, NULL, &err),
                                 0);
        }
        usleep(60 * 1000); /* older than a tick: the prints of the next reads are settled */

        /* New records carry no print: each file is read once, then trusted. */
        atomic_store(&node_reads, 0);
        assert_int_equal(engine_rescan(f->e), 0);
        assert_int_equal(atomic_load(&node_reads), 40);
        atomic_store(&node_reads, 0);
        assert_int_equal(engine_rescan(f->e), 0);
        assert_int_equal(atomic_load(&node_reads), 0);

        /* One file changed from outside: that one is read, and the change imported. Then
         * changed again at once, same size: the last read's print was not settled, so it is read
         * again and the change is seen. */
        snprintf(path, sizeof(path), "%s/nodes/iqn.2001-04.com.example:t7/10.0.0.1,3260,1/default",
                 f->root);
        for (int v = 121; v <= 122; v++) {
                char from[64], to[64];

                snprintf(from, sizeof(from), "replacement_timeout = %d", v - 1);
                snprintf(to, sizeof(to), "replacement_timeout = %d", v);
                file_edit(path, from, to);
                atomic_store(&node_reads, 0);
                assert_int_equal(engine_rescan(f->e), 0);
                assert_int_equal(atomic_load(&node_reads), 1);
                assert_int_equal(
                        engine_binding_get(
                                f->e, "iqn.2001-04.com.example:t7,10.0.0.1,3260,1,default", &b),
                        0);
                strcat(to, "\n");
                assert_non_null(strstr(b->content, to));
                binding_snap_unref(b);
        }
}

/* --- the audit trail is read without waiting for a write ------------------------------------ */

static void *create_waits(void *userdata)
{
        struct fixture *f = userdata;
        struct iface_rec rec = {};
        struct iface_error err = {};

        rec_make(&rec, "waits", "eth1");
        (void)engine_iface_create(f->e, &ctx, &rec, NULL, &err);
        iface_rec_done(&rec);
        return NULL;
}

static int audit_count(const struct store_audit *a, void *userdata)
{
        (*(size_t *)userdata)++;
        return 0;
}

static unsigned writes_waiting(struct fixture *f)
{
        struct engine_health h = {};
        unsigned n;

        assert_int_equal(engine_health(f->e, &h), 0);
        n = h.writes_waiting;
        engine_health_done(&h);
        return n;
}

/*
 * A write that waits for iscsiadm's lock holds the engine's write lock meanwhile (up to the
 * lock timeout); an audit query, which runs on an HTTP thread, must not wait for it.
 */
static void test_engine_audit_does_not_wait_for_writes(void **state)
{
        struct fixture *f = *state;
        char lock[400], lock_write[400];
        size_t n = 0;
        pthread_t t;

        create(f, "before", "eth1");
        snprintf(lock, sizeof(lock), "%s/lock", f->lock);
        snprintf(lock_write, sizeof(lock_write), "%s/lock.write", f->lock);
        close(open(lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        assert_int_equal(link(lock, lock_write), 0); /* iscsiadm holds its lock */

        assert_int_equal(pthread_create(&t, NULL, create_waits, f), 0);
        for (int i = 0; i < 200 && writes_waiting(f) == 0; i++)
                usleep(5000);
        assert_true(writes_waiting(f) > 0);

        assert_int_equal(
                engine_audit(f->e, &(struct store_audit_query){ .limit = 10 }, audit_count, &n), 0);
        assert_int_equal(n, 1); /* the create of "before" */
        /* Still waiting: the query did not wait for the write to give up. */
        assert_true(writes_waiting(f) > 0);

        assert_int_equal(unlink(lock_write), 0);
        pthread_join(t, NULL);
}

/* --- crash points: a child dies at a point of the protocol, the parent reopens --------------- */

static const char *crash_point;

static void crash_hook(const char *point)
{
        if (crash_point && streq(point, crash_point))
                _exit(9);
}

static void test_engine_crash_points_leave_old_or_new(void **state)
{
        static const struct {
                const char *point;
                bool new_wins;
        } points[] = {
                { "engine-before-intent", false }, { "engine-intent-committed", false },
                { "mirror-tmp-written", false },   { "mirror-renamed", true },
                { "engine-file-written", true },   { "engine-row-committed", true },
        };
        struct fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(points); i++) {
                struct iface_snap *s = NULL;
                struct iface_error err = {};
                int status;
                pid_t pid;

                create(f, "victim", "eth1");
                engine_free(f->e);
                f->e = NULL;

                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        crash_point = points[i].point;
                        fixture_open(f, ENGINE_DRIFT_IMPORT, crash_hook);
                        (void)engine_iface_update(f->e, &ctx, "victim", 0, edit_netdev, "eth9",
                                                  NULL, &err);
                        _exit(0);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 9);

                fixture_open(f, ENGINE_DRIFT_IMPORT, NULL);
                assert_int_equal(engine_iface_get(f->e, "victim", &s), 0);
                assert_string_equal(s->rec.str[IFACE_F_NET_IFACENAME],
                                    points[i].new_wins ? "eth9" : "eth1");
                iface_snap_unref(s);
                assert_mirrors(f, "victim", true);
                assert_int_equal(count_sql(f, "SELECT count(*) FROM intents"), 0);

                char tmp[600];
                snprintf(tmp, sizeof(tmp), "%s/.iscsi-ifaced/victim.tmp", f->root);
                assert_int_equal(access(tmp, F_OK), -1);
                assert_int_equal(engine_iface_delete(f->e, &ctx, "victim", 0, NULL), 0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_engine_create_get_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_refused_create_leaves_no_temp, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_if_match_race_with_delete_is_stale,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_durable_guard, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_snap_body, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_builtins_are_read_only, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_update_revisions_and_if_match, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_revisions_never_repeat, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_list_order_filters_and_pages, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_drift_import, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_unreadable_is_reported_not_imported,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_drift_report_policy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_engine_audit_does_not_wait_for_writes, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_watcher_imports_within_a_second, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_full_pass_lets_writes_through, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_watcher_names_let_writes_through, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_rescan_lets_writes_through, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_node_db_read_where_changed, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_engine_crash_points_leave_old_or_new, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
