/* libFuzzer target: the p0f signature file reader. Input: a signature file's text.
 * Checks: no memory error (ASan/UBSan); a refused file gives a "t.fp:" message and leaves
 * the database as it was; an accepted one has well-formed signatures, and a SYN can be
 * matched against it. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "p0ffp.h"
#include "synmatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct p0ffp_db db;
    char err[P0FFP_ERROR_MAX];
    p0ffp_db_init(&db);
    if (p0ffp_load_text(&db, "t.fp", (const char *)data, size, err, sizeof(err)) < 0) {
        assert(strncmp(err, "t.fp:", 5) == 0);
        assert(db.nsig == 0 && db.nmtu == 0 && p0ffp_request_count(&db) == 0);
        p0ffp_db_free(&db);
        return 0;
    }
    for (size_t i = 0; i < db.nsig; i++) {
        const struct p0ffp_sig *s = &db.sig[i];
        assert(s->name && s->flavor && s->opt_cnt <= SYN_MAX_OPTS);
        assert(s->ip_ver == 4 || s->ip_ver == 6 || s->ip_ver == -1);
        assert(s->ttl >= 1);
    }
    for (unsigned b = 0; b < P0FFP_BUCKETS; b++)
        assert(db.bucket_start[b] <= db.bucket_start[b + 1]);

    /* A Linux SYN, and one with every field at an edge. */
    struct syn_features f;
    struct syn_match m;
    memset(&f, 0, sizeof(f));
    f.ip_ver = 4, f.ttl = 64, f.mss = 1460, f.win = 29200, f.wscale = 7, f.opt_cnt = 5, f.ts1 = 1, f.tot_hdr = 60;
    memcpy(f.opt_layout, (const uint8_t[]){SYN_OPT_MSS, SYN_OPT_SACKOK, SYN_OPT_TS, SYN_OPT_NOP, SYN_OPT_WS}, 5);
    f.quirks = SYN_QUIRK_BIT(SYN_QUIRK_DF) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID);
    synmatch_packet(&db, &f, &m);
    assert(memchr(m.raw_sig, 0, sizeof(m.raw_sig)) && memchr(m.genre, 0, sizeof(m.genre)));
    f.ip_ver = 6, f.ttl = 255, f.mss = 65535, f.win = 65535, f.wscale = 255, f.opt_cnt = 0, f.quirks = ~0u >> 15;
    synmatch_packet(&db, &f, &m);
    assert(m.distance <= 255);
    p0ffp_db_free(&db);
    return 0;
}
