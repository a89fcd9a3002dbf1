/* SPDX-License-Identifier: MIT */
/*
 * The HTTP ceiling of bench/perf.sh: libmicrohttpd answering every GET with fixed bytes from
 * memory, in the daemon's thread mode (server/http.c: MHD_USE_INTERNAL_POLLING_THREAD |
 * MHD_USE_POLL, MHD_OPTION_THREAD_POOL_SIZE THREADS) on a loopback port.
 *
 *   ceiling PORT_FILE THREADS BODY_FILE [HEADER_FILE]
 *
 * BODY_FILE is the body to serve (bench/perf.sh saves one record's answer from the daemon);
 * HEADER_FILE holds "Name: value" lines added to every answer (the daemon's headers for that
 * answer, less the Date, Content-Length and Connection that MHD writes itself). The port is
 * written to PORT_FILE once the server accepts connections. Runs until SIGTERM or SIGINT.
 *
 * The response is queued on the handler's second call, as the daemon does: queued on the first,
 * 0.9.75 answers "Connection: close" to everything (../shared/PERF-NOTES.md, trap 1).
 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct MHD_Response *answer;

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
        static int first_call;

        (void)cls;
        (void)url;
        (void)version;
        (void)upload;
        if (!*req_cls) {
                *req_cls = &first_call;
                return MHD_YES;
        }
        if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
        }
        if (strcmp(method, "GET"))
                return MHD_NO;
        return MHD_queue_response(conn, MHD_HTTP_OK, answer);
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
                buf[n] = 0;
                *len = (size_t)n;
        } else {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

/* Adds the "Name: value" lines of text to the answer; returns how many. */
static int add_headers(char *text)
{
        int n = 0;

        for (char *line = strtok(text, "\r\n"); line; line = strtok(NULL, "\r\n")) {
                char *colon = strchr(line, ':'), *value;

                if (!colon)
                        continue;
                *colon = 0;
                for (value = colon + 1; *value == ' '; value++)
                        ;
                if (MHD_add_response_header(answer, line, value) == MHD_YES)
                        n++;
        }
        return n;
}

int main(int argc, char **argv)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *d;
        const union MHD_DaemonInfo *info;
        char *body, *headers = NULL;
        size_t len, hlen;
        sigset_t set;
        FILE *f;
        int sig, n_headers = 0;

        if (argc != 4 && argc != 5) {
                fprintf(stderr, "usage: ceiling PORT_FILE THREADS BODY_FILE [HEADER_FILE]\n");
                return 2;
        }
        body = slurp(argv[3], &len);
        if (argc == 5)
                headers = slurp(argv[4], &hlen);
        if (!body || (argc == 5 && !headers)) {
                fprintf(stderr, "ceiling: cannot read %s\n", !body ? argv[3] : argv[4]);
                return 1;
        }
        answer = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
        if (headers)
                n_headers = add_headers(headers);

        /* Signals are taken by sigwait() below, not by MHD's threads (started after this). */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
                NULL, NULL, handle, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[2]),
                MHD_OPTION_CONNECTION_LIMIT, 4096U, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024U,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
                MHD_OPTION_CONNECTION_TIMEOUT, 60U, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, "ceiling: cannot start the server\n");
                return 1;
        }
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        f = fopen(argv[1], "w");
        if (!info || !f || fprintf(f, "%u\n", (unsigned)info->port) < 0 || fclose(f) != 0) {
                fprintf(stderr, "ceiling: cannot write the port file %s\n", argv[1]);
                return 1;
        }
        fprintf(stderr, "ceiling: port %u, %s threads, %zu bytes, %d headers of our own\n",
                (unsigned)info->port, argv[2], len, n_headers);

        sigwait(&set, &sig);
        MHD_stop_daemon(d);
        MHD_destroy_response(answer);
        free(body);
        free(headers);
        return 0;
}
