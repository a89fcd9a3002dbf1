/* SPDX-License-Identifier: MIT */
/* Small file helpers shared by the engine and the server. */
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

/*
 * openat(dir_fd, path, flags | O_CLOEXEC | O_NOCTTY, mode) that only hands out a regular file:
 * the fd, or -errno (-EINVAL when something else stands there, a FIFO, a directory...). Add
 * O_NOFOLLOW to refuse a symlink, O_NONBLOCK so that opening a FIFO cannot hang. *ret_st (may be
 * NULL) gets its fstat().
 */
int open_regular(int dir_fd, const char *path, int flags, mode_t mode, struct stat *ret_st);
