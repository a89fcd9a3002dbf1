/* SPDX-License-Identifier: MIT */
/* The node record codec (node.h): key table, parser, renderer. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "node.h"

#define BEGIN_RECORD "# BEGIN RECORD 2.1.8"
#define END_RECORD   "# END RECORD"
#define IFACE_PREFIX "iface."

/* usr/idbm.c 2.1.8: the option names of __recinfo_int_oN and the chap_algs table. */
static const char *const opts_startup[] = { "manual", "automatic", "onboot", NULL };
static const char *const opts_no_yes[] = { "No", "Yes", NULL };
static const char *const opts_disc_type[] = {
        "send_targets", "isns", "offload_send_targets", "slp", "static", "fw", NULL,
};
static const char *const opts_authmethod[] = { "None", "CHAP", NULL };
static const char *const opts_scan[] = { "manual", "auto", NULL };
static const char *const opts_digest[] = { "None", "CRC32C", "CRC32C,None", "None,CRC32C", NULL };
static const char *const chap_algs[] = { "MD5", "SHA1", "SHA256", "SHA3-256", NULL };

#define STR(k, max)                                                                                \
        {                                                                                          \
                k, NODE_FT_STR, max, NULL                                                          \
        }
#define INT(k)                                                                                     \
        {                                                                                          \
                k, NODE_FT_INT, 0, NULL                                                            \
        }
#define ENUM(k, o)                                                                                 \
        {                                                                                          \
                k, NODE_FT_ENUM, 0, o                                                              \
        }

/* The order of usr/idbm.c idbm_recinfo_node() (2.1.8); buffer sizes from usr/config.h. */
const struct node_field node_fields[NODE_N_FIELDS] = {
        [NODE_F_NAME] = STR("node.name", 223),
        [NODE_F_TPGT] = INT("node.tpgt"),
        [NODE_F_STARTUP] = ENUM("node.startup", opts_startup),
        [NODE_F_LEADING_LOGIN] = ENUM("node.leading_login", opts_no_yes),
        [NODE_F_DISC_ADDRESS] = STR("node.discovery_address", 255),
        [NODE_F_DISC_PORT] = INT("node.discovery_port"),
        [NODE_F_DISC_TYPE] = ENUM("node.discovery_type", opts_disc_type),
        [NODE_F_INITIAL_CMDSN] = INT("node.session.initial_cmdsn"),
        [NODE_F_INITIAL_LOGIN_RETRY_MAX] = INT("node.session.initial_login_retry_max"),
        [NODE_F_XMIT_THREAD_PRIORITY] = INT("node.session.xmit_thread_priority"),
        [NODE_F_CMDS_MAX] = INT("node.session.cmds_max"),
        [NODE_F_QUEUE_DEPTH] = INT("node.session.queue_depth"),
        [NODE_F_NR_SESSIONS] = INT("node.session.nr_sessions"),
        [NODE_F_AUTHMETHOD] = ENUM("node.session.auth.authmethod", opts_authmethod),
        [NODE_F_USERNAME] = STR("node.session.auth.username", 255),
        [NODE_F_PASSWORD] = STR("node.session.auth.password", 255),
        [NODE_F_USERNAME_IN] = STR("node.session.auth.username_in", 255),
        [NODE_F_PASSWORD_IN] = STR("node.session.auth.password_in", 255),
        [NODE_F_CHAP_ALGS] = { "node.session.auth.chap_algs", NODE_FT_ALGS, 0, chap_algs },
        [NODE_F_REPLACEMENT_TIMEOUT] = INT("node.session.timeo.replacement_timeout"),
        [NODE_F_ABORT_TIMEOUT] = INT("node.session.err_timeo.abort_timeout"),
        [NODE_F_LU_RESET_TIMEOUT] = INT("node.session.err_timeo.lu_reset_timeout"),
        [NODE_F_TGT_RESET_TIMEOUT] = INT("node.session.err_timeo.tgt_reset_timeout"),
        [NODE_F_HOST_RESET_TIMEOUT] = INT("node.session.err_timeo.host_reset_timeout"),
        [NODE_F_FAST_ABORT] = ENUM("node.session.iscsi.FastAbort", opts_no_yes),
        [NODE_F_INITIAL_R2T] = ENUM("node.session.iscsi.InitialR2T", opts_no_yes),
        [NODE_F_IMMEDIATE_DATA] = ENUM("node.session.iscsi.ImmediateData", opts_no_yes),
        [NODE_F_FIRST_BURST_LENGTH] = INT("node.session.iscsi.FirstBurstLength"),
        [NODE_F_MAX_BURST_LENGTH] = INT("node.session.iscsi.MaxBurstLength"),
        [NODE_F_DEFAULT_TIME2RETAIN] = INT("node.session.iscsi.DefaultTime2Retain"),
        [NODE_F_DEFAULT_TIME2WAIT] = INT("node.session.iscsi.DefaultTime2Wait"),
        [NODE_F_MAX_CONNECTIONS] = INT("node.session.iscsi.MaxConnections"),
        [NODE_F_MAX_OUTSTANDING_R2T] = INT("node.session.iscsi.MaxOutstandingR2T"),
        [NODE_F_ERL] = INT("node.session.iscsi.ERL"),
        [NODE_F_SCAN] = ENUM("node.session.scan", opts_scan),
        [NODE_F_REOPEN_MAX] = INT("node.session.reopen_max"),
        [NODE_F_CONN_ADDRESS] = STR("node.conn[0].address", 255),
        [NODE_F_CONN_PORT] = INT("node.conn[0].port"),
        [NODE_F_CONN_STARTUP] = ENUM("node.conn[0].startup", opts_startup),
        [NODE_F_CONN_WINDOW_SIZE] = INT("node.conn[0].tcp.window_size"),
        [NODE_F_CONN_TYPE_OF_SERVICE] = INT("node.conn[0].tcp.type_of_service"),
        [NODE_F_CONN_LOGOUT_TIMEOUT] = INT("node.conn[0].timeo.logout_timeout"),
        [NODE_F_CONN_LOGIN_TIMEOUT] = INT("node.conn[0].timeo.login_timeout"),
        [NODE_F_CONN_AUTH_TIMEOUT] = INT("node.conn[0].timeo.auth_timeout"),
        [NODE_F_CONN_NOOP_OUT_INTERVAL] = INT("node.conn[0].timeo.noop_out_interval"),
        [NODE_F_CONN_NOOP_OUT_TIMEOUT] = INT("node.conn[0].timeo.noop_out_timeout"),
        [NODE_F_CONN_MAX_XMIT_DLEN] = INT("node.conn[0].iscsi.MaxXmitDataSegmentLength"),
        [NODE_F_CONN_MAX_RECV_DLEN] = INT("node.conn[0].iscsi.MaxRecvDataSegmentLength"),
        [NODE_F_CONN_HEADER_DIGEST] = ENUM("node.conn[0].iscsi.HeaderDigest", opts_digest),
        [NODE_F_CONN_DATA_DIGEST] = ENUM("node.conn[0].iscsi.DataDigest", opts_digest),
        [NODE_F_CONN_IFMARKER] = ENUM("node.conn[0].iscsi.IFMarker", opts_no_yes),
        [NODE_F_CONN_OFMARKER] = ENUM("node.conn[0].iscsi.OFMarker", opts_no_yes),
};

/*
 * The iface keys of a node record start in their own order (idbm_recinfo_node(), not
 * idbm_recinfo_iface()): these, then the rest of iface_fields[] from bootproto on, by template.
 */
static const char *const iface_head[] = {
        "hwaddress",   "ipaddress",     "iscsi_ifacename", "net_ifacename", "gateway",
        "subnet_mask", "prefix_len",    "transport_name",  "initiatorname", "state",
        "vlan_id",     "vlan_priority", "vlan_state",      "iface_num",     "mtu",
        "port",
};

#define fail(...) iface_error_set(__VA_ARGS__)

static int table_find(const struct node_field *table, size_t n, const char *key)
{
        for (size_t i = 0; key && i < n; i++)
                if (streq(table[i].key, key))
                        return (int)i;
        return -ENOENT;
}

static void vals_free(char **val, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(val[i]);
}

int node_field_find(const char *key)
{
        return table_find(node_fields, NODE_N_FIELDS, key);
}

void node_rec_done(struct node_rec *rec)
{
        if (!rec)
                return;
        vals_free(rec->val, NODE_N_FIELDS);
        iface_rec_done(&rec->iface);
        *rec = (struct node_rec){};
}

static bool in_head(const char *key)
{
        for (size_t i = 0; i < ELEMENTSOF(iface_head); i++)
                if (streq(iface_head[i], key))
                        return true;
        return false;
}

/* --- parsing ------------------------------------------------------------------------------- */

/* A decimal C int, with an optional '-' (idbm stores ints with atoi; we refuse what it cuts). */
static int parse_int(const char *v, long long *ret)
{
        long long n = 0;
        bool neg = *v == '-';
        const char *p = v + neg;

        if (!*p)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                n = n * 10 + (*p - '0');
                if (n > (long long)INT_MAX + neg)
                        return -ERANGE;
        }
        *ret = neg ? -n : n;
        return 0;
}

static bool algs_ok(const char *v)
{
        char seen[8] = {};
        const char *p = v;

        if (!*v)
                return false;
        while (*p) {
                size_t n = strcspn(p, ",");
                bool found = false;

                for (size_t i = 0; chap_algs[i]; i++)
                        if (strlen(chap_algs[i]) == n && strncmp(chap_algs[i], p, n) == 0) {
                                if (seen[i]++)
                                        return false;
                                found = true;
                        }
                if (!found)
                        return false;
                p += n;
                if (*p == ',' && *++p == '\0')
                        return false;
        }
        return true;
}

/* Check value for field f and store it, canonical, in *slot (an empty string leaves it unset). */
static int set_field(const struct node_field *f, char **slot, const char *value, unsigned lineno,
                     struct iface_error *err)
{
        char buf[32];
        long long n;
        int r;

        switch (f->type) {
        case NODE_FT_STR:
                if (strlen(value) > f->maxlen)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: %s is %zu bytes, over its %u-byte limit", lineno,
                                    f->key, strlen(value), f->maxlen);
                if (!*value)
                        return 0;
                break;
        case NODE_FT_INT:
                r = parse_int(value, &n);
                if (r < 0)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: %s = %.32s is not a decimal int", lineno, f->key,
                                    value);
                (void)snprintf(buf, sizeof(buf), "%lld", n);
                value = buf;
                break;
        case NODE_FT_ENUM: {
                bool ok = false;

                for (size_t i = 0; f->opts[i] && !ok; i++)
                        ok = streq(f->opts[i], value);
                if (!ok)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: %s = %.32s is none of the values iscsiadm knows",
                                    lineno, f->key, value);
                break;
        }
        case NODE_FT_ALGS:
                if (!algs_ok(value))
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: %s = %.64s is not a list of MD5, SHA1, SHA256, "
                                    "SHA3-256",
                                    lineno, f->key, value);
                break;
        case _NODE_FT_MAX:
                return -EINVAL;
        }
        free(*slot);
        *slot = strdup(value);
        return *slot ? 0 : -ENOMEM;
}

static int set_value(struct node_rec *rec, int idx, const char *value, unsigned lineno,
                     struct iface_error *err)
{
        return set_field(&node_fields[idx], &rec->val[idx], value, lineno, err);
}

static int set_iface_value(struct node_rec *rec, int idx, const char *value, unsigned lineno,
                           struct iface_error *err)
{
        const struct iface_field *f = &iface_fields[idx];

        if (f->type == IFACE_FT_STR) {
                if (strlen(value) > f->maxlen)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: iface.%s is %zu bytes, over its %u-byte limit",
                                    lineno, f->key, strlen(value), f->maxlen);
                if (idx == IFACE_F_ISCSI_IFACENAME) {
                        char *n = strdup(value);

                        if (!n)
                                return -ENOMEM;
                        free(rec->iface.name);
                        rec->iface.name = n;
                }
                return iface_rec_set_str(&rec->iface, (size_t)idx, value);
        } else {
                long long n;

                if (parse_int(value, &n) < 0 || n < 0 ||
                    iface_check_number((size_t)idx, n, err) < 0)
                        return fail(err, -EBADMSG, f->key,
                                    "line %u: iface.%s = %.32s is not a number in its range",
                                    lineno, f->key, value);
                rec->iface.num[idx] = (uint32_t)n;
                return 0;
        }
}

static int parse_line(char *line, unsigned lineno, unsigned *seen, unsigned *iface_seen,
                      struct node_rec *rec, struct iface_error *err)
{
        char *key, *value;
        int idx;

        if (!iface_split_key_value(line, &key, &value))
                return fail(err, -EBADMSG, NULL, "line %u: no '=' (expected 'key = value')",
                            lineno);
        if (!*key)
                return fail(err, -EBADMSG, NULL, "line %u: no key before '='", lineno);

        if (strncmp(key, IFACE_PREFIX, strlen(IFACE_PREFIX)) == 0) {
                idx = iface_field_find(key);
                if (idx < 0)
                        return fail(err, -EBADMSG, NULL, "line %u: unknown key '%.64s'", lineno,
                                    key);
                if (iface_seen[idx])
                        return fail(err, -EBADMSG, iface_fields[idx].key,
                                    "line %u: duplicate key %.64s (first on line %u)", lineno, key,
                                    iface_seen[idx]);
                iface_seen[idx] = lineno;
                return set_iface_value(rec, idx, value, lineno, err);
        }

        idx = node_field_find(key);
        if (idx < 0)
                return fail(err, -EBADMSG, NULL, "line %u: unknown key '%.64s'", lineno, key);
        if (seen[idx])
                return fail(err, -EBADMSG, node_fields[idx].key,
                            "line %u: duplicate key %s (first on line %u)", lineno,
                            node_fields[idx].key, seen[idx]);
        seen[idx] = lineno;
        return set_value(rec, idx, value, lineno, err);
}

struct parse_ctx {
        unsigned seen[NODE_N_FIELDS], iface_seen[IFACE_N_FIELDS];
        struct node_rec *rec;
        struct iface_error *err;
};

static int parse_one(char *line, unsigned lineno, void *userdata)
{
        struct parse_ctx *p = userdata;

        return parse_line(line, lineno, p->seen, p->iface_seen, p->rec, p->err);
}

int node_parse_file(const char *data, size_t len, struct node_rec *ret, struct iface_error *err)
{
        struct parse_ctx ctx = { .rec = ret, .err = err };
        int r;

        assert_return(data || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        r = iface_record_lines(data, len, parse_one, &ctx, err);
        if (r < 0)
                return r;

        if (!ret->val[NODE_F_NAME])
                return fail(err, -EBADMSG, node_fields[NODE_F_NAME].key, "no node.name");
        if (!ret->val[NODE_F_TPGT])
                return fail(err, -EBADMSG, node_fields[NODE_F_TPGT].key, "no node.tpgt");
        if (!ret->val[NODE_F_CONN_ADDRESS])
                return fail(err, -EBADMSG, node_fields[NODE_F_CONN_ADDRESS].key,
                            "no node.conn[0].address");
        if (!ret->iface.name)
                return fail(err, -EBADMSG, "iface.iscsi_ifacename", "no iface.iscsi_ifacename");
        return 0;
}

/* --- rendering ----------------------------------------------------------------------------- */

static void put_iface(FILE *f, const struct iface_rec *rec, int idx)
{
        const struct iface_field *fl = &iface_fields[idx];

        if (fl->type == IFACE_FT_STR) {
                const char *v = idx == IFACE_F_ISCSI_IFACENAME ? rec->name : rec->str[idx];

                if (!isempty(v))
                        fprintf(f, IFACE_PREFIX "%s = %s\n", fl->key, v);
        } else if (fl->type == IFACE_FT_INT)
                fprintf(f, IFACE_PREFIX "%s = %d\n", fl->key, (int)(int32_t)rec->num[idx]);
        else
                fprintf(f, IFACE_PREFIX "%s = %" PRIu32 "\n", fl->key, rec->num[idx]);
}

static void put_node(FILE *f, const struct node_rec *rec, size_t from, size_t to)
{
        for (size_t i = from; i < to; i++)
                if (!isempty(rec->val[i]))
                        fprintf(f, "%s = %s\n", node_fields[i].key, rec->val[i]);
}

/*
 * Close the memstream of a rendered record (open_memstream() sets *buf and *len only then) and
 * hand its bytes over.
 */
static int record_finish(FILE *f, char **buf, size_t *len, char **ret, size_t *ret_len)
{
        if (fclose(f) != 0) {
                free(*buf);
                return -ENOMEM;
        }
        *ret = *buf;
        if (ret_len)
                *ret_len = *len;
        return 0;
}

int node_render_file(const struct node_rec *rec, char **ret, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        bool ipv6, tail = false;
        FILE *f;

        assert_return(rec && ret, -EINVAL);

        if (!rec->val[NODE_F_NAME] || !rec->val[NODE_F_TPGT] || !rec->iface.name)
                return -EINVAL;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        ipv6 = iface_rec_is_ipv6(&rec->iface);

        fputs(BEGIN_RECORD "\n", f);
        put_node(f, rec, NODE_F_NAME, NODE_F_DISC_ADDRESS);
        for (size_t i = 0; i < ELEMENTSOF(iface_head); i++)
                put_iface(f, &rec->iface, iface_field_find(iface_head[i]));
        /* The rest of the iface table, from bootproto on, as the template says. */
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                if (streq(iface_fields[i].key, "bootproto"))
                        tail = true;
                if (!tail || in_head(iface_fields[i].key) || !iface_field_in_template(i, ipv6))
                        continue;
                put_iface(f, &rec->iface, (int)i);
        }
        put_node(f, rec, NODE_F_DISC_ADDRESS, NODE_N_FIELDS);
        fputs(END_RECORD "\n", f);
        return record_finish(f, &buf, &len, ret, ret_len);
}

/* --- defaults and new records -------------------------------------------------------------- */

/*
 * usr/idbm.c idbm_node_setup_defaults() with the constants of usr/config.h and
 * usr/initiator.h (2.1.8), as iscsiadm writes them without iscsid (golden C12, S04).
 */
static const struct {
        int idx;
        const char *value;
} compiled_defaults[] = {
        { NODE_F_TPGT, "-1" },
        { NODE_F_STARTUP, "manual" },
        { NODE_F_LEADING_LOGIN, "No" },
        { NODE_F_DISC_PORT, "0" },
        { NODE_F_DISC_TYPE, "static" },
        { NODE_F_INITIAL_CMDSN, "0" },
        { NODE_F_INITIAL_LOGIN_RETRY_MAX, "4" },
        { NODE_F_XMIT_THREAD_PRIORITY, "-20" },
        { NODE_F_CMDS_MAX, "128" },
        { NODE_F_QUEUE_DEPTH, "32" },
        { NODE_F_NR_SESSIONS, "1" },
        { NODE_F_AUTHMETHOD, "None" },
        { NODE_F_CHAP_ALGS, "MD5" },
        { NODE_F_REPLACEMENT_TIMEOUT, "120" },
        { NODE_F_ABORT_TIMEOUT, "15" },
        { NODE_F_LU_RESET_TIMEOUT, "30" },
        { NODE_F_TGT_RESET_TIMEOUT, "30" },
        { NODE_F_HOST_RESET_TIMEOUT, "60" },
        { NODE_F_FAST_ABORT, "Yes" },
        { NODE_F_INITIAL_R2T, "No" },
        { NODE_F_IMMEDIATE_DATA, "Yes" },
        { NODE_F_FIRST_BURST_LENGTH, "262144" },
        { NODE_F_MAX_BURST_LENGTH, "16776192" },
        { NODE_F_DEFAULT_TIME2RETAIN, "0" },
        { NODE_F_DEFAULT_TIME2WAIT, "2" },
        { NODE_F_MAX_CONNECTIONS, "1" },
        { NODE_F_MAX_OUTSTANDING_R2T, "1" },
        { NODE_F_ERL, "0" },
        { NODE_F_SCAN, "auto" },
        { NODE_F_REOPEN_MAX, "0" },
        { NODE_F_CONN_PORT, "3260" },
        { NODE_F_CONN_STARTUP, "manual" },
        { NODE_F_CONN_WINDOW_SIZE, "524288" },
        { NODE_F_CONN_TYPE_OF_SERVICE, "0" },
        { NODE_F_CONN_LOGOUT_TIMEOUT, "15" },
        { NODE_F_CONN_LOGIN_TIMEOUT, "30" },
        { NODE_F_CONN_AUTH_TIMEOUT, "45" },
        { NODE_F_CONN_NOOP_OUT_INTERVAL, "5" },
        { NODE_F_CONN_NOOP_OUT_TIMEOUT, "5" },
        { NODE_F_CONN_MAX_XMIT_DLEN, "0" },
        { NODE_F_CONN_MAX_RECV_DLEN, "262144" },
        { NODE_F_CONN_HEADER_DIGEST, "None" },
        { NODE_F_CONN_DATA_DIGEST, "None" },
        { NODE_F_CONN_IFMARKER, "No" },
        { NODE_F_CONN_OFMARKER, "No" },
};

/* Keys that belong to one record, never to the defaults of all of them. */
static bool is_identity(int idx)
{
        return idx == NODE_F_NAME || idx == NODE_F_TPGT || idx == NODE_F_DISC_ADDRESS ||
               idx == NODE_F_DISC_PORT || idx == NODE_F_DISC_TYPE || idx == NODE_F_CONN_ADDRESS;
}

struct conf_ctx {
        struct node_rec *rec;
        struct iface_error *err;
};

/* One line of iscsid.conf: a node key with its value, or something that is not the node's. */
static int conf_one(char *line, unsigned lineno, void *userdata)
{
        struct conf_ctx *c = userdata;
        char *key, *value;
        int idx;

        if (strncmp(line, "node.", 5) != 0 || !iface_split_key_value(line, &key, &value))
                return 0; /* discovery.*, iscsid.*, or no value: not the node's */
        idx = node_field_find(key);
        if (idx < 0 || is_identity(idx))
                return 0; /* iscsiadm ignores what it does not know here too */
        return set_value(c->rec, idx, value, lineno, c->err);
}

int node_defaults(const char *conf, size_t len, struct node_rec *ret, struct iface_error *err)
{
        assert_return(ret && (conf || len == 0), -EINVAL);

        for (size_t i = 0; i < ELEMENTSOF(compiled_defaults); i++) {
                ret->val[compiled_defaults[i].idx] = strdup(compiled_defaults[i].value);
                if (!ret->val[compiled_defaults[i].idx])
                        return -ENOMEM;
        }
        if (!conf)
                return 0;
        return iface_record_lines(conf, len, conf_one, &(struct conf_ctx){ ret, err }, err);
}

static int set_dup(struct node_rec *rec, int idx, const char *v)
{
        char *d = v ? strdup(v) : NULL;

        if (v && !d)
                return -ENOMEM;
        free(rec->val[idx]);
        rec->val[idx] = d;
        return 0;
}

static int set_int(struct node_rec *rec, int idx, int v)
{
        char buf[16];

        (void)snprintf(buf, sizeof(buf), "%d", v);
        return set_dup(rec, idx, buf);
}

int node_rec_new(const struct node_rec *defaults, const char *target, const char *address, int port,
                 int tpgt, enum node_disc disc, const char *disc_address, int disc_port,
                 const struct iface_rec *iface, struct node_rec *ret)
{
        int r = 0;

        assert_return(defaults && target && address && iface && ret, -EINVAL);

        for (size_t i = 0; i < NODE_N_FIELDS && r >= 0; i++)
                r = set_dup(ret, (int)i, defaults->val[i]);
        if (r >= 0)
                r = set_dup(ret, NODE_F_NAME, target);
        if (r >= 0)
                r = set_int(ret, NODE_F_TPGT, tpgt);
        if (r >= 0)
                r = set_dup(ret, NODE_F_CONN_ADDRESS, address);
        if (r >= 0)
                r = set_int(ret, NODE_F_CONN_PORT, port);
        if (r >= 0)
                r = set_dup(ret, NODE_F_DISC_TYPE,
                            disc == NODE_DISC_SENDTARGETS ? "send_targets" : "static");
        if (r >= 0)
                r = set_dup(ret, NODE_F_DISC_ADDRESS,
                            disc == NODE_DISC_SENDTARGETS ? disc_address : NULL);
        if (r >= 0)
                r = set_int(ret, NODE_F_DISC_PORT, disc == NODE_DISC_SENDTARGETS ? disc_port : 0);
        if (r >= 0)
                r = iface_rec_copy(&ret->iface, iface);
        return r;
}

/* --- the discovery record (send_targets/<ip>,<port>/st_config) ------------------------------ */

static const char *const opts_disc_startup[] = { "manual", "automatic", NULL };
static const char *const opts_st_type[] = {
        "sendtargets", "isns", "offload_send_targets", "slp", "static", "fw", NULL,
};

/* usr/idbm.c idbm_recinfo_discovery() for sendtargets (2.1.8), in its order. */
const struct node_field st_fields[ST_N_FIELDS] = {
        [ST_F_STARTUP] = ENUM("discovery.startup", opts_disc_startup),
        [ST_F_TYPE] = ENUM("discovery.type", opts_st_type),
        [ST_F_ADDRESS] = STR("discovery.sendtargets.address", 255),
        [ST_F_PORT] = INT("discovery.sendtargets.port"),
        [ST_F_AUTHMETHOD] = ENUM("discovery.sendtargets.auth.authmethod", opts_authmethod),
        [ST_F_USERNAME] = STR("discovery.sendtargets.auth.username", 255),
        [ST_F_PASSWORD] = STR("discovery.sendtargets.auth.password", 255),
        [ST_F_USERNAME_IN] = STR("discovery.sendtargets.auth.username_in", 255),
        [ST_F_PASSWORD_IN] = STR("discovery.sendtargets.auth.password_in", 255),
        [ST_F_CHAP_ALGS] = { "node.session.auth.chap_algs", NODE_FT_ALGS, 0, chap_algs },
        [ST_F_LOGIN_TIMEOUT] = INT("discovery.sendtargets.timeo.login_timeout"),
        [ST_F_USE_DISCOVERYD] = ENUM("discovery.sendtargets.use_discoveryd", opts_no_yes),
        [ST_F_DISCOVERYD_POLL_INVAL] = INT("discovery.sendtargets.discoveryd_poll_inval"),
        [ST_F_REOPEN_MAX] = INT("discovery.sendtargets.reopen_max"),
        [ST_F_AUTH_TIMEOUT] = INT("discovery.sendtargets.timeo.auth_timeout"),
        [ST_F_ACTIVE_TIMEOUT] = INT("discovery.sendtargets.timeo.active_timeout"),
        [ST_F_MAX_RECV_DLEN] = INT("discovery.sendtargets.iscsi.MaxRecvDataSegmentLength"),
};

/* idbm_discovery_setup_defaults() for sendtargets (2.1.8), as iscsiadm writes them (C01). */
static const struct {
        int idx;
        const char *value;
} st_compiled_defaults[] = {
        { ST_F_STARTUP, "manual" },    { ST_F_TYPE, "sendtargets" },
        { ST_F_PORT, "3260" },         { ST_F_AUTHMETHOD, "None" },
        { ST_F_CHAP_ALGS, "MD5" },     { ST_F_LOGIN_TIMEOUT, "15" },
        { ST_F_USE_DISCOVERYD, "No" }, { ST_F_DISCOVERYD_POLL_INVAL, "30" },
        { ST_F_REOPEN_MAX, "5" },      { ST_F_AUTH_TIMEOUT, "45" },
        { ST_F_ACTIVE_TIMEOUT, "30" }, { ST_F_MAX_RECV_DLEN, "32768" },
};

void st_rec_done(struct st_rec *rec)
{
        if (!rec)
                return;
        vals_free(rec->val, ST_N_FIELDS);
        *rec = (struct st_rec){};
}

struct st_ctx {
        struct st_rec *rec;
        unsigned seen[ST_N_FIELDS];
        bool defaults; /* reading iscsid.conf: skip what is not a discovery key */
        struct iface_error *err;
};

static int st_one(char *line, unsigned lineno, void *userdata)
{
        struct st_ctx *c = userdata;
        char *key, *value;
        int idx;

        if (!iface_split_key_value(line, &key, &value)) {
                if (c->defaults)
                        return 0;
                return fail(c->err, -EBADMSG, NULL, "line %u: no '=' (expected 'key = value')",
                            lineno);
        }
        idx = table_find(st_fields, ST_N_FIELDS, key);
        if (c->defaults && (idx < 0 || idx == ST_F_ADDRESS || idx == ST_F_PORT || idx == ST_F_TYPE))
                return 0; /* not a default of discovery records */
        if (idx < 0)
                return fail(c->err, -EBADMSG, NULL, "line %u: unknown key '%.64s'", lineno, key);
        if (c->seen[idx] && !c->defaults)
                return fail(c->err, -EBADMSG, st_fields[idx].key,
                            "line %u: duplicate key %s (first on line %u)", lineno,
                            st_fields[idx].key, c->seen[idx]);
        c->seen[idx] = lineno;
        return set_field(&st_fields[idx], &c->rec->val[idx], value, lineno, c->err);
}

int st_parse_file(const char *data, size_t len, struct st_rec *ret, struct iface_error *err)
{
        struct st_ctx ctx = { .rec = ret, .err = err };
        int r;

        assert_return((data || len == 0) && ret, -EINVAL);

        r = iface_record_lines(data, len, st_one, &ctx, err);
        if (r < 0)
                return r;
        if (!ret->val[ST_F_ADDRESS] || !ret->val[ST_F_PORT])
                return fail(err, -EBADMSG, st_fields[ST_F_ADDRESS].key,
                            "no discovery.sendtargets.address and port");
        if (!streq_ptr(ret->val[ST_F_TYPE], "sendtargets"))
                return fail(err, -EBADMSG, st_fields[ST_F_TYPE].key,
                            "only sendtargets discovery records are read");
        return 0;
}

int st_render_file(const struct st_rec *rec, char **ret, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        assert_return(rec && ret, -EINVAL);

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fputs(BEGIN_RECORD "\n", f);
        for (size_t i = 0; i < ST_N_FIELDS; i++)
                if (!isempty(rec->val[i]))
                        fprintf(f, "%s = %s\n", st_fields[i].key, rec->val[i]);
        fputs(END_RECORD "\n", f);
        return record_finish(f, &buf, &len, ret, ret_len);
}

int st_rec_new(const char *conf, size_t conf_len, const char *address, int port, struct st_rec *ret,
               struct iface_error *err)
{
        struct st_ctx ctx = { .rec = ret, .defaults = true, .err = err };
        char buf[16];
        int r;

        assert_return((conf || conf_len == 0) && address && ret, -EINVAL);

        for (size_t i = 0; i < ELEMENTSOF(st_compiled_defaults); i++) {
                ret->val[st_compiled_defaults[i].idx] = strdup(st_compiled_defaults[i].value);
                if (!ret->val[st_compiled_defaults[i].idx])
                        return -ENOMEM;
        }
        if (conf) {
                r = iface_record_lines(conf, conf_len, st_one, &ctx, err);
                if (r < 0)
                        return r;
        }
        (void)snprintf(buf, sizeof(buf), "%d", port);
        ret->val[ST_F_ADDRESS] = strdup(address);
        free(ret->val[ST_F_PORT]);
        ret->val[ST_F_PORT] = strdup(buf);
        return ret->val[ST_F_ADDRESS] && ret->val[ST_F_PORT] ? 0 : -ENOMEM;
}
