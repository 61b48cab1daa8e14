/* The environment files of an image (the .sh files in /.singularity.d/env)
 * evaluated without a shell, for the runtime's exec action (starter/direct_env.c).
 *
 * Why: running the image's /bin/sh only to source a few `export` lines
 * costs an exec, a second dynamic-linker and libc start-up and the shell's
 * pages (2-2.5 ms of a 15 ms exec). SingularityCE 3.6+ likewise evaluates
 * these files with an interpreter built into the runtime.
 *
 * The rule that keeps this safe: a strict subset of POSIX sh, evaluated
 * exactly as dash 0.5.12 (Debian's /bin/sh) evaluates it; anything outside
 * the subset makes sh_subset_run() answer SH_UNSUPPORTED, and the caller
 * then runs the real shell on the untouched environment. The evaluator has
 * no side effect outside its variable table (it runs no command, writes no
 * file), so giving up at any point changes nothing.
 *
 * The subset:
 *  - commands separated by newlines or `;`; `#` comments; `\`-newline;
 *  - words made of unquoted text, '...', "..." (\$ \` \" \\ \newline
 *    escapes) and `\c`; expansions $NAME, ${NAME}, ${NAME-w}, ${NAME:-w},
 *    ${NAME+w}, ${NAME:+w} (w itself a word of this subset);
 *  - assignment-only commands `A=w [B=w]...` (exported stays as it was);
 *  - `export NAME=w | NAME ...` (no splitting or globbing of NAME=w, as
 *    dash 0.5.12 treats declaration utilities; all arguments are expanded
 *    before any is applied, as in dash); `unset NAME...`; `: [w...]`;
 *  - `if C; then L; [elif C; then L;]... [else L;] fi`, where C is one
 *    `[ ... ]` or `test ...` of: -z w, -n w, w, w = w, w != w, -f w, -d w,
 *    -e w (stat(2), as the shell's test does), each optionally after `!`,
 *    and no operand's value starts with one of - ! ( ) = < > ] (dash's
 *    test parser could take it for an operator).
 * SH_UNSUPPORTED for everything else: other commands, pipes, &&, ||,
 * redirections, subshells, functions, loops, case, command substitution,
 * arithmetic, tilde, special parameters ($1 $@ $? ...), other ${...}
 * forms, an unquoted expansion or glob character where the shell would
 * split or glob it (a command word that is not an assignment), reading a
 * variable dash itself sets (IFS, OPTIND, PPID, PS1, PS2, PS4), assigning
 * or unsetting IFS, OPTIND or PPID, `export PS1` (PS2, PS4) while it
 * still has dash's default value, and reading PWD while vars has none.
 * Assigning PS1, PS2 or PS4 is allowed: the env files of Docker-converted
 * images set PS1, and to a non-interactive dash these are plain strings. */
#ifndef SING_SH_SUBSET_H
#define SING_SH_SUBSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sh_var {
        char *name;
        char *value; /* NULL: unset (an `export NAME` of an unset name) */
        bool exported;
};

/* Variables in the order they were first set (the environment's order),
 * indexed by name (slots: open addressing, index + 1, 0 free), so that a
 * file of lookups costs the same with thousands of variables. */
struct sh_vars {
        struct sh_var *v;
        size_t n, cap;
        size_t *slots, nslots;
};

enum sh_result { SH_OK = 0, SH_UNSUPPORTED = 1, SH_NOMEM = -1 };

/* What dash does with the environment it starts with: only entries whose
 * name is a shell identifier are imported, and exported (a later duplicate
 * wins); IFS, OPTIND and PPID, when imported, take dash's values (" \t\n",
 * "1", ppid) and stay exported; without PATH, the shell variable PATH is
 * dash's default (not exported). PWD is the caller's business (the shell's
 * PWD rule needs the working directory): dash always exports one. */
int sh_vars_init_like_dash(struct sh_vars *vars, char *const *envp, pid_t ppid);

const char *sh_var_get(const struct sh_vars *vars, const char *name); /* NULL: unset */
int sh_var_set(struct sh_vars *vars, const char *name, const char *value, bool exported);

/* Evaluate text (len bytes; a NUL byte in it is SH_UNSUPPORTED).
 * vars may be half-changed after SH_UNSUPPORTED: the caller discards it. */
enum sh_result sh_subset_run(struct sh_vars *vars, const char *text, size_t len);

/* The exported, set variables as a NULL-terminated "NAME=VALUE" array in
 * vars' order (one allocation per string; free with sh_environ_free). */
char **sh_vars_environ(const struct sh_vars *vars);
void sh_environ_free(char **envp);
void sh_vars_free(struct sh_vars *vars);

#endif
