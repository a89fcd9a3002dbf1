/* SPDX-License-Identifier: MIT */
/* Unit tests of api/errors.c: the -errno -> status map and the problem+json body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "api/internal.h"
#include "macro.h"

static void test_errors_status_map(void **state)
{
        static const struct {
                int r;
                int status;
        } cases[] = {
                { -EINVAL, 400 },
                { -EBADMSG, 400 },
                { -ERANGE, 400 },
                { -ENOENT, 404 },
                { -EEXIST, 409 },
                { -EROFS, 503 },
                { -EBUSY, 409 },
                { -ESTALE, 412 },
                { -E2BIG, 413 },
                { -EMEDIUMTYPE, 415 },
                { -ETIMEDOUT, 503 },
                { -ENOSPC, 507 },
                { -EIO, 500 },
                { -ENOMEM, 500 },
                { -EPERM, 409 },
                { 0, 500 },
                /* storage faults under the daemon: a directory at a record's name, a db or
                 * ifaces/ replaced, permission taken away, a damaged db */
                { -EISDIR, 409 },
                { -EBADFD, 503 },
                { -EACCES, 503 },
                { -EUCLEAN, 503 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(errors_status(cases[i].r), cases[i].status);

        /* What the API itself refuses: credentials, roles, methods, rate. */
        assert_int_equal(errors_status(-ENOKEY), 401);
        assert_int_equal(errors_status(-EKEYREJECTED), 403);
        assert_int_equal(errors_status(-EOPNOTSUPP), 405);
        assert_int_equal(errors_status(-EDQUOT), 429);
}

/*
 * Every errno that an engine verb documents (engine.h, token.h, check.h) has a status of its own:
 * only an internal failure (-EIO, -ENOMEM, -EDEADLK: a route left unmarked) is a 500.
 */
static void test_errors_engine_errnos_have_statuses(void **state)
{
        static const int engine_errnos[] = {
                -ENOENT,    -EEXIST, -EPERM, -ESTALE, -EINVAL,  -EBUSY,  -ETIMEDOUT, -EBADFD,
                -ESHUTDOWN, -ENOSPC, -EROFS, -EACCES, -EUCLEAN, -EISDIR, -EAGAIN,    -ERANGE,
        };

        for (size_t i = 0; i < ELEMENTSOF(engine_errnos); i++) {
                int st = errors_status(engine_errnos[i]);

                if (st == 500)
                        fail_msg("%s falls to 500", strerror(-engine_errnos[i]));
        }
        assert_int_equal(errors_status(-EIO), 500);
        assert_int_equal(errors_status(-EDEADLK), 500);
}

static json_t *problem_json(const struct api_response *resp)
{
        json_error_t jerr;
        json_t *j = json_loadb(resp->body, resp->body_len, 0, &jerr);

        assert_non_null(j);
        return j;
}

static void test_errors_problem_body(void **state)
{
        struct api_response resp = {};
        json_t *j;

        errors_problem(&resp, 400, "must be \"x\"\n", "mtu", "rid-1");
        assert_int_equal(resp.status, 400);
        assert_string_equal(resp.content_type, "application/problem+json");
        j = problem_json(&resp);
        assert_string_equal(json_string_value(json_object_get(j, "type")),
                            "urn:iscsi-ifaced:problem:validation");
        assert_string_equal(json_string_value(json_object_get(j, "title")), "Invalid request");
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
        assert_string_equal(json_string_value(json_object_get(j, "detail")), "must be \"x\"\n");
        assert_string_equal(json_string_value(json_object_get(j, "field")), "mtu");
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), "rid-1");
        json_decref(j);
        api_response_done(&resp);

        errors_problem(&resp, 412, NULL, NULL, NULL);
        j = problem_json(&resp);
        assert_null(json_object_get(j, "field"));
        assert_null(json_object_get(j, "detail"));
        assert_string_equal(json_string_value(json_object_get(j, "type")),
                            "urn:iscsi-ifaced:problem:precondition-failed");
        json_decref(j);
        api_response_done(&resp);
}

static void test_errors_from_call_names_field_only_for_400(void **state)
{
        struct api_request req = { .method = "PUT", .path = "/x", .request_id = "r" };
        struct api_response resp = {};
        struct call c = { .req = &req, .resp = &resp };
        json_t *j;

        c.err.field = "hwaddress";
        snprintf(c.err.reason, sizeof(c.err.reason), "bad");
        errors_from_call(&c, -EINVAL);
        j = problem_json(&resp);
        assert_string_equal(json_string_value(json_object_get(j, "field")), "hwaddress");
        assert_string_equal(json_string_value(json_object_get(j, "detail")), "bad");
        json_decref(j);
        api_response_done(&resp);

        errors_from_call(&c, -EEXIST);
        assert_int_equal(resp.status, 409);
        j = problem_json(&resp);
        assert_null(json_object_get(j, "field"));
        json_decref(j);
        api_response_done(&resp);

        /* A 5xx without detail says what failed. */
        c.err = (struct iface_error){};
        errors_from_call(&c, -EIO);
        assert_int_equal(resp.status, 500);
        j = problem_json(&resp);
        assert_string_equal(json_string_value(json_object_get(j, "detail")), strerror(EIO));
        json_decref(j);
        api_response_done(&resp);
}

static void test_errors_json_string_escapes(void **state)
{
        struct sbuf b = {};
        char *out;

        sbuf_json_string(&b, "a\"b\\c\n\x01\x7f\xc3\xa9");
        assert_int_equal(sbuf_take(&b, &out, NULL), 0);
        assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00c3\\u00a9\"");
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_errors_status_map),
                cmocka_unit_test(test_errors_engine_errnos_have_statuses),
                cmocka_unit_test(test_errors_problem_body),
                cmocka_unit_test(test_errors_from_call_names_field_only_for_400),
                cmocka_unit_test(test_errors_json_string_escapes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
