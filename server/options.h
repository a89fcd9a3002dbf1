/* SPDX-License-Identifier: MIT */
/* The daemon's options: the command line, the config file (--config) and --help. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "engine.h"

#define PROGRAM "iscsi-ifaced"

/*
 * The defaults of the options, each defined once: options_init() sets them and --help prints
 * them. The others live beside the code that applies them: the connection limits in http.h
 * (HTTP_MAX_CONNECTIONS, HTTP_PER_CLIENT_DEFAULT, HTTP_CONNECTION_TIMEOUT_S), the rate limit in
 * api.h (API_RATE_LIMIT_DEFAULT, API_RATE_BURST_DEFAULT), the initiator name file in engine.h
 * (ENGINE_INITIATOR_NAME_FILE). Keep README.md's "Daemon options" in step.
 */
#define OPTIONS_LISTEN_DEFAULT          "127.0.0.1:8080"
#define OPTIONS_DB_DEFAULT              "/var/lib/iscsi-ifaced/ifaced.db"
#define OPTIONS_LOCK_DIR_DEFAULT        "/run/lock/iscsi"
#define OPTIONS_LOCK_TIMEOUT_MS_DEFAULT 5000
#define OPTIONS_SYSFS_ROOT_DEFAULT      "/sys"
#define OPTIONS_ISCSID_CONF_DEFAULT     "/etc/iscsi/iscsid.conf"
#ifndef OPTIONS_WEB_ROOT_DEFAULT /* meson.build sets it from the install prefix */
#define OPTIONS_WEB_ROOT_DEFAULT "/usr/share/iscsi-ifaced/web"
#endif
#define OPTIONS_DRIFT_DEFAULT     ENGINE_DRIFT_IMPORT
#define OPTIONS_THREADS_DEFAULT   2
#define OPTIONS_AUTH_DEFAULT      true
#define OPTIONS_LOG_LEVEL_DEFAULT "info"

/* Limits; plain numbers, as the messages print them with STRINGIFY(). */
#define THREADS_MAX    256
#define LISTEN_MAX     8
#define UNIX_ROLES_MAX 32

struct options {
        const char *listen[LISTEN_MAX];
        size_t n_listen;
        bool listen_from_cmdline; /* the command line's --listen replaces the config file's */
        bool listen_from_config;  /* the config file's first listen replaces the default */
        const char *port_file;
        const char *metrics_listen; /* a listener of GET /metrics alone, or NULL */
        const char *iscsi_root;
        const char *db_path;
        const char *lock_dir;
        const char *sysfs_root;
        const char *initiator_name_file;
        const char *iscsid_conf;
        const char *iscsiadm; /* NULL: LOGIN_ISCSIADM */
        const char *dev_root; /* NULL: /dev */
        const char *udev_dir; /* NULL: /run/udev */
        const char *web_root; /* "" no UI */
        bool web_root_given;  /* a missing default is not an error; a missing given one is */
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
        unsigned event_buffer;       /* --event-buffer */
        unsigned event_streams;      /* --event-streams */
        unsigned event_heartbeat_ms; /* --event-heartbeat-ms */
};

/* Fill o with the defaults above (the iscsi root is left NULL: main() detects it). */
void options_init(struct options *o);

/* Print the usage of the daemon and of its token CLI to stdout. */
void options_help(void);

/*
 * Read a config file into o: "key = value" lines whose keys are the long options, '#' comment
 * lines and blank lines; --config, --help and --version are refused in a file. The values are
 * kept for the life of the process (options_free_config_values() frees them). Errors are
 * printed to stderr. Returns 0, -EINVAL (unreadable file, bad line, bad value) or -ENOMEM.
 */
int options_parse_config(const char *path, struct options *o);

/*
 * Apply the command line to o, over its defaults; a --config file is read where it appears, so
 * later options win. Errors are printed to stderr. Returns 0 to run, 1 when --help or
 * --version was served, -EINVAL on a usage error.
 */
int options_parse_argv(int argc, char *argv[], struct options *o);

/* Free the values read from config files; for atexit(). */
void options_free_config_values(void);
