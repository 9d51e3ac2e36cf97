/* Command-line parsing shared by the test programs (each stays one .c file plus this).
 * The includer defines CLI_DIE as its own printf-like "report a usage error and exit"
 * before including this file. */
#ifndef P0FSHIM_TESTS_CLI_H
#define P0FSHIM_TESTS_CLI_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef CLI_DIE
#error "define CLI_DIE before including cli.h"
#endif

static inline unsigned long cli_parse_ulong(const char *opt, const char *s, unsigned long min, unsigned long max)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        CLI_DIE("%s: not a number: \"%s\"", opt, s);
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0')
        CLI_DIE("%s: not a number: \"%s\"", opt, s);
    if (v < min || v > max)
        CLI_DIE("%s: %s is out of range %lu..%lu", opt, s, min, max);
    return v;
}

/* "IP:PORT" or "[IPv6]:PORT", the port from min_port to 65535 -> sockaddr. */
static inline void cli_parse_hostport(const char *opt, const char *s, unsigned long min_port,
                                      struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port, *end;
    size_t hlen;
    unsigned long p;

    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            CLI_DIE("%s: expected [IPv6]:PORT, got \"%s\"", opt, s);
        hlen = (size_t)(end - (s + 1));
        if (hlen >= sizeof(host))
            CLI_DIE("%s: bad address in \"%s\"", opt, s);
        memcpy(host, s + 1, hlen);
        port = end + 2;
    } else {
        end = strrchr(s, ':');
        if (end == NULL)
            CLI_DIE("%s: expected IP:PORT, got \"%s\"", opt, s);
        hlen = (size_t)(end - s);
        if (hlen >= sizeof(host))
            CLI_DIE("%s: bad address in \"%s\"", opt, s);
        memcpy(host, s, hlen);
        port = end + 1;
        if (memchr(host, ':', hlen) != NULL)
            CLI_DIE("%s: IPv6 addresses need brackets: [%.*s]:PORT", opt, (int)hlen, host);
    }
    host[hlen] = '\0';
    p = cli_parse_ulong(opt, port, min_port, 65535);
    memset(ss, 0, sizeof(*ss));
    if (s[0] != '[') {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)p);
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            CLI_DIE("%s: not an IPv4 address: \"%s\"", opt, host);
        *len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            CLI_DIE("%s: not an IPv6 address: \"%s\"", opt, host);
        *len = sizeof(*sin6);
    }
}

#endif
