/* The system-wide mode's gate: which processes the library may wake up in when it is loaded
 * into every program on the machine through /etc/ld.so.preload. */
#ifndef P0FSHIM_SYSGATE_H
#define P0FSHIM_SYSGATE_H

#include <stdbool.h>

/* The file name that selects the system-wide mode (a symbolic link to libp0fshim.so that
 * `make install` puts beside it): /etc/ld.so.preload names the library by it. */
#define SYSGATE_LIBRARY_NAME "libp0fshim-system.so"

/* Whether the library, loaded from library_path (as the loader names it), may go on to read its
 * configuration in the program called program (argv[0]'s base name). Loaded under any other file
 * name it always may (LD_PRELOAD: the admin chose the process). Loaded as
 * SYSGATE_LIBRARY_NAME only in a program of the built-in list. Touches no file, no errno. */
bool sysgate_admits(const char *library_path, const char *program);

#endif
