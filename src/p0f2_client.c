/* The p0f v2 client of the engine. p0f 2 answers one query per connection and serves one
 * client at a time, so the worker asks one connection's question at a time: connect, send
 * the query, read the one reply, close. p0f 2 knows IPv4 only (engine_submit settles an IPv6
 * peer as unknown to it at once). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "engine_state.h"

static void v2_error(const char *what, int err)
{
    snprintf(E.v2_error, sizeof(E.v2_error), "%s: %s", what, strerror(err));
}

/* Ends the query in flight; the connection behind it is asked again later (or settled
 * at its deadline with E.v2_error as the reason). */
void p0f2_abort(uint64_t now)
{
    owned_fd_release(&E.v2);
    E.v2_in_len = 0;
    E.v2_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
    pthread_mutex_lock(&E.lock);
    struct pending *p = &E.slots[E.v2_slot];
    if (p->used && p->generation == E.v2_generation && p->v2.in_flight) {
        p->v2.in_flight = false;
        p->v2.next_query_ns = E.v2_retry_after_ns;
    }
    pthread_mutex_unlock(&E.lock);
}

void p0f2_start_due(uint64_t now)
{
    uint8_t query[P0F2_QUERY_LEN];
    uint32_t idx = UINT32_MAX, generation = 0;
    const struct p0f_source *src = &E.cfg->v2;

    if (E.v2.fd >= 0 || now < E.v2_retry_after_ns)
        return;
    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive && idx == UINT32_MAX; k++) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        struct lookup *l = &p->v2;
        if (!pending_due(p, l, now))
            continue;
        if (p0f2_encode_query(&p->remote, &p->local, src->has_local_ip ? &src->local_ip : NULL, ++E.v2_id,
                              query) != 0)
            continue;
        idx = i;
        generation = p->generation;
        l->in_flight = true;
    }
    pthread_mutex_unlock(&E.lock);
    if (idx == UINT32_MAX)
        return;
    E.v2_slot = idx;
    E.v2_generation = generation;
    E.v2_in_len = 0;

    int fd = engine_p0f_open(src->socket_path, "p0f v2", E.v2_error, sizeof(E.v2_error));
    if (fd < 0) {
        p0f2_abort(now);
        return;
    }
    /* 24 bytes into a fresh socket's empty buffer: all or nothing. */
    if (send(fd, query, sizeof(query), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(query)) {
        v2_error("p0f v2 send", errno);
        close(fd);
        p0f2_abort(now);
        return;
    }
    if (owned_fd_take(fd, &E.v2) != 0) {
        close(fd);
        p0f2_abort(now);
    }
}

void p0f2_read(uint64_t now)
{
    struct p0f2_answer answer;
    bool finished = false;

    ssize_t n = recv(E.v2.fd, E.v2_inbuf + E.v2_in_len, sizeof(E.v2_inbuf) - E.v2_in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        if (n == 0)
            snprintf(E.v2_error, sizeof(E.v2_error), "p0f v2 closed the connection before replying");
        else
            v2_error("p0f v2 recv", errno);
        diagnostic(LOG_WARNING, &E.rl_p0f, "p0f v2 query failed", "reason", E.v2_error);
        p0f2_abort(now);
        return;
    }
    E.v2_in_len += (size_t)n;
    if (E.v2_in_len < P0F2_RESPONSE_LEN)
        return;
    owned_fd_release(&E.v2);   /* one-shot: the whole reply is in */

    enum p0f2_decode_status status = p0f2_decode_response(E.v2_inbuf, E.v2_in_len, E.v2_id, &answer);
    pthread_mutex_lock(&E.lock);
    struct pending *p = &E.slots[E.v2_slot];
    if (p->used && p->generation == E.v2_generation && p->v2.in_flight && !p->v2.done) {
        if (status == P0F2_DECODED_NOMATCH) {
            lookup_retry(&p->v2, p->accepted_ns, p->deadline_ns, now);
        } else if (status == P0F2_DECODED_OK) {
            p->a2 = answer;
            if (answer.genre[0])
                lookup_finish(&p->v2, LOOKUP_OS_KNOWN, NULL);
            else
                lookup_finish(&p->v2, LOOKUP_NO_OS, "os not identified");
        } else {
            lookup_finish(&p->v2, LOOKUP_FAILED, p0f2_decode_strerror(status));
        }
        finished = all_done(p);
    }
    pthread_mutex_unlock(&E.lock);
    if (status != P0F2_DECODED_OK && status != P0F2_DECODED_NOMATCH)
        diagnostic(LOG_WARNING, &E.rl_p0f, "bad reply from p0f v2", "reason", p0f2_decode_strerror(status));
    else
        E.v2_error[0] = '\0';
    if (finished)
        settle(E.v2_slot, now);
}
