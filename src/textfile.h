/* Line-oriented reading of small config files, shared by every parser. */
#ifndef P0FSHIM_TEXTFILE_H
#define P0FSHIM_TEXTFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Config files are small; anything larger is a mistake, not a config. */
#define TEXT_FILE_MAX (1024 * 1024)

struct text_cursor {
    const char *next, *end;
    unsigned number;
};

struct text_line {
    const char *start;       /* trimmed of surrounding blanks and CR */
    size_t len;
    unsigned number;         /* 1-based */
};

void text_cursor_init(struct text_cursor *c, const char *text, size_t len);
bool text_next_line(struct text_cursor *c, struct text_line *line);

/* 0 and a malloc'd, NUL-terminated copy; or -errno (-EFBIG when too large, -EPERM when
 * the file is not trusted: see text_file_untrusted_why()). Policy files decide which
 * mail is refused, so only root or the user the process runs as may own them, and
 * nobody else may write them. */
int text_file_read(const char *path, char **text, size_t *len);
/* The reason for a text_file_read() failure, e.g. "writable by everyone". */
const char *text_file_strerror(int rc);

#endif
