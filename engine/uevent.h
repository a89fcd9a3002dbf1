/* SPDX-License-Identifier: MIT */
/*
 * The kernel's uevents (NETLINK_KOBJECT_UEVENT, its multicast group 1), for the sessions watch:
 * a session, its connection or a SCSI device coming or going wakes it at once instead of at its
 * next tick (engine/drift.c). Session state changes (recovery, a failed connection) come with no
 * uevent, so the tick stays.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A non-blocking uevent socket bound to the kernel's group: its fd, or -errno. */
int uevent_open(void);

/*
 * Read every message waiting on fd. True if one of them is about iSCSI or SCSI objects (or may
 * have been: the socket overran and dropped messages). Only the kernel's messages count (sender
 * port 0); their text is parsed as untrusted input.
 */
bool uevent_drain(int fd);

/* Whether the message buf[0..len) ("ACTION@DEVPATH", then "KEY=VALUE" fields, each ended by a
 * NUL) is about an iSCSI or SCSI object: its SUBSYSTEM= is one of the sessions watch's. */
bool uevent_relevant(const char *buf, size_t len);
