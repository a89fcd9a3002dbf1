/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens (docs/security.md): "ifd_<id>_<secret>", 12 hex characters of public id and 256
 * random bits of secret in base64url. The db keeps only SHA-256 of the secret; verification
 * compares in constant time. Creation and revocation are audited. Thread-safe: one sqlite
 * connection of its own behind a mutex, so the CLI and the daemon can share the db file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_ID_LEN     12
#define TOKEN_SECRET_LEN 43
#define TOKEN_LEN        (4 + TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN) /* "ifd_" id "_" secret */
#define TOKEN_NAME_MAX   64

enum role {
        ROLE_NONE,
        ROLE_VIEWER,
        ROLE_OPERATOR,
        ROLE_ADMIN,
        _ROLE_MAX,
};

const char *role_to_string(enum role r);
enum role role_from_string(const char *s); /* ROLE_NONE if unknown */

struct token_info {
        char id[TOKEN_ID_LEN + 1];
        enum role role;
        char name[TOKEN_NAME_MAX + 1];
        int64_t created_usec; /* CLOCK_REALTIME */
        int64_t revoked_usec; /* 0 while valid */
};

struct tokens;

/* Open the token table of the db at path (made by store_open(), which migrates it). */
int tokens_open(const char *db_path, struct tokens **ret);
struct tokens *tokens_close(struct tokens *t);

/*
 * Create a token. name: 0..TOKEN_NAME_MAX printable characters. ret_token gets the whole token
 * (the only time it exists outside the caller's hands). actor names who asked, and request_id
 * (may be NULL: the CLI) the request, for the audit. Returns 0, -EINVAL (role or name), -EIO,
 * -ENOSPC.
 */
int tokens_create(struct tokens *t, enum role role, const char *name, const char *actor,
                  const char *request_id, char ret_token[static TOKEN_LEN + 1],
                  struct token_info *ret_info);

/* Every token, oldest first. *ret is owned by the caller (free()). */
int tokens_list(struct tokens *t, struct token_info **ret, size_t *ret_n);

/* Revoke by id, audited like create: 0, -ENOENT (unknown), -EALREADY (already revoked). */
int tokens_revoke(struct tokens *t, const char *id, const char *actor, const char *request_id);

/*
 * Check a presented id and secret: 0 with *ret filled, -ENOENT (no such id), -EACCES (wrong
 * secret or revoked), -EIO. Revocations by another process count at once.
 */
int tokens_verify(struct tokens *t, const char *id, const char *secret, struct token_info *ret);

/* Split "ifd_<id>_<secret>" (exactly); 0 or -EINVAL. */
int token_split(const char *token, char id[static TOKEN_ID_LEN + 1],
                char secret[static TOKEN_SECRET_LEN + 1]);
