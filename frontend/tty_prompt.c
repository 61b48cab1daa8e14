#include "tty_prompt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>

char *tty_prompt_line(const char *prompt, bool secret, bool from_stdin)
{
        FILE *in = from_stdin ? stdin : fopen("/dev/tty", "r+e");
        struct termios old, quiet;
        char *line = NULL;
        size_t cap = 0;
        bool restore = false;
        if (!in)
                return NULL;
        if (!from_stdin) {
                /* Echo off before the prompt: what is typed once it shows is
                 * not flushed, nor echoed. */
                if (secret && tcgetattr(fileno(in), &old) == 0) {
                        quiet = old;
                        quiet.c_lflag &= ~(tcflag_t)ECHO;
                        restore = tcsetattr(fileno(in), TCSAFLUSH, &quiet) == 0;
                }
                fputs(prompt, in);
                fflush(in);
        }
        ssize_t n = getline(&line, &cap, in);
        if (restore) {
                tcsetattr(fileno(in), TCSAFLUSH, &old);
                fputc('\n', in); /* the newline the user typed was not echoed */
        }
        if (!from_stdin)
                fclose(in);
        if (n < 0) {
                if (line)
                        explicit_bzero(line, cap);
                free(line);
                errno = ENODATA;
                return NULL;
        }
        line[strcspn(line, "\r\n")] = '\0';
        return line;
}
