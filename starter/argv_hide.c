/* Hides the starter's arguments from /proc/PID/cmdline (argv_hide.h). */
#include "argv_hide.h"

#include <stdlib.h>
#include <string.h>

#include <sys/prctl.h>

#include "log.h"

/* The bytes of the original argument strings, contiguous from argv[0] (the
 * kernel lays them out so), which argv_set_title rewrites. */
static char *title_area;
static size_t title_size;

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
        if (argc > 0) {
                title_area = argv[0];
                title_size = strlen(argv[0]) + 1;
                for (int i = 1; i < argc && argv[i] == title_area + title_size; i++)
                        title_size += strlen(copy[i]) + 1;
        }
        return copy;
}

void argv_set_title(const char *name)
{
        size_t n = strlen(name);
        prctl(PR_SET_NAME, name);
        if (!title_area)
                return;
        if (n >= title_size)
                n = title_size - 1;
        /* The area's last byte stays NUL, so the kernel shows the whole
         * area as it lays out arguments, not as a setproctitle string. */
        memset(title_area, 0, title_size);
        strncpy(title_area, name, n);
}
