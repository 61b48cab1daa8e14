#include "remove_tree.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

/* nftw callbacks share these (it has no context argument). */
static unsigned unreadable_dirs; /* what the last unlock pass opened up */
static int first_errno;          /* of the first entry that stayed */

static int unlock_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)ftw;
        if ((flag == FTW_D || flag == FTW_DNR) && (st->st_mode & 0700) != 0700 &&
            chmod(path, (st->st_mode & 07777) | 0700) == 0 && flag == FTW_DNR)
                unreadable_dirs++;
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && !first_errno)
                first_errno = errno;
        return 0;
}

int remove_tree(const char *path)
{
        /* Entries of a 0555 or 000 directory not even its owner can remove:
         * make the directories rwx first. A 000 directory is opened only in
         * the pass after its mode was fixed, hence the passes (one per level
         * of nesting). nftw, not a recursion of our own: bounded fds. */
        for (unsigned pass = 0; pass < 64; pass++) {
                unreadable_dirs = 0;
                if (nftw(path, unlock_dir, 16, FTW_PHYS) < 0 || unreadable_dirs == 0)
                        break;
        }
        first_errno = 0;
        if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
                return -1;
        if (first_errno) {
                errno = first_errno;
                return -1;
        }
        return 0;
}
