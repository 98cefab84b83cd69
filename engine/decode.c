/*
 * decode.c - streaming Content-Encoding decoders over zlib, libbrotlidec and libzstd
 * (see decode.h). Output goes out in DEC_WINDOW pieces from one heap window per decoder.
 */
#include "engine/decode.h"

#include <brotli/decode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#define DEC_WINDOW (16 * 1024)
#define DEC_ZLIB_WBITS 15              /* 32 KiB window, zlib header */
#define DEC_GZIP_AUTO 32               /* add to wbits: detect gzip or zlib header */
#define DEC_ZSTD_WINDOW_LOG_MAX 23     /* 8 MiB, the HTTP zstd coding's limit (RFC 9659) */
#define DEC_ZLIB_CHECK 31              /* zlib header: (CMF*256 + FLG) % 31 == 0 */
#define DEC_ZLIB_CM_DEFLATE 8

#define DEC_DEFLATE_PEEK 2

struct ak_decoder {
    enum ak_encoding enc;
    bool finished;
    bool z_ready;
    z_stream z;
    unsigned char peek[4];             /* deflate: 2 bytes, zlib or raw; zstd: the magic */
    size_t npeek;
    BrotliDecoderState *br;
    ZSTD_DStream *zs;
    unsigned char *win;
};

enum ak_encoding ak_decode_encoding(const char *value)
{
    static const struct { const char *name; enum ak_encoding enc; } names[] = {
        { "identity", AK_ENC_IDENTITY }, { "gzip", AK_ENC_GZIP }, { "x-gzip", AK_ENC_GZIP },
        { "deflate", AK_ENC_DEFLATE }, { "br", AK_ENC_BR }, { "zstd", AK_ENC_ZSTD },
    };
    if (!value)
        return AK_ENC_IDENTITY;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0)
        return AK_ENC_IDENTITY;
    for (size_t i = 0; i < AK_ARRAY_LEN(names); i++)
        if (strlen(names[i].name) == n && strncasecmp(value, names[i].name, n) == 0)
            return names[i].enc;
    return AK_ENC_UNKNOWN;
}

struct ak_decoder *ak_decoder_new(enum ak_encoding enc)
{
    if (enc == AK_ENC_UNKNOWN)
        return NULL;
    struct ak_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->enc = enc;
    if (enc == AK_ENC_IDENTITY)
        return d;
    d->win = malloc(DEC_WINDOW);
    if (!d->win)
        goto fail;
    if (enc == AK_ENC_GZIP) {
        if (inflateInit2(&d->z, DEC_ZLIB_WBITS + DEC_GZIP_AUTO) != Z_OK)
            goto fail;
        d->z_ready = true;
    } else if (enc == AK_ENC_BR) {
        d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
        if (!d->br)
            goto fail;
    } else if (enc == AK_ENC_ZSTD) {
        d->zs = ZSTD_createDStream();
        if (!d->zs || ZSTD_isError(ZSTD_initDStream(d->zs)) ||
            ZSTD_isError(ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax,
                                                DEC_ZSTD_WINDOW_LOG_MAX)))
            goto fail;
    }
    return d;
fail:
    ak_decoder_free(d);
    return NULL;
}

void ak_decoder_free(struct ak_decoder *d)
{
    if (!d)
        return;
    if (d->z_ready)
        inflateEnd(&d->z);
    if (d->br)
        BrotliDecoderDestroyInstance(d->br);
    if (d->zs)
        ZSTD_freeDStream(d->zs);
    free(d->win);
    free(d);
}

static enum ak_err dec_inflate(struct ak_decoder *d, const unsigned char *in, size_t len,
                               ak_decode_sink_fn sink, void *ud)
{
    d->z.next_in = (unsigned char *)in;
    d->z.avail_in = (uInt)len;
    while (!d->finished) {
        d->z.next_out = d->win;
        d->z.avail_out = DEC_WINDOW;
        int rc = inflate(&d->z, Z_NO_FLUSH);
        size_t produced = DEC_WINDOW - d->z.avail_out;
        if (produced) {                /* before a verdict: what decoded before a bad byte is
                                          the same however the input was split */
            enum ak_err err = sink(ud, d->win, produced);
            if (err != AK_OK)
                return err;
        }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return AK_ERR_PARSE;
        if (rc == Z_STREAM_END) {
            /* gzip may have several members; anything after a deflate stream is ignored */
            if (d->enc == AK_ENC_GZIP && d->z.avail_in > 0) {
                if (inflateReset(&d->z) != Z_OK)
                    return AK_ERR_PARSE;
                continue;
            }
            d->finished = true;
            break;
        }
        if (d->z.avail_in == 0 && d->z.avail_out != 0)
            break;
        if (rc == Z_BUF_ERROR && produced == 0)
            break;
    }
    return AK_OK;
}

/* "deflate" is meant to be zlib-wrapped, but some servers send raw deflate. */
static enum ak_err dec_deflate(struct ak_decoder *d, const unsigned char *in, size_t len,
                               ak_decode_sink_fn sink, void *ud)
{
    if (d->z_ready)
        return dec_inflate(d, in, len, sink, ud);
    while (d->npeek < DEC_DEFLATE_PEEK && len) {
        d->peek[d->npeek++] = *in++;
        len--;
    }
    if (d->npeek < DEC_DEFLATE_PEEK)
        return AK_OK;
    unsigned cmf = d->peek[0], flg = d->peek[1];
    bool zlib = (cmf & 0x0f) == DEC_ZLIB_CM_DEFLATE && ((cmf << 8) | flg) % DEC_ZLIB_CHECK == 0;
    if (inflateInit2(&d->z, zlib ? DEC_ZLIB_WBITS : -DEC_ZLIB_WBITS) != Z_OK)
        return AK_ERR_NOMEM;
    d->z_ready = true;
    enum ak_err err = dec_inflate(d, d->peek, DEC_DEFLATE_PEEK, sink, ud);
    if (err != AK_OK || !len)
        return err;
    return dec_inflate(d, in, len, sink, ud);
}

static enum ak_err dec_brotli(struct ak_decoder *d, const unsigned char *in, size_t len,
                              ak_decode_sink_fn sink, void *ud)
{
    size_t avail_in = len;
    const uint8_t *next_in = in;
    while (!d->finished) {
        size_t avail_out = DEC_WINDOW;
        uint8_t *next_out = d->win;
        BrotliDecoderResult r = BrotliDecoderDecompressStream(d->br, &avail_in, &next_in,
                                                              &avail_out, &next_out, NULL);
        size_t produced = DEC_WINDOW - avail_out;
        if (produced) {
            enum ak_err err = sink(ud, d->win, produced);
            if (err != AK_OK)
                return err;
        }
        if (r == BROTLI_DECODER_RESULT_ERROR)
            return AK_ERR_PARSE;
        if (r == BROTLI_DECODER_RESULT_SUCCESS)
            d->finished = true;
        else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
            break;
    }
    return AK_OK;
}

static enum ak_err dec_zstd_stream(struct ak_decoder *d, const unsigned char *in, size_t len,
                                   ak_decode_sink_fn sink, void *ud);

/* Content-Encoding: zstd is RFC 8878 frames (or skippable ones). libzstd also reads its
 * pre-1.0 formats, but only when their magic arrives in one piece, so a reply would decode
 * or not depending on how it was read (fuzz_decode found it): they are refused outright. */
static enum ak_err dec_zstd(struct ak_decoder *d, const unsigned char *in, size_t len,
                            ak_decode_sink_fn sink, void *ud)
{
    if (d->npeek == sizeof d->peek)
        return dec_zstd_stream(d, in, len, sink, ud);
    while (d->npeek < sizeof d->peek && len) {
        d->peek[d->npeek++] = *in++;
        len--;
    }
    if (d->npeek < sizeof d->peek)
        return AK_OK;
    uint32_t magic = (uint32_t)d->peek[0] | (uint32_t)d->peek[1] << 8 |
                     (uint32_t)d->peek[2] << 16 | (uint32_t)d->peek[3] << 24;
    if (magic != ZSTD_MAGICNUMBER &&
        (magic & ZSTD_MAGIC_SKIPPABLE_MASK) != ZSTD_MAGIC_SKIPPABLE_START)
        return AK_ERR_PARSE;
    enum ak_err err = dec_zstd_stream(d, d->peek, sizeof d->peek, sink, ud);
    return err != AK_OK || !len ? err : dec_zstd_stream(d, in, len, sink, ud);
}

static enum ak_err dec_zstd_stream(struct ak_decoder *d, const unsigned char *in, size_t len,
                                   ak_decode_sink_fn sink, void *ud)
{
    ZSTD_inBuffer ib = { in, len, 0 };
    for (;;) {
        ZSTD_outBuffer ob = { d->win, DEC_WINDOW, 0 };
        size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
        if (ob.pos) {
            enum ak_err err = sink(ud, d->win, ob.pos);
            if (err != AK_OK)
                return err;
        }
        if (ZSTD_isError(r))
            return AK_ERR_PARSE;
        d->finished = (r == 0);    /* a frame ended; another may follow */
        if (ib.pos == ib.size && ob.pos < ob.size)
            break;
    }
    return AK_OK;
}

enum ak_err ak_decoder_feed(struct ak_decoder *d, const unsigned char *in, size_t len,
                            ak_decode_sink_fn sink, void *ud)
{
    if (!len)
        return AK_OK;
    switch (d->enc) {
    case AK_ENC_IDENTITY: return sink(ud, in, len);
    case AK_ENC_GZIP: return dec_inflate(d, in, len, sink, ud);
    case AK_ENC_DEFLATE: return dec_deflate(d, in, len, sink, ud);
    case AK_ENC_BR: return dec_brotli(d, in, len, sink, ud);
    case AK_ENC_ZSTD: return dec_zstd(d, in, len, sink, ud);
    case AK_ENC_UNKNOWN: break;
    }
    return AK_ERR_INVAL;
}

enum ak_err ak_decoder_finish(const struct ak_decoder *d)
{
    return d->enc == AK_ENC_IDENTITY || d->finished ? AK_OK : AK_ERR_PARSE;
}

struct dec_capped {
    struct ak_buf *out;
    size_t max;
};

static enum ak_err dec_append(void *ud, const unsigned char *p, size_t n)
{
    struct dec_capped *c = ud;
    return ak_buf_append(c->out, p, n, c->max);
}

enum ak_err ak_decode_all(enum ak_encoding enc, const unsigned char *in, size_t len,
                          struct ak_buf *out, size_t max)
{
    struct dec_capped cap = { out, max };
    struct ak_decoder *d = ak_decoder_new(enc);
    if (!d)
        return enc == AK_ENC_UNKNOWN ? AK_ERR_INVAL : AK_ERR_NOMEM;
    enum ak_err err = ak_decoder_feed(d, in, len, dec_append, &cap);
    if (err == AK_OK)
        err = ak_decoder_finish(d);
    ak_decoder_free(d);
    return err;
}
