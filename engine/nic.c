/* SPDX-License-Identifier: MIT */
/*
 * The NIC inventory: a libnl-route cache manager and its monitor thread, which turn the link and
 * address caches plus cached sysfs/proc values into immutable snapshots, and the one map from
 * libnl error codes to -errno.
 *
 * Why one file of some 1,150 lines: the cache manager, the monitor thread and the snapshot
 * builder share libnl objects whose lifetimes (and the monitor's lock) must be read together;
 * the snapshot they publish is the only thing that leaves it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vlan.h>
#include <netlink/route/rtnl.h> /* rtnl_scope2str: without it the pointer is truncated */

#include "log.h"
#include "macro.h"
#include "nic.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#ifndef IFF_DORMANT
#define IFF_DORMANT 0x20000
#endif
#ifndef IFF_ECHO
#define IFF_ECHO 0x40000
#endif

#define REFRESH_MSEC_DEFAULT 5000u /* rp_filter has no netlink event: re-read it this often */
#define RETRY_MSEC           100   /* after a failed resync or build */
#ifndef NIC_EVENT_RCVBUF
#define NIC_EVENT_RCVBUF (8 << 20) /* a burst of thousands of link events fits */
#endif

/* What netlink does not tell: read from sysfs and proc, cached per ifindex by the monitor. */
struct nic_extra {
        int ifindex;
        char name[NIC_NAME_MAX]; /* the name the values were read under */
        bool dirty;              /* a link event came: re-read sysfs/proc at the next build */
        bool refill;             /* a link or address event came: rebuild this NIC from libnl */
        bool seen;
        bool parent_local; /* its lower device or peer lives in this namespace */
        bool in_prev;      /* it is nics[prev_pos] of the last published snapshot */
        size_t prev_pos;
        int speed_mbps;
        char duplex[16];
        char driver[32];
        int rp_filter; /* conf/<name>/rp_filter, -1 unreadable */
};

struct nic_monitor {
        char *sysfs_root;
        char *proc_root;

        /* Shared with readers, under lock. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool lock_init;
        bool cond_init;
        struct nic_snapshot *current;
        uint64_t generation;
        void (*listener)(const struct nic_snapshot *old, const struct nic_snapshot *next,
                         void *userdata);
        void *listener_userdata;
        unsigned refresh_msec;
        bool stop;

        int wake[2]; /* wakes the thread: stop, new refresh interval */
        pthread_t thread;
        bool thread_started;

        /* Owned by the monitor thread once it runs (by nic_monitor_new() before). */
        struct nl_sock *event_sock;
        struct nl_sock *sync_sock; /* for resyncs after an overrun */
        struct nl_cache_mngr *mngr;
        struct nl_cache *links;
        struct nl_cache *addrs;
        struct nic_extra *extras; /* sorted by ifindex */
        size_t n_extras;
        size_t n_extras_alloc;
        int rp_filter_all; /* conf/all/rp_filter, -1 unreadable */
        bool changed;      /* the caches changed since the last published snapshot */
        bool reread_all;   /* rebuild every NIC and re-read its sysfs/proc values */
        bool need_resync;
};

/* The one map from libnl's NLE_* codes (either sign) to -errno. */
static int nl_error_to_errno(int nlerr)
{
        switch (abs(nlerr)) {
        case NLE_SUCCESS:
                return 0;
        case NLE_INTR:
                return -EINTR;
        case NLE_BAD_SOCK:
                return -EBADF;
        case NLE_AGAIN:
        case NLE_DUMP_INTR:
                return -EAGAIN;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_INVAL:
        case NLE_AF_MISMATCH:
        case NLE_OBJ_MISMATCH:
                return -EINVAL;
        case NLE_RANGE:
                return -ERANGE;
        case NLE_MSGSIZE:
        case NLE_MSG_TRUNC:
        case NLE_ATTRSIZE:
                return -EMSGSIZE;
        case NLE_OPNOTSUPP:
        case NLE_SRCRT_NOSUPPORT:
        case NLE_MSGTYPE_NOSUPPORT:
                return -EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
                return -EAFNOSUPPORT;
        case NLE_OBJ_NOTFOUND:
        case NLE_NOCACHE:
        case NLE_PKTLOC_FILE:
                return -ENOENT;
        case NLE_NOATTR:
        case NLE_MISSING_ATTR:
                return -ENODATA;
        case NLE_SEQ_MISMATCH:
        case NLE_MSG_TOOSHORT:
        case NLE_PARSE_ERR:
                return -EBADMSG;
        case NLE_MSG_OVERFLOW:
                return -EOVERFLOW;
        case NLE_NOADDR:
                return -EADDRNOTAVAIL;
        case NLE_BUSY:
                return -EBUSY;
        case NLE_PROTO_MISMATCH:
                return -EPROTONOSUPPORT;
        case NLE_NOACCESS:
                return -EACCES;
        case NLE_PERM:
                return -EPERM;
        case NLE_NODEV:
                return -ENODEV;
        case NLE_IMMUTABLE:
                return -EROFS;
        default:
                return -EIO;
        }
}

static void copy_string(char *dst, size_t size, const char *src)
{
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

/* --- snapshots ---------------------------------------------------------------------------- */

/* A snapshot is one allocation: the header, then the nics, then all their addresses. */
static struct nic_snapshot *snapshot_alloc(size_t n_nics, size_t n_addrs)
{
        size_t nics_off = sizeof(struct nic_snapshot);
        size_t addrs_off, size;
        struct nic_snapshot *s;

        if (n_nics > (SIZE_MAX / 2) / sizeof(struct nic) ||
            n_addrs > (SIZE_MAX / 2) / sizeof(struct nic_addr))
                return NULL;

        addrs_off = nics_off + n_nics * sizeof(struct nic);
        size = addrs_off + n_addrs * sizeof(struct nic_addr);
        s = calloc(1, size);
        if (!s)
                return NULL;

        s->refs = 1;
        s->nics = n_nics > 0 ? (struct nic *)((char *)s + nics_off) : NULL;
        s->n_nics = n_nics;
        if (n_addrs > 0)
                /* Handed out to the nics by the builder. */
                s->nics[0].addrs = (struct nic_addr *)((char *)s + addrs_off);
        return s;
}

struct nic_snapshot *nic_snapshot_ref(struct nic_snapshot *s)
{
        if (s)
                __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
        return s;
}

struct nic_snapshot *nic_snapshot_unref(struct nic_snapshot *s)
{
        if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
                free(s);
        return NULL;
}

static int nic_name_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct nic *)elem)->name);
}

const struct nic *nic_snapshot_find(const struct nic_snapshot *s, const char *name)
{
        if (!s || !name || s->n_nics == 0)
                return NULL;
        return bsearch(name, s->nics, s->n_nics, sizeof(struct nic), nic_name_cmp);
}

const struct nic *nic_snapshot_find_mac(const struct nic_snapshot *s, const char *mac)
{
        if (!s || isempty(mac))
                return NULL;

        for (size_t i = 0; i < s->n_nics; i++)
                if (s->nics[i].mac[0] && strcasecmp(s->nics[i].mac, mac) == 0)
                        return &s->nics[i];
        return NULL;
}

static const struct {
        unsigned flag;
        const char *name;
} flag_names[] = {
        { IFF_UP, "UP" },
        { IFF_BROADCAST, "BROADCAST" },
        { IFF_DEBUG, "DEBUG" },
        { IFF_LOOPBACK, "LOOPBACK" },
        { IFF_POINTOPOINT, "POINTOPOINT" },
        { IFF_NOTRAILERS, "NOTRAILERS" },
        { IFF_RUNNING, "RUNNING" },
        { IFF_NOARP, "NOARP" },
        { IFF_PROMISC, "PROMISC" },
        { IFF_ALLMULTI, "ALLMULTI" },
        { IFF_MASTER, "MASTER" },
        { IFF_SLAVE, "SLAVE" },
        { IFF_MULTICAST, "MULTICAST" },
        { IFF_PORTSEL, "PORTSEL" },
        { IFF_AUTOMEDIA, "AUTOMEDIA" },
        { IFF_DYNAMIC, "DYNAMIC" },
        { IFF_LOWER_UP, "LOWER_UP" },
        { IFF_DORMANT, "DORMANT" },
        { IFF_ECHO, "ECHO" },
};

/* Fills names with up to max names of the set bits, in bit order; returns how many it wrote. */
size_t nic_flags_names(unsigned flags, const char **names, size_t max)
{
        size_t n = 0;

        if (!names)
                return 0;

        for (size_t i = 0; i < ELEMENTSOF(flag_names) && n < max; i++)
                if (flags & flag_names[i].flag)
                        names[n++] = flag_names[i].name;
        return n;
}

/* --- sysfs and proc ------------------------------------------------------------------------ */

/* Read a small attribute file into buf without the trailing newline: length, or -errno. */
static int read_attr(const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = -1;
        ssize_t n;

        assert(size > 1);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        do
                n = read(fd, buf, size - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno; /* EINVAL for speed/duplex of a link that is down or virtual */

        buf[n] = '\0';
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        return (int)n;
}

/* A whole string of decimal digits with an optional leading '-', into an int. */
static int parse_int(const char *s, int *ret)
{
        char *end;
        long v;

        if (isempty(s) || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
                return -EINVAL;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < INT_MIN || v > INT_MAX)
                return -EINVAL;

        *ret = (int)v;
        return 0;
}

/* A non-negative integer attribute, or -1 when it is unreadable, negative or garbled. */
static int read_nonneg_attr(const char *path)
{
        char buf[32];
        int v;

        if (read_attr(path, buf, sizeof(buf)) < 0 || parse_int(buf, &v) < 0 || v < 0)
                return -1;
        return v;
}

static int read_rp_filter(const struct nic_monitor *m, const char *name)
{
        char path[PATH_MAX];

        if (snprintf(path, sizeof(path), "%s/sys/net/ipv4/conf/%s/rp_filter", m->proc_root, name) >=
            (int)sizeof(path))
                return -1;
        return read_nonneg_attr(path);
}

static void extra_read(const struct nic_monitor *m, struct nic_extra *x)
{
        char dir[PATH_MAX], path[PATH_MAX + 16], buf[PATH_MAX];
        const char *base;
        ssize_t n;

        x->speed_mbps = -1;
        copy_string(x->duplex, sizeof(x->duplex), "unknown");
        x->driver[0] = '\0';
        x->rp_filter = read_rp_filter(m, x->name);

        if (snprintf(dir, sizeof(dir), "%s/class/net/%s", m->sysfs_root, x->name) >=
            (int)sizeof(dir))
                return;

        (void)snprintf(path, sizeof(path), "%s/speed", dir);
        x->speed_mbps = read_nonneg_attr(path);

        (void)snprintf(path, sizeof(path), "%s/duplex", dir);
        if (read_attr(path, buf, sizeof(buf)) >= 0 && (streq(buf, "full") || streq(buf, "half")))
                copy_string(x->duplex, sizeof(x->duplex), buf);

        /* Virtual links have no device/; a name that does not fit stays unknown, not cut. */
        (void)snprintf(path, sizeof(path), "%s/device/driver", dir);
        n = readlink(path, buf, sizeof(buf) - 1);
        if (n > 0) {
                buf[n] = '\0';
                base = strrchr(buf, '/');
                base = base ? base + 1 : buf;
                if (strlen(base) < sizeof(x->driver))
                        copy_string(x->driver, sizeof(x->driver), base);
        }
}

static int extra_cmp(const void *a, const void *b)
{
        int x = ((const struct nic_extra *)a)->ifindex, y = ((const struct nic_extra *)b)->ifindex;

        return (x > y) - (x < y);
}

static struct nic_extra *extra_find(struct nic_monitor *m, size_t n_sorted, int ifindex)
{
        struct nic_extra key = { .ifindex = ifindex };

        if (n_sorted == 0)
                return NULL;
        return bsearch(&key, m->extras, n_sorted, sizeof(struct nic_extra), extra_cmp);
}

/* Re-read the values without a netlink event (rp_filter); true if any of them changed. */
static bool extras_refresh(struct nic_monitor *m)
{
        char path[PATH_MAX];
        bool changed = false;
        int v;

        (void)snprintf(path, sizeof(path), "%s/sys/net/ipv4/conf/all/rp_filter", m->proc_root);
        v = read_nonneg_attr(path);
        if (v != m->rp_filter_all) {
                m->rp_filter_all = v;
                changed = true;
        }

        for (size_t i = 0; i < m->n_extras; i++) {
                v = read_rp_filter(m, m->extras[i].name);
                if (v != m->extras[i].rp_filter) {
                        m->extras[i].rp_filter = v;
                        changed = true;
                }
        }
        return changed;
}

/* --- building a snapshot (monitor thread) ------------------------------------------------ */

struct link_item {
        struct rtnl_link *link;
        const char *name;
        int ifindex;
        int rank; /* 0 the AF_UNSPEC object, 1 an AF_BRIDGE one */
        size_t n_addrs;
        struct nic_extra *x;
        const struct nic *prev; /* unchanged since this copy in the last snapshot */
};

struct index_item {
        int ifindex;
        size_t pos;
};

static int link_item_ifindex_cmp(const void *a, const void *b)
{
        const struct link_item *x = a, *y = b;

        if (x->ifindex != y->ifindex)
                return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
        return x->rank - y->rank;
}

static int link_item_name_cmp(const void *a, const void *b)
{
        return strcmp(((const struct link_item *)a)->name, ((const struct link_item *)b)->name);
}

static int index_item_cmp(const void *a, const void *b)
{
        int x = ((const struct index_item *)a)->ifindex,
            y = ((const struct index_item *)b)->ifindex;

        return (x > y) - (x < y);
}

static const struct index_item *index_find(const struct index_item *index, size_t n, int ifindex)
{
        struct index_item key = { .ifindex = ifindex };

        if (n == 0)
                return NULL;
        return bsearch(&key, index, n, sizeof(struct index_item), index_item_cmp);
}

/* Bring the per-ifindex sysfs/proc cache in line with the links; reads only what changed. */
static int extras_update(struct nic_monitor *m, const struct link_item *items, size_t n)
{
        size_t n_sorted = m->n_extras, w;
        bool appended;

        /* Room for every link being new, so that nothing fails half-way through. */
        if (m->n_extras + n > m->n_extras_alloc) {
                size_t k = (m->n_extras + n) * 2;
                struct nic_extra *e = reallocarray(m->extras, k, sizeof(*e));

                if (!e)
                        return -ENOMEM;
                m->extras = e;
                m->n_extras_alloc = k;
        }

        for (size_t i = 0; i < n; i++) {
                struct nic_extra *x = extra_find(m, n_sorted, items[i].ifindex);

                if (!x) {
                        x = &m->extras[m->n_extras++];
                        *x = (struct nic_extra){ .ifindex = items[i].ifindex,
                                                 .dirty = true,
                                                 .refill = true };
                }

                x->seen = true;
                if (x->dirty || m->reread_all || !streq(x->name, items[i].name)) {
                        copy_string(x->name, sizeof(x->name), items[i].name);
                        extra_read(m, x);
                        x->dirty = false;
                        x->refill = true;
                }
        }

        /* Forget deleted links, then restore the order for the lookups. */
        appended = m->n_extras > n_sorted;
        w = 0;
        for (size_t i = 0; i < m->n_extras; i++) {
                if (!m->extras[i].seen)
                        continue;
                m->extras[i].seen = false;
                m->extras[w++] = m->extras[i];
        }
        if (appended)
                qsort(m->extras, w, sizeof(struct nic_extra), extra_cmp);
        m->n_extras = w;
        return 0;
}

/* The NIC's own netlink attributes; the parent's name and the sysfs values come later. */
static void fill_nic(struct nic *nic, const struct link_item *it)
{
        struct rtnl_link *l = it->link;
        struct nl_addr *a = rtnl_link_get_addr(l);
        const char *kind = rtnl_link_get_type(l);
        char buf[64];
        int32_t netnsid;
        int parent;

        copy_string(nic->name, sizeof(nic->name), it->name);
        nic->ifindex = it->ifindex;

        /* Only Ethernet-sized addresses are MACs; lo reports all zeroes, like ip does. */
        if (a && nl_addr_get_len(a) == 6) {
                static const char hex[] = "0123456789abcdef";
                const uint8_t *b = nl_addr_get_binary_addr(a);

                for (size_t i = 0; i < 6; i++) {
                        nic->mac[3 * i] = hex[b[i] >> 4];
                        nic->mac[3 * i + 1] = hex[b[i] & 0xf];
                        nic->mac[3 * i + 2] = i < 5 ? ':' : '\0';
                }
        }

        nic->mtu = rtnl_link_get_mtu(l);
        rtnl_link_operstate2str(rtnl_link_get_operstate(l), buf, sizeof(buf));
        copy_string(nic->operstate, sizeof(nic->operstate), buf);
        for (char *p = nic->operstate; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        nic->carrier = rtnl_link_get_carrier(l);
        nic->flags = rtnl_link_get_flags(l);
        copy_string(nic->kind, sizeof(nic->kind), kind ? kind : "");

        /* The lower device, or the veth peer; a link-netnsid means another namespace. */
        parent = rtnl_link_get_link(l);
        nic->parent_ifindex = parent > 0 && parent != it->ifindex ? parent : 0;
        if (it->x)
                it->x->parent_local =
                        nic->parent_ifindex > 0 && rtnl_link_get_link_netnsid(l, &netnsid) < 0;

        nic->vlan_id = kind && streq(kind, "vlan") ? rtnl_link_vlan_get_id(l) : -1;
}

/* What may change without an event on this link: the parent's name, sysfs and proc values. */
static void fill_nic_context(struct nic *nic, const struct link_item *it,
                             const struct index_item *index, size_t n,
                             const struct link_item *items, int rp_filter_all)
{
        const struct nic_extra *x = it->x;
        const struct index_item *p;

        nic->parent[0] = '\0';
        if (x && x->parent_local && (p = index_find(index, n, nic->parent_ifindex)))
                copy_string(nic->parent, sizeof(nic->parent), items[p->pos].name);

        if (x) {
                nic->speed_mbps = x->speed_mbps;
                copy_string(nic->duplex, sizeof(nic->duplex), x->duplex);
                copy_string(nic->driver, sizeof(nic->driver), x->driver);
                nic->rp_filter =
                        x->rp_filter < 0 || rp_filter_all < 0 ?
                                -1 :
                                (x->rp_filter > rp_filter_all ? x->rp_filter : rp_filter_all);
        } else {
                nic->speed_mbps = -1;
                copy_string(nic->duplex, sizeof(nic->duplex), "unknown");
                nic->driver[0] = '\0';
                nic->rp_filter = -1;
        }
}

static void fill_addr(struct nic_addr *out, struct rtnl_addr *a)
{
        struct nl_addr *local = rtnl_addr_get_local(a);
        char scope[32];

        out->family = rtnl_addr_get_family(a);
        if (local && nl_addr_get_len(local) == (out->family == AF_INET ? 4u : 16u))
                (void)inet_ntop(out->family, nl_addr_get_binary_addr(local), out->address,
                                sizeof(out->address));
        out->prefixlen = (unsigned)rtnl_addr_get_prefixlen(a);
        rtnl_scope2str(rtnl_addr_get_scope(a), scope, sizeof(scope));
        copy_string(out->scope, sizeof(out->scope), scope);
}

static bool addr_is_wanted(struct rtnl_addr *a)
{
        int family = rtnl_addr_get_family(a);

        return (family == AF_INET || family == AF_INET6) && rtnl_addr_get_local(a);
}

static int snapshot_build(struct nic_monitor *m, struct nic_snapshot **ret)
{
        const struct nic_snapshot *prev = m->current; /* only this thread replaces it */
        _cleanup_free_ struct link_item *items = NULL;
        _cleanup_free_ struct index_item *index = NULL;
        struct nic_snapshot *s;
        struct nic_addr *addrs;
        size_t n = 0, w = 0, cap, n_addrs = 0;
        int r;

        cap = (size_t)nl_cache_nitems(m->links);
        items = calloc(cap ? cap : 1, sizeof(*items));
        index = calloc(cap ? cap : 1, sizeof(*index));
        if (!items || !index)
                return -ENOMEM;

        /*
         * The manager's link cache keys objects by (ifindex, family), and events bring more than
         * one per link: AF_UNSPEC (the link itself), AF_BRIDGE (bridge port info; libnl also
         * files a bridge device itself under AF_BRIDGE) and AF_INET6 (IPv6 per-link info, which
         * the kernel never deletes). Keep the best object per ifindex, and drop the AF_INET6
         * ones from the cache so that they do not pile up with link churn.
         */
        for (struct nl_object *o = nl_cache_get_first(m->links), *next; o; o = next) {
                struct rtnl_link *l = (struct rtnl_link *)o;
                int family = rtnl_link_get_family(l);
                const char *name = rtnl_link_get_name(l);

                next = nl_cache_get_next(o);
                if (family != AF_UNSPEC && family != AF_BRIDGE) {
                        nl_cache_remove(o);
                        continue;
                }
                if (isempty(name) || rtnl_link_get_ifindex(l) <= 0 || n >= cap)
                        continue;
                items[n++] = (struct link_item){ .link = l,
                                                 .name = name,
                                                 .ifindex = rtnl_link_get_ifindex(l),
                                                 .rank = family == AF_UNSPEC ? 0 : 1 };
        }

        qsort(items, n, sizeof(*items), link_item_ifindex_cmp);
        for (size_t i = 0; i < n; i++)
                if (w == 0 || items[w - 1].ifindex != items[i].ifindex)
                        items[w++] = items[i];
        n = w;

        qsort(items, n, sizeof(*items), link_item_name_cmp);
        for (size_t i = 0; i < n; i++)
                index[i] = (struct index_item){ .ifindex = items[i].ifindex, .pos = i };
        qsort(index, n, sizeof(*index), index_item_cmp);

        r = extras_update(m, items, n);
        if (r < 0)
                return r;

        /*
         * A NIC without a link or address event since the last snapshot is copied from it:
         * formatting MACs and addresses of a thousand links on every change would be the bulk
         * of the work.
         */
        for (size_t i = 0; i < n; i++) {
                struct nic_extra *x = extra_find(m, m->n_extras, items[i].ifindex);
                const struct nic *old;

                items[i].x = x;
                if (!prev || !x || !x->in_prev || x->refill || m->reread_all ||
                    x->prev_pos >= prev->n_nics)
                        continue;
                old = &prev->nics[x->prev_pos];
                if (old->ifindex != items[i].ifindex || !streq(old->name, items[i].name))
                        continue;
                items[i].prev = old;
                items[i].n_addrs = old->n_addrs;
                n_addrs += old->n_addrs;
        }

        for (struct nl_object *o = nl_cache_get_first(m->addrs); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *)o;
                const struct index_item *p;

                if (!addr_is_wanted(a))
                        continue;
                p = index_find(index, n, rtnl_addr_get_ifindex(a));
                if (!p || items[p->pos].prev)
                        continue;
                items[p->pos].n_addrs++;
                n_addrs++;
        }

        s = snapshot_alloc(n, n_addrs);
        if (!s)
                return -ENOMEM;
        addrs = n_addrs > 0 ? s->nics[0].addrs : NULL;

        for (size_t i = 0, off = 0; i < n; i++) {
                struct nic *nic = &s->nics[i];

                if (items[i].prev)
                        *nic = *items[i].prev;
                else
                        fill_nic(nic, &items[i]);
                fill_nic_context(nic, &items[i], index, n, items, m->rp_filter_all);

                nic->addrs = items[i].n_addrs > 0 ? addrs + off : NULL;
                nic->n_addrs = 0;
                if (items[i].prev && items[i].n_addrs > 0) {
                        memcpy(nic->addrs, items[i].prev->addrs,
                               items[i].n_addrs * sizeof(struct nic_addr));
                        nic->n_addrs = items[i].n_addrs;
                }
                off += items[i].n_addrs;
        }

        /*
         * The kernel announces the first end of a new veth pair before the two ends know each
         * other (ip shows it as "@NONE" only in that event), and sends nothing when they do. The
         * other end names it, and veth peers are symmetric.
         */
        for (size_t i = 0; i < n; i++) {
                const struct nic *a = &s->nics[i];
                const struct index_item *p;
                struct nic *b;

                if (!streq(a->kind, "veth") || !a->parent[0])
                        continue;
                p = index_find(index, n, a->parent_ifindex);
                b = p ? &s->nics[p->pos] : NULL;
                if (b && streq(b->kind, "veth") && !b->parent[0] &&
                    (b->parent_ifindex == 0 || b->parent_ifindex == a->ifindex)) {
                        b->parent_ifindex = a->ifindex;
                        copy_string(b->parent, sizeof(b->parent), a->name);
                }
        }

        for (struct nl_object *o = nl_cache_get_first(m->addrs); o; o = nl_cache_get_next(o)) {
                struct rtnl_addr *a = (struct rtnl_addr *)o;
                const struct index_item *p;
                struct nic *nic;

                if (!addr_is_wanted(a))
                        continue;
                p = index_find(index, n, rtnl_addr_get_ifindex(a));
                if (!p || items[p->pos].prev)
                        continue;
                nic = &s->nics[p->pos];
                if (nic->n_addrs < items[p->pos].n_addrs)
                        fill_addr(&nic->addrs[nic->n_addrs++], a);
        }

        /* The caller publishes it: the next build copies from it. */
        for (size_t i = 0; i < n; i++)
                if (items[i].x) {
                        items[i].x->in_prev = true;
                        items[i].x->prev_pos = i;
                        items[i].x->refill = false;
                }
        m->reread_all = false;

        s->built_usec = clock_usec(CLOCK_REALTIME);
        *ret = s;
        return 0;
}

static void monitor_publish(struct nic_monitor *m, struct nic_snapshot *s)
{
        void (*listener)(const struct nic_snapshot *, const struct nic_snapshot *, void *);
        struct nic_snapshot *old;
        void *userdata;

        pthread_mutex_lock(&m->lock);
        s->generation = ++m->generation;
        old = m->current;
        m->current = nic_snapshot_ref(s);
        listener = m->listener;
        userdata = m->listener_userdata;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);

        /* Both stay alive for the call: s by the reference taken above, old by ours. */
        if (listener && old)
                listener(old, s, userdata);
        nic_snapshot_unref(s);
        nic_snapshot_unref(old);
}

void nic_monitor_set_listener(struct nic_monitor *m,
                              void (*fn)(const struct nic_snapshot *old,
                                         const struct nic_snapshot *next, void *userdata),
                              void *userdata)
{
        if (!m)
                return;
        pthread_mutex_lock(&m->lock);
        m->listener = fn;
        m->listener_userdata = userdata;
        pthread_mutex_unlock(&m->lock);
}

static int monitor_rebuild(struct nic_monitor *m)
{
        struct nic_snapshot *s = NULL;
        int64_t t0 = clock_usec(CLOCK_MONOTONIC);
        int r;

        r = snapshot_build(m, &s);
        if (r < 0)
                return r;

        monitor_publish(m, s);
        m->changed = false;
        log_debug("NIC monitor: snapshot %" PRIu64 " of %zu links built in %" PRId64 " us",
                  s->generation, s->n_nics, clock_usec(CLOCK_MONOTONIC) - t0);
        return 0;
}

/* --- the cache manager and its thread ----------------------------------------------------- */

/* Called by libnl inside nl_cache_mngr_data_ready() for every object that really changed. */
static void on_change(struct nl_cache *cache, struct nl_object *obj, int action, void *userdata)
{
        struct nic_monitor *m = userdata;
        struct nic_extra *x;

        if (cache == m->links) {
                struct rtnl_link *l = (struct rtnl_link *)obj;
                int family = rtnl_link_get_family(l);

                if (family != AF_UNSPEC && family != AF_BRIDGE)
                        return; /* IPv6 per-link info: not part of a snapshot */

                /* A link event may also change speed, duplex or driver. */
                x = extra_find(m, m->n_extras, rtnl_link_get_ifindex(l));
                if (x)
                        x->dirty = x->refill = true;
        } else {
                x = extra_find(m, m->n_extras, rtnl_addr_get_ifindex((struct rtnl_addr *)obj));
                if (x)
                        x->refill = true;
        }
        m->changed = true;
}

/* After an overrun (ENOBUFS) events were lost: drop what is queued and dump everything again. */
static int monitor_resync(struct nic_monitor *m)
{
        int fd = nl_cache_mngr_get_fd(m->mngr);
        char buf[8192];
        int r;

        /* Bounded: under a storm of events the queue never runs dry. */
        for (unsigned i = 0; i < 4096; i++) {
                ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (k == 0 || (k < 0 && errno != EINTR && errno != ENOBUFS))
                        break;
        }

        r = nl_cache_refill(m->sync_sock, m->links);
        if (r < 0)
                return nl_error_to_errno(r);

        r = nl_cache_refill(m->sync_sock, m->addrs);
        if (r < 0)
                return nl_error_to_errno(r);

        m->reread_all = true;
        m->changed = true;
        return 0;
}

static void *monitor_thread(void *userdata)
{
        struct nic_monitor *m = userdata;
        int64_t next_refresh;
        unsigned refresh;
        bool stop;
        int r;

        (void)pthread_setname_np(pthread_self(), "ifd-nicmon");
        pthread_mutex_lock(&m->lock);
        refresh = m->refresh_msec;
        pthread_mutex_unlock(&m->lock);
        next_refresh = clock_usec(CLOCK_MONOTONIC) + (int64_t)refresh * 1000;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = nl_cache_mngr_get_fd(m->mngr), .events = POLLIN },
                        { .fd = m->wake[0], .events = POLLIN },
                };
                int64_t now = clock_usec(CLOCK_MONOTONIC);
                int timeout;

                if (m->need_resync || m->changed)
                        timeout = RETRY_MSEC; /* the last resync or build failed */
                else
                        timeout = next_refresh > now ? (int)((next_refresh - now + 999) / 1000) : 0;

                r = poll(p, ELEMENTSOF(p), timeout);
                if (r < 0 && errno != EINTR) {
                        log_debug_errno(-errno, "NIC monitor: poll() failed, retrying");
                        (void)usleep(RETRY_MSEC * 1000);
                }

                if (r > 0 && p[1].revents) {
                        char drain[64];

                        while (read(m->wake[0], drain, sizeof(drain)) > 0)
                                ;
                        pthread_mutex_lock(&m->lock);
                        stop = m->stop;
                        if (refresh != m->refresh_msec) {
                                refresh = m->refresh_msec;
                                next_refresh =
                                        clock_usec(CLOCK_MONOTONIC) + (int64_t)refresh * 1000;
                        }
                        pthread_mutex_unlock(&m->lock);
                        if (stop)
                                break;
                }

                /* An overrun shows as POLLERR and then ENOBUFS (NLE_NOMEM) from the receive. */
                if (r > 0 && (p[0].revents & (POLLIN | POLLERR))) {
                        r = nl_cache_mngr_data_ready(m->mngr);
                        if (r < 0) {
                                log_debug_errno(nl_error_to_errno(r),
                                                "NIC monitor: lost events, resyncing");
                                m->need_resync = true;
                        }
                }

                if (m->need_resync) {
                        r = monitor_resync(m);
                        if (r < 0)
                                log_debug_errno(r, "NIC monitor: resync failed, retrying");
                        else
                                m->need_resync = false;
                }

                now = clock_usec(CLOCK_MONOTONIC);
                if (now >= next_refresh) {
                        if (extras_refresh(m))
                                m->changed = true;
                        next_refresh = now + (int64_t)refresh * 1000;
                }

                /* The receive drained the socket: this batch is complete, publish it. */
                if (m->changed && !m->need_resync) {
                        r = monitor_rebuild(m);
                        if (r < 0)
                                log_debug_errno(r,
                                                "NIC monitor: cannot build a snapshot, retrying");
                }
        }

        return NULL;
}

static int monitor_wake(struct nic_monitor *m)
{
        ssize_t k;

        do
                k = write(m->wake[1], "x", 1);
        while (k < 0 && errno == EINTR);
        /* EAGAIN: the pipe is full, so the thread wakes anyway. */
        return k < 0 && errno != EAGAIN ? -errno : 0;
}

struct nic_monitor *nic_monitor_free(struct nic_monitor *m)
{
        if (!m)
                return NULL;

        if (m->thread_started) {
                pthread_mutex_lock(&m->lock);
                m->stop = true;
                pthread_mutex_unlock(&m->lock);
                (void)monitor_wake(m);
                (void)pthread_join(m->thread, NULL);
        }

        nl_cache_mngr_free(m->mngr); /* frees the caches it manages */
        nl_socket_free(m->event_sock);
        nl_socket_free(m->sync_sock);
        free(m->extras);
        nic_snapshot_unref(m->current);
        if (m->wake[0] >= 0)
                (void)close(m->wake[0]);
        if (m->wake[1] >= 0)
                (void)close(m->wake[1]);
        if (m->cond_init)
                pthread_cond_destroy(&m->cond);
        if (m->lock_init)
                pthread_mutex_destroy(&m->lock);
        free(m->sysfs_root);
        free(m->proc_root);
        free(m);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nic_monitor *, nic_monitor_free);

static int monitor_connect(struct nic_monitor *m)
{
        int fd, size = NIC_EVENT_RCVBUF;
        int r;

        m->event_sock = nl_socket_alloc();
        m->sync_sock = nl_socket_alloc();
        if (!m->event_sock || !m->sync_sock)
                return -ENOMEM;

        r = nl_connect(m->sync_sock, NETLINK_ROUTE);
        if (r < 0)
                return nl_error_to_errno(r);

        /*
         * No NL_AUTO_PROVIDE: it would publish these caches process-wide, and libnl's address
         * parser would then read the link cache of whichever monitor provided last, from
         * another thread. Nothing here needs a provided cache.
         */
        r = nl_cache_mngr_alloc(m->event_sock, NETLINK_ROUTE, 0, &m->mngr);
        if (r < 0)
                return nl_error_to_errno(r);

        /* Large messages (many VFs) must not be truncated. */
        nl_socket_enable_msg_peek(m->event_sock);

        /*
         * A burst of link changes (a thousand veths) overflows the default 208 KiB: ask for
         * more, beyond rmem_max when privileged; an overrun is survivable, just slower.
         */
        fd = nl_cache_mngr_get_fd(m->mngr);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));

        r = nl_cache_mngr_add(m->mngr, "route/link", on_change, m, &m->links);
        if (r < 0)
                return nl_error_to_errno(r);

        r = nl_cache_mngr_add(m->mngr, "route/addr", on_change, m, &m->addrs);
        if (r < 0)
                return nl_error_to_errno(r);

        return 0;
}

int nic_monitor_new(const char *sysfs_root, const char *proc_root, struct nic_monitor **ret)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        pthread_condattr_t ca;
        sigset_t all, saved;
        int r;

        assert_return(sysfs_root && proc_root && ret, -EINVAL);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->wake[0] = m->wake[1] = -1;
        m->refresh_msec = REFRESH_MSEC_DEFAULT;
        m->rp_filter_all = -1;

        m->sysfs_root = strdup(sysfs_root);
        m->proc_root = strdup(proc_root);
        if (!m->sysfs_root || !m->proc_root)
                return -ENOMEM;

        r = pthread_mutex_init(&m->lock, NULL);
        if (r != 0)
                return -r;
        m->lock_init = true;

        r = pthread_condattr_init(&ca);
        if (r != 0)
                return -r;
        r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (r == 0)
                r = pthread_cond_init(&m->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (r != 0)
                return -r;
        m->cond_init = true;

        if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;

        r = monitor_connect(m);
        if (r < 0)
                return r;

        (void)extras_refresh(m); /* conf/all; the per-link values come with the first build */
        r = monitor_rebuild(m);
        if (r < 0)
                return r;

        /* The thread takes no signals: they belong to whoever runs the daemon's main loop. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        r = pthread_create(&m->thread, NULL, monitor_thread, m);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r != 0)
                return -r;
        m->thread_started = true;

        *ret = TAKE_PTR(m);
        return 0;
}

struct nic_snapshot *nic_monitor_snapshot(struct nic_monitor *m)
{
        struct nic_snapshot *s;

        if (!m)
                return NULL;

        pthread_mutex_lock(&m->lock);
        s = nic_snapshot_ref(m->current);
        pthread_mutex_unlock(&m->lock);
        return s;
}

int nic_monitor_wait(struct nic_monitor *m, uint64_t after, unsigned timeout_ms)
{
        struct timespec deadline;
        int r = 0;

        assert_return(m, -EINVAL);

        (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }

        pthread_mutex_lock(&m->lock);
        while (m->generation <= after && r == 0)
                r = pthread_cond_timedwait(&m->cond, &m->lock, &deadline);
        r = m->generation > after ? 0 : -ETIMEDOUT;
        pthread_mutex_unlock(&m->lock);
        return r;
}

int nic_monitor_set_refresh_interval(struct nic_monitor *m, unsigned msec)
{
        assert_return(m && msec > 0, -EINVAL);

        pthread_mutex_lock(&m->lock);
        m->refresh_msec = msec;
        pthread_mutex_unlock(&m->lock);
        return monitor_wake(m);
}
