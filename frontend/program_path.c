#include "program_path.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "envopts.h"

int program_path(const char *name, char *out, size_t sz)
{
        const char *path = envopt_plain("PATH");
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        while (*path) {
                size_t len = strcspn(path, ":");
                int n = snprintf(out, sz, "%.*s/%s", (int)len, path, name);
                if (len && n > 0 && (size_t)n < sz && access(out, X_OK) == 0)
                        return 0;
                path += len + (path[len] == ':');
        }
        return -1;
}
