/*
 * test_decode.c - Content-Encoding decoding (engine/decode.c): gzip, deflate (zlib-wrapped and
 * raw), br and zstd bodies compressed here with the libraries themselves, decoded whole and
 * one byte at a time; corrupt and truncated input; the output cap.
 * libbrotlienc is not linked into test binaries, so it is opened with dlopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <zlib.h>
#include <zstd.h>

#include "engine/decode.h"
#include "wire_util.h"

#define TEXT_REPEAT 300
#define ZLIB_WBITS 15
#define GZIP_WBITS (15 + 16)
#define BROTLI_QUALITY 5
#define BROTLI_LGWIN 22
#define BROTLI_MODE_GENERIC 0

static const char sample_line[] =
    "{\"usage\":{\"prompt_tokens\":79,\"completion_tokens\":14,\"total_tokens\":93}}\n";

static void make_text(struct ak_buf *t)
{
    for (int i = 0; i < TEXT_REPEAT; i++)
        ak_buf_append(t, sample_line, strlen(sample_line), 0);
}

static void zlib_compress(const struct ak_buf *in, int wbits, struct ak_buf *out)
{
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, in->len);
    out->data = malloc(cap);
    out->cap = cap;
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = out->data;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = cap - z.avail_out;
    deflateEnd(&z);
}

static void zstd_compress(const struct ak_buf *in, struct ak_buf *out)
{
    size_t cap = ZSTD_compressBound(in->len);
    out->data = malloc(cap);
    out->cap = cap;
    out->len = ZSTD_compress(out->data, cap, in->data, in->len, 3);
    assert_false(ZSTD_isError(out->len));
}

typedef int (*brotli_compress_fn)(int, int, int, size_t, const uint8_t *, size_t *, uint8_t *);

static bool brotli_compress(const struct ak_buf *in, struct ak_buf *out)
{
    void *h = dlopen("libbrotlienc.so.1", RTLD_NOW);
    if (!h)
        return false;
    brotli_compress_fn fn = (brotli_compress_fn)dlsym(h, "BrotliEncoderCompress");
    assert_non_null(fn);
    size_t cap = in->len + 1024;
    out->data = malloc(cap);
    out->cap = cap;
    out->len = cap;
    assert_true(fn(BROTLI_QUALITY, BROTLI_LGWIN, BROTLI_MODE_GENERIC, in->len, in->data,
                   &out->len, out->data));
    dlclose(h);
    return true;
}

static enum ak_err sink(void *ud, const unsigned char *p, size_t n)
{
    return ak_buf_append(ud, p, n, 0);
}

/* Decodes c as enc, whole and byte by byte, and compares with the original text. */
static void check_roundtrip(enum ak_encoding enc, const struct ak_buf *c, const struct ak_buf *t)
{
    struct ak_buf whole = { 0 }, bytes = { 0 };
    assert_int_equal(ak_decode_all(enc, c->data, c->len, &whole, 0), AK_OK);
    assert_int_equal(whole.len, t->len);
    assert_memory_equal(whole.data, t->data, t->len);
    struct ak_decoder *d = ak_decoder_new(enc);
    assert_non_null(d);
    for (size_t i = 0; i < c->len; i++)
        assert_int_equal(ak_decoder_feed(d, c->data + i, 1, sink, &bytes), AK_OK);
    assert_int_equal(ak_decoder_finish(d), AK_OK);
    assert_int_equal(bytes.len, t->len);
    assert_memory_equal(bytes.data, t->data, t->len);
    ak_decoder_free(d);
    /* truncated: the decoder says the stream did not end */
    d = ak_decoder_new(enc);
    ak_buf_reset(&bytes);
    assert_int_equal(ak_decoder_feed(d, c->data, c->len / 2, sink, &bytes), AK_OK);
    assert_int_not_equal(ak_decoder_finish(d), AK_OK);
    ak_decoder_free(d);
    /* capped output */
    ak_buf_reset(&whole);
    assert_int_equal(ak_decode_all(enc, c->data, c->len, &whole, t->len / 3), AK_ERR_FULL);
    assert_true(whole.len <= t->len / 3);
    ak_buf_free(&whole);
    ak_buf_free(&bytes);
}

static void test_gzip_deflate(void **state)
{
    (void)state;
    struct ak_buf t = { 0 }, gz = { 0 }, zl = { 0 }, raw = { 0 };
    make_text(&t);
    zlib_compress(&t, GZIP_WBITS, &gz);
    zlib_compress(&t, ZLIB_WBITS, &zl);
    zlib_compress(&t, -ZLIB_WBITS, &raw);
    assert_true(gz.len < t.len / 4);
    check_roundtrip(AK_ENC_GZIP, &gz, &t);
    check_roundtrip(AK_ENC_DEFLATE, &zl, &t);
    check_roundtrip(AK_ENC_DEFLATE, &raw, &t);
    ak_buf_free(&t);
    ak_buf_free(&gz);
    ak_buf_free(&zl);
    ak_buf_free(&raw);
}

static void test_br_zstd(void **state)
{
    (void)state;
    struct ak_buf t = { 0 }, br = { 0 }, zs = { 0 };
    make_text(&t);
    assert_true(brotli_compress(&t, &br));
    zstd_compress(&t, &zs);
    check_roundtrip(AK_ENC_BR, &br, &t);
    check_roundtrip(AK_ENC_ZSTD, &zs, &t);
    ak_buf_free(&t);
    ak_buf_free(&br);
    ak_buf_free(&zs);
}

static void test_corrupt(void **state)
{
    (void)state;
    static const unsigned char junk[] = "this is not compressed at all, not even a little";
    const enum ak_encoding encs[] = { AK_ENC_GZIP, AK_ENC_DEFLATE, AK_ENC_BR, AK_ENC_ZSTD };
    for (size_t i = 0; i < AK_ARRAY_LEN(encs); i++) {
        struct ak_buf out = { 0 };
        assert_int_not_equal(ak_decode_all(encs[i], junk, sizeof junk, &out, 0), AK_OK);
        ak_buf_free(&out);
    }
}

static void test_encoding_names(void **state)
{
    (void)state;
    assert_int_equal(ak_decode_encoding("gzip"), AK_ENC_GZIP);
    assert_int_equal(ak_decode_encoding(" GZip "), AK_ENC_GZIP);
    assert_int_equal(ak_decode_encoding("deflate"), AK_ENC_DEFLATE);
    assert_int_equal(ak_decode_encoding("br"), AK_ENC_BR);
    assert_int_equal(ak_decode_encoding("zstd"), AK_ENC_ZSTD);
    assert_int_equal(ak_decode_encoding("identity"), AK_ENC_IDENTITY);
    assert_int_equal(ak_decode_encoding(""), AK_ENC_IDENTITY);
    assert_int_equal(ak_decode_encoding("gzip, br"), AK_ENC_UNKNOWN);
    assert_null(ak_decoder_new(AK_ENC_UNKNOWN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_deflate),
        cmocka_unit_test(test_br_zstd),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_encoding_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
