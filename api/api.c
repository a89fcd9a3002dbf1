/* SPDX-License-Identifier: MIT */
/* The entry point server/ calls: routing a plain request to its handler and filling the reply. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

int api_new(struct engine *e, struct api **ret)
{
        struct api *a;
        int r;

        assert_return(e && ret, -EINVAL);

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->engine = e;
        a->auth_cfg.rate_limit = 100;
        a->auth_cfg.rate_burst = 200;
        a->auth_cfg.tarpit_base_usec = 100 * 1000;
        a->auth_cfg.tarpit_max_usec = 5000 * 1000;
        r = auth_state_new(&a->auth);
        if (r >= 0)
                r = api_timers_start(a);
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
                .tarpit_base_usec = (int64_t)(cfg->tarpit_base_ms ?: 100) * 1000,
                .tarpit_max_usec = (int64_t)(cfg->tarpit_max_ms ?: 5000) * 1000,
        };

        if (cfg->n_unix_roles > API_UNIX_ROLES_MAX || !(cfg->rate_limit > 0) ||
            !(cfg->rate_burst >= 1))
                return -EINVAL;
        for (size_t i = 0; i < cfg->n_unix_roles; i++) {
                n.unix_roles[i].uid = cfg->unix_roles[i].uid;
                n.unix_roles[i].role = role_from_string(cfg->unix_roles[i].role);
                if (n.unix_roles[i].role == ROLE_NONE)
                        return -EINVAL;
        }
        n.n_unix_roles = cfg->n_unix_roles;
        a->auth_cfg = n;
        return 0;
}

void api_shutdown(struct api *a)
{
        engine_stop_checks(a->engine);
        api_timers_stop(a);
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

void api_handle(struct api *a, const struct api_request *req, struct api_response *resp)
{
        struct call c = { .api = a, .req = req, .resp = resp };
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
        if (r == 0)
                r = route->fn(&c);
        if (r < 0) {
                /* Drop whatever a handler prepared before it failed. */
                for (size_t i = 0; i < resp->n_headers; i++)
                        free(resp->headers[i].value);
                resp->n_headers = 0;
                errors_from_call(&c, r);
        }
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
