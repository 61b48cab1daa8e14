/* Temp files that must not survive an interrupted command: a signal handler
 * removes the registered paths and kills the registered child (mksquashfs)
 * before the process dies, so no partial SIF or blob is ever left behind. */
#ifndef SING_TEMPFILE_H
#define SING_TEMPFILE_H

#include <signal.h>
#include <sys/types.h>

/* Install handlers for SIGINT, SIGTERM, SIGHUP (once). */
void tempfile_install_handlers(void);
/* Register / forget a path (the string must stay valid while registered). */
void tempfile_register(const char *path);
void tempfile_forget(const char *path);
/* A temp directory, removed with its contents (rm -rf in a child: fork and
 * exec are safe in a signal handler, a tree walk is not). */
void tempfile_register_dir(const char *path);
void tempfile_forget_dir(const char *path);
/* Hold SIGINT/SIGTERM/SIGHUP between starting a child and registering it,
 * so an interrupt cannot fall in between. */
void tempfile_block_signals(sigset_t *old);
void tempfile_restore_signals(const sigset_t *old);
void tempfile_register_child(pid_t pid);
/* A forked child that keeps these handlers and registers temp files of its
 * own (the build's user-namespace child: the blobs it downloads, the tree
 * it owns): on a signal it gets the same signal first and up to 30 s to
 * clean up, then SIGKILL. */
void tempfile_register_cleaning_child(pid_t pid);
/* Either kind, once reaped (its pid may be reused). */
void tempfile_forget_child(pid_t pid);

#endif
