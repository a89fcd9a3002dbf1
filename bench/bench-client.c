/* SPDX-License-Identifier: MIT */
/*
 * Load generator for bench/run.sh: drives a running iscsi-ifaced over keep-alive HTTP and
 * prints one line of figures per run ("key=value ...").
 *
 *   bench-client URL create N PREFIX [CLIENTS]
 *                                         durable creates PREFIX0..PREFIX<N-1>, from CLIENTS
 *                                         keep-alive connections at once (default 1), each
 *                                         taking the next name; from one thread like load
 *                                         (epoll, no libcurl); the first errors are printed
 *   bench-client URL list REPS            full listing (pages of 1000), REPS times
 *   bench-client URL get SECONDS THREADS NAME   GET one record in a loop from THREADS threads
 *   bench-client URL lat PATH REPS        latency of GET PATH (median and min over REPS)
 *   bench-client URL until PATH TEXT MS   poll GET PATH until the body contains TEXT
 *   bench-client URL post PATH BODY REPS [FIELD=VALUE]
 *                                         latency of POST PATH BODY (median, p90, min over REPS);
 *                                         every answer must be 2xx and, if given, have the
 *                                         top-level string FIELD equal to VALUE; the median of a
 *                                         top-level number "elapsed_ms" in the answers, if any
 *   bench-client URL job BODY IDLE_SECONDS THREADS PATH
 *                                         GET PATH from THREADS threads for IDLE_SECONDS (idle),
 *                                         then POST /api/v1/checks BODY and poll its Location
 *                                         every 10 ms until the job is no longer running, while
 *                                         the THREADS threads GET PATH again (loaded)
 *
 *   bench-client URL load SECONDS CONNS PATH
 *                                         GET PATH on CONNS keep-alive connections at once for
 *                                         SECONDS, one request in flight per connection, from one
 *                                         thread (epoll, no libcurl: the client shares the cores
 *                                         with the server and should cost it little); latency
 *                                         percentiles and max, errors, stalled connections (one
 *                                         with an error, or a request that waited over 1 s,
 *                                         answered or not at the end) and the fewest answers one
 *                                         connection got
 *   bench-client @PORT_FILE startup TIMEOUT_S CMD [ARG...]
 *                                         exec CMD (a daemon writing its port to PORT_FILE) in
 *                                         this process and time from the exec to the first 200 of
 *                                         GET /api/v1/health, then read its VmRSS; the daemon
 *                                         keeps this process's pid
 *
 * post and lat append their samples (ms, one a line) to $BENCH_SAMPLES if it is set.
 * With $BENCH_TOKEN set, every request carries "Authorization: Bearer $BENCH_TOKEN".
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct body {
        char *data;
        size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
        struct body *b = ud;
        char *d = realloc(b->data, b->len + size * n + 1);

        if (!d)
                return 0;
        memcpy(d + b->len, p, size * n);
        b->data = d;
        b->len += size * n;
        b->data[b->len] = 0;
        return size * n;
}

/* "Authorization: Bearer $BENCH_TOKEN", or NULL without one. */
static const char *auth_header(void)
{
        static char h[256];
        const char *t = getenv("BENCH_TOKEN");

        if (!t || !t[0])
                return NULL;
        if (!h[0])
                snprintf(h, sizeof(h), "Authorization: Bearer %s", t);
        return h;
}

static long request(CURL *c, const char *method, const char *url, const char *json,
                    struct body *out)
{
        struct curl_slist *h = NULL;
        long status = 0;

        if (auth_header())
                h = curl_slist_append(h, auth_header());

        if (out)
                out->len = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        if (json) {
                h = curl_slist_append(h, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
        } else {
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_slist_free_all(h);
        return status;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* With BENCH_SAMPLES=FILE in the environment, appends every sample (ms, one a line) to FILE. */
static void save_samples(const double *lat, long n)
{
        const char *path = getenv("BENCH_SAMPLES");
        FILE *f = path && path[0] ? fopen(path, "a") : NULL;

        if (!f)
                return;
        for (long i = 0; i < n; i++)
                fprintf(f, "%.6f\n", lat[i] * 1e3);
        fclose(f);
}

static int bench_list(const char *base, long reps)
{
        struct body b = {};
        CURL *c = curl_easy_init();
        double *lat = calloc((size_t)reps, sizeof(double));
        char url[1024];
        long items = 0;

        for (long r = 0; r < reps; r++) {
                double t = now_s();
                char cursor[256] = "";

                items = 0;
                for (;;) {
                        snprintf(url, sizeof(url), "%s/api/v1/ifaces?limit=1000%s%s", base,
                                 cursor[0] ? "&cursor=" : "", cursor);
                        if (request(c, "GET", url, NULL, &b) != 200)
                                return 1;
                        for (char *p = b.data; (p = strstr(p, "{\"name\":")); p++)
                                items++;
                        char *nc = strstr(b.data, "\"next_cursor\":\"");
                        if (!nc)
                                break;
                        nc += strlen("\"next_cursor\":\"");
                        snprintf(cursor, sizeof(cursor), "%.*s", (int)strcspn(nc, "\""), nc);
                }
                lat[r] = now_s() - t;
        }
        qsort(lat, (size_t)reps, sizeof(double), cmp_double);
        printf("op=list items=%ld reps=%ld p50_ms=%.3f min_ms=%.3f\n", items, reps,
               lat[reps / 2] * 1e3, lat[0] * 1e3);
        curl_easy_cleanup(c);
        free(lat);
        free(b.data);
        return 0;
}

struct get_ctx {
        const char *url;
        double until;
        atomic_int *stop; /* NULL: run until `until` only */
        long count;
        long errors;
};

static void *get_thread(void *ud)
{
        struct get_ctx *g = ud;
        struct body b = {};
        CURL *c = curl_easy_init();

        while (now_s() < g->until && !(g->stop && atomic_load(g->stop))) {
                if (request(c, "GET", g->url, NULL, &b) == 200)
                        g->count++;
                else
                        g->errors++;
        }
        curl_easy_cleanup(c);
        free(b.data);
        return NULL;
}

/* THREADS keep-alive clients that GET one URL in a loop, until a time or a stop flag. */
struct get_load {
        struct get_ctx ctx[64];
        pthread_t t[64];
        int threads;
        double t0;
};

static void load_start(struct get_load *l, const char *url, int threads, double until,
                       atomic_int *stop)
{
        l->threads = threads;
        l->t0 = now_s();
        for (int i = 0; i < threads; i++) {
                l->ctx[i] = (struct get_ctx){ url, until, stop, 0, 0 };
                pthread_create(&l->t[i], NULL, get_thread, &l->ctx[i]);
        }
}

/* Joins the clients; returns the requests per second since load_start(). */
static double load_join(struct get_load *l, long *total, long *errors)
{
        *total = 0;
        *errors = 0;
        for (int i = 0; i < l->threads; i++) {
                pthread_join(l->t[i], NULL);
                *total += l->ctx[i].count;
                *errors += l->ctx[i].errors;
        }
        return (double)*total / (now_s() - l->t0);
}

static int bench_get(const char *base, double seconds, int threads, const char *name)
{
        struct get_load l;
        char url[512];
        long total, errors;
        double per_s;

        if (threads < 1 || threads > 64)
                return 1;
        snprintf(url, sizeof(url), "%s/api/v1/ifaces/%s", base, name);
        load_start(&l, url, threads, now_s() + seconds, NULL);
        per_s = load_join(&l, &total, &errors);
        printf("op=get threads=%d seconds=%.1f requests=%ld errors=%ld per_s=%.0f\n", threads,
               seconds, total, errors, per_s);
        return errors ? 1 : 0;
}

static int bench_lat(const char *base, const char *path, long reps)
{
        struct body b = {};
        CURL *c = curl_easy_init();
        double *lat = calloc((size_t)reps, sizeof(double));
        char url[1024];

        snprintf(url, sizeof(url), "%s%s", base, path);
        for (long r = 0; r < reps; r++) {
                double t = now_s();

                if (request(c, "GET", url, NULL, &b) != 200)
                        return 1;
                lat[r] = now_s() - t;
        }
        save_samples(lat, reps);
        qsort(lat, (size_t)reps, sizeof(double), cmp_double);
        printf("op=lat path=%s reps=%ld bytes=%zu p50_ms=%.3f min_ms=%.3f\n", path, reps, b.len,
               lat[reps / 2] * 1e3, lat[0] * 1e3);
        curl_easy_cleanup(c);
        free(lat);
        free(b.data);
        return 0;
}

/* Poll until the body of GET path contains text; prints the time it took from the start. */
static int bench_until(const char *base, const char *path, const char *text, double ms)
{
        struct body b = {};
        CURL *c = curl_easy_init();
        double t0 = now_s();
        char url[1024];
        int r = 1;

        snprintf(url, sizeof(url), "%s%s", base, path);
        while (now_s() - t0 < ms / 1e3) {
                long status = request(c, "GET", url, NULL, &b);

                if (status == 200 && b.data && strstr(b.data, text)) {
                        r = 0;
                        break;
                }
        }
        struct timespec rt;

        clock_gettime(CLOCK_REALTIME, &rt);
        printf("op=until path=%s found=%s ms=%.3f at_ms=%.3f\n", path, r ? "no" : "yes",
               (now_s() - t0) * 1e3, (double)rt.tv_sec * 1e3 + (double)rt.tv_nsec / 1e6);
        curl_easy_cleanup(c);
        free(b.data);
        return r;
}

/* Whether the JSON body has the top-level string field=value ("status=ok"); *elapsed_ms gets
 * its top-level number "elapsed_ms" (-1 if none). */
static int body_has(const char *body, const char *want, double *elapsed_ms)
{
        const char *eq = want ? strchr(want, '=') : NULL;
        json_t *j = json_loads(body ? body : "", 0, NULL), *v;
        char key[128];
        int r = !want;

        v = json_object_get(j, "elapsed_ms");
        *elapsed_ms = json_is_number(v) ? json_number_value(v) : -1;
        if (!eq || !j)
                goto out;
        snprintf(key, sizeof(key), "%.*s", (int)(eq - want), want);
        v = json_object_get(j, key);
        r = json_is_string(v) && !strcmp(json_string_value(v), eq + 1);
out:
        json_decref(j);
        return r;
}

static int bench_post(const char *base, const char *path, const char *json, long reps,
                      const char *want)
{
        struct body b = {};
        CURL *c = curl_easy_init();
        double *lat = calloc((size_t)reps, sizeof(double));
        double *own = calloc((size_t)reps, sizeof(double));
        char url[1024], elapsed[64] = "";
        long status = 0, n_own = 0;
        int r = 0;

        snprintf(url, sizeof(url), "%s%s", base, path);
        for (long i = 0; i < reps; i++) {
                double t = now_s(), ms;

                status = request(c, "POST", url, json, &b);
                lat[i] = now_s() - t;
                if (status < 200 || status > 299 || !body_has(b.data, want, &ms)) {
                        fprintf(stderr, "POST %s #%ld: HTTP %ld, %s%s: %s\n", path, i, status,
                                want ? "expected " : "", want ? want : "", b.len ? b.data : "");
                        r = 1;
                        reps = i + 1;
                        break;
                }
                if (ms >= 0)
                        own[n_own++] = ms;
        }
        if (!r)
                save_samples(lat, reps);
        qsort(lat, (size_t)reps, sizeof(double), cmp_double);
        qsort(own, (size_t)n_own, sizeof(double), cmp_double);
        if (n_own)
                snprintf(elapsed, sizeof(elapsed), " elapsed_p50_ms=%.3f", own[n_own / 2]);
        if (!r)
                printf("op=post path=%s reps=%ld status=%ld bytes=%zu p50_ms=%.3f p90_ms=%.3f "
                       "min_ms=%.3f max_ms=%.3f%s\n",
                       path, reps, status, b.len, lat[reps / 2] * 1e3, lat[reps * 9 / 10] * 1e3,
                       lat[0] * 1e3, lat[reps - 1] * 1e3, elapsed);
        curl_easy_cleanup(c);
        free(lat);
        free(own);
        free(b.data);
        return r;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
        char *location = ud;
        size_t len = size * n, k = strlen("Location:");

        if (len > k && !strncasecmp(p, "Location:", k)) {
                p += k;
                len -= k;
                while (len && (*p == ' ' || *p == '\t')) {
                        p++;
                        len--;
                }
                while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
                        len--;
                snprintf(location, 512, "%.*s", (int)len, p);
        }
        return size * n;
}

/* "reason:count,..." of the job's results (status for a result without a reason). */
static void job_summary(json_t *job, char *out, size_t size, double *max_ms)
{
        const char *names[16];
        long counts[16];
        int n = 0;
        size_t i, used = 0;
        json_t *res;

        *max_ms = 0;
        out[0] = 0;
        json_array_foreach (json_object_get(job, "results"), i, res) {
                const char *why = json_string_value(json_object_get(res, "reason"));
                double ms = json_number_value(json_object_get(res, "elapsed_ms"));
                int k;

                if (!why)
                        why = json_string_value(json_object_get(res, "status"));
                if (!why)
                        why = "?";
                if (ms > *max_ms)
                        *max_ms = ms;
                for (k = 0; k < n && strcmp(names[k], why); k++)
                        ;
                if (k == n && n < 16) {
                        names[n] = why;
                        counts[n++] = 0;
                }
                if (k < n)
                        counts[k]++;
        }
        for (int k = 0; k < n && used < size; k++)
                used += (size_t)snprintf(out + used, size - used, "%s%s:%ld", k ? "," : "",
                                         names[k], counts[k]);
        if (!n)
                snprintf(out, size, "none");
}

static int bench_job(const char *base, const char *json, double idle_s, int threads,
                     const char *path)
{
        struct get_load l;
        struct body b = {};
        CURL *c = curl_easy_init();
        char url[1024], location[512] = "", reasons[512];
        long status, idle_n, idle_err, load_n, load_err;
        double idle, loaded, t0, t_post, t_done = 0, max_ms;
        atomic_int stop = 0;
        json_t *job = NULL;
        const char *state = "?";
        int r = 1;

        if (threads < 1 || threads > 64)
                return 2;
        snprintf(url, sizeof(url), "%s%s", base, path);
        load_start(&l, url, threads, now_s() + idle_s, NULL);
        idle = load_join(&l, &idle_n, &idle_err);

        snprintf(url, sizeof(url), "%s/api/v1/checks", base);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, location);
        t0 = now_s();
        status = request(c, "POST", url, json, &b);
        t_post = now_s();
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, NULL);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
        if (status != 202 || location[0] != '/') {
                fprintf(stderr, "POST /api/v1/checks: HTTP %ld, Location '%s': %s\n", status,
                        location, b.len ? b.data : "");
                goto out;
        }

        snprintf(url, sizeof(url), "%s%s", base, path);
        load_start(&l, url, threads, t0 + 3600, &stop);
        snprintf(url, sizeof(url), "%s%s", base, location);
        while (now_s() - t0 < 120) {
                struct timespec tick = { 0, 10 * 1000 * 1000 };

                status = request(c, "GET", url, NULL, &b);
                json_decref(job);
                job = status == 200 ? json_loads(b.data, 0, NULL) : NULL;
                state = job ? json_string_value(json_object_get(job, "state")) : NULL;
                if (!state) {
                        fprintf(stderr, "GET %s: HTTP %ld: %s\n", location, status,
                                b.len ? b.data : "");
                        break;
                }
                if (strcmp(state, "running")) {
                        t_done = now_s();
                        break;
                }
                nanosleep(&tick, NULL);
        }
        atomic_store(&stop, 1);
        loaded = load_join(&l, &load_n, &load_err);
        if (!t_done) {
                if (state)
                        fprintf(stderr, "job %s still '%s' after 120 s\n", location, state);
                goto out;
        }
        job_summary(job, reasons, sizeof(reasons), &max_ms);
        printf("op=job location=%s state=%s total=%lld done=%lld ok=%lld failed=%lld job_ms=%.1f "
               "post_ms=%.3f max_item_ms=%.1f reasons=%s threads=%d idle_per_s=%.0f "
               "loaded_per_s=%.0f ratio=%.3f errors=%ld\n",
               location, state, json_integer_value(json_object_get(job, "total")),
               json_integer_value(json_object_get(job, "done")),
               json_integer_value(json_object_get(job, "ok")),
               json_integer_value(json_object_get(job, "failed")), (t_done - t0) * 1e3,
               (t_post - t0) * 1e3, max_ms, reasons, threads, idle, loaded,
               idle > 0 ? loaded / idle : 0, idle_err + load_err);
        r = idle_err + load_err ? 1 : 0;
out:
        json_decref(job);
        curl_easy_cleanup(c);
        free(b.data);
        return r;
}

/* --- load: CONNS keep-alive connections, one request in flight on each, one thread ---------- */

struct conn {
        int fd;
        double t_sent; /* 0: nothing in flight */
        double max_lat;
        long done;
        long errors;
        size_t len;
        char buf[16384];
};

static int conn_open(const struct addrinfo *ai)
{
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1;

        if (fd < 0)
                return -1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* The value of header name in the head (NUL-terminated, name with its colon), or NULL. */
static const char *head_get(const char *head, const char *name)
{
        size_t k = strlen(name);

        for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
                if (!strncasecmp(p + 2, name, k)) {
                        p += 2 + k;
                        while (*p == ' ')
                                p++;
                        return p;
                }
        return NULL;
}

/* How much of c->buf is one complete answer: > 0 its length, 0 not complete yet, -1 bad. */
static long answer_len(struct conn *c, int *status, bool *close_after)
{
        char *end = strstr(c->buf, "\r\n\r\n");
        const char *cl, *cn;
        long head;

        if (!end)
                return c->len > sizeof(c->buf) / 2 ? -1 : 0;
        *end = 0; /* for head_get(); put back below */
        head = end + 4 - c->buf;
        *status = strncmp(c->buf, "HTTP/1.1 ", 9) ? 0 : atoi(c->buf + 9);
        cl = head_get(c->buf, "Content-Length:");
        cn = head_get(c->buf, "Connection:");
        *close_after = cn && !strncasecmp(cn, "close", 5);
        *end = '\r';
        if (!cl)
                return -1;
        if ((size_t)(head + atol(cl)) > sizeof(c->buf) - 1)
                return -1;
        return c->len >= (size_t)(head + atol(cl)) ? head + atol(cl) : 0;
}

struct samples {
        double *v;
        size_t n, cap;
};

static void samples_add(struct samples *s, double x)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 65536;
                double *v = realloc(s->v, cap * sizeof(double));

                if (!v)
                        return;
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = x;
}

/* host and port of a base URL ("http://127.0.0.1:8080"), resolved: 0, or 2 when it cannot be. */
static int base_resolve(const char *base, char host[256], char port[16], struct addrinfo **ai)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        const char *h = strstr(base, "://") ? strstr(base, "://") + 3 : base;

        snprintf(port, 16, "80");
        snprintf(host, 256, "%.*s", (int)strcspn(h, ":/"), h);
        if (h[strlen(host)] == ':')
                snprintf(port, 16, "%.*s", (int)strcspn(h + strlen(host) + 1, "/"),
                         h + strlen(host) + 1);
        return getaddrinfo(host, port, &hints, ai) == 0 ? 0 : 2;
}

/*
 * CONNS keep-alive connections driven from one thread with epoll, one request in flight on
 * each: next() writes the next request into buf and returns its length, 0 when there is none
 * (the connection stays idle). An answer counts when its status is want; any other, or a
 * broken connection, is an error and the connection is opened again. Runs until until (0: no
 * end) or until every connection is idle.
 */
struct drive {
        const struct addrinfo *ai;
        int n_conns;
        struct conn *conns;
        int want;
        double until;
        size_t (*next)(struct drive *d, char *buf, size_t size);
        void *ud;
        /* out */
        struct samples lat;
        long errors, closes;
        double t0, total;
};

static int conn_send(struct drive *d, struct conn *c, double now)
{
        char req[2048];
        size_t len;

        if (d->until && now >= d->until)
                return 0;
        len = d->next(d, req, sizeof(req));
        if (!len)
                return 0;
        c->t_sent = now;
        if (write(c->fd, req, len) != (ssize_t)len) {
                fprintf(stderr, "bench-client: short write\n");
                return -1;
        }
        return 1;
}

static int drive_run(struct drive *d)
{
        struct epoll_event ev, evs[256];
        int ep = epoll_create1(EPOLL_CLOEXEC), busy = 0, r;

        d->conns = calloc((size_t)d->n_conns, sizeof(*d->conns));
        if (!d->conns || ep < 0)
                return 2;
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < d->n_conns; i++) {
                d->conns[i].fd = conn_open(d->ai);
                if (d->conns[i].fd < 0) {
                        fprintf(stderr, "bench-client: connection %d: %s\n", i, strerror(errno));
                        return 1;
                }
                ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &d->conns[i] };
                epoll_ctl(ep, EPOLL_CTL_ADD, d->conns[i].fd, &ev);
        }

        d->t0 = now_s();
        for (int i = 0; i < d->n_conns; i++) {
                r = conn_send(d, &d->conns[i], now_s());
                if (r < 0)
                        return 1;
                busy += r;
        }
        for (double now = d->t0; busy > 0 && (!d->until || now < d->until); now = now_s()) {
                int n = epoll_wait(ep, evs, 256, 10);

                for (int k = 0; k < n; k++) {
                        struct conn *c = evs[k].data.ptr;
                        bool close_after = false, failed = false;
                        int status = 0;
                        long alen;
                        ssize_t got;

                        while ((got = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len)) >
                               0)
                                c->len += (size_t)got;
                        c->buf[c->len] = 0;
                        if (got == 0 || (got < 0 && errno != EAGAIN))
                                failed = true; /* closed or broken: in flight, so an error */
                        alen = answer_len(c, &status, &close_after);
                        if (alen == 0 && !failed)
                                continue;
                        now = now_s();
                        busy--;
                        if (alen > 0 && (size_t)alen == c->len && status == d->want) {
                                double l = now - c->t_sent;

                                samples_add(&d->lat, l);
                                c->done++;
                                if (l > c->max_lat)
                                        c->max_lat = l;
                        } else {
                                if (d->errors < 3)
                                        fprintf(stderr, "bench-client: status %d: %.300s\n", status,
                                                c->buf);
                                c->errors++;
                                d->errors++;
                                close_after = true;
                        }
                        c->len = 0;
                        c->t_sent = 0;
                        if (close_after || failed) {
                                d->closes += !failed && alen > 0 && status == d->want;
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                c->fd = conn_open(d->ai);
                                if (c->fd < 0) {
                                        fprintf(stderr, "bench-client: reconnect: %s\n",
                                                strerror(errno));
                                        return 1;
                                }
                                ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
                                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                        }
                        r = conn_send(d, c, now);
                        if (r < 0)
                                return 1;
                        busy += r;
                }
        }
        d->total = now_s() - d->t0;
        close(ep);
        return 0;
}

static void drive_done(struct drive *d)
{
        for (int i = 0; d->conns && i < d->n_conns; i++)
                if (d->conns[i].fd >= 0)
                        close(d->conns[i].fd);
        free(d->conns);
        free(d->lat.v);
}

struct load_req {
        const char *req;
        size_t len;
};

static size_t load_next(struct drive *d, char *buf, size_t size)
{
        const struct load_req *q = d->ud;

        if (q->len > size)
                return 0;
        memcpy(buf, q->req, q->len);
        return q->len;
}

static int bench_load(const char *base, double seconds, int n_conns, const char *path)
{
        struct addrinfo *ai;
        char host[256], port[16], req[1024];
        struct load_req q = { req, 0 };
        struct drive d = { .n_conns = n_conns, .want = 200, .next = load_next, .ud = &q };
        long min_done = -1, stalled = 0;
        int r;

        if (n_conns < 1 || n_conns > 65536 || base_resolve(base, host, port, &ai) != 0)
                return 2;
        d.ai = ai;
        q.len = (size_t)snprintf(
                req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n%s%s\r\n", path,
                host, port, auth_header() ? auth_header() : "", auth_header() ? "\r\n" : "");
        d.until = now_s() + seconds;
        r = drive_run(&d);
        if (r != 0)
                return r;
        for (int i = 0; i < n_conns; i++) {
                struct conn *c = &d.conns[i];

                if (c->t_sent && d.t0 + d.total - c->t_sent > c->max_lat)
                        c->max_lat = d.t0 + d.total - c->t_sent; /* still waiting at the end */
                if (c->errors || c->max_lat > 1.0)
                        stalled++;
                if (min_done < 0 || c->done < min_done)
                        min_done = c->done;
        }
        qsort(d.lat.v, d.lat.n, sizeof(double), cmp_double);
        if (!d.lat.n) {
                fprintf(stderr, "load: no answer at all\n");
                return 1;
        }
        double max = d.lat.v[d.lat.n - 1];

        for (int i = 0; i < n_conns; i++)
                if (d.conns[i].max_lat > max)
                        max = d.conns[i].max_lat;
        printf("op=load conns=%d seconds=%.1f requests=%zu errors=%ld closes=%ld per_s=%.0f "
               "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f min_conn_requests=%ld "
               "stalled=%ld\n",
               n_conns, d.total, d.lat.n, d.errors, d.closes, (double)d.lat.n / d.total,
               d.lat.v[d.lat.n / 2] * 1e3, d.lat.v[d.lat.n * 99 / 100] * 1e3,
               d.lat.v[d.lat.n * 999 / 1000] * 1e3, max * 1e3, min_done, stalled);
        freeaddrinfo(ai);
        drive_done(&d);
        return 0;
}

/* --- create: N durable creates on CLIENTS keep-alive connections, one thread --------------- */

struct create_req {
        const char *host, *port, *prefix;
        long n, next;
};

static size_t create_next(struct drive *d, char *buf, size_t size)
{
        struct create_req *q = d->ud;
        char json[256];
        int k, b;

        if (q->next >= q->n)
                return 0;
        b = snprintf(json, sizeof(json), "{\"name\":\"%s%ld\",\"net_ifacename\":\"eth1\"}",
                     q->prefix, q->next++);
        k = snprintf(buf, size,
                     "POST /api/v1/ifaces HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n%s%s"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     q->host, q->port, auth_header() ? auth_header() : "",
                     auth_header() ? "\r\n" : "", b, json);
        return k > 0 && (size_t)k < size ? (size_t)k : 0;
}

static int bench_create(const char *base, long n, const char *prefix, int clients)
{
        struct addrinfo *ai;
        char host[256], port[16];
        struct create_req q = { host, port, prefix, n, 0 };
        struct drive d = { .want = 201, .next = create_next, .ud = &q };
        int r;

        if (n < 1 || clients < 1 || clients > 256 || base_resolve(base, host, port, &ai) != 0)
                return 2;
        d.ai = ai;
        d.n_conns = clients < n ? clients : (int)n;
        r = drive_run(&d);
        freeaddrinfo(ai);
        if (r == 0 && (d.errors || d.lat.n != (size_t)n)) {
                fprintf(stderr, "create: %zu of %ld created, %ld errors\n", d.lat.n, n, d.errors);
                r = 1;
        }
        if (r == 0) {
                struct rusage ru;
                double cpu_us = 0;

                /* The client's own CPU a create: it shares the cores with the daemon. */
                if (getrusage(RUSAGE_SELF, &ru) == 0)
                        cpu_us = ((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                                  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)) /
                                 (double)n;
                save_samples(d.lat.v, (long)d.lat.n);
                qsort(d.lat.v, d.lat.n, sizeof(double), cmp_double);
                printf("op=create n=%ld clients=%d total_s=%.3f per_s=%.1f p50_ms=%.3f "
                       "p99_ms=%.3f max_ms=%.3f cpu_us=%.1f\n",
                       n, clients, d.total, (double)n / d.total, d.lat.v[n / 2] * 1e3,
                       d.lat.v[n * 99 / 100] * 1e3, d.lat.v[n - 1] * 1e3, cpu_us);
        }
        drive_done(&d);
        return r;
}

/* --- startup: exec a daemon, time it to its first 200 of GET /api/v1/health ---------------- */

/* Whether pid is gone or a zombie. */
static bool process_gone(pid_t pid)
{
        char path[64], buf[512], *p;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "r");
        if (!f)
                return true;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        p = strrchr(buf, ')');
        return !p || p[1] == 0 || p[2] == 'Z' || p[2] == 'X';
}

static long vm_rss_kb(pid_t pid)
{
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, "VmRSS:", 6))
                        kb = atol(line + 6);
        fclose(f);
        return kb;
}

/* In a grandchild of the daemon-to-be (reaped by init, never a child the daemon sees). */
static int startup_poll(const char *port_file, double t0, double timeout_s, pid_t pid)
{
        struct body b = {};
        CURL *c = curl_easy_init();
        char url[256];
        long status = 0;
        double t;

        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        for (t = now_s(); t - t0 < timeout_s; t = now_s()) {
                struct timespec tick = { 0, 1000 * 1000 };
                FILE *f = fopen(port_file, "r");
                unsigned p = 0;

                if (f) {
                        if (fscanf(f, "%u", &p) != 1)
                                p = 0;
                        fclose(f);
                }
                if (p) {
                        snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/health", p);
                        status = request(c, "GET", url, NULL, &b);
                        t = now_s();
                        if (status == 200)
                                break;
                }
                if (process_gone(pid)) {
                        fprintf(stderr, "startup: the daemon (pid %d) exited\n", (int)pid);
                        return 1;
                }
                nanosleep(&tick, NULL);
        }
        if (status != 200) {
                fprintf(stderr, "startup: no 200 from GET /api/v1/health in %.0f s (last %ld)\n",
                        timeout_s, status);
                return 1;
        }
        printf("op=startup ms=%.1f pid=%d rss_kb=%ld\n", (t - t0) * 1e3, (int)pid, vm_rss_kb(pid));
        fflush(stdout);
        curl_easy_cleanup(c);
        free(b.data);
        return 0;
}

static int bench_startup(const char *port_file, double timeout_s, char **cmd)
{
        pid_t self = getpid(), child;
        double t0;

        if (unlink(port_file) < 0 && errno != ENOENT)
                return 2;
        fflush(stdout);
        t0 = now_s(); /* the fork and wait below cost well under a millisecond */
        child = fork();
        if (child < 0)
                return 2;
        if (child == 0) {
                pid_t g = fork();

                if (g != 0)
                        _exit(g < 0);
                _exit(startup_poll(port_file, t0, timeout_s, self));
        }
        (void)waitpid(child, NULL, 0);
        execvp(cmd[0], cmd);
        fprintf(stderr, "startup: exec %s: %s\n", cmd[0], strerror(errno));
        return 127;
}

int main(int argc, char **argv)
{
        int r = 2;

        if (argc < 3) {
                fprintf(stderr, "usage: see the comment at the top of bench/bench-client.c\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (!strcmp(argv[2], "create") && argc == 5)
                r = bench_create(argv[1], atol(argv[3]), argv[4], 1);
        else if (!strcmp(argv[2], "create") && argc == 6)
                r = bench_create(argv[1], atol(argv[3]), argv[4], atoi(argv[5]));
        else if (!strcmp(argv[2], "load") && argc == 6)
                r = bench_load(argv[1], atof(argv[3]), atoi(argv[4]), argv[5]);
        else if (!strcmp(argv[2], "startup") && argc >= 5 && argv[1][0] == '@')
                r = bench_startup(argv[1] + 1, atof(argv[3]), argv + 4);
        else if (!strcmp(argv[2], "list") && argc == 4)
                r = bench_list(argv[1], atol(argv[3]));
        else if (!strcmp(argv[2], "lat") && argc == 5)
                r = bench_lat(argv[1], argv[3], atol(argv[4]));
        else if (!strcmp(argv[2], "until") && argc == 6)
                r = bench_until(argv[1], argv[3], argv[4], atof(argv[5]));
        else if (!strcmp(argv[2], "get") && argc == 6)
                r = bench_get(argv[1], atof(argv[3]), atoi(argv[4]), argv[5]);
        else if (!strcmp(argv[2], "post") && (argc == 6 || argc == 7))
                r = bench_post(argv[1], argv[3], argv[4], atol(argv[5]),
                               argc == 7 ? argv[6] : NULL);
        else if (!strcmp(argv[2], "job") && argc == 7)
                r = bench_job(argv[1], argv[3], atof(argv[4]), atoi(argv[5]), argv[6]);
        curl_global_cleanup();
        return r;
}
