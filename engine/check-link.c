/* SPDX-License-Identifier: MIT */
/*
 * The link step of a check (docs/checks.md): from the NIC snapshot and rtnetlink route lookups,
 * whether the bound port can reach the portal at all (or, for an offload iface, whether its HBA
 * port is present, up and addressed).
 */
#include <net/if.h> /* before any linux/ header: they share struct ifreq */

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-internal.h"

/* ---------------------------------------------------------------- rtnetlink route lookup */

struct route_answer {
        int oif;
        char prefsrc[INET6_ADDRSTRLEN];
};

/*
 * Ask the kernel which route it takes to dst (RTM_GETROUTE), as `ip route get` does. With oif and
 * fib_match, only a FIB entry through oif counts: the kernel's fallback of a bound socket (the
 * destination is taken as on-link out of oif) is then an error, which is the point.
 */
static int route_get(const struct sockaddr_storage *dst, int oif, bool fib_match,
                     struct route_answer *ret)
{
        struct {
                struct nlmsghdr n;
                struct rtmsg r;
                char buf[128];
        } req = {};
        char answer[4096];
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        size_t alen = dst->ss_family == AF_INET6 ? 16 : 4;
        struct rtattr *rta;
        struct nlmsghdr *h;
        _cleanup_close_ int fd = -1;
        ssize_t n;

        memset(ret, 0, sizeof(*ret));

        req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        req.n.nlmsg_type = RTM_GETROUTE;
        req.n.nlmsg_flags = NLM_F_REQUEST;
        req.n.nlmsg_seq = 1;
        req.r.rtm_family = (unsigned char)dst->ss_family;
        req.r.rtm_dst_len = (unsigned char)(alen * 8);
        req.r.rtm_flags = fib_match ? RTM_F_FIB_MATCH : 0;

        rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.n.nlmsg_len));
        rta->rta_type = RTA_DST;
        rta->rta_len = (unsigned short)RTA_LENGTH(alen);
        memcpy(RTA_DATA(rta), ss_addr(dst), alen);
        req.n.nlmsg_len = NLMSG_ALIGN(req.n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
        if (oif > 0) {
                uint32_t v = (uint32_t)oif;

                rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.n.nlmsg_len));
                rta->rta_type = RTA_OIF;
                rta->rta_len = (unsigned short)RTA_LENGTH(sizeof(v));
                memcpy(RTA_DATA(rta), &v, sizeof(v));
                req.n.nlmsg_len = NLMSG_ALIGN(req.n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
        }

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        do
                n = recv(fd, answer, sizeof(answer), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        h = (struct nlmsghdr *)answer;
        if (!NLMSG_OK(h, (size_t)n))
                return -EBADMSG;
        if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);

                return e->error < 0 ? e->error : -EBADMSG;
        }
        if (h->nlmsg_type != RTM_NEWROUTE)
                return -EBADMSG;

        {
                struct rtmsg *rm = NLMSG_DATA(h);
                int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rm));

                if (rm->rtm_type == RTN_UNREACHABLE || rm->rtm_type == RTN_BLACKHOLE ||
                    rm->rtm_type == RTN_PROHIBIT)
                        return -ENETUNREACH;
                for (rta = RTM_RTA(rm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
                        if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) >= 4)
                                memcpy(&ret->oif, RTA_DATA(rta), 4);
                        else if (rta->rta_type == RTA_PREFSRC && RTA_PAYLOAD(rta) == alen)
                                (void)inet_ntop(dst->ss_family, RTA_DATA(rta), ret->prefsrc,
                                                sizeof(ret->prefsrc));
                }
        }
        return 0;
}

static void warn(struct check_step_result *sr, const char *fmt, ...) _printf_(2, 3);

static void warn(struct check_step_result *sr, const char *fmt, ...)
{
        va_list ap;

        if (sr->n_warnings >= ELEMENTSOF(sr->warnings))
                return;
        va_start(ap, fmt);
        vsnprintf(sr->warnings[sr->n_warnings++], CHECK_HINT_MAX, fmt, ap);
        va_end(ap);
}

/* ---------------------------------------------------------------- link */

static bool addr_in_prefix(int family, const void *a, const void *b, unsigned prefixlen)
{
        const uint8_t *x = a, *y = b;
        size_t bytes = prefixlen / 8, max = family == AF_INET6 ? 16 : 4;

        if (prefixlen > max * 8)
                return false;
        if (memcmp(x, y, bytes) != 0)
                return false;
        if (prefixlen % 8) {
                uint8_t mask = (uint8_t)(0xff << (8 - prefixlen % 8));

                return (x[bytes] & mask) == (y[bytes] & mask);
        }
        return true;
}

static int read_proc_int(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[32];
        ssize_t n;

        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        return atoi(buf);
}

/* Other NICs with an address in the subnet of dev's: ARP replies may come from the wrong one. */
static void link_arp_flux(struct check *c, const struct nic_snapshot *snap, const struct nic *dev)
{
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_LINK];
        char path[96];
        int ign_all, ign_dev;

        snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/all/arp_ignore");
        ign_all = read_proc_int(path);
        snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/arp_ignore", dev->name);
        ign_dev = read_proc_int(path);
        if (MAX(ign_all, ign_dev) != 0)
                return;

        for (size_t i = 0; i < dev->n_addrs; i++) {
                struct in_addr a;

                if (dev->addrs[i].family != AF_INET ||
                    inet_pton(AF_INET, dev->addrs[i].address, &a) != 1)
                        continue;
                for (size_t j = 0; j < snap->n_nics; j++) {
                        const struct nic *o = &snap->nics[j];

                        if (o == dev || streq(o->name, "lo"))
                                continue;
                        for (size_t k = 0; k < o->n_addrs; k++) {
                                struct in_addr b;

                                if (o->addrs[k].family != AF_INET ||
                                    inet_pton(AF_INET, o->addrs[k].address, &b) != 1)
                                        continue;
                                if (!addr_in_prefix(AF_INET, &a, &b, dev->addrs[i].prefixlen))
                                        continue;
                                warn(sr,
                                     "%s and %s both have addresses in %s/%u and arp_ignore is "
                                     "0: either may answer ARP for the other (ARP flux); set "
                                     "arp_ignore=1 and arp_announce=2",
                                     dev->name, o->name, dev->addrs[i].address,
                                     dev->addrs[i].prefixlen);
                                return;
                        }
                }
        }
}

bool check_nic_has_address(const struct nic *n, const char *addr)
{
        unsigned char a[16], b[16];
        int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;

        if (inet_pton(fam, addr, a) != 1)
                return false;
        for (size_t i = 0; i < n->n_addrs; i++)
                if (n->addrs[i].family == fam && inet_pton(fam, n->addrs[i].address, b) == 1 &&
                    memcmp(a, b, fam == AF_INET6 ? 16 : 4) == 0)
                        return true;
        return false;
}

static bool addr_set(const char *a)
{
        return !isempty(a) && !streq(a, "0.0.0.0") && !streq(a, "::") && !streq(a, "(null)");
}

/*
 * An offload iface: its port is an HBA's, with its own network stack. The link step judges the
 * HBA from sysfs (present, port up, an address); ping goes through the HBA (see
 * check_ping_offload_start()); a TCP connect or a login from this host's stack would not test the
 * HBA's path at all.
 */
static bool link_offload(struct check *c)
{
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_LINK];
        enum check_reason reason = CHECK_REASON_NONE;
        char hint[CHECK_HINT_MAX] = "";

        c->phase_start_usec = clock_usec(CLOCK_MONOTONIC);
        for (int i = CHECK_STEP_TCP; i <= CHECK_STEP_ISCSI; i++)
                if (step_wanted(c, i))
                        check_step_set(
                                c, i, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                                "transport %s is an offload HBA: its sessions start in the HBA, "
                                "not in this host's network stack, so a connect or login from "
                                "the host would not test its path",
                                c->spec.transport);

        if (!c->spec.hba_found) {
                reason = CHECK_REASON_NO_SUCH_DEVICE;
                snprintf(hint, sizeof(hint),
                         "no iSCSI host of transport %s with hwaddress %s on this host (see GET "
                         "/api/v1/hbas)",
                         c->spec.transport,
                         isempty(c->spec.hwaddress) ? "(none)" : c->spec.hwaddress);
        } else if (strstr(c->spec.hba_port_state, "DOWN")) {
                reason = CHECK_REASON_LINK_DOWN;
                snprintf(hint, sizeof(hint), "host%u reports port state '%s'", c->spec.host_no,
                         c->spec.hba_port_state);
        } else if (!addr_set(c->spec.ipaddress) && !addr_set(c->spec.hba_ipaddress)) {
                reason = CHECK_REASON_NO_ADDRESS;
                snprintf(hint, sizeof(hint),
                         "neither the iface nor host%u has an IP address: set the iface's "
                         "ipaddress (and bootproto static) or enable DHCP on the HBA",
                         c->spec.host_no);
        }

        if (c->spec.hba_found) {
                snprintf(sr->device, sizeof(sr->device), "host%u", c->spec.host_no);
                snprintf(sr->source, sizeof(sr->source), "%s",
                         addr_set(c->spec.ipaddress) ? c->spec.ipaddress : c->spec.hba_ipaddress);
                snprintf(c->route_source, sizeof(c->route_source), "%s", sr->source);
        }

        if (reason == CHECK_REASON_NONE) {
                if (step_wanted(c, CHECK_STEP_LINK))
                        check_step_set(c, CHECK_STEP_LINK, CHECK_OK, CHECK_REASON_NONE, NULL);
                return true;
        }
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i) && c->res.steps[i].status == CHECK_PENDING) {
                        check_step_set(c, i, CHECK_FAILED, reason, "%s", hint);
                        break;
                }
        check_skip_rest(c, CHECK_SKIPPED, "not run: the HBA port cannot reach the portal");
        return false;
}

/*
 * Resolve the bound NIC and judge the path of the host's stack into the link step, whether it was
 * asked for or not. Returns false, with the link step failed, when the later steps cannot run.
 */
static bool link_judge(struct check *c)
{
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_LINK];
        bool want = step_wanted(c, CHECK_STEP_LINK);
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *snap = NULL;
        const struct nic *dev = NULL;
        struct route_answer unbound = {}, bound = {};
        int family = c->spec.portal.ss_family;
        char portal[INET6_ADDRSTRLEN];
        bool has_addr = false;
        int r_unbound, r_bound = 0;

        ss_ntop(&c->spec.portal, portal, sizeof(portal));

#define LINK_FAIL(reason, ...)                                                                     \
        do {                                                                                       \
                check_step_set(c, CHECK_STEP_LINK, CHECK_FAILED, reason, __VA_ARGS__);             \
                return false;                                                                      \
        } while (0)

        snap = c->k->nics ? nic_monitor_snapshot(c->k->nics) : NULL;
        if (!snap)
                LINK_FAIL(CHECK_REASON_ERROR, "the NIC inventory is not running");

        if (!isempty(c->spec.netdev)) {
                dev = nic_snapshot_find(snap, c->spec.netdev);
                if (!dev)
                        LINK_FAIL(CHECK_REASON_NO_SUCH_DEVICE,
                                  "no NIC named %s on this host (see GET /api/v1/nics)",
                                  c->spec.netdev);
        } else if (!isempty(c->spec.hwaddress)) {
                dev = nic_snapshot_find_mac(snap, c->spec.hwaddress);
                if (!dev)
                        LINK_FAIL(CHECK_REASON_NO_SUCH_DEVICE,
                                  "no NIC with MAC address %s on this host (see GET "
                                  "/api/v1/nics)",
                                  c->spec.hwaddress);
        }

        if (dev) {
                snprintf(c->dev, sizeof(c->dev), "%s", dev->name);
                c->ifindex = dev->ifindex;
                snprintf(sr->device, sizeof(sr->device), "%s", dev->name);
                sr->rp_filter = dev->rp_filter;

                if (!(dev->flags & IFF_UP))
                        LINK_FAIL(CHECK_REASON_LINK_DOWN,
                                  "%s is administratively down (ip link set %s up)", dev->name,
                                  dev->name);
                if (dev->carrier == 0 || streq(dev->operstate, "down") ||
                    streq(dev->operstate, "lowerlayerdown"))
                        LINK_FAIL(CHECK_REASON_LINK_DOWN,
                                  "%s has no carrier (operstate %s): check the cable, the switch "
                                  "port or the peer",
                                  dev->name, dev->operstate);

                for (size_t i = 0; i < dev->n_addrs; i++)
                        if (dev->addrs[i].family == family && !streq(dev->addrs[i].scope, "host"))
                                has_addr = true;
                if (!has_addr)
                        LINK_FAIL(CHECK_REASON_NO_ADDRESS, "%s has no %s address", dev->name,
                                  family == AF_INET6 ? "IPv6" : "IPv4");
                if (iface_ipaddress_set(c) && !check_nic_has_address(dev, c->spec.ipaddress))
                        LINK_FAIL(CHECK_REASON_NO_ADDRESS,
                                  "the iface's ipaddress %s is not an address of %s",
                                  c->spec.ipaddress, dev->name);
        }

        /* The route judgement is the link step's; ping only needs the source address. */
        if (!want && !step_wanted(c, CHECK_STEP_PING)) {
                check_step_set(c, CHECK_STEP_LINK, CHECK_OK, CHECK_REASON_NONE, NULL);
                return true;
        }

        r_unbound = route_get(&c->spec.portal, 0, false, &unbound);
        if (r_unbound >= 0 && unbound.oif > 0 && !if_indextoname((unsigned)unbound.oif, sr->egress))
                sr->egress[0] = 0;

        if (dev) {
                r_bound = route_get(&c->spec.portal, dev->ifindex, true, &bound);
                if (r_bound >= 0) {
                        /* The source address the kernel picks for this device. */
                        if (route_get(&c->spec.portal, dev->ifindex, false, &bound) < 0)
                                bound.prefsrc[0] = 0;
                }
        }

        if (r_unbound < 0 && (!dev || r_bound < 0))
                LINK_FAIL(CHECK_REASON_NO_ROUTE, "no route to %s (%s)", portal,
                          strerror(-r_unbound));
        if (dev && r_bound < 0)
                LINK_FAIL(CHECK_REASON_WRONG_EGRESS,
                          "%s is routed through %s, never through %s: a session bound to %s "
                          "would send on-link out of it and wait; add a route to %s via %s, or "
                          "bind to %s",
                          portal, sr->egress[0] ? sr->egress : "another NIC", dev->name, dev->name,
                          portal, dev->name, sr->egress[0] ? sr->egress : "that NIC");
        if (dev && family == AF_INET && dev->rp_filter == 1 && sr->egress[0] &&
            !streq(sr->egress, dev->name))
                LINK_FAIL(CHECK_REASON_RP_FILTER,
                          "rp_filter is strict (1) on %s and the reverse path to %s is %s: "
                          "replies arriving on %s are dropped; set rp_filter to 2 (loose) or 0",
                          dev->name, portal, sr->egress, dev->name);

        snprintf(sr->source, sizeof(sr->source), "%s",
                 iface_ipaddress_set(c) ? c->spec.ipaddress :
                 dev                    ? bound.prefsrc :
                                          unbound.prefsrc);
        snprintf(c->route_source, sizeof(c->route_source), "%s", sr->source);

        if (dev && family == AF_INET)
                link_arp_flux(c, snap, dev);
        if (!dev)
                warn(sr, "the iface names no port: the check ran unbound, through %s",
                     sr->egress[0] ? sr->egress : "the routing table's choice");
        else if (sr->egress[0] && !streq(sr->egress, dev->name))
                warn(sr,
                     "unbound traffic to %s leaves through %s; only sessions bound to %s take %s",
                     portal, sr->egress, dev->name, dev->name);

        check_step_set(c, CHECK_STEP_LINK, CHECK_OK, CHECK_REASON_NONE, NULL);
        return true;
#undef LINK_FAIL
}

/*
 * Resolve the bound NIC and judge the path. Runs even when the link step was not asked for,
 * since the other steps need the device; only a requested step reports. Returns false when the
 * later steps cannot run.
 */
bool check_link_run(struct check *c)
{
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_LINK];
        enum check_reason reason;
        char hint[CHECK_HINT_MAX];
        bool ok;

        c->phase_start_usec = clock_usec(CLOCK_MONOTONIC);
        if (!transport_uses_host_stack(c->spec.transport))
                return link_offload(c);

        ok = link_judge(c);
        if (step_wanted(c, CHECK_STEP_LINK)) {
                if (!ok)
                        check_skip_rest(c, CHECK_SKIPPED, "not run: the link step failed");
                return ok;
        }
        if (ok)
                return true;

        /* Not asked for: a failure still ends the check, reported on the next step. */
        reason = sr->reason;
        snprintf(hint, sizeof(hint), "%s", sr->hint);
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i)) {
                        check_step_set(c, i, CHECK_FAILED, reason, "%s", hint);
                        break;
                }
        check_skip_rest(c, CHECK_SKIPPED, "not run: the bound port cannot reach the portal");
        return false;
}
