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
        sbuf_puts(b, "# HELP ifd_lun_ready 1 when the LUN is ready (docs/sessions.md), else 0.\n"
                     "# TYPE ifd_lun_ready gauge\n");
        for (size_t i = 0; i < n; i++)
                for (size_t l = 0; l < v[i].n_ready; l++)
                        sbuf_printf(b, "ifd_lun_ready{sid=\"%u\",lun=\"%" PRIu64 "\"} %d\n",
                                    v[i].d.info.sid, v[i].ready[l].lun, v[i].ready[l].ready);
        engine_sessions_free(v, n);
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
        render_sessions(c->api->engine, &b);
        render_events(c->api, &b);
        render_process(c->api->engine, &b);
        r = sbuf_take(&b, &body, &len);
        if (r < 0)
                return r;
        resp_set_body(c->resp, 200, METRICS_CONTENT_TYPE, body, len);
        return 0;
}
