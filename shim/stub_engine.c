/*
 * stub_engine.c - loads the metering engine (libakengine.so) on the first connection that needs
 * it, once per process. Looked for beside the stub itself (the build tree, or an installed
 * PREFIX/lib/agentkavach), then in AK_LIBDIR. Any failure is logged once and leaves the stub a
 * pure pass-through (the host program never notices), unless the config says on_error: closed:
 * then connections to the built-in LLM hosts are refused (the stub reads that one line itself).
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

#ifndef AK_SYSCONFDIR
#define AK_SYSCONFDIR "/etc/agentkavach"
#endif
#define CONFIG_FILE "agentkavach.yaml"
#define ON_ERROR_KEY "on_error:"
#define ON_ERROR_CLOSED "closed"

static struct {
    pthread_once_t once;
    const struct ak_engine_api *api;
    bool load_failed;             /* not found or not this shim's: on_error decides */
    bool closed;                  /* ...and the config says on_error: closed */
} eng = { .once = PTHREAD_ONCE_INIT };

/* Without the engine there is no YAML parser: the config's top-level `on_error:` line is
 * read as text (a value in quotes or with a comment after it included). */
static bool config_says_closed(void)
{
    const char *path = getenv("AGENTKAVACH_CONFIG");
    FILE *f = fopen(path && *path ? path : AK_SYSCONFDIR "/" CONFIG_FILE, "re");
    char line[256];
    bool closed = false;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, ON_ERROR_KEY, sizeof ON_ERROR_KEY - 1) != 0)
            continue;
        const char *v = line + sizeof ON_ERROR_KEY - 1;
        while (*v == ' ' || *v == '\t' || *v == '"' || *v == '\'')
            v++;
        closed = strncmp(v, ON_ERROR_CLOSED, sizeof ON_ERROR_CLOSED - 1) == 0;
    }
    if (f)
        fclose(f);
    return closed;
}

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

static void engine_failed(void)
{
    eng.load_failed = true;
    eng.closed = config_says_closed();
    if (eng.closed)
        stub_log(STUB_LOG_ERROR, "on_error is closed: LLM connections are refused");
}

static void engine_load(void)
{
    void *h = engine_open();
    if (!h) {
        engine_failed();
        return;
    }
    ak_engine_get_fn get = (ak_engine_get_fn)dlsym(h, AK_ENGINE_SYMBOL);
    const struct ak_engine_api *api = get ? get() : NULL;
    if (!api || api->abi != AK_ENGINE_ABI) {
        stub_log(STUB_LOG_ERROR, "%s does not match this shim; LLM calls pass through unmetered",
                 ENGINE_FILE);
        engine_failed();
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

bool stub_engine_fail_closed(void)
{
    pthread_once(&eng.once, engine_load);
    return eng.load_failed && eng.closed;
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
