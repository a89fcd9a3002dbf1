/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: bytes (up to a NUL) -> auth_parse_bearer() (api/internal.h), the Authorization
 * header parser of docs/security.md, against a plain re-implementation of its contract: 0 iff
 * the header is exactly "Bearer" (any case), one or more spaces, "ifd_", 12 lower-case hex
 * characters, "_", 43 base64url characters, and nothing after; then id and secret hold those
 * two parts, NUL-terminated. -EINVAL otherwise. The output buffers are exactly as large as the
 * prototype says, so a write past them is caught.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "fuzz.h"
#include "macro.h"

#define MAX_INPUT  1024
#define ID_LEN     12
#define SECRET_LEN 43

static bool is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_base64url(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
}

/* The contract; on a match *id and *secret point at the two parts inside h. */
static bool ref_parse(const char *h, const char **id, const char **secret)
{
        const char *p;

        if (strncasecmp(h, "Bearer", 6) != 0 || h[6] != ' ')
                return false;
        p = h + 6;
        while (*p == ' ')
                p++;
        if (strncmp(p, "ifd_", 4) != 0)
                return false;
        p += 4;
        *id = p;
        for (size_t i = 0; i < ID_LEN; i++, p++)
                if (!is_lower_hex(*p))
                        return false;
        if (*p++ != '_')
                return false;
        *secret = p;
        for (size_t i = 0; i < SECRET_LEN; i++, p++)
                if (!is_base64url(*p))
                        return false;
        return *p == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *want_id = NULL, *want_secret = NULL;
        char *header, *id, *secret;
        bool ok;
        int r;

        if (size > MAX_INPUT)
                return 0;

        /* exact sizes: a read past the header's NUL or a write past a buffer is caught */
        header = malloc(size + 1);
        id = malloc(ID_LEN + 1);
        secret = malloc(64);
        FUZZ_CHECK(header && id && secret, "out of memory");
        memcpy(header, data, size);
        header[size] = '\0';
        memset(id, 'I', ID_LEN + 1);
        memset(secret, 'S', 64);

        ok = ref_parse(header, &want_id, &want_secret);
        r = auth_parse_bearer(header, id, secret);
        if (ok) {
                FUZZ_CHECK(r == 0, "'%s' is a well-formed header, but auth_parse_bearer() says %d",
                           header, r);
                FUZZ_CHECK(id[ID_LEN] == '\0' && strncmp(id, want_id, ID_LEN) == 0,
                           "'%s': id '%.*s', want '%.*s'", header, ID_LEN + 1, id, ID_LEN, want_id);
                FUZZ_CHECK(memchr(secret, '\0', 64) && strlen(secret) == SECRET_LEN &&
                                   strncmp(secret, want_secret, SECRET_LEN) == 0,
                           "'%s': secret '%.64s' is not the header's", header, secret);
        } else {
                FUZZ_CHECK(r == -EINVAL,
                           "'%s' is not a well-formed header, but auth_parse_bearer() "
                           "says %d",
                           header, r);
        }

        free(header);
        free(id);
        free(secret);
        return 0;
}
