/* SPDX-License-Identifier: MIT */
/*
 * The open-iscsi 2.1.8 node record: one binding of a target portal to an iface, the file
 * nodes/<target>/<ip>,<port>,<tpgt>/<iface> (SPEC.md §5.1). This is its codec: the key table
 * in the order usr/idbm.c idbm_recinfo_node() writes it, the parser and the renderer. The iface
 * part of a node record is a struct iface_rec (iface.h), written in the node record's own key
 * order. Pure functions, no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "iface.h"

enum node_ft {
        NODE_FT_STR,  /* a string; unset ("") is not written */
        NODE_FT_INT,  /* a C int, written in decimal */
        NODE_FT_ENUM, /* one of opts (idbm's __recinfo_int_oN) */
        NODE_FT_ALGS, /* a comma-separated list of CHAP algorithms (__recinfo_int_list) */
        _NODE_FT_MAX,
};

struct node_field {
        const char *key;
        enum node_ft type;
        unsigned maxlen;         /* strings: the longest value idbm keeps */
        const char *const *opts; /* enums: the names, NULL-terminated */
};

enum {
        NODE_F_NAME,
        NODE_F_TPGT,
        NODE_F_STARTUP,
        NODE_F_LEADING_LOGIN,
        /* the iface keys come here in the file (struct node_rec.iface) */
        NODE_F_DISC_ADDRESS,
        NODE_F_DISC_PORT,
        NODE_F_DISC_TYPE,
        NODE_F_INITIAL_CMDSN,
        NODE_F_INITIAL_LOGIN_RETRY_MAX,
        NODE_F_XMIT_THREAD_PRIORITY,
        NODE_F_CMDS_MAX,
        NODE_F_QUEUE_DEPTH,
        NODE_F_NR_SESSIONS,
        NODE_F_AUTHMETHOD,
        NODE_F_USERNAME,
        NODE_F_PASSWORD,
        NODE_F_USERNAME_IN,
        NODE_F_PASSWORD_IN,
        NODE_F_CHAP_ALGS,
        NODE_F_REPLACEMENT_TIMEOUT,
        NODE_F_ABORT_TIMEOUT,
        NODE_F_LU_RESET_TIMEOUT,
        NODE_F_TGT_RESET_TIMEOUT,
        NODE_F_HOST_RESET_TIMEOUT,
        NODE_F_FAST_ABORT,
        NODE_F_INITIAL_R2T,
        NODE_F_IMMEDIATE_DATA,
        NODE_F_FIRST_BURST_LENGTH,
        NODE_F_MAX_BURST_LENGTH,
        NODE_F_DEFAULT_TIME2RETAIN,
        NODE_F_DEFAULT_TIME2WAIT,
        NODE_F_MAX_CONNECTIONS,
        NODE_F_MAX_OUTSTANDING_R2T,
        NODE_F_ERL,
        NODE_F_SCAN,
        NODE_F_REOPEN_MAX,
        NODE_F_CONN_ADDRESS,
        NODE_F_CONN_PORT,
        NODE_F_CONN_STARTUP,
        NODE_F_CONN_WINDOW_SIZE,
        NODE_F_CONN_TYPE_OF_SERVICE,
        NODE_F_CONN_LOGOUT_TIMEOUT,
        NODE_F_CONN_LOGIN_TIMEOUT,
        NODE_F_CONN_AUTH_TIMEOUT,
        NODE_F_CONN_NOOP_OUT_INTERVAL,
        NODE_F_CONN_NOOP_OUT_TIMEOUT,
        NODE_F_CONN_MAX_XMIT_DLEN,
        NODE_F_CONN_MAX_RECV_DLEN,
        NODE_F_CONN_HEADER_DIGEST,
        NODE_F_CONN_DATA_DIGEST,
        NODE_F_CONN_IFMARKER,
        NODE_F_CONN_OFMARKER,
        NODE_N_FIELDS,
};

extern const struct node_field node_fields[NODE_N_FIELDS];

/* A node record: its own keys as strings (NULL = unset; numbers always set), and its iface. */
struct node_rec {
        char *val[NODE_N_FIELDS];
        struct iface_rec iface;
};

/* Look a key up ("node.session.scan"). Returns the index or -ENOENT. */
int node_field_find(const char *key);

/* Free everything rec owns and zero it. Safe on a zeroed or half-built rec. */
void node_rec_done(struct node_rec *rec);

/*
 * Parse a node file. Lines are read as iscsiadm reads them (stripped, '#' and blank lines
 * skipped, split at the first '='), but refused where it would misread: a line without '=', an
 * unknown key, a key twice, a number that is not a decimal int, an enum value that is not one of
 * its names, an unknown CHAP algorithm, a string over its buffer, a missing node.name,
 * node.tpgt, node.conn[0].address or iface.iscsi_ifacename. Returns 0 with *ret filled (ret
 * must be zeroed), -EBADMSG with err->reason (and err->field) set, or -ENOMEM.
 */
int node_parse_file(const char *data, size_t len, struct node_rec *ret, struct iface_error *err);

/*
 * Render the file exactly as iscsiadm 2.1.8 writes it (usr/idbm.c idbm_print() with show = 1):
 * "# BEGIN RECORD 2.1.8\n", every key in idbm_recinfo_node() order as "key = value\n" (unset
 * strings omitted), "# END RECORD\n". Secrets are written in clear, as iscsiadm writes them
 * (the file is 0600). *ret is NUL-terminated and the caller's. 0, -EINVAL (a required value is
 * unset), -ENOMEM.
 */
int node_render_file(const struct node_rec *rec, char **ret, size_t *ret_len);

/*
 * The defaults a new node record starts from, in *ret (zeroed; node keys only, no iface): the
 * compiled defaults of usr/idbm.c idbm_node_setup_defaults() (2.1.8), then, when conf is not
 * NULL, every node.* key of that iscsid.conf text, as idbm_sync_config() applies them when iscsid
 * answers. Other keys (discovery.*, iscsid.*) are skipped; a node key with a bad value is refused.
 * An empty conf means the compiled defaults, which is what iscsiadm uses when iscsid does not
 * answer. Returns 0, -EBADMSG (err names the line and key), or -ENOMEM.
 */
int node_defaults(const char *conf, size_t len, struct node_rec *ret, struct iface_error *err);

/* How the node was found: the values of node.discovery_type. */
enum node_disc {
        NODE_DISC_SENDTARGETS,
        NODE_DISC_STATIC,
};

/*
 * A new node record (as discovery or `iscsiadm -m node -o new` makes it) from defaults: target,
 * portal address and port, tpgt (-1: unknown), how it was found (for send_targets, the
 * discovery portal), and a copy of iface. *ret must be zeroed. 0 or -ENOMEM.
 */
int node_rec_new(const struct node_rec *defaults, const char *target, const char *address, int port,
                 int tpgt, enum node_disc disc, const char *disc_address, int disc_port,
                 const struct iface_rec *iface, struct node_rec *ret);

/* The discovery record of a SendTargets portal: send_targets/<ip>,<port>/st_config. */
enum {
        ST_F_STARTUP,
        ST_F_TYPE,
        ST_F_ADDRESS,
        ST_F_PORT,
        ST_F_AUTHMETHOD,
        ST_F_USERNAME,
        ST_F_PASSWORD,
        ST_F_USERNAME_IN,
        ST_F_PASSWORD_IN,
        ST_F_CHAP_ALGS,
        ST_F_LOGIN_TIMEOUT,
        ST_F_USE_DISCOVERYD,
        ST_F_DISCOVERYD_POLL_INVAL,
        ST_F_REOPEN_MAX,
        ST_F_AUTH_TIMEOUT,
        ST_F_ACTIVE_TIMEOUT,
        ST_F_MAX_RECV_DLEN,
        ST_N_FIELDS,
};

extern const struct node_field st_fields[ST_N_FIELDS];

struct st_rec {
        char *val[ST_N_FIELDS]; /* NULL = unset; numbers and enums always set */
};

void st_rec_done(struct st_rec *rec);

/*
 * Parse an st_config file, as strictly as node_parse_file(). Only sendtargets records are read
 * (the ones iscsiadm writes there). 0, -EBADMSG (err set), -ENOMEM; *ret must be zeroed.
 */
int st_parse_file(const char *data, size_t len, struct st_rec *ret, struct iface_error *err);

/* Render it exactly as iscsiadm 2.1.8 writes it (idbm_recinfo_discovery() order). */
int st_render_file(const struct st_rec *rec, char **ret, size_t *ret_len);

/*
 * A new discovery record for address:port from the compiled defaults of
 * idbm_discovery_setup_defaults(), overlaid with the discovery keys of an iscsid.conf text (NULL:
 * none). 0, -EBADMSG (a bad value in conf; err set), -ENOMEM; *ret must be zeroed.
 */
int st_rec_new(const char *conf, size_t conf_len, const char *address, int port, struct st_rec *ret,
               struct iface_error *err);
