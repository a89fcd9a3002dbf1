/* SPDX-License-Identifier: MIT */
/* Admin routes: GET /api/v1/audit, and /api/v1/tokens (list, create, revoke). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX     1000

/* "2026-11-23T07:00:00Z" or with a fraction ".123456Z"; UTC only. 0 or -EINVAL. */
static int parse_rfc3339(const char *s, int64_t *ret)
{
        struct tm tm = {};
        const char *p;
        int64_t frac = 0, scale = 1000000;

        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (*p - '0') * scale;
                        }
        }
        if (!streq(p, "Z") && !streq(p, "+00:00"))
                return -EINVAL;
        *ret = (int64_t)timegm(&tm) * 1000000 + frac;
        return 0;
}

static int parse_uint(const char *v, unsigned long long max, unsigned long long *ret)
{
        char *end;
        unsigned long long l;

        if (!v || *v < '0' || *v > '9')
                return -EINVAL;
        errno = 0;
        l = strtoull(v, &end, 10);
        if (*end || errno || l > max)
                return -EINVAL;
        *ret = l;
        return 0;
}

struct audit_page {
        struct sbuf *b;
        size_t n;
        int64_t last_id;
};

static int audit_write_one(const struct store_audit *a, void *ud)
{
        struct audit_page *pg = ud;
        struct sbuf *b = pg->b;

        sbuf_printf(b, "%s{\"id\":%" PRId64 ",\"at\":", pg->n ? "," : "", a->id);
        sbuf_rfc3339(b, a->at_usec);
        sbuf_puts(b, ",\"name\":");
        sbuf_json_string(b, a->name);
        sbuf_puts(b, ",\"kind\":");
        sbuf_json_string(b, a->kind ?: "iface");
        sbuf_puts(b, ",\"action\":");
        sbuf_json_string(b, a->action);
        sbuf_puts(b, ",\"origin\":");
        sbuf_json_string(b, a->origin);
        sbuf_printf(b, ",\"revision\":%" PRIu64 ",\"actor\":", a->revision);
        sbuf_json_string_or_null(b, a->actor);
        sbuf_puts(b, ",\"request_id\":");
        sbuf_json_string_or_null(b, a->request_id);
        /* Iface files carry no secrets, binding entries have theirs masked (engine/binding.c),
         * token entries carry only role and name. */
        sbuf_puts(b, ",\"before\":");
        sbuf_json_string_or_null(b, a->before);
        sbuf_puts(b, ",\"after\":");
        sbuf_json_string_or_null(b, a->after);
        sbuf_puts(b, "}");
        pg->n++;
        pg->last_id = a->id;
        return 0;
}

int audit_list(struct call *c)
{
        struct store_audit_query q = { .limit = AUDIT_LIMIT_DEFAULT };
        struct sbuf b = {};
        struct audit_page pg = { .b = &b };
        int r;

        for (size_t i = 0; i < c->req->n_args; i++) {
                const char *k = c->req->args[i].key, *v = c->req->args[i].value ?: "";
                unsigned long long u;

                if (streq(k, "limit")) {
                        if (parse_uint(v, AUDIT_LIMIT_MAX, &u) < 0 || u < 1)
                                return call_invalid(c, "limit", "must be an integer from 1 to %d",
                                                    AUDIT_LIMIT_MAX);
                        q.limit = u;
                } else if (streq(k, "cursor")) {
                        if (parse_uint(v, INT64_MAX, &u) < 0 || u < 1)
                                return call_invalid(c, "cursor",
                                                    "is not a cursor returned by this API "
                                                    "(next_cursor)");
                        q.before_id = (int64_t)u;
                } else if (streq(k, "since") || streq(k, "until")) {
                        int64_t t;

                        if (parse_rfc3339(v, &t) < 0)
                                return call_invalid(c, streq(k, "since") ? "since" : "until",
                                                    "must be a UTC time like "
                                                    "2026-11-23T07:00:00Z");
                        if (streq(k, "since")) {
                                q.since_usec = t;
                                q.has_since = true;
                        } else {
                                q.until_usec = t;
                                q.has_until = true;
                        }
                } else if (streq(k, "name"))
                        q.name = v;
                else if (streq(k, "actor"))
                        q.actor = v;
                else if (streq(k, "origin"))
                        q.origin = v;
                else if (streq(k, "action"))
                        q.action = v;
                else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", k);
                        return call_invalid(c, c->err.field_buf,
                                            "unknown query parameter (known: name, actor, origin, "
                                            "action, since, until, limit, cursor)");
                }
        }

        sbuf_puts(&b, "{\"items\":[");
        r = engine_audit(c->api->engine, &q, audit_write_one, &pg);
        if (r < 0) {
                free(b.data);
                return r;
        }
        sbuf_puts(&b, "],\"next_cursor\":");
        if (pg.n == q.limit)
                sbuf_printf(&b, "\"%" PRId64 "\"", pg.last_id);
        else
                sbuf_puts(&b, "null");
        sbuf_puts(&b, "}");
        return call_reply_json(c, 200, &b);
}

static void token_write(struct sbuf *b, const struct token_info *t)
{
        sbuf_printf(b, "{\"id\":\"%s\",\"role\":\"%s\",\"name\":", t->id, role_to_string(t->role));
        sbuf_json_string(b, t->name);
        sbuf_puts(b, ",\"created_at\":");
        sbuf_rfc3339(b, t->created_usec);
        sbuf_puts(b, ",\"revoked_at\":");
        if (t->revoked_usec)
                sbuf_rfc3339(b, t->revoked_usec);
        else
                sbuf_puts(b, "null");
}

int tokens_list(struct call *c)
{
        struct token_info *a = NULL;
        struct sbuf b = {};
        size_t n = 0;
        int r;

        r = engine_token_list(c->api->engine, &a, &n);
        if (r < 0)
                return r;
        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                token_write(&b, &a[i]);
                sbuf_puts(&b, "}");
        }
        sbuf_puts(&b, "]}");
        free(a);
        return call_reply_json(c, 200, &b);
}

int tokens_create(struct call *c)
{
        json_t *j = NULL, *v;
        const char *key, *name = "";
        enum role role = ROLE_NONE;
        char token[TOKEN_LEN + 1], loc[64];
        struct token_info ti;
        struct sbuf b = {};
        int r;

        r = call_read_object(c, &j);
        if (r < 0)
                return r;
        json_object_foreach (j, key, v) {
                if (streq(key, "role")) {
                        role = json_is_string(v) ? role_from_string(json_string_value(v)) :
                                                   ROLE_NONE;
                        if (role == ROLE_NONE) {
                                json_decref(j);
                                return call_invalid(c, "role", "must be viewer, operator or admin");
                        }
                } else if (streq(key, "name")) {
                        if (!json_is_string(v) || strlen(json_string_value(v)) > TOKEN_NAME_MAX) {
                                json_decref(j);
                                return call_invalid(c, "name",
                                                    "must be a string of at most %d printable "
                                                    "characters",
                                                    TOKEN_NAME_MAX);
                        }
                        name = json_string_value(v);
                } else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", key);
                        json_decref(j);
                        return call_invalid(c, c->err.field_buf, "unknown field");
                }
        }
        if (role == ROLE_NONE) {
                json_decref(j);
                return call_invalid(c, "role", "is required");
        }

        r = engine_token_create(c->api->engine, role, name, c->actor, c->req->request_id, token,
                                &ti);
        json_decref(j);
        if (r == -EINVAL)
                return call_invalid(c, "name", "must be printable ASCII");
        if (r < 0)
                return r;

        token_write(&b, &ti);
        sbuf_printf(&b, ",\"token\":\"%s\"}", token);
        explicit_bzero(token, sizeof(token));
        r = call_reply_json(c, 201, &b);
        if (r < 0)
                return r;
        snprintf(loc, sizeof(loc), "/api/v1/tokens/%s", ti.id);
        (void)resp_add_header(c->resp, "Location", loc);
        (void)resp_add_header(c->resp, "Cache-Control", "no-store");
        return 0;
}

int tokens_delete(struct call *c)
{
        int r;

        r = engine_token_revoke(c->api->engine, c->param, c->actor, c->req->request_id);
        if (r == -ENOENT) {
                snprintf(c->detail, sizeof(c->detail), "no token '%.32s'", c->param);
                return r;
        }
        if (r == -EALREADY) {
                snprintf(c->detail, sizeof(c->detail), "token '%.32s' is already revoked",
                         c->param);
                return -EEXIST;
        }
        if (r < 0)
                return r;
        resp_set_body(c->resp, 204, NULL, NULL, 0);
        return 0;
}
