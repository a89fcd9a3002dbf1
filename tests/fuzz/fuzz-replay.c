/* SPDX-License-Identifier: MIT */
/*
 * The unit test fuzz.regressions: feeds the checked-in inputs of every fuzz target to its
 * LLVMFuzzerTestOneInput, without libFuzzer (tests/fuzz/meson.build compiles each target with
 * the entry point renamed). A property that does not hold aborts; the input is the last file
 * printed.
 *
 * usage: fuzz-replay                     every file of tests/fuzz/regressions/<target>/ and
 *                                        tests/fuzz/corpus/<target>/ under $SOURCE_ROOT
 *        fuzz-replay TARGET FILE...      only these files, e.g. a crash file of run.sh
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"

int fuzz_record_one(const uint8_t *data, size_t size);
int fuzz_json_iface_one(const uint8_t *data, size_t size);
int fuzz_router_one(const uint8_t *data, size_t size);
#ifdef HAVE_AUTH_PARSE_BEARER
int fuzz_auth_header_one(const uint8_t *data, size_t size);
#endif

struct target {
        const char *name;
        int (*one)(const uint8_t *data, size_t size);
};

static const struct target targets[] = {
        { "fuzz-record", fuzz_record_one },
        { "fuzz-json-iface", fuzz_json_iface_one },
        { "fuzz-router", fuzz_router_one },
#ifdef HAVE_AUTH_PARSE_BEARER
        { "fuzz-auth-header", fuzz_auth_header_one },
#endif
};

/* Read path whole and run it through t. 0, or -errno if the file cannot be read. */
static int replay_file(const struct target *t, const char *path)
{
        FILE *f = fopen(path, "rb");
        uint8_t *data = NULL;
        size_t size = 0, cap = 0, n;

        if (!f) {
                fprintf(stderr, "fuzz-replay: cannot open %s: %s\n", path, strerror(errno));
                return -errno;
        }
        do {
                if (size == cap) {
                        uint8_t *p;

                        cap = cap ? cap * 2 : 4096;
                        p = realloc(data, cap);
                        if (!p) {
                                free(data);
                                fclose(f);
                                return -ENOMEM;
                        }
                        data = p;
                }
                n = fread(data + size, 1, cap - size, f);
                size += n;
        } while (n > 0);
        if (ferror(f)) {
                fprintf(stderr, "fuzz-replay: cannot read %s\n", path);
                free(data);
                fclose(f);
                return -EIO;
        }
        fclose(f);

        printf("%s %s (%zu bytes)\n", t->name, path, size);
        fflush(stdout);
        (void)t->one(data, size);
        free(data);
        return 0;
}

/* Replay every regular, non-hidden file of dir in name order. The count, or -errno. */
static int replay_dir(const struct target *t, const char *dir, bool must_exist)
{
        struct dirent **ents = NULL;
        int n, count = 0, r = 0;

        n = scandir(dir, &ents, NULL, alphasort);
        if (n < 0) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                fprintf(stderr, "fuzz-replay: cannot list %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;

                if (r == 0 && ents[i]->d_name[0] != '.') {
                        snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
                        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                                r = replay_file(t, path);
                                count++;
                        }
                }
                free(ents[i]);
        }
        free(ents);
        return r < 0 ? r : count;
}

static const struct target *target_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(targets); i++)
                if (streq(targets[i].name, name))
                        return &targets[i];
        return NULL;
}

int main(int argc, char **argv)
{
        const char *root = getenv("SOURCE_ROOT");
        char dir[4096];
        int n;

        if (argc > 1) {
                const struct target *t = target_find(argv[1]);

                if (!t || argc < 3) {
                        fprintf(stderr, "usage: fuzz-replay [TARGET FILE...]; targets:");
                        for (size_t i = 0; i < ELEMENTSOF(targets); i++)
                                fprintf(stderr, " %s", targets[i].name);
                        fprintf(stderr, "\n");
                        return 2;
                }
                for (int i = 2; i < argc; i++)
                        if (replay_file(t, argv[i]) < 0)
                                return 1;
                return 0;
        }

        if (!root) {
                fprintf(stderr, "fuzz-replay: SOURCE_ROOT is not set (meson test sets it)\n");
                return 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                int corpus;

                snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", root, targets[i].name);
                corpus = replay_dir(&targets[i], dir, true);
                if (corpus < 0)
                        return 1;
                snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", root, targets[i].name);
                n = replay_dir(&targets[i], dir, false);
                if (n < 0)
                        return 1;
                printf("fuzz-replay: %s: %d corpus and %d regression inputs, every property "
                       "holds\n",
                       targets[i].name, corpus, n);
        }
        return 0;
}
