/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/hash.c: hash64() tells apart inputs that differ in one word wherever it
 * falls (each of the four lanes, the tail words, the tail bytes) and inputs of other lengths,
 * and its value for a fixed input stays what .iscsi-ifaced/start-prints version 3 holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hash.h"

static void test_hash_single_word_changes_differ(void **state)
{
        unsigned char buf[203];
        uint64_t base;

        (void)state;
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (unsigned char)(i * 7 + 3);
        base = hash64(buf, sizeof(buf));
        assert_true(base == hash64(buf, sizeof(buf)));
        /* Every byte position in turn: lanes 0..3 of each round, the tail words, the tail bytes. */
        for (size_t i = 0; i < sizeof(buf); i++)
                for (unsigned bit = 0; bit < 8; bit++) {
                        buf[i] ^= (unsigned char)(1u << bit);
                        assert_true(hash64(buf, sizeof(buf)) != base);
                        buf[i] ^= (unsigned char)(1u << bit);
                }
        assert_true(hash64(buf, sizeof(buf)) == base);
}

static void test_hash_lengths_differ(void **state)
{
        unsigned char zeros[128] = { 0 };
        uint64_t seen[129];

        (void)state;
        for (size_t n = 0; n <= sizeof(zeros); n++) {
                seen[n] = hash64(zeros, n);
                for (size_t k = 0; k < n; k++)
                        assert_true(seen[k] != seen[n]);
        }
}

/* Lanes swapped are another input: the lanes are not summed alike. */
static void test_hash_lane_order_matters(void **state)
{
        uint64_t a[4] = { 1, 2, 3, 4 }, b[4] = { 2, 1, 3, 4 };

        (void)state;
        assert_true(hash64(a, sizeof(a)) != hash64(b, sizeof(b)));
}

static void test_hash_known_value(void **state)
{
        static const char text[] = "# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = r5\n";

        (void)state;
        /* A change of hash64() must change START_PRINTS_MAGIC (engine/drift.c) with this. */
        assert_true(hash64(text, strlen(text)) == UINT64_C(0xf7699ae1ab8f68c5));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hash_single_word_changes_differ),
                cmocka_unit_test(test_hash_lengths_differ),
                cmocka_unit_test(test_hash_lane_order_matters),
                cmocka_unit_test(test_hash_known_value),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
