/* A placement hint for a directory tree a build is about to fill. */
#pragma once

/* Ask the filesystem to place the directories made inside DIR as it places
 * top-level ones (FS_TOPDIR_FL). A hint only: a filesystem without the flag
 * (tmpfs, tested; most but the ext family) refuses it, and nothing changes. */
void tree_hint_spread(const char *dir);
