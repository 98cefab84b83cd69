/*
 * estimate.c - the shim's token estimate for text it cannot have counted by the provider
 * (request input before the call, streamed output when a stream is cut). About 4 bytes a
 * token holds for English and JSON with the providers' BPE tokenisers; an estimate only
 * sizes reservations and cut streams, the provider's usage always wins.
 */
#include "engine/exchange.h"


int64_t ak_estimate_tokens(const unsigned char *text, size_t len)
{
    if (!text || !len)
        return 0;
    return (int64_t)((len + AK_BYTES_PER_TOKEN - 1) / AK_BYTES_PER_TOKEN);
}
