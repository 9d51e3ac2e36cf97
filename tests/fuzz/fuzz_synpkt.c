/* libFuzzer target: the SYN parser and the matcher behind it. Input: bytes as TCP_SAVED_SYN
 * or a capture gives them (an IP header first). Checks: no memory error (ASan/UBSan); a
 * refusal has a reason; an accepted SYN has a raw signature that fits and reads as one
 * line, and matches against a small signature file without trouble. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "p0ffp.h"
#include "synmatch.h"
#include "synpkt.h"

static const char signatures[] =
    "classes = win,unix,other\n"
    "[mtu]\nlabel = Ethernet or modem\nsig = 1500\n"
    "[tcp:request]\n"
    "label = s:unix:Linux:3.11 and newer\nsig = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\n"
    "label = g:unix:Linux:\nsig = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0\n"
    "label = s:win:Windows:7 or 8\nsig = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0\n"
    "label = s:unix:Odd:\nsig = *:255-:0:*:%512,*:?30,eol+3:ecn:*\n"
    "label = s:!:nmap:SYN scan\nsys = @unix\nsig = *:64-:0:1460:1024,0:mss::0\n";

static struct p0ffp_db db;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (p0ffp_request_count(&db) == 0) {
        char err[P0FFP_ERROR_MAX];
        int rc = p0ffp_load_text(&db, "fuzz.fp", signatures, sizeof(signatures) - 1, err, sizeof(err));
        assert(rc == 0);
    }
    for (unsigned flags = 0; flags <= SYNPKT_HEADERS_ONLY; flags++) {
        struct syn_features f;
        const char *why = NULL;
        int rc = synpkt_parse(data, size, flags, &f, &why);
        if (rc != 0) {
            assert((rc == SYNPKT_MALFORMED || rc == SYNPKT_IGNORED) && why != NULL);
            continue;
        }
        assert(f.ip_ver == 4 || f.ip_ver == 6);
        assert(f.opt_cnt <= SYN_MAX_OPTS && f.tot_hdr <= size);
        struct syn_match m;
        synmatch_packet(&db, &f, &m);
        size_t n = strlen(m.raw_sig);
        assert(n > 0 && n < sizeof(m.raw_sig) - 1);
        for (size_t i = 0; i < n; i++)
            assert(m.raw_sig[i] > 0x20 && m.raw_sig[i] < 0x7f);
    }
    return 0;
}
