/* Lexical path rules (no file system access), shared so that every prefix
 * check in the tree means the same thing. */
#ifndef SING_PATH_H
#define SING_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What ".." means to path_normalise(). */
enum path_dotdot {
        PATH_DOTDOT_REFUSE, /* an error: tar member names */
        PATH_DOTDOT_CLIMB,  /* climbs, an error above the top: link targets */
        PATH_DOTDOT_STAY,   /* at the top stays there, as "/.." is "/" */
};

/* Lexically normalise name into out (outsz bytes, at least 1): empty and
 * "." components dropped, ".." as dd says, no leading or trailing '/'.
 * Returns the length ("" is 0), or -1 with errno EINVAL (a ".." refused)
 * or ENAMETOOLONG (a component over max_comp bytes, or no room). */
ssize_t path_normalise(const char *name, enum path_dotdot dd, size_t max_comp, char *out,
                       size_t outsz);

/* Component-wise prefix test: "/scratch/x" is under "/scratch", "/scratch2" is not. */
bool path_is_under(const char *path, const char *dir);
/* Lexically clean an absolute path ("//a/./b/../c/" -> "/a/c", ".." at the
 * root stays there); NULL if relative or out of memory. */
char *path_clean(const char *path);

#endif
