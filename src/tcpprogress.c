#include "tcpprogress.h"

#include <linux/tcp.h>   /* glibc's struct tcp_info stops before tcpi_bytes_received */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#define TCP_STATE_ESTABLISHED 1   /* the kernel's TCP_ESTABLISHED (netinet/tcp.h clashes with linux/tcp.h) */

bool tcp_progress_read(int fd, struct tcp_progress *out)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);

    memset(out, 0, sizeof(*out));
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < offsetof(struct tcp_info, tcpi_rto))
        return false;
    out->bytes_known = len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received);
    out->bytes_received = out->bytes_known ? info.tcpi_bytes_received : 0;
    /* An accepted socket leaves ESTABLISHED only when one side closes: the client's FIN
     * (CLOSE_WAIT), the MTA's shutdown (FIN_WAIT*), or a reset (CLOSE). */
    out->session_over = info.tcpi_state != TCP_STATE_ESTABLISHED;
    return true;
}
