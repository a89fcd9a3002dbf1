/* SPDX-License-Identifier: MIT */
/*
 * The sqlite mirror of the iface records: schema migrations, cached prepared statements, the
 * row/intent/audit operations, and the one map from sqlite result codes to -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "fs.h"
#include "macro.h"
#include "stats.h"
#include "store.h"

/*
 * The schema, one entry per version: migrations[i] takes a db from user_version i to i + 1 and
 * must end by setting that user_version (checked after it runs). Never edit a released entry;
 * append a new one. The audit table is append-only: triggers refuse UPDATE and DELETE.
 */
static const char *const migrations[] = {
        /* v1 */
        "CREATE TABLE ifaces ("
        "        name TEXT PRIMARY KEY,"
        "        content TEXT NOT NULL,"
        "        revision INTEGER NOT NULL,"
        "        origin TEXT NOT NULL,"
        "        created_usec INTEGER NOT NULL,"
        "        updated_usec INTEGER NOT NULL);"
        "CREATE TABLE intents ("
        "        name TEXT PRIMARY KEY,"
        "        content TEXT," /* NULL = delete */
        "        revision INTEGER NOT NULL,"
        "        origin TEXT NOT NULL,"
        "        actor TEXT,"
        "        request_id TEXT,"
        "        created_usec INTEGER NOT NULL);"
        "CREATE TABLE audit ("
        "        id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "        at_usec INTEGER NOT NULL,"
        "        name TEXT NOT NULL,"
        "        action TEXT NOT NULL,"
        "        origin TEXT NOT NULL,"
        "        revision INTEGER NOT NULL,"
        "        actor TEXT,"
        "        request_id TEXT,"
        "        before TEXT,"
        "        after TEXT);"
        "CREATE INDEX audit_name_id ON audit(name, id);"
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
        "PRAGMA user_version = 1;",
        /* v2: bearer tokens (only a hash of the secret) and audit queries by time. */
        "CREATE TABLE tokens ("
        "        id TEXT PRIMARY KEY,"
        "        role TEXT NOT NULL,"
        "        name TEXT NOT NULL,"
        "        hash TEXT NOT NULL,"
        "        created_usec INTEGER NOT NULL,"
        "        revoked_usec INTEGER);"
        "CREATE INDEX audit_at ON audit(at_usec);"
        "PRAGMA user_version = 2;",
        /* v3: the node db (bindings and discovery records, by root-relative path) */
        "CREATE TABLE nodes ("
        "        path TEXT PRIMARY KEY,"
        "        content TEXT NOT NULL,"
        "        revision INTEGER NOT NULL,"
        "        origin TEXT NOT NULL,"
        "        created_usec INTEGER NOT NULL,"
        "        updated_usec INTEGER NOT NULL);"
        "ALTER TABLE audit ADD COLUMN kind TEXT NOT NULL DEFAULT 'iface';"
        "PRAGMA user_version = 3;",
        /* v4: the sessions this daemon logged in (name = the sid, content = the binding id), so
         * that their origin survives a restart. */
        "CREATE TABLE sessions ("
        "        path TEXT PRIMARY KEY,"
        "        content TEXT NOT NULL,"
        "        revision INTEGER NOT NULL,"
        "        origin TEXT NOT NULL,"
        "        created_usec INTEGER NOT NULL,"
        "        updated_usec INTEGER NOT NULL);"
        "PRAGMA user_version = 4;",
        /* v5: the highest revision of the audit trail, which only grows with history, by an
         * index lookup rather than a scan of every entry (each start and stop). The records
         * and the node db are scanned: their size is the state's, and an index on each would
         * be one more page in every write's commit. */
        ("CREATE INDEX audit_revision ON audit(revision);"
         "PRAGMA user_version = 5;"),
};

enum store_stmt {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_SYNC_NORMAL,
        STMT_SYNC_FULL,
        STMT_MAX_REVISION,
        STMT_ROWS,
        STMT_COUNT,
        STMT_INTENT_PUT,
        STMT_INTENTS,
        STMT_INTENT_DROP,
        STMT_ROW_UPSERT,
        STMT_ROW_DELETE,
        STMT_NODE_ROWS,
        STMT_NODE_UPSERT,
        STMT_NODE_DELETE,
        STMT_SESSION_ROWS,
        STMT_SESSION_UPSERT,
        STMT_SESSION_DELETE,
        STMT_AUDIT_INSERT,
        STMT_AUDIT_ALL,
        STMT_AUDIT_NAME,
        _STMT_MAX,
};

static const char *const stmt_sql[_STMT_MAX] = {
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
        [STMT_SYNC_FULL] = "PRAGMA synchronous = FULL",
        [STMT_MAX_REVISION] = "SELECT MAX(IFNULL((SELECT MAX(revision) FROM ifaces), 0),"
                              "           IFNULL((SELECT MAX(revision) FROM intents), 0),"
                              "           IFNULL((SELECT MAX(revision) FROM nodes), 0),"
                              "           IFNULL((SELECT MAX(revision) FROM audit), 0))",
        [STMT_ROWS] = "SELECT name, content, revision, origin, created_usec, updated_usec"
                      " FROM ifaces ORDER BY name",
        [STMT_COUNT] = "SELECT COUNT(*) FROM ifaces",
        [STMT_INTENT_PUT] =
                "INSERT INTO intents(name, content, revision, origin, actor, request_id,"
                " created_usec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                " ON CONFLICT(name) DO UPDATE SET content = excluded.content,"
                " revision = excluded.revision, origin = excluded.origin,"
                " actor = excluded.actor, request_id = excluded.request_id,"
                " created_usec = excluded.created_usec",
        [STMT_INTENTS] = "SELECT name, content, revision, origin, actor, request_id"
                         " FROM intents ORDER BY revision, name",
        [STMT_INTENT_DROP] = "DELETE FROM intents WHERE name = ?1",
        [STMT_ROW_UPSERT] =
                "INSERT INTO ifaces(name, content, revision, origin, created_usec, updated_usec)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                " ON CONFLICT(name) DO UPDATE SET content = excluded.content,"
                " revision = excluded.revision, origin = excluded.origin,"
                " updated_usec = excluded.updated_usec",
        [STMT_ROW_DELETE] = "DELETE FROM ifaces WHERE name = ?1",
        [STMT_NODE_ROWS] = "SELECT path, content, revision, origin, created_usec, updated_usec"
                           " FROM nodes ORDER BY path",
        [STMT_NODE_UPSERT] =
                "INSERT INTO nodes(path, content, revision, origin, created_usec, updated_usec)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                " ON CONFLICT(path) DO UPDATE SET content = excluded.content,"
                " revision = excluded.revision, origin = excluded.origin,"
                " updated_usec = excluded.updated_usec",
        [STMT_NODE_DELETE] = "DELETE FROM nodes WHERE path = ?1",
        [STMT_SESSION_ROWS] = "SELECT path, content, revision, origin, created_usec, updated_usec"
                              " FROM sessions ORDER BY path",
        [STMT_SESSION_UPSERT] =
                "INSERT INTO sessions(path, content, revision, origin, created_usec, updated_usec)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                " ON CONFLICT(path) DO UPDATE SET content = excluded.content,"
                " revision = excluded.revision, origin = excluded.origin,"
                " created_usec = excluded.created_usec, updated_usec = excluded.updated_usec",
        [STMT_SESSION_DELETE] = "DELETE FROM sessions WHERE path = ?1",
        [STMT_AUDIT_INSERT] =
                "INSERT INTO audit(at_usec, name, action, origin, revision, actor, request_id,"
                " before, after, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        [STMT_AUDIT_ALL] = "SELECT id, at_usec, name, action, origin, revision, actor,"
                           " request_id, before, after, kind FROM audit ORDER BY id DESC"
                           " LIMIT ?1",
        [STMT_AUDIT_NAME] = "SELECT id, at_usec, name, action, origin, revision, actor,"
                            " request_id, before, after, kind FROM audit WHERE name = ?1"
                            " ORDER BY id DESC LIMIT ?2",
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);

struct store {
        sqlite3 *db;
        sqlite3_stmt *stmts[_STMT_MAX];
        char *path; /* NULL for ":memory:" */
        dev_t dev;  /* the file opened, to notice it deleted or replaced */
        ino_t ino;
        /* A read-only connection of its own for audit queries, opened on first use: they run
         * on the HTTP threads without the writers' lock (WAL: a reader sees every commit made
         * before it starts and waits for no writer). */
        pthread_mutex_t reader_lock;
        sqlite3 *reader;
        /* The connection db, its statements and the deferred changes: every function that uses
         * them holds it (recursive: some call others). The engine's write lock orders its
         * writers; this lets the writes of deferred changes (store_flush_deferred) come from
         * other threads without waiting for a writer that is not using the connection. */
        pthread_mutex_t db_lock;
        /* The changes of batches already answered (each with its intent and file durable),
         * written by the next write transaction ahead of its own statements (store_begin) or by
         * store_flush_deferred. deferred_seq counts the changes handed over, applied_seq those
         * committed; deferred_since is when the oldest of those left was handed over. */
        struct deferred *deferred;
        size_t n_deferred, cap_deferred;
        bool deferred_in_tx; /* the open transaction holds them */
        atomic_uint_fast64_t deferred_seq, applied_seq;
        atomic_int_fast64_t deferred_since;
};

static struct store *db_lock(struct store *s)
{
        if (s)
                pthread_mutex_lock(&s->db_lock);
        return s;
}

static void db_unlockp(struct store **s)
{
        if (*s)
                pthread_mutex_unlock(&(*s)->db_lock);
}

/* First in a function that uses the connection: held until it returns, after its statements
 * are released. */
#define DB_LOCKED(s) _cleanup_(db_unlockp) struct store *_db_locked_ _unused_ = db_lock(s)

/* A change kept for a later transaction: the change with its strings in one allocation, or
 * only an intent to drop (the change failed; action NULL). */
struct deferred {
        struct store_change c;
        char *strings;
};

/*
 * The one map from sqlite result codes to -errno. db may be NULL; when given, a failed open
 * is refined with the OS error sqlite saw.
 */
int store_sqlite_errno(sqlite3 *db, int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EUCLEAN; /* "structure needs cleaning": a damaged db file */
        case SQLITE_CANTOPEN:
                switch (db ? sqlite3_system_errno(db) : 0) {
                case ENOENT:
                case ENOTDIR:
                        return -ENOENT;
                case EROFS:
                        return -EROFS;
                case EACCES:
                case EPERM:
                        return -EACCES;
                default:
                        return -EIO;
                }
        default:
                return -EIO;
        }
}

/* Reset a cached statement and drop its bindings, so that it holds no read lock nor pointers. */
static void stmt_release(sqlite3_stmt **stmt)
{
        if (!*stmt)
                return;
        sqlite3_reset(*stmt);
        sqlite3_clear_bindings(*stmt);
}

static sqlite3_stmt *store_stmt(struct store *s, enum store_stmt id)
{
        assert(s->stmts[id]);
        return s->stmts[id];
}

/* Run a statement that returns no rows (or whose rows are ignored) to completion. */
static int stmt_run(struct store *s, sqlite3_stmt *stmt)
{
        int rc;

        do
                rc = sqlite3_step(stmt);
        while (rc == SQLITE_ROW);

        if (rc != SQLITE_DONE)
                return store_sqlite_errno(s->db, rc);
        return 0;
}

static int bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
        if (!text)
                return sqlite3_bind_null(stmt, i);
        return sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
}

static int store_row_write(struct store *s, const struct store_change *c);
static int store_audit_append(struct store *s, const struct store_change *c);
static int store_intent_drop_locked(struct store *s, const char *name);
static void store_rollback(struct store *s);

static void deferred_clear(struct store *s)
{
        for (size_t i = 0; i < s->n_deferred; i++)
                free(s->deferred[i].strings);
        s->n_deferred = 0;
}

/* Write the deferred changes in the open transaction, in the order they were handed over. */
static int deferred_write(struct store *s)
{
        int r = 0;

        for (size_t i = 0; i < s->n_deferred && r >= 0; i++) {
                const struct store_change *c = &s->deferred[i].c;

                if (c->action) {
                        r = store_row_write(s, c);
                        if (r >= 0)
                                r = store_audit_append(s, c);
                }
                if (r >= 0)
                        r = store_intent_drop_locked(s, c->name);
        }
        return r;
}

/* BEGIN a write transaction; any deferred changes go first, so that no later write can be
 * overtaken by an older one (or have its intent dropped by one). */
static int store_begin(struct store *s)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_BEGIN);
        int r = stmt_run(s, stmt);

        s->deferred_in_tx = false;
        if (r < 0 || s->n_deferred == 0)
                return r;
        r = deferred_write(s);
        if (r < 0) {
                /* Callers end only the transactions they began. */
                store_rollback(s);
                return r;
        }
        s->deferred_in_tx = true;
        return 0;
}

/* COMMIT, its time (sqlite's WAL append and fsync) counted to the write in progress. */
static int store_commit(struct store *s)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_COMMIT);
        int64_t t = clock_usec(CLOCK_MONOTONIC);
        int r = stmt_run(s, stmt);

        stats_add_db(clock_usec(CLOCK_MONOTONIC) - t);
        if (r >= 0 && s->deferred_in_tx) {
                deferred_clear(s);
                atomic_store(&s->applied_seq, atomic_load(&s->deferred_seq));
        }
        s->deferred_in_tx = false;
        return r;
}

static void store_rollback(struct store *s)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_ROLLBACK);

        /* The deferred changes stay for the next transaction. */
        s->deferred_in_tx = false;
        /* A failed COMMIT or statement may already have ended the transaction. */
        if (!sqlite3_get_autocommit(s->db))
                (void)stmt_run(s, stmt);
}

/* Read PRAGMA user_version. */
static int store_user_version(struct store *s, int *ret)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *stmt = NULL;
        int rc;

        rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return store_sqlite_errno(s->db, rc);

        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return store_sqlite_errno(s->db, rc) ?: -EIO;

        *ret = sqlite3_column_int(stmt, 0);
        return 0;
}

static int store_exec(struct store *s, const char *sql)
{
        int rc;

        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return store_sqlite_errno(s->db, rc);
        return 0;
}

/*
 * Bring the schema up to the newest version, one migration per transaction. The version is
 * read inside the transaction, so two processes opening the same new file do not both migrate.
 * A db made by a newer version of this code is refused with -EIO: we cannot know its meaning.
 */
static int store_migrate(struct store *s)
{
        int r;

        for (;;) {
                int version, after;

                r = store_exec(s, "BEGIN IMMEDIATE");
                if (r < 0)
                        return r;

                r = store_user_version(s, &version);
                if (r < 0)
                        goto fail;

                if (version < 0 || (size_t)version > ELEMENTSOF(migrations)) {
                        r = -EIO;
                        goto fail;
                }
                if ((size_t)version == ELEMENTSOF(migrations))
                        return store_exec(s, "COMMIT");

                r = store_exec(s, migrations[version]);
                if (r < 0)
                        goto fail;

                r = store_user_version(s, &after);
                if (r < 0)
                        goto fail;
                if (after != version + 1) {
                        r = -EIO;
                        goto fail;
                }

                r = store_exec(s, "COMMIT");
                if (r < 0)
                        goto fail;
        }

fail:
        if (!sqlite3_get_autocommit(s->db))
                (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

/* Check that a pragma which reports its new value took the one we asked for. */
static int store_pragma_expect(struct store *s, const char *sql, const char *const *accept)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *stmt = NULL;
        const char *v;
        int rc;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return store_sqlite_errno(s->db, rc);

        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return store_sqlite_errno(s->db, rc) ?: -EIO;

        v = (const char *)sqlite3_column_text(stmt, 0);
        for (; *accept; accept++)
                if (v && streq(v, *accept))
                        return 0;
        return -EIO;
}

/*
 * sqlite reports a new file in a read-only or missing directory as SQLITE_CANTOPEN with the
 * errno of its last fallback attempt (ENOENT), so look at the directory ourselves first.
 */
static int store_check_dir(const char *path)
{
        _cleanup_(freep) char *copy = NULL;

        /* ":memory:" and "" (a private temp db) are not files. */
        if (isempty(path) || streq(path, ":memory:"))
                return 0;

        if (faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0)
                return 0; /* an existing file: sqlite tells whether it is writable */
        if (errno != ENOENT)
                return -errno;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        if (faccessat(AT_FDCWD, dirname(copy), W_OK | X_OK, AT_EACCESS) < 0)
                return -errno;
        return 0;
}

struct store *store_close(struct store *s)
{
        if (!s)
                return NULL;

        /* Changes still deferred are written now; if that fails, their intents complete them
         * at the next start. */
        (void)store_flush_deferred(s);
        deferred_clear(s);
        free(s->deferred);
        for (size_t i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(s->stmts[i]);
        sqlite3_close(s->db);
        sqlite3_close(s->reader);
        pthread_mutex_destroy(&s->reader_lock);
        pthread_mutex_destroy(&s->db_lock);
        free(s->path);
        free(s);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct store *, store_close);

int store_open(const char *path, struct store **ret)
{
        /* An in-memory db reports "memory" and cannot be in WAL mode. */
        static const char *const journal_modes[] = { "wal", "memory", NULL };
        _cleanup_(store_closep) struct store *s = NULL;
        int rc, r;

        assert_return(path, -EINVAL);
        assert_return(ret, -EINVAL);

        r = store_check_dir(path);
        if (r < 0)
                return r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->reader_lock, NULL);
        {
                pthread_mutexattr_t a;

                pthread_mutexattr_init(&a);
                pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
                pthread_mutex_init(&s->db_lock, &a);
                pthread_mutexattr_destroy(&a);
        }

        rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                /* Without a handle, sqlite could not even allocate one. */
                if (!s->db)
                        return -ENOMEM;
                return store_sqlite_errno(s->db, rc);
        }
        (void)sqlite3_extended_result_codes(s->db, 1);

        /* sqlite silently falls back to read-only when the file is write-protected. */
        if (sqlite3_db_readonly(s->db, "main") == 1)
                return -EROFS;

        rc = sqlite3_busy_timeout(s->db, 5000);
        if (rc != SQLITE_OK)
                return store_sqlite_errno(s->db, rc);

        /* The first statement that touches the file: a non-db file fails here. */
        r = store_pragma_expect(s, "PRAGMA journal_mode = WAL", journal_modes);
        if (r < 0)
                return r;

        r = store_exec(s, "PRAGMA synchronous = FULL");
        if (r < 0)
                return r;

        r = store_exec(s, "PRAGMA foreign_keys = ON");
        if (r < 0)
                return r;

        r = store_migrate(s);
        if (r < 0)
                return r;

        for (size_t i = 0; i < _STMT_MAX; i++) {
                rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &s->stmts[i], NULL);
                if (rc != SQLITE_OK)
                        return store_sqlite_errno(s->db, rc);
        }

        if (!streq(path, ":memory:")) {
                struct stat st;

                s->path = strdup(path);
                if (!s->path)
                        return -ENOMEM;
                if (stat(path, &st) == 0) {
                        s->dev = st.st_dev;
                        s->ino = st.st_ino;
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* Run a statement that yields one non-negative integer. */
static int store_scalar(struct store *s, enum store_stmt which, int64_t *ret)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = NULL;
        int64_t v;
        int rc;

        stmt = store_stmt(s, which);
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return store_sqlite_errno(s->db, rc) ?: -EIO;

        v = sqlite3_column_int64(stmt, 0);
        if (v < 0)
                return -EIO;

        *ret = v;
        return 0;
}

int store_max_revision(struct store *s, uint64_t *ret)
{
        DB_LOCKED(s);
        int64_t v;
        int r;

        assert_return(s, -EINVAL);
        assert_return(ret, -EINVAL);

        r = store_scalar(s, STMT_MAX_REVISION, &v);
        if (r < 0)
                return r;
        *ret = (uint64_t)v;
        return 0;
}

static int rows_foreach(struct store *s, enum store_stmt id,
                        int (*cb)(const struct store_row *row, void *ud), void *ud)
{
        DB_LOCKED(s);
        _cleanup_(stmt_release) sqlite3_stmt *stmt = NULL;
        int rc, r;

        assert_return(s, -EINVAL);
        assert_return(cb, -EINVAL);

        r = store_flush_deferred(s);
        if (r < 0)
                return r;
        stmt = store_stmt(s, id);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                struct store_row row = {
                        .name = (const char *)sqlite3_column_text(stmt, 0),
                        .content = (const char *)sqlite3_column_text(stmt, 1),
                        .revision = (uint64_t)sqlite3_column_int64(stmt, 2),
                        .origin = (const char *)sqlite3_column_text(stmt, 3),
                        .created_usec = sqlite3_column_int64(stmt, 4),
                        .updated_usec = sqlite3_column_int64(stmt, 5),
                };

                if (!row.name || !row.content || !row.origin)
                        return sqlite3_errcode(s->db) == SQLITE_NOMEM ? -ENOMEM : -EIO;

                r = cb(&row, ud);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return store_sqlite_errno(s->db, rc);

        return 0;
}

int store_rows_foreach(struct store *s, int (*cb)(const struct store_row *row, void *ud), void *ud)
{
        return rows_foreach(s, STMT_ROWS, cb, ud);
}

int store_node_rows_foreach(struct store *s, int (*cb)(const struct store_row *row, void *ud),
                            void *ud)
{
        return rows_foreach(s, STMT_NODE_ROWS, cb, ud);
}

int store_session_rows_foreach(struct store *s, int (*cb)(const struct store_row *row, void *ud),
                               void *ud)
{
        return rows_foreach(s, STMT_SESSION_ROWS, cb, ud);
}

int store_count(struct store *s, size_t *ret)
{
        DB_LOCKED(s);
        int64_t v;
        int r;

        assert_return(s, -EINVAL);
        assert_return(ret, -EINVAL);

        r = store_flush_deferred(s);
        if (r < 0)
                return r;
        r = store_scalar(s, STMT_COUNT, &v);
        if (r < 0)
                return r;
        *ret = (size_t)v;
        return 0;
}

int store_intents_foreach(struct store *s, int (*cb)(const struct store_intent *in, void *ud),
                          void *ud)
{
        DB_LOCKED(s);
        _cleanup_(stmt_release) sqlite3_stmt *stmt = NULL;
        int rc, r;

        assert_return(s, -EINVAL);
        assert_return(cb, -EINVAL);

        stmt = store_stmt(s, STMT_INTENTS);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                struct store_intent in = {
                        .name = (const char *)sqlite3_column_text(stmt, 0),
                        .content = (const char *)sqlite3_column_text(stmt, 1),
                        .revision = (uint64_t)sqlite3_column_int64(stmt, 2),
                        .origin = (const char *)sqlite3_column_text(stmt, 3),
                        .actor = (const char *)sqlite3_column_text(stmt, 4),
                        .request_id = (const char *)sqlite3_column_text(stmt, 5),
                };

                if (!in.name || !in.origin)
                        return sqlite3_errcode(s->db) == SQLITE_NOMEM ? -ENOMEM : -EIO;

                r = cb(&in, ud);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return store_sqlite_errno(s->db, rc);

        return 0;
}

/* Run the DELETE of the intent of name inside the caller's transaction. */
static int store_intent_drop_locked(struct store *s, const char *name)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_INTENT_DROP);

        if (bind_text(stmt, 1, name) != SQLITE_OK)
                return store_sqlite_errno(s->db, sqlite3_errcode(s->db)) ?: -EIO;
        return stmt_run(s, stmt);
}

int store_intent_drop(struct store *s, const char *name)
{
        DB_LOCKED(s);
        int r;

        assert_return(s, -EINVAL);
        assert_return(name, -EINVAL);

        r = store_begin(s);
        if (r < 0)
                return r;

        r = store_intent_drop_locked(s, name);
        if (r >= 0)
                r = store_commit(s);
        if (r < 0) {
                store_rollback(s);
                return r;
        }

        return 0;
}

static int store_row_write(struct store *s, const struct store_change *c)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = NULL;

        if (!c->content) {
                /* Deleting a row that is not there is not an error: the audit still records it. */
                stmt = store_stmt(s, c->session ? STMT_SESSION_DELETE :
                                     c->node    ? STMT_NODE_DELETE :
                                                  STMT_ROW_DELETE);
                if (bind_text(stmt, 1, c->name) != SQLITE_OK)
                        return store_sqlite_errno(s->db, sqlite3_errcode(s->db)) ?: -EIO;
                return stmt_run(s, stmt);
        }

        stmt = store_stmt(s, c->session ? STMT_SESSION_UPSERT :
                             c->node    ? STMT_NODE_UPSERT :
                                          STMT_ROW_UPSERT);
        if (bind_text(stmt, 1, c->name) != SQLITE_OK ||
            bind_text(stmt, 2, c->content) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 3, (int64_t)c->revision) != SQLITE_OK ||
            bind_text(stmt, 4, c->origin) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 5, c->now_usec) != SQLITE_OK)
                return store_sqlite_errno(s->db, sqlite3_errcode(s->db)) ?: -EIO;
        return stmt_run(s, stmt);
}

static int store_audit_append(struct store *s, const struct store_change *c)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_AUDIT_INSERT);

        if (sqlite3_bind_int64(stmt, 1, c->now_usec) != SQLITE_OK ||
            bind_text(stmt, 2, c->audit_name ?: c->name) != SQLITE_OK ||
            bind_text(stmt, 3, c->action) != SQLITE_OK ||
            bind_text(stmt, 4, c->origin) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 5, (int64_t)c->revision) != SQLITE_OK ||
            bind_text(stmt, 6, c->actor) != SQLITE_OK ||
            bind_text(stmt, 7, c->request_id) != SQLITE_OK ||
            bind_text(stmt, 8, c->audit_name ? c->audit_before : c->before) != SQLITE_OK ||
            bind_text(stmt, 9, c->audit_name ? c->audit_after : c->content) != SQLITE_OK ||
            bind_text(stmt, 10, c->kind ?: "iface") != SQLITE_OK)
                return store_sqlite_errno(s->db, sqlite3_errcode(s->db)) ?: -EIO;
        return stmt_run(s, stmt);
}

int store_apply(struct store *s, const struct store_change *c)
{
        DB_LOCKED(s);
        int r;

        assert_return(s, -EINVAL);
        assert_return(c && c->name && c->origin && c->action, -EINVAL);
        assert_return(c->revision <= INT64_MAX, -EINVAL);

        r = store_begin(s);
        if (r < 0)
                return r;

        r = store_row_write(s, c);
        if (r >= 0)
                r = store_audit_append(s, c);
        if (r >= 0)
                r = store_intent_drop_locked(s, c->name);
        if (r >= 0)
                r = store_commit(s);
        if (r < 0) {
                store_rollback(s);
                return r;
        }

        return 0;
}

static int store_intent_insert(struct store *s, const struct store_intent *in)
{
        _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_INTENT_PUT);

        if (bind_text(stmt, 1, in->name) != SQLITE_OK ||
            bind_text(stmt, 2, in->content) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 3, (int64_t)in->revision) != SQLITE_OK ||
            bind_text(stmt, 4, in->origin) != SQLITE_OK ||
            bind_text(stmt, 5, in->actor) != SQLITE_OK ||
            bind_text(stmt, 6, in->request_id) != SQLITE_OK ||
            sqlite3_bind_int64(stmt, 7, clock_usec(CLOCK_REALTIME)) != SQLITE_OK)
                return store_sqlite_errno(s->db, sqlite3_errcode(s->db)) ?: -EIO;
        return stmt_run(s, stmt);
}

int store_intents_put(struct store *s, const struct store_intent *const *v, size_t n)
{
        DB_LOCKED(s);
        int r;

        assert_return(s && (v || n == 0), -EINVAL);
        for (size_t i = 0; i < n; i++)
                assert_return(v[i]->name && v[i]->origin && v[i]->revision <= INT64_MAX, -EINVAL);
        r = durable_check("a record write");
        if (r < 0)
                return r;

        r = store_begin(s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = store_intent_insert(s, v[i]);
        if (r >= 0)
                r = store_commit(s);
        if (r < 0)
                store_rollback(s);
        return r < 0 ? r : 0;
}

int store_intent_put(struct store *s, const struct store_intent *in)
{
        return store_intents_put(s, &in, 1);
}

int store_apply_many(struct store *s, const struct store_change *const *v, size_t n,
                     const char *const *drops, size_t n_drops, bool sync)
{
        DB_LOCKED(s);
        int r;

        assert_return(s && (v || n == 0) && (drops || n_drops == 0), -EINVAL);
        for (size_t i = 0; i < n; i++)
                assert_return(v[i]->name && v[i]->origin && v[i]->action &&
                                      v[i]->revision <= INT64_MAX,
                              -EINVAL);

        /* In WAL mode, NORMAL appends the commit without an fsync: it becomes durable with the
         * next FULL commit (the WAL is one sequential file) or checkpoint. */
        if (!sync) {
                _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_SYNC_NORMAL);

                r = stmt_run(s, stmt);
                if (r < 0)
                        return r;
        }
        r = store_begin(s);
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = store_row_write(s, v[i]);
                if (r >= 0)
                        r = store_audit_append(s, v[i]);
                if (r >= 0)
                        r = store_intent_drop_locked(s, v[i]->name);
        }
        for (size_t i = 0; i < n_drops && r >= 0; i++)
                r = store_intent_drop_locked(s, drops[i]);
        if (r >= 0)
                r = store_commit(s);
        if (r < 0)
                store_rollback(s);
        if (!sync) {
                _cleanup_(stmt_release) sqlite3_stmt *stmt = store_stmt(s, STMT_SYNC_FULL);
                int q = stmt_run(s, stmt);

                /* A connection left at NORMAL would make every later commit lazy. */
                if (q < 0 && r >= 0)
                        r = q;
        }
        return r < 0 ? r : 0;
}

/* Copy c (its strings into one allocation) into d; NULL c->action keeps only the name. */
static int deferred_copy(const struct store_change *c, struct deferred *d)
{
        const char **fields[] = {
                &d->c.name,       &d->c.content,      &d->c.origin,      &d->c.action,
                &d->c.actor,      &d->c.request_id,   &d->c.before,      &d->c.kind,
                &d->c.audit_name, &d->c.audit_before, &d->c.audit_after,
        };
        size_t total = 0;
        char *p;

        d->c = *c;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (*fields[i])
                        total += strlen(*fields[i]) + 1;
        p = d->strings = malloc(total ?: 1);
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                size_t len;

                if (!*fields[i])
                        continue;
                len = strlen(*fields[i]) + 1;
                memcpy(p, *fields[i], len);
                *fields[i] = p;
                p += len;
        }
        return 0;
}

static int deferred_add(struct store *s, const struct store_change *c)
{
        if (s->n_deferred == s->cap_deferred) {
                size_t cap = s->cap_deferred ? s->cap_deferred * 2 : 64;
                struct deferred *v = reallocarray(s->deferred, cap, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                s->deferred = v;
                s->cap_deferred = cap;
        }
        if (deferred_copy(c, &s->deferred[s->n_deferred]) < 0)
                return -ENOMEM;
        s->n_deferred++;
        return 0;
}

int store_defer_many(struct store *s, const struct store_change *const *v, size_t n,
                     const char *const *drops, size_t n_drops)
{
        DB_LOCKED(s);
        size_t had;
        int r = 0;

        assert_return(s && (v || n == 0) && (drops || n_drops == 0), -EINVAL);
        for (size_t i = 0; i < n; i++)
                assert_return(v[i]->name && v[i]->origin && v[i]->action &&
                                      v[i]->revision <= INT64_MAX,
                              -EINVAL);
        for (size_t i = 0; i < n_drops; i++)
                assert_return(drops[i], -EINVAL);
        if (n + n_drops == 0)
                return 0;

        had = s->n_deferred;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = deferred_add(s, v[i]);
        for (size_t i = 0; i < n_drops && r >= 0; i++)
                r = deferred_add(s, &(struct store_change){ .name = drops[i] });
        if (r < 0) {
                /* All or nothing: the caller applies them itself. */
                while (s->n_deferred > had)
                        free(s->deferred[--s->n_deferred].strings);
                return r;
        }
        if (had == 0)
                atomic_store(&s->deferred_since, clock_usec(CLOCK_MONOTONIC));
        atomic_fetch_add(&s->deferred_seq, n + n_drops);
        return 0;
}

bool store_deferred_pending(struct store *s, int64_t *ret_since)
{
        bool pending = atomic_load(&s->deferred_seq) != atomic_load(&s->applied_seq);

        if (pending && ret_since)
                *ret_since = atomic_load(&s->deferred_since);
        return pending;
}

int store_flush_deferred(struct store *s)
{
        DB_LOCKED(s);
        assert_return(s, -EINVAL);
        if (s->n_deferred == 0)
                return 0;
        /* A transaction of nothing but the deferred changes (store_begin writes them), not
         * flushed by itself: their intents are durable already. */
        return store_apply_many(s, NULL, 0, NULL, 0, false);
}

int store_audit_foreach(struct store *s, const char *name, size_t limit,
                        int (*cb)(const struct store_audit *a, void *ud), void *ud)
{
        DB_LOCKED(s);
        _cleanup_(stmt_release) sqlite3_stmt *stmt = NULL;
        /* LIMIT -1 is no limit in sqlite; a limit of 0 yields nothing. */
        int64_t lim = limit > (size_t)INT64_MAX ? -1 : (int64_t)limit;
        int rc, r;

        assert_return(s, -EINVAL);
        assert_return(cb, -EINVAL);

        r = store_flush_deferred(s);
        if (r < 0)
                return r;
        if (name) {
                stmt = store_stmt(s, STMT_AUDIT_NAME);
                rc = bind_text(stmt, 1, name);
                if (rc == SQLITE_OK)
                        rc = sqlite3_bind_int64(stmt, 2, lim);
        } else {
                stmt = store_stmt(s, STMT_AUDIT_ALL);
                rc = sqlite3_bind_int64(stmt, 1, lim);
        }
        if (rc != SQLITE_OK)
                return store_sqlite_errno(s->db, rc);

        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                struct store_audit a = {
                        .id = sqlite3_column_int64(stmt, 0),
                        .at_usec = sqlite3_column_int64(stmt, 1),
                        .name = (const char *)sqlite3_column_text(stmt, 2),
                        .action = (const char *)sqlite3_column_text(stmt, 3),
                        .origin = (const char *)sqlite3_column_text(stmt, 4),
                        .revision = (uint64_t)sqlite3_column_int64(stmt, 5),
                        .actor = (const char *)sqlite3_column_text(stmt, 6),
                        .request_id = (const char *)sqlite3_column_text(stmt, 7),
                        .before = (const char *)sqlite3_column_text(stmt, 8),
                        .after = (const char *)sqlite3_column_text(stmt, 9),
                        .kind = (const char *)sqlite3_column_text(stmt, 10),
                };

                if (!a.name || !a.action || !a.origin)
                        return sqlite3_errcode(s->db) == SQLITE_NOMEM ? -ENOMEM : -EIO;

                r = cb(&a, ud);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return store_sqlite_errno(s->db, rc);

        return 0;
}

/* Run one quick_check statement on db: 0 if it says "ok", else -EIO with its first finding. */
static int quick_check_run(sqlite3 *db, const char *sql, char *why, size_t size)
{
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *stmt = NULL;
        const char *v;
        int rc;

        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW) {
                if (why)
                        snprintf(why, size, "%s", sqlite3_errmsg(db));
                return rc == SQLITE_INTERRUPT ? -EINTR : -EIO;
        }
        /* quick_check yields a single "ok", or one row per problem found. */
        v = (const char *)sqlite3_column_text(stmt, 0);
        if (!v || !streq(v, "ok")) {
                if (why) {
                        /* "*** in database main ***\nPage 6: ...": one line for logs. */
                        snprintf(why, size, "%s", v ? v : "no answer");
                        for (char *p = why; *p; p++)
                                if ((unsigned char)*p < ' ' || *p == 0x7f)
                                        *p = ' ';
                }
                return -EIO;
        }
        return 0;
}

int store_check(struct store *s)
{
        DB_LOCKED(s);
        /* The state the daemon runs from; not the audit trail, which only grows. */
        static const char *const checks[] = {
                "PRAGMA quick_check(ifaces)", "PRAGMA quick_check(intents)",
                "PRAGMA quick_check(nodes)",  "PRAGMA quick_check(sessions)",
                "PRAGMA quick_check(tokens)",
        };

        assert_return(s, -EINVAL);

        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                int r = quick_check_run(s->db, checks[i], NULL, 0);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* A read-only connection to path for a thread of its own (busy timeout as the writers'). */
static int open_reader(const char *path, sqlite3 **ret)
{
        int rc = sqlite3_open_v2(path, ret, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);

        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(*ret, 5000);
        if (rc == SQLITE_OK)
                rc = sqlite3_extended_result_codes(*ret, 1);
        return rc;
}

struct store_checker {
        pthread_mutex_t lock;
        sqlite3 *db; /* while the check runs */
        bool stopped;
};

int store_checker_new(struct store_checker **ret)
{
        struct store_checker *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

int store_check_all(struct store_checker *c, const char *path, char *why, size_t size)
{
        sqlite3 *db = NULL;
        int rc, r;

        assert_return(c && path && why && size > 0, -EINVAL);

        why[0] = '\0';
        rc = open_reader(path, &db);
        if (rc != SQLITE_OK) {
                snprintf(why, size, "%s", db ? sqlite3_errmsg(db) : "out of memory");
                sqlite3_close(db);
                return -EIO;
        }
        pthread_mutex_lock(&c->lock);
        if (c->stopped) {
                pthread_mutex_unlock(&c->lock);
                sqlite3_close(db);
                return -EINTR;
        }
        c->db = db;
        pthread_mutex_unlock(&c->lock);

        r = quick_check_run(db, "PRAGMA quick_check", why, size);

        pthread_mutex_lock(&c->lock);
        c->db = NULL;
        pthread_mutex_unlock(&c->lock);
        sqlite3_close(db);
        return r;
}

void store_checker_stop(struct store_checker *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stopped = true;
        if (c->db)
                sqlite3_interrupt(c->db);
        pthread_mutex_unlock(&c->lock);
}

struct store_checker *store_checker_free(struct store_checker *c)
{
        if (c) {
                pthread_mutex_destroy(&c->lock);
                free(c);
        }
        return NULL;
}

static int audit_query_on(sqlite3 *db, const struct store_audit_query *q,
                          int (*cb)(const struct store_audit *a, void *ud), void *ud)
{
        char sql[512] = "SELECT id, at_usec, name, action, origin, revision, actor, request_id,"
                        " before, after, kind FROM audit WHERE 1";
        sqlite3_stmt *stmt = NULL;
        int rc, r = 0, i = 1;

        /* Only fixed SQL text is appended; every value is bound. */
        if (q->name)
                strcat(sql, " AND name = ?");
        if (q->actor)
                strcat(sql, " AND actor = ?");
        if (q->origin)
                strcat(sql, " AND origin = ?");
        if (q->action)
                strcat(sql, " AND action = ?");
        if (q->has_since)
                strcat(sql, " AND at_usec >= ?");
        if (q->has_until)
                strcat(sql, " AND at_usec < ?");
        if (q->before_id)
                strcat(sql, " AND id < ?");
        strcat(sql, " ORDER BY id DESC LIMIT ?");

        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        if (rc == SQLITE_OK && q->name)
                rc = sqlite3_bind_text(stmt, i++, q->name, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && q->actor)
                rc = sqlite3_bind_text(stmt, i++, q->actor, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && q->origin)
                rc = sqlite3_bind_text(stmt, i++, q->origin, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && q->action)
                rc = sqlite3_bind_text(stmt, i++, q->action, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && q->has_since)
                rc = sqlite3_bind_int64(stmt, i++, q->since_usec);
        if (rc == SQLITE_OK && q->has_until)
                rc = sqlite3_bind_int64(stmt, i++, q->until_usec);
        if (rc == SQLITE_OK && q->before_id)
                rc = sqlite3_bind_int64(stmt, i++, q->before_id);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(stmt, i++, (int64_t)q->limit);
        if (rc != SQLITE_OK) {
                r = store_sqlite_errno(db, rc) ?: -EIO;
                sqlite3_finalize(stmt);
                return r;
        }

        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                struct store_audit a = {
                        .id = sqlite3_column_int64(stmt, 0),
                        .at_usec = sqlite3_column_int64(stmt, 1),
                        .name = (const char *)sqlite3_column_text(stmt, 2),
                        .action = (const char *)sqlite3_column_text(stmt, 3),
                        .origin = (const char *)sqlite3_column_text(stmt, 4),
                        .revision = (uint64_t)sqlite3_column_int64(stmt, 5),
                        .actor = (const char *)sqlite3_column_text(stmt, 6),
                        .request_id = (const char *)sqlite3_column_text(stmt, 7),
                        .before = (const char *)sqlite3_column_text(stmt, 8),
                        .after = (const char *)sqlite3_column_text(stmt, 9),
                        .kind = (const char *)sqlite3_column_text(stmt, 10),
                };

                if (!a.name || !a.action || !a.origin) {
                        r = -EIO;
                        break;
                }
                r = cb(&a, ud);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = store_sqlite_errno(db, rc) ?: -EIO;
        sqlite3_finalize(stmt);
        return r;
}

int store_audit_query(struct store *s, const struct store_audit_query *q,
                      int (*cb)(const struct store_audit *a, void *ud), void *ud)
{
        DB_LOCKED(s);
        int r;

        assert_return(s && q && cb, -EINVAL);
        r = store_flush_deferred(s);
        if (r < 0)
                return r;
        return audit_query_on(s->db, q, cb, ud);
}

bool store_has_reader(const struct store *s)
{
        return s && s->path;
}

int store_audit_query_reader(struct store *s, const struct store_audit_query *q,
                             int (*cb)(const struct store_audit *a, void *ud), void *ud)
{
        int rc, r;

        assert_return(s && s->path && q && cb, -EINVAL);

        pthread_mutex_lock(&s->reader_lock);
        if (!s->reader) {
                rc = open_reader(s->path, &s->reader);
                if (rc != SQLITE_OK) {
                        r = s->reader ? store_sqlite_errno(s->reader, rc) ?: -EIO : -ENOMEM;
                        sqlite3_close(s->reader);
                        s->reader = NULL;
                        pthread_mutex_unlock(&s->reader_lock);
                        return r;
                }
        }
        r = audit_query_on(s->reader, q, cb, ud);
        pthread_mutex_unlock(&s->reader_lock);
        return r;
}

int store_file_check(struct store *s)
{
        struct stat st;

        assert_return(s, -EINVAL);
        if (!s->path)
                return 0;
        if (stat(s->path, &st) < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        if (st.st_dev != s->dev || st.st_ino != s->ino)
                return -ESTALE;
        return 0;
}

/* Keep what a lock file says printable, and short: it is shown in an error message. */
static void holder_clean(char *s)
{
        for (char *p = s; *p; p++) {
                if (*p == '\n' && p[1])
                        *p = ',';
                else if (*p == '\n')
                        *p = 0;
                else if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        *p = '?';
        }
}

int store_lock_db(const char *path, const char *iscsi_root, int *ret_fd, char *holder, size_t size)
{
        _cleanup_free_ char *lock_path = NULL;
        _cleanup_close_ int fd = -1;
        char buf[512];
        int n;

        assert_return(path && ret_fd && holder && size > 0, -EINVAL);

        *ret_fd = -1;
        holder[0] = 0;
        if (streq(path, ":memory:"))
                return 0;
        if (asprintf(&lock_path, "%s.lock", path) < 0)
                return -ENOMEM;
        fd = open_regular(AT_FDCWD, lock_path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, NULL);
        if (fd < 0)
                return fd;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                ssize_t k;

                if (errno != EWOULDBLOCK)
                        return -errno;
                k = pread(fd, buf, sizeof(buf) - 1, 0);
                buf[k > 0 ? k : 0] = 0;
                holder_clean(buf);
                snprintf(holder, size, "%s", buf[0] ? buf : "a process that recorded nothing");
                return -EBUSY;
        }
        n = snprintf(buf, sizeof(buf), "pid %ld, iscsi root %s\n", (long)getpid(),
                     iscsi_root ? iscsi_root : "?");
        if (n < 0 || (size_t)n >= sizeof(buf))
                n = (int)strlen(buf);
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
