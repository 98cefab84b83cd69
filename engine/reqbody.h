/*
 * reqbody.h - what an LLM request's JSON body says (model, stream, output bound, choices,
 * customer, an input token estimate), and the include_usage rewrite of an OpenAI chat
 * streaming body. The body given here is already de-chunked and decoded.
 */
#ifndef AK_REQBODY_H
#define AK_REQBODY_H

#include "engine/exchange.h"

/* Fills the body fields of req (model only when the body names one). false when the body
 * is not a JSON object. */
bool ak_reqbody_describe(const unsigned char *body, size_t len, struct ak_xreq *req);

/* The same body with "stream_options":{"include_usage":true}, spliced into the client's bytes
 * (every other byte kept; engine/jsplice.c). malloc'd (free with free()), NULL when the body
 * cannot be read with certainty (not one object, escaped keys, a member named twice). */
char *ak_reqbody_add_include_usage(const unsigned char *body, size_t len, size_t *outlen);

#endif
