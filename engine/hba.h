/* SPDX-License-Identifier: MIT */
/*
 * The HBA inventory from sysfs (SPEC.md §4): loaded iSCSI transports
 * (<sysfs>/class/iscsi_transport), iSCSI hosts (class/iscsi_host, class/scsi_host) and their
 * kernel ifaces (iscsi_iface), and the iface records iscsiadm 2.1.8 creates for offload ports.
 * Reads a sysfs root given by the caller, so fixture trees work. Garbled or missing attributes
 * become unknown values, never errors.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iface.h"

struct hba_transport {
        char name[32];
        uint64_t handle; /* 0 if unreadable (needs CAP_SYS_ADMIN) or garbled */
        uint32_t caps;
        bool caps_known;
        bool loaded; /* iscsiadm's rule: handle != 0 */
};

/* One attribute file of a kernel iface directory, value with the trailing newline removed. */
struct hba_attr {
        char *key;
        char *value;
};

struct hba_kiface {
        char *name; /* "ipv4-iface-8-0" */
        bool ipv6;
        int iface_num;          /* the N of ...-<host>-<N> */
        struct hba_attr *attrs; /* sorted by key */
        size_t n_attrs;
};

struct hba_host {
        unsigned host_no;
        char *transport; /* scsi_host proc_name minus "iscsi_"; NULL if unknown */
        char *hwaddress; /* NULL when absent or "(null)" */
        char *ipaddress;
        char *netdev;
        char *initiatorname;
        char *port_state; /* "LINK UP", ...; NULL if absent */
        char *port_speed;
        bool offload;               /* transport is neither tcp nor iser */
        struct hba_kiface *kifaces; /* sorted by name */
        size_t n_kifaces;
        /* The device directory holding iscsi_iface/ could not be located (SPEC.md §4.1): kifaces
         * is empty for lack of knowledge, not because the host has none. */
        bool kifaces_unknown;
};

struct hba_inventory {
        struct hba_transport *transports; /* sorted by name */
        size_t n_transports;
        struct hba_host *hosts; /* sorted by host_no */
        size_t n_hosts;
};

/* Scan sysfs_root. Missing class directories give empty lists. Returns 0 or -ENOMEM. */
int hba_scan(const char *sysfs_root, struct hba_inventory *ret);
void hba_inventory_done(struct hba_inventory *inv);

/*
 * Names of the capability bits set in caps ("RECOVERY_L0", "TEXT_NEGO", ...), lowest bit first,
 * into names[0..max-1]; returns how many known bits are set, which may exceed max. Bits that
 * include/iscsi_if.h does not define are skipped.
 */
size_t hba_caps_names(uint32_t caps, const char **names, size_t max);

/* The host with this number, or NULL. */
const struct hba_host *hba_find_host(const struct hba_inventory *inv, unsigned host_no);

/*
 * The iface records `iscsiadm -m iface` 2.1.8 creates for the offload hosts of inv
 * (iscsi_default_iface_setup in libopeniscsiusr): per kernel iface
 * "<transport>.<hwaddress>.ipv4|ipv6.<num>" with the sysfs values, or without kernel ifaces one
 * "<transport>.<hwaddress>.ipv4.0" with hwaddress, netdev, ipaddress and initiatorname. Hosts
 * without a hwaddress, and hosts whose kernel ifaces are unknown, are skipped; engine/hba.c lists
 * where else the result differs from iscsiadm's on purpose. Records come in iscsiadm's order, a
 * name at most once. *ret is an array of initialised records (free each with iface_rec_done,
 * then the array; NULL when there is none). Returns 0 or -ENOMEM; ret untouched on failure.
 */
int hba_offload_ifaces(const struct hba_inventory *inv, struct iface_rec **ret, size_t *ret_n);
