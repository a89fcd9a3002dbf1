/* SPDX-License-Identifier: MIT */
/*
 * The libmicrohttpd front: listeners, per-request state, framing and body limits, suspend and
 * resume for answers that come later, the half-close answer, graceful drain.
 *
 * Why one file of some 1,150 lines: every part works on MHD's connection and request state and
 * its callbacks, whose order (first call, body, final call, resume, completion) is one protocol
 * that is easier to check read in one place than across files.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "api.h"
#include "http.h"
#include "tls.h"
#include "web.h"
#include "log.h"
#include "macro.h"
#include "net.h"

#define HTTP_LISTEN_BACKLOG 1024
/*
 * The size limits of a request's head (docs/security.md "Limits"), enforced in the first handler
 * call so that the answer is ours (problem+json with a request id): the request target, the
 * request line and header fields together (counted as on the wire: "name: value\r\n"), and
 * the header fields and cookies together (what libmicrohttpd keeps a record of each).
 */
#define HTTP_MAX_URI        (8 * 1024)
#define HTTP_MAX_HEAD       (16 * 1024)
#define HTTP_MAX_FIELDS     100
/*
 * libmicrohttpd 0.9.75 keeps a request's head in one memory pool per connection and answers
 * with its own HTML 414 or 431 when the pool runs out before the head is complete; the access
 * handler is never called then. The pool is sized so that no request within the limits above
 * can get there, and a request over them gets our answer while its head is at most
 * HTTP_OURS_HEAD bytes on the wire with at most HTTP_OURS_RECORDS header fields, query
 * arguments and cookies. What a head takes of the pool (connection.c):
 *   - the read buffer, from the start: half the pool at first (try_grow_read_buffer(), and
 *     MHD_connection_handle_idle()'s pool reset), holding the whole head, parsed in place; a
 *     head that fits in it is read without growing it;
 *   - from the end, while the head is parsed: a struct MHD_HTTP_Header per header field, query
 *     argument and cookie, and a copy of the Cookie header (no longer than the head). When the
 *     end runs into the read buffer, connection_alloc_memory() takes the read buffer's unused
 *     tail;
 *   - the answer's status line and header fields: the write buffer takes what is free once the
 *     read buffer is cut to what it holds (connection_shrink_read_buffer()).
 * So the pool needs at most twice the head, a record each, and the answer's head (asserted
 * below; integration.limits sends the worst heads at both edges). A larger head still gets
 * libmicrohttpd's HTML answer, and its connection closes.
 * The pool is no larger than that: libmicrohttpd 0.9.75 zeroes the whole pool between two
 * requests of a keep-alive connection, which with a 256 KiB pool was a third of a GET's CPU
 * (docs/decisions.md "The GET path"); with 96 KiB still a tenth, so the head limit went from 32
 * to 16 KiB ("A 16 KiB head and a 64 KiB pool"); with 256 connections, 64 KiB pools no longer
 * stayed in the caches, and with 48 KiB GET's ratio to the ceiling went from 0.77-0.82x to
 * 0.88-0.89x ("A 48 KiB pool").
 */
#define HTTP_OURS_HEAD      (18 * 1024)
#define HTTP_OURS_RECORDS   140
#define HTTP_MHD_RECORD     64 /* sizeof(struct MHD_HTTP_Header), 56, rounded up to the pool's 16 */
#define HTTP_MHD_ANSWER     (2 * 1024) /* ours: under 600 bytes (the UI's, with its CSP) */
#define HTTP_MEMORY_LIMIT   (48 * 1024)
_Static_assert(HTTP_MEMORY_LIMIT / 2 >= HTTP_OURS_HEAD &&
                       HTTP_MEMORY_LIMIT >= 2 * HTTP_OURS_HEAD +
                                                    HTTP_OURS_RECORDS * HTTP_MHD_RECORD +
                                                    HTTP_MHD_ANSWER,
               "the pool holds every head that gets our 414 or 431");

#define HTTP_MAX_ARGS       32 /* query arguments handed to the api */
/*
 * A body over API_MAX_BODY is read and dropped up to this size, then answered 413 on a
 * connection that stays usable: refused before it is sent, a client still writing it would meet
 * the closed socket's reset and never read the 413 (curl: "Failed sending data to the peer").
 * A declared length over it is refused at once, and a chunked body that grows past it is cut
 * off there: the connection is closed. With "Expect: 100-continue" and a declared length over
 * 1 MiB, the 413 comes before the body is sent.
 */
#define HTTP_DISCARD_MAX    (1024 * 1024)
#define HTTP_REQUEST_ID_MAX 64
_Static_assert(HTTP_MAX_HEAD <= HTTP_OURS_HEAD && HTTP_MAX_URI <= HTTP_MAX_HEAD &&
                       HTTP_MAX_FIELDS + HTTP_MAX_ARGS <= HTTP_OURS_RECORDS,
               "a request within the limits never meets libmicrohttpd's own");
#define HTTP_STREAM_SNDBUF (64 * 1024) /* an event stream's socket buffer (the kernel doubles it) */

struct http_server {
        struct MHD_Daemon *daemon;
        struct api *api; /* borrowed */
        int listen_fd;   /* ours */
        int mhd_fd;      /* a dup of it that MHD owns, until quiesce returns it */
        bool mhd_fd_returned;
        unsigned port;
        bool is_unix;
        bool is_tls; /* its connections are GnuTLS sessions */
        bool allow_remote;
        char *unix_path; /* owned */
        bool unix_bound; /* unix_path is our socket, to remove on stop */
        dev_t unix_dev;
        ino_t unix_ino;
        atomic_uint in_flight; /* requests between first handler call and completion */
        atomic_uint suspended; /* requests waiting for an api_pending answer */
        atomic_bool stopping;
        const struct web *web;    /* the UI's files (borrowed), or NULL */
        bool is_loopback;         /* a loopback TCP address */
        bool metrics_only;        /* GET /metrics only (--metrics-listen) */
        bool metrics_open;        /* ... without a credential: a loopback or unix listener */
        unsigned threads;         /* of the pool */
        atomic_uint writing_here; /* pool threads lent to a lone write (write_here_take) */
};

/*
 * The header fields the api reads, each the first of its name (as MHD_lookup_connection_value()
 * finds it), taken in the one pass over the header fields that request_start() makes anyway:
 * a lookup walks them all with a caseless compare, and a request made eight.
 */
struct http_headers {
        const char *request_id, *transfer_encoding, *content_type, *accept, *if_match,
                *if_none_match, *last_event_id, *idempotency_key, *authorization;
};

/*
 * One request. Allocated by the URI log callback, which sees the raw request target before MHD
 * decodes it, and freed in NOTIFY_COMPLETED (MHD calls it for every request the URI callback saw).
 */
struct http_request {
        struct http_server *server;
        bool started;              /* the access handler has been called once */
        bool counted;              /* included in server->in_flight */
        bool path_has_nul;         /* "%00" in the raw path: the decoded one is cut short */
        size_t uri_len;            /* the request target as received (before decoding) */
        const char *bad_arg;       /* set: refuse the query (reason below) */
        const char *bad_arg_field; /* the argument to name in the problem, or NULL */
        char *body;                /* NUL-terminated for convenience, body_len bytes */
        size_t body_len;
        size_t body_cap;
        bool body_too_large;
        size_t body_dropped;         /* bytes of a body over API_MAX_BODY read and dropped */
        bool after_answer;           /* a write ran on this thread: api_after_answer() at the end */
        struct api_pending *pending; /* the api answers later; the connection is suspended */
        struct api_stream *stream;   /* an event stream (api.h), freed at completion */
        struct MHD_Connection *conn;
        int held_fd; /* a TLS socket whose end of stream is held back (tls_eof_hold), or -1 */
        char request_id[HTTP_REQUEST_ID_MAX + 1];
        char refusal[128];       /* the detail of a 414 or 431 */
        struct http_headers hdr; /* what the api is told, taken in request_start's one pass */
        struct api_arg args[HTTP_MAX_ARGS];
        size_t n_args;
        int64_t start_usec;
};

static void set_msg(char **msg, const char *fmt, ...) _printf_(2, 3);

/* Replace *msg (initialised by the caller, NULL or owned) with a formatted reason. */
static void set_msg(char **msg, const char *fmt, ...)
{
        va_list ap;
        char *m;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);

        free(*msg);
        *msg = m;
}

/* MHD's own diagnostics (accept failures, bad requests) go through our log with its filtering. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
        char buf[512];
        size_t n;

        (void)cls;

        vsnprintf(buf, sizeof(buf), fmt, ap);
        n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = 0;

        log_warning("libmicrohttpd: %s", buf);
}

/* v into buf (size >= 1), cut to fit: per request, where snprintf() shows in a profile. */
static void str_set(char *buf, size_t size, const char *v)
{
        size_t n = strlen(v);

        if (n > size - 1)
                n = size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
}

static bool request_id_is_valid(const char *s)
{
        size_t n = 0;

        if (!s)
                return false;

        for (; s[n]; n++) {
                char c = s[n];

                if (n >= HTTP_REQUEST_ID_MAX)
                        return false;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }

        return n > 0;
}

/*
 * A request id: 64 bits from a per-thread xorshift* generator seeded once from getrandom(), so
 * a request costs no system call for it. An id must be unique, not unpredictable (it names a
 * request in logs and audit; it grants nothing); the thread's address and a global counter in
 * the seed keep two threads' sequences apart even without entropy early at boot.
 */
static uint64_t request_id_next(void)
{
        static atomic_uint_fast64_t seeds;
        static _Thread_local uint64_t x;

        if (x == 0) {
                uint64_t seed = 0;

                if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
                        seed = (uint64_t)clock_usec(CLOCK_MONOTONIC);
                seed ^= (uint64_t)(uintptr_t)&x ^
                        (atomic_fetch_add(&seeds, 1) + 1) * 0x9e3779b97f4a7c15ULL;
                x = seed ?: 0x9e3779b97f4a7c15ULL;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        return x * 0x2545f4914f6cdd1dULL;
}

static void request_id_generate(char ret[static 17])
{
        static const char hex[] = "0123456789abcdef";
        uint64_t v = request_id_next();

        for (size_t i = 0; i < 16; i++)
                ret[i] = hex[(v >> (60 - 4 * i)) & 0xf];
        ret[16] = 0;
}

/* A query key simple enough to be echoed as the problem's "field" without escaping. */
static bool arg_key_is_simple(const char *key, size_t len)
{
        if (len == 0 || len > 64 || strlen(key) != len)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = key[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

/*
 * Refused rather than passed on: a NUL decoded from "%00" would silently shorten a key or value
 * (a filter "eth1%00x" is not "eth1"), and dropping arguments past the cap would silently widen
 * a listing.
 */
static enum MHD_Result http_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value, size_t value_size)
{
        struct http_request *req = cls;

        (void)kind;

        if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
                req->bad_arg = "a query argument contains an encoded NUL (%00)";
                req->bad_arg_field = arg_key_is_simple(key, strlen(key)) ? key : NULL;
                return MHD_NO;
        }

        if (req->n_args >= HTTP_MAX_ARGS) {
                req->bad_arg = "too many query arguments (at most 32)";
                return MHD_NO;
        }

        /* "?limit=1&limit=1000" has no meaning we could pick without surprising someone. */
        for (size_t i = 0; i < req->n_args; i++)
                if (streq(req->args[i].key, key)) {
                        req->bad_arg = "a query parameter is given more than once";
                        req->bad_arg_field = arg_key_is_simple(key, key_size) ? key : NULL;
                        return MHD_NO;
                }

        req->args[req->n_args++] = (struct api_arg){ .key = key, .value = value };
        return MHD_YES;
}

/*
 * Append upload data, up to API_MAX_BODY. Beyond it the body is dropped and only flagged, and
 * counted: 1 once more than HTTP_DISCARD_MAX has come (the caller refuses it then).
 */
static int request_append(struct http_request *req, const char *data, size_t size)
{
        if (!req->body_too_large && size > API_MAX_BODY - req->body_len) {
                req->body_too_large = true;
                req->body_dropped = req->body_len;
                free(req->body);
                req->body = NULL;
                req->body_len = req->body_cap = 0;
        }
        if (req->body_too_large) {
                req->body_dropped += size;
                return req->body_dropped > HTTP_DISCARD_MAX ? 1 : 0;
        }

        if (req->body_len + size > req->body_cap) {
                size_t cap = req->body_cap > 0 ? req->body_cap : 4096;
                char *p;

                while (cap < req->body_len + size)
                        cap *= 2;
                if (cap > API_MAX_BODY)
                        cap = API_MAX_BODY;

                p = realloc(req->body, cap + 1);
                if (!p)
                        return -ENOMEM;
                req->body = p;
                req->body_cap = cap;
        }

        memcpy(req->body + req->body_len, data, size);
        req->body_len += size;
        req->body[req->body_len] = 0;
        return 0;
}

static void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
        struct http_request *req;
        const char *nul;

        (void)conn;

        /* Not calloc(): glibc's calloc() never takes a chunk from the thread's cache, so each
         * request's context went back to the arena and merged with its top, which consolidated
         * the fast bins every time (malloc_consolidate() in a profile of GET). */
        req = malloc(sizeof(*req));
        if (!req)
                return NULL; /* the access handler then closes the connection */

        *req = (struct http_request){ .server = cls,
                                      .start_usec = clock_usec(CLOCK_MONOTONIC),
                                      .held_fd = -1 };

        req->uri_len = strlen(uri);

        /* MHD decodes "%00" in place, which ends the C string it hands us as the path. */
        nul = strstr(uri, "%00");
        req->path_has_nul = nul && !memchr(uri, '?', (size_t)(nul - uri));

        return req;
}

struct header_scan {
        struct http_headers *hdr; /* filled: the first of each name */
        unsigned n_content_length, n_transfer_encoding, n_authorization;
        size_t n_fields;            /* header fields and cookies */
        size_t head_bytes;          /* "name: value\r\n" of each header field */
        const char *content_length; /* the first one */
        bool content_length_differs;
};

/* Where hdr keeps the header field named key (key_size bytes), or NULL: not one the api reads. */
static const char **header_slot(struct http_headers *hdr, const char *key, size_t key_size)
{
#define IS(name) (key_size == sizeof(name) - 1 && strcasecmp(key, name) == 0)
        if (IS("X-Request-Id"))
                return &hdr->request_id;
        if (IS(MHD_HTTP_HEADER_CONTENT_TYPE))
                return &hdr->content_type;
        if (IS(MHD_HTTP_HEADER_ACCEPT))
                return &hdr->accept;
        if (IS(MHD_HTTP_HEADER_IF_MATCH))
                return &hdr->if_match;
        if (IS(MHD_HTTP_HEADER_IF_NONE_MATCH))
                return &hdr->if_none_match;
        if (IS("Last-Event-ID"))
                return &hdr->last_event_id;
        if (IS("Idempotency-Key"))
                return &hdr->idempotency_key;
        return NULL;
#undef IS
}

static enum MHD_Result http_scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value, size_t value_size)
{
        struct header_scan *hs = cls;

        hs->n_fields++;
        if (kind == MHD_COOKIE_KIND)
                return MHD_YES; /* its bytes are counted in its Cookie header */
        hs->head_bytes += key_size + 2 + value_size + 2;

        if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
                if (hs->n_content_length++ == 0)
                        hs->content_length = value;
                else if (!streq(value ?: "", hs->content_length ?: ""))
                        hs->content_length_differs = true;
        } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
                if (hs->n_transfer_encoding++ == 0)
                        hs->hdr->transfer_encoding = value;
        } else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0) {
                if (hs->n_authorization++ == 0)
                        hs->hdr->authorization = value;
        } else {
                const char **slot = header_slot(hs->hdr, key, key_size);

                if (slot && !*slot) /* the first of its name, as a lookup finds it */
                        *slot = value;
        }
        return MHD_YES;
}

/*
 * First handler call: the headers are in. Framing that two parsers could read two ways (request
 * smuggling, RFC 9112 section 6.3) is refused here, before any of the body is read: differing
 * Content-Lengths, Content-Length with Transfer-Encoding, a coding other than one "chunked". So
 * is a declared length over the limit, which would otherwise only be refused once the client
 * had sent all of it (or never, if it does not). Returns the reason (a constant), or NULL.
 */
static const char *request_start(struct http_request *req, struct MHD_Connection *conn,
                                 const char *method, const char *version, int *ret_err)
{
        struct header_scan hs = { .hdr = &req->hdr };
        const char *te;
        size_t head;

        req->started = true;
        req->counted = true;
        atomic_fetch_add(&req->server->in_flight, 1);

        (void)MHD_get_connection_values_n(conn, MHD_HEADER_KIND | MHD_COOKIE_KIND, http_scan_header,
                                          &hs);
        te = req->hdr.transfer_encoding;

        if (request_id_is_valid(req->hdr.request_id))
                str_set(req->request_id, sizeof(req->request_id), req->hdr.request_id);
        else
                request_id_generate(req->request_id);

        /* The size of the head first: an answer to these closes the connection anyway. */
        head = strlen(method) + 1 + req->uri_len + 1 + strlen(version) + 2 + hs.head_bytes + 2;
        if (req->uri_len > HTTP_MAX_URI) {
                snprintf(req->refusal, sizeof(req->refusal),
                         "the request target is %zu bytes; at most %d are accepted", req->uri_len,
                         HTTP_MAX_URI);
                *ret_err = 414;
                return req->refusal;
        }
        if (head > HTTP_MAX_HEAD) {
                snprintf(req->refusal, sizeof(req->refusal),
                         "the request line and headers are %zu bytes; at most %d are accepted",
                         head, HTTP_MAX_HEAD);
                *ret_err = 431;
                return req->refusal;
        }
        if (hs.n_fields > HTTP_MAX_FIELDS) {
                snprintf(req->refusal, sizeof(req->refusal),
                         "the request has %zu header fields and cookies; at most %d are accepted",
                         hs.n_fields, HTTP_MAX_FIELDS);
                *ret_err = 431;
                return req->refusal;
        }

        *ret_err = -EINVAL;
        if (hs.content_length_differs)
                return "the request has Content-Length headers that differ";
        if (hs.n_transfer_encoding > 0 && hs.n_content_length > 0)
                return "the request has both Content-Length and Transfer-Encoding";
        if (hs.n_transfer_encoding > 1 || (te && strcasecmp(te, "chunked") != 0))
                return "Transfer-Encoding must be 'chunked' alone";
        if (hs.n_authorization > 1)
                return "the request has more than one Authorization header";

        if (hs.content_length) {
                char *end;
                unsigned long long v;

                /* MHD has parsed it already (and refused garbage); this cannot fail. */
                errno = 0;
                v = strtoull(hs.content_length, &end, 10);
                if (errno == 0 && end != hs.content_length && *end == 0 && v > API_MAX_BODY) {
                        /* Read and dropped, then a 413 (HTTP_DISCARD_MAX); beyond it, at once. */
                        req->body_too_large = true;
                        if (v > HTTP_DISCARD_MAX) {
                                *ret_err = -E2BIG;
                                return "the body exceeds 65536 bytes";
                        }
                }
        }
        return NULL;
}

static void peer_to_string(struct http_server *s, struct MHD_Connection *conn, char *buf,
                           size_t size)
{
        const union MHD_ConnectionInfo *ci;
        const struct sockaddr *sa;

        str_set(buf, size, s->is_unix ? "unix" : "unknown");
        if (s->is_unix)
                return;

        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!ci || !ci->client_addr)
                return;
        sa = ci->client_addr;

        if (sa->sa_family == AF_INET && size >= IPV4_STRLEN)
                ipv4_format(
                        (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                        buf);
        else if (sa->sa_family == AF_INET)
                (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                                buf, size);
        else if (sa->sa_family == AF_INET6)
                (void)inet_ntop(AF_INET6,
                                &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                                size);
        else if (sa->sa_family == AF_UNIX)
                snprintf(buf, size, "unix");
}

static void response_add_header(struct MHD_Response *r, const char *name, const char *value)
{
        if (!value)
                return;

        /* MHD refuses values with CR/LF: drop the header rather than the whole response. */
        if (MHD_add_response_header(r, name, value) != MHD_YES)
                log_warning("dropping invalid response header '%s', ignoring", name);
}

/* Turn the api's answer into an MHD response; resp is released. */
/* The Content-Type and the headers of an api answer. */
static void response_add_api_headers(struct MHD_Response *r, const struct api_response *aresp)
{
        response_add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, aresp->content_type);
        for (size_t i = 0; i < aresp->n_headers && i < API_MAX_HEADERS; i++)
                response_add_header(r, aresp->headers[i].name, aresp->headers[i].value);
}

static struct MHD_Response *mhd_response(struct api_response *aresp, int *ret_status)
{
        struct MHD_Response *r;

        *ret_status = aresp->status;
        if (*ret_status < 100 || *ret_status > 599)
                *ret_status = MHD_HTTP_INTERNAL_SERVER_ERROR;

        if (aresp->body && aresp->body_len > 0) {
                /* The body is malloc()ed by the api: MHD takes it over and free()s it. */
                r = MHD_create_response_from_buffer(aresp->body_len, aresp->body,
                                                    MHD_RESPMEM_MUST_FREE);
                if (r)
                        aresp->body = NULL;
        } else
                r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

        if (r)
                response_add_api_headers(r, aresp);

        api_response_done(aresp);
        return r;
}

/*
 * A 400 or 413 decided here, before the api: for what the api cannot see in a plain struct
 * api_request (decoded NULs, arguments past the cap, the framing of the request). The api writes
 * it, like every other problem answer.
 */
static struct MHD_Response *problem_response(int r, const char *detail, const char *field,
                                             const char *request_id, int *ret_status)
{
        struct api_response aresp;
        struct MHD_Response *mr;

        api_problem(&aresp, r, detail, field, request_id);
        mr = mhd_response(&aresp, ret_status);
        api_response_done(&aresp);
        return mr;
}

/*
 * A file of the web UI (docs/ui.md), for GET and HEAD of a path that is not the API's: NULL
 * when it names none. A 304 when If-None-Match has its ETag; the gzip copy when the client
 * takes it. MHD leaves the body out of a HEAD answer.
 */
static struct MHD_Response *web_response(struct http_server *s, struct MHD_Connection *conn,
                                         const char *method, const char *url, int *ret_status)
{
        const struct web_file *f;
        struct MHD_Response *r;
        const char *etag;
        bool gz;

        if (!s->web || !(streq(method, "GET") || streq(method, "HEAD")) ||
            strncmp(url, "/api/", 5) == 0 || streq(url, "/api") || streq(url, "/openapi.yaml"))
                return NULL;
        f = web_find(s->web, url);
        if (!f)
                return NULL;
        gz = f->gz && web_accepts_gzip(MHD_lookup_connection_value(
                              conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
        etag = gz ? f->etag_gz : f->etag;
        if (web_etag_matches(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_IF_NONE_MATCH),
                             etag)) {
                *ret_status = MHD_HTTP_NOT_MODIFIED;
                r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        } else {
                *ret_status = MHD_HTTP_OK;
                /* The files live as long as the server: no copy. */
                r = MHD_create_response_from_buffer(gz ? f->gz_len : f->len, gz ? f->gz : f->data,
                                                    MHD_RESPMEM_PERSISTENT);
                if (r) {
                        response_add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
                        if (gz)
                                response_add_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
                }
        }
        if (!r)
                return NULL;
        response_add_header(r, MHD_HTTP_HEADER_ETAG, etag);
        /* Revalidated every time: a new build shows at once, an unchanged file is a 304. */
        response_add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        response_add_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
        response_add_header(r, "Content-Security-Policy", WEB_CSP);
        response_add_header(r, "X-Content-Type-Options", "nosniff");
        response_add_header(r, "Referrer-Policy", "no-referrer");
        response_add_header(r, "X-Frame-Options", "DENY");
        response_add_header(r, "Cross-Origin-Opener-Policy", "same-origin");
        return r;
}

/*
 * Event streams (GET /api/v1/events). MHD pulls the body through stream_read(); when the api has
 * nothing to send it calls stream_suspend() first, from inside that callback (the one place
 * besides the access handler where MHD allows it), so the connection leaves the poll set and
 * no thread waits; returning 0 without suspending would make MHD 0.9.75's internal polling
 * call the callback again at once, a busy loop. The hub resumes it (stream_wake) when events or
 * a heartbeat are due, and shuts the socket of a stream that must go (stream_drop): MHD then
 * fails its next send and completes the request.
 */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct http_request *req = cls;
        ssize_t n;

        (void)pos;

        n = api_stream_read(req->stream, buf, max);
        if (n == API_STREAM_END)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (n < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        return n;
}

static void stream_suspend(void *userdata)
{
        struct http_request *req = userdata;

        atomic_fetch_add(&req->server->suspended, 1);
        MHD_suspend_connection(req->conn);
}

static void stream_wake(void *userdata)
{
        struct http_request *req = userdata;

        MHD_resume_connection(req->conn);
        atomic_fetch_sub(&req->server->suspended, 1);
}

static void stream_drop(void *userdata)
{
        struct http_request *req = userdata;
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        /* The request is not complete (the api holds its stream), so the socket is still its. */
        if (ci)
                (void)shutdown(ci->connect_fd, SHUT_RDWR);
}

static const struct api_stream_ops stream_ops = {
        .suspend = stream_suspend,
        .wake = stream_wake,
        .drop = stream_drop,
};

/* A response without an end, read from the api's stream (taken from aresp, which is released). */
static struct MHD_Response *stream_response(struct http_request *req, struct MHD_Connection *conn,
                                            struct api_response *aresp, int *ret_status)
{
        const union MHD_ConnectionInfo *ci;
        struct MHD_Response *r;

        req->stream = TAKE_PTR(aresp->stream);
        req->conn = conn;
        /*
         * A fixed send buffer (no autotuning to megabytes): what a client that stops reading
         * can hold up in the kernel stays small, and it falls behind the ring, and is dropped,
         * after a bounded number of events.
         */
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci && !req->server->is_unix &&
            setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &(int){ HTTP_STREAM_SNDBUF },
                       sizeof(int)) < 0)
                log_debug("SO_SNDBUF of an event stream: %s, ignoring", strerror(errno));
        api_stream_attach(req->stream, &stream_ops, req);
        *ret_status = aresp->status;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, req, NULL);
        if (r)
                response_add_api_headers(r, aresp);
        api_response_done(aresp);
        return r;
}

/*
 * May a lone durable write run on this thread (docs/decisions.md "A lone write runs on its HTTP
 * thread")? Its flushes, or iscsiadm's lock, hold the thread for their time, so: only while the
 * pool thread that serves conn serves nothing else (the worker daemon MHD hands a connection to
 * counts its own), and only while another thread of the pool stays free to accept and serve new
 * connections. True: a slot is taken, to give back with write_here_put().
 */
static bool write_here_take(struct http_server *s, struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ci;
        const union MHD_DaemonInfo *di;
        unsigned n;

        if (s->threads < 2 || atomic_load(&s->stopping))
                return false;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
        di = ci ? MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
        if (!di || di->num_connections != 1)
                return false;
        n = atomic_load(&s->writing_here);
        do {
                if (n >= s->threads - 1)
                        return false;
        } while (!atomic_compare_exchange_weak(&s->writing_here, &n, n + 1));
        return true;
}

static void write_here_put(struct http_server *s)
{
        atomic_fetch_sub(&s->writing_here, 1);
}

/* Hand the request to the api. NULL with req->pending set: the answer comes later. */
static struct MHD_Response *api_response(struct http_server *s, struct http_request *req,
                                         struct MHD_Connection *conn, const char *method,
                                         const char *url, const char *request_id, int *ret_status)
{
        struct api_response aresp = {};
        char peer[INET6_ADDRSTRLEN], client[INET6_ADDRSTRLEN + 8];
        bool has_uid = false, here = false;
        unsigned uid = 0;

        peer_to_string(s, conn, peer, sizeof(peer));
        str_set(client, sizeof(client), peer);
        if (s->is_unix) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                struct ucred cred;
                socklen_t len = sizeof(cred);

                if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
                        has_uid = true;
                        uid = cred.uid;
                        snprintf(client, sizeof(client), "uid:%u", uid);
                }
        }

        /* Reads never write: the look is for the other methods only. */
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                here = write_here_take(s, conn);
        api_handle(s->api,
                   &(const struct api_request){
                           .method = method,
                           .path = url,
                           .args = req->args,
                           .n_args = req->n_args,
                           .content_type = req->hdr.content_type,
                           .accept = req->hdr.accept,
                           .if_match = req->hdr.if_match,
                           .if_none_match = req->hdr.if_none_match,
                           .last_event_id = req->hdr.last_event_id,
                           .request_id = request_id,
                           .idempotency_key = req->hdr.idempotency_key,
                           .authorization = req->hdr.authorization,
                           .start_usec = req->start_usec,
                           .has_peer_uid = has_uid,
                           .peer_uid = uid,
                           .client = client,
                           .body = req->body_too_large ? NULL : req->body,
                           .body_len = req->body_too_large ? 0 : req->body_len,
                           .body_too_large = req->body_too_large,
                           .metrics_only = s->metrics_only,
                           .metrics_open = s->metrics_open,
                           .run_here = here,
                   },
                   &aresp);
        if (here)
                write_here_put(s);
        req->after_answer = aresp.after_answer;

        if (aresp.pending) {
                req->pending = aresp.pending;
                return NULL;
        }
        if (aresp.stream)
                return stream_response(req, conn, &aresp, ret_status);
        return mhd_response(&aresp, ret_status);
}

/* The api's answer is ready (any thread): let MHD call the handler again. */
static void http_resume(void *userdata)
{
        struct http_request *req = userdata;

        MHD_resume_connection(req->conn);
}

/*
 * TLS and a client that half-closes. A client that sends a write and then shuts its TCP sending
 * side without a TLS close_notify leaves a bare end of stream. When MHD resumes the suspended
 * connection it reads first; GnuTLS takes that end of stream for a truncation attack and
 * invalidates the session, so the answer could no longer be sent at all, though the write was
 * done. So while a TLS request waits for its answer, its socket's end of stream is held back:
 * our pull function (GnuTLS's own, a recv() on the socket, but for this) reports "try again"
 * instead, MHD calls the handler, sends the answer, and completes the request; from then on the
 * end of stream is seen as usual and the connection closes. Held sockets are few (requests
 * waiting for an answer on TLS), so a small locked list is enough.
 */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static int *held_fds;
static size_t n_held, cap_held;

static bool eof_is_held(int fd)
{
        bool held = false;

        pthread_mutex_lock(&held_lock);
        for (size_t i = 0; i < n_held && !held; i++)
                held = held_fds[i] == fd;
        pthread_mutex_unlock(&held_lock);
        return held;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t size)
{
        int fd = (int)(intptr_t)ptr;
        ssize_t n = recv(fd, buf, size, 0);

        if (n == 0 && eof_is_held(fd)) {
                errno = EAGAIN;
                return -1;
        }
        return n;
}

/* Hold back the end of stream of req's TLS socket until the request completes. */
static void tls_eof_hold(struct http_request *req, struct MHD_Connection *conn)
{
        const union MHD_ConnectionInfo *ti, *ci;

        if (!req->server->is_tls)
                return;
        ti = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ti || !ti->tls_session || !ci)
                return;

        pthread_mutex_lock(&held_lock);
        if (n_held == cap_held) {
                size_t cap = cap_held ? cap_held * 2 : 16;
                int *p = realloc(held_fds, cap * sizeof(*p));

                if (!p) {
                        pthread_mutex_unlock(&held_lock);
                        return; /* the direct answer of http_completed() is all that is left */
                }
                held_fds = p;
                cap_held = cap;
        }
        held_fds[n_held++] = ci->connect_fd;
        pthread_mutex_unlock(&held_lock);
        req->held_fd = ci->connect_fd;
        /* The session's transport is the socket (gnutls_transport_set_int by MHD). */
        gnutls_transport_set_pull_function((gnutls_session_t)ti->tls_session, tls_pull);
}

static void tls_eof_release(struct http_request *req)
{
        if (req->held_fd < 0)
                return;
        pthread_mutex_lock(&held_lock);
        for (size_t i = 0; i < n_held; i++)
                if (held_fds[i] == req->held_fd) {
                        held_fds[i] = held_fds[--n_held];
                        break;
                }
        pthread_mutex_unlock(&held_lock);
        req->held_fd = -1;
}

/* Add the common headers, queue, log. */
static enum MHD_Result queue(struct http_server *s, struct http_request *req,
                             struct MHD_Connection *conn, struct MHD_Response *r, int status,
                             const char *method, const char *url)
{
        enum MHD_Result ret;

        response_add_header(r, "X-Request-Id", req->request_id);

        /* While draining, tell keep-alive clients not to send another request on this one. */
        if (atomic_load(&s->stopping))
                response_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");

        ret = MHD_queue_response(conn, (unsigned)status, r);
        MHD_destroy_response(r);

        /*
         * One line a request, with its id (log.c turns control bytes of the path into '?'),
         * written by the log's own thread, many a write() (common/log.h).
         */
        if (log_get_level() >= LOG_INFO)
                log_info_deferred("%s %s -> %d (%lld us, id %s)", method, url, status,
                                  (long long)(clock_usec(CLOCK_MONOTONIC) - req->start_usec),
                                  req->request_id);
        return ret;
}

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
        struct http_server *s = cls;
        struct http_request *req = *req_cls;
        struct MHD_Response *r;
        int status;

        if (!req)
                return MHD_NO; /* out of memory in http_uri_log(): close the connection */

        /*
         * First call: headers only. Queuing a response here would make MHD 0.9.75 drop
         * keep-alive, so only set up state and come back for the body and the final call.
         */
        if (!req->started) {
                int err = 0;
                const char *refused = request_start(req, conn, method, version, &err);

                if (!refused)
                        return MHD_YES;
                /* Answered before the body: the connection cannot be reused, so it closes. */
                if (err > 0) { /* a status: the head is too large */
                        struct api_response aresp;

                        api_problem_status(&aresp, err, refused, req->request_id);
                        r = mhd_response(&aresp, &status);
                        api_response_done(&aresp);
                } else
                        r = problem_response(err, refused, NULL, req->request_id, &status);
                if (!r)
                        return MHD_NO;
                response_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
                return queue(s, req, conn, r, status, method, url);
        }

        if (*upload_data_size > 0) {
                int k = request_append(req, upload_data, *upload_data_size);

                if (k < 0)
                        return MHD_NO;
                *upload_data_size = 0;
                if (k > 0) {
                        /* A chunked body past HTTP_DISCARD_MAX: closed (libmicrohttpd 0.9.75
                         * takes no answer in the middle of a body). */
                        log_info("%s %s: a chunked body over %d bytes, connection closed (id %s)",
                                 method, url, HTTP_DISCARD_MAX, req->request_id);
                        return MHD_NO;
                }
                return MHD_YES;
        }

        /* Called again after a resume: the api's answer is ready. */
        if (req->pending) {
                struct api_response aresp;
                struct api_pending *p = TAKE_PTR(req->pending);

                atomic_fetch_sub(&s->suspended, 1);
                api_pending_finish(p, &aresp);
                r = mhd_response(&aresp, &status);
                if (!r)
                        return MHD_NO;
                return queue(s, req, conn, r, status, method, url);
        }

        /* Final call: the whole body is here (or was dropped as too large). */
        (void)MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, http_collect_arg, req);

        if (req->path_has_nul)
                r = problem_response(-EINVAL, "the path contains an encoded NUL (%00)", NULL,
                                     req->request_id, &status);
        else if (req->bad_arg)
                r = problem_response(-EINVAL, req->bad_arg, req->bad_arg_field, req->request_id,
                                     &status);
        else if ((r = web_response(s, conn, method, url, &status)))
                ; /* a file of the UI */
        else {
                r = api_response(s, req, conn, method, url, req->request_id, &status);
                if (!r && req->pending) {
                        /* Suspend first: the answer may be ready before wait returns. */
                        req->conn = conn;
                        tls_eof_hold(req, conn);
                        atomic_fetch_add(&s->suspended, 1);
                        MHD_suspend_connection(conn);
                        api_pending_wait(req->pending, http_resume, req);
                        return MHD_YES;
                }
        }
        if (!r)
                return MHD_NO;

        return queue(s, req, conn, r, status, method, url);
}

/* Send all of buf on a non-blocking socket or TLS session, waiting at most until deadline. */
static int send_all(MHD_socket fd, gnutls_session_t tls, const char *buf, size_t len,
                    int64_t deadline)
{
        while (len > 0) {
                ssize_t n;
                bool again;

                if (tls) {
                        n = gnutls_record_send(tls, buf, len);
                        again = n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED;
                } else {
                        n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                        again = n < 0 && (errno == EAGAIN || errno == EINTR);
                }
                if (n > 0) {
                        buf += n;
                        len -= (size_t)n;
                        continue;
                }
                if (!again)
                        return -EPIPE;

                int64_t left_ms = (deadline - clock_usec(CLOCK_MONOTONIC)) / 1000;

                if (left_ms <= 0)
                        return -ETIMEDOUT;
                (void)poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, (int)left_ms);
        }
        return 0;
}

/* A header line we may write ourselves: MHD refuses CR/LF in values, and so do we. */
static void raw_header(FILE *f, const char *name, const char *value)
{
        if (value && !strpbrk(value, "\r\n"))
                fprintf(f, "%s: %s\r\n", name, value);
}

/*
 * The client shut its sending side while its answer was being made (a write on a writer thread,
 * a check, a tarpit delay). libmicrohttpd 0.9.75 reads that end of stream when the connection
 * resumes and closes it without calling the handler again, so the answer would be lost although
 * the work was done. Its socket is still open for sending at this point (MHD shuts it down after
 * this callback): write the answer ourselves, with "Connection: close". Best effort for a peer
 * that does not read: at most 500 ms, on the MHD thread.
 */
static void answer_directly(struct http_request *req, struct MHD_Connection *conn,
                            struct api_response *aresp)
{
        const union MHD_ConnectionInfo *ci;
        gnutls_session_t tls = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int status = aresp->status, r;

        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
                return;
        if (!req->server->is_unix) {
                const union MHD_ConnectionInfo *ti =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

                if (ti)
                        tls = ti->tls_session;
        }

        if (status < 100 || status > 599)
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        f = open_memstream(&buf, &len);
        if (!f)
                return;
        fprintf(f, "HTTP/1.1 %d %s\r\nConnection: close\r\n", status,
                MHD_get_reason_phrase_for((unsigned)status));
        raw_header(f, MHD_HTTP_HEADER_CONTENT_TYPE, aresp->content_type);
        for (size_t i = 0; i < aresp->n_headers && i < API_MAX_HEADERS; i++)
                raw_header(f, aresp->headers[i].name, aresp->headers[i].value);
        raw_header(f, "X-Request-Id", req->request_id);
        if (status != MHD_HTTP_NO_CONTENT && status != MHD_HTTP_NOT_MODIFIED)
                fprintf(f, "Content-Length: %zu\r\n", aresp->body ? aresp->body_len : 0);
        fputs("\r\n", f);
        if (aresp->body && status != MHD_HTTP_NO_CONTENT && status != MHD_HTTP_NOT_MODIFIED)
                fwrite(aresp->body, 1, aresp->body_len, f);
        if (fclose(f) != 0)
                return;

        r = send_all(ci->connect_fd, tls, buf, len, clock_usec(CLOCK_MONOTONIC) + 500 * 1000);
        log_debug("answered a half-closed client directly (%d, id %s): %s", status, req->request_id,
                  r < 0 ? strerror(-r) : "sent");
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                           enum MHD_RequestTerminationCode toe)
{
        struct http_server *s = cls;
        struct http_request *req = *req_cls;

        (void)conn;
        (void)toe;

        if (!req)
                return;

        *req_cls = NULL;
        tls_eof_release(req);
        if (req->pending) {
                /*
                 * Resumed, but MHD read the end of the client's stream (a half-close, or the
                 * client has gone) and closes the connection without calling the handler again.
                 * The answer is ready (it is what resumed us): send it ourselves, so that a
                 * client that only shut its sending side learns what was done.
                 */
                struct api_response aresp;

                atomic_fetch_sub(&s->suspended, 1);
                api_pending_finish(TAKE_PTR(req->pending), &aresp);
                answer_directly(req, conn, &aresp);
                api_response_done(&aresp);
        }
        if (req->after_answer)
                api_after_answer(s->api);
        /* After this no wake or drop of the hub touches req. */
        api_stream_free(TAKE_PTR(req->stream));
        if (req->counted)
                atomic_fetch_sub(&s->in_flight, 1);
        free(req->body);
        free(req);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;

                return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
        }
        if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)ss;

                return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
        }
        return false;
}

static int parse_port(const char *s, uint16_t *ret)
{
        unsigned long v = 0;

        if (isempty(s) || strlen(s) > 5)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long)(*p - '0');
        }
        if (v > 65535)
                return -EINVAL;

        *ret = (uint16_t)v;
        return 0;
}

/* Parse "A.B.C.D:PORT", "[v6]:PORT" or "localhost:PORT" (the IPv4 loopback). */
static int parse_inet(const char *addr, struct sockaddr_storage *ret, socklen_t *ret_len,
                      char **msg)
{
        _cleanup_(freep) char *host = NULL;
        const char *port_s;
        bool v6 = addr[0] == '[';
        uint16_t port;

        if (v6) {
                const char *close_br = strchr(addr, ']');

                if (!close_br || close_br[1] != ':')
                        goto bad;
                host = strndup(addr + 1, (size_t)(close_br - addr - 1));
                port_s = close_br + 2;
        } else {
                const char *colon = strrchr(addr, ':');

                if (!colon || colon == addr)
                        goto bad;
                host = strndup(addr, (size_t)(colon - addr));
                port_s = colon + 1;
        }
        if (!host)
                return -ENOMEM;

        if (parse_port(port_s, &port) < 0)
                goto bad;

        memset(ret, 0, sizeof(*ret));
        if (v6) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ret;

                if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
                        goto bad;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                *ret_len = sizeof(*sin6);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ret;

                if (streq(host, "localhost"))
                        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
                        goto bad;
                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                *ret_len = sizeof(*sin);
        }

        return 0;

bad:
        set_msg(msg,
                "invalid listen address '%s': expected IPV4:PORT, [IPV6]:PORT, localhost:PORT "
                "or unix:/PATH",
                addr);
        return -EINVAL;
}

static int listen_inet(struct http_server *s, const char *addr, char **msg)
{
        _cleanup_(closep) int fd = -1;
        struct sockaddr_storage ss;
        socklen_t len;
        int one = 1, r;

        r = parse_inet(addr, &ss, &len, msg);
        if (r < 0)
                return r;

        s->is_loopback = is_loopback(&ss);
        if (!s->is_loopback && !s->allow_remote) {
                set_msg(msg,
                        "refusing to listen on '%s': not a loopback address, and TLS and "
                        "authentication are not configured (use 127.0.0.1, [::1] or unix:/PATH, "
                        "or configure --tls-cert, --tls-key and auth; --insecure overrides)",
                        addr);
                return -EPERM;
        }

        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = -errno;
                set_msg(msg, "cannot create a socket for '%s': %s", addr, strerror(-r));
                return r;
        }

        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                log_warning_errno(errno, "SO_REUSEADDR on '%s' failed, ignoring", addr);
        if (ss.ss_family == AF_INET6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
                log_warning_errno(errno, "IPV6_V6ONLY on '%s' failed, ignoring", addr);

        if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0) {
                r = -errno;
                set_msg(msg, "cannot listen on '%s': %s", addr, strerror(-r));
                return r;
        }

        len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
                r = -errno;
                set_msg(msg, "cannot read the bound port of '%s': %s", addr, strerror(-r));
                return r;
        }
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port :
                                                   ((struct sockaddr_in *)(void *)&ss)->sin_port);

        s->listen_fd = TAKE_FD(fd);
        return 0;
}

/*
 * An existing file at the socket path is removed only if it is a socket nobody answers on (left
 * behind by a crash). A regular file or a live socket is never touched.
 */
static int unix_remove_stale(const struct sockaddr_un *sun, char **msg)
{
        _cleanup_(closep) int probe = -1;
        struct stat st;

        if (lstat(sun->sun_path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                set_msg(msg, "cannot check '%s': %s", sun->sun_path, strerror(errno));
                return -errno;
        }

        if (!S_ISSOCK(st.st_mode)) {
                set_msg(msg, "cannot listen on '%s': the path exists and is not a socket",
                        sun->sun_path);
                return -EEXIST;
        }

        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
                set_msg(msg, "cannot create a socket: %s", strerror(errno));
                return -errno;
        }
        if (connect(probe, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
                set_msg(msg, "cannot listen on '%s': another process is listening there",
                        sun->sun_path);
                return -EADDRINUSE;
        }
        if (errno != ECONNREFUSED)
                return 0; /* vanished meanwhile, or not ours to judge: let bind() decide */

        if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
                set_msg(msg, "cannot remove the stale socket '%s': %s", sun->sun_path,
                        strerror(errno));
                return -errno;
        }

        log_info("removed stale socket '%s'", sun->sun_path);
        return 0;
}

static int listen_unix(struct http_server *s, const char *path, char **msg)
{
        _cleanup_(closep) int fd = -1;
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        struct stat st;
        int r;

        if (isempty(path) || strlen(path) >= sizeof(sun.sun_path)) {
                set_msg(msg, "invalid unix socket path '%s': empty or longer than %zu bytes", path,
                        sizeof(sun.sun_path) - 1);
                return -EINVAL;
        }
        memcpy(sun.sun_path, path, strlen(path) + 1);

        s->unix_path = strdup(path);
        if (!s->unix_path)
                return -ENOMEM;

        r = unix_remove_stale(&sun, msg);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = -errno;
                set_msg(msg, "cannot create a socket: %s", strerror(-r));
                return r;
        }

        if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
                r = -errno;
                set_msg(msg, "cannot bind '%s': %s", path, strerror(-r));
                return r;
        }

        /* From here on the file is ours: remember it so that stop removes exactly this one. */
        s->is_unix = true;
        if (lstat(path, &st) == 0) {
                s->unix_dev = st.st_dev;
                s->unix_ino = st.st_ino;
                s->unix_bound = true;
        }

        if (chmod(path, 0660) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0) {
                r = -errno;
                set_msg(msg, "cannot listen on '%s': %s", path, strerror(-r));
                return r;
        }

        s->listen_fd = TAKE_FD(fd);
        return 0;
}

/* A socket of the service manager's (a socket unit): its file and mode are the unit's, and it
 * stays bound after we stop, so that the next connection starts us again. */
static int listen_unix_inherited(struct http_server *s, const char *path, int fd, char **msg)
{
        s->unix_path = strdup(path);
        if (!s->unix_path) {
                (void)close(fd);
                return -ENOMEM;
        }
        s->is_unix = true;
        s->unix_bound = false;
        s->listen_fd = fd;
        return 0;
}

static void unix_remove(struct http_server *s)
{
        struct stat st;

        if (!s->unix_bound)
                return;
        s->unix_bound = false;

        /* Someone may have replaced the path since: only remove our own socket. */
        if (lstat(s->unix_path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_dev != s->unix_dev ||
            st.st_ino != s->unix_ino)
                return;

        if (unlink(s->unix_path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "cannot remove '%s', ignoring", s->unix_path);
}

static struct http_server *http_server_free(struct http_server *s)
{
        if (!s)
                return NULL;

        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        if (s->mhd_fd_returned && s->mhd_fd >= 0)
                (void)close(s->mhd_fd);
        if (s->listen_fd >= 0)
                (void)close(s->listen_fd);
        unix_remove(s);
        free(s->unix_path);
        free(s);
        return NULL;
}

static inline void http_server_freep(struct http_server **s)
{
        *s = http_server_free(*s);
}

int http_start(const struct http_config *cfg, struct api *api, struct http_server **ret,
               char **reterr_msg)
{
        _cleanup_(http_server_freep) struct http_server *s = NULL;
        _cleanup_(freep) char *msg = NULL;
        int r;

        assert_return(cfg, -EINVAL);
        assert_return(cfg->listen, -EINVAL);
        assert_return(cfg->threads >= 1, -EINVAL);
        assert_return(api, -EINVAL);
        assert_return(ret, -EINVAL);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->api = api;
        s->threads = cfg->threads;
        s->allow_remote = cfg->allow_remote;
        s->web = cfg->web;
        s->listen_fd = s->mhd_fd = -1;
        atomic_init(&s->in_flight, 0);
        atomic_init(&s->suspended, 0);
        atomic_init(&s->stopping, false);
        atomic_init(&s->writing_here, 0);

        if (strncmp(cfg->listen, "unix:", 5) == 0 && cfg->inherited_fd >= 3)
                r = listen_unix_inherited(s, cfg->listen + 5, cfg->inherited_fd, &msg);
        else if (strncmp(cfg->listen, "unix:", 5) == 0)
                r = listen_unix(s, cfg->listen + 5, &msg);
        else
                r = listen_inet(s, cfg->listen, &msg);
        if (r < 0)
                goto fail;
        s->metrics_only = cfg->metrics_only;
        s->metrics_open = cfg->metrics_only && (s->is_unix || s->is_loopback);

        /*
         * MHD closes a socket it was given on stop, but not on every failure path of
         * MHD_start_daemon(). Handing it a dup keeps our own descriptor's ownership clear: a failed
         * start can at worst leak the dup, never close a descriptor twice.
         */
        s->mhd_fd = fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 3);
        if (s->mhd_fd < 0) {
                r = -errno;
                set_msg(&msg, "cannot duplicate the listening socket: %s", strerror(-r));
                goto fail;
        }

        /*
         * poll, not epoll: 0.9.75's MHD_epoll() stalls when exactly 128 sockets are ready.
         * ITC is what lets MHD_quiesce_daemon() wake the pool threads, and MHD_resume_connection()
         * wake the one a suspended request belongs to (an api_pending answer, e.g. a check).
         */
        if (cfg->tls && !s->is_unix) {
                s->is_tls = true;
                tls_creds_set_current(cfg->tls);
                s->daemon = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                                MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TLS,
                        0, NULL, NULL, http_handle, s, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log,
                        NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->mhd_fd,
                        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
                        MHD_OPTION_CONNECTION_LIMIT,
                        (unsigned)(cfg->max_connections ?: HTTP_MAX_CONNECTIONS),
                        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                        (unsigned)(cfg->max_conn_per_client ?: HTTP_PER_CLIENT_DEFAULT),
                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
                        MHD_OPTION_CONNECTION_TIMEOUT,
                        (unsigned)(cfg->idle_timeout_s ?: HTTP_CONNECTION_TIMEOUT_S),
                        MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, s, MHD_OPTION_NOTIFY_COMPLETED,
                        http_completed, s, MHD_OPTION_HTTPS_CERT_CALLBACK, tls_creds_callback(),
                        MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
                        MHD_OPTION_END);
        } else
                s->daemon = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                                MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                        0, NULL, NULL, http_handle, s,
                        /* first, or MHD prints the messages about the other options itself */
                        MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
                        (MHD_socket)s->mhd_fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
                        MHD_OPTION_CONNECTION_LIMIT,
                        (unsigned)(cfg->max_connections ?: HTTP_MAX_CONNECTIONS),
                        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                        (unsigned)(s->is_unix ?
                                           0 :
                                           (cfg->max_conn_per_client ?: HTTP_PER_CLIENT_DEFAULT)),
                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
                        MHD_OPTION_CONNECTION_TIMEOUT,
                        (unsigned)(cfg->idle_timeout_s ?: HTTP_CONNECTION_TIMEOUT_S),
                        MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, s, MHD_OPTION_NOTIFY_COMPLETED,
                        http_completed, s, MHD_OPTION_END);
        if (!s->daemon) {
                s->mhd_fd = -1;
                set_msg(&msg, "cannot start the HTTP server on '%s' (see the log above)",
                        cfg->listen);
                r = -EIO;
                goto fail;
        }

        *ret = TAKE_PTR(s);
        return 0;

fail:
        if (r == -ENOMEM || !msg)
                set_msg(&msg, "cannot listen on '%s': %s", cfg->listen, strerror(-r));
        if (reterr_msg)
                *reterr_msg = TAKE_PTR(msg);
        return r;
}

unsigned http_port(const struct http_server *s)
{
        return s ? s->port : 0;
}

void http_stop(struct http_server *s, unsigned drain_ms)
{
        int64_t deadline;
        MHD_socket fd;

        if (!s)
                return;

        atomic_store(&s->stopping, true);

        if (s->daemon) {
                fd = MHD_quiesce_daemon(s->daemon);
                if (fd == MHD_INVALID_SOCKET) {
                        /* MHD still owns its socket and closes it in MHD_stop_daemon(). */
                        log_warning("cannot stop accepting connections, stopping right away");
                        drain_ms = 0;
                } else
                        s->mhd_fd_returned = true;

                /* New clients of a unix socket fail at once instead of waiting in the backlog. */
                unix_remove(s);

                deadline = clock_usec(CLOCK_MONOTONIC) + (int64_t)drain_ms * 1000;
                while (atomic_load(&s->in_flight) > 0 && clock_usec(CLOCK_MONOTONIC) < deadline)
                        (void)poll(NULL, 0, 5);

                if (atomic_load(&s->in_flight) > 0)
                        log_warning("%u request(s) still running after %u ms, closing them",
                                    atomic_load(&s->in_flight), drain_ms);

                /*
                 * MHD aborts when stopped with a suspended connection, and a late resume would
                 * touch freed memory: wait for every pending answer (the caller has cancelled the
                 * work behind them, so they come within milliseconds).
                 */
                while (atomic_load(&s->suspended) > 0)
                        (void)poll(NULL, 0, 5);

                MHD_stop_daemon(s->daemon);
                s->daemon = NULL;
        }

        /* A quiesced socket is ours again, but may only be closed after MHD_stop_daemon(). */
        (void)http_server_free(s);
}
