/*
 * decode.h - Content-Encoding decoding for the shim's parsers: gzip and deflate (zlib),
 * br (libbrotlidec), zstd (libzstd). Streaming: input arrives in pieces, output leaves in
 * bounded windows through a sink, so a small compressed input can never make a large
 * allocation here; the sink decides how much it keeps. The client's bytes are never
 * touched: callers decode a copy for parsing.
 */
#ifndef AK_DECODE_H
#define AK_DECODE_H

#include "core/buf.h"

enum ak_encoding {
    AK_ENC_IDENTITY = 0,
    AK_ENC_GZIP,
    AK_ENC_DEFLATE,
    AK_ENC_BR,
    AK_ENC_ZSTD,
    AK_ENC_UNKNOWN,        /* anything else, including stacked codings */
};

/* From a Content-Encoding header value ("gzip", " BR ", "identity", "x-gzip"). */
enum ak_encoding ak_decode_encoding(const char *value);

/* Receives decoded bytes; a non-AK_OK result stops decoding and is returned by the feed. */
typedef enum ak_err (*ak_decode_sink_fn)(void *ud, const unsigned char *p, size_t n);

struct ak_decoder;

/* NULL on OOM (or AK_ENC_UNKNOWN). */
struct ak_decoder *ak_decoder_new(enum ak_encoding enc);
void ak_decoder_free(struct ak_decoder *d);
/* AK_ERR_PARSE on corrupt input; otherwise the sink's error or AK_OK. */
enum ak_err ak_decoder_feed(struct ak_decoder *d, const unsigned char *in, size_t len,
                            ak_decode_sink_fn sink, void *ud);
/* At the end of the body: AK_OK when the compressed stream ended properly. */
enum ak_err ak_decoder_finish(const struct ak_decoder *d);

/* Whole-buffer convenience: decodes in into out, AK_ERR_FULL beyond max bytes. */
enum ak_err ak_decode_all(enum ak_encoding enc, const unsigned char *in, size_t len,
                          struct ak_buf *out, size_t max);

#endif
