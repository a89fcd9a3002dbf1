/* SPDX-License-Identifier: MIT */
/*
 * The open-iscsi 2.1.8 iface record: its field table, validation, and the codec for the file
 * format iscsiadm writes and the text iscsiadm prints. Pure functions, no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IFACE_NAME_MAX       64      /* bytes, iscsiadm's ISCSI_MAX_IFACE_LEN - 1 */
#define IFACE_RECORD_VERSION "2.1.8" /* "# BEGIN RECORD 2.1.8" */

enum iface_ftype {
        IFACE_FT_STR,
        IFACE_FT_U8,
        IFACE_FT_U16,
        IFACE_FT_U32,
        IFACE_FT_INT, /* C int, accepted range 0..INT32_MAX */
        _IFACE_FT_MAX,
};

/* Which template a key belongs to. An IPv4 record has COMMON+IPV4, an IPv6 one COMMON+IPV6. */
enum iface_fblock {
        IFACE_FB_COMMON,
        IFACE_FB_IPV4,
        IFACE_FB_IPV6,
        _IFACE_FB_MAX,
};

/* The value check applied by iface_validate() on top of type and length. */
enum iface_fcheck {
        IFACE_CK_TEXT,         /* printable ASCII, no leading/trailing blank */
        IFACE_CK_NAME,         /* iscsi_ifacename: must equal the record name */
        IFACE_CK_NETDEV,       /* Linux netdev name, or "default" */
        IFACE_CK_MAC,          /* xx:xx:xx:xx:xx:xx, or "default" */
        IFACE_CK_IPADDR,       /* IPv4 or IPv6 per the template (inet_pton) */
        IFACE_CK_IPV4,         /* dotted quad */
        IFACE_CK_IPV6,         /* IPv6 address */
        IFACE_CK_TRANSPORT,    /* a known open-iscsi transport name */
        IFACE_CK_ENABLE,       /* enable | disable */
        IFACE_CK_BOOTPROTO,    /* dhcp | static */
        IFACE_CK_IPV6_AUTOCFG, /* nd | dhcpv6 | disable */
        IFACE_CK_AUTO,         /* auto | disable */
        IFACE_CK_ROUTER,       /* auto | disable, or the kernel's router state (check_kind) */
        IFACE_CK_INAME,        /* iqn./eui./naa. initiator name */
        IFACE_CK_NUMBER,       /* integers: range of the C type */
        _IFACE_CK_MAX,
};

struct iface_field {
        const char *key; /* without the "iface." prefix, e.g. "net_ifacename" */
        enum iface_ftype type;
        enum iface_fblock block;
        enum iface_fcheck check;
        unsigned maxlen; /* strings: max bytes (iscsiadm buffer - 1); 0 for numbers */
};

/* All 70 keys, in the order iscsiadm writes them (IPv4 block before IPv6 block). */
extern const struct iface_field iface_fields[];
#define IFACE_N_FIELDS 70

/* Indices of the fields other modules need by name. Must match iface_fields[]. */
enum {
        IFACE_F_ISCSI_IFACENAME = 0,
        IFACE_F_NET_IFACENAME = 1,
        IFACE_F_IPADDRESS = 2,
        IFACE_F_PREFIX_LEN = 3,
        IFACE_F_HWADDRESS = 4,
        IFACE_F_TRANSPORT_NAME = 5,
        IFACE_F_INITIATORNAME = 6,
};

/*
 * A record. Values are indexed like iface_fields[]. A string field is NULL when unset (iscsiadm
 * stores "" and omits it from files). A numeric field is always present in iscsiadm's model;
 * num[] holds it, str[] is unused for numbers. name is always set and equals
 * str[IFACE_F_ISCSI_IFACENAME].
 */
struct iface_rec {
        char *name;
        char *str[IFACE_N_FIELDS];
        uint32_t num[IFACE_N_FIELDS];
};

/* Where a validation or parse failure is: the JSON field name (key without prefix) and why. */
struct iface_error {
        const char *field; /* static string (a key, "name", or NULL), or field_buf */
        char reason[256];
        char field_buf[72]; /* for fields that are not keys, e.g. an unknown one */
};

/* Fill err (may be NULL) with field and the formatted reason, and return r. */
int iface_error_set(struct iface_error *err, int r, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/*
 * Call cb(line, lineno, userdata) for each line of a record file as open-iscsi's reader sees it:
 * blanks stripped, empty and '#' lines skipped; a line over 2047 characters or with a NUL byte is
 * refused (-EBADMSG, err set). line is writable until cb returns. A negative result of cb stops
 * and is returned. 0, -EBADMSG, -ENOMEM, or cb's result.
 */
int iface_record_lines(const char *data, size_t len,
                       int (*cb)(char *line, unsigned lineno, void *userdata), void *userdata,
                       struct iface_error *err);

/*
 * Split a stripped line at its first '=' into key and value, without the blanks around them
 * (values may hold '=' and '#'). false if there is no '='. line is modified.
 */
bool iface_split_key_value(char *line, char **ret_key, char **ret_value);

/* Look a key up, with or without the "iface." prefix. Returns the index or -ENOENT. */
int iface_field_find(const char *key);

/* Keys that open-iscsi defines but iscsiadm refuses (isid, primary_dns, ...). */
bool iface_key_is_dead(const char *key);

/* true if the field belongs in a record of this template. */
bool iface_field_in_template(size_t idx, bool ipv6);

/*
 * Initialise a record named name with iscsiadm's "-o new" defaults (transport tcp, numbers 0).
 * Does not validate the name. Returns 0 or -ENOMEM; on failure rec is left freeable.
 */
int iface_rec_init(struct iface_rec *rec, const char *name);

/* Free everything rec owns and zero it. Safe on a zeroed or half-built rec. */
void iface_rec_done(struct iface_rec *rec);

/* Deep copy. dst must be zeroed or done. Returns 0 or -ENOMEM (dst then freeable). */
int iface_rec_copy(struct iface_rec *dst, const struct iface_rec *src);

/* Set a string field (NULL or "" unsets it). No validation here. 0 or -ENOMEM. */
int iface_rec_set_str(struct iface_rec *rec, size_t idx, const char *value);

/* Structural equality of two records (names and every field). */
bool iface_rec_equal(const struct iface_rec *a, const struct iface_rec *b);

/*
 * The template the record is written with, by iscsiadm's writer rule (usr/iface.c): an ipaddress
 * without '.' and bootproto != dhcp means IPv6; an empty ipaddress means IPv6 iff the name
 * contains "ipv6". For records that pass iface_validate() this agrees with the reader's rule
 * (the name alone).
 */
bool iface_rec_is_ipv6(const struct iface_rec *rec);

/* The built-in records "default" and "iser", as iscsiadm shows them. */
bool iface_name_is_builtin(const char *name);
int iface_builtin(const char *name, struct iface_rec *ret);

/*
 * Name rule: 1..64 bytes of [A-Za-z0-9_.:-], not starting with '.' or '-', and not "default",
 * "iser" or "iface.example". Returns 0 or -EINVAL with err->field = "name" and a reason.
 */
int iface_name_validate(const char *name, struct iface_error *err);

/*
 * Full validation of a record that is about to be stored. old is the stored version for an
 * update, or NULL for a create. Checks: name; every string (printable ASCII, length, check kind);
 * keys outside the template are unset; the IPv4/IPv6 naming trap; a tcp/iser ipaddress needs a
 * hwaddress or net_ifacename; the binding kind (hwaddress vs net_ifacename) does not change
 * against old. Numbers are range-checked when they are set (they always fit their storage).
 * Returns 0, or -EINVAL with err filled (err->field names the JSON field).
 */
int iface_validate(const struct iface_rec *rec, const struct iface_rec *old,
                   struct iface_error *err);

/*
 * Check one integer for field idx against the field's C type. Returns 0 or -ERANGE with err
 * filled. Used by the JSON layer before it stores the value in num[].
 */
int iface_check_number(size_t idx, int64_t value, struct iface_error *err);

/*
 * Render the file exactly as iscsiadm 2.1.8 writes it: "# BEGIN RECORD 2.1.8\n", then
 * "iface.<key> = <value>\n" for every key of the template in table order (unset strings
 * omitted, numbers always written), then "# END RECORD\n". *ret is NUL-terminated and owned by
 * the caller. Returns 0 or -ENOMEM.
 */
int iface_render_file(const struct iface_rec *rec, char **ret, size_t *ret_len);

/* Render the record as `iscsiadm -m iface -I NAME` prints it (unset strings as "<empty>"). */
int iface_render_show(const struct iface_rec *rec, char **ret, size_t *ret_len);

/* The one-line listing form: "name transport,hwaddress,ipaddress,netdev,iname\n". */
int iface_render_flat(const struct iface_rec *rec, char **ret, size_t *ret_len);

/*
 * Parse a file as libopeniscsiusr's reader does (lines stripped, '#' and blank lines skipped,
 * split at the first '=', lines up to 2047 chars), but stricter where iscsiadm would silently
 * misread: a line without '=', an unknown or dead key, a key outside the template chosen by
 * the file name, a number that is not plain decimal within its C type, a string over its
 * buffer, a missing transport_name, or an iscsi_ifacename that differs from file_name are all
 * errors. Returns 0 with *ret filled (ret must be zeroed), or -EBADMSG with err->reason set
 * (ret then freeable), or -ENOMEM.
 */
int iface_parse_file(const char *file_name, const char *data, size_t len, struct iface_rec *ret,
                     struct iface_error *err);
