/* SPDX-License-Identifier: MIT */
/*
 * The event bus: a bounded ring of plain event structs with 64-bit sequence numbers that never
 * repeat within one run, and subscribers that are told when one is added. It knows nothing of
 * how events are shown (api/events.c renders them; docs/events.md is the contract).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_BUFFER_DEFAULT  1024
#define EVENT_BUFFER_MIN      4
#define EVENT_BUFFER_MAX      65536
#define EVENT_NAME_MAX        512 /* a binding id: an iSCSI name (223), address, port, iface */
#define EVENT_DETAIL_MAX      64
#define EVENT_SUBSCRIBERS_MAX 8

enum event_type {
        EVENT_IFACE_CREATED,
        EVENT_IFACE_CHANGED,
        EVENT_IFACE_DELETED,
        EVENT_BINDING_CREATED,
        EVENT_BINDING_CHANGED,
        EVENT_BINDING_DELETED,
        EVENT_DRIFT_PROBLEM,
        EVENT_NIC_LINK,
        EVENT_NIC_ADDRESS,
        EVENT_JOB_PROGRESS,
        EVENT_JOB_FINISHED,
        EVENT_SESSION_STATE,
        EVENT_CHECK_PROGRESS,
        EVENT_CHECK_FINISHED,
        _EVENT_TYPE_MAX,
        _EVENT_TYPE_INVALID = -22,
};

/* One event. Strings are NUL-terminated, cut to their buffers; empty means absent. */
struct event {
        uint64_t seq;    /* set by event_bus_publish: 1, 2, ... */
        int64_t at_usec; /* CLOCK_REALTIME; 0 on publish means now */
        enum event_type type;
        char name[EVENT_NAME_MAX];     /* the resource: iface or NIC name, binding or job id */
        char origin[16];               /* "api", "external", "auto" (records), else "" */
        uint64_t revision;             /* records: the new revision (0 when deleted) */
        char detail[EVENT_DETAIL_MAX]; /* nic.link: "up"/"down"; drift.problem: its kind;
                                        * job.*, session.state: the state */
        uint64_t done, total;          /* job.*: items finished, items in all */
        unsigned sid;                  /* session.state: the session, 0 when none (yet) */
        char portal[64];               /* check.*: the portal checked ("ip:port") */
        char step[16];                 /* check.progress: the step that ended */
        char status[16];               /* check.*: the step's, or the check's, status */
};

struct event_bus;

/* The event type's wire name ("iface.created", ...), or NULL when out of range. */
const char *event_type_to_string(enum event_type t);

/*
 * A bus keeping the last capacity events (EVENT_BUFFER_MIN..EVENT_BUFFER_MAX; 0 means
 * EVENT_BUFFER_DEFAULT). Its epoch is the start time in microseconds (CLOCK_REALTIME), so
 * sequence numbers of an earlier run are told apart. 0, -EINVAL (capacity) or -ENOMEM.
 */
int event_bus_new(size_t capacity, struct event_bus **ret);
/* NULL-safe; no subscriber may be running. Returns NULL. */
struct event_bus *event_bus_free(struct event_bus *b);

uint64_t event_bus_epoch(const struct event_bus *b);
size_t event_bus_capacity(const struct event_bus *b);

/*
 * Add a copy of ev (strings cut to size) with the next sequence number and tell every
 * subscriber, on this thread, after the bus lock is released. Returns the sequence number, or
 * 0 for a type out of range (nothing added). Thread-safe.
 */
uint64_t event_bus_publish(struct event_bus *b, const struct event *ev);

/*
 * The sequence numbers the ring holds now: *ret_first..*ret_last (first > last: none yet;
 * *ret_last is the last published, 0 before the first).
 */
void event_bus_range(struct event_bus *b, uint64_t *ret_first, uint64_t *ret_last);

/*
 * Copy event seq into *ret: 0, -EAGAIN (not published yet), or -ESTALE (overwritten by newer
 * ones, or seq 0). *ret is untouched on failure.
 */
int event_bus_get(struct event_bus *b, uint64_t seq, struct event *ret);

/*
 * Call notify(userdata) after each publish (on the publishing thread; it must not publish nor
 * block). Returns a slot >= 0 for event_bus_unsubscribe, or -ENOSPC (EVENT_SUBSCRIBERS_MAX).
 */
int event_bus_subscribe(struct event_bus *b, void (*notify)(void *userdata), void *userdata);
/* Remove a subscriber; when this returns, its notify is not running and will not run. */
void event_bus_unsubscribe(struct event_bus *b, int slot);

/* Events published per type since start, into ret[_EVENT_TYPE_MAX]. */
void event_bus_counts(struct event_bus *b, uint64_t ret[static _EVENT_TYPE_MAX]);
