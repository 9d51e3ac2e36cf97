/* Small helpers shared by the `make bench` programs (header-only: each program is one .c file). */
#ifndef P0FSHIM_BENCHLIB_H
#define P0FSHIM_BENCHLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* p0f v3 API wire format (p0f 3.09b api.h), written out again: the bench shares no code
 * with the shim. Integers in host byte order, addresses in network order. */
#define BL_P0F_QUERY_MAGIC 0x50304601u
#define BL_P0F_RESP_MAGIC 0x50304602u
#define BL_P0F_STATUS_OK 0x10u
#define BL_P0F_STATUS_NOMATCH 0x20u
#define BL_P0F_QUERY_LEN 21
#define BL_P0F_RESP_LEN 232

static const char *bl_prog = "bench";

__attribute__((format(printf, 1, 2), noreturn)) static inline void bl_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", bl_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static inline uint64_t bl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline unsigned long bl_ulong(const char *opt, const char *s, unsigned long min, unsigned long max)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' || v < min || v > max)
        bl_die("%s: expected a number in %lu..%lu, got \"%s\"", opt, min, max, s);
    return v;
}

/* A bare IPv4/IPv6 address with a port -> sockaddr. */
static inline int bl_sockaddr(const char *ip, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    }
    return -1;
}

/* "IP:PORT" or "[IPv6]:PORT". */
static inline void bl_hostport(const char *opt, const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            bl_die("%s: expected [IPv6]:PORT, got \"%s\"", opt, s);
        hlen = (size_t)(end - s - 1);
        if (hlen >= sizeof(host))
            bl_die("%s: bad address \"%s\"", opt, s);
        memcpy(host, s + 1, hlen);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
            bl_die("%s: expected IP:PORT, got \"%s\"", opt, s);
        hlen = (size_t)(colon - s);
        memcpy(host, s, hlen);
    }
    host[hlen] = '\0';
    if (bl_sockaddr(host, (unsigned)bl_ulong(opt, colon + 1, 1, 65535), ss, len) != 0)
        bl_die("%s: bad address \"%s\"", opt, s);
}

/* Formats the address (no port) and returns the port. */
static inline unsigned bl_format(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)size);
        return ntohs(s6->sin6_port);
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)size);
    return ntohs(s4->sin_port);
}

/* The 21-byte p0f v3 query for the address of ss (IPv4-mapped IPv6 asked as IPv4). */
static inline void bl_p0f_query(const struct sockaddr_storage *ss, uint8_t out[BL_P0F_QUERY_LEN])
{
    uint32_t magic = BL_P0F_QUERY_MAGIC;
    memset(out, 0, BL_P0F_QUERY_LEN);
    memcpy(out, &magic, 4);
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            out[4] = 4;
            memcpy(out + 5, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            out[4] = 6;
            memcpy(out + 5, s6->sin6_addr.s6_addr, 16);
        }
    } else {
        out[4] = 4;
        memcpy(out + 5, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

/* Status of a 232-byte reply, or 0 when the magic is wrong. */
static inline uint32_t bl_p0f_status(const uint8_t *reply)
{
    uint32_t magic, status;
    memcpy(&magic, reply, 4);
    memcpy(&status, reply + 4, 4);
    return magic == BL_P0F_RESP_MAGIC ? status : 0;
}

static inline int bl_unix_connect(const char *path, int flags)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Blocking full write / full read (EINTR-safe). */
static inline int bl_transfer_all(int fd, uint8_t *p, size_t len, bool writing)
{
    while (len > 0) {
        ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int bl_write_all(int fd, const void *buf, size_t len)
{
    return bl_transfer_all(fd, (uint8_t *)(uintptr_t)buf, len, true);
}

static inline int bl_read_all(int fd, void *buf, size_t len)
{
    return bl_transfer_all(fd, buf, len, false);
}

/* Writes a file atomically (temporary name, then rename) from a memory stream's buffer. */
static inline void bl_write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        bl_die("cannot write %s: %s", tmp, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bl_die("cannot write %s: %s", tmp, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    close(fd);
    if (rename(tmp, path) != 0)
        bl_die("cannot rename %s: %s", tmp, strerror(errno));
}

#endif
