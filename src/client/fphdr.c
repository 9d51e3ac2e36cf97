/* Fingerprint headers for one client address: see fphdr.h. */
#include "fphdr.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "logfmt.h"
#include "p0fq.h"
#include "p0fsock.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t fphdr_now_ms(void)
{
    return now_ms();
}

const char *fphdr_status_word(enum fphdr_status s)
{
    switch (s) {
    case FPHDR_OK: return "ok";
    case FPHDR_NOMATCH: return "nomatch";
    case FPHDR_OFF: return "off";
    case FPHDR_BAD_ADDRESS: return "bad_address";
    case FPHDR_ERROR: return "error";
    }
    return "error";
}

const char *fphdr_value(const struct fphdr_values *v, enum hdr_kind h)
{
    if (v->status != FPHDR_OK)
        return "";
    return h == HDR_GENRE ? v->genre : h == HDR_LINK ? v->link : "";
}

static enum fphdr_step finish(struct fphdr_lookup *l, enum fphdr_status s, uint64_t now, const char *reason)
{
    l->values.status = s;
    snprintf(l->values.reason, sizeof(l->values.reason), "%s", reason);
    l->values.elapsed_ms = (unsigned)(now - l->start_ms);
    return FPHDR_STEP_DONE;
}

enum fphdr_step fphdr_lookup_start(struct fphdr_lookup *l, const struct config *c, const char *address,
                                   unsigned timeout_ms, uint64_t now)
{
    memset(l, 0, sizeof(*l));
    l->start_ms = now;
    l->deadline_ms = now + timeout_ms;
    l->pause_ms = 10;
    if (!c->add_headers)
        return finish(l, FPHDR_OFF, now, "add_headers is false");
    if (!c->v3.enabled)
        return finish(l, FPHDR_OFF, now, "no p0f v3 source configured (headers come from p0f v3 only)");
    if (address == NULL || endpoint_parse_ip(address, &l->ip) != 0)
        return finish(l, FPHDR_BAD_ADDRESS, now, "not an IP address");
    return fphdr_lookup_wake(l, now);
}

enum fphdr_step fphdr_lookup_wake(struct fphdr_lookup *l, uint64_t now)
{
    unsigned left = now < l->deadline_ms ? (unsigned)(l->deadline_ms - now) : 0;
    if (left == 0)
        return finish(l, FPHDR_ERROR, now, "p0f timeout");
    l->ask_ms = left;
    return FPHDR_STEP_ASK;
}

enum fphdr_step fphdr_lookup_answer(struct fphdr_lookup *l, const struct config *c, const struct p0fq_result *r,
                                    uint64_t now)
{
    if (r->status == P0FQ_OK && r->have_peer && !p0fsock_peer_trusted(r->peer_uid, c->p0f_uid)) {
        char why[96];
        p0fsock_untrusted_reason(why, sizeof(why), r->peer_uid, -1);
        return finish(l, FPHDR_ERROR, now, why);
    }
    if (r->status == P0FQ_NOMATCH) {
        /* p0f may not have processed the SYN yet; ask again, briefly (a host p0f did not see,
         * e.g. a local client, must not cost every message the whole deadline). */
        if (now + l->pause_ms + 5 >= l->deadline_ms || now + l->pause_ms > l->start_ms + FPHDR_NOMATCH_RETRY_MS)
            return finish(l, FPHDR_NOMATCH, now, "no match");
        l->wake_at_ms = now + l->pause_ms;
        l->pause_ms *= 2;
        return FPHDR_STEP_WAIT;
    }
    if (r->status != P0FQ_OK)
        return finish(l, FPHDR_ERROR, now, r->log_reason[0] ? r->log_reason : "p0f error");
    const struct p0f3_answer *a = &r->answer;
    if (a->os_name[0]) {
        char genre[2 * P0F3_STR_MAX + 2];
        genre_format(a, genre, sizeof(genre));
        hdrval_sanitise(genre, l->values.genre, sizeof(l->values.genre));
    }
    hdrval_sanitise(a->link_type, l->values.link, sizeof(l->values.link));
    return finish(l, FPHDR_OK, now, a->os_name[0] ? "" : "os not identified");
}

void fphdr_lookup(const struct config *c, const char *address, unsigned timeout_ms, struct fphdr_values *out)
{
    struct fphdr_lookup l;
    struct p0fq_result r;
    enum fphdr_step step = fphdr_lookup_start(&l, c, address, timeout_ms, now_ms());
    while (step != FPHDR_STEP_DONE) {
        if (step == FPHDR_STEP_WAIT) {
            uint64_t now = now_ms();
            if (now < l.wake_at_ms) {
                struct timespec ts = {0, (long)(l.wake_at_ms - now) * 1000000L};
                nanosleep(&ts, NULL);
            }
            step = fphdr_lookup_wake(&l, now_ms());
            continue;
        }
        p0fq_query(c->v3.socket_path, &l.ip, l.ask_ms, &r);
        step = fphdr_lookup_answer(&l, c, &r, now_ms());
    }
    *out = l.values;
}
