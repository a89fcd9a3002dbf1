/* SPDX-License-Identifier: MIT */
/*
 * The file mirror: atomic, durable writes of <iscsi_root>/ifaces/<name>, listing and reading
 * that directory, the per-root instance lock, and iscsiadm's lock.write hard-link lock.
 *
 * Locks. iscsiadm (libopeniscsiusr idbm.c) locks with link("<lock_dir>/lock",
 * "<lock_dir>/lock.write"), retrying every 10 ms while the name exists, and unlocks by
 * unlinking lock.write. We create the same name, so exclusion with iscsiadm is the same, but
 * we link from a file of our own, <lock_dir>/lock.iscsi-ifaced: a lock.write with that inode
 * is provably ours. Every open mirror holds a shared flock on that source file. A lock.write
 * with our inode is stale (left by a crashed instance) when we can upgrade that flock to an
 * exclusive one: then no other instance that could hold it is alive. This stays correct when
 * two instances with different roots share one lock_dir. The exclusive flock on
 * <iscsi_root>/.iscsi-ifaced/instance.lock keeps a second instance off the same root.
 *
 * Temp files live in <iscsi_root>/.iscsi-ifaced/, never in ifaces/: iscsiadm takes every entry
 * of ifaces/ except "." and ".." for a record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "fs.h"
#include "macro.h"
#include "mirror.h"
#include "proc.h"
#include "stats.h"

#define MIRROR_IFACES_DIR    "ifaces"
#define MIRROR_TMP_DIR       ".iscsi-ifaced"
#define MIRROR_INSTANCE_LOCK "instance.lock"
#define MIRROR_TMP_SUFFIX    ".tmp"
#define LOCK_WRITE_NAME      "lock.write"
#define LOCK_SOURCE_NAME     "lock.iscsi-ifaced"
#define LOCK_RETRY_USEC      10000
#define MIRROR_READ_MAX      (1024 * 1024)
#define MIRROR_NAME_MAX      255
#define MIRROR_SPARES        64

struct mirror {
        char *ifaces_path; /* absolute */
        char *root_path;   /* absolute */
        int root_fd;
        int ifaces_fd;
        int tmp_fd;
        int instance_fd; /* exclusive flock: one daemon per root */
        int lock_dir_fd;
        int lock_src_fd; /* lock.iscsi-ifaced, shared flock while open */
        dev_t lock_src_dev;
        ino_t lock_src_ino;
        dev_t ifaces_dev; /* the ifaces/ directory we opened, to notice it being replaced */
        ino_t ifaces_ino;
        bool locked;
        bool ifaces_created; /* mirror_open() had to create ifaces/ */
        unsigned stale_locks_removed;
        atomic_uint_least64_t stage_seq; /* names the temp files of staged changes */
        /* Spare temp files, made ahead by a thread of their own so that a write does not wait
         * for an inode to be allocated (see mirror_stage). */
        pthread_mutex_t spare_lock;
        pthread_cond_t spare_cond;
        int spare_fd[MIRROR_SPARES];
        char spare_name[MIRROR_SPARES][32];
        size_t n_spares;
        bool spare_stop;
        bool spare_failed;           /* the last attempt failed: wait for the next take */
        _Atomic pid_t spare_pid;     /* the process the spare thread runs in, 0: none */
        pthread_mutex_t spare_setup; /* its start: writers take spares outside write_lock */
        atomic_bool no_tmpfile;      /* O_TMPFILE or /proc failed: spares are made with O_CREAT */
        pthread_t spare_thread;
        atomic_bool abort_waits; /* mirror_abort_waits(): lock waits give up */
        mirror_fault_fn fault;
};

static void fault(struct mirror *m, const char *point)
{
        if (m->fault)
                m->fault(point);
}

/* Defensive: the engine validates names more strictly before they get here. */
static bool name_is_ok(const char *name)
{
        size_t n;

        if (isempty(name) || name[0] == '.')
                return false;
        n = strnlen(name, MIRROR_NAME_MAX + 1);
        if (n > MIRROR_NAME_MAX)
                return false;
        return !memchr(name, '/', n);
}

static void safe_close(int *fd)
{
        if (*fd >= 0)
                (void)close(*fd);
        *fd = -1;
}

/* fsync(fd), its time counted to the write in progress (stats.h). */
static int fsync_fd(int fd)
{
        int64_t t = clock_usec(CLOCK_MONOTONIC);
        int r = fsync(fd) < 0 ? -errno : 0;

        stats_add_fsync(clock_usec(CLOCK_MONOTONIC) - t);
        return r;
}

static int fsync_parent(const char *path)
{
        _cleanup_(freep) char *copy = NULL;
        _cleanup_(closep) int fd = -1;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;

        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync_fd(fd);
}

/*
 * Open dir_fd/name as a directory, creating it with mode if missing. A directory we create gets
 * exactly mode (whatever the umask); an existing one keeps the mode the admin gave it.
 */
static int open_or_make_dir(int dir_fd, const char *name, mode_t mode, bool nofollow, int *ret)
{
        _cleanup_(closep) int fd = -1;
        bool made = false;

        if (mkdirat(dir_fd, name, mode) == 0)
                made = true;
        else if (errno != EEXIST)
                return -errno;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
        if (fd < 0)
                /* O_NOFOLLOW on a symlink gives ELOOP; it is not a directory of ours. */
                return errno == ELOOP ? -ENOTDIR : -errno;

        if (made) {
                int r;

                if (fchmod(fd, mode) < 0)
                        return -errno;
                /* Make the new entry durable in its parent. */
                r = dir_fd == AT_FDCWD ? fsync_parent(name) : fsync_fd(dir_fd);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_FD(fd);
        return 0;
}

static int check_writable(int dir_fd, const char *name)
{
        /* EROFS is reported for a read-only mount even to root; EACCES only to others. */
        if (faccessat(dir_fd, name, W_OK | X_OK, AT_EACCESS) < 0)
                return -errno;
        return 0;
}

static bool is_own_lock(const struct mirror *m, const struct stat *st)
{
        return st->st_dev == m->lock_src_dev && st->st_ino == m->lock_src_ino;
}

/*
 * Remove lock.write if it was made from our source file and no live instance can hold it.
 * Returns 1 if one was removed, 0 if not, or -errno.
 */
static int mirror_clean_stale_lock(struct mirror *m)
{
        struct stat st;
        int r = 0;

        if (m->locked)
                return 0;

        if (fstatat(m->lock_dir_fd, LOCK_WRITE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!is_own_lock(m, &st))
                return 0; /* iscsiadm's (or anybody else's): never ours to remove */

        /*
         * Upgrading our shared flock succeeds only when no other instance holds one, and only a
         * live instance could be holding the lock. The upgrade is not atomic, so whatever
         * happens we go back to a shared flock afterwards.
         */
        if (flock(m->lock_src_fd, LOCK_EX | LOCK_NB) == 0) {
                if (unlinkat(m->lock_dir_fd, LOCK_WRITE_NAME, 0) == 0) {
                        m->stale_locks_removed++;
                        r = 1;
                } else if (errno != ENOENT)
                        r = -errno;
        } else if (errno != EWOULDBLOCK)
                r = -errno;

        if (flock(m->lock_src_fd, LOCK_SH) < 0 && r >= 0)
                r = -errno;

        return r;
}

/* Open (creating if missing) our lock source file and hold a shared flock on it. */
static int mirror_open_lock_source(struct mirror *m)
{
        _cleanup_(closep) int fd = -1;
        struct stat st;

        fd = open_regular(m->lock_dir_fd, LOCK_SOURCE_NAME, O_RDWR | O_CREAT | O_NOFOLLOW, 0600,
                          &st);
        if (fd < 0)
                return fd;

        if (flock(fd, LOCK_SH) < 0)
                return -errno;

        safe_close(&m->lock_src_fd);
        m->lock_src_fd = TAKE_FD(fd);
        m->lock_src_dev = st.st_dev;
        m->lock_src_ino = st.st_ino;
        return 0;
}

/* --- spare temp files ------------------------------------------------------------------------ */

/*
 * The new empty file, unnamed (O_TMPFILE), then linked into the temp directory as name: an
 * inode allocation can be slow (ext4 without a journal skips every inode freed in the last
 * seconds, one by one), and an O_CREAT holds the temp directory's lock all along, which every
 * write's rename out of it waits for. -EOPNOTSUPP where the file system or /proc cannot.
 */
static int spare_make_unnamed(struct mirror *m, const char *name)
{
        char proc[64];
        int fd;

        fd = openat(m->tmp_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);
        if (fd < 0)
                return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? -EOPNOTSUPP :
                                                                                   -errno;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, m->tmp_fd, name, AT_SYMLINK_FOLLOW) < 0) {
                int r = errno == ENOENT ? -EOPNOTSUPP : -errno; /* no /proc */

                safe_close(&fd);
                return r;
        }
        return fd;
}

/* A new empty temp file (0600) in the temp directory: its fd, its name in name. */
static int spare_make(struct mirror *m, char name[32])
{
        int fd;

        snprintf(name, 32, "s%" PRIu64 MIRROR_TMP_SUFFIX, atomic_fetch_add(&m->stage_seq, 1) + 1);
        fd = atomic_load(&m->no_tmpfile) ? -EOPNOTSUPP : spare_make_unnamed(m, name);
        if (fd < 0) {
                /* Any failure tries the plain way; one that will last makes it the only way. */
                if (fd == -EOPNOTSUPP)
                        atomic_store(&m->no_tmpfile, true);
                fd = openat(m->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                            0600);
                if (fd < 0)
                        return -errno;
        }
        /* The umask may have narrowed the mode. */
        if (fchmod(fd, 0600) < 0) {
                int r = -errno;

                (void)unlinkat(m->tmp_fd, name, 0);
                safe_close(&fd);
                return r;
        }
        return fd;
}

/* Keep the spares at MIRROR_SPARES, starting again when half are taken. */
static void *spare_thread(void *arg)
{
        struct mirror *m = arg;

        (void)pthread_setname_np(pthread_self(), "ifd-spare");
        pthread_mutex_lock(&m->spare_lock);
        for (;;) {
                char name[32];
                int fd;

                while (!m->spare_stop && (m->n_spares >= MIRROR_SPARES / 2 || m->spare_failed))
                        pthread_cond_wait(&m->spare_cond, &m->spare_lock);
                if (m->spare_stop)
                        break;
                while (!m->spare_stop && m->n_spares < MIRROR_SPARES) {
                        pthread_mutex_unlock(&m->spare_lock);
                        fd = spare_make(m, name);
                        pthread_mutex_lock(&m->spare_lock);
                        if (fd < 0) {
                                /* A full disk, say: writes make their own until one is taken. */
                                m->spare_failed = true;
                                break;
                        }
                        m->spare_fd[m->n_spares] = fd;
                        memcpy(m->spare_name[m->n_spares++], name, sizeof(name));
                }
        }
        pthread_mutex_unlock(&m->spare_lock);
        return NULL;
}

/* Stop the spare thread of this process and remove the spares. */
static void spares_stop(struct mirror *m)
{
        if (atomic_load(&m->spare_pid) != self_pid())
                return;
        pthread_mutex_lock(&m->spare_lock);
        m->spare_stop = true;
        pthread_cond_broadcast(&m->spare_cond);
        pthread_mutex_unlock(&m->spare_lock);
        pthread_join(m->spare_thread, NULL);
        for (size_t i = 0; i < m->n_spares; i++) {
                (void)unlinkat(m->tmp_fd, m->spare_name[i], 0);
                safe_close(&m->spare_fd[i]);
        }
        m->n_spares = 0;
        atomic_store(&m->spare_pid, 0);
}

/*
 * Take a spare temp file (its fd, its name in name), or -EAGAIN if none is ready. The first call
 * in a process starts the spare thread: a forked child drops the parent's spares (their files are
 * the parent's) and makes its own.
 */
static int spare_take(struct mirror *m, char name[32])
{
        int fd = -EAGAIN;

        if (atomic_load(&m->spare_pid) != self_pid()) {
                pid_t owner = atomic_load(&m->spare_pid);

                /* In a forked child the parent's threads are gone, and a holder of the lock
                 * with them. */
                if (owner != 0 && owner != self_pid())
                        pthread_mutex_init(&m->spare_setup, NULL);
                pthread_mutex_lock(&m->spare_setup);
                if (atomic_load(&m->spare_pid) != self_pid()) {
                        /* No thread of this process uses the spares yet, so the lock and the
                         * list can be set up again. */
                        for (size_t i = 0; i < m->n_spares; i++)
                                safe_close(&m->spare_fd[i]);
                        m->n_spares = 0;
                        m->spare_stop = m->spare_failed = false;
                        pthread_mutex_init(&m->spare_lock, NULL);
                        pthread_cond_init(&m->spare_cond, NULL);
                        if (pthread_create(&m->spare_thread, NULL, spare_thread, m) != 0) {
                                pthread_mutex_unlock(&m->spare_setup);
                                return -EAGAIN;
                        }
                        atomic_store(&m->spare_pid, self_pid());
                }
                pthread_mutex_unlock(&m->spare_setup);
        }
        pthread_mutex_lock(&m->spare_lock);
        if (m->n_spares > 0) {
                m->n_spares--;
                fd = m->spare_fd[m->n_spares];
                memcpy(name, m->spare_name[m->n_spares], 32);
        }
        m->spare_failed = false;
        if (m->n_spares < MIRROR_SPARES / 2)
                pthread_cond_signal(&m->spare_cond);
        pthread_mutex_unlock(&m->spare_lock);
        return fd;
}

struct mirror *mirror_close(struct mirror *m)
{
        if (!m)
                return NULL;

        mirror_unlock(m);
        spares_stop(m);
        safe_close(&m->lock_src_fd);
        safe_close(&m->lock_dir_fd);
        safe_close(&m->instance_fd);
        safe_close(&m->tmp_fd);
        safe_close(&m->ifaces_fd);
        safe_close(&m->root_fd);
        free(m->ifaces_path);
        free(m->root_path);
        free(m);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct mirror *, mirror_close);

int mirror_open(const char *iscsi_root, const char *lock_dir, mirror_fault_fn fault_fn,
                struct mirror **ret)
{
        _cleanup_(mirror_closep) struct mirror *m = NULL;
        _cleanup_(freep) char *root_abs = NULL;
        struct stat st_ifaces, st_tmp;
        int r;

        assert_return(!isempty(iscsi_root), -EINVAL);
        assert_return(!isempty(lock_dir), -EINVAL);
        assert_return(ret, -EINVAL);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->root_fd = m->ifaces_fd = m->tmp_fd = -1;
        m->instance_fd = m->lock_dir_fd = m->lock_src_fd = -1;
        m->fault = fault_fn;
        pthread_mutex_init(&m->spare_setup, NULL);

        /* The db root itself is created when missing (one level, as a package would ship it). */
        r = open_or_make_dir(AT_FDCWD, iscsi_root, 0755, false, &m->root_fd);
        if (r < 0)
                return r;

        m->ifaces_created =
                fstatat(m->root_fd, MIRROR_IFACES_DIR, &st_ifaces, AT_SYMLINK_NOFOLLOW) < 0 &&
                errno == ENOENT;
        r = open_or_make_dir(m->root_fd, MIRROR_IFACES_DIR, 0700, false, &m->ifaces_fd);
        if (r < 0)
                return r;
        r = check_writable(m->root_fd, MIRROR_IFACES_DIR);
        if (r < 0)
                return r;

        r = open_or_make_dir(m->root_fd, MIRROR_TMP_DIR, 0700, true, &m->tmp_fd);
        if (r < 0)
                return r;
        r = check_writable(m->root_fd, MIRROR_TMP_DIR);
        if (r < 0)
                return r;

        /* rename(2) cannot cross filesystems: refuse now rather than on the first write. */
        if (fstat(m->ifaces_fd, &st_ifaces) < 0 || fstat(m->tmp_fd, &st_tmp) < 0)
                return -errno;
        if (st_ifaces.st_dev != st_tmp.st_dev)
                return -EXDEV;
        m->ifaces_dev = st_ifaces.st_dev;
        m->ifaces_ino = st_ifaces.st_ino;

        m->instance_fd = openat(m->tmp_fd, MIRROR_INSTANCE_LOCK,
                                O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (m->instance_fd < 0)
                return -errno;
        if (flock(m->instance_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;

        r = open_or_make_dir(AT_FDCWD, lock_dir, 0755, false, &m->lock_dir_fd);
        if (r < 0)
                return r;
        r = mirror_open_lock_source(m);
        if (r < 0)
                return r;
        r = mirror_clean_stale_lock(m);
        if (r < 0)
                return r;

        root_abs = realpath(iscsi_root, NULL);
        if (!root_abs)
                return -errno;
        m->root_path = strdup(root_abs);
        if (!m->root_path)
                return -ENOMEM;
        if (asprintf(&m->ifaces_path, "%s/" MIRROR_IFACES_DIR, root_abs) < 0) {
                m->ifaces_path = NULL;
                return -ENOMEM;
        }

        *ret = TAKE_PTR(m);
        return 0;
}

const char *mirror_ifaces_dir(const struct mirror *m)
{
        assert_return(m, NULL);

        return m->ifaces_path;
}

unsigned mirror_stale_locks_removed(const struct mirror *m)
{
        assert_return(m, 0);

        return m->stale_locks_removed;
}

int mirror_lock(struct mirror *m, unsigned timeout_ms)
{
        uint64_t deadline;
        bool refreshed = false;
        int r;

        assert_return(m, -EINVAL);
        assert_return(!m->locked, -EDEADLK);

        r = mirror_clean_stale_lock(m);
        if (r < 0)
                return r;

        deadline = (uint64_t)clock_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000;
        for (;;) {
                struct timespec ts = { .tv_nsec = LOCK_RETRY_USEC * 1000 };
                int dfd = m->lock_dir_fd;

                if (linkat(dfd, LOCK_SOURCE_NAME, dfd, LOCK_WRITE_NAME, 0) == 0)
                        break;

                if (errno == ENOENT && !refreshed) {
                        /* Somebody removed our source file: make a new one, once. */
                        r = mirror_open_lock_source(m);
                        if (r < 0)
                                return r;
                        refreshed = true;
                        continue;
                }
                if (errno != EEXIST)
                        return -errno;
                if (atomic_load(&m->abort_waits))
                        return -ESHUTDOWN;
                if ((uint64_t)clock_usec(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;

                (void)nanosleep(&ts, NULL);
        }

        m->locked = true;
        return 0;
}

void mirror_unlock(struct mirror *m)
{
        struct stat st;

        if (!m || !m->locked)
                return;
        m->locked = false;

        /* Only ever remove a lock.write that is still ours. */
        if (fstatat(m->lock_dir_fd, LOCK_WRITE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return;
        if (is_own_lock(m, &st))
                (void)unlinkat(m->lock_dir_fd, LOCK_WRITE_NAME, 0);
}

static int write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n;

                n = write(fd, data, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                len -= (size_t)n;
        }
        return 0;
}

static int tmp_name(const char *name, char **ret)
{
        if (asprintf(ret, "%s" MIRROR_TMP_SUFFIX, name) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Write the whole temp file and make it durable. */
static int mirror_write_tmp(struct mirror *m, const char *tmp, const char *data, size_t len)
{
        _cleanup_(closep) int fd = -1;
        int r;

        fd = openat(m->tmp_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;

        /* The umask may have narrowed the mode, and a leftover file may have had another. */
        if (fchmod(fd, 0600) < 0)
                return -errno;

        r = write_all(fd, data, len);
        if (r < 0)
                return r;

        r = fsync_fd(fd);
        if (r < 0)
                return r;

        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

int mirror_write(struct mirror *m, const char *name, const char *data, size_t len)
{
        _cleanup_(freep) char *tmp = NULL;
        int r;

        assert_return(m, -EINVAL);
        assert_return(data || len == 0, -EINVAL);
        if (!name_is_ok(name))
                return -EINVAL;
        r = durable_check("a write of ifaces/");
        if (r < 0)
                return r;

        r = tmp_name(name, &tmp);
        if (r < 0)
                return r;

        r = mirror_write_tmp(m, tmp, data, len);
        if (r < 0)
                goto fail;

        fault(m, "mirror-tmp-written");

        if (renameat(m->tmp_fd, tmp, m->ifaces_fd, name) < 0) {
                r = -errno;
                goto fail;
        }

        fault(m, "mirror-renamed");

        /* The rename is durable once the new entry in ifaces/ is. The temp directory is not
         * fsynced: if a power loss brought the old temp entry back, mirror_clean_temps()
         * removes it at the next start, so that flush would buy nothing. */
        return fsync_fd(m->ifaces_fd);

fail:
        (void)unlinkat(m->tmp_fd, tmp, 0);
        return r;
}

int mirror_remove(struct mirror *m, const char *name)
{
        assert_return(m, -EINVAL);
        if (!name_is_ok(name))
                return -EINVAL;

        if (unlinkat(m->ifaces_fd, name, 0) < 0)
                return errno == ENOENT ? 0 : -errno;

        return fsync_fd(m->ifaces_fd);
}

/*
 * Read the regular file name of dir_fd whole (at most max bytes). With print, *print is the
 * file's as read and *settled whether it can be trusted later: the file did not change while it
 * was read, and its last change was long enough ago (file_print_settled).
 */
static int read_at(int dir_fd, const char *name, size_t max, char **ret, size_t *ret_len,
                   struct file_print *print, bool *settled)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, alloc;
        struct stat st, st2;

        /* O_NONBLOCK so that a FIFO planted in ifaces/ cannot hang us before fstat rejects it. */
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size > (off_t)max)
                return -EFBIG;

        /* The file may change under us: read until EOF, but never past the cap. */
        alloc = (size_t)st.st_size + 1;
        buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t n;

                if (size + 1 == alloc) {
                        /* Full: one probing byte tells EOF from a file that grew. */
                        char probe, *p;

                        n = read(fd, &probe, 1);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (n == 0)
                                break;
                        if (size >= max)
                                return -EFBIG;

                        alloc = alloc * 2 > max + 1 ? max + 1 : alloc * 2;
                        p = realloc(buf, alloc);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        buf[size++] = probe;
                        continue;
                }

                n = read(fd, buf + size, alloc - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t)n;
        }

        buf[size] = '\0';
        if (print) {
                struct file_print p2;

                file_print_of(&st, print);
                if (fstat(fd, &st2) < 0)
                        return -errno;
                file_print_of(&st2, &p2);
                *settled = file_print_eq(print, &p2) && file_print_settled(print);
        }
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = size;
        return 0;
}

int mirror_read(struct mirror *m, const char *name, char **ret, size_t *ret_len)
{
        assert_return(m, -EINVAL);
        assert_return(ret, -EINVAL);
        if (!name_is_ok(name))
                return -EINVAL;
        return read_at(m->ifaces_fd, name, MIRROR_READ_MAX, ret, ret_len, NULL, NULL);
}

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

static void strv_freep(char ***v)
{
        strv_free(*v);
}

int mirror_read_print(struct mirror *m, const char *name, char **ret, size_t *ret_len,
                      struct file_print *print, bool *settled)
{
        assert_return(m && ret && print && settled, -EINVAL);
        if (!name_is_ok(name))
                return -EINVAL;
        return read_at(m->ifaces_fd, name, MIRROR_READ_MAX, ret, ret_len, print, settled);
}

int mirror_print(struct mirror *m, const char *name, struct file_print *ret)
{
        struct stat st;

        assert_return(m && ret, -EINVAL);
        if (!name_is_ok(name))
                return -EINVAL;
        if (fstatat(m->ifaces_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        file_print_of(&st, ret);
        return 0;
}

int mirror_state_read_all(struct mirror *m, const char *name, size_t max, char **ret,
                          size_t *ret_len)
{
        assert_return(m && name && ret, -EINVAL);
        return read_at(m->tmp_fd, name, max, ret, ret_len, NULL, NULL);
}

int mirror_state_remove(struct mirror *m, const char *name)
{
        assert_return(m && name, -EINVAL);
        if (unlinkat(m->tmp_fd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
        if (*d)
                (void)closedir(*d);
}

/* Open a fresh stream on dir_fd (its own file offset, so it can be read again later). */
static int open_dir_stream(int dir_fd, DIR **ret)
{
        _cleanup_(closep) int fd = -1;
        DIR *d;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);

        *ret = d;
        return 0;
}

int mirror_ifaces_stream(struct mirror *m, DIR **ret)
{
        assert_return(m && ret, -EINVAL);
        return open_dir_stream(m->ifaces_fd, ret);
}

int mirror_list(struct mirror *m, char ***ret_names, size_t *ret_n)
{
        DIR *d = NULL;
        int r;

        assert_return(ret_names, -EINVAL);
        r = mirror_ifaces_stream(m, &d);
        if (r < 0)
                return r;
        return mirror_list_stream(d, ret_names, ret_n);
}

int mirror_list_stream(DIR *stream, char ***ret_names, size_t *ret_n)
{
        _cleanup_(closedirp) DIR *d = stream;
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0, alloc = 0;

        assert_return(d && ret_names, -EINVAL);

        names = calloc(1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        alloc = 1;

        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                if (n + 2 > alloc) {
                        char **p;

                        p = reallocarray(names, alloc * 2, sizeof(char *));
                        if (!p)
                                return -ENOMEM;
                        names = p;
                        alloc *= 2;
                }
                names[n] = strdup(de->d_name);
                if (!names[n])
                        return -ENOMEM;
                names[++n] = NULL;
        }

        /* strcmp order is alphasort in the C locale, the order iscsiadm lists files in. */
        qsort(names, n, sizeof(char *), cmp_str);

        *ret_names = TAKE_PTR(names);
        if (ret_n)
                *ret_n = n;
        return 0;
}

static bool is_tmp_name(const char *s)
{
        size_t n = strlen(s), k = strlen(MIRROR_TMP_SUFFIX);

        return n > k && streq(s + n - k, MIRROR_TMP_SUFFIX);
}

int mirror_clean_temps(struct mirror *m)
{
        _cleanup_(closedirp) DIR *d = NULL;
        struct stat st;
        bool removed = false, empty;
        int count = 0, r;

        assert_return(m, -EINVAL);

        r = open_dir_stream(m->tmp_fd, &d);
        if (r < 0)
                return r;

        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (!is_tmp_name(de->d_name))
                        continue;

                /* An empty one is a spare that no write used: not counted. */
                empty = fstatat(m->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                        S_ISREG(st.st_mode) && st.st_size == 0;
                /* Only files are ours to remove; a directory of that name is left alone. */
                if (unlinkat(m->tmp_fd, de->d_name, 0) < 0) {
                        if (errno == ENOENT || errno == EISDIR)
                                continue;
                        return -errno;
                }
                removed = true;
                if (!empty)
                        count++;
        }

        if (removed) {
                r = fsync_fd(m->tmp_fd);
                if (r < 0)
                        return r;
        }

        return count;
}

int mirror_state_write(struct mirror *m, const char *name, const char *data, size_t len)
{
        _cleanup_(freep) char *tmp = NULL;
        int r;

        assert_return(m && name && !strchr(name, '/'), -EINVAL);

        r = tmp_name(name, &tmp);
        if (r < 0)
                return r;
        r = mirror_write_tmp(m, tmp, data, len);
        if (r < 0)
                goto fail;
        if (renameat(m->tmp_fd, tmp, m->tmp_fd, name) < 0) {
                r = -errno;
                goto fail;
        }
        return fsync_fd(m->tmp_fd);
fail:
        (void)unlinkat(m->tmp_fd, tmp, 0);
        return r;
}

int mirror_state_read(struct mirror *m, const char *name, char *buf, size_t size)
{
        _cleanup_(closep) int fd = -1;
        ssize_t n;

        assert_return(m && name && buf && size > 0, -EINVAL);

        fd = openat(m->tmp_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return (int)n;
}

void mirror_abort_waits(struct mirror *m)
{
        if (m)
                atomic_store(&m->abort_waits, true);
}

int mirror_ifaces_check(struct mirror *m)
{
        struct stat st;

        assert_return(m, -EINVAL);

        /* By path: a moved or replaced root counts as well as a moved or replaced ifaces/. */
        if (lstat(m->ifaces_path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_dev != m->ifaces_dev || st.st_ino != m->ifaces_ino)
                return -ESTALE;
        return 0;
}

int mirror_ifaces_reopen(struct mirror *m)
{
        _cleanup_(closep) int fd = -1;
        struct stat st, st_tmp;
        bool same;

        assert_return(m, -EINVAL);

        fd = open(m->ifaces_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ELOOP ? -ENOTDIR : -errno;
        if (fstat(fd, &st) < 0 || fstat(m->tmp_fd, &st_tmp) < 0)
                return -errno;
        /* Temp files are renamed into it: it must be on the filesystem of .iscsi-ifaced/. */
        if (st.st_dev != st_tmp.st_dev)
                return -EXDEV;
        if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0)
                return -errno;

        same = st.st_dev == m->ifaces_dev && st.st_ino == m->ifaces_ino;
        safe_close(&m->ifaces_fd);
        m->ifaces_fd = TAKE_FD(fd);
        m->ifaces_dev = st.st_dev;
        m->ifaces_ino = st.st_ino;
        return same ? 1 : 0;
}

/* Processes whose command name is iscsiadm: who may hold its lock (it records no owner). */
static void find_iscsiadm(char *buf, size_t size)
{
        _cleanup_(closedirp) DIR *d = NULL;
        size_t used = 0;
        unsigned n = 0;

        buf[0] = 0;
        d = opendir("/proc");
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                char path[64], comm[32] = "";
                _cleanup_(closep) int fd = -1;
                ssize_t k;

                if (de->d_name[0] < '1' || de->d_name[0] > '9' || strlen(de->d_name) > 10)
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                k = read(fd, comm, sizeof(comm) - 1);
                if (k <= 0)
                        continue;
                comm[k] = 0;
                comm[strcspn(comm, "\n")] = 0;
                if (!streq(comm, "iscsiadm"))
                        continue;
                if (n++ < 4 && used + 16 < size)
                        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                                                 de->d_name);
        }
}

int mirror_lock_info(struct mirror *m, struct mirror_lock_info *ret)
{
        struct stat st, src;
        int64_t now;

        assert_return(m && ret, -EINVAL);

        *ret = (struct mirror_lock_info){};
        if (fstatat(m->lock_dir_fd, LOCK_WRITE_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        ret->held = true;
        ret->ours = is_own_lock(m, &st);
        /* link() changes the inode's ctime: the age of the newest link, i.e. of the lock. */
        now = clock_usec(CLOCK_REALTIME);
        ret->age_usec = now - ((int64_t)st.st_ctim.tv_sec * 1000000 + st.st_ctim.tv_nsec / 1000);
        if (ret->age_usec < 0)
                ret->age_usec = 0;
        if (ret->ours)
                snprintf(ret->holder, sizeof(ret->holder), "iscsi-ifaced");
        else if (fstatat(m->lock_dir_fd, "lock", &src, AT_SYMLINK_NOFOLLOW) == 0 &&
                 src.st_dev == st.st_dev && src.st_ino == st.st_ino) {
                char pids[64];

                find_iscsiadm(pids, sizeof(pids));
                if (pids[0])
                        snprintf(ret->holder, sizeof(ret->holder), "iscsiadm (pid %s)", pids);
                else
                        snprintf(ret->holder, sizeof(ret->holder),
                                 "iscsiadm (none is running now: perhaps left behind by a "
                                 "crash; remove lock.write if so)");
        } else
                snprintf(ret->holder, sizeof(ret->holder), "unknown (not a link of 'lock')");
        return 0;
}

const char *mirror_read_strerror(int r)
{
        switch (r) {
        case -ELOOP:
                return "a symbolic link";
        case -EISDIR:
                return "a directory";
        case -EINVAL:
                return "not a regular file (a FIFO, socket or device)";
        case -EFBIG:
                return "larger than 1 MiB";
        default:
                return strerror(-r);
        }
}

bool mirror_ifaces_created(const struct mirror *m)
{
        return m && m->ifaces_created;
}

/* --- the node db: nodes/ and send_targets/ --------------------------------------------------- */

#define PATH_DEPTH_MAX 4

/* A root-relative path split into checked components. */
struct split_path {
        char buf[PATH_MAX];
        const char *comp[PATH_DEPTH_MAX];
        size_t n;
};

/*
 * Split path into 2..PATH_DEPTH_MAX components, each a plain name: not empty, not starting
 * with '.', at most MIRROR_NAME_MAX bytes. The first must be "nodes" or "send_targets".
 */
static int split_path(const char *path, struct split_path *ret)
{
        char *p, *save = NULL;

        if (isempty(path) || strlen(path) >= sizeof(ret->buf) || path[0] == '/')
                return -EINVAL;
        strcpy(ret->buf, path);
        ret->n = 0;
        for (p = strtok_r(ret->buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
                if (ret->n == PATH_DEPTH_MAX || !name_is_ok(p))
                        return -EINVAL;
                ret->comp[ret->n++] = p;
        }
        if (ret->n < 2 || (!streq(ret->comp[0], "nodes") && !streq(ret->comp[0], "send_targets") &&
                           !streq(ret->comp[0], "static")))
                return -EINVAL;
        /* No empty component ("a//b") slipped through strtok_r. */
        if (strstr(path, "//") || path[strlen(path) - 1] == '/')
                return -EINVAL;
        return 0;
}

static void close_fds(int *fds, size_t n)
{
        for (size_t i = 0; i < n; i++)
                safe_close(&fds[i]);
}

/*
 * Open the directories of sp's components but the last, never following a symlink, creating
 * missing ones (0700, durably) when create. fds[i] is the directory comp[i]; on failure none is
 * left open. Returns 0, -ENOENT (a directory is missing, !create), -ENOTDIR (something else
 * stands there), or -errno.
 */
static int walk_dirs(struct mirror *m, const struct split_path *sp, bool create,
                     int fds[PATH_DEPTH_MAX])
{
        for (size_t i = 0; i + 1 < sp->n; i++) {
                int parent = i == 0 ? m->root_fd : fds[i - 1], r;

                if (create)
                        r = open_or_make_dir(parent, sp->comp[i], 0700, true, &fds[i]);
                else {
                        fds[i] = openat(parent, sp->comp[i],
                                        O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        r = fds[i] < 0 ? (errno == ELOOP ? -ENOTDIR : -errno) : 0;
                }
                if (r < 0) {
                        fds[i] = -1;
                        close_fds(fds, i);
                        return r;
                }
        }
        return 0;
}

int mirror_path_read_print(struct mirror *m, const char *path, char **ret, size_t *ret_len,
                           struct file_print *print, bool *settled)
{
        struct split_path sp;
        int fds[PATH_DEPTH_MAX] = { -1, -1, -1, -1 };
        int r;

        assert_return(m && ret && !print == !settled, -EINVAL);
        r = split_path(path, &sp);
        if (r < 0)
                return r;
        r = walk_dirs(m, &sp, false, fds);
        if (r < 0)
                return r == -ENOTDIR ? -EINVAL : r;
        r = read_at(fds[sp.n - 2], sp.comp[sp.n - 1], MIRROR_READ_MAX, ret, ret_len, print,
                    settled);
        close_fds(fds, sp.n - 1);
        return r;
}

int mirror_path_read(struct mirror *m, const char *path, char **ret, size_t *ret_len)
{
        return mirror_path_read_print(m, path, ret, ret_len, NULL, NULL);
}

int mirror_path_write(struct mirror *m, const char *path, const char *data, size_t len)
{
        struct split_path sp;
        int fds[PATH_DEPTH_MAX] = { -1, -1, -1, -1 };
        const char *tmp = "node" MIRROR_TMP_SUFFIX;
        int r;

        assert_return(m, -EINVAL);
        assert_return(data || len == 0, -EINVAL);
        r = split_path(path, &sp);
        if (r < 0)
                return r;
        r = durable_check("a write of nodes/");
        if (r < 0)
                return r;
        r = walk_dirs(m, &sp, true, fds);
        if (r < 0)
                return r;

        r = mirror_write_tmp(m, tmp, data, len);
        if (r < 0)
                goto fail;
        fault(m, "mirror-tmp-written");
        if (renameat(m->tmp_fd, tmp, fds[sp.n - 2], sp.comp[sp.n - 1]) < 0) {
                r = -errno;
                goto fail;
        }
        fault(m, "mirror-renamed");
        r = fsync_fd(fds[sp.n - 2]);
        close_fds(fds, sp.n - 1);
        return r;
fail:
        (void)unlinkat(m->tmp_fd, tmp, 0);
        close_fds(fds, sp.n - 1);
        return r;
}

/* Remove the empty directories of sp from level down to keep (exclusive), durably. */
static int remove_empty_dirs(struct mirror *m, const struct split_path *sp, int *fds, size_t from,
                             size_t keep)
{
        for (size_t i = from + 1; i-- > keep;) {
                int parent = i == 0 ? m->root_fd : fds[i - 1];

                if (unlinkat(parent, sp->comp[i], AT_REMOVEDIR) < 0) {
                        if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT)
                                return 0;
                        return -errno;
                }
                int r = fsync_fd(parent);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Open the directories of sp as far as they exist (never following a link): *ret_n of them. */
static int walk_existing(struct mirror *m, const struct split_path *sp, int fds[PATH_DEPTH_MAX],
                         size_t *ret_n)
{
        size_t i;

        for (i = 0; i + 1 < sp->n; i++) {
                fds[i] = openat(i == 0 ? m->root_fd : fds[i - 1], sp->comp[i],
                                O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fds[i] < 0) {
                        int e = errno;

                        if (e == ENOENT)
                                break; /* fds[0..i-1] stay open for the caller */
                        close_fds(fds, i);
                        return e == ELOOP ? -ENOTDIR : -e;
                }
        }
        *ret_n = i;
        return 0;
}

/*
 * Remove the file at path (with remove_file), then the directories it leaves empty, as far up
 * as keep_levels; levels already gone (an interrupted remove) are skipped, so the directories
 * above them still go.
 */
static int path_remove(struct mirror *m, const char *path, unsigned keep_levels, bool remove_file)
{
        struct split_path sp;
        int fds[PATH_DEPTH_MAX] = { -1, -1, -1, -1 };
        struct stat st;
        size_t n = 0;
        int r;

        assert_return(m, -EINVAL);
        r = split_path(path, &sp);
        if (r < 0)
                return r;
        r = walk_existing(m, &sp, fds, &n);
        if (r < 0)
                return r;
        if (remove_file && n == sp.n - 1) {
                /* Only a regular file is ours to remove: never a directory or a link's target. */
                if (fstatat(fds[n - 1], sp.comp[n], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        r = errno == ENOENT ? 0 : -errno;
                else if (!S_ISREG(st.st_mode))
                        r = -EISDIR;
                else if (unlinkat(fds[n - 1], sp.comp[n], 0) < 0)
                        r = -errno;
                else
                        r = fsync_fd(fds[n - 1]);
        }
        if (r >= 0 && n > 0)
                r = remove_empty_dirs(m, &sp, fds, n - 1, keep_levels);
        close_fds(fds, n);
        return r;
}

int mirror_path_remove(struct mirror *m, const char *path, unsigned keep_levels)
{
        return path_remove(m, path, keep_levels, true);
}

int mirror_path_prune(struct mirror *m, const char *path, unsigned keep_levels)
{
        return path_remove(m, path, keep_levels, false);
}

/* --- staged changes, for a group commit ------------------------------------------------------ */

/* The checks of a stage for path, and its directory: 0 with *s set up, or -errno. */
static int stage_init(struct mirror *m, const char *path, bool node, struct mirror_staged *s)
{
        struct split_path sp;
        int r;

        *s = (struct mirror_staged){ .dir_fd = -1, .tmp_fd = -1, .node = node, .path = path };
        r = durable_check(node ? "a write of nodes/" : "a write of ifaces/");
        if (r < 0)
                return r;
        if (!node) {
                if (!name_is_ok(path))
                        return -EINVAL;
                s->dir_fd = m->ifaces_fd;
                return 0;
        }
        /* The directories are opened (and made) when the file is placed, after the intent: a
         * crash never leaves a new empty one that no intent names. */
        return split_path(path, &sp);
}

/* A temp file holding data: its fd, its name in name. */
static int temp_write(struct mirror *m, const char *data, size_t len, char name[32])
{
        int fd, r;

        /* A spare made ahead, or a new one: creating a file can cost far more than writing it
         * (an inode allocation that scans its group's bitmap). */
        fd = spare_take(m, name);
        if (fd < 0)
                fd = spare_make(m, name);
        if (fd < 0) {
                name[0] = '\0';
                return fd;
        }
        r = write_all(fd, data, len);
        if (r < 0) {
                (void)unlinkat(m->tmp_fd, name, 0);
                name[0] = '\0';
                safe_close(&fd);
                return r;
        }
        fault(m, "mirror-tmp-written");
        return fd;
}

int mirror_stage(struct mirror *m, const char *path, bool node, const char *data, size_t len,
                 struct mirror_staged *ret)
{
        struct mirror_staged s;
        int r;

        assert_return(m && path && ret, -EINVAL);
        r = stage_init(m, path, node, &s);
        if (r < 0)
                return r;
        if (data) {
                s.tmp_fd = temp_write(m, data, len, s.tmp);
                if (s.tmp_fd < 0)
                        return s.tmp_fd;
        }
        *ret = s;
        return 0;
}

int mirror_temp_write(struct mirror *m, const char *data, size_t len, bool sync,
                      struct mirror_temp *ret)
{
        struct mirror_temp t = { .fd = -1 };
        int r;

        assert_return(m && data && ret, -EINVAL);
        *ret = (struct mirror_temp){ .fd = -1 };
        r = durable_check("a write of the iscsi db root");
        if (r < 0)
                return r;
        t.fd = temp_write(m, data, len, t.name);
        if (t.fd < 0)
                return t.fd;
        if (sync) {
                r = fsync_fd(t.fd);
                if (r < 0) {
                        mirror_temp_drop(m, &t);
                        return r;
                }
                safe_close(&t.fd);
        } else
                /* Its data on its way to the disk now; the batch's fsync waits for less. */
                (void)sync_file_range(t.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        *ret = t;
        return 0;
}

int mirror_stage_temp(struct mirror *m, const char *path, bool node, struct mirror_temp *pre,
                      struct mirror_staged *ret)
{
        struct mirror_staged s;
        int r;

        assert_return(m && path && pre && pre->name[0] && ret, -EINVAL);
        r = stage_init(m, path, node, &s);
        if (r < 0)
                return r;
        /* Taken over: a synced one is as mirror_staged_sync() leaves it (closed). */
        s.tmp_fd = TAKE_FD(pre->fd);
        memcpy(s.tmp, pre->name, sizeof(s.tmp));
        pre->name[0] = '\0';
        *ret = s;
        return 0;
}

void mirror_temp_drop(struct mirror *m, struct mirror_temp *t)
{
        /* Nothing without a name: a zeroed one (fd 0 is not ours). */
        if (!m || !t || !t->name[0])
                return;
        (void)unlinkat(m->tmp_fd, t->name, 0);
        t->name[0] = '\0';
        safe_close(&t->fd);
}

/* Open the directory of a node path's entry, making the missing ones for a write (durably). */
static int staged_open_dir(struct mirror *m, struct mirror_staged *s)
{
        int fds[PATH_DEPTH_MAX] = { -1, -1, -1, -1 };
        struct split_path sp;
        int r;

        r = split_path(s->path, &sp);
        if (r < 0)
                return r;
        r = walk_dirs(m, &sp, !!s->tmp[0], fds);
        if (r < 0)
                return r;
        s->dir_fd = TAKE_FD(fds[sp.n - 2]);
        s->own_dir = true;
        close_fds(fds, sp.n - 2);
        strcpy(s->entry, sp.comp[sp.n - 1]);
        return 0;
}

int mirror_staged_sync(struct mirror *m, struct mirror_staged *s)
{
        int r;

        assert_return(m && s, -EINVAL);
        if (s->tmp_fd < 0)
                return 0;
        r = fsync_fd(s->tmp_fd);
        if (r < 0)
                return r;
        if (close(TAKE_FD(s->tmp_fd)) < 0)
                return -errno;
        return 0;
}

int mirror_staged_place(struct mirror *m, struct mirror_staged *s)
{
        struct stat st;

        assert_return(m && s && s->tmp_fd < 0, -EINVAL);
        if (s->node && s->dir_fd < 0) {
                int r = staged_open_dir(m, s);

                if (r == -ENOENT && !s->tmp[0])
                        return 0; /* a removal with nothing there */
                if (r < 0)
                        return r;
        }
        if (s->tmp[0]) {
                if (renameat(m->tmp_fd, s->tmp, s->dir_fd, s->node ? s->entry : s->path) < 0)
                        return -errno;
                s->tmp[0] = '\0';
                s->placed = true;
                fault(m, "mirror-renamed");
                return 0;
        }
        if (s->dir_fd < 0)
                return 0;
        /* Only a regular file of the node db is ours to remove: never a directory. */
        if (s->node && fstatat(s->dir_fd, s->entry, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISREG(st.st_mode))
                return -EISDIR;
        if (unlinkat(s->dir_fd, s->node ? s->entry : s->path, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        s->placed = true;
        return 0;
}

int mirror_dirs_sync(struct mirror *m, struct mirror_staged *const *v, size_t n)
{
        bool ifaces_done = false;

        assert_return(m && (v || n == 0), -EINVAL);
        for (size_t i = 0; i < n; i++) {
                struct stat a, b;
                bool seen = false;
                int r;

                if (!v[i]->placed)
                        continue;
                if (v[i]->dir_fd == m->ifaces_fd) {
                        if (ifaces_done)
                                continue;
                        ifaces_done = true;
                } else {
                        if (fstat(v[i]->dir_fd, &a) < 0)
                                return -errno;
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = v[j]->placed && v[j]->dir_fd != m->ifaces_fd &&
                                       fstat(v[j]->dir_fd, &b) == 0 && a.st_dev == b.st_dev &&
                                       a.st_ino == b.st_ino;
                        if (seen)
                                continue;
                }
                r = fsync_fd(v[i]->dir_fd);
                if (r < 0)
                        return r;
        }
        return 0;
}

void mirror_staged_done(struct mirror *m, struct mirror_staged *s)
{
        if (!m || !s)
                return;
        if (s->tmp[0]) {
                (void)unlinkat(m->tmp_fd, s->tmp, 0);
                s->tmp[0] = '\0';
        }
        safe_close(&s->tmp_fd);
        if (s->own_dir)
                safe_close(&s->dir_fd);
        s->dir_fd = -1;
        s->own_dir = false;
}

int mirror_link_set(struct mirror *m, const char *path, const char *target)
{
        struct split_path sp;
        int fds[PATH_DEPTH_MAX] = { -1, -1, -1, -1 };
        struct stat st;
        int r, dfd;

        assert_return(m && target, -EINVAL);
        r = split_path(path, &sp);
        if (r < 0)
                return r;
        r = walk_dirs(m, &sp, true, fds);
        if (r < 0)
                return r;
        dfd = fds[sp.n - 2];
        if (fstatat(dfd, sp.comp[sp.n - 1], &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (!S_ISLNK(st.st_mode))
                        r = -EEXIST; /* not a link: not ours */
                else if (unlinkat(dfd, sp.comp[sp.n - 1], 0) < 0)
                        r = -errno;
        }
        if (r >= 0 && symlinkat(target, dfd, sp.comp[sp.n - 1]) < 0)
                r = -errno;
        if (r >= 0)
                r = fsync_fd(dfd);
        close_fds(fds, sp.n - 1);
        return r;
}

int mirror_link_remove(struct mirror *m, const char *path)
{
        struct split_path sp;
        int fds[PATH_DEPTH_MAX] = { -1, -1, -1, -1 };
        struct stat st;
        int r, dfd;

        assert_return(m, -EINVAL);
        r = split_path(path, &sp);
        if (r < 0)
                return r;
        r = walk_dirs(m, &sp, false, fds);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        dfd = fds[sp.n - 2];
        if (fstatat(dfd, sp.comp[sp.n - 1], &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = errno == ENOENT ? 0 : -errno;
        else if (S_ISLNK(st.st_mode)) {
                if (unlinkat(dfd, sp.comp[sp.n - 1], 0) < 0)
                        r = -errno;
                else
                        r = fsync_fd(dfd);
        }
        close_fds(fds, sp.n - 1);
        return r;
}

const char *mirror_root(const struct mirror *m)
{
        return m->root_path;
}

/* --- scanning the node db --- */

struct scan_state {
        bool collect; /* the entries too, not only the signature */
        struct mirror_node_entry *items;
        size_t n, alloc;
        uint64_t sig;
};

static void sig_mix(uint64_t *h, const void *data, size_t n)
{
        const unsigned char *p = data;

        for (size_t i = 0; i < n; i++) {
                *h ^= p[i];
                *h *= 1099511628211ULL;
        }
}

static void sig_stat(uint64_t *h, const char *path, const struct stat *st)
{
        sig_mix(h, path, strlen(path) + 1);
        sig_mix(h, &st->st_ino, sizeof(st->st_ino));
        sig_mix(h, &st->st_mode, sizeof(st->st_mode));
        sig_mix(h, &st->st_size, sizeof(st->st_size));
        sig_mix(h, &st->st_mtim, sizeof(st->st_mtim));
        sig_mix(h, &st->st_ctim, sizeof(st->st_ctim));
}

static int scan_add(struct scan_state *s, const char *path, const struct stat *st)
{
        if (!s->collect)
                return 0;
        if (s->n == s->alloc) {
                size_t na = s->alloc ? s->alloc * 2 : 64;
                struct mirror_node_entry *p = reallocarray(s->items, na, sizeof(*p));

                if (!p)
                        return -ENOMEM;
                s->items = p;
                s->alloc = na;
        }
        s->items[s->n] = (struct mirror_node_entry){
                .path = strdup(path),
                .type = S_ISREG(st->st_mode) ? MIRROR_ENTRY_FILE :
                        S_ISDIR(st->st_mode) ? MIRROR_ENTRY_DIR :
                        S_ISLNK(st->st_mode) ? MIRROR_ENTRY_LINK :
                                               MIRROR_ENTRY_OTHER,
        };
        file_print_of(st, &s->items[s->n].print);
        if (!s->items[s->n].path)
                return -ENOMEM;
        s->n++;
        return 0;
}

/* Visit the entries of dir_fd (path prefix), depth levels down, skipping hidden names. */
static int scan_dir(struct scan_state *s, int dir_fd, const char *prefix, unsigned depth)
{
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        r = open_dir_stream(dir_fd, &d);
        if (r < 0)
                return r;
        for (;;) {
                char path[PATH_MAX];
                struct dirent *de;
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno ? -errno : 0;
                if (de->d_name[0] == '.')
                        continue;
                if (snprintf(path, sizeof(path), "%s/%s", prefix, de->d_name) >= (int)sizeof(path))
                        continue;
                if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                sig_stat(&s->sig, path, &st);
                if (S_ISDIR(st.st_mode) && depth > 0) {
                        _cleanup_(closep) int fd = -1;

                        fd = openat(dir_fd, de->d_name,
                                    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (fd < 0) {
                                if (errno == ENOENT)
                                        continue;
                                return -errno;
                        }
                        r = scan_dir(s, fd, path, depth - 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = scan_add(s, path, &st);
                if (r < 0)
                        return r;
        }
}

void mirror_node_entries_free(struct mirror_node_entry *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].path);
        free(v);
}

int mirror_nodes_scan(struct mirror *m, struct mirror_node_entry **ret, size_t *ret_n,
                      uint64_t *ret_sig)
{
        static const struct {
                const char *dir;
                unsigned depth;
        } tops[] = { { "nodes", 2 }, { "send_targets", 1 } };
        struct scan_state s = { .collect = ret != NULL, .sig = 1469598103934665603ULL };
        int r = 0;

        assert_return(m, -EINVAL);
        for (size_t i = 0; i < ELEMENTSOF(tops) && r >= 0; i++) {
                _cleanup_(closep) int fd = -1;
                struct stat st;

                fd = openat(m->root_fd, tops[i].dir,
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = errno == ELOOP ? -ENOTDIR : -errno;
                        break;
                }
                if (fstat(fd, &st) == 0)
                        sig_stat(&s.sig, tops[i].dir, &st);
                r = scan_dir(&s, fd, tops[i].dir, tops[i].depth);
        }
        if (r < 0) {
                mirror_node_entries_free(s.items, s.n);
                return r;
        }
        if (ret) {
                *ret = s.items;
                *ret_n = s.n;
        } else
                mirror_node_entries_free(s.items, s.n);
        if (ret_sig)
                *ret_sig = s.sig;
        return 0;
}
