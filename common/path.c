#include "path.h"

#include <stdlib.h>
#include <string.h>

bool path_is_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        while (n > 0 && dir[n - 1] == '/')
                n--;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

char *path_clean(const char *path)
{
        char *out, *copy, *save = NULL;
        size_t len = 0;
        if (!path || path[0] != '/')
                return NULL;
        out = malloc(strlen(path) + 2);
        copy = strdup(path);
        if (!out || !copy) {
                free(out);
                free(copy);
                return NULL;
        }
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) { /* ".." at the root stays at the root */
                        while (len > 0 && out[--len] != '/')
                                ;
                        continue;
                }
                out[len++] = '/';
                memcpy(out + len, c, strlen(c));
                len += strlen(c);
        }
        if (len == 0)
                out[len++] = '/';
        out[len] = '\0';
        free(copy);
        return out;
}
