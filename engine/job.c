/* SPDX-License-Identifier: MIT */
/* Jobs of checks: a table in memory, progress counted by the check loop's callbacks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "jobs.h"
#include "macro.h"
#include "stats.h"

struct job_item {
        struct job *job;
        struct check *check;
        bool done;
};

struct job {
        atomic_uint refs;
        struct jobs *jobs; /* borrowed; cleared when the table drops the job */
        pthread_mutex_t lock;
        struct job_info info;
        char key[JOB_SCOPE_MAX + 1 + JOB_KEY_MAX + 1];
        uint64_t body_hash;
        bool cancel_requested;
        struct job_item *items;
        size_t n_items;
};

struct jobs {
        struct checker *k;
        pthread_mutex_t lock;
        struct job *table[JOB_MAX]; /* each holds a reference */
        size_t n;
        /* Told of each finished item (job_table_set_listener); set before the first job. */
        void (*listener)(const struct job_info *info, void *userdata);
        void *listener_userdata;
};

void job_table_set_listener(struct jobs *j, void (*fn)(const struct job_info *info, void *userdata),
                            void *userdata)
{
        if (!j)
                return;
        j->listener = fn;
        j->listener_userdata = userdata;
}

static const char *const state_names[_JOB_STATE_MAX] = {
        [JOB_RUNNING] = "running",
        [JOB_DONE] = "done",
        [JOB_CANCELLED] = "cancelled",
};

const char *job_state_to_string(enum job_state s)
{
        return s < _JOB_STATE_MAX ? state_names[s] : NULL;
}

int job_table_new(struct checker *k, struct jobs **ret)
{
        struct jobs *j = calloc(1, sizeof(*j));

        if (!j)
                return -ENOMEM;
        j->k = k;
        pthread_mutex_init(&j->lock, NULL);
        *ret = j;
        return 0;
}

struct job *job_ref(struct job *job)
{
        if (job)
                atomic_fetch_add(&job->refs, 1);
        return job;
}

struct job *job_unref(struct job *job)
{
        if (!job || atomic_fetch_sub(&job->refs, 1) != 1)
                return NULL;
        for (size_t i = 0; i < job->n_items; i++)
                check_unref(job->items[i].check);
        free(job->items);
        pthread_mutex_destroy(&job->lock);
        free(job);
        return NULL;
}

struct jobs *job_table_free(struct jobs *j)
{
        if (!j)
                return NULL;
        for (size_t i = 0; i < j->n; i++)
                job_unref(j->table[i]);
        pthread_mutex_destroy(&j->lock);
        free(j);
        return NULL;
}

/* The check loop calls this for each item as it finishes. */
static void item_done(struct check *c, void *userdata)
{
        struct job_item *item = userdata;
        struct job *job = item->job;
        const struct check_result *r = check_get_result(c);
        struct job_info info;

        pthread_mutex_lock(&job->lock);
        item->done = true;
        job->info.done++;
        if (r->status == CHECK_OK)
                job->info.ok++;
        else if (r->status == CHECK_CANCELLED)
                job->info.cancelled++;
        else
                job->info.failed++;
        if (job->info.done == job->info.total) {
                job->info.state = job->cancel_requested ? JOB_CANCELLED : JOB_DONE;
                job->info.finished_usec = clock_usec(CLOCK_REALTIME);
                stats_job_done(job->info.state, job->info.finished_usec - job->info.created_usec);
        }
        info = job->info;
        pthread_mutex_unlock(&job->lock);
        if (job->jobs->listener)
                job->jobs->listener(&info, job->jobs->listener_userdata);
        job_unref(job); /* the reference the item held */
}

/* Drop finished jobs past their time, and, when full, the oldest finished one. Under j->lock. */
static void gc_locked(struct jobs *j, bool need_slot)
{
        int64_t now = clock_usec(CLOCK_REALTIME);
        size_t oldest = SIZE_MAX;

        for (size_t i = 0; i < j->n;) {
                struct job *job = j->table[i];
                bool drop;

                pthread_mutex_lock(&job->lock);
                drop = job->info.state != JOB_RUNNING &&
                       now - job->info.finished_usec > JOB_KEEP_USEC;
                if (!drop && job->info.state != JOB_RUNNING &&
                    (oldest == SIZE_MAX ||
                     job->info.finished_usec < j->table[oldest]->info.finished_usec))
                        oldest = i;
                pthread_mutex_unlock(&job->lock);
                if (drop) {
                        memmove(&j->table[i], &j->table[i + 1], (j->n - i - 1) * sizeof(*j->table));
                        j->n--;
                        if (oldest != SIZE_MAX && oldest > i)
                                oldest--;
                        job_unref(job);
                        continue;
                }
                i++;
        }

        if (need_slot && j->n >= JOB_MAX && oldest != SIZE_MAX) {
                struct job *job = j->table[oldest];

                memmove(&j->table[oldest], &j->table[oldest + 1],
                        (j->n - oldest - 1) * sizeof(*j->table));
                j->n--;
                job_unref(job);
        }
}

static struct job *find_locked(struct jobs *j, const char *id, const char *key)
{
        for (size_t i = 0; i < j->n; i++)
                if ((id && streq(j->table[i]->info.id, id)) ||
                    (key && streq(j->table[i]->key, key)))
                        return j->table[i];
        return NULL;
}

static void make_id(char ret[static JOB_ID_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        uint8_t b[JOB_ID_LEN / 2];

        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
                int64_t t = clock_usec(CLOCK_MONOTONIC);

                memset(b, 0, sizeof(b));
                memcpy(b, &t, sizeof(t));
        }
        for (size_t i = 0; i < sizeof(b); i++) {
                ret[2 * i] = hex[b[i] >> 4];
                ret[2 * i + 1] = hex[b[i] & 0xf];
        }
        ret[JOB_ID_LEN] = 0;
}

int job_table_start(struct jobs *j, const struct check_spec *specs, size_t n, const char *key,
                    uint64_t body_hash, struct job **ret, bool *ret_existing)
{
        struct job *job;
        int r = 0;

        *ret_existing = false;
        if (n == 0 || n > JOB_ITEMS_MAX)
                return -E2BIG;
        if (key && strlen(key) >= sizeof(((struct job *)NULL)->key))
                return -EINVAL; /* truncated, it could match another caller's key */

        pthread_mutex_lock(&j->lock);
        gc_locked(j, true);
        if (key) {
                job = find_locked(j, NULL, key);
                if (job) {
                        r = job->body_hash == body_hash ? 0 : -EILSEQ;
                        if (r == 0) {
                                *ret = job_ref(job);
                                *ret_existing = true;
                        }
                        pthread_mutex_unlock(&j->lock);
                        return r;
                }
        }
        if (j->n >= JOB_MAX) {
                pthread_mutex_unlock(&j->lock);
                return -EAGAIN;
        }

        job = calloc(1, sizeof(*job));
        if (job)
                job->items = calloc(n, sizeof(*job->items));
        if (!job || !job->items) {
                free(job);
                pthread_mutex_unlock(&j->lock);
                return -ENOMEM;
        }
        atomic_init(&job->refs, 1 + 1); /* the table's and the caller's */
        pthread_mutex_init(&job->lock, NULL);
        job->jobs = j;
        job->n_items = n;
        job->body_hash = body_hash;
        if (key)
                snprintf(job->key, sizeof(job->key), "%s", key);
        make_id(job->info.id);
        job->info.state = JOB_RUNNING;
        job->info.created_usec = clock_usec(CLOCK_REALTIME);
        job->info.total = n;
        j->table[j->n++] = job;

        /* Items may finish before the loop below ends: the job lock holds their callbacks. */
        pthread_mutex_lock(&job->lock);
        for (size_t i = 0; i < n; i++) {
                job->items[i].job = job_ref(job); /* released by item_done() */
                r = checker_submit(j->k, &specs[i], item_done, &job->items[i],
                                   &job->items[i].check);
                if (r < 0) {
                        job_unref(job);
                        break;
                }
        }
        if (r < 0) {
                /* Count the items never submitted as cancelled, and cancel the rest. */
                job->cancel_requested = true;
                for (size_t i = 0; i < n; i++) {
                        if (job->items[i].check)
                                check_cancel(job->items[i].check);
                        else {
                                job->items[i].done = true;
                                job->info.done++;
                                job->info.cancelled++;
                        }
                }
                if (job->info.done == job->info.total) {
                        job->info.state = JOB_CANCELLED;
                        job->info.finished_usec = clock_usec(CLOCK_REALTIME);
                        stats_job_done(job->info.state,
                                       job->info.finished_usec - job->info.created_usec);
                }
        }
        pthread_mutex_unlock(&job->lock);
        pthread_mutex_unlock(&j->lock);

        if (r < 0) {
                /* The table keeps the job, shown as cancelled; the caller gets no reference. */
                job_unref(job);
                return r == -ESHUTDOWN ? r : -ENOMEM;
        }
        *ret = job;
        return 0;
}

int job_table_get(struct jobs *j, const char *id, struct job **ret)
{
        struct job *job;

        pthread_mutex_lock(&j->lock);
        gc_locked(j, false);
        job = find_locked(j, id, NULL);
        if (job)
                *ret = job_ref(job);
        pthread_mutex_unlock(&j->lock);
        return job ? 0 : -ENOENT;
}

int job_table_list(struct jobs *j, struct job ***ret, size_t *ret_n)
{
        struct job **a;
        size_t n;

        pthread_mutex_lock(&j->lock);
        gc_locked(j, false);
        n = j->n;
        a = calloc(n ?: 1, sizeof(*a));
        if (!a) {
                pthread_mutex_unlock(&j->lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                a[i] = job_ref(j->table[n - 1 - i]);
        pthread_mutex_unlock(&j->lock);
        *ret = a;
        *ret_n = n;
        return 0;
}

static void job_cancel(struct job *job)
{
        pthread_mutex_lock(&job->lock);
        if (job->info.state == JOB_RUNNING) {
                job->cancel_requested = true;
                for (size_t i = 0; i < job->n_items; i++)
                        if (!job->items[i].done)
                                check_cancel(job->items[i].check);
        }
        pthread_mutex_unlock(&job->lock);
}

int job_table_cancel_or_remove(struct jobs *j, const char *id)
{
        struct job *job;
        bool running;

        pthread_mutex_lock(&j->lock);
        job = find_locked(j, id, NULL);
        if (!job) {
                pthread_mutex_unlock(&j->lock);
                return -ENOENT;
        }
        pthread_mutex_lock(&job->lock);
        running = job->info.state == JOB_RUNNING;
        pthread_mutex_unlock(&job->lock);
        if (running) {
                job_cancel(job);
                pthread_mutex_unlock(&j->lock);
                return 0;
        }
        for (size_t i = 0; i < j->n; i++)
                if (j->table[i] == job) {
                        memmove(&j->table[i], &j->table[i + 1], (j->n - i - 1) * sizeof(*j->table));
                        j->n--;
                        break;
                }
        pthread_mutex_unlock(&j->lock);
        job_unref(job);
        return 1;
}

void job_table_cancel_all(struct jobs *j)
{
        if (!j)
                return;
        pthread_mutex_lock(&j->lock);
        for (size_t i = 0; i < j->n; i++)
                job_cancel(j->table[i]);
        pthread_mutex_unlock(&j->lock);
}

void job_get_info(struct job *job, struct job_info *ret)
{
        pthread_mutex_lock(&job->lock);
        *ret = job->info;
        pthread_mutex_unlock(&job->lock);
}

size_t job_n_items(const struct job *job)
{
        return job->n_items;
}

const struct check *job_item_done(struct job *job, size_t i)
{
        const struct check *c = NULL;

        if (i >= job->n_items)
                return NULL;
        pthread_mutex_lock(&job->lock);
        if (job->items[i].done)
                c = job->items[i].check;
        pthread_mutex_unlock(&job->lock);
        return c;
}
