/* SPDX-License-Identifier: MIT */
/*
 * Checks and jobs over real HTTP, on loopback only: request validation, the unbound default
 * iface against a closed port, a listener that is not iSCSI and one that never answers, a NIC
 * that does not exist, write-only secrets, jobs with progress, Idempotency-Key and cancel, and
 * that a pending check holds no HTTP thread. The bound-path cases (veths, tgtd, CHAP) are in
 * tests/target/checks.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"

#define JSON "application/json"

static bool streq_json(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

/* A TCP listener on 127.0.0.1:<ephemeral>. */
struct listener {
        int fd;
        unsigned port;
        pthread_t thread;
        bool garbage; /* accept, send a non-iSCSI answer, close */
        bool running;
};

static void *garbage_thread(void *arg)
{
        struct listener *l = arg;

        for (;;) {
                static const char answer[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
                int c = accept(l->fd, NULL, NULL);

                if (c < 0)
                        return NULL;
                (void)!write(c, answer, sizeof(answer) - 1);
                close(c);
        }
}

/* garbage: answer like an HTTP server; else never accept (the kernel still completes the
 * handshake from the backlog, so the peer connects and then hears nothing). */
static void listener_start(struct listener *l, bool garbage)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);

        memset(l, 0, sizeof(*l));
        l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(l->fd, 128) < 0 || getsockname(l->fd, (struct sockaddr *)&sa, &len) < 0)
                harness_broken("listener: %m");
        l->port = ntohs(sa.sin_port);
        l->garbage = garbage;
        if (garbage) {
                if (pthread_create(&l->thread, NULL, garbage_thread, l) != 0)
                        harness_broken("listener thread");
                l->running = true;
        }
}

static void listener_stop(struct listener *l)
{
        shutdown(l->fd, SHUT_RDWR); /* wakes accept() */
        if (l->running)
                pthread_join(l->thread, NULL);
        close(l->fd);
}

/* A port nothing listens on: bind, read the port, close. */
static unsigned closed_port(void)
{
        struct listener l;
        unsigned port;

        listener_start(&l, false);
        port = l.port;
        listener_stop(&l);
        return port;
}

static json_t *post_check(struct harness *h, const char *iface, const char *body, long want)
{
        struct hresp r = {};
        char path[128];
        json_t *j;
        long st;

        snprintf(path, sizeof(path), "/api/v1/ifaces/%s/checks", iface);
        st = http(h, "POST", path, JSON, body, &r);
        if (st != want)
                fail_msg("POST %s %s: %ld, want %ld: %s", path, body, st, want, r.body);
        j = hresp_json(&r);
        hresp_done(&r);
        assert_non_null(j);
        return j;
}

static json_t *step_of(json_t *result, const char *name)
{
        size_t i;
        json_t *s;

        json_array_foreach (json_object_get(result, "steps"), i, s) {
                if (streq_json(hjson_str(s, "step"), name))
                        return s;
        }
        fail_msg("no step %s", name);
        return NULL;
}

static void test_checks_validation(void **state)
{
        struct harness *h = *state;
        static const struct {
                const char *iface, *body;
                long status;
                const char *field;
        } cases[] = {
                { "default", "{}", 400, "portal" },
                { "default", "{\"portal\":\"target.example\"}", 400, "portal" },
                { "default", "{\"portal\":\"10.0.0.1:0\"}", 400, "portal" },
                { "default", "{\"portal\":\"10.0.0.1:70000\"}", 400, "portal" },
                { "default", "{\"portal\":\"224.0.0.1\"}", 400, "portal" },
                { "default", "{\"portal\":3260}", 400, "portal" },
                { "default", "{\"portal\":\"127.0.0.1\",\"timeout_ms\":0}", 400, "timeout_ms" },
                { "default", "{\"portal\":\"127.0.0.1\",\"timeout_ms\":60001}", 400, "timeout_ms" },
                { "default", "{\"portal\":\"127.0.0.1\",\"timeout_ms\":\"5\"}", 400, "timeout_ms" },
                { "default", "{\"portal\":\"127.0.0.1\",\"steps\":[]}", 400, "steps" },
                { "default", "{\"portal\":\"127.0.0.1\",\"steps\":[\"dns\"]}", 400, "steps" },
                { "default",
                  "{\"portal\":\"127.0.0.1\",\"chap\":{\"username\":\"u\",\"password\":\"p\"}}",
                  400, "chap" },
                { "default",
                  "{\"portal\":\"127.0.0.1\",\"target\":\"iqn.x:y\",\"chap\":{\"username\":\"u\"}}",
                  400, "chap.password" },
                { "default",
                  "{\"portal\":\"127.0.0.1\",\"target\":\"iqn.x:y\",\"chap\":{\"username\":\"u\","
                  "\"password\":\"p\",\"username_in\":\"t\"}}",
                  400, "chap.password_in" },
                { "default",
                  "{\"portal\":\"127.0.0.1\",\"target\":\"iqn.x:y\",\"chap\":{\"username\":\"u\","
                  "\"password\":\"p w\"}}",
                  400, "chap.password" },
                { "default",
                  "{\"portal\":\"127.0.0.1\",\"target\":\"iqn.x:y\",\"steps\":[\"tcp\"]}", 400,
                  "target" },
                { "default", "{\"portal\":\"127.0.0.1\",\"verbose\":true}", 400, "verbose" },
                { "default", "[1]", 400, "body" },
                { "nosuch", "{\"portal\":\"127.0.0.1\"}", 404, NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct hresp r = {};
                char path[128];

                snprintf(path, sizeof(path), "/api/v1/ifaces/%s/checks", cases[i].iface);
                http(h, "POST", path, JSON, cases[i].body, &r);
                print_message("case %zu: %s -> %ld\n", i, cases[i].body, r.status);
                assert_problem(&r, cases[i].status, cases[i].field);
                hresp_done(&r);
        }

        /* Not JSON at all. */
        {
                struct hresp r = {};

                http(h, "POST", "/api/v1/ifaces/default/checks", "text/plain", "x", &r);
                assert_problem(&r, 415, NULL);
                hresp_done(&r);
        }
}

static void test_checks_refused_and_not_iscsi(void **state)
{
        struct harness *h = *state;
        struct listener g;
        char body[256];
        json_t *j, *s;

        /* The unbound default iface against a closed loopback port. */
        snprintf(body, sizeof(body),
                 "{\"portal\":\"127.0.0.1:%u\",\"steps\":[\"link\",\"tcp\",\"iscsi\"]}",
                 closed_port());
        j = post_check(h, "default", body, 200);
        assert_string_equal(hjson_str(j, "status"), "failed");
        assert_string_equal(hjson_str(j, "reason"), "refused");
        s = step_of(j, "link");
        assert_string_equal(hjson_str(s, "status"), "ok");
        assert_string_equal(hjson_str(s, "egress"), "lo");
        assert_string_equal(hjson_str(s, "source_address"), "127.0.0.1");
        assert_string_equal(hjson_str(step_of(j, "tcp"), "reason"), "refused");
        assert_string_equal(hjson_str(step_of(j, "iscsi"), "status"), "skipped");
        json_decref(j);

        /* Something listens, but it is not iSCSI. */
        listener_start(&g, true);
        snprintf(body, sizeof(body), "{\"portal\":\"127.0.0.1:%u\",\"steps\":[\"tcp\",\"iscsi\"]}",
                 g.port);
        j = post_check(h, "default", body, 200);
        assert_string_equal(hjson_str(j, "status"), "failed");
        assert_string_equal(hjson_str(j, "reason"), "not-iscsi");
        assert_string_equal(hjson_str(step_of(j, "tcp"), "status"), "ok");
        assert_string_equal(hjson_str(step_of(j, "iscsi"), "reason"), "not-iscsi");
        json_decref(j);
        listener_stop(&g);
}

static void test_checks_no_such_device(void **state)
{
        struct harness *h = *state;
        json_t *j;

        assert_int_equal(http(h, "POST", "/api/v1/ifaces", JSON,
                              "{\"name\":\"ghost\",\"transport_name\":\"tcp\","
                              "\"net_ifacename\":\"nosuch0\"}",
                              NULL),
                         201);
        j = post_check(h, "ghost", "{\"portal\":\"127.0.0.1\"}", 200);
        assert_string_equal(hjson_str(j, "status"), "failed");
        assert_string_equal(hjson_str(j, "reason"), "no-such-device");
        assert_non_null(strstr(hjson_str(j, "hint"), "nosuch0"));
        assert_string_equal(hjson_str(step_of(j, "ping"), "status"), "skipped");
        assert_string_equal(hjson_str(step_of(j, "tcp"), "status"), "skipped");
        assert_string_equal(hjson_str(step_of(j, "iscsi"), "status"), "skipped");
        json_decref(j);

        /* Without the link step the failure still decides, on the first step asked for. */
        j = post_check(h, "ghost", "{\"portal\":\"127.0.0.1\",\"steps\":[\"tcp\"]}", 200);
        assert_string_equal(hjson_str(j, "reason"), "no-such-device");
        assert_int_equal(json_array_size(json_object_get(j, "steps")), 1);
        json_decref(j);
}

static void test_checks_secrets_write_only(void **state)
{
        struct harness *h = *state;
        struct listener g;
        struct hresp r = {};
        char body[512];

        listener_start(&g, true);
        snprintf(body, sizeof(body),
                 "{\"portal\":\"127.0.0.1:%u\",\"target\":\"iqn.2024-01.test:t\","
                 "\"chap\":{\"username\":\"user1\",\"password\":\"Sekr1tPassw0rd\","
                 "\"username_in\":\"tgt1\",\"password_in\":\"MutualSekr1t\"},"
                 "\"discovery_chap\":{\"username\":\"duser\",\"password\":\"DiscSekr1t\"}}",
                 g.port);
        assert_int_equal(http(h, "POST", "/api/v1/ifaces/default/checks", JSON, body, &r), 200);
        assert_null(strstr(r.body, "Sekr1t"));
        hresp_done(&r);
        listener_stop(&g);
}

/* Poll a job until it is no longer running, at most ms. */
static json_t *job_wait(struct harness *h, const char *loc, unsigned ms)
{
        int64_t end = harness_now_ms() + ms;

        for (;;) {
                struct hresp r = {};
                json_t *j;

                assert_int_equal(http(h, "GET", loc, NULL, NULL, &r), 200);
                j = hresp_json(&r);
                hresp_done(&r);
                assert_non_null(j);
                if (!streq_json(hjson_str(j, "state"), "running"))
                        return j;
                json_decref(j);
                if (harness_now_ms() > end)
                        fail_msg("job %s still running after %u ms", loc, ms);
                harness_sleep_ms(10);
        }
}

static void test_jobs_progress_and_idempotency(void **state)
{
        struct harness *h = *state;
        struct listener g;
        char body[512], body2[512], loc[128];
        struct hresp r = {};
        json_t *j, *res;
        size_t i;
        unsigned closed = closed_port();
        bool seen[6] = {};

        listener_start(&g, true);
        snprintf(body, sizeof(body),
                 "{\"ifaces\":[\"default\",\"iser\"],\"portals\":[\"127.0.0.1:%u\","
                 "\"127.0.0.1:%u\",\"127.0.0.2:%u\"],\"steps\":[\"tcp\",\"iscsi\"]}",
                 closed, g.port, closed);

        harness_header(h, "Idempotency-Key: job-1");
        assert_int_equal(http(h, "POST", "/api/v1/checks", JSON, body, &r), 202);
        assert_non_null(r.location);
        assert_int_equal(strncmp(r.location, "/api/v1/jobs/", 13), 0);
        snprintf(loc, sizeof(loc), "%s", r.location);
        hresp_done(&r);

        /* The same key and body: the same job. Another body: 422. A bad key: 400. */
        harness_header(h, "Idempotency-Key: job-1");
        assert_int_equal(http(h, "POST", "/api/v1/checks", JSON, body, &r), 202);
        assert_string_equal(r.location, loc);
        hresp_done(&r);
        snprintf(body2, sizeof(body2), "{\"ifaces\":[\"default\"],\"portals\":[\"127.0.0.1:%u\"]}",
                 closed);
        harness_header(h, "Idempotency-Key: job-1");
        http(h, "POST", "/api/v1/checks", JSON, body2, &r);
        assert_problem(&r, 422, NULL);
        hresp_done(&r);
        harness_header(h, "Idempotency-Key: no spaces");
        http(h, "POST", "/api/v1/checks", JSON, body2, &r);
        assert_problem(&r, 400, "Idempotency-Key");
        hresp_done(&r);

        j = job_wait(h, loc, 10000);
        assert_string_equal(hjson_str(j, "state"), "done");
        assert_int_equal(hjson_int(j, "total"), 6);
        assert_int_equal(hjson_int(j, "done"), 6);
        assert_int_equal(hjson_int(j, "ok"), 0);
        assert_int_equal(hjson_int(j, "failed"), 6);
        assert_non_null(hjson_str(j, "finished_at"));
        assert_int_equal(json_array_size(json_object_get(j, "results")), 6);
        json_array_foreach (json_object_get(j, "results"), i, res) {
                long long idx = hjson_int(res, "index");

                assert_true(idx >= 0 && idx < 6);
                assert_false(seen[idx]);
                seen[idx] = true;
                /* Item i is ifaces[i / 3] x portals[i % 3]. */
                assert_string_equal(hjson_str(res, "iface"), idx < 3 ? "default" : "iser");
                assert_string_equal(hjson_str(res, "reason"),
                                    idx % 3 == 1 ? "not-iscsi" : "refused");
        }
        json_decref(j);

        /* Listed without results; a finished job is forgotten by DELETE. */
        assert_int_equal(http(h, "GET", "/api/v1/jobs", NULL, NULL, &r), 200);
        j = hresp_json(&r);
        hresp_done(&r);
        assert_int_equal(json_array_size(json_object_get(j, "jobs")), 1);
        assert_null(json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "results"));
        json_decref(j);
        assert_int_equal(http(h, "DELETE", loc, NULL, NULL, NULL), 204);
        http(h, "GET", loc, NULL, NULL, &r);
        assert_problem(&r, 404, NULL);
        hresp_done(&r);

        /* Validation of the job body. */
        http(h, "POST", "/api/v1/checks", JSON, "{\"ifaces\":[],\"portals\":[\"127.0.0.1\"]}", &r);
        assert_problem(&r, 400, "ifaces");
        hresp_done(&r);
        http(h, "POST", "/api/v1/checks", JSON,
             "{\"ifaces\":[\"nosuch\"],\"portals\":[\"127.0.0.1\"]}", &r);
        assert_problem(&r, 400, "ifaces[0]");
        hresp_done(&r);
        http(h, "POST", "/api/v1/checks", JSON,
             "{\"ifaces\":[\"default\"],\"portals\":[\"127.0.0.1\",\"bad\"]}", &r);
        assert_problem(&r, 400, "portals[1]");
        hresp_done(&r);
        listener_stop(&g);
}

static void test_jobs_cancel(void **state)
{
        struct harness *h = *state;
        struct listener silent;
        char body[256], loc[128];
        struct hresp r = {};
        int64_t t0;
        json_t *j;

        listener_start(&silent, false);
        snprintf(body, sizeof(body),
                 "{\"ifaces\":[\"default\"],\"portals\":[\"127.0.0.1:%u\",\"127.0.0.1:%u\"],"
                 "\"steps\":[\"iscsi\"],\"timeout_ms\":30000}",
                 silent.port, silent.port);
        assert_int_equal(http(h, "POST", "/api/v1/checks", JSON, body, &r), 202);
        snprintf(loc, sizeof(loc), "%s", r.location);
        hresp_done(&r);

        harness_sleep_ms(100);
        t0 = harness_now_ms();
        assert_int_equal(http(h, "DELETE", loc, NULL, NULL, &r), 200);
        hresp_done(&r);
        j = job_wait(h, loc, 2000);
        assert_true(harness_now_ms() - t0 < 2000);
        assert_string_equal(hjson_str(j, "state"), "cancelled");
        assert_int_equal(hjson_int(j, "cancelled"), 2);
        assert_string_equal(hjson_str(json_array_get(json_object_get(j, "results"), 0), "reason"),
                            "cancelled");
        json_decref(j);
        listener_stop(&silent);
}

/* A pending check holds no HTTP thread: with more checks waiting than pool threads, a GET
 * still answers at once. */
struct bg {
        unsigned port, silent_port;
        long status;
};

static void *bg_check(void *arg)
{
        struct bg *b = arg;
        CURL *c = curl_easy_init();
        struct harness_capture cap = {};
        char url[128], body[128];

        snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/ifaces/default/checks", b->port);
        snprintf(body, sizeof(body),
                 "{\"portal\":\"127.0.0.1:%u\",\"steps\":[\"iscsi\"],\"timeout_ms\":1500}",
                 b->silent_port);
        struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        harness_capture_start(c, &cap); /* the answer is checked against openapi.yaml */
        if (curl_easy_perform(c) == CURLE_OK) {
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &b->status);
                harness_capture_record(c, "test-http-checks.c bg_check", &cap);
        } else
                harness_capture_record(NULL, NULL, &cap); /* frees what it holds */
        curl_slist_free_all(hdr);
        curl_easy_cleanup(c);
        return NULL;
}

static void test_checks_hold_no_http_thread(void **state)
{
        struct harness *h = *state;
        struct listener silent;
        struct bg b[6];
        pthread_t t[6];
        int64_t t0, dt;

        listener_start(&silent, false);
        for (size_t i = 0; i < 6; i++) {
                b[i] = (struct bg){ .port = h->port, .silent_port = silent.port };
                assert_int_equal(pthread_create(&t[i], NULL, bg_check, &b[i]), 0);
        }
        harness_sleep_ms(200); /* all six are waiting on the silent listener now */
        t0 = harness_now_ms();
        assert_int_equal(http(h, "GET", "/api/v1/ifaces", NULL, NULL, NULL), 200);
        dt = harness_now_ms() - t0;
        print_message("GET while 6 checks wait: %lld ms\n", (long long)dt);
        assert_true(dt < 300);
        for (size_t i = 0; i < 6; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(b[i].status, 200);
        }
        listener_stop(&silent);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_checks_validation, harness_setup,
                                                harness_teardown),
                cmocka_unit_test_setup_teardown(test_checks_refused_and_not_iscsi, harness_setup,
                                                harness_teardown),
                cmocka_unit_test_setup_teardown(test_checks_no_such_device, harness_setup,
                                                harness_teardown),
                cmocka_unit_test_setup_teardown(test_checks_secrets_write_only, harness_setup,
                                                harness_teardown),
                cmocka_unit_test_setup_teardown(test_jobs_progress_and_idempotency, harness_setup,
                                                harness_teardown),
                cmocka_unit_test_setup_teardown(test_jobs_cancel, harness_setup, harness_teardown),
                cmocka_unit_test_setup_teardown(test_checks_hold_no_http_thread, harness_setup,
                                                harness_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
