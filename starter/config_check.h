/* Everything the starter checks before it does anything privileged: a
 * clean process state, not inside a user namespace, and a config file that
 * only root can have written. */
#ifndef STARTER_CONFIG_CHECK_H
#define STARTER_CONFIG_CHECK_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/* Record the caller's fds above 2 (inherited_fds.h: they are passed
 * through), give 0-2 /dev/null if closed, refuse to run in a user
 * namespace. First thing in main(). */
void sanitize_process(void);

/* Die unless the object open on fd (at `path`, for messages) is owned by
 * root and not writable by group or others, and so is every directory
 * above it up to / (a root-owned sticky directory such as /tmp is fine). */
void require_root_owned(int fd, const char *what, const char *path);

/* The same walk without the owner test: none of the `writers` mode bits
 * (S_IWGRP, S_IWOTH) on the object, nor on a directory above it unless that
 * one is root-owned and sticky. */
void require_not_writable(int fd, mode_t writers, const char *what, const char *path);

/* Read the compiled-in config file (SING_CONFIG_PATH); `privileged`: it
 * must pass require_root_owned() too. */
void config_load(struct sing_config *cfg, bool privileged);

#endif
