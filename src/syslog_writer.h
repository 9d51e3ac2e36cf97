/* Syslog without openlog(): the host's own syslog state stays untouched. The socket is
 * opened in the constructor (before any chroot) and checked by identity before each
 * use, because a daemon that closes "all fds" may hand the number to something else. */
#ifndef P0FSHIM_SYSLOG_WRITER_H
#define P0FSHIM_SYSLOG_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "config.h"
#include "fdident.h"
#include "tunables.h"

#define SYSLOG_LINE_MAX 2048   /* one datagram: "<PRI>timestamp p0fshim[pid]: " and the logfmt line */

struct syslog_writer {
    pthread_mutex_t lock;
    struct owned_fd conn;    /* the receiver's socket; fd -1 when closed */
    int facility;
    char path[UNIX_PATH_MAX_LEN];
    unsigned long dropped;   /* lines the receiver did not take, not yet reported */
    atomic_ulong dropped_busy;   /* lines of syslog_writer_send_now() that found the writer busy */
    char note[SYSLOG_LINE_MAX];   /* the line that reports them (under the lock) */
};

void syslog_writer_init(struct syslog_writer *w);
/* Connects to path; failure is silent (there is nowhere to report it) but retried on send. */
void syslog_writer_open(struct syslog_writer *w, const char *path, int facility);
void syslog_writer_close(struct syslog_writer *w);
/* severity is LOG_INFO, LOG_WARNING, ...; msg is one logfmt line. Never blocks. */
void syslog_writer_send(struct syslog_writer *w, int severity, const char *msg);
/* The same from a thread that must not wait even for another thread's send (a host's thread
 * inside accept()): one non-blocking send, or the line is counted as dropped (and the count
 * reported with a later line) when the writer is busy or the receiver full. */
void syslog_writer_send_now(struct syslog_writer *w, int severity, const char *msg);
/* The same, waiting up to wait_ms for a busy receiver (only where waiting harms no one:
 * the worker thread). Lines still not taken are counted and reported with the next one. */
void syslog_writer_send_wait(struct syslog_writer *w, int severity, const char *msg, unsigned wait_ms);

/* Lines sent together: one identity check and one sendmmsg() for all of them, so that a busy
 * worker wakes the log receiver once per batch, not once per connection. */
#define SYSLOG_BATCH_MAX 32
struct syslog_batch {
    size_t n;
    time_t when;             /* the lines' second, its local time and the pid: formatted once */
    struct tm when_local;
    pid_t pid;
    struct iovec line[SYSLOG_BATCH_MAX];
    char text[SYSLOG_BATCH_MAX][SYSLOG_LINE_MAX];
};
/* Formats msg as the next line of the batch; the caller flushes a full batch first. */
void syslog_batch_add(struct syslog_writer *w, struct syslog_batch *b, int severity, const char *msg);
/* Sends every line (waiting up to wait_ms for a busy receiver; lines still not taken are
 * counted and reported with the next batch) and empties the batch. */
void syslog_batch_flush(struct syslog_writer *w, struct syslog_batch *b, unsigned wait_ms);

/* After fork in the child: the lock may have been held by a thread that is gone. */
void syslog_writer_after_fork_child(struct syslog_writer *w);

/* Pure: "<PRI>Mmm dd HH:MM:SS p0fshim[PID]: msg". Returns the length written. */
size_t syslog_format(char *out, size_t size, int priority, const struct tm *when, pid_t pid, const char *msg);

/* At most one message per period per category; the next one says how many were held back. */
struct rate_limit {
    bool started;
    time_t last;             /* monotonic seconds: a clock step must not silence diagnostics */
    unsigned long suppressed;
};
/* true when a message may go out now; *suppressed gets the count held back since. */
bool rate_limit_allow(struct rate_limit *r, time_t now, unsigned long *suppressed);

#endif
