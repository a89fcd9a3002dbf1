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
