/* SPDX-License-Identifier: MIT */
/*
 * load.soak: a bounded load test of the real daemon. It starts server/iscsi-ifaced on a temp
 * state dir (127.0.0.1:0, --port-file), makes an operator and a viewer token with the
 * `token create` CLI, and for LOAD_SECONDS keeps LOAD_CONNECTIONS keep-alive connections busy
 * (one libcurl multi loop, one logical client per connection; PER_SOURCE connections per
 * source address 127.0.0.2, .3, ..., so the daemon's default per-client limit holds) with this
 * mix:
 *
 *   35 %  GET one of the client's own records (it must read its own last acknowledged write)
 *   15 %  GET a record of another client (200 or 404)
 *   20 %  list, 25 items a page, following next_cursor (the client's own records in the page
 *         must again be its last acknowledged writes)
 *   20 %  PUT or PATCH (If-Match) of an own record; POST when it does not exist
 *   10 %  POST or DELETE (If-Match) of an own record
 *
 * Each client first creates its NAMES_PER_CLIENT records (so the data set is at its full size
 * early), then runs the mix. It is the only writer of its names, with at most one request in
 * flight, so it knows the exact expected state (field values and ETag) of each. After the run
 * every owned name is checked three ways: GET, <root>/ifaces/<name>, and the sqlite row (file
 * bytes == row content, revision == last ETag); absent names must be absent everywhere.
 *
 * Pass: zero 5xx, zero transport errors, zero unexpected statuses, zero lost or torn writes, the
 * daemon's VmRSS at the end within RSS_GROWTH_MAX of its value WARMUP_S after the last record
 * was created, and SIGTERM ends the daemon with exit status 0. The daemon and the temp dir are
 * removed whatever happens (LOAD_KEEP=1 keeps the dir).
 *
 * When the daemon has no token CLI yet, the test runs with --auth off (if the daemon knows the
 * option) and says so loudly; the sanity checks of the auth answers are then skipped.
 *
 * With --sanitized (meson passes it to an ASan build) the RSS growth is printed, not checked:
 * ASan's quarantine keeps freed memory until it is full; the daemon's exit status still carries
 * LeakSanitizer's verdict.
 *
 * Environment: IFACED_BIN (set by meson), LOAD_SECONDS (default 60), LOAD_CONNECTIONS (default
 * 256), LOAD_SEED, LOAD_KEEP=1. Exit: 0 pass, 1 fail, 99 the test itself broke.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SECONDS_DEFAULT     60
#define CONNECTIONS_DEFAULT 256
#define CONNECTIONS_MAX     1024
#define NAMES_PER_CLIENT    4
#define LIST_LIMIT          25
#define WARMUP_S            5.0
#define RSS_GROWTH_MAX      0.10
#define HTTP_TIMEOUT_S      60L
#define START_TIMEOUT_MS    20000
#define STOP_TIMEOUT_MS     30000
#define DRAIN_TIMEOUT_S     (HTTP_TIMEOUT_S + 10)
#define RATE                "100000"
#define MAX_SHOWN           10 /* failures printed in full; the rest are only counted */
#define NAME_PREFIX         "ld"
#define PER_SOURCE          32 /* load connections per source address, half the default limit */
#define INAME_PREFIX        "iqn.2020-01.com.example:load-"
#define EXIT_FAIL           1
#define EXIT_HARNESS        99

enum op {
        OP_CONNECT, /* the first request of a connection: GET /api/v1/health */
        OP_GET_OWN,
        OP_GET_OTHER,
        OP_LIST,
        OP_POST,
        OP_PUT,
        OP_PATCH,
        OP_DELETE,
        _OP_MAX,
};

static const char *const op_names[_OP_MAX] = { "connect", "get-own", "get-other", "list",
                                               "post",    "put",     "patch",     "delete" };

/* The state of one record as its owner last saw it acknowledged. */
struct rec {
        bool present;
        bool unknown;  /* a write on it failed: its state is not known, it is not checked */
        uint64_t etag; /* revision of the acknowledged version */
        char iname[80];
        char netdev[16]; /* "" = unset, for both strings */
        unsigned mtu, vlan_id, port;
};

struct buf {
        char *data;
        size_t len, cap;
};

struct client {
        unsigned id;
        CURL *easy;
        struct curl_slist *hdrs;
        struct rec recs[NAMES_PER_CLIENT];
        enum op op;
        unsigned k;       /* the owned record of the op */
        struct rec next;  /* what the write in flight makes of recs[k] once acknowledged */
        char target[128]; /* record name of a GET, for messages */
        char url[512];
        char body[1024];
        char cursor[256];
        struct buf resp;
        uint64_t etag; /* from the response, 0 if none */
        bool etag_bad;
        double t0;
        unsigned rng;
        char source[32];  /* CURLOPT_INTERFACE: "host!127.0.0.N" */
        unsigned prefill; /* records created by the first ops, before the mix starts */
        bool ready;       /* the prefill POSTs are all answered */
};

struct stats {
        unsigned long requests;
        unsigned long by_status[600];
        unsigned long transport_errors;
        unsigned long unexpected; /* a status that is not the expected one for the op */
        unsigned long mismatches; /* a body, ETag or file not matching the expected state */
        unsigned long by_op[_OP_MAX];
        unsigned long acked[_OP_MAX];
        float max_ms[_OP_MAX];
        unsigned long own_reads_checked; /* read-your-writes checks that passed */
        unsigned long list_items_checked;
        unsigned long shown;
        unsigned long connects; /* TCP connections opened */
        float *lat;
        size_t n_lat, cap_lat;
};

struct load {
        char dir[512];
        char root[600];
        char ifaces[640];
        char db[600];
        char lock[600];
        char port_file[600];
        char log[600];
        char sysfs[600];
        const char *bin;
        bool keep;
        bool sanitized; /* the daemon is an ASan build: its RSS grows with the quarantine */
        bool tokens;    /* false: no token CLI yet, running with auth off */
        char operator_tok[160];
        char viewer_tok[160];
        pid_t pid;
        unsigned port;
        char base[64];
        unsigned seconds;
        unsigned n_clients;
        struct client *clients;
        unsigned long seq;
        struct stats st;
        bool failed;
};

static struct load *cleanup_target;

/* --- small helpers ------------------------------------------------------------------------- */

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

_Noreturn __attribute__((format(printf, 1, 2))) static void harness_fail(const char *fmt, ...)
{
        char msg[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "load: harness error: %s\n", msg);
        exit(EXIT_HARNESS);
}

/* A failure of the product: printed in full for the first MAX_SHOWN, counted always. */
__attribute__((format(printf, 2, 3))) static void fail(struct load *l, const char *fmt, ...)
{
        char msg[4096];
        va_list ap;

        l->failed = true;
        if (l->st.shown++ >= MAX_SHOWN)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "load: FAIL: %s\n", msg);
}

static void set_path(char *out, size_t size, const char *dir, const char *leaf)
{
        int n = snprintf(out, size, "%s/%s", dir, leaf);

        if (n < 0 || (size_t)n >= size)
                harness_fail("path too long: %s/%s", dir, leaf);
}

static unsigned rnd(unsigned *rng, unsigned n)
{
        return (unsigned)rand_r(rng) % n;
}

static void buf_reset(struct buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
        struct buf *b = ud;
        size_t add = size * n;

        if (b->len + add + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *d;

                while (cap < b->len + add + 1)
                        cap *= 2;
                d = realloc(b->data, cap);
                if (!d)
                        return 0;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, add);
        b->len += add;
        b->data[b->len] = 0;
        return add;
}

/* The revision in `ETag: "<n>"`; anything else in an ETag header sets etag_bad. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
        struct client *c = ud;
        size_t len = size * n;
        char line[128];

        if (len >= 5 && len < sizeof(line) && !strncasecmp(p, "ETag:", 5)) {
                memcpy(line, p, len);
                line[len] = 0;
                if (sscanf(line + 5, " \"%" SCNu64 "\"", &c->etag) != 1) {
                        c->etag = 0;
                        c->etag_bad = true;
                }
        }
        return len;
}

/* --- daemon and state dir ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        (void)remove(path);
        return 0;
}

static void cleanup_at_exit(void)
{
        struct load *l = cleanup_target;

        if (!l)
                return;
        cleanup_target = NULL;
        if (l->pid > 0) {
                (void)kill(l->pid, SIGKILL);
                (void)waitpid(l->pid, NULL, 0);
                l->pid = 0;
        }
        if (l->keep)
                fprintf(stderr, "load: state kept in %s\n", l->dir);
        else if (l->dir[0])
                (void)nftw(l->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_signal(int sig)
{
        struct load *l = cleanup_target;

        if (l && l->pid > 0)
                (void)kill(l->pid, SIGKILL);
        fprintf(stderr, "load: interrupted by signal %d\n", sig);
        exit(EXIT_HARNESS);
}

static void dump_log_tail(const struct load *l, unsigned lines)
{
        char *text = NULL;
        size_t n = 0, i;
        unsigned seen = 0;
        FILE *f = fopen(l->log, "re");

        if (!f)
                return;
        if (getdelim(&text, &n, '\0', f) < 0) {
                fclose(f);
                free(text);
                return;
        }
        fclose(f);
        i = strlen(text);
        while (i > 0 && seen <= lines)
                if (text[--i] == '\n')
                        seen++;
        fprintf(stderr, "load: end of the daemon log:\n%s", text + (seen > lines ? i + 1 : 0));
        free(text);
}

/*
 * Run argv with stdout into out (NUL-terminated, truncated to size) and stderr into the daemon
 * log. Returns the wait status, or -1 if it could not run.
 */
static int run_capture(const struct load *l, char *const argv[], char *out, size_t size)
{
        int pipefd[2], status;
        size_t used = 0;
        pid_t pid;

        out[0] = 0;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                harness_fail("pipe: %m");
        pid = fork();
        if (pid < 0)
                harness_fail("fork: %m");
        if (pid == 0) {
                int fd = open(l->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                if (fd < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                ssize_t n = read(pipefd[0], out + used, size - 1 - used);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                used += (size_t)n;
                if (used == size - 1) {
                        char sink[512];

                        while (read(pipefd[0], sink, sizeof(sink)) > 0)
                                ;
                        break;
                }
        }
        out[used] = 0;
        close(pipefd[0]);
        if (waitpid(pid, &status, 0) != pid)
                return -1;
        return status;
}

/* `token create --role ROLE`: the token it prints, or false when the CLI is not there (yet). */
static bool create_token(const struct load *l, const char *role, char *tok, size_t size)
{
        char out[4096], *p, name[32];
        char *argv[] = { (char *)l->bin, "token", "create", "--role",      (char *)role,
                         "--name",       name,    "--db",   (char *)l->db, NULL };
        int status;
        size_t n;

        snprintf(name, sizeof(name), "load-%s", role);
        status = run_capture(l, argv, out, sizeof(out));
        if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return false;
        p = strstr(out, "ifd_");
        if (!p)
                return false;
        n = strcspn(p, " \t\r\n");
        if (n + 1 > size)
                return false;
        memcpy(tok, p, n);
        tok[n] = 0;
        return true;
}

/* Whether `--help` mentions an option. */
static bool daemon_knows(const struct load *l, const char *option)
{
        static char help[16384];
        static bool have;
        char *argv[] = { (char *)l->bin, "--help", NULL };

        if (!have) {
                if (run_capture(l, argv, help, sizeof(help)) < 0)
                        harness_fail("cannot run %s --help", l->bin);
                have = true;
        }
        return strstr(help, option) != NULL;
}

static bool read_port(const char *path, unsigned *ret)
{
        char text[32] = {};
        unsigned long v;
        char *end;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n <= 0)
                return false;
        errno = 0;
        v = strtoul(text, &end, 10);
        if (errno || end == text || (*end && *end != '\n') || v == 0 || v > 65535)
                return false;
        *ret = (unsigned)v;
        return true;
}

static const char *exit_str(int status, char *out, size_t size)
{
        if (WIFEXITED(status))
                snprintf(out, size, "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(out, size, "killed by signal %d", WTERMSIG(status));
        else
                snprintf(out, size, "wait status %#x", status);
        return out;
}

static void start_daemon(struct load *l)
{
        const char *argv[40];
        size_t n = 0;
        double deadline;
        char why[64];
        int status;

        argv[n++] = l->bin;
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
        argv[n++] = "--port-file";
        argv[n++] = l->port_file;
        argv[n++] = "--iscsi-root";
        argv[n++] = l->root;
        argv[n++] = "--db";
        argv[n++] = l->db;
        argv[n++] = "--lock-dir";
        argv[n++] = l->lock;
        argv[n++] = "--sysfs-root";
        argv[n++] = l->sysfs;
        argv[n++] = "--log-level";
        argv[n++] = "notice";
        /* With tokens the security options are part of the contract (docs/security.md); without
         * them (auth not there yet) only the ones this daemon already knows are passed. */
        if (l->tokens || daemon_knows(l, "--rate-limit")) {
                argv[n++] = "--rate-limit";
                argv[n++] = RATE;
                argv[n++] = "--rate-burst";
                argv[n++] = RATE;
        }
        if (!l->tokens && daemon_knows(l, "--auth")) {
                argv[n++] = "--auth";
                argv[n++] = "off";
        }
        argv[n] = NULL;

        printf("load: daemon:");
        for (size_t i = 0; i < n; i++)
                printf(" %s", argv[i]);
        printf("\n");
        fflush(stdout);

        l->pid = fork();
        if (l->pid < 0)
                harness_fail("fork: %m");
        if (l->pid == 0) {
                int fd = open(l->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                execv(l->bin, (char *const *)argv);
                _exit(127);
        }

        deadline = now_s() + START_TIMEOUT_MS / 1000.0;
        for (;;) {
                if (read_port(l->port_file, &l->port))
                        break;
                if (waitpid(l->pid, &status, WNOHANG) == l->pid) {
                        l->pid = 0;
                        dump_log_tail(l, 30);
                        harness_fail("the daemon did not start (%s)",
                                     exit_str(status, why, sizeof(why)));
                }
                if (now_s() > deadline) {
                        dump_log_tail(l, 30);
                        harness_fail("no port file within %d ms", START_TIMEOUT_MS);
                }
                sleep_ms(10);
        }
        snprintf(l->base, sizeof(l->base), "http://127.0.0.1:%u", l->port);
}

/* SIGTERM must end the daemon with exit status 0. */
static void stop_daemon(struct load *l)
{
        double deadline = now_s() + STOP_TIMEOUT_MS / 1000.0;
        char why[64];
        int status;

        if (kill(l->pid, SIGTERM) < 0)
                harness_fail("kill: %m");
        for (;;) {
                if (waitpid(l->pid, &status, WNOHANG) == l->pid)
                        break;
                if (now_s() > deadline) {
                        fail(l, "the daemon did not stop within %d ms of SIGTERM", STOP_TIMEOUT_MS);
                        (void)kill(l->pid, SIGKILL);
                        (void)waitpid(l->pid, &status, 0);
                        break;
                }
                sleep_ms(10);
        }
        l->pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail(l, "SIGTERM: the daemon ended with %s, expected exit status 0",
                     exit_str(status, why, sizeof(why)));
        else
                printf("load: SIGTERM: the daemon exited with status 0\n");
}

/* VmRSS of a process in KiB, 0 if it cannot be read. */
static long rss_kib(pid_t pid)
{
        char path[64], line[256];
        long v = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
                        break;
        fclose(f);
        return v;
}

/* The soft RLIMIT_NOFILE of a process, -1 if unknown, 0 for unlimited. */
static long nofile_limit(pid_t pid)
{
        char path[64], line[256];
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "Max open files", 14))
                        continue;
                if (strstr(line, "unlimited"))
                        v = 0;
                else
                        v = strtol(line + 14, NULL, 10);
                break;
        }
        fclose(f);
        return v;
}

/* --- expected records ---------------------------------------------------------------------- */

static void rec_name(char *out, size_t size, unsigned client, unsigned k)
{
        snprintf(out, size, NAME_PREFIX "%u-%u", client, k);
}

/* The values a write with sequence number s gives; fields mixed from two writes match neither. */
static void seq_iname(char *out, size_t size, unsigned long s)
{
        snprintf(out, size, INAME_PREFIX "%lu", s);
}

static void seq_netdev(char *out, size_t size, unsigned long s)
{
        snprintf(out, size, "ld%x", (unsigned)(s & 0xffffffffu));
}

static unsigned seq_mtu(unsigned long s)
{
        return 576 + (unsigned)(s % 8425);
}

static unsigned seq_vlan(unsigned long s)
{
        return (unsigned)(s % 4095) + 1;
}

static unsigned seq_port(unsigned long s)
{
        return 1024 + (unsigned)(s % 64000);
}

/* Append `"key":"value"` or `"key":null` to a JSON object under construction. */
static size_t json_str(char *out, size_t size, size_t used, const char *key, const char *value)
{
        int n;

        if (used >= size)
                return used;
        if (value)
                n = snprintf(out + used, size - used, ",\"%s\":\"%s\"", key, value);
        else
                n = snprintf(out + used, size - used, ",\"%s\":null", key);
        return used + (n > 0 ? (size_t)n : 0);
}

static size_t json_num(char *out, size_t size, size_t used, const char *key, unsigned value)
{
        int n;

        if (used >= size)
                return used;
        n = snprintf(out + used, size - used, ",\"%s\":%u", key, value);
        return used + (n > 0 ? (size_t)n : 0);
}

/*
 * A whole record from s (POST, PUT): every third one has no initiatorname, every fifth no
 * net_ifacename, so replacing also unsets. The JSON goes to body, the state to next.
 */
static void make_whole(struct client *c, unsigned long s, const char *name)
{
        struct rec *e = &c->next;
        size_t used;

        memset(e, 0, sizeof(*e));
        e->present = true;
        if (s % 3)
                seq_iname(e->iname, sizeof(e->iname), s);
        if (s % 5)
                seq_netdev(e->netdev, sizeof(e->netdev), s);
        e->mtu = seq_mtu(s);
        e->vlan_id = seq_vlan(s);
        e->port = seq_port(s);

        used = (size_t)snprintf(c->body, sizeof(c->body), "{\"transport_name\":\"tcp\"");
        if (name)
                used = json_str(c->body, sizeof(c->body), used, "name", name);
        if (e->iname[0])
                used = json_str(c->body, sizeof(c->body), used, "initiatorname", e->iname);
        if (e->netdev[0])
                used = json_str(c->body, sizeof(c->body), used, "net_ifacename", e->netdev);
        used = json_num(c->body, sizeof(c->body), used, "mtu", e->mtu);
        used = json_num(c->body, sizeof(c->body), used, "vlan_id", e->vlan_id);
        used = json_num(c->body, sizeof(c->body), used, "port", e->port);
        if (used + 2 > sizeof(c->body))
                harness_fail("request body too long");
        memcpy(c->body + used, "}", 2);
}

/* A merge patch from s over the current state: a non-empty subset of three field groups. */
static void make_patch(struct client *c, unsigned long s)
{
        struct rec *e = &c->next;
        unsigned groups = (unsigned)((s >> 1) % 7) + 1;
        char members[sizeof(c->body) - 2];
        size_t used = 0;

        *e = c->recs[c->k];
        members[0] = 0;
        if (groups & 1) {
                if (s % 4 == 0)
                        e->iname[0] = 0;
                else
                        seq_iname(e->iname, sizeof(e->iname), s);
                used = json_str(members, sizeof(members), used, "initiatorname",
                                e->iname[0] ? e->iname : NULL);
        }
        if (groups & 2) {
                if (s % 6 == 0)
                        e->netdev[0] = 0;
                else
                        seq_netdev(e->netdev, sizeof(e->netdev), s);
                used = json_str(members, sizeof(members), used, "net_ifacename",
                                e->netdev[0] ? e->netdev : NULL);
        }
        if (groups & 4) {
                e->mtu = seq_mtu(s);
                e->port = seq_port(s);
                used = json_num(members, sizeof(members), used, "mtu", e->mtu);
                used = json_num(members, sizeof(members), used, "port", e->port);
        }
        /* members starts with a comma */
        if (used + 2 > sizeof(c->body))
                harness_fail("request body too long");
        snprintf(c->body, sizeof(c->body), "{%s}", members + 1);
}

static bool same_fields(const struct rec *a, const struct rec *b)
{
        return !strcmp(a->iname, b->iname) && !strcmp(a->netdev, b->netdev) && a->mtu == b->mtu &&
               a->vlan_id == b->vlan_id && a->port == b->port;
}

static bool json_str_is(json_t *o, const char *key, const char *want)
{
        json_t *v = json_object_get(o, key);

        if (!want[0])
                return !v || json_is_null(v);
        return json_is_string(v) && !strcmp(json_string_value(v), want);
}

static bool json_num_is(json_t *o, const char *key, unsigned want)
{
        json_t *v = json_object_get(o, key);

        return json_is_integer(v) && json_integer_value(v) == (json_int_t)want;
}

/* Whether a JSON record is exactly the expected state of name (the fields the test writes). */
static bool rec_json_ok(json_t *o, const char *name, const struct rec *e, char *why, size_t size)
{
        const char *bad = NULL;

        if (!json_is_object(o))
                bad = "not an object";
        else if (!json_str_is(o, "name", name))
                bad = "name";
        else if (!json_str_is(o, "initiatorname", e->iname))
                bad = "initiatorname";
        else if (!json_str_is(o, "net_ifacename", e->netdev))
                bad = "net_ifacename";
        else if (!json_num_is(o, "mtu", e->mtu))
                bad = "mtu";
        else if (!json_num_is(o, "vlan_id", e->vlan_id))
                bad = "vlan_id";
        else if (!json_num_is(o, "port", e->port))
                bad = "port";
        if (!bad)
                return true;
        snprintf(why, size,
                 "%s differs; expected initiatorname='%s' net_ifacename='%s' mtu=%u vlan_id=%u "
                 "port=%u rev %" PRIu64,
                 bad, e->iname, e->netdev, e->mtu, e->vlan_id, e->port, e->etag);
        return false;
}

/* The value of "iface.KEY = VALUE" in a record file, or false if the key is absent. */
static bool file_value(const char *data, const char *key, char *out, size_t size)
{
        char pat[64];
        const char *p, *end;
        size_t n;

        snprintf(pat, sizeof(pat), "\niface.%s = ", key);
        p = strstr(data, pat);
        if (!p)
                return false;
        p += strlen(pat);
        end = strchr(p, '\n');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n >= size)
                n = size - 1;
        memcpy(out, p, n);
        out[n] = 0;
        return true;
}

static bool file_str_is(const char *data, const char *key, const char *want)
{
        char v[128];

        if (!want[0])
                return !file_value(data, key, v, sizeof(v));
        return file_value(data, key, v, sizeof(v)) && !strcmp(v, want);
}

static bool file_num_is(const char *data, const char *key, unsigned want)
{
        char v[32], w[32];

        snprintf(w, sizeof(w), "%u", want);
        return file_value(data, key, v, sizeof(v)) && !strcmp(v, w);
}

/* Whether the bytes of an iface file are a whole record in the expected state. */
static bool rec_file_ok(const char *data, size_t len, const char *name, const struct rec *e,
                        char *why, size_t size)
{
        static const char begin[] = "# BEGIN RECORD 2.1.8\n", end[] = "# END RECORD\n";
        const char *bad = NULL;

        if (strlen(data) != len)
                bad = "a NUL byte";
        else if (len < sizeof(begin) + sizeof(end) || strncmp(data, begin, sizeof(begin) - 1))
                bad = "the BEGIN line";
        else if (strcmp(data + len - (sizeof(end) - 1), end))
                bad = "the END line (torn?)";
        else if (!file_str_is(data, "iscsi_ifacename", name))
                bad = "iscsi_ifacename";
        else if (!file_str_is(data, "initiatorname", e->iname))
                bad = "initiatorname";
        else if (!file_str_is(data, "net_ifacename", e->netdev))
                bad = "net_ifacename";
        else if (!file_num_is(data, "mtu", e->mtu))
                bad = "mtu";
        else if (!file_num_is(data, "vlan_id", e->vlan_id))
                bad = "vlan_id";
        else if (!file_num_is(data, "port", e->port))
                bad = "port";
        if (!bad)
                return true;
        snprintf(why, size,
                 "%s differs; expected initiatorname='%s' net_ifacename='%s' mtu=%u vlan_id=%u "
                 "port=%u; content:\n%s",
                 bad, e->iname, e->netdev, e->mtu, e->vlan_id, e->port, data);
        return false;
}

/* --- the load loop ------------------------------------------------------------------------- */

static void add_header(struct client *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void add_header(struct client *c, const char *fmt, ...)
{
        char line[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        c->hdrs = curl_slist_append(c->hdrs, line);
        if (!c->hdrs)
                harness_fail("out of memory");
}

/* The options every request of a load client has; curl_easy_reset() keeps the connection. */
static void easy_prepare(struct load *l, struct client *c, const char *token)
{
        curl_easy_reset(c->easy);
        curl_slist_free_all(c->hdrs);
        c->hdrs = NULL;
        buf_reset(&c->resp);
        c->etag = 0;
        c->etag_bad = false;
        curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
        curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->resp);
        curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        if (c->source[0])
                curl_easy_setopt(c->easy, CURLOPT_INTERFACE, c->source);
        add_header(c, "Expect:");
        add_header(c, "Accept: application/json");
        if (l->tokens && token)
                add_header(c, "Authorization: Bearer %s", token);
}

static void easy_send(struct client *c, const char *method, const char *content_type,
                      const char *body)
{
        curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
        if (!strcmp(method, "HEAD"))
                curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "GET"))
                curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
        if (content_type)
                add_header(c, "Content-Type: %s", content_type);
        if (body) {
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
        c->t0 = now_s();
}

/* The first request of a client: it opens the connection before any load runs. */
static void connect_op(struct load *l, struct client *c)
{
        c->op = OP_CONNECT;
        snprintf(c->target, sizeof(c->target), "(health)");
        snprintf(c->url, sizeof(c->url), "%s/api/v1/health", l->base);
        easy_prepare(l, c, l->viewer_tok);
        easy_send(c, "GET", NULL, NULL);
}

/* Choose the next op of a client and set its request up. */
static void next_op(struct load *l, struct client *c)
{
        unsigned r = rnd(&c->rng, 100);
        char name[64];
        struct rec *e;

        c->k = rnd(&c->rng, NAMES_PER_CLIENT);
        if (c->prefill < NAMES_PER_CLIENT) {
                /* First every record is created: the data set is at its full size early. */
                c->k = c->prefill++;
                r = 99;
        }
        e = &c->recs[c->k];
        if (e->unknown && r >= 70)
                r = 0; /* no more writes on a record whose state is unknown */
        if (r < 35)
                c->op = OP_GET_OWN;
        else if (r < 50)
                c->op = OP_GET_OTHER;
        else if (r < 70)
                c->op = OP_LIST;
        else if (r < 90)
                c->op = !e->present ? OP_POST : rnd(&c->rng, 2) ? OP_PUT : OP_PATCH;
        else
                c->op = e->present ? OP_DELETE : OP_POST;

        rec_name(name, sizeof(name), c->id, c->k);
        switch (c->op) {
        case OP_GET_OWN:
        case OP_GET_OTHER:
                if (c->op == OP_GET_OTHER)
                        rec_name(name, sizeof(name), rnd(&c->rng, l->n_clients),
                                 rnd(&c->rng, NAMES_PER_CLIENT));
                snprintf(c->target, sizeof(c->target), "%s", name);
                snprintf(c->url, sizeof(c->url), "%s/api/v1/ifaces/%s", l->base, name);
                easy_prepare(l, c, rnd(&c->rng, 2) ? l->viewer_tok : l->operator_tok);
                easy_send(c, "GET", NULL, NULL);
                break;
        case OP_LIST:
                snprintf(c->target, sizeof(c->target), "(list)");
                snprintf(c->url, sizeof(c->url), "%s/api/v1/ifaces?limit=%d%s%s", l->base,
                         LIST_LIMIT, c->cursor[0] ? "&cursor=" : "", c->cursor);
                easy_prepare(l, c, l->viewer_tok);
                easy_send(c, "GET", NULL, NULL);
                break;
        case OP_POST:
                snprintf(c->target, sizeof(c->target), "%s", name);
                make_whole(c, ++l->seq, name);
                snprintf(c->url, sizeof(c->url), "%s/api/v1/ifaces", l->base);
                easy_prepare(l, c, l->operator_tok);
                easy_send(c, "POST", "application/json", c->body);
                break;
        case OP_PUT:
                snprintf(c->target, sizeof(c->target), "%s", name);
                make_whole(c, ++l->seq, NULL);
                snprintf(c->url, sizeof(c->url), "%s/api/v1/ifaces/%s", l->base, name);
                easy_prepare(l, c, l->operator_tok);
                add_header(c, "If-Match: \"%" PRIu64 "\"", e->etag);
                easy_send(c, "PUT", "application/json", c->body);
                break;
        case OP_PATCH:
                snprintf(c->target, sizeof(c->target), "%s", name);
                make_patch(c, ++l->seq);
                snprintf(c->url, sizeof(c->url), "%s/api/v1/ifaces/%s", l->base, name);
                easy_prepare(l, c, l->operator_tok);
                add_header(c, "If-Match: \"%" PRIu64 "\"", e->etag);
                easy_send(c, "PATCH", "application/merge-patch+json", c->body);
                break;
        case OP_DELETE:
                snprintf(c->target, sizeof(c->target), "%s", name);
                memset(&c->next, 0, sizeof(c->next));
                snprintf(c->url, sizeof(c->url), "%s/api/v1/ifaces/%s", l->base, name);
                easy_prepare(l, c, l->operator_tok);
                add_header(c, "If-Match: \"%" PRIu64 "\"", e->etag);
                easy_send(c, "DELETE", NULL, NULL);
                break;
        case OP_CONNECT:
        case _OP_MAX:
                harness_fail("bad op");
        }
}

static bool is_write(enum op op)
{
        return op == OP_POST || op == OP_PUT || op == OP_PATCH || op == OP_DELETE;
}

/* Parse a 2xx JSON body or count a mismatch. */
static json_t *body_json(struct load *l, struct client *c)
{
        json_error_t err;
        json_t *j = json_loadb(c->resp.data ? c->resp.data : "", c->resp.len, 0, &err);

        if (!j) {
                l->st.mismatches++;
                fail(l, "%s %s: the 2xx body is not JSON (%s): %.300s", op_names[c->op], c->target,
                     err.text, c->resp.data ? c->resp.data : "");
        }
        return j;
}

/* The items of a list page that belong to this client must be its acknowledged versions. */
static void check_list_page(struct load *l, struct client *c, json_t *j)
{
        json_t *items = json_object_get(j, "items"), *it, *nc;
        char prefix[32], why[512];
        size_t i, plen;

        if (!json_is_array(items)) {
                l->st.mismatches++;
                fail(l, "list: no items array: %.300s", c->resp.data);
                return;
        }
        plen = (size_t)snprintf(prefix, sizeof(prefix), NAME_PREFIX "%u-", c->id);
        json_array_foreach (items, i, it) {
                const char *name = json_string_value(json_object_get(it, "name"));
                unsigned k;
                const struct rec *e;

                if (!name || strncmp(name, prefix, plen) || sscanf(name + plen, "%u", &k) != 1 ||
                    k >= NAMES_PER_CLIENT)
                        continue;
                e = &c->recs[k];
                if (e->unknown)
                        continue;
                if (!e->present) {
                        l->st.mismatches++;
                        fail(l, "list shows %s, deleted by an acknowledged DELETE", name);
                } else if (!rec_json_ok(it, name, e, why, sizeof(why))) {
                        l->st.mismatches++;
                        fail(l, "list shows %s not as last acknowledged: %s", name, why);
                } else {
                        l->st.list_items_checked++;
                }
        }
        nc = json_object_get(j, "next_cursor");
        if (json_is_string(nc) && strlen(json_string_value(nc)) < sizeof(c->cursor))
                snprintf(c->cursor, sizeof(c->cursor), "%s", json_string_value(nc));
        else
                c->cursor[0] = 0;
}

static void done_op(struct load *l, struct client *c, CURLcode cc)
{
        struct rec *e = &c->recs[c->k];
        long status = 0, want = 0;
        json_t *j = NULL;
        char why[1024];
        float ms = (float)((now_s() - c->t0) * 1e3);
        long connects = 0;

        l->st.requests++;
        l->st.by_op[c->op]++;
        if (curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
                l->st.connects += (unsigned long)connects;
        if (l->st.n_lat == l->st.cap_lat) {
                l->st.cap_lat = l->st.cap_lat ? l->st.cap_lat * 2 : 65536;
                l->st.lat = realloc(l->st.lat, l->st.cap_lat * sizeof(float));
                if (!l->st.lat)
                        harness_fail("out of memory");
        }
        l->st.lat[l->st.n_lat++] = ms;
        if (ms > l->st.max_ms[c->op])
                l->st.max_ms[c->op] = ms;

        if (cc != CURLE_OK) {
                l->st.transport_errors++;
                fail(l, "%s %s: transport error after %.0f ms: %s", op_names[c->op], c->target, ms,
                     curl_easy_strerror(cc));
                if (is_write(c->op))
                        e->unknown = true;
                return;
        }
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status > 0 && status < 600)
                l->st.by_status[status]++;
        if (status >= 500)
                fail(l, "%s %s: HTTP %ld: %.300s", op_names[c->op], c->target, status,
                     c->resp.data ? c->resp.data : "");

        switch (c->op) {
        case OP_CONNECT:
                want = 200;
                break;
        case OP_GET_OWN:
                want = e->unknown ? 0 : e->present ? 200 : 404;
                break;
        case OP_GET_OTHER:
                want = status == 404 ? 404 : 200;
                break;
        case OP_LIST:
        case OP_PUT:
        case OP_PATCH:
                want = 200;
                break;
        case OP_POST:
                want = 201;
                break;
        case OP_DELETE:
                want = 204;
                break;
        case _OP_MAX:
                break;
        }
        if (want && status != want) {
                if (status < 500) {
                        l->st.unexpected++;
                        fail(l, "%s %s: HTTP %ld, expected %ld: %.300s", op_names[c->op], c->target,
                             status, want, c->resp.data ? c->resp.data : "");
                }
                if (is_write(c->op))
                        e->unknown = true;
                return;
        }
        if (!want || status == 404 || c->op == OP_DELETE || c->op == OP_CONNECT) {
                if (c->op == OP_DELETE) {
                        *e = c->next;
                        l->st.acked[c->op]++;
                } else if (c->op == OP_GET_OWN) {
                        l->st.own_reads_checked++;
                }
                return;
        }

        j = body_json(l, c);
        if (!j) {
                if (is_write(c->op))
                        e->unknown = true;
                return;
        }
        switch (c->op) {
        case OP_CONNECT:
                break;
        case OP_GET_OWN:
                if (c->etag != e->etag) {
                        l->st.mismatches++;
                        fail(l, "GET %s: ETag %" PRIu64 "%s, last acknowledged %" PRIu64, c->target,
                             c->etag, c->etag_bad ? " (malformed)" : "", e->etag);
                } else if (!rec_json_ok(j, c->target, e, why, sizeof(why))) {
                        l->st.mismatches++;
                        fail(l, "GET %s: not the last acknowledged write: %s", c->target, why);
                } else {
                        l->st.own_reads_checked++;
                }
                break;
        case OP_GET_OTHER:
                if (!json_is_string(json_object_get(j, "name"))) {
                        l->st.mismatches++;
                        fail(l, "GET %s: no name in %.300s", c->target, c->resp.data);
                }
                break;
        case OP_LIST:
                check_list_page(l, c, j);
                break;
        case OP_POST:
        case OP_PUT:
        case OP_PATCH:
                c->next.etag = c->etag;
                /* A change gets a new revision; an unchanged record keeps its ETag. */
                if (!c->etag || c->etag_bad ||
                    (c->op != OP_POST &&
                     (same_fields(e, &c->next) ? c->etag != e->etag : c->etag <= e->etag))) {
                        l->st.mismatches++;
                        fail(l, "%s %s: ETag %" PRIu64 "%s after %" PRIu64, op_names[c->op],
                             c->target, c->etag, c->etag_bad ? " (malformed)" : "", e->etag);
                        e->unknown = true;
                } else if (!rec_json_ok(j, c->target, &c->next, why, sizeof(why))) {
                        l->st.mismatches++;
                        fail(l, "%s %s: the answer is not the version written: %s (sent %s)",
                             op_names[c->op], c->target, why, c->body);
                        e->unknown = true;
                } else {
                        *e = c->next;
                        l->st.acked[c->op]++;
                }
                break;
        case OP_DELETE:
        case _OP_MAX:
                break;
        }
        json_decref(j);
}

static void run_load(struct load *l, long *rss_start, long *rss_end, long *rss_max, double *elapsed)
{
        CURLM *m = curl_multi_init();
        double t_start, t0 = 0, deadline = 0, last_tick, drain_deadline = 0, t_ready = 0;
        unsigned active = 0, n_ready = 0, n_connected = 0;
        bool stopping = false;
        int running;

        if (!m)
                harness_fail("curl_multi_init failed");
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)l->n_clients + 8);
        curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)l->n_clients);
        curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)l->n_clients);

        for (unsigned i = 0; i < l->n_clients; i++) {
                struct client *c = &l->clients[i];

                c->easy = curl_easy_init();
                if (!c->easy)
                        harness_fail("curl_easy_init failed");
                connect_op(l, c);
                curl_multi_add_handle(m, c->easy);
                active++;
        }

        /*
         * Every client first opens its connection (GET /api/v1/health) and waits for the others:
         * the daemon accepts new connections slowly while its HTTP threads run writes (about
         * one per poll round and thread), so a fleet connecting in the middle of a write storm
         * can wait more than HTTP_TIMEOUT_S for its first answer.
         */
        t_start = now_s();
        last_tick = t_start;
        *rss_start = 0;
        *rss_max = 0;
        while (active > 0) {
                CURLMsg *msg;
                int left;
                double t;
                CURLMcode mc = curl_multi_perform(m, &running);

                if (mc != CURLM_OK)
                        harness_fail("curl_multi_perform: %s", curl_multi_strerror(mc));
                while ((msg = curl_multi_info_read(m, &left))) {
                        struct client *c;

                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
                        done_op(l, c, msg->data.result);
                        curl_multi_remove_handle(m, c->easy);
                        active--;
                        if (c->op == OP_CONNECT) {
                                if (++n_connected < l->n_clients)
                                        continue; /* parked until all are connected */
                                t0 = now_s();
                                deadline = t0 + l->seconds;
                                printf("load: %u connections answered after %.1f s (slowest "
                                       "first answer %.0f ms); the mix starts\n",
                                       l->n_clients, t0 - t_start, l->st.max_ms[OP_CONNECT]);
                                for (unsigned i = 0; i < l->n_clients; i++) {
                                        next_op(l, &l->clients[i]);
                                        curl_multi_add_handle(m, l->clients[i].easy);
                                        active++;
                                }
                                continue;
                        }
                        if (!c->ready && c->prefill == NAMES_PER_CLIENT) {
                                c->ready = true;
                                if (++n_ready == l->n_clients) {
                                        t_ready = now_s();
                                        printf("load: all %u records created after %.1f s\n",
                                               l->n_clients * NAMES_PER_CLIENT, t_ready - t0);
                                }
                        }
                        if (!stopping) {
                                next_op(l, c);
                                curl_multi_add_handle(m, c->easy);
                                active++;
                        }
                }

                t = now_s();
                if (t - last_tick >= 1.0) {
                        long rss = rss_kib(l->pid);
                        int status;

                        last_tick = t;
                        if (rss > *rss_max)
                                *rss_max = rss;
                        if (!*rss_start && t_ready > 0 && t - t_ready >= WARMUP_S) {
                                *rss_start = rss;
                                printf("load: warm-up done %.0f s after that: %lu requests, VmRSS "
                                       "%ld KiB\n",
                                       t - t_ready, l->st.requests, rss);
                                fflush(stdout);
                        }
                        if (waitpid(l->pid, &status, WNOHANG) == l->pid) {
                                char why[64];

                                l->pid = 0;
                                dump_log_tail(l, 40);
                                fail(l, "the daemon died under load (%s)",
                                     exit_str(status, why, sizeof(why)));
                                exit(EXIT_FAIL);
                        }
                        if (t0 > 0 && (long)(t - t0) % 10 == 0 && !stopping) {
                                printf("load: %.0f s: %lu requests, %lu failures, VmRSS %ld KiB\n",
                                       t - t0, l->st.requests, l->st.shown, rss);
                                fflush(stdout);
                        }
                }
                if (!stopping && t0 > 0 && t >= deadline) {
                        stopping = true;
                        drain_deadline = t + DRAIN_TIMEOUT_S;
                        *elapsed = t - t0;
                }
                if (stopping && t > drain_deadline)
                        harness_fail("%u requests still running %ld s after the end", active,
                                     DRAIN_TIMEOUT_S);
                if (active > 0)
                        curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        *rss_end = rss_kib(l->pid);
        if (!*rss_start) {
                printf("load: the run ended before the warm-up did: no RSS growth figure "
                       "(raise LOAD_SECONDS)\n");
                *rss_start = *rss_end;
        }

        for (unsigned i = 0; i < l->n_clients; i++) {
                curl_easy_cleanup(l->clients[i].easy);
                l->clients[i].easy = NULL;
                curl_slist_free_all(l->clients[i].hdrs);
                l->clients[i].hdrs = NULL;
        }
        curl_multi_cleanup(m);
}

/* --- checks before and after the load ------------------------------------------------------ */

struct reply {
        long status;
        uint64_t etag;
        bool etag_bad;
        struct buf body;
};

/* One blocking request on a separate connection (sanity checks and the final verification). */
static void request(struct load *l, CURL *easy, const char *method, const char *path,
                    const char *token, const char *content_type, const char *body, struct reply *r)
{
        struct client tmp = { .easy = easy };
        CURLcode cc;

        snprintf(tmp.url, sizeof(tmp.url), "%s%s", l->base, path);
        easy_prepare(l, &tmp, token);
        easy_send(&tmp, method, content_type, body);
        cc = curl_easy_perform(easy);
        r->status = 0;
        if (cc == CURLE_OK)
                curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        else
                fprintf(stderr, "load: %s %s: %s\n", method, path, curl_easy_strerror(cc));
        r->etag = tmp.etag;
        r->etag_bad = tmp.etag_bad;
        free(r->body.data);
        r->body = tmp.resp;
        curl_slist_free_all(tmp.hdrs);
}

/* With tokens: no token is 401, a viewer cannot write (403), an operator can read. */
static void check_auth(struct load *l, CURL *easy)
{
        struct reply r = {};

        request(l, easy, "GET", "/api/v1/ifaces", NULL, NULL, NULL, &r);
        if (r.status != 401)
                fail(l, "GET /api/v1/ifaces without a token: HTTP %ld, expected 401", r.status);
        request(l, easy, "POST", "/api/v1/ifaces", l->viewer_tok, "application/json",
                "{\"name\":\"" NAME_PREFIX "viewer\"}", &r);
        if (r.status != 403)
                fail(l, "POST /api/v1/ifaces as viewer: HTTP %ld, expected 403", r.status);
        request(l, easy, "GET", "/api/v1/ifaces?limit=1", l->operator_tok, NULL, NULL, &r);
        if (r.status != 200)
                fail(l, "GET /api/v1/ifaces as operator: HTTP %ld, expected 200", r.status);
        free(r.body.data);
        if (l->failed)
                printf("load: the auth answers are wrong\n");
        else
                printf("load: auth: no token 401, viewer write 403, operator read 200\n");
}

/* GET every owned name: present ones must be the last acknowledged version, with its ETag. */
static unsigned long verify_http(struct load *l, CURL *easy)
{
        struct reply r = {};
        unsigned long ok = 0;
        char name[64], path[128], why[1024];

        for (unsigned i = 0; i < l->n_clients; i++) {
                for (unsigned k = 0; k < NAMES_PER_CLIENT; k++) {
                        const struct rec *e = &l->clients[i].recs[k];
                        json_t *j;

                        if (e->unknown)
                                continue;
                        rec_name(name, sizeof(name), i, k);
                        snprintf(path, sizeof(path), "/api/v1/ifaces/%s", name);
                        request(l, easy, "GET", path, l->viewer_tok, NULL, NULL, &r);
                        if (r.status != (e->present ? 200 : 404)) {
                                l->st.mismatches++;
                                fail(l, "final GET %s: HTTP %ld, expected %d (%s)", name, r.status,
                                     e->present ? 200 : 404,
                                     e->present ? "lost write" : "lost delete");
                                continue;
                        }
                        if (!e->present) {
                                ok++;
                                continue;
                        }
                        j = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
                        if (r.etag != e->etag) {
                                l->st.mismatches++;
                                fail(l,
                                     "final GET %s: ETag %" PRIu64 ", last acknowledged %" PRIu64,
                                     name, r.etag, e->etag);
                        } else if (!rec_json_ok(j, name, e, why, sizeof(why))) {
                                l->st.mismatches++;
                                fail(l, "final GET %s: %s", name, why);
                        } else {
                                ok++;
                        }
                        json_decref(j);
                }
        }
        free(r.body.data);
        return ok;
}

static bool read_whole(const char *path, char **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        char *data = NULL;
        size_t len = 0, cap = 0;

        if (!f)
                return false;
        for (;;) {
                size_t n;

                if (len + 4096 + 1 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        data = realloc(data, cap);
                        if (!data)
                                harness_fail("out of memory");
                }
                n = fread(data + len, 1, cap - len - 1, f);
                len += n;
                if (n == 0)
                        break;
        }
        fclose(f);
        data[len] = 0;
        *ret = data;
        *ret_len = len;
        return true;
}

/* Whether a name is one of the load's, and which: NAME_PREFIX<client>-<k>. */
static bool parse_name(const struct load *l, const char *name, unsigned *client, unsigned *k)
{
        char tail;

        if (strncmp(name, NAME_PREFIX, strlen(NAME_PREFIX)) ||
            sscanf(name + strlen(NAME_PREFIX), "%u-%u%c", client, k, &tail) != 2)
                return false;
        return *client < l->n_clients && *k < NAMES_PER_CLIENT;
}

/*
 * After the stop: <root>/ifaces holds exactly the present records, each file whole and in its
 * acknowledged state; the sqlite row of each holds the same bytes and the acknowledged revision;
 * there are no other rows and no intents left.
 */
static unsigned long verify_mirrors(struct load *l)
{
        unsigned char *seen_file = calloc((size_t)l->n_clients * NAMES_PER_CLIENT, 1);
        unsigned char *seen_row = calloc((size_t)l->n_clients * NAMES_PER_CLIENT, 1);
        char **files = calloc((size_t)l->n_clients * NAMES_PER_CLIENT, sizeof(char *));
        size_t *file_len = calloc((size_t)l->n_clients * NAMES_PER_CLIENT, sizeof(size_t));
        unsigned long ok = 0;
        sqlite3 *db = NULL;
        sqlite3_stmt *q = NULL;
        struct dirent *de;
        char why[4096], path[1024];
        DIR *d;

        if (!seen_file || !seen_row || !files || !file_len)
                harness_fail("out of memory");
        d = opendir(l->ifaces);
        if (!d)
                harness_fail("opendir %s: %m", l->ifaces);
        while ((de = readdir(d))) {
                unsigned i, k;
                size_t idx;

                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (!parse_name(l, de->d_name, &i, &k)) {
                        fail(l, "unexpected entry in ifaces/: %s", de->d_name);
                        continue;
                }
                idx = (size_t)i * NAMES_PER_CLIENT + k;
                set_path(path, sizeof(path), l->ifaces, de->d_name);
                if (!read_whole(path, &files[idx], &file_len[idx]))
                        harness_fail("read %s: %m", path);
                seen_file[idx] = 1;
        }
        closedir(d);

        if (sqlite3_open_v2(l->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
                harness_fail("sqlite3_open %s: %s", l->db, sqlite3_errmsg(db));
        if (sqlite3_prepare_v2(db, "SELECT name, content, revision FROM ifaces", -1, &q, NULL) !=
            SQLITE_OK)
                harness_fail("sqlite: %s", sqlite3_errmsg(db));
        while (sqlite3_step(q) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(q, 0);
                const char *content = (const char *)sqlite3_column_blob(q, 1);
                size_t len = (size_t)sqlite3_column_bytes(q, 1);
                uint64_t rev = (uint64_t)sqlite3_column_int64(q, 2);
                unsigned i, k;
                size_t idx;
                const struct rec *e;

                if (!name || !parse_name(l, name, &i, &k)) {
                        fail(l, "unexpected row in table ifaces: %s", name ? name : "(null)");
                        continue;
                }
                idx = (size_t)i * NAMES_PER_CLIENT + k;
                e = &l->clients[i].recs[k];
                seen_row[idx] = 1;
                if (e->unknown)
                        continue;
                if (!e->present) {
                        l->st.mismatches++;
                        fail(l, "row %s exists after an acknowledged DELETE", name);
                } else if (!seen_file[idx]) {
                        l->st.mismatches++;
                        fail(l, "row %s has no file in ifaces/", name);
                } else if (len != file_len[idx] || memcmp(content, files[idx], len)) {
                        l->st.mismatches++;
                        fail(l, "%s: file and row differ:\n--- file\n%s--- row\n%.*s", name,
                             files[idx], (int)len, content ? content : "");
                } else if (rev != e->etag) {
                        l->st.mismatches++;
                        fail(l, "row %s: revision %" PRIu64 ", last acknowledged %" PRIu64, name,
                             rev, e->etag);
                } else if (!rec_file_ok(files[idx], file_len[idx], name, e, why, sizeof(why))) {
                        l->st.mismatches++;
                        fail(l, "file %s: %s", name, why);
                } else {
                        ok++;
                }
        }
        sqlite3_finalize(q);
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM intents", -1, &q, NULL) != SQLITE_OK ||
            sqlite3_step(q) != SQLITE_ROW)
                harness_fail("sqlite: %s", sqlite3_errmsg(db));
        if (sqlite3_column_int64(q, 0) != 0)
                fail(l, "%lld intents left in the db after the stop",
                     (long long)sqlite3_column_int64(q, 0));
        sqlite3_finalize(q);
        sqlite3_close(db);

        for (unsigned i = 0; i < l->n_clients; i++) {
                for (unsigned k = 0; k < NAMES_PER_CLIENT; k++) {
                        const struct rec *e = &l->clients[i].recs[k];
                        size_t idx = (size_t)i * NAMES_PER_CLIENT + k;
                        char name[64];

                        if (e->unknown)
                                continue;
                        rec_name(name, sizeof(name), i, k);
                        if (e->present && !seen_row[idx]) {
                                l->st.mismatches++;
                                fail(l, "%s: no row (lost write)", name);
                        } else if (e->present && !seen_file[idx]) {
                                l->st.mismatches++;
                                fail(l, "%s: no file (lost write)", name);
                        } else if (!e->present && seen_file[idx]) {
                                l->st.mismatches++;
                                fail(l, "%s: the file exists after an acknowledged DELETE", name);
                        } else if (!e->present) {
                                ok++;
                        }
                        free(files[idx]);
                }
        }
        free(files);
        free(file_len);
        free(seen_file);
        free(seen_row);
        return ok;
}

/* --- main ---------------------------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
        float x = *(const float *)a, y = *(const float *)b;

        return x < y ? -1 : x > y;
}

static unsigned env_uint(const char *name, unsigned def, unsigned min, unsigned max)
{
        const char *v = getenv(name);
        char *end;
        unsigned long n;

        if (!v || !*v)
                return def;
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno || *end || n < min || n > max)
                harness_fail("%s must be a number from %u to %u", name, min, max);
        return (unsigned)n;
}

static void raise_own_nofile(unsigned need)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                harness_fail("getrlimit: %m");
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
                (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
                harness_fail("RLIMIT_NOFILE is %lu, the test needs %u (ulimit -n)",
                             (unsigned long)rl.rlim_cur, need);
}

int main(int argc, char **argv)
{
        static struct load load;
        struct load *l = &load;
        const char *tmp, *env;
        long rss_start, rss_end, rss_max, nofile;
        double elapsed = 0, growth;
        unsigned long acked = 0, ok_http, ok_mirrors, seed;
        CURL *easy;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc > 2 || (argc == 2 && strcmp(argv[1], "--sanitized")))
                harness_fail("usage: %s [--sanitized]", argv[0]);
        l->sanitized = argc == 2;
        l->bin = getenv("IFACED_BIN");
        if (!l->bin || access(l->bin, X_OK) < 0)
                harness_fail("IFACED_BIN is not set to the daemon executable (run through meson)");
        l->seconds = env_uint("LOAD_SECONDS", SECONDS_DEFAULT, 1, 86400);
        l->n_clients = env_uint("LOAD_CONNECTIONS", CONNECTIONS_DEFAULT, 1, CONNECTIONS_MAX);
        l->keep = (env = getenv("LOAD_KEEP")) && !strcmp(env, "1");
        seed = env_uint("LOAD_SEED", (unsigned)time(NULL) ^ (unsigned)getpid(), 0, UINT32_MAX);
        raise_own_nofile(l->n_clients + 64);

        tmp = getenv("TMPDIR");
        snprintf(l->dir, sizeof(l->dir), "%s/iscsi-ifaced-load.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(l->dir))
                harness_fail("mkdtemp %s: %m", l->dir);
        cleanup_target = l;
        atexit(cleanup_at_exit);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        signal(SIGPIPE, SIG_IGN);
        set_path(l->root, sizeof(l->root), l->dir, "root");
        set_path(l->ifaces, sizeof(l->ifaces), l->root, "ifaces");
        set_path(l->db, sizeof(l->db), l->dir, "ifaced.db");
        set_path(l->lock, sizeof(l->lock), l->dir, "lock");
        set_path(l->port_file, sizeof(l->port_file), l->dir, "port");
        set_path(l->log, sizeof(l->log), l->dir, "daemon.log");
        set_path(l->sysfs, sizeof(l->sysfs), l->dir, "sysfs");
        if (mkdir(l->root, 0700) < 0 || mkdir(l->lock, 0755) < 0 || mkdir(l->sysfs, 0755) < 0)
                harness_fail("mkdir: %m");

        printf("load: %u s, %u connections, %d records per connection, seed %lu (LOAD_SEED)\n",
               l->seconds, l->n_clients, NAMES_PER_CLIENT, seed);

        /* Tokens first: the CLI works on the db before the daemon runs. */
        l->tokens = create_token(l, "operator", l->operator_tok, sizeof(l->operator_tok)) &&
                    create_token(l, "viewer", l->viewer_tok, sizeof(l->viewer_tok));
        if (!l->tokens) {
                static const char bar[] = "**************************************************"
                                          "**********************";

                for (int fd = 0; fd < 2; fd++)
                        dprintf(fd ? STDERR_FILENO : STDOUT_FILENO,
                                "%s\n** NOTICE: `iscsi-ifaced token create` does not work with "
                                "this daemon:\n** the load runs WITHOUT AUTH (--auth off if "
                                "the daemon knows it).\n%s\n",
                                bar, bar);
        } else {
                printf("load: tokens: operator and viewer made with `iscsi-ifaced token "
                       "create`\n");
        }

        start_daemon(l);
        nofile = nofile_limit(l->pid);
        printf("load: daemon pid %d on port %u, its RLIMIT_NOFILE %ld\n", (int)l->pid, l->port,
               nofile);
        if (nofile > 0 && (unsigned long)nofile < l->n_clients + 64UL)
                harness_fail("the daemon may open %ld files, fewer than %u connections need",
                             nofile, l->n_clients);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                harness_fail("curl_global_init failed");
        easy = curl_easy_init();
        if (!easy)
                harness_fail("curl_easy_init failed");
        if (l->tokens)
                check_auth(l, easy);

        l->clients = calloc(l->n_clients, sizeof(*l->clients));
        if (!l->clients)
                harness_fail("out of memory");
        for (unsigned i = 0; i < l->n_clients; i++) {
                l->clients[i].id = i;
                l->clients[i].rng = (unsigned)seed * 7919u + i;
                /* 127.0.0.2, .3, ...: the daemon limits connections per client address. */
                snprintf(l->clients[i].source, sizeof(l->clients[i].source), "host!127.0.0.%u",
                         2 + i / PER_SOURCE);
        }

        run_load(l, &rss_start, &rss_end, &rss_max, &elapsed);
        ok_http = verify_http(l, easy);
        curl_easy_cleanup(easy);
        stop_daemon(l);
        ok_mirrors = verify_mirrors(l);

        for (int op = 0; op < _OP_MAX; op++)
                acked += l->st.acked[op];
        qsort(l->st.lat, l->st.n_lat, sizeof(float), cmp_float);
        growth = rss_start ? (double)(rss_end - rss_start) / (double)rss_start : 0;

        printf("\nload summary (%s)\n", l->tokens ? "auth on, bearer tokens" : "AUTH OFF");
        printf("  requests        %lu in %.1f s: %.0f req/s over %u keep-alive connections\n",
               l->st.requests, elapsed, elapsed > 0 ? (double)l->st.requests / elapsed : 0,
               l->n_clients);
        printf("  connections     %lu opened (keep-alive: about one per client)\n", l->st.connects);
        printf("  by op          ");
        for (int op = 0; op < _OP_MAX; op++)
                printf(" %s=%lu", op_names[op], l->st.by_op[op]);
        printf("\n  max ms by op   ");
        for (int op = 0; op < _OP_MAX; op++)
                printf(" %s=%.0f", op_names[op], l->st.max_ms[op]);
        printf("\n  latency ms      p50 %.2f  p99 %.2f  max %.2f\n",
               l->st.n_lat ? l->st.lat[l->st.n_lat / 2] : 0,
               l->st.n_lat ? l->st.lat[l->st.n_lat * 99 / 100] : 0,
               l->st.n_lat ? l->st.lat[l->st.n_lat - 1] : 0);
        printf("  statuses       ");
        for (int s = 0; s < 600; s++)
                if (l->st.by_status[s])
                        printf(" %d=%lu", s, l->st.by_status[s]);
        {
                unsigned long s5 = 0;

                for (int s = 500; s < 600; s++)
                        s5 += l->st.by_status[s];
                printf("\n  errors          5xx=%lu transport=%lu unexpected-status=%lu "
                       "mismatches=%lu\n",
                       s5, l->st.transport_errors, l->st.unexpected, l->st.mismatches);
        }
        printf("  writes acked    %lu (post=%lu put=%lu patch=%lu delete=%lu)\n", acked,
               l->st.acked[OP_POST], l->st.acked[OP_PUT], l->st.acked[OP_PATCH],
               l->st.acked[OP_DELETE]);
        printf("  checked live    %lu own reads, %lu own list items = last acknowledged write\n",
               l->st.own_reads_checked, l->st.list_items_checked);
        printf("  writes verified %lu of %u records by GET, %lu by file == row == last "
               "acknowledged write\n",
               ok_http, l->n_clients * NAMES_PER_CLIENT, ok_mirrors);
        printf("  daemon VmRSS    %ld KiB after the %.0f s warm-up, %ld KiB at the end (%+.1f %%), "
               "max %ld KiB\n",
               rss_start, WARMUP_S, rss_end, growth * 100, rss_max);

        if (l->sanitized)
                printf("load: RSS growth not checked: ASan's quarantine keeps freed memory "
                       "(the gcc build checks it)\n");
        else if (growth > RSS_GROWTH_MAX)
                fail(l, "the daemon's VmRSS grew by %.1f %% (limit %.0f %%)", growth * 100,
                     RSS_GROWTH_MAX * 100);
        if (ok_http != l->n_clients * NAMES_PER_CLIENT || ok_mirrors != ok_http)
                fail(l, "%u records, %lu verified over HTTP, %lu in both mirrors",
                     l->n_clients * NAMES_PER_CLIENT, ok_http, ok_mirrors);
        free(l->st.lat);
        for (unsigned i = 0; i < l->n_clients; i++)
                free(l->clients[i].resp.data);
        free(l->clients);
        curl_global_cleanup();

        if (l->failed) {
                dump_log_tail(l, 30);
                printf("load: FAIL (%lu failures, the first %d printed on stderr)\n", l->st.shown,
                       MAX_SHOWN);
                return EXIT_FAIL;
        }
        printf("load: PASS%s\n", l->tokens ? "" : " (WITHOUT AUTH: no token CLI yet)");
        return 0;
}
