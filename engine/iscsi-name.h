/* SPDX-License-Identifier: MIT */
/*
 * iSCSI names and portals as they come from the wire (a SendTargets reply) or from a client:
 * untrusted input that ends up in paths of the iscsi db root (nodes/<target>/<ip>,<port>,<tpgt>).
 * Only what RFC 3720 section 3.2.6 allows, in plain ASCII, gets through.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>

#include "iface.h"

#define ISCSI_NAME_MAX 223 /* bytes, RFC 3720 section 3.2.6.1 */

/*
 * An iSCSI name: "iqn.YYYY-MM.<reversed domain>[:<anything>]", "eui." and 16 hex digits, or
 * "naa." and 16 or 32 hex digits; 1..223 bytes of [A-Za-z0-9.:_-], so never a '/', a ',',
 * whitespace, a control character or a byte over 0x7e, and never "..". Returns 0, or -EINVAL
 * with err->reason saying what is wrong (err->field is field).
 */
int iscsi_name_validate(const char *name, const char *field, struct iface_error *err);

/* A portal: an IP address (no host names: nothing from the wire is resolved), port, tpgt. */
struct iscsi_portal {
        struct sockaddr_storage addr; /* the port is in it */
        char address[46];             /* as text, IPv6 without brackets */
        uint16_t port;
        int tpgt; /* -1: not given */
};

/*
 * Parse a SendTargets TargetAddress value, "<ip>:<port>,<tpgt>" or "[<ipv6>]:<port>,<tpgt>"
 * (the port may be left out: 3260). Returns 0, or -EINVAL with err->reason set (err->field is
 * field).
 */
int iscsi_target_address_parse(const char *s, const char *field, struct iscsi_portal *ret,
                               struct iface_error *err);
