/*
 * stub_dlopen.c - clears RTLD_DEEPBIND for objects that use OpenSSL or libcurl.
 *
 * PHP loads its extensions with RTLD_DEEPBIND, so libcurl inside ext-curl binds straight to
 * libssl and no hook ever runs: refused calls would leak (refusal-experiments.md 3.5). DEEPBIND
 * exists to isolate symbol clashes, so it is cleared only for an object whose own DT_NEEDED
 * names libssl, libcrypto or libcurl.
 *
 * glibc takes the caller of dlopen from its return address ($ORIGIN, RUNPATH, the namespace).
 * This wrapper therefore ends in a tail call to the real dlopen, so that the return address
 * the real one sees is our caller's. This file is built with sibling calls enabled (the other
 * stub files are not); tests/integration/t_stub_dlopen.sh (tests/stub/runpath_main.c) checks
 * RUNPATH resolution through it.
 */
#include "shim/stub.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ELF_MAX_SIZE (256u << 20)     /* don't map absurd files */

typedef void *(*dlopen_fn)(const char *, int);

static _Atomic(dlopen_fn) real_dlopen_ptr;

static STUB_NOINLINE dlopen_fn real_dlopen(void)
{
    dlopen_fn fn = atomic_load(&real_dlopen_ptr);
    if (!fn) {
        fn = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
        atomic_store(&real_dlopen_ptr, fn);
    }
    return fn;
}

/* For the stub's own use (loading the engine): our caller is the stub, which is right. */
STUB_NOINLINE void *stub_real_dlopen(const char *file, int mode)
{
    dlopen_fn fn = real_dlopen();
    void *h = fn ? fn(file, mode) : NULL;
    return h;
}

static bool name_wants_ssl(const char *n)
{
    return strncmp(n, "libssl.so", 9) == 0 || strncmp(n, "libcrypto.so", 12) == 0 ||
           strncmp(n, "libcurl.so", 10) == 0 || strncmp(n, "libcurl-", 8) == 0;
}

/* Maps a virtual address of the file to its offset through the PT_LOAD headers. */
static bool vaddr_to_off(const Elf64_Phdr *ph, int n, Elf64_Addr va, Elf64_Off *off)
{
    for (int i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr && va < ph[i].p_vaddr + ph[i].p_filesz) {
            *off = va - ph[i].p_vaddr + ph[i].p_offset;
            return true;
        }
    return false;
}

static bool elf_needs_ssl(const unsigned char *m, size_t size)
{
    const Elf64_Ehdr *eh = (const void *)m;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phoff > size ||
        eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
        return false;
    const Elf64_Phdr *ph = (const void *)(m + eh->e_phoff);
    const Elf64_Dyn *dyn = NULL;
    size_t ndyn = 0;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC && ph[i].p_offset < size && ph[i].p_filesz <= size - ph[i].p_offset) {
            dyn = (const void *)(m + ph[i].p_offset);
            ndyn = ph[i].p_filesz / sizeof *dyn;
        }
    Elf64_Off stroff = 0;
    for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++)
        if (dyn[i].d_tag == DT_STRTAB && !vaddr_to_off(ph, eh->e_phnum, dyn[i].d_un.d_ptr, &stroff))
            return false;
    if (!stroff || stroff >= size)
        return false;
    for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
        if (dyn[i].d_tag != DT_NEEDED || dyn[i].d_un.d_val >= size - stroff)
            continue;
        const char *name = (const char *)m + stroff + dyn[i].d_un.d_val;
        if (memchr(name, '\0', size - stroff - dyn[i].d_un.d_val) && name_wants_ssl(name))
            return true;
    }
    return false;
}

static STUB_NOINLINE bool file_needs_ssl(const char *file)
{
    bool yes = false;
    if (!file || !strchr(file, '/'))
        return false;             /* PHP passes full paths; bare names keep DEEPBIND */
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (size_t)st.st_size < ELF_MAX_SIZE) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            yes = elf_needs_ssl(m, (size_t)st.st_size);
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
    return yes;
}

STUB_API void *dlopen(const char *file, int mode)
{
    dlopen_fn fn = real_dlopen();
    if (!fn)
        return NULL;
    if ((mode & RTLD_DEEPBIND) && !stub_disabled() && file_needs_ssl(file))
        mode &= ~RTLD_DEEPBIND;
    return fn(file, mode);        /* a tail call: see the comment at the top */
}
