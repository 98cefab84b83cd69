/*
 * prices_default.c - where a process's price table comes from.
 *
 * Without `pricing.file` it is the table compiled in at build time from pricing/prices.yaml
 * (build/gen/prices_table.c, written by tools/prices_gen.c through the same YAML loader): no
 * file is opened and nothing is parsed, because the first metered call of every short-lived
 * agent process would otherwise pay for a libyaml parse of the whole table (8 M instructions,
 * most of that call's cost). With `pricing.file` the configured file is read; when its bytes
 * are those the table was compiled from (the installed copy, say), the compiled table is used
 * without parsing, else the file is parsed with libyaml (pricing.c). Config `pricing.overrides`
 * always apply on top, at look-up.
 */
#include "pricing/pricing.h"
#include "pricing/prices_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATH_BUF        4096
#define SOURCE_MAX      (4u << 20)         /* larger files are never the compiled source */

const struct ak_prices *ak_prices_builtin(void)
{
    return &ak_prices_compiled;
}

/* Does the file hold exactly the bytes the compiled table was generated from? */
static bool is_compiled_source(const char *path)
{
    bool same = false;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f)
        return false;
    if (fseek(f, 0, SEEK_END) != 0)
        goto out;
    long len = ftell(f);
    if (len < 0 || (unsigned long)len != ak_prices_compiled_source_len || len > SOURCE_MAX)
        goto out;
    rewind(f);
    buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
        goto out;
    same = ak_prices_source_hash(buf, (size_t)len) == ak_prices_compiled_source_hash;
out:
    free(buf);
    fclose(f);
    return same;
}

static bool file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

/* cfg->pricing_file as given; when relative and absent, relative to the config file. */
static void resolve_cfg_file(const struct ak_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s", cfg->pricing_file);
    if (cfg->pricing_file[0] == '/' || file_exists(buf) || !cfg->path)
        return;
    const char *slash = strrchr(cfg->path, '/');
    if (!slash)
        return;
    char alt[PATH_BUF];
    int n = snprintf(alt, sizeof alt, "%.*s/%s", (int)(slash - cfg->path), cfg->path,
                     cfg->pricing_file);
    if (n > 0 && (size_t)n < sizeof alt && file_exists(alt))
        snprintf(buf, len, "%s", alt);
}

enum ak_err ak_prices_load_default(const struct ak_config *cfg, struct ak_prices **out,
                                   char *err, size_t errlen)
{
    char path[PATH_BUF];
    if (!out)
        return AK_ERR_INVAL;
    if (cfg && cfg->pricing_file && cfg->pricing_file[0]) {
        resolve_cfg_file(cfg, path, sizeof path);
        if (!is_compiled_source(path))
            return ak_prices_load(path, out, err, errlen);
    }
    /* the compiled table is never written through *out; ak_prices_free ignores it */
    *out = (struct ak_prices *)&ak_prices_compiled;
    return AK_OK;
}
