/*
 * event.h - the event record of DESIGN.md: one per LLM call (allowed, refused or unmetered).
 * The shim fills one in and serialises it into the ledger outbox; the collector and akctl
 * read it back. JSON field names are the contract; see DESIGN.md "Event record".
 */
#ifndef AK_EVENT_H
#define AK_EVENT_H

#include "core/ak.h"

enum ak_decision {
    AK_DEC_ALLOWED = 0, AK_DEC_BLOCKED_BUDGET, AK_DEC_BLOCKED_SUSPENDED,
    AK_DEC_BLOCKED_GUARDRAIL, AK_DEC_UNMETERED,
    AK_DEC_CONTROL,               /* not a call: an operator's action (dashboard), see `actor` */
};
enum ak_cost_source { AK_COST_USAGE = 0, AK_COST_ESTIMATE, AK_COST_UNPRICED };
/* Which plane saw the call: the preloaded shim (in the process) or akproxy (on the way out). */
enum ak_plane { AK_PLANE_INPROC = 0, AK_PLANE_EGRESS };

/* Token counts, normalised the OpenTelemetry way (see pricing/pricing.h):
 * input includes cached and cache-written tokens; output includes reasoning. */
struct ak_usage {
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cached_input_tokens;
    int64_t cache_write_tokens;
    int64_t reasoning_tokens;
};

#define AK_EV_NAME 128
#define AK_EV_HOST 256
#define AK_EV_REASON 256

struct ak_event {
    char event_id[40];            /* UUID v4 text */
    int64_t ts_ms;
    char agent[AK_EV_NAME];
    char customer[AK_EV_NAME];    /* "" = null */
    enum ak_provider provider;
    char host[AK_EV_HOST];
    char operation[24];           /* chat | responses | embeddings | messages | generate_content */
    char model[AK_EV_NAME];
    bool stream;
    struct ak_usage usage;
    int64_t cost_micros;
    enum ak_cost_source cost_source;
    int status;                   /* HTTP status seen by the client; 0 = none */
    enum ak_decision decision;
    char reason[AK_EV_REASON];    /* "" = null */
    int64_t duration_ms;
    int pid;
    char exe[AK_EV_HOST];
    char key_fp[13];              /* "" = null */
    enum ak_plane plane;
    char actor[AK_EV_NAME];       /* who acted (control events: "dashboard 127.0.0.1:5123");
                                     "" = absent from the record */
    char *prompt;                 /* only with privacy.save_prompts; owned by caller */
};

const char *ak_decision_name(enum ak_decision d);
/* A record of an LLM call (every decision but control): what reports and exporters count. */
static inline bool ak_event_is_call(const struct ak_event *ev)
{
    return ev->decision != AK_DEC_CONTROL;
}
bool ak_decision_parse(const char *s, enum ak_decision *out);
const char *ak_cost_source_name(enum ak_cost_source s);
bool ak_cost_source_parse(const char *s, enum ak_cost_source *out);
const char *ak_plane_name(enum ak_plane p);
bool ak_plane_parse(const char *s, enum ak_plane *out);

/* Fills event_id with a fresh UUID v4 (from getrandom). */
void ak_event_new_id(char out[40]);
/* Serialises to one JSON object (no newline); malloc'd, caller frees. NULL on OOM. */
char *ak_event_to_json(const struct ak_event *ev);
/* Parses a record produced by ak_event_to_json. ev->prompt is malloc'd when present. */
enum ak_err ak_event_from_json(const char *json, size_t len, struct ak_event *ev);
/* Frees what ak_event_from_json allocated (the prompt). */
void ak_event_clear(struct ak_event *ev);

#endif
