/* SPDX-License-Identifier: MIT */
/* Answers that come later: the lifecycle, the timer thread and the writer threads (pending.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "macro.h"
#include "pending.h"

struct api_pending *pending_new(const char *request_id)
{
        struct api_pending *p = calloc(1, sizeof(*p));

        if (!p)
                return NULL;
        pthread_mutex_init(&p->lock, NULL);
        snprintf(p->request_id, sizeof(p->request_id), "%s", request_id ? request_id : "");
        return p;
}

void pending_free(struct api_pending *p)
{
        if (!p)
                return;
        if (p->ops && p->payload)
                p->ops->drop(p->payload);
        if (p->job_ops && p->job)
                p->job_ops->free(p->job);
        api_response_done(&p->ready);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

void pending_set_payload(struct api_pending *p, const struct pending_ops *ops, void *payload)
{
        p->ops = ops;
        p->payload = payload;
}

void pending_fire(struct api_pending *p)
{
        void (*notify)(void *) = NULL;
        void *ud = NULL;

        pthread_mutex_lock(&p->lock);
        p->done = true;
        notify = p->notify;
        ud = p->userdata;
        pthread_mutex_unlock(&p->lock);
        if (notify)
                notify(ud);
}

void api_pending_wait(struct api_pending *p, void (*notify)(void *userdata), void *userdata)
{
        bool done;

        pthread_mutex_lock(&p->lock);
        done = p->done;
        if (!done) {
                p->notify = notify;
                p->userdata = userdata;
        }
        pthread_mutex_unlock(&p->lock);
        if (done)
                notify(userdata);
}

void api_pending_finish(struct api_pending *p, struct api_response *resp)
{
        *resp = (struct api_response){};
        if (p->ops && p->payload) {
                p->ops->render(p->payload, p->request_id, resp);
                p->ops->drop(TAKE_PTR(p->payload));
        } else {
                *resp = p->ready;
                p->ready = (struct api_response){};
        }
        if (p->counters)
                counters_end(p->counters, p->counters_key, p->counters_start_usec, resp->status);
        pending_free(p);
}

/* --- the timer thread: delayed answers ----------------------------------------------------- */

static void *timer_thread(void *arg)
{
        struct pending_queues *q = arg;

        (void)pthread_setname_np(pthread_self(), "ifd-timer");
        pthread_mutex_lock(&q->timer_lock);
        for (;;) {
                int64_t now = clock_usec(CLOCK_MONOTONIC);

                while (q->timers && (q->timers->due_usec <= now || q->timer_stopping)) {
                        struct api_pending *p = q->timers;

                        q->timers = p->next;
                        pthread_mutex_unlock(&q->timer_lock);
                        pending_fire(p);
                        pthread_mutex_lock(&q->timer_lock);
                }
                if (q->timer_stopping)
                        break;
                if (q->timers) {
                        int64_t due = q->timers->due_usec;
                        struct timespec ts = { .tv_sec = (time_t)(due / 1000000),
                                               .tv_nsec = (long)(due % 1000000) * 1000 };

                        (void)pthread_cond_timedwait(&q->timer_cond, &q->timer_lock, &ts);
                } else
                        pthread_cond_wait(&q->timer_cond, &q->timer_lock);
        }
        pthread_mutex_unlock(&q->timer_lock);
        return NULL;
}

int pending_delay(struct pending_queues *q, struct api_response *resp, const char *request_id,
                  int64_t delay_usec)
{
        struct api_pending *p, **pp;

        p = pending_new(request_id);
        if (!p)
                return -ENOMEM;
        p->ready = *resp;
        *resp = (struct api_response){ .pending = p };
        p->due_usec = clock_usec(CLOCK_MONOTONIC) + delay_usec;

        pthread_mutex_lock(&q->timer_lock);
        if (!q->timer_started || q->timer_stopping) {
                /* Stopping: no delays. */
                pthread_mutex_unlock(&q->timer_lock);
                pending_fire(p);
                return 0;
        }
        for (pp = &q->timers; *pp && (*pp)->due_usec <= p->due_usec; pp = &(*pp)->next)
                ;
        p->next = *pp;
        *pp = p;
        pthread_cond_signal(&q->timer_cond);
        pthread_mutex_unlock(&q->timer_lock);
        return 0;
}

/* --- the writer threads: work that must not run on an HTTP thread ------------------------- */

/* The next job for writer w: the queue's head, or one handed over after it sleeps. NULL: stop. */
static struct api_pending *writer_next(struct pending_queues *q, struct pending_writer *w)
{
        struct api_pending *p;

        pthread_mutex_lock(&q->write_lock);
        p = q->write_head;
        if (p) {
                q->write_head = p->next;
                if (!q->write_head)
                        q->write_tail = NULL;
                atomic_fetch_sub(&q->n_queued, 1);
                pthread_mutex_unlock(&q->write_lock);
                return p;
        }
        if (q->writers_stopping) {
                pthread_mutex_unlock(&q->write_lock);
                return NULL; /* stopping, and the queue is drained */
        }
        w->job = NULL;
        w->next_idle = q->idle;
        q->idle = w;
        pthread_mutex_unlock(&q->write_lock);

        while (sem_wait(&w->wake) < 0)
                ; /* EINTR */
        /* Posted by pending_queue_job() with a job, or by pending_queues_stop() without one
         * (which then drains the queue on the next turn); both unlinked w from the stack. */
        p = w->job;
        return p ? p : writer_next(q, w);
}

static void *writer_thread(void *arg)
{
        struct pending_writer *w = arg;
        struct pending_queues *q = w->q;
        struct api_pending *p;

        (void)pthread_setname_np(pthread_self(), "ifd-writer");
        while ((p = writer_next(q, w))) {
                p->job_ops->run(p->job, &p->ready);
                p->job_ops->free(TAKE_PTR(p->job));
                pending_fire(p);
                if (q->after_answer && atomic_load(&q->n_queued) == 0)
                        q->after_answer(q->after_answer_ud);
        }
        return NULL;
}

int pending_queue_job(struct pending_queues *q, struct api_response *resp, const char *request_id,
                      const struct pending_job_ops *ops, void *job)
{
        struct api_pending *p = pending_new(request_id);
        struct pending_writer *w;

        if (!p)
                return -EAGAIN;
        pthread_mutex_lock(&q->write_lock);
        if (q->writers_stopping || q->n_writers == 0) {
                pthread_mutex_unlock(&q->write_lock);
                pending_free(p); /* the job stays the caller's */
                return -EAGAIN;
        }
        p->job_ops = ops;
        p->job = job;
        /* Handed to an idle writer when there is one, otherwise queued for the first to finish. */
        w = q->idle;
        if (w) {
                q->idle = w->next_idle;
                w->job = p;
        } else {
                if (q->write_tail)
                        q->write_tail->next = p;
                else
                        q->write_head = p;
                q->write_tail = p;
                atomic_fetch_add(&q->n_queued, 1);
        }
        pthread_mutex_unlock(&q->write_lock);
        if (w)
                sem_post(&w->wake);

        *resp = (struct api_response){ .pending = p };
        return 0;
}

/* --- lifecycle ----------------------------------------------------------------------------- */

int pending_queues_start(struct pending_queues *q, void (*after_answer)(void *ud),
                         void *after_answer_ud)
{
        pthread_condattr_t ca;
        int r;

        *q = (struct pending_queues){
                .after_answer = after_answer,
                .after_answer_ud = after_answer_ud,
        };
        pthread_mutex_init(&q->timer_lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&q->timer_cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&q->write_lock, NULL);
        for (size_t i = 0; i < API_WRITERS; i++) {
                q->slots[i].q = q;
                sem_init(&q->slots[i].wake, 0, 0);
        }
        q->inited = true;

        r = -pthread_create(&q->timer_thread, NULL, timer_thread, q);
        if (r < 0)
                return r;
        q->timer_started = true;
        for (; q->n_writers < API_WRITERS; q->n_writers++) {
                r = -pthread_create(&q->writers[q->n_writers], NULL, writer_thread,
                                    &q->slots[q->n_writers]);
                if (r < 0)
                        return r;
        }
        return 0;
}

void pending_queues_stop(struct pending_queues *q)
{
        if (!q->inited)
                return;

        pthread_mutex_lock(&q->write_lock);
        q->writers_stopping = true;
        /* Each idle writer wakes without a job, drains what is queued, and ends. */
        for (struct pending_writer *w = q->idle; w; w = w->next_idle)
                sem_post(&w->wake);
        q->idle = NULL;
        pthread_mutex_unlock(&q->write_lock);
        for (size_t i = 0; i < q->n_writers; i++)
                pthread_join(q->writers[i], NULL);
        q->n_writers = 0;

        if (q->timer_started) {
                pthread_mutex_lock(&q->timer_lock);
                q->timer_stopping = true;
                pthread_cond_signal(&q->timer_cond);
                pthread_mutex_unlock(&q->timer_lock);
                pthread_join(q->timer_thread, NULL);
                q->timer_started = false;
        }
}

void pending_queues_done(struct pending_queues *q)
{
        if (!q->inited)
                return;
        pending_queues_stop(q);
        for (size_t i = 0; i < API_WRITERS; i++)
                sem_destroy(&q->slots[i].wake);
        pthread_mutex_destroy(&q->write_lock);
        pthread_cond_destroy(&q->timer_cond);
        pthread_mutex_destroy(&q->timer_lock);
        q->inited = false;
}
