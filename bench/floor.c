/* SPDX-License-Identifier: MIT */
/*
 * The durable-write floor of bench/perf.sh: what one writer can do on this disk with the least
 * work a durable mirror of a record needs, in the daemon's own order. For each record:
 *
 *   1. write SIZE bytes to DIR/tmp/NAME, fsync it, rename it to DIR/ifaces/NAME, fsync DIR/ifaces
 *      (the temp and the final directories are on one filesystem, as the daemon's are);
 *   2. one INSERT of a row of ROW_SIZE bytes into DIR/db (sqlite, journal_mode WAL,
 *      synchronous FULL), in a transaction of its own.
 *
 *   floor DIR N SIZE ROW_SIZE PREFIX
 *
 * No HTTP, no JSON, no validation, no locks, no audit row, no intent: a floor, not a rival design.
 * Prints one line: "op=floor n=N total_s=... per_s=... p50_ms=... p99_ms=... max_ms=...".
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static int die(const char *what, const char *detail)
{
        fprintf(stderr, "floor: %s: %s\n", what, detail);
        return 1;
}

/* Steps 1 and 2 of the comment above for one record. Returns 0, or -errno / -1 (sqlite). */
static int write_one(int tmp_fd, int dir_fd, sqlite3_stmt *ins, const char *name, const char *file,
                     size_t size, const char *row, size_t row_size)
{
        int fd = openat(tmp_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        if (write(fd, file, size) != (ssize_t)size || fsync(fd) < 0) {
                int r = -errno;

                close(fd);
                return r ?: -EIO;
        }
        if (close(fd) < 0 || renameat(tmp_fd, name, dir_fd, name) < 0 || fsync(dir_fd) < 0)
                return -errno;

        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, row, (int)row_size, SQLITE_STATIC);
        return sqlite3_step(ins) == SQLITE_DONE ? 0 : -1;
}

int main(int argc, char **argv)
{
        char path[4096], name[256];
        sqlite3 *db = NULL;
        sqlite3_stmt *ins = NULL;
        char *file, *row, *err = NULL;
        double *lat, t0, total;
        long n;
        size_t size, row_size;
        int tmp_fd, dir_fd;

        if (argc != 6) {
                fprintf(stderr, "usage: floor DIR N SIZE ROW_SIZE PREFIX\n");
                return 2;
        }
        n = atol(argv[2]);
        size = (size_t)atol(argv[3]);
        row_size = (size_t)atol(argv[4]);
        if (n < 1 || size < 1 || row_size < 1)
                return die("N, SIZE and ROW_SIZE", "must be positive");
        file = malloc(size);
        row = malloc(row_size);
        lat = calloc((size_t)n, sizeof(double));
        if (!file || !row || !lat)
                return die("memory", strerror(ENOMEM));
        memset(file, 'x', size);
        memset(row, 'x', row_size);

        snprintf(path, sizeof(path), "%s/tmp", argv[1]);
        (void)mkdir(argv[1], 0700);
        (void)mkdir(path, 0700);
        tmp_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        snprintf(path, sizeof(path), "%s/ifaces", argv[1]);
        (void)mkdir(path, 0700);
        dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tmp_fd < 0 || dir_fd < 0)
                return die(argv[1], strerror(errno));

        snprintf(path, sizeof(path), "%s/db", argv[1]);
        if (sqlite3_open(path, &db) != SQLITE_OK)
                return die(path, sqlite3_errmsg(db));
        if (sqlite3_exec(db,
                         "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                         "CREATE TABLE IF NOT EXISTS ifaces (name TEXT PRIMARY KEY,"
                         " content TEXT NOT NULL);",
                         NULL, NULL, &err) != SQLITE_OK)
                return die(path, err);
        if (sqlite3_prepare_v2(db, "INSERT INTO ifaces (name, content) VALUES (?, ?)", -1, &ins,
                               NULL) != SQLITE_OK)
                return die(path, sqlite3_errmsg(db));

        t0 = now_s();
        for (long i = 0; i < n; i++) {
                double t = now_s();
                int r;

                snprintf(name, sizeof(name), "%s%ld", argv[5], i);
                r = write_one(tmp_fd, dir_fd, ins, name, file, size, row, row_size);
                if (r < 0)
                        return die(name, r == -1 ? sqlite3_errmsg(db) : strerror(-r));
                lat[i] = now_s() - t;
        }
        total = now_s() - t0;

        qsort(lat, (size_t)n, sizeof(double), cmp_double);
        printf("op=floor n=%ld total_s=%.3f per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", n,
               total, (double)n / total, lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3,
               lat[n - 1] * 1e3);
        sqlite3_finalize(ins);
        sqlite3_close(db);
        close(tmp_fd);
        close(dir_fd);
        free(file);
        free(row);
        free(lat);
        return 0;
}
