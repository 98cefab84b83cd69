/*
 * ak.h - what every agentkavach module shares: error values, providers, money units,
 * and the logger. Nothing here allocates or keeps state.
 *
 * Money is integer micro-USD (1 USD = 1,000,000) everywhere in state and arithmetic;
 * floats appear only when printing.
 */
#ifndef AK_H
#define AK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ak_err {
    AK_OK = 0,
    AK_ERR_NOMEM,     /* allocation failed */
    AK_ERR_IO,        /* a file or socket call failed (errno kept) */
    AK_ERR_PARSE,     /* input is not in the expected format */
    AK_ERR_CONFIG,    /* configuration refused (message says file, line, key) */
    AK_ERR_NOTFOUND,  /* no such key, model, agent ... */
    AK_ERR_FULL,      /* a bounded store (LMDB map, outbox, buffer) is full */
    AK_ERR_LIMIT,     /* a budget or guardrail would be broken */
    AK_ERR_INVAL,     /* bad argument */
    AK_ERR_BUSY,      /* try again later */
    AK_ERR_INTERNAL,  /* a "cannot happen" path: counted and logged */
};

const char *ak_strerror(enum ak_err err);

/* The wire format a host speaks. An OpenAI-compatible host is AK_PROV_OPENAI. */
enum ak_provider {
    AK_PROV_NONE = 0,
    AK_PROV_OPENAI,
    AK_PROV_ANTHROPIC,
    AK_PROV_GEMINI,
    AK_PROV_MISTRAL,
};
const char *ak_provider_name(enum ak_provider p);          /* "openai", ... ; "none" */
enum ak_provider ak_provider_parse(const char *name);       /* AK_PROV_NONE when unknown */

/* The LLM operation of a request (the event's `operation`; streaming is a flag, not another
 * operation). AK_OP_NONE: not a metered operation. */
enum ak_operation {
    AK_OP_NONE = 0,
    AK_OP_CHAT,                   /* OpenAI / Mistral chat completions */
    AK_OP_RESPONSES,              /* OpenAI Responses */
    AK_OP_EMBEDDINGS,
    AK_OP_MESSAGES,               /* Anthropic Messages */
    AK_OP_GENERATE_CONTENT,       /* Gemini generateContent / streamGenerateContent */
};
const char *ak_operation_name(enum ak_operation op);       /* "chat", ... ; "" for none */
enum ak_operation ak_operation_parse(const char *name);    /* AK_OP_NONE when unknown */

#define AK_MICROS_PER_USD 1000000LL

/* Units, named once for every module. */
#define AK_MS_PER_S   1000LL
#define AK_NS_PER_MS  1000000LL
#define AK_S_PER_MIN  60LL
#define AK_S_PER_HOUR 3600LL
#define AK_S_PER_DAY  86400LL
#define AK_MS_PER_DAY (AK_S_PER_DAY * AK_MS_PER_S)
#define AK_BYTES_PER_TOKEN 4      /* the shim's input estimate: text bytes per token */
/* Parses "12.5" style decimal USD into micro-USD (rounded half up). false on junk. */
bool ak_usd_parse(const char *s, int64_t *micros);
/* Formats micro-USD as "$12.50" (2 decimals, more when below a cent). */
void ak_usd_format(int64_t micros, char *buf, size_t len);

/* Logging to stderr, one line per message, prefixed "agentkavach[pid]: level: ".
 * The level comes from AGENTKAVACH_LOG (off|error|warn|info|debug; default warn). */
enum ak_log_level { AK_LOG_OFF = 0, AK_LOG_ERROR, AK_LOG_WARN, AK_LOG_INFO, AK_LOG_DEBUG };
void ak_log_init(void);                 /* reads AGENTKAVACH_LOG; safe to call again */
void ak_log_set_level(enum ak_log_level lvl);
bool ak_log_enabled(enum ak_log_level lvl);
void ak_log(enum ak_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ak_error(...) ak_log(AK_LOG_ERROR, __VA_ARGS__)
#define ak_warn(...)  ak_log(AK_LOG_WARN, __VA_ARGS__)
#define ak_info(...)  ak_log(AK_LOG_INFO, __VA_ARGS__)
#define ak_debug(...) ak_log(AK_LOG_DEBUG, __VA_ARGS__)

/* Wall clock in milliseconds since the epoch. Tests replace the source with
 * ak_time_set_source(); AGENTKAVACH_FAKE_NOW_MS (tests only) pins it for a process: "N"
 * stands still at N, "N@M" starts at N when CLOCK_MONOTONIC read M ms (core/ak.c). */
int64_t ak_now_ms(void);
typedef int64_t (*ak_time_source_fn)(void);
void ak_time_set_source(ak_time_source_fn fn);    /* NULL restores the real clock */
/* The engine at its start: without AGENTKAVACH_FAKE_NOW_MS, ak_now_ms reads the real clock
 * from then on without scanning the environment; with it (tests), it keeps reading it. */
void ak_time_pin_env(void);

/* First 12 hex digits of SHA-256 of a secret (API keys): out must hold 13 bytes. */
void ak_key_fingerprint(const char *key, size_t len, char out[13]);

#define AK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
