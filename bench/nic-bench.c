/* SPDX-License-Identifier: MIT */
/*
 * In-process figures of the NIC inventory for bench/nics.sh, run inside the bench's network
 * namespace: snapshot access, how fast a link change shows in a snapshot, and `ip -j addr` as
 * the baseline, medians printed as "key=value" lines.
 *
 *   nic-bench [-v] [-s SYSFS] [-p PROC] [-x PREFIX] [-w WALKS] [-c CHANGES] [-b BASELINE_RUNS]
 *
 * Links whose names start with PREFIX (default "nb") and that are up are taken down and up
 * again, CHANGES times in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nic.h"

extern char **environ;

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Start argv with stdout to out_fd (or inherited when -1); returns the pid or -1. */
static pid_t spawn(char *const argv[], int out_fd)
{
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int r;

        posix_spawn_file_actions_init(&fa);
        if (out_fd >= 0)
                posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                fprintf(stderr, "nic-bench: cannot run %s: %s\n", argv[0], strerror(r));
                return -1;
        }
        return pid;
}

static int reap(pid_t pid)
{
        int st;

        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Wait until name is (up) or is not (!up) IFF_UP in a published snapshot; ms, or -1. */
static double wait_flag(struct nic_monitor *m, const char *name, bool up, double t0,
                        unsigned timeout_ms)
{
        for (;;) {
                struct nic_snapshot *s = nic_monitor_snapshot(m);
                const struct nic *n = nic_snapshot_find(s, name);
                uint64_t gen = s->generation;
                bool ok = n && !!(n->flags & IFF_UP) == up;
                double left;

                nic_snapshot_unref(s);
                if (ok)
                        return now_ms() - t0;
                left = t0 + timeout_ms - now_ms();
                if (left <= 0)
                        return -1;
                (void)nic_monitor_wait(m, gen, (unsigned)left + 1);
        }
}

/* Until no snapshot was published for quiet_ms (IPv6 DAD and friends settle after creation). */
static void wait_quiet(struct nic_monitor *m, unsigned quiet_ms, unsigned max_ms)
{
        double t0 = now_ms();

        while (now_ms() - t0 < max_ms) {
                struct nic_snapshot *s = nic_monitor_snapshot(m);
                uint64_t gen = s->generation;

                nic_snapshot_unref(s);
                if (nic_monitor_wait(m, gen, quiet_ms) == -ETIMEDOUT)
                        return;
        }
}

static int set_flags_ioctl(int fd, const char *name, bool up)
{
        struct ifreq ifr = { 0 };

        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        if (up)
                ifr.ifr_flags |= IFF_UP;
        else
                ifr.ifr_flags &= ~IFF_UP;
        return ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
        const char *sysfs = "/sys", *proc = "/proc", *prefix = "nb";
        long walks = 1000, changes = 50, base_runs = 10;
        struct nic_monitor *m = NULL;
        struct nic_snapshot *s;
        char(*names)[NIC_NAME_MAX] = NULL;
        size_t n_names = 0, n_nics, n_addrs = 0;
        double *v, t0, new_ms, walk_us, ip_lat, ip_proc, ioctl_lat, base_ms;
        size_t base_bytes = 0;
        uint64_t sum = 0; /* printed, so the walk is not optimised away */
        int opt, r, sock;

        while ((opt = getopt(argc, argv, "s:p:x:w:c:b:v")) >= 0)
                switch (opt) {
                case 's':
                        sysfs = optarg;
                        break;
                case 'p':
                        proc = optarg;
                        break;
                case 'x':
                        prefix = optarg;
                        break;
                case 'w':
                        walks = strtol(optarg, NULL, 10);
                        break;
                case 'c':
                        changes = strtol(optarg, NULL, 10);
                        break;
                case 'b':
                        base_runs = strtol(optarg, NULL, 10);
                        break;
                case 'v':
                        log_set_level(LOG_DEBUG); /* the monitor's build times and resyncs */
                        break;
                default:
                        fprintf(stderr, "usage: see the comment at the top of bench/nic-bench.c\n");
                        return 2;
                }
        if (walks < 1 || changes < 1 || base_runs < 1)
                return 2;

        v = calloc((size_t)(walks > changes ? walks : changes) + base_runs, sizeof(double));
        if (!v)
                return 1;

        /* Start: one dump of links and addresses, sysfs/proc read for every link. */
        t0 = now_ms();
        r = nic_monitor_new(sysfs, proc, &m);
        new_ms = now_ms() - t0;
        if (r < 0) {
                fprintf(stderr, "nic-bench: nic_monitor_new: %s\n", strerror(-r));
                return 1;
        }
        wait_quiet(m, 500, 20000);

        s = nic_monitor_snapshot(m);
        n_nics = s->n_nics;
        names = calloc(n_nics ? n_nics : 1, sizeof(*names));
        if (!names)
                return 1;
        for (size_t i = 0; i < s->n_nics; i++) {
                n_addrs += s->nics[i].n_addrs;
                if (strncmp(s->nics[i].name, prefix, strlen(prefix)) == 0 &&
                    (s->nics[i].flags & IFF_UP))
                        memcpy(names[n_names++], s->nics[i].name, NIC_NAME_MAX);
        }
        nic_snapshot_unref(s);
        printf("op=start nics=%zu addrs=%zu candidates=%zu nic_monitor_new_ms=%.2f\n", n_nics,
               n_addrs, n_names, new_ms);
        if (n_names == 0) {
                fprintf(stderr, "nic-bench: no up link named %s*\n", prefix);
                return 1;
        }

        /* (a) What a reader (the GET /api/v1/nics handler) pays: take a snapshot and walk it. */
        for (long i = 0; i < walks; i++) {
                t0 = now_ms();
                s = nic_monitor_snapshot(m);
                for (size_t k = 0; k < s->n_nics; k++) {
                        const struct nic *n = &s->nics[k];

                        sum += (uint64_t)n->ifindex + n->mtu + n->flags + (uint8_t)n->name[0] +
                               (uint8_t)n->mac[0] + (uint64_t)n->speed_mbps;
                        for (size_t a = 0; a < n->n_addrs; a++)
                                sum += n->addrs[a].prefixlen + (uint8_t)n->addrs[a].address[0];
                }
                nic_snapshot_unref(s);
                v[i] = (now_ms() - t0) * 1e3;
        }
        walk_us = median(v, (size_t)walks);
        printf("op=walk nics=%zu walks=%ld p50_us=%.2f checksum=%llu\n", n_nics, walks, walk_us,
               (unsigned long long)sum);

        /*
         * (b) `ip link set X down` exec'd here, until a snapshot shows X down. The `ip link set X
         * up` that restores it is timed alone (spawn to exit): what the process start costs.
         */
        {
                double *ip_ms = calloc((size_t)changes, sizeof(double));

                if (!ip_ms)
                        return 1;
                for (long i = 0; i < changes; i++) {
                        const char *x = names[(size_t)i % n_names];
                        char *down[] = { "ip", "link", "set", (char *)x, "down", NULL };
                        char *up[] = { "ip", "link", "set", (char *)x, "up", NULL };
                        pid_t pid;

                        t0 = now_ms();
                        pid = spawn(down, -1);
                        if (pid < 0)
                                return 1;
                        v[i] = wait_flag(m, x, false, t0, 5000);
                        if (reap(pid) != 0 || v[i] < 0) {
                                fprintf(stderr, "nic-bench: %s down not seen\n", x);
                                return 1;
                        }

                        t0 = now_ms();
                        pid = spawn(up, -1);
                        if (pid < 0 || reap(pid) != 0)
                                return 1;
                        ip_ms[i] = now_ms() - t0;
                        if (wait_flag(m, x, true, t0, 5000) < 0)
                                return 1;
                }
                ip_lat = median(v, (size_t)changes);
                ip_proc = median(ip_ms, (size_t)changes);
                free(ip_ms);
                printf("op=change-ip changes=%ld p50_ms=%.3f ip_process_p50_ms=%.3f\n", changes,
                       ip_lat, ip_proc);
        }

        /* (b') The same change by ioctl, without a process start: the monitor's own latency. */
        wait_quiet(m, 500, 20000);
        sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return 1;
        for (long i = 0; i < changes; i++) {
                const char *x = names[(size_t)i % n_names];

                t0 = now_ms();
                if (set_flags_ioctl(sock, x, false) < 0)
                        return 1;
                v[i] = wait_flag(m, x, false, t0, 5000);
                if (v[i] < 0 || set_flags_ioctl(sock, x, true) < 0 ||
                    wait_flag(m, x, true, now_ms(), 5000) < 0)
                        return 1;
        }
        close(sock);
        ioctl_lat = median(v, (size_t)changes);
        printf("op=change-ioctl changes=%ld p50_ms=%.3f\n", changes, ioctl_lat);

        /* (c) The baseline: what a script would run to get the same list, output read whole. */
        wait_quiet(m, 500, 20000); /* IPv6 re-adds link-local addresses after the flaps */
        for (long i = 0; i < base_runs; i++) {
                char *argv_ip[] = { "ip", "-j", "addr", NULL };
                char buf[65536];
                size_t bytes = 0;
                int p[2];
                ssize_t k;
                pid_t pid;

                if (pipe2(p, O_CLOEXEC) < 0)
                        return 1;
                t0 = now_ms();
                pid = spawn(argv_ip, p[1]);
                close(p[1]);
                if (pid < 0)
                        return 1;
                while ((k = read(p[0], buf, sizeof(buf))) > 0 || (k < 0 && errno == EINTR))
                        bytes += k > 0 ? (size_t)k : 0;
                close(p[0]);
                if (reap(pid) != 0)
                        return 1;
                v[i] = now_ms() - t0;
                base_bytes = bytes;
        }
        base_ms = median(v, (size_t)base_runs);
        printf("op=baseline cmd=ip_-j_addr runs=%ld bytes=%zu p50_ms=%.3f\n", base_runs, base_bytes,
               base_ms);

        printf("ratio ip_-j_addr/walk=%.0f ip_-j_addr/change-ip=%.2f\n", base_ms * 1e3 / walk_us,
               base_ms / ip_lat);

        nic_monitor_free(m);
        free(names);
        free(v);
        return 0;
}
