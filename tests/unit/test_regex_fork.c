/* The shared match data lives in memory a forked child shares with its parent until the
 * child's first match (hotmem.h). A match that needs more backtracking frames than it was
 * made with must not give it a bigger vector from the parent's heap after a fork: the child
 * would copy that pointer to memory its own heap never allocated, and match into it. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy.h"

/* 400 levels of backtracking: PCRE2 outgrows the 20 KiB frame vector the match data was made
 * with (to 160 KiB, from the heap, with Debian 12's PCRE2 10.42). */
#define DEEP 400
#define MARKED_BYTES (64 * 1024)

static char *deep_subject(void)
{
    char *s = malloc(DEEP + 1);
    cr_assert_not_null(s);
    memset(s, 'a', DEEP);
    s[DEEP] = '\0';
    return s;
}

Test(regex_fork, a_childs_heap_never_holds_the_parents_frames)
{
    char why[256];
    struct regex *light = regex_compile("windows", why, sizeof(why));
    cr_assert_not_null(light, "%s", why);
    struct regex *deep = regex_compile("^(a|b)*[^ab]", why, sizeof(why));   /* no shortcut: it backtracks */
    cr_assert_not_null(deep, "%s", why);
    char *subject = deep_subject();

    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(10);
        /* The first match makes the shared memory the child's own. */
        if (regex_matches(light, "Linux"))
            _exit(11);
        /* Heap memory of the child's own, where the parent's later allocations may lie. */
        unsigned char *mine = malloc(MARKED_BYTES);
        if (mine == NULL)
            _exit(12);
        memset(mine, 0x5a, MARKED_BYTES);
        if (regex_matches(deep, subject))
            _exit(13);
        for (size_t i = 0; i < MARKED_BYTES; i++)
            if (mine[i] != 0x5a)
                _exit(14);   /* the match wrote into memory the child's heap had given out */
        if (!regex_matches(light, "Windows NT kernel"))
            _exit(15);
        _exit(0);
    }
    close(go[0]);
    /* After the fork, the parent's match needs more frames than the shared match data has. */
    cr_assert_not(regex_matches(deep, subject));
    cr_assert(regex_matches(light, "Windows"));
    cr_assert_eq(write(go[1], "g", 1), 1);
    close(go[1]);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status), "the child died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0, "the child failed at step %d (14: its heap was written by the match)",
                 WEXITSTATUS(status));
    free(subject);
    regex_free(deep);
    regex_free(light);
}
