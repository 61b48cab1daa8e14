#include "bind_spec.h"

#include <stdlib.h>
#include <string.h>

int bind_spec_parse(const char *spec, struct bind_spec *out, sing_err_t *err)
{
        char *copy = strdup(spec);
        char *dst, *mode;
        if (!copy)
                return err_set(err, "out of memory");
        dst = strchr(copy, ':');
        mode = NULL;
        if (dst) {
                *dst++ = '\0';
                mode = strchr(dst, ':');
                if (mode)
                        *mode++ = '\0';
        }
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
