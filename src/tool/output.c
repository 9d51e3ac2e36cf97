/* Escaped output and the shared shapes of the tool's text (see output.h). The five escapings
 * differ only in a few choices, so one loop writes them all from a table of styles. */
#include "output.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

struct escape_style {
    const char *const *entities; /* by byte (ASCII): how it is written, when not NULL */
    const char *quote;          /* how '"' is written; NULL: as itself */
    const char *backslash;      /* how '\\' is written; NULL: as itself */
    bool named_controls;        /* \n and \t by name rather than in hex */
    const char *hex_prefix;     /* before the two hex digits of any other control or non-ASCII byte */
    bool always_enclosed;       /* the whole text between double quotes */
    const char *enclose_if;     /* or only when it holds one of these bytes; NULL: never */
};

static const struct escape_style STYLE_ESCAPED = {
    .quote = "\\\"", .backslash = "\\\\", .hex_prefix = "\\x",
};
static const struct escape_style STYLE_SAFE = {
    .hex_prefix = "\\x",
};
static const struct escape_style STYLE_JSON = {
    .quote = "\\\"", .backslash = "\\\\", .named_controls = true, .hex_prefix = "\\u00", .always_enclosed = true,
};
/* Every byte that means something to HTML, in text or in a quoted attribute, as a character
 * reference; controls and non-ASCII as the text output shows them (\xHH, so also the
 * backslash as \\): the page is ASCII and shows the bytes, whatever encoding they were. */
static const char *const html_entities[128] = {
    ['<'] = "&lt;", ['>'] = "&gt;", ['&'] = "&amp;", ['"'] = "&quot;", ['\''] = "&#39;",
};
static const struct escape_style STYLE_HTML = {
    .entities = html_entities, .backslash = "\\\\", .hex_prefix = "\\x",
};
static const struct escape_style STYLE_CSV = {
    .quote = "\"\"", .hex_prefix = "\\x", .enclose_if = ",\"\r\n",
};

static bool needs_enclosing(const struct escape_style *st, const char *s, size_t n)
{
    if (st->always_enclosed)
        return true;
    if (st->enclose_if == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\0' && strchr(st->enclose_if, s[i]))
            return true;
    return false;
}

static void put_styled(FILE *f, const struct escape_style *st, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    bool enclosed = needs_enclosing(st, s, n);
    if (enclosed)
        putc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (st->entities && c < 128 && st->entities[c]) {
            fputs(st->entities[c], f);
        } else if (c == '"' && st->quote) {
            fputs(st->quote, f);
        } else if (c == '\\' && st->backslash) {
            fputs(st->backslash, f);
        } else if (c == '\n' && st->named_controls) {
            fputs("\\n", f);
        } else if (c == '\t' && st->named_controls) {
            fputs("\\t", f);
        } else if (c < 0x20 || c >= 0x7f) {
            fputs(st->hex_prefix, f);
            putc(hex[c >> 4], f);
            putc(hex[c & 15], f);
        } else {
            putc(c, f);
        }
    }
    if (enclosed)
        putc('"', f);
}

void put_escaped(FILE *f, const char *s, size_t n)
{
    put_styled(f, &STYLE_ESCAPED, s, n);
}

void put_escaped_str(FILE *f, const char *s)
{
    put_styled(f, &STYLE_ESCAPED, s, strlen(s));
}

void put_safe(FILE *f, const char *s, size_t n)
{
    put_styled(f, &STYLE_SAFE, s, n);
}

void put_json(FILE *f, const char *s, size_t n)
{
    put_styled(f, &STYLE_JSON, s, n);
}

void put_json_str(FILE *f, const char *s)
{
    put_styled(f, &STYLE_JSON, s, strlen(s));
}

void put_html(FILE *f, const char *s, size_t n)
{
    put_styled(f, &STYLE_HTML, s, n);
}

void put_html_str(FILE *f, const char *s)
{
    put_styled(f, &STYLE_HTML, s, strlen(s));
}

void put_csv(FILE *f, const char *s, size_t n)
{
    put_styled(f, &STYLE_CSV, s, n);
}

void print_diag(FILE *f, const char *prefix, const struct diag *d)
{
    fputs(prefix, f);
    if (d->line)
        fprintf(f, "%s:%u: ", d->file, d->line);
    else if (d->file[0])
        fprintf(f, "%s: ", d->file);
    fprintf(f, "%s\n", d->reason);
}

void format_unix_time(uint32_t t, char *buf, size_t size)
{
    time_t when = (time_t)t;
    struct tm tm;
    if (localtime_r(&when, &tm) == NULL || strftime(buf, size, "%Y/%m/%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "%u", (unsigned)t);
}
