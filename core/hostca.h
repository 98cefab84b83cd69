/*
 * hostca.h - the host CA of the egress plane (hostca.c): the certificate authority with which
 * akproxy signs leaf certificates for LLM host names, and that akctl ca shows, trusts and
 * rotates. It lives in egress.ca_dir as ca.pem and ca.key (mode 0600), and its X.509 name
 * constraints permit only the LLM host names it was made for, so that its key, if stolen,
 * can sign nothing else.
 */
#ifndef AK_HOSTCA_H
#define AK_HOSTCA_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/ak.h"
#include "core/config.h"

#define AK_HOSTCA_CERT "ca.pem"
#define AK_HOSTCA_KEY "ca.key"
#define AK_HOSTCA_ERRLEN 256

struct ak_hostca;

/* The names the CA must cover: the built-in LLM hosts and the config's hosts: (a "*.suffix"
 * pattern becomes the suffix, which name constraints read as "the domain and below").
 * Fills up to max; returns how many. The strings point into static data or cfg. */
size_t ak_hostca_names(const struct ak_config *cfg, const char **names, size_t max);
/* Loads the CA in dir; with `create`, makes a new one first when there is none. */
enum ak_err ak_hostca_open(const char *dir, const char *const *names, size_t n, bool create,
                           struct ak_hostca **out, char *err, size_t errlen);
/* Makes a new CA in dir (replacing any), for these names. */
enum ak_err ak_hostca_create(const char *dir, const char *const *names, size_t n, char *err,
                             size_t errlen);
void ak_hostca_free(struct ak_hostca *ca);
/* Does the CA's name constraint permit host? */
bool ak_hostca_covers(const struct ak_hostca *ca, const char *host);
/* A fresh leaf for host (ECDSA P-256 key shared by all leaves, SAN = host, serverAuth). */
X509 *ak_hostca_leaf(struct ak_hostca *ca, const char *host, EVP_PKEY **key);
X509 *ak_hostca_cert(const struct ak_hostca *ca);

#endif
