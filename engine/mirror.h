/* SPDX-License-Identifier: MIT */
/*
 * The file mirror: <iscsi_root>/ifaces/<name> written atomically (temp file in a private
 * sibling directory, fsync, rename, fsync of both directories), and iscsiadm's own write lock
 * (<lock_dir>/lock hard-linked to <lock_dir>/lock.write). Not thread-safe: the engine
 * serialises calls.
 */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"

struct mirror;

/* Called at named points of a write, for the crash tests; NULL in production. */
typedef void (*mirror_fault_fn)(const char *point);

/*
 * Open the mirror: create <iscsi_root>/ifaces (0700) and <iscsi_root>/.iscsi-ifaced (0700, the
 * temp directory) if missing, check both are writable directories, create lock_dir if missing,
 * and take an exclusive flock on <iscsi_root>/.iscsi-ifaced/instance.lock so that two daemons
 * never share a root. Returns 0, -ENOMEM, -ENOTDIR, -EACCES/-EROFS (not writable), -EBUSY
 * (another instance holds the root), or another -errno from the filesystem.
 */
int mirror_open(const char *iscsi_root, const char *lock_dir, mirror_fault_fn fault,
                struct mirror **ret);
struct mirror *mirror_close(struct mirror *m);

/* Absolute path of the ifaces directory (borrowed). */
const char *mirror_ifaces_dir(const struct mirror *m);

/*
 * Take iscsiadm's write lock: link(lock, lock.write), retried every 10 ms up to timeout_ms.
 * A lock.write left by a crashed instance of this daemon (marker file present, see
 * mirror.c) is removed first. Returns 0, -ETIMEDOUT, or -errno.
 */
int mirror_lock(struct mirror *m, unsigned timeout_ms);
void mirror_unlock(struct mirror *m);

/*
 * How many stale lock.write files (made from our own link source, <lock_dir>/lock.iscsi-ifaced,
 * by an instance that is no longer alive) mirror_open and mirror_lock have removed so far.
 * A lock.write made by iscsiadm (a link of <lock_dir>/lock) is never removed.
 */
unsigned mirror_stale_locks_removed(const struct mirror *m);

/*
 * Replace ifaces/<name> atomically with data (mode 0600) and make it durable: write
 * .iscsi-ifaced/<name>.tmp, fsync, rename into ifaces/, fsync both directories.
 * Calls fault("mirror-tmp-written") after the temp file is durable and
 * fault("mirror-renamed") after the rename. Returns 0 or -errno (no temp file is left).
 */
int mirror_write(struct mirror *m, const char *name, const char *data, size_t len);

/*
 * Is the ifaces/ directory at its path still the one we opened? 0, -ENOENT (vanished),
 * -ENOTDIR (something else is there) or -ESTALE (another directory is there: moved or
 * replaced). Writes through the open directory would then land where iscsiadm never looks.
 */
int mirror_ifaces_check(struct mirror *m);

/*
 * Open the directory now at the ifaces/ path in place of the one we had. Returns 1 (it is the
 * same directory, moved back), 0 (another directory), or -errno (none, not writable, on another
 * filesystem than the temp directory).
 */
int mirror_ifaces_reopen(struct mirror *m);

/* Whether mirror_open() found no ifaces/ and created it (empty). */
bool mirror_ifaces_created(const struct mirror *m);

/* From now on every wait for iscsiadm's lock gives up at once with -ESHUTDOWN. */
void mirror_abort_waits(struct mirror *m);

/* Who holds iscsiadm's lock.write, as far as can be told (iscsiadm records no owner). */
struct mirror_lock_info {
        bool held;
        bool ours;        /* made by an iscsi-ifaced (our link source) */
        int64_t age_usec; /* since the lock was taken (the ctime of its inode) */
        char holder[160]; /* "iscsi-ifaced", "iscsiadm (pid N)", ... */
};
int mirror_lock_info(struct mirror *m, struct mirror_lock_info *ret);

/* What a mirror_read() error says about the file, for messages: "a directory", ... */
const char *mirror_read_strerror(int r);

/* Remove ifaces/<name> and fsync the directory. 0 also when it did not exist. */
int mirror_remove(struct mirror *m, const char *name);

/*
 * Read ifaces/<name> whole (at most 1 MiB). *ret is NUL-terminated. Returns 0, -ENOENT,
 * -EFBIG, -EISDIR (not a regular file), or -errno.
 */
int mirror_read(struct mirror *m, const char *name, char **ret, size_t *ret_len);
/*
 * mirror_read() that also gives the file's print as read, and whether it is settled (it did not
 * change while read, and its last change was long enough ago to be told from a later one).
 */
int mirror_read_print(struct mirror *m, const char *name, char **ret, size_t *ret_len,
                      struct file_print *print, bool *settled);
/* The print of ifaces/<name> now (never following a link): 0, -ENOENT, -EINVAL (not a file). */
int mirror_print(struct mirror *m, const char *name, struct file_print *ret);

/*
 * Names of the entries of ifaces/ in alphasort (strcmp) order, skipping "." and "..". Returns
 * 0 with a NULL-terminated array owned by the caller (free each and the array), or -errno.
 */
int mirror_list(struct mirror *m, char ***ret_names, size_t *ret_n);
/*
 * The same in two steps: a stream of its own on ifaces/ as it is now (taken under write_lock,
 * which is what changes the directory the mirror holds), then its names read without any lock.
 * mirror_list_stream() closes the stream in every case.
 */
int mirror_ifaces_stream(struct mirror *m, DIR **ret);
int mirror_list_stream(DIR *stream, char ***ret_names, size_t *ret_n);

/* Remove every temp file left in .iscsi-ifaced/ by an earlier crash; returns how many held data
 * (the empty spares that no write used are removed, not counted). */
int mirror_clean_temps(struct mirror *m);

/*
 * Small state files of our own in the private directory (<root>/.iscsi-ifaced/NAME), written
 * atomically and durably; read into buf (NUL-terminated). For state that must survive the loss
 * of the database, such as the revision high-water mark. read returns the length or -errno.
 */
int mirror_state_write(struct mirror *m, const char *name, const char *data, size_t len);
int mirror_state_read(struct mirror *m, const char *name, char *buf, size_t size);
/* A state file read whole (at most max bytes), or removed. */
int mirror_state_read_all(struct mirror *m, const char *name, size_t max, char **ret,
                          size_t *ret_len);
int mirror_state_remove(struct mirror *m, const char *name);

/*
 * The node db, by paths relative to the iscsi root: "nodes/<target>/<ip>,<port>,<tpgt>/<iface>",
 * "nodes/<target>/<ip>,<port>" (old style), "send_targets/<ip>,<port>/st_config" and its links.
 * Every component is a plain name (no '/', not starting with '.'), the first "nodes" or
 * "send_targets", and none is followed if it is a symlink: a link planted in the tree cannot
 * redirect a read or a write. Directories are created 0700, files 0600, as iscsiadm makes them.
 */

/* The absolute iscsi root (borrowed). */
const char *mirror_root(const struct mirror *m);

/* Read a file of the node db whole (mirror_read's rules). -EINVAL for a path that breaks them. */
int mirror_path_read(struct mirror *m, const char *path, char **ret, size_t *ret_len);
/* The same, with the file's print as read and whether it is settled (mirror_read_print). */
int mirror_path_read_print(struct mirror *m, const char *path, char **ret, size_t *ret_len,
                           struct file_print *print, bool *settled);

/* Write it atomically and durably, creating its directories (durably) where missing. */
int mirror_path_write(struct mirror *m, const char *path, const char *data, size_t len);

/*
 * One change of a file of the db root, staged for a group commit (engine/write.c): the new
 * content is in a temp file of its own, neither durable nor in place yet. The steps, in order:
 * mirror_stage(), mirror_staged_sync() (the temp file is durable), mirror_staged_place() (for
 * a node path, missing directories are made, durably; then a rename into place, or an unlink
 * for a removal), mirror_dirs_sync() over all those placed (each directory fsynced once). Many can be
 * staged at once; mirror_staged_done() releases one at any step, removing its temp file if it
 * was not placed. Calls fault("mirror-tmp-written") once the temp file is written and
 * fault("mirror-renamed") once it is in place.
 */
struct mirror_staged {
        int dir_fd;       /* the entry's directory, -1 for a removal whose directory is gone */
        bool own_dir;     /* dir_fd is ours to close (not the ifaces/ descriptor) */
        int tmp_fd;       /* the temp file, open until synced */
        char tmp[32];     /* its name in the temp directory; "" for a removal */
        const char *path; /* as given to mirror_stage (borrowed) */
        char entry[256];  /* a node path's entry name in dir_fd */
        bool node;        /* a node db path: only a regular file is removed */
        bool placed;
};

/*
 * Stage data for path (an iface name, or with node a root-relative node db path); data NULL
 * stages the removal of the file. Returns 0 with *ret filled, or -errno with nothing left.
 */
int mirror_stage(struct mirror *m, const char *path, bool node, const char *data, size_t len,
                 struct mirror_staged *ret);

/*
 * A temp file written ahead of its write's batch, outside every lock (it is nobody's until it is
 * placed): the writer's own thread writes it, and with sync makes it durable, while it would
 * otherwise wait for the batch before it. mirror_stage_temp() then stages it for path in place
 * of mirror_stage()'s write (a synced one needs no mirror_staged_sync() work), taking it over;
 * mirror_temp_drop() removes one that was not taken (the write was refused).
 */
struct mirror_temp {
        int fd;        /* open until synced (-1 once synced); only meaningful with a name */
        char name[32]; /* in the temp directory; "" when there is none (a zeroed one) */
};

int mirror_temp_write(struct mirror *m, const char *data, size_t len, bool sync,
                      struct mirror_temp *ret);
int mirror_stage_temp(struct mirror *m, const char *path, bool node, struct mirror_temp *pre,
                      struct mirror_staged *ret);
void mirror_temp_drop(struct mirror *m, struct mirror_temp *t);
int mirror_staged_sync(struct mirror *m, struct mirror_staged *s);
int mirror_staged_place(struct mirror *m, struct mirror_staged *s);
/* fsync each directory that a placed one of v[0..n) went to, once. */
int mirror_dirs_sync(struct mirror *m, struct mirror_staged *const *v, size_t n);
void mirror_staged_done(struct mirror *m, struct mirror_staged *s);

/*
 * Remove the file at path (0 if absent; -EISDIR if what stands there is not a regular file),
 * then each parent directory that is left empty, up to but not including the first
 * keep_levels components ("nodes/<t>/<p>/<iface>" with 1 removes empty <p> and <t>).
 */
int mirror_path_remove(struct mirror *m, const char *path, unsigned keep_levels);

/* Only the empty directories above path (an interrupted create or remove left them). */
int mirror_path_prune(struct mirror *m, const char *path, unsigned keep_levels);

/* Make path a symlink to target (replacing a link there; -EEXIST if something else is). */
int mirror_link_set(struct mirror *m, const char *path, const char *target);

/* Remove the symlink at path, if it is one (0 when absent or not a link: left alone). */
int mirror_link_remove(struct mirror *m, const char *path);

enum mirror_entry_type {
        MIRROR_ENTRY_FILE,
        MIRROR_ENTRY_DIR, /* deeper than the layout has directories */
        MIRROR_ENTRY_LINK,
        MIRROR_ENTRY_OTHER,
};

struct mirror_node_entry {
        char *path; /* root-relative */
        enum mirror_entry_type type;
        struct file_print print; /* as the scan saw it (lstat) */
};

/*
 * Every entry of nodes/<t>/ and nodes/<t>/<p>/, and of send_targets/<p>/ (hidden names
 * skipped), and a signature of the tree (names, inodes, sizes, times) that changes with any
 * change in it. ret may be NULL (signature only). 0 or -errno.
 */
int mirror_nodes_scan(struct mirror *m, struct mirror_node_entry **ret, size_t *ret_n,
                      uint64_t *ret_sig);
void mirror_node_entries_free(struct mirror_node_entry *v, size_t n);
