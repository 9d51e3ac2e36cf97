/* p0fshim report [FILE...]: summarises the shim's syslog lines, in the manner of
 * Postfix's pflogsumm. This is the command and its input: regular files are mapped, pipes
 * and `gzip -dc` read in 4 MiB blocks, and each line handed to the counting
 * (report_count.c) without being copied; the report is drawn at the end (report_out.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "output.h"
#include "report.h"
#include "tool.h"

extern char **environ;

#define READ_BUF (4u << 20)
#define STR_KEYS_MAX 50000
#define STR_ARENA_MAX (8u << 20)
#define IPS_MAX_DEFAULT 1000000
#define HOURS_MAX 200000
/* The timeline's cells (report_time.c): 12 MB at most; a month of minutes with a dozen
 * series fills it, and is then counted in hours, which is what its chart draws anyway. */
#define TIMELINE_CELLS_MAX (1u << 18)
#define TOP_DEFAULT 10
#define SHOW_BAD_DEFAULT 5

/* Lines of a mapped file. The pages behind are given back every 64 MiB, so that the
 * resident size stays small however big the file is (they stay in the page cache). */
#define RELEASE_EVERY (64u << 20)

static void process_all(struct report *r, const char *base, size_t n)
{
    const char *p = base, *end = base + n, *released = base;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len > REPORT_LINE_MAX)
            report_line(r, p, REPORT_LINE_MAX, true);
        else
            report_line(r, p, len, false);
        if (nl == NULL)
            break;
        p = nl + 1;
        if ((size_t)(p - released) >= RELEASE_EVERY) {
            const char *upto = (const char *)((uintptr_t)p & ~(page - 1));
            madvise((void *)released, (size_t)(upto - released), MADV_DONTNEED);
            released = upto;
        }
    }
}

static const char *compression_of(const unsigned char *b, size_t n);

/* check_magic: standard input, where a compressed stream can only be refused. */
static int process_stream(struct report *r, int fd, char *buf, bool check_magic)
{
    size_t have = 0;
    bool skipping = false;
    for (;;) {
        ssize_t got = read(fd, buf + have, READ_BUF - have);
        if (got > 0 && check_magic) {
            /* Enough bytes to tell: a short first read is completed before the check. */
            if (have + (size_t)got < 6) {
                have += (size_t)got;
                r->inputs[r->cur].bytes += (uint64_t)got;
                continue;
            }
            check_magic = false;
            const char *comp = compression_of((const unsigned char *)buf, have + (size_t)got);
            if (comp) {
                snprintf(r->inputs[r->cur].error, sizeof(r->inputs[r->cur].error),
                         "standard input is %s-compressed: give the file name instead (or decompress it first)",
                         comp);
                return 0;
            }
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            break;
        r->inputs[r->cur].bytes += (uint64_t)got;
        have += (size_t)got;
        size_t start = 0;
        const char *nl;
        while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
            size_t len = (size_t)(nl - (buf + start));
            if (skipping)
                skipping = false;
            else if (len > REPORT_LINE_MAX)
                report_line(r, buf + start, REPORT_LINE_MAX, true);
            else
                report_line(r, buf + start, len, false);
            start = (size_t)(nl - buf) + 1;
        }
        size_t rest = have - start;
        if (skipping) {
            have = 0;
        } else if (rest > REPORT_LINE_MAX) {
            report_line(r, buf + start, REPORT_LINE_MAX, true);
            skipping = true;
            have = 0;
        } else {
            memmove(buf, buf + start, rest);
            have = rest;
        }
    }
    if (have && !skipping)
        report_line(r, buf, have, false);
    return 0;
}

static void set_reference_time(struct report *r, time_t when)
{
    struct tm tm;
    if (localtime_r(&when, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    r->tc.fixed_year = r->fixed_year;
    r->tc.ref_year = tm.tm_year + 1900;
    r->tc.ref_mon = tm.tm_mon + 1;
    r->tc.last_stamp_len = 0;
}

static const char *compression_of(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "gzip";
    if (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0)
        return "xz";
    if (n >= 3 && memcmp(b, "BZh", 3) == 0)
        return "bzip2";
    if (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
        return "zstd";
    return NULL;
}

static int gunzip(struct report *r, int fd, char *buf)
{
    int pipefd[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[] = {"gzip", "-dc", NULL};
    struct input *in = &r->inputs[r->cur];

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(in->error, sizeof(in->error), "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    int rc = posix_spawnp(&pid, "gzip", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        snprintf(in->error, sizeof(in->error), "cannot run gzip -dc: %s", strerror(rc));
        return -1;
    }
    rc = process_stream(r, pipefd[0], buf, false);
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc != 0) {
        snprintf(in->error, sizeof(in->error), "reading gzip -dc: %s", strerror(-rc));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(in->error, sizeof(in->error), "gzip -dc failed (%s %d): the file is damaged or truncated",
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

static int run_input(struct report *r, const char *path, char *buf)
{
    struct input *in = &r->inputs[r->cur];
    struct stat st;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : 0;
    int rc = 0;

    r->lineno = 0;
    if (fd < 0) {
        snprintf(in->error, sizeof(in->error), "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(in->error, sizeof(in->error), "%s", strerror(errno));
        rc = -1;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(in->error, sizeof(in->error), "is a directory");
        rc = -1;
        goto out;
    }
    set_reference_time(r, S_ISREG(st.st_mode) ? st.st_mtime : time(NULL));
    if (S_ISREG(st.st_mode)) {
        unsigned char magic[6];
        ssize_t n = pread(fd, magic, sizeof(magic), 0);
        const char *comp = n > 0 ? compression_of(magic, (size_t)n) : NULL;
        if (comp && strcmp(comp, "gzip") == 0) {
            rc = gunzip(r, fd, buf);
            goto out;
        }
        if (comp) {
            snprintf(in->error, sizeof(in->error), "%s-compressed: decompress it first (e.g. %scat FILE | "
                     "p0fshim report)", comp, comp[0] == 'g' ? "z" : comp[0] == 'b' ? "bz" : comp);
            rc = -1;
            goto out;
        }
        if (st.st_size == 0)
            goto out;
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
            in->bytes = (uint64_t)st.st_size;
            process_all(r, map, (size_t)st.st_size);
            munmap(map, (size_t)st.st_size);
            goto out;
        }
    }
    /* A pipe or a terminal: a compressed stream cannot be handed to gzip after the fact. */
    rc = process_stream(r, fd, buf, true);
    if (rc != 0) {
        snprintf(in->error, sizeof(in->error), "%s", strerror(-rc));
        rc = -1;
    }
out:
    if (path)
        close(fd);
    return rc;
}

static void report_usage(FILE *f)
{
    fputs("usage: p0fshim report [FILE...] [--since T] [--until T] [--top N] [--year Y] [--max-ips N]\n"
          "                      [--show-unparsable N] [--json | --csv | --html]\n"
          "  FILE: syslog files, plain or gzip-compressed (rotated); none or - reads standard input\n"
          "        (e.g. journalctl -t p0fshim -o short | p0fshim report).\n"
          "  T: YYYY-MM-DD[ HH:MM[:SS]], compared with the wall-clock time written in the log.\n"
          "  --html: one self-contained page with charts (report --html FILE... > report.html).\n",
          f);
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'}, {"until", required_argument, NULL, 'u'},
        {"top", required_argument, NULL, 't'},   {"year", required_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},        {"csv", no_argument, NULL, 'c'},
        {"html", no_argument, NULL, 'H'},
        {"max-ips", required_argument, NULL, 'm'}, {"show-unparsable", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    static struct report r;
    unsigned long value, max_ips = IPS_MAX_DEFAULT;
    bool json = false, csv = false, html = false, input_errors = false;
    int opt;

    r.top = TOP_DEFAULT;
    r.show_bad = SHOW_BAD_DEFAULT;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
        case 'u':
            if (parse_time_arg(optarg, opt == 's' ? &r.since : &r.until) != 0) {
                fprintf(stderr, "p0fshim report: --%s wants YYYY-MM-DD[ HH:MM[:SS]], not \"",
                        opt == 's' ? "since" : "until");
                put_escaped_str(stderr, optarg);
                fprintf(stderr, "\"\n");
                return EXIT_USAGE;
            }
            if (opt == 's')
                r.has_since = true;
            else
                r.has_until = true;
            break;
        case 't':
        case 'y':
        case 'm':
        case 'b':
            if (parse_ulong_arg(optarg, opt == 'y' ? 1970 : opt == 'm' ? 16 : 0,
                                opt == 'y' ? 9999 : opt == 'm' ? 100000000 : 1000000, &value) != 0) {
                fprintf(stderr, "p0fshim report: bad value for %s\n", argv[optind - 1]);
                return EXIT_USAGE;
            }
            if (opt == 't')
                r.top = value;
            else if (opt == 'y')
                r.fixed_year = (int)value;
            else if (opt == 'm')
                max_ips = value;
            else
                r.show_bad = value;
            break;
        case 'j': json = true; break;
        case 'c': csv = true; break;
        case 'H': html = true; break;
        case 'h': report_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim report: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim report: unknown option %s\n", argv[optind - 1]);
            report_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (json + csv + html > 1) {
        fprintf(stderr, "p0fshim report: one of --json, --csv and --html\n");
        return EXIT_USAGE;
    }
    if (r.has_since && r.has_until && r.until < r.since) {
        fprintf(stderr, "p0fshim report: --until is before --since\n");
        return EXIT_USAGE;
    }
    size_t nfiles = (size_t)(argc - optind);
    if (nfiles == 0 && isatty(0)) {
        fprintf(stderr, "p0fshim report: no input: give syslog files, or pipe journalctl -t p0fshim -o short into "
                        "it\n");
        report_usage(stderr);
        return EXIT_USAGE;
    }
    r.ninputs = nfiles ? nfiles : 1;
    r.inputs = calloc(r.ninputs, sizeof(*r.inputs));
    r.examples = calloc(r.show_bad ? r.show_bad : 1, sizeof(*r.examples));
    r.ms_hist = calloc(MS_BUCKETS, sizeof(*r.ms_hist));
    char *buf = malloc(READ_BUF);
    if (r.inputs == NULL || r.examples == NULL || r.ms_hist == NULL || buf == NULL) {
        fprintf(stderr, "p0fshim report: out of memory\n");
        return EXIT_NEGATIVE;
    }
    strtab_init(&r.os, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.genre, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.rules, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.reasons, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.exempts, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.diags, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.sigs, STR_KEYS_MAX, STR_ARENA_MAX);
    r.with_timeline = html;
    timeline_init(&r.timeline, TIMELINE_CELLS_MAX);
    iptab_init(&r.ips, max_ips);
    hourtab_init(&r.hours, HOURS_MAX);

    for (size_t i = 0; i < r.ninputs; i++) {
        const char *name = nfiles ? argv[optind + (int)i] : "-";
        bool is_stdin = strcmp(name, "-") == 0;
        r.cur = i;
        r.inputs[i].name = is_stdin ? "(stdin)" : name;
        if (run_input(&r, is_stdin ? NULL : name, buf) != 0 || r.inputs[i].error[0]) {
            input_errors = true;
            fprintf(stderr, "p0fshim report: %s: %s\n", r.inputs[i].name, r.inputs[i].error);
        }
    }
    free(buf);

    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    report_print(&r, json ? REPORT_JSON : csv ? REPORT_CSV : html ? REPORT_HTML : REPORT_TEXT);
    fflush(stdout);

    strtab_free(&r.os);
    strtab_free(&r.genre);
    strtab_free(&r.rules);
    strtab_free(&r.reasons);
    strtab_free(&r.exempts);
    strtab_free(&r.diags);
    strtab_free(&r.sigs);
    timeline_free(&r.timeline);
    iptab_free(&r.ips);
    hourtab_free(&r.hours);
    free(r.inputs);
    free(r.examples);
    free(r.ms_hist);
    return input_errors ? EXIT_NEGATIVE : 0;
}
