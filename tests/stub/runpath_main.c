/* Dlopens a library that only this program's RUNPATH can find, with and without DEEPBIND,
 * and reports where SSL_write binds inside an object that needs libssl. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int mode = RTLD_NOW | (argc > 1 && strcmp(argv[1], "deepbind") == 0 ? RTLD_DEEPBIND : 0);
    /* PHP names its extensions by full path: argv[2] when given */
    void *h = dlopen(argc > 2 ? argv[2] : "libakrpath.so", mode);
    if (!h) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    void *(*where)(void) = (void *(*)(void))dlsym(h, "ssl_write_address");
    void *global = dlsym(RTLD_DEFAULT, "SSL_write");
    printf("loaded; SSL_write binds to the %s definition\n",
           where && where() == global ? "global (hookable)" : "library's own");
    return 0;
}
