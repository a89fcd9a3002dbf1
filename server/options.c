/* SPDX-License-Identifier: MIT */
/* The daemon's options: the long-option table, the config-file parser and --help. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "options.h"
#include "token.h"

#define CONFIG_LINE 4096

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

static const char *const drift_names[_ENGINE_DRIFT_MAX] = {
        [ENGINE_DRIFT_IMPORT] = "import",
        [ENGINE_DRIFT_REPORT] = "report",
};

void options_init(struct options *o)
{
        *o = (struct options){
                .listen = { OPTIONS_LISTEN_DEFAULT },
                .n_listen = 1,
                .iscsi_root = NULL, /* detected by main() unless given (server/dbroot.h) */
                .db_path = OPTIONS_DB_DEFAULT,
                .lock_dir = OPTIONS_LOCK_DIR_DEFAULT,
                .sysfs_root = OPTIONS_SYSFS_ROOT_DEFAULT,
                .iscsid_conf = OPTIONS_ISCSID_CONF_DEFAULT,
                .web_root = OPTIONS_WEB_ROOT_DEFAULT,
                .drift = OPTIONS_DRIFT_DEFAULT,
                .threads = OPTIONS_THREADS_DEFAULT,
                .log_level = log_level_from_string(OPTIONS_LOG_LEVEL_DEFAULT),
                .auth = OPTIONS_AUTH_DEFAULT,
                .rate_limit = API_RATE_LIMIT_DEFAULT,
                .rate_burst = API_RATE_BURST_DEFAULT,
                .max_conn_per_client = HTTP_PER_CLIENT_DEFAULT,
                .idle_timeout_s = HTTP_CONNECTION_TIMEOUT_S,
                .max_connections = HTTP_MAX_CONNECTIONS,
                .lock_timeout_ms = OPTIONS_LOCK_TIMEOUT_MS_DEFAULT,
                .event_buffer = EVENT_BUFFER_DEFAULT,
                .event_streams = API_EVENT_STREAMS_DEFAULT,
                .event_heartbeat_ms = API_EVENT_HEARTBEAT_MS_DEFAULT,
        };
        assert(o->log_level >= 0);
}

void options_help(void)
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
               "                        repeat (default " OPTIONS_LISTEN_DEFAULT
               "; port 0 picks a free port)\n"
               "  --port-file FILE      write the bound port of the first TCP listener to FILE\n"
               "  --metrics-listen ADDR a listener for GET /metrics alone (as --listen); loopback\n"
               "                        or unix: no token needed; otherwise TLS and a token\n"
               "  --iscsi-root DIR      open-iscsi db root (default: the compiled-in root of the\n"
               "                        installed iscsiadm, else an existing /etc/iscsi or\n"
               "                        /var/lib/iscsi with iscsiadm's layout, else /etc/iscsi;\n"
               "                        the log says which and why)\n"
               "  --db FILE             sqlite database (default " OPTIONS_DB_DEFAULT ")\n"
               "  --lock-dir DIR        iscsiadm lock directory (default " OPTIONS_LOCK_DIR_DEFAULT
               ")\n"
               "  --lock-timeout-ms N   how long a write waits for iscsiadm's lock before 503\n"
               "                        (default %u)\n"
               "  --sysfs-root DIR      sysfs to read HBAs, transports and NIC details from\n"
               "                        (default " OPTIONS_SYSFS_ROOT_DEFAULT
               "; a fixture tree works for tests)\n"
               "  --initiator-name-file FILE  open-iscsi's initiatorname.iscsi, for checks\n"
               "                        (default " ENGINE_INITIATOR_NAME_FILE ")\n"
               "  --iscsid-conf FILE    the iscsid.conf new bindings take their node.* and\n"
               "                        discovery.* defaults from (default " OPTIONS_ISCSID_CONF_DEFAULT
               ";\n"
               "                        an empty FILE or \"\": iscsiadm's compiled defaults)\n"
               "  --iscsiadm PATH       the iscsiadm logins and logouts run (default " LOGIN_ISCSIADM
               ";\n"
               "                        it must use the same iscsi db root as --iscsi-root)\n"
               "  --dev-root DIR        device nodes of the sessions' disks (default /dev)\n"
               "  --udev-dir DIR        udev's run directory, for its database (default /run/udev)\n"
               "  --web-root DIR        the web UI's files, served at / (default " OPTIONS_WEB_ROOT_DEFAULT
               ";\n"
               "                        \"\": no UI)\n"
               "  --drift import|report import changes made behind our back, or only report\n"
               "                        them (default %s)\n"
               "  --threads N           HTTP worker threads, 1..%d (default %u)\n"
               "  --auth on|off         require a token or a mapped unix uid (default %s); off is\n"
               "                        allowed on loopback and unix listeners only\n"
               "  --unix-role UID:ROLE  give a unix socket peer uid a role (viewer, operator,\n"
               "                        admin); may repeat; uid 0 is always admin (a\n"
               "                        mapping for uid 0 is refused)\n"
               "  --tls-cert FILE       PEM certificate chain for the TCP listeners (reloaded on\n"
               "                        SIGHUP)\n"
               "  --tls-key FILE        its PEM private key\n"
               "  --rate-limit N        requests per second per token (default %u)\n"
               "  --rate-burst N        burst per token (default %u)\n"
               "  --max-conn-per-client N  TCP connections per client address (default %u)\n"
               "  --idle-timeout SEC    close a connection idle or stalled this long (default %u)\n"
               "  --max-connections N   connections per listener in all (default %u)\n"
               "  --event-buffer N      events kept for clients that reconnect, %u..%u\n"
               "                        (default %u)\n"
               "  --event-streams N     event streams open at once, 1..%u (default %u)\n"
               "  --event-heartbeat-ms MS  a comment line on a quiet event stream this often,\n"
               "                        100..3600000 (default %u)\n"
               "  --insecure            allow a non-loopback listener without TLS and auth\n"
               "  --log-level LEVEL     error, warning, notice, info or debug (default " OPTIONS_LOG_LEVEL_DEFAULT
               ")\n"
               "  --help                show this help\n"
               "  --version             show the version\n"
               "\n"
               "Signals: SIGHUP rescans the db root and the offload ports and reloads the TLS\n"
               "certificate; SIGTERM/SIGINT stop after running requests; SIGUSR1, SIGUSR2,\n"
               "SIGALRM and SIGPIPE are ignored (the first three are logged).\n",
               PROGRAM, PROGRAM, PROGRAM, PROGRAM, (unsigned)OPTIONS_LOCK_TIMEOUT_MS_DEFAULT,
               drift_names[OPTIONS_DRIFT_DEFAULT], THREADS_MAX, (unsigned)OPTIONS_THREADS_DEFAULT,
               OPTIONS_AUTH_DEFAULT ? "on" : "off", (unsigned)API_RATE_LIMIT_DEFAULT,
               (unsigned)API_RATE_BURST_DEFAULT, (unsigned)HTTP_PER_CLIENT_DEFAULT,
               (unsigned)HTTP_CONNECTION_TIMEOUT_S, (unsigned)HTTP_MAX_CONNECTIONS,
               (unsigned)EVENT_BUFFER_MIN, (unsigned)EVENT_BUFFER_MAX,
               (unsigned)EVENT_BUFFER_DEFAULT, (unsigned)API_EVENT_STREAMS_MAX,
               (unsigned)API_EVENT_STREAMS_DEFAULT, (unsigned)API_EVENT_HEARTBEAT_MS_DEFAULT);
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
        ARG_METRICS_LISTEN,
        ARG_ISCSI_ROOT,
        ARG_DB,
        ARG_LOCK_DIR,
        ARG_LOCK_TIMEOUT,
        ARG_SYSFS_ROOT,
        ARG_INITIATOR_NAME_FILE,
        ARG_ISCSID_CONF,
        ARG_ISCSIADM,
        ARG_DEV_ROOT,
        ARG_UDEV_DIR,
        ARG_WEB_ROOT,
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
        ARG_EVENT_BUFFER,
        ARG_EVENT_STREAMS,
        ARG_EVENT_HEARTBEAT,
        ARG_LOG_LEVEL,
        ARG_HELP,
        ARG_VERSION,
};

static const struct option long_options[] = {
        { "config", required_argument, NULL, ARG_CONFIG },
        { "listen", required_argument, NULL, ARG_LISTEN },
        { "port-file", required_argument, NULL, ARG_PORT_FILE },
        { "metrics-listen", required_argument, NULL, ARG_METRICS_LISTEN },
        { "iscsi-root", required_argument, NULL, ARG_ISCSI_ROOT },
        { "db", required_argument, NULL, ARG_DB },
        { "lock-dir", required_argument, NULL, ARG_LOCK_DIR },
        { "lock-timeout-ms", required_argument, NULL, ARG_LOCK_TIMEOUT },
        { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
        { "initiator-name-file", required_argument, NULL, ARG_INITIATOR_NAME_FILE },
        { "iscsid-conf", required_argument, NULL, ARG_ISCSID_CONF },
        { "iscsiadm", required_argument, NULL, ARG_ISCSIADM },
        { "dev-root", required_argument, NULL, ARG_DEV_ROOT },
        { "udev-dir", required_argument, NULL, ARG_UDEV_DIR },
        { "web-root", required_argument, NULL, ARG_WEB_ROOT },
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
        { "event-buffer", required_argument, NULL, ARG_EVENT_BUFFER },
        { "event-streams", required_argument, NULL, ARG_EVENT_STREAMS },
        { "event-heartbeat-ms", required_argument, NULL, ARG_EVENT_HEARTBEAT },
        { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
        { "help", no_argument, NULL, ARG_HELP },
        { "version", no_argument, NULL, ARG_VERSION },
        {},
};

/* Values read from a config file: the options point into them for the life of the process. */
static char *config_values[1024];
static size_t n_config_values;

void options_free_config_values(void)
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
                return options_parse_config(v, o);
        case ARG_LISTEN:
                if (isempty(v))
                        return usage_error(name, v, "an address");
                if (!from_config && !o->listen_from_cmdline) {
                        o->n_listen = 0; /* the command line replaces the config's listeners */
                        o->listen_from_cmdline = true;
                }
                if (from_config && !o->listen_from_config && !o->listen_from_cmdline) {
                        o->n_listen = 0; /* the file's listeners replace the default one */
                        o->listen_from_config = true;
                }
                if (o->n_listen >= LISTEN_MAX)
                        return usage_error(name, v, "at most " STRINGIFY(LISTEN_MAX) " listeners");
                o->listen[o->n_listen++] = v;
                break;
        case ARG_METRICS_LISTEN:
                if (isempty(v))
                        return usage_error(name, v, "an address");
                o->metrics_listen = v;
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
        case ARG_ISCSID_CONF:
                o->iscsid_conf = v; /* "" means none: the compiled defaults */
                break;
        case ARG_ISCSIADM:
                if (isempty(v) || v[0] != '/')
                        return usage_error(name, v, "an absolute path");
                o->iscsiadm = v;
                break;
        case ARG_DEV_ROOT:
                if (isempty(v))
                        return usage_error(name, v, "a directory");
                o->dev_root = v;
                break;
        case ARG_WEB_ROOT:
                o->web_root = v; /* "" means no UI */
                o->web_root_given = true;
                break;
        case ARG_UDEV_DIR:
                if (isempty(v))
                        return usage_error(name, v, "a directory");
                o->udev_dir = v;
                break;
        case ARG_DRIFT: {
                size_t d = 0;

                while (d < ELEMENTSOF(drift_names) && !streq(v, drift_names[d]))
                        d++;
                if (d >= ELEMENTSOF(drift_names))
                        return usage_error(name, v, "import or report");
                o->drift = (enum engine_drift_policy)d;
                break;
        }
        case ARG_THREADS:
                if (parse_unsigned(v, 1, THREADS_MAX, &l) < 0)
                        return usage_error(name, v, "a number from 1 to " STRINGIFY(THREADS_MAX));
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
                        return usage_error(
                                name, v, "UID:ROLE, at most " STRINGIFY(UNIX_ROLES_MAX) " of them");
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
        case ARG_EVENT_BUFFER:
                if (parse_unsigned(v, EVENT_BUFFER_MIN, EVENT_BUFFER_MAX, &l) < 0)
                        return usage_error(name, v, "a number from 4 to 65536");
                o->event_buffer = (unsigned)l;
                break;
        case ARG_EVENT_STREAMS:
                if (parse_unsigned(v, 1, API_EVENT_STREAMS_MAX, &l) < 0)
                        return usage_error(name, v, "a number from 1 to 4096");
                o->event_streams = (unsigned)l;
                break;
        case ARG_EVENT_HEARTBEAT:
                if (parse_unsigned(v, 100, 3600000, &l) < 0)
                        return usage_error(name, v, "milliseconds from 100 to 3600000");
                o->event_heartbeat_ms = (unsigned)l;
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
                options_help();
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
int options_parse_config(const char *path, struct options *o)
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
int options_parse_argv(int argc, char *argv[], struct options *o)
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
