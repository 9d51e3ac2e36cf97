/* hiredis loaded on demand (hiredis_load.h). */
#include "hiredis_load.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

struct hiredis_functions hiredis_fn;

/* Debian 12's libhiredis0.14; a later soname is tried too, the part used here is unchanged. */
static const char *const sonames[] = {"libhiredis.so.0.14", "libhiredis.so.1.1.0", "libhiredis.so.1.0.0"};

#define ENTRY(member, symbol) {symbol, offsetof(struct hiredis_functions, member)}
static const struct {
    const char *name;
    size_t offset;
} functions[] = {
    ENTRY(reader_create, "redisReaderCreate"),     ENTRY(reader_free, "redisReaderFree"),
    ENTRY(reader_feed, "redisReaderFeed"),         ENTRY(reader_get_reply, "redisReaderGetReply"),
    ENTRY(free_reply, "freeReplyObject"),          ENTRY(format_argv, "redisFormatCommandArgv"),
    ENTRY(free_command, "redisFreeCommand"),
};
_Static_assert(sizeof(functions) / sizeof(functions[0]) ==
                   sizeof(struct hiredis_functions) / sizeof(void (*)(void)),
               "every member of struct hiredis_functions has its entry");

int hiredis_load(char *why, size_t why_size)
{
    static void *handle;
    if (handle)
        return 0;
    void *h = NULL;
    for (size_t i = 0; h == NULL && i < sizeof(sonames) / sizeof(sonames[0]); i++)
        h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(why, why_size, "cannot load hiredis (%s, Debian's libhiredis0.14): %s", sonames[0], dlerror());
        return -1;
    }
    struct hiredis_functions loaded;
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        void *f = dlsym(h, functions[i].name);
        if (f == NULL) {
            snprintf(why, why_size, "libhiredis has no %s", functions[i].name);
            dlclose(h);
            return -1;
        }
        memcpy((char *)&loaded + functions[i].offset, &f, sizeof(f));
    }
    hiredis_fn = loaded;
    handle = h;
    return 0;
}
