/* mkdir -p, written once. A path is walked one component at a time from a
 * directory descriptor; a missing component is made (with `mode`) in the
 * directory just opened, never through a path a symlink could redirect, and
 * then opened again. Two rules for opening a component:
 *   mkdir_p_below:        O_NOFOLLOW from its parent: a symlink anywhere on
 *                         the way is an error (a private tree of the user's:
 *                         the cache, instance records);
 *   safe_mkdir_p_in_root: resolved inside the root (safepath.h): symlinks are
 *                         followed as if the root were "/" (an image's tree).
 * The starter's walk (starter/mount_exec.c, open_in_root) is not this one:
 * it changes between the user's and root's file-system ids per component
 * and may create a file as the last one.
 * libc only; errors through errno (return -1). */
#ifndef SING_MKDIR_P_H
#define SING_MKDIR_P_H

#include <stdbool.h>
#include <sys/types.h>

/* Called with every directory the walk holds: `dirfd`'s own directory first
 * (prefix ""), then each component once opened (prefix: the path so far, as
 * given, relative to dirfd); `last` for the final one (dirfd itself when the
 * path names nothing below it). Anything but 0 stops the walk, which then
 * returns -1 with errno as the callback left it. */
typedef int (*mkdir_p_check_fn)(int fd, const char *prefix, bool last, void *arg);

/* `path` below `dirfd`, every component opened with O_NOFOLLOW and made
 * when missing. "." and ".." are refused (EINVAL): each component names a
 * directory below the previous one. `check` may be NULL. Returns an
 * O_RDONLY | O_DIRECTORY descriptor of the last directory, or -1 with errno
 * (ELOOP or ENOTDIR: a symlink or a non-directory on the way). */
int mkdir_p_below(int dirfd, const char *path, mode_t mode, mkdir_p_check_fn check, void *arg);

/* `path` and its missing parents inside the root `rootfd` (each prefix
 * resolved with safe_open_in_root), new ones with `mode`. Returns an
 * O_RDONLY | O_DIRECTORY descriptor (usable with *at() calls and
 * fchmod/fchown), or -1 with errno. */
int safe_mkdir_p_in_root(int rootfd, const char *path, mode_t mode);

#endif
