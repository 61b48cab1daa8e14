/* Synthetic filesystem entries: files the frontend adds to an image tree that
 * no layer holds (the /.singularity.d metadata, mount points). The metadata
 * stage makes them; the layer merge writes them into the squashfs stream or a
 * sandbox directory. */
#ifndef SING_SYNTH_H
#define SING_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct synth_entry {
        char *path;  /* relative to the root, no leading '/', e.g. ".singularity.d/runscript" */
        mode_t mode; /* file type and permission bits: S_IFREG|0755, S_IFDIR|0755, S_IFLNK|0777 */
        uid_t uid;
        gid_t gid;
        int64_t mtime;
        char *data; /* S_IFREG content (may contain NULs), else NULL */
        size_t len;
        char *link; /* S_IFLNK target, else NULL */
};

struct synth_list {
        struct synth_entry *v;
        size_t n, cap;
};

/* Append a copy of the given fields (strings and data are duplicated).
 * Returns 0, or -1 on allocation failure. */
int synth_add(struct synth_list *l, const char *path, mode_t mode, const void *data, size_t len,
              const char *link);
void synth_list_free(struct synth_list *l);

#endif
