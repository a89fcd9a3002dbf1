/* SPDX-License-Identifier: MIT */
/* The inventory handlers: NICs (/api/v1/nics), transports and HBAs (/api/v1/transports, hbas). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nic_snapshot *, nic_snapshot_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct engine_hbas *, engine_hbas_unref);

/* The stored records, to show which ones use a port. */
struct iface_set {
        struct iface_snap **items;
        size_t n;
};

static void iface_set_done(struct iface_set *s)
{
        for (size_t i = 0; i < s->n; i++)
                iface_snap_unref(s->items[i]);
        free(s->items);
}

static int iface_set_load(struct call *c, struct iface_set *s)
{
        struct engine_list_query q = { .limit = ENGINE_MAX_RECORDS + 2 };
        bool more;

        return engine_iface_list(c->api->engine, &q, &s->items, &s->n, &more);
}

/* Names of the records bound to this NIC: by net_ifacename, or by hwaddress = its MAC. */
static void put_nic_ifaces(struct sbuf *b, const struct nic *nic, const struct iface_set *set)
{
        bool first = true;

        sbuf_puts(b, "[");
        for (size_t i = 0; i < set->n; i++) {
                const struct iface_rec *r = &set->items[i]->rec;

                if (set->items[i]->builtin)
                        continue;
                if (!engine_iface_on_nic(r, nic))
                        continue;
                if (!first)
                        sbuf_puts(b, ",");
                sbuf_json_string(b, r->name);
                first = false;
        }
        sbuf_puts(b, "]");
}

static const char *family_name(int family)
{
        return family == AF_INET ? "inet" : family == AF_INET6 ? "inet6" : "other";
}

static void put_nic(struct sbuf *b, const struct nic *n, const struct iface_set *set,
                    const struct hba_inventory *hbas)
{
        const char *flags[32];
        size_t n_flags = nic_flags_names(n->flags, flags, ELEMENTSOF(flags));
        bool first = true;

        sbuf_puts(b, "{\"name\":");
        sbuf_json_string(b, n->name);
        sbuf_printf(b, ",\"ifindex\":%d,\"mac\":", n->ifindex);
        sbuf_json_string_or_null(b, isempty(n->mac) ? NULL : n->mac);
        sbuf_printf(b, ",\"mtu\":%u,\"operstate\":", n->mtu);
        sbuf_json_string(b, n->operstate);
        sbuf_printf(b, ",\"carrier\":%s,\"up\":%s,\"flags\":[",
                    n->carrier < 0 ? "null" :
                    n->carrier     ? "true" :
                                     "false",
                    n->flags & 0x1 /* IFF_UP */ ? "true" : "false");
        for (size_t i = 0; i < n_flags; i++) {
                if (i)
                        sbuf_puts(b, ",");
                sbuf_json_string(b, flags[i]);
        }
        sbuf_puts(b, "],\"kind\":");
        sbuf_json_string(b, isempty(n->kind) ? "physical" : n->kind);
        sbuf_puts(b, ",\"parent\":");
        sbuf_json_string_or_null(b, isempty(n->parent) ? NULL : n->parent);
        if (n->parent_ifindex > 0)
                sbuf_printf(b, ",\"parent_ifindex\":%d", n->parent_ifindex);
        else
                sbuf_puts(b, ",\"parent_ifindex\":null");
        if (n->vlan_id >= 0)
                sbuf_printf(b, ",\"vlan_id\":%d", n->vlan_id);
        else
                sbuf_puts(b, ",\"vlan_id\":null");

        sbuf_puts(b, ",\"addresses\":[");
        for (size_t i = 0; i < n->n_addrs; i++) {
                const struct nic_addr *a = &n->addrs[i];

                sbuf_printf(b, "%s{\"family\":\"%s\",\"address\":", i ? "," : "",
                            family_name(a->family));
                sbuf_json_string(b, a->address);
                sbuf_printf(b, ",\"prefixlen\":%u,\"scope\":", a->prefixlen);
                sbuf_json_string(b, a->scope);
                sbuf_puts(b, "}");
        }
        sbuf_puts(b, "]");

        if (n->speed_mbps >= 0)
                sbuf_printf(b, ",\"speed_mbps\":%d", n->speed_mbps);
        else
                sbuf_puts(b, ",\"speed_mbps\":null");
        sbuf_puts(b, ",\"duplex\":");
        sbuf_json_string(b, isempty(n->duplex) ? "unknown" : n->duplex);
        sbuf_puts(b, ",\"driver\":");
        sbuf_json_string_or_null(b, isempty(n->driver) ? NULL : n->driver);

        /* open-iscsi's README: binding needs rp_filter 0 (off) or 2 (loose); strict (1) drops
         * replies that arrive on a NIC that is not the route back to the sender. */
        if (n->rp_filter < 0)
                sbuf_puts(b, ",\"rp_filter\":{\"value\":null,\"drops_bound_replies\":null}");
        else
                sbuf_printf(b, ",\"rp_filter\":{\"value\":%d,\"drops_bound_replies\":%s}",
                            n->rp_filter, n->rp_filter == 1 ? "true" : "false");

        sbuf_puts(b, ",\"ifaces\":");
        put_nic_ifaces(b, n, set);

        sbuf_puts(b, ",\"hbas\":[");
        for (size_t i = 0; hbas && i < hbas->n_hosts; i++) {
                const struct hba_host *h = &hbas->hosts[i];

                if (!engine_hba_on_nic(h, n))
                        continue;
                sbuf_printf(b, "%s{\"host\":%u,\"transport\":", first ? "" : ",", h->host_no);
                sbuf_json_string_or_null(b, isempty(h->transport) ? NULL : h->transport);
                sbuf_puts(b, "}");
                first = false;
        }
        sbuf_puts(b, "]}");
}

static int parse_bool(struct call *c, const char *key, const char *v, int *ret)
{
        if (streq(v, "true"))
                *ret = 1;
        else if (streq(v, "false"))
                *ret = 0;
        else {
                snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s", key);
                return call_invalid(c, c->err.field_buf, "must be true or false");
        }
        return 0;
}

int nics_list(struct call *c)
{
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *nics = NULL;
        _cleanup_(engine_hbas_unrefp) struct engine_hbas *hbas = NULL;
        _cleanup_(iface_set_done) struct iface_set set = {};
        const char *kind = NULL;
        int up = -1, has_address = -1;
        struct sbuf b = {};
        bool first = true;
        int r;

        for (size_t i = 0; i < c->req->n_args; i++) {
                const char *k = c->req->args[i].key, *v = c->req->args[i].value ?: "";

                if (streq(k, "kind"))
                        kind = v;
                else if (streq(k, "up"))
                        r = parse_bool(c, "up", v, &up);
                else if (streq(k, "has_address"))
                        r = parse_bool(c, "has_address", v, &has_address);
                else {
                        snprintf(c->err.field_buf, sizeof(c->err.field_buf), "%s", k);
                        return call_invalid(
                                c, c->err.field_buf,
                                "unknown query parameter (known: kind, up, has_address)");
                }
                if (c->err.field)
                        return -EINVAL;
        }

        nics = engine_nics(c->api->engine);
        if (!nics) {
                snprintf(c->detail, sizeof(c->detail), "the NIC inventory is not available");
                return -ETIMEDOUT;
        }
        (void)engine_hbas(c->api->engine, &hbas);
        r = iface_set_load(c, &set);
        if (r < 0)
                return r;

        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < nics->n_nics; i++) {
                const struct nic *n = &nics->nics[i];

                if (kind && !streq(kind, isempty(n->kind) ? "physical" : n->kind))
                        continue;
                if (up >= 0 && !!(n->flags & 0x1) != up)
                        continue;
                if (has_address >= 0 && (n->n_addrs > 0) != has_address)
                        continue;
                if (!first)
                        sbuf_puts(&b, ",");
                put_nic(&b, n, &set, hbas ? &hbas->inv : NULL);
                first = false;
        }
        sbuf_puts(&b, "]}");
        return call_reply_json(c, 200, &b);
}

int nics_get(struct call *c)
{
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *nics = NULL;
        _cleanup_(engine_hbas_unrefp) struct engine_hbas *hbas = NULL;
        _cleanup_(iface_set_done) struct iface_set set = {};
        const struct nic *n;
        struct sbuf b = {};
        int r;

        nics = engine_nics(c->api->engine);
        if (!nics) {
                snprintf(c->detail, sizeof(c->detail), "the NIC inventory is not available");
                return -ETIMEDOUT;
        }
        n = nic_snapshot_find(nics, c->param);
        if (!n) {
                snprintf(c->detail, sizeof(c->detail), "no NIC named '%.64s'", c->param);
                return -ENOENT;
        }
        (void)engine_hbas(c->api->engine, &hbas);
        r = iface_set_load(c, &set);
        if (r < 0)
                return r;
        put_nic(&b, n, &set, hbas ? &hbas->inv : NULL);
        return call_reply_json(c, 200, &b);
}

int transports_list(struct call *c)
{
        _cleanup_(engine_hbas_unrefp) struct engine_hbas *hbas = NULL;
        struct sbuf b = {};
        int r;

        r = engine_hbas(c->api->engine, &hbas);
        if (r < 0)
                return r;

        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < hbas->inv.n_transports; i++) {
                const struct hba_transport *t = &hbas->inv.transports[i];
                const char *names[32];
                size_t n = t->caps_known ? hba_caps_names(t->caps, names, ELEMENTSOF(names)) : 0;

                sbuf_printf(&b, "%s{\"name\":", i ? "," : "");
                sbuf_json_string(&b, t->name);
                sbuf_printf(&b, ",\"loaded\":%s,\"handle\":%" PRIu64 ",\"caps\":",
                            t->loaded ? "true" : "false", t->handle);
                if (t->caps_known)
                        sbuf_printf(&b, "\"0x%x\"", t->caps);
                else
                        sbuf_puts(&b, "null");
                sbuf_puts(&b, ",\"capabilities\":[");
                for (size_t k = 0; k < n; k++) {
                        if (k)
                                sbuf_puts(&b, ",");
                        sbuf_json_string(&b, names[k]);
                }
                sbuf_puts(&b, "]}");
        }
        sbuf_puts(&b, "]}");
        return call_reply_json(c, 200, &b);
}

static void put_hba(struct sbuf *b, const struct hba_host *h, const struct iface_set *set)
{
        bool first = true;

        sbuf_printf(b, "{\"host\":%u,\"name\":\"host%u\",\"transport\":", h->host_no, h->host_no);
        sbuf_json_string_or_null(b, isempty(h->transport) ? NULL : h->transport);
        sbuf_printf(b, ",\"offload\":%s", h->offload ? "true" : "false");
        static const char *const keys[] = { "hwaddress",     "ipaddress",  "netdev",
                                            "initiatorname", "port_state", "port_speed" };
        const char *vals[] = { h->hwaddress,     h->ipaddress,  h->netdev,
                               h->initiatorname, h->port_state, h->port_speed };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                sbuf_printf(b, ",\"%s\":", keys[i]);
                sbuf_json_string_or_null(b, isempty(vals[i]) ? NULL : vals[i]);
        }

        sbuf_puts(b, ",\"kernel_ifaces\":[");
        for (size_t i = 0; i < h->n_kifaces; i++) {
                const struct hba_kiface *k = &h->kifaces[i];

                sbuf_printf(b, "%s{\"name\":", i ? "," : "");
                sbuf_json_string(b, k->name);
                sbuf_printf(b, ",\"family\":\"%s\",\"iface_num\":%d,\"attributes\":{",
                            k->ipv6 ? "ipv6" : "ipv4", k->iface_num);
                for (size_t a = 0; a < k->n_attrs; a++) {
                        if (a)
                                sbuf_puts(b, ",");
                        sbuf_json_string(b, k->attrs[a].key);
                        sbuf_puts(b, ":");
                        sbuf_json_string(b, k->attrs[a].value ?: "");
                }
                sbuf_puts(b, "}}");
        }

        /* The records that use this port: same transport and MAC (iscsiadm matches the host by
         * hwaddress, case-insensitively). */
        sbuf_puts(b, "],\"ifaces\":[");
        for (size_t i = 0; i < set->n; i++) {
                const struct iface_rec *r = &set->items[i]->rec;

                if (set->items[i]->builtin || !engine_iface_on_hba(r, h))
                        continue;
                if (!first)
                        sbuf_puts(b, ",");
                sbuf_json_string(b, r->name);
                first = false;
        }
        sbuf_puts(b, "]}");
}

int hbas_list(struct call *c)
{
        _cleanup_(engine_hbas_unrefp) struct engine_hbas *hbas = NULL;
        _cleanup_(iface_set_done) struct iface_set set = {};
        struct sbuf b = {};
        int r;

        r = engine_hbas(c->api->engine, &hbas);
        if (r < 0)
                return r;
        r = iface_set_load(c, &set);
        if (r < 0)
                return r;

        sbuf_puts(&b, "{\"items\":[");
        for (size_t i = 0; i < hbas->inv.n_hosts; i++) {
                if (i)
                        sbuf_puts(&b, ",");
                put_hba(&b, &hbas->inv.hosts[i], &set);
        }
        sbuf_puts(&b, "]}");
        return call_reply_json(c, 200, &b);
}

/* "7" or "host7". */
static int parse_host(const char *s, unsigned *ret)
{
        unsigned long v;
        char *end;

        if (strncmp(s, "host", 4) == 0)
                s += 4;
        if (*s < '0' || *s > '9')
                return -ENOENT;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT32_MAX)
                return -ENOENT;
        *ret = (unsigned)v;
        return 0;
}

int hbas_get(struct call *c)
{
        _cleanup_(engine_hbas_unrefp) struct engine_hbas *hbas = NULL;
        _cleanup_(iface_set_done) struct iface_set set = {};
        const struct hba_host *h = NULL;
        struct sbuf b = {};
        unsigned host_no;
        int r;

        r = engine_hbas(c->api->engine, &hbas);
        if (r < 0)
                return r;
        if (parse_host(c->param, &host_no) >= 0)
                h = hba_find_host(&hbas->inv, host_no);
        if (!h) {
                snprintf(c->detail, sizeof(c->detail), "no iSCSI host '%.64s'", c->param);
                return -ENOENT;
        }
        r = iface_set_load(c, &set);
        if (r < 0)
                return r;
        put_hba(&b, h, &set);
        return call_reply_json(c, 200, &b);
}
