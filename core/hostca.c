/*
 * hostca.c - the host CA (see hostca.h): creation (ECDSA P-256, self-signed, CA:TRUE with
 * pathlen 0, keyCertSign only, name constraints permitting the LLM host names and nothing
 * else), loading, and minting leaf certificates on demand. Written with OpenSSL 3; the key
 * file is created 0600 (owned by whoever runs akproxy) and replaced atomically.
 */
#include "core/hostca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/llmhosts.h"

#define CA_DAYS (10 * 365)
#define LEAF_DAYS 30
#define BACKDATE_S 3600          /* clocks a little behind still accept new certificates */
#define SERIAL_BYTES 16
#define NC_MAX 8192              /* the nameConstraints text */
#define KEY_MODE 0600
#define CERT_MODE 0644
#define DIR_MODE 0755

struct ak_hostca {
    X509 *cert;
    EVP_PKEY *key;
    EVP_PKEY *leaf_key;          /* one key for every leaf: minting is then one signature */
};

static void ssl_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

size_t ak_hostca_names(const struct ak_config *cfg, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < AK_N_LLM_HOSTS && n < max; i++)
        names[n++] = ak_llm_hosts[i].host;
    for (size_t i = 0; cfg && i < cfg->n_hosts && n < max; i++) {
        const char *h = cfg->hosts[i].host;
        if (strncmp(h, "*.", 2) == 0)
            h += 2;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup = dup || strcasecmp(names[j], h) == 0;
        if (!dup)
            names[n++] = h;
    }
    return n;
}

static bool is_ip(const char *s, unsigned char *bin, int *len)
{
    if (inet_pton(AF_INET, s, bin) == 1) {
        *len = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, bin) == 1) {
        *len = 16;
        return true;
    }
    return false;
}

/* "critical,permitted;DNS:a,permitted;IP:1.2.3.4/255.255.255.255,..." */
static bool nc_text(const char *const *names, size_t n, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "critical");
    for (size_t i = 0; i < n && o < len; i++) {
        unsigned char bin[16];
        int bl = 0;
        if (is_ip(names[i], bin, &bl))
            o += (size_t)snprintf(out + o, len - o, ",permitted;IP:%s/%s", names[i],
                                  bl == 4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        else
            o += (size_t)snprintf(out + o, len - o, ",permitted;DNS:%s", names[i]);
    }
    return o < len;
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1;
}

static bool set_serial_and_validity(X509 *cert, long days)
{
    unsigned char raw[SERIAL_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    raw[0] &= 0x7f;              /* positive */
    BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) &&
              X509_gmtime_adj(X509_getm_notBefore(cert), -BACKDATE_S) &&
              X509_gmtime_adj(X509_getm_notAfter(cert), days * AK_S_PER_DAY);
    BN_free(bn);
    return ok && X509_set_version(cert, 2) == 1;
}

static bool set_cn(X509 *cert, const char *cn, bool issuer_too)
{
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"agentkavach", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        return false;
    return !issuer_too || X509_set_issuer_name(cert, name) == 1;
}

static EVP_PKEY *key_new(void)
{
    return EVP_EC_gen("P-256");
}

/* Writes data to dir/name through a temporary file and rename (mode as given). */
static enum ak_err write_pem(const char *dir, const char *name, mode_t mode, X509 *cert,
                             EVP_PKEY *key, char *err, size_t errlen)
{
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    enum ak_err rc = AK_ERR_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    fchmod(fd, mode);            /* whatever the umask */
    int ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0 || !ok) {
        ssl_error(err, errlen, "cannot write the CA");
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = AK_OK;
out:
    return rc;
}

static int mkdir_parents(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, DIR_MODE) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, DIR_MODE);
}

enum ak_err ak_hostca_create(const char *dir, const char *const *names, size_t n, char *err,
                             size_t errlen)
{
    enum ak_err rc = AK_ERR_INTERNAL;
    char nc[NC_MAX], host[256] = "", cn[320];
    EVP_PKEY *key = key_new();
    X509 *cert = X509_new();
    if (mkdir_parents(dir) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        rc = AK_ERR_IO;
        goto out;
    }
    gethostname(host, sizeof host - 1);
    snprintf(cn, sizeof cn, "agentkavach host CA (%s)", host[0] ? host : "localhost");
    if (!key || !cert || !nc_text(names, n, nc, sizeof nc) || !set_serial_and_validity(cert, CA_DAYS) ||
        !set_cn(cert, cn, true) || X509_set_pubkey(cert, key) != 1 ||
        !add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(cert, cert, NID_subject_key_identifier, "hash") ||
        !add_ext(cert, cert, NID_name_constraints, nc) ||
        X509_sign(cert, key, EVP_sha256()) <= 0) {
        ssl_error(err, errlen, "cannot make the host CA");
        goto out;
    }
    /* the key first: a certificate without its key would be useless */
    if ((rc = write_pem(dir, AK_HOSTCA_KEY, KEY_MODE, NULL, key, err, errlen)) != AK_OK ||
        (rc = write_pem(dir, AK_HOSTCA_CERT, CERT_MODE, cert, NULL, err, errlen)) != AK_OK)
        goto out;
    rc = AK_OK;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

static enum ak_err load(const char *dir, struct ak_hostca *ca, char *err, size_t errlen)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, AK_HOSTCA_CERT);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return errno == ENOENT ? AK_ERR_NOTFOUND : AK_ERR_IO;
    }
    ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s", dir, AK_HOSTCA_KEY);
    f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return AK_ERR_IO;
    }
    ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!ca->cert || !ca->key || X509_check_private_key(ca->cert, ca->key) != 1) {
        ssl_error(err, errlen, "the host CA in the directory is not a certificate and its key");
        return AK_ERR_PARSE;
    }
    return AK_OK;
}

enum ak_err ak_hostca_open(const char *dir, const char *const *names, size_t n, bool create,
                           struct ak_hostca **out, char *err, size_t errlen)
{
    struct ak_hostca *ca = calloc(1, sizeof *ca);
    if (!ca)
        return AK_ERR_NOMEM;
    enum ak_err rc = load(dir, ca, err, errlen);
    if (rc == AK_ERR_NOTFOUND && create) {
        rc = ak_hostca_create(dir, names, n, err, errlen);
        if (rc == AK_OK)
            rc = load(dir, ca, err, errlen);
    }
    if (rc == AK_OK && !(ca->leaf_key = key_new())) {
        ssl_error(err, errlen, "cannot make a leaf key");
        rc = AK_ERR_INTERNAL;
    }
    if (rc != AK_OK) {
        ak_hostca_free(ca);
        return rc;
    }
    *out = ca;
    return AK_OK;
}

void ak_hostca_free(struct ak_hostca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    EVP_PKEY_free(ca->leaf_key);
    free(ca);
}

X509 *ak_hostca_cert(const struct ak_hostca *ca)
{
    return ca->cert;
}

/* dNSName constraint semantics (RFC 5280 4.2.1.10): the name itself or any name below it. */
static bool dns_within(const char *host, const char *base, size_t blen)
{
    size_t hl = strlen(host);
    if (hl == blen)
        return strncasecmp(host, base, blen) == 0;
    return hl > blen && host[hl - blen - 1] == '.' && strncasecmp(host + hl - blen, base, blen) == 0;
}

bool ak_hostca_covers(const struct ak_hostca *ca, const char *host)
{
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca->cert, NID_name_constraints, NULL, NULL);
    bool ok = false;
    unsigned char bin[16];
    int bl = 0;
    bool ip = is_ip(host, bin, &bl);
    for (int i = 0; nc && !ok && i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
        GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
        if (!ip && g->type == GEN_DNS)
            ok = dns_within(host, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                            (size_t)ASN1_STRING_length(g->d.dNSName));
        else if (ip && g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 2 * bl)
            ok = memcmp(ASN1_STRING_get0_data(g->d.iPAddress), bin, (size_t)bl) == 0;
    }
    NAME_CONSTRAINTS_free(nc);
    return ok;
}

X509 *ak_hostca_leaf(struct ak_hostca *ca, const char *host, EVP_PKEY **key)
{
    char san[300];
    unsigned char bin[16];
    int bl = 0;
    snprintf(san, sizeof san, "%s:%s", is_ip(host, bin, &bl) ? "IP" : "DNS", host);
    X509 *cert = X509_new();
    if (!cert || !set_serial_and_validity(cert, LEAF_DAYS) || !set_cn(cert, host, false) ||
        X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) != 1 ||
        X509_set_pubkey(cert, ca->leaf_key) != 1 ||
        !add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(cert, ca->cert, NID_ext_key_usage, "serverAuth") ||
        !add_ext(cert, ca->cert, NID_subject_alt_name, san) ||
        !add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(cert, ca->key, EVP_sha256()) <= 0) {
        X509_free(cert);
        ERR_clear_error();
        return NULL;
    }
    *key = ca->leaf_key;
    return cert;
}
