/* SPDX-License-Identifier: MIT */
/*
 * Logins and logouts (login.h, docs/sessions.md).
 *
 * The pool: LOGIN_THREADS threads take tasks (one item of an operation, or one attempt of a
 * clean-up) from a queue, in order, skipping a task whose path (the binding id format of
 * target, address, port, tpgt, iface) another thread works on: one operation at a time per
 * path, any number of paths at once. Tasks wait on the pool's condition, never on an HTTP
 * thread.
 *
 * A login: iscsid's socket is looked for; a session of the path in sysfs is adopted; otherwise
 * `iscsiadm -m node -T t -p ip:port,tpgt -I iface --login` runs until its deadline (exec.c kills
 * it then, or on cancel). iscsid goes on with a login whose iscsiadm was killed, so the outcome
 * is read from sysfs: a LOGGED_IN session is kept, anything else gets a clean-up task that logs
 * the path out, attempt after attempt, until the record's login budget has passed (iscsid
 * refuses to log out a session in its first login: "invalid state for logout"). Then the
 * devices: a manual-scan record gets its target scanned, and the expected LUNs (given, or
 * REPORT LUNS through the session's first device) are waited for until ready or the deadline.
 *
 * Lock order: pool.lock, then an op's lock; neither is held across iscsiadm, sysfs or the store.
 * The store is written holding the engine's write_lock (taken with neither held).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine-internal.h"
#include "exec.h"
#include "log.h"
#include "login.h"
#include "macro.h"
#include "nic.h"
#include "scsi.h"
#include "store.h"
#include "sysfs.h"

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define POLL_USEC           (50 * 1000)
#define POLL_FAST_USEC      (10 * 1000) /* the first second of a wait: devices come fast */
#define POLL_FAST_FOR_USEC  (1000 * 1000)
#define CLEANUP_EVERY_USEC  (1000 * 1000)
#define LOGOUT_TIMEOUT_USEC (60LL * 1000 * 1000)
#define SETTLE_USEC         (3LL * 1000 * 1000) /* sysfs catching up with iscsiadm's answer */
#define BUDGET_SLACK_USEC   (10LL * 1000 * 1000)
#define REPORT_LUNS_TIMEOUT 5000 /* ms */

enum task_kind {
        TASK_ITEM,
        TASK_CLEANUP,
        TASK_ERRORS, /* read a session's error counters for /metrics (engine_session_errors) */
};

struct task {
        enum task_kind kind;
        struct login_op *op; /* TASK_ITEM: a reference */
        size_t item;
        char path[BINDING_ID_MAX];
        struct binding_key key;  /* TASK_CLEANUP */
        int64_t until_usec;      /* TASK_CLEANUP: give up after (CLOCK_MONOTONIC) */
        int64_t not_before_usec; /* CLOCK_MONOTONIC */
        bool cancelled;          /* TASK_CLEANUP: a new login of the path took over */
        struct task *next;
};

struct owned {
        unsigned sid;
        char *path; /* the binding id format of the session's path */
};

/* A session as the event stream last told it (engine_sessions_watch). */
struct seen {
        unsigned sid;
        const char *state;       /* "logged-in" or "failed" (static) */
        char id[BINDING_ID_MAX]; /* its path, as a binding id */
};

struct logins {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t threads[LOGIN_THREADS];
        size_t n_threads;
        bool stopping;
        struct task *head;
        char **active; /* paths a thread works on */
        size_t n_active;
        char **logging_in; /* paths a login item works on */
        size_t n_logging_in;
        struct task **cleanups; /* the clean-up tasks, queued or running */
        size_t n_cleanups;
        struct login_op **ops; /* running, and the last LOGIN_KEEP finished */
        size_t n_ops;
        struct owned *owned; /* the sessions we logged in (the sessions table) */
        size_t n_owned;
        struct engine_session_errors *errs; /* engine_session_errors: as last read */
        size_t n_errs;
        int64_t errs_queued_usec; /* CLOCK_MONOTONIC of the last round queued, 0 never */
        unsigned errs_pending;    /* TASK_ERRORS queued or running */
        int stop_fd;              /* an eventfd, readable once stopping: ends a TASK_ERRORS */
        struct seen *seen;        /* engine_sessions_watch: each session's last published state */
        size_t n_seen;
        bool seen_primed; /* the first look was taken (it publishes nothing) */
};

/* --- names --------------------------------------------------------------------------------- */

const char *login_error_to_string(enum login_error e)
{
        static const char *const names[] = {
                [LOGIN_ERR_NONE] = "none",
                [LOGIN_ERR_NOT_FOUND] = "not-found",
                [LOGIN_ERR_ISCSID] = "iscsid-unavailable",
                [LOGIN_ERR_AUTH] = "login-auth-failed",
                [LOGIN_ERR_REFUSED] = "login-refused",
                [LOGIN_ERR_TIMEOUT] = "login-timeout",
                [LOGIN_ERR_FAILED] = "login-failed",
                [LOGIN_ERR_TRANSPORT] = "transport-unavailable",
                [LOGIN_ERR_BUSY] = "iscsid-busy",
                [LOGIN_ERR_IN_USE] = "in-use",
                [LOGIN_ERR_CANCELLED] = "cancelled",
                [LOGIN_ERR_INTERNAL] = "internal",
        };

        return (unsigned)e < ELEMENTSOF(names) ? names[e] : "internal";
}

const char *login_item_status_to_string(enum login_item_status s)
{
        static const char *const names[] = {
                [LOGIN_ITEM_PENDING] = "pending",       [LOGIN_ITEM_RUNNING] = "running",
                [LOGIN_ITEM_CREATED] = "created",       [LOGIN_ITEM_ADOPTED] = "adopted",
                [LOGIN_ITEM_LOGGED_OUT] = "logged-out", [LOGIN_ITEM_DONE] = "done",
                [LOGIN_ITEM_FAILED] = "failed",         [LOGIN_ITEM_CANCELLED] = "cancelled",
        };

        return (unsigned)s < ELEMENTSOF(names) ? names[s] : "failed";
}

const char *login_kind_to_string(enum login_kind k)
{
        static const char *const names[] = {
                [LOGIN_KIND_LOGIN] = "login",
                [LOGIN_KIND_LOGOUT] = "logout",
                [LOGIN_KIND_RESCAN] = "rescan",
                [LOGIN_KIND_STATS] = "stats",
        };

        return (unsigned)k < ELEMENTSOF(names) ? names[k] : "login";
}

const char *login_op_state_to_string(enum login_op_state s)
{
        return s == LOGIN_OP_RUNNING ? "running" : s == LOGIN_OP_DONE ? "done" : "cancelled";
}

/* --- operations ---------------------------------------------------------------------------- */

struct login_op *login_op_ref(struct login_op *op)
{
        if (op)
                __atomic_add_fetch(&op->refs, 1, __ATOMIC_RELAXED);
        return op;
}

struct login_op *login_op_unref(struct login_op *op)
{
        if (!op || __atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        for (size_t i = 0; i < op->n_items; i++) {
                free(op->items[i].output);
                free(op->items[i].expect);
                free(op->items[i].uses);
                free(op->items[i].stats);
        }
        free(op->items);
        free(op->expect);
        if (op->cancel_fd >= 0)
                close(op->cancel_fd);
        pthread_mutex_destroy(&op->lock);
        free(op);
        return NULL;
}

static bool op_cancelled(struct login_op *op)
{
        bool c;

        pthread_mutex_lock(&op->lock);
        c = op->state == LOGIN_OP_CANCELLED;
        pthread_mutex_unlock(&op->lock);
        return c;
}

/* --- readiness ----------------------------------------------------------------------------- */

/* SCSI peripheral types that get a block device: disk, optical memory, RBC, host-managed ZBC. */
static bool type_has_block(int type)
{
        return type == 0 || type == 7 || type == 14 || type == 20;
}

static const struct session_lun *lun_find(const struct session_detail *d, uint64_t lun)
{
        for (size_t i = 0; i < d->n_luns; i++)
                if (d->luns[i].lun == lun)
                        return &d->luns[i];
        return NULL;
}

static const char *lun_reason(const struct session_detail *d, const struct session_lun *l)
{
        if (!streq(l->state, "running"))
                return "device-state";
        if (l->type < 0 || type_has_block(l->type)) {
                if (!l->block[0])
                        return "no-block-device";
                if (!l->dev_node)
                        return "no-device-node";
                if (d->udev_running && !l->udev_done)
                        return "udev-pending";
        }
        return NULL;
}

int login_readiness(const struct session_detail *d, const uint64_t *expect, size_t n_expect,
                    bool scan_manual, struct login_lun_ready **ret, size_t *ret_n, bool *ret_ready,
                    const char **ret_reason)
{
        size_t n = n_expect ? n_expect : d->n_luns, k = 0;
        struct login_lun_ready *v = calloc(n + 1, sizeof(*v));
        const char *why = NULL;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                uint64_t lun = n_expect ? expect[i] : d->luns[i].lun;
                const struct session_lun *l = lun_find(d, lun);

                v[k] = (struct login_lun_ready){ .lun = lun, .present = l != NULL };
                scsi_lun_to_sam_hex(lun, v[k].lun_sam);
                v[k].reason = !l ? (scan_manual ? "not-scanned" : "no-device") : lun_reason(d, l);
                v[k].ready = !v[k].reason;
                if (v[k].reason && !why)
                        why = v[k].reason;
                k++;
        }
        if (!streq(d->info.state, "LOGGED_IN"))
                why = "session-state";
        else if (k == 0)
                why = "no-luns";
        *ret = v;
        *ret_n = k;
        *ret_ready = !why;
        *ret_reason = why;
        return 0;
}

/* --- iscsid -------------------------------------------------------------------------------- */

bool login_iscsid_listening(const char *proc_root)
{
        char path[PATH_MAX], line[512];
        _cleanup_(fclosep) FILE *f = NULL;

        snprintf(path, sizeof(path), "%s/net/unix", proc_root ?: "/proc");
        f = fopen(path, "re");
        if (!f)
                return false;
        /* "Num RefCount Protocol Flags Type St Inode Path": a listening socket has the
         * __SO_ACCEPTCON flag (00010000) and state 01 (SS_UNCONNECTED); its path is "@name". */
        while (fgets(line, sizeof(line), f)) {
                char flags[16], name[256];
                unsigned type, st;

                if (sscanf(line, "%*s %*s %*s %15s %x %x %*s %255s", flags, &type, &st, name) != 4)
                        continue;
                if (streq(name, "@" LOGIN_ISCSID_SOCKET) && streq(flags, "00010000"))
                        return true;
        }
        return false;
}

/* --- the pool ------------------------------------------------------------------------------ */

static bool strv_has(char **v, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

static int strv_add(char ***v, size_t *n, const char *s)
{
        char **p = realloc(*v, (*n + 1) * sizeof(**v));

        if (!p)
                return -ENOMEM;
        *v = p;
        p[*n] = strdup(s);
        if (!p[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

static void strv_del(char **v, size_t *n, const char *s)
{
        for (size_t i = 0; i < *n; i++)
                if (streq(v[i], s)) {
                        free(v[i]);
                        v[i] = v[--*n];
                        return;
                }
}

/* Append t to the queue. Holding pool.lock. */
static void queue_add(struct logins *L, struct task *t)
{
        struct task **pp = &L->head;

        while (*pp)
                pp = &(*pp)->next;
        t->next = NULL;
        *pp = t;
        pthread_cond_broadcast(&L->cond);
}

/* The state of sid as told (NULL: forget it). Takes L->lock. */
static void seen_set(struct logins *L, unsigned sid, const char *state, const char *id)
{
        size_t i;

        if (!L)
                return;
        pthread_mutex_lock(&L->lock);
        for (i = 0; i < L->n_seen && L->seen[i].sid != sid; i++)
                ;
        if (i == L->n_seen && state) {
                struct seen *grown = reallocarray(L->seen, L->n_seen + 1, sizeof(*L->seen));

                if (grown) {
                        L->seen = grown;
                        L->seen[L->n_seen++] = (struct seen){ .sid = sid };
                }
        }
        if (i < L->n_seen) {
                if (state) {
                        L->seen[i].state = state;
                        snprintf(L->seen[i].id, sizeof(L->seen[i].id), "%s", id);
                } else
                        L->seen[i] = L->seen[--L->n_seen];
        }
        pthread_mutex_unlock(&L->lock);
}

/*
 * The session.state event of an item that starts or ends (docs/events.md): a login is
 * logging-in, then logged-in (created or adopted) or failed (cancelled included); a logout
 * that ended the session is logged-out. Rescans, statistics and refused logouts change no state.
 */
static void item_event(struct login_op *op, const struct login_item *it, enum login_item_status st,
                       unsigned sid)
{
        const char *state = NULL;

        if (op->kind == LOGIN_KIND_LOGIN) {
                if (st == LOGIN_ITEM_RUNNING)
                        state = "logging-in";
                else if (st == LOGIN_ITEM_CREATED || st == LOGIN_ITEM_ADOPTED)
                        state = "logged-in";
                else if (st == LOGIN_ITEM_FAILED || st == LOGIN_ITEM_CANCELLED)
                        state = "failed";
        } else if (op->kind == LOGIN_KIND_LOGOUT && st == LOGIN_ITEM_LOGGED_OUT)
                state = "logged-out";
        if (!state || !op->engine)
                return;
        if (sid)
                seen_set(op->engine->logins, sid, streq(state, "logged-out") ? NULL : state,
                         it->binding);
        engine_emit(op->engine, &(struct event){ .type = EVENT_SESSION_STATE, .sid = sid },
                    it->binding, NULL, state);
}

static void item_finish(struct login_op *op, struct login_item *it, enum login_item_status st,
                        enum login_error err)
{
        bool fire = false;
        unsigned sid;

        pthread_mutex_lock(&op->lock);
        it->status = st;
        it->error = err;
        it->finished_usec = clock_usec(CLOCK_MONOTONIC);
        op->n_done++;
        if (op->n_done == op->n_items) {
                if (op->state == LOGIN_OP_RUNNING)
                        op->state = LOGIN_OP_DONE;
                op->finished_usec = clock_usec(CLOCK_REALTIME);
                fire = true;
        }
        sid = it->sid;
        pthread_mutex_unlock(&op->lock);
        item_event(op, it, st, sid);
        if (fire && op->done)
                op->done(op, op->userdata);
}

/* The item's detail, under the operation's lock (GET /api/v1/logins reads it meanwhile). */
_printf_(3, 4) static void item_detail(struct login_op *op, struct login_item *it, const char *fmt,
                                       ...)
{
        va_list ap;

        pthread_mutex_lock(&op->lock);
        va_start(ap, fmt);
        (void)vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&op->lock);
}

/* The item's session and readiness, under the operation's lock. */
static void item_set(struct login_op *op, struct login_item *it, unsigned sid, bool ready)
{
        pthread_mutex_lock(&op->lock);
        it->sid = sid;
        it->ready = ready;
        pthread_mutex_unlock(&op->lock);
}

/* Sleep up to usec, or until op (may be NULL) is cancelled. True if cancelled. */
static bool nap(struct login_op *op, int64_t usec)
{
        struct pollfd p = { .fd = op ? op->cancel_fd : -1, .events = POLLIN };

        if (usec <= 0)
                return op && op_cancelled(op);
        if (!op) {
                (void)nanosleep(&(struct timespec){ .tv_sec = usec / 1000000,
                                                    .tv_nsec = (usec % 1000000) * 1000 },
                                NULL);
                return false;
        }
        return poll(&p, 1, (int)((usec + 999) / 1000)) > 0;
}

/* --- sessions we own ----------------------------------------------------------------------- */

static const char *owned_path(struct logins *L, unsigned sid)
{
        for (size_t i = 0; i < L->n_owned; i++)
                if (L->owned[i].sid == sid)
                        return L->owned[i].path;
        return NULL;
}

static void owned_set(struct logins *L, unsigned sid, const char *path)
{
        for (size_t i = 0; i < L->n_owned; i++)
                if (L->owned[i].sid == sid) {
                        free(L->owned[i].path);
                        L->owned[i] = L->owned[--L->n_owned];
                        break;
                }
        if (path) {
                struct owned *p = realloc(L->owned, (L->n_owned + 1) * sizeof(*p));
                char *s = strdup(path);

                if (!p || !s) {
                        free(s);
                        if (p)
                                L->owned = p;
                        return;
                }
                L->owned = p;
                p[L->n_owned++] = (struct owned){ sid, s };
        }
}

/*
 * Record (path set) or drop (NULL) session sid as ours, in memory and in the sessions table,
 * with its audit entry. A storage failure is logged: the session is what it is either way.
 */
static void owned_record(struct engine *e, struct login_op *op, unsigned sid, const char *path,
                         const char *action, const char *audit_path)
{
        struct logins *L = e->logins;
        char name[16];
        uint64_t rev = 0;
        int r;

        snprintf(name, sizeof(name), "%u", sid);
        pthread_mutex_lock(&L->lock);
        owned_set(L, sid, path);
        pthread_mutex_unlock(&L->lock);

        pthread_mutex_lock(&e->write_lock);
        r = revision_next(e, &rev);
        if (r >= 0) {
                struct store_change c = {
                        .name = name,
                        .content = path,
                        .revision = rev,
                        .origin = "api",
                        .now_usec = clock_usec(CLOCK_REALTIME),
                        .action = action,
                        .actor = op->actor[0] ? op->actor : NULL,
                        .request_id = op->request_id[0] ? op->request_id : NULL,
                        .session = true,
                        .kind = "session",
                        .audit_name = audit_path,
                        .audit_before = path ? NULL : audit_path,
                        .audit_after = path,
                };

                r = store_apply(e->store, &c);
                if (r >= 0)
                        e->revision = rev;
        }
        pthread_mutex_unlock(&e->write_lock);
        if (r < 0)
                log_error("session %u: recording the %s failed: %s", sid, action, strerror(-r));
}

/* --- iscsiadm ------------------------------------------------------------------------------ */

/* "-p" of a path: ip:port[,tpgt], IPv6 in brackets. */
static void portal_arg(const struct binding_key *k, char *buf, size_t size)
{
        bool v6 = strchr(k->address, ':') != NULL;

        if (k->tpgt >= 0)
                snprintf(buf, size, "%s%s%s:%u,%d", v6 ? "[" : "", k->address, v6 ? "]" : "",
                         k->port, k->tpgt);
        else
                snprintf(buf, size, "%s%s%s:%u", v6 ? "[" : "", k->address, v6 ? "]" : "", k->port);
}

/* The argv of iscsiadm -m node ... --login|--logout for k (portal: the buffer of "-p"). */
#define NODE_ARGV(e, k, portal, verb)                                                              \
        {                                                                                          \
                (e)->iscsiadm, "-m", "node", "-T", (k)->target, "-p", (portal), "-I", (k)->iface,  \
                        (verb), NULL                                                               \
        }

/* The error an iscsiadm exit code means (iscsi_err.h of 2.1.8). */
static enum login_error exit_error(int code)
{
        switch (code) {
        case 24: /* ISCSI_ERR_LOGIN_AUTH_FAILED */
                return LOGIN_ERR_AUTH;
        case 19: /* ISCSI_ERR_FATAL_LOGIN */
                return LOGIN_ERR_REFUSED;
        case 8:  /* ISCSI_ERR_TRANS_TIMEOUT */
        case 11: /* ISCSI_ERR_PDU_TIMEOUT */
        case 33: /* ISCSI_ERR_REQ_TIMEDOUT */
                return LOGIN_ERR_TIMEOUT;
        case 18: /* ISCSI_ERR_ISCSID_COMM_ERR */
        case 20: /* ISCSI_ERR_ISCSID_NOTCONN */
                return LOGIN_ERR_ISCSID;
        case 12: /* ISCSI_ERR_TRANS_NOT_FOUND */
                return LOGIN_ERR_TRANSPORT;
        case 28: /* ISCSI_ERR_BUSY */
        case 29: /* ISCSI_ERR_AGAIN */
                return LOGIN_ERR_BUSY;
        default:
                return LOGIN_ERR_FAILED;
        }
}

/* The last line of iscsiadm's output, for a detail (printable ASCII only). */
static void output_tail(const char *output, char *buf, size_t size)
{
        const char *s = output ?: "", *end, *start;
        size_t k = 0;

        end = s + strlen(s);
        while (end > s && (end[-1] == '\n' || end[-1] == ' '))
                end--;
        start = end;
        while (start > s && start[-1] != '\n')
                start--;
        for (; start < end && k + 1 < size; start++)
                buf[k++] = *start >= 0x20 && *start < 0x7f ? *start : '?';
        buf[k] = '\0';
}

/* --- sysfs --------------------------------------------------------------------------------- */

static int sessions_now(struct engine *e, struct session_info **v, size_t *n)
{
        *v = NULL;
        *n = 0;
        return session_list(e->roots.sysfs, v, n);
}

/* The session of path k now: its sid and state (copied), 0 when none. */
static unsigned session_of(struct engine *e, const struct binding_key *k, char state[32])
{
        _cleanup_free_ struct session_info *v = NULL;
        const struct session_info *s;
        size_t n;

        if (sessions_now(e, &v, &n) < 0)
                return 0;
        s = session_find(v, n, k->target, k->address, k->port, k->tpgt, k->iface);
        if (!s)
                return 0;
        if (state)
                snprintf(state, 32, "%s", s->state);
        return s->sid;
}

/* Scan the session's target (channel 0, its target id, every LUN), as a manual-scan record
 * needs: "0 <id> -" to scsi_host/host<H>/scan. Blocks until the kernel has scanned. */
static int scan_target(struct engine *e, const struct session_detail *d)
{
        char path[PATH_MAX], buf[32];
        _cleanup_close_ int fd = -1;
        int k;

        if (d->info.host_no < 0 || d->target_id < 0)
                return -ENOENT;
        snprintf(path, sizeof(path), "%s/class/scsi_host/host%d/scan", e->roots.sysfs,
                 d->info.host_no);
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        k = snprintf(buf, sizeof(buf), "0 %d -", d->target_id);
        return write(fd, buf, (size_t)k) == k ? 0 : -errno;
}

/* REPORT LUNS through the first device node of the session that answers. */
static int report_luns(struct engine *e, const struct session_detail *d, uint64_t **ret,
                       size_t *ret_n)
{
        int r = -ENOENT;

        for (size_t i = 0; i < d->n_luns; i++) {
                const struct session_lun *l = &d->luns[i];
                char path[PATH_MAX];

                if (!streq(l->state, "running"))
                        continue;
                if (l->sg[0]) {
                        snprintf(path, sizeof(path), "%s/%s", e->roots.dev, l->sg);
                        r = scsi_report_luns(path, REPORT_LUNS_TIMEOUT, ret, ret_n);
                        if (r >= 0)
                                return r;
                }
                if (l->block[0] && l->dev_node) {
                        snprintf(path, sizeof(path), "%s/%s", e->roots.dev, l->block);
                        r = scsi_report_luns(path, REPORT_LUNS_TIMEOUT, ret, ret_n);
                        if (r >= 0)
                                return r;
                }
        }
        return r;
}

static bool rec_scan_manual(const struct binding_snap *b)
{
        return b && b->rec.val[NODE_F_SCAN] && streq(b->rec.val[NODE_F_SCAN], "manual");
}

static long rec_number(const struct binding_snap *b, int f, long dflt)
{
        const char *v = b ? b->rec.val[f] : NULL;
        char *end;
        long x;

        if (!v)
                return dflt;
        errno = 0;
        x = strtol(v, &end, 10);
        return errno || *end || end == v ? dflt : x;
}

/* The login budget of a record: login_timeout × (initial_login_retry_max + 1) + slack. */
static int64_t record_budget_usec(const struct binding_snap *b)
{
        long t = rec_number(b, NODE_F_CONN_LOGIN_TIMEOUT, 15);
        long n = rec_number(b, NODE_F_INITIAL_LOGIN_RETRY_MAX, 8);
        int64_t us;

        t = t < 1 ? 1 : t > 3600 ? 3600 : t;
        n = n < 0 ? 0 : n > 100 ? 100 : n;
        us = (int64_t)t * (n + 1) * 1000000 + BUDGET_SLACK_USEC;
        return MIN(us, (int64_t)LOGIN_TIMEOUT_MAX_MS * 1000);
}

/* Wait until the session's devices are ready, the deadline or a cancel. */
static void wait_ready(struct engine *e, struct login_op *op, struct login_item *it,
                       const struct binding_snap *b, int64_t deadline, bool scan)
{
        int64_t t0 = clock_usec(CLOCK_MONOTONIC);
        bool scanned = !scan;

        for (;;) {
                struct session_detail d = {};
                _cleanup_free_ struct login_lun_ready *lr = NULL;
                size_t n = 0;
                bool ready = false;
                const char *why = NULL;
                int r;

                r = session_detail_read(&e->roots, it->sid, &d);
                if (r < 0) {
                        item_set(op, it, it->sid, false);
                        return;
                }
                if (!scanned && streq(d.info.state, "LOGGED_IN")) {
                        r = scan_target(e, &d);
                        if (r < 0)
                                log_warning("session %u: scanning its target failed: %s", it->sid,
                                            strerror(-r));
                        scanned = true;
                        session_detail_done(&d);
                        continue;
                }
                if (op->n_expect && !it->expect) {
                        uint64_t *v = calloc(op->n_expect, sizeof(*v));

                        if (v) {
                                memcpy(v, op->expect, op->n_expect * sizeof(*op->expect));
                                pthread_mutex_lock(&op->lock);
                                it->expect = v;
                                it->n_expect = op->n_expect;
                                pthread_mutex_unlock(&op->lock);
                        }
                } else if (!op->n_expect && !it->expect_reported && d.n_luns > 0 &&
                           streq(d.info.state, "LOGGED_IN")) {
                        uint64_t *v = NULL;
                        size_t k = 0;

                        if (report_luns(e, &d, &v, &k) >= 0) {
                                pthread_mutex_lock(&op->lock);
                                free(it->expect);
                                it->expect = v;
                                it->n_expect = k;
                                it->expect_reported = true;
                                pthread_mutex_unlock(&op->lock);
                        }
                }
                r = login_readiness(&d, it->expect, it->n_expect, rec_scan_manual(b) && !scanned,
                                    &lr, &n, &ready, &why);
                session_detail_done(&d);
                if (r >= 0 && ready) {
                        item_set(op, it, it->sid, true);
                        return;
                }
                if (clock_usec(CLOCK_MONOTONIC) + POLL_USEC > deadline) {
                        item_detail(op, it,
                                    "the deadline passed before the devices were ready (%s)",
                                    why ?: "unknown");
                        item_set(op, it, it->sid, false);
                        return;
                }
                if (nap(op, clock_usec(CLOCK_MONOTONIC) - t0 < POLL_FAST_FOR_USEC ? POLL_FAST_USEC :
                                                                                    POLL_USEC))
                        return;
        }
}

/* --- what the items share ----------------------------------------------------------------- */

/* The deadline of an item that starts now: the operation's timeout, else dflt_usec. */
static int64_t item_deadline(const struct login_op *op, int64_t dflt_usec)
{
        return clock_usec(CLOCK_MONOTONIC) +
               (op->timeout_ms ? (int64_t)op->timeout_ms * 1000 : dflt_usec);
}

/* Read the item's session into *d. False when it is gone or unreadable: the item is finished. */
static bool item_read_session(struct engine *e, struct login_op *op, struct login_item *it,
                              struct session_detail *d)
{
        int r = session_detail_read(&e->roots, it->sid, d);

        if (r == -ENOENT || (r >= 0 && !streq(d->info.target, it->key.target))) {
                /* Gone, or its sid taken by another session since the operation started. */
                session_detail_done(d);
                item_detail(op, it, "no session %u", it->sid);
                item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_NOT_FOUND);
                return false;
        }
        if (r < 0) {
                item_detail(op, it, "reading session %u: %s", it->sid, strerror(-r));
                item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_INTERNAL);
                return false;
        }
        return true;
}

/* False when iscsid does not listen: the item is finished with the typed error and a hint. */
static bool item_iscsid(struct engine *e, struct login_op *op, struct login_item *it)
{
        if (login_iscsid_listening(e->proc_root))
                return true;
        item_detail(op, it,
                    "iscsid is not running (no listening socket @%s in this network "
                    "namespace): start it, for example `systemctl start iscsid`",
                    LOGIN_ISCSID_SOCKET);
        item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_ISCSID);
        return false;
}

/* Run iscsiadm for the item, keeping its exit code and output. False when it could not be
 * started: the item is finished. */
static bool item_exec(struct engine *e, struct login_op *op, struct login_item *it,
                      const char *const *argv, int64_t deadline, struct exec_result *res)
{
        int r = exec_run(argv, deadline, op->cancel_fd, res);

        if (r < 0) {
                item_detail(op, it, "cannot run %s: %s", e->iscsiadm, strerror(-r));
                item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_INTERNAL);
                return false;
        }
        pthread_mutex_lock(&op->lock);
        it->iscsiadm_exit = res->exit_code;
        it->output = TAKE_PTR(res->output);
        pthread_mutex_unlock(&op->lock);
        return true;
}

/* --- a login ------------------------------------------------------------------------------- */

/* The clean-up task of path, NULL if none. Holding pool.lock. */
static struct task *cleanup_find(struct logins *L, const char *path)
{
        for (size_t i = 0; i < L->n_cleanups; i++)
                if (streq(L->cleanups[i]->path, path))
                        return L->cleanups[i];
        return NULL;
}

/* Forget t as the clean-up of its path (it may be gone already). Holding pool.lock. */
static void cleanup_forget(struct logins *L, struct task *t)
{
        for (size_t i = 0; i < L->n_cleanups; i++)
                if (L->cleanups[i] == t) {
                        L->cleanups[i] = L->cleanups[--L->n_cleanups];
                        return;
                }
}

/*
 * After a login that did not finish (its iscsiadm killed, iscsid going on), log the path out
 * until `until`: a task that retries every second, since iscsid refuses to log out a session in
 * its first login. A later login of the path takes over instead (login_run).
 */
static void cleanup_queue(struct engine *e, const struct binding_key *k, const char *path,
                          int64_t until)
{
        struct logins *L = e->logins;
        struct task *t = calloc(1, sizeof(*t));

        if (!t) {
                log_error("'%s': no memory to undo a login that did not finish", path);
                return;
        }
        t->kind = TASK_CLEANUP;
        t->key = *k;
        snprintf(t->path, sizeof(t->path), "%s", path);
        t->until_usec = until;
        t->not_before_usec = 0;
        pthread_mutex_lock(&L->lock);
        {
                struct task *cur = cleanup_find(L, path), **v;

                if (cur) {
                        cur->until_usec = MAX(cur->until_usec, until);
                        pthread_mutex_unlock(&L->lock);
                        free(t);
                        return;
                }
                v = realloc(L->cleanups, (L->n_cleanups + 1) * sizeof(*v));
                if (!v) {
                        pthread_mutex_unlock(&L->lock);
                        free(t);
                        log_error("'%s': no memory to undo a login that did not finish", path);
                        return;
                }
                L->cleanups = v;
                v[L->n_cleanups++] = t;
        }
        queue_add(L, t);
        pthread_mutex_unlock(&L->lock);
        log_notice("'%s': the login did not finish: logging the path out until %" PRId64
                   " s from now",
                   path, (until - clock_usec(CLOCK_MONOTONIC)) / 1000000);
}

static void login_run(struct engine *e, struct login_op *op, struct login_item *it)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *b = NULL;
        struct exec_result res = {};
        int64_t start = clock_usec(CLOCK_MONOTONIC), deadline, budget;
        enum login_item_status st = LOGIN_ITEM_CREATED;
        char state[32] = "", tail[200], portal[80];
        const char *argv[] = NODE_ARGV(e, &it->key, portal, "--login");
        struct task *undo;

        if (engine_binding_get(e, it->binding, &b) < 0) {
                item_detail(op, it, "no binding '%.300s'", it->binding);
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_NOT_FOUND);
        }
        /* An earlier login of the path that did not finish is wanted again: stop undoing it.
         * iscsid may still be at it; then iscsiadm says 15 and we wait for its session. */
        pthread_mutex_lock(&e->logins->lock);
        undo = cleanup_find(e->logins, it->binding);
        if (undo) {
                undo->cancelled = true;
                cleanup_forget(e->logins, undo);
        }
        pthread_mutex_unlock(&e->logins->lock);
        item_set(op, it, session_of(e, &it->key, state), false);
        if (it->sid) {
                /* Adopted as it is: a repeated login answers at once, ready or not. */
                item_detail(op, it, "session %u of this path exists (%.31s): adopted", it->sid,
                            state);
                return item_finish(op, it, LOGIN_ITEM_ADOPTED, LOGIN_ERR_NONE);
        }
        if (!item_iscsid(e, op, it))
                return;
        budget = record_budget_usec(b);
        deadline = item_deadline(op, budget);
        portal_arg(&it->key, portal, sizeof(portal));
        if (!item_exec(e, op, it, argv, deadline, &res))
                return;
        output_tail(it->output, tail, sizeof(tail));

        if (res.timed_out || res.cancelled) {
                /* iscsid goes on: see what it made of it. */
                item_set(op, it, session_of(e, &it->key, state), false);
                if (it->sid && streq(state, "LOGGED_IN") && res.timed_out) {
                        owned_record(e, op, it->sid, it->binding, "login", it->binding);
                        item_detail(op, it,
                                    "logged in at the deadline; the devices were not waited "
                                    "for");
                        return item_finish(op, it, LOGIN_ITEM_CREATED, LOGIN_ERR_NONE);
                }
                cleanup_queue(e, &it->key, it->binding, start + budget);
                item_set(op, it, 0, false);
                if (res.cancelled) {
                        item_detail(op, it, "cancelled; the path is being logged out");
                        return item_finish(op, it, LOGIN_ITEM_CANCELLED, LOGIN_ERR_CANCELLED);
                }
                item_detail(op, it,
                            "no session within %u ms (iscsiadm was stopped; the path is "
                            "being logged out in the background)",
                            op->timeout_ms ? op->timeout_ms : (unsigned)(budget / 1000));
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_TIMEOUT);
        }
        if (res.exit_code != 0 && res.exit_code != 15) {
                enum login_error err = exit_error(res.exit_code);

                item_detail(op, it, "iscsiadm exited with %d: %s", res.exit_code,
                            tail[0] ? tail : "(no output)");
                return item_finish(op, it, LOGIN_ITEM_FAILED, err);
        }
        if (res.exit_code == 15)
                st = undo ? LOGIN_ITEM_CREATED : LOGIN_ITEM_ADOPTED;
        /*
         * sysfs shows the session before iscsiadm answers; allow it a moment all the same. With
         * 15 and no session, iscsid is still at a login of the path (an earlier one of ours whose
         * iscsiadm was killed, or someone else's): wait for it until the deadline.
         */
        for (int64_t until = res.exit_code == 15 ? deadline :
                                                   clock_usec(CLOCK_MONOTONIC) + SETTLE_USEC;
             ;) {
                item_set(op, it, session_of(e, &it->key, state), false);
                if (it->sid || clock_usec(CLOCK_MONOTONIC) > until || nap(op, POLL_FAST_USEC))
                        break;
        }
        if (!it->sid && res.exit_code == 15 && !op_cancelled(op)) {
                cleanup_queue(e, &it->key, it->binding, start + budget);
                item_detail(op, it,
                            "iscsid was still logging in to this path and made no session "
                            "within the deadline; the path is being logged out in the "
                            "background");
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_TIMEOUT);
        }
        if (!it->sid) {
                item_detail(op, it,
                            "iscsiadm exited with %d but sysfs shows no session of this "
                            "path",
                            res.exit_code);
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_FAILED);
        }
        if (st == LOGIN_ITEM_CREATED)
                owned_record(e, op, it->sid, it->binding, "login", it->binding);
        wait_ready(e, op, it, b, deadline, st == LOGIN_ITEM_CREATED && rec_scan_manual(b));
        if (op_cancelled(op) && st == LOGIN_ITEM_CREATED) {
                /* Cancelled while waiting for the devices: undo what this item did. */
                cleanup_queue(e, &it->key, it->binding, clock_usec(CLOCK_MONOTONIC) + budget);
                item_detail(op, it, "cancelled; session %u is being logged out", it->sid);
                return item_finish(op, it, LOGIN_ITEM_CANCELLED, LOGIN_ERR_CANCELLED);
        }
        item_finish(op, it, st, LOGIN_ERR_NONE);
}

/* --- a logout ------------------------------------------------------------------------------ */

/* Flush each block device of d and delete each SCSI device (force). */
static void drain_devices(struct engine *e, const struct session_detail *d)
{
        for (size_t i = 0; i < d->n_luns; i++) {
                const struct session_lun *l = &d->luns[i];
                char path[PATH_MAX];
                int fd;

                if (l->block[0] && l->dev_node) {
                        snprintf(path, sizeof(path), "%s/%s", e->roots.dev, l->block);
                        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                        if (fd >= 0) {
                                (void)fsync(fd);
                                if (ioctl(fd, BLKFLSBUF, 0) < 0)
                                        log_warning("flushing %s failed: %m", l->block);
                                close(fd);
                        }
                }
                snprintf(path, sizeof(path), "%s/bus/scsi/devices/%s/delete", e->roots.sysfs,
                         l->hctl);
                fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || write(fd, "1", 1) != 1)
                        log_warning("deleting SCSI device %s failed: %m", l->hctl);
                if (fd >= 0)
                        close(fd);
        }
}

static void logout_run(struct engine *e, struct login_op *op, struct login_item *it)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *b = NULL;
        struct session_detail d = {};
        struct exec_result res = {};
        int64_t deadline = item_deadline(op, LOGOUT_TIMEOUT_USEC);
        char tail[200], sid[16], portal[80];
        const char *by_node[] = NODE_ARGV(e, &it->key, portal, "--logout");
        /* No record (a boot session, one made by hand): by sid. */
        const char *by_sid[] = { e->iscsiadm, "-m", "session", "-r", sid, "--logout", NULL };
        int r;

        if (!item_read_session(e, op, it, &d))
                return;
        if (!op->force) {
                r = session_uses(&d, e->proc_root, &it->uses, &it->n_uses);
                if (r < 0) {
                        session_detail_done(&d);
                        item_detail(op, it,
                                    "cannot tell whether a device of session %u is in use (%s): "
                                    "not logged out",
                                    it->sid, strerror(-r));
                        return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_INTERNAL);
                }
                if (it->n_uses > 0) {
                        session_detail_done(&d);
                        item_detail(op, it,
                                    "a device of session %u is in use: stop using it, or log "
                                    "out with force=true",
                                    it->sid);
                        return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_IN_USE);
                }
        } else
                drain_devices(e, &d);
        session_detail_done(&d);
        if (!item_iscsid(e, op, it))
                return;
        portal_arg(&it->key, portal, sizeof(portal));
        snprintf(sid, sizeof(sid), "%u", it->sid);
        if (!item_exec(e, op, it, engine_binding_get(e, it->binding, &b) >= 0 ? by_node : by_sid,
                       deadline, &res))
                return;
        output_tail(it->output, tail, sizeof(tail));
        /* Gone is gone, whatever iscsiadm said (exit 21 or 2: there was nothing to log out). */
        for (int64_t until = clock_usec(CLOCK_MONOTONIC) + SETTLE_USEC;;) {
                char state[32];
                unsigned now = session_of(e, &it->key, state);

                if (now != it->sid) {
                        owned_record(e, op, it->sid, NULL, "logout", it->binding);
                        if (res.exit_code == 21 || res.exit_code == 2) {
                                item_detail(op, it, "no session %u", it->sid);
                                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_NOT_FOUND);
                        }
                        return item_finish(op, it, LOGIN_ITEM_LOGGED_OUT, LOGIN_ERR_NONE);
                }
                if (res.exit_code != 0 || clock_usec(CLOCK_MONOTONIC) > until ||
                    nap(op, POLL_FAST_USEC))
                        break;
        }
        if (res.timed_out || res.cancelled) {
                item_detail(op, it, "iscsiadm did not log out within the deadline");
                return item_finish(op, it, LOGIN_ITEM_FAILED,
                                   res.cancelled ? LOGIN_ERR_CANCELLED : LOGIN_ERR_TIMEOUT);
        }
        item_detail(op, it, "iscsiadm exited with %d: %s", res.exit_code,
                    tail[0] ? tail : "(no output)");
        item_finish(op, it, LOGIN_ITEM_FAILED,
                    res.exit_code == 9 || res.exit_code == 32 ? LOGIN_ERR_BUSY :
                    res.exit_code == 0                        ? LOGIN_ERR_FAILED :
                                                                exit_error(res.exit_code));
}

/* --- a rescan ------------------------------------------------------------------------------ */

#define RESCAN_TIMEOUT_USEC (10LL * 1000 * 1000)
#define STATS_TIMEOUT_USEC  (10LL * 1000 * 1000)

/* Rescan the session: each SCSI device ("1" to its rescan: a size change), then its target (new
 * LUNs), then wait for the devices as a login does. */
static void rescan_run(struct engine *e, struct login_op *op, struct login_item *it)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *b = NULL;
        int64_t deadline = item_deadline(op, RESCAN_TIMEOUT_USEC);
        struct session_detail d = {};
        int r;

        if (!item_read_session(e, op, it, &d))
                return;
        if (!streq(d.info.state, "LOGGED_IN")) {
                item_detail(op, it, "session %u is %.31s, not LOGGED_IN: nothing to scan", it->sid,
                            d.info.state[0] ? d.info.state : "unknown");
                session_detail_done(&d);
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_FAILED);
        }
        for (size_t i = 0; i < d.n_luns; i++) {
                char path[PATH_MAX];
                int fd;

                snprintf(path, sizeof(path), "%s/bus/scsi/devices/%s/rescan", e->roots.sysfs,
                         d.luns[i].hctl);
                fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || write(fd, "1", 1) != 1)
                        log_warning("rescanning SCSI device %s failed: %m", d.luns[i].hctl);
                if (fd >= 0)
                        close(fd);
        }
        r = scan_target(e, &d);
        session_detail_done(&d);
        if (r < 0) {
                item_detail(op, it, "scanning the target of session %u failed: %s", it->sid,
                            strerror(-r));
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_FAILED);
        }
        (void)engine_binding_get(e, it->binding, &b);
        wait_ready(e, op, it, b, deadline, false);
        item_finish(op, it, LOGIN_ITEM_DONE, LOGIN_ERR_NONE);
}

/* --- statistics ---------------------------------------------------------------------------- */

/*
 * The counters of `iscsiadm -m session -r N -s` (usr/iscsiadm.c print_stats(), stable since
 * 2.0): "iSCSI SNMP:" then "\t<name>: <u64>" lines, "iSCSI Extended:" then the transport's own.
 * Anything else is skipped; a name must be [a-z0-9_] and a value plain decimal.
 */
static size_t stats_parse_into(const char *out, struct login_stat *v, size_t max)
{
        bool extended = false;
        const char *line = out;
        size_t n = 0;

        while (line && *line) {
                const char *end = strchr(line, '\n') ?: line + strlen(line);
                size_t len = (size_t)(end - line), k = 0;
                char name[sizeof(v->name)];
                uint64_t x;

                if (len >= 14 && strncmp(line, "iSCSI Extended", 14) == 0)
                        extended = true;
                else if (len >= 10 && strncmp(line, "iSCSI SNMP", 10) == 0)
                        extended = false;
                else if (len > 1 && line[0] == '\t' && n < max) {
                        const char *p = line + 1;

                        while (p < end && k + 1 < sizeof(name) &&
                               ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                                name[k++] = *p++;
                        name[k] = '\0';
                        if (k > 0 && p + 2 < end && p[0] == ':' && p[1] == ' ') {
                                char num[24];
                                size_t nl = (size_t)(end - (p + 2));

                                if (nl < sizeof(num)) {
                                        memcpy(num, p + 2, nl);
                                        num[nl] = '\0';
                                        if (sysfs_parse_u64(num, &x)) {
                                                struct login_stat *st = &v[n++];

                                                snprintf(st->name, sizeof(st->name), "%s", name);
                                                st->value = x;
                                                st->extended = extended;
                                        }
                                }
                        }
                }
                line = *end ? end + 1 : NULL;
        }
        return n;
}

static int stats_parse(const char *out, struct login_item *it)
{
        it->stats = calloc(LOGIN_STATS_MAX, sizeof(*it->stats));
        if (!it->stats)
                return -ENOMEM;
        it->n_stats = stats_parse_into(out, it->stats, LOGIN_STATS_MAX);
        return 0;
}

static void stats_run(struct engine *e, struct login_op *op, struct login_item *it)
{
        int64_t deadline = item_deadline(op, STATS_TIMEOUT_USEC);
        struct exec_result res = {};
        char sid[16], tail[200];
        const char *argv[] = { e->iscsiadm, "-m", "session", "-r", sid, "-s", NULL };
        int r;

        if (!item_iscsid(e, op, it))
                return;
        snprintf(sid, sizeof(sid), "%u", it->sid);
        if (!item_exec(e, op, it, argv, deadline, &res))
                return;
        output_tail(it->output, tail, sizeof(tail));
        if (res.timed_out || res.cancelled) {
                exec_result_done(&res);
                item_detail(op, it, "iscsiadm did not answer within the deadline");
                return item_finish(op, it, LOGIN_ITEM_FAILED,
                                   res.cancelled ? LOGIN_ERR_CANCELLED : LOGIN_ERR_TIMEOUT);
        }
        if (res.exit_code != 0) {
                exec_result_done(&res);
                item_detail(op, it, "iscsiadm exited with %d: %s", res.exit_code,
                            tail[0] ? tail : "(no output)");
                return item_finish(op, it, LOGIN_ITEM_FAILED,
                                   res.exit_code == 21 || res.exit_code == 2 ?
                                           LOGIN_ERR_NOT_FOUND :
                                           exit_error(res.exit_code));
        }
        r = stats_parse(it->output ?: "", it);
        exec_result_done(&res);
        if (r < 0) {
                item_detail(op, it, "out of memory");
                return item_finish(op, it, LOGIN_ITEM_FAILED, LOGIN_ERR_INTERNAL);
        }
        item_finish(op, it, LOGIN_ITEM_DONE, LOGIN_ERR_NONE);
}

/* --- sessions that change by themselves ----------------------------------------------------- */

/* The event state of a kernel session state; NULL for a passing one (FREE) or an unknown one. */
static const char *kernel_state(const char *s)
{
        if (streq(s, "LOGGED_IN"))
                return "logged-in";
        if (streq(s, "FAILED"))
                return "failed";
        return NULL;
}

/* "api" for a session of path id that the daemon logged in, else "external". Under L->lock. */
static const char *session_origin(struct logins *L, unsigned sid, const char *id)
{
        const char *owned = owned_path(L, sid);

        return owned && streq(owned, id) ? "api" : "external";
}

void engine_sessions_watch(struct engine *e)
{
        struct logins *L = e->logins;
        _cleanup_free_ struct session_info *v = NULL;
        struct event *out = NULL;
        size_t n = 0, n_out = 0;

        if (!L || session_list(e->roots.sysfs, &v, &n) < 0)
                return;
        out = calloc(n + L->n_seen + 1, sizeof(*out));
        if (!out)
                return;
        pthread_mutex_lock(&L->lock);
        /* Gone: logged out by someone else (iscsiadm, iscsid's recovery giving up). */
        for (size_t i = 0; i < L->n_seen;) {
                bool present = false;

                for (size_t j = 0; j < n && !present; j++)
                        present = v[j].sid == L->seen[i].sid;
                /*
                 * Gone while one of our operations works on its path (a logout between our
                 * sysfs read and the operation's own event): the operation tells the stream
                 * and forgets it (item_event), or it is looked at again next time.
                 */
                if (present || strv_has(L->active, L->n_active, L->seen[i].id)) {
                        i++;
                        continue;
                }
                if (L->seen_primed) {
                        out[n_out] = (struct event){ .type = EVENT_SESSION_STATE,
                                                     .sid = L->seen[i].sid };
                        snprintf(out[n_out].name, sizeof(out[n_out].name), "%s", L->seen[i].id);
                        snprintf(out[n_out].origin, sizeof(out[n_out].origin), "%s",
                                 session_origin(L, L->seen[i].sid, L->seen[i].id));
                        snprintf(out[n_out].detail, sizeof(out[n_out].detail), "logged-out");
                        n_out++;
                }
                L->seen[i] = L->seen[--L->n_seen];
        }
        for (size_t j = 0; j < n; j++) {
                const char *st = kernel_state(v[j].state);
                struct binding_key k = {};
                char id[BINDING_ID_MAX];
                size_t i;

                if (!st)
                        continue;
                snprintf(k.target, sizeof(k.target), "%s", v[j].target);
                snprintf(k.address, sizeof(k.address), "%s", v[j].address);
                k.port = (uint16_t)v[j].port;
                k.tpgt = v[j].tpgt;
                snprintf(k.iface, sizeof(k.iface), "%s", v[j].ifacename);
                binding_id_format(&k, id, sizeof(id));
                /* One of our operations works on it: it tells the stream itself (item_event). */
                if (strv_has(L->active, L->n_active, id))
                        continue;
                for (i = 0; i < L->n_seen && L->seen[i].sid != v[j].sid; i++)
                        ;
                if (i < L->n_seen && streq(L->seen[i].state, st))
                        continue;
                if (i == L->n_seen) {
                        struct seen *grown = reallocarray(L->seen, L->n_seen + 1, sizeof(*L->seen));

                        if (!grown)
                                break;
                        L->seen = grown;
                        L->seen[L->n_seen++] = (struct seen){ .sid = v[j].sid };
                }
                L->seen[i].state = st;
                snprintf(L->seen[i].id, sizeof(L->seen[i].id), "%s", id);
                if (!L->seen_primed)
                        continue;
                out[n_out] = (struct event){ .type = EVENT_SESSION_STATE, .sid = v[j].sid };
                snprintf(out[n_out].name, sizeof(out[n_out].name), "%s", id);
                snprintf(out[n_out].origin, sizeof(out[n_out].origin), "%s",
                         session_origin(L, v[j].sid, id));
                snprintf(out[n_out].detail, sizeof(out[n_out].detail), "%s", st);
                n_out++;
        }
        L->seen_primed = true;
        pthread_mutex_unlock(&L->lock);
        /* Published outside the lock: a subscriber may call back into the engine. */
        for (size_t i = 0; i < n_out; i++) {
                char name[EVENT_NAME_MAX], origin[16], detail[EVENT_DETAIL_MAX];

                snprintf(name, sizeof(name), "%s", out[i].name);
                snprintf(origin, sizeof(origin), "%s", out[i].origin);
                snprintf(detail, sizeof(detail), "%s", out[i].detail);
                engine_emit(e, &out[i], name, origin, detail);
        }
        free(out);
}

/* --- error counters for /metrics ---------------------------------------------------------- */

#define ERRORS_TIMEOUT_USEC (10LL * 1000 * 1000)

/* The cached counters of sid, or NULL. Under L->lock. */
static struct engine_session_errors *errors_find(struct logins *L, unsigned sid)
{
        for (size_t i = 0; i < L->n_errs; i++)
                if (L->errs[i].sid == sid)
                        return &L->errs[i];
        return NULL;
}

/* Read the counters of the session of task t ("stats:<sid>") and keep them. */
static void errors_run(struct engine *e, struct task *t)
{
        struct logins *L = e->logins;
        struct exec_result res = {};
        _cleanup_free_ struct login_stat *v = NULL;
        struct engine_session_errors got = { .digest_err = SESSION_UNKNOWN_U64,
                                             .timeout_err = SESSION_UNKNOWN_U64 };
        unsigned sid = (unsigned)strtoul(t->path + strlen("stats:"), NULL, 10);
        char arg[16];
        const char *argv[] = { e->iscsiadm, "-m", "session", "-r", arg, "-s", NULL };
        size_t n = 0;

        snprintf(arg, sizeof(arg), "%u", sid);
        v = calloc(LOGIN_STATS_MAX, sizeof(*v));
        if (v && login_iscsid_listening(e->proc_root) &&
            exec_run(argv, clock_usec(CLOCK_MONOTONIC) + ERRORS_TIMEOUT_USEC, L->stop_fd, &res) >=
                    0) {
                if (!res.timed_out && res.exit_code == 0)
                        n = stats_parse_into(res.output ?: "", v, LOGIN_STATS_MAX);
                exec_result_done(&res);
        }
        for (size_t i = 0; i < n; i++)
                if (!v[i].extended && streq(v[i].name, "digest_err"))
                        got.digest_err = v[i].value;
                else if (!v[i].extended && streq(v[i].name, "timeout_err"))
                        got.timeout_err = v[i].value;

        pthread_mutex_lock(&L->lock);
        struct engine_session_errors *c = errors_find(L, sid);
        if (c && n > 0) {
                c->digest_err = got.digest_err;
                c->timeout_err = got.timeout_err;
                c->read_usec = clock_usec(CLOCK_REALTIME);
        }
        L->errs_pending--;
        pthread_mutex_unlock(&L->lock);
}

int engine_session_errors(struct engine *e, const unsigned *sids, size_t n_sids,
                          int64_t max_age_usec, struct engine_session_errors **ret, size_t *ret_n)
{
        struct logins *L = e->logins;
        int64_t now = clock_usec(CLOCK_MONOTONIC);
        struct engine_session_errors *out = NULL;
        size_t k = 0;

        if (!L)
                return -ESHUTDOWN;
        pthread_mutex_lock(&L->lock);
        /* The sessions that went away are forgotten; new ones get an entry, unknown until read. */
        for (size_t i = 0; i < L->n_errs;) {
                bool live = false;

                for (size_t j = 0; j < n_sids && !live; j++)
                        live = sids[j] == L->errs[i].sid;
                if (live)
                        i++;
                else
                        L->errs[i] = L->errs[--L->n_errs];
        }
        for (size_t j = 0; j < n_sids; j++) {
                struct engine_session_errors *grown;

                if (errors_find(L, sids[j]))
                        continue;
                grown = reallocarray(L->errs, L->n_errs + 1, sizeof(*L->errs));
                if (!grown)
                        break;
                L->errs = grown;
                L->errs[L->n_errs++] = (struct engine_session_errors){
                        .sid = sids[j],
                        .digest_err = SESSION_UNKNOWN_U64,
                        .timeout_err = SESSION_UNKNOWN_U64,
                };
        }
        /* A new round of reads when the last one is old and done: answered by a later call. */
        if (!L->stopping && L->errs_pending == 0 &&
            (L->errs_queued_usec == 0 || now - L->errs_queued_usec >= max_age_usec)) {
                L->errs_queued_usec = now;
                for (size_t i = 0; i < L->n_errs; i++) {
                        struct task *t = calloc(1, sizeof(*t));

                        if (!t)
                                break;
                        t->kind = TASK_ERRORS;
                        snprintf(t->path, sizeof(t->path), "stats:%u", L->errs[i].sid);
                        L->errs_pending++;
                        queue_add(L, t);
                }
                pthread_cond_broadcast(&L->cond);
        }
        if (L->n_errs > 0) {
                out = calloc(L->n_errs, sizeof(*out));
                if (out) {
                        for (size_t i = 0; i < L->n_errs; i++)
                                if (L->errs[i].read_usec)
                                        out[k++] = L->errs[i];
                }
        }
        pthread_mutex_unlock(&L->lock);
        if (L->n_errs > 0 && !out)
                return -ENOMEM;
        *ret = out;
        *ret_n = k;
        return 0;
}

/* One attempt to log out a path whose login did not finish. True when done with it. */
static bool cleanup_run(struct engine *e, struct task *t)
{
        struct exec_result res = {};
        char state[32], portal[80];
        const char *argv[] = NODE_ARGV(e, &t->key, portal, "--logout");
        unsigned sid;
        bool cancelled;
        int r;

        pthread_mutex_lock(&e->logins->lock);
        cancelled = t->cancelled;
        pthread_mutex_unlock(&e->logins->lock);
        if (cancelled)
                return true;
        sid = session_of(e, &t->key, state);
        portal_arg(&t->key, portal, sizeof(portal));
        if (sid && login_iscsid_listening(e->proc_root)) {
                r = exec_run(argv, clock_usec(CLOCK_MONOTONIC) + LOGOUT_TIMEOUT_USEC, -1, &res);
                if (r >= 0 && res.exit_code == 0)
                        log_notice("'%s': logged out session %u, whose login did not finish",
                                   t->path, sid);
                exec_result_done(&res);
        }
        return clock_usec(CLOCK_MONOTONIC) >= t->until_usec;
}

/* --- threads ------------------------------------------------------------------------------- */

/* The first task that may run now, unlinked; or NULL with *ret_wake the earliest due time. */
static struct task *queue_take(struct logins *L, int64_t now, int64_t *ret_wake)
{
        int64_t wake = INT64_MAX;

        for (struct task **pp = &L->head; *pp; pp = &(*pp)->next) {
                struct task *t = *pp;

                if (strv_has(L->active, L->n_active, t->path))
                        continue;
                if (t->not_before_usec > now) {
                        wake = MIN(wake, t->not_before_usec);
                        continue;
                }
                *pp = t->next;
                return t;
        }
        *ret_wake = wake;
        return NULL;
}

static void *login_worker(void *userdata)
{
        struct engine *e = userdata;
        struct logins *L = e->logins;

        (void)pthread_setname_np(pthread_self(), "ifd-login");
        pthread_mutex_lock(&L->lock);
        while (!L->stopping) {
                char path[BINDING_ID_MAX];
                int64_t wake = INT64_MAX;
                struct task *t = queue_take(L, clock_usec(CLOCK_MONOTONIC), &wake);

                if (!t) {
                        if (wake == INT64_MAX)
                                pthread_cond_wait(&L->cond, &L->lock);
                        else {
                                int64_t rt = clock_usec(CLOCK_REALTIME) +
                                             (wake - clock_usec(CLOCK_MONOTONIC));
                                struct timespec ts = { .tv_sec = rt / 1000000,
                                                       .tv_nsec = (rt % 1000000) * 1000 };

                                pthread_cond_timedwait(&L->cond, &L->lock, &ts);
                        }
                        continue;
                }
                snprintf(path, sizeof(path), "%s", t->path);
                if (strv_add(&L->active, &L->n_active, t->path) < 0) {
                        /* Try again later; nothing is lost. */
                        t->not_before_usec = clock_usec(CLOCK_MONOTONIC) + POLL_USEC;
                        queue_add(L, t);
                        continue;
                }
                pthread_mutex_unlock(&L->lock);

                if (t->kind == TASK_ITEM) {
                        struct login_item *it = &t->op->items[t->item];

                        if (op_cancelled(t->op)) {
                                item_detail(t->op, it, "cancelled before it started");
                                item_finish(t->op, it, LOGIN_ITEM_CANCELLED, LOGIN_ERR_CANCELLED);
                        } else {
                                bool login = t->op->kind == LOGIN_KIND_LOGIN;

                                pthread_mutex_lock(&t->op->lock);
                                it->status = LOGIN_ITEM_RUNNING;
                                it->started_usec = clock_usec(CLOCK_MONOTONIC);
                                pthread_mutex_unlock(&t->op->lock);
                                item_event(t->op, it, LOGIN_ITEM_RUNNING, 0);
                                pthread_mutex_lock(&L->lock);
                                /* Shown as "logging-in"; no memory: shown as the kernel says. */
                                if (login)
                                        (void)strv_add(&L->logging_in, &L->n_logging_in, path);
                                pthread_mutex_unlock(&L->lock);
                                switch (t->op->kind) {
                                case LOGIN_KIND_LOGIN:
                                        login_run(e, t->op, it);
                                        break;
                                case LOGIN_KIND_LOGOUT:
                                        logout_run(e, t->op, it);
                                        break;
                                case LOGIN_KIND_RESCAN:
                                        rescan_run(e, t->op, it);
                                        break;
                                case LOGIN_KIND_STATS:
                                        stats_run(e, t->op, it);
                                        break;
                                }
                                pthread_mutex_lock(&L->lock);
                                strv_del(L->logging_in, &L->n_logging_in, path);
                                pthread_mutex_unlock(&L->lock);
                        }
                        login_op_unref(t->op);
                        free(t);
                        t = NULL;
                } else if (t->kind == TASK_ERRORS) {
                        errors_run(e, t);
                        free(t);
                        t = NULL;
                } else if (cleanup_run(e, t)) {
                        pthread_mutex_lock(&L->lock);
                        cleanup_forget(L, t);
                        strv_del(L->active, &L->n_active, t->path);
                        pthread_cond_broadcast(&L->cond);
                        free(t);
                        continue;
                }

                pthread_mutex_lock(&L->lock);
                if (t) {
                        /* A clean-up goes on: its next attempt, after the others. */
                        strv_del(L->active, &L->n_active, t->path);
                        t->not_before_usec = clock_usec(CLOCK_MONOTONIC) + CLEANUP_EVERY_USEC;
                        queue_add(L, t);
                        continue;
                }
                /* The item's path is free again. */
                strv_del(L->active, &L->n_active, path);
                pthread_cond_broadcast(&L->cond);
        }
        pthread_mutex_unlock(&L->lock);
        return NULL;
}

/* --- the engine's verbs -------------------------------------------------------------------- */

static int load_owned(const struct store_row *row, void *userdata)
{
        struct logins *L = userdata;
        uint64_t sid;

        if (sysfs_parse_u64(row->name, &sid) && sid > 0 && sid <= UINT32_MAX)
                owned_set(L, (unsigned)sid, row->content);
        return 0;
}

int logins_start(struct engine *e)
{
        struct logins *L = calloc(1, sizeof(*L));
        int r;

        if (!L)
                return -ENOMEM;
        pthread_mutex_init(&L->lock, NULL);
        pthread_cond_init(&L->cond, NULL);
        e->logins = L;
        L->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (L->stop_fd < 0)
                return -errno;
        r = store_session_rows_foreach(e->store, load_owned, L);
        if (r < 0)
                return r;
        for (size_t i = 0; i < LOGIN_THREADS; i++) {
                r = -pthread_create(&L->threads[i], NULL, login_worker, e);
                if (r < 0)
                        return r;
                L->n_threads++;
        }
        return 0;
}

static void op_cancel(struct login_op *op)
{
        uint64_t one = 1;

        pthread_mutex_lock(&op->lock);
        if (op->state == LOGIN_OP_RUNNING)
                op->state = LOGIN_OP_CANCELLED;
        pthread_mutex_unlock(&op->lock);
        if (write(op->cancel_fd, &one, sizeof(one)) < 0)
                log_debug("cancel: %m");
}

void logins_stop(struct engine *e)
{
        struct logins *L = e->logins;
        struct task *t;

        if (!L)
                return;
        pthread_mutex_lock(&L->lock);
        for (size_t i = 0; i < L->n_ops; i++)
                op_cancel(L->ops[i]);
        L->stopping = true;
        pthread_cond_broadcast(&L->cond);
        pthread_mutex_unlock(&L->lock);
        if (L->stop_fd >= 0 && write(L->stop_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
                log_debug("stop: %m");
        for (size_t i = 0; i < L->n_threads; i++)
                pthread_join(L->threads[i], NULL);
        L->n_threads = 0;
        /* What never ran: its items end cancelled, so that a waiting answer is sent. */
        while ((t = L->head)) {
                L->head = t->next;
                if (t->kind == TASK_ITEM) {
                        item_detail(t->op, &t->op->items[t->item], "the daemon is stopping");
                        item_finish(t->op, &t->op->items[t->item], LOGIN_ITEM_CANCELLED,
                                    LOGIN_ERR_CANCELLED);
                        login_op_unref(t->op);
                } else if (t->kind == TASK_ERRORS)
                        L->errs_pending--;
                else if (!t->cancelled)
                        log_warning("'%s': stopping before a login that did not finish was "
                                    "logged out",
                                    t->path);
                free(t);
        }
        L->n_cleanups = 0; /* every clean-up task was in the queue: freed above */
}

void logins_free(struct engine *e)
{
        struct logins *L = e->logins;

        if (!L)
                return;
        logins_stop(e);
        for (size_t i = 0; i < L->n_ops; i++)
                login_op_unref(L->ops[i]);
        free(L->ops);
        free(L->errs);
        free(L->seen);
        if (L->stop_fd >= 0)
                close(L->stop_fd);
        for (size_t i = 0; i < L->n_active; i++)
                free(L->active[i]);
        free(L->active);
        for (size_t i = 0; i < L->n_logging_in; i++)
                free(L->logging_in[i]);
        free(L->logging_in);
        free(L->cleanups);
        for (size_t i = 0; i < L->n_owned; i++)
                free(L->owned[i].path);
        free(L->owned);
        pthread_cond_destroy(&L->cond);
        pthread_mutex_destroy(&L->lock);
        free(L);
        e->logins = NULL;
}

static int op_new(const struct engine_ctx *ctx, enum login_kind kind, size_t n,
                  struct login_op **ret)
{
        struct login_op *op = calloc(1, sizeof(*op));
        uint8_t rnd[LOGIN_ID_LEN / 2];

        if (!op)
                return -ENOMEM;
        op->refs = 1;
        op->kind = kind;
        op->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&op->lock, NULL);
        op->items = calloc(n, sizeof(*op->items));
        if (op->cancel_fd < 0 || !op->items ||
            getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
                login_op_unref(op);
                return -ENOMEM;
        }
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(op->id + 2 * i, 3, "%02x", rnd[i]);
        op->n_items = n;
        for (size_t i = 0; i < n; i++)
                op->items[i].iscsiadm_exit = -1;
        if (ctx && ctx->actor)
                snprintf(op->actor, sizeof(op->actor), "%s", ctx->actor);
        if (ctx && ctx->request_id)
                snprintf(op->request_id, sizeof(op->request_id), "%s", ctx->request_id);
        op->created_usec = clock_usec(CLOCK_REALTIME);
        *ret = op;
        return 0;
}

/* Keep op in the table (a reference), dropping the oldest finished beyond LOGIN_KEEP. Holding
 * pool.lock. */
static int ops_keep(struct logins *L, struct login_op *op)
{
        size_t finished = 0;
        struct login_op **v;

        for (size_t i = 0; i < L->n_ops; i++)
                if (L->ops[i]->state != LOGIN_OP_RUNNING)
                        finished++;
        for (size_t i = 0; finished >= LOGIN_KEEP && i < L->n_ops;) {
                if (L->ops[i]->state != LOGIN_OP_RUNNING) {
                        login_op_unref(L->ops[i]);
                        memmove(L->ops + i, L->ops + i + 1, (L->n_ops - i - 1) * sizeof(*L->ops));
                        L->n_ops--;
                        finished--;
                } else
                        i++;
        }
        v = realloc(L->ops, (L->n_ops + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        L->ops = v;
        v[L->n_ops++] = login_op_ref(op);
        return 0;
}

/* Queue every item of op and keep it. */
static int op_submit(struct engine *e, struct login_op *op)
{
        struct logins *L = e->logins;
        struct task **tasks = calloc(op->n_items, sizeof(*tasks));
        int r = 0;

        if (!tasks)
                return -ENOMEM;
        for (size_t i = 0; i < op->n_items && r >= 0; i++) {
                tasks[i] = calloc(1, sizeof(**tasks));
                if (!tasks[i])
                        r = -ENOMEM;
        }
        pthread_mutex_lock(&L->lock);
        if (r >= 0 && L->stopping)
                r = -ESHUTDOWN;
        if (r >= 0)
                r = ops_keep(L, op);
        if (r >= 0)
                for (size_t i = 0; i < op->n_items; i++) {
                        struct task *t = TAKE_PTR(tasks[i]);

                        t->kind = TASK_ITEM;
                        t->op = login_op_ref(op);
                        t->item = i;
                        snprintf(t->path, sizeof(t->path), "%s", op->items[i].binding);
                        queue_add(L, t);
                }
        pthread_mutex_unlock(&L->lock);
        for (size_t i = 0; i < op->n_items; i++)
                free(tasks[i]);
        free(tasks);
        return r;
}

int engine_login_start(struct engine *e, const struct engine_ctx *ctx,
                       const struct login_request *req,
                       void (*done)(struct login_op *op, void *userdata), void *userdata,
                       struct login_op **ret, bool *ret_existing, struct iface_error *err)
{
        struct login_op *op = NULL;
        int r;

        assert_return(e && req && ret && ret_existing && err, -EINVAL);
        assert_return(req->n_bindings >= 1 && req->n_bindings <= LOGIN_ITEMS_MAX, -EINVAL);
        assert_return(req->n_expect <= LOGIN_EXPECT_MAX, -EINVAL);
        *ret_existing = false;
        if (req->key) {
                struct logins *L = e->logins;

                if (strlen(req->key) > LOGIN_KEY_MAX)
                        return -EINVAL;
                pthread_mutex_lock(&L->lock);
                for (size_t i = 0; i < L->n_ops; i++)
                        if (streq(L->ops[i]->key, req->key)) {
                                r = L->ops[i]->body_hash == req->body_hash ? 0 : -EILSEQ;
                                if (r == 0)
                                        *ret = login_op_ref(L->ops[i]);
                                pthread_mutex_unlock(&L->lock);
                                *ret_existing = r == 0;
                                return r;
                        }
                pthread_mutex_unlock(&L->lock);
        }
        r = op_new(ctx, LOGIN_KIND_LOGIN, req->n_bindings, &op);
        if (r < 0)
                return r;
        for (size_t i = 0; i < req->n_bindings; i++) {
                struct login_item *it = &op->items[i];

                r = binding_id_parse(req->bindings[i], &it->key, err);
                if (r < 0) {
                        login_op_unref(op);
                        return r;
                }
                binding_id_format(&it->key, it->binding, sizeof(it->binding));
        }
        op->timeout_ms = req->timeout_ms;
        op->batch = req->batch;
        if (req->n_expect) {
                op->expect = calloc(req->n_expect, sizeof(*op->expect));
                if (!op->expect) {
                        login_op_unref(op);
                        return -ENOMEM;
                }
                memcpy(op->expect, req->expect, req->n_expect * sizeof(*req->expect));
                op->n_expect = req->n_expect;
        }
        if (req->key)
                snprintf(op->key, sizeof(op->key), "%s", req->key);
        op->body_hash = req->body_hash;
        op->done = done;
        op->userdata = userdata;
        op->engine = e;
        r = op_submit(e, op);
        if (r < 0) {
                login_op_unref(op);
                return r;
        }
        *ret = op;
        return 0;
}

int engine_session_op_start(struct engine *e, const struct engine_ctx *ctx, unsigned sid,
                            enum login_kind kind, bool force, unsigned timeout_ms,
                            void (*done)(struct login_op *op, void *userdata), void *userdata,
                            struct login_op **ret)
{
        _cleanup_free_ struct session_info *v = NULL;
        struct login_op *op = NULL;
        struct login_item *it;
        size_t n = 0;
        int r;

        assert_return(e && ret && kind != LOGIN_KIND_LOGIN, -EINVAL);
        assert_return(timeout_ms <= LOGIN_TIMEOUT_MAX_MS, -EINVAL);
        r = sessions_now(e, &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (v[i].sid == sid) {
                        r = op_new(ctx, kind, 1, &op);
                        if (r < 0)
                                return r;
                        it = &op->items[0];
                        it->sid = sid;
                        snprintf(it->key.target, sizeof(it->key.target), "%s", v[i].target);
                        snprintf(it->key.address, sizeof(it->key.address), "%s", v[i].address);
                        it->key.port = (uint16_t)v[i].port;
                        it->key.tpgt = v[i].tpgt;
                        snprintf(it->key.iface, sizeof(it->key.iface), "%s", v[i].ifacename);
                        binding_id_format(&it->key, it->binding, sizeof(it->binding));
                        break;
                }
        if (!op)
                return -ENOENT;
        op->force = force;
        op->timeout_ms = timeout_ms;
        op->done = done;
        op->userdata = userdata;
        op->engine = e;
        r = op_submit(e, op);
        if (r < 0) {
                login_op_unref(op);
                return r;
        }
        *ret = op;
        return 0;
}

int engine_login_get(struct engine *e, const char *id, struct login_op **ret)
{
        struct logins *L = e->logins;
        int r = -ENOENT;

        assert_return(e && id && ret, -EINVAL);
        pthread_mutex_lock(&L->lock);
        for (size_t i = 0; i < L->n_ops; i++)
                if (streq(L->ops[i]->id, id)) {
                        *ret = login_op_ref(L->ops[i]);
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&L->lock);
        return r;
}

int engine_login_list(struct engine *e, struct login_op ***ret, size_t *ret_n)
{
        struct logins *L = e->logins;
        struct login_op **v;
        size_t n = 0;

        assert_return(e && ret && ret_n, -EINVAL);
        pthread_mutex_lock(&L->lock);
        v = calloc(L->n_ops + 1, sizeof(*v));
        if (v)
                /* Newest first. */
                for (size_t i = L->n_ops; i-- > 0;)
                        v[n++] = login_op_ref(L->ops[i]);
        pthread_mutex_unlock(&L->lock);
        if (!v)
                return -ENOMEM;
        *ret = v;
        *ret_n = n;
        return 0;
}

int engine_login_cancel_or_remove(struct engine *e, const char *id)
{
        struct logins *L = e->logins;
        int r = -ENOENT;

        assert_return(e && id, -EINVAL);
        pthread_mutex_lock(&L->lock);
        for (size_t i = 0; i < L->n_ops; i++) {
                struct login_op *op = L->ops[i];

                if (!streq(op->id, id))
                        continue;
                if (op->state == LOGIN_OP_RUNNING) {
                        op_cancel(op);
                        r = 0;
                } else {
                        memmove(L->ops + i, L->ops + i + 1, (L->n_ops - i - 1) * sizeof(*L->ops));
                        L->n_ops--;
                        login_op_unref(op);
                        r = 1;
                }
                break;
        }
        pthread_mutex_unlock(&L->lock);
        return r;
}

/* --- the sessions view --------------------------------------------------------------------- */

void engine_session_done(struct engine_session *s)
{
        if (!s)
                return;
        session_detail_done(&s->d);
        binding_snap_unref(s->binding);
        free(s->ready);
        *s = (struct engine_session){};
}

void engine_sessions_free(struct engine_session *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                engine_session_done(&v[i]);
        free(v);
}

/* Fill what the engine knows of a session besides sysfs. */
static int session_fill(struct engine *e, const struct nic_snapshot *nics, struct engine_session *s)
{
        struct logins *L = e->logins;
        struct binding_key k = {};
        char id[BINDING_ID_MAX];
        const char *owned;
        bool ready = false;
        const char *why = NULL;
        int r;

        snprintf(k.target, sizeof(k.target), "%s", s->d.info.target);
        snprintf(k.address, sizeof(k.address), "%s", s->d.info.address);
        k.port = (uint16_t)s->d.info.port;
        k.tpgt = s->d.info.tpgt;
        snprintf(k.iface, sizeof(k.iface), "%s", s->d.info.ifacename);
        binding_id_format(&k, id, sizeof(id));
        (void)engine_binding_get(e, id, &s->binding);

        pthread_mutex_lock(&L->lock);
        owned = owned_path(L, s->d.info.sid);
        s->origin = s->d.boot ? "boot" : owned && streq(owned, id) ? "api" : "external";
        s->logging_in = strv_has(L->logging_in, L->n_logging_in, id);
        pthread_mutex_unlock(&L->lock);

        /* The NIC whose address the connection leaves from. */
        for (size_t i = 0; nics && !s->nic[0] && i < nics->n_nics; i++)
                for (size_t a = 0; a < nics->nics[i].n_addrs; a++)
                        if (session_address_equal(nics->nics[i].addrs[a].address,
                                                  s->d.local_address)) {
                                snprintf(s->nic, sizeof(s->nic), "%s", nics->nics[i].name);
                                break;
                        }
        if (!s->nic[0])
                snprintf(s->nic, sizeof(s->nic), "%s", s->d.netdev);

        r = login_readiness(&s->d, NULL, 0, rec_scan_manual(s->binding), &s->ready, &s->n_ready,
                            &ready, &why);
        s->all_ready = ready;
        s->not_ready_reason = why;
        return r;
}

int engine_session_get(struct engine *e, unsigned sid, struct engine_session *ret)
{
        struct nic_snapshot *nics;
        int r;

        assert_return(e && ret, -EINVAL);
        *ret = (struct engine_session){};
        r = session_detail_read(&e->roots, sid, &ret->d);
        if (r < 0)
                return r;
        nics = nic_monitor_snapshot(e->nics);
        r = session_fill(e, nics, ret);
        nic_snapshot_unref(nics);
        if (r < 0)
                engine_session_done(ret);
        return r;
}

int engine_sessions_list(struct engine *e, struct engine_session **ret, size_t *ret_n)
{
        _cleanup_free_ struct session_info *v = NULL;
        struct engine_session *out;
        struct nic_snapshot *nics;
        size_t n = 0, k = 0;
        int r;

        assert_return(e && ret && ret_n, -EINVAL);
        r = sessions_now(e, &v, &n);
        if (r < 0)
                return r;
        out = calloc(n + 1, sizeof(*out));
        if (!out)
                return -ENOMEM;
        nics = nic_monitor_snapshot(e->nics);
        for (size_t i = 0; i < n; i++) {
                r = session_detail_read(&e->roots, v[i].sid, &out[k].d);
                if (r == -ENOENT)
                        continue; /* gone since the listing */
                if (r >= 0)
                        r = session_fill(e, nics, &out[k]);
                if (r < 0) {
                        nic_snapshot_unref(nics);
                        engine_sessions_free(out, k + 1);
                        return r;
                }
                k++;
        }
        nic_snapshot_unref(nics);
        *ret = out;
        *ret_n = k;
        return 0;
}
