/* SPDX-License-Identifier: MIT */
/* The request and response helpers every handler uses: bodies, headers, JSON in, errors out. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "internal.h"
#include "macro.h"

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

void api_response_done(struct api_response *resp)
{
        if (!resp)
                return;
        free(resp->body);
        for (size_t i = 0; i < resp->n_headers; i++)
                free(resp->headers[i].value);
        *resp = (struct api_response){};
}
