/*
 * econn.h - one LLM connection as the engine sees it (econn.c): the request parser, the
 * exchange in flight, and what happens at each step. The functions are the engine_api calls.
 */
#ifndef AK_ECONN_H
#define AK_ECONN_H

#include "engine/engine_api.h"

struct ak_econn *econn_new(const char *host, int port, int provider);
struct ak_econn *econn_new_peer(const char *host, int port, int provider, const struct ak_peer *who);
void econn_on_write(struct ak_econn *c, const unsigned char *buf, size_t len, struct ak_wr_result *res);
void econn_on_sent(struct ak_econn *c);
void econn_on_read(struct ak_econn *c, const unsigned char *buf, size_t len, struct ak_rd_result *res);
void econn_on_eof(struct ak_econn *c);
void econn_free(struct ak_econn *c);
void econn_record_unmetered(const struct ak_peer *who, const char *host, int provider,
                            const char *reason);

#endif
