/* SPDX-License-Identifier: MIT */
/* The token table: create, list, revoke, verify. Only SHA-256 of a secret ever reaches disk. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "durable.h"
#include "macro.h"
#include "store.h"
#include "tokens.h"

#define TOKEN_CACHE_SIZE 64
/*
 * sqlite's WAL-index (the -shm file, https://sqlite.org/walformat.html "The WAL-Index Header")
 * starts with two copies of a 48-byte header. Every commit, by any connection of any process,
 * rewrites them (the change counter, the last frame and the checksums change), copy 1 first,
 * then copy 0; a reader takes copy 0, then copy 1, and trusts them when they are equal. Regions
 * are 32 KiB.
 */
#define WAL_HDR_SIZE     48
#define WAL_SHM_REGION   32768

/* A verified token row, kept until the table changes (PRAGMA data_version, or our own write). */
struct token_cached {
        char hash[65];
        struct token_info info;
};

struct tokens {
        sqlite3 *db;
        char *path; /* NULL for ":memory:" */
        dev_t dev;  /* the file we opened, to notice it being deleted or replaced */
        ino_t ino;
        pthread_mutex_t lock;
        sqlite3_stmt *stmt_verify;
        sqlite3_stmt *stmt_data_version;
        int64_t data_version;
        struct token_cached cache[TOKEN_CACHE_SIZE];
        size_t n_cache, next_evict;
        const volatile uint8_t *wal_index; /* sqlite's own mapping of the WAL-index, or NULL */
        uint8_t wal_seen[WAL_HDR_SIZE];    /* its header when data_version was last read */
        bool wal_seen_ok;
        uint64_t db_checks; /* data_version reads */
};

static const char *const role_names[_ROLE_MAX] = {
        [ROLE_NONE] = "none",
        [ROLE_VIEWER] = "viewer",
        [ROLE_OPERATOR] = "operator",
        [ROLE_ADMIN] = "admin",
};

const char *role_to_string(enum role r)
{
        return r < _ROLE_MAX ? role_names[r] : "none";
}

enum role role_from_string(const char *s)
{
        for (int i = ROLE_VIEWER; i < _ROLE_MAX; i++)
                if (s && streq(s, role_names[i]))
                        return (enum role)i;
        return ROLE_NONE;
}

static bool is_hex_lower(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_b64url(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
}

int token_split(const char *token, char id[static TOKEN_ID_LEN + 1],
                char secret[static TOKEN_SECRET_LEN + 1])
{
        if (!token || strlen(token) != TOKEN_LEN || strncmp(token, "ifd_", 4) != 0 ||
            token[4 + TOKEN_ID_LEN] != '_')
                return -EINVAL;
        for (size_t i = 0; i < TOKEN_ID_LEN; i++)
                if (!is_hex_lower(token[4 + i]))
                        return -EINVAL;
        for (size_t i = 0; i < TOKEN_SECRET_LEN; i++)
                if (!is_b64url(token[4 + TOKEN_ID_LEN + 1 + i]))
                        return -EINVAL;
        memcpy(id, token + 4, TOKEN_ID_LEN);
        id[TOKEN_ID_LEN] = 0;
        memcpy(secret, token + 4 + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN);
        secret[TOKEN_SECRET_LEN] = 0;
        return 0;
}

/* SHA-256 of the secret, as 64 lower-case hex characters. */
static int hash_secret(const char *secret, char ret[static 65])
{
        static const char hex[] = "0123456789abcdef";
        uint8_t d[32];

        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), d) < 0)
                return -EIO;
        for (size_t i = 0; i < sizeof(d); i++) {
                ret[2 * i] = hex[d[i] >> 4];
                ret[2 * i + 1] = hex[d[i] & 0xf];
        }
        ret[64] = 0;
        explicit_bzero(d, sizeof(d));
        return 0;
}

/*
 * The WAL-index header as it is now, into ret: true when its two copies agree (false while a
 * commit is rewriting it, or when it was never mapped).
 */
static bool wal_index_read(const struct tokens *t, uint8_t ret[static WAL_HDR_SIZE])
{
        uint8_t copy1[WAL_HDR_SIZE];

        if (!t->wal_index)
                return false;
        for (size_t i = 0; i < WAL_HDR_SIZE; i++)
                ret[i] = t->wal_index[i];
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* as sqlite's reader: copy 0, barrier, copy 1 */
        for (size_t i = 0; i < WAL_HDR_SIZE; i++)
                copy1[i] = t->wal_index[WAL_HDR_SIZE + i];
        return memcmp(ret, copy1, WAL_HDR_SIZE) == 0;
}

/*
 * Find sqlite's mapping of this connection's WAL-index, so that a verification can tell that no
 * commit has happened since the last PRAGMA data_version by reading memory (token_table_verify).
 * The mapping is the connection's own (through its VFS, not a second open of the -shm file: a
 * file put in the db's place later is never mapped), lives until the connection closes, and the
 * file cannot be truncated meanwhile (the open connection holds sqlite's DMS lock). Without WAL
 * mode, or when anything here fails, every verification reads data_version, as before.
 */
static void wal_index_map(struct tokens *t)
{
        sqlite3_stmt *st = NULL;
        sqlite3_file *f = NULL;
        volatile void *p = NULL;
        bool wal = false;

        /* A first read opens the WAL and maps its index. */
        if (sqlite3_exec(t->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
            SQLITE_OK)
                return;
        if (sqlite3_prepare_v2(t->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                wal = streq((const char *)sqlite3_column_text(st, 0) ?: "", "wal");
        sqlite3_finalize(st);
        if (!wal)
                return;
        if (sqlite3_file_control(t->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
            !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
                return;
        if (f->pMethods->xShmMap(f, 0, WAL_SHM_REGION, 0, &p) != SQLITE_OK || !p)
                return;
        t->wal_index = p;
}

int token_table_open(const char *db_path, struct tokens **ret)
{
        struct tokens *t;
        int rc;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        rc = sqlite3_open_v2(db_path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                int r = t->db ? store_sqlite_errno(t->db, rc) : -ENOMEM;

                token_table_close(t);
                return r;
        }
        (void)sqlite3_extended_result_codes(t->db, 1);
        (void)sqlite3_busy_timeout(t->db, 5000);
        (void)sqlite3_exec(t->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
        if (!streq(db_path, ":memory:")) {
                struct stat st;

                t->path = strdup(db_path);
                if (!t->path || stat(db_path, &st) < 0) {
                        int r = t->path ? -errno : -ENOMEM;

                        token_table_close(t);
                        return r;
                }
                t->dev = st.st_dev;
                t->ino = st.st_ino;
                wal_index_map(t);
        }
        *ret = t;
        return 0;
}

/*
 * A token write into a db file that was deleted or replaced would vanish with it (and a restore
 * from backup would un-revoke a token): refuse it, as record writes are refused. Under t->lock.
 */
static int tokens_file_check(struct tokens *t)
{
        struct stat st;

        if (!t->path)
                return 0;
        if (stat(t->path, &st) < 0 || st.st_dev != t->dev || st.st_ino != t->ino)
                return -EBADFD;
        return 0;
}

struct tokens *token_table_close(struct tokens *t)
{
        if (!t)
                return NULL;
        sqlite3_finalize(t->stmt_verify);
        sqlite3_finalize(t->stmt_data_version);
        t->wal_index = NULL; /* unmapped with the connection */
        sqlite3_close(t->db);
        free(t->path);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

static int audit_locked(struct tokens *t, const char *id, const char *action, const char *actor,
                        const char *request_id, const char *after)
{
        sqlite3_stmt *st = NULL;
        char name[32];
        int rc;

        snprintf(name, sizeof(name), "token:%s", id);
        rc = sqlite3_prepare_v2(t->db,
                                "INSERT INTO audit (at_usec, name, action, origin, revision, actor,"
                                " request_id, before, after, kind) VALUES (?, ?, ?, 'api', 0, ?,"
                                " ?, NULL, ?, 'token')",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, clock_usec(CLOCK_REALTIME));
                sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, actor, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 5, request_id, -1, SQLITE_TRANSIENT); /* NULL binds NULL */
                sqlite3_bind_text(st, 6, after, -1, SQLITE_TRANSIENT);
                rc = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : store_sqlite_errno(t->db, rc);
}

static bool name_ok(const char *name)
{
        size_t n = strlen(name);

        if (n > TOKEN_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (name[i] < ' ' || name[i] > '~')
                        return false;
        return true;
}

static void info_init(struct token_info *info, const char *id, enum role role, const char *name)
{
        snprintf(info->id, sizeof(info->id), "%s", id);
        info->role = role;
        snprintf(info->name, sizeof(info->name), "%s", name);
        info->created_usec = clock_usec(CLOCK_REALTIME);
}

/* Take t->lock, check the db file, BEGIN IMMEDIATE: 0 holding the lock in a transaction, or a
 * -errno with the lock released. */
static int tx_begin(struct tokens *t)
{
        int r;

        pthread_mutex_lock(&t->lock);
        r = tokens_file_check(t);
        if (r >= 0)
                r = store_sqlite_errno(t->db,
                                       sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
        if (r < 0)
                pthread_mutex_unlock(&t->lock);
        return r;
}

/* Insert the row of info with hash, and its audit ("role=R name=N" and note). Under a transaction. */
static int insert_locked(struct tokens *t, const struct token_info *info, const char *hash,
                         const char *actor, const char *request_id, const char *note)
{
        char after[128];
        sqlite3_stmt *st = NULL;
        int rc, r;

        rc = sqlite3_prepare_v2(t->db,
                                "INSERT INTO tokens (id, role, name, hash, created_usec)"
                                " VALUES (?, ?, ?, ?, ?)",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, info->id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, role_to_string(info->role), -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, info->name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 5, info->created_usec);
                rc = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(t->db, rc) ?: -EIO;
        if (r < 0)
                return r;
        snprintf(after, sizeof(after), "role=%s name=%s%s", role_to_string(info->role), info->name,
                 note);
        return audit_locked(t, info->id, "create", actor, request_id, after);
}

int token_table_create(struct tokens *t, enum role role, const char *name, const char *actor,
                       const char *request_id, char ret_token[static TOKEN_LEN + 1],
                       struct token_info *ret_info)
{
        static const char b64[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        static const char hex[] = "0123456789abcdef";
        uint8_t rnd[6 + 32];
        char id[TOKEN_ID_LEN + 1], secret[TOKEN_SECRET_LEN + 1], hash[65];
        struct token_info info = {};
        int rc, r;

        if (role <= ROLE_NONE || role >= _ROLE_MAX || !name || !name_ok(name))
                return -EINVAL;
        r = durable_check("a token create");
        if (r < 0)
                return r;
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return -EIO;

        for (size_t i = 0; i < 6; i++) {
                id[2 * i] = hex[rnd[i] >> 4];
                id[2 * i + 1] = hex[rnd[i] & 0xf];
        }
        id[TOKEN_ID_LEN] = 0;
        /* 32 bytes -> 43 base64url characters (the last one carries 4 bits). */
        for (size_t i = 0, o = 0; o < TOKEN_SECRET_LEN; i += 3) {
                uint32_t v = (uint32_t)rnd[6 + i] << 16;

                if (i + 1 < 32)
                        v |= (uint32_t)rnd[6 + i + 1] << 8;
                if (i + 2 < 32)
                        v |= rnd[6 + i + 2];
                for (int k = 0; k < 4 && o < TOKEN_SECRET_LEN; k++)
                        secret[o++] = b64[(v >> (18 - 6 * k)) & 0x3f];
        }
        secret[TOKEN_SECRET_LEN] = 0;
        explicit_bzero(rnd, sizeof(rnd));

        r = hash_secret(secret, hash);
        if (r < 0)
                goto out;

        info_init(&info, id, role, name);
        r = tx_begin(t);
        if (r < 0)
                goto out;
        r = insert_locked(t, &info, hash, actor, request_id, "");
        if (r >= 0) {
                rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
                r = store_sqlite_errno(t->db, rc);
        }
        if (r < 0)
                (void)sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        t->n_cache = 0; /* our own commits do not change data_version */
        pthread_mutex_unlock(&t->lock);

        if (r >= 0) {
                snprintf(ret_token, TOKEN_LEN + 1, "ifd_%s_%s", id, secret);
                if (ret_info)
                        *ret_info = info;
        }
out:
        explicit_bzero(secret, sizeof(secret));
        return r < 0 ? r : 0;
}

static bool equal_ct(const char *a, const char *b, size_t n);

/* Revoke the unrevoked tokens named name other than keep, with their audit. Under a transaction. */
static int revoke_named_locked(struct tokens *t, const char *name, const char *keep,
                               const char *actor, size_t *ret_n)
{
        char ids[16][TOKEN_ID_LEN + 1];
        sqlite3_stmt *st = NULL;
        size_t n = 0;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(t->db,
                                "SELECT id FROM tokens WHERE name = ? AND id != ? AND"
                                " revoked_usec IS NULL LIMIT 16",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, keep, -1, SQLITE_STATIC);
                while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < ELEMENTSOF(ids))
                        snprintf(ids[n++], sizeof(ids[0]), "%s",
                                 (const char *)sqlite3_column_text(st, 0) ?: "");
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return store_sqlite_errno(t->db, rc) ?: -EIO;
        for (size_t i = 0; i < n && r >= 0; i++) {
                st = NULL;
                rc = sqlite3_prepare_v2(t->db, "UPDATE tokens SET revoked_usec = ? WHERE id = ?",
                                        -1, &st, NULL);
                if (rc == SQLITE_OK) {
                        sqlite3_bind_int64(st, 1, clock_usec(CLOCK_REALTIME));
                        sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
                        rc = sqlite3_step(st);
                }
                sqlite3_finalize(st);
                r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(t->db, rc) ?: -EIO;
                if (r >= 0)
                        r = audit_locked(t, ids[i], "revoke", actor, NULL, NULL);
        }
        *ret_n = r >= 0 ? n : 0;
        return r;
}

int token_table_import(struct tokens *t, enum role role, const char *name, const char *token,
                       bool replace, const char *actor, struct token_info *ret_info,
                       size_t *ret_revoked)
{
        char id[TOKEN_ID_LEN + 1], secret[TOKEN_SECRET_LEN + 1], hash[65];
        struct token_info info = {};
        sqlite3_stmt *st = NULL;
        size_t revoked = 0;
        bool known = false;
        int rc, r;

        if (role <= ROLE_NONE || role >= _ROLE_MAX || !name || !name_ok(name))
                return -EINVAL;
        r = token_split(token, id, secret);
        if (r < 0)
                return r;
        r = hash_secret(secret, hash);
        explicit_bzero(secret, sizeof(secret));
        if (r < 0)
                return r;
        r = durable_check("a token import");
        if (r < 0)
                return r;

        info_init(&info, id, role, name);
        r = tx_begin(t);
        if (r < 0)
                return r;
        rc = sqlite3_prepare_v2(t->db,
                                "SELECT role, hash, revoked_usec, created_usec FROM tokens"
                                " WHERE id = ?",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        if (rc == SQLITE_ROW) {
                const char *h = (const char *)sqlite3_column_text(st, 1);

                known = true;
                /* Exactly this token, live, with this role: nothing to do (a re-run). */
                r = role_from_string((const char *)sqlite3_column_text(st, 0)) == role && h &&
                                    strlen(h) == 64 && equal_ct(h, hash, 64) &&
                                    sqlite3_column_type(st, 2) == SQLITE_NULL ?
                            1 :
                            -EEXIST;
                info.created_usec = sqlite3_column_int64(st, 3);
        } else if (rc != SQLITE_DONE)
                r = store_sqlite_errno(t->db, rc) ?: -EIO;
        sqlite3_finalize(st);
        st = NULL;

        if (r == 0 && !known)
                r = insert_locked(t, &info, hash, actor, NULL, " imported");
        if (r >= 0 && replace) {
                int k = revoke_named_locked(t, name, id, actor, &revoked);

                if (k < 0)
                        r = k;
        }
        if (r >= 0) {
                rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        r = store_sqlite_errno(t->db, rc) ?: -EIO;
        }
        if (r < 0)
                (void)sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        t->n_cache = 0;
        pthread_mutex_unlock(&t->lock);

        if (r >= 0) {
                if (ret_info)
                        *ret_info = info;
                if (ret_revoked)
                        *ret_revoked = revoked;
        }
        return r;
}

static void row_to_info(sqlite3_stmt *st, struct token_info *ti)
{
        memset(ti, 0, sizeof(*ti));
        snprintf(ti->id, sizeof(ti->id), "%s", (const char *)sqlite3_column_text(st, 0) ?: "");
        ti->role = role_from_string((const char *)sqlite3_column_text(st, 1));
        snprintf(ti->name, sizeof(ti->name), "%s", (const char *)sqlite3_column_text(st, 2) ?: "");
        ti->created_usec = sqlite3_column_int64(st, 3);
        ti->revoked_usec = sqlite3_column_int64(st, 4);
}

int token_table_list(struct tokens *t, struct token_info **ret, size_t *ret_n)
{
        struct token_info *a = NULL;
        sqlite3_stmt *st = NULL;
        size_t n = 0, cap = 0;
        int rc, r = 0;

        pthread_mutex_lock(&t->lock);
        rc = sqlite3_prepare_v2(t->db,
                                "SELECT id, role, name, created_usec, revoked_usec FROM tokens"
                                " ORDER BY created_usec, id",
                                -1, &st, NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        struct token_info *b = realloc(a, (cap = cap ? cap * 2 : 16) * sizeof(*a));

                        if (!b) {
                                r = -ENOMEM;
                                break;
                        }
                        a = b;
                }
                row_to_info(st, &a[n++]);
                rc = SQLITE_OK;
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = store_sqlite_errno(t->db, rc) ?: -EIO;
        sqlite3_finalize(st);
        pthread_mutex_unlock(&t->lock);
        if (r < 0) {
                free(a);
                return r;
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

int token_table_revoke(struct tokens *t, const char *id, const char *actor, const char *request_id)
{
        sqlite3_stmt *st = NULL;
        int rc, r;

        r = durable_check("a token revoke");
        if (r < 0)
                return r;
        pthread_mutex_lock(&t->lock);
        r = tokens_file_check(t);
        if (r < 0) {
                pthread_mutex_unlock(&t->lock);
                return r;
        }
        rc = sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(t->db, "SELECT revoked_usec FROM tokens WHERE id = ?", -1,
                                        &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        if (rc == SQLITE_DONE)
                r = -ENOENT;
        else if (rc == SQLITE_ROW)
                r = sqlite3_column_int64(st, 0) != 0 ? -EALREADY : 0;
        else
                r = store_sqlite_errno(t->db, rc) ?: -EIO;
        sqlite3_finalize(st);
        st = NULL;

        if (r == 0) {
                rc = sqlite3_prepare_v2(t->db, "UPDATE tokens SET revoked_usec = ? WHERE id = ?",
                                        -1, &st, NULL);
                if (rc == SQLITE_OK) {
                        sqlite3_bind_int64(st, 1, clock_usec(CLOCK_REALTIME));
                        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
                        rc = sqlite3_step(st);
                }
                sqlite3_finalize(st);
                r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(t->db, rc) ?: -EIO;
        }
        if (r == 0)
                r = audit_locked(t, id, "revoke", actor, request_id, NULL);
        if (r == 0)
                r = store_sqlite_errno(t->db, sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL));
        if (r < 0)
                (void)sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        t->n_cache = 0;
        pthread_mutex_unlock(&t->lock);
        return r;
}

/* Constant-time comparison of two equal-length strings. */
static bool equal_ct(const char *a, const char *b, size_t n)
{
        unsigned char d = 0;

        for (size_t i = 0; i < n; i++)
                d |= (unsigned char)(a[i] ^ b[i]);
        return d == 0;
}

/*
 * Has no connection committed since data_version was last read? True only when the WAL-index
 * header is unchanged since then (any commit, ours or another process's, rewrites it). Under
 * t->lock.
 */
static bool db_unchanged_locked(const struct tokens *t)
{
        uint8_t now[WAL_HDR_SIZE];

        return t->wal_seen_ok && wal_index_read(t, now) &&
               memcmp(now, t->wal_seen, WAL_HDR_SIZE) == 0;
}

/*
 * The row of id, from the cache or the db. Under t->lock. The cache is dropped whenever another
 * connection (the CLI) has committed: PRAGMA data_version changes then, so a revocation counts
 * at the next request. That read costs a sqlite read transaction (file locks, two fcntl() calls
 * and more), so it is skipped while the WAL-index header shows no commit since the last one:
 * the header is taken before data_version is read, so a commit in between shows as a changed
 * header at the next call.
 */
static int row_locked(struct tokens *t, const char *id, struct token_cached *ret)
{
        struct token_cached *slot;
        int64_t dv;
        int rc;

        if (!db_unchanged_locked(t)) {
                t->wal_seen_ok = wal_index_read(t, t->wal_seen);
                if (!t->stmt_data_version &&
                    sqlite3_prepare_v2(t->db, "PRAGMA data_version", -1, &t->stmt_data_version,
                                       NULL) != SQLITE_OK) {
                        t->wal_seen_ok = false;
                        return -EIO;
                }
                t->db_checks++;
                rc = sqlite3_step(t->stmt_data_version);
                dv = rc == SQLITE_ROW ? sqlite3_column_int64(t->stmt_data_version, 0) : -1;
                sqlite3_reset(t->stmt_data_version);
                if (dv < 0)
                        t->wal_seen_ok = false;
                if (dv < 0 || dv != t->data_version) {
                        t->n_cache = 0;
                        t->data_version = dv;
                }
        }

        for (size_t i = 0; i < t->n_cache; i++)
                if (streq(t->cache[i].info.id, id)) {
                        *ret = t->cache[i];
                        return 0;
                }

        if (!t->stmt_verify &&
            sqlite3_prepare_v2(t->db,
                               "SELECT id, role, name, created_usec, revoked_usec, hash FROM tokens"
                               " WHERE id = ?",
                               -1, &t->stmt_verify, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(t->stmt_verify, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(t->stmt_verify);
        if (rc == SQLITE_ROW) {
                row_to_info(t->stmt_verify, &ret->info);
                snprintf(ret->hash, sizeof(ret->hash), "%s",
                         (const char *)sqlite3_column_text(t->stmt_verify, 5) ?: "");
        }
        sqlite3_reset(t->stmt_verify);
        sqlite3_clear_bindings(t->stmt_verify);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return store_sqlite_errno(t->db, rc) ?: -EIO;

        if (t->n_cache < TOKEN_CACHE_SIZE)
                slot = &t->cache[t->n_cache++];
        else {
                slot = &t->cache[t->next_evict];
                t->next_evict = (t->next_evict + 1) % TOKEN_CACHE_SIZE;
        }
        *slot = *ret;
        return 0;
}

int token_table_verify(struct tokens *t, const char *id, const char *secret, struct token_info *ret)
{
        struct token_cached row;
        char want[65];
        int r;

        r = hash_secret(secret, want);
        if (r < 0)
                return r;

        pthread_mutex_lock(&t->lock);
        r = row_locked(t, id, &row);
        pthread_mutex_unlock(&t->lock);
        if (r < 0)
                return r;

        if (strlen(row.hash) != 64 || !equal_ct(want, row.hash, 64) || row.info.revoked_usec != 0 ||
            row.info.role == ROLE_NONE)
                return -EACCES;
        *ret = row.info;
        return 0;
}

uint64_t token_table_db_checks(struct tokens *t)
{
        uint64_t n;

        pthread_mutex_lock(&t->lock);
        n = t->db_checks;
        pthread_mutex_unlock(&t->lock);
        return n;
}
