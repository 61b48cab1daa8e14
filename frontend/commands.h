/* Every `singularity CMD` is one function taking the arguments after CMD
 * (argv[0] is the command name). Returns the process exit status.
 *
 * Two binaries share this dispatch (cli.c): the light `singularity`
 * (run/exec/shell/test, help, version: libc and json-c, so a container
 * starts without loading libcurl & co.) and SING_IMAGE_TOOL_PATH, `singularity-image`
 * (pull, build, inspect, and docker:// resolution for run), to which the
 * light binary hands every other command with its argv unchanged. */
#ifndef SING_COMMANDS_H
#define SING_COMMANDS_H

struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *usage; /* full help text for `singularity help CMD` */
};

/* Parse the global options (-d, -q, -v, --version, --help), then run the
 * command argv names from `table` (ended by a NULL name), or `help` and
 * `version`. A listed command that is not in `table` (and `help` for it)
 * goes to handoff(argv) with argv untouched, which returns only on failure,
 * with the exit status; handoff may be NULL. */
int cli_main(int argc, char **argv, const struct command *table, int (*handoff)(char **argv));

int cmd_pull(int argc, char **argv);
int cmd_run(int argc, char **argv); /* run, exec, shell and test (argv[0] says which) */
/* cmd_run for `instance start` (argv[0] "start"): the same options and
 * starter request, handed to launch(NAME, IMAGE, argv, envp) instead of
 * being exec'd. */
typedef int (*starter_launch_fn)(const char *name, const char *image, char **av, char **envp);
int cmd_run_launch(int argc, char **argv, starter_launch_fn launch);
int cmd_cache(int argc, char **argv);         /* cache list|clean */
int cmd_instance(int argc, char **argv);      /* instance start|list|stop */
int cmd_instance_info(int argc, char **argv); /* hidden: image_tool_instance_info */
int cmd_build(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run_help(int argc, char **argv); /* inspect --helpfile */
int cmd_registry(int argc, char **argv); /* registry login|logout */
/* Hidden: `singularity-image cache-sif docker://REF` makes sure the cache
 * holds a SIF for REF and prints its path on stdout (messages on stderr). */
int cmd_cache_sif(int argc, char **argv);

extern const char usage_pull[], usage_run[], usage_exec[], usage_shell[], usage_test[],
    usage_build[], usage_inspect[], usage_run_help[], usage_registry[], usage_instance[],
    usage_cache[];

#endif
