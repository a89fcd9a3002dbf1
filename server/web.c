/* SPDX-License-Identifier: MIT */
/*
 * web.h. The files are read once, at start: a request never touches the disk, and what is
 * served is what was there when the daemon started (a new build is picked up by a restart;
 * Cache-Control: no-cache with a content ETag makes clients revalidate, and an unchanged file
 * costs a 304). The gzip copies are made with zlib, once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "macro.h"
#include "web.h"

struct web {
        struct web_file *files; /* sorted by path */
        size_t n;
};

static const struct {
        const char *ext;
        const char *type;
} types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".woff2", "font/woff2" },
};

_printf_(2, 3) static int fail(char **msg, const char *fmt, ...)
{
        va_list ap;

        if (msg) {
                va_start(ap, fmt);
                if (vasprintf(msg, fmt, ap) < 0)
                        *msg = NULL;
                va_end(ap);
        }
        return 0;
}

static const char *type_of(const char *name)
{
        const char *dot = strrchr(name, '.');

        for (size_t i = 0; dot && i < ELEMENTSOF(types); i++)
                if (strcasecmp(dot, types[i].ext) == 0)
                        return types[i].type;
        return NULL;
}

static bool name_ok(const char *s)
{
        if (s[0] == '.' || s[0] == '\0' || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
                        return false;
        return true;
}

/* FNV-1a 64 of the bytes, as a quoted ETag with an optional suffix. */
static void etag_of(const char *data, size_t len, const char *suffix, char *buf, size_t size)
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t)data[i];
                h *= 0x100000001b3ULL;
        }
        snprintf(buf, size, "\"%016llx%s\"", (unsigned long long)h, suffix);
}

static int gzip_of(struct web_file *f)
{
        z_stream z = {};
        uLong cap = compressBound((uLong)f->len) + 32;
        char *out = malloc(cap);
        int rc;

        if (!out)
                return -ENOMEM;
        /* windowBits 15 + 16: a gzip wrapper; level 9, once at start. */
        if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                free(out);
                return -ENOMEM;
        }
        z.next_in = (Bytef *)f->data;
        z.avail_in = (uInt)f->len;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        rc = deflate(&z, Z_FINISH);
        if (rc != Z_STREAM_END || z.total_out >= f->len) {
                deflateEnd(&z);
                free(out);
                return 0; /* not smaller: sent as it is */
        }
        f->gz = out;
        f->gz_len = z.total_out;
        deflateEnd(&z);
        etag_of(f->data, f->len, "-gz", f->etag_gz, sizeof(f->etag_gz));
        return 0;
}

static int add_file(struct web *w, int dir_fd, const char *name, const char *path, char **msg)
{
        struct web_file *v, *f;
        struct stat st;
        ssize_t k;
        size_t got = 0;
        int fd, r;

        if (w->n == WEB_FILES_MAX)
                return fail(msg, "more than %d files", WEB_FILES_MAX), -E2BIG;
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return fail(msg, "%s: %s", path, strerror(errno)), -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_FILE_MAX) {
                r = errno;
                close(fd);
                return fail(msg, "%s: not a regular file of at most %d bytes", path, WEB_FILE_MAX),
                       r ? -r : -E2BIG;
        }
        v = realloc(w->files, (w->n + 1) * sizeof(*v));
        if (!v) {
                close(fd);
                return -ENOMEM;
        }
        w->files = v;
        f = &v[w->n];
        *f = (struct web_file){ .type = type_of(name) };
        f->path = strdup(path);
        f->data = malloc((size_t)st.st_size + 1);
        if (!f->path || !f->data) {
                free(f->path);
                free(f->data);
                close(fd);
                return -ENOMEM;
        }
        while (got < (size_t)st.st_size &&
               (k = read(fd, f->data + got, (size_t)st.st_size - got)) > 0)
                got += (size_t)k;
        close(fd);
        f->len = got;
        w->n++;
        etag_of(f->data, f->len, "", f->etag, sizeof(f->etag));
        return gzip_of(f);
}

static int load_dir(struct web *w, int dir_fd, const char *prefix, unsigned depth, char **msg)
{
        _cleanup_close_ int fd = -1;
        struct dirent **ents = NULL;
        DIR *d;
        int n, r = 0;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1; /* the DIR has it */
        n = scandirat(dirfd(d), ".", &ents, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name;
                char path[512];
                struct stat st;

                if (r < 0 || streq(name, ".") || streq(name, ".."))
                        continue;
                if (name[0] == '.')
                        continue; /* dotfiles (editor swap files, .gitignore) are not served */
                snprintf(path, sizeof(path), "%s/%s", prefix, name);
                if (!name_ok(name)) {
                        fail(msg, "%s: a name of [A-Za-z0-9._-] is needed to be served", path);
                        r = -EINVAL;
                        continue;
                }
                if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int sub;

                        if (depth >= WEB_DEPTH_MAX) {
                                fail(msg, "%s: deeper than %d directories", path, WEB_DEPTH_MAX);
                                r = -E2BIG;
                                continue;
                        }
                        sub = openat(dirfd(d), name,
                                     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (sub < 0) {
                                r = -errno;
                                continue;
                        }
                        r = load_dir(w, sub, path, depth + 1, msg);
                        close(sub);
                } else if (S_ISREG(st.st_mode) && type_of(name))
                        r = add_file(w, dirfd(d), name, path, msg);
                /* Anything else (a symlink, a file of a type we do not serve) stays unserved. */
        }
        for (int i = 0; i < n; i++)
                free(ents[i]);
        free(ents);
        closedir(d);
        return n < 0 ? -errno : r;
}

static int file_cmp(const void *a, const void *b)
{
        return strcmp(((const struct web_file *)a)->path, ((const struct web_file *)b)->path);
}

int web_load(const char *dir, struct web **ret, char **msg)
{
        struct web *w;
        int fd, r;

        assert_return(dir && ret, -EINVAL);
        if (msg)
                *msg = NULL;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                fail(msg, "cannot open '%s': %s", dir, strerror(-r));
                return r;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                close(fd);
                return -ENOMEM;
        }
        r = load_dir(w, fd, "", 0, msg);
        close(fd);
        if (r >= 0 && !web_find(w, "/")) {
                fail(msg, "'%s' has no index.html", dir);
                r = -ENOENT;
        }
        if (r < 0) {
                if (msg && !*msg)
                        fail(msg, "cannot load '%s': %s", dir, strerror(-r));
                web_free(w);
                return r;
        }
        qsort(w->files, w->n, sizeof(*w->files), file_cmp);
        *ret = w;
        return 0;
}

struct web *web_free(struct web *w)
{
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n; i++) {
                free(w->files[i].path);
                free(w->files[i].data);
                free(w->files[i].gz);
        }
        free(w->files);
        free(w);
        return NULL;
}

const struct web_file *web_find(const struct web *w, const char *path)
{
        struct web_file key;
        const struct web_file *f;

        if (!w || !path || path[0] != '/')
                return NULL;
        if (streq(path, "/"))
                path = "/index.html";
        key.path = (char *)path;
        if (!w->n)
                return NULL;
        f = bsearch(&key, w->files, w->n, sizeof(*w->files), file_cmp);
        return f;
}

size_t web_count(const struct web *w)
{
        return w ? w->n : 0;
}

size_t web_bytes(const struct web *w, bool gz)
{
        size_t sum = 0;

        for (size_t i = 0; w && i < w->n; i++)
                sum += gz && w->files[i].gz ? w->files[i].gz_len : w->files[i].len;
        return sum;
}

/* The next comma-separated token of *s (blanks trimmed) into buf; false at the end. */
static bool next_token(const char **s, char *buf, size_t size)
{
        const char *p = *s, *end;
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
        if (!*p)
                return false;
        end = strchr(p, ',');
        if (!end)
                end = p + strlen(p);
        *s = end;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        n = MIN((size_t)(end - p), size - 1);
        memcpy(buf, p, n);
        buf[n] = '\0';
        return true;
}

bool web_accepts_gzip(const char *ae)
{
        char tok[64];

        while (ae && next_token(&ae, tok, sizeof(tok))) {
                char *semi = strchr(tok, ';');
                bool zero = false;

                if (semi) {
                        const char *q = strstr(semi, "q=");

                        *semi = '\0';
                        zero = q && strtod(q + 2, NULL) <= 0.0;
                }
                while (strlen(tok) && tok[strlen(tok) - 1] == ' ')
                        tok[strlen(tok) - 1] = '\0';
                if ((strcasecmp(tok, "gzip") == 0 || streq(tok, "*")) && !zero)
                        return true;
        }
        return false;
}

bool web_etag_matches(const char *inm, const char *etag)
{
        char tok[64];

        while (inm && next_token(&inm, tok, sizeof(tok))) {
                const char *t = strncmp(tok, "W/", 2) == 0 ? tok + 2 : tok;

                if (streq(t, "*") || streq(t, etag))
                        return true;
        }
        return false;
}
