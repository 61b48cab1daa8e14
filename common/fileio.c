#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int read_all_bounded(int fd, size_t max, char **data, size_t *len)
{
        char *buf = NULL;
        size_t cap = 0, n = 0;

        for (;;) {
                ssize_t r;
                if (n == cap) {
                        char *nb;
                        /* One byte past max tells "exactly max" from "larger". */
                        if (cap > max) {
                                free(buf);
                                errno = EFBIG;
                                return -1;
                        }
                        cap = cap ? cap * 2 : 16384;
                        if (cap > max + 1)
                                cap = max + 1;
                        nb = realloc(buf, cap + 1);
                        if (!nb) {
                                free(buf);
                                errno = ENOMEM;
                                return -1;
                        }
                        buf = nb;
                }
                r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        int saved = errno;
                        free(buf);
                        errno = saved;
                        return -1;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        if (n > max) {
                free(buf);
                errno = EFBIG;
                return -1;
        }
        buf[n] = '\0';
        *data = buf;
        *len = n;
        return 0;
}

ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
        size_t got = 0;
        while (got < n) {
                ssize_t r = pread(fd, (unsigned char *)buf + got, n - got, (off_t)(off + got));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -1;
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        return (ssize_t)got;
}
