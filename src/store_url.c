/* Store URLs (see store_url.h). */
#include "store_url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies text[0..len) into dst, percent-decoded; -1 when it does not fit, an escape is
 * broken or a byte is not printable ASCII (a password travels in a Redis command). */
static int decode(const char *text, size_t len, char *dst, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)text[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int h = hex_digit(text[i + 1]), l = hex_digit(text[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (c < ' ' || c > '~' || n + 1 >= size)
            return -1;
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return 0;
}

static int parse_number(const char *text, size_t len, unsigned long max, unsigned long *out)
{
    if (len == 0 || len > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(text[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int fail(char *why, size_t why_size, const char *reason)
{
    snprintf(why, why_size, "%s", reason);
    return -1;
}

static int parse_host(const char *h, size_t hlen, unsigned long port, struct store_url *out)
{
    char host[64];
    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            return -1;
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->addr;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        out->addr_len = sizeof(*a6);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->addr;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    out->addr_len = sizeof(*a4);
    return 0;
}

static int parse_redis(const char *rest, struct store_url *out, char *why, size_t why_size)
{
    const char *end = rest + strlen(rest);
    const char *slash = strchr(rest, '/');
    const char *authority_end = slash ? slash : end;
    const char *at = memrchr(rest, '@', (size_t)(authority_end - rest));
    const char *hostport = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : 0;
        const char *pw = colon ? colon + 1 : rest;
        if (decode(rest, ulen, out->user, sizeof(out->user)) != 0 ||
            decode(pw, (size_t)(at - pw), out->password, sizeof(out->password)) != 0)
            return fail(why, why_size, "the user or password of the store URL is too long or badly encoded");
        if (!colon)   /* redis://password@host, as some clients write it */
            out->user[0] = '\0';
        hostport = at + 1;
    }
    /* host[:port]: an IPv6 address is in brackets, so the port's colon follows ']' */
    const char *port_colon = NULL;
    if (hostport < authority_end && hostport[0] == '[') {
        const char *close = memchr(hostport, ']', (size_t)(authority_end - hostport));
        if (close && close + 1 < authority_end && close[1] == ':')
            port_colon = close + 1;
    } else {
        port_colon = memchr(hostport, ':', (size_t)(authority_end - hostport));
    }
    unsigned long port = STORE_DEFAULT_PORT;
    const char *host_end = port_colon ? port_colon : authority_end;
    if (port_colon && (parse_number(port_colon + 1, (size_t)(authority_end - port_colon - 1), 65535, &port) != 0 ||
                       port == 0))
        return fail(why, why_size, "the port of the store URL must be a number from 1 to 65535");
    if (parse_host(hostport, (size_t)(host_end - hostport), port, out) != 0)
        return fail(why, why_size,
                    "the host of the store URL must be an IPv4 address, an IPv6 address in brackets or "
                    "localhost (no name is looked up inside the MTA)");
    if (slash) {
        unsigned long db;
        if (parse_number(slash + 1, (size_t)(end - slash - 1), STORE_DB_MAX, &db) != 0)
            return fail(why, why_size, "the database of the store URL (after /) must be a number");
        out->db = (unsigned)db;
    }
    return 0;
}

static int parse_unix(const char *rest, struct store_url *out, char *why, size_t why_size)
{
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen == 0 || rest[0] != '/')
        return fail(why, why_size, "a unix: store URL names an absolute path");
    if (plen >= sizeof(out->path))
        return fail(why, why_size, "the socket path of the store URL is too long");
    memcpy(out->path, rest, plen);
    out->path[plen] = '\0';
    out->is_unix = true;
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq == NULL)
            return fail(why, why_size, "the store URL's options are db=N, user=U and password=P");
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        unsigned long db;
        if (klen == 2 && memcmp(p, "db", 2) == 0) {
            if (parse_number(eq + 1, vlen, STORE_DB_MAX, &db) != 0)
                return fail(why, why_size, "the store URL's db= must be a number");
            out->db = (unsigned)db;
        } else if (klen == 4 && memcmp(p, "user", 4) == 0) {
            if (decode(eq + 1, vlen, out->user, sizeof(out->user)) != 0)
                return fail(why, why_size, "the store URL's user= is too long or badly encoded");
        } else if (klen == 8 && memcmp(p, "password", 8) == 0) {
            if (decode(eq + 1, vlen, out->password, sizeof(out->password)) != 0)
                return fail(why, why_size, "the store URL's password= is too long or badly encoded");
        } else {
            return fail(why, why_size, "the store URL's options are db=N, user=U and password=P");
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static void describe(struct store_url *u)
{
    char where[200];
    if (u->is_unix) {
        snprintf(u->shown, sizeof(u->shown), "unix:%s?db=%u", u->path, u->db);
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    if (u->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&u->addr;
        inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
        port = ntohs(a6->sin6_port);
        snprintf(where, sizeof(where), "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&u->addr;
        inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
        port = ntohs(a4->sin_port);
        snprintf(where, sizeof(where), "%s:%u", ip, port);
    }
    snprintf(u->shown, sizeof(u->shown), "redis://%s%s%s%s/%u", u->user, u->password[0] ? ":***" : "",
             u->user[0] || u->password[0] ? "@" : "", where, u->db);
}

int store_url_parse(const char *text, struct store_url *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof(*out));
    int rc;
    if (strlen(text) >= STORE_URL_MAX)
        return fail(why, why_size, "the store URL is too long");
    if (strncmp(text, "redis://", 8) == 0)
        rc = parse_redis(text + 8, out, why, why_size);
    else if (strncmp(text, "unix:", 5) == 0)
        rc = parse_unix(text + 5, out, why, why_size);
    else
        return fail(why, why_size, "a store URL starts with redis:// or unix:");
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    out->set = true;
    describe(out);
    return 0;
}
