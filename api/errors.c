/* SPDX-License-Identifier: MIT */
/* The one map from -errno to HTTP status, and RFC 9457 problem+json bodies. */
#include <stdio.h>

#include "internal.h"
#include "log.h"
#include "macro.h"

static const struct {
        int status;
        const char *slug;
        const char *title;
} problems[] = {
        { 400, "validation", "Invalid request" },
        { 401, "unauthorized", "Authentication required" },
        { 403, "forbidden", "Forbidden" },
        { 404, "not-found", "Not found" },
        { 405, "method-not-allowed", "Method not allowed" },
        { 409, "conflict", "Conflict" },
        { 412, "precondition-failed", "Precondition failed" },
        { 413, "payload-too-large", "Request body too large" },
        { 414, "uri-too-long", "URI too long" },
        { 415, "unsupported-media-type", "Unsupported media type" },
        { 422, "idempotency-key-reused", "Idempotency-Key reused with another request" },
        { 429, "rate-limited", "Too many requests" },
        { 431, "headers-too-large", "Request header fields too large" },
        { 500, "internal", "Internal error" },
        { 501, "not-implemented", "Not implemented" },
        { 503, "unavailable", "Service unavailable" },
        { 507, "insufficient-storage", "Insufficient storage" },
};

int errors_status(int r)
{
        switch (r) {
        case -EINVAL:
        case -EBADMSG:
        case -ERANGE:
                return 400;
        case -ENOKEY: /* no credential, or one that is not valid */
                return 401;
        case -EKEYREJECTED: /* a valid credential without the role */
                return 403;
        case -ENOENT:
                return 404;
        case -EOPNOTSUPP: /* a known path without this method */
                return 405;
        case -EEXIST:
        case -EPERM:
        case -EBUSY:
        case -EISDIR:
        case -ENOTEMPTY: /* an iface with bindings */
                return 409;
        case -ESTALE:
                return 412;
        case -E2BIG:
                return 413;
        case -EMEDIUMTYPE:
                return 415;
        case -EILSEQ:
                return 422;
        case -EDQUOT: /* over the rate limit */
                return 429;
        case -ETIMEDOUT:
        case -EAGAIN:
        case -ESHUTDOWN:
        case -EROFS:
        case -EBADFD:  /* the db or ifaces/ was deleted or replaced under the daemon */
        case -EACCES:  /* a permission taken away under the daemon (it runs as root) */
        case -EUCLEAN: /* the database is damaged */
                return 503;
        case -ENOSPC:
                return 507;
        case -ENOSYS: /* a transport this daemon does not drive (offload discovery) */
                return 501;
        default:
                return 500;
        }
}

void errors_problem(struct api_response *resp, int status, const char *detail, const char *field,
                    const char *request_id)
{
        errors_problem_ex(resp, status, detail, field, request_id, NULL);
}

static void problem(struct api_response *resp, int status, const char *slug, const char *title,
                    const char *detail, const char *field, const char *request_id,
                    const char *extra)
{
        struct sbuf b = {};
        char *body = NULL;
        size_t len = 0;

        sbuf_puts(&b, "{\"type\":");
        sbuf_printf(&b, "\"urn:iscsi-ifaced:problem:%s\"", slug);
        sbuf_puts(&b, ",\"title\":");
        sbuf_json_string(&b, title);
        sbuf_printf(&b, ",\"status\":%d", status);
        if (!isempty(detail)) {
                sbuf_puts(&b, ",\"detail\":");
                sbuf_json_string(&b, detail);
        }
        if (field) {
                sbuf_puts(&b, ",\"field\":");
                sbuf_json_string(&b, field);
        }
        if (request_id) {
                sbuf_puts(&b, ",\"request_id\":");
                sbuf_json_string(&b, request_id);
        }
        if (!isempty(extra))
                sbuf_printf(&b, ",%s", extra);
        sbuf_puts(&b, "}");

        if (sbuf_take(&b, &body, &len) < 0) {
                resp->status = status;
                return;
        }
        resp_set_body(resp, status, "application/problem+json", body, len);
}

void errors_problem_ex(struct api_response *resp, int status, const char *detail, const char *field,
                       const char *request_id, const char *extra)
{
        size_t i;

        for (i = 0; i < ELEMENTSOF(problems) - 1; i++)
                if (problems[i].status == status)
                        break;
        problem(resp, status, problems[i].slug, problems[i].title, detail, field, request_id,
                extra);
}

void errors_problem_typed(struct api_response *resp, int status, const char *slug,
                          const char *title, const char *detail, const char *request_id,
                          const char *extra)
{
        problem(resp, status, slug, title, detail, NULL, request_id, extra);
}

void errors_answer(struct api_response *resp, int r, const char *detail, const char *field,
                   const char *request_id)
{
        errors_problem(resp, errors_status(r), detail, field, request_id);
}

void api_problem(struct api_response *resp, int r, const char *detail, const char *field,
                 const char *request_id)
{
        *resp = (struct api_response){};
        errors_answer(resp, r, detail, field, request_id);
}

void api_problem_status(struct api_response *resp, int status, const char *detail,
                        const char *request_id)
{
        *resp = (struct api_response){};
        errors_problem(resp, status, detail, NULL, request_id);
}

void errors_from_call(struct call *c, int r)
{
        int status = errors_status(r);
        const char *detail = c->err.reason[0] ? c->err.reason : c->detail;
        char buf[256];

        if (isempty(detail) && r == -EBADFD)
                detail = "the database or the iscsi db root was deleted or replaced while the "
                         "daemon runs: nothing was changed; see GET /api/v1/health";
        if (isempty(detail) && r == -EUCLEAN)
                detail = "the database is damaged: nothing was changed; see GET /api/v1/health";
        if (status >= 500) {
                /* The one log line of a failed request (the engine returns, it does not log). */
                log_error("%s %s failed (%d, id %s): %s", c->req->method, c->req->path, status,
                          c->req->request_id ? c->req->request_id : "-",
                          !isempty(detail) ? detail : strerror(-r));
                if (isempty(detail)) {
                        snprintf(buf, sizeof(buf), "%s", strerror(-r));
                        detail = buf;
                }
        }
        errors_problem_ex(c->resp, status, detail,
                          /* A 404 names the member that names what is missing (an iface). */
                          status == 400 || status == 404 ? c->err.field : NULL, c->req->request_id,
                          c->problem_extra);
        /* A busy lock or a job table full of running jobs clears up soon: say when to retry. */
        if (r == -ETIMEDOUT || r == -EAGAIN || r == -EROFS || r == -EBADFD || r == -EACCES ||
            r == -EUCLEAN)
                (void)resp_add_header(c->resp, "Retry-After", "1");
}
