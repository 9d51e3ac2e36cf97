/* The Postfix policy delegation protocol: see postfix_delegation.h. Pure: no I/O. */
#include "postfix_delegation.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void delegation_init(struct delegation_parser *p)
{
    memset(p, 0, sizeof(*p));
}

void delegation_next_request(struct delegation_parser *p)
{
    memset(&p->req, 0, sizeof(p->req));
}

bool delegation_pending(const struct delegation_parser *p)
{
    return p->len > 0 || p->skipping || p->req.nattrs > 0 || p->req.malformed > 0 || p->req.overlong > 0;
}

static void keep(struct delegation_request *r, char *field, size_t size, const char *value, size_t len)
{
    if (len >= size) {
        len = size - 1;
        r->truncated = true;
    }
    memcpy(field, value, len);
    field[len] = '\0';
}

/* One attribute line, without its LF (a CR before it is dropped: Postfix sends none). */
static void attribute(struct delegation_request *r, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) {
        r->malformed++;
        return;
    }
    r->nattrs++;
    size_t klen = (size_t)(eq - line);
    const char *value = eq + 1;
    size_t vlen = len - klen - 1;
    static const struct {
        const char *name;
        size_t offset, size;
    } used[] = {
        {"request", offsetof(struct delegation_request, request), sizeof(((struct delegation_request *)0)->request)},
        {"protocol_state", offsetof(struct delegation_request, protocol_state),
         sizeof(((struct delegation_request *)0)->protocol_state)},
        {"client_address", offsetof(struct delegation_request, client_address),
         sizeof(((struct delegation_request *)0)->client_address)},
        {"instance", offsetof(struct delegation_request, instance), sizeof(((struct delegation_request *)0)->instance)},
        {"policy_context", offsetof(struct delegation_request, policy_context),
         sizeof(((struct delegation_request *)0)->policy_context)},
    };
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
        if (strlen(used[i].name) == klen && memcmp(used[i].name, line, klen) == 0) {
            keep(r, (char *)r + used[i].offset, used[i].size, value, vlen);
            return;
        }
    }
}

size_t delegation_feed(struct delegation_parser *p, const char *buf, size_t n, bool *complete)
{
    *complete = false;
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (p->skipping) {
            if (c == '\n')
                p->skipping = false;
            continue;
        }
        if (c != '\n') {
            if (p->len == DELEGATION_LINE_MAX) {
                p->req.overlong++;
                p->skipping = true;
                p->len = 0;
                continue;
            }
            p->line[p->len++] = c;
            continue;
        }
        /* End of a line: an empty one (or a lone CR) ends the request. */
        if (p->len == 0 || (p->len == 1 && p->line[0] == '\r')) {
            p->len = 0;
            *complete = true;
            return i + 1;
        }
        p->line[p->len] = '\0';
        attribute(&p->req, p->line, p->len);
        p->len = 0;
    }
    return n;
}

const char *hdr_name(enum hdr_kind h)
{
    switch (h) {
    case HDR_GENRE: return HDR_GENRE_NAME;
    case HDR_LINK: return HDR_LINK_NAME;
    case HDR_NONE: break;
    }
    return "";
}

/* "genre" or "link" as a word (blanks, commas or semicolons around it) of policy_context. */
static enum hdr_kind context_header(const char *ctx)
{
    const char *p = ctx;
    while (*p) {
        size_t skip = strspn(p, " \t,;");
        p += skip;
        size_t w = strcspn(p, " \t,;");
        if (w == 5 && strncasecmp(p, "genre", 5) == 0)
            return HDR_GENRE;
        if (w == 4 && strncasecmp(p, "link", 4) == 0)
            return HDR_LINK;
        p += w;
    }
    return HDR_NONE;
}

enum hdr_kind delegation_choose(const struct delegation_request *r, const struct delegation_memory *m)
{
    enum hdr_kind h = HDR_NONE;
    if (strcmp(r->request, "smtpd_access_policy") != 0)
        return HDR_NONE;
    if (strcasecmp(r->protocol_state, "END-OF-MESSAGE") == 0)
        return HDR_NONE;
    h = context_header(r->policy_context);
    if (h == HDR_NONE) {
        if (strcasecmp(r->protocol_state, "RCPT") == 0)
            h = HDR_GENRE;
        else if (strcasecmp(r->protocol_state, "DATA") == 0 || strcasecmp(r->protocol_state, "BDAT") == 0)
            h = HDR_LINK;
        else
            return HDR_NONE;
    }
    if (m && r->instance[0]) {
        const char *last = h == HDR_GENRE ? m->genre_instance : m->link_instance;
        if (strcmp(last, r->instance) == 0)
            return HDR_NONE;
    }
    return h;
}

void delegation_remember(const struct delegation_request *r, struct delegation_memory *m, enum hdr_kind h)
{
    char *slot = h == HDR_GENRE ? m->genre_instance : h == HDR_LINK ? m->link_instance : NULL;
    if (slot)
        snprintf(slot, sizeof(m->genre_instance), "%s", r->instance);
}

bool delegation_tag_valid(const char *tag)
{
    size_t n = 0;
    for (; tag[n]; n++) {
        char c = tag[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return n >= 1 && n <= DELEGATION_TAG_MAX;
}

size_t delegation_answer(enum hdr_kind h, const char *value, const char *tag, char *out, size_t size)
{
    char clean[HDRVAL_MAX + 1];
    int n;
    bool tagged = tag && tag[0] && delegation_tag_valid(tag);
    hdrval_sanitise(value ? value : "", clean, sizeof(clean));
    if (h == HDR_NONE || clean[0] == '\0')
        n = snprintf(out, size, "action=DUNNO\n\n");
    else
        n = snprintf(out, size, "action=PREPEND %s%s%s: %s\n\n", hdr_name(h), tagged ? "-" : "", tagged ? tag : "",
                     clean);
    if (n < 0 || (size_t)n >= size) {
        /* Cannot happen with size >= 256; still never send half an answer. */
        n = snprintf(out, size, "action=DUNNO\n\n");
        if (n < 0 || (size_t)n >= size) {
            if (size)
                out[0] = '\0';
            return 0;
        }
    }
    return (size_t)n;
}

void hdrval_sanitise(const char *in, char *out, size_t size)
{
    size_t max = size - 1 < HDRVAL_MAX ? size - 1 : HDRVAL_MAX;
    size_t n = 0;
    bool blank = false;
    for (const unsigned char *p = (const unsigned char *)in; *p && n < max; p++) {
        unsigned char c = *p;
        if (c == ' ' || c == '\t') {
            blank = n > 0;
            continue;
        }
        if (blank) {
            if (n + 1 >= max)
                break;               /* no room for the space and a byte after it */
            out[n++] = ' ';
            blank = false;
        }
        out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}
