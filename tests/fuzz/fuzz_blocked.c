/* libFuzzer target: the blocked-OS file parser and the verdict on fuzzed genres.
 * Input: the file's text, then a line "\x00\x00" and genres, one per line (a lone file is
 * judged against the genres of a few common OSes). Checks: no memory error or leak; rules keep
 * their line numbers; policy_judge gives block with a rule from the list, or allow, for every
 * genre, and never another verdict for a known OS; unknown/failed lookups are never blocked. */
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void judge(const struct policy *p, const char *genre)
{
    struct endpoint peer;
    struct judgement j;
    memset(&peer, 0, sizeof(peer));
    peer.family = AF_INET;
    peer.ip[0] = 192;
    peer.ip[1] = 0;
    peer.ip[2] = 2;
    peer.ip[3] = 20;
    policy_judge(p, &peer, LOOKUP_OS_KNOWN, genre, &j);
    assert(j.verdict == VERDICT_BLOCK || j.verdict == VERDICT_ALLOW);
    if (j.verdict == VERDICT_BLOCK)
        assert(j.rule >= p->rules && j.rule < p->rules + p->nrules);
    else
        assert(j.rule == NULL);
    policy_judge(p, &peer, LOOKUP_NO_MATCH, NULL, &j);
    assert(j.verdict == VERDICT_UNKNOWN);
    policy_judge(p, &peer, LOOKUP_FAILED, NULL, &j);
    assert(j.verdict == VERDICT_ERROR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n\x00\x00\n";
    static const char *const common[] = {"Windows NT kernel", "Windows 7 or 8", "Linux 3.11 and newer",
                                         "Mac OS X", "", "windows", "Linux 2.2.x-3.x"};
    const uint8_t *split = NULL;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, sep, 4) == 0) {
            split = data + i;
            break;
        }
    size_t text_len = split ? (size_t)(split - data) : size;
    struct policy p;
    struct diag err;
    memset(&p, 0, sizeof(p));
    memset(&err, 0, sizeof(err));
    unsigned lines = 1;
    for (size_t i = 0; i < text_len; i++)
        lines += data[i] == '\n';
    if (policy_parse_blocked(&p, (const char *)data, text_len, "fuzz_blocked", &err) != 0) {
        assert(err.line >= 1 && err.line <= lines && err.reason[0]);
        policy_free(&p);
        return 0;
    }
    for (size_t i = 0; i < p.nrules; i++)
        assert(p.rules[i].line >= 1 && p.rules[i].line <= lines && p.rules[i].text);
    if (split == NULL) {
        for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
            judge(&p, common[i]);
    } else {
        const char *g = (const char *)split + 4, *end = (const char *)data + size;
        char genre[256];
        while (g < end) {
            const char *nl = memchr(g, '\n', (size_t)(end - g));
            size_t n = (size_t)((nl ? nl : end) - g);
            if (n >= sizeof(genre))
                n = sizeof(genre) - 1;
            memcpy(genre, g, n);
            genre[n] = '\0';
            judge(&p, genre);   /* stops at an embedded NUL, as a C string from p0f would */
            g = nl ? nl + 1 : end;
        }
    }
    policy_free(&p);
    return 0;
}
