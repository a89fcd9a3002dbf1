/* SPDX-License-Identifier: MIT */
/* A growable byte buffer and a JSON string escaper, for responses written without a tree. */
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"
#include "macro.h"

static bool sbuf_reserve(struct sbuf *b, size_t extra)
{
        size_t cap;
        char *n;

        if (b->oom)
                return false;
        if (b->len + extra + 1 <= b->cap)
                return true;
        cap = b->cap ? b->cap : 256;
        while (cap < b->len + extra + 1)
                cap *= 2;
        n = realloc(b->data, cap);
        if (!n) {
                b->oom = true;
                return false;
        }
        b->data = n;
        b->cap = cap;
        return true;
}

void sbuf_put(struct sbuf *b, const char *s, size_t n)
{
        if (!sbuf_reserve(b, n))
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = 0;
}

void sbuf_puts(struct sbuf *b, const char *s)
{
        sbuf_put(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0 || !sbuf_reserve(b, (size_t)n))
                return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

void sbuf_json_string(struct sbuf *b, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *)s;
        const unsigned char *run = p;

        sbuf_put(b, "\"", 1);
        for (; *p; p++) {
                const char *esc = NULL;
                char u[6];

                if (*p == '"')
                        esc = "\\\"";
                else if (*p == '\\')
                        esc = "\\\\";
                else if (*p < 0x20 || *p >= 0x7f) {
                        /* Values are printable ASCII by validation; anything else (an imported
                         * byte) is written as a code point so the output stays valid JSON. */
                        u[0] = '\\';
                        u[1] = 'u';
                        u[2] = '0';
                        u[3] = '0';
                        u[4] = hex[*p >> 4];
                        u[5] = hex[*p & 15];
                } else
                        continue;
                sbuf_put(b, (const char *)run, (size_t)(p - run));
                if (esc)
                        sbuf_puts(b, esc);
                else
                        sbuf_put(b, u, 6);
                run = p + 1;
        }
        sbuf_put(b, (const char *)run, (size_t)(p - run));
        sbuf_put(b, "\"", 1);
}

int sbuf_take(struct sbuf *b, char **ret, size_t *ret_len)
{
        if (b->oom || !sbuf_reserve(b, 0)) {
                free(b->data);
                *b = (struct sbuf){};
                return -ENOMEM;
        }
        b->data[b->len] = 0;
        *ret = b->data;
        if (ret_len)
                *ret_len = b->len;
        *b = (struct sbuf){};
        return 0;
}

void sbuf_rfc3339(struct sbuf *b, int64_t usec)
{
        time_t t = (time_t)(usec / 1000000);
        struct tm tm;
        char buf[64];

        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        sbuf_printf(b, "\"%s.%06" PRId64 "Z\"", buf, usec % 1000000);
}

void sbuf_json_string_or_null(struct sbuf *b, const char *s)
{
        if (s)
                sbuf_json_string(b, s);
        else
                sbuf_puts(b, "null");
}
