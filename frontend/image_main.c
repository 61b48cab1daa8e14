/* `singularity-image` (installed as SING_IMAGE_TOOL_PATH): the commands
 * that need the registry client, JSON, archives and crypto. The light
 * `singularity` execs it with its own argv, so options, messages and exit
 * statuses are those of `singularity CMD ...`. */
#include <stddef.h>

#include "commands.h"
#include "seccomp_profile.h"

static const struct command commands[] = {
    {"build", cmd_build, usage_build},
    {"cache", cmd_cache, usage_cache},
    {"inspect", cmd_inspect, usage_inspect},
    {"instance", cmd_instance, usage_instance},
    {"instance-info", cmd_instance_info, "Usage: singularity-image instance-info NAME\n"},
    {"pull", cmd_pull, usage_pull},
    {"registry", cmd_registry, usage_registry},
    {"run-help", cmd_run_help, usage_run_help},
    {"cache-sif", cmd_cache_sif, "Usage: singularity-image cache-sif docker://REF\n"},
    {"seccomp-compile", cmd_seccomp_compile, "Usage: singularity-image seccomp-compile FILE\n"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
        return cli_main(argc, argv, commands, NULL);
}
