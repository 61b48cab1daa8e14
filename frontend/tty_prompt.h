/* A line the user types: asked on the controlling terminal (/dev/tty, so
 * that it works with stdin and stdout redirected), the echo off for a
 * secret. Shared by `registry login` and --docker-login. */
#ifndef SING_TTY_PROMPT_H
#define SING_TTY_PROMPT_H

#include <stdbool.h>

/* The line without its newline, malloc'd (free a secret with
 * credentials_free_secret). from_stdin: read stdin instead, no prompt
 * (--password-stdin). NULL with errno ENODATA at end of input, else with
 * the errno of opening the terminal (ENXIO: no controlling terminal). */
char *tty_prompt_line(const char *prompt, bool secret, bool from_stdin);

#endif
