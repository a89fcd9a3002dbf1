/* SPDX-License-Identifier: MIT */
/*
 * The only interface server/ sees: a plain request in, status + headers + body out. server/
 * never learns what an iface is; api/ never learns what libmicrohttpd is.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

struct engine;
struct api;

#define API_MAX_BODY    (64 * 1024) /* larger bodies are refused with 413 */
#define API_MAX_HEADERS 8

struct api_arg {
        const char *key;
        const char *value; /* may be NULL for "?flag" */
};

struct api_request {
        const char *method;
        const char *path;           /* decoded path, no query */
        const struct api_arg *args; /* decoded query arguments */
        size_t n_args;
        const char *content_type; /* NULL if absent */
        const char *accept;
        const char *if_match;
        const char *if_none_match;   /* If-None-Match: a matching ETag on a GET answers 304 */
        const char *last_event_id;   /* Last-Event-ID, for GET /api/v1/events */
        const char *request_id;      /* X-Request-Id, NULL if absent */
        const char *idempotency_key; /* Idempotency-Key, NULL if absent */
        const char *authorization;   /* the Authorization header, NULL if absent */
        int64_t start_usec; /* CLOCK_MONOTONIC when the request came in; 0: api_handle()'s call */
        bool has_peer_uid;  /* a unix socket peer: its uid is known (SO_PEERCRED) */
        unsigned peer_uid;
        const char *client; /* who failures count against: an IP or "uid:N" */
        const char *body;   /* NULL if none */
        size_t body_len;
        int body_too_large; /* server stopped reading at API_MAX_BODY */
        /*
         * A --metrics-listen listener: only GET /metrics is served. metrics_open: it is loopback
         * or unix, and the listener itself is the access rule (no credential; role viewer).
         */
        bool metrics_only;
        bool metrics_open;
        /*
         * The server may run a durable write on the thread that called api_handle(): that thread
         * serves this connection alone and another of its listener's threads is free (server/,
         * docs/decisions.md "A lone write runs on its HTTP thread"). The api does so only when
         * no other write is queued or being made durable; otherwise it queues it for a writer
         * thread as always.
         */
        bool run_here;
};

struct api_header {
        const char *name; /* static */
        char *value;      /* owned */
};

/* An answer that comes later: see api_pending_wait(). */
struct api_pending;
/* An answer without an end (server-sent events): see api_stream_read(). */
struct api_stream;

struct api_response {
        struct api_pending *pending; /* set: nothing else is; the answer comes later */
        struct api_stream *stream;   /* set: status and headers are, no body; stream it */
        int status;
        const char *content_type; /* static */
        char *body;               /* owned, may be NULL */
        size_t body_len;
        struct api_header headers[API_MAX_HEADERS];
        size_t n_headers;
        bool after_answer; /* a write ran here: call api_after_answer() once the answer is sent */
};

/* Create the API over an engine (borrowed). Returns 0 or -ENOMEM. */
int api_new(struct engine *e, struct api **ret);
struct api *api_free(struct api *a);

/* Who may do what (docs/security.md). Without a call, auth is off (the in-process tests). */
struct api_unix_role {
        unsigned uid;
        const char *role; /* "viewer", "operator" or "admin" */
};

/* The defaults of the auth settings (also the daemon's --rate-limit and --rate-burst). */
#define API_RATE_LIMIT_DEFAULT     100  /* requests/s per token */
#define API_RATE_BURST_DEFAULT     200  /* the token bucket's size */
#define API_TARPIT_BASE_MS_DEFAULT 100  /* first delay for a client that keeps failing */
#define API_TARPIT_MAX_MS_DEFAULT  5000 /* the cap of the doubling delays */

struct api_auth_config {
        bool enabled;  /* off: everyone may do everything (loopback only; main.c checks) */
        bool insecure; /* --insecure: shown in health */
        const struct api_unix_role *unix_roles;
        size_t n_unix_roles;
        double rate_limit; /* requests/s per token */
        double rate_burst;
        unsigned tarpit_base_ms; /* first delay of the tarpit, 0 = API_TARPIT_BASE_MS_DEFAULT */
        unsigned tarpit_max_ms;  /* its cap, 0 = API_TARPIT_MAX_MS_DEFAULT */
};

/*
 * Returns 0, or -EINVAL (an unknown role name, a role for uid 0, which is always admin, too many
 * unix roles, a rate <= 0).
 */
int api_set_auth(struct api *a, const struct api_auth_config *cfg);

/*
 * The daemon is stopping: answer every delayed response now and cancel the checks and jobs, so
 * that suspended requests complete and the server can drain.
 */
void api_shutdown(struct api *a);

/*
 * Run durable writes (records, tokens) on the API's writer threads and answer them through
 * api_pending, so that an HTTP thread never waits for an fsync. Off by default, for servers that
 * cannot suspend a connection; the daemon and the harness turn it on.
 */
void api_set_defer_writes(struct api *a, bool on);

/* Handle one request. Always fills resp (errors become problem+json). Thread-safe. */
void api_handle(struct api *a, const struct api_request *req, struct api_response *resp);

/*
 * A problem+json answer for the failure r (-EINVAL: 400, -E2BIG: 413, ...; the same map as every
 * other answer), for what the server refuses before a request reaches the API (framing, encoded
 * NULs). resp is overwritten; release it with api_response_done().
 */
void api_problem(struct api_response *resp, int r, const char *detail, const char *field,
                 const char *request_id);

/*
 * The same for a status that no engine failure maps to: 414 and 431, the size limits of the
 * request line and headers that server/ enforces (docs/security.md "Limits").
 */
void api_problem_status(struct api_response *resp, int status, const char *detail,
                        const char *request_id);

/* Release what resp owns. */
void api_response_done(struct api_response *resp);

/* The defaults and bounds of the event streams (the daemon's --event-streams, --event-heartbeat). */
#define API_EVENT_STREAMS_DEFAULT      64
#define API_EVENT_STREAMS_MAX          4096
#define API_EVENT_HEARTBEAT_MS_DEFAULT 15000

struct api_events_config {
        unsigned max_streams;  /* streams open at once; more get 503. 0: the default */
        unsigned heartbeat_ms; /* a comment line after this much silence. 0: the default */
};

/* 0, or -EINVAL (over API_EVENT_STREAMS_MAX, or a heartbeat over an hour). */
int api_set_events(struct api *a, const struct api_events_config *cfg);

/*
 * A response with stream set is a body without an end, read in pieces. The server calls
 * api_stream_attach() once before the first read, with ops it runs under the stream's lock:
 *  - suspend(userdata): api_stream_read() is about to return 0 (nothing to send now); the
 *    server must suspend the connection (from its content callback) and not read again until
 *  - wake(userdata): something is due (events, a heartbeat, the stop); resume the connection.
 *    Called on any thread, only after suspend;
 *  - drop(userdata): the client does not read and the stream must go (it fell behind, or the
 *    daemon stops): make the connection fail now (e.g. shutdown() its socket) without waiting
 *    for the client. Any thread; at most once.
 * api_stream_free() when the request is over (whatever happened) releases it.
 */
struct api_stream_ops {
        void (*suspend)(void *userdata);
        void (*wake)(void *userdata);
        void (*drop)(void *userdata);
};

#define API_STREAM_END   (-1) /* the regular end (the daemon stops) */
#define API_STREAM_ERROR (-2) /* close the connection now (dropped) */

void api_stream_attach(struct api_stream *s, const struct api_stream_ops *ops, void *userdata);
/*
 * Copy up to max bytes of the stream into buf: > 0 bytes, 0 (nothing now: suspend was called),
 * API_STREAM_END or API_STREAM_ERROR. Thread-safe, but one reader at a time.
 */
ssize_t api_stream_read(struct api_stream *s, char *buf, size_t max);
void api_stream_free(struct api_stream *s);

/*
 * A response with pending set has no answer yet: the work runs elsewhere and no thread waits on
 * it. The server suspends the connection, then calls this once: notify(userdata) runs exactly
 * once, on any thread, as soon as the answer is ready (possibly before this returns). Then, on
 * a thread of its own, the server calls api_pending_finish() to get the answer; that frees p.
 */
void api_pending_wait(struct api_pending *p, void (*notify)(void *userdata), void *userdata);
void api_pending_finish(struct api_pending *p, struct api_response *resp);

/*
 * After the answer of a write run on the server's thread (after_answer set) has been sent: what
 * a writer thread does after its answer, on that thread (the rows of the write that followed
 * its answer, engine_after_write()).
 */
void api_after_answer(struct api *a);
