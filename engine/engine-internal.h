/* SPDX-License-Identifier: MIT */
/*
 * What the files of the engine share and nothing outside engine/engine*.c, write.c, drift.c,
 * health.c and ports.c may include: struct engine, its locks, and the internal functions one of
 * those files offers the others. The files:
 *
 *   engine.c  lifecycle (engine_new, engine_free), snapshots, the index, reads and the list
 *   write.c   the crash-safe write protocol, the write verbs, recovery of intents at start
 *   drift.c   reconciliation with ifaces/, the watcher thread, the take-over of ifaces/ itself
 *   health.c  engine_health, and the problems and drift events it reports
 *   ports.c   the HBA cache, offload records, port views (engine_iface_port), check specs
 *
 * Locks and atomics of struct engine
 * ----------------------------------
 *
 * Taken in this order, never the other way round (a thread may skip any of them):
 *
 *   1. write_lock      pthread mutex
 *   2. lock.write      iscsiadm's lock file in lock_dir, through mirror_lock()/mirror_unlock()
 *   3. index_lock      pthread rwlock
 *
 *   health_lock, hbas_lock, group_lock and apply_lock are leaves: nothing is taken while one
 *   of them is held (group.c drops group_lock before its leader takes write_lock, and the
 *   applier drops apply_lock before it writes deferred rows). The applier, the API writer
 *   threads after an answer (engine_after_write) and engine_audit write the rows that batches
 *   deferred without write_lock: the store serialises its connection with a lock of its own,
 *   taken inside write_lock by the writers, alone by them.
 *   health_lock is taken holding 1 and 2 (by the write protocol and reconciliation), never
 *   holding 3; hbas_lock is taken holding none of them.
 *
 * | lock / atomic  | guards                                          | taken by                  |
 * |----------------|-------------------------------------------------|---------------------------|
 * | write_lock     | the store's connection (store_*: writes, audit, | API writers (write_begin: |
 * |                | health's store_count), the mirror (m->locked,   | create, update, delete,   |
 * |                | ifaces_fd on a take-over), revision and         | restore_files; blocking   |
 * |                | revision_reserved, every change of idx (made    | until the request's       |
 * |                | under index_lock too, so writers read idx       | deadline), engine_audit   |
 * |                | without it), iface_snap.missing, watch_wd       | (in-memory db only),      |
 * |                |                                                 | engine_health             |
 * |                |                                                 | (trylock only); watcher   |
 * |                |                                                 | (trylock each tick for the|
 * |                |                                                 | ifaces/ check, blocking   |
 * |                |                                                 | for a pass); main thread  |
 * |                |                                                 | (engine_rescan on SIGHUP  |
 * |                |                                                 | and in engine_start_watch,|
 * |                |                                                 | engine_offload_sync)      |
 * | lock.write     | ifaces/ against iscsiadm: always taken holding  | same as write_lock, always|
 * | (mirror_lock)  | write_lock, except in engine_new before any     | inside it; watcher tries  |
 * |                | other thread exists                             | once (timeout 0)          |
 * | index_lock     | idx, bidx, sts against readers: exclusive only  | idx_set, bidx_set, sts_set|
 * |                | in idx_set, bidx_set and sts_set; builtin[]     | (writers, under 1+2;      |
 * |                | never changes after engine_new                  | engine_new alone); shared:|
 * |                |                                                 | HTTP threads (get, list,  |
 * |                |                                                 | health, discovery auth)   |
 * | health_lock    | problems, n_problems, events, n_events,         | health.c only: writers    |
 * | (leaf)         | drift_imported                                  | and watcher (under 1+2),  |
 * |                |                                                 | engine_health (alone)     |
 * | hbas_lock      | the hbas pointer and hbas_generation (a scan    | hbas_cached: HTTP threads |
 * | (leaf)         | itself is immutable and reference-counted)      | (port views, /hbas, check |
 * |                |                                                 | specs), main thread       |
 * |                |                                                 | (engine_offload_sync,     |
 * |                |                                                 | before its write_begin)   |
 * | root_fault     | atomic: 0 or why ifaces/ is not ours (-ENOENT,  | stored by writers and     |
 * |                | -ESTALE, -ENOTDIR...); read by anyone           | watcher (storage_check,   |
 * |                |                                                 | root_settle) and health   |
 * |                |                                                 | (under write_lock); read  |
 * |                |                                                 | by health and watcher     |
 * | writes_waiting | atomic: writes between arrival and their locks  | write_begin; read by      |
 * |                |                                                 | engine_health             |
 * | db_probe       | atomic: health's last store_count() result      | engine_health             |
 * | db_check(_why) | atomic; _why written before db_check is set     | the db check thread       |
 * | iface_snap.refs| atomic (outside struct engine): a snapshot's    | anyone holding a ref      |
 * | engine_hbas    | references; engine_hbas.refs likewise           |                           |
 * |   .refs        |                                                 |                           |
 *
 * Threads: HTTP threads (reads, health, port views, check specs; writes too unless the API
 * defers them), the API's writer threads (the write verbs), the watcher (drift.c), the main
 * thread (engine_new, engine_start_watch, engine_rescan on SIGHUP, engine_stop_*, engine_free).
 * The check loop and the NIC monitor take none of these locks. Fields not in the table are set
 * in engine_new (or engine_start_watch, before the watcher starts) and read-only after;
 * mirror_abort_waits() (engine_stop_writes) is an atomic of the mirror.
 */
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "engine.h"
#include "macro.h"
#include "mirror.h"
#include "session.h"
#include "store.h"

#define ENGINE_EVENTS_MAX      32
#define REVISION_RESERVE_FILE  "revision-reserve" /* in <root>/.iscsi-ifaced/ */
#define REVISION_RESERVE_BLOCK 1024               /* revisions put on record per fsync */

struct engine {
        char *iscsi_root;
        char *db_path;
        char *lock_dir;
        enum engine_drift_policy drift;
        unsigned lock_timeout_ms;
        void (*fault)(const char *point);
        char *sysfs_root;
        char *iscsiadm;             /* the program logins run (login.c) */
        char *dev_root;             /* device nodes, default /dev */
        char *udev_data;            /* <udev dir>/data */
        char *udev_ctl;             /* <udev dir>/control */
        struct session_roots roots; /* the above, for the session reader */
        const char *proc_root;      /* "/proc" */
        struct logins *logins;      /* login.c: the pool, the operations, our sessions */

        struct store *store;
        struct mirror *mirror;
        int db_lock_fd; /* exclusive flock on <db>.lock: one daemon per database */

        /* Serialises every write, the store, the mirror and reconciliation. Taken before
         * index_lock, never after it. */
        pthread_mutex_t write_lock;
        uint64_t revision;          /* the last revision handed out */
        uint64_t revision_reserved; /* revisions up to this are on record in the iscsi root */

        /* The index: stored records sorted by strcmp of name. Readers take it shared. */
        pthread_rwlock_t index_lock;
        struct iface_snap **idx;
        size_t n_idx;
        size_t cap_idx;
        struct iface_snap *builtin[2]; /* "default", "iser" */

        /* The bindings (binding.c), sorted by id, and the discovery records: changed holding
         * write_lock and index_lock (exclusive), read holding either, like idx. The defaults
         * are set in engine_new; nodes_sig is written under write_lock and read by the
         * watcher's scan without it. */
        struct binding_snap **bidx;
        size_t n_bidx;
        size_t cap_bidx;
        struct st_entry {
                char *path; /* send_targets/<ip>,<port>/st_config */
                char *content;
                uint64_t revision;
                int64_t created_usec;
        } * sts;
        size_t n_sts;
        struct node_rec node_defaults;
        char *conf_text; /* the iscsid.conf in force, NULL: compiled defaults */
        size_t conf_len;
        _Atomic uint64_t nodes_sig; /* of the node db when last reconciled (mirror_nodes_scan) */

        /* Discovery runs (discovery.c), a leaf lock like health_lock; disc_binders counts the
         * bind threads (engine_free waits for them on disc_cond). */
        pthread_mutex_t disc_lock;
        pthread_cond_t disc_cond;
        struct discovery_run *disc[DISCOVERY_KEEP];
        size_t n_disc;
        unsigned disc_binders;

        /* Health state, guarded by health_lock. */
        pthread_mutex_t health_lock;
        struct engine_problem *problems;
        size_t n_problems;
        struct engine_drift_event events[ENGINE_EVENTS_MAX];
        size_t n_events; /* total recorded; ring position = n % MAX */
        uint64_t drift_imported;

        /* Inventory. */
        struct nic_monitor *nics;
        struct event_bus *bus; /* event.h: what changed, for GET /api/v1/events */
        atomic_bool events_on; /* engine_new has finished: changes are events */
        struct checker *checker;
        struct jobs *jobs;
        struct tokens *tokens;
        atomic_int db_probe; /* the last store_count() result of health, 0 or -errno */
        /* The whole db's quick_check, on a thread after the start (engine_new's checks only the
         * state): db_check is 0 until it finds damage, then -EUCLEAN with db_check_why set. */
        struct store_checker *db_checker;
        pthread_t db_check_thread;
        bool db_check_running;
        atomic_int db_check;
        char db_check_why[256];
        pthread_mutex_t hbas_lock;
        struct engine_hbas *hbas;
        uint64_t hbas_generation; /* of the last scan, under hbas_lock */

        /* Faults of the storage under us (atomic: health reads them without write_lock). */
        atomic_bool db_fault_logged; /* the db deleted or replaced: said once */
        atomic_int root_fault;       /* 0, or why ifaces/ is not ours now: -ENOENT, -ESTALE... */
        atomic_uint writes_waiting;  /* writes between their arrival and the locks */

        /* Group commit (group.c): writes queued for the next batch, and whether a thread is
         * leading one. Under group_lock, a leaf taken holding none of the others. */
        pthread_mutex_t group_lock;
        struct wop *group_head, *group_tail;
        atomic_bool group_leading; /* set under group_lock; read by engine_write_busy() */
        size_t group_new_ifaces;   /* creates planned in the batch being led (write_lock) */
        size_t group_new_bindings;

        /* The applier (group.c): writes the changes a batch deferred (store_defer_many) when no
         * write has taken them along within APPLY_LINGER_USEC. apply_lock is a leaf. */
        pthread_mutex_t apply_lock;
        pthread_cond_t apply_cond;
        pthread_t applier;
        bool applier_running, applier_stopping, applier_idle;
        uint64_t apply_kicks; /* batches that deferred changes, for the applier's rest */
        bool apply_now;       /* write them at once (writes are queued) */

        /* The prints of the last clean stop (drift.c), during the start's reconciliation only. */
        struct start_print *start_prints;
        char *start_prints_data; /* the file read, which their names point into */
        size_t n_start_prints, n_start_trusted;
        bool started; /* engine_new finished: engine_free saves the prints */

        /* Watcher. */
        int inotify_fd;
        int uevent_fd; /* the kernel's uevents for the sessions watch, or -errno */
        int watch_wd;  /* the watch on ifaces/, -1 if none */
        int stop_fds[2];
        pthread_t watcher;
        bool watching;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct iface_snap *, iface_snap_unref);

/* --- engine.c: snapshots and the index ------------------------------------------------------ */

/* A snapshot with one reference, taking over *rec (left zeroed); content is copied. 0, -ENOMEM. */
int snap_new(struct iface_rec *rec, const char *content, size_t content_len, uint64_t revision,
             const char *origin, int64_t created, int64_t updated, struct iface_snap **ret);

/* Mark s invalid (with the reason, and a health problem) if it breaks our rules. 0, -ENOMEM. */
int snap_check_valid(struct engine *e, struct iface_snap *s);

/* A sorted array of record pointers whose char * key is at key_off: the position of key, or
 * where it would go (*found false). */
size_t sorted_search(void *const *v, size_t n, size_t key_off, const char *key, bool *found);

/* Put item (NULL: remove) at key, growing the array; the replaced or removed item (or NULL)
 * in *ret_old. 0 or -ENOMEM (nothing changed). */
int sorted_put(void ***v, size_t *n, size_t *cap, size_t key_off, const char *key, void *item,
               void **ret_old);

/* The indexed record name (borrowed) or NULL; holding write_lock or index_lock. */
struct iface_snap *idx_find(struct engine *e, const char *name);

/* Put snap (its reference taken over) at name, or remove name (NULL); holding write_lock.
 * Takes index_lock exclusive. 0, or -ENOMEM (snap released, index unchanged). */
/*
 * Put snap (reference taken over) in place of name's entry, NULL removes it, and publish the
 * iface.created/changed/deleted event: its origin is snap's, or origin for a removal.
 */
int idx_set(struct engine *e, const char *name, struct iface_snap *snap, const char *origin);

/*
 * Publish ev (type and numbers filled) with name, origin and detail (each may be NULL) once the
 * engine is up (changes made while it loads and reconciles at start are not events).
 */
void engine_emit(struct engine *e, struct event *ev, const char *name, const char *origin,
                 const char *detail);

/* The built-in record name ("default", "iser"; borrowed), or NULL. No lock needed. */
struct iface_snap *builtin_find(struct engine *e, const char *name);

/* --- write.c: the write protocol ------------------------------------------------------------ */

/* Take write_lock, then iscsiadm's lock, within the request's deadline, and check the storage.
 * 0 holding both, or -ETIMEDOUT, -ESHUTDOWN, -EBADFD, -EIO... (err->reason filled), holding
 * nothing. */
int write_begin(struct engine *e, const struct engine_ctx *ctx, struct iface_error *err);

/* The revision the next write gets, its reserve on record first; holding write_lock. */
int revision_next(struct engine *e, uint64_t *ret);

/* login.c: start the pool (after the store is open) / stop it and free. */
int logins_start(struct engine *e);
void logins_stop(struct engine *e);
void logins_free(struct engine *e);

/* Why a write's wait for the locks ran out, with the holder of iscsiadm's lock if any. */
void write_lock_timeout_reason(struct engine *e, struct iface_error *err);

/* Release what write_begin took. */
void write_end(struct engine *e);

/* Store one change (rec NULL = delete) through intent -> file -> row -> index, holding
 * write_begin's locks with the file settled; on failure nothing changed. 0 or -errno. */
int commit_change(struct engine *e, const struct engine_ctx *ctx, const char *origin,
                  const char *name, struct iface_rec *rec, const char *action,
                  const struct iface_snap *old, struct iface_snap **ret);

/* --- group.c: group commit ------------------------------------------------------------------ */

#define GROUP_MAX 64 /* writes in one batch at most */

/*
 * One durable change of the db root: a file of ifaces/ or of the node db written (content) or
 * removed (NULL), with its row and audit entry. changes_commit() fills revision, row.revision,
 * row.now_usec and r.
 */
struct wchange {
        const char *key; /* the intent's and row's key: an iface name, or a node db path */
        bool node;
        const char *content;
        size_t len;
        struct store_change row; /* name, content, origin, action, actor, before... */
        uint64_t revision;
        int r;
        bool intent; /* its intent was recorded */
        struct mirror_staged st;
        /* Its file's bytes already in a temp file (mirror_temp_write, by the writer's thread
         * before its batch), taken over when staged; NULL or empty: written when staged. */
        struct mirror_temp *pre;
};

/*
 * Make the changes v[0..n) (n <= GROUP_MAX) durable together, holding write_begin's locks with
 * each file settled: every file staged, one intent transaction, each temp file fsynced and put in place,
 * each directory fsynced once, and the rows and audit entries handed to the store for its next
 * transaction (store_defer_many: until then the intents are the log that recovery completes
 * from). A change that fails alone (its file) gets v[i]->r < 0 and is undone; the others go
 * on. Returns 0, or -errno when the whole batch failed (each r set).
 */
int changes_commit(struct engine *e, struct wchange *const *v, size_t n);

/* A write verb's work, run by whichever writer leads the batch it joins. */
struct wop {
        const struct engine_ctx *ctx;
        struct iface_error *err;
        /* What it touches: keys[i] written (key_write[i]) or only read. Two writes in one batch
         * never share a key that either writes. */
        const char *keys[3];
        bool key_write[3];
        /* Holding write_begin's locks: settle, check and prepare op->change (has_change), or
         * finish without one (return its result). A result < 0 fails this write alone. */
        int (*plan)(struct engine *e, struct wop *op);
        /* Holding the locks, once op->change is durable: the index and what follows. Set by
         * plan when it stages a change. */
        int (*finish)(struct engine *e, struct wop *op);
        void *ud;

        struct wchange change;
        bool has_change;
        int r;
        _Atomic int state; /* group.c: set under group_lock; read without it once done */
        struct wop *next;
        sem_t wake; /* group.c: posted when it is done, or is to lead */
        /* group.c: false from when a leader marks it done until that leader has posted wake,
         * after letting group_lock go; until then wake is not the writer's to destroy. */
        atomic_bool released;
};

/*
 * Run op in the next batch: queue it, lead a batch if none is led, and return its result once
 * its batch is durable (or -ETIMEDOUT, err->reason filled, if its deadline passes in the
 * queue).
 */
int group_run(struct engine *e, struct wop *op);

/*
 * Tell the applier of changes just deferred (starting it on first use), holding write_lock:
 * with now, it writes them at once; otherwise after its linger, unless a write takes them.
 */
void applier_kick(struct engine *e, bool now);

/* Write the deferred rows now (after a start's or a rescan's own writes, at the stop). 0 or
 * -errno (logged; the intents keep them). */
int rows_settle(struct engine *e);

/* Stop the applier (engine_free); the deferred changes stay in the store for its next write. */
void applier_stop(struct engine *e);

/* At start, holding iscsiadm's lock: complete or drop each intent a crash left. 0 or -errno. */
int recover_intents(struct engine *e);

/* --- drift.c: reconciliation and ifaces/ ---------------------------------------------------- */

#define START_PRINTS_FILE "start-prints" /* in <root>/.iscsi-ifaced/ */

/*
 * Start-up prints: at a clean stop, each record whose file is as the daemon last saw it is
 * written down with its file's print; the next start trusts a file with the same print (and
 * a db at the same revision) without reading it. Holding write_lock (no other thread at
 * either end).
 */
struct start_print {
        const char *name;
        uint64_t hash; /* hash64() of the record's bytes at the stop */
        struct file_print print;
};
int start_prints_load(struct engine *e);
void start_prints_free(struct engine *e);
void start_prints_save(struct engine *e);

/* Bring name in line with its file (import, report or drop), holding write_lock and iscsiadm's
 * lock. 0, or -ENOMEM / the -errno of the store. */
int reconcile_name(struct engine *e, const char *name);

/* reconcile_name for every file of ifaces/ and every indexed name, and drop stale problems;
 * holding write_lock and iscsiadm's lock. 0 or -errno. */
int reconcile_all(struct engine *e);
int watch_open(struct engine *e);

/* Mark every indexed record without a file "missing" (kept, with a problem); holding
 * write_lock and iscsiadm's lock. Returns how many were marked. */
size_t mark_missing(struct engine *e);

/* Why ifaces/ is not usable, for messages, from a mirror_ifaces_check() result (static). */
const char *root_fault_str(int r);

/* --- binding.c: the node db ---------------------------------------------------------------- */

/* Read the iscsid.conf (NULL/"": none), then the node db rows. 0 or -errno (logged). */
int bindings_load(struct engine *e, const char *conf_path);
void bindings_free(struct engine *e);

/* Reconcile nodes/ and send_targets/ with the index, holding write_lock + mirror lock. */
int reconcile_nodes(struct engine *e);

/*
 * The same in two steps, so that the scan (a stat of each entry of the tree, 0.2 s with 10,000
 * bindings here) holds no lock: nodes_scan() needs none (the tree is under the root, which the
 * mirror never changes; a scan that meets a write half done only sees a change), and
 * reconcile_nodes_scanned() runs holding write_lock + mirror lock, reading only what the scan
 * says moved. A change after the scan shows in the next scan's signature.
 */
struct node_scan {
        struct mirror_node_entry *v; /* in path order */
        size_t n;
        uint64_t sig; /* changes with any change in the tree */
};
int nodes_scan(struct engine *e, struct node_scan *ret);
void node_scan_done(struct node_scan *s);
int reconcile_nodes_scanned(struct engine *e, const struct node_scan *s);

/* Recovery of an interrupted write of the node db (a path intent). 0 or -errno. */
int recover_node_intent(struct engine *e, const char *path, const char *content, uint64_t rev,
                        const char *origin, const char *actor, const char *request_id);

/* Holding write_begin's locks: the bindings of iface, deleted (cascade) or -ENOTEMPTY. */
int bindings_of_iface_delete(struct engine *e, const struct engine_ctx *ctx, const char *iface,
                             bool cascade, struct iface_error *err);

/* Holding write_begin's locks: rewrite the bindings of ifr->name with its new fields. */
int bindings_follow_iface(struct engine *e, const struct engine_ctx *ctx,
                          const struct iface_rec *ifr);

/* --- discovery.c ---------------------------------------------------------------------------- */

/* Wait for the bind threads, then drop the kept runs. engine_free, after the check loop. */
void discovery_table_free(struct engine *e);

/* --- health.c: problems and drift events (each takes health_lock itself) -------------------- */

/* Forget name's problem, if any. */
void problem_clear(struct engine *e, const char *name);

/* Whether name has a problem of kind (NULL = any); its reason is copied to buf if given. */
bool problem_get(struct engine *e, const char *name, const char *kind, char *buf, size_t size);

/* Set name's one problem (kind is static) and log it, unless the same one is already known. */
_printf_(4, 5) void problem_set(struct engine *e, const char *name, const char *kind,
                                const char *fmt, ...);

/* Make name's problem the one its record carries (invalid), or none. */
void problem_sync(struct engine *e, const char *name, const struct iface_snap *cur);

/* Drop the problems of names that are neither in names (sorted by strcmp, n of them) nor
 * indexed; holding write_lock. */
void problem_prune(struct engine *e, char **names, size_t n);

/* Record an imported external change (action is static) for health's events. */
void event_record(struct engine *e, const char *name, const char *action, uint64_t rev);
