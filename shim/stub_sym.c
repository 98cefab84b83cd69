/*
 * stub_sym.c - finds the real OpenSSL function for a hook, in the scope of the code that called
 * the hook.
 *
 * Why not dlsym(RTLD_NEXT): CPython loads _ssl (and with it libssl) RTLD_LOCAL, where RTLD_NEXT
 * finds nothing; and a process may hold libssl 1.1 and 3 at once, so one global pointer would
 * hand one library's SSL* to the other. Instead: dladdr(return address) names the calling
 * object, dlopen(that object, RTLD_NOLOAD) gives a handle whose dlsym searches the caller's own
 * dependency scope, and the answer is cached per object. When that finds nothing or finds the
 * stub itself (the main program's scope is the global one), RTLD_NEXT, then libssl.so.3.
 *
 * The helpers are noinline and never tail-call dlsym: glibc derives the RTLD_NEXT scope from the
 * return address, which a tail call would point into ld.so (interposition.md 4f).
 *
 * dladdr walks every loaded object's symbols (about 40 k instructions here), and a client has a
 * dozen call sites into OpenSSL: so each calling object's address range (its PT_LOAD segments,
 * from dl_iterate_phdr) is kept beside its handle and a new call site inside a known object
 * needs no dladdr; "is this the stub itself" is a range check against the stub's own segments.
 */
#include "shim/stub.h"

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CALLERS_MAX 64          /* distinct objects that call OpenSSL in one process */
#define RA_SLOTS 1024           /* return-address -> caller cache (direct mapped) */
#define RA_NODES_MAX 4096       /* bound on cached call sites */

static const char *const sym_names[SYM_COUNT] = {
    [SYM_SSL_WRITE] = "SSL_write", [SYM_SSL_WRITE_EX] = "SSL_write_ex",
    [SYM_SSL_READ] = "SSL_read", [SYM_SSL_READ_EX] = "SSL_read_ex",
    [SYM_SSL_PEEK] = "SSL_peek", [SYM_SSL_PEEK_EX] = "SSL_peek_ex",
    [SYM_SSL_CONNECT] = "SSL_connect", [SYM_SSL_DO_HANDSHAKE] = "SSL_do_handshake",
    [SYM_SSL_SHUTDOWN] = "SSL_shutdown", [SYM_SSL_FREE] = "SSL_free",
    [SYM_SSL_CLEAR] = "SSL_clear", [SYM_SSL_PENDING] = "SSL_pending",
    [SYM_SSL_HAS_PENDING] = "SSL_has_pending", [SYM_SSL_GET_ERROR] = "SSL_get_error",
    [SYM_SSL_GET_SHUTDOWN] = "SSL_get_shutdown",
    [SYM_SSL_CTX_SET_ALPN] = "SSL_CTX_set_alpn_protos", [SYM_SSL_SET_ALPN] = "SSL_set_alpn_protos",
    [SYM_SSL_GET_SERVERNAME] = "SSL_get_servername", [SYM_SSL_GET_FD] = "SSL_get_fd",
    [SYM_SSL_IS_INIT_FINISHED] = "SSL_is_init_finished", [SYM_SSL_IN_BEFORE] = "SSL_in_before",
    [SYM_SSL_IS_SERVER] = "SSL_is_server", [SYM_SSL_GET_SSL_CTX] = "SSL_get_SSL_CTX",
    [SYM_BIO_WRITE] = "BIO_write",
};

struct caller {
    void *base;                   /* dli_fbase of the calling object */
    uintptr_t lo, hi;             /* its loaded segments' span; lo == hi: unknown */
    void *handle;                 /* dlopen(RTLD_NOLOAD) of it; NULL: use the fallbacks */
    _Atomic(void *) fn[SYM_COUNT];
};

struct ra_node {
    const void *ra;
    struct caller *caller;
};

static struct {
    pthread_mutex_t lock;         /* guards callers[] growth and node allocation */
    struct caller callers[CALLERS_MAX];
    _Atomic int n_callers;
    _Atomic(struct ra_node *) ra_cache[RA_SLOTS];
    _Atomic int n_nodes;
    void *self_base;
    pthread_once_t self_once;
    uintptr_t self_lo, self_hi;   /* the stub's own segments */
    void *libssl;                 /* last-resort handle */
    _Atomic unsigned long misses; /* "cannot happen" counter: no real function found */
} sym = { .lock = PTHREAD_MUTEX_INITIALIZER, .self_once = PTHREAD_ONCE_INIT };

struct span_query {
    uintptr_t addr;
    uintptr_t lo, hi;
};

/* dl_iterate_phdr callback: the span of the PT_LOAD segments of the object holding addr. */
static int span_cb(struct dl_phdr_info *info, size_t size, void *ud)
{
    struct span_query *q = ud;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    bool holds = false;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = (uintptr_t)info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (q->addr >= s && q->addr < e)
            holds = true;
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (!holds)
        return 0;
    q->lo = lo;
    q->hi = hi;
    return 1;
}

/* The span of the object that holds addr; false (lo == hi == 0) when none does. */
static bool object_span(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
    struct span_query q = { .addr = (uintptr_t)addr };
    *lo = *hi = 0;
    if (!addr || !dl_iterate_phdr(span_cb, &q))
        return false;
    *lo = q.lo;
    *hi = q.hi;
    return true;
}

static void self_span_init(void)
{
    object_span((const void *)&self_span_init, &sym.self_lo, &sym.self_hi);
}

static STUB_NOINLINE void *self_base(void)
{
    Dl_info info;
    if (!sym.self_base && dladdr((void *)&self_base, &info))
        sym.self_base = info.dli_fbase;
    return sym.self_base;
}

static STUB_NOINLINE bool is_self(void *fn)
{
    Dl_info info;
    if (!fn)
        return false;
    pthread_once(&sym.self_once, self_span_init);
    if (sym.self_lo < sym.self_hi)
        return (uintptr_t)fn >= sym.self_lo && (uintptr_t)fn < sym.self_hi;
    return dladdr(fn, &info) && info.dli_fbase == self_base();
}

/* A caller already known whose segments hold ra; NULL when none does. */
static struct caller *caller_by_span(const void *ra)
{
    int n = atomic_load(&sym.n_callers);
    for (int i = 0; i < n; i++) {
        const struct caller *c = &sym.callers[i];
        if (c->lo < c->hi && (uintptr_t)ra >= c->lo && (uintptr_t)ra < c->hi)
            return &sym.callers[i];
    }
    return NULL;
}

static STUB_NOINLINE struct caller *caller_find(const void *ra)
{
    Dl_info info;
    void *base = NULL;
    const char *fname = NULL;
    struct caller *known = ra ? caller_by_span(ra) : NULL;
    if (known)
        return known;
    if (ra && dladdr(ra, &info)) {
        base = info.dli_fbase;
        fname = info.dli_fname;
    }
    int n = atomic_load(&sym.n_callers);
    for (int i = 0; i < n; i++)
        if (sym.callers[i].base == base)
            return &sym.callers[i];

    struct caller *c = NULL;
    pthread_mutex_lock(&sym.lock);
    n = atomic_load(&sym.n_callers);
    for (int i = 0; i < n; i++)
        if (sym.callers[i].base == base) {
            c = &sym.callers[i];
            goto out;
        }
    if (n >= CALLERS_MAX) {
        c = &sym.callers[0];      /* full: share the first entry's fallbacks */
        goto out;
    }
    c = &sym.callers[n];
    c->base = base;
    if (!base || !object_span(ra, &c->lo, &c->hi))
        c->lo = c->hi = 0;
    c->handle = (fname && *fname && base != self_base()) ? dlopen(fname, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    atomic_store(&sym.n_callers, n + 1);
out:
    pthread_mutex_unlock(&sym.lock);
    return c;
}

static struct caller *caller_of(const void *ra)
{
    size_t slot = ((uintptr_t)ra >> 2) % RA_SLOTS;
    struct ra_node *node = atomic_load(&sym.ra_cache[slot]);
    if (node && node->ra == ra)
        return node->caller;
    struct caller *c = caller_find(ra);
    if (atomic_load(&sym.n_nodes) < RA_NODES_MAX) {
        struct ra_node *nn = malloc(sizeof *nn);
        if (nn) {
            nn->ra = ra;
            nn->caller = c;
            atomic_fetch_add(&sym.n_nodes, 1);
            /* the replaced node is leaked on purpose: another thread may be reading it */
            atomic_store(&sym.ra_cache[slot], nn);
        }
    }
    return c;
}

static STUB_NOINLINE void *lookup_fallback(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn && !is_self(fn))
        return fn;
    if (!sym.libssl)
        sym.libssl = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
    fn = sym.libssl ? dlsym(sym.libssl, name) : NULL;
    return is_self(fn) ? NULL : fn;
}

void *stub_sym(enum stub_sym s, const void *ra)
{
    if ((unsigned)s >= SYM_COUNT)
        return NULL;
    struct caller *c = caller_of(ra);
    void *fn = atomic_load(&c->fn[s]);
    if (fn)
        return fn;
    if (c->handle) {
        fn = dlsym(c->handle, sym_names[s]);
        if (is_self(fn))
            fn = NULL;
    }
    if (!fn)
        fn = lookup_fallback(sym_names[s]);
    if (fn)
        atomic_store(&c->fn[s], fn);
    else
        atomic_fetch_add(&sym.misses, 1);
    return fn;
}

void stub_sym_atfork_child(void)
{
    pthread_mutex_init(&sym.lock, NULL);
}
