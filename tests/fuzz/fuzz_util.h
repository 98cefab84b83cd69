/*
 * fuzz_util.h - what the libFuzzer targets of tests/fuzz share: the input's leading control
 * bytes (which provider, which options) and the read splits they derive from it, so that
 * each target can feed the same bytes whole and in arbitrary pieces and compare.
 */
#ifndef AK_FUZZ_UTIL_H
#define AK_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A property does not hold: print it and abort (libFuzzer keeps the input as a crash). */
#define FZ_CHECK(cond, what)                                                        \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", what, __FILE__, __LINE__); \
            abort();                                                               \
        }                                                                          \
    } while (0)

struct fz_in {
    const uint8_t *p;
    size_t n;
};

/* Takes one control byte (0 when the input is used up). */
static inline uint8_t fz_byte(struct fz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* Piece sizes for a split feed: xorshift from a seed; 1..max bytes, often 1. */
struct fz_split { uint32_t s; };

static inline size_t fz_piece(struct fz_split *sp, size_t left)
{
    uint32_t x = sp->s ? sp->s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    sp->s = x;
    size_t n = (x & 3) == 0 ? 1 : (x >> 4) % 64 + 1;
    return n > left ? left : n;
}

#endif
