/* libFuzzer harness for the layer merge (frontend/layers.c): path
 * normalisation, whiteouts, shadowing, hardlinks and symlinked parents.
 *
 * Input: one selector byte, then
 *   bit 0 set: the rest is one layer blob as it is (tar, maybe compressed);
 *   else a text description of up to 4 layers (bottom first), built into
 *   tar files with libarchive so the fuzzer works on names, not checksums:
 *     one entry per line, TYPE NAME [TAB TARGET]; TYPE is f (file), d (dir),
 *     l (symlink to TARGET), h (hardlink to TARGET), c (char device),
 *     p (fifo); a line "---" starts the next layer.
 * The sink checks what the merge promises: every emitted name is normalised
 * (relative, no "."/".." or empty component), no ".wh." entry, no path twice,
 * hardlinks point at a file emitted before, and every parent of an emitted
 * path is emitted as a directory. */
#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "layers.h"

#define MAX_LAYERS 4
#define MAX_ENTRIES 256 /* per layer: keeps one run fast */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        fuzz_quiet_logs();
        return 0;
}

/* ---- what the sink saw -------------------------------------------------- */

struct seen {
        char *path;
        mode_t type;
};

struct sink_state {
        struct seen *v;
        size_t n, cap;
};

static const struct seen *find(const struct sink_state *s, const char *p, size_t len)
{
        for (size_t i = 0; i < s->n; i++)
                if (strlen(s->v[i].path) == len && !memcmp(s->v[i].path, p, len))
                        return &s->v[i];
        return NULL;
}

static void check_name(const char *p, const char *what, bool whiteout_ok)
{
        FUZZ_ASSERT(p && *p && *p != '/', "%s \"%s\" is not relative", what, p ? p : "(null)");
        for (const char *c = p; c <= p + strlen(p);) {
                size_t len = strcspn(c, "/");
                FUZZ_ASSERT(len && !(len == 1 && c[0] == '.') &&
                                !(len == 2 && c[0] == '.' && c[1] == '.'),
                            "%s \"%s\" has an empty, \".\" or \"..\" component", what, p);
                FUZZ_ASSERT(whiteout_ok || strncmp(c, ".wh.", 4) != 0, "%s \"%s\" is a whiteout",
                            what, p);
                c += len + 1;
        }
        FUZZ_ASSERT(strlen(p) < LAYERS_MAX_PATH, "%s longer than LAYERS_MAX_PATH", what);
}

static int sink_entry(void *ctx, struct archive_entry *ae, struct merge_data *data, sing_err_t *e)
{
        struct sink_state *s = ctx;
        const char *p = archive_entry_pathname(ae), *hl = archive_entry_hardlink(ae);
        mode_t type = archive_entry_filetype(ae);

        check_name(p, "entry", false);
        FUZZ_ASSERT(!find(s, p, strlen(p)), "\"%s\" emitted twice", p);
        if (hl) {
                const struct seen *t = find(s, hl, strlen(hl));
                check_name(hl, "hardlink target", false);
                FUZZ_ASSERT(t && t->type != AE_IFDIR, "hardlink \"%s\" to \"%s\" not emitted", p,
                            hl);
        } else {
                FUZZ_ASSERT(type == AE_IFREG || type == AE_IFDIR || type == AE_IFLNK,
                            "\"%s\" has type %o", p, (unsigned)type);
        }
        {
                const void *buf;
                size_t len;
                int64_t off, end = 0;
                int r;
                while ((r = merge_data_next(data, &buf, &len, &off, e)) == 1) {
                        FUZZ_ASSERT(off >= end && len > 0, "\"%s\": piece at %lld after %lld", p,
                                    (long long)off, (long long)end);
                        end = off + (int64_t)len;
                }
                if (r < 0)
                        return -1;
                FUZZ_ASSERT(end <= archive_entry_size(ae), "\"%s\": data past its size", p);
        }
        if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 64;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                if (!s->v)
                        abort();
        }
        s->v[s->n].path = strdup(p);
        s->v[s->n].type = hl ? AE_IFREG : type;
        if (!s->v[s->n].path)
                abort();
        s->n++;
        return 0;
}

/* After a successful merge every parent of an emitted path is a directory
 * that was emitted too (explicitly or as an implied directory). */
static void check_parents(const struct sink_state *s)
{
        for (size_t i = 0; i < s->n; i++) {
                const char *p = s->v[i].path;
                for (const char *sl = strchr(p, '/'); sl; sl = strchr(sl + 1, '/')) {
                        const struct seen *parent = find(s, p, (size_t)(sl - p));
                        FUZZ_ASSERT(parent, "\"%s\" emitted without its parent", p);
                        FUZZ_ASSERT(parent->type == AE_IFDIR,
                                    "\"%s\" emitted below a non-directory \"%s\"", p, parent->path);
                }
        }
}

/* ---- building layers ---------------------------------------------------- */

static void add_entry(struct archive *w, struct archive_entry *ae, char type, const char *name,
                      const char *target)
{
        static const char content[] = "fuzz\n";
        archive_entry_clear(ae);
        archive_entry_copy_pathname(ae, name);
        archive_entry_set_mtime(ae, 1600000000, 0);
        archive_entry_set_perm(ae, 0755);
        switch (type) {
        case 'd':
                archive_entry_set_filetype(ae, AE_IFDIR);
                break;
        case 'l':
                archive_entry_set_filetype(ae, AE_IFLNK);
                archive_entry_copy_symlink(ae, target ? target : "");
                break;
        case 'h':
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_copy_hardlink(ae, target ? target : "");
                archive_entry_set_size(ae, 0);
                break;
        case 'c':
                archive_entry_set_filetype(ae, AE_IFCHR);
                archive_entry_set_rdev(ae, 0x0103);
                break;
        case 'p':
                archive_entry_set_filetype(ae, AE_IFIFO);
                break;
        default:
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_size(ae, sizeof(content) - 1);
                break;
        }
        if (archive_write_header(w, ae) < ARCHIVE_WARN)
                return; /* a name tar cannot hold: leave it out */
        if (type == 'f')
                archive_write_data(w, content, sizeof(content) - 1);
}

/* Build the layer described by text[0..len) into a new memfd. */
static int build_layer(const char *text, size_t len)
{
        int fd = fuzz_memfd("fuzz-layer", "", 0);
        struct archive *w = archive_write_new();
        struct archive_entry *ae = archive_entry_new();
        size_t entries = 0;

        if (!w || !ae)
                abort();
        archive_write_set_format_pax_restricted(w);
        archive_write_set_bytes_in_last_block(w, 1);
        if (archive_write_open_fd(w, fd) != ARCHIVE_OK)
                abort();
        for (const char *line = text; line < text + len && entries < MAX_ENTRIES; entries++) {
                const char *end = memchr(line, '\n', (size_t)(text + len - line));
                size_t n = end ? (size_t)(end - line) : (size_t)(text + len - line);
                char *copy = strndup(line, n), *tab;
                if (!copy)
                        abort();
                tab = strchr(copy, '\t');
                if (tab)
                        *tab++ = '\0';
                if (copy[0] && copy[1])
                        add_entry(w, ae, copy[0], copy + 1, tab);
                free(copy);
                line += n + 1;
        }
        archive_entry_free(ae);
        archive_write_close(w);
        archive_write_free(w);
        return fd;
}

/* ---- the merge ---------------------------------------------------------- */

static void check_normalise(const char *name)
{
        char out[LAYERS_MAX_PATH];
        int r = layers_normalise_path(name, out);
        if (r < 0)
                return;
        if (r == 1) {
                FUZZ_ASSERT(out[0] == '\0', "root with a non-empty name");
                return;
        }
        FUZZ_ASSERT(out[strlen(out) - 1] != '/', "\"%s\" ends with '/'", out);
        check_name(out, "normalised name", true);
}

static void merge(int *fds, size_t n)
{
        char names[MAX_LAYERS][32];
        const char *paths[MAX_LAYERS];
        struct synth_list top = {0}, bottom = {0};
        struct sink_state st = {0};
        struct merge_sink sink = {sink_entry, &st};
        sing_err_t e;

        for (size_t i = 0; i < n; i++) {
                snprintf(names[i], sizeof(names[i]), "/proc/self/fd/%d", fds[i]);
                paths[i] = names[i];
        }
        /* What pulls add: metadata on top, mount points at the bottom. */
        if (synth_add(&top, ".singularity.d/runscript", S_IFREG | 0755, "#!/bin/sh\n", 10, NULL) <
                0 ||
            synth_add(&top, "singularity", S_IFLNK | 0777, NULL, 0, ".singularity.d/runscript") <
                0 ||
            synth_add(&bottom, "proc", S_IFDIR | 0755, NULL, 0, NULL) < 0 ||
            synth_add(&bottom, "etc/hosts", S_IFREG | 0644, NULL, 0, NULL) < 0)
                abort();
        if (layers_merge(paths, n, &top, &bottom, NULL, &sink, &e) == 0)
                check_parents(&st);
        else
                FUZZ_ASSERT(e.msg[0], "failure without a message");
        for (size_t i = 0; i < st.n; i++)
                free(st.v[i].path);
        free(st.v);
        synth_list_free(&top);
        synth_list_free(&bottom);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        int fds[MAX_LAYERS];
        size_t n = 0;

        if (size < 1)
                return 0;
        if (data[0] & 1) {
                fds[n++] = fuzz_memfd("fuzz-layer", data + 1, size - 1);
        } else {
                const char *text = (const char *)data + 1, *end = text + size - 1;
                while (n < MAX_LAYERS) {
                        const char *sep = memmem(text, (size_t)(end - text), "---\n", 4);
                        size_t len = sep ? (size_t)(sep - text) : (size_t)(end - text);
                        /* Names straight into the normaliser, too. */
                        char *copy = strndup(text, len);
                        for (char *line = copy, *next; line; line = next) {
                                next = strchr(line, '\n');
                                if (next)
                                        *next++ = '\0';
                                if (*line)
                                        check_normalise(line + 1);
                        }
                        free(copy);
                        fds[n++] = build_layer(text, len);
                        if (!sep)
                                break;
                        text = sep + 4;
                }
        }
        merge(fds, n);
        for (size_t i = 0; i < n; i++)
                close(fds[i]);
        return 0;
}
