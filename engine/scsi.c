/* SPDX-License-Identifier: MIT */
/* scsi.h. The answer of the target is untrusted: its length field is checked against the buffer. */
#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "macro.h"
#include "scsi.h"

uint64_t scsi_lun_from_sam(const uint8_t sam[8])
{
        uint64_t lun = 0;

        for (unsigned i = 0; i < 8; i += 2)
                lun |= (uint64_t)((sam[i] << 8) | sam[i + 1]) << (i * 8);
        return lun;
}

void scsi_lun_to_sam_hex(uint64_t lun, char ret[17])
{
        uint8_t sam[8] = {};

        for (unsigned i = 0; i < 8; i += 2) {
                sam[i] = (uint8_t)(lun >> 8);
                sam[i + 1] = (uint8_t)lun;
                lun >>= 16;
        }
        for (unsigned i = 0; i < 8; i++)
                snprintf(ret + 2 * i, 3, "%02x", sam[i]);
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

int scsi_report_luns(const char *path, unsigned timeout_ms, uint64_t **ret, size_t *ret_n)
{
        enum {
                HDR = 8,
                BUF = HDR + 8 * SCSI_REPORT_LUNS_MAX
        };
        _cleanup_free_ uint8_t *buf = calloc(1, BUF);
        uint8_t cdb[12] = { 0xa0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            (BUF >> 24) & 0xff,
                            (BUF >> 16) & 0xff,
                            (BUF >> 8) & 0xff,
                            BUF & 0xff,
                            0,
                            0 };
        uint8_t sense[32] = {};
        _cleanup_close_ int fd = -1;
        uint64_t *v;
        size_t n = 0, len;
        sg_io_hdr_t io = {
                .interface_id = 'S',
                .dxfer_direction = SG_DXFER_FROM_DEV,
                .cmd_len = sizeof(cdb),
                .mx_sb_len = sizeof(sense),
                .dxfer_len = BUF,
                .cmdp = cdb,
                .sbp = sense,
                .timeout = timeout_ms,
        };

        assert_return(path && ret && ret_n, -EINVAL);
        if (!buf)
                return -ENOMEM;
        io.dxferp = buf;
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, SG_IO, &io) < 0)
                return -errno;
        if ((io.info & SG_INFO_OK_MASK) != SG_INFO_OK || io.status || io.host_status ||
            io.driver_status)
                return -EIO;
        if ((unsigned)io.resid > BUF || BUF - (unsigned)io.resid < HDR)
                return -EBADMSG;
        len = ((size_t)buf[0] << 24) | ((size_t)buf[1] << 16) | ((size_t)buf[2] << 8) | buf[3];
        if (len % 8)
                return -EBADMSG;
        /* A list longer than our buffer is cut to what came (the target says how long it is). */
        len = MIN(len, (size_t)(BUF - io.resid - HDR));
        len -= len % 8;
        v = calloc(len / 8 + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t off = HDR; off < HDR + len; off += 8)
                v[n++] = scsi_lun_from_sam(buf + off);
        qsort(v, n, sizeof(*v), cmp_u64);
        {
                size_t k = 0;

                for (size_t i = 0; i < n; i++)
                        if (k == 0 || v[k - 1] != v[i])
                                v[k++] = v[i];
                n = k;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
