/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: the Prometheus text exposition format 0.0.4 (README "Metrics"): the API's own
 * counters (counters.c), the sizes of the engine's indexes and this process.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "engine.h"
#include "internal.h"
#include "macro.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void render_records(struct engine *e, struct sbuf *b)
{
        static const char *const origins[] = ENGINE_ORIGINS;
        struct engine_counts n;

        engine_counts(e, &n);
        sbuf_puts(b, "# HELP ifd_ifaces iface records in the index (built-ins included), by "
                     "origin.\n"
                     "# TYPE ifd_ifaces gauge\n");
        for (size_t i = 0; i < ENGINE_N_ORIGINS; i++)
                sbuf_printf(b, "ifd_ifaces{origin=\"%s\"} %zu\n", origins[i], n.ifaces[i]);
        sbuf_puts(b, "# HELP ifd_bindings Bindings (node records) in the index, by origin.\n"
                     "# TYPE ifd_bindings gauge\n");
        for (size_t i = 0; i < ENGINE_N_ORIGINS; i++)
                sbuf_printf(b, "ifd_bindings{origin=\"%s\"} %zu\n", origins[i], n.bindings[i]);
        sbuf_printf(b,
                    "# HELP ifd_drift_imports_total Changes made outside the daemon and imported, "
                    "since start.\n"
                    "# TYPE ifd_drift_imports_total counter\n"
                    "ifd_drift_imports_total %" PRIu64 "\n"
                    "# HELP ifd_health_problems Problems listed by /api/v1/health (files not "
                    "mirrored, records invalid or missing).\n"
                    "# TYPE ifd_health_problems gauge\n"
                    "ifd_health_problems %zu\n",
                    n.drift_imported, n.n_problems);
}

static void render_process(struct engine *e, struct sbuf *b)
{
        struct engine_process p;

        sbuf_puts(b, "# HELP ifd_build_info The daemon's version.\n"
                     "# TYPE ifd_build_info gauge\n"
                     "ifd_build_info{version=\"" ENGINE_VERSION "\"} 1\n");
        if (engine_process(e, &p) < 0)
                return; /* no /proc: the families are left out rather than made up */
        sbuf_printf(b,
                    "# HELP process_start_time_seconds Start time of the process since the "
                    "epoch, in seconds.\n"
                    "# TYPE process_start_time_seconds gauge\n"
                    "process_start_time_seconds %.2f\n"
                    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                    "# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes %" PRIu64 "\n"
                    "# HELP process_open_fds Number of open file descriptors.\n"
                    "# TYPE process_open_fds gauge\n"
                    "process_open_fds %u\n"
                    "# HELP ifd_threads Threads of the process.\n"
                    "# TYPE ifd_threads gauge\n"
                    "ifd_threads %u\n",
                    p.start_time_seconds, p.resident_bytes, p.open_fds, p.threads);
}

/* One per-LUN counter family: the uint64_t at off in each LUN, left out where unknown. */
static void lun_counter(struct sbuf *b, const struct engine_session *v, size_t n, const char *name,
                        const char *help, size_t off)
{
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
        for (size_t i = 0; i < n; i++)
                for (size_t l = 0; l < v[i].d.n_luns; l++) {
                        uint64_t x;

                        memcpy(&x, (const char *)&v[i].d.luns[l] + off, sizeof(x));
                        if (x != SESSION_UNKNOWN_U64)
                                sbuf_printf(b, "%s{sid=\"%u\",lun=\"%" PRIu64 "\"} %" PRIu64 "\n",
                                            name, v[i].d.info.sid, v[i].d.luns[l].lun, x);
                }
}

/*
 * Per-session iSCSI error counters (digest and timeout errors of `iscsiadm -m session -r N -s`),
 * read on the login pool at most every SESSION_ERRORS_MAX_AGE_USEC while someone scrapes: a scrape
 * shows the last read, never waits for iscsiadm. A session not read yet is left out.
 */
#define SESSION_ERRORS_MAX_AGE_USEC (30LL * 1000 * 1000)

/* One family of the per-session counters: the uint64_t at off of each, left out if unknown. */
static void session_error_family(struct sbuf *b, const struct engine_session_errors *v, size_t n,
                                 const char *name, const char *help, size_t off)
{
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
        for (size_t i = 0; i < n; i++) {
                uint64_t x;

                memcpy(&x, (const char *)&v[i] + off, sizeof(x));
                if (x != SESSION_UNKNOWN_U64)
                        sbuf_printf(b, "%s{sid=\"%u\"} %" PRIu64 "\n", name, v[i].sid, x);
        }
}

static void render_session_errors(struct engine *e, struct sbuf *b, const struct engine_session *v,
                                  size_t n)
{
        _cleanup_free_ unsigned *sids = calloc(n ?: 1, sizeof(*sids));
        _cleanup_free_ struct engine_session_errors *errs = NULL;
        size_t k = 0, n_errs = 0;

        if (!sids)
                return;
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].d.info.state, "LOGGED_IN"))
                        sids[k++] = v[i].d.info.sid;
        if (engine_session_errors(e, sids, k, SESSION_ERRORS_MAX_AGE_USEC, &errs, &n_errs) < 0)
                return;
        session_error_family(b, errs, n_errs, "ifd_session_digest_errors_total",
                             "Header and data digest errors of the session (iscsiadm -s "
                             "digest_err).",
                             offsetof(struct engine_session_errors, digest_err));
        session_error_family(b, errs, n_errs, "ifd_session_timeout_errors_total",
                             "Connection timeouts of the session (iscsiadm -s timeout_err).",
                             offsetof(struct engine_session_errors, timeout_err));
}

/*
 * Sessions from sysfs (engine_sessions_list): how many in each state, and per LUN its error and
 * timeout counters (the SCSI device's ioerr_cnt and iotmo_cnt) and readiness. Labels are the sid
 * and the LUN number: bounded by the sessions the host has, never a name from the wire. A LUN
 * whose counters cannot be read is left out rather than shown as 0.
 */
static void render_sessions(struct engine *e, struct sbuf *b)
{
        static const char *const states[] = { "LOGGED_IN", "FAILED", "FREE", "logging-in",
                                              "other" };
        size_t by_state[ELEMENTSOF(states)] = {};
        struct engine_session *v = NULL;
        size_t n = 0;

        if (engine_sessions_list(e, &v, &n) < 0)
                return; /* sysfs unreadable: the families are left out rather than made up */
        for (size_t i = 0; i < n; i++) {
                const char *st = v[i].logging_in ? "logging-in" : v[i].d.info.state;
                size_t k = 0;

                while (k < ELEMENTSOF(states) - 1 && !streq(states[k], st))
                        k++;
                by_state[k]++;
        }
        sbuf_puts(b, "# HELP ifd_sessions iSCSI sessions of the host, by state (the kernel's, or "
                     "logging-in while one of our logins runs).\n"
                     "# TYPE ifd_sessions gauge\n");
        for (size_t k = 0; k < ELEMENTSOF(states); k++)
                sbuf_printf(b, "ifd_sessions{state=\"%s\"} %zu\n", states[k], by_state[k]);
        lun_counter(b, v, n, "ifd_lun_io_errors_total",
                    "SCSI commands of the LUN that ended in an error (ioerr_cnt).",
                    offsetof(struct session_lun, ioerr_cnt));
        lun_counter(b, v, n, "ifd_lun_io_timeouts_total",
                    "SCSI commands of the LUN that timed out (iotmo_cnt).",
                    offsetof(struct session_lun, iotmo_cnt));
        render_session_errors(e, b, v, n);
        sbuf_puts(b, "# HELP ifd_lun_ready 1 when the LUN is ready (docs/sessions.md), else 0.\n"
                     "# TYPE ifd_lun_ready gauge\n");
        for (size_t i = 0; i < n; i++)
                for (size_t l = 0; l < v[i].n_ready; l++)
                        sbuf_printf(b, "ifd_lun_ready{sid=\"%u\",lun=\"%" PRIu64 "\"} %d\n",
                                    v[i].d.info.sid, v[i].ready[l].lun, v[i].ready[l].ready);
        engine_sessions_free(v, n);
}

static uint64_t load(_Atomic uint64_t *x)
{
        return atomic_load_explicit(x, memory_order_relaxed);
}

/* One histogram series of name, with labels ("" or `k="v"`), in seconds. */
static void hist_series(struct sbuf *b, const char *name, const char *labels, struct stats_hist *h)
{
        const char *sep = labels[0] ? "," : "";
        uint64_t n = 0, count = load(&h->count);

        for (size_t i = 0; i < STATS_N_BUCKETS; i++) {
                n += load(&h->le[i]);
                sbuf_printf(b, "%s_bucket{%s%sle=\"%.6g\"} %" PRIu64 "\n", name, labels, sep,
                            (double)stats_bucket_usec[i] / 1e6, MIN(n, count));
        }
        sbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, count);
        sbuf_printf(b, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels,
                    labels[0] ? "}" : "", (double)load(&h->sum_usec) / 1e6);
        sbuf_printf(b, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels,
                    labels[0] ? "}" : "", count);
}

static void hist_family(struct sbuf *b, const char *name, const char *help)
{
        sbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
}

/*
 * Durable writes (engine/stats.h): the whole write from the locks to the answer, and its parts:
 * the wait for write_lock and iscsiadm's lock.write, the fsyncs of the db root's files, and the
 * sqlite commits. Lock timeouts by whose lock it was.
 */
static void render_writes(struct sbuf *b)
{
        struct stats *st = stats_get();

        hist_family(b, "ifd_write_duration_seconds",
                    "Durable writes of records, from taking the locks to the last commit.");
        hist_series(b, "ifd_write_duration_seconds", "", &st->write_total);
        hist_family(b, "ifd_write_lock_wait_seconds",
                    "Time a durable write waited for the daemon's write lock and iscsiadm's "
                    "lock.write.");
        hist_series(b, "ifd_write_lock_wait_seconds", "", &st->write_lock_wait);
        hist_family(b, "ifd_write_fsync_seconds",
                    "Time a durable write spent in fsync() of the db root's files and "
                    "directories.");
        hist_series(b, "ifd_write_fsync_seconds", "", &st->write_fsync);
        hist_family(b, "ifd_write_db_commit_seconds",
                    "Time a durable write spent in sqlite commits (the intent and the apply).");
        hist_series(b, "ifd_write_db_commit_seconds", "", &st->write_db);
        sbuf_puts(b, "# HELP ifd_lock_timeouts_total Writes refused because a lock was held past "
                     "the lock timeout, by whose lock (iscsiadm: another process's lock.write).\n"
                     "# TYPE ifd_lock_timeouts_total counter\n");
        for (size_t l = 0; l < _STATS_LOCK_MAX; l++)
                sbuf_printf(b, "ifd_lock_timeouts_total{lock=\"%s\"} %" PRIu64 "\n",
                            stats_lock_to_string(l), load(&st->lock_timeouts[l]));
        sbuf_printf(b,
                    "# HELP ifd_write_batches_total Batches of the group commit: API writes made "
                    "durable together.\n"
                    "# TYPE ifd_write_batches_total counter\n"
                    "ifd_write_batches_total %" PRIu64 "\n"
                    "# HELP ifd_write_batched_total API writes run in those batches (divided by "
                    "the batches: the mean batch).\n"
                    "# TYPE ifd_write_batched_total counter\n"
                    "ifd_write_batched_total %" PRIu64 "\n",
                    load(&st->batches), load(&st->batched_writes));
        sbuf_printf(b,
                    "# HELP ifd_session_uevents_total Kernel uevents about iSCSI or SCSI objects "
                    "(a session, a connection, a device added or removed) that woke the sessions "
                    "watch before its next tick.\n"
                    "# TYPE ifd_session_uevents_total counter\n"
                    "ifd_session_uevents_total %" PRIu64 "\n",
                    load(&st->session_uevents));
}

/* Checks by result and reason, matrix jobs by final state, discovery runs by result. */
static void render_activity(struct sbuf *b)
{
        static const enum check_status results[] = { CHECK_OK, CHECK_FAILED, CHECK_CANCELLED };
        struct stats *st = stats_get();
        char labels[64];

        sbuf_puts(b, "# HELP ifd_checks_total Connectivity checks (alone, in a job or a "
                     "discovery) by result and the reason of the deciding step.\n"
                     "# TYPE ifd_checks_total counter\n");
        for (size_t i = 0; i < ELEMENTSOF(results); i++)
                for (size_t k = 0; k < _CHECK_REASON_MAX; k++) {
                        uint64_t n = load(&st->checks[results[i]][k]);

                        /* Series that have counted, and ok/none always (the family exists). */
                        if (n == 0 && !(results[i] == CHECK_OK && k == CHECK_REASON_NONE))
                                continue;
                        sbuf_printf(b,
                                    "ifd_checks_total{result=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                                    check_status_to_string(results[i]),
                                    k == CHECK_REASON_NONE ? "none" : check_reason_to_string(k), n);
                }
        hist_family(b, "ifd_check_duration_seconds", "Connectivity checks by result.");
        for (size_t i = 0; i < ELEMENTSOF(results); i++) {
                snprintf(labels, sizeof(labels), "result=\"%s\"",
                         check_status_to_string(results[i]));
                hist_series(b, "ifd_check_duration_seconds", labels,
                            &st->check_duration[results[i]]);
        }
        hist_family(b, "ifd_job_duration_seconds",
                    "Matrix jobs (POST /api/v1/jobs) by final state, from creation to the last "
                    "check.");
        for (size_t s = JOB_DONE; s < _JOB_STATE_MAX; s++) {
                snprintf(labels, sizeof(labels), "state=\"%s\"", job_state_to_string(s));
                hist_series(b, "ifd_job_duration_seconds", labels, &st->job_duration[s]);
        }
        hist_family(b, "ifd_discovery_duration_seconds",
                    "Discovery runs by result (failed: a portal's check or the bind phase "
                    "failed).");
        for (size_t d = 0; d < _STATS_DISCOVERY_MAX; d++) {
                snprintf(labels, sizeof(labels), "result=\"%s\"", stats_discovery_to_string(d));
                hist_series(b, "ifd_discovery_duration_seconds", labels,
                            &st->discovery_duration[d]);
        }
}

/* The event streams (events.c) and the bus: the type label is the fixed set of event.h. */
static void render_events(struct api *a, struct sbuf *b)
{
        struct event_bus *bus = engine_event_bus(a->engine);
        uint64_t counts[_EVENT_TYPE_MAX], dropped;
        unsigned streams;

        event_hub_stats(&a->hub, &streams, &dropped);
        sbuf_printf(b,
                    "# HELP ifd_event_streams Event streams (GET /api/v1/events) open now.\n"
                    "# TYPE ifd_event_streams gauge\n"
                    "ifd_event_streams %u\n"
                    "# HELP ifd_event_streams_dropped_total Event streams closed because their "
                    "client fell behind the event buffer.\n"
                    "# TYPE ifd_event_streams_dropped_total counter\n"
                    "ifd_event_streams_dropped_total %" PRIu64 "\n",
                    streams, dropped);
        if (!bus)
                return;
        event_bus_counts(bus, counts);
        sbuf_puts(b, "# HELP ifd_events_total Events published since start, by type.\n"
                     "# TYPE ifd_events_total counter\n");
        for (size_t t = 0; t < _EVENT_TYPE_MAX; t++)
                sbuf_printf(b, "ifd_events_total{type=\"%s\"} %" PRIu64 "\n",
                            event_type_to_string((enum event_type)t), counts[t]);
}

/* GET /metrics */
int metrics_get(struct call *c)
{
        struct sbuf b = {};
        char *body;
        size_t len;
        int r = call_no_query(c);

        if (r < 0)
                return r;
        counters_render(c->api->counters, &b);
        render_records(c->api->engine, &b);
        render_writes(&b);
        render_activity(&b);
        render_sessions(c->api->engine, &b);
        render_events(c->api, &b);
        render_process(c->api->engine, &b);
        r = sbuf_take(&b, &body, &len);
        if (r < 0)
                return r;
        resp_set_body(c->resp, 200, METRICS_CONTENT_TYPE, body, len);
        return 0;
}
