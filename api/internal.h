/* SPDX-License-Identifier: MIT */
/* What the api/ modules share: the per-call state, the route table, JSON helpers, errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>

#include "api.h"
#include "engine.h"
#include "pending.h"

struct engine;
struct auth_state;
struct check;
struct route;

#define API_UNIX_ROLES_MAX 32

struct api_auth_cfg {
        bool enabled;
        bool insecure;
        struct {
                unsigned uid;
                enum role role;
        } unix_roles[API_UNIX_ROLES_MAX];
        size_t n_unix_roles;
        double rate_limit;
        double rate_burst;
        int64_t tarpit_base_usec;
        int64_t tarpit_max_usec;
};

/* The event streams of GET /api/v1/events (events.c). Part of struct api. */
struct event_hub {
        pthread_mutex_t lock; /* before the bus's locks */
        pthread_cond_t cond;  /* CLOCK_MONOTONIC */
        struct event_bus *bus;
        int sub_slot;
        pthread_t thread;
        bool thread_started;
        bool inited;
        bool kick;     /* an event was published since the thread looked */
        bool stopping; /* api_shutdown: streams end, new ones are refused */
        bool exit;     /* the thread ends */
        struct api_stream *streams;
        unsigned n_streams;
        unsigned max_streams;
        int64_t heartbeat_usec;
        atomic_uint_fast64_t dropped; /* streams closed for falling behind, since start */
};

/* Start the hub on bus (may be NULL: streams refused). 0 or -errno (call event_hub_done). */
int event_hub_start(struct event_hub *h, struct event_bus *bus);
/* End every stream (waiting ones at their next read, busy ones dropped); refuse new ones. */
void event_hub_stop(struct event_hub *h);
/* Stop, and release. Idempotent. */
void event_hub_done(struct event_hub *h);
/* Streams open now, and streams dropped since start. */
void event_hub_stats(struct event_hub *h, unsigned *ret_streams, uint64_t *ret_dropped);

struct api {
        struct engine *engine;
        struct api_auth_cfg auth_cfg;
        struct auth_state *auth;

        bool defer_writes;         /* run ROUTE_DURABLE routes on the writer threads */
        struct pending_queues pq;  /* writer threads and delayed answers (pending.c) */
        struct counters *counters; /* for /metrics (counters.h) */
        struct event_hub hub;      /* GET /api/v1/events (events.c) */
};

/* One request as a handler sees it. */
struct call {
        struct api *api;
        const struct api_request *req;
        struct api_response *resp;
        const char *param;      /* the {name} path segment, if the route has one */
        struct iface_error err; /* filled with -EINVAL and friends */
        char detail[256];       /* extra detail for other errors, may be empty */
        char actor[48];         /* who, for the audit: "token:<id>", "uid:<n>", "anonymous" */
        enum role role;         /* what the caller may do (auth_check); all of it without auth */
        int64_t start_usec;     /* when the request was complete (CLOCK_MONOTONIC) */
        char *problem_extra;    /* JSON members added to a problem answer (",..." less), owned */
};

typedef int (*route_fn)(struct call *c);

/* How a route runs. */
enum route_mode {
        ROUTE_INLINE,  /* on the HTTP thread: reads, and work that answers later by itself */
        ROUTE_DURABLE, /* ends in an fsync (a record, a token): on a writer thread (pending.c) */
};

struct route {
        const char *method;
        const char *path; /* segments; "{name}" matches one non-empty segment */
        route_fn fn;
        enum role role;       /* the least role that may call it */
        enum route_mode mode; /* ROUTE_DURABLE for every route that reaches a durable verb */
};

extern const struct route api_routes[];
extern const size_t api_n_routes;

/* Route handlers (ifaces.c, health.c). Each returns 0 with c->resp filled, or -errno. */
int ifaces_list(struct call *c);
int ifaces_create(struct call *c);
int ifaces_get(struct call *c);
int ifaces_replace(struct call *c);
int ifaces_patch(struct call *c);
int ifaces_delete(struct call *c);
int ifaces_restore_files(struct call *c);
int bindings_list(struct call *c);
int bindings_create(struct call *c);
int bindings_get(struct call *c);
int bindings_patch(struct call *c);
int bindings_delete(struct call *c);
/* Put the ids of iface's bindings in c's problem answer ("bindings": [...]). */
int bindings_problem_of_iface(struct call *c, const char *iface);
int discovery_create(struct call *c);
int discovery_list(struct call *c);
int discovery_get(struct call *c);
int discovery_delete(struct call *c);
int health_get(struct call *c);
int nics_list(struct call *c);
int nics_get(struct call *c);
int transports_list(struct call *c);
int hbas_list(struct call *c);
int hbas_get(struct call *c);
int openapi_get(struct call *c);
int checks_run(struct call *c);
int checks_job_create(struct call *c);
int jobs_list(struct call *c);
int jobs_get(struct call *c);
int jobs_delete(struct call *c);
int audit_list(struct call *c);
int sessions_list(struct call *c);
int sessions_create(struct call *c);
int sessions_get(struct call *c);
int sessions_delete(struct call *c);
int sessions_rescan(struct call *c);
int sessions_stats(struct call *c);
int logins_list(struct call *c);
int logins_get(struct call *c);
int logins_delete(struct call *c);
int tokens_list(struct call *c);
int whoami_get(struct call *c);
int metrics_get(struct call *c);
int events_stream(struct call *c);
int tokens_create(struct call *c);
int tokens_delete(struct call *c);

/* auth.c */
int auth_state_new(struct auth_state **ret);
struct auth_state *auth_state_free(struct auth_state *s);
/*
 * Parse "Bearer ifd_<12 hex>_<43 base64url>" (scheme case-insensitive, spaces after it, nothing
 * trailing) into id and secret (NUL-terminated). 0 or -EINVAL.
 */
int auth_parse_bearer(const char *header, char id[static 13], char secret[static 64]);
/*
 * May this request call a route that needs role need? 0: yes (c->actor set). 1: no, and
 * c->resp holds the answer (401, 403, 429; maybe delayed). Or -errno.
 */
int auth_check(struct call *c, enum role need);

enum router_result {
        ROUTER_FOUND,
        ROUTER_NOT_FOUND,  /* no route has this path: 404 */
        ROUTER_BAD_METHOD, /* path known, method not: 405 + Allow */
};

/*
 * Match method and path against routes. HEAD matches GET routes. On ROUTER_FOUND *ret_route and
 * *ret_param (a pointer into param_buf, or NULL) are set. On ROUTER_BAD_METHOD allow gets the
 * comma-separated methods of that path ("GET, HEAD, PUT").
 */
enum router_result router_match(const struct route *routes, size_t n, const char *method,
                                const char *path, const struct route **ret_route, char *param_buf,
                                size_t param_size, const char **ret_param, char *allow,
                                size_t allow_size);

/* The index of the first route whose path matches path (any method), or n. */
size_t router_path_index(const struct route *routes, size_t n, const char *path);

/* The one map from -errno to HTTP status. */
int errors_status(int r);

/*
 * The one problem+json writer: fill resp with a body for status; field and detail may be NULL.
 * Handlers do not pick statuses: they call errors_answer() (or return -errno, which becomes
 * errors_from_call()).
 */
void errors_problem(struct api_response *resp, int status, const char *detail, const char *field,
                    const char *request_id);

/* Fill resp with the problem answer of the failure r (status from errors_status()). */
/* errors_problem with extra JSON members (NULL: none), as "\"bindings\":[...]". */
void errors_problem_ex(struct api_response *resp, int status, const char *detail, const char *field,
                       const char *request_id, const char *extra);
void errors_answer(struct api_response *resp, int r, const char *detail, const char *field,
                   const char *request_id);

/* Set a 400 on c naming field (a static string or c->err.field_buf); returns -EINVAL. */
int call_invalid(struct call *c, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

struct json_t;
/*
 * Parse the request's JSON body (strict: duplicate keys refused) after checking its
 * Content-Type is want. Returns 0 with *ret, -EMEDIUMTYPE or -EINVAL (field "body").
 */
int call_read_json(struct call *c, const char *want, struct json_t **ret);

/* A CHAP name or secret: 1..CHECK_SECRET_MAX-1 printable ASCII characters, no blanks. */
bool call_chap_value_ok(const char *s);

/*
 * A CHAP object (username, password, and with mutual_allowed username_in, password_in) at
 * field into *ret; a name needs its secret. 0 or -EINVAL naming "field.member".
 */
int call_parse_chap(struct call *c, struct json_t *obj, const char *field, bool mutual_allowed,
                    struct check_chap *ret);

/* If-Match against current: 0 (*ret 0: no header; else current), -ESTALE, -EINVAL (a 400). */
int call_if_match(struct call *c, uint64_t current, uint64_t *ret);

/* Fill resp for the failure r of call c (uses c->err and c->detail). Logs 5xx once. */
void errors_from_call(struct call *c, int r);

/* A problem answer of a type of its own (urn:iscsi-ifaced:problem:<slug>), with extra members
 * (",..." less, may be NULL). */
void errors_problem_typed(struct api_response *resp, int status, const char *slug,
                          const char *title, const char *detail, const char *request_id,
                          const char *extra);

struct sbuf;
/* 200 {"items": [...]}: each of v[0..n-1] written by write, then released; v is freed. */
int call_reply_items(struct call *c, void **v, size_t n, void (*write)(struct sbuf *b, void *item),
                     void (*release)(void *item));

/* The body, which must be a JSON object: 0 with *ret (the caller's), or a 400/413/415. */
int call_read_object(struct call *c, struct json_t **ret);

/* The Idempotency-Key scoped by the actor, into buf (JOB_SCOPE_MAX + 1 + JOB_KEY_MAX + 1
 * bytes); *ret NULL when there is none. 0 or a 400 naming Idempotency-Key. */
int call_scoped_key(struct call *c, char *buf, size_t size, const char **ret);

/* A route that takes no query parameter: 0, or a 400 naming the first one given. */
int call_no_query(struct call *c);

/* Idempotency-Key: 1..JOB_KEY_MAX of A-Z a-z 0-9 . _ - */
bool call_idempotency_key_ok(const char *s);
/* What an Idempotency-Key is checked against: a hash of the body. */
uint64_t call_body_hash(const struct call *c);

/* A growable byte buffer for hand-written JSON. */
struct sbuf {
        char *data;
        size_t len;
        size_t cap;
        bool oom;
};
void sbuf_put(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_json_string(struct sbuf *b, const char *s);
/* A JSON string, or null for NULL. */
void sbuf_json_string_or_null(struct sbuf *b, const char *s);
/* A JSON string "2026-11-23T07:00:00.000000Z" for a CLOCK_REALTIME time in microseconds. */
void sbuf_rfc3339(struct sbuf *b, int64_t usec);
/* Hand the bytes over (NUL-terminated); returns -ENOMEM if any append failed. */
int sbuf_take(struct sbuf *b, char **ret, size_t *ret_len);

/* iface-json.c: the only place that knows the JSON field names of an iface. */

struct nic_snapshot;
struct hba_inventory;

/*
 * The port views of one answer by (net_ifacename, hwaddress), the only fields they depend on
 * for a given inventory: the records of a list bind to a handful of ports, and rendering each
 * record's view anew (a warning formatted, then escaped) was a third of a listing's time.
 */
#define PORT_MEMO_MAX 16
struct port_memo {
        struct {
                char *netdev, *hw; /* NULL for unset */
                char *json;
                size_t len;
        } e[PORT_MEMO_MAX];
        size_t n;
};
void port_memo_done(struct port_memo *m);

/* What a response adds to a record besides its keys: the port it binds to, seen now. */
struct iface_json_extra {
        const struct nic_snapshot *nics;  /* may be NULL */
        const struct hba_inventory *hbas; /* may be NULL */
        const char *invalid;              /* the record breaks our rules: why (else NULL) */
        struct port_memo *memo;           /* may be NULL: every view rendered */
};

/*
 * Append rec as a JSON object: name, every set string and every number of its key set, and with
 * x (may be NULL) the read-only "port_status" and "warnings".
 */
void iface_json_write(struct sbuf *b, const struct iface_rec *rec,
                      const struct iface_json_extra *x);
/*
 * The same for a snapshot, whose fields are rendered once and kept on it (a snapshot never
 * changes): a GET or a list copies them and adds only the read-only members.
 */
void iface_json_write_snap(struct sbuf *b, struct iface_snap *s, const struct iface_json_extra *x);

struct json_t;
/*
 * Build a whole record from a JSON object (POST and PUT). path_name is the name from the URL
 * (PUT) or NULL (POST: "name" is then required). Returns 0 with *ret filled (zeroed before), or
 * -EINVAL with err naming the field, or -ENOMEM.
 */
int iface_json_to_rec(const struct json_t *obj, const char *path_name, struct iface_rec *ret,
                      struct iface_error *err);

/* Apply an RFC 7396 merge patch object to rec. -EINVAL with err, or -ENOMEM. */
int iface_json_merge_patch(const struct json_t *patch, struct iface_rec *rec,
                           struct iface_error *err);

/* Set a response body (takes ownership) with a static content type. */
void resp_set_body(struct api_response *resp, int status, const char *content_type, char *body,
                   size_t len);
/* Make the bytes of b (taken) the application/json body of c's answer. 0 or -ENOMEM. */
int call_reply_json(struct call *c, int status, struct sbuf *b);

/* Add a header (value copied). */
int resp_add_header(struct api_response *resp, const char *name, const char *value);
