/* Resolve paths inside a root directory without ever leaving it: symlinks
 * (absolute or relative) and ".." are resolved as if the root were "/".
 * Used for extraction into a sandbox and for bind destinations in the
 * starter. libc only; errors are reported through errno (return -1). */
#ifndef SING_SAFEPATH_H
#define SING_SAFEPATH_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

/* Symlinks followed in one resolution before giving up with ELOOP (the
 * kernel's own limit). */
#define SAFEPATH_MAX_SYMLINKS 40

/* open(2) `path` relative to `rootfd`, confined to the root. Uses openat2(2)
 * with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, or, where the kernel lacks it
 * (ENOSYS), a component-by-component walk that resolves symlinks itself.
 * A trailing symlink is followed (inside the root) unless flags has
 * O_NOFOLLOW. O_CLOEXEC is always added. Returns an fd, or -1 with errno. */
int safe_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

/* Like safe_open_in_root(), and never leaving the mount of `rootfd` either
 * (RESOLVE_NO_XDEV): for reading files of one file system (an image) when
 * other mounts are stacked inside it. Without openat2(2) the walk is used
 * and the result must be on the same device as the root (EXDEV). */
int safe_open_in_mount(int rootfd, const char *path, int flags);

/* open(2) of a host path that refuses magic links (/proc/PID/root, cwd,
 * fd/N) anywhere in it (openat2 RESOLVE_NO_MAGICLINKS; ELOOP). Without
 * openat2(2), a path that lexically starts with /proc or /dev/fd is
 * refused instead (EPERM). O_CLOEXEC is always added. */
int safe_open_no_magiclinks(const char *path, int flags);

/* Open the directory that holds the last component of `path` inside the root
 * and copy that component to `last` (NAME_MAX + 1 bytes). Trailing slashes
 * are ignored. The last component must not be "", "." or ".." (EINVAL).
 * With `create` the parent directories are made (mode 0755) when missing.
 * Returns an O_RDONLY | O_DIRECTORY fd, or -1 with errno. */
int safe_open_parent_in_root(int rootfd, const char *path, bool create, char last[NAME_MAX + 1]);

/* Tests: force the component walk even where openat2(2) exists. */
void safepath_force_fallback(bool on);

#endif
