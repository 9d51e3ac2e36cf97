/* hiredis, loaded only by a process whose configuration names a Redis store, for the same
 * reason as LMDB (lmdb_load.h): linked in, it would be mapped into every process the library
 * is preloaded into. Only hiredis's protocol half is used, its command formatter and its reply
 * reader: the connection's I/O is redis_link.c's own (a deadline on every step, no SIGPIPE,
 * close-on-exec descriptors in the library's band), which hiredis's blocking context cannot
 * promise. Loaded when the configuration is applied, before the daemon chroots. */
#ifndef P0FSHIM_HIREDIS_LOAD_H
#define P0FSHIM_HIREDIS_LOAD_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct hiredis_functions {
    redisReader *(*reader_create)(void);
    void (*reader_free)(redisReader *r);
    int (*reader_feed)(redisReader *r, const char *buf, size_t len);
    int (*reader_get_reply)(redisReader *r, void **reply);
    void (*free_reply)(void *reply);
    int (*format_argv)(char **target, int argc, const char **argv, const size_t *argvlen);
    void (*free_command)(char *cmd);
};

extern struct hiredis_functions hiredis_fn;

/* Loads libhiredis once (later calls return at once). 0; or -1 with why. Not thread-safe:
 * called where the configuration is applied (the constructor, the tool). */
int hiredis_load(char *why, size_t why_size);

#endif
