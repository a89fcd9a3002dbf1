/* SPDX-License-Identifier: MIT */
/*
 * GET /api/v1/events: the engine's event bus as server-sent events (docs/events.md). Each stream
 * reads the shared ring by position and renders what it finds into SSE text; server/ only moves
 * the bytes and suspends the connection while a stream has none. One hub thread wakes waiting
 * streams (new events, a heartbeat due, the stop) and drops streams that fell behind the ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "macro.h"

#define EVENTS_CONTENT_TYPE "text/event-stream"
#define EVENTS_RETRY_MS     3000 /* the reconnection delay suggested to clients */
#define EVENTS_BATCH        64   /* events rendered per read, at most */

struct api_stream {
        struct event_hub *hub;
        struct api_stream *prev, *next; /* in hub->streams */
        uint64_t next_seq;              /* the next event to send */
        const char *reset_reason;       /* send a reset first (static), or NULL */
        bool greeted;                   /* the opening comment is out */
        bool waiting;                   /* nothing to send: the server suspended it */
        bool dropped;                   /* fell behind the ring: close it */
        int64_t heartbeat_due;          /* CLOCK_MONOTONIC usec */
        char *out;                      /* rendered bytes not yet handed over */
        size_t out_len, out_pos;
        const struct api_stream_ops *ops;
        void *userdata;
};

/* Hub lock, then the bus's locks (event_bus_range, event_bus_get): never the other way. */
static void hub_notify(void *userdata)
{
        struct event_hub *h = userdata;

        pthread_mutex_lock(&h->lock);
        /* Without streams there is nothing to wake (most writes happen with no UI open): the
         * hub sleeps on, instead of two context switches for each event. */
        if (h->streams) {
                h->kick = true;
                pthread_cond_signal(&h->cond);
        }
        pthread_mutex_unlock(&h->lock);
}

/* Holding h->lock: wake or drop the streams that need it; returns when to look again. */
static int64_t hub_scan(struct event_hub *h)
{
        int64_t now = clock_usec(CLOCK_MONOTONIC), next = now + h->heartbeat_usec;
        uint64_t first, last;

        event_bus_range(h->bus, &first, &last);
        for (struct api_stream *s = h->streams; s; s = s->next) {
                if (!s->ops || s->dropped)
                        continue;
                if (s->waiting) {
                        if (s->next_seq <= last || now >= s->heartbeat_due) {
                                s->waiting = false;
                                s->ops->wake(s->userdata);
                        } else if (s->heartbeat_due < next)
                                next = s->heartbeat_due;
                } else if (s->next_seq < first && !s->reset_reason) {
                        /* Not waiting: the client does not take what it was sent, and the
                         * ring has moved past it. Close it (docs/events.md, slow clients). */
                        s->dropped = true;
                        atomic_fetch_add(&h->dropped, 1);
                        s->ops->drop(s->userdata);
                }
        }
        return next;
}

static void *hub_thread(void *userdata)
{
        struct event_hub *h = userdata;

        (void)pthread_setname_np(pthread_self(), "ifd-events");
        pthread_mutex_lock(&h->lock);
        while (!h->exit) {
                int64_t due = hub_scan(h), wait = due - clock_usec(CLOCK_MONOTONIC);
                struct timespec ts;

                if (h->kick) {
                        h->kick = false;
                        continue;
                }
                if (wait < 1000)
                        wait = 1000;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += wait / 1000000;
                ts.tv_nsec += (long)(wait % 1000000) * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                if (!h->kick)
                        (void)pthread_cond_timedwait(&h->cond, &h->lock, &ts);
                h->kick = false;
        }
        pthread_mutex_unlock(&h->lock);
        return NULL;
}

int event_hub_start(struct event_hub *h, struct event_bus *bus)
{
        pthread_condattr_t ca;
        int r;

        h->bus = bus;
        h->sub_slot = -1;
        h->max_streams = API_EVENT_STREAMS_DEFAULT;
        h->heartbeat_usec = (int64_t)API_EVENT_HEARTBEAT_MS_DEFAULT * 1000;
        atomic_init(&h->dropped, 0);
        pthread_mutex_init(&h->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->cond, &ca);
        pthread_condattr_destroy(&ca);
        h->inited = true;
        if (!bus)
                return 0; /* no engine bus: every stream request is refused */

        r = event_bus_subscribe(bus, hub_notify, h);
        if (r < 0)
                return r;
        h->sub_slot = r;
        r = -pthread_create(&h->thread, NULL, hub_thread, h);
        if (r < 0)
                return r;
        h->thread_started = true;
        return 0;
}

void event_hub_stop(struct event_hub *h)
{
        if (!h->inited)
                return;
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        for (struct api_stream *s = h->streams; s; s = s->next) {
                if (!s->ops)
                        continue;
                if (s->waiting) {
                        /* Its next read ends the stream. */
                        s->waiting = false;
                        s->ops->wake(s->userdata);
                } else if (!s->dropped) {
                        /* Busy sending to a client that may not read: do not wait for it. */
                        s->dropped = true;
                        s->ops->drop(s->userdata);
                }
        }
        pthread_mutex_unlock(&h->lock);
}

void event_hub_done(struct event_hub *h)
{
        if (!h->inited)
                return;
        event_hub_stop(h);
        event_bus_unsubscribe(h->bus, h->sub_slot);
        if (h->thread_started) {
                pthread_mutex_lock(&h->lock);
                h->exit = true;
                pthread_cond_signal(&h->cond);
                pthread_mutex_unlock(&h->lock);
                pthread_join(h->thread, NULL);
        }
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        h->inited = false;
}

int api_set_events(struct api *a, const struct api_events_config *cfg)
{
        if (cfg->max_streams > API_EVENT_STREAMS_MAX || cfg->heartbeat_ms > 3600 * 1000)
                return -EINVAL;
        pthread_mutex_lock(&a->hub.lock);
        a->hub.max_streams = cfg->max_streams ?: API_EVENT_STREAMS_DEFAULT;
        a->hub.heartbeat_usec =
                (int64_t)(cfg->heartbeat_ms ?: API_EVENT_HEARTBEAT_MS_DEFAULT) * 1000;
        pthread_cond_signal(&a->hub.cond);
        pthread_mutex_unlock(&a->hub.lock);
        return 0;
}

void event_hub_stats(struct event_hub *h, unsigned *ret_streams, uint64_t *ret_dropped)
{
        pthread_mutex_lock(&h->lock);
        *ret_streams = h->n_streams;
        pthread_mutex_unlock(&h->lock);
        *ret_dropped = atomic_load(&h->dropped);
}

/* "<epoch>-<seq>", both decimal without sign or leading blanks. 0 or -EINVAL. */
static int parse_event_id(const char *s, uint64_t *ret_epoch, uint64_t *ret_seq)
{
        uint64_t v[2] = {};

        for (size_t k = 0; k < 2; k++) {
                size_t n = 0;

                for (; *s >= '0' && *s <= '9'; s++, n++) {
                        if (n >= 20 || v[k] > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                                return -EINVAL;
                        v[k] = v[k] * 10 + (uint64_t)(*s - '0');
                }
                if (n == 0 || *s != (k == 0 ? '-' : 0))
                        return -EINVAL;
                s++;
        }
        *ret_epoch = v[0];
        *ret_seq = v[1];
        return 0;
}

/* GET /api/v1/events */
int events_stream(struct call *c)
{
        struct event_hub *h = &c->api->hub;
        struct api_stream *s;
        uint64_t first, last, epoch, seq;
        const char *id = c->req->last_event_id;
        int r = call_no_query(c);

        if (r < 0)
                return r;
        if (!h->bus)
                return -EOPNOTSUPP;
        if (streq(c->req->method, "HEAD")) {
                /* The headers alone, and no stream: nothing would ever read it. */
                c->resp->status = 200;
                c->resp->content_type = EVENTS_CONTENT_TYPE;
                return resp_add_header(c->resp, "Cache-Control", "no-cache, no-store");
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->hub = h;

        pthread_mutex_lock(&h->lock);
        if (h->stopping || h->n_streams >= h->max_streams) {
                unsigned max = h->max_streams;
                bool stopping = h->stopping;

                pthread_mutex_unlock(&h->lock);
                free(s);
                if (stopping)
                        return -ESHUTDOWN;
                snprintf(c->detail, sizeof(c->detail),
                         "%u event streams are open, the most this daemon serves at once "
                         "(--event-streams); close one or retry later",
                         max);
                errors_problem_typed(c->resp, 503, "too-many-event-streams",
                                     "Too many event streams", c->detail, c->req->request_id, NULL);
                (void)resp_add_header(c->resp, "Retry-After", "5");
                return 0;
        }

        /* Where to start: live by default; after Last-Event-ID when the ring still has it. */
        event_bus_range(h->bus, &first, &last);
        s->next_seq = last + 1;
        if (id) {
                if (parse_event_id(id, &epoch, &seq) < 0)
                        s->reset_reason = "invalid-id";
                else if (epoch != event_bus_epoch(h->bus))
                        s->reset_reason = "previous-run";
                else if (seq > last)
                        s->reset_reason = "unknown-id";
                else if (seq + 1 < first)
                        s->reset_reason = "buffer-overrun";
                else
                        s->next_seq = seq + 1;
        }
        s->heartbeat_due = clock_usec(CLOCK_MONOTONIC) + h->heartbeat_usec;
        s->next = h->streams;
        if (h->streams)
                h->streams->prev = s;
        h->streams = s;
        h->n_streams++;
        pthread_mutex_unlock(&h->lock);

        c->resp->status = 200;
        c->resp->content_type = EVENTS_CONTENT_TYPE;
        c->resp->stream = s;
        (void)resp_add_header(c->resp, "Cache-Control", "no-cache, no-store");
        /* A buffering proxy (nginx) would hold the events back. */
        (void)resp_add_header(c->resp, "X-Accel-Buffering", "no");
        return 0;
}

void api_stream_attach(struct api_stream *s, const struct api_stream_ops *ops, void *userdata)
{
        pthread_mutex_lock(&s->hub->lock);
        s->ops = ops;
        s->userdata = userdata;
        pthread_mutex_unlock(&s->hub->lock);
}

void api_stream_free(struct api_stream *s)
{
        struct event_hub *h;

        if (!s)
                return;
        h = s->hub;
        pthread_mutex_lock(&h->lock);
        if (s->prev)
                s->prev->next = s->next;
        else
                h->streams = s->next;
        if (s->next)
                s->next->prev = s->prev;
        h->n_streams--;
        pthread_mutex_unlock(&h->lock);
        free(s->out);
        free(s);
}

static void write_id(struct sbuf *b, uint64_t epoch, uint64_t seq)
{
        sbuf_printf(b, "%" PRIu64 "-%" PRIu64, epoch, seq);
}

/* One event as SSE lines: id, event, data (a JSON object on one line). */
static void render_event(struct sbuf *b, uint64_t epoch, const struct event *ev)
{
        const char *type = event_type_to_string(ev->type);

        sbuf_puts(b, "id: ");
        write_id(b, epoch, ev->seq);
        sbuf_printf(b, "\nevent: %s\ndata: {\"type\":\"%s\",\"event_id\":\"", type, type);
        write_id(b, epoch, ev->seq);
        sbuf_puts(b, "\",\"timestamp\":");
        sbuf_rfc3339(b, ev->at_usec);

        switch (ev->type) {
        case EVENT_IFACE_CREATED:
        case EVENT_IFACE_CHANGED:
        case EVENT_IFACE_DELETED:
                sbuf_puts(b, ",\"name\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"origin\":");
                sbuf_json_string(b, ev->origin);
                if (ev->type != EVENT_IFACE_DELETED)
                        sbuf_printf(b, ",\"revision\":%" PRIu64, ev->revision);
                break;
        case EVENT_BINDING_CREATED:
        case EVENT_BINDING_CHANGED:
        case EVENT_BINDING_DELETED:
                sbuf_puts(b, ",\"id\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"origin\":");
                sbuf_json_string(b, ev->origin);
                if (ev->type != EVENT_BINDING_DELETED)
                        sbuf_printf(b, ",\"revision\":%" PRIu64, ev->revision);
                break;
        case EVENT_DRIFT_PROBLEM:
                /* name is a path under the db root (ifaces/<name> or nodes/...). */
                sbuf_puts(b, ",\"name\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"kind\":");
                sbuf_json_string(b, ev->detail);
                break;
        case EVENT_NIC_LINK:
                sbuf_puts(b, ",\"name\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"state\":");
                sbuf_json_string(b, ev->detail);
                break;
        case EVENT_NIC_ADDRESS:
                sbuf_puts(b, ",\"name\":");
                sbuf_json_string(b, ev->name);
                break;
        case EVENT_JOB_PROGRESS:
        case EVENT_JOB_FINISHED:
                sbuf_puts(b, ",\"id\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"state\":");
                sbuf_json_string(b, ev->detail);
                sbuf_printf(b, ",\"done\":%" PRIu64 ",\"total\":%" PRIu64, ev->done, ev->total);
                break;
        case EVENT_SESSION_STATE:
                /* The binding id of a login, the session's path of a logout. */
                sbuf_puts(b, ",\"id\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"state\":");
                sbuf_json_string(b, ev->detail);
                if (ev->sid)
                        sbuf_printf(b, ",\"sid\":%u", ev->sid);
                if (ev->origin[0]) {
                        /* A change the kernel made by itself (engine_sessions_watch). */
                        sbuf_puts(b, ",\"origin\":");
                        sbuf_json_string(b, ev->origin);
                }
                break;
        case EVENT_CHECK_PROGRESS:
        case EVENT_CHECK_FINISHED:
                /* A single check of an iface (POST /api/v1/ifaces/{name}/checks). */
                sbuf_puts(b, ",\"iface\":");
                sbuf_json_string(b, ev->name);
                sbuf_puts(b, ",\"portal\":");
                sbuf_json_string(b, ev->portal);
                if (ev->type == EVENT_CHECK_PROGRESS) {
                        sbuf_puts(b, ",\"step\":");
                        sbuf_json_string(b, ev->step);
                }
                sbuf_puts(b, ",\"status\":");
                sbuf_json_string(b, ev->status);
                if (ev->detail[0]) {
                        sbuf_puts(b, ",\"reason\":");
                        sbuf_json_string(b, ev->detail);
                }
                break;
        case _EVENT_TYPE_MAX:
        case _EVENT_TYPE_INVALID:
                break;
        }
        sbuf_puts(b, "}\n\n");
}

/* The reset event: re-list, then follow from here (its id is the last event published). */
static void render_reset(struct sbuf *b, uint64_t epoch, uint64_t last, const char *reason)
{
        sbuf_puts(b, "id: ");
        write_id(b, epoch, last);
        sbuf_puts(b, "\nevent: reset\ndata: {\"type\":\"reset\",\"event_id\":\"");
        write_id(b, epoch, last);
        sbuf_printf(b, "\",\"reason\":\"%s\",\"timestamp\":", reason);
        sbuf_rfc3339(b, clock_usec(CLOCK_REALTIME));
        sbuf_puts(b, "}\n\n");
}

/* Holding the hub lock: render what s has to send now into s->out. false: nothing. */
static bool stream_render(struct api_stream *s)
{
        struct event_hub *h = s->hub;
        uint64_t epoch = event_bus_epoch(h->bus), first, last;
        int64_t now = clock_usec(CLOCK_MONOTONIC);
        struct sbuf b = {};
        size_t n = 0;

        if (!s->greeted) {
                sbuf_printf(&b, ": iscsi-ifaced events\nretry: %d\n\n", EVENTS_RETRY_MS);
                s->greeted = true;
        }
        event_bus_range(h->bus, &first, &last);
        if (s->reset_reason) {
                render_reset(&b, epoch, last, s->reset_reason);
                s->next_seq = last + 1;
                s->reset_reason = NULL;
        }
        for (; n < EVENTS_BATCH && s->next_seq <= last; n++) {
                struct event ev;

                if (event_bus_get(h->bus, s->next_seq, &ev) < 0)
                        break; /* overwritten meanwhile: the caller sees it is behind */
                render_event(&b, epoch, &ev);
                s->next_seq++;
        }
        if (b.len == 0 && now >= s->heartbeat_due)
                sbuf_puts(&b, ": heartbeat\n\n");
        if (b.len > 0)
                s->heartbeat_due = now + h->heartbeat_usec;

        if (b.oom || b.len == 0) {
                free(b.data);
                return false;
        }
        free(s->out);
        s->out = b.data;
        s->out_len = b.len;
        s->out_pos = 0;
        return true;
}

ssize_t api_stream_read(struct api_stream *s, char *buf, size_t max)
{
        struct event_hub *h = s->hub;
        uint64_t first, last;
        size_t n = 0;

        pthread_mutex_lock(&h->lock);
        while (n < max) {
                if (s->out_pos < s->out_len) {
                        size_t k = MIN(max - n, s->out_len - s->out_pos);

                        memcpy(buf + n, s->out + s->out_pos, k);
                        n += k;
                        s->out_pos += k;
                        continue;
                }
                if (s->dropped || h->stopping)
                        break;
                event_bus_range(h->bus, &first, &last);
                if (s->next_seq < first && !s->reset_reason) {
                        /* Fell behind the ring while connected: closed, not reset (the
                         * reconnect with Last-Event-ID gets the reset). */
                        s->dropped = true;
                        atomic_fetch_add(&h->dropped, 1);
                        break;
                }
                if (!stream_render(s))
                        break;
        }
        if (n > 0) {
                pthread_mutex_unlock(&h->lock);
                return (ssize_t)n;
        }
        if (s->dropped) {
                pthread_mutex_unlock(&h->lock);
                return API_STREAM_ERROR;
        }
        if (h->stopping) {
                pthread_mutex_unlock(&h->lock);
                return API_STREAM_END;
        }
        /* Nothing now: suspended until the hub wakes it (under the lock, so no wake is lost). */
        s->waiting = true;
        s->ops->suspend(s->userdata);
        pthread_mutex_unlock(&h->lock);
        return 0;
}
