/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens (docs/security.md): "ifd_<id>_<secret>", 12 hex characters of public id and 256
 * random bits of secret in base64url. This header has the value types (roles, a token's public
 * facts); the token table is in tokens.h.
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

/* Split "ifd_<id>_<secret>" (exactly); 0 or -EINVAL. */
int token_split(const char *token, char id[static TOKEN_ID_LEN + 1],
                char secret[static TOKEN_SECRET_LEN + 1]);
