/* libFuzzer target: `p0fshim report --html` from a hostile log. Input: log lines (split at
 * newlines), counted as the command counts them into deliberately small tables (so that the
 * genre table overflows and the timeline widens its buckets and folds genres), then drawn as
 * the page. Checks: no memory error; the page is printable ASCII; every < and > delimits one of
 * the page's own tags, never inside an attribute's value; no attribute is an event handler;
 * every & starts a character reference: whatever the log says, it stays text. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static const char *const page_tags[] = {
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "time", "section", "div",
    "b", "table", "thead", "tbody", "tr", "th", "td", "i", "em", "small", "figure", "figcaption", "svg", "line",
    "text", "path", "rect", "ul", "li", "span",
};
static const char *const references[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&#39;", "&middot;"};

static void check_tag(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(page_tags) / sizeof(page_tags[0]); i++)
        if (strlen(page_tags[i]) == len && memcmp(page_tags[i], name, len) == 0)
            return;
    assert(!"a tag the page never writes");
}

static void check_page(const char *p, size_t n)
{
    bool in_tag = false, in_value = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        assert((c >= 0x20 && c < 0x7f) || c == '\n');
        if (c == '&') {
            bool known = false;
            for (size_t k = 0; k < sizeof(references) / sizeof(references[0]); k++)
                known |= strncmp(p + i, references[k], strlen(references[k])) == 0;
            assert(known);
        }
        if (!in_tag) {
            assert(c != '>');
            if (c == '<') {
                size_t start = i + 1 + (p[i + 1] == '/'), end = start;
                while (end < n && p[end] != ' ' && p[end] != '>' && p[end] != '/')
                    end++;
                check_tag(p + start, end - start);
                in_tag = true;
            }
        } else if (in_value) {
            assert(c != '<' && c != '>');
            in_value = c != '"';
        } else if (c == '"') {
            in_value = true;
        } else {
            assert(c != '<');
            assert(!(c == ' ' && (p[i + 1] == 'o' || p[i + 1] == 'O') && (p[i + 2] == 'n' || p[i + 2] == 'N')));
            in_tag = c != '>';
        }
    }
    assert(!in_tag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct input in = {.name = "fuzz"};
    static struct report r;
    memset(&r, 0, sizeof(r));
    r.inputs = &in;
    in.lines = in.bytes = 0;
    r.ninputs = 1;
    r.top = 3;
    r.tc.fixed_year = 2024;
    r.ms_hist = calloc(MS_BUCKETS, sizeof(*r.ms_hist));
    strtab_init(&r.os, 4, 4096);
    strtab_init(&r.genre, 4, 4096);
    strtab_init(&r.rules, 4, 4096);
    strtab_init(&r.reasons, 4, 4096);
    strtab_init(&r.exempts, 4, 4096);
    strtab_init(&r.diags, 4, 4096);
    strtab_init(&r.sigs, 4, 4096);
    iptab_init(&r.ips, 16);
    hourtab_init(&r.hours, 16);
    r.with_timeline = true;
    timeline_init(&r.timeline, 32);

    /* A private copy: the parsers may not read a byte past the input. */
    char *log = malloc(size ? size : 1);
    memcpy(log, data, size);
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(log + i, '\n', size - i);
        size_t len = (size_t)((nl ? nl - log : (ptrdiff_t)size) - (ptrdiff_t)i);
        report_line(&r, log + i, len > REPORT_LINE_MAX ? REPORT_LINE_MAX : len, len > REPORT_LINE_MAX);
        i += len + 1;
    }

    char *page = NULL;
    size_t page_len = 0;
    FILE *saved = stdout;
    stdout = open_memstream(&page, &page_len);
    report_html(&r);
    fclose(stdout);
    stdout = saved;
    check_page(page, page_len);

    free(page);
    free(log);
    free(r.ms_hist);
    strtab_free(&r.os);
    strtab_free(&r.genre);
    strtab_free(&r.rules);
    strtab_free(&r.reasons);
    strtab_free(&r.exempts);
    strtab_free(&r.diags);
    strtab_free(&r.sigs);
    iptab_free(&r.ips);
    hourtab_free(&r.hours);
    timeline_free(&r.timeline);
    return 0;
}
