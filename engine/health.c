/* SPDX-License-Identifier: MIT */
/*
 * Health: the problems of the db root (files not mirrored, records invalid or missing) and the
 * recent imported changes, kept under health_lock, and engine_health, which adds to them the
 * state of the db, of ifaces/ and of iscsiadm's lock.
 */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine-internal.h"
#include "log.h"
#include "mirror.h"
#include "store.h"

/* --- health bookkeeping -------------------------------------------------------------------- */

void problem_clear(struct engine *e, const char *name)
{
        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems; i++) {
                if (!streq(e->problems[i].name, name))
                        continue;
                free(e->problems[i].name);
                free(e->problems[i].reason);
                e->problems[i] = e->problems[--e->n_problems];
                break;
        }
        pthread_mutex_unlock(&e->health_lock);
}

/* Whether name has a problem of kind (NULL = any); its reason is copied to buf if given. */
bool problem_get(struct engine *e, const char *name, const char *kind, char *buf, size_t size)
{
        bool found = false;

        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems && !found; i++) {
                if (!streq(e->problems[i].name, name) ||
                    (kind && !streq(e->problems[i].kind, kind)))
                        continue;
                found = true;
                if (buf)
                        snprintf(buf, size, "%s", e->problems[i].reason);
        }
        pthread_mutex_unlock(&e->health_lock);
        return found;
}

void problem_set(struct engine *e, const char *name, const char *kind, const char *fmt, ...)
{
        char reason[512];
        char *n, *r;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);

        /* A problem that is already known is not logged again on every pass. */
        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems; i++)
                if (streq(e->problems[i].name, name) && streq(e->problems[i].kind, kind) &&
                    streq(e->problems[i].reason, reason)) {
                        pthread_mutex_unlock(&e->health_lock);
                        return;
                }
        pthread_mutex_unlock(&e->health_lock);

        problem_clear(e, name);
        n = strdup(name);
        r = strdup(reason);
        pthread_mutex_lock(&e->health_lock);
        if (n && r && e->n_problems < 4096) {
                struct engine_problem *p = realloc(e->problems, (e->n_problems + 1) * sizeof(*p));

                if (p) {
                        e->problems = p;
                        p[e->n_problems++] = (struct engine_problem){ n, kind, r };
                        n = r = NULL;
                }
        }
        pthread_mutex_unlock(&e->health_lock);
        free(n);
        free(r);
        log_warning("db root file 'ifaces/%s' %s (%s): %s", name,
                    streq(kind, "invalid") ? "is imported but breaks our rules" :
                    streq(kind, "missing") ? "is missing; its record is kept" :
                                             "is not mirrored",
                    kind, reason);
        engine_emit(e, &(struct event){ .type = EVENT_DRIFT_PROBLEM }, name, "", kind);
}

/* The problem a record itself carries (invalid), or none. */
void problem_sync(struct engine *e, const char *name, const struct iface_snap *cur)
{
        if (cur && cur->invalid)
                problem_set(e, name, "invalid", "%s", cur->invalid);
        else
                problem_clear(e, name);
}

void event_record(struct engine *e, const char *name, const char *action, uint64_t rev)
{
        char *n = strdup(name);

        if (!n)
                return;
        pthread_mutex_lock(&e->health_lock);
        struct engine_drift_event *ev = &e->events[e->n_events % ENGINE_EVENTS_MAX];
        free(ev->name);
        *ev = (struct engine_drift_event){ n, action, rev, clock_usec(CLOCK_REALTIME) };
        e->n_events++;
        e->drift_imported++;
        pthread_mutex_unlock(&e->health_lock);
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void problem_prune(struct engine *e, char **names, size_t n)
{
        pthread_mutex_lock(&e->health_lock);
        for (size_t i = 0; i < e->n_problems;) {
                /* Paths of the node db ("nodes/...") are pruned by their own reconciliation. */
                if (strchr(e->problems[i].name, '/') ||
                    bsearch(&e->problems[i].name, names, n, sizeof(char *), name_cmp) ||
                    idx_find(e, e->problems[i].name)) {
                        i++;
                        continue;
                }
                free(e->problems[i].name);
                free(e->problems[i].reason);
                e->problems[i] = e->problems[--e->n_problems];
        }
        pthread_mutex_unlock(&e->health_lock);
}

/* --- health -------------------------------------------------------------------------------- */

int engine_health(struct engine *e, struct engine_health *ret)
{
        struct stat st;
        size_t count = 0;
        int r, root_now = 0;

        assert_return(e && ret, -EINVAL);

        ret->db_path = e->db_path;
        ret->root_path = e->iscsi_root;
        /*
         * Probe the db only when no write holds it (a write may wait for iscsiadm's lock for
         * seconds); otherwise the index's count stands and the last probe's verdict.
         */
        if (pthread_mutex_trylock(&e->write_lock) == 0) {
                r = store_count(e->store, &count);
                /*
                 * ifaces/ moved or removed shows at once, not only at the watcher's next tick.
                 * Only shown: root_fault is the writers' and the watcher's, who log its changes.
                 */
                root_now = mirror_ifaces_check(e->mirror);
                pthread_mutex_unlock(&e->write_lock);
                atomic_store(&e->db_probe, r);
        } else {
                pthread_rwlock_rdlock(&e->index_lock);
                count = e->n_idx;
                pthread_rwlock_unlock(&e->index_lock);
                r = atomic_load(&e->db_probe);
        }
        ret->db_ok = r >= 0;
        if (asprintf(&ret->db_detail, "%s", r >= 0 ? "ok" : strerror(-r)) < 0)
                ret->db_detail = NULL;
        if (atomic_load(&e->db_check) < 0) {
                ret->db_ok = false;
                free(ret->db_detail);
                if (asprintf(&ret->db_detail,
                             "'%s' is damaged (%s): restore it from a backup, or stop the daemon "
                             "and move it away (the records are imported again from the iscsi "
                             "root)",
                             e->db_path, e->db_check_why) < 0)
                        ret->db_detail = NULL;
        }
        r = store_file_check(e->store);
        if (r < 0) {
                ret->db_ok = false;
                free(ret->db_detail);
                if (asprintf(&ret->db_detail,
                             "'%s' was %s while the daemon runs: writes are refused; restart the "
                             "daemon (the records are imported again from the iscsi root)",
                             e->db_path, r == -ENOENT ? "deleted" : "replaced") < 0)
                        ret->db_detail = NULL;
        }

        r = atomic_load(&e->root_fault);
        if (r == 0)
                r = root_now;
        if (r < 0) {
                ret->root_ok = false;
                if (asprintf(&ret->root_detail,
                             "'%s' %s while the daemon runs: writes are refused until it is back "
                             "(the records are kept)",
                             mirror_ifaces_dir(e->mirror), root_fault_str(r)) < 0)
                        ret->root_detail = NULL;
        } else {
                if (stat(mirror_ifaces_dir(e->mirror), &st) < 0)
                        r = -errno;
                else if (!S_ISDIR(st.st_mode))
                        r = -ENOTDIR;
                else if (access(mirror_ifaces_dir(e->mirror), W_OK | X_OK) < 0)
                        r = -errno;
                else
                        r = 0;
                ret->root_ok = r >= 0;
                if (asprintf(&ret->root_detail, "%s", r >= 0 ? "ok" : strerror(-r)) < 0)
                        ret->root_detail = NULL;
        }

        {
                struct mirror_lock_info li = {};

                /* lock_dir_fd and the lock source never change after the start: no lock needed. */
                if (mirror_lock_info(e->mirror, &li) >= 0 && li.held) {
                        ret->lock_held = true;
                        ret->lock_ours = li.ours;
                        ret->lock_age_usec = li.age_usec;
                        snprintf(ret->lock_holder, sizeof(ret->lock_holder), "%s", li.holder);
                }
                ret->writes_waiting = atomic_load(&e->writes_waiting);
        }

        pthread_rwlock_rdlock(&e->index_lock);
        ret->count = e->n_idx;
        pthread_rwlock_unlock(&e->index_lock);

        pthread_mutex_lock(&e->health_lock);
        ret->drift_imported = e->drift_imported;
        ret->problems = calloc(e->n_problems + 1, sizeof(*ret->problems));
        size_t n_ev = e->n_events < ENGINE_EVENTS_MAX ? e->n_events : ENGINE_EVENTS_MAX;
        ret->events = calloc(n_ev + 1, sizeof(*ret->events));
        if (ret->problems && ret->events) {
                for (size_t i = 0; i < e->n_problems; i++) {
                        ret->problems[i].name = strdup(e->problems[i].name);
                        ret->problems[i].kind = e->problems[i].kind;
                        ret->problems[i].reason = strdup(e->problems[i].reason);
                        ret->n_problems++;
                }
                for (size_t i = 0; i < n_ev; i++) {
                        const struct engine_drift_event *ev =
                                &e->events[(e->n_events - 1 - i) % ENGINE_EVENTS_MAX];
                        ret->events[i] = *ev;
                        ret->events[i].name = strdup(ev->name);
                        ret->n_events++;
                }
        }
        pthread_mutex_unlock(&e->health_lock);

        if (!ret->problems || !ret->events || !ret->db_detail || !ret->root_detail) {
                engine_health_done(ret);
                return -ENOMEM;
        }
        return 0;
}

void engine_health_done(struct engine_health *h)
{
        if (!h)
                return;
        free(h->db_detail);
        free(h->root_detail);
        for (size_t i = 0; i < h->n_problems; i++) {
                free(h->problems[i].name);
                free(h->problems[i].reason);
        }
        free(h->problems);
        for (size_t i = 0; i < h->n_events; i++)
                free(h->events[i].name);
        free(h->events);
        *h = (struct engine_health){};
}

static size_t origin_slot(const char *origin)
{
        static const char *const origins[] = ENGINE_ORIGINS;

        for (size_t i = 0; origin && i < ENGINE_N_ORIGINS - 1; i++)
                if (streq(origins[i], origin))
                        return i;
        return ENGINE_N_ORIGINS - 1;
}

void engine_counts(struct engine *e, struct engine_counts *ret)
{
        *ret = (struct engine_counts){};

        pthread_rwlock_rdlock(&e->index_lock);
        for (size_t i = 0; i < e->n_idx; i++)
                ret->ifaces[origin_slot(e->idx[i]->origin)]++;
        for (size_t i = 0; i < ELEMENTSOF(e->builtin); i++)
                if (e->builtin[i])
                        ret->ifaces[origin_slot("builtin")]++;
        for (size_t i = 0; i < e->n_bidx; i++)
                ret->bindings[origin_slot(e->bidx[i]->origin)]++;
        pthread_rwlock_unlock(&e->index_lock);

        pthread_mutex_lock(&e->health_lock);
        ret->drift_imported = e->drift_imported;
        ret->n_problems = e->n_problems;
        pthread_mutex_unlock(&e->health_lock);
}

/* Read a small file of <proc root>/self into buf (NUL-terminated). 0 or -errno. */
static int proc_self_read(struct engine *e, const char *name, char *buf, size_t size)
{
        char path[PATH_MAX];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/self/%s", e->proc_root, name);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = fread(buf, 1, size - 1, f);
        buf[n] = 0;
        fclose(f);
        return n > 0 ? 0 : -EIO;
}

int engine_process(struct engine *e, struct engine_process *ret)
{
        char buf[1024], path[PATH_MAX];
        unsigned long long start_ticks = 0, btime = 0, pages = 0;
        long threads = 0;
        const char *p;
        DIR *d;
        int r;

        assert_return(e && ret, -EINVAL);
        *ret = (struct engine_process){};

        /* stat: the fields after the command (which may hold spaces) start after its ')'. */
        r = proc_self_read(e, "stat", buf, sizeof(buf));
        if (r < 0)
                return r;
        p = strrchr(buf, ')');
        /* state is field 3; num_threads field 20; starttime field 22 */
        if (!p || sscanf(p + 2,
                         "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                         "%*d %ld %*d %llu",
                         &threads, &start_ticks) != 2)
                return -EBADMSG;
        ret->threads = (unsigned)threads;

        {
                FILE *f;
                char line[256];

                snprintf(path, sizeof(path), "%s/stat", e->proc_root);
                f = fopen(path, "re");
                if (!f)
                        return -errno;
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "btime %llu", &btime) == 1)
                                break;
                fclose(f);
        }
        ret->start_time_seconds =
                (double)btime + (double)start_ticks / (double)sysconf(_SC_CLK_TCK);

        r = proc_self_read(e, "statm", buf, sizeof(buf));
        if (r < 0)
                return r;
        if (sscanf(buf, "%*u %llu", &pages) != 1)
                return -EBADMSG;
        ret->resident_bytes = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);

        snprintf(path, sizeof(path), "%s/self/fd", e->proc_root);
        d = opendir(path);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        ret->open_fds++;
        closedir(d);
        if (ret->open_fds > 0)
                ret->open_fds--; /* the directory stream's own */
        return 0;
}
