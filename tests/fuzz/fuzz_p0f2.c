/* libFuzzer target: the p0f v2 reply decoder. Input: the 4-byte expected id, then the reply.
 * Checks: no memory error; a decoded answer has NUL-terminated strings and the expected id. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "p0f2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t id = 0;
    struct p0f2_answer a;

    if (size >= 4) {
        memcpy(&id, data, 4);
        data += 4;
        size -= 4;
    }
    enum p0f2_decode_status st = p0f2_decode_response(data, size, id, &a);
    assert(p0f2_decode_strerror(st) != NULL);
    if (size < P0F2_RESPONSE_LEN)
        assert(st == P0F2_ERR_SHORT);
    if (st != P0F2_DECODED_OK)
        return 0;
    assert(a.id == id);
    assert(memchr(a.genre, 0, sizeof(a.genre)) && memchr(a.detail, 0, sizeof(a.detail)));
    assert(memchr(a.link, 0, sizeof(a.link)) && memchr(a.tos, 0, sizeof(a.tos)));
    return 0;
}
