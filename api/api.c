/* SPDX-License-Identifier: MIT */
/* The entry point server/ calls: routing a plain request to its handler and filling the reply. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

static int writers_start(struct api *a);
static void writers_stop(struct api *a);

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
                r = api_timers_start(a);
        if (r >= 0)
                r = writers_start(a);
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
        writers_stop(a);
        if (a->writers_inited) {
                pthread_cond_destroy(&a->write_cond);
                pthread_mutex_destroy(&a->write_lock);
        }
        api_timers_stop(a);
        if (a->timer_inited) {
                pthread_cond_destroy(&a->timer_cond);
                pthread_mutex_destroy(&a->timer_lock);
        }
        auth_state_free(a->auth);
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
        writers_stop(a);
        api_timers_stop(a);
}

void api_set_defer_writes(struct api *a, bool on)
{
        a->defer_writes = on;
}

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

void api_pending_free(struct api_pending *p)
{
        for (size_t i = 0; i < ELEMENTSOF(p->owned); i++)
                free(p->owned[i]);
        pthread_mutex_destroy(&p->lock);
        free(p);
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
}

/* The routes whose work ends in an fsync (a record, a token): they run on a writer thread. */
static bool route_is_durable_write(const struct route *route)
{
        return route->fn == ifaces_create || route->fn == ifaces_replace ||
               route->fn == ifaces_patch || route->fn == ifaces_delete ||
               route->fn == tokens_create_post || route->fn == tokens_delete ||
               route->fn == ifaces_restore_files;
}

static void *writer_thread(void *arg)
{
        struct api *a = arg;

        for (;;) {
                struct api_pending *p;
                struct call c;

                pthread_mutex_lock(&a->write_lock);
                while (!a->write_head && !a->writers_stopping)
                        pthread_cond_wait(&a->write_cond, &a->write_lock);
                p = a->write_head;
                if (p) {
                        a->write_head = p->next;
                        if (!a->write_head)
                                a->write_tail = NULL;
                }
                pthread_mutex_unlock(&a->write_lock);
                if (!p)
                        break; /* stopping, and the queue is drained */

                c = (struct call){
                        .api = a,
                        .req = &p->req,
                        .resp = &p->ready,
                        .param = p->has_param ? p->param : NULL,
                };
                snprintf(c.actor, sizeof(c.actor), "%s", p->actor);
                c.start_usec = p->start_usec;
                run_call(&c, p->route);
                api_pending_fire(p);
        }
        return NULL;
}

static int writers_start(struct api *a)
{
        pthread_mutex_init(&a->write_lock, NULL);
        pthread_cond_init(&a->write_cond, NULL);
        a->writers_inited = true;
        for (; a->n_writers < API_WRITERS; a->n_writers++) {
                int r = -pthread_create(&a->writers[a->n_writers], NULL, writer_thread, a);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* Let the writers finish what is queued, then stop them. Later writes run inline. */
static void writers_stop(struct api *a)
{
        if (!a->writers_inited)
                return;
        pthread_mutex_lock(&a->write_lock);
        a->writers_stopping = true;
        pthread_cond_broadcast(&a->write_cond);
        pthread_mutex_unlock(&a->write_lock);
        for (size_t i = 0; i < a->n_writers; i++)
                pthread_join(a->writers[i], NULL);
        a->n_writers = 0;
}

/*
 * Queue c's write for a writer thread and make the answer pending. The request's strings stay
 * valid while the connection is suspended (headers, arguments and body belong to it until it
 * completes); the few that live on the server's stack are copied. Returns 0 (queued), or -1:
 * run it here instead.
 */
static int defer_write(struct call *c, const struct route *route)
{
        struct api *a = c->api;
        struct api_pending *p;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -1;
        pthread_mutex_init(&p->lock, NULL);
        p->req = *c->req;
        p->req.actor = p->owned[0] = c->req->actor ? strdup(c->req->actor) : NULL;
        p->req.client = p->owned[1] = c->req->client ? strdup(c->req->client) : NULL;
        p->req.request_id = p->owned[2] = c->req->request_id ? strdup(c->req->request_id) : NULL;
        p->req.authorization = NULL; /* checked already; never kept */
        if ((c->req->actor && !p->owned[0]) || (c->req->client && !p->owned[1]) ||
            (c->req->request_id && !p->owned[2])) {
                api_pending_free(p);
                return -1;
        }
        p->route = route;
        p->has_param = c->param != NULL;
        if (c->param)
                snprintf(p->param, sizeof(p->param), "%s", c->param);
        snprintf(p->actor, sizeof(p->actor), "%s", c->actor);
        p->start_usec = c->start_usec;
        snprintf(p->request_id, sizeof(p->request_id), "%s", c->req->request_id ?: "");

        pthread_mutex_lock(&a->write_lock);
        if (a->writers_stopping || a->n_writers == 0) {
                pthread_mutex_unlock(&a->write_lock);
                api_pending_free(p);
                return -1;
        }
        if (a->write_tail)
                a->write_tail->next = p;
        else
                a->write_head = p;
        a->write_tail = p;
        pthread_cond_signal(&a->write_cond);
        pthread_mutex_unlock(&a->write_lock);

        c->resp->pending = p;
        return 0;
}

void api_handle(struct api *a, const struct api_request *req, struct api_response *resp)
{
        struct call c = {
                .api = a, .req = req, .resp = resp, .start_usec = clock_usec(CLOCK_MONOTONIC)
        };
        const struct route *route = NULL;
        char param[256], allow[128];
        int r;

        *resp = (struct api_response){};

        switch (router_match(api_routes, api_n_routes, req->method, req->path, &route, param,
                             sizeof(param), &c.param, allow, sizeof(allow))) {
        case ROUTER_NOT_FOUND:
                errors_problem(resp, 404, "no such resource", NULL, req->request_id);
                return;
        case ROUTER_BAD_METHOD:
                errors_problem(resp, 405, "method not allowed on this resource", NULL,
                               req->request_id);
                (void)resp_add_header(resp, "Allow", allow);
                return;
        case ROUTER_FOUND:
                break;
        }

        if (req->body_too_large) {
                snprintf(c.detail, sizeof(c.detail), "the body exceeds %d bytes", API_MAX_BODY);
                errors_from_call(&c, -E2BIG);
                return;
        }

        r = auth_check(&c, route->role);
        if (r == 1)
                return; /* answered: 401, 403 or 429 */
        if (r < 0) {
                errors_from_call(&c, r);
                return;
        }

        /* A write waits for fsync: never on the thread that serves reads (PERF-NOTES.md). */
        if (a->defer_writes && route_is_durable_write(route) && defer_write(&c, route) == 0)
                return;
        run_call(&c, route);
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
