/* The bind specification SRC[:DST[:ro|rw]] of -B/--bind, SINGULARITY_BIND
 * and the config's `bind path`: one parser for the frontend (which makes
 * SRC absolute before calling the starter) and the starter (which checks
 * everything again). */
#ifndef SING_BIND_SPEC_H
#define SING_BIND_SPEC_H

#include <stdbool.h>

#include "error.h"

struct bind_spec {
        char *src; /* malloc'd; free(src) releases dst too */
        char *dst; /* never NULL: points into src's allocation, or is src */
        bool ro;
};

/* Split and check one spec: non-empty SRC and DST, mode ro or rw. */
int bind_spec_parse(const char *spec, struct bind_spec *out, sing_err_t *err);

#endif
