/* SPDX-License-Identifier: MIT */
/*
 * The service manager's side of a start (docs/decisions.md): readiness, reload and stop notices
 * (sd_notify), and listening sockets handed over by a socket unit (sd_listen_fds). Without
 * libsystemd (meson -Dsystemd=disabled) every call is a no-op and nothing is inherited.
 */
#pragma once

#include <stdbool.h>

/* Take the sockets passed by the service manager (LISTEN_FDS), once, at start. Returns their
 * number (0 when none were passed), or -errno. */
int notify_listen_fds_collect(void);

/* The inherited listening AF_UNIX stream socket bound to path, or -ENOENT. Each is given out once:
 * the caller owns it from then on. */
int notify_listen_fd_take_unix(const char *path);

/* Close the inherited sockets nobody took, with a warning naming each. */
void notify_listen_fds_close_unused(void);

/* READY=1 and a STATUS= line; no-op without NOTIFY_SOCKET. */
void notify_ready(const char *status);
/* RELOADING=1 (with MONOTONIC_USEC), then notify_ready() when the reload is done. */
void notify_reloading(void);
/* STOPPING=1. */
void notify_stopping(void);

/* Whether this build talks to the service manager at all. */
bool notify_supported(void);
