/* The documentation keeps up with the directive table: every directive of config_directives
 * has its own entry in p0fshim(8) (a .TP tag that names it) and a row in the directive table
 * of docs/configuration.md, as Postfix's mantools hold its manuals to its parameter tables.
 * Run from the top of the source tree (as `make check-unit` does); a failure names every
 * directive missing from each file. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAN_PAGE "man/p0fshim.8"
#define CONFIG_DOC "docs/configuration.md"

static char *read_doc(const char *path)
{
    FILE *f = fopen(path, "re");
    cr_assert_not_null(f, "cannot open %s: run the unit tests from the top of the source tree", path);
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(f);
    fclose(mem);
    return text;
}

static bool name_ends(char c)
{
    return !(c == '_' || c == '/' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

/* A .TP tag names a directive when it starts with it (".BI name", ".B name", "\fBname\fP")
 * or lists it after a comma ("\fBp0f3\fP \fIPATH\fP, \fBp0f2\fP ..."); an option inside
 * brackets, as in the ident/p0f tag, does not count. */
static bool man_tag_names(const char *tag, const char *name)
{
    static const char *const macros[] = {".BI ", ".B "};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
        size_t m = strlen(macros[i]);
        if (strncmp(tag, macros[i], m) == 0 && strncmp(tag + m, name, n) == 0 && name_ends(tag[m + n]))
            return true;
    }
    char bold[96];
    snprintf(bold, sizeof(bold), "\\fB%s\\fP", name);
    if (strncmp(tag, bold, strlen(bold)) == 0)
        return true;
    char listed[100];
    snprintf(listed, sizeof(listed), ", %s", bold);
    return strstr(tag, listed) != NULL;
}

static bool in_man_page(const char *text, const char *name)
{
    for (const char *tp = strstr(text, "\n.TP\n"); tp; tp = strstr(tp + 1, "\n.TP\n")) {
        const char *tag = tp + 5;
        char line[512];
        size_t len = strcspn(tag, "\n");
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, tag, len);
        line[len] = '\0';
        if (man_tag_names(line, name))
            return true;
    }
    return false;
}

/* A row of the table under "| directive |" names a directive when its first cell holds
 * `name (a code span that starts with it). */
static bool in_config_doc(const char *text, const char *name)
{
    const char *row = strstr(text, "\n| directive |");
    cr_assert_not_null(row, "%s has no \"| directive |\" table", CONFIG_DOC);
    for (row = strchr(row + 1, '\n'); row && row[1] == '|'; row = strchr(row + 1, '\n')) {
        const char *cell = row + 2, *end = cell;
        while (*end && *end != '\n' && !(*end == '|' && end[-1] != '\\'))
            end++;
        size_t n = strlen(name);
        for (const char *tick = memchr(cell, '`', (size_t)(end - cell)); tick && tick < end;
             tick = memchr(tick + 1, '`', (size_t)(end - tick - 1)))
            if (strncmp(tick + 1, name, n) == 0 && name_ends(tick[1 + n]))
                return true;
    }
    return false;
}

static void expect_every_directive(const char *path, bool (*documents)(const char *, const char *))
{
    char *text = read_doc(path);
    char missing[1024] = "";
    for (size_t i = 0; i < config_ndirectives; i++)
        if (!documents(text, config_directives[i].name)) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof(missing) - used, " %s", config_directives[i].name);
        }
    free(text);
    cr_expect_str_empty(missing, "directives missing from %s:%s", path, missing);
}

Test(docs_sync, every_directive_has_an_entry_in_the_man_page)
{
    expect_every_directive(MAN_PAGE, in_man_page);
}

Test(docs_sync, every_directive_has_a_row_in_the_configuration_reference)
{
    expect_every_directive(CONFIG_DOC, in_config_doc);
}

/* The matching rules themselves, so that a rule that matched everything could not pass. */
Test(docs_sync, an_option_inside_another_entry_does_not_count)
{
    const char *man = "x\n.TP\n\\fBident/p0f\\fP [\\fBadd_headers\\fP \\fIBOOL\\fP]\nText.\n"
                      ".TP\n\\fBp0f3\\fP \\fIPATH\\fP, \\fBp0f2\\fP \\fIPATH\\fP\n.TP\n.BI socket \" PATH\"\n";
    cr_assert(in_man_page(man, "ident/p0f"));
    cr_assert(in_man_page(man, "p0f2"));
    cr_assert(in_man_page(man, "socket"));
    cr_assert_not(in_man_page(man, "add_headers"));
    cr_assert_not(in_man_page(man, "sock"));
    const char *doc = "x\n| directive | meaning |\n|---|---|\n| `ident/p0f [add_headers BOOL]` | `smite_os` |\n"
                      "| `version 2\\|3`, `mode` | m |\n\n| `timeout_ms` | after the table |\n";
    cr_assert(in_config_doc(doc, "ident/p0f"));
    cr_assert(in_config_doc(doc, "version"));
    cr_assert(in_config_doc(doc, "mode"));
    cr_assert_not(in_config_doc(doc, "add_headers"), "inside another code span");
    cr_assert_not(in_config_doc(doc, "smite_os"), "not in the first cell");
    cr_assert_not(in_config_doc(doc, "timeout_ms"), "not in the table");
}
