/* SPDX-License-Identifier: MIT */
/* Small file helpers shared by the engine and the server. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * What a file's inode says of it. Two equal prints of a path mean the file was not changed in
 * between: a write changes the ctime (or, through a rename, the inode), and no one can set a
 * ctime. But ctime comes from a coarse clock: a change within the same tick as the last one
 * keeps it, so a print taken right after a change is not trusted (file_print_settled).
 */
struct file_print {
        uint64_t dev, ino, size;
        int64_t mtime_ns, ctime_ns;
};

void file_print_of(const struct stat *st, struct file_print *ret);
bool file_print_eq(const struct file_print *a, const struct file_print *b);
/* The last change is old enough (50 ms) that a later one would show in the ctime. */
bool file_print_settled(const struct file_print *p);

/*
 * openat(dir_fd, path, flags | O_CLOEXEC | O_NOCTTY, mode) that only hands out a regular file:
 * the fd, or -errno (-EINVAL when something else stands there, a FIFO, a directory...). Add
 * O_NOFOLLOW to refuse a symlink, O_NONBLOCK so that opening a FIFO cannot hang. *ret_st (may be
 * NULL) gets its fstat().
 */
int open_regular(int dir_fd, const char *path, int flags, mode_t mode, struct stat *ret_st);
