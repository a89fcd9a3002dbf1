/* SPDX-License-Identifier: MIT */
/* The iscsi-ifaced daemon: options, startup checks, signals, and the orderly shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "dbroot.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "store.h"
#include "tls.h"
#include "token.h"

#define PROGRAM     "iscsi-ifaced"
#define DRAIN_MS    10000 /* how long SIGTERM waits for running requests */
#define THREADS_MAX 256

#define LISTEN_MAX     8
#define UNIX_ROLES_MAX 32
#define CONFIG_LINE    4096

struct options {
        const char *listen[LISTEN_MAX];
        size_t n_listen;
        bool listen_from_cmdline; /* the command line's --listen replaces the config file's */
        const char *port_file;
        const char *iscsi_root;
        const char *db_path;
        const char *lock_dir;
        const char *sysfs_root;
        const char *initiator_name_file;
        enum engine_drift_policy drift;
        unsigned threads;
        int log_level;
        bool auth;
        bool insecure;
        const char *tls_cert;
        const char *tls_key;
        struct api_unix_role unix_roles[UNIX_ROLES_MAX];
        size_t n_unix_roles;
        double rate_limit;
        double rate_burst;
        unsigned max_conn_per_client;
        unsigned idle_timeout_s;
        unsigned max_connections;
        unsigned lock_timeout_ms;
};

static void help(void)
{
        printf("Usage: %s [OPTIONS]\n"
               "       %s token create --role viewer|operator|admin [--name TEXT] [--db FILE]\n"
               "       %s token list [--db FILE]\n"
               "       %s token revoke ID [--db FILE]\n"
               "\n"
               "Manage open-iscsi iface records over HTTP/JSON.\n"
               "\n"
               "  --config FILE         read options from FILE (\"key = value\" lines, keys are the\n"
               "                        long options; later command-line options override it)\n"
               "  --listen ADDR         127.0.0.1:PORT, [::1]:PORT, HOST:PORT or unix:/PATH; may\n"
               "                        repeat (default 127.0.0.1:8080; port 0 picks a free port)\n"
               "  --port-file FILE      write the bound port of the first TCP listener to FILE\n"
               "  --iscsi-root DIR      open-iscsi db root (default: the compiled-in root of the\n"
               "                        installed iscsiadm, else an existing /etc/iscsi or\n"
               "                        /var/lib/iscsi with iscsiadm's layout, else /etc/iscsi;\n"
               "                        the log says which and why)\n"
               "  --db FILE             sqlite database (default /var/lib/iscsi-ifaced/ifaced.db)\n"
               "  --lock-dir DIR        iscsiadm lock directory (default /run/lock/iscsi)\n"
               "  --lock-timeout-ms N   how long a write waits for iscsiadm's lock before 503\n"
               "                        (default 5000)\n"
               "  --sysfs-root DIR      sysfs to read HBAs, transports and NIC details from\n"
               "                        (default /sys; a fixture tree works for tests)\n"
               "  --initiator-name-file FILE  open-iscsi's initiatorname.iscsi, for checks\n"
               "                        (default /etc/iscsi/initiatorname.iscsi)\n"
               "  --drift import|report import changes made behind our back, or only report\n"
               "                        them (default import)\n"
               "  --threads N           HTTP worker threads, 1..%d (default 2)\n"
               "  --auth on|off         require a token or a mapped unix uid (default on); off is\n"
               "                        allowed on loopback and unix listeners only\n"
               "  --unix-role UID:ROLE  give a unix socket peer uid a role (viewer, operator,\n"
               "                        admin); may repeat; uid 0 is always admin (a\n"
               "                        mapping for uid 0 is refused)\n"
               "  --tls-cert FILE       PEM certificate chain for the TCP listeners (reloaded on\n"
               "                        SIGHUP)\n"
               "  --tls-key FILE        its PEM private key\n"
               "  --rate-limit N        requests per second per token (default 100)\n"
               "  --rate-burst N        burst per token (default 200)\n"
               "  --max-conn-per-client N  TCP connections per client address (default 64)\n"
               "  --idle-timeout SEC    close a connection idle or stalled this long (default 30)\n"
               "  --max-connections N   connections per listener in all (default 4096)\n"
               "  --insecure            allow a non-loopback listener without TLS and auth\n"
               "  --log-level LEVEL     error, warning, notice, info or debug (default info)\n"
               "  --help                show this help\n"
               "  --version             show the version\n"
               "\n"
               "Signals: SIGHUP rescans the db root and the offload ports and reloads the TLS\n"
               "certificate; SIGTERM/SIGINT stop after running requests; SIGUSR1, SIGUSR2,\n"
               "SIGALRM and SIGPIPE are ignored (the first three are logged).\n",
               PROGRAM, PROGRAM, PROGRAM, PROGRAM, THREADS_MAX);
}

static int usage_error(const char *option, const char *value, const char *expected)
{
        fprintf(stderr, "%s: --%s: invalid value '%s' (expected %s)\n", PROGRAM, option, value,
                expected);
        return -EINVAL;
}

static int parse_unsigned(const char *v, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long l;

        if (!v || *v < '0' || *v > '9')
                return -EINVAL;
        errno = 0;
        l = strtoul(v, &end, 10);
        if (errno || *end || l < min || l > max)
                return -EINVAL;
        *ret = l;
        return 0;
}

enum {
        ARG_CONFIG = 0x100,
        ARG_LISTEN,
        ARG_PORT_FILE,
        ARG_ISCSI_ROOT,
        ARG_DB,
        ARG_LOCK_DIR,
        ARG_LOCK_TIMEOUT,
        ARG_SYSFS_ROOT,
        ARG_INITIATOR_NAME_FILE,
        ARG_DRIFT,
        ARG_THREADS,
        ARG_AUTH,
        ARG_UNIX_ROLE,
        ARG_TLS_CERT,
        ARG_TLS_KEY,
        ARG_RATE_LIMIT,
        ARG_RATE_BURST,
        ARG_MAX_CONN,
        ARG_IDLE_TIMEOUT,
        ARG_MAX_CONNECTIONS,
        ARG_INSECURE,
        ARG_LOG_LEVEL,
        ARG_HELP,
        ARG_VERSION,
};

static const struct option long_options[] = {
        { "config", required_argument, NULL, ARG_CONFIG },
        { "listen", required_argument, NULL, ARG_LISTEN },
        { "port-file", required_argument, NULL, ARG_PORT_FILE },
        { "iscsi-root", required_argument, NULL, ARG_ISCSI_ROOT },
        { "db", required_argument, NULL, ARG_DB },
        { "lock-dir", required_argument, NULL, ARG_LOCK_DIR },
        { "lock-timeout-ms", required_argument, NULL, ARG_LOCK_TIMEOUT },
        { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
        { "initiator-name-file", required_argument, NULL, ARG_INITIATOR_NAME_FILE },
        { "drift", required_argument, NULL, ARG_DRIFT },
        { "threads", required_argument, NULL, ARG_THREADS },
        { "auth", required_argument, NULL, ARG_AUTH },
        { "unix-role", required_argument, NULL, ARG_UNIX_ROLE },
        { "tls-cert", required_argument, NULL, ARG_TLS_CERT },
        { "tls-key", required_argument, NULL, ARG_TLS_KEY },
        { "rate-limit", required_argument, NULL, ARG_RATE_LIMIT },
        { "rate-burst", required_argument, NULL, ARG_RATE_BURST },
        { "max-conn-per-client", required_argument, NULL, ARG_MAX_CONN },
        { "idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT },
        { "max-connections", required_argument, NULL, ARG_MAX_CONNECTIONS },
        { "insecure", no_argument, NULL, ARG_INSECURE },
        { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
        { "help", no_argument, NULL, ARG_HELP },
        { "version", no_argument, NULL, ARG_VERSION },
        {},
};

static int parse_config(const char *path, struct options *o);

/* Values read from a config file: the options point into them for the life of the process. */
static char *config_values[1024];
static size_t n_config_values;

static void config_values_free(void)
{
        for (size_t i = 0; i < n_config_values; i++)
                free(config_values[i]);
        n_config_values = 0;
}

/*
 * Apply one option (from argv or the config file). v is kept (argv strings live for the
 * process; config values are strdup()ed by the caller). Returns 0, 1 (--help/--version
 * served), or -EINVAL.
 */
static int apply_option(struct options *o, int id, const char *name, const char *v,
                        bool from_config)
{
        unsigned long l;

        switch (id) {
        case ARG_CONFIG:
                if (from_config)
                        return usage_error(name, v, "no --config inside a config file");
                return parse_config(v, o);
        case ARG_LISTEN:
                if (isempty(v))
                        return usage_error(name, v, "an address");
                if (!from_config && !o->listen_from_cmdline) {
                        o->n_listen = 0; /* the command line replaces the config's listeners */
                        o->listen_from_cmdline = true;
                }
                if (o->n_listen >= LISTEN_MAX)
                        return usage_error(name, v, "at most 8 listeners");
                o->listen[o->n_listen++] = v;
                break;
        case ARG_PORT_FILE:
                if (isempty(v))
                        return usage_error(name, v, "a file name");
                o->port_file = v;
                break;
        case ARG_ISCSI_ROOT:
                if (isempty(v))
                        return usage_error(name, v, "a directory");
                o->iscsi_root = v;
                break;
        case ARG_DB:
                if (isempty(v))
                        return usage_error(name, v, "a file name");
                o->db_path = v;
                break;
        case ARG_LOCK_DIR:
                if (isempty(v))
                        return usage_error(name, v, "a directory");
                o->lock_dir = v;
                break;
        case ARG_LOCK_TIMEOUT:
                if (parse_unsigned(v, 1, 600000, &l) < 0)
                        return usage_error(name, v, "milliseconds from 1 to 600000");
                o->lock_timeout_ms = (unsigned)l;
                break;
        case ARG_SYSFS_ROOT:
                if (isempty(v))
                        return usage_error(name, v, "a directory");
                o->sysfs_root = v;
                break;
        case ARG_INITIATOR_NAME_FILE:
                if (isempty(v))
                        return usage_error(name, v, "a file name");
                o->initiator_name_file = v;
                break;
        case ARG_DRIFT:
                if (streq(v, "import"))
                        o->drift = ENGINE_DRIFT_IMPORT;
                else if (streq(v, "report"))
                        o->drift = ENGINE_DRIFT_REPORT;
                else
                        return usage_error(name, v, "import or report");
                break;
        case ARG_THREADS:
                if (parse_unsigned(v, 1, THREADS_MAX, &l) < 0)
                        return usage_error(name, v, "a number from 1 to 256");
                o->threads = (unsigned)l;
                break;
        case ARG_AUTH:
                if (streq(v, "on"))
                        o->auth = true;
                else if (streq(v, "off"))
                        o->auth = false;
                else
                        return usage_error(name, v, "on or off");
                break;
        case ARG_UNIX_ROLE: {
                const char *colon = strchr(v, ':');
                char uid_s[16];

                if (!colon || (size_t)(colon - v) >= sizeof(uid_s) ||
                    o->n_unix_roles >= UNIX_ROLES_MAX)
                        return usage_error(name, v, "UID:ROLE, at most 32 of them");
                memcpy(uid_s, v, (size_t)(colon - v));
                uid_s[colon - v] = 0;
                if (parse_unsigned(uid_s, 0, 4294967294UL, &l) < 0 ||
                    role_from_string(colon + 1) == ROLE_NONE)
                        return usage_error(name, v, "UID:viewer, UID:operator or UID:admin");
                if (l == 0) {
                        /* A mapping for root would downgrade it, contrary to --help. */
                        fprintf(stderr,
                                "%s: --%s: uid 0 is always admin and cannot be given another "
                                "role; remove this mapping\n",
                                PROGRAM, name);
                        return -EINVAL;
                }
                o->unix_roles[o->n_unix_roles++] =
                        (struct api_unix_role){ .uid = (unsigned)l, .role = colon + 1 };
                break;
        }
        case ARG_TLS_CERT:
                if (isempty(v))
                        return usage_error(name, v, "a PEM file");
                o->tls_cert = v;
                break;
        case ARG_TLS_KEY:
                if (isempty(v))
                        return usage_error(name, v, "a PEM file");
                o->tls_key = v;
                break;
        case ARG_RATE_LIMIT:
        case ARG_RATE_BURST:
                if (parse_unsigned(v, 1, 1000000000UL, &l) < 0)
                        return usage_error(name, v, "a number from 1 to 1000000000");
                if (id == ARG_RATE_LIMIT)
                        o->rate_limit = (double)l;
                else
                        o->rate_burst = (double)l;
                break;
        case ARG_MAX_CONN:
                if (parse_unsigned(v, 1, 4096, &l) < 0)
                        return usage_error(name, v, "a number from 1 to 4096");
                o->max_conn_per_client = (unsigned)l;
                break;
        case ARG_IDLE_TIMEOUT:
                if (parse_unsigned(v, 1, 3600, &l) < 0)
                        return usage_error(name, v, "seconds from 1 to 3600");
                o->idle_timeout_s = (unsigned)l;
                break;
        case ARG_MAX_CONNECTIONS:
                if (parse_unsigned(v, 1, 65536, &l) < 0)
                        return usage_error(name, v, "a number from 1 to 65536");
                o->max_connections = (unsigned)l;
                break;
        case ARG_INSECURE:
                if (from_config && v && !streq(v, "true") && !streq(v, "yes"))
                        return usage_error(name, v, "true (or leave the key out)");
                o->insecure = true;
                break;
        case ARG_LOG_LEVEL: {
                int lv = log_level_from_string(v);

                if (lv < 0)
                        return usage_error(name, v, "error, warning, notice, info or debug");
                o->log_level = lv;
                break;
        }
        case ARG_HELP:
                help();
                return 1;
        case ARG_VERSION:
                printf("%s %s\n", PROGRAM, ENGINE_VERSION);
                return 1;
        default:
                return -EINVAL;
        }
        return 0;
}

/* "key = value" lines; '#' starts a comment line; blank lines are skipped. */
static int parse_config(const char *path, struct options *o)
{
        FILE *f = fopen(path, "re");
        char line[CONFIG_LINE];
        unsigned n = 0;
        int r = 0;

        if (!f) {
                fprintf(stderr, "%s: --config '%s': %s\n", PROGRAM, path, strerror(errno));
                return -EINVAL;
        }
        while (fgets(line, sizeof(line), f)) {
                char *k = line, *eq, *v, *end;
                const struct option *opt;

                n++;
                if (!strchr(line, '\n') && !feof(f)) {
                        fprintf(stderr, "%s: %s:%u: line too long\n", PROGRAM, path, n);
                        r = -EINVAL;
                        break;
                }
                line[strcspn(line, "\r\n")] = 0;
                while (*k == ' ' || *k == '\t')
                        k++;
                if (*k == 0 || *k == '#')
                        continue;
                eq = strchr(k, '=');
                v = eq ? eq + 1 : NULL;
                end = eq ? eq : k + strlen(k);
                while (end > k && (end[-1] == ' ' || end[-1] == '\t'))
                        *--end = 0;
                if (eq)
                        *eq = 0;
                if (v) {
                        while (*v == ' ' || *v == '\t')
                                v++;
                        end = v + strlen(v);
                        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                                *--end = 0;
                }
                for (opt = long_options; opt->name; opt++)
                        if (streq(opt->name, k))
                                break;
                if (!opt->name || opt->val == ARG_HELP || opt->val == ARG_VERSION ||
                    (opt->has_arg == required_argument && !v)) {
                        fprintf(stderr, "%s: %s:%u: unknown option or missing value '%s'\n",
                                PROGRAM, path, n, k);
                        r = -EINVAL;
                        break;
                }
                if (v) {
                        if (n_config_values >= ELEMENTSOF(config_values)) {
                                fprintf(stderr, "%s: %s: too many lines\n", PROGRAM, path);
                                r = -EINVAL;
                                break;
                        }
                        v = strdup(v); /* kept for the life of the process */
                        if (!v) {
                                r = -ENOMEM;
                                break;
                        }
                        config_values[n_config_values++] = v;
                }
                r = apply_option(o, opt->val, opt->name, v, true);
                if (r != 0) {
                        fprintf(stderr, "%s: in %s:%u\n", PROGRAM, path, n);
                        break;
                }
        }
        fclose(f);
        return r;
}

/* Returns 0 to run, 1 when --help/--version was served, -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[], struct options *o)
{
        int c, r;

        while ((c = getopt_long(argc, argv, "", long_options, NULL)) >= 0) {
                const char *name = "option";

                if (c == '?' || c == ':') {
                        /* getopt_long() already said which option was wrong */
                        fprintf(stderr, "Try '%s --help'.\n", PROGRAM);
                        return -EINVAL;
                }
                for (const struct option *opt = long_options; opt->name; opt++)
                        if (opt->val == c)
                                name = opt->name;
                r = apply_option(o, c, name, optarg, false);
                if (r != 0)
                        return r;
        }

        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", PROGRAM, argv[optind]);
                return -EINVAL;
        }

        return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_(freep) char *p = strdup(path);

        if (!p)
                return -ENOMEM;

        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;

        return 0;
}

/* A directory we write into: it must exist (or be created if create_mode != 0), writable. */
static int check_dir(const char *option, const char *path, mode_t create_mode)
{
        struct stat st;
        int r;

        if (stat(path, &st) < 0) {
                r = -errno;
                if (r != -ENOENT || create_mode == 0) {
                        log_error("%s: %s '%s': %s", PROGRAM, option, path, strerror(-r));
                        return r;
                }

                r = mkdir_p(path, create_mode);
                if (r < 0) {
                        log_error("%s: %s '%s': cannot create the directory: %s", PROGRAM, option,
                                  path, strerror(-r));
                        return r;
                }
                if (stat(path, &st) < 0) {
                        r = -errno;
                        log_error("%s: %s '%s': %s", PROGRAM, option, path, strerror(-r));
                        return r;
                }
        }

        if (!S_ISDIR(st.st_mode)) {
                log_error("%s: %s '%s': not a directory", PROGRAM, option, path);
                return -ENOTDIR;
        }

        if (access(path, W_OK | X_OK) < 0) {
                r = -errno;
                log_error("%s: %s '%s': not writable: %s", PROGRAM, option, path, strerror(-r));
                return r;
        }

        return 0;
}

static int check_paths(const struct options *o)
{
        _cleanup_(freep) char *db_copy = NULL;
        struct stat st;
        int r;

        r = check_dir("--iscsi-root", o->iscsi_root, 0700);
        if (r < 0)
                return r;

        r = check_dir("--lock-dir", o->lock_dir, 0700);
        if (r < 0)
                return r;

        if (stat(o->db_path, &st) == 0 && S_ISDIR(st.st_mode)) {
                log_error("%s: --db '%s': is a directory", PROGRAM, o->db_path);
                return -EISDIR;
        }

        db_copy = strdup(o->db_path);
        if (!db_copy)
                return log_error_errno(ENOMEM, "%s", PROGRAM);

        /* sqlite's journal and WAL files live beside the database: its dir must be writable. */
        return check_dir("--db directory", dirname(db_copy), 0);
}

/* Write "<port>\n" to a temporary file beside path, then rename it into place. */
static int write_port_file(const char *path, unsigned port)
{
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -1;
        char buf[16];
        int n, r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        n = snprintf(buf, sizeof(buf), "%u\n", port);
        if (fchmod(fd, 0644) < 0 || write(fd, buf, (size_t)n) != n) {
                r = errno > 0 ? -errno : -EIO;
                (void)unlink(tmp);
                return r;
        }

        if (rename(tmp, path) < 0) {
                r = -errno;
                (void)unlink(tmp);
                return r;
        }

        return 0;
}

/* poll() has no FD_SETSIZE limit, so allow as many connections as the hard limit permits. */
static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug_errno(errno, "cannot raise RLIMIT_NOFILE, ignoring");
}

static void log_listening(const char *listen, unsigned port, bool tls)
{
        const char *colon;

        if (strncmp(listen, "unix:", 5) == 0) {
                log_info("listening on %s", listen);
                return;
        }

        colon = strrchr(listen, ':');
        log_info("listening on %.*s:%u%s", (int)(colon ? colon - listen : 0), listen, port,
                 tls ? " (TLS)" : "");
}

static const char *signal_name(int sig)
{
        switch (sig) {
        case SIGUSR1:
                return "SIGUSR1";
        case SIGUSR2:
                return "SIGUSR2";
        case SIGALRM:
                return "SIGALRM";
        case SIGTERM:
                return "SIGTERM";
        case SIGINT:
                return "SIGINT";
        case SIGHUP:
                return "SIGHUP";
        }
        return "signal";
}

static bool listen_is_unix(const char *l)
{
        return strncmp(l, "unix:", 5) == 0;
}

/* What http.c would bind: only these are loopback (it checks the address again itself). */
static bool listen_is_loopback(const char *l)
{
        return strncmp(l, "127.", 4) == 0 || strncmp(l, "[::1]:", 6) == 0 ||
               strncmp(l, "localhost:", 10) == 0;
}

/* The security policy of docs/security.md, checked before anything starts. */
static int check_security(const struct options *o, bool *ret_remote)
{
        bool tls = o->tls_cert && o->tls_key, remote = false;

        if (!!o->tls_cert != !!o->tls_key) {
                log_error("%s: --tls-cert and --tls-key go together", PROGRAM);
                return -EINVAL;
        }
        for (size_t i = 0; i < o->n_listen; i++) {
                if (listen_is_unix(o->listen[i]) || listen_is_loopback(o->listen[i]))
                        continue;
                if (!(tls && o->auth) && !o->insecure) {
                        log_error("%s: refusing to listen on '%s': not a loopback address, and "
                                  "%s; configure --tls-cert, --tls-key and --auth on, or give "
                                  "--insecure",
                                  PROGRAM, o->listen[i],
                                  !tls && !o->auth ? "neither TLS nor auth is on" :
                                  !tls             ? "TLS is not configured" :
                                                     "auth is off");
                        return -EPERM;
                }
                remote = true;
        }
        if (o->insecure)
                log_warning("INSECURE: --insecure is set: %s",
                            remote ? "a non-loopback listener runs "
                                     "without TLS or without auth; "
                                     "anyone who can reach it may "
                                     "read secrets in transit or "
                                     "change iface records" :
                                     "no listener needs it now");
        if (!o->auth)
                log_warning("auth is off: every local user who can reach a listener may change "
                            "iface records");
        *ret_remote = remote;
        return 0;
}

static int run(const struct options *o, const sigset_t *mask)
{
        struct engine_config ecfg = {
                .iscsi_root = o->iscsi_root,
                .db_path = o->db_path,
                .lock_dir = o->lock_dir,
                .sysfs_root = o->sysfs_root,
                .initiator_name_file = o->initiator_name_file,
                .drift = o->drift,
                .lock_timeout_ms = o->lock_timeout_ms,
        };
        struct engine *e = NULL;
        struct api *a = NULL;
        struct http_server *servers[LISTEN_MAX] = {};
        struct tls_creds *tls = NULL;
        _cleanup_(freep) char *engine_msg = NULL;
        bool port_file_written = false, remote = false;
        unsigned port = 0;
        int ret = 1, r;

        r = check_security(o, &remote);
        if (r < 0)
                return 2;

        r = check_paths(o);
        if (r < 0)
                return 1;

        if (o->tls_cert) {
                _cleanup_(freep) char *msg = NULL;

                r = tls_creds_new(o->tls_cert, o->tls_key, &tls, &msg);
                if (r < 0) {
                        log_error("%s: TLS: %s", PROGRAM, msg ?: strerror(-r));
                        return 1;
                }
        }

        r = engine_new(&ecfg, &e, &engine_msg);
        if (r < 0) {
                log_error("%s: %s", PROGRAM, engine_msg ?: strerror(-r));
                goto finish;
        }

        r = engine_start_watch(e);
        if (r < 0) {
                log_error_errno(r, "%s: cannot watch '%s' for changes", PROGRAM, o->iscsi_root);
                goto finish;
        }

        r = api_new(e, &a);
        if (r >= 0)
                api_set_defer_writes(a, true);
        if (r >= 0)
                r = api_set_auth(a, &(const struct api_auth_config){
                                            .enabled = o->auth,
                                            .insecure = o->insecure,
                                            .unix_roles = o->unix_roles,
                                            .n_unix_roles = o->n_unix_roles,
                                            .rate_limit = o->rate_limit,
                                            .rate_burst = o->rate_burst,
                                    });
        if (r < 0) {
                log_error_errno(r, "%s: cannot set up the API", PROGRAM);
                goto finish;
        }

        for (size_t i = 0; i < o->n_listen; i++) {
                _cleanup_(freep) char *http_msg = NULL;

                r = http_start(
                        &(const struct http_config){
                                .listen = o->listen[i],
                                .threads = o->threads,
                                .tls = tls,
                                .allow_remote = remote,
                                .max_conn_per_client = o->max_conn_per_client,
                                .idle_timeout_s = o->idle_timeout_s,
                                .max_connections = o->max_connections,
                        },
                        a, &servers[i], &http_msg);
                if (r < 0) {
                        log_error("%s: %s", PROGRAM, http_msg ?: strerror(-r));
                        if (r == -EINVAL)
                                ret = 2; /* a malformed --listen is a usage error */
                        goto finish;
                }
                if (!port && !listen_is_unix(o->listen[i]))
                        port = http_port(servers[i]);
                log_listening(o->listen[i], http_port(servers[i]),
                              tls && !listen_is_unix(o->listen[i]));
        }

        if (o->port_file) {
                r = write_port_file(o->port_file, port);
                if (r < 0) {
                        log_error_errno(r, "%s: --port-file '%s': cannot write", PROGRAM,
                                        o->port_file);
                        goto finish;
                }
                port_file_written = true;
        }

        for (;;) {
                int sig;

                r = sigwait(mask, &sig);
                if (r != 0) {
                        if (r == EINTR)
                                continue;
                        log_error_errno(r, "sigwait failed, stopping");
                        break;
                }

                if (sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGALRM) {
                        /* Their default action ends the process without a word. */
                        log_notice("%s received, ignoring", signal_name(sig));
                        continue;
                }

                if (sig == SIGHUP) {
                        r = engine_rescan(e);
                        if (r < 0)
                                log_warning_errno(r, "rescan of '%s' failed, ignoring",
                                                  o->iscsi_root);
                        else
                                log_info("SIGHUP: rescanned '%s'", o->iscsi_root);
                        if (tls) {
                                _cleanup_(freep) char *msg = NULL;

                                r = tls_creds_reload(tls, &msg);
                                if (r < 0)
                                        log_warning("SIGHUP: keeping the old TLS certificate: %s",
                                                    msg ?: strerror(-r));
                                else
                                        log_info("SIGHUP: reloaded the TLS certificate '%s'",
                                                 o->tls_cert);
                        }
                        continue;
                }

                log_info("%s received, stopping", signal_name(sig));
                ret = 0;
                break;
        }

finish:
        /* Checks and delayed answers end now: their suspended requests answer and drain. */
        if (a)
                api_shutdown(a);
        else if (e)
                engine_stop_checks(e);
        for (size_t i = 0; i < o->n_listen; i++)
                http_stop(servers[i], DRAIN_MS);
        api_free(a);
        engine_free(e);
        tls_creds_free(tls);
        if (port_file_written && unlink(o->port_file) < 0 && errno != ENOENT)
                log_warning_errno(errno, "cannot remove '%s', ignoring", o->port_file);
        if (ret == 0)
                log_info("stopped");
        return ret;
}

/* --- iscsi-ifaced token ... --------------------------------------------------------------- */

static void print_time(int64_t usec)
{
        time_t t = (time_t)(usec / 1000000);
        struct tm tm;
        char buf[32];

        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fputs(buf, stdout);
}

static int token_main(int argc, char *argv[], struct options *o)
{
        enum {
                T_ROLE = 0x200,
                T_NAME,
                T_DB,
                T_CONFIG,
                T_HELP
        };
        static const struct option topts[] = {
                { "role", required_argument, NULL, T_ROLE },
                { "name", required_argument, NULL, T_NAME },
                { "db", required_argument, NULL, T_DB },
                { "config", required_argument, NULL, T_CONFIG },
                { "help", no_argument, NULL, T_HELP },
                {},
        };
        const char *verb, *name = "", *role_s = NULL;
        struct store *st = NULL;
        struct tokens *t = NULL;
        char actor[32];
        int c, r;

        if (argc < 2) {
                fprintf(stderr, "%s: token: expected create, list or revoke\n", PROGRAM);
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
                        if (parse_config(optarg, o) != 0)
                                return 2;
                        break;
                case T_HELP:
                        help();
                        return 0;
                default:
                        return 2;
                }
        }

        snprintf(actor, sizeof(actor), "cli:uid:%u", (unsigned)getuid());
        r = store_open(o->db_path, &st); /* creates and migrates the db if need be */
        if (r >= 0)
                r = tokens_open(o->db_path, &t);
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
                } else if ((r = tokens_create(t, role, name, actor, NULL, token, &ti)) < 0) {
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
        } else if (streq(verb, "list")) {
                struct token_info *a = NULL;
                size_t n = 0;

                if ((r = tokens_list(t, &a, &n)) < 0) {
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
                } else if ((r = tokens_revoke(t, argv[optind], actor, NULL)) < 0) {
                        fprintf(stderr, "%s: token revoke %s: %s\n", PROGRAM, argv[optind],
                                r == -ENOENT   ? "no such token" :
                                r == -EALREADY ? "already revoked" :
                                                 strerror(-r));
                        r = 1;
                } else
                        fprintf(stderr, "revoked token %s\n", argv[optind]);
        } else {
                fprintf(stderr, "%s: token: unknown command '%s' (create, list, revoke)\n", PROGRAM,
                        verb);
                r = 2;
        }
        tokens_close(t);
        store_close(st);
        return r;
}

int main(int argc, char *argv[])
{
        struct options o = {
                .listen = { "127.0.0.1:8080" },
                .n_listen = 1,
                .iscsi_root = NULL, /* detected below unless given (server/dbroot.h) */
                .db_path = "/var/lib/iscsi-ifaced/ifaced.db",
                .lock_dir = "/run/lock/iscsi",
                .sysfs_root = "/sys",
                .drift = ENGINE_DRIFT_IMPORT,
                .threads = 2,
                .log_level = LOG_INFO,
                .auth = true,
                .rate_limit = 100,
                .rate_burst = 200,
                .lock_timeout_ms = 5000,
        };
        _cleanup_free_ char *detected_root = NULL, *root_reason = NULL;
        sigset_t mask;
        int r;

        (void)umask(0077);
        (void)atexit(config_values_free);
        if (argc >= 2 && streq(argv[1], "token"))
                return token_main(argc - 1, argv + 1, &o);

        r = parse_argv(argc, argv, &o);
        if (r < 0)
                return 2;
        if (r > 0)
                return 0;

        log_set_level(o.log_level);

        if (o.iscsi_root)
                log_info("iscsi root %s: given by --iscsi-root", o.iscsi_root);
        else {
                r = dbroot_detect(NULL, &detected_root, &root_reason, NULL);
                if (r < 0) {
                        log_error_errno(r, "%s: cannot choose the iscsi root", PROGRAM);
                        return 1;
                }
                o.iscsi_root = detected_root;
                log_info("iscsi root %s: %s", o.iscsi_root, root_reason);
        }

        /* Every thread started later inherits the mask, so only sigwait() below sees these. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGUSR2);
        sigaddset(&mask, SIGALRM);
        r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
        if (r != 0) {
                log_error_errno(r, "%s: cannot block signals", PROGRAM);
                return 1;
        }
        (void)signal(SIGPIPE, SIG_IGN);

        /* The db (with its audit trail), the port file and the iscsi files are ours alone. */
        (void)umask(0077);

        raise_nofile();

        return run(&o, &mask);
}
