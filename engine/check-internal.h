/* SPDX-License-Identifier: MIT */
/*
 * What the files of the check loop share (engine/check*.c): the check and checker structs, small
 * inline helpers, and the functions one file calls in another. engine/check.h is the public
 * contract; nothing outside engine/check*.c includes this.
 */
#pragma once

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "macro.h"
#include "nic.h"

/* Where a check is. PING, TCP and ISCSI equal their enum check_step: code indexes steps by it. */
enum phase {
        PHASE_QUEUED,
        PHASE_PING,
        PHASE_TCP,
        PHASE_ISCSI,
        PHASE_DONE,
};

/* Where the iSCSI step is, within one libiscsi context. */
enum iscsi_stage {
        ISCSI_CONNECT,
        ISCSI_LOGIN,
        ISCSI_DISCOVERY,
        ISCSI_LOGOUT,
        ISCSI_FINISHED,
};

/* One check: shared with its submitter by reference count, run by the check loop. */
struct check {
        atomic_uint refs;
        struct checker *k;
        struct check_spec spec;
        struct check_result res;
        check_done_fn done;
        void *userdata;
        atomic_bool cancel;
        struct check *next; /* in the submit queue */

        /* Below: the check loop's only. */
        enum phase phase;
        int64_t start_usec, deadline_usec, phase_start_usec, phase_deadline_usec;
        char dev[NIC_NAME_MAX]; /* the bound NIC, "" when unbound */
        int ifindex;
        char route_source[INET6_ADDRSTRLEN]; /* the kernel's source address for the bound route */
        int fd;       /* what the current phase waits on (socket or eventfd), -1 for none */
        short events; /* poll() events for fd, 0 to wait on nothing */
        bool ping_dgram;
        uint16_t ping_id, ping_seq;
        int64_t ping_next_usec;
        struct iscsi_context *iscsi;
        enum iscsi_stage iscsi_stage;
        bool iscsi_normal; /* the login to spec.target, after discovery */
        bool iscsi_got_reply;
        bool iscsi_closing;
        int iscsi_cb_status;  /* of the last reply (iscsi_got_reply): 0 good, 1 failed */
        atomic_int nl_result; /* the HBA ping: 1 while in flight, then 0 or -errno */
        uint32_t nl_status;
};

/* The check loop: its thread, the submit queue and the checks in flight. */
struct checker {
        struct nic_monitor *nics; /* borrowed */
        char *initiator_name;
        pthread_t thread;
        bool thread_started;
        int wake_fd;
        pthread_mutex_t lock;
        struct check *queue_head, *queue_tail; /* submitted, not started */
        size_t n_queued;
        bool stopping;
        bool closed;            /* checker_close(): no new checks */
        atomic_bool cancel_all; /* applies to everything in flight and queued at the time */
        struct check **active;  /* the loop's only */
        size_t n_active;
        size_t n_slots;             /* room in active[]; pfds[] has one more */
        struct pollfd *pfds;        /* the loop's: wake_fd, then one per active check */
        check_progress_fn progress; /* checker_set_progress() */
        void *progress_userdata;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nic_snapshot *, nic_snapshot_unref);

/* The address inside ss (struct in_addr or struct in6_addr). */
static inline const void *ss_addr(const struct sockaddr_storage *ss)
{
        if (ss->ss_family == AF_INET6)
                return &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return &((const struct sockaddr_in *)ss)->sin_addr;
}

/* The length of ss's sockaddr, for bind(), connect() and sendto(). */
static inline socklen_t ss_len(const struct sockaddr_storage *ss)
{
        return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* ss's address without the port, or "?". */
static inline void ss_ntop(const struct sockaddr_storage *ss, char *buf, size_t size)
{
        if (!inet_ntop(ss->ss_family, ss_addr(ss), buf, (socklen_t)size))
                snprintf(buf, size, "?");
}

/* Whether c's spec asks for step s. */
static inline bool step_wanted(const struct check *c, enum check_step s)
{
        return c->spec.steps & (1u << s);
}

/* Whether transport t runs over this host's network stack (tcp, iser), not an offload HBA's. */
static inline bool transport_uses_host_stack(const char *t)
{
        return isempty(t) || streq(t, "tcp") || streq(t, "iser");
}

/* Whether the iface names a source address (not empty, 0.0.0.0 or ::). */
static inline bool iface_ipaddress_set(const struct check *c)
{
        return !isempty(c->spec.ipaddress) && !streq(c->spec.ipaddress, "0.0.0.0") &&
               !streq(c->spec.ipaddress, "::");
}

/* ---- check.c: results */

/* Set step s's status, reason and hint (printf); the first OK or FAILED also sets its latency. */
void check_step_set(struct check *c, enum check_step s, enum check_status st,
                    enum check_reason reason, const char *fmt, ...) _printf_(5, 6);
/* Mark every requested step still pending as st (skipped or cancelled), with why as its hint. */
void check_skip_rest(struct check *c, enum check_status st, const char *why);

/* ---- check-link.c: the link step and rtnetlink route lookup */

/*
 * Resolve the bound NIC (c->dev, c->ifindex, c->route_source) and judge the path; sets the link
 * step (and, on failure, the first requested step and skips the rest). False: stop the check.
 */
bool check_link_run(struct check *c);
/* Whether n has the IP address addr (IPv4 or IPv6 text). */
bool check_nic_has_address(const struct nic *n, const char *addr);

/* ---- check-probe.c: bound sockets, ping, ping through an HBA, tcp */

/* After a connect on fd: fill step s's device and source; false (s failed) if not via c->dev. */
bool check_verify_bind(struct check *c, enum check_step s, int fd);
/* Send one more echo request on c->fd and schedule the next one. */
void check_ping_send(struct check *c);
/* Open the bound ICMP socket into c->fd and send the first echo; <0 with the step failed. */
int check_ping_start(struct check *c);
/* c->fd is readable: read replies, and set the ping step on ours or on an ICMP error. */
void check_ping_event(struct check *c);
/* Ask the HBA to ping from a thread that signals the eventfd in c->fd; <0 on failure (step set,
 * except on -ENOMEM). */
int check_ping_offload_start(struct check *c);
/* c->fd (the eventfd) is readable: set the ping step from the HBA's answer, if it came. */
void check_ping_offload_event(struct check *c);
/* Start a bound non-blocking connect in c->fd; the step may already be set when it returns. */
int check_tcp_start(struct check *c);
/* c->fd is writable: set the tcp step from the connect's outcome. */
void check_tcp_event(struct check *c);

/* ---- check-iscsi.c: the iscsi step (libiscsi) */

/* Start the iscsi step: connect for discovery (then a login to spec.target); <0 with it failed. */
int check_iscsi_start(struct check *c);
/* c->fd has revents: let libiscsi run and move through the stages; sets the step when done. */
void check_iscsi_event(struct check *c, short revents);
/* Destroy c's libiscsi context, if it has one, without running its callbacks; c->fd becomes -1. */
void check_iscsi_close(struct check *c);
