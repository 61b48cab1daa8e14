#include "layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "layer_data.h"
#include "layer_reader.h"
#include "log.h"
#include "path.h"
#include "pathset.h"

/* struct path_info flags */
#define PF_OCCUPIED 0x01     /* an entry took this path (emitted or skipped) */
#define PF_NONDIR 0x02       /* ... and it is not a directory */
#define PF_SKIPPED 0x04      /* ... but it was not emitted (device, bad link) */
#define PF_HAS_CHILDREN 0x08 /* something below this path was emitted */
#define PF_PENDING 0x10      /* a hardlink waiting for its lower target */
#define PF_LINK_TARGET 0x20  /* ... whose target is this path */

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."

/* A hardlink to a file of a lower layer, waiting for that file. */
struct pending_link {
        char *link;            /* its path, reserved at `level` */
        char *target;          /* the path it names below `level` */
        uint16_t level;        /* resolved by an entry of a lower level */
        uint16_t hidden_below; /* ... of this level or above (a whiteout between) */
        bool done;
};

struct merge {
        struct pathset set;
        const struct merge_sink *sink;
        size_t entries;
        const char *layer; /* name for messages */
        unsigned level;
        unsigned max_expansion;
        struct data_budget budget; /* of the layer being read */
        struct pending_link *links;
        size_t nlinks, cap_links, open_links;
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
        ssize_t n = path_normalise(name, PATH_DOTDOT_REFUSE, LAYERS_MAX_NAME, out, LAYERS_MAX_PATH);
        return n < 0 ? -1 : n > 0 ? 0 : 1;
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

/* A whiteout of p[0..len) (itself too when `self`, else only what is below
 * it) at this level: waiting links above it cannot take lower targets. */
static void hide_link_targets(struct merge *m, const char *p, size_t len, bool self)
{
        for (size_t i = 0; i < m->nlinks && m->open_links; i++) {
                struct pending_link *l = &m->links[i];
                const char *t = l->target;
                bool under =
                    len == 0 ? !self
                             : !strncmp(t, p, len) && (t[len] == '/' || (self && t[len] == '\0'));
                if (!l->done && l->level > m->level && under && l->hidden_below < m->level)
                        l->hidden_below = (uint16_t)m->level;
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
                hide_link_targets(m, norm, parent_len, false);
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
                hide_link_targets(m, hidden, (size_t)n, true);
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

/* Emit an entry whose content is read from `data` (NULL: none). */
static int emit(struct merge *m, struct archive_entry *ae, struct merge_data *data, sing_err_t *e)
{
        struct merge_data none;
        if (!data) {
                merge_data_from_memory(&none, NULL, 0);
                data = &none;
        }
        return m->sink->entry(m->sink->ctx, ae, data, e);
}

static int emit_hardlink(struct merge *m, const char *link, const char *target, sing_err_t *e)
{
        struct archive_entry *ae = archive_entry_new();
        int r;
        if (!ae)
                return err_set(e, "merging layers: out of memory");
        archive_entry_copy_pathname(ae, link);
        archive_entry_copy_hardlink(ae, target);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, 0);
        r = emit(m, ae, NULL, e);
        archive_entry_free(ae);
        if (r < 0)
                return err_prefix(e, "%s", link);
        return 0;
}

static struct pending_link *link_of(struct merge *m, const char *link)
{
        for (size_t i = 0; i < m->nlinks; i++)
                if (!m->links[i].done && !strcmp(m->links[i].link, link))
                        return &m->links[i];
        return NULL;
}

static int mark_target(struct merge *m, const char *target, sing_err_t *e)
{
        struct path_info *pi = put(m, target, strlen(target), e);
        if (!pi)
                return -1;
        pi->flags |= PF_LINK_TARGET;
        return 0;
}

/* `link` (this level) names `target`, which only lower layers can provide. */
static int add_pending(struct merge *m, const char *link, const char *target, sing_err_t *e)
{
        struct pending_link *l;
        struct path_info *pi;

        if (m->nlinks == m->cap_links) {
                size_t cap = m->cap_links ? m->cap_links * 2 : 16;
                struct pending_link *v = realloc(m->links, cap * sizeof(*v));
                if (!v)
                        return err_set(e, "merging layers: out of memory");
                m->links = v;
                m->cap_links = cap;
        }
        l = &m->links[m->nlinks];
        *l = (struct pending_link){
            .link = strdup(link), .target = strdup(target), .level = (uint16_t)m->level};
        if (!l->link || !l->target) {
                free(l->link);
                free(l->target);
                return err_set(e, "merging layers: out of memory");
        }
        m->nlinks++;
        m->open_links++;
        if (mark_target(m, target, e) < 0 || take(m, link, false, false, e) < 0)
                return -1;
        pi = pathset_get(&m->set, link, strlen(link));
        pi->flags |= PF_PENDING;
        log_debug("%s: %s: hardlink to \"%s\" of a lower layer", m->layer, link, target);
        return 0;
}

static void link_done(struct merge *m, struct pending_link *l)
{
        struct path_info *pi = pathset_get(&m->set, l->link, strlen(l->link));
        if (pi)
                pi->flags &= (uint16_t)~PF_PENDING;
        l->done = true;
        m->open_links--;
}

static void drop_link(struct merge *m, struct pending_link *l, const char *why)
{
        log_warn("%s: hardlink to \"%s\": %s, entry skipped", l->link, l->target, why);
        link_done(m, l);
        struct path_info *pi = pathset_get(&m->set, l->link, strlen(l->link));
        if (pi)
                pi->flags |= PF_SKIPPED;
}

/* Does the entry being read (`norm`, this level) resolve pending link i? */
static bool resolves(const struct merge *m, const struct pending_link *l, const char *norm)
{
        return !l->done && l->level > m->level && m->level >= l->hidden_below &&
               !strcmp(l->target, norm);
}

/* Links waiting for `norm`, which is a hardlink of this level to `to`:
 * they wait for (or link to) what `to` is. */
static int retarget_links(struct merge *m, const char *norm, const char *to, sing_err_t *e)
{
        struct path_info *t = pathset_get(&m->set, to, strlen(to));
        struct pending_link *via = NULL;
        bool emitted_here =
            t && t->emit_level == m->level &&
            (t->flags & (PF_OCCUPIED | PF_NONDIR | PF_SKIPPED)) == (PF_OCCUPIED | PF_NONDIR);

        if (emitted_here && (t->flags & PF_PENDING))
                via = link_of(m, to);
        for (size_t i = 0; i < m->nlinks; i++) {
                struct pending_link *l = &m->links[i];
                if (!resolves(m, l, norm))
                        continue;
                if (via) {
                        char *nt = strdup(via->target);
                        if (!nt)
                                return err_set(e, "merging layers: out of memory");
                        free(l->target);
                        l->target = nt;
                        l->level = via->level;
                        l->hidden_below = 0;
                } else if (emitted_here) {
                        if (emit_hardlink(m, l->link, to, e) < 0)
                                return -1;
                        link_done(m, l);
                } else if (t && (t->flags & PF_OCCUPIED) && t->seen_level == m->level) {
                        drop_link(m, l, "its target was replaced by an upper layer");
                } else {
                        char *nt = strdup(to);
                        if (!nt)
                                return err_set(e, "merging layers: out of memory");
                        free(l->target);
                        l->target = nt;
                        l->level = (uint16_t)m->level;
                        l->hidden_below = 0;
                        if (mark_target(m, to, e) < 0)
                                return -1;
                }
        }
        return 0;
}

/* The lower entry `ae` at `norm` that links of upper layers wait for. When
 * `emitted`, it went to the sink: link to it; else the first link gets its
 * content (read from `data`) and the others link to that. */
static int resolve_links(struct merge *m, struct archive_entry *ae, struct merge_data *data,
                         const char *norm, bool emitted, sing_err_t *e)
{
        mode_t type = archive_entry_filetype(ae);
        const char *first = NULL;

        for (size_t i = 0; i < m->nlinks; i++) {
                struct pending_link *l = &m->links[i];
                if (!resolves(m, l, norm))
                        continue;
                if (type != AE_IFREG && type != AE_IFLNK) {
                        drop_link(m, l, "not a regular file or symlink");
                        continue;
                }
                if (emitted || first) {
                        if (emit_hardlink(m, l->link, emitted ? norm : first, e) < 0)
                                return -1;
                } else {
                        archive_entry_copy_pathname(ae, l->link);
                        if (emit(m, ae, data, e) < 0)
                                return err_prefix(e, "%s: %s", m->layer, l->link);
                        first = l->link;
                }
                link_done(m, l);
        }
        return 0;
}

static bool waited_for(struct merge *m, const char *norm)
{
        struct path_info *pi;
        if (!m->open_links)
                return false;
        pi = pathset_get(&m->set, norm, strlen(norm));
        if (!pi || !(pi->flags & PF_LINK_TARGET))
                return false;
        for (size_t i = 0; i < m->nlinks; i++)
                if (resolves(m, &m->links[i], norm))
                        return true;
        return false;
}

static void note_passed_over(struct merge *m, const char *norm)
{
        struct path_info *pi = pathset_get(&m->set, norm, strlen(norm));
        if (pi)
                pi->seen_level = (uint16_t)m->level;
}

/* A hardlink entry `norm` -> `target` that may be emitted (place said so). */
static int handle_hardlink(struct merge *m, struct archive_entry *ae, struct merge_data *data,
                           const char *norm, const char *target, sing_err_t *e)
{
        struct path_info *t = pathset_get(&m->set, target, strlen(target));

        if (!strcmp(target, norm)) {
                log_warn("%s: %s: hardlink to itself, entry skipped", m->layer, norm);
                return take(m, norm, false, true, e);
        }
        if (t && (t->flags & PF_OCCUPIED) && t->emit_level == m->level) {
                if ((t->flags & (PF_NONDIR | PF_SKIPPED)) != PF_NONDIR) {
                        log_warn("%s: %s: hardlink to \"%s\", which this layer did not provide "
                                 "(a directory, or skipped), entry skipped",
                                 m->layer, norm, target);
                        return take(m, norm, false, true, e);
                }
                if (t->flags & PF_PENDING) { /* a link to a waiting link */
                        struct pending_link *via = link_of(m, target);
                        char *to = via ? strdup(via->target) : NULL;
                        int r = to ? add_pending(m, norm, to, e)
                                   : err_set(e, "merging layers: out of memory");
                        free(to);
                        return r;
                }
                archive_entry_copy_hardlink(ae, target);
                archive_entry_copy_pathname(ae, norm);
                if (emit(m, ae, data, e) < 0)
                        return err_prefix(e, "%s: %s", m->layer, norm);
                return take(m, norm, false, false, e);
        }
        if (t && (t->flags & PF_OCCUPIED) && t->seen_level == m->level) {
                log_warn("%s: %s: hardlink to \"%s\", which an upper layer replaced or "
                         "removed, entry skipped",
                         m->layer, norm, target);
                return take(m, norm, false, true, e);
        }
        return add_pending(m, norm, target, e);
}

static int handle_entry(struct merge *m, struct archive *a, struct archive_entry *ae, sing_err_t *e)
{
        char norm[LAYERS_MAX_PATH], target[LAYERS_MAX_PATH];
        const char *name = archive_entry_pathname(ae);
        const char *hardlink = archive_entry_hardlink(ae);
        mode_t type = archive_entry_filetype(ae);
        struct merge_data data;
        const char *base;
        unsigned level_of = 0;
        enum verdict v;
        bool is_dir, waited;
        int r, ret = -1;

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
                if (r == 1) {
                        log_warn("%s: %s: hardlink to the root, entry skipped", m->layer, norm);
                        return 0;
                }
        }
        is_dir = !hardlink && type == AE_IFDIR;
        waited = waited_for(m, norm);
        if (waited && hardlink && retarget_links(m, norm, target, e) < 0)
                return -1;
        if (merge_data_from_archive(&data, a, ae, &m->budget, e) < 0)
                return err_prefix(e, "%s: %s", m->layer, norm);

        v = place(m, norm, is_dir, true, &level_of);
        if (v == V_CONFLICT && type == AE_IFLNK && !hardlink) {
                /* Limitation: top-down, the upper entries are already out. */
                log_warn("%s: %s: symlink to \"%s\" replaced by a directory: an upper layer put "
                         "files under it, which umoci/Docker would have written through the "
                         "link",
                         m->layer, norm,
                         archive_entry_symlink(ae) ? archive_entry_symlink(ae) : "");
                v = V_SHADOWED;
        }
        if (v != V_EMIT) {
                report_skip(m, v, norm, level_of);
                if (v == V_SHADOWED)
                        note_passed_over(m, norm);
                ret = waited && !hardlink ? resolve_links(m, ae, &data, norm, false, e) : 0;
                goto out;
        }
        if (hardlink) {
                ret = handle_hardlink(m, ae, &data, norm, target, e);
                goto out;
        }
        if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
                log_verbose("%s: %s: device node, fifo or socket skipped", m->layer, norm);
                ret = take(m, norm, false, true, e);
                if (ret == 0 && waited)
                        ret = resolve_links(m, ae, &data, norm, false, e);
                goto out;
        }
        archive_entry_copy_pathname(ae, norm);
        if (emit(m, ae, &data, e) < 0) {
                err_prefix(e, "%s: %s", m->layer, norm);
                goto out;
        }
        ret = take(m, norm, is_dir, false, e);
        if (ret == 0 && waited)
                ret = resolve_links(m, ae, &data, norm, true, e);
out:
        merge_data_release(&data);
        return ret;
}

static const char *base_name(const char *path)
{
        const char *s = strrchr(path, '/');
        return s ? s + 1 : path;
}

/* Before an entry's data is read: refuse a file over LAYERS_MAX_FILE_SIZE
 * (what the data may then really cost is bounded by the layer's budget). */
static int check_size(struct merge *m, struct archive_entry *ae, sing_err_t *e)
{
        const char *name = archive_entry_pathname(ae);
        la_int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;

        if (size < 0 || (uint64_t)size > LAYERS_MAX_FILE_SIZE)
                return err_set(
                    e, "%s: %.200s: size %lld is over the %llu GiB limit; refusing the image",
                    m->layer, name ? name : "", (long long)size, LAYERS_MAX_FILE_SIZE >> 30);
        return 0;
}

static int merge_layer(struct merge *m, const char *path, sing_err_t *e)
{
        struct layer_reader *r;
        struct archive_entry *ae;
        struct stat st;
        int rc, ret = -1;

        if (stat(path, &st) < 0)
                return err_errno(e, "opening layer %s", path);
        m->budget = (struct data_budget){.limit = (uint64_t)st.st_size * m->max_expansion +
                                                  LAYERS_RATIO_SLACK,
                                         .compressed = (uint64_t)st.st_size,
                                         .ratio = m->max_expansion};
        r = layer_reader_open(path, e);
        if (!r)
                return -1;
        while ((rc = layer_reader_next(r, &ae, e)) == 1) {
                if (check_size(m, ae, e) < 0)
                        goto out;
                if (++m->entries > LAYERS_MAX_PATHS) {
                        err_set(e, "%s: more than %u entries in the image", m->layer,
                                LAYERS_MAX_PATHS);
                        goto out;
                }
                if (handle_entry(m, layer_reader_archive(r), ae, e) < 0)
                        goto out;
        }
        ret = rc;
out:
        layer_reader_free(r);
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
                struct merge_data data;
                merge_data_from_memory(&data, type == S_IFREG ? s->data : NULL,
                                       type == S_IFREG ? s->len : 0);
                if (emit(m, ae, &data, e) < 0) {
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
                if (emit(m, ae, NULL, e) < 0)
                        ret = err_prefix(e, "%s", slot->key);
        }
        archive_entry_free(ae);
        return ret;
}

int layers_merge(const char *const *layer_paths, size_t nlayers, const struct synth_list *top,
                 const struct synth_list *bottom, const struct merge_opts *opts,
                 const struct merge_sink *sink, sing_err_t *e)
{
        return layers_merge_waiting(layer_paths, nlayers, top, bottom, opts, sink, NULL, e);
}

static void free_links(struct merge *m)
{
        for (size_t i = 0; i < m->nlinks; i++) {
                struct pending_link *l = &m->links[i];
                if (!l->done)
                        log_warn("%s: hardlink to \"%s\", which no lower layer provides, entry "
                                 "skipped",
                                 l->link, l->target);
                free(l->link);
                free(l->target);
        }
        free(m->links);
}

int layers_merge_waiting(const char *const *layer_paths, size_t nlayers,
                         const struct synth_list *top, const struct synth_list *bottom,
                         const struct merge_opts *opts, const struct merge_sink *sink,
                         const struct layer_wait *w, sing_err_t *e)
{
        struct merge m = {.sink = sink};
        int ret = -1;

        if (nlayers > LAYERS_MAX_LAYERS)
                return err_set(e, "image has %zu layers, more than %u", nlayers, LAYERS_MAX_LAYERS);
        m.max_expansion =
            opts && opts->max_expansion ? opts->max_expansion : LAYERS_DEFAULT_EXPANSION;
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
        if (ret < 0)
                m.open_links = 0; /* no warnings about an image that is refused */
        for (size_t i = 0; ret < 0 && i < m.nlinks; i++)
                m.links[i].done = true;
        free_links(&m);
        pathset_free(&m.set);
        return ret;
}
