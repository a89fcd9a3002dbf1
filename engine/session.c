/* SPDX-License-Identifier: MIT */
/*
 * The iSCSI sessions read from a sysfs tree (SPEC.md §4.3), below one root fd through sysfs.c so
 * no link leads out of the tree. Layout, as the kernel makes it (drivers/scsi/
 * scsi_transport_iscsi.c): the session device "session<sid>" is a child of its SCSI host
 * "host<M>", its attributes are in the class device below it, and the connection device
 * "connection<sid>:<cid>" is a child of the session device:
 *
 *   devices/.../host<M>/session<sid>/iscsi_session/session<sid>/{targetname,tpgt,state,...}
 *   devices/.../host<M>/session<sid>/connection<sid>:0/iscsi_connection/connection<sid>:0/...
 *   class/iscsi_session/session<sid>, class/iscsi_connection/connection<sid>:0: links to those
 *
 * Like libopeniscsiusr we read the connection through class/iscsi_connection and cid 0 only (the
 * Linux initiator makes one connection per session); a class/ entry that is a plain directory
 * (no device path, so no host) is read the same way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "session.h"
#include "sysfs.h"

#define SESSION_CLASS    "class/iscsi_session"
#define CONNECTION_CLASS "class/iscsi_connection"
#define TPGT_MAX         65535 /* RFC 7143 §13.9: a 16-bit tag */
#define PORT_MAX         65535

/* "<prefix><N>" with N in canonical decimal (no sign, no leading zero) that fits an unsigned. */
static bool parse_numbered(const char *s, const char *prefix, unsigned *ret)
{
        size_t n = strlen(prefix);
        uint64_t v;

        if (strncmp(s, prefix, n) != 0)
                return false;
        s += n;
        if ((s[0] == '0' && s[1]) || !sysfs_parse_u64(s, &v) || v > UINT_MAX)
                return false;
        *ret = (unsigned)v;
        return true;
}

/* Adds "what: why" to the session's problem, "; "-separated, cut to fit. Never the value itself:
 * it is untrusted. */
_printf_(3, 4) static void problem_add(struct session_info *s, const char *what, const char *fmt,
                                       ...)
{
        size_t len = strlen(s->problem);
        va_list ap;
        int k;

        if (len + 1 >= sizeof(s->problem))
                return;
        k = snprintf(s->problem + len, sizeof(s->problem) - len, "%s%s: ", len ? "; " : "", what);
        if (k < 0 || (size_t)k >= sizeof(s->problem) - len)
                return;
        len += (size_t)k;
        va_start(ap, fmt);
        (void)vsnprintf(s->problem + len, sizeof(s->problem) - len, fmt, ap);
        va_end(ap);
}

/* Why sysfs_attr_read_at() or sysfs_resolve() gave up, for a problem note. */
static const char *read_failure(int r)
{
        switch (r) {
        case -ENOENT:
                return "missing";
        case -EFBIG:
                return "over 4096 bytes";
        case -EBADMSG:
                return "not printable text";
        case -EINVAL:
                return "not a regular file";
        case -EXDEV:
                return "leads out of the tree";
        case -ELOOP:
                return "a symlink loop";
        case -ENOTDIR:
                return "not a directory";
        default:
                return "unreadable";
        }
}

/*
 * The attribute attr of dir_fd into buf[size] (buf "" unless 0 is returned). Returns 0, -ENOENT
 * when it is absent (noted as a problem only when required), -EBADMSG when it is unreadable,
 * hostile, or empty though required (noted), or -ENOMEM. The kernel's NULL string "(null)" reads as absent.
 */
static int read_text(int dir_fd, const char *attr, bool required, char *buf, size_t size,
                     struct session_info *s)
{
        _cleanup_free_ char *v = NULL;
        int r;

        buf[0] = '\0';
        r = sysfs_attr_read_at(dir_fd, attr, &v);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && streq(v, "(null)"))
                r = -ENOENT;
        if (r == -ENOENT) {
                if (required)
                        problem_add(s, attr, "missing");
                return -ENOENT;
        }
        if (r < 0) {
                problem_add(s, attr, "%s", read_failure(r));
                return -EBADMSG;
        }
        if (strlen(v) >= size) {
                problem_add(s, attr, "longer than %zu bytes", size - 1);
                return -EBADMSG;
        }
        if (required && isempty(v)) {
                problem_add(s, attr, "empty");
                return -EBADMSG;
        }
        strcpy(buf, v);
        return 0;
}

/* A number the kernel prints with "%d" or "%u", in 0..max, into *ret (untouched unless 0 is
 * returned). Returns like read_text(); a value that is no such number is -EBADMSG. */
static int read_number(int dir_fd, const char *attr, bool required, unsigned max, unsigned *ret,
                       struct session_info *s)
{
        char buf[24];
        uint64_t v;
        int r;

        r = read_text(dir_fd, attr, required, buf, sizeof(buf), s);
        if (r < 0)
                return r;
        if (!sysfs_parse_u64(buf, &v)) {
                problem_add(s, attr, "not a number");
                return -EBADMSG;
        }
        if (v > max) {
                problem_add(s, attr, "out of range");
                return -EBADMSG;
        }
        *ret = (unsigned)v;
        return 0;
}

/*
 * The host number and the session device directory from the canonical path of the session's
 * class directory, "devices/.../host<M>/session<sid>/iscsi_session/session<sid>"
 * (libopeniscsiusr/sysfs.c matches the same shape). Another shape leaves host_no -1 and
 * ret_dev "".
 */
static void parse_session_path(const char *path, struct session_info *s, char ret_dev[PATH_MAX])
{
        char suffix[64];
        const char *slash;
        size_t len = strlen(path), slen;
        unsigned host_no;
        char comp[NAME_MAX + 1];

        ret_dev[0] = '\0';
        slen = (size_t)snprintf(suffix, sizeof(suffix), "/session%u/iscsi_session/session%u",
                                s->sid, s->sid);
        if (strncmp(path, "devices/", 8) != 0 || len <= slen || !streq(path + len - slen, suffix))
                return;
        /* the component before the suffix names the host */
        len -= slen;
        slash = memrchr(path, '/', len);
        if (!slash || (size_t)(path + len - slash - 1) > NAME_MAX)
                return;
        memcpy(comp, slash + 1, (size_t)(path + len - slash - 1));
        comp[path + len - slash - 1] = '\0';
        if (!parse_numbered(comp, "host", &host_no) || host_no > INT_MAX)
                return;
        s->host_no = (int)host_no;
        (void)snprintf(ret_dev, PATH_MAX, "%.*s/session%u", (int)len, path, s->sid);
}

/*
 * Resolve class_dir/name below the root into *ret: a symlink into devices/ (the kernel's layout),
 * a plain directory, or a regular file holding a relative link target, as a copy of a tree that
 * kept no symlinks has it (SPEC.md §4.4's reference fixture); the target is resolved below the
 * root like a link would be. 0 or -errno (-EXDEV: out of the tree).
 */
static int resolve_class_entry(int root_fd, const char *class_dir, const char *name,
                               struct sysfs_node *ret)
{
        _cleanup_free_ char *target = NULL;
        char path[PATH_MAX];
        struct stat st;
        int r;

        if ((size_t)snprintf(path, sizeof(path), "%s/%s", class_dir, name) >= sizeof(path))
                return -ENAMETOOLONG;
        r = sysfs_resolve(root_fd, path, ret);
        if (r < 0)
                return r;
        if (ret->parent_fd < 0 ||
            fstatat(ret->parent_fd, ret->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
                return 0; /* a directory, or something opening it will refuse */

        r = sysfs_attr_read_at(ret->parent_fd, ret->name, &target);
        sysfs_node_done(ret);
        if (r < 0)
                return r == -ENOMEM ? r : -ENOTDIR;
        if (target[0] == '/')
                return -EXDEV;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", class_dir, target) >= sizeof(path))
                return -ENAMETOOLONG;
        return sysfs_resolve(root_fd, path, ret);
}

/* The directory resolve_class_entry() finds, opened; ret_path gets its canonical path. */
static int open_class_entry(int root_fd, const char *class_dir, const char *name,
                            char ret_path[PATH_MAX])
{
        struct sysfs_node n = { .parent_fd = -1 };
        int r;

        r = resolve_class_entry(root_fd, class_dir, name, &n);
        if (r >= 0) {
                r = sysfs_node_open(root_fd, &n, O_RDONLY | O_DIRECTORY);
                if (r >= 0 && ret_path)
                        strcpy(ret_path, n.path);
        }
        sysfs_node_done(&n);
        return r;
}

/* The connection directory of session s: class/iscsi_connection/connection<sid>:0, else below
 * the session device dev (when known). An fd or -errno. */
static int open_connection(int root_fd, const struct session_info *s, const char *dev)
{
        char path[PATH_MAX], name[32];
        int fd;

        (void)snprintf(name, sizeof(name), "connection%u:0", s->sid);
        fd = open_class_entry(root_fd, CONNECTION_CLASS, name, NULL);
        if (fd != -ENOENT || isempty(dev))
                return fd;
        if ((size_t)snprintf(path, sizeof(path),
                             "%s/connection%u:0/iscsi_connection/connection%u:0", dev, s->sid,
                             s->sid) >= sizeof(path))
                return -ENOENT;
        return sysfs_open_dir(root_fd, path, NULL);
}

static int read_connection(int root_fd, struct session_info *s, const char *dev)
{
        _cleanup_close_ int fd = -1;
        char what[32];
        int r;

        fd = open_connection(root_fd, s, dev);
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                (void)snprintf(what, sizeof(what), "connection%u:0", s->sid);
                problem_add(s, what, "%s", read_failure(fd));
                return 0;
        }

        /* each falls back to the other, as in libopeniscsiusr (SPEC.md §4.3) */
        r = read_text(fd, "persistent_address", false, s->address, sizeof(s->address), s);
        if (r < 0 && r != -ENOMEM) {
                int k = read_text(fd, "address", false, s->address, sizeof(s->address), s);

                if (k == -ENOENT && r == -ENOENT)
                        problem_add(s, "address", "missing");
                r = k;
        }
        if (r == -ENOMEM)
                return r;

        r = read_number(fd, "persistent_port", false, PORT_MAX, &s->port, s);
        if (r < 0 && r != -ENOMEM) {
                int k = read_number(fd, "port", false, PORT_MAX, &s->port, s);

                if (k == -ENOENT && r == -ENOENT)
                        problem_add(s, "port", "missing");
                r = k;
        }
        return r == -ENOMEM ? r : 0;
}

/* One session, class/iscsi_session/<name> with sid already parsed into s->sid. */
static int read_session(int root_fd, const char *name, struct session_info *s)
{
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX], dev[PATH_MAX] = "";
        unsigned tpgt;
        int r;

        s->tpgt = -1;
        s->host_no = -1;

        fd = open_class_entry(root_fd, SESSION_CLASS, name, path);
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                problem_add(s, name, "%s", read_failure(fd));
                return 0;
        }
        parse_session_path(path, s, dev);

        r = read_text(fd, "targetname", true, s->target, sizeof(s->target), s);
        if (r == -ENOMEM)
                return r;
        r = read_text(fd, "ifacename", false, s->ifacename, sizeof(s->ifacename), s);
        if (r == -ENOMEM)
                return r;
        if (r == -ENOENT)
                strcpy(s->ifacename, "default"); /* no name from the kernel: SPEC.md §4.3 */
        r = read_text(fd, "state", true, s->state, sizeof(s->state), s);
        if (r == -ENOMEM)
                return r;
        r = read_number(fd, "tpgt", true, TPGT_MAX, &tpgt, s);
        if (r == -ENOMEM)
                return r;
        if (r == 0)
                s->tpgt = (int)tpgt;

        return read_connection(root_fd, s, dev);
}

static int session_cmp(const void *a, const void *b)
{
        const struct session_info *x = a, *y = b;

        return x->sid < y->sid ? -1 : x->sid > y->sid;
}

int session_list(const char *sysfs_root, struct session_info **ret, size_t *ret_n)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        _cleanup_free_ struct session_info *v = NULL;
        _cleanup_close_ int root_fd = -1, dir_fd = -1;
        size_t n = 0;
        int r;

        assert_return(sysfs_root, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(ret_n, -EINVAL);

        root_fd = open(sysfs_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0 && errno != ENOENT)
                return -errno;
        if (root_fd >= 0) {
                dir_fd = sysfs_open_dir(root_fd, SESSION_CLASS, NULL);
                if (dir_fd < 0 && dir_fd != -ENOENT)
                        return dir_fd;
        }
        if (dir_fd >= 0) {
                r = sysfs_list_dir_fd(dir_fd, &names);
                if (r < 0)
                        return r;
        }

        if (names.n > 0) {
                v = calloc(names.n, sizeof(*v));
                if (!v)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < names.n; i++) {
                unsigned sid;

                if (!parse_numbered(names.v[i], "session", &sid))
                        continue; /* not a session: the kernel names them session%u */
                v[n].sid = sid;
                r = read_session(root_fd, names.v[i], &v[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), session_cmp);
        if (n == 0) {
                free(v);
                v = NULL;
        }

        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* --- matching ------------------------------------------------------------------------------ */

struct address {
        unsigned char bytes[16]; /* IPv4 as IPv4-mapped IPv6 */
        char scope[64];          /* "eth0" of "fe80::1%eth0" */
};

/* An IPv4 or IPv6 address, IPv6 possibly in brackets and with a zone; false for anything else. */
static bool address_parse(const char *text, struct address *ret)
{
        char buf[128];
        const char *p = text;
        size_t len = strlen(text);
        struct in_addr a4;
        char *zone;

        *ret = (struct address){};
        if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
                p++;
                len -= 2;
        }
        if (len == 0 || len >= sizeof(buf))
                return false;
        memcpy(buf, p, len);
        buf[len] = '\0';

        if (inet_pton(AF_INET, buf, &a4) == 1) {
                ret->bytes[10] = 0xff;
                ret->bytes[11] = 0xff;
                memcpy(ret->bytes + 12, &a4, 4);
                return true;
        }
        zone = strchr(buf, '%');
        if (zone) {
                *zone++ = '\0';
                if (isempty(zone) || strlen(zone) >= sizeof(ret->scope))
                        return false;
                strcpy(ret->scope, zone);
        }
        return inet_pton(AF_INET6, buf, ret->bytes) == 1;
}

bool session_address_equal(const char *a, const char *b)
{
        struct address x, y;

        if (isempty(a) || isempty(b))
                return false;
        if (address_parse(a, &x) && address_parse(b, &y))
                return memcmp(x.bytes, y.bytes, sizeof(x.bytes)) == 0 && streq(x.scope, y.scope);
        return strcasecmp(a, b) == 0; /* host names */
}

const struct session_info *session_find(const struct session_info *s, size_t n, const char *target,
                                        const char *address, unsigned port, int tpgt,
                                        const char *iface)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (target && (isempty(s[i].target) || !streq(s[i].target, target)))
                        continue;
                if (address && !session_address_equal(s[i].address, address))
                        continue;
                if (port != 0 && s[i].port != port)
                        continue;
                if (tpgt >= 0 && s[i].tpgt != tpgt)
                        continue;
                if (iface && (isempty(s[i].ifacename) || !streq(s[i].ifacename, iface)))
                        continue;
                return &s[i];
        }
        return NULL;
}
