/* Reading instance records back, and checking them against the process
 * they name. A record is the user's own file but still input: it is parsed
 * strictly (bounded, typed fields), and every use goes through
 * proc_identity_open(), which proves the pid is alive, the user's, and the
 * process that started at the recorded time. */
#ifndef SING_INSTANCE_READ_H
#define SING_INSTANCE_READ_H

#include <stdbool.h>

#include "error.h"
#include "instance_record.h"
#include "proc_identity.h"

/* Parse NAME's record. -1 (e->code ENOENT when there is none). */
int instance_record_read(const struct instance_paths *p, struct instance_record *r, sing_err_t *e);

enum instance_state { INSTANCE_RUNNING, INSTANCE_GONE };

/* Open the record's process. INSTANCE_GONE: it exited (or the pid now names
 * another process), so the record is stale. -1: the pid is alive but not
 * the user's instance (a forged or foreign record): refused, e says why. */
int instance_check(const struct instance_record *r, struct proc_identity *proc,
                   enum instance_state *state, sing_err_t *e);

/* Remove a stale record and its directory (the logs stay). */
void instance_record_remove(const struct instance_paths *p);

#endif
