/* Inside p0f's signature file reader (p0ffp.h): what its line reader (p0ffp.c) and its
 * TCP signature parser (p0ffp_sig.c) share. */
#ifndef P0FSHIM_P0FFP_LOADER_H
#define P0FSHIM_P0FFP_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "p0ffp.h"

#define NAME_CHARS " ./-_!?()"   /* besides letters and digits, in names (p0f's NAME_CHARS) */

/* Character classes of the C locale, whatever locale the host process has set. */
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
static inline bool is_blank(char c) { return c == ' ' || c == '\t'; }
static inline bool is_name_char(char c) { return is_alnum(c) || (c && strchr(NAME_CHARS, c)); }

enum need { NEED_SECT, NEED_LABEL, NEED_SYS, NEED_SIG };
enum module { MOD_NONE, MOD_TCP, MOD_HTTP, MOD_MTU };

struct loader {
    struct p0ffp_db *db;
    const char *file;
    unsigned line;
    enum need state;
    enum module mod;
    bool to_server;
    /* the current label */
    bool generic, userland;
    const char *name, *flavor;
    /* this file's classes and names (names keep the spelling of their first use) */
    char **classes;
    size_t nclasses;
    const char **names;
    size_t nnames;
    size_t first_sig;
    char *err;
    size_t errsize;
};

/* "FILE:LINE: reason" into the loader's error buffer; returns -1. */
int p0ffp_fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* atol() as glibc's, then stored in p0f's 32-bit variable. */
int32_t p0f_atol(const char *s);
/* sig = ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass, into *s. */
int p0ffp_parse_tcp_sig(struct loader *ld, const char *val, struct p0ffp_sig *s);

#endif
