/* SPDX-License-Identifier: MIT */
/*
 * Discovery runs (docs/bindings.md): SendTargets to each portal through each iface, as checks
 * on the check loop (the iscsi step, with the bind verified on the socket), then the wire's
 * names checked, then, when asked, the bindings written. A run is a reference-counted value the
 * API renders; the engine keeps the recent ones in a small table.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "binding.h"
#include "check.h"

#define DISCOVERY_PORTALS_MAX 64
#define DISCOVERY_IFACES_MAX  64
#define DISCOVERY_KEEP        64 /* finished runs kept for GET */

struct discovery_request {
        struct sockaddr_storage portals[DISCOVERY_PORTALS_MAX];
        size_t n_portals;
        char ifaces[DISCOVERY_IFACES_MAX][65]; /* none: the ifaces iscsiadm would use */
        size_t n_ifaces;
        bool has_auth;
        struct check_chap auth; /* username/password (and _in) */
        bool bind;
        unsigned timeout_ms;
};

enum discovery_state {
        DISCOVERY_RUNNING,
        DISCOVERY_BINDING,
        DISCOVERY_DONE,
        DISCOVERY_CANCELLED,
};

struct discovery_found {
        char target[224];
        char address[46];
        uint16_t port;
        int tpgt;
};

struct discovery_run;

struct discovery_item {
        struct discovery_run *run;
        char portal[64];  /* "ip:port" as asked */
        char address[46]; /* of the portal asked */
        uint16_t port;
        char iface[65];
        struct check *chk; /* its check; the result once done */
        bool done;
        struct discovery_found *found; /* valid targets and portals, once done */
        size_t n_found;
};

struct discovery_refusal {
        char portal[64];
        char iface[65];
        const char *field; /* "target" or "portal" (static) */
        char value[200];   /* the wire's value, escaped (\xNN for anything not printable) */
        char reason[200];
};

struct discovery_run {
        char id[24];
        pthread_mutex_t lock; /* guards what changes: state, done counts, outcomes */
        enum discovery_state state;
        struct discovery_request req; /* auth wiped once the checks are submitted */
        char actor[48];
        char request_id[72];
        struct discovery_item *items;
        size_t n_items, n_done;
        struct discovery_refusal *refused;
        size_t n_refused;
        struct engine_bind_outcome *outcomes;
        size_t n_outcomes;
        char bind_error[256]; /* a storage failure of the bind phase */
        int64_t created_usec, finished_usec;
        void (*done)(struct discovery_run *run, void *userdata);
        void *userdata;
        struct engine *engine;
        unsigned refs; /* atomic */
};

struct discovery_run *discovery_run_ref(struct discovery_run *r);
struct discovery_run *discovery_run_unref(struct discovery_run *r);
const char *discovery_state_to_string(enum discovery_state s);
