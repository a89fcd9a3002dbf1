/* SPDX-License-Identifier: MIT */
/*
 * What the engine counts for /metrics (README "Metrics"): the time of durable writes, split into
 * the wait for the locks, the fsyncs of the db root's files and the sqlite commits; lock
 * timeouts; checks, matrix jobs and discovery runs by result. Process-wide and lock-free
 * (relaxed atomics): the daemon has one engine, and a count is never a correctness input.
 *
 * Every label comes from a fixed set (an enum's names), never from a request or the wire.
 */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "discovery.h"
#include "job.h"

/* Upper bounds of the duration buckets, in microseconds (then +Inf). */
#define STATS_BUCKETS_USEC                                                                         \
        {                                                                                          \
                100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,      \
                        1000000, 2500000, 5000000, 10000000, 30000000                              \
        }
#define STATS_N_BUCKETS 17

struct stats_hist {
        _Atomic uint64_t le[STATS_N_BUCKETS]; /* not cumulative: bucket i only */
        _Atomic uint64_t count;
        _Atomic uint64_t sum_usec;
};

/* The buckets' bounds (STATS_BUCKETS_USEC), for rendering. */
extern const int64_t stats_bucket_usec[STATS_N_BUCKETS];

void stats_hist_observe(struct stats_hist *h, int64_t usec);

/* Whose lock a write's wait ran out on (the lock label of ifd_lock_timeouts_total). */
enum stats_lock {
        STATS_LOCK_DAEMON,   /* other writes of this daemon held the db root */
        STATS_LOCK_ISCSIADM, /* iscsiadm's lock.write was held by another process */
        _STATS_LOCK_MAX,
};

/* The outcome of a discovery run (the result label of ifd_discoveries_total). */
enum stats_discovery {
        STATS_DISCOVERY_OK,        /* every portal answered, and the records were made if asked */
        STATS_DISCOVERY_FAILED,    /* a portal's check failed or the bind phase did */
        STATS_DISCOVERY_CANCELLED, /* cancelled */
        _STATS_DISCOVERY_MAX,
};

const char *stats_lock_to_string(enum stats_lock l);
const char *stats_discovery_to_string(enum stats_discovery d);

struct stats {
        /* durable writes (write_begin .. write_end): whole, lock wait, fsyncs, sqlite commits */
        struct stats_hist write_total, write_lock_wait, write_fsync, write_db;
        _Atomic uint64_t lock_timeouts[_STATS_LOCK_MAX];
        /* group commit: batches made durable, and the API writes they held */
        _Atomic uint64_t batches, batched_writes;
        /* kernel uevents about iSCSI or SCSI objects that woke the sessions watch */
        _Atomic uint64_t session_uevents;
        /* checks by status (ok, failed, cancelled) and the reason of their deciding step */
        struct stats_hist check_duration[_CHECK_STATUS_MAX];
        _Atomic uint64_t checks[_CHECK_STATUS_MAX][_CHECK_REASON_MAX];
        /* matrix jobs by their final state; discovery runs by result */
        struct stats_hist job_duration[_JOB_STATE_MAX];
        struct stats_hist discovery_duration[_STATS_DISCOVERY_MAX];
};

/* The process's counters. */
struct stats *stats_get(void);

/*
 * Time spent by this thread in fsync() of the db root's files and in sqlite commits since its
 * write began (write_begin resets both, write_end observes them).
 */
void stats_add_fsync(int64_t usec);
void stats_add_db(int64_t usec);

/* A write of this thread began (after waiting lock_wait_usec for the locks) / ended. */
void stats_write_began(int64_t started_usec, int64_t lock_wait_usec);
void stats_write_ended(void);

/* A batch of n API writes was run (engine/group.c). */
void stats_batch(uint64_t n);
/* Kernel uevents woke the sessions watch before its tick (engine/drift.c). */
void stats_session_uevent(void);

void stats_lock_timeout(enum stats_lock l);
void stats_check_done(const struct check_result *r);
void stats_job_done(enum job_state s, int64_t usec);
void stats_discovery_done(enum stats_discovery d, int64_t usec);
