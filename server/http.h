/* SPDX-License-Identifier: MIT */
/* The libmicrohttpd front: listeners, per-request state, body limits, graceful drain. */
#pragma once

#include <stdbool.h>

struct api;
struct http_server;

struct tls_creds;

/* The defaults of a struct http_config left 0 (and of the daemon's options of the same name). */
#define HTTP_MAX_CONNECTIONS      4096 /* across the pool; also bounded by RLIMIT_NOFILE */
#define HTTP_CONNECTION_TIMEOUT_S 30   /* idle keep-alive and stalled uploads (slowloris) */
#define HTTP_PER_CLIENT_DEFAULT   64   /* TCP connections per client address */

struct http_config {
        const char *listen; /* "127.0.0.1:8080", "[::1]:8080", "unix:/path"; port 0 = ephemeral */
        unsigned threads;   /* worker threads of the pool, >= 1 */
        struct tls_creds *tls;        /* TCP only: serve TLS with these (borrowed), or NULL */
        bool allow_remote;            /* a non-loopback TCP address is allowed */
        unsigned max_conn_per_client; /* TCP: per client address, 0 = HTTP_PER_CLIENT_DEFAULT */
        unsigned idle_timeout_s;  /* close idle or stalled ones, 0 = HTTP_CONNECTION_TIMEOUT_S */
        unsigned max_connections; /* in all, 0 = HTTP_MAX_CONNECTIONS */
        const struct web *web;    /* the UI's files (borrowed; server/web.h), NULL: no UI */
        bool metrics_only;        /* --metrics-listen: GET /metrics only; open if loopback/unix */
        /* unix: only: a listening socket of that path passed by the service manager (>= 3, owned
         * from then on; server/notify.h), served as it is and never unlinked; 0: bind it here */
        int inherited_fd;
};

/*
 * Listen and serve api (borrowed) until http_stop(). TCP listeners must be loopback unless
 * allow_remote is set (main.c allows it only with TLS and auth, or --insecure). On failure *reterr_msg (if not NULL) gets an
 * owned reason. Returns 0, -EINVAL (bad listen string), -EADDRINUSE, -EPERM, or -errno.
 */
int http_start(const struct http_config *cfg, struct api *api, struct http_server **ret,
               char **reterr_msg);

/* The bound TCP port (useful with port 0), or 0 for a unix socket. */
unsigned http_port(const struct http_server *s);

/*
 * Stop accepting, let in-flight requests finish (at most drain_ms), then stop and free. A unix
 * socket file is removed. NULL-safe.
 */
void http_stop(struct http_server *s, unsigned drain_ms);
