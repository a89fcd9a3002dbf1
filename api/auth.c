/* SPDX-License-Identifier: MIT */
/*
 * Who is asking, and may they (docs/security.md): bearer tokens or the unix peer's uid to a
 * role, the route's role to the answer (401, 403, 429), the tarpit for failed attempts and the
 * per-token rate limit. The delayed 401s of the tarpit ride on pending_delay(), so no HTTP thread
 * sleeps.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "counters.h"
#include "engine.h"
#include "internal.h"
#include "log.h"
#include "macro.h"

#define TARPIT_SLOTS     1024
#define TARPIT_WINDOW_US (60LL * 1000 * 1000)
#define TARPIT_FREE      2 /* failures without delay */
#define RATE_SLOTS       1024

struct tarpit_slot {
        char key[48];
        int64_t window_start;
        unsigned failures;
};

struct rate_slot {
        char id[TOKEN_ID_LEN + 1];
        double tokens;
        int64_t last_usec;
};

struct auth_state {
        pthread_mutex_t lock;
        struct tarpit_slot tarpit[TARPIT_SLOTS];
        struct rate_slot rate[RATE_SLOTS];
};

static uint32_t hash_str(const char *s)
{
        uint32_t h = 2166136261u;

        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 16777619u;
        return h;
}

int auth_parse_bearer(const char *header, char id[static 13], char secret[static 64])
{
        const char *p;
        char tid[TOKEN_ID_LEN + 1], tsec[TOKEN_SECRET_LEN + 1];

        if (!header || strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
                return -EINVAL;
        p = header + 6;
        while (*p == ' ')
                p++;
        if (token_split(p, tid, tsec) < 0)
                return -EINVAL;
        memcpy(id, tid, sizeof(tid));
        memcpy(secret, tsec, sizeof(tsec));
        explicit_bzero(tsec, sizeof(tsec));
        return 0;
}

int auth_state_new(struct auth_state **ret)
{
        struct auth_state *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        *ret = s;
        return 0;
}

struct auth_state *auth_state_free(struct auth_state *s)
{
        if (s) {
                pthread_mutex_destroy(&s->lock);
                free(s);
        }
        return NULL;
}

/* A failure by client: the delay its 401 gets, in microseconds. */
static int64_t tarpit_fail(struct auth_state *s, const struct api_auth_cfg *cfg, const char *client)
{
        struct tarpit_slot *t = &s->tarpit[hash_str(client) % TARPIT_SLOTS];
        /* The coarse clock (a tick, 1-4 ms, without reading the hardware): windows of seconds. */
        int64_t now = clock_usec(CLOCK_MONOTONIC_COARSE), delay = 0;

        pthread_mutex_lock(&s->lock);
        /* A slot shared by two clients counts both: harsher, never laxer. */
        if (now - t->window_start > TARPIT_WINDOW_US) {
                t->failures = 0;
                t->window_start = now;
        }
        snprintf(t->key, sizeof(t->key), "%s", client);
        t->failures++;
        if (t->failures > TARPIT_FREE) {
                unsigned shift = MIN(t->failures - TARPIT_FREE - 1, 16u);

                delay = MIN(cfg->tarpit_base_usec << shift, cfg->tarpit_max_usec);
        }
        pthread_mutex_unlock(&s->lock);
        return delay;
}

/* "token:ID" into buf, cut to fit (per request: snprintf() showed in a profile of GET). */
static void actor_token(char *buf, size_t size, const char *id)
{
        static const char prefix[] = "token:";
        size_t n = strlen(id);

        assert(size > sizeof(prefix));
        if (n > size - sizeof(prefix))
                n = size - sizeof(prefix);
        memcpy(buf, prefix, sizeof(prefix) - 1);
        memcpy(buf + sizeof(prefix) - 1, id, n);
        buf[sizeof(prefix) - 1 + n] = '\0';
}

/* One request of token id: 0, or the seconds to wait (429). */
static unsigned rate_take(struct auth_state *s, const char *id, double rate, double burst)
{
        uint32_t h = hash_str(id);
        struct rate_slot *r = NULL;
        /* Coarse (a tick): the bucket refills by the time elapsed, which it never loses. */
        int64_t now = clock_usec(CLOCK_MONOTONIC_COARSE);
        unsigned wait = 0;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < RATE_SLOTS; i++) {
                struct rate_slot *x = &s->rate[(h + i) % RATE_SLOTS];

                if (streq(x->id, id) || !x->id[0]) {
                        r = x;
                        break;
                }
        }
        if (!r) /* more tokens than slots: take over one (they are cheap to refill) */
                r = &s->rate[h % RATE_SLOTS];
        if (!streq(r->id, id)) {
                snprintf(r->id, sizeof(r->id), "%s", id);
                r->tokens = burst;
                r->last_usec = now;
        }
        r->tokens = MIN(burst, r->tokens + (double)(now - r->last_usec) * rate / 1e6);
        r->last_usec = now;
        if (r->tokens >= 1.0)
                r->tokens -= 1.0;
        else
                wait = (unsigned)((1.0 - r->tokens) / rate) + 1;
        pthread_mutex_unlock(&s->lock);
        return wait;
}

static void set_www_authenticate(struct call *c, bool invalid)
{
        (void)resp_add_header(c->resp, "WWW-Authenticate",
                              invalid ? "Bearer realm=\"iscsi-ifaced\", error=\"invalid_token\"" :
                                        "Bearer realm=\"iscsi-ifaced\"");
}

/* A 401, delayed by the tarpit when this client keeps failing. Returns 1: answered. */
static int unauthorized(struct call *c, enum counters_auth why, bool invalid, const char *detail)
{
        const char *client = c->req->client ?: "unknown";
        int64_t delay = tarpit_fail(c->api->auth, &c->api->auth_cfg, client);

        counters_auth_failure(c->api->counters, why);
        if (delay > 0)
                counters_tarpit_delay(c->api->counters);
        /* Who and why, never what was presented (a token's secret). */
        log_info("auth failure from %s (id %s): %s%s", client,
                 c->req->request_id ? c->req->request_id : "-", detail,
                 delay > 0 ? "; answer held back by the tarpit" : "");

        errors_answer(c->resp, -ENOKEY, detail, NULL, c->req->request_id);
        set_www_authenticate(c, invalid);
        if (delay > 0)
                (void)pending_delay(&c->api->pq, c->resp, c->req->request_id, delay);
        return 1;
}

int auth_check(struct call *c, enum role need)
{
        const struct api_auth_cfg *cfg = &c->api->auth_cfg;
        const char *hdr = c->req->authorization;
        enum role have = ROLE_NONE;

        if (!cfg->enabled) {
                snprintf(c->actor, sizeof(c->actor), "anonymous");
                c->role = ROLE_ADMIN;
                return 0;
        }

        if (hdr) {
                char id[13], secret[64];
                struct token_info ti;
                unsigned wait;
                int r;

                if (auth_parse_bearer(hdr, id, secret) < 0)
                        return unauthorized(
                                c, COUNTERS_AUTH_MALFORMED, true,
                                "the Authorization header is not 'Bearer ifd_<id>_<secret>'");
                r = engine_token_verify(c->api->engine, id, secret, &ti);
                explicit_bzero(secret, sizeof(secret));
                if (r == -ENOENT || r == -EACCES)
                        return unauthorized(c, COUNTERS_AUTH_UNKNOWN, true,
                                            "unknown or revoked token");
                if (r < 0)
                        return r;
                /*
                 * No reset of the client's tarpit here: a success with one credential would
                 * otherwise wipe the failures of guesses at another (one valid viewer token
                 * interleaved with a brute force). Failures age out of the window instead.
                 */
                actor_token(c->actor, sizeof(c->actor), ti.id);
                have = ti.role;

                wait = rate_take(c->api->auth, ti.id, cfg->rate_limit, cfg->rate_burst);
                if (wait > 0) {
                        char v[16];

                        snprintf(c->detail, sizeof(c->detail),
                                 "token %s is over its rate limit of %.0f requests/s", ti.id,
                                 cfg->rate_limit);
                        counters_rate_limited(c->api->counters);
                        errors_answer(c->resp, -EDQUOT, c->detail, NULL, c->req->request_id);
                        snprintf(v, sizeof(v), "%u", wait);
                        (void)resp_add_header(c->resp, "Retry-After", v);
                        return 1;
                }
        } else if (c->req->has_peer_uid) {
                snprintf(c->actor, sizeof(c->actor), "uid:%u", c->req->peer_uid);
                if (c->req->peer_uid == 0)
                        have = ROLE_ADMIN;
                for (size_t i = 0; i < cfg->n_unix_roles; i++)
                        if (cfg->unix_roles[i].uid == c->req->peer_uid)
                                have = cfg->unix_roles[i].role;
                if (have == ROLE_NONE)
                        return unauthorized(c, COUNTERS_AUTH_UID, false,
                                            "this uid has no role: present a token, or map the uid "
                                            "with --unix-role");
        } else
                return unauthorized(c, COUNTERS_AUTH_MISSING, false, "a bearer token is required");

        c->role = have;
        if (have < need) {
                snprintf(c->detail, sizeof(c->detail), "this needs the %s role; %s has the %s role",
                         role_to_string(need), c->actor, role_to_string(have));
                errors_answer(c->resp, -EKEYREJECTED, c->detail, NULL, c->req->request_id);
                return 1;
        }
        return 0;
}

/* GET /api/v1/whoami: who the caller is and what it may do (the UI hides what it may not). */
int whoami_get(struct call *c)
{
        struct sbuf b = {};
        int r = call_no_query(c);

        if (r < 0)
                return r;
        sbuf_puts(&b, "{\"actor\":");
        sbuf_json_string(&b, c->actor);
        sbuf_puts(&b, ",\"role\":");
        sbuf_json_string(&b, role_to_string(c->role));
        sbuf_puts(&b, "}");
        return call_reply_json(c, 200, &b);
}
