/* Definition files before the parser: build arguments and stages.
 *
 * Build arguments in definition files (Apptainer 1.2+):
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

/* Multi-stage definition files: every "Bootstrap:" line starts a stage
 * ("Stage: NAME" names it); the last one is the image built. Each stage is
 * parsed on its own with the file's line numbers; "%files from NAME" must
 * name an earlier stage. *v (n entries) is freed with recipe_stages_free. */
#define RECIPE_MAX_STAGES 32
int recipe_load_stages(const char *path, struct build_args *a, struct recipe **v, size_t *n,
                       sing_err_t *e);
int recipe_parse_stages(const char *text, size_t len, const char *path, struct recipe **v,
                        size_t *n, sing_err_t *e);
void recipe_stages_free(struct recipe *v, size_t n);

#endif
