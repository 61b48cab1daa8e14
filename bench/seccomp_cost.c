/* The cost of the starter's built-in seccomp filter, measured outside the
 * starter (no production switch skips it): `seccomp_cost filter CMD...`
 * sets no_new_privs, installs the same filter as the starter (its own
 * seccomp_install_default(), linked from starter/seccomp_install.c) and
 * execs CMD; `seccomp_cost none CMD...` does the same without the filter.
 * bench/rows.py times both back to back; the difference is the filter. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "seccomp_install.h"

int main(int argc, char **argv)
{
        if (argc < 3 || (strcmp(argv[1], "filter") != 0 && strcmp(argv[1], "none") != 0)) {
                fprintf(stderr, "usage: seccomp_cost filter|none CMD [ARGS...]\n");
                return 255;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                perror("no_new_privs");
                return 255;
        }
        if (strcmp(argv[1], "filter") == 0)
                seccomp_install_default();
        execv(argv[2], argv + 2);
        perror(argv[2]);
        return 127;
}
