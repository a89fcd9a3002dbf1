/* SPDX-License-Identifier: MIT */
/*
 * Safe reading of a sysfs tree below a root given by the caller (fixture trees in tests): paths
 * are resolved a component at a time below one root fd and never leave it, attribute reads are
 * bounded. Internal to engine/ (hba.c, session.c); sysfs content is untrusted input.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYSFS_ATTR_MAX 4096    /* sysfs shows at most a page; anything longer is not an attribute */
#define SYSFS_MOUNT    "/sys/" /* what the tree stands for when paths are matched */

/* A list of owned strings. */
struct sysfs_strv {
        char **v;
        size_t n;
};

/* Frees the strings and the array; s is empty afterwards. */
void sysfs_strv_done(struct sysfs_strv *s);

/* True if s[0..n-1] is printable ASCII (0x20..0x7e) only. */
bool sysfs_is_text(const char *s, size_t n);

/* An object found below the root: its parent directory (O_PATH) and its name there. */
struct sysfs_node {
        int parent_fd;           /* owned; -1 when the node is the root itself */
        char name[NAME_MAX + 1]; /* "." for the root */
        char path[PATH_MAX];     /* canonical, relative to the root, free of symlinks */
};

/* Closes n's parent fd; n may be unfilled if its parent_fd was set to -1. */
void sysfs_node_done(struct sysfs_node *n);

/*
 * Resolve path below root_fd like realpath(3) would with the root as "/", following symlinks (40
 * at most), except that a ".." above the root or an absolute symlink target is refused with
 * -EXDEV: such a link points outside the tree. Returns 0 with *ret filled (release it with
 * sysfs_node_done()), or the -errno of the failing step (-ENOENT for a dangling link, -ELOOP,
 * -ENAMETOOLONG, -ENOTDIR).
 */
int sysfs_resolve(int root_fd, const char *path, struct sysfs_node *ret);

/* Open what n names, with flags (O_NOFOLLOW added: n is the end of a resolved path). An fd or
 * -errno. */
int sysfs_node_open(int root_fd, const struct sysfs_node *n, int flags);

/* Open the directory at path below the root (an fd, or -errno of sysfs_resolve() or open);
 * ret_path, if not NULL, gets its canonical path relative to the root. */
int sysfs_open_dir(int root_fd, const char *path, char ret_path[PATH_MAX]);

/* The names in the directory dir_fd (not "." and ".."; 65536 at most), sorted with strcmp, into
 * *ret (the caller's, release with sysfs_strv_done()). 0 or -errno; *ret untouched on failure. */
int sysfs_list_dir_fd(int dir_fd, struct sysfs_strv *ret);

/* sysfs_list_dir_fd() of the directory at path below the root. */
int sysfs_list_dir(int root_fd, const char *path, struct sysfs_strv *ret);

/*
 * Read the attribute file name in dir_fd into *ret (owned; the value without one trailing
 * newline). Returns 0, or -ENOENT when absent, -EINVAL when not a regular file (symlinks are not
 * followed), -EFBIG when longer than SYSFS_ATTR_MAX, -EBADMSG when it holds anything but
 * printable ASCII, another -errno of open or read, or -ENOMEM. *ret is NULL on failure.
 */
int sysfs_attr_read_at(int dir_fd, const char *name, char **ret);

/* Like sysfs_attr_read_at(), but every failure other than -ENOMEM is an unknown value: 0 with
 * *ret NULL. Returns 0 or -ENOMEM. */
int sysfs_read_attr_at(int dir_fd, const char *name, char **ret);

/* sysfs_read_attr_at() for a path below the root; the last component may be a link inside the
 * tree, and a path that does not resolve is an unknown value. 0 or -ENOMEM. */
int sysfs_read_attr(int root_fd, const char *path, char **ret);

/* Plain decimal, as the kernel prints "%llu" (no sign, no blanks, no overflow); false otherwise,
 * and for NULL or "". */
bool sysfs_parse_u64(const char *s, uint64_t *ret);

/* "0x" and 1..max_digits (at most 16) hex digits, as the kernel prints "0x%x" and "0x%llx";
 * false otherwise, and for NULL. */
bool sysfs_parse_hex(const char *s, unsigned max_digits, uint64_t *ret);
