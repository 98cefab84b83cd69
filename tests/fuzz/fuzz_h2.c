/*
 * fuzz_h2.c - the HTTP/2 path (engine/h2.c behind econn.c): a client's frames and a server's
 * frames, interleaved in arbitrary pieces, through the engine API as the stub calls it, with
 * a config whose guardrail refuses some calls (so refusals, PINGs and injected frames run).
 * Properties: every action is one the stub knows; while no refusal happened, the client reads
 * exactly a prefix of the server's bytes (byte-exact).
 * Input: byte 0 = split seed, bytes 1-2 = length of the client's part (after the preface),
 * then the client's part, then the server's part.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "engine/engine_api.h"
#include "engine/h2.h"
#include "tests/fuzz/fuzz_util.h"

const struct ak_engine_api *ak_engine_get(void);

static const struct ak_engine_api *api;
static char dir[] = "/tmp/ak-fuzz-h2.XXXXXX";

static void dir_remove(void)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_h2: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char cfg[128], st[128];
    if (!mkdtemp(dir))
        abort();
    atexit(dir_remove);
    snprintf(cfg, sizeof cfg, "%s/ak.yaml", dir);
    snprintf(st, sizeof st, "%s/state", dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        abort();
    fprintf(f, "version: 1\nstate_dir: %s\nmode: enforce\nhttp2: native\n"
               "defaults:\n  budget: { type: total, limit: 1000 }\n"
               "  guardrails: { max_tokens_per_call: 100 }\n", st);
    fclose(f);
    setenv("AGENTKAVACH_CONFIG", cfg, 1);
    setenv("AGENTKAVACH_STATE_DIR", st, 1);
    setenv("AGENTKAVACH_AGENT", "fuzz-h2", 1);
    setenv("AGENTKAVACH_LOG", "off", 1);
    api = ak_engine_get();
    if (api->init() != 0)
        abort();
    return 0;
}

struct side { const uint8_t *p; size_t n, off; };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = { data, size };
    struct fz_split sp = { fz_byte(&in) };
    size_t cl = (size_t)fz_byte(&in) << 8;
    cl |= fz_byte(&in);
    cl = cl < in.n ? cl : in.n;
    struct ak_buf cli = { 0 }, app = { 0 };
    ak_buf_append(&cli, H2_PREFACE_STR, H2_PREFACE_LEN, 0);
    ak_buf_append(&cli, in.p, cl, 0);
    struct side c = { cli.data, cli.len, 0 }, s = { in.p + cl, in.n - cl, 0 };
    struct ak_econn *ec = api->conn_new("api.openai.com", 443, AK_PROV_OPENAI);
    FZ_CHECK(ec != NULL, "connection allocates");
    bool refused = false, killed = false;
    while (!killed && (c.off < c.n || s.off < s.n)) {
        bool w = s.off >= s.n || (c.off < c.n && (sp.s & 16));
        struct side *d = w ? &c : &s;
        size_t k = fz_piece(&sp, d->n - d->off);
        if (w) {
            struct ak_wr_result r;
            api->on_write(ec, d->p + d->off, k, &r);
            FZ_CHECK(r.action <= AK_WR_KILL && r.action != AK_WR_REFUSE, "a write action h2 uses");
            if (r.action == AK_WR_SEND) {
                refused |= memmem(r.out, r.out_len, "AKrefuse", 8) != NULL;
                api->on_sent(ec);
            }
            killed = r.action == AK_WR_KILL;
        } else {
            struct ak_rd_result r;
            api->on_read(ec, d->p + d->off, k, &r);
            FZ_CHECK(r.action == AK_RD_PASS || r.action == AK_RD_REPLACE || r.action == AK_RD_CUT,
                     "a read action");
            if (r.action == AK_RD_PASS)
                ak_buf_append(&app, d->p + d->off, k, 0);
            else if (r.action == AK_RD_REPLACE)
                ak_buf_append(&app, r.out, r.out_len, 0);
        }
        d->off += k;
    }
    if (!refused)
        FZ_CHECK(app.len <= s.off && (!app.len || memcmp(app.data, s.p, app.len) == 0),
                 "without a refusal the client reads a prefix of the server's bytes");
    api->on_eof(ec);
    api->conn_free(ec);
    ak_buf_free(&cli);
    ak_buf_free(&app);
    return 0;
}
