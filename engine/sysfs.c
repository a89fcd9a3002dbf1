/* SPDX-License-Identifier: MIT */
/*
 * Reading a sysfs tree given by its root, as untrusted input: every path is resolved below one
 * root fd, a component at a time, so no symlink leads out of the tree; attribute reads are bounded
 * and keep printable ASCII only. Shared by the HBA inventory (hba.c) and the session reader
 * (session.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "sysfs.h"

#define SYMLINK_HOPS_MAX 40    /* the kernel's MAXSYMLINKS */
#define PATH_DEPTH_MAX   64    /* sysfs device paths are about 10 deep */
#define DIR_ENTRIES_MAX  65536 /* entries read from one directory; the rest is ignored */

void sysfs_strv_done(struct sysfs_strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct sysfs_strv){};
}

static int strv_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

bool sysfs_is_text(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                        return false;
        return true;
}

/* --- paths below the root ------------------------------------------------------------------ */

void sysfs_node_done(struct sysfs_node *n)
{
        if (n->parent_fd >= 0)
                (void)close(n->parent_fd);
        n->parent_fd = -1;
}

/*
 * Resolve path below root_fd like realpath(3) would with the root as "/", following symlinks
 * (SYMLINK_HOPS_MAX at most), except that a ".." above the root or an absolute symlink target is
 * refused with -EXDEV: such a link points outside the tree. Returns 0 with *ret filled, or the
 * -errno of the failing step (-ENOENT for a dangling link, -ELOOP, -ENAMETOOLONG, -ENOTDIR).
 */
int sysfs_resolve(int root_fd, const char *path, struct sysfs_node *ret)
{
        int fds[PATH_DEPTH_MAX + 1];
        size_t lens[PATH_DEPTH_MAX + 1];
        char canon[PATH_MAX] = "", todo[PATH_MAX], next[PATH_MAX];
        size_t depth = 0, hops = 0;
        const char *p = todo;
        int r = 0;

        assert(ret);

        fds[0] = root_fd;
        lens[0] = 0;
        if (strlen(path) >= sizeof(todo))
                return -ENAMETOOLONG;
        strcpy(todo, path);

        for (;;) {
                char comp[NAME_MAX + 1], target[PATH_MAX];
                size_t clen, len;
                struct stat st;
                ssize_t k;
                int fd;

                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                clen = strcspn(p, "/");
                if (clen > NAME_MAX) {
                        r = -ENAMETOOLONG;
                        goto out;
                }
                memcpy(comp, p, clen);
                comp[clen] = '\0';
                p += clen;

                if (streq(comp, "."))
                        continue;
                if (streq(comp, "..")) {
                        if (depth == 0) {
                                r = -EXDEV;
                                goto out;
                        }
                        (void)close(fds[depth--]);
                        canon[lens[depth]] = '\0';
                        continue;
                }

                fd = openat(fds[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        goto out;
                }
                if (fstat(fd, &st) < 0) {
                        r = -errno;
                        (void)close(fd);
                        goto out;
                }
                if (S_ISLNK(st.st_mode)) {
                        k = readlinkat(fd, "", target, sizeof(target));
                        r = k < 0 ? -errno : 0;
                        (void)close(fd);
                        if (r < 0)
                                goto out;
                        if ((size_t)k >= sizeof(target)) {
                                r = -ENAMETOOLONG;
                                goto out;
                        }
                        target[k] = '\0';
                        if (++hops > SYMLINK_HOPS_MAX) {
                                r = -ELOOP;
                                goto out;
                        }
                        if (target[0] == '/') {
                                r = -EXDEV;
                                goto out;
                        }
                        /* go on with the link target, then what was left of the path */
                        if ((size_t)snprintf(next, sizeof(next), "%s/%s", target, p) >=
                            sizeof(next)) {
                                r = -ENAMETOOLONG;
                                goto out;
                        }
                        strcpy(todo, next);
                        p = todo;
                        continue;
                }

                len = lens[depth] + (depth > 0) + clen;
                if (depth == PATH_DEPTH_MAX || len >= sizeof(canon)) {
                        (void)close(fd);
                        r = -ENAMETOOLONG;
                        goto out;
                }
                if (depth > 0)
                        strcat(canon, "/");
                strcat(canon, comp);
                fds[++depth] = fd;
                lens[depth] = len;
        }

        if (depth == 0) {
                ret->parent_fd = -1;
                strcpy(ret->name, ".");
        } else {
                const char *last = canon + lens[depth - 1] + (depth > 1);

                if (depth == 1)
                        ret->parent_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                else
                        ret->parent_fd = TAKE_FD(fds[depth - 1]);
                if (ret->parent_fd < 0) {
                        r = -errno;
                        goto out;
                }
                strcpy(ret->name, last);
        }
        strcpy(ret->path, canon);
out:
        for (size_t i = 1; i <= depth; i++)
                if (fds[i] >= 0)
                        (void)close(fds[i]);
        return r;
}

/* Open what n names, with flags (O_NOFOLLOW added: n is the end of a resolved path). */
int sysfs_node_open(int root_fd, const struct sysfs_node *n, int flags)
{
        int fd;

        if (n->parent_fd < 0)
                fd = openat(root_fd, ".", flags | O_CLOEXEC);
        else
                fd = openat(n->parent_fd, n->name, flags | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Open the directory at path below the root; *ret_path gets its canonical path if not NULL. */
int sysfs_open_dir(int root_fd, const char *path, char ret_path[PATH_MAX])
{
        struct sysfs_node n = { .parent_fd = -1 };
        int r;

        r = sysfs_resolve(root_fd, path, &n);
        if (r < 0)
                return r;
        r = sysfs_node_open(root_fd, &n, O_RDONLY | O_DIRECTORY);
        if (r >= 0 && ret_path)
                strcpy(ret_path, n.path);
        sysfs_node_done(&n);
        return r;
}

/* The names in the directory dir_fd (not "." and ".."), sorted with strcmp. 0 or -errno. */
int sysfs_list_dir_fd(int dir_fd, struct sysfs_strv *ret)
{
        struct sysfs_strv s = {};
        struct dirent *de = NULL;
        DIR *d;
        int fd, r = 0;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        rewinddir(d);
        while (s.n < DIR_ENTRIES_MAX && (errno = 0, de = readdir(d))) {
                char **v;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                v = reallocarray(s.v, s.n + 1, sizeof(*v));
                if (!v) {
                        r = -ENOMEM;
                        break;
                }
                s.v = v;
                s.v[s.n] = strdup(de->d_name);
                if (!s.v[s.n]) {
                        r = -ENOMEM;
                        break;
                }
                s.n++;
        }
        if (r == 0 && !de && errno != 0 && s.n < DIR_ENTRIES_MAX)
                r = -errno;
        (void)closedir(d);
        if (r < 0) {
                sysfs_strv_done(&s);
                return r;
        }
        if (s.n > 1)
                qsort(s.v, s.n, sizeof(*s.v), strv_cmp);
        *ret = s;
        return 0;
}

int sysfs_list_dir(int root_fd, const char *path, struct sysfs_strv *ret)
{
        _cleanup_close_ int fd = -1;

        fd = sysfs_open_dir(root_fd, path, NULL);
        if (fd < 0)
                return fd;
        return sysfs_list_dir_fd(fd, ret);
}

/*
 * Read the attribute file name in dir_fd into *ret (the value without one trailing newline).
 * -ENOENT when absent, -EINVAL when not a regular file (symlinks are not followed), -EFBIG when
 * longer than SYSFS_ATTR_MAX, -EBADMSG when it holds anything but printable ASCII, the read's
 * -errno, or -ENOMEM. *ret is NULL on failure.
 */
int sysfs_attr_read_at(int dir_fd, const char *name, char **ret)
{
        _cleanup_close_ int fd = -1;
        char buf[SYSFS_ATTR_MAX];
        struct stat st;
        size_t n = 0;

        *ret = NULL;
        /* look before opening: opening a device or a FIFO can have side effects */
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;

        for (;;) {
                char extra;
                ssize_t k;

                if (n == sizeof(buf))
                        k = read(fd, &extra, 1);
                else
                        k = read(fd, buf + n, sizeof(buf) - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k > 0 && n == sizeof(buf))
                        return -EFBIG;
                if (k == 0)
                        break;
                n += (size_t)k;
        }

        if (n > 0 && buf[n - 1] == '\n')
                n--;
        if (!sysfs_is_text(buf, n))
                return -EBADMSG;
        *ret = strndup(buf, n);
        return *ret ? 0 : -ENOMEM;
}

/* sysfs_attr_read_at() with every failure but -ENOMEM read as an unknown value (NULL). */
int sysfs_read_attr_at(int dir_fd, const char *name, char **ret)
{
        int r;

        r = sysfs_attr_read_at(dir_fd, name, ret);
        return r == -ENOMEM ? r : 0;
}

/* sysfs_read_attr_at() for a path below the root; the last component may be a link inside the
 * tree. */
int sysfs_read_attr(int root_fd, const char *path, char **ret)
{
        struct sysfs_node n = { .parent_fd = -1 };
        int r;

        *ret = NULL;
        if (sysfs_resolve(root_fd, path, &n) < 0 || n.parent_fd < 0) {
                sysfs_node_done(&n);
                return 0;
        }
        r = sysfs_read_attr_at(n.parent_fd, n.name, ret);
        sysfs_node_done(&n);
        return r;
}

/* Plain decimal, as the kernel prints "%llu"; anything else is unknown. */
bool sysfs_parse_u64(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (isempty(s))
                return false;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *ret = v;
        return true;
}

bool sysfs_parse_hex(const char *s, unsigned max_digits, uint64_t *ret)
{
        uint64_t v = 0;
        unsigned n = 0;

        if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || max_digits > 16)
                return false;
        for (s += 2; *s; s++, n++) {
                unsigned d;

                if (*s >= '0' && *s <= '9')
                        d = (unsigned)(*s - '0');
                else if (*s >= 'a' && *s <= 'f')
                        d = (unsigned)(*s - 'a' + 10);
                else if (*s >= 'A' && *s <= 'F')
                        d = (unsigned)(*s - 'A' + 10);
                else
                        return false;
                if (n == max_digits)
                        return false;
                v = v << 4 | d;
        }
        if (n == 0)
                return false;
        *ret = v;
        return true;
}
