/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: bytes -> iface_parse_file() (engine/iface.h).
 *
 * The input is parsed twice: whole, as the file "iface0"; and, when its first line is a name
 * that iface_name_validate() accepts (as the engine checks a name before it reads the file), the
 * rest as the file of that name. A file that parses must render with iface_render_file() and
 * parse back to an equal record (a round trip). The one allowed exception is iscsiadm's own:
 * its writer picks the key set by the address, its reader by the name (iface_rec_is_ipv6()); a
 * record where they disagree cannot be written back, so iface_validate() must refuse it.
 * Whatever parses must also print (iface_render_show(), iface_render_flat()) and be answered
 * as valid JSON (iface_json_write(), as a GET of a file found on disk is).
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

#define FIXED_NAME "iface0"
#define MAX_INPUT  (64 * 1024) /* iface files are about 1 KiB; the engine reads up to 64 KiB */

/* The other ways a stored record is shown: iscsiadm's two outputs and the API's JSON. */
static void check_views(const struct iface_rec *rec)
{
        _cleanup_free_ char *show = NULL, *flat = NULL, *json = NULL;
        struct sbuf b = {};
        size_t len = 0;
        json_error_t jerr;
        json_t *j, *name;
        int r;

        r = iface_render_show(rec, &show, &len);
        FUZZ_CHECK(r == 0 && strlen(show) == len, "iface_render_show() of '%s': %d", rec->name, r);
        r = iface_render_flat(rec, &flat, &len);
        FUZZ_CHECK(r == 0 && strlen(flat) == len && len > 0 && flat[len - 1] == '\n' &&
                           !memchr(flat, '\n', len - 1),
                   "iface_render_flat() of '%s' is not one line (%d)", rec->name, r);

        iface_json_write(&b, rec, NULL);
        r = sbuf_take(&b, &json, &len);
        FUZZ_CHECK(r == 0, "iface_json_write() of '%s' failed: %d", rec->name, r);
        j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
        FUZZ_CHECK(j, "the JSON of '%s' is invalid (%s): %s", rec->name, jerr.text, json);
        name = json_object_get(j, "name");
        FUZZ_CHECK(json_is_string(name) && streq(json_string_value(name), rec->name),
                   "the JSON of '%s' has another name: %s", rec->name, json);
        json_decref(j);
}

static void check_file(const char *name, const uint8_t *data, size_t size)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        bool ipv6_name = strstr(name, "ipv6") != NULL;
        int r;

        r = iface_parse_file(name, (const char *)data, size, &rec, &err);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG, "parsing '%s' failed with %d, not -EBADMSG", name, r);
                FUZZ_CHECK(err.reason[0] != '\0', "parsing '%s' failed without a reason", name);
                return;
        }

        FUZZ_CHECK(rec.name && streq(rec.name, name), "the record of file '%s' is named '%s'", name,
                   fuzz_str(rec.name));
        FUZZ_CHECK(streq_ptr(rec.str[IFACE_F_ISCSI_IFACENAME], name),
                   "the record of file '%s' has iscsi_ifacename '%s'", name,
                   fuzz_str(rec.str[IFACE_F_ISCSI_IFACENAME]));
        FUZZ_CHECK(!isempty(rec.str[IFACE_F_TRANSPORT_NAME]),
                   "file '%s' parsed without a transport_name", name);
        for (size_t i = 0; i < IFACE_N_FIELDS; i++) {
                bool set = iface_fields[i].type == IFACE_FT_STR ? !isempty(rec.str[i]) :
                                                                  rec.num[i] != 0;

                FUZZ_CHECK(!set || iface_field_in_template(i, ipv6_name),
                           "file '%s' parsed with iface.%s, which is not in its key set", name,
                           iface_fields[i].key);
        }

        check_views(&rec);

        if (iface_rec_is_ipv6(&rec) != ipv6_name) {
                r = iface_validate(&rec, NULL, &err);
                FUZZ_CHECK(r < 0,
                           "'%s' passes iface_validate() although iscsiadm would write it with "
                           "the %s key set and read it with the other one",
                           name, ipv6_name ? "IPv4" : "IPv6");
                return;
        }

        fuzz_check_file_roundtrip(&rec, "fuzz-record");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char name[IFACE_NAME_MAX + 1];
        const uint8_t *nl;
        size_t n;

        if (size > MAX_INPUT)
                return 0;

        check_file(FIXED_NAME, data, size);

        /* "NAME\n" then the file */
        nl = memchr(data, '\n', MIN(size, (size_t)IFACE_NAME_MAX + 1));
        if (!nl)
                return 0;
        n = (size_t)(nl - data);
        memcpy(name, data, n);
        name[n] = '\0';
        if (memchr(data, '\0', n) || iface_name_validate(name, NULL) < 0)
                return 0;
        check_file(name, nl + 1, size - n - 1);
        return 0;
}
