/* SPDX-License-Identifier: MIT */
/*
 * Group commit: the write protocol of DESIGN.md §2 for many changes at once (changes_commit),
 * and the queue that gathers the writes that arrive while a batch is being made durable
 * (group_run). Whichever writer finds no batch being led leads the next one: it takes the
 * locks, plans each queued write in turn, commits their changes together, finishes each, and
 * answers them all.
 */
#include <assert.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "engine-internal.h"
#include "proc.h"
#include "log.h"
#include "mirror.h"
#include "stats.h"
#include "store.h"

enum {
        WOP_QUEUED,
        WOP_TAKEN,
        WOP_DONE,
};

static void fault(struct engine *e, const char *point)
{
        if (e->fault)
                e->fault(point);
}

/* --- many changes, one protocol ------------------------------------------------------------- */

/*
 * Put back the file c replaced (its row's before), then drop its intent. If either fails the
 * intent stays, and the next start settles the path by comparing the file with it.
 */
static void change_undo(struct engine *e, struct wchange *c)
{
        const char *before = c->row.before;
        int r;

        if (c->node)
                r = before ? mirror_path_write(e->mirror, c->key, before, strlen(before)) :
                             mirror_path_remove(e->mirror, c->key, 1);
        else
                r = before ? mirror_write(e->mirror, c->key, before, strlen(before)) :
                             mirror_remove(e->mirror, c->key);
        if (r < 0) {
                log_error_errno(r, "Failed to restore '%s%s'; the next start settles it",
                                c->node ? "" : "ifaces/", c->key);
                return;
        }
        (void)store_intent_drop(e->store, c->key);
}

/*
 * The syncers: threads that fsync the temp files of a batch in parallel (on this machine's
 * virtio disk 32 fsyncs take 6.7 ms one after the other and 1.2 ms from 32 threads), while the
 * leader commits the batch's intents. Started on first use in this process (a forked child
 * starts its own).
 */
#define SYNCERS 16

struct syncers {
        pthread_mutex_t lock;
        pthread_cond_t work, done;
        struct mirror *mirror;
        struct wchange *const *v; /* the batch; only those with r >= 0 are synced */
        size_t n, next, finished;
        pid_t pid; /* the process the threads run in */
        size_t n_threads;
};

static struct syncers syncers = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .work = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER,
};

/* Sync the next change of the job, if any is left; holding syncers.lock (dropped meanwhile). */
static bool syncers_step(struct syncers *q)
{
        struct wchange *c;
        int r;

        if (q->next >= q->n)
                return false;
        c = q->v[q->next++];
        pthread_mutex_unlock(&q->lock);
        r = c->r < 0 ? c->r : mirror_staged_sync(q->mirror, &c->st);
        pthread_mutex_lock(&q->lock);
        c->r = r;
        if (++q->finished == q->n)
                pthread_cond_broadcast(&q->done);
        return true;
}

static void *syncer_thread(void *arg)
{
        struct syncers *q = arg;

        (void)pthread_setname_np(pthread_self(), "ifd-sync");
        pthread_mutex_lock(&q->lock);
        for (;;) {
                while (!syncers_step(q))
                        pthread_cond_wait(&q->work, &q->lock);
        }
        return NULL;
}

/* Hand the temp files of v[0..n) to the syncers. Holding write_lock (one job at a time). */
static void syncers_start(struct mirror *m, struct wchange *const *v, size_t n)
{
        struct syncers *q = &syncers;
        pthread_attr_t a;

        pthread_mutex_lock(&q->lock);
        while (q->v) /* another engine's batch (tests open several) */
                pthread_cond_wait(&q->done, &q->lock);
        if (q->pid != self_pid()) {
                /* The threads of a parent are not in a forked child. */
                q->pid = self_pid();
                q->n_threads = 0;
                pthread_attr_init(&a);
                pthread_attr_setstacksize(&a, 64 * 1024);
                for (size_t i = 0; i < SYNCERS; i++) {
                        pthread_t t;

                        if (pthread_create(&t, &a, syncer_thread, q) != 0)
                                break; /* the leader syncs what no thread takes */
                        pthread_detach(t);
                        q->n_threads++;
                }
                pthread_attr_destroy(&a);
        }
        q->mirror = m;
        q->v = v;
        q->n = n;
        q->next = q->finished = 0;
        /* As many as there are files, not all of them: a woken thread costs the leader its CPU
         * (a batch of one woke 16, for 160 us before its intents on this machine's 2 cores). */
        for (size_t i = 0; i < n && i < q->n_threads; i++)
                pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->lock);
}

/* Help with the job and wait for its end: each v[i]->r is then the sync's result. */
static void syncers_wait(void)
{
        struct syncers *q = &syncers;

        pthread_mutex_lock(&q->lock);
        while (syncers_step(q))
                ;
        while (q->finished < q->n)
                pthread_cond_wait(&q->done, &q->lock);
        q->v = NULL;
        q->n = q->next = q->finished = 0;
        pthread_cond_broadcast(&q->done);
        pthread_mutex_unlock(&q->lock);
}

/* Revisions first..first+n-1 for the next writes, their reserve on record first. */
static int revisions_take(struct engine *e, size_t n, uint64_t *ret_first)
{
        uint64_t first = e->revision + 1, last = e->revision + n;

        if (last > e->revision_reserved) {
                char buf[32];
                uint64_t upto = last + REVISION_RESERVE_BLOCK;
                int k = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", upto);
                int r = mirror_state_write(e->mirror, REVISION_RESERVE_FILE, buf, (size_t)k);

                if (r < 0)
                        return r;
                e->revision_reserved = upto;
        }
        *ret_first = first;
        return 0;
}

int revision_next(struct engine *e, uint64_t *ret)
{
        return revisions_take(e, 1, ret);
}

/* Fail every change of v still going with r, undoing those whose file was placed. */
static void fail_all(struct engine *e, struct wchange *const *v, size_t n, int r)
{
        for (size_t i = 0; i < n; i++) {
                if (v[i]->r < 0)
                        continue;
                if (v[i]->st.placed)
                        change_undo(e, v[i]);
                else
                        (void)store_intent_drop(e->store, v[i]->key);
                v[i]->r = r;
        }
}

int changes_commit(struct engine *e, struct wchange *const *v, size_t n)
{
        const struct store_intent *iv[GROUP_MAX];
        struct store_intent intents[GROUP_MAX];
        const struct store_change *rows[GROUP_MAX];
        const char *drops[GROUP_MAX];
        struct mirror_staged *placed[GROUP_MAX];
        struct wchange *unsynced[GROUP_MAX];
        int64_t now = clock_usec(CLOCK_REALTIME);
        size_t n_ok = 0, n_rows = 0, n_drops = 0, n_placed = 0, n_unsynced = 0;
        uint64_t first;
        int r;

        assert_return(e && (v || n == 0) && n <= GROUP_MAX, -EINVAL);
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                v[i]->st = (struct mirror_staged){ .dir_fd = -1, .tmp_fd = -1 };
                v[i]->intent = false;
        }

        r = revisions_take(e, n, &first);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        v[i]->r = r;
                return r;
        }

        /* 1. Each file's new content in a temp file of its own (or the one its writer wrote). */
        for (size_t i = 0; i < n; i++) {
                struct wchange *c = v[i];

                c->revision = first + i;
                if (c->pre && c->pre->name[0] && c->content)
                        c->r = mirror_stage_temp(e->mirror, c->key, c->node, c->pre, &c->st);
                else
                        c->r = mirror_stage(e->mirror, c->key, c->node, c->content, c->len, &c->st);
                if (c->r < 0)
                        continue;
                intents[n_ok] = (struct store_intent){
                        .name = c->key,
                        .content = c->content,
                        .revision = c->revision,
                        .origin = c->row.origin,
                        .actor = c->row.actor,
                        .request_id = c->row.request_id,
                };
                iv[n_ok] = &intents[n_ok];
                n_ok++;
                c->intent = true;
        }
        if (n_ok == 0)
                return 0;

        /* 2. Each temp file made durable by the syncers while one durable transaction
         * records the intents: from here a crash is settled at the next start by comparing
         * each file with its intent. */
        for (size_t i = 0; i < n; i++)
                if (v[i]->r >= 0 && v[i]->st.tmp_fd >= 0) /* not synced by its writer */
                        unsynced[n_unsynced++] = v[i];
        if (n_unsynced > 0)
                syncers_start(e->mirror, unsynced, n_unsynced);
        fault(e, "engine-before-intent");
        r = store_intents_put(e->store, iv, n_ok);
        if (n_unsynced > 0) {
                /* The syncers' fsyncs count to the write as the time it waited for them. */
                int64_t t = clock_usec(CLOCK_MONOTONIC);

                syncers_wait();
                stats_add_fsync(clock_usec(CLOCK_MONOTONIC) - t);
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        if (v[i]->r >= 0) {
                                mirror_staged_done(e->mirror, &v[i]->st);
                                v[i]->r = r;
                        }
                return log_debug_errno(r, "Failed to record the intents of %zu writes", n_ok);
        }
        fault(e, "engine-intent-committed");

        /* 3. Each file in place. A change whose sync or rename failed fails alone: its file was
         * not replaced, and its intent is dropped with the others' rows. */
        for (size_t i = 0; i < n; i++) {
                struct wchange *c = v[i];

                if (!c->intent)
                        continue; /* never staged: no intent either */
                if (c->r >= 0)
                        c->r = mirror_staged_place(e->mirror, &c->st);
                if (c->r < 0) {
                        log_debug_errno(c->r, "Failed to write '%s'", c->key);
                        drops[n_drops++] = c->key;
                        mirror_staged_done(e->mirror, &c->st);
                        continue;
                }
                placed[n_placed++] = &c->st;
        }

        /* 4. Each directory once. If one fails, a placed file may or may not survive a power
         * loss: every placed change is undone. */
        r = mirror_dirs_sync(e->mirror, placed, n_placed);
        if (r < 0) {
                log_debug_errno(r, "Failed to flush the directories of %zu writes", n_placed);
                goto fail;
        }
        for (size_t i = 0; i < n; i++)
                if (v[i]->r >= 0 && v[i]->node && !v[i]->content && v[i]->st.placed)
                        (void)mirror_path_prune(e->mirror, v[i]->key, 1);
        fault(e, "engine-file-written");

        /* 5. The rows and audit entries, the intents dropped: handed to the store for the next
         * transaction on its connection (the applier's, the answering writer thread's, or the
         * next batch's intents), so that the writers are answered without waiting for them.
         * They need no flush of their own: until they are committed, the intents are what
         * recovery completes them from. */
        for (size_t i = 0; i < n; i++) {
                struct wchange *c = v[i];

                if (c->r < 0)
                        continue;
                c->row.name = c->key;
                c->row.content = c->content;
                c->row.revision = c->revision;
                c->row.now_usec = now;
                c->row.node = c->node;
                rows[n_rows++] = &c->row;
        }
        r = store_defer_many(e->store, rows, n_rows, drops, n_drops);
        if (r == -ENOMEM)
                r = store_apply_many(e->store, rows, n_rows, drops, n_drops, false);
        if (r < 0) {
                log_debug_errno(r, "Failed to commit %zu writes to the db", n_rows);
                goto fail;
        }
        /* With writes queued, the next batch would write these first, on its way to its own
         * flush: the applier writes them now instead, while this batch finishes and the next one
         * plans (sqlite takes one writer at a time; either waits for the other). */
        applier_kick(e, atomic_load(&e->writes_waiting) > 0);
        fault(e, "engine-row-committed");
        if (first + n - 1 > e->revision)
                e->revision = first + n - 1;
        for (size_t i = 0; i < n; i++)
                mirror_staged_done(e->mirror, &v[i]->st);
        return 0;

fail:
        fail_all(e, v, n, r);
        for (size_t i = 0; i < n_drops; i++)
                (void)store_intent_drop(e->store, drops[i]);
        for (size_t i = 0; i < n; i++)
                mirror_staged_done(e->mirror, &v[i]->st);
        return r;
}

/* --- the applier ---------------------------------------------------------------------------- */

/*
 * How long deferred rows may wait for a write to take them along before the applier writes
 * them itself: long enough for a client's next write to arrive (one client's creates come
 * about 1 ms apart here), short enough that the rows follow their writes closely. Readers that
 * need them (the audit trail, health's count, a stop) write them at once.
 */
#define APPLY_LINGER_USEC 2000

/* A write queued takes deferred rows along in its transaction; past this, they go anyway (that
 * write may wait for iscsiadm's lock for seconds). */
#define APPLY_WAIT_MAX_USEC 50000

static void *applier_thread(void *arg)
{
        struct engine *e = arg;
        uint64_t kicks_seen = 0;
        bool logged = false;

        (void)pthread_setname_np(pthread_self(), "ifd-apply");
        pthread_mutex_lock(&e->apply_lock);
        while (!e->applier_stopping) {
                int64_t since, now = clock_usec(CLOCK_MONOTONIC), wake;
                struct timespec ts;
                bool at_once;

                if (!store_deferred_pending(e->store, &since)) {
                        if (e->apply_kicks != kicks_seen) {
                                /*
                                 * Batches came and their writers wrote their rows: more are
                                 * likely. Look again after a linger instead of being woken
                                 * by each one (a wake-up costs two context switches; one
                                 * client's creates came 1 ms apart and woke the applier
                                 * twice each).
                                 */
                                kicks_seen = e->apply_kicks;
                                wake = now + APPLY_LINGER_USEC;
                                goto sleep;
                        }
                        e->applier_idle = true;
                        pthread_cond_wait(&e->apply_cond, &e->apply_lock);
                        e->applier_idle = false;
                        continue;
                }
                /* Not while its last try failed: that one waits APPLY_WAIT_MAX_USEC. */
                at_once = e->apply_now && !logged;
                e->apply_now = false;
                wake = at_once ? now : since + APPLY_LINGER_USEC;
                if (!at_once && now >= wake && atomic_load(&e->writes_waiting) &&
                    now < since + APPLY_WAIT_MAX_USEC)
                        wake = now + APPLY_LINGER_USEC;
                if (now >= wake) {
                        int r;

                        pthread_mutex_unlock(&e->apply_lock);
                        r = store_flush_deferred(e->store);
                        if (r < 0 && !logged)
                                log_warning_errno(r, "Failed to write the rows of answered writes "
                                                     "to the db; retrying (their intents keep "
                                                     "them meanwhile)");
                        logged = r < 0;
                        pthread_mutex_lock(&e->apply_lock);
                        if (r >= 0)
                                continue;
                        wake = clock_usec(CLOCK_MONOTONIC) + APPLY_WAIT_MAX_USEC;
                }
sleep:
                ts = (struct timespec){ .tv_sec = wake / 1000000,
                                        .tv_nsec = (wake % 1000000) * 1000 };
                (void)pthread_cond_clockwait(&e->apply_cond, &e->apply_lock, CLOCK_MONOTONIC, &ts);
        }
        pthread_mutex_unlock(&e->apply_lock);
        return NULL;
}

void engine_after_write(struct engine *e)
{
        int r;

        /* A write on its way takes them along in its own transaction. */
        if (!store_deferred_pending(e->store, NULL) || atomic_load(&e->writes_waiting))
                return;
        r = store_flush_deferred(e->store);
        if (r < 0)
                log_debug_errno(r, "Failed to write the rows of answered writes; the applier "
                                   "retries");
}

int rows_settle(struct engine *e)
{
        int r = store_flush_deferred(e->store);

        if (r < 0)
                log_warning_errno(r, "Failed to write the rows of the last writes to the db; "
                                     "their intents keep them until the next start");
        return r;
}

void applier_kick(struct engine *e, bool now)
{
        pthread_mutex_lock(&e->apply_lock);
        e->apply_kicks++;
        if (now)
                e->apply_now = true;
        if (!e->applier_running && !e->applier_stopping) {
                pthread_attr_t a;

                pthread_attr_init(&a);
                pthread_attr_setstacksize(&a, 128 * 1024);
                /* Without it, the rows wait for the next write, a reader or the stop. */
                e->applier_running = pthread_create(&e->applier, &a, applier_thread, e) == 0;
                pthread_attr_destroy(&a);
        } else if (e->applier_idle || now) /* else it looks again when its sleep ends */
                pthread_cond_signal(&e->apply_cond);
        pthread_mutex_unlock(&e->apply_lock);
}

void applier_stop(struct engine *e)
{
        bool running;

        pthread_mutex_lock(&e->apply_lock);
        e->applier_stopping = true;
        running = e->applier_running;
        pthread_cond_signal(&e->apply_cond);
        pthread_mutex_unlock(&e->apply_lock);
        if (running)
                pthread_join(e->applier, NULL);
}

/* --- the queue ------------------------------------------------------------------------------ */

bool engine_write_busy(struct engine *e)
{
        return atomic_load(&e->writes_waiting) > 0 || atomic_load(&e->group_leading);
}

static bool keys_clash(const struct wop *a, const struct wop *b)
{
        for (size_t i = 0; i < ELEMENTSOF(a->keys) && a->keys[i]; i++)
                for (size_t j = 0; j < ELEMENTSOF(b->keys) && b->keys[j]; j++)
                        if ((a->key_write[i] || b->key_write[j]) && streq(a->keys[i], b->keys[j]))
                                return true;
        return false;
}

/* Unlink op from the queue; holding group_lock. */
static void queue_remove(struct engine *e, struct wop *op)
{
        struct wop **p = &e->group_head, *prev = NULL;

        for (; *p && *p != op; p = &(*p)->next)
                prev = *p;
        if (!*p)
                return;
        *p = op->next;
        if (e->group_tail == op)
                e->group_tail = prev;
        op->next = NULL;
}

/*
 * Take the writes of the next batch from the queue, in order, leaving any that clashes with
 * one taken before it (it goes in a later batch, still behind it). Holding group_lock.
 */
static size_t queue_take(struct engine *e, struct wop **batch)
{
        struct wop *op = e->group_head, *next;
        size_t n = 0;

        for (; op && n < GROUP_MAX; op = next) {
                bool clash = false;

                next = op->next;
                for (size_t i = 0; i < n && !clash; i++)
                        clash = keys_clash(batch[i], op);
                if (clash)
                        continue;
                queue_remove(e, op);
                op->state = WOP_TAKEN;
                batch[n++] = op;
        }
        atomic_fetch_sub(&e->writes_waiting, (unsigned)n);
        return n;
}

/* Plan, commit and finish the writes of batch, holding write_begin's locks. */
static void batch_run(struct engine *e, struct wop **batch, size_t n)
{
        struct wchange *changes[GROUP_MAX];
        size_t n_changes = 0;
        int r;

        e->group_new_ifaces = e->group_new_bindings = 0;
        stats_batch(n);
        for (size_t i = 0; i < n; i++) {
                struct wop *op = batch[i];

                op->has_change = false;
                op->r = op->plan(e, op);
                assert(!op->has_change || op->finish);
                if (op->r >= 0 && op->has_change)
                        changes[n_changes++] = &op->change;
        }
        r = changes_commit(e, changes, n_changes);
        (void)r; /* each change has its own result */
        for (size_t i = 0; i < n; i++) {
                struct wop *op = batch[i];

                if (op->r < 0 || !op->has_change)
                        continue;
                op->r = op->change.r < 0 ? op->change.r : op->finish(e, op);
        }
        e->group_new_ifaces = e->group_new_bindings = 0;
}

/*
 * Lead batches, holding group_lock on entry and on return, until own is done or no write is
 * queued. The locks are taken within own's deadline; a failure to take them fails own alone
 * and leaves the queue to the next leader.
 */
static void lead(struct engine *e, struct wop *own)
{
        struct wop *batch[GROUP_MAX];
        size_t n;
        int r;

        e->group_leading = true;
        while (own->state != WOP_DONE && e->group_head) {
                pthread_mutex_unlock(&e->group_lock);
                /* write_begin counts own as waiting while it waits: not twice. */
                atomic_fetch_sub(&e->writes_waiting, 1);
                r = write_begin(e, own->ctx, own->err);
                atomic_fetch_add(&e->writes_waiting, 1);
                pthread_mutex_lock(&e->group_lock);
                if (r < 0) {
                        /* Own is still queued: only a leader takes writes from the queue. */
                        queue_remove(e, own);
                        atomic_fetch_sub(&e->writes_waiting, 1);
                        own->r = r;
                        own->state = WOP_DONE;
                        break;
                }
                n = queue_take(e, batch);
                pthread_mutex_unlock(&e->group_lock);

                batch_run(e, batch, n);
                write_end(e);

                /*
                 * The batch's writes are woken after group_lock is let go, each by its own
                 * semaphore, and a write that wakes done returns without group_lock: woken
                 * under it, or made to take it again, each would block on it and wake the next
                 * as it let go, a convoy of futex calls and context switches (docs/decisions.md
                 * "What bounds a create on this disk, and a sharper A/B"). A write may see
                 * itself done before its post; it keeps its semaphore until released says the
                 * post is over.
                 */
                pthread_mutex_lock(&e->group_lock);
                for (size_t i = 0; i < n; i++) {
                        if (batch[i] != own)
                                atomic_store(&batch[i]->released, false);
                        atomic_store(&batch[i]->state, WOP_DONE);
                }
                pthread_mutex_unlock(&e->group_lock);
                for (size_t i = 0; i < n; i++) {
                        if (batch[i] == own)
                                continue;
                        sem_post(&batch[i]->wake);
                        atomic_store_explicit(&batch[i]->released, true, memory_order_release);
                }
                pthread_mutex_lock(&e->group_lock);
        }
        e->group_leading = false;
        /* The oldest write queued leads the next batch (each waiter has a semaphore of its
         * own: one batch's end wakes its writes and the next leader, not every writer). */
        if (e->group_head)
                sem_post(&e->group_head->wake);
}

int group_run(struct engine *e, struct wop *op)
{
        int64_t start =
                op->ctx && op->ctx->start_usec ? op->ctx->start_usec : clock_usec(CLOCK_MONOTONIC);
        int64_t deadline = start + (int64_t)e->lock_timeout_ms * 1000;
        struct timespec ts = { .tv_sec = deadline / 1000000,
                               .tv_nsec = (deadline % 1000000) * 1000 };
        int r;

        assert_return(e && op && op->plan && op->err, -EINVAL);
        /* The leader may be any writer: one that must not wait for an fsync never queues. */
        r = durable_check("a record write");
        if (r < 0)
                return r;

        sem_init(&op->wake, 0, 0);
        atomic_init(&op->released, true);
        pthread_mutex_lock(&e->group_lock);
        atomic_store(&op->state, WOP_QUEUED);
        op->next = NULL;
        if (e->group_tail)
                e->group_tail->next = op;
        else
                e->group_head = op;
        e->group_tail = op;
        atomic_fetch_add(&e->writes_waiting, 1);

        for (;;) {
                int state = atomic_load(&op->state);
                bool timed_out = false;

                if (state == WOP_DONE)
                        break;
                if (!e->group_leading) {
                        lead(e, op);
                        continue;
                }
                pthread_mutex_unlock(&e->group_lock);
                if (state == WOP_TAKEN) {
                        /* In a batch: answered when it is durable, deadline or not. */
                        while (sem_wait(&op->wake) < 0)
                                ; /* EINTR */
                } else {
                        while ((r = sem_clockwait(&op->wake, CLOCK_MONOTONIC, &ts)) < 0 &&
                               errno == EINTR)
                                ;
                        timed_out = r < 0 && errno == ETIMEDOUT;
                }
                /* Done: its leader marked it so before the post (or is about to post). */
                if (atomic_load(&op->state) == WOP_DONE)
                        goto done;
                pthread_mutex_lock(&e->group_lock);
                if (timed_out && atomic_load(&op->state) == WOP_QUEUED) {
                        bool was_head = e->group_head == op;

                        queue_remove(e, op);
                        atomic_fetch_sub(&e->writes_waiting, 1);
                        write_lock_timeout_reason(e, op->err);
                        op->r = -ETIMEDOUT;
                        atomic_store(&op->state, WOP_DONE);
                        /* It may have been posted to lead, too late: pass that on. */
                        if (was_head && !e->group_leading && e->group_head)
                                sem_post(&e->group_head->wake);
                }
        }
        pthread_mutex_unlock(&e->group_lock);
done:
        /* Done by a leader that may still be posting op->wake: a few instructions more. */
        while (!atomic_load_explicit(&op->released, memory_order_acquire))
                sched_yield();
        sem_destroy(&op->wake);
        return op->r;
}
