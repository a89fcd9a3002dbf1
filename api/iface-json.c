/* SPDX-License-Identifier: MIT */
/* struct iface_rec <-> JSON: the only place that knows the JSON field names of an iface. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "engine.h"
#include "internal.h"
#include "macro.h"

static const char *const port_status_names[_ENGINE_PORT_MAX] = {
        [ENGINE_PORT_UNBOUND] = "unbound",
        [ENGINE_PORT_PRESENT] = "present",
        [ENGINE_PORT_MISSING] = "missing",
};

void port_memo_done(struct port_memo *m)
{
        for (size_t i = 0; i < m->n; i++) {
                free(m->e[i].netdev);
                free(m->e[i].hw);
                free(m->e[i].json);
        }
        m->n = 0;
}

static void render_port(struct sbuf *b, const struct iface_rec *rec,
                        const struct iface_json_extra *x);

/* The port view of rec from x->memo, rendered and kept there the first time. */
static void write_port(struct sbuf *b, const struct iface_rec *rec,
                       const struct iface_json_extra *x)
{
        const char *netdev = rec->str[IFACE_F_NET_IFACENAME], *hw = rec->str[IFACE_F_HWADDRESS];
        struct port_memo *m = x->memo;
        struct sbuf v = {};
        char *json;
        size_t len;

        if (m)
                for (size_t i = 0; i < m->n; i++)
                        if (streq_ptr(m->e[i].netdev, netdev) && streq_ptr(m->e[i].hw, hw)) {
                                sbuf_put(b, m->e[i].json, m->e[i].len);
                                return;
                        }
        /* No memo, or a full one: rendered in place, nothing kept. */
        if (!m || m->n == PORT_MEMO_MAX) {
                render_port(b, rec, x);
                return;
        }
        render_port(&v, rec, x);
        if (sbuf_take(&v, &json, &len) < 0) {
                render_port(b, rec, x); /* out of memory: no memo this time */
                return;
        }
        sbuf_put(b, json, len);
        m->e[m->n].netdev = netdev ? strdup(netdev) : NULL;
        m->e[m->n].hw = hw ? strdup(hw) : NULL;
        if ((!netdev || m->e[m->n].netdev) && (!hw || m->e[m->n].hw)) {
                m->e[m->n].json = json;
                m->e[m->n++].len = len;
                return;
        }
        free(m->e[m->n].netdev);
        free(m->e[m->n].hw);
        free(json);
}

/* The read-only view of the port: does the NIC or HBA it binds to exist on this host now? */
static void render_port(struct sbuf *b, const struct iface_rec *rec,
                        const struct iface_json_extra *x)
{
        char warnings[ENGINE_PORT_WARNINGS_MAX][160];
        size_t n = 0;
        enum engine_port_state st = engine_iface_port(rec, x->nics, x->hbas, warnings, &n);

        sbuf_printf(b, ",\"port_status\":\"%s\"", port_status_names[st]);
        if (n == 0)
                return;
        sbuf_puts(b, ",\"warnings\":[");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        sbuf_puts(b, ",");
                sbuf_json_string(b, warnings[i]);
        }
        sbuf_puts(b, "]");
}

/* The members of rec, from "{" on, without the read-only ones and the closing "}". */
static void write_fields(struct sbuf *b, const struct iface_rec *rec)
{
        bool ipv6 = iface_rec_is_ipv6(rec);

        sbuf_puts(b, "{\"name\":");
        sbuf_json_string(b, rec->name);
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                const struct iface_field *f = &iface_fields[i];

                if (!iface_field_in_template(i, ipv6))
                        continue;
                if (f->type == IFACE_FT_STR) {
                        if (isempty(rec->str[i]))
                                continue;
                        sbuf_printf(b, ",\"%s\":", f->key);
                        sbuf_json_string(b, rec->str[i]);
                } else
                        sbuf_printf(b, ",\"%s\":%" PRIu32, f->key, rec->num[i]);
        }
}

/* The read-only members (port_status, warnings, invalid) and the closing "}". */
static void write_tail(struct sbuf *b, const struct iface_rec *rec,
                       const struct iface_json_extra *x)
{
        if (x)
                write_port(b, rec, x);
        if (x && x->invalid) {
                sbuf_puts(b, ",\"invalid\":");
                sbuf_json_string(b, x->invalid);
        }
        sbuf_puts(b, "}");
}

void iface_json_write(struct sbuf *b, const struct iface_rec *rec, const struct iface_json_extra *x)
{
        write_fields(b, rec);
        write_tail(b, rec, x);
}

void iface_json_write_snap(struct sbuf *b, struct iface_snap *s, const struct iface_json_extra *x)
{
        const struct iface_rendered *r = __atomic_load_n(&s->rendered, __ATOMIC_ACQUIRE);

        if (!r) {
                /* First read of this snapshot: render its fields once and keep them on it. */
                struct sbuf f = {};
                struct iface_rendered *mine;
                char *data;
                size_t len;

                write_fields(&f, &s->rec);
                if (sbuf_take(&f, &data, &len) < 0) {
                        iface_json_write(b, &s->rec, x); /* out of memory: no cache this time */
                        return;
                }
                mine = malloc(sizeof(*mine) + len + 1);
                if (!mine) {
                        free(data);
                        iface_json_write(b, &s->rec, x);
                        return;
                }
                mine->len = len;
                memcpy(mine->data, data, len);
                mine->data[len] = 0;
                free(data);
                r = iface_snap_set_rendered(s, mine);
        }
        sbuf_put(b, r->data, r->len);
        write_tail(b, &s->rec, x);
}

_printf_(3, 4) static int fail(struct iface_error *err, const char *field, const char *fmt, ...)
{
        va_list ap;

        err->field = field;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *json_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number with a fraction or exponent";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

/* Set one field from a JSON value; null resets it (string unset, number 0). */
static int set_field(struct iface_rec *rec, const char *key, const json_t *v,
                     struct iface_error *err)
{
        int idx = iface_field_find(key);
        const struct iface_field *f;
        int r;

        /* Read-only fields of a response: a GET body can be PUT back as it is. */
        if (streq(key, "port_status") || streq(key, "warnings") || streq(key, "invalid"))
                return 0;

        if (strncmp(key, "iface.", 6) == 0 || idx < 0) {
                /* The offending field is the unknown key itself (copied: the JSON tree is
                 * gone by the time the error is written). */
                snprintf(err->field_buf, sizeof(err->field_buf), "%s", key);
                if (iface_key_is_dead(key))
                        return fail(err, err->field_buf,
                                    "is defined by open-iscsi but iscsiadm refuses it");
                if (strncmp(key, "iface.", 6) == 0)
                        return fail(err, err->field_buf,
                                    "unknown field: write keys without the 'iface.' prefix");
                return fail(err, err->field_buf, "unknown field");
        }
        f = &iface_fields[idx];

        if (idx == IFACE_F_ISCSI_IFACENAME) {
                if (json_is_null(v) ||
                    (json_is_string(v) && streq(json_string_value(v), rec->name)))
                        return 0;
                return fail(err, f->key, "must equal the name '%s' (it is read-only)", rec->name);
        }

        if (f->type == IFACE_FT_STR) {
                if (json_is_null(v)) {
                        if (idx == IFACE_F_TRANSPORT_NAME)
                                return fail(err, f->key, "is required and cannot be removed");
                        return iface_rec_set_str(rec, (size_t)idx, NULL);
                }
                if (!json_is_string(v))
                        return fail(err, f->key, "must be a string, not %s", json_type_name(v));
                if (json_string_length(v) != strlen(json_string_value(v)))
                        return fail(err, f->key, "must not contain NUL characters");
                if (idx == IFACE_F_TRANSPORT_NAME && json_string_length(v) == 0)
                        return fail(err, f->key, "is required and cannot be empty");
                r = iface_rec_set_str(rec, (size_t)idx, json_string_value(v));
                return r;
        }

        if (json_is_null(v)) {
                rec->num[idx] = 0;
                return 0;
        }
        if (!json_is_integer(v))
                return fail(err, f->key, "must be an integer, not %s", json_type_name(v));
        r = iface_check_number((size_t)idx, json_integer_value(v), err);
        if (r < 0) {
                err->field = f->key;
                return -EINVAL;
        }
        rec->num[idx] = (uint32_t)json_integer_value(v);
        return 0;
}

static int name_from(const json_t *obj, const char *path_name, const char **ret,
                     struct iface_error *err)
{
        const json_t *n = json_object_get(obj, "name");

        if (!n) {
                if (!path_name)
                        return fail(err, "name", "is required");
                *ret = path_name;
                return 0;
        }
        if (!json_is_string(n))
                return fail(err, "name", "must be a string, not %s", json_type_name(n));
        if (json_string_length(n) != strlen(json_string_value(n)))
                return fail(err, "name", "must not contain NUL characters");
        if (path_name && !streq(json_string_value(n), path_name))
                return fail(err, "name", "'%.64s' differs from the name in the URL '%s'",
                            json_string_value(n), path_name);
        *ret = json_string_value(n);
        return 0;
}

int iface_json_to_rec(const json_t *obj, const char *path_name, struct iface_rec *ret,
                      struct iface_error *err)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        const char *name = NULL, *key;
        json_t *v;
        int r;

        if (!json_is_object(obj))
                return fail(err, "body", "must be a JSON object, not %s", json_type_name(obj));
        r = name_from(obj, path_name, &name, err);
        if (r < 0)
                return r;
        r = iface_name_validate(name, err);
        if (r < 0 && !iface_name_is_builtin(name))
                return r;
        r = iface_rec_init(&rec, name);
        if (r < 0)
                return r;

        json_object_foreach ((json_t *)obj, key, v) {
                if (streq(key, "name"))
                        continue;
                r = set_field(&rec, key, v, err);
                if (r < 0)
                        return r;
        }

        *ret = rec;
        memset(&rec, 0, sizeof(rec));
        return 0;
}

int iface_json_merge_patch(const json_t *patch, struct iface_rec *rec, struct iface_error *err)
{
        const char *key;
        json_t *v;
        int r;

        if (!json_is_object(patch))
                return fail(err, "body", "a merge patch must be a JSON object, not %s",
                            json_type_name(patch));

        json_object_foreach ((json_t *)patch, key, v) {
                if (streq(key, "name")) {
                        if (json_is_string(v) && streq(json_string_value(v), rec->name))
                                continue;
                        return fail(err, "name",
                                    "the name cannot be changed (delete and create "
                                    "instead)");
                }
                r = set_field(rec, key, v, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
