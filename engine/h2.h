/*
 * h2.h - an HTTP/2 LLM connection inside the engine (h2.c). econn.c hands a connection over
 * when the app's first bytes are the HTTP/2 preface (ALPN h2 or prior knowledge) and the
 * config says `http2: native`; from then on these calls are the engine_api calls for it.
 */
#ifndef AK_H2_H
#define AK_H2_H

#include "core/ak.h"
#include "engine/engine_api.h"

#define H2_PREFACE_STR "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN (sizeof H2_PREFACE_STR - 1)

struct ak_h2;

struct eng_who;

/* who: the caller (engine.h), owned by the econn and alive as long as the h2 connection. */
struct ak_h2 *h2_new(const char *host, enum ak_provider prov, const struct eng_who *who);
void h2_on_write(struct ak_h2 *h, const unsigned char *buf, size_t len, struct ak_wr_result *res);
void h2_on_read(struct ak_h2 *h, const unsigned char *buf, size_t len, struct ak_rd_result *res);
void h2_on_eof(struct ak_h2 *h);
void h2_free(struct ak_h2 *h);

#endif
