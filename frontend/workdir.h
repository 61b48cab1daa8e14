/* -W/--workdir and -S/--scratch of run/exec/shell/test. */
#ifndef SING_WORKDIR_H
#define SING_WORKDIR_H

#include <stdbool.h>

#include "error.h"
#include "run_env.h"

struct workdir_request {
        const char *workdir;  /* -W DIR (absolute or relative to cwd), or NULL */
        struct strv *scratch; /* -S destinations inside the container */
        bool contain, home_given;
        const char *cwd;       /* for a relative workdir */
        const char *home_dest; /* the home inside the container */
};

struct workdir_plan {
        struct strv binds; /* bind specs to add (workdir-backed dirs) */
        struct strv tmpfs; /* scratch destinations the starter makes tmpfs mounts on */
        char *home_spec;   /* the starter's --home SRC:DST from the workdir, or NULL */
};

/* Scratch directories are tmpfs mounts unless -W gives them a host home,
 * WORKDIR/scratch/<NAME>; with --contain the workdir also backs /tmp
 * (WORKDIR/tmp), /var/tmp (WORKDIR/var_tmp) and, without --home, the home
 * (WORKDIR/home), as Apptainer does. Every directory is made here, as the
 * user, mode 0700, never through a symlink. */
int workdir_prepare(const struct workdir_request *req, struct workdir_plan *out, sing_err_t *e);
void workdir_plan_free(struct workdir_plan *p);

#endif
