/* Where an instance's record and logs live, and writing the record (libc
 * only: the light binary starts instances). Layout, as Apptainer's:
 *   ~/.singularity/instances/app/HOST/USER/NAME/NAME.json
 *   ~/.singularity/instances/logs/HOST/USER/NAME.{out,err}
 * HOME from the password database. Every directory is the user's, 0700: no
 * other user can list, read or forge them. The record is still only a hint
 * to the runtime (instance_read.h, starter/instance_join.c). */
#ifndef SING_INSTANCE_RECORD_H
#define SING_INSTANCE_RECORD_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define INSTANCE_NAME_MAX 64

struct instance_paths {
        char app_dir[PATH_MAX]; /* .../app/HOST/USER (one subdirectory per instance) */
        char dir[PATH_MAX];     /* .../app/HOST/USER/NAME */
        char record[PATH_MAX];  /* .../NAME/NAME.json */
        char log_out[PATH_MAX]; /* .../logs/HOST/USER/NAME.out */
        char log_err[PATH_MAX];
};

struct instance_record {
        char name[INSTANCE_NAME_MAX + 1];
        pid_t pid;                     /* the instance's container process, as the host sees it */
        pid_t ppid;                    /* the starter that runs it */
        unsigned long long start_time; /* /proc/PID/stat field 22 */
        char image[PATH_MAX];
        char log_out[PATH_MAX], log_err[PATH_MAX];
};

/* Letters, digits, '.', '_', '-'; not starting with '.'; at most 64. */
int instance_name_check(const char *name, sing_err_t *e);

/* Fill the paths for NAME (NULL: only app_dir). make: create the
 * directories (0700; an existing one must be a directory of the user's). */
int instance_paths_get(const char *name, bool make, struct instance_paths *p, sing_err_t *e);

/* Write the record atomically (temp file, rename), 0600. */
int instance_record_write(const struct instance_paths *p, const struct instance_record *r,
                          sing_err_t *e);

#endif
