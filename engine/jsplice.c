/*
 * jsplice.c - the include_usage rewrite of a request body as one splice into the client's
 * own bytes (see reqbody.h). Re-serialising through a JSON library changes what the client
 * sent: cJSON cuts "a\u0000b" to "a", rounds 9007199254740993 to a double and prints 1e999
 * as null. Here the body is only scanned (strings, nesting, member boundaries of the top-level
 * object and of its stream_options object) and exactly one piece is inserted or replaced:
 *   no stream_options            -> ,"stream_options":{"include_usage":true} before the '}'
 *   stream_options an object     -> "include_usage":true added in it, or its value -> true
 *   stream_options anything else -> its value replaced by {"include_usage":true}
 * Every other byte stays. A body this scanner cannot read with certainty is not rewritten:
 * not one object, a key written with escapes, a member named twice (JSON parsers disagree on
 * which one wins), unbalanced nesting. The call is then metered from its estimate.
 */
#include "engine/reqbody.h"

#include <stdlib.h>
#include <string.h>

#define JS_KEY_SO "stream_options"
#define JS_KEY_IU "include_usage"
#define JS_ADD_SO "\"stream_options\":{\"include_usage\":true}"
#define JS_ADD_IU "\"include_usage\":true"
#define JS_TRUE "true"
#define JS_OBJ_IU "{\"include_usage\":true}"

struct js_obj {
    size_t close;                 /* index of the closing '}' */
    size_t members;
    size_t found;                 /* members named key */
    size_t val_at, val_len;       /* the (first) such member's value */
};

static bool js_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t js_skip_ws(const unsigned char *p, size_t n, size_t i)
{
    while (i < n && js_ws(p[i]))
        i++;
    return i;
}

/* p[*i] is '"': past the closing quote. *escaped: the string had a backslash. */
static bool js_string(const unsigned char *p, size_t n, size_t *i, bool *escaped)
{
    *escaped = false;
    for (size_t j = *i + 1; j < n; j++) {
        if (p[j] < ' ')
            return false;             /* not JSON; parsers differ on where the string ends */
        if (p[j] == '\\') {
            *escaped = true;
            j++;
        } else if (p[j] == '"') {
            *i = j + 1;
            return true;
        }
    }
    return false;
}

/* Past one value: a string, a balanced {...} / [...], or a bare token (number, literal). */
static bool js_value(const unsigned char *p, size_t n, size_t *i)
{
    bool esc;
    if (*i >= n)
        return false;
    if (p[*i] == '"')
        return js_string(p, n, i, &esc);
    if (p[*i] != '{' && p[*i] != '[') {
        size_t j = *i;
        while (j < n && !js_ws(p[j]) && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != '"' &&
               p[j] != '{' && p[j] != '[' && p[j] != ':')
            j++;
        if (j == *i)
            return false;
        *i = j;
        return true;
    }
    size_t depth = 0, j = *i;
    while (j < n) {
        unsigned char c = p[j];
        if (c == '"') {
            if (!js_string(p, n, &j, &esc))
                return false;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        j++;
        if (depth == 0) {
            *i = j;
            return true;
        }
    }
    return false;
}

static bool js_key_is(const unsigned char *p, size_t at, size_t end, const char *key)
{
    size_t kl = strlen(key);
    return end - at == kl + 2 && memcmp(p + at + 1, key, kl) == 0;
}

/* Reads the object whose '{' is at p[open], counting the members named key. */
static bool js_object(const unsigned char *p, size_t n, size_t open, const char *key,
                      struct js_obj *o)
{
    memset(o, 0, sizeof *o);
    size_t i = js_skip_ws(p, n, open + 1);
    if (i < n && p[i] == '}') {
        o->close = i;
        return true;
    }
    while (i < n) {
        bool esc;
        size_t kat = i;
        if (p[i] != '"' || !js_string(p, n, &i, &esc) || esc)
            return false;           /* an escaped key might spell either name */
        bool match = js_key_is(p, kat, i, key);
        i = js_skip_ws(p, n, i);
        if (i >= n || p[i] != ':')
            return false;
        i = js_skip_ws(p, n, i + 1);
        size_t vat = i;
        if (!js_value(p, n, &i))
            return false;
        o->members++;
        if (match && o->found++ == 0) {
            o->val_at = vat;
            o->val_len = i - vat;
        }
        i = js_skip_ws(p, n, i);
        if (i < n && p[i] == '}') {
            o->close = i;
            return true;
        }
        if (i >= n || p[i] != ',')
            return false;
        i = js_skip_ws(p, n, i + 1);
    }
    return false;
}

/* body[0..at) + comma? + ins + body[at+del..n) */
static char *js_splice(const unsigned char *body, size_t n, size_t at, size_t del, bool comma,
                       const char *ins, size_t *outlen)
{
    size_t il = strlen(ins), len = n - del + il + (comma ? 1 : 0);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    memcpy(out, body, at);
    size_t o = at;
    if (comma)
        out[o++] = ',';
    memcpy(out + o, ins, il);
    o += il;
    memcpy(out + o, body + at + del, n - at - del);
    out[len] = '\0';
    *outlen = len;
    return out;
}

char *ak_reqbody_add_include_usage(const unsigned char *body, size_t len, size_t *outlen)
{
    struct js_obj top, so;
    size_t open = js_skip_ws(body, len, 0);
    if (open >= len || body[open] != '{' || !js_object(body, len, open, JS_KEY_SO, &top) ||
        js_skip_ws(body, len, top.close + 1) != len || top.found > 1)
        return NULL;
    if (top.found == 0)
        return js_splice(body, len, top.close, 0, top.members > 0, JS_ADD_SO, outlen);
    if (body[top.val_at] != '{')
        return js_splice(body, len, top.val_at, top.val_len, false, JS_OBJ_IU, outlen);
    if (!js_object(body, len, top.val_at, JS_KEY_IU, &so) || so.found > 1)
        return NULL;
    if (so.found == 0)
        return js_splice(body, len, so.close, 0, so.members > 0, JS_ADD_IU, outlen);
    return js_splice(body, len, so.val_at, so.val_len, false, JS_TRUE, outlen);
}
