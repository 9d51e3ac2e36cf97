/* libFuzzer target: the configuration parser (config_parse: pure, no file access; p0f_user may
 * look a name up with getpwnam_r). Input: the text of a config file.
 * Checks: no memory error or leak (config_free frees everything parsed, also after an error);
 * an error names the file and a line within the text; a success leaves a usable config. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config c;   /* large: not on the stack */
    struct diag err;
    unsigned lines = 1;

    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    memset(&err, 0, sizeof(err));
    config_init(&c);
    int rc = config_parse(&c, (const char *)data, size, "fuzz.conf", &err);
    if (rc != 0) {
        assert(strcmp(err.file, "fuzz.conf") == 0);
        assert(err.line <= lines);
        assert(memchr(err.reason, 0, sizeof(err.reason)) && err.reason[0] != '\0');
    } else {
        assert(c.timeout_ms >= 1 && c.timeout_ms <= 60000);
        assert(c.nports <= CONFIG_MAX_PORTS && c.nprograms <= CONFIG_MAX_PROGRAMS);
        assert(c.v3.enabled || c.v2.enabled);
        (void)config_port_selected(&c, 25);
        (void)config_program_selected(&c, "smtpd");
    }
    config_free(&c);
    return 0;
}
