/* The system-wide mode's gate: only the library's system-wide name makes it choosy. */
#include <criterion/criterion.h>

#include "sysgate.h"

Test(sysgate, any_program_under_another_library_name)
{
    cr_assert(sysgate_admits("/usr/local/lib/libp0fshim.so", "testsrv"));
    cr_assert(sysgate_admits("libp0fshim.so", "ls"));
    cr_assert(sysgate_admits(NULL, "ls"));
}

Test(sysgate, system_wide_name_admits_the_listed_daemons_only)
{
    const char *lib = "/usr/lib/x86_64-linux-gnu/libp0fshim-system.so";
    cr_assert(sysgate_admits(lib, "exim4"));
    cr_assert(sysgate_admits(lib, "sendmail-mta"));
    cr_assert(sysgate_admits(lib, "smtpd"));
    cr_assert(sysgate_admits(lib, "tcpserver"));
    cr_assert_not(sysgate_admits(lib, "sh"));
    cr_assert_not(sysgate_admits(lib, "exim"));        /* a prefix of a listed name */
    cr_assert_not(sysgate_admits(lib, "exim44"));      /* a listed name is a prefix */
    cr_assert_not(sysgate_admits(lib, "sendmail"));    /* local submissions stay untouched */
    cr_assert_not(sysgate_admits(lib, ""));
    cr_assert_not(sysgate_admits(lib, NULL));
}

Test(sysgate, system_wide_name_by_bare_name)
{
    cr_assert_not(sysgate_admits("libp0fshim-system.so", "python3"));
    cr_assert(sysgate_admits("libp0fshim-system.so", "smtpd"));
}
