/*
 * config_read.h - internal to the config module (core/config*.c): reading one YAML document
 * with libyaml into typed fields, with "FILE:LINE: key.path: what is wrong" refusals and
 * ${VAR} interpolation. A section of the config is described by a table of cfg_field (key,
 * kind, offset into the target struct); cfg_walk() refuses unknown and duplicate keys, checks
 * required ones and fills the struct. Not part of the public API.
 */
#ifndef AK_CONFIG_READ_H
#define AK_CONFIG_READ_H

#include <stddef.h>
#include <yaml.h>

#include "core/config.h"

#define CFG_PATH_MAX     256     /* longest key path kept in messages ("agents.x.alerts[2].to") */
#define CFG_VERSION      1       /* the only `version:` this build reads */
#define CFG_KILL_CHANNEL "kill"  /* the built-in channel: suspends the agent */

struct cfg_reader {
    yaml_document_t doc;
    bool have_doc;
    const char *file;
    char *err;
    size_t errlen;
    struct ak_config *cfg;   /* the config being built (sections look earlier ones up) */
};

/* Parses `file` into r->doc. AK_ERR_IO when it cannot be opened, AK_ERR_CONFIG on a syntax
 * error; both with the message in r->err. */
enum ak_err cfg_open(struct cfg_reader *r, const char *file);
void cfg_close(struct cfg_reader *r);
yaml_node_t *cfg_root(struct cfg_reader *r);

/* Writes "FILE:LINE: path: <fmt>" into r->err and returns AK_ERR_CONFIG. */
enum ak_err cfg_fail(struct cfg_reader *r, const yaml_node_t *at, const char *path,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Writes "out of memory" and returns AK_ERR_NOMEM. */
enum ak_err cfg_nomem(struct cfg_reader *r);

void cfg_path_key(char out[CFG_PATH_MAX], const char *parent, const char *key);
void cfg_path_index(char out[CFG_PATH_MAX], const char *parent, size_t i);

/* A plain empty / "~" / "null" scalar: a key given without a value. */
bool cfg_is_null(const yaml_node_t *n);

/* Scalar readers: ${VAR} is replaced from the environment (unset = ""); each refuses a
 * non-scalar and writes the value only on success. */
enum ak_err cfg_read_text(struct cfg_reader *r, yaml_node_t *n, const char *path, char **out);
enum ak_err cfg_read_str(struct cfg_reader *r, yaml_node_t *n, const char *path, char **dst);
enum ak_err cfg_read_int(struct cfg_reader *r, yaml_node_t *n, const char *path, int64_t min,
                         int64_t max, int64_t *dst);
enum ak_err cfg_read_double(struct cfg_reader *r, yaml_node_t *n, const char *path, double *dst);
/* names is NULL-terminated; *dst is the index of the match. */
enum ak_err cfg_read_choice(struct cfg_reader *r, yaml_node_t *n, const char *path,
                            const char *const *names, int *dst);
enum ak_err cfg_read_str_list(struct cfg_reader *r, yaml_node_t *n, const char *path,
                              char ***list, size_t *count);
/* Item i of a list node. */
yaml_node_t *cfg_seq_item(struct cfg_reader *r, yaml_node_t *seq, size_t i);

/* ---- tables of fields ---- */

enum cfg_kind {
    CFG_STR,      /* char * (replaced, previous value freed) */
    CFG_INT,      /* int */
    CFG_I64,      /* int64_t */
    CFG_U32,      /* uint32_t */
    CFG_USD,      /* int64_t micro-USD from a USD number */
    CFG_DOUBLE,   /* double, >= 0 */
    CFG_BOOL,     /* bool */
    CFG_CHOICE,   /* an enum (int-sized) from .names */
    CFG_MAP,      /* a nested map read with the .sub table into the target */
    CFG_LIST,     /* a list of maps: cfg_read_list(.items), owner = the target */
    CFG_NAMED,    /* a map of named maps: cfg_read_named(.items), owner = the target */
    CFG_FN,       /* .fn(target) does the work; off 0 hands it the whole obj */
    CFG_SKIP,     /* known key, read elsewhere */
};

struct cfg_reader;
struct cfg_items;
typedef enum ak_err (*cfg_field_fn)(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                    void *obj);

struct cfg_field {
    const char *key;
    enum cfg_kind kind;
    size_t off;                 /* offset of the target inside obj */
    bool required;
    int64_t min, max;           /* numbers; max 0 = the type's own maximum */
    const char *const *names;   /* CFG_CHOICE, NULL-terminated */
    cfg_field_fn fn;            /* CFG_FN */
    const struct cfg_field *sub; /* CFG_MAP */
    size_t n_sub;
    const struct cfg_items *items; /* CFG_LIST, CFG_NAMED */
};
#define CFG_SUB(table) .kind = CFG_MAP, .sub = (table), .n_sub = AK_ARRAY_LEN(table)

/* Reads a map (a null value counts as an empty map) whose keys must all be in fields; fields
 * are handled in table order, so a table lists what others depend on first. */
enum ak_err cfg_walk(struct cfg_reader *r, yaml_node_t *map, const char *path,
                     const struct cfg_field *fields, size_t n_fields, void *obj);
/* The value of `key` in a map, or NULL. */
yaml_node_t *cfg_map_get(struct cfg_reader *r, yaml_node_t *map, const char *key);

/* An array section, read by a CFG_LIST field (a list of maps: hosts, alerts...) or a
 * CFG_NAMED one (user-chosen names to maps: agents, channels, shared budgets; each name is
 * interpolated and stored before its item is read; empty and duplicate names are refused). */
struct cfg_items {
    size_t elem_size;
    /* Allocates len zeroed items, presets them, attaches them (and len) to owner; NULL = OOM. */
    void *(*alloc)(void *owner, size_t len);
    const struct cfg_field *fields;   /* each item's keys ... */
    size_t n_fields;
    cfg_field_fn read_item;           /* ... or this reads an item (obj = the item) */
    size_t name_off;                  /* named maps: offset of the item's char *name */
    const char *what;                 /* named maps: "agent" in "duplicate agent name" */
};

/* Shared inside the module: a listed agent starts as a deep copy of `defaults` (then its own
 * keys overwrite what it sets); freeing an alert list that is being replaced. */
enum ak_err cfg_agent_inherit(struct ak_agent_cfg *a, const struct ak_agent_cfg *defaults);
void cfg_alerts_free(struct ak_alert_rule *alerts, size_t n);

/* Shared inside the module: sets collector_socket to <state_dir>/collector.sock when unset. */
enum ak_err cfg_default_socket(struct ak_config *cfg);
/* Shared inside the module: the dashboard's token file and web dir when it is on. */
enum ak_err cfg_default_dashboard(struct ak_config *cfg);

#endif
