/* SPDX-License-Identifier: MIT */
/* Smoke test of the real iscsi-ifaced binary: startup, a few requests, refusals, graceful stop. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"

#define READY_TIMEOUT_MS 10000
#define EXIT_TIMEOUT_MS  20000 /* longer than the daemon's 10 s drain */

struct fixture {
        char dir[256];
        char port_file[PATH_MAX];
        char log_path[PATH_MAX];
        char root[PATH_MAX];
        char db[PATH_MAX];
        char lock[PATH_MAX];
        char sock[PATH_MAX];
        pid_t pid;
        bool reaped;
        int status; /* waitpid() status once reaped */
        unsigned port;
};

struct reply {
        long status;
        char *body;
        size_t body_len;
        char *headers; /* the answer's header lines, for the contract record */
        size_t headers_len;
        char request_id[80];
        long num_connects;
        CURLcode code;
};

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st;
        (void)type;
        (void)ftw;
        (void)remove(path);
        return 0;
}

static void rm_rf(const char *path)
{
        if (path[0])
                (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        FILE *m;

        if (!f)
                return NULL;

        m = open_memstream(&buf, &size);
        if (m) {
                char chunk[4096];
                size_t n;

                while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                        fwrite(chunk, 1, n, m);
                fclose(m);
        }
        fclose(f);
        return buf;
}

static void dump_log(const struct fixture *f)
{
        char *log = read_file(f->log_path);

        fprintf(stderr, "---- daemon log (%s) ----\n%s---- end of daemon log ----\n", f->log_path,
                log ? log : "(unreadable)\n");
        free(log);
}

static bool log_contains(const struct fixture *f, const char *needle)
{
        char *log = read_file(f->log_path);
        bool found = log && strstr(log, needle);

        free(log);
        return found;
}

/* Reap the daemon if it has exited. Returns true once it is gone. */
static bool child_poll(struct fixture *f)
{
        pid_t r;

        if (f->reaped || f->pid <= 0)
                return true;

        r = waitpid(f->pid, &f->status, WNOHANG);
        if (r == f->pid) {
                f->reaped = true;
                return true;
        }
        return false;
}

/* Wait for the daemon to exit; returns its exit code, or -1 (killed by a signal or timeout). */
static int child_wait(struct fixture *f, unsigned timeout_ms)
{
        int64_t deadline = now_ms() + timeout_ms;

        while (!child_poll(f)) {
                if (now_ms() > deadline)
                        return -1;
                sleep_ms(10);
        }
        return WIFEXITED(f->status) ? WEXITSTATUS(f->status) : -1;
}

static void spawn(struct fixture *f, const char *listen, const char *iscsi_root)
{
        const char *bin = getenv("IFACED_BIN");
        char *argv[] = {
                (char *)"iscsi-ifaced",
                (char *)"--auth",
                (char *)"off",
                (char *)"--listen",
                (char *)listen,
                (char *)"--port-file",
                f->port_file,
                (char *)"--iscsi-root",
                (char *)iscsi_root,
                (char *)"--db",
                f->db,
                (char *)"--lock-dir",
                f->lock,
                (char *)"--log-level",
                (char *)"debug",
                NULL,
        };
        pid_t pid;

        if (!bin || access(bin, X_OK) < 0)
                harness_broken("IFACED_BIN is not set or not executable: %s",
                               bin ? bin : "(unset)");

        pid = fork();
        if (pid < 0)
                harness_broken("fork: %s", strerror(errno));
        if (pid == 0) {
                int fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
                              0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(HARNESS_EXIT_BROKEN); /* the test could not run */
                execv(bin, argv);
                _exit(127);
        }

        f->pid = pid;
        f->reaped = false;
}

/* Wait for the port file ("<port>\n"); fails the test if the daemon dies or is too slow. */
static void wait_ready(struct fixture *f)
{
        int64_t deadline = now_ms() + READY_TIMEOUT_MS;

        for (;;) {
                char *content = read_file(f->port_file);

                if (content) {
                        char *end;
                        unsigned long v = strtoul(content, &end, 10);
                        bool ok = end != content && end[0] == '\n' && end[1] == 0 && v < 65536;

                        free(content);
                        if (!ok) {
                                dump_log(f);
                                fail_msg("port file '%s' is not \"<port>\\n\"", f->port_file);
                        }
                        f->port = (unsigned)v;
                        return;
                }

                if (child_poll(f)) {
                        dump_log(f);
                        fail_msg("daemon exited (status 0x%x) before writing its port file",
                                 f->status);
                }
                if (now_ms() > deadline) {
                        dump_log(f);
                        fail_msg("no port file after %d ms", READY_TIMEOUT_MS);
                }
                sleep_ms(20);
        }
}

/* Append data to *buf (NUL-terminated, *len bytes): false when out of memory. */
static bool append(char **buf, size_t *len, const char *data, size_t n)
{
        char *p = realloc(*buf, *len + n + 1);

        if (!p)
                return false;
        memcpy(p + *len, data, n);
        *buf = p;
        *len += n;
        p[*len] = 0;
        return true;
}

static size_t collect_body(char *data, size_t size, size_t n, void *userdata)
{
        struct reply *r = userdata;

        return append(&r->body, &r->body_len, data, size * n) ? size * n : 0;
}

static size_t collect_header(char *data, size_t size, size_t n, void *userdata)
{
        struct reply *r = userdata;
        static const char name[] = "x-request-id:";
        size_t len = size * n;

        if (!append(&r->headers, &r->headers_len, data, len))
                return 0;

        if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
                const char *v = data + sizeof(name) - 1;
                size_t vlen = len - (sizeof(name) - 1);

                while (vlen > 0 && (*v == ' ' || *v == '\t'))
                        v++, vlen--;
                while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
                        vlen--;
                snprintf(r->request_id, sizeof(r->request_id), "%.*s", (int)vlen, v);
        }
        return len;
}

static CURL *curl_new(const struct fixture *f, const char *path, struct reply *reply)
{
        char url[256];
        CURL *c = curl_easy_init();

        if (!c)
                harness_broken("curl_easy_init failed");

        if (f->sock[0]) {
                snprintf(url, sizeof(url), "http://localhost%s", path);
                curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, f->sock);
        } else
                snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);

        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, reply);
        return c;
}

static void reply_reset(struct reply *r)
{
        free(r->body);
        free(r->headers);
        *r = (struct reply){};
}

static void perform(CURL *c, struct reply *r)
{
        r->code = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->num_connects);
        /* The answer is checked against openapi.yaml (tests/contract/README.md). */
        if (r->code == CURLE_OK)
                harness_record_curl(c, "test-daemon-smoke.c", r->headers, r->headers_len, r->body,
                                    r->body_len);
}

/* One GET on a fresh connection. Returns the status, 0 on a transport error. */
static long http_get(const struct fixture *f, const char *path, struct reply *r)
{
        CURL *c = curl_new(f, path, r);

        perform(c, r);
        curl_easy_cleanup(c);
        return r->code == CURLE_OK ? r->status : 0;
}

static void stop_and_expect_clean_exit(struct fixture *f)
{
        int code;

        assert_int_equal(kill(f->pid, SIGTERM), 0);
        code = child_wait(f, EXIT_TIMEOUT_MS);
        if (code != 0)
                dump_log(f);
        assert_int_equal(code, 0);
        assert_int_equal(access(f->port_file, F_OK), -1);
        assert_int_equal(errno, ENOENT);
}

static int setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *f;

        f = calloc(1, sizeof(*f));
        if (!f)
                harness_broken("out of memory");

        if (snprintf(f->dir, sizeof(f->dir), "%s/ifaced-smoke-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp") >= (int)sizeof(f->dir))
                harness_broken("TMPDIR is too long");
        if (!mkdtemp(f->dir))
                harness_broken("mkdtemp(%s): %s", f->dir, strerror(errno));

        snprintf(f->port_file, sizeof(f->port_file), "%s/port", f->dir);
        snprintf(f->log_path, sizeof(f->log_path), "%s/daemon.log", f->dir);
        snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
        snprintf(f->db, sizeof(f->db), "%s/db.sqlite", f->dir);
        snprintf(f->lock, sizeof(f->lock), "%s/lock", f->dir);

        *state = f;
        return 0;
}

/* Runs after failed assertions too: no daemon or temp dir outlives its test. */
static int teardown(void **state)
{
        struct fixture *f = *state;

        if (!f)
                return 0;

        if (f->pid > 0 && !child_poll(f)) {
                (void)kill(f->pid, SIGKILL);
                (void)waitpid(f->pid, &f->status, 0);
        }
        rm_rf(f->dir);
        free(f);
        *state = NULL;
        return 0;
}

static void test_daemon_smoke_health_404_and_stop(void **state)
{
        struct fixture *f = *state;
        struct reply r = {};
        struct curl_slist *hdrs = NULL;
        CURL *c;

        spawn(f, "127.0.0.1:0", f->root);
        wait_ready(f);
        assert_true(f->port > 0 && f->port < 65536);

        /* Two requests on one handle: the second must reuse the connection (keep-alive). */
        c = curl_new(f, "/api/v1/health", &r);
        hdrs = curl_slist_append(hdrs, "X-Request-Id: smoke-1.A_b");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        perform(c, &r);
        assert_int_equal(r.code, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.request_id, "smoke-1.A_b");

        reply_reset(&r);
        perform(c, &r);
        assert_int_equal(r.code, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.num_connects, 0);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);

        /* HEAD is answered like GET, without a body. */
        reply_reset(&r);
        c = curl_new(f, "/api/v1/health", &r);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        perform(c, &r);
        curl_easy_cleanup(c);
        assert_int_equal(r.code, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 0);

        /* An unknown path is a 404, and a request without an id gets a generated one. */
        reply_reset(&r);
        assert_int_equal(http_get(f, "/api/v1/no-such-thing", &r), 404);
        assert_int_equal(strlen(r.request_id), 16);
        reply_reset(&r);

        stop_and_expect_clean_exit(f);
}

static void test_daemon_smoke_body_limit(void **state)
{
        struct fixture *f = *state;
        struct reply r = {};
        struct curl_slist *hdrs = NULL;
        size_t len = 256 * 1024;
        char *big;
        CURL *c;

        spawn(f, "127.0.0.1:0", f->root);
        wait_ready(f);

        big = malloc(len);
        assert_non_null(big);
        memset(big, ' ', len);
        big[0] = '{';
        big[len - 1] = '}';

        c = curl_new(f, "/api/v1/ifaces", &r);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, big);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        perform(c, &r);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);
        free(big);

        assert_int_equal(r.code, CURLE_OK);
        assert_int_equal(r.status, 413);
        reply_reset(&r);

        /* The daemon is still fine afterwards. */
        assert_int_equal(http_get(f, "/api/v1/health", &r), 200);
        reply_reset(&r);

        stop_and_expect_clean_exit(f);
}

struct slow_upload {
        struct fixture *f;
        const char *data;
        size_t len;
        size_t off;
        unsigned calls;
        bool signalled;
        bool gone_while_uploading;
};

#define SLOW_CHUNK     64
#define SLOW_DELAY_MS  40
#define SLOW_SIGNAL_AT 5 /* chunks sent before SIGTERM */

static size_t slow_read(char *buf, size_t size, size_t n, void *userdata)
{
        struct slow_upload *u = userdata;
        size_t want = size * n;

        if (u->off >= u->len)
                return 0;

        if (u->calls > 0)
                sleep_ms(SLOW_DELAY_MS);

        /* Headers and some body are on the server by now: the request is in flight. */
        if (u->calls == SLOW_SIGNAL_AT) {
                (void)kill(u->f->pid, SIGTERM);
                u->signalled = true;
        }
        if (u->signalled && child_poll(u->f))
                u->gone_while_uploading = true;

        if (want > SLOW_CHUNK)
                want = SLOW_CHUNK;
        if (want > u->len - u->off)
                want = u->len - u->off;
        memcpy(buf, u->data + u->off, want);
        u->off += want;
        u->calls++;
        return want;
}

static void test_daemon_smoke_drain_in_flight(void **state)
{
        struct fixture *f = *state;
        static const char head[] = "{\"name\":\"drain0\",\"transport_name\":\"tcp\"}";
        struct reply r = {};
        struct curl_slist *hdrs = NULL;
        struct slow_upload u = { .f = f };
        char body[1600];
        CURL *c;
        int code;

        spawn(f, "127.0.0.1:0", f->root);
        wait_ready(f);

        /* JSON allows trailing blanks: pad the body so that it takes ~1 s to send. */
        memset(body, ' ', sizeof(body));
        memcpy(body, head, sizeof(head) - 1);
        u.data = body;
        u.len = sizeof(body);

        c = curl_new(f, "/api/v1/ifaces", &r);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, slow_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)u.len);
        perform(c, &r);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);

        if (r.code != CURLE_OK || r.status < 200 || r.status >= 500)
                dump_log(f);
        assert_true(u.signalled);
        assert_false(u.gone_while_uploading);
        assert_int_equal(r.code, CURLE_OK); /* whole response, no reset */
        assert_true(r.status >= 200 && r.status < 500);
        assert_non_null(r.body); /* a real answer, with a body */
        reply_reset(&r);

        code = child_wait(f, EXIT_TIMEOUT_MS);
        if (code != 0)
                dump_log(f);
        assert_int_equal(code, 0);
        assert_int_equal(access(f->port_file, F_OK), -1);
}

static void test_daemon_smoke_unix_socket(void **state)
{
        struct fixture *f = *state;
        char listen[PATH_MAX + 8];
        struct reply r = {};

        snprintf(f->sock, sizeof(f->sock), "%s/sock", f->dir);
        snprintf(listen, sizeof(listen), "unix:%s", f->sock);

        spawn(f, listen, f->root);
        wait_ready(f);

        assert_int_equal(http_get(f, "/api/v1/health", &r), 200);
        reply_reset(&r);
        assert_int_equal(http_get(f, "/api/v1/no-such-thing", &r), 404);
        reply_reset(&r);

        stop_and_expect_clean_exit(f);
        assert_int_equal(access(f->sock, F_OK), -1);
        assert_int_equal(errno, ENOENT);
}

static void test_daemon_smoke_root_is_a_file(void **state)
{
        struct fixture *f = *state;
        char file[PATH_MAX];
        int fd, code;

        snprintf(file, sizeof(file), "%s/not-a-dir", f->dir);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        close(fd);

        spawn(f, "127.0.0.1:0", file);
        code = child_wait(f, EXIT_TIMEOUT_MS);
        if (code != 1 || !log_contains(f, file))
                dump_log(f);
        assert_int_equal(code, 1);
        assert_true(log_contains(f, file));
        assert_int_equal(access(f->port_file, F_OK), -1);
}

static void test_daemon_smoke_refuses_wildcard(void **state)
{
        struct fixture *f = *state;
        int code;

        spawn(f, "0.0.0.0:0", f->root);
        code = child_wait(f, EXIT_TIMEOUT_MS);
        if ((code != 1 && code != 2) || !log_contains(f, "loopback"))
                dump_log(f);
        assert_true(code == 1 || code == 2);
        assert_true(log_contains(f, "loopback"));
        assert_int_equal(access(f->port_file, F_OK), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_daemon_smoke_health_404_and_stop, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_daemon_smoke_body_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_daemon_smoke_drain_in_flight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_daemon_smoke_unix_socket, setup, teardown),
                cmocka_unit_test_setup_teardown(test_daemon_smoke_root_is_a_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_daemon_smoke_refuses_wildcard, setup,
                                                teardown),
        };
        int r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
                harness_broken("curl_global_init failed");

        r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
