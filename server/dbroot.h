/* SPDX-License-Identifier: MIT */
/*
 * Which open-iscsi db root the installed iscsiadm uses, when --iscsi-root is not given: the
 * compiled-in path read from the binary, else an existing directory with iscsiadm's layout, else
 * a fixed default (docs/decisions.md, "The default iscsi root is the installed iscsiadm's").
 */
#pragma once

#include <stdbool.h>

/* The last resort: open-iscsi's own default db root (its meson option dbroot, make DBROOT). */
#define DBROOT_DEFAULT "/etc/iscsi"

/* Longest root accepted from a binary, and the largest file scanned for it. */
#define DBROOT_PATH_MAX 255
#define DBROOT_FILE_MAX (64u * 1024 * 1024)

enum dbroot_source {
        DBROOT_SOURCE_BINARY,  /* a compiled-in path of an installed binary */
        DBROOT_SOURCE_LAYOUT,  /* an existing directory with iscsiadm's layout */
        DBROOT_SOURCE_DEFAULT, /* DBROOT_DEFAULT */
        _DBROOT_SOURCE_MAX,
        _DBROOT_SOURCE_INVALID = -22,
};

/* Where to look. NULL members mean the production lists below; tests inject temp paths. */
struct dbroot_config {
        const char *const *binaries;    /* NULL-terminated glob(3) patterns, in order */
        const char *const *layout_dirs; /* NULL-terminated directories, in order */
        const char *fallback;           /* NULL = DBROOT_DEFAULT */
};

/* The production lists: iscsiadm, then libopeniscsiusr (which iscsiadm 2.1 reads through). */
extern const char *const dbroot_binaries[];
extern const char *const dbroot_layout_dirs[];

/*
 * True if p may name a db root: absolute, at most DBROOT_PATH_MAX bytes, only [A-Za-z0-9._+-]
 * and '/', no empty, "." or ".." component, no trailing '/', not "/" itself.
 */
bool dbroot_path_is_valid(const char *p);

/*
 * Scan one file (a binary or shared object, read as untrusted bytes: regular files only, at
 * most DBROOT_FILE_MAX, streamed) for its compiled-in db root R: the one R for which both
 * NUL-terminated strings "R/ifaces" and "R/nodes" occur, R passing dbroot_path_is_valid().
 * Returns 0 and an owned copy in *ret_root; -ENOENT (no such file), -EACCES, -EINVAL (not a
 * regular file), -EFBIG (larger than DBROOT_FILE_MAX), -ENODATA (names no root),
 * -ENOTUNIQ (names several), -EIO, -ENOMEM. *ret_root is untouched on failure.
 */
int dbroot_from_binary(const char *path, char **ret_root);

/*
 * Decide the db root: the first binary of cfg->binaries (glob patterns, matches in sorted
 * order) that names one root; else the first of cfg->layout_dirs that is a directory holding an
 * ifaces/, nodes/ or send_targets/ directory; else cfg->fallback. Never logs. On success
 * *ret_root and *ret_reason are owned strings; the reason completes "iscsi root R: ...", e.g.
 * "the compiled-in path of /usr/sbin/iscsiadm". *ret_source (if not NULL) says which step
 * decided. Returns 0 or -ENOMEM (outputs untouched).
 */
int dbroot_detect(const struct dbroot_config *cfg, char **ret_root, char **ret_reason,
                  enum dbroot_source *ret_source);
