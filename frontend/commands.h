/* Every `singularity CMD` is one function taking the arguments after CMD
 * (argv[0] is the command name). Returns the process exit status. */
#ifndef SING_COMMANDS_H
#define SING_COMMANDS_H

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage; /* full help text for `singularity help CMD` */
};

/* Table in main.c, terminated by a NULL name. */
extern const struct command commands[];
const struct command *command_find(const char *name);

int cmd_pull(int argc, char **argv);
int cmd_run(int argc, char **argv); /* run, exec and shell (argv[0] says which) */
int cmd_build(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

extern const char usage_pull[], usage_run[], usage_exec[], usage_shell[], usage_build[],
	usage_inspect[];

#endif
