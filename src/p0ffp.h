/* p0f 3.09b's signature database (p0f.fp and files in its format), read into compact tables
 * once, when the library loads (before any chroot), so that a SYN can be matched in-process.
 * The reader accepts and refuses exactly what p0f's readfp.c does, with p0f's reasons and a
 * file:line, including a signature "already covered" by an earlier one of the same file. Kept:
 * the [tcp:request] signatures with their labels, and the [mtu] link types; [tcp:response]
 * signatures are checked and dropped, [http:*] sections are followed but not checked. */
#ifndef P0FSHIM_P0FFP_H
#define P0FSHIM_P0FFP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synpkt.h"

#define P0FFP_DEFAULT_FILE "/etc/p0f/p0f.fp"
#define P0FFP_BUCKETS 64             /* signatures are bucketed by a hash of the option layout */
#define P0FFP_ERROR_MAX 512

/* How a signature's window field reads. */
enum p0ffp_win_type {
    P0FFP_WIN_NORMAL,        /* a literal value */
    P0FFP_WIN_ANY,           /* * */
    P0FFP_WIN_MOD,           /* %N: a multiple of N */
    P0FFP_WIN_MSS,           /* mss*N */
    P0FFP_WIN_MTU,           /* mtu*N */
};

struct p0ffp_sig {
    /* the label */
    const char *name;        /* "Linux"; the spelling of its first use in the file */
    const char *flavor;      /* "3.11 and newer"; "" when the label has none */
    bool generic;            /* g: rather than s: */
    bool userland;           /* the '!' class: a tool (nmap...), not an operating system */
    bool to_server;          /* [tcp:request] (matched) rather than [tcp:response] */
    const char *file;
    unsigned line;
    /* the signature: ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass */
    int8_t ip_ver;           /* 4, 6, or -1 for * */
    uint8_t ttl;             /* initial TTL, with any +N added */
    bool bad_ttl;            /* ittl-: a randomised TTL, only bounded above */
    uint8_t ip_opt_len;
    int32_t mss;             /* -1: any */
    uint8_t win_type;        /* enum p0ffp_win_type */
    int32_t win;             /* the value, the divisor or the multiplier */
    int16_t wscale;          /* -1: any */
    int8_t pay_class;        /* -1: any; 0; 1 (+) */
    uint8_t opt_eol_pad;
    uint8_t opt_cnt;
    uint8_t opt_layout[SYN_MAX_OPTS];
    uint32_t quirks;         /* SYN_QUIRK_BIT()s */
    uint32_t layout_hash;
};

struct p0ffp_mtu {
    uint16_t mtu;
    const char *link;        /* "Ethernet or modem" */
};

struct p0ffp_db {
    struct p0ffp_sig *sig;   /* every file's signatures, files in load order */
    size_t nsig, sig_cap;
    struct p0ffp_mtu *mtu;   /* [mtu] entries in load order; the first for an MTU wins */
    size_t nmtu, mtu_cap;
    /* The [tcp:request] signatures by bucket, each bucket in load order: bucket b is
     * by_bucket[bucket_start[b] .. bucket_start[b + 1]). */
    uint32_t *by_bucket;
    uint32_t bucket_start[P0FFP_BUCKETS + 1];
    char **strings;          /* owned: names, flavors, links, file names */
    size_t nstrings, strings_cap;
};

void p0ffp_db_init(struct p0ffp_db *db);
void p0ffp_db_free(struct p0ffp_db *db);

/* Adds a file's signatures after those already loaded. 0, or -1 with "FILE:LINE: reason"
 * (or "FILE: reason") in err; the database then holds what it held before. */
int p0ffp_load_file(struct p0ffp_db *db, const char *path, char *err, size_t errsize);
/* The same from text in memory; name is the file name used in messages. The text ends at
 * len or at a NUL byte, whichever comes first (as p0f reads a file). */
int p0ffp_load_text(struct p0ffp_db *db, const char *name, const char *text, size_t len, char *err, size_t errsize);

/* The bucket of an option layout. */
uint32_t p0ffp_layout_hash(const uint8_t *layout, unsigned cnt);
#define P0FFP_BUCKET(hash) ((hash) % P0FFP_BUCKETS)

/* The link type [mtu] gives for an MTU, or NULL. */
const char *p0ffp_link_for_mtu(const struct p0ffp_db *db, unsigned mtu);

/* Request signatures, link types. */
size_t p0ffp_request_count(const struct p0ffp_db *db);

#endif
