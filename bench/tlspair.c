/*
 * tlspair.c - non-LLM TLS traffic through the hooks: a TLS client and server in one process
 * (two threads, loopback TCP), the client sending to the server under an SNI that is no LLM
 * host. Run it with and without the shim preloaded: both ends' SSL_write/SSL_read go through
 * the hooks, which must do no more than one table look-up per call.
 *
 * usage: tlspair -c CERT -k KEY -m MODE -r ROUND [-b MIB] [-s COUNT] [-z SIZE] [-S SNI]
 *   bulk:  MIB MiB in 16 KiB SSL_writes (default 1024)
 *   small: COUNT writes of SIZE bytes (default 200000 x 64)
 * Prints one RESULT line per workload: throughput (MB/s) and process CPU per MiB or per write.
 */
#include "bench/benchlib.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BULK_WRITE 16384
#define READ_BUF 65536
#define MIB (1024.0 * 1024.0)
#define DEFAULT_MIB 1024
#define DEFAULT_SMALL_COUNT 200000
#define DEFAULT_SMALL_SIZE 64
#define DEFAULT_SNI "bulk.bench.test"

struct server {
    SSL_CTX *ctx;
    int lfd;
    uint64_t expect;              /* bytes to read before answering */
    int ok;
};

/* Reads exactly `expect` bytes, then writes one byte back so the client knows. */
static void *server_main(void *arg)
{
    struct server *sv = arg;
    unsigned char *buf = malloc(READ_BUF);
    int fd = accept(sv->lfd, NULL, NULL);
    SSL *s = fd >= 0 ? SSL_new(sv->ctx) : NULL;
    uint64_t got = 0;
    if (!buf || !s || SSL_set_fd(s, fd) != 1 || SSL_accept(s) != 1)
        goto out;
    while (got < sv->expect) {
        size_t n = 0;
        if (SSL_read_ex(s, buf, READ_BUF, &n) != 1)   /* the _ex hook, as CPython calls it */
            goto out;
        got += n;
    }
    sv->ok = SSL_write(s, "k", 1) == 1;
out:
    bl_ssl_close(s, fd);
    free(buf);
    return NULL;
}

struct load {
    const char *name;
    size_t write_size;
    uint64_t writes;
};

/* One workload over a fresh connection; returns 0 and prints its RESULT line. */
static int run_load(SSL_CTX *sctx, SSL_CTX *cctx, const char *sni, const struct load *ld,
                    const char *mode, int round)
{
    struct server sv = { .ctx = sctx, .expect = ld->write_size * ld->writes };
    int port = 0, fd = -1, rc = -1;
    pthread_t th;
    SSL *s = NULL;
    unsigned char *buf = calloc(1, ld->write_size), ack;
    sv.lfd = bl_listen(0, &port);
    if (!buf || sv.lfd < 0 || pthread_create(&th, NULL, server_main, &sv) != 0)
        goto out_nothread;
    fd = bl_connect("127.0.0.1", port);
    s = fd >= 0 ? bl_client_ssl(cctx, fd, sni) : NULL;
    if (!s)
        goto out;
    int64_t t0 = bl_now_ns(), c0 = bl_cpu_ns(RUSAGE_SELF);
    for (uint64_t i = 0; i < ld->writes; i++)
        if (bl_ssl_write_all(s, buf, ld->write_size) != 0)
            goto out;
    if (SSL_read(s, &ack, 1) != 1)
        goto out;
    int64_t wall = bl_now_ns() - t0, cpu = bl_cpu_ns(RUSAGE_SELF) - c0;
    double bytes = (double)sv.expect;
    printf("RESULT bench=tls_%s mode=%s round=%d mb_s=%.1f cpu_ns_per_write=%.1f "
           "cpu_s_per_gib=%.3f\n", ld->name, mode, round, bytes / ((double)wall / 1e3),
           (double)cpu / (double)ld->writes, (double)cpu / 1e9 / (bytes / (MIB * 1024.0)));
    rc = 0;
out:
    bl_ssl_close(s, fd);
    if (rc != 0)
        shutdown(sv.lfd, SHUT_RDWR);  /* wakes a server still waiting in accept() */
    pthread_join(th, NULL);
    rc = (rc == 0 && sv.ok) ? 0 : -1;
out_nothread:
    if (sv.lfd >= 0)
        close(sv.lfd);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *mode = "plain", *sni = DEFAULT_SNI;
    int round = 0, opt;
    struct load bulk = { "bulk", BULK_WRITE, (uint64_t)DEFAULT_MIB * (uint64_t)(MIB / BULK_WRITE) };
    struct load small = { "small", DEFAULT_SMALL_SIZE, DEFAULT_SMALL_COUNT };
    while ((opt = getopt(argc, argv, "c:k:m:r:b:s:z:S:")) != -1) {
        switch (opt) {
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'm': mode = optarg; break;
        case 'r': round = atoi(optarg); break;
        case 'b': bulk.writes = (uint64_t)atoi(optarg) * (uint64_t)(MIB / BULK_WRITE); break;
        case 's': small.writes = (uint64_t)atoi(optarg); break;
        case 'z': small.write_size = (size_t)atoi(optarg); break;
        case 'S': sni = optarg; break;
        default: goto usage;
        }
    }
    if (!cert || !key || small.write_size == 0)
        goto usage;
    SSL_CTX *sctx = bl_server_ctx(cert, key), *cctx = bl_client_ctx();
    if (!sctx || !cctx) {
        fprintf(stderr, "tlspair: cannot set up TLS contexts from %s / %s\n", cert, key);
        return 1;
    }
    if ((bulk.writes && run_load(sctx, cctx, sni, &bulk, mode, round) != 0) ||
        (small.writes && run_load(sctx, cctx, sni, &small, mode, round) != 0)) {
        fprintf(stderr, "tlspair: transfer failed\n");
        return 1;
    }
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return 0;
usage:
    fprintf(stderr, "usage: tlspair -c CERT -k KEY [-m MODE] [-r ROUND] [-b MIB] [-s COUNT] "
                    "[-z SIZE] [-S SNI]\n");
    return 2;
}
