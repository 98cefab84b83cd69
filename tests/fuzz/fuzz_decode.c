/*
 * fuzz_decode.c - the content decoders (engine/decode.c: gzip, deflate, br, zstd).
 * Properties: decoding the input whole (ak_decode_all) and in arbitrary pieces
 * (ak_decoder_feed) gives the same bytes and the same verdict; the output bound holds; and
 * the input itself, compressed with zlib (gzip and deflate), decodes back to itself.
 * Input: byte 0 = coding, byte 1 = split seed, then the coded bytes.
 */
#include <zlib.h>

#include "engine/decode.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_OUT (256 * 1024)
#define GZIP_WBITS (15 + 16)
#define ZLIB_WBITS 15

static const enum ak_encoding encs[] = { AK_ENC_GZIP, AK_ENC_DEFLATE, AK_ENC_BR, AK_ENC_ZSTD };

struct sink { struct ak_buf b; };

static enum ak_err to_buf(void *ud, const unsigned char *p, size_t n)
{
    struct sink *s = ud;
    return ak_buf_append(&s->b, p, n, MAX_OUT);
}

static void roundtrip(enum ak_encoding enc, int wbits, const uint8_t *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    FZ_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8,
                          Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit");
    uLong cap = deflateBound(&z, n) + 16;
    unsigned char *c = malloc(cap);
    z.next_in = (unsigned char *)p;
    z.avail_in = (uInt)n;
    z.next_out = c;
    z.avail_out = (uInt)cap;
    FZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
    size_t clen = cap - z.avail_out;
    deflateEnd(&z);
    struct ak_buf out = { 0 };
    FZ_CHECK(ak_decode_all(enc, c, clen, &out, MAX_OUT) == AK_OK, "round trip decodes");
    FZ_CHECK(out.len == n && (n == 0 || memcmp(out.data, p, n) == 0), "round trip is exact");
    ak_buf_free(&out);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    enum ak_encoding enc = encs[fz_byte(&in) % 4];
    struct fz_split sp = { fz_byte(&in) * 2654435761u + 5 };
    struct ak_buf whole = { 0 };
    enum ak_err ew = ak_decode_all(enc, in.p, in.n, &whole, MAX_OUT);
    FZ_CHECK(whole.len <= MAX_OUT, "output bound");
    struct ak_decoder *d = ak_decoder_new(enc);
    FZ_CHECK(d != NULL, "decoder allocates");
    struct sink s = { { 0 } };
    enum ak_err es = AK_OK;
    for (size_t off = 0; off < in.n && es == AK_OK;) {
        size_t piece = fz_piece(&sp, in.n - off);
        es = ak_decoder_feed(d, in.p + off, piece, to_buf, &s);
        off += piece;
    }
    if (es == AK_OK)
        es = ak_decoder_finish(d);
    ak_decoder_free(d);
    FZ_CHECK((ew == AK_OK) == (es == AK_OK), "same verdict whole and split");
    if (ew == AK_OK)
        FZ_CHECK(whole.len == s.b.len && (!whole.len || memcmp(whole.data, s.b.data, whole.len) == 0),
                 "same bytes whole and split");
    ak_buf_free(&whole);
    ak_buf_free(&s.b);
    if (in.n <= MAX_OUT && (enc == AK_ENC_GZIP || enc == AK_ENC_DEFLATE))
        roundtrip(enc, enc == AK_ENC_GZIP ? GZIP_WBITS : ZLIB_WBITS, in.p, in.n);
    return 0;
}
