/* SPDX-License-Identifier: MIT */
/* ISCSI_UEVENT_PING over NETLINK_ISCSI, and the wait for its ISCSI_KEVENT_PING_COMP. */
#include <errno.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "iscsi-nl.h"
#include "macro.h"

#define NETLINK_ISCSI_PROTO  8  /* include/uapi/linux/netlink.h: NETLINK_ISCSI */
#define ISCSI_NL_GRP_ISCSID  1  /* the multicast group of completions */
#define ISCSI_UEVENT_PING    32 /* UEVENT_BASE (10) + 22 */
#define ISCSI_KEVENT_IF_ERR  103
#define ISCSI_KEVENT_PING_OK 111 /* KEVENT_BASE (100) + 11: ISCSI_KEVENT_PING_COMP */
#define ISCSI_IFACE_TYPE_V4  0x01
#define ISCSI_IFACE_TYPE_V6  0x02

/*
 * struct iscsi_uevent of include/scsi/iscsi_if.h, with only the union members used here. The
 * union sizes are the kernel's: u is as large as its largest member (24 bytes: msg_bind_conn,
 * msg_stop_conn), r as its largest (16 bytes: msg_recv_req); the whole is 8-byte aligned.
 */
struct iscsi_uevent_abi {
        uint32_t type;
        uint32_t iferror;
        uint64_t transport_handle;
        union {
                struct {
                        uint32_t host_no;
                        uint32_t iface_num;
                        uint32_t iface_type;
                        uint32_t payload_size;
                        uint32_t pid;
                } iscsi_ping;
                uint8_t size[24];
        } u;
        union {
                int32_t retcode;
                struct {
                        uint32_t host_no;
                        uint32_t status;
                        uint32_t pid;
                        uint32_t data_size;
                } ping_comp;
                uint8_t size[16];
        } r;
} __attribute__((aligned(8)));

_Static_assert(sizeof(struct iscsi_uevent_abi) == 56, "struct iscsi_uevent is 56 bytes");

const char *iscsi_nl_ping_status_to_string(uint32_t status)
{
        switch (status) {
        case ISCSI_NL_PING_SUCCESS:
                return "success";
        case ISCSI_NL_PING_FW_DISABLED:
                return "ping is disabled in the HBA firmware";
        case ISCSI_NL_PING_IPADDR_INVALID:
                return "the HBA port has no valid IP address";
        case ISCSI_NL_PING_LINKLOCAL_IPV6_ADDR_INVALID:
                return "the HBA port has no valid IPv6 link-local address";
        case ISCSI_NL_PING_TIMEOUT:
                return "no echo reply in time";
        case ISCSI_NL_PING_INVALID_DEST_ADDR:
                return "the destination address is invalid";
        case ISCSI_NL_PING_OVERSIZE_PACKET:
                return "the packet size is too large";
        case ISCSI_NL_PING_ICMP_ERROR:
                return "an ICMP error came back";
        case ISCSI_NL_PING_MAX_REQ_EXCEEDED:
                return "too many ping requests in flight on the HBA";
        case ISCSI_NL_PING_NO_ARP_RECEIVED:
                return "no ARP reply (no neighbour answers for the address)";
        default:
                return "unknown status";
        }
}

int iscsi_nl_ping_encode(const struct iscsi_nl_ping *req, uint32_t pid, void *buf, size_t size)
{
        size_t alen = req->dst.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
                                                       sizeof(struct sockaddr_in);
        size_t len = NLMSG_LENGTH(sizeof(struct iscsi_uevent_abi) + alen);
        struct nlmsghdr *nlh = buf;
        struct iscsi_uevent_abi *ev;

        if (size < NLMSG_SPACE(sizeof(struct iscsi_uevent_abi) + alen))
                return -ENOSPC;
        memset(buf, 0, NLMSG_SPACE(sizeof(*ev) + alen));
        nlh->nlmsg_len = (uint32_t)len;
        nlh->nlmsg_type = ISCSI_UEVENT_PING;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        nlh->nlmsg_pid = 0;

        ev = NLMSG_DATA(nlh);
        ev->type = ISCSI_UEVENT_PING;
        ev->transport_handle = req->transport_handle;
        ev->u.iscsi_ping.host_no = req->host_no;
        ev->u.iscsi_ping.iface_num = req->iface_num;
        ev->u.iscsi_ping.iface_type = req->ipv6 ? ISCSI_IFACE_TYPE_V6 : ISCSI_IFACE_TYPE_V4;
        ev->u.iscsi_ping.payload_size = req->payload_size;
        ev->u.iscsi_ping.pid = pid;
        /* The destination follows the event, as the kernel reads it. */
        memcpy((char *)ev + sizeof(*ev), &req->dst, alen);
        return (int)len;
}

int iscsi_nl_ping(const struct iscsi_nl_ping *req, unsigned timeout_ms, uint32_t *ret_status)
{
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = ISCSI_NL_GRP_ISCSID };
        struct sockaddr_nl to = { .nl_family = AF_NETLINK };
        char msg[256] __attribute__((aligned(8)));
        int64_t deadline = (clock_usec(CLOCK_MONOTONIC) / 1000) + timeout_ms;
        bool answered = false;
        uint32_t pid;
        int fd, len, r = 0;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ISCSI_PROTO);
        if (fd < 0)
                return errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT ? -EPROTONOSUPPORT :
                                                                           -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = -errno;
                goto out;
        }

        if (getrandom(&pid, sizeof(pid), GRND_NONBLOCK) != (ssize_t)sizeof(pid))
                pid = (uint32_t)(clock_usec(CLOCK_MONOTONIC) / 1000);
        len = iscsi_nl_ping_encode(req, pid, msg, sizeof(msg));
        if (len < 0) {
                r = len;
                goto out;
        }
        if (sendto(fd, msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
                r = -errno;
                goto out;
        }

        /* First the kernel's answer to the request, then (multicast) the completion. */
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - (clock_usec(CLOCK_MONOTONIC) / 1000);
                char buf[4096] __attribute__((aligned(8)));
                ssize_t n;

                if (left <= 0) {
                        r = -ETIMEDOUT;
                        goto out;
                }
                n = poll(&p, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -ETIMEDOUT;
                        goto out;
                }
                n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        r = -errno;
                        goto out;
                }
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
                     h = NLMSG_NEXT(h, n)) {
                        const struct iscsi_uevent_abi *ev = NLMSG_DATA(h);

                        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ev)))
                                continue;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);

                                if (e->error < 0) {
                                        r = e->error;
                                        goto out;
                                }
                                continue;
                        }
                        if (!answered && h->nlmsg_type == ISCSI_UEVENT_PING) {
                                /* The reply to our request: iferror, or retcode. */
                                answered = true;
                                if (ev->type == ISCSI_KEVENT_IF_ERR && ev->iferror) {
                                        /* A negative errno carried in a u32. */
                                        r = (int32_t)ev->iferror;
                                        r = r > 0 ? -r : r;
                                        goto out;
                                }
                                if (ev->r.retcode < 0) {
                                        r = ev->r.retcode;
                                        goto out;
                                }
                                continue;
                        }
                        if (ev->type == ISCSI_KEVENT_PING_OK && ev->r.ping_comp.pid == pid) {
                                *ret_status = ev->r.ping_comp.status;
                                r = 0;
                                goto out;
                        }
                }
        }
out:
        close(fd);
        return r;
}
