/* The configuration as the programs beside the library read it (see clientconf.h). */
#include "clientconf.h"

#include <errno.h>
#include <stdlib.h>

#include "textfile.h"

const char *clientconf_path(const char *given, bool *must_exist)
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

int clientconf_load(const char *given, struct config *c, struct diag *err)
{
    bool must_exist;
    const char *path = clientconf_path(given, &must_exist);
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
