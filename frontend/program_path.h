/* Finding a helper program (mksquashfs, unsquashfs, ...) on PATH, one rule
 * for every caller: as execvp would, with a default when PATH is unset. */
#ifndef SING_PROGRAM_PATH_H
#define SING_PROGRAM_PATH_H

#include <stddef.h>

/* The first executable DIR/name for DIR in PATH (unset or empty:
 * /usr/local/bin:/usr/bin:/bin), written to out. 0, or -1 when none. */
int program_path(const char *name, char *out, size_t sz);

#endif
