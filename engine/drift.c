/* SPDX-License-Identifier: MIT */
/*
 * Drift: bringing the index in line with the files of ifaces/ that iscsiadm or an admin changed
 * (at start, on SIGHUP, and from the inotify watcher thread), and keeping the records when
 * ifaces/ itself is removed or replaced, until a directory is back and taken over.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "engine-internal.h"
#include "hash.h"
#include "log.h"
#include "mirror.h"
#include "stats.h"
#include "store.h"
#include "uevent.h"

#define WATCH_SETTLE_MS     50              /* gather a burst of events before reconciling */
#define WATCH_FULL_SCAN_MS  60000           /* safety net: a full pass this often */
#define WATCH_ROOT_CHECK_MS 1000            /* is ifaces/ still there: this often */
#define SESSIONS_WATCH_USEC (1000LL * 1000) /* engine_sessions_watch: this often */
#define UEVENT_SETTLE_MS    20 /* a login's burst of uevents (session, host, device, disk) */

/* --- the ifaces/ directory itself ---------------------------------------------------------- */

/* Why ifaces/ is not usable now, for messages: r from mirror_ifaces_check(). */
const char *root_fault_str(int r)
{
        switch (r) {
        case -ENOENT:
                return "was removed";
        case -ESTALE:
                return "was moved or replaced by another directory";
        case -ENOTDIR:
                return "was replaced by something that is not a directory";
        default:
                return "cannot be checked";
        }
}

/* A record kept while its file is gone (struct iface_snap's missing). */
static void missing_problem(struct engine *e, const char *name)
{
        problem_set(e, name, "missing",
                    "no file in '%s' since the directory was replaced or removed; the record is "
                    "kept: POST /api/v1/admin/restore-files writes it back, DELETE drops it",
                    mirror_ifaces_dir(e->mirror));
}

/*
 * Keep every record whose file is not in ifaces/ now, marked "missing", instead of taking the
 * absence for a deletion: after ifaces/ was replaced (or created anew at start while the db
 * has records), a missing file says nothing about what the admin wants. Holding write_lock and
 * the mirror lock. Returns how many were marked.
 */
size_t mark_missing(struct engine *e)
{
        size_t n = 0;

        for (size_t i = 0; i < e->n_idx; i++) {
                const char *name = e->idx[i]->rec.name;
                _cleanup_free_ char *data = NULL;

                if (mirror_read(e->mirror, name, &data, NULL) != -ENOENT)
                        continue;
                e->idx[i]->missing = true;
                missing_problem(e, name);
                n++;
        }
        return n;
}

/*
 * Is ifaces/ still the directory we opened? Holding write_lock and the mirror lock. A vanished
 * or replaced directory is a fault (health failing, writes refused), never the removal of every
 * record. When a directory is at the path again it is taken over: the same one (moved back) is
 * simply used again; another one is used with every record it lacks kept as "missing". Returns
 * 1 (taken over now: the caller watches it and reconciles it whole), 0 (ours), or the fault.
 */
static int root_settle(struct engine *e)
{
        int r, fault = mirror_ifaces_check(e->mirror);

        if (fault == 0) {
                if (atomic_exchange(&e->root_fault, 0) != 0) {
                        log_notice("'%s' is back: writes are accepted again",
                                   mirror_ifaces_dir(e->mirror));
                        return 1;
                }
                return 0;
        }
        if (fault == -ESTALE) {
                r = mirror_ifaces_reopen(e->mirror);
                if (r >= 0) {
                        size_t n = r == 0 ? mark_missing(e) : 0;

                        atomic_store(&e->root_fault, 0);
                        log_notice("Took over the directory now at '%s'%s; %zu record(s) without "
                                   "a file there are kept as missing",
                                   mirror_ifaces_dir(e->mirror),
                                   r == 1 ? " (the one we had, moved back)" : " (a new one)", n);
                        return 1;
                }
                fault = r;
        }
        if (atomic_exchange(&e->root_fault, fault) != fault)
                log_error("'%s' %s while the daemon runs: writes are refused until it is back; "
                          "the records are kept",
                          mirror_ifaces_dir(e->mirror), root_fault_str(fault));
        return fault;
}

/* --- reconciliation ------------------------------------------------------------------------ */

/* Import a change found in the db root (the file is already there), holding write_lock. */
static int commit_external(struct engine *e, const char *name, struct iface_rec *rec,
                           const char *content, size_t len, const struct iface_snap *old)
{
        _cleanup_(iface_snap_unrefp) struct iface_snap *snap = NULL;
        uint64_t rev = e->revision + 1;
        int64_t now = clock_usec(CLOCK_REALTIME);
        const char *action = !content ? "delete" : old ? "update" : "create";
        int r;

        r = store_apply(e->store, &(struct store_change){
                                          .name = name,
                                          .content = content,
                                          .revision = rev,
                                          .origin = "external",
                                          .now_usec = now,
                                          .action = action,
                                          .actor = "iscsi db root",
                                          .before = old ? old->content : NULL,
                                  });
        if (r < 0)
                return log_error_errno(r, "Failed to import 'ifaces/%s'", name);
        e->revision = rev;

        if (content) {
                r = snap_new(rec, content, len, rev, "external", old ? old->created_usec : now, now,
                             &snap);
                if (r < 0)
                        return r;
                r = snap_check_valid(e, snap);
                if (r < 0)
                        return r;
                r = idx_set(e, name, TAKE_PTR(snap), NULL);
        } else
                r = idx_set(e, name, NULL, "external");
        if (r < 0)
                return r;

        event_record(e, name, !content ? "removed" : old ? "changed" : "added", rev);
        log_info("Imported external change of 'ifaces/%s' as revision %" PRIu64 " (%s)", name, rev,
                 !content ? "removed" :
                 old      ? "changed" :
                            "added");
        return 0;
}

/* --- start-up prints ------------------------------------------------------------------------ */

#define START_PRINTS_MAGIC "iscsi-ifaced-start-prints 3" /* 3: hash64() of four lanes */
#define START_PRINTS_MAX   (64 * 1024 * 1024)

static int start_print_cmp(const void *a, const void *b)
{
        return strcmp(((const struct start_print *)a)->name, ((const struct start_print *)b)->name);
}

/*
 * Is name's file unchanged since its bytes were last seen equal to cur's (the same settled
 * print)? Then the watcher's passes and the start's rescan need not read it.
 */
static bool print_unchanged(struct engine *e, const char *name, const struct iface_snap *cur)
{
        struct file_print now;

        return cur->print_settled && mirror_print(e->mirror, name, &now) >= 0 &&
               file_print_eq(&now, &cur->print);
}

static bool print_holds(struct engine *e, const char *name, struct iface_snap *cur)
{
        if (!print_unchanged(e, name, cur))
                return false;
        problem_sync(e, name, cur);
        return true;
}

/*
 * During the start's reconciliation: was name's file, at the last clean stop, the bytes of the
 * record as the db still has it (the db could be restored or edited since), and is it unchanged
 * since (the same print)? Then the file need not be read.
 */
static bool start_print_holds(struct engine *e, const char *name, struct iface_snap *cur)
{
        struct start_print key = { .name = (char *)name }, *p;

        if (!e->start_prints)
                return false;
        p = bsearch(&key, e->start_prints, e->n_start_prints, sizeof(key), start_print_cmp);
        if (!p || p->hash != hash64(cur->content, cur->content_len))
                return false;
        cur->print = p->print;
        cur->print_settled = true;
        if (!print_holds(e, name, cur)) {
                cur->print_settled = false;
                return false;
        }
        e->n_start_trusted++;
        return true;
}

void start_prints_free(struct engine *e)
{
        if (e->start_prints)
                log_info("Start-up prints: %zu of %zu file(s) unchanged since the last stop, "
                         "not read",
                         e->n_start_trusted, e->n_start_prints);
        free(e->start_prints);
        e->start_prints = NULL;
        e->n_start_prints = 0;
        free(e->start_prints_data);
        e->start_prints_data = NULL;
}

/* The next space-separated number of *p in base (a hash, or a decimal): false if none. */
static bool prints_number(char **p, int base, bool is_signed, uint64_t *ret)
{
        char *end;

        if (!isxdigit((unsigned char)**p) && !(is_signed && **p == '-'))
                return false;
        errno = 0;
        *ret = is_signed ? (uint64_t)strtoll(*p, &end, base) : strtoull(*p, &end, base);
        if (errno != 0 || end == *p || *end != ' ')
                return false;
        *p = end + 1;
        return true;
}

/*
 * Read the prints of the last clean stop, and remove the file at once: from the first change on
 * they would be stale. A stale copy (a power loss brings the removed file back) is harmless: it
 * names the revision of the db it belongs to, and every change of the db moves that. Any
 * mismatch, or a malformed file, just means every file is read. A line is
 * "<hash64 hex> <dev> <ino> <size> <mtime ns> <ctime ns> <name>", in name order as written.
 */
int start_prints_load(struct engine *e)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ struct start_print *v = NULL;
        size_t len = 0, n = 0, cap = 0;
        unsigned long long rev;
        uint64_t db_rev;
        char *line, *next;
        bool sorted = true;
        int r;

        r = mirror_state_read_all(e->mirror, START_PRINTS_FILE, START_PRINTS_MAX, &data, &len);
        if (r == -ENOENT)
                return 0;
        (void)mirror_state_remove(e->mirror, START_PRINTS_FILE);
        if (r < 0) {
                log_warning_errno(r, "Ignoring the start-up prints: cannot read them");
                return 0;
        }
        if (store_max_revision(e->store, &db_rev) < 0)
                return 0;
        next = strchr(data, '\n');
        if (!next || sscanf(data, START_PRINTS_MAGIC " %llu", &rev) != 1 || rev != db_rev) {
                log_info("Start-up prints are not of this database's revision: reading every file");
                return 0;
        }
        for (line = next + 1; *line; line = next) {
                uint64_t f[6];
                char *p = line;
                bool ok = true;

                next = strchr(line, '\n');
                if (!next) {
                        log_warning("Ignoring malformed start-up prints: reading every file");
                        return 0;
                }
                *next++ = '\0';
                for (size_t i = 0; i < ELEMENTSOF(f) && ok; i++)
                        ok = prints_number(&p, i == 0 ? 16 : 10, i >= 4, &f[i]);
                if (!ok || *p == '\0') {
                        log_warning("Ignoring malformed start-up prints: reading every file");
                        return 0;
                }
                if (n == cap) {
                        struct start_print *nv;

                        cap = cap ? cap * 2 : 1024;
                        nv = reallocarray(v, cap, sizeof(*v));
                        if (!nv)
                                return 0;
                        v = nv;
                }
                v[n] = (struct start_print){
                        .name = p,
                        .hash = f[0],
                        .print = { f[1], f[2], f[3], (int64_t)f[4], (int64_t)f[5] },
                };
                if (n > 0 && strcmp(v[n - 1].name, p) >= 0)
                        sorted = false;
                n++;
        }
        if (n == 0)
                return 0; /* no record had a print: nothing to trust */
        if (!sorted)
                qsort(v, n, sizeof(*v), start_print_cmp);
        e->start_prints = TAKE_PTR(v);
        e->start_prints_data = TAKE_PTR(data);
        e->n_start_prints = n;
        return 0;
}

/* Is the file of s still the bytes of s? Then its print, if settled. */
static bool print_for_stop(struct engine *e, struct iface_snap *s, struct file_print *ret)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        bool settled = false;

        if (print_unchanged(e, s->rec.name, s)) {
                *ret = s->print;
                return true;
        }
        /* Written since the start (or seen too soon after a change): look at it now. */
        if (mirror_read_print(e->mirror, s->rec.name, &data, &len, ret, &settled) < 0)
                return false;
        return settled && len == s->content_len && memcmp(data, s->content, len) == 0;
}

void start_prints_save(struct engine *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        uint64_t rev;
        FILE *f;
        int r;

        if (store_max_revision(e->store, &rev) < 0)
                return;
        f = open_memstream(&buf, &size);
        if (!f)
                return;
        fprintf(f, START_PRINTS_MAGIC " %" PRIu64 "\n", rev);
        for (size_t i = 0; i < e->n_idx; i++) {
                struct iface_snap *s = e->idx[i];
                struct file_print p;

                if (s->missing || !s->content || !print_for_stop(e, s, &p))
                        continue;
                fprintf(f,
                        "%016" PRIx64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64
                        " %s\n",
                        hash64(s->content, s->content_len), p.dev, p.ino, p.size, p.mtime_ns,
                        p.ctime_ns, s->rec.name);
        }
        if (fclose(f) != 0)
                return;
        r = mirror_state_write(e->mirror, START_PRINTS_FILE, buf, size);
        if (r < 0)
                log_warning_errno(r, "Failed to write the start-up prints; the next start reads "
                                     "every file");
}

/*
 * Bring one name in line with the db root, holding write_lock and the mirror lock: a file that
 * differs from what we last wrote is imported (or reported), a vanished file is dropped (or
 * reported), a file we cannot take over wholly is reported and changes nothing.
 */
int reconcile_name(struct engine *e, const char *name)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        struct iface_snap *cur;
        struct file_print print;
        bool settled = false;
        size_t len = 0;
        int r;

        /* iscsiadm ignores this sample file; so do we. */
        if (streq(name, "iface.example"))
                return 0;

        cur = idx_find(e, name);
        if (cur && !cur->missing && (print_holds(e, name, cur) || start_print_holds(e, name, cur)))
                return 0;
        r = mirror_read_print(e->mirror, name, &data, &len, &print, &settled);
        if (r == -ENOENT) {
                /* A record whose file went with a replaced ifaces/ is kept (root_settle). */
                if (cur && cur->missing) {
                        missing_problem(e, name);
                        return 0;
                }
                problem_clear(e, name);
                if (!cur)
                        return 0;
                if (e->drift == ENGINE_DRIFT_REPORT) {
                        problem_set(e, name, "drift",
                                    "file removed outside iscsi-ifaced (stored revision %" PRIu64
                                    ")",
                                    cur->revision);
                        return 0;
                }
                return commit_external(e, name, NULL, NULL, 0, cur);
        }
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                problem_set(e, name, "unreadable", "it is %s", mirror_read_strerror(r));
                return 0;
        }
        if (cur && cur->content_len == len && memcmp(cur->content, data, len) == 0) {
                cur->missing = false;
                cur->print = print;
                cur->print_settled = settled;
                problem_sync(e, name, cur);
                return 0;
        }

        r = iface_name_validate(name, &err);
        if (r < 0) {
                problem_set(e, name, "unsupported-name", "%s", err.reason);
                return 0;
        }
        r = iface_parse_file(name, data, len, &rec, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                problem_set(e, name, "unreadable", "%s", err.reason);
                return 0;
        }
        if (e->drift == ENGINE_DRIFT_REPORT) {
                if (cur)
                        problem_set(e, name, "drift",
                                    "changed outside iscsi-ifaced (stored revision %" PRIu64 ")",
                                    cur->revision);
                else
                        problem_set(e, name, "drift", "added outside iscsi-ifaced");
                return 0;
        }

        problem_clear(e, name);
        return commit_external(e, name, &rec, data, len, cur);
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reconcile every file of ifaces/ and every indexed name, holding write_lock + mirror lock. */
int reconcile_all(struct engine *e)
{
        char **names = NULL;
        size_t n = 0, n_known = 0;
        char **known = NULL;
        int r;

        r = mirror_list(e->mirror, &names, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list '%s'", mirror_ifaces_dir(e->mirror));

        /* Indexed names that have no file any more. */
        known = calloc(e->n_idx + 1, sizeof(char *));
        if (!known) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < e->n_idx; i++) {
                if (bsearch(&e->idx[i]->rec.name, names, n, sizeof(char *), name_cmp))
                        continue;
                known[n_known] = strdup(e->idx[i]->rec.name);
                if (!known[n_known]) {
                        r = -ENOMEM;
                        goto finish;
                }
                n_known++;
        }

        for (size_t i = 0; i < n && r >= 0; i++)
                r = reconcile_name(e, names[i]);
        for (size_t i = 0; i < n_known && r >= 0; i++)
                r = reconcile_name(e, known[i]);

        /* Problems about names that are neither a file nor a record any more are stale. */
        problem_prune(e, names, n);

finish:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        for (size_t i = 0; i < n_known; i++)
                free(known[i]);
        free(known);
        return r;
}

/* --- the watcher --------------------------------------------------------------------------- */

struct name_set {
        char **names;
        size_t n;
        bool overflow;
};

static void name_set_add(struct name_set *s, const char *name)
{
        char **n;

        if (s->overflow)
                return;
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->names[i], name))
                        return;
        if (s->n >= 1024) {
                s->overflow = true;
                return;
        }
        n = realloc(s->names, (s->n + 1) * sizeof(char *));
        if (!n || !(n[s->n] = strdup(name))) {
                if (n)
                        s->names = n;
                s->overflow = true;
                return;
        }
        s->names = n;
        s->n++;
}

static void name_set_clear(struct name_set *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->names[i]);
        free(s->names);
        *s = (struct name_set){};
}

/* Read what inotify has; returns false when the watch itself went away. */
static bool watch_drain(struct engine *e, struct name_set *set)
{
        char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool alive = true;

        for (;;) {
                ssize_t n = read(e->inotify_fd, buf, sizeof(buf));

                if (n <= 0)
                        break;
                for (char *p = buf; p < buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *)p;

                        if (ev->mask & IN_Q_OVERFLOW)
                                set->overflow = true;
                        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                                alive = false;
                        if (ev->len > 0 && ev->name[0])
                                name_set_add(set, ev->name);
                        p += sizeof(*ev) + ev->len;
                }
        }
        return alive;
}

/*
 * The watcher's full pass, in steps that let writes and iscsiadm through between them. Held as
 * one piece it kept write_lock and iscsiadm's lock for 0.5 s with 99,000 records, once a minute
 * and after every burst of over 1,024 changed names: each write and each iscsiadm command that
 * came then waited for it (docs/decisions.md "The watcher's full pass lets writes through").
 *
 *   1. ifaces/ listed: a stream taken under write_lock (a rescan may take over another
 *      directory), read with no lock held;
 *   2. each file whose print says it is unchanged since its bytes were last seen equal to its
 *      record's is done, PASS_STEP names at a time under write_lock: a stat each, as before;
 *   3. the records with no file, found the same way, by name from where the last step ended;
 *   4. the rest reconciled as reconcile_all() does, under write_lock and iscsiadm's lock, the
 *      directory checked again at each step: one replaced or removed meanwhile is left to the
 *      watcher's root handling, not taken for deletions;
 *   5. stale problems pruned and the node db (scanned with no lock) reconciled, under both.
 *
 * A step cannot miss a change: a file that changes after its stat makes an event of its own, or
 * the next pass sees it, as when the whole pass held the locks (a writer that does not take
 * iscsiadm's lock could always change a file just after it was looked at).
 * Returns 0 when the pass is complete; -ETIMEDOUT when iscsiadm held its lock for a second,
 * the directory changed or the engine stops: it is taken again later, whole.
 */
#define PASS_STEP        256 /* names stat'ed per hold of write_lock: about 1.3 ms here */
#define PASS_LOCKED_STEP 32  /* names reconciled per hold of both locks (each may be read) */
#define PASS_LOCK_TRIES  100 /* the watcher's tries at iscsiadm's lock for a step, 10 ms apart */

/* Between two steps: let a write that waits for write_lock have it first (the mutex is not
 * fair: this thread would take it again before the woken waiter runs). False: stopping. */
static bool pass_pause(struct engine *e)
{
        struct pollfd p = { .fd = e->stop_fds[0], .events = POLLIN };

        if (e->fault)
                e->fault("watch-pass-pause"); /* tests: no lock is held here */
        if (engine_write_busy(e))
                return poll(&p, 1, 1) == 0;
        return poll(&p, 1, 0) == 0;
}

static int pass_add(char ***v, size_t *n, size_t *cap, char *name)
{
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 64;
                char **p = reallocarray(*v, c, sizeof(char *));

                if (!p)
                        return -ENOMEM;
                *v = p;
                *cap = c;
        }
        (*v)[(*n)++] = name;
        return 0;
}

/*
 * Reconcile a[0..na), then b[0..nb), under write_lock and iscsiadm's lock, PASS_LOCKED_STEP
 * names per hold, the directory checked again at each hold: one replaced or removed meanwhile
 * is left to the watcher's root handling, never read as deletions. With listing (a full pass's
 * names of ifaces/), the last hold also prunes the problems of names that are neither a file nor
 * a record, and reconciles the node db from nodes (its scan, taken before with no lock).
 * iscsiadm's lock is tried once per hold, never waited for holding write_lock; while iscsiadm
 * has it, the hold is tried again every 10 ms (iscsiadm's own retry), lock_tries times in all.
 * 0, or -ETIMEDOUT (try again later), or another -errno.
 */
static int reconcile_steps(struct engine *e, char *const *a, size_t na, char *const *b, size_t nb,
                           char **listing, size_t n_listing, const struct node_scan *nodes,
                           unsigned lock_tries)
{
        int r = 0;

        for (size_t i = 0, k = 0, tries = 0; r >= 0;) {
                bool last;

                if ((i > 0 || k > 0 || tries > 0) && !pass_pause(e))
                        return -ETIMEDOUT;
                pthread_mutex_lock(&e->write_lock);
                r = mirror_lock(e->mirror, 0);
                if (r == -ETIMEDOUT && ++tries < lock_tries) {
                        struct pollfd p = { .fd = e->stop_fds[0], .events = POLLIN };

                        pthread_mutex_unlock(&e->write_lock);
                        r = poll(&p, 1, 10) == 0 ? 0 : -ETIMEDOUT;
                        continue;
                }
                if (r < 0) {
                        pthread_mutex_unlock(&e->write_lock);
                        break;
                }
                tries = 0;
                if (mirror_ifaces_check(e->mirror) < 0)
                        r = -ETIMEDOUT; /* the watcher's root handling first */
                for (size_t s = 0; s < PASS_LOCKED_STEP && r >= 0 && i + k < na + nb; s++)
                        r = i < na ? reconcile_name(e, a[i++]) : reconcile_name(e, b[k++]);
                last = r >= 0 && i + k == na + nb;
                if (last && listing) {
                        problem_prune(e, listing, n_listing);
                        r = reconcile_nodes_scanned(e, nodes);
                }
                mirror_unlock(e->mirror);
                pthread_mutex_unlock(&e->write_lock);
                if (last)
                        break;
        }
        return r;
}

static int full_pass(struct engine *e, unsigned lock_tries)
{
        char **names = NULL, **todo = NULL, **gone = NULL, *cursor = NULL;
        size_t n = 0, n_todo = 0, cap_todo = 0, n_gone = 0, cap_gone = 0;
        DIR *d = NULL;
        int r;

        /* 1. */
        pthread_mutex_lock(&e->write_lock);
        r = mirror_ifaces_stream(e->mirror, &d);
        pthread_mutex_unlock(&e->write_lock);
        if (r < 0)
                return log_error_errno(r, "Failed to list '%s'", mirror_ifaces_dir(e->mirror));
        r = mirror_list_stream(d, &names, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to list '%s'", mirror_ifaces_dir(e->mirror));

        /* 2. Names whose file is not known to hold its record's bytes: to reconcile. */
        for (size_t i = 0; i < n && r >= 0;) {
                if (i > 0 && !pass_pause(e)) {
                        r = -ETIMEDOUT;
                        break;
                }
                pthread_mutex_lock(&e->write_lock);
                for (size_t end = i + PASS_STEP < n ? i + PASS_STEP : n; i < end && r >= 0; i++) {
                        struct iface_snap *cur = idx_find(e, names[i]);

                        if (streq(names[i], "iface.example") ||
                            (cur && !cur->missing && print_holds(e, names[i], cur)))
                                continue;
                        r = pass_add(&todo, &n_todo, &cap_todo, names[i]);
                }
                pthread_mutex_unlock(&e->write_lock);
        }

        /* 3. Records with no file, walked by name: the index may change between two steps. */
        for (bool first = true; r >= 0; first = false) {
                bool found = false, more;

                if (!first && !pass_pause(e)) {
                        r = -ETIMEDOUT;
                        break;
                }
                pthread_mutex_lock(&e->write_lock);
                size_t j = cursor ? sorted_search((void *const *)e->idx, e->n_idx,
                                                  offsetof(struct iface_snap, rec.name), cursor,
                                                  &found) :
                                    0;
                if (cursor && found)
                        j++;
                size_t end = j + PASS_STEP < e->n_idx ? j + PASS_STEP : e->n_idx;
                for (; j < end && r >= 0; j++) {
                        char *name = e->idx[j]->rec.name, *copy;

                        if (bsearch(&name, names, n, sizeof(char *), name_cmp))
                                continue;
                        copy = strdup(name);
                        r = copy ? pass_add(&gone, &n_gone, &cap_gone, copy) : -ENOMEM;
                        if (r < 0)
                                free(copy);
                }
                more = j < e->n_idx;
                free(cursor);
                cursor = more && j > 0 ? strdup(e->idx[j - 1]->rec.name) : NULL;
                pthread_mutex_unlock(&e->write_lock);
                if (!more)
                        break;
                if (!cursor)
                        r = -ENOMEM;
        }

        /* 4 and 5, the node db scanned first, with no lock. */
        if (r >= 0) {
                struct node_scan ns = {};

                r = nodes_scan(e, &ns);
                if (r < 0)
                        log_error_errno(r, "Failed to scan the node db of '%s'",
                                        mirror_root(e->mirror));
                else
                        r = reconcile_steps(e, todo, n_todo, gone, n_gone, names, n, &ns,
                                            lock_tries);
                node_scan_done(&ns);
        }

        free(cursor);
        free(todo); /* borrowed from names */
        for (size_t i = 0; i < n_gone; i++)
                free(gone[i]);
        free(gone);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

/*
 * The node db has no inotify (it is a tree of directories), so the watcher scans it: a stat of
 * each entry, about 0.2 s of CPU with 10,000 bindings here. Once a second while that is cheap;
 * beyond, the next scan waits NODES_SCAN_SHARE times the CPU the last one took, so that the
 * scans take at most 1/NODES_SCAN_SHARE of a core. Our own writes never wait for it: each write
 * settles the file it replaces itself (settle_node).
 */
#define NODES_SCAN_MIN_USEC (1000LL * 1000)
#define NODES_SCAN_SHARE    20

static int64_t nodes_scan_interval(int64_t took_usec)
{
        return took_usec * NODES_SCAN_SHARE > NODES_SCAN_MIN_USEC ? took_usec * NODES_SCAN_SHARE :
                                                                    NODES_SCAN_MIN_USEC;
}

/* Watch the directory now at the ifaces/ path (and no longer one that was moved away). */
static int watch_add(struct engine *e)
{
        int wd = inotify_add_watch(e->inotify_fd, mirror_ifaces_dir(e->mirror),
                                   IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                           IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                           IN_ONLYDIR | IN_DONT_FOLLOW);

        if (wd < 0)
                return -errno;
        if (e->watch_wd >= 0 && e->watch_wd != wd)
                (void)inotify_rm_watch(e->inotify_fd, e->watch_wd);
        e->watch_wd = wd;
        return 0;
}

static void *watch_thread(void *userdata)
{
        struct engine *e = userdata;
        struct name_set set = {};
        struct pollfd p[3] = {
                { .fd = e->inotify_fd, .events = POLLIN },
                { .fd = e->stop_fds[0], .events = POLLIN },
                { .fd = e->uevent_fd, .events = POLLIN }, /* < 0: none, poll skips it */
        };
        int64_t last_full = clock_usec(CLOCK_REALTIME), last_sessions = 0, last_look = 0;
        int64_t next_nodes = 0; /* CLOCK_MONOTONIC: when the node db is scanned next */
        bool alive = true;

        (void)pthread_setname_np(pthread_self(), "ifd-drift");
        for (;;) {
                int n = poll(p, 3, set.n || set.overflow ? WATCH_SETTLE_MS : WATCH_ROOT_CHECK_MS);

                if (n < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        break;
                if (n > 0 && (p[2].revents & POLLIN)) {
                        if (uevent_drain(e->uevent_fd)) {
                                /* A session or a device came or went: the watch looks now,
                                 * once the rest of the burst is in. */
                                if (poll(&p[1], 1, UEVENT_SETTLE_MS) > 0)
                                        break;
                                (void)uevent_drain(e->uevent_fd);
                                stats_session_uevent();
                                last_sessions = 0;
                        } else if (!(p[0].revents & POLLIN) && !set.n && !set.overflow &&
                                   clock_usec(CLOCK_MONOTONIC) - last_look <
                                           WATCH_ROOT_CHECK_MS * 1000LL) {
                                /* Only others' uevents (a storm of veth pairs): back to
                                 * waiting, without the tick's work before its time. */
                                continue;
                        }
                }
                last_look = clock_usec(CLOCK_MONOTONIC);
                if (n > 0 && (p[0].revents & POLLIN)) {
                        int k;

                        if (!watch_drain(e, &set))
                                alive = false;
                        /*
                         * Settle: reconcile after a quiet period. The thread rests for it
                         * rather than wake at every event (our own writes make them too: one
                         * client's creates woke it once each, two context switches apiece),
                         * then looks once; anything new starts another rest.
                         */
                        k = poll(&p[1], 1, WATCH_SETTLE_MS);
                        if (k > 0)
                                break;
                        if (k < 0 || poll(p, 1, 0) > 0)
                                continue;
                }

                /* Sessions that changed by themselves, for the event stream: once a second. */
                if (clock_usec(CLOCK_MONOTONIC) - last_sessions >= SESSIONS_WATCH_USEC) {
                        last_sessions = clock_usec(CLOCK_MONOTONIC);
                        engine_sessions_watch(e);
                }

                /* Quiet period (or periodic tick): reconcile what was touched. */
                bool full = set.overflow || !alive ||
                            clock_usec(CLOCK_REALTIME) - last_full >= WATCH_FULL_SCAN_MS * 1000LL;
                if (!set.n && !full) {
                        /*
                         * inotify says nothing when ifaces/ is removed while we hold it open
                         * (IN_DELETE_SELF waits for the last reference): look at the path
                         * ourselves, one lstat() a tick.
                         */
                        bool gone = false, nodes;

                        if (pthread_mutex_trylock(&e->write_lock) == 0) {
                                gone = mirror_ifaces_check(e->mirror) < 0;
                                pthread_mutex_unlock(&e->write_lock);
                        }
                        /*
                         * nodes/ or send_targets/ changed? (No inotify there: it is a tree;
                         * one scan of stats a tick tells, taken without a lock.) Then the
                         * changed files are reconciled under the locks.
                         */
                        struct node_scan ns = {};
                        int64_t t = clock_usec(CLOCK_MONOTONIC);
                        bool due = !gone && t >= next_nodes, scanned = false;

                        if (due) {
                                int64_t cpu = clock_usec(CLOCK_THREAD_CPUTIME_ID);

                                scanned = nodes_scan(e, &ns) >= 0;
                                cpu = clock_usec(CLOCK_THREAD_CPUTIME_ID) - cpu;
                                next_nodes = t + nodes_scan_interval(cpu);
                        }
                        nodes = due && (!scanned || ns.sig != atomic_load(&e->nodes_sig));
                        if (nodes) {
                                pthread_mutex_lock(&e->write_lock);
                                int k = mirror_lock(e->mirror, 0);
                                if (k >= 0) {
                                        /* A scan that failed is taken again, to be logged. */
                                        k = scanned ? reconcile_nodes_scanned(e, &ns) :
                                                      reconcile_nodes(e);
                                        mirror_unlock(e->mirror);
                                }
                                pthread_mutex_unlock(&e->write_lock);
                                if (k < 0 && k != -ETIMEDOUT)
                                        log_warning_errno(k, "Reconciling the node db failed, "
                                                             "retrying later");
                        }
                        node_scan_done(&ns);
                        if (!gone)
                                continue;
                        full = true;
                }

                /*
                 * One try at iscsiadm's lock: while iscsiadm holds it, the watcher must not sit
                 * on write_lock, or every API write would wait for it on top of its own
                 * lock timeout. It comes back after the settle time.
                 */
                pthread_mutex_lock(&e->write_lock);
                int r = mirror_lock(e->mirror, 0);
                if (r >= 0) {
                        /*
                         * ifaces/ itself first: when it was removed or moved away, the names
                         * of a burst (rm -rf) are no deletions, and nothing is reconciled
                         * until a directory is back and taken over.
                         */
                        r = root_settle(e);
                        if (r > 0 || (r == 0 && !alive)) {
                                if (watch_add(e) >= 0)
                                        alive = true;
                                full = true;
                                r = 0;
                        }
                        mirror_unlock(e->mirror);
                }
                pthread_mutex_unlock(&e->write_lock);
                /* The names, or the whole directory: in steps, the locks let go between them. */
                if (r >= 0 && full) {
                        r = full_pass(e, PASS_LOCK_TRIES);
                        if (r >= 0)
                                last_full = clock_usec(CLOCK_REALTIME);
                } else if (r >= 0)
                        r = reconcile_steps(e, set.names, set.n, NULL, 0, NULL, 0, NULL,
                                            PASS_LOCK_TRIES);
                if (r == -ETIMEDOUT)
                        continue; /* iscsiadm is busy: keep the set, try again */
                if (r < 0 && atomic_load(&e->root_fault) == 0)
                        log_warning_errno(r, "Drift reconciliation failed, retrying later");
                name_set_clear(&set);
        }
        name_set_clear(&set);
        return NULL;
}

int engine_rescan(struct engine *e)
{
        int r;

        assert_return(e, -EINVAL);

        pthread_mutex_lock(&e->write_lock);
        r = mirror_lock(e->mirror, e->lock_timeout_ms);
        if (r >= 0) {
                r = root_settle(e);
                if (r > 0 && e->watching)
                        (void)watch_add(e);
                mirror_unlock(e->mirror);
        }
        pthread_mutex_unlock(&e->write_lock);
        /* The whole db root in the watcher's steps, iscsiadm's lock waited for as long as a
         * write would wait for it (in 10 ms tries, write_lock let go between them). */
        if (r >= 0)
                r = full_pass(e, e->lock_timeout_ms / 10 + 1);
        if (r < 0)
                return r;

        /* Offload ports that appeared since the start get their records now. */
        r = engine_offload_sync(e);
        if (r > 0)
                log_info("Created %d iface record(s) for offload ports", r);
        if (r >= 0)
                (void)rows_settle(e);
        return r < 0 ? r : 0;
}

/* The inotify instance and its watch of ifaces/; on failure there is neither. */
int watch_open(struct engine *e)
{
        int r;

        e->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (e->inotify_fd < 0)
                return -errno;
        r = watch_add(e);
        if (r < 0) {
                close(e->inotify_fd);
                e->inotify_fd = -1;
                e->watch_wd = -1;
        }
        return r;
}

int engine_start_watch(struct engine *e)
{
        bool early;
        int r;

        assert_return(e && !e->watching, -EINVAL);

        /* Watched since before engine_new()'s scan (engine_config.watch): nothing was missed. */
        early = e->inotify_fd >= 0;
        if (!early) {
                r = watch_open(e);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch '%s'",
                                               mirror_ifaces_dir(e->mirror));
        }
        if (pipe2(e->stop_fds, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe");
        /* The kernel's uevents exist for the real /sys only (a test's tree has none). Without
         * them (a container, a filter) the sessions watch keeps its tick. */
        if (streq(e->sysfs_root, "/sys")) {
                e->uevent_fd = uevent_open();
                if (e->uevent_fd < 0)
                        log_debug_errno(e->uevent_fd, "No kernel uevents; sessions are looked at "
                                                      "once a second");
        }
        r = pthread_create(&e->watcher, NULL, watch_thread, e);
        if (r != 0)
                return log_error_errno(r, "Failed to start the watcher thread");
        e->watching = true;

        /* Close the gap between the start-up scan and the watch. */
        return early ? 0 : engine_rescan(e);
}
