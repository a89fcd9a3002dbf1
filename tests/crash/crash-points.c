/* SPDX-License-Identifier: MIT */
/*
 * crash.points: for each named step of the write protocol and each kind of write, a child process
 * dies (_exit) at that step; the parent reopens the engine and checks that both mirrors agree on
 * wholly the old or the new version, with no temp file, intent or iscsiadm lock left behind.
 *
 * Which version must win follows DESIGN.md §2: recovery completes an intent whose content reached
 * ifaces/ and drops any other, so a crash before the rename keeps the old version and a crash at
 * or after it yields the new one. Exit: 0 pass, 1 a check failed, 99 the harness broke.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "iface.h"
#include "log.h"
#include "macro.h"

#define EXIT_CRASHED     9 /* the child died at the fault point */
#define EXIT_OP_FAILED   3 /* the child's op returned an error */
#define EXIT_OPEN_FAILED 4 /* the child could not open the engine */
#define EXIT_HARNESS     99
#define LOCK_TIMEOUT_MS  3000
#define NAME             "c0"   /* the record the op writes */
#define BYSTANDER        "keep" /* a record no op touches */

enum op_kind {
        OP_CREATE,
        OP_UPDATE,
        OP_DELETE,
        _OP_MAX,
};

static const char *const op_names[_OP_MAX] = { "create", "update", "delete" };

enum outcome {
        OUTCOME_OLD,
        OUTCOME_NEW,
};

static const struct point {
        const char *name;
        enum outcome after_crash;
        bool on_delete; /* reached by a delete (it writes no file) */
} points[] = {
        { "engine-before-intent", OUTCOME_OLD, true },
        { "engine-intent-committed", OUTCOME_OLD, true },
        { "mirror-tmp-written", OUTCOME_OLD, false },
        { "mirror-renamed", OUTCOME_NEW, false },
        { "engine-file-written", OUTCOME_NEW, true },
        { "engine-row-committed", OUTCOME_NEW, true },
};

struct tcase {
        const struct point *point;
        enum op_kind op;
        char dir[512];
        char root[600];
        char db[600];
        char lock_dir[600];
        char *old_content; /* NULL = absent */
        char *new_content; /* NULL = absent */
        char *bystander_content;
        unsigned failures;
};

/* The point the child dies at; set only in the child, after the engine is open. */
static const char *crash_at;

static void crash_hook(const char *point)
{
        if (crash_at && streq(point, crash_at))
                _exit(EXIT_CRASHED);
}

_Noreturn _printf_(1, 2) static void harness_fail(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "crash.points: harness error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_HARNESS);
}

_printf_(3, 4) static bool check(struct tcase *t, bool ok, const char *fmt, ...)
{
        va_list ap;

        if (ok)
                return true;
        fprintf(stderr, "crash.points: FAIL %s at %s: ", op_names[t->op], t->point->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        t->failures++;
        return false;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        (void)remove(path);
        return 0;
}

static char *read_file(const char *path)
{
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        for (;;) {
                char *p = realloc(buf, n + 4096 + 1);
                size_t k;

                if (!p)
                        harness_fail("out of memory");
                buf = p;
                k = fread(buf + n, 1, 4096, f);
                n += k;
                buf[n] = 0;
                if (k == 0)
                        break;
        }
        fclose(f);
        return TAKE_PTR(buf);
}

static void rec_make(struct iface_rec *rec, const char *name, const char *iname, uint32_t port,
                     uint32_t mtu, const char *vlan_state)
{
        int r;

        r = iface_rec_init(rec, name);
        if (r >= 0)
                r = iface_rec_set_str(rec, (size_t)iface_field_find("initiatorname"), iname);
        if (r >= 0 && vlan_state)
                r = iface_rec_set_str(rec, (size_t)iface_field_find("vlan_state"), vlan_state);
        if (r < 0)
                harness_fail("building record '%s': %s", name, strerror(-r));
        rec->num[iface_field_find("port")] = port;
        rec->num[iface_field_find("mtu")] = mtu;
}

static void old_rec(struct iface_rec *rec)
{
        rec_make(rec, NAME, "iqn.2020-01.com.example:old", 1, 0, "enable");
}

static void new_rec(struct iface_rec *rec)
{
        rec_make(rec, NAME, "iqn.2020-01.com.example:new", 2, 9000, NULL);
}

static char *render(const struct iface_rec *rec)
{
        char *content = NULL;
        size_t len = 0;
        int r = iface_render_file(rec, &content, &len);

        if (r < 0)
                harness_fail("iface_render_file: %s", strerror(-r));
        return content;
}

static int engine_open(struct tcase *t, void (*fault)(const char *), struct engine **ret)
{
        _cleanup_free_ char *msg = NULL;
        struct engine_config cfg = {
                .iscsi_root = t->root,
                .db_path = t->db,
                .lock_dir = t->lock_dir,
                .drift = ENGINE_DRIFT_IMPORT,
                .lock_timeout_ms = LOCK_TIMEOUT_MS,
                .fault = fault,
        };
        int r = engine_new(&cfg, ret, &msg);

        if (r < 0)
                fprintf(stderr, "crash.points: engine_new: %s\n", msg ? msg : strerror(-r));
        return r;
}

static int edit_to_new(const struct iface_rec *cur, struct iface_rec *next, struct iface_error *err,
                       void *userdata)
{
        (void)cur;
        (void)err;
        (void)userdata;
        iface_rec_done(next);
        new_rec(next);
        return 0;
}

/* The state before the op: the bystander, and the old version unless the op creates. */
static void setup(struct tcase *t)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {}, keep = {};
        struct engine *e = NULL;
        struct iface_snap *s = NULL;
        struct iface_error err = {};
        int r;

        snprintf(t->dir, sizeof(t->dir), "%s/crash-points.XXXXXX",
                 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(t->dir))
                harness_fail("mkdtemp: %m");
        snprintf(t->root, sizeof(t->root), "%s/root", t->dir);
        snprintf(t->db, sizeof(t->db), "%s/ifaced.db", t->dir);
        snprintf(t->lock_dir, sizeof(t->lock_dir), "%s/lock", t->dir);
        if (mkdir(t->root, 0700) < 0 || mkdir(t->lock_dir, 0755) < 0)
                harness_fail("mkdir: %m");

        if (engine_open(t, NULL, &e) < 0)
                harness_fail("cannot open a fresh engine in %s", t->dir);
        rec_make(&keep, BYSTANDER, "iqn.2020-01.com.example:keep", 3, 0, NULL);
        r = engine_iface_create(e, NULL, &keep, &s, &err);
        if (r < 0)
                harness_fail("create '%s': %s (%s)", BYSTANDER, strerror(-r), err.reason);
        t->bystander_content = strdup(s->content);
        s = iface_snap_unref(s);
        if (t->op != OP_CREATE) {
                old_rec(&rec);
                r = engine_iface_create(e, NULL, &rec, &s, &err);
                if (r < 0)
                        harness_fail("create '%s': %s (%s)", NAME, strerror(-r), err.reason);
                t->old_content = strdup(s->content);
                s = iface_snap_unref(s);
                if (!t->old_content)
                        harness_fail("out of memory");
        }
        engine_free(e);
        if (!t->bystander_content)
                harness_fail("out of memory");

        if (t->op != OP_DELETE) {
                iface_rec_done(&rec);
                new_rec(&rec);
                t->new_content = render(&rec);
        }
}

/* In a child: open the engine, arm the hook, do the op; _exit tells how it went. */
_Noreturn static void child(struct tcase *t)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct iface_error err = {};
        struct engine *e = NULL;
        int r;

        if (engine_open(t, crash_hook, &e) < 0)
                _exit(EXIT_OPEN_FAILED);
        crash_at = t->point->name;
        switch (t->op) {
        case OP_CREATE:
                new_rec(&rec);
                r = engine_iface_create(e, NULL, &rec, NULL, &err);
                break;
        case OP_UPDATE:
                r = engine_iface_update(e, NULL, NAME, 0, edit_to_new, NULL, NULL, &err);
                break;
        case OP_DELETE:
                r = engine_iface_delete(e, NULL, NAME, 0, NULL);
                break;
        case _OP_MAX:
        default:
                r = -EINVAL;
                break;
        }
        /* No engine_free: an op that completed and then died is what an ack and a kill look
         * like. */
        _exit(r < 0 ? EXIT_OP_FAILED : 0);
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && streq(s + a - b, suffix);
}

/* ifaces/ holds exactly the expected names, .iscsi-ifaced/ no temp file, no lock.write is left. */
static void check_dirs(struct tcase *t, bool want_name)
{
        char path[1200];
        struct dirent *de;
        struct stat sb;
        DIR *d;
        bool seen_name = false, seen_keep = false;

        snprintf(path, sizeof(path), "%s/ifaces", t->root);
        d = opendir(path);
        if (!check(t, d, "cannot list ifaces/: %m"))
                return;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (streq(de->d_name, NAME))
                        seen_name = true;
                else if (streq(de->d_name, BYSTANDER))
                        seen_keep = true;
                else
                        check(t, false, "stray entry ifaces/%s", de->d_name);
        }
        closedir(d);
        check(t, seen_keep, "ifaces/%s (untouched by the op) is gone", BYSTANDER);
        check(t, seen_name == want_name, "ifaces/%s %s", NAME,
              want_name ? "is missing" : "exists but the record does not");

        snprintf(path, sizeof(path), "%s/.iscsi-ifaced", t->root);
        d = opendir(path);
        if (check(t, d, "cannot list .iscsi-ifaced/: %m")) {
                while ((de = readdir(d)))
                        check(t, !has_suffix(de->d_name, ".tmp"),
                              "temp file left: .iscsi-ifaced/%s", de->d_name);
                closedir(d);
        }

        snprintf(path, sizeof(path), "%s/lock.write", t->lock_dir);
        check(t, lstat(path, &sb) < 0,
              "<lock-dir>/lock.write is left while nothing writes: "
              "iscsiadm would wait on it");
}

/* Each row is its file's bytes, each file has a row, no intent is pending. */
static void check_db(struct tcase *t, const char *want_content)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        bool seen_name = false, seen_keep = false;
        int rc;

        rc = sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READONLY, NULL);
        if (!check(t, rc == SQLITE_OK, "cannot open the db: %s", sqlite3_errstr(rc)))
                goto finish;
        rc = sqlite3_prepare_v2(db, "SELECT name, content FROM ifaces", -1, &stmt, NULL);
        if (!check(t, rc == SQLITE_OK, "query ifaces: %s", sqlite3_errmsg(db)))
                goto finish;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(stmt, 0);
                const char *content = (const char *)sqlite3_column_text(stmt, 1);
                char path[1200];
                _cleanup_free_ char *file = NULL;

                snprintf(path, sizeof(path), "%s/ifaces/%s", t->root, name);
                file = read_file(path);
                check(t, file && streq(file, content),
                      "row '%s' differs from ifaces/%s:\n--- row\n"
                      "%s--- file\n%s---",
                      name, name, content, file ? file : "(missing)\n");
                if (streq(name, NAME)) {
                        seen_name = true;
                        check(t, want_content && streq(content, want_content),
                              "row '%s' is neither wholly the expected version:\n%s", name,
                              content);
                } else if (streq(name, BYSTANDER)) {
                        seen_keep = true;
                        check(t, streq(content, t->bystander_content),
                              "row '%s' changed though no op touched it", name);
                } else
                        check(t, false, "stray row '%s'", name);
        }
        check(t, rc == SQLITE_DONE, "reading ifaces: %s", sqlite3_errmsg(db));
        check(t, seen_keep, "row '%s' is gone", BYSTANDER);
        check(t, seen_name == !!want_content, "row '%s' %s", NAME,
              want_content ? "is missing" : "exists but must not");
        sqlite3_finalize(stmt);
        stmt = NULL;

        rc = sqlite3_prepare_v2(db, "SELECT name FROM intents", -1, &stmt, NULL);
        if (!check(t, rc == SQLITE_OK, "query intents: %s", sqlite3_errmsg(db)))
                goto finish;
        while (sqlite3_step(stmt) == SQLITE_ROW)
                check(t, false, "intent for '%s' still pending after recovery",
                      (const char *)sqlite3_column_text(stmt, 0));
finish:
        sqlite3_finalize(stmt);
        sqlite3_close(db);
}

/* One point x op: crash, reopen, check, then one more write must work and persist. */
static void run_case(struct tcase *t)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        struct engine_health h = {};
        struct iface_snap *s = NULL;
        struct iface_error err = {};
        struct engine *e = NULL;
        const char *want, *got;
        bool crashed;
        int status, r;
        pid_t pid;

        setup(t);

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                harness_fail("fork: %m");
        if (pid == 0)
                child(t);
        if (waitpid(pid, &status, 0) != pid)
                harness_fail("waitpid: %m");

        crashed = WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CRASHED;
        if (t->op == OP_DELETE && !t->point->on_delete) {
                /* A delete writes no file, so it never reaches this point: it completes. */
                if (!check(t, crashed || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                           "the child ended with wait status %#x", status))
                        return;
        } else if (!check(t, crashed,
                          "the child did not die at the point (wait status %#x: exit "
                          "%d; 0 = the op completed without calling the hook)",
                          status, WIFEXITED(status) ? WEXITSTATUS(status) : -1))
                return;

        want = !crashed || t->point->after_crash == OUTCOME_NEW ? t->new_content : t->old_content;

        if (!check(t, engine_open(t, NULL, &e) >= 0, "the engine does not reopen after the crash"))
                return;
        r = engine_iface_get(e, NAME, &s);
        got = r >= 0 ? s->content : NULL;
        if (!check(t, r >= 0 || r == -ENOENT, "get '%s': %s", NAME, strerror(-r)))
                goto finish;
        if (!want)
                check(t, !got, "'%s' exists, but must be %s (absent):\n%s", NAME,
                      want == t->old_content ? "old" : "new", got);
        else
                check(t, got && streq(got, want),
                      "'%s' must be wholly the %s version:\n--- want\n%s"
                      "--- got\n%s",
                      NAME, want == t->old_content ? "old" : "new", want, got ? got : "(absent)\n");
        s = iface_snap_unref(s);

        check_dirs(t, want);
        check_db(t, want);

        r = engine_health(e, &h);
        if (check(t, r >= 0, "engine_health: %s", strerror(-r))) {
                check(t, h.n_problems == 0, "health reports %zu problem(s), first: %s: %s",
                      h.n_problems, h.n_problems ? h.problems[0].name : "",
                      h.n_problems ? h.problems[0].reason : "");
                check(t, h.drift_imported == 0,
                      "recovery imported %llu change(s) as external drift",
                      (unsigned long long)h.drift_imported);
                engine_health_done(&h);
        }

        /* The recovered engine must take the next write: no lock or intent blocks it. */
        if (want) {
                new_rec(&rec);
                r = engine_iface_update(e, NULL, NAME, 0, edit_to_new, NULL, NULL, &err);
        } else {
                rec_make(&rec, NAME, "iqn.2020-01.com.example:after", 4, 0, NULL);
                r = engine_iface_create(e, NULL, &rec, NULL, &err);
        }
        check(t, r >= 0, "the next write after recovery fails: %s (%s)", strerror(-r), err.reason);
        e = engine_free(e);
        if (r >= 0) {
                _cleanup_free_ char *next = render(&rec);

                check_dirs(t, true);
                check_db(t, next);
        }
finish:
        engine_free(e);
}

static void case_done(struct tcase *t)
{
        (void)nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(t->old_content);
        free(t->new_content);
        free(t->bystander_content);
}

int main(void)
{
        unsigned failures = 0, cases = 0;

        /* The crashes and recoveries are expected; keep the log to warnings. */
        log_set_level(LOG_WARNING);
        signal(SIGPIPE, SIG_IGN);

        for (size_t i = 0; i < ELEMENTSOF(points); i++)
                for (enum op_kind op = 0; op < _OP_MAX; op++) {
                        struct tcase t = { .point = &points[i], .op = op };

                        run_case(&t);
                        case_done(&t);
                        printf("crash.points: %-4s %-6s at %-24s -> %s\n",
                               t.failures ? "FAIL" : "PASS", op_names[op], points[i].name,
                               op == OP_DELETE && !points[i].on_delete ?
                                       "completes (no file write)" :
                               points[i].after_crash == OUTCOME_NEW ? "new version" :
                                                                      "old version");
                        failures += t.failures > 0;
                        cases++;
                }

        printf("crash.points: %u of %u cases passed\n", cases - failures, cases);
        return failures ? 1 : 0;
}
