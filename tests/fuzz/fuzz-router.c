/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: bytes -> router_match() over the real route table (api/routes.c).
 *
 * Input: the first byte picks the method (its low 3 bits: GET HEAD POST PUT PATCH DELETE
 * OPTIONS, or "get" in lower case) and the buffer sizes (its high bits: mostly the sizes
 * api/api.c uses, sometimes tiny ones); the rest, up to a NUL, is the path. The result is
 * checked against a plain re-implementation of the matching rule: FOUND is the first route
 * whose template matches the path and whose method is the wanted one (HEAD wants GET), with
 * the parameter in its buffer; NOT_FOUND means no template matches; BAD_METHOD means some
 * template matches, none with the method, and Allow lists exactly their methods.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "fuzz.h"
#include "macro.h"

#define MAX_INPUT 4096

static const char *const methods[] = {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get",
};

/* { param_size, allow_size }: index 0 is what api_handle() passes. */
static const size_t sizes[][2] = {
        { 256, 128 }, { 1, 1 }, { 2, 2 }, { 7, 9 }, { 16, 16 }, { 64, 32 },
};

/*
 * The reference rule: does template tmpl match path? A "{...}" segment takes one non-empty
 * segment shorter than param_size; everything else must be equal. *param gets the segment.
 */
static bool ref_match(const char *tmpl, const char *path, size_t param_size, const char **param,
                      size_t *param_len)
{
        const char *open = strchr(tmpl, '{');
        const char *close, *end;
        size_t pre, n;

        *param = NULL;
        *param_len = 0;
        if (!open)
                return streq(tmpl, path);

        close = strchr(open, '}');
        FUZZ_CHECK(close, "route template '%s' has no '}'", tmpl);
        FUZZ_CHECK(!strchr(close, '{'), "route template '%s' has two parameters", tmpl);
        pre = (size_t)(open - tmpl);
        if (strncmp(tmpl, path, pre) != 0)
                return false;
        end = strchr(path + pre, '/');
        n = end ? (size_t)(end - (path + pre)) : strlen(path + pre);
        if (n == 0 || n >= param_size)
                return false;
        if (!streq(close + 1, path + pre + n))
                return false;
        *param = path + pre;
        *param_len = n;
        return true;
}

/* true if the comma-separated list has item m. */
static bool allow_has(const char *allow, const char *m)
{
        size_t n = strlen(m);

        for (const char *p = allow; p && *p;) {
                const char *comma = strstr(p, ", ");
                size_t len = comma ? (size_t)(comma - p) : strlen(p);

                if (len == n && strncmp(p, m, n) == 0)
                        return true;
                p = comma ? comma + 2 : NULL;
        }
        return false;
}

static void check(const char *method, const char *path, size_t param_size, size_t allow_size)
{
        const char *want = streq(method, "HEAD") ? "GET" : method;
        const struct route *route = NULL, *first = NULL;
        const char *param = (const char *)1, *ref_param = NULL;
        size_t ref_len = 0, first_len = 0, known = 0, allow_len = 0;
        char *param_buf = malloc(param_size), *allow = malloc(allow_size);
        const char *first_param = NULL;
        enum router_result res;

        FUZZ_CHECK(param_buf && allow, "out of memory");
        memset(param_buf, 'P', param_size);
        memset(allow, 'A', allow_size);

        /* the reference: which templates match, and the first one with the method */
        for (size_t i = 0; i < api_n_routes; i++) {
                if (!ref_match(api_routes[i].path, path, param_size, &ref_param, &ref_len))
                        continue;
                known++;
                if (!first && streq(api_routes[i].method, want)) {
                        first = &api_routes[i];
                        first_param = ref_param;
                        first_len = ref_len;
                }
        }

        res = router_match(api_routes, api_n_routes, method, path, &route, param_buf, param_size,
                           &param, allow, allow_size);
        switch (res) {
        case ROUTER_FOUND:
                FUZZ_CHECK(first, "%s '%s' (param buffer %zu) FOUND %s %s, but no route matches",
                           method, path, param_size, route ? route->method : "-",
                           route ? route->path : "-");
                FUZZ_CHECK(route == first, "%s '%s' FOUND %s %s, not the first match %s %s", method,
                           path, route ? route->method : "-", route ? route->path : "-",
                           first->method, first->path);
                FUZZ_CHECK(streq(route->method, want), "%s '%s' FOUND a %s route", method, path,
                           route->method);
                if (!first_param) {
                        FUZZ_CHECK(!param, "%s '%s' FOUND %s with a parameter", method, path,
                                   route->path);
                        break;
                }
                FUZZ_CHECK(param == param_buf, "%s '%s': the parameter is not in param_buf", method,
                           path);
                FUZZ_CHECK(memchr(param_buf, '\0', param_size),
                           "%s '%s': the parameter is not NUL-terminated in its %zu bytes", method,
                           path, param_size);
                FUZZ_CHECK(strlen(param) == first_len && memcmp(param, first_param, first_len) == 0,
                           "%s '%s': parameter '%s', want '%.*s'", method, path, param,
                           (int)first_len, first_param);
                FUZZ_CHECK(!strchr(param, '/') && param[0], "%s '%s': bad parameter '%s'", method,
                           path, param);
                break;
        case ROUTER_NOT_FOUND:
                FUZZ_CHECK(known == 0,
                           "%s '%s' (param buffer %zu): NOT_FOUND, but %zu routes match", method,
                           path, param_size, known);
                break;
        case ROUTER_BAD_METHOD:
                FUZZ_CHECK(known > 0 && !first,
                           "%s '%s' (param buffer %zu): BAD_METHOD, but %zu routes match (%s)",
                           method, path, param_size, known, first ? first->path : "none with it");
                if (allow_size == 0)
                        break;
                FUZZ_CHECK(memchr(allow, '\0', allow_size),
                           "%s '%s': Allow is not NUL-terminated in its %zu bytes", method, path,
                           allow_size);
                allow_len = strlen(allow);
                FUZZ_CHECK(allow_size == 1 || allow_len > 0, "%s '%s': BAD_METHOD with empty Allow",
                           method, path);
                if (allow_size != sizes[0][1])
                        break; /* small buffers: only termination is checked */
                FUZZ_CHECK(!allow_has(allow, want), "%s '%s': Allow '%s' has the method", method,
                           path, allow);
                for (size_t i = 0; i < api_n_routes; i++) {
                        if (!ref_match(api_routes[i].path, path, param_size, &ref_param, &ref_len))
                                continue;
                        FUZZ_CHECK(allow_has(allow, api_routes[i].method),
                                   "%s '%s': Allow '%s' lacks %s", method, path, allow,
                                   api_routes[i].method);
                        if (streq(api_routes[i].method, "GET"))
                                FUZZ_CHECK(allow_has(allow, "HEAD"),
                                           "%s '%s': Allow '%s' lacks HEAD", method, path, allow);
                }
                break;
        default:
                FUZZ_CHECK(false, "%s '%s': router_match() returned %d", method, path, (int)res);
        }

        free(param_buf);
        free(allow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *method;
        char *path;
        size_t s;

        if (size < 1 || size > MAX_INPUT)
                return 0;

        method = methods[data[0] & 7];
        s = (data[0] >> 3) % 8; /* 0-2: the real sizes, 3-7: small ones */
        s = s < 3 ? 0 : s - 2;

        /* an exact-size copy, so that reading past the path's NUL is caught */
        path = malloc(size);
        FUZZ_CHECK(path, "out of memory");
        memcpy(path, data + 1, size - 1);
        path[size - 1] = '\0';

        check(method, path, sizes[s][0], sizes[s][1]);
        if (s != 0)
                check(method, path, sizes[0][0], sizes[0][1]);
        free(path);
        return 0;
}
