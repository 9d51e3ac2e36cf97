/* LMDB loaded on demand (lmdb_load.h). */
#include "lmdb_load.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

struct lmdb_functions lmdb_fn;

/* Each function's name in liblmdb, at its place in struct lmdb_functions. */
#define ENTRY(member) {"mdb_" #member, offsetof(struct lmdb_functions, member)}
static const struct {
    const char *name;
    size_t offset;
} functions[] = {
    ENTRY(env_create), ENTRY(env_open), ENTRY(env_close), ENTRY(env_set_mapsize), ENTRY(env_set_maxdbs),
    ENTRY(env_set_assert), ENTRY(env_stat), ENTRY(env_info), ENTRY(env_get_fd), ENTRY(reader_check),
    ENTRY(txn_begin), ENTRY(txn_commit), ENTRY(txn_abort), ENTRY(dbi_open), ENTRY(get), ENTRY(put), ENTRY(del),
    ENTRY(cursor_open), ENTRY(cursor_close), ENTRY(cursor_get), ENTRY(cursor_del), ENTRY(strerror),
};
_Static_assert(sizeof(functions) / sizeof(functions[0]) == sizeof(struct lmdb_functions) / sizeof(void (*)(void)),
               "every member of struct lmdb_functions has its entry");

int lmdb_load(char *why, size_t why_size)
{
    static void *handle;
    if (handle)
        return 0;
    void *h = dlopen("liblmdb.so.0", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(why, why_size, "cannot load LMDB (liblmdb.so.0, Debian's liblmdb0): %s", dlerror());
        return -1;
    }
    struct lmdb_functions loaded;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        void *f = dlsym(h, functions[i].name);
        if (f == NULL) {
            snprintf(why, why_size, "liblmdb.so.0 has no %s", functions[i].name);
            dlclose(h);
            return -1;
        }
        memcpy((char *)&loaded + functions[i].offset, &f, sizeof(f));
    }
    lmdb_fn = loaded;
    handle = h;
    return 0;
}
