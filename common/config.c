/* singularity.conf parser. Linked into the setuid starter: bounded input
 * (file and line sizes), no allocation proportional to anything but the
 * file, every value checked against a table of directives. */
#include "config.h"
#include "fileio.h"

#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum kind {
        K_BOOL,
        K_NUMBER,    /* decimal, min..max */
        K_CHOICE,    /* one of choices[], stored as its index */
        K_BIND_LIST, /* "src[:dest]" absolute paths */
        K_NAME_LIST, /* user or group names */
        K_PATH_LIST, /* absolute paths */
        K_PATH,      /* one absolute path, or empty for none */
};

struct directive {
        const char *key;
        enum kind kind;
        size_t offset;              /* of the field in struct sing_config */
        int min, max;               /* K_NUMBER */
        const char *const *choices; /* K_CHOICE, NULL-terminated, in enum order */
};

static const char *const dev_choices[] = {"no", "yes", "minimal", NULL};
static const char *const overlay_choices[] = {"no", "yes", "try", NULL};
static const char *const setuid_mount_choices[] = {"no", "yes", "iflimited", NULL};
static const char *const comp_choices[] = {"zstd", "gzip", "xz", "lz4", "lzo", NULL};

#define F(field) offsetof(struct sing_config, field)

static const struct directive directives[] = {
    {"allow setuid", K_BOOL, F(allow_setuid), 0, 0, NULL},
    {"max loop devices", K_NUMBER, F(max_loop_devices), 1, 1048576, NULL},
    {"shared loop devices", K_BOOL, F(shared_loop_devices), 0, 0, NULL},
    {"squashfs mount linger", K_NUMBER, F(squashfs_mount_linger), 0, 600, NULL},
    {"allow pid ns", K_BOOL, F(allow_pid_ns), 0, 0, NULL},
    {"config passwd", K_BOOL, F(config_passwd), 0, 0, NULL},
    {"config group", K_BOOL, F(config_group), 0, 0, NULL},
    {"config resolv_conf", K_BOOL, F(config_resolv_conf), 0, 0, NULL},
    {"mount proc", K_BOOL, F(mount_proc), 0, 0, NULL},
    {"mount sys", K_BOOL, F(mount_sys), 0, 0, NULL},
    {"mount dev", K_CHOICE, F(mount_dev), 0, 0, dev_choices},
    {"mount devpts", K_BOOL, F(mount_devpts), 0, 0, NULL},
    {"mount home", K_BOOL, F(mount_home), 0, 0, NULL},
    {"mount tmp", K_BOOL, F(mount_tmp), 0, 0, NULL},
    {"mount hostfs", K_BOOL, F(mount_hostfs), 0, 0, NULL},
    {"bind path", K_BIND_LIST, F(bind_path), 0, 0, NULL},
    {"user bind control", K_BOOL, F(user_bind_control), 0, 0, NULL},
    {"enable overlay", K_CHOICE, F(enable_overlay), 0, 0, overlay_choices},
    {"mount slave", K_BOOL, F(mount_slave), 0, 0, NULL},
    {"sessiondir max size", K_NUMBER, F(sessiondir_max_size), 1, 1048576, NULL},
    {"limit container owners", K_NAME_LIST, F(limit_container_owners), 0, 0, NULL},
    {"limit container groups", K_NAME_LIST, F(limit_container_groups), 0, 0, NULL},
    {"limit container paths", K_PATH_LIST, F(limit_container_paths), 0, 0, NULL},
    {"allow container sif", K_BOOL, F(allow_container_sif), 0, 0, NULL},
    {"allow container squashfs", K_BOOL, F(allow_container_squashfs), 0, 0, NULL},
    {"allow container dir", K_BOOL, F(allow_container_dir), 0, 0, NULL},
    {"allow setuid-mount squashfs", K_CHOICE, F(allow_setuid_mount_squashfs), 0, 0,
     setuid_mount_choices},
    {"seccomp profile", K_PATH, F(seccomp_profile), 0, 0, NULL},
    {"squashfs compressor", K_CHOICE, F(squashfs_compressor), 0, 0, comp_choices},
    {"squashfs compression level", K_NUMBER, F(squashfs_compression_level), 1, 22, NULL},
    {"max layer expansion", K_NUMBER, F(max_layer_expansion), 1, 1000000000, NULL},
    {"ldconfig path", K_PATH_LIST, F(ldconfig_path), 0, 0, NULL},
};

#define N_DIRECTIVES (sizeof(directives) / sizeof(directives[0]))

/* Compression levels each compressor takes (mksquashfs -Xcompression-level);
 * max 0: the compressor has no level. */
static const struct {
        int def, min, max;
} comp_levels[] = {
    [CONFIG_COMP_ZSTD] = {3, 1, 22}, [CONFIG_COMP_GZIP] = {9, 1, 9}, [CONFIG_COMP_XZ] = {0, 0, 0},
    [CONFIG_COMP_LZ4] = {0, 0, 0},   [CONFIG_COMP_LZO] = {8, 1, 9},
};

bool config_setuid_kernel_squashfs(const struct sing_config *c)
{
        switch (c->allow_setuid_mount_squashfs) {
        case CONFIG_SETUID_MOUNT_YES:
                return true;
        case CONFIG_SETUID_MOUNT_IFLIMITED:
                return c->limit_container_owners || c->limit_container_groups ||
                       c->limit_container_paths;
        default:
                return false;
        }
}

const char *config_compressor_name(int comp)
{
        if (comp < 0 || comp > CONFIG_COMP_LZO)
                return NULL;
        return comp_choices[comp];
}

static char **list_new(void)
{
        return calloc(1, sizeof(char *));
}

static void list_free(char **l)
{
        size_t i;
        for (i = 0; l && l[i]; i++)
                free(l[i]);
        free(l);
}

/* Append a copy of s[0..len) to the list at *lp (created when NULL). */
static int list_add(char ***lp, const char *s, size_t len)
{
        size_t n = 0;
        char **l = *lp, **nl, *copy;

        while (l && l[n])
                n++;
        copy = strndup(s, len);
        if (!copy)
                return -1;
        nl = realloc(l, (n + 2) * sizeof(char *));
        if (!nl) {
                free(copy);
                return -1;
        }
        nl[n] = copy;
        nl[n + 1] = NULL;
        *lp = nl;
        return 0;
}

void config_init_defaults(struct sing_config *c)
{
        memset(c, 0, sizeof(*c));
        c->allow_setuid = true;
        c->max_loop_devices = 256;
        c->allow_pid_ns = true;
        c->config_passwd = true;
        c->config_group = true;
        c->config_resolv_conf = true;
        c->mount_proc = true;
        c->mount_sys = true;
        c->mount_dev = CONFIG_DEV_YES;
        c->mount_devpts = true;
        c->mount_home = true;
        c->mount_tmp = true;
        c->mount_hostfs = false;
        c->user_bind_control = true;
        c->enable_overlay = CONFIG_OVERLAY_TRY;
        c->mount_slave = true;
        c->sessiondir_max_size = 64;
        c->allow_container_sif = true;
        c->allow_container_squashfs = true;
        c->allow_container_dir = true;
        c->allow_setuid_mount_squashfs = CONFIG_SETUID_MOUNT_IFLIMITED;
        c->squashfs_compressor = CONFIG_COMP_ZSTD;
        c->squashfs_compression_level = comp_levels[CONFIG_COMP_ZSTD].def;
        c->max_layer_expansion = 200;
        c->bind_path = list_new();
        if (!c->bind_path || list_add(&c->bind_path, "/etc/localtime", 14) < 0 ||
            list_add(&c->bind_path, "/etc/hosts", 10) < 0)
                abort();
}

void config_free(struct sing_config *c)
{
        list_free(c->bind_path);
        list_free(c->limit_container_owners);
        list_free(c->limit_container_groups);
        list_free(c->limit_container_paths);
        free(c->seccomp_profile);
        list_free(c->ldconfig_path);
        memset(c, 0, sizeof(*c));
}

/* Where we are, for messages. */
struct pos {
        const char *name;
        unsigned line;
};

/* `FILE:LINE: invalid value "v" for "key" (expected ...)`, the value shown
 * printable and shortened so the message stays one line. */
static int bad_value(sing_err_t *e, const struct pos *at, const char *key, const char *v,
                     size_t len, const char *expected)
{
        char shown[68];
        size_t i, n = 0;

        for (i = 0; i < len && n < 64; i++)
                shown[n++] = (char)((v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?');
        if (i < len) {
                memcpy(shown + n, "...", 3);
                n += 3;
        }
        shown[n] = '\0';
        return err_set(e, "%s:%u: invalid value \"%s\" for \"%s\" (expected %s)", at->name,
                       at->line, shown, key, expected);
}

static int parse_bool(const char *v, bool *out)
{
        if (strcasecmp(v, "yes") == 0)
                *out = true;
        else if (strcasecmp(v, "no") == 0)
                *out = false;
        else
                return -1;
        return 0;
}

/* Plain decimal digits only: no sign, no spaces, no hex, no overflow. */
static int parse_number(const char *v, int min, int max, int *out)
{
        long n = 0;
        size_t i;

        if (!*v || strlen(v) > 9)
                return -1;
        for (i = 0; v[i]; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return -1;
                n = n * 10 + (v[i] - '0');
        }
        if (n < min || n > max)
                return -1;
        *out = (int)n;
        return 0;
}

/* Absolute, and no "." or ".." component (prefix checks on limit
 * container paths and bind destinations must mean what they say). */
static bool is_clean_abs_path(const char *p, size_t len)
{
        size_t i = 0;

        if (len == 0 || p[0] != '/')
                return false;
        while (i < len) {
                size_t start, n;
                while (i < len && p[i] == '/')
                        i++;
                start = i;
                while (i < len && p[i] != '/')
                        i++;
                n = i - start;
                if ((n == 1 && p[start] == '.') ||
                    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
                        return false;
        }
        return true;
}

static bool is_bind_entry(const char *s, size_t len)
{
        const char *colon = memchr(s, ':', len);
        if (!colon)
                return is_clean_abs_path(s, len);
        size_t dlen = len - (size_t)(colon - s) - 1;
        /* One ':' at most: mount options are not taken here. */
        return is_clean_abs_path(s, (size_t)(colon - s)) && !memchr(colon + 1, ':', dlen) &&
               is_clean_abs_path(colon + 1, dlen);
}

/* User and group names: the portable set plus '@' and '$' (directory
 * services), not starting with '-'. */
static bool is_account_name(const char *s, size_t len)
{
        size_t i;
        if (len == 0 || len > 256 || s[0] == '-')
                return false;
        for (i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || c == '@' || c == '$'))
                        return false;
        }
        return true;
}

static int parse_list(const struct directive *d, const char *v, char ***lp, const struct pos *at,
                      sing_err_t *e)
{
        const char *expected = d->kind == K_BIND_LIST   ? "comma-separated absolute paths, "
                                                          "each \"src\" or \"src:dest\""
                               : d->kind == K_PATH_LIST ? "comma-separated absolute paths"
                                                        : "comma-separated user or group names";
        const char *p = v;

        if (!*v) {
                /* "bind path =" empties the list; an empty limit would be
                 * ambiguous (nobody? everybody?), so it is refused. */
                if (d->kind == K_BIND_LIST)
                        return 0;
                return bad_value(e, at, d->key, v, 0, expected);
        }
        for (;;) {
                const char *comma = strchr(p, ',');
                const char *end = comma ? comma : p + strlen(p);
                size_t len;
                bool ok;

                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
                        end--;
                len = (size_t)(end - p);
                if (d->kind == K_BIND_LIST)
                        ok = is_bind_entry(p, len);
                else if (d->kind == K_PATH_LIST)
                        ok = is_clean_abs_path(p, len);
                else
                        ok = is_account_name(p, len);
                if (!ok)
                        return bad_value(e, at, d->key, p, len, expected);
                if (list_add(lp, p, len) < 0)
                        return err_errno(e, "%s:%u: reading configuration", at->name, at->line);
                if (!comma)
                        return 0;
                p = comma + 1;
        }
}

/* State across lines of one file. */
struct parse_state {
        unsigned seen[N_DIRECTIVES]; /* line of the first occurrence, 0 if none */
        char level_value[16];        /* squashfs compression level as written */
};

static int apply(const struct directive *d, size_t idx, const char *v, struct sing_config *c,
                 struct parse_state *st, const struct pos *at, sing_err_t *e)
{
        void *field = (char *)c + d->offset;
        bool first = st->seen[idx] == 0;
        size_t i;

        if (!first && d->kind != K_BIND_LIST && d->kind != K_NAME_LIST && d->kind != K_PATH_LIST)
                return err_set(e, "%s:%u: \"%s\" already set on line %u", at->name, at->line,
                               d->key, st->seen[idx]);
        if (first)
                st->seen[idx] = at->line;

        switch (d->kind) {
        case K_BOOL:
                if (parse_bool(v, field) < 0)
                        return bad_value(e, at, d->key, v, strlen(v), "yes or no");
                return 0;
        case K_NUMBER:
                if (parse_number(v, d->min, d->max, field) < 0) {
                        char expected[64];
                        snprintf(expected, sizeof(expected), "a number from %d to %d", d->min,
                                 d->max);
                        return bad_value(e, at, d->key, v, strlen(v), expected);
                }
                if (d->offset == F(squashfs_compression_level))
                        snprintf(st->level_value, sizeof(st->level_value), "%s", v);
                return 0;
        case K_CHOICE:
                for (i = 0; d->choices[i]; i++) {
                        if (strcasecmp(v, d->choices[i]) == 0) {
                                *(int *)field = (int)i;
                                return 0;
                        }
                }
                {
                        char expected[64] = "";
                        for (i = 0; d->choices[i]; i++) {
                                size_t n = strlen(expected);
                                snprintf(expected + n, sizeof(expected) - n, "%s%s",
                                         i == 0              ? ""
                                         : d->choices[i + 1] ? ", "
                                                             : " or ",
                                         d->choices[i]);
                        }
                        return bad_value(e, at, d->key, v, strlen(v), expected);
                }
        case K_BIND_LIST:
                /* The file's bind paths replace the built-in ones. */
                if (first) {
                        list_free(c->bind_path);
                        c->bind_path = list_new();
                        if (!c->bind_path)
                                return err_errno(e, "%s:%u: reading configuration", at->name,
                                                 at->line);
                }
                /* fall through */
        case K_NAME_LIST:
        case K_PATH_LIST:
                return parse_list(d, v, field, at, e);
        case K_PATH:
                if (!*v)
                        return 0;
                if (!is_clean_abs_path(v, strlen(v)))
                        return bad_value(e, at, d->key, v, strlen(v),
                                         "an absolute path without . or .. components");
                if (!(*(char **)field = strdup(v)))
                        return err_errno(e, "%s:%u: reading configuration", at->name, at->line);
                return 0;
        }
        return 0;
}

/* After the last line: the compression level must suit the compressor, and
 * takes the compressor's default when not given. */
static int check_level(struct sing_config *c, struct parse_state *st, const char *name,
                       sing_err_t *e)
{
        size_t idx;
        int comp = c->squashfs_compressor;
        unsigned line = 0;

        for (idx = 0; idx < N_DIRECTIVES; idx++) {
                if (directives[idx].offset == F(squashfs_compression_level))
                        line = st->seen[idx];
        }
        if (!line) {
                c->squashfs_compression_level = comp_levels[comp].def;
                return 0;
        }
        if (comp_levels[comp].max == 0)
                return err_set(e,
                               "%s:%u: invalid value \"%s\" for \"squashfs compression level\" "
                               "(%s takes no level)",
                               name, line, st->level_value, comp_choices[comp]);
        if (c->squashfs_compression_level < comp_levels[comp].min ||
            c->squashfs_compression_level > comp_levels[comp].max)
                return err_set(e,
                               "%s:%u: invalid value \"%s\" for \"squashfs compression level\" "
                               "(expected %d to %d for %s)",
                               name, line, st->level_value, comp_levels[comp].min,
                               comp_levels[comp].max, comp_choices[comp]);
        return 0;
}

static const char *trim(char *s)
{
        char *end;
        while (*s == ' ' || *s == '\t')
                s++;
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = '\0';
        return s;
}

/* Copy the key with blanks trimmed and inner runs of blanks made one space,
 * so "mount  home" and "mount\thome" are found as "mount home". */
static void normalize_key(const char *k, size_t len, char *out)
{
        size_t i, n = 0;
        bool blank = false;

        for (i = 0; i < len; i++) {
                if (k[i] == ' ' || k[i] == '\t') {
                        blank = n > 0;
                        continue;
                }
                if (blank)
                        out[n++] = ' ';
                blank = false;
                out[n++] = k[i];
        }
        out[n] = '\0';
}

static int parse_line(char *line, struct sing_config *c, struct parse_state *st,
                      const struct pos *at, sing_err_t *e)
{
        char key[CONFIG_MAX_LINE_LEN + 1];
        const char *p = line, *value;
        char *eq;
        size_t i;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '\0' || *p == '#')
                return 0;
        eq = strchr(p, '=');
        if (!eq)
                return err_set(e, "%s:%u: expected \"key = value\"", at->name, at->line);
        normalize_key(p, (size_t)(eq - p), key);
        value = trim(eq + 1);
        for (i = 0; i < N_DIRECTIVES; i++) {
                if (strcmp(key, directives[i].key) == 0)
                        return apply(&directives[i], i, value, c, st, at, e);
        }
        {
                char shown[68];
                size_t n = 0;
                for (i = 0; key[i] && n < 64; i++)
                        shown[n++] = (char)((key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?');
                shown[n] = '\0';
                return err_set(e, "%s:%u: unknown directive \"%s%s\"", at->name, at->line, shown,
                               key[i] ? "..." : "");
        }
}

/* Read all of fd into a NUL-terminated buffer, at most CONFIG_MAX_FILE_SIZE. */
static int read_all(int fd, const char *name, char **out, size_t *len, sing_err_t *e)
{
        if (read_all_bounded(fd, CONFIG_MAX_FILE_SIZE, out, len) == 0)
                return 0;
        if (errno == EFBIG)
                return err_set(e, "%s: larger than %d bytes", name, CONFIG_MAX_FILE_SIZE);
        return err_errno(e, "reading %s", name);
}

/* `limit container owners|groups|paths` hold only for images the kernel
 * mounts: an image served by squashfuse, which runs as the user, can be
 * swapped by that user (pidfd_getfd of its FUSE connection). So `allow
 * setuid-mount squashfs = no` together with a limit is refused rather than
 * silently unenforced (`iflimited`, the default, mounts limited images with
 * the kernel driver). */
static int check_limits_enforceable(const struct sing_config *c, const struct parse_state *st,
                                    const char *name, sing_err_t *e)
{
        unsigned line = 0;
        if (c->allow_setuid_mount_squashfs != CONFIG_SETUID_MOUNT_NO ||
            !(c->limit_container_owners || c->limit_container_groups || c->limit_container_paths))
                return 0;
        for (size_t idx = 0; idx < N_DIRECTIVES; idx++)
                if (directives[idx].offset == F(allow_setuid_mount_squashfs))
                        line = st->seen[idx];
        return err_set(e,
                       "%s:%u: \"allow setuid-mount squashfs = no\" cannot enforce the \"limit "
                       "container\" options (squashfuse runs as the user); use iflimited or yes",
                       name, line);
}

static int parse_buffer(char *buf, size_t len, const char *name, struct sing_config *c,
                        sing_err_t *e)
{
        struct parse_state st;
        struct pos at = {name, 0};
        char *p = buf, *end = buf + len;

        memset(&st, 0, sizeof(st));
        while (p < end) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                char *eol = nl ? nl : end;
                size_t n = (size_t)(eol - p);

                at.line++;
                if (n > CONFIG_MAX_LINE_LEN)
                        return err_set(e, "%s:%u: line longer than %d bytes", name, at.line,
                                       CONFIG_MAX_LINE_LEN);
                if (memchr(p, '\0', n))
                        return err_set(e, "%s:%u: NUL byte in line", name, at.line);
                *eol = '\0';
                if (n > 0 && eol[-1] == '\r')
                        eol[-1] = '\0';
                if (parse_line(p, c, &st, &at, e) < 0)
                        return -1;
                p = eol + 1;
        }
        if (check_level(c, &st, name, e) < 0)
                return -1;
        return check_limits_enforceable(c, &st, name, e);
}

int config_parse_fd(int fd, const char *name, struct sing_config *c, sing_err_t *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;

        config_init_defaults(c);
        if (read_all(fd, name, &buf, &len, e) < 0)
                return -1;
        if (parse_buffer(buf, len, name, c, e) < 0) {
                /* Half-applied settings are never used: back to defaults. */
                config_free(c);
                config_init_defaults(c);
                return -1;
        }
        return 0;
}

int config_open(const char *path, bool nofollow, sing_err_t *e)
{
        struct stat st;
        /* O_NONBLOCK: a FIFO planted at the path must not hang the reader
         * (the starter runs setuid); the type is checked right after. */
        int fd =
            open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
        if (fd < 0)
                return err_errno(e, "opening %s", path);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return err_set(e, "%s: not a regular file", path);
        }
        return fd;
}

int config_parse_file(const char *path, struct sing_config *c, sing_err_t *e)
{
        config_init_defaults(c);
        _cleanup_close_ int fd = config_open(path, false, e);
        if (fd < 0)
                return -1;
        config_free(c);
        return config_parse_fd(fd, path, c, e);
}
