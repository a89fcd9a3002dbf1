/* SPDX-License-Identifier: MIT */
/* `iscsi-ifaced token ...`: create, list and revoke API tokens in the database. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "options.h"
#include "store.h"
#include "token-cli.h"
#include "tokens.h"

static void print_time(int64_t usec)
{
        time_t t = (time_t)(usec / 1000000);
        struct tm tm;
        char buf[32];

        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fputs(buf, stdout);
}

/*
 * The token of file: one line, "ifd_<id>_<secret>" and at most a trailing newline (as a
 * Kubernetes Secret or `token create > file` leaves it). The token is never printed.
 */
static int read_token_file(const char *file, char token[static TOKEN_LEN + 2])
{
        char buf[TOKEN_LEN + 3];
        ssize_t n;
        int fd, r = 0;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf));
        if (n < 0)
                r = -errno;
        close(fd);
        if (r < 0)
                return r;
        if (n > 0 && buf[n - 1] == '\n')
                n--;
        if (n != TOKEN_LEN)
                r = -EINVAL;
        else {
                memcpy(token, buf, TOKEN_LEN);
                token[TOKEN_LEN] = 0;
        }
        explicit_bzero(buf, sizeof(buf));
        return r;
}

int token_cli_main(int argc, char *argv[], struct options *o)
{
        enum {
                T_ROLE = 0x200,
                T_NAME,
                T_DB,
                T_CONFIG,
                T_FILE,
                T_REPLACE,
                T_HELP
        };
        static const struct option topts[] = {
                { "role", required_argument, NULL, T_ROLE },
                { "name", required_argument, NULL, T_NAME },
                { "db", required_argument, NULL, T_DB },
                { "config", required_argument, NULL, T_CONFIG },
                { "file", required_argument, NULL, T_FILE },
                { "replace", no_argument, NULL, T_REPLACE },
                { "help", no_argument, NULL, T_HELP },
                {},
        };
        const char *verb, *name = "", *role_s = NULL, *file = NULL;
        bool replace = false;
        struct store *st = NULL;
        struct tokens *t = NULL;
        char actor[32];
        int c, r;

        if (argc < 2) {
                fprintf(stderr, "%s: token: expected create, import, list or revoke\n", PROGRAM);
                return 2;
        }
        verb = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "", topts, NULL)) >= 0) {
                switch (c) {
                case T_ROLE:
                        role_s = optarg;
                        break;
                case T_NAME:
                        name = optarg;
                        break;
                case T_DB:
                        o->db_path = optarg;
                        break;
                case T_CONFIG:
                        if (options_parse_config(optarg, o) != 0)
                                return 2;
                        break;
                case T_FILE:
                        file = optarg;
                        break;
                case T_REPLACE:
                        replace = true;
                        break;
                case T_HELP:
                        options_help();
                        return 0;
                default:
                        return 2;
                }
        }

        snprintf(actor, sizeof(actor), "cli:uid:%u", (unsigned)getuid());
        r = store_open(o->db_path, &st); /* creates and migrates the db if need be */
        if (r >= 0)
                r = token_table_open(o->db_path, &t);
        if (r < 0) {
                fprintf(stderr, "%s: cannot open the database '%s': %s\n", PROGRAM, o->db_path,
                        strerror(-r));
                store_close(st);
                return 1;
        }

        r = 0;
        if (streq(verb, "create")) {
                enum role role = role_from_string(role_s);
                char token[TOKEN_LEN + 1];
                struct token_info ti;

                if (role == ROLE_NONE || optind != argc) {
                        fprintf(stderr,
                                "%s: token create: --role viewer, operator or admin is "
                                "required\n",
                                PROGRAM);
                        r = 2;
                } else if ((r = token_table_create(t, role, name, actor, NULL, token, &ti)) < 0) {
                        fprintf(stderr, "%s: token create: %s\n", PROGRAM,
                                r == -EINVAL ? "--name must be printable ASCII, at most 64" :
                                               strerror(-r));
                        r = 1;
                } else {
                        /* The only time the token is shown: stdout only, never a log. */
                        printf("%s\n", token);
                        fprintf(stderr, "created token %s (role %s); it is not shown again\n",
                                ti.id, role_to_string(ti.role));
                        explicit_bzero(token, sizeof(token));
                }
        } else if (streq(verb, "import")) {
                enum role role = role_from_string(role_s);
                char token[TOKEN_LEN + 2];
                struct token_info ti;
                size_t revoked = 0;

                if (role == ROLE_NONE || !file || optind != argc) {
                        fprintf(stderr,
                                "%s: token import: --role viewer, operator or admin and --file "
                                "FILE are required\n",
                                PROGRAM);
                        r = 2;
                } else if ((r = read_token_file(file, token)) < 0) {
                        fprintf(stderr, "%s: token import: %s: %s\n", PROGRAM, file,
                                r == -EINVAL ? "not one token (ifd_<12 hex>_<43 base64url> and "
                                               "at most a newline)" :
                                               strerror(-r));
                        r = 1;
                } else if ((r = token_table_import(t, role, name, token, replace, actor, &ti,
                                                   &revoked)) < 0) {
                        fprintf(stderr, "%s: token import: %s\n", PROGRAM,
                                r == -EINVAL ? "not a token, or --name is not printable ASCII of "
                                               "at most 64" :
                                r == -EEXIST ? "its id is in the database with another secret or "
                                               "role, or revoked: refused" :
                                               strerror(-r));
                        r = 1;
                } else {
                        fprintf(stderr, "%s token %s (role %s)%s\n",
                                r == 1 ? "already registered:" : "imported", ti.id,
                                role_to_string(ti.role),
                                revoked ? "; revoked the others of its "
                                          "name" :
                                          "");
                        r = 0;
                }
                explicit_bzero(token, sizeof(token));
        } else if (streq(verb, "list")) {
                struct token_info *a = NULL;
                size_t n = 0;

                if ((r = token_table_list(t, &a, &n)) < 0) {
                        fprintf(stderr, "%s: token list: %s\n", PROGRAM, strerror(-r));
                        r = 1;
                } else {
                        printf("ID            ROLE      CREATED               REVOKED               NAME\n");
                        for (size_t i = 0; i < n; i++) {
                                printf("%-13s %-9s ", a[i].id, role_to_string(a[i].role));
                                print_time(a[i].created_usec);
                                fputs("  ", stdout);
                                if (a[i].revoked_usec)
                                        print_time(a[i].revoked_usec);
                                else
                                        fputs("-                   ", stdout);
                                printf("  %s\n", a[i].name);
                        }
                        free(a);
                }
        } else if (streq(verb, "revoke")) {
                if (optind + 1 != argc) {
                        fprintf(stderr, "%s: token revoke: expected one token id\n", PROGRAM);
                        r = 2;
                } else if ((r = token_table_revoke(t, argv[optind], actor, NULL)) < 0) {
                        fprintf(stderr, "%s: token revoke %s: %s\n", PROGRAM, argv[optind],
                                r == -ENOENT   ? "no such token" :
                                r == -EALREADY ? "already revoked" :
                                                 strerror(-r));
                        r = 1;
                } else
                        fprintf(stderr, "revoked token %s\n", argv[optind]);
        } else {
                fprintf(stderr, "%s: token: unknown command '%s' (create, import, list, revoke)\n",
                        PROGRAM, verb);
                r = 2;
        }
        token_table_close(t);
        store_close(st);
        return r;
}
