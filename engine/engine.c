/* SPDX-License-Identifier: MIT */
/*
 * The engine: the in-memory index of iface records, the crash-safe write protocol that joins the
 * sqlite store and the file mirror, recovery at start, and drift reconciliation (at start and
 * from an inotify watcher thread).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "job.h"
#include "token.h"
#include "log.h"
#include "macro.h"
#include "mirror.h"
#include "store.h"

#define ENGINE_EVENTS_MAX      32
#define REVISION_RESERVE_FILE  "revision-reserve" /* in <root>/.iscsi-ifaced/ */
#define REVISION_RESERVE_BLOCK 1024               /* revisions put on record per fsync */
#define WATCH_SETTLE_MS        50                 /* gather a burst of events before reconciling */
#define WATCH_FULL_SCAN_MS     60000              /* safety net: a full pass this often */
#define WATCH_ROOT_CHECK_MS    1000               /* is ifaces/ still there: this often */

struct engine {
        char *iscsi_root;
        char *db_path;
        char *lock_dir;
        enum engine_drift_policy drift;
        unsigned lock_timeout_ms;
        void (*fault)(const char *point);
        char *sysfs_root;
        char *proc_root;

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

        /* Health state, guarded by health_lock. */
        pthread_mutex_t health_lock;
        struct engine_problem *problems;
        size_t n_problems;
        struct engine_drift_event events[ENGINE_EVENTS_MAX];
        size_t n_events; /* total recorded; ring position = n % MAX */
        uint64_t drift_imported;

        /* Inventory. */
        struct nic_monitor *nics;
        struct checker *checker;
        struct jobs *jobs;
        struct tokens *tokens;
        atomic_int db_probe; /* the last store_count() result of health, 0 or -errno */
        pthread_mutex_t hbas_lock;
        struct engine_hbas *hbas;

        /* Faults of the storage under us (atomic: health reads them without write_lock). */
        atomic_int root_fault;      /* 0, or why ifaces/ is not ours now: -ENOENT, -ESTALE... */
        atomic_uint writes_waiting; /* writes between their arrival and the locks */

        /* Watcher. */
        int inotify_fd;
        int watch_wd; /* the watch on ifaces/, -1 if none */
        int stop_fds[2];
        pthread_t watcher;
        bool watching;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct engine *, engine_free);

static void initiator_name_read(const char *path, char *buf, size_t size);
static int root_settle(struct engine *e);
static size_t mark_missing(struct engine *e);
static int watch_add(struct engine *e);

static void fault(struct engine *e, const char *point)
{
        if (e->fault)
                e->fault(point);
}

static const char *origin_static(const char *s)
{
        static const char *const known[] = { "api", "external", "auto", "builtin" };

        for (size_t i = 0; s && i < ELEMENTSOF(known); i++)
                if (streq(s, known[i]))
                        return known[i];
        return "unknown";
}

/* --- snapshots ----------------------------------------------------------------------------- */

struct iface_snap *iface_snap_ref(struct iface_snap *s)
{
        if (s)
                __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
        return s;
}

struct iface_snap *iface_snap_unref(struct iface_snap *s)
{
        if (!s)
                return NULL;
        if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        iface_rec_done(&s->rec);
        free(s->content);
        free(s->invalid);
        free(s);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct iface_snap *, iface_snap_unref);

/* Build a snapshot, taking over *rec (left zeroed). content is copied. */
static int snap_new(struct iface_rec *rec, const char *content, size_t content_len,
                    uint64_t revision, const char *origin, int64_t created, int64_t updated,
                    struct iface_snap **ret)
{
        struct iface_snap *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        if (content) {
                s->content = malloc(content_len + 1);
                if (!s->content) {
                        free(s);
                        return -ENOMEM;
                }
                memcpy(s->content, content, content_len);
                s->content[content_len] = 0;
                s->content_len = content_len;
        }
        s->rec = *rec;
        memset(rec, 0, sizeof(*rec));
        s->revision = revision;
        s->origin = origin_static(origin);
        s->created_usec = created;
        s->updated_usec = updated;
        s->refs = 1;
        *ret = s;
        return 0;
}

/* --- the index (callers hold write_lock; readers only take index_lock shared) --------------- */

/* Binary search: returns the position of name, or where it would be inserted (*found false). */
static size_t idx_search(struct engine *e, const char *name, bool *found)
{
        size_t lo = 0, hi = e->n_idx;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(e->idx[mid]->rec.name, name);

                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

static struct iface_snap *idx_find(struct engine *e, const char *name)
{
        bool found;
        size_t i = idx_search(e, name, &found);

        return found ? e->idx[i] : NULL;
}

/* Put snap (reference taken over) in place of name's entry; NULL removes it. */
static int idx_set(struct engine *e, const char *name, struct iface_snap *snap)
{
        struct iface_snap *old = NULL;
        bool found;
        size_t i;

        pthread_rwlock_wrlock(&e->index_lock);
        if (snap && e->n_idx == e->cap_idx) {
                /* Readers hold index_lock while they look at idx, so grow it inside. */
                size_t cap = e->cap_idx ? e->cap_idx * 2 : 64;
                struct iface_snap **n = realloc(e->idx, cap * sizeof(*n));

                if (!n) {
                        pthread_rwlock_unlock(&e->index_lock);
                        iface_snap_unref(snap);
                        return -ENOMEM;
                }
                e->idx = n;
                e->cap_idx = cap;
        }
        i = idx_search(e, name, &found);
        if (found) {
                old = e->idx[i];
                if (snap)
                        e->idx[i] = snap;
                else {
                        memmove(e->idx + i, e->idx + i + 1, (e->n_idx - i - 1) * sizeof(*e->idx));
                        e->n_idx--;
                }
        } else if (snap) {
                memmove(e->idx + i + 1, e->idx + i, (e->n_idx - i) * sizeof(*e->idx));
                e->idx[i] = snap;
                e->n_idx++;
        }
        pthread_rwlock_unlock(&e->index_lock);

        iface_snap_unref(old);
        return 0;
}

/* --- health bookkeeping -------------------------------------------------------------------- */

static void problem_clear(struct engine *e, const char *name)
{
        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems; i++) {
                if (!streq(e->problems[i].name, name))
                        continue;
                free(e->problems[i].name);
                free(e->problems[i].reason);
                e->problems[i] = e->problems[--e->n_problems];
                break;
        }
        pthread_mutex_unlock(&e->health_lock);
}

/* Whether name has a problem of kind (NULL = any); its reason is copied to buf if given. */
static bool problem_get(struct engine *e, const char *name, const char *kind, char *buf,
                        size_t size)
{
        bool found = false;

        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems && !found; i++) {
                if (!streq(e->problems[i].name, name) ||
                    (kind && !streq(e->problems[i].kind, kind)))
                        continue;
                found = true;
                if (buf)
                        snprintf(buf, size, "%s", e->problems[i].reason);
        }
        pthread_mutex_unlock(&e->health_lock);
        return found;
}

_printf_(4, 5) static void problem_set(struct engine *e, const char *name, const char *kind,
                                       const char *fmt, ...)
{
        char reason[512];
        char *n, *r;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);

        /* A problem that is already known is not logged again on every pass. */
        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems; i++)
                if (streq(e->problems[i].name, name) && streq(e->problems[i].kind, kind) &&
                    streq(e->problems[i].reason, reason)) {
                        pthread_mutex_unlock(&e->health_lock);
                        return;
                }
        pthread_mutex_unlock(&e->health_lock);

        problem_clear(e, name);
        n = strdup(name);
        r = strdup(reason);
        pthread_mutex_lock(&e->health_lock);
        if (n && r && e->n_problems < 4096) {
                struct engine_problem *p = realloc(e->problems, (e->n_problems + 1) * sizeof(*p));

                if (p) {
                        e->problems = p;
                        p[e->n_problems++] = (struct engine_problem){ n, kind, r };
                        n = r = NULL;
                }
        }
        pthread_mutex_unlock(&e->health_lock);
        free(n);
        free(r);
        log_warning("db root file 'ifaces/%s' %s (%s): %s", name,
                    streq(kind, "invalid") ? "is imported but breaks our rules" :
                    streq(kind, "missing") ? "is missing; its record is kept" :
                                             "is not mirrored",
                    kind, reason);
}

/* A record kept while its file is gone (struct iface_snap's missing). */
static void missing_problem(struct engine *e, const char *name)
{
        problem_set(e, name, "missing",
                    "no file in '%s' since the directory was replaced or removed; the record is "
                    "kept: POST /api/v1/admin/restore-files writes it back, DELETE drops it",
                    mirror_ifaces_dir(e->mirror));
}

/* The problem a record itself carries (invalid), or none. */
static void problem_sync(struct engine *e, const char *name, const struct iface_snap *cur)
{
        if (cur && cur->invalid)
                problem_set(e, name, "invalid", "%s", cur->invalid);
        else
                problem_clear(e, name);
}

/*
 * A record taken from the db root (or loaded from a row that was) may break the rules the API
 * applies (an ipaddress like 999.1.1.1, both binding keys): iscsiadm wrote or accepted it, so it
 * is kept as it is, marked invalid with the reason, and shown in health. A write that fixes it
 * is accepted (engine_iface_update validates it without the old version's binding rule).
 */
static int snap_check_valid(struct engine *e, struct iface_snap *s)
{
        struct iface_error err = {};

        if (iface_validate(&s->rec, NULL, &err) >= 0)
                return 0;
        if (asprintf(&s->invalid, "%s%s%s", err.field ? err.field : "", err.field ? ": " : "",
                     err.reason) < 0) {
                s->invalid = NULL;
                return -ENOMEM;
        }
        problem_set(e, s->rec.name, "invalid", "%s", s->invalid);
        return 0;
}

static void event_record(struct engine *e, const char *name, const char *action, uint64_t rev)
{
        char *n = strdup(name);

        if (!n)
                return;
        pthread_mutex_lock(&e->health_lock);
        struct engine_drift_event *ev = &e->events[e->n_events % ENGINE_EVENTS_MAX];
        free(ev->name);
        *ev = (struct engine_drift_event){ n, action, rev, clock_usec(CLOCK_REALTIME) };
        e->n_events++;
        e->drift_imported++;
        pthread_mutex_unlock(&e->health_lock);
}

/* --- the write protocol -------------------------------------------------------------------- */

/*
 * Undo a write whose commit failed: put the old file back so both mirrors stay at the old
 * version, then drop the intent. If the file cannot be restored, the intent stays and the next
 * start settles the name (by comparing the file with the intent).
 */
static void restore_old_file(struct engine *e, const char *name, const struct iface_snap *old)
{
        int r = old ? mirror_write(e->mirror, name, old->content, old->content_len) :
                      mirror_remove(e->mirror, name);

        if (r < 0) {
                log_error_errno(r, "Failed to restore 'ifaces/%s'; the next start settles it",
                                name);
                return;
        }
        (void)store_intent_drop(e->store, name);
}

/*
 * Store one change made through the API (origin "api") or by the engine itself ("auto"),
 * holding write_lock and iscsiadm's lock (write_begin), with the file settled (settle_name):
 * intent row (durable) -> file (atomic, durable) -> row + audit with the
 * intent dropped (durable) -> index. A crash at any point is finished or undone by
 * recover_intents() at the next start. On failure nothing is changed and nothing was
 * acknowledged.
 */
static int commit_change(struct engine *e, const struct engine_ctx *ctx, const char *origin,
                         const char *name, struct iface_rec *rec, const char *action,
                         const struct iface_snap *old, struct iface_snap **ret)
{
        _cleanup_free_ char *content = NULL;
        _cleanup_(iface_snap_unrefp) struct iface_snap *snap = NULL;
        size_t len = 0;
        uint64_t rev = e->revision + 1;
        int64_t now = clock_usec(CLOCK_REALTIME);
        int r;

        if (rec) {
                r = iface_render_file(rec, &content, &len);
                if (r < 0)
                        return r;
        }

        /*
         * The revision is about to be handed out: make sure a block of revisions including it is
         * on record beside the records (one fsync per REVISION_RESERVE_BLOCK writes), so that a
         * lost db cannot make a later revision repeat an ETag a client saw.
         */
        if (rev > e->revision_reserved) {
                char buf[32];
                uint64_t upto = rev + REVISION_RESERVE_BLOCK;
                int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", upto);

                r = mirror_state_write(e->mirror, REVISION_RESERVE_FILE, buf, (size_t)n);
                if (r < 0)
                        return r;
                e->revision_reserved = upto;
        }

        fault(e, "engine-before-intent");
        r = store_intent_put(e->store, &(struct store_intent){
                                               .name = name,
                                               .content = content,
                                               .revision = rev,
                                               .origin = origin,
                                               .actor = ctx ? ctx->actor : NULL,
                                               .request_id = ctx ? ctx->request_id : NULL,
                                       });
        if (r < 0)
                return log_error_errno(r, "Failed to record intent for '%s'", name);
        fault(e, "engine-intent-committed");

        r = content ? mirror_write(e->mirror, name, content, len) : mirror_remove(e->mirror, name);
        if (r < 0) {
                /* The new file may be in place already (a failed directory fsync after the
                 * rename), so restore the old one before dropping the intent. */
                restore_old_file(e, name, old);
                return log_error_errno(r, "Failed to write 'ifaces/%s'", name);
        }
        fault(e, "engine-file-written");

        r = store_apply(e->store, &(struct store_change){
                                          .name = name,
                                          .content = content,
                                          .revision = rev,
                                          .origin = origin,
                                          .now_usec = now,
                                          .action = action,
                                          .actor = ctx ? ctx->actor : NULL,
                                          .request_id = ctx ? ctx->request_id : NULL,
                                          .before = old ? old->content : NULL,
                                  });
        if (r < 0) {
                restore_old_file(e, name, old);
                return log_error_errno(r, "Failed to commit '%s' to the db", name);
        }
        fault(e, "engine-row-committed");
        e->revision = rev;

        if (rec) {
                r = snap_new(rec, content, len, rev, origin, old ? old->created_usec : now, now,
                             &snap);
                if (r < 0)
                        return r;
                r = idx_set(e, name, iface_snap_ref(snap));
        } else
                r = idx_set(e, name, NULL);
        if (r < 0)
                return r;

        problem_clear(e, name);
        if (ret)
                *ret = TAKE_PTR(snap);
        return 0;
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
                r = idx_set(e, name, TAKE_PTR(snap));
        } else
                r = idx_set(e, name, NULL);
        if (r < 0)
                return r;

        event_record(e, name, !content ? "removed" : old ? "changed" : "added", rev);
        log_info("Imported external change of 'ifaces/%s' as revision %" PRIu64 " (%s)", name, rev,
                 !content ? "removed" :
                 old      ? "changed" :
                            "added");
        return 0;
}

/*
 * Bring one name in line with the db root, holding write_lock and the mirror lock: a file that
 * differs from what we last wrote is imported (or reported), a vanished file is dropped (or
 * reported), a file we cannot take over wholly is reported and changes nothing.
 */
static int reconcile_name(struct engine *e, const char *name)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        struct iface_snap *cur;
        size_t len = 0;
        int r;

        /* iscsiadm ignores this sample file; so do we. */
        if (streq(name, "iface.example"))
                return 0;

        cur = idx_find(e, name);
        r = mirror_read(e->mirror, name, &data, &len);
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
static int reconcile_all(struct engine *e)
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
        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems;) {
                if (bsearch(&e->problems[i].name, names, n, sizeof(char *), name_cmp) ||
                    idx_find(e, e->problems[i].name)) {
                        i++;
                        continue;
                }
                free(e->problems[i].name);
                free(e->problems[i].reason);
                e->problems[i] = e->problems[--e->n_problems];
        }
        pthread_mutex_unlock(&e->health_lock);

finish:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        for (size_t i = 0; i < n_known; i++)
                free(known[i]);
        free(known);
        return r;
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
                if (r >= 0)
                        r = reconcile_all(e);
                mirror_unlock(e->mirror);
        }
        pthread_mutex_unlock(&e->write_lock);
        if (r < 0)
                return r;

        /* Offload ports that appeared since the start get their records now. */
        r = engine_offload_sync(e);
        if (r > 0)
                log_info("Created %d iface record(s) for offload ports", r);
        return r < 0 ? r : 0;
}

/* --- start: recovery and loading ----------------------------------------------------------- */

struct intent_list {
        struct intent_item {
                char *name;
                char *content;
                uint64_t revision;
                char *origin;
                char *actor;
                char *request_id;
        } * items;
        size_t n;
};

static int intent_collect(const struct store_intent *in, void *ud)
{
        struct intent_list *l = ud;
        struct intent_item *it;

        it = realloc(l->items, (l->n + 1) * sizeof(*it));
        if (!it)
                return -ENOMEM;
        l->items = it;
        it = &l->items[l->n++];
        *it = (struct intent_item){
                .name = strdup(in->name),
                .content = in->content ? strdup(in->content) : NULL,
                .revision = in->revision,
                .origin = strdup(in->origin ? in->origin : "api"),
                .actor = in->actor ? strdup(in->actor) : NULL,
                .request_id = in->request_id ? strdup(in->request_id) : NULL,
        };
        if (!it->name || !it->origin || (in->content && !it->content))
                return -ENOMEM;
        return 0;
}

static void intent_list_done(struct intent_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].name);
                free(l->items[i].content);
                free(l->items[i].origin);
                free(l->items[i].actor);
                free(l->items[i].request_id);
        }
        free(l->items);
}

struct row_lookup {
        const char *name;
        char *content;
        bool found;
};

static int row_find_cb(const struct store_row *row, void *ud)
{
        struct row_lookup *l = ud;

        if (!streq(row->name, l->name))
                return 0;
        l->found = true;
        l->content = strdup(row->content);
        return l->content ? 1 : -ENOMEM;
}

/*
 * Settle the writes a crash interrupted: an intent whose file reached the db root is completed
 * (the write wins wholly), any other is dropped (the old version stays wholly). No such write
 * was acknowledged, so either outcome keeps every acknowledged write.
 */
static int recover_intents(struct engine *e)
{
        _cleanup_(intent_list_done) struct intent_list l = {};
        int r;

        r = store_intents_foreach(e->store, intent_collect, &l);
        if (r < 0)
                return r;

        for (size_t i = 0; i < l.n; i++) {
                struct intent_item *it = &l.items[i];
                _cleanup_free_ char *data = NULL;
                struct row_lookup old = { .name = it->name };
                size_t len = 0;
                bool done;

                r = mirror_read(e->mirror, it->name, &data, &len);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && r != -ENOENT) {
                        /*
                         * Something we cannot read stands at the name (a directory, a FIFO, a
                         * symlink, a huge file): our write cannot have put it there, so the
                         * write did not happen. Never refuse to start over it: drop the intent
                         * and let reconciliation report the path.
                         */
                        log_warning("Interrupted write of '%s' (revision %" PRIu64
                                    "): '%s/%s' is %s, which iscsi-ifaced did not write; the write "
                                    "is dropped and the path is left alone (move it away and "
                                    "rescan to use the name)",
                                    it->name, it->revision, mirror_ifaces_dir(e->mirror), it->name,
                                    mirror_read_strerror(r));
                        r = store_intent_drop(e->store, it->name);
                        if (r < 0)
                                return r;
                        continue;
                }
                done = it->content ?
                               r >= 0 && streq(data, it->content) && strlen(it->content) == len :
                               r == -ENOENT;
                if (!done) {
                        log_notice("Interrupted write of '%s' (revision %" PRIu64
                                   ") did not reach the db root, dropped",
                                   it->name, it->revision);
                        r = store_intent_drop(e->store, it->name);
                        if (r < 0)
                                return r;
                        continue;
                }

                r = store_rows_foreach(e->store, row_find_cb, &old);
                if (r < 0) {
                        free(old.content);
                        return r;
                }
                r = store_apply(e->store, &(struct store_change){
                                                  .name = it->name,
                                                  .content = it->content,
                                                  .revision = it->revision,
                                                  .origin = it->origin,
                                                  .now_usec = clock_usec(CLOCK_REALTIME),
                                                  .action = !it->content ? "delete" :
                                                            old.found    ? "update" :
                                                                           "create",
                                                  .actor = it->actor,
                                                  .request_id = it->request_id,
                                                  .before = old.content,
                                          });
                free(old.content);
                if (r < 0)
                        return r;
                if (it->revision > e->revision)
                        e->revision = it->revision;
                log_notice("Interrupted write of '%s' (revision %" PRIu64
                           ") had reached the db root, completed",
                           it->name, it->revision);
        }
        return 0;
}

static int row_load_cb(const struct store_row *row, void *ud)
{
        struct engine *e = ud;
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_snap *snap = NULL;
        struct iface_error err = {};
        int r;

        r = iface_parse_file(row->name, row->content, strlen(row->content), &rec, &err);
        if (r < 0) {
                /* Cannot happen for rows we wrote; keep going and let health say it. */
                problem_set(e, row->name, "unreadable", "stored revision %" PRIu64 ": %s",
                            row->revision, err.reason);
                return r == -ENOMEM ? r : 0;
        }
        r = snap_new(&rec, row->content, strlen(row->content), row->revision, row->origin,
                     row->created_usec, row->updated_usec, &snap);
        if (r < 0)
                return r;
        r = snap_check_valid(e, snap);
        if (r < 0) {
                iface_snap_unref(snap);
                return r;
        }
        return idx_set(e, row->name, snap);
}

static int builtin_new(const char *name, struct iface_snap **ret)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        int r;

        r = iface_builtin(name, &rec);
        if (r < 0)
                return r;
        r = snap_new(&rec, NULL, 0, 0, "builtin", 0, 0, ret);
        if (r < 0)
                return r;
        (*ret)->builtin = true;
        return 0;
}

_printf_(3, 4) static int fail_msg(char **reterr_msg, int r, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (reterr_msg) {
                free(*reterr_msg);
                if (asprintf(reterr_msg, "%s: %s", buf, strerror(r < 0 ? -r : r)) < 0)
                        *reterr_msg = NULL;
        }
        return r;
}

int engine_new(const struct engine_config *cfg, struct engine **ret, char **reterr_msg)
{
        _cleanup_(engine_freep) struct engine *e = NULL;
        int r;

        assert_return(cfg && cfg->iscsi_root && cfg->db_path && ret, -EINVAL);
        assert_return(cfg->drift < _ENGINE_DRIFT_MAX, -EINVAL);

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->inotify_fd = e->stop_fds[0] = e->stop_fds[1] = e->watch_wd = e->db_lock_fd = -1;
        pthread_mutex_init(&e->write_lock, NULL);
        pthread_mutex_init(&e->health_lock, NULL);
        pthread_rwlock_init(&e->index_lock, NULL);
        pthread_mutex_init(&e->hbas_lock, NULL);
        e->iscsi_root = strdup(cfg->iscsi_root);
        e->sysfs_root = strdup(cfg->sysfs_root ? cfg->sysfs_root : "/sys");
        e->proc_root = strdup(cfg->proc_root ? cfg->proc_root : "/proc");
        e->db_path = strdup(cfg->db_path);
        e->lock_dir = strdup(cfg->lock_dir ? cfg->lock_dir : "/run/lock/iscsi");
        if (!e->iscsi_root || !e->db_path || !e->lock_dir || !e->sysfs_root || !e->proc_root)
                return -ENOMEM;
        e->drift = cfg->drift;
        e->lock_timeout_ms = cfg->lock_timeout_ms ? cfg->lock_timeout_ms : 30000;
        e->fault = cfg->fault;

        r = builtin_new("default", &e->builtin[0]);
        if (r >= 0)
                r = builtin_new("iser", &e->builtin[1]);
        if (r < 0)
                return r;

        {
                char holder[256];

                r = store_lock_db(e->db_path, e->iscsi_root, &e->db_lock_fd, holder,
                                  sizeof(holder));
                if (r == -EBUSY)
                        return fail_msg(reterr_msg, r,
                                        "the database '%s' is in use by another iscsi-ifaced "
                                        "(%s); two daemons on one database would take each "
                                        "other's records for deletions: stop it, or give this "
                                        "one its own --db",
                                        e->db_path, holder);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot lock the database '%s' ('%s.lock')",
                                        e->db_path, e->db_path);
        }
        r = store_open(e->db_path, &e->store);
        if (r >= 0 && store_check(e->store) < 0)
                r = -EUCLEAN;
        if (r == -EUCLEAN)
                return fail_msg(reterr_msg, r,
                                "the database '%s' is damaged; restore it from a backup, or move "
                                "it (and its -wal and -shm files) away and start again: the "
                                "records are then imported from '%s/ifaces' (the audit trail and "
                                "the tokens are lost with the old file)",
                                e->db_path, e->iscsi_root);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot open the database '%s'", e->db_path);
        r = mirror_open(e->iscsi_root, e->lock_dir, e->fault, &e->mirror);
        if (r == -EBUSY)
                return fail_msg(reterr_msg, r,
                                "iscsi root '%s' is already served by another iscsi-ifaced",
                                e->iscsi_root);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot use iscsi root '%s' (lock dir '%s')",
                                e->iscsi_root, e->lock_dir);

        r = store_max_revision(e->store, &e->revision);
        if (r == -EUCLEAN)
                return fail_msg(reterr_msg, r,
                                "the database '%s' is damaged; restore it from a backup, or move "
                                "it away and start again (records are imported from '%s/ifaces')",
                                e->db_path, e->iscsi_root);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot read the database '%s'", e->db_path);

        /* A new db next to an old root (the db was lost): never hand out an old ETag again. */
        {
                char buf[32];
                unsigned long long v;

                if (mirror_state_read(e->mirror, REVISION_RESERVE_FILE, buf, sizeof(buf)) > 0 &&
                    sscanf(buf, "%llu", &v) == 1 && v > e->revision) {
                        if (e->revision == 0)
                                log_info("continuing revisions after %llu, the reserve recorded "
                                         "in '%s' (the database is new)",
                                         v, e->iscsi_root);
                        e->revision = v;
                }
                e->revision_reserved = e->revision;
        }

        r = mirror_lock(e->mirror, e->lock_timeout_ms);
        if (r < 0)
                return fail_msg(reterr_msg, r,
                                "cannot take the iscsi db lock '%s/lock.write' (is iscsiadm "
                                "running, or was it left behind by a crash?)",
                                e->lock_dir);
        r = mirror_clean_temps(e->mirror);
        if (r > 0)
                log_notice("Removed %d temp file(s) left by an interrupted write", r);
        r = recover_intents(e);
        if (r >= 0)
                r = store_rows_foreach(e->store, row_load_cb, e);
        /* No ifaces/ at all while the db has records: it was removed, not emptied record by
         * record; keep the records (health says so) rather than delete them all. */
        if (r >= 0 && mirror_ifaces_created(e->mirror) && e->n_idx > 0)
                log_warning("'%s' did not exist and was created empty; %zu record(s) of the "
                            "database are kept as missing",
                            mirror_ifaces_dir(e->mirror), mark_missing(e));
        if (r >= 0)
                r = reconcile_all(e);
        mirror_unlock(e->mirror);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot reconcile '%s' with '%s'", e->iscsi_root,
                                e->db_path);

        log_info("Loaded %zu iface record(s) from '%s' (revision %" PRIu64 ")", e->n_idx,
                 e->iscsi_root, e->revision);

        r = engine_offload_sync(e);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot create the iface records of offload ports");
        if (r > 0)
                log_info("Created %d iface record(s) for offload ports", r);

        if (!cfg->nics_off) {
                r = nic_monitor_new(e->sysfs_root, e->proc_root, &e->nics);
                if (r < 0)
                        log_warning_errno(r, "NIC inventory unavailable, continuing without it");
        }

        {
                char iname[224];

                initiator_name_read(cfg->initiator_name_file ?: ENGINE_INITIATOR_NAME_FILE, iname,
                                    sizeof(iname));
                r = tokens_open(e->db_path, &e->tokens);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot open the token table of '%s'",
                                        e->db_path);
                r = checker_new(e->nics, iname, &e->checker);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot start the check loop");
                r = jobs_new(e->checker, &e->jobs);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot create the job table");
        }
        *ret = TAKE_PTR(e);
        return 0;
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
        struct pollfd p[2] = {
                { .fd = e->inotify_fd, .events = POLLIN },
                { .fd = e->stop_fds[0], .events = POLLIN },
        };
        int64_t last_full = clock_usec(CLOCK_REALTIME);
        bool alive = true;

        for (;;) {
                int n = poll(p, 2, set.n || set.overflow ? WATCH_SETTLE_MS : WATCH_ROOT_CHECK_MS);

                if (n < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        break;
                if (n > 0 && (p[0].revents & POLLIN)) {
                        if (!watch_drain(e, &set))
                                alive = false;
                        continue; /* settle: wait for a quiet period first */
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
                        bool gone = false;

                        if (pthread_mutex_trylock(&e->write_lock) == 0) {
                                gone = mirror_ifaces_check(e->mirror) < 0;
                                pthread_mutex_unlock(&e->write_lock);
                        }
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
                        if (r >= 0 && full) {
                                r = reconcile_all(e);
                                last_full = clock_usec(CLOCK_REALTIME);
                        } else
                                for (size_t i = 0; i < set.n && r >= 0; i++)
                                        r = reconcile_name(e, set.names[i]);
                        mirror_unlock(e->mirror);
                }
                pthread_mutex_unlock(&e->write_lock);
                if (r == -ETIMEDOUT)
                        continue; /* iscsiadm is busy: keep the set, try again */
                if (r < 0 && atomic_load(&e->root_fault) == 0)
                        log_warning_errno(r, "Drift reconciliation failed, retrying later");
                name_set_clear(&set);
        }
        name_set_clear(&set);
        return NULL;
}

int engine_start_watch(struct engine *e)
{
        int r;

        assert_return(e && !e->watching, -EINVAL);

        e->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (e->inotify_fd < 0)
                return log_error_errno(errno, "Failed to create an inotify instance");
        r = watch_add(e);
        if (r < 0)
                return log_error_errno(r, "Failed to watch '%s'", mirror_ifaces_dir(e->mirror));
        if (pipe2(e->stop_fds, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe");
        r = pthread_create(&e->watcher, NULL, watch_thread, e);
        if (r != 0)
                return log_error_errno(r, "Failed to start the watcher thread");
        e->watching = true;

        /* Close the gap between the start-up scan and the watch. */
        return engine_rescan(e);
}

struct engine *engine_free(struct engine *e)
{
        if (!e)
                return NULL;

        if (e->watching) {
                (void)!write(e->stop_fds[1], "x", 1);
                pthread_join(e->watcher, NULL);
        }
        if (e->inotify_fd >= 0)
                close(e->inotify_fd);
        for (size_t i = 0; i < 2; i++)
                if (e->stop_fds[i] >= 0)
                        close(e->stop_fds[i]);

        for (size_t i = 0; i < e->n_idx; i++)
                iface_snap_unref(e->idx[i]);
        free(e->idx);
        for (size_t i = 0; i < ELEMENTSOF(e->builtin); i++)
                iface_snap_unref(e->builtin[i]);
        for (size_t i = 0; i < e->n_problems; i++) {
                free(e->problems[i].name);
                free(e->problems[i].reason);
        }
        free(e->problems);
        for (size_t i = 0; i < ENGINE_EVENTS_MAX; i++)
                free(e->events[i].name);

        /* The check loop calls back into the jobs and reads the NIC monitor: stop it first. */
        checker_free(e->checker);
        jobs_free(e->jobs);
        tokens_close(e->tokens);
        nic_monitor_free(e->nics);
        engine_hbas_unref(e->hbas);
        pthread_mutex_destroy(&e->hbas_lock);
        mirror_close(e->mirror);
        store_close(e->store);
        if (e->db_lock_fd >= 0)
                close(e->db_lock_fd);
        free(e->sysfs_root);
        free(e->proc_root);
        pthread_rwlock_destroy(&e->index_lock);
        pthread_mutex_destroy(&e->write_lock);
        pthread_mutex_destroy(&e->health_lock);
        free(e->iscsi_root);
        free(e->db_path);
        free(e->lock_dir);
        free(e);
        return NULL;
}

/* --- reads --------------------------------------------------------------------------------- */

static struct iface_snap *builtin_find(struct engine *e, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(e->builtin); i++)
                if (streq(e->builtin[i]->rec.name, name))
                        return e->builtin[i];
        return NULL;
}

int engine_iface_get(struct engine *e, const char *name, struct iface_snap **ret)
{
        struct iface_snap *s;

        assert_return(e && name && ret, -EINVAL);

        s = builtin_find(e, name);
        if (s) {
                *ret = iface_snap_ref(s);
                return 0;
        }
        pthread_rwlock_rdlock(&e->index_lock);
        s = iface_snap_ref(idx_find(e, name));
        pthread_rwlock_unlock(&e->index_lock);
        if (!s)
                return -ENOENT;
        *ret = s;
        return 0;
}

bool engine_list_cursor_is_valid(const char *name)
{
        struct iface_error err;

        return name && (iface_name_is_builtin(name) || iface_name_validate(name, &err) >= 0);
}

static bool list_match(const struct engine_list_query *q, const struct iface_snap *s)
{
        if (q->transport_name &&
            !streq_ptr(s->rec.str[IFACE_F_TRANSPORT_NAME] ? s->rec.str[IFACE_F_TRANSPORT_NAME] : "",
                       q->transport_name))
                return false;
        if (q->net_ifacename &&
            !streq_ptr(s->rec.str[IFACE_F_NET_IFACENAME] ? s->rec.str[IFACE_F_NET_IFACENAME] : "",
                       q->net_ifacename))
                return false;
        return true;
}

int engine_iface_list(struct engine *e, const struct engine_list_query *q, struct iface_snap ***ret,
                      size_t *ret_n, bool *ret_more)
{
        struct iface_snap **out;
        size_t n = 0, start = 0, first_builtin = 0;
        bool more = false, found;

        assert_return(e && q && q->limit > 0 && ret && ret_n && ret_more, -EINVAL);

        pthread_rwlock_rdlock(&e->index_lock);
        /* No more than there are: a caller asking for "everything" must not pay for the cap. */
        out = calloc(MIN(q->limit, e->n_idx + ELEMENTSOF(e->builtin)), sizeof(*out));
        if (!out) {
                pthread_rwlock_unlock(&e->index_lock);
                return -ENOMEM;
        }
        if (q->after && streq(q->after, "iser")) {
                start = e->n_idx;
                first_builtin = ELEMENTSOF(e->builtin);
        } else if (q->after && streq(q->after, "default")) {
                start = e->n_idx;
                first_builtin = 1;
        } else if (q->after) {
                start = idx_search(e, q->after, &found);
                if (found)
                        start++;
        }
        for (size_t i = start; i < e->n_idx && !more; i++) {
                if (!list_match(q, e->idx[i]))
                        continue;
                if (n == q->limit)
                        more = true;
                else
                        out[n++] = iface_snap_ref(e->idx[i]);
        }
        pthread_rwlock_unlock(&e->index_lock);

        for (size_t i = first_builtin; i < ELEMENTSOF(e->builtin) && !more; i++) {
                if (!list_match(q, e->builtin[i]))
                        continue;
                if (n == q->limit)
                        more = true;
                else
                        out[n++] = iface_snap_ref(e->builtin[i]);
        }

        *ret = out;
        *ret_n = n;
        *ret_more = more;
        return 0;
}

/* --- before a write: storage, locks, and the file as it really is ---------------------------- */

/* Why ifaces/ is not usable now, for messages: r from mirror_ifaces_check(). */
static const char *root_fault_str(int r)
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

/*
 * The storage a write would go to is still the storage we opened: the db file at its path (a
 * deleted or replaced db would take acknowledged writes with it) and the ifaces/ directory (a
 * moved or removed one would take them where iscsiadm never looks). Holding write_lock.
 * Returns 0 or -EBADFD with err->reason filled.
 */
static int storage_check(struct engine *e, struct iface_error *err)
{
        int r;

        r = store_file_check(e->store);
        if (r < 0) {
                snprintf(err->reason, sizeof(err->reason),
                         "the database '%.96s' was %s while the daemon runs: writes are refused "
                         "until a restart; nothing was changed",
                         e->db_path, r == -ENOENT ? "deleted" : "replaced");
                log_error("%s", err->reason);
                return -EBADFD;
        }
        r = mirror_ifaces_check(e->mirror);
        if (r < 0) {
                if (atomic_exchange(&e->root_fault, r) != r)
                        log_error("'%s' %s while the daemon runs: writes are refused until it is "
                                  "back",
                                  mirror_ifaces_dir(e->mirror), root_fault_str(r));
                snprintf(err->reason, sizeof(err->reason),
                         "'%.96s' %s while the daemon runs: writes are refused until it is back "
                         "(see GET /api/v1/health); nothing was changed",
                         mirror_ifaces_dir(e->mirror), root_fault_str(r));
                return -EBADFD;
        }
        return 0;
}

/* Why a write's wait for the locks ran out, with the holder of iscsiadm's lock if any. */
static void lock_timeout_reason(struct engine *e, struct iface_error *err)
{
        struct mirror_lock_info li = {};

        if (mirror_lock_info(e->mirror, &li) >= 0 && li.held && !li.ours)
                snprintf(err->reason, sizeof(err->reason),
                         "iscsiadm's lock.write is held by %.60s for %lld ms, past the lock "
                         "timeout (%u ms): nothing was changed; retry later",
                         li.holder, (long long)li.age_usec / 1000, e->lock_timeout_ms);
        else
                snprintf(err->reason, sizeof(err->reason),
                         "other writes held the iscsi db root past this one's lock timeout (%u "
                         "ms): nothing was changed; retry later",
                         e->lock_timeout_ms);
}

/*
 * Take write_lock and iscsiadm's lock for one write, each wait bounded by the request's own
 * deadline (its arrival plus the lock timeout), never by a queue of deadlines, and check the
 * storage. Returns 0 holding both (release with write_end), or -ETIMEDOUT, -ESHUTDOWN, -EBADFD
 * or another -errno with err->reason filled, holding nothing.
 */
static int write_begin(struct engine *e, const struct engine_ctx *ctx, struct iface_error *err)
{
        int64_t start = ctx && ctx->start_usec ? ctx->start_usec : clock_usec(CLOCK_MONOTONIC);
        int64_t deadline = start + (int64_t)e->lock_timeout_ms * 1000, left;
        struct timespec ts = { .tv_sec = deadline / 1000000,
                               .tv_nsec = (deadline % 1000000) * 1000 };
        int r;

        atomic_fetch_add(&e->writes_waiting, 1);
        r = -pthread_mutex_clocklock(&e->write_lock, CLOCK_MONOTONIC, &ts);
        if (r < 0) {
                atomic_fetch_sub(&e->writes_waiting, 1);
                lock_timeout_reason(e, err);
                return r == -ETIMEDOUT ? r : -EIO;
        }
        r = storage_check(e, err);
        if (r < 0)
                goto fail;

        left = deadline - clock_usec(CLOCK_MONOTONIC);
        r = mirror_lock(e->mirror, left > 0 ? (unsigned)(left / 1000) : 0);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        lock_timeout_reason(e, err);
                else if (r == -ESHUTDOWN)
                        snprintf(err->reason, sizeof(err->reason),
                                 "the daemon is stopping: nothing was changed");
                else
                        log_error_errno(r, "Failed to take the iscsi db lock in '%s'", e->lock_dir);
                goto fail;
        }
        atomic_fetch_sub(&e->writes_waiting, 1);
        return 0;
fail:
        atomic_fetch_sub(&e->writes_waiting, 1);
        pthread_mutex_unlock(&e->write_lock);
        return r;
}

static void write_end(struct engine *e)
{
        mirror_unlock(e->mirror);
        pthread_mutex_unlock(&e->write_lock);
}

static bool file_in_sync(const struct iface_snap *cur, int r, const char *data, size_t len)
{
        if (r == -ENOENT)
                return !cur;
        return r >= 0 && cur && cur->content_len == len && memcmp(cur->content, data, len) == 0;
}

/*
 * Before a write of name, holding write_begin's locks: the file must hold exactly the bytes we
 * last wrote (or be absent when we have no record). A change made outside since (iscsiadm, an
 * admin, a record --drift report left alone) is imported first, so that the write's If-Match
 * is checked against it and its audit "before" is what was really on disk; what cannot be
 * imported (a directory, a symlink, a FIFO, a huge or unparsable file, the report policy) is
 * refused and nothing changes. Returns 0 with *ret_cur the record now (NULL if none), or
 * -EBUSY with err->reason naming the file and why.
 */
static int settle_name(struct engine *e, const char *name, struct iface_snap **ret_cur,
                       struct iface_error *err)
{
        _cleanup_free_ char *data = NULL;
        char why[256] = "";
        size_t len = 0;
        int r;

        for (int pass = 0;; pass++) {
                struct iface_snap *cur = idx_find(e, name);

                r = mirror_read(e->mirror, name, &data, &len);
                if (r == -ENOMEM)
                        return r;
                if (file_in_sync(cur, r, data, len) || (r == -ENOENT && cur && cur->missing)) {
                        *ret_cur = cur;
                        return 0;
                }
                if (pass > 0)
                        break;
                free(TAKE_PTR(data));
                r = reconcile_name(e, name);
                if (r < 0)
                        return r;
        }

        if (r < 0 && r != -ENOENT)
                snprintf(why, sizeof(why), "is %s, which iscsi-ifaced did not write",
                         mirror_read_strerror(r));
        else {
                char reason[200] = "";

                if (!problem_get(e, name, "unreadable", reason, sizeof(reason)) &&
                    !problem_get(e, name, "unsupported-name", reason, sizeof(reason)) &&
                    e->drift == ENGINE_DRIFT_REPORT)
                        snprintf(why, sizeof(why),
                                 "was changed outside iscsi-ifaced and the "
                                 "drift policy is 'report'");
                else
                        snprintf(why, sizeof(why),
                                 "was changed outside iscsi-ifaced and cannot be imported (%s)",
                                 reason[0] ? reason : "unknown reason");
        }
        snprintf(err->reason, sizeof(err->reason), "'ifaces/%.64s' %s: nothing was changed", name,
                 why);
        return -EBUSY;
}

/* --- the ifaces/ directory itself ---------------------------------------------------------- */

/*
 * Keep every record whose file is not in ifaces/ now, marked "missing", instead of taking the
 * absence for a deletion: after ifaces/ was replaced (or created anew at start while the db
 * has records), a missing file says nothing about what the admin wants. Holding write_lock and
 * the mirror lock. Returns how many were marked.
 */
static size_t mark_missing(struct engine *e)
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

int engine_restore_files(struct engine *e, const struct engine_ctx *ctx, size_t *ret_n,
                         struct iface_error *err)
{
        size_t n = 0;
        int r;

        assert_return(e && ret_n && err, -EINVAL);

        r = write_begin(e, ctx, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < e->n_idx && r >= 0; i++) {
                struct iface_snap *s = e->idx[i];
                _cleanup_free_ char *data = NULL;

                /* Only where nothing stands: a file there, ours or not, is never replaced. */
                if (mirror_read(e->mirror, s->rec.name, &data, NULL) != -ENOENT)
                        continue;
                r = mirror_write(e->mirror, s->rec.name, s->content, s->content_len);
                if (r < 0) {
                        log_error_errno(r, "Failed to restore 'ifaces/%s'", s->rec.name);
                        break;
                }
                s->missing = false;
                problem_sync(e, s->rec.name, s);
                log_notice("Restored '%s/%s' from the database (revision %" PRIu64 ", by %s)",
                           mirror_ifaces_dir(e->mirror), s->rec.name, s->revision,
                           ctx && ctx->actor ? ctx->actor : "iscsi-ifaced");
                n++;
        }
        write_end(e);
        *ret_n = n;
        return r < 0 ? r : 0;
}

/* --- writes -------------------------------------------------------------------------------- */

int engine_iface_create(struct engine *e, const struct engine_ctx *ctx, const struct iface_rec *rec,
                        struct iface_snap **ret, struct iface_error *err)
{
        _cleanup_(iface_rec_done) struct iface_rec copy = {};
        struct iface_snap *cur;
        int r;

        assert_return(e && rec && rec->name && err, -EINVAL);

        if (iface_name_is_builtin(rec->name)) {
                err->field = "name";
                snprintf(err->reason, sizeof(err->reason),
                         "'%s' is a built-in iface of iscsiadm and cannot be created", rec->name);
                return -EPERM;
        }
        r = iface_validate(rec, NULL, err);
        if (r < 0)
                return r;
        r = iface_rec_copy(&copy, rec);
        if (r < 0)
                return r;

        r = write_begin(e, ctx, err);
        if (r < 0)
                return r;
        /* Before any intent: a name taken by a file we did not write is refused here. */
        r = settle_name(e, rec->name, &cur, err);
        if (r < 0)
                ;
        else if (cur)
                r = -EEXIST;
        else if (e->n_idx >= ENGINE_MAX_RECORDS) {
                snprintf(err->reason, sizeof(err->reason),
                         "the record limit (%d) is reached: delete records first",
                         ENGINE_MAX_RECORDS);
                r = -ENOSPC;
        } else
                r = commit_change(e, ctx, "api", rec->name, &copy, "create", NULL, ret);
        write_end(e);
        return r;
}

static bool etag_ok(uint64_t if_match, const struct iface_snap *cur)
{
        return if_match == 0 || if_match == cur->revision;
}

int engine_iface_update(struct engine *e, const struct engine_ctx *ctx, const char *name,
                        uint64_t if_match, engine_edit_fn edit, void *userdata,
                        struct iface_snap **ret, struct iface_error *err)
{
        _cleanup_(iface_rec_done) struct iface_rec next = {};
        struct iface_snap *cur;
        int r;

        assert_return(e && name && edit && err, -EINVAL);

        if (builtin_find(e, name)) {
                err->field = "name";
                snprintf(err->reason, sizeof(err->reason),
                         "'%s' is a built-in iface of iscsiadm and cannot be modified", name);
                return -EPERM;
        }

        r = write_begin(e, ctx, err);
        if (r < 0)
                return r;
        r = settle_name(e, name, &cur, err);
        if (r < 0)
                goto finish;
        if (!cur) {
                /* A condition on a missing resource is false (RFC 9110 13.1.1). */
                r = if_match ? -ESTALE : -ENOENT;
                goto finish;
        }
        if (!etag_ok(if_match, cur)) {
                r = -ESTALE;
                goto finish;
        }
        r = iface_rec_copy(&next, &cur->rec);
        if (r < 0)
                goto finish;
        r = edit(&cur->rec, &next, err, userdata);
        if (r < 0)
                goto finish;
        if (!next.name || !streq(next.name, name)) {
                err->field = "name";
                snprintf(err->reason, sizeof(err->reason),
                         "the name cannot be changed (delete and create instead)");
                r = -EINVAL;
                goto finish;
        }
        /* A record imported invalid may be fixed in any way its fields allow. */
        r = iface_validate(&next, cur->invalid ? NULL : &cur->rec, err);
        if (r < 0)
                goto finish;
        if (iface_rec_equal(&next, &cur->rec)) {
                if (ret)
                        *ret = iface_snap_ref(cur);
                r = 0;
                goto finish;
        }
        r = commit_change(e, ctx, "api", name, &next, "update", cur, ret);
finish:
        write_end(e);
        return r;
}

int engine_iface_delete(struct engine *e, const struct engine_ctx *ctx, const char *name,
                        uint64_t if_match, struct iface_error *reterr)
{
        struct iface_error local = {};
        struct iface_error *err = reterr ? reterr : &local;
        struct iface_snap *cur;
        int r;

        assert_return(e && name, -EINVAL);

        if (builtin_find(e, name))
                return -EPERM;

        r = write_begin(e, ctx, err);
        if (r < 0)
                return r;
        r = settle_name(e, name, &cur, err);
        if (r < 0)
                ;
        else if (!cur)
                r = if_match ? -ESTALE : -ENOENT; /* a lost If-Match race is a 412 */
        else if (!etag_ok(if_match, cur))
                r = -ESTALE;
        else {
                r = commit_change(e, ctx, "api", name, NULL, "delete", cur, NULL);
                if (r >= 0)
                        problem_clear(e, name);
        }
        write_end(e);
        return r;
}

void engine_stop_writes(struct engine *e)
{
        if (!e)
                return;
        mirror_abort_waits(e->mirror);
}

enum engine_drift_policy engine_drift_policy(const struct engine *e)
{
        return e->drift;
}

/* --- health -------------------------------------------------------------------------------- */

int engine_health(struct engine *e, struct engine_health *ret)
{
        struct stat st;
        size_t count = 0;
        int r;

        assert_return(e && ret, -EINVAL);

        ret->db_path = e->db_path;
        ret->root_path = e->iscsi_root;
        /*
         * Probe the db only when no write holds it (a write may wait for iscsiadm's lock for
         * seconds); otherwise the index's count stands and the last probe's verdict.
         */
        if (pthread_mutex_trylock(&e->write_lock) == 0) {
                r = store_count(e->store, &count);
                /* ifaces/ moved or removed shows at once, not only at the watcher's next tick. */
                int rr = mirror_ifaces_check(e->mirror);
                if (rr < 0 && rr != -ESTALE)
                        atomic_store(&e->root_fault, rr);
                else if (rr == -ESTALE && atomic_load(&e->root_fault) == 0)
                        atomic_store(&e->root_fault, rr);
                pthread_mutex_unlock(&e->write_lock);
                atomic_store(&e->db_probe, r);
        } else {
                pthread_rwlock_rdlock(&e->index_lock);
                count = e->n_idx;
                pthread_rwlock_unlock(&e->index_lock);
                r = atomic_load(&e->db_probe);
        }
        ret->db_ok = r >= 0;
        if (asprintf(&ret->db_detail, "%s", r >= 0 ? "ok" : strerror(-r)) < 0)
                ret->db_detail = NULL;
        r = store_file_check(e->store);
        if (r < 0) {
                ret->db_ok = false;
                free(ret->db_detail);
                if (asprintf(&ret->db_detail,
                             "'%s' was %s while the daemon runs: writes are refused; restart the "
                             "daemon (the records are imported again from the iscsi root)",
                             e->db_path, r == -ENOENT ? "deleted" : "replaced") < 0)
                        ret->db_detail = NULL;
        }

        r = atomic_load(&e->root_fault);
        if (r < 0) {
                ret->root_ok = false;
                if (asprintf(&ret->root_detail,
                             "'%s' %s while the daemon runs: writes are refused until it is back "
                             "(the records are kept)",
                             mirror_ifaces_dir(e->mirror), root_fault_str(r)) < 0)
                        ret->root_detail = NULL;
        } else {
                if (stat(mirror_ifaces_dir(e->mirror), &st) < 0)
                        r = -errno;
                else if (!S_ISDIR(st.st_mode))
                        r = -ENOTDIR;
                else if (access(mirror_ifaces_dir(e->mirror), W_OK | X_OK) < 0)
                        r = -errno;
                else
                        r = 0;
                ret->root_ok = r >= 0;
                if (asprintf(&ret->root_detail, "%s", r >= 0 ? "ok" : strerror(-r)) < 0)
                        ret->root_detail = NULL;
        }

        {
                struct mirror_lock_info li = {};

                /* lock_dir_fd and the lock source never change after the start: no lock needed. */
                if (mirror_lock_info(e->mirror, &li) >= 0 && li.held) {
                        ret->lock_held = true;
                        ret->lock_ours = li.ours;
                        ret->lock_age_usec = li.age_usec;
                        snprintf(ret->lock_holder, sizeof(ret->lock_holder), "%s", li.holder);
                }
                ret->writes_waiting = atomic_load(&e->writes_waiting);
        }

        pthread_rwlock_rdlock(&e->index_lock);
        ret->count = e->n_idx;
        pthread_rwlock_unlock(&e->index_lock);

        pthread_mutex_lock(&e->health_lock);
        ret->drift_imported = e->drift_imported;
        ret->problems = calloc(e->n_problems + 1, sizeof(*ret->problems));
        size_t n_ev = e->n_events < ENGINE_EVENTS_MAX ? e->n_events : ENGINE_EVENTS_MAX;
        ret->events = calloc(n_ev + 1, sizeof(*ret->events));
        if (ret->problems && ret->events) {
                for (size_t i = 0; i < e->n_problems; i++) {
                        ret->problems[i].name = strdup(e->problems[i].name);
                        ret->problems[i].kind = e->problems[i].kind;
                        ret->problems[i].reason = strdup(e->problems[i].reason);
                        ret->n_problems++;
                }
                for (size_t i = 0; i < n_ev; i++) {
                        const struct engine_drift_event *ev =
                                &e->events[(e->n_events - 1 - i) % ENGINE_EVENTS_MAX];
                        ret->events[i] = *ev;
                        ret->events[i].name = strdup(ev->name);
                        ret->n_events++;
                }
        }
        pthread_mutex_unlock(&e->health_lock);

        if (!ret->problems || !ret->events || !ret->db_detail || !ret->root_detail) {
                engine_health_done(ret);
                return -ENOMEM;
        }
        return 0;
}

void engine_health_done(struct engine_health *h)
{
        if (!h)
                return;
        free(h->db_detail);
        free(h->root_detail);
        for (size_t i = 0; i < h->n_problems; i++) {
                free(h->problems[i].name);
                free(h->problems[i].reason);
        }
        free(h->problems);
        for (size_t i = 0; i < h->n_events; i++)
                free(h->events[i].name);
        free(h->events);
        *h = (struct engine_health){};
}

/* --- inventory ----------------------------------------------------------------------------- */

struct nic_snapshot *engine_nics(struct engine *e)
{
        return e && e->nics ? nic_monitor_snapshot(e->nics) : NULL;
}

struct engine_hbas *engine_hbas_unref(struct engine_hbas *h)
{
        if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        hba_inventory_done(&h->inv);
        free(h);
        return NULL;
}

/* The shared HBA scan; a fresh one when older than a second or when fresh is asked. */
static int hbas_get(struct engine *e, bool fresh, struct engine_hbas **ret)
{
        struct engine_hbas *h;
        int64_t now = clock_usec(CLOCK_REALTIME);
        int r;

        /* sysfs is cheap to read, but not on every GET of a record: share a scan for 1 s. */
        pthread_mutex_lock(&e->hbas_lock);
        if (fresh || !e->hbas || now - e->hbas->scanned_usec >= 1000000) {
                h = calloc(1, sizeof(*h));
                if (!h) {
                        pthread_mutex_unlock(&e->hbas_lock);
                        return -ENOMEM;
                }
                r = hba_scan(e->sysfs_root, &h->inv);
                if (r < 0) {
                        free(h);
                        pthread_mutex_unlock(&e->hbas_lock);
                        return r;
                }
                h->scanned_usec = now;
                h->refs = 1;
                engine_hbas_unref(e->hbas);
                e->hbas = h;
        }
        h = e->hbas;
        __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&e->hbas_lock);
        *ret = h;
        return 0;
}

int engine_hbas(struct engine *e, struct engine_hbas **ret)
{
        assert_return(e && ret, -EINVAL);

        return hbas_get(e, false, ret);
}

int engine_offload_sync(struct engine *e)
{
        struct engine_hbas *h = NULL;
        struct iface_rec *recs = NULL;
        size_t n = 0;
        int r, created = 0;

        assert_return(e, -EINVAL);

        r = hbas_get(e, true, &h);
        if (r < 0)
                return r;
        r = hba_offload_ifaces(&h->inv, &recs, &n);
        engine_hbas_unref(h);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *data = NULL;
                struct iface_error err = {};

                /* Never overwrite: a record, a file (iscsiadm's own, maybe edited) or a name
                 * we cannot serve keeps it as it is, exactly as iscsiadm does. Looked at under
                 * iscsiadm's lock, so that it cannot appear between the look and the write. */
                if (iface_name_validate(recs[i].name, &err) < 0)
                        continue;
                r = write_begin(e, NULL, &err);
                if (r < 0)
                        break;
                if (!idx_find(e, recs[i].name) &&
                    mirror_read(e->mirror, recs[i].name, &data, NULL) == -ENOENT) {
                        r = commit_change(e, &(struct engine_ctx){ "iscsi-ifaced", NULL }, "auto",
                                          recs[i].name, &recs[i], "create", NULL, NULL);
                        if (r >= 0)
                                created++;
                }
                write_end(e);
        }

        for (size_t i = 0; i < n; i++)
                iface_rec_done(&recs[i]);
        free(recs);
        return r < 0 ? r : created;
}

static bool mac_eq(const char *a, const char *b)
{
        return a && b && strcasecmp(a, b) == 0;
}

enum engine_port_state engine_iface_port(const struct iface_rec *rec,
                                         const struct nic_snapshot *nics,
                                         const struct hba_inventory *hbas,
                                         char warnings[ENGINE_PORT_WARNINGS_MAX][160],
                                         size_t *ret_n_warnings)
{
        const char *netdev = rec->str[IFACE_F_NET_IFACENAME];
        const char *hw = rec->str[IFACE_F_HWADDRESS];
        bool bound = false, missing = false;
        size_t n = 0;

        if (!isempty(netdev) && !streq(netdev, "default")) {
                bool found = nics && nic_snapshot_find(nics, netdev);

                for (size_t i = 0; !found && hbas && i < hbas->n_hosts; i++)
                        found = streq_ptr(hbas->hosts[i].netdev, netdev);
                bound = true;
                if (!found) {
                        missing = true;
                        snprintf(warnings[n++], 160,
                                 "net_ifacename '%s' names no NIC or HBA port on this host",
                                 netdev);
                }
        }
        if (!isempty(hw) && !streq(hw, "default")) {
                bool found = nics && nic_snapshot_find_mac(nics, hw);

                for (size_t i = 0; !found && hbas && i < hbas->n_hosts; i++)
                        found = mac_eq(hbas->hosts[i].hwaddress, hw);
                bound = true;
                if (!found) {
                        missing = true;
                        snprintf(warnings[n++], 160,
                                 "hwaddress '%s' matches no NIC or HBA port on this host", hw);
                }
        }
        *ret_n_warnings = n;
        return !bound ? ENGINE_PORT_UNBOUND : missing ? ENGINE_PORT_MISSING : ENGINE_PORT_PRESENT;
}

/* --- checks -------------------------------------------------------------------------------- */

/*
 * The InitiatorName= of open-iscsi's initiatorname.iscsi, or a fixed name under the reserved
 * ".invalid" domain when there is none (discovery needs some name; the iface's own
 * initiatorname wins when set).
 */
static void initiator_name_read(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        char line[512];

        snprintf(buf, size, "%s", ENGINE_INITIATOR_NAME_FALLBACK);
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                size_t n;
                bool ok = true;

                if (strncmp(line, "InitiatorName=", strlen("InitiatorName=")) != 0)
                        continue;
                n = strcspn(line, "\r\n");
                line[n] = 0;
                for (const char *p = line + strlen("InitiatorName="); *p; p++)
                        if (*p <= ' ' || *p > '~')
                                ok = false;
                if (ok && line[strlen("InitiatorName=")] && n - strlen("InitiatorName=") < size)
                        memcpy(buf, line + strlen("InitiatorName="),
                               n - strlen("InitiatorName=") + 1);
                break;
        }
        fclose(f);
}

struct checker *engine_checker(struct engine *e)
{
        return e->checker;
}

struct jobs *engine_jobs(struct engine *e)
{
        return e->jobs;
}

struct tokens *engine_tokens(struct engine *e)
{
        return e->tokens;
}

void engine_stop_checks(struct engine *e)
{
        checker_close(e->checker);
        jobs_cancel_all(e->jobs);
}

int engine_check_spec_init(struct engine *e, const char *name, struct check_spec *spec)
{
        struct iface_snap *snap = NULL;
        static const struct {
                const char *key;
                size_t off, size;
        } fields[] = {
                { "transport_name", offsetof(struct check_spec, transport),
                  sizeof(((struct check_spec *)0)->transport) },
                { "net_ifacename", offsetof(struct check_spec, netdev),
                  sizeof(((struct check_spec *)0)->netdev) },
                { "hwaddress", offsetof(struct check_spec, hwaddress),
                  sizeof(((struct check_spec *)0)->hwaddress) },
                { "ipaddress", offsetof(struct check_spec, ipaddress),
                  sizeof(((struct check_spec *)0)->ipaddress) },
                { "initiatorname", offsetof(struct check_spec, initiatorname),
                  sizeof(((struct check_spec *)0)->initiatorname) },
        };
        int r;

        r = engine_iface_get(e, name, &snap);
        if (r < 0)
                return r;

        snprintf(spec->iface, sizeof(spec->iface), "%s", name);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                int idx = iface_field_find(fields[i].key);
                const char *v = idx >= 0 ? snap->rec.str[idx] : NULL;
                char *dst = (char *)spec + fields[i].off;

                /* Values were validated on write; one that does not fit is not used at all. */
                if (v && strlen(v) < fields[i].size)
                        memcpy(dst, v, strlen(v) + 1);
                else
                        dst[0] = 0;
        }
        /* iscsiadm's "default" placeholders mean unset. */
        if (streq(spec->netdev, "default"))
                spec->netdev[0] = 0;
        if (streq(spec->hwaddress, "default"))
                spec->hwaddress[0] = 0;
        if (streq(spec->ipaddress, "default"))
                spec->ipaddress[0] = 0;
        if (streq(spec->initiatorname, "default"))
                spec->initiatorname[0] = 0;
        spec->ipv6 = iface_rec_is_ipv6(&snap->rec);
        {
                int idx = iface_field_find("iface_num");
                const char *v = idx >= 0 ? snap->rec.str[idx] : NULL;

                spec->iface_num = v ? (unsigned)strtoul(v, NULL, 10) : 0;
        }
        iface_snap_unref(snap);

        /* An offload iface: find its HBA port (transport and hwaddress, as iscsiadm does). */
        if (!isempty(spec->transport) && !streq(spec->transport, "tcp") &&
            !streq(spec->transport, "iser")) {
                struct engine_hbas *h = NULL;

                if (engine_hbas(e, &h) >= 0) {
                        for (size_t i = 0; i < h->inv.n_hosts; i++) {
                                const struct hba_host *host = &h->inv.hosts[i];

                                if (!host->transport || !streq(host->transport, spec->transport) ||
                                    !host->hwaddress ||
                                    strcasecmp(host->hwaddress, spec->hwaddress) != 0)
                                        continue;
                                spec->hba_found = true;
                                spec->host_no = host->host_no;
                                snprintf(spec->hba_port_state, sizeof(spec->hba_port_state), "%s",
                                         host->port_state ?: "");
                                snprintf(spec->hba_ipaddress, sizeof(spec->hba_ipaddress), "%s",
                                         host->ipaddress ?: "");
                                break;
                        }
                        for (size_t i = 0; i < h->inv.n_transports; i++)
                                if (streq(h->inv.transports[i].name, spec->transport))
                                        spec->transport_handle = h->inv.transports[i].handle;
                        engine_hbas_unref(h);
                }
        }
        return 0;
}

int engine_audit(struct engine *e, const struct store_audit_query *q,
                 int (*cb)(const struct store_audit *a, void *ud), void *ud)
{
        int r;

        /* The store's connection is the writers': share it under their lock. */
        pthread_mutex_lock(&e->write_lock);
        r = store_audit_query(e->store, q, cb, ud);
        pthread_mutex_unlock(&e->write_lock);
        return r;
}
