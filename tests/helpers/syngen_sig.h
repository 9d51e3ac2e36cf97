/* The [tcp:request] signatures of a p0f.fp file, as syngen reads them to build a SYN for each:
 * its own reader, never the library's, because the generator must share no code with what it
 * tests. Included by syngen.c only, after helper.h. */
#ifndef P0FSHIM_TESTS_SYNGEN_SIG_H
#define P0FSHIM_TESTS_SYNGEN_SIG_H

#include <ctype.h>

struct fp_sig {
    int line;
    char label[160];        /* the label line's value, e.g. "s:unix:Linux:3.11 and newer" */
    char text[200];         /* the sig line's value */
    char ver;               /* '4', '6' or '*' */
    int ttl;                /* initial TTL, any "+N" added */
    bool random_ttl;        /* "64-" */
    int olen;
    long mss;               /* -1: wildcard */
    char win_kind;          /* '=' literal, '*', '%', 's' mss*N, 't' mtu*N */
    long win;
    long scale;             /* -1: wildcard */
    char layout[120];       /* option layout text */
    char quirks[120];
    char pclass;            /* '0', '+' or '*' */
};

static struct fp_sig *sigs;
static size_t sig_count;

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One "sig = ..." value into *s; false if it does not have p0f's eight fields. */
static bool parse_sig(char *v, struct fp_sig *s)
{
    char *f[8], *ttl, *comma;
    size_t n = 0;

    snprintf(s->text, sizeof(s->text), "%s", v);
    /* The layout and quirk fields may be empty, so strtok (which merges separators) won't do. */
    for (f[n++] = v; *v != '\0' && n < 8; v++)
        if (*v == ':') {
            *v = '\0';
            f[n++] = v + 1;
        }
    if (n != 8 || strchr(f[7], ':') != NULL)
        return false;
    s->ver = f[0][0];
    ttl = f[1];
    s->ttl = atoi(ttl) + (strchr(ttl, '+') != NULL ? atoi(strchr(ttl, '+') + 1) : 0);
    s->random_ttl = strchr(ttl, '-') != NULL;
    s->olen = atoi(f[2]);
    s->mss = strcmp(f[3], "*") == 0 ? -1 : atol(f[3]);
    if ((comma = strchr(f[4], ',')) == NULL)
        return false;
    *comma = '\0';
    s->scale = strcmp(comma + 1, "*") == 0 ? -1 : atol(comma + 1);
    if (strcmp(f[4], "*") == 0)
        s->win_kind = '*';
    else if (f[4][0] == '%')
        s->win_kind = '%', s->win = atol(f[4] + 1);
    else if (strncmp(f[4], "mss*", 4) == 0 || strncmp(f[4], "mtu*", 4) == 0)
        s->win_kind = f[4][1] == 's' ? 's' : 't', s->win = atol(f[4] + 4);
    else
        s->win_kind = '=', s->win = atol(f[4]);
    snprintf(s->layout, sizeof(s->layout), "%s", f[5]);
    snprintf(s->quirks, sizeof(s->quirks), "%s", f[6]);
    s->pclass = f[7][0];
    return true;
}

/* The [tcp:request] signatures of path, in file order. */
static void read_fp_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char buf[512], label[160] = "";
    bool in_section = false;
    int line = 0;

    if (fp == NULL)
        die("%s: %s", path, strerror(errno));
    while (fgets(buf, sizeof(buf), fp) != NULL) {
        char *s = trim(buf), *eq;
        line++;
        if (*s == ';' || *s == '\0')
            continue;
        if (*s == '[') {
            in_section = strcmp(s, "[tcp:request]") == 0;
            continue;
        }
        if (!in_section || (eq = strchr(s, '=')) == NULL)
            continue;
        *eq = '\0';
        if (strcmp(trim(s), "label") == 0) {
            snprintf(label, sizeof(label), "%s", trim(eq + 1));
        } else if (strcmp(trim(s), "sig") == 0) {
            struct fp_sig sig = {.line = line};
            snprintf(sig.label, sizeof(sig.label), "%s", label);
            if (!parse_sig(trim(eq + 1), &sig))
                die("%s:%d: cannot read this signature", path, line);
            sigs = realloc(sigs, (sig_count + 1) * sizeof(*sigs));
            if (sigs == NULL)
                die("out of memory");
            sigs[sig_count++] = sig;
        }
    }
    fclose(fp);
    if (sig_count == 0)
        die("%s: no [tcp:request] signatures", path);
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

#endif
