/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/uevent.c: which messages wake the sessions watch (the parser, on
 * well-formed, foreign and malformed input), and that a message not sent by the kernel is
 * ignored however relevant its text (sent in a network namespace of the test's own, so that no
 * listener of the host hears it; needs root, skips without it). Real kernel uevents of real
 * sessions are read in the VM lane (vm.sessions, vm.systemd: ifd_session_uevents_total).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/uevent.h"

/* A message as the kernel writes it: fields separated by NULs, the last one ended by one. */
#define MSG(s) s, sizeof(s)

static void test_relevant(void **state)
{
        (void)state;
        assert_true(
                uevent_relevant(MSG("add@/devices/platform/host2/session1/iscsi_session/session1\0"
                                    "ACTION=add\0DEVPATH=/devices/platform/host2/session1/"
                                    "iscsi_session/session1\0SUBSYSTEM=iscsi_session\0SEQNUM=9")));
        assert_true(uevent_relevant(MSG("remove@/devices/virtual/block/sdb\0ACTION=remove\0"
                                        "SUBSYSTEM=block\0DEVNAME=sdb")));
        assert_true(uevent_relevant(MSG("add@/x\0SUBSYSTEM=scsi_disk")));
        /* Other subsystems, and names that only start like ours. */
        assert_false(
                uevent_relevant(MSG("add@/devices/virtual/net/veth0\0ACTION=add\0SUBSYSTEM=net")));
        assert_false(uevent_relevant(MSG("add@/x\0SUBSYSTEM=blockx")));
        assert_false(uevent_relevant(MSG("add@/x\0SUBSYSTEM=bloc")));
        assert_false(uevent_relevant(MSG("add@/x\0SUBSYSTEM=")));
        assert_false(uevent_relevant(MSG("add@/x\0XSUBSYSTEM=block")));
        /* udev's own messages ("libudev" and a binary header) and a message without a header. */
        assert_false(uevent_relevant(MSG("libudev\0\xfe\xed\xca\xfe\0SUBSYSTEM=block")));
        assert_false(uevent_relevant(MSG("SUBSYSTEM=block")));
        /* Cut short: the field is not all there. */
        assert_false(uevent_relevant("add@/x\0SUBSYSTEM=block", 18));
        assert_false(uevent_relevant("", 0));
        assert_false(uevent_relevant(NULL, 5));
        /* No NUL at the end: the last field still ends at the length. */
        assert_true(uevent_relevant("add@/x\0SUBSYSTEM=block", 22));
}

static bool wait_readable(int fd, int ms)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, ms) == 1;
}

static void test_not_from_kernel(void **state)
{
        static const char msg[] = "add@/x\0ACTION=add\0SUBSYSTEM=iscsi_session";
        struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        int fd, tx;

        (void)state;
        if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
                skip();
        fd = uevent_open();
        assert_true(fd >= 0);
        tx = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        assert_true(tx >= 0);
        /* Root may send to the kernel's group; the sender's port is its own, not 0. */
        if (sendto(tx, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
                close(tx);
                close(fd);
                skip();
        }
        assert_true(wait_readable(fd, 2000));
        assert_false(uevent_drain(fd));
        close(tx);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_relevant),
                cmocka_unit_test(test_not_from_kernel),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
