/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of engine/nic.c: flag names and lookups on hand-made snapshots, then the libnl
 * monitor against real links in a private network namespace (with a fresh sysfs mounted in a
 * private mount namespace) and against sysfs/proc fixture trees. Root only; skips otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "macro.h"
#include "nic.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#ifndef IFF_ECHO
#define IFF_ECHO 0x40000
#endif

#define SENTINEL    ((struct nic_monitor *)(uintptr_t)0x5e5e5e5e)
/*
 * Every change must show within this. A deadline for "it shows up at all", not a speed claim
 * (the latencies are printed): under valgrind on a loaded 2-core machine a change took over
 * 1000 ms to show, so the bound is generous.
 */
#define CHANGE_MSEC 10000

/* Set up once by main() in the private namespaces; read-only for the tests. */
static char sysfs_dir[PATH_MAX];
static bool have_vlan, have_macvlan, have_dummy, have_bridge;

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nic_snapshot *, nic_snapshot_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nic_monitor *, nic_monitor_free);

static int64_t now_msec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* snprintf() that fails the test instead of truncating. */
static void pathf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void pathf(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        assert_true(n >= 0 && (size_t)n < size);
}

/* Run a shell command line; returns its exit status (or -1). */
static int sh(const char *fmt, ...) _printf_(1, 2);
static int sh(const char *fmt, ...)
{
        char cmd[1024];
        va_list ap;
        int n, st;

        va_start(ap, fmt);
        n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        if (n < 0 || n >= (int)sizeof(cmd))
                return -1;

        st = system(cmd);
        return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void must(const char *cmd)
{
        if (sh("%s", cmd) != 0)
                fail_msg("command failed: %s", cmd);
}

static void write_file(const char *path, const char *content)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(content);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, n), (ssize_t)n);
        assert_int_equal(close(fd), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (flag == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

static void rm_rf(const char *path)
{
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const struct nic_addr *find_addr(const struct nic *n, const char *addr, unsigned prefixlen)
{
        for (size_t i = 0; i < n->n_addrs; i++)
                if (streq(n->addrs[i].address, addr) && n->addrs[i].prefixlen == prefixlen)
                        return &n->addrs[i];
        return NULL;
}

/* What a step expects of one NIC; unset fields are not checked. */
struct expect {
        const char *name;
        bool absent;
        unsigned mtu;
        const char *operstate;
        enum {
                UP_ANY,
                UP_SET,
                UP_CLEAR
        } up;
        const char *mac;
        const char *parent;
        const char *addr;    /* present, "a.b.c.d/len" */
        const char *no_addr; /* absent, same form */
        bool rp_check;
        int rp_filter;
};

#define EXPECT(...) ((struct expect){ __VA_ARGS__ })

static bool addr_present(const struct nic *n, const char *spec)
{
        char buf[64];
        char *slash;

        snprintf(buf, sizeof(buf), "%s", spec);
        slash = strchr(buf, '/');
        assert_non_null(slash);
        *slash = '\0';
        return find_addr(n, buf, (unsigned)atoi(slash + 1)) != NULL;
}

static bool expect_holds(const struct nic_snapshot *s, const struct expect *e)
{
        const struct nic *n = nic_snapshot_find(s, e->name);

        if (e->absent)
                return !n;
        if (!n)
                return false;
        if (e->mtu && n->mtu != e->mtu)
                return false;
        if (e->operstate && !streq(n->operstate, e->operstate))
                return false;
        if (e->up != UP_ANY && !!(n->flags & IFF_UP) != (e->up == UP_SET))
                return false;
        if (e->mac && !streq(n->mac, e->mac))
                return false;
        if (e->parent && !streq(n->parent, e->parent))
                return false;
        if (e->addr && !addr_present(n, e->addr))
                return false;
        if (e->no_addr && addr_present(n, e->no_addr))
                return false;
        if (e->rp_check && n->rp_filter != e->rp_filter)
                return false;
        return true;
}

/* Milliseconds from t0 until a published snapshot satisfies e, or -1 after timeout_ms. */
static int64_t wait_for(struct nic_monitor *m, const struct expect *e, int64_t t0,
                        unsigned timeout_ms)
{
        for (;;) {
                _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = nic_monitor_snapshot(m);
                int64_t left;

                assert_non_null(s);
                if (expect_holds(s, e))
                        return now_msec() - t0;
                left = t0 + timeout_ms - now_msec();
                if (left <= 0)
                        return -1;
                (void)nic_monitor_wait(m, s->generation, (unsigned)left);
        }
}

/* --- without netlink ------------------------------------------------------------------------ */

static void test_nic_flags_names(void **state)
{
        static const struct {
                unsigned flags;
                size_t max;
                const char *want[20];
        } cases[] = {
                { 0, 8, { NULL } },
                { IFF_UP, 8, { "UP" } },
                { IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP,
                  8,
                  { "UP", "BROADCAST", "RUNNING", "MULTICAST", "LOWER_UP" } },
                { IFF_LOOPBACK | IFF_UP | (1u << 30), 8, { "UP", "LOOPBACK" } },
                { IFF_UP | IFF_RUNNING | IFF_LOWER_UP, 2, { "UP", "RUNNING" } },
                { IFF_UP | IFF_RUNNING, 0, { NULL } },
                { 0x7ffff,
                  20,
                  { "UP", "BROADCAST", "DEBUG", "LOOPBACK", "POINTOPOINT", "NOTRAILERS", "RUNNING",
                    "NOARP", "PROMISC", "ALLMULTI", "MASTER", "SLAVE", "MULTICAST", "PORTSEL",
                    "AUTOMEDIA", "DYNAMIC", "LOWER_UP", "DORMANT", "ECHO" } },
        };
        (void)state;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                const char *names[20] = { NULL };
                size_t want = 0, got;

                while (want < ELEMENTSOF(cases[c].want) && cases[c].want[want])
                        want++;
                got = nic_flags_names(cases[c].flags, names, cases[c].max);
                assert_int_equal(got, want);
                for (size_t i = 0; i < want; i++)
                        assert_string_equal(names[i], cases[c].want[i]);
                if (want < ELEMENTSOF(names))
                        assert_null(names[want]); /* nothing written past the count */
        }
        assert_int_equal(nic_flags_names(IFF_UP, NULL, 4), 0);
}

static void test_nic_snapshot_find(void **state)
{
        struct nic nics[] = {
                { .name = "br0", .mac = "" },
                { .name = "eth0", .mac = "52:54:00:ab:cd:ef" },
                { .name = "eth0.42", .mac = "52:54:00:ab:cd:ef" },
                { .name = "lo", .mac = "00:00:00:00:00:00" },
                { .name = "v0", .mac = "02:00:00:00:00:a0" },
        };
        struct nic_snapshot s = { .refs = 1, .nics = nics, .n_nics = ELEMENTSOF(nics) };
        struct nic_snapshot empty = { .refs = 1 };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(nics); i++)
                assert_ptr_equal(nic_snapshot_find(&s, nics[i].name), &nics[i]);
        assert_null(nic_snapshot_find(&s, "eth"));
        assert_null(nic_snapshot_find(&s, "zz"));
        assert_null(nic_snapshot_find(&s, ""));
        assert_null(nic_snapshot_find(&s, NULL));
        assert_null(nic_snapshot_find(NULL, "lo"));
        assert_null(nic_snapshot_find(&empty, "lo"));

        /* MACs compare case-insensitively, as iscsiadm does; the first of equal MACs wins. */
        assert_ptr_equal(nic_snapshot_find_mac(&s, "02:00:00:00:00:A0"), &nics[4]);
        assert_ptr_equal(nic_snapshot_find_mac(&s, "52:54:00:AB:CD:EF"), &nics[1]);
        assert_null(nic_snapshot_find_mac(&s, "02:00:00:00:00:a1"));
        assert_null(nic_snapshot_find_mac(&s, ""));
        assert_null(nic_snapshot_find_mac(&s, NULL));
        assert_null(nic_snapshot_find_mac(NULL, "02:00:00:00:00:a0"));

        assert_ptr_equal(nic_snapshot_ref(&s), &s);
        assert_int_equal(s.refs, 2);
        assert_null(nic_snapshot_unref(&s));
        assert_int_equal(s.refs, 1);
        assert_null(nic_snapshot_ref(NULL));
        assert_null(nic_snapshot_unref(NULL));
}

static void test_nic_monitor_invalid_args(void **state)
{
        struct nic_monitor *m = SENTINEL;
        (void)state;

        assert_int_equal(nic_monitor_new(NULL, "/proc", &m), -EINVAL);
        assert_ptr_equal(m, SENTINEL);
        assert_int_equal(nic_monitor_new(sysfs_dir, NULL, &m), -EINVAL);
        assert_ptr_equal(m, SENTINEL);
        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", NULL), -EINVAL);
        assert_null(nic_monitor_free(NULL));
        assert_null(nic_monitor_snapshot(NULL));
        assert_int_equal(nic_monitor_wait(NULL, 0, 10), -EINVAL);
        assert_int_equal(nic_monitor_set_refresh_interval(NULL, 10), -EINVAL);
}

/* --- the monitor on real links ------------------------------------------------------------ */

static void test_nic_monitor_initial_snapshot(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = NULL;
        const struct nic *lo, *v0, *v1, *vlan, *n;
        const struct nic_addr *a;
        int64_t t0 = now_msec();
        (void)state;

        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);
        print_message("nic_monitor_new: %lld ms\n", (long long)(now_msec() - t0));
        s = nic_monitor_snapshot(m);
        assert_non_null(s);
        assert_true(s->generation >= 1);
        assert_true(s->built_usec > 1500000000LL * 1000000);
        assert_int_equal(s->refs, 2); /* ours and the monitor's */

        for (size_t i = 1; i < s->n_nics; i++)
                assert_true(strcmp(s->nics[i - 1].name, s->nics[i].name) < 0);

        lo = nic_snapshot_find(s, "lo");
        assert_non_null(lo);
        assert_int_equal(lo->ifindex, 1);
        assert_string_equal(lo->kind, "");
        assert_true(lo->flags & IFF_LOOPBACK);
        assert_true(lo->flags & IFF_UP);
        assert_string_equal(lo->mac, "00:00:00:00:00:00");
        assert_int_equal(lo->parent_ifindex, 0);
        assert_int_equal(lo->vlan_id, -1);
        a = find_addr(lo, "127.0.0.1", 8);
        assert_non_null(a);
        assert_int_equal(a->family, AF_INET);
        assert_string_equal(a->scope, "host");
        a = find_addr(lo, "::1", 128);
        assert_non_null(a);
        assert_int_equal(a->family, AF_INET6);
        assert_string_equal(a->scope, "host");
        /* sysfs answers EINVAL for the speed and duplex of lo: unknown, not an error. */
        assert_int_equal(lo->speed_mbps, -1);
        assert_string_equal(lo->duplex, "unknown");
        assert_string_equal(lo->driver, "");

        v0 = nic_snapshot_find(s, "v0");
        v1 = nic_snapshot_find(s, "v1");
        assert_non_null(v0);
        assert_non_null(v1);
        assert_string_equal(v0->kind, "veth");
        assert_string_equal(v1->kind, "veth");
        assert_string_equal(v0->mac, "02:00:00:00:00:a0");
        assert_string_equal(v1->mac, "02:00:00:00:00:a1");
        assert_ptr_equal(nic_snapshot_find_mac(s, "02:00:00:00:00:A0"), v0);
        assert_int_equal(v0->mtu, 1500);
        assert_int_equal(v1->mtu, 1400);
        assert_int_equal(v0->parent_ifindex, v1->ifindex);
        assert_string_equal(v0->parent, "v1");
        assert_int_equal(v1->parent_ifindex, v0->ifindex);
        assert_string_equal(v1->parent, "v0");
        assert_int_equal(v0->vlan_id, -1);
        assert_true(v0->flags & IFF_UP);
        assert_string_equal(v0->operstate, "up");
        assert_int_equal(v0->carrier, 1);
        assert_true(v0->flags & IFF_LOWER_UP);

        a = find_addr(v0, "192.0.2.1", 24);
        assert_non_null(a);
        assert_int_equal(a->family, AF_INET);
        assert_string_equal(a->scope, "global");
        a = find_addr(v0, "2001:db8::1", 64);
        assert_non_null(a);
        assert_int_equal(a->family, AF_INET6);
        assert_string_equal(a->scope, "global");

        /* veth reports 10000 Mb/s full duplex on recent kernels; older ones answer EINVAL. */
        assert_true(v0->speed_mbps == 10000 || v0->speed_mbps == -1);
        assert_true(streq(v0->duplex, "full") || streq(v0->duplex, "unknown"));
        print_message("veth speed %d, duplex %s\n", v0->speed_mbps, v0->duplex);
        assert_string_equal(v0->driver, ""); /* virtual: no device/ link */
        assert_true(v0->rp_filter >= 0);

        if (have_vlan) {
                vlan = nic_snapshot_find(s, "v0.42");
                assert_non_null(vlan);
                assert_string_equal(vlan->kind, "vlan");
                assert_int_equal(vlan->vlan_id, 42);
                assert_int_equal(vlan->parent_ifindex, v0->ifindex);
                assert_string_equal(vlan->parent, "v0");
                assert_string_equal(vlan->mac, v0->mac);
                assert_int_equal(vlan->mtu, 1500);
        }
        if (have_macvlan) {
                n = nic_snapshot_find(s, "mv0");
                assert_non_null(n);
                assert_string_equal(n->kind, "macvlan");
                assert_int_equal(n->vlan_id, -1);
                assert_int_equal(n->parent_ifindex, v0->ifindex);
                assert_string_equal(n->parent, "v0");
                assert_int_equal(strlen(n->mac), 17);
                assert_string_not_equal(n->mac, v0->mac);
        }
        if (have_dummy) {
                n = nic_snapshot_find(s, "d0");
                assert_non_null(n);
                assert_string_equal(n->kind, "dummy");
                assert_int_equal(n->mtu, 9000);
                assert_int_equal(n->parent_ifindex, 0);
                assert_string_equal(n->parent, "");
        }
        if (have_bridge) {
                n = nic_snapshot_find(s, "br0");
                assert_non_null(n);
                assert_string_equal(n->kind, "bridge");
                /* A bridge port also has AF_BRIDGE link objects: still one NIC per link. */
                n = nic_snapshot_find(s, "b1");
                assert_non_null(n);
                assert_true(n->flags & IFF_UP);
                for (size_t i = 0; i < s->n_nics; i++)
                        for (size_t k = i + 1; k < s->n_nics; k++)
                                assert_int_not_equal(s->nics[i].ifindex, s->nics[k].ifindex);
        }
}

static void test_nic_monitor_changes(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        const struct {
                const char *cmd;
                struct expect e[3];
        } steps[] = {
                { "ip link add c0 address 02:00:00:00:00:c0 type veth peer name c1",
                  { EXPECT(.name = "c0", .up = UP_CLEAR, .parent = "c1"),
                    EXPECT(.name = "c1", .up = UP_CLEAR, .parent = "c0") } },
                { "ip link set c0 up", { EXPECT(.name = "c0", .up = UP_SET) } },
                { "ip link set c1 up",
                  { EXPECT(.name = "c0", .operstate = "up"),
                    EXPECT(.name = "c1", .operstate = "up") } },
                { "ip link set c0 down",
                  { EXPECT(.name = "c0", .up = UP_CLEAR, .operstate = "down") } },
                { "ip link set c0 up", { EXPECT(.name = "c0", .up = UP_SET, .operstate = "up") } },
                { "ip link set c0 mtu 1280", { EXPECT(.name = "c0", .mtu = 1280) } },
                { "ip addr add 198.51.100.7/25 dev c0",
                  { EXPECT(.name = "c0", .addr = "198.51.100.7/25") } },
                { "ip addr add 2001:db8:1::7/80 dev c0 nodad",
                  { EXPECT(.name = "c0", .addr = "2001:db8:1::7/80") } },
                { "ip addr del 198.51.100.7/25 dev c0",
                  { EXPECT(.name = "c0", .no_addr = "198.51.100.7/25",
                           .addr = "2001:db8:1::7/80") } },
                { "ip link set c1 down && ip link set c1 name c9",
                  { EXPECT(.name = "c1", .absent = true),
                    EXPECT(.name = "c9", .up = UP_CLEAR, .parent = "c0"),
                    EXPECT(.name = "c0", .parent = "c9") } },
                { "ip link set c0 address 02:00:00:00:00:cc",
                  { EXPECT(.name = "c0", .mac = "02:00:00:00:00:cc", .parent = "c9") } },
                { "ip link del c0",
                  { EXPECT(.name = "c0", .absent = true), EXPECT(.name = "c9", .absent = true) } },
        };
        int64_t worst = 0;
        (void)state;

        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                int64_t t0 = now_msec(), ms = 0;

                must(steps[i].cmd);
                for (size_t k = 0; k < ELEMENTSOF(steps[i].e) && steps[i].e[k].name; k++) {
                        ms = wait_for(m, &steps[i].e[k], t0, CHANGE_MSEC);
                        if (ms < 0)
                                fail_msg("'%s': %s not seen within %d ms", steps[i].cmd,
                                         steps[i].e[k].name, CHANGE_MSEC);
                }
                print_message("%-70s %3lld ms\n", steps[i].cmd, (long long)ms);
                if (ms > worst)
                        worst = ms;
        }
        print_message("slowest change (including the ip command): %lld ms\n", (long long)worst);
}

/* Bridges bring extra AF_BRIDGE link objects (and AF_INET6 ones come with every up link). */
static void test_nic_monitor_bridge_ports(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        const struct {
                const char *cmd;
                struct expect e[3];
        } steps[] = {
                { "ip link add br5 type bridge && ip link set br5 up",
                  { EXPECT(.name = "br5", .up = UP_SET) } },
                { "ip link add p0 type veth peer name p1 && ip link set p1 master br5"
                  " && ip link set p1 up && ip link set p0 up",
                  { EXPECT(.name = "p1", .up = UP_SET, .parent = "p0"),
                    EXPECT(.name = "p0", .up = UP_SET, .parent = "p1"),
                    EXPECT(.name = "br5", .operstate = "up") } },
                { "ip link set br5 mtu 1300", { EXPECT(.name = "br5", .mtu = 1300) } },
                { "ip link set p1 nomaster", { EXPECT(.name = "p1", .up = UP_SET) } },
                { "ip link del br5",
                  { EXPECT(.name = "br5", .absent = true), EXPECT(.name = "p1", .up = UP_SET) } },
                { "ip link del p0",
                  { EXPECT(.name = "p0", .absent = true), EXPECT(.name = "p1", .absent = true) } },
        };
        (void)state;

        if (!have_bridge)
                skip();

        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                int64_t t0 = now_msec();

                must(steps[i].cmd);
                for (size_t k = 0; k < ELEMENTSOF(steps[i].e) && steps[i].e[k].name; k++)
                        if (wait_for(m, &steps[i].e[k], t0, CHANGE_MSEC) < 0)
                                fail_msg("'%s': %s not seen within %d ms", steps[i].cmd,
                                         steps[i].e[k].name, CHANGE_MSEC);
        }
        {
                _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = nic_monitor_snapshot(m);
                const struct nic *br = nic_snapshot_find(s, "br0");

                /* Exactly one NIC per ifindex. */
                for (size_t i = 0; i < s->n_nics; i++)
                        for (size_t k = i + 1; k < s->n_nics; k++)
                                assert_int_not_equal(s->nics[i].ifindex, s->nics[k].ifindex);
                if (br)
                        assert_string_equal(br->kind, "bridge");
        }
}

static void test_nic_monitor_rename_keeps_ifindex(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *before = NULL, *after = NULL;
        const struct nic *n;
        int ifindex;
        (void)state;

        must("ip link add k0 type veth peer name k1");
        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);
        before = nic_monitor_snapshot(m);
        n = nic_snapshot_find(before, "k1");
        assert_non_null(n);
        ifindex = n->ifindex;

        must("ip link set k1 name k7");
        assert_true(wait_for(m, &EXPECT(.name = "k7"), now_msec(), CHANGE_MSEC) >= 0);
        after = nic_monitor_snapshot(m);
        assert_true(after->generation > before->generation);
        assert_null(nic_snapshot_find(after, "k1"));
        n = nic_snapshot_find(after, "k7");
        assert_non_null(n);
        assert_int_equal(n->ifindex, ifindex);
        /* The old snapshot is immutable and still valid. */
        assert_non_null(nic_snapshot_find(before, "k1"));
        assert_null(nic_snapshot_find(before, "k7"));
        must("ip link del k0");
}

static void test_nic_monitor_rp_filter(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        const char *conf = "/proc/sys/net/ipv4/conf";
        char path[PATH_MAX];
        int64_t t0, ms;
        (void)state;

        must("ip link add r0 type veth peer name r1");
        pathf(path, sizeof(path), "%s/all/rp_filter", conf);
        write_file(path, "0");
        pathf(path, sizeof(path), "%s/r0/rp_filter", conf);
        write_file(path, "0");

        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);
        assert_true(wait_for(m, &EXPECT(.name = "r0", .rp_check = true, .rp_filter = 0), now_msec(),
                             100) >= 0);
        assert_int_equal(nic_monitor_set_refresh_interval(m, 0), -EINVAL);
        assert_int_equal(nic_monitor_set_refresh_interval(m, 100), 0);

        /* No netlink event for these: the periodic refresh must pick them up. */
        t0 = now_msec();
        write_file(path, "2");
        ms = wait_for(m, &EXPECT(.name = "r0", .rp_check = true, .rp_filter = 2), t0, CHANGE_MSEC);
        assert_true(ms >= 0);
        print_message("conf/r0/rp_filter=2 seen after %lld ms (refresh 100 ms)\n", (long long)ms);

        /* Effective value: the larger of conf/all and conf/<name>. */
        write_file(path, "0");
        pathf(path, sizeof(path), "%s/all/rp_filter", conf);
        write_file(path, "1");
        assert_true(wait_for(m, &EXPECT(.name = "r0", .rp_check = true, .rp_filter = 1), now_msec(),
                             CHANGE_MSEC) >= 0);
        write_file(path, "0");
        assert_true(wait_for(m, &EXPECT(.name = "r0", .rp_check = true, .rp_filter = 0), now_msec(),
                             CHANGE_MSEC) >= 0);
        must("ip link del r0");
}

static void test_nic_monitor_wait_times_out(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        int r = 0;
        (void)state;

        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);

        /* Late events of earlier tests (IPv6, deletions) may still publish: wait for quiet. */
        for (int tries = 0; tries < 50; tries++) {
                _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = nic_monitor_snapshot(m);
                int64_t t0;

                assert_int_equal(nic_monitor_wait(m, s->generation - 1, 0), 0);
                t0 = now_msec();
                r = nic_monitor_wait(m, s->generation, 60);
                if (r == -ETIMEDOUT) {
                        assert_true(now_msec() - t0 >= 55);
                        break;
                }
                assert_int_equal(r, 0);
        }
        assert_int_equal(r, -ETIMEDOUT);
}

/* A burst of links: every one of them shows, batches stay consistent, nothing is lost. */
static void test_nic_monitor_burst(void **state)
{
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        char batch[] = "/tmp/test-nic-batch-XXXXXX";
        const int pairs = 200;
        FILE *f;
        int fd;
        int64_t t0, ms;
        (void)state;

        assert_int_equal(nic_monitor_new(sysfs_dir, "/proc", &m), 0);

        fd = mkstemp(batch);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        for (int i = 0; i < pairs; i++)
                fprintf(f, "link add bu%da type veth peer name bu%db\nlink set bu%da up\n", i, i,
                        i);
        assert_int_equal(fclose(f), 0);

        t0 = now_msec();
        if (sh("ip -batch %s", batch) != 0) {
                unlink(batch);
                fail_msg("ip -batch failed");
        }
        print_message("ip -batch (create) took %lld ms\n", (long long)(now_msec() - t0));
        ms = wait_for(m, &EXPECT(.name = "bu199b", .parent = "bu199a"), t0, 10000);
        assert_true(ms >= 0);
        ms = wait_for(m, &EXPECT(.name = "bu199a", .up = UP_SET), t0, 10000);
        assert_true(ms >= 0);
        print_message("%d veth pairs created and seen in %lld ms\n", pairs, (long long)ms);
        {
                _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = nic_monitor_snapshot(m);
                size_t count = 0;

                for (size_t i = 0; i < s->n_nics; i++)
                        if (strncmp(s->nics[i].name, "bu", 2) == 0)
                                count++;
                assert_int_equal(count, 2 * pairs);
        }

        f = fopen(batch, "w");
        assert_non_null(f);
        for (int i = 0; i < pairs; i++)
                fprintf(f, "link del bu%da\n", i);
        assert_int_equal(fclose(f), 0);
        t0 = now_msec();
        assert_int_equal(sh("ip -batch %s", batch), 0);
        print_message("ip -batch (delete) took %lld ms\n", (long long)(now_msec() - t0));
        unlink(batch);
        ms = wait_for(m, &EXPECT(.name = "bu199b", .absent = true), t0, 10000);
        assert_true(ms >= 0);
        {
                _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = nic_monitor_snapshot(m);

                for (size_t i = 0; i < s->n_nics; i++)
                        assert_true(strncmp(s->nics[i].name, "bu", 2) != 0);
        }
        print_message("%d veth pairs deleted and gone in %lld ms\n", pairs, (long long)ms);
}

/* --- sysfs and proc parsing on fixture trees ------------------------------------------------ */

struct fixture {
        char dir[PATH_MAX];
        char sysfs[PATH_MAX];
        char proc[PATH_MAX];
};

static int fixture_setup(void **state)
{
        const char *tmp = getenv("TMPDIR");
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "%s/test-nic-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        pathf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->dir);
        pathf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state)
{
        struct fixture *f = *state;

        rm_rf(f->dir);
        free(f);
        return 0;
}

static void mkdir_p(const char *path)
{
        char buf[PATH_MAX];

        pathf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        (void)mkdir(buf, 0755);
                        *p = '/';
                }
        (void)mkdir(buf, 0755);
}

#define IS_DIR "<dir>" /* make the attribute a directory: read() fails (EISDIR) */

/* One attribute: NULL leaves it missing. */
static void fixture_attr(const char *dir, const char *attr, const char *content)
{
        char path[PATH_MAX];

        if (!content)
                return;
        pathf(path, sizeof(path), "%s/%s", dir, attr);
        if (streq(content, IS_DIR))
                mkdir_p(path);
        else
                write_file(path, content);
}

static void test_nic_monitor_sysfs_fixture(void **state)
{
        struct fixture *f = *state;
        _cleanup_(nic_monitor_freep) struct nic_monitor *m = NULL;
        _cleanup_(nic_snapshot_unrefp) struct nic_snapshot *s = NULL;
        static const struct {
                const char *name;
                const char *speed, *duplex, *driver, *rp_filter;
                int want_speed;
                const char *want_duplex, *want_driver;
                int want_rp_filter;
        } cases[] = {
                { "gx0", "1000\n", "full\n", "../../../bus/pci/drivers/e1000e", "2\n", 1000, "full",
                  "e1000e", 2 },
                { "gx1", "garbage\n", "sideways\n", NULL, "0\n", -1, "unknown", "", 1 },
                { "gx2", "-1\n", "half\n", "ixgbe", "1", -1, "half", "ixgbe", 1 },
                { "gx3", "", NULL, NULL, NULL, -1, "unknown", "", -1 },
                { "gx4", IS_DIR, IS_DIR,
                  "../drivers/"
                  "abcdefghijabcdefghijabcdefghijabcdef",
                  "x\n", -1, "unknown", "", -1 },
                { "gx5", "99999999999999999999\n", "FULL\n", NULL, "-3\n", -1, "unknown", "", -1 },
                { "gx6", "12abc\n", "full", NULL, "2", -1, "full", "", 2 },
                { "gx7", " 100\n", "half\n\n", NULL, "", -1, "unknown", "", -1 },
        };
        char dir[PATH_MAX], path[PATH_MAX];
        int64_t t0;

        pathf(dir, sizeof(dir), "%s/sys/net/ipv4/conf/all", f->proc);
        mkdir_p(dir);
        fixture_attr(dir, "rp_filter", "1\n");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (i % 2 == 0)
                        assert_int_equal(sh("ip link add %s type veth peer name %s", cases[i].name,
                                            cases[i + 1].name),
                                         0);
                pathf(dir, sizeof(dir), "%s/class/net/%s", f->sysfs, cases[i].name);
                mkdir_p(dir);
                fixture_attr(dir, "speed", cases[i].speed);
                fixture_attr(dir, "duplex", cases[i].duplex);
                if (cases[i].driver) {
                        pathf(path, sizeof(path), "%s/device", dir);
                        mkdir_p(path);
                        pathf(path, sizeof(path), "%s/device/driver", dir);
                        assert_int_equal(symlink(cases[i].driver, path), 0);
                }
                pathf(dir, sizeof(dir), "%s/sys/net/ipv4/conf/%s", f->proc, cases[i].name);
                if (cases[i].rp_filter) {
                        mkdir_p(dir);
                        fixture_attr(dir, "rp_filter", cases[i].rp_filter);
                }
        }

        assert_int_equal(nic_monitor_new(f->sysfs, f->proc, &m), 0);
        s = nic_monitor_snapshot(m);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct nic *n = nic_snapshot_find(s, cases[i].name);

                print_message("%s: speed %d duplex '%s' driver '%s' rp_filter %d\n", cases[i].name,
                              n ? n->speed_mbps : 0, n ? n->duplex : "", n ? n->driver : "",
                              n ? n->rp_filter : 0);
                assert_non_null(n);
                assert_int_equal(n->speed_mbps, cases[i].want_speed);
                assert_string_equal(n->duplex, cases[i].want_duplex);
                assert_string_equal(n->driver, cases[i].want_driver);
                assert_int_equal(n->rp_filter, cases[i].want_rp_filter);
        }
        /* lo has no fixture directory at all: everything unknown. */
        assert_int_equal(nic_snapshot_find(s, "lo")->speed_mbps, -1);
        assert_string_equal(nic_snapshot_find(s, "lo")->duplex, "unknown");
        assert_int_equal(nic_snapshot_find(s, "lo")->rp_filter, -1);

        /*
         * sysfs values are cached per link and re-read only when netlink reports a change of
         * that link: an event on gx0 refreshes gx0, not gx1.
         */
        pathf(path, sizeof(path), "%s/class/net/gx0/speed", f->sysfs);
        write_file(path, "25000\n");
        pathf(path, sizeof(path), "%s/class/net/gx1/speed", f->sysfs);
        write_file(path, "40000\n");
        t0 = now_msec();
        must("ip link set gx0 mtu 1400");
        assert_true(wait_for(m, &EXPECT(.name = "gx0", .mtu = 1400), t0, CHANGE_MSEC) >= 0);
        nic_snapshot_unref(s);
        s = nic_monitor_snapshot(m);
        assert_int_equal(nic_snapshot_find(s, "gx0")->speed_mbps, 25000);
        assert_int_equal(nic_snapshot_find(s, "gx1")->speed_mbps, -1);

        for (size_t i = 0; i < ELEMENTSOF(cases); i += 2)
                assert_int_equal(sh("ip link del %s", cases[i].name), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nic_flags_names),
                cmocka_unit_test(test_nic_snapshot_find),
                cmocka_unit_test(test_nic_monitor_invalid_args),
                cmocka_unit_test(test_nic_monitor_initial_snapshot),
                cmocka_unit_test(test_nic_monitor_changes),
                cmocka_unit_test(test_nic_monitor_bridge_ports),
                cmocka_unit_test(test_nic_monitor_rename_keeps_ifindex),
                cmocka_unit_test(test_nic_monitor_rp_filter),
                cmocka_unit_test(test_nic_monitor_wait_times_out),
                cmocka_unit_test(test_nic_monitor_burst),
                cmocka_unit_test_setup_teardown(test_nic_monitor_sysfs_fixture, fixture_setup,
                                                fixture_teardown),
        };
        const char *tmp = getenv("TMPDIR");
        int r;

        if (getenv("TEST_NIC_DEBUG"))
                log_set_level(LOG_DEBUG); /* shows the monitor's resyncs */
        if (geteuid() != 0) {
                fprintf(stderr, "test-nic: needs root (network namespaces), skipping\n");
                return 77;
        }

        /*
         * Everything below lives in a private network namespace (the kernel deletes its links
         * when we exit, even after a failure) and a private mount namespace, where a fresh
         * sysfs shows this namespace's class/net.
         */
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
                fprintf(stderr, "test-nic: unshare: %s, skipping\n", strerror(errno));
                return 77;
        }
        /* The kernel ignores the type with these flags; valgrind wants a string. */
        if (mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "test-nic: cannot make / private: %s\n", strerror(errno));
                return 99;
        }
        snprintf(sysfs_dir, sizeof(sysfs_dir), "%s/test-nic-sysfs-XXXXXX",
                 isempty(tmp) ? "/tmp" : tmp);
        if (!mkdtemp(sysfs_dir)) {
                fprintf(stderr, "test-nic: mkdtemp: %s\n", strerror(errno));
                return 99;
        }
        if (mount("sysfs", sysfs_dir, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                fprintf(stderr, "test-nic: mount sysfs: %s\n", strerror(errno));
                (void)rmdir(sysfs_dir);
                return 99;
        }

        if (sh("ip link set lo up") != 0) {
                fprintf(stderr, "test-nic: 'ip' (iproute2) does not work here, skipping\n");
                r = 77;
                goto out;
        }
        if (sh("ip link add v0 address 02:00:00:00:00:a0 type veth"
               " peer name v1 address 02:00:00:00:00:a1 mtu 1400"
               " && ip addr add 192.0.2.1/24 dev v0"
               " && ip addr add 2001:db8::1/64 dev v0 nodad"
               " && ip link set v1 up && ip link set v0 up") != 0) {
                fprintf(stderr, "test-nic: cannot create veth links\n");
                r = 99;
                goto out;
        }

        /* Optional link kinds: each part is skipped when this kernel lacks the driver. */
        have_vlan = sh("ip link add link v0 name v0.42 type vlan id 42 2>/dev/null"
                       " && ip link set v0.42 up") == 0;
        have_macvlan = sh("ip link add link v0 name mv0 type macvlan mode bridge 2>/dev/null") == 0;
        have_dummy = sh("ip link add d0 mtu 9000 type dummy 2>/dev/null") == 0;
        have_bridge = sh("ip link add br0 type bridge 2>/dev/null") == 0 &&
                      sh("ip link add b0 type veth peer name b1 && ip link set b1 master br0"
                         " && ip link set br0 up && ip link set b1 up") == 0;
        fprintf(stderr, "test-nic: kernel link kinds: vlan %s, macvlan %s, dummy %s, bridge %s\n",
                have_vlan ? "yes" : "NO (skipped)", have_macvlan ? "yes" : "NO (skipped)",
                have_dummy ? "yes" : "NO (skipped)", have_bridge ? "yes" : "NO (skipped)");

        r = cmocka_run_group_tests(tests, NULL, NULL);
out:
        (void)umount2(sysfs_dir, MNT_DETACH);
        (void)rmdir(sysfs_dir);
        return r;
}
