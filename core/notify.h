/*
 * notify.h - the "poke": after each ledger commit the shim tells akcollector that the outbox
 * has something new, so exports and alerts follow within milliseconds instead of waiting for
 * the collector's periodic sweep.
 *
 * The poke is one empty-ish unix datagram to <state_dir>/collector.sock (or the configured
 * collector_socket). It is best effort: non-blocking, never raises SIGPIPE, and any error
 * (no collector, queue full, path too long) drops it silently - the sweep catches up.
 * libc only, so that the shim engine can call it on its hot path.
 */
#ifndef AK_NOTIFY_H
#define AK_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#define AK_NOTIFY_SOCK_NAME "collector.sock"

/* Writes the socket path: `configured` when non-empty, else <state_dir>/collector.sock.
 * false when it does not fit in out (or in a sockaddr_un). */
bool ak_notify_socket_path(const char *state_dir, const char *configured, char *out, size_t len);

/* Pokes the collector listening in state_dir. Never blocks, never fails loudly. */
void ak_notify_collector(const char *state_dir);
/* The same, to an explicit socket path (cfg collector_socket). */
void ak_notify_collector_at(const char *sock_path);

#endif
