/*
 * llmhosts.h - the built-in LLM provider hosts, the one list that both planes classify by:
 * the preloaded stub (libc only, so this header has no code beyond a look-up and includes
 * nothing but libc) and akproxy (which also signs leaf certificates for exactly these names
 * and the config's `hosts:`). Providers are the values of enum ak_provider in core/ak.h.
 */
#ifndef AK_LLMHOSTS_H
#define AK_LLMHOSTS_H

#include <stddef.h>
#include <strings.h>

static const struct ak_llm_host { const char *host; int provider; } ak_llm_hosts[] = {
    { "api.openai.com", 1 },                      /* AK_PROV_OPENAI */
    { "api.anthropic.com", 2 },                   /* AK_PROV_ANTHROPIC */
    { "generativelanguage.googleapis.com", 3 },   /* AK_PROV_GEMINI */
    { "api.mistral.ai", 4 },                      /* AK_PROV_MISTRAL */
};
#define AK_N_LLM_HOSTS (sizeof ak_llm_hosts / sizeof ak_llm_hosts[0])

/* The provider of a built-in host, 0 when it is not one. */
static inline int ak_llm_host_provider(const char *host)
{
    for (size_t i = 0; host && i < AK_N_LLM_HOSTS; i++)
        if (strcasecmp(host, ak_llm_hosts[i].host) == 0)
            return ak_llm_hosts[i].provider;
    return 0;
}

#endif
