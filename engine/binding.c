/* SPDX-License-Identifier: MIT */
/*
 * Bindings: the node records of nodes/ and the discovery records of send_targets/, with the
 * guarantees of iface records (docs/bindings.md). The same crash-safe protocol as write.c
 * (intent row keyed by the root-relative path -> file -> row + audit -> index), under the same
 * locks (engine-internal.h); reconciliation with the tree (drift from iscsiadm); the verbs.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-internal.h"
#include "iscsi-name.h"
#include "log.h"
#include "mirror.h"
#include "store.h"

#define MASK "********"

/* --- snapshots and ids --------------------------------------------------------------------- */

struct binding_snap *binding_snap_ref(struct binding_snap *s)
{
        if (s)
                __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
        return s;
}

struct binding_snap *binding_snap_unref(struct binding_snap *s)
{
        if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        free(s->id);
        free(s->path);
        node_rec_done(&s->rec);
        free(s->content);
        free(s->link_path);
        free(s);
        return NULL;
}

void binding_id_format(const struct binding_key *key, char *buf, size_t size)
{
        snprintf(buf, size, "%s,%s,%u,%d,%s", key->target, key->address, key->port, key->tpgt,
                 key->iface);
}

static bool ip_ok(const char *s)
{
        unsigned char b[16];

        return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int parse_uint(const char *s, long min, long max, long *ret)
{
        char *end;
        long v;

        if (isempty(s) || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int iface_name_ok(const char *name, struct iface_error *err)
{
        if (iface_name_is_builtin(name))
                return 0;
        return iface_name_validate(name, err);
}

int binding_id_parse(const char *id, struct binding_key *ret, struct iface_error *err)
{
        char buf[BINDING_ID_MAX + 1], *part[5], *save = NULL, *p;
        size_t n = 0;
        long v;

        err->field = "id";
        if (!id || strlen(id) > BINDING_ID_MAX) {
                snprintf(err->reason, sizeof(err->reason), "a binding id has at most %d bytes",
                         BINDING_ID_MAX);
                return -EINVAL;
        }
        strcpy(buf, id);
        for (p = strtok_r(buf, ",", &save); p && n < 5; p = strtok_r(NULL, ",", &save))
                part[n++] = p;
        if (n != 5 || p || strstr(id, ",,") || id[0] == ',' || id[strlen(id) - 1] == ',') {
                snprintf(err->reason, sizeof(err->reason),
                         "a binding id is '<target>,<address>,<port>,<tpgt>,<iface>'");
                return -EINVAL;
        }
        *ret = (struct binding_key){};
        if (iscsi_name_validate(part[0], "id", err) < 0)
                return -EINVAL;
        err->field = "id";
        if (!ip_ok(part[1]) || strlen(part[1]) >= sizeof(ret->address)) {
                snprintf(err->reason, sizeof(err->reason),
                         "the address part of the id is not an IP address");
                return -EINVAL;
        }
        if (parse_uint(part[2], 1, 65535, &v) < 0) {
                snprintf(err->reason, sizeof(err->reason),
                         "the port part of the id is not 1..65535");
                return -EINVAL;
        }
        ret->port = (uint16_t)v;
        if (parse_uint(part[3], -1, 65535, &v) < 0) {
                snprintf(err->reason, sizeof(err->reason),
                         "the tpgt part of the id is not -1..65535");
                return -EINVAL;
        }
        ret->tpgt = (int)v;
        if (iface_name_ok(part[4], err) < 0) {
                err->field = "id";
                return -EINVAL;
        }
        snprintf(ret->target, sizeof(ret->target), "%s", part[0]);
        snprintf(ret->address, sizeof(ret->address), "%s", part[1]);
        snprintf(ret->iface, sizeof(ret->iface), "%s", part[4]);
        return 0;
}

/* Is this line's key a secret ("....password" or "....password_in")? */
static bool secret_key(const char *line, size_t keylen)
{
        static const char *const sfx[] = { ".password", ".password_in" };

        for (size_t i = 0; i < ELEMENTSOF(sfx); i++) {
                size_t k = strlen(sfx[i]);

                if (keylen >= k && strncmp(line + keylen - k, sfx[i], k) == 0)
                        return true;
        }
        return false;
}

char *binding_mask_secrets(const char *content)
{
        size_t n = strlen(content), lines = 1;
        const char *p = content;
        char *out, *o;

        /* A masked line is at most its key, " = ", the mask and a newline: 12 bytes past it. */
        for (const char *q = content; (q = strchr(q, '\n')); q++)
                lines++;
        out = o = malloc(n + lines * (strlen(" = " MASK) + 1) + 1);
        if (!out)
                return NULL;
        while (*p) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
                const char *eq = memchr(p, '=', len);
                size_t keylen = eq ? (size_t)(eq - p) : 0;

                while (keylen > 0 && p[keylen - 1] == ' ')
                        keylen--;
                if (eq && secret_key(p, keylen)) {
                        memcpy(o, p, keylen);
                        o += keylen;
                        o += sprintf(o, " = " MASK "%s", eol ? "\n" : "");
                } else {
                        memcpy(o, p, len);
                        o += len;
                }
                p += len;
        }
        *o = 0;
        return out;
}

/* --- paths --------------------------------------------------------------------------------- */

static char *node_path(const struct binding_key *k)
{
        char *p;

        if (asprintf(&p, "nodes/%s/%s,%u,%d/%s", k->target, k->address, k->port, k->tpgt,
                     k->iface) < 0)
                return NULL;
        return p;
}

static char *portal_dir_abs(struct engine *e, const struct binding_key *k)
{
        char *p;

        if (asprintf(&p, "%s/nodes/%s/%s,%u,%d", mirror_root(e->mirror), k->target, k->address,
                     k->port, k->tpgt) < 0)
                return NULL;
        return p;
}

/* The send_targets link of a record found by discovery, or "" (allocated either way). */
static char *link_path_of(const struct binding_key *k, const struct node_rec *rec, bool old_style)
{
        const char *type = rec->val[NODE_F_DISC_TYPE], *daddr = rec->val[NODE_F_DISC_ADDRESS];
        const char *dport = rec->val[NODE_F_DISC_PORT];
        char *p;

        if (old_style)
                return strdup("");
        if (type && streq(type, "static")) {
                /* iscsiadm -m node -o new links the portal directory under static/. */
                if (asprintf(&p, "static/%s,%s,%u,%d,%s", k->target, k->address, k->port, k->tpgt,
                             k->iface) < 0)
                        return NULL;
                return p;
        }
        if (!type || !streq(type, "send_targets") || isempty(daddr) || !ip_ok(daddr) ||
            isempty(dport))
                return strdup("");
        if (asprintf(&p, "send_targets/%s,%s/%s,%s,%u,%d,%s", daddr, dport, k->target, k->address,
                     k->port, k->tpgt, k->iface) < 0)
                return NULL;
        return p;
}

/* The key of a parsed record, checked; and whether path is where iscsiadm keeps it. */
static int key_from_rec(const char *path, const struct node_rec *rec, struct binding_key *ret,
                        bool *ret_old, struct iface_error *err)
{
        const char *name = rec->val[NODE_F_NAME], *addr = rec->val[NODE_F_CONN_ADDRESS];
        const char *iface = rec->iface.name;
        long port, tpgt;
        char want[PATH_MAX];

        *ret = (struct binding_key){};
        if (!name || iscsi_name_validate(name, "node.name", err) < 0)
                return -EINVAL;
        if (!addr || !ip_ok(addr) || strlen(addr) >= sizeof(ret->address)) {
                err->field = "node.conn[0].address";
                snprintf(err->reason, sizeof(err->reason), "not an IP address");
                return -EINVAL;
        }
        if (parse_uint(rec->val[NODE_F_CONN_PORT], 1, 65535, &port) < 0 ||
            parse_uint(rec->val[NODE_F_TPGT], -1, 65535, &tpgt) < 0) {
                err->field = "node.tpgt";
                snprintf(err->reason, sizeof(err->reason), "port or tpgt out of range");
                return -EINVAL;
        }
        if (!iface || iface_name_ok(iface, err) < 0)
                return -EINVAL;
        snprintf(ret->target, sizeof(ret->target), "%s", name);
        snprintf(ret->address, sizeof(ret->address), "%s", addr);
        snprintf(ret->iface, sizeof(ret->iface), "%s", iface);
        ret->port = (uint16_t)port;
        ret->tpgt = (int)tpgt;

        snprintf(want, sizeof(want), "nodes/%s/%s,%ld,%ld/%s", name, addr, port, tpgt, iface);
        if (streq(want, path)) {
                *ret_old = false;
                return 0;
        }
        snprintf(want, sizeof(want), "nodes/%s/%s,%ld", name, addr, port);
        if (streq(want, path)) {
                *ret_old = true;
                return 0;
        }
        err->field = NULL;
        snprintf(err->reason, sizeof(err->reason),
                 "its values (%s, %s:%ld, tpgt %ld, iface %s) do not match its path", name, addr,
                 port, tpgt, iface);
        return -EINVAL;
}

/* A snapshot of the file at path. *ret has one reference. 0, -EINVAL (err), -ENOMEM. */
static int bsnap_new(const char *path, const char *data, size_t len, uint64_t rev,
                     const char *origin, int64_t created, int64_t updated,
                     struct binding_snap **ret, struct iface_error *err)
{
        _cleanup_(binding_snap_unrefp) struct binding_snap *s = NULL;
        char id[BINDING_ID_MAX];
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->refs = 1;
        r = node_parse_file(data, len, &s->rec, err);
        if (r < 0)
                return r;
        r = key_from_rec(path, &s->rec, &s->key, &s->old_style, err);
        if (r < 0)
                return r;
        binding_id_format(&s->key, id, sizeof(id));
        s->id = strdup(id);
        s->path = strdup(path);
        s->content = strndup(data, len);
        s->link_path = link_path_of(&s->key, &s->rec, s->old_style);
        if (!s->id || !s->path || !s->content || !s->link_path)
                return -ENOMEM;
        s->content_len = len;
        s->revision = rev;
        s->origin = origin && streq(origin, "api") ? "api" : "external";
        s->created_usec = created;
        s->updated_usec = updated;
        *ret = TAKE_PTR(s);
        return 0;
}

/* --- the binding index (sorted by id; changed under write_lock + index_lock) --------------- */

#define BIDX_KEY offsetof(struct binding_snap, id)

static size_t bidx_search(struct engine *e, const char *id, bool *found)
{
        return sorted_search((void *const *)e->bidx, e->n_bidx, BIDX_KEY, id, found);
}

static struct binding_snap *bidx_find(struct engine *e, const char *id)
{
        bool found;
        size_t i = bidx_search(e, id, &found);

        return found ? e->bidx[i] : NULL;
}

/* The binding at a path: new-style paths name their id; old-style ones are looked for. */
static struct binding_snap *bidx_find_path(struct engine *e, const char *path)
{
        char t[224], portal[64], iface[80], id[BINDING_ID_MAX];
        struct binding_snap *b;

        if (sscanf(path, "nodes/%223[^/]/%63[^/]/%79[^/]", t, portal, iface) == 3 &&
            strlen(path) == strlen(t) + strlen(portal) + strlen(iface) + 8) {
                snprintf(id, sizeof(id), "%s,%s,%s", t, portal, iface);
                b = bidx_find(e, id);
                return b && streq(b->path, path) ? b : NULL;
        }
        for (size_t i = 0; i < e->n_bidx; i++)
                if (e->bidx[i]->old_style && streq(e->bidx[i]->path, path))
                        return e->bidx[i];
        return NULL;
}

/*
 * Put snap (reference taken over) at id, or remove id (snap NULL), and publish the binding
 * event: its origin is snap's, or origin for a removal. 0 or -ENOMEM.
 */
static int bidx_set(struct engine *e, const char *id, struct binding_snap *snap, const char *origin)
{
        void *old = NULL;
        uint64_t rev = snap ? snap->revision : 0;
        char name[EVENT_NAME_MAX];
        int r;

        if (snap)
                origin = snap->origin;
        /* id may belong to the entry replaced here. */
        snprintf(name, sizeof(name), "%s", id);

        pthread_rwlock_wrlock(&e->index_lock);
        r = sorted_put((void ***)&e->bidx, &e->n_bidx, &e->cap_bidx, BIDX_KEY, id, snap, &old);
        pthread_rwlock_unlock(&e->index_lock);
        binding_snap_unref(r < 0 ? snap : old);
        if (r >= 0 && (old || snap))
                engine_emit(e,
                            &(struct event){ .type = !snap ? EVENT_BINDING_DELETED :
                                                     old   ? EVENT_BINDING_CHANGED :
                                                             EVENT_BINDING_CREATED,
                                             .revision = rev },
                            name, origin, NULL);
        return r;
}

void bindings_free(struct engine *e)
{
        for (size_t i = 0; i < e->n_bidx; i++)
                binding_snap_unref(e->bidx[i]);
        free(e->bidx);
        e->bidx = NULL;
        e->n_bidx = e->cap_bidx = 0;
        for (size_t i = 0; i < e->n_sts; i++) {
                free(e->sts[i].path);
                free(e->sts[i].content);
        }
        free(e->sts);
        e->sts = NULL;
        e->n_sts = 0;
        node_rec_done(&e->node_defaults);
        free(e->conf_text);
}

/* The discovery records (send_targets/<p>/st_config), under write_lock. */
static struct st_entry *sts_find(struct engine *e, const char *path)
{
        for (size_t i = 0; i < e->n_sts; i++)
                if (streq(e->sts[i].path, path))
                        return &e->sts[i];
        return NULL;
}

static int sts_set_locked(struct engine *e, const char *path, const char *content, uint64_t rev,
                          int64_t created)
{
        struct st_entry *s = sts_find(e, path);

        if (!content) {
                if (s) {
                        free(s->path);
                        free(s->content);
                        *s = e->sts[--e->n_sts];
                }
                return 0;
        }
        if (!s) {
                struct st_entry *n = realloc(e->sts, (e->n_sts + 1) * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                e->sts = n;
                s = &e->sts[e->n_sts];
                *s = (struct st_entry){ .path = strdup(path), .created_usec = created };
                if (!s->path)
                        return -ENOMEM;
                e->n_sts++;
        }
        free(s->content);
        s->content = strdup(content);
        s->revision = rev;
        return s->content ? 0 : -ENOMEM;
}

/* Change the discovery records, holding write_lock; readers (engine_discovery_auth) hold
 * index_lock shared, so the change takes it exclusive. */
static int sts_set(struct engine *e, const char *path, const char *content, uint64_t rev,
                   int64_t created)
{
        int r;

        pthread_rwlock_wrlock(&e->index_lock);
        r = sts_set_locked(e, path, content, rev, created);
        pthread_rwlock_unlock(&e->index_lock);
        return r;
}

/* --- the write protocol for the node db ---------------------------------------------------- */

/* The kind of a path for the audit. */
static const char *path_kind(const char *path)
{
        return strncmp(path, "send_targets/", 13) == 0 ? "discovery" : "binding";
}

/*
 * The change of the node db at path (content NULL = delete), for changes_commit: the row's audit
 * entry names audit_name (the binding id, or the discovery portal) with secrets masked in
 * m_before and m_after (owned by the caller, made by node_change_init).
 */
static int node_change_init(struct wchange *c, const struct engine_ctx *ctx, const char *origin,
                            const char *path, const char *audit_name, const char *content,
                            const char *before, const char *action, char **m_before, char **m_after)
{
        if (before && !(*m_before = binding_mask_secrets(before)))
                return -ENOMEM;
        if (content && !(*m_after = binding_mask_secrets(content)))
                return -ENOMEM;
        *c = (struct wchange){
                .key = path,
                .node = true,
                .content = content,
                .len = content ? strlen(content) : 0,
                .row = {
                        .origin = origin,
                        .action = action,
                        .actor = ctx ? ctx->actor : "iscsi db root",
                        .request_id = ctx ? ctx->request_id : NULL,
                        .before = before,
                        .kind = path_kind(path),
                        .audit_name = audit_name,
                        .audit_before = *m_before,
                        .audit_after = *m_after,
                },
        };
        return 0;
}

/*
 * Store one change of the node db at path (content NULL = delete), holding write_begin's locks
 * with the file settled: with write_file, the file through changes_commit (a batch of one);
 * without, only the row and audit entry (an import of what is already there). On failure
 * nothing changed.
 */
static int commit_node(struct engine *e, const struct engine_ctx *ctx, const char *origin,
                       const char *path, const char *audit_name, const char *content,
                       const char *before, const char *action, bool write_file, uint64_t *ret_rev)
{
        _cleanup_free_ char *m_before = NULL, *m_after = NULL;
        struct wchange c;
        uint64_t rev;
        int r;

        r = node_change_init(&c, ctx, origin, path, audit_name, content, before, action, &m_before,
                             &m_after);
        if (r < 0)
                return r;
        if (write_file) {
                (void)changes_commit(e, (struct wchange *[]){ &c }, 1);
                if (c.r < 0)
                        return c.r;
                rev = c.revision;
        } else {
                r = revision_next(e, &rev);
                if (r < 0)
                        return r;
                c.row.name = path;
                c.row.content = content;
                c.row.revision = rev;
                c.row.now_usec = clock_usec(CLOCK_REALTIME);
                c.row.node = true;
                r = store_apply(e->store, &c.row);
                if (r < 0)
                        return r;
                e->revision = rev;
        }
        if (ret_rev)
                *ret_rev = rev;
        return 0;
}

/* A binding's write prepared for changes_commit, and what its finish needs. */
struct bstage {
        struct wchange change;
        const struct binding_key *key; /* borrowed */
        char *content, *path, *m_before, *m_after;
        struct binding_snap *snap; /* the new one (a write), or the one removed */
        const char *origin;
        char id[BINDING_ID_MAX];
};

static void bstage_done(struct bstage *bs)
{
        free(bs->content);
        free(bs->path);
        free(bs->m_before);
        free(bs->m_after);
        binding_snap_unref(bs->snap);
        *bs = (struct bstage){};
}

/* Prepare the write of rec at key (replacing old) into bs; nothing is written. */
static int binding_prepare(const struct engine_ctx *ctx, const char *origin,
                           const struct binding_key *key, const struct node_rec *rec,
                           const struct binding_snap *old, const char *action, struct bstage *bs,
                           struct iface_error *err)
{
        int64_t now = clock_usec(CLOCK_REALTIME);
        size_t len;
        int r;

        *bs = (struct bstage){ .key = key, .origin = origin };
        r = node_render_file(rec, &bs->content, &len);
        if (r == -EINVAL)
                return iface_error_set(err, r, NULL, "a required value of the record is unset");
        if (r < 0)
                return r;
        bs->path = node_path(key);
        if (!bs->path)
                return -ENOMEM;
        binding_id_format(key, bs->id, sizeof(bs->id));
        /* What we write must read back as the same binding: the edit's values are checked here,
         * by iscsiadm's reading of them (node_parse_file). */
        r = bsnap_new(bs->path, bs->content, len, 0, origin, old ? old->created_usec : now, now,
                      &bs->snap, err);
        if (r == -EBADMSG)
                return -EINVAL;
        if (r < 0)
                return r;
        return node_change_init(&bs->change, ctx, origin, bs->path, bs->id, bs->content,
                                old ? old->content : NULL, action, &bs->m_before, &bs->m_after);
}

/* Prepare the removal of cur into bs: its send_targets link goes first (D16). */
static int binding_prepare_remove(struct engine *e, const struct engine_ctx *ctx,
                                  const char *origin, struct binding_snap *cur, struct bstage *bs)
{
        int r;

        *bs = (struct bstage){ .origin = origin, .snap = binding_snap_ref(cur) };
        if (!isempty(cur->link_path)) {
                r = mirror_link_remove(e->mirror, cur->link_path);
                if (r < 0)
                        return r;
        }
        return node_change_init(&bs->change, ctx, origin, cur->path, cur->id, NULL, cur->content,
                                "delete", &bs->m_before, &bs->m_after);
}

/* Once bs->change is durable: the link, the index. */
static int binding_finish(struct engine *e, struct bstage *bs, struct binding_snap **ret)
{
        _cleanup_free_ char *target = NULL;
        struct binding_snap *snap = bs->snap;
        int r;

        if (!bs->change.content) {
                problem_clear(e, snap->path);
                return bidx_set(e, snap->id, NULL, bs->origin);
        }
        snap->revision = bs->change.revision;
        if (!isempty(snap->link_path)) {
                target = portal_dir_abs(e, bs->key);
                if (!target)
                        return -ENOMEM;
                r = mirror_link_set(e->mirror, snap->link_path, target);
                if (r < 0)
                        log_warning_errno(r, "Failed to link '%s'", snap->link_path);
        }
        r = bidx_set(e, bs->id, binding_snap_ref(snap), NULL);
        if (r < 0)
                return r;
        problem_clear(e, bs->path);
        if (ret)
                *ret = binding_snap_ref(snap);
        return 0;
}

/* Commit the prepared bs now (r: how its preparation went) as a batch of one, then finish it. */
static int bstage_commit(struct engine *e, struct bstage *bs, int r, struct binding_snap **ret)
{
        if (r >= 0) {
                (void)changes_commit(e, (struct wchange *[]){ &bs->change }, 1);
                r = bs->change.r;
        }
        if (r >= 0)
                r = binding_finish(e, bs, ret);
        bstage_done(bs);
        return r;
}

/* Write (or replace) the binding rec at key now, as a batch of one: file, link, row, index. */
static int binding_store(struct engine *e, const struct engine_ctx *ctx, const char *origin,
                         const struct binding_key *key, const struct node_rec *rec,
                         const struct binding_snap *old, const char *action,
                         struct binding_snap **ret, struct iface_error *err)
{
        struct bstage bs;

        return bstage_commit(e, &bs, binding_prepare(ctx, origin, key, rec, old, action, &bs, err),
                             ret);
}

static int binding_remove(struct engine *e, const struct engine_ctx *ctx, const char *origin,
                          struct binding_snap *cur)
{
        struct bstage bs;

        return bstage_commit(e, &bs, binding_prepare_remove(e, ctx, origin, cur, &bs), NULL);
}

/* --- reconciliation ------------------------------------------------------------------------ */

static int reconcile_st_path(struct engine *e, const char *path)
{
        _cleanup_free_ char *data = NULL;
        struct st_entry *cur = sts_find(e, path);
        struct st_rec rec = {};
        struct iface_error err = {};
        const char *action;
        size_t len = 0;
        uint64_t rev;
        int r;

        r = mirror_path_read(e->mirror, path, &data, &len);
        if (r == -ENOENT) {
                problem_clear(e, path);
                if (!cur)
                        return 0;
                if (e->drift == ENGINE_DRIFT_REPORT) {
                        problem_set(e, path, "drift", "removed outside iscsi-ifaced");
                        return 0;
                }
                r = commit_node(e, NULL, "external", path, path, NULL, cur->content, "delete",
                                false, &rev);
                return r < 0 ? r : sts_set(e, path, NULL, 0, 0);
        }
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                problem_set(e, path, "unreadable", "it is %s", mirror_read_strerror(r));
                return 0;
        }
        if (cur && streq(cur->content, data))
                return 0;
        r = st_parse_file(data, len, &rec, &err);
        st_rec_done(&rec);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || strlen(data) != len) {
                problem_set(e, path, "unreadable", "%s", r < 0 ? err.reason : "a NUL byte");
                return 0;
        }
        if (e->drift == ENGINE_DRIFT_REPORT) {
                problem_set(e, path, "drift", "%s outside iscsi-ifaced", cur ? "changed" : "added");
                return 0;
        }
        problem_clear(e, path);
        action = cur ? "update" : "create";
        r = commit_node(e, NULL, "external", path, path, data, cur ? cur->content : NULL, action,
                        false, &rev);
        if (r < 0)
                return r;
        event_record(e, path, cur ? "changed" : "added", rev);
        return sts_set(e, path, data, rev, clock_usec(CLOCK_REALTIME));
}

/*
 * Bring one node file in line: import, report, or drop. Holding write_lock + mirror lock.
 * scanned: the file's print as reconcile_nodes' scan saw it, or NULL. While it is the settled
 * print of the bytes the binding last matched, the file is not read again (docs/decisions.md
 * "The node db is looked at without write_lock, and read only where it changed").
 */
static int reconcile_node_path(struct engine *e, const char *path, const struct file_print *scanned)
{
        _cleanup_free_ char *data = NULL;
        _cleanup_(binding_snap_unrefp) struct binding_snap *snap = NULL;
        struct binding_snap *cur = bidx_find_path(e, path), *other;
        struct iface_error err = {};
        struct file_print print;
        bool settled = false;
        size_t len = 0;
        uint64_t rev;
        int r;

        if (strncmp(path, "send_targets/", 13) == 0)
                return reconcile_st_path(e, path);
        if (scanned && cur && cur->print_settled && file_print_eq(scanned, &cur->print))
                return 0;
        if (e->fault)
                e->fault("node-read"); /* tests count the reads */

        r = mirror_path_read_print(e->mirror, path, &data, &len, &print, &settled);
        if (r == -ENOENT) {
                problem_clear(e, path);
                if (!cur)
                        return 0;
                if (e->drift == ENGINE_DRIFT_REPORT) {
                        problem_set(e, path, "drift",
                                    "removed outside iscsi-ifaced (stored revision %" PRIu64 ")",
                                    cur->revision);
                        return 0;
                }
                r = commit_node(e, NULL, "external", path, cur->id, NULL, cur->content, "delete",
                                false, &rev);
                if (r < 0)
                        return r;
                event_record(e, cur->id, "removed", rev);
                log_info("Imported external removal of '%s' as revision %" PRIu64, path, rev);
                return bidx_set(e, cur->id, NULL, "external");
        }
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                problem_set(e, path, "unreadable", "it is %s", mirror_read_strerror(r));
                return 0;
        }
        if (cur && cur->content_len == len && memcmp(cur->content, data, len) == 0) {
                cur->print = print;
                cur->print_settled = settled;
                return 0;
        }
        r = bsnap_new(path, data, len, 0, "external", cur ? cur->created_usec : 0, 0, &snap, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || strlen(data) != len) {
                problem_set(e, path, "unreadable", "%s%s%s", err.field ?: "", err.field ? ": " : "",
                            r < 0 ? err.reason : "a NUL byte");
                return 0;
        }
        other = bidx_find(e, snap->id);
        if (other && !streq(other->path, path)) {
                problem_set(e, path, "unreadable", "the binding %s is also at '%s'", snap->id,
                            other->path);
                return 0;
        }
        if (e->drift == ENGINE_DRIFT_REPORT) {
                problem_set(e, path, "drift", "%s outside iscsi-ifaced", cur ? "changed" : "added");
                return 0;
        }
        problem_clear(e, path);
        if (cur && !streq(cur->id, snap->id)) {
                /* The file now names another binding: the old one is gone. */
                r = bidx_set(e, cur->id, NULL, "external");
                if (r < 0)
                        return r;
                cur = NULL;
        }
        r = commit_node(e, NULL, "external", path, snap->id, data, cur ? cur->content : NULL,
                        cur ? "update" : "create", false, &rev);
        if (r < 0)
                return r;
        snap->revision = rev;
        snap->updated_usec = clock_usec(CLOCK_REALTIME);
        if (!cur)
                snap->created_usec = snap->updated_usec;
        snap->print = print;
        snap->print_settled = settled;
        event_record(e, snap->id, cur ? "changed" : "added", rev);
        log_info("Imported external change of '%s' as revision %" PRIu64, path, rev);
        {
                struct binding_snap *t = TAKE_PTR(snap);

                return bidx_set(e, t->id, t, NULL);
        }
}

static bool node_file_path(const struct mirror_node_entry *en)
{
        size_t slashes = 0;

        for (const char *p = en->path; *p; p++)
                slashes += *p == '/';
        if (strncmp(en->path, "nodes/", 6) == 0)
                return slashes == 2 || slashes == 3;
        /* send_targets/<p>/st_config; the links beside it are derived from the bindings. */
        return slashes == 2 && strlen(en->path) > 10 &&
               streq(en->path + strlen(en->path) - 10, "/st_config");
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const struct mirror_node_entry *)a)->path,
                      ((const struct mirror_node_entry *)b)->path);
}

int nodes_scan(struct engine *e, struct node_scan *ret)
{
        int r;

        *ret = (struct node_scan){};
        r = mirror_nodes_scan(e->mirror, &ret->v, &ret->n, &ret->sig);
        if (r < 0)
                return r;
        /* In path order, so that reconcile_nodes_scanned's lists are sorted for bsearch. */
        if (ret->n > 1)
                qsort(ret->v, ret->n, sizeof(*ret->v), entry_cmp);
        return 0;
}

void node_scan_done(struct node_scan *s)
{
        mirror_node_entries_free(s->v, s->n);
        *s = (struct node_scan){};
}

int reconcile_nodes(struct engine *e)
{
        struct node_scan s;
        int r;

        r = nodes_scan(e, &s);
        if (r < 0)
                return log_error_errno(r, "Failed to scan the node db of '%s'",
                                       mirror_root(e->mirror));
        r = reconcile_nodes_scanned(e, &s);
        node_scan_done(&s);
        return r;
}

int reconcile_nodes_scanned(struct engine *e, const struct node_scan *s)
{
        const struct mirror_node_entry *v = s->v;
        const struct file_print **seen_print = NULL;
        char **seen = NULL, **gone = NULL;
        size_t n = s->n, n_seen = 0, n_gone = 0;
        int r = 0;

        seen = calloc(n + 1, sizeof(char *));
        seen_print = calloc(n + 1, sizeof(*seen_print));
        gone = calloc(e->n_bidx + e->n_sts + 1, sizeof(char *));
        if (!seen || !seen_print || !gone) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                if (!node_file_path(&v[i]))
                        continue;
                if (v[i].type != MIRROR_ENTRY_FILE) {
                        if (strncmp(v[i].path, "nodes/", 6) == 0)
                                problem_set(e, v[i].path, "unreadable",
                                            "not a regular file: iscsi-ifaced leaves it alone");
                        continue;
                }
                seen_print[n_seen] = &v[i].print;
                seen[n_seen++] = v[i].path;
        }
        for (size_t i = 0; i < e->n_bidx; i++)
                if (!bsearch(&e->bidx[i]->path, seen, n_seen, sizeof(char *), str_cmp) &&
                    !(gone[n_gone++] = strdup(e->bidx[i]->path))) {
                        r = -ENOMEM;
                        goto finish;
                }
        for (size_t i = 0; i < e->n_sts; i++)
                if (!bsearch(&e->sts[i].path, seen, n_seen, sizeof(char *), str_cmp) &&
                    !(gone[n_gone++] = strdup(e->sts[i].path))) {
                        r = -ENOMEM;
                        goto finish;
                }
        for (size_t i = 0; i < n_seen && r >= 0; i++)
                r = reconcile_node_path(e, seen[i], seen_print[i]);
        for (size_t i = 0; i < n_gone && r >= 0; i++)
                r = reconcile_node_path(e, gone[i], NULL);
        if (r >= 0) {
                /* Problems of paths that are gone are stale. */
                pthread_mutex_lock(&e->health_lock);
                for (size_t i = 0; i < e->n_problems;) {
                        const char *pn = e->problems[i].name;
                        bool keep = !strchr(pn, '/');

                        if (!keep && n > 0)
                                keep = bsearch(&(struct mirror_node_entry){ .path = (char *)pn }, v,
                                               n, sizeof(*v), entry_cmp);
                        if (keep) {
                                i++;
                                continue;
                        }
                        free(e->problems[i].name);
                        free(e->problems[i].reason);
                        e->problems[i] = e->problems[--e->n_problems];
                }
                pthread_mutex_unlock(&e->health_lock);
                e->nodes_sig = s->sig;
        }
finish:
        for (size_t i = 0; i < n_gone; i++)
                free(gone[i]);
        free(gone);
        free(seen);
        free(seen_print);
        return r;
}

/* --- start: rows, defaults, recovery ------------------------------------------------------- */

static int node_row_cb(const struct store_row *row, void *ud)
{
        struct engine *e = ud;
        _cleanup_(binding_snap_unrefp) struct binding_snap *snap = NULL;
        struct iface_error err = {};
        int r;

        if (strncmp(row->name, "send_targets/", 13) == 0)
                return sts_set(e, row->name, row->content, row->revision, row->created_usec);
        r = bsnap_new(row->name, row->content, strlen(row->content), row->revision, row->origin,
                      row->created_usec, row->updated_usec, &snap, &err);
        if (r < 0) {
                problem_set(e, row->name, "unreadable", "stored revision %" PRIu64 ": %s",
                            row->revision, err.reason);
                return r == -ENOMEM ? r : 0;
        }
        {
                struct binding_snap *t = TAKE_PTR(snap);

                return bidx_set(e, t->id, t, NULL);
        }
}

int bindings_load(struct engine *e, const char *conf_path)
{
        struct iface_error err = {};
        int r;

        if (conf_path && !isempty(conf_path)) {
                FILE *f = fopen(conf_path, "re");

                if (!f) {
                        if (errno != ENOENT)
                                return log_error_errno(errno, "Failed to open '%s'", conf_path);
                        log_notice("'%s' does not exist: new bindings get iscsiadm's compiled "
                                   "defaults",
                                   conf_path);
                } else {
                        char buf[65536];
                        size_t n = fread(buf, 1, sizeof(buf), f);
                        bool big = n == sizeof(buf);

                        fclose(f);
                        if (big)
                                return log_error_errno(EFBIG, "'%s' is over 64 KiB", conf_path);
                        e->conf_text = strndup(buf, n);
                        if (!e->conf_text)
                                return -ENOMEM;
                        e->conf_len = n;
                }
        }
        r = node_defaults(e->conf_text, e->conf_len, &e->node_defaults, &err);
        if (r < 0) {
                log_error("'%s': %s%s%s", conf_path, err.field ?: "", err.field ? ": " : "",
                          err.reason);
                return r;
        }
        return store_node_rows_foreach(e->store, node_row_cb, e);
}

int recover_node_intent(struct engine *e, const char *path, const char *content, uint64_t rev,
                        const char *origin, const char *actor, const char *request_id)
{
        _cleanup_free_ char *data = NULL, *masked = NULL;
        size_t len = 0;
        bool done;
        int r;

        r = mirror_path_read(e->mirror, path, &data, &len);
        if (r == -ENOMEM)
                return r;
        done = content ? r >= 0 && strlen(content) == len && streq(data, content) : r == -ENOENT;
        if (!done) {
                log_notice("Interrupted write of '%s' (revision %" PRIu64
                           ") did not reach the db root, dropped",
                           path, rev);
                /* A create may have made its directories before the kill. */
                (void)mirror_path_prune(e->mirror, path, 1);
                return store_intent_drop(e->store, path);
        }
        if (!content)
                (void)mirror_path_prune(e->mirror, path, 1); /* a remove may have stopped early */
        if (content && !(masked = binding_mask_secrets(content)))
                return -ENOMEM;
        r = store_apply(e->store, &(struct store_change){
                                          .name = path,
                                          .content = content,
                                          .revision = rev,
                                          .origin = origin,
                                          .now_usec = clock_usec(CLOCK_REALTIME),
                                          .action = content ? "recover" : "delete",
                                          .actor = actor,
                                          .request_id = request_id,
                                          .node = true,
                                          .kind = path_kind(path),
                                          .audit_name = path,
                                          .audit_after = masked,
                                  });
        if (r < 0)
                return r;
        if (rev > e->revision)
                e->revision = rev;
        log_notice("Interrupted write of '%s' (revision %" PRIu64 ") had reached the db root, "
                   "completed",
                   path, rev);
        return 0;
}

/* --- reads --------------------------------------------------------------------------------- */

int engine_binding_get(struct engine *e, const char *id, struct binding_snap **ret)
{
        struct binding_snap *s;

        assert_return(e && id && ret, -EINVAL);
        pthread_rwlock_rdlock(&e->index_lock);
        s = binding_snap_ref(bidx_find(e, id));
        pthread_rwlock_unlock(&e->index_lock);
        if (!s)
                return -ENOENT;
        *ret = s;
        return 0;
}

static bool matches(const struct binding_snap *s, const struct engine_binding_query *q)
{
        if (q->target && !streq(s->key.target, q->target))
                return false;
        if (q->address && !streq(s->key.address, q->address))
                return false;
        if (q->port && s->key.port != q->port)
                return false;
        if (q->iface && !streq(s->key.iface, q->iface))
                return false;
        return true;
}

int engine_binding_list(struct engine *e, const struct engine_binding_query *q,
                        struct binding_snap ***ret, size_t *ret_n, bool *ret_more)
{
        struct binding_snap **v;
        size_t n = 0, i = 0;
        bool found, more = false;

        assert_return(e && q && q->limit > 0 && ret && ret_n && ret_more, -EINVAL);
        v = calloc(q->limit, sizeof(*v));
        if (!v)
                return -ENOMEM;
        pthread_rwlock_rdlock(&e->index_lock);
        if (q->after) {
                i = bidx_search(e, q->after, &found);
                if (found)
                        i++;
        }
        for (; i < e->n_bidx; i++) {
                if (!matches(e->bidx[i], q))
                        continue;
                if (n == q->limit) {
                        more = true;
                        break;
                }
                v[n++] = binding_snap_ref(e->bidx[i]);
        }
        pthread_rwlock_unlock(&e->index_lock);
        *ret = v;
        *ret_n = n;
        *ret_more = more;
        return 0;
}

static void ids_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

/* The ids of iface's bindings (NULL-terminated), holding index_lock or write_lock. */
static int ids_of_iface(struct engine *e, const char *iface, char ***ret, size_t *ret_n)
{
        char **v = calloc(1, sizeof(*v));
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_bidx; i++) {
                char **p;

                if (!streq(e->bidx[i]->key.iface, iface))
                        continue;
                p = realloc(v, (n + 2) * sizeof(*v));
                if (!p) {
                        ids_free(v);
                        return -ENOMEM;
                }
                v = p;
                v[n + 1] = NULL;
                v[n] = strdup(e->bidx[i]->id);
                if (!v[n]) {
                        ids_free(v);
                        return -ENOMEM;
                }
                n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int engine_iface_bindings(struct engine *e, const char *iface, char ***ret, size_t *ret_n)
{
        int r;

        assert_return(e && iface && ret && ret_n, -EINVAL);
        pthread_rwlock_rdlock(&e->index_lock);
        r = ids_of_iface(e, iface, ret, ret_n);
        pthread_rwlock_unlock(&e->index_lock);
        return r;
}

/* --- writes -------------------------------------------------------------------------------- */

/* A file of the node db we cannot take over: the write is refused, nothing changes. */
static int refuse_unsettled(struct engine *e, const char *path, struct iface_error *err)
{
        snprintf(err->reason, sizeof(err->reason),
                 "'%.120s' was changed outside iscsi-ifaced and cannot be imported%s: nothing "
                 "was changed",
                 path, e->drift == ENGINE_DRIFT_REPORT ? " (the drift policy is 'report')" : "");
        return -EBUSY;
}

/* Before a write of a binding: its file must be what we last wrote (or absent). */
static int settle_node(struct engine *e, const char *path, const char *id,
                       struct binding_snap **ret_cur, struct iface_error *err)
{
        for (int pass = 0; pass < 2; pass++) {
                _cleanup_free_ char *data = NULL;
                struct binding_snap *cur = bidx_find(e, id);
                size_t len = 0;
                int r;

                r = mirror_path_read(e->mirror, path, &data, &len);
                if (r == -ENOMEM)
                        return r;
                if ((r == -ENOENT && !cur) || (r >= 0 && cur && cur->content_len == len &&
                                               !memcmp(cur->content, data, len))) {
                        *ret_cur = cur;
                        return 0;
                }
                if (pass == 0) {
                        r = reconcile_node_path(e, path, NULL);
                        if (r < 0)
                                return r;
                }
        }
        return refuse_unsettled(e, path, err);
}

/* The iface record a binding copies in (stored or built-in), borrowed under write_lock. */
static const struct iface_rec *iface_for(struct engine *e, const char *name)
{
        struct iface_snap *s = idx_find(e, name);

        if (!s)
                s = builtin_find(e, name);
        return s ? &s->rec : NULL;
}

/* A session logged in through the binding, from sysfs: -EBUSY with err naming it. */
static int session_check(struct engine *e, const struct binding_key *k, struct iface_error *err)
{
        _cleanup_free_ struct session_info *v = NULL;
        const struct session_info *s;
        size_t n = 0;
        int r;

        r = session_list(e->sysfs_root, &v, &n);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        s = session_find(v, n, k->target, k->address, k->port, k->tpgt, k->iface);
        if (!s)
                return 0;
        snprintf(err->reason, sizeof(err->reason),
                 "session %u (%.100s, state %.31s) is logged in through this binding: log it out "
                 "first",
                 s->sid, s->target, s->state);
        return -EBUSY;
}

/*
 * The binding verbs run as group commit writes (group.c). Each writes its binding's id and only
 * reads its iface, so bindings of one iface share a batch, but never with a write of the iface.
 */
struct binding_op {
        struct wop op;
        char id[BINDING_ID_MAX];
        struct binding_key key;
        char *path;
        struct node_rec rec;
        struct binding_snap *cur; /* a reference */
        engine_node_edit_fn edit;
        void *userdata;
        uint64_t if_match;
        struct bstage bs;
        struct binding_snap **ret;
};

static int binding_op_run(struct engine *e, const struct engine_ctx *ctx, struct binding_op *o,
                          int (*plan)(struct engine *, struct wop *), struct iface_error *err)
{
        int r;

        o->op = (struct wop){
                .ctx = ctx,
                .err = err,
                .keys = { o->id, o->key.iface },
                .key_write = { true, false },
                .plan = plan,
                .ud = o,
        };
        r = group_run(e, &o->op);
        free(o->path);
        node_rec_done(&o->rec);
        binding_snap_unref(o->cur);
        bstage_done(&o->bs);
        return r;
}

static int binding_op_finish(struct engine *e, struct wop *op)
{
        struct binding_op *o = op->ud;

        o->bs.change = op->change; /* with its revision */
        return binding_finish(e, &o->bs, o->ret);
}

/* Stage the write of o->rec (replacing old) as the op's change. */
static int binding_op_stage(struct engine *e, struct binding_op *o, const struct binding_key *key,
                            const struct binding_snap *old, const char *action)
{
        int r;

        r = binding_prepare(o->op.ctx, "api", key, &o->rec, old, action, &o->bs, o->op.err);
        if (r < 0)
                return r;
        o->op.change = o->bs.change;
        o->op.has_change = true;
        o->op.finish = binding_op_finish;
        return 0;
}

static int create_plan(struct engine *e, struct wop *op)
{
        struct binding_op *o = op->ud;
        struct iface_error *err = op->err;
        const struct iface_rec *ifr;
        struct binding_snap *cur;
        int r;

        ifr = iface_for(e, o->key.iface);
        if (!ifr) {
                err->field = "iface";
                snprintf(err->reason, sizeof(err->reason), "no iface '%s'", o->key.iface);
                return -ENOENT;
        }
        /* The body first: a bad one is a 400 whether or not the binding exists. */
        r = node_rec_new(&e->node_defaults, o->key.target, o->key.address, o->key.port, o->key.tpgt,
                         NODE_DISC_STATIC, NULL, 0, ifr, &o->rec);
        if (r >= 0 && o->edit)
                r = o->edit(&o->rec, err, o->userdata);
        if (r < 0)
                return r;
        r = settle_node(e, o->path, o->id, &cur, err);
        if (r < 0)
                return r;
        if (cur) {
                snprintf(err->reason, sizeof(err->reason), "the binding %.200s exists", o->id);
                return -EEXIST;
        }
        if (e->n_bidx + e->group_new_bindings >= ENGINE_MAX_RECORDS) {
                snprintf(err->reason, sizeof(err->reason), "the binding limit (%d) is reached",
                         ENGINE_MAX_RECORDS);
                return -ENOSPC;
        }
        r = binding_op_stage(e, o, &o->key, NULL, "create");
        if (r >= 0)
                e->group_new_bindings++;
        return r;
}

int engine_binding_create(struct engine *e, const struct engine_ctx *ctx,
                          const struct binding_key *key, engine_node_edit_fn edit, void *userdata,
                          struct binding_snap **ret, struct iface_error *err)
{
        struct binding_op o = { .key = *key, .edit = edit, .userdata = userdata, .ret = ret };

        assert_return(e && key && err, -EINVAL);
        if (key->tpgt < 0 || key->tpgt > 65535) {
                err->field = "tpgt";
                snprintf(err->reason, sizeof(err->reason), "must be 0..65535");
                return -EINVAL;
        }
        binding_id_format(key, o.id, sizeof(o.id));
        o.path = node_path(key);
        if (!o.path)
                return -ENOMEM;
        return binding_op_run(e, ctx, &o, create_plan, err);
}

static int rec_copy(const struct node_rec *src, struct node_rec *dst)
{
        for (size_t i = 0; i < NODE_N_FIELDS; i++)
                if (src->val[i] && !(dst->val[i] = strdup(src->val[i])))
                        return -ENOMEM;
        return iface_rec_copy(&dst->iface, &src->iface);
}

static bool rec_equal(const struct node_rec *a, const struct node_rec *b)
{
        for (size_t i = 0; i < NODE_N_FIELDS; i++)
                if (!streq_ptr(a->val[i], b->val[i]))
                        return false;
        return iface_rec_equal(&a->iface, &b->iface);
}

/* Settle the binding of o->id and check the op's condition: 0 with o->cur set, or -errno. */
static int binding_op_settle(struct engine *e, struct binding_op *o)
{
        struct binding_snap *cur = bidx_find(e, o->id);
        int r;

        o->path = cur ? strdup(cur->path) : node_path(&o->key);
        if (!o->path)
                return -ENOMEM;
        r = settle_node(e, o->path, o->id, &cur, o->op.err);
        if (r < 0)
                return r;
        if (!cur)
                return o->if_match ? -ESTALE : -ENOENT;
        if (o->if_match && o->if_match != cur->revision)
                return -ESTALE;
        o->cur = binding_snap_ref(cur);
        return 0;
}

static int update_plan(struct engine *e, struct wop *op)
{
        struct binding_op *o = op->ud;
        struct binding_snap *cur;
        int r;

        r = binding_op_settle(e, o);
        if (r < 0)
                return r;
        cur = o->cur;
        if (cur->old_style) {
                snprintf(op->err->reason, sizeof(op->err->reason),
                         "'%s' is an old-style record (no tpgt in its path): it is shown, never "
                         "written; create the binding with its tpgt instead",
                         cur->path);
                return -EPERM;
        }
        r = rec_copy(&cur->rec, &o->rec);
        if (r >= 0)
                r = o->edit(&o->rec, op->err, o->userdata);
        if (r < 0)
                return r;
        if (rec_equal(&o->rec, &cur->rec)) {
                if (o->ret)
                        *o->ret = binding_snap_ref(cur);
                return 0;
        }
        return binding_op_stage(e, o, &cur->key, cur, "update");
}

int engine_binding_update(struct engine *e, const struct engine_ctx *ctx, const char *id,
                          uint64_t if_match, engine_node_edit_fn edit, void *userdata,
                          struct binding_snap **ret, struct iface_error *err)
{
        struct binding_op o = {
                .edit = edit, .userdata = userdata, .if_match = if_match, .ret = ret
        };

        assert_return(e && id && edit && err, -EINVAL);
        if (binding_id_parse(id, &o.key, err) < 0)
                return -ENOENT; /* no binding can have that id */
        binding_id_format(&o.key, o.id, sizeof(o.id));
        return binding_op_run(e, ctx, &o, update_plan, err);
}

static int delete_plan(struct engine *e, struct wop *op)
{
        struct binding_op *o = op->ud;
        struct binding_snap *cur;
        int r;

        r = binding_op_settle(e, o);
        if (r < 0)
                return r;
        cur = o->cur;
        if (cur->old_style) {
                snprintf(op->err->reason, sizeof(op->err->reason),
                         "'%s' is an old-style record: it is shown, never written", cur->path);
                return -EPERM;
        }
        r = session_check(e, &cur->key, op->err);
        if (r < 0)
                return r;
        r = binding_prepare_remove(e, op->ctx, "api", cur, &o->bs);
        if (r < 0)
                return r;
        op->change = o->bs.change;
        op->has_change = true;
        op->finish = binding_op_finish;
        return 0;
}

int engine_binding_delete(struct engine *e, const struct engine_ctx *ctx, const char *id,
                          uint64_t if_match, struct iface_error *err)
{
        struct binding_op o = { .if_match = if_match };

        assert_return(e && id && err, -EINVAL);
        if (binding_id_parse(id, &o.key, err) < 0)
                return -ENOENT;
        binding_id_format(&o.key, o.id, sizeof(o.id));
        return binding_op_run(e, ctx, &o, delete_plan, err);
}

/*
 * The bindings of iface, holding write_begin's locks: with cascade, delete them all (none
 * while a session uses any: checked first); without, -ENOTEMPTY. 0 when there are none.
 */
int bindings_of_iface_delete(struct engine *e, const struct engine_ctx *ctx, const char *iface,
                             bool cascade, struct iface_error *err)
{
        char **ids = NULL;
        size_t n = 0;
        int r;

        r = ids_of_iface(e, iface, &ids, &n);
        if (r < 0 || n == 0)
                goto finish;
        if (!cascade) {
                snprintf(err->reason, sizeof(err->reason),
                         "the iface has %zu binding(s): delete them first, or delete with "
                         "?cascade=true",
                         n);
                r = -ENOTEMPTY;
                goto finish;
        }
        /* Every one settled and free to go before the first is deleted: all or none. */
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct binding_snap *b = bidx_find(e, ids[i]), *cur = NULL;

                if (b)
                        r = settle_node(e, b->path, b->id, &cur, err);
                if (r < 0 || !cur)
                        continue;
                if (cur->old_style) {
                        snprintf(err->reason, sizeof(err->reason),
                                 "'%.120s' is an old-style record of this iface: iscsi-ifaced "
                                 "never writes those; remove it with iscsiadm first",
                                 cur->path);
                        r = -EPERM;
                } else
                        r = session_check(e, &cur->key, err);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct binding_snap *cur = bidx_find(e, ids[i]);

                if (cur)
                        r = binding_remove(e, ctx, "api", cur);
        }
finish:
        ids_free(ids);
        return r;
}

/*
 * iscsiadm rewrites every node record of an iface when the iface changes (golden D09): the
 * iface fields in the node files follow. Holding write_begin's locks, after the iface's commit.
 */
int bindings_follow_iface(struct engine *e, const struct engine_ctx *ctx,
                          const struct iface_rec *ifr)
{
        char **ids = NULL;
        size_t n = 0;
        int r;

        r = ids_of_iface(e, ifr->name, &ids, &n);
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct binding_snap *b = bidx_find(e, ids[i]), *cur = NULL;
                struct node_rec next = {};
                struct iface_error err = {};

                if (!b || b->old_style)
                        continue;
                if (settle_node(e, b->path, b->id, &cur, &err) < 0 || !cur) {
                        log_warning("Binding %s does not follow the change of iface %s: %s", ids[i],
                                    ifr->name, err.reason);
                        continue;
                }
                r = rec_copy(&cur->rec, &next);
                if (r >= 0) {
                        iface_rec_done(&next.iface);
                        r = iface_rec_copy(&next.iface, ifr);
                }
                if (r >= 0 && !rec_equal(&next, &cur->rec))
                        r = binding_store(e, ctx, "api", &cur->key, &next, cur, "update", NULL,
                                          &err);
                node_rec_done(&next);
        }
        ids_free(ids);
        return r;
}

/* --- discovery records and bindings found by discovery ------------------------------------- */

int engine_discovery_auth(struct engine *e, const char *address, uint16_t port,
                          struct check_chap *ret)
{
        char path[128];
        struct st_rec rec = {};
        struct iface_error err = {};
        struct st_entry *s;
        int r = -ENOENT;

        assert_return(e && address && ret, -EINVAL);
        snprintf(path, sizeof(path), "send_targets/%s,%u/st_config", address, port);
        /* Called on HTTP threads: index_lock, never write_lock (a write may hold it for the
         * whole lock timeout while it waits for iscsiadm's lock). */
        pthread_rwlock_rdlock(&e->index_lock);
        s = sts_find(e, path);
        if (s && st_parse_file(s->content, strlen(s->content), &rec, &err) >= 0 &&
            rec.val[ST_F_AUTHMETHOD] && streq(rec.val[ST_F_AUTHMETHOD], "CHAP")) {
                *ret = (struct check_chap){};
                snprintf(ret->username, sizeof(ret->username), "%s", rec.val[ST_F_USERNAME] ?: "");
                snprintf(ret->password, sizeof(ret->password), "%s", rec.val[ST_F_PASSWORD] ?: "");
                snprintf(ret->username_in, sizeof(ret->username_in), "%s",
                         rec.val[ST_F_USERNAME_IN] ?: "");
                snprintf(ret->password_in, sizeof(ret->password_in), "%s",
                         rec.val[ST_F_PASSWORD_IN] ?: "");
                r = 0;
        }
        st_rec_done(&rec);
        pthread_rwlock_unlock(&e->index_lock);
        return r;
}

static int set_val(char **slot, const char *v)
{
        char *n = NULL;

        if (v && !isempty(v) && !(n = strdup(v)))
                return -ENOMEM;
        free(*slot);
        *slot = n;
        return 0;
}

/*
 * Before a write of a discovery record: the file must be what we last wrote (or absent), after
 * importing an outside change; what cannot be imported is never written over (-EBUSY).
 */
static int settle_st(struct engine *e, const char *path, struct st_entry **ret_cur,
                     struct iface_error *err)
{
        _cleanup_free_ char *data = NULL;
        struct st_entry *cur;
        int r;

        r = reconcile_st_path(e, path);
        if (r < 0)
                return r;
        cur = sts_find(e, path);
        r = mirror_path_read(e->mirror, path, &data, NULL);
        if (r == -ENOMEM)
                return r;
        if ((r == -ENOENT && !cur) || (r >= 0 && cur && streq(cur->content, data))) {
                *ret_cur = cur;
                return 0;
        }
        return refuse_unsettled(e, path, err);
}

/* Write send_targets/<addr>,<port>/st_config (new, or with new CHAP), holding the locks. */
static int st_store(struct engine *e, const struct engine_ctx *ctx, const char *address,
                    uint16_t port, const struct check_chap *auth, struct iface_error *err)
{
        _cleanup_free_ char *content = NULL;
        char path[128];
        struct st_rec rec = {};
        struct st_entry *cur;
        size_t len;
        uint64_t rev;
        int r;

        snprintf(path, sizeof(path), "send_targets/%s,%u/st_config", address, port);
        r = settle_st(e, path, &cur, err);
        if (r < 0)
                return r;
        if (cur)
                r = st_parse_file(cur->content, strlen(cur->content), &rec, err);
        else
                r = st_rec_new(e->conf_text, e->conf_len, address, port, &rec, err);
        if (r >= 0 && auth) {
                bool chap = !isempty(auth->username) || !isempty(auth->password);

                r = set_val(&rec.val[ST_F_AUTHMETHOD], chap ? "CHAP" : "None");
                if (r >= 0)
                        r = set_val(&rec.val[ST_F_USERNAME], auth->username);
                if (r >= 0)
                        r = set_val(&rec.val[ST_F_PASSWORD], auth->password);
                if (r >= 0)
                        r = set_val(&rec.val[ST_F_USERNAME_IN], auth->username_in);
                if (r >= 0)
                        r = set_val(&rec.val[ST_F_PASSWORD_IN], auth->password_in);
        }
        if (r >= 0)
                r = st_render_file(&rec, &content, &len);
        st_rec_done(&rec);
        if (r < 0)
                return r;
        if (cur && streq(cur->content, content))
                return 0;
        {
                char audit_name[80];
                _cleanup_free_ char *before = cur ? strdup(cur->content) : NULL;

                if (cur && !before)
                        return -ENOMEM;
                snprintf(audit_name, sizeof(audit_name), "%s,%u", address, port);
                r = commit_node(e, ctx, "api", path, audit_name, content, before,
                                cur ? "update" : "create", true, &rev);
        }
        if (r < 0)
                return r;
        return sts_set(e, path, content, rev, clock_usec(CLOCK_REALTIME));
}

/*
 * One binding found by discovery through address:port, holding write_begin's locks: created
 * (out->r 0), left as it is because it exists (1), or refused (-errno, out->reason). Returns 0,
 * or the -errno of a failure of the storage, which ends the run's writes.
 */
static int bind_one(struct engine *e, const struct engine_ctx *ctx, const char *address,
                    uint16_t port, const struct binding_key *k, struct engine_bind_outcome *out)
{
        _cleanup_free_ char *path = node_path(k);
        const struct iface_rec *ifr = iface_for(e, k->iface);
        struct binding_snap *cur = NULL;
        struct node_rec rec = {};
        struct iface_error err = {};
        int r;

        if (!path)
                return -ENOMEM;
        r = settle_node(e, path, out->id, &cur, &err);
        if (r >= 0 && cur)
                r = 1;
        else if (r >= 0 && !ifr)
                r = iface_error_set(&err, -ENOENT, NULL, "the iface %s is gone", k->iface);
        else if (r >= 0 && e->n_bidx >= ENGINE_MAX_RECORDS)
                r = iface_error_set(&err, -ENOSPC, NULL, "the binding limit is reached");
        else if (r >= 0) {
                r = node_rec_new(&e->node_defaults, k->target, k->address, k->port, k->tpgt,
                                 NODE_DISC_SENDTARGETS, address, port, ifr, &rec);
                if (r >= 0)
                        r = binding_store(e, ctx, "api", k, &rec, NULL, "create", NULL, &err);
                node_rec_done(&rec);
        }
        out->r = r;
        snprintf(out->reason, sizeof(out->reason), "%.159s",
                 r < 0 ? (err.reason[0] ? err.reason : strerror(-r)) : "");
        return r == -ENOMEM || r == -EIO || r == -ENOSPC || r == -EBADFD ? r : 0;
}

int engine_discovery_bind(struct engine *e, const struct engine_ctx *ctx, const char *address,
                          uint16_t port, const struct check_chap *auth,
                          const struct binding_key *found, size_t n,
                          struct engine_bind_outcome *out, struct iface_error *err)
{
        int r;

        assert_return(e && address && (found || n == 0) && (out || n == 0) && err, -EINVAL);
        /* Every outcome says something, also for the ones a failure below never reaches. */
        for (size_t i = 0; i < n; i++) {
                binding_id_format(&found[i], out[i].id, sizeof(out[i].id));
                out[i].r = -ECANCELED;
                snprintf(out[i].reason, sizeof(out[i].reason), "not written");
        }
        r = write_begin(e, ctx, err);
        if (r >= 0) {
                r = st_store(e, ctx, address, port, auth, err);
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = bind_one(e, ctx, address, port, &found[i], &out[i]);
                write_end(e);
        }
        for (size_t i = 0; r < 0 && i < n; i++)
                if (out[i].r == -ECANCELED)
                        snprintf(out[i].reason, sizeof(out[i].reason), "not written: %.140s",
                                 err->reason[0] ? err->reason : strerror(-r));
        return r;
}
