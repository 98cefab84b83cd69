/*
 * exp_jsonl.c - the JSONL audit-log exporter: appends each event record, byte for byte as
 * stored in the ledger, as one line of exporters.jsonl.path (default <state_dir>/events.jsonl).
 *
 * Never a partial line: a batch is written as a whole, and when a write fails or comes up
 * short the file is truncated back to where the batch began, so the retry starts clean.
 * Rotation by size: before a batch that would take the file above jsonl_max_bytes, the file
 * moves to .1, .1 to .2 ... and the oldest beyond jsonl_keep is deleted.
 * fsync policy (jsonl_fsync):
 *   batch  (default) one fsync after each batch, before the cursor moves: a crash loses
 *          nothing that the ledger counts as delivered;
 *   always one write and one fsync per record: slower, the same guarantee at record grain;
 *   never  leaves flushing to the kernel: fastest, a power cut can lose the tail.
 * A file moved away by an outside logrotate is noticed (inode change) and reopened. When the
 * file is opened, a partial last line left by a killed process is cut off (jsonl_repair_tail).
 */
#include "collector/exporter.h"
#include "collector/logrl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSONL_DEFAULT_NAME "events.jsonl"
#define JSONL_DEFAULT_MAX_BYTES (64LL * 1024 * 1024)
#define JSONL_DEFAULT_KEEP 5
#define JSONL_FILE_MODE 0640
#define JSONL_DIR_MODE 0750
#define JSONL_TAIL_CHUNK 4096

enum jsonl_sync { JSONL_SYNC_BATCH = 0, JSONL_SYNC_ALWAYS, JSONL_SYNC_NEVER };

struct jsonl {
    char path[PATH_MAX];
    int64_t max_bytes;
    int keep;
    enum jsonl_sync sync;
    int fd;
    dev_t dev;
    ino_t ino;
};

static enum jsonl_sync jsonl_sync_parse(const char *s)
{
    if (s && strcmp(s, "always") == 0)
        return JSONL_SYNC_ALWAYS;
    if (s && strcmp(s, "never") == 0)
        return JSONL_SYNC_NEVER;
    return JSONL_SYNC_BATCH;
}

static void jsonl_close(struct jsonl *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

/* Creates the parent directory when it is missing (one level, like a log dir). */
static void jsonl_make_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = '\0';
    if (mkdir(dir, JSONL_DIR_MODE) != 0 && errno != EEXIST)
        akc_log_limited(AK_LOG_WARN, "jsonl-mkdir", "jsonl: cannot create %s: %s", dir,
                        strerror(errno));
}

/* A process killed in the middle of a write can leave a partial last line; its batch was
 * never acknowledged (the cursor did not move), so the tail is cut back to the last
 * newline and the batch is written again whole. */
static enum ak_err jsonl_repair_tail(int fd, off_t size)
{
    char buf[JSONL_TAIL_CHUNK];
    off_t end = size;
    while (end > 0) {
        off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - start), start);
        if (n != (ssize_t)(end - start))
            return AK_ERR_IO;
        for (ssize_t i = n - 1; i >= 0; i--)
            if (buf[i] == '\n') {
                off_t keep = start + i + 1;
                if (keep == size)
                    return AK_OK;
                akc_log_limited(AK_LOG_WARN, "jsonl-tail", "jsonl: dropping a partial last line "
                                "(%lld bytes) left by an interrupted write", (long long)(size - keep));
                return ftruncate(fd, keep) == 0 ? AK_OK : AK_ERR_IO;
            }
        end = start;
    }
    return ftruncate(fd, 0) == 0 ? AK_OK : AK_ERR_IO;
}

static enum ak_err jsonl_open(struct jsonl *j)
{
    struct stat st;
    if (j->fd >= 0) {
        /* still the file at our path? (an outside logrotate may have moved it) */
        if (stat(j->path, &st) == 0 && st.st_dev == j->dev && st.st_ino == j->ino)
            return AK_OK;
        jsonl_close(j);
    }
    int fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, JSONL_FILE_MODE);
    if (fd < 0 && errno == ENOENT) {
        jsonl_make_parent(j->path);
        fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, JSONL_FILE_MODE);
    }
    if (fd < 0)
        return AK_ERR_IO;
    if (fstat(fd, &st) != 0 || jsonl_repair_tail(fd, st.st_size) != AK_OK) {
        close(fd);
        return AK_ERR_IO;
    }
    j->fd = fd;
    j->dev = st.st_dev;
    j->ino = st.st_ino;
    return AK_OK;
}

/* events.jsonl -> .1 -> .2 ... ; the one beyond `keep` is removed. */
static enum ak_err jsonl_rotate(struct jsonl *j)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    jsonl_close(j);
    snprintf(to, sizeof to, "%s.%d", j->path, j->keep);
    if (unlink(to) != 0 && errno != ENOENT)
        return AK_ERR_IO;
    for (int i = j->keep - 1; i >= 1; i--) {
        snprintf(from, sizeof from, "%s.%d", j->path, i);
        snprintf(to, sizeof to, "%s.%d", j->path, i + 1);
        if (rename(from, to) != 0 && errno != ENOENT)
            return AK_ERR_IO;
    }
    snprintf(to, sizeof to, "%s.1", j->path);
    if (rename(j->path, to) != 0 && errno != ENOENT)
        return AK_ERR_IO;
    return jsonl_open(j);
}

static bool jsonl_write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool jsonl_write_batch(struct jsonl *j, const struct akc_batch *b)
{
    if (j->sync != JSONL_SYNC_ALWAYS) {
        if (!jsonl_write_all(j->fd, b->bytes.data, b->bytes.len))
            return false;
        return j->sync == JSONL_SYNC_NEVER || fsync(j->fd) == 0;
    }
    for (size_t i = 0; i < b->n; i++)
        if (!jsonl_write_all(j->fd, b->bytes.data + b->recs[i].off, b->recs[i].len + 1) ||
            fsync(j->fd) != 0)
            return false;
    return true;
}

static enum akc_outcome jsonl_deliver(struct akc_exporter *e, const struct akc_batch *b)
{
    struct jsonl *j = e->impl;
    struct stat st;
    if (jsonl_open(j) != AK_OK || fstat(j->fd, &st) != 0)
        goto fail;
    if (st.st_size > 0 && st.st_size + (int64_t)b->bytes.len > j->max_bytes) {
        if (jsonl_rotate(j) != AK_OK || fstat(j->fd, &st) != 0)
            goto fail;
    }
    if (!jsonl_write_batch(j, b)) {
        int saved = errno;
        if (ftruncate(j->fd, st.st_size) != 0) /* drop the partial batch */
            akc_log_limited(AK_LOG_ERROR, "jsonl-truncate", "jsonl: %s: cannot truncate a partial "
                            "batch: %s", j->path, strerror(errno));
        errno = saved;
        goto fail;
    }
    akc_log_clear("jsonl-write");
    return AKC_DELIVERED;
fail:
    akc_log_limited(AK_LOG_ERROR, "jsonl-write", "jsonl: %s: %s (will retry)", j->path,
                    strerror(errno));
    jsonl_close(j);
    return AKC_RETRY;
}

static bool jsonl_check(struct akc_exporter *e, char *msg, size_t len)
{
    struct jsonl *j = e->impl;
    if (jsonl_open(j) != AK_OK) {
        snprintf(msg, len, "cannot open %s for appending: %s", j->path, strerror(errno));
        return false;
    }
    snprintf(msg, len, "appending to %s", j->path);
    return true;
}

static void jsonl_destroy(struct akc_exporter *e)
{
    struct jsonl *j = e->impl;
    if (j)
        jsonl_close(j);
    free(j);
    free(e);
}

static const struct akc_exporter_ops jsonl_ops = {
    .kind = "jsonl", .deliver = jsonl_deliver, .check = jsonl_check, .destroy = jsonl_destroy,
};

enum ak_err akc_jsonl_new(const struct ak_config *cfg, const char *state_dir,
                          struct akc_exporter **out)
{
    struct akc_exporter *e = calloc(1, sizeof *e);
    struct jsonl *j = calloc(1, sizeof *j);
    if (!e || !j) {
        free(e);
        free(j);
        return AK_ERR_NOMEM;
    }
    int n = cfg->jsonl_path && *cfg->jsonl_path
                ? snprintf(j->path, sizeof j->path, "%s", cfg->jsonl_path)
                : snprintf(j->path, sizeof j->path, "%s/%s", state_dir, JSONL_DEFAULT_NAME);
    if (n <= 0 || (size_t)n >= sizeof j->path) {
        free(e);
        free(j);
        return AK_ERR_INVAL;
    }
    j->max_bytes = cfg->jsonl_max_bytes > 0 ? cfg->jsonl_max_bytes : JSONL_DEFAULT_MAX_BYTES;
    j->keep = cfg->jsonl_keep > 0 ? cfg->jsonl_keep : JSONL_DEFAULT_KEEP;
    j->sync = jsonl_sync_parse(cfg->jsonl_fsync);
    j->fd = -1;
    snprintf(e->name, sizeof e->name, "jsonl");
    e->ops = &jsonl_ops;
    e->impl = j;
    *out = e;
    return AK_OK;
}
