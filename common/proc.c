/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "proc.h"

static atomic_int cached; /* 0: not read in this process yet */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void forked_child(void)
{
        atomic_store(&cached, 0);
}

static void setup(void)
{
        (void)pthread_atfork(NULL, NULL, forked_child);
}

pid_t self_pid(void)
{
        pid_t p = atomic_load_explicit(&cached, memory_order_relaxed);

        if (p == 0) {
                pthread_once(&once, setup);
                p = getpid();
                atomic_store_explicit(&cached, p, memory_order_relaxed);
        }
        return p;
}
