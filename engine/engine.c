/* SPDX-License-Identifier: MIT */
/*
 * The engine's lifecycle (engine_new, engine_free), its snapshots, the in-memory index of iface
 * records and the reads on it. The write protocol is in write.c, reconciliation and the watcher
 * in drift.c, health in health.c, the HBA cache and port views in ports.c (engine-internal.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine-internal.h"
#include "jobs.h"
#include "log.h"
#include "mirror.h"
#include "store.h"
#include "tokens.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct engine *, engine_free);

static const char *origin_static(const char *s)
{
        static const char *const known[] = { "api", "external", "auto", "builtin" };

        for (size_t i = 0; s && i < ELEMENTSOF(known); i++)
                if (streq(s, known[i]))
                        return known[i];
        return "unknown";
}

/* --- snapshots ----------------------------------------------------------------------------- */

struct iface_snap *iface_snap_ref(struct iface_snap *s)
{
        if (s)
                __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
        return s;
}

struct iface_snap *iface_snap_unref(struct iface_snap *s)
{
        if (!s)
                return NULL;
        if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        iface_rec_done(&s->rec);
        free(s->content);
        free(s->invalid);
        free(s->rendered);
        free(s->body);
        free(s);
        return NULL;
}

/*
 * The prepared bodies are read and replaced under one of these, chosen by the snap's address:
 * a copy of a few hundred bytes is all that is done holding one, and a mutex per snap would
 * cost 40 bytes on each of 100,000 records.
 */
#define BODY_LOCKS 64
static pthread_mutex_t body_locks[BODY_LOCKS] = { [0 ... BODY_LOCKS - 1] =
                                                          PTHREAD_MUTEX_INITIALIZER };

static pthread_mutex_t *body_lock(const struct iface_snap *s)
{
        return &body_locks[((uintptr_t)s >> 6) % BODY_LOCKS];
}

int iface_snap_body_copy(struct iface_snap *s, const uint64_t key[2], char **ret, size_t *ret_len)
{
        pthread_mutex_t *l = body_lock(s);
        char *copy = NULL;
        size_t len = 0;
        int r = -ENOENT;

        pthread_mutex_lock(l);
        if (s->body && s->body->key[0] == key[0] && s->body->key[1] == key[1]) {
                len = s->body->len;
                copy = malloc(len + 1);
                if (copy) {
                        memcpy(copy, s->body->data, len);
                        copy[len] = 0;
                        r = 0;
                } else
                        r = -ENOMEM;
        }
        pthread_mutex_unlock(l);
        if (r < 0)
                return r;
        *ret = copy;
        *ret_len = len;
        return 0;
}

void iface_snap_body_set(struct iface_snap *s, struct iface_body *body)
{
        pthread_mutex_t *l = body_lock(s);
        struct iface_body *old;

        pthread_mutex_lock(l);
        old = s->body;
        s->body = body;
        pthread_mutex_unlock(l);
        free(old);
}

const struct iface_rendered *iface_snap_set_rendered(struct iface_snap *s, struct iface_rendered *r)
{
        struct iface_rendered *none = NULL;

        if (__atomic_compare_exchange_n(&s->rendered, &none, r, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
                return r;
        free(r);
        return none; /* the one another thread kept first */
}

/* Build a snapshot, taking over *rec (left zeroed). content is copied. */
int snap_new(struct iface_rec *rec, const char *content, size_t content_len, uint64_t revision,
             const char *origin, int64_t created, int64_t updated, struct iface_snap **ret)
{
        struct iface_snap *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        if (content) {
                s->content = malloc(content_len + 1);
                if (!s->content) {
                        free(s);
                        return -ENOMEM;
                }
                memcpy(s->content, content, content_len);
                s->content[content_len] = 0;
                s->content_len = content_len;
        }
        s->rec = *rec;
        memset(rec, 0, sizeof(*rec));
        s->revision = revision;
        s->origin = origin_static(origin);
        s->created_usec = created;
        s->updated_usec = updated;
        s->refs = 1;
        *ret = s;
        return 0;
}

/*
 * A record taken from the db root (or loaded from a row that was) may break the rules the API
 * applies (an ipaddress like 999.1.1.1, both binding keys): iscsiadm wrote or accepted it, so it
 * is kept as it is, marked invalid with the reason, and shown in health. A write that fixes it
 * is accepted (engine_iface_update validates it without the old version's binding rule).
 */
int snap_check_valid(struct engine *e, struct iface_snap *s)
{
        struct iface_error err = {};

        if (iface_validate(&s->rec, NULL, &err) >= 0)
                return 0;
        if (asprintf(&s->invalid, "%s%s%s", err.field ? err.field : "", err.field ? ": " : "",
                     err.reason) < 0) {
                s->invalid = NULL;
                return -ENOMEM;
        }
        problem_set(e, s->rec.name, "invalid", "%s", s->invalid);
        return 0;
}

/* --- the index (callers hold write_lock; readers only take index_lock shared) --------------- */

/*
 * A sorted array of pointers to records whose key, a char *, sits at key_off in each: the
 * iface index (by name) and the binding index (by id) share this.
 */
size_t sorted_search(void *const *v, size_t n, size_t key_off, const char *key, bool *found)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(*(char *const *)((const char *)v[mid] + key_off), key);

                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

int sorted_put(void ***v, size_t *n, size_t *cap, size_t key_off, const char *key, void *item,
               void **ret_old)
{
        bool found;
        size_t i;

        *ret_old = NULL;
        if (item && *n == *cap) {
                size_t c = *cap ? *cap * 2 : 64;
                void **p = realloc(*v, c * sizeof(*p));

                if (!p)
                        return -ENOMEM;
                *v = p;
                *cap = c;
        }
        i = sorted_search(*v, *n, key_off, key, &found);
        if (found) {
                *ret_old = (*v)[i];
                if (item)
                        (*v)[i] = item;
                else {
                        memmove(*v + i, *v + i + 1, (*n - i - 1) * sizeof(**v));
                        (*n)--;
                }
        } else if (item) {
                memmove(*v + i + 1, *v + i, (*n - i) * sizeof(**v));
                (*v)[i] = item;
                (*n)++;
        }
        return 0;
}

#define IDX_KEY offsetof(struct iface_snap, rec.name)

struct iface_snap *idx_find(struct engine *e, const char *name)
{
        bool found;
        size_t i = sorted_search((void *const *)e->idx, e->n_idx, IDX_KEY, name, &found);

        return found ? e->idx[i] : NULL;
}

int idx_set(struct engine *e, const char *name, struct iface_snap *snap, const char *origin)
{
        void *old = NULL;
        uint64_t rev = snap ? snap->revision : 0;
        int r;

        if (snap)
                origin = snap->origin;

        /* Readers hold index_lock while they look at idx, so it grows inside. */
        pthread_rwlock_wrlock(&e->index_lock);
        r = sorted_put((void ***)&e->idx, &e->n_idx, &e->cap_idx, IDX_KEY, name, snap, &old);
        pthread_rwlock_unlock(&e->index_lock);
        iface_snap_unref(r < 0 ? snap : old);
        if (r >= 0 && (old || snap))
                engine_emit(e,
                            &(struct event){ .type = !snap ? EVENT_IFACE_DELETED :
                                                     old   ? EVENT_IFACE_CHANGED :
                                                             EVENT_IFACE_CREATED,
                                             .revision = rev },
                            name, origin, NULL);
        return r;
}

void engine_emit(struct engine *e, struct event *ev, const char *name, const char *origin,
                 const char *detail)
{
        if (!e->bus || !atomic_load(&e->events_on))
                return;
        snprintf(ev->name, sizeof(ev->name), "%s", name ?: "");
        snprintf(ev->origin, sizeof(ev->origin), "%s", origin ?: "");
        snprintf(ev->detail, sizeof(ev->detail), "%s", detail ?: "");
        (void)event_bus_publish(e->bus, ev);
}

/* A single check's step ended, or the check did (s < 0): check.progress, check.finished. */
static void check_progress(const struct check *c, int s, void *userdata)
{
        const struct check_spec *spec = check_get_spec(c);
        const struct check_result *res = check_get_result(c);
        struct event ev = { .type = s < 0 ? EVENT_CHECK_FINISHED : EVENT_CHECK_PROGRESS };
        enum check_status st = s < 0 ? res->status : res->steps[s].status;
        enum check_reason why = s < 0 ? res->reason : res->steps[s].reason;

        check_format_portal(&spec->portal, ev.portal, sizeof(ev.portal));
        if (s >= 0)
                snprintf(ev.step, sizeof(ev.step), "%s", check_step_to_string(s) ?: "");
        snprintf(ev.status, sizeof(ev.status), "%s", check_status_to_string(st) ?: "");
        engine_emit(userdata, &ev, spec->iface, NULL,
                    why == CHECK_REASON_NONE ? NULL : check_reason_to_string(why));
}

struct event_bus *engine_event_bus(struct engine *e)
{
        return e ? e->bus : NULL;
}

/* --- start and stop ------------------------------------------------------------------------ */

/*
 * The whole db's quick_check, audit trail included, while the daemon serves: its cost grows with
 * the history (a 100k-record db of 118 MB took 1.3 s from a cold page cache), which a start
 * should not wait for. Damage found is logged and shown in health; writes that touch a damaged
 * page fail on their own (-EUCLEAN, 503).
 */
static void *db_check_thread(void *userdata)
{
        struct engine *e = userdata;
        int r;

        (void)pthread_setname_np(pthread_self(), "ifd-dbcheck");
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10); /* after the requests */
        r = store_check_all(e->db_checker, e->db_path, e->db_check_why, sizeof(e->db_check_why));
        if (r == -EINTR)
                return NULL;
        if (r < 0) {
                log_error("The database '%s' is damaged (%s): restore it from a backup, or stop "
                          "the daemon and move it (and its -wal and -shm files) away; the records "
                          "are then imported from '%s/ifaces' at the next start",
                          e->db_path, e->db_check_why, e->iscsi_root);
                atomic_store(&e->db_check, -EUCLEAN);
        } else
                log_debug("The database '%s' passed its quick_check", e->db_path);
        return NULL;
}

static void db_check_start(struct engine *e)
{
        if (streq(e->db_path, ":memory:") || store_checker_new(&e->db_checker) < 0)
                return;
        if (pthread_create(&e->db_check_thread, NULL, db_check_thread, e) != 0) {
                log_warning("Cannot start the database check; it is skipped this time");
                return;
        }
        e->db_check_running = true;
}

static int row_load_cb(const struct store_row *row, void *ud)
{
        struct engine *e = ud;
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_snap *snap = NULL;
        struct iface_error err = {};
        int r;

        r = iface_parse_file(row->name, row->content, strlen(row->content), &rec, &err);
        if (r < 0) {
                /* Cannot happen for rows we wrote; keep going and let health say it. */
                problem_set(e, row->name, "unreadable", "stored revision %" PRIu64 ": %s",
                            row->revision, err.reason);
                return r == -ENOMEM ? r : 0;
        }
        r = snap_new(&rec, row->content, strlen(row->content), row->revision, row->origin,
                     row->created_usec, row->updated_usec, &snap);
        if (r < 0)
                return r;
        r = snap_check_valid(e, snap);
        if (r < 0) {
                iface_snap_unref(snap);
                return r;
        }
        return idx_set(e, row->name, snap, NULL);
}

static int builtin_new(const char *name, struct iface_snap **ret)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        int r;

        r = iface_builtin(name, &rec);
        if (r < 0)
                return r;
        r = snap_new(&rec, NULL, 0, 0, "builtin", 0, 0, ret);
        if (r < 0)
                return r;
        (*ret)->builtin = true;
        return 0;
}

_printf_(3, 4) static int fail_msg(char **reterr_msg, int r, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (reterr_msg) {
                free(*reterr_msg);
                if (asprintf(reterr_msg, "%s: %s", buf, strerror(r < 0 ? -r : r)) < 0)
                        *reterr_msg = NULL;
        }
        return r;
}

/*
 * The InitiatorName= of open-iscsi's initiatorname.iscsi, or a fixed name under the reserved
 * ".invalid" domain when there is none (discovery needs some name; the iface's own
 * initiatorname wins when set).
 */
static void initiator_name_read(const char *path, char *buf, size_t size)
{
        FILE *f = fopen(path, "re");
        char line[512];

        snprintf(buf, size, "%s", ENGINE_INITIATOR_NAME_FALLBACK);
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                size_t n;
                bool ok = true;

                if (strncmp(line, "InitiatorName=", strlen("InitiatorName=")) != 0)
                        continue;
                n = strcspn(line, "\r\n");
                line[n] = 0;
                for (const char *p = line + strlen("InitiatorName="); *p; p++)
                        if (*p <= ' ' || *p > '~')
                                ok = false;
                if (ok && line[strlen("InitiatorName=")] && n - strlen("InitiatorName=") < size)
                        memcpy(buf, line + strlen("InitiatorName="),
                               n - strlen("InitiatorName=") + 1);
                break;
        }
        fclose(f);
}

/* Job progress from the check loop's thread. */
static void job_listener(const struct job_info *info, void *userdata)
{
        engine_emit(userdata,
                    &(struct event){ .type = info->state == JOB_RUNNING ? EVENT_JOB_PROGRESS :
                                                                          EVENT_JOB_FINISHED,
                                     .done = info->done,
                                     .total = info->total },
                    info->id, NULL, job_state_to_string(info->state));
}

static bool nic_addrs_equal(const struct nic *a, const struct nic *b)
{
        if (a->n_addrs != b->n_addrs)
                return false;
        for (size_t i = 0; i < a->n_addrs; i++)
                if (a->addrs[i].family != b->addrs[i].family ||
                    a->addrs[i].prefixlen != b->addrs[i].prefixlen ||
                    !streq(a->addrs[i].address, b->addrs[i].address))
                        return false;
        return true;
}

/*
 * A new NIC snapshot (monitor thread): one nic.link event per NIC that appeared, went or
 * changed its operational state, one nic.address per NIC whose addresses changed. Both
 * snapshots are sorted by name.
 */
static void nic_listener(const struct nic_snapshot *old, const struct nic_snapshot *next,
                         void *userdata)
{
        struct engine *e = userdata;
        size_t i = 0, j = 0;

        while (i < old->n_nics || j < next->n_nics) {
                const struct nic *a = i < old->n_nics ? &old->nics[i] : NULL;
                const struct nic *b = j < next->n_nics ? &next->nics[j] : NULL;
                int c = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);

                if (c < 0) {
                        engine_emit(e, &(struct event){ .type = EVENT_NIC_LINK }, a->name, NULL,
                                    "removed");
                        i++;
                } else if (c > 0) {
                        engine_emit(e, &(struct event){ .type = EVENT_NIC_LINK }, b->name, NULL,
                                    b->operstate);
                        if (b->n_addrs > 0)
                                engine_emit(e, &(struct event){ .type = EVENT_NIC_ADDRESS },
                                            b->name, NULL, NULL);
                        j++;
                } else {
                        if (!streq(a->operstate, b->operstate) || a->carrier != b->carrier ||
                            (a->flags & 1u) != (b->flags & 1u) /* IFF_UP */)
                                engine_emit(e, &(struct event){ .type = EVENT_NIC_LINK }, b->name,
                                            NULL, b->operstate);
                        if (!nic_addrs_equal(a, b))
                                engine_emit(e, &(struct event){ .type = EVENT_NIC_ADDRESS },
                                            b->name, NULL, NULL);
                        i++;
                        j++;
                }
        }
}

int engine_new(const struct engine_config *cfg, struct engine **ret, char **reterr_msg)
{
        _cleanup_(engine_freep) struct engine *e = NULL;
        int r;

        assert_return(cfg && cfg->iscsi_root && cfg->db_path && ret, -EINVAL);
        assert_return(cfg->drift < _ENGINE_DRIFT_MAX, -EINVAL);

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->inotify_fd = e->stop_fds[0] = e->stop_fds[1] = e->watch_wd = e->db_lock_fd = -1;
        e->uevent_fd = -EBADF;
        pthread_mutex_init(&e->write_lock, NULL);
        pthread_mutex_init(&e->group_lock, NULL);
        pthread_mutex_init(&e->apply_lock, NULL);
        pthread_cond_init(&e->apply_cond, NULL);
        pthread_mutex_init(&e->health_lock, NULL);
        pthread_rwlock_init(&e->index_lock, NULL);
        pthread_mutex_init(&e->hbas_lock, NULL);
        pthread_mutex_init(&e->disc_lock, NULL);
        pthread_cond_init(&e->disc_cond, NULL);
        e->iscsi_root = strdup(cfg->iscsi_root);
        e->sysfs_root = strdup(cfg->sysfs_root ? cfg->sysfs_root : "/sys");
        e->iscsiadm = strdup(cfg->iscsiadm ?: LOGIN_ISCSIADM);
        e->dev_root = strdup(cfg->dev_root ?: "/dev");
        e->udev_data = strdup(cfg->udev_dir ? cfg->udev_dir : "/run/udev");
        e->udev_ctl = e->udev_data ? strdup(e->udev_data) : NULL;
        if (e->udev_data && e->udev_ctl) {
                char *d = NULL, *c = NULL;

                if (asprintf(&d, "%s/data", e->udev_data) < 0)
                        d = NULL;
                if (asprintf(&c, "%s/control", e->udev_ctl) < 0)
                        c = NULL;
                free(e->udev_data);
                free(e->udev_ctl);
                e->udev_data = d;
                e->udev_ctl = c;
        }
        e->roots = (struct session_roots){ .sysfs = e->sysfs_root,
                                           .dev = e->dev_root,
                                           .udev_data = e->udev_data,
                                           .udev_ctl = e->udev_ctl };
        e->proc_root = "/proc";
        e->db_path = strdup(cfg->db_path);
        e->lock_dir = strdup(cfg->lock_dir ? cfg->lock_dir : "/run/lock/iscsi");
        if (!e->iscsi_root || !e->db_path || !e->lock_dir || !e->sysfs_root || !e->iscsiadm ||
            !e->dev_root || !e->udev_data || !e->udev_ctl)
                return -ENOMEM;
        e->drift = cfg->drift;
        e->lock_timeout_ms = cfg->lock_timeout_ms ? cfg->lock_timeout_ms : 30000;
        e->fault = cfg->fault;

        r = event_bus_new(cfg->event_buffer, &e->bus);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot create the event buffer of %zu events",
                                cfg->event_buffer);

        r = builtin_new("default", &e->builtin[0]);
        if (r >= 0)
                r = builtin_new("iser", &e->builtin[1]);
        if (r < 0)
                return r;

        {
                char holder[256];

                r = store_lock_db(e->db_path, e->iscsi_root, &e->db_lock_fd, holder,
                                  sizeof(holder));
                if (r == -EBUSY)
                        return fail_msg(reterr_msg, r,
                                        "the database '%s' is in use by another iscsi-ifaced "
                                        "(%s); two daemons on one database would take each "
                                        "other's records for deletions: stop it, or give this "
                                        "one its own --db",
                                        e->db_path, holder);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot lock the database '%s' ('%s.lock')",
                                        e->db_path, e->db_path);
        }
        r = store_open(e->db_path, &e->store);
        if (r >= 0 && store_check(e->store) < 0)
                r = -EUCLEAN;
        if (r == -EUCLEAN)
                return fail_msg(reterr_msg, r,
                                "the database '%s' is damaged; restore it from a backup, or move "
                                "it (and its -wal and -shm files) away and start again: the "
                                "records are then imported from '%s/ifaces' (the audit trail and "
                                "the tokens are lost with the old file)",
                                e->db_path, e->iscsi_root);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot open the database '%s'", e->db_path);
        r = mirror_open(e->iscsi_root, e->lock_dir, e->fault, &e->mirror);
        if (r == -EBUSY)
                return fail_msg(reterr_msg, r,
                                "iscsi root '%s' is already served by another iscsi-ifaced",
                                e->iscsi_root);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot use iscsi root '%s' (lock dir '%s')",
                                e->iscsi_root, e->lock_dir);

        r = store_max_revision(e->store, &e->revision);
        if (r == -EUCLEAN)
                return fail_msg(reterr_msg, r,
                                "the database '%s' is damaged; restore it from a backup, or move "
                                "it away and start again (records are imported from '%s/ifaces')",
                                e->db_path, e->iscsi_root);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot read the database '%s'", e->db_path);

        /* A new db next to an old root (the db was lost): never hand out an old ETag again. */
        {
                char buf[32];
                unsigned long long v;

                if (mirror_state_read(e->mirror, REVISION_RESERVE_FILE, buf, sizeof(buf)) > 0 &&
                    sscanf(buf, "%llu", &v) == 1 && v > e->revision) {
                        if (e->revision == 0)
                                log_info("continuing revisions after %llu, the reserve recorded "
                                         "in '%s' (the database is new)",
                                         v, e->iscsi_root);
                        e->revision = v;
                }
                e->revision_reserved = e->revision;
        }

        r = mirror_lock(e->mirror, e->lock_timeout_ms);
        if (r < 0) {
                char holder[200];

                engine_lock_holder(e, holder, sizeof(holder));
                return fail_msg(reterr_msg, r,
                                "cannot take the iscsi db lock '%s/lock.write': %s (is iscsiadm "
                                "running, or was it left behind by a crash?)",
                                e->lock_dir, holder);
        }
        r = mirror_clean_temps(e->mirror);
        if (r > 0)
                log_notice("Removed %d temp file(s) left by an interrupted write", r);
        r = recover_intents(e);
        if (r >= 0)
                r = store_rows_foreach(e->store, row_load_cb, e);
        if (r >= 0) {
                r = bindings_load(e, cfg->iscsid_conf);
                if (r < 0) {
                        mirror_unlock(e->mirror);
                        return fail_msg(reterr_msg, r,
                                        "cannot load the node records (iscsid.conf '%s', "
                                        "database '%s')",
                                        cfg->iscsid_conf ?: "", e->db_path);
                }
        }
        /* No ifaces/ at all while the db has records: it was removed, not emptied record by
         * record; keep the records (health says so) rather than delete them all. */
        if (r >= 0 && mirror_ifaces_created(e->mirror) && e->n_idx > 0)
                log_warning("'%s' did not exist and was created empty; %zu record(s) of the "
                            "database are kept as missing",
                            mirror_ifaces_dir(e->mirror), mark_missing(e));
        if (r >= 0)
                r = start_prints_load(e);
        /* Changes from here on queue in the watch for the watcher: engine_start_watch() need
         * not scan again. Without a watch (it failed), engine_start_watch() scans again. */
        if (r >= 0 && cfg->watch && watch_open(e) < 0)
                log_debug("No watch before the start-up scan; rescanning once it is up");
        if (r >= 0)
                r = reconcile_all(e);
        start_prints_free(e);
        if (r >= 0)
                r = reconcile_nodes(e);
        mirror_unlock(e->mirror);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot reconcile '%s' with '%s'", e->iscsi_root,
                                e->db_path);

        log_info("Loaded %zu iface record(s) and %zu binding(s) from '%s' (revision %" PRIu64 ")",
                 e->n_idx, e->n_bidx, e->iscsi_root, e->revision);

        r = engine_offload_sync(e);
        if (r < 0)
                return fail_msg(reterr_msg, r, "cannot create the iface records of offload ports");
        if (r > 0)
                log_info("Created %d iface record(s) for offload ports", r);
        /* The start's own writes in the db before it serves. */
        (void)rows_settle(e);

        r = nic_monitor_new(e->sysfs_root, "/proc", &e->nics);
        if (r < 0)
                log_warning_errno(r, "NIC inventory unavailable, continuing without it");

        {
                char iname[224];

                initiator_name_read(cfg->initiator_name_file ?: ENGINE_INITIATOR_NAME_FILE, iname,
                                    sizeof(iname));
                r = token_table_open(e->db_path, &e->tokens);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot open the token table of '%s'",
                                        e->db_path);
                r = checker_new(e->nics, iname, &e->checker);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot start the check loop");
                checker_set_progress(e->checker, check_progress, e);
                r = job_table_new(e->checker, &e->jobs);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot create the job table");
                r = logins_start(e);
                if (r < 0)
                        return fail_msg(reterr_msg, r, "cannot start the login pool");
        }
        job_table_set_listener(e->jobs, job_listener, e);
        nic_monitor_set_listener(e->nics, nic_listener, e);
        atomic_store(&e->events_on, true);
        db_check_start(e);
        e->started = true;
        *ret = TAKE_PTR(e);
        return 0;
}

struct engine *engine_free(struct engine *e)
{
        if (!e)
                return NULL;

        if (e->db_check_running) {
                store_checker_stop(e->db_checker);
                pthread_join(e->db_check_thread, NULL);
        }
        e->db_checker = store_checker_free(e->db_checker);

        if (e->watching) {
                (void)!write(e->stop_fds[1], "x", 1);
                pthread_join(e->watcher, NULL);
        }
        if (e->inotify_fd >= 0)
                close(e->inotify_fd);
        if (e->uevent_fd >= 0)
                close(e->uevent_fd);
        for (size_t i = 0; i < 2; i++)
                if (e->stop_fds[i] >= 0)
                        close(e->stop_fds[i]);

        /* Logins write the sessions table and read the bindings: stop them before either goes. */
        logins_free(e);

        /* Discovery's checks call back into the run, whose bind phase writes through the
         * indexes and the store: stop the check loop and wait for those writes first. */
        e->checker = checker_free(e->checker);
        discovery_table_free(e);

        /* Nothing writes any more: the deferred rows written, then what the next start may
         * trust without reading. */
        applier_stop(e);
        if (e->store)
                (void)rows_settle(e);
        if (e->started && e->store && e->mirror) {
                pthread_mutex_lock(&e->write_lock);
                start_prints_save(e);
                pthread_mutex_unlock(&e->write_lock);
        }

        for (size_t i = 0; i < e->n_idx; i++)
                iface_snap_unref(e->idx[i]);
        free(e->idx);
        bindings_free(e);
        for (size_t i = 0; i < ELEMENTSOF(e->builtin); i++)
                iface_snap_unref(e->builtin[i]);
        for (size_t i = 0; i < e->n_problems; i++) {
                free(e->problems[i].name);
                free(e->problems[i].reason);
        }
        free(e->problems);
        for (size_t i = 0; i < ENGINE_EVENTS_MAX; i++)
                free(e->events[i].name);

        /* The check loop calls back into the jobs and reads the NIC monitor: stop it first. */
        checker_free(e->checker);
        job_table_free(e->jobs);
        token_table_close(e->tokens);
        nic_monitor_free(e->nics);
        engine_hbas_unref(e->hbas);
        pthread_mutex_destroy(&e->hbas_lock);
        mirror_close(e->mirror);
        store_close(e->store);
        if (e->db_lock_fd >= 0)
                close(e->db_lock_fd);
        free(e->sysfs_root);
        free(e->iscsiadm);
        free(e->dev_root);
        free(e->udev_data);
        free(e->udev_ctl);
        event_bus_free(e->bus); /* last: everything above may publish until it stops */
        pthread_rwlock_destroy(&e->index_lock);
        pthread_mutex_destroy(&e->write_lock);
        pthread_mutex_destroy(&e->group_lock);
        pthread_mutex_destroy(&e->apply_lock);
        pthread_cond_destroy(&e->apply_cond);
        pthread_mutex_destroy(&e->health_lock);
        free(e->iscsi_root);
        free(e->db_path);
        free(e->lock_dir);
        free(e);
        return NULL;
}

/* --- reads --------------------------------------------------------------------------------- */

struct iface_snap *builtin_find(struct engine *e, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(e->builtin); i++)
                if (streq(e->builtin[i]->rec.name, name))
                        return e->builtin[i];
        return NULL;
}

int engine_iface_get(struct engine *e, const char *name, struct iface_snap **ret)
{
        struct iface_snap *s;

        assert_return(e && name && ret, -EINVAL);

        s = builtin_find(e, name);
        if (s) {
                *ret = iface_snap_ref(s);
                return 0;
        }
        pthread_rwlock_rdlock(&e->index_lock);
        s = iface_snap_ref(idx_find(e, name));
        pthread_rwlock_unlock(&e->index_lock);
        if (!s)
                return -ENOENT;
        *ret = s;
        return 0;
}

bool engine_list_cursor_is_valid(const char *name)
{
        struct iface_error err;

        return name && (iface_name_is_builtin(name) || iface_name_validate(name, &err) >= 0);
}

static bool list_match(const struct engine_list_query *q, const struct iface_snap *s)
{
        if (q->transport_name &&
            !streq_ptr(s->rec.str[IFACE_F_TRANSPORT_NAME] ? s->rec.str[IFACE_F_TRANSPORT_NAME] : "",
                       q->transport_name))
                return false;
        if (q->net_ifacename &&
            !streq_ptr(s->rec.str[IFACE_F_NET_IFACENAME] ? s->rec.str[IFACE_F_NET_IFACENAME] : "",
                       q->net_ifacename))
                return false;
        return true;
}

int engine_iface_list(struct engine *e, const struct engine_list_query *q, struct iface_snap ***ret,
                      size_t *ret_n, bool *ret_more)
{
        struct iface_snap **out;
        size_t n = 0, start = 0, first_builtin = 0;
        bool more = false, found;

        assert_return(e && q && q->limit > 0 && ret && ret_n && ret_more, -EINVAL);

        pthread_rwlock_rdlock(&e->index_lock);
        /* No more than there are: a caller asking for "everything" must not pay for the cap. */
        out = calloc(MIN(q->limit, e->n_idx + ELEMENTSOF(e->builtin)), sizeof(*out));
        if (!out) {
                pthread_rwlock_unlock(&e->index_lock);
                return -ENOMEM;
        }
        if (q->after && streq(q->after, "iser")) {
                start = e->n_idx;
                first_builtin = ELEMENTSOF(e->builtin);
        } else if (q->after && streq(q->after, "default")) {
                start = e->n_idx;
                first_builtin = 1;
        } else if (q->after) {
                start = sorted_search((void *const *)e->idx, e->n_idx, IDX_KEY, q->after, &found);
                if (found)
                        start++;
        }
        for (size_t i = start; i < e->n_idx && !more; i++) {
                if (!list_match(q, e->idx[i]))
                        continue;
                if (n == q->limit)
                        more = true;
                else
                        out[n++] = iface_snap_ref(e->idx[i]);
        }
        pthread_rwlock_unlock(&e->index_lock);

        for (size_t i = first_builtin; i < ELEMENTSOF(e->builtin) && !more; i++) {
                if (!list_match(q, e->builtin[i]))
                        continue;
                if (n == q->limit)
                        more = true;
                else
                        out[n++] = iface_snap_ref(e->builtin[i]);
        }

        *ret = out;
        *ret_n = n;
        *ret_more = more;
        return 0;
}

enum engine_drift_policy engine_drift_policy(const struct engine *e)
{
        return e->drift;
}

/* --- the parts: checks, jobs, tokens ------------------------------------------------------- */

int engine_check_submit(struct engine *e, const struct check_spec *spec, check_done_fn done,
                        void *userdata, struct check **ret)
{
        assert_return(e, -EINVAL);
        return checker_submit(e->checker, spec, done, userdata, ret);
}

int engine_job_start(struct engine *e, const struct check_spec *specs, size_t n, const char *key,
                     uint64_t body_hash, struct job **ret, bool *ret_existing)
{
        assert_return(e, -EINVAL);
        return job_table_start(e->jobs, specs, n, key, body_hash, ret, ret_existing);
}

int engine_job_get(struct engine *e, const char *id, struct job **ret)
{
        assert_return(e, -EINVAL);
        return job_table_get(e->jobs, id, ret);
}

int engine_job_list(struct engine *e, struct job ***ret, size_t *ret_n)
{
        assert_return(e, -EINVAL);
        return job_table_list(e->jobs, ret, ret_n);
}

int engine_job_cancel_or_remove(struct engine *e, const char *id)
{
        assert_return(e, -EINVAL);
        return job_table_cancel_or_remove(e->jobs, id);
}

int engine_token_create(struct engine *e, enum role role, const char *name, const char *actor,
                        const char *request_id, char ret_token[static TOKEN_LEN + 1],
                        struct token_info *ret_info)
{
        assert_return(e, -EINVAL);
        return token_table_create(e->tokens, role, name, actor, request_id, ret_token, ret_info);
}

int engine_token_list(struct engine *e, struct token_info **ret, size_t *ret_n)
{
        assert_return(e, -EINVAL);
        return token_table_list(e->tokens, ret, ret_n);
}

int engine_token_revoke(struct engine *e, const char *id, const char *actor, const char *request_id)
{
        assert_return(e, -EINVAL);
        return token_table_revoke(e->tokens, id, actor, request_id);
}

int engine_token_verify(struct engine *e, const char *id, const char *secret,
                        struct token_info *ret)
{
        assert_return(e, -EINVAL);
        return token_table_verify(e->tokens, id, secret, ret);
}

void engine_stop_checks(struct engine *e)
{
        checker_close(e->checker);
        job_table_cancel_all(e->jobs);
        /* Logins too: their iscsiadm is killed and their waiting answers are sent. */
        logins_stop(e);
}

int engine_audit(struct engine *e, const struct store_audit_query *q,
                 int (*cb)(const struct store_audit *a, void *ud), void *ud)
{
        int r;

        /* A read of its own: an HTTP thread never waits for a write (which may wait for
         * iscsiadm's lock for up to the lock timeout). It writes the rows and audit entries of
         * writes already answered that no transaction has taken along yet first (under the
         * store's own lock: at most one transaction's wait), so that an answered write is in
         * the trail. */
        if (store_has_reader(e->store)) {
                if (store_deferred_pending(e->store, NULL))
                        (void)store_flush_deferred(e->store);
                return store_audit_query_reader(e->store, q, cb, ud);
        }
        /* ":memory:": the writers' connection, shared under their lock. */
        pthread_mutex_lock(&e->write_lock);
        r = store_audit_query(e->store, q, cb, ud);
        pthread_mutex_unlock(&e->write_lock);
        return r;
}

void engine_lock_holder(struct engine *e, char *buf, size_t size)
{
        struct mirror_lock_info li = {};

        if (mirror_lock_info(e->mirror, &li) < 0 || !li.held)
                snprintf(buf, size, "free now");
        else if (li.ours)
                snprintf(buf, size, "held by this daemon's other writes");
        else
                snprintf(buf, size, "held by %s for %lld ms", li.holder,
                         (long long)li.age_usec / 1000);
}
