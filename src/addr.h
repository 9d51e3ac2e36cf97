/* Addresses as the shim sees them: a connection endpoint with IPv4-mapped IPv6
 * folded to IPv4 (p0f keys IPv4 peers on four bytes), text forms for logs, CIDRs. */
#ifndef P0FSHIM_ADDR_H
#define P0FSHIM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct endpoint {
    int family;         /* AF_INET or AF_INET6, after unmapping */
    uint8_t ip[16];     /* network order; IPv4 uses the first 4 bytes */
    uint16_t port;      /* host order */
};

struct cidr {
    int family;
    uint8_t net[16];
    unsigned prefix;
};

/* IP:PORT, with IPv6 in brackets; at least this many bytes are needed. */
#define ENDPOINT_TEXT_MAX 56

/* 0 on success; -1 when the address is not AF_INET/AF_INET6 or too short. */
int endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct endpoint *out);
void endpoint_format(const struct endpoint *ep, char *buf, size_t size);
void endpoint_format_ip(const struct endpoint *ep, char *buf, size_t size);
/* Parses a bare IPv4 or IPv6 address (no port). */
int endpoint_parse_ip(const char *text, struct endpoint *out);

/* "192.0.2.0/24", "2001:db8::/32", or a bare address (a host route). Host bits set
 * beyond the prefix are an error: "10.1.2.3/8" is almost always a typo. */
int cidr_parse(const char *text, struct cidr *out, const char **why);
bool cidr_contains(const struct cidr *net, const struct endpoint *ep);
void cidr_format(const struct cidr *net, char *buf, size_t size);

#endif
