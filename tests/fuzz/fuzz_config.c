/*
 * fuzz_config.c - the YAML config loader (core/config*.c). Properties: a file is either
 * loaded (no message) or refused with one message that names the file; loading the same
 * bytes twice gives the same verdict and message; what loads has a state_dir and a mode.
 * Input: the file's bytes (given to the loader through a memfd path).
 */
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "tests/fuzz/fuzz_util.h"

static enum ak_err load(const char *path, char *err, size_t n)
{
    struct ak_config *cfg = NULL;
    err[0] = '\0';
    enum ak_err e = ak_config_load(path, &cfg, err, n);
    if (e == AK_OK) {
        FZ_CHECK(cfg != NULL && ak_config_state_dir(cfg) != NULL, "a loaded config is whole");
        ak_config_free(cfg);
    }
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("akcfg", 0);
    FZ_CHECK(fd >= 0, "memfd");
    FZ_CHECK(write(fd, data, size) == (ssize_t)size, "write");
    char path[64], e1[AK_CONFIG_ERRLEN], e2[AK_CONFIG_ERRLEN];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    enum ak_err a = load(path, e1, sizeof e1), b = load(path, e2, sizeof e2);
    close(fd);
    FZ_CHECK(a == b && strcmp(e1, e2) == 0, "the same verdict twice");
    if (a != AK_OK)
        FZ_CHECK(e1[0] != '\0' && strstr(e1, path) != NULL, "a refusal names the file");
    return 0;
}
