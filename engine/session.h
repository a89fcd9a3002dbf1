/* SPDX-License-Identifier: MIT */
/*
 * The host's iSCSI sessions, read from sysfs (SPEC.md §4.3): <sysfs>/class/iscsi_session/sessionN
 * and its connection <sysfs>/class/iscsi_connection/connectionN:0. Never from iscsiadm's text.
 * Reads a sysfs root given by the caller, so fixture trees work; sysfs content is untrusted, and
 * what cannot be read or is hostile becomes an unknown value and a note in `problem`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_TARGET_MAX  223 /* RFC 3720 §3.2.6.1: an iSCSI name is at most 223 bytes */
#define SESSION_IFACE_MAX   64  /* ISCSI_MAX_IFACE_LEN - 1 of open-iscsi */
#define SESSION_ADDRESS_MAX 45  /* INET6_ADDRSTRLEN - 1 */

struct session_info {
        unsigned sid;                          /* from the directory name sessionN */
        char target[SESSION_TARGET_MAX + 1];   /* iscsi_session/sessionN/targetname */
        char ifacename[SESSION_IFACE_MAX + 1]; /* iscsi_session/sessionN/ifacename; "default"
                                                 * when the kernel shows none (old kernels) */
        int tpgt;                              /* iscsi_session/sessionN/tpgt, -1 if unreadable */
        char state[32];                        /* iscsi_session/sessionN/state: LOGGED_IN, FAILED,
                                                 * FREE (newer kernels: more), as the kernel says */
        char address[SESSION_ADDRESS_MAX + 1]; /* the connection's persistent_address (else
                                                 * address), as the kernel shows it */
        unsigned port;                         /* persistent_port (else port), 0 unknown */
        int host_no;                           /* the SCSI host it hangs under, -1 unknown */
        char problem[128];                     /* non-empty if some attribute was unreadable or
                                                 * hostile: "tpgt: not a number", ... */
};

/*
 * Every session under <sysfs_root>/class/iscsi_session (entries named session<N>, N canonical
 * decimal; other names are skipped), sorted by sid. A session whose directory cannot be reached
 * (a dangling link, one leading out of the tree) is listed with only its sid and a problem, so a
 * caller can tell "no session" from "a session we cannot read". Unknown strings are "", unknown
 * numbers as documented above.
 *
 * *ret (NULL when there is none) is the caller's to free(); *ret and *ret_n are written only on
 * success. Returns 0 (also with n 0 when sysfs_root or the class directory is absent), -ENOMEM,
 * or the -errno of opening the class directory other than -ENOENT (-EXDEV when it is a link out
 * of the tree, -ENOTDIR, -EACCES...). -EINVAL for NULL arguments.
 */
int session_list(const char *sysfs_root, struct session_info **ret, size_t *ret_n);

/*
 * The first session of s[0..n-1] that matches target (exactly), address (compared as IP
 * addresses, so IPv6 spellings, brackets and IPv4-mapped forms match; text that is no IP address
 * is compared case-insensitively), port, tpgt and iface name (exactly). NULL target, address or
 * iface, port 0 and tpgt -1 match any value. An unknown value of a session ("", 0, -1) never
 * matches a specific one. NULL if none matches.
 */
const struct session_info *session_find(const struct session_info *s, size_t n, const char *target,
                                        const char *address, unsigned port, int tpgt,
                                        const char *iface);

/* True if a and b are the same address in the sense of session_find(). False if either is NULL. */
bool session_address_equal(const char *a, const char *b);

/* ---------------------------------------------------------------------------------------------
 * The whole of one session (docs/sessions.md): its connection, its host, its LUNs with their SCSI
 * devices, block devices, holders and udev state. Read from the trees named in struct
 * session_roots; every value from them is untrusted: unreadable or hostile values are unknown
 * ("" for strings, -1 for ints, UINT64_MAX for u64) and noted in problem.
 * The CHAP secrets (password, password_in) are never opened: whether CHAP is in use comes from
 * the usernames alone (a root-only attribute too: unknown when it cannot be read).
 */

/* Where the reader looks. NULL members take the default. */
struct session_roots {
        const char *sysfs;     /* default "/sys" */
        const char *dev;       /* block device nodes: default "/dev" */
        const char *udev_data; /* udev's database: default "/run/udev/data" */
        const char *udev_ctl;  /* present while udevd runs: default "/run/udev/control" */
};

#define SESSION_UNKNOWN_U64 UINT64_MAX

enum session_holder_kind {
        SESSION_HOLDER_PARTITION, /* sdb1 (and what holds it comes as its own entries) */
        SESSION_HOLDER_DM,        /* dm-N: multipath, LVM, crypt (dm_name, dm_uuid set) */
        SESSION_HOLDER_MD,        /* mdN */
        SESSION_HOLDER_OTHER,     /* another holder in holders/ (bcache, ...) */
};

struct session_holder {
        enum session_holder_kind kind;
        char name[32]; /* the kernel name under /sys/block (or the partition's): "sdb1", "dm-0" */
        char of[32];   /* what it holds: "sdb" or "sdb1" */
        char dm_name[128];     /* dm/name, "" unless DM */
        char dm_uuid[160];     /* dm/uuid ("mpath-<wwid>", "LVM-..."), "" unless DM */
        unsigned major, minor; /* of name's block device (dev attribute), 0:0 unknown */
};

struct session_lun {
        uint64_t lun;     /* the Linux LUN (L of H:C:T:L) */
        char lun_sam[17]; /* the 8-byte SAM LUN as 16 hex digits (scsilun from int_to_scsilun) */
        char hctl[64];    /* "H:C:T:L" */
        char state[32];   /* scsi_device state: running, offline, transport-offline, blocked,
                           * created... "" unknown */
        int type;         /* SCSI peripheral device type (type attribute), -1 unknown */
        char vendor[16], model[32], rev[16];
        char wwid[256];        /* wwid attribute, "" unknown */
        char block[32];        /* the block device's kernel name ("sdb"), "" when it has none */
        unsigned major, minor; /* of block, from its dev attribute; 0:0 unknown */
        uint64_t size_bytes;   /* size (512-byte sectors) * 512; unknown when no block */
        bool dev_node;         /* <dev>/<block> exists and is that block device (major:minor) */
        char sg[32];           /* "sg1", "" none */
        uint64_t ioerr_cnt, iotmo_cnt;  /* "0x.." in sysfs */
        struct session_holder *holders; /* partitions first, then what holds the disk or a
                                         * partition (holders/ of each), in name order */
        size_t n_holders;
        bool udev_done; /* udev's database has the block device (b<major>:<minor>) */
        char **links;   /* its "S:" lines as "/dev/<link>", in file order; udev_done only */
        size_t n_links;
};

struct session_detail {
        struct session_info info;
        char target_state[32]; /* UNBOUND, ALLOCATED, SCANNED, UNBINDING; "" on older kernels */
        int target_id;         /* target_id attribute, -1 unknown */
        int creator; /* creator attribute: -1 the kernel (boot/flash), else a pid; -2 unknown */
        bool boot;   /* boot_root, boot_nic or boot_target is set (iBFT and flash) */
        char initiator[SESSION_TARGET_MAX + 1];
        /* connection 0 */
        char conn_state[32]; /* state: "up", "down", "failed", ... as the kernel says */
        char cur_address[SESSION_ADDRESS_MAX + 1]; /* address (after a redirect it differs) */
        unsigned cur_port;
        unsigned local_port; /* local_port, 0 unknown */
        /* host */
        char local_address[SESSION_ADDRESS_MAX + 1]; /* iscsi_host ipaddress */
        char netdev[32];    /* iscsi_host netdev ("" for "<NULL>"/"(null)"/unknown) */
        char hwaddress[32]; /* iscsi_host hwaddress, same */
        char transport[32]; /* scsi_host proc_name: "iscsi_tcp", "qla4xxx" ... */
        /* negotiated (-1 unknown; booleans as 0/1) */
        char header_digest[16], data_digest[16]; /* "None", "CRC32C" */
        long long max_recv_dlength, max_xmit_dlength, first_burst_len, max_burst_len;
        int initial_r2t, immediate_data, erl;
        /* live timeouts, seconds (-1 unknown) */
        long long recovery_tmo, abort_tmo, lu_reset_tmo, tgt_reset_tmo, ping_tmo, recv_tmo;
        /* CHAP: 1 in use (a username is set), 0 not, -1 unknown (unreadable) */
        int chap_out, chap_in;
        bool udev_running;        /* the udev control socket exists */
        struct session_lun *luns; /* sorted by lun */
        size_t n_luns;
};

/* Read session sid in full. 0, -ENOENT (no such session, its class link dangles, or no sysfs
 * root or class directory), -ENOMEM, -EINVAL (NULL ret), or another -errno of opening the sysfs
 * root or its class/iscsi_session (-EXDEV, -ENOTDIR...). A session whose directory is there but
 * cannot be read is 0 with a problem, as in session_list(). *ret is written only on success and
 * is then the caller's (session_detail_done(), which also takes NULL or a zeroed detail). */
int session_detail_read(const struct session_roots *roots, unsigned sid,
                        struct session_detail *ret);
void session_detail_done(struct session_detail *d);

/*
 * Why the session's devices are in use, for a logout (docs/sessions.md): for each LUN's block
 * device and every holder of it (partitions, dm, md): a mount (mountinfo's major:minor), a swap
 * (/proc/swaps), a holder that is itself in use or exists at all (dm, md), and an open file
 * descriptor of any process (/proc/<pid>/fd links to the device node, by rdev). proc is the
 * proc root (NULL: "/proc"). Every use found goes into *ret (caller frees with free(); NULL
 * when there is none), holders first, each (kind, device, what) once, at most 4096.
 * 0, -ENOMEM, -EINVAL, or the -errno of opening proc_root, reading <proc>/self/mountinfo or
 * <proc>/swaps (absent: no swap) or listing proc_root: a scan that cannot be made is no "unused".
 * A session without block devices is 0 uses without reading proc. Unreadable /proc entries of
 * other processes are skipped (they come and go), and so are the scan's own fds. Every holder
 * other than a partition counts (dm, md, and others such as bcache). *ret and *ret_n are
 * written only on success.
 */
enum session_use_kind {
        SESSION_USE_MOUNT,  /* what: the mount point */
        SESSION_USE_SWAP,   /* what: the swap device */
        SESSION_USE_HOLDER, /* what: the holder's name (dm-0 "mpatha", md0) */
        SESSION_USE_OPEN,   /* what: "pid <N> (<comm>)" */
};

struct session_use {
        enum session_use_kind kind;
        uint64_t lun;    /* the LUN whose device is used */
        char device[32]; /* the device that is used: "sdb", "sdb1", "dm-0" */
        char what[256];  /* escaped: printable ASCII only */
};

int session_uses(const struct session_detail *d, const char *proc_root, struct session_use **ret,
                 size_t *ret_n);
const char *session_use_kind_to_string(enum session_use_kind k);       /* "mount", "swap", ... */
const char *session_holder_kind_to_string(enum session_holder_kind k); /* "partition", "dm"... */
