/* SPDX-License-Identifier: MIT */
/* /api/v1/bindings handlers (docs/bindings.md): list, create, get, patch, delete. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX     1000

/* The node settings users tune (docs/bindings.md), with their ranges; named by their key. */
static const char *const digests[] = { "None", "CRC32C", "None,CRC32C", "CRC32C,None", NULL };
static const struct setting {
        int f;                   /* NODE_F_*: the key is node_fields[f].key */
        long min, max;           /* ints */
        const char *const *opts; /* enums: the accepted values */
} settings[] = {
        { NODE_F_REPLACEMENT_TIMEOUT, 0, INT_MAX, NULL },
        { NODE_F_CONN_LOGIN_TIMEOUT, 1, INT_MAX, NULL },
        { NODE_F_CONN_LOGOUT_TIMEOUT, 0, INT_MAX, NULL },
        { NODE_F_INITIAL_LOGIN_RETRY_MAX, 0, INT_MAX, NULL },
        { NODE_F_CONN_NOOP_OUT_INTERVAL, 0, INT_MAX, NULL },
        { NODE_F_CONN_NOOP_OUT_TIMEOUT, 0, INT_MAX, NULL },
        { NODE_F_ABORT_TIMEOUT, 0, INT_MAX, NULL },
        { NODE_F_LU_RESET_TIMEOUT, 0, INT_MAX, NULL },
        { NODE_F_TGT_RESET_TIMEOUT, 0, INT_MAX, NULL },
        { NODE_F_QUEUE_DEPTH, 1, 1024, NULL },
        { NODE_F_CMDS_MAX, 2, 2048, NULL },
        { NODE_F_NR_SESSIONS, 1, 256, NULL },
        { NODE_F_SCAN, 0, 0, (const char *const[]){ "auto", "manual", NULL } },
        { NODE_F_CONN_HEADER_DIGEST, 0, 0, digests },
        { NODE_F_CONN_DATA_DIGEST, 0, 0, digests },
};

static const char *const startups[] = { "manual", "automatic", "onboot", NULL };

static bool in_opts(const char *const *opts, const char *v)
{
        for (; *opts; opts++)
                if (streq(*opts, v))
                        return true;
        return false;
}

static int slot_set(char **slot, const char *v)
{
        char *n = NULL;

        if (v && !isempty(v) && !(n = strdup(v)))
                return -ENOMEM;
        free(*slot);
        *slot = n;
        return 0;
}

static int slot_set_int(char **slot, long v)
{
        char buf[24];

        snprintf(buf, sizeof(buf), "%ld", v);
        return slot_set(slot, buf);
}

static int err_set(struct iface_error *err, const char *field, const char *fmt, const char *v)
{
        snprintf(err->field_buf, sizeof(err->field_buf), "%.71s", field);
        err->field = err->field_buf;
        snprintf(err->reason, sizeof(err->reason), fmt, v);
        return -EINVAL;
}

/* Apply an "auth" object (create or merge patch) to rec. */
static int apply_auth(const json_t *a, struct node_rec *rec, struct iface_error *err)
{
        static const struct {
                const char *name;
                int f;
                bool secret;
        } members[] = {
                { "username", NODE_F_USERNAME, false },
                { "password", NODE_F_PASSWORD, true },
                { "username_in", NODE_F_USERNAME_IN, false },
                { "password_in", NODE_F_PASSWORD_IN, true },
        };
        const char *k;
        json_t *v;
        int r;

        if (!json_is_object(a))
                return err_set(err, "auth", "must be an object%s", "");
        json_object_foreach ((json_t *)a, k, v) {
                char field[64];
                size_t i;

                snprintf(field, sizeof(field), "auth.%.50s", k);
                if (streq(k, "method")) {
                        if (!json_is_string(v) || (!streq(json_string_value(v), "None") &&
                                                   !streq(json_string_value(v), "CHAP")))
                                return err_set(err, field, "must be \"None\" or \"CHAP\"%s", "");
                        r = slot_set(&rec->val[NODE_F_AUTHMETHOD], json_string_value(v));
                        if (r < 0)
                                return r;
                        continue;
                }
                for (i = 0; i < ELEMENTSOF(members); i++)
                        if (streq(k, members[i].name))
                                break;
                if (i == ELEMENTSOF(members))
                        return err_set(err, field,
                                       "unknown member (known: method, username, password, "
                                       "username_in, password_in)%s",
                                       "");
                if (json_is_null(v)) {
                        r = slot_set(&rec->val[members[i].f], NULL);
                } else if (!json_is_string(v) || !call_chap_value_ok(json_string_value(v)))
                        return err_set(err, field,
                                       "must be 1..255 printable ASCII characters without "
                                       "blanks, or null to clear it%s",
                                       "");
                else
                        r = slot_set(&rec->val[members[i].f], json_string_value(v));
                if (r < 0)
                        return r;
        }
        /* A method of CHAP needs a name and a secret; setting them without a method means CHAP. */
        if (!json_object_get(a, "method") && rec->val[NODE_F_USERNAME] &&
            rec->val[NODE_F_PASSWORD]) {
                r = slot_set(&rec->val[NODE_F_AUTHMETHOD], "CHAP");
                if (r < 0)
                        return r;
        }
        if (rec->val[NODE_F_AUTHMETHOD] && streq(rec->val[NODE_F_AUTHMETHOD], "CHAP") &&
            (!rec->val[NODE_F_USERNAME] || !rec->val[NODE_F_PASSWORD]))
                return err_set(err, "auth", "CHAP needs a username and a password%s", "");
        if (!!rec->val[NODE_F_USERNAME_IN] != !!rec->val[NODE_F_PASSWORD_IN])
                return err_set(err, "auth", "mutual CHAP needs both username_in and password_in%s",
                               "");
        return 0;
}

static int apply_settings(const json_t *o, struct node_rec *rec, struct iface_error *err)
{
        const char *k;
        json_t *v;
        int r;

        if (!json_is_object(o))
                return err_set(err, "settings", "must be an object%s", "");
        json_object_foreach ((json_t *)o, k, v) {
                const struct setting *s = NULL;
                char field[96];
                int f;

                snprintf(field, sizeof(field), "settings.%.60s", k);
                for (size_t i = 0; i < ELEMENTSOF(settings); i++)
                        if (streq(node_fields[settings[i].f].key, k))
                                s = &settings[i];
                if (!s)
                        return err_set(err, field,
                                       "not a setting of a binding (docs/bindings.md lists "
                                       "them)%s",
                                       "");
                f = s->f;
                if (s->opts) {
                        if (!json_is_string(v) || !in_opts(s->opts, json_string_value(v)))
                                return err_set(err, field, "is not one of the accepted values%s",
                                               "");
                        r = slot_set(&rec->val[f], json_string_value(v));
                } else {
                        json_int_t n;

                        if (!json_is_integer(v))
                                return err_set(err, field, "must be an integer%s", "");
                        n = json_integer_value(v);
                        if (n < s->min || n > s->max) {
                                snprintf(err->field_buf, sizeof(err->field_buf), "%.71s", field);
                                err->field = err->field_buf;
                                snprintf(err->reason, sizeof(err->reason),
                                         "must be from %ld to %ld", s->min, s->max);
                                return -EINVAL;
                        }
                        r = slot_set_int(&rec->val[f], (long)n);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

struct edit {
        const json_t *body;
        bool create;
};

static int edit_apply(struct node_rec *rec, struct iface_error *err, void *userdata)
{
        const struct edit *ed = userdata;
        const char *k;
        json_t *v;
        int r = 0;

        json_object_foreach ((json_t *)ed->body, k, v) {
                if (streq(k, "startup")) {
                        if (!json_is_string(v) || !in_opts(startups, json_string_value(v)))
                                return err_set(err, "startup",
                                               "must be \"manual\", \"automatic\" or \"onboot\"%s",
                                               "");
                        r = slot_set(&rec->val[NODE_F_STARTUP], json_string_value(v));
                } else if (streq(k, "auth"))
                        r = apply_auth(v, rec, err);
                else if (streq(k, "settings"))
                        r = apply_settings(v, rec, err);
                else if (ed->create && (streq(k, "target") || streq(k, "portal") ||
                                        streq(k, "tpgt") || streq(k, "iface")))
                        continue;
                else if (streq(k, "target") || streq(k, "portal") || streq(k, "tpgt") ||
                         streq(k, "iface") || streq(k, "id") || streq(k, "address") ||
                         streq(k, "port"))
                        return err_set(err, k,
                                       "cannot be changed: it names the binding (delete it and "
                                       "create another)%s",
                                       "");
                else
                        return err_set(err, k, "unknown member (known: startup, auth, settings%s)",
                                       ed->create ? ", target, portal, tpgt, iface" : "");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- the resource -------------------------------------------------------------------------- */

static void put_setting(struct sbuf *b, const struct node_rec *rec, int f)
{
        const char *v = rec->val[f];

        sbuf_json_string(b, node_fields[f].key);
        sbuf_puts(b, ":");
        if (v && node_fields[f].type == NODE_FT_INT)
                sbuf_puts(b, v);
        else if (v)
                sbuf_json_string(b, v);
        else
                sbuf_puts(b, "null");
}

static void portal_write(struct sbuf *b, const char *address, unsigned port)
{
        char buf[64];

        if (strchr(address, ':'))
                snprintf(buf, sizeof(buf), "[%s]:%u", address, port);
        else
                snprintf(buf, sizeof(buf), "%s:%u", address, port);
        sbuf_json_string(b, buf);
}

static void binding_json_write(struct sbuf *b, const struct binding_snap *s)
{
        const struct node_rec *r = &s->rec;
        const char *disc = r->val[NODE_F_DISC_TYPE];

        sbuf_puts(b, "{\"id\":");
        sbuf_json_string(b, s->id);
        sbuf_puts(b, ",\"target\":");
        sbuf_json_string(b, s->key.target);
        sbuf_puts(b, ",\"portal\":");
        portal_write(b, s->key.address, s->key.port);
        sbuf_puts(b, ",\"address\":");
        sbuf_json_string(b, s->key.address);
        sbuf_printf(b, ",\"port\":%u,\"tpgt\":%d,\"iface\":", s->key.port, s->key.tpgt);
        sbuf_json_string(b, s->key.iface);
        sbuf_puts(b, ",\"startup\":");
        sbuf_json_string(b, r->val[NODE_F_STARTUP] ?: "manual");
        sbuf_puts(b, ",\"auth\":{\"method\":");
        sbuf_json_string(b, r->val[NODE_F_AUTHMETHOD] ?: "None");
        sbuf_puts(b, ",\"username\":");
        sbuf_json_string(b, r->val[NODE_F_USERNAME] ?: "");
        sbuf_printf(b, ",\"password_set\":%s,\"username_in\":",
                    r->val[NODE_F_PASSWORD] ? "true" : "false");
        sbuf_json_string(b, r->val[NODE_F_USERNAME_IN] ?: "");
        sbuf_printf(b, ",\"password_in_set\":%s},\"settings\":{",
                    r->val[NODE_F_PASSWORD_IN] ? "true" : "false");
        for (size_t i = 0; i < ELEMENTSOF(settings); i++) {
                if (i)
                        sbuf_puts(b, ",");
                put_setting(b, r, settings[i].f);
        }
        sbuf_puts(b, "},\"discovery\":{\"type\":");
        sbuf_json_string(b, disc ?: "static");
        if (disc && streq(disc, "send_targets") && r->val[NODE_F_DISC_ADDRESS]) {
                sbuf_puts(b, ",\"address\":");
                sbuf_json_string(b, r->val[NODE_F_DISC_ADDRESS]);
                sbuf_printf(b, ",\"port\":%s", r->val[NODE_F_DISC_PORT] ?: "0");
        }
        sbuf_puts(b, "},\"layout\":");
        sbuf_json_string(b, s->old_style ? "old-single-file" : "portal-dir");
        sbuf_puts(b, ",\"path\":");
        sbuf_json_string(b, s->path);
        sbuf_printf(b, ",\"revision\":%" PRIu64 ",\"origin\":", s->revision);
        sbuf_json_string(b, s->origin);
        sbuf_puts(b, ",\"created_at\":");
        sbuf_rfc3339(b, s->created_usec);
        sbuf_puts(b, ",\"updated_at\":");
        sbuf_rfc3339(b, s->updated_usec);
        sbuf_puts(b, "}");
}

static int reply_binding(struct call *c, int status, const struct binding_snap *s)
{
        struct sbuf b = {};
        char etag[32];
        int r;

        binding_json_write(&b, s);
        r = call_reply_json(c, status, &b);
        if (r < 0)
                return r;
        snprintf(etag, sizeof(etag), "\"%" PRIu64 "\"", s->revision);
        return resp_add_header(c->resp, "ETag", etag);
}

/* "ip", "ip:port", "[ip6]:port": the address as text and the port (3260 when left out). */
static int parse_portal(struct call *c, const char *field, const char *s, char *addr, size_t size,
                        uint16_t *port)
{
        struct sockaddr_storage ss;
        const char *why = NULL;

        if (check_parse_portal(s, &ss, &why) < 0)
                return call_invalid(c, field, "%s", why);
        if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *in = (const void *)&ss;

                inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)size);
                *port = ntohs(in->sin_port);
        } else {
                const struct sockaddr_in6 *in6 = (const void *)&ss;

                inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)size);
                *port = ntohs(in6->sin6_port);
        }
        if (*port == 0)
                return call_invalid(c, field, "the port must be 1..65535");
        return 0;
}

/* The binding's key from a POST body. */
static int key_from_body(struct call *c, const json_t *j, struct binding_key *k)
{
        const json_t *t = json_object_get(j, "target"), *p = json_object_get(j, "portal");
        const json_t *g = json_object_get(j, "tpgt"), *i = json_object_get(j, "iface");
        int r;

        *k = (struct binding_key){};
        if (!json_is_string(t))
                return call_invalid(c, "target", "required: the target's iSCSI name");
        r = iscsi_name_validate(json_string_value(t), "target", &c->err);
        if (r < 0)
                return r;
        snprintf(k->target, sizeof(k->target), "%s", json_string_value(t));
        if (!json_is_string(p))
                return call_invalid(c, "portal", "required: \"ip:port\" or \"[ipv6]:port\"");
        r = parse_portal(c, "portal", json_string_value(p), k->address, sizeof(k->address),
                         &k->port);
        if (r < 0)
                return r;
        if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 65535)
                return call_invalid(c, "tpgt",
                                    "required: the target portal group tag, an integer from 0 "
                                    "to 65535 (bindings are always written with it)");
        k->tpgt = (int)json_integer_value(g);
        if (!json_is_string(i))
                return call_invalid(c, "iface", "required: the name of an iface");
        if (!iface_name_is_builtin(json_string_value(i))) {
                r = iface_name_validate(json_string_value(i), &c->err);
                if (r < 0) {
                        c->err.field = "iface";
                        return r;
                }
        }
        snprintf(k->iface, sizeof(k->iface), "%s", json_string_value(i));
        return 0;
}

static void binding_failure_detail(struct call *c, int r, const char *id)
{
        if (r == -ENOENT && !c->err.reason[0])
                snprintf(c->detail, sizeof(c->detail), "no binding '%.200s'", id);
        else if (r == -ESTALE)
                snprintf(c->detail, sizeof(c->detail),
                         "If-Match does not match the current revision of '%.200s'", id);
        else if (r == -ETIMEDOUT && !c->err.reason[0])
                snprintf(c->detail, sizeof(c->detail),
                         "iscsiadm holds its lock longer than the lock timeout: nothing was "
                         "changed; retry later");
}

/* If-Match on the binding id: as ifaces (call_if_match); a missing binding fails it. */
static int if_match_of(struct call *c, const char *id, uint64_t *ret)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *cur = NULL;

        *ret = 0;
        if (!c->req->if_match)
                return 0;
        if (engine_binding_get(c->api->engine, id, &cur) < 0)
                return -ESTALE;
        return call_if_match(c, cur->revision, ret);
}

/* --- handlers ------------------------------------------------------------------------------ */

int bindings_list(struct call *c)
{
        struct engine_binding_query q = { .limit = LIST_LIMIT_DEFAULT };
        struct binding_snap **items = NULL;
        char addr[64];
        uint16_t port = 0;
        struct sbuf b = {};
        size_t n = 0;
        bool more = false;
        int r;

        for (size_t i = 0; i < c->req->n_args; i++) {
                const char *k = c->req->args[i].key, *v = c->req->args[i].value ?: "";

                if (streq(k, "limit")) {
                        char *end;
                        unsigned long l;

                        errno = 0;
                        l = strtoul(v, &end, 10);
                        if (*v < '0' || *v > '9' || *end || errno || l < 1 || l > LIST_LIMIT_MAX)
                                return call_invalid(c, "limit", "must be an integer from 1 to %d",
                                                    LIST_LIMIT_MAX);
                        q.limit = l;
                } else if (streq(k, "after")) {
                        struct binding_key key;

                        if (binding_id_parse(v, &key, &c->err) < 0) {
                                c->err.field = "after";
                                return -EINVAL;
                        }
                        q.after = v;
                } else if (streq(k, "target")) {
                        r = iscsi_name_validate(v, "target", &c->err);
                        if (r < 0)
                                return r;
                        q.target = v;
                } else if (streq(k, "portal")) {
                        r = parse_portal(c, "portal", v, addr, sizeof(addr), &port);
                        if (r < 0)
                                return r;
                        q.address = addr;
                        q.port = port;
                } else if (streq(k, "iface"))
                        q.iface = v;
                else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s", k);
                        return call_invalid(c, c->err.field_buf,
                                            "unknown query parameter (known: limit, after, target, "
                                            "portal, iface)");
                }
        }
        r = engine_binding_list(c->api->engine, &q, &items, &n, &more);
        if (r < 0)
                return r;
        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                binding_json_write(&b, items[i]);
        }
        sbuf_puts(&b, "],\"next\":");
        if (more && n > 0)
                sbuf_json_string(&b, items[n - 1]->id);
        else
                sbuf_puts(&b, "null");
        sbuf_puts(&b, "}");
        for (size_t i = 0; i < n; i++)
                binding_snap_unref(items[i]);
        free(items);
        return call_reply_json(c, 200, &b);
}

int bindings_create(struct call *c)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *snap = NULL;
        struct binding_key key;
        char location[BINDING_ID_MAX * 3 + 32];
        json_t *j = NULL;
        int r;

        r = call_read_object(c, &j);
        if (r < 0)
                return r;
        r = key_from_body(c, j, &key);
        if (r >= 0)
                r = engine_binding_create(
                        c->api->engine,
                        &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec }, &key,
                        edit_apply, &(struct edit){ j, true }, &snap, &c->err);
        json_decref(j);
        if (r == -ENOENT && !c->err.field)
                c->err.field = "iface";
        binding_failure_detail(c, r, "");
        if (r < 0)
                return r;
        r = reply_binding(c, 201, snap);
        if (r < 0)
                return r;
        snprintf(location, sizeof(location), "/api/v1/bindings/%s", snap->id);
        return resp_add_header(c->resp, "Location", location);
}

/* The {id} of the path: a valid id, or 404 (no binding can have another). */
static int id_of(struct call *c)
{
        struct binding_key key;
        struct iface_error err = {};

        if (binding_id_parse(c->param, &key, &err) < 0) {
                snprintf(c->detail, sizeof(c->detail), "no binding can have this id: %.200s",
                         err.reason);
                return -ENOENT;
        }
        return 0;
}

int bindings_get(struct call *c)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *snap = NULL;
        int r;

        r = id_of(c);
        if (r < 0)
                return r;
        r = engine_binding_get(c->api->engine, c->param, &snap);
        binding_failure_detail(c, r, c->param);
        if (r < 0)
                return r;
        return reply_binding(c, 200, snap);
}

int bindings_patch(struct call *c)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *snap = NULL;
        uint64_t if_match = 0;
        json_t *j = NULL;
        int r;

        r = id_of(c);
        if (r < 0)
                return r;
        r = call_read_json(c, "application/merge-patch+json", &j);
        if (r < 0)
                return r;
        if (!json_is_object(j)) {
                json_decref(j);
                return call_invalid(c, "body", "must be a JSON object (a merge patch)");
        }
        r = if_match_of(c, c->param, &if_match);
        if (r >= 0)
                r = engine_binding_update(
                        c->api->engine,
                        &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                        c->param, if_match, edit_apply, &(struct edit){ j, false }, &snap, &c->err);
        json_decref(j);
        binding_failure_detail(c, r, c->param);
        if (r < 0)
                return r;
        return reply_binding(c, 200, snap);
}

int bindings_delete(struct call *c)
{
        uint64_t if_match = 0;
        int r;

        r = id_of(c);
        if (r < 0)
                return r;
        if (c->req->body_len > 0)
                return call_invalid(c, "body", "must be empty");
        r = if_match_of(c, c->param, &if_match);
        if (r >= 0)
                r = engine_binding_delete(
                        c->api->engine,
                        &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                        c->param, if_match, &c->err);
        binding_failure_detail(c, r, c->param);
        if (r < 0)
                return r;
        resp_set_body(c->resp, 204, NULL, NULL, 0);
        return 0;
}

/* The "bindings" member of an iface delete's 409: the ids, as JSON. */
int bindings_problem_of_iface(struct call *c, const char *iface)
{
        char **ids = NULL;
        size_t n = 0;
        struct sbuf b = {};
        char *body;
        size_t len;
        int r;

        r = engine_iface_bindings(c->api->engine, iface, &ids, &n);
        if (r < 0)
                return r;
        sbuf_puts(&b, "\"bindings\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                sbuf_json_string(&b, ids[i]);
                free(ids[i]);
        }
        free(ids);
        sbuf_puts(&b, "]");
        r = sbuf_take(&b, &body, &len);
        if (r < 0)
                return r;
        free(c->problem_extra);
        c->problem_extra = body;
        return 0;
}
