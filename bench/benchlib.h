/*
 * benchlib.h - what the bench programs share: clocks (wall and CPU), medians, loopback
 * sockets, OpenSSL contexts and "write it all" helpers, and the one result-line format
 * that bench/report.py reads. Bench programs are tools, not library code: they print one
 * line on failure and exit non-zero from main, never from here.
 *
 * Result lines: "RESULT bench=NAME mode=MODE key=value ...", one per measured run, on stdout.
 */
#ifndef AK_BENCHLIB_H
#define AK_BENCHLIB_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BL_NS_PER_US 1000.0
#define BL_NS_PER_S 1000000000LL

int64_t bl_now_ns(void);                   /* CLOCK_MONOTONIC */
int64_t bl_cpu_ns(int who);                /* user + system of RUSAGE_SELF/CHILDREN */
double bl_median(double *v, size_t n);     /* sorts v; 0 for n == 0 */

/* Loopback TCP. listen: port 0 picks one; *port_out gets it. -1 on failure (errno kept). */
int bl_listen(int port, int *port_out);
int bl_connect(const char *ip, int port);  /* TCP_NODELAY set */

/* Contexts: the server's from PEM files; the client's does not verify (bench peers only). */
SSL_CTX *bl_server_ctx(const char *cert, const char *key);
SSL_CTX *bl_client_ctx(void);
/* A connected client SSL with SNI `sni`, handshake done; NULL on failure. */
SSL *bl_client_ssl(SSL_CTX *ctx, int fd, const char *sni);

/* close_notify, free and close; either may be NULL / -1. */
void bl_ssl_close(SSL *s, int fd);
/* 0 when all of buf went out, -1 otherwise. */
int bl_ssl_write_all(SSL *s, const void *buf, size_t len);
/* Writes "PORT\n" to path (a ready file that run.sh waits for); 0 on success. */
int bl_ready_file(const char *path, int port);

#endif
