/* SPDX-License-Identifier: MIT */
/* The API's own counters for /metrics (counters.h): one small mutex, fixed label sets. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "counters.h"
#include "internal.h"
#include "macro.h"

static const char *const methods[] = { "GET",   "HEAD",   "POST",    "PUT",
                                       "PATCH", "DELETE", "OPTIONS", "other" };
#define N_METHODS ELEMENTSOF(methods)

/* The histogram's upper bounds in microseconds (Prometheus' default buckets, 5 ms to 10 s). */
static const int64_t bounds_usec[] = { 5000,   10000,   25000,   50000,   100000,  250000,
                                       500000, 1000000, 2500000, 5000000, 10000000 };
#define N_BOUNDS ELEMENTSOF(bounds_usec)

/* Statuses a route may end with: the error map has about 20, so 16 per series is plenty. */
#define CODES_MAX 16

static const char *const auth_reasons[_COUNTERS_AUTH_MAX] = {
        [COUNTERS_AUTH_MISSING] = "missing",
        [COUNTERS_AUTH_MALFORMED] = "malformed",
        [COUNTERS_AUTH_UNKNOWN] = "unknown_token",
        [COUNTERS_AUTH_UID] = "uid_without_role",
};

/* One (route template, method): made on its first request. */
struct series {
        uint64_t buckets[N_BOUNDS]; /* not cumulative here; summed when rendered */
        uint64_t count;
        uint64_t sum_usec;
        struct {
                int code;
                uint64_t n;
        } codes[CODES_MAX];
        size_t n_codes;
        uint64_t codes_other; /* statuses past CODES_MAX, as code="other" */
};

struct counters {
        const struct route *routes;
        size_t n_routes;
        size_t *tmpl; /* route index -> index of the first route with the same path */

        pthread_mutex_t lock;
        struct series **series; /* [(n_routes + 1) * N_METHODS], NULL until used */

        atomic_long in_flight;
        atomic_uint_fast64_t auth_failures[_COUNTERS_AUTH_MAX];
        atomic_uint_fast64_t tarpit_delays;
        atomic_uint_fast64_t rate_limited;
        atomic_uint_fast64_t writes_here;
};

int counters_new(const struct route *routes, size_t n, struct counters **ret)
{
        struct counters *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->routes = routes;
        c->n_routes = n;
        c->tmpl = calloc(n + 1, sizeof(*c->tmpl));
        c->series = calloc((n + 1) * N_METHODS, sizeof(*c->series));
        if (!c->tmpl || !c->series) {
                free(c->tmpl);
                free(c->series);
                free(c);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                c->tmpl[i] = i;
                for (size_t j = 0; j < i; j++)
                        if (streq(routes[j].path, routes[i].path)) {
                                c->tmpl[i] = j;
                                break;
                        }
        }
        c->tmpl[n] = n;
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

struct counters *counters_free(struct counters *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < (c->n_routes + 1) * N_METHODS; i++)
                free(c->series[i]);
        free(c->series);
        free(c->tmpl);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

uint32_t counters_key(const struct counters *c, size_t route, const char *method)
{
        size_t m = N_METHODS - 1;

        for (size_t i = 0; method && i < N_METHODS - 1; i++)
                if (streq(methods[i], method)) {
                        m = i;
                        break;
                }
        return (uint32_t)(c->tmpl[MIN(route, c->n_routes)] * N_METHODS + m);
}

void counters_begin(struct counters *c)
{
        atomic_fetch_add(&c->in_flight, 1);
}

void counters_end(struct counters *c, uint32_t key, int64_t started_usec, int status)
{
        int64_t took = clock_usec(CLOCK_MONOTONIC) - started_usec;
        struct series *s;

        atomic_fetch_sub(&c->in_flight, 1);
        if (key >= (c->n_routes + 1) * N_METHODS)
                return;
        if (took < 0)
                took = 0;

        pthread_mutex_lock(&c->lock);
        s = c->series[key];
        if (!s)
                s = c->series[key] = calloc(1, sizeof(*s));
        if (s) {
                size_t i;

                for (i = 0; i < N_BOUNDS && took > bounds_usec[i]; i++)
                        ;
                if (i < N_BOUNDS)
                        s->buckets[i]++;
                s->count++;
                s->sum_usec += (uint64_t)took;
                for (i = 0; i < s->n_codes && s->codes[i].code != status; i++)
                        ;
                if (i < s->n_codes)
                        s->codes[i].n++;
                else if (s->n_codes < CODES_MAX)
                        s->codes[s->n_codes++] = (typeof(s->codes[0])){ status, 1 };
                else
                        s->codes_other++;
        }
        pthread_mutex_unlock(&c->lock);
}

void counters_auth_failure(struct counters *c, enum counters_auth why)
{
        if (why >= 0 && why < _COUNTERS_AUTH_MAX)
                atomic_fetch_add(&c->auth_failures[why], 1);
}

void counters_tarpit_delay(struct counters *c)
{
        atomic_fetch_add(&c->tarpit_delays, 1);
}

void counters_rate_limited(struct counters *c)
{
        atomic_fetch_add(&c->rate_limited, 1);
}

void counters_write_here(struct counters *c)
{
        atomic_fetch_add(&c->writes_here, 1);
}

/* The route label of series key: a template of the table, or "other". Never a raw path. */
static const char *key_route(const struct counters *c, size_t key)
{
        size_t r = key / N_METHODS;

        return r < c->n_routes ? c->routes[r].path : "other";
}

void counters_render(struct counters *c, struct sbuf *b)
{
        size_t n = (c->n_routes + 1) * N_METHODS;

        pthread_mutex_lock(&c->lock);
        sbuf_puts(b, "# HELP ifd_http_requests_total HTTP requests answered by the API, by route "
                     "template, method and status.\n"
                     "# TYPE ifd_http_requests_total counter\n");
        for (size_t k = 0; k < n; k++) {
                const struct series *s = c->series[k];

                for (size_t i = 0; s && i < s->n_codes; i++)
                        sbuf_printf(b,
                                    "ifd_http_requests_total{route=\"%s\",method=\"%s\","
                                    "code=\"%d\"} %" PRIu64 "\n",
                                    key_route(c, k), methods[k % N_METHODS], s->codes[i].code,
                                    s->codes[i].n);
                if (s && s->codes_other)
                        sbuf_printf(b,
                                    "ifd_http_requests_total{route=\"%s\",method=\"%s\","
                                    "code=\"other\"} %" PRIu64 "\n",
                                    key_route(c, k), methods[k % N_METHODS], s->codes_other);
        }

        sbuf_puts(b, "# HELP ifd_http_request_duration_seconds Time from a complete request to "
                     "its answer, by route template and method.\n"
                     "# TYPE ifd_http_request_duration_seconds histogram\n");
        for (size_t k = 0; k < n; k++) {
                const struct series *s = c->series[k];
                uint64_t cum = 0;

                if (!s)
                        continue;
                for (size_t i = 0; i < N_BOUNDS; i++) {
                        cum += s->buckets[i];
                        sbuf_printf(b,
                                    "ifd_http_request_duration_seconds_bucket{route=\"%s\","
                                    "method=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                                    key_route(c, k), methods[k % N_METHODS],
                                    (double)bounds_usec[i] / 1e6, cum);
                }
                sbuf_printf(b,
                            "ifd_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                            "le=\"+Inf\"} %" PRIu64 "\n"
                            "ifd_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} "
                            "%.6f\n"
                            "ifd_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} "
                            "%" PRIu64 "\n",
                            key_route(c, k), methods[k % N_METHODS], s->count, key_route(c, k),
                            methods[k % N_METHODS], (double)s->sum_usec / 1e6, key_route(c, k),
                            methods[k % N_METHODS], s->count);
        }
        pthread_mutex_unlock(&c->lock);

        sbuf_printf(b,
                    "# HELP ifd_http_requests_in_flight API requests received and not yet "
                    "answered (this scrape included).\n"
                    "# TYPE ifd_http_requests_in_flight gauge\n"
                    "ifd_http_requests_in_flight %ld\n",
                    atomic_load(&c->in_flight));
        sbuf_puts(b, "# HELP ifd_auth_failures_total Requests refused with 401, by reason.\n"
                     "# TYPE ifd_auth_failures_total counter\n");
        for (size_t i = 0; i < _COUNTERS_AUTH_MAX; i++)
                sbuf_printf(b, "ifd_auth_failures_total{reason=\"%s\"} %" PRIu64 "\n",
                            auth_reasons[i], (uint64_t)atomic_load(&c->auth_failures[i]));
        sbuf_printf(b,
                    "# HELP ifd_tarpit_delays_total 401 answers delayed by the tarpit.\n"
                    "# TYPE ifd_tarpit_delays_total counter\n"
                    "ifd_tarpit_delays_total %" PRIu64 "\n"
                    "# HELP ifd_rate_limited_total Requests refused with 429 (a token over its "
                    "rate limit).\n"
                    "# TYPE ifd_rate_limited_total counter\n"
                    "ifd_rate_limited_total %" PRIu64 "\n"
                    "# HELP ifd_http_writes_here_total Durable writes run on the HTTP thread "
                    "that received them (it served that connection alone, another was free, no "
                    "other write was on its way), not on a writer thread.\n"
                    "# TYPE ifd_http_writes_here_total counter\n"
                    "ifd_http_writes_here_total %" PRIu64 "\n",
                    (uint64_t)atomic_load(&c->tarpit_delays),
                    (uint64_t)atomic_load(&c->rate_limited),
                    (uint64_t)atomic_load(&c->writes_here));
}
