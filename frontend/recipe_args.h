/* Build arguments in definition files (Apptainer 1.2+):
 *
 *   %arguments                   defaults, one KEY=VALUE a line
 *       VERSION=1.36
 *   From: busybox:{{ VERSION }}  replaced everywhere in the file
 *
 * Values come from --build-arg KEY=VALUE, then --build-arg-file FILE (a
 * KEY=VALUE a line, "#" comments), then the %arguments defaults. A
 * {{ KEY }} with no value is an error naming FILE:LINE and KEY; a
 * --build-arg the file never uses is a warning. The expansion keeps line
 * numbers, so the parser's FILE:LINE messages stay right. */
#ifndef SING_RECIPE_ARGS_H
#define SING_RECIPE_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "recipe.h"

struct build_args {
        char **key, **val;
        bool *used;
        size_t n;
};

/* "KEY=VALUE" (from `where`, for messages); a later value of a KEY wins. */
int build_args_add(struct build_args *a, const char *kv, const char *where, sing_err_t *e);
int build_args_add_file(struct build_args *a, const char *path, sing_err_t *e);
void build_args_free(struct build_args *a);

/* text (len bytes, the file `path`) with {{ KEY }} replaced and the
 * %arguments section blanked; *out is malloc'd, NUL-terminated. */
int recipe_expand_args(const char *text, size_t len, const char *path, struct build_args *a,
                       char **out, size_t *out_len, sing_err_t *e);

/* recipe_load with the arguments applied (a may be NULL: none given). */
int recipe_load_with_args(const char *path, struct build_args *a, struct recipe *r, sing_err_t *e);

#endif
