/* SPDX-License-Identifier: MIT */
/* Small helpers used everywhere: cleanup attributes, ownership transfer, asserts. */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _unused_             __attribute__((unused))
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define MIN(a, b)                                                                                  \
        ({                                                                                         \
                __typeof__(a) _a_ = (a);                                                           \
                __typeof__(b) _b_ = (b);                                                           \
                _a_ < _b_ ? _a_ : _b_;                                                             \
        })

#define MAX(a, b)                                                                                  \
        ({                                                                                         \
                __typeof__(a) _x_ = (a);                                                           \
                __typeof__(b) _y_ = (b);                                                           \
                _x_ > _y_ ? _x_ : _y_;                                                             \
        })

/* Take ownership of a pointer, leaving NULL behind, so cleanup attributes do not free it. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p)                                                        \
        {                                                                                          \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

/* Guard at the public edge of a module: a caller bug becomes an error, not a dead daemon. */
#define assert_return(expr, r)                                                                     \
        do {                                                                                       \
                if (!(expr))                                                                       \
                        return (r);                                                                \
        } while (false)

static inline void freep(void *p)
{
        free(*(void **)p);
}

#define _cleanup_free_  _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

static inline void closep(int *fd)
{
        if (*fd >= 0)
                (void)close(*fd);
}

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline bool isempty(const char *s)
{
        return !s || !*s;
}

/* The time of clock (CLOCK_MONOTONIC, CLOCK_REALTIME) in microseconds. */
static inline int64_t clock_usec(clockid_t clock)
{
        struct timespec ts;

        (void)clock_gettime(clock, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
