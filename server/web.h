/* SPDX-License-Identifier: MIT */
/*
 * The bundled web UI (docs/ui.md): the files of --web-root, loaded into memory at start with
 * their ETag and a gzip copy, served at / with a strict Content-Security-Policy and the other
 * security headers. Public: every API call the UI makes needs the token as usual.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define WEB_FILES_MAX 256
#define WEB_FILE_MAX  (1024 * 1024)
#define WEB_DEPTH_MAX 4

/* Every UI answer's security headers. */
#define WEB_CSP                                                                                    \
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "               \
        "frame-ancestors 'none'"

struct web;

struct web_file {
        char *path;       /* "/index.html", "/js/app.js" */
        const char *type; /* Content-Type (static) */
        char *data;       /* the bytes */
        size_t len;
        char *gz; /* gzip of data, NULL when it is not smaller */
        size_t gz_len;
        char etag[24];    /* "\"<16 hex>\"" of data */
        char etag_gz[28]; /* the gzip variant's */
};

/*
 * Load every regular file below dir (at most WEB_FILES_MAX of WEB_FILE_MAX bytes, WEB_DEPTH_MAX
 * directories deep; names of [A-Za-z0-9._-] that do not start with '.'; symlinks are not
 * followed). 0 with *ret, or -errno with *msg (owned) saying what is wrong: -ENOENT when dir does
 * not exist, -E2BIG over the limits, -EINVAL for a name that cannot be served.
 */
int web_load(const char *dir, struct web **ret, char **msg);
struct web *web_free(struct web *w);

/* The file a request path names ("/" is "/index.html"), NULL if none. */
const struct web_file *web_find(const struct web *w, const char *path);
size_t web_count(const struct web *w);
size_t web_bytes(const struct web *w,
                 bool gz); /* the sum of the files, or of what is sent gzipped */

/* Does an Accept-Encoding value accept gzip (a "gzip" token without q=0)? */
bool web_accepts_gzip(const char *accept_encoding);

/* Does an If-None-Match value match etag ("*", or one of a comma-separated list, W/ allowed)? */
bool web_etag_matches(const char *if_none_match, const char *etag);
