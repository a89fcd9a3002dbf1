/* SPDX-License-Identifier: MIT */
/* The integration harness: temp state, the in-process server, libcurl requests, state snapshots. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "api.h"
#include "engine.h"
#include "harness.h"
#include "http.h"
#include "macro.h"

#define HARNESS_LOCK_TIMEOUT_MS   2000
#define HARNESS_THREADS           2
#define HARNESS_DRAIN_MS          2000
#define HARNESS_REQUEST_TIMEOUT_S 30

_Noreturn void harness_broken(const char *fmt, ...)
{
        va_list ap;

        fputs("harness broken: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        exit(HARNESS_EXIT_BROKEN);
}

int64_t harness_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void path_join(char *out, size_t size, const char *a, const char *b)
{
        int n = snprintf(out, size, "%s/%s", a, b);

        if (n < 0 || (size_t)n >= size)
                harness_broken("path too long: %s/%s", a, b);
}

/* --- fixtures ------------------------------------------------------------------------------ */

int harness_setup(void **state)
{
        struct harness *h;
        char *msg = NULL;
        const char *tmp = getenv("TMPDIR");
        int r;

        signal(SIGPIPE, SIG_IGN);

        h = calloc(1, sizeof(*h));
        if (!h)
                harness_broken("out of memory");

        if (snprintf(h->dir, sizeof(h->dir), "%s/iscsi-ifaced-it.XXXXXX",
                     tmp && *tmp ? tmp : "/tmp") >= (int)sizeof(h->dir))
                harness_broken("TMPDIR too long");
        if (!mkdtemp(h->dir))
                harness_broken("mkdtemp(%s): %s", h->dir, strerror(errno));
        path_join(h->root, sizeof(h->root), h->dir, "root");
        path_join(h->ifaces, sizeof(h->ifaces), h->root, "ifaces");
        path_join(h->lock, sizeof(h->lock), h->dir, "lock");
        path_join(h->db, sizeof(h->db), h->dir, "db.sqlite");
        if (mkdir(h->root, 0755) < 0 || mkdir(h->lock, 0755) < 0)
                harness_broken("mkdir in %s: %s", h->dir, strerror(errno));

        r = engine_new(
                &(struct engine_config){
                        .iscsi_root = h->root,
                        .db_path = h->db,
                        .lock_dir = h->lock,
                        .drift = ENGINE_DRIFT_IMPORT,
                        .lock_timeout_ms = HARNESS_LOCK_TIMEOUT_MS,
                        .watch = true,
                },
                &h->engine, &msg);
        if (r < 0)
                harness_broken("engine_new: %s (%s)", msg ? msg : "?", strerror(-r));
        r = engine_start_watch(h->engine);
        if (r < 0)
                harness_broken("engine_start_watch: %s", strerror(-r));
        r = api_new(h->engine, &h->api);
        if (r < 0)
                harness_broken("api_new: %s", strerror(-r));
        api_set_defer_writes(h->api, true);
        r = http_start(&(struct http_config){ .listen = "127.0.0.1:0", .threads = HARNESS_THREADS },
                       h->api, &h->server, &msg);
        if (r < 0)
                harness_broken("http_start: %s (%s)", msg ? msg : "?", strerror(-r));
        h->port = http_port(h->server);
        if (h->port == 0)
                harness_broken("http_port returned 0");

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                harness_broken("curl_global_init failed");
        h->curl = curl_easy_init();
        if (!h->curl)
                harness_broken("curl_easy_init failed");

        free(msg);
        *state = h;
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;

        if (remove(path) < 0)
                fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
        return 0;
}

int harness_teardown(void **state)
{
        struct harness *h = *state;
        bool agree;

        if (!h)
                return 0;

        /* Checked before the server stops, while the state is exactly what the test left. */
        agree = harness_mirrors_agree(h);
        if (!agree)
                fprintf(stderr, "teardown: the mirrors disagree (see above)\n");
        if (harness_contract_check() < 0) {
                fprintf(stderr, "teardown: answers that openapi.yaml does not allow (see above)\n");
                agree = false;
        }

        for (size_t i = 0; i < h->n_extra; i++)
                free(h->extra[i]);
        if (h->curl) {
                curl_easy_cleanup(h->curl);
                curl_global_cleanup();
        }
        /* As the daemon stops: event streams and delayed answers end, so the drain ends. */
        api_shutdown(h->api);
        http_stop(h->server, HARNESS_DRAIN_MS);
        api_free(h->api);
        engine_free(h->engine);

        if (h->dir[0] && nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
                fprintf(stderr, "harness: cannot remove %s: %s\n", h->dir, strerror(errno));
        free(h);
        *state = NULL;
        return agree ? 0 : -1;
}

/* --- requests ------------------------------------------------------------------------------ */

void harness_header(struct harness *h, const char *fmt, ...)
{
        va_list ap;
        char *line;

        if (h->n_extra >= HARNESS_MAX_EXTRA_HEADERS)
                harness_broken("too many extra headers");
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                harness_broken("out of memory");
        va_end(ap);
        h->extra[h->n_extra++] = line;
}

struct sink {
        char *data;
        size_t len;
};

static size_t body_cb(char *p, size_t size, size_t n, void *userdata)
{
        struct sink *s = userdata;
        size_t add = size * n;
        char *d = realloc(s->data, s->len + add + 1);

        if (!d)
                return 0;
        memcpy(d + s->len, p, add);
        s->len += add;
        d[s->len] = 0;
        s->data = d;
        return add;
}

static void set_str(char **dst, const char *v, size_t n)
{
        free(*dst);
        *dst = strndup(v, n);
        if (!*dst)
                harness_broken("out of memory");
}

/* --- the contract record ------------------------------------------------------------------ */

static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;
static char record_path[1024];

static void record_at_exit(void)
{
        if (harness_contract_check() < 0) {
                fprintf(stderr, "answers that openapi.yaml does not allow (see above)\n");
                fflush(NULL);
                _exit(1);
        }
}

/* "Name: value\r\n" lines as [[name, value], ...]. */
static json_t *header_pairs(const char *raw, size_t len)
{
        json_t *a = json_array();
        const char *p = raw, *end = raw + len;

        while (a && p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *line_end = eol ? eol : end, *colon, *v;
                size_t vlen;

                colon = memchr(p, ':', (size_t)(line_end - p));
                if (colon) {
                        v = colon + 1;
                        while (v < line_end && (*v == ' ' || *v == '\t'))
                                v++;
                        vlen = (size_t)(line_end - v);
                        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                                vlen--;
                        json_array_append_new(a,
                                              json_pack("[s%s%]", p, (size_t)(colon - p), v, vlen));
                }
                p = line_end + 1;
        }
        return a;
}

void harness_record_curl(void *curl, const char *client, const char *headers, size_t headers_len,
                         const char *body, size_t body_len)
{
        const char *dir = getenv("IFD_CONTRACT_DIR"), *url = NULL, *method = NULL, *path;
        long status = 0;
        json_t *rec, *b;
        char *line;
        int fd;

        if (isempty(dir) || !curl)
                return;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url);
        curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_METHOD, &method);
        if (status == 0 || !url || !method)
                return; /* no answer: nothing to hold against the contract */
        path = strstr(url, "://");
        path = path ? strchr(path + 3, '/') : NULL;

        rec = json_pack("{s:s, s:s, s:s, s:I, s:o}", "client", client, "method", method, "path",
                        path ? path : "/", "status", (json_int_t)status, "headers",
                        header_pairs(headers ? headers : "", headers ? headers_len : 0));
        if (!rec)
                harness_broken("out of memory");
        b = json_stringn(body ? body : "", body ? body_len : 0);
        if (b)
                json_object_set_new(rec, "body", b);
        else { /* not UTF-8: as hex */
                char *hex = malloc(body_len * 2 + 1);

                if (!hex)
                        harness_broken("out of memory");
                for (size_t i = 0; i < body_len; i++)
                        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)body[i]);
                hex[body_len * 2] = 0;
                json_object_set_new(rec, "body_hex", json_string(hex));
                free(hex);
        }
        line = json_dumps(rec, JSON_COMPACT);
        json_decref(rec);
        if (!line)
                harness_broken("out of memory");

        pthread_mutex_lock(&record_lock);
        if (!record_path[0]) {
                (void)mkdir(dir, 0755);
                if (snprintf(record_path, sizeof(record_path), "%s/%s-%d.jsonl", dir,
                             program_invocation_short_name,
                             (int)getpid()) >= (int)sizeof(record_path))
                        harness_broken("IFD_CONTRACT_DIR too long");
                atexit(record_at_exit);
        }
        fd = open(record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EACCES) {
                /* A child that dropped its privileges (a request as nobody): not recorded. */
                pthread_mutex_unlock(&record_lock);
                free(line);
                return;
        }
        if (fd < 0)
                harness_broken("open %s: %s", record_path, strerror(errno));
        if (dprintf(fd, "%s\n", line) < 0)
                harness_broken("write %s: %s", record_path, strerror(errno));
        close(fd);
        pthread_mutex_unlock(&record_lock);
        free(line);
}

static size_t capture_append(char **buf, size_t *len, const char *p, size_t n)
{
        char *d = realloc(*buf, *len + n + 1);

        if (!d)
                return 0;
        memcpy(d + *len, p, n);
        *len += n;
        d[*len] = 0;
        *buf = d;
        return n;
}

static size_t capture_body(char *p, size_t size, size_t n, void *userdata)
{
        struct harness_capture *cap = userdata;

        return capture_append(&cap->body, &cap->body_len, p, size * n);
}

static size_t capture_header(char *p, size_t size, size_t n, void *userdata)
{
        struct harness_capture *cap = userdata;
        size_t len = size * n;

        if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new answer (after a 100) */
                cap->headers_len = 0;
                return len;
        }
        if (len <= 2 && (p[0] == '\r' || p[0] == '\n'))
                return len;
        return capture_append(&cap->headers, &cap->headers_len, p, len) == len ? len : 0;
}

void harness_capture_start(void *curl, struct harness_capture *cap)
{
        *cap = (struct harness_capture){};
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, capture_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, cap);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, capture_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, cap);
}

void harness_capture_record(void *curl, const char *client, struct harness_capture *cap)
{
        harness_record_curl(curl, client, cap->headers, cap->headers_len, cap->body, cap->body_len);
        free(cap->headers);
        free(cap->body);
        *cap = (struct harness_capture){};
}

int harness_contract_check(void)
{
        const char *src = getenv("SOURCE_ROOT");
        static unsigned n_checked;
        char script[1024], done[1100];
        int status = 0;
        pid_t pid;

        pthread_mutex_lock(&record_lock);
        if (!record_path[0] || access(record_path, F_OK) < 0) {
                pthread_mutex_unlock(&record_lock);
                return 0;
        }
        snprintf(script, sizeof(script), "%s/tests/contract/validate.mjs",
                 isempty(src) ? "." : src);
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                harness_broken("fork: %s", strerror(errno));
        if (pid == 0) {
                execlp("node", "node", script, record_path, (char *)NULL);
                fprintf(stderr, "harness: cannot run node %s: %s\n", script, strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        /* Kept for a look after a failure; a new file for the next test either way. */
        snprintf(done, sizeof(done), "%s.%u.%s", record_path, ++n_checked,
                 WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "failed");
        if (rename(record_path, done) < 0)
                (void)unlink(record_path);
        pthread_mutex_unlock(&record_lock);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static size_t header_cb(char *p, size_t size, size_t n, void *userdata)
{
        struct hresp *r = userdata;
        size_t len = size * n, klen, vlen;
        const char *colon, *v;
        static const struct {
                const char *name;
                size_t off;
        } wanted[] = {
                { "ETag", offsetof(struct hresp, etag) },
                { "Location", offsetof(struct hresp, location) },
                { "Allow", offsetof(struct hresp, allow) },
                { "Content-Type", offsetof(struct hresp, content_type) },
                { "X-Request-Id", offsetof(struct hresp, request_id) },
        };

        /* A new status line (after "100 Continue", say) starts a new set of headers. */
        if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
                for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
                        char **f = (char **)((char *)r + wanted[i].off);

                        free(*f);
                        *f = NULL;
                }
                r->headers_len = 0;
                return len;
        }
        if (len > 2 || (len >= 1 && p[0] != '\r' && p[0] != '\n')) {
                char *all = realloc(r->headers, r->headers_len + len + 1);

                if (!all)
                        harness_broken("out of memory");
                memcpy(all + r->headers_len, p, len);
                r->headers_len += len;
                all[r->headers_len] = 0;
                r->headers = all;
        }

        colon = memchr(p, ':', len);
        if (!colon)
                return len;
        klen = (size_t)(colon - p);
        v = colon + 1;
        while (v < p + len && (*v == ' ' || *v == '\t'))
                v++;
        vlen = (size_t)(p + len - v);
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
                vlen--;

        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
                if (strlen(wanted[i].name) == klen && strncasecmp(p, wanted[i].name, klen) == 0)
                        set_str((char **)((char *)r + wanted[i].off), v, vlen);
        return len;
}

void hresp_done(struct hresp *r)
{
        if (!r)
                return;
        free(r->body);
        free(r->etag);
        free(r->location);
        free(r->allow);
        free(r->content_type);
        free(r->request_id);
        free(r->headers);
        memset(r, 0, sizeof(*r));
}

long http_len(struct harness *h, const char *method, const char *path, const char *content_type,
              const char *body, size_t body_len, struct hresp *out)
{
        struct curl_slist *headers = NULL;
        struct hresp resp = {};
        struct sink sink = {};
        char url[4096], ct[256];
        CURLcode cc;
        CURL *c = h->curl;

        if (snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", h->port, path) >= (int)sizeof(url))
                harness_broken("URL too long");

        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)HARNESS_REQUEST_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* send "/.." as written */
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);

        if (strcmp(method, "GET") == 0)
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        else if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }

        /* No "Expect: 100-continue" round trip, and no Content-Type unless the test asks. */
        headers = curl_slist_append(headers, "Expect:");
        if (content_type) {
                snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
                headers = curl_slist_append(headers, ct);
        } else
                headers = curl_slist_append(headers, "Content-Type:");
        for (size_t i = 0; i < h->n_extra; i++) {
                headers = curl_slist_append(headers, h->extra[i]);
                free(h->extra[i]);
                h->extra[i] = NULL;
        }
        h->n_extra = 0;
        if (!headers)
                harness_broken("out of memory");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

        cc = curl_easy_perform(c);
        curl_slist_free_all(headers);
        if (cc != CURLE_OK) {
                fprintf(stderr, "%s %s: transfer failed: %s\n", method, path,
                        curl_easy_strerror(cc));
                resp.status = 0;
        } else {
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
                harness_record_curl(c, "harness.c", resp.headers, resp.headers_len, sink.data,
                                    sink.len);
        }

        resp.body = sink.data;
        resp.body_len = sink.len;
        if (!resp.body) {
                resp.body = strdup("");
                if (!resp.body)
                        harness_broken("out of memory");
        }

        if (out) {
                hresp_done(out);
                *out = resp;
        } else {
                long status = resp.status;

                hresp_done(&resp);
                return status;
        }
        return out->status;
}

long http(struct harness *h, const char *method, const char *path, const char *content_type,
          const char *body, struct hresp *out)
{
        return http_len(h, method, path, content_type, body, body ? strlen(body) : 0, out);
}

/* --- JSON ---------------------------------------------------------------------------------- */

json_t *hresp_json(const struct hresp *r)
{
        json_error_t err;
        json_t *j;

        j = json_loadb(r->body, r->body_len, 0, &err);
        if (!j)
                fprintf(stderr, "response body is not JSON (%s): %.300s\n", err.text, r->body);
        return j;
}

const char *hjson_str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

long long hjson_int(const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

uint64_t hetag_revision(const char *etag)
{
        uint64_t v = 0;
        const char *p;

        if (!etag || etag[0] != '"' || !isdigit((unsigned char)etag[1]))
                return 0;
        for (p = etag + 1; isdigit((unsigned char)*p); p++)
                v = v * 10 + (uint64_t)(*p - '0');
        return p[0] == '"' && p[1] == 0 ? v : 0;
}

bool harness_problem_ok(const struct hresp *r, long status, const char *field, char *why,
                        size_t why_size)
{
        json_t *j = NULL;
        const char *f;
        bool ok = false;

        if (r->status != status) {
                snprintf(why, why_size, "status %ld, expected %ld; body %.300s", r->status, status,
                         r->body);
                return false;
        }
        if (!r->content_type || strncasecmp(r->content_type, "application/problem+json", 24) != 0) {
                snprintf(why, why_size, "Content-Type '%s', expected application/problem+json",
                         r->content_type ? r->content_type : "(none)");
                return false;
        }
        j = hresp_json(r);
        if (!json_is_object(j)) {
                snprintf(why, why_size, "body is not a JSON object: %.300s", r->body);
                goto finish;
        }
        if (!json_is_string(json_object_get(j, "type")) ||
            !json_is_string(json_object_get(j, "title")) ||
            json_string_length(json_object_get(j, "title")) == 0) {
                snprintf(why, why_size, "problem without type/title: %.300s", r->body);
                goto finish;
        }
        if (hjson_int(j, "status") != status) {
                snprintf(why, why_size, "problem status %lld, expected %ld", hjson_int(j, "status"),
                         status);
                goto finish;
        }
        if (!json_is_string(json_object_get(j, "detail")) ||
            json_string_length(json_object_get(j, "detail")) == 0) {
                snprintf(why, why_size, "problem without a detail: %.300s", r->body);
                goto finish;
        }
        f = hjson_str(j, "field");
        if (json_object_get(j, "field") && !f) {
                snprintf(why, why_size, "problem field is not a string: %.300s", r->body);
                goto finish;
        }
        if (field ? !f || strcmp(f, field) != 0 : f != NULL) {
                snprintf(why, why_size, "field '%s', expected '%s'; body %.300s", f ? f : "(none)",
                         field ? field : "(none)", r->body);
                goto finish;
        }
        ok = true;
finish:
        json_decref(j);
        return ok;
}

/* --- files --------------------------------------------------------------------------------- */

static long read_all(int dir_fd, const char *name, char **ret)
{
        struct stat st;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        int fd;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int e = errno;

                close(fd);
                return -e;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return -EISDIR;
        }
        for (;;) {
                ssize_t n;

                if (len + 4096 + 1 > cap) {
                        char *b;

                        cap = cap ? cap * 2 : 8192;
                        b = realloc(buf, cap);
                        if (!b)
                                harness_broken("out of memory");
                        buf = b;
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;

                        free(buf);
                        close(fd);
                        return -e;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (!buf && !(buf = malloc(1)))
                harness_broken("out of memory");
        buf[len] = 0;
        *ret = buf;
        return (long)len;
}

long harness_file(struct harness *h, const char *name, char **ret)
{
        int dfd = open(h->ifaces, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        long r;

        if (dfd < 0)
                return -errno;
        r = read_all(dfd, name, ret);
        close(dfd);
        return r;
}

void harness_write_file(struct harness *h, const char *name, const char *content)
{
        char path[1024];
        size_t len = strlen(content), off = 0;
        int fd;

        path_join(path, sizeof(path), h->ifaces, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                harness_broken("open(%s): %s", path, strerror(errno));
        while (off < len) {
                ssize_t n = write(fd, content + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        harness_broken("write(%s): %s", path, strerror(errno));
                off += (size_t)n;
        }
        if (close(fd) < 0)
                harness_broken("close(%s): %s", path, strerror(errno));
}

void harness_remove_file(struct harness *h, const char *name)
{
        char path[1024];

        path_join(path, sizeof(path), h->ifaces, name);
        if (unlink(path) < 0 && errno != ENOENT)
                harness_broken("unlink(%s): %s", path, strerror(errno));
}

/* --- snapshots ----------------------------------------------------------------------------- */

static int file_cmp(const void *a, const void *b)
{
        return strcmp(((const struct hsnap_file *)a)->name, ((const struct hsnap_file *)b)->name);
}

static void snapshot_files(struct harness *h, struct hsnap *s)
{
        DIR *d = opendir(h->ifaces);
        struct dirent *de;

        if (!d)
                harness_broken("opendir(%s): %s", h->ifaces, strerror(errno));
        while ((de = readdir(d))) {
                struct hsnap_file *f;
                struct stat st;
                long n;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                f = realloc(s->files, (s->n_files + 1) * sizeof(*f));
                if (!f)
                        harness_broken("out of memory");
                s->files = f;
                f = &s->files[s->n_files];
                *f = (struct hsnap_file){ .name = strdup(de->d_name) };
                if (!f->name)
                        harness_broken("out of memory");
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        /* Vanished between readdir and stat (the watcher is live): skip it. */
                        free(f->name);
                        continue;
                }
                f->mode = st.st_mode & 07777;
                n = S_ISREG(st.st_mode) ? read_all(dirfd(d), de->d_name, &f->data) : -EISDIR;
                if (n == -ENOENT) {
                        free(f->name);
                        continue;
                }
                if (n < 0) {
                        /* Unreadable entries are part of the state too: record the errno. */
                        if (asprintf(&f->data, "<unreadable: %s>", strerror((int)-n)) < 0)
                                harness_broken("out of memory");
                        n = (long)strlen(f->data);
                }
                f->len = (size_t)n;
                s->n_files++;
        }
        closedir(d);
        if (s->n_files)
                qsort(s->files, s->n_files, sizeof(*s->files), file_cmp);
}

static void snapshot_db(struct harness *h, struct hsnap *s)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r;

        r = sqlite3_open_v2(h->db, &db, SQLITE_OPEN_READONLY, NULL);
        if (r != SQLITE_OK)
                harness_broken("sqlite3_open_v2(%s): %s", h->db, db ? sqlite3_errmsg(db) : "?");
        sqlite3_busy_timeout(db, 5000);

        /* One read transaction, so rows and audit count are from the same instant: one with
         * no intent left, once the daemon has written the rows and audit entries of the writes
         * it answered (it defers them to its next transaction, a few ms at most). */
        for (int i = 0;; i++) {
                long long intents = -1;

                if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
                        harness_broken("BEGIN: %s", sqlite3_errmsg(db));
                r = sqlite3_prepare_v2(db, "SELECT count(*) FROM intents", -1, &st, NULL);
                if (r != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
                        harness_broken("SELECT count(*) FROM intents: %s", sqlite3_errmsg(db));
                intents = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
                st = NULL;
                if (intents == 0)
                        break;
                sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
                if (i == 2500)
                        harness_broken("%lld intents still pending in %s after 5 s", intents,
                                       h->db);
                usleep(2000);
        }

        r = sqlite3_prepare_v2(db, "SELECT name, content, revision FROM ifaces ORDER BY name", -1,
                               &st, NULL);
        if (r != SQLITE_OK)
                harness_broken("prepare: %s", sqlite3_errmsg(db));
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                struct hsnap_row *row = realloc(s->rows, (s->n_rows + 1) * sizeof(*row));
                const char *name = (const char *)sqlite3_column_text(st, 0);
                const char *content = (const char *)sqlite3_column_text(st, 1);

                if (!row)
                        harness_broken("out of memory");
                s->rows = row;
                row = &s->rows[s->n_rows++];
                *row = (struct hsnap_row){
                        .name = strdup(name ? name : ""),
                        .content = strdup(content ? content : ""),
                        .revision = sqlite3_column_int64(st, 2),
                };
                if (!row->name || !row->content)
                        harness_broken("out of memory");
        }
        if (r != SQLITE_DONE)
                harness_broken("SELECT ifaces: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);

        r = sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL);
        if (r != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
                harness_broken("SELECT count(*) FROM audit: %s", sqlite3_errmsg(db));
        s->audit_count = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);

        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(db);
}

struct hsnap *harness_snapshot(struct harness *h)
{
        struct hsnap *s = calloc(1, sizeof(*s));

        if (!s)
                harness_broken("out of memory");
        snapshot_db(h, s);
        snapshot_files(h, s);
        return s;
}

void hsnap_free(struct hsnap *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_files; i++) {
                free(s->files[i].name);
                free(s->files[i].data);
        }
        for (size_t i = 0; i < s->n_rows; i++) {
                free(s->rows[i].name);
                free(s->rows[i].content);
        }
        free(s->files);
        free(s->rows);
        free(s);
}

const struct hsnap_row *hsnap_row(const struct hsnap *s, const char *name)
{
        for (size_t i = 0; i < s->n_rows; i++)
                if (strcmp(s->rows[i].name, name) == 0)
                        return &s->rows[i];
        return NULL;
}

bool hsnap_equal(const struct hsnap *a, const struct hsnap *b, char *why, size_t why_size)
{
        if (a->n_files != b->n_files) {
                snprintf(why, why_size, "%zu files before, %zu after", a->n_files, b->n_files);
                return false;
        }
        for (size_t i = 0; i < a->n_files; i++) {
                const struct hsnap_file *x = &a->files[i], *y = &b->files[i];

                if (strcmp(x->name, y->name) != 0) {
                        snprintf(why, why_size, "file '%s' became '%s'", x->name, y->name);
                        return false;
                }
                if (x->len != y->len || memcmp(x->data, y->data, x->len) != 0) {
                        snprintf(why, why_size, "file '%s' changed: %.200s", y->name, y->data);
                        return false;
                }
                if (x->mode != y->mode) {
                        snprintf(why, why_size, "file '%s' mode %o became %o", x->name, x->mode,
                                 y->mode);
                        return false;
                }
        }
        if (a->n_rows != b->n_rows) {
                snprintf(why, why_size, "%zu rows before, %zu after", a->n_rows, b->n_rows);
                return false;
        }
        for (size_t i = 0; i < a->n_rows; i++) {
                const struct hsnap_row *x = &a->rows[i], *y = &b->rows[i];

                if (strcmp(x->name, y->name) != 0 || strcmp(x->content, y->content) != 0 ||
                    x->revision != y->revision) {
                        snprintf(why, why_size, "row '%s' (revision %lld) changed to '%s' (%lld)",
                                 x->name, x->revision, y->name, y->revision);
                        return false;
                }
        }
        if (a->audit_count != b->audit_count) {
                snprintf(why, why_size, "audit rows %lld before, %lld after", a->audit_count,
                         b->audit_count);
                return false;
        }
        return true;
}

bool harness_mirrors_agree(struct harness *h)
{
        struct hsnap *s = harness_snapshot(h);
        bool ok = true;

        for (size_t i = 0; i < s->n_files; i++) {
                const struct hsnap_file *f = &s->files[i];
                const struct hsnap_row *row = hsnap_row(s, f->name);

                if (!row) {
                        fprintf(stderr, "mirrors: file ifaces/%s has no sqlite row\n", f->name);
                        ok = false;
                } else if (strlen(row->content) != f->len ||
                           memcmp(row->content, f->data, f->len) != 0) {
                        fprintf(stderr,
                                "mirrors: ifaces/%s differs from its row (revision %lld)\n"
                                "--- file ---\n%s--- row ---\n%s------------\n",
                                f->name, row->revision, f->data, row->content);
                        ok = false;
                }
        }
        for (size_t i = 0; i < s->n_rows; i++) {
                bool found = false;

                for (size_t j = 0; j < s->n_files && !found; j++)
                        found = strcmp(s->files[j].name, s->rows[i].name) == 0;
                if (!found) {
                        fprintf(stderr, "mirrors: row '%s' (revision %lld) has no file\n",
                                s->rows[i].name, s->rows[i].revision);
                        ok = false;
                }
        }
        hsnap_free(s);
        return ok;
}
