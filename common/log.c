/* SPDX-License-Identifier: MIT */
/* Logging to stderr with <N> priority prefixes that journald understands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int log_max_level = LOG_INFO; /* set once by main() before threads start */

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
        char buf[2048];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return -error;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        /* Control characters never reach the log: a client value cannot forge log lines. */
        for (char *p = buf; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = '?';

        if (error)
                fprintf(stderr, "<%d>%s%s%s: %s\n", level, level >= LOG_DEBUG ? func : "",
                        level >= LOG_DEBUG ? ": " : "", buf, strerror(error));
        else
                fprintf(stderr, "<%d>%s%s%s\n", level, level >= LOG_DEBUG ? func : "",
                        level >= LOG_DEBUG ? ": " : "", buf);
        return -error;
}
