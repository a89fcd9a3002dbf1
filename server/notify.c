/* SPDX-License-Identifier: MIT */
/* sd_notify() and sd_listen_fds() for main.c and its listeners (notify.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "notify.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

#define NOTIFY_FDS_MAX 16

static int inherited[NOTIFY_FDS_MAX];
static size_t n_inherited;

bool notify_supported(void)
{
        return true;
}

int notify_listen_fds_collect(void)
{
        int n;

        /* unset_environment: iscsiadm and ping, spawned later, must not think they were passed
         * sockets. */
        n = sd_listen_fds(1);
        if (n < 0)
                return log_warning_errno(n, "cannot read the sockets passed by the service "
                                            "manager (LISTEN_FDS), ignoring them");
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if ((size_t)i >= NOTIFY_FDS_MAX) {
                        log_warning("more than %d sockets passed, closing fd %d", NOTIFY_FDS_MAX,
                                    fd);
                        (void)close(fd);
                        continue;
                }
                /* Our own children must not inherit them (exec.c closes them anyway). */
                (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
                inherited[n_inherited++] = fd;
        }
        return n;
}

int notify_listen_fd_take_unix(const char *path)
{
        for (size_t i = 0; i < n_inherited; i++) {
                int fd = inherited[i], flags;

                if (fd < 0 || sd_is_socket_unix(fd, SOCK_STREAM, 1, path, 0) <= 0)
                        continue;
                inherited[i] = -1;
                /* libmicrohttpd wants a non-blocking listening socket, as listen_unix() makes. */
                flags = fcntl(fd, F_GETFL);
                if (flags >= 0)
                        (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
                return fd;
        }
        return -ENOENT;
}

void notify_listen_fds_close_unused(void)
{
        for (size_t i = 0; i < n_inherited; i++) {
                if (inherited[i] < 0)
                        continue;
                log_warning("fd %d passed by the service manager matches no unix: listener "
                            "(a listening AF_UNIX stream socket of the same path), closing it",
                            inherited[i]);
                (void)close(inherited[i]);
                inherited[i] = -1;
        }
        n_inherited = 0;
}

void notify_ready(const char *status)
{
        (void)sd_notifyf(0, "READY=1\nSTATUS=%s", status ?: "");
}

void notify_reloading(void)
{
        struct timespec ts;
        unsigned long long usec = 0;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
                usec = (unsigned long long)ts.tv_sec * 1000000ULL +
                       (unsigned long long)ts.tv_nsec / 1000ULL;
        (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", usec);
}

void notify_stopping(void)
{
        (void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

#else /* !HAVE_LIBSYSTEMD */

bool notify_supported(void)
{
        return false;
}

int notify_listen_fds_collect(void)
{
        if (getenv("LISTEN_FDS"))
                log_warning("LISTEN_FDS is set, but this build has no libsystemd: binding every "
                            "listener itself");
        return 0;
}

int notify_listen_fd_take_unix(const char *path)
{
        return -ENOENT;
}

void notify_listen_fds_close_unused(void)
{
}

void notify_ready(const char *status)
{
}

void notify_reloading(void)
{
}

void notify_stopping(void)
{
}

#endif
