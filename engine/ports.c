/* SPDX-License-Identifier: MIT */
/*
 * The engine's view of the host's ports: the NIC snapshot, the shared HBA scan, the records
 * iscsiadm would create for offload ports, the port a record binds to (engine_iface_port), and
 * the iface part of a check's spec.
 */
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "engine-internal.h"
#include "mirror.h"

/* --- inventory ----------------------------------------------------------------------------- */

struct nic_snapshot *engine_nics(struct engine *e)
{
        return e && e->nics ? nic_monitor_snapshot(e->nics) : NULL;
}

struct engine_hbas *engine_hbas_unref(struct engine_hbas *h)
{
        if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        hba_inventory_done(&h->inv);
        free(h);
        return NULL;
}

/* The shared HBA scan; a fresh one when older than a second or when fresh is asked. */
static int hbas_cached(struct engine *e, bool fresh, struct engine_hbas **ret)
{
        struct engine_hbas *h;
        /* Monotonic (a clock set back would keep an old scan), and coarse: its age in seconds. */
        int64_t now = clock_usec(CLOCK_MONOTONIC_COARSE);
        int r;

        /* sysfs is cheap to read, but not on every GET of a record: share a scan for 1 s. */
        pthread_mutex_lock(&e->hbas_lock);
        if (fresh || !e->hbas || now - e->hbas->scanned_usec >= 1000000) {
                h = calloc(1, sizeof(*h));
                if (!h) {
                        pthread_mutex_unlock(&e->hbas_lock);
                        return -ENOMEM;
                }
                r = hba_scan(e->sysfs_root, &h->inv);
                if (r < 0) {
                        free(h);
                        pthread_mutex_unlock(&e->hbas_lock);
                        return r;
                }
                h->scanned_usec = now;
                h->generation = ++e->hbas_generation;
                h->refs = 1;
                engine_hbas_unref(e->hbas);
                e->hbas = h;
        }
        h = e->hbas;
        __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&e->hbas_lock);
        *ret = h;
        return 0;
}

int engine_hbas(struct engine *e, struct engine_hbas **ret)
{
        assert_return(e && ret, -EINVAL);

        return hbas_cached(e, false, ret);
}

int engine_offload_sync(struct engine *e)
{
        struct engine_hbas *h = NULL;
        struct iface_rec *recs = NULL;
        size_t n = 0;
        int r, created = 0;

        assert_return(e, -EINVAL);

        r = hbas_cached(e, true, &h);
        if (r < 0)
                return r;
        r = hba_offload_ifaces(&h->inv, &recs, &n);
        engine_hbas_unref(h);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *data = NULL;
                struct iface_error err = {};

                /* Never overwrite: a record, a file (iscsiadm's own, maybe edited) or a name
                 * we cannot serve keeps it as it is, exactly as iscsiadm does. Looked at under
                 * iscsiadm's lock, so that it cannot appear between the look and the write. */
                if (iface_name_validate(recs[i].name, &err) < 0)
                        continue;
                r = write_begin(e, NULL, &err);
                if (r < 0)
                        break;
                if (!idx_find(e, recs[i].name) &&
                    mirror_read(e->mirror, recs[i].name, &data, NULL) == -ENOENT) {
                        r = commit_change(e, &(struct engine_ctx){ "iscsi-ifaced", NULL }, "auto",
                                          recs[i].name, &recs[i], "create", NULL, NULL);
                        if (r >= 0)
                                created++;
                }
                write_end(e);
        }

        for (size_t i = 0; i < n; i++)
                iface_rec_done(&recs[i]);
        free(recs);
        return r < 0 ? r : created;
}

bool engine_mac_eq(const char *a, const char *b)
{
        return !isempty(a) && !isempty(b) && strcasecmp(a, b) == 0;
}

bool engine_iface_on_nic(const struct iface_rec *rec, const struct nic *nic)
{
        return streq_ptr(rec->str[IFACE_F_NET_IFACENAME], nic->name) ||
               engine_mac_eq(rec->str[IFACE_F_HWADDRESS], nic->mac);
}

bool engine_hba_on_nic(const struct hba_host *h, const struct nic *nic)
{
        return streq_ptr(h->netdev, nic->name) || engine_mac_eq(h->hwaddress, nic->mac);
}

bool engine_iface_on_hba(const struct iface_rec *rec, const struct hba_host *h)
{
        return engine_mac_eq(rec->str[IFACE_F_HWADDRESS], h->hwaddress) &&
               streq_ptr(rec->str[IFACE_F_TRANSPORT_NAME], h->transport);
}

enum engine_port_state engine_iface_port(const struct iface_rec *rec,
                                         const struct nic_snapshot *nics,
                                         const struct hba_inventory *hbas,
                                         char warnings[ENGINE_PORT_WARNINGS_MAX][160],
                                         size_t *ret_n_warnings)
{
        const char *netdev = rec->str[IFACE_F_NET_IFACENAME];
        const char *hw = rec->str[IFACE_F_HWADDRESS];
        bool bound = false, missing = false;
        size_t n = 0;

        if (!isempty(netdev) && !streq(netdev, "default")) {
                bool found = nics && nic_snapshot_find(nics, netdev);

                for (size_t i = 0; !found && hbas && i < hbas->n_hosts; i++)
                        found = streq_ptr(hbas->hosts[i].netdev, netdev);
                bound = true;
                if (!found) {
                        missing = true;
                        snprintf(warnings[n++], 160,
                                 "net_ifacename '%s' names no NIC or HBA port on this host",
                                 netdev);
                }
        }
        if (!isempty(hw) && !streq(hw, "default")) {
                bool found = nics && nic_snapshot_find_mac(nics, hw);

                for (size_t i = 0; !found && hbas && i < hbas->n_hosts; i++)
                        found = engine_mac_eq(hbas->hosts[i].hwaddress, hw);
                bound = true;
                if (!found) {
                        missing = true;
                        snprintf(warnings[n++], 160,
                                 "hwaddress '%s' matches no NIC or HBA port on this host", hw);
                }
        }
        *ret_n_warnings = n;
        return !bound ? ENGINE_PORT_UNBOUND : missing ? ENGINE_PORT_MISSING : ENGINE_PORT_PRESENT;
}

/* --- checks -------------------------------------------------------------------------------- */

int engine_check_spec_init(struct engine *e, const char *name, struct check_spec *spec)
{
        struct iface_snap *snap = NULL;
        static const struct {
                const char *key;
                size_t off, size;
        } fields[] = {
                { "transport_name", offsetof(struct check_spec, transport),
                  sizeof(((struct check_spec *)0)->transport) },
                { "net_ifacename", offsetof(struct check_spec, netdev),
                  sizeof(((struct check_spec *)0)->netdev) },
                { "hwaddress", offsetof(struct check_spec, hwaddress),
                  sizeof(((struct check_spec *)0)->hwaddress) },
                { "ipaddress", offsetof(struct check_spec, ipaddress),
                  sizeof(((struct check_spec *)0)->ipaddress) },
                { "initiatorname", offsetof(struct check_spec, initiatorname),
                  sizeof(((struct check_spec *)0)->initiatorname) },
        };
        int r;

        r = engine_iface_get(e, name, &snap);
        if (r < 0)
                return r;

        snprintf(spec->iface, sizeof(spec->iface), "%s", name);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                int idx = iface_field_find(fields[i].key);
                const char *v = idx >= 0 ? snap->rec.str[idx] : NULL;
                char *dst = (char *)spec + fields[i].off;

                /* Values were validated on write; one that does not fit is not used at all. */
                if (v && strlen(v) < fields[i].size)
                        memcpy(dst, v, strlen(v) + 1);
                else
                        dst[0] = 0;
        }
        /* iscsiadm's "default" placeholders mean unset. */
        if (streq(spec->netdev, "default"))
                spec->netdev[0] = 0;
        if (streq(spec->hwaddress, "default"))
                spec->hwaddress[0] = 0;
        if (streq(spec->ipaddress, "default"))
                spec->ipaddress[0] = 0;
        if (streq(spec->initiatorname, "default"))
                spec->initiatorname[0] = 0;
        spec->ipv6 = iface_rec_is_ipv6(&snap->rec);
        {
                int idx = iface_field_find("iface_num");
                const char *v = idx >= 0 ? snap->rec.str[idx] : NULL;

                spec->iface_num = v ? (unsigned)strtoul(v, NULL, 10) : 0;
        }
        iface_snap_unref(snap);

        /* An offload iface: find its HBA port (transport and hwaddress, as iscsiadm does). */
        if (!isempty(spec->transport) && !streq(spec->transport, "tcp") &&
            !streq(spec->transport, "iser")) {
                struct engine_hbas *h = NULL;

                if (engine_hbas(e, &h) >= 0) {
                        for (size_t i = 0; i < h->inv.n_hosts; i++) {
                                const struct hba_host *host = &h->inv.hosts[i];

                                if (!host->transport || !streq(host->transport, spec->transport) ||
                                    !host->hwaddress ||
                                    strcasecmp(host->hwaddress, spec->hwaddress) != 0)
                                        continue;
                                spec->hba_found = true;
                                spec->host_no = host->host_no;
                                snprintf(spec->hba_port_state, sizeof(spec->hba_port_state), "%s",
                                         host->port_state ?: "");
                                snprintf(spec->hba_ipaddress, sizeof(spec->hba_ipaddress), "%s",
                                         host->ipaddress ?: "");
                                break;
                        }
                        for (size_t i = 0; i < h->inv.n_transports; i++)
                                if (streq(h->inv.transports[i].name, spec->transport))
                                        spec->transport_handle = h->inv.transports[i].handle;
                        engine_hbas_unref(h);
                }
        }
        return 0;
}
