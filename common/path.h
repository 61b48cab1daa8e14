/* Lexical path rules (no file system access), shared so that every prefix
 * check in the tree means the same thing. */
#ifndef SING_PATH_H
#define SING_PATH_H

#include <stdbool.h>

/* Component-wise prefix test: "/scratch/x" is under "/scratch", "/scratch2" is not. */
bool path_is_under(const char *path, const char *dir);
/* Lexically clean an absolute path ("//a/./b/../c/" -> "/a/c"); NULL if relative. */
char *path_clean(const char *path);

#endif
