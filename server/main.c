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
#include <unistd.h>

#include "api.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "macro.h"

#define PROGRAM     "iscsi-ifaced"
#define DRAIN_MS    10000 /* how long SIGTERM waits for running requests */
#define THREADS_MAX 256

struct options {
        const char *listen;
        const char *port_file;
        const char *iscsi_root;
        const char *db_path;
        const char *lock_dir;
        const char *sysfs_root;
        enum engine_drift_policy drift;
        unsigned threads;
        int log_level;
};

static void help(void)
{
        printf("Usage: %s [OPTIONS]\n"
               "\n"
               "Manage open-iscsi iface records over HTTP/JSON.\n"
               "\n"
               "  --listen ADDR         127.0.0.1:PORT, [::1]:PORT, localhost:PORT or unix:/PATH\n"
               "                        (default 127.0.0.1:8080; port 0 picks a free port)\n"
               "  --port-file FILE      write the bound port to FILE once listening\n"
               "  --iscsi-root DIR      open-iscsi db root (default /var/lib/iscsi)\n"
               "  --db FILE             sqlite database (default /var/lib/iscsi-ifaced/ifaced.db)\n"
               "  --lock-dir DIR        iscsiadm lock directory (default /run/lock/iscsi)\n"
               "  --sysfs-root DIR      sysfs to read HBAs, transports and NIC details from\n"
               "                        (default /sys; a fixture tree works for tests)\n"
               "  --drift import|report import changes made behind our back, or only report\n"
               "                        them (default import)\n"
               "  --threads N           HTTP worker threads, 1..%d (default 2)\n"
               "  --log-level LEVEL     error, warning, notice, info or debug (default info)\n"
               "  --help                show this help\n"
               "  --version             show the version\n"
               "\n"
               "Signals: SIGHUP rescans the db root and the offload ports, SIGTERM/SIGINT stop after\n"
               "running requests.\n",
               PROGRAM, THREADS_MAX);
}

static int usage_error(const char *option, const char *value, const char *expected)
{
        fprintf(stderr, "%s: %s: invalid value '%s' (expected %s)\n", PROGRAM, option, value,
                expected);
        return -EINVAL;
}

/* Returns 0 to run, 1 when --help/--version was served, -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[], struct options *o)
{
        enum {
                ARG_LISTEN = 0x100,
                ARG_PORT_FILE,
                ARG_ISCSI_ROOT,
                ARG_DB,
                ARG_LOCK_DIR,
                ARG_SYSFS_ROOT,
                ARG_DRIFT,
                ARG_THREADS,
                ARG_LOG_LEVEL,
                ARG_HELP,
                ARG_VERSION,
        };
        static const struct option long_options[] = {
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "port-file", required_argument, NULL, ARG_PORT_FILE },
                { "iscsi-root", required_argument, NULL, ARG_ISCSI_ROOT },
                { "db", required_argument, NULL, ARG_DB },
                { "lock-dir", required_argument, NULL, ARG_LOCK_DIR },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "drift", required_argument, NULL, ARG_DRIFT },
                { "threads", required_argument, NULL, ARG_THREADS },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, ARG_HELP },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "", long_options, NULL)) >= 0) {
                switch (c) {
                case ARG_LISTEN:
                        if (isempty(optarg))
                                return usage_error("--listen", optarg, "an address");
                        o->listen = optarg;
                        break;
                case ARG_PORT_FILE:
                        if (isempty(optarg))
                                return usage_error("--port-file", optarg, "a file name");
                        o->port_file = optarg;
                        break;
                case ARG_ISCSI_ROOT:
                        if (isempty(optarg))
                                return usage_error("--iscsi-root", optarg, "a directory");
                        o->iscsi_root = optarg;
                        break;
                case ARG_DB:
                        if (isempty(optarg))
                                return usage_error("--db", optarg, "a file name");
                        o->db_path = optarg;
                        break;
                case ARG_LOCK_DIR:
                        if (isempty(optarg))
                                return usage_error("--lock-dir", optarg, "a directory");
                        o->lock_dir = optarg;
                        break;
                case ARG_SYSFS_ROOT:
                        if (isempty(optarg))
                                return usage_error("--sysfs-root", optarg, "a directory");
                        o->sysfs_root = optarg;
                        break;
                case ARG_DRIFT:
                        if (streq(optarg, "import"))
                                o->drift = ENGINE_DRIFT_IMPORT;
                        else if (streq(optarg, "report"))
                                o->drift = ENGINE_DRIFT_REPORT;
                        else
                                return usage_error("--drift", optarg, "import or report");
                        break;
                case ARG_THREADS: {
                        char *end;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || optarg[0] == '-' || v < 1 ||
                            v > THREADS_MAX)
                                return usage_error("--threads", optarg, "a number from 1 to 256");
                        o->threads = (unsigned)v;
                        break;
                }
                case ARG_LOG_LEVEL: {
                        int l = log_level_from_string(optarg);

                        if (l < 0)
                                return usage_error("--log-level", optarg,
                                                   "error, warning, notice, info or debug");
                        o->log_level = l;
                        break;
                }
                case ARG_HELP:
                        help();
                        return 1;
                case ARG_VERSION:
                        printf("%s %s\n", PROGRAM, ENGINE_VERSION);
                        return 1;
                default:
                        /* getopt_long() already said which option was wrong */
                        fprintf(stderr, "Try '%s --help'.\n", PROGRAM);
                        return -EINVAL;
                }
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

static void log_listening(const char *listen, unsigned port)
{
        const char *colon;

        if (strncmp(listen, "unix:", 5) == 0) {
                log_info("listening on %s", listen);
                return;
        }

        colon = strrchr(listen, ':');
        log_info("listening on %.*s:%u", (int)(colon ? colon - listen : 0), listen, port);
}

static const char *signal_name(int sig)
{
        switch (sig) {
        case SIGTERM:
                return "SIGTERM";
        case SIGINT:
                return "SIGINT";
        case SIGHUP:
                return "SIGHUP";
        }
        return "signal";
}

static int run(const struct options *o, const sigset_t *mask)
{
        struct engine_config ecfg = {
                .iscsi_root = o->iscsi_root,
                .db_path = o->db_path,
                .lock_dir = o->lock_dir,
                .sysfs_root = o->sysfs_root,
                .drift = o->drift,
                .lock_timeout_ms = 30000,
        };
        struct http_config hcfg = {
                .listen = o->listen,
                .threads = o->threads,
        };
        struct engine *e = NULL;
        struct api *a = NULL;
        struct http_server *s = NULL;
        _cleanup_(freep) char *engine_msg = NULL, *http_msg = NULL;
        bool port_file_written = false;
        int ret = 1, r;

        r = check_paths(o);
        if (r < 0)
                return 1;

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
        if (r < 0) {
                log_error_errno(r, "%s: cannot set up the API", PROGRAM);
                goto finish;
        }

        r = http_start(&hcfg, a, &s, &http_msg);
        if (r < 0) {
                log_error("%s: %s", PROGRAM, http_msg ?: strerror(-r));
                if (r == -EINVAL)
                        ret = 2; /* a malformed --listen is a usage error */
                goto finish;
        }

        if (o->port_file) {
                r = write_port_file(o->port_file, http_port(s));
                if (r < 0) {
                        log_error_errno(r, "%s: --port-file '%s': cannot write", PROGRAM,
                                        o->port_file);
                        goto finish;
                }
                port_file_written = true;
        }

        log_listening(o->listen, http_port(s));

        for (;;) {
                int sig;

                r = sigwait(mask, &sig);
                if (r != 0) {
                        if (r == EINTR)
                                continue;
                        log_error_errno(r, "sigwait failed, stopping");
                        break;
                }

                if (sig == SIGHUP) {
                        r = engine_rescan(e);
                        if (r < 0)
                                log_warning_errno(r, "rescan of '%s' failed, ignoring",
                                                  o->iscsi_root);
                        else
                                log_info("SIGHUP: rescanned '%s'", o->iscsi_root);
                        continue;
                }

                log_info("%s received, stopping", signal_name(sig));
                ret = 0;
                break;
        }

finish:
        /* Checks in flight end now (as cancelled): their suspended requests answer and drain. */
        engine_stop_checks(e);
        http_stop(s, DRAIN_MS);
        api_free(a);
        engine_free(e);
        if (port_file_written && unlink(o->port_file) < 0 && errno != ENOENT)
                log_warning_errno(errno, "cannot remove '%s', ignoring", o->port_file);
        if (ret == 0)
                log_info("stopped");
        return ret;
}

int main(int argc, char *argv[])
{
        struct options o = {
                .listen = "127.0.0.1:8080",
                .iscsi_root = "/var/lib/iscsi",
                .db_path = "/var/lib/iscsi-ifaced/ifaced.db",
                .lock_dir = "/run/lock/iscsi",
                .sysfs_root = "/sys",
                .drift = ENGINE_DRIFT_IMPORT,
                .threads = 2,
                .log_level = LOG_INFO,
        };
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv, &o);
        if (r < 0)
                return 2;
        if (r > 0)
                return 0;

        log_set_level(o.log_level);

        /* Every thread started later inherits the mask, so only sigwait() below sees these. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
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
