/*
 * peer.h - the local process behind a client socket of akproxy (peer.c), from /proc: the
 * socket's owner uid and inode in /proc/net/tcp{,6}, the process holding that inode in
 * /proc/PID/fd, its start, and whether the preloaded shim already meters its TLS.
 */
#ifndef AK_PEER_H
#define AK_PEER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "engine/engine_api.h"

/* client: the address akproxy accepted from; local: akproxy's end. Fills who->uid and, when
 * the process can be found, who->pid and who->start_ms (agent and exe are left alone).
 * Returns false when no local socket matches (the client is not on this host). */
bool peer_find(const struct sockaddr *client, const struct sockaddr *local, struct ak_peer *who);

/* The agent the process names for itself in AGENTKAVACH_AGENT (akrun sets it), for clients
 * that drop the proxy URL's user part (Node's proxy agents do): a claim like the URL's, and
 * checked the same way. false when unset or unreadable. */
bool peer_env_agent(int pid, char *agent, size_t len);

/* The process has libakshim.so loaded and a shared libssl mapped: its OpenSSL connections are
 * metered in the process, and a proxy that terminated them too would count each call twice. */
bool peer_shim_meters(int pid);

#endif
