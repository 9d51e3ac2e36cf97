/* Keys of the shared stores (see store_key.h). */
#include "store_key.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int store_key(char out[STORE_KEY_MAX], const char *store_prefix, const struct endpoint *peer, unsigned v4_prefix,
              unsigned v6_prefix)
{
    struct cidr net;
    memset(&net, 0, sizeof(net));
    unsigned bytes;
    if (peer->family == AF_INET) {
        bytes = 4;
        net.prefix = v4_prefix > 32 ? 32 : v4_prefix;
    } else if (peer->family == AF_INET6) {
        bytes = 16;
        net.prefix = v6_prefix > 128 ? 128 : v6_prefix;
    } else {
        return -1;
    }
    net.family = peer->family;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bits = net.prefix > i * 8 ? net.prefix - i * 8 : 0;
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        net.net[i] = peer->ip[i] & mask;
    }
    char text[64];
    cidr_format(&net, text, sizeof(text));
    snprintf(out, STORE_KEY_MAX, "%s%s", store_prefix, text);
    return 0;
}
