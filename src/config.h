/* The configuration file: parsed once, in the constructor, into a config that never
 * changes afterwards (so the worker reads it without locks). Every directive is one row of
 * config_directives (name, kind of value, default, limits, what a second line does), in
 * the manner of Postfix's parameter tables: the parser walks it, lint checks by it, and a
 * unit test holds the documentation to it. A config also remembers which line set each
 * value, so the tool can point at it without reading the file again. */
#ifndef P0FSHIM_CONFIG_H
#define P0FSHIM_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "addr.h"
#include "diag.h"
#include "greylist.h"
#include "karma.h"
#include "policy.h"

#define CONFIG_DEFAULT_PATH "/etc/p0fshim/p0fshim.conf"
#define CONFIG_MAX_PORTS 64
#define CONFIG_MAX_PROGRAMS 32
#define CONFIG_PROGRAM_NAME_MAX 64
#define CONFIG_MAX_DIRECTIVES 48
#define CONFIG_MAX_FP_FILES 8
#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *)0)->sun_path))

/* One p0f daemon to ask. At most one per protocol version: the log line carries the
 * fields of each, v2's with a v2_ prefix. */
struct p0f_source {
    bool enabled;
    char socket_path[UNIX_PATH_MAX_LEN];
    bool has_local_ip;               /* v2: the server's public address (behind NAT) */
    struct endpoint local_ip;
    unsigned line;                   /* the line that named its socket; 0 = the default socket */
};

enum config_mode { MODE_ASYNC, MODE_HOLD };
/* Where the fingerprint comes from (the `fingerprint` directive). */
enum config_fingerprint {
    FINGERPRINT_AUTO,        /* the saved SYN; p0f for a connection without one */
    FINGERPRINT_SYN,         /* the saved SYN only: no p0f, no thread */
    FINGERPRINT_SYN_P0F,     /* the SYN decides; p0f adds what only it knows to the line */
    FINGERPRINT_P0F,         /* p0f only, asked asynchronously (or held for, in hold mode) */
};
enum config_action { ACTION_CLOSE, ACTION_REJECT, ACTION_TEMPFAIL };

struct config {
    struct p0f_source v3, v2;        /* what the engine queries, settled by config_parse */
    /* The single-source form: `socket PATH` and `version N` describe one source. */
    char socket_path[UNIX_PATH_MAX_LEN];
    int version;
    char blocked_os_file[PATH_MAX];
    struct policy policy;            /* smite_os and exempt from here; rules from the file */
    uint16_t ports[CONFIG_MAX_PORTS];
    size_t nports;
    unsigned timeout_ms;
    char log_socket[UNIX_PATH_MAX_LEN];
    int log_facility;                /* LOG_MAIL etc., already shifted as <syslog.h> has it */
    char programs[CONFIG_MAX_PROGRAMS][CONFIG_PROGRAM_NAME_MAX];
    size_t nprograms;                /* 0 = every program */
    bool add_headers;                /* accepted for qpsmtpd parity; used by the header issue */
    bool has_local_ip;               /* `local_ip IP` on its own line: for the v2 source */
    struct endpoint local_ip;
    uid_t p0f_uid;                   /* besides root, who may own p0f's socket; -1 = nobody */

    /* What a verdict does. async: the connection is shut down when the verdict comes;
     * hold: accept() waits up to hold_ms and a judged connection never reaches the MTA. */
    enum config_mode mode;
    unsigned hold_ms;
    enum config_action action;
    char reject_text[200], tempfail_text[200], greylist_text[200];

    /* The SYN fingerprinter: p0f-format signature files, matched in this order. */
    enum config_fingerprint fingerprint;
    char fp_files[CONFIG_MAX_FP_FILES][PATH_MAX];
    size_t nfp_files;
    unsigned fp_file_lines[CONFIG_MAX_FP_FILES];

    /* Greylisting by OS: greylist_os NULL = off. */
    struct regex *greylist_os;
    struct greylist_settings greylist;

    /* Fleet karma (karma.h): karma.store unset = off. */
    struct karma_settings karma;
    /* The deadline of one Redis store lookup (greylist or karma); copied into greylist. */
    unsigned store_timeout_ms;

    /* Where the values came from: the file config_parse read and, per directive (indexed
     * as config_directives), the last line that set it; 0 = its default. Entries of the
     * lists the tool points at keep their own lines. */
    char file[PATH_MAX];
    unsigned set_on_line[CONFIG_MAX_DIRECTIVES];
    unsigned *exempt_lines;          /* one per policy.exempt entry */
    unsigned program_lines[CONFIG_MAX_PROGRAMS];
};

/* ---- the directive table ---- */

/* What a directive's value is. */
enum config_kind {
    CONFIG_PATH,             /* an absolute path */
    CONFIG_CHOICE,           /* one word of a list */
    CONFIG_NUMBER,           /* a decimal number from min to max */
    CONFIG_PREFIX_LENGTH,    /* a decimal number from a list (the host, or a network) */
    CONFIG_DURATION,         /* seconds, or a number with s, m, h or d; at most max seconds */
    CONFIG_REGEX,            /* PCRE2, caseless: the rest of the line */
    CONFIG_REPLY_TEXT,       /* printable ASCII: the rest of the line */
    CONFIG_CIDR_LIST,        /* networks; a bare address is a host */
    CONFIG_PORT_LIST,        /* numbers from min to max */
    CONFIG_NAME_LIST,        /* program names */
    CONFIG_PATH_LIST,        /* absolute paths */
    CONFIG_FACILITY,         /* a syslog facility name */
    CONFIG_IPV4,             /* an IPv4 address (p0f v2 knows no other) */
    CONFIG_USER,             /* a user name, or a uid */
    CONFIG_QPSMTPD_FLAG,     /* on unless the value contains "false" (any case), as qpsmtpd has it */
    CONFIG_SOURCE,           /* a p0f source: a socket path, then options */
    CONFIG_STORE_URL,        /* redis://... or unix:... (store_url.h) */
};

/* What a second line naming the directive does. */
enum config_repeat {
    CONFIG_LAST_WINS,        /* replaces the value (lint warns about it) */
    CONFIG_ADDS_UP,          /* adds its values; the first line replaces the default list */
    CONFIG_ONE_PER_VERSION,  /* a p0f source: a second one for the same p0f version is an error */
};

struct config_choice {
    const char *word;
    int value;
};

struct config_parser;   /* one line being parsed (config.c) */

struct config_directive {
    const char *name;
    bool instance_suffix;            /* NAME:ANYTHING names it too (qpsmtpd's plugin instances) */
    enum config_kind kind;
    enum config_repeat repeat;
    const char *default_value;       /* as written in the file; NULL = none */
    unsigned long min, max;          /* NUMBER, PREFIX_LENGTH, DURATION (seconds), PORT_LIST */
    const struct config_choice *choices;   /* CHOICE, PREFIX_LENGTH: ends with a NULL word */
    const char *expected;            /* CHOICE, PREFIX_LENGTH: the values, for the error message */
    size_t offset, size;             /* a single value's field in struct config (lists have their own) */
    /* Takes one value (a list: one entry; a source: the line's words, value NULL). */
    int (*parse)(struct config_parser *p, const struct config_directive *d, const char *value);
};

extern const struct config_directive config_directives[];
extern const size_t config_ndirectives;

/* The directive a line's first word names; NULL when none does. */
const struct config_directive *config_directive_find(const char *word);

/* ---- parsing ---- */

/* Every default, from the table. */
void config_init(struct config *c);
/* Pure: parses text into c. -1 and *err (file, line, reason) on the first problem. */
int config_parse(struct config *c, const char *text, size_t len, const char *file, struct diag *err);
/* Reads path (a missing file is an error only when must_exist), then the blocked-OS file. */
int config_load(struct config *c, const char *path, bool must_exist, struct diag *err);
void config_free(struct config *c);

/* The last line of c->file that set the directive; 0 when its default (or nothing) holds. */
unsigned config_line_of(const struct config *c, const char *directive);
/* The line of an entry of c->policy.exempt (as policy_judge returns it); 0 if not one. */
unsigned config_exempt_line(const struct config *c, const struct cidr *entry);

bool config_port_selected(const struct config *c, uint16_t port);
/* Whether the configuration asks for the SYN fingerprinter (every mode but p0f). */
bool config_uses_syn(const struct config *c);
bool config_program_selected(const struct config *c, const char *name);
/* "mail" -> LOG_MAIL; -1 when unknown. */
int config_facility_from_name(const char *name);

#endif
