/*
 * exchange.h - one HTTP/1.1 request and its response on an LLM connection, parsed as the
 * bytes pass through the shim. Pure code: no I/O, no ledger, no globals. The engine
 * (engine/engine.c) owns one request parser and one response parser per connection.
 *
 * Request side ("hold mode"): every byte the app writes is fed in. While the parser says
 * AK_REQ_MORE it keeps a copy and the engine holds the bytes back. AK_REQ_DONE means the
 * whole request (head and body) is held and described by ak_xreq; the engine then decides,
 * and sends either ak_reqparser_bytes() or a rewritten copy. AK_REQ_PASS means this request
 * is not metered (a GET, an unknown path, a body over the cap): the held bytes must go out
 * now and the rest of this request passes straight through; the parser keeps counting to
 * find where the next request starts, then returns to holding. AK_REQ_ERROR: not HTTP/1.1
 * (e.g. the h2 preface): the connection passes through from here on.
 *
 * Response side: bytes read from the server are fed in after the real SSL_read. Normally
 * the parser only observes. When the request was rewritten to add
 * stream_options.include_usage, the parser also transforms: it re-emits the response with
 * the extra usage-only chunk removed (the HTTP chunked framing re-encoded), so the client
 * sees the stream it would have seen; this is the only transform.
 */
#ifndef AK_EXCHANGE_H
#define AK_EXCHANGE_H

#include "core/ak.h"
#include "core/buf.h"
#include "core/event.h"

#define AK_X_MODEL 128
#define AK_X_TARGET 1024

struct ak_xreq {
    char method[16];
    char target[AK_X_TARGET];     /* request target, query string included */
    enum ak_operation operation;  /* AK_OP_NONE: not metered */
    char model[AK_X_MODEL];       /* body "model", or the Gemini path's model */
    bool stream;                  /* body "stream": true, or streamGenerateContent */
    bool include_usage;           /* OpenAI: the client itself asked for stream usage */
    int64_t max_output_tokens;    /* max_completion_tokens / max_tokens / max_output_tokens /
                                     generationConfig.maxOutputTokens; -1 when absent */
    int64_t n_choices;            /* n / candidateCount; 1 when absent */
    int64_t input_estimate;       /* input tokens estimated from the body text */
    char customer[AK_EV_NAME];    /* OpenAI "user", Anthropic metadata.user_id; "" = none */
    char key_fp[13];              /* fingerprint of the API key header; "" = none */
    uint64_t body_hash;           /* 64-bit hash of the body, for loop detection */
    bool expect_continue;         /* Expect: 100-continue */
    bool head_only;               /* HEAD request: the response has no body */
    bool gzip_accepted;           /* Accept-Encoding was sent */
    size_t body_len;
};

struct ak_reqparser;

enum ak_req_state { AK_REQ_MORE = 0, AK_REQ_DONE, AK_REQ_PASS, AK_REQ_ERROR };

/* max_body: a body larger than this is not held (AK_REQ_PASS, reason "body over cap"). */
struct ak_reqparser *ak_reqparser_new(enum ak_provider provider, size_t max_body);
void ak_reqparser_free(struct ak_reqparser *p);
/* Feeds the app's bytes. In hold mode they are copied. *consumed says how many belong to
 * the current request (the rest, rare pipelining, is fed again after reset). */
enum ak_req_state ak_reqparser_feed(struct ak_reqparser *p, const unsigned char *buf,
                                    size_t len, size_t *consumed);
/* After DONE: the request, and the held bytes exactly as the app wrote them. */
const struct ak_xreq *ak_reqparser_request(const struct ak_reqparser *p);
const unsigned char *ak_reqparser_bytes(const struct ak_reqparser *p, size_t *len);
/* After PASS: the request that passed through has ended (the next bytes start another). */
bool ak_reqparser_ended(const struct ak_reqparser *p);
/* While holding: the length of the head when it is complete and asks for
 * "Expect: 100-continue" (curl does for bodies over 1 MiB), else 0. The engine sends such a
 * head at once so that the server's 100 Continue releases the body without curl's 1 s wait;
 * only headers reach the server before the decision, never the prompt. */
size_t ak_reqparser_expect_head(const struct ak_reqparser *p);
/* After PASS: why it is not metered ("GET", "body over cap", "unknown path", ...). */
const char *ak_reqparser_reason(const struct ak_reqparser *p);
/* After DONE, OpenAI-style streaming request without include_usage: builds in `out` the
 * same request with "stream_options":{"include_usage":true} added to the JSON body, the
 * Content-Length fixed (a chunked body is re-sent with Content-Length), and Accept-Encoding
 * removed so the response can be edited. false when the body cannot be rewritten. */
bool ak_reqparser_rewrite_include_usage(struct ak_reqparser *p, struct ak_buf *out);
/* After ERROR: the request asked for a protocol upgrade (WebSocket); its target is in
 * ak_reqparser_request()->target. */
bool ak_reqparser_upgrade(const struct ak_reqparser *p);
/* The decoded body of a DONE request (for prompt saving). */
const unsigned char *ak_reqparser_body(const struct ak_reqparser *p, size_t *len);
/* Ready for the next request on the connection (keep-alive). */
void ak_reqparser_reset(struct ak_reqparser *p);

struct ak_xresp {
    int status;                   /* final status (1xx skipped), known from its status line */
    bool head_done;               /* the final head was read to its end */
    char model[AK_X_MODEL];       /* as answered; "" if none */
    struct ak_usage usage;        /* normalised, see core/event.h */
    bool have_usage;              /* the provider reported usage */
    bool is_sse;
    int64_t streamed_text_bytes;  /* generated text seen so far, for estimates */
    bool error_event;             /* an SSE error frame or an error body was seen */
    bool unparseable;             /* body could not be understood; reason says why */
    char reason[128];
};

struct ak_respparser;

enum ak_resp_state { AK_RESP_MORE = 0, AK_RESP_DONE, AK_RESP_ERROR };

/* strip_usage_chunk: the request was rewritten by ak_reqparser_rewrite_include_usage. */
struct ak_respparser *ak_respparser_new(enum ak_provider provider, const struct ak_xreq *req,
                                        bool strip_usage_chunk, size_t max_body);
void ak_respparser_free(struct ak_respparser *p);
/* Feeds bytes read from the server. When transforming, the bytes the client must see are
 * appended to `out` (possibly none for this call); otherwise `out` is left alone and the
 * client sees exactly `buf`. *consumed as for requests (bytes after the end of the response
 * belong to nothing and are passed on). ERROR: not parseable; the caller records the call as
 * unmetered and stops feeding (when transforming, the remaining input passes unchanged). */
enum ak_resp_state ak_respparser_feed(struct ak_respparser *p, const unsigned char *buf,
                                      size_t len, size_t *consumed, struct ak_buf *out);
/* The server closed the connection: ends a read-until-close body. DONE or ERROR. */
enum ak_resp_state ak_respparser_eof(struct ak_respparser *p);
bool ak_respparser_transforming(const struct ak_respparser *p);
const struct ak_xresp *ak_respparser_result(const struct ak_respparser *p);

/* The synthetic refusal (DESIGN.md "A refused call"): a complete HTTP/1.1 429 response with
 * the provider's own error shape, Content-Type: application/json, Content-Length,
 * Connection: close, x-should-retry: false and no retry-after. json_array wraps the body in
 * [...], as Gemini answers streamGenerateContent without alt=sse (errors included). */
enum ak_err ak_refusal_build(enum ak_provider provider, const char *message, bool json_array,
                             struct ak_buf *out);

/* The answer to a WebSocket upgrade on an LLM host, which no plane meters yet: a complete
 * HTTP/1.1 426 with the provider's error shape and Connection: close, so that clients that can
 * (Codex) fall back to HTTPS, where the call is metered. */
#define AK_UPGRADE_REFUSAL_STATUS 426
enum ak_err ak_refusal_build_upgrade(enum ak_provider provider, const char *message,
                                     struct ak_buf *out);

/* Token estimate for text (about 4 bytes a token for English and JSON). */
int64_t ak_estimate_tokens(const unsigned char *text, size_t len);

#endif
