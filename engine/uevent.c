/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "uevent.h"

/* The subsystems whose objects a login, a logout or a rescan adds or removes. */
static const char *const relevant_subsystems[] = {
        "iscsi_session", "iscsi_connection", "iscsi_host", "iscsi_endpoint", "scsi",
        "scsi_host",     "scsi_device",      "scsi_disk",  "scsi_generic",   "block",
};

int uevent_open(void)
{
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        int fd, size = 256 * 1024;

        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

bool uevent_relevant(const char *buf, size_t len)
{
        const char *p, *end;

        /* The header: "ACTION@DEVPATH". udev's own messages start "libudev" instead. */
        if (!buf || len == 0 || !memchr(buf, '@', strnlen(buf, len)))
                return false;
        p = buf;
        end = buf + len;
        while (p < end) {
                size_t n = strnlen(p, (size_t)(end - p));

                if (n > 10 && memcmp(p, "SUBSYSTEM=", 10) == 0)
                        for (size_t i = 0; i < ELEMENTSOF(relevant_subsystems); i++)
                                if (n - 10 == strlen(relevant_subsystems[i]) &&
                                    memcmp(p + 10, relevant_subsystems[i], n - 10) == 0)
                                        return true;
                p += n + 1;
        }
        return false;
}

bool uevent_drain(int fd)
{
        bool relevant = false;

        /* Bounded: a storm (udevadm trigger) is read over several wake-ups, not in one. */
        for (int i = 0; i < 256; i++) {
                char buf[8192];
                struct sockaddr_nl sa = {};
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr mh = {
                        .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1
                };
                ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != ENOBUFS)
                                break;   /* EAGAIN: all read */
                        relevant = true; /* some were dropped: one of them may have been ours */
                        continue;
                }
                if (mh.msg_namelen != sizeof(sa) || sa.nl_family != AF_NETLINK || sa.nl_pid != 0)
                        continue; /* not the kernel's */
                if (!relevant && uevent_relevant(buf, (size_t)n))
                        relevant = true;
        }
        return relevant;
}
