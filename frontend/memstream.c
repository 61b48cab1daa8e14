#include "memstream.h"

#include <stdlib.h>

char *memstream_finish(FILE *f, char **bufp)
{
        int bad = ferror(f);
        if (fclose(f) != 0 || bad) {
                free(*bufp);
                *bufp = NULL;
        }
        return *bufp;
}
