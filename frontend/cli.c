/* Global options and command dispatch, shared by `singularity` and
 * `singularity-image` (see commands.h). The list below is the one place
 * that names every command, so both binaries print the same help. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "commands.h"
#include "log.h"

static const struct {
        const char *name, *summary;
} listing[] = {
    {"build", "Build a Singularity image"},
    {"cache", "Manage the local cache"},
    {"exec", "Run a command within a container"},
    {"help", "Help about any command"},
    {"inspect", "Show metadata for an image"},
    {"instance", "Manage your running instances"},
    {"pull", "Pull an image from a URI"},
    {"registry", "Log in to or out of a registry (docker://HOST)"},
    {"run", "Run the user-defined default command within a container"},
    {"run-help", "Show the user-defined help for an image"},
    {"shell", "Run a shell within a container"},
    {"test", "Run the user-defined tests within a container"},
    {"version", "Show the version"},
};

static const char usage_help[] = "Usage: singularity help [COMMAND]\n";
static const char usage_version[] =
    "Usage: singularity version\n\n"
    "Prints the Singularity command-line level this program implements\n"
    "(" SING_CLI_LEVEL "), the number workflow engines compare against. This\n"
    "program's own release (" SING_VERSION ") is shown by 'singularity help'.\n";

static bool listed(const char *name)
{
        for (size_t i = 0; i < sizeof(listing) / sizeof(listing[0]); i++)
                if (strcmp(listing[i].name, name) == 0)
                        return true;
        return false;
}

static const struct command *find(const struct command *table, const char *name)
{
        for (const struct command *c = table; c->name; c++)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

static void usage_global(FILE *out)
{
        fprintf(out,
                "singularity " SING_VERSION ", implementing the Singularity " SING_CLI_LEVEL
                " command line\n\n"
                "Usage:\n  singularity [global options...] <command> [options...]\n\n"
                "Global options:\n"
                "  -d, --debug     print debugging information\n"
                "  -q, --quiet     only print errors\n"
                "  -s, --silent    only print errors (as --quiet)\n"
                "  -v, --verbose   print additional information\n"
                "      --nocolor   print messages without color (they have none)\n"
                "      --version   print \"singularity version " SING_CLI_LEVEL "\" and exit\n\n"
                "Commands:\n");
        for (size_t i = 0; i < sizeof(listing) / sizeof(listing[0]); i++)
                fprintf(out, "  %-10s %s\n", listing[i].name, listing[i].summary);
        fprintf(out, "\nRun 'singularity help <command>' for a command's options.\n");
}

/* `--version` as Singularity 3.x prints it (snakemake takes the last word,
 * cwltool matches "NAME version X.Y.Z"); `version` prints the bare number. */
static int cmd_version(bool bare)
{
        printf(bare ? "%s\n" : "singularity version %s\n", SING_CLI_LEVEL);
        return 0;
}

static int hand_off(int (*handoff)(char **argv), char **argv, const char *name)
{
        if (handoff)
                return handoff(argv);
        log_error("command \"%s\" is not part of this program", name);
        return 255;
}

static int cmd_help(int argc, char **argv, char **all, const struct command *table,
                    int (*handoff)(char **argv))
{
        const struct command *c;
        if (argc < 2) {
                usage_global(stdout);
                return 0;
        }
        if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "version") == 0) {
                fputs(strcmp(argv[1], "help") == 0 ? usage_help : usage_version, stdout);
                return 0;
        }
        c = find(table, argv[1]);
        if (c) {
                fputs(c->usage, stdout);
                return 0;
        }
        if (listed(argv[1]))
                return hand_off(handoff, all, argv[1]);
        log_error("unknown command \"%s\"", argv[1]);
        return 255;
}

int cli_main(int argc, char **argv, const struct command *table, int (*handoff)(char **argv))
{
        static const struct option opts[] = {
            {"debug", no_argument, NULL, 'd'},   {"quiet", no_argument, NULL, 'q'},
            {"verbose", no_argument, NULL, 'v'}, {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},    {"silent", no_argument, NULL, 's'},
            {"nocolor", no_argument, NULL, 'N'}, {NULL, 0, NULL, 0},
        };
        const struct command *c;
        const char *name;
        int opt, ci;

        /* '+': stop at the command name; its options are its own. Nothing is
         * permuted, so argv stays as given for a hand-off. */
        while ((opt = getopt_long(argc, argv, "+dqsvh", opts, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        log_set_level(LOG_LVL_DEBUG);
                        break;
                case 'q':
                case 's':
                        log_set_level(LOG_LVL_ERROR);
                        break;
                case 'N': /* our messages carry no color codes */
                        break;
                case 'v':
                        if (log_get_level() < LOG_LVL_VERBOSE)
                                log_set_level(LOG_LVL_VERBOSE);
                        break;
                case 'V':
                        return cmd_version(false);
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
        ci = optind;
        name = argv[ci];
        /* Commands parse their own options with getopt from index 1. */
        optind = 1;
        if (strcmp(name, "help") == 0)
                return cmd_help(argc - ci, argv + ci, argv, table, handoff);
        if (strcmp(name, "version") == 0)
                return cmd_version(true);
        c = find(table, name);
        if (c)
                return c->fn(argc - ci, argv + ci);
        if (listed(name))
                return hand_off(handoff, argv, name);
        log_error("unknown command \"%s\"; see 'singularity help'", name);
        return 255;
}
