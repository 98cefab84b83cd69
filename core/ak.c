/*
 * ak.c - the small things every module shares: error names, provider names, money text,
 * the stderr logger, the injectable clock and API-key fingerprints.
 *
 * The clock (ak_now_ms) is the wall clock unless a test moves it. AGENTKAVACH_FAKE_NOW_MS
 * (tests only; in a process started with it, read at every call so that the process may
 * change it, see ak_time_pin_env) takes two forms:
 *   "N"    the clock stands still at N ms since the epoch;
 *   "N@M"  the clock read N when CLOCK_MONOTONIC read M ms, and advances with CLOCK_MONOTONIC
 *          from there: every process of a test run shares one timeline that starts at a
 *          chosen instant and lets durations, backoffs and cooldowns pass, whatever the date
 *          (tests/README.md "The clock"; tests/akclock.py writes and reads both forms).
 *          CLOCK_MONOTONIC is read by a direct system call: the suite also runs under
 *          faketime, whose libfaketime moves clock_gettime() in the processes that load it
 *          but not in those whose LD_PRELOAD a test replaced, and they must agree. Only this
 *          test-only form pays for the system call.
 */
#include "core/ak.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

const char *ak_strerror(enum ak_err err)
{
    switch (err) {
    case AK_OK: return "ok";
    case AK_ERR_NOMEM: return "out of memory";
    case AK_ERR_IO: return "I/O error";
    case AK_ERR_PARSE: return "parse error";
    case AK_ERR_CONFIG: return "configuration error";
    case AK_ERR_NOTFOUND: return "not found";
    case AK_ERR_FULL: return "full";
    case AK_ERR_LIMIT: return "limit reached";
    case AK_ERR_INVAL: return "invalid argument";
    case AK_ERR_BUSY: return "busy";
    case AK_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

static const char *const provider_names[] = {
    [AK_PROV_NONE] = "none", [AK_PROV_OPENAI] = "openai", [AK_PROV_ANTHROPIC] = "anthropic",
    [AK_PROV_GEMINI] = "gemini", [AK_PROV_MISTRAL] = "mistral",
};

const char *ak_provider_name(enum ak_provider p)
{
    if ((size_t)p >= AK_ARRAY_LEN(provider_names))
        return "none";
    return provider_names[p];
}

enum ak_provider ak_provider_parse(const char *name)
{
    if (!name)
        return AK_PROV_NONE;
    for (size_t i = 1; i < AK_ARRAY_LEN(provider_names); i++)
        if (strcasecmp(name, provider_names[i]) == 0)
            return (enum ak_provider)i;
    return AK_PROV_NONE;
}

static const char *const operation_names[] = {
    [AK_OP_NONE] = "", [AK_OP_CHAT] = "chat", [AK_OP_RESPONSES] = "responses",
    [AK_OP_EMBEDDINGS] = "embeddings", [AK_OP_MESSAGES] = "messages",
    [AK_OP_GENERATE_CONTENT] = "generate_content",
};

const char *ak_operation_name(enum ak_operation op)
{
    return (size_t)op < AK_ARRAY_LEN(operation_names) ? operation_names[op] : "";
}

enum ak_operation ak_operation_parse(const char *name)
{
    for (size_t i = 1; name && i < AK_ARRAY_LEN(operation_names); i++)
        if (strcmp(name, operation_names[i]) == 0)
            return (enum ak_operation)i;
    return AK_OP_NONE;
}

/* ---- money ---- */

#define USD_MAX_DIGITS 12   /* whole dollars: a trillion is plenty */

bool ak_usd_parse(const char *s, int64_t *micros)
{
    if (!s || !*s)
        return false;
    while (*s == ' ' || *s == '$')
        s++;
    int64_t whole = 0, frac = 0;
    int nwhole = 0, nfrac = 0, round_up = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (++nwhole > USD_MAX_DIGITS)
            return false;
        whole = whole * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
            if (nfrac < 6) {
                frac = frac * 10 + (*s - '0');
                nfrac++;
            } else if (nfrac == 6) {
                round_up = *s >= '5';
                nfrac++;
            }
        }
    }
    if (*s != '\0' || (nwhole == 0 && nfrac == 0))
        return false;
    for (int i = nfrac > 6 ? 6 : nfrac; i < 6; i++)
        frac *= 10;
    *micros = whole * AK_MICROS_PER_USD + frac + round_up;
    return true;
}

void ak_usd_format(int64_t micros, char *buf, size_t len)
{
    const char *sign = micros < 0 ? "-" : "";
    int64_t m = micros < 0 ? -micros : micros;
    if (m != 0 && m < 10000) /* below a cent: show all six decimals */
        snprintf(buf, len, "%s$%lld.%06lld", sign, (long long)(m / AK_MICROS_PER_USD),
                 (long long)(m % AK_MICROS_PER_USD));
    else {
        int64_t cents = (m + 5000) / 10000; /* rounded half up */
        snprintf(buf, len, "%s$%lld.%02lld", sign, (long long)(cents / 100), (long long)(cents % 100));
    }
}

/* ---- logging ---- */

static enum ak_log_level log_level = AK_LOG_WARN;

void ak_log_init(void)
{
    static const char *const names[] = { "off", "error", "warn", "info", "debug" };
    const char *v = getenv("AGENTKAVACH_LOG");
    if (!v)
        return;
    for (size_t i = 0; i < AK_ARRAY_LEN(names); i++)
        if (strcasecmp(v, names[i]) == 0)
            log_level = (enum ak_log_level)i;
}

void ak_log_set_level(enum ak_log_level lvl) { log_level = lvl; }
bool ak_log_enabled(enum ak_log_level lvl) { return lvl != AK_LOG_OFF && lvl <= log_level; }

void ak_log(enum ak_log_level lvl, const char *fmt, ...)
{
    static const char *const tags[] = { "", "error", "warning", "info", "debug" };
    if (!ak_log_enabled(lvl))
        return;
    int saved = errno;
    char line[1024];
    int n = snprintf(line, sizeof line, "agentkavach[%d]: %s: ", (int)getpid(), tags[lvl]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t l = strnlen(line, sizeof line - 2);
    line[l++] = '\n';
    /* one write(2) so that lines from several processes do not interleave */
    ssize_t w = write(STDERR_FILENO, line, l);
    (void)w;
    errno = saved;
}

/* ---- clock ---- */

static ak_time_source_fn time_source;
/* ak_time_pin_env: in a process started without a fake clock (production), the environment
 * is not scanned again on every call (getenv, 4x a call); a test's fake clock is still read
 * at every call, so that a process may move it. */
static struct { bool pinned; } env_clock;

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
}

static int64_t mono_now_ms(void)
{
    struct timespec ts = { 0, 0 };
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)   /* not libfaketime's */
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
}

/* "N" or "N@M", see the opening comment. */
static int64_t fake_now_ms(const char *fake)
{
    char *end = NULL;
    int64_t start = strtoll(fake, &end, 10);
    if (*end != '@')
        return start;
    return start + (mono_now_ms() - strtoll(end + 1, NULL, 10));
}

int64_t ak_now_ms(void)
{
    if (time_source)
        return time_source();
    if (env_clock.pinned)
        return real_now_ms();
    const char *fake = getenv("AGENTKAVACH_FAKE_NOW_MS");
    if (fake && *fake)
        return fake_now_ms(fake);
    return real_now_ms();
}

void ak_time_set_source(ak_time_source_fn fn) { time_source = fn; }

void ak_time_pin_env(void)
{
    const char *fake = getenv("AGENTKAVACH_FAKE_NOW_MS");
    env_clock.pinned = !(fake && *fake);
}

/* ---- secrets ---- */

void ak_key_fingerprint(const char *key, size_t len, char out[13])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (!key || !len || !EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 6)
        return;
    for (int i = 0; i < 6; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[12] = '\0';
}
