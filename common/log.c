/* SPDX-License-Identifier: MIT */
/* Logging to stderr with <N> priority prefixes that journald understands. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Bytes of deferred lines waiting at most; a logger past it waits for the writer. */
#define LOG_DEFER_MAX       (1024 * 1024)
/*
 * How long the writer lets lines gather after the first one, in ns: a wake-up and a write() a
 * batch rather than a line (at 30,000 lines/s, a wake-up per line cost as much as writing each
 * line at once), and an info line is written within about this long.
 */
#define LOG_DEFER_GATHER_NS (5 * 1000 * 1000)

static int log_max_level = LOG_INFO; /* set once by main() before threads start */

/*
 * Deferred lines (log_defer_start()): lines of log_info_deferred() are appended here and written
 * by one thread, a batch a write(); any other line first has everything before it written, then
 * is written by its caller. Like the log level, state of the whole process.
 */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t more; /* the writer waits for lines */
        pthread_cond_t done; /* loggers wait for room, flushes for everything written */
        char *buf;           /* lines not taken by the writer yet */
        size_t len, cap;
        bool on;      /* deferring: the writer runs */
        bool stop;    /* the writer should write what is left and end */
        bool writing; /* the writer holds a batch it has not written yet */
        pthread_t thread;
} defer = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .more = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER,
};

/* All of p to stderr's descriptor; a failure drops the rest (there is nowhere to report it). */
static void write_all(const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(STDERR_FILENO, p, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return;
                p += w;
                n -= (size_t)w;
        }
}

static void *defer_main(void *arg)
{
        char *batch = NULL;
        size_t batch_cap = 0;

        (void)pthread_setname_np(pthread_self(), "ifd-log");
        (void)arg;

        pthread_mutex_lock(&defer.lock);
        for (;;) {
                char *b;
                size_t n, c;

                while (defer.len == 0 && !defer.stop)
                        pthread_cond_wait(&defer.more, &defer.lock);
                if (defer.len == 0)
                        break; /* stopping, and all is written */
                if (!defer.stop) {
                        pthread_mutex_unlock(&defer.lock);
                        (void)nanosleep(&(struct timespec){ .tv_nsec = LOG_DEFER_GATHER_NS }, NULL);
                        pthread_mutex_lock(&defer.lock);
                        if (defer.len == 0)
                                continue; /* a flush wrote them meanwhile */
                }

                /* Take the lines and leave the other buffer for new ones. */
                b = defer.buf;
                n = defer.len;
                c = defer.cap;
                defer.buf = batch;
                defer.cap = batch_cap;
                defer.len = 0;
                defer.writing = true;
                pthread_mutex_unlock(&defer.lock);

                write_all(b, n);

                pthread_mutex_lock(&defer.lock);
                batch = b;
                batch_cap = c;
                defer.writing = false;
                pthread_cond_broadcast(&defer.done);
        }
        pthread_mutex_unlock(&defer.lock);
        free(batch);
        return NULL;
}

/*
 * Write every deferred line now: after the writer's batch in flight, if any, the caller writes
 * what is waiting (rather than wait for the writer's gathering). Under defer.lock.
 */
static void flush_locked(void)
{
        while (defer.writing)
                pthread_cond_wait(&defer.done, &defer.lock);
        if (defer.len > 0) {
                write_all(defer.buf, defer.len);
                defer.len = 0;
                pthread_cond_broadcast(&defer.done);
        }
}

int log_defer_start(void)
{
        int r = 0;

        pthread_mutex_lock(&defer.lock);
        if (!defer.on) {
                defer.stop = false;
                r = -pthread_create(&defer.thread, NULL, defer_main, NULL);
                defer.on = r == 0;
        }
        pthread_mutex_unlock(&defer.lock);
        return r;
}

void log_defer_stop(void)
{
        pthread_t t;

        pthread_mutex_lock(&defer.lock);
        if (!defer.on) {
                pthread_mutex_unlock(&defer.lock);
                return;
        }
        defer.stop = true;
        pthread_cond_signal(&defer.more);
        t = defer.thread;
        pthread_mutex_unlock(&defer.lock);

        pthread_join(t, NULL);

        pthread_mutex_lock(&defer.lock);
        defer.on = false;
        free(defer.buf);
        defer.buf = NULL;
        defer.len = defer.cap = 0;
        pthread_mutex_unlock(&defer.lock);
}

void log_crash_flush(void)
{
        const char *b = defer.buf;
        size_t n = defer.len;

        if (b && n > 0 && n <= defer.cap)
                write_all(b, n);
}

void log_flush(void)
{
        pthread_mutex_lock(&defer.lock);
        flush_locked();
        pthread_mutex_unlock(&defer.lock);
}

/* Append line to the deferred ones: true, or false when not deferring (or out of memory). */
static bool defer_line(const char *line, size_t n)
{
        pthread_mutex_lock(&defer.lock);
        if (defer.on && !defer.stop && defer.len > 0 && defer.len + n > LOG_DEFER_MAX)
                flush_locked(); /* stderr is slow to take them: wait as an undeferred line would */
        if (!defer.on || defer.stop) {
                pthread_mutex_unlock(&defer.lock);
                return false;
        }
        if (defer.len + n > defer.cap) {
                size_t cap = defer.cap ? defer.cap : 16384;
                char *p;

                while (cap < defer.len + n)
                        cap *= 2;
                p = realloc(defer.buf, cap);
                if (!p) {
                        /* Written by the caller, after what is waiting: the order holds. */
                        flush_locked();
                        pthread_mutex_unlock(&defer.lock);
                        return false;
                }
                defer.buf = p;
                defer.cap = cap;
        }
        memcpy(defer.buf + defer.len, line, n);
        defer.len += n;
        if (defer.len == n)
                pthread_cond_signal(&defer.more); /* it was empty: the writer may be waiting */
        pthread_mutex_unlock(&defer.lock);
        return true;
}

/* A line not deferred: after every deferred line before it, at once. */
static void write_line(const char *line, size_t n)
{
        pthread_mutex_lock(&defer.lock);
        if (defer.on)
                flush_locked();
        write_all(line, n);
        pthread_mutex_unlock(&defer.lock);
}

void log_set_level(int level)
{
        log_max_level = level;
}

int log_get_level(void)
{
        return log_max_level;
}

int log_level_from_string(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } table[] = {
                { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
                { "info", LOG_INFO }, { "debug", LOG_DEBUG },
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(s, table[i].name))
                        return table[i].level;
        return -EINVAL;
}

int log_internal(int level, int error, const char *func, const char *fmt, ...)
{
        char line[2048 + 512], *msg;
        bool deferred = level & LOG_DEFERRED;
        size_t n, max;
        int k;
        va_list ap;

        level &= ~LOG_DEFERRED;
        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return -error;

        /* One buffer holds the whole line: "<N>", debug's "func: ", the message, the error. */
        k = snprintf(line, 256, "<%d>%s%s", level, level >= LOG_DEBUG ? func : "",
                     level >= LOG_DEBUG ? ": " : "");
        n = k < 0 ? 0 : MIN((size_t)k, (size_t)255);
        msg = line + n;
        max = MIN(sizeof(line) - n, (size_t)2048); /* the message, as before: 2047 bytes at most */
        va_start(ap, fmt);
        k = vsnprintf(msg, max, fmt, ap);
        va_end(ap);

        /* Control characters never reach the log: a client value cannot forge log lines. */
        for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        n += k < 0 ? 0 : MIN((size_t)k, max - 1);
        if (error)
                k = snprintf(line + n, sizeof(line) - n, ": %s\n", strerror(error));
        else
                k = snprintf(line + n, sizeof(line) - n, "\n");
        n += k < 0 ? 0 : MIN((size_t)k, sizeof(line) - n - 1);
        if (line[n - 1] != '\n')
                line[n - 1] = '\n'; /* cut short: still one line */

        if (deferred && defer_line(line, n))
                return -error;
        write_line(line, n);
        return -error;
}
