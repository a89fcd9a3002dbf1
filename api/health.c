/* SPDX-License-Identifier: MIT */
/* GET /api/v1/health and GET /openapi.yaml. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

extern const char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

int health_get(struct call *c)
{
        struct engine_health h = {};
        const char *status;
        struct sbuf b = {};
        char *body;
        size_t len;
        int r;

        r = engine_health(c->api->engine, &h);
        if (r < 0)
                return r;

        /* iscsiadm holds its lock for milliseconds: writes waiting behind it, or a second of
         * it, mean writes are stuck. */
        bool lock_stuck =
                h.lock_held && !h.lock_ours && (h.lock_age_usec >= 1000000 || h.writes_waiting > 0);

        status = !h.db_ok || !h.root_ok     ? "failing" :
                 h.n_problems || lock_stuck ? "degraded" :
                                              "ok";
        sbuf_printf(&b, "{\"status\":\"%s\",\"version\":\"%s\"", status, ENGINE_VERSION);
        sbuf_printf(&b, ",\"db\":{\"ok\":%s,\"path\":", h.db_ok ? "true" : "false");
        sbuf_json_string(&b, h.db_path);
        sbuf_puts(&b, ",\"detail\":");
        sbuf_json_string(&b, h.db_detail);
        sbuf_printf(&b, "},\"iscsi_root\":{\"ok\":%s,\"path\":", h.root_ok ? "true" : "false");
        sbuf_json_string(&b, h.root_path);
        sbuf_puts(&b, ",\"detail\":");
        sbuf_json_string(&b, h.root_detail);
        sbuf_printf(&b, "},\"records\":%zu", h.count);
        sbuf_printf(&b, ",\"iscsi_lock\":{\"held\":%s", h.lock_held ? "true" : "false");
        if (h.lock_held) {
                sbuf_puts(&b, ",\"holder\":");
                sbuf_json_string(&b, h.lock_holder);
                sbuf_printf(&b, ",\"age_ms\":%lld", (long long)(h.lock_age_usec / 1000));
        }
        sbuf_printf(&b, ",\"writes_waiting\":%u}", h.writes_waiting);
        sbuf_printf(&b, ",\"security\":{\"auth\":%s,\"insecure\":%s}",
                    c->api->auth_cfg.enabled ? "true" : "false",
                    c->api->auth_cfg.insecure ? "true" : "false");
        sbuf_printf(&b, ",\"drift\":{\"policy\":\"%s\",\"imported\":%" PRIu64 ",\"recent\":[",
                    engine_drift_policy(c->api->engine) == ENGINE_DRIFT_REPORT ? "report" :
                                                                                 "import",
                    h.drift_imported);
        for (size_t i = 0; i < h.n_events; i++) {
                sbuf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
                sbuf_json_string(&b, h.events[i].name);
                sbuf_printf(&b, ",\"action\":\"%s\",\"revision\":%" PRIu64 ",\"at\":",
                            h.events[i].action, h.events[i].revision);
                sbuf_rfc3339(&b, h.events[i].at_usec);
                sbuf_puts(&b, "}");
        }
        sbuf_puts(&b, "]},\"problems\":[");
        for (size_t i = 0; i < h.n_problems; i++) {
                sbuf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
                sbuf_json_string(&b, h.problems[i].name);
                sbuf_printf(&b, ",\"kind\":\"%s\",\"reason\":", h.problems[i].kind);
                sbuf_json_string(&b, h.problems[i].reason);
                sbuf_puts(&b, "}");
        }
        sbuf_puts(&b, "]}");
        engine_health_done(&h);

        r = sbuf_take(&b, &body, &len);
        if (r < 0)
                return r;
        resp_set_body(c->resp, streq(status, "failing") ? 503 : 200, "application/json", body, len);
        return 0;
}

int openapi_get(struct call *c)
{
        char *body = malloc(api_openapi_yaml_len + 1);

        if (!body)
                return -ENOMEM;
        memcpy(body, api_openapi_yaml, api_openapi_yaml_len + 1);
        resp_set_body(c->resp, 200, "application/yaml", body, api_openapi_yaml_len);
        return 0;
}
