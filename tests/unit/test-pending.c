/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of api/pending.c's writer threads: a job is handed to an idle writer, or queued
 * when all are busy and run by the first to finish; each runs once and is answered once; a stop
 * runs what is queued before the writers end; after a stop a job is refused and stays the
 * caller's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "api/pending.h"
#include "macro.h"

#define MANY (API_WRITERS * 3 + 5)

/* The jobs' side: a gate that holds every run until opened, and counts. */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool gate_open;
        size_t running;    /* inside run() now */
        size_t entered;    /* run() started, in all */
        size_t answered;   /* notify called */
        size_t after;      /* after_answer called */
        size_t runs[MANY]; /* run() of job i, how often */
        size_t frees[MANY];
        size_t start_seq[MANY]; /* the order in which runs started */
} S = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

static void reset(bool gate_open)
{
        pthread_mutex_lock(&S.lock);
        S.gate_open = gate_open;
        S.running = S.entered = S.answered = S.after = 0;
        memset(S.runs, 0, sizeof(S.runs));
        memset(S.frees, 0, sizeof(S.frees));
        memset(S.start_seq, 0, sizeof(S.start_seq));
        pthread_mutex_unlock(&S.lock);
}

static void job_run(void *job, struct api_response *ready)
{
        size_t i = (size_t)(uintptr_t)job - 1;

        pthread_mutex_lock(&S.lock);
        S.runs[i]++;
        S.start_seq[i] = ++S.entered;
        S.running++;
        pthread_cond_broadcast(&S.cond);
        while (!S.gate_open)
                pthread_cond_wait(&S.cond, &S.lock);
        S.running--;
        pthread_mutex_unlock(&S.lock);
        ready->status = 200 + (int)(i % 7);
}

static void job_free(void *job)
{
        size_t i = (size_t)(uintptr_t)job - 1;

        pthread_mutex_lock(&S.lock);
        S.frees[i]++;
        pthread_mutex_unlock(&S.lock);
}

static const struct pending_job_ops ops = { job_run, job_free };

static void answered(void *ud)
{
        pthread_mutex_lock(&S.lock);
        S.answered++;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.lock);
}

static void after_answer(void *ud)
{
        pthread_mutex_lock(&S.lock);
        S.after++;
        pthread_mutex_unlock(&S.lock);
}

static void open_gate(void)
{
        pthread_mutex_lock(&S.lock);
        S.gate_open = true;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.lock);
}

/* Wait (at most 10 s) until *what reaches want; returns its value then. */
static size_t wait_for(size_t *what, size_t want)
{
        struct timespec until;
        size_t v;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&S.lock);
        while (*what < want && pthread_cond_timedwait(&S.cond, &S.lock, &until) == 0)
                ;
        v = *what;
        pthread_mutex_unlock(&S.lock);
        return v;
}

static struct api_pending *queue(struct pending_queues *q, size_t i)
{
        struct api_response resp = {};

        assert_int_equal(pending_queue_job(q, &resp, "req", &ops, (void *)(uintptr_t)(i + 1)), 0);
        assert_non_null(resp.pending);
        api_pending_wait(resp.pending, answered, NULL);
        return resp.pending;
}

/* Take the answers of p[0..n), the jobs first..first+n-1, and check each is its job's. */
static void finish_all(struct api_pending **p, size_t first, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct api_response resp;

                api_pending_finish(p[i], &resp);
                assert_int_equal(resp.status, 200 + (int)((first + i) % 7));
                api_response_done(&resp);
        }
}

static void test_handoff_and_queue(void **state)
{
        struct pending_queues q;
        struct api_pending *p[MANY];

        reset(false);
        assert_int_equal(pending_queues_start(&q, after_answer, NULL), 0);
        for (size_t i = 0; i < MANY; i++)
                p[i] = queue(&q, i);

        /* Every writer holds a job; the rest wait in the queue, none of them started. */
        assert_int_equal(wait_for(&S.running, API_WRITERS), API_WRITERS);
        pthread_mutex_lock(&S.lock);
        assert_int_equal(S.entered, API_WRITERS);
        pthread_mutex_unlock(&S.lock);
        assert_int_equal(atomic_load(&q.n_queued), MANY - API_WRITERS);

        open_gate();
        assert_int_equal(wait_for(&S.answered, MANY), MANY);
        for (size_t i = 0; i < MANY; i++) {
                assert_int_equal(S.runs[i], 1);
                assert_int_equal(S.frees[i], 1);
        }
        /* The queued ones ran after the first API_WRITERS had all started. */
        for (size_t i = API_WRITERS; i < MANY; i++)
                assert_true(S.start_seq[i] > API_WRITERS);
        assert_int_equal(atomic_load(&q.n_queued), 0);
        finish_all(p, 0, MANY);

        /* Writers that went idle take jobs one at a time again, each answered. */
        reset(true);
        for (size_t i = 0; i < 200; i++) {
                struct api_pending *one = queue(&q, i % MANY);

                assert_int_equal(wait_for(&S.answered, i + 1), i + 1);
                finish_all(&one, i % MANY, 1);
        }
        pending_queues_done(&q);
        /* With no job waiting after them, the writers ran the after-answer work. */
        assert_true(S.after >= 1);
}

struct stopper {
        struct pending_queues *q;
        atomic_bool done;
};

static void *stop_thread(void *arg)
{
        struct stopper *s = arg;

        pending_queues_stop(s->q);
        atomic_store(&s->done, true);
        return NULL;
}

static void test_stop_runs_the_queue(void **state)
{
        struct pending_queues q;
        struct api_pending *p[API_WRITERS + 8];
        struct stopper s = { &q, false };
        struct api_response resp = {};
        pthread_t t;

        reset(false);
        assert_int_equal(pending_queues_start(&q, NULL, NULL), 0);
        for (size_t i = 0; i < API_WRITERS + 8; i++)
                p[i] = queue(&q, i);
        assert_int_equal(wait_for(&S.running, API_WRITERS), API_WRITERS);

        /* The stop waits for the writers, which first run the 8 queued jobs. */
        assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);
        usleep(50 * 1000);
        assert_false(atomic_load(&s.done));
        open_gate();
        pthread_join(t, NULL);
        assert_true(atomic_load(&s.done));
        assert_int_equal(S.answered, API_WRITERS + 8);
        for (size_t i = 0; i < API_WRITERS + 8; i++)
                assert_int_equal(S.runs[i], 1);
        finish_all(p, 0, API_WRITERS + 8);

        /* Stopped: refused, and the job is still the caller's (not freed by the queue). */
        assert_int_equal(pending_queue_job(&q, &resp, "req", &ops, (void *)(uintptr_t)1), -EAGAIN);
        assert_null(resp.pending);
        assert_int_equal(S.frees[0], 1);
        pending_queues_done(&q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_handoff_and_queue),
                cmocka_unit_test(test_stop_runs_the_queue),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
