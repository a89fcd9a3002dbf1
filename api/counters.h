/* SPDX-License-Identifier: MIT */
/*
 * What the API counts for /metrics: requests by route template, method and status, their
 * durations, the requests in flight, and the refusals of auth.c. Labels come from fixed sets
 * only (the route table's templates, a list of methods, HTTP statuses): never a raw path, a
 * token, an id or a client address.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct counters;
struct route;
struct sbuf;

/* Why a request was refused with 401 (the reason label of ifd_auth_failures_total). */
enum counters_auth {
        COUNTERS_AUTH_MISSING,   /* no Authorization and no unix peer with a role */
        COUNTERS_AUTH_MALFORMED, /* not "Bearer ifd_<id>_<secret>" */
        COUNTERS_AUTH_UNKNOWN,   /* an unknown or revoked token, or a wrong secret */
        COUNTERS_AUTH_UID,       /* a unix peer whose uid has no role */
        _COUNTERS_AUTH_MAX,
};

/* Counters over the route table routes[0..n-1] (borrowed, static). 0 or -ENOMEM. */
int counters_new(const struct route *routes, size_t n, struct counters **ret);
struct counters *counters_free(struct counters *c);

/*
 * The series key of a request: route is the index of its entry in the table, or n (no route:
 * the label "other"); method is the request's method (anything but the known ones is "other").
 */
uint32_t counters_key(const struct counters *c, size_t route, const char *method);

/* A request starts (in flight), or ends with status after started (CLOCK_MONOTONIC usec). */
void counters_begin(struct counters *c);
void counters_end(struct counters *c, uint32_t key, int64_t started_usec, int status);

void counters_auth_failure(struct counters *c, enum counters_auth why);
void counters_tarpit_delay(struct counters *c);
void counters_rate_limited(struct counters *c);
/* A durable write ran on the HTTP thread that received it (api_request.run_here). */
void counters_write_here(struct counters *c);

/* Append the families above in the text exposition format 0.0.4. */
void counters_render(struct counters *c, struct sbuf *b);
