/* Where a shared store lives: a Redis server named by a URL in the configuration.
 *
 *   redis://[user:password@]host[:port][/db]    host: an IPv4 address, [IPv6] or localhost
 *   unix:/path/redis.sock[?db=N][&user=U][&password=P]
 *
 * The host is an address, never a name to look up: a DNS query would run inside the MTA's
 * accept() or before its chroot, and could wait for seconds. User and password may be
 * percent-encoded (%40 for @). Pure: parsing touches no socket, so it is fuzzed with the
 * configuration. */
#ifndef P0FSHIM_STORE_URL_H
#define P0FSHIM_STORE_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define STORE_URL_MAX 512
#define STORE_DEFAULT_PORT 6379
#define STORE_DB_MAX 65535

struct store_url {
    bool set;                          /* false: no store of this kind configured */
    bool is_unix;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* with is_unix */
    struct sockaddr_storage addr;      /* without: the server's address and port */
    socklen_t addr_len;
    char user[128];                    /* empty: AUTH with the password alone (Redis < 6) */
    char password[256];                /* empty: no AUTH */
    unsigned db;
    char shown[STORE_URL_MAX];         /* the URL as log lines show it: the password is "***" */
};

/* 0 and *out; or -1 and why (which never contains the password). */
int store_url_parse(const char *text, struct store_url *out, char *why, size_t why_size);

#endif
