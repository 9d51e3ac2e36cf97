/* How the tool writes text it did not make (p0f's strings, log lines, file names, arguments):
 * escaped for the reader at hand, a terminal, a JSON parser, a spreadsheet or a browser, so that nothing
 * from p0f or a log can write control bytes to a terminal or break a record; and the two
 * shapes every subcommand shares, a configuration problem and a p0f timestamp. */
#ifndef P0FSHIM_TOOL_OUTPUT_H
#define P0FSHIM_TOOL_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

/* Text for humans: logfmt-style escapes (\" \\ \xHH). */
void put_escaped(FILE *f, const char *s, size_t n);
void put_escaped_str(FILE *f, const char *s);
/* Only control and non-ASCII bytes escaped (\xHH): for messages that quote on their own. */
void put_safe(FILE *f, const char *s, size_t n);
/* A JSON string, quotes included; bytes >= 0x80 are written as \u00XX (Latin-1). */
void put_json(FILE *f, const char *s, size_t n);
void put_json_str(FILE *f, const char *s);
/* HTML text or a double-quoted attribute's value: < > & " ' as character references, control
 * and non-ASCII bytes as \xHH and the backslash as \\ (as put_escaped shows them). */
void put_html(FILE *f, const char *s, size_t n);
void put_html_str(FILE *f, const char *s);
/* A CSV field, quoted (RFC 4180) when it holds a comma or a quote; control and non-ASCII
 * bytes as \xHH, so a row is always one line. */
void put_csv(FILE *f, const char *s, size_t n);

/* "FILE:LINE: reason" (no LINE when the problem is not on a line). */
void print_diag(FILE *f, const char *prefix, const struct diag *d);
/* "2024/11/27 04:00:01" local time, as p0f-client prints it. */
void format_unix_time(uint32_t t, char *buf, size_t size);

#endif
