/*
 * fleet_redis.c - the collector's Redis side of fleet budgets (hiredis): the connection (URL,
 * password, timeouts, reconnect pacing) and the two Lua scripts that are the only writers of
 * a fleet budget's state. Each runs atomically inside Redis, so no host can act on a figure
 * another host is changing.
 *
 * One hash per fleet budget and period, <prefix>b:<a|s>:<name>:<period>:
 *   l:<host>  the lease granted to <host> this period (what it spent included), micro-USD
 *   s:<host>  what <host> has committed this period: its ledger's own total, pushed whole, so
 *             a repeat, a replay after a restart, or a push racing another changes nothing
 *   limit     the limit as the last host saw it (for akctl)
 *   settle    after the hash was rebuilt (Redis lost it), no lease grows until then (ms)
 * and per host <prefix>alive:<host>, refreshed by every call with a TTL of fleet.lease.ttl.
 * The invariant the acquire script keeps: sum over hosts of max(l, s) <= limit. Each host's
 * ledger keeps its own s <= l, so the fleet's spend never passes the limit.
 */
#include "collector/fleet.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REDIS_DEFAULT_PORT 6379
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 5000
#define URL_SCHEME "redis://"
#define HOST_MAX 256
#define NUM_TEXT 32
#define US_PER_MS 1000

/* KEYS: budget hash, my alive key. ARGV: host, limit, spent, lease_local, ask_chunk,
 * ask_need, alive_ttl_ms, key_ttl_ms, alive_prefix.
 * Returns { lease, free, fleet_spent, claimed, holders, host1, lease1, spent1, alive1, ... }. */
static const char ACQUIRE_LUA[] =
    "local k, me = KEYS[1], ARGV[1]\n"
    "local limit, spent, lease_local = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local ask_chunk, ask_need = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local alive_ttl, key_ttl, ap = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]\n"
    "local function n(v) return string.format('%d', v) end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('SET', KEYS[2], '1', 'PX', alive_ttl)\n"
    "local lease, used, settle = {}, {}, 0\n"
    "local raw = redis.call('HGETALL', k)\n"
    "for i = 1, #raw, 2 do\n"
    "  local f, v = raw[i], raw[i + 1]\n"
    "  local p, h = string.sub(f, 1, 2), string.sub(f, 3)\n"
    "  if p == 'l:' then lease[h] = tonumber(v) elseif p == 's:' then used[h] = tonumber(v)\n"
    "  elseif f == 'settle' then settle = tonumber(v) end\n"
    "end\n"
    "if #raw == 0 and (lease_local > 0 or spent > 0) then\n"
    "  settle = now + alive_ttl\n"
    "  redis.call('HSET', k, 'settle', n(settle))\n"
    "end\n"
    "local others = 0\n"
    "for h, l in pairs(lease) do\n"
    "  local s = used[h] or 0\n"
    "  if h ~= me then\n"
    "    if l > s and redis.call('EXISTS', ap .. h) == 0 then\n"
    "      l = s\n"
    "      lease[h] = s\n"
    "      redis.call('HSET', k, 'l:' .. h, n(s))\n"
    "    end\n"
    "    others = others + math.max(l, s)\n"
    "  end\n"
    "end\n"
    "local mine = lease[me]\n"
    "if mine == nil then mine = math.max(0, math.min(lease_local, limit - others)) end\n"
    "mine = math.max(mine, spent)\n"
    "local free = limit - others - mine\n"
    "local grant = 0\n"
    "if now >= settle then\n"
    "  if ask_need > 0 and ask_need <= free then grant = math.max(ask_need, math.min(ask_chunk, free))\n"
    "  else grant = math.min(ask_chunk, free) end\n"
    "  if grant < 0 then grant = 0 end\n"
    "end\n"
    "mine = mine + grant\n"
    "lease[me] = mine\n"
    "used[me] = spent\n"
    "redis.call('HSET', k, 'l:' .. me, n(mine), 's:' .. me, n(spent), 'limit', n(limit))\n"
    "if key_ttl > 0 then redis.call('PEXPIRE', k, key_ttl) end\n"
    "local claimed, fspent, holders, out = 0, 0, 0, {}\n"
    "for h, l in pairs(lease) do\n"
    "  local s = used[h] or 0\n"
    "  claimed = claimed + math.max(l, s)\n"
    "  fspent = fspent + s\n"
    "  if l > s then holders = holders + 1 end\n"
    "  local alive = 1\n"
    "  if h ~= me then alive = redis.call('EXISTS', ap .. h) end\n"
    "  out[#out + 1] = h\n"
    "  out[#out + 1] = l\n"
    "  out[#out + 1] = s\n"
    "  out[#out + 1] = alive\n"
    "end\n"
    "return { mine, math.max(0, limit - claimed), fspent, claimed, holders, unpack(out) }\n";

/* KEYS: budget hash. ARGV: host, spent, keep. The lease shrinks to max(keep, spent), never
 * grows. Returns the lease left. */
static const char RELEASE_LUA[] =
    "local k, me = KEYS[1], ARGV[1]\n"
    "local spent, keep = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local cur = tonumber(redis.call('HGET', k, 'l:' .. me) or '0')\n"
    "local l = math.max(math.min(cur, keep), spent)\n"
    "redis.call('HSET', k, 'l:' .. me, string.format('%d', l), 's:' .. me, string.format('%d', spent))\n"
    "return l\n";

struct akc_redis {
    redisContext *rc;
    int64_t retry_at;             /* monotonic ms: no connect attempt before */
    int64_t retry_gap;
    bool warned;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * AK_MS_PER_S + ts.tv_nsec / AK_NS_PER_MS;
}

int64_t akc_fleet_mono_ms(void)
{
    return mono_ms();
}

/* redis://[[user]:password@]host[:port][/db] */
static bool url_parse(const char *url, char *host, size_t hlen, int *port, char *pw, size_t pwlen,
                      int *db)
{
    *port = REDIS_DEFAULT_PORT;
    *db = 0;
    pw[0] = '\0';
    if (strncmp(url, URL_SCHEME, strlen(URL_SCHEME)) != 0)
        return false;
    const char *p = url + strlen(URL_SCHEME);
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *from = colon ? colon + 1 : p;
        if ((size_t)(at - from) >= pwlen)
            return false;
        memcpy(pw, from, (size_t)(at - from));
        pw[at - from] = '\0';
        p = at + 1;
    }
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= hlen)
        return false;
    memcpy(host, p, n);
    host[n] = '\0';
    p += n;
    if (*p == ':') {
        char *end = NULL;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v <= 0 || v > 65535)
            return false;
        *port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end = NULL;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0)
            return false;
        *db = (int)v;
    }
    return true;
}

enum ak_err akc_redis_new(struct akc_redis **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? AK_OK : AK_ERR_NOMEM;
}

void akc_redis_close(struct akc_redis *r)
{
    if (r && r->rc) {
        redisFree(r->rc);
        r->rc = NULL;
    }
}

void akc_redis_free(struct akc_redis *r)
{
    akc_redis_close(r);
    free(r);
}

static bool reply_ok(redisReply *rep)
{
    return rep && rep->type != REDIS_REPLY_ERROR;
}

/* AUTH and SELECT after connecting; false (logged) when refused. */
static bool session_setup(redisContext *rc, const char *pw, int db)
{
    redisReply *rep;
    if (pw[0]) {
        rep = redisCommand(rc, "AUTH %s", pw);
        bool ok = reply_ok(rep);
        if (!ok)
            ak_warn("fleet: Redis refused the password: %s", rep ? rep->str : rc->errstr);
        freeReplyObject(rep);
        if (!ok)
            return false;
    }
    if (db) {
        rep = redisCommand(rc, "SELECT %d", db);
        bool ok = reply_ok(rep);
        freeReplyObject(rep);
        if (!ok)
            return false;
    }
    return true;
}

/* hiredis says EAGAIN's text when a timeout expired. */
static const char *redis_why(const redisContext *rc)
{
    if (!rc)
        return "out of memory";
    if (rc->err == REDIS_ERR_IO && strcmp(rc->errstr, strerror(EAGAIN)) == 0)
        return "timed out";
    return rc->errstr[0] ? rc->errstr : "refused";
}

static void retry_later(struct akc_redis *r)
{
    r->retry_gap = r->retry_gap ? r->retry_gap * 2 : RECONNECT_MIN_MS;
    if (r->retry_gap > RECONNECT_MAX_MS)
        r->retry_gap = RECONNECT_MAX_MS;
    r->retry_at = mono_ms() + r->retry_gap;
}

bool akc_redis_ready(struct akc_redis *r, const struct ak_fleet_cfg *fc)
{
    char host[HOST_MAX], pw[HOST_MAX];
    int port = 0, db = 0;
    if (r->rc)
        return true;
    if (mono_ms() < r->retry_at)
        return false;
    if (!fc->redis_url || !url_parse(fc->redis_url, host, sizeof host, &port, pw, sizeof pw, &db)) {
        if (!r->warned)
            ak_error("fleet: redis.url must look like redis://[:password@]host[:port][/db]");
        r->warned = true;
        retry_later(r);
        return false;
    }
    if (fc->redis_password && fc->redis_password[0])
        snprintf(pw, sizeof pw, "%s", fc->redis_password);
    struct timeval tv = { .tv_sec = fc->connect_timeout_ms / AK_MS_PER_S,
                          .tv_usec = (fc->connect_timeout_ms % AK_MS_PER_S) * US_PER_MS };
    redisContext *rc = redisConnectWithTimeout(host, port, tv);
    if (!rc || rc->err || redisSetTimeout(rc, tv) != REDIS_OK || !session_setup(rc, pw, db)) {
        if (!r->warned)
            ak_warn("fleet: cannot reach Redis at %s:%d: %s; fleet budgets spend their leases, "
                    "then follow on_fleet_error", host, port, redis_why(rc));
        r->warned = true;
        if (rc)
            redisFree(rc);
        retry_later(r);
        return false;
    }
    if (r->warned)
        ak_info("fleet: Redis at %s:%d is back", host, port);
    r->rc = rc;
    r->warned = false;
    r->retry_gap = 0;
    return true;
}

/* Runs a script; NULL (and the connection dropped) on a transport error. */
static redisReply *script_run(struct akc_redis *r, const char *lua, int nkeys, const char **args,
                              int nargs)
{
    const char *argv[2 + FLEET_SCRIPT_ARGS_MAX];
    char nk[NUM_TEXT];
    if (nargs > FLEET_SCRIPT_ARGS_MAX)
        return NULL;
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVAL";
    argv[1] = lua;
    argv[2] = nk;
    memcpy(argv + 3, args, (size_t)nargs * sizeof *args);
    redisReply *rep = redisCommandArgv(r->rc, 3 + nargs, argv, NULL);
    if (!rep) {
        ak_warn("fleet: Redis: %s", redis_why(r->rc));
        akc_redis_close(r);
        retry_later(r);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        ak_warn("fleet: Redis refused the lease script: %s", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static int64_t rep_int(const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_INTEGER)
        return rep->integer;
    if (rep->type == REDIS_REPLY_STRING)
        return strtoll(rep->str, NULL, 10);
    return 0;
}

#define ACQ_HEAD 5                /* lease, free, spent, claimed, holders */
#define ACQ_PER_HOST 4

static void acquire_parse(const redisReply *rep, struct akc_fleet_view *v)
{
    memset(v, 0, sizeof *v);
    v->lease = rep_int(rep->element[0]);
    v->free = rep_int(rep->element[1]);
    v->spent = rep_int(rep->element[2]);
    v->claimed = rep_int(rep->element[3]);
    v->holders = (int)rep_int(rep->element[4]);
    for (size_t i = ACQ_HEAD; i + ACQ_PER_HOST <= rep->elements && v->n_hosts < FLEET_HOSTS_MAX;
         i += ACQ_PER_HOST) {
        struct akc_fleet_host *h = &v->hosts[v->n_hosts++];
        const redisReply *name = rep->element[i];
        snprintf(h->host, sizeof h->host, "%s", name->type == REDIS_REPLY_STRING ? name->str : "?");
        h->lease = rep_int(rep->element[i + 1]);
        h->spent = rep_int(rep->element[i + 2]);
        h->alive = rep_int(rep->element[i + 3]) != 0;
    }
}

static void num(char *buf, int64_t v)
{
    snprintf(buf, NUM_TEXT, "%lld", (long long)v);
}

enum ak_err akc_redis_acquire(struct akc_redis *r, const struct akc_fleet_ask *a,
                              struct akc_fleet_view *v)
{
    char lim[NUM_TEXT], sp[NUM_TEXT], ll[NUM_TEXT], ac[NUM_TEXT], an[NUM_TEXT], at[NUM_TEXT],
        kt[NUM_TEXT];
    num(lim, a->limit);
    num(sp, a->spent);
    num(ll, a->lease_local);
    num(ac, a->ask_chunk);
    num(an, a->ask_need);
    num(at, a->alive_ttl_ms);
    num(kt, a->key_ttl_ms);
    const char *args[] = { a->key, a->alive_key, a->host, lim, sp, ll, ac, an, at, kt,
                           a->alive_prefix };
    redisReply *rep = script_run(r, ACQUIRE_LUA, 2, args, (int)AK_ARRAY_LEN(args));
    if (!rep)
        return AK_ERR_IO;
    enum ak_err err = AK_ERR_INTERNAL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= ACQ_HEAD) {
        acquire_parse(rep, v);
        err = AK_OK;
    }
    freeReplyObject(rep);
    return err;
}

enum ak_err akc_redis_release(struct akc_redis *r, const char *key, const char *host,
                              int64_t spent, int64_t keep, int64_t *left)
{
    char sp[NUM_TEXT], kp[NUM_TEXT];
    num(sp, spent);
    num(kp, keep);
    const char *args[] = { key, host, sp, kp };
    redisReply *rep = script_run(r, RELEASE_LUA, 1, args, (int)AK_ARRAY_LEN(args));
    if (!rep)
        return AK_ERR_IO;
    *left = rep_int(rep);
    freeReplyObject(rep);
    return AK_OK;
}
