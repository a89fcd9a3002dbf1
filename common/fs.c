/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
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
