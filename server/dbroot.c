/* SPDX-License-Identifier: MIT */
/* The default db root: read from the installed iscsiadm, else guessed from disk (dbroot.h). */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbroot.h"
#include "fs.h"
#include "macro.h"

/* Distinct roots kept per suffix; a file naming more is not telling us anything useful. */
#define ROOTS_MAX 8
/* Failed candidates named in the reason. */
#define NOTES_MAX 4
#define CHUNK     (64u * 1024)

const char *const dbroot_binaries[] = {
        "/usr/sbin/iscsiadm",
        "/sbin/iscsiadm",
        "/usr/lib64/libopeniscsiusr.so.0",
        "/usr/lib/*/libopeniscsiusr.so.0", /* Debian's multiarch directory */
        "/usr/lib/libopeniscsiusr.so.0",
        NULL,
};

const char *const dbroot_layout_dirs[] = {
        "/etc/iscsi",     /* open-iscsi's default, Debian's */
        "/var/lib/iscsi", /* RHEL's, SUSE's */
        NULL,
};

/* The subdirectories iscsiadm creates in its root; any one of them marks a used db root. */
static const char *const layout_subdirs[] = { "ifaces", "nodes", "send_targets" };

static bool char_is_path_safe(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '+' || c == '-' || c == '/';
}

bool dbroot_path_is_valid(const char *p)
{
        size_t n;

        if (!p || p[0] != '/')
                return false;
        n = strlen(p);
        if (n < 2 || n > DBROOT_PATH_MAX || p[n - 1] == '/')
                return false;

        for (const char *c = p; *c; c++)
                if (!char_is_path_safe(*c))
                        return false;

        /* Each component after a '/': not empty, not "." or "..". */
        for (const char *c = p; c; c = strchr(c + 1, '/')) {
                const char *s = c + 1;
                size_t len = strcspn(s, "/");

                if (len == 0 || (len == 1 && s[0] == '.') ||
                    (len == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
        }

        return true;
}

struct root_set {
        char *roots[ROOTS_MAX];
        size_t n;
        bool overflow;
};

static void root_set_done(struct root_set *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->roots[i]);
        s->n = 0;
}

static bool root_set_has(const struct root_set *s, const char *root)
{
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->roots[i], root))
                        return true;
        return false;
}

/* Add root (len bytes of p) if it is a valid, new one. */
static int root_set_add(struct root_set *s, const char *p, size_t len)
{
        _cleanup_free_ char *root = strndup(p, len);

        if (!root)
                return -ENOMEM;
        if (!dbroot_path_is_valid(root) || root_set_has(s, root))
                return 0;
        if (s->n >= ROOTS_MAX) {
                s->overflow = true;
                return 0;
        }
        s->roots[s->n++] = TAKE_PTR(root);
        return 0;
}

struct scan {
        /* The current run of printable bytes: a candidate string if a NUL ends it. */
        char run[DBROOT_PATH_MAX + sizeof("/ifaces")];
        size_t len;
        bool overlong;
        struct root_set ifaces, nodes;
};

/* Does the run end in suffix? Then what precedes it may be a root. */
static int scan_suffix(struct scan *sc, const char *suffix, struct root_set *set)
{
        size_t sl = strlen(suffix);

        if (sc->len <= sl || memcmp(sc->run + sc->len - sl, suffix, sl) != 0)
                return 0;
        return root_set_add(set, sc->run, sc->len - sl);
}

static int scan_string_end(struct scan *sc)
{
        int r;

        r = scan_suffix(sc, "/ifaces", &sc->ifaces);
        if (r < 0)
                return r;

        return scan_suffix(sc, "/nodes", &sc->nodes);
}

static int scan_bytes(struct scan *sc, const unsigned char *b, size_t n)
{
        int r;

        for (size_t i = 0; i < n; i++) {
                if (b[i] >= 0x20 && b[i] < 0x7f) {
                        if (sc->len < sizeof(sc->run) - 1)
                                sc->run[sc->len++] = (char)b[i];
                        else
                                sc->overlong = true;
                        continue;
                }
                if (b[i] == 0 && sc->len > 0 && !sc->overlong) {
                        r = scan_string_end(sc);
                        if (r < 0)
                                return r;
                }
                /* Any other byte ends the run without making it a string. */
                sc->len = 0;
                sc->overlong = false;
        }
        return 0;
}

int dbroot_from_binary(const char *path, char **ret_root)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ unsigned char *buf = NULL;
        _cleanup_free_ struct scan *sc = NULL;
        const char *found = NULL;
        size_t total = 0, matches = 0;
        struct stat st;
        char *root;
        int r;

        assert_return(path, -EINVAL);
        assert_return(ret_root, -EINVAL);

        /* O_NONBLOCK: a FIFO put in a candidate's place must not hang the start. */
        fd = open_regular(AT_FDCWD, path, O_RDONLY | O_NONBLOCK, 0, &st);
        if (fd < 0)
                return fd;
        if ((unsigned long long)st.st_size > DBROOT_FILE_MAX)
                return -EFBIG;

        buf = malloc(CHUNK);
        sc = calloc(1, sizeof(*sc));
        if (!buf || !sc)
                return -ENOMEM;

        for (;;) {
                ssize_t n = read(fd, buf, CHUNK);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto finish;
                }
                if (n == 0)
                        break;
                total += (size_t)n;
                if (total > DBROOT_FILE_MAX) { /* it grew while we read */
                        r = -EFBIG;
                        goto finish;
                }
                r = scan_bytes(sc, buf, (size_t)n);
                if (r < 0)
                        goto finish;
        }

        r = -ENOTUNIQ;
        if (sc->ifaces.overflow || sc->nodes.overflow)
                goto finish;
        for (size_t i = 0; i < sc->ifaces.n; i++)
                if (root_set_has(&sc->nodes, sc->ifaces.roots[i])) {
                        found = sc->ifaces.roots[i];
                        matches++;
                }
        if (matches != 1) {
                r = matches == 0 ? -ENODATA : -ENOTUNIQ;
                goto finish;
        }

        root = strdup(found);
        if (!root) {
                r = -ENOMEM;
                goto finish;
        }
        *ret_root = root;
        r = 0;
finish:
        root_set_done(&sc->ifaces);
        root_set_done(&sc->nodes);
        return r;
}

/* Append printf output to *s (NULL starts a new string). */
_printf_(2, 3) static int strextend(char **s, const char *fmt, ...)
{
        _cleanup_free_ char *add = NULL;
        char *n;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&add, fmt, ap);
        va_end(ap);
        if (r < 0) {
                add = NULL;
                return -ENOMEM;
        }
        if (asprintf(&n, "%s%s", *s ?: "", add) < 0)
                return -ENOMEM;
        free(*s);
        *s = n;
        return 0;
}

static const char *scan_error_string(int r)
{
        switch (r) {
        case -ENODATA:
                return "names no db root";
        case -ENOTUNIQ:
                return "names several db roots";
        case -EFBIG:
                return "too large to scan";
        case -EINVAL:
                return "not a regular file";
        }
        return strerror(-r);
}

/* What the binaries said, in the order tried. */
struct tried {
        char *notes; /* "P: why; P: why" for candidates that exist but did not decide */
        size_t n_notes;
        size_t n_found;
};

/* Try each match of one pattern: 1 when one decided (root and path set), else 0. */
static int try_pattern(const char *pattern, struct tried *t, char **ret_root, char **ret_path)
{
        glob_t g = {};
        int r = 0;

        if (glob(pattern, GLOB_NOESCAPE, NULL, &g) != 0) {
                globfree(&g);
                return 0; /* no match, or an unreadable directory: not installed here */
        }

        for (size_t i = 0; i < g.gl_pathc && r == 0; i++) {
                const char *p = g.gl_pathv[i];
                char *root = NULL;
                int k;

                t->n_found++;
                k = dbroot_from_binary(p, &root);
                if (k == -ENOMEM) {
                        r = -ENOMEM;
                } else if (k >= 0) {
                        char *path = strdup(p);

                        if (!path) {
                                free(root);
                                r = -ENOMEM;
                        } else {
                                *ret_root = root;
                                *ret_path = path;
                                r = 1;
                        }
                } else if (t->n_notes < NOTES_MAX) {
                        r = strextend(&t->notes, "%s%s %s", t->n_notes ? "; " : "", p,
                                      scan_error_string(k));
                        t->n_notes++;
                }
        }
        globfree(&g);
        return r;
}

/* The layout subdirectory dir has, or NULL if dir is not a used db root. */
static const char *layout_of(const char *dir)
{
        struct stat st;

        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(layout_subdirs); i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", dir, layout_subdirs[i]) < 0)
                        return NULL;
                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                        return layout_subdirs[i];
        }
        return NULL;
}

int dbroot_detect(const struct dbroot_config *cfg, char **ret_root, char **ret_reason,
                  enum dbroot_source *ret_source)
{
        const char *const *binaries = cfg && cfg->binaries ? cfg->binaries : dbroot_binaries;
        const char *const *dirs = cfg && cfg->layout_dirs ? cfg->layout_dirs : dbroot_layout_dirs;
        const char *fallback = cfg && cfg->fallback ? cfg->fallback : DBROOT_DEFAULT;
        _cleanup_free_ char *root = NULL, *path = NULL, *reason = NULL, *binaries_said = NULL;
        struct tried t = {};
        enum dbroot_source source;
        int r = 0;

        assert_return(ret_root, -EINVAL);
        assert_return(ret_reason, -EINVAL);

        for (size_t i = 0; binaries[i] && r == 0; i++)
                r = try_pattern(binaries[i], &t, &root, &path);
        if (r < 0)
                goto finish;

        if (r > 0) {
                source = DBROOT_SOURCE_BINARY;
                r = strextend(&reason, "the compiled-in path of %s", path);
                if (r >= 0 && t.notes)
                        r = strextend(&reason, " (%s)", t.notes);
                goto finish;
        }

        if (t.n_found == 0)
                r = strextend(&binaries_said, "no iscsiadm or libopeniscsiusr is installed");
        else
                r = strextend(&binaries_said,
                              "no installed iscsiadm or libopeniscsiusr names its db root (%s)",
                              t.notes ?: "");
        if (r < 0)
                goto finish;

        for (size_t i = 0; dirs[i]; i++) {
                const char *sub = layout_of(dirs[i]);

                if (!sub)
                        continue;
                source = DBROOT_SOURCE_LAYOUT;
                root = strdup(dirs[i]);
                r = root ? strextend(&reason,
                                     "an existing directory with iscsiadm's layout "
                                     "(%s/); %s",
                                     sub, binaries_said) :
                           -ENOMEM;
                goto finish;
        }

        source = DBROOT_SOURCE_DEFAULT;
        root = strdup(fallback);
        r = root ? strextend(&reason,
                             "the fixed default; %s, and no directory has iscsiadm's "
                             "layout (",
                             binaries_said) :
                   -ENOMEM;
        for (size_t i = 0; dirs[i] && r >= 0; i++)
                r = strextend(&reason, "%s%s", i ? ", " : "", dirs[i]);
        if (r >= 0)
                r = strextend(&reason, ")");

finish:
        free(t.notes);
        if (r < 0)
                return r;
        *ret_root = TAKE_PTR(root);
        *ret_reason = TAKE_PTR(reason);
        if (ret_source)
                *ret_source = source;
        return 0;
}
