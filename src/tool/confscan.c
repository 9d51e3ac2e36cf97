/* struct config keeps what a directive set, not where: to name the line behind an
 * exemption or smite_os, each line is parsed on its own (config_parse on a scratch
 * config), so the answer comes from the same parser as the library's. */
#include <string.h>

#include "textfile.h"
#include "tool.h"

typedef bool (*line_test)(const struct config *scratch, const void *arg);

static unsigned scan(const char *text, size_t len, const char *file, line_test test, const void *arg, bool last)
{
    struct text_cursor cursor;
    struct text_line line;
    unsigned found = 0;
    static struct config scratch;

    text_cursor_init(&cursor, text, len);
    while (text_next_line(&cursor, &line)) {
        if (line.len == 0 || line.start[0] == '#')
            continue;
        struct diag err;
        config_init(&scratch);
        if (config_parse(&scratch, line.start, line.len, file, &err) == 0 && test(&scratch, arg)) {
            found = line.number;
            if (!last) {
                config_free(&scratch);
                break;
            }
        }
        config_free(&scratch);
    }
    return found;
}

static bool sets_smite(const struct config *scratch, const void *arg)
{
    (void)arg;
    return scratch->policy.smite_os != NULL;
}

static bool sets_greylist(const struct config *scratch, const void *arg)
{
    (void)arg;
    return scratch->greylist_os != NULL;
}

static bool holds_exempt(const struct config *scratch, const void *arg)
{
    const struct cidr *net = arg;
    for (size_t i = 0; i < scratch->policy.nexempt; i++) {
        const struct cidr *e = &scratch->policy.exempt[i];
        if (e->family == net->family && e->prefix == net->prefix && memcmp(e->net, net->net, sizeof(e->net)) == 0)
            return true;
    }
    return false;
}

unsigned confscan_smite_line(const char *text, size_t len, const char *file)
{
    return scan(text, len, file, sets_smite, NULL, true);
}

unsigned confscan_greylist_line(const char *text, size_t len, const char *file)
{
    return scan(text, len, file, sets_greylist, NULL, true);
}

unsigned confscan_exempt_line(const char *text, size_t len, const char *file, const struct cidr *net)
{
    return scan(text, len, file, holds_exempt, net, false);
}
