/* The genres p0f can report, from its fingerprint database (see fpfile.h). */
#include "fpfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p0f3.h"

#define FP_FILE_MAX (4 * 1024 * 1024)

/* A sample of p0f 3.09b's genres, for when p0f.fp cannot be read. */
static const char *const builtin_genres[] = {
    "Linux 3.11 and newer", "Linux 2.2.x-3.x", "Linux 2.4.x-2.6.x", "Windows XP", "Windows 7 or 8",
    "Windows NT kernel", "Mac OS X 10.x", "Mac OS X", "FreeBSD 9.x or newer", "FreeBSD", "OpenBSD 4.x-5.x",
    "Solaris 10", "iOS iPhone or iPad", "HP-UX 11.x",
};

static bool have(const struct genre_list *g, const char *s)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->genre[i], s) == 0)
            return true;
    return false;
}

static void add(struct genre_list *g, const char *s)
{
    if (have(g, s))
        return;
    char **grown = realloc(g->genre, (g->n + 1) * sizeof(*grown));
    char *copy = strdup(s);
    if (grown == NULL || copy == NULL) {
        free(copy);
        if (grown)
            g->genre = grown;
        return;
    }
    g->genre = grown;
    g->genre[g->n++] = copy;
}

/* "label = s:unix:Linux:3.11 and newer" -> "Linux 3.11 and newer"; userland tools ('!'
 * class: nmap, p0f-sendsyn) are not recorded by p0f as a host's OS. */
static void parse_label(struct genre_list *g, char *value)
{
    char *fields[4];
    size_t n = 0;
    char *p = value;
    while (n < 3) {
        char *colon = strchr(p, ':');
        if (colon == NULL)
            return;
        *colon = '\0';
        fields[n++] = p;
        p = colon + 1;
    }
    fields[3] = p;
    if (strcmp(fields[1], "!") == 0 || fields[2][0] == '\0')
        return;
    char genre[2 * P0F3_STR_MAX + 2];
    if (fields[3][0])
        snprintf(genre, sizeof(genre), "%.31s %.31s", fields[2], fields[3]);
    else
        snprintf(genre, sizeof(genre), "%.31s", fields[2]);
    add(g, genre);
}

void genre_list_load(struct genre_list *g, const char *fp_path)
{
    memset(g, 0, sizeof(*g));
    FILE *f = fopen(fp_path, "re");
    if (f) {
        char line[1024];
        bool tcp = false;
        size_t total = 0;
        while (fgets(line, sizeof(line), f) && total < FP_FILE_MAX) {
            total += strlen(line);
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] == '[') {
                tcp = strncmp(line, "[tcp:", 5) == 0;
                continue;
            }
            if (!tcp || strncmp(line, "label", 5) != 0)
                continue;
            char *eq = strchr(line, '=');
            if (eq == NULL)
                continue;
            char *v = eq + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            parse_label(g, v);
        }
        fclose(f);
    }
    if (g->n > 0) {
        g->from_file = true;
        return;
    }
    for (size_t i = 0; i < sizeof(builtin_genres) / sizeof(builtin_genres[0]); i++)
        add(g, builtin_genres[i]);
}

void genre_list_free(struct genre_list *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->genre[i]);
    free(g->genre);
    memset(g, 0, sizeof(*g));
}
