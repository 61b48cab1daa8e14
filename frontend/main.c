/* `singularity`, the light front end: run, exec, shell and test start the
 * container from here; every other command is handed to the image tool
 * (image_tool.h), so starting a container loads no network, archive or
 * crypto library (only json-c, to read a SIF's OCI config: oci_runtime.h). */
#include <stddef.h>

#include "commands.h"
#include "image_tool.h"

static const struct command commands[] = {
    {"exec", cmd_run, usage_exec}, {"run", cmd_run, usage_run}, {"shell", cmd_run, usage_shell},
    {"test", cmd_run, usage_test}, {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
        return cli_main(argc, argv, commands, image_tool_exec);
}
