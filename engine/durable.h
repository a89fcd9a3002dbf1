/* SPDX-License-Identifier: MIT */
/* Internal to the engine: where durable work starts, ask whether this thread may do it. */
#pragma once

/*
 * 0 if the calling thread may wait for an fsync; -EDEADLK (logged, naming what) if
 * engine_thread_forbid_durable(true) is in force on it.
 */
int durable_check(const char *what);
