/* SPDX-License-Identifier: MIT */
/* The iscsi-ifaced daemon: startup checks, listeners, signals, and the orderly shutdown. */
#include <errno.h>
#include <fcntl.h>
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
#include "dbroot.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "options.h"
#include "tls.h"
#include "web.h"
#include "token-cli.h"

#define DRAIN_MS 10000 /* how long SIGTERM waits for running requests */

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

static void log_listening(const char *listen, unsigned port, bool tls, bool inherited)
{
        const char *colon;

        if (strncmp(listen, "unix:", 5) == 0) {
                log_info("listening on %s%s", listen,
                         inherited ? " (passed by the service manager)" : "");
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

/*
 * A fatal signal (a crash, or abort() after a failed assertion): the request lines the log's
 * thread has not written yet, up to about 5 ms of them, go out first, then the signal takes its
 * default course (the process ends, with a core dump where enabled). Under AddressSanitizer,
 * SIGSEGV and SIGBUS stay its own, for its report.
 */
static void crash_handler(int sig)
{
        int saved = errno;

        log_crash_flush();
        errno = saved;
        /* SA_RESETHAND made the action the default again; SA_NODEFER lets it in now. */
        (void)raise(sig);
}

/* gcc says it with __SANITIZE_ADDRESS__, clang (14) only through __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define WITH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WITH_ASAN 1
#endif
#endif

static void crash_handlers_install(void)
{
        static const int sigs[] = {
                SIGABRT, SIGFPE, SIGILL,
#ifndef WITH_ASAN
                SIGSEGV, SIGBUS,
#endif
        };
        struct sigaction sa = { .sa_handler = crash_handler,
                                .sa_flags = SA_RESETHAND | SA_NODEFER };

        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void)sigaction(sigs[i], &sa, NULL);
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
        for (size_t i = 0; i <= o->n_listen; i++) {
                const char *l = i < o->n_listen ? o->listen[i] : o->metrics_listen;

                if (!l || listen_is_unix(l) || listen_is_loopback(l))
                        continue;
                if (!(tls && o->auth) && !o->insecure) {
                        log_error("%s: refusing to listen on '%s': not a loopback address, and "
                                  "%s; configure --tls-cert, --tls-key and --auth on, or give "
                                  "--insecure",
                                  PROGRAM, l,
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
                .iscsid_conf = o->iscsid_conf,
                .iscsiadm = o->iscsiadm,
                .dev_root = o->dev_root,
                .udev_dir = o->udev_dir,
                .drift = o->drift,
                .lock_timeout_ms = o->lock_timeout_ms,
                .event_buffer = o->event_buffer,
                .watch = true,
        };
        struct engine *e = NULL;
        struct api *a = NULL;
        struct http_server *servers[LISTEN_MAX + 1] = {}; /* the listeners, then metrics' */
        struct tls_creds *tls = NULL;
        struct web *web = NULL;
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

        if (!isempty(o->web_root)) {
                _cleanup_(freep) char *msg = NULL;

                r = web_load(o->web_root, &web, &msg);
                if (r == -ENOENT && !o->web_root_given)
                        log_notice("no web UI: %s", msg ?: strerror(-r));
                else if (r < 0) {
                        log_error("%s: --web-root: %s", PROGRAM, msg ?: strerror(-r));
                        return 1;
                } else
                        log_info("Web UI: %zu files from '%s', %zu bytes (%zu sent gzipped)",
                                 web_count(web), o->web_root, web_bytes(web, false),
                                 web_bytes(web, true));
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
        if (r >= 0)
                r = api_set_events(a, &(const struct api_events_config){
                                              .max_streams = o->event_streams,
                                              .heartbeat_ms = o->event_heartbeat_ms,
                                      });
        if (r < 0) {
                log_error_errno(r, "%s: cannot set up the API", PROGRAM);
                goto finish;
        }

        for (size_t i = 0; i < o->n_listen; i++) {
                _cleanup_(freep) char *http_msg = NULL;
                int inherited = listen_is_unix(o->listen[i]) ?
                                        notify_listen_fd_take_unix(o->listen[i] + 5) :
                                        -ENOENT;

                r = http_start(
                        &(const struct http_config){
                                .listen = o->listen[i],
                                .threads = o->threads,
                                .tls = tls,
                                .allow_remote = remote,
                                .max_conn_per_client = o->max_conn_per_client,
                                .idle_timeout_s = o->idle_timeout_s,
                                .max_connections = o->max_connections,
                                .web = web,
                                .inherited_fd = inherited >= 0 ? inherited : 0,
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
                              tls && !listen_is_unix(o->listen[i]), inherited >= 0);
        }
        notify_listen_fds_close_unused();

        if (o->metrics_listen) {
                _cleanup_(freep) char *http_msg = NULL;

                r = http_start(
                        &(const struct http_config){
                                .listen = o->metrics_listen,
                                .threads = o->threads,
                                .tls = listen_is_unix(o->metrics_listen) ? NULL : tls,
                                .allow_remote = remote,
                                .max_conn_per_client = o->max_conn_per_client,
                                .idle_timeout_s = o->idle_timeout_s,
                                .max_connections = 64,
                                .metrics_only = true,
                        },
                        a, &servers[o->n_listen], &http_msg);
                if (r < 0) {
                        log_error("%s: --metrics-listen: %s", PROGRAM, http_msg ?: strerror(-r));
                        if (r == -EINVAL)
                                ret = 2;
                        goto finish;
                }
                log_listening(o->metrics_listen, http_port(servers[o->n_listen]),
                              tls && !listen_is_unix(o->metrics_listen), false);
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

        /* Type=notify: every listener accepts now. */
        notify_ready("serving");
        /* A line per request: written by a thread of the log's own, many to a write(); a
         * crash writes out what it holds. */
        r = log_defer_start();
        if (r < 0)
                log_warning_errno(r, "cannot start the log writer, writing each line at once");
        else
                crash_handlers_install();

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
                        notify_reloading();
                        r = engine_rescan(e);
                        if (r == -ETIMEDOUT) {
                                char holder[200];

                                engine_lock_holder(e, holder, sizeof(holder));
                                log_warning("rescan of '%s' skipped: iscsiadm's lock.write is "
                                            "%s, past the lock timeout; ignoring",
                                            o->iscsi_root, holder);
                        } else if (r < 0)
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
                        notify_ready("serving");
                        continue;
                }

                log_info("%s received, stopping", signal_name(sig));
                notify_stopping();
                ret = 0;
                break;
        }

finish:
        notify_listen_fds_close_unused(); /* a failed start may not have reached them */
        /* Checks and delayed answers end now: their suspended requests answer and drain. */
        if (a)
                api_shutdown(a);
        else if (e)
                engine_stop_checks(e);
        for (size_t i = 0; i <= o->n_listen; i++)
                http_stop(servers[i], DRAIN_MS);
        api_free(a);
        engine_free(e);
        tls_creds_free(tls);
        web_free(web); /* after the servers: they serve its bytes without a copy */
        if (port_file_written && unlink(o->port_file) < 0 && errno != ENOENT)
                log_warning_errno(errno, "cannot remove '%s', ignoring", o->port_file);
        log_defer_stop();
        if (ret == 0)
                log_info("stopped");
        return ret;
}

int main(int argc, char *argv[])
{
        struct options o;
        _cleanup_free_ char *detected_root = NULL, *root_reason = NULL;
        sigset_t mask;
        int r;

        options_init(&o);
        (void)umask(0077);
        (void)atexit(options_free_config_values);
        if (argc >= 2 && streq(argv[1], "token"))
                return token_cli_main(argc - 1, argv + 1, &o);

        r = options_parse_argv(argc, argv, &o);
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

        /* Before any thread starts: this unsets LISTEN_FDS and LISTEN_PID. */
        (void)notify_listen_fds_collect();

        return run(&o, &mask);
}
