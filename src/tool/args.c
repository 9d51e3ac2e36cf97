/* Command-line values and the configuration they name (see args.h). */
#include "args.h"

#include <errno.h>
#include <stdlib.h>

#include "textfile.h"

int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

const char *tool_config_path(const char *given, bool *must_exist)
{
    const char *env = getenv("P0FSHIM_CONFIG");
    *must_exist = true;
    if (given)
        return given;
    if (env && *env)
        return env;
    *must_exist = false;
    return CONFIG_DEFAULT_PATH;
}

int tool_parse_config(const char *path, bool must_exist, struct config *c, struct diag *err)
{
    char *text;
    size_t len;
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
