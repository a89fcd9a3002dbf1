/* SPDX-License-Identifier: MIT */
/* The guard that keeps durable work (an fsync) off threads that must not wait (engine.h). */
#include <errno.h>
#include <stdbool.h>

#include "durable.h"
#include "engine.h"
#include "log.h"

static _Thread_local bool forbidden;

void engine_thread_forbid_durable(bool on)
{
        forbidden = on;
}

int durable_check(const char *what)
{
        if (!forbidden)
                return 0;
        log_error("%s was reached on a thread that must not wait for an fsync: its route is not "
                  "marked ROUTE_DURABLE in api/routes.c; refused",
                  what);
        return -EDEADLK;
}
