/* SPDX-License-Identifier: MIT */
/*
 * The NIC inventory: a libnl-route cache manager on a netlink socket keeps the link and address
 * caches of this network namespace fresh (no dump per request, no exec of ip), and a monitor
 * thread publishes an immutable, reference-counted snapshot after every batch of changes.
 * Readers never touch libnl.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIC_NAME_MAX 16 /* IFNAMSIZ, with the NUL */

struct nic_addr {
        int family;       /* AF_INET or AF_INET6 */
        char address[48]; /* text form, without the prefix */
        unsigned prefixlen;
        char scope[16]; /* "global", "link", "host", "site", or a number */
};

struct nic {
        char name[NIC_NAME_MAX];
        int ifindex;
        char mac[18]; /* "aa:bb:cc:dd:ee:ff" lower case, "" if none */
        unsigned mtu;
        char operstate[16]; /* "up", "down", "lowerlayerdown", "unknown", ... */
        int carrier;        /* 1, 0, or -1 unknown */
        unsigned flags;     /* IFF_* */
        char kind[16]; /* rtnl link type: "veth", "vlan", "bond", "bridge"...; "" for physical */
        int parent_ifindex;        /* lower device (vlan, macvlan...) or veth peer; 0 if none */
        char parent[NIC_NAME_MAX]; /* its name when it lives in this namespace, else "" */
        int vlan_id;               /* -1 if not a VLAN */
        struct nic_addr *addrs;
        size_t n_addrs;
        int speed_mbps;  /* from sysfs; -1 unknown (EINVAL, missing, garbled) */
        char duplex[16]; /* "full", "half", or "unknown" */
        char driver[32]; /* sysfs device/driver link name, "" if unknown */
        int rp_filter;   /* effective: max(conf/all, conf/<name>); -1 unknown */
};

struct nic_snapshot {
        unsigned refs;       /* atomic */
        uint64_t generation; /* increases with every published snapshot */
        int64_t built_usec;  /* CLOCK_REALTIME when it was built */
        struct nic *nics;    /* sorted by name (strcmp) */
        size_t n_nics;
};

struct nic_snapshot *nic_snapshot_ref(struct nic_snapshot *s);
struct nic_snapshot *nic_snapshot_unref(struct nic_snapshot *s);

/* Look a NIC up by name, or by MAC (case-insensitive, as iscsiadm compares). NULL if absent. */
const struct nic *nic_snapshot_find(const struct nic_snapshot *s, const char *name);
const struct nic *nic_snapshot_find_mac(const struct nic_snapshot *s, const char *mac);

/* Flag names of IFF_* bits ("UP", "BROADCAST", "RUNNING", ...): fills names, returns count. */
size_t nic_flags_names(unsigned flags, const char **names, size_t max);

struct nic_monitor;

/*
 * Connect to rtnetlink, fill the link and address caches, build the first snapshot and start
 * the monitor thread. sysfs_root (e.g. "/sys") and proc_root (e.g. "/proc") are where speed,
 * duplex, driver and rp_filter are read. Returns 0, -ENOMEM, or a -errno mapped from libnl.
 */
int nic_monitor_new(const char *sysfs_root, const char *proc_root, struct nic_monitor **ret);

/* Stop the thread and free everything. NULL-safe; returns NULL. */
struct nic_monitor *nic_monitor_free(struct nic_monitor *m);

/*
 * Call fn(old, next, userdata) on the monitor thread each time a snapshot replaces another
 * (both borrowed for the call; not for the first one). fn NULL removes it. fn must not call
 * back into the monitor. Takes effect for the next snapshot.
 */
void nic_monitor_set_listener(struct nic_monitor *m,
                              void (*fn)(const struct nic_snapshot *old,
                                         const struct nic_snapshot *next, void *userdata),
                              void *userdata);

/* The current snapshot, with a reference the caller releases. Never NULL after _new(). */
struct nic_snapshot *nic_monitor_snapshot(struct nic_monitor *m);

/*
 * Wait until a snapshot with generation > after is published, at most timeout_ms. Returns 0,
 * or -ETIMEDOUT. For tests and benchmarks that measure how fast a change shows.
 */
int nic_monitor_wait(struct nic_monitor *m, uint64_t after, unsigned timeout_ms);

/*
 * Re-read the values that have no netlink event (rp_filter) every msec milliseconds instead of
 * every 5 s; a snapshot is published only if one of them changed. Takes effect at once. Returns
 * 0, or -EINVAL for a NULL monitor or 0 ms. For tests and tuning.
 */
int nic_monitor_set_refresh_interval(struct nic_monitor *m, unsigned msec);
