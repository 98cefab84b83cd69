/*
 * config_read.c - the config module's YAML reader: parses one document with libyaml, reads
 * scalars into typed fields (with ${VAR} interpolation), walks maps against tables of known
 * keys, and words every refusal as "FILE:LINE: key.path: what is wrong". It knows nothing of
 * agentkavach's sections; core/config_load.c does (see config_read.h).
 */
#include "core/config_read.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"

#define CFG_KEYLIST_MAX 200   /* room for "expected one of: ..." in an unknown-key message */

/* ---- errors and paths ---- */

static size_t node_line(const yaml_node_t *n)
{
    return n ? n->start_mark.line + 1 : 1;
}

enum ak_err cfg_fail(struct cfg_reader *r, const yaml_node_t *at, const char *path,
                     const char *fmt, ...)
{
    char what[AK_CONFIG_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "%s:%zu: %s: %s", r->file, node_line(at),
             path && *path ? path : "top level", what);
    return AK_ERR_CONFIG;
}

enum ak_err cfg_nomem(struct cfg_reader *r)
{
    snprintf(r->err, r->errlen, "%s: out of memory", r->file);
    return AK_ERR_NOMEM;
}

void cfg_path_key(char out[CFG_PATH_MAX], const char *parent, const char *key)
{
    if (parent && *parent)
        snprintf(out, CFG_PATH_MAX, "%.*s.%s", CFG_PATH_MAX / 2, parent, key);
    else
        snprintf(out, CFG_PATH_MAX, "%s", key);
}

void cfg_path_index(char out[CFG_PATH_MAX], const char *parent, size_t i)
{
    snprintf(out, CFG_PATH_MAX, "%.*s[%zu]", CFG_PATH_MAX / 2, parent, i);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a map";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a single value";
    }
}

/* ---- the document ---- */

static enum ak_err open_syntax_error(struct cfg_reader *r, const yaml_parser_t *p)
{
    snprintf(r->err, r->errlen, "%s:%zu: syntax error: %s%s%s%s", r->file,
             p->problem_mark.line + 1, p->problem ? p->problem : "malformed YAML",
             p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
    return AK_ERR_CONFIG;
}

/* A second document in the file is refused rather than silently ignored. */
static enum ak_err open_refuse_more(struct cfg_reader *r, yaml_parser_t *p)
{
    yaml_document_t next;
    if (!yaml_parser_load(p, &next))
        return open_syntax_error(r, p);
    yaml_node_t *root = yaml_document_get_root_node(&next);
    size_t line = root ? root->start_mark.line + 1 : 0;
    yaml_document_delete(&next);
    if (!root)
        return AK_OK;
    snprintf(r->err, r->errlen, "%s:%zu: top level: only one YAML document is allowed",
             r->file, line);
    return AK_ERR_CONFIG;
}

enum ak_err cfg_open(struct cfg_reader *r, const char *file)
{
    enum ak_err rc = AK_OK;
    yaml_parser_t parser;
    bool have_parser = false;
    r->file = file;
    FILE *f = fopen(file, "r");
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        f = NULL;
        errno = EISDIR;
    }
    if (!f) {
        snprintf(r->err, r->errlen, "%s: cannot open: %s", file, strerror(errno));
        return AK_ERR_IO;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = cfg_nomem(r);
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &r->doc)) {
        rc = parser.error == YAML_MEMORY_ERROR ? cfg_nomem(r) : open_syntax_error(r, &parser);
        goto out;
    }
    r->have_doc = true;
    rc = open_refuse_more(r, &parser);
out:
    if (have_parser)
        yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

void cfg_close(struct cfg_reader *r)
{
    if (r->have_doc)
        yaml_document_delete(&r->doc);
    r->have_doc = false;
}

yaml_node_t *cfg_root(struct cfg_reader *r)
{
    return r->have_doc ? yaml_document_get_root_node(&r->doc) : NULL;
}

bool cfg_is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < AK_ARRAY_LEN(nulls); i++)
        if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
            return true;
    return false;
}

/* ---- ${VAR} ---- */

/* Length of a valid variable name at s ([A-Za-z_][A-Za-z0-9_]*), 0 if none. */
static size_t var_name_len(const char *s)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

static enum ak_err cfg_interpolate(const char *text, char **out)
{
    enum ak_err rc = AK_OK;
    struct ak_buf b = { 0 };
    const char *p = text;
    while (*p && rc == AK_OK) {
        size_t name_len = p[0] == '$' && p[1] == '{' ? var_name_len(p + 2) : 0;
        if (name_len == 0 || p[2 + name_len] != '}') {
            rc = ak_buf_append(&b, p, 1, 0);   /* not a ${NAME}: kept as written */
            p++;
            continue;
        }
        char name[CFG_PATH_MAX];
        snprintf(name, sizeof name, "%.*s", (int)name_len, p + 2);
        const char *value = getenv(name);
        if (value)
            rc = ak_buf_append(&b, value, strlen(value), 0);
        p += 2 + name_len + 1;
    }
    if (rc == AK_OK)
        rc = ak_buf_append(&b, "", 1, 0);
    if (rc != AK_OK) {
        ak_buf_free(&b);
        return rc;
    }
    *out = (char *)b.data;
    return AK_OK;
}

/* ---- scalars ---- */

enum ak_err cfg_read_text(struct cfg_reader *r, yaml_node_t *n, const char *path, char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return cfg_fail(r, n, path, "must be a single value, not %s", node_kind(n));
    enum ak_err rc = cfg_interpolate((const char *)n->data.scalar.value, out);
    return rc == AK_OK ? AK_OK : cfg_nomem(r);
}

enum ak_err cfg_read_str(struct cfg_reader *r, yaml_node_t *n, const char *path, char **dst)
{
    char *s = NULL;
    enum ak_err rc = cfg_read_text(r, n, path, &s);
    if (rc != AK_OK)
        return rc;
    free(*dst);
    *dst = s;
    return AK_OK;
}

static enum ak_err check_range(struct cfg_reader *r, yaml_node_t *n, const char *path,
                               int64_t v, int64_t min, int64_t max)
{
    if (v < min)
        return cfg_fail(r, n, path, "must be >= %lld", (long long)min);
    if (v > max)
        return cfg_fail(r, n, path, "must be <= %lld", (long long)max);
    return AK_OK;
}

enum ak_err cfg_read_int(struct cfg_reader *r, yaml_node_t *n, const char *path, int64_t min,
                         int64_t max, int64_t *dst)
{
    char *s = NULL, *end = NULL;
    enum ak_err rc = cfg_read_text(r, n, path, &s);
    if (rc != AK_OK)
        return rc;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        rc = cfg_fail(r, n, path, "must be a whole number, not '%s'", s);
    else if (errno == ERANGE)
        rc = cfg_fail(r, n, path, "'%s' is out of range", s);
    else
        rc = check_range(r, n, path, v, min, max);
    if (rc == AK_OK)
        *dst = v;
    free(s);
    return rc;
}

static enum ak_err cfg_read_usd(struct cfg_reader *r, yaml_node_t *n, const char *path,
                                int64_t *dst)
{
    char *s = NULL;
    int64_t micros = 0;
    enum ak_err rc = cfg_read_text(r, n, path, &s);
    if (rc != AK_OK)
        return rc;
    if (s[0] == '-')
        rc = cfg_fail(r, n, path, "must be >= 0");
    else if (!ak_usd_parse(s, &micros))
        rc = cfg_fail(r, n, path, "must be an amount in USD (a number), not '%s'", s);
    if (rc == AK_OK)
        *dst = micros;
    free(s);
    return rc;
}

enum ak_err cfg_read_double(struct cfg_reader *r, yaml_node_t *n, const char *path, double *dst)
{
    char *s = NULL, *end = NULL;
    enum ak_err rc = cfg_read_text(r, n, path, &s);
    if (rc != AK_OK)
        return rc;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        rc = cfg_fail(r, n, path, "must be a number, not '%s'", s);
    else if (v < 0)
        rc = cfg_fail(r, n, path, "must be >= 0");
    if (rc == AK_OK)
        *dst = v;
    free(s);
    return rc;
}

static enum ak_err cfg_read_bool(struct cfg_reader *r, yaml_node_t *n, const char *path,
                                 bool *dst)
{
    static const char *const yes[] = { "true", "yes", "on", NULL };
    static const char *const no[] = { "false", "no", "off", NULL };
    char *s = NULL;
    enum ak_err rc = cfg_read_text(r, n, path, &s);
    if (rc != AK_OK)
        return rc;
    rc = AK_ERR_NOTFOUND;
    for (size_t i = 0; yes[i] && rc != AK_OK; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *dst = strcasecmp(s, yes[i]) == 0;
            rc = AK_OK;
        }
    }
    if (rc != AK_OK)
        rc = cfg_fail(r, n, path, "must be true or false, not '%s'", s);
    free(s);
    return rc;
}

static void join_names(char *out, size_t len, const char *const *names)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; names[i] && used < len; i++) {
        int w = snprintf(out + used, len - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

enum ak_err cfg_read_choice(struct cfg_reader *r, yaml_node_t *n, const char *path,
                            const char *const *names, int *dst)
{
    char *s = NULL;
    enum ak_err rc = cfg_read_text(r, n, path, &s);
    if (rc != AK_OK)
        return rc;
    for (int i = 0; names[i]; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *dst = i;
            free(s);
            return AK_OK;
        }
    }
    char expected[CFG_KEYLIST_MAX];
    join_names(expected, sizeof expected, names);
    rc = cfg_fail(r, n, path, "unknown value '%s' (one of: %s)", s, expected);
    free(s);
    return rc;
}

/* ---- lists ---- */

static enum ak_err cfg_seq_len(struct cfg_reader *r, yaml_node_t *n, const char *path,
                               size_t *len)
{
    *len = 0;
    if (!n || cfg_is_null(n))
        return AK_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return cfg_fail(r, n, path, "must be a list, not %s", node_kind(n));
    *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return AK_OK;
}

yaml_node_t *cfg_seq_item(struct cfg_reader *r, yaml_node_t *seq, size_t i)
{
    return yaml_document_get_node(&r->doc, seq->data.sequence.items.start[i]);
}

static void free_str_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

enum ak_err cfg_read_str_list(struct cfg_reader *r, yaml_node_t *n, const char *path,
                              char ***list, size_t *count)
{
    size_t len = 0;
    enum ak_err rc = cfg_seq_len(r, n, path, &len);
    if (rc != AK_OK || len == 0)
        return rc;
    char **items = calloc(len, sizeof *items);
    if (!items)
        return cfg_nomem(r);
    for (size_t i = 0; i < len && rc == AK_OK; i++) {
        char item_path[CFG_PATH_MAX];
        cfg_path_index(item_path, path, i);
        rc = cfg_read_text(r, cfg_seq_item(r, n, i), item_path, &items[i]);
    }
    if (rc != AK_OK) {
        free_str_list(items, len);
        return rc;
    }
    free_str_list(*list, *count);
    *list = items;
    *count = len;
    return AK_OK;
}

/* ---- maps ---- */

static yaml_node_pair_t *map_pairs(const yaml_node_t *map, size_t *n)
{
    *n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    return map->data.mapping.pairs.start;
}

static size_t cfg_map_len(const yaml_node_t *map)
{
    size_t n = 0;
    if (map && map->type == YAML_MAPPING_NODE)
        map_pairs(map, &n);
    return n;
}

static const char *scalar_text(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *cfg_map_get(struct cfg_reader *r, yaml_node_t *map, const char *key)
{
    size_t n = 0;
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    yaml_node_pair_t *pairs = map_pairs(map, &n);
    for (size_t i = 0; i < n; i++) {
        const char *k = scalar_text(yaml_document_get_node(&r->doc, pairs[i].key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(&r->doc, pairs[i].value);
    }
    return NULL;
}

static const struct cfg_field *find_field(const struct cfg_field *fields, size_t n,
                                          const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    return NULL;
}

static void join_fields(char *out, size_t len, const struct cfg_field *fields, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(out + used, len - used, "%s%s", i ? ", " : "", fields[i].key);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

/* Every key is text, known and given once. */
static enum ak_err walk_check_keys(struct cfg_reader *r, yaml_node_t *map, const char *path,
                                   const struct cfg_field *fields, size_t n_fields)
{
    size_t n = 0;
    yaml_node_pair_t *pairs = map_pairs(map, &n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *key = yaml_document_get_node(&r->doc, pairs[i].key);
        const char *k = scalar_text(key);
        if (!k)
            return cfg_fail(r, key, path, "keys must be plain text, not %s", node_kind(key));
        char child[CFG_PATH_MAX];
        cfg_path_key(child, path, k);
        if (!find_field(fields, n_fields, k)) {
            char expected[CFG_KEYLIST_MAX];
            join_fields(expected, sizeof expected, fields, n_fields);
            return cfg_fail(r, key, child, "unknown key (expected one of: %s)", expected);
        }
        for (size_t j = 0; j < i; j++) {
            const char *prev = scalar_text(yaml_document_get_node(&r->doc, pairs[j].key));
            if (prev && strcmp(prev, k) == 0)
                return cfg_fail(r, key, child, "duplicate key");
        }
    }
    return AK_OK;
}

static int64_t kind_max(enum cfg_kind kind)
{
    switch (kind) {
    case CFG_INT: return INT_MAX;
    case CFG_U32: return UINT32_MAX;
    default: return INT64_MAX;
    }
}

static enum ak_err walk_number(struct cfg_reader *r, yaml_node_t *val, const char *path,
                               const struct cfg_field *f, void *target)
{
    int64_t v = 0;
    enum ak_err rc = cfg_read_int(r, val, path, f->min, f->max ? f->max : kind_max(f->kind), &v);
    if (rc != AK_OK)
        return rc;
    if (f->kind == CFG_INT)
        *(int *)target = (int)v;
    else if (f->kind == CFG_U32)
        *(uint32_t *)target = (uint32_t)v;
    else
        *(int64_t *)target = v;
    return AK_OK;
}

static enum ak_err cfg_read_list(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                 const struct cfg_items *spec, void *owner);
static enum ak_err cfg_read_named(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                  const struct cfg_items *spec, void *owner);

static enum ak_err walk_field(struct cfg_reader *r, yaml_node_t *val, const char *path,
                              const struct cfg_field *f, void *obj)
{
    void *target = (char *)obj + f->off;
    switch (f->kind) {
    case CFG_STR: return cfg_read_str(r, val, path, (char **)target);
    case CFG_INT:
    case CFG_I64:
    case CFG_U32: return walk_number(r, val, path, f, target);
    case CFG_USD: return cfg_read_usd(r, val, path, (int64_t *)target);
    case CFG_DOUBLE: return cfg_read_double(r, val, path, (double *)target);
    case CFG_BOOL: return cfg_read_bool(r, val, path, (bool *)target);
    case CFG_CHOICE: return cfg_read_choice(r, val, path, f->names, (int *)target);
    case CFG_MAP: return cfg_walk(r, val, path, f->sub, f->n_sub, target);
    case CFG_LIST: return cfg_read_list(r, val, path, f->items, target);
    case CFG_NAMED: return cfg_read_named(r, val, path, f->items, target);
    case CFG_FN: return f->fn(r, val, path, target);
    case CFG_SKIP: return AK_OK;
    }
    return AK_ERR_INTERNAL;
}

enum ak_err cfg_walk(struct cfg_reader *r, yaml_node_t *map, const char *path,
                     const struct cfg_field *fields, size_t n_fields, void *obj)
{
    bool empty = !map || cfg_is_null(map);
    if (!empty && map->type != YAML_MAPPING_NODE)
        return cfg_fail(r, map, path, "must be a map of keys, not %s", node_kind(map));
    if (!empty) {
        enum ak_err rc = walk_check_keys(r, map, path, fields, n_fields);
        if (rc != AK_OK)
            return rc;
    }
    for (size_t i = 0; i < n_fields; i++) {
        char child[CFG_PATH_MAX];
        cfg_path_key(child, path, fields[i].key);
        yaml_node_t *val = empty ? NULL : cfg_map_get(r, map, fields[i].key);
        if (!val || cfg_is_null(val)) {   /* a key without a value counts as missing */
            if (fields[i].required)
                return cfg_fail(r, map, child, "is required");
            continue;
        }
        enum ak_err rc = walk_field(r, val, child, &fields[i], obj);
        if (rc != AK_OK)
            return rc;
    }
    return AK_OK;
}

typedef enum ak_err (*cfg_entry_fn)(struct cfg_reader *r, const char *name, yaml_node_t *val,
                                    const char *path, void *obj, size_t i);

/* Fills names[0..i) as it goes so that later entries can be checked against earlier ones. */
static enum ak_err named_entry(struct cfg_reader *r, yaml_node_t *key, yaml_node_t *val,
                               const char *path, const char *what, char **names, size_t i,
                               cfg_entry_fn fn, void *obj)
{
    const char *k = scalar_text(key);
    if (!k)
        return cfg_fail(r, key, path, "%s names must be plain text, not %s", what,
                        node_kind(key));
    enum ak_err rc = cfg_read_text(r, key, path, &names[i]);
    if (rc != AK_OK)
        return rc;
    char child[CFG_PATH_MAX];
    cfg_path_key(child, path, names[i]);
    if (names[i][0] == '\0')
        return cfg_fail(r, key, child, "empty %s name", what);
    for (size_t j = 0; j < i; j++)
        if (strcmp(names[j], names[i]) == 0)
            return cfg_fail(r, key, child, "duplicate %s name '%s'", what, names[i]);
    return fn(r, names[i], val, child, obj, i);
}

static enum ak_err walk_named(struct cfg_reader *r, yaml_node_t *map, const char *path,
                              const char *what, cfg_entry_fn fn, void *obj)
{
    if (!map || cfg_is_null(map))
        return AK_OK;
    if (map->type != YAML_MAPPING_NODE)
        return cfg_fail(r, map, path, "must be a map of %s names, not %s", what,
                        node_kind(map));
    size_t n = 0;
    yaml_node_pair_t *pairs = map_pairs(map, &n);
    char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return cfg_nomem(r);
    enum ak_err rc = AK_OK;
    for (size_t i = 0; i < n && rc == AK_OK; i++)
        rc = named_entry(r, yaml_document_get_node(&r->doc, pairs[i].key),
                         yaml_document_get_node(&r->doc, pairs[i].value), path, what, names,
                         i, fn, obj);
    free_str_list(names, n);
    return rc;
}

/* ---- arrays of items ---- */

static enum ak_err read_item(struct cfg_reader *r, yaml_node_t *val, const char *path,
                             const struct cfg_items *spec, void *item)
{
    if (spec->read_item)
        return spec->read_item(r, val, path, item);
    return cfg_walk(r, val, path, spec->fields, spec->n_fields, item);
}

static enum ak_err cfg_read_list(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                 const struct cfg_items *spec, void *owner)
{
    size_t len = 0;
    enum ak_err rc = cfg_seq_len(r, val, path, &len);
    if (rc != AK_OK || len == 0)
        return rc;
    char *base = spec->alloc(owner, len);
    if (!base)
        return cfg_nomem(r);
    for (size_t i = 0; i < len && rc == AK_OK; i++) {
        char item[CFG_PATH_MAX];
        cfg_path_index(item, path, i);
        rc = read_item(r, cfg_seq_item(r, val, i), item, spec, base + i * spec->elem_size);
    }
    return rc;
}

struct named_items {
    const struct cfg_items *spec;
    char *base;
};

static enum ak_err named_item(struct cfg_reader *r, const char *name, yaml_node_t *val,
                              const char *path, void *obj, size_t i)
{
    const struct named_items *n = obj;
    char *item = n->base + i * n->spec->elem_size;
    char **name_dst = (char **)(item + n->spec->name_off);
    *name_dst = strdup(name);
    if (!*name_dst)
        return cfg_nomem(r);
    return read_item(r, val, path, n->spec, item);
}

static enum ak_err cfg_read_named(struct cfg_reader *r, yaml_node_t *val, const char *path,
                                  const struct cfg_items *spec, void *owner)
{
    struct named_items n = { spec, NULL };
    size_t len = cfg_map_len(val);
    if (len) {
        n.base = spec->alloc(owner, len);
        if (!n.base)
            return cfg_nomem(r);
    }
    return walk_named(r, val, path, spec->what, named_item, &n);
}
