/* SPDX-License-Identifier: MIT */
/*
 * The integration harness: a fresh temp state dir per test, the real engine, api and HTTP server
 * in-process on 127.0.0.1:<ephemeral>, libcurl request helpers, and whole-state snapshots of
 * both mirrors (ifaces/ files and sqlite rows) so a test can prove that a refused request
 * changed nothing. Exit code 99 means the harness itself broke, not the product.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define HARNESS_EXIT_BROKEN       99
#define HARNESS_MAX_EXTRA_HEADERS 8

struct engine;
struct api;
struct http_server;

struct harness {
        char dir[512];    /* the mkdtemp() dir, removed by teardown */
        char root[600];   /* <dir>/root: the iscsi db root */
        char ifaces[640]; /* <dir>/root/ifaces */
        char lock[600];   /* <dir>/lock: iscsiadm's lock dir */
        char db[600];     /* <dir>/db.sqlite */
        struct engine *engine;
        struct api *api;
        struct http_server *server;
        unsigned port;
        void *curl; /* one CURL handle, reused: keep-alive like a real client */
        char *extra[HARNESS_MAX_EXTRA_HEADERS]; /* headers for the next request only */
        size_t n_extra;
};

/* One response. Every string is owned (NULL when the header was absent); free with hresp_done. */
struct hresp {
        long status; /* 0 when the transfer itself failed */
        char *body;  /* NUL-terminated, body_len bytes */
        size_t body_len;
        char *etag;
        char *location;
        char *allow;
        char *content_type;
        char *request_id; /* X-Request-Id */
        char *headers;    /* every header line of the final answer, "Name: value\r\n" each */
        size_t headers_len;
};

/*
 * cmocka fixtures. setup builds <tmp>/{root,lock} and db.sqlite, engine_new (drift import,
 * lock_timeout_ms 2000) + engine_start_watch + api_new + http_start on 127.0.0.1:0 with two
 * threads; exits 99 if any of it fails. teardown checks harness_mirrors_agree() (a disagreement
 * fails the test), then stops the server, frees the engine and removes the temp dir, whatever
 * the outcome.
 */
int harness_setup(void **state);
int harness_teardown(void **state);

/* Print a reason and exit 99: for failures of the harness, never of the product. */
_Noreturn void harness_broken(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Queue one "Name: value" header for the next request (If-Match, Accept, X-Request-Id). */
void harness_header(struct harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Send one request to the in-process server and wait for the answer. content_type NULL sends no
 * Content-Type at all (libcurl's form default is suppressed); body NULL sends no body. The
 * queued extra headers are sent and cleared. out may be NULL. Returns the status, 0 if the
 * transfer failed (the reason is printed).
 */
long http(struct harness *h, const char *method, const char *path, const char *content_type,
          const char *body, struct hresp *out);

/* Same with an explicit body length (bodies with NUL bytes). */
long http_len(struct harness *h, const char *method, const char *path, const char *content_type,
              const char *body, size_t body_len, struct hresp *out);

void hresp_done(struct hresp *r);

/*
 * The contract record (tests/contract/README.md). With IFD_CONTRACT_DIR set (tests/meson.build),
 * every answer http() receives is appended as one JSON line to <dir>/<program>-<pid>.jsonl;
 * harness_teardown() checks the file against openapi.yaml (node tests/contract/validate.mjs) and
 * fails the test on an answer the contract does not allow, then starts the file afresh.
 * harness_record_curl() records the exchange a finished CURL handle made (for a test's own
 * libcurl client); client names the recorder in failure messages. Records left at exit are
 * checked then (a failure ends the process with 1).
 */
void harness_record_curl(void *curl, const char *client, const char *headers, size_t headers_len,
                         const char *body, size_t body_len);
/*
 * For a test's own libcurl handle: harness_capture_start() makes it keep the answer's header lines
 * and body in cap; harness_capture_record() records the finished exchange (as
 * harness_record_curl) and frees what cap holds.
 */
struct harness_capture {
        char *headers, *body;
        size_t headers_len, body_len;
};
void harness_capture_start(void *curl, struct harness_capture *cap);
void harness_capture_record(void *curl, const char *client, struct harness_capture *cap);

/* Check the record so far and start it afresh: 0 when every answer is allowed (or nothing was
 * recorded), -1 when not (the checker names each). */
int harness_contract_check(void);

/* Parse a response body as JSON; NULL (with the reason printed) if it is not JSON. */
json_t *hresp_json(const struct hresp *r);

/* Members of a JSON object by key; NULL / -1 when absent or of another type. */
const char *hjson_str(const json_t *o, const char *key);
long long hjson_int(const json_t *o, const char *key);

/* The revision in an ETag header ("\"12\"" -> 12), or 0 if it is not of that form. */
uint64_t hetag_revision(const char *etag);

/*
 * Check that r is an RFC 9457 problem: status, Content-Type application/problem+json, members
 * type, title, status (== the HTTP status) and a non-empty detail, and "field" equal to field
 * (NULL: absent). Returns true, or false with the first mismatch written to why.
 */
bool harness_problem_ok(const struct hresp *r, long status, const char *field, char *why,
                        size_t why_size);

/* cmocka assertion form of harness_problem_ok(). */
#define assert_problem(r, status, field)                                                           \
        do {                                                                                       \
                char why_[512];                                                                    \
                if (!harness_problem_ok((r), (status), (field), why_, sizeof(why_)))               \
                        fail_msg("%s", why_);                                                      \
        } while (0)

/*
 * Read <root>/ifaces/<name> whole into *ret (NUL-terminated, owned). Returns the length, or
 * -errno (-ENOENT when the file does not exist).
 */
long harness_file(struct harness *h, const char *name, char **ret);

/* Create or replace <root>/ifaces/<name> in place (as iscsiadm's fopen "w" does), mode 0600. */
void harness_write_file(struct harness *h, const char *name, const char *content);

/* Remove <root>/ifaces/<name> (missing is fine). */
void harness_remove_file(struct harness *h, const char *name);

/* Everything both mirrors hold at one instant. */
struct hsnap_file {
        char *name;
        char *data;
        size_t len;
        unsigned mode; /* permission bits */
};

struct hsnap_row {
        char *name;
        char *content;
        long long revision;
};

struct hsnap {
        struct hsnap_file *files; /* sorted by strcmp of name */
        size_t n_files;
        struct hsnap_row *rows; /* ORDER BY name */
        size_t n_rows;
        long long audit_count;
};

/*
 * Capture the sorted file list and bytes under <root>/ifaces, the rows of
 * "SELECT name, content, revision FROM ifaces ORDER BY name" and "SELECT count(*) FROM audit"
 * (sqlite opened read-only). Exits 99 if the state cannot be read.
 */
struct hsnap *harness_snapshot(struct harness *h);
void hsnap_free(struct hsnap *s);

/* The row of name, or NULL. */
const struct hsnap_row *hsnap_row(const struct hsnap *s, const char *name);

/* true if a and b hold the same files, rows and audit count; otherwise why names the first difference. */
bool hsnap_equal(const struct hsnap *a, const struct hsnap *b, char *why, size_t why_size);

#define assert_snapshot_equal(a, b)                                                                \
        do {                                                                                       \
                char why_[512];                                                                    \
                if (!hsnap_equal((a), (b), why_, sizeof(why_)))                                    \
                        fail_msg("state changed: %s", why_);                                       \
        } while (0)

/*
 * true if every file under <root>/ifaces has a sqlite row with the same bytes, and every row has
 * such a file. Differences are printed.
 */
bool harness_mirrors_agree(struct harness *h);

/* Milliseconds of CLOCK_MONOTONIC, and a sleep. */
int64_t harness_now_ms(void);
void harness_sleep_ms(unsigned ms);
