/* SPDX-License-Identifier: MIT */
/* The route table: the whole API on one screen. Every entry is described in openapi.yaml. */
#include "internal.h"
#include "macro.h"

/* clang-format off */
const struct route api_routes[] = {
        { "GET",    "/api/v1/ifaces",        ifaces_list    },
        { "POST",   "/api/v1/ifaces",        ifaces_create  },
        { "GET",    "/api/v1/ifaces/{name}", ifaces_get     },
        { "PUT",    "/api/v1/ifaces/{name}", ifaces_replace },
        { "PATCH",  "/api/v1/ifaces/{name}", ifaces_patch   },
        { "DELETE", "/api/v1/ifaces/{name}", ifaces_delete  },
        { "POST",   "/api/v1/ifaces/{name}/checks", checks_run },
        { "POST",   "/api/v1/checks",        checks_job_create },
        { "GET",    "/api/v1/jobs",          jobs_list_get  },
        { "GET",    "/api/v1/jobs/{id}",     jobs_get_one   },
        { "DELETE", "/api/v1/jobs/{id}",     jobs_delete    },
        { "GET",    "/api/v1/nics",          nics_list      },
        { "GET",    "/api/v1/nics/{name}",   nics_get       },
        { "GET",    "/api/v1/transports",    transports_list },
        { "GET",    "/api/v1/hbas",          hbas_list      },
        { "GET",    "/api/v1/hbas/{host}",   hbas_get       },
        { "GET",    "/api/v1/health",        health_get     },
        { "GET",    "/openapi.yaml",         openapi_get    },
};
/* clang-format on */

const size_t api_n_routes = ELEMENTSOF(api_routes);
