/*
 * dashboard.h - the local dashboard that akcollector serves when `dashboard.listen` is set:
 * the page (web/: index.html, app.js, app.css, and Debian's Chart.js) and an API beside it,
 * over libmicrohttpd, one thread per connection. Only the service mode runs it.
 *
 * The page's files are public (they hold no data); every /api/ request needs
 * `Authorization: Bearer <token>` (the token file's, created 0600 with a random token on
 * first start). Loopback only unless `dashboard.allow_remote` is true.
 *
 * Files: dashboard.c (daemon, token, routing, auth, static files), dashboard_api.c (GET
 * status, events, report, health), dashboard_actions.c (POST suspend, resume, reset,
 * budget: each recorded as a "control" event), dashboard_stream.c (Server-Sent Events).
 */
#ifndef AKC_DASHBOARD_H
#define AKC_DASHBOARD_H

#include "core/ak.h"

struct akc;
struct ak_config;

/* Starts serving when the config asks for it (AK_OK and nothing done otherwise). */
enum ak_err akc_dash_start(struct akc *c);
/* Ends every stream and stops the daemon. */
void akc_dash_stop(struct akc *c);
/* --check: the address is allowed, the page is installed, the token file is private (or can
 * be created). One line of detail in msg; true when usable or not configured. */
bool akc_dash_check(const struct ak_config *cfg, char *msg, size_t len);
/* After each pass of the service loop: a snapshot of the exporters' health for /api/health. */
void akc_dash_publish(struct akc *c);

#endif
