/*
 * estimate.c - how far the shim's input-token estimate (the one its reservations use) is
 * from the input tokens the mock provider reports, for a range of prompts.
 *
 * For each prompt it builds the OpenAI chat request a client would send, feeds it to the
 * request parser (engine/exchange.h, the same code the engine runs) and prints the parser's
 * input_estimate next to the mock's formula (tests/integration/mock/mock_provider.py:
 * input = code points of the prompt text / 4 + 7). The error is (estimate - mock) / mock.
 * It is a measurement, not a unit test: the output is one line per prompt and a summary,
 * exit 0 unless the parser fails. Built by t_enforce_estimate.sh against build/libakengine.a.
 */
#include "engine/exchange.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOCK_TOKENS_PER_CHAR_DIV 4      /* mock: len(prompt) // 4 + 7 */
#define MOCK_OVERHEAD_TOKENS 7
#define MAX_BODY (8u << 20)
#define LONG_REPEAT 200
#define HEAD_MAX 512
#define PCT 100.0

struct prompt {
    const char *name;
    const char *text;
    int repeat;
};

static const struct prompt PROMPTS[] = {
    { "short english", "Say hi.", 1 },
    { "sentence", "Write one line about budgets and why they matter to a small team.", 1 },
    { "long english", "The quick brown fox jumps over the lazy dog while agents spend money. ",
      LONG_REPEAT },
    { "json-heavy", "{\"id\":17,\"tags\":[\"a\",\"b\"],\"nested\":{\"k\":[1,2,3],\"v\":null}} ",
      LONG_REPEAT },
    { "code", "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }\n", LONG_REPEAT },
    { "german", "Schreiben Sie eine Zeile über Budgets und Überschreitungen. ", LONG_REPEAT },
    { "chinese", "请用一句话描述预算的重要性以及超支的后果。", LONG_REPEAT },
    { "japanese", "予算について一行で書いてください。エージェントの支出を制限します。", LONG_REPEAT },
    { "russian", "Напишите одну строку о бюджетах и перерасходе средств. ", LONG_REPEAT },
    { "emoji", "budget 💸🔥 limit 🚦 ok ✅ ", LONG_REPEAT },
    { "numbers", "3.14159 2.71828 1.41421 1.73205 0.57721 ", LONG_REPEAT },
};

static long utf8_chars(const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static char *repeat_text(const char *t, int times)
{
    size_t len = strlen(t);
    char *s = malloc(len * (size_t)times + 1);
    if (!s)
        return NULL;
    for (int i = 0; i < times; i++)
        memcpy(s + len * (size_t)i, t, len);
    s[len * (size_t)times] = '\0';
    return s;
}

/* The parser's input_estimate for an OpenAI chat request with this prompt; -1 on failure. */
static long long estimate_for(const char *prompt)
{
    long long est = -1;
    char *body = NULL, *req = NULL;
    struct ak_reqparser *p = NULL;
    cJSON *root = cJSON_CreateObject(), *msgs = NULL, *m = NULL;
    if (!root || !cJSON_AddStringToObject(root, "model", "gpt-4o-mini") ||
        !(msgs = cJSON_AddArrayToObject(root, "messages")) || !(m = cJSON_CreateObject()))
        goto out;
    cJSON_AddItemToArray(msgs, m);
    if (!cJSON_AddStringToObject(m, "role", "user") ||
        !cJSON_AddStringToObject(m, "content", prompt) ||
        !cJSON_AddNumberToObject(root, "max_tokens", 12) ||
        !(body = cJSON_PrintUnformatted(root)))
        goto out;
    size_t blen = strlen(body);
    req = malloc(blen + HEAD_MAX);
    if (!req)
        goto out;
    int hl = snprintf(req, HEAD_MAX, "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com"
                      "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", blen);
    if (hl < 0 || hl >= HEAD_MAX)
        goto out;
    memcpy(req + hl, body, blen);
    if (!(p = ak_reqparser_new(AK_PROV_OPENAI, MAX_BODY)))
        goto out;
    size_t used = 0;
    if (ak_reqparser_feed(p, (unsigned char *)req, (size_t)hl + blen, &used) != AK_REQ_DONE)
        goto out;
    est = ak_reqparser_request(p)->input_estimate;
out:
    ak_reqparser_free(p);
    free(req);
    free(body);
    cJSON_Delete(root);
    return est;
}

int main(void)
{
    int rc = 0;
    double lo = 1e9, hi = -1e9;
    printf("%-14s %8s %8s %9s %9s %8s\n", "prompt", "bytes", "chars", "estimate", "mock",
           "error%");
    for (size_t i = 0; i < sizeof PROMPTS / sizeof PROMPTS[0]; i++) {
        char *text = repeat_text(PROMPTS[i].text, PROMPTS[i].repeat);
        if (!text)
            return 1;
        long chars = utf8_chars(text);
        long long mock = chars / MOCK_TOKENS_PER_CHAR_DIV + MOCK_OVERHEAD_TOKENS;
        long long est = estimate_for(text);
        if (est < 0) {
            printf("%-14s parser failed\n", PROMPTS[i].name);
            rc = 1;
        } else {
            double err = PCT * (double)(est - mock) / (double)mock;
            lo = err < lo ? err : lo;
            hi = err > hi ? err : hi;
            printf("%-14s %8zu %8ld %9lld %9lld %+7.1f%%\n", PROMPTS[i].name, strlen(text),
                   chars, est, mock, err);
        }
        free(text);
    }
    printf("error range: %+.1f%% .. %+.1f%%\n", lo, hi);
    return rc;
}
