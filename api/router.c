/* SPDX-License-Identifier: MIT */
/* Path matching over the route table: "{param}" segments, 404 versus 405 with Allow. */
#include <stdio.h>

#include "internal.h"
#include "macro.h"

/*
 * Match path against pattern; a "{...}" segment captures one non-empty segment into param (of
 * param_size), or, with param NULL, is only checked to fit in param_size.
 */
static bool path_match(const char *pattern, const char *path, char *param, size_t param_size,
                       bool *has_param)
{
        *has_param = false;
        while (*pattern && *path) {
                if (*pattern == '{') {
                        const char *end = strchr(path, '/');
                        size_t n = end ? (size_t)(end - path) : strlen(path);

                        if (n == 0 || n >= param_size)
                                return false;
                        if (param) {
                                memcpy(param, path, n);
                                param[n] = 0;
                        }
                        *has_param = true;
                        path += n;
                        pattern = strchr(pattern, '}');
                        if (!pattern)
                                return false;
                        pattern++;
                        continue;
                }
                if (*pattern != *path)
                        return false;
                pattern++;
                path++;
        }
        return !*pattern && !*path;
}

size_t router_path_index(const struct route *routes, size_t n, const char *path)
{
        char param[256];
        bool has_param;

        for (size_t i = 0; i < n; i++)
                if (path_match(routes[i].path, path, param, sizeof(param), &has_param))
                        return i;
        return n;
}

enum router_result router_match(const struct route *routes, size_t n, const char *method,
                                const char *path, const struct route **ret_route, char *param_buf,
                                size_t param_size, const char **ret_param, char *allow,
                                size_t allow_size)
{
        const char *want = streq(method, "HEAD") ? "GET" : method;
        bool path_known = false, has_param;
        size_t used = 0;

        for (size_t i = 0; i < n; i++) {
                if (!path_match(routes[i].path, path, param_buf, param_size, &has_param))
                        continue;
                path_known = true;
                if (streq(routes[i].method, want)) {
                        *ret_route = &routes[i];
                        *ret_param = has_param ? param_buf : NULL;
                        return ROUTER_FOUND;
                }
        }
        if (!path_known)
                return ROUTER_NOT_FOUND;

        if (allow_size)
                allow[0] = 0;
        for (size_t i = 0; i < n; i++) {
                if (!path_match(routes[i].path, path, NULL, param_size, &has_param))
                        continue;
                used += (size_t)snprintf(allow + used, used < allow_size ? allow_size - used : 0,
                                         "%s%s", used ? ", " : "", routes[i].method);
                if (streq(routes[i].method, "GET"))
                        used += (size_t)snprintf(
                                allow + used, used < allow_size ? allow_size - used : 0, ", HEAD");
        }
        return ROUTER_BAD_METHOD;
}
