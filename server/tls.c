/* SPDX-License-Identifier: MIT */
/* TLS credentials for libmicrohttpd through a GnuTLS retrieve callback, reloadable. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "log.h"
#include "macro.h"
#include "tls.h"

#define TLS_CHAIN_MAX 8
#define TLS_FILE_MAX  (1024 * 1024)

/* One loaded pair. Old sets are kept until the end: a handshake may still use them. */
struct tls_set {
        gnutls_pcert_st pcert[TLS_CHAIN_MAX];
        unsigned n_pcert;
        gnutls_privkey_t key;
        struct tls_set *older;
};

struct tls_creds {
        char *cert_path;
        char *key_path;
        pthread_rwlock_t lock;
        struct tls_set *cur;
};

static struct tls_creds *current;

static void set_msg(char **msg, const char *fmt, ...) _printf_(2, 3);

static void set_msg(char **msg, const char *fmt, ...)
{
        va_list ap;
        char *m;

        if (!msg)
                return;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*msg);
        *msg = m;
}

static int read_file(const char *path, gnutls_datum_t *ret, char **msg)
{
        struct stat st;
        ssize_t n;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                set_msg(msg, "cannot open '%s': %s", path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
            st.st_size > TLS_FILE_MAX) {
                close(fd);
                set_msg(msg, "'%s' is not a PEM file of at most %d bytes", path, TLS_FILE_MAX);
                return -EINVAL;
        }
        ret->data = gnutls_malloc((size_t)st.st_size + 1);
        if (!ret->data) {
                close(fd);
                return -ENOMEM;
        }
        n = read(fd, ret->data, (size_t)st.st_size);
        close(fd);
        if (n != st.st_size) {
                gnutls_free(ret->data);
                ret->data = NULL;
                set_msg(msg, "cannot read '%s'", path);
                return -EIO;
        }
        ret->data[n] = 0;
        ret->size = (unsigned)n;
        return 0;
}

static void set_free(struct tls_set *s)
{
        while (s) {
                struct tls_set *o = s->older;

                for (unsigned i = 0; i < s->n_pcert; i++)
                        gnutls_pcert_deinit(&s->pcert[i]);
                if (s->key)
                        gnutls_privkey_deinit(s->key);
                free(s);
                s = o;
        }
}

/* Load both files; check the key belongs to the first certificate. */
static int set_load(const char *cert_path, const char *key_path, struct tls_set **ret, char **msg)
{
        gnutls_datum_t cert = {}, key = {};
        gnutls_x509_crt_t crt = NULL;
        gnutls_x509_privkey_t xkey = NULL;
        unsigned char id1[64], id2[64];
        size_t l1 = sizeof(id1), l2 = sizeof(id2);
        struct tls_set *s;
        int r, g;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;

        r = read_file(cert_path, &cert, msg);
        if (r >= 0)
                r = read_file(key_path, &key, msg);
        if (r < 0)
                goto out;

        s->n_pcert = TLS_CHAIN_MAX;
        g = gnutls_pcert_list_import_x509_raw(s->pcert, &s->n_pcert, &cert, GNUTLS_X509_FMT_PEM, 0);
        if (g < 0 || s->n_pcert == 0) {
                s->n_pcert = 0;
                set_msg(msg, "'%s': no PEM certificate chain (%s)", cert_path, gnutls_strerror(g));
                r = -EINVAL;
                goto out;
        }

        g = gnutls_x509_privkey_init(&xkey);
        if (g >= 0)
                g = gnutls_x509_privkey_import2(xkey, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (g >= 0)
                g = gnutls_x509_crt_init(&crt);
        if (g >= 0)
                g = gnutls_x509_crt_import(crt, &cert, GNUTLS_X509_FMT_PEM);
        if (g < 0) {
                set_msg(msg, "'%s' or '%s' is not valid PEM (%s)", key_path, cert_path,
                        gnutls_strerror(g));
                r = -EINVAL;
                goto out;
        }
        if (gnutls_x509_crt_get_key_id(crt, 0, id1, &l1) < 0 ||
            gnutls_x509_privkey_get_key_id(xkey, 0, id2, &l2) < 0 || l1 != l2 ||
            memcmp(id1, id2, l1) != 0) {
                set_msg(msg, "the key in '%s' does not belong to the certificate in '%s'", key_path,
                        cert_path);
                r = -EINVAL;
                goto out;
        }

        g = gnutls_privkey_init(&s->key);
        if (g >= 0)
                g = gnutls_privkey_import_x509(s->key, xkey, GNUTLS_PRIVKEY_IMPORT_COPY);
        if (g < 0) {
                set_msg(msg, "'%s': %s", key_path, gnutls_strerror(g));
                r = -EINVAL;
                goto out;
        }
        *ret = TAKE_PTR(s);
        r = 0;
out:
        if (crt)
                gnutls_x509_crt_deinit(crt);
        if (xkey)
                gnutls_x509_privkey_deinit(xkey);
        if (key.data) {
                explicit_bzero(key.data, key.size);
                gnutls_free(key.data);
        }
        gnutls_free(cert.data);
        set_free(s);
        return r;
}

int tls_creds_new(const char *cert_path, const char *key_path, struct tls_creds **ret,
                  char **reterr_msg)
{
        struct tls_creds *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        pthread_rwlock_init(&t->lock, NULL);
        t->cert_path = strdup(cert_path);
        t->key_path = strdup(key_path);
        if (!t->cert_path || !t->key_path) {
                tls_creds_free(t);
                return -ENOMEM;
        }
        r = set_load(cert_path, key_path, &t->cur, reterr_msg);
        if (r < 0) {
                tls_creds_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int tls_creds_reload(struct tls_creds *t, char **reterr_msg)
{
        struct tls_set *s = NULL;
        int r;

        r = set_load(t->cert_path, t->key_path, &s, reterr_msg);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&t->lock);
        s->older = t->cur;
        t->cur = s;
        pthread_rwlock_unlock(&t->lock);
        return 0;
}

struct tls_creds *tls_creds_free(struct tls_creds *t)
{
        if (!t)
                return NULL;
        if (current == t)
                current = NULL;
        set_free(t->cur);
        free(t->cert_path);
        free(t->key_path);
        pthread_rwlock_destroy(&t->lock);
        free(t);
        return NULL;
}

void tls_creds_set_current(struct tls_creds *t)
{
        current = t;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
        struct tls_creds *t = current;

        (void)session;
        (void)req_ca_rdn;
        (void)nreqs;
        (void)pk_algos;
        (void)pk_algos_length;

        if (!t)
                return -1;
        pthread_rwlock_rdlock(&t->lock);
        *pcert = t->cur->pcert;
        *pcert_length = t->cur->n_pcert;
        *pkey = t->cur->key;
        pthread_rwlock_unlock(&t->lock);
        return 0;
}

gnutls_certificate_retrieve_function2 *tls_creds_callback(void)
{
        return retrieve;
}
