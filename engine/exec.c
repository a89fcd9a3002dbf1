/* SPDX-License-Identifier: MIT */
/*
 * exec.h. posix_spawn (a vfork-like clone, safe in a threaded process) with the child in a new
 * process group, its signal mask cleared and its dispositions reset, stdin /dev/null, stdout and
 * stderr on one pipe, and every descriptor from 3 up closed (posix_spawn_file_actions_
 * addclosefrom_np, glibc 2.34), so nothing of the daemon (sockets, the database) leaks into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "macro.h"

/* The whole environment of the child: nothing of the daemon's (no secret can ride in it). */
static char *const child_env[] = {
        (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        (char *)"LC_ALL=C",
        NULL,
};

void exec_result_done(struct exec_result *r)
{
        if (!r)
                return;
        free(r->output);
        r->output = NULL;
        r->output_len = 0;
}

static int spawn(const char *const *argv, int out_fd, pid_t *ret)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r;

        r = posix_spawn_file_actions_init(&fa);
        if (r)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        sigemptyset(&none);
        sigfillset(&all);
        r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (!r)
                r = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        if (!r)
                r = posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
        if (!r)
                r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        if (!r)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                            POSIX_SPAWN_SETSIGDEF);
        if (!r)
                r = posix_spawnattr_setpgroup(&attr, 0);
        if (!r)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (!r)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (!r)
                r = posix_spawn(ret, argv[0], &fa, &attr, (char *const *)argv, child_env);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return -r;
}

/* Append what fd has now to r->output (bounded). 1 on EOF, 0 on more to come, -errno. */
static int drain(int fd, struct exec_result *r)
{
        char buf[4096];

        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));

                if (k == 0)
                        return 1;
                if (k < 0)
                        return errno == EAGAIN ? 0 : errno == EINTR ? 0 : -errno;
                if (r->output_len < EXEC_OUTPUT_MAX) {
                        size_t take = MIN((size_t)k, EXEC_OUTPUT_MAX - r->output_len);
                        char *p = realloc(r->output, r->output_len + take + 1);

                        if (!p)
                                return -ENOMEM;
                        memcpy(p + r->output_len, buf, take);
                        r->output_len += take;
                        p[r->output_len] = '\0';
                        r->output = p;
                        if (take < (size_t)k)
                                r->truncated = true;
                } else
                        r->truncated = true;
        }
}

int exec_run(const char *const *argv, int64_t deadline_usec, int cancel_fd, struct exec_result *ret)
{
        int64_t t0 = clock_usec(CLOCK_MONOTONIC);
        int fds[2], status = 0, r;
        bool eof = false, killed = false, reaped = false;
        pid_t pid;

        assert_return(argv && argv[0] && argv[0][0] == '/' && ret, -EINVAL);
        *ret = (struct exec_result){ .exit_code = -1 };
        /* Only our end is non-blocking: the program's writes must block, not fail. */
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        r = spawn(argv, fds[1], &pid);
        close(fds[1]);
        if (r < 0) {
                close(fds[0]);
                return r;
        }
        while (!eof) {
                struct pollfd p[2] = {
                        { .fd = fds[0], .events = POLLIN },
                        { .fd = cancel_fd, .events = POLLIN },
                };
                int timeout = -1;

                if (deadline_usec > 0) {
                        int64_t left = deadline_usec - clock_usec(CLOCK_MONOTONIC);

                        if (left <= 0) {
                                ret->timed_out = true;
                                break;
                        }
                        timeout = (int)MIN((left + 999) / 1000, (int64_t)60000);
                }
                if (poll(p, cancel_fd >= 0 ? 2 : 1, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (cancel_fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                        ret->cancelled = true;
                        break;
                }
                if (p[0].revents) {
                        r = drain(fds[0], ret);
                        if (r == -ENOMEM) {
                                /* Keep reading into nothing: the program must not block on us. */
                                free(ret->output);
                                ret->output = NULL;
                                ret->output_len = EXEC_OUTPUT_MAX;
                        } else if (r != 0)
                                eof = true;
                }
        }
        /* Output closed: the program normally exits at once; it still gets only the deadline. */
        while (eof) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid) {
                        reaped = true;
                        break;
                }
                if (w < 0 && errno != EINTR)
                        break;
                if (deadline_usec > 0 && clock_usec(CLOCK_MONOTONIC) >= deadline_usec) {
                        ret->timed_out = true;
                        break;
                }
                if (cancel_fd >= 0 &&
                    poll(&(struct pollfd){ .fd = cancel_fd, .events = POLLIN }, 1, 2) > 0) {
                        ret->cancelled = true;
                        break;
                }
                if (cancel_fd < 0)
                        (void)nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
        }
        close(fds[0]);
        if (!reaped) {
                /* The whole group: anything it started goes too. */
                (void)kill(-pid, SIGKILL);
                killed = true;
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR) {
                                status = 0;
                                break;
                        }
        }
        if (killed && !ret->timed_out && !ret->cancelled)
                ret->timed_out = true;
        if (WIFEXITED(status) && !killed)
                ret->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                ret->signal = WTERMSIG(status);
        ret->elapsed_usec = clock_usec(CLOCK_MONOTONIC) - t0;
        return 0;
}
