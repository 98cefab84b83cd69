/*
 * exporter.c - builds the list of exporters from the configuration (see exporter.h).
 */
#include "collector/exporter.h"

#include <stdlib.h>

#define EXPORTERS_MAX 2

enum ak_err akc_exporters_build(const struct ak_config *cfg, const char *state_dir,
                                struct akc_exporter ***out, size_t *n)
{
    enum ak_err err = AK_ERR_NOMEM;
    size_t k = 0;
    struct akc_exporter **v = calloc(EXPORTERS_MAX, sizeof *v);
    if (!v)
        goto out;
    err = akc_jsonl_new(cfg, state_dir, &v[k]);
    if (err != AK_OK)
        goto out;
    k++;
    if (cfg->otlp_endpoint && *cfg->otlp_endpoint) {
        err = akc_otlp_new(cfg, &v[k]);
        if (err != AK_OK)
            goto out;
        k++;
    }
    *out = v;
    *n = k;
    v = NULL;
    k = 0;
out:
    akc_exporters_free(v, k);
    return err;
}

void akc_exporters_free(struct akc_exporter **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i])
            v[i]->ops->destroy(v[i]);
    free(v);
}
