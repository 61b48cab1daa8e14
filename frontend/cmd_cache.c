/* `singularity cache list [-v] [--type blob|sif|all]` and `singularity cache
 * clean [--days N] [--type ...] [--dry-run] [-f]`. Clean removes only what
 * nothing uses: an entry whose cache lock a pull holds (the blob being
 * fetched, the SIF being converted or copied) is skipped, and so is a SIF
 * that a running container holds (an open fd of one of the user's
 * processes, or a loop device backed by it); it takes the entry's lock
 * itself while removing it, so a pull that starts meanwhile waits and then
 * finds no entry. Stale temp files of dead processes go too (temp_sweep). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cleanup.h"
#include "commands.h"
#include "envopts.h"
#include "log.h"

const char usage_cache[] =
    "Usage:\n"
    "  singularity cache list [-v] [--type blob|sif|all]\n"
    "  singularity cache clean [--days N] [--type blob|sif|all] [--dry-run] [-f]\n"
    "\n"
    "Description:\n"
    "  list: what the cache holds (the layer blobs of docker:// images and the\n"
    "        SIFs converted from them), sizes and last use; -v one line each.\n"
    "  clean: remove cached entries nothing uses (never one a running pull or\n"
    "        container holds), only those unused for N days with --days, and the\n"
    "        temporary files of pulls that were killed. Asks first unless -f;\n"
    "        --dry-run only says what it would remove.\n"
    "  --type: blob (oci-blob), sif (oci-tmp) or all (default).\n"
    "\n"
    "The cache is $SINGULARITY_CACHEDIR, else ~/.singularity/cache. A read-only\n"
    "cache (an administrator's shared one) can be listed, not cleaned.\n";

enum { T_BLOB = 1, T_SIF = 2, T_ALL = 3 };

struct entry {
        int type;
        char name[256]; /* file name in its directory */
        off_t size;     /* allocated bytes */
        time_t used;    /* the later of atime and mtime */
        dev_t dev;
        ino_t ino;
        nlink_t nlink; /* > 1: also a pulled file (cache_sif_out.h) */
};

static int parse_type(const char *s)
{
        if (!strcmp(s, "blob") || !strcmp(s, "blobs") || !strcmp(s, "oci-blob"))
                return T_BLOB;
        if (!strcmp(s, "sif") || !strcmp(s, "oci-tmp"))
                return T_SIF;
        if (!strcmp(s, "all"))
                return T_ALL;
        return 0;
}

static const char *type_dir(int type)
{
        return type == T_BLOB ? "blobs/sha256" : "sif";
}

/* Entries of one type: regular files, not temp files (".*"). */
static int scan(const struct cache *c, int type, struct entry **list, size_t *n)
{
        _cleanup_close_ int dfd =
            openat(c->fd, type_dir(type), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -1;
        int dup_fd = dup(dfd);
        _cleanup_closedir_ DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof((*list)->name) ||
                    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                struct entry *grown = realloc(*list, (*n + 1) * sizeof(**list));
                if (!grown)
                        return -1;
                *list = grown;
                struct entry *e = &grown[(*n)++];
                e->type = type;
                snprintf(e->name, sizeof(e->name), "%s", de->d_name);
                e->size = (off_t)st.st_blocks * 512;
                e->used = st.st_atime > st.st_mtime ? st.st_atime : st.st_mtime;
                e->dev = st.st_dev;
                e->ino = st.st_ino;
                e->nlink = st.st_nlink;
        }
        return 0;
}

static void human(off_t bytes, char *buf, size_t len)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)bytes;
        size_t u = 0;
        while (v >= 1024 && u < 4) {
                v /= 1024;
                u++;
        }
        snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", v, units[u]);
}

/* The lock a pull holds on the entry: the blob's digest hex, "sif-<hex>-<arch>". */
static void lock_name(const struct entry *e, char *buf, size_t len)
{
        if (e->type == T_BLOB) {
                snprintf(buf, len, "%s", e->name);
        } else {
                size_t n = strlen(e->name);
                snprintf(buf, len, "sif-%.*s", (int)(n > 4 ? n - 4 : n), e->name);
        }
}

/* The identity record of the entry (cache.h), removed with it. */
static void record_name(const struct entry *e, char *buf, size_t len)
{
        char lock[300];
        lock_name(e, lock, sizeof(lock));
        snprintf(buf, len, e->type == T_BLOB ? "blob-%s" : "%s", lock);
}

/* A process of ours with the file open (its fd, or mapped), or a loop
 * device backed by it: a running container. Processes we may not inspect
 * (another user's, the setuid starter's) cannot hold our cache open except
 * through a loop device, which /sys shows. */
static bool held_by_a_process(const struct cache *c, const struct entry *e)
{
        char path[PATH_MAX];
        _cleanup_closedir_ DIR *proc = opendir("/proc");
        for (struct dirent *de; proc && (de = readdir(proc));) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
                _cleanup_closedir_ DIR *fds = opendir(path);
                for (struct dirent *fe; fds && (fe = readdir(fds));) {
                        struct stat st;
                        if (fe->d_name[0] != '.' && fstatat(dirfd(fds), fe->d_name, &st, 0) == 0 &&
                            st.st_dev == e->dev && st.st_ino == e->ino)
                                return true;
                }
        }
        char want[PATH_MAX];
        snprintf(want, sizeof(want), "%s/%s/%s", c->root, type_dir(e->type), e->name);
        _cleanup_closedir_ DIR *blk = opendir("/sys/block");
        for (struct dirent *de; blk && (de = readdir(blk));) {
                if (strncmp(de->d_name, "loop", 4) != 0)
                        continue;
                snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                char line[PATH_MAX];
                if (f && fgets(line, sizeof(line), f)) {
                        line[strcspn(line, "\n")] = '\0';
                        if (strcmp(line, want) == 0)
                                return true;
                }
        }
        return false;
}

static int cmd_list(int argc, char **argv, struct cache *c)
{
        static const struct option opts[] = {{"verbose", no_argument, NULL, 'v'},
                                             {"type", required_argument, NULL, 'T'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        int opt, types = T_ALL;
        bool verbose = false;
        while ((opt = getopt_long(argc, argv, "+vT:h", opts, NULL)) != -1) {
                if (opt == 'v')
                        verbose = true;
                else if (opt == 'T' && (types = parse_type(optarg)) == 0)
                        return log_error("cache list --type %s: expected blob, sif or all", optarg),
                               255;
                else if (opt == 'h')
                        return fputs(usage_cache, stdout), 0;
                else if (opt != 'T')
                        return fputs(usage_cache, stderr), 255;
        }
        struct entry *list = NULL;
        size_t n = 0;
        off_t total[4] = {0};
        size_t count[4] = {0};
        for (int t = T_BLOB; t <= T_SIF; t++)
                if ((types & t) && scan(c, t, &list, &n) < 0) {
                        log_error("reading the cache %s: %s", c->root, strerror(errno));
                        free(list);
                        return 255;
                }
        if (verbose)
                printf("%-72s %-19s %-11s %s\n", "NAME", "LAST USED", "SIZE", "TYPE");
        for (size_t i = 0; i < n; i++) {
                char when[32], size[32];
                struct tm tm;
                total[list[i].type] += list[i].size;
                count[list[i].type]++;
                if (!verbose)
                        continue;
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&list[i].used, &tm));
                human(list[i].size, size, sizeof(size));
                printf("%-72s %-19s %-11s %s%s\n", list[i].name, when, size,
                       list[i].type == T_BLOB ? "blob" : "sif",
                       list[i].nlink > 1 ? " (hard link of a pulled file: no space of its own)"
                                         : "");
        }
        char sifs[32], blobs[32], all[32];
        human(total[T_SIF], sifs, sizeof(sifs));
        human(total[T_BLOB], blobs, sizeof(blobs));
        human(total[T_SIF] + total[T_BLOB], all, sizeof(all));
        printf("There are %zu container file(s) using %s and %zu oci blob file(s) using %s of "
               "space\nTotal space used: %s\n",
               count[T_SIF], sifs, count[T_BLOB], blobs, all);
        free(list);
        return 0;
}

static bool confirmed(void)
{
        char answer[16] = "";
        fprintf(stderr, "This will remove the unused entries of your cache. Continue? [N/y] ");
        if (!fgets(answer, sizeof(answer), stdin))
                return false;
        return answer[0] == 'y' || answer[0] == 'Y';
}

static int cmd_clean(int argc, char **argv, struct cache *c)
{
        static const struct option opts[] = {
            {"days", required_argument, NULL, 'D'}, {"type", required_argument, NULL, 'T'},
            {"dry-run", no_argument, NULL, 'n'},    {"force", no_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
        int opt, types = T_ALL;
        long days = -1;
        bool dry = false, force = false;
        char *end;
        while ((opt = getopt_long(argc, argv, "+D:T:nfh", opts, NULL)) != -1) {
                switch (opt) {
                case 'D':
                        days = strtol(optarg, &end, 10);
                        if (!*optarg || *end || days < 0 || days > 36500)
                                return log_error("cache clean --days %s: expected a number of days",
                                                 optarg),
                                       255;
                        break;
                case 'T':
                        if ((types = parse_type(optarg)) == 0)
                                return log_error("cache clean --type %s: expected blob, sif or all",
                                                 optarg),
                                       255;
                        break;
                case 'n':
                        dry = true;
                        break;
                case 'f':
                        force = true;
                        break;
                case 'h':
                        return fputs(usage_cache, stdout), 0;
                default:
                        return fputs(usage_cache, stderr), 255;
                }
        }
        if (optind != argc)
                return log_error("cache clean takes no arguments; see 'singularity help cache'"),
                       255;
        if (!dry && !force && !confirmed()) {
                log_info("nothing removed");
                return 0;
        }
        struct entry *list = NULL;
        size_t n = 0, removed = 0, kept = 0;
        off_t freed = 0;
        time_t cutoff = days >= 0 ? time(NULL) - days * 86400 : 0;
        for (int t = T_BLOB; t <= T_SIF; t++)
                if ((types & t) && scan(c, t, &list, &n) < 0) {
                        log_error("reading the cache %s: %s", c->root, strerror(errno));
                        free(list);
                        return 255;
                }
        int rc = 0, excl = -1;
        /* A running pull may read any cached blob next: none goes while one
         * runs (SIFs are locked one by one). */
        bool no_pull = cache_try_exclusive(c, &excl);
        if (!no_pull && (types & T_BLOB))
                log_info("a pull is using the cache: keeping every blob");
        for (size_t i = 0; i < n; i++) {
                struct entry *en = &list[i];
                if (en->type == T_BLOB && !no_pull) {
                        kept++;
                        continue;
                }
                char lock[300], rec[320], rel[PATH_MAX];
                int lockfd = -1;
                sing_err_t e;
                if (days >= 0 && en->used > cutoff)
                        continue;
                lock_name(en, lock, sizeof(lock));
                int got = cache_lock(c, lock, false, &lockfd, &e);
                if (got <= 0 || held_by_a_process(c, en)) {
                        if (got < 0)
                                log_warn("%s", e.msg);
                        log_verbose("in use, kept: %s", en->name);
                        kept++;
                        if (lockfd >= 0)
                                close(lockfd);
                        continue;
                }
                snprintf(rel, sizeof(rel), "%s/%s", type_dir(en->type), en->name);
                if (dry) {
                        printf("would remove %s/%s\n", c->root, rel);
                } else if (unlinkat(c->fd, rel, 0) < 0 && errno != ENOENT) {
                        log_error("removing %s/%s: %s", c->root, rel, strerror(errno));
                        rc = 255;
                        close(lockfd);
                        continue;
                } else {
                        record_name(en, rec, sizeof(rec));
                        char vrel[400];
                        snprintf(vrel, sizeof(vrel), "verified/%s", rec);
                        unlinkat(c->fd, vrel, 0);
                        log_verbose("removed %s/%s", c->root, rel);
                }
                close(lockfd);
                removed++;
                freed += en->size;
        }
        if (excl >= 0)
                close(excl);
        unsigned temps = 0;
        if (!dry) {
                static const char *const dirs[] = {"blobs/sha256", "sif", "verified"};
                for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                        _cleanup_close_ int fd =
                            openat(c->fd, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0)
                                temps += temp_sweep(fd, NULL);
                }
        }
        char size[32];
        human(freed, size, sizeof(size));
        log_info("%s %zu cache entr%s (%s), kept %zu in use; removed %u temporary file(s) of "
                 "dead processes",
                 dry ? "would remove" : "removed", removed, removed == 1 ? "y" : "ies", size, kept,
                 temps);
        free(list);
        return rc;
}

int cmd_cache(int argc, char **argv)
{
        struct cache_opts co = {0};
        struct cache c;
        sing_err_t e;
        if (argc < 2)
                return log_error("cache: expected list or clean; see 'singularity help cache'"),
                       255;
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
                return fputs(usage_cache, stdout), 0;
        bool list = !strcmp(argv[1], "list"), clean = !strcmp(argv[1], "clean");
        if (!list && !clean)
                return log_error("cache %s: unknown subcommand; expected list or clean", argv[1]),
                       255;
        if (cache_opts_from_env(&co, &e) < 0)
                return log_error("%s", e.msg), 255;
        co.lookup_only = true; /* a read-only cache: listed, never written */
        if (cache_open(&c, &co, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        if (c.shared_root && clean) {
                log_error("the cache directory %s is read-only (an administrator's shared cache, "
                          "not yours to clean)",
                          c.shared_root);
                cache_close(&c);
                return 255;
        }
        optind = 1;
        int rc;
        if (c.shared_root) {
                /* Listing the read-only cache: a view of it, no private part. */
                struct cache view = {
                    .root = c.shared_root, .fd = c.shared_fd, .use_fd = -1, .shared_fd = -1};
                rc = cmd_list(argc - 1, argv + 1, &view);
        } else {
                rc = list ? cmd_list(argc - 1, argv + 1, &c) : cmd_clean(argc - 1, argv + 1, &c);
        }
        cache_close(&c);
        return rc;
}
