/*
 * sni.h - the server name in a TLS ClientHello, read without consuming it (sni.c): akproxy
 * routes a connection by it before deciding whether to terminate TLS or relay bytes.
 */
#ifndef AK_SNI_H
#define AK_SNI_H

#include <stddef.h>

#define SNI_MAX_PEEK (16384 + 5 + 4096)  /* a ClientHello larger than one full record is refused */
#define SNI_NAME_MAX 256

enum sni_result {
    SNI_MORE = 0,     /* not enough bytes yet */
    SNI_FOUND,        /* name[] holds the host name */
    SNI_NONE,         /* a well-formed ClientHello without server_name */
    SNI_NOT_TLS,      /* the bytes are not a TLS handshake */
    SNI_BAD,          /* a TLS handshake that is not a valid ClientHello */
};

enum sni_result sni_parse(const unsigned char *buf, size_t len, char name[SNI_NAME_MAX]);

#endif
