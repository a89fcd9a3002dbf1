/* SPDX-License-Identifier: MIT */
/*
 * Discovery runs: one check per (portal, iface) on the check loop (link, tcp and iscsi steps:
 * SendTargets through the iface's port, the bind verified on the socket), then the names of the
 * reply checked as untrusted input, then, for bind, the bindings written on a thread of the run's
 * own (a durable write never runs on the check loop). The engine keeps the runs in a table for
 * GET; the run's done callback answers the request that waits for it.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine-internal.h"
#include "log.h"
#include "stats.h"

struct discovery_run *discovery_run_ref(struct discovery_run *r)
{
        if (r)
                __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
        return r;
}

struct discovery_run *discovery_run_unref(struct discovery_run *r)
{
        if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        for (size_t i = 0; i < r->n_items; i++) {
                check_unref(r->items[i].chk);
                free(r->items[i].found);
        }
        free(r->items);
        free(r->refused);
        free(r->outcomes);
        explicit_bzero(&r->req, sizeof(r->req));
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

const char *discovery_state_to_string(enum discovery_state s)
{
        switch (s) {
        case DISCOVERY_RUNNING:
                return "running";
        case DISCOVERY_BINDING:
                return "binding";
        case DISCOVERY_DONE:
                return "done";
        case DISCOVERY_CANCELLED:
                return "cancelled";
        }
        return "unknown";
}

/* Escape a value from the wire for a report: printable ASCII kept, the rest as \xNN. */
static void escape(const char *in, char *out, size_t size)
{
        size_t o = 0;

        for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < size; p++) {
                if (*p >= 0x20 && *p < 0x7f && *p != '\\')
                        out[o++] = (char)*p;
                else
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", *p);
        }
        out[o] = 0;
}

/* Holding run->lock. */
static void refuse(struct discovery_run *run, const struct discovery_item *it, const char *field,
                   const char *value, const char *reason)
{
        struct discovery_refusal *n, *f;

        if (run->n_refused >= 256)
                return; /* a flood is reported by its first 256 */
        n = realloc(run->refused, (run->n_refused + 1) * sizeof(*n));
        if (!n)
                return;
        run->refused = n;
        f = &n[run->n_refused++];
        *f = (struct discovery_refusal){ .field = field };
        snprintf(f->portal, sizeof(f->portal), "%s", it->portal);
        snprintf(f->iface, sizeof(f->iface), "%s", it->iface);
        escape(value, f->value, sizeof(f->value));
        snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

/* Check what SendTargets returned for it: only valid names and portals get through. */
static void item_collect(struct discovery_run *run, struct discovery_item *it)
{
        const struct check_result *res = check_get_result(it->chk);

        for (size_t t = 0; res && t < res->n_targets; t++) {
                const struct check_target *ct = &res->targets[t];
                struct iface_error err = {};

                if (!ct->name || iscsi_name_validate(ct->name, "target", &err) < 0) {
                        refuse(run, it, "target", ct->name ?: "", err.reason);
                        continue;
                }
                for (size_t p = 0; p < ct->n_portals; p++) {
                        struct iscsi_portal ip;
                        struct discovery_found *f;

                        err = (struct iface_error){};
                        if (!ct->portals[p] ||
                            iscsi_target_address_parse(ct->portals[p], "portal", &ip, &err) < 0) {
                                refuse(run, it, "portal", ct->portals[p] ?: "", err.reason);
                                continue;
                        }
                        if (ip.tpgt < 0) {
                                refuse(run, it, "portal", ct->portals[p],
                                       "no target portal group tag: bindings are written with one");
                                continue;
                        }
                        f = realloc(it->found, (it->n_found + 1) * sizeof(*f));
                        if (!f)
                                return;
                        it->found = f;
                        f = &f[it->n_found++];
                        *f = (struct discovery_found){ .port = ip.port, .tpgt = ip.tpgt };
                        snprintf(f->target, sizeof(f->target), "%s", ct->name);
                        snprintf(f->address, sizeof(f->address), "%s", ip.address);
                }
        }
}

/* How a run that ends in state went, for ifd_discoveries_total. Under run->lock. */
static enum stats_discovery run_result(const struct discovery_run *run, enum discovery_state state)
{
        if (state == DISCOVERY_CANCELLED)
                return STATS_DISCOVERY_CANCELLED;
        if (run->bind_error[0])
                return STATS_DISCOVERY_FAILED;
        for (size_t i = 0; i < run->n_items; i++)
                if (!run->items[i].chk || check_get_result(run->items[i].chk)->status != CHECK_OK)
                        return STATS_DISCOVERY_FAILED;
        return STATS_DISCOVERY_OK;
}

static void run_finish(struct discovery_run *run, enum discovery_state state)
{
        pthread_mutex_lock(&run->lock);
        run->state = state;
        run->finished_usec = clock_usec(CLOCK_REALTIME);
        stats_discovery_done(run_result(run, state), run->finished_usec - run->created_usec);
        pthread_mutex_unlock(&run->lock);
        if (run->done)
                run->done(run, run->userdata);
}

/* The bind phase, on a thread of its own: one engine_discovery_bind per portal asked. */
static void *bind_thread(void *userdata)
{
        struct discovery_run *run = userdata;
        struct engine *e = run->engine;
        struct engine_ctx ctx = { run->actor, run->request_id, 0 };
        size_t total = 0;

        (void)pthread_setname_np(pthread_self(), "ifd-bind");
        for (size_t i = 0; i < run->n_items; i++)
                total += run->items[i].n_found;
        /* Readers (the API) see outcomes[0..n_outcomes) under the lock; the bind writes past
         * n_outcomes, then publishes them. */
        pthread_mutex_lock(&run->lock);
        run->outcomes = calloc(total ?: 1, sizeof(*run->outcomes));
        pthread_mutex_unlock(&run->lock);
        for (size_t p = 0; run->outcomes && p < run->req.n_portals; p++) {
                struct binding_key *keys = calloc(total ?: 1, sizeof(*keys));
                const char *addr = NULL;
                uint16_t port = 0;
                size_t n = 0;
                struct iface_error err = {};
                int r;

                if (!keys)
                        break;
                for (size_t f = 0; f < run->req.n_ifaces; f++) {
                        /* Items are portal-major: the ifaces of portal p are together. */
                        struct discovery_item *it = &run->items[p * run->req.n_ifaces + f];

                        addr = it->address;
                        port = it->port;
                        for (size_t x = 0; x < it->n_found; x++) {
                                struct binding_key *k = &keys[n++];

                                snprintf(k->target, sizeof(k->target), "%s", it->found[x].target);
                                snprintf(k->address, sizeof(k->address), "%s",
                                         it->found[x].address);
                                k->port = it->found[x].port;
                                k->tpgt = it->found[x].tpgt;
                                snprintf(k->iface, sizeof(k->iface), "%s", it->iface);
                        }
                }
                if (addr && n > 0) {
                        r = engine_discovery_bind(e, &ctx, addr, port,
                                                  run->req.has_auth ? &run->req.auth : NULL, keys,
                                                  n, run->outcomes + run->n_outcomes, &err);
                        pthread_mutex_lock(&run->lock);
                        run->n_outcomes += n;
                        if (r < 0)
                                snprintf(run->bind_error, sizeof(run->bind_error), "%s",
                                         err.reason[0] ? err.reason : strerror(-r));
                        pthread_mutex_unlock(&run->lock);
                }
                free(keys);
        }
        explicit_bzero(&run->req.auth, sizeof(run->req.auth));
        run_finish(run, DISCOVERY_DONE);
        pthread_mutex_lock(&e->disc_lock);
        e->disc_binders--;
        pthread_cond_broadcast(&e->disc_cond);
        pthread_mutex_unlock(&e->disc_lock);
        discovery_run_unref(run);
        return NULL;
}

/* A check of the run finished (on the check loop). */
static void item_done(struct check *chk, void *userdata)
{
        struct discovery_item *it = userdata;
        struct discovery_run *run = it->run;
        bool last, cancelled = false, bind = false;

        pthread_mutex_lock(&run->lock);
        if (!it->chk)
                it->chk = check_ref(chk); /* done before the submit returned */
        it->done = true;
        item_collect(run, it);
        cancelled = check_get_result(chk)->status == CHECK_CANCELLED;
        last = ++run->n_done == run->n_items;
        if (last) {
                cancelled = cancelled || run->state == DISCOVERY_CANCELLED;
                bind = run->req.bind && !cancelled;
                if (bind)
                        run->state = DISCOVERY_BINDING;
        }
        pthread_mutex_unlock(&run->lock);
        if (!last)
                return;
        if (bind) {
                struct engine *e = run->engine;
                pthread_t t;
                pthread_attr_t attr;
                int r;

                pthread_mutex_lock(&e->disc_lock);
                e->disc_binders++;
                pthread_mutex_unlock(&e->disc_lock);
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                r = pthread_create(&t, &attr, bind_thread, discovery_run_ref(run));
                pthread_attr_destroy(&attr);
                if (r == 0)
                        return;
                discovery_run_unref(run);
                pthread_mutex_lock(&e->disc_lock);
                e->disc_binders--;
                pthread_mutex_unlock(&e->disc_lock);
                snprintf(run->bind_error, sizeof(run->bind_error),
                         "could not start the bind phase: %s", strerror(r));
        }
        explicit_bzero(&run->req.auth, sizeof(run->req.auth));
        run_finish(run, cancelled ? DISCOVERY_CANCELLED : DISCOVERY_DONE);
}

/* Keep run in the table, dropping the oldest finished ones beyond DISCOVERY_KEEP. */
static int table_add(struct engine *e, struct discovery_run *run)
{
        pthread_mutex_lock(&e->disc_lock);
        while (e->n_disc >= DISCOVERY_KEEP) {
                size_t oldest = SIZE_MAX;

                for (size_t i = 0; i < e->n_disc; i++) {
                        enum discovery_state s;

                        pthread_mutex_lock(&e->disc[i]->lock);
                        s = e->disc[i]->state;
                        pthread_mutex_unlock(&e->disc[i]->lock);
                        if (s == DISCOVERY_DONE || s == DISCOVERY_CANCELLED) {
                                oldest = i;
                                break;
                        }
                }
                if (oldest == SIZE_MAX) {
                        pthread_mutex_unlock(&e->disc_lock);
                        return -EAGAIN;
                }
                discovery_run_unref(e->disc[oldest]);
                memmove(e->disc + oldest, e->disc + oldest + 1,
                        (e->n_disc - oldest - 1) * sizeof(*e->disc));
                e->n_disc--;
        }
        e->disc[e->n_disc++] = discovery_run_ref(run);
        pthread_mutex_unlock(&e->disc_lock);
        return 0;
}

/* The ifaces iscsiadm would use without -I: every stored tcp iface, else "default". */
static int default_ifaces(struct engine *e, struct discovery_request *req)
{
        pthread_rwlock_rdlock(&e->index_lock);
        for (size_t i = 0; i < e->n_idx && req->n_ifaces < DISCOVERY_IFACES_MAX; i++) {
                int f = iface_field_find("transport_name");
                const char *t = f >= 0 ? e->idx[i]->rec.str[f] : NULL;

                if (t && streq(t, "tcp"))
                        snprintf(req->ifaces[req->n_ifaces++], sizeof(req->ifaces[0]), "%s",
                                 e->idx[i]->rec.name);
        }
        pthread_rwlock_unlock(&e->index_lock);
        if (req->n_ifaces == 0)
                snprintf(req->ifaces[req->n_ifaces++], sizeof(req->ifaces[0]), "default");
        return 0;
}

int engine_discovery_start(struct engine *e, const struct engine_ctx *ctx,
                           const struct discovery_request *req_in,
                           void (*done)(struct discovery_run *run, void *userdata), void *userdata,
                           struct discovery_run **ret, struct iface_error *err)
{
        struct discovery_run *run;
        struct check_spec *specs = NULL;
        uint8_t rnd[8];
        int r;

        assert_return(e && req_in && req_in->n_portals > 0 && err && ret, -EINVAL);
        run = calloc(1, sizeof(*run));
        if (!run)
                return -ENOMEM;
        pthread_mutex_init(&run->lock, NULL);
        run->refs = 1;
        run->engine = e;
        run->req = *req_in;
        run->created_usec = clock_usec(CLOCK_REALTIME);
        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                memset(rnd, 0, sizeof(rnd));
        snprintf(run->id, sizeof(run->id), "d-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        snprintf(run->actor, sizeof(run->actor), "%s", ctx && ctx->actor ? ctx->actor : "");
        snprintf(run->request_id, sizeof(run->request_id), "%s",
                 ctx && ctx->request_id ? ctx->request_id : "");
        if (run->req.n_ifaces == 0)
                default_ifaces(e, &run->req);

        run->n_items = run->req.n_portals * run->req.n_ifaces;
        run->items = calloc(run->n_items, sizeof(*run->items));
        specs = calloc(run->n_items, sizeof(*specs));
        if (!run->items || !specs) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t f = 0; f < run->req.n_ifaces; f++) {
                struct check_spec spec = {};

                r = engine_check_spec_init(e, run->req.ifaces[f], &spec);
                if (r == -ENOENT) {
                        snprintf(err->field_buf, sizeof(err->field_buf), "ifaces[%zu]", f);
                        err->field = err->field_buf;
                        snprintf(err->reason, sizeof(err->reason), "no iface named '%.64s'",
                                 run->req.ifaces[f]);
                        goto fail;
                }
                if (r < 0)
                        goto fail;
                if (!streq(spec.transport, "tcp")) {
                        snprintf(err->field_buf, sizeof(err->field_buf), "ifaces[%zu]", f);
                        err->field = err->field_buf;
                        snprintf(err->reason, sizeof(err->reason),
                                 "iface '%.40s' uses transport '%.15s': SendTargets through an "
                                 "offload or iSER port goes through the kernel's transport, "
                                 "which iscsi-ifaced does not drive; use a tcp iface",
                                 run->req.ifaces[f], spec.transport);
                        r = -ENOSYS;
                        goto fail;
                }
                for (size_t p = 0; p < run->req.n_portals; p++) {
                        /* Items are portal-major: all ifaces of portal 0, then portal 1... */
                        size_t i = p * run->req.n_ifaces + f;
                        struct discovery_item *it = &run->items[i];
                        struct check_spec *s = &specs[i];
                        const struct sockaddr_storage *ss = &run->req.portals[p];

                        *s = spec;
                        s->portal = *ss;
                        s->steps = 1u << CHECK_STEP_LINK | 1u << CHECK_STEP_TCP |
                                   1u << CHECK_STEP_ISCSI;
                        s->timeout_ms = run->req.timeout_ms ?: CHECK_TIMEOUT_DEFAULT_MS;
                        snprintf(it->iface, sizeof(it->iface), "%s", run->req.ifaces[f]);
                        check_format_portal(ss, it->portal, sizeof(it->portal));
                        if (ss->ss_family == AF_INET) {
                                const struct sockaddr_in *in = (const void *)ss;

                                inet_ntop(AF_INET, &in->sin_addr, it->address, sizeof(it->address));
                                it->port = ntohs(in->sin_port);
                        } else {
                                const struct sockaddr_in6 *in6 = (const void *)ss;

                                inet_ntop(AF_INET6, &in6->sin6_addr, it->address,
                                          sizeof(it->address));
                                it->port = ntohs(in6->sin6_port);
                        }
                        if (run->req.has_auth) {
                                s->has_discovery_chap = true;
                                s->discovery_chap = run->req.auth;
                        } else if (engine_discovery_auth(e, it->address, it->port,
                                                         &s->discovery_chap) == 0)
                                s->has_discovery_chap = true;
                }
        }
        r = table_add(e, run);
        if (r < 0) {
                snprintf(err->reason, sizeof(err->reason),
                         "%d discovery runs are in progress: retry later", DISCOVERY_KEEP);
                goto fail;
        }
        run->done = done;
        run->userdata = userdata;
        /* One reference per check in flight, dropped with the run's last check. */
        for (size_t i = 0; i < run->n_items; i++) {
                struct check *chk = NULL;

                run->items[i].run = run;
                r = engine_check_submit(e, &specs[i], item_done, &run->items[i], &chk);
                pthread_mutex_lock(&run->lock);
                if (r >= 0 && !run->items[i].chk)
                        run->items[i].chk = chk;
                else
                        check_unref(chk);
                pthread_mutex_unlock(&run->lock);
                if (r < 0) {
                        /* Count the ones that never ran as done, cancelled. */
                        pthread_mutex_lock(&run->lock);
                        run->state = DISCOVERY_CANCELLED;
                        pthread_mutex_unlock(&run->lock);
                        for (size_t k = i; k < run->n_items; k++) {
                                pthread_mutex_lock(&run->lock);
                                run->items[k].done = true;
                                bool last = ++run->n_done == run->n_items;
                                pthread_mutex_unlock(&run->lock);
                                if (last)
                                        run_finish(run, DISCOVERY_CANCELLED);
                        }
                        break;
                }
        }
        for (size_t i = 0; i < run->n_items; i++)
                explicit_bzero(&specs[i], sizeof(specs[i]));
        free(specs);
        *ret = run;
        return 0;
fail:
        if (specs) {
                explicit_bzero(specs, run->n_items * sizeof(*specs));
                free(specs);
        }
        discovery_run_unref(run);
        return r;
}

int engine_discovery_get(struct engine *e, const char *id, struct discovery_run **ret)
{
        int r = -ENOENT;

        assert_return(e && id && ret, -EINVAL);
        pthread_mutex_lock(&e->disc_lock);
        for (size_t i = 0; i < e->n_disc; i++)
                if (streq(e->disc[i]->id, id)) {
                        *ret = discovery_run_ref(e->disc[i]);
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&e->disc_lock);
        return r;
}

int engine_discovery_list(struct engine *e, struct discovery_run ***ret, size_t *ret_n)
{
        struct discovery_run **v;

        assert_return(e && ret && ret_n, -EINVAL);
        pthread_mutex_lock(&e->disc_lock);
        v = calloc(e->n_disc + 1, sizeof(*v));
        if (!v) {
                pthread_mutex_unlock(&e->disc_lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < e->n_disc; i++)
                v[i] = discovery_run_ref(e->disc[e->n_disc - 1 - i]); /* newest first */
        *ret_n = e->n_disc;
        pthread_mutex_unlock(&e->disc_lock);
        *ret = v;
        return 0;
}

int engine_discovery_cancel_or_remove(struct engine *e, const char *id)
{
        struct discovery_run *run = NULL;
        bool running;

        assert_return(e && id, -EINVAL);
        pthread_mutex_lock(&e->disc_lock);
        for (size_t i = 0; i < e->n_disc; i++)
                if (streq(e->disc[i]->id, id)) {
                        run = e->disc[i];
                        pthread_mutex_lock(&run->lock);
                        running =
                                run->state == DISCOVERY_RUNNING || run->state == DISCOVERY_BINDING;
                        pthread_mutex_unlock(&run->lock);
                        if (!running) {
                                memmove(e->disc + i, e->disc + i + 1,
                                        (e->n_disc - i - 1) * sizeof(*e->disc));
                                e->n_disc--;
                                pthread_mutex_unlock(&e->disc_lock);
                                discovery_run_unref(run);
                                return 1;
                        }
                        discovery_run_ref(run);
                        break;
                }
        pthread_mutex_unlock(&e->disc_lock);
        if (!run)
                return -ENOENT;
        /* A run that is binding finishes its writes; one that is running stops its checks. */
        pthread_mutex_lock(&run->lock);
        if (run->state == DISCOVERY_RUNNING)
                run->state = DISCOVERY_CANCELLED;
        pthread_mutex_unlock(&run->lock);
        for (size_t i = 0; i < run->n_items; i++)
                check_cancel(run->items[i].chk);
        discovery_run_unref(run);
        return 0;
}

void discovery_table_free(struct engine *e)
{
        pthread_mutex_lock(&e->disc_lock);
        while (e->disc_binders > 0)
                pthread_cond_wait(&e->disc_cond, &e->disc_lock);
        for (size_t i = 0; i < e->n_disc; i++)
                discovery_run_unref(e->disc[i]);
        e->n_disc = 0;
        pthread_mutex_unlock(&e->disc_lock);
}
