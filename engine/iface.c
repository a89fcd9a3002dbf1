/* SPDX-License-Identifier: MIT */
/*
 * The open-iscsi 2.1.8 iface record: the field table, the validation rules of SPEC.md §6, and
 * the codec for the files iscsiadm writes and the text it prints. Pure functions, no I/O, no
 * mutable static state, so every function is safe to call from several threads at once.
 *
 * Why one file of some 1,200 lines: the field table drives the validation, the parser and the
 * renderer alike; split, the three would each need the table's private details, and the golden
 * tests (tests/unit/test-golden.c) exercise them as one codec.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iface.h"
#include "macro.h"

#define KEY_PREFIX     "iface."
#define KEY_PREFIX_LEN (sizeof(KEY_PREFIX) - 1)
#define UNSET_VALUE    "<empty>" /* what iscsiadm prints for an empty string */
#define LINE_MAX_CHARS 2047      /* libopeniscsiusr reads lines into char[2048] */
#define NAME_CHARS     "A-Z a-z 0-9 _ . : -"

/*
 * Order and buffer sizes: open-iscsi 2.1.8 usr/idbm.c (idbm_recinfo_iface) and usr/config.h.
 * maxlen is the C buffer minus its NUL; everything iscsiadm keeps in char[80] gets 79.
 */
const struct iface_field iface_fields[IFACE_N_FIELDS] = {
        { "iscsi_ifacename", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_NAME, IFACE_NAME_MAX },
        { "net_ifacename", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_NETDEV, 15 },
        { "ipaddress", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_IPADDR, 1024 },
        { "prefix_len", IFACE_FT_U8, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "hwaddress", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_MAC, 17 },
        { "transport_name", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_TRANSPORT, 15 },
        { "initiatorname", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_INAME, 255 },
        { "state", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "vlan_id", IFACE_FT_U16, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "vlan_priority", IFACE_FT_U8, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "vlan_state", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "iface_num", IFACE_FT_INT, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "mtu", IFACE_FT_U16, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "port", IFACE_FT_U16, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },

        { "bootproto", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_BOOTPROTO, 79 },
        { "subnet_mask", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_IPV4, 1024 },
        { "gateway", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_IPV4, 1024 },
        { "dhcp_alt_client_id_state", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "dhcp_alt_client_id", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_TEXT, 79 },
        { "dhcp_dns", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "dhcp_learn_iqn", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "dhcp_req_vendor_id_state", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "dhcp_vendor_id_state", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "dhcp_vendor_id", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_TEXT, 79 },
        { "dhcp_slp_da", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "fragmentation", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "gratuitous_arp", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "incoming_forwarding", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "tos_state", IFACE_FT_STR, IFACE_FB_IPV4, IFACE_CK_ENABLE, 79 },
        { "tos", IFACE_FT_U8, IFACE_FB_IPV4, IFACE_CK_NUMBER, 0 },
        { "ttl", IFACE_FT_U8, IFACE_FB_IPV4, IFACE_CK_NUMBER, 0 },

        { "ipv6_autocfg", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_IPV6_AUTOCFG, 1024 },
        { "linklocal_autocfg", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_AUTO, 1024 },
        { "router_autocfg", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_ROUTER, 1024 },
        { "ipv6_linklocal", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_IPV6, 1024 },
        { "ipv6_router", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_IPV6, 1024 },
        { "dup_addr_detect_cnt", IFACE_FT_U8, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "flow_label", IFACE_FT_U32, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "gratuitous_neighbor_adv", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_ENABLE, 79 },
        { "hop_limit", IFACE_FT_U8, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "mld", IFACE_FT_STR, IFACE_FB_IPV6, IFACE_CK_ENABLE, 79 },
        { "nd_reachable_tmo", IFACE_FT_U32, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "nd_rexmit_time", IFACE_FT_U32, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "nd_stale_tmo", IFACE_FT_U32, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "router_adv_link_mtu", IFACE_FT_U32, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },
        { "traffic_class", IFACE_FT_U8, IFACE_FB_IPV6, IFACE_CK_NUMBER, 0 },

        { "delayed_ack", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "tcp_nagle", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "tcp_wsf_state", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "tcp_wsf", IFACE_FT_U8, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "tcp_timer_scale", IFACE_FT_U8, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "tcp_timestamp", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "redirect", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "def_task_mgmt_timeout", IFACE_FT_U16, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "header_digest", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "data_digest", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "immediate_data", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "initial_r2t", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "data_seq_inorder", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "data_pdu_inorder", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "erl", IFACE_FT_U8, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "max_receive_data_len", IFACE_FT_U32, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "first_burst_len", IFACE_FT_U32, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "max_outstanding_r2t", IFACE_FT_U16, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "max_burst_len", IFACE_FT_U32, IFACE_FB_COMMON, IFACE_CK_NUMBER, 0 },
        { "chap_auth", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "bidi_chap", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "strict_login_compliance", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "discovery_auth", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
        { "discovery_logout", IFACE_FT_STR, IFACE_FB_COMMON, IFACE_CK_ENABLE, 79 },
};

_Static_assert(ELEMENTSOF(iface_fields) == IFACE_N_FIELDS, "iface_fields[] must have 70 keys");

/* Defined in usr/idbm_fields.h but refused by iscsiadm ("Invalid param name", golden F18). */
static const char *const dead_keys[] = {
        "isid",
        "primary_dns",
        "secondary_dns",
        "ignore_icmp_echo_request",
};

/* The transport templates of usr/transport.c. */
static const char *const transports[] = {
        "tcp", "iser", "cxgb3i", "cxgb4i", "bnx2i", "qla4xxx", "be2iscsi", "ocs", "qedi",
};

enum binding_kind {
        BINDING_NONE,
        BINDING_HWADDRESS,
        BINDING_NETDEV,
};

int iface_error_set(struct iface_error *err, int r, const char *field, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return r;

        err->field = field;
        va_start(ap, fmt);
        (void)vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
        return r;
}

#define fail(...) iface_error_set(__VA_ARGS__)

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static const char *strip_prefix(const char *key)
{
        if (strncmp(key, KEY_PREFIX, KEY_PREFIX_LEN) == 0)
                return key + KEY_PREFIX_LEN;
        return key;
}

static bool name_is_ipv6(const char *name)
{
        return name && strstr(name, "ipv6");
}

static uint64_t ftype_max(enum iface_ftype t)
{
        switch (t) {
        case IFACE_FT_U8:
                return UINT8_MAX;
        case IFACE_FT_U16:
                return UINT16_MAX;
        case IFACE_FT_U32:
                return UINT32_MAX;
        case IFACE_FT_INT:
                return INT32_MAX;
        case IFACE_FT_STR:
        case _IFACE_FT_MAX:
                break;
        }
        return 0;
}

static const char *ftype_name(enum iface_ftype t)
{
        switch (t) {
        case IFACE_FT_U8:
                return "u8";
        case IFACE_FT_U16:
                return "u16";
        case IFACE_FT_U32:
                return "u32";
        case IFACE_FT_INT:
                return "int";
        case IFACE_FT_STR:
                return "string";
        case _IFACE_FT_MAX:
                break;
        }
        return "?";
}

/* iface_fields[] by key, for a binary search: every line of every file read looks its key up. */
_Static_assert(IFACE_N_FIELDS <= 256, "fields_by_key[] holds indexes in bytes");
static uint8_t fields_by_key[IFACE_N_FIELDS];
static pthread_once_t fields_by_key_once = PTHREAD_ONCE_INIT;

static int field_key_cmp(const void *a, const void *b)
{
        return strcmp(iface_fields[*(const uint8_t *)a].key, iface_fields[*(const uint8_t *)b].key);
}

static void fields_by_key_init(void)
{
        for (size_t i = 0; i < IFACE_N_FIELDS; i++)
                fields_by_key[i] = (uint8_t)i;
        qsort(fields_by_key, IFACE_N_FIELDS, 1, field_key_cmp);
}

int iface_field_find(const char *key)
{
        size_t lo = 0, hi = IFACE_N_FIELDS;

        assert_return(key, -EINVAL);

        (void)pthread_once(&fields_by_key_once, fields_by_key_init);
        key = strip_prefix(key);
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(key, iface_fields[fields_by_key[mid]].key);

                if (c == 0)
                        return fields_by_key[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return -ENOENT;
}

static const char *dead_key_find(const char *key)
{
        key = strip_prefix(key);
        for (size_t i = 0; i < ELEMENTSOF(dead_keys); i++)
                if (streq(dead_keys[i], key))
                        return dead_keys[i];
        return NULL;
}

bool iface_key_is_dead(const char *key)
{
        return key && dead_key_find(key);
}

bool iface_field_in_template(size_t idx, bool ipv6)
{
        if (idx >= IFACE_N_FIELDS)
                return false;

        switch (iface_fields[idx].block) {
        case IFACE_FB_COMMON:
                return true;
        case IFACE_FB_IPV4:
                return !ipv6;
        case IFACE_FB_IPV6:
                return ipv6;
        case _IFACE_FB_MAX:
                break;
        }
        return false;
}

void iface_rec_done(struct iface_rec *rec)
{
        if (!rec)
                return;

        free(rec->name);
        for (size_t i = 0; i < IFACE_N_FIELDS; i++)
                free(rec->str[i]);
        memset(rec, 0, sizeof(*rec));
}

int iface_rec_init(struct iface_rec *rec, const char *name)
{
        assert_return(rec, -EINVAL);
        assert_return(name, -EINVAL);

        memset(rec, 0, sizeof(*rec));
        rec->name = strdup(name);
        rec->str[IFACE_F_ISCSI_IFACENAME] = strdup(name);
        rec->str[IFACE_F_TRANSPORT_NAME] = strdup("tcp");
        if (!rec->name || !rec->str[IFACE_F_ISCSI_IFACENAME] || !rec->str[IFACE_F_TRANSPORT_NAME])
                return -ENOMEM; /* rec stays freeable with iface_rec_done() */

        return 0;
}

int iface_rec_copy(struct iface_rec *dst, const struct iface_rec *src)
{
        assert_return(dst, -EINVAL);
        assert_return(src, -EINVAL);

        memset(dst, 0, sizeof(*dst));
        if (src->name) {
                dst->name = strdup(src->name);
                if (!dst->name)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                dst->num[i] = src->num[i];
                if (!src->str[i])
                        continue;
                dst->str[i] = strdup(src->str[i]);
                if (!dst->str[i])
                        return -ENOMEM;
        }
        return 0;
}

int iface_rec_set_str(struct iface_rec *rec, size_t idx, const char *value)
{
        char *copy = NULL;

        assert_return(rec, -EINVAL);
        assert_return(idx < IFACE_N_FIELDS, -EINVAL);
        assert_return(iface_fields[idx].type == IFACE_FT_STR, -EINVAL);

        if (idx == IFACE_F_ISCSI_IFACENAME) {
                _cleanup_(freep) char *name = NULL;

                /* the record name and its iscsi_ifacename are one value, and never unset */
                assert_return(!isempty(value), -EINVAL);
                name = strdup(value);
                copy = strdup(value);
                if (!name || !copy) {
                        free(copy);
                        return -ENOMEM;
                }
                free(rec->name);
                rec->name = TAKE_PTR(name);
        } else if (!isempty(value)) {
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }

        free(rec->str[idx]);
        rec->str[idx] = copy;
        return 0;
}

bool iface_rec_equal(const struct iface_rec *a, const struct iface_rec *b)
{
        if (a == b)
                return true;
        if (!a || !b)
                return false;
        if (!streq_ptr(a->name, b->name))
                return false;

        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                if (iface_fields[i].type == IFACE_FT_STR) {
                        /* NULL and "" both mean unset */
                        if (!streq_ptr(isempty(a->str[i]) ? NULL : a->str[i],
                                       isempty(b->str[i]) ? NULL : b->str[i]))
                                return false;
                } else if (a->num[i] != b->num[i])
                        return false;
        }
        return true;
}

bool iface_rec_is_ipv6(const struct iface_rec *rec)
{
        const char *ip, *bootproto;
        int r;

        if (!rec)
                return false;

        /* the writer rule of iscsiadm 2.1.8 (usr/iface.c); its reader looks at the name only */
        ip = rec->str[IFACE_F_IPADDRESS];
        if (isempty(ip))
                return name_is_ipv6(rec->name);

        r = iface_field_find("bootproto");
        bootproto = r >= 0 ? rec->str[r] : NULL;
        return !streq_ptr(bootproto, "dhcp") && !strchr(ip, '.');
}

bool iface_name_is_builtin(const char *name)
{
        return name && (streq(name, "default") || streq(name, "iser"));
}

int iface_builtin(const char *name, struct iface_rec *ret)
{
        int r;

        assert_return(ret, -EINVAL);

        if (!iface_name_is_builtin(name))
                return -ENOENT;

        r = iface_rec_init(ret, name);
        if (r < 0)
                return r;

        /* usr/iface.c: "default" is tcp, "iser" is iser; nothing else is set */
        return iface_rec_set_str(ret, IFACE_F_TRANSPORT_NAME, streq(name, "iser") ? "iser" : "tcp");
}

static bool name_char_ok(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' ||
               c == '.' || c == ':' || c == '-';
}

int iface_name_validate(const char *name, struct iface_error *err)
{
        size_t len;

        if (!name)
                return fail(err, -EINVAL, "name",
                            "is missing: an iface needs a name of 1 to %d bytes", IFACE_NAME_MAX);

        len = strlen(name);
        if (len < 1 || len > IFACE_NAME_MAX)
                return fail(err, -EINVAL, "name",
                            "must be 1 to %d bytes (got %zu), as iscsiadm requires", IFACE_NAME_MAX,
                            len);

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)name[i];

                if (name_char_ok((char)c))
                        continue;
                if (c >= 0x20 && c < 0x7f)
                        return fail(err, -EINVAL, "name",
                                    "character '%c' at offset %zu is not allowed (allowed: %s)", c,
                                    i, NAME_CHARS);
                return fail(err, -EINVAL, "name",
                            "byte 0x%02x at offset %zu is not allowed (allowed: %s)", c, i,
                            NAME_CHARS);
        }

        if (name[0] == '.')
                return fail(err, -EINVAL, "name",
                            "must not start with '.': '.', '..' and hidden files cannot be iface "
                            "files");
        if (name[0] == '-')
                return fail(err, -EINVAL, "name",
                            "must not start with '-': iscsiadm would take the name for an option");
        if (iface_name_is_builtin(name))
                return fail(err, -EINVAL, "name",
                            "'%s' is a built-in iface of iscsiadm and cannot be stored", name);
        if (streq(name, "iface.example"))
                return fail(
                        err, -EINVAL, "name",
                        "'iface.example' is the name of open-iscsi's sample file, which iscsiadm "
                        "ignores");
        return 0;
}

static int check_text(const char *key, const char *v, struct iface_error *err)
{
        size_t len = strlen(v);

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)v[i];

                if (c < 0x20 || c == 0x7f)
                        return fail(
                                err, -EINVAL, key,
                                "contains control character 0x%02x at offset %zu: a line break "
                                "would inject keys into the iface file, so only printable ASCII is "
                                "allowed",
                                c, i);
                if (c > 0x7f)
                        return fail(err, -EINVAL, key,
                                    "contains non-ASCII byte 0x%02x at offset %zu: only printable "
                                    "ASCII is allowed",
                                    c, i);
        }
        if (v[0] == ' ')
                return fail(
                        err, -EINVAL, key,
                        "starts with a blank, which iscsiadm strips when it reads the file back");
        if (v[len - 1] == ' ')
                return fail(err, -EINVAL, key,
                            "ends with a blank, which iscsiadm strips when it reads the file back");
        return 0;
}

static bool is_mac(const char *v)
{
        if (strlen(v) != 17)
                return false;
        for (size_t i = 0; i < 17; i++) {
                if (i % 3 == 2) {
                        if (v[i] != ':')
                                return false;
                } else if (!is_hex(v[i]))
                        return false;
        }
        return true;
}

static bool is_hex_string(const char *v, size_t n)
{
        if (strlen(v) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_hex(v[i]))
                        return false;
        return true;
}

/* iqn.yyyy-mm.rest (RFC 3720 3.2.6.3.1), eui.16 hex, naa.16 or 32 hex (RFC 3980). */
static int check_iname(const char *key, const char *v, struct iface_error *err)
{
        if (strncmp(v, "iqn.", 4) == 0) {
                const char *d = v + 4;
                int month;

                if (!(is_digit(d[0]) && is_digit(d[1]) && is_digit(d[2]) && is_digit(d[3]) &&
                      d[4] == '-' && is_digit(d[5]) && is_digit(d[6]) && d[7] == '.'))
                        return fail(err, -EINVAL, key,
                                    "'%.64s' is not an iqn. name: 'iqn.' must be followed by a "
                                    "yyyy-mm. date (e.g. iqn.2020-01.com.example:host1)",
                                    v);
                month = (d[5] - '0') * 10 + (d[6] - '0');
                if (month < 1 || month > 12)
                        return fail(err, -EINVAL, key,
                                    "'%.64s' is not an iqn. name: month %02d is not 01 to 12", v,
                                    month);
                if (d[8] == '\0')
                        return fail(err, -EINVAL, key,
                                    "'%.64s' is not an iqn. name: the naming authority after the "
                                    "date is missing",
                                    v);
                if (strchr(d + 8, ' '))
                        return fail(err, -EINVAL, key,
                                    "'%.64s' is not an iSCSI name: blanks are not allowed", v);
                return 0;
        }
        if (strncmp(v, "eui.", 4) == 0) {
                if (!is_hex_string(v + 4, 16))
                        return fail(
                                err, -EINVAL, key,
                                "'%.64s' is not an eui. name: 'eui.' must be followed by 16 hex "
                                "digits",
                                v);
                return 0;
        }
        if (strncmp(v, "naa.", 4) == 0) {
                if (!is_hex_string(v + 4, 16) && !is_hex_string(v + 4, 32))
                        return fail(
                                err, -EINVAL, key,
                                "'%.64s' is not a naa. name: 'naa.' must be followed by 16 or 32 "
                                "hex digits",
                                v);
                return 0;
        }
        return fail(
                err, -EINVAL, key,
                "'%.64s' is not an iSCSI name: expected iqn.yyyy-mm.<authority>[:<id>], eui.<16 "
                "hex> or naa.<16 or 32 hex>",
                v);
}

/* Linux dev_valid_name(): not "." or "..", no '/', ':' or whitespace; or iscsiadm's "default". */
static int check_netdev(const char *key, const char *v, struct iface_error *err)
{
        if (streq(v, "default"))
                return 0;
        if (streq(v, ".") || streq(v, ".."))
                return fail(err, -EINVAL, key, "'%s' is not a valid network device name", v);
        for (const char *p = v; *p; p++) {
                if (*p == '/')
                        return fail(
                                err, -EINVAL, key,
                                "'%.64s' is not a valid network device name: '/' is not allowed",
                                v);
                if (*p == ':')
                        return fail(
                                err, -EINVAL, key,
                                "'%.64s' is not a valid network device name: ':' is not allowed "
                                "(eth0:1 is an address label, bind to the device itself)",
                                v);
                if (is_blank(*p))
                        return fail(err, -EINVAL, key,
                                    "'%.64s' is not a valid network device name: blanks are not "
                                    "allowed",
                                    v);
        }
        return 0;
}

static int check_ipaddr(const struct iface_rec *rec, const char *key, const char *v,
                        struct iface_error *err)
{
        unsigned char buf[sizeof(struct in6_addr)];
        bool v4 = inet_pton(AF_INET, v, buf) == 1;
        bool v6 = inet_pton(AF_INET6, v, buf) == 1;

        if (!name_is_ipv6(rec->name)) {
                if (v4)
                        return 0;
                if (v6)
                        return fail(err, -EINVAL, key,
                                    "is an IPv6 address but the name has no 'ipv6': iscsiadm would "
                                    "write IPv6 keys, then read the file by its name with the IPv4 "
                                    "key set, making the iface unreadable; use a name containing "
                                    "'ipv6'");
                return fail(
                        err, -EINVAL, key,
                        "'%.64s' is not an IPv4 address (an IPv6 address needs a name containing "
                        "'ipv6')",
                        v);
        }

        if (v4)
                return fail(
                        err, -EINVAL, key,
                        "is an IPv4 address but the name contains 'ipv6': iscsiadm would write "
                        "IPv4 keys, then read the file by its name with the IPv6 key set, making "
                        "the iface unreadable; use a name without 'ipv6'");
        if (!v6)
                return fail(err, -EINVAL, key, "'%.64s' is not an IPv6 address", v);
        if (strchr(v, '.'))
                return fail(
                        err, -EINVAL, key,
                        "'%.64s' has a dotted IPv4 part, so iscsiadm would write the record with "
                        "IPv4 keys; write the address in hex groups only",
                        v);
        return 0;
}

static bool str_in(const char *v, const char *const *set, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (streq(v, set[i]))
                        return true;
        return false;
}

static int check_kind(const struct iface_rec *rec, size_t idx, const char *v,
                      struct iface_error *err)
{
        static const char *const enable[] = { "enable", "disable" };
        static const char *const bootproto[] = { "dhcp", "static" };
        static const char *const autocfg6[] = { "nd", "dhcpv6", "disable" };
        static const char *const autocfg[] = { "auto", "disable" };
        /*
         * An offload record that iscsiadm (and the engine, engine/hba.c) makes from an HBA's
         * sysfs holds the kernel's router_state here, one of iscsi_router_state_names
         * (drivers/scsi/scsi_transport_iscsi.c); apply treats any value without "auto" as
         * disabled. Refusing them would refuse every later write of such a record.
         */
        static const char *const router[] = { "auto",       "disable", "Unknown",
                                              "Advertised", "Manual",  "Stale" };
        const char *key = iface_fields[idx].key;
        unsigned char buf[sizeof(struct in6_addr)];

        switch (iface_fields[idx].check) {
        case IFACE_CK_TEXT:
                return 0;
        case IFACE_CK_NAME:
                if (!streq_ptr(v, rec->name))
                        return fail(err, -EINVAL, key, "must equal the iface name '%s'", rec->name);
                return 0;
        case IFACE_CK_NETDEV:
                return check_netdev(key, v, err);
        case IFACE_CK_MAC:
                if (!streq(v, "default") && !is_mac(v))
                        return fail(
                                err, -EINVAL, key,
                                "'%.64s' is not a MAC address: expected six hex pairs separated by "
                                "':' (e.g. 00:0f:1f:92:6b:bf) or 'default'",
                                v);
                return 0;
        case IFACE_CK_IPADDR:
                return check_ipaddr(rec, key, v, err);
        case IFACE_CK_IPV4:
                if (inet_pton(AF_INET, v, buf) != 1)
                        return fail(err, -EINVAL, key,
                                    "'%.64s' is not an IPv4 address (dotted quad such as "
                                    "255.255.255.0)",
                                    v);
                return 0;
        case IFACE_CK_IPV6:
                if (inet_pton(AF_INET6, v, buf) != 1)
                        return fail(err, -EINVAL, key, "'%.64s' is not an IPv6 address", v);
                return 0;
        case IFACE_CK_TRANSPORT:
                if (!str_in(v, transports, ELEMENTSOF(transports)))
                        return fail(err, -EINVAL, key,
                                    "'%.32s' is not an open-iscsi transport (tcp, iser, cxgb3i, "
                                    "cxgb4i, bnx2i, qla4xxx, be2iscsi, ocs, qedi)",
                                    v);
                return 0;
        case IFACE_CK_ENABLE:
                if (!str_in(v, enable, ELEMENTSOF(enable)))
                        return fail(err, -EINVAL, key, "'%.64s' must be enable or disable", v);
                return 0;
        case IFACE_CK_BOOTPROTO:
                if (!str_in(v, bootproto, ELEMENTSOF(bootproto)))
                        return fail(err, -EINVAL, key, "'%.64s' must be dhcp or static", v);
                return 0;
        case IFACE_CK_IPV6_AUTOCFG:
                if (!str_in(v, autocfg6, ELEMENTSOF(autocfg6)))
                        return fail(err, -EINVAL, key, "'%.64s' must be nd, dhcpv6 or disable", v);
                return 0;
        case IFACE_CK_AUTO:
                if (!str_in(v, autocfg, ELEMENTSOF(autocfg)))
                        return fail(err, -EINVAL, key, "'%.64s' must be auto or disable", v);
                return 0;
        case IFACE_CK_ROUTER:
                if (!str_in(v, router, ELEMENTSOF(router)))
                        return fail(err, -EINVAL, key,
                                    "'%.64s' must be auto or disable (or a router state an HBA "
                                    "reports: Unknown, Advertised, Manual, Stale)",
                                    v);
                return 0;
        case IFACE_CK_INAME:
                return check_iname(key, v, err);
        case IFACE_CK_NUMBER:
        case _IFACE_CK_MAX:
                break;
        }
        return fail(err, -EINVAL, key, "has no string check (internal error)");
}

int iface_check_number(size_t idx, int64_t value, struct iface_error *err)
{
        const struct iface_field *f;
        uint64_t max;

        if (idx >= IFACE_N_FIELDS)
                return fail(err, -EINVAL, NULL, "field index %zu is out of range", idx);

        f = &iface_fields[idx];
        if (f->type == IFACE_FT_STR)
                return fail(err, -EINVAL, f->key, "is a string, not a number");

        max = ftype_max(f->type);
        if (value < 0 || (uint64_t)value > max)
                return fail(err, -ERANGE, f->key, "must be an integer from 0 to %" PRIu64 " (%s)",
                            max, ftype_name(f->type));
        return 0;
}

static enum binding_kind binding_kind(const struct iface_rec *rec)
{
        const char *hw = rec->str[IFACE_F_HWADDRESS], *netdev = rec->str[IFACE_F_NET_IFACENAME];

        /* usr/iface.c iface_is_bound_by_hwaddr() / _by_netdev(): "default" means unbound */
        if (!isempty(hw) && !streq(hw, "default"))
                return BINDING_HWADDRESS;
        if (!isempty(netdev) && !streq(netdev, "default"))
                return BINDING_NETDEV;
        return BINDING_NONE;
}

static const char *str_or_null(const char *s)
{
        return isempty(s) ? NULL : s;
}

static int template_error(const struct iface_rec *rec, size_t idx, struct iface_error *err)
{
        if (iface_fields[idx].block == IFACE_FB_IPV6)
                return fail(
                        err, -EINVAL, iface_fields[idx].key,
                        "is an IPv6 key, but the name '%.64s' has no 'ipv6', so the record uses "
                        "the IPv4 key set (iscsiadm picks the key set by the name); use a name "
                        "containing 'ipv6'",
                        rec->name);
        return fail(err, -EINVAL, iface_fields[idx].key,
                    "is an IPv4 key, but the name '%.64s' contains 'ipv6', so the record uses the "
                    "IPv6 key set (iscsiadm picks the key set by the name); use a name without "
                    "'ipv6'",
                    rec->name);
}

int iface_validate(const struct iface_rec *rec, const struct iface_rec *old,
                   struct iface_error *err)
{
        const char *transport;
        enum binding_kind kind;
        bool ipv6;
        int r;

        assert_return(rec, -EINVAL);

        r = iface_name_validate(rec->name, err);
        if (r < 0)
                return r;

        if (isempty(rec->str[IFACE_F_ISCSI_IFACENAME]))
                return fail(err, -EINVAL, iface_fields[IFACE_F_ISCSI_IFACENAME].key,
                            "is missing; it must equal the iface name '%s'", rec->name);

        ipv6 = name_is_ipv6(rec->name);
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                const struct iface_field *f = &iface_fields[i];
                const char *v = rec->str[i];

                if (f->type != IFACE_FT_STR) {
                        if (rec->num[i] != 0 && !iface_field_in_template(i, ipv6))
                                return template_error(rec, i, err);
                        r = iface_check_number(i, rec->num[i], err);
                        if (r < 0)
                                return -EINVAL;
                        continue;
                }

                if (isempty(v))
                        continue;
                if (!iface_field_in_template(i, ipv6))
                        return template_error(rec, i, err);
                r = check_text(f->key, v, err);
                if (r < 0)
                        return r;
                if (strlen(v) > f->maxlen)
                        return fail(err, -EINVAL, f->key,
                                    "is %zu bytes, over the limit of %u (iscsiadm would cut it to "
                                    "fit its buffer)",
                                    strlen(v), f->maxlen);
                r = check_kind(rec, i, v, err);
                if (r < 0)
                        return r;
        }

        transport = rec->str[IFACE_F_TRANSPORT_NAME];
        if (isempty(transport))
                return fail(err, -EINVAL, iface_fields[IFACE_F_TRANSPORT_NAME].key,
                            "is required: iscsiadm ignores an iface file without it");

        kind = binding_kind(rec);
        if ((streq(transport, "tcp") || streq(transport, "iser")) &&
            !isempty(rec->str[IFACE_F_IPADDRESS]) && kind == BINDING_NONE)
                return fail(err, -EINVAL, iface_fields[IFACE_F_IPADDRESS].key,
                            "cannot bind a %s iface by IP address alone: software iSCSI binds by "
                            "hwaddress or net_ifacename, so set one of them too",
                            transport);

        if (old) {
                /* usr/iscsiadm.c: a bound iface cannot start using the other binding key */
                enum binding_kind old_kind = binding_kind(old);

                if (old_kind == BINDING_HWADDRESS &&
                    !streq_ptr(str_or_null(rec->str[IFACE_F_NET_IFACENAME]),
                               str_or_null(old->str[IFACE_F_NET_IFACENAME])))
                        return fail(err, -EINVAL, iface_fields[IFACE_F_NET_IFACENAME].key,
                                    "cannot change the binding from hwaddress to net_ifacename: as "
                                    "with iscsiadm, delete the iface and create a new one");
                if (old_kind == BINDING_NETDEV &&
                    !streq_ptr(str_or_null(rec->str[IFACE_F_HWADDRESS]),
                               str_or_null(old->str[IFACE_F_HWADDRESS])))
                        return fail(err, -EINVAL, iface_fields[IFACE_F_HWADDRESS].key,
                                    "cannot change the binding from net_ifacename to hwaddress: as "
                                    "with iscsiadm, delete the iface and create a new one");
        }

        /*
         * A software iface is bound by hwaddress first and net_ifacename is then ignored (SPEC
         * §5.2, open-iscsi usr/io.c:202-250):
         * a record that names both says one thing and does another. (Offload records that
         * iscsiadm makes carry both, describing the HBA port; they are not refused.)
         */
        if ((streq(transport, "tcp") || streq(transport, "iser")) && kind == BINDING_HWADDRESS &&
            !isempty(rec->str[IFACE_F_NET_IFACENAME]) &&
            !streq(rec->str[IFACE_F_NET_IFACENAME], "default"))
                return fail(err, -EINVAL, iface_fields[IFACE_F_NET_IFACENAME].key,
                            "set hwaddress or net_ifacename, not both: iscsiadm binds a %s iface "
                            "by hwaddress and ignores net_ifacename",
                            transport);

        return 0;
}

/* A growing NUL-terminated output buffer. */
struct outbuf {
        char *data;
        size_t len;
        size_t cap;
};

static int outbuf_add(struct outbuf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 1024;
                char *p;

                while (b->len + n + 1 > cap)
                        cap *= 2;
                p = realloc(b->data, cap);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->cap = cap;
        }
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

static int outbuf_puts(struct outbuf *b, const char *s)
{
        return outbuf_add(b, s, strlen(s));
}

static int outbuf_finish(struct outbuf *b, int r, char **ret, size_t *ret_len)
{
        if (r < 0) {
                free(b->data);
                return r;
        }
        *ret = b->data;
        if (ret_len)
                *ret_len = b->len;
        return 0;
}

static const char *rec_ifacename(const struct iface_rec *rec)
{
        const char *v = rec->str[IFACE_F_ISCSI_IFACENAME];

        return isempty(v) ? rec->name : v;
}

/* One "iface.<key> = <value>\n" line; numbers print as idbm.c does (%u, %d for int). */
static int render_line(struct outbuf *b, const struct iface_rec *rec, size_t idx, bool show)
{
        const struct iface_field *f = &iface_fields[idx];
        char num[32];
        const char *v;
        int r;

        if (f->type == IFACE_FT_STR) {
                v = idx == IFACE_F_ISCSI_IFACENAME ? rec_ifacename(rec) : rec->str[idx];
                if (isempty(v)) {
                        if (!show)
                                return 0; /* files omit empty strings */
                        v = UNSET_VALUE;
                }
        } else {
                if (f->type == IFACE_FT_INT)
                        (void)snprintf(num, sizeof(num), "%d", (int)(int32_t)rec->num[idx]);
                else
                        (void)snprintf(num, sizeof(num), "%" PRIu32, rec->num[idx]);
                v = num;
        }

        r = outbuf_puts(b, KEY_PREFIX);
        if (r >= 0)
                r = outbuf_puts(b, f->key);
        if (r >= 0)
                r = outbuf_puts(b, " = ");
        if (r >= 0)
                r = outbuf_puts(b, v);
        if (r >= 0)
                r = outbuf_puts(b, "\n");
        return r;
}

static int render_record(const struct iface_rec *rec, bool show, char **ret, size_t *ret_len)
{
        struct outbuf b = {};
        bool ipv6;
        int r;

        assert_return(rec, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(rec->name, -EINVAL);

        ipv6 = iface_rec_is_ipv6(rec);
        r = outbuf_puts(&b, "# BEGIN RECORD " IFACE_RECORD_VERSION "\n");
        for (size_t i = 0; r >= 0 && i < IFACE_N_FIELDS; i++)
                if (iface_field_in_template(i, ipv6))
                        r = render_line(&b, rec, i, show);
        if (r >= 0)
                r = outbuf_puts(&b, "# END RECORD\n");
        return outbuf_finish(&b, r, ret, ret_len);
}

int iface_render_file(const struct iface_rec *rec, char **ret, size_t *ret_len)
{
        return render_record(rec, false, ret, ret_len);
}

int iface_render_show(const struct iface_rec *rec, char **ret, size_t *ret_len)
{
        return render_record(rec, true, ret, ret_len);
}

int iface_render_flat(const struct iface_rec *rec, char **ret, size_t *ret_len)
{
        static const size_t cols[] = {
                IFACE_F_TRANSPORT_NAME, IFACE_F_HWADDRESS,     IFACE_F_IPADDRESS,
                IFACE_F_NET_IFACENAME,  IFACE_F_INITIATORNAME,
        };
        struct outbuf b = {};
        int r;

        assert_return(rec, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(rec->name, -EINVAL);

        /* usr/iface.c iface_print_flat(): "%s %s,%s,%s,%s,%s\n" */
        r = outbuf_puts(&b, rec_ifacename(rec));
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(cols); i++) {
                const char *v = rec->str[cols[i]];

                r = outbuf_puts(&b, i == 0 ? " " : ",");
                if (r >= 0)
                        r = outbuf_puts(&b, isempty(v) ? UNSET_VALUE : v);
        }
        if (r >= 0)
                r = outbuf_puts(&b, "\n");
        return outbuf_finish(&b, r, ret, ret_len);
}

/* Plain decimal only: iscsiadm's strtoul() would take "0x10" as 0 and "1500abc" as 1500. */
static int parse_number(const char *v, uint64_t max, uint64_t *ret)
{
        uint64_t n = 0;

        if (!*v)
                return -EINVAL;
        for (const char *p = v; *p; p++) {
                if (!is_digit(*p))
                        return -EINVAL;
                n = n * 10 + (uint64_t)(*p - '0');
                if (n > max)
                        return -ERANGE;
        }
        *ret = n;
        return 0;
}

static int parse_line(const char *file_name, char *line, unsigned lineno, unsigned *seen,
                      struct iface_rec *rec, bool ipv6, struct iface_error *err)
{
        const struct iface_field *f;
        const char *dead;
        char *key, *value, *eq;
        int idx, r;

        eq = strchr(line, '=');
        if (!eq)
                return fail(err, -EBADMSG, NULL,
                            "line %u: no '=' (expected 'iface.<key> = <value>')", lineno);
        iface_split_key_value(line, &key, &value);

        if (!*key)
                return fail(err, -EBADMSG, NULL, "line %u: no key before '='", lineno);

        dead = dead_key_find(key);
        if (dead && strncmp(key, KEY_PREFIX, KEY_PREFIX_LEN) == 0)
                return fail(err, -EBADMSG, dead,
                            "line %u: %.64s is defined by open-iscsi but iscsiadm refuses it",
                            lineno, key);

        idx = strncmp(key, KEY_PREFIX, KEY_PREFIX_LEN) == 0 ? iface_field_find(key) : -ENOENT;
        if (idx < 0)
                return fail(err, -EBADMSG, NULL, "line %u: unknown key '%.64s'", lineno, key);
        f = &iface_fields[idx];

        if (!iface_field_in_template((size_t)idx, ipv6))
                return fail(
                        err, -EBADMSG, f->key,
                        f->block == IFACE_FB_IPV6 ?
                                "line %u: iface.%s is an IPv6 key, but the file name has no "
                                "'ipv6', so "
                                "iscsiadm reads it with the IPv4 key set and rejects the file" :
                                "line %u: iface.%s is an IPv4 key, but the file name contains "
                                "'ipv6', so iscsiadm reads it with the IPv6 key set and rejects "
                                "the file",
                        lineno, f->key);

        if (seen[idx])
                return fail(err, -EBADMSG, f->key,
                            "line %u: duplicate key iface.%s (first on line %u)", lineno, f->key,
                            seen[idx]);
        seen[idx] = lineno;

        if (f->type != IFACE_FT_STR) {
                uint64_t n = 0;

                if (!*value)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: iface.%s has no value (a number is required)", lineno,
                                    f->key);
                r = parse_number(value, ftype_max(f->type), &n);
                if (r == -ERANGE)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: iface.%s = %.32s is out of range 0 to %" PRIu64
                                    " (%s)",
                                    lineno, f->key, value, ftype_max(f->type), ftype_name(f->type));
                if (r < 0)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: iface.%s = %.32s is not a decimal number", lineno,
                                    f->key, value);
                rec->num[idx] = (uint32_t)n;
                return 0;
        }

        if (strlen(value) > f->maxlen)
                return fail(
                        err, -EBADMSG, f->key,
                        "line %u: iface.%s is %zu bytes, over its %u-byte limit (iscsiadm would "
                        "cut it)",
                        lineno, f->key, strlen(value), f->maxlen);

        if (idx == IFACE_F_ISCSI_IFACENAME && *value && !streq(value, file_name))
                return fail(
                        err, -EBADMSG, f->key,
                        "line %u: iface.iscsi_ifacename = %.64s differs from the file name '%.64s'",
                        lineno, value, file_name);

        if (idx == IFACE_F_ISCSI_IFACENAME)
                return 0; /* already set from the file name */

        /* an empty value means unset, as iscsiadm writes it (golden F10) */
        r = iface_rec_set_str(rec, (size_t)idx, value);
        if (r < 0)
                return r;
        return 0;
}

bool iface_split_key_value(char *line, char **ret_key, char **ret_value)
{
        /* split at the first '=', so values may hold '=' and '#' (golden F11) */
        char *eq = strchr(line, '='), *end, *value;

        if (!eq)
                return false;
        *eq = '\0';
        end = eq;
        while (end > line && is_blank(end[-1]))
                *--end = '\0';
        value = eq + 1;
        while (is_blank(*value))
                value++;
        *ret_key = line;
        *ret_value = value;
        return true;
}

int iface_record_lines(const char *data, size_t len,
                       int (*cb)(char *line, unsigned lineno, void *userdata), void *userdata,
                       struct iface_error *err)
{
        char line[LINE_MAX_CHARS + 1];
        size_t pos = 0;
        unsigned lineno = 0;
        int r;

        assert_return(data || len == 0, -EINVAL);

        while (pos < len) {
                const char *nl = memchr(data + pos, '\n', len - pos);
                size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
                char *s, *e;

                lineno++;
                if (n > LINE_MAX_CHARS)
                        return fail(err, -EBADMSG, NULL, "line %u: longer than %d characters",
                                    lineno, LINE_MAX_CHARS);
                if (memchr(data + pos, '\0', n))
                        return fail(err, -EBADMSG, NULL, "line %u: contains a NUL byte", lineno);

                memcpy(line, data + pos, n);
                line[n] = '\0';
                pos += n + (nl ? 1 : 0);

                s = line;
                while (is_blank(*s))
                        s++;
                e = s + strlen(s);
                while (e > s && is_blank(e[-1]))
                        *--e = '\0';
                if (*s == '\0' || *s == '#')
                        continue;
                r = cb(s, lineno, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct parse_ctx {
        const char *file_name;
        unsigned *seen;
        struct iface_rec *rec;
        bool ipv6;
        struct iface_error *err;
};

static int parse_one(char *line, unsigned lineno, void *userdata)
{
        struct parse_ctx *p = userdata;

        return parse_line(p->file_name, line, lineno, p->seen, p->rec, p->ipv6, p->err);
}

int iface_parse_file(const char *file_name, const char *data, size_t len, struct iface_rec *ret,
                     struct iface_error *err)
{
        unsigned seen[IFACE_N_FIELDS] = {};
        size_t name_len;
        bool ipv6;
        int r;

        assert_return(file_name, -EINVAL);
        assert_return(data || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        name_len = strlen(file_name);
        if (name_len < 1 || name_len > IFACE_NAME_MAX)
                return fail(err, -EBADMSG, "name",
                            "file name must be 1 to %d bytes (got %zu), as iscsiadm requires",
                            IFACE_NAME_MAX, name_len);

        r = iface_rec_init(ret, file_name);
        if (r < 0)
                return r;
        /* transport_name must come from the file: iscsiadm skips a file without it (golden B32) */
        free(ret->str[IFACE_F_TRANSPORT_NAME]);
        ret->str[IFACE_F_TRANSPORT_NAME] = NULL;

        /* the reader picks the key set by the file name alone (libopeniscsiusr/idbm.c) */
        ipv6 = name_is_ipv6(file_name);
        r = iface_record_lines(data, len, parse_one,
                               &(struct parse_ctx){ file_name, seen, ret, ipv6, err }, err);
        if (r < 0)
                return r;

        if (isempty(ret->str[IFACE_F_TRANSPORT_NAME]))
                return fail(err, -EBADMSG, iface_fields[IFACE_F_TRANSPORT_NAME].key,
                            "no iface.transport_name: iscsiadm ignores an iface file without it");
        return 0;
}
