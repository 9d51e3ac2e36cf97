/* The Postfix policy delegation protocol (SMTPD_POLICY_README) as pure functions: an
 * incremental request parser, the choice of the header a request gets, the answer's text,
 * and the header-value sanitiser shared by every MTA integration (the policy service, the
 * milter, `p0fshim header`).
 * No I/O, no p0f, no configuration: tests/unit/test_postfix_delegation.c tests all of it. */
#ifndef P0FSHIM_CLIENT_POSTFIX_DELEGATION_H
#define P0FSHIM_CLIENT_POSTFIX_DELEGATION_H

#include <stdbool.h>
#include <stddef.h>

/* A longer attribute line is consumed and ignored (delegation_request.overlong counts it). The
 * fuzz target sets a smaller one, so that its short inputs reach that path. */
#ifndef DELEGATION_LINE_MAX
#define DELEGATION_LINE_MAX 4096
#endif
/* The longest header value p0fshim writes (p0f's genre is at most 31 + 1 + 31 bytes). */
#define HDRVAL_MAX 64

#define HDR_GENRE_NAME "X-P0F-Genre"
#define HDR_LINK_NAME "X-P0F-Link-Type"

/* The attributes p0fshim uses; every other one is ignored. A value longer than its field
 * is kept truncated and flagged (a truncated client_address no longer parses). */
struct delegation_request {
    char request[32];            /* "smtpd_access_policy" */
    char protocol_state[32];     /* CONNECT EHLO HELO MAIL RCPT DATA BDAT END-OF-MESSAGE VRFY ETRN */
    char client_address[64];
    char instance[64];           /* the same for every request about one message */
    char policy_context[64];     /* Postfix >= 3.1: check_policy_service { ..., policy_context=X } */
    unsigned nattrs;             /* attribute lines seen */
    unsigned malformed;          /* lines without '=' */
    unsigned overlong;           /* lines longer than DELEGATION_LINE_MAX, ignored */
    bool truncated;              /* a used attribute's value did not fit its field */
};

struct delegation_parser {
    char line[DELEGATION_LINE_MAX + 1];
    size_t len;
    bool skipping;               /* inside an overlong line: drop until LF */
    struct delegation_request req;
};

void delegation_init(struct delegation_parser *p);
/* Feeds n bytes. Returns how many were consumed: all of them, or fewer when a request was
 * completed (the empty line that ends it is consumed), in which case *complete is set and
 * p->req holds it. Feed the rest after delegation_next_request(). */
size_t delegation_feed(struct delegation_parser *p, const char *buf, size_t n, bool *complete);
/* Forgets the completed request (the line buffer is already empty). */
void delegation_next_request(struct delegation_parser *p);
/* True when bytes of an unfinished request are buffered (a client that closes then left
 * half a request). */
bool delegation_pending(const struct delegation_parser *p);

/* Which header a request gets. */
enum hdr_kind {
    HDR_NONE,
    HDR_GENRE,
    HDR_LINK,
};

/* What the service remembers per connection so that a message with many recipients gets
 * each header once: the instance that was last given each header. */
struct delegation_memory {
    char genre_instance[64];
    char link_instance[64];
};

/* The header for this request, before asking p0f:
 *   request is not smtpd_access_policy             -> none
 *   policy_context "genre" / "link" (a word of it) -> that header, at any state but
 *                                                     END-OF-MESSAGE (Postfix refuses PREPEND there)
 *   otherwise by protocol_state: RCPT -> genre; DATA or BDAT -> link; others -> none
 * and none when the same instance already got that header on this connection (the
 * recipients after the first). An empty instance is never deduplicated. */
enum hdr_kind delegation_choose(const struct delegation_request *r, const struct delegation_memory *m);
/* Records that the instance got the header (call once the PREPEND is sent). */
void delegation_remember(const struct delegation_request *r, struct delegation_memory *m, enum hdr_kind h);

/* The whole answer: "action=PREPEND X-P0F-Genre: VALUE\n\n", or "action=DUNNO\n\n" when h is
 * HDR_NONE or value is empty after sanitising. With a tag (NULL or "" = none), the header is
 * named X-P0F-Genre-TAG (X-P0F-Link-Type-TAG): Postfix's header_checks also see PREPENDed
 * headers, so a recipe that IGNOREs client copies of X-P0F-* renames the tagged ones back
 * with REPLACE (README). Returns the length (out is NUL-terminated; size >= 256 always fits). */
size_t delegation_answer(enum hdr_kind h, const char *value, const char *tag, char *out, size_t size);
/* A usable tag: 1 to DELEGATION_TAG_MAX letters and digits. */
#define DELEGATION_TAG_MAX 64
bool delegation_tag_valid(const char *tag);
const char *hdr_name(enum hdr_kind h);

/* A header value from an untrusted string: bytes outside printable ASCII (controls, CR, LF,
 * DEL, >= 0x80) become '?', runs of blanks fold to one space, leading and trailing blanks
 * go, and at most HDRVAL_MAX bytes are kept. out needs size >= 1; "" means no header. */
void hdrval_sanitise(const char *in, char *out, size_t size);

#endif
