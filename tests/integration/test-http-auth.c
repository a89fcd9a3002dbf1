/* SPDX-License-Identifier: MIT */
/*
 * Who may do what, over real HTTP (docs/security.md): every route of api/routes.c against every
 * kind of caller (no token, garbage, a wrong secret, revoked, viewer, operator, admin, the unix
 * socket's root and a non-root peer with and without a role), and the tarpit, the rate limit,
 * the token API and the audit it leaves. Runs as root (the non-root peer is a forked child that
 * drops to nobody).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "internal.h"
#include "macro.h"
#include "engine.h"
#include "harness.h"
#include "http.h"
#include "token.h"

#define NOBODY 65534

enum who {
        WHO_NONE,
        WHO_GARBAGE,
        WHO_WRONG_SECRET,
        WHO_REVOKED,
        WHO_VIEWER,
        WHO_OPERATOR,
        WHO_ADMIN,
        WHO_UNIX_ROOT,
        WHO_UNIX_NOBODY,        /* no role mapped */
        WHO_UNIX_NOBODY_VIEWER, /* the same uid, mapped as viewer by a second api */
        _WHO_MAX,
};

static const char *const who_names[_WHO_MAX] = {
        "none",     "garbage", "wrong-secret", "revoked",     "viewer",
        "operator", "admin",   "unix-root",    "unix-nobody", "unix-nobody-viewer",
};

struct fix {
        struct harness *h;
        char token[_WHO_MAX][TOKEN_LEN + 1];
        char sockdir[64];
        char sock[96];
        struct http_server *unix_server;
};

/* One request over the unix socket with libcurl; the status, or 0. */
static long unix_request(const char *sock, const char *method, const char *path, const char *body)
{
        CURL *c = curl_easy_init();
        struct curl_slist *hdr = NULL;
        struct harness_capture cap;
        char url[256];
        long status = 0;

        snprintf(url, sizeof(url), "http://localhost%s", path);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        harness_capture_start(c, &cap); /* the answer is checked against openapi.yaml */
        if (streq(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        if (body) {
                hdr = curl_slist_append(hdr, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        harness_capture_record(c, "test-http-auth.c unix_request", &cap);
        curl_slist_free_all(hdr);
        curl_easy_cleanup(c);
        return status;
}

/* The same from a child running as nobody (its answers cannot be recorded: the record is
 * root's). */
static long unix_request_as_nobody(const char *sock, const char *method, const char *path,
                                   const char *body)
{
        int p[2], st;
        long status = 0;
        pid_t pid;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(3);
                status = unix_request(sock, method, path, body);
                (void)!write(p[1], &status, sizeof(status));
                _exit(0);
        }
        close(p[1]);
        if (read(p[0], &status, sizeof(status)) != (ssize_t)sizeof(status))
                status = -1;
        close(p[0]);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        return status;
}

static void auth_on(struct harness *h, const struct api_unix_role *roles, size_t n_roles)
{
        assert_int_equal(api_set_auth(h->api,
                                      &(const struct api_auth_config){
                                              .enabled = true,
                                              .unix_roles = roles,
                                              .n_unix_roles = n_roles,
                                              .rate_limit = 100000,
                                              .rate_burst = 100000,
                                              .tarpit_base_ms = 1,
                                              .tarpit_max_ms = 2,
                                      }),
                         0);
}

static int fix_setup(void **state)
{
        struct fix *f = calloc(1, sizeof(*f));
        struct engine *t;
        struct token_info ti;
        void *hs = NULL;

        if (!f || harness_setup(&hs) != 0)
                harness_broken("setup");
        f->h = hs;
        t = f->h->engine;

        assert_int_equal(engine_token_create(t, ROLE_VIEWER, "viewer", "test", NULL,
                                             f->token[WHO_VIEWER], &ti),
                         0);
        assert_int_equal(engine_token_create(t, ROLE_OPERATOR, "operator", "test", NULL,
                                             f->token[WHO_OPERATOR], &ti),
                         0);
        assert_int_equal(
                engine_token_create(t, ROLE_ADMIN, "admin", "test", NULL, f->token[WHO_ADMIN], &ti),
                0);
        assert_int_equal(engine_token_create(t, ROLE_ADMIN, "gone", "test", NULL,
                                             f->token[WHO_REVOKED], &ti),
                         0);
        assert_int_equal(engine_token_revoke(t, ti.id, "test", NULL), 0);
        snprintf(f->token[WHO_GARBAGE], sizeof(f->token[0]), "%s", "not-a-token");
        /* A real id with another secret. */
        snprintf(f->token[WHO_WRONG_SECRET], sizeof(f->token[0]), "%.17s%s", f->token[WHO_ADMIN],
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

        /* A unix socket that nobody may connect to (the role decides, not the mode). */
        snprintf(f->sockdir, sizeof(f->sockdir), "/tmp/ifd-auth-XXXXXX");
        if (!mkdtemp(f->sockdir) || chmod(f->sockdir, 0755) < 0)
                harness_broken("mkdtemp: %m");
        snprintf(f->sock, sizeof(f->sock), "%s/sock", f->sockdir);
        {
                char listen[128];

                snprintf(listen, sizeof(listen), "unix:%s", f->sock);
                if (http_start(&(const struct http_config){ .listen = listen, .threads = 1 },
                               f->h->api, &f->unix_server, NULL) < 0)
                        harness_broken("unix listener");
        }
        if (chmod(f->sock, 0666) < 0)
                harness_broken("chmod: %m");

        *state = f;
        return 0;
}

static int fix_teardown(void **state)
{
        struct fix *f = *state;
        void *hs = f->h;

        http_stop(f->unix_server, 1000);
        (void)rmdir(f->sockdir);
        explicit_bzero(f->token, sizeof(f->token));
        free(f);
        return harness_teardown(&hs);
}

/* Make a route's path concrete: "{name}" and friends become an existing-looking value. */
static void concrete_path(const char *pattern, char *buf, size_t size)
{
        const char *b = strchr(pattern, '{');

        if (!b) {
                snprintf(buf, size, "%s", pattern);
                return;
        }
        snprintf(buf, size, "%.*s%s%s", (int)(b - pattern), pattern,
                 strstr(pattern, "jobs")   ? "00000000000000000000000000000000" :
                 strstr(pattern, "tokens") ? "000000000000" :
                                             "default",
                 strchr(b, '}') + 1);
}

static const char *body_for(const char *method, const char *path)
{
        if (streq(method, "GET") || streq(method, "DELETE") || streq(method, "HEAD"))
                return NULL;
        if (strstr(path, "/checks") && strstr(path, "ifaces"))
                return "{\"portal\":\"127.0.0.1:1\",\"steps\":[\"tcp\"],\"timeout_ms\":200}";
        if (streq(path, "/api/v1/checks"))
                return "{\"ifaces\":[\"default\"],\"portals\":[\"127.0.0.1:1\"],\"steps\":[\"tcp\"]}";
        if (strstr(path, "tokens"))
                return "{\"role\":\"viewer\",\"name\":\"matrix\"}";
        if (streq(method, "PATCH"))
                return "{\"mtu\":1500}";
        return "{\"name\":\"m1\",\"transport_name\":\"tcp\",\"net_ifacename\":\"lo\"}";
}

static long tcp_request(struct fix *f, const char *token, const char *method, const char *path,
                        const char *body, struct hresp *out)
{
        if (token)
                harness_header(f->h, "Authorization: Bearer %s", token);
        return http(f->h, method, path,
                    body ? (streq(method, "PATCH") ? "application/merge-patch+json" :
                                                     "application/json") :
                           NULL,
                    body, out);
}

static void test_auth_matrix(void **state)
{
        struct fix *f = *state;
        static const struct api_unix_role none[] = {};
        size_t cells = 0;

        auth_on(f->h, none, 0);

        for (size_t i = 0; i < api_n_routes; i++) {
                const struct route *rt = &api_routes[i];
                char path[128];
                const char *body;

                concrete_path(rt->path, path, sizeof(path));
                body = body_for(rt->method, path);

                for (int w = 0; w < _WHO_MAX; w++) {
                        struct hresp r = {};
                        enum role have = ROLE_NONE;
                        long st = 0;
                        /*
                         * An allowed GET /api/v1/events streams without an end: the same route
                         * and checks through HEAD, which answers with the headers alone
                         * (integration.events covers the stream). Refusals keep GET, whose
                         * problem body is checked.
                         */
                        const char *method =
                                rt->fn == events_stream && w >= WHO_VIEWER && w != WHO_UNIX_NOBODY ?
                                        "HEAD" :
                                        rt->method;

                        switch ((enum who)w) {
                        case WHO_NONE:
                                st = tcp_request(f, NULL, method, path, body, &r);
                                break;
                        case WHO_GARBAGE:
                        case WHO_WRONG_SECRET:
                        case WHO_REVOKED:
                                st = tcp_request(f, f->token[w], method, path, body, &r);
                                break;
                        case WHO_VIEWER:
                        case WHO_OPERATOR:
                        case WHO_ADMIN:
                                have = w == WHO_VIEWER   ? ROLE_VIEWER :
                                       w == WHO_OPERATOR ? ROLE_OPERATOR :
                                                           ROLE_ADMIN;
                                st = tcp_request(f, f->token[w], method, path, body, &r);
                                break;
                        case WHO_UNIX_ROOT:
                                have = ROLE_ADMIN;
                                st = unix_request(f->sock, method, path, body);
                                break;
                        case WHO_UNIX_NOBODY:
                                st = unix_request_as_nobody(f->sock, method, path, body);
                                break;
                        case WHO_UNIX_NOBODY_VIEWER: {
                                static const struct api_unix_role viewer[] = {
                                        { NOBODY, "viewer" },
                                };

                                auth_on(f->h, viewer, 1);
                                have = ROLE_VIEWER;
                                st = unix_request_as_nobody(f->sock, method, path, body);
                                auth_on(f->h, none, 0);
                                break;
                        }
                        case _WHO_MAX:
                        default:
                                fail();
                        }

                        print_message("%-6s %-32s %-18s -> %ld\n", rt->method, path, who_names[w],
                                      st);
                        if (have == ROLE_NONE) {
                                assert_int_equal(st, 401);
                                if (w <= WHO_REVOKED) {
                                        assert_non_null(r.body);
                                        assert_non_null(strstr(r.body, "unauthorized"));
                                }
                        } else if (have < rt->role)
                                assert_int_equal(st, 403);
                        else {
                                assert_true(st >= 200 && st < 500);
                                assert_true(st != 401 && st != 403);
                        }
                        hresp_done(&r);
                        cells++;
                }
        }
        print_message("auth matrix: %zu routes x %d callers = %zu cells\n", api_n_routes, _WHO_MAX,
                      cells);
}

/*
 * Four failures of the caller who: the 3rd waits 100 ms and the 4th 200 ms (the tarpit at its
 * real pace). With viewer_first, a valid viewer request from the same client comes before each
 * failure, and must not reset the count.
 */
static void assert_tarpit_pace(struct fix *f, int who, bool viewer_first)
{
        for (int i = 1; i <= 4; i++) {
                int64_t t0, dt;

                if (viewer_first)
                        assert_int_equal(tcp_request(f, f->token[WHO_VIEWER], "GET",
                                                     "/api/v1/ifaces", NULL, NULL),
                                         200);
                t0 = harness_now_ms();
                assert_int_equal(tcp_request(f, f->token[who], "GET", "/api/v1/ifaces", NULL, NULL),
                                 401);
                dt = harness_now_ms() - t0;
                print_message("failure %d%s answered in %lld ms\n", i,
                              viewer_first ? " after a success" : "", (long long)dt);
                if (i == 3)
                        assert_true(dt >= 90);
                if (i == 4)
                        assert_true(dt >= 190);
        }
}

static void test_auth_headers_and_tarpit(void **state)
{
        struct fix *f = *state;
        struct hresp r = {};
        int64_t t0;

        auth_on(f->h, NULL, 0);

        /* 401 names the scheme; a bad token adds invalid_token; 403 names the role. */
        http(f->h, "GET", "/api/v1/ifaces", NULL, NULL, &r);
        assert_problem(&r, 401, NULL);
        hresp_done(&r);
        tcp_request(f, f->token[WHO_VIEWER], "DELETE", "/api/v1/ifaces/x", NULL, &r);
        assert_problem(&r, 403, NULL);
        assert_non_null(strstr(r.body, "operator"));
        hresp_done(&r);

        /* The tarpit at its real pace: the 3rd failure waits 100 ms, the 4th 200 ms. */
        assert_int_equal(
                api_set_auth(f->h->api, &(const struct api_auth_config){ .enabled = true,
                                                                         .rate_limit = 1000,
                                                                         .rate_burst = 1000 }),
                0);
        assert_tarpit_pace(f, WHO_GARBAGE, false);
        /* Meanwhile the server is not held: a good request from the same client is fast. */
        t0 = harness_now_ms();
        assert_int_equal(tcp_request(f, f->token[WHO_VIEWER], "GET", "/api/v1/ifaces", NULL, NULL),
                         200);
        assert_true(harness_now_ms() - t0 < 90);
}

/*
 * A success does not reset the tarpit of its client: otherwise one valid (viewer) token
 * interleaved with guesses would keep every guess fast.
 */
static void test_tarpit_not_reset_by_success(void **state)
{
        struct fix *f = *state;

        assert_int_equal(
                api_set_auth(f->h->api, &(const struct api_auth_config){ .enabled = true,
                                                                         .rate_limit = 1000,
                                                                         .rate_burst = 1000 }),
                0);
        assert_tarpit_pace(f, WHO_WRONG_SECRET, true);
}

/* An Idempotency-Key belongs to the principal that sent it. */
static void test_idempotency_key_per_principal(void **state)
{
        struct fix *f = *state;
        struct sockaddr_in sin = { .sin_family = AF_INET };
        socklen_t len = sizeof(sin);
        char body[160], body2[160], loc_op[96], loc_admin[96];
        struct hresp r = {};
        int fd;

        auth_on(f->h, NULL, 0);

        /* A port nobody listens on: the checks fail fast, which is all a job needs here. */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        close(fd);
        snprintf(body, sizeof(body), "{\"ifaces\":[\"default\"],\"portals\":[\"127.0.0.1:%u\"]}",
                 ntohs(sin.sin_port));
        snprintf(body2, sizeof(body2),
                 "{\"ifaces\":[\"default\"],\"portals\":[\"127.0.0.1:%u\",\"127.0.0.2:%u\"]}",
                 ntohs(sin.sin_port), ntohs(sin.sin_port));

        harness_header(f->h, "Idempotency-Key: shared-key");
        assert_int_equal(tcp_request(f, f->token[WHO_OPERATOR], "POST", "/api/v1/checks", body, &r),
                         202);
        snprintf(loc_op, sizeof(loc_op), "%s", r.location);
        hresp_done(&r);

        /* The same key and body from the admin: a job of its own, not the operator's. */
        harness_header(f->h, "Idempotency-Key: shared-key");
        assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "POST", "/api/v1/checks", body, &r),
                         202);
        snprintf(loc_admin, sizeof(loc_admin), "%s", r.location);
        hresp_done(&r);
        assert_string_not_equal(loc_op, loc_admin);

        /* Another body under the same key from a third principal: no 422 (no collision). */
        harness_header(f->h, "Idempotency-Key: shared-key");
        tcp_request(f, NULL, "POST", "/api/v1/checks", body2, &r); /* no token: 401 first */
        assert_int_equal(r.status, 401);
        hresp_done(&r);
        {
                char tok[TOKEN_LEN + 1];
                struct token_info ti;

                assert_int_equal(engine_token_create(f->h->engine, ROLE_OPERATOR, "op2", "test",
                                                     NULL, tok, &ti),
                                 0);
                harness_header(f->h, "Idempotency-Key: shared-key");
                assert_int_equal(tcp_request(f, tok, "POST", "/api/v1/checks", body2, &r), 202);
                assert_string_not_equal(r.location, loc_op);
                assert_string_not_equal(r.location, loc_admin);
                hresp_done(&r);
                explicit_bzero(tok, sizeof(tok));
        }

        /* Each principal still gets its own job back for its own key. */
        harness_header(f->h, "Idempotency-Key: shared-key");
        assert_int_equal(tcp_request(f, f->token[WHO_OPERATOR], "POST", "/api/v1/checks", body, &r),
                         202);
        assert_string_equal(r.location, loc_op);
        hresp_done(&r);
        harness_header(f->h, "Idempotency-Key: shared-key");
        assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "POST", "/api/v1/checks", body, &r),
                         202);
        assert_string_equal(r.location, loc_admin);
        hresp_done(&r);
}

static void test_rate_limit(void **state)
{
        struct fix *f = *state;
        int n429 = 0, n200 = 0;

        assert_int_equal(api_set_auth(f->h->api,
                                      &(const struct api_auth_config){
                                              .enabled = true, .rate_limit = 5, .rate_burst = 5 }),
                         0);
        for (int i = 0; i < 20; i++) {
                struct hresp r = {};
                long st = tcp_request(f, f->token[WHO_OPERATOR], "GET", "/api/v1/ifaces", NULL, &r);

                if (st == 429) {
                        n429++;
                        assert_problem(&r, 429, NULL);
                } else if (st == 200)
                        n200++;
                hresp_done(&r);
        }
        print_message("20 requests at burst 5: %d x 200, %d x 429\n", n200, n429);
        assert_true(n200 >= 5 && n200 <= 7);
        assert_true(n429 >= 13);

        /* Another token has its own bucket. */
        assert_int_equal(tcp_request(f, f->token[WHO_VIEWER], "GET", "/api/v1/ifaces", NULL, NULL),
                         200);
}

static void test_token_api_and_audit(void **state)
{
        struct fix *f = *state;
        struct hresp r = {};
        json_t *j, *items, *it;
        char token[TOKEN_LEN + 1], id[TOKEN_ID_LEN + 1], path[64];
        size_t i;
        bool saw_create = false, saw_revoke = false, saw_iface = false;

        auth_on(f->h, NULL, 0);

        harness_header(f->h, "X-Request-Id: req-token-create");
        assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "POST", "/api/v1/tokens",
                                     "{\"role\":\"operator\",\"name\":\"ci\"}", &r),
                         201);
        j = hresp_json(&r);
        snprintf(token, sizeof(token), "%s", hjson_str(j, "token"));
        snprintf(id, sizeof(id), "%s", hjson_str(j, "id"));
        json_decref(j);
        hresp_done(&r);
        assert_int_equal(strlen(token), TOKEN_LEN);

        /* The new token works, changes something, and the audit says who. */
        harness_header(f->h, "X-Request-Id: req-audit-1");
        assert_int_equal(tcp_request(f, token, "POST", "/api/v1/ifaces",
                                     "{\"name\":\"aud1\",\"transport_name\":\"tcp\","
                                     "\"net_ifacename\":\"lo\"}",
                                     NULL),
                         201);

        /* Listing never shows a secret. */
        assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "GET", "/api/v1/tokens", NULL, &r),
                         200);
        assert_null(strstr(r.body, token + 4 + TOKEN_ID_LEN + 1));
        assert_null(strstr(r.body, "hash"));
        hresp_done(&r);

        snprintf(path, sizeof(path), "/api/v1/tokens/%s", id);
        harness_header(f->h, "X-Request-Id: req-token-revoke");
        assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "DELETE", path, NULL, NULL), 204);
        assert_int_equal(tcp_request(f, token, "GET", "/api/v1/ifaces", NULL, NULL), 401);
        tcp_request(f, f->token[WHO_ADMIN], "DELETE", path, NULL, &r);
        assert_problem(&r, 409, NULL);
        hresp_done(&r);

        assert_int_equal(
                tcp_request(f, f->token[WHO_ADMIN], "GET", "/api/v1/audit?limit=50", NULL, &r),
                200);
        assert_null(strstr(r.body, token + 4 + TOKEN_ID_LEN + 1));
        j = hresp_json(&r);
        hresp_done(&r);
        items = json_object_get(j, "items");
        json_array_foreach (items, i, it) {
                const char *name = hjson_str(it, "name"), *action = hjson_str(it, "action");

                /* Token rows carry the request id like record rows do. */
                if (strstr(name, id) && streq(action, "create")) {
                        assert_string_equal(hjson_str(it, "request_id") ?: "(null)",
                                            "req-token-create");
                        saw_create = true;
                }
                if (strstr(name, id) && streq(action, "revoke")) {
                        assert_string_equal(hjson_str(it, "request_id") ?: "(null)",
                                            "req-token-revoke");
                        saw_revoke = true;
                }
                if (streq(name, "aud1")) {
                        char want[32];

                        snprintf(want, sizeof(want), "token:%s", id);
                        assert_string_equal(hjson_str(it, "actor"), want);
                        assert_string_equal(hjson_str(it, "request_id"), "req-audit-1");
                        assert_string_equal(hjson_str(it, "origin"), "api");
                        assert_null(json_string_value(json_object_get(it, "before")));
                        assert_non_null(strstr(hjson_str(it, "after"), "aud1"));
                        saw_iface = true;
                }
        }
        json_decref(j);
        assert_true(saw_create && saw_revoke && saw_iface);

        /* Filters and validation. */
        assert_int_equal(
                tcp_request(f, f->token[WHO_ADMIN], "GET",
                            "/api/v1/audit?name=aud1&origin=api&since=2000-01-01T00:00:00Z", NULL,
                            &r),
                200);
        j = hresp_json(&r);
        assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
        json_decref(j);
        hresp_done(&r);
        /*
         * until is exclusive and honoured for any time, the epoch included (it used to read as
         * "no until"): before every row, nothing comes back.
         */
        static const char *const before_all[] = {
                "until=1970-01-01T00:00:00Z",
                "until=1970-01-01T00:00:00.000000Z",
                "until=2000-01-01T00:00:00Z",
                "until=1969-12-31T23:59:59Z",
                "since=1970-01-01T00:00:00Z&until=1970-01-01T00:00:00Z",
        };
        for (i = 0; i < ELEMENTSOF(before_all); i++) {
                char q[160];

                snprintf(q, sizeof(q), "/api/v1/audit?%s", before_all[i]);
                assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "GET", q, NULL, &r), 200);
                j = hresp_json(&r);
                print_message("%s: %zu rows\n", q, json_array_size(json_object_get(j, "items")));
                assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
                json_decref(j);
                hresp_done(&r);
        }
        assert_int_equal(tcp_request(f, f->token[WHO_ADMIN], "GET",
                                     "/api/v1/audit?until=2999-01-01T00:00:00Z", NULL, &r),
                         200);
        j = hresp_json(&r);
        assert_true(json_array_size(json_object_get(j, "items")) >= 3);
        json_decref(j);
        hresp_done(&r);

        tcp_request(f, f->token[WHO_ADMIN], "GET", "/api/v1/audit?since=yesterday", NULL, &r);
        assert_problem(&r, 400, "since");
        hresp_done(&r);
        tcp_request(f, f->token[WHO_ADMIN], "GET", "/api/v1/audit?limit=0", NULL, &r);
        assert_problem(&r, 400, "limit");
        hresp_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_auth_matrix, fix_setup, fix_teardown),
                cmocka_unit_test_setup_teardown(test_auth_headers_and_tarpit, fix_setup,
                                                fix_teardown),
                cmocka_unit_test_setup_teardown(test_tarpit_not_reset_by_success, fix_setup,
                                                fix_teardown),
                cmocka_unit_test_setup_teardown(test_idempotency_key_per_principal, fix_setup,
                                                fix_teardown),
                cmocka_unit_test_setup_teardown(test_rate_limit, fix_setup, fix_teardown),
                cmocka_unit_test_setup_teardown(test_token_api_and_audit, fix_setup, fix_teardown),
        };

        if (geteuid() != 0) {
                printf("SKIP: needs root (a unix peer of another uid)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
