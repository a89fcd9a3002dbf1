/* SPDX-License-Identifier: MIT */
/*
 * Byte compatibility of engine/iface.c with the real iscsiadm 2.1.8, against the recorded runs in
 * tests/fixtures/golden/ (see its README.md): files round-trip, show and list output match, and
 * records built from scratch render to iscsiadm's bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macro.h"
#include "engine/iface.h"

#define GOLDEN_DIR    "/tests/fixtures/golden"
#define IFACES_PREFIX "== ./ifaces/"

static void rec_donep(struct iface_rec *rec)
{
        iface_rec_done(rec);
}

static char *path_join(const char *a, const char *b, const char *c)
{
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "") >= 0);
        return p;
}

static char *golden_root(void)
{
        const char *src = getenv("SOURCE_ROOT");
        char *p = NULL;

        assert_non_null(src);
        assert_true(asprintf(&p, "%s%s", src, GOLDEN_DIR) >= 0);
        return p;
}

/* Read a whole fixture file; it must exist. */
static char *read_all(const char *path, size_t *ret_len)
{
        _cleanup_(closep) int fd = -1;
        struct stat st;
        char *data;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("cannot open %s: %s", path, strerror(errno));
        assert_int_equal(fstat(fd, &st), 0);
        data = malloc((size_t)st.st_size + 1);
        assert_non_null(data);
        while (n < (size_t)st.st_size) {
                ssize_t k = read(fd, data + n, (size_t)st.st_size - n);

                assert_true(k > 0);
                n += (size_t)k;
        }
        data[n] = '\0';
        if (ret_len)
                *ret_len = n;
        return data;
}

static char *read_case(const char *case_path, const char *file, size_t *ret_len)
{
        _cleanup_(freep) char *root = golden_root();
        _cleanup_(freep) char *p = path_join(root, case_path, file);

        return read_all(p, ret_len);
}

/* One file of a db_after dump. */
struct dump_file {
        char *name;
        const char *data; /* points into the dump */
        size_t len;
};

struct dump {
        char *text;
        struct dump_file files[64];
        size_t n;
};

static void dump_done(struct dump *d)
{
        for (size_t i = 0; i < d->n; i++)
                free(d->files[i].name);
        free(d->text);
        memset(d, 0, sizeof(*d));
}

/*
 * Split "== ./ifaces/NAME (mode NNN)\n<content>" sections. A section runs up to the next line
 * that starts with "== "; directories ("== ./ifaces/ (mode 700)") are skipped.
 */
static void dump_load(const char *case_path, struct dump *d)
{
        size_t len;
        char *p, *end;

        memset(d, 0, sizeof(*d));
        d->text = read_case(case_path, "db_after", &len);
        p = d->text;
        end = d->text + len;
        while (p < end) {
                char *eol = memchr(p, '\n', (size_t)(end - p));
                char *next, *mode;

                assert_non_null(eol);
                if (strncmp(p, IFACES_PREFIX, strlen(IFACES_PREFIX)) != 0 ||
                    p[strlen(IFACES_PREFIX)] == ' ') {
                        p = eol + 1;
                        continue;
                }

                *eol = '\0';
                mode = strstr(p, " (mode ");
                assert_non_null(mode);
                assert_true(d->n < ELEMENTSOF(d->files));
                d->files[d->n].name = strndup(p + strlen(IFACES_PREFIX),
                                              (size_t)(mode - p - strlen(IFACES_PREFIX)));
                assert_non_null(d->files[d->n].name);

                next = eol + 1;
                while (next < end && strncmp(next, "== ", 3) != 0) {
                        char *nl = memchr(next, '\n', (size_t)(end - next));

                        next = nl ? nl + 1 : end;
                }
                d->files[d->n].data = eol + 1;
                d->files[d->n].len = (size_t)(next - (eol + 1));
                d->n++;
                p = next;
        }
}

static const struct dump_file *dump_find(const struct dump *d, const char *name)
{
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->files[i].name, name))
                        return &d->files[i];
        fail_msg("no ifaces/%s in the dump", name);
        return NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All copied case directories ("A/A02_new_iface0", ...), sorted. */
static size_t find_cases(char **cases, size_t max)
{
        static const char *const scenarios[] = { "A", "B", "F", "X" };
        _cleanup_(freep) char *root = golden_root();
        size_t n = 0;

        for (size_t s = 0; s < ELEMENTSOF(scenarios); s++) {
                _cleanup_(freep) char *dir = path_join(root, scenarios[s], NULL);
                DIR *dp = opendir(dir);
                struct dirent *de;

                assert_non_null(dp);
                while ((de = readdir(dp))) {
                        if (de->d_name[0] == '.')
                                continue;
                        assert_true(n < max);
                        assert_true(asprintf(&cases[n++], "%s/%s", scenarios[s], de->d_name) >= 0);
                }
                closedir(dp);
        }
        qsort(cases, n, sizeof(*cases), cmp_str);
        return n;
}

/* "B/B31_file_name_mismatch" -> "B31" */
static void case_id(const char *case_path, char *buf, size_t n)
{
        const char *s = strchr(case_path, '/') + 1;
        size_t k = strcspn(s, "_");

        assert_true(k < n);
        memcpy(buf, s, k);
        buf[k] = '\0';
}

enum expect {
        EXPECT_PARSE_FAILS,        /* our parser refuses it, with this exact error */
        EXPECT_NOT_ISCSIADM_BYTES, /* parses, but iscsiadm did not write these bytes */
        EXPECT_DUMP_ARTIFACT,      /* not a real file: the dump mangled its name */
};

/*
 * Every file of the copied dumps must round-trip, except these. Case ranges are inclusive and
 * compare as strings within one scenario.
 */
/* clang-format off */
static const struct exclusion {
        const char *first, *last, *file;
        enum expect expect;
        const char *field;              /* EXPECT_PARSE_FAILS: err->field and err->reason */
        const char *reason;
        const char *why;
} exclusions[] = {
        { "B29", "B29", "hand", EXPECT_NOT_ISCSIADM_BYTES, NULL, NULL,
          "written by the test script (printf of two lines); B30 makes iscsiadm rewrite it" },
        { "B31", "B38", "filename", EXPECT_PARSE_FAILS, "iscsi_ifacename",
          "line 1: iface.iscsi_ifacename = realname differs from the file name 'filename'",
          "written by the test script; iscsiadm lists it as 'realname' but finds it as "
          "'filename'" },
        { "F14", "F17", "inj", EXPECT_NOT_ISCSIADM_BYTES, NULL, NULL,
          "newline injection: iscsiadm wrote 'iface.net_ifacename = eth7' inside initiatorname, "
          "out of order" },
        { "F15", "F17", "bad", EXPECT_DUMP_ARTIFACT, NULL, NULL,
          "the file is really named 'bad\\nname'; the dump split the name, iscsiadm cannot read "
          "the file" },
        { "X01a", "X01b", "plain", EXPECT_PARSE_FAILS, "dup_addr_detect_cnt",
          "line 11: iface.dup_addr_detect_cnt is an IPv6 key, but the file name has no 'ipv6', so "
          "iscsiadm reads it with the IPv4 key set and rejects the file",
          "iscsiadm wrote IPv6 keys for an IPv6 address on a name without 'ipv6' (SPEC 2.3)" },
        { "X02", "X02", "broken", EXPECT_PARSE_FAILS, NULL, "line 4: unknown key 'iface.bogus_key'",
          "written by the test script with an unknown key" },
        { "X04", "X04", "g1", EXPECT_PARSE_FAILS, "dup_addr_detect_cnt",
          "line 11: iface.dup_addr_detect_cnt is an IPv6 key, but the file name has no 'ipv6', so "
          "iscsiadm reads it with the IPv4 key set and rejects the file",
          "iscsiadm wrote IPv6 keys because 'not-an-ip' has no '.' (SPEC 2.3)" },
};
/* clang-format on */

static const struct exclusion *exclusion_find(const char *case_path, const char *file)
{
        char id[16];

        case_id(case_path, id, sizeof(id));
        for (size_t i = 0; i < ELEMENTSOF(exclusions); i++) {
                const struct exclusion *x = &exclusions[i];

                if (x->first[0] == id[0] && strcmp(id, x->first) >= 0 && strcmp(id, x->last) <= 0 &&
                    streq(file, x->file))
                        return x;
        }
        return NULL;
}

static void check_exclusion(const char *case_path, const struct dump_file *f,
                            const struct exclusion *x)
{
        _cleanup_(rec_donep) struct iface_rec rec = {};
        _cleanup_(freep) char *out = NULL;
        struct iface_error err = {};
        size_t out_len = 0;
        int r;

        if (x->expect == EXPECT_DUMP_ARTIFACT)
                return;

        r = iface_parse_file(f->name, f->data, f->len, &rec, &err);
        if (x->expect == EXPECT_PARSE_FAILS) {
                if (r != -EBADMSG)
                        fail_msg("%s: ifaces/%s: expected -EBADMSG (%s), got %d", case_path,
                                 f->name, x->why, r);
                if (x->field)
                        assert_string_equal(err.field, x->field);
                else
                        assert_null(err.field);
                assert_string_equal(err.reason, x->reason);
                return;
        }

        if (r < 0)
                fail_msg("%s: ifaces/%s: parse failed (%d): %s", case_path, f->name, r, err.reason);
        assert_int_equal(iface_render_file(&rec, &out, &out_len), 0);
        /* if this ever matches, the exclusion is stale and should go */
        if (out_len == f->len && memcmp(out, f->data, f->len) == 0)
                fail_msg("%s: ifaces/%s now round-trips; drop the exclusion (%s)", case_path,
                         f->name, x->why);
}

static void test_golden_files_round_trip(void **state)
{
        char *cases[128];
        unsigned hits[ELEMENTSOF(exclusions)] = {};
        size_t n, checked = 0;

        n = find_cases(cases, ELEMENTSOF(cases));
        assert_true(n >= 40);

        for (size_t c = 0; c < n; c++) {
                struct dump d;

                dump_load(cases[c], &d);
                for (size_t i = 0; i < d.n; i++) {
                        const struct dump_file *f = &d.files[i];
                        const struct exclusion *x = exclusion_find(cases[c], f->name);
                        _cleanup_(rec_donep) struct iface_rec rec = {};
                        _cleanup_(freep) char *out = NULL;
                        struct iface_error err = {};
                        size_t out_len = 0;
                        int r;

                        if (x) {
                                check_exclusion(cases[c], f, x);
                                hits[x - exclusions]++;
                                continue;
                        }

                        r = iface_parse_file(f->name, f->data, f->len, &rec, &err);
                        if (r < 0)
                                fail_msg("%s: ifaces/%s: parse failed (%d): %s", cases[c], f->name,
                                         r, err.reason);
                        assert_int_equal(iface_render_file(&rec, &out, &out_len), 0);
                        if (out_len != f->len || memcmp(out, f->data, f->len) != 0)
                                fail_msg("%s: ifaces/%s does not round-trip:\n--- "
                                         "iscsiadm\n%.*s--- ours\n%s",
                                         cases[c], f->name, (int)f->len, f->data, out);
                        checked++;
                }
                dump_done(&d);
        }

        for (size_t i = 0; i < ELEMENTSOF(exclusions); i++)
                if (hits[i] == 0)
                        fail_msg("exclusion %s..%s ifaces/%s matched no file", exclusions[i].first,
                                 exclusions[i].last, exclusions[i].file);
        for (size_t c = 0; c < n; c++)
                free(cases[c]);

        /* the dumps repeat files, so this counts every (case, file) pair that was compared */
        print_message("round-tripped %zu iscsiadm-written files\n", checked);
        assert_true(checked >= 150);
}

/* clang-format off */
static const struct show_case {
        const char *path;
        const char *name;
} show_cases[] = {
        { "A/A03_show_iface0", "iface0" },
        { "A/A04_show_iface0_op_show", "iface0" },
        { "A/A08_show_default", "default" },
        { "A/A09_show_iser", "iser" },
        { "B/B02_show_bnx2i", "bnx2i.00:10:18:aa:bb:01.ipv4.0" },
        { "B/B03_show_qla_ipv6", "qla4xxx.00:0e:1e:04:8b:2e.ipv6.1" },
        { "B/B07_show_iface0", "iface0" },
        { "B/B20_show_iface0_final", "iface0" },
        { "B/B28_show_ipv6_named", "iface2-ipv6" },
        { "B/B29_handwritten_minimal", "hand" },
        { "F/F09_show_f1", "f1" },
        { "F/F12_show_f1_after", "f1" },
};
/* clang-format on */

static void test_golden_show(void **state)
{
        for (size_t c = 0; c < ELEMENTSOF(show_cases); c++) {
                const struct show_case *sc = &show_cases[c];
                _cleanup_(rec_donep) struct iface_rec rec = {};
                _cleanup_(freep) char *cmd = read_case(sc->path, "cmd", NULL);
                _cleanup_(freep) char *expect = NULL, *out = NULL;
                struct iface_error err = {};
                size_t expect_len = 0, out_len = 0;
                int r;

                assert_non_null(strstr(cmd, sc->name));
                expect = read_case(sc->path, "stdout", &expect_len);

                if (iface_name_is_builtin(sc->name))
                        r = iface_builtin(sc->name, &rec);
                else {
                        struct dump d;
                        const struct dump_file *f;

                        dump_load(sc->path, &d);
                        f = dump_find(&d, sc->name);
                        r = iface_parse_file(f->name, f->data, f->len, &rec, &err);
                        dump_done(&d);
                }
                if (r < 0)
                        fail_msg("%s: cannot load %s (%d): %s", sc->path, sc->name, r, err.reason);

                assert_int_equal(iface_render_show(&rec, &out, &out_len), 0);
                if (out_len != expect_len || memcmp(out, expect, expect_len) != 0)
                        fail_msg("%s: show differs:\n--- iscsiadm\n%s--- ours\n%s", sc->path,
                                 expect, out);
        }
}

/* clang-format off */
static const struct list_case {
        const char *path;
        const char *unreproduced[2];    /* stdout lines of files our parser refuses */
} list_cases[] = {
        { "A/A01_list_empty", {} },
        { "A/A05_list_after_new", {} },
        { "A/A29_list_final", {} },
        { "B/B01_list_autocreates_offload", {} },
        { "B/B34_list_final", { "realname tcp,<empty>,<empty>,eth9,<empty>\n" } },
};
/* clang-format on */

static void append(char **buf, size_t *len, const char *s, size_t n)
{
        *buf = realloc(*buf, *len + n + 1);
        assert_non_null(*buf);
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
}

static void remove_line(char *text, const char *line)
{
        char *p = strstr(text, line);

        assert_non_null(p);
        memmove(p, p + strlen(line), strlen(p + strlen(line)) + 1);
}

static void test_golden_list(void **state)
{
        static const char *const builtins[] = { "default", "iser" };

        for (size_t c = 0; c < ELEMENTSOF(list_cases); c++) {
                const struct list_case *lc = &list_cases[c];
                _cleanup_(freep) char *expect = read_case(lc->path, "stdout", NULL);
                _cleanup_(freep) char *got = NULL;
                size_t got_len = 0, refused = 0, unreproduced = 0;
                struct dump d;

                for (size_t i = 0; i < ELEMENTSOF(lc->unreproduced) && lc->unreproduced[i]; i++) {
                        remove_line(expect, lc->unreproduced[i]);
                        unreproduced++;
                }

                /* the dump lists files in the same (C locale) order as iscsiadm's alphasort */
                dump_load(lc->path, &d);
                for (size_t i = 0; i < d.n; i++) {
                        _cleanup_(rec_donep) struct iface_rec rec = {};
                        _cleanup_(freep) char *out = NULL;
                        struct iface_error err = {};
                        size_t out_len = 0;

                        if (iface_parse_file(d.files[i].name, d.files[i].data, d.files[i].len, &rec,
                                             &err) < 0) {
                                assert_non_null(exclusion_find(lc->path, d.files[i].name));
                                refused++;
                                continue;
                        }
                        assert_int_equal(iface_render_flat(&rec, &out, &out_len), 0);
                        append(&got, &got_len, out, out_len);
                }
                dump_done(&d);

                for (size_t i = 0; i < ELEMENTSOF(builtins); i++) {
                        _cleanup_(rec_donep) struct iface_rec rec = {};
                        _cleanup_(freep) char *out = NULL;
                        size_t out_len = 0;

                        assert_int_equal(iface_builtin(builtins[i], &rec), 0);
                        assert_int_equal(iface_render_flat(&rec, &out, &out_len), 0);
                        append(&got, &got_len, out, out_len);
                }

                assert_int_equal(refused, unreproduced);
                if (!streq(got, expect))
                        fail_msg("%s: listing differs:\n--- iscsiadm\n%s--- ours\n%s", lc->path,
                                 expect, got);
        }
}

/* A record built the way the API builds one: iface_rec_init() and then the fields it was given. */
struct field_value {
        const char *key;
        const char *value;
};

/* clang-format off */
static const struct scratch_case {
        const char *path;
        const char *name;
        struct field_value set[3];
        int validate;                   /* what iface_validate(rec, NULL) returns */
        const char *validate_field;
        bool show;                      /* also compare iface_render_show() with stdout */
} scratch_cases[] = {
        { "A/A02_new_iface0", "iface0", {}, 0, NULL, false },
        { "A/A20_new_ipv6name", "eth0-ipv6", {}, 0, NULL, false },
        { "B/B06_update_ipaddress", "iface0",
          { { "hwaddress", "00:0F:1F:92:6B:BF" }, { "ipaddress", "192.168.10.5" } },
          0, NULL, false },
        { "B/B21_new_with_params", "iface1", { { "net_ifacename", "eth1" } }, 0, NULL, false },
        /* iscsiadm stores it, but a tcp iface cannot bind by IP alone (SPEC E01): we refuse it */
        { "B/B28_show_ipv6_named", "iface2-ipv6",
          { { "ipaddress", "fe80::1" }, { "ipv6_autocfg", "nd" } },
          -EINVAL, "ipaddress", true },
        { "F/F13_hwaddr_case_lookup", "f3",
          { { "hwaddress", "00:10:18:AA:BB:01" }, { "transport_name", "bnx2i" } },
          0, NULL, false },
};
/* clang-format on */

static void test_golden_records_from_scratch(void **state)
{
        for (size_t c = 0; c < ELEMENTSOF(scratch_cases); c++) {
                const struct scratch_case *sc = &scratch_cases[c];
                _cleanup_(rec_donep) struct iface_rec rec = {};
                _cleanup_(freep) char *out = NULL;
                struct iface_error err = {};
                const struct dump_file *f;
                size_t out_len = 0;
                struct dump d;

                assert_int_equal(iface_rec_init(&rec, sc->name), 0);
                for (size_t i = 0; i < ELEMENTSOF(sc->set) && sc->set[i].key; i++) {
                        int idx = iface_field_find(sc->set[i].key);

                        assert_true(idx >= 0);
                        assert_int_equal(iface_rec_set_str(&rec, (size_t)idx, sc->set[i].value), 0);
                }

                assert_int_equal(iface_validate(&rec, NULL, &err), sc->validate);
                if (sc->validate_field)
                        assert_string_equal(err.field, sc->validate_field);

                dump_load(sc->path, &d);
                f = dump_find(&d, sc->name);
                assert_int_equal(iface_render_file(&rec, &out, &out_len), 0);
                if (out_len != f->len || memcmp(out, f->data, f->len) != 0)
                        fail_msg("%s: %s differs:\n--- iscsiadm\n%.*s--- ours\n%s", sc->path,
                                 sc->name, (int)f->len, f->data, out);
                dump_done(&d);

                if (sc->show) {
                        _cleanup_(freep) char *expect = read_case(sc->path, "stdout", NULL);
                        _cleanup_(freep) char *show = NULL;

                        assert_int_equal(iface_render_show(&rec, &show, NULL), 0);
                        assert_string_equal(show, expect);
                }
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_golden_files_round_trip),
                cmocka_unit_test(test_golden_show),
                cmocka_unit_test(test_golden_list),
                cmocka_unit_test(test_golden_records_from_scratch),
        };

        if (!getenv("SOURCE_ROOT")) {
                fprintf(stderr, "SOURCE_ROOT is not set (meson sets it); cannot find the golden "
                                "fixtures\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
