/* SPDX-License-Identifier: MIT */
/*
 * The sqlite mirror: one row per iface (the exact file bytes, revision, origin, times), an
 * intent table for the crash-safe write protocol, and an append-only audit trail. Each call
 * holds the store's own lock while it uses the connection; the engine's write lock orders its
 * writes. store_deferred_pending and store_flush_deferred are for any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"

struct store;

struct store_row {
        const char *name;
        const char *content; /* exact bytes of ifaces/<name>, NUL-terminated */
        uint64_t revision;
        const char *origin; /* "api", "external", "auto" */
        int64_t created_usec;
        int64_t updated_usec;
};

struct store_intent {
        const char *name;
        const char *content; /* NULL = delete */
        uint64_t revision;
        const char *origin;
        const char *actor;
        const char *request_id;
};

/* One committed change: the row after it (content NULL = deleted) and its audit entry. */
struct store_change {
        const char *name;
        const char *content; /* NULL = delete the row */
        uint64_t revision;
        const char *origin;
        int64_t now_usec;
        const char *action;     /* "create", "update", "delete", "import", "recover" */
        const char *actor;      /* may be NULL */
        const char *request_id; /* may be NULL */
        const char *before;     /* previous content, may be NULL */
        /* A row of the node db (nodes table, name = the root-relative path), not ifaces. */
        bool node;
        /* A row of the sessions table (name = the sid, content = the binding id): a session
         * this daemon logged in. */
        bool session;
        /* The audit entry, when it is not (name, before, content) of an iface: its kind
         * ("binding", "discovery"), name (the binding id) and texts (secrets masked). */
        const char *kind;
        const char *audit_name;
        const char *audit_before;
        const char *audit_after;
};

/*
 * Open or create the database at path (":memory:" works) in WAL mode with synchronous=FULL,
 * and apply the schema migrations indexed by PRAGMA user_version. Returns 0, -ENOMEM, -EIO
 * (cannot open or migrate; *ret untouched), or -EROFS/-EACCES when the file is not writable.
 */
int store_open(const char *path, struct store **ret);
struct store *store_close(struct store *s);

/* The highest revision ever handed out (rows, intents and audit), 0 for a new db. */
int store_max_revision(struct store *s, uint64_t *ret);

/* Call cb for every row in name order; a negative return of cb stops and is returned. */
int store_rows_foreach(struct store *s, int (*cb)(const struct store_row *row, void *ud), void *ud);

/* Every row of the node db (row->name is the root-relative path), by path. */
int store_node_rows_foreach(struct store *s, int (*cb)(const struct store_row *row, void *ud),
                            void *ud);

/* Every row of the sessions table, by name (the sid as text: "10" sorts before "2"). */
int store_session_rows_foreach(struct store *s, int (*cb)(const struct store_row *row, void *ud),
                               void *ud);

/* Number of rows. */
int store_count(struct store *s, size_t *ret);

/* Durably record an intent (replacing any previous intent for the name). 0 or -EIO. */
int store_intent_put(struct store *s, const struct store_intent *in);

/* Call cb for every pending intent. */
int store_intents_foreach(struct store *s, int (*cb)(const struct store_intent *in, void *ud),
                          void *ud);

/* Drop the intent of name (no error if there is none). */
int store_intent_drop(struct store *s, const char *name);

/*
 * In one transaction: upsert or delete the row, append the audit entry, drop any intent for
 * the name. created_usec is kept on update. 0 or -EIO (nothing changed then).
 */
int store_apply(struct store *s, const struct store_change *c);

/* The intents of a group commit, in one durable transaction (synchronous FULL). */
int store_intents_put(struct store *s, const struct store_intent *const *v, size_t n);

/*
 * The changes of a group commit in one transaction: each row, its audit entry and its intent
 * dropped, and the intents of drops[] (changes that failed) dropped too. With !sync the commit
 * is not flushed by itself (WAL, synchronous NORMAL): the caller must already hold a durable
 * intent for every change, from which recovery completes it after a power loss.
 */
int store_apply_many(struct store *s, const struct store_change *const *v, size_t n,
                     const char *const *drops, size_t n_drops, bool sync);

/*
 * Keep the changes of a batch whose writers are answered (each with a durable intent and file,
 * as for store_apply_many with !sync) for the next write transaction on this connection, which
 * writes them ahead of its own statements, or for store_flush_deferred. drops[] are intents of
 * failed changes to drop. The strings are copied. 0, or -ENOMEM with nothing kept.
 */
int store_defer_many(struct store *s, const struct store_change *const *v, size_t n,
                     const char *const *drops, size_t n_drops);

/* Whether deferred changes wait (safe from any thread); *ret_since is when the oldest was kept
 * (CLOCK_MONOTONIC, usec). */
bool store_deferred_pending(struct store *s, int64_t *ret_since);

/* Write the deferred changes now, in a transaction of their own (not flushed by itself). The
 * row and audit readers of this connection, and store_close, call it first. */
int store_flush_deferred(struct store *s);

/* Audit entries for name (NULL = all), newest first, at most limit. */
int store_audit_foreach(struct store *s, const char *name, size_t limit,
                        int (*cb)(const struct store_audit *a, void *ud), void *ud);

int store_audit_query(struct store *s, const struct store_audit_query *q,
                      int (*cb)(const struct store_audit *a, void *ud), void *ud);

/*
 * The same on a read-only connection of the store's own (opened on first use, one query at a
 * time), from any thread, without the writers' lock: it sees every commit made before it
 * starts. Only for a store on a file (store_has_reader()); ":memory:" has no second connection.
 */
bool store_has_reader(const struct store *s);
int store_audit_query_reader(struct store *s, const struct store_audit_query *q,
                             int (*cb)(const struct store_audit *a, void *ud), void *ud);

/* The one map from a sqlite result code to -errno (db may be NULL). Shared with token.c. */
struct sqlite3;
int store_sqlite_errno(struct sqlite3 *db, int rc);

/*
 * Is the file we opened still the one at the path? 0, -ENOENT (deleted) or -ESTALE (replaced):
 * then every commit goes to a file nobody will open again.
 */
int store_file_check(struct store *s);

/*
 * Hold the database for this process: an exclusive flock on "<path>.lock" (created 0600), which
 * records our pid and iscsi root for whoever finds it taken. Two daemons on one database would
 * each take the other's records for deletions made outside. Returns 0 with the lock's fd in
 * *ret_fd (keep it open while the db is used; -1 for ":memory:", which needs none), -EBUSY with
 * holder filled ("pid 123, iscsi root /etc/iscsi"), or -errno.
 */
int store_lock_db(const char *path, const char *iscsi_root, int *ret_fd, char *holder, size_t size);

/*
 * PRAGMA quick_check of the tables the daemon runs from (the records, intents, node db,
 * sessions and tokens), whose size is the state's: 0 if ok, -EIO otherwise. The audit trail,
 * which grows with history, is left to store_check_all() after the start.
 */
int store_check(struct store *s);

/*
 * A full PRAGMA quick_check of the db at path, on a read-only connection of its own, for a
 * thread while the daemon serves: 0 if ok; -EIO with the first finding in why; -EINTR when
 * store_checker_stop() ended it. One checker, one check at a time.
 */
struct store_checker;
int store_checker_new(struct store_checker **ret);
int store_check_all(struct store_checker *c, const char *path, char *why, size_t size);
void store_checker_stop(struct store_checker *c); /* from any thread */
struct store_checker *store_checker_free(struct store_checker *c);
