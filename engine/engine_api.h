/*
 * engine_api.h - the one interface between the preloaded stub (libakshim.so, libc only) and the
 * metering engine (libakengine.so, loaded on the first LLM connection).
 *
 * The stub owns everything about OpenSSL: hooks, real-symbol resolution, the per-SSL table,
 * holding and flushing bytes, serving synthetic bytes, waking the client. The engine owns
 * everything about meaning: HTTP, providers, prices, budgets, the ledger. The stub hands the
 * engine plaintext and gets back an action; the engine never calls OpenSSL.
 *
 * Threading: calls for one connection never overlap (OpenSSL forbids concurrent use of one
 * SSL*); calls for different connections may run on different threads at once.
 */
#ifndef AK_ENGINE_API_H
#define AK_ENGINE_API_H

#include <stddef.h>

#define AK_ENGINE_ABI 3
#define AK_ENGINE_SYMBOL "ak_engine_get"

struct ak_econn;

/* Who makes the calls on a connection that is not this process's own: akproxy names the
 * client process it found behind a socket. The in-process plane never fills one in (its
 * connections are this process's, see conn_new). */
#define AK_PEER_AGENT_LEN 128
#define AK_PEER_EXE_LEN 256
struct ak_peer {
    char agent[AK_PEER_AGENT_LEN];
    char exe[AK_PEER_EXE_LEN];    /* full path; "" = unknown */
    int pid;                      /* 0 = unknown */
    unsigned uid;
    long long start_ms;           /* when the process started (max_runtime), wall clock ms */
};

enum ak_wr_action {
    AK_WR_PASS = 0,   /* send the app's bytes unchanged */
    AK_WR_HOLD,       /* the engine kept a copy: report them written, send nothing yet */
    AK_WR_SEND,       /* send out[0..out_len) (held bytes, maybe rewritten), then report the
                         app's bytes written; call on_sent() once it is all out */
    AK_WR_REFUSE,     /* send nothing: serve out[] (a synthetic response) from reads, close */
    AK_WR_KILL,       /* fail closed: tear the connection down, report an error */
};

struct ak_wr_result {
    enum ak_wr_action action;
    const unsigned char *out; /* engine-owned, valid until the next call for this connection */
    size_t out_len;
};

enum ak_rd_action {
    AK_RD_PASS = 0,   /* the app gets the bytes it read, unchanged */
    AK_RD_REPLACE,    /* the app gets out[0..out_len) instead (may be empty) */
    AK_RD_CUT,        /* end the connection now (akctl suspend --now) */
};

struct ak_rd_result {
    enum ak_rd_action action;
    const unsigned char *out;
    size_t out_len;
};

struct ak_engine_api {
    int abi;                                  /* AK_ENGINE_ABI */
    /* 0 when the engine is ready to meter; otherwise the stub passes everything through. */
    int (*init)(void);
    /* Provider (enum ak_provider) of a host the stub does not know, from the config; 0 = not LLM. */
    int (*classify)(const char *host, int port);
    /* A connection of this process (the in-process plane). */
    struct ak_econn *(*conn_new)(const char *host, int port, int provider);
    void (*on_write)(struct ak_econn *c, const unsigned char *buf, size_t len,
                     struct ak_wr_result *res);
    void (*on_sent)(struct ak_econn *c);     /* a SEND went out completely */
    void (*on_read)(struct ak_econn *c, const unsigned char *buf, size_t len,
                    struct ak_rd_result *res);
    void (*on_eof)(struct ak_econn *c);      /* the server closed, or the read failed */
    void (*conn_free)(struct ak_econn *c);   /* SSL_free / SSL_clear: finish and forget */
    void (*atfork_child)(void);              /* in a forked child, before anything else */
    /* A connection of another process, seen on the egress plane (events say plane egress). */
    struct ak_econn *(*conn_new_peer)(const char *host, int port, int provider,
                                      const struct ak_peer *who);
    /* Reads the config again (akproxy on SIGHUP); 0 when the new one is in force. */
    int (*reload)(void);
    /* Completes a peer akproxy found (pid, uid; agent when claimed): exe, and the agent from
     * the identity rules when none was claimed. Then 0 when its user may be that agent, else
     * -1 with the reason in why. */
    int (*peer_identify)(struct ak_peer *who, char *why, size_t why_len);
    /* Records a connection to an LLM host that nothing can meter (decision unmetered, the
     * reason given), charged to nobody's budget: akproxy when it cannot terminate one. */
    void (*record_unmetered)(const struct ak_peer *who, const char *host, int provider,
                             const char *reason);
    /* 1 when the engine parses HTTP/2 (config `http2: native`): the stub then leaves h2 in the
     * ALPN offer to LLM hosts; 0: the offer is limited to http/1.1. */
    int (*http2_native)(void);
};

typedef const struct ak_engine_api *(*ak_engine_get_fn)(void);

#endif
