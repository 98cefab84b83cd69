/*
 * stub_engine.c - loads the metering engine (libakengine.so) on the first connection that needs
 * it, once per process. Looked for beside the stub itself (the build tree, or an installed
 * PREFIX/lib/agentkavach), then in AK_LIBDIR. Any failure is logged once and leaves the stub a
 * pure pass-through: the host program never notices.
 */
#include "shim/stub.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#ifndef AK_LIBDIR
#define AK_LIBDIR "/usr/local/lib/agentkavach"
#endif
#define ENGINE_FILE "libakengine.so"

typedef void *(*dlopen_fn)(const char *, int);
void *stub_real_dlopen(const char *file, int mode);      /* stub_dlopen.c */

static struct {
    pthread_once_t once;
    const struct ak_engine_api *api;
} eng = { .once = PTHREAD_ONCE_INIT };

static STUB_NOINLINE void *engine_open(void)
{
    char path[PATH_MAX], first_error[256] = "";
    Dl_info info;
    void *h = NULL;
    if (dladdr((void *)&engine_open, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            int n = snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname),
                             info.dli_fname, ENGINE_FILE);
            if (n > 0 && (size_t)n < sizeof path)
                h = stub_real_dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!h)
                snprintf(first_error, sizeof first_error, "%s", dlerror());
        }
    }
    if (!h)
        h = stub_real_dlopen(AK_LIBDIR "/" ENGINE_FILE, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        stub_log(STUB_LOG_ERROR, "cannot load %s (%s%s%s); LLM calls pass through unmetered",
                 ENGINE_FILE, first_error, first_error[0] ? "; " : "", dlerror());
    return h;
}

static void engine_load(void)
{
    void *h = engine_open();
    if (!h)
        return;
    ak_engine_get_fn get = (ak_engine_get_fn)dlsym(h, AK_ENGINE_SYMBOL);
    const struct ak_engine_api *api = get ? get() : NULL;
    if (!api || api->abi != AK_ENGINE_ABI) {
        stub_log(STUB_LOG_ERROR, "%s does not match this shim; LLM calls pass through unmetered",
                 ENGINE_FILE);
        return;
    }
    if (api->init() != 0)
        return;                   /* the engine logged why */
    eng.api = api;
}

const struct ak_engine_api *stub_engine(void)
{
    return eng.api;
}

const struct ak_engine_api *stub_engine_load(void)
{
    pthread_once(&eng.once, engine_load);
    return eng.api;
}

int stub_engine_classify(const char *host, int port)
{
    pthread_once(&eng.once, engine_load);
    return eng.api ? eng.api->classify(host, port) : 0;
}
