/* p0fshim(1), the operator's tool: the subcommands' entry points and the exit statuses they
 * share. Each subcommand is a file of its own on the same core (codec, policy engine, config
 * parser) as the library; main.c only picks one. */
#ifndef P0FSHIM_TOOL_H
#define P0FSHIM_TOOL_H

#include <stddef.h>

#include "client/p0fq.h"
#include "config.h"

#define TOOL_NAME "p0fshim"
#define TOOL_VERSION "0.1"

/* Exit statuses shared by the subcommands (documented in p0fshim(1)). */
#define EXIT_NEGATIVE 1      /* query: NOMATCH; check: block or greylist; lint: errors; report: unreadable input */
#define EXIT_USAGE 2
#define EXIT_P0F_DOWN 3      /* no socket, nobody listening, no answer in time; lint: warnings only */
#define EXIT_NOT_P0F 4       /* not a socket, not p0f (bad magic), undecodable reply */
#define EXIT_CONFIG 5        /* check: the configuration does not load (the shim would pass through) */

/* The subcommands, each in the file of its name; argv[0] is the subcommand's name. */
int cmd_query(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_policy_service(int argc, char **argv);   /* `p0fshim policy`: Postfix policy service (headers) */
int cmd_header(int argc, char **argv);           /* one header value, for Exim's ${run} */
int cmd_fingerprint(int argc, char **argv);      /* the in-process fingerprinter on a capture */

/* query.c: the exit status of a p0f query's outcome, for query and check. */
int query_exit_status(enum p0fq_status s);

#endif
