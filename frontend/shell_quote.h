/* POSIX sh quoting: the one place that decides how values reach a shell.
 * Used for the image's env files (metadata.c) and for the action script
 * the runtime runs in the container (action_script.c). libc only, so the light
 * `singularity` binary links it. */
#ifndef SING_SHELL_QUOTE_H
#define SING_SHELL_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Write n bytes of s single-quoted: nothing is special inside '...' except
 * the closing quote, written as '\'' (close, escaped quote, reopen). */
void shell_put_quoted(FILE *f, const char *s, size_t n);
void shell_put_quoted_str(FILE *f, const char *s);

/* Write s double-quoted so that the shell evaluates it as Apptainer
 * evaluates --env / SINGULARITYENV_ values: $VAR, ${...}, $(...) and `...`
 * expand; a backslash pair (\$, \", \\, \`) consumes one level of escaping;
 * a bare " is a literal quote; newlines and spaces stay as they are. */
void shell_put_evaluated(FILE *f, const char *s);

/* True when s[0..n) is a shell identifier ([A-Za-z_][A-Za-z0-9_]*). */
bool shell_is_name(const char *s, size_t n);

/* Write "export KEY='value'\n" for one KEY=VALUE string of len bytes, or
 * warn and write nothing when it cannot be an environment variable (no
 * '=', a key that is not an identifier, a NUL byte in the value). */
void shell_put_export(FILE *f, const char *kv, size_t len);

/* One shell_put_export line per KEY=VALUE string. Returns a malloc'd string ("" for n == 0), or
 * NULL when out of memory. */
char *shell_env_script(char *const *kv, size_t n);

#endif
