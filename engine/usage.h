/*
 * usage.h - what a provider's response JSON says about the call: token usage (normalised
 * the OpenTelemetry way of core/event.h: input includes cached and cache-written tokens,
 * output includes reasoning), the model as answered, and whether it is an error. One
 * function per wire format (OpenAI chat/responses/embeddings, Anthropic messages, Gemini
 * generate_content; Mistral speaks OpenAI chat). Also the cheap byte-level tests that let
 * the stream parsers skip JSON parsing for events that cannot carry usage.
 */
#ifndef AK_USAGE_H
#define AK_USAGE_H

#include <cjson/cJSON.h>

#include "engine/exchange.h"

/* Applies one JSON object (a whole body, one SSE event payload, one array element) to r.
 * operation is the request's (selects the wire format); NULL falls back to the provider.
 * Repeated calls follow each format's stream rules (Anthropic: cumulative message_delta
 * over message_start; Gemini and the rest: the last usage wins). */
void ak_usage_apply(enum ak_operation operation, enum ak_provider provider, const cJSON *root,
                    struct ak_xresp *r);

/* A reply body reduced to the top-level members ak_usage_apply reads (model, usage, error,
 * ...): one pass over the bytes that skips everything else, with cJSON parsing only those
 * values. A full parse of a reply costs more than the rest of metering it. NULL when the body
 * is not one well-formed object: the caller then parses it fully (and reports it broken). */
cJSON *ak_usage_sparse_parse(const unsigned char *p, size_t n);

/* One pass over a stream payload, without parsing it. Returns whether it could carry usage (a
 * "usage"/"usageMetadata" object), an error, or (when need_model) the model: false positives
 * only cost a parse. *text_bytes gets the bytes of generated text it carries (the "content",
 * "text" or "delta" strings of the operation's wire format), for estimates of cut streams. */
bool ak_usage_scan(enum ak_operation operation, enum ak_provider provider,
                   const unsigned char *p, size_t n, bool need_model, int64_t *text_bytes);

#endif
