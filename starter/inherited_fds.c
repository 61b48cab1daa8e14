#include "inherited_fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

/* Sorted, fds above 2 only. The starter never closes or dup2()s onto one of
 * these (only onto 0-2 in sanitize_process), so a number in this list still
 * names the caller's file when we exec. */
static int *inherited;
static size_t ninherited;

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

void inherited_fds_record(void)
{
        /* Listing the open fds costs what is open, not RLIMIT_NOFILE. */
        DIR *d = opendir("/proc/self/fd");
        size_t cap = 0;
        struct dirent *de;
        if (!d)
                die_errno("listing /proc/self/fd (is /proc mounted?)");
        int self = dirfd(d);
        while ((errno = 0, de = readdir(d))) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);
                if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || fd <= 2 || fd == self)
                        continue;
                if (ninherited == cap) {
                        cap = cap ? 2 * cap : 16;
                        int *grown = realloc(inherited, cap * sizeof(*inherited));
                        if (!grown)
                                die("out of memory");
                        inherited = grown;
                }
                inherited[ninherited++] = (int)fd;
        }
        if (errno)
                die_errno("listing /proc/self/fd");
        closedir(d);
        qsort(inherited, ninherited, sizeof(*inherited), cmp_int);
}

static void close_between(unsigned lo, unsigned hi)
{
        if (lo <= hi && close_range(lo, hi, 0) < 0)
                die_errno("closing the starter's file descriptors");
}

void close_starter_fds(void)
{
        unsigned next = 3;
        for (size_t i = 0; i < ninherited; i++) {
                if ((unsigned)inherited[i] > next)
                        close_between(next, (unsigned)inherited[i] - 1);
                next = (unsigned)inherited[i] + 1;
        }
        close_between(next, ~0U);
}
