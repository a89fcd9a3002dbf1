/* SPDX-License-Identifier: MIT */
/*
 * The token table (token.h has the value types). The db keeps only SHA-256 of the secret;
 * verification compares in constant time. Creation and revocation are audited. Thread-safe: one
 * sqlite connection of its own behind a mutex, so the CLI and the daemon can share the db file.
 * The daemon's API reaches it through engine.h's verbs; the token CLI uses it directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct tokens;

/* Open the token table of the db at path (made by store_open(), which migrates it). */
int token_table_open(const char *db_path, struct tokens **ret);
struct tokens *token_table_close(struct tokens *t);

/*
 * Create a token. name: 0..TOKEN_NAME_MAX printable characters. ret_token gets the whole token
 * (the only time it exists outside the caller's hands). actor names who asked, and request_id
 * (may be NULL: the CLI) the request, for the audit. Returns 0, -EINVAL (role or name), -EIO,
 * -ENOSPC.
 */
int token_table_create(struct tokens *t, enum role role, const char *name, const char *actor,
                       const char *request_id, char ret_token[static TOKEN_LEN + 1],
                       struct token_info *ret_info);

/*
 * Register a token made elsewhere, "ifd_<id>_<secret>" (a fleet's Secret, the same on every
 * host), with role and name, audited like create. Returns 0 when registered, 1 when exactly that
 * token is there already with that role (nothing changed), -EINVAL (malformed token, role or
 * name), -EEXIST (the id is known with another secret or role, or revoked: never overwritten),
 * -EIO. With replace, every other unrevoked token of the same name is revoked in the same
 * transaction (a rotation); *ret_revoked (optional) counts them.
 */
int token_table_import(struct tokens *t, enum role role, const char *name, const char *token,
                       bool replace, const char *actor, struct token_info *ret_info,
                       size_t *ret_revoked);

/* Every token, oldest first. *ret is owned by the caller (free()). */
int token_table_list(struct tokens *t, struct token_info **ret, size_t *ret_n);

/* Revoke by id, audited like create: 0, -ENOENT (unknown), -EALREADY (already revoked). */
int token_table_revoke(struct tokens *t, const char *id, const char *actor, const char *request_id);

/*
 * Check a presented id and secret: 0 with *ret filled, -ENOENT (no such id), -EACCES (wrong
 * secret or revoked), -EIO. Revocations by another process count at once.
 */
int token_table_verify(struct tokens *t, const char *id, const char *secret,
                       struct token_info *ret);

/*
 * How many times a verification has read the table's PRAGMA data_version (a sqlite read
 * transaction) since open. A verification skips it while no connection has committed since the
 * last read; this count shows that it does (for tests and benchmarks).
 */
uint64_t token_table_db_checks(struct tokens *t);
