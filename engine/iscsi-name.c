/* SPDX-License-Identifier: MIT */
/* iSCSI names and TargetAddress values from untrusted sources (iscsi-name.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "iscsi-name.h"
#include "macro.h"

#define fail(...) iface_error_set(__VA_ARGS__)

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alnum(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool all_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_hex(s[i]))
                        return false;
        return true;
}

/* "YYYY-MM." then a reversed domain name, then nothing or ':' and the rest. */
static int check_iqn(const char *name, const char *field, struct iface_error *err)
{
        const char *p = name + 4, *colon;
        int month;

        if (!(is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && p[4] == '-' &&
              is_digit(p[5]) && is_digit(p[6]) && p[7] == '.'))
                return fail(err, -EINVAL, field,
                            "an iqn name goes on with the year and month the naming authority "
                            "owned its domain, as iqn.YYYY-MM.<reversed domain>");
        month = (p[5] - '0') * 10 + (p[6] - '0');
        if (month < 1 || month > 12)
                return fail(err, -EINVAL, field, "month %02d of an iqn name is not 01 to 12",
                            month);
        p += 8;
        colon = strchr(p, ':');
        if (colon == p || !*p)
                return fail(err, -EINVAL, field,
                            "the naming authority of an iqn name must be a reversed domain name "
                            "(labels joined by single dots)");
        /* the naming authority: labels of letters, digits and '-', joined by single dots */
        for (const char *q = p, *end = colon ? colon : p + strlen(p); q < end;) {
                const char *label = q;

                while (q < end && (is_alnum(*q) || *q == '-'))
                        q++;
                if (q == label)
                        return fail(err, -EINVAL, field,
                                    "the naming authority of an iqn name must be a reversed "
                                    "domain name (labels joined by single dots)");
                if (q < end && *q++ != '.')
                        return fail(err, -EINVAL, field,
                                    "the naming authority of an iqn name holds '%c'", q[-1]);
                if (q == end && end[-1] == '.')
                        return fail(err, -EINVAL, field,
                                    "the naming authority of an iqn name ends with a dot");
        }
        if (colon && !colon[1])
                return fail(err, -EINVAL, field, "an iqn name does not end with ':'");
        return 0;
}

int iscsi_name_validate(const char *name, const char *field, struct iface_error *err)
{
        size_t n;

        if (!name || !*name)
                return fail(err, -EINVAL, field, "is empty");
        n = strnlen(name, ISCSI_NAME_MAX + 1);
        if (n > ISCSI_NAME_MAX)
                return fail(err, -EINVAL, field, "is longer than %d bytes", ISCSI_NAME_MAX);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)name[i];

                if (is_alnum((char)c) || c == '.' || c == ':' || c == '-' || c == '_')
                        continue;
                if (c < 0x20 || c >= 0x7f)
                        return fail(err, -EINVAL, field,
                                    "holds a control character or a byte that is not ASCII at "
                                    "offset %zu",
                                    i);
                return fail(err, -EINVAL, field,
                            "holds '%c' at offset %zu: an iSCSI name is letters, digits, '.', "
                            "':', '-' and '_'",
                            (int)c, i);
        }
        if (strstr(name, ".."))
                return fail(err, -EINVAL, field, "holds '..'");

        if (strncmp(name, "iqn.", 4) == 0)
                return check_iqn(name, field, err);
        if (strncmp(name, "eui.", 4) == 0) {
                if (n != 4 + 16 || !all_hex(name + 4, 16))
                        return fail(err, -EINVAL, field,
                                    "an eui name is 'eui.' and 16 hexadecimal digits");
                return 0;
        }
        if (strncmp(name, "naa.", 4) == 0) {
                if ((n != 4 + 16 && n != 4 + 32) || !all_hex(name + 4, n - 4))
                        return fail(err, -EINVAL, field,
                                    "a naa name is 'naa.' and 16 or 32 hexadecimal digits");
                return 0;
        }
        return fail(err, -EINVAL, field, "is not an iSCSI name: it starts with iqn., eui. or naa.");
}

static int parse_u16(const char *s, size_t n, unsigned min, uint16_t *ret)
{
        unsigned v = 0;

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!is_digit(s[i]))
                        return -EINVAL;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (v < min || v > 65535)
                return -ERANGE;
        *ret = (uint16_t)v;
        return 0;
}

int iscsi_target_address_parse(const char *s, const char *field, struct iscsi_portal *ret,
                               struct iface_error *err)
{
        const char *comma, *host, *host_end, *port = NULL;
        char addr[64];
        size_t n;
        uint16_t v;

        if (!s || !*s)
                return fail(err, -EINVAL, field, "is empty");
        n = strnlen(s, 128);
        if (n >= 128)
                return fail(err, -EINVAL, field, "is too long for an address, port and tpgt");
        *ret = (struct iscsi_portal){ .port = 3260, .tpgt = -1 };

        comma = strrchr(s, ',');
        if (comma) {
                if (parse_u16(comma + 1, strlen(comma + 1), 0, &v) < 0)
                        return fail(err, -EINVAL, field,
                                    "the portal group tag after ',' must be 0 to 65535");
                ret->tpgt = v;
        } else
                comma = s + n;

        if (s[0] == '[') {
                host = s + 1;
                host_end = memchr(host, ']', (size_t)(comma - host));
                if (!host_end)
                        return fail(err, -EINVAL, field, "an IPv6 address lacks its ']'");
                if (host_end + 1 < comma) {
                        if (host_end[1] != ':')
                                return fail(err, -EINVAL, field, "']' must be followed by ':'");
                        port = host_end + 2;
                }
        } else {
                host = s;
                host_end = memchr(s, ':', (size_t)(comma - s));
                if (host_end)
                        port = host_end + 1;
                else
                        host_end = comma;
        }
        if (port && parse_u16(port, (size_t)(comma - port), 1, &ret->port) < 0)
                return fail(err, -EINVAL, field, "the port must be 1 to 65535");
        if (host_end == host || (size_t)(host_end - host) >= sizeof(addr))
                return fail(err, -EINVAL, field, "has no address");
        memcpy(addr, host, (size_t)(host_end - host));
        addr[host_end - host] = '\0';

        if (s[0] == '[') {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ret->addr;

                if (inet_pton(AF_INET6, addr, &a6->sin6_addr) != 1)
                        return fail(err, -EINVAL, field, "'%.46s' is not an IPv6 address", addr);
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons(ret->port);
        } else {
                struct sockaddr_in *a4 = (struct sockaddr_in *)&ret->addr;

                if (inet_pton(AF_INET, addr, &a4->sin_addr) != 1)
                        return fail(err, -EINVAL, field,
                                    "'%.46s' is not an IPv4 address (host names are not resolved; "
                                    "an IPv6 address goes in brackets)",
                                    addr);
                a4->sin_family = AF_INET;
                a4->sin_port = htons(ret->port);
        }
        /* the canonical text form, as it will appear in paths */
        if (!inet_ntop(ret->addr.ss_family,
                       ret->addr.ss_family == AF_INET ?
                               (const void *)&((struct sockaddr_in *)&ret->addr)->sin_addr :
                               (const void *)&((struct sockaddr_in6 *)&ret->addr)->sin6_addr,
                       ret->address, sizeof(ret->address)))
                return fail(err, -EINVAL, field, "cannot be printed back");
        return 0;
}
