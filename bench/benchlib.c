/*
 * benchlib.c - clocks, medians, loopback sockets and OpenSSL set-up shared by the bench
 * programs (see benchlib.h). Kept tiny so that what a bench measures is the thing it names.
 */
#include "bench/benchlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BL_BACKLOG 128
#define BL_LOOPBACK "127.0.0.1"

int64_t bl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * BL_NS_PER_S + ts.tv_nsec;
}

static int64_t tv_ns(struct timeval tv)
{
    return (int64_t)tv.tv_sec * BL_NS_PER_S + (int64_t)tv.tv_usec * 1000;
}

int64_t bl_cpu_ns(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0)
        return 0;
    return tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bl_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bl_listen(int port, int *port_out)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    socklen_t alen = sizeof a;
    if (fd < 0)
        return -1;
    inet_pton(AF_INET, BL_LOOPBACK, &a.sin_addr);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, BL_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        goto fail;
    if (port_out)
        *port_out = ntohs(a.sin_port);
    return fd;
fail:
    close(fd);
    return -1;
}

int bl_connect(const char *ip, int port)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (fd < 0)
        return -1;
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

SSL_CTX *bl_server_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* the bench reuses connections; tickets would only add records after the handshake */
    SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
}

SSL_CTX *bl_client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

SSL *bl_client_ssl(SSL_CTX *ctx, int fd, const char *sni)
{
    SSL *s = SSL_new(ctx);
    if (!s)
        return NULL;
    if (SSL_set_fd(s, fd) != 1 || SSL_set_tlsext_host_name(s, sni) != 1 || SSL_connect(s) != 1) {
        SSL_free(s);
        return NULL;
    }
    return s;
}

void bl_ssl_close(SSL *s, int fd)
{
    if (s) {
        SSL_shutdown(s);
        SSL_free(s);
    }
    if (fd >= 0)
        close(fd);
}

int bl_ssl_write_all(SSL *s, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
        int n = SSL_write(s, p, chunk);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bl_ready_file(const char *path, int port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%d\n", port) > 0;
    if (fclose(f) != 0 || !ok)
        return -1;
    return rename(tmp, path);
}
