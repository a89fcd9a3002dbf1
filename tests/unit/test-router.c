/* SPDX-License-Identifier: MIT */
/* Unit tests of api/router.c: templates, parameters, 404 versus 405 and the Allow header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "api/internal.h"
#include "macro.h"

static int h_list(struct call *c)
{
        return 1;
}

static int h_get(struct call *c)
{
        return 2;
}

static int h_put(struct call *c)
{
        return 3;
}

static const struct route table[] = {
        { "GET", "/api/v1/ifaces", h_list },       { "POST", "/api/v1/ifaces", h_list },
        { "GET", "/api/v1/ifaces/{name}", h_get }, { "PUT", "/api/v1/ifaces/{name}", h_put },
        { "GET", "/api/v1/health", h_list },
};

struct match_case {
        const char *method;
        const char *path;
        enum router_result want;
        route_fn fn;
        const char *param;
        const char *allow;
};

static void test_router_table(void **state)
{
        static const struct match_case cases[] = {
                { "GET", "/api/v1/ifaces", ROUTER_FOUND, h_list, NULL, NULL },
                { "HEAD", "/api/v1/ifaces", ROUTER_FOUND, h_list, NULL, NULL },
                { "GET", "/api/v1/ifaces/iface0", ROUTER_FOUND, h_get, "iface0", NULL },
                { "PUT", "/api/v1/ifaces/a.b:c", ROUTER_FOUND, h_put, "a.b:c", NULL },
                { "GET", "/api/v1/ifaces/", ROUTER_NOT_FOUND, NULL, NULL, NULL },
                { "GET", "/api/v1/ifaces/a/b", ROUTER_NOT_FOUND, NULL, NULL, NULL },
                { "GET", "/api/v1/iface", ROUTER_NOT_FOUND, NULL, NULL, NULL },
                { "GET", "/api/v1/ifacesX", ROUTER_NOT_FOUND, NULL, NULL, NULL },
                { "GET", "/", ROUTER_NOT_FOUND, NULL, NULL, NULL },
                { "GET", "", ROUTER_NOT_FOUND, NULL, NULL, NULL },
                { "DELETE", "/api/v1/ifaces", ROUTER_BAD_METHOD, NULL, NULL, "GET, HEAD, POST" },
                { "DELETE", "/api/v1/ifaces/x", ROUTER_BAD_METHOD, NULL, NULL, "GET, HEAD, PUT" },
                { "POST", "/api/v1/health", ROUTER_BAD_METHOD, NULL, NULL, "GET, HEAD" },
                { "get", "/api/v1/health", ROUTER_BAD_METHOD, NULL, NULL, "GET, HEAD" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct match_case *t = &cases[i];
                const struct route *route = NULL;
                const char *param = "untouched";
                char buf[64], allow[64] = "";
                enum router_result r;

                r = router_match(table, ELEMENTSOF(table), t->method, t->path, &route, buf,
                                 sizeof(buf), &param, allow, sizeof(allow));
                assert_int_equal(r, t->want);
                if (t->want == ROUTER_FOUND) {
                        assert_ptr_equal(route->fn, t->fn);
                        if (t->param)
                                assert_string_equal(param, t->param);
                        else
                                assert_null(param);
                } else
                        assert_null(route);
                if (t->allow)
                        assert_string_equal(allow, t->allow);
        }
}

static void test_router_param_too_long_is_not_found(void **state)
{
        const struct route *route = NULL;
        const char *param = NULL;
        char buf[8], allow[64];
        enum router_result r;

        r = router_match(table, ELEMENTSOF(table), "GET", "/api/v1/ifaces/0123456789", &route, buf,
                         sizeof(buf), &param, allow, sizeof(allow));
        assert_int_equal(r, ROUTER_NOT_FOUND);
}

static void test_router_real_table_is_sane(void **state)
{
        /* Every real route is reachable with its own method and its path pattern. */
        for (size_t i = 0; i < api_n_routes; i++) {
                const struct route *route = NULL;
                const char *param = NULL;
                char path[128], buf[64], allow[64];
                const char *brace = strchr(api_routes[i].path, '{');

                if (brace)
                        snprintf(path, sizeof(path), "%.*sx%s", (int)(brace - api_routes[i].path),
                                 api_routes[i].path, strchr(brace, '}') + 1);
                else
                        snprintf(path, sizeof(path), "%s", api_routes[i].path);
                assert_int_equal(router_match(api_routes, api_n_routes, api_routes[i].method, path,
                                              &route, buf, sizeof(buf), &param, allow,
                                              sizeof(allow)),
                                 ROUTER_FOUND);
                assert_ptr_equal(route, &api_routes[i]);
        }
}

/* The Allow list is found with the caller's buffer size, whatever it is (a 260-byte segment). */
static void test_router_allow_with_a_large_buffer(void **state)
{
        const struct route *route = NULL;
        const char *param = NULL;
        char path[400], buf[300], allow[128];

        snprintf(path, sizeof(path), "/api/v1/ifaces/%0260d", 7);
        assert_int_equal(router_match(api_routes, api_n_routes, "OPTIONS", path, &route, buf,
                                      sizeof(buf), &param, allow, sizeof(allow)),
                         ROUTER_BAD_METHOD);
        assert_non_null(strstr(allow, "GET"));
        assert_non_null(strstr(allow, "DELETE"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_router_table),
                cmocka_unit_test(test_router_param_too_long_is_not_found),
                cmocka_unit_test(test_router_real_table_is_sane),
                cmocka_unit_test(test_router_allow_with_a_large_buffer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
