/* SPDX-License-Identifier: MIT */
/*
 * The socket steps of a check (docs/checks.md): sockets bound like iscsiadm binds them, ping
 * (raw ICMP or a ping socket), ping through an offload HBA (iSCSI netlink), and the tcp connect.
 * Each starts a non-blocking exchange in c->fd that the check loop polls, then reads its outcome.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "check-internal.h"
#include "iscsi-nl.h"

#define PING_INTERVAL_USEC 200000 /* one echo request every 200 ms until a reply */
#define PING_MAGIC         0x69666463u

/* linux/icmp.h's raw-socket type filter; that header clashes with netinet/ip_icmp.h. */
#define ICMP_FILTER_OPT 1
struct icmp_type_filter {
        uint32_t data; /* bit t set: drop ICMP type t */
};

/* ---------------------------------------------------------------- sockets */

static enum check_reason reason_from_errno(int err)
{
        switch (err) {
        case ECONNREFUSED:
                return CHECK_REASON_REFUSED;
        case ETIMEDOUT:
                return CHECK_REASON_TIMEOUT;
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EHOSTDOWN:
        case ENETDOWN:
                return CHECK_REASON_UNREACHABLE;
        default:
                return CHECK_REASON_ERROR;
        }
}

/* A socket of type bound like iscsiadm binds: SO_BINDTODEVICE, and the iface's address. */
static int socket_bound(struct check *c, int type, int proto, enum check_reason *ret_reason,
                        char *hint, size_t hint_size)
{
        int family = c->spec.portal.ss_family;
        _cleanup_close_ int fd = -1;

        fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
        if (fd < 0) {
                *ret_reason = CHECK_REASON_ERROR;
                snprintf(hint, hint_size, "socket(): %s", strerror(errno));
                return -errno;
        }

        if (c->dev[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->dev,
                                    (socklen_t)strlen(c->dev) + 1) < 0) {
                int err = errno;

                *ret_reason =
                        err == ENODEV ? CHECK_REASON_NO_SUCH_DEVICE : CHECK_REASON_BIND_FAILED;
                snprintf(hint, hint_size, "SO_BINDTODEVICE %s: %s", c->dev, strerror(err));
                return -err;
        }

        if (iface_ipaddress_set(c)) {
                struct sockaddr_storage src = {};

                src.ss_family = (sa_family_t)family;
                if (inet_pton(family, c->spec.ipaddress,
                              family == AF_INET6 ?
                                      (void *)&((struct sockaddr_in6 *)&src)->sin6_addr :
                                      (void *)&((struct sockaddr_in *)&src)->sin_addr) != 1 ||
                    bind(fd, (struct sockaddr *)&src, ss_len(&src)) < 0) {
                        int err = errno ?: EINVAL;

                        *ret_reason = CHECK_REASON_BIND_FAILED;
                        snprintf(hint, hint_size, "cannot bind to the iface's ipaddress %s: %s",
                                 c->spec.ipaddress, strerror(err));
                        return -err;
                }
        }
        return TAKE_FD(fd);
}

/*
 * After a connect: did it really leave through the bound device? Fills the step's device and
 * source; returns false (with the step failed as bind-failed) if not.
 */
bool check_verify_bind(struct check *c, enum check_step s, int fd)
{
        struct check_step_result *sr = &c->res.steps[s];
        struct sockaddr_storage local = {};
        socklen_t len = sizeof(sr->device);
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *snap = NULL;
        const struct nic *dev;

        if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, sr->device, &len) < 0)
                sr->device[0] = 0;
        sr->device[sizeof(sr->device) - 1] = 0;
        len = sizeof(local);
        if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
                ss_ntop(&local, sr->source, sizeof(sr->source));

        if (!c->dev[0])
                return true;

        if (!streq(sr->device, c->dev)) {
                check_step_set(c, s, CHECK_FAILED, CHECK_REASON_BIND_FAILED,
                               "the connection is bound to '%s', not to %s", sr->device, c->dev);
                return false;
        }
        snap = c->k->nics ? nic_monitor_snapshot(c->k->nics) : NULL;
        dev = snap ? nic_snapshot_find(snap, c->dev) : NULL;
        if (dev && sr->source[0] && !check_nic_has_address(dev, sr->source)) {
                check_step_set(c, s, CHECK_FAILED, CHECK_REASON_BIND_FAILED,
                               "the connection's source address %s is not an address of %s",
                               sr->source, c->dev);
                return false;
        }
        return true;
}

/* ---------------------------------------------------------------- ping */

struct ping_payload {
        uint32_t magic;
        uint32_t pad;
        int64_t sent_usec;
};

void check_ping_send(struct check *c)
{
        bool v6 = c->spec.portal.ss_family == AF_INET6;
        struct {
                union {
                        struct icmphdr v4;
                        struct icmp6_hdr v6;
                } h;
                struct ping_payload p;
        } pkt = {};
        struct sockaddr_storage to = c->spec.portal;
        uint16_t seq = ++c->ping_seq;

        ((struct sockaddr_in *)&to)->sin_port = 0;
        pkt.p.magic = PING_MAGIC;
        pkt.p.sent_usec = clock_usec(CLOCK_MONOTONIC);
        if (v6) {
                pkt.h.v6.icmp6_type = ICMP6_ECHO_REQUEST;
                pkt.h.v6.icmp6_id = htons(c->ping_id);
                pkt.h.v6.icmp6_seq = htons(seq);
                /* The kernel computes the ICMPv6 checksum. */
        } else {
                uint32_t sum = 0;
                const uint16_t *w = (const uint16_t *)&pkt;

                pkt.h.v4.type = ICMP_ECHO;
                pkt.h.v4.un.echo.id = htons(c->ping_id);
                pkt.h.v4.un.echo.sequence = htons(seq);
                for (size_t i = 0; i < (sizeof(struct icmphdr) + sizeof(pkt.p)) / 2; i++)
                        sum += w[i];
                while (sum >> 16)
                        sum = (sum & 0xffff) + (sum >> 16);
                pkt.h.v4.checksum = (uint16_t)~sum;
        }

        (void)sendto(c->fd, &pkt,
                     (v6 ? sizeof(struct icmp6_hdr) : sizeof(struct icmphdr)) + sizeof(pkt.p), 0,
                     (struct sockaddr *)&to, ss_len(&to));
        c->ping_next_usec = clock_usec(CLOCK_MONOTONIC) + PING_INTERVAL_USEC;
}

int check_ping_start(struct check *c)
{
        bool v6 = c->spec.portal.ss_family == AF_INET6;
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_PING];
        enum check_reason reason;
        char hint[CHECK_HINT_MAX];
        int fd;

        /* Raw ICMP needs CAP_NET_RAW; unprivileged ping sockets need ping_group_range. */
        fd = socket_bound(c, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, &reason, hint,
                          sizeof(hint));
        c->ping_dgram = false;
        if (fd == -EPERM || fd == -EACCES) {
                fd = socket_bound(c, SOCK_DGRAM, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, &reason, hint,
                                  sizeof(hint));
                c->ping_dgram = true;
        }
        if (fd < 0) {
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, reason, "%s", hint);
                return fd;
        }

        if (!c->ping_dgram) {
                if (v6) {
                        struct icmp6_filter f;

                        ICMP6_FILTER_SETBLOCKALL(&f);
                        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
                        ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
                        ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
                        (void)setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
                } else {
                        struct icmp_type_filter f = {
                                .data = ~((1u << ICMP_ECHOREPLY) | (1u << ICMP_DEST_UNREACH) |
                                          (1u << ICMP_TIME_EXCEEDED)),
                        };

                        (void)setsockopt(fd, SOL_RAW, ICMP_FILTER_OPT, &f, sizeof(f));
                }
        }

        (void)getrandom(&c->ping_id, sizeof(c->ping_id), GRND_NONBLOCK);
        c->fd = fd;
        c->events = POLLIN;
        snprintf(sr->source, sizeof(sr->source), "%s", c->route_source);
        check_ping_send(c);
        return 0;
}

/* One datagram: 1 = our echo reply, 2 = an ICMP error about our echo, 0 = not ours. */
static int ping_match(struct check *c, const uint8_t *buf, size_t n, int64_t *ret_sent)
{
        bool v6 = c->spec.portal.ss_family == AF_INET6;
        size_t off = 0;
        uint8_t type;

        if (!v6 && !c->ping_dgram) {
                if (n < sizeof(struct iphdr))
                        return 0;
                off = (size_t)(buf[0] & 0x0f) * 4;
        }
        if (n < off + 8)
                return 0;
        type = buf[off];

        if ((!v6 && type == ICMP_ECHOREPLY) || (v6 && type == ICMP6_ECHO_REPLY)) {
                struct ping_payload p;
                uint16_t id;

                if (n < off + 8 + sizeof(p))
                        return 0;
                memcpy(&id, buf + off + 4, 2);
                memcpy(&p, buf + off + 8, sizeof(p));
                /* Ping sockets rewrite the id; the kernel already matched it to us. */
                if ((!c->ping_dgram && ntohs(id) != c->ping_id) || p.magic != PING_MAGIC)
                        return 0;
                *ret_sent = p.sent_usec;
                return 1;
        }

        if ((!v6 && (type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED)) ||
            (v6 && (type == ICMP6_DST_UNREACH || type == ICMP6_TIME_EXCEEDED))) {
                /* The offending packet follows: its header, then our ICMP header. */
                size_t inner = off + 8;
                uint16_t id;

                if (!v6) {
                        if (n < inner + sizeof(struct iphdr))
                                return 0;
                        inner += (size_t)(buf[inner] & 0x0f) * 4;
                } else
                        inner += 40;
                if (n < inner + 8)
                        return 0;
                memcpy(&id, buf + inner + 4, 2);
                return ntohs(id) == c->ping_id ? 2 : 0;
        }
        return 0;
}

void check_ping_event(struct check *c)
{
        uint8_t buf[1500];
        ssize_t n;

        for (;;) {
                int64_t sent;
                int m;

                n = recv(c->fd, buf, sizeof(buf), 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, reason_from_errno(errno),
                                       "%s", strerror(errno));
                        return;
                }
                m = ping_match(c, buf, (size_t)n, &sent);
                if (m == 1) {
                        c->res.steps[CHECK_STEP_PING].latency_usec =
                                clock_usec(CLOCK_MONOTONIC) - sent;
                        check_step_set(c, CHECK_STEP_PING, CHECK_OK, CHECK_REASON_NONE, NULL);
                        return;
                }
                if (m == 2) {
                        check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_UNREACHABLE,
                                       "an ICMP error came back for the echo request: the portal's "
                                       "host or network is unreachable from %s",
                                       c->dev[0] ? c->dev : "this host");
                        return;
                }
        }
}

/* ---------------------------------------------------------------- ping through an HBA */

struct offload_ping {
        struct check *c; /* a reference */
        int efd;         /* our own dup of the check's eventfd */
        struct iscsi_nl_ping req;
        unsigned timeout_ms;
};

/* Close o's eventfd, drop its reference on the check, free it. NULL-safe; returns NULL. */
static struct offload_ping *offload_ping_free(struct offload_ping *o)
{
        if (!o)
                return NULL;
        if (o->efd >= 0)
                close(o->efd);
        check_unref(o->c);
        free(o);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct offload_ping *, offload_ping_free);

/* A thread per HBA ping: the netlink exchange blocks, and these are rare. */
static void *offload_ping_thread(void *arg)
{
        struct offload_ping *o = arg;
        uint32_t status = 0;
        uint64_t one = 1;
        int r;

        (void)pthread_setname_np(pthread_self(), "ifd-ping");
        r = iscsi_nl_ping(&o->req, o->timeout_ms, &status);
        o->c->nl_status = status;
        atomic_store(&o->c->nl_result, r);
        (void)!write(o->efd, &one, sizeof(one));
        offload_ping_free(o);
        return NULL;
}

int check_ping_offload_start(struct check *c)
{
        _cleanup_(offload_ping_freep) struct offload_ping *o = NULL;
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (!c->spec.transport_handle) {
                check_step_set(c, CHECK_STEP_PING, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                               "transport %s is not loaded in the kernel (or its handle is not "
                               "readable), so its HBA cannot be asked to ping",
                               c->spec.transport);
                return 0;
        }
        o = calloc(1, sizeof(*o));
        if (!o) {
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR,
                               "out of memory");
                return -ENOMEM;
        }
        o->efd = -1;
        c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        o->efd = c->fd >= 0 ? fcntl(c->fd, F_DUPFD_CLOEXEC, 3) : -1;
        if (o->efd < 0) {
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR, "eventfd: %s",
                               strerror(errno));
                return -errno;
        }
        o->req = (struct iscsi_nl_ping){
                .transport_handle = c->spec.transport_handle,
                .host_no = c->spec.host_no,
                .iface_num = c->spec.iface_num,
                .ipv6 = c->spec.portal.ss_family == AF_INET6,
                .dst = c->spec.portal,
        };
        ((struct sockaddr_in *)&o->req.dst)->sin_port = 0;
        o->timeout_ms = (unsigned)MAX((c->phase_deadline_usec - clock_usec(CLOCK_MONOTONIC)) / 1000,
                                      (int64_t)1);
        o->c = check_ref(c);
        atomic_store(&c->nl_result, 1); /* pending */

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&t, &attr, offload_ping_thread, o);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR,
                               "cannot start a thread: %s", strerror(-r));
                return r;
        }
        TAKE_PTR(o); /* offload_ping_thread() frees it */
        c->events = POLLIN;
        return 0;
}

void check_ping_offload_event(struct check *c)
{
        int r = atomic_load(&c->nl_result);
        char addr[INET6_ADDRSTRLEN];

        if (r == 1)
                return; /* not yet */
        ss_ntop(&c->spec.portal, addr, sizeof(addr));
        switch (r) {
        case 0:
                if (c->nl_status == ISCSI_NL_PING_SUCCESS)
                        check_step_set(c, CHECK_STEP_PING, CHECK_OK, CHECK_REASON_NONE, NULL);
                else
                        check_step_set(
                                c, CHECK_STEP_PING, CHECK_FAILED,
                                c->nl_status == ISCSI_NL_PING_TIMEOUT ? CHECK_REASON_TIMEOUT :
                                c->nl_status == ISCSI_NL_PING_IPADDR_INVALID ||
                                                c->nl_status ==
                                                        ISCSI_NL_PING_LINKLOCAL_IPV6_ADDR_INVALID ?
                                                                        CHECK_REASON_NO_ADDRESS :
                                                                        CHECK_REASON_UNREACHABLE,
                                "host%u could not ping %s: %s", c->spec.host_no, addr,
                                iscsi_nl_ping_status_to_string(c->nl_status));
                break;
        case -EPROTONOSUPPORT:
                check_step_set(
                        c, CHECK_STEP_PING, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                        "this kernel has no iSCSI transport netlink (scsi_transport_iscsi is "
                        "not loaded), so the HBA cannot be asked to ping");
                break;
        case -ENOSYS:
                check_step_set(c, CHECK_STEP_PING, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                               "the kernel driver of transport %s does not implement ping",
                               c->spec.transport);
                break;
        case -ENODEV:
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_NO_SUCH_DEVICE,
                               "the kernel knows no host%u", c->spec.host_no);
                break;
        case -ETIMEDOUT:
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                               "host%u did not report the ping of %s in time", c->spec.host_no,
                               addr);
                break;
        default:
                check_step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR,
                               "the ping request to host%u failed: %s", c->spec.host_no,
                               strerror(-r));
                break;
        }
}

/* ---------------------------------------------------------------- tcp */

int check_tcp_start(struct check *c)
{
        enum check_reason reason;
        char hint[CHECK_HINT_MAX];
        int fd;

        fd = socket_bound(c, SOCK_STREAM, 0, &reason, hint, sizeof(hint));
        if (fd < 0) {
                check_step_set(c, CHECK_STEP_TCP, CHECK_FAILED, reason, "%s", hint);
                return fd;
        }
        c->fd = fd;
        if (connect(fd, (struct sockaddr *)&c->spec.portal, ss_len(&c->spec.portal)) == 0) {
                c->events = 0;
                if (check_verify_bind(c, CHECK_STEP_TCP, fd))
                        check_step_set(c, CHECK_STEP_TCP, CHECK_OK, CHECK_REASON_NONE, NULL);
                return 0;
        }
        if (errno != EINPROGRESS) {
                int err = errno;

                check_step_set(c, CHECK_STEP_TCP, CHECK_FAILED, reason_from_errno(err),
                               "connect: %s", strerror(err));
                return -err;
        }
        c->events = POLLOUT;
        return 0;
}

void check_tcp_event(struct check *c)
{
        char portal[INET6_ADDRSTRLEN + 8];
        socklen_t len = sizeof(int);
        int err = 0;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        check_format_portal(&c->spec.portal, portal, sizeof(portal));
        if (err == 0) {
                if (check_verify_bind(c, CHECK_STEP_TCP, c->fd))
                        check_step_set(c, CHECK_STEP_TCP, CHECK_OK, CHECK_REASON_NONE, NULL);
                return;
        }
        if (err == ECONNREFUSED)
                check_step_set(c, CHECK_STEP_TCP, CHECK_FAILED, CHECK_REASON_REFUSED,
                               "%s refused the connection: no iSCSI target listens there (is the "
                               "target service running, and is this its portal?)",
                               portal);
        else
                check_step_set(c, CHECK_STEP_TCP, CHECK_FAILED, reason_from_errno(err),
                               "connect to %s: %s", portal, strerror(err));
}
