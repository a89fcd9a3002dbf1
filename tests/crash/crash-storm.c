/* SPDX-License-Identifier: MIT */
/*
 * crash.storm: kills the real daemon with SIGKILL at random instants of a write storm, restarts
 * it on the same state and checks the crash-safety property of DESIGN.md §2 for iface records and
 * for bindings (node records under nodes/, written by clients of their own): both mirrors agree,
 * every record is wholly its old or its new version, no acknowledged (2xx) write is lost, and no
 * temp file, intent or iscsiadm lock is left behind. ETags are checked too: a version keeps its
 * revision across restarts and no revision ever names two versions. In about one round in four
 * the restarted daemon is killed again during its own start-up, so recovery is interrupted too.
 *
 * Environment: IFACED_BIN (the daemon, set by meson), CRASH_ROUNDS (default 150), CRASH_SEED
 * (default: from the clock; printed either way), CRASH_KEEP=1 keeps the state directory.
 * Exit: 0 pass, 1 a violation of the property, 99 the harness itself broke.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_THREADS         16 /* iface writers: a batch of the group commit holds many */
#define NAMES_PER_THREAD  4
#define N_SLOTS           (N_THREADS * NAMES_PER_THREAD)
#define ROUNDS_DEFAULT    150
#define KILL_MIN_MS       5
#define KILL_MAX_MS       300
#define START_TIMEOUT_MS  15000
#define STOP_TIMEOUT_MS   15000
#define HTTP_TIMEOUT_S    30
#define MARKER_PREFIX     "iqn.2020-01.com.example:op-"
#define N_BTHREADS        4 /* binding writers, each with BSLOTS_PER_THREAD of their own */
#define BSLOTS_PER_THREAD 4
#define N_BSLOTS          (N_BTHREADS * BSLOTS_PER_THREAD)
#define BTARGET_PREFIX    "iqn.2026-12.test.crash:b"
#define BPORTAL_DIR       "127.0.0.1,3260,1"
#define BMARKER_KEY       "node.session.timeo.replacement_timeout"
#define EXIT_VIOLATION    1
#define EXIT_HARNESS      99

enum op_kind {
        OP_CREATE,
        OP_PUT,
        OP_PATCH,
        OP_DELETE,
        _OP_MAX,
};

static const char *const op_names[_OP_MAX] = { "create", "put", "patch", "delete" };

/* One name, owned by exactly one client thread: at most one op on it is ever in flight. */
struct slot {
        char name[48];      /* an iface name, or a binding's target */
        long acked;         /* seq of the acknowledged state, -1 = absent */
        uint64_t acked_rev; /* its ETag (revision), 0 when absent */
        bool in_flight;     /* the daemon died while this op was running */
        enum op_kind op;
        long op_seq;
};

struct storm {
        char dir[1024];
        char root[1100];
        char db[1100];
        char lock_dir[1100];
        char port_file[1100];
        char log[1100];
        const char *bin;
        pid_t pid;
        unsigned port;
        unsigned round;
        bool keep;
        struct slot slots[N_SLOTS];
        struct slot bslots[N_BSLOTS]; /* name: the binding's target */
        atomic_ulong backed;          /* acknowledged binding ops */
        unsigned long bin_flight, bapplied, bnot_applied;
        atomic_long seq;
        atomic_bool stop;
        atomic_bool failed;
        atomic_ulong acked_by_op[_OP_MAX];

        /* Every revision an ETag has shown for an acknowledged or observed version: a revision
         * must never name two versions, or If-Match could match the wrong one after a crash. */
        pthread_mutex_t revs_lock;
        unsigned char *revs_seen;
        size_t n_revs_seen;

        /* Summary. */
        unsigned kills_in_flight; /* kills with at least one op in flight */
        unsigned long in_flight;
        unsigned long applied_by_op[_OP_MAX];
        unsigned long not_applied_by_op[_OP_MAX];
        unsigned kills_left_intent; /* kills after which the db held an intent */
        unsigned kills_left_temp;   /* kills after which a temp file existed */
        unsigned kills_left_lock;   /* kills after which iscsiadm's lock.write existed */
        unsigned kills_at_start;    /* extra kills during a start-up (recovery) */
        unsigned start_ms;          /* how long the last start-up took */
};

struct worker {
        struct storm *st;
        unsigned k;
        unsigned seed;
        pthread_t thread;
};

/* The exit and signal handlers need to find the daemon and the state directory. */
static struct storm *cleanup_target;

static bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

_Noreturn __attribute__((format(printf, 1, 2))) static void harness_fail(const char *fmt, ...)
{
        char buf[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "crash.storm: harness error: %s\n", buf);
        exit(EXIT_HARNESS);
}

/* Report a violation of the property; the callers stop at the next look at st->failed. */
__attribute__((format(printf, 2, 3))) static void violation(struct storm *st, const char *fmt, ...)
{
        char buf[8192];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "crash.storm: VIOLATION (round %u): %s\n", st->round, buf);
        atomic_store(&st->failed, true);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static const char *state_str(long s, char *buf, size_t size)
{
        if (s < 0)
                snprintf(buf, size, "absent");
        else
                snprintf(buf, size, "op-%ld", s);
        return buf;
}

/* --- cleanup ------------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        (void)remove(path);
        return 0;
}

static void kill_daemon(struct storm *st)
{
        if (st->pid <= 0)
                return;
        (void)kill(st->pid, SIGKILL);
        (void)waitpid(st->pid, NULL, 0);
        st->pid = 0;
}

static void cleanup_at_exit(void)
{
        struct storm *st = cleanup_target;

        if (!st)
                return;
        cleanup_target = NULL;
        kill_daemon(st);
        if (st->keep)
                fprintf(stderr, "crash.storm: state kept in %s\n", st->dir);
        else
                (void)nftw(st->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_signal(int sig)
{
        struct storm *st = cleanup_target;

        /* Leave nothing running; exit() then removes the state directory. */
        if (st && st->pid > 0)
                (void)kill(st->pid, SIGKILL);
        fprintf(stderr, "crash.storm: interrupted by signal %d\n", sig);
        exit(EXIT_HARNESS);
}

/* Print the end of the daemon's log, for the post-mortem of a violation. */
static void dump_log_tail(const struct storm *st, unsigned lines)
{
        char *buf = NULL;
        size_t n = 0, i;
        unsigned seen = 0;
        FILE *f = fopen(st->log, "re");

        if (!f)
                return;
        if (getdelim(&buf, &n, '\0', f) < 0) {
                fclose(f);
                free(buf);
                return;
        }
        fclose(f);
        i = strlen(buf);
        while (i > 0 && seen <= lines)
                if (buf[--i] == '\n')
                        seen++;
        fprintf(stderr, "crash.storm: end of the daemon log (%s):\n%s", st->log,
                buf + (seen > lines ? i + 1 : 0));
        free(buf);
}

_Noreturn static void finish_failed(struct storm *st)
{
        dump_log_tail(st, 40);
        fprintf(stderr, "crash.storm: FAIL in round %u (seed printed at the start)\n", st->round);
        exit(EXIT_VIOLATION);
}

/* --- HTTP ---------------------------------------------------------------------------------- */

struct http_result {
        CURLcode cc;
        long status;
        char *body;
        size_t len;
        uint64_t etag; /* the revision in an ETag: "<n>", 0 if none */
        char errbuf[CURL_ERROR_SIZE];
};

static void http_result_done(struct http_result *r)
{
        free(r->body);
        r->body = NULL;
        r->len = 0;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct http_result *r = userdata;
        size_t n = size * nmemb;
        char *p = realloc(r->body, r->len + n + 1);

        if (!p)
                return 0;
        memcpy(p + r->len, ptr, n);
        r->len += n;
        p[r->len] = 0;
        r->body = p;
        return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct http_result *r = userdata;
        size_t n = size * nmemb;
        char buf[128];

        if (n >= 5 && n < sizeof(buf) && strncasecmp(ptr, "ETag:", 5) == 0) {
                memcpy(buf, ptr, n);
                buf[n] = 0;
                if (sscanf(buf + 5, " \"%" SCNu64 "\"", &r->etag) != 1)
                        r->etag = UINT64_MAX; /* present but not a strong revision tag */
        }
        return n;
}

/*
 * One request on a fresh connection. A fresh connection per request makes "could not connect"
 * mean that the daemon never saw the request: on a reused keep-alive connection that died,
 * libcurl silently retries, which would hide whether the first try was applied.
 */
static void http(CURL *c, unsigned port, const char *method, const char *path,
                 const char *content_type, const char *body, struct http_result *res)
{
        struct curl_slist *h = NULL;
        char url[512], hdr[256];

        memset(res, 0, sizeof(*res));
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)HTTP_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, res);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, res->errbuf);
        if (content_type) {
                snprintf(hdr, sizeof(hdr), "Content-Type: %s", content_type);
                h = curl_slist_append(h, hdr);
        }
        h = curl_slist_append(h, "Accept: application/json");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        res->cc = curl_easy_perform(c);
        if (res->cc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
        if (!res->errbuf[0])
                snprintf(res->errbuf, sizeof(res->errbuf), "%s", curl_easy_strerror(res->cc));
        curl_slist_free_all(h);
}

/* --- the records an op writes ------------------------------------------------------------- */

/*
 * The fields an op with sequence number s writes. Every value derives from s, so a record that
 * mixes two versions matches neither. vlan_state is set for odd s and absent for even s, so
 * removing a key is exercised too (a PATCH sends null for it).
 */
static json_t *op_fields(long s, bool patch)
{
        char iname[64];
        json_t *o;

        snprintf(iname, sizeof(iname), MARKER_PREFIX "%ld", s);
        o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "initiatorname", iname, "port",
                      (json_int_t)(s % 65536), "mtu", (json_int_t)(576 + s % 8000), "vlan_id",
                      (json_int_t)(s % 4096), "vlan_priority", (json_int_t)(s % 8), "state",
                      s % 3 == 0 ? "disable" : "enable");
        if (!o)
                harness_fail("json_pack failed");
        if (s % 2)
                json_object_set_new(o, "vlan_state", json_string("enable"));
        else if (patch)
                json_object_set_new(o, "vlan_state", json_null());
        return o;
}

/* The op sequence number a record carries in its initiatorname, or -1. */
static long record_seq(const json_t *j)
{
        const char *v = json_string_value(json_object_get(j, "initiatorname"));
        char *end;
        long s;

        if (!v || strncmp(v, MARKER_PREFIX, strlen(MARKER_PREFIX)) != 0)
                return -1;
        errno = 0;
        s = strtol(v + strlen(MARKER_PREFIX), &end, 10);
        if (errno || *end || s < 0)
                return -1;
        return s;
}

/* Is j wholly the record op s writes to name? On a mismatch, why says which key differs. */
static bool record_matches(const json_t *j, const char *name, long s, char *why, size_t size)
{
        json_t *want, *v;
        const char *key;
        bool ok = true;

        if (!json_is_object(j)) {
                snprintf(why, size, "not a JSON object");
                return false;
        }
        want = op_fields(s, false);
        json_object_set_new(want, "name", json_string(name));
        json_object_set_new(want, "iscsi_ifacename", json_string(name));
        json_object_set_new(want, "transport_name", json_string("tcp"));

        json_object_foreach ((json_t *)j, key, v) {
                json_t *w = json_object_get(want, key);

                /* Read-only views of the port, not part of the record. */
                if (streq(key, "port_status") || streq(key, "warnings"))
                        continue;
                if (w && !json_equal(v, w)) {
                        snprintf(why, size, "key '%s' differs from what op-%ld wrote", key, s);
                        ok = false;
                        break;
                }
                /* Everything the ops never set must keep its default (numbers are always
                 * shown, unset strings never). */
                if (!w && !(json_is_integer(v) && json_integer_value(v) == 0)) {
                        snprintf(why, size, "key '%s' was never written by any op", key);
                        ok = false;
                        break;
                }
        }
        if (ok)
                json_object_foreach (want, key, v)
                        if (!json_object_get(j, key)) {
                                snprintf(why, size, "key '%s' of op-%ld is missing", key, s);
                                ok = false;
                                break;
                        }
        json_decref(want);
        return ok;
}

/* --- revisions ---------------------------------------------------------------------------- */

/* Record that rev names a version now; false if it already named another one. */
static bool rev_claim(struct storm *st, uint64_t rev)
{
        bool fresh;

        pthread_mutex_lock(&st->revs_lock);
        if (rev >= st->n_revs_seen) {
                size_t n = (size_t)rev * 2 + 1024;
                unsigned char *p = realloc(st->revs_seen, n);

                if (!p)
                        harness_fail("out of memory");
                memset(p + st->n_revs_seen, 0, n - st->n_revs_seen);
                st->revs_seen = p;
                st->n_revs_seen = n;
        }
        fresh = !st->revs_seen[rev];
        st->revs_seen[rev] = 1;
        pthread_mutex_unlock(&st->revs_lock);
        return fresh;
}

/* Check the ETag of a new version of sl (acknowledged or found applied) and adopt it. */
static void rev_check_new(struct storm *st, struct slot *sl, uint64_t rev, const char *what)
{
        if (rev == 0 || rev == UINT64_MAX || rev > (uint64_t)1 << 40) {
                violation(st, "%s of '%s': no usable ETag (want \"<revision>\")", what, sl->name);
                return;
        }
        if (rev <= sl->acked_rev)
                violation(st, "%s of '%s': revision %" PRIu64 " is not above the previous %" PRIu64,
                          what, sl->name, rev, sl->acked_rev);
        else if (!rev_claim(st, rev))
                violation(st,
                          "%s of '%s': revision %" PRIu64 " already named another version "
                          "(a revision was handed out twice)",
                          what, sl->name, rev);
        sl->acked_rev = rev;
}

/* --- the storm ----------------------------------------------------------------------------- */

static enum op_kind pick_op(const struct slot *sl, unsigned *seed)
{
        unsigned r = (unsigned)rand_r(seed) % 100;

        if (sl->acked < 0)
                return OP_CREATE;
        return r < 35 ? OP_PUT : r < 70 ? OP_PATCH : OP_DELETE;
}

static void *storm_thread(void *userdata)
{
        struct worker *w = userdata;
        struct storm *st = w->st;
        CURL *c = curl_easy_init();

        if (!c)
                harness_fail("curl_easy_init failed");

        while (!atomic_load(&st->stop) && !atomic_load(&st->failed)) {
                struct slot *sl = &st->slots[w->k * NAMES_PER_THREAD +
                                             (unsigned)rand_r(&w->seed) % NAMES_PER_THREAD];
                enum op_kind op = pick_op(sl, &w->seed);
                long s = atomic_fetch_add(&st->seq, 1);
                static const long want_status[_OP_MAX] = { 201, 200, 200, 204 };
                struct http_result res;
                char path[64], *body = NULL, why[256], buf[32];
                json_t *j = NULL;

                snprintf(path, sizeof(path), "/api/v1/ifaces%s%s", op == OP_CREATE ? "" : "/",
                         op == OP_CREATE ? "" : sl->name);
                if (op != OP_DELETE) {
                        j = op_fields(s, op == OP_PATCH);
                        if (op != OP_PATCH)
                                json_object_set_new(j, "name", json_string(sl->name));
                        body = json_dumps(j, JSON_COMPACT);
                        json_decref(j);
                        if (!body)
                                harness_fail("json_dumps failed");
                }

                sl->op = op;
                sl->op_seq = s;
                sl->in_flight = true;
                http(c, st->port,
                     op == OP_CREATE ? "POST" :
                     op == OP_PUT    ? "PUT" :
                     op == OP_PATCH  ? "PATCH" :
                                       "DELETE",
                     path,
                     op == OP_DELETE ? NULL :
                     op == OP_PATCH  ? "application/merge-patch+json" :
                                       "application/json",
                     body, &res);
                free(body);

                if (res.cc == CURLE_COULDNT_CONNECT) {
                        /* The daemon is gone and never saw this request. */
                        sl->in_flight = false;
                        http_result_done(&res);
                        break;
                }
                if (res.cc != CURLE_OK) {
                        /* Killed while the op ran: it may or may not be applied. */
                        http_result_done(&res);
                        break;
                }
                sl->in_flight = false;
                if (res.status != want_status[op]) {
                        violation(
                                st,
                                "%s of '%s' (op-%ld) on state %s answered %ld, expected %ld: %.400s",
                                op_names[op], sl->name, s, state_str(sl->acked, buf, sizeof(buf)),
                                res.status, want_status[op], res.body ? res.body : "");
                        http_result_done(&res);
                        break;
                }
                if (op != OP_DELETE) {
                        json_error_t jerr;
                        json_t *got = json_loadb(res.body ? res.body : "", res.len, 0, &jerr);

                        if (!got || !record_matches(got, sl->name, s, why, sizeof(why)))
                                violation(st,
                                          "%s of '%s' (op-%ld) answered %ld with a body that is "
                                          "not the written record (%s): %.600s",
                                          op_names[op], sl->name, s, res.status,
                                          got ? why : jerr.text, res.body ? res.body : "");
                        json_decref(got);
                }
                if (op == OP_DELETE)
                        sl->acked_rev = 0;
                else
                        rev_check_new(st, sl, res.etag, op_names[op]);
                sl->acked = op == OP_DELETE ? -1 : s;
                atomic_fetch_add(&st->acked_by_op[op], 1);
                http_result_done(&res);
        }

        curl_easy_cleanup(c);
        return NULL;
}

/* --- the daemon ---------------------------------------------------------------------------- */

static bool read_port(const char *path, unsigned *ret)
{
        char buf[32] = {};
        unsigned long v;
        char *end;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        errno = 0;
        v = strtoul(buf, &end, 10);
        if (errno || end == buf || (*end && *end != '\n') || v == 0 || v > 65535)
                return false;
        *ret = (unsigned)v;
        return true;
}

static const char *exit_str(int status, char *buf, size_t size)
{
        if (WIFEXITED(status))
                snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
        else
                snprintf(buf, size, "wait status %#x", status);
        return buf;
}

/* Fork and exec a fresh daemon on the same state; its output goes to the log. */
static pid_t spawn_daemon(struct storm *st)
{
        pid_t pid;

        if (unlink(st->port_file) < 0 && errno != ENOENT)
                harness_fail("cannot remove %s: %m", st->port_file);

        pid = fork();
        if (pid < 0)
                harness_fail("fork: %m");
        if (pid == 0) {
                int fd = open(st->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                execl(st->bin, st->bin, "--auth", "off", "--listen", "127.0.0.1:0", "--port-file",
                      st->port_file, "--iscsi-root", st->root, "--db", st->db, "--lock-dir",
                      st->lock_dir, "--drift", "import", "--log-level", "info", (char *)NULL);
                _exit(127);
        }
        st->pid = pid;
        return pid;
}

/* Start a fresh daemon on the same state and wait until it listens. */
static void start_daemon(struct storm *st)
{
        int64_t t0 = now_ms(), deadline = t0 + START_TIMEOUT_MS;
        pid_t pid = spawn_daemon(st);
        char buf[64];
        int status;

        for (;;) {
                if (read_port(st->port_file, &st->port)) {
                        st->start_ms = (unsigned)(now_ms() - t0);
                        return;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        st->pid = 0;
                        violation(st, "the daemon did not start after the kill (%s)",
                                  exit_str(status, buf, sizeof(buf)));
                        finish_failed(st);
                }
                if (now_ms() > deadline) {
                        violation(st, "the daemon did not write its port file within %d ms",
                                  START_TIMEOUT_MS);
                        finish_failed(st);
                }
                sleep_ms(5);
        }
}

/*
 * Kill a fresh daemon somewhere in its start-up (recovery of the intents, temp clean-up,
 * reconciliation): recovery must survive being interrupted itself.
 */
static void kill_during_start(struct storm *st, unsigned *rng)
{
        unsigned delay = (unsigned)rand_r(rng) % (st->start_ms + 1);
        pid_t pid = spawn_daemon(st);

        sleep_ms(delay);
        if (kill(pid, SIGKILL) < 0 || waitpid(pid, NULL, 0) != pid)
                harness_fail("kill/waitpid: %m");
        st->pid = 0;
        st->kills_at_start++;
}

/* Stop the daemon with SIGTERM: it must exit 0 after an orderly shutdown. */
static void stop_daemon(struct storm *st)
{
        int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
        char buf[64];
        int status;

        if (kill(st->pid, SIGTERM) < 0)
                harness_fail("kill: %m");
        for (;;) {
                if (waitpid(st->pid, &status, WNOHANG) == st->pid)
                        break;
                if (now_ms() > deadline) {
                        violation(st, "the daemon did not stop within %d ms of SIGTERM",
                                  STOP_TIMEOUT_MS);
                        finish_failed(st);
                }
                sleep_ms(10);
        }
        st->pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                violation(st, "SIGTERM: the daemon ended with %s, expected exit status 0",
                          exit_str(status, buf, sizeof(buf)));
}

/* --- checks -------------------------------------------------------------------------------- */

static struct slot *slot_find(struct storm *st, const char *name)
{
        for (size_t i = 0; i < N_SLOTS; i++)
                if (streq(st->slots[i].name, name))
                        return &st->slots[i];
        return NULL;
}

/* (a) GET one name: the last acknowledged state, or the in-flight op's state. */
static void check_slot(struct storm *st, CURL *c, struct slot *sl)
{
        struct http_result res;
        char path[64], why[256], a[32], b[32], o[32];
        long observed = -1, new_state = sl->op == OP_DELETE ? -1 : sl->op_seq;
        json_t *j = NULL;

        snprintf(path, sizeof(path), "/api/v1/ifaces/%s", sl->name);
        http(c, st->port, "GET", path, NULL, NULL, &res);
        if (res.cc != CURLE_OK) {
                violation(st, "GET %s failed after the restart: %s", path, res.errbuf);
                goto finish;
        }
        if (res.status == 200) {
                j = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
                observed = j ? record_seq(j) : -1;
                if (observed < 0) {
                        violation(st, "GET %s: the record carries no op marker: %.600s", path,
                                  res.body ? res.body : "");
                        goto finish;
                }
                if (!record_matches(j, sl->name, observed, why, sizeof(why))) {
                        violation(st, "GET %s: the record is not wholly one version (%s): %.600s",
                                  path, why, res.body);
                        goto finish;
                }
        } else if (res.status != 404) {
                violation(st, "GET %s answered %ld after the restart: %.400s", path, res.status,
                          res.body ? res.body : "");
                goto finish;
        }

        if (observed == sl->acked) {
                if (sl->in_flight)
                        st->not_applied_by_op[sl->op]++;
                if (observed >= 0 && res.etag != sl->acked_rev)
                        violation(st,
                                  "GET %s: ETag revision %" PRIu64 " after the restart, but "
                                  "the unchanged version was acknowledged with %" PRIu64,
                                  path, res.etag, sl->acked_rev);
        } else if (sl->in_flight && observed == new_state) {
                st->applied_by_op[sl->op]++;
                if (observed >= 0)
                        rev_check_new(st, sl, res.etag, "the recovered in-flight write");
        } else {
                if (sl->in_flight)
                        violation(st,
                                  "'%s' is %s after the restart, but it must be %s (last "
                                  "acknowledged) or %s (the %s op-%ld in flight at the kill)",
                                  sl->name, state_str(observed, o, sizeof(o)),
                                  state_str(sl->acked, a, sizeof(a)),
                                  state_str(new_state, b, sizeof(b)), op_names[sl->op], sl->op_seq);
                else
                        violation(st,
                                  "'%s' is %s after the restart, but it must be %s (last "
                                  "acknowledged; no op was in flight)%s",
                                  sl->name, state_str(observed, o, sizeof(o)),
                                  state_str(sl->acked, a, sizeof(a)),
                                  sl->acked >= 0 && observed < 0 ?
                                          ": an acknowledged write is lost" :
                                          "");
                goto finish;
        }
        /* Continue from what was observed. */
        if (observed < 0)
                sl->acked_rev = 0;
        sl->acked = observed;
        sl->in_flight = false;
finish:
        json_decref(j);
        http_result_done(&res);
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The present names of the model, in strcmp order (the order of ifaces/ and of the list). */
static size_t present_names(struct storm *st, const char **names)
{
        size_t n = 0;

        for (size_t i = 0; i < N_SLOTS; i++)
                if (st->slots[i].acked >= 0)
                        names[n++] = st->slots[i].name;
        qsort(names, n, sizeof(*names), name_cmp);
        return n;
}

/* (a) The list shows exactly the present names, then the built-ins, each as GET shows it. */
static void check_list(struct storm *st, CURL *c)
{
        const char *names[N_SLOTS];
        size_t n = present_names(st, names);
        struct http_result res;
        json_t *j = NULL, *items, *it;
        char why[256];
        size_t i;

        http(c, st->port, "GET", "/api/v1/ifaces?limit=1000", NULL, NULL, &res);
        if (res.cc != CURLE_OK || res.status != 200) {
                violation(st, "GET /api/v1/ifaces?limit=1000: %s %ld", res.errbuf, res.status);
                goto finish;
        }
        j = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
        items = json_object_get(j, "items");
        if (!json_is_array(items) || json_array_size(items) != n + 2 ||
            !json_is_null(json_object_get(j, "next_cursor"))) {
                violation(st,
                          "the list has %zu items (expected %zu records + default + iser, no "
                          "next_cursor): %.800s",
                          json_array_size(items), n, res.body);
                goto finish;
        }
        json_array_foreach (items, i, it) {
                const char *got = json_string_value(json_object_get(it, "name"));
                const char *want = i < n ? names[i] : i == n ? "default" : "iser";

                if (!got || !streq(got, want)) {
                        violation(st, "list item %zu is '%s', expected '%s'", i, got ? got : "?",
                                  want);
                        goto finish;
                }
                if (i < n &&
                    !record_matches(it, want, slot_find(st, want)->acked, why, sizeof(why))) {
                        violation(st, "list item '%s' differs from the record (%s)", want, why);
                        goto finish;
                }
        }
finish:
        json_decref(j);
        http_result_done(&res);
}

/* (d) Health reports no problem, and nothing was ever imported as an external change. */
static void check_health(struct storm *st, CURL *c)
{
        struct http_result res;
        json_t *j = NULL, *problems;
        const char *status;

        http(c, st->port, "GET", "/api/v1/health", NULL, NULL, &res);
        if (res.cc != CURLE_OK || res.status != 200) {
                violation(st, "GET /api/v1/health: %s %ld: %.400s", res.errbuf, res.status,
                          res.body ? res.body : "");
                goto finish;
        }
        j = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
        status = json_string_value(json_object_get(j, "status"));
        problems = json_object_get(j, "problems");
        if (!status || !streq(status, "ok") || !json_is_array(problems) ||
            json_array_size(problems) != 0)
                violation(st, "health is not ok after the restart: %.800s", res.body);
        else if (json_integer_value(json_object_get(json_object_get(j, "drift"), "imported")) != 0)
                violation(st,
                          "health shows imported drift, but only the API wrote (recovery "
                          "must not turn its own interrupted writes into external changes): %.800s",
                          res.body);
finish:
        json_decref(j);
        http_result_done(&res);
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && streq(s + a - b, suffix);
}

/* Names of the entries of a directory (without . and ..), sorted; returns the count or -1. */
static ssize_t list_dir(const char *path, char ***ret)
{
        DIR *d = opendir(path);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                names = realloc(names, (n + 1) * sizeof(*names));
                if (!names || !(names[n] = strdup(de->d_name)))
                        harness_fail("out of memory");
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(*names), name_cmp);
        *ret = names;
        return (ssize_t)n;
}

static void free_names(char **names, ssize_t n)
{
        for (ssize_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static bool read_file(const char *path, char **ret, size_t *ret_len)
{
        char *buf = NULL;
        size_t n = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return false;
        for (;;) {
                char *p = realloc(buf, n + 4096 + 1);

                if (!p)
                        harness_fail("out of memory");
                buf = p;
                size_t k = fread(buf + n, 1, 4096, f);
                n += k;
                if (k == 0)
                        break;
        }
        fclose(f);
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return true;
}

/* (b) No temp file, no stray name in ifaces/, every file 0600, and no lock left held. */
static void check_dirs(struct storm *st)
{
        const char *names[N_SLOTS];
        size_t n = present_names(st, names);
        char path[PATH_MAX * 2];
        char **ents = NULL;
        ssize_t k;
        struct stat sb;

        snprintf(path, sizeof(path), "%s/.iscsi-ifaced", st->root);
        k = list_dir(path, &ents);
        if (k < 0)
                violation(st, "cannot list %s: %m", path);
        for (ssize_t i = 0; i < k; i++)
                if (has_suffix(ents[i], ".tmp"))
                        violation(st, "temp file left behind: <root>/.iscsi-ifaced/%s", ents[i]);
        free_names(ents, k);

        snprintf(path, sizeof(path), "%s/ifaces", st->root);
        k = list_dir(path, &ents);
        if (k < 0)
                violation(st, "cannot list %s: %m", path);
        for (ssize_t i = 0; i < k; i++) {
                char p[PATH_MAX * 3];

                if (!bsearch(&ents[i], names, n, sizeof(*names), name_cmp)) {
                        violation(st, "stray file <root>/ifaces/%s: no such record", ents[i]);
                        continue;
                }
                snprintf(p, sizeof(p), "%s/%s", path, ents[i]);
                if (lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 07777) != 0600)
                        violation(st, "<root>/ifaces/%s is not a regular file of mode 0600",
                                  ents[i]);
        }
        for (size_t i = 0; i < n; i++)
                if (k < 0 || !bsearch(&names[i], ents, (size_t)k, sizeof(*ents), name_cmp))
                        violation(st, "record '%s' has no file <root>/ifaces/%s", names[i],
                                  names[i]);
        free_names(ents, k);

        snprintf(path, sizeof(path), "%s/lock.write", st->lock_dir);
        if (lstat(path, &sb) == 0)
                violation(st, "<lock-dir>/lock.write exists while the daemon is idle: iscsiadm "
                              "would wait on it forever");
}

/*
 * (c) sqlite and the files agree: each row's content is its file's bytes, each file has a row,
 * every row came from the API, the content carries the op the model expects, and no intent is
 * left. Opened read-only: WAL lets us read beside a running daemon.
 */
static void check_db(struct storm *st)
{
        const char *names[N_SLOTS];
        size_t n = present_names(st, names), rows = 0;
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        int rc;

        rc = sqlite3_open_v2(st->db, &db, SQLITE_OPEN_READONLY, NULL);
        if (rc != SQLITE_OK) {
                violation(st, "cannot open the db read-only: %s", sqlite3_errstr(rc));
                goto finish;
        }
        sqlite3_busy_timeout(db, 5000);

        rc = sqlite3_prepare_v2(db, "SELECT name, content, origin FROM ifaces ORDER BY name", -1,
                                &stmt, NULL);
        if (rc != SQLITE_OK) {
                violation(st, "cannot query the ifaces table: %s", sqlite3_errmsg(db));
                goto finish;
        }
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(stmt, 0);
                const char *content = (const char *)sqlite3_column_text(stmt, 1);
                const char *origin = (const char *)sqlite3_column_text(stmt, 2);
                size_t clen = (size_t)sqlite3_column_bytes(stmt, 1);
                char path[PATH_MAX * 2], marker[96], *data = NULL;
                struct slot *sl = name ? slot_find(st, name) : NULL;
                size_t len = 0;

                rows++;
                if (!name || !content || !sl || sl->acked < 0) {
                        violation(st, "db row '%s' belongs to no record", name ? name : "(null)");
                        continue;
                }
                snprintf(path, sizeof(path), "%s/ifaces/%s", st->root, name);
                if (!read_file(path, &data, &len)) {
                        violation(st, "db row '%s' has no file <root>/ifaces/%s", name, name);
                        continue;
                }
                if (len != clen || memcmp(data, content, len) != 0)
                        violation(st,
                                  "<root>/ifaces/%s (%zu bytes) differs from its db row "
                                  "(%zu bytes):\n--- file\n%s--- row\n%s---",
                                  name, len, clen, data, content);
                snprintf(marker, sizeof(marker), "\niface.initiatorname = " MARKER_PREFIX "%ld\n",
                         sl->acked);
                if (!strstr(content, marker))
                        violation(st, "db row '%s' does not hold op-%ld, which GET shows", name,
                                  sl->acked);
                if (!origin || !streq(origin, "api"))
                        violation(st, "db row '%s' has origin '%s', expected 'api'", name,
                                  origin ? origin : "(null)");
                free(data);
        }
        if (rc != SQLITE_DONE)
                violation(st, "reading the ifaces table: %s", sqlite3_errmsg(db));
        if (rows != n)
                violation(st, "the db has %zu rows, the records are %zu", rows, n);
        sqlite3_finalize(stmt);
        stmt = NULL;

        rc = sqlite3_prepare_v2(db, "SELECT name FROM intents", -1, &stmt, NULL);
        if (rc != SQLITE_OK) {
                violation(st, "cannot query the intents table: %s", sqlite3_errmsg(db));
                goto finish;
        }
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                violation(st, "an intent for '%s' is still pending after the restart",
                          (const char *)sqlite3_column_text(stmt, 0));
        if (rc != SQLITE_DONE)
                violation(st, "reading the intents table: %s", sqlite3_errmsg(db));
finish:
        sqlite3_finalize(stmt);
        sqlite3_close(db);
}

/* --- bindings: create, patch, delete through their own client ------------------------------ */

/*
 * A binding op with sequence number s writes its marker into replacement_timeout and a startup
 * that derives from it, so a node file that mixes two versions matches neither.
 */
static const char *bstartup(long s)
{
        return s % 3 == 0 ? "automatic" : s % 3 == 1 ? "manual" : "onboot";
}

static void bid(const struct slot *sl, char *buf, size_t size)
{
        snprintf(buf, size, "%s,127.0.0.1,3260,1,default", sl->name);
}

/* The op a binding shows (its marker), checked whole; -1 with why when it is not one version. */
static long bseq_of(const json_t *j, char *why, size_t size)
{
        json_t *m = json_object_get(json_object_get(j, "settings"), BMARKER_KEY);
        const char *su = json_string_value(json_object_get(j, "startup"));
        long s = json_is_integer(m) ? (long)json_integer_value(m) : -1;

        if (s < 1 || !su) {
                snprintf(why, size, "no op marker");
                return -1;
        }
        if (!streq(su, bstartup(s))) {
                snprintf(why, size, "startup '%s' is not op-%ld's '%s'", su, s, bstartup(s));
                return -1;
        }
        return s;
}

static void *binding_thread(void *userdata)
{
        struct worker *w = userdata;
        struct storm *st = w->st;
        CURL *c = curl_easy_init();

        if (!c)
                harness_fail("curl_easy_init failed");
        while (!atomic_load(&st->stop) && !atomic_load(&st->failed)) {
                struct slot *sl = &st->bslots[(w->k - N_THREADS) * BSLOTS_PER_THREAD +
                                              (unsigned)rand_r(&w->seed) % BSLOTS_PER_THREAD];
                unsigned r = (unsigned)rand_r(&w->seed) % 100;
                enum op_kind op = sl->acked < 0 ? OP_CREATE : r < 60 ? OP_PATCH : OP_DELETE;
                long s = atomic_fetch_add(&st->seq, 1);
                long want = op == OP_CREATE ? 201 : op == OP_PATCH ? 200 : 204;
                char path[256], id[160], why[128], *body = NULL;
                struct http_result res;
                json_t *j = NULL;

                bid(sl, id, sizeof(id));
                if (op == OP_CREATE) {
                        snprintf(path, sizeof(path), "/api/v1/bindings");
                        j = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:I}}", "target", sl->name,
                                      "portal", "127.0.0.1:3260", "tpgt", 1, "iface", "default",
                                      "startup", bstartup(s), "settings", BMARKER_KEY,
                                      (json_int_t)s);
                } else {
                        snprintf(path, sizeof(path), "/api/v1/bindings/%s", id);
                        if (op == OP_PATCH)
                                j = json_pack("{s:s, s:{s:I}}", "startup", bstartup(s), "settings",
                                              BMARKER_KEY, (json_int_t)s);
                }
                if (op != OP_DELETE && (!j || !(body = json_dumps(j, JSON_COMPACT))))
                        harness_fail("json failed");
                json_decref(j);
                sl->op = op;
                sl->op_seq = s;
                sl->in_flight = true;
                http(c, st->port,
                     op == OP_CREATE ? "POST" :
                     op == OP_PATCH  ? "PATCH" :
                                       "DELETE",
                     path,
                     op == OP_CREATE ? "application/json" :
                     op == OP_PATCH  ? "application/merge-patch+json" :
                                       NULL,
                     body, &res);
                free(body);
                if (res.cc == CURLE_COULDNT_CONNECT)
                        sl->in_flight = false;
                if (res.cc != CURLE_OK) {
                        http_result_done(&res);
                        break;
                }
                sl->in_flight = false;
                if (res.status != want) {
                        violation(st,
                                  "%s of binding '%s' (op-%ld) answered %ld, expected %ld: %.400s",
                                  op_names[op], id, s, res.status, want, res.body ? res.body : "");
                        http_result_done(&res);
                        break;
                }
                if (op != OP_DELETE) {
                        json_t *got = json_loadb(res.body ? res.body : "", res.len, 0, NULL);

                        if (!got || bseq_of(got, why, sizeof(why)) != s)
                                violation(st,
                                          "%s of binding '%s' (op-%ld) answered with another "
                                          "version: %.600s",
                                          op_names[op], id, s, res.body ? res.body : "");
                        json_decref(got);
                        rev_check_new(st, sl, res.etag, op_names[op]);
                } else
                        sl->acked_rev = 0;
                sl->acked = op == OP_DELETE ? -1 : s;
                atomic_fetch_add(&st->backed, 1);
                http_result_done(&res);
        }
        curl_easy_cleanup(c);
        return NULL;
}

/* (a) GET one binding: the last acknowledged version, or the in-flight op's. */
static void check_bslot(struct storm *st, CURL *c, struct slot *sl)
{
        char path[256], id[160], why[128] = "";
        long observed = -1, new_state = sl->op == OP_DELETE ? -1 : sl->op_seq;
        struct http_result res;
        json_t *j = NULL;

        bid(sl, id, sizeof(id));
        snprintf(path, sizeof(path), "/api/v1/bindings/%s", id);
        http(c, st->port, "GET", path, NULL, NULL, &res);
        if (res.cc != CURLE_OK || (res.status != 200 && res.status != 404)) {
                violation(st, "GET %s after the restart: %s %ld", path, res.errbuf, res.status);
                goto finish;
        }
        if (res.status == 200) {
                j = json_loadb(res.body ? res.body : "", res.len, 0, NULL);
                observed = j ? bseq_of(j, why, sizeof(why)) : -1;
                if (observed < 0) {
                        violation(st, "GET %s: not wholly one version (%s): %.600s", path, why,
                                  res.body ? res.body : "");
                        goto finish;
                }
        }
        if (observed == sl->acked) {
                st->bnot_applied += sl->in_flight;
                if (observed >= 0 && res.etag != sl->acked_rev)
                        violation(st,
                                  "GET %s: revision %" PRIu64 " after the restart, but %" PRIu64
                                  " was acknowledged",
                                  path, res.etag, sl->acked_rev);
        } else if (sl->in_flight && observed == new_state) {
                st->bapplied++;
                if (observed >= 0)
                        rev_check_new(st, sl, res.etag, "the recovered in-flight binding write");
        } else {
                violation(st,
                          "binding '%s' is op-%ld after the restart, but must be op-%ld (last "
                          "acknowledged)%s%ld%s",
                          id, observed, sl->acked, sl->in_flight ? " or op-" : "",
                          sl->in_flight ? new_state : 0L,
                          sl->acked >= 0 && observed < 0 && !sl->in_flight ?
                                  ": an acknowledged write is lost" :
                                  "");
                goto finish;
        }
        if (observed < 0)
                sl->acked_rev = 0;
        sl->acked = observed;
        sl->in_flight = false;
finish:
        json_decref(j);
        http_result_done(&res);
}

/*
 * (b, c) The node files and the nodes table agree with the model: a present binding is one
 * 0600 file holding its op's marker, equal to its row (origin api); an absent one leaves no
 * file and no directory of its target; no row belongs to nothing.
 */
static void check_bfiles(struct storm *st)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        size_t present = 0, rows = 0;
        int rc;

        if (sqlite3_open_v2(st->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                violation(st, "cannot open the db read-only");
                goto finish;
        }
        sqlite3_busy_timeout(db, 5000);
        for (size_t i = 0; i < N_BSLOTS; i++) {
                const struct slot *sl = &st->bslots[i];
                char file[PATH_MAX * 2], dir[PATH_MAX * 2], rel[512], marker[96], *data = NULL;
                struct stat sb;
                size_t len = 0;

                snprintf(dir, sizeof(dir), "%s/nodes/%s", st->root, sl->name);
                snprintf(rel, sizeof(rel), "nodes/%s/" BPORTAL_DIR "/default", sl->name);
                snprintf(file, sizeof(file), "%s/%s", st->root, rel);
                if (sl->acked < 0) {
                        if (lstat(dir, &sb) == 0)
                                violation(st,
                                          "<root>/nodes/%s is left, but its only binding is "
                                          "gone",
                                          sl->name);
                        continue;
                }
                present++;
                if (lstat(file, &sb) < 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 07777) != 0600 ||
                    !read_file(file, &data, &len)) {
                        violation(st, "binding '%s' has no 0600 file <root>/%s", sl->name, rel);
                        continue;
                }
                snprintf(marker, sizeof(marker), "\n" BMARKER_KEY " = %ld\n", sl->acked);
                if (!strstr(data, marker))
                        violation(st, "<root>/%s does not hold op-%ld", rel, sl->acked);
                if (sqlite3_prepare_v2(db, "SELECT content, origin FROM nodes WHERE path = ?1", -1,
                                       &stmt, NULL) != SQLITE_OK ||
                    sqlite3_bind_text(stmt, 1, rel, -1, SQLITE_STATIC) != SQLITE_OK)
                        harness_fail("sqlite: %s", sqlite3_errmsg(db));
                if (sqlite3_step(stmt) != SQLITE_ROW)
                        violation(st, "binding file <root>/%s has no db row", rel);
                else if ((size_t)sqlite3_column_bytes(stmt, 0) != len ||
                         memcmp(sqlite3_column_text(stmt, 0), data, len) != 0 ||
                         !streq((const char *)sqlite3_column_text(stmt, 1), "api"))
                        violation(st,
                                  "<root>/%s differs from its db row (or its origin is not "
                                  "api)",
                                  rel);
                sqlite3_finalize(stmt);
                stmt = NULL;
                free(data);
        }
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM nodes", -1, &stmt, NULL) != SQLITE_OK ||
            (rc = sqlite3_step(stmt)) != SQLITE_ROW)
                violation(st, "cannot count the nodes table: %s", sqlite3_errmsg(db));
        else if ((rows = (size_t)sqlite3_column_int64(stmt, 0)) != present)
                violation(st, "the nodes table has %zu rows, the bindings are %zu", rows, present);
finish:
        sqlite3_finalize(stmt);
        sqlite3_close(db);
}

/* Every check of one restart; the model then continues from what was observed. */
static void verify(struct storm *st)
{
        CURL *c = curl_easy_init();

        if (!c)
                harness_fail("curl_easy_init failed");
        for (size_t i = 0; i < N_SLOTS; i++)
                check_slot(st, c, &st->slots[i]);
        for (size_t i = 0; i < N_BSLOTS; i++)
                check_bslot(st, c, &st->bslots[i]);
        if (!atomic_load(&st->failed))
                check_list(st, c);
        check_dirs(st);
        if (!atomic_load(&st->failed))
                check_db(st);
        if (!atomic_load(&st->failed))
                check_bfiles(st);
        check_health(st, c);
        curl_easy_cleanup(c);
        if (atomic_load(&st->failed))
                finish_failed(st);
}

/* What the kill left for recovery (statistics only: it shows the kills hit mid-protocol). */
static void peek_after_kill(struct storm *st)
{
        char path[PATH_MAX * 2], **ents = NULL;
        sqlite3 *db = NULL;
        sqlite3_stmt *stmt = NULL;
        struct stat sb;
        ssize_t k;

        snprintf(path, sizeof(path), "%s/.iscsi-ifaced", st->root);
        k = list_dir(path, &ents);
        for (ssize_t i = 0; i < k; i++)
                if (has_suffix(ents[i], ".tmp")) {
                        st->kills_left_temp++;
                        break;
                }
        free_names(ents, k);

        snprintf(path, sizeof(path), "%s/lock.write", st->lock_dir);
        if (lstat(path, &sb) == 0)
                st->kills_left_lock++;

        if (sqlite3_open_v2(st->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT count(*) FROM intents", -1, &stmt, NULL) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) > 0)
                st->kills_left_intent++;
        sqlite3_finalize(stmt);
        sqlite3_close(db);
}

/* One round: a storm from N_THREADS + N_BTHREADS clients, SIGKILL after a random delay, reap. */
static void storm_round(struct storm *st, unsigned *seed)
{
        struct worker w[N_THREADS + N_BTHREADS];
        unsigned delay = KILL_MIN_MS + (unsigned)rand_r(seed) % (KILL_MAX_MS - KILL_MIN_MS + 1);
        unsigned hit = 0;

        atomic_store(&st->stop, false);
        for (unsigned k = 0; k < N_THREADS + N_BTHREADS; k++) {
                w[k] = (struct worker){ .st = st, .k = k, .seed = (unsigned)rand_r(seed) };
                if (pthread_create(&w[k].thread, NULL,
                                   k < N_THREADS ? storm_thread : binding_thread, &w[k]) != 0)
                        harness_fail("pthread_create failed");
        }
        sleep_ms(delay);
        if (kill(st->pid, SIGKILL) < 0)
                harness_fail("kill: %m");
        if (waitpid(st->pid, NULL, 0) != st->pid)
                harness_fail("waitpid: %m");
        st->pid = 0;
        atomic_store(&st->stop, true);
        for (unsigned k = 0; k < N_THREADS + N_BTHREADS; k++)
                pthread_join(w[k].thread, NULL);
        if (atomic_load(&st->failed))
                finish_failed(st);

        for (size_t i = 0; i < N_SLOTS; i++)
                hit += st->slots[i].in_flight;
        for (size_t i = 0; i < N_BSLOTS; i++) {
                hit += st->bslots[i].in_flight;
                st->bin_flight += st->bslots[i].in_flight;
        }
        st->in_flight += hit;
        st->kills_in_flight += hit > 0;
        peek_after_kill(st);
}

static unsigned long sum(const unsigned long *v)
{
        unsigned long s = 0;

        for (size_t i = 0; i < _OP_MAX; i++)
                s += v[i];
        return s;
}

static void print_summary(struct storm *st, unsigned rounds, unsigned seed, int64_t ms)
{
        unsigned long acked[_OP_MAX], total = 0;

        for (size_t i = 0; i < _OP_MAX; i++) {
                acked[i] = atomic_load(&st->acked_by_op[i]);
                total += acked[i];
        }
        printf("crash.storm: PASS  seed %u, %u rounds in %.1f s\n", seed, rounds,
               (double)ms / 1000);
        printf("  acknowledged ops:        %lu (create %lu, put %lu, patch %lu, delete %lu)\n",
               total, acked[OP_CREATE], acked[OP_PUT], acked[OP_PATCH], acked[OP_DELETE]);
        printf("  acknowledged binding ops: %lu; binding ops in flight at a kill: %lu (found "
               "applied %lu, not applied %lu)\n",
               atomic_load(&st->backed), st->bin_flight, st->bapplied, st->bnot_applied);
        printf("  kills with an op in flight: %u of %u (%lu ops in flight)\n", st->kills_in_flight,
               rounds, st->in_flight);
        printf("  in-flight ops found applied:     %lu (create %lu, put %lu, patch %lu, delete %lu)\n",
               sum(st->applied_by_op), st->applied_by_op[OP_CREATE], st->applied_by_op[OP_PUT],
               st->applied_by_op[OP_PATCH], st->applied_by_op[OP_DELETE]);
        printf("  in-flight ops found not applied: %lu (create %lu, put %lu, patch %lu, delete %lu)\n",
               sum(st->not_applied_by_op), st->not_applied_by_op[OP_CREATE],
               st->not_applied_by_op[OP_PUT], st->not_applied_by_op[OP_PATCH],
               st->not_applied_by_op[OP_DELETE]);
        printf("  kills that left for recovery: an intent %u, a temp file %u, lock.write %u\n",
               st->kills_left_intent, st->kills_left_temp, st->kills_left_lock);
        printf("  extra kills during a start-up (recovery interrupted): %u (last start-up %u ms)\n",
               st->kills_at_start, st->start_ms);
}

static void set_path(char *buf, size_t size, const char *dir, const char *leaf)
{
        int n = snprintf(buf, size, "%s/%s", dir, leaf);

        if (n < 0 || (size_t)n >= size)
                harness_fail("path too long: %s/%s", dir, leaf);
}

int main(void)
{
        static struct storm storm;
        struct storm *st = &storm;
        const char *env, *tmp;
        unsigned rounds = ROUNDS_DEFAULT, seed, rng;
        int64_t t0 = now_ms();

        st->bin = getenv("IFACED_BIN");
        if (!st->bin || access(st->bin, X_OK) < 0)
                harness_fail(
                        "IFACED_BIN is not set to the daemon executable (run through meson test)");
        env = getenv("CRASH_ROUNDS");
        if (env && (rounds = (unsigned)strtoul(env, NULL, 10)) == 0)
                harness_fail("CRASH_ROUNDS must be a positive number");
        env = getenv("CRASH_SEED");
        seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
        rng = seed;
        st->keep = (env = getenv("CRASH_KEEP")) && streq(env, "1");
        printf("crash.storm: seed %u (CRASH_SEED=%u reproduces the random choices), %u rounds\n",
               seed, seed, rounds);
        fflush(stdout);

        tmp = getenv("TMPDIR");
        snprintf(st->dir, sizeof(st->dir), "%s/crash-storm.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(st->dir))
                harness_fail("mkdtemp %s: %m", st->dir);
        cleanup_target = st;
        atexit(cleanup_at_exit);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        signal(SIGPIPE, SIG_IGN);

        set_path(st->root, sizeof(st->root), st->dir, "root");
        set_path(st->db, sizeof(st->db), st->dir, "ifaced.db");
        set_path(st->lock_dir, sizeof(st->lock_dir), st->dir, "lock");
        set_path(st->port_file, sizeof(st->port_file), st->dir, "port");
        set_path(st->log, sizeof(st->log), st->dir, "daemon.log");
        if (mkdir(st->root, 0700) < 0 || mkdir(st->lock_dir, 0755) < 0)
                harness_fail("mkdir: %m");

        for (size_t i = 0; i < N_SLOTS; i++) {
                snprintf(st->slots[i].name, sizeof(st->slots[i].name), "t%zu-n%zu",
                         i / NAMES_PER_THREAD, i % NAMES_PER_THREAD);
                st->slots[i].acked = -1;
        }
        for (size_t i = 0; i < N_BSLOTS; i++) {
                snprintf(st->bslots[i].name, sizeof(st->bslots[i].name), BTARGET_PREFIX "%zu", i);
                st->bslots[i].acked = -1;
        }
        atomic_store(&st->seq, 1);
        pthread_mutex_init(&st->revs_lock, NULL);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                harness_fail("curl_global_init failed");

        /* Round 0 checks the empty start; round N kills the daemon, restarts it and checks. */
        st->round = 0;
        start_daemon(st);
        verify(st);
        for (st->round = 1; st->round <= rounds; st->round++) {
                storm_round(st, &rng);
                if (rand_r(&rng) % 4 == 0)
                        kill_during_start(st, &rng);
                start_daemon(st);
                verify(st);
                if (st->round % 10 == 0) {
                        printf("crash.storm: %u rounds, %lu ops in flight at the kills so far\n",
                               st->round, st->in_flight);
                        fflush(stdout);
                }
        }

        /* An orderly stop after all that leaves both mirrors agreeing too. */
        st->round = rounds;
        stop_daemon(st);
        check_dirs(st);
        check_db(st);
        check_bfiles(st);
        if (access(st->port_file, F_OK) == 0)
                violation(st, "the port file is left after SIGTERM");
        if (atomic_load(&st->failed))
                finish_failed(st);

        print_summary(st, rounds, seed, now_ms() - t0);
        curl_global_cleanup();
        return 0;
}
