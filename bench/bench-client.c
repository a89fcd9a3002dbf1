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
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
        long count;
        long errors;
};

static void *get_thread(void *ud)
{
        struct get_ctx *g = ud;
        struct body b = {};
        CURL *c = curl_easy_init();

        while (now_s() < g->until) {
                if (request(c, "GET", g->url, NULL, &b) == 200)
                        g->count++;
                else
                        g->errors++;
        }
        curl_easy_cleanup(c);
        free(b.data);
        return NULL;
}

static int bench_get(const char *base, double seconds, int threads, const char *name)
{
        struct get_ctx ctx[64];
        pthread_t t[64];
        char url[512];
        long total = 0, errors = 0;
        double t0 = now_s();

        if (threads < 1 || threads > 64)
                return 1;
        snprintf(url, sizeof(url), "%s/api/v1/ifaces/%s", base, name);
        for (int i = 0; i < threads; i++) {
                ctx[i] = (struct get_ctx){ url, t0 + seconds, 0, 0 };
                pthread_create(&t[i], NULL, get_thread, &ctx[i]);
        }
        for (int i = 0; i < threads; i++) {
                pthread_join(t[i], NULL);
                total += ctx[i].count;
                errors += ctx[i].errors;
        }
        printf("op=get threads=%d seconds=%.1f requests=%ld errors=%ld per_s=%.0f\n", threads,
               seconds, total, errors, (double)total / (now_s() - t0));
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
        curl_global_cleanup();
        return r;
}
