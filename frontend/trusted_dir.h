/* Opening a directory (the cache) that no other user can swap under us.
 * Every component of the path is opened with O_NOFOLLOW from its parent's
 * descriptor and checked: each parent must be owned by root or by us and
 * not writable by group or others, unless it is sticky (a root-owned /tmp:
 * others cannot rename or remove our entries there). The directory itself
 * must be ours; its group and other permission bits are cleared (none are
 * added; trusted_dir_needs_private). Components that do not exist are created
 * 0700. A symlink in the path given is resolved once, up front (realpath),
 * and the walk then refuses any symlink it meets, so a swap after that
 * fails instead of redirecting us.
 *
 * A directory we may only read (an admin's shared cache: root's, or ours
 * made read-only) is accepted when the caller asks for it (read_only not
 * NULL): nobody but root (or we) may write it, and its mode is left as it
 * is.
 *
 * Once that holds, only we (and root) can change what any component of the
 * returned path names, so handing the path to another process (the
 * starter, mksquashfs) is as safe as the descriptor. */
#ifndef SING_TRUSTED_DIR_H
#define SING_TRUSTED_DIR_H

#include <stdbool.h>
#include <sys/stat.h>

#include "error.h"

/* `what` names the directory in messages ("cache directory"). Returns an
 * O_DIRECTORY descriptor and the canonical path in *canon (malloc'd).
 * read_only NULL: the directory must be ours and writable. Else *read_only
 * says whether it is one we may only read (see above). */
int trusted_dir_open(const char *path, const char *what, bool *read_only, char **canon,
                     sing_err_t *e);

/* Nobody but root or we can change what names in the directory st point
 * to (owner root or us, no group/other write bit): an entry opened in it
 * with O_NOFOLLOW is the one root or we put there. */
bool trusted_dir_sealed(const struct stat *st);

/* A directory of ours whose group and other bits are to be cleared (made
 * private; never bits added, so one its owner made read-only stays so):
 * any with such bits, except root's that others may read but not write
 * (an administrator's shared cache, README "The cache"). */
bool trusted_dir_needs_private(const struct stat *st);

#endif
