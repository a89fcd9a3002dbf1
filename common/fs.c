/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "macro.h"

int open_regular(int dir_fd, const char *path, int flags, mode_t mode, struct stat *ret_st)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        fd = openat(dir_fd, path, flags | O_CLOEXEC | O_NOCTTY, mode);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (ret_st)
                *ret_st = st;
        return TAKE_FD(fd);
}

void file_print_of(const struct stat *st, struct file_print *ret)
{
        *ret = (struct file_print){
                .dev = (uint64_t)st->st_dev,
                .ino = (uint64_t)st->st_ino,
                .size = (uint64_t)st->st_size,
                .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                .ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
        };
}

bool file_print_eq(const struct file_print *a, const struct file_print *b)
{
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

bool file_print_settled(const struct file_print *p)
{
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - p->ctime_ns >= 50000000;
}
