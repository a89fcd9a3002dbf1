/* SPDX-License-Identifier: MIT */
/*
 * The TLS certificate and key of the TCP listeners, swappable at run time: libmicrohttpd asks
 * for them through a GnuTLS retrieve callback on every handshake, so SIGHUP can load a new pair
 * without restarting the listener.
 */
#pragma once

#include <gnutls/abstract.h>

struct tls_creds;

/*
 * Load a PEM certificate chain and its private key. On failure *reterr_msg (if not NULL) gets
 * an owned reason naming the file. Returns 0, -ENOENT, -EACCES, -EINVAL (bad PEM, or the key
 * does not match the certificate), -ENOMEM.
 */
int tls_creds_new(const char *cert_path, const char *key_path, struct tls_creds **ret,
                  char **reterr_msg);

/* Read the files again; on success new handshakes use the new pair, else the old one stays. */
int tls_creds_reload(struct tls_creds *t, char **reterr_msg);

/* Free (after the listeners using it have stopped). NULL-safe. */
struct tls_creds *tls_creds_free(struct tls_creds *t);

/* The callback to hand to MHD_OPTION_HTTPS_CERT_CALLBACK. */
gnutls_certificate_retrieve_function2 *tls_creds_callback(void);

/* The creds the callback serves (one set per process). */
void tls_creds_set_current(struct tls_creds *t);
