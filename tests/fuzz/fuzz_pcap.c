/* libFuzzer target: the capture reader of `p0fshim fingerprint` and `check --pcap`
 * (src/tool/pcap.c): file header, record headers, link layers, then the SYN parser.
 * Input: a whole pcap file. Checks: no memory error (the sanitizers); every SYN handed on has
 * IP version 4 or 6. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>

#include "pcap.h"

/* Where the reader's reports go: thousands of lines a second on stderr otherwise, which is
 * libFuzzer's and the sanitizers'. */
static FILE *reports;

static void on_syn(void *ctx, const struct syn_features *f)
{
    (*(unsigned long *)ctx)++;
    assert(f->ip_ver == 4 || f->ip_ver == 6);
    struct endpoint remote, local;
    pcap_syn_endpoints(f, &remote, &local);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (reports == NULL && (reports = fopen("/dev/null", "w")) == NULL)
        return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    unsigned long syns = 0;
    pcap_each_syn_in(f, "fuzz.pcap", reports, "fuzz", on_syn, &syns);
    fclose(f);
    return 0;
}
