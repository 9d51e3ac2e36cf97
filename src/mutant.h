/* Test builds only. Each switch removes one protection from the library, so that the
 * integration tests can show that the protection, and nothing else, is what makes them pass
 * (tests/integration/faults.sh and run.sh build these "mutants" with MUTANT=-DP0FSHIM_MUTANT_X=1
 * and expect their checks to fail). A normal build has every switch 0 and the compiler drops
 * the dead branch. Only ever tested as `if (MUTANT_X)` next to the protection it removes. */
#ifndef P0FSHIM_MUTANT_H
#define P0FSHIM_MUTANT_H

#ifndef P0FSHIM_MUTANT_NODUP
#define P0FSHIM_MUTANT_NODUP 0      /* no duplicate, no identity check: the host's own number is shut down */
#endif
#ifndef P0FSHIM_MUTANT_SIGMASK
#define P0FSHIM_MUTANT_SIGMASK 0    /* the worker does not block signals */
#endif
#ifndef P0FSHIM_MUTANT_BAND
#define P0FSHIM_MUTANT_BAND 0       /* duplicates take the lowest free number, whatever the host holds */
#endif
#ifndef P0FSHIM_MUTANT_REFUSAL
#define P0FSHIM_MUTANT_REFUSAL 0    /* after a refusal, accept() again whether or not one is queued, uncapped */
#endif
#ifndef P0FSHIM_MUTANT_PEERCRED
#define P0FSHIM_MUTANT_PEERCRED 0   /* any peer may serve p0f's socket */
#endif
#ifndef P0FSHIM_MUTANT_TRUST
#define P0FSHIM_MUTANT_TRUST 0      /* config and blocked-OS files are read whoever may write them */
#endif
#ifndef P0FSHIM_MUTANT_LEAK
#define P0FSHIM_MUTANT_LEAK 0       /* a settled connection's duplicate is never closed */
#endif
#ifndef P0FSHIM_MUTANT_FORKLEAK
#define P0FSHIM_MUTANT_FORKLEAK 0   /* a forked child keeps the parent's pending duplicates */
#endif

#ifndef P0FSHIM_MUTANT_CANCELGUARD
#define P0FSHIM_MUTANT_CANCELGUARD 0 /* the accept path never holds cancellation off */
#endif

#endif
