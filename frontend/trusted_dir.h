/* Opening a directory (the cache) that no other user can swap under us.
 * Every component of the path is opened with O_NOFOLLOW from its parent's
 * descriptor and checked: each parent must be owned by root or by us and
 * not writable by group or others, unless it is sticky (a root-owned /tmp:
 * others cannot rename or remove our entries there). The directory itself
 * must be ours; its group and other permission bits are cleared (none are
 * added). Components that do not exist are created
 * 0700. A symlink in the path given is resolved once, up front (realpath),
 * and the walk then refuses any symlink it meets, so a swap after that
 * fails instead of redirecting us.
 *
 * Once that holds, only we (and root) can change what any component of the
 * returned path names, so handing the path to another process (the
 * starter, mksquashfs) is as safe as the descriptor. */
#ifndef SING_TRUSTED_DIR_H
#define SING_TRUSTED_DIR_H

#include "error.h"

/* `what` names the directory in messages ("cache directory"). Returns an
 * O_DIRECTORY descriptor and the canonical path in *canon (malloc'd). */
int trusted_dir_open(const char *path, const char *what, char **canon, sing_err_t *e);

#endif
