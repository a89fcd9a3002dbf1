/* SPDX-License-Identifier: MIT */
/* The entry point server/ calls: routing a plain request to its handler and filling the reply. */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "counters.h"
#include "engine.h"
#include "hash.h"
#include "internal.h"
#include "macro.h"

void api_after_answer(struct api *a)
{
        engine_after_write(a->engine);
}

/* A writer thread's answer is on its way: the same. */
static void writer_after_answer(void *ud)
{
        api_after_answer(ud);
}

int api_new(struct engine *e, struct api **ret)
{
        struct api *a;
        int r;

        assert_return(e && ret, -EINVAL);

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->engine = e;
        a->auth_cfg.rate_limit = API_RATE_LIMIT_DEFAULT;
        a->auth_cfg.rate_burst = API_RATE_BURST_DEFAULT;
        a->auth_cfg.tarpit_base_usec = (int64_t)API_TARPIT_BASE_MS_DEFAULT * 1000;
        a->auth_cfg.tarpit_max_usec = (int64_t)API_TARPIT_MAX_MS_DEFAULT * 1000;
        r = auth_state_new(&a->auth);
        if (r >= 0)
                r = counters_new(api_routes, api_n_routes, &a->counters);
        if (r >= 0)
                r = pending_queues_start(&a->pq, writer_after_answer, a);
        if (r >= 0)
                r = event_hub_start(&a->hub, engine_event_bus(e));
        if (r < 0) {
                api_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

struct api *api_free(struct api *a)
{
        if (!a)
                return NULL;
        event_hub_done(&a->hub);
        pending_queues_done(&a->pq);
        auth_state_free(a->auth);
        counters_free(a->counters);
        free(a);
        return NULL;
}

int api_set_auth(struct api *a, const struct api_auth_config *cfg)
{
        struct api_auth_cfg n = {
                .enabled = cfg->enabled,
                .insecure = cfg->insecure,
                .rate_limit = cfg->rate_limit,
                .rate_burst = cfg->rate_burst,
                .tarpit_base_usec =
                        (int64_t)(cfg->tarpit_base_ms ?: API_TARPIT_BASE_MS_DEFAULT) * 1000,
                .tarpit_max_usec =
                        (int64_t)(cfg->tarpit_max_ms ?: API_TARPIT_MAX_MS_DEFAULT) * 1000,
        };

        if (cfg->n_unix_roles > API_UNIX_ROLES_MAX || !(cfg->rate_limit > 0) ||
            !(cfg->rate_burst >= 1))
                return -EINVAL;
        for (size_t i = 0; i < cfg->n_unix_roles; i++) {
                n.unix_roles[i].uid = cfg->unix_roles[i].uid;
                n.unix_roles[i].role = role_from_string(cfg->unix_roles[i].role);
                if (n.unix_roles[i].role == ROLE_NONE || n.unix_roles[i].uid == 0)
                        return -EINVAL; /* uid 0 is always admin */
        }
        n.n_unix_roles = cfg->n_unix_roles;
        a->auth_cfg = n;
        return 0;
}

void api_shutdown(struct api *a)
{
        engine_stop_checks(a->engine);
        engine_stop_writes(a->engine); /* no write waits for iscsiadm's lock any more */
        pending_queues_stop(&a->pq);
        event_hub_stop(&a->hub); /* streams end now, not after the drain's timeout */
}

void api_set_defer_writes(struct api *a, bool on)
{
        a->defer_writes = on;
}

/* Run the handler of route for c; failures become a problem answer. */
static void run_call(struct call *c, const struct route *route)
{
        int r = route->fn(c);

        if (r < 0) {
                /* Drop whatever a handler prepared before it failed. */
                for (size_t i = 0; i < c->resp->n_headers; i++)
                        free(c->resp->headers[i].value);
                c->resp->n_headers = 0;
                errors_from_call(c, r);
        }
        free(c->problem_extra);
        c->problem_extra = NULL;
}

/*
 * A ROUTE_DURABLE request for a writer thread. The request's strings stay valid while the
 * connection is suspended (headers, arguments and body belong to it until it completes); the few
 * that live on the server's stack are copied.
 */
struct deferred_call {
        struct api *api;
        struct api_request req;
        const struct route *route;
        char param[256];
        bool has_param;
        char actor[48];
        int64_t start_usec;
        char *owned[2];
};

static void deferred_call_free(void *job)
{
        struct deferred_call *d = job;

        for (size_t i = 0; i < ELEMENTSOF(d->owned); i++)
                free(d->owned[i]);
        free(d);
}

static void deferred_call_run(void *job, struct api_response *ready)
{
        struct deferred_call *d = job;
        struct call c = {
                .api = d->api,
                .req = &d->req,
                .resp = ready,
                .param = d->has_param ? d->param : NULL,
                .start_usec = d->start_usec,
        };

        snprintf(c.actor, sizeof(c.actor), "%s", d->actor);
        run_call(&c, d->route);
}

static const struct pending_job_ops deferred_call_ops = {
        .run = deferred_call_run,
        .free = deferred_call_free,
};

/* Queue c for a writer thread; its answer becomes pending. 0, or -1: run it here instead. */
static int defer_call(struct call *c, const struct route *route)
{
        struct deferred_call *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        d->api = c->api;
        d->req = *c->req;
        d->req.client = d->owned[0] = c->req->client ? strdup(c->req->client) : NULL;
        d->req.request_id = d->owned[1] = c->req->request_id ? strdup(c->req->request_id) : NULL;
        d->req.authorization = NULL; /* checked already; never kept */
        d->route = route;
        d->has_param = c->param != NULL;
        if (c->param)
                snprintf(d->param, sizeof(d->param), "%s", c->param);
        snprintf(d->actor, sizeof(d->actor), "%s", c->actor);
        d->start_usec = c->start_usec;
        if ((c->req->client && !d->owned[0]) || (c->req->request_id && !d->owned[1]) ||
            pending_queue_job(&c->api->pq, c->resp, c->req->request_id, &deferred_call_ops, d) <
                    0) {
                deferred_call_free(d);
                return -1;
        }
        return 0;
}

/* Route and answer req; *ret_route gets the index of its route in the table (api_n_routes: none). */
static void handle(struct call *c0, size_t *ret_route)
{
        struct call c = *c0;
        struct api *a = c.api;
        const struct api_request *req = c.req;
        struct api_response *resp = c.resp;
        const struct route *route = NULL;
        char param[256], allow[128];
        bool here = false;
        int r;

        *resp = (struct api_response){};

        switch (router_match(api_routes, api_n_routes, req->method, req->path, &route, param,
                             sizeof(param), &c.param, allow, sizeof(allow))) {
        case ROUTER_NOT_FOUND:
                *ret_route = api_n_routes;
                errors_answer(resp, -ENOENT, "no such resource", NULL, req->request_id);
                return;
        case ROUTER_BAD_METHOD:
                *ret_route = router_path_index(api_routes, api_n_routes, req->path);
                errors_answer(resp, -EOPNOTSUPP, "method not allowed on this resource", NULL,
                              req->request_id);
                (void)resp_add_header(resp, "Allow", allow);
                return;
        case ROUTER_FOUND:
                *ret_route = (size_t)(route - api_routes);
                break;
        }
        if (req->metrics_only && !streq(route->path, "/metrics")) {
                errors_answer(resp, -ENOENT, "this listener serves only GET /metrics", NULL,
                              req->request_id);
                return;
        }

        if (req->body_too_large) {
                snprintf(c.detail, sizeof(c.detail), "the body exceeds %d bytes", API_MAX_BODY);
                errors_from_call(&c, -E2BIG);
                return;
        }

        if (req->metrics_open) {
                snprintf(c.actor, sizeof(c.actor), "metrics-listener");
                c.role = ROLE_VIEWER;
                r = route->role <= ROLE_VIEWER ? 0 : -EKEYREJECTED;
        } else
                r = auth_check(&c, route->role);
        if (r == 1)
                return; /* answered: 401, 403 or 429 */
        if (r < 0) {
                errors_from_call(&c, r);
                return;
        }

        /*
         * A write waits for fsync: never on a thread that serves other connections (PERF-NOTES.md).
         * A lone one runs here when the server allows it (run_here) and no other write is queued
         * or being made durable, which it would have to wait for or lead.
         */
        if (a->defer_writes && route->mode == ROUTE_DURABLE) {
                here = req->run_here && !engine_write_busy(a->engine);
                if (here)
                        counters_write_here(a->counters);
                else if (defer_call(&c, route) == 0)
                        return;
        }
        /* A route not marked durable must not reach an fsync here (engine.h). */
        engine_thread_forbid_durable(route->mode != ROUTE_DURABLE);
        run_call(&c, route);
        engine_thread_forbid_durable(false);
        resp->after_answer = here;
}

/*
 * Does the If-None-Match list name etag (weak comparison, RFC 9110 13.1.2: "W/" ignored; "*"
 * matches any)? A malformed list matches nothing: the full answer is always safe.
 */
static bool if_none_match_has(const char *list, const char *etag)
{
        size_t elen = strlen(etag);
        const char *p = list;

        for (;;) {
                const char *q;

                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                if (!*p)
                        return false;
                if (*p == '*')
                        return true;
                if (strncmp(p, "W/", 2) == 0)
                        p += 2;
                if (*p != '"')
                        return false;
                q = strchr(p + 1, '"');
                if (!q)
                        return false;
                if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
                        return true;
                p = q + 1;
        }
}

/*
 * Conditional GET (docs/events.md): a 200 to GET or HEAD without an ETag of its own (records
 * have their revision) gets one from a hash of its body, and an If-None-Match naming the ETag
 * turns the answer into a 304 without a body.
 */
static void conditional_get(const struct api_request *req, size_t route, struct api_response *resp)
{
        /* Not resources: live status read anew on each call (health, metrics, who am I), and
         * the contract itself; openapi.yaml documents ETag and 304 on the resources only. */
        static const char *const live[] = { "/api/v1/health", "/api/v1/whoami", "/metrics",
                                            "/openapi.yaml" };
        const char *etag = NULL;
        char buf[24];

        if (resp->pending || resp->stream || resp->status != 200 ||
            !(streq(req->method, "GET") || streq(req->method, "HEAD")) || route >= api_n_routes)
                return;
        for (size_t i = 0; i < ELEMENTSOF(live); i++)
                if (streq(api_routes[route].path, live[i]))
                        return;
        for (size_t i = 0; i < resp->n_headers; i++)
                if (strcasecmp(resp->headers[i].name, "ETag") == 0)
                        etag = resp->headers[i].value;
        if (!etag) {
                if (!resp->body)
                        return;
                snprintf(buf, sizeof(buf), "\"%016" PRIx64 "\"",
                         hash64(resp->body, resp->body_len));
                if (resp_add_header(resp, "ETag", buf) < 0)
                        return;
                etag = buf;
        }
        if (!req->if_none_match || !if_none_match_has(req->if_none_match, etag))
                return;
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
        resp->content_type = NULL; /* a 304 has no body, so no media type (RFC 9110 15.4.5) */
        resp->status = 304;
}

void api_handle(struct api *a, const struct api_request *req, struct api_response *resp)
{
        struct call c = { .api = a,
                          .req = req,
                          .resp = resp,
                          .start_usec = req->start_usec ?: clock_usec(CLOCK_MONOTONIC) };
        size_t route = api_n_routes;
        uint32_t key;

        counters_begin(a->counters);
        handle(&c, &route);
        conditional_get(req, route, resp);
        key = counters_key(a->counters, route, req->method);
        if (resp->pending) {
                /* Counted when the server takes the answer (api_pending_finish). */
                resp->pending->counters = a->counters;
                resp->pending->counters_key = key;
                resp->pending->counters_start_usec = c.start_usec;
        } else
                counters_end(a->counters, key, c.start_usec, resp->status);
}
