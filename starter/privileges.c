#include "privileges.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

static char *xstrdup(const char *s)
{
        char *r = strdup(s ? s : "");
        if (!r)
                die("out of memory");
        return r;
}

void user_lookup(struct user_info *u)
{
        struct passwd *pw;
        memset(u, 0, sizeof(*u));
        u->uid = getuid();
        u->gid = getgid();
        errno = 0;
        pw = getpwuid(u->uid);
        if (!pw)
                die("looking up uid %u: no such user in the user database", (unsigned)u->uid);
        u->name = xstrdup(pw->pw_name);
        u->gecos = xstrdup(pw->pw_gecos);
        u->home = xstrdup(pw->pw_dir);
        u->shell = xstrdup(pw->pw_shell);
        /* The caller's own supplementary groups (kernel state, not the group
         * database): a group the caller has dropped is not given back, and
         * no NSS module is asked to enumerate every group. */
        u->ngroups = getgroups(MAX_USER_GROUPS - 1, u->groups);
        if (u->ngroups < 0)
                die_errno("reading the supplementary groups (more than %d?)", MAX_USER_GROUPS - 1);
        bool has_primary = false;
        for (int i = 0; i < u->ngroups; i++)
                has_primary |= u->groups[i] == u->gid;
        if (!has_primary)
                u->groups[u->ngroups++] = u->gid;
        for (int i = 0; i < u->ngroups; i++) {
                struct group *gr = getgrgid(u->groups[i]);
                u->group_names[i] = gr ? xstrdup(gr->gr_name) : NULL;
        }
}

void fs_as_user(const struct user_info *u)
{
        setfsgid(u->gid);
        setfsuid(u->uid);
        /* setfsuid() reports no error: an invalid call returns the current id. */
        if ((uid_t)setfsuid(-1) != u->uid || (gid_t)setfsgid(-1) != u->gid)
                die("switching to the user's file-system ids: the change did not take");
}

void fs_as_root(void)
{
        uid_t euid = geteuid();
        gid_t egid = getegid();
        setfsuid(euid);
        setfsgid(egid);
        if ((uid_t)setfsuid(-1) != euid || (gid_t)setfsgid(-1) != egid)
                die("restoring file-system ids: the change did not take");
}

void become_user_now(const struct user_info *u)
{
        if (setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
                die_errno("dropping to uid %u", (unsigned)u->uid);
        if (u->uid != 0 && setresuid(-1, 0, -1) == 0)
                die("dropping to uid %u: root could be regained", (unsigned)u->uid);
        /* Dumpable again so that /proc/self/uid_map belongs to the user. */
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
                die_errno("prctl(PR_SET_DUMPABLE)");
}

static void write_proc_self(const char *file, const char *text)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/%s", file);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                die_errno("writing %s", path);
}

void enter_user_namespace(const struct user_info *u)
{
        char map[64];
        if (unshare(CLONE_NEWUSER) < 0)
                die_errno("creating a user namespace (unprivileged mode)");
        write_proc_self("setgroups", "deny");
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)u->uid, (unsigned)u->uid);
        write_proc_self("uid_map", map);
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)u->gid, (unsigned)u->gid);
        write_proc_self("gid_map", map);
}

void user_as_fakeroot(struct user_info *u)
{
        u->uid = 0;
        u->gid = 0;
        u->name = xstrdup("root");
        u->ngroups = 1;
        u->groups[0] = 0;
        u->group_names[0] = xstrdup("root");
}

void enter_fakeroot_namespace(uid_t uid, gid_t gid, int helper_fd)
{
        char map[64], answer[2];
        if (unshare(CLONE_NEWUSER) < 0)
                die_errno("creating the --fakeroot user namespace");
        if (helper_fd < 0) {
                write_proc_self("setgroups", "deny");
                snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
                write_proc_self("uid_map", map);
                snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
                write_proc_self("gid_map", map);
                return;
        }
        /* The helper outside maps us: our pid (as its namespace sees it, which
         * is ours: no pid namespace is made yet), then "ok". */
        if (dprintf(helper_fd, "%d", (int)getpid()) < 0 ||
            read(helper_fd, answer, sizeof(answer)) != (ssize_t)sizeof(answer) ||
            memcmp(answer, "ok", 2) != 0)
                die("--fakeroot: the id-mapping helper did not map the user namespace (see "
                    "above)");
        close(helper_fd);
        if (getuid() != 0 || getgid() != 0)
                die("--fakeroot: uid %u is not root in the user namespace", (unsigned)getuid());
}

void stay_fakeroot(const struct user_info *u)
{
        /* EPERM: setgroups is denied where only our own ids are mapped. */
        if (setgroups((size_t)u->ngroups, u->groups) < 0 && errno != EPERM)
                die_errno("setgroups");
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                die_errno("becoming root of the --fakeroot user namespace");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                die_errno("prctl(PR_SET_NO_NEW_PRIVS)");
        uid_t r, e, s;
        if (getresuid(&r, &e, &s) < 0 || r || e || s || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                die("--fakeroot: not root with no_new_privs in the user namespace");
}

static void verify_dropped(const struct user_info *u, bool in_userns)
{
        uid_t r, e, s;
        gid_t rg, eg, sg;
        int last = (int)cap_max_bits() - 1;
        if (getresuid(&r, &e, &s) < 0 || r != u->uid || e != u->uid || s != u->uid)
                die("privilege drop failed: uids are not all %u", (unsigned)u->uid);
        if (getresgid(&rg, &eg, &sg) < 0 || rg != u->gid || eg != u->gid || sg != u->gid)
                die("privilege drop failed: gids are not all %u", (unsigned)u->gid);
        if (!in_userns && getgroups(0, NULL) != u->ngroups)
                die("privilege drop failed: supplementary groups did not change");
        cap_t now = cap_get_proc(), empty = cap_init();
        if (!now || !empty || cap_compare(now, empty) != 0)
                die("privilege drop failed: capabilities remain");
        cap_free(now);
        cap_free(empty);
        for (int cap = 0; cap <= last; cap++) {
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
                        die("privilege drop failed: capability %d is still in the bounding set",
                            cap);
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
                        die("privilege drop failed: capability %d is still ambient", cap);
        }
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                die("privilege drop failed: no_new_privs is not set");
        if (u->uid != 0 && setresuid(-1, 0, -1) == 0)
                die("privilege drop failed: root could be regained");
}

void drop_privileges(const struct user_info *u, bool in_userns)
{
        int last = (int)cap_max_bits() - 1;
        if (!in_userns && setgroups(u->ngroups, u->groups) < 0)
                die_errno("setgroups");
        if (setresgid(u->gid, u->gid, u->gid) < 0)
                die_errno("setresgid(%u)", (unsigned)u->gid);
        /* The bounding set needs CAP_SETPCAP: drop it before the uid change. */
        for (int cap = 0; cap <= last; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        die_errno("dropping capability %d from the bounding set", cap);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                die_errno("clearing ambient capabilities");
        if (setresuid(u->uid, u->uid, u->uid) < 0)
                die_errno("setresuid(%u)", (unsigned)u->uid);
        /* Root (uid 0) and user-namespace mode keep capabilities across the
         * uid change: clear all sets explicitly. */
        cap_t empty = cap_init();
        if (!empty || cap_set_proc(empty) < 0)
                die_errno("clearing capabilities");
        cap_free(empty);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                die_errno("prctl(PR_SET_NO_NEW_PRIVS)");
        verify_dropped(u, in_userns);
}
