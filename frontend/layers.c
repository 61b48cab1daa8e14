#include "layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "log.h"
#include "pathset.h"

/* struct path_info flags */
#define PF_OCCUPIED 0x01     /* an entry took this path (emitted or skipped) */
#define PF_NONDIR 0x02       /* ... and it is not a directory */
#define PF_SKIPPED 0x04      /* ... but it was not emitted (device, bad link) */
#define PF_HAS_CHILDREN 0x08 /* something below this path was emitted */

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."

struct merge {
        struct pathset set;
        const struct merge_sink *sink;
        size_t entries;
        const char *layer; /* name for messages */
        unsigned level;
};

enum verdict {
        V_EMIT,
        V_HIDDEN,   /* removed by an upper whiteout / opaque dir / non-dir */
        V_SHADOWED, /* the path is already taken */
        V_CONFINED, /* below a non-directory of the same level */
        V_CONFLICT, /* a non-directory where children were emitted */
};

int layers_normalise_path(const char *name, char out[LAYERS_MAX_PATH])
{
        size_t o = 0;
        const char *p = name;

        for (;;) {
                size_t len;
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                len = strcspn(p, "/");
                if (len == 1 && p[0] == '.') {
                        p += len;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        errno = EINVAL;
                        return -1;
                }
                if (len > LAYERS_MAX_NAME || o + (o ? 1 : 0) + len >= LAYERS_MAX_PATH) {
                        errno = ENAMETOOLONG;
                        return -1;
                }
                if (o)
                        out[o++] = '/';
                memcpy(out + o, p, len);
                o += len;
                p += len;
        }
        out[o] = '\0';
        return o ? 0 : 1;
}

static struct path_info *put(struct merge *m, const char *p, size_t len, sing_err_t *e)
{
        struct path_info *pi = pathset_put(&m->set, p, len);
        if (!pi) {
                err_set(e, "merging layers: out of memory");
                return NULL;
        }
        if (m->set.count > LAYERS_MAX_PATHS) {
                err_set(e, "merging layers: more than %u paths", LAYERS_MAX_PATHS);
                return NULL;
        }
        return pi;
}

/* Where may an entry for `p` at the current level go? `level_of` receives
 * the level of the path that decided, for messages. */
static enum verdict place(struct merge *m, const char *p, bool is_dir, bool obey_whiteouts,
                          unsigned *level_of)
{
        size_t len = strlen(p);
        struct path_info *pi = pathset_get(&m->set, "", 0);

        if (pi && obey_whiteouts && pi->opq_level > m->level)
                return V_HIDDEN;
        for (size_t k = 0; k < len; k++) {
                if (p[k] != '/')
                        continue;
                pi = pathset_get(&m->set, p, k);
                if (!pi)
                        continue;
                if (obey_whiteouts && (pi->wh_level > m->level || pi->opq_level > m->level))
                        return V_HIDDEN;
                if (pi->flags & PF_NONDIR) {
                        *level_of = pi->emit_level;
                        return pi->emit_level == m->level ? V_CONFINED : V_HIDDEN;
                }
        }
        pi = pathset_get(&m->set, p, len);
        if (!pi)
                return V_EMIT;
        *level_of = pi->emit_level;
        if (obey_whiteouts && pi->wh_level > m->level)
                return V_HIDDEN;
        if (pi->flags & PF_OCCUPIED)
                return V_SHADOWED;
        if (!is_dir && (pi->flags & PF_HAS_CHILDREN))
                return V_CONFLICT;
        return V_EMIT;
}

/* Record that `p` was taken at the current level; when emitted, its
 * ancestors become directories with children. */
static int take(struct merge *m, const char *p, bool is_dir, bool skipped, sing_err_t *e)
{
        size_t len = strlen(p);
        struct path_info *pi = put(m, p, len, e);
        if (!pi)
                return -1;
        pi->flags |= PF_OCCUPIED | (is_dir ? 0 : PF_NONDIR) | (skipped ? PF_SKIPPED : 0);
        pi->emit_level = (uint16_t)m->level;
        if (skipped)
                return 0;
        while (len > 0) {
                while (len > 0 && p[len - 1] != '/')
                        len--;
                if (len == 0)
                        break;
                len--; /* drop the slash: prefix is p[0..len) */
                pi = put(m, p, len, e);
                if (!pi)
                        return -1;
                if (pi->flags & PF_HAS_CHILDREN)
                        break; /* its ancestors were marked then */
                pi->flags |= PF_HAS_CHILDREN;
        }
        return 0;
}

static void report_skip(struct merge *m, enum verdict v, const char *p, unsigned level_of)
{
        switch (v) {
        case V_HIDDEN:
                log_debug("%s: %s: removed by an upper layer", m->layer, p);
                break;
        case V_SHADOWED:
                if (level_of == m->level)
                        log_verbose("%s: %s: duplicate entry, keeping the first", m->layer, p);
                else
                        log_debug("%s: %s: replaced by an upper layer", m->layer, p);
                break;
        case V_CONFINED:
                log_warn("%s: %s: a parent is not a directory (symlink?), entry skipped", m->layer,
                         p);
                break;
        case V_CONFLICT:
                log_warn("%s: %s: a non-directory where a directory has contents, entry skipped",
                         m->layer, p);
                break;
        case V_EMIT:
                break;
        }
}

/* `.wh.NAME` and `.wh..wh..opq`: remember what lower levels must not show. */
static int record_whiteout(struct merge *m, const char *norm, const char *base, sing_err_t *e)
{
        size_t parent_len = (size_t)(base - norm) ? (size_t)(base - norm) - 1 : 0;
        struct path_info *pi;

        if (!strcmp(base, WH_OPAQUE)) {
                pi = put(m, norm, parent_len, e);
                if (!pi)
                        return -1;
                if (pi->opq_level < m->level)
                        pi->opq_level = (uint16_t)m->level;
                return 0;
        }
        if (!strncmp(base, WH_META, strlen(WH_META))) {
                log_debug("%s: %s: aufs metadata ignored", m->layer, norm);
                return 0;
        }
        {
                char hidden[LAYERS_MAX_PATH];
                const char *name = base + strlen(WH_PREFIX);
                int n;
                if (!*name || !strcmp(name, ".")) {
                        log_warn("%s: %s: empty whiteout name ignored", m->layer, norm);
                        return 0;
                }
                n = snprintf(hidden, sizeof(hidden), "%.*s%s%s", (int)parent_len, norm,
                             parent_len ? "/" : "", name);
                if (n < 0 || (size_t)n >= sizeof(hidden))
                        return err_set(e, "%s: %s: name too long", m->layer, norm);
                pi = put(m, hidden, (size_t)n, e);
                if (!pi)
                        return -1;
                if (pi->wh_level < m->level)
                        pi->wh_level = (uint16_t)m->level;
        }
        return 0;
}

/* Does any component of p[0..len) start with ".wh."? */
static bool wh_component_in(const char *p, size_t len)
{
        size_t plen = strlen(WH_PREFIX);
        for (size_t k = 0; k < len; k++) {
                if ((k == 0 || p[k - 1] == '/') && len - k >= plen &&
                    !strncmp(p + k, WH_PREFIX, plen))
                        return true;
        }
        return false;
}

static size_t longest_component(const char *p)
{
        size_t best = 0;
        for (;;) {
                size_t len = strcspn(p, "/");
                if (len > best)
                        best = len;
                if (!p[len])
                        return best;
                p += len + 1;
        }
}

static int normalise_or_reject(struct merge *m, const char *what, const char *name,
                               char out[LAYERS_MAX_PATH], sing_err_t *e)
{
        int r = layers_normalise_path(name, out);
        if (r < 0 && errno == EINVAL)
                return err_set(e, "%s: %s \"%.200s\" has a '..' component; refusing the image",
                               m->layer, what, name);
        if (r < 0 && longest_component(name) > LAYERS_MAX_NAME)
                return err_set(e,
                               "%s: %s \"%.200s...\" has a name longer than %d bytes; refusing "
                               "the image",
                               m->layer, what, name, LAYERS_MAX_NAME);
        if (r < 0)
                return err_set(e,
                               "%s: %s \"%.200s...\" is longer than %d bytes; refusing the image",
                               m->layer, what, name, LAYERS_MAX_PATH - 1);
        return r;
}

static int handle_entry(struct merge *m, struct archive *a, struct archive_entry *ae, sing_err_t *e)
{
        char norm[LAYERS_MAX_PATH], target[LAYERS_MAX_PATH];
        const char *name = archive_entry_pathname(ae);
        const char *hardlink = archive_entry_hardlink(ae);
        mode_t type = archive_entry_filetype(ae);
        const char *base;
        unsigned level_of = 0;
        enum verdict v;
        bool is_dir;
        int r;

        if (!name)
                return err_set(e, "%s: an entry has no name", m->layer);
        r = normalise_or_reject(m, "entry", name, norm, e);
        if (r < 0)
                return -1;
        if (r == 1)
                return 0; /* the root: its attributes come from mksquashfs flags */

        base = strrchr(norm, '/');
        base = base ? base + 1 : norm;
        if (wh_component_in(norm, strlen(norm))) {
                /* a whiteout is a leaf in a normal directory */
                if (!wh_component_in(norm, (size_t)(base - norm)))
                        return record_whiteout(m, norm, base, e);
                log_warn("%s: %s: entry under a whiteout-named directory skipped", m->layer, norm);
                return 0;
        }

        if (hardlink) {
                r = normalise_or_reject(m, "hardlink target", hardlink, target, e);
                if (r < 0)
                        return -1;
        }
        is_dir = !hardlink && type == AE_IFDIR;

        v = place(m, norm, is_dir, true, &level_of);
        if (v != V_EMIT) {
                report_skip(m, v, norm, level_of);
                return 0;
        }

        if (hardlink) {
                struct path_info *t = r == 1 ? NULL : pathset_get(&m->set, target, strlen(target));
                bool ok = t &&
                          (t->flags & (PF_OCCUPIED | PF_NONDIR | PF_SKIPPED)) ==
                              (PF_OCCUPIED | PF_NONDIR) &&
                          t->emit_level == m->level && strcmp(target, norm) != 0;
                if (!ok) {
                        log_warn("%s: %s: hardlink to \"%s\", which this layer did not provide "
                                 "(replaced, removed or skipped), entry skipped",
                                 m->layer, norm, target);
                        return take(m, norm, false, true, e);
                }
                archive_entry_copy_hardlink(ae, target);
        } else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
                log_verbose("%s: %s: device node, fifo or socket skipped", m->layer, norm);
                return take(m, norm, false, true, e);
        }

        archive_entry_copy_pathname(ae, norm);
        if (m->sink->entry(m->sink->ctx, ae, a, NULL, 0, e) < 0)
                return err_prefix(e, "%s: %s", m->layer, norm);
        return take(m, norm, is_dir, false, e);
}

static const char *base_name(const char *path)
{
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* Before an entry's data is read: refuse a file over LAYERS_MAX_FILE_SIZE,
 * and a layer whose files add up to more than its bomb limit (layers.h).
 * Every entry counts, also those skipped: their data is decompressed too. */
static int check_size(struct merge *m, struct archive_entry *ae, uint64_t *data, uint64_t limit,
                      uint64_t compressed, sing_err_t *e)
{
        const char *name = archive_entry_pathname(ae);
        la_int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;

        if (size < 0 || (uint64_t)size > LAYERS_MAX_FILE_SIZE)
                return err_set(
                    e, "%s: %.200s: size %lld is over the %llu GiB limit; refusing the image",
                    m->layer, name ? name : "", (long long)size, LAYERS_MAX_FILE_SIZE >> 30);
        *data += (uint64_t)size;
        if (*data > limit)
                return err_set(e,
                               "%s: %.200s: more than %llu MiB of files from %llu KiB compressed "
                               "(over %ux): likely a decompression bomb; refusing the image",
                               m->layer, name ? name : "", (unsigned long long)(limit >> 20),
                               (unsigned long long)(compressed >> 10), LAYERS_MAX_RATIO);
        return 0;
}

static int merge_layer(struct merge *m, const char *path, sing_err_t *e)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        struct stat st;
        uint64_t data = 0, limit;
        int r, ret = -1;

        if (!a)
                return err_set(e, "reading %s: out of memory", path);
        if (stat(path, &st) < 0) {
                archive_read_free(a);
                return err_errno(e, "opening layer %s", path);
        }
        limit = (uint64_t)st.st_size * LAYERS_MAX_RATIO + LAYERS_RATIO_SLACK;
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_format_empty(a);
        if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
                err_set(e, "opening layer %s: %s", path, archive_error_string(a));
                goto out;
        }
        while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                if (r == ARCHIVE_WARN)
                        log_debug("%s: %s", m->layer, archive_error_string(a));
                if (check_size(m, ae, &data, limit, (uint64_t)st.st_size, e) < 0)
                        goto out;
                if (++m->entries > LAYERS_MAX_PATHS) {
                        err_set(e, "%s: more than %u entries in the image", m->layer,
                                LAYERS_MAX_PATHS);
                        goto out;
                }
                if (handle_entry(m, a, ae, e) < 0)
                        goto out;
        }
        if (r != ARCHIVE_EOF) {
                err_set(e, "reading layer %s: %s", path, archive_error_string(a));
                goto out;
        }
        ret = 0;
out:
        archive_read_free(a);
        return ret;
}

static int merge_synth(struct merge *m, const struct synth_list *l, bool obey_whiteouts,
                       sing_err_t *e)
{
        struct archive_entry *ae;
        int ret = 0;

        if (!l)
                return 0;
        ae = archive_entry_new();
        if (!ae)
                return err_set(e, "merging layers: out of memory");
        for (size_t i = 0; i < l->n && ret == 0; i++) {
                const struct synth_entry *s = &l->v[i];
                char norm[LAYERS_MAX_PATH];
                mode_t type = s->mode & S_IFMT;
                unsigned level_of = 0;
                enum verdict v;
                int r = normalise_or_reject(m, "synthetic entry", s->path, norm, e);
                if (r < 0) {
                        ret = -1;
                        break;
                }
                if (r == 1)
                        continue;
                if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK) {
                        ret = err_set(e, "synthetic entry %s: unsupported type", norm);
                        break;
                }
                v = place(m, norm, type == S_IFDIR, obey_whiteouts, &level_of);
                if (v != V_EMIT) {
                        report_skip(m, v, norm, level_of);
                        continue;
                }
                archive_entry_clear(ae);
                archive_entry_copy_pathname(ae, norm);
                archive_entry_set_filetype(ae, type);
                archive_entry_set_perm(ae, s->mode & 07777);
                archive_entry_set_uid(ae, s->uid);
                archive_entry_set_gid(ae, s->gid);
                archive_entry_set_mtime(ae, s->mtime, 0);
                archive_entry_set_size(ae, type == S_IFREG ? (la_int64_t)s->len : 0);
                if (type == S_IFLNK)
                        archive_entry_copy_symlink(ae, s->link ? s->link : "");
                if (m->sink->entry(m->sink->ctx, ae, NULL, type == S_IFREG ? s->data : NULL,
                                   type == S_IFREG ? s->len : 0, e) < 0) {
                        ret = err_prefix(e, "%s", norm);
                        break;
                }
                ret = take(m, norm, type == S_IFDIR, false, e);
        }
        archive_entry_free(ae);
        return ret;
}

/* Directories that only exist because something below them was emitted get
 * an entry of their own, owned by root with mode 0755 (as `umoci unpack` and
 * Docker make them); left implicit, mksquashfs would give them the owner of
 * whoever runs the pull. */
static int emit_implied_dirs(struct merge *m, sing_err_t *e)
{
        struct archive_entry *ae = archive_entry_new();
        int64_t now = (int64_t)time(NULL);
        int ret = 0;

        if (!ae)
                return err_set(e, "merging layers: out of memory");
        for (size_t i = 0; i < m->set.cap && ret == 0; i++) {
                const struct pathset_slot *slot = &m->set.slots[i];
                if (!slot->key || !*slot->key || (slot->info.flags & PF_OCCUPIED) ||
                    !(slot->info.flags & PF_HAS_CHILDREN))
                        continue;
                archive_entry_clear(ae);
                archive_entry_copy_pathname(ae, slot->key);
                archive_entry_set_filetype(ae, AE_IFDIR);
                archive_entry_set_perm(ae, 0755);
                archive_entry_set_uid(ae, 0);
                archive_entry_set_gid(ae, 0);
                archive_entry_set_mtime(ae, now, 0);
                if (m->sink->entry(m->sink->ctx, ae, NULL, NULL, 0, e) < 0)
                        ret = err_prefix(e, "%s", slot->key);
        }
        archive_entry_free(ae);
        return ret;
}

int layers_merge(const char *const *layer_paths, size_t nlayers, const struct synth_list *top,
                 const struct synth_list *bottom, const struct merge_sink *sink, sing_err_t *e)
{
        return layers_merge_waiting(layer_paths, nlayers, top, bottom, sink, NULL, e);
}

int layers_merge_waiting(const char *const *layer_paths, size_t nlayers,
                         const struct synth_list *top, const struct synth_list *bottom,
                         const struct merge_sink *sink, const struct layer_wait *w, sing_err_t *e)
{
        struct merge m = {.sink = sink};
        int ret = -1;

        if (nlayers > LAYERS_MAX_LAYERS)
                return err_set(e, "image has %zu layers, more than %u", nlayers, LAYERS_MAX_LAYERS);
        pathset_init(&m.set);

        m.level = (unsigned)nlayers + 1;
        m.layer = "synthetic files";
        if (merge_synth(&m, top, true, e) < 0)
                goto out;
        for (size_t i = nlayers; i-- > 0;) {
                m.level = (unsigned)i + 1;
                m.layer = base_name(layer_paths[i]);
                if (w && w->wait(w->ctx, i, e) < 0)
                        goto out;
                log_verbose("merging layer %zu/%zu %s", nlayers - i, nlayers, m.layer);
                if (merge_layer(&m, layer_paths[i], e) < 0)
                        goto out;
        }
        m.level = 0;
        m.layer = "mount points";
        if (merge_synth(&m, bottom, false, e) < 0)
                goto out;
        if (emit_implied_dirs(&m, e) < 0)
                goto out;
        ret = 0;
out:
        pathset_free(&m.set);
        return ret;
}
