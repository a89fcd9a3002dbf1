/* SPDX-License-Identifier: MIT */
/*
 * /api/v1/ifaces/{name}/checks, /api/v1/checks and /api/v1/jobs (docs/checks.md). A single check
 * answers later through a pending answer (pending.h; the connection is suspended meanwhile); a
 * job answers 202 at once. CHAP secrets are copied into the spec, wiped after submission and never written out.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

#define JOB_IFACES_MAX 256

/* --- request parsing ----------------------------------------------------------------------- */

/* A string of 1..max-1 printable ASCII characters without spaces. */
static bool token_ok(const char *s, size_t max)
{
        size_t n = strlen(s);

        if (n == 0 || n >= max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}

/*
 * The fields a single check and a job share. Keys the caller handles itself (portal, ifaces,
 * portals) are skipped here; any other key is an error.
 */
static int parse_common(struct call *c, json_t *j, struct check_spec *spec,
                        const char *const *own_keys, size_t n_own)
{
        const char *key;
        json_t *v;
        int r;

        spec->steps = (1u << _CHECK_STEP_MAX) - 1;
        spec->timeout_ms = CHECK_TIMEOUT_DEFAULT_MS;

        json_object_foreach (j, key, v) {
                bool own = false;

                for (size_t i = 0; i < n_own; i++)
                        own = own || streq(key, own_keys[i]);
                if (own)
                        continue;

                if (streq(key, "steps")) {
                        size_t i;
                        json_t *s;

                        if (!json_is_array(v) || json_array_size(v) == 0)
                                return call_invalid(c, "steps",
                                                    "must be a non-empty array of link, ping, "
                                                    "tcp, iscsi");
                        spec->steps = 0;
                        json_array_foreach (v, i, s) {
                                int step = json_is_string(s) ?
                                                   check_step_from_string(json_string_value(s)) :
                                                   -EINVAL;

                                if (step < 0)
                                        return call_invalid(c, "steps",
                                                            "item %zu is not one of link, ping, "
                                                            "tcp, iscsi",
                                                            i);
                                spec->steps |= 1u << step;
                        }
                } else if (streq(key, "timeout_ms")) {
                        json_int_t t = json_is_integer(v) ? json_integer_value(v) : -1;

                        if (t < 1 || t > CHECK_TIMEOUT_MAX_MS)
                                return call_invalid(c, "timeout_ms",
                                                    "must be an integer from 1 to %d",
                                                    CHECK_TIMEOUT_MAX_MS);
                        spec->timeout_ms = (unsigned)t;
                } else if (streq(key, "target")) {
                        if (!json_is_string(v) ||
                            !token_ok(json_string_value(v), sizeof(spec->target)))
                                return call_invalid(c, "target",
                                                    "must be a target name (iqn., eui. or naa.) "
                                                    "of at most %zu printable characters",
                                                    sizeof(spec->target) - 1);
                        snprintf(spec->target, sizeof(spec->target), "%s", json_string_value(v));
                } else if (streq(key, "chap")) {
                        r = call_parse_chap(c, v, "chap", true, &spec->chap);
                        if (r < 0)
                                return r;
                        spec->has_chap = true;
                } else if (streq(key, "discovery_chap")) {
                        r = call_parse_chap(c, v, "discovery_chap", false, &spec->discovery_chap);
                        if (r < 0)
                                return r;
                        spec->has_discovery_chap = true;
                } else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%.64s", key);
                        return call_invalid(c, c->err.field_buf, "unknown field");
                }
        }

        if (spec->has_chap && !spec->target[0])
                return call_invalid(c, "chap",
                                    "needs target: CHAP is proved by a login to that target, "
                                    "since most targets do not authenticate SendTargets "
                                    "discovery");
        if ((spec->target[0] || spec->has_discovery_chap) &&
            !(spec->steps & (1u << CHECK_STEP_ISCSI)))
                return call_invalid(c, spec->target[0] ? "target" : "discovery_chap",
                                    "is used by the iscsi step, which steps leaves out");
        return 0;
}

static int parse_portal(struct call *c, json_t *v, const char *field, struct sockaddr_storage *ret)
{
        const char *why;

        if (!json_is_string(v))
                return call_invalid(c, field, "must be a string: IPv4[:port] or [IPv6]:port");
        if (check_parse_portal(json_string_value(v), ret, &why) < 0)
                return call_invalid(c, field, "%s", why);
        return 0;
}

/* --- writing results ----------------------------------------------------------------------- */

static void put_ms(struct sbuf *b, const char *key, int64_t usec)
{
        if (usec < 0)
                sbuf_printf(b, ",\"%s\":null", key);
        else
                sbuf_printf(b, ",\"%s\":%.3f", key, (double)usec / 1000.0);
}

static void put_str_or_null(struct sbuf *b, const char *key, const char *v)
{
        sbuf_printf(b, ",\"%s\":", key);
        sbuf_json_string_or_null(b, isempty(v) ? NULL : v);
}

static void write_step(struct sbuf *b, enum check_step s, const struct check_result *r)
{
        const struct check_step_result *sr = &r->steps[s];

        sbuf_printf(b, "{\"step\":\"%s\",\"status\":\"%s\"", check_step_to_string(s),
                    check_status_to_string(sr->status));
        put_ms(b, "latency_ms", sr->latency_usec);
        put_str_or_null(b, "reason", check_reason_to_string(sr->reason));
        put_str_or_null(b, "hint", sr->hint);

        switch (s) {
        case CHECK_STEP_LINK:
                put_str_or_null(b, "device", sr->device);
                put_str_or_null(b, "egress", sr->egress);
                put_str_or_null(b, "source_address", sr->source);
                if (sr->rp_filter >= 0)
                        sbuf_printf(b, ",\"rp_filter\":%d", sr->rp_filter);
                else
                        sbuf_puts(b, ",\"rp_filter\":null");
                break;
        case CHECK_STEP_PING:
                put_str_or_null(b, "source_address", sr->source);
                break;
        case CHECK_STEP_TCP:
        case CHECK_STEP_ISCSI:
                put_str_or_null(b, "device", sr->device);
                put_str_or_null(b, "source_address", sr->source);
                break;
        case _CHECK_STEP_MAX:
                break;
        }

        sbuf_puts(b, ",\"warnings\":[");
        for (size_t i = 0; i < sr->n_warnings; i++) {
                if (i)
                        sbuf_puts(b, ",");
                sbuf_json_string(b, sr->warnings[i]);
        }
        sbuf_puts(b, "]");

        if (s == CHECK_STEP_ISCSI) {
                sbuf_puts(b, ",\"targets\":[");
                for (size_t i = 0; i < r->n_targets; i++) {
                        const struct check_target *t = &r->targets[i];

                        sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
                        sbuf_json_string(b, t->name ?: "");
                        sbuf_puts(b, ",\"portals\":[");
                        for (size_t k = 0; k < t->n_portals; k++) {
                                if (k)
                                        sbuf_puts(b, ",");
                                sbuf_json_string(b, t->portals[k] ?: "");
                        }
                        sbuf_puts(b, "]}");
                }
                sbuf_puts(b, "]");
        }
}

/* One check's result as a JSON object; index >= 0 adds "index" (job items). */
static void write_result(struct sbuf *b, const struct check *chk, long index)
{
        const struct check_spec *spec = check_get_spec(chk);
        const struct check_result *r = check_get_result(chk);
        char portal[INET6_ADDRSTRLEN + 8];
        int first = check_result_first_failure(r, spec);

        check_format_portal(&spec->portal, portal, sizeof(portal));
        sbuf_puts(b, "{");
        if (index >= 0)
                sbuf_printf(b, "\"index\":%ld,", index);
        sbuf_puts(b, "\"iface\":");
        sbuf_json_string(b, spec->iface);
        sbuf_puts(b, ",\"portal\":");
        sbuf_json_string(b, portal);
        sbuf_printf(b, ",\"status\":\"%s\"", check_status_to_string(r->status));
        put_str_or_null(b, "reason", first >= 0 ? check_reason_to_string(r->reason) : NULL);
        put_str_or_null(b, "hint", first >= 0 ? r->steps[first].hint : NULL);
        put_ms(b, "elapsed_ms", r->elapsed_usec);
        sbuf_puts(b, ",\"steps\":[");
        for (int s = 0, n = 0; s < _CHECK_STEP_MAX; s++) {
                if (!(spec->steps & (1u << s)))
                        continue;
                if (n++)
                        sbuf_puts(b, ",");
                write_step(b, (enum check_step)s, r);
                if (s == CHECK_STEP_ISCSI && spec->target[0]) {
                        sbuf_puts(b, ",\"login\":{\"target\":");
                        sbuf_json_string(b, spec->target);
                        sbuf_printf(b, ",\"status\":\"%s\"}",
                                    r->login_status == CHECK_PENDING ?
                                            "skipped" :
                                            check_status_to_string(r->login_status));
                }
                sbuf_puts(b, "}");
        }
        sbuf_puts(b, "]}");
}

static void write_job(struct sbuf *b, struct job *job, bool results)
{
        struct job_info info;

        job_get_info(job, &info);
        sbuf_printf(b, "{\"id\":\"%s\",\"state\":\"%s\",\"created_at\":", info.id,
                    job_state_to_string(info.state));
        sbuf_rfc3339(b, info.created_usec);
        sbuf_puts(b, ",\"finished_at\":");
        if (info.finished_usec)
                sbuf_rfc3339(b, info.finished_usec);
        else
                sbuf_puts(b, "null");
        sbuf_printf(b, ",\"total\":%zu,\"done\":%zu,\"ok\":%zu,\"failed\":%zu,\"cancelled\":%zu",
                    info.total, info.done, info.ok, info.failed, info.cancelled);
        if (results) {
                bool first = true;

                sbuf_puts(b, ",\"results\":[");
                for (size_t i = 0; i < job_n_items(job); i++) {
                        const struct check *chk = job_item_done(job, i);

                        if (!chk)
                                continue;
                        if (!first)
                                sbuf_puts(b, ",");
                        first = false;
                        write_result(b, chk, (long)i);
                }
                sbuf_puts(b, "]");
        }
        sbuf_puts(b, "}");
}

/* --- single check: the pending answer ------------------------------------------------------ */

/* The check loop finished the check: its answer is ready. */
static void check_answer_ready(struct check *chk, void *userdata)
{
        (void)chk;
        pending_fire(userdata);
}

static void check_answer_render(void *payload, const char *request_id, struct api_response *resp)
{
        struct sbuf b = {};
        char *body;
        size_t len;

        write_result(&b, payload, -1);
        if (sbuf_take(&b, &body, &len) < 0)
                errors_answer(resp, -ENOMEM, "out of memory", NULL, request_id);
        else
                resp_set_body(resp, 200, "application/json", body, len);
}

static void check_answer_drop(void *payload)
{
        check_unref(payload);
}

static const struct pending_ops check_answer_ops = {
        .render = check_answer_render,
        .drop = check_answer_drop,
};

int checks_run(struct call *c)
{
        static const char *const own[] = { "portal" };
        _cleanup_(json_decrefp) json_t *j = NULL;
        struct check_spec spec = {};
        struct api_pending *p;
        struct check *chk = NULL;
        json_t *portal;
        int r;

        r = call_read_object(c, &j);
        if (r < 0)
                return r;

        r = engine_check_spec_init(c->api->engine, c->param, &spec);
        if (r == -ENOENT) {
                snprintf(c->detail, sizeof(c->detail), "no iface named '%.64s'", c->param);
                return r;
        }
        if (r < 0)
                return r;

        portal = json_object_get(j, "portal");
        if (!portal)
                return call_invalid(c, "portal", "is required");
        r = parse_portal(c, portal, "portal", &spec.portal);
        if (r >= 0)
                r = parse_common(c, j, &spec, own, ELEMENTSOF(own));
        if (r < 0) {
                explicit_bzero(&spec, sizeof(spec));
                return r;
        }

        p = pending_new(c->req->request_id);
        if (!p) {
                explicit_bzero(&spec, sizeof(spec));
                return -ENOMEM;
        }
        /* The answer is fired by the check loop, and sent only after this handler returned. Its
         * steps go to the event stream as they end (check.progress, check.finished). */
        spec.events = true;
        r = engine_check_submit(c->api->engine, &spec, check_answer_ready, p, &chk);
        explicit_bzero(&spec, sizeof(spec));
        if (r < 0) {
                pending_free(p);
                if (r == -ESHUTDOWN)
                        snprintf(c->detail, sizeof(c->detail), "the daemon is stopping");
                return r;
        }
        pending_set_payload(p, &check_answer_ops, chk);
        c->resp->pending = p;
        return 0;
}

/* --- jobs ---------------------------------------------------------------------------------- */

static int job_created(struct call *c, struct job *job, bool existing)
{
        struct sbuf b = {};
        struct job_info info;
        char loc[64];
        int r;

        job_get_info(job, &info);
        snprintf(loc, sizeof(loc), "/api/v1/jobs/%s", info.id);
        write_job(&b, job, false);
        r = call_reply_json(c, 202, &b);
        if (r >= 0)
                r = resp_add_header(c->resp, "Location", loc);
        if (r >= 0 && existing)
                r = resp_add_header(c->resp, "Idempotent-Replayed", "true");
        return r;
}

int checks_job_create(struct call *c)
{
        static const char *const own[] = { "ifaces", "portals" };
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ struct check_spec *specs = NULL;
        struct sockaddr_storage *portals = NULL;
        const char *key = c->req->idempotency_key;
        struct check_spec common = {};
        json_t *ifaces, *jportals, *v;
        size_t n_ifaces, n_portals, i, n = 0;
        struct job *job = NULL;
        char scoped[JOB_SCOPE_MAX + 1 + JOB_KEY_MAX + 1];
        const char *skey;
        bool existing;
        int r;

        r = call_scoped_key(c, scoped, sizeof(scoped), &skey);
        if (r < 0)
                return r;

        r = call_read_object(c, &j);
        if (r < 0)
                return r;

        ifaces = json_object_get(j, "ifaces");
        jportals = json_object_get(j, "portals");
        if (!json_is_array(ifaces) || json_array_size(ifaces) == 0 ||
            json_array_size(ifaces) > JOB_IFACES_MAX)
                return call_invalid(c, "ifaces", "must be an array of 1 to %d iface names",
                                    JOB_IFACES_MAX);
        if (!json_is_array(jportals) || json_array_size(jportals) == 0 ||
            json_array_size(jportals) > JOB_ITEMS_MAX)
                return call_invalid(c, "portals", "must be an array of 1 to %d portals",
                                    JOB_ITEMS_MAX);
        n_ifaces = json_array_size(ifaces);
        n_portals = json_array_size(jportals);
        if (n_ifaces * n_portals > JOB_ITEMS_MAX)
                return call_invalid(c, "portals",
                                    "ifaces x portals is %zu checks; a job runs at most %d",
                                    n_ifaces * n_portals, JOB_ITEMS_MAX);

        r = parse_common(c, j, &common, own, ELEMENTSOF(own));
        if (r < 0)
                goto out;

        portals = calloc(n_portals, sizeof(*portals));
        specs = calloc(n_ifaces * n_portals, sizeof(*specs));
        if (!portals || !specs) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach (jportals, i, v) {
                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "portals[%zu]", i);
                r = parse_portal(c, v, c->err.field_buf, &portals[i]);
                if (r < 0)
                        goto out;
        }
        json_array_foreach (ifaces, i, v) {
                struct check_spec base = common;

                if (!json_is_string(v) ||
                    (r = engine_check_spec_init(c->api->engine, json_string_value(v), &base)) < 0) {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "ifaces[%zu]", i);
                        explicit_bzero(&base, sizeof(base));
                        r = call_invalid(c, c->err.field_buf, "no iface of that name");
                        goto out;
                }
                for (size_t k = 0; k < n_portals; k++) {
                        specs[n] = base;
                        specs[n].portal = portals[k];
                        n++;
                }
                explicit_bzero(&base, sizeof(base));
        }

        r = engine_job_start(c->api->engine, specs, n, skey, call_body_hash(c), &job, &existing);
        if (r == -EILSEQ)
                snprintf(c->detail, sizeof(c->detail),
                         "Idempotency-Key '%s' was used for a different request body", key);
        else if (r == -EAGAIN)
                snprintf(c->detail, sizeof(c->detail), "%d jobs are running; try again later",
                         JOB_MAX);
        if (r >= 0) {
                r = job_created(c, job, existing);
                job_unref(job);
        }
out:
        explicit_bzero(&common, sizeof(common));
        if (specs)
                explicit_bzero(specs, n_ifaces * n_portals * sizeof(*specs));
        free(portals);
        return r;
}

int jobs_list(struct call *c)
{
        struct job **a = NULL;
        struct sbuf b = {};
        size_t n = 0;
        int r;

        r = engine_job_list(c->api->engine, &a, &n);
        if (r < 0)
                return r;
        sbuf_puts(&b, "{\"jobs\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                write_job(&b, a[i], false);
                job_unref(a[i]);
        }
        free(a);
        sbuf_puts(&b, "]}");
        return call_reply_json(c, 200, &b);
}

int jobs_get(struct call *c)
{
        struct job *job;
        struct sbuf b = {};
        int r;

        r = engine_job_get(c->api->engine, c->param, &job);
        if (r == -ENOENT)
                snprintf(c->detail, sizeof(c->detail),
                         "no job '%.64s' (finished jobs are kept 15 "
                         "minutes)",
                         c->param);
        if (r < 0)
                return r;
        write_job(&b, job, true);
        job_unref(job);
        return call_reply_json(c, 200, &b);
}

int jobs_delete(struct call *c)
{
        int r;

        r = engine_job_cancel_or_remove(c->api->engine, c->param);
        if (r == -ENOENT) {
                snprintf(c->detail, sizeof(c->detail), "no job '%.64s'", c->param);
                return r;
        }
        if (r == 1) {
                resp_set_body(c->resp, 204, NULL, NULL, 0);
                return 0;
        }
        return jobs_get(c);
}
