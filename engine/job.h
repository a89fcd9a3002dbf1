/* SPDX-License-Identifier: MIT */
/*
 * Jobs: many checks submitted as one, with progress, per-item results, cancel and an idempotency
 * key (docs/checks.md). Jobs live in memory only; finished ones are kept JOB_KEEP_USEC.
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

struct jobs;
struct job;

struct job_info {
        char id[JOB_ID_LEN + 1];
        enum job_state state;
        int64_t created_usec;  /* CLOCK_REALTIME */
        int64_t finished_usec; /* 0 while running */
        size_t total, done, ok, failed, cancelled;
};

int jobs_new(struct checker *k, struct jobs **ret);
/* Cancel every job and free. Call after the checker has stopped calling back. NULL-safe. */
struct jobs *jobs_free(struct jobs *j);

/*
 * Start a job of n specs (copied). With key (may be NULL) and body_hash: if a kept job has the
 * same key, return it instead (*ret_existing = true) when the hash matches, or -EILSEQ when it
 * does not. key is compared whole: a caller that scopes keys (per principal) puts the scope in
 * it, at most JOB_SCOPE_MAX + 1 + JOB_KEY_MAX bytes (-EINVAL beyond). Returns 0 with a reference
 * in *ret, -E2BIG (n over JOB_ITEMS_MAX), -EAGAIN (JOB_MAX jobs running), -ENOMEM, -ESHUTDOWN.
 */
int jobs_start(struct jobs *j, const struct check_spec *specs, size_t n, const char *key,
               uint64_t body_hash, struct job **ret, bool *ret_existing);

/* A reference to the job with this id, or -ENOENT. */
int jobs_get(struct jobs *j, const char *id, struct job **ret);

/* References to every kept job, newest first. */
int jobs_list(struct jobs *j, struct job ***ret, size_t *ret_n);

/* Cancel a running job (0), or forget a finished one (1). -ENOENT if unknown. */
int jobs_cancel_or_remove(struct jobs *j, const char *id);

/* Cancel every running job (daemon stop). */
void jobs_cancel_all(struct jobs *j);

struct job *job_ref(struct job *job);
struct job *job_unref(struct job *job);
void job_get_info(struct job *job, struct job_info *ret);
size_t job_n_items(const struct job *job);
/* Item i's check once it has finished, else NULL. Valid while the job is referenced. */
const struct check *job_item_done(struct job *job, size_t i);
