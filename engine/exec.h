/* SPDX-License-Identifier: MIT */
/*
 * Running a helper program (iscsiadm) the safe way (docs/sessions.md): a fixed argv the caller
 * has validated, an environment of PATH and LC_ALL=C only, stdin /dev/null, stdout and stderr
 * captured together (bounded), no other descriptor inherited, its own process group, and a
 * deadline and a cancel descriptor after which the whole group is killed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_OUTPUT_MAX (64 * 1024) /* captured bytes; the rest is read and dropped */

struct exec_result {
        int exit_code;  /* 0..255 when it exited, -1 otherwise */
        int signal;     /* the signal that ended it, 0 if it exited */
        bool timed_out; /* killed at the deadline */
        bool cancelled; /* killed because cancel_fd became readable */
        char *output;   /* NUL-terminated, NULL when none; the caller's to free() */
        size_t output_len;
        bool truncated; /* output was longer than EXEC_OUTPUT_MAX */
        int64_t elapsed_usec;
};

/*
 * Run argv[0] (an absolute path) with argv until it exits, until deadline_usec
 * (CLOCK_MONOTONIC; 0 = none) or until cancel_fd (-1 = none) is readable; in the two last cases
 * its process group gets SIGKILL and is reaped. Returns 0 with *ret filled (also when the program
 * failed or was killed), or -errno when it could not be started (-ENOENT: no such program,
 * -EACCES...). *ret is zeroed first.
 */
int exec_run(const char *const *argv, int64_t deadline_usec, int cancel_fd,
             struct exec_result *ret);

void exec_result_done(struct exec_result *r);
