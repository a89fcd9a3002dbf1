/* SPDX-License-Identifier: MIT */
/*
 * The HBA inventory read from a sysfs tree (SPEC.md §4): iSCSI transports, iSCSI hosts with their
 * kernel ifaces, and the offload iface records iscsiadm 2.1.8 derives from them. Every path is
 * resolved below one root fd by sysfs.c, a component at a time, so no symlink leads out of the
 * tree.
 *
 * Why one file of some 850 lines: the host readers and the derivation of iscsiadm's offload
 * records share the one root fd and its rules, and the derivation is checked byte for byte
 * against iscsiadm (compat.offload) as one unit.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hba.h"
#include "macro.h"
#include "sysfs.h"

/* libopeniscsiusr's buffer sizes (libopeniscsiusr/iface.h, struct iscsi_iface): values it reads
 * from sysfs are cut to the buffer minus its NUL, and we cut them the same way. */
#define LIB_HWADDRESS_BUF 18        /* ISCSI_HWADDRESS_BUF_SIZE */
#define LIB_TRANSPORT_BUF 16        /* ISCSI_TRANSPORT_NAME_MAXLEN */
#define LIB_NETDEV_BUF    16        /* IFNAMSIZ */
#define LIB_HOST_BUF      1025      /* NI_MAXHOST: addresses and the IPv6 autocfg strings */
#define LIB_STR_BUF       80        /* ISCSI_MAX_STR_LEN: enable/disable and the like */
#define LIB_INAME_BUF     257       /* TARGET_NAME_MAXLEN + 1 */
#define LIB_NUMBER_CHARS  11        /* numbers are read into char[12] (_INT32_STR_MAX_LEN) */
#define LIB_DEFAULT       "default" /* DEFAULT_{HWADDRESS,NETDEV,IPADDRESS} */

/* The realpath of class/iscsi_host/hostN must match this; group 1 is the host's device directory,
 * which holds iscsi_iface/ (libopeniscsiusr/sysfs.c sysfs_get_dev_path(), SPEC.md §4.1). */
#define HOST_DEV_RE "^(.+/devices/.+/host[0-9]+)/iscsi_host/"

/* --- transports ---------------------------------------------------------------------------- */

/* "0x%x" as the kernel prints the caps. */
static bool parse_caps(const char *s, uint32_t *ret)
{
        uint64_t v;

        if (!sysfs_parse_hex(s, 8, &v))
                return false;
        *ret = (uint32_t)v;
        return true;
}

static int scan_transports(int root_fd, struct hba_inventory *inv)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        int r;

        r = sysfs_list_dir(root_fd, "class/iscsi_transport", &names);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || names.n == 0)
                return 0; /* no class directory: no transport loaded */

        inv->transports = calloc(names.n, sizeof(*inv->transports));
        if (!inv->transports)
                return -ENOMEM;

        for (size_t i = 0; i < names.n; i++) {
                struct hba_transport *t = &inv->transports[inv->n_transports];
                _cleanup_free_ char *handle = NULL, *caps = NULL;
                char path[PATH_MAX];

                if (strlen(names.v[i]) >= sizeof(t->name) ||
                    !sysfs_is_text(names.v[i], strlen(names.v[i])))
                        continue;
                strcpy(t->name, names.v[i]);
                inv->n_transports++;

                (void)snprintf(path, sizeof(path), "class/iscsi_transport/%s/handle", t->name);
                r = sysfs_read_attr(root_fd, path, &handle);
                if (r < 0)
                        return r;
                (void)snprintf(path, sizeof(path), "class/iscsi_transport/%s/caps", t->name);
                r = sysfs_read_attr(root_fd, path, &caps);
                if (r < 0)
                        return r;

                if (!sysfs_parse_u64(handle, &t->handle))
                        t->handle = 0;
                t->caps_known = parse_caps(caps, &t->caps);
                t->loaded = t->handle != 0; /* usr/iscsi_sysfs.c: a zero handle is not loaded */
        }
        return 0;
}

/* --- hosts --------------------------------------------------------------------------------- */

/* "host<N>" with N in canonical decimal (no sign, no leading zero). */
static bool parse_host_name(const char *s, unsigned *ret)
{
        uint64_t v;

        if (strncmp(s, "host", 4) != 0)
                return false;
        s += 4;
        if ((s[0] == '0' && s[1]) || !sysfs_parse_u64(s, &v) || v > UINT_MAX)
                return false;
        *ret = (unsigned)v;
        return true;
}

/* A host attribute value: "(null)" (the kernel's NULL string) and "" mean unset. */
static char *host_value(char *v)
{
        if (v && (!*v || streq(v, "(null)"))) {
                free(v);
                return NULL;
        }
        return v;
}

static void kiface_done(struct hba_kiface *k)
{
        for (size_t i = 0; i < k->n_attrs; i++) {
                free(k->attrs[i].key);
                free(k->attrs[i].value);
        }
        free(k->attrs);
        free(k->name);
        *k = (struct hba_kiface){};
}

static void host_done(struct hba_host *h)
{
        for (size_t i = 0; i < h->n_kifaces; i++)
                kiface_done(&h->kifaces[i]);
        free(h->kifaces);
        free(h->transport);
        free(h->hwaddress);
        free(h->ipaddress);
        free(h->netdev);
        free(h->initiatorname);
        free(h->port_state);
        free(h->port_speed);
        *h = (struct hba_host){};
}

/* One kernel iface directory: every regular file in it is an attribute; unknown ones dropped. */
static int scan_kiface(int dir_fd, const char *name, struct hba_kiface *k)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv files = {};
        uint32_t num = 0, host_no = 0;
        int type = 0, r;

        k->name = strdup(name);
        if (!k->name)
                return -ENOMEM;
        /* libopeniscsiusr/iface.c _fill_hw_iface_from_sys(): IPv4 iff the name starts with
         * "ipv4", and the number is parsed from "ipv%d-iface-%u-%u" or stays 0 */
        k->ipv6 = strncmp(name, "ipv4", 4) != 0;
        if (sscanf(name, "ipv%d-iface-%" SCNu32 "-%" SCNu32, &type, &host_no, &num) == 3)
                k->iface_num = num <= INT_MAX ? (int)num : -1;

        r = sysfs_list_dir_fd(dir_fd, &files);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || files.n == 0)
                return 0;
        k->attrs = calloc(files.n, sizeof(*k->attrs));
        if (!k->attrs)
                return -ENOMEM;
        for (size_t i = 0; i < files.n; i++) {
                struct hba_attr *a = &k->attrs[k->n_attrs];
                struct stat st;

                if (fstatat(dir_fd, files.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || !sysfs_is_text(files.v[i], strlen(files.v[i])))
                        continue;
                r = sysfs_read_attr_at(dir_fd, files.v[i], &a->value);
                if (r < 0)
                        return r;
                if (!a->value)
                        continue;
                a->key = TAKE_PTR(files.v[i]);
                k->n_attrs++;
        }
        return 0;
}

/*
 * The kernel ifaces of a host whose class/iscsi_host/hostN resolved to host_path: they live in
 * iscsi_iface/ of the device directory that HOST_DEV_RE finds in the real path. Sets
 * kifaces_unknown when that directory cannot be located or read; a missing iscsi_iface/ means
 * none (bnx2i, qedi, cxgb4i: SPEC.md §4.1).
 */
static int scan_kifaces(int root_fd, const regex_t *re, const char *host_path, struct hba_host *h)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        _cleanup_close_ int dir_fd = -1;
        char vpath[PATH_MAX + sizeof(SYSFS_MOUNT)], dir[PATH_MAX + sizeof("/iscsi_iface")];
        regmatch_t m[2];
        size_t skip = strlen(SYSFS_MOUNT);
        int r;

        (void)snprintf(vpath, sizeof(vpath), SYSFS_MOUNT "%s", host_path);
        if (regexec(re, vpath, ELEMENTSOF(m), m, 0) != 0 || m[1].rm_so != 0 ||
            (size_t)m[1].rm_eo <= skip) {
                h->kifaces_unknown = true;
                return 0;
        }
        (void)snprintf(dir, sizeof(dir), "%.*s/iscsi_iface", (int)((size_t)m[1].rm_eo - skip),
                       vpath + skip);

        dir_fd = sysfs_open_dir(root_fd, dir, NULL);
        if (dir_fd == -ENOENT)
                return 0;
        if (dir_fd < 0) {
                h->kifaces_unknown = true;
                return 0;
        }
        r = sysfs_list_dir_fd(dir_fd, &names);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                h->kifaces_unknown = true;
                return 0;
        }
        if (names.n == 0)
                return 0;

        h->kifaces = calloc(names.n, sizeof(*h->kifaces));
        if (!h->kifaces)
                return -ENOMEM;
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_close_ int fd = -1;

                /* entries are directories, possibly reached through a link inside the tree;
                 * anything else there is not a kernel iface */
                if (!sysfs_is_text(names.v[i], strlen(names.v[i])) ||
                    (size_t)snprintf(vpath, sizeof(vpath), "%s/%s", dir, names.v[i]) >=
                            sizeof(vpath))
                        continue;
                fd = sysfs_open_dir(root_fd, vpath, NULL);
                if (fd < 0)
                        continue;
                r = scan_kiface(fd, names.v[i], &h->kifaces[h->n_kifaces++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int scan_host(int root_fd, const regex_t *re, unsigned host_no, struct hba_host *h)
{
        static const struct {
                const char *file;
                size_t offset;
        } attrs[] = {
                { "hwaddress", offsetof(struct hba_host, hwaddress) },
                { "ipaddress", offsetof(struct hba_host, ipaddress) },
                { "netdev", offsetof(struct hba_host, netdev) },
                { "initiatorname", offsetof(struct hba_host, initiatorname) },
                { "port_state", offsetof(struct hba_host, port_state) },
                { "port_speed", offsetof(struct hba_host, port_speed) },
        };
        struct sysfs_node n = { .parent_fd = -1 };
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *proc_name = NULL;
        char path[PATH_MAX];
        int r = 0;

        h->host_no = host_no;

        (void)snprintf(path, sizeof(path), "class/scsi_host/host%u/proc_name", host_no);
        r = sysfs_read_attr(root_fd, path, &proc_name);
        if (r < 0)
                return r;
        proc_name = host_value(TAKE_PTR(proc_name));
        if (proc_name) {
                const char *t = proc_name;

                if (strncmp(t, "iscsi_", 6) == 0)
                        t += 6;
                if (*t) {
                        h->transport = strdup(t);
                        if (!h->transport)
                                return -ENOMEM;
                }
        }
        h->offload = h->transport && !streq(h->transport, "tcp") && !streq(h->transport, "iser");

        (void)snprintf(path, sizeof(path), "class/iscsi_host/host%u", host_no);
        if (sysfs_resolve(root_fd, path, &n) < 0 || n.parent_fd < 0) {
                h->kifaces_unknown = true; /* a dangling or escaping link: nothing is known */
                sysfs_node_done(&n);
                return 0;
        }
        fd = sysfs_node_open(root_fd, &n, O_PATH | O_DIRECTORY);
        if (fd < 0) {
                h->kifaces_unknown = true;
                sysfs_node_done(&n);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(attrs); i++) {
                char **v = (char **)((char *)h + attrs[i].offset);

                r = sysfs_read_attr_at(fd, attrs[i].file, v);
                if (r < 0)
                        break;
                *v = host_value(*v);
        }
        if (r >= 0)
                r = scan_kifaces(root_fd, re, n.path, h);
        sysfs_node_done(&n);
        return r;
}

static int host_cmp(const void *a, const void *b)
{
        const struct hba_host *x = a, *y = b;

        return x->host_no < y->host_no ? -1 : x->host_no > y->host_no;
}

static int scan_hosts(int root_fd, struct hba_inventory *inv)
{
        _cleanup_(sysfs_strv_done) struct sysfs_strv names = {};
        regex_t re;
        int r;

        r = sysfs_list_dir(root_fd, "class/iscsi_host", &names);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || names.n == 0)
                return 0;

        inv->hosts = calloc(names.n, sizeof(*inv->hosts));
        if (!inv->hosts)
                return -ENOMEM;
        if (regcomp(&re, HOST_DEV_RE, REG_EXTENDED) != 0)
                return -ENOMEM; /* the pattern is constant: only allocation can fail */

        for (size_t i = 0; i < names.n; i++) {
                unsigned host_no;

                if (!parse_host_name(names.v[i], &host_no))
                        continue;
                r = scan_host(root_fd, &re, host_no, &inv->hosts[inv->n_hosts++]);
                if (r < 0)
                        break;
        }
        regfree(&re);
        if (r < 0)
                return r;
        if (inv->n_hosts > 1)
                qsort(inv->hosts, inv->n_hosts, sizeof(*inv->hosts), host_cmp);
        return 0;
}

/* --- public -------------------------------------------------------------------------------- */

void hba_inventory_done(struct hba_inventory *inv)
{
        if (!inv)
                return;
        for (size_t i = 0; i < inv->n_hosts; i++)
                host_done(&inv->hosts[i]);
        free(inv->hosts);
        free(inv->transports);
        *inv = (struct hba_inventory){};
}

int hba_scan(const char *sysfs_root, struct hba_inventory *ret)
{
        _cleanup_(hba_inventory_done) struct hba_inventory inv = {};
        _cleanup_close_ int root_fd = -1;
        int r;

        assert_return(sysfs_root, -EINVAL);
        assert_return(ret, -EINVAL);

        root_fd = open(sysfs_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd >= 0) {
                r = scan_transports(root_fd, &inv);
                if (r < 0)
                        return r;
                r = scan_hosts(root_fd, &inv);
                if (r < 0)
                        return r;
        }
        /* no tree at all is an inventory without transports or hosts */

        *ret = inv;
        inv = (struct hba_inventory){};
        return 0;
}

/* The CAP_* bits of open-iscsi include/iscsi_if.h, lowest first. */
static const struct {
        uint32_t bit;
        const char *name;
} cap_names[] = {
        { 0x1, "RECOVERY_L0" },
        { 0x2, "RECOVERY_L1" },
        { 0x4, "RECOVERY_L2" },
        { 0x8, "MULTI_R2T" },
        { 0x10, "HDRDGST" },
        { 0x20, "DATADGST" },
        { 0x40, "MULTI_CONN" },
        { 0x80, "TEXT_NEGO" },
        { 0x100, "MARKERS" },
        { 0x200, "FW_DB" },
        { 0x400, "SENDTARGETS_OFFLOAD" },
        { 0x800, "DATA_PATH_OFFLOAD" },
        { 0x1000, "DIGEST_OFFLOAD" },
        { 0x2000, "PADDING_OFFLOAD" },
        { 0x4000, "LOGIN_OFFLOAD" },
};

/*
 * Writes the names of the known bits set in caps, lowest bit first, to names[0..max-1] and returns
 * how many known bits are set (which may exceed max, as with snprintf). Unknown bits are skipped.
 */
size_t hba_caps_names(uint32_t caps, const char **names, size_t max)
{
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(cap_names); i++) {
                if (!(caps & cap_names[i].bit))
                        continue;
                if (names && n < max)
                        names[n] = cap_names[i].name;
                n++;
        }
        return n;
}

const struct hba_host *hba_find_host(const struct hba_inventory *inv, unsigned host_no)
{
        struct hba_host key = { .host_no = host_no };

        if (!inv || inv->n_hosts == 0)
                return NULL;
        return bsearch(&key, inv->hosts, inv->n_hosts, sizeof(*inv->hosts), host_cmp);
}

/* --- offload iface records ----------------------------------------------------------------- */

/*
 * This is path 1 of SPEC.md §4.2 only: iscsi_default_iface_setup() of libopeniscsiusr, which
 * `iscsiadm -m iface` runs first. The legacy "<transport>.<hwaddress>" files of usr/iface.c
 * iface_setup_host_bindings() (path 2) are deliberately not reproduced: together with path 1 they
 * give one port two iface files (open-iscsi issue #512).
 *
 * Where we differ from iscsiadm 2.1.8 on purpose (tests/compat/compat-offload.sh shows each):
 *   - only offload hosts (transport neither tcp nor iser) get records, as engine/hba.h promises;
 *     libopeniscsiusr does not look at the transport and also writes "tcp.<mac>.ipv4.0" for a
 *     software host whose hwaddress iscsid set;
 *   - a host without a hwaddress (or with "default") gets none, with or without kernel ifaces;
 *     libopeniscsiusr names kernel-iface records "<transport>.default.ipv4.N" then;
 *   - an unknown value (garbled, unreadable, over 4 KiB) is left unset; libopeniscsiusr copies
 *     the bytes it read, up to a NUL;
 *   - a host or kernel iface we cannot read is skipped, and the others still get their records;
 *     libopeniscsiusr stops at the first one (in alphasort order) and writes nothing after it;
 *   - a name outside iface_name_validate() gets no record (iscsiadm uses any bytes as file name);
 *   - ipaddress is left unset where our file writer would pick the other key template for it
 *     than libopeniscsiusr (its placeholder "default" on an IPv4 record): the rest of the file
 *     is then iscsiadm's, and the file stays readable, which iscsiadm's own would not be here.
 */

enum kattr_kind {
        KA_STR,
        KA_U8,
        KA_U16,
        KA_U32,
};

enum kattr_family {
        KF_ANY,
        KF_IPV4,
        KF_IPV6,
};

struct kattr_map {
        const char *file; /* sysfs attribute of the kernel iface */
        const char *key;  /* iface record key */
        enum kattr_kind kind;
        enum kattr_family family;
        uint32_t dflt; /* numbers: the value when the file is absent */
        unsigned buf;  /* strings: libopeniscsiusr's buffer */
};

/*
 * What libopeniscsiusr/iface.c _fill_hw_iface_from_sys() reads, into which key. Strings default
 * to "" (unset); numbers to 0, but vlan_id to 65535 and vlan_priority to 255 (golden B03).
 * Not listed: dhcp_alt_client_id_en. libopeniscsiusr reads it into dhcp_alt_client_id and then
 * overwrites that with dhcp_alt_client_id, so dhcp_alt_client_id_state is never set from sysfs.
 */
static const struct kattr_map kattrs[] = {
        { "bootproto", "bootproto", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "gateway", "gateway", KA_STR, KF_IPV4, 0, LIB_HOST_BUF },
        { "subnet", "subnet_mask", KA_STR, KF_IPV4, 0, LIB_HOST_BUF },
        { "dhcp_alt_client_id", "dhcp_alt_client_id", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "dhcp_dns_address_en", "dhcp_dns", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "dhcp_learn_iqn_en", "dhcp_learn_iqn", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "dhcp_req_vendor_id_en", "dhcp_req_vendor_id_state", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "dhcp_use_vendor_id_en", "dhcp_vendor_id_state", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "dhcp_vendor_id", "dhcp_vendor_id", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "dhcp_slp_da_info_en", "dhcp_slp_da", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "fragment_disable", "fragmentation", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "grat_arp_en", "gratuitous_arp", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "incoming_forwarding_en", "incoming_forwarding", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "tos_en", "tos_state", KA_STR, KF_IPV4, 0, LIB_STR_BUF },
        { "tos", "tos", KA_U8, KF_IPV4, 0, 0 },
        { "ttl", "ttl", KA_U8, KF_IPV4, 0, 0 },

        { "ipaddr_autocfg", "ipv6_autocfg", KA_STR, KF_IPV6, 0, LIB_HOST_BUF },
        { "link_local_addr", "ipv6_linklocal", KA_STR, KF_IPV6, 0, LIB_HOST_BUF },
        { "link_local_autocfg", "linklocal_autocfg", KA_STR, KF_IPV6, 0, LIB_HOST_BUF },
        { "router_addr", "ipv6_router", KA_STR, KF_IPV6, 0, LIB_HOST_BUF },
        { "router_state", "router_autocfg", KA_STR, KF_IPV6, 0, LIB_HOST_BUF },
        { "grat_neighbor_adv_en", "gratuitous_neighbor_adv", KA_STR, KF_IPV6, 0, LIB_STR_BUF },
        { "mld_en", "mld", KA_STR, KF_IPV6, 0, LIB_STR_BUF },
        { "dup_addr_detect_cnt", "dup_addr_detect_cnt", KA_U8, KF_IPV6, 0, 0 },
        { "hop_limit", "hop_limit", KA_U8, KF_IPV6, 0, 0 },
        { "flow_label", "flow_label", KA_U32, KF_IPV6, 0, 0 },
        { "nd_reachable_tmo", "nd_reachable_tmo", KA_U32, KF_IPV6, 0, 0 },
        { "nd_rexmit_time", "nd_rexmit_time", KA_U32, KF_IPV6, 0, 0 },
        { "nd_stale_tmo", "nd_stale_tmo", KA_U32, KF_IPV6, 0, 0 },
        { "router_adv_link_mtu", "router_adv_link_mtu", KA_U32, KF_IPV6, 0, 0 },
        { "traffic_class", "traffic_class", KA_U32, KF_IPV6, 0, 0 }, /* uint32_t in the lib */

        { "port", "port", KA_U16, KF_ANY, 0, 0 },
        { "mtu", "mtu", KA_U16, KF_ANY, 0, 0 },
        { "vlan_id", "vlan_id", KA_U16, KF_ANY, UINT16_MAX, 0 },
        { "vlan_priority", "vlan_priority", KA_U8, KF_ANY, UINT8_MAX, 0 },
        { "vlan_enabled", "vlan_state", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "enabled", "state", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "delayed_ack_en", "delayed_ack", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "tcp_nagle_disable", "tcp_nagle", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "tcp_wsf_disable", "tcp_wsf_state", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "tcp_wsf", "tcp_wsf", KA_U8, KF_ANY, 0, 0 },
        { "tcp_timer_scale", "tcp_timer_scale", KA_U8, KF_ANY, 0, 0 },
        { "tcp_timestamp_en", "tcp_timestamp", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "redirect_en", "redirect", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "def_taskmgmt_tmo", "def_task_mgmt_timeout", KA_U16, KF_ANY, 0, 0 },
        { "header_digest", "header_digest", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "data_digest", "data_digest", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "immediate_data", "immediate_data", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "initial_r2t", "initial_r2t", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "data_seq_in_order", "data_seq_inorder", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "data_pdu_in_order", "data_pdu_inorder", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "erl", "erl", KA_U8, KF_ANY, 0, 0 },
        { "max_recv_dlength", "max_receive_data_len", KA_U32, KF_ANY, 0, 0 },
        { "first_burst_len", "first_burst_len", KA_U32, KF_ANY, 0, 0 },
        { "max_outstanding_r2t", "max_outstanding_r2t", KA_U16, KF_ANY, 0, 0 },
        { "max_burst_len", "max_burst_len", KA_U32, KF_ANY, 0, 0 },
        { "chap_auth", "chap_auth", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "bidi_chap", "bidi_chap", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "strict_login_comp_en", "strict_login_compliance", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "discovery_auth_optional", "discovery_auth", KA_STR, KF_ANY, 0, LIB_STR_BUF },
        { "discovery_logout", "discovery_logout", KA_STR, KF_ANY, 0, LIB_STR_BUF },
};

static int kattr_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct hba_attr *)elem)->key);
}

static const char *kiface_attr(const struct hba_kiface *k, const char *file)
{
        const struct hba_attr *a;

        if (k->n_attrs == 0)
                return NULL;
        a = bsearch(file, k->attrs, k->n_attrs, sizeof(*k->attrs), kattr_cmp);
        return a ? a->value : NULL;
}

/* A string as libopeniscsiusr keeps it: cut to its buffer, "(null)" read as empty. */
static const char *lib_string(const char *v, unsigned buf, char *out)
{
        if (!v)
                return NULL;
        (void)snprintf(out, buf, "%s", v);
        return streq(out, "(null)") ? "" : out;
}

/*
 * A number as libopeniscsiusr reads it (sysfs.c iscsi_sysfs_prop_get_ll() with ignore_error):
 * absent means dflt; otherwise strtoll() of the first 11 characters, conversion errors ignored
 * ("abc" is 0, "1500abc" 1500), masked to the width of the field ("-1" in a u16 is 65535).
 */
static uint32_t lib_number(const char *v, uint32_t dflt, enum kattr_kind kind)
{
        char buf[LIB_NUMBER_CHARS + 1];
        long long n;

        if (!v)
                return dflt;
        (void)snprintf(buf, sizeof(buf), "%s", v);
        n = strtoll(buf, NULL, 10);
        switch (kind) {
        case KA_U8:
                return (uint32_t)((unsigned long long)n & UINT8_MAX);
        case KA_U16:
                return (uint32_t)((unsigned long long)n & UINT16_MAX);
        case KA_U32:
        case KA_STR:
                break;
        }
        return (uint32_t)((unsigned long long)n & UINT32_MAX);
}

/* libopeniscsiusr/iface.c lib_ipaddr_is_ipv6(): at least two colons. */
static bool lib_ipaddr_is_ipv6(const char *ip)
{
        const char *c = strchr(ip, ':');

        return c && strchr(c + 1, ':');
}

static int set_key(struct iface_rec *rec, const char *key, const char *value)
{
        int idx = iface_field_find(key);

        assert(idx >= 0);
        return iface_rec_set_str(rec, (size_t)idx, value);
}

static void set_num(struct iface_rec *rec, const char *key, uint32_t value)
{
        int idx = iface_field_find(key);

        assert(idx >= 0);
        rec->num[idx] = value;
}

struct recs {
        struct iface_rec *v;
        size_t n;
};

static void recs_done(struct recs *rs)
{
        for (size_t i = 0; i < rs->n; i++)
                iface_rec_done(&rs->v[i]);
        free(rs->v);
        *rs = (struct recs){};
}

static bool recs_have(const struct recs *rs, const char *name)
{
        for (size_t i = 0; i < rs->n; i++)
                if (streq(rs->v[i].name, name))
                        return true;
        return false;
}

static int set_kiface_values(struct iface_rec *rec, const struct hba_kiface *k)
{
        char buf[LIB_HOST_BUF];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(kattrs); i++) {
                const struct kattr_map *m = &kattrs[i];
                const char *v = kiface_attr(k, m->file);

                if ((m->family == KF_IPV4 && k->ipv6) || (m->family == KF_IPV6 && !k->ipv6))
                        continue;
                if (m->kind != KA_STR) {
                        set_num(rec, m->key, lib_number(v, m->dflt, m->kind));
                        continue;
                }
                r = set_key(rec, m->key, lib_string(v, m->buf, buf));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The record of one kernel iface k of host h, or of the host itself when k is NULL. */
static int offload_record(const struct hba_host *h, const struct hba_kiface *k, struct recs *rs)
{
        _cleanup_(iface_rec_done) struct iface_rec rec = {};
        char name[IFACE_NAME_MAX + 2], hw[LIB_HWADDRESS_BUF];
        char ipbuf[LIB_HOST_BUF], buf[LIB_HOST_BUF];
        const char *ip;
        bool ipv6;
        int r;

        if (k && k->iface_num < 0)
                return 0; /* a number iscsiadm would print unsigned and we cannot */

        (void)snprintf(hw, sizeof(hw), "%s", h->hwaddress);
        if (k) {
                /* the kernel iface's ipaddress; absent or empty is libopeniscsiusr's "default" */
                ip = lib_string(kiface_attr(k, "ipaddress"), LIB_HOST_BUF, ipbuf);
                ipv6 = k->ipv6;
        } else {
                ip = lib_string(h->ipaddress, LIB_HOST_BUF, ipbuf);
                ipv6 = lib_ipaddr_is_ipv6(isempty(ip) ? LIB_DEFAULT : ip);
        }
        if (isempty(ip))
                ip = LIB_DEFAULT;

        if ((size_t)snprintf(name, sizeof(name), "%s.%s.%s.%d", h->transport, hw,
                             ipv6 ? "ipv6" : "ipv4", k ? k->iface_num : 0) >= sizeof(name) ||
            iface_name_validate(name, NULL) < 0 || recs_have(rs, name))
                return 0; /* iscsiadm keeps the first file of a name, too */

        r = iface_rec_init(&rec, name);
        if (r >= 0)
                r = set_key(&rec, "transport_name", h->transport);
        if (r >= 0)
                r = set_key(&rec, "hwaddress", hw);
        if (r >= 0)
                r = set_key(&rec, "net_ifacename",
                            h->netdev ? lib_string(h->netdev, LIB_NETDEV_BUF, buf) : LIB_DEFAULT);
        if (r >= 0)
                r = set_key(&rec, "initiatorname",
                            lib_string(h->initiatorname, LIB_INAME_BUF, buf));
        if (r >= 0)
                r = set_key(&rec, "ipaddress", ip);
        if (r >= 0 && k) {
                set_num(&rec, "iface_num", (uint32_t)k->iface_num);
                r = set_kiface_values(&rec, k);
        }
        if (r < 0)
                return r;

        /* libopeniscsiusr writes the IPv6 key set iff the kernel iface is not "ipv4*" or the
         * name contains "ipv6" (idbm.c _idbm_iface_rec_link()); iface_render_file() decides by
         * the address. Where they disagree the address goes, and both agree on the name. */
        if (iface_rec_is_ipv6(&rec) != (ipv6 || strstr(name, "ipv6"))) {
                r = set_key(&rec, "ipaddress", NULL);
                if (r < 0)
                        return r;
        }

        if (rs->n % 8 == 0) {
                struct iface_rec *v = reallocarray(rs->v, rs->n + 8, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                rs->v = v;
        }
        rs->v[rs->n++] = rec;
        rec = (struct iface_rec){};
        return 0;
}

/* libopeniscsiusr walks class/iscsi_host in alphasort order: host10 before host7. */
static int host_name_cmp(const void *a, const void *b)
{
        char x[16], y[16];

        (void)snprintf(x, sizeof(x), "%u", (*(const struct hba_host *const *)a)->host_no);
        (void)snprintf(y, sizeof(y), "%u", (*(const struct hba_host *const *)b)->host_no);
        return strcmp(x, y);
}

/*
 * Records in the order iscsiadm writes the files (hosts in alphasort order, kernel ifaces by
 * name); a name that comes twice keeps its first record. *ret and *ret_n are written only on
 * success; *ret is NULL when there is no record.
 */
int hba_offload_ifaces(const struct hba_inventory *inv, struct iface_rec **ret, size_t *ret_n)
{
        _cleanup_(recs_done) struct recs rs = {};
        _cleanup_free_ const struct hba_host **order = NULL;
        int r;

        assert_return(inv, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(ret_n, -EINVAL);

        if (inv->n_hosts > 0) {
                order = calloc(inv->n_hosts, sizeof(*order));
                if (!order)
                        return -ENOMEM;
                for (size_t i = 0; i < inv->n_hosts; i++)
                        order[i] = &inv->hosts[i];
                qsort(order, inv->n_hosts, sizeof(*order), host_name_cmp);
        }

        for (size_t i = 0; i < inv->n_hosts; i++) {
                const struct hba_host *h = order[i];

                if (!h->offload || h->kifaces_unknown || !h->transport ||
                    strlen(h->transport) >= LIB_TRANSPORT_BUF || isempty(h->hwaddress) ||
                    streq(h->hwaddress, LIB_DEFAULT))
                        continue;
                if (h->n_kifaces == 0) {
                        r = offload_record(h, NULL, &rs);
                        if (r < 0)
                                return r;
                }
                for (size_t j = 0; j < h->n_kifaces; j++) {
                        r = offload_record(h, &h->kifaces[j], &rs);
                        if (r < 0)
                                return r;
                }
        }

        *ret = TAKE_PTR(rs.v);
        *ret_n = rs.n;
        rs.n = 0;
        return 0;
}
