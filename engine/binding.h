/* SPDX-License-Identifier: MIT */
/*
 * Bindings (open-iscsi node records) as the engine serves them: immutable, reference-counted
 * snapshots, and the keys and edits the verbs of engine.h take. docs/bindings.md has the
 * resource; engine/binding.c the verbs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "macro.h"
#include "node.h"

#define BINDING_ID_MAX 512

/* What names a binding: the parts of its id "<target>,<address>,<port>,<tpgt>,<iface>". */
struct binding_key {
        char target[224];
        char address[46]; /* an IP address as text, IPv6 without brackets */
        uint16_t port;
        int tpgt; /* 0..65535; -1 only for old-style records */
        char iface[65];
};

/* One version of a binding, as served to readers. */
struct binding_snap {
        char *id;
        char *path; /* root-relative: nodes/<t>/<ip>,<port>,<tpgt>/<iface> (or old style) */
        struct binding_key key;
        struct node_rec rec;
        char *content; /* the exact file bytes */
        size_t content_len;
        uint64_t revision;
        const char *origin; /* "api", "external" (static) */
        int64_t created_usec;
        int64_t updated_usec;
        bool old_style;  /* nodes/<t>/<ip>,<port>: read and shown, never written */
        char *link_path; /* its send_targets link ("" when none), engine-private */
        /* Engine-private, under write_lock: the settled print of the file whose bytes were last
         * seen equal to content (reconcile_nodes need not read it while it holds). */
        struct file_print print;
        bool print_settled;
        unsigned refs; /* atomic */
};

struct binding_snap *binding_snap_ref(struct binding_snap *s);
struct binding_snap *binding_snap_unref(struct binding_snap *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct binding_snap *, binding_snap_unref);

/*
 * Parse an id into *ret: five comma-separated parts, each checked (an iSCSI name, an IP
 * address, a port 1..65535, a tpgt -1..65535, an iface name). 0 or -EINVAL with err filled
 * (err->field "id").
 */
int binding_id_parse(const char *id, struct binding_key *ret, struct iface_error *err);

/* Format the id of key into buf (BINDING_ID_MAX). */
void binding_id_format(const struct binding_key *key, char *buf, size_t size);

/* Render the file with the CHAP passwords masked as iscsiadm shows them ("********"). */
char *binding_mask_secrets(const char *content);
