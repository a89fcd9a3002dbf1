/* SPDX-License-Identifier: MIT */
/* Helpers of the fuzz targets (fuzz.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s:%d: fuzz property does not hold: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        abort();
}

void fuzz_check_file_roundtrip(const struct iface_rec *rec, const char *what)
{
        _cleanup_free_ char *text = NULL, *text2 = NULL;
        _cleanup_(iface_rec_done) struct iface_rec back = {};
        struct iface_error err = {};
        size_t len = 0, len2 = 0;
        int r;

        r = iface_render_file(rec, &text, &len);
        FUZZ_CHECK(r == 0, "%s: iface_render_file() of '%s' failed: %d", what, rec->name, r);
        FUZZ_CHECK(strlen(text) == len, "%s: rendered length %zu, but the text has %zu bytes", what,
                   len, strlen(text));

        r = iface_parse_file(rec->name, text, len, &back, &err);
        FUZZ_CHECK(r == 0, "%s: the rendered file of '%s' does not parse back: %s\n%s", what,
                   rec->name, err.reason, text);
        FUZZ_CHECK(iface_rec_equal(rec, &back),
                   "%s: the rendered file of '%s' parses back to another record\n%s", what,
                   rec->name, text);

        r = iface_render_file(&back, &text2, &len2);
        FUZZ_CHECK(r == 0, "%s: iface_render_file() of the parsed-back '%s' failed: %d", what,
                   rec->name, r);
        FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0,
                   "%s: the parsed-back '%s' renders differently\nfirst:\n%s\nsecond:\n%s", what,
                   rec->name, text, text2);
}
