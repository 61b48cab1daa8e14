/* Text built with stdio in memory (open_memstream), finished in one place. */
#ifndef SING_MEMSTREAM_H
#define SING_MEMSTREAM_H

#include <stdio.h>

/* Close f, opened by open_memstream(bufp, ...): the text (the caller's to
 * free), or NULL when a write or the close failed (out of memory), with the
 * buffer freed. */
char *memstream_finish(FILE *f, char **bufp);

#endif
