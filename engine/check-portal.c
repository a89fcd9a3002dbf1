/* SPDX-License-Identifier: MIT */
/* Portal addresses of the checks: "IPv4[:port]", "[IPv6]:port", bare IPv6, parsed and formatted. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check-internal.h"

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
                if (!strchr(host, ':'))
                        return -EINVAL; /* brackets are for IPv6 only (RFC 3986 3.2.2) */
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
