/*
 * sni.c - reads server_name from a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3). The hello
 * may span several handshake records; their payloads are joined (up to SNI_MAX_PEEK). Pure
 * code over a byte buffer: every length is checked against what is there.
 */
#include "egress/sni.h"

#include <stdint.h>
#include <string.h>

#define REC_HEADER 5
#define REC_HANDSHAKE 0x16
#define HS_HEADER 4
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define NAME_TYPE_HOST 0
#define RANDOM_LEN 32

struct rd {
    const unsigned char *p;
    size_t n;
    int ok;
};

static unsigned rd_u(struct rd *r, size_t bytes)
{
    unsigned v = 0;
    if (!r->ok || r->n < bytes) {
        r->ok = 0;
        return 0;
    }
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    r->n -= bytes;
    return v;
}

static struct rd rd_sub(struct rd *r, size_t len)
{
    struct rd s = { r->p, len, r->ok && r->n >= len };
    if (s.ok) {
        r->p += len;
        r->n -= len;
    } else {
        r->ok = 0;
    }
    return s;
}

static enum sni_result server_name(struct rd ext, char name[SNI_NAME_MAX])
{
    struct rd list = rd_sub(&ext, rd_u(&ext, 2));
    while (list.ok && list.n > 0) {
        unsigned type = rd_u(&list, 1);
        struct rd nm = rd_sub(&list, rd_u(&list, 2));
        if (!nm.ok)
            break;
        if (type == NAME_TYPE_HOST) {
            if (nm.n == 0 || nm.n >= SNI_NAME_MAX || memchr(nm.p, '\0', nm.n))
                return SNI_BAD;
            memcpy(name, nm.p, nm.n);
            name[nm.n] = '\0';
            return SNI_FOUND;
        }
    }
    return list.ok ? SNI_NONE : SNI_BAD;
}

static enum sni_result hello(struct rd h, char name[SNI_NAME_MAX])
{
    rd_u(&h, 2);                              /* legacy_version */
    rd_sub(&h, RANDOM_LEN);
    rd_sub(&h, rd_u(&h, 1));                  /* legacy_session_id */
    rd_sub(&h, rd_u(&h, 2));                  /* cipher_suites */
    rd_sub(&h, rd_u(&h, 1));                  /* legacy_compression_methods */
    if (h.ok && h.n == 0)
        return SNI_NONE;                      /* no extensions at all */
    struct rd exts = rd_sub(&h, rd_u(&h, 2));
    while (exts.ok && exts.n > 0) {
        unsigned type = rd_u(&exts, 2);
        struct rd ext = rd_sub(&exts, rd_u(&exts, 2));
        if (ext.ok && type == EXT_SERVER_NAME)
            return server_name(ext, name);
    }
    return exts.ok ? SNI_NONE : SNI_BAD;
}

enum sni_result sni_parse(const unsigned char *buf, size_t len, char name[SNI_NAME_MAX])
{
    unsigned char hs[SNI_MAX_PEEK];
    size_t hl = 0, off = 0;
    if (len >= 1 && buf[0] != REC_HANDSHAKE)
        return SNI_NOT_TLS;
    while (off + REC_HEADER <= len) {
        if (buf[off] != REC_HANDSHAKE || buf[off + 1] != 3)
            return off == 0 ? SNI_NOT_TLS : SNI_BAD;
        size_t rl = (size_t)buf[off + 3] << 8 | buf[off + 4];
        if (rl == 0)
            return SNI_BAD;
        if (off + REC_HEADER + rl > len)
            break;                            /* this record is not complete yet */
        if (hl + rl > sizeof hs)
            return SNI_BAD;
        memcpy(hs + hl, buf + off + REC_HEADER, rl);
        hl += rl;
        off += REC_HEADER + rl;
        if (hl >= HS_HEADER) {
            if (hs[0] != HS_CLIENT_HELLO)
                return SNI_BAD;
            size_t need = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
            if (HS_HEADER + need > sizeof hs)
                return SNI_BAD;
            if (hl >= HS_HEADER + need)
                return hello((struct rd){ hs + HS_HEADER, need, 1 }, name);
        }
    }
    return len >= SNI_MAX_PEEK ? SNI_BAD : SNI_MORE;
}
