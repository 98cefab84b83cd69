/*
 * akfill.c - test helper for the collector tests: puts events into a ledger the way the
 * shim does (ak_ledger_commit with ak_event_to_json records), without any network.
 *
 *   akfill STATE_DIR AGENT COUNT COST_USD [--decision D] [--reason R] [--type daily|monthly|total]
 *          [--limit USD] [--shared NAME] [--shared-type T] [--no-poke]
 *     prints each stored record, one per line (what the JSONL exporter must write).
 *   akfill --flags STATE_DIR AGENT
 *     prints "suspended=<0|1> manual=<0|1> reason=<text>".
 */
#include "core/event.h"
#include "core/ledger.h"
#include "core/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILL_TOKENS_IN 1200
#define FILL_TOKENS_OUT 300
#define FILL_DURATION_MS 420
#define FILL_STATUS_OK 200
#define FILL_STATUS_REFUSED 429

struct fill_opts {
    const char *state_dir, *agent, *reason, *shared;
    long count;
    int64_t cost, limit;
    enum ak_decision decision;
    enum ak_period_type type, shared_type;
    bool poke;
};

static bool parse_type(const char *s, enum ak_period_type *t)
{
    static const char *const names[] = { "daily", "monthly", "total" };
    for (size_t i = 0; i < AK_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *t = (enum ak_period_type)i;
            return true;
        }
    return false;
}

static int flags_main(const char *state_dir, const char *agent)
{
    struct ak_ledger *l = NULL;
    struct ak_agent_flags f;
    if (ak_ledger_open(state_dir, &l) != AK_OK)
        return 1;
    enum ak_err err = ak_ledger_agent_get(l, agent, &f);
    if (err == AK_ERR_NOTFOUND) {
        memset(&f, 0, sizeof f);
        err = AK_OK;
    }
    if (err == AK_OK)
        printf("suspended=%d manual=%d reason=%s\n", f.suspended, f.manual, f.reason);
    ak_ledger_close(l);
    return err == AK_OK ? 0 : 1;
}

static void fill_event(const struct fill_opts *o, struct ak_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ak_event_new_id(ev->event_id);
    ev->ts_ms = ak_now_ms();
    snprintf(ev->agent, sizeof ev->agent, "%s", o->agent);
    ev->provider = AK_PROV_OPENAI;
    snprintf(ev->host, sizeof ev->host, "api.openai.com");
    snprintf(ev->operation, sizeof ev->operation, "chat");
    snprintf(ev->model, sizeof ev->model, "gpt-4o-mini");
    bool allowed = o->decision == AK_DEC_ALLOWED;
    ev->usage.input_tokens = allowed ? FILL_TOKENS_IN : 0;
    ev->usage.output_tokens = allowed ? FILL_TOKENS_OUT : 0;
    ev->cost_micros = allowed ? o->cost : 0;
    ev->cost_source = AK_COST_USAGE;
    ev->status = allowed ? FILL_STATUS_OK : FILL_STATUS_REFUSED;
    ev->decision = o->decision;
    if (o->reason)
        snprintf(ev->reason, sizeof ev->reason, "%s", o->reason);
    ev->duration_ms = FILL_DURATION_MS;
    ev->pid = (int)getpid();
    snprintf(ev->exe, sizeof ev->exe, "/usr/bin/akfill");
}

static int fill_main(const struct fill_opts *o)
{
    struct ak_ledger *l = NULL;
    int rc = 1;
    struct ak_budget_ref refs[2] = {
        { .scope = AK_SCOPE_AGENT, .name = o->agent, .type = o->type, .limit_micros = o->limit },
        { .scope = AK_SCOPE_SHARED, .name = o->shared, .type = o->shared_type, .limit_micros = -1 },
    };
    if (ak_ledger_open(o->state_dir, &l) != AK_OK) {
        fprintf(stderr, "akfill: cannot open the ledger in %s\n", o->state_dir);
        return 1;
    }
    for (long i = 0; i < o->count; i++) {
        struct ak_event ev;
        fill_event(o, &ev);
        char *json = ak_event_to_json(&ev);
        if (!json)
            goto out;
        bool allowed = o->decision == AK_DEC_ALLOWED;
        struct ak_commit c = { .agent = o->agent, .budgets = refs, .n_budgets = allowed ? (o->shared ? 2 : 1) : 0,
                               .cost_micros = ev.cost_micros, .count_call = allowed,
                               .event_json = json, .event_len = strlen(json), .now_ms = ev.ts_ms };
        uint64_t seq = 0;
        enum ak_err err = ak_ledger_commit(l, &c, &seq);
        if (err == AK_OK)
            printf("%s\n", json);
        free(json);
        if (err != AK_OK) {
            fprintf(stderr, "akfill: commit: %s\n", ak_strerror(err));
            goto out;
        }
    }
    rc = 0;
out:
    ak_ledger_close(l);
    if (rc == 0 && o->poke)
        ak_notify_collector(o->state_dir);
    return rc;
}

int main(int argc, char **argv)
{
    struct fill_opts o = { .decision = AK_DEC_ALLOWED, .limit = -1, .poke = true };
    if (argc == 4 && strcmp(argv[1], "--flags") == 0)
        return flags_main(argv[2], argv[3]);
    if (argc < 5)
        goto usage;
    o.state_dir = argv[1];
    o.agent = argv[2];
    o.count = strtol(argv[3], NULL, 10);
    if (!ak_usd_parse(argv[4], &o.cost))
        goto usage;
    for (int i = 5; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-poke") == 0) {
            o.poke = false;
            continue;
        }
        if (!v)
            goto usage;
        i++;
        if (strcmp(a, "--decision") == 0 && ak_decision_parse(v, &o.decision))
            continue;
        if (strcmp(a, "--reason") == 0)
            o.reason = v;
        else if (strcmp(a, "--type") == 0 && parse_type(v, &o.type))
            continue;
        else if (strcmp(a, "--shared-type") == 0 && parse_type(v, &o.shared_type))
            continue;
        else if (strcmp(a, "--limit") == 0 && ak_usd_parse(v, &o.limit))
            continue;
        else if (strcmp(a, "--shared") == 0)
            o.shared = v;
        else
            goto usage;
    }
    return fill_main(&o);
usage:
    fprintf(stderr, "usage: akfill STATE_DIR AGENT COUNT COST_USD [options] | akfill --flags STATE_DIR AGENT\n");
    return 2;
}
