/*
 * akctl_ca.c - `akctl ca show|trust|rotate`: the host CA of the egress plane (core/hostca.c),
 * in egress.ca_dir. show prints what a user needs to judge it (subject, SHA-256 fingerprint,
 * validity, the names it may sign); trust installs it in the system store with Debian's
 * update-ca-certificates; rotate makes a new one for the hosts the config names now (a
 * running akproxy picks it up on restart; trusted copies must be trusted again).
 */
#include "tools/akctl.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/hostca.h"

#define MAX_CA_NAMES 256
#define TRUST_DIR "/usr/local/share/ca-certificates"
#define TRUST_FILE TRUST_DIR "/agentkavach-host-ca.crt"
#define UPDATE_CA "update-ca-certificates"

static const char *ca_dir(struct akctl *ctx)
{
    const char *env = getenv("AGENTKAVACH_CA_DIR");
    return env && *env ? env : ctx->cfg->egress_ca_dir;
}

static void print_time(const char *label, const ASN1_TIME *t)
{
    BIO *b = BIO_new_fp(stdout, BIO_NOCLOSE);
    printf("%s", label);
    if (b) {
        ASN1_TIME_print(b, t);
        BIO_free(b);
    }
    printf("\n");
}

static void print_constraints(X509 *cert)
{
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(cert, NID_name_constraints, NULL, NULL);
    printf("may sign:    ");
    for (int i = 0; nc && i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
        GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
        if (g->type == GEN_DNS)
            printf("%s%.*s", i ? " " : "", ASN1_STRING_length(g->d.dNSName),
                   (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        else
            printf("%s(an IP address)", i ? " " : "");
    }
    printf("%s\n", nc ? "" : "ANYTHING (no name constraints: rotate it)");
    NAME_CONSTRAINTS_free(nc);
}

static int ca_show(struct akctl *ctx)
{
    struct ak_hostca *ca = NULL;
    char err[AK_HOSTCA_ERRLEN];
    const char *dir = ca_dir(ctx);
    if (ak_hostca_open(dir, NULL, 0, false, &ca, err, sizeof err) != AK_OK)
        return akctl_fail("ca show: %s (akproxy creates it on first start)", err);
    X509 *cert = ak_hostca_cert(ca);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    printf("certificate: %s/%s\n", dir, AK_HOSTCA_CERT);
    printf("subject:     %s\n", subject);
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1) {
        printf("sha256:      ");
        for (unsigned i = 0; i < mdlen; i++)
            printf("%02X%s", md[i], i + 1 < mdlen ? ":" : "\n");
    }
    print_time("not before:  ", X509_get0_notBefore(cert));
    print_time("not after:   ", X509_get0_notAfter(cert));
    print_constraints(cert);
    printf("trusted:     %s\n", access(TRUST_FILE, R_OK) == 0 ? TRUST_FILE : "no (akctl ca trust)");
    ak_hostca_free(ca);
    return AKCTL_EXIT_OK;
}

static int run_update_ca(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp(UPDATE_CA, UPDATE_CA, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int ca_trust(struct akctl *ctx)
{
    struct ak_hostca *ca = NULL;
    char err[AK_HOSTCA_ERRLEN];
    if (ak_hostca_open(ca_dir(ctx), NULL, 0, false, &ca, err, sizeof err) != AK_OK)
        return akctl_fail("ca trust: %s (start akproxy once first)", err);
    FILE *f = fopen(TRUST_FILE, "we");
    int ok = f && PEM_write_X509(f, ak_hostca_cert(ca));
    if (f && fclose(f) != 0)
        ok = 0;
    ak_hostca_free(ca);
    if (!ok)
        return akctl_fail("ca trust: cannot write %s: %s (needs root)", TRUST_FILE, strerror(errno));
    int rc = run_update_ca();
    if (rc != 0)
        return akctl_fail("ca trust: %s failed (%d); is the ca-certificates package installed?",
                          UPDATE_CA, rc);
    printf("the host CA is in the system store (%s)\n", TRUST_FILE);
    return AKCTL_EXIT_OK;
}

static int ca_rotate(struct akctl *ctx)
{
    const char *names[MAX_CA_NAMES];
    char err[AK_HOSTCA_ERRLEN];
    size_t n = ak_hostca_names(ctx->cfg, names, MAX_CA_NAMES);
    if (ak_hostca_create(ca_dir(ctx), names, n, err, sizeof err) != AK_OK)
        return akctl_fail("ca rotate: %s", err);
    printf("a new host CA is in %s for %zu host names; restart akproxy%s\n", ca_dir(ctx), n,
           access(TRUST_FILE, R_OK) == 0 ? ", then run: akctl ca trust" : "");
    return AKCTL_EXIT_OK;
}

int akctl_cmd_ca(struct akctl *ctx, int argc, char **argv)
{
    if (argc != 2)
        return akctl_usage("ca", "give one of show, trust, rotate");
    int code = akctl_config(ctx);
    if (code != AKCTL_EXIT_OK)
        return code;
    if (strcmp(argv[1], "show") == 0)
        return ca_show(ctx);
    if (strcmp(argv[1], "trust") == 0)
        return ca_trust(ctx);
    if (strcmp(argv[1], "rotate") == 0)
        return ca_rotate(ctx);
    return akctl_usage("ca", "unknown subcommand '%s'", argv[1]);
}
