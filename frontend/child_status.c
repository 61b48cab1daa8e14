#include "child_status.h"

#include <ctype.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int child_status_check(int status, const char *what, const char *tail, sing_err_t *e)
{
        const char *sep = tail && *tail ? ": " : "";
        if (!tail)
                tail = "";
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFSIGNALED(status))
                return err_set(e, "%s was killed by signal %d (%s)%s%s", what, WTERMSIG(status),
                               strsignal(WTERMSIG(status)), sep, tail);
        return err_set(e, "%s failed with exit status %d%s%s", what, WEXITSTATUS(status), sep,
                       tail);
}

void output_tail(int fd, char *buf, size_t sz)
{
        off_t end = lseek(fd, 0, SEEK_END);
        off_t from = end > (off_t)sz - 1 ? end - ((off_t)sz - 1) : 0;
        ssize_t n = end > 0 ? pread(fd, buf, (size_t)(end - from), from) : 0;
        buf[n > 0 ? n : 0] = '\0';
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
                buf[--n] = '\0';
        for (char *c = buf; *c; c++)
                if (*c == '\n')
                        *c = ' ';
}
