/* SPDX-License-Identifier: MIT */
/*
 * A job: many checks submitted as one, with progress, per-item results, cancel and an idempotency
 * key (docs/checks.md). This header has the value type and its accessors (engine.h names them);
 * the table of jobs is in jobs.h, inside the engine. Jobs live in memory only; finished ones are
 * kept JOB_KEEP_USEC.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

#define JOB_ITEMS_MAX 4096
#define JOB_MAX       256                       /* jobs kept at once */
#define JOB_KEEP_USEC (15LL * 60 * 1000 * 1000) /* how long a finished job is kept */
#define JOB_ID_LEN    32                        /* hex characters */
#define JOB_KEY_MAX   64                        /* Idempotency-Key */
#define JOB_SCOPE_MAX 64                        /* what the caller scopes a key with */

enum job_state {
        JOB_RUNNING,
        JOB_DONE,
        JOB_CANCELLED,
        _JOB_STATE_MAX,
};

const char *job_state_to_string(enum job_state s);

struct job;

struct job_info {
        char id[JOB_ID_LEN + 1];
        enum job_state state;
        int64_t created_usec;  /* CLOCK_REALTIME */
        int64_t finished_usec; /* 0 while running */
        size_t total, done, ok, failed, cancelled;
};

struct job *job_ref(struct job *job);
struct job *job_unref(struct job *job);
void job_get_info(struct job *job, struct job_info *ret);
size_t job_n_items(const struct job *job);
/* Item i's check once it has finished, else NULL. Valid while the job is referenced. */
const struct check *job_item_done(struct job *job, size_t i);
