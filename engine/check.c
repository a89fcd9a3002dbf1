/* SPDX-License-Identifier: MIT */
/*
 * The check loop (docs/checks.md). Every check is a small state machine: the link step runs at
 * once from the NIC snapshot and two rtnetlink route lookups; ping, tcp and iscsi each own one
 * non-blocking socket that the loop polls together with every other check's. libiscsi's async
 * API drives the iSCSI step, and the bind it only logs is verified on the socket afterwards.
 */
#include <net/if.h> /* before any linux/ header: they share struct ifreq */

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>

#include "check.h"
#include "iscsi-nl.h"
#include "log.h"
#include "macro.h"

#define PING_INTERVAL_USEC 200000 /* one echo request every 200 ms until a reply */
#define PING_MAGIC         0x69666463u

/* linux/icmp.h's raw-socket type filter; that header clashes with netinet/ip_icmp.h. */
#define ICMP_FILTER_OPT 1
struct icmp_type_filter {
        uint32_t data; /* bit t set: drop ICMP type t */
};

enum phase {
        PHASE_QUEUED,
        PHASE_PING,
        PHASE_TCP,
        PHASE_ISCSI,
        PHASE_DONE,
};

/* Where the iSCSI step is, within one libiscsi context. */
enum iscsi_stage {
        ISCSI_CONNECT,
        ISCSI_LOGIN,
        ISCSI_DISCOVERY,
        ISCSI_LOGOUT,
        ISCSI_FINISHED,
};

struct check {
        atomic_uint refs;
        struct checker *k;
        struct check_spec spec;
        struct check_result res;
        check_done_fn done;
        void *userdata;
        atomic_bool cancel;
        struct check *next; /* in the submit queue */

        /* Below: the check loop's only. */
        enum phase phase;
        int64_t start_usec, deadline_usec, phase_start_usec, phase_deadline_usec;
        char dev[NIC_NAME_MAX]; /* the bound NIC, "" when unbound */
        int ifindex;
        char route_source[INET6_ADDRSTRLEN]; /* the kernel's source address for the bound route */
        int fd;
        short events;
        bool ping_dgram;
        uint16_t ping_id, ping_seq;
        int64_t ping_next_usec;
        struct iscsi_context *iscsi;
        enum iscsi_stage iscsi_stage;
        bool iscsi_normal; /* the login to spec.target, after discovery */
        bool iscsi_got_reply;
        bool iscsi_closing;
        int iscsi_cb_status;  /* set by the callback; -1 while none came */
        atomic_int nl_result; /* the HBA ping: 1 while in flight, then 0 or -errno */
        uint32_t nl_status;
};

struct checker {
        struct nic_monitor *nics; /* borrowed */
        char *initiator_name;
        pthread_t thread;
        bool thread_started;
        int wake_fd;
        pthread_mutex_t lock;
        struct check *queue_head, *queue_tail; /* submitted, not started */
        size_t n_queued;
        bool stopping;
        bool closed;            /* checker_close(): no new checks */
        atomic_bool cancel_all; /* applies to everything in flight and queued at the time */
        atomic_uint cancel_gen;
        struct check **active; /* the loop's only */
        size_t n_active;
        struct pollfd *pfds;
};

static const char *const step_names[_CHECK_STEP_MAX] = {
        [CHECK_STEP_LINK] = "link",
        [CHECK_STEP_PING] = "ping",
        [CHECK_STEP_TCP] = "tcp",
        [CHECK_STEP_ISCSI] = "iscsi",
};

static const char *const status_names[_CHECK_STATUS_MAX] = {
        [CHECK_PENDING] = "pending",         [CHECK_OK] = "ok",
        [CHECK_FAILED] = "failed",           [CHECK_SKIPPED] = "skipped",
        [CHECK_UNSUPPORTED] = "unsupported", [CHECK_CANCELLED] = "cancelled",
};

static const char *const reason_names[_CHECK_REASON_MAX] = {
        [CHECK_REASON_NONE] = NULL,
        [CHECK_REASON_NO_SUCH_DEVICE] = "no-such-device",
        [CHECK_REASON_LINK_DOWN] = "link-down",
        [CHECK_REASON_NO_ADDRESS] = "no-address",
        [CHECK_REASON_NO_ROUTE] = "no-route",
        [CHECK_REASON_WRONG_EGRESS] = "wrong-egress",
        [CHECK_REASON_RP_FILTER] = "rp-filter",
        [CHECK_REASON_TIMEOUT] = "timeout",
        [CHECK_REASON_REFUSED] = "refused",
        [CHECK_REASON_UNREACHABLE] = "unreachable",
        [CHECK_REASON_AUTH_FAILED] = "auth-failed",
        [CHECK_REASON_BIND_FAILED] = "bind-failed",
        [CHECK_REASON_NOT_ISCSI] = "not-iscsi",
        [CHECK_REASON_LOGIN_FAILED] = "login-failed",
        [CHECK_REASON_CANCELLED] = "cancelled",
        [CHECK_REASON_ERROR] = "error",
};

const char *check_step_to_string(enum check_step s)
{
        return s < _CHECK_STEP_MAX ? step_names[s] : NULL;
}

int check_step_from_string(const char *s)
{
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (streq(step_names[i], s))
                        return i;
        return -EINVAL;
}

const char *check_status_to_string(enum check_status s)
{
        return s < _CHECK_STATUS_MAX ? status_names[s] : NULL;
}

const char *check_reason_to_string(enum check_reason r)
{
        return r < _CHECK_REASON_MAX ? reason_names[r] : NULL;
}

/* ---------------------------------------------------------------- portals */

int check_parse_portal(const char *s, struct sockaddr_storage *ret, const char **why)
{
        char host[INET6_ADDRSTRLEN + 2];
        const char *port_s = NULL;
        unsigned long port = 3260;
        size_t n;

        *why = "an IP address with an optional port (IPv4, IPv4:port, [IPv6]:port, IPv6); "
               "names are not resolved";
        if (!s || *s == 0 || strlen(s) > INET6_ADDRSTRLEN + 8)
                return -EINVAL;

        memset(ret, 0, sizeof(*ret));
        if (s[0] == '[') {
                const char *end = strchr(s, ']');

                if (!end || (size_t)(end - s - 1) >= sizeof(host))
                        return -EINVAL;
                n = (size_t)(end - s - 1);
                memcpy(host, s + 1, n);
                host[n] = 0;
                if (end[1] == ':')
                        port_s = end + 2;
                else if (end[1] != 0)
                        return -EINVAL;
        } else {
                const char *colon = strchr(s, ':');

                if (colon && strchr(colon + 1, ':'))
                        colon = NULL; /* a bare IPv6 address */
                n = colon ? (size_t)(colon - s) : strlen(s);
                if (n >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s, n);
                host[n] = 0;
                if (colon)
                        port_s = colon + 1;
        }

        if (port_s) {
                char *end;

                if (*port_s < '0' || *port_s > '9')
                        return -EINVAL;
                errno = 0;
                port = strtoul(port_s, &end, 10);
                if (errno || *end || port == 0 || port > 65535) {
                        *why = "the port must be a number from 1 to 65535";
                        return -EINVAL;
                }
        }

        if (strchr(host, ':')) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ret;

                if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
                        return -EINVAL;
                if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
                    IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr)) {
                        *why = "a unicast address";
                        return -EINVAL;
                }
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)port);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *)ret;

                if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
                        return -EINVAL;
                if (sin->sin_addr.s_addr == htonl(INADDR_ANY) ||
                    sin->sin_addr.s_addr == htonl(INADDR_BROADCAST) ||
                    IN_MULTICAST(ntohl(sin->sin_addr.s_addr))) {
                        *why = "a unicast address";
                        return -EINVAL;
                }
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)port);
        }
        return 0;
}

static const void *ss_addr(const struct sockaddr_storage *ss)
{
        if (ss->ss_family == AF_INET6)
                return &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return &((const struct sockaddr_in *)ss)->sin_addr;
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
        return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void ss_ntop(const struct sockaddr_storage *ss, char *buf, size_t size)
{
        if (!inet_ntop(ss->ss_family, ss_addr(ss), buf, (socklen_t)size))
                snprintf(buf, size, "?");
}

void check_format_portal(const struct sockaddr_storage *ss, char *buf, size_t size)
{
        char a[INET6_ADDRSTRLEN];
        unsigned port = ntohs(((const struct sockaddr_in *)ss)->sin_port);

        ss_ntop(ss, a, sizeof(a));
        if (ss->ss_family == AF_INET6)
                snprintf(buf, size, "[%s]:%u", a, port);
        else
                snprintf(buf, size, "%s:%u", a, port);
}

int check_result_first_failure(const struct check_result *r, const struct check_spec *spec)
{
        /* Ping counts last: a black hole fails tcp too, and tcp's hint says more. */
        static const enum check_step order[] = { CHECK_STEP_LINK, CHECK_STEP_TCP, CHECK_STEP_ISCSI,
                                                 CHECK_STEP_PING };

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                enum check_step s = order[i];

                if (!(spec->steps & (1u << s)) ||
                    (r->steps[s].status != CHECK_FAILED && r->steps[s].status != CHECK_CANCELLED))
                        continue;
                /* ICMP filtered while TCP or iSCSI got through: the port works. */
                if (s == CHECK_STEP_PING && r->steps[s].status == CHECK_FAILED &&
                    (r->steps[CHECK_STEP_TCP].status == CHECK_OK ||
                     r->steps[CHECK_STEP_ISCSI].status == CHECK_OK))
                        continue;
                return s;
        }
        return -1;
}

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
        ssize_t n;
        int fd, r;

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
        if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        do
                n = recv(fd, answer, sizeof(answer), 0);
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;

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

/* ---------------------------------------------------------------- results */

static void step_set(struct check *c, enum check_step s, enum check_status st,
                     enum check_reason reason, const char *fmt, ...) _printf_(5, 6);

static void step_set(struct check *c, enum check_step s, enum check_status st,
                     enum check_reason reason, const char *fmt, ...)
{
        struct check_step_result *sr = &c->res.steps[s];

        sr->status = st;
        sr->reason = reason;
        sr->hint[0] = 0;
        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                vsnprintf(sr->hint, sizeof(sr->hint), fmt, ap);
                va_end(ap);
        }
        if (sr->latency_usec < 0 && (st == CHECK_OK || st == CHECK_FAILED))
                sr->latency_usec = clock_usec(CLOCK_MONOTONIC) - c->phase_start_usec;
}

static bool step_wanted(const struct check *c, enum check_step s)
{
        return c->spec.steps & (1u << s);
}

/* Mark every requested step still pending as skipped (or cancelled) because of why. */
static void skip_rest(struct check *c, enum check_status st, const char *why)
{
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i) && c->res.steps[i].status == CHECK_PENDING)
                        step_set(c, i, st,
                                 st == CHECK_CANCELLED ? CHECK_REASON_CANCELLED : CHECK_REASON_NONE,
                                 "%s", why);
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

static bool transport_uses_host_stack(const char *t)
{
        return isempty(t) || streq(t, "tcp") || streq(t, "iser");
}

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
        char buf[32];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
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

static bool nic_has_address(const struct nic *n, const char *addr)
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

static bool iface_ipaddress_set(const struct check *c)
{
        return !isempty(c->spec.ipaddress) && !streq(c->spec.ipaddress, "0.0.0.0") &&
               !streq(c->spec.ipaddress, "::");
}

static bool addr_set(const char *a)
{
        return !isempty(a) && !streq(a, "0.0.0.0") && !streq(a, "::") && !streq(a, "(null)");
}

/*
 * An offload iface: its port is an HBA's, with its own network stack. The link step judges the
 * HBA from sysfs (present, port up, an address); ping goes through the HBA (see ping_offload);
 * a TCP connect or a login from this host's stack would not test the HBA's path at all.
 */
static bool link_offload(struct check *c)
{
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_LINK];
        enum check_reason reason = CHECK_REASON_NONE;
        char hint[CHECK_HINT_MAX] = "";

        c->phase_start_usec = clock_usec(CLOCK_MONOTONIC);
        for (int i = CHECK_STEP_TCP; i <= CHECK_STEP_ISCSI; i++)
                if (step_wanted(c, i))
                        step_set(c, i, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
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
                        step_set(c, CHECK_STEP_LINK, CHECK_OK, CHECK_REASON_NONE, NULL);
                return true;
        }
        for (int i = 0; i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i) && c->res.steps[i].status == CHECK_PENDING) {
                        step_set(c, i, CHECK_FAILED, reason, "%s", hint);
                        break;
                }
        skip_rest(c, CHECK_SKIPPED, "not run: the HBA port cannot reach the portal");
        return false;
}

/*
 * Resolve the bound NIC and judge the path. Runs even when the link step was not asked for,
 * since the other steps need the device; only a requested step reports. Returns false when the
 * later steps cannot run.
 */
static bool link_run(struct check *c)
{
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_LINK];
        bool want = step_wanted(c, CHECK_STEP_LINK);
        struct nic_snapshot *snap = NULL;
        const struct nic *dev = NULL;
        struct route_answer unbound = {}, bound = {};
        int family = c->spec.portal.ss_family;
        char portal[INET6_ADDRSTRLEN];
        bool ok = false, has_addr = false;
        int r_unbound, r_bound = 0;

        c->phase_start_usec = clock_usec(CLOCK_MONOTONIC);
        ss_ntop(&c->spec.portal, portal, sizeof(portal));

#define LINK_FAIL(reason, ...)                                                                     \
        do {                                                                                       \
                step_set(c, CHECK_STEP_LINK, CHECK_FAILED, reason, __VA_ARGS__);                   \
                goto out;                                                                          \
        } while (0)

        if (!transport_uses_host_stack(c->spec.transport))
                return link_offload(c);

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
                if (iface_ipaddress_set(c) && !nic_has_address(dev, c->spec.ipaddress))
                        LINK_FAIL(CHECK_REASON_NO_ADDRESS,
                                  "the iface's ipaddress %s is not an address of %s",
                                  c->spec.ipaddress, dev->name);
        }

        /* The route judgement is the link step's; ping only needs the source address. */
        if (!want && !step_wanted(c, CHECK_STEP_PING)) {
                step_set(c, CHECK_STEP_LINK, CHECK_OK, CHECK_REASON_NONE, NULL);
                ok = true;
                goto out;
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

        step_set(c, CHECK_STEP_LINK, CHECK_OK, CHECK_REASON_NONE, NULL);
        ok = true;
out:
#undef LINK_FAIL
        nic_snapshot_unref(snap);
        if (!want) {
                /* Not asked for: a failure still ends the check, reported on the next step. */
                enum check_reason reason = sr->reason;
                char hint[CHECK_HINT_MAX];

                if (ok)
                        return true;
                snprintf(hint, sizeof(hint), "%s", sr->hint);
                for (int i = 0; i < _CHECK_STEP_MAX; i++)
                        if (step_wanted(c, i)) {
                                step_set(c, i, CHECK_FAILED, reason, "%s", hint);
                                break;
                        }
                skip_rest(c, CHECK_SKIPPED, "not run: the bound port cannot reach the portal");
                return false;
        }
        if (!ok)
                skip_rest(c, CHECK_SKIPPED, "not run: the link step failed");
        return ok;
}

/* ---------------------------------------------------------------- sockets */

static enum check_reason reason_from_errno(int err)
{
        switch (err) {
        case ECONNREFUSED:
                return CHECK_REASON_REFUSED;
        case ETIMEDOUT:
                return CHECK_REASON_TIMEOUT;
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EHOSTDOWN:
        case ENETDOWN:
                return CHECK_REASON_UNREACHABLE;
        default:
                return CHECK_REASON_ERROR;
        }
}

/* A socket of type bound like iscsiadm binds: SO_BINDTODEVICE, and the iface's address. */
static int socket_bound(struct check *c, int type, int proto, enum check_reason *ret_reason,
                        char *hint, size_t hint_size)
{
        int family = c->spec.portal.ss_family;
        int fd;

        fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
        if (fd < 0) {
                *ret_reason = CHECK_REASON_ERROR;
                snprintf(hint, hint_size, "socket(): %s", strerror(errno));
                return -errno;
        }

        if (c->dev[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, c->dev,
                                    (socklen_t)strlen(c->dev) + 1) < 0) {
                int err = errno;

                close(fd);
                *ret_reason =
                        err == ENODEV ? CHECK_REASON_NO_SUCH_DEVICE : CHECK_REASON_BIND_FAILED;
                snprintf(hint, hint_size, "SO_BINDTODEVICE %s: %s", c->dev, strerror(err));
                return -err;
        }

        if (iface_ipaddress_set(c)) {
                struct sockaddr_storage src = {};

                src.ss_family = (sa_family_t)family;
                if (inet_pton(family, c->spec.ipaddress,
                              family == AF_INET6 ?
                                      (void *)&((struct sockaddr_in6 *)&src)->sin6_addr :
                                      (void *)&((struct sockaddr_in *)&src)->sin_addr) != 1 ||
                    bind(fd, (struct sockaddr *)&src, ss_len(&src)) < 0) {
                        int err = errno ?: EINVAL;

                        close(fd);
                        *ret_reason = CHECK_REASON_BIND_FAILED;
                        snprintf(hint, hint_size, "cannot bind to the iface's ipaddress %s: %s",
                                 c->spec.ipaddress, strerror(err));
                        return -err;
                }
        }
        return fd;
}

/*
 * After a connect: did it really leave through the bound device? Fills the step's device and
 * source; returns false (with the step failed as bind-failed) if not.
 */
static bool verify_bind(struct check *c, enum check_step s, int fd)
{
        struct check_step_result *sr = &c->res.steps[s];
        struct sockaddr_storage local = {};
        socklen_t len = sizeof(sr->device);
        struct nic_snapshot *snap;
        const struct nic *dev;

        if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, sr->device, &len) < 0)
                sr->device[0] = 0;
        sr->device[sizeof(sr->device) - 1] = 0;
        len = sizeof(local);
        if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
                ss_ntop(&local, sr->source, sizeof(sr->source));

        if (!c->dev[0])
                return true;

        if (!streq(sr->device, c->dev)) {
                step_set(c, s, CHECK_FAILED, CHECK_REASON_BIND_FAILED,
                         "the connection is bound to '%s', not to %s", sr->device, c->dev);
                return false;
        }
        snap = c->k->nics ? nic_monitor_snapshot(c->k->nics) : NULL;
        dev = snap ? nic_snapshot_find(snap, c->dev) : NULL;
        if (dev && sr->source[0] && !nic_has_address(dev, sr->source)) {
                step_set(c, s, CHECK_FAILED, CHECK_REASON_BIND_FAILED,
                         "the connection's source address %s is not an address of %s", sr->source,
                         c->dev);
                nic_snapshot_unref(snap);
                return false;
        }
        nic_snapshot_unref(snap);
        return true;
}

static void close_fd(struct check *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->events = 0;
}

/* ---------------------------------------------------------------- ping */

struct ping_payload {
        uint32_t magic;
        uint32_t pad;
        int64_t sent_usec;
};

static void ping_send(struct check *c)
{
        bool v6 = c->spec.portal.ss_family == AF_INET6;
        struct {
                union {
                        struct icmphdr v4;
                        struct icmp6_hdr v6;
                } h;
                struct ping_payload p;
        } pkt = {};
        struct sockaddr_storage to = c->spec.portal;
        uint16_t seq = ++c->ping_seq;

        ((struct sockaddr_in *)&to)->sin_port = 0;
        pkt.p.magic = PING_MAGIC;
        pkt.p.sent_usec = clock_usec(CLOCK_MONOTONIC);
        if (v6) {
                pkt.h.v6.icmp6_type = ICMP6_ECHO_REQUEST;
                pkt.h.v6.icmp6_id = htons(c->ping_id);
                pkt.h.v6.icmp6_seq = htons(seq);
                /* The kernel computes the ICMPv6 checksum. */
        } else {
                uint32_t sum = 0;
                const uint16_t *w = (const uint16_t *)&pkt;

                pkt.h.v4.type = ICMP_ECHO;
                pkt.h.v4.un.echo.id = htons(c->ping_id);
                pkt.h.v4.un.echo.sequence = htons(seq);
                for (size_t i = 0; i < (sizeof(struct icmphdr) + sizeof(pkt.p)) / 2; i++)
                        sum += w[i];
                while (sum >> 16)
                        sum = (sum & 0xffff) + (sum >> 16);
                pkt.h.v4.checksum = (uint16_t)~sum;
        }

        (void)sendto(c->fd, &pkt,
                     (v6 ? sizeof(struct icmp6_hdr) : sizeof(struct icmphdr)) + sizeof(pkt.p), 0,
                     (struct sockaddr *)&to, ss_len(&to));
        c->ping_next_usec = clock_usec(CLOCK_MONOTONIC) + PING_INTERVAL_USEC;
}

static int ping_start(struct check *c)
{
        bool v6 = c->spec.portal.ss_family == AF_INET6;
        struct check_step_result *sr = &c->res.steps[CHECK_STEP_PING];
        enum check_reason reason;
        char hint[CHECK_HINT_MAX];
        int fd;

        /* Raw ICMP needs CAP_NET_RAW; unprivileged ping sockets need ping_group_range. */
        fd = socket_bound(c, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, &reason, hint,
                          sizeof(hint));
        c->ping_dgram = false;
        if (fd == -EPERM || fd == -EACCES) {
                fd = socket_bound(c, SOCK_DGRAM, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, &reason, hint,
                                  sizeof(hint));
                c->ping_dgram = true;
        }
        if (fd < 0) {
                step_set(c, CHECK_STEP_PING, CHECK_FAILED, reason, "%s", hint);
                return fd;
        }

        if (!c->ping_dgram) {
                if (v6) {
                        struct icmp6_filter f;

                        ICMP6_FILTER_SETBLOCKALL(&f);
                        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
                        ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
                        ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
                        (void)setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
                } else {
                        struct icmp_type_filter f = {
                                .data = ~((1u << ICMP_ECHOREPLY) | (1u << ICMP_DEST_UNREACH) |
                                          (1u << ICMP_TIME_EXCEEDED)),
                        };

                        (void)setsockopt(fd, SOL_RAW, ICMP_FILTER_OPT, &f, sizeof(f));
                }
        }

        (void)getrandom(&c->ping_id, sizeof(c->ping_id), GRND_NONBLOCK);
        c->fd = fd;
        c->events = POLLIN;
        snprintf(sr->source, sizeof(sr->source), "%s", c->route_source);
        ping_send(c);
        return 0;
}

/* One datagram: 1 = our echo reply, 2 = an ICMP error about our echo, 0 = not ours. */
static int ping_match(struct check *c, const uint8_t *buf, size_t n, int64_t *ret_sent)
{
        bool v6 = c->spec.portal.ss_family == AF_INET6;
        size_t off = 0;
        uint8_t type;

        if (!v6 && !c->ping_dgram) {
                if (n < sizeof(struct iphdr))
                        return 0;
                off = (size_t)(buf[0] & 0x0f) * 4;
        }
        if (n < off + 8)
                return 0;
        type = buf[off];

        if ((!v6 && type == ICMP_ECHOREPLY) || (v6 && type == ICMP6_ECHO_REPLY)) {
                struct ping_payload p;
                uint16_t id;

                if (n < off + 8 + sizeof(p))
                        return 0;
                memcpy(&id, buf + off + 4, 2);
                memcpy(&p, buf + off + 8, sizeof(p));
                /* Ping sockets rewrite the id; the kernel already matched it to us. */
                if ((!c->ping_dgram && ntohs(id) != c->ping_id) || p.magic != PING_MAGIC)
                        return 0;
                *ret_sent = p.sent_usec;
                return 1;
        }

        if ((!v6 && (type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED)) ||
            (v6 && (type == ICMP6_DST_UNREACH || type == ICMP6_TIME_EXCEEDED))) {
                /* The offending packet follows: its header, then our ICMP header. */
                size_t inner = off + 8;
                uint16_t id;

                if (!v6) {
                        if (n < inner + sizeof(struct iphdr))
                                return 0;
                        inner += (size_t)(buf[inner] & 0x0f) * 4;
                } else
                        inner += 40;
                if (n < inner + 8)
                        return 0;
                memcpy(&id, buf + inner + 4, 2);
                return ntohs(id) == c->ping_id ? 2 : 0;
        }
        return 0;
}

static void ping_event(struct check *c)
{
        uint8_t buf[1500];
        ssize_t n;

        for (;;) {
                int64_t sent;
                int m;

                n = recv(c->fd, buf, sizeof(buf), 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return;
                        step_set(c, CHECK_STEP_PING, CHECK_FAILED, reason_from_errno(errno), "%s",
                                 strerror(errno));
                        return;
                }
                m = ping_match(c, buf, (size_t)n, &sent);
                if (m == 1) {
                        c->res.steps[CHECK_STEP_PING].latency_usec =
                                clock_usec(CLOCK_MONOTONIC) - sent;
                        step_set(c, CHECK_STEP_PING, CHECK_OK, CHECK_REASON_NONE, NULL);
                        return;
                }
                if (m == 2) {
                        step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_UNREACHABLE,
                                 "an ICMP error came back for the echo request: the portal's "
                                 "host or network is unreachable from %s",
                                 c->dev[0] ? c->dev : "this host");
                        return;
                }
        }
}

/* ---------------------------------------------------------------- ping through an HBA */

struct offload_ping {
        struct check *c; /* a reference */
        int efd;         /* our own dup of the check's eventfd */
        struct iscsi_nl_ping req;
        unsigned timeout_ms;
};

/* A thread per HBA ping: the netlink exchange blocks, and these are rare. */
static void *offload_ping_thread(void *arg)
{
        struct offload_ping *o = arg;
        uint32_t status = 0;
        uint64_t one = 1;
        int r;

        r = iscsi_nl_ping(&o->req, o->timeout_ms, &status);
        o->c->nl_status = status;
        atomic_store(&o->c->nl_result, r);
        (void)!write(o->efd, &one, sizeof(one));
        close(o->efd);
        check_unref(o->c);
        free(o);
        return NULL;
}

static int ping_offload_start(struct check *c)
{
        struct offload_ping *o;
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (!c->spec.transport_handle) {
                step_set(c, CHECK_STEP_PING, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                         "transport %s is not loaded in the kernel (or its handle is not "
                         "readable), so its HBA cannot be asked to ping",
                         c->spec.transport);
                return 0;
        }
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        o->efd = c->fd >= 0 ? fcntl(c->fd, F_DUPFD_CLOEXEC, 3) : -1;
        if (o->efd < 0) {
                step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR, "eventfd: %s",
                         strerror(errno));
                free(o);
                return -errno;
        }
        o->req = (struct iscsi_nl_ping){
                .transport_handle = c->spec.transport_handle,
                .host_no = c->spec.host_no,
                .iface_num = c->spec.iface_num,
                .ipv6 = c->spec.portal.ss_family == AF_INET6,
                .dst = c->spec.portal,
        };
        ((struct sockaddr_in *)&o->req.dst)->sin_port = 0;
        o->timeout_ms = (unsigned)MAX((c->phase_deadline_usec - clock_usec(CLOCK_MONOTONIC)) / 1000,
                                      (int64_t)1);
        o->c = check_ref(c);
        atomic_store(&c->nl_result, 1); /* pending */

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = -pthread_create(&t, &attr, offload_ping_thread, o);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                close(o->efd);
                check_unref(o->c);
                free(o);
                step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR,
                         "cannot start a thread: %s", strerror(-r));
                return r;
        }
        c->events = POLLIN;
        return 0;
}

static void ping_offload_event(struct check *c)
{
        int r = atomic_load(&c->nl_result);
        char addr[INET6_ADDRSTRLEN];

        if (r == 1)
                return; /* not yet */
        ss_ntop(&c->spec.portal, addr, sizeof(addr));
        switch (r) {
        case 0:
                if (c->nl_status == ISCSI_NL_PING_SUCCESS)
                        step_set(c, CHECK_STEP_PING, CHECK_OK, CHECK_REASON_NONE, NULL);
                else
                        step_set(c, CHECK_STEP_PING, CHECK_FAILED,
                                 c->nl_status == ISCSI_NL_PING_TIMEOUT ? CHECK_REASON_TIMEOUT :
                                 c->nl_status == ISCSI_NL_PING_IPADDR_INVALID ||
                                                 c->nl_status ==
                                                         ISCSI_NL_PING_LINKLOCAL_IPV6_ADDR_INVALID ?
                                                                         CHECK_REASON_NO_ADDRESS :
                                                                         CHECK_REASON_UNREACHABLE,
                                 "host%u could not ping %s: %s", c->spec.host_no, addr,
                                 iscsi_nl_ping_status_to_string(c->nl_status));
                break;
        case -EPROTONOSUPPORT:
                step_set(c, CHECK_STEP_PING, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                         "this kernel has no iSCSI transport netlink (scsi_transport_iscsi is "
                         "not loaded), so the HBA cannot be asked to ping");
                break;
        case -ENOSYS:
                step_set(c, CHECK_STEP_PING, CHECK_UNSUPPORTED, CHECK_REASON_NONE,
                         "the kernel driver of transport %s does not implement ping",
                         c->spec.transport);
                break;
        case -ENODEV:
                step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_NO_SUCH_DEVICE,
                         "the kernel knows no host%u", c->spec.host_no);
                break;
        case -ETIMEDOUT:
                step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                         "host%u did not report the ping of %s in time", c->spec.host_no, addr);
                break;
        default:
                step_set(c, CHECK_STEP_PING, CHECK_FAILED, CHECK_REASON_ERROR,
                         "the ping request to host%u failed: %s", c->spec.host_no, strerror(-r));
                break;
        }
}

/* ---------------------------------------------------------------- tcp */

static int tcp_start(struct check *c)
{
        enum check_reason reason;
        char hint[CHECK_HINT_MAX];
        int fd;

        fd = socket_bound(c, SOCK_STREAM, 0, &reason, hint, sizeof(hint));
        if (fd < 0) {
                step_set(c, CHECK_STEP_TCP, CHECK_FAILED, reason, "%s", hint);
                return fd;
        }
        c->fd = fd;
        if (connect(fd, (struct sockaddr *)&c->spec.portal, ss_len(&c->spec.portal)) == 0) {
                c->events = 0;
                if (verify_bind(c, CHECK_STEP_TCP, fd))
                        step_set(c, CHECK_STEP_TCP, CHECK_OK, CHECK_REASON_NONE, NULL);
                return 0;
        }
        if (errno != EINPROGRESS) {
                int err = errno;

                step_set(c, CHECK_STEP_TCP, CHECK_FAILED, reason_from_errno(err), "connect: %s",
                         strerror(err));
                return -err;
        }
        c->events = POLLOUT;
        return 0;
}

static void tcp_event(struct check *c)
{
        char portal[INET6_ADDRSTRLEN + 8];
        socklen_t len = sizeof(int);
        int err = 0;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        check_format_portal(&c->spec.portal, portal, sizeof(portal));
        if (err == 0) {
                if (verify_bind(c, CHECK_STEP_TCP, c->fd))
                        step_set(c, CHECK_STEP_TCP, CHECK_OK, CHECK_REASON_NONE, NULL);
                return;
        }
        if (err == ECONNREFUSED)
                step_set(c, CHECK_STEP_TCP, CHECK_FAILED, CHECK_REASON_REFUSED,
                         "%s refused the connection: no iSCSI target listens there (is the "
                         "target service running, and is this its portal?)",
                         portal);
        else
                step_set(c, CHECK_STEP_TCP, CHECK_FAILED, reason_from_errno(err),
                         "connect to %s: %s", portal, strerror(err));
}

/* ---------------------------------------------------------------- iscsi */

static void iscsi_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private)
{
        struct check *c = private;

        (void)iscsi;
        if (c->iscsi_closing)
                return;
        c->iscsi_cb_status = status == SCSI_STATUS_GOOD ? 0 : 1;
        c->iscsi_got_reply = true;

        if (status == SCSI_STATUS_GOOD && c->iscsi_stage == ISCSI_DISCOVERY && command_data) {
                const struct iscsi_discovery_address *da = command_data;
                size_t n = 0;

                for (const struct iscsi_discovery_address *d = da; d; d = d->next)
                        n++;
                c->res.targets = calloc(n, sizeof(*c->res.targets));
                if (!c->res.targets)
                        return;
                for (const struct iscsi_discovery_address *d = da; d; d = d->next) {
                        struct check_target *t = &c->res.targets[c->res.n_targets++];
                        size_t np = 0;

                        t->name = strdup(d->target_name ?: "");
                        for (const struct iscsi_target_portal *p = d->portals; p; p = p->next)
                                np++;
                        t->portals = calloc(np ?: 1, sizeof(char *));
                        for (const struct iscsi_target_portal *p = d->portals; p && t->portals;
                             p = p->next)
                                t->portals[t->n_portals++] = strdup(p->portal ?: "");
                }
        }
}

static void iscsi_close(struct check *c)
{
        if (!c->iscsi)
                return;
        c->iscsi_closing = true;
        iscsi_destroy_context(c->iscsi);
        c->iscsi = NULL;
        c->iscsi_closing = false;
        c->fd = -1;
        c->events = 0;
}

static void iscsi_fail(struct check *c, enum check_reason reason, const char *fmt, ...)
        _printf_(3, 4);

static void iscsi_fail(struct check *c, enum check_reason reason, const char *fmt, ...)
{
        char hint[CHECK_HINT_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(hint, sizeof(hint), fmt, ap);
        va_end(ap);
        if (c->iscsi_normal)
                c->res.login_status = CHECK_FAILED;
        step_set(c, CHECK_STEP_ISCSI, CHECK_FAILED, reason, "%s", hint);
        iscsi_close(c);
}

/* Classify what libiscsi reports for a failed stage. */
static void iscsi_failed_stage(struct check *c, const char *what)
{
        const char *err = c->iscsi ? iscsi_get_error(c->iscsi) : NULL;
        char msg[160];

        /* libiscsi's text goes into a hint: keep it printable and short. */
        snprintf(msg, sizeof(msg), "%s", err ?: "");
        for (char *p = msg; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                        *p = '?';

        if (c->iscsi_stage == ISCSI_CONNECT) {
                if (strstr(msg, "refused"))
                        iscsi_fail(c, CHECK_REASON_REFUSED, "%s: %s", what, msg);
                else if (strstr(msg, "unreachable"))
                        iscsi_fail(c, CHECK_REASON_UNREACHABLE, "%s: %s", what, msg);
                else
                        iscsi_fail(c, CHECK_REASON_ERROR, "%s: %s", what, msg);
                return;
        }
        if (strstr(msg, "Authentication") || strstr(msg, "Authorization") || strstr(msg, "CHAP"))
                iscsi_fail(c, CHECK_REASON_AUTH_FAILED, "%s: %s; check the CHAP user and secret%s",
                           what, msg, c->spec.chap.username_in[0] ? " (and the mutual ones)" : "");
        else if (strstr(msg, "Status:"))
                iscsi_fail(c, CHECK_REASON_LOGIN_FAILED, "%s: %s", what, msg);
        else if (!c->iscsi_normal && c->iscsi_stage == ISCSI_LOGIN)
                iscsi_fail(c, CHECK_REASON_NOT_ISCSI,
                           "the port accepts TCP connections but does not answer an iSCSI login "
                           "(it closed the connection or sent something else): is this the "
                           "portal's iSCSI port?");
        else
                iscsi_fail(c, CHECK_REASON_ERROR, "%s: %s", what, msg);
}

static int iscsi_open(struct check *c, bool normal)
{
        const char *iname =
                !isempty(c->spec.initiatorname) ? c->spec.initiatorname : c->k->initiator_name;
        const struct check_chap *chap = normal ? &c->spec.chap : &c->spec.discovery_chap;
        bool has_chap = normal ? c->spec.has_chap : c->spec.has_discovery_chap;
        char portal[INET6_ADDRSTRLEN + 8];

        c->iscsi_normal = normal;
        c->iscsi = iscsi_create_context(iname);
        if (!c->iscsi) {
                iscsi_fail(c, CHECK_REASON_ERROR, "cannot create a libiscsi context");
                return -ENOMEM;
        }
        (void)iscsi_set_timeout(c->iscsi, 0); /* the check's deadline is ours */
        if (normal) {
                (void)iscsi_set_session_type(c->iscsi, ISCSI_SESSION_NORMAL);
                (void)iscsi_set_targetname(c->iscsi, c->spec.target);
        } else
                (void)iscsi_set_session_type(c->iscsi, ISCSI_SESSION_DISCOVERY);
        (void)iscsi_set_header_digest(c->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
        if (has_chap) {
                (void)iscsi_set_initiator_username_pwd(c->iscsi, chap->username, chap->password);
                if (chap->username_in[0])
                        (void)iscsi_set_target_username_pwd(c->iscsi, chap->username_in,
                                                            chap->password_in);
        }
        if (c->dev[0])
                (void)iscsi_set_bind_interfaces(c->iscsi, c->dev);

        check_format_portal(&c->spec.portal, portal, sizeof(portal));
        c->iscsi_stage = ISCSI_CONNECT;
        c->iscsi_got_reply = false;
        if (iscsi_connect_async(c->iscsi, portal, iscsi_cb, c) != 0) {
                iscsi_failed_stage(c, "connect");
                return -EIO;
        }
        c->fd = iscsi_get_fd(c->iscsi);
        c->events = (short)iscsi_which_events(c->iscsi);
        return 0;
}

/* A libiscsi callback came: move to the next stage. */
static void iscsi_advance(struct check *c)
{
        int r = 0;

        c->iscsi_got_reply = false;
        /* A failed logout still ends a good check: the target may just close the connection. */
        if (c->iscsi_cb_status != 0 && c->iscsi_stage != ISCSI_LOGOUT) {
                static const char *const names[] = {
                        [ISCSI_CONNECT] = "connect",
                        [ISCSI_LOGIN] = "login",
                        [ISCSI_DISCOVERY] = "SendTargets",
                        [ISCSI_LOGOUT] = "logout",
                        [ISCSI_FINISHED] = "",
                };

                iscsi_failed_stage(c, names[c->iscsi_stage]);
                return;
        }

        switch (c->iscsi_stage) {
        case ISCSI_CONNECT:
                if (!verify_bind(c, CHECK_STEP_ISCSI, iscsi_get_fd(c->iscsi))) {
                        iscsi_close(c);
                        return;
                }
                c->iscsi_stage = ISCSI_LOGIN;
                r = iscsi_login_async(c->iscsi, iscsi_cb, c);
                break;
        case ISCSI_LOGIN:
                if (c->iscsi_normal) {
                        c->res.login_status = CHECK_OK;
                        c->iscsi_stage = ISCSI_LOGOUT;
                        r = iscsi_logout_async(c->iscsi, iscsi_cb, c);
                } else {
                        c->iscsi_stage = ISCSI_DISCOVERY;
                        r = iscsi_discovery_async(c->iscsi, iscsi_cb, c);
                }
                break;
        case ISCSI_DISCOVERY:
                c->iscsi_stage = ISCSI_LOGOUT;
                r = iscsi_logout_async(c->iscsi, iscsi_cb, c);
                break;
        case ISCSI_LOGOUT:
        case ISCSI_FINISHED:
                iscsi_close(c);
                if (!c->iscsi_normal && c->spec.target[0]) {
                        (void)iscsi_open(c, true);
                        return;
                }
                step_set(c, CHECK_STEP_ISCSI, CHECK_OK, CHECK_REASON_NONE, NULL);
                return;
        }
        if (r != 0) {
                iscsi_failed_stage(c, "request");
                return;
        }
        c->fd = iscsi_get_fd(c->iscsi);
        c->events = (short)iscsi_which_events(c->iscsi);
}

static void iscsi_event(struct check *c, short revents)
{
        if (iscsi_service(c->iscsi, revents) < 0) {
                if (!c->iscsi_got_reply) {
                        /* The target closing the connection after a logout is fine. */
                        c->iscsi_cb_status = 1;
                        iscsi_advance(c);
                        return;
                }
        }
        while (c->iscsi && c->iscsi_got_reply &&
               c->res.steps[CHECK_STEP_ISCSI].status == CHECK_PENDING)
                iscsi_advance(c);
        if (c->iscsi) {
                c->fd = iscsi_get_fd(c->iscsi);
                c->events = (short)iscsi_which_events(c->iscsi);
        }
}

/* ---------------------------------------------------------------- the state machine */

static int64_t phase_budget(struct check *c, enum phase p)
{
        int64_t now = clock_usec(CLOCK_MONOTONIC), left = c->deadline_usec - now;

        if (p == PHASE_PING && transport_uses_host_stack(c->spec.transport) &&
            (step_wanted(c, CHECK_STEP_TCP) || step_wanted(c, CHECK_STEP_ISCSI)))
                left = MIN(left, (int64_t)c->spec.timeout_ms * 1000 / 4);
        return now + MAX(left, 0);
}

static void finish(struct check *c)
{
        int first;

        close_fd(c);
        iscsi_close(c);
        c->phase = PHASE_DONE;
        c->res.elapsed_usec = clock_usec(CLOCK_MONOTONIC) - c->start_usec;
        first = check_result_first_failure(&c->res, &c->spec);
        if (first < 0)
                c->res.status = CHECK_OK;
        else {
                c->res.status = c->res.steps[first].status == CHECK_CANCELLED ? CHECK_CANCELLED :
                                                                                CHECK_FAILED;
                c->res.reason = c->res.steps[first].reason;
        }
}

/* Start the next requested phase after cur, or finish. */
static void advance(struct check *c)
{
        for (;;) {
                enum phase p = PHASE_DONE;
                int r = 0;

                close_fd(c);
                switch (c->phase) {
                case PHASE_QUEUED:
                        p = PHASE_PING;
                        break;
                case PHASE_PING:
                        p = PHASE_TCP;
                        break;
                case PHASE_TCP:
                        p = PHASE_ISCSI;
                        break;
                case PHASE_ISCSI:
                case PHASE_DONE:
                        finish(c);
                        return;
                }
                c->phase = p;
                if (p == PHASE_ISCSI && c->res.steps[CHECK_STEP_TCP].status == CHECK_FAILED) {
                        skip_rest(c, CHECK_SKIPPED, "not run: the tcp step failed");
                        continue;
                }
                if (!step_wanted(c, (enum check_step)p) || c->res.steps[p].status != CHECK_PENDING)
                        continue;

                c->phase_start_usec = clock_usec(CLOCK_MONOTONIC);
                c->phase_deadline_usec = phase_budget(c, p);
                if (p == PHASE_PING && !transport_uses_host_stack(c->spec.transport))
                        r = ping_offload_start(c);
                else if (p == PHASE_PING)
                        r = ping_start(c);
                else if (p == PHASE_TCP)
                        r = tcp_start(c);
                else
                        r = iscsi_open(c, false);
                if (r < 0 || c->res.steps[p].status != CHECK_PENDING)
                        continue;
                return; /* waiting on the socket */
        }
}

static void start(struct check *c)
{
        c->start_usec = clock_usec(CLOCK_MONOTONIC);
        c->deadline_usec = c->start_usec + (int64_t)c->spec.timeout_ms * 1000;
        c->phase = PHASE_QUEUED;
        if (!link_run(c)) {
                finish(c);
                return;
        }
        advance(c);
}

static void on_timeout(struct check *c)
{
        enum check_step s = (enum check_step)c->phase;
        char portal[INET6_ADDRSTRLEN + 8];
        unsigned ms = (unsigned)((clock_usec(CLOCK_MONOTONIC) - c->phase_start_usec) / 1000);

        check_format_portal(&c->spec.portal, portal, sizeof(portal));
        if (c->phase == PHASE_PING) {
                char addr[INET6_ADDRSTRLEN];

                ss_ntop(&c->spec.portal, addr, sizeof(addr));
                step_set(c, s, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                         "no echo reply from %s in %u ms (%u requests; ICMP may be filtered)", addr,
                         ms, c->ping_seq);
        } else if (c->phase == PHASE_TCP)
                step_set(c, s, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                         "no answer to a TCP connect to %s in %u ms: a firewall drops it, or "
                         "nothing is at that address",
                         portal, ms);
        else {
                if (c->iscsi_normal)
                        c->res.login_status = CHECK_FAILED;
                step_set(c, s, CHECK_FAILED, CHECK_REASON_TIMEOUT,
                         c->iscsi_stage == ISCSI_CONNECT ?
                                 "no TCP connection to %s in %u ms" :
                                 "connected to %s, but no iSCSI response in %u ms",
                         portal, ms);
        }
        iscsi_close(c);
}

/*
 * The step running (or, for a check that never started, the first one asked for) becomes
 * cancelled, and decides the check; the steps after it were simply not run.
 */
static void on_cancel(struct check *c)
{
        int s = -1;

        if (c->phase != PHASE_QUEUED && c->phase < PHASE_DONE &&
            c->res.steps[c->phase].status == CHECK_PENDING)
                s = (int)c->phase;
        for (int i = 0; s < 0 && i < _CHECK_STEP_MAX; i++)
                if (step_wanted(c, i) && c->res.steps[i].status == CHECK_PENDING)
                        s = i;
        if (s >= 0)
                step_set(c, (enum check_step)s, CHECK_CANCELLED, CHECK_REASON_CANCELLED,
                         "cancelled %s (the job was cancelled, or the daemon is stopping)",
                         c->phase == PHASE_QUEUED ? "before it started" : "while it ran");
        skip_rest(c, CHECK_SKIPPED, "not run: the check was cancelled");
        finish(c);
}

static void check_free(struct check *c)
{
        for (size_t i = 0; i < c->res.n_targets; i++) {
                for (size_t j = 0; j < c->res.targets[i].n_portals; j++)
                        free(c->res.targets[i].portals[j]);
                free(c->res.targets[i].portals);
                free(c->res.targets[i].name);
        }
        free(c->res.targets);
        explicit_bzero(&c->spec.chap, sizeof(c->spec.chap));
        explicit_bzero(&c->spec.discovery_chap, sizeof(c->spec.discovery_chap));
        free(c);
}

struct check *check_ref(struct check *c)
{
        if (c)
                atomic_fetch_add(&c->refs, 1);
        return c;
}

struct check *check_unref(struct check *c)
{
        if (c && atomic_fetch_sub(&c->refs, 1) == 1)
                check_free(c);
        return NULL;
}

void check_cancel(struct check *c)
{
        if (!c || atomic_exchange(&c->cancel, true))
                return;
        if (c->k) {
                uint64_t one = 1;

                (void)!write(c->k->wake_fd, &one, sizeof(one));
        }
}

const struct check_spec *check_get_spec(const struct check *c)
{
        return &c->spec;
}

const struct check_result *check_get_result(const struct check *c)
{
        return &c->res;
}

/* The loop. */
static void *checker_thread(void *arg)
{
        struct checker *k = arg;
        size_t cap = 0;

        for (;;) {
                struct check *started[64];
                size_t n_started = 0, n_pfd = 1;
                int64_t now, next = INT64_MAX;
                bool stopping, cancel_all, more;
                int timeout_ms, r;

                pthread_mutex_lock(&k->lock);
                stopping = k->stopping;
                cancel_all = atomic_exchange(&k->cancel_all, false);
                while (k->queue_head && k->n_active + n_started < CHECK_ACTIVE_MAX &&
                       n_started < ELEMENTSOF(started)) {
                        struct check *c = k->queue_head;

                        k->queue_head = c->next;
                        if (!k->queue_head)
                                k->queue_tail = NULL;
                        k->n_queued--;
                        c->next = NULL;
                        started[n_started++] = c;
                }
                more = k->queue_head && k->n_active + n_started < CHECK_ACTIVE_MAX;
                pthread_mutex_unlock(&k->lock);

                if (!k->pfds || k->n_active + n_started > cap) {
                        size_t ncap = MAX(cap * 2, k->n_active + n_started + 16);
                        struct check **a = realloc(k->active, ncap * sizeof(*a));
                        struct pollfd *p = a ? realloc(k->pfds, (ncap + 1) * sizeof(*p)) : NULL;

                        if (a)
                                k->active = a;
                        if (p)
                                k->pfds = p;
                        if (!a || !p) {
                                /* Cannot track them: fail them now rather than lose them. */
                                for (size_t i = 0; i < n_started; i++) {
                                        struct check *c = started[i];

                                        skip_rest(c, CHECK_CANCELLED, "out of memory");
                                        finish(c);
                                        c->done(c, c->userdata);
                                        check_unref(c);
                                }
                                n_started = 0;
                        } else
                                cap = ncap;
                }
                for (size_t i = 0; i < n_started; i++) {
                        struct check *c = started[i];

                        if (cancel_all)
                                atomic_store(&c->cancel, true);
                        k->active[k->n_active++] = c;
                        if (!atomic_load(&c->cancel))
                                start(c);
                }

                /* Cancels, timeouts, finished ones; then what to wait for. */
                now = clock_usec(CLOCK_MONOTONIC);
                for (size_t i = 0; i < k->n_active;) {
                        struct check *c = k->active[i];

                        if (cancel_all || stopping)
                                atomic_store(&c->cancel, true);
                        if (c->phase != PHASE_DONE && atomic_load(&c->cancel))
                                on_cancel(c);
                        else if (c->phase != PHASE_DONE && c->phase != PHASE_QUEUED &&
                                 c->res.steps[c->phase].status == CHECK_PENDING &&
                                 now >= c->phase_deadline_usec) {
                                on_timeout(c);
                                advance(c);
                        } else if (c->phase == PHASE_PING &&
                                   transport_uses_host_stack(c->spec.transport) &&
                                   c->res.steps[CHECK_STEP_PING].status == CHECK_PENDING &&
                                   now >= c->ping_next_usec)
                                ping_send(c);

                        if (c->phase == PHASE_DONE) {
                                k->active[i] = k->active[--k->n_active];
                                c->done(c, c->userdata);
                                check_unref(c);
                                continue;
                        }
                        next = MIN(next, c->phase_deadline_usec);
                        if (c->phase == PHASE_PING && transport_uses_host_stack(c->spec.transport))
                                next = MIN(next, c->ping_next_usec);
                        i++;
                }

                if (stopping && k->n_active == 0) {
                        pthread_mutex_lock(&k->lock);
                        r = k->queue_head == NULL;
                        pthread_mutex_unlock(&k->lock);
                        if (r)
                                break;
                        continue;
                }

                k->pfds[0] = (struct pollfd){ .fd = k->wake_fd, .events = POLLIN };
                for (size_t i = 0; i < k->n_active; i++) {
                        struct check *c = k->active[i];

                        k->pfds[n_pfd++] = (struct pollfd){
                                .fd = c->events ? c->fd : -1,
                                .events = c->events,
                        };
                }

                timeout_ms = more ? 0 :
                             next == INT64_MAX ?
                                    -1 :
                                    (int)MIN(MAX((next - now + 999) / 1000, 0), (int64_t)60000);
                r = poll(k->pfds, n_pfd, timeout_ms);
                if (r < 0 && errno != EINTR) {
                        log_error("check loop: poll: %m");
                        usleep(10000);
                        continue;
                }
                if (k->pfds[0].revents & POLLIN) {
                        uint64_t v;

                        (void)!read(k->wake_fd, &v, sizeof(v));
                }

                for (size_t i = 0; i < k->n_active; i++) {
                        struct check *c = k->active[i];
                        short rev = k->pfds[i + 1].revents;

                        if (!rev || c->phase == PHASE_DONE || atomic_load(&c->cancel))
                                continue;
                        if (c->phase == PHASE_PING && !transport_uses_host_stack(c->spec.transport))
                                ping_offload_event(c);
                        else if (c->phase == PHASE_PING)
                                ping_event(c);
                        else if (c->phase == PHASE_TCP)
                                tcp_event(c);
                        else if (c->phase == PHASE_ISCSI && c->iscsi)
                                iscsi_event(c, rev);
                        if (c->phase != PHASE_DONE &&
                            c->res.steps[c->phase].status != CHECK_PENDING)
                                advance(c);
                }
        }
        return NULL;
}

int checker_new(struct nic_monitor *nics, const char *initiator_name, struct checker **ret)
{
        struct checker *k;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->nics = nics;
        k->wake_fd = -1;
        pthread_mutex_init(&k->lock, NULL);
        k->initiator_name = strdup(initiator_name);
        if (!k->initiator_name) {
                checker_free(k);
                return -ENOMEM;
        }
        k->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->wake_fd < 0) {
                r = -errno;
                checker_free(k);
                return r;
        }
        r = -pthread_create(&k->thread, NULL, checker_thread, k);
        if (r < 0) {
                checker_free(k);
                return r;
        }
        k->thread_started = true;
        *ret = k;
        return 0;
}

static void wake(struct checker *k)
{
        uint64_t one = 1;

        (void)!write(k->wake_fd, &one, sizeof(one));
}

void checker_close(struct checker *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        k->closed = true;
        pthread_mutex_unlock(&k->lock);
        checker_cancel_all(k);
}

void checker_cancel_all(struct checker *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        for (struct check *c = k->queue_head; c; c = c->next)
                atomic_store(&c->cancel, true);
        atomic_store(&k->cancel_all, true);
        pthread_mutex_unlock(&k->lock);
        wake(k);
}

struct checker *checker_free(struct checker *k)
{
        if (!k)
                return NULL;
        if (k->thread_started) {
                pthread_mutex_lock(&k->lock);
                k->stopping = true;
                pthread_mutex_unlock(&k->lock);
                wake(k);
                pthread_join(k->thread, NULL);
        }
        if (k->wake_fd >= 0)
                close(k->wake_fd);
        free(k->active);
        free(k->pfds);
        free(k->initiator_name);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return NULL;
}

int checker_submit(struct checker *k, const struct check_spec *spec, check_done_fn done,
                   void *userdata, struct check **ret)
{
        struct check *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        atomic_init(&c->refs, ret ? 2 : 1);
        c->k = k;
        c->spec = *spec;
        c->done = done;
        c->userdata = userdata;
        c->fd = -1;
        c->res.login_status = CHECK_PENDING;
        for (int i = 0; i < _CHECK_STEP_MAX; i++) {
                c->res.steps[i].latency_usec = -1;
                c->res.steps[i].rp_filter = -1;
        }

        pthread_mutex_lock(&k->lock);
        if (k->stopping || k->closed) {
                pthread_mutex_unlock(&k->lock);
                free(c);
                return -ESHUTDOWN;
        }
        if (k->queue_tail)
                k->queue_tail->next = c;
        else
                k->queue_head = c;
        k->queue_tail = c;
        k->n_queued++;
        pthread_mutex_unlock(&k->lock);
        wake(k);

        if (ret)
                *ret = c;
        return 0;
}
