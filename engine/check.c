/* SPDX-License-Identifier: MIT */
/*
 * The check loop (docs/checks.md). Every check is a small state machine: the link step runs at
 * once from the NIC snapshot and two rtnetlink route lookups (check-link.c); ping and tcp
 * (check-probe.c) and iscsi (check-iscsi.c) each own one non-blocking socket that the loop polls
 * together with every other check's. This file holds the names, the results, the state machine,
 * the loop thread and the public API; check-portal.c parses and formats portals.
 */
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "check-internal.h"
#include "log.h"
#include "stats.h"

#define CHECKER_FIRST_SLOTS 16 /* active checks tracked before the arrays first grow */

static const char *const step_names[_CHECK_STEP_MAX] = {
        [CHECK_STEP_LINK] = "link",
        [CHECK_STEP_PING] = "ping",
        [CHECK_STEP_TCP] = "tcp",
        [CHECK_STEP_ISCSI] = "iscsi",
};

static const char *const status_names[_CHECK_STATUS_MAX] = {
        [CHECK_PENDING] = "pending",         [CHECK_OK] = "ok",
        [CHECK_FAILED] = "failed",           [CHECK_SKIPPED] = "skipped",
        [CHECK_UNSUPPORTED] = "unsupported", [CHECK_CANCELLED] = "cancelled",
};

static const char *const reason_names[_CHECK_REASON_MAX] = {
        [CHECK_REASON_NONE] = NULL,
        [CHECK_REASON_NO_SUCH_DEVICE] = "no-such-device",
        [CHECK_REASON_LINK_DOWN] = "link-down",
        [CHECK_REASON_NO_ADDRESS] = "no-address",
        [CHECK_REASON_NO_ROUTE] = "no-route",
        [CHECK_REASON_WRONG_EGRESS] = "wrong-egress",
        [CHECK_REASON_RP_FILTER] = "rp-filter",
        [CHECK_REASON_TIMEOUT] = "timeout",
        [CHECK_REASON_REFUSED] = "refused",
        [CHECK_REASON_UNREACHABLE] = "unreachable",
        [CHECK_REASON_AUTH_FAILED] = "auth-failed",
        [CHECK_REASON_BIND_FAILED] = "bind-failed",
        [CHECK_REASON_NOT_ISCSI] = "not-iscsi",
        [CHECK_REASON_LOGIN_FAILED] = "login-failed",
        [CHECK_REASON_CANCELLED] = "cancelled",
        [CHECK_REASON_ERROR] = "error",
};

const char *check_step_to_string(enum check_step s)
{
        return s < _CHECK_STEP_MAX ? step_names[s] : NULL;
}

int check_step_from_string(const char *s)
{
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (streq(step_names[i], s))
                        return i;
        return -EINVAL;
}

const char *check_status_to_string(enum check_status s)
{
        return s < _CHECK_STATUS_MAX ? status_names[s] : NULL;
}

const char *check_reason_to_string(enum check_reason r)
{
        return r < _CHECK_REASON_MAX ? reason_names[r] : NULL;
}

/* ---------------------------------------------------------------- results */

int check_result_first_failure(const struct check_result *r, const struct check_spec *spec)
{
        /* Ping counts last: a black hole fails tcp too, and tcp's hint says more. */
        static const enum check_step order[] = { CHECK_STEP_LINK, CHECK_STEP_TCP, CHECK_STEP_ISCSI,
                                                 CHECK_STEP_PING };

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                enum check_step s = order[i];

                if (!(spec->steps & (1u << s)) ||
                    (r->steps[s].status != CHECK_FAILED && r->steps[s].status != CHECK_CANCELLED))
                        continue;
                /* ICMP filtered while TCP or iSCSI got through: the port works. */
                if (s == CHECK_STEP_PING && r->steps[s].status == CHECK_FAILED &&
                    (r->steps[CHECK_STEP_TCP].status == CHECK_OK ||
                     r->steps[CHECK_STEP_ISCSI].status == CHECK_OK))
                        continue;
                return s;
        }
        return -1;
}

void check_step_set(struct check *c, enum check_step s, enum check_status st,
                    enum check_reason reason, const char *fmt, ...)
{
        struct check_step_result *sr = &c->res.steps[s];

        sr->status = st;
        sr->reason = reason;
        sr->hint[0] = 0;
        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                vsnprintf(sr->hint, sizeof(sr->hint), fmt, ap);
                va_end(ap);
        }
        if (sr->latency_usec < 0 && (st == CHECK_OK || st == CHECK_FAILED))
                sr->latency_usec = clock_usec(CLOCK_MONOTONIC) - c->phase_start_usec;
        if (c->spec.events && c->k->progress && st != CHECK_PENDING && step_wanted(c, s))
                c->k->progress(c, (int)s, c->k->progress_userdata);
}

void checker_set_progress(struct checker *k, check_progress_fn fn, void *userdata)
{
        k->progress = fn;
        k->progress_userdata = userdata;
}

/* Mark every requested step still pending as skipped (or cancelled) because of why. */
void check_skip_rest(struct check *c, enum check_status st, const char *why)
{
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i) && c->res.steps[i].status == CHECK_PENDING)
                        check_step_set(c, i, st,
                                       st == CHECK_CANCELLED ? CHECK_REASON_CANCELLED :
                                                               CHECK_REASON_NONE,
                                       "%s", why);
}

/* ---------------------------------------------------------------- the state machine */

/* Close c->fd and stop polling it. */
static void close_fd(struct check *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->events = 0;
}

/* Phase p's deadline: the check's, but ping gets a quarter of it when tcp or iscsi follow. */
static int64_t phase_budget(struct check *c, enum phase p)
{
        int64_t now = clock_usec(CLOCK_MONOTONIC), left = c->deadline_usec - now;

        if (p == PHASE_PING && transport_uses_host_stack(c->spec.transport) &&
            (step_wanted(c, CHECK_STEP_TCP) || step_wanted(c, CHECK_STEP_ISCSI)))
                left = MIN(left, (int64_t)c->spec.timeout_ms * 1000 / 4);
        return now + MAX(left, 0);
}

/* End c: close what it holds and decide its status and reason from its steps. */
static void finish(struct check *c)
{
        int first;

        /* libiscsi's context owns the fd of the iscsi step: destroy it first (c->fd is then -1),
         * or the same descriptor would be closed twice, the second time perhaps another's. */
        check_iscsi_close(c);
        close_fd(c);
        c->phase = PHASE_DONE;
        c->res.elapsed_usec = clock_usec(CLOCK_MONOTONIC) - c->start_usec;
        first = check_result_first_failure(&c->res, &c->spec);
        if (first < 0)
                c->res.status = CHECK_OK;
        else {
                c->res.status = c->res.steps[first].status == CHECK_CANCELLED ? CHECK_CANCELLED :
                                                                                CHECK_FAILED;
                c->res.reason = c->res.steps[first].reason;
        }
        stats_check_done(&c->res);
        if (c->spec.events && c->k->progress)
                c->k->progress(c, -1, c->k->progress_userdata);
}

/* Start the next requested phase after cur, or finish. */
static void advance(struct check *c)
{
        for (;;) {
                enum phase p = PHASE_DONE;
                int r = 0;

                close_fd(c);
                switch (c->phase) {
                case PHASE_QUEUED:
                        p = PHASE_PING;
                        break;
                case PHASE_PING:
                        p = PHASE_TCP;
                        break;
                case PHASE_TCP:
                        p = PHASE_ISCSI;
                        break;
                case PHASE_ISCSI:
                case PHASE_DONE:
                        finish(c);
                        return;
                }
                c->phase = p;
                if (p == PHASE_ISCSI && c->res.steps[CHECK_STEP_TCP].status == CHECK_FAILED) {
                        check_skip_rest(c, CHECK_SKIPPED, "not run: the tcp step failed");
                        continue;
                }
                if (!step_wanted(c, (enum check_step)p) || c->res.steps[p].status != CHECK_PENDING)
                        continue;

                c->phase_start_usec = clock_usec(CLOCK_MONOTONIC);
                c->phase_deadline_usec = phase_budget(c, p);
                if (p == PHASE_PING && !transport_uses_host_stack(c->spec.transport))
                        r = check_ping_offload_start(c);
                else if (p == PHASE_PING)
                        r = check_ping_start(c);
                else if (p == PHASE_TCP)
                        r = check_tcp_start(c);
                else
                        r = check_iscsi_start(c);
                if (r < 0 || c->res.steps[p].status != CHECK_PENDING)
                        continue;
                return; /* waiting on the socket */
        }
}

/* Start c: set its deadline, run the link step, then the first socket phase. */
static void start(struct check *c)
{
        c->start_usec = clock_usec(CLOCK_MONOTONIC);
        c->deadline_usec = c->start_usec + (int64_t)c->spec.timeout_ms * 1000;
        c->phase = PHASE_QUEUED;
        if (!check_link_run(c)) {
                finish(c);
                return;
        }
        advance(c);
}

/* The running step's deadline passed: fail it as timeout, saying what it waited for. */
static void on_timeout(struct check *c)
{
        enum check_step s = (enum check_step)c->phase;
        char portal[INET6_ADDRSTRLEN + 8];
        unsigned ms = (unsigned)((clock_usec(CLOCK_MONOTONIC) - c->phase_start_usec) / 1000);

        check_format_portal(&c->spec.portal, portal, sizeof(portal));
        if (c->phase == PHASE_PING) {
                char addr[INET6_ADDRSTRLEN];

                ss_ntop(&c->spec.portal, addr, sizeof(addr));
                check_step_set(c, s, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                               "no echo reply from %s in %u ms (%u requests; ICMP may be filtered)",
                               addr, ms, c->ping_seq);
        } else if (c->phase == PHASE_TCP)
                check_step_set(c, s, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                               "no answer to a TCP connect to %s in %u ms: a firewall drops it, or "
                               "nothing is at that address",
                               portal, ms);
        else {
                if (c->iscsi_normal)
                        c->res.login_status = CHECK_FAILED;
                check_step_set(c, s, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                               c->iscsi_stage == ISCSI_CONNECT ?
                                       "no TCP connection to %s in %u ms" :
                                       "connected to %s, but no iSCSI response in %u ms",
                               portal, ms);
        }
        check_iscsi_close(c);
}

/*
 * The step running (or, for a check that never started, the first one asked for) becomes
 * cancelled, and decides the check; the steps after it were simply not run.
 */
static void on_cancel(struct check *c)
{
        int s = -1;

        if (c->phase != PHASE_QUEUED && c->phase < PHASE_DONE &&
            c->res.steps[c->phase].status == CHECK_PENDING)
                s = (int)c->phase;
        for (int i = 0; s < 0 && i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i) && c->res.steps[i].status == CHECK_PENDING)
                        s = i;
        if (s >= 0)
                check_step_set(c, (enum check_step)s, CHECK_CANCELLED, CHECK_REASON_CANCELLED,
                               "cancelled %s (the job was cancelled, or the daemon is stopping)",
                               c->phase == PHASE_QUEUED ? "before it started" : "while it ran");
        check_skip_rest(c, CHECK_SKIPPED, "not run: the check was cancelled");
        finish(c);
}

/* c's fd is ready (revents): let its running step read what came. */
static void on_ready(struct check *c, short revents)
{
        if (c->phase == PHASE_PING && !transport_uses_host_stack(c->spec.transport))
                check_ping_offload_event(c);
        else if (c->phase == PHASE_PING)
                check_ping_event(c);
        else if (c->phase == PHASE_TCP)
                check_tcp_event(c);
        else if (c->phase == PHASE_ISCSI && c->iscsi)
                check_iscsi_event(c, revents);
}

/* What is due at now: c's cancel (with cancel, cancel it first), a timeout, the next echo. */
static void expire(struct check *c, bool cancel, int64_t now)
{
        if (cancel)
                atomic_store(&c->cancel, true);
        if (c->phase != PHASE_DONE && atomic_load(&c->cancel))
                on_cancel(c);
        else if (c->phase != PHASE_DONE && c->phase != PHASE_QUEUED &&
                 c->res.steps[c->phase].status == CHECK_PENDING && now >= c->phase_deadline_usec) {
                on_timeout(c);
                advance(c);
        } else if (c->phase == PHASE_PING && transport_uses_host_stack(c->spec.transport) &&
                   c->res.steps[CHECK_STEP_PING].status == CHECK_PENDING &&
                   now >= c->ping_next_usec)
                check_ping_send(c);
}

/* When c needs the loop next without an fd event: its phase deadline or its next echo request. */
static int64_t next_wakeup(const struct check *c)
{
        int64_t next = c->phase_deadline_usec;

        if (c->phase == PHASE_PING && transport_uses_host_stack(c->spec.transport))
                next = MIN(next, c->ping_next_usec);
        return next;
}

/* ---------------------------------------------------------------- the loop */

/* What one turn of the loop took from the queue, and when it must wake up next. */
struct turn {
        struct check *started[64]; /* dequeued this turn, not active yet */
        size_t n_started;
        bool stopping, cancel_all;
        bool more;    /* more queued checks could start at once: poll() must not sleep */
        int64_t now;  /* when expire_checks() looked at the clock */
        int64_t next; /* the earliest deadline or echo request due, INT64_MAX for none */
};

/* Hand a finished check to its submitter and drop the loop's reference. */
static void report(struct check *c)
{
        c->done(c, c->userdata);
        check_unref(c);
}

/* Under the lock: read the stop and cancel-all flags, and dequeue what may start this turn. */
static void take_queued(struct checker *k, struct turn *t)
{
        pthread_mutex_lock(&k->lock);
        t->stopping = k->stopping;
        t->cancel_all = atomic_exchange(&k->cancel_all, false);
        while (k->queue_head && k->n_active + t->n_started < CHECK_ACTIVE_MAX &&
               t->n_started < ELEMENTSOF(t->started)) {
                struct check *c = k->queue_head;

                k->queue_head = c->next;
                if (!k->queue_head)
                        k->queue_tail = NULL;
                k->n_queued--;
                c->next = NULL;
                t->started[t->n_started++] = c;
        }
        t->more = k->queue_head && k->n_active + t->n_started < CHECK_ACTIVE_MAX;
        pthread_mutex_unlock(&k->lock);
}

/* Grow active[] and pfds[] for the started checks; without memory, fail those instead. */
static void reserve_slots(struct checker *k, struct turn *t)
{
        struct check **a;
        struct pollfd *p;
        size_t n;

        if (k->pfds && k->n_active + t->n_started <= k->n_slots)
                return;

        n = MAX(k->n_slots * 2, k->n_active + t->n_started + 16);
        a = realloc(k->active, n * sizeof(*a));
        p = a ? realloc(k->pfds, (n + 1) * sizeof(*p)) : NULL;
        if (a)
                k->active = a;
        if (p)
                k->pfds = p;
        if (a && p) {
                k->n_slots = n;
                return;
        }

        /* Cannot track them: fail them now rather than lose them. */
        for (size_t i = 0; i < t->n_started; i++) {
                struct check *c = t->started[i];

                check_skip_rest(c, CHECK_CANCELLED, "out of memory");
                finish(c);
                report(c);
        }
        t->n_started = 0;
}

/* Make the started checks active and run their link step, unless they are cancelled already. */
static void start_checks(struct checker *k, struct turn *t)
{
        for (size_t i = 0; i < t->n_started; i++) {
                struct check *c = t->started[i];

                if (t->cancel_all)
                        atomic_store(&c->cancel, true);
                k->active[k->n_active++] = c;
                if (!atomic_load(&c->cancel))
                        start(c);
        }
}

/* Drop active[i], which has finished, and report it; the last active check takes its slot. */
static void retire(struct checker *k, size_t i)
{
        struct check *c = k->active[i];

        k->active[i] = k->active[--k->n_active];
        report(c);
}

/* Cancels, deadlines and echo requests due for every active check; retire the finished ones. */
static void expire_checks(struct checker *k, struct turn *t)
{
        t->now = clock_usec(CLOCK_MONOTONIC);
        for (size_t i = 0; i < k->n_active;) {
                struct check *c = k->active[i];

                expire(c, t->cancel_all || t->stopping, t->now);
                if (c->phase == PHASE_DONE) {
                        retire(k, i);
                        continue;
                }
                t->next = MIN(t->next, next_wakeup(c));
                i++;
        }
}

/* Whether nothing is queued (checker_free() waits for that before the loop ends). */
static bool queue_is_empty(struct checker *k)
{
        bool empty;

        pthread_mutex_lock(&k->lock);
        empty = k->queue_head == NULL;
        pthread_mutex_unlock(&k->lock);
        return empty;
}

/* Fill pfds[]: the wake eventfd, then one entry per active check (fd -1: nothing to wait on). */
static size_t collect_fds(struct checker *k)
{
        size_t n = 1;

        k->pfds[0] = (struct pollfd){ .fd = k->wake_fd, .events = POLLIN };
        for (size_t i = 0; i < k->n_active; i++) {
                struct check *c = k->active[i];

                k->pfds[n++] = (struct pollfd){
                        .fd = c->events ? c->fd : -1,
                        .events = c->events,
                };
        }
        return n;
}

/* How long poll() may sleep: not at all with more to start, else until t->next, at most 60 s. */
static int poll_timeout_ms(const struct turn *t)
{
        if (t->more)
                return 0;
        if (t->next == INT64_MAX)
                return -1;
        return (int)MIN(MAX((t->next - t->now + 999) / 1000, 0), (int64_t)60000);
}

/* poll() the n fds, then drain the wake eventfd. False after a poll() error (logged). */
static bool wait_for_events(struct checker *k, size_t n, int timeout_ms)
{
        if (poll(k->pfds, n, timeout_ms) < 0 && errno != EINTR) {
                log_error("check loop: poll: %m");
                usleep(10000);
                return false;
        }
        if (k->pfds[0].revents & POLLIN) {
                uint64_t v;

                (void)!read(k->wake_fd, &v, sizeof(v));
        }
        return true;
}

/* Hand each ready fd to its check's step, and move the checks whose step ended to the next. */
static void dispatch_ready(struct checker *k)
{
        for (size_t i = 0; i < k->n_active; i++) {
                struct check *c = k->active[i];
                short rev = k->pfds[i + 1].revents;

                if (!rev || c->phase == PHASE_DONE || atomic_load(&c->cancel))
                        continue;
                on_ready(c, rev);
                if (c->phase != PHASE_DONE && c->res.steps[c->phase].status != CHECK_PENDING)
                        advance(c);
        }
}

/* The check loop thread, one turn per poll(); it ends once stopping with nothing left. */
static void *checker_thread(void *arg)
{
        struct checker *k = arg;

        (void)pthread_setname_np(pthread_self(), "ifd-check");
        for (;;) {
                struct turn t = { .next = INT64_MAX };

                take_queued(k, &t);
                reserve_slots(k, &t);
                start_checks(k, &t);
                expire_checks(k, &t);
                if (t.stopping && k->n_active == 0) {
                        if (queue_is_empty(k))
                                break;
                        continue; /* start (and cancel) what is still queued */
                }
                if (!wait_for_events(k, collect_fds(k), poll_timeout_ms(&t)))
                        continue;
                dispatch_ready(k);
        }
        return NULL;
}

/* ---------------------------------------------------------------- public API */

static void check_free(struct check *c)
{
        for (size_t i = 0; i < c->res.n_targets; i++) {
                for (size_t j = 0; j < c->res.targets[i].n_portals; j++)
                        free(c->res.targets[i].portals[j]);
                free(c->res.targets[i].portals);
                free(c->res.targets[i].name);
        }
        free(c->res.targets);
        explicit_bzero(&c->spec.chap, sizeof(c->spec.chap));
        explicit_bzero(&c->spec.discovery_chap, sizeof(c->spec.discovery_chap));
        free(c);
}

struct check *check_ref(struct check *c)
{
        if (c)
                atomic_fetch_add(&c->refs, 1);
        return c;
}

struct check *check_unref(struct check *c)
{
        if (c && atomic_fetch_sub(&c->refs, 1) == 1)
                check_free(c);
        return NULL;
}

void check_cancel(struct check *c)
{
        if (!c || atomic_exchange(&c->cancel, true))
                return;
        if (c->k) {
                uint64_t one = 1;

                (void)!write(c->k->wake_fd, &one, sizeof(one));
        }
}

const struct check_spec *check_get_spec(const struct check *c)
{
        return &c->spec;
}

const struct check_result *check_get_result(const struct check *c)
{
        return &c->res;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct checker *, checker_free);

int checker_new(struct nic_monitor *nics, const char *initiator_name, struct checker **ret)
{
        _cleanup_(checker_freep) struct checker *k = NULL;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->nics = nics;
        k->wake_fd = -1;
        pthread_mutex_init(&k->lock, NULL);
        k->initiator_name = strdup(initiator_name);
        if (!k->initiator_name)
                return -ENOMEM;
        k->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->wake_fd < 0)
                return -errno;
        /* Slots for a first few checks and the wake fd: the loop can always poll, even when
         * growing them fails later (reserve_slots then fails the new checks). */
        k->active = calloc(CHECKER_FIRST_SLOTS, sizeof(*k->active));
        k->pfds = calloc(CHECKER_FIRST_SLOTS + 1, sizeof(*k->pfds));
        if (!k->active || !k->pfds)
                return -ENOMEM;
        k->n_slots = CHECKER_FIRST_SLOTS;
        r = -pthread_create(&k->thread, NULL, checker_thread, k);
        if (r < 0)
                return r;
        k->thread_started = true;
        *ret = TAKE_PTR(k);
        return 0;
}

static void wake(struct checker *k)
{
        uint64_t one = 1;

        (void)!write(k->wake_fd, &one, sizeof(one));
}

void checker_close(struct checker *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        k->closed = true;
        pthread_mutex_unlock(&k->lock);
        checker_cancel_all(k);
}

void checker_cancel_all(struct checker *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        for (struct check *c = k->queue_head; c; c = c->next)
                atomic_store(&c->cancel, true);
        atomic_store(&k->cancel_all, true);
        pthread_mutex_unlock(&k->lock);
        wake(k);
}

struct checker *checker_free(struct checker *k)
{
        if (!k)
                return NULL;
        if (k->thread_started) {
                pthread_mutex_lock(&k->lock);
                k->stopping = true;
                pthread_mutex_unlock(&k->lock);
                wake(k);
                pthread_join(k->thread, NULL);
        }
        if (k->wake_fd >= 0)
                close(k->wake_fd);
        free(k->active);
        free(k->pfds);
        free(k->initiator_name);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return NULL;
}

int checker_submit(struct checker *k, const struct check_spec *spec, check_done_fn done,
                   void *userdata, struct check **ret)
{
        struct check *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        atomic_init(&c->refs, ret ? 2 : 1);
        c->k = k;
        c->spec = *spec;
        c->done = done;
        c->userdata = userdata;
        c->fd = -1;
        c->res.login_status = CHECK_PENDING;
        for (int i = 0; i < _CHECK_STEP_MAX; i++) {
                c->res.steps[i].latency_usec = -1;
                c->res.steps[i].rp_filter = -1;
        }

        pthread_mutex_lock(&k->lock);
        if (k->stopping || k->closed) {
                pthread_mutex_unlock(&k->lock);
                free(c);
                return -ESHUTDOWN;
        }
        if (k->queue_tail)
                k->queue_tail->next = c;
        else
                k->queue_head = c;
        k->queue_tail = c;
        k->n_queued++;
        pthread_mutex_unlock(&k->lock);
        wake(k);

        if (ret)
                *ret = c;
        return 0;
}
