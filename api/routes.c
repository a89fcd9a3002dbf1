/* SPDX-License-Identifier: MIT */
/*
 * The route table: the whole API on one screen. Every entry is described in openapi.yaml. The
 * last column says how a route runs: ROUTE_DURABLE routes end in an fsync and run on a writer
 * thread (pending.h), never on an HTTP thread that serves other connections (a lone one may
 * run where it arrived: api.c handle(), api_request.run_here). A route that reaches a durable
 * engine verb without being marked is refused by the engine at run time
 * (engine_thread_forbid_durable).
 */
#include "internal.h"
#include "macro.h"

/* clang-format off */
const struct route api_routes[] = {
        { "GET",    "/api/v1/ifaces",               ifaces_list,          ROLE_VIEWER,   ROUTE_INLINE },
        { "POST",   "/api/v1/ifaces",               ifaces_create,        ROLE_OPERATOR, ROUTE_DURABLE },
        { "GET",    "/api/v1/ifaces/{name}",        ifaces_get,           ROLE_VIEWER,   ROUTE_INLINE },
        { "PUT",    "/api/v1/ifaces/{name}",        ifaces_replace,       ROLE_OPERATOR, ROUTE_DURABLE },
        { "PATCH",  "/api/v1/ifaces/{name}",        ifaces_patch,         ROLE_OPERATOR, ROUTE_DURABLE },
        { "DELETE", "/api/v1/ifaces/{name}",        ifaces_delete,        ROLE_OPERATOR, ROUTE_DURABLE },
        { "POST",   "/api/v1/ifaces/{name}/checks", checks_run,           ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/bindings",             bindings_list,        ROLE_VIEWER,   ROUTE_INLINE },
        { "POST",   "/api/v1/bindings",             bindings_create,      ROLE_OPERATOR, ROUTE_DURABLE },
        { "GET",    "/api/v1/bindings/{id}",        bindings_get,         ROLE_VIEWER,   ROUTE_INLINE },
        { "PATCH",  "/api/v1/bindings/{id}",        bindings_patch,       ROLE_OPERATOR, ROUTE_DURABLE },
        { "DELETE", "/api/v1/bindings/{id}",        bindings_delete,      ROLE_OPERATOR, ROUTE_DURABLE },
        { "POST",   "/api/v1/discovery",            discovery_create,     ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/discovery",            discovery_list,       ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/discovery/{id}",       discovery_get,        ROLE_VIEWER,   ROUTE_INLINE },
        { "DELETE", "/api/v1/discovery/{id}",       discovery_delete,     ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/sessions",             sessions_list,        ROLE_VIEWER,   ROUTE_INLINE },
        { "POST",   "/api/v1/sessions",             sessions_create,      ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/sessions/{sid}",       sessions_get,         ROLE_VIEWER,   ROUTE_INLINE },
        { "DELETE", "/api/v1/sessions/{sid}",       sessions_delete,      ROLE_OPERATOR, ROUTE_INLINE },
        { "POST",   "/api/v1/sessions/{sid}/rescan", sessions_rescan,     ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/sessions/{sid}/stats", sessions_stats,       ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/logins",               logins_list,          ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/logins/{id}",          logins_get,           ROLE_VIEWER,   ROUTE_INLINE },
        { "DELETE", "/api/v1/logins/{id}",          logins_delete,        ROLE_OPERATOR, ROUTE_INLINE },
        { "POST",   "/api/v1/checks",               checks_job_create,    ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/jobs",                 jobs_list,            ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/jobs/{id}",            jobs_get,             ROLE_VIEWER,   ROUTE_INLINE },
        { "DELETE", "/api/v1/jobs/{id}",            jobs_delete,          ROLE_OPERATOR, ROUTE_INLINE },
        { "GET",    "/api/v1/nics",                 nics_list,            ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/nics/{name}",          nics_get,             ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/transports",           transports_list,      ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/hbas",                 hbas_list,            ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/hbas/{host}",          hbas_get,             ROLE_VIEWER,   ROUTE_INLINE },
        { "POST",   "/api/v1/admin/restore-files",  ifaces_restore_files, ROLE_ADMIN,    ROUTE_DURABLE },
        { "GET",    "/api/v1/audit",                audit_list,           ROLE_ADMIN,    ROUTE_INLINE },
        { "GET",    "/api/v1/tokens",               tokens_list,          ROLE_ADMIN,    ROUTE_INLINE },
        { "POST",   "/api/v1/tokens",               tokens_create,        ROLE_ADMIN,    ROUTE_DURABLE },
        { "DELETE", "/api/v1/tokens/{id}",          tokens_delete,        ROLE_ADMIN,    ROUTE_DURABLE },
        { "GET",    "/api/v1/health",               health_get,           ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/whoami",               whoami_get,           ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/openapi.yaml",                openapi_get,          ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/metrics",                     metrics_get,          ROLE_VIEWER,   ROUTE_INLINE },
        { "GET",    "/api/v1/events",               events_stream,        ROLE_VIEWER,   ROUTE_INLINE },
};
/* clang-format on */

const size_t api_n_routes = ELEMENTSOF(api_routes);
