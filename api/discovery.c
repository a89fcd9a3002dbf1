/* SPDX-License-Identifier: MIT */
/* /api/v1/discovery handlers (docs/bindings.md): start a run, wait for it or not, list, cancel. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

static int parse_request(struct call *c, json_t *j, struct discovery_request *req, bool *wait)
{
        const char *k;
        json_t *v;
        bool has_portal = false, has_portals = false, has_wait = false;

        req->timeout_ms = CHECK_TIMEOUT_DEFAULT_MS;
        json_object_foreach (j, k, v) {
                if (streq(k, "portal") || streq(k, "portals")) {
                        size_t n = 1;

                        if (streq(k, "portal"))
                                has_portal = true;
                        else {
                                has_portals = true;
                                if (!json_is_array(v) || json_array_size(v) == 0 ||
                                    json_array_size(v) > DISCOVERY_PORTALS_MAX)
                                        return call_invalid(c, "portals",
                                                            "must be a list of 1..%d portals",
                                                            DISCOVERY_PORTALS_MAX);
                                n = json_array_size(v);
                        }
                        for (size_t i = 0; i < n; i++) {
                                json_t *p = has_portals ? json_array_get(v, i) : v;
                                const char *why = NULL;

                                if (has_portals)
                                        snprintf(c->err.field_buf, sizeof(c->err.field_buf),
                                                 "portals[%zu]", i);
                                if (!json_is_string(p) ||
                                    check_parse_portal(json_string_value(p),
                                                       &req->portals[req->n_portals], &why) < 0)
                                        return call_invalid(
                                                c, has_portals ? c->err.field_buf : "portal", "%s",
                                                why ?: "must be \"ip[:port]\"");
                                req->n_portals++;
                        }
                } else if (streq(k, "ifaces")) {
                        size_t i;
                        json_t *s;

                        if (!json_is_array(v) || json_array_size(v) == 0 ||
                            json_array_size(v) > DISCOVERY_IFACES_MAX)
                                return call_invalid(c, "ifaces",
                                                    "must be a list of 1..%d iface names",
                                                    DISCOVERY_IFACES_MAX);
                        json_array_foreach (v, i, s) {
                                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "ifaces[%zu]",
                                         i);
                                if (!json_is_string(s) ||
                                    (!iface_name_is_builtin(json_string_value(s)) &&
                                     iface_name_validate(json_string_value(s), &c->err) < 0))
                                        return call_invalid(c, c->err.field_buf,
                                                            "must be the name of an iface");
                                for (size_t x = 0; x < req->n_ifaces; x++)
                                        if (streq(req->ifaces[x], json_string_value(s)))
                                                return call_invalid(c, c->err.field_buf,
                                                                    "names an iface twice");
                                snprintf(req->ifaces[req->n_ifaces++], sizeof(req->ifaces[0]), "%s",
                                         json_string_value(s));
                        }
                } else if (streq(k, "auth")) {
                        int r = call_parse_chap(c, v, "auth", true, &req->auth);

                        if (r < 0)
                                return r;
                        req->has_auth = true;
                } else if (streq(k, "bind")) {
                        if (!json_is_boolean(v))
                                return call_invalid(c, "bind", "must be true or false");
                        req->bind = json_is_true(v);
                } else if (streq(k, "wait")) {
                        if (!json_is_boolean(v))
                                return call_invalid(c, "wait", "must be true or false");
                        *wait = json_is_true(v);
                        has_wait = true;
                } else if (streq(k, "timeout_ms")) {
                        json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;

                        if (t < 1 || t > CHECK_TIMEOUT_MAX_MS)
                                return call_invalid(c, "timeout_ms",
                                                    "must be an integer from 1 to %d",
                                                    CHECK_TIMEOUT_MAX_MS);
                        req->timeout_ms = (unsigned)t;
                } else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", k);
                        return call_invalid(c, c->err.field_buf,
                                            "unknown member (known: portal, portals, ifaces, auth, "
                                            "bind, wait, timeout_ms)");
                }
        }
        if (has_portal == has_portals)
                return call_invalid(c, "portal", "give one of portal or portals");
        if (!has_wait)
                *wait = has_portal;
        return 0;
}

/* --- rendering ----------------------------------------------------------------------------- */

/* The ids of the outcomes that were created (0), existed (1), or failed (-1: with reasons). */
static void write_outcomes(struct sbuf *b, const struct discovery_run *run, int which)
{
        bool first = true;

        for (size_t i = 0; i < run->n_outcomes; i++) {
                const struct engine_bind_outcome *o = &run->outcomes[i];

                if (which < 0 ? o->r >= 0 : o->r != which)
                        continue;
                sbuf_puts(b, first ? "" : ",");
                first = false;
                if (which >= 0) {
                        sbuf_json_string(b, o->id);
                        continue;
                }
                sbuf_puts(b, "{\"id\":");
                sbuf_json_string(b, o->id);
                sbuf_puts(b, ",\"reason\":");
                sbuf_json_string(b, o->reason);
                sbuf_puts(b, "}");
        }
}

static void write_run(struct sbuf *b, struct discovery_run *run)
{
        pthread_mutex_lock(&run->lock);
        sbuf_puts(b, "{\"id\":");
        sbuf_json_string(b, run->id);
        sbuf_puts(b, ",\"state\":");
        sbuf_json_string(b, discovery_state_to_string(run->state));
        sbuf_printf(b, ",\"progress\":{\"done\":%zu,\"total\":%zu},\"bind\":%s", run->n_done,
                    run->n_items, run->req.bind ? "true" : "false");
        sbuf_puts(b, ",\"created_at\":");
        sbuf_rfc3339(b, run->created_usec);
        sbuf_puts(b, ",\"items\":[");
        for (size_t i = 0; i < run->n_items; i++) {
                const struct discovery_item *it = &run->items[i];
                const struct check_result *res =
                        it->done && it->chk ? check_get_result(it->chk) : NULL;
                int step = res ? check_result_first_failure(res, check_get_spec(it->chk)) : -1;
                const struct check_step_result *iscsi = res ? &res->steps[CHECK_STEP_ISCSI] : NULL;

                sbuf_puts(b, i ? ",{\"portal\":" : "{\"portal\":");
                sbuf_json_string(b, it->portal);
                sbuf_puts(b, ",\"iface\":");
                sbuf_json_string(b, it->iface);
                sbuf_puts(b, ",\"status\":");
                sbuf_json_string(b, !it->done                      ? "pending" :
                                    !res                           ? "failed" :
                                    res->status == CHECK_OK        ? "ok" :
                                    res->status == CHECK_CANCELLED ? "cancelled" :
                                                                     "failed");
                sbuf_puts(b, ",\"reason\":");
                if (res && res->status != CHECK_OK)
                        sbuf_json_string(b, check_reason_to_string(res->reason));
                else
                        sbuf_puts(b, "null");
                sbuf_puts(b, ",\"hint\":");
                sbuf_json_string(b, step >= 0 ? res->steps[step].hint : "");
                sbuf_puts(b, ",\"source\":");
                if (iscsi && iscsi->source[0])
                        sbuf_json_string(b, iscsi->source);
                else
                        sbuf_puts(b, "null");
                sbuf_puts(b, ",\"device\":");
                if (iscsi && iscsi->device[0])
                        sbuf_json_string(b, iscsi->device);
                else
                        sbuf_puts(b, "null");
                sbuf_puts(b, ",\"targets\":[");
                for (size_t f = 0; f < it->n_found; f++) {
                        /* One entry per (target, portal): the client groups them if it wants. */
                        sbuf_puts(b, f ? ",{\"name\":" : "{\"name\":");
                        sbuf_json_string(b, it->found[f].target);
                        sbuf_puts(b, ",\"portals\":[{\"address\":");
                        sbuf_json_string(b, it->found[f].address);
                        sbuf_printf(b, ",\"port\":%u,\"tpgt\":%d}]}", it->found[f].port,
                                    it->found[f].tpgt);
                }
                sbuf_puts(b, "]}");
        }
        sbuf_puts(b, "],\"refused\":[");
        for (size_t i = 0; i < run->n_refused; i++) {
                const struct discovery_refusal *f = &run->refused[i];

                sbuf_puts(b, i ? ",{\"portal\":" : "{\"portal\":");
                sbuf_json_string(b, f->portal);
                sbuf_puts(b, ",\"iface\":");
                sbuf_json_string(b, f->iface);
                sbuf_puts(b, ",\"field\":");
                sbuf_json_string(b, f->field);
                sbuf_puts(b, ",\"value\":");
                sbuf_json_string(b, f->value);
                sbuf_puts(b, ",\"reason\":");
                sbuf_json_string(b, f->reason);
                sbuf_puts(b, "}");
        }
        sbuf_puts(b, "]");
        if (run->req.bind) {
                sbuf_puts(b, ",\"bindings\":{\"created\":[");
                write_outcomes(b, run, 0);
                sbuf_puts(b, "],\"existing\":[");
                write_outcomes(b, run, 1);
                sbuf_puts(b, "],\"failed\":[");
                write_outcomes(b, run, -1);
                sbuf_puts(b, "]");
                if (run->bind_error[0]) {
                        sbuf_puts(b, ",\"error\":");
                        sbuf_json_string(b, run->bind_error);
                }
                sbuf_puts(b, "}");
        }
        sbuf_puts(b, "}");
        pthread_mutex_unlock(&run->lock);
}

static void run_render(void *payload, const char *request_id, struct api_response *resp)
{
        struct sbuf b = {};
        char *body;
        size_t len;

        write_run(&b, payload);
        if (sbuf_take(&b, &body, &len) < 0)
                errors_answer(resp, -ENOMEM, "out of memory", NULL, request_id);
        else
                resp_set_body(resp, 200, "application/json", body, len);
}

static void run_drop(void *payload)
{
        discovery_run_unref(payload);
}

static const struct pending_ops run_ops = {
        .render = run_render,
        .drop = run_drop,
};

static void run_done(struct discovery_run *run, void *userdata)
{
        (void)run;
        if (userdata)
                pending_fire(userdata);
}

/* --- handlers ------------------------------------------------------------------------------ */

int discovery_create(struct call *c)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        struct discovery_request *req;
        struct discovery_run *run = NULL;
        struct api_pending *p = NULL;
        bool wait = true;
        int r;

        r = call_read_object(c, &j);
        if (r < 0)
                return r;
        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        r = parse_request(c, j, req, &wait);
        if (r >= 0 && wait) {
                p = pending_new(c->req->request_id);
                if (!p)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = engine_discovery_start(
                        c->api->engine,
                        &(struct engine_ctx){ c->actor, c->req->request_id, c->start_usec }, req,
                        run_done, p, &run, &c->err);
        explicit_bzero(req, sizeof(*req));
        free(req);
        if (r < 0) {
                if (p)
                        pending_free(p);
                return r;
        }
        if (wait) {
                /* Fired by the run's end; sent once this handler has returned. */
                pending_set_payload(p, &run_ops, run);
                c->resp->pending = p;
                return 0;
        }
        {
                struct sbuf b = {};
                char location[64];

                write_run(&b, run);
                snprintf(location, sizeof(location), "/api/v1/discovery/%s", run->id);
                discovery_run_unref(run);
                r = call_reply_json(c, 202, &b);
                if (r < 0)
                        return r;
                return resp_add_header(c->resp, "Location", location);
        }
}

static void write_run_item(struct sbuf *b, void *run)
{
        write_run(b, run);
}

static void release_run(void *run)
{
        discovery_run_unref(run);
}

int discovery_list(struct call *c)
{
        struct discovery_run **v = NULL;
        size_t n = 0;
        int r;

        r = call_no_query(c);
        if (r >= 0)
                r = engine_discovery_list(c->api->engine, &v, &n);
        if (r < 0)
                return r;
        return call_reply_items(c, (void **)v, n, write_run_item, release_run);
}

static int reply_run(struct call *c, int status)
{
        struct discovery_run *run = NULL;
        struct sbuf b = {};
        char location[64];
        int r;

        r = engine_discovery_get(c->api->engine, c->param, &run);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no discovery run '%.40s'", c->param);
        if (r < 0)
                return r;
        write_run(&b, run);
        snprintf(location, sizeof(location), "/api/v1/discovery/%s", run->id);
        discovery_run_unref(run);
        r = call_reply_json(c, status, &b);
        /* A cancel requested (202) says where to follow it, as every 202 does. */
        if (r >= 0 && status == 202)
                r = resp_add_header(c->resp, "Location", location);
        return r;
}

int discovery_get(struct call *c)
{
        return reply_run(c, 200);
}

int discovery_delete(struct call *c)
{
        int r;

        r = engine_discovery_cancel_or_remove(c->api->engine, c->param);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail), "no discovery run '%.40s'", c->param);
        if (r < 0)
                return r;
        if (r == 1) {
                resp_set_body(c->resp, 204, NULL, NULL, 0);
                return 0;
        }
        return reply_run(c, 202); /* cancel requested: the run as it is now */
}
