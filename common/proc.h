/* SPDX-License-Identifier: MIT */
/* The process itself. */
#pragma once

#include <sys/types.h>

/*
 * getpid() without a system call each time (glibc no longer caches it): read once, and again
 * in a child made by fork(). Code that asks "is this still the process that set this up?" on a
 * hot path calls it.
 */
pid_t self_pid(void);
