/* libFuzzer target: `p0fshim report`'s line classifier and logfmt parser (pure functions).
 * Input: one log line (syslog file, journal or bare message). Checks: no memory error; a parsed
 * message's fields lie inside the input; unescaping a field never writes past its length. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct time_ctx tc;
    struct line_info li;
    struct message m;
    const char *why = NULL;
    char out[REPORT_LINE_MAX + 1];

    if (size > REPORT_LINE_MAX)
        return 0;
    /* A private copy: the parsers may not read a byte past the line. */
    char *line = malloc(size ? size : 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    memset(&tc, 0, sizeof(tc));
    tc.ref_year = 2026;
    tc.ref_mon = 11;
    classify_line(&tc, line, size, &li);
    if (li.kind == LINE_SHIM) {
        assert(li.msg >= line && li.msg + li.msg_len <= line + size);
        if (parse_message(li.msg, li.msg_len, &m, &why) == 0) {
            for (int f = 0; f < LOG_FIELDS; f++) {
                if (!has_field(&m, f))
                    continue;
                assert(m.f[f].v >= li.msg && m.f[f].v + m.f[f].len <= li.msg + li.msg_len);
                size_t n = unescape_value(m.f[f].v, m.f[f].len, out);
                assert(n <= m.f[f].len);
            }
        }
    }
    /* The whole input as a bare message too. */
    if (parse_message(line, size, &m, &why) == 0)
        for (int f = 0; f < LOG_FIELDS; f++)
            if (has_field(&m, f))
                assert(unescape_value(m.f[f].v, m.f[f].len, out) <= m.f[f].len);
    free(line);
    return 0;
}
