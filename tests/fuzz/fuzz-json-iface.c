/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: bytes -> json_loadb() (strict, as api/api.c reads a body) -> the three ways a body
 * becomes a record (api/internal.h): POST (iface_json_to_rec() without a URL name), PUT (with
 * the URL name of a stored record) and PATCH (iface_json_merge_patch() onto a stored record),
 * each followed by iface_validate() as the engine does. A refusal must name a field and a
 * reason. A record that validates must survive both round trips: through its iscsiadm file
 * (render, parse, equal) and through its JSON (iface_json_write(), then PUT it back, equal).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "fuzz.h"
#include "iface.h"
#include "macro.h"

#define MAX_INPUT (64 * 1024) /* the daemon's body limit */

/* The stored records PUT and PATCH apply to: one per key set and per binding kind. */
static struct iface_rec bases[3];
static bool bases_ready;

static void set_key(struct iface_rec *rec, const char *key, const char *value)
{
        int idx = iface_field_find(key);

        FUZZ_CHECK(idx >= 0, "no key %s", key);
        FUZZ_CHECK(iface_rec_set_str(rec, (size_t)idx, value) == 0, "cannot set %s", key);
}

static void bases_init(void)
{
        struct iface_error err = {};

        if (bases_ready)
                return;

        FUZZ_CHECK(iface_rec_init(&bases[0], "iface0") == 0, "out of memory");
        set_key(&bases[0], "net_ifacename", "eth1");
        set_key(&bases[0], "initiatorname", "iqn.2020-01.com.example:host1");
        bases[0].num[iface_field_find("mtu")] = 9000;

        FUZZ_CHECK(iface_rec_init(&bases[1], "eth0-ipv6") == 0, "out of memory");
        set_key(&bases[1], "net_ifacename", "eth0");
        set_key(&bases[1], "ipaddress", "fd00::10");

        FUZZ_CHECK(iface_rec_init(&bases[2], "bnx2i.00:10:18:aa:bb:01") == 0, "out of memory");
        set_key(&bases[2], "hwaddress", "00:10:18:aa:bb:01");
        set_key(&bases[2], "transport_name", "bnx2i");

        for (size_t i = 0; i < ELEMENTSOF(bases); i++)
                FUZZ_CHECK(iface_validate(&bases[i], NULL, &err) == 0, "base '%s' is invalid: %s",
                           bases[i].name, err.reason);
        bases_ready = true;
}

/*
 * A refusal is -EINVAL (or -ENOMEM) and says which field and why: the API's 400 needs both. The
 * field may be "": an unknown key "" is named as it is.
 */
static void check_refusal(int r, const struct iface_error *err, const char *what)
{
        FUZZ_CHECK(r == -EINVAL || r == -ENOMEM, "%s failed with %d", what, r);
        if (r == -ENOMEM)
                return;
        FUZZ_CHECK(err->field, "%s refused without naming a field (%s)", what, err->reason);
        FUZZ_CHECK(err->reason[0], "%s refused '%s' without a reason", what, err->field);
}

/* GET the record as JSON, then PUT that body back: the same record, still valid. */
static void check_json_roundtrip(const struct iface_rec *rec, const struct iface_rec *old,
                                 const char *what)
{
        _cleanup_(iface_rec_done) struct iface_rec back = {};
        struct sbuf b = {};
        struct iface_error err = {};
        json_error_t jerr;
        char *text = NULL;
        size_t len = 0;
        json_t *j;
        int r;

        iface_json_write(&b, rec, NULL);
        r = sbuf_take(&b, &text, &len);
        FUZZ_CHECK(r == 0, "%s: iface_json_write() failed: %d", what, r);

        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        FUZZ_CHECK(j, "%s: iface_json_write() wrote invalid JSON (%s): %s", what, jerr.text, text);
        r = iface_json_to_rec(j, rec->name, &back, &err);
        json_decref(j);
        FUZZ_CHECK(r == 0, "%s: the JSON of '%s' does not PUT back: %s: %s\n%s", what, rec->name,
                   fuzz_str(err.field), err.reason, text);
        FUZZ_CHECK(iface_rec_equal(rec, &back), "%s: the JSON of '%s' PUTs back another record\n%s",
                   what, rec->name, text);
        r = iface_validate(&back, old, &err);
        FUZZ_CHECK(r == 0, "%s: the JSON of '%s' PUT back is invalid: %s: %s\n%s", what, rec->name,
                   fuzz_str(err.field), err.reason, text);
        free(text);
}

static void check_valid(const struct iface_rec *rec, const struct iface_rec *old, const char *what)
{
        FUZZ_CHECK(rec->name && streq_ptr(rec->str[IFACE_F_ISCSI_IFACENAME], rec->name),
                   "%s: valid record '%s' has iscsi_ifacename '%s'", what, fuzz_str(rec->name),
                   fuzz_str(rec->str[IFACE_F_ISCSI_IFACENAME]));
        fuzz_check_file_roundtrip(rec, what);
        check_json_roundtrip(rec, old, what);
}

/* POST: the whole record from the body, which must carry the name. */
static void check_create(const json_t *j)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        int r;

        r = iface_json_to_rec(j, NULL, &rec, &err);
        if (r < 0) {
                check_refusal(r, &err, "POST iface_json_to_rec()");
                return;
        }
        r = iface_validate(&rec, NULL, &err);
        if (r < 0) {
                check_refusal(r, &err, "POST iface_validate()");
                return;
        }
        check_valid(&rec, NULL, "POST");
}

/* PUT: the whole record from the body, named by the URL, replacing old. */
static void check_replace(const json_t *j, const struct iface_rec *old)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        int r;

        r = iface_json_to_rec(j, old->name, &rec, &err);
        if (r < 0) {
                check_refusal(r, &err, "PUT iface_json_to_rec()");
                return;
        }
        FUZZ_CHECK(streq_ptr(rec.name, old->name), "PUT to '%s' built '%s'", old->name,
                   fuzz_str(rec.name));
        r = iface_validate(&rec, old, &err);
        if (r < 0) {
                check_refusal(r, &err, "PUT iface_validate()");
                return;
        }
        check_valid(&rec, old, "PUT");
}

/* PATCH: a merge patch onto a copy of old. */
static void check_patch(const json_t *j, const struct iface_rec *old)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        int r;

        FUZZ_CHECK(iface_rec_copy(&rec, old) == 0, "out of memory");
        r = iface_json_merge_patch(j, &rec, &err);
        if (r < 0) {
                check_refusal(r, &err, "PATCH iface_json_merge_patch()");
                return;
        }
        FUZZ_CHECK(streq_ptr(rec.name, old->name), "PATCH of '%s' renamed it to '%s'", old->name,
                   fuzz_str(rec.name));
        r = iface_validate(&rec, old, &err);
        if (r < 0) {
                check_refusal(r, &err, "PATCH iface_validate()");
                return;
        }
        check_valid(&rec, old, "PATCH");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_error_t jerr;
        json_t *j;

        if (size > MAX_INPUT)
                return 0;
        bases_init();

        j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!j)
                return 0;

        check_create(j);
        for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                check_replace(j, &bases[i]);
                check_patch(j, &bases[i]);
        }
        json_decref(j);
        return 0;
}
