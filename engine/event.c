/* SPDX-License-Identifier: MIT */
/* The event bus: a bounded ring of events by sequence number, and who to tell of new ones. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "macro.h"

struct event_bus {
        /* lock guards the ring and the counts; sub_lock the subscribers and their calls. */
        pthread_mutex_t lock;
        struct event *ring; /* seq s lives at ring[s % capacity] */
        size_t capacity;
        uint64_t last; /* the last sequence number handed out, 0: none */
        uint64_t epoch;
        uint64_t counts[_EVENT_TYPE_MAX];

        pthread_mutex_t sub_lock;
        struct {
                void (*notify)(void *userdata);
                void *userdata;
        } subs[EVENT_SUBSCRIBERS_MAX];
};

static const char *const event_type_names[_EVENT_TYPE_MAX] = {
        [EVENT_IFACE_CREATED] = "iface.created",     [EVENT_IFACE_CHANGED] = "iface.changed",
        [EVENT_IFACE_DELETED] = "iface.deleted",     [EVENT_BINDING_CREATED] = "binding.created",
        [EVENT_BINDING_CHANGED] = "binding.changed", [EVENT_BINDING_DELETED] = "binding.deleted",
        [EVENT_DRIFT_PROBLEM] = "drift.problem",     [EVENT_NIC_LINK] = "nic.link",
        [EVENT_NIC_ADDRESS] = "nic.address",         [EVENT_JOB_PROGRESS] = "job.progress",
        [EVENT_JOB_FINISHED] = "job.finished",       [EVENT_SESSION_STATE] = "session.state",
        [EVENT_CHECK_PROGRESS] = "check.progress",   [EVENT_CHECK_FINISHED] = "check.finished",
};

const char *event_type_to_string(enum event_type t)
{
        if ((int)t < 0 || t >= _EVENT_TYPE_MAX)
                return NULL;
        return event_type_names[t];
}

int event_bus_new(size_t capacity, struct event_bus **ret)
{
        struct event_bus *b;

        assert_return(ret, -EINVAL);

        if (capacity == 0)
                capacity = EVENT_BUFFER_DEFAULT;
        if (capacity < EVENT_BUFFER_MIN || capacity > EVENT_BUFFER_MAX)
                return -EINVAL;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ring = calloc(capacity, sizeof(*b->ring));
        if (!b->ring) {
                free(b);
                return -ENOMEM;
        }
        b->capacity = capacity;
        b->epoch = (uint64_t)clock_usec(CLOCK_REALTIME);
        pthread_mutex_init(&b->lock, NULL);
        pthread_mutex_init(&b->sub_lock, NULL);
        *ret = b;
        return 0;
}

struct event_bus *event_bus_free(struct event_bus *b)
{
        if (!b)
                return NULL;
        pthread_mutex_destroy(&b->lock);
        pthread_mutex_destroy(&b->sub_lock);
        free(b->ring);
        free(b);
        return NULL;
}

uint64_t event_bus_epoch(const struct event_bus *b)
{
        return b ? b->epoch : 0;
}

size_t event_bus_capacity(const struct event_bus *b)
{
        return b ? b->capacity : 0;
}

/* Copy a string into a fixed buffer, cut at a character boundary of UTF-8. */
static void copy_cut(char *dst, size_t size, const char *src)
{
        size_t n = strnlen(src, size);

        if (n >= size) {
                n = size - 1;
                while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
                        n--;
        }
        memcpy(dst, src, n);
        dst[n] = 0;
}

uint64_t event_bus_publish(struct event_bus *b, const struct event *ev)
{
        struct event *slot;
        uint64_t seq;

        assert_return(b && ev, 0);
        if ((int)ev->type < 0 || ev->type >= _EVENT_TYPE_MAX)
                return 0;

        pthread_mutex_lock(&b->lock);
        seq = ++b->last;
        slot = &b->ring[seq % b->capacity];
        slot->seq = seq;
        slot->at_usec = ev->at_usec ?: clock_usec(CLOCK_REALTIME);
        slot->type = ev->type;
        copy_cut(slot->name, sizeof(slot->name), ev->name);
        copy_cut(slot->origin, sizeof(slot->origin), ev->origin);
        copy_cut(slot->detail, sizeof(slot->detail), ev->detail);
        copy_cut(slot->portal, sizeof(slot->portal), ev->portal);
        copy_cut(slot->step, sizeof(slot->step), ev->step);
        copy_cut(slot->status, sizeof(slot->status), ev->status);
        slot->revision = ev->revision;
        slot->done = ev->done;
        slot->total = ev->total;
        slot->sid = ev->sid;
        b->counts[ev->type]++;
        pthread_mutex_unlock(&b->lock);

        pthread_mutex_lock(&b->sub_lock);
        for (size_t i = 0; i < EVENT_SUBSCRIBERS_MAX; i++)
                if (b->subs[i].notify)
                        b->subs[i].notify(b->subs[i].userdata);
        pthread_mutex_unlock(&b->sub_lock);
        return seq;
}

/* Holding b->lock. */
static uint64_t first_held(const struct event_bus *b)
{
        return b->last >= b->capacity ? b->last - b->capacity + 1 : 1;
}

void event_bus_range(struct event_bus *b, uint64_t *ret_first, uint64_t *ret_last)
{
        pthread_mutex_lock(&b->lock);
        *ret_first = first_held(b);
        *ret_last = b->last;
        pthread_mutex_unlock(&b->lock);
}

int event_bus_get(struct event_bus *b, uint64_t seq, struct event *ret)
{
        int r = 0;

        assert_return(b && ret, -EINVAL);

        pthread_mutex_lock(&b->lock);
        if (seq > b->last)
                r = -EAGAIN;
        else if (seq == 0 || seq < first_held(b))
                r = -ESTALE;
        else
                *ret = b->ring[seq % b->capacity];
        pthread_mutex_unlock(&b->lock);
        return r;
}

int event_bus_subscribe(struct event_bus *b, void (*notify)(void *userdata), void *userdata)
{
        int r = -ENOSPC;

        assert_return(b && notify, -EINVAL);

        pthread_mutex_lock(&b->sub_lock);
        for (size_t i = 0; i < EVENT_SUBSCRIBERS_MAX; i++)
                if (!b->subs[i].notify) {
                        b->subs[i].notify = notify;
                        b->subs[i].userdata = userdata;
                        r = (int)i;
                        break;
                }
        pthread_mutex_unlock(&b->sub_lock);
        return r;
}

void event_bus_unsubscribe(struct event_bus *b, int slot)
{
        if (!b || slot < 0 || slot >= EVENT_SUBSCRIBERS_MAX)
                return;
        pthread_mutex_lock(&b->sub_lock);
        b->subs[slot].notify = NULL;
        b->subs[slot].userdata = NULL;
        pthread_mutex_unlock(&b->sub_lock);
}

void event_bus_counts(struct event_bus *b, uint64_t ret[static _EVENT_TYPE_MAX])
{
        pthread_mutex_lock(&b->lock);
        memcpy(ret, b->counts, sizeof(b->counts));
        pthread_mutex_unlock(&b->lock);
}
