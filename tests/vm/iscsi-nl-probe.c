/* SPDX-License-Identifier: MIT */
/*
 * Sends engine/iscsi-nl.c's ISCSI_UEVENT_PING to the running kernel and checks the kernel's
 * answers, so the message layout is proved against a real scsi_transport_iscsi (run by
 * tests/vm/iscsi-nl.sh inside the VM lane, where iscsi_tcp is loaded):
 *   - with the tcp transport's real handle: the kernel finds the transport and answers -ENOSYS
 *     (iscsi_tcp has no send_ping), which the check reports as "unsupported";
 *   - with a handle the kernel does not know: -EINVAL.
 * Prints PASS:/FAIL: lines; exit 0 when all passed, 77 when the kernel has no iSCSI netlink.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi-nl.h"

static int fails;

static void check(int ok, const char *what, int r)
{
        printf("%s: %s (returned %d: %s)\n", ok ? "PASS" : "FAIL", what, r,
               r < 0 ? strerror(-r) : "ok");
        if (!ok)
                fails++;
}

int main(int argc, char *argv[])
{
        const char *path = argc > 1 ? argv[1] : "/sys/class/iscsi_transport/tcp/handle";
        struct iscsi_nl_ping req = { .host_no = 4242, .iface_num = 0 };
        struct sockaddr_in *sin = (struct sockaddr_in *)&req.dst;
        unsigned long long handle = 0;
        uint32_t status = 0;
        FILE *f;
        int r;

        f = fopen(path, "re");
        if (!f || fscanf(f, "%llu", &handle) != 1 || handle == 0) {
                printf("SKIP: cannot read a transport handle from %s\n", path);
                return 77;
        }
        fclose(f);

        sin->sin_family = AF_INET;
        inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);

        req.transport_handle = handle;
        r = iscsi_nl_ping(&req, 2000, &status);
        if (r == -EPROTONOSUPPORT) {
                printf("SKIP: no NETLINK_ISCSI in this kernel\n");
                return 77;
        }
        check(r == -ENOSYS, "the tcp transport's handle: the kernel says ENOSYS (no send_ping)", r);

        req.transport_handle = handle ^ 0x8000;
        r = iscsi_nl_ping(&req, 2000, &status);
        check(r == -EINVAL, "an unknown transport handle: the kernel says EINVAL", r);

        return fails ? 1 : 0;
}
