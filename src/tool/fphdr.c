/* Fingerprint headers for one client address: see fphdr.h. */
#include "fphdr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logfmt.h"
#include "textfile.h"
#include "tool.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int fphdr_load_config(const char *path, struct config *c, struct diag *err)
{
    bool must_exist = true;
    const char *env = getenv("P0FSHIM_CONFIG");
    char *text;
    size_t len;

    if (path == NULL && env && *env)
        path = env;
    if (path == NULL) {
        path = CONFIG_DEFAULT_PATH;
        must_exist = false;
    }
    config_init(c);
    int rc = text_file_read(path, &text, &len);
    if (rc == -ENOENT && !must_exist)
        return 0;
    if (rc != 0) {
        diag_set(err, path, 0, "cannot read the configuration: %s", text_file_strerror(rc));
        return -1;
    }
    rc = config_parse(c, text, len, path, err);
    free(text);
    return rc;
}

const char *fphdr_status_word(enum fphdr_status s)
{
    switch (s) {
    case FPHDR_OK: return "ok";
    case FPHDR_NOMATCH: return "nomatch";
    case FPHDR_OFF: return "off";
    case FPHDR_BAD_ADDRESS: return "bad_address";
    case FPHDR_ERROR: return "error";
    }
    return "error";
}

const char *fphdr_value(const struct fphdr_values *v, enum hdr_kind h)
{
    if (v->status != FPHDR_OK)
        return "";
    return h == HDR_GENRE ? v->genre : h == HDR_LINK ? v->link : "";
}

static void finish(struct fphdr_values *out, enum fphdr_status s, uint64_t start, const char *reason)
{
    out->status = s;
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    out->elapsed_ms = (unsigned)(now_ms() - start);
}

void fphdr_lookup(const struct config *c, const char *address, unsigned timeout_ms, struct fphdr_values *out)
{
    uint64_t start = now_ms(), deadline = start + timeout_ms;
    struct endpoint ip;
    struct p0fq_result r;
    unsigned pause_ms = 10;

    memset(out, 0, sizeof(*out));
    if (!c->add_headers) {
        finish(out, FPHDR_OFF, start, "add_headers is false");
        return;
    }
    if (!c->v3.enabled) {
        finish(out, FPHDR_OFF, start, "no p0f v3 source configured (headers come from p0f v3 only)");
        return;
    }
    if (address == NULL || endpoint_parse_ip(address, &ip) != 0) {
        finish(out, FPHDR_BAD_ADDRESS, start, "not an IP address");
        return;
    }
    for (;;) {
        uint64_t now = now_ms();
        unsigned left = now < deadline ? (unsigned)(deadline - now) : 0;
        if (left == 0) {
            finish(out, FPHDR_ERROR, start, "p0f timeout");
            return;
        }
        p0fq_query(c->v3.socket_path, &ip, left, &r);
        if (r.status == P0FQ_OK && r.have_peer && r.peer_uid != 0 && r.peer_uid != c->p0f_uid) {
            char why[96];
            snprintf(why, sizeof(why), "p0f socket served by uid %u, not root or p0f_user", (unsigned)r.peer_uid);
            finish(out, FPHDR_ERROR, start, why);
            return;
        }
        if (r.status == P0FQ_OK)
            break;
        if (r.status != P0FQ_NOMATCH) {
            finish(out, FPHDR_ERROR, start, r.log_reason[0] ? r.log_reason : "p0f error");
            return;
        }
        /* NOMATCH: p0f may not have processed the SYN yet; ask again, briefly (a host p0f
         * did not see, e.g. a local client, must not cost every message the whole deadline). */
        now = now_ms();
        if (now + pause_ms + 5 >= deadline || now + pause_ms > start + FPHDR_NOMATCH_RETRY_MS) {
            finish(out, FPHDR_NOMATCH, start, "no match");
            return;
        }
        struct timespec ts = {0, (long)pause_ms * 1000000L};
        nanosleep(&ts, NULL);
        pause_ms *= 2;
    }
    const struct p0f3_answer *a = &r.answer;
    if (a->os_name[0]) {
        char genre[2 * P0F3_STR_MAX + 2];
        genre_format(a, genre, sizeof(genre));
        hdrval_sanitise(genre, out->genre, sizeof(out->genre));
    }
    hdrval_sanitise(a->link_type, out->link, sizeof(out->link));
    out->status = FPHDR_OK;
    snprintf(out->reason, sizeof(out->reason), "%s", a->os_name[0] ? "" : "os not identified");
    out->elapsed_ms = (unsigned)(now_ms() - start);
}
