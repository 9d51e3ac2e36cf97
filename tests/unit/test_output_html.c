/* The tool's HTML escaping (src/tool/output.c, put_html): what the page of `report --html`
 * shows of every string from a log. No byte can open a tag, end an attribute or start a
 * character reference of its own, and control and non-ASCII bytes are shown as \xHH, as the
 * text output shows them. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

static char *html_of(const char *s, size_t n)
{
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    cr_assert_not_null(f);
    put_html(f, s, n);
    fclose(f);
    return out;
}

Test(output_html, markup_quotes_and_controls)
{
    static const char hostile[] = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;\x01\x1b[2J\\\xff\n";
    char *got = html_of(hostile, sizeof(hostile) - 1);
    cr_assert_str_eq(got, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
                          "&amp;amp;\\x01\\x1b[2J\\\\\\xff\\x0a");
    free(got);
}

Test(output_html, nul_bytes_are_shown_not_cut)
{
    char *got = html_of("a\0b", 3);
    cr_assert_str_eq(got, "a\\x00b");
    free(got);
}

/* Every byte alone: the result is printable ASCII, and <, >, ", ' and & occur only inside the
 * five references the escaping writes. */
Test(output_html, every_byte_is_inert)
{
    static const char *const refs[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&#39;"};
    for (int c = 0; c < 256; c++) {
        char in = (char)c;
        char *got = html_of(&in, 1);
        for (const char *p = got; *p; p++)
            cr_assert(*p >= 0x20 && *p < 0x7f, "byte 0x%02x gives a non-printable byte", c);
        cr_assert_null(strpbrk(got, "<>\"'"), "byte 0x%02x: \"%s\"", c, got);
        if (strchr(got, '&')) {
            bool known = false;
            for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
                known |= strcmp(got, refs[i]) == 0;
            cr_assert(known, "byte 0x%02x: \"%s\"", c, got);
        }
        free(got);
    }
}
