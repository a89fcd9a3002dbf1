/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "hash.h"

uint64_t hash64(const void *data, size_t n)
{
        const unsigned char *p = data;
        uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n, w;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                memcpy(&w, p + i, sizeof(w));
                h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
                h ^= h >> 29;
        }
        for (; i < n; i++) {
                h = (h ^ p[i]) * 0x9e3779b97f4a7c15ULL;
                h ^= h >> 29;
        }
        return h;
}
