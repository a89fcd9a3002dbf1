/* SPDX-License-Identifier: MIT */
/* The engine's counters for /metrics (stats.h). */
#include <time.h>

#include "macro.h"
#include "stats.h"

const int64_t stats_bucket_usec[STATS_N_BUCKETS] = STATS_BUCKETS_USEC;

static struct stats stats;

/* The write this thread is in, if any (write_begin .. write_end). */
static _Thread_local struct {
        int64_t started_usec; /* 0: none */
        int64_t fsync_usec, db_usec;
} cur;

struct stats *stats_get(void)
{
        return &stats;
}

static void add(_Atomic uint64_t *x, uint64_t n)
{
        atomic_fetch_add_explicit(x, n, memory_order_relaxed);
}

void stats_hist_observe(struct stats_hist *h, int64_t usec)
{
        size_t i = 0;

        if (usec < 0)
                usec = 0;
        while (i < STATS_N_BUCKETS && usec > stats_bucket_usec[i])
                i++;
        if (i < STATS_N_BUCKETS)
                add(&h->le[i], 1);
        add(&h->sum_usec, (uint64_t)usec);
        add(&h->count, 1); /* last: a reader sees count >= the buckets it summed, or equal */
}

const char *stats_lock_to_string(enum stats_lock l)
{
        static const char *const names[_STATS_LOCK_MAX] = {
                [STATS_LOCK_DAEMON] = "daemon",
                [STATS_LOCK_ISCSIADM] = "iscsiadm",
        };

        return l < _STATS_LOCK_MAX ? names[l] : NULL;
}

const char *stats_discovery_to_string(enum stats_discovery d)
{
        static const char *const names[_STATS_DISCOVERY_MAX] = {
                [STATS_DISCOVERY_OK] = "ok",
                [STATS_DISCOVERY_FAILED] = "failed",
                [STATS_DISCOVERY_CANCELLED] = "cancelled",
        };

        return d < _STATS_DISCOVERY_MAX ? names[d] : NULL;
}

void stats_add_fsync(int64_t usec)
{
        if (cur.started_usec)
                cur.fsync_usec += usec;
}

void stats_add_db(int64_t usec)
{
        if (cur.started_usec)
                cur.db_usec += usec;
}

void stats_write_began(int64_t started_usec, int64_t lock_wait_usec)
{
        cur.started_usec = started_usec ? started_usec : 1;
        cur.fsync_usec = cur.db_usec = 0;
        stats_hist_observe(&stats.write_lock_wait, lock_wait_usec);
}

void stats_write_ended(void)
{
        if (!cur.started_usec)
                return;
        stats_hist_observe(&stats.write_total, clock_usec(CLOCK_MONOTONIC) - cur.started_usec);
        stats_hist_observe(&stats.write_fsync, cur.fsync_usec);
        stats_hist_observe(&stats.write_db, cur.db_usec);
        cur.started_usec = 0;
}

void stats_lock_timeout(enum stats_lock l)
{
        if (l < _STATS_LOCK_MAX)
                add(&stats.lock_timeouts[l], 1);
}

void stats_check_done(const struct check_result *r)
{
        if (r->status >= _CHECK_STATUS_MAX || r->reason >= _CHECK_REASON_MAX)
                return;
        add(&stats.checks[r->status][r->reason], 1);
        stats_hist_observe(&stats.check_duration[r->status], r->elapsed_usec);
}

void stats_job_done(enum job_state s, int64_t usec)
{
        if (s < _JOB_STATE_MAX)
                stats_hist_observe(&stats.job_duration[s], usec);
}

void stats_discovery_done(enum stats_discovery d, int64_t usec)
{
        if (d < _STATS_DISCOVERY_MAX)
                stats_hist_observe(&stats.discovery_duration[d], usec);
}

void stats_batch(uint64_t n)
{
        add(&stats.batches, 1);
        add(&stats.batched_writes, n);
}

void stats_session_uevent(void)
{
        add(&stats.session_uevents, 1);
}
