/* SPDX-License-Identifier: MIT */
/* SCSI commands the daemon sends itself, through SG_IO on a device node of the session. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SCSI_REPORT_LUNS_MAX 1024 /* LUNs taken from one answer */

/* The Linux LUN number of an 8-byte SAM LUN (the kernel's scsilun_to_int()). */
uint64_t scsi_lun_from_sam(const uint8_t sam[8]);
/* The 8-byte SAM LUN of a Linux LUN, as 16 hex digits (the kernel's int_to_scsilun()). */
void scsi_lun_to_sam_hex(uint64_t lun, char ret[17]);

/*
 * REPORT LUNS (SPC-4 §6.33, SELECT REPORT 0: every LUN the target maps for us) through SG_IO on
 * the device node path (an sg or sd node; opened O_RDONLY | O_NONBLOCK), within timeout_ms. The
 * Linux LUN numbers, sorted and deduplicated, into *ret (the caller's). 0, -EIO (the command
 * failed: no answer, a check condition), -EBADMSG (an answer that is not a LUN list), or the
 * -errno of open or ioctl.
 */
int scsi_report_luns(const char *path, unsigned timeout_ms, uint64_t **ret, size_t *ret_n);
