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
 *   floor DIR N SIZE ROW_SIZE PREFIX [WRITERS]
 *
 * No HTTP, no JSON, no validation, no locks, no audit row, no intent: a floor, not a rival design.
 * Prints one line: "op=floor n=N total_s=... per_s=... p50_ms=... p99_ms=... max_ms=...".
 *
 * With WRITERS > 1, the group floor: what the same steps can do when WRITERS writers batch them
 * as the daemon's group commit does (engine/group.c), still with nothing else. Each writer, a
 * record at a time: write its file to DIR/tmp/NAME and fsync it, then queue it. Whoever finds no
 * batch being made leads one: it takes every record queued, INSERTs their rows in one
 * transaction (synchronous FULL), renames each file into DIR/ifaces/, fsyncs DIR/ifaces once,
 * and wakes their writers. A record's time runs from its file's creation to that wake-up. The
 * line also gives the mean batch, and the process's CPU time and voluntary context switches a
 * record ("op=group-floor ... batch=... cpu_us=... vcsw=...").
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* The floor itself: one writer, a record at a time. */
static int single_main(int tmp_fd, int dir_fd, sqlite3 *db, sqlite3_stmt *ins, long n,
                       const char *file, size_t size, const char *row, size_t row_size,
                       const char *prefix, double *lat)
{
        char name[256];
        double t0, total;

        t0 = now_s();
        for (long i = 0; i < n; i++) {
                double t = now_s();
                int r;

                snprintf(name, sizeof(name), "%s%ld", prefix, i);
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
        return 0;
}

/* --- the group floor ------------------------------------------------------------------------- */

struct rec {
        long i;
        double t0;
        bool done;
        pthread_cond_t cond;
        struct rec *next;
};

static struct group {
        int tmp_fd, dir_fd;
        sqlite3 *db;
        sqlite3_stmt *ins;
        const char *prefix, *file, *row;
        size_t size, row_size;
        long n, next_i;
        double *lat;
        pthread_mutex_t lock;
        struct rec *head, **tail;
        bool leading;
        long batches;
        const char *failed; /* the first error, reported by main() */
} G = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Keep the first failure; under G.lock. */
static void group_fail(const char *what)
{
        if (!G.failed)
                G.failed = what;
}

/* One batch of records, taken from the queue by its leader (G.lock not held): NULL, or what
 * failed (the leader keeps the first under G.lock). */
static const char *group_commit(struct rec *b)
{
        char name[256];

        if (sqlite3_exec(G.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
                return "BEGIN";
        for (struct rec *r = b; r; r = r->next) {
                snprintf(name, sizeof(name), "%s%ld", G.prefix, r->i);
                sqlite3_reset(G.ins);
                sqlite3_bind_text(G.ins, 1, name, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(G.ins, 2, G.row, (int)G.row_size, SQLITE_STATIC);
                if (sqlite3_step(G.ins) != SQLITE_DONE)
                        return "INSERT";
        }
        if (sqlite3_exec(G.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                return "COMMIT";
        for (struct rec *r = b; r; r = r->next) {
                snprintf(name, sizeof(name), "%s%ld", G.prefix, r->i);
                if (renameat(G.tmp_fd, name, G.dir_fd, name) < 0)
                        return "rename";
        }
        return fsync(G.dir_fd) < 0 ? "fsync of the directory" : NULL;
}

static void *group_writer(void *arg)
{
        char name[256];

        (void)arg;
        for (;;) {
                struct rec r = { .t0 = now_s() };
                int fd;

                pthread_mutex_lock(&G.lock);
                r.i = G.next_i++;
                pthread_mutex_unlock(&G.lock);
                if (r.i >= G.n)
                        return NULL;
                snprintf(name, sizeof(name), "%s%ld", G.prefix, r.i);
                fd = openat(G.tmp_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || write(fd, G.file, G.size) != (ssize_t)G.size || fsync(fd) < 0 ||
                    close(fd) < 0) {
                        pthread_mutex_lock(&G.lock);
                        group_fail("a record's file");
                        pthread_mutex_unlock(&G.lock);
                        return NULL;
                }
                pthread_cond_init(&r.cond, NULL);
                pthread_mutex_lock(&G.lock);
                *G.tail = &r;
                G.tail = &r.next;
                while (!r.done) {
                        struct rec *b, *next;
                        const char *what;

                        if (G.leading) {
                                pthread_cond_wait(&r.cond, &G.lock);
                                continue;
                        }
                        /* Lead: everything queued now is one batch. */
                        G.leading = true;
                        b = G.head;
                        G.head = NULL;
                        G.tail = &G.head;
                        pthread_mutex_unlock(&G.lock);
                        what = group_commit(b);
                        pthread_mutex_lock(&G.lock);
                        if (what)
                                group_fail(what);
                        G.batches++;
                        for (struct rec *x = b; x; x = next) {
                                next = x->next;
                                G.lat[x->i] = now_s() - x->t0;
                                x->done = true;
                                if (x != &r)
                                        pthread_cond_signal(&x->cond);
                        }
                        G.leading = false;
                        if (G.head) /* the oldest waiting leads next */
                                pthread_cond_signal(&G.head->cond);
                }
                pthread_mutex_unlock(&G.lock);
                pthread_cond_destroy(&r.cond);
        }
}

static int group_main(int tmp_fd, int dir_fd, sqlite3 *db, sqlite3_stmt *ins, long n,
                      const char *file, size_t size, const char *row, size_t row_size,
                      const char *prefix, long writers)
{
        pthread_t *t = calloc((size_t)writers, sizeof(*t));
        double t0, total;
        struct rusage ru;
        long started = 0;

        G.tmp_fd = tmp_fd;
        G.dir_fd = dir_fd;
        G.db = db;
        G.ins = ins;
        G.prefix = prefix;
        G.file = file;
        G.row = row;
        G.size = size;
        G.row_size = row_size;
        G.n = n;
        G.lat = calloc((size_t)n, sizeof(double));
        G.tail = &G.head;
        if (!t || !G.lat)
                return die("memory", strerror(ENOMEM));
        t0 = now_s();
        for (; started < writers; started++)
                if (pthread_create(&t[started], NULL, group_writer, NULL) != 0)
                        break;
        for (long i = 0; i < started; i++)
                pthread_join(t[i], NULL);
        total = now_s() - t0;
        if (started < writers)
                return die("threads", "could not start them all");
        if (G.failed)
                return die("group floor", G.failed);
        getrusage(RUSAGE_SELF, &ru);
        qsort(G.lat, (size_t)n, sizeof(double), cmp_double);
        printf("op=group-floor writers=%ld n=%ld total_s=%.3f per_s=%.1f p50_ms=%.3f p99_ms=%.3f "
               "max_ms=%.3f batch=%.1f cpu_us=%.1f vcsw=%.2f\n",
               writers, n, total, (double)n / total, G.lat[n / 2] * 1e3, G.lat[n * 99 / 100] * 1e3,
               G.lat[n - 1] * 1e3, (double)n / (double)G.batches,
               ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6) *
                       1e6 / (double)n,
               (double)ru.ru_nvcsw / (double)n);
        free(t);
        free(G.lat);
        return 0;
}

int main(int argc, char **argv)
{
        char path[4096];
        sqlite3 *db = NULL;
        sqlite3_stmt *ins = NULL;
        char *file, *row, *err = NULL;
        double *lat;
        long n, writers = 1;
        size_t size, row_size;
        int tmp_fd, dir_fd, r;

        if (argc != 6 && argc != 7) {
                fprintf(stderr, "usage: floor DIR N SIZE ROW_SIZE PREFIX [WRITERS]\n");
                return 2;
        }
        if (argc == 7)
                writers = atol(argv[6]);
        n = atol(argv[2]);
        size = (size_t)atol(argv[3]);
        row_size = (size_t)atol(argv[4]);
        if (n < 1 || size < 1 || row_size < 1 || writers < 1 || writers > 1024)
                return die("N, SIZE, ROW_SIZE and WRITERS", "must be positive (WRITERS <= 1024)");
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

        r = writers > 1 ? group_main(tmp_fd, dir_fd, db, ins, n, file, size, row, row_size, argv[5],
                                     writers) :
                          single_main(tmp_fd, dir_fd, db, ins, n, file, size, row, row_size,
                                      argv[5], lat);
        sqlite3_finalize(ins);
        sqlite3_close(db);
        close(tmp_fd);
        close(dir_fd);
        free(file);
        free(row);
        free(lat);
        return r;
}
