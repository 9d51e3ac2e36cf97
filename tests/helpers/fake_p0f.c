/*
 * fake_p0f: a stand-in for the p0f v3 daemon's API socket (or, with --v2, for p0f 2.0.8's
 * -Q query socket), used by p0fshim's tests.
 *
 * It is an independent implementation of the p0f 3.06b+ wire format (21-byte packed query,
 * 232-byte packed reply, integers in host byte order) and of the p0f v2 one (24-byte query,
 * 144-byte reply, natural alignment, addresses in network order, ports and integers in host
 * order), and deliberately shares no code with the shim, so a codec bug cannot hide on both
 * sides.
 *
 * CLI:
 *   fake_p0f --socket PATH [--mode MODE] [--delay-ms N] [--nomatch-first N]
 *            [--host IP [--os NAME] [--flavor F] [--match exact|generic|fuzzy] [--dist N]
 *                       [--link L] [--uptime N] [--total N] [--nat T] [--chg T]]...
 *            [--query-log FILE] [--ready-file PATH] [--max-clients N]
 *
 *   --socket      AF_UNIX stream socket to serve (an old socket there is replaced; the new one
 *                 appears atomically, already listening, mode 0666).
 *   --host        a known host (IPv4 or IPv6, compared on all 4/16 bytes). The attribute options
 *                 after it apply to it; a --host without --os answers OK with an empty os_name
 *                 ("known host, OS not identified"). Strings take \xHH and \\ escapes and may be
 *                 up to 32 bytes (exactly 32 = no NUL terminator). Defaults: match exact,
 *                 dist 0, uptime 0, total 1, nat 0, chg 0, empty strings.
 *                 Unknown IPs get NOMATCH. An IPv4 host does not match an ::ffff:a.b.c.d query
 *                 (like the real p0f).
 *   --nomatch-first N  NOMATCH for the first N queries of each IP (counted over all connections).
 *   --delay-ms N  every answer is sent N ms after its query arrived (others are served meanwhile).
 *   --mode MODE   normal (default) | hang (read queries, never answer) | garbage (232 random
 *                 bytes per answer) | badmagic (magic 0xdeadbeef) | badstatus (status 0x30) |
 *                 badquery (every answer is BADQUERY) | short (100 bytes of the answer, then
 *                 close) | nonul (OK answers carry a 32-byte os_name without NUL: the --os text
 *                 padded with 'X') | die-mid-reply (116 bytes of the answer, then the process
 *                 exits 0, leaving the socket file) | unsolicited (an OK answer, os "Unsolicited"
 *                 flavor "reply", is sent as soon as a client connects; then as normal) |
 *                 close-after-query (close the connection instead of answering).
 *   --max-clients N  concurrent API clients (default 100, like p0f -S); at the limit new
 *                 clients wait in the listen backlog, as with the real daemon.
 *
 * Several clients are served concurrently (poll); each connection may pipeline any number of
 * queries, answered in order. Every query is validated (magic 0x50304601, addr_type 4 or 6,
 * zero padding after an IPv4 address); an invalid one is logged as `conn=K badquery reason=...`
 * and answered with BADQUERY. A query left incomplete is logged as badquery after 1 s of
 * silence or at close.
 * Query log lines (one write each, O_APPEND): `conn=K open`, `conn=K query addr_type=4
 * addr=127.0.0.2`, `conn=K badquery reason=...`, `conn=K close`, `conn=K exit mode=die-mid-reply`.
 *
 * p0f v2 (--v2, anywhere on the command line; it changes how the host options are read):
 *   fake_p0f --v2 --socket PATH [--mode MODE] [--nomatch-first N] [--verify-conn]
 *            [--host IPv4 [--os GENRE] [--flavor DETAIL] [--dist N] [--link L] [--tos T]
 *                         [--uptime HOURS] [--score N] [--mflags N] [--nat N] [--fw N]
 *                         [--real N]]...
 *            [--query-log FILE] [--ready-file PATH]
 *   Like p0f 2: one query per connection and one client at a time (single-threaded; others
 *   wait in the listen backlog). Accept, read exactly 24 bytes within 2 s (fewer: logged as
 *   `conn=K badquery reason=truncated|timeout bytes=N`, closed without an answer), answer
 *   144 bytes, close. The query is checked: magic 0x0defaced in host order, type 1, zero
 *   padding bytes 5-7; a bad one is logged `conn=K badquery reason=magic|type|padding ...`
 *   and answered BADQUERY (type 1, its id echoed). A good one is logged
 *   `conn=K query id=N src=IP:PORT dst=IP:PORT` (addresses read in network order, ports in
 *   host order) and answered from the --host whose address equals src (the fake matches on
 *   the client IP only, p0f 2 on the whole connection); unknown sources get NOMATCH (with
 *   dist -1, as p0f 2 sends it). --verify-conn: the query must also name a TCP socket of
 *   this machine whose peer is src IP:PORT and whose local port is the dst port (read from
 *   /proc/net/tcp and tcp6, IPv4-mapped included), as p0f 2's cache is keyed on the
 *   connection; the query line then ends in ` tcp=found` or ` tcp=missing`, and a missing
 *   one is answered NOMATCH. A wrong byte order of an address or a port shows up here.
 *   Host attributes: --os is the genre (up to 20 bytes), --flavor the detail (40), --link
 *   (30), --tos (30) (exactly the field size = no NUL terminator); --dist -128..127
 *   (default 0), --uptime hours -1..2^31-1 (default -1), --score -32768..32767 (default
 *   -100, none), --mflags 0..65535 (default 0), --nat/--fw/--real 0..255 (defaults 0, 0, 1).
 *   Modes: normal | hang (read the query, never answer; the connection is held until the
 *   client closes it, so the daemon serves nobody else meanwhile) | badmagic (reply magic
 *   0xdeadbeef) | badquery (every answer is BADQUERY) | short (the first 100 bytes of the
 *   answer, then close) | wrongid (the reply carries the query's id + 1) | die-mid-reply
 *   (72 bytes of the answer, then the process exits 0, leaving the socket file).
 *   --nomatch-first N: NOMATCH for the first N queries of each source IP. Query log lines:
 *   `conn=K open`, `conn=K query ...`, `conn=K badquery ...`, `conn=K close`,
 *   `conn=K exit mode=die-mid-reply`. --delay-ms, --max-clients, --match, --total and --chg
 *   are v3 only; garbage, badstatus, nonul, unsolicited and close-after-query are v3 modes,
 *   wrongid a v2 one.
 *
 * SIGTERM/SIGINT: close everything, remove the socket and the ready file, exit 0.
 * Exit status 2 on misuse or a start-up error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>

#define HELPER_NAME "fake_p0f"
#include "helper.h"

/* ---- p0f v3 wire format (p0f 3.09b api.h), written out independently ---- */

#define P0F_QUERY_MAGIC 0x50304601u
#define P0F_RESP_MAGIC 0x50304602u
#define P0F_STATUS_BADQUERY 0x00u
#define P0F_STATUS_OK 0x10u
#define P0F_STATUS_NOMATCH 0x20u
#define P0F_ADDR_IPV4 4
#define P0F_ADDR_IPV6 6
#define P0F_MATCH_FUZZY 0x01
#define P0F_MATCH_GENERIC 0x02
#define P0F_STR_MAX 32

struct p0f_query {
    uint32_t magic;     /* P0F_QUERY_MAGIC, host byte order */
    uint8_t addr_type;  /* 4 or 6 */
    uint8_t addr[16];   /* network order; IPv4 in the first 4 bytes, rest zero */
} __attribute__((packed));

struct p0f_reply {
    uint32_t magic;
    uint32_t status;
    uint32_t first_seen;
    uint32_t last_seen;
    uint32_t total_conn;
    uint32_t uptime_min;
    uint32_t up_mod_days;
    uint32_t last_nat;
    uint32_t last_chg;
    int16_t distance;
    uint8_t bad_sw;
    uint8_t os_match_q;
    char os_name[P0F_STR_MAX];
    char os_flavor[P0F_STR_MAX];
    char http_name[P0F_STR_MAX];
    char http_flavor[P0F_STR_MAX];
    char link_type[P0F_STR_MAX];
    char language[P0F_STR_MAX];
} __attribute__((packed));

_Static_assert(sizeof(struct p0f_query) == 21, "p0f v3 query must be 21 bytes");
_Static_assert(sizeof(struct p0f_reply) == 232, "p0f v3 reply must be 232 bytes");
_Static_assert(offsetof(struct p0f_query, addr) == 5, "query addr offset");
_Static_assert(offsetof(struct p0f_reply, distance) == 36, "reply distance offset");
_Static_assert(offsetof(struct p0f_reply, os_match_q) == 39, "reply os_match_q offset");
_Static_assert(offsetof(struct p0f_reply, os_name) == 40, "reply os_name offset");
_Static_assert(offsetof(struct p0f_reply, link_type) == 168, "reply link_type offset");
_Static_assert(offsetof(struct p0f_reply, language) == 200, "reply language offset");

/* ---- p0f v2 wire format (p0f 2.0.8 p0f-query.h), written out independently ----
 * Not packed: natural alignment puts 3 padding bytes after the query's type, one after the
 * reply's `real` and two after `mflags`. */

#define P0F2_MAGIC 0x0defacedu
#define P0F2_QTYPE_FINGERPRINT 1
#define P0F2_RESP_OK 0
#define P0F2_RESP_BADQUERY 1
#define P0F2_RESP_NOMATCH 2
#define P0F2_NO_SCORE (-100)

struct p0f2_query {
    uint32_t magic;     /* P0F2_MAGIC, host byte order */
    uint8_t type;       /* 1 = fingerprint */
    uint8_t pad[3];     /* zero (written out so the fake can check it) */
    uint32_t id;        /* echoed in the reply */
    uint32_t src_ad;    /* the client's IPv4 address, network order */
    uint32_t dst_ad;    /* the server's IPv4 address, network order */
    uint16_t src_port;  /* host order */
    uint16_t dst_port;  /* host order */
};

struct p0f2_reply {
    uint32_t magic;
    uint32_t id;
    uint8_t type;       /* P0F2_RESP_* */
    char genre[20];
    char detail[40];
    int8_t dist;
    char link[30];
    char tos[30];
    uint8_t fw;
    uint8_t nat;
    uint8_t real;
    int16_t score;
    uint16_t mflags;
    int32_t uptime;     /* hours, -1 unknown */
};

_Static_assert(sizeof(struct p0f2_query) == 24, "p0f v2 query must be 24 bytes");
_Static_assert(sizeof(struct p0f2_reply) == 144, "p0f v2 reply must be 144 bytes");
_Static_assert(offsetof(struct p0f2_query, type) == 4, "v2 query type offset");
_Static_assert(offsetof(struct p0f2_query, pad) == 5, "v2 query padding offset");
_Static_assert(offsetof(struct p0f2_query, id) == 8, "v2 query id offset");
_Static_assert(offsetof(struct p0f2_query, src_ad) == 12, "v2 query src_ad offset");
_Static_assert(offsetof(struct p0f2_query, dst_ad) == 16, "v2 query dst_ad offset");
_Static_assert(offsetof(struct p0f2_query, src_port) == 20, "v2 query src_port offset");
_Static_assert(offsetof(struct p0f2_query, dst_port) == 22, "v2 query dst_port offset");
_Static_assert(offsetof(struct p0f2_reply, id) == 4, "v2 reply id offset");
_Static_assert(offsetof(struct p0f2_reply, type) == 8, "v2 reply type offset");
_Static_assert(offsetof(struct p0f2_reply, genre) == 9, "v2 reply genre offset");
_Static_assert(offsetof(struct p0f2_reply, detail) == 29, "v2 reply detail offset");
_Static_assert(offsetof(struct p0f2_reply, dist) == 69, "v2 reply dist offset");
_Static_assert(offsetof(struct p0f2_reply, link) == 70, "v2 reply link offset");
_Static_assert(offsetof(struct p0f2_reply, tos) == 100, "v2 reply tos offset");
_Static_assert(offsetof(struct p0f2_reply, fw) == 130, "v2 reply fw offset");
_Static_assert(offsetof(struct p0f2_reply, nat) == 131, "v2 reply nat offset");
_Static_assert(offsetof(struct p0f2_reply, real) == 132, "v2 reply real offset");
_Static_assert(offsetof(struct p0f2_reply, score) == 134, "v2 reply score offset");
_Static_assert(offsetof(struct p0f2_reply, mflags) == 136, "v2 reply mflags offset");
_Static_assert(offsetof(struct p0f2_reply, uptime) == 140, "v2 reply uptime offset");

#define V2_QUERY_LEN ((size_t)sizeof(struct p0f2_query))
#define V2_REPLY_LEN ((size_t)sizeof(struct p0f2_reply))
#define V2_SHORT_LEN 100u                 /* --v2 --mode short */
#define V2_HALF_LEN (V2_REPLY_LEN / 2)    /* --v2 --mode die-mid-reply */
#define V2_QUERY_WAIT_MS 2000             /* p0f 2 waits this long for the query */

#define QUERY_LEN ((size_t)sizeof(struct p0f_query))
#define REPLY_LEN ((size_t)sizeof(struct p0f_reply))
#define SHORT_LEN 100u          /* --mode short */
#define HALF_LEN (REPLY_LEN / 2) /* --mode die-mid-reply */
#define BADMAGIC_VALUE 0xdeadbeefu
#define BADSTATUS_VALUE 0x30u

/* ---- configuration ---- */

enum mode {
    MODE_NORMAL,
    MODE_HANG,
    MODE_GARBAGE,
    MODE_BADMAGIC,
    MODE_BADSTATUS,
    MODE_BADQUERY,
    MODE_SHORT,
    MODE_NONUL,
    MODE_DIE_MID_REPLY,
    MODE_UNSOLICITED,
    MODE_CLOSE_AFTER_QUERY,
    MODE_WRONGID,
};

static const struct {
    const char *name;
    enum mode mode;
} mode_names[] = {
    {"normal", MODE_NORMAL},
    {"hang", MODE_HANG},
    {"garbage", MODE_GARBAGE},
    {"badmagic", MODE_BADMAGIC},
    {"badstatus", MODE_BADSTATUS},
    {"badquery", MODE_BADQUERY},
    {"short", MODE_SHORT},
    {"nonul", MODE_NONUL},
    {"die-mid-reply", MODE_DIE_MID_REPLY},
    {"unsolicited", MODE_UNSOLICITED},
    {"close-after-query", MODE_CLOSE_AFTER_QUERY},
    {"wrongid", MODE_WRONGID},
};

#define PSTR_MAX 40   /* the longest field: v2's detail */

struct pstr {
    char s[PSTR_MAX];
    size_t len; /* 0..field size; the field size means no NUL terminator on the wire */
};

struct host {
    uint8_t addr_type;
    uint8_t addr[16];
    struct pstr os, flavor, link;
    uint8_t match_q;
    int16_t dist;
    uint32_t uptime, total, nat, chg;
    /* p0f v2 only */
    struct pstr tos;
    int32_t uptime_h;
    int16_t score;
    uint16_t mflags;
    uint8_t fw, nat2, real;
};

#define MAX_HOSTS 256
#define MAX_SEEN 100000
#define QCAP 64              /* pending answers per connection before we stop reading */
#define STALL_MS 1000        /* incomplete query silence before it is logged */
#define MAX_QUERIES_PER_WAKE 256

static struct host hosts[MAX_HOSTS];
static size_t n_hosts;
static enum mode g_mode = MODE_NORMAL;
static unsigned long g_delay_ms;
static unsigned long g_nomatch_first;
static size_t g_max_clients = 100;
static int g_qlog_fd = -1;
static const char *g_socket_path;
static const char *g_ready_path;
static struct socket_file g_socket;
static volatile sig_atomic_t g_stop;
static bool g_v2;             /* --v2: speak p0f 2.0.8's query protocol */
static bool g_verify_conn;    /* --v2 --verify-conn */

/* Per-IP query counters for --nomatch-first and first_seen. */
struct seen {
    uint8_t addr_type;
    uint8_t addr[16];
    uint32_t count;
    uint32_t first;
};
static struct seen *g_seen;
static size_t n_seen, cap_seen;

/* ---- connections ---- */

enum action { ACT_NONE, ACT_CLOSE, ACT_EXIT };

struct item {
    int64_t due;        /* monotonic ms */
    size_t len, off;
    enum action action; /* after the item is fully sent */
    uint8_t data[REPLY_LEN];
};

struct conn {
    int fd;
    unsigned long id;
    uint8_t in[QUERY_LEN];
    size_t inlen;
    int64_t in_last;    /* when the last byte of an incomplete query arrived */
    bool stall_logged;
    bool eof;           /* peer sent EOF: flush what is pending, then close */
    bool no_more_input; /* we decided to stop reading (short, close-after-query, ...) */
    uint32_t rng;
    struct item q[QCAP];
    size_t qhead, qcount;
};

static struct conn **g_conns;
static size_t n_conns;
static unsigned long g_next_conn_id = 1;

/* ---- small helpers ---- */

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: fake_p0f --socket PATH [--mode MODE] [--delay-ms N] [--nomatch-first N]\n"
          "         [--host IP [--os NAME] [--flavor F] [--match exact|generic|fuzzy] [--dist N]\n"
          "                    [--link L] [--uptime N] [--total N] [--nat T] [--chg T]]...\n"
          "         [--query-log FILE] [--ready-file PATH] [--max-clients N]\n"
          "MODE: normal hang garbage badmagic badstatus badquery short nonul die-mid-reply\n"
          "      unsolicited close-after-query\n"
          "       fake_p0f --v2 --socket PATH [--mode MODE] [--nomatch-first N] [--verify-conn]\n"
          "         [--host IPv4 [--os GENRE] [--flavor DETAIL] [--dist N] [--link L] [--tos T]\n"
          "                      [--uptime HOURS] [--score N] [--mflags N] [--nat N] [--fw N]\n"
          "                      [--real N]]...\n"
          "         [--query-log FILE] [--ready-file PATH]\n"
          "v2 MODE: normal hang badmagic badquery short wrongid die-mid-reply\n",
          stderr);
    exit(2);
}

static uint32_t unix_now(void)
{
    time_t t = time(NULL);
    return t < 0 ? 0 : (uint32_t)t;
}

/* One log line, written with a single write() so concurrent readers never see half a line. */
static void qlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void qlog(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    if (g_qlog_fd < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)(sizeof(buf) - 2);
    buf[n++] = '\n';
    for (int tries = 0; tries < 3; tries++) {
        ssize_t w = write(g_qlog_fd, buf, (size_t)n);
        if (w >= 0 || errno != EINTR)
            break;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode a string option: \xHH and \\ escapes, at most max bytes (the wire field's size). */
static void parse_pstr(const char *opt, const char *s, struct pstr *out, size_t max)
{
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    for (const char *p = s; *p != '\0';) {
        unsigned char c;
        if (*p == '\\') {
            if (p[1] == '\\') {
                c = '\\';
                p += 2;
            } else if (p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
                c = (unsigned char)(hexval(p[2]) * 16 + hexval(p[3]));
                p += 4;
            } else {
                die("%s: bad escape in \"%s\" (only \\xHH and \\\\ are understood)", opt, s);
            }
        } else {
            c = (unsigned char)*p++;
        }
        if (n >= max)
            die("%s: \"%s\" is longer than %zu bytes", opt, s, max);
        out->s[n++] = (char)c;
    }
    out->len = n;
}

static struct host *current_host(const char *opt)
{
    if (n_hosts == 0)
        die("%s must follow a --host", opt);
    return &hosts[n_hosts - 1];
}

static void add_host(const char *ip)
{
    struct host *h;
    uint8_t buf[16] = {0};
    uint8_t type;

    if (inet_pton(AF_INET, ip, buf) == 1)
        type = P0F_ADDR_IPV4;
    else if (!g_v2 && inet_pton(AF_INET6, ip, buf) == 1)
        type = P0F_ADDR_IPV6;
    else if (g_v2)
        die("--host: not an IPv4 address (p0f v2 is IPv4-only): \"%s\"", ip);
    else
        die("--host: not an IPv4 or IPv6 address: \"%s\"", ip);
    for (size_t i = 0; i < n_hosts; i++)
        if (hosts[i].addr_type == type && memcmp(hosts[i].addr, buf, 16) == 0)
            die("--host %s given twice", ip);
    if (n_hosts >= MAX_HOSTS)
        die("too many --host options (at most %d)", MAX_HOSTS);
    h = &hosts[n_hosts++];
    memset(h, 0, sizeof(*h));
    h->addr_type = type;
    memcpy(h->addr, buf, 16);
    h->total = 1;
    h->uptime_h = -1;
    h->score = P0F2_NO_SCORE;
    h->real = 1;
}

static const struct host *find_host(const struct p0f_query *q)
{
    size_t len = q->addr_type == P0F_ADDR_IPV4 ? 4 : 16;

    for (size_t i = 0; i < n_hosts; i++)
        if (hosts[i].addr_type == q->addr_type && memcmp(hosts[i].addr, q->addr, len) == 0)
            return &hosts[i];
    return NULL;
}

/* Count a valid query for its IP; returns the entry (NULL only if the table is full). */
static struct seen *count_query(const struct p0f_query *q)
{
    for (size_t i = 0; i < n_seen; i++)
        if (g_seen[i].addr_type == q->addr_type && memcmp(g_seen[i].addr, q->addr, 16) == 0) {
            if (g_seen[i].count < UINT32_MAX)
                g_seen[i].count++;
            return &g_seen[i];
        }
    if (n_seen == cap_seen) {
        size_t ncap = cap_seen ? cap_seen * 2 : 64;
        struct seen *p;
        if (ncap > MAX_SEEN)
            ncap = MAX_SEEN;
        if (ncap <= cap_seen)
            return NULL;
        p = realloc(g_seen, ncap * sizeof(*p));
        if (p == NULL)
            return NULL;
        g_seen = p;
        cap_seen = ncap;
    }
    g_seen[n_seen].addr_type = q->addr_type;
    memcpy(g_seen[n_seen].addr, q->addr, 16);
    g_seen[n_seen].count = 1;
    g_seen[n_seen].first = unix_now();
    return &g_seen[n_seen++];
}

/* ---- answers ---- */

static void put_pstr(char field[P0F_STR_MAX], const struct pstr *p)
{
    memset(field, 0, P0F_STR_MAX);
    memcpy(field, p->s, p->len);
}

static void fill_ok(struct p0f_reply *r, const struct host *h, uint32_t first_seen)
{
    r->status = P0F_STATUS_OK;
    r->first_seen = first_seen;
    r->last_seen = unix_now();
    r->total_conn = h->total;
    r->uptime_min = h->uptime;
    r->up_mod_days = 0;
    r->last_nat = h->nat;
    r->last_chg = h->chg;
    r->distance = h->dist;
    r->bad_sw = 0;
    r->os_match_q = h->match_q;
    put_pstr(r->os_name, &h->os);
    put_pstr(r->os_flavor, &h->flavor);
    put_pstr(r->link_type, &h->link);
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static struct item *enqueue(struct conn *c, const void *data, size_t len, enum action act, int64_t due)
{
    struct item *it;

    if (c->qcount >= QCAP)
        return NULL; /* cannot happen: we stop reading when full */
    it = &c->q[(c->qhead + c->qcount) % QCAP];
    c->qcount++;
    it->due = due;
    it->len = len;
    it->off = 0;
    it->action = act;
    if (len)
        memcpy(it->data, data, len);
    return it;
}

static void format_addr(const struct p0f_query *q, char *buf, size_t size)
{
    if (q->addr_type == P0F_ADDR_IPV4) {
        if (inet_ntop(AF_INET, q->addr, buf, (socklen_t)size) == NULL)
            snprintf(buf, size, "?");
    } else {
        if (inet_ntop(AF_INET6, q->addr, buf, (socklen_t)size) == NULL)
            snprintf(buf, size, "?");
    }
}

/* Validate one query; on error describe it in why[] and return false. */
static bool validate_query(const struct p0f_query *q, char *why, size_t size)
{
    if (q->magic != P0F_QUERY_MAGIC) {
        snprintf(why, size, "reason=magic magic=0x%08" PRIx32 " addr_type=%u", q->magic,
                 (unsigned)q->addr_type);
        return false;
    }
    if (q->addr_type != P0F_ADDR_IPV4 && q->addr_type != P0F_ADDR_IPV6) {
        snprintf(why, size, "reason=addr_type addr_type=%u", (unsigned)q->addr_type);
        return false;
    }
    if (q->addr_type == P0F_ADDR_IPV4) {
        for (size_t i = 4; i < 16; i++)
            if (q->addr[i] != 0) {
                snprintf(why, size, "reason=padding addr_type=4 offset=%zu byte=0x%02x", 5 + i,
                         (unsigned)q->addr[i]);
                return false;
            }
    }
    return true;
}

static void handle_query(struct conn *c, const uint8_t raw[QUERY_LEN])
{
    struct p0f_query q;
    struct p0f_reply r;
    uint8_t out[REPLY_LEN];
    char why[128];
    int64_t due = now_ms() + (int64_t)g_delay_ms;

    memcpy(&q, raw, sizeof(q));
    memset(&r, 0, sizeof(r));
    r.magic = P0F_RESP_MAGIC;
    if (!validate_query(&q, why, sizeof(why))) {
        qlog("conn=%lu badquery %s", c->id, why);
        r.status = P0F_STATUS_BADQUERY;
    } else {
        char addr[INET6_ADDRSTRLEN];
        const struct host *h = find_host(&q);
        struct seen *s = count_query(&q);
        format_addr(&q, addr, sizeof(addr));
        qlog("conn=%lu query addr_type=%u addr=%s", c->id, (unsigned)q.addr_type, addr);
        if (h != NULL && (s == NULL || s->count > g_nomatch_first))
            fill_ok(&r, h, s ? s->first : unix_now());
        else
            r.status = P0F_STATUS_NOMATCH;
    }

    switch (g_mode) {
    case MODE_HANG:
        return;
    case MODE_CLOSE_AFTER_QUERY:
        enqueue(c, NULL, 0, ACT_CLOSE, due);
        c->no_more_input = true;
        return;
    case MODE_GARBAGE:
        for (size_t i = 0; i < REPLY_LEN; i++)
            out[i] = (uint8_t)xorshift(&c->rng);
        if (memcmp(out, &(uint32_t){P0F_RESP_MAGIC}, 4) == 0)
            out[0] ^= 0xff;
        enqueue(c, out, REPLY_LEN, ACT_NONE, due);
        return;
    case MODE_BADMAGIC:
        r.magic = BADMAGIC_VALUE;
        break;
    case MODE_BADSTATUS:
        r.status = BADSTATUS_VALUE;
        break;
    case MODE_BADQUERY:
        memset(&r, 0, sizeof(r));
        r.magic = P0F_RESP_MAGIC;
        r.status = P0F_STATUS_BADQUERY;
        break;
    case MODE_NONUL:
        if (r.status == P0F_STATUS_OK) {
            size_t len = strnlen(r.os_name, P0F_STR_MAX);
            memset(r.os_name + len, 'X', P0F_STR_MAX - len);
        }
        break;
    case MODE_SHORT:
        memcpy(out, &r, REPLY_LEN);
        enqueue(c, out, SHORT_LEN, ACT_CLOSE, due);
        c->no_more_input = true;
        return;
    case MODE_DIE_MID_REPLY:
        memcpy(out, &r, REPLY_LEN);
        enqueue(c, out, HALF_LEN, ACT_EXIT, due);
        c->no_more_input = true;
        return;
    case MODE_NORMAL:
    case MODE_UNSOLICITED:
    case MODE_WRONGID: /* refused for v3 at start-up */
        break;
    }
    memcpy(out, &r, REPLY_LEN);
    enqueue(c, out, REPLY_LEN, ACT_NONE, due);
}

/* ---- connection life cycle ---- */

static void close_conn(size_t slot)
{
    struct conn *c = g_conns[slot];

    if (c->inlen > 0 && !c->stall_logged)
        qlog("conn=%lu badquery reason=truncated bytes=%zu", c->id, c->inlen);
    qlog("conn=%lu close", c->id);
    close(c->fd);
    free(c);
    g_conns[slot] = NULL;
    n_conns--;
}

static void accept_clients(int lfd)
{
    for (int i = 0; i < 64 && n_conns < g_max_clients; i++) {
        struct conn *c;
        size_t slot;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                note("accept: %s", strerror(errno));
            return;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            note("out of memory; dropping a client");
            close(fd);
            return;
        }
        c->fd = fd;
        c->id = g_next_conn_id++;
        c->rng = (uint32_t)(c->id * 2654435761u) | 1u;
        for (slot = 0; slot < g_max_clients && g_conns[slot] != NULL; slot++)
            ;
        g_conns[slot] = c; /* slot < g_max_clients since n_conns < g_max_clients */
        n_conns++;
        qlog("conn=%lu open", c->id);
        if (g_mode == MODE_UNSOLICITED) {
            static const struct host unsolicited = {
                .os = {"Unsolicited", 11}, .flavor = {"reply", 5}, .link = {"unsolicited", 11},
                .total = 1};
            struct p0f_reply r;
            memset(&r, 0, sizeof(r));
            r.magic = P0F_RESP_MAGIC;
            fill_ok(&r, &unsolicited, unix_now());
            enqueue(c, &r, REPLY_LEN, ACT_NONE, now_ms());
            qlog("conn=%lu unsolicited", c->id);
        }
    }
}

/* Read queries; returns false if the connection must be closed now. */
static bool read_conn(struct conn *c)
{
    for (int n = 0; n < MAX_QUERIES_PER_WAKE; n++) {
        ssize_t r;

        if (c->no_more_input || c->eof || c->qcount >= QCAP)
            return true;
        r = recv(c->fd, c->in + c->inlen, QUERY_LEN - c->inlen, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            return false; /* ECONNRESET etc. */
        }
        if (r == 0) {
            c->eof = true;
            return true;
        }
        c->inlen += (size_t)r;
        c->in_last = now_ms();
        c->stall_logged = false;
        if (c->inlen == QUERY_LEN) {
            c->inlen = 0;
            handle_query(c, c->in);
        }
    }
    return true;
}

/* Send every answer that is due; returns false if the connection must be closed now. */
static bool flush_conn(struct conn *c, int64_t now)
{
    while (c->qcount > 0) {
        struct item *it = &c->q[c->qhead];
        if (it->due > now)
            return true;
        while (it->off < it->len) {
            ssize_t w = send(c->fd, it->data + it->off, it->len - it->off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return true;
                return false; /* EPIPE, ECONNRESET: the client went away */
            }
            it->off += (size_t)w;
        }
        if (it->action == ACT_EXIT) {
            qlog("conn=%lu exit mode=die-mid-reply", c->id);
            exit(0);
        }
        if (it->action == ACT_CLOSE)
            return false;
        c->qhead = (c->qhead + 1) % QCAP;
        c->qcount--;
    }
    return true;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void serve(int lfd)
{
    struct pollfd *pfd = calloc(g_max_clients + 1, sizeof(*pfd));
    size_t *slot_of = calloc(g_max_clients + 1, sizeof(*slot_of));
    sigset_t orig;

    if (pfd == NULL || slot_of == NULL)
        die("out of memory");
    block_stop_signals(&orig);

    while (!g_stop) {
        int64_t now = now_ms();
        int64_t timeout = 1000;
        size_t n = 0;
        struct timespec ts;
        int rc;

        pfd[n].fd = lfd;
        pfd[n].events = n_conns < g_max_clients ? POLLIN : 0;
        pfd[n].revents = 0;
        n++;
        for (size_t s = 0; s < g_max_clients; s++) {
            struct conn *c = g_conns[s];
            short ev = 0;
            if (c == NULL)
                continue;
            if (!c->no_more_input && !c->eof && c->qcount < QCAP)
                ev |= POLLIN;
            if (c->qcount > 0) {
                int64_t due = c->q[c->qhead].due;
                if (due <= now)
                    ev |= POLLOUT;
                else if (due - now < timeout)
                    timeout = due - now;
            }
            if (c->inlen > 0 && !c->stall_logged) {
                int64_t left = c->in_last + STALL_MS - now;
                if (left < timeout)
                    timeout = left < 0 ? 0 : left;
            }
            pfd[n].fd = c->fd;
            pfd[n].events = ev;
            pfd[n].revents = 0;
            slot_of[n] = s;
            n++;
        }
        ts.tv_sec = (time_t)(timeout / 1000);
        ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
        rc = ppoll(pfd, (nfds_t)n, &ts, &orig);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (pfd[0].revents & POLLIN)
            accept_clients(lfd);
        now = now_ms();
        for (size_t i = 1; i < n; i++) {
            size_t s = slot_of[i];
            struct conn *c = g_conns[s];
            bool keep = true;
            if (c == NULL)
                continue;
            if (pfd[i].revents & POLLIN)
                keep = read_conn(c);
            else if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL))
                keep = false;
            if (keep)
                keep = flush_conn(c, now_ms());
            if (keep && (c->eof || c->no_more_input) && c->qcount == 0)
                keep = false;
            if (keep && c->inlen > 0 && !c->stall_logged && now - c->in_last >= STALL_MS) {
                qlog("conn=%lu badquery reason=incomplete bytes=%zu", c->id, c->inlen);
                c->stall_logged = true;
            }
            if (!keep)
                close_conn(s);
        }
    }
    for (size_t s = 0; s < g_max_clients; s++)
        if (g_conns[s] != NULL)
            close_conn(s);
    free(pfd);
    free(slot_of);
}

/* ---- p0f v2: one client at a time, one query per connection ---- */

static void put_v2_field(char *field, size_t size, const struct pstr *p)
{
    memset(field, 0, size);
    memcpy(field, p->s, p->len < size ? p->len : size);
}

static void format_v2_endpoint(uint32_t addr_net, uint16_t port, char *buf, size_t size)
{
    char ip[INET_ADDRSTRLEN];
    struct in_addr in = {.s_addr = addr_net};
    if (inet_ntop(AF_INET, &in, ip, sizeof(ip)) == NULL)
        snprintf(ip, sizeof(ip), "?");
    snprintf(buf, size, "%s:%u", ip, (unsigned)port);
}

static const struct host *find_v2_host(uint32_t src_net)
{
    for (size_t i = 0; i < n_hosts; i++)
        if (memcmp(hosts[i].addr, &src_net, 4) == 0)
            return &hosts[i];
    return NULL;
}

/* Parses one hex field of /proc/net/tcp{,6} ("0100007F:0019"): the address as the raw
 * 32-bit words the kernel printed (network-order bytes read as a host integer), the port
 * in host order. Returns false on a malformed field. */
static bool parse_proc_endpoint(const char *text, uint32_t words[4], size_t nwords, uint16_t *port)
{
    for (size_t i = 0; i < nwords; i++) {
        unsigned long w = 0;
        for (size_t k = 0; k < 8; k++) {
            int v = hexval(text[i * 8 + k]);
            if (v < 0)
                return false;
            w = w * 16 + (unsigned long)v;
        }
        words[i] = (uint32_t)w;
    }
    if (text[nwords * 8] != ':')
        return false;
    unsigned long p = 0;
    for (size_t k = 1; k <= 4; k++) {
        int v = hexval(text[nwords * 8 + k]);
        if (v < 0)
            return false;
        p = p * 16 + (unsigned long)v;
    }
    *port = (uint16_t)p;
    return true;
}

/* --verify-conn: is there a TCP socket here whose peer is src_net:src_port and whose local
 * port is dst_port? IPv4 sockets, and IPv4-mapped ones on dual-stack listeners. */
static bool tcp_connection_exists(uint32_t src_net, uint16_t src_port, uint16_t dst_port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t f = 0; f < 2; f++) {
        size_t nwords = f == 0 ? 1 : 4;
        char line[512];
        FILE *fp = fopen(files[f], "re");
        if (fp == NULL)
            continue;
        while (fgets(line, sizeof(line), fp) != NULL) {
            char local[64], remote[64];
            uint32_t lw[4], rw[4];
            uint16_t lport, rport;
            if (sscanf(line, " %*[0-9]: %63s %63s", local, remote) != 2)
                continue; /* the header line */
            if (!parse_proc_endpoint(local, lw, nwords, &lport) || !parse_proc_endpoint(remote, rw, nwords, &rport))
                continue;
            if (nwords == 4) {
                /* ::ffff:a.b.c.d: words 0 and 1 zero, word 2 the bytes 00 00 ff ff. */
                uint32_t mapped;
                memcpy(&mapped, (const uint8_t[4]){0, 0, 0xff, 0xff}, 4);
                if (rw[0] != 0 || rw[1] != 0 || rw[2] != mapped)
                    continue;
                rw[0] = rw[3];
            }
            if (rw[0] == src_net && rport == src_port && lport == dst_port) {
                fclose(fp);
                return true;
            }
        }
        fclose(fp);
    }
    return false;
}

/* Checks the query as the fake's contract says; false and a reason when it is bad. */
static bool validate_v2_query(const struct p0f2_query *q, char *why, size_t size)
{
    if (q->magic != P0F2_MAGIC) {
        snprintf(why, size, "reason=magic magic=0x%08" PRIx32, q->magic);
        return false;
    }
    if (q->type != P0F2_QTYPE_FINGERPRINT) {
        snprintf(why, size, "reason=type type=%u", (unsigned)q->type);
        return false;
    }
    for (size_t i = 0; i < sizeof(q->pad); i++)
        if (q->pad[i] != 0) {
            snprintf(why, size, "reason=padding offset=%zu byte=0x%02x", 5 + i, (unsigned)q->pad[i]);
            return false;
        }
    return true;
}

/* Counts a query for its source IP (--nomatch-first); NULL only if the table is full. */
static struct seen *count_v2_query(uint32_t src_net)
{
    struct p0f_query key;
    memset(&key, 0, sizeof(key));
    key.addr_type = P0F_ADDR_IPV4;
    memcpy(key.addr, &src_net, 4);
    return count_query(&key);
}

/* Logs one complete query and builds its answer in r (before any --mode changes it). */
static void answer_v2(unsigned long conn, const uint8_t raw[V2_QUERY_LEN], struct p0f2_reply *r)
{
    struct p0f2_query q;
    char why[128];

    memcpy(&q, raw, sizeof(q));
    memset(r, 0, sizeof(*r));
    r->magic = P0F2_MAGIC;
    r->id = q.id;
    if (!validate_v2_query(&q, why, sizeof(why))) {
        qlog("conn=%lu badquery %s id=%" PRIu32, conn, why, q.id);
        r->type = P0F2_RESP_BADQUERY;
        return;
    }
    char src[40], dst[40];
    const char *tcp = "";
    bool conn_ok = true;
    format_v2_endpoint(q.src_ad, q.src_port, src, sizeof(src));
    format_v2_endpoint(q.dst_ad, q.dst_port, dst, sizeof(dst));
    if (g_verify_conn) {
        conn_ok = tcp_connection_exists(q.src_ad, q.src_port, q.dst_port);
        tcp = conn_ok ? " tcp=found" : " tcp=missing";
    }
    qlog("conn=%lu query id=%" PRIu32 " src=%s dst=%s%s", conn, q.id, src, dst, tcp);
    const struct host *h = find_v2_host(q.src_ad);
    struct seen *seen = count_v2_query(q.src_ad);
    if (h == NULL || !conn_ok || (seen != NULL && seen->count <= g_nomatch_first)) {
        r->type = P0F2_RESP_NOMATCH;
        r->dist = -1; /* as p0f 2 sends it */
        return;
    }
    r->type = P0F2_RESP_OK;
    put_v2_field(r->genre, sizeof(r->genre), &h->os);
    put_v2_field(r->detail, sizeof(r->detail), &h->flavor);
    put_v2_field(r->link, sizeof(r->link), &h->link);
    put_v2_field(r->tos, sizeof(r->tos), &h->tos);
    r->dist = (int8_t)h->dist;
    r->fw = h->fw;
    r->nat = h->nat2;
    r->real = h->real;
    r->score = h->score;
    r->mflags = h->mflags;
    r->uptime = h->uptime_h;
}

/* Waits for fd to become readable until deadline (monotonic ms; -1 = none). 1 readable,
 * 0 timed out, -1 stop requested. */
static int wait_readable(int fd, int64_t deadline, const sigset_t *mask)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = 1000;
        if (g_stop)
            return -1;
        if (deadline >= 0) {
            left = deadline - now_ms();
            if (left <= 0)
                return 0;
            if (left > 1000)
                left = 1000;
        }
        struct timespec ts = {.tv_sec = (time_t)(left / 1000), .tv_nsec = (long)(left % 1000) * 1000000L};
        int rc = ppoll(&pfd, 1, &ts, mask);
        if (rc < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (rc > 0)
            return 1;
    }
}

static void send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the client went away */
        p += w;
        len -= (size_t)w;
    }
}

static void serve_v2_client(int fd, unsigned long conn, const sigset_t *mask)
{
    uint8_t in[V2_QUERY_LEN];
    size_t inlen = 0;
    int64_t deadline = now_ms() + V2_QUERY_WAIT_MS;
    struct p0f2_reply r;

    qlog("conn=%lu open", conn);
    while (inlen < V2_QUERY_LEN) {
        int ready = wait_readable(fd, deadline, mask);
        if (ready < 0)
            goto out;
        if (ready == 0) {
            qlog("conn=%lu badquery reason=timeout bytes=%zu", conn, inlen);
            goto out;
        }
        ssize_t n = recv(fd, in + inlen, V2_QUERY_LEN - inlen, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            qlog("conn=%lu badquery reason=truncated bytes=%zu", conn, inlen);
            goto out;
        }
        inlen += (size_t)n;
    }
    answer_v2(conn, in, &r);

    switch (g_mode) {
    case MODE_HANG:
        /* Never answer; hold the client (and so the whole daemon) until it gives up. */
        for (;;) {
            uint8_t sink[256];
            if (wait_readable(fd, -1, mask) < 0)
                goto out;
            ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
                goto out;
        }
    case MODE_BADMAGIC:
        r.magic = BADMAGIC_VALUE;
        break;
    case MODE_BADQUERY: {
        uint32_t id = r.id;
        memset(&r, 0, sizeof(r));
        r.magic = P0F2_MAGIC;
        r.id = id;
        r.type = P0F2_RESP_BADQUERY;
        break;
    }
    case MODE_WRONGID:
        r.id += 1;
        break;
    case MODE_SHORT:
        send_all(fd, &r, V2_SHORT_LEN);
        goto out;
    case MODE_DIE_MID_REPLY:
        send_all(fd, &r, V2_HALF_LEN);
        qlog("conn=%lu exit mode=die-mid-reply", conn);
        exit(0);
    case MODE_NORMAL:
        break;
    case MODE_GARBAGE:
    case MODE_BADSTATUS:
    case MODE_NONUL:
    case MODE_UNSOLICITED:
    case MODE_CLOSE_AFTER_QUERY:
        break; /* refused for v2 at start-up */
    }
    send_all(fd, &r, sizeof(r));
out:
    qlog("conn=%lu close", conn);
    close(fd);
}

static void serve_v2(int lfd)
{
    sigset_t orig;

    block_stop_signals(&orig);

    while (!g_stop) {
        if (wait_readable(lfd, -1, &orig) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN && errno != EWOULDBLOCK)
                note("accept: %s", strerror(errno));
            continue;
        }
        serve_v2_client(fd, g_next_conn_id++, &orig);
    }
}

int main(int argc, char **argv)
{
    enum {
        OPT_SOCKET = 256, OPT_MODE, OPT_HOST, OPT_OS, OPT_FLAVOR, OPT_MATCH, OPT_DIST, OPT_LINK,
        OPT_UPTIME, OPT_TOTAL, OPT_NAT, OPT_CHG, OPT_NOMATCH_FIRST, OPT_DELAY, OPT_QLOG,
        OPT_READY, OPT_MAX_CLIENTS, OPT_HELP, OPT_V2, OPT_VERIFY_CONN, OPT_TOS, OPT_SCORE, OPT_MFLAGS,
        OPT_FW, OPT_REAL,
    };
    static const struct option opts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"mode", required_argument, NULL, OPT_MODE},
        {"host", required_argument, NULL, OPT_HOST},
        {"os", required_argument, NULL, OPT_OS},
        {"flavor", required_argument, NULL, OPT_FLAVOR},
        {"match", required_argument, NULL, OPT_MATCH},
        {"dist", required_argument, NULL, OPT_DIST},
        {"link", required_argument, NULL, OPT_LINK},
        {"uptime", required_argument, NULL, OPT_UPTIME},
        {"total", required_argument, NULL, OPT_TOTAL},
        {"nat", required_argument, NULL, OPT_NAT},
        {"chg", required_argument, NULL, OPT_CHG},
        {"nomatch-first", required_argument, NULL, OPT_NOMATCH_FIRST},
        {"delay-ms", required_argument, NULL, OPT_DELAY},
        {"query-log", required_argument, NULL, OPT_QLOG},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
        {"help", no_argument, NULL, OPT_HELP},
        {"v2", no_argument, NULL, OPT_V2},
        {"verify-conn", no_argument, NULL, OPT_VERIFY_CONN},
        {"tos", required_argument, NULL, OPT_TOS},
        {"score", required_argument, NULL, OPT_SCORE},
        {"mflags", required_argument, NULL, OPT_MFLAGS},
        {"fw", required_argument, NULL, OPT_FW},
        {"real", required_argument, NULL, OPT_REAL},
        {NULL, 0, NULL, 0},
    };
    const char *qlog_path = NULL;
    int opt, lfd;

    /* --v2 changes how the host options read their values: look for it first. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--v2") == 0)
            g_v2 = true;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        static const int v3_only[] = {OPT_MATCH, OPT_TOTAL, OPT_CHG, OPT_DELAY, OPT_MAX_CLIENTS};
        static const int v2_only[] = {OPT_VERIFY_CONN, OPT_TOS, OPT_SCORE, OPT_MFLAGS, OPT_FW, OPT_REAL};
        const char *name = "?";
        for (size_t i = 0; opts[i].name != NULL; i++)
            if (opts[i].val == opt)
                name = opts[i].name;
        for (size_t i = 0; g_v2 && i < sizeof(v3_only) / sizeof(v3_only[0]); i++)
            if (opt == v3_only[i])
                die("--%s is not a p0f v2 option", name);
        for (size_t i = 0; !g_v2 && i < sizeof(v2_only) / sizeof(v2_only[0]); i++)
            if (opt == v2_only[i])
                die("--%s needs --v2", name);
        switch (opt) {
        case OPT_V2:
            break;
        case OPT_VERIFY_CONN:
            g_verify_conn = true;
            break;
        case OPT_TOS:
            parse_pstr("--tos", optarg, &current_host("--tos")->tos, 30);
            break;
        case OPT_SCORE:
            current_host("--score")->score = (int16_t)parse_integer("--score", optarg, INT16_MIN, INT16_MAX);
            break;
        case OPT_MFLAGS:
            current_host("--mflags")->mflags = (uint16_t)parse_integer("--mflags", optarg, 0, UINT16_MAX);
            break;
        case OPT_FW:
            current_host("--fw")->fw = (uint8_t)parse_integer("--fw", optarg, 0, UINT8_MAX);
            break;
        case OPT_REAL:
            current_host("--real")->real = (uint8_t)parse_integer("--real", optarg, 0, UINT8_MAX);
            break;
        case OPT_SOCKET:
            g_socket_path = optarg;
            break;
        case OPT_MODE: {
            size_t i;
            for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
                if (strcmp(optarg, mode_names[i].name) == 0)
                    break;
            if (i == sizeof(mode_names) / sizeof(mode_names[0])) {
                note("--mode: unknown mode \"%s\"", optarg);
                usage();
            }
            g_mode = mode_names[i].mode;
            break;
        }
        case OPT_HOST:
            add_host(optarg);
            break;
        case OPT_OS:
            parse_pstr("--os", optarg, &current_host("--os")->os, g_v2 ? 20 : P0F_STR_MAX);
            break;
        case OPT_FLAVOR:
            parse_pstr("--flavor", optarg, &current_host("--flavor")->flavor, g_v2 ? 40 : P0F_STR_MAX);
            break;
        case OPT_LINK:
            parse_pstr("--link", optarg, &current_host("--link")->link, g_v2 ? 30 : P0F_STR_MAX);
            break;
        case OPT_MATCH: {
            struct host *h = current_host("--match");
            if (strcmp(optarg, "exact") == 0)
                h->match_q = 0;
            else if (strcmp(optarg, "generic") == 0)
                h->match_q = P0F_MATCH_GENERIC;
            else if (strcmp(optarg, "fuzzy") == 0)
                h->match_q = P0F_MATCH_FUZZY;
            else
                die("--match: expected exact, generic or fuzzy, not \"%s\"", optarg);
            break;
        }
        case OPT_DIST:
            current_host("--dist")->dist = (int16_t)(g_v2 ? parse_integer("--dist", optarg, INT8_MIN, INT8_MAX)
                                                          : parse_integer("--dist", optarg, INT16_MIN, INT16_MAX));
            break;
        case OPT_UPTIME:
            if (g_v2)
                current_host("--uptime")->uptime_h = (int32_t)parse_integer("--uptime", optarg, -1, INT32_MAX);
            else
                current_host("--uptime")->uptime = (uint32_t)parse_integer("--uptime", optarg, 0, UINT32_MAX);
            break;
        case OPT_TOTAL:
            current_host("--total")->total = (uint32_t)parse_integer("--total", optarg, 0, UINT32_MAX);
            break;
        case OPT_NAT:
            if (g_v2)
                current_host("--nat")->nat2 = (uint8_t)parse_integer("--nat", optarg, 0, UINT8_MAX);
            else
                current_host("--nat")->nat = (uint32_t)parse_integer("--nat", optarg, 0, UINT32_MAX);
            break;
        case OPT_CHG:
            current_host("--chg")->chg = (uint32_t)parse_integer("--chg", optarg, 0, UINT32_MAX);
            break;
        case OPT_NOMATCH_FIRST:
            g_nomatch_first = parse_integer("--nomatch-first", optarg, 0, UINT32_MAX);
            break;
        case OPT_DELAY:
            g_delay_ms = parse_integer("--delay-ms", optarg, 0, 600000);
            break;
        case OPT_QLOG:
            qlog_path = optarg;
            break;
        case OPT_READY:
            g_ready_path = optarg;
            break;
        case OPT_MAX_CLIENTS:
            g_max_clients = parse_integer("--max-clients", optarg, 1, 1000);
            break;
        case OPT_HELP:
            usage();
        default:
            note_bad_option(opt, argv);
            usage();
        }
    }
    if (stray_argument(argc, argv))
        usage();
    if (g_socket_path == NULL) {
        note("--socket is required");
        usage();
    }
    {
        static const enum mode v2_modes[] = {MODE_NORMAL, MODE_HANG, MODE_BADMAGIC, MODE_BADQUERY,
                                             MODE_SHORT, MODE_WRONGID, MODE_DIE_MID_REPLY};
        bool v2_mode = false;
        for (size_t i = 0; i < sizeof(v2_modes) / sizeof(v2_modes[0]); i++)
            v2_mode = v2_mode || g_mode == v2_modes[i];
        if (g_v2 && !v2_mode)
            die("--mode: this mode does not apply to p0f v2");
        if (!g_v2 && g_mode == MODE_WRONGID)
            die("--mode wrongid: p0f v3 replies carry no id (needs --v2)");
    }

    if (qlog_path != NULL) {
        g_qlog_fd = open(qlog_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (g_qlog_fd < 0)
            die("cannot open query log %s: %s", qlog_path, strerror(errno));
    }
    g_conns = calloc(g_max_clients, sizeof(*g_conns));
    if (g_conns == NULL)
        die("out of memory");

    set_handler(SIGPIPE, SIG_IGN, 0);
    set_handler(SIGTERM, on_signal, 0);
    set_handler(SIGINT, on_signal, 0);

    if (g_ready_path != NULL && unlink(g_ready_path) != 0 && errno != ENOENT)
        die("cannot remove stale ready file %s: %s", g_ready_path, strerror(errno));
    lfd = unix_socket_file(&g_socket, g_socket_path, SOCK_STREAM);
    if (g_ready_path != NULL) {
        char buf[64];
        snprintf(buf, sizeof(buf), "pid=%ld\n", (long)getpid());
        if (write_file_atomic(g_ready_path, buf) != 0)
            die("cannot create %s: %s", g_ready_path, strerror(errno));
    }

    if (g_v2)
        serve_v2(lfd);
    else
        serve(lfd);

    close(lfd);
    socket_file_remove(&g_socket);
    if (g_ready_path != NULL)
        unlink(g_ready_path);
    free(g_conns);
    free(g_seen);
    return 0;
}
