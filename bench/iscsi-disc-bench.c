/* SPDX-License-Identifier: MIT */
/*
 * The baseline of bench/checks.sh: SendTargets discovery with libiscsi in-process, bound to one
 * NIC, the way any initiator would do it. Each iteration, timed whole:
 *
 *   create context, bind (iscsi_set_bind_interfaces), discovery session: connect + login +
 *   SendTargets (iscsi_discovery_sync) + logout, disconnect, destroy context
 *
 *   iscsi-disc-bench PORTAL IFACE N [INITIATOR_IQN]
 *
 * Prints one "key=value ..." line: median, p90, min and max in ms, the number of targets the
 * last discovery returned, and the device and local address the first connection really used
 * (read back from the socket: libiscsi only logs a failed SO_BINDTODEVICE and connects unbound).
 * With BENCH_SAMPLES=FILE in the environment it also appends every sample (ms, one a line) to
 * FILE. Exit 0, 1 when an iteration failed, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <iscsi/iscsi.h>

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* With BENCH_SAMPLES=FILE in the environment, appends every sample (ms, one a line) to FILE. */
static void save_samples(const double *lat, long n)
{
        const char *path = getenv("BENCH_SAMPLES");
        FILE *f = path && path[0] ? fopen(path, "a") : NULL;

        if (!f)
                return;
        for (long i = 0; i < n; i++)
                fprintf(f, "%.6f\n", lat[i] * 1e3);
        fclose(f);
}

/* The device the socket is bound to and its local address. */
static void read_back(struct iscsi_context *ctx, char *dev, size_t dlen, char *addr, size_t alen)
{
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        socklen_t dl = (socklen_t)dlen;
        int fd = iscsi_get_fd(ctx);

        snprintf(dev, dlen, "-");
        snprintf(addr, alen, "-");
        if (fd < 0)
                return;
        if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) < 0 || dl == 0 || !dev[0])
                snprintf(dev, dlen, "none");
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
                return;
        if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, (socklen_t)alen);
        else if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
                          (socklen_t)alen);
}

/* One discovery; returns the number of targets, -1 on failure (message on stderr). */
static int discover(const char *portal, const char *iface, const char *iqn, int first, char *dev,
                    size_t dlen, char *addr, size_t alen)
{
        struct iscsi_context *ctx = iscsi_create_context(iqn);
        struct iscsi_discovery_address *da, *p;
        char ifs[IF_NAMESIZE + 1];
        int n = 0;

        if (!ctx) {
                fprintf(stderr, "iscsi_create_context failed\n");
                return -1;
        }
        snprintf(ifs, sizeof(ifs), "%s", iface);
        iscsi_set_bind_interfaces(ctx, ifs);
        iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
        iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
        if (iscsi_connect_sync(ctx, portal) != 0) {
                fprintf(stderr, "connect %s: %s\n", portal, iscsi_get_error(ctx));
                goto fail;
        }
        if (first)
                read_back(ctx, dev, dlen, addr, alen);
        if (iscsi_login_sync(ctx) != 0) {
                fprintf(stderr, "discovery login %s: %s\n", portal, iscsi_get_error(ctx));
                goto fail;
        }
        da = iscsi_discovery_sync(ctx);
        if (!da) {
                fprintf(stderr, "SendTargets %s: %s\n", portal, iscsi_get_error(ctx));
                goto fail;
        }
        for (p = da; p; p = p->next)
                n++;
        iscsi_free_discovery_data(ctx, da);
        if (iscsi_logout_sync(ctx) != 0) {
                fprintf(stderr, "logout %s: %s\n", portal, iscsi_get_error(ctx));
                goto fail;
        }
        iscsi_disconnect(ctx);
        iscsi_destroy_context(ctx);
        return n;
fail:
        iscsi_destroy_context(ctx);
        return -1;
}

int main(int argc, char **argv)
{
        const char *iqn = "iqn.2024-01.test.iscsi-ifaced:bench";
        char dev[IF_NAMESIZE + 1] = "-", addr[INET6_ADDRSTRLEN] = "-";
        double *lat;
        long n;
        int targets = 0;

        if (argc < 4 || argc > 5 || (n = atol(argv[3])) < 1) {
                fprintf(stderr, "usage: iscsi-disc-bench PORTAL IFACE N [INITIATOR_IQN]\n");
                return 2;
        }
        if (argc == 5)
                iqn = argv[4];
        lat = calloc((size_t)n, sizeof(double));
        if (!lat)
                return 1;
        for (long i = 0; i < n; i++) {
                double t = now_s();

                targets = discover(argv[1], argv[2], iqn, i == 0, dev, sizeof(dev), addr,
                                   sizeof(addr));
                if (targets < 0) {
                        fprintf(stderr, "iteration %ld failed\n", i);
                        free(lat);
                        return 1;
                }
                lat[i] = now_s() - t;
        }
        save_samples(lat, n);
        qsort(lat, (size_t)n, sizeof(double), cmp_double);
        printf("op=disc portal=%s iface=%s n=%ld targets=%d p50_ms=%.3f p90_ms=%.3f min_ms=%.3f "
               "max_ms=%.3f device=%s source=%s\n",
               argv[1], argv[2], n, targets, lat[n / 2] * 1e3, lat[n * 9 / 10] * 1e3, lat[0] * 1e3,
               lat[n - 1] * 1e3, dev, addr);
        free(lat);
        return 0;
}
