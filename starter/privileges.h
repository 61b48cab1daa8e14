/* Who the user is, acting with the user's file-system rights, and the final
 * irreversible drop of every privilege before the container process runs. */
#ifndef STARTER_PRIVILEGES_H
#define STARTER_PRIVILEGES_H

#include <stdbool.h>
#include <sys/types.h>

#define MAX_USER_GROUPS 256

struct user_info {
        uid_t uid;
        gid_t gid;
        char *name, *gecos, *home, *shell;
        int ngroups; /* the caller's supplementary groups, primary included */
        gid_t groups[MAX_USER_GROUPS];
        char *group_names[MAX_USER_GROUPS]; /* NULL when the gid has no name */
};

/* Look up the real uid in the host's user database (never $HOME or $USER);
 * the groups are the caller's current ones (getgroups), named from the
 * database. Must run before any mount: NSS must read the host's files. */
void user_lookup(struct user_info *u);

/* Switch the file-system ids to the user (and back), so that open() checks
 * the user's permissions and not root's. Dies if the switch did not take. */
void fs_as_user(const struct user_info *u);
void fs_as_root(void);

/* `allow setuid = no`: become the user for good right away, then continue
 * as an unprivileged starter. */
void become_user_now(const struct user_info *u);

/* Unprivileged mode: a new user namespace mapping the user to itself. The
 * container's other namespaces are made in it afterwards (main.c), once the
 * FUSE server, which must drop its bounding set there, has been forked. */
void enter_user_namespace(const struct user_info *u);

/* --fakeroot: who the user is inside from now on, root (uid 0, gid 0, group
 * root); the home (the host directory bound at /root) stays the user's. */
void user_as_fakeroot(struct user_info *u);

/* --fakeroot: a new user namespace where the user's host ids uid/gid are 0. With helper_fd (the
 * frontend's helper, which runs newuidmap/newgidmap) 1..N are the user's subordinate ids; with -1
 * only the user's own ids are mapped, written here. */
void enter_fakeroot_namespace(uid_t uid, gid_t gid, int helper_fd);

/* --fakeroot's last step instead of drop_privileges(): root of the user
 * namespace keeps its capabilities there (they act only on what the
 * namespace owns, never on the host: chown to the mapped ids, package
 * installs), with no_new_privs set. */
void stay_fakeroot(const struct user_info *u);

/* Drop every privilege for good (groups, gids, uids, all capability sets
 * including bounding and ambient, no_new_privs), then re-read each and die
 * if any did not take. `in_userns`: groups cannot be changed there. */
void drop_privileges(const struct user_info *u, bool in_userns);

#endif
