/* A file that appears under its final name only when complete. Where the
 * file system allows, it is an O_TMPFILE (no name at all until published,
 * so even SIGKILL leaves nothing behind); elsewhere a named temp beside the
 * final name, ".<name>.tmp-<pid>-XXXXXX", registered with tempfile.h for
 * signals and flock-ed so that a later run's temp_sweep (cache.h) can remove
 * it if its writer died. */
#ifndef SING_PENDING_FILE_H
#define SING_PENDING_FILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct pending_file {
        int fd;
        char *final;
        char *tmp; /* the named temp; NULL for an O_TMPFILE */
};

/* Create it, mode `mode` (before the umask, as open(2)). */
int pending_open(struct pending_file *pf, const char *final, mode_t mode, sing_err_t *e);
/* Give it its final name (replace: over an existing file, else EEXIST is
 * an error) and close it. On failure the file is gone. */
int pending_publish(struct pending_file *pf, bool replace, sing_err_t *e);
/* The one message for an output that is already there without --force. */
int publish_exists_error(const char *path, sing_err_t *e);

/* The publish step alone, for a complete file at the named temp tmp: rename
 * it to final (replace: over an existing file), with the one message every
 * image writer gives. tmp is left in place on failure, errno kept. */
int publish_rename(const char *tmp, const char *final, bool replace, sing_err_t *e);
/* Drop it unpublished (also after a failed publish; safe to repeat). */
void pending_abandon(struct pending_file *pf);

/* A small private record (instance, tag, cache records, registry
 * credentials): final replaced whole by the len bytes of buf, mode exactly
 * 0600 from its creation whatever the umask. durable: synced before it is
 * named (what a crash must not lose: credentials); without it a crash may
 * lose the new record, never leave a partial one (cache and tag records:
 * a lost one costs a re-hash or a registry request, and the pull path
 * writes several). On failure final is as it was and no temp is left. */
int publish_private_file(const char *final, const void *buf, size_t len, bool durable,
                         sing_err_t *e);

#endif
