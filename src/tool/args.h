/* What the subcommands take from their command line by the same rules: a number option is
 * plain decimal within the subcommand's bounds, or the subcommand refuses it (exit 2). */
#ifndef P0FSHIM_TOOL_ARGS_H
#define P0FSHIM_TOOL_ARGS_H

/* Parses an unsigned decimal in [min, max]; -1 on anything else. */
int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out);

#endif
