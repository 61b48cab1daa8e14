/* A merge sink that creates the entries under a directory (a sandbox), with
 * common/safepath only, so nothing is ever written outside it. Owners are
 * set only when running as root; directory modes and times are set at close,
 * so that a 0555 directory can still receive its children. */
#ifndef SING_DIR_SINK_H
#define SING_DIR_SINK_H

#include "error.h"
#include "layers.h"

/* Extract under `rootfd` (duplicated; the caller keeps its fd): a new,
 * empty directory that nothing else changes during the merge (the sink
 * keeps a descriptor of the last parent directory and writes through it). */
int dir_sink_open(int rootfd, struct merge_sink *out, sing_err_t *e);
/* Apply the directory modes/times/owners and free the sink (also on
 * failure). Returns 0 or -1. */
int dir_sink_close(struct merge_sink *s, sing_err_t *e);

#endif
