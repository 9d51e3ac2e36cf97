/* p0fshim query IP: everything p0f knows about IP, in the manner of p0f-client. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "client/clientconf.h"
#include "logfmt.h"
#include "output.h"
#include "tool.h"

#define QUERY_DEFAULT_TIMEOUT_MS 1000

static void query_usage(FILE *f)
{
    fputs("usage: p0fshim query IP [--socket PATH] [--config FILE] [--timeout MS] [--json]\n", f);
}

static void field(const char *label, const char *value)
{
    printf("%-13s = ", label);
    if (value[0])
        put_escaped_str(stdout, value);
    else
        fputs("???", stdout);
    putchar('\n');
}

static void print_time_field(const char *label, uint32_t t)
{
    char when[64];
    format_unix_time(t, when, sizeof(when));
    printf("%-13s = %s\n", label, when);
}

static void print_text(const char *ip, const struct p0fq_result *r)
{
    const struct p0f3_answer *a = &r->answer;
    char genre[2 * P0F3_STR_MAX + 2];

    printf("%-13s = %s\n", "Host", ip);
    print_time_field("First seen", a->first_seen);
    print_time_field("Last update", a->last_seen);
    printf("%-13s = %u\n", "Total flows", (unsigned)a->total_conn);
    printf("%-13s = ", "Detected OS");
    if (a->os_name[0]) {
        put_escaped_str(stdout, a->os_name);
        if (a->os_flavor[0]) {
            putchar(' ');
            put_escaped_str(stdout, a->os_flavor);
        }
        if (a->os_match_q & P0F3_MATCH_GENERIC)
            fputs(" [generic]", stdout);
        if (a->os_match_q & P0F3_MATCH_FUZZY)
            fputs(" [fuzzy]", stdout);
    } else {
        fputs("??? (p0f knows the host but did not identify its OS)", stdout);
    }
    putchar('\n');
    genre_format(a, genre, sizeof(genre));
    if (a->os_name[0]) {
        printf("%-13s = \"", "Genre");
        put_escaped_str(stdout, genre);
        printf("\" (match=%s)\n", p0f3_match_word(a->os_match_q));
    }
    printf("%-13s = ", "HTTP software");
    if (a->http_name[0]) {
        put_escaped_str(stdout, a->http_name);
        if (a->http_flavor[0]) {
            putchar(' ');
            put_escaped_str(stdout, a->http_flavor);
        }
        printf(" (ID %s)\n", a->bad_sw == 2 ? "is fake" : a->bad_sw ? "OS mismatch" : "seems legit");
    } else {
        fputs("???\n", stdout);
    }
    field("Network link", a->link_type);
    field("Language", a->language);
    if (a->distance < 0)
        printf("%-13s = ???\n", "Distance");
    else
        printf("%-13s = %d\n", "Distance", a->distance);
    if (a->last_nat)
        print_time_field("IP sharing", a->last_nat);
    if (a->last_chg)
        print_time_field("Sys change", a->last_chg);
    if (a->uptime_min)
        printf("%-13s = %u days %u hrs %u min (modulo %u days)\n", "Uptime", (unsigned)(a->uptime_min / 60 / 24),
               (unsigned)(a->uptime_min / 60 % 24), (unsigned)(a->uptime_min % 60), (unsigned)a->up_mod_days);
    else
        printf("%-13s = ???\n", "Uptime");
}

static void json_kv_str(const char *key, const char *value, bool comma)
{
    printf("\"%s\":", key);
    put_json_str(stdout, value);
    if (comma)
        putchar(',');
}

int query_exit_status(enum p0fq_status s)
{
    switch (s) {
    case P0FQ_OK: return 0;
    case P0FQ_NOMATCH: return EXIT_NEGATIVE;
    case P0FQ_DOWN: return EXIT_P0F_DOWN;
    case P0FQ_NOT_P0F: return EXIT_NOT_P0F;
    }
    return EXIT_NOT_P0F;
}

static const char *status_word(enum p0fq_status s)
{
    switch (s) {
    case P0FQ_OK: return "ok";
    case P0FQ_NOMATCH: return "nomatch";
    case P0FQ_DOWN: return "p0f_down";
    case P0FQ_NOT_P0F: return "not_p0f";
    }
    return "error";
}

static void print_json(const char *ip, const char *socket_path, const struct p0fq_result *r)
{
    const struct p0f3_answer *a = &r->answer;
    char genre[2 * P0F3_STR_MAX + 2];

    putchar('{');
    json_kv_str("ip", ip, true);
    json_kv_str("socket", socket_path, true);
    json_kv_str("status", status_word(r->status), true);
    printf("\"elapsed_us\":%u", r->elapsed_us);
    if (r->status == P0FQ_OK) {
        genre_format(a, genre, sizeof(genre));
        printf(",\"first_seen\":%u,\"last_seen\":%u,\"total_conn\":%u,\"uptime_min\":%u,\"up_mod_days\":%u,"
               "\"last_nat\":%u,\"last_chg\":%u,",
               (unsigned)a->first_seen, (unsigned)a->last_seen, (unsigned)a->total_conn, (unsigned)a->uptime_min,
               (unsigned)a->up_mod_days, (unsigned)a->last_nat, (unsigned)a->last_chg);
        if (a->distance < 0)
            fputs("\"distance\":null,", stdout);
        else
            printf("\"distance\":%d,", a->distance);
        printf("\"bad_sw\":%u,\"os_match_q\":%u,\"generic\":%s,\"fuzzy\":%s,", (unsigned)a->bad_sw,
               (unsigned)a->os_match_q, a->os_match_q & P0F3_MATCH_GENERIC ? "true" : "false",
               a->os_match_q & P0F3_MATCH_FUZZY ? "true" : "false");
        json_kv_str("match", p0f3_match_word(a->os_match_q), true);
        printf("\"os_identified\":%s,", a->os_name[0] ? "true" : "false");
        json_kv_str("os_name", a->os_name, true);
        json_kv_str("os_flavor", a->os_flavor, true);
        json_kv_str("genre", a->os_name[0] ? genre : "", true);
        json_kv_str("http_name", a->http_name, true);
        json_kv_str("http_flavor", a->http_flavor, true);
        json_kv_str("link_type", a->link_type, true);
        json_kv_str("language", a->language, false);
    } else if (r->status != P0FQ_NOMATCH) {
        putchar(',');
        json_kv_str("error", r->why, true);
        json_kv_str("reason", r->log_reason, false);
    }
    fputs("}\n", stdout);
}

int cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *socket_path = NULL, *config_given = NULL;
    unsigned long timeout_ms = QUERY_DEFAULT_TIMEOUT_MS;
    bool json = false;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': socket_path = optarg; break;
        case 'c': config_given = optarg; break;
        case 'j': json = true; break;
        case 't':
            if (parse_ulong_arg(optarg, 1, 600000, &timeout_ms) != 0) {
                fprintf(stderr, "p0fshim query: --timeout wants milliseconds from 1 to 600000\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': query_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim query: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim query: unknown option %s\n", argv[optind - 1]);
            query_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        query_usage(stderr);
        return EXIT_USAGE;
    }
    const char *ip_text = argv[optind];
    struct endpoint ip;
    if (endpoint_parse_ip(ip_text, &ip) != 0) {
        fprintf(stderr, "p0fshim query: \"");
        put_escaped_str(stderr, ip_text);
        fprintf(stderr, "\" is not an IPv4 or IPv6 address\n");
        return EXIT_USAGE;
    }
    char ip_shown[ENDPOINT_TEXT_MAX];
    endpoint_format_ip(&ip, ip_shown, sizeof(ip_shown));

    /* The socket the shim would ask, unless one is named. */
    static struct config cfg;
    if (socket_path == NULL) {
        struct diag err = {0};
        if (clientconf_load(config_given, &cfg, &err) != 0) {
            print_diag(stderr, "p0fshim query: ", &err);
            fprintf(stderr, "p0fshim query: name the socket with --socket PATH\n");
            config_free(&cfg);
            return EXIT_CONFIG;
        }
        socket_path = cfg.v3.enabled ? cfg.v3.socket_path : "/run/p0f/p0f.sock";
    }

    struct p0fq_result r;
    p0fq_query(socket_path, &ip, (unsigned)timeout_ms, &r);
    if (json) {
        print_json(ip_shown, socket_path, &r);
    } else if (r.status == P0FQ_OK) {
        if (strcmp(ip_shown, ip_text) != 0)
            printf("(%s is IPv4-mapped: p0f is asked about %s, as the shim does)\n", ip_text, ip_shown);
        print_text(ip_shown, &r);
    } else if (r.status == P0FQ_NOMATCH) {
        printf("%s: no match: p0f has no record of this host (it has not seen a SYN from it, or the record "
               "aged out)\n",
               ip_shown);
    } else {
        fprintf(stderr, "p0fshim query: %s\n", r.why);
    }
    config_free(&cfg);
    return query_exit_status(r.status);
}
