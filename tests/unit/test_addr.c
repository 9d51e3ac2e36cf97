/* addr: endpoints from sockaddrs (IPv4-mapped folding), text forms, CIDRs. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    cr_assert_eq(inet_pton(AF_INET, ip, &sa.sin_addr), 1, "bad test address %s", ip);
    return sa;
}

static struct sockaddr_in6 sin6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    cr_assert_eq(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1, "bad test address %s", ip);
    return sa;
}

static struct endpoint ep_of(const char *ip, uint16_t port)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0, "endpoint_parse_ip(%s)", ip);
    ep.port = port;
    return ep;
}

static struct cidr cidr_of(const char *text)
{
    struct cidr net;
    const char *why = NULL;
    cr_assert_eq(cidr_parse(text, &net, &why), 0, "cidr_parse(%s): %s", text, why ? why : "?");
    return net;
}

static void expect_cidr_error(const char *text, const char *why_part)
{
    struct cidr net;
    const char *why = NULL;
    cr_assert_eq(cidr_parse(text, &net, &why), -1, "cidr_parse(%s) should fail", text);
    cr_assert_not_null(why, "cidr_parse(%s) gives no reason", text);
    cr_assert_not_null(strstr(why, why_part), "cidr_parse(%s): reason \"%s\" lacks \"%s\"", text, why, why_part);
}

/* ---- endpoint_from_sockaddr ---- */

Test(addr, from_sockaddr_ipv4)
{
    struct sockaddr_in sa = sin4("192.0.2.7", 2525);
    struct endpoint ep;
    static const uint8_t want[16] = {192, 0, 2, 7};

    memset(&ep, 0xaa, sizeof(ep));
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    cr_assert_eq(ep.family, AF_INET);
    cr_assert_eq(ep.port, 2525);
    cr_assert_arr_eq(ep.ip, want, 16, "IPv4 in the first 4 bytes, the rest zero");
}

Test(addr, from_sockaddr_ipv6)
{
    struct sockaddr_in6 sa = sin6("2001:db8::1", 25);
    struct endpoint ep;
    static const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    cr_assert_eq(ep.family, AF_INET6);
    cr_assert_eq(ep.port, 25);
    cr_assert_arr_eq(ep.ip, want, 16);
}

Test(addr, from_sockaddr_v4mapped_is_folded)
{
    struct sockaddr_in6 sa = sin6("::ffff:198.51.100.9", 40000);
    struct endpoint ep;
    static const uint8_t want[16] = {198, 51, 100, 9};

    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    cr_assert_eq(ep.family, AF_INET, "IPv4-mapped must fold to AF_INET");
    cr_assert_eq(ep.port, 40000);
    cr_assert_arr_eq(ep.ip, want, 16);
}

Test(addr, from_sockaddr_v4compatible_is_not_folded)
{
    /* ::1.2.3.4 (no ffff) is a real IPv6 address, not a mapped one. */
    struct sockaddr_in6 sa = sin6("::c000:207", 25);
    struct endpoint ep;
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    cr_assert_eq(ep.family, AF_INET6);
}

Test(addr, from_sockaddr_too_short)
{
    struct sockaddr_in sa = sin4("192.0.2.7", 25);
    struct sockaddr_in6 sa6 = sin6("2001:db8::1", 25);
    struct endpoint ep;

    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa) - 1, &ep), -1);
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa6, sizeof(sa6) - 1, &ep), -1);
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa6, sizeof(struct sockaddr_in), &ep), -1,
                 "an AF_INET6 address with an AF_INET length is too short");
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, 1, &ep), -1);
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, 0, &ep), -1);
    cr_assert_eq(endpoint_from_sockaddr(NULL, sizeof(sa), &ep), -1);
}

Test(addr, from_sockaddr_unix_rejected)
{
    struct sockaddr_un sun;
    struct endpoint ep;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, "/tmp/x");
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sun, sizeof(sun), &ep), -1);
    /* An unnamed unix peer: only the family. */
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sun, sizeof(sa_family_t), &ep), -1);
}

/* ---- text forms ---- */

Test(addr, format_ipv4)
{
    struct endpoint ep = ep_of("1.2.3.4", 25);
    char buf[ENDPOINT_TEXT_MAX];
    endpoint_format(&ep, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1.2.3.4:25");
    endpoint_format_ip(&ep, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1.2.3.4");
}

Test(addr, format_ipv6)
{
    struct endpoint ep = ep_of("2001:db8::1", 25);
    char buf[ENDPOINT_TEXT_MAX];
    endpoint_format(&ep, buf, sizeof(buf));
    cr_assert_str_eq(buf, "[2001:db8::1]:25");
    endpoint_format_ip(&ep, buf, sizeof(buf));
    cr_assert_str_eq(buf, "2001:db8::1");
}

Test(addr, format_v4mapped_peer_as_ipv4)
{
    struct sockaddr_in6 sa = sin6("::ffff:192.0.2.1", 587);
    struct endpoint ep;
    char buf[ENDPOINT_TEXT_MAX];
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    endpoint_format(&ep, buf, sizeof(buf));
    cr_assert_str_eq(buf, "192.0.2.1:587");
}

Test(addr, format_longest_fits)
{
    struct endpoint ep = ep_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    char buf[ENDPOINT_TEXT_MAX];
    endpoint_format(&ep, buf, sizeof(buf));
    cr_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
}

Test(addr, parse_ip)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip("192.0.2.1", &ep), 0);
    cr_assert_eq(ep.family, AF_INET);
    cr_assert_eq(endpoint_parse_ip("::ffff:192.0.2.1", &ep), 0);
    cr_assert_eq(ep.family, AF_INET, "a mapped address parses as IPv4");
    cr_assert_eq(ep.ip[0], 192);
    cr_assert_eq(ep.ip[3], 1);
    for (int i = 4; i < 16; i++)
        cr_assert_eq(ep.ip[i], 0);
    cr_assert_eq(endpoint_parse_ip("2001:db8::", &ep), 0);
    cr_assert_eq(ep.family, AF_INET6);
    cr_assert_eq(endpoint_parse_ip("", &ep), -1);
    cr_assert_eq(endpoint_parse_ip("1.2.3", &ep), -1);
    cr_assert_eq(endpoint_parse_ip("1.2.3.4:25", &ep), -1);
    cr_assert_eq(endpoint_parse_ip("example.org", &ep), -1);
}

/* ---- CIDR ---- */

Test(addr, cidr_parse_forms)
{
    struct cidr net = cidr_of("192.0.2.0/24");
    char buf[64];
    cr_assert_eq(net.family, AF_INET);
    cr_assert_eq(net.prefix, 24);
    cidr_format(&net, buf, sizeof(buf));
    cr_assert_str_eq(buf, "192.0.2.0/24");

    net = cidr_of("2001:db8::/32");
    cr_assert_eq(net.family, AF_INET6);
    cr_assert_eq(net.prefix, 32);
    cidr_format(&net, buf, sizeof(buf));
    cr_assert_str_eq(buf, "2001:db8::/32");

    net = cidr_of("192.0.2.5");
    cr_assert_eq(net.prefix, 32, "a bare IPv4 address is a /32");
    cidr_format(&net, buf, sizeof(buf));
    cr_assert_str_eq(buf, "192.0.2.5/32");

    net = cidr_of("2001:db8::5");
    cr_assert_eq(net.prefix, 128, "a bare IPv6 address is a /128");

    net = cidr_of("0.0.0.0/0");
    cr_assert_eq(net.prefix, 0);
    net = cidr_of("::/0");
    cr_assert_eq(net.prefix, 0);
    cr_assert_eq(net.family, AF_INET6);
}

Test(addr, cidr_parse_errors)
{
    expect_cidr_error("10.1.2.3/8", "bits set beyond the prefix");
    expect_cidr_error("192.0.2.1/31", "bits set beyond the prefix");
    expect_cidr_error("2001:db8::1/64", "bits set beyond the prefix");
    expect_cidr_error("192.0.2.0/33", "out of range");
    expect_cidr_error("2001:db8::/129", "out of range");
    expect_cidr_error("192.0.2.0/24x", "out of range");
    expect_cidr_error("192.0.2.0/", "not a number");
    expect_cidr_error("192.0.2.0/-1", "not a number");
    expect_cidr_error("192.0.2.0/ 24", "not a number");
    expect_cidr_error("192.0.2.0/99999999999999999999999", "out of range");
    expect_cidr_error("/24", "not an IP address");
    expect_cidr_error("", "not an IP address");
    expect_cidr_error("192.0.2/24", "not an IP address");
    expect_cidr_error("example.org/24", "not an IP address");
    expect_cidr_error("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/64", "not an IP address");
}

Test(addr, cidr_zero_prefix_contains_everything_of_its_family)
{
    struct cidr v4 = cidr_of("0.0.0.0/0"), v6 = cidr_of("::/0");
    struct endpoint a = ep_of("255.255.255.255", 0), b = ep_of("0.0.0.0", 0);
    struct endpoint c = ep_of("2001:db8::1", 0), d = ep_of("ffff::", 0);

    cr_assert(cidr_contains(&v4, &a));
    cr_assert(cidr_contains(&v4, &b));
    cr_assert(cidr_contains(&v6, &c));
    cr_assert(cidr_contains(&v6, &d));
    cr_assert_not(cidr_contains(&v4, &c), "v4 /0 must not contain an IPv6 address");
    cr_assert_not(cidr_contains(&v6, &a), "v6 /0 must not contain an IPv4 address");
}

Test(addr, cidr_host_routes)
{
    struct cidr h4 = cidr_of("192.0.2.5/32"), h6 = cidr_of("2001:db8::5/128");
    struct endpoint in4 = ep_of("192.0.2.5", 25), out4a = ep_of("192.0.2.4", 25), out4b = ep_of("192.0.2.6", 25);
    struct endpoint in6 = ep_of("2001:db8::5", 25), out6a = ep_of("2001:db8::4", 25);
    struct endpoint out6b = ep_of("2001:db8::5:0", 25), out6c = ep_of("3001:db8::5", 25);

    cr_assert(cidr_contains(&h4, &in4));
    cr_assert_not(cidr_contains(&h4, &out4a));
    cr_assert_not(cidr_contains(&h4, &out4b));
    cr_assert(cidr_contains(&h6, &in6));
    cr_assert_not(cidr_contains(&h6, &out6a));
    cr_assert_not(cidr_contains(&h6, &out6b));
    cr_assert_not(cidr_contains(&h6, &out6c));
}

Test(addr, cidr_slash31_boundaries)
{
    struct cidr net = cidr_of("192.0.2.4/31");
    const char *inside[] = {"192.0.2.4", "192.0.2.5"};
    const char *outside[] = {"192.0.2.3", "192.0.2.6", "192.0.2.7", "192.0.3.4", "193.0.2.4", "64.0.2.4"};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
        struct endpoint ep = ep_of(inside[i], 1);
        cr_assert(cidr_contains(&net, &ep), "%s in 192.0.2.4/31", inside[i]);
    }
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        struct endpoint ep = ep_of(outside[i], 1);
        cr_assert_not(cidr_contains(&net, &ep), "%s not in 192.0.2.4/31", outside[i]);
    }
}

Test(addr, cidr_partial_byte_prefixes)
{
    struct cidr net = cidr_of("198.18.0.0/15");
    struct endpoint a = ep_of("198.18.0.0", 0), b = ep_of("198.19.255.255", 0);
    struct endpoint c = ep_of("198.17.255.255", 0), d = ep_of("198.20.0.0", 0);
    cr_assert(cidr_contains(&net, &a));
    cr_assert(cidr_contains(&net, &b));
    cr_assert_not(cidr_contains(&net, &c));
    cr_assert_not(cidr_contains(&net, &d));

    struct cidr n6 = cidr_of("2001:db8:8000::/33");
    struct endpoint e = ep_of("2001:db8:8000::1", 0), f = ep_of("2001:db8:ffff:ffff::", 0);
    struct endpoint g = ep_of("2001:db8:7fff:ffff::", 0);
    cr_assert(cidr_contains(&n6, &e));
    cr_assert(cidr_contains(&n6, &f));
    cr_assert_not(cidr_contains(&n6, &g));

    struct cidr n1 = cidr_of("128.0.0.0/1");
    struct endpoint h = ep_of("128.0.0.1", 0), i = ep_of("127.255.255.255", 0);
    cr_assert(cidr_contains(&n1, &h));
    cr_assert_not(cidr_contains(&n1, &i));
}

Test(addr, cidr_family_mismatch)
{
    /* ::/96 has the same leading bytes as an IPv4 endpoint's zero padding. */
    struct cidr v6 = cidr_of("::/96"), v4 = cidr_of("192.0.2.0/24");
    struct endpoint p4 = ep_of("0.0.0.1", 25), p6 = ep_of("c000:200::", 25);
    cr_assert_not(cidr_contains(&v6, &p4));
    cr_assert_not(cidr_contains(&v4, &p6));
}

Test(addr, cidr_contains_mapped_peer)
{
    struct cidr v4 = cidr_of("192.0.2.0/24");
    struct sockaddr_in6 sa = sin6("::ffff:192.0.2.200", 25);
    struct endpoint ep;
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    cr_assert(cidr_contains(&v4, &ep), "an IPv4-mapped peer is inside the IPv4 network");
}

Test(addr, cidr_of_mapped_text_is_ipv4)
{
    struct cidr net = cidr_of("::ffff:192.0.2.1");
    struct endpoint ep = ep_of("192.0.2.1", 0);
    cr_assert_eq(net.family, AF_INET);
    cr_assert_eq(net.prefix, 32);
    cr_assert(cidr_contains(&net, &ep));
}
