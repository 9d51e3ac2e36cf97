/* The TCP signature lines of p0f's signature file (`sig = ver:ittl:olen:mss:wsize,scale:
 * olayout:quirks:pclass`), parsed in the order and with the messages of p0f 3.09b's
 * tcp_register_sig(), so that a line is refused here exactly when p0f refuses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p0ffp_loader.h"
#include "synmatch.h"

/* The digits at *p, then one of the delimiters; the text after the delimiter follows. */
static const char *skip_digits(const char *p)
{
    while (is_digit(*p))
        p++;
    return p;
}

static int parse_layout(struct loader *ld, const char **valp, struct p0ffp_sig *s)
{
    const char *val = *valp;
    static const struct {
        const char *word;
        uint8_t kind;
    } named[] = {
        {"nop", SYN_OPT_NOP}, {"mss", SYN_OPT_MSS}, {"ws", SYN_OPT_WS}, {"sok", SYN_OPT_SACKOK},
        {"sack", SYN_OPT_SACK}, {"ts", SYN_OPT_TS},
    };

    while (*val != ':') {
        if (s->opt_cnt >= SYN_MAX_OPTS)
            return p0ffp_fail(ld, "Too many TCP options");
        if (strncmp(val, "eol", 3) == 0) {
            s->opt_layout[s->opt_cnt++] = SYN_OPT_EOL;
            val += 3;
            if (*val != '+')
                return p0ffp_fail(ld, "Malformed EOL option");
            val++;
            const char *end = skip_digits(val);
            if (!*end)
                return p0ffp_fail(ld, "Truncated options");
            if (*end != ':')
                return p0ffp_fail(ld, "EOL must be the last option");
            int32_t pad = p0f_atol(val);
            if (pad < 0 || pad > 255)
                return p0ffp_fail(ld, "Bogus EOL padding");
            s->opt_eol_pad = (uint8_t)pad;
            val = end;
        } else if (*val == '?') {
            val++;
            const char *end = skip_digits(val);
            if (*end != ':' && *end != ',')
                return p0ffp_fail(ld, "Malformed '?' option");
            int32_t kind = p0f_atol(val);
            if (kind < 0 || kind > 255)
                return p0ffp_fail(ld, "Bogus '?' option");
            s->opt_layout[s->opt_cnt++] = (uint8_t)kind;
            val = end;
        } else {
            size_t i;
            for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
                if (strncmp(val, named[i].word, strlen(named[i].word)) == 0)
                    break;
            if (i == sizeof(named) / sizeof(named[0]))
                return p0ffp_fail(ld, "Unrecognized TCP option");
            s->opt_layout[s->opt_cnt++] = named[i].kind;
            val += strlen(named[i].word);
        }
        if (*val == ':')
            break;
        if (*val != ',')
            return p0ffp_fail(ld, "Malformed TCP options");
        val++;
    }
    *valp = val + 1;
    return 0;
}

static int parse_quirks(struct loader *ld, const char **valp, struct p0ffp_sig *s)
{
    const char *val = *valp;
    /* Quirks that cannot occur in one IP version are refused in its signatures. */
    const uint32_t v4_only = SYN_QUIRK_BIT(SYN_QUIRK_DF) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID) |
                             SYN_QUIRK_BIT(SYN_QUIRK_ZERO_ID) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_MBZ);

    while (*val != ':') {
        unsigned q;
        for (q = 0; q < SYN_QUIRKS; q++)
            if (strncmp(val, syn_quirk_names[q], strlen(syn_quirk_names[q])) == 0)
                break;
        if (q == SYN_QUIRKS)
            return p0ffp_fail(ld, "Unrecognized quirk");
        if (s->ip_ver == 6 && (SYN_QUIRK_BIT(q) & v4_only))
            return p0ffp_fail(ld, "'%s' is not valid for IPv6", syn_quirk_names[q]);
        if (s->ip_ver == 4 && q == SYN_QUIRK_FLOW)
            return p0ffp_fail(ld, "'flow' is not valid for IPv4");
        s->quirks |= SYN_QUIRK_BIT(q);
        val += strlen(syn_quirk_names[q]);
        if (*val == ':')
            break;
        if (*val != ',')
            return p0ffp_fail(ld, "Malformed quirks");
        val++;
    }
    *valp = val + 1;
    return 0;
}

int p0ffp_parse_tcp_sig(struct loader *ld, const char *val, struct p0ffp_sig *s)
{
    const char *end;

    switch (*val) {
    case '4': s->ip_ver = 4; break;
    case '6': s->ip_ver = 6; break;
    case '*': s->ip_ver = -1; break;
    default: return p0ffp_fail(ld, "Unrecognized IP version");
    }
    if (val[1] != ':')
        return p0ffp_fail(ld, "Malformed signature");
    val += 2;

    /* Initial TTL: N, N+distance, or N- (random) */
    end = skip_digits(val);
    if (*end != ':' && *end != '+' && *end != '-')
        return p0ffp_fail(ld, "Malformed signature");
    int32_t ittl = p0f_atol(val);
    if (ittl < 1 || ittl > 255)
        return p0ffp_fail(ld, "Bogus initial TTL");
    val = end + 1;
    if (*end == '-' && end[1] == ':') {
        /* p0f steps two more characters here, past the ':' and one after it. */
        s->bad_ttl = true;
        val += 2;
    } else if (*end == '+') {
        end = skip_digits(end + 1);
        if (*end != ':')
            return p0ffp_fail(ld, "Malformed signature");
        int32_t add = p0f_atol(val);
        if (add < 0 || ittl + add > 255)
            return p0ffp_fail(ld, "Bogus initial TTL");
        ittl += add;
        val = end + 1;
    }
    s->ttl = (uint8_t)ittl;

    end = skip_digits(val);
    if (*end != ':')
        return p0ffp_fail(ld, "Malformed signature");
    int32_t olen = p0f_atol(val);
    if (olen < 0 || olen > 255)
        return p0ffp_fail(ld, "Bogus IP option length");
    s->ip_opt_len = (uint8_t)olen;
    val = end + 1;

    if (*val == '*' && val[1] == ':') {
        s->mss = -1;
        val += 2;
    } else {
        end = skip_digits(val);
        if (*end != ':')
            return p0ffp_fail(ld, "Malformed signature");
        s->mss = p0f_atol(val);
        if (s->mss < 0 || s->mss > 65535)
            return p0ffp_fail(ld, "Bogus MSS");
        val = end + 1;
    }

    if (*val == '*' && val[1] == ',') {
        s->win_type = P0FFP_WIN_ANY;
        s->win = 0;
        val += 2;
    } else if (*val == '%') {
        s->win_type = P0FFP_WIN_MOD;
        end = skip_digits(++val);
        if (*end != ',')
            return p0ffp_fail(ld, "Malformed signature");
        s->win = p0f_atol(val);
        if (s->win < 2 || s->win > 65535)
            return p0ffp_fail(ld, "Bogus '%%' value");
        val = end + 1;
    } else if (strncmp(val, "mss*", 4) == 0 || strncmp(val, "mtu*", 4) == 0) {
        s->win_type = val[1] == 's' ? P0FFP_WIN_MSS : P0FFP_WIN_MTU;
        val += 4;
        end = skip_digits(val);
        if (*end != ',')
            return p0ffp_fail(ld, "Malformed signature");
        s->win = p0f_atol(val);
        if (s->win < 1 || s->win > 1000)
            return p0ffp_fail(ld, "Bogus MSS/MTU multiplier");
        val = end + 1;
    } else {
        s->win_type = P0FFP_WIN_NORMAL;
        end = skip_digits(val);
        if (*end != ',')
            return p0ffp_fail(ld, "Malformed signature");
        s->win = p0f_atol(val);
        if (s->win < 0 || s->win > 65535)
            return p0ffp_fail(ld, "Bogus window size");
        val = end + 1;
    }

    if (*val == '*' && val[1] == ':') {
        s->wscale = -1;
        val += 2;
    } else {
        end = skip_digits(val);
        if (*end != ':')
            return p0ffp_fail(ld, "Malformed signature");
        int32_t scale = p0f_atol(val);
        if (scale < 0 || scale > 255)
            return p0ffp_fail(ld, "Bogus window scale");
        s->wscale = (int16_t)scale;
        val = end + 1;
    }

    if (parse_layout(ld, &val, s) < 0 || parse_quirks(ld, &val, s) < 0)
        return -1;
    s->layout_hash = p0ffp_layout_hash(s->opt_layout, s->opt_cnt);

    if (strcmp(val, "*") == 0)
        s->pay_class = -1;
    else if (strcmp(val, "0") == 0)
        s->pay_class = 0;
    else if (strcmp(val, "+") == 0)
        s->pay_class = 1;
    else
        return p0ffp_fail(ld, "Malformed payload class");
    return 0;
}
