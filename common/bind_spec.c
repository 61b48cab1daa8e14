#include "bind_spec.h"

#include <stdlib.h>
#include <string.h>

/* Cut s at the first `sep` not escaped by a backslash (NULL if none) and
 * remove the escapes from the part before it, in place. */
static char *cut_unescaped(char *s, char sep)
{
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && (r[1] == ':' || r[1] == ',' || r[1] == '\\')) {
                        *w++ = *++r;
                        continue;
                }
                if (*r == sep) {
                        *w = '\0';
                        return r + 1;
                }
                *w++ = *r;
        }
        *w = '\0';
        return NULL;
}

int bind_spec_parse(const char *spec, struct bind_spec *out, sing_err_t *err)
{
        char *copy = strdup(spec);
        char *dst, *mode;
        if (!copy)
                return err_set(err, "out of memory");
        dst = cut_unescaped(copy, ':');
        mode = dst ? cut_unescaped(dst, ':') : NULL;
        out->ro = false;
        if (mode && strcmp(mode, "ro") == 0)
                out->ro = true;
        else if (mode && strcmp(mode, "rw") != 0) {
                free(copy);
                return err_set(err, "bind %s: option must be ro or rw", spec);
        }
        if (!*copy || (dst && !*dst)) {
                free(copy);
                return err_set(err, "bind %s: empty source or destination", spec);
        }
        out->src = copy;
        out->dst = dst ? dst : copy; /* dst points into the same allocation */
        return 0;
}

static void put_escaped(char **w, const char *s)
{
        for (; *s; s++) {
                if (*s == ':' || *s == ',' || *s == '\\')
                        *(*w)++ = '\\';
                *(*w)++ = *s;
        }
}

char *bind_spec_format(const char *src, const char *dst, bool ro)
{
        if (ro && !dst)
                dst = src; /* ro needs a DST field */
        char *out = malloc(2 * (strlen(src) + (dst ? strlen(dst) : 0)) + 8), *w = out;
        if (!out)
                return NULL;
        put_escaped(&w, src);
        if (dst) {
                *w++ = ':';
                put_escaped(&w, dst);
        }
        strcpy(w, ro ? ":ro" : "");
        return out;
}

char *bind_list_next(char **cursor)
{
        char *item = *cursor, *r = item;
        if (!item)
                return NULL;
        while (*r && *r != ',')
                r += (r[0] == '\\' && r[1]) ? 2 : 1; /* an escape stays for the parser */
        *cursor = *r ? r + 1 : NULL;
        *r = '\0';
        return item;
}
