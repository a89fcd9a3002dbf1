/* SPDX-License-Identifier: MIT */
/*
 * Answers that come later (api.h: api_pending_wait/finish): the connection is suspended, no
 * thread waits, and the answer is fired from elsewhere. Three kinds use it:
 *  - an answer made now but sent later (the tarpit's delayed 401s): pending_delay(), fired by the
 *    timer thread;
 *  - work that must not run on an HTTP thread that serves other connections (durable writes):
 *    pending_queue_job(), run and fired by a writer thread;
 *  - an answer rendered from a payload that completes elsewhere (a check): pending_new() +
 *    pending_set_payload(), fired by whoever completes it (pending_fire()).
 * This file knows nothing of checks (a render/drop pair) nor of routes (a run callback).
 */
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"

/* Threads that run durable writes. Their writes are made durable together, a batch at a time
 * (engine/group.c): as many can be in one batch as there are threads waiting. */
#define API_WRITERS 32

/* A payload rendered into the answer when it is sent (a check's result, say). */
struct pending_ops {
        /* Fill resp (zeroed) with the answer; called at most once, from api_pending_finish(). */
        void (*render)(void *payload, const char *request_id, struct api_response *resp);
        /* Release the payload; called exactly once, rendered or not. */
        void (*drop)(void *payload);
};

/* Work for a writer thread. */
struct pending_job_ops {
        /* Do the work and fill ready (zeroed) with its answer. */
        void (*run)(void *job, struct api_response *ready);
        /* Release the job; called exactly once, after run or instead of it. */
        void (*free)(void *job);
};

struct api_pending {
        pthread_mutex_t lock;
        bool done; /* fired */
        void (*notify)(void *userdata);
        void *userdata;
        const struct pending_ops *ops; /* a payload to render, or */
        void *payload;
        struct api_response ready;             /* an answer made already */
        const struct pending_job_ops *job_ops; /* work still to do on a writer thread */
        void *job;
        int64_t due_usec;         /* CLOCK_MONOTONIC, for the timer list */
        struct api_pending *next; /* in the timer list or the write queue */
        char request_id[72];
        /* Counted when the answer is finished (counters.h); NULL: not counted. */
        struct counters *counters;
        uint32_t counters_key;
        int64_t counters_start_usec;
};

/*
 * A writer thread's hand-off slot: an idle writer sleeps on its own semaphore, and the HTTP
 * thread that queues a job gives it that job directly and posts it (one wake-up, no shared
 * condition variable whose waiters would then contend for the queue's lock).
 */
struct pending_writer {
        struct pending_queues *q;
        sem_t wake;
        struct api_pending *job; /* handed over while idle; NULL when woken to stop */
        struct pending_writer *next_idle;
};

/* The writer threads and the timer thread, with their queues. Part of struct api. */
struct pending_queues {
        pthread_mutex_t write_lock; /* the queue, the idle stack; held only to link and unlink */
        pthread_t writers[API_WRITERS];
        struct pending_writer slots[API_WRITERS];
        size_t n_writers;
        bool writers_stopping;
        struct pending_writer *idle;                 /* writers asleep, the last to finish first */
        struct api_pending *write_head, *write_tail; /* jobs that found no idle writer */
        atomic_size_t n_queued;                      /* the length of that queue */
        /* Run by a writer thread after it has handed an answer over, with no job waiting: the
         * engine's work that follows a write but need not delay its answer. */
        void (*after_answer)(void *ud);
        void *after_answer_ud;

        pthread_mutex_t timer_lock;
        pthread_cond_t timer_cond;
        pthread_t timer_thread;
        bool timer_started;
        bool timer_stopping;
        struct api_pending *timers; /* sorted by due time */

        bool inited;
};

/* Start the timer thread and the writer threads (after_answer may be NULL). 0 or -errno (call
 * pending_queues_done). */
int pending_queues_start(struct pending_queues *q, void (*after_answer)(void *ud),
                         void *after_answer_ud);
/*
 * Let the writers finish what is queued, then stop them (later jobs are refused: the caller
 * runs them inline), and fire every delayed answer now. Idempotent.
 */
void pending_queues_stop(struct pending_queues *q);
/* Stop (if needed) and release. */
void pending_queues_done(struct pending_queues *q);

/* A new pending answer for request_id (may be NULL), not yet fired. NULL when out of memory. */
struct api_pending *pending_new(const char *request_id);
/* Free p and what it still holds (payload, job, answer). */
void pending_free(struct api_pending *p);
/* The answer of p is ready: notify the server. Any thread; once. */
void pending_fire(struct api_pending *p);
/* The answer will be rendered from payload (taken over; dropped by ops->drop). */
void pending_set_payload(struct api_pending *p, const struct pending_ops *ops, void *payload);

/*
 * Make *resp (filled) an answer that leaves after delay_usec: resp then only carries the
 * pending. 0, or -ENOMEM (resp untouched: answer at once).
 */
int pending_delay(struct pending_queues *q, struct api_response *resp, const char *request_id,
                  int64_t delay_usec);

/*
 * Run job on a writer thread and answer with what it makes: resp then only carries the
 * pending. 0, or -EAGAIN (no writer: stopping, or out of memory; job is not taken, run it here).
 */
int pending_queue_job(struct pending_queues *q, struct api_response *resp, const char *request_id,
                      const struct pending_job_ops *ops, void *job);
