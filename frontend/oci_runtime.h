/* What a SIF pulled from a Docker/OCI registry says about running it: the
 * image config (Env, Entrypoint, Cmd) it keeps as a data object
 * (oci-config.json, written by convert.c / cmd_build.c). The runtime uses
 * it when the container has no /bin/sh to run the action script with
 * (direct_plan.h); images that have a shell get the same from their env
 * files and runscript. */
#ifndef SING_OCI_RUNTIME_H
#define SING_OCI_RUNTIME_H

#include <stdbool.h>

#include "error.h"
#include "run_env.h"

struct oci_runtime {
        bool found;            /* the image is a SIF with an OCI config */
        bool config_runscript; /* no definition file: run = ENTRYPOINT/CMD */
        struct strv env;       /* Env, KEY=VALUE */
        struct strv entrypoint, cmd;
};

/* Read the OCI config of the SIF at path into *out. Anything that is not a
 * SIF with a readable, well-formed config leaves out->found false and
 * returns 0: the starter decides whether the image runs at all. -1 only
 * when out of memory. */
int oci_runtime_read(const char *path, struct oci_runtime *out, sing_err_t *e);
void oci_runtime_free(struct oci_runtime *o);
/* The SIF's oci-config.json as text (malloc'd), or NULL. */
char *oci_config_read(const char *path);

#endif
