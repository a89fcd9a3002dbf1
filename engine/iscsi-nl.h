/* SPDX-License-Identifier: MIT */
/*
 * The kernel's iSCSI transport netlink (NETLINK_ISCSI), for what `iscsiadm -m iface -C ping`
 * does: ask an offload HBA to ping from its own port (ISCSI_UEVENT_PING) and wait for its
 * ISCSI_KEVENT_PING_COMP. The message layout is the kernel ABI of include/scsi/iscsi_if.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* enum iscsi_ping_status_code */
enum iscsi_nl_ping_status {
        ISCSI_NL_PING_SUCCESS = 0,
        ISCSI_NL_PING_FW_DISABLED = 0x1,
        ISCSI_NL_PING_IPADDR_INVALID = 0x2,
        ISCSI_NL_PING_LINKLOCAL_IPV6_ADDR_INVALID = 0x3,
        ISCSI_NL_PING_TIMEOUT = 0x4,
        ISCSI_NL_PING_INVALID_DEST_ADDR = 0x5,
        ISCSI_NL_PING_OVERSIZE_PACKET = 0x6,
        ISCSI_NL_PING_ICMP_ERROR = 0x7,
        ISCSI_NL_PING_MAX_REQ_EXCEEDED = 0x8,
        ISCSI_NL_PING_NO_ARP_RECEIVED = 0x9,
};

/* What the status means, for a hint ("ICMP error", ...). */
const char *iscsi_nl_ping_status_to_string(uint32_t status);

struct iscsi_nl_ping {
        uint64_t transport_handle; /* <sysfs>/class/iscsi_transport/<t>/handle */
        uint32_t host_no;
        uint32_t iface_num;
        bool ipv6;
        uint32_t payload_size; /* 0 = the driver's default */
        struct sockaddr_storage dst;
};

/*
 * Send one ping request and wait at most timeout_ms for its completion. Returns 0 with
 * *ret_status set (ISCSI_NL_PING_SUCCESS or a failure code of the HBA), or
 * -EPROTONOSUPPORT (no iSCSI transport netlink: scsi_transport_iscsi is not loaded),
 * -ENOSYS (the transport has no ping), -ENODEV (no such host), -EINVAL (the kernel does not
 * know the transport handle), -ETIMEDOUT, -EPERM, or another -errno.
 */
int iscsi_nl_ping(const struct iscsi_nl_ping *req, unsigned timeout_ms, uint32_t *ret_status);

/* Build the request message (for tests): returns its length, or -ENOSPC if buf is too small. */
int iscsi_nl_ping_encode(const struct iscsi_nl_ping *req, uint32_t pid, void *buf, size_t size);
