/*
 * fleet.h - fleet budgets in akcollector: keeping this host's leases (core/ledger.h, "fleet
 * budgets") in step with Redis. fleet.c decides, per fleet budget and pass, what to push and
 * what to ask for; fleet_redis.c talks to Redis (hiredis) through two Lua scripts.
 */
#ifndef AKC_FLEET_H
#define AKC_FLEET_H

#include "core/config.h"
#include "core/ledger.h"

#define FLEET_SCRIPT_ARGS_MAX 16
#define FLEET_HOSTS_MAX 64
#define FLEET_HOST_LEN 128

/* ---- fleet.c ---- */

struct akc_fleet;

enum ak_err akc_fleet_new(const struct ak_config *cfg, struct akc_fleet **out);
void akc_fleet_free(struct akc_fleet *f);
/* One pass: for every fleet budget in force, push this host's committed total, top the lease
 * up below low_water (or to what a waiting call asked for), refresh it before it expires,
 * give back the last period's rest when a period turned. *wait_ms: the longest the service
 * may sleep before the next pass is due (unchanged when no fleet budget). */
void akc_fleet_pass(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                    int64_t now_ms, int *wait_ms);
/* Shutdown: every lease shrinks to what is spent and in flight; the rest goes back. */
void akc_fleet_stop(struct akc_fleet *f, const struct ak_config *cfg, struct ak_ledger *l,
                    int64_t now_ms);

/* ---- fleet_redis.c ---- */

struct akc_redis;

struct akc_fleet_host {
    char host[FLEET_HOST_LEN];
    int64_t lease, spent;
    bool alive;
};

struct akc_fleet_view {
    int64_t lease;                /* this host's, after the call */
    int64_t free, spent, claimed; /* the fleet's */
    int holders;                  /* hosts holding an unspent lease */
    struct akc_fleet_host hosts[FLEET_HOSTS_MAX];
    size_t n_hosts;
};

struct akc_fleet_ask {
    const char *key, *alive_key, *alive_prefix, *host;
    int64_t limit, spent, lease_local, ask_chunk, ask_need, alive_ttl_ms, key_ttl_ms;
};

enum ak_err akc_redis_new(struct akc_redis **out);
void akc_redis_free(struct akc_redis *r);
void akc_redis_close(struct akc_redis *r);
/* Connected (connecting now when the reconnect pacing allows); false when Redis is out of
 * reach (logged once until it is back). */
bool akc_redis_ready(struct akc_redis *r, const struct ak_fleet_cfg *fc);
/* AK_ERR_IO: Redis went away (the connection is dropped and retried later). */
enum ak_err akc_redis_acquire(struct akc_redis *r, const struct akc_fleet_ask *a,
                              struct akc_fleet_view *v);
enum ak_err akc_redis_release(struct akc_redis *r, const char *key, const char *host,
                              int64_t spent, int64_t keep, int64_t *left);
int64_t akc_fleet_mono_ms(void);

#endif
