/* The genres p0f can report, read from its fingerprint database (p0f.fp), so that lint can
 * tell a blocked-OS entry that matches nothing (a typo) or everything. */
#ifndef P0FSHIM_TOOL_FPFILE_H
#define P0FSHIM_TOOL_FPFILE_H

#include <stdbool.h>
#include <stddef.h>

#define P0F_FP_DEFAULT "/etc/p0f/p0f.fp"

struct genre_list {
    char **genre;
    size_t n;
    bool from_file;          /* false: a built-in sample (p0f.fp unreadable) */
};

/* Genres ("os flavor") of the [tcp:request] and [tcp:response] labels; a built-in sample
 * when the file cannot be read. */
void genre_list_load(struct genre_list *g, const char *fp_path);
void genre_list_free(struct genre_list *g);

#endif
