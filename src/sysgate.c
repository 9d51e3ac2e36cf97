/* The system-wide mode's gate.
 *
 * Loaded through /etc/ld.so.preload the library is mapped into every process of the machine,
 * including every re-execution of an MTA whose environment was cleared (Exim's and Sendmail's
 * SIGHUP restarts): that is what makes the mode survive reloads. Its price must be nil
 * everywhere else: no file read, no thread, no log line, no errno change, and a broken or missing
 * configuration must never touch another program. The decision to wake up therefore cannot come
 * from the configuration file (reading it is the cost to avoid), nor from the environment (it is
 * what re-executions clear): it comes from a list built into the library, checked against argv[0]
 * with string comparisons only. A listed program then reads the configuration as under
 * LD_PRELOAD, and its `programs` directive narrows the choice further. Another daemon needs a
 * rebuild (P0FSHIM_SYSTEM_PROGRAMS); that is the trade-off for touching nothing elsewhere. */
#include "sysgate.h"

#include <string.h>

/* The MTA daemons' argv[0] as Debian starts them: Exim's daemon and its children, Sendmail's
 * MTA daemon (not the MSP or a local submission), OpenSMTPD's and Postfix's smtpd, tcpserver.
 * Space-separated; a build may replace it. */
#ifndef P0FSHIM_SYSTEM_PROGRAMS
#define P0FSHIM_SYSTEM_PROGRAMS "exim4 sendmail-mta smtpd tcpserver"
#endif

static const char system_programs[] = P0FSHIM_SYSTEM_PROGRAMS;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool listed(const char *program)
{
    size_t len = strlen(program);
    const char *p = system_programs;
    if (len == 0)
        return false;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (word == len && memcmp(p, program, len) == 0)
            return true;
        p += word;
        p += strspn(p, " ");
    }
    return false;
}

bool sysgate_admits(const char *library_path, const char *program)
{
    if (library_path == NULL || strcmp(base_name(library_path), SYSGATE_LIBRARY_NAME) != 0)
        return true;
    return program != NULL && listed(program);
}
