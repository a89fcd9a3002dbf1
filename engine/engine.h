/* SPDX-License-Identifier: MIT */
/*
 * The engine: the in-memory index of iface records and the verbs on them. Every accepted change
 * goes to sqlite and to the iscsi db root with the crash-safe protocol of DESIGN.md §2:
 * intent row -> file (temp, fsync, rename, fsync dir) -> row + audit, intent dropped. Reads
 * come from the index under a read lock and never touch disk. Drift made by iscsiadm behind
 * our back is picked up at start and by an inotify watcher thread.
 *
 * Verbs that return int also return -EINVAL when an argument they need is NULL (assert_return,
 * a caller bug); the contracts below leave it out. engine_audit does not check its arguments.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value types the verbs below name: the API includes this header and no other of ours. */
#include "audit.h"
#include "binding.h"
#include "check.h"
#include "discovery.h"
#include "event.h"
#include "fs.h"
#include "login.h"
#include "hba.h"
#include "iface.h"
#include "iscsi-name.h"
#include "job.h"
#include "nic.h"
#include "stats.h"
#include "token.h"

#define ENGINE_VERSION     "0.1.0"
#define ENGINE_MAX_RECORDS 100000

#define ENGINE_INITIATOR_NAME_FILE     "/etc/iscsi/initiatorname.iscsi"
#define ENGINE_INITIATOR_NAME_FALLBACK "iqn.2026-11.invalid.iscsi-ifaced:check"

struct engine;

enum engine_drift_policy {
        ENGINE_DRIFT_IMPORT, /* external changes become "external" revisions */
        ENGINE_DRIFT_REPORT, /* external changes are only reported in health */
        _ENGINE_DRIFT_MAX,
};

struct engine_config {
        const char *iscsi_root; /* default /var/lib/iscsi */
        const char *db_path;
        const char *lock_dir; /* default /run/lock/iscsi */
        enum engine_drift_policy drift;
        unsigned lock_timeout_ms;        /* iscsiadm lock wait, default 30000 as iscsiadm */
        const char *sysfs_root;          /* default /sys: HBAs, transports, NIC speed/driver */
        const char *initiator_name_file; /* default /etc/iscsi/initiatorname.iscsi */
        /* The iscsid.conf whose node.* and discovery.* keys new records start from; NULL or ""
         * means none: iscsiadm's compiled defaults (what it uses when iscsid does not answer). */
        const char *iscsid_conf;
        const char *iscsiadm; /* the iscsiadm logins run: default /usr/sbin/iscsiadm */
        const char *dev_root; /* device nodes: default /dev */
        const char *udev_dir; /* udev's run directory (control, data/): default /run/udev */
        void (*fault)(const char *point); /* tests only: called at each protocol step */
        size_t event_buffer; /* events kept for reconnecting clients: 0 = EVENT_BUFFER_DEFAULT */
        /* engine_start_watch() follows: ifaces/ is watched from before the start's scan, so
         * that no second scan has to close the gap between the two. */
        bool watch;
};

/* Who asked, for the audit trail (both may be NULL), and when. */
struct engine_ctx {
        const char *actor;
        const char *request_id;
        /* The request's arrival (CLOCK_MONOTONIC usec; 0 = now): a write waits for the locks
         * until this plus the lock timeout, however many writes wait before it. */
        int64_t start_usec;
};

/* An immutable, reference-counted version of one record, as served to readers. */
struct iface_snap {
        struct iface_rec rec;
        char *content; /* the exact file bytes (NULL for built-ins) */
        size_t content_len;
        uint64_t revision;  /* the ETag; 0 for built-ins */
        const char *origin; /* "api", "external", "auto", "builtin" (static) */
        int64_t created_usec;
        int64_t updated_usec;
        bool builtin;
        char *invalid; /* imported from the db root but breaking our rules: why (else NULL) */
        bool missing;  /* engine-private, under its write lock: kept while its file is gone */
        /* Engine-private, under its write lock: the file's print when its bytes were last seen
         * equal to content, if settled (drift.c, the start-up prints). */
        struct file_print print;
        bool print_settled;
        unsigned refs; /* atomic */
        /*
         * A rendering of rec the API made once and keeps here (api/iface-json.c): a snap never
         * changes, so neither does it. Opaque bytes to the engine, freed with the snap. Set with
         * iface_snap_set_rendered(); read with __atomic_load_n(..., __ATOMIC_ACQUIRE).
         */
        struct iface_rendered *rendered;
        /*
         * The whole body of a GET of this snapshot as the API last prepared it, for one state of
         * the inventory it shows the port against (body->key). Opaque bytes to the engine,
         * replaced when that state changes, freed with the snap. Only through
         * iface_snap_body_copy() and iface_snap_body_set().
         */
        struct iface_body *body;
};

struct iface_body {
        uint64_t key[2];
        size_t len;
        char data[];
};

/* A copy (malloc()ed) of s's prepared body for key: 0, -ENOENT (none for key) or -ENOMEM. */
int iface_snap_body_copy(struct iface_snap *s, const uint64_t key[2], char **ret, size_t *ret_len);

/* Keep body (malloc()ed, taken over) as s's prepared body, in place of any other. */
void iface_snap_body_set(struct iface_snap *s, struct iface_body *body);

struct iface_rendered {
        size_t len;
        char data[]; /* len bytes, then a NUL */
};

/*
 * Keep r (malloc()ed, given) as s's rendering unless one is there already. Returns the one kept:
 * r, or the earlier one (r is then freed).
 */
const struct iface_rendered *iface_snap_set_rendered(struct iface_snap *s,
                                                     struct iface_rendered *r);

struct iface_snap *iface_snap_ref(struct iface_snap *s);
struct iface_snap *iface_snap_unref(struct iface_snap *s);

/*
 * Open the store and the mirror, recover pending intents, remove temp files, reconcile the
 * files with the db (importing or reporting drift), build the index, create the records of
 * offload ports, and start the NIC monitor, the check loop and the job table. Does not start the
 * watcher. On failure *reterr_msg (if not NULL) gets an owned, human-readable reason and *ret is
 * untouched. Returns 0, -ENOMEM, -EBUSY (the database or the iscsi root is in use by another
 * iscsi-ifaced), -EUCLEAN (the database is damaged), -ETIMEDOUT (iscsiadm's lock.write stayed
 * held past the lock timeout), or the -errno of the failing part.
 */
int engine_new(const struct engine_config *cfg, struct engine **ret, char **reterr_msg);

/*
 * Start the inotify watcher thread (drift within a second), then run engine_rescan() once to
 * close the gap since engine_new. Returns 0, -EINVAL (already started), the -errno of inotify,
 * the pipe or the thread (no watcher then), or engine_rescan's -errno (the watcher runs anyway;
 * engine_free stops it).
 */
int engine_start_watch(struct engine *e);

/*
 * The bus of the engine's events (event.h): records created, changed or deleted by the API,
 * by iscsiadm (drift imports) or by the daemon itself, drift problems, NIC link and address
 * changes, job progress. Borrowed; it lives as long as the engine. Events start once
 * engine_new has returned.
 */
struct event_bus *engine_event_bus(struct engine *e);

/* Stop the watcher and free everything. NULL-safe; returns NULL. */
struct engine *engine_free(struct engine *e);

/* Get one record (built-ins included). Returns 0 with a reference in *ret, or -ENOENT. */
int engine_iface_get(struct engine *e, const char *name, struct iface_snap **ret);

struct engine_list_query {
        const char *after;          /* resume after this name (cursor), NULL = start */
        size_t limit;               /* >= 1 */
        const char *transport_name; /* filter, NULL = any */
        const char *net_ifacename;  /* filter, NULL = any */
};

/*
 * List in iscsiadm's order: stored records by strcmp of name, then "default", then "iser".
 * *ret is an array of references (release each with iface_snap_unref and free the array).
 * *ret_more tells whether items remain after the last one returned. Returns 0, or -ENOMEM
 * (the ret_ arguments untouched).
 */
int engine_iface_list(struct engine *e, const struct engine_list_query *q, struct iface_snap ***ret,
                      size_t *ret_n, bool *ret_more);

/* Position of a name in the list order, for cursors: true if name can be resumed after. */
bool engine_list_cursor_is_valid(const char *name);

/*
 * Create a record. rec is validated (iface_validate with old = NULL). Returns 0 with the new
 * snapshot in *ret (ret may be NULL), -EPERM (built-in name; err filled), -EINVAL (err filled),
 * -EEXIST, -ENOSPC (ENGINE_MAX_RECORDS; err filled), -EBUSY (a file iscsi-ifaced did not write,
 * or cannot import, stands at the name; err filled), -ETIMEDOUT, -ESHUTDOWN or -EBADFD (the
 * locks, or the db or ifaces/ replaced; err filled), -ENOMEM, or -EIO or another -errno of the
 * db or the file. On failure the record is not created (an outside change of its file may have
 * been imported first).
 */
int engine_iface_create(struct engine *e, const struct engine_ctx *ctx, const struct iface_rec *rec,
                        struct iface_snap **ret, struct iface_error *err);

/*
 * Edit callback: next starts as a copy of cur; the callback changes it (or replaces it
 * wholly) and returns 0, or a -errno with err filled (for example -EINVAL).
 */
typedef int (*engine_edit_fn)(const struct iface_rec *cur, struct iface_rec *next,
                              struct iface_error *err, void *userdata);

/*
 * Update a record under the write lock: if_match (0 = none) must equal its revision, then the
 * callback edits it, then the result is validated against the current version and stored. An
 * unchanged result is not written and keeps its revision. Returns 0 with the new snapshot in
 * *ret (ret may be NULL), -ENOENT (no such record, if_match 0), -EPERM (built-in; err filled),
 * -ESTALE (if_match differs, or is set and there is no such record), -EINVAL (err filled: the
 * callback, validation, or a changed name), another -errno of the callback, -EBUSY, -ETIMEDOUT,
 * -ESHUTDOWN or -EBADFD (as engine_iface_create; err filled), -ENOMEM, or -EIO or another -errno
 * of the db or the file (the record unchanged).
 */
int engine_iface_update(struct engine *e, const struct engine_ctx *ctx, const char *name,
                        uint64_t if_match, engine_edit_fn edit, void *userdata,
                        struct iface_snap **ret, struct iface_error *err);

/*
 * Delete a record. Returns 0, -ENOENT, -EPERM (built-in; err not filled), -ESTALE (if_match
 * differs, or the record went away meanwhile), -EBUSY (the file is not what we wrote and cannot
 * be imported), -ETIMEDOUT, -ESHUTDOWN (the daemon is stopping), -EBADFD (db or ifaces/
 * replaced), -ENOMEM, or -EIO or another -errno of the db or the file; err (may be NULL) gets
 * the reason of -EBUSY, -ETIMEDOUT, -ESHUTDOWN and -EBADFD.
 */
int engine_iface_delete(struct engine *e, const struct engine_ctx *ctx, const char *name,
                        uint64_t if_match, struct iface_error *err);

/*
 * Write back, from the database, the file of every record that has none in ifaces/ (after the
 * directory was replaced, or the files were lost): never over anything standing at the name.
 * Returns 0 with *ret_n how many were written; -ETIMEDOUT, -ESHUTDOWN, -EBADFD or -EIO while
 * taking the locks (err filled, *ret_n untouched); or the -errno of a file write (logged, err
 * not filled; *ret_n counts the files written before it).
 */
int engine_restore_files(struct engine *e, const struct engine_ctx *ctx, size_t *ret_n,
                         struct iface_error *err);

/*
 * The daemon is stopping: writes waiting for iscsiadm's lock give up now (-ESHUTDOWN, nothing
 * changed), and so does any later one that finds it held, so that the stop is not held up by
 * it. Writes that get the lock at once still complete (the drain serves requests in flight).
 */
void engine_stop_writes(struct engine *e);

/* A file of the db root that is not (or not yet) mirrored, and why. */
struct engine_problem {
        char *name;
        const char *kind; /* "unreadable", "unsupported-name", "drift", "invalid", "missing" */
        char *reason;
};

/* One recent external change that was imported. */
struct engine_drift_event {
        char *name;
        const char *action; /* "added", "changed", "removed" */
        uint64_t revision;
        int64_t at_usec;
};

struct engine_health {
        const char *db_path;   /* borrowed from the engine */
        const char *root_path; /* borrowed from the engine */
        bool db_ok;
        char *db_detail;
        bool root_ok;
        char *root_detail;
        size_t count;            /* stored records (built-ins excluded) */
        uint64_t drift_imported; /* since start */
        struct engine_problem *problems;
        size_t n_problems;
        struct engine_drift_event *events; /* newest first, at most 32 */
        size_t n_events;
        /* iscsiadm's lock.write, as far as can be told */
        bool lock_held;
        bool lock_ours;
        int64_t lock_age_usec;
        char lock_holder[160];
        unsigned writes_waiting; /* API writes waiting for the engine or that lock */
};

/* Fill *ret (zeroed by the caller; release with engine_health_done). 0 or -ENOMEM. */
int engine_health(struct engine *e, struct engine_health *ret);
void engine_health_done(struct engine_health *h);

/* The origins the counts of engine_counts are kept by, in this order ("other": none of these). */
#define ENGINE_ORIGINS                                                                             \
        {                                                                                          \
                "api", "external", "auto", "builtin", "other"                                      \
        }
#define ENGINE_N_ORIGINS 5

/* What the metrics read of the records: sizes of the indexes, drift, problems. */
struct engine_counts {
        size_t ifaces[ENGINE_N_ORIGINS];   /* by snapshot origin, built-ins under "builtin" */
        size_t bindings[ENGINE_N_ORIGINS]; /* by binding origin */
        uint64_t drift_imported;           /* outside changes imported since start */
        size_t n_problems;                 /* files or records listed as problems in health */
};

/* Fill *ret from the indexes (shared index_lock, then health_lock). Cannot fail. */
void engine_counts(struct engine *e, struct engine_counts *ret);

/* This process, as /proc/self tells it (for /metrics). */
struct engine_process {
        double start_time_seconds; /* since the epoch */
        uint64_t resident_bytes;
        unsigned open_fds;
        unsigned threads;
};

/* Fill *ret from <proc root>/self. 0, or the -errno of reading it (*ret partly filled). */
int engine_process(struct engine *e, struct engine_process *ret);

/* The drift policy the engine runs with. */
enum engine_drift_policy engine_drift_policy(const struct engine *e);

/*
 * Delete a record as engine_iface_delete does, and its bindings first when cascade (as
 * `iscsiadm -m iface -o delete` does, golden D16). Without cascade, a record with bindings is
 * -ENOTEMPTY (engine_iface_bindings lists them); with it, still -EBUSY (err names the session)
 * while a session is logged in through one of them, -EPERM when one is an old-style record.
 */
int engine_iface_delete_cascade(struct engine *e, const struct engine_ctx *ctx, const char *name,
                                uint64_t if_match, bool cascade, struct iface_error *err);

/* --- bindings (docs/bindings.md) ---------------------------------------------------------- */

struct engine_binding_query {
        const char *after;                    /* resume after this id, NULL = start */
        size_t limit;                         /* >= 1 */
        const char *target, *address, *iface; /* filters, NULL = any */
        unsigned port;                        /* filter, 0 = any */
};

/* A page of bindings by id; as engine_iface_list. 0 or -ENOMEM. */
int engine_binding_list(struct engine *e, const struct engine_binding_query *q,
                        struct binding_snap ***ret, size_t *ret_n, bool *ret_more);

/* One binding (a reference), or -ENOENT. */
int engine_binding_get(struct engine *e, const char *id, struct binding_snap **ret);

/* The ids of the bindings of an iface (NULL-terminated; free each and the array). */
int engine_iface_bindings(struct engine *e, const char *iface, char ***ret, size_t *ret_n);

/* Edit a node record (new: built from the defaults and the iface; update: a copy of the
 * current one). Returns 0, or -EINVAL (or another -errno) with err filled. */
typedef int (*engine_node_edit_fn)(struct node_rec *next, struct iface_error *err, void *userdata);

/*
 * Create the binding key (tpgt 0..65535) as `iscsiadm -m node -o new` would (discovery type
 * static), edited by edit (may be NULL), in the crash-safe protocol. Returns 0 with the snapshot
 * in *ret (may be NULL), -ENOENT (no such iface; err->field "iface"), -EEXIST, -EINVAL (err),
 * -ENOSPC, and the storage errors of engine_iface_create (-EBUSY, -ETIMEDOUT, -EBADFD...).
 */
int engine_binding_create(struct engine *e, const struct engine_ctx *ctx,
                          const struct binding_key *key, engine_node_edit_fn edit, void *userdata,
                          struct binding_snap **ret, struct iface_error *err);

/* Update: as engine_iface_update; -EPERM for an old-style record (read-only). */
int engine_binding_update(struct engine *e, const struct engine_ctx *ctx, const char *id,
                          uint64_t if_match, engine_node_edit_fn edit, void *userdata,
                          struct binding_snap **ret, struct iface_error *err);

/* Delete: as engine_iface_delete; -EBUSY (err names it) while a session is logged in through
 * it (sysfs), -EPERM for an old-style record. Removes its link and empty directories. */
int engine_binding_delete(struct engine *e, const struct engine_ctx *ctx, const char *id,
                          uint64_t if_match, struct iface_error *err);

/* The discovery CHAP stored for a SendTargets portal: 0 with *ret filled, or -ENOENT. */
int engine_discovery_auth(struct engine *e, const char *address, uint16_t port,
                          struct check_chap *ret);

struct engine_bind_outcome {
        char id[BINDING_ID_MAX];
        int r; /* 0 created, 1 existed (left as it was), or -errno */
        char reason[160];
};

/*
 * Record a discovery through portal address:port: its discovery record (created, or its CHAP
 * replaced when auth is not NULL), then a binding for each of found[0..n-1] that does not exist
 * (discovery type send_targets, with its send_targets link), each outcome in out[i]. Nothing else
 * is deleted or reset. Returns 0, or the storage's -errno (the outcomes before it stand).
 */
int engine_discovery_bind(struct engine *e, const struct engine_ctx *ctx, const char *address,
                          uint16_t port, const struct check_chap *auth,
                          const struct binding_key *found, size_t n,
                          struct engine_bind_outcome *out, struct iface_error *err);

/*
 * Start a discovery run (discovery.h): req copied (its auth wiped from the run once used).
 * Without ifaces, the ifaces iscsiadm would use. done(run, userdata) is called once, on the
 * check loop or the run's bind thread, when it has finished. Returns 0 with a reference in
 * *ret, -ENOENT (an iface does not exist; err->field "ifaces[i]"), -ENOSYS (an iface's
 * transport is not tcp; err), -EAGAIN (DISCOVERY_KEEP runs in progress), -ENOMEM.
 */
int engine_discovery_start(struct engine *e, const struct engine_ctx *ctx,
                           const struct discovery_request *req,
                           void (*done)(struct discovery_run *run, void *userdata), void *userdata,
                           struct discovery_run **ret, struct iface_error *err);

/* A kept run (a reference), or -ENOENT. */
int engine_discovery_get(struct engine *e, const char *id, struct discovery_run **ret);

/* References to the kept runs, newest first; release each, free the array. */
int engine_discovery_list(struct engine *e, struct discovery_run ***ret, size_t *ret_n);

/* Cancel a running run (0), or forget a finished one (1); -ENOENT. */
int engine_discovery_cancel_or_remove(struct engine *e, const char *id);

/*
 * Sessions (login.h, docs/sessions.md). Start a login operation of req->n_bindings items (ids
 * checked: -EINVAL with err naming the bad one); done (may be NULL) is called once when every
 * item has ended, from a pool thread. With req->key: an operation kept with the same key is
 * returned (*ret_existing) if its body_hash matches, else -EILSEQ. 0 with a reference in *ret,
 * -ESHUTDOWN, -ENOMEM.
 */
int engine_login_start(struct engine *e, const struct engine_ctx *ctx,
                       const struct login_request *req,
                       void (*done)(struct login_op *op, void *userdata), void *userdata,
                       struct login_op **ret, bool *ret_existing, struct iface_error *err);
/*
 * Start an operation on session sid (docs/sessions.md): LOGIN_KIND_LOGOUT (force: without the
 * in-use check), LOGIN_KIND_RESCAN (its devices and its target scanned, then the readiness
 * waited for until timeout_ms, 0: 10 s), LOGIN_KIND_STATS (iscsiadm -m session -r sid -s).
 * -ENOENT when sysfs has no such session.
 */
int engine_session_op_start(struct engine *e, const struct engine_ctx *ctx, unsigned sid,
                            enum login_kind kind, bool force, unsigned timeout_ms,
                            void (*done)(struct login_op *op, void *userdata), void *userdata,
                            struct login_op **ret);
int engine_login_get(struct engine *e, const char *id, struct login_op **ret);
/* Every kept operation, newest first (references; free the array). */
int engine_login_list(struct engine *e, struct login_op ***ret, size_t *ret_n);
/* Cancel a running operation (0) or forget a finished one (1); -ENOENT. */
int engine_login_cancel_or_remove(struct engine *e, const char *id);
/* The error counters of one session, from `iscsiadm -m session -r N -s`. */
struct engine_session_errors {
        unsigned sid;
        uint64_t digest_err;  /* header or data digest errors; SESSION_UNKNOWN_U64 not shown */
        uint64_t timeout_err; /* connection timeouts (NOP-Out / transport) */
        int64_t read_usec;    /* CLOCK_REALTIME of the read */
};

/*
 * For /metrics: the counters of the sessions sids (the logged-in ones), as last read. Reading
 * them runs iscsiadm, so it is never done on the caller's thread: when the last round of reads
 * is older than max_age_usec (and done), a new round is queued on the login pool, and a later
 * call sees its results. Sessions not in sids are forgotten; those never read are left out.
 * Returns 0 with *ret (free it) and *ret_n, -ENOMEM or -ESHUTDOWN.
 */
int engine_session_errors(struct engine *e, const unsigned *sids, size_t n_sids,
                          int64_t max_age_usec, struct engine_session_errors **ret, size_t *ret_n);
/*
 * Publish a session.state event for each session whose state changed since the last call
 * without one of our operations (iscsid's recovery: FAILED and back to LOGGED_IN; a logout by
 * iscsiadm or a login by another tool; docs/events.md). The first call only takes a look. The
 * watcher thread calls it every second.
 */
void engine_sessions_watch(struct engine *e);
/* The sessions in sysfs, by sid, with what the engine knows of them. */
int engine_sessions_list(struct engine *e, struct engine_session **ret, size_t *ret_n);
void engine_sessions_free(struct engine_session *v, size_t n);
/* One session: 0, -ENOENT, -ENOMEM. Release with engine_session_done(). */
int engine_session_get(struct engine *e, unsigned sid, struct engine_session *ret);
void engine_session_done(struct engine_session *s);

/* --- inventory ---------------------------------------------------------------------------- */

/* The current NIC snapshot (a reference to release), or NULL if the monitor is not running. */
struct nic_snapshot *engine_nics(struct engine *e);

/* An HBA inventory shared by readers; rescanned when older than a second. */
struct engine_hbas {
        struct hba_inventory inv;
        int64_t scanned_usec; /* CLOCK_MONOTONIC_COARSE */
        uint64_t generation;  /* increases with every scan */
        unsigned refs;        /* atomic */
};

/* The HBA inventory (a reference to release with engine_hbas_unref). 0 or -ENOMEM. */
int engine_hbas(struct engine *e, struct engine_hbas **ret);
struct engine_hbas *engine_hbas_unref(struct engine_hbas *h);

/*
 * Create the iface records iscsiadm would create for the offload ports in sysfs (origin
 * "auto"), for each name that has neither a record nor a file. Idempotent. Returns the number
 * created, or -ENOMEM, -ETIMEDOUT, -ESHUTDOWN, -EBADFD, -EIO or another -errno of the locks or
 * of a write (the records created before it stay).
 */
int engine_offload_sync(struct engine *e);

enum engine_port_state {
        ENGINE_PORT_UNBOUND, /* neither hwaddress nor net_ifacename names a port */
        ENGINE_PORT_PRESENT,
        ENGINE_PORT_MISSING, /* a named NIC or HBA is not on this host (now) */
        _ENGINE_PORT_MAX,
};

#define ENGINE_PORT_WARNINGS_MAX 2

/*
 * Whether the port rec binds to exists: net_ifacename must name a NIC (or an HBA's netdev),
 * hwaddress a NIC's MAC or an HBA's hwaddress (case-insensitive, as iscsiadm matches). nics and
 * hbas may be NULL (then nothing is known to be present). Fills up to ENGINE_PORT_WARNINGS_MAX
 * human-readable warnings.
 */
enum engine_port_state engine_iface_port(const struct iface_rec *rec,
                                         const struct nic_snapshot *nics,
                                         const struct hba_inventory *hbas,
                                         char warnings[ENGINE_PORT_WARNINGS_MAX][160],
                                         size_t *ret_n_warnings);

/*
 * Run one reconciliation pass now (what the watcher does), then create the records of offload
 * ports that appeared since the start (engine_offload_sync). For SIGHUP and tests. Returns 0,
 * -ETIMEDOUT (iscsiadm's lock held past the lock timeout) or -ESHUTDOWN (nothing done), the
 * fault of ifaces/ (-ENOENT, -ESTALE, -ENOTDIR...: nothing reconciled), or another -errno of
 * reconciliation or of engine_offload_sync.
 */
int engine_rescan(struct engine *e);

/*
 * Who holds iscsiadm's lock.write, for a message after -ETIMEDOUT: "held by iscsiadm (pid N)
 * for 1234 ms", "held by this daemon's other writes", or "free now" when it was let go since.
 */
void engine_lock_holder(struct engine *e, char *buf, size_t size);

/* --- checks and jobs (docs/checks.md) --- */

/*
 * Run one check (spec copied) on the check loop; done(chk, userdata) is called once, on the
 * check loop, when it has finished. *ret (may be NULL) gets a reference to release with
 * check_unref(). 0, -ENOMEM, -ESHUTDOWN (stopping). See checker_submit() in check.h.
 */
int engine_check_submit(struct engine *e, const struct check_spec *spec, check_done_fn done,
                        void *userdata, struct check **ret);

/*
 * Start a job of n checks (specs copied). With key (may be NULL: compared whole; a caller that
 * scopes keys per principal puts the scope in it) and body_hash: a kept job with the same key is
 * returned instead (*ret_existing true) when the hash matches, or -EILSEQ when it does not.
 * Returns 0 with a reference in *ret (job_unref), -E2BIG (over JOB_ITEMS_MAX), -EAGAIN (JOB_MAX
 * jobs running), -EINVAL (key too long), -ENOMEM, -ESHUTDOWN.
 */
int engine_job_start(struct engine *e, const struct check_spec *specs, size_t n, const char *key,
                     uint64_t body_hash, struct job **ret, bool *ret_existing);

/* A reference to the job with this id (job_unref), or -ENOENT. */
int engine_job_get(struct engine *e, const char *id, struct job **ret);

/* References to every kept job, newest first; release each, then free the array. */
int engine_job_list(struct engine *e, struct job ***ret, size_t *ret_n);

/* Cancel a running job (0), or forget a finished one (1). -ENOENT if unknown. */
int engine_job_cancel_or_remove(struct engine *e, const char *id);

/*
 * The daemon is stopping: cancel every check and job and refuse new ones (-ESHUTDOWN). Their
 * callbacks follow promptly, on the check loop.
 */
void engine_stop_checks(struct engine *e);

/*
 * Fill the iface part of spec (name, transport, binding, address, initiator name) from the
 * stored or built-in record name. Returns 0, or -ENOENT.
 */
int engine_check_spec_init(struct engine *e, const char *name, struct check_spec *spec);

/* --- tokens (docs/security.md) --- */

/*
 * Create a token (role, name: 0..TOKEN_NAME_MAX printable characters). ret_token gets the whole
 * token, the only time it exists outside the caller's hands. actor and request_id (may be NULL)
 * go to the audit. 0, -EINVAL (role or name), -EBADFD (the db was deleted or replaced), -EIO,
 * -ENOSPC, -EDEADLK (called where no fsync may wait: engine_thread_forbid_durable).
 */
int engine_token_create(struct engine *e, enum role role, const char *name, const char *actor,
                        const char *request_id, char ret_token[static TOKEN_LEN + 1],
                        struct token_info *ret_info);

/* Every token, oldest first; *ret is the caller's to free(). */
int engine_token_list(struct engine *e, struct token_info **ret, size_t *ret_n);

/* Revoke by id, audited: 0, -ENOENT, -EALREADY (revoked before), -EBADFD, -EIO, -EDEADLK. */
int engine_token_revoke(struct engine *e, const char *id, const char *actor,
                        const char *request_id);

/*
 * Check a presented id and secret: 0 with *ret filled, -ENOENT (no such id), -EACCES (wrong
 * secret or revoked), -EIO. Revocations by the CLI count at once.
 */
int engine_token_verify(struct engine *e, const char *id, const char *secret,
                        struct token_info *ret);

/* --- the NIC and HBA inventory joined with the records --- */

/*
 * Hardware addresses compare as iscsiadm compares them: case-insensitively, and an empty one
 * matches nothing.
 */
bool engine_mac_eq(const char *a, const char *b);
/* rec binds to this NIC: net_ifacename is its name, or hwaddress its MAC. */
bool engine_iface_on_nic(const struct iface_rec *rec, const struct nic *nic);
/* The HBA port is this NIC: the same netdev, or the same MAC. */
bool engine_hba_on_nic(const struct hba_host *h, const struct nic *nic);
/* rec uses this HBA port: the same transport and hwaddress (iscsiadm picks the host so). */
bool engine_iface_on_hba(const struct iface_rec *rec, const struct hba_host *h);

/*
 * A write's answer is on its way: write the rows and audit entries of the writes already
 * answered (group.c defers them to the next transaction) now, off the next write's path,
 * unless a write is queued (its transaction takes them along). Any thread.
 */
void engine_after_write(struct engine *e);

/*
 * Is a durable write queued or being made durable? A write started now would wait for it or
 * lead a batch of the queued ones: a caller that may run a lone write on a thread with other
 * duties (the API's HTTP threads) hands it to a writer thread instead, and a write's thread
 * makes its temp file durable itself first (write.c, mirror_temp_write), not its batch's
 * leader. A hint (no lock): it may change at once; the write is correct either way.
 */
bool engine_write_busy(struct engine *e);

/*
 * A page of the audit trail (audit.h has the query). cb runs under the engine's write lock; a
 * negative result of cb stops the page. Returns cb's last result, or the store's -errno.
 */
int engine_audit(struct engine *e, const struct store_audit_query *q,
                 int (*cb)(const struct store_audit *a, void *ud), void *ud);

/*
 * From now on (until called with false) the calling thread must not wait for an fsync: every
 * durable verb (record writes, restore-files, token create and revoke) called on it fails with
 * -EDEADLK, and the log names it. The API sets this while it runs a route that is not marked
 * ROUTE_DURABLE on an HTTP thread, so that a route left unmarked fails in every test that
 * reaches it instead of silently holding an HTTP thread.
 */
void engine_thread_forbid_durable(bool on);
