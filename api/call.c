/* SPDX-License-Identifier: MIT */
/* The request and response helpers every handler uses: bodies, headers, JSON in, errors out. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "internal.h"
#include "macro.h"

void resp_set_body(struct api_response *resp, int status, const char *content_type, char *body,
                   size_t len)
{
        free(resp->body);
        resp->status = status;
        resp->content_type = content_type;
        resp->body = body;
        resp->body_len = len;
}

int call_reply_json(struct call *c, int status, struct sbuf *b)
{
        char *body;
        size_t len;
        int r;

        r = sbuf_take(b, &body, &len);
        if (r < 0)
                return r;
        resp_set_body(c->resp, status, "application/json", body, len);
        return 0;
}

int resp_add_header(struct api_response *resp, const char *name, const char *value)
{
        char *v;

        if (resp->n_headers >= API_MAX_HEADERS)
                return -E2BIG;
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        resp->headers[resp->n_headers++] = (struct api_header){ name, v };
        return 0;
}

/* true if the Content-Type's media type (parameters ignored, case-insensitive) is want. */
static bool media_type_is(const char *content_type, const char *want)
{
        size_t n;

        if (!content_type)
                return false;
        while (*content_type == ' ')
                content_type++;
        n = strcspn(content_type, "; \t");
        return n == strlen(want) && strncasecmp(content_type, want, n) == 0;
}

/* Parse the JSON body of a write; the type must be want. */
int call_read_json(struct call *c, const char *want, json_t **ret)
{
        json_error_t jerr;
        json_t *j;

        if (!media_type_is(c->req->content_type, want)) {
                snprintf(c->detail, sizeof(c->detail), "Content-Type must be %s, not '%.80s'", want,
                         c->req->content_type ? c->req->content_type : "(none)");
                return -EMEDIUMTYPE;
        }
        if (!c->req->body || c->req->body_len == 0)
                return call_invalid(c, "body", "the request body is empty");

        /* Strict: duplicate keys and invalid UTF-8 are errors (jansson checks UTF-8 always). */
        j = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return call_invalid(c, "body", "invalid JSON at line %d, column %d: %s", jerr.line,
                                    jerr.column, jerr.text);
        *ret = j;
        return 0;
}

int call_invalid(struct call *c, const char *field, const char *fmt, ...)
{
        va_list ap;

        c->err.field = field;
        va_start(ap, fmt);
        vsnprintf(c->err.reason, sizeof(c->err.reason), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

void api_response_done(struct api_response *resp)
{
        if (!resp)
                return;
        free(resp->body);
        for (size_t i = 0; i < resp->n_headers; i++)
                free(resp->headers[i].value);
        *resp = (struct api_response){};
}

/*
 * If-Match against the current revision of a resource (RFC 9110 13.1.1): "*" or a strong tag
 * "<current>" in the list gives *ret = current; weak tags and other well-formed tags do not
 * match (-ESTALE); a malformed list is a 400 naming If-Match.
 */
int call_if_match(struct call *c, uint64_t current, uint64_t *ret)
{
        const char *p = c->req->if_match;

        *ret = 0;
        if (!p)
                return 0;
        for (;;) {
                uint64_t v = 0;
                char *end;

                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (!*p)
                        break;
                if (*p == '*') {
                        *ret = current;
                        return 0;
                }
                if (strncmp(p, "W/", 2) == 0) {
                        p = strchr(p + 2 + (p[2] == '"'), '"');
                        if (!p)
                                return call_invalid(c, "If-Match", "malformed entity tag");
                        p++;
                        continue;
                }
                if (*p != '"')
                        return call_invalid(c, "If-Match",
                                            "malformed entity tag (expected \"<revision>\")");
                /* RFC 9110 8.8.3: etagc is %x21 / %x23-7E / obs-text. */
                end = (char *)p + 1;
                while (*end && *end != '"' &&
                       ((unsigned char)*end >= 0x80 ||
                        ((unsigned char)*end >= 0x21 && *end != 0x7f)))
                        end++;
                if (*end != '"')
                        return call_invalid(c, "If-Match",
                                            "malformed entity tag (expected \"<revision>\")");
                /* A well-formed tag that is not one of ours (say "abc") just does not match. */
                if (p[1] >= '0' && p[1] <= '9') {
                        char *num_end;

                        errno = 0;
                        v = strtoull(p + 1, &num_end, 10);
                        if (!errno && num_end == end && v != 0 && v == current) {
                                *ret = v;
                                return 0;
                        }
                }
                p = end + 1;
        }
        return -ESTALE;
}

bool call_chap_value_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n >= CHECK_SECRET_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}

int call_parse_chap(struct call *c, json_t *obj, const char *field, bool mutual_allowed,
                    struct check_chap *ret)
{
        static const char *const keys[] = { "username", "password", "username_in", "password_in" };
        char *dst[] = { ret->username, ret->password, ret->username_in, ret->password_in };
        const char *key;
        json_t *v;

        if (!json_is_object(obj))
                return call_invalid(c, field, "must be an object with username and password");

        json_object_foreach (obj, key, v) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(keys); i++)
                        if (streq(key, keys[i]))
                                break;
                if (i == ELEMENTSOF(keys) || (!mutual_allowed && i >= 2)) {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s.%.40s", field,
                                 key);
                        return call_invalid(c, c->err.field_buf, "unknown field");
                }
                if (!json_is_string(v) || !call_chap_value_ok(json_string_value(v))) {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s.%s", field, key);
                        return call_invalid(c, c->err.field_buf,
                                            "must be 1 to %d printable ASCII characters without "
                                            "spaces",
                                            CHECK_SECRET_MAX - 1);
                }
                snprintf(dst[i], CHECK_SECRET_MAX, "%s", json_string_value(v));
        }

        if (!ret->username[0] || !ret->password[0]) {
                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s.%s", field,
                         ret->username[0] ? "password" : "username");
                return call_invalid(c, c->err.field_buf, "is required");
        }
        if (!ret->username_in[0] != !ret->password_in[0]) {
                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s.%s", field,
                         ret->username_in[0] ? "password_in" : "username_in");
                return call_invalid(c, c->err.field_buf,
                                    "mutual CHAP needs both username_in and password_in");
        }
        return 0;
}

/* FNV-1a of the request body: what an Idempotency-Key is checked against. */
uint64_t call_body_hash(const struct call *c)
{
        const uint8_t *p = (const uint8_t *)c->req->body;
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; p && i < c->req->body_len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

bool call_idempotency_key_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > JOB_KEY_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
                        return false;
        }
        return true;
}

int call_no_query(struct call *c)
{
        if (c->req->n_args == 0)
                return 0;
        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", c->req->args[0].key);
        return call_invalid(c, c->err.field_buf, "unknown query parameter");
}

int call_reply_items(struct call *c, void **v, size_t n, void (*write)(struct sbuf *b, void *item),
                     void (*release)(void *item))
{
        struct sbuf b = {};

        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                write(&b, v[i]);
                release(v[i]);
        }
        free(v);
        sbuf_puts(&b, "]}");
        return call_reply_json(c, 200, &b);
}

int call_read_object(struct call *c, struct json_t **ret)
{
        json_t *j = NULL;
        int r = call_read_json(c, "application/json", &j);

        if (r < 0)
                return r;
        if (!json_is_object(j)) {
                json_decref(j);
                return call_invalid(c, "body", "must be a JSON object");
        }
        *ret = j;
        return 0;
}

int call_scoped_key(struct call *c, char *buf, size_t size, const char **ret)
{
        const char *key = c->req->idempotency_key;

        *ret = NULL;
        if (!key)
                return 0;
        if (!call_idempotency_key_ok(key))
                return call_invalid(c, "Idempotency-Key",
                                    "must be 1 to %d characters of A-Z a-z 0-9 . _ -", JOB_KEY_MAX);
        /*
         * A key is the caller's own: the same key from another principal is another operation,
         * and never shows the first one. The actor ("token:<id>", "uid:<n>", "anonymous") has
         * no space and a key cannot have one, so "<actor> <key>" is unambiguous.
         */
        snprintf(buf, size, "%.*s %s", JOB_SCOPE_MAX, c->actor, key);
        *ret = buf;
        return 0;
}
