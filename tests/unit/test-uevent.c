/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/uevent.c: which messages wake the sessions watch (the parser, on
 * well-formed, foreign and malformed input), that a message not sent by the kernel is ignored
 * however relevant its text, and that a real kernel uevent (a "change" written to a block
 * device's uevent file) is read as relevant. The last two need root; they skip without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
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
        if (geteuid() != 0)
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

/* The first block device whose uevent file takes a write, or -1. */
static int write_change(char *name, size_t size)
{
        DIR *d = opendir("/sys/block");
        struct dirent *de;
        int r = -1;

        if (!d)
                return -1;
        while (r < 0 && (de = readdir(d))) {
                char path[300];
                int fd;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/sys/block/%s/uevent", de->d_name);
                fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                if (write(fd, "change", 6) == 6) {
                        snprintf(name, size, "%s", de->d_name);
                        r = 0;
                }
                close(fd);
        }
        closedir(d);
        return r;
}

static void test_kernel_uevent(void **state)
{
        char dev[256];
        bool relevant = false;
        int fd;

        (void)state;
        if (geteuid() != 0)
                skip();
        fd = uevent_open();
        assert_true(fd >= 0);
        assert_false(uevent_drain(fd)); /* nothing yet, and no blocking */
        if (write_change(dev, sizeof(dev)) < 0) {
                close(fd);
                skip(); /* no writable /sys/block here */
        }
        /* Other uevents of the host may come first: read until ours or 2 s. */
        for (int i = 0; i < 20 && !relevant; i++)
                if (wait_readable(fd, 100))
                        relevant = uevent_drain(fd);
        print_message("change written to /sys/block/%s/uevent\n", dev);
        assert_true(relevant);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_relevant),
                cmocka_unit_test(test_not_from_kernel),
                cmocka_unit_test(test_kernel_uevent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
