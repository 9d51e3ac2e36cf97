/* The configuration file: parsed once, in the constructor, into a config that never
 * changes afterwards (so the worker reads it without locks). */
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
#include "policy.h"

#define CONFIG_DEFAULT_PATH "/etc/p0fshim/p0fshim.conf"
#define CONFIG_MAX_PORTS 64
#define CONFIG_MAX_PROGRAMS 32
#define CONFIG_PROGRAM_NAME_MAX 64
#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *)0)->sun_path))

/* One p0f daemon to ask. At most one per protocol version: the log line carries the
 * fields of each, v2's with a v2_ prefix. */
struct p0f_source {
    bool enabled;
    char socket_path[UNIX_PATH_MAX_LEN];
    bool has_local_ip;               /* v2: the server's public address (behind NAT) */
    struct endpoint local_ip;
};

struct config {
    struct p0f_source v3, v2;        /* what the engine queries, settled by config_parse */
    /* The single-source form: `socket PATH` and `version N` describe one source. */
    char socket_path[UNIX_PATH_MAX_LEN];
    int version;
    bool single_form_used;
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
    enum { MODE_ASYNC, MODE_HOLD } mode;
    unsigned hold_ms;
    enum { ACTION_CLOSE, ACTION_REJECT, ACTION_TEMPFAIL } action;
    char reject_text[200], tempfail_text[200], greylist_text[200];

    /* Greylisting by OS: greylist_os NULL = off. */
    struct regex *greylist_os;
    struct greylist_settings greylist;
    bool ports_given;
};

void config_init(struct config *c);
/* Pure: parses text into c. -1 and *err (file, line, reason) on the first problem. */
int config_parse(struct config *c, const char *text, size_t len, const char *file, struct diag *err);
/* Reads path (a missing file is an error only when must_exist), then the blocked-OS file. */
int config_load(struct config *c, const char *path, bool must_exist, struct diag *err);
void config_free(struct config *c);

bool config_port_selected(const struct config *c, uint16_t port);
bool config_program_selected(const struct config *c, const char *name);
/* "mail" -> LOG_MAIL; -1 when unknown. */
int config_facility_from_name(const char *name);

#endif
