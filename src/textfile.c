#include "textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mutant.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void text_cursor_init(struct text_cursor *c, const char *text, size_t len)
{
    c->next = text;
    c->end = text + len;
    c->number = 0;
}

bool text_next_line(struct text_cursor *c, struct text_line *line)
{
    if (c->next >= c->end)
        return false;
    const char *start = c->next;
    const char *newline = memchr(start, '\n', (size_t)(c->end - start));
    const char *stop = newline ? newline : c->end;
    c->next = newline ? newline + 1 : c->end;
    c->number++;
    while (start < stop && is_blank(*start))
        start++;
    while (stop > start && is_blank(stop[-1]))
        stop--;
    line->start = start;
    line->len = (size_t)(stop - start);
    line->number = c->number;
    return true;
}

/* Per thread, in every thread of the host: kept short (a long path is cut). */
static __thread char untrusted_why[160];

const char *text_file_strerror(int rc)
{
    return rc == -EPERM && untrusted_why[0] ? untrusted_why : strerror(-rc);
}

static bool trusted(const struct stat *st)
{
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(untrusted_why, sizeof(untrusted_why), "owned by uid %u, not by root or uid %u",
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return false;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(untrusted_why, sizeof(untrusted_why), "writable by %s", st->st_mode & S_IWOTH ? "everyone" : "its group");
        return false;
    }
    return true;
}

/* Whoever may rename entries in a directory on the way to the file may swap the file: every
 * directory from the file's up to / must be root's or ours and writable by nobody else. A
 * sticky directory (/tmp) is allowed: there others cannot rename what is not theirs. */
static bool directory_trusted(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(untrusted_why, sizeof(untrusted_why), "its directory %.100s cannot be checked", dir);
        return false;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(untrusted_why, sizeof(untrusted_why), "its directory %.80s is owned by uid %u, not by root or uid %u",
                 dir, (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        snprintf(untrusted_why, sizeof(untrusted_why), "its directory %.90s is writable by %s", dir,
                 st.st_mode & S_IWOTH ? "everyone" : "its group");
        return false;
    }
    return true;
}

static bool directories_trusted(const char *path)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        snprintf(untrusted_why, sizeof(untrusted_why), "its directories cannot be checked: %s", strerror(errno));
        return false;
    }
    for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/')) {
        if (slash == real)
            return directory_trusted("/");
        *slash = '\0';
        if (!directory_trusted(real))
            return false;
    }
    return true;
}

int text_file_read(const char *path, char **text, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    untrusted_why[0] = '\0';
    if (!P0FSHIM_MUTANT_TRUST && (!trusted(&st) || !directories_trusted(path))) {
        close(fd);
        return -EPERM;
    }
    if (st.st_size > TEXT_FILE_MAX) {
        close(fd);
        return -EFBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    size_t have = 0;
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fd);
    buf[have] = '\0';
    *text = buf;
    *len = have;
    return 0;
}
