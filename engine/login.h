/* SPDX-License-Identifier: MIT */
/*
 * Logins and logouts (docs/sessions.md): operations of one or more items run on a small pool of
 * threads, one operation at a time per (target, portal, tpgt, iface), through iscsiadm with a
 * fixed argv (engine/exec.c), reconciled with sysfs (engine/session.c). An operation is a
 * reference-counted value the API renders; the engine keeps the recent ones.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binding.h"
#include "session.h"

#define LOGIN_THREADS        4
#define LOGIN_ITEMS_MAX      256
#define LOGIN_EXPECT_MAX     256
#define LOGIN_KEEP           64
#define LOGIN_TIMEOUT_MAX_MS 600000
#define LOGIN_ID_LEN         32
#define LOGIN_KEY_MAX        200 /* Idempotency-Key with its scope */
#define LOGIN_ISCSIADM       "/usr/sbin/iscsiadm"
/* iscsid's control socket (usr/mgmt_ipc.h ISCSIADM_NAMESPACE), an abstract unix socket. */
#define LOGIN_ISCSID_SOCKET  "ISCSIADM_ABSTRACT_NAMESPACE"

enum login_kind {
        LOGIN_KIND_LOGIN,
        LOGIN_KIND_LOGOUT,
        LOGIN_KIND_RESCAN,
        LOGIN_KIND_STATS,
};

const char *login_kind_to_string(enum login_kind k); /* "login", "logout", "rescan", "stats" */

#define LOGIN_STATS_MAX 64

/* One counter of `iscsiadm -m session -r N -s`. */
struct login_stat {
        char name[48]; /* [a-z0-9_]: txdata_octets, digest_err, timeout_err... */
        uint64_t value;
        bool extended; /* from the transport's "iSCSI Extended" block */
};

enum login_op_state {
        LOGIN_OP_RUNNING,
        LOGIN_OP_DONE,
        LOGIN_OP_CANCELLED,
};

enum login_item_status {
        LOGIN_ITEM_PENDING,
        LOGIN_ITEM_RUNNING,
        LOGIN_ITEM_CREATED,    /* logged in by this item */
        LOGIN_ITEM_ADOPTED,    /* the session existed already */
        LOGIN_ITEM_LOGGED_OUT, /* a logout that ended the session */
        LOGIN_ITEM_DONE,       /* a rescan or a statistics read that ran */
        LOGIN_ITEM_FAILED,
        LOGIN_ITEM_CANCELLED,
};

/* Typed failures; the API maps them to a status and a problem type. */
enum login_error {
        LOGIN_ERR_NONE,
        LOGIN_ERR_NOT_FOUND, /* no such binding, or no such session */
        LOGIN_ERR_ISCSID,    /* iscsid does not run or does not answer */
        LOGIN_ERR_AUTH,      /* the target refused the CHAP credentials (exit 24) */
        LOGIN_ERR_REFUSED,   /* the target refused the login otherwise (exit 19) */
        LOGIN_ERR_TIMEOUT,   /* exits 8, 11, 33, or our deadline */
        LOGIN_ERR_FAILED,    /* any other failure of iscsiadm */
        LOGIN_ERR_TRANSPORT, /* the transport is not loaded (exit 12) */
        LOGIN_ERR_BUSY,      /* iscsid busy (exits 28, 29): retry */
        LOGIN_ERR_IN_USE,    /* a logout refused: devices in use (uses) */
        LOGIN_ERR_CANCELLED, /* cancelled before it ended */
        LOGIN_ERR_INTERNAL,  /* out of memory, storage */
};

const char *login_error_to_string(enum login_error e); /* "iscsid-unavailable", ... */
const char *login_item_status_to_string(enum login_item_status s);
const char *login_op_state_to_string(enum login_op_state s);

struct login_item {
        char binding[BINDING_ID_MAX]; /* login: the binding; logout: the session's path */
        struct binding_key key;
        unsigned sid; /* the session (0 none yet) */
        enum login_item_status status;
        enum login_error error;
        char detail[512];
        int iscsiadm_exit; /* -1: iscsiadm did not run or was killed */
        char *output;      /* what iscsiadm printed (never a secret: none is on its argv) */
        bool ready;        /* login: the devices are ready (docs/sessions.md) */
        uint64_t *expect;  /* the LUNs it waited for */
        size_t n_expect;
        bool expect_reported;     /* expect came from REPORT LUNS */
        struct session_use *uses; /* a logout refused for these */
        size_t n_uses;
        struct login_stat *stats; /* LOGIN_KIND_STATS */
        size_t n_stats;
        int64_t started_usec, finished_usec; /* CLOCK_MONOTONIC, 0 until then */
};

struct login_op {
        char id[LOGIN_ID_LEN + 1];
        enum login_kind kind;
        pthread_mutex_t lock; /* guards state, items' results, n_done */
        enum login_op_state state;
        struct login_item *items;
        size_t n_items, n_done;
        unsigned timeout_ms; /* 0: each record's login budget */
        uint64_t *expect;    /* the caller's expect_luns */
        size_t n_expect;
        bool force; /* logout: without the in-use check */
        bool batch; /* asked as a batch (rendered as an operation) */
        char actor[48];
        char request_id[72];
        char key[LOGIN_KEY_MAX + 1]; /* Idempotency-Key, scoped; "" none */
        uint64_t body_hash;
        int64_t created_usec, finished_usec; /* CLOCK_REALTIME */
        int cancel_fd;                       /* an eventfd, readable once cancelled */
        void (*done)(struct login_op *op, void *userdata);
        void *userdata;
        struct engine *engine;
        unsigned refs; /* atomic */
};

struct login_op *login_op_ref(struct login_op *op);
struct login_op *login_op_unref(struct login_op *op);

/* A login request: bindings (ids), a deadline, the LUNs to wait for. */
struct login_request {
        const char *const *bindings;
        size_t n_bindings;
        unsigned timeout_ms; /* 0: from each record */
        const uint64_t *expect;
        size_t n_expect;
        bool batch;
        const char *key; /* scoped Idempotency-Key or NULL */
        uint64_t body_hash;
};

/* The readiness of one LUN of a session (docs/sessions.md). */
struct login_lun_ready {
        uint64_t lun;
        char lun_sam[17]; /* its 8-byte SAM LUN, 16 hex digits */
        bool present;     /* the kernel shows a SCSI device for it */
        bool ready;
        const char *reason; /* NULL when ready: "no-device", "not-scanned", "device-state",
                             * "no-block-device", "no-device-node", "udev-pending" */
};

/*
 * The readiness of d against expect[0..n_expect-1] (none: the LUNs d shows): one entry per LUN
 * expected or shown, sorted, into *ret (the caller's). *ret_ready says whether the session is
 * ready, *ret_reason why not ("session-state", "no-luns", or a LUN's reason). scan_manual says
 * the record scans manually (a LUN missing is then "not-scanned"). 0 or -ENOMEM.
 */
int login_readiness(const struct session_detail *d, const uint64_t *expect, size_t n_expect,
                    bool scan_manual, struct login_lun_ready **ret, size_t *ret_n, bool *ret_ready,
                    const char **ret_reason);

/* Is iscsid's control socket listening in our network namespace (proc_root/net/unix)? */
bool login_iscsid_listening(const char *proc_root);

/* A session as the API shows it: sysfs, with what the engine knows besides. */
struct engine_session {
        struct session_detail d;
        const char *origin;            /* "api", "external", "boot" (static) */
        struct binding_snap *binding;  /* its binding, NULL when it has none */
        bool logging_in;               /* one of our operations works on its path */
        char nic[32];                  /* the NIC with the connection's local address */
        struct login_lun_ready *ready; /* per LUN shown */
        size_t n_ready;
        bool all_ready;
        const char *not_ready_reason;
};
