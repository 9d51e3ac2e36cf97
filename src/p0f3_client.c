/* The p0f v3 client of the engine: one persistent, pipelined, non-blocking connection per
 * process, opened when there is something to ask and closed when idle. v3 replies carry no
 * address, so they are matched to queries by order (E.fifo); a probe opens each connection
 * (see PROBE_SLOT). Answers are cached by host (schedule.h) so that a bulk sender's
 * connections share one query, and NOMATCH replies feed the first-query timing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "engine_state.h"

static void p0f_error(const char *what, int err)
{
    snprintf(E.p0f_error, sizeof(E.p0f_error), "%s: %s", what, strerror(err));
}

void p0f3_disconnect(uint64_t now)
{
    owned_fd_release(&E.p0f);
    E.in_len = E.out_len = 0;
    E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
    /* Every query in flight is lost; the connections behind them are asked again. */
    pthread_mutex_lock(&E.lock);
    for (size_t i = 0; i < E.fifo_count; i++) {
        struct outstanding *o = &E.fifo[(E.fifo_head + i) % ENGINE_OUTSTANDING_MAX];
        if (o->slot == PROBE_SLOT)
            continue;
        struct pending *p = &E.slots[o->slot];
        if (p->used && p->generation == o->generation) {
            p->v3.in_flight = false;
            p->v3.next_query_ns = E.p0f_retry_after_ns;
        }
    }
    E.fifo_head = E.fifo_count = 0;
    pthread_mutex_unlock(&E.lock);
}

bool p0f3_connect(uint64_t now)
{
    int fd;

    if (E.p0f.fd >= 0 && owned_fd_still(&E.p0f))
        return true;
    if (E.p0f.fd >= 0) {
        /* The host reused our number: forget it without touching it. */
        E.p0f.fd = -1;
        p0f3_disconnect(now);
    }
    if (now < E.p0f_retry_after_ns)
        return false;
    fd = engine_p0f_open(E.cfg->v3.socket_path, "p0f", E.p0f_error, sizeof(E.p0f_error));
    if (fd < 0) {
        E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
        return false;
    }
    if (owned_fd_take(fd, &E.p0f) != 0) {
        close(fd);
        return false;
    }
    E.p0f_last_use_ns = now;
    E.in_len = E.out_len = 0;
    struct endpoint nobody = {.family = AF_INET};
    p0f3_encode_query(&nobody, E.outbuf);
    E.out_len = P0F3_QUERY_LEN;
    pthread_mutex_lock(&E.lock);
    E.fifo[E.fifo_head] = (struct outstanding){.slot = PROBE_SLOT, .queued_ns = now};
    E.fifo_count = 1;
    pthread_mutex_unlock(&E.lock);
    return true;
}

void p0f3_flush(uint64_t now)
{
    while (E.out_len > 0) {
        ssize_t n = send(E.p0f.fd, E.outbuf, E.out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            p0f_error("p0f send", errno);
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f connection lost", "reason", E.p0f_error);
            p0f3_disconnect(now);
            return;
        }
        memmove(E.outbuf, E.outbuf + n, E.out_len - (size_t)n);
        E.out_len -= (size_t)n;
        E.p0f_last_use_ns = now;
    }
}

/* Settles v3 lookups whose host has a fresh answer in the cache, due or not (the answer is
 * as good now as at the query time); returns true when due ones still need p0f. */
bool p0f3_answer_from_cache(uint64_t now)
{
    static uint32_t finished[ENGINE_PENDING_MAX];
    size_t nfinished = 0;
    bool need_p0f = false;

    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive; k++) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        struct lookup *l = &p->v3;
        if (!p->vetted || !l->active || l->done || l->in_flight || now >= p->deadline_ns)
            continue;
        const struct p0f3_answer *hit = answer_cache_find(&E.answers, &p->remote, now);
        if (hit == NULL) {
            need_p0f = need_p0f || pending_due(p, l, now);
            continue;
        }
        p->a3 = *hit;
        if (hit->os_name[0])
            lookup_finish(l, LOOKUP_OS_KNOWN, NULL);
        else
            lookup_finish(l, LOOKUP_NO_OS, "os not identified");
        if (all_done(p))
            finished[nfinished++] = i;
    }
    pthread_mutex_unlock(&E.lock);
    for (size_t i = 0; i < nfinished; i++)
        settle(finished[i], now);
    return need_p0f;
}

static void handle_reply(const uint8_t *buf, uint64_t now)
{
    struct p0f3_answer answer;
    enum p0f3_decode_status status = p0f3_decode_response(buf, P0F3_RESPONSE_LEN, &answer);
    bool decoded = status == P0F3_DECODED_OK || status == P0F3_DECODED_NOMATCH;
    struct outstanding o;
    bool finished = false;

    pthread_mutex_lock(&E.lock);
    if (E.fifo_count == 0) {
        pthread_mutex_unlock(&E.lock);
        snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f: reply for a query never sent");
        diagnostic(LOG_WARNING, &E.rl_p0f, "p0f sent a reply nobody asked for", "socket", E.cfg->v3.socket_path);
        p0f3_disconnect(now);
        return;
    }
    o = E.fifo[E.fifo_head];
    E.fifo_head = (E.fifo_head + 1) % ENGINE_OUTSTANDING_MAX;
    E.fifo_count--;
    if (o.slot == PROBE_SLOT) {
        pthread_mutex_unlock(&E.lock);
        if (status != P0F3_DECODED_NOMATCH) {
            snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f: reply for a query never sent");
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f sent a reply nobody asked for", "socket", E.cfg->v3.socket_path);
            p0f3_disconnect(now);
        }
        return;
    }
    struct pending *p = &E.slots[o.slot];
    if (p->used && p->generation == o.generation)
        answer_cache_answered(&E.answers, &p->remote);
    if (p->used && p->generation == o.generation && p->v3.in_flight && !p->v3.done) {
        if (p->v3.queries == 1 && p->v3.delay_timed)
            first_query_adapt(&E.timing, status == P0F3_DECODED_NOMATCH);
        if (status == P0F3_DECODED_NOMATCH) {
            p->v3.unknown_after_ns = o.queued_ns;
            lookup_retry(&p->v3, p->accepted_ns, p->deadline_ns, now);
            first_query_after_nomatch(&E.timing, &p->v3, o.queued_ns, now);
        } else if (status == P0F3_DECODED_OK) {
            /* p0f's first sight of the host: it learned it in (unknown_after, now]. */
            if (answer.total_conn == 1)
                first_query_observe(&E.timing, &p->v3, now);
            answer_cache_store(&E.answers, &p->remote, &answer, now);
            p->a3 = answer;
            if (answer.os_name[0])
                lookup_finish(&p->v3, LOOKUP_OS_KNOWN, NULL);
            else
                lookup_finish(&p->v3, LOOKUP_NO_OS, "os not identified");
        } else {
            lookup_finish(&p->v3, LOOKUP_FAILED, p0f3_decode_strerror(status));
        }
        finished = all_done(p);
    }
    pthread_mutex_unlock(&E.lock);

    if (finished)
        settle(o.slot, now);
    if (!decoded) {
        /* Framing can no longer be trusted: a p0f that says this is not well. */
        snprintf(E.p0f_error, sizeof(E.p0f_error), "%s", p0f3_decode_strerror(status));
        diagnostic(LOG_WARNING, &E.rl_p0f, "bad reply from p0f", "reason", E.p0f_error);
        p0f3_disconnect(now);
        return;
    }
    E.p0f_error[0] = '\0';
}

void p0f3_read(uint64_t now)
{
    for (;;) {
        ssize_t n = recv(E.p0f.fd, E.inbuf + E.in_len, sizeof(E.inbuf) - E.in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n == 0)
                snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f closed the connection");
            else
                p0f_error("p0f recv", errno);
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f connection lost", "reason", E.p0f_error);
            p0f3_disconnect(now);
            return;
        }
        E.in_len += (size_t)n;
        E.p0f_last_use_ns = now;
        size_t used = 0;
        while (E.in_len - used >= P0F3_RESPONSE_LEN && E.p0f.fd >= 0) {
            handle_reply(E.inbuf + used, now);
            used += P0F3_RESPONSE_LEN;
        }
        if (E.p0f.fd < 0)
            return;
        memmove(E.inbuf, E.inbuf + used, E.in_len - used);
        E.in_len -= used;
    }
}

void p0f3_queue_due(uint64_t now)
{
    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive && E.fifo_count < ENGINE_OUTSTANDING_MAX; k++) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        struct lookup *l = &p->v3;
        if (!pending_due(p, l, now))
            continue;
        /* Another query for the host is in flight: its answer settles this one from the
         * cache; if it never comes (its connection went first), ask when it is no longer
         * expected. */
        if (answer_cache_being_asked(&E.answers, &p->remote, now, &l->next_query_ns))
            continue;
        answer_cache_asking(&E.answers, &p->remote, now);
        p0f3_encode_query(&p->remote, E.outbuf + E.out_len);
        E.out_len += P0F3_QUERY_LEN;
        E.fifo[(E.fifo_head + E.fifo_count) % ENGINE_OUTSTANDING_MAX] =
            (struct outstanding){.slot = i, .generation = p->generation, .queued_ns = now};
        E.fifo_count++;
        l->in_flight = true;
        l->queries++;
    }
    pthread_mutex_unlock(&E.lock);
}

/* Closes the v3 connection after ENGINE_IDLE_CLOSE_MS without work; returns when to look again. */
uint64_t p0f3_idle_close(uint64_t now, uint64_t next)
{
    bool idle;
    pthread_mutex_lock(&E.lock);
    idle = E.fifo_count == 0 && E.nfree == ENGINE_PENDING_MAX;
    pthread_mutex_unlock(&E.lock);
    if (E.p0f.fd < 0 || !idle || E.out_len != 0)
        return next;
    uint64_t close_at = E.p0f_last_use_ns + ENGINE_IDLE_CLOSE_MS * NS_PER_MS;
    if (now >= close_at) {
        owned_fd_release(&E.p0f);
        E.in_len = 0;
        E.p0f_error[0] = '\0';
        return next;
    }
    return close_at < next ? close_at : next;
}
