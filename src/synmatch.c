/* p0f 3.09b's SYN matching (see synmatch.h). The rules and their order are p0f's
 * tcp_find_match(); the comments say why p0f has each one where it is not obvious. */
#include "synmatch.h"

#include <stdio.h>
#include <string.h>

#include "logfields.h"

#define QUIRK(q) SYN_QUIRK_BIT(SYN_QUIRK_##q)
#define SENDSYN_WIN 1337     /* p0f-sendsyn's SYNs (p0f's SPECIAL_WIN, SPECIAL_MSS) */
#define SENDSYN_MSS 1331

/* Does signature r's window field accept the probe's? */
static bool window_fits(const struct p0ffp_sig *r, const struct syn_probe *p, int multiplier, bool use_mtu)
{
    if (p->win_type != P0FFP_WIN_NORMAL)      /* two signatures: the same field, literally */
        return r->win_type == p->win_type && r->win == p->win;
    switch (r->win_type) {
    case P0FFP_WIN_NORMAL: return r->win == p->win;
    case P0FFP_WIN_MOD: return p->win % r->win == 0;
    case P0FFP_WIN_MSS: return !use_mtu && r->win == multiplier;
    case P0FFP_WIN_MTU: return use_mtu && r->win == multiplier;
    default: return true;                      /* * */
    }
}

void synmatch_scan(const struct p0ffp_sig *sigs, const uint32_t *idx, size_t n, const struct syn_probe *p,
                   struct syn_scan *out)
{
    bool use_mtu = false;
    int multiplier = -1;

    out->specific = out->generic = out->fuzzy = NULL;
    if (p->win_type == P0FFP_WIN_NORMAL)
        multiplier = synpkt_window_multiplier((unsigned)p->win, p->mss, p->have_ts1, p->ip_ver, p->tot_hdr, &use_mtu);

    for (size_t i = 0; i < n; i++) {
        const struct p0ffp_sig *r = &sigs[idx[i]];
        bool fuzzy = false;
        uint32_t ref_quirks = r->quirks;

        if (r->opt_cnt != p->opt_cnt || memcmp(r->opt_layout, p->opt_layout, p->opt_cnt) != 0)
            continue;
        /* A signature for both IP versions cannot require what the other version lacks. */
        if (r->ip_ver == -1)
            ref_quirks &= p->ip_ver == 4 ? ~QUIRK(FLOW) : ~(QUIRK(DF) | QUIRK(NZ_ID) | QUIRK(ZERO_ID));
        if (ref_quirks != p->quirks) {
            uint32_t deleted = (ref_quirks ^ p->quirks) & ref_quirks;
            uint32_t added = (ref_quirks ^ p->quirks) & p->quirks;
            /* Only df or id+ going away, or id- or ecn appearing (what routers and NAT do),
             * makes a fuzzy match; and only the first one is considered. */
            if (out->fuzzy || (deleted & ~(QUIRK(DF) | QUIRK(NZ_ID))) || (added & ~(QUIRK(ZERO_ID) | QUIRK(ECN))))
                continue;
            fuzzy = true;
        }
        if (r->opt_eol_pad != p->opt_eol_pad || r->ip_opt_len != p->ip_opt_len)
            continue;
        if (r->bad_ttl) {
            if (r->ttl < p->ttl)
                continue;
        } else if (r->ttl < p->ttl || r->ttl - p->ttl > SYN_MAX_DIST) {
            fuzzy = true;
        }
        if (r->mss != -1 && r->mss != p->mss)
            continue;
        if (r->wscale != -1 && r->wscale != p->wscale)
            continue;
        if (r->pay_class != -1 && r->pay_class != p->pay_class)
            continue;
        if (!window_fits(r, p, multiplier, use_mtu))
            continue;

        if (!fuzzy) {
            if (!r->generic) {
                out->specific = r;
                return;
            }
            if (!out->generic)
                out->generic = r;
        } else if (!out->fuzzy) {
            out->fuzzy = r;
        }
    }
}

void synmatch_packet(const struct p0ffp_db *db, const struct syn_features *f, struct syn_match *m)
{
    const struct syn_probe p = {
        .ip_ver = (int8_t)f->ip_ver,
        .ttl = f->ttl,
        .ip_opt_len = f->ip_opt_len,
        .mss = f->mss,
        .win_type = P0FFP_WIN_NORMAL,
        .win = f->win,
        .wscale = f->wscale,
        .pay_class = f->pay_len ? 1 : 0,
        .opt_eol_pad = f->opt_eol_pad,
        .opt_cnt = f->opt_cnt,
        .opt_layout = f->opt_layout,
        .quirks = f->quirks,
        .have_ts1 = f->ts1 != 0,
        .tot_hdr = f->tot_hdr,
    };
    struct syn_scan s;
    uint32_t b = P0FFP_BUCKET(p0ffp_layout_hash(f->opt_layout, f->opt_cnt));

    memset(m, 0, sizeof(*m));
    synmatch_scan(db->sig, db->by_bucket + db->bucket_start[b], db->bucket_start[b + 1] - db->bucket_start[b], &p,
                  &s);

    if (s.specific || s.generic) {
        m->sig = s.specific ? s.specific : s.generic;
        m->distance = (unsigned)(m->sig->ttl - f->ttl);
    } else if (s.fuzzy && s.fuzzy->userland) {
        /* p0f reports no fuzzy match of a tool, and leaves the distance at 0. */
        m->distance = 0;
    } else {
        const struct p0ffp_sig *fz = s.fuzzy;
        if (!fz || fz->ttl < f->ttl || (!fz->bad_ttl && fz->ttl - f->ttl > SYN_MAX_DIST))
            m->distance = synpkt_guess_distance(f->ttl);
        else
            m->distance = (unsigned)(fz->ttl - f->ttl);
        m->sig = fz;
        m->fuzzy = fz != NULL;
    }

    /* p0f-sendsyn's probes (its own window and MSS) are reported as a tool, like '!'
     * classes, and get no MTU either. */
    const bool sendsyn_probe = f->win == SENDSYN_WIN && f->mss == SENDSYN_MSS;
    m->os = m->sig && !m->sig->userland && !sendsyn_probe;
    if (m->os) {
        m->match = m->fuzzy ? SYN_MATCH_FUZZY : m->sig->generic ? SYN_MATCH_GENERIC : SYN_MATCH_EXACT;
        if (m->sig->flavor[0])
            snprintf(m->genre, sizeof(m->genre), "%s %s", m->sig->name, m->sig->flavor);
        else
            snprintf(m->genre, sizeof(m->genre), "%s", m->sig->name);
    }
    /* p0f stops at a tool's SYN before looking at the MTU, and has none without an MSS. */
    if (f->mss && !sendsyn_probe && (m->sig == NULL || m->os))
        m->link = p0ffp_link_for_mtu(db, (unsigned)f->mss + (f->ip_ver == 4 ? SYN_MIN_TCP4 : SYN_MIN_TCP6));
    synpkt_raw_sig(f, m->raw_sig, sizeof(m->raw_sig));
}

const char *synmatch_match_word(enum syn_match_class c)
{
    const char *const *words = log_field_table[LF_MATCH].words;   /* exact, generic, fuzzy */
    switch (c) {
    case SYN_MATCH_EXACT: return words[0];
    case SYN_MATCH_GENERIC: return words[1];
    case SYN_MATCH_FUZZY: return words[2];
    default: return "none";
    }
}
