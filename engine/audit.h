/* SPDX-License-Identifier: MIT */
/* The audit trail's value types: one entry, and a query for a page of them (engine_audit()). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_audit {
        int64_t id;
        int64_t at_usec;
        const char *name;
        const char *action;
        const char *origin;
        uint64_t revision;
        const char *actor;
        const char *request_id;
        const char *before;
        const char *after;
        const char *kind; /* "iface", "binding", "discovery" */
};

/* A filtered page of the audit, newest first. NULL / 0 members do not filter. */
struct store_audit_query {
        const char *name, *actor, *origin, *action;
        int64_t since_usec, until_usec; /* [since, until), where has_since, has_until */
        bool has_since, has_until;      /* 0 is a time too (the epoch), not "unset" */
        int64_t before_id;              /* the cursor: entries older than this id */
        size_t limit;                   /* >= 1 */
};
