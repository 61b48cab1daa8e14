/* `singularity`: global options, then dispatch to one command. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "commands.h"
#include "log.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const char usage_help[] = "Usage: singularity help [COMMAND]\n";
static const char usage_version[] = "Usage: singularity version\n";

const struct command commands[] = {
	{"build", cmd_build, "Build a Singularity image", usage_build},
	{"exec", cmd_run, "Run a command within a container", usage_exec},
	{"help", cmd_help, "Help about any command", usage_help},
	{"inspect", cmd_inspect, "Show metadata for an image", usage_inspect},
	{"pull", cmd_pull, "Pull an image from a URI", usage_pull},
	{"run", cmd_run, "Run the user-defined default command within a container", usage_run},
	{"shell", cmd_run, "Run a shell within a container", usage_shell},
	{"version", cmd_version, "Show the version", usage_version},
	{NULL, NULL, NULL, NULL},
};

const struct command *command_find(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void usage_global(FILE *out)
{
	fprintf(out, "Usage:\n  singularity [global options...] <command> [options...]\n\n"
		     "Global options:\n"
		     "  -d, --debug     print debugging information\n"
		     "  -q, --quiet     only print errors\n"
		     "  -v, --verbose   print additional information\n"
		     "      --version   print the version and exit\n\n"
		     "Commands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(out, "  %-9s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'singularity help <command>' for a command's options.\n");
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("singularity version %s\n", SING_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *c;
	if (argc < 2) {
		usage_global(stdout);
		return 0;
	}
	c = command_find(argv[1]);
	if (!c) {
		log_error("unknown command \"%s\"", argv[1]);
		return 255;
	}
	fputs(c->usage, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"debug", no_argument, NULL, 'd'},   {"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'}, {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
	};
	const struct command *c;
	int opt;

	/* '+': stop at the command name; its options are its own. */
	while ((opt = getopt_long(argc, argv, "+dqvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'q':
			log_set_level(LOG_LVL_ERROR);
			break;
		case 'v':
			if (log_get_level() < LOG_LVL_VERBOSE)
				log_set_level(LOG_LVL_VERBOSE);
			break;
		case 'V':
			return cmd_version(0, NULL);
		case 'h':
			usage_global(stdout);
			return 0;
		default:
			usage_global(stderr);
			return 255;
		}
	}
	if (optind >= argc) {
		usage_global(stderr);
		return 255;
	}
	c = command_find(argv[optind]);
	if (!c) {
		log_error("unknown command \"%s\"; see 'singularity help'", argv[optind]);
		return 255;
	}
	{
		int ci = optind;
		/* Commands parse their own options with getopt from index 1. */
		optind = 1;
		return c->fn(argc - ci, argv + ci);
	}
}
