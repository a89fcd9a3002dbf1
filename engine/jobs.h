/* SPDX-License-Identifier: MIT */
/*
 * The table of jobs (job.h has the job itself). Internal to the engine: the API reaches it through
 * engine.h's verbs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "job.h"

struct jobs;

int job_table_new(struct checker *k, struct jobs **ret);
/* Cancel every job and free. Call after the checker has stopped calling back. NULL-safe. */
struct jobs *job_table_free(struct jobs *j);

/*
 * Call fn(info, userdata) on the check loop's thread after each item of a job finishes, with
 * the job's counts then (info->state no longer JOB_RUNNING: it was the last). Set it before
 * the first job starts.
 */
void job_table_set_listener(struct jobs *j, void (*fn)(const struct job_info *info, void *userdata),
                            void *userdata);

/*
 * Start a job of n specs (copied). With key (may be NULL) and body_hash: if a kept job has the
 * same key, return it instead (*ret_existing = true) when the hash matches, or -EILSEQ when it
 * does not. key is compared whole: a caller that scopes keys (per principal) puts the scope in
 * it, at most JOB_SCOPE_MAX + 1 + JOB_KEY_MAX bytes (-EINVAL beyond). Returns 0 with a reference
 * in *ret, -E2BIG (n over JOB_ITEMS_MAX), -EAGAIN (JOB_MAX jobs running), -ENOMEM, -ESHUTDOWN.
 */
int job_table_start(struct jobs *j, const struct check_spec *specs, size_t n, const char *key,
                    uint64_t body_hash, struct job **ret, bool *ret_existing);

/* A reference to the job with this id, or -ENOENT. */
int job_table_get(struct jobs *j, const char *id, struct job **ret);

/* References to every kept job, newest first. */
int job_table_list(struct jobs *j, struct job ***ret, size_t *ret_n);

/* Cancel a running job (0), or forget a finished one (1). -ENOENT if unknown. */
int job_table_cancel_or_remove(struct jobs *j, const char *id);

/* Cancel every running job (daemon stop). */
void job_table_cancel_all(struct jobs *j);
