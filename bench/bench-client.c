/* SPDX-License-Identifier: MIT */
/*
 * Load generator for bench/run.sh: drives a running iscsi-ifaced over keep-alive HTTP with
 * libcurl and prints one line of figures per run ("key=value ...").
 *
 *   bench-client URL create N PREFIX      sequential durable creates
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
 * post and lat append their samples (ms, one a line) to $BENCH_SAMPLES if it is set.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

static long request(CURL *c, const char *method, const char *url, const char *json,
                    struct body *out)
{
        struct curl_slist *h = NULL;
        long status = 0;

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

static int bench_create(const char *base, long n, const char *prefix)
{
        struct body b = {};
        CURL *c = curl_easy_init();
        double *lat = calloc((size_t)n, sizeof(double)), t0 = now_s();
        char url[512], json[256];

        snprintf(url, sizeof(url), "%s/api/v1/ifaces", base);
        for (long i = 0; i < n; i++) {
                double t = now_s();

                snprintf(json, sizeof(json), "{\"name\":\"%s%ld\",\"net_ifacename\":\"eth1\"}",
                         prefix, i);
                if (request(c, "POST", url, json, &b) != 201) {
                        fprintf(stderr, "create %s%ld failed: %s\n", prefix, i, b.data);
                        return 1;
                }
                lat[i] = now_s() - t;
        }
        double total = now_s() - t0;
        qsort(lat, (size_t)n, sizeof(double), cmp_double);
        printf("op=create n=%ld total_s=%.3f per_s=%.1f p50_ms=%.3f p99_ms=%.3f\n", n, total,
               (double)n / total, lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3);
        curl_easy_cleanup(c);
        free(lat);
        free(b.data);
        return 0;
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

int main(int argc, char **argv)
{
        int r = 2;

        if (argc < 3) {
                fprintf(stderr, "usage: see the comment at the top of bench/bench-client.c\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (!strcmp(argv[2], "create") && argc == 5)
                r = bench_create(argv[1], atol(argv[3]), argv[4]);
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
