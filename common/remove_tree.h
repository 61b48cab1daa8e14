/* Removing a directory tree, for both sides: the frontend's temporary
 * sandboxes and caches, the starter's extracted image (as the user). */
#ifndef SING_REMOVE_TREE_H
#define SING_REMOVE_TREE_H

/* Remove path and everything below it without following symlinks, making
 * the caller's own read-only directories (an image's 0555 or 000 ones)
 * writable first. Not thread-safe (nftw has no context argument). Returns
 * 0 when all is gone, -1 with errno set otherwise (ENOENT: path missing). */
int remove_tree(const char *path);

#endif
