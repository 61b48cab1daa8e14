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

/* Split and check one spec: non-empty SRC and DST, mode ro or rw. A
 * backslash escapes ':', ',' and itself inside SRC and DST (as Apptainer's
 * `\:` and `\,`); the escapes are removed. */
int bind_spec_parse(const char *spec, struct bind_spec *out, sing_err_t *err);

/* The spec bind_spec_parse() reads back as (src, dst or NULL, ro), with the
 * escapes it needs. malloc'd, NULL when out of memory. */
char *bind_spec_format(const char *src, const char *dst, bool ro);

/* Next item of a comma-separated list of specs, cut in place (escaped
 * commas do not separate; escapes are kept for bind_spec_parse). *cursor
 * starts at the list and is NULL after the last item. */
char *bind_list_next(char **cursor);

#endif
