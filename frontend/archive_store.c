#include "archive_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "cache.h"
#include "cleanup.h"
#include "remove_tree.h"
#include "convert.h"
#include "file_digest.h"
#include "fileio.h"
#include "layers.h"
#include "log.h"
#include "path.h"
#include "tempfile.h"

#define MAX_LINK_HOPS 16

/* `target` of a link in member `from`, as a member name: relative to the
 * link's directory, an absolute target from the archive's root; ".." may
 * climb but not above the root. Returns 0, or -1 when it leaves the root
 * or is too long. */
static int resolve_link(const char *from, const char *target, bool hard, char out[LAYERS_MAX_PATH])
{
        char joined[2 * LAYERS_MAX_PATH];
        const char *slash = strrchr(from, '/');
        int n;
        /* A hardlink's target is a member name, a symlink's is relative. */
        if (hard || target[0] == '/' || !slash)
                n = snprintf(joined, sizeof(joined), "%s", target);
        else
                n = snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - from), from, target);
        if (n < 0 || (size_t)n >= sizeof(joined))
                return -1;
        return path_normalise(joined, PATH_DOTDOT_CLIMB, LAYERS_MAX_NAME, out, LAYERS_MAX_PATH) < 0
                   ? -1
                   : 0;
}

static int add_member(struct archive_store *st, struct store_member *m, sing_err_t *e)
{
        if (st->n % 64 == 0) {
                struct store_member *v = realloc(st->v, (st->n + 64) * sizeof(*v));
                if (!v)
                        return err_set(e, "out of memory");
                st->v = v;
        }
        st->v[st->n++] = *m;
        return 0;
}

/* The member's data into a new numbered file, hashed on the way. */
static int store_data(struct archive *a, int dirfd, struct archive_store *st,
                      struct store_member *m, const char *what, sing_err_t *e)
{
        char fname[32];
        struct sha256_run r;
        const void *buf;
        size_t len;
        la_int64_t off;
        int d;
        snprintf(fname, sizeof(fname), "m%zu", st->n);
        if (asprintf(&m->file, "%s/%s", st->dir, fname) < 0) {
                m->file = NULL;
                return err_set(e, "out of memory");
        }
        _cleanup_close_ int fd =
            openat(dirfd, fname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return err_errno(e, "cannot create %s", m->file);
        if (sha256_begin(&r, e) < 0)
                return -1;
        m->size = 0;
        while ((d = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
                /* Sparse members: write the holes as zeros in order. */
                if (off > m->size) {
                        static const char zeros[4096];
                        while (m->size < off) {
                                size_t z = (size_t)(off - m->size) < sizeof(zeros)
                                               ? (size_t)(off - m->size)
                                               : sizeof(zeros);
                                if (write_all(fd, zeros, z) < 0)
                                        goto io_error;
                                sha256_update(&r, zeros, z);
                                m->size += (int64_t)z;
                        }
                }
                if (write_all(fd, buf, len) < 0)
                        goto io_error;
                sha256_update(&r, buf, len);
                m->size += (int64_t)len;
        }
        if (d != ARCHIVE_EOF) {
                sha256_abandon(&r);
                return err_set(e, "%s: %s: %s", what, m->name, archive_error_string(a));
        }
        sha256_end(&r, m->digest);
        if (close(fd) < 0) {
                fd = -1;
                return err_errno(e, "cannot write %s", m->file);
        }
        fd = -1;
        return 0;
io_error:
        sha256_abandon(&r);
        return err_errno(e, "cannot write %s", m->file);
}

static void member_free(struct store_member *m)
{
        free(m->name);
        free(m->file);
        free(m->link);
}

/* A compressed archive may not unpack to more than the layers' bomb limit
 * (layers.h, "max layer expansion") allows for its size: it is written out
 * to disk. Declared sizes count, zeros too. */
static int check_bomb(struct archive *a, uint64_t total, uint64_t compressed, unsigned ratio,
                      const char *what, sing_err_t *e)
{
        uint64_t limit = compressed * ratio + LAYERS_RATIO_SLACK;
        if (archive_filter_count(a) <= 1 || total <= limit)
                return 0;
        return err_set(e,
                       "%s: more than %llu MiB from %llu KiB compressed (over %ux): likely a "
                       "decompression bomb; refusing it",
                       what, (unsigned long long)(limit >> 20),
                       (unsigned long long)(compressed >> 10), ratio);
}

static int read_members(struct archive *a, int dirfd, struct archive_store *st, const char *what,
                        uint64_t compressed, sing_err_t *e)
{
        struct archive_entry *ae;
        struct squash_settings sq;
        uint64_t total = 0;
        int r;
        squash_settings_default(&sq);
        if (!sq.max_expansion)
                sq.max_expansion = LAYERS_DEFAULT_EXPANSION;
        while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                la_int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
                total += size > 0 ? (uint64_t)size : 0;
                if (check_bomb(a, total, compressed, sq.max_expansion, what, e) < 0)
                        return -1;
                const char *name = archive_entry_pathname(ae);
                const char *hard = archive_entry_hardlink(ae);
                mode_t type = archive_entry_filetype(ae);
                char norm[LAYERS_MAX_PATH], target[LAYERS_MAX_PATH];
                struct store_member m = {0};
                if (st->n >= ARCHIVE_STORE_MAX_MEMBERS)
                        return err_set(e, "%s: more than %u members; not an image archive", what,
                                       ARCHIVE_STORE_MAX_MEMBERS);
                /* A member no manifest could name (".." in it, the root, a
                 * directory, a device) is passed over: lookups refuse ".."
                 * names, so it can never be used. */
                if (!name || layers_normalise_path(name, norm) != 0)
                        continue;
                if (hard || type == AE_IFLNK) {
                        const char *t = hard ? hard : archive_entry_symlink(ae);
                        if (!t || resolve_link(norm, t, hard != NULL, target) < 0) {
                                log_verbose("%s: %s: link leaves the archive, ignored", what, norm);
                                continue;
                        }
                        if (!(m.name = strdup(norm)) || !(m.link = strdup(target))) {
                                member_free(&m);
                                return err_set(e, "out of memory");
                        }
                } else if (type == AE_IFREG) {
                        if (!(m.name = strdup(norm)))
                                return err_set(e, "out of memory");
                        if (store_data(a, dirfd, st, &m, what, e) < 0) {
                                member_free(&m);
                                return -1;
                        }
                } else {
                        continue;
                }
                if (add_member(st, &m, e) < 0) {
                        member_free(&m);
                        return -1;
                }
        }
        if (r != ARCHIVE_EOF)
                return err_set(e, "%s: %s", what, archive_error_string(a));
        return 0;
}

int archive_store_unpack(const char *archive, const char *what, const char *near,
                         struct archive_store *st, sing_err_t *e)
{
        struct archive *a;
        _cleanup_close_ int dirfd = -1;
        int rc = -1;
        memset(st, 0, sizeof(*st));
        if (!(st->dir = make_build_dir(near, e)))
                return -1;
        tempfile_register_dir(st->dir);
        dirfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                err_errno(e, "cannot open %s", st->dir);
                goto out;
        }
        if (!(a = archive_read_new())) {
                err_set(e, "out of memory");
                goto out;
        }
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        struct stat sb;
        if (stat(archive, &sb) < 0)
                err_errno(e, "%s", what);
        else if (archive_read_open_filename(a, archive, 1 << 20) != ARCHIVE_OK)
                err_set(e, "%s: %s", what, archive_error_string(a));
        else
                rc = read_members(a, dirfd, st, what, (uint64_t)sb.st_size, e);
        archive_read_free(a);
        if (rc == 0 && st->n == 0)
                rc = err_set(e, "%s: no files in the archive; not an image archive", what);
out:
        if (rc < 0)
                archive_store_free(st);
        return rc;
}

static const struct store_member *find(const struct archive_store *st, const char *name)
{
        /* The last member of a name wins, as when tar extracts. */
        for (size_t i = st->n; i-- > 0;)
                if (!strcmp(st->v[i].name, name))
                        return &st->v[i];
        return NULL;
}

int archive_store_lookup(const struct archive_store *st, const char *name,
                         const struct store_member **out, sing_err_t *e)
{
        char norm[LAYERS_MAX_PATH];
        const struct store_member *m;
        int r = layers_normalise_path(name, norm);
        if (r < 0 && errno == EINVAL)
                return err_set(e, "\"%.200s\" points outside the archive (a '..' component)", name);
        if (r != 0)
                return err_set(e, "\"%.200s\" is not a member name", name);
        for (int hops = 0; hops < MAX_LINK_HOPS; hops++) {
                m = find(st, norm);
                if (!m)
                        return err_set(e, "\"%.200s\" is not in the archive", name);
                if (!m->link) {
                        *out = m;
                        return 0;
                }
                snprintf(norm, sizeof(norm), "%s", m->link);
        }
        return err_set(e, "\"%.200s\": too many links", name);
}

void archive_store_free(struct archive_store *st)
{
        for (size_t i = 0; i < st->n; i++)
                member_free(&st->v[i]);
        free(st->v);
        if (st->dir) {
                remove_tree(st->dir);
                tempfile_forget_dir(st->dir);
                free(st->dir);
        }
        memset(st, 0, sizeof(*st));
}
