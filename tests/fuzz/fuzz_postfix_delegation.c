/* libFuzzer target: the Postfix policy protocol parser (src/client/postfix_delegation.c), and the
 * answers built from what it parses. Input: bytes as a policy client would send them.
 * Checks: no memory error (ASan/UBSan); the parser consumes what it says and every field it
 * keeps is NUL-terminated; fed in one piece or byte by byte it finds the same requests; an
 * answer is one "action=..." line and the empty line, printable ASCII, whatever the request
 * held (nothing a client sends can add a line or a header); a sanitised value is printable,
 * at most HDRVAL_MAX bytes, without leading, trailing or doubled blanks. The parser is
 * compiled in here with a short line limit (below); the logic is the same at any limit. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Lines longer than this are the overlong ones: short enough for inputs of -max_len 4096 to
 * have several, long enough for a value to overflow its field (64 bytes) before. */
#define DELEGATION_LINE_MAX 100
#include "client/postfix_delegation.c"

#define MAX_REQUESTS 64

static void check_field(const char *field, size_t size)
{
    assert(memchr(field, '\0', size) != NULL);
}

static void check_answer(const char *out, size_t n)
{
    assert(n == strlen(out));
    assert(n >= 14 && strncmp(out, "action=", 7) == 0);
    assert(out[n - 1] == '\n' && out[n - 2] == '\n');
    for (size_t i = 0; i < n - 2; i++)
        assert(out[i] >= 0x20 && out[i] < 0x7f);
}

static void check_value(const char *v)
{
    size_t n = strlen(v);
    assert(n <= HDRVAL_MAX);
    for (size_t i = 0; i < n; i++) {
        assert(v[i] >= 0x20 && v[i] < 0x7f);
        if (v[i] == ' ')
            assert(i > 0 && i + 1 < n && v[i + 1] != ' ');
    }
}

static bool same_request(const struct delegation_request *a, const struct delegation_request *b)
{
    return strcmp(a->request, b->request) == 0 && strcmp(a->protocol_state, b->protocol_state) == 0 &&
           strcmp(a->client_address, b->client_address) == 0 && strcmp(a->instance, b->instance) == 0 &&
           strcmp(a->policy_context, b->policy_context) == 0 && a->nattrs == b->nattrs &&
           a->malformed == b->malformed && a->overlong == b->overlong && a->truncated == b->truncated;
}

/* Feeds data in pieces of `piece` bytes (0: all at once); the requests found go to reqs. */
static size_t parse(const uint8_t *data, size_t size, size_t piece, struct delegation_request *reqs)
{
    struct delegation_parser *p = malloc(sizeof(*p));
    size_t found = 0;
    assert(p != NULL);
    delegation_init(p);
    for (size_t at = 0; at < size;) {
        size_t n = piece && size - at > piece ? piece : size - at;
        bool complete;
        size_t used = delegation_feed(p, (const char *)data + at, n, &complete);
        assert(used <= n);
        if (complete) {
            assert(used >= 1 && data[at + used - 1] == '\n');
            const struct delegation_request *r = &p->req;
            check_field(r->request, sizeof(r->request));
            check_field(r->protocol_state, sizeof(r->protocol_state));
            check_field(r->client_address, sizeof(r->client_address));
            check_field(r->instance, sizeof(r->instance));
            check_field(r->policy_context, sizeof(r->policy_context));
            if (found < MAX_REQUESTS)
                reqs[found] = *r;
            found++;
            delegation_next_request(p);
            assert(p->len == 0);
        } else {
            assert(used == n);
        }
        assert(p->len <= DELEGATION_LINE_MAX);
        at += used;
    }
    free(p);
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct delegation_request whole[MAX_REQUESTS], bytewise[MAX_REQUESTS];
    size_t found = parse(data, size, 0, whole);
    assert(parse(data, size, 1, bytewise) == found);
    if (found > MAX_REQUESTS)
        found = MAX_REQUESTS;
    for (size_t i = 0; i < found; i++)
        assert(same_request(&whole[i], &bytewise[i]));

    struct delegation_memory mem;
    memset(&mem, 0, sizeof(mem));
    for (size_t i = 0; i < found; i++) {
        const struct delegation_request *r = &whole[i];
        enum hdr_kind h = delegation_choose(r, &mem);
        assert(h == HDR_NONE || h == HDR_GENRE || h == HDR_LINK);
        char out[256];
        /* Values as hostile as the request: its own fields as the header value and the tag. */
        size_t n = delegation_answer(h, r->client_address, r->instance, out, sizeof(out));
        check_answer(out, n);
        n = delegation_answer(h, r->policy_context, NULL, out, sizeof(out));
        check_answer(out, n);
        if (strncmp(out, "action=PREPEND", 14) == 0) {
            delegation_remember(r, &mem, h);
            if (r->instance[0])
                assert(delegation_choose(r, &mem) == HDR_NONE);
        }
        check_field(mem.genre_instance, sizeof(mem.genre_instance));
        check_field(mem.link_instance, sizeof(mem.link_instance));
    }

    /* The sanitiser on the raw bytes (up to the first NUL, as a C string). */
    char *text = malloc(size + 1);
    assert(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    char clean[HDRVAL_MAX + 1], small[8];
    hdrval_sanitise(text, clean, sizeof(clean));
    check_value(clean);
    hdrval_sanitise(text, small, sizeof(small));
    assert(strlen(small) < sizeof(small));
    check_value(small);
    (void)delegation_tag_valid(text);
    free(text);
    return 0;
}
