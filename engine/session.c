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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs.h"
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
        char note[sizeof(s->problem)];
        size_t len = strlen(s->problem);
        va_list ap;
        int k;

        if (len + 1 >= sizeof(s->problem))
                return;
        k = snprintf(note, sizeof(note), "%s: ", what);
        if (k < 0 || (size_t)k >= sizeof(note))
                return;
        va_start(ap, fmt);
        (void)vsnprintf(note + k, sizeof(note) - (size_t)k, fmt, ap);
        va_end(ap);
        if (strstr(s->problem, note))
                return; /* read twice (session_detail_read() reads some attributes again) */
        if (len > 0) {
                k = snprintf(s->problem + len, sizeof(s->problem) - len, "; ");
                len += MIN((size_t)k, sizeof(s->problem) - len - 1);
        }
        k = (int)MIN(strlen(note), sizeof(s->problem) - len - 1);
        memcpy(s->problem + len, note, (size_t)k);
        s->problem[len + (size_t)k] = '\0';
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
 * hostile, or empty though required (noted), or -ENOMEM. The kernel's NULL string "(null)" reads
 * as absent. Problems are noted under label (NULL: attr).
 */
static int read_text_as(int dir_fd, const char *attr, const char *label, bool required, char *buf,
                        size_t size, struct session_info *s)
{
        _cleanup_free_ char *v = NULL;
        int r;

        if (!label)
                label = attr;
        buf[0] = '\0';
        r = sysfs_attr_read_at(dir_fd, attr, &v);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && streq(v, "(null)"))
                r = -ENOENT;
        if (r == -ENOENT) {
                if (required)
                        problem_add(s, label, "missing");
                return -ENOENT;
        }
        if (r < 0) {
                problem_add(s, label, "%s", read_failure(r));
                return -EBADMSG;
        }
        if (strlen(v) >= size) {
                problem_add(s, label, "longer than %zu bytes", size - 1);
                return -EBADMSG;
        }
        if (required && isempty(v)) {
                problem_add(s, label, "empty");
                return -EBADMSG;
        }
        strcpy(buf, v);
        return 0;
}

static int read_text(int dir_fd, const char *attr, bool required, char *buf, size_t size,
                     struct session_info *s)
{
        return read_text_as(dir_fd, attr, NULL, required, buf, size, s);
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

/* The connection's address and port into s. ret_fd, if not NULL, gets the connection directory
 * (-1 when it could not be opened). 0 or -ENOMEM. */
static int read_connection(int root_fd, struct session_info *s, const char *dev, int *ret_fd)
{
        _cleanup_close_ int fd = -1;
        char what[32];
        int r;

        if (ret_fd)
                *ret_fd = -1;
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
        if (r == -ENOMEM)
                return r;
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        return 0;
}

/*
 * One session, class/iscsi_session/<name> with sid already parsed into s->sid. The optional
 * outputs are for session_detail_read(): the session's attribute directory and its connection's
 * (-1 when not opened; the caller closes them) and the canonical path of the session device
 * ("" unknown, else PATH_MAX bytes). 0 or -ENOMEM (nothing to close then).
 */
static int read_session(int root_fd, const char *name, struct session_info *s, int *ret_fd,
                        int *ret_conn_fd, char *ret_dev)
{
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX], dev[PATH_MAX] = "";
        unsigned tpgt;
        int r;

        if (ret_fd)
                *ret_fd = -1;
        if (ret_conn_fd)
                *ret_conn_fd = -1;
        if (ret_dev)
                ret_dev[0] = '\0';
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

        r = read_connection(root_fd, s, dev, ret_conn_fd);
        if (r < 0)
                return r;
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        if (ret_dev)
                strcpy(ret_dev, dev);
        return 0;
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
                r = read_session(root_fd, names.v[i], &v[n], NULL, NULL, NULL);
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

/* --- the whole of one session -------------------------------------------------------------- */

#define ISCSI_HOST_CLASS "class/iscsi_host"
#define SCSI_HOST_CLASS  "class/scsi_host"
#define LUNS_MAX         16384 /* per session; a target shows far fewer */
#define HOLDERS_MAX      256   /* partitions and holders of one LUN */
#define UDEV_LINKS_MAX   64
#define UDEV_DB_MAX      (1024 * 1024)
#define SCSI_TYPE_MAX    0x1f /* the peripheral device type is 5 bits */
#define DEV_MAJOR_MAX    4095 /* the kernel's dev_t: 12-bit major, 20-bit minor */
#define DEV_MINOR_MAX    1048575

/* Everything the LUN readers share. */
struct lun_ctx {
        int root_fd;            /* the sysfs root */
        int dev_fd;             /* roots->dev, -1 if it cannot be opened */
        int udev_fd;            /* roots->udev_data, -1 likewise */
        struct session_info *s; /* problems go here */
};

/* Plain decimal with an optional '-', as the kernel prints "%d" or "%lld", in [min, max]. */
static bool parse_s64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        bool neg = s && s[0] == '-';
        uint64_t v;
        int64_t x;

        if (!sysfs_parse_u64(neg ? s + 1 : s, &v))
                return false;
        if (!neg && v > (uint64_t)INT64_MAX)
                return false;
        if (neg && v > (uint64_t)INT64_MAX + 1)
                return false;
        x = neg ? (int64_t)(0 - v) : (int64_t)v;
        if (x < min || x > max)
                return false;
        *ret = x;
        return true;
}

/* "<major>:<minor>" as a dev attribute and mountinfo print it; false for anything else. */
static bool parse_devnum(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
        char buf[24];
        const char *colon = strchr(s, ':');
        uint64_t ma, mi;
        size_t n;

        if (!colon || (size_t)(colon - s) >= sizeof(buf))
                return false;
        n = (size_t)(colon - s);
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (!sysfs_parse_u64(buf, &ma) || !sysfs_parse_u64(colon + 1, &mi) || ma > DEV_MAJOR_MAX ||
            mi > DEV_MINOR_MAX)
                return false;
        *ret_major = (unsigned)ma;
        *ret_minor = (unsigned)mi;
        return true;
}

/* A signed number attribute in [min, max] into *ret (untouched when absent, "(null)" or bad;
 * bad is noted). 0 or -ENOMEM. */
static int read_s64_as(int dir_fd, const char *attr, const char *label, int64_t min, int64_t max,
                       int64_t *ret, struct session_info *s)
{
        char buf[32];
        int64_t v;
        int r;

        r = read_text_as(dir_fd, attr, label, false, buf, sizeof(buf), s);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        if (!parse_s64(buf, min, max, &v)) {
                problem_add(s, label ?: attr, "not a number in range");
                return 0;
        }
        *ret = v;
        return 0;
}

static int read_ll(int dir_fd, const char *attr, long long *ret, struct session_info *s)
{
        int64_t v = -1;
        int r;

        r = read_s64_as(dir_fd, attr, NULL, 0, INT64_MAX, &v, s);
        *ret = (long long)v;
        return r;
}

static int read_int(int dir_fd, const char *attr, int min, int max, int unknown, int *ret,
                    struct session_info *s)
{
        int64_t v = unknown;
        int r;

        r = read_s64_as(dir_fd, attr, NULL, min, max, &v, s);
        *ret = (int)v;
        return r;
}

/* A "0x.." counter; SESSION_UNKNOWN_U64 unless readable. 0 or -ENOMEM. */
static int read_hex_as(int dir_fd, const char *attr, const char *label, uint64_t *ret,
                       struct session_info *s)
{
        char buf[32];
        int r;

        *ret = SESSION_UNKNOWN_U64;
        r = read_text_as(dir_fd, attr, label, false, buf, sizeof(buf), s);
        if (r == -ENOMEM)
                return r;
        if (r == 0 && !sysfs_parse_hex(buf, 16, ret))
                problem_add(s, label, "not a number");
        return 0;
}

/* The dev attribute of dir_fd into *ret_major:*ret_minor (0:0 unless readable). 0 or -ENOMEM. */
static int read_devnum_as(int dir_fd, const char *label, unsigned *ret_major, unsigned *ret_minor,
                          struct session_info *s)
{
        char buf[32];
        int r;

        *ret_major = *ret_minor = 0;
        r = read_text_as(dir_fd, "dev", label, true, buf, sizeof(buf), s);
        if (r == -ENOMEM)
                return r;
        if (r == 0 && !parse_devnum(buf, ret_major, ret_minor))
                problem_add(s, label, "not a device number");
        return 0;
}

/* A text attribute that the kernel may show as its NULL string ("(null)", "<NULL>"): those, an
 * absent and a bad value (noted) read as "". 0 or -ENOMEM. */
static int read_opt_as(int dir_fd, const char *attr, const char *label, char *buf, size_t size,
                       struct session_info *s)
{
        int r;

        r = read_text_as(dir_fd, attr, label, false, buf, size, s);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || streq(buf, "<NULL>"))
                buf[0] = '\0';
        return 0;
}

static void strip_trailing_blanks(char *s)
{
        size_t n = strlen(s);

        while (n > 0 && s[n - 1] == ' ')
                s[--n] = '\0';
}

/* A name from a directory listing that can stand in a struct field of size bytes and in a path:
 * printable, not "." or "..", short enough. */
static bool name_ok(const char *name, size_t size)
{
        size_t n = strlen(name);

        return n > 0 && n < size && sysfs_is_text(name, n) && !streq(name, ".") &&
               !streq(name, "..") && !strchr(name, '/');
}

/* int_to_scsilun() of the kernel (drivers/scsi/scsi_common.c) as 16 hex digits: the Linux LUN
 * is the SAM LUN read two bytes at a time, first level first. */
static void lun_to_sam(uint64_t lun, char ret[17])
{
        unsigned char b[8];

        for (size_t i = 0; i < sizeof(b); i += 2) {
                b[i] = (unsigned char)((lun >> 8) & 0xff);
                b[i + 1] = (unsigned char)(lun & 0xff);
                lun >>= 16;
        }
        for (size_t i = 0; i < sizeof(b); i++)
                (void)snprintf(ret + 2 * i, 3, "%02x", b[i]);
}

/* "<H>:<C>:<T>:<L>" (a SCSI device) with each number in canonical decimal, H:C:T as given. */
static bool parse_hctl(const char *s, unsigned host, unsigned channel, unsigned target,
                       uint64_t *ret_lun)
{
        char prefix[48];
        const char *l;

        (void)snprintf(prefix, sizeof(prefix), "%u:%u:%u:", host, channel, target);
        if (strncmp(s, prefix, strlen(prefix)) != 0)
                return false;
        l = s + strlen(prefix);
        return !(l[0] == '0' && l[1]) && sysfs_parse_u64(l, ret_lun);
}

/* "target<H>:<C>:<T>" of host H. */
static bool parse_target_dir(const char *s, unsigned host, unsigned *ret_channel,
                             unsigned *ret_target)
{
        char prefix[32], c[16], t[16];
        const char *p, *colon;
        uint64_t vc, vt;
        size_t n;

        (void)snprintf(prefix, sizeof(prefix), "target%u:", host);
        if (strncmp(s, prefix, strlen(prefix)) != 0)
                return false;
        p = s + strlen(prefix);
        colon = strchr(p, ':');
        if (!colon || (size_t)(colon - p) >= sizeof(c) || strlen(colon + 1) >= sizeof(t))
                return false;
        n = (size_t)(colon - p);
        memcpy(c, p, n);
        c[n] = '\0';
        strcpy(t, colon + 1);
        if ((c[0] == '0' && c[1]) || (t[0] == '0' && t[1]) || !sysfs_parse_u64(c, &vc) ||
            !sysfs_parse_u64(t, &vt) || vc > UINT_MAX || vt > UINT_MAX)
                return false;
        *ret_channel = (unsigned)vc;
        *ret_target = (unsigned)vt;
        return true;
}

static void holder_set_kind(struct session_holder *h)
{
        unsigned n;

        if (strncmp(h->name, "dm-", 3) == 0)
                h->kind = SESSION_HOLDER_DM;
        else if (parse_numbered(h->name, "md", &n))
                h->kind = SESSION_HOLDER_MD;
        else
                h->kind = SESSION_HOLDER_OTHER;
}

struct holder_vec {
        struct session_holder *v;
        size_t n;
};

static struct session_holder *holder_push(struct holder_vec *hv)
{
        struct session_holder *v;

        v = reallocarray(hv->v, hv->n + 1, sizeof(*v));
        if (!v)
                return NULL;
        hv->v = v;
        v[hv->n] = (struct session_holder){};
        return &v[hv->n++];
}

/*
 * What holds the block device (or partition) at path, its canonical directory below the root:
 * the links in its holders/ directory, resolved below the root (a link leading elsewhere is noted
 * and skipped). 0 or -ENOMEM.
 */
static int read_holders(const struct lun_ctx *c, const char *path, const char *of,
                        struct holder_vec *hv)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        char p[PATH_MAX], label[96];
        int r;

        if ((size_t)snprintf(p, sizeof(p), "%s/holders", path) >= sizeof(p))
                return 0;
        r = sysfs_list_dir(c->root_fd, p, &names);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* none, or no holders/ at all */

        for (size_t i = 0; i < names.n; i++) {
                struct sysfs_node n = { .parent_fd = -1 };
                _cleanup_close_ int fd = -1;
                struct session_holder *h;

                if (!name_ok(names.v[i], sizeof(h->name)))
                        continue;
                (void)snprintf(label, sizeof(label), "%s/holders/%s", of, names.v[i]);
                if (hv->n >= HOLDERS_MAX) {
                        problem_add(c->s, label, "over %d holders", HOLDERS_MAX);
                        break;
                }
                if ((size_t)snprintf(p, sizeof(p), "%s/holders/%s", path, names.v[i]) >= sizeof(p))
                        continue;
                r = sysfs_resolve(c->root_fd, p, &n);
                if (r >= 0)
                        r = sysfs_node_open(c->root_fd, &n, O_RDONLY | O_DIRECTORY);
                sysfs_node_done(&n);
                if (r < 0) {
                        problem_add(c->s, label, "%s", read_failure(r));
                        continue;
                }
                fd = r;

                h = holder_push(hv);
                if (!h)
                        return -ENOMEM;
                strcpy(h->name, names.v[i]);
                strcpy(h->of, of);
                holder_set_kind(h);
                (void)snprintf(label, sizeof(label), "%s dev", h->name);
                r = read_devnum_as(fd, label, &h->major, &h->minor, c->s);
                if (r < 0)
                        return r;
                if (h->kind == SESSION_HOLDER_DM) {
                        _cleanup_close_ int dm_fd = -1;

                        dm_fd = openat(fd, "dm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (dm_fd < 0) {
                                (void)snprintf(label, sizeof(label), "%s/dm", h->name);
                                problem_add(c->s, label, "%s", read_failure(-errno));
                                continue;
                        }
                        (void)snprintf(label, sizeof(label), "%s dm/name", h->name);
                        r = read_opt_as(dm_fd, "name", label, h->dm_name, sizeof(h->dm_name), c->s);
                        if (r < 0)
                                return r;
                        (void)snprintf(label, sizeof(label), "%s dm/uuid", h->name);
                        r = read_opt_as(dm_fd, "uuid", label, h->dm_uuid, sizeof(h->dm_uuid), c->s);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Is name in the block directory a partition of block? sdb1 of sdb, nvme0n1p1 of nvme0n1, or
 * anything with a partition attribute. */
static bool is_partition(int block_fd, const char *block, const char *name)
{
        size_t n = strlen(block);
        char p[NAME_MAX + 16];
        struct stat st;

        if (fstatat(block_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return false;
        if (strncmp(name, block, n) == 0 && name[n]) {
                const char *rest = name + n;

                if (*rest == 'p' && n > 0 && block[n - 1] >= '0' && block[n - 1] <= '9')
                        rest++;
                if (*rest && strspn(rest, "0123456789") == strlen(rest))
                        return true;
        }
        (void)snprintf(p, sizeof(p), "%s/partition", name);
        return fstatat(block_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static int holder_cmp(const void *a, const void *b)
{
        const struct session_holder *x = a, *y = b;
        int k = strcmp(x->name, y->name);

        return k ? k : strcmp(x->of, y->of);
}

/* The partitions of the block device at path (canonical, opened as block_fd), then what holds
 * the disk or a partition, into l->holders. 0 or -ENOMEM. */
static int read_partitions_and_holders(const struct lun_ctx *c, int block_fd, const char *path,
                                       struct session_lun *l)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        struct holder_vec parts = {}, held = {};
        char p[PATH_MAX], label[64];
        int r;

        r = sysfs_list_dir_fd(block_fd, &names);
        if (r == -ENOMEM)
                return r;
        for (size_t i = 0; r >= 0 && i < names.n; i++) {
                _cleanup_close_ int fd = -1;
                struct session_holder *h;

                if (!name_ok(names.v[i], sizeof(h->name)) ||
                    !is_partition(block_fd, l->block, names.v[i]))
                        continue;
                if (parts.n >= HOLDERS_MAX)
                        break;
                h = holder_push(&parts);
                if (!h) {
                        r = -ENOMEM;
                        break;
                }
                h->kind = SESSION_HOLDER_PARTITION;
                strcpy(h->name, names.v[i]);
                strcpy(h->of, l->block);
                fd = openat(block_fd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                (void)snprintf(label, sizeof(label), "%s dev", h->name);
                if (fd < 0)
                        problem_add(c->s, label, "%s", read_failure(-errno));
                else
                        r = read_devnum_as(fd, label, &h->major, &h->minor, c->s);
        }

        if (r >= 0)
                r = read_holders(c, path, l->block, &held);
        for (size_t i = 0; r >= 0 && i < parts.n; i++) {
                if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, parts.v[i].name) >= sizeof(p))
                        continue;
                r = read_holders(c, p, parts.v[i].name, &held);
        }
        if (r >= 0 && parts.n + held.n > 0) {
                if (held.n > 1)
                        qsort(held.v, held.n, sizeof(*held.v), holder_cmp);
                l->holders = reallocarray(parts.v, parts.n + held.n, sizeof(*parts.v));
                if (!l->holders)
                        r = -ENOMEM;
                else {
                        parts.v = NULL;
                        if (held.n)
                                memcpy(l->holders + parts.n, held.v, held.n * sizeof(*held.v));
                        l->n_holders = parts.n + held.n;
                }
        }
        free(parts.v);
        free(held.v);
        return r < 0 ? r : 0;
}

/* All of fd, at most max bytes, into *ret (NUL-terminated; *ret_len without the NUL). 0, -EFBIG
 * beyond max, the read's -errno, or -ENOMEM. */
static int read_bounded(int fd, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, size = 0;

        for (;;) {
                ssize_t k;

                if (len == size) {
                        size_t grow = size ? size * 2 : 4096;
                        char *p;

                        if (size > max)
                                return -EFBIG;
                        p = realloc(buf, MIN(grow, max + 1) + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        size = MIN(grow, max + 1);
                }
                k = read(fd, buf + len, size - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t)k;
                if (len > max)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* The next line of buf[*pos..len-1], without its newline; false at the end. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **ret_line,
                      size_t *ret_n)
{
        const char *nl;

        if (*pos >= len)
                return false;
        *ret_line = buf + *pos;
        nl = memchr(*ret_line, '\n', len - *pos);
        *ret_n = nl ? (size_t)(nl - *ret_line) : len - *pos;
        *pos += *ret_n + 1;
        return true;
}

/* A udev link (an "S:" line: a path below /dev) that is safe to show and to open: printable,
 * relative, no ".." component. */
static bool udev_link_ok(const char *s, size_t n)
{
        if (n == 0 || n > PATH_MAX - 8 || !sysfs_is_text(s, n) || s[0] == '/')
                return false;
        for (size_t i = 0; i < n;) {
                size_t k = strcspn(s + i, "/");

                if (k > n - i)
                        k = n - i;
                if (k == 2 && s[i] == '.' && s[i + 1] == '.')
                        return false;
                i += k + 1;
        }
        return true;
}

/* udev's database entry of the LUN's block device: it exists once udev has processed the
 * device; its "S:" lines are the links udev made. 0 or -ENOMEM. */
static int read_udev(const struct lun_ctx *c, struct session_lun *l)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        char name[32], label[48];
        const char *line;
        size_t len, n, pos = 0;
        bool bad = false;
        struct stat st;
        int r;

        if (c->udev_fd < 0 || (l->major == 0 && l->minor == 0))
                return 0;
        (void)snprintf(name, sizeof(name), "b%u:%u", l->major, l->minor);
        if (fstatat(c->udev_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return 0;
        l->udev_done = true;

        (void)snprintf(label, sizeof(label), "udev %s", name);
        fd = open_regular(c->udev_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, NULL);
        if (fd < 0) {
                problem_add(c->s, label, "%s", read_failure(fd));
                return 0;
        }
        r = read_bounded(fd, UDEV_DB_MAX, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                problem_add(c->s, label, "%s", r == -EFBIG ? "over 1 MiB" : "unreadable");
                return 0;
        }
        while (next_line(buf, len, &pos, &line, &n)) {
                char **v;

                if (n < 2 || line[0] != 'S' || line[1] != ':')
                        continue;
                if (!udev_link_ok(line + 2, n - 2)) {
                        bad = true;
                        continue;
                }
                if (l->n_links >= UDEV_LINKS_MAX) {
                        problem_add(c->s, label, "over %d links", UDEV_LINKS_MAX);
                        break;
                }
                v = reallocarray(l->links, l->n_links + 1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->links = v;
                if (asprintf(&v[l->n_links], "/dev/%.*s", (int)(n - 2), line + 2) < 0)
                        return -ENOMEM;
                l->n_links++;
        }
        if (bad)
                problem_add(c->s, label, "a link that is no safe path");
        return 0;
}

static const char *lun_label(char buf[64], const struct session_lun *l, const char *attr)
{
        (void)snprintf(buf, 64, "lun %" PRIu64 " %s", l->lun, attr);
        return buf;
}

/* The first entry of the directory at path whose name is a valid name of size bytes, with
 * prefix when not NULL ("sg" then a number); "" if none. 0 or -ENOMEM. */
static int first_entry(int root_fd, const char *path, const char *prefix, char *buf, size_t size)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        unsigned u;
        int r;

        buf[0] = '\0';
        r = sysfs_list_dir(root_fd, path, &names);
        if (r == -ENOMEM)
                return r;
        for (size_t i = 0; r >= 0 && i < names.n; i++)
                if (name_ok(names.v[i], size) &&
                    (!prefix || parse_numbered(names.v[i], prefix, &u))) {
                        strcpy(buf, names.v[i]);
                        break;
                }
        return 0;
}

/* The block device of a LUN, in lun_path/block/<name>. 0 or -ENOMEM. */
static int read_block(const struct lun_ctx *c, const char *lun_path, struct session_lun *l)
{
        _cleanup_close_ int fd = -1;
        char path[PATH_MAX], canon[PATH_MAX], label[64];
        int64_t sectors = -1;
        struct stat st;
        int r;

        if ((size_t)snprintf(path, sizeof(path), "%s/block", lun_path) >= sizeof(path))
                return 0;
        r = first_entry(c->root_fd, path, NULL, l->block, sizeof(l->block));
        if (r < 0 || isempty(l->block))
                return r;
        if ((size_t)snprintf(path, sizeof(path), "%s/block/%s", lun_path, l->block) >= sizeof(path))
                return 0;
        fd = sysfs_open_dir(c->root_fd, path, canon);
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                problem_add(c->s, lun_label(label, l, "block"), "%s", read_failure(fd));
                return 0;
        }

        (void)snprintf(label, sizeof(label), "%s dev", l->block);
        r = read_devnum_as(fd, label, &l->major, &l->minor, c->s);
        if (r < 0)
                return r;
        (void)snprintf(label, sizeof(label), "%s size", l->block);
        r = read_s64_as(fd, "size", label, 0, INT64_MAX / 512, &sectors, c->s);
        if (r < 0)
                return r;
        if (sectors >= 0)
                l->size_bytes = (uint64_t)sectors * 512;

        r = read_partitions_and_holders(c, fd, canon, l);
        if (r < 0)
                return r;

        if (c->dev_fd >= 0 && (l->major || l->minor))
                l->dev_node = fstatat(c->dev_fd, l->block, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                              S_ISBLK(st.st_mode) && major(st.st_rdev) == l->major &&
                              minor(st.st_rdev) == l->minor;
        return read_udev(c, l);
}

/* One SCSI device of the session, at path (l->lun and l->hctl set). 0 or -ENOMEM. */
static int read_lun(const struct lun_ctx *c, const char *path, struct session_lun *l)
{
        _cleanup_close_ int fd = -1;
        char label[64], p[PATH_MAX];
        int64_t type = -1;
        int r;

        l->type = -1;
        l->size_bytes = l->ioerr_cnt = l->iotmo_cnt = SESSION_UNKNOWN_U64;
        lun_to_sam(l->lun, l->lun_sam);

        fd = sysfs_open_dir(c->root_fd, path, NULL);
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                problem_add(c->s, l->hctl, "%s", read_failure(fd));
                return 0;
        }

        r = read_text_as(fd, "state", lun_label(label, l, "state"), false, l->state,
                         sizeof(l->state), c->s);
        if (r == -ENOMEM)
                return r;
        r = read_s64_as(fd, "type", lun_label(label, l, "type"), 0, SCSI_TYPE_MAX, &type, c->s);
        if (r < 0)
                return r;
        l->type = (int)type;
        r = read_opt_as(fd, "vendor", lun_label(label, l, "vendor"), l->vendor, sizeof(l->vendor),
                        c->s);
        if (r < 0)
                return r;
        r = read_opt_as(fd, "model", lun_label(label, l, "model"), l->model, sizeof(l->model),
                        c->s);
        if (r < 0)
                return r;
        r = read_opt_as(fd, "rev", lun_label(label, l, "rev"), l->rev, sizeof(l->rev), c->s);
        if (r < 0)
                return r;
        /* the kernel pads the INQUIRY strings with blanks */
        strip_trailing_blanks(l->vendor);
        strip_trailing_blanks(l->model);
        strip_trailing_blanks(l->rev);
        r = read_opt_as(fd, "wwid", lun_label(label, l, "wwid"), l->wwid, sizeof(l->wwid), c->s);
        if (r < 0)
                return r;
        r = read_hex_as(fd, "ioerr_cnt", lun_label(label, l, "ioerr_cnt"), &l->ioerr_cnt, c->s);
        if (r < 0)
                return r;
        r = read_hex_as(fd, "iotmo_cnt", lun_label(label, l, "iotmo_cnt"), &l->iotmo_cnt, c->s);
        if (r < 0)
                return r;

        if ((size_t)snprintf(p, sizeof(p), "%s/scsi_generic", path) < sizeof(p)) {
                r = first_entry(c->root_fd, p, "sg", l->sg, sizeof(l->sg));
                if (r < 0)
                        return r;
        }
        return read_block(c, path, l);
}

static int lun_cmp(const void *a, const void *b)
{
        const struct session_lun *x = a, *y = b;

        return x->lun < y->lun ? -1 : x->lun > y->lun;
}

/* The SCSI devices below the session device dev: dev/target<H>:<C>:<T>/<H>:<C>:<T>:<L>. */
static int read_luns(const struct lun_ctx *c, const char *dev, struct session_detail *d)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv targets = {};
        unsigned host = (unsigned)d->info.host_no;
        int r;

        r = sysfs_list_dir(c->root_fd, dev, &targets);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                problem_add(c->s, "session device", "%s", read_failure(r));
                return 0;
        }
        for (size_t i = 0; i < targets.n; i++) {
                _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
                char path[PATH_MAX], p[PATH_MAX];
                unsigned channel, target;

                if (!parse_target_dir(targets.v[i], host, &channel, &target) ||
                    (size_t)snprintf(path, sizeof(path), "%s/%s", dev, targets.v[i]) >=
                            sizeof(path))
                        continue;
                r = sysfs_list_dir(c->root_fd, path, &names);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        problem_add(c->s, targets.v[i], "%s", read_failure(r));
                        continue;
                }
                for (size_t j = 0; j < names.n; j++) {
                        struct session_lun *v;
                        uint64_t lun;

                        if (!parse_hctl(names.v[j], host, channel, target, &lun) ||
                            (size_t)snprintf(p, sizeof(p), "%s/%s", path, names.v[j]) >= sizeof(p))
                                continue;
                        if (d->n_luns >= LUNS_MAX) {
                                problem_add(c->s, "luns", "over %d", LUNS_MAX);
                                goto done;
                        }
                        v = reallocarray(d->luns, d->n_luns + 1, sizeof(*v));
                        if (!v)
                                return -ENOMEM;
                        d->luns = v;
                        v[d->n_luns] = (struct session_lun){ .lun = lun };
                        strcpy(v[d->n_luns].hctl, names.v[j]);
                        d->n_luns++;
                        r = read_lun(c, p, &v[d->n_luns - 1]);
                        if (r < 0)
                                return r;
                }
        }
done:
        if (d->n_luns > 1)
                qsort(d->luns, d->n_luns, sizeof(*d->luns), lun_cmp);
        return 0;
}

/* The session's SCSI host: iscsi_host/host<H> and scsi_host/host<H>. 0 or -ENOMEM. */
static int read_host(int root_fd, struct session_detail *d)
{
        struct session_info *s = &d->info;
        _cleanup_close_ int fd = -1, sfd = -1;
        char name[32], label[48];
        int r;

        if (s->host_no < 0)
                return 0;
        (void)snprintf(name, sizeof(name), "host%d", s->host_no);

        fd = open_class_entry(root_fd, ISCSI_HOST_CLASS, name, NULL);
        if (fd == -ENOMEM)
                return fd;
        if (fd < 0) {
                (void)snprintf(label, sizeof(label), "iscsi_host/%s", name);
                problem_add(s, label, "%s", read_failure(fd));
        } else {
                r = read_opt_as(fd, "ipaddress", "host ipaddress", d->local_address,
                                sizeof(d->local_address), s);
                if (r >= 0)
                        r = read_opt_as(fd, "netdev", "host netdev", d->netdev, sizeof(d->netdev),
                                        s);
                if (r >= 0)
                        r = read_opt_as(fd, "hwaddress", "host hwaddress", d->hwaddress,
                                        sizeof(d->hwaddress), s);
                if (r < 0)
                        return r;
        }

        sfd = open_class_entry(root_fd, SCSI_HOST_CLASS, name, NULL);
        if (sfd == -ENOMEM)
                return sfd;
        if (sfd < 0) {
                (void)snprintf(label, sizeof(label), "scsi_host/%s", name);
                problem_add(s, label, "%s", read_failure(sfd));
                return 0;
        }
        return read_opt_as(sfd, "proc_name", "host proc_name", d->transport, sizeof(d->transport),
                           s);
}

/* "0"/"1" as libiscsi shows header_digest and data_digest, or the names. 0 or -ENOMEM. */
static int read_digest(int fd, const char *attr, char *buf, size_t size, struct session_info *s)
{
        char v[16];
        int r;

        buf[0] = '\0';
        r = read_text(fd, attr, false, v, sizeof(v), s);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        if (streq(v, "0") || strcasecmp(v, "None") == 0)
                (void)snprintf(buf, size, "None");
        else if (streq(v, "1") || strcasecmp(v, "CRC32C") == 0)
                (void)snprintf(buf, size, "CRC32C");
        else
                problem_add(s, attr, "not a digest");
        return 0;
}

static int read_connection_detail(int fd, struct session_detail *d)
{
        struct session_info *s = &d->info;
        int port = 0, local_port = 0, r;

        r = read_opt_as(fd, "state", "connection state", d->conn_state, sizeof(d->conn_state), s);
        if (r >= 0)
                r = read_opt_as(fd, "address", NULL, d->cur_address, sizeof(d->cur_address), s);
        if (r >= 0)
                r = read_int(fd, "port", 0, PORT_MAX, 0, &port, s);
        if (r >= 0)
                r = read_int(fd, "local_port", 0, PORT_MAX, 0, &local_port, s);
        d->cur_port = (unsigned)port;
        d->local_port = (unsigned)local_port;
        if (r >= 0)
                r = read_digest(fd, "header_digest", d->header_digest, sizeof(d->header_digest), s);
        if (r >= 0)
                r = read_digest(fd, "data_digest", d->data_digest, sizeof(d->data_digest), s);
        if (r >= 0)
                r = read_ll(fd, "max_recv_dlength", &d->max_recv_dlength, s);
        if (r >= 0)
                r = read_ll(fd, "max_xmit_dlength", &d->max_xmit_dlength, s);
        if (r >= 0)
                r = read_ll(fd, "ping_tmo", &d->ping_tmo, s);
        if (r >= 0)
                r = read_ll(fd, "recv_tmo", &d->recv_tmo, s);
        return r;
}

/* Whether a CHAP username is set: 1, 0, or -1 when it cannot be read (the kernel shows it to
 * CAP_SYS_ADMIN only, like the password). 0 or -ENOMEM. */
static int read_chap(int fd, const char *attr, int *ret, struct session_info *s)
{
        _cleanup_free_ char *v = NULL;
        int r;

        *ret = -1;
        r = sysfs_attr_read_at(fd, attr, &v);
        if (r == -ENOMEM)
                return r;
        if (r == -EACCES || r == -EPERM || r == -ENOENT)
                return 0;
        if (r < 0) {
                problem_add(s, attr, "%s", read_failure(r));
                return 0;
        }
        *ret = !(isempty(v) || streq(v, "(null)") || streq(v, "<NULL>"));
        return 0;
}

static int read_session_detail(int fd, struct session_detail *d)
{
        static const char *const boot_attrs[] = { "boot_root", "boot_nic", "boot_target" };
        struct session_info *s = &d->info;
        int r;

        r = read_opt_as(fd, "target_state", NULL, d->target_state, sizeof(d->target_state), s);
        if (r >= 0)
                /* -1 is the kernel's "no target yet" (ISCSI_MAX_TARGET) */
                r = read_int(fd, "target_id", -1, INT_MAX, -1, &d->target_id, s);
        if (r >= 0)
                r = read_int(fd, "creator", -1, INT_MAX, -2, &d->creator, s);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(boot_attrs); i++) {
                char v[256];

                r = read_opt_as(fd, boot_attrs[i], NULL, v, sizeof(v), s);
                if (r >= 0 && !isempty(v))
                        d->boot = true;
        }
        if (r >= 0)
                r = read_opt_as(fd, "initiatorname", NULL, d->initiator, sizeof(d->initiator), s);
        if (r >= 0)
                r = read_ll(fd, "first_burst_len", &d->first_burst_len, s);
        if (r >= 0)
                r = read_ll(fd, "max_burst_len", &d->max_burst_len, s);
        if (r >= 0)
                r = read_int(fd, "initial_r2t", 0, 1, -1, &d->initial_r2t, s);
        if (r >= 0)
                r = read_int(fd, "immediate_data", 0, 1, -1, &d->immediate_data, s);
        if (r >= 0)
                r = read_int(fd, "erl", 0, 2, -1, &d->erl, s);
        if (r >= 0)
                r = read_ll(fd, "recovery_tmo", &d->recovery_tmo, s);
        if (r >= 0)
                r = read_ll(fd, "abort_tmo", &d->abort_tmo, s);
        if (r >= 0)
                r = read_ll(fd, "lu_reset_tmo", &d->lu_reset_tmo, s);
        if (r >= 0)
                r = read_ll(fd, "tgt_reset_tmo", &d->tgt_reset_tmo, s);
        /* password and password_in are never opened: the usernames say whether CHAP is on */
        if (r >= 0)
                r = read_chap(fd, "username", &d->chap_out, s);
        if (r >= 0)
                r = read_chap(fd, "username_in", &d->chap_in, s);
        return r;
}

void session_detail_done(struct session_detail *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n_luns; i++) {
                struct session_lun *l = &d->luns[i];

                for (size_t j = 0; j < l->n_links; j++)
                        free(l->links[j]);
                free(l->links);
                free(l->holders);
        }
        free(d->luns);
        *d = (struct session_detail){};
}

int session_detail_read(const struct session_roots *roots, unsigned sid, struct session_detail *ret)
{
        _cleanup_(session_detail_done) struct session_detail d = {};
        _cleanup_close_ int root_fd = -1, class_fd = -1, fd = -1, conn_fd = -1, dev_fd = -1,
                            udev_fd = -1;
        struct session_roots rt = {
                .sysfs = roots && roots->sysfs ? roots->sysfs : "/sys",
                .dev = roots && roots->dev ? roots->dev : "/dev",
                .udev_data = roots && roots->udev_data ? roots->udev_data : "/run/udev/data",
                .udev_ctl = roots && roots->udev_ctl ? roots->udev_ctl : "/run/udev/control",
        };
        struct sysfs_node n = { .parent_fd = -1 };
        char name[32], dev[PATH_MAX];
        struct stat st;
        int r;

        assert_return(ret, -EINVAL);

        root_fd = open(rt.sysfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return -errno;
        /* the class directory fails as in session_list() */
        class_fd = sysfs_open_dir(root_fd, SESSION_CLASS, NULL);
        if (class_fd < 0)
                return class_fd;
        (void)snprintf(name, sizeof(name), "session%u", sid);
        /* gone, or going (its device link dangles): no such session */
        r = resolve_class_entry(root_fd, SESSION_CLASS, name, &n);
        sysfs_node_done(&n);
        if (r == -ENOENT || r == -ENOMEM)
                return r;

        d.info.sid = sid;
        d.target_id = -1;
        d.creator = -2;
        d.max_recv_dlength = d.max_xmit_dlength = d.first_burst_len = d.max_burst_len = -1;
        d.initial_r2t = d.immediate_data = d.erl = -1;
        d.recovery_tmo = d.abort_tmo = d.lu_reset_tmo = d.tgt_reset_tmo = d.ping_tmo = d.recv_tmo =
                -1;
        d.chap_out = d.chap_in = -1;

        r = read_session(root_fd, name, &d.info, &fd, &conn_fd, dev);
        if (r < 0)
                return r;
        if (fd >= 0) {
                r = read_session_detail(fd, &d);
                if (r < 0)
                        return r;
        }
        if (conn_fd >= 0) {
                r = read_connection_detail(conn_fd, &d);
                if (r < 0)
                        return r;
        }
        r = read_host(root_fd, &d);
        if (r < 0)
                return r;

        d.udev_running = fstatat(AT_FDCWD, rt.udev_ctl, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (!isempty(dev) && d.info.host_no >= 0) {
                struct lun_ctx c = { .root_fd = root_fd, .s = &d.info };

                dev_fd = open(rt.dev, O_PATH | O_DIRECTORY | O_CLOEXEC);
                udev_fd = open(rt.udev_data, O_PATH | O_DIRECTORY | O_CLOEXEC);
                c.dev_fd = dev_fd;
                c.udev_fd = udev_fd;
                r = read_luns(&c, dev, &d);
                if (r < 0)
                        return r;
        }

        *ret = d;
        d = (struct session_detail){};
        return 0;
}

/* --- what uses a session's devices ---------------------------------------------------------- */

#define USES_MAX      4096
#define PROC_FILE_MAX (16 * 1024 * 1024) /* mountinfo of a host with very many mounts */

/* A device of the session: a LUN's disk, a partition, or a holder. */
struct use_dev {
        uint64_t lun;
        const char *name;
        unsigned major, minor; /* 0:0 unknown: matched by name only */
};

struct use_vec {
        struct session_use *v;
        size_t n;
};

/* src[0..n-1] into dst[size] with every byte that is no printable ASCII as \ooo, the kernel's
 * own escape in mountinfo and swaps (whose escapes are kept as they are); cut at a whole
 * character. */
static void escape_text(char *dst, size_t size, const char *src, size_t n)
{
        size_t k = 0;

        for (size_t i = 0; i < n && src[i]; i++) {
                unsigned char ch = (unsigned char)src[i];

                if (ch >= 0x20 && ch <= 0x7e) {
                        if (k + 1 >= size)
                                break;
                        dst[k++] = (char)ch;
                } else {
                        if (k + 4 >= size)
                                break;
                        (void)snprintf(dst + k, 5, "\\%03o", ch);
                        k += 4;
                }
        }
        dst[k] = '\0';
}

static int use_add(struct use_vec *u, enum session_use_kind kind, const struct use_dev *dev,
                   const char *what)
{
        struct session_use *v;

        for (size_t i = 0; i < u->n; i++)
                if (u->v[i].kind == kind && streq(u->v[i].device, dev->name) &&
                    streq(u->v[i].what, what))
                        return 0;
        if (u->n >= USES_MAX)
                return 0;
        v = reallocarray(u->v, u->n + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        u->v = v;
        v[u->n] = (struct session_use){ .kind = kind, .lun = dev->lun };
        (void)snprintf(v[u->n].device, sizeof(v[u->n].device), "%s", dev->name);
        (void)snprintf(v[u->n].what, sizeof(v[u->n].what), "%s", what);
        u->n++;
        return 0;
}

static const struct use_dev *dev_by_number(const struct use_dev *devs, size_t n, unsigned major,
                                           unsigned minor)
{
        if (major == 0 && minor == 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (devs[i].major == major && devs[i].minor == minor)
                        return &devs[i];
        return NULL;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t';
}

/* Field idx (0-based; separated by blanks and tabs, which the kernel escapes inside a path) of
 * line[0..n-1]; false if there is none. */
static bool line_field(const char *line, size_t n, size_t idx, const char **ret, size_t *ret_n)
{
        size_t i = 0;

        for (size_t f = 0;; f++) {
                size_t start;

                while (i < n && is_blank(line[i]))
                        i++;
                if (i >= n)
                        return false;
                start = i;
                while (i < n && !is_blank(line[i]))
                        i++;
                if (f == idx) {
                        *ret = line + start;
                        *ret_n = i - start;
                        return true;
                }
        }
}

/* A whole file below proc_fd (following /proc/self), bounded. */
static int read_proc_file(int proc_fd, const char *path, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = -1;

        fd = open_regular(proc_fd, path, O_RDONLY | O_NONBLOCK, 0, NULL);
        if (fd < 0)
                return fd;
        return read_bounded(fd, PROC_FILE_MAX, ret, ret_len);
}

/* Mounts: mountinfo's third field is the major:minor of the mounted device, the fifth the mount
 * point (octal-escaped by the kernel). */
static int uses_mounts(int proc_fd, const struct use_dev *devs, size_t n_devs, struct use_vec *u)
{
        _cleanup_free_ char *buf = NULL;
        const char *line, *f;
        size_t len, n, fn, pos = 0;
        int r;

        r = read_proc_file(proc_fd, "self/mountinfo", &buf, &len);
        if (r < 0)
                return r;
        while (next_line(buf, len, &pos, &line, &n)) {
                const struct use_dev *dev;
                char num[32], what[sizeof(((struct session_use *)0)->what)];
                unsigned major, minor;

                if (!line_field(line, n, 2, &f, &fn) || fn >= sizeof(num))
                        continue;
                memcpy(num, f, fn);
                num[fn] = '\0';
                if (!parse_devnum(num, &major, &minor))
                        continue;
                dev = dev_by_number(devs, n_devs, major, minor);
                if (!dev || !line_field(line, n, 4, &f, &fn))
                        continue;
                escape_text(what, sizeof(what), f, fn);
                r = use_add(u, SESSION_USE_MOUNT, dev, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The kernel's octal escapes (\040 and the like) of src[0..n-1] undone, into dst[size]; false if
 * it does not fit or holds a NUL. */
static bool unescape_octal(char *dst, size_t size, const char *src, size_t n)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                char ch = src[i];

                if (ch == '\\' && i + 3 < n && src[i + 1] >= '0' && src[i + 1] <= '3' &&
                    src[i + 2] >= '0' && src[i + 2] <= '7' && src[i + 3] >= '0' &&
                    src[i + 3] <= '7') {
                        ch = (char)((src[i + 1] - '0') * 64 + (src[i + 2] - '0') * 8 +
                                    (src[i + 3] - '0'));
                        i += 3;
                }
                if (ch == '\0' || k + 1 >= size)
                        return false;
                dst[k++] = ch;
        }
        dst[k] = '\0';
        return true;
}

/* Swaps: /proc/swaps names the device (or file) in its first field; matched as /dev/<name> or
 * by the device number of what the path names. */
static int uses_swaps(int proc_fd, const struct use_dev *devs, size_t n_devs, struct use_vec *u)
{
        _cleanup_free_ char *buf = NULL;
        const char *line, *f;
        size_t len, n, fn, pos = 0;
        bool header = true;
        int r;

        r = read_proc_file(proc_fd, "swaps", &buf, &len);
        if (r == -ENOENT)
                return 0; /* a kernel without swap */
        if (r < 0)
                return r;
        while (next_line(buf, len, &pos, &line, &n)) {
                const struct use_dev *dev = NULL;
                char what[sizeof(((struct session_use *)0)->what)], path[PATH_MAX];
                struct stat st;

                if (header) {
                        header = false; /* "Filename Type Size Used Priority" */
                        continue;
                }
                if (!line_field(line, n, 0, &f, &fn))
                        continue;
                for (size_t i = 0; i < n_devs && !dev; i++)
                        if (fn == 5 + strlen(devs[i].name) && strncmp(f, "/dev/", 5) == 0 &&
                            strncmp(f + 5, devs[i].name, fn - 5) == 0)
                                dev = &devs[i];
                if (!dev && unescape_octal(path, sizeof(path), f, fn) && path[0] == '/' &&
                    stat(path, &st) == 0 && S_ISBLK(st.st_mode))
                        dev = dev_by_number(devs, n_devs, major(st.st_rdev), minor(st.st_rdev));
                if (!dev)
                        continue;
                escape_text(what, sizeof(what), f, fn);
                r = use_add(u, SESSION_USE_SWAP, dev, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "pid <N> (<comm>)", comm escaped; "pid <N>" when comm cannot be read. */
static void pid_what(int list_fd, unsigned pid, char *buf, size_t size)
{
        _cleanup_close_ int fd = -1;
        char path[32], comm[32], esc[sizeof(comm) * 4 + 1];
        ssize_t k = -1;

        (void)snprintf(path, sizeof(path), "%u/comm", pid);
        fd = open_regular(list_fd, path, O_RDONLY | O_NONBLOCK, 0, NULL);
        if (fd >= 0)
                k = read(fd, comm, sizeof(comm) - 1);
        if (k <= 0) {
                (void)snprintf(buf, size, "pid %u", pid);
                return;
        }
        if (comm[k - 1] == '\n')
                k--;
        escape_text(esc, sizeof(esc), comm, (size_t)k);
        (void)snprintf(buf, size, "pid %u (%s)", pid, esc);
}

/* Open files: every /proc/<pid>/fd/<n> that is one of the devices (stat() follows the link to
 * the open file). Processes that vanish or that we may not look into are skipped. */
static int uses_open_files(int proc_fd, const struct use_dev *devs, size_t n_devs,
                           struct use_vec *u)
{
        const pid_t self = getpid();
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        fd = openat(proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        while (r >= 0 && (de = readdir(d))) {
                char path[32];
                struct dirent *fe;
                unsigned pid;
                DIR *fdd;
                int dfd;

                if (!parse_numbered(de->d_name, "", &pid) || pid > INT_MAX)
                        continue;
                (void)snprintf(path, sizeof(path), "%u/fd", pid);
                dfd = openat(dirfd(d), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        continue;
                fdd = fdopendir(dfd);
                if (!fdd) {
                        (void)close(dfd);
                        continue;
                }
                while (r >= 0 && (fe = readdir(fdd))) {
                        const struct use_dev *dev;
                        char what[sizeof(((struct session_use *)0)->what)];
                        struct stat st;
                        unsigned n;

                        if (!parse_numbered(fe->d_name, "", &n))
                                continue;
                        /* the directories this scan holds open are no use of ours */
                        if ((pid_t)pid == self &&
                            ((int)n == proc_fd || (int)n == dirfd(d) || (int)n == dirfd(fdd)))
                                continue;
                        if (fstatat(dirfd(fdd), fe->d_name, &st, 0) < 0 || !S_ISBLK(st.st_mode))
                                continue;
                        dev = dev_by_number(devs, n_devs, major(st.st_rdev), minor(st.st_rdev));
                        if (!dev)
                                continue;
                        pid_what(dirfd(d), pid, what, sizeof(what));
                        r = use_add(u, SESSION_USE_OPEN, dev, what);
                }
                (void)closedir(fdd);
        }
        (void)closedir(d);
        return r;
}

int session_uses(const struct session_detail *d, const char *proc_root, struct session_use **ret,
                 size_t *ret_n)
{
        _cleanup_free_ struct use_dev *devs = NULL;
        _cleanup_close_ int proc_fd = -1;
        struct use_vec u = {};
        size_t n_devs = 0, max = 0;
        int r;

        assert_return(d, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(ret_n, -EINVAL);

        for (size_t i = 0; i < d->n_luns; i++)
                max += 1 + d->luns[i].n_holders;
        if (max > 0) {
                devs = calloc(max, sizeof(*devs));
                if (!devs)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_luns; i++) {
                const struct session_lun *l = &d->luns[i];

                if (isempty(l->block))
                        continue;
                devs[n_devs++] = (struct use_dev){ l->lun, l->block, l->major, l->minor };
                for (size_t j = 0; j < l->n_holders; j++) {
                        const struct session_holder *h = &l->holders[j];

                        devs[n_devs++] = (struct use_dev){ l->lun, h->name, h->major, h->minor };
                }
        }

        /* a dm or md device (or another holder) on top is a use by itself: it must go first */
        for (size_t i = 0; i < d->n_luns; i++) {
                const struct session_lun *l = &d->luns[i];

                for (size_t j = 0; j < l->n_holders; j++) {
                        const struct session_holder *h = &l->holders[j];
                        struct use_dev of = { .lun = l->lun, .name = h->of };

                        if (h->kind == SESSION_HOLDER_PARTITION)
                                continue;
                        r = use_add(&u, SESSION_USE_HOLDER, &of,
                                    isempty(h->dm_name) ? h->name : h->dm_name);
                        if (r < 0)
                                goto fail;
                }
        }

        if (n_devs > 0) {
                proc_fd = open(proc_root ?: "/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (proc_fd < 0) {
                        r = -errno;
                        goto fail;
                }
                r = uses_mounts(proc_fd, devs, n_devs, &u);
                if (r >= 0)
                        r = uses_swaps(proc_fd, devs, n_devs, &u);
                if (r >= 0)
                        r = uses_open_files(proc_fd, devs, n_devs, &u);
                if (r < 0)
                        goto fail;
        }

        *ret = u.v;
        *ret_n = u.n;
        return 0;
fail:
        free(u.v);
        return r;
}

const char *session_use_kind_to_string(enum session_use_kind k)
{
        switch (k) {
        case SESSION_USE_MOUNT:
                return "mount";
        case SESSION_USE_SWAP:
                return "swap";
        case SESSION_USE_HOLDER:
                return "holder";
        case SESSION_USE_OPEN:
                return "open";
        }
        return NULL;
}

const char *session_holder_kind_to_string(enum session_holder_kind k)
{
        switch (k) {
        case SESSION_HOLDER_PARTITION:
                return "partition";
        case SESSION_HOLDER_DM:
                return "dm";
        case SESSION_HOLDER_MD:
                return "md";
        case SESSION_HOLDER_OTHER:
                return "other";
        }
        return NULL;
}
