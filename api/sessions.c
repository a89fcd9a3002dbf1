/* SPDX-License-Identifier: MIT */
/*
 * /api/v1/sessions and /api/v1/logins (docs/sessions.md): log in (one binding, waiting for its
 * devices without holding a thread, or a batch as an operation), list and show sessions, log
 * out.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

#define SESSIONS_TIMEOUT_WHAT "an integer from 1 to 600000"

/* --- the typed failures -------------------------------------------------------------------- */

static const struct {
        int status;
        const char *title;
} login_errors[] = {
        [LOGIN_ERR_NONE] = { 200, "" },
        [LOGIN_ERR_NOT_FOUND] = { 404, "Not found" },
        [LOGIN_ERR_ISCSID] = { 503, "iscsid is not available" },
        [LOGIN_ERR_AUTH] = { 422, "The target refused the CHAP credentials" },
        [LOGIN_ERR_REFUSED] = { 422, "The target refused the login" },
        [LOGIN_ERR_TIMEOUT] = { 504, "The login did not finish in time" },
        [LOGIN_ERR_FAILED] = { 502, "The login failed" },
        [LOGIN_ERR_TRANSPORT] = { 503, "The iSCSI transport is not available" },
        [LOGIN_ERR_BUSY] = { 503, "iscsid is busy" },
        [LOGIN_ERR_IN_USE] = { 409, "A device of the session is in use" },
        [LOGIN_ERR_CANCELLED] = { 503, "Cancelled" },
        [LOGIN_ERR_INTERNAL] = { 500, "Internal error" },
};

static int error_status(enum login_error e)
{
        return (unsigned)e < ELEMENTSOF(login_errors) ? login_errors[e].status : 500;
}

static void write_uses(struct sbuf *b, const struct login_item *it)
{
        sbuf_puts(b, "\"uses\":[");
        for (size_t i = 0; i < it->n_uses; i++) {
                const struct session_use *u = &it->uses[i];

                sbuf_printf(b, "%s{\"lun\":%" PRIu64 ",\"device\":", i ? "," : "", u->lun);
                sbuf_json_string(b, u->device);
                sbuf_puts(b, ",\"kind\":");
                sbuf_json_string(b, session_use_kind_to_string(u->kind));
                sbuf_puts(b, ",\"what\":");
                sbuf_json_string(b, u->what);
                sbuf_puts(b, "}");
        }
        sbuf_puts(b, "]");
}

/* The problem answer of a failed item. */
static void item_problem(const struct login_item *it, const char *request_id,
                         struct api_response *resp)
{
        struct sbuf x = {};
        _cleanup_free_ char *extra = NULL;
        size_t len;
        int status = error_status(it->error);

        sbuf_puts(&x, "\"binding\":");
        sbuf_json_string(&x, it->binding);
        if (it->sid)
                sbuf_printf(&x, ",\"sid\":%u", it->sid);
        if (it->iscsiadm_exit >= 0)
                sbuf_printf(&x, ",\"iscsiadm_exit\":%d", it->iscsiadm_exit);
        if (it->output) {
                sbuf_puts(&x, ",\"output\":");
                sbuf_json_string(&x, it->output);
        }
        if (it->error == LOGIN_ERR_IN_USE) {
                sbuf_puts(&x, ",");
                write_uses(&x, it);
        }
        if (sbuf_take(&x, &extra, &len) < 0) {
                errors_answer(resp, -ENOMEM, "out of memory", NULL, request_id);
                return;
        }
        errors_problem_typed(resp, status, login_error_to_string(it->error),
                             login_errors[it->error].title, it->detail, request_id, extra);
        if (it->error == LOGIN_ERR_BUSY || it->error == LOGIN_ERR_ISCSID)
                (void)resp_add_header(resp, "Retry-After",
                                      it->error == LOGIN_ERR_ISCSID ? "5" : "1");
}

/* --- a session ----------------------------------------------------------------------------- */

static void write_int_or_null(struct sbuf *b, long long v)
{
        if (v < 0)
                sbuf_puts(b, "null");
        else
                sbuf_printf(b, "%lld", v);
}

/* key (with its leading comma and colon), then the value: "" and negative numbers are null. */
static void put_str(struct sbuf *b, const char *key, const char *v)
{
        sbuf_puts(b, key);
        sbuf_json_string_or_null(b, v && v[0] ? v : NULL);
}

static void put_int(struct sbuf *b, const char *key, long long v)
{
        sbuf_puts(b, key);
        write_int_or_null(b, v);
}

static void put_u64(struct sbuf *b, const char *key, uint64_t v, bool known)
{
        sbuf_puts(b, key);
        if (known && v != SESSION_UNKNOWN_U64)
                sbuf_printf(b, "%" PRIu64, v);
        else
                sbuf_puts(b, "null");
}

static void put_bool(struct sbuf *b, const char *key, int v)
{
        sbuf_puts(b, key);
        sbuf_puts(b, v < 0 ? "null" : v ? "true" : "false");
}

static void write_recorded(struct sbuf *b, const struct engine_session *s, int f)
{
        const char *v = s->binding ? s->binding->rec.val[f] : NULL;
        long long x;
        char *end;

        if (!v) {
                sbuf_puts(b, "null");
                return;
        }
        x = strtoll(v, &end, 10);
        if (*end || end == v)
                sbuf_puts(b, "null");
        else
                sbuf_printf(b, "%lld", x);
}

static void write_timeout(struct sbuf *b, const char *name, long long live,
                          const struct engine_session *s, int f, bool first)
{
        sbuf_printf(b, "%s\"%s\":{\"live\":", first ? "" : ",", name);
        write_int_or_null(b, live);
        sbuf_puts(b, ",\"recorded\":");
        write_recorded(b, s, f);
        sbuf_puts(b, "}");
}

static void write_holders(struct sbuf *b, const struct session_lun *l)
{
        sbuf_puts(b, ",\"holders\":[");
        for (size_t i = 0; i < l->n_holders; i++) {
                const struct session_holder *h = &l->holders[i];

                put_str(b, i ? ",{\"name\":" : "{\"name\":", h->name);
                put_str(b, ",\"kind\":", session_holder_kind_to_string(h->kind));
                put_str(b, ",\"of\":", h->of);
                if (h->kind == SESSION_HOLDER_DM) {
                        sbuf_puts(b, ",\"dm_name\":");
                        sbuf_json_string(b, h->dm_name);
                        sbuf_puts(b, ",\"dm_uuid\":");
                        sbuf_json_string(b, h->dm_uuid);
                }
                sbuf_puts(b, "}");
        }
        sbuf_puts(b, "]");
}

/* One LUN: what the kernel shows of it (l, NULL when it shows nothing) and its readiness. */
static void write_lun(struct sbuf *b, const struct session_detail *d, const struct session_lun *l,
                      const struct login_lun_ready *lr)
{
        static const struct session_lun none = { .type = -1,
                                                 .ioerr_cnt = SESSION_UNKNOWN_U64,
                                                 .iotmo_cnt = SESSION_UNKNOWN_U64 };
        const struct session_lun *x = l ?: &none;

        sbuf_printf(b, "{\"lun\":%" PRIu64, lr->lun);
        put_str(b, ",\"lun_sam\":", lr->lun_sam);
        put_str(b, ",\"hctl\":", x->hctl);
        put_int(b, ",\"type\":", x->type);
        put_str(b, ",\"state\":", x->state);
        put_str(b, ",\"block\":", x->block);
        sbuf_puts(b, ",\"device\":");
        if (x->block[0] && x->dev_node)
                sbuf_printf(b, "\"/dev/%s\"", x->block); /* a kernel name: [a-z0-9] */
        else
                sbuf_puts(b, "null");
        put_u64(b, ",\"size_bytes\":", x->size_bytes, x->block[0]);
        put_str(b, ",\"vendor\":", x->vendor);
        put_str(b, ",\"model\":", x->model);
        put_str(b, ",\"rev\":", x->rev);
        put_str(b, ",\"wwid\":", x->wwid);
        put_str(b, ",\"sg\":", x->sg);
        put_u64(b, ",\"ioerr_cnt\":", x->ioerr_cnt, l != NULL);
        put_u64(b, ",\"iotmo_cnt\":", x->iotmo_cnt, l != NULL);
        write_holders(b, x);
        sbuf_puts(b, ",\"udev\":");
        if (!d->udev_running || !x->block[0])
                sbuf_puts(b, "null");
        else {
                sbuf_printf(b, "{\"done\":%s,\"links\":[", x->udev_done ? "true" : "false");
                for (size_t i = 0; i < x->n_links; i++) {
                        sbuf_puts(b, i ? "," : "");
                        sbuf_json_string(b, x->links[i]);
                }
                sbuf_puts(b, "]}");
        }
        sbuf_printf(b, ",\"ready\":%s", lr->ready ? "true" : "false");
        put_str(b, ",\"reason\":", lr->reason);
        sbuf_puts(b, "}");
}

/*
 * The session object. With expect (a login's LUNs), readiness is against those; else against
 * the LUNs shown.
 */
static int write_session(struct sbuf *b, const struct engine_session *s, const uint64_t *expect,
                         size_t n_expect)
{
        const struct session_detail *d = &s->d;
        _cleanup_free_ struct login_lun_ready *own = NULL;
        const struct login_lun_ready *lr = s->ready;
        size_t n = s->n_ready;
        bool ready = s->all_ready;
        const char *why = s->not_ready_reason;

        if (n_expect) {
                int r = login_readiness(d, expect, n_expect, false, &own, &n, &ready, &why);

                if (r < 0)
                        return r;
                lr = own;
        }
        sbuf_printf(b, "{\"sid\":%u", d->info.sid);
        sbuf_puts(b, ",\"target\":");
        sbuf_json_string(b, d->info.target); /* "" when unreadable, as the address and iface */
        sbuf_puts(b, ",\"portal\":{\"address\":");
        sbuf_json_string(b, d->info.address);
        sbuf_printf(b, ",\"port\":%u}", d->info.port);
        put_int(b, ",\"tpgt\":", d->info.tpgt);
        sbuf_puts(b, ",\"iface\":");
        sbuf_json_string(b, d->info.ifacename);
        put_str(b, ",\"binding\":", s->binding ? s->binding->id : NULL);
        put_str(b, ",\"origin\":", s->origin);
        put_str(b, ",\"state\":",
                s->logging_in    ? "logging-in" :
                d->info.state[0] ? d->info.state :
                                   "unknown");
        put_str(b, ",\"kernel_state\":", d->info.state);
        put_str(b, ",\"target_state\":", d->target_state);
        put_str(b, ",\"connection\":{\"state\":", d->conn_state);
        put_str(b, ",\"address\":", d->cur_address);
        put_int(b, ",\"port\":", d->cur_port ? (long long)d->cur_port : -1);
        put_str(b, ",\"local_address\":", d->local_address);
        put_int(b, ",\"local_port\":", d->local_port ? (long long)d->local_port : -1);
        put_str(b, ",\"nic\":", s->nic);
        put_str(b, ",\"transport\":", d->transport);
        put_int(b, ",\"host\":", d->info.host_no);
        put_str(b, "},\"negotiated\":{\"header_digest\":", d->header_digest);
        put_str(b, ",\"data_digest\":", d->data_digest);
        put_int(b, ",\"max_recv_data_segment_length\":", d->max_recv_dlength);
        put_int(b, ",\"max_xmit_data_segment_length\":", d->max_xmit_dlength);
        put_int(b, ",\"first_burst_length\":", d->first_burst_len);
        put_int(b, ",\"max_burst_length\":", d->max_burst_len);
        put_bool(b, ",\"initial_r2t\":", d->initial_r2t);
        put_bool(b, ",\"immediate_data\":", d->immediate_data);
        put_int(b, ",\"erl\":", d->erl);
        sbuf_puts(b, "},\"timeouts\":{");
        write_timeout(b, "replacement", d->recovery_tmo, s, NODE_F_REPLACEMENT_TIMEOUT, true);
        write_timeout(b, "abort", d->abort_tmo, s, NODE_F_ABORT_TIMEOUT, false);
        write_timeout(b, "lu_reset", d->lu_reset_tmo, s, NODE_F_LU_RESET_TIMEOUT, false);
        write_timeout(b, "tgt_reset", d->tgt_reset_tmo, s, NODE_F_TGT_RESET_TIMEOUT, false);
        /* iscsid gives the kernel noop_out_timeout as ping_tmo, noop_out_interval as recv_tmo. */
        write_timeout(b, "noop_out_timeout", d->ping_tmo, s, NODE_F_CONN_NOOP_OUT_TIMEOUT, false);
        write_timeout(b, "noop_out_interval", d->recv_tmo, s, NODE_F_CONN_NOOP_OUT_INTERVAL, false);
        put_bool(b, "},\"chap\":{\"outgoing\":", d->chap_out);
        put_bool(b, ",\"incoming\":", d->chap_in);
        sbuf_puts(b, "},\"luns\":[");
        for (size_t i = 0; i < n; i++) {
                const struct session_lun *l = NULL;

                for (size_t k = 0; k < d->n_luns; k++)
                        if (d->luns[k].lun == lr[i].lun)
                                l = &d->luns[k];
                if (i)
                        sbuf_puts(b, ",");
                write_lun(b, d, l, &lr[i]);
        }
        sbuf_printf(b, "],\"ready\":%s", ready ? "true" : "false");
        put_str(b, ",\"not_ready_reason\":", ready ? NULL : why);
        if (d->info.problem[0])
                put_str(b, ",\"problem\":", d->info.problem);
        sbuf_puts(b, "}");
        return 0;
}

/* --- operations ---------------------------------------------------------------------------- */

static void write_item(struct sbuf *b, const struct login_item *it)
{
        sbuf_puts(b, "{\"binding\":");
        sbuf_json_string(b, it->binding);
        sbuf_puts(b, ",\"status\":");
        sbuf_json_string(b, login_item_status_to_string(it->status));
        sbuf_puts(b, ",\"sid\":");
        write_int_or_null(b, it->sid ? (long long)it->sid : -1);
        sbuf_printf(b, ",\"ready\":%s", it->ready ? "true" : "false");
        sbuf_puts(b, ",\"expect_luns\":[");
        for (size_t i = 0; i < it->n_expect; i++)
                sbuf_printf(b, "%s%" PRIu64, i ? "," : "", it->expect[i]);
        sbuf_printf(b, "],\"expect_from\":\"%s\"",
                    it->expect_reported ? "report-luns" :
                    it->n_expect        ? "request" :
                                          "kernel");
        sbuf_puts(b, ",\"error\":");
        if (it->status == LOGIN_ITEM_FAILED || it->status == LOGIN_ITEM_CANCELLED) {
                sbuf_printf(b,
                            "{\"type\":\"urn:iscsi-ifaced:problem:%s\",\"status\":%d,\"detail\":",
                            login_error_to_string(it->error), error_status(it->error));
                sbuf_json_string(b, it->detail);
                if (it->error == LOGIN_ERR_IN_USE) {
                        sbuf_puts(b, ",");
                        write_uses(b, it);
                }
                sbuf_puts(b, "}");
        } else
                sbuf_puts(b, "null");
        sbuf_puts(b, ",\"detail\":");
        sbuf_json_string_or_null(b, it->detail[0] ? it->detail : NULL);
        sbuf_puts(b, ",\"iscsiadm_exit\":");
        write_int_or_null(b, it->iscsiadm_exit);
        sbuf_puts(b, ",\"output\":");
        sbuf_json_string_or_null(b, it->output);
        sbuf_puts(b, ",\"elapsed_ms\":");
        if (it->started_usec)
                sbuf_printf(
                        b, "%" PRId64,
                        ((it->finished_usec ?: clock_usec(CLOCK_MONOTONIC)) - it->started_usec) /
                                1000);
        else
                sbuf_puts(b, "null");
        sbuf_puts(b, "}");
}

static void write_op(struct sbuf *b, struct login_op *op)
{
        pthread_mutex_lock(&op->lock);
        sbuf_puts(b, "{\"id\":");
        sbuf_json_string(b, op->id);
        sbuf_printf(b, ",\"kind\":\"%s\",\"state\":\"%s\"", login_kind_to_string(op->kind),
                    login_op_state_to_string(op->state));
        sbuf_printf(b, ",\"progress\":{\"done\":%zu,\"total\":%zu}", op->n_done, op->n_items);
        sbuf_puts(b, ",\"created_at\":");
        sbuf_rfc3339(b, op->created_usec);
        sbuf_puts(b, ",\"finished_at\":");
        if (op->finished_usec)
                sbuf_rfc3339(b, op->finished_usec);
        else
                sbuf_puts(b, "null");
        sbuf_puts(b, ",\"items\":[");
        for (size_t i = 0; i < op->n_items; i++) {
                if (i)
                        sbuf_puts(b, ",");
                write_item(b, &op->items[i]);
        }
        sbuf_puts(b, "]}");
        pthread_mutex_unlock(&op->lock);
}

/* --- the answer of a single login or a logout, once its operation has ended ---------------- */

struct waiter {
        struct login_op *op;
        struct engine *engine;
};

/* GET /api/v1/sessions/{sid}/stats: the counters of iscsiadm, by name. */
static void stats_render(const struct login_item *it, const char *request_id,
                         struct api_response *resp)
{
        struct sbuf b = {};
        char *body;
        size_t len;

        sbuf_printf(&b, "{\"sid\":%u,\"counters\":{", it->sid);
        for (int ext = 0; ext < 2; ext++) {
                bool first = true;

                if (ext)
                        sbuf_puts(&b, "},\"extended\":{");
                for (size_t i = 0; i < it->n_stats; i++) {
                        if (it->stats[i].extended != (bool)ext)
                                continue;
                        /* Names are [a-z0-9_] (engine/login.c stats_parse). */
                        sbuf_printf(&b, "%s\"%s\":%" PRIu64, first ? "" : ",", it->stats[i].name,
                                    it->stats[i].value);
                        first = false;
                }
        }
        sbuf_puts(&b, "}}");
        if (sbuf_take(&b, &body, &len) < 0) {
                errors_answer(resp, -ENOMEM, "out of memory", NULL, request_id);
                return;
        }
        resp_set_body(resp, 200, "application/json", body, len);
}

static void answer_render(void *payload, const char *request_id, struct api_response *resp)
{
        struct waiter *w = payload;
        struct login_item *it = &w->op->items[0];
        struct engine_session s = {};
        struct sbuf b = {};
        char *body, loc[48];
        size_t len;
        int r, status;

        if (it->status == LOGIN_ITEM_LOGGED_OUT) {
                resp_set_body(resp, 204, NULL, NULL, 0);
                return;
        }
        if (it->status == LOGIN_ITEM_DONE && w->op->kind == LOGIN_KIND_STATS) {
                stats_render(it, request_id, resp);
                return;
        }
        if (it->status != LOGIN_ITEM_CREATED && it->status != LOGIN_ITEM_ADOPTED &&
            it->status != LOGIN_ITEM_DONE) {
                item_problem(it, request_id, resp);
                return;
        }
        r = engine_session_get(w->engine, it->sid, &s);
        if (r == -ENOENT) {
                struct login_item gone = *it;

                gone.error = LOGIN_ERR_FAILED;
                snprintf(gone.detail, sizeof(gone.detail),
                         "session %u ended before the answer was sent", it->sid);
                item_problem(&gone, request_id, resp);
                return;
        }
        if (r >= 0)
                r = write_session(&b, &s, it->expect, it->n_expect);
        engine_session_done(&s);
        if (r >= 0) {
                /* The session object, and how this login went. */
                b.len--; /* the closing brace */
                sbuf_printf(&b, ",\"%s\":", login_kind_to_string(w->op->kind));
                write_item(&b, it);
                sbuf_puts(&b, "}");
        }
        if (r < 0 || sbuf_take(&b, &body, &len) < 0) {
                free(b.data);
                errors_answer(resp, -ENOMEM, "out of memory", NULL, request_id);
                return;
        }
        status = it->status == LOGIN_ITEM_CREATED ? 201 : 200;
        resp_set_body(resp, status, "application/json", body, len);
        if (w->op->kind == LOGIN_KIND_LOGIN) {
                snprintf(loc, sizeof(loc), "/api/v1/sessions/%u", it->sid);
                (void)resp_add_header(resp, "Location", loc);
        }
}

static void answer_drop(void *payload)
{
        struct waiter *w = payload;

        login_op_unref(w->op);
        free(w);
}

static const struct pending_ops answer_ops = {
        .render = answer_render,
        .drop = answer_drop,
};

static void op_done(struct login_op *op, void *userdata)
{
        (void)op;
        if (userdata)
                pending_fire(userdata);
}

static int answer_later(struct call *c, struct login_op *op, struct api_pending *p)
{
        struct waiter *w = calloc(1, sizeof(*w));

        if (!w) {
                /* The operation runs on; the caller finds it under /api/v1/logins. */
                login_op_unref(op);
                return -ENOMEM;
        }
        w->op = op;
        w->engine = c->api->engine;
        pending_set_payload(p, &answer_ops, w);
        c->resp->pending = p;
        return 0;
}

static int reply_op(struct call *c, struct login_op *op, int status, bool replayed)
{
        struct sbuf b = {};
        char loc[64];
        int r;

        write_op(&b, op);
        snprintf(loc, sizeof(loc), "/api/v1/logins/%s", op->id);
        r = call_reply_json(c, status, &b);
        if (r >= 0 && status == 202)
                r = resp_add_header(c->resp, "Location", loc);
        if (r >= 0 && replayed)
                r = resp_add_header(c->resp, "Idempotent-Replayed", "true");
        return r;
}

/* --- POST /api/v1/sessions ----------------------------------------------------------------- */

struct login_body {
        char **bindings;
        size_t n_bindings;
        bool batch;
        bool wait;
        unsigned timeout_ms;
        uint64_t expect[LOGIN_EXPECT_MAX];
        size_t n_expect;
};

static void login_body_done(struct login_body *lb)
{
        for (size_t i = 0; i < lb->n_bindings; i++)
                free(lb->bindings[i]);
        free(lb->bindings);
}

/* The binding named by target, portal, tpgt and iface. */
static int binding_by_parts(struct call *c, json_t *j, char **ret)
{
        json_t *t = json_object_get(j, "target"), *p = json_object_get(j, "portal"),
               *g = json_object_get(j, "tpgt"), *i = json_object_get(j, "iface");
        struct engine_binding_query q = { .limit = 2 };
        struct sockaddr_storage ss;
        struct binding_snap **v = NULL;
        char addr[INET6_ADDRSTRLEN];
        const char *why = NULL;
        size_t n = 0;
        bool more = false;
        int r, port;

        if (!json_is_string(t))
                return call_invalid(c, "target", "must be the target's iSCSI name");
        if (!json_is_string(p) || check_parse_portal(json_string_value(p), &ss, &why) < 0)
                return call_invalid(c, "portal", "%s", why ?: "must be \"ip[:port]\"");
        if (g &&
            (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 65535))
                return call_invalid(c, "tpgt", "must be an integer from 0 to 65535");
        if (i && !json_is_string(i))
                return call_invalid(c, "iface", "must be the name of an iface");
        if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const void *)&ss;

                inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
                port = ntohs(s6->sin6_port);
        } else {
                const struct sockaddr_in *s4 = (const void *)&ss;

                inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
                port = ntohs(s4->sin_port);
        }
        q.target = json_string_value(t);
        q.address = addr;
        q.port = (unsigned)port;
        q.iface = i ? json_string_value(i) : "default";
        if (g) {
                struct binding_key k = {};
                char id[BINDING_ID_MAX];

                snprintf(k.target, sizeof(k.target), "%s", q.target);
                snprintf(k.address, sizeof(k.address), "%s", addr);
                k.port = (uint16_t)port;
                k.tpgt = (int)json_integer_value(g);
                snprintf(k.iface, sizeof(k.iface), "%s", q.iface);
                binding_id_format(&k, id, sizeof(id));
                *ret = strdup(id);
                return *ret ? 0 : -ENOMEM;
        }
        r = engine_binding_list(c->api->engine, &q, &v, &n, &more);
        if (r < 0)
                return r;
        if (n == 1)
                *ret = strdup(v[0]->id);
        for (size_t k = 0; k < n; k++)
                binding_snap_unref(v[k]);
        free(v);
        if (n == 0) {
                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "target");
                c->err.field = c->err.field_buf;
                snprintf(c->detail, sizeof(c->detail),
                         "no binding of this target, portal and iface: discover it or create it "
                         "first (POST /api/v1/bindings)");
                return -ENOENT;
        }
        if (n > 1)
                return call_invalid(c, "tpgt",
                                    "the target has several bindings at this portal: give tpgt");
        return *ret ? 0 : -ENOMEM;
}

static int parse_login(struct call *c, json_t *j, struct login_body *lb)
{
        const char *k;
        json_t *v;
        bool has_wait = false, parts = false;

        json_object_foreach (j, k, v) {
                if (streq(k, "binding")) {
                        if (!json_is_string(v))
                                return call_invalid(c, "binding", "must be a binding id");
                } else if (streq(k, "bindings")) {
                        if (!json_is_array(v) || json_array_size(v) == 0 ||
                            json_array_size(v) > LOGIN_ITEMS_MAX)
                                return call_invalid(c, "bindings",
                                                    "must be a list of 1..%d binding ids",
                                                    LOGIN_ITEMS_MAX);
                        lb->batch = true;
                } else if (streq(k, "target") || streq(k, "portal") || streq(k, "tpgt") ||
                           streq(k, "iface")) {
                        parts = true;
                } else if (streq(k, "wait")) {
                        if (!json_is_boolean(v))
                                return call_invalid(c, "wait", "must be true or false");
                        lb->wait = json_is_true(v);
                        has_wait = true;
                } else if (streq(k, "timeout_ms")) {
                        json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;

                        if (t < 1 || t > LOGIN_TIMEOUT_MAX_MS)
                                return call_invalid(c, "timeout_ms", "must be %s",
                                                    SESSIONS_TIMEOUT_WHAT);
                        lb->timeout_ms = (unsigned)t;
                } else if (streq(k, "expect_luns")) {
                        size_t i;
                        json_t *x;

                        if (!json_is_array(v) || json_array_size(v) > LOGIN_EXPECT_MAX)
                                return call_invalid(c, "expect_luns",
                                                    "must be a list of at most %d LUN numbers",
                                                    LOGIN_EXPECT_MAX);
                        json_array_foreach (v, i, x) {
                                if (!json_is_integer(x) || json_integer_value(x) < 0) {
                                        snprintf(c->err.field_buf, sizeof(c->err.field_buf),
                                                 "expect_luns[%zu]", i);
                                        return call_invalid(c, c->err.field_buf,
                                                            "must be a LUN number (0 or more)");
                                }
                                lb->expect[lb->n_expect++] = (uint64_t)json_integer_value(x);
                        }
                } else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", k);
                        return call_invalid(c, c->err.field_buf,
                                            "unknown member (known: binding, bindings, target, "
                                            "portal, tpgt, iface, wait, timeout_ms, expect_luns)");
                }
        }
        {
                int forms = !!json_object_get(j, "binding") + lb->batch + parts;

                if (forms != 1)
                        return call_invalid(c, "binding",
                                            "give one of binding, bindings, or target with portal");
        }
        if (lb->batch && has_wait && lb->wait)
                return call_invalid(c, "wait", "a batch never waits: it runs as an operation");
        if (!has_wait)
                lb->wait = !lb->batch;
        if (lb->batch) {
                json_t *a = json_object_get(j, "bindings"), *x;
                size_t i;

                lb->bindings = calloc(json_array_size(a), sizeof(*lb->bindings));
                if (!lb->bindings)
                        return -ENOMEM;
                json_array_foreach (a, i, x) {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "bindings[%zu]", i);
                        if (!json_is_string(x))
                                return call_invalid(c, c->err.field_buf, "must be a binding id");
                        for (size_t d = 0; d < lb->n_bindings; d++)
                                if (streq(lb->bindings[d], json_string_value(x)))
                                        return call_invalid(c, c->err.field_buf,
                                                            "names a binding twice");
                        lb->bindings[lb->n_bindings] = strdup(json_string_value(x));
                        if (!lb->bindings[lb->n_bindings])
                                return -ENOMEM;
                        lb->n_bindings++;
                }
                return 0;
        }
        lb->bindings = calloc(1, sizeof(*lb->bindings));
        if (!lb->bindings)
                return -ENOMEM;
        if (parts) {
                int r = binding_by_parts(c, j, &lb->bindings[0]);

                if (r < 0)
                        return r;
        } else {
                lb->bindings[0] = strdup(json_string_value(json_object_get(j, "binding")));
                if (!lb->bindings[0])
                        return -ENOMEM;
        }
        lb->n_bindings = 1;
        return 0;
}

int sessions_create(struct call *c)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(login_body_done) struct login_body lb = {};
        const char *key = c->req->idempotency_key;
        char scoped[JOB_SCOPE_MAX + 1 + JOB_KEY_MAX + 1];
        struct login_op *op = NULL;
        struct api_pending *p = NULL;
        const char *skey;
        bool existing = false;
        int r;

        r = call_scoped_key(c, scoped, sizeof(scoped), &skey);
        if (r < 0)
                return r;
        r = call_read_object(c, &j);
        if (r < 0)
                return r;
        r = parse_login(c, j, &lb);
        if (r < 0)
                return r;
        for (size_t i = 0; i < lb.n_bindings; i++) {
                struct binding_key k;

                if (lb.batch)
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "bindings[%zu]", i);
                if (binding_id_parse(lb.bindings[i], &k, &c->err) < 0)
                        return call_invalid(c, lb.batch ? c->err.field_buf : "binding", "%s",
                                            c->err.reason);
        }
        if (!lb.batch) {
                struct binding_snap *b = NULL;

                r = engine_binding_get(c->api->engine, lb.bindings[0], &b);
                if (r == -ENOENT) {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "binding");
                        c->err.field = c->err.field_buf;
                        snprintf(c->detail, sizeof(c->detail), "no binding '%.200s'",
                                 lb.bindings[0]);
                }
                if (r < 0)
                        return r;
                binding_snap_unref(b);
        }
        if (lb.wait) {
                p = pending_new(c->req->request_id);
                if (!p)
                        return -ENOMEM;
        }
        r = engine_login_start(
                c->api->engine, &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                &(struct login_request){ .bindings = (const char *const *)lb.bindings,
                                         .n_bindings = lb.n_bindings,
                                         .timeout_ms = lb.timeout_ms,
                                         .expect = lb.expect,
                                         .n_expect = lb.n_expect,
                                         .batch = lb.batch,
                                         .key = skey,
                                         .body_hash = call_body_hash(c) },
                lb.wait ? op_done : NULL, p, &op, &existing, &c->err);
        if (r == -EILSEQ)
                snprintf(c->detail, sizeof(c->detail),
                         "Idempotency-Key '%s' was used for a different request body", key);
        if (r < 0 || (existing && p)) {
                if (p)
                        pending_free(p);
                if (r < 0)
                        return r;
                p = NULL;
        }
        if (p)
                return answer_later(c, op, p);
        r = reply_op(c, op, 202, existing);
        login_op_unref(op);
        return r;
}

/* --- sessions ------------------------------------------------------------------------------ */

static int parse_sid(struct call *c, unsigned *ret)
{
        const char *s = c->param;
        uint64_t v = 0;
        size_t n = strlen(s);
        bool ok = n >= 1 && n <= 10 && s[0] != '0';

        for (size_t i = 0; ok && i < n; i++) {
                ok = s[i] >= '0' && s[i] <= '9';
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (!ok || v > UINT32_MAX) {
                snprintf(c->detail, sizeof(c->detail), "no session '%.40s'", c->param);
                return -ENOENT;
        }
        *ret = (unsigned)v;
        return 0;
}

int sessions_list(struct call *c)
{
        struct engine_session *v = NULL;
        struct sbuf b = {};
        size_t n = 0;
        int r = 0;

        r = call_no_query(c);
        if (r < 0)
                return r;
        r = engine_sessions_list(c->api->engine, &v, &n);
        if (r < 0)
                return r;
        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                r = write_session(&b, &v[i], NULL, 0);
        }
        sbuf_puts(&b, "]}");
        engine_sessions_free(v, n);
        if (r < 0) {
                free(b.data);
                return r;
        }
        return call_reply_json(c, 200, &b);
}

int sessions_get(struct call *c)
{
        struct engine_session s = {};
        struct sbuf b = {};
        unsigned sid;
        int r;

        r = parse_sid(c, &sid);
        if (r < 0)
                return r;
        r = engine_session_get(c->api->engine, sid, &s);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no session %u", sid);
        if (r < 0)
                return r;
        r = write_session(&b, &s, NULL, 0);
        engine_session_done(&s);
        if (r < 0) {
                free(b.data);
                return r;
        }
        return call_reply_json(c, 200, &b);
}

/* A logout, a rescan or a statistics read of session sid, answered when it has run. */
static int session_op(struct call *c, enum login_kind kind, bool force, unsigned timeout_ms)
{
        struct login_op *op = NULL;
        struct api_pending *p;
        unsigned sid;
        int r;

        r = parse_sid(c, &sid);
        if (r < 0)
                return r;
        p = pending_new(c->req->request_id);
        if (!p)
                return -ENOMEM;
        r = engine_session_op_start(
                c->api->engine, &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec },
                sid, kind, force, timeout_ms, op_done, p, &op);
        if (r < 0) {
                pending_free(p);
                if (r == -ENOENT)
                        snprintf(c->detail, sizeof(c->detail), "no session %u", sid);
                return r;
        }
        return answer_later(c, op, p);
}

int sessions_delete(struct call *c)
{
        bool force = false;

        for (size_t i = 0; i < c->req->n_args; i++) {
                const char *k = c->req->args[i].key, *v = c->req->args[i].value;

                if (streq(k, "force") && (streq_ptr(v, "true") || streq_ptr(v, "false")))
                        force = streq(v, "true");
                else if (streq(k, "force"))
                        return call_invalid(c, "force", "must be true or false");
                else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", k);
                        return call_invalid(c, c->err.field_buf, "unknown query parameter");
                }
        }
        return session_op(c, LOGIN_KIND_LOGOUT, force, 0);
}

int sessions_rescan(struct call *c)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        unsigned timeout_ms = 0;
        const char *k;
        json_t *v;
        int r;

        if (c->req->body_len > 0) {
                r = call_read_json(c, "application/json", &j);
                if (r < 0)
                        return r;
                if (!json_is_object(j))
                        return call_invalid(c, "body", "must be a JSON object");
                json_object_foreach (j, k, v) {
                        json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;

                        if (!streq(k, "timeout_ms")) {
                                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", k);
                                return call_invalid(c, c->err.field_buf,
                                                    "unknown member (known: timeout_ms)");
                        }
                        if (t < 1 || t > LOGIN_TIMEOUT_MAX_MS)
                                return call_invalid(c, "timeout_ms", "must be %s",
                                                    SESSIONS_TIMEOUT_WHAT);
                        timeout_ms = (unsigned)t;
                }
        }
        return session_op(c, LOGIN_KIND_RESCAN, false, timeout_ms);
}

int sessions_stats(struct call *c)
{
        return call_no_query(c) ?: session_op(c, LOGIN_KIND_STATS, false, 0);
}

/* --- operations ---------------------------------------------------------------------------- */

static void write_op_item(struct sbuf *b, void *op)
{
        write_op(b, op);
}

static void release_op(void *op)
{
        login_op_unref(op);
}

int logins_list(struct call *c)
{
        struct login_op **v = NULL;
        size_t n = 0;
        int r;

        r = call_no_query(c);
        if (r >= 0)
                r = engine_login_list(c->api->engine, &v, &n);
        if (r < 0)
                return r;
        return call_reply_items(c, (void **)v, n, write_op_item, release_op);
}

static int reply_login(struct call *c, int status)
{
        struct login_op *op = NULL;
        int r;

        r = engine_login_get(c->api->engine, c->param, &op);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no login operation '%.40s'", c->param);
        if (r < 0)
                return r;
        r = reply_op(c, op, status, false);
        login_op_unref(op);
        return r;
}

int logins_get(struct call *c)
{
        return reply_login(c, 200);
}

int logins_delete(struct call *c)
{
        int r = engine_login_cancel_or_remove(c->api->engine, c->param);

        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no login operation '%.40s'", c->param);
        if (r < 0)
                return r;
        if (r == 1) {
                resp_set_body(c->resp, 204, NULL, NULL, 0);
                return 0;
        }
        return reply_login(c, 202);
}
