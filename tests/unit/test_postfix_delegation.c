/* postfix_delegation: the Postfix policy delegation protocol parser, the choice of header, the
 * answer, and the header-value sanitiser (src/client/postfix_delegation.c, pure functions).
 *
 * The unit binary is linked with the core library only, so the parser's source is compiled
 * into this file; the client library is not linked here. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/postfix_delegation.c"

/* Feeds text in chunks of `step` bytes; returns the number of complete requests seen, the
 * last one in *last. */
static unsigned feed_all(struct delegation_parser *p, const char *text, size_t step, struct delegation_request *last)
{
    size_t len = strlen(text), off = 0;
    unsigned n = 0;
    while (off < len) {
        size_t chunk = len - off < step ? len - off : step;
        size_t used = 0;
        while (used < chunk) {
            bool complete;
            used += delegation_feed(p, text + off + used, chunk - used, &complete);
            if (complete) {
                n++;
                if (last)
                    *last = p->req;
                delegation_next_request(p);
            }
        }
        off += chunk;
    }
    return n;
}

#define REQ(state, addr, inst) \
    "request=smtpd_access_policy\nprotocol_state=" state "\nprotocol_name=ESMTP\nclient_address=" addr \
    "\nclient_name=unknown\ninstance=" inst "\nsender=a@example.org\nrecipient=b@example.net\n\n"

Test(postfix_delegation, parses_a_postfix_request)
{
    static struct delegation_parser p;
    struct delegation_request r;
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, REQ("RCPT", "192.0.2.20", "1a2b.5f3e.1"), 4096, &r), 1);
    cr_assert_str_eq(r.request, "smtpd_access_policy");
    cr_assert_str_eq(r.protocol_state, "RCPT");
    cr_assert_str_eq(r.client_address, "192.0.2.20");
    cr_assert_str_eq(r.instance, "1a2b.5f3e.1");
    cr_assert_str_eq(r.policy_context, "");
    cr_assert_eq(r.nattrs, 8);
    cr_assert_eq(r.malformed, 0);
    cr_assert_not(r.truncated);
    cr_assert_not(delegation_pending(&p));
}

Test(postfix_delegation, byte_by_byte_and_pipelined_requests_are_the_same)
{
    static struct delegation_parser p;
    struct delegation_request r;
    const char *two = REQ("RCPT", "192.0.2.20", "x") REQ("DATA", "2001:db8::20", "x");
    for (size_t step = 1; step <= 64; step *= 2) {
        delegation_init(&p);
        cr_assert_eq(feed_all(&p, two, step, &r), 2, "step %zu", step);
        cr_assert_str_eq(r.protocol_state, "DATA");
        cr_assert_str_eq(r.client_address, "2001:db8::20");
    }
}

Test(postfix_delegation, feed_stops_after_each_request)
{
    static struct delegation_parser p;
    const char *two = REQ("RCPT", "192.0.2.20", "x") REQ("DATA", "192.0.2.21", "x");
    bool complete;
    delegation_init(&p);
    size_t used = delegation_feed(&p, two, strlen(two), &complete);
    cr_assert(complete);
    cr_assert_eq(used, strlen(REQ("RCPT", "192.0.2.20", "x")));
    cr_assert_str_eq(p.req.client_address, "192.0.2.20");
    delegation_next_request(&p);
    size_t used2 = delegation_feed(&p, two + used, strlen(two) - used, &complete);
    cr_assert(complete);
    cr_assert_eq(used + used2, strlen(two));
    cr_assert_str_eq(p.req.client_address, "192.0.2.21");
}

Test(postfix_delegation, value_keeps_everything_after_the_first_equals)
{
    static struct delegation_parser p;
    struct delegation_request r;
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, "request=smtpd_access_policy\npolicy_context=a=b genre\n\n", 7, &r), 1);
    cr_assert_str_eq(r.policy_context, "a=b genre");
}

Test(postfix_delegation, crlf_lines_are_accepted)
{
    static struct delegation_parser p;
    struct delegation_request r;
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\nclient_address=192.0.2.1\r\n\r\n",
                          5, &r),
                 1);
    cr_assert_str_eq(r.client_address, "192.0.2.1");
    cr_assert_str_eq(r.protocol_state, "RCPT");
}

Test(postfix_delegation, malformed_and_unknown_lines_are_ignored)
{
    static struct delegation_parser p;
    struct delegation_request r;
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, "garbage line\nrequest=smtpd_access_policy\nclient_address=192.0.2.1\nfoo=bar\n"
                              "=nokey\n\n",
                          3, &r),
                 1);
    cr_assert_eq(r.malformed, 1);
    cr_assert_eq(r.nattrs, 4);
    cr_assert_str_eq(r.client_address, "192.0.2.1");
}

Test(postfix_delegation, an_empty_line_alone_is_an_empty_request)
{
    static struct delegation_parser p;
    struct delegation_request r;
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, "\n\n", 1, &r), 2);
    cr_assert_eq(r.nattrs, 0);
    cr_assert_eq(delegation_choose(&r, NULL), HDR_NONE);
}

Test(postfix_delegation, overlong_lines_are_skipped_whole)
{
    static struct delegation_parser p;
    struct delegation_request r;
    size_t big = DELEGATION_LINE_MAX * 3;
    char *text = malloc(big + 200);
    strcpy(text, "request=smtpd_access_policy\nclient_address=");
    size_t n = strlen(text);
    memset(text + n, '9', big);
    strcpy(text + n + big, "\nprotocol_state=RCPT\n\n");
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, text, 1000, &r), 1);
    cr_assert_eq(r.overlong, 1);
    cr_assert_str_eq(r.client_address, "");
    cr_assert_str_eq(r.protocol_state, "RCPT");
    /* A line of exactly DELEGATION_LINE_MAX bytes is still a line. */
    memset(text, 'x', DELEGATION_LINE_MAX);
    memcpy(text, "instance=", 9);
    strcpy(text + DELEGATION_LINE_MAX, "\n\n");
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, text, 333, &r), 1);
    cr_assert_eq(r.overlong, 0);
    cr_assert(r.truncated);
    cr_assert_eq(strlen(r.instance), sizeof(r.instance) - 1);
    free(text);
}

Test(postfix_delegation, long_values_are_truncated_and_flagged)
{
    static struct delegation_parser p;
    struct delegation_request r;
    char text[512];
    snprintf(text, sizeof(text), "client_address=%0200d\n\n", 7);
    delegation_init(&p);
    cr_assert_eq(feed_all(&p, text, 64, &r), 1);
    cr_assert(r.truncated);
    cr_assert_eq(strlen(r.client_address), sizeof(r.client_address) - 1);
}

Test(postfix_delegation, pending_tells_half_a_request)
{
    static struct delegation_parser p;
    bool complete;
    delegation_init(&p);
    cr_assert_not(delegation_pending(&p));
    delegation_feed(&p, "request=smtpd", 13, &complete);
    cr_assert_not(complete);
    cr_assert(delegation_pending(&p));
    delegation_feed(&p, "_access_policy\n", 15, &complete);
    cr_assert(delegation_pending(&p));
    delegation_feed(&p, "\n", 1, &complete);
    cr_assert(complete);
    delegation_next_request(&p);
    cr_assert_not(delegation_pending(&p));
}

static struct delegation_request req(const char *state, const char *ctx, const char *instance)
{
    struct delegation_request r;
    memset(&r, 0, sizeof(r));
    strcpy(r.request, "smtpd_access_policy");
    strcpy(r.protocol_state, state);
    strcpy(r.policy_context, ctx);
    strcpy(r.instance, instance);
    strcpy(r.client_address, "192.0.2.20");
    return r;
}

Test(postfix_delegation, header_by_protocol_state)
{
    struct delegation_request r = req("RCPT", "", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_GENRE);
    r = req("DATA", "", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_LINK);
    r = req("BDAT", "", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_LINK);
    r = req("rcpt", "", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_GENRE);
    static const char *none[] = {"CONNECT", "EHLO", "HELO", "MAIL", "VRFY", "ETRN", "END-OF-MESSAGE", ""};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        r = req(none[i], "", "i1");
        cr_assert_eq(delegation_choose(&r, NULL), HDR_NONE, "%s", none[i]);
    }
}

Test(postfix_delegation, header_by_policy_context)
{
    struct delegation_request r = req("RCPT", "link", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_LINK);
    r = req("DATA", "genre", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_GENRE);
    r = req("MAIL", "spf, Genre", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_GENRE);
    r = req("CONNECT", "x;link", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_LINK);
    /* Not a word of it: the state decides. */
    r = req("DATA", "genres", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_LINK);
    r = req("MAIL", "hyperlink", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_NONE);
    /* Postfix refuses PREPEND at END-OF-MESSAGE, whatever the context says. */
    r = req("END-OF-MESSAGE", "genre", "i1");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_NONE);
}

Test(postfix_delegation, only_access_policy_requests)
{
    struct delegation_request r = req("RCPT", "", "i1");
    strcpy(r.request, "junk");
    cr_assert_eq(delegation_choose(&r, NULL), HDR_NONE);
    r.request[0] = '\0';
    cr_assert_eq(delegation_choose(&r, NULL), HDR_NONE);
}

Test(postfix_delegation, each_header_once_per_instance)
{
    struct delegation_memory m;
    memset(&m, 0, sizeof(m));
    struct delegation_request r1 = req("RCPT", "", "msg1"), d1 = req("DATA", "", "msg1");
    cr_assert_eq(delegation_choose(&r1, &m), HDR_GENRE);
    delegation_remember(&r1, &m, HDR_GENRE);
    cr_assert_eq(delegation_choose(&r1, &m), HDR_NONE, "second recipient of the same message");
    cr_assert_eq(delegation_choose(&d1, &m), HDR_LINK, "the other header is still due");
    delegation_remember(&d1, &m, HDR_LINK);
    cr_assert_eq(delegation_choose(&d1, &m), HDR_NONE);
    struct delegation_request r2 = req("RCPT", "", "msg2");
    cr_assert_eq(delegation_choose(&r2, &m), HDR_GENRE, "the next message");
    /* Without an instance nothing is deduplicated. */
    struct delegation_request r0 = req("RCPT", "", "");
    delegation_remember(&r0, &m, HDR_GENRE);
    cr_assert_eq(delegation_choose(&r0, &m), HDR_GENRE);
    /* policy_context link at RCPT: its own slot. */
    struct delegation_request c1 = req("RCPT", "link", "msg3"), c2 = req("RCPT", "genre", "msg3");
    cr_assert_eq(delegation_choose(&c1, &m), HDR_LINK);
    delegation_remember(&c1, &m, HDR_LINK);
    cr_assert_eq(delegation_choose(&c2, &m), HDR_GENRE);
    cr_assert_eq(delegation_choose(&c1, &m), HDR_NONE);
}

Test(postfix_delegation, answers)
{
    char out[256];
    size_t n = delegation_answer(HDR_GENRE, "Linux 2.2.x-3.x", NULL, out, sizeof(out));
    cr_assert_str_eq(out, "action=PREPEND X-P0F-Genre: Linux 2.2.x-3.x\n\n");
    cr_assert_eq(n, strlen(out));
    delegation_answer(HDR_LINK, "Ethernet or modem", "", out, sizeof(out));
    cr_assert_str_eq(out, "action=PREPEND X-P0F-Link-Type: Ethernet or modem\n\n");
    delegation_answer(HDR_LINK, "DSL", "Ab12", out, sizeof(out));
    cr_assert_str_eq(out, "action=PREPEND X-P0F-Link-Type-Ab12: DSL\n\n");
    delegation_answer(HDR_GENRE, "", NULL, out, sizeof(out));
    cr_assert_str_eq(out, "action=DUNNO\n\n");
    delegation_answer(HDR_GENRE, " \t ", NULL, out, sizeof(out));
    cr_assert_str_eq(out, "action=DUNNO\n\n");
    delegation_answer(HDR_NONE, "Linux", NULL, out, sizeof(out));
    cr_assert_str_eq(out, "action=DUNNO\n\n");
    /* A bad tag is never written into a header name. */
    delegation_answer(HDR_GENRE, "Linux", "a b\n", out, sizeof(out));
    cr_assert_str_eq(out, "action=PREPEND X-P0F-Genre: Linux\n\n");
    /* The injection attempt stays on one line. */
    delegation_answer(HDR_GENRE, "Linux\n\naction=REJECT", NULL, out, sizeof(out));
    cr_assert_str_eq(out, "action=PREPEND X-P0F-Genre: Linux??action=REJECT\n\n");
    /* Too small a buffer: nothing half-written. */
    cr_assert_eq(delegation_answer(HDR_GENRE, "Linux", NULL, out, 10), 0);
    cr_assert_str_eq(out, "");
}

Test(postfix_delegation, tags)
{
    cr_assert(delegation_tag_valid("a"));
    cr_assert(delegation_tag_valid("e2eTag0123456789abcdef"));
    cr_assert_not(delegation_tag_valid(""));
    cr_assert_not(delegation_tag_valid("a-b"));
    cr_assert_not(delegation_tag_valid("a b"));
    cr_assert_not(delegation_tag_valid("x:"));
    char t[DELEGATION_TAG_MAX + 2];
    memset(t, 'a', sizeof(t) - 1);
    t[sizeof(t) - 1] = '\0';
    cr_assert_not(delegation_tag_valid(t));
    t[DELEGATION_TAG_MAX] = '\0';
    cr_assert(delegation_tag_valid(t));
}

Test(postfix_delegation, sanitiser)
{
    char out[HDRVAL_MAX + 1];
    hdrval_sanitise("Windows NT kernel", out, sizeof(out));
    cr_assert_str_eq(out, "Windows NT kernel");
    hdrval_sanitise("  a \t  b  ", out, sizeof(out));
    cr_assert_str_eq(out, "a b");
    hdrval_sanitise("Ev\r\nil\x1b[31m\x7f\xc3\xa9", out, sizeof(out));
    cr_assert_str_eq(out, "Ev??il?[31m???");
    hdrval_sanitise("", out, sizeof(out));
    cr_assert_str_eq(out, "");
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hdrval_sanitise(big, out, sizeof(out));
    cr_assert_eq(strlen(out), HDRVAL_MAX);
    char small[5];
    hdrval_sanitise("abc def", small, sizeof(small));
    cr_assert_str_eq(small, "abc");
    hdrval_sanitise("abcd ef", small, sizeof(small));
    cr_assert_str_eq(small, "abcd");
}
