/*
 * akctl_doctor.c - `akctl doctor CMD`: which plane covers this program? The shim hooks
 * the system libssl's SSL_* functions, so a program is covered when it links libssl
 * dynamically (directly, through a dependency, or through a module it loads at run time,
 * as Python's ssl does), and not covered when it is a Go binary, statically linked, or
 * carries its own OpenSSL (exports SSL_* itself: some Node builds); those are covered by the
 * egress plane (akproxy, through akrun). Exit 0: in-process, 1: egress. Scripts are judged by
 * their #! interpreter. The ELF file is read here (program and section headers, DT_NEEDED,
 * .dynsym); dependencies of dependencies come from `ldd`.
 */
#include "tools/akctl.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SCRIPT_DEPTH 4        /* #! chains followed */
#define SHEBANG_MAX 256
#define LDD_OUT_MAX (64 * 1024)
#define NAME_MAX_TEXT 256
#define WHY_TEXT 1024

enum verdict { V_COVERED = 0, V_NOT_COVERED };

struct elf_info {
    bool has_interp;
    bool is_go;
    bool exports_ssl;             /* defines SSL_write or SSL_read itself */
    char libssl[NAME_MAX_TEXT];   /* the libssl DT_NEEDED entry, "" = none */
    size_t n_needed;
};

/* ---- ELF reading (32 and 64 bit, native byte order) ---- */

struct elf_file {
    const unsigned char *p;
    size_t len;
    bool is64;
};

struct sect {
    uint32_t name, type, link;
    uint64_t offset, size, entsize;
};

static bool elf_range(const struct elf_file *f, uint64_t off, uint64_t size)
{
    return off <= f->len && size <= f->len - off;
}

static bool elf_section(const struct elf_file *f, size_t i, struct sect *s)
{
    const Elf64_Ehdr *e64 = (const void *)f->p;
    const Elf32_Ehdr *e32 = (const void *)f->p;
    uint64_t shoff = f->is64 ? e64->e_shoff : e32->e_shoff;
    uint64_t shent = f->is64 ? e64->e_shentsize : e32->e_shentsize;
    if (shent < (f->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)) ||
        !elf_range(f, shoff + i * shent, shent))
        return false;
    const void *h = f->p + shoff + i * shent;
    if (f->is64) {
        const Elf64_Shdr *sh = h;
        *s = (struct sect){ sh->sh_name, sh->sh_type, sh->sh_link, sh->sh_offset, sh->sh_size, sh->sh_entsize };
    } else {
        const Elf32_Shdr *sh = h;
        *s = (struct sect){ sh->sh_name, sh->sh_type, sh->sh_link, sh->sh_offset, sh->sh_size, sh->sh_entsize };
    }
    return s->type == SHT_NOBITS || elf_range(f, s->offset, s->size);
}

static size_t elf_nsections(const struct elf_file *f)
{
    return f->is64 ? ((const Elf64_Ehdr *)(const void *)f->p)->e_shnum
                   : ((const Elf32_Ehdr *)(const void *)f->p)->e_shnum;
}

/* A NUL-terminated string at `off` inside string-table section `st`, or NULL. */
static const char *elf_str(const struct elf_file *f, const struct sect *st, uint64_t off)
{
    if (off >= st->size)
        return NULL;
    const char *s = (const char *)f->p + st->offset + off;
    return memchr(s, '\0', st->size - off) ? s : NULL;
}

static bool elf_has_interp(const struct elf_file *f)
{
    const Elf64_Ehdr *e64 = (const void *)f->p;
    const Elf32_Ehdr *e32 = (const void *)f->p;
    uint64_t phoff = f->is64 ? e64->e_phoff : e32->e_phoff;
    uint64_t phent = f->is64 ? e64->e_phentsize : e32->e_phentsize;
    size_t n = f->is64 ? e64->e_phnum : e32->e_phnum;
    for (size_t i = 0; i < n; i++) {
        if (phent < (f->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) ||
            !elf_range(f, phoff + i * phent, phent))
            return false;
        const void *h = f->p + phoff + i * phent;
        uint32_t type = f->is64 ? ((const Elf64_Phdr *)h)->p_type : ((const Elf32_Phdr *)h)->p_type;
        if (type == PT_INTERP)
            return true;
    }
    return false;
}

static void elf_scan_dynamic(const struct elf_file *f, const struct sect *dyn,
                             const struct sect *str, struct elf_info *info)
{
    size_t ent = f->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    for (uint64_t off = 0; off + ent <= dyn->size; off += ent) {
        const void *d = f->p + dyn->offset + off;
        int64_t tag = f->is64 ? ((const Elf64_Dyn *)d)->d_tag : ((const Elf32_Dyn *)d)->d_tag;
        uint64_t val = f->is64 ? ((const Elf64_Dyn *)d)->d_un.d_val : ((const Elf32_Dyn *)d)->d_un.d_val;
        if (tag == DT_NULL)
            break;
        if (tag != DT_NEEDED)
            continue;
        info->n_needed++;
        const char *name = elf_str(f, str, val);
        if (name && strncmp(name, "libssl.so", strlen("libssl.so")) == 0)
            snprintf(info->libssl, sizeof info->libssl, "%s", name);
    }
}

static void elf_scan_dynsym(const struct elf_file *f, const struct sect *sym,
                            const struct sect *str, struct elf_info *info)
{
    size_t ent = f->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
    for (uint64_t off = 0; off + ent <= sym->size && !info->exports_ssl; off += ent) {
        const void *s = f->p + sym->offset + off;
        uint32_t name = f->is64 ? ((const Elf64_Sym *)s)->st_name : ((const Elf32_Sym *)s)->st_name;
        uint16_t shndx = f->is64 ? ((const Elf64_Sym *)s)->st_shndx : ((const Elf32_Sym *)s)->st_shndx;
        const char *n = elf_str(f, str, name);
        if (shndx != SHN_UNDEF && n && (strcmp(n, "SSL_write") == 0 || strcmp(n, "SSL_read") == 0))
            info->exports_ssl = true;
    }
}

static void elf_scan_sections(const struct elf_file *f, struct elf_info *info)
{
    const Elf64_Ehdr *e64 = (const void *)f->p;
    const Elf32_Ehdr *e32 = (const void *)f->p;
    size_t shstrndx = f->is64 ? e64->e_shstrndx : e32->e_shstrndx;
    struct sect names, s, link;
    bool have_names = elf_section(f, shstrndx, &names);
    for (size_t i = 0; i < elf_nsections(f); i++) {
        if (!elf_section(f, i, &s))
            continue;
        const char *nm = have_names ? elf_str(f, &names, s.name) : NULL;
        if (nm && (strcmp(nm, ".go.buildinfo") == 0 || strcmp(nm, ".gopclntab") == 0))
            info->is_go = true;
        if ((s.type != SHT_DYNAMIC && s.type != SHT_DYNSYM) || !elf_section(f, s.link, &link))
            continue;
        if (s.type == SHT_DYNAMIC)
            elf_scan_dynamic(f, &s, &link, info);
        else
            elf_scan_dynsym(f, &s, &link, info);
    }
}

/* AK_ERR_PARSE when the file is not ELF. */
static enum ak_err elf_inspect(const unsigned char *p, size_t len, struct elf_info *info)
{
    memset(info, 0, sizeof *info);
    if (len < EI_NIDENT || memcmp(p, ELFMAG, SELFMAG) != 0)
        return AK_ERR_PARSE;
    struct elf_file f = { p, len, p[EI_CLASS] == ELFCLASS64 };
    if (len < (f.is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr)))
        return AK_ERR_PARSE;
    info->has_interp = elf_has_interp(&f);
    elf_scan_sections(&f, info);
    return AK_OK;
}

/* ---- files, PATH, ldd ---- */

struct mapped {
    unsigned char *p;
    size_t len;
};

static enum ak_err file_map(const char *path, struct mapped *m)
{
    struct stat st;
    enum ak_err rc = AK_ERR_IO;
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return AK_ERR_IO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        goto out;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        goto out;
    m->p = p;
    m->len = (size_t)st.st_size;
    rc = AK_OK;
out:
    close(fd);
    return rc;
}

static void file_unmap(struct mapped *m)
{
    if (m->p)
        munmap(m->p, m->len);
    m->p = NULL;
}

/* CMD as given when it has a '/', else the first executable regular file in PATH. */
static bool path_resolve(const char *cmd, char *out, size_t len)
{
    struct stat st;
    if (strchr(cmd, '/')) {
        snprintf(out, len, "%s", cmd);
        return stat(out, &st) == 0 && S_ISREG(st.st_mode);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        int w = snprintf(out, len, "%.*s/%s", (int)n, n ? path : ".", cmd);
        if (w > 0 && (size_t)w < len && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* Runs `ldd path` and copies the line naming libssl into `line`; true when found. */
static bool ldd_finds_libssl(const char *path, char *line, size_t len)
{
    int fds[2];
    char out[LDD_OUT_MAX];
    size_t used = 0;
    bool found = false;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (dup2(fds[1], STDOUT_FILENO) < 0 || devnull < 0 || dup2(devnull, STDERR_FILENO) < 0)
            _exit(127);
        execlp("ldd", "ldd", path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return false;
    }
    ssize_t r;
    while ((r = read(fds[0], out + used, sizeof out - 1 - used)) > 0 || (r < 0 && errno == EINTR))
        used += r > 0 ? (size_t)r : 0;
    out[used] = '\0';
    close(fds[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    for (char *l = strtok(out, "\n"); l && !found; l = strtok(NULL, "\n")) {
        l += strspn(l, " \t");
        if (strncmp(l, "libssl.so", strlen("libssl.so")) == 0) {
            size_t n = strcspn(l, "(");           /* drop the load address */
            while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\t'))
                n--;
            snprintf(line, len, "%.*s", (int)n, l);
            found = true;
        }
    }
    return found;
}

/* Does the ELF file at path link libssl, directly or through its dependencies? */
static bool links_libssl(const char *path, char *why, size_t len)
{
    struct mapped m;
    struct elf_info info;
    if (file_map(path, &m) != AK_OK)
        return false;
    bool elf = elf_inspect(m.p, m.len, &info) == AK_OK;
    file_unmap(&m);
    if (!elf)
        return false;
    if (info.libssl[0]) {
        snprintf(why, len, "%s", info.libssl);
        return true;
    }
    return info.n_needed > 0 && ldd_finds_libssl(path, why, len);
}

/* Interpreters that load the system libssl at run time through a module. */
struct runtime_tls {
    const char *exe_prefix;
    const char *module_glob;
    const char *what;
};
static const struct runtime_tls runtime_tls[] = {
    { "python", "/usr/lib/python3*/lib-dynload/_ssl*.so", "Python's ssl module" },
    { "ruby", "/usr/lib/*/ruby/*/openssl.so", "Ruby's openssl extension" },
    { "php", "/usr/lib/php/*/openssl.so", "PHP's openssl extension" },
    { "perl", "/usr/lib/*/perl5/*/auto/Net/SSLeay/SSLeay.so", "Perl's Net::SSLeay" },
};

static bool runtime_module(const char *path, char *why, size_t len)
{
    char real[PATH_MAX];
    const char *base = realpath(path, real) ? strrchr(real, '/') : strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < AK_ARRAY_LEN(runtime_tls); i++) {
        glob_t g;
        char lib[NAME_MAX_TEXT];
        bool ok = false;
        if (strncmp(base, runtime_tls[i].exe_prefix, strlen(runtime_tls[i].exe_prefix)) != 0)
            continue;
        if (glob(runtime_tls[i].module_glob, 0, NULL, &g) != 0)
            continue;
        for (size_t k = 0; k < g.gl_pathc && !ok; k++)
            if (links_libssl(g.gl_pathv[k], lib, sizeof lib))
                ok = snprintf(why, len, "%s (%s) links %s", runtime_tls[i].what,
                              g.gl_pathv[k], lib) > 0;
        globfree(&g);
        if (ok)
            return true;
    }
    return false;
}

/* ---- the verdict ---- */

/* Names the plane that covers the program: the preloaded shim (inproc) when it links the
 * system libssl, else akproxy (egress), which it reaches through akrun or HTTPS_PROXY. */
static enum verdict verdict_say(const char *path, enum verdict v, const char *why)
{
    if (v == V_COVERED)
        printf("%s: covered (plane inproc, LD_PRELOAD=libakshim.so): %s\n", path, why);
    else
        printf("%s: not covered in-process (plane egress: run it with akrun --agent NAME -- CMD, "
               "which sends it through akproxy): %s\n", path, why);
    return v;
}

static enum verdict elf_verdict(const char *path, const struct elf_info *info)
{
    char why[WHY_TEXT * 2], lib[WHY_TEXT];
    if (info->is_go)
        return verdict_say(path, V_NOT_COVERED, "Go binary (TLS in Go's crypto/tls, no libssl)");
    if (info->exports_ssl && !info->libssl[0])
        return verdict_say(path, V_NOT_COVERED,
                           "carries its own OpenSSL (exports SSL_* itself; no libssl linked, e.g. Node with a bundled OpenSSL)");
    if (!info->has_interp && info->n_needed == 0)
        return verdict_say(path, V_NOT_COVERED, "statically linked (no libssl to hook)");
    if (info->libssl[0]) {
        snprintf(why, sizeof why, "libssl linked dynamically (%s)", info->libssl);
        return verdict_say(path, V_COVERED, why);
    }
    if (ldd_finds_libssl(path, lib, sizeof lib)) {
        snprintf(why, sizeof why, "libssl linked dynamically through a dependency (%s)", lib);
        return verdict_say(path, V_COVERED, why);
    }
    if (runtime_module(path, lib, sizeof lib)) {
        snprintf(why, sizeof why, "loads libssl at run time: %s", lib);
        return verdict_say(path, V_COVERED, why);
    }
    return verdict_say(path, V_NOT_COVERED,
                       "no libssl linked (dynamically linked, but it does not use the system OpenSSL)");
}

/* Reads "#!interp [arg]" into interp (resolving `env NAME` through PATH). */
static bool shebang_interp(const unsigned char *p, size_t len, char *interp, size_t ilen)
{
    char line[SHEBANG_MAX];
    size_t n = 0;
    for (size_t i = 2; i < len && p[i] != '\n' && n + 1 < sizeof line; i++)
        line[n++] = (char)p[i];
    line[n] = '\0';
    char *save = NULL;
    char *prog = strtok_r(line, " \t\r", &save);
    if (!prog)
        return false;
    const char *slash = strrchr(prog, '/');
    if (slash && strcmp(slash + 1, "env") == 0) {
        char *arg = strtok_r(NULL, " \t\r", &save);
        while (arg && arg[0] == '-')                 /* env -S ... */
            arg = strtok_r(NULL, " \t\r", &save);
        return arg && path_resolve(arg, interp, ilen);
    }
    snprintf(interp, ilen, "%s", prog);
    return true;
}

static bool shell_interp(const char *interp)
{
    static const char *const shells[] = { "sh", "bash", "dash", "zsh", "ksh" };
    const char *base = strrchr(interp, '/');
    base = base ? base + 1 : interp;
    for (size_t i = 0; i < AK_ARRAY_LEN(shells); i++)
        if (strcmp(base, shells[i]) == 0)
            return true;
    return false;
}

static int doctor_file(const char *path, int depth)
{
    struct mapped m;
    struct elf_info info;
    char interp[PATH_MAX];
    int code;
    if (file_map(path, &m) != AK_OK)
        return akctl_fail("doctor: %s: cannot read: %s", path, strerror(errno));
    if (m.len > 2 && m.p[0] == '#' && m.p[1] == '!') {
        bool ok = shebang_interp(m.p, m.len, interp, sizeof interp);
        file_unmap(&m);
        if (!ok)
            return akctl_fail("doctor: %s: cannot resolve its #! interpreter", path);
        if (depth >= MAX_SCRIPT_DEPTH)
            return akctl_fail("doctor: %s: too many nested #! interpreters", path);
        printf("%s: script, interpreter %s%s\n", path, interp,
               shell_interp(interp) ? " (a shell wrapper: run 'akctl doctor' on the program it execs)" : "");
        return doctor_file(interp, depth + 1);
    }
    if (elf_inspect(m.p, m.len, &info) != AK_OK) {
        file_unmap(&m);
        return akctl_fail("doctor: %s: neither an ELF program nor a #! script", path);
    }
    file_unmap(&m);
    code = elf_verdict(path, &info) == V_COVERED ? AKCTL_EXIT_OK : AKCTL_EXIT_REFUSED;
    return code;
}

int akctl_cmd_doctor(struct akctl *ctx, int argc, char **argv)
{
    char path[PATH_MAX];
    if (argc != 2)
        return akctl_usage("doctor", "give one CMD");
    if (!path_resolve(argv[1], path, sizeof path))
        return akctl_fail("doctor: %s: not found", argv[1]);
    return doctor_file(path, 0);
}
