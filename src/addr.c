#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct endpoint *out)
{
    memset(out, 0, sizeof(*out));
    if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
        return -1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->ip, &sin->sin_addr, 4);
        out->port = ntohs(sin->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        out->port = ntohs(sin6->sin6_port);
        if (memcmp(sin6->sin6_addr.s6_addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
            out->family = AF_INET;
            memcpy(out->ip, sin6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->ip, sin6->sin6_addr.s6_addr, 16);
        }
        return 0;
    }
    return -1;
}

void endpoint_format_ip(const struct endpoint *ep, char *buf, size_t size)
{
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(ep->family, ep->ip, text, sizeof(text)) == NULL)
        snprintf(text, sizeof(text), "?");
    snprintf(buf, size, "%s", text);
}

void endpoint_format(const struct endpoint *ep, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    endpoint_format_ip(ep, ip, sizeof(ip));
    if (ep->family == AF_INET6)
        snprintf(buf, size, "[%s]:%u", ip, (unsigned)ep->port);
    else
        snprintf(buf, size, "%s:%u", ip, (unsigned)ep->port);
}

int endpoint_parse_ip(const char *text, struct endpoint *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->ip) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->ip) == 1) {
        out->family = AF_INET6;
        if (memcmp(out->ip, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
            memmove(out->ip, out->ip + 12, 4);
            memset(out->ip + 4, 0, 12);
            out->family = AF_INET;
        }
        return 0;
    }
    return -1;
}

static bool host_bits_clear(const uint8_t *net, unsigned prefix, unsigned bits)
{
    for (unsigned i = prefix; i < bits; i++)
        if (net[i / 8] & (0x80u >> (i % 8)))
            return false;
    return true;
}

int cidr_parse(const char *text, struct cidr *out, const char **why)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    struct endpoint ep;

    memset(out, 0, sizeof(*out));
    if (addr_len == 0 || addr_len >= sizeof(addr)) {
        *why = "not an IP address";
        return -1;
    }
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    if (endpoint_parse_ip(addr, &ep) != 0) {
        *why = "not an IP address";
        return -1;
    }
    unsigned bits = ep.family == AF_INET ? 32 : 128;
    unsigned prefix = bits;
    if (slash) {
        char *end;
        const char *digits = slash + 1;
        if (*digits < '0' || *digits > '9') {
            *why = "prefix length is not a number";
            return -1;
        }
        unsigned long value = strtoul(digits, &end, 10);
        if (*end != '\0' || value > bits) {
            *why = "prefix length out of range";
            return -1;
        }
        prefix = (unsigned)value;
    }
    if (!host_bits_clear(ep.ip, prefix, bits)) {
        *why = "address has bits set beyond the prefix length";
        return -1;
    }
    out->family = ep.family;
    memcpy(out->net, ep.ip, sizeof(out->net));
    out->prefix = prefix;
    return 0;
}

bool cidr_contains(const struct cidr *net, const struct endpoint *ep)
{
    if (net->family != ep->family)
        return false;
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->net, ep->ip, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net->net[full] & mask) == (ep->ip[full] & mask);
}

void cidr_format(const struct cidr *net, char *buf, size_t size)
{
    struct endpoint ep = {.family = net->family};
    char ip[INET6_ADDRSTRLEN];
    memcpy(ep.ip, net->net, sizeof(ep.ip));
    endpoint_format_ip(&ep, ip, sizeof(ip));
    snprintf(buf, size, "%s/%u", ip, net->prefix);
}
