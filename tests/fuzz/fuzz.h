/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: the libFuzzer entry point, a property check that aborts (so
 * libFuzzer, or the fuzz.regressions replay, reports the input), and the round trip of a record
 * through its iscsiadm file.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "iface.h"

/* The libFuzzer entry point; the replay driver renames it per target (tests/fuzz/meson.build). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print where and why a property does not hold, then abort(). */
_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define FUZZ_CHECK(expr, ...)                                                                      \
        do {                                                                                       \
                if (!(expr))                                                                       \
                        fuzz_fail(__FILE__, __LINE__, "(" #expr ") " __VA_ARGS__);                 \
        } while (0)

/* s, or "(null)" for printing. */
static inline const char *fuzz_str(const char *s)
{
        return s ? s : "(null)";
}

/*
 * rec must render with iface_render_file(); the text must parse back (as the file rec->name)
 * to an equal record, which renders to the same bytes. what names the caller in a failure.
 */
void fuzz_check_file_roundtrip(const struct iface_rec *rec, const char *what);
