/* SPDX-License-Identifier: MIT */
/* Logging to stderr with <N> priority prefixes that journald understands. */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* Set the highest priority that is printed (LOG_ERR..LOG_DEBUG). */
void log_set_level(int level);
int log_get_level(void);

/* Parse "error", "warning", "notice", "info", "debug"; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/*
 * Deferred writing, for a process that logs a line per request: from log_defer_start() on, lines
 * logged with log_info_deferred() go to a buffer that a thread of its own writes out, many lines
 * a write(), within about 5 ms; every other line is written at once, after every deferred line
 * before it. log_defer_stop() writes what is left and ends the thread (writing at once again);
 * log_flush() waits until every line logged so far is written. A process killed by a signal it
 * cannot catch (SIGKILL) loses the deferred lines not written yet; for the fatal ones it can,
 * its handler calls log_crash_flush(). log_defer_start() returns 0 or -errno (then every line is
 * written at once, as before).
 */
#define LOG_DEFERRED 0x100 /* or'ed into a level: may be written later (log_defer_start()) */
int log_defer_start(void);
void log_defer_stop(void);
void log_flush(void);
/*
 * For a fatal signal's handler (async-signal-safe): write the deferred lines waiting, without
 * the lock, which the thread that died may hold. Best effort: the writer thread may be writing
 * its batch at the same instant, so a line may come out cut or twice.
 */
void log_crash_flush(void);

/*
 * Print one line (at most 2047 bytes of message). When error != 0, ": <strerror(|error|)>" is
 * appended. Returns -|error|.
 */
int log_internal(int level, int error, const char *func, const char *fmt, ...) _printf_(4, 5);

#define log_full_errno(level, error, ...) log_internal((level), (error), __func__, __VA_ARGS__)
#define log_error(...)                    log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...)                  log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...)                   log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...)                     log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_info_deferred(...)            log_full_errno(LOG_INFO | LOG_DEFERRED, 0, __VA_ARGS__)
#define log_debug(...)                    log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_error_errno(e, ...)           log_full_errno(LOG_ERR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...)         log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_debug_errno(e, ...)           log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
