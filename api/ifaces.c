/* SPDX-License-Identifier: MIT */
/* /api/v1/ifaces handlers: list, create, get (JSON or iscsiadm text), replace, patch, delete. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <strings.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX     1000

DEFINE_TRIVIAL_CLEANUP_FUNC(struct iface_snap *, iface_snap_unref);

/* --- request helpers ----------------------------------------------------------------------- */

/*
 * If-Match: absent -> *ret = 0 (no condition); "*" -> the current revision; a list of strong
 * ETags -> the one equal to the current revision, or -ESTALE. Weak tags never match (RFC 9110
 * uses the strong comparison for If-Match).
 */
static int if_match_resolve(struct call *c, const char *name, uint64_t *ret)
{
        _cleanup_(iface_snap_unrefp) struct iface_snap *cur = NULL;
        int r;

        *ret = 0;
        if (!c->req->if_match)
                return 0;

        r = engine_iface_get(c->api->engine, name, &cur);
        if (r == -ENOENT)
                return -ESTALE; /* a condition on a missing resource is false */
        if (r < 0)
                return r;
        if (cur->builtin) {
                snprintf(c->detail, sizeof(c->detail),
                         "'%.64s' is a built-in iface of iscsiadm and cannot be changed", name);
                return -EPERM; /* read-only whatever the condition says */
        }

        return call_if_match(c, cur->revision, ret);
}

/* --- responses ----------------------------------------------------------------------------- */

static int set_etag(struct api_response *resp, const struct iface_snap *s)
{
        char etag[32], *p = etag + sizeof(etag);
        uint64_t v = s->revision;

        /* The revision in quotes, written backwards (snprintf was 1% of a GET's CPU). */
        *--p = 0;
        *--p = '"';
        do
                *--p = (char)('0' + v % 10);
        while (v /= 10);
        *--p = '"';
        return resp_add_header(resp, "ETag", p);
}

/* The NICs and HBAs a response checks ports against, taken once per request. */
struct port_view {
        struct nic_snapshot *nics;
        struct engine_hbas *hbas;
        struct iface_json_extra x;
        struct port_memo memo; /* the views of this inventory, by port */
};

/* many: for a list, whose records share a few ports (one record gains nothing from a memo). */
static void port_view_open(struct call *c, struct port_view *v, bool many)
{
        *v = (struct port_view){ .nics = engine_nics(c->api->engine) };
        if (engine_hbas(c->api->engine, &v->hbas) < 0)
                v->hbas = NULL;
        v->x = (struct iface_json_extra){ v->nics, v->hbas ? &v->hbas->inv : NULL };
        v->x.memo = many ? &v->memo : NULL;
}

static void port_view_close(struct port_view *v)
{
        port_memo_done(&v->memo);
        nic_snapshot_unref(v->nics);
        engine_hbas_unref(v->hbas);
}

/*
 * A record's body: the snapshot's fields (rendered once) and its port as the inventory shows it
 * now. The whole body is kept on the snapshot for the inventory's state (the generations of the
 * NIC snapshot and of the HBA scan), so that a GET of an unchanged record on an unchanged host
 * is a lookup and a copy.
 */
static int reply_record(struct call *c, int status, const struct iface_snap *s)
{
        _cleanup_(port_view_close) struct port_view v = {};
        struct iface_snap *snap = (struct iface_snap *)s;
        struct iface_body *kept;
        struct sbuf b = {};
        uint64_t key[2];
        char *body;
        size_t len;
        int r;

        port_view_open(c, &v, false);
        key[0] = v.nics ? v.nics->generation : UINT64_MAX;
        key[1] = v.hbas ? v.hbas->generation : UINT64_MAX;
        r = iface_snap_body_copy(snap, key, &body, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                v.x.invalid = s->invalid;
                iface_json_write_snap(&b, snap, &v.x);
                r = sbuf_take(&b, &body, &len);
                if (r < 0)
                        return r;
                kept = malloc(sizeof(*kept) + len);
                if (kept) { /* else no body kept this time */
                        kept->key[0] = key[0];
                        kept->key[1] = key[1];
                        kept->len = len;
                        memcpy(kept->data, body, len);
                        iface_snap_body_set(snap, kept);
                }
        }
        resp_set_body(c->resp, status, "application/json", body, len);
        return set_etag(c->resp, s);
}

/* --- cursors: the last name of a page, base64url without padding ---------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void cursor_encode(const char *name, char *out, size_t size)
{
        const unsigned char *s = (const unsigned char *)name;
        size_t n = strlen(name), o = 0;

        for (size_t i = 0; i < n && o + 5 < size; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                             (i + 2 < n ? s[i + 2] : 0);

                out[o++] = b64[v >> 18 & 63];
                out[o++] = b64[v >> 12 & 63];
                if (i + 1 < n)
                        out[o++] = b64[v >> 6 & 63];
                if (i + 2 < n)
                        out[o++] = b64[v & 63];
        }
        out[o] = 0;
}

static int cursor_decode(const char *in, char *out, size_t size)
{
        size_t n = strlen(in), o = 0;
        uint32_t acc = 0;
        int bits = 0;

        if (n == 0 || n > 96)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                const char *p = strchr(b64, in[i]);

                if (!p || !in[i])
                        return -EINVAL;
                acc = acc << 6 | (uint32_t)(p - b64);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (o + 1 >= size)
                                return -EINVAL;
                        out[o++] = (char)(acc >> bits & 0xff);
                }
        }
        out[o] = 0;
        return strlen(out) == o ? 0 : -EINVAL;
}

/* --- handlers ------------------------------------------------------------------------------ */

int ifaces_list(struct call *c)
{
        _cleanup_(port_view_close) struct port_view pv = {};
        struct engine_list_query q = { .limit = LIST_LIMIT_DEFAULT };
        struct iface_snap **items = NULL;
        char after[IFACE_NAME_MAX + 8], cursor[128];
        struct sbuf b = {};
        size_t n = 0;
        bool more = false;
        char *body;
        size_t len;
        int r;

        for (size_t i = 0; i < c->req->n_args; i++) {
                const char *k = c->req->args[i].key, *v = c->req->args[i].value;

                if (!v)
                        v = "";
                if (streq(k, "limit")) {
                        char *end;
                        unsigned long l;

                        errno = 0;
                        l = strtoul(v, &end, 10);
                        /* strtoul would skip blanks and take a sign: plain digits only. */
                        if (*v < '0' || *v > '9' || *end || errno || l < 1 || l > LIST_LIMIT_MAX)
                                return call_invalid(c, "limit", "must be an integer from 1 to %d",
                                                    LIST_LIMIT_MAX);
                        q.limit = l;
                } else if (streq(k, "cursor")) {
                        if (cursor_decode(v, after, sizeof(after)) < 0 ||
                            !engine_list_cursor_is_valid(after))
                                return call_invalid(
                                        c, "cursor",
                                        "is not a cursor returned by this API (next_cursor)");
                        q.after = after;
                } else if (streq(k, "transport_name"))
                        q.transport_name = v;
                else if (streq(k, "net_ifacename"))
                        q.net_ifacename = v;
                else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s", k);
                        return call_invalid(c, c->err.field_buf,
                                            "unknown query parameter (known: limit, cursor, "
                                            "transport_name, net_ifacename)");
                }
        }

        r = engine_iface_list(c->api->engine, &q, &items, &n, &more);
        if (r < 0)
                return r;
        port_view_open(c, &pv, true);

        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                pv.x.invalid = items[i]->invalid;
                iface_json_write_snap(&b, items[i], &pv.x);
        }
        sbuf_puts(&b, "],\"next_cursor\":");
        if (more && n > 0) {
                cursor_encode(items[n - 1]->rec.name, cursor, sizeof(cursor));
                sbuf_json_string(&b, cursor);
        } else
                sbuf_puts(&b, "null");
        sbuf_puts(&b, "}");

        for (size_t i = 0; i < n; i++)
                iface_snap_unref(items[i]);
        free(items);

        r = sbuf_take(&b, &body, &len);
        if (r < 0)
                return r;
        resp_set_body(c->resp, 200, "application/json", body, len);
        return 0;
}

/* What a write that failed below the API tells the client: what happened, and that nothing
 * changed (the engine's write protocol guarantees it). -EBADFD and -EUCLEAN carry the engine's
 * reason, or api/errors.c's default detail. */
static void write_failure_detail(struct call *c, int r)
{
        switch (r) {
        case -EROFS:
                snprintf(c->detail, sizeof(c->detail),
                         "the iscsi db root or the database is on a read-only file system: nothing "
                         "was changed");
                break;
        case -ENOSPC:
                snprintf(c->detail, sizeof(c->detail),
                         "no space left on the device of the iscsi db root or the database: "
                         "nothing was changed");
                break;
        case -ETIMEDOUT:
                snprintf(c->detail, sizeof(c->detail),
                         "iscsiadm holds its lock (lock.write in the lock directory) longer than "
                         "the lock timeout: nothing was changed; retry later");
                break;
        case -EACCES:
                snprintf(c->detail, sizeof(c->detail),
                         "permission denied on the iscsi db root or the database: nothing was "
                         "changed; see the daemon's log");
                break;
        case -EISDIR:
                snprintf(c->detail, sizeof(c->detail),
                         "a directory stands where the record's file belongs: nothing was changed");
                break;
        case -EIO:
                snprintf(c->detail, sizeof(c->detail),
                         "the iscsi db root or the database failed with an I/O error: nothing "
                         "was changed; see GET /api/v1/health and the daemon's log");
                break;
        default:
                break;
        }
}

int ifaces_create(struct call *c)
{
        _cleanup_(iface_snap_unrefp) struct iface_snap *snap = NULL;
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        json_t *j = NULL;
        char location[128];
        int r;

        r = call_read_json(c, "application/json", &j);
        if (r < 0)
                return r;
        r = iface_json_to_rec(j, NULL, &rec, &c->err);
        json_decref(j);
        if (r < 0)
                return r;

        r = engine_iface_create(c->api->engine,
                                &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                                &rec, &snap, &c->err);
        if (r == -EEXIST)
                snprintf(c->detail, sizeof(c->detail), "iface '%s' already exists", rec.name);
        write_failure_detail(c, r);
        if (r < 0)
                return r;

        r = reply_record(c, 201, snap);
        if (r < 0)
                return r;
        snprintf(location, sizeof(location), "/api/v1/ifaces/%s", snap->rec.name);
        return resp_add_header(c->resp, "Location", location);
}

/* Does the client prefer text/plain over JSON? (A small Accept reading: enough for curl.) */
static bool wants_text(const char *accept)
{
        const char *t, *j;

        if (!accept)
                return false;
        t = strcasestr(accept, "text/plain");
        j = strcasestr(accept, "application/json");
        return t && (!j || t < j);
}

int ifaces_get(struct call *c)
{
        _cleanup_(iface_snap_unrefp) struct iface_snap *snap = NULL;
        char *body;
        size_t len;
        int r;

        r = engine_iface_get(c->api->engine, c->param, &snap);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no iface named '%.64s'", c->param);
        if (r < 0)
                return r;

        if (!wants_text(c->req->accept))
                return reply_record(c, 200, snap);

        r = iface_render_show(&snap->rec, &body, &len);
        if (r < 0)
                return r;
        resp_set_body(c->resp, 200, "text/plain; charset=us-ascii", body, len);
        return set_etag(c->resp, snap);
}

struct edit_body {
        const json_t *json;
        bool replace;
};

static int edit_apply(const struct iface_rec *cur, struct iface_rec *next, struct iface_error *err,
                      void *userdata)
{
        const struct edit_body *eb = userdata;
        struct iface_rec fresh = {};
        int r;

        if (!eb->replace)
                return iface_json_merge_patch(eb->json, next, err);

        r = iface_json_to_rec(eb->json, cur->name, &fresh, err);
        if (r < 0)
                return r;
        iface_rec_done(next);
        *next = fresh;
        return 0;
}

static int update(struct call *c, bool replace)
{
        _cleanup_(iface_snap_unrefp) struct iface_snap *snap = NULL;
        uint64_t if_match;
        json_t *j = NULL;
        int r;

        r = call_read_json(c, replace ? "application/json" : "application/merge-patch+json", &j);
        if (r < 0)
                return r;
        r = if_match_resolve(c, c->param, &if_match);
        if (r >= 0)
                r = engine_iface_update(
                        c->api->engine,
                        &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                        c->param, if_match, edit_apply, &(struct edit_body){ j, replace }, &snap,
                        &c->err);
        json_decref(j);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no iface named '%.64s'", c->param);
        if (r == -ESTALE)
                snprintf(c->detail, sizeof(c->detail),
                         "If-Match does not match the current revision of '%.64s'", c->param);
        write_failure_detail(c, r);
        if (r < 0)
                return r;
        return reply_record(c, 200, snap);
}

int ifaces_replace(struct call *c)
{
        return update(c, true);
}

int ifaces_patch(struct call *c)
{
        return update(c, false);
}

int ifaces_delete(struct call *c)
{
        uint64_t if_match;
        bool cascade = false;
        int r;

        for (size_t i = 0; i < c->req->n_args; i++) {
                const char *k = c->req->args[i].key, *v = c->req->args[i].value ?: "";

                if (!streq(k, "cascade")) {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s", k);
                        return call_invalid(c, c->err.field_buf,
                                            "unknown query parameter (known: cascade)");
                }
                if (!streq(v, "true") && !streq(v, "false"))
                        return call_invalid(c, "cascade", "must be true or false");
                cascade = streq(v, "true");
        }
        r = if_match_resolve(c, c->param, &if_match);
        if (r >= 0)
                r = engine_iface_delete_cascade(
                        c->api->engine,
                        &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                        c->param, if_match, cascade, &c->err);
        if (r == -ENOTEMPTY)
                (void)bindings_problem_of_iface(c, c->param);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no iface named '%.64s'", c->param);
        if (r == -EPERM)
                snprintf(c->detail, sizeof(c->detail),
                         "'%.64s' is a built-in iface of iscsiadm and cannot be deleted", c->param);
        write_failure_detail(c, r);
        if (r == -ESTALE)
                snprintf(c->detail, sizeof(c->detail),
                         "If-Match does not match the current revision of '%.64s'", c->param);
        if (r < 0)
                return r;
        resp_set_body(c->resp, 204, NULL, NULL, 0);
        return 0;
}

/*
 * POST /api/v1/admin/restore-files: write back, from the database, the file of every record
 * that has none (after ifaces/ was replaced or emptied under the daemon). Nothing standing at a
 * name is replaced.
 */
int ifaces_restore_files(struct call *c)
{
        struct sbuf b = {};
        size_t n = 0;
        int r;

        if (c->req->body_len > 0)
                return call_invalid(c, "body", "must be empty");
        r = engine_restore_files(
                c->api->engine, &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                &n, &c->err);
        write_failure_detail(c, r);
        if (r < 0)
                return r;
        sbuf_printf(&b, "{\"restored\":%zu}", n);
        return call_reply_json(c, 200, &b);
}
