/* Hides the starter's arguments from /proc/PID/cmdline (argv_hide.h). */
#include "argv_hide.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

char **argv_hide(int argc, char **argv)
{
        char **copy = calloc((size_t)argc + 1, sizeof(*copy));
        if (!copy)
                die("out of memory");
        for (int i = 0; i < argc; i++) {
                copy[i] = strdup(argv[i]);
                if (!copy[i])
                        die("out of memory");
                if (i > 0)
                        explicit_bzero(argv[i], strlen(argv[i]));
        }
        return copy;
}
