/* SPDX-License-Identifier: MIT */
/*
 * The locks and checks before a write, the iface write verbs (plan/finish pairs run by the group
 * commit of group.c, which carries out the crash-safe protocol of DESIGN.md §2: intent row ->
 * file -> row + audit, intent dropped), and the recovery at start of the writes a crash
 * interrupted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "engine-internal.h"
#include "log.h"
#include "mirror.h"
#include "stats.h"
#include "store.h"

/* --- the write protocol -------------------------------------------------------------------- */

/* The change that puts content at name (NULL: removes it), replacing old. */
static void iface_change_init(struct wchange *c, const struct engine_ctx *ctx, const char *origin,
                              const char *name, const char *content, size_t len, const char *action,
                              const struct iface_snap *old)
{
        *c = (struct wchange){
                .key = name,
                .content = content,
                .len = len,
                .row = {
                        .origin = origin,
                        .action = action,
                        .actor = ctx ? ctx->actor : NULL,
                        .request_id = ctx ? ctx->request_id : NULL,
                        .before = old ? old->content : NULL,
                },
        };
}

/* Once c is durable: rec (taken over; NULL for a removal) in the index. */
static int iface_change_finish(struct engine *e, const struct wchange *c, struct iface_rec *rec,
                               const struct iface_snap *old, struct iface_snap **ret)
{
        _cleanup_(iface_snap_unrefp) struct iface_snap *snap = NULL;
        int64_t now = c->row.now_usec;
        int r;

        if (rec) {
                r = snap_new(rec, c->content, c->len, c->revision, c->row.origin,
                             old ? old->created_usec : now, now, &snap);
                if (r < 0)
                        return r;
                r = idx_set(e, snap->rec.name, iface_snap_ref(snap), NULL);
        } else
                r = idx_set(e, c->key, NULL, c->row.origin);
        if (r < 0)
                return r;

        problem_clear(e, snap ? snap->rec.name : c->key);
        if (ret)
                *ret = TAKE_PTR(snap);
        return 0;
}

/*
 * Store one change made through the API (origin "api") or by the engine itself ("auto"),
 * holding write_begin's locks with the file settled (settle_name), as a batch of one
 * (changes_commit): on failure nothing is changed and nothing was acknowledged.
 *
 * Failures of one write are returned, not logged (but at debug level): the API logs each failed
 * request once, with its request id and detail (api/errors.c). Only what outlives the request is
 * logged here: a file that could not be restored, a fault of the storage on its first sight.
 */
int commit_change(struct engine *e, const struct engine_ctx *ctx, const char *origin,
                  const char *name, struct iface_rec *rec, const char *action,
                  const struct iface_snap *old, struct iface_snap **ret)
{
        _cleanup_free_ char *content = NULL;
        struct wchange c;
        size_t len = 0;
        int r;

        if (rec) {
                r = iface_render_file(rec, &content, &len);
                if (r < 0)
                        return r;
        }
        iface_change_init(&c, ctx, origin, name, content, len, action, old);
        (void)changes_commit(e, (struct wchange *[]){ &c }, 1);
        if (c.r < 0)
                return c.r;
        return iface_change_finish(e, &c, rec, old, ret);
}

/* --- before a write: storage, locks, and the file as it really is ---------------------------- */

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
                if (!atomic_exchange(&e->db_fault_logged, true))
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

void write_lock_timeout_reason(struct engine *e, struct iface_error *err)
{
        struct mirror_lock_info li = {};
        bool foreign = mirror_lock_info(e->mirror, &li) >= 0 && li.held && !li.ours;

        stats_lock_timeout(foreign ? STATS_LOCK_ISCSIADM : STATS_LOCK_DAEMON);
        if (foreign)
                snprintf(err->reason, sizeof(err->reason),
                         "iscsiadm's lock.write is held by %.130s for %lld ms, past the lock "
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
int write_begin(struct engine *e, const struct engine_ctx *ctx, struct iface_error *err)
{
        int64_t now = clock_usec(CLOCK_MONOTONIC);
        int64_t start = ctx && ctx->start_usec ? ctx->start_usec : now;
        int64_t deadline = start + (int64_t)e->lock_timeout_ms * 1000, left;
        struct timespec ts = { .tv_sec = deadline / 1000000,
                               .tv_nsec = (deadline % 1000000) * 1000 };
        int r;

        atomic_fetch_add(&e->writes_waiting, 1);
        r = -pthread_mutex_clocklock(&e->write_lock, CLOCK_MONOTONIC, &ts);
        if (r < 0) {
                atomic_fetch_sub(&e->writes_waiting, 1);
                write_lock_timeout_reason(e, err);
                return r == -ETIMEDOUT ? r : -EIO;
        }
        r = storage_check(e, err);
        if (r < 0)
                goto fail;

        left = deadline - clock_usec(CLOCK_MONOTONIC);
        r = mirror_lock(e->mirror, left > 0 ? (unsigned)(left / 1000) : 0);
        if (r < 0) {
                if (r == -ETIMEDOUT)
                        write_lock_timeout_reason(e, err);
                else if (r == -ESHUTDOWN)
                        snprintf(err->reason, sizeof(err->reason),
                                 "the daemon is stopping: nothing was changed");
                else
                        log_error_errno(r, "Failed to take the iscsi db lock in '%s'", e->lock_dir);
                goto fail;
        }
        atomic_fetch_sub(&e->writes_waiting, 1);
        stats_write_began(now, clock_usec(CLOCK_MONOTONIC) - now);
        return 0;
fail:
        atomic_fetch_sub(&e->writes_waiting, 1);
        pthread_mutex_unlock(&e->write_lock);
        return r;
}

void write_end(struct engine *e)
{
        mirror_unlock(e->mirror);
        pthread_mutex_unlock(&e->write_lock);
        stats_write_ended();
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

/* --- writes -------------------------------------------------------------------------------- */

/*
 * The write verbs run as group commit writes (group.c): plan under the locks, then finish once
 * the batch is durable. Each owns only its name (key_write), so two writes of one name never
 * share a batch, nor an iface write and a write of one of its bindings.
 */
struct iface_op {
        struct wop op;
        const char *name;
        struct iface_rec next;  /* the record to store (create, update) */
        struct iface_snap *cur; /* the record replaced (a reference) */
        char *content;
        size_t len;
        struct mirror_temp pre; /* content written ahead (create) */
        uint64_t if_match;
        bool cascade;
        engine_edit_fn edit;
        void *userdata;
        struct iface_snap **ret;
};

static void iface_op_done(struct engine *e, struct iface_op *o)
{
        iface_rec_done(&o->next);
        iface_snap_unref(o->cur);
        free(o->content);
        mirror_temp_drop(e->mirror, &o->pre); /* not taken: the write was refused */
}

static int iface_op_run(struct engine *e, const struct engine_ctx *ctx, struct iface_op *o,
                        int (*plan)(struct engine *, struct wop *), struct iface_error *err)
{
        int r;

        o->op = (struct wop){
                .ctx = ctx,
                .err = err,
                .keys = { o->name },
                .key_write = { true },
                .plan = plan,
                .ud = o,
        };
        r = group_run(e, &o->op);
        iface_op_done(e, o);
        return r;
}

/* Stage o->next (NULL name: a removal) as the op's change, rendered here unless it was ahead. */
static int iface_op_stage(struct iface_op *o, const char *action)
{
        if (o->next.name && !o->content) {
                int r = iface_render_file(&o->next, &o->content, &o->len);

                if (r < 0)
                        return r;
        }
        iface_change_init(&o->op.change, o->op.ctx, "api", o->name, o->content, o->len, action,
                          o->cur);
        o->op.change.pre = &o->pre;
        o->op.has_change = true;
        return 0;
}

/*
 * Before its batch, outside the locks: a create's file rendered and written to a temp file of
 * its own, made durable too when the write would wait for a batch before it anyway. What fails
 * here is left to the batch (it renders and stages again, and reports the failure).
 */
static void iface_op_ahead(struct engine *e, struct iface_op *o)
{
        if (iface_render_file(&o->next, &o->content, &o->len) < 0) {
                free(TAKE_PTR(o->content));
                return;
        }
        (void)mirror_temp_write(e->mirror, o->content, o->len, engine_write_busy(e), &o->pre);
}

static int create_finish(struct engine *e, struct wop *op)
{
        struct iface_op *o = op->ud;

        return iface_change_finish(e, &op->change, &o->next, NULL, o->ret);
}

static int create_plan(struct engine *e, struct wop *op)
{
        struct iface_op *o = op->ud;
        struct iface_snap *cur;
        int r;

        op->finish = create_finish;
        /* Before any intent: a name taken by a file we did not write is refused here. */
        r = settle_name(e, o->name, &cur, op->err);
        if (r < 0)
                return r;
        if (cur)
                return -EEXIST;
        if (e->n_idx + e->group_new_ifaces >= ENGINE_MAX_RECORDS) {
                snprintf(op->err->reason, sizeof(op->err->reason),
                         "the record limit (%d) is reached: delete records first",
                         ENGINE_MAX_RECORDS);
                return -ENOSPC;
        }
        r = iface_op_stage(o, "create");
        if (r >= 0)
                e->group_new_ifaces++;
        return r;
}

int engine_iface_create(struct engine *e, const struct engine_ctx *ctx, const struct iface_rec *rec,
                        struct iface_snap **ret, struct iface_error *err)
{
        struct iface_op o = { .ret = ret };
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
        r = iface_rec_copy(&o.next, rec);
        if (r < 0)
                return r;
        o.name = rec->name;
        iface_op_ahead(e, &o);
        return iface_op_run(e, ctx, &o, create_plan, err);
}

static bool etag_ok(uint64_t if_match, const struct iface_snap *cur)
{
        return if_match == 0 || if_match == cur->revision;
}

static int update_finish(struct engine *e, struct wop *op)
{
        struct iface_op *o = op->ud;
        struct iface_snap *now;
        int r;

        r = iface_change_finish(e, &op->change, &o->next, o->cur, o->ret);
        if (r < 0)
                return r;
        /* The node files carry a copy of the iface, which iscsiadm rewrites (D09). */
        now = idx_find(e, o->name);
        if (now)
                (void)bindings_follow_iface(e, op->ctx, &now->rec);
        return 0;
}

static int update_plan(struct engine *e, struct wop *op)
{
        struct iface_op *o = op->ud;
        struct iface_error *err = op->err;
        struct iface_snap *cur;
        int r;

        op->finish = update_finish;
        r = settle_name(e, o->name, &cur, err);
        if (r < 0)
                return r;
        if (!cur)
                /* A condition on a missing resource is false (RFC 9110 13.1.1). */
                return o->if_match ? -ESTALE : -ENOENT;
        if (!etag_ok(o->if_match, cur))
                return -ESTALE;
        r = iface_rec_copy(&o->next, &cur->rec);
        if (r < 0)
                return r;
        r = o->edit(&cur->rec, &o->next, err, o->userdata);
        if (r < 0)
                return r;
        if (!o->next.name || !streq(o->next.name, o->name)) {
                err->field = "name";
                snprintf(err->reason, sizeof(err->reason),
                         "the name cannot be changed (delete and create instead)");
                return -EINVAL;
        }
        /* A record imported invalid may be fixed in any way its fields allow. */
        r = iface_validate(&o->next, cur->invalid ? NULL : &cur->rec, err);
        if (r < 0)
                return r;
        if (iface_rec_equal(&o->next, &cur->rec)) {
                if (o->ret)
                        *o->ret = iface_snap_ref(cur);
                return 0;
        }
        o->cur = iface_snap_ref(cur);
        return iface_op_stage(o, "update");
}

int engine_iface_update(struct engine *e, const struct engine_ctx *ctx, const char *name,
                        uint64_t if_match, engine_edit_fn edit, void *userdata,
                        struct iface_snap **ret, struct iface_error *err)
{
        struct iface_op o = {
                .name = name, .if_match = if_match, .edit = edit, .userdata = userdata, .ret = ret
        };

        assert_return(e && name && edit && err, -EINVAL);

        if (builtin_find(e, name)) {
                err->field = "name";
                snprintf(err->reason, sizeof(err->reason),
                         "'%s' is a built-in iface of iscsiadm and cannot be modified", name);
                return -EPERM;
        }
        return iface_op_run(e, ctx, &o, update_plan, err);
}

int engine_iface_delete(struct engine *e, const struct engine_ctx *ctx, const char *name,
                        uint64_t if_match, struct iface_error *reterr)
{
        return engine_iface_delete_cascade(e, ctx, name, if_match, false, reterr);
}

static int delete_finish(struct engine *e, struct wop *op)
{
        struct iface_op *o = op->ud;

        return iface_change_finish(e, &op->change, NULL, o->cur, NULL);
}

static int delete_plan(struct engine *e, struct wop *op)
{
        struct iface_op *o = op->ud;
        struct iface_snap *cur;
        int r;

        op->finish = delete_finish;
        r = settle_name(e, o->name, &cur, op->err);
        if (r < 0)
                return r;
        if (!cur)
                return o->if_match ? -ESTALE : -ENOENT; /* a lost If-Match race is a 412 */
        if (!etag_ok(o->if_match, cur))
                return -ESTALE;
        r = bindings_of_iface_delete(e, op->ctx, o->name, o->cascade, op->err);
        if (r < 0)
                return r;
        o->cur = iface_snap_ref(cur);
        return iface_op_stage(o, "delete");
}

int engine_iface_delete_cascade(struct engine *e, const struct engine_ctx *ctx, const char *name,
                                uint64_t if_match, bool cascade, struct iface_error *reterr)
{
        struct iface_error local = {};
        struct iface_op o = { .name = name, .if_match = if_match, .cascade = cascade };

        assert_return(e && name, -EINVAL);

        if (builtin_find(e, name))
                return -EPERM;
        return iface_op_run(e, ctx, &o, delete_plan, reterr ? reterr : &local);
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

void engine_stop_writes(struct engine *e)
{
        if (!e)
                return;
        mirror_abort_waits(e->mirror);
}

/* --- start: recovery of intents ------------------------------------------------------------ */

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
int recover_intents(struct engine *e)
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

                if (strchr(it->name, '/')) {
                        /* A write of the node db (binding.c). */
                        r = recover_node_intent(e, it->name, it->content, it->revision, it->origin,
                                                it->actor, it->request_id);
                        if (r < 0)
                                return r;
                        continue;
                }
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
