/* SPDX-License-Identifier: MIT */
/*
 * Connectivity checks from the port an iface is bound to, to a portal (docs/checks.md). One
 * thread, the check loop, runs every check at once as a state machine over non-blocking sockets
 * and libiscsi's async API, so a hundred checks waiting on unreachable portals cost one poll()
 * (an HBA ping, a blocking netlink exchange, gets a short-lived thread of its own). Nothing here
 * but checker_free() blocks its caller: submit, then get called back.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iface.h"
#include "nic.h"

#define CHECK_TIMEOUT_DEFAULT_MS 5000
#define CHECK_TIMEOUT_MAX_MS     60000
#define CHECK_ACTIVE_MAX         512 /* checks in flight at once; the rest wait in order */
#define CHECK_HINT_MAX           256
#define CHECK_SECRET_MAX         256 /* CHAP names and secrets, with the NUL */

enum check_step {
        CHECK_STEP_LINK,
        CHECK_STEP_PING,
        CHECK_STEP_TCP,
        CHECK_STEP_ISCSI,
        _CHECK_STEP_MAX,
};

enum check_status {
        CHECK_PENDING, /* not run yet */
        CHECK_OK,
        CHECK_FAILED,
        CHECK_SKIPPED,
        CHECK_UNSUPPORTED,
        CHECK_CANCELLED,
        _CHECK_STATUS_MAX,
};

enum check_reason {
        CHECK_REASON_NONE,
        CHECK_REASON_NO_SUCH_DEVICE,
        CHECK_REASON_LINK_DOWN,
        CHECK_REASON_NO_ADDRESS,
        CHECK_REASON_NO_ROUTE,
        CHECK_REASON_WRONG_EGRESS,
        CHECK_REASON_RP_FILTER,
        CHECK_REASON_TIMEOUT,
        CHECK_REASON_REFUSED,
        CHECK_REASON_UNREACHABLE,
        CHECK_REASON_AUTH_FAILED,
        CHECK_REASON_BIND_FAILED,
        CHECK_REASON_NOT_ISCSI,
        CHECK_REASON_LOGIN_FAILED, /* a login status other than an authentication failure */
        CHECK_REASON_CANCELLED,
        CHECK_REASON_ERROR, /* a local failure (out of memory, socket limits); hint says which */
        _CHECK_REASON_MAX,
};

const char *check_step_to_string(enum check_step s);
int check_step_from_string(const char *s); /* the step, or -EINVAL */
const char *check_status_to_string(enum check_status s);
const char *check_reason_to_string(enum check_reason r);

struct check_chap {
        char username[CHECK_SECRET_MAX];
        char password[CHECK_SECRET_MAX];
        char username_in[CHECK_SECRET_MAX];
        char password_in[CHECK_SECRET_MAX];
};

/* What to check. Plain data, copied by checker_submit(). */
struct check_spec {
        char iface[IFACE_NAME_MAX + 1];
        /* What of the iface the check needs, as it was when the check was asked for. */
        char transport[16];
        char netdev[NIC_NAME_MAX];
        char hwaddress[18];
        char ipaddress[INET6_ADDRSTRLEN];
        char initiatorname[224];
        /* Offload ifaces (a transport other than tcp and iser): their HBA port, from sysfs. */
        bool hba_found;
        unsigned host_no;
        uint64_t transport_handle; /* 0: the transport is not loaded or its handle unreadable */
        unsigned iface_num;
        bool ipv6;
        char hba_port_state[32];
        char hba_ipaddress[INET6_ADDRSTRLEN];
        struct sockaddr_storage portal; /* address and port */
        unsigned steps;                 /* bit (1 << enum check_step) */
        unsigned timeout_ms;            /* 1..CHECK_TIMEOUT_MAX_MS */
        char target[224];               /* "" = no login, discovery only */
        bool has_chap, has_discovery_chap;
        struct check_chap chap;           /* for the login to target */
        struct check_chap discovery_chap; /* username/password only */
        bool events; /* tell each step and the end to checker_set_progress()'s callback */
};

/*
 * Parse "IPv4", "IPv4:port", "[IPv6]:port" or a bare IPv6 address (port 3260 by default) into
 * ret; only unicast addresses pass. Returns 0 or -EINVAL. *why is always set to a static string,
 * which says what was wrong when -EINVAL is returned; ret may be clobbered on failure.
 */
int check_parse_portal(const char *s, struct sockaddr_storage *ret, const char **why);
/* "10.0.0.1:3260" or "[fe80::1]:3260". */
void check_format_portal(const struct sockaddr_storage *ss, char *buf, size_t size);

struct check_target {
        char *name;
        char **portals; /* "10.0.0.1:3260,1" as the target sends them */
        size_t n_portals;
};

struct check_step_result {
        enum check_status status;
        enum check_reason reason;
        char hint[CHECK_HINT_MAX];
        int64_t latency_usec;      /* -1 when not run */
        char device[NIC_NAME_MAX]; /* link: the bound NIC or "hostN"; tcp/iscsi: SO_BINDTODEVICE */
        char egress[NIC_NAME_MAX]; /* link: the NIC the unbound route takes, "" if none */
        /* link: iface ipaddress or the kernel's pick; ping: link's; tcp/iscsi: getsockname() */
        char source[INET6_ADDRSTRLEN];
        int rp_filter; /* link: effective value on the bound NIC, -1 unknown */
        char warnings[2][CHECK_HINT_MAX];
        size_t n_warnings;
};

struct check_result {
        enum check_status status; /* CHECK_OK, CHECK_FAILED or CHECK_CANCELLED */
        enum check_reason reason; /* of the deciding step (check_result_first_failure()) */
        int64_t elapsed_usec;
        struct check_step_result steps[_CHECK_STEP_MAX]; /* only requested ones are meaningful */
        struct check_target *targets;                    /* iscsi: what SendTargets returned */
        size_t n_targets;
        enum check_status login_status; /* CHECK_PENDING when no login was asked for */
};

/*
 * The step that decides the check: the first failed or cancelled of link, tcp, iscsi, then ping,
 * among the requested ones; a failed ping does not count when tcp or iscsi got through (ICMP
 * filtered). Returns the step, or -1 if none (the check is ok).
 */
int check_result_first_failure(const struct check_result *r, const struct check_spec *spec);

struct checker;
struct check;

/* Called once on the check loop thread when c has finished; must not block. */
typedef void (*check_done_fn)(struct check *c, void *userdata);

/*
 * Start the check loop. nics (borrowed) provides the NIC snapshots, initiator_name (copied) the
 * IQN used for discovery when the iface has none. Returns 0, -ENOMEM or the -errno of eventfd()
 * or pthread_create(); *ret is written only on success.
 */
int checker_new(struct nic_monitor *nics, const char *initiator_name, struct checker **ret);
/*
 * Cancel everything and refuse new checks (-ESHUTDOWN) from now on: the daemon is stopping.
 * NULL-safe.
 */
void checker_close(struct checker *k);
/*
 * Cancel everything, wait for the loop thread to call every pending done callback and stop, free.
 * NULL-safe; returns NULL.
 */
struct checker *checker_free(struct checker *k);

/*
 * Queue a copy of spec. On success done(c, userdata) runs exactly once, on the check loop, with
 * the result readable through check_get_result(), and *ret (optional) gets a reference the caller
 * releases with check_unref(). Returns 0, -ENOMEM, or -ESHUTDOWN once checker_close() or
 * checker_free() has begun; on failure done is never called and *ret is untouched.
 */
int checker_submit(struct checker *k, const struct check_spec *spec, check_done_fn done,
                   void *userdata, struct check **ret);
/*
 * Called on the check loop for a check whose spec has events: step s ended (its result is in
 * check_get_result()), or the check finished (s < 0, before its done callback). Must not block.
 */
typedef void (*check_progress_fn)(const struct check *c, int s, void *userdata);
/* Set the progress callback, before any check is submitted. */
void checker_set_progress(struct checker *k, check_progress_fn fn, void *userdata);

/* Cancel every check, queued or in flight. Their done callbacks follow promptly. NULL-safe. */
void checker_cancel_all(struct checker *k);

/*
 * Ask c to stop; unless it has finished already, it finishes as cancelled within one loop turn.
 * Thread-safe, idempotent, NULL-safe.
 */
void check_cancel(struct check *c);
/* Take a reference; NULL-safe, returns c. */
struct check *check_ref(struct check *c);
/* Drop a reference, freeing c with the last one; NULL-safe, returns NULL. */
struct check *check_unref(struct check *c);
/* The spec and result; the result is complete only once done has been called. */
const struct check_spec *check_get_spec(const struct check *c);
const struct check_result *check_get_result(const struct check *c);
