/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/event.c: the ring keeps the last N events by sequence number, says which
 * ones it no longer has, cuts strings safely, tells its subscribers, and stays consistent under
 * publishers on several threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "event.h"
#include "macro.h"

static void test_event_bus_capacity_bounds(void **state)
{
        static const struct {
                size_t cap;
                int r;
        } cases[] = {
                { 0, 0 }, { 1, -EINVAL },          { EVENT_BUFFER_MIN - 1, -EINVAL },
                { 4, 0 }, { EVENT_BUFFER_MAX, 0 }, { EVENT_BUFFER_MAX + 1, -EINVAL },
        };

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct event_bus *b = (struct event_bus *)0x1;
                int r = event_bus_new(cases[i].cap, &b);

                assert_int_equal(r, cases[i].r);
                if (r < 0) {
                        assert_ptr_equal(b, (struct event_bus *)0x1); /* untouched */
                        continue;
                }
                assert_int_equal(event_bus_capacity(b),
                                 cases[i].cap ? cases[i].cap : EVENT_BUFFER_DEFAULT);
                assert_true(event_bus_epoch(b) > 0);
                event_bus_free(b);
        }
}

static void test_event_bus_ring_keeps_the_last(void **state)
{
        struct event_bus *b = NULL;
        struct event ev = { .type = EVENT_IFACE_CHANGED }, got;
        uint64_t first, last;

        (void)state;
        assert_int_equal(event_bus_new(4, &b), 0);

        event_bus_range(b, &first, &last);
        assert_int_equal(last, 0);
        assert_true(first > last); /* empty */
        assert_int_equal(event_bus_get(b, 1, &got), -EAGAIN);
        assert_int_equal(event_bus_get(b, 0, &got), -ESTALE);

        for (uint64_t i = 1; i <= 10; i++) {
                snprintf(ev.name, sizeof(ev.name), "e%" PRIu64, i);
                ev.revision = i * 100;
                assert_int_equal(event_bus_publish(b, &ev), i);
        }

        event_bus_range(b, &first, &last);
        assert_int_equal(first, 7);
        assert_int_equal(last, 10);
        memset(&got, 0x55, sizeof(got));
        assert_int_equal(event_bus_get(b, 6, &got), -ESTALE);
        assert_int_equal((unsigned char)got.name[0], 0x55); /* untouched on failure */
        assert_int_equal(event_bus_get(b, 11, &got), -EAGAIN);
        for (uint64_t s = 7; s <= 10; s++) {
                char want[16];

                assert_int_equal(event_bus_get(b, s, &got), 0);
                assert_int_equal(got.seq, s);
                assert_int_equal(got.revision, s * 100);
                assert_int_equal(got.type, EVENT_IFACE_CHANGED);
                assert_true(got.at_usec > 0);
                snprintf(want, sizeof(want), "e%" PRIu64, s);
                assert_string_equal(got.name, want);
        }
        event_bus_free(b);
}

static void test_event_bus_refuses_bad_types(void **state)
{
        struct event_bus *b = NULL;
        uint64_t counts[_EVENT_TYPE_MAX], first, last;

        (void)state;
        assert_int_equal(event_bus_new(8, &b), 0);
        assert_int_equal(event_bus_publish(b, &(struct event){ .type = _EVENT_TYPE_MAX }), 0);
        assert_int_equal(event_bus_publish(b, &(struct event){ .type = (enum event_type) - 1 }), 0);
        assert_int_equal(event_bus_publish(b, &(struct event){ .type = EVENT_NIC_LINK }), 1);
        event_bus_range(b, &first, &last);
        assert_int_equal(last, 1);
        event_bus_counts(b, counts);
        for (size_t t = 0; t < _EVENT_TYPE_MAX; t++) {
                assert_non_null(event_type_to_string((enum event_type)t));
                assert_int_equal(counts[t], t == EVENT_NIC_LINK ? 1 : 0);
        }
        assert_null(event_type_to_string(_EVENT_TYPE_MAX));
        assert_string_equal(event_type_to_string(EVENT_IFACE_CREATED), "iface.created");
        assert_string_equal(event_type_to_string(EVENT_JOB_FINISHED), "job.finished");
        event_bus_free(b);
}

/* Strings past their buffers are cut, at a UTF-8 character boundary, and NUL-terminated. */
static void test_event_bus_cuts_strings(void **state)
{
        struct event_bus *b = NULL;
        struct event ev = { .type = EVENT_DRIFT_PROBLEM }, got;

        (void)state;
        assert_int_equal(event_bus_new(4, &b), 0);
        memset(ev.name, 'a', sizeof(ev.name)); /* no NUL at all */
        /* "é" (2 bytes) straddling the end of detail */
        memset(ev.detail, 'b', sizeof(ev.detail));
        ev.detail[EVENT_DETAIL_MAX - 2] = (char)0xc3;
        ev.detail[EVENT_DETAIL_MAX - 1] = (char)0xa9;
        snprintf(ev.origin, sizeof(ev.origin), "external");
        assert_int_equal(event_bus_publish(b, &ev), 1);
        assert_int_equal(event_bus_get(b, 1, &got), 0);
        assert_int_equal(strlen(got.name), EVENT_NAME_MAX - 1);
        assert_int_equal(strlen(got.detail), EVENT_DETAIL_MAX - 2);
        assert_string_equal(got.origin, "external");
        event_bus_free(b);
}

static void count_notify(void *userdata)
{
        (*(unsigned *)userdata)++;
}

static void test_event_bus_subscribers(void **state)
{
        struct event_bus *b = NULL;
        unsigned n1 = 0, n2 = 0;
        int s1, s2, slots[EVENT_SUBSCRIBERS_MAX];

        (void)state;
        assert_int_equal(event_bus_new(4, &b), 0);
        s1 = event_bus_subscribe(b, count_notify, &n1);
        s2 = event_bus_subscribe(b, count_notify, &n2);
        assert_true(s1 >= 0 && s2 >= 0 && s1 != s2);
        (void)event_bus_publish(b, &(struct event){ .type = EVENT_JOB_PROGRESS });
        event_bus_unsubscribe(b, s1);
        (void)event_bus_publish(b, &(struct event){ .type = EVENT_JOB_PROGRESS });
        assert_int_equal(n1, 1);
        assert_int_equal(n2, 2);

        /* Full: the slots left, then -ENOSPC. */
        slots[0] = s1 = event_bus_subscribe(b, count_notify, &n1);
        assert_true(s1 >= 0);
        for (size_t i = 1; i < EVENT_SUBSCRIBERS_MAX - 1; i++)
                assert_true((slots[i] = event_bus_subscribe(b, count_notify, &n1)) >= 0);
        assert_int_equal(event_bus_subscribe(b, count_notify, &n1), -ENOSPC);
        event_bus_unsubscribe(b, -1); /* ignored */
        event_bus_unsubscribe(b, EVENT_SUBSCRIBERS_MAX);
        event_bus_free(b);
}

#define THREADS 4
#define PER     5000

static void *publisher(void *userdata)
{
        struct event_bus *b = userdata;

        for (size_t i = 0; i < PER; i++)
                if (event_bus_publish(b, &(struct event){ .type = EVENT_BINDING_CHANGED }) == 0)
                        return (void *)1;
        return NULL;
}

/* Sequence numbers from several threads: every one handed out once, the ring consistent. */
static void test_event_bus_threads(void **state)
{
        struct event_bus *b = NULL;
        pthread_t t[THREADS];
        uint64_t first, last, counts[_EVENT_TYPE_MAX];
        struct event got;

        (void)state;
        assert_int_equal(event_bus_new(16, &b), 0);
        for (size_t i = 0; i < THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, publisher, b), 0);
        for (size_t i = 0; i < THREADS; i++) {
                void *ret;

                assert_int_equal(pthread_join(t[i], &ret), 0);
                assert_null(ret);
        }
        event_bus_range(b, &first, &last);
        assert_int_equal(last, THREADS * PER);
        assert_int_equal(first, last - 15);
        for (uint64_t s = first; s <= last; s++) {
                assert_int_equal(event_bus_get(b, s, &got), 0);
                assert_int_equal(got.seq, s);
        }
        event_bus_counts(b, counts);
        assert_int_equal(counts[EVENT_BINDING_CHANGED], THREADS * PER);
        event_bus_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event_bus_capacity_bounds),
                cmocka_unit_test(test_event_bus_ring_keeps_the_last),
                cmocka_unit_test(test_event_bus_refuses_bad_types),
                cmocka_unit_test(test_event_bus_cuts_strings),
                cmocka_unit_test(test_event_bus_subscribers),
                cmocka_unit_test(test_event_bus_threads),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
