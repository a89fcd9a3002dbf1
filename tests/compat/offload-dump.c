/* SPDX-License-Identifier: MIT */
/*
 * offload-dump SYSFS_ROOT: prints the offload iface records engine/hba.c derives from a sysfs
 * tree, each as "== NAME\n" and then the bytes of iface_render_file(), for compat-offload.sh to
 * set against the files the real `iscsiadm -m iface` writes for the same tree.
 * Exit: 0 done, 1 a failure (message on stderr), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/hba.h"
#include "engine/iface.h"

int main(int argc, char **argv)
{
        struct hba_inventory inv = {};
        struct iface_rec *recs = NULL;
        size_t n = 0;
        int r, rc = 0;

        if (argc != 2) {
                fprintf(stderr, "usage: %s SYSFS_ROOT\n", argv[0]);
                return 2;
        }

        r = hba_scan(argv[1], &inv);
        if (r < 0) {
                fprintf(stderr, "offload-dump: scanning %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        r = hba_offload_ifaces(&inv, &recs, &n);
        if (r < 0) {
                fprintf(stderr, "offload-dump: offload records: %s\n", strerror(-r));
                hba_inventory_done(&inv);
                return 1;
        }

        for (size_t i = 0; i < n; i++) {
                char *data = NULL;
                size_t len = 0;

                r = iface_render_file(&recs[i], &data, &len);
                if (r < 0) {
                        fprintf(stderr, "offload-dump: rendering %s: %s\n", recs[i].name,
                                strerror(-r));
                        rc = 1;
                        break;
                }
                if (printf("== %s\n", recs[i].name) < 0 || fwrite(data, 1, len, stdout) != len)
                        rc = 1;
                free(data);
        }
        if (fflush(stdout) != 0)
                rc = 1;

        for (size_t i = 0; i < n; i++)
                iface_rec_done(&recs[i]);
        free(recs);
        hba_inventory_done(&inv);
        return rc;
}
