#include "path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool path_is_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        while (n > 0 && dir[n - 1] == '/')
                n--;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

ssize_t path_normalise(const char *name, enum path_dotdot dd, size_t max_comp, char *out,
                       size_t outsz)
{
        size_t o = 0;
        for (const char *p = name;;) {
                size_t len;
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                len = strcspn(p, "/");
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        if (dd == PATH_DOTDOT_REFUSE || (dd == PATH_DOTDOT_CLIMB && o == 0)) {
                                errno = EINVAL;
                                return -1;
                        }
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o)
                                o--;
                } else if (!(len == 1 && p[0] == '.')) {
                        if (len > max_comp || o + (o ? 1 : 0) + len >= outsz) {
                                errno = ENAMETOOLONG;
                                return -1;
                        }
                        if (o)
                                out[o++] = '/';
                        memcpy(out + o, p, len);
                        o += len;
                }
                p += len;
        }
        out[o] = '\0';
        return (ssize_t)o;
}

char *path_clean(const char *path)
{
        size_t n;
        char *out;
        if (!path || path[0] != '/')
                return NULL;
        n = strlen(path);
        out = malloc(n + 2);
        /* Never longer than path: normalising only removes. */
        if (out && path_normalise(path, PATH_DOTDOT_STAY, n, out + 1, n + 1) < 0) {
                free(out);
                return NULL;
        }
        if (out)
                out[0] = '/';
        return out;
}
