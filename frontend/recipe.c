/* Definition file parser; the format is described in recipe.h. */
#include "recipe.h"

#include "boolval.h"

#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action_script.h"
#include "cleanup.h"
#include "convert.h"
#include "log.h"

#define RECIPE_MAX_BYTES (4u << 20)

static const char *const section_names[SEC_COUNT] = {
    [SEC_SETUP] = "setup",         [SEC_FILES] = "files",
    [SEC_POST] = "post",           [SEC_ENVIRONMENT] = "environment",
    [SEC_RUNSCRIPT] = "runscript", [SEC_STARTSCRIPT] = "startscript",
    [SEC_TEST] = "test",           [SEC_LABELS] = "labels",
    [SEC_HELP] = "help",
};

const char *recipe_section_name(enum recipe_section_id id)
{
        return id < SEC_COUNT ? section_names[id] : "?";
}

static const char *const app_section_names[APP_SEC_COUNT] = {
    [APP_INSTALL] = "appinstall", [APP_RUN] = "apprun",     [APP_ENV] = "appenv",
    [APP_LABELS] = "applabels",   [APP_FILES] = "appfiles", [APP_HELP] = "apphelp",
    [APP_TEST] = "apptest",
};

const char *recipe_app_section_name(enum recipe_app_section_id id)
{
        return id < APP_SEC_COUNT ? app_section_names[id] : "?";
}

/* Header keywords, in the order of the flags in `seen`. */
enum header_key {
        KEY_BOOTSTRAP,
        KEY_FROM,
        KEY_REGISTRY,
        KEY_NAMESPACE,
        KEY_INCLUDECMD,
        KEY_TOKEN,
        KEY_USERNAME,
        KEY_PASSWORD,
        KEY_STAGE,
        KEY_COUNT,
};

static const char *const key_names[KEY_COUNT] = {
    "Bootstrap", "From",     "Registry", "Namespace", "IncludeCmd",
    "Token",     "Username", "Password", "Stage",
};

/* Growing text buffer for section bodies and the redacted copy. */
struct buf {
        char *s;
        size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *p = realloc(b->s, cap);
                if (!p)
                        return -1;
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = '\0';
        return 0;
}

static int buf_str(struct buf *b, const char *s)
{
        return buf_add(b, s, strlen(s));
}

static char *trim(char *s)
{
        char *end;
        while (*s == ' ' || *s == '\t')
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return s;
}

/* A "#" at the start or after a blank starts a comment. */
static void strip_comment(char *s)
{
        for (char *p = s; *p; p++)
                if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
                        *p = '\0';
                        return;
                }
}

/* The one truth table (common/boolval.h); an empty header value is an
 * error here, not "no". */
static int parse_bool(const char *v, bool *out)
{
        return *v ? boolval_parse(v, out) : -1;
}

struct parser {
        struct recipe *r;
        const char *path;
        unsigned seen_line[KEY_COUNT]; /* 0: not given */
        struct buf body[SEC_COUNT];
        struct buf redacted;
        struct buf *from_body;                 /* one per r->files_from entry */
        struct buf (*app_body)[APP_SEC_COUNT]; /* one row per r->apps entry */
        /* current section, SEC_COUNT + i for r->files_from[i], CUR_APP for
         * app_body[cur_app][cur_app_sec], or -1 in the header */
        int cur;
        size_t cur_app;
        int cur_app_sec;
};

#define CUR_APP (1 << 30)

static struct buf *cur_buf(struct parser *p)
{
        if (p->cur == CUR_APP)
                return &p->app_body[p->cur_app][p->cur_app_sec];
        if (p->cur >= SEC_COUNT)
                return &p->from_body[p->cur - SEC_COUNT];
        return &p->body[p->cur];
}

/* "%appNAME APP": a section of app APP (made on first mention). */
static int app_section_line(struct parser *p, const char *line, int sec, const char *args,
                            unsigned lineno, sing_err_t *e)
{
        struct recipe *r = p->r;
        size_t n = strcspn(args, " \t");
        size_t i;
        if (!n)
                return err_set(e, "%s:%u: %%%s needs an app name", p->path, lineno,
                               app_section_names[sec]);
        if (args[n + strspn(args + n, " \t")])
                return err_set(e, "%s:%u: %%%s takes one app name, got \"%s\"", p->path, lineno,
                               app_section_names[sec], args);
        for (i = 0; i < r->napps; i++)
                if (strlen(r->apps[i].name) == n && !strncmp(r->apps[i].name, args, n))
                        break;
        if (i == r->napps) {
                struct recipe_app *v = realloc(r->apps, (r->napps + 1) * sizeof(*v));
                struct buf(*b)[APP_SEC_COUNT];
                if (!v)
                        return err_set(e, "out of memory");
                r->apps = v;
                memset(&v[i], 0, sizeof(v[i]));
                b = realloc(p->app_body, (r->napps + 1) * sizeof(*b));
                if (!b)
                        return err_set(e, "out of memory");
                p->app_body = b;
                memset(&b[i], 0, sizeof(b[i]));
                r->napps++;
                if (!(v[i].name = strndup(args, n)))
                        return err_set(e, "out of memory");
                if (!app_name_valid(v[i].name))
                        return err_set(e,
                                       "%s:%u: app name \"%s\": use letters, digits, '_', '-', "
                                       "'.' and '+' (not first: '.', '-')",
                                       p->path, lineno, v[i].name);
        }
        if (!r->apps[i].sec[sec].present) {
                r->apps[i].sec[sec].present = true;
                r->apps[i].sec[sec].line = lineno;
        }
        p->cur = CUR_APP;
        p->cur_app = i;
        p->cur_app_sec = sec;
        if (buf_str(&p->redacted, line) < 0 || buf_str(&p->redacted, "\n") < 0)
                return err_set(e, "out of memory");
        return 0;
}

static int header_line(struct parser *p, char *raw, unsigned lineno, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(raw);
        char *line, *colon, *key, *value;
        struct recipe *r = p->r;
        int k;

        if (!copy)
                return err_set(e, "out of memory");
        strip_comment(copy);
        line = trim(copy);
        if (!*line)
                return buf_str(&p->redacted, raw) < 0 || buf_str(&p->redacted, "\n") < 0
                           ? err_set(e, "out of memory")
                           : 0;
        colon = strchr(line, ':');
        if (!colon)
                return err_set(e, "%s:%u: expected 'Keyword: value' or a %%section, got \"%s\"",
                               p->path, lineno, line);
        *colon = '\0';
        key = trim(line);
        value = trim(colon + 1);
        for (k = 0; k < KEY_COUNT; k++)
                if (!strcasecmp(key, key_names[k]))
                        break;
        if (k == KEY_COUNT) {
                log_warn("%s:%u: unknown header keyword \"%s\" ignored", p->path, lineno, key);
                return buf_str(&p->redacted, raw) < 0 || buf_str(&p->redacted, "\n") < 0
                           ? err_set(e, "out of memory")
                           : 0;
        }
        if (p->seen_line[k])
                return err_set(e, "%s:%u: header keyword %s given twice (first at line %u)",
                               p->path, lineno, key_names[k], p->seen_line[k]);
        p->seen_line[k] = lineno;
        /* Credentials never reach the stored copy of the recipe. */
        if (k == KEY_USERNAME || k == KEY_PASSWORD) {
                if (buf_str(&p->redacted, key_names[k]) < 0 ||
                    buf_str(&p->redacted, ": <redacted>\n") < 0)
                        return err_set(e, "out of memory");
        } else if (buf_str(&p->redacted, raw) < 0 || buf_str(&p->redacted, "\n") < 0) {
                return err_set(e, "out of memory");
        }
        if (!*value)
                return err_set(e, "%s:%u: %s has no value", p->path, lineno, key_names[k]);

        char **dest = NULL;
        bool flag;
        switch (k) {
        case KEY_BOOTSTRAP:
                for (int b = 0; b <= BOOTSTRAP_OCI_ARCHIVE; b++)
                        if (!strcasecmp(value, recipe_bootstrap_name(b))) {
                                r->bootstrap = b;
                                return 0;
                        }
                return err_set(e,
                               "%s:%u: unknown Bootstrap \"%s\" (supported: docker, "
                               "docker-archive, oci, oci-archive, localimage)",
                               p->path, lineno, value);
        case KEY_INCLUDECMD:
        case KEY_TOKEN:
                if (parse_bool(value, &flag) < 0)
                        return err_set(e, "%s:%u: %s must be " BOOLVAL_WORDS ", not \"%s\"",
                                       p->path, lineno, key_names[k], value);
                if (k == KEY_INCLUDECMD)
                        r->include_cmd = flag;
                else
                        r->no_token = !flag;
                return 0;
        case KEY_FROM:
                dest = &r->from;
                break;
        case KEY_REGISTRY:
                dest = &r->registry;
                r->registry_http = !strncasecmp(value, "http://", 7);
                break;
        case KEY_NAMESPACE:
                dest = &r->namespace_;
                break;
        case KEY_USERNAME:
                dest = &r->username;
                break;
        case KEY_STAGE:
                dest = &r->stage;
                break;
        default:
                dest = &r->password;
                break;
        }
        *dest = strdup(value);
        return *dest ? 0 : err_set(e, "out of memory");
}

/* "%files from STAGE": a section of its own, for that stage. */
static int files_from_line(struct parser *p, const char *line, const char *name, unsigned lineno,
                           sing_err_t *e)
{
        struct recipe *r = p->r;
        struct recipe_files_from *v;
        struct buf *b;
        _cleanup_free_ char *copy = strdup(name);
        char *stage;
        if (!copy)
                return err_set(e, "out of memory");
        stage = trim(copy);
        if (!*stage || strpbrk(stage, " \t"))
                return err_set(e, "%s:%u: %%files from takes one stage name, got \"%s\"", p->path,
                               lineno, stage);
        v = realloc(r->files_from, (r->nfiles_from + 1) * sizeof(*v));
        if (!v)
                return err_set(e, "out of memory");
        r->files_from = v;
        b = realloc(p->from_body, (r->nfiles_from + 1) * sizeof(*b));
        if (!b)
                return err_set(e, "out of memory");
        p->from_body = b;
        memset(&b[r->nfiles_from], 0, sizeof(*b));
        memset(&v[r->nfiles_from], 0, sizeof(*v));
        if (!(v[r->nfiles_from].stage = strdup(stage)))
                return err_set(e, "out of memory");
        v[r->nfiles_from].sec.present = true;
        v[r->nfiles_from].sec.line = lineno;
        p->cur = SEC_COUNT + (int)r->nfiles_from;
        r->nfiles_from++;
        if (buf_str(&p->redacted, line) < 0 || buf_str(&p->redacted, "\n") < 0)
                return err_set(e, "out of memory");
        return 0;
}

/* "%name [args]" at the start of a line opens a section. */
static int section_line(struct parser *p, const char *line, unsigned lineno, sing_err_t *e)
{
        size_t n = strcspn(line + 1, " \t\r");
        int s;
        for (s = 0; s < APP_SEC_COUNT; s++)
                if (strlen(app_section_names[s]) == n &&
                    !strncasecmp(line + 1, app_section_names[s], n)) {
                        const char *args = line + 1 + n;
                        while (*args == ' ' || *args == '\t')
                                args++;
                        return app_section_line(p, line, s, args, lineno, e);
                }
        for (s = 0; s < SEC_COUNT; s++)
                if (strlen(section_names[s]) == n && !strncasecmp(line + 1, section_names[s], n))
                        break;
        if (s == SEC_COUNT)
                return err_set(
                    e,
                    "%s:%u: unknown section %%%.*s (known: %%setup %%files %%post "
                    "%%environment %%runscript %%startscript %%test %%labels %%help, and "
                    "%%appinstall %%apprun %%appenv %%applabels %%appfiles %%apphelp "
                    "%%apptest NAME)",
                    p->path, lineno, (int)n, line + 1);
        if (line[1 + n]) {
                const char *args = line + 1 + n;
                while (*args == ' ' || *args == '\t')
                        args++;
                if (s == SEC_FILES && !strncasecmp(args, "from", 4) &&
                    (args[4] == ' ' || args[4] == '\t'))
                        return files_from_line(p, line, args + 5, lineno, e);
                if (*args)
                        log_warn("%s:%u: arguments of %%%s ignored: %s", p->path, lineno,
                                 section_names[s], args);
        }
        if (!p->r->sec[s].present) {
                p->r->sec[s].present = true;
                p->r->sec[s].line = lineno;
        }
        p->cur = s;
        if (buf_str(&p->redacted, line) < 0 || buf_str(&p->redacted, "\n") < 0)
                return err_set(e, "out of memory");
        return 0;
}

/* A script section may name its interpreter: "#!" on its first non-blank
 * line, however indented (recipes are usually indented). Move that line to
 * the start of the body so it is the script's real first line. */
static void own_interpreter(char *body)
{
        char *p = body, *line;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
                p++;
        if (strncmp(p, "#!", 2) != 0)
                return;
        line = p;
        memmove(body, line, strlen(line) + 1);
}

static int finish(struct parser *p, sing_err_t *e)
{
        struct recipe *r = p->r;
        if (!p->seen_line[KEY_BOOTSTRAP])
                return err_set(e, "%s:1: no Bootstrap keyword in the header", p->path);
        if (!r->from)
                return err_set(e, "%s:%u: Bootstrap %s needs a From keyword", p->path,
                               p->seen_line[KEY_BOOTSTRAP], recipe_bootstrap_name(r->bootstrap));
        if (r->bootstrap != BOOTSTRAP_DOCKER &&
            (r->registry || r->namespace_ || r->username || r->password))
                log_warn("%s: Registry, Namespace and credentials are ignored for %s", p->path,
                         recipe_bootstrap_name(r->bootstrap));
        for (int s = 0; s < SEC_COUNT; s++) {
                if (!r->sec[s].present)
                        continue;
                r->sec[s].body = p->body[s].s ? steal_ptr(&p->body[s].s) : strdup("");
                if (!r->sec[s].body)
                        return err_set(e, "out of memory");
                if (s == SEC_RUNSCRIPT || s == SEC_STARTSCRIPT || s == SEC_TEST)
                        own_interpreter(r->sec[s].body);
        }
        for (size_t i = 0; i < r->napps; i++)
                for (int k = 0; k < APP_SEC_COUNT; k++) {
                        struct recipe_section *sec = &r->apps[i].sec[k];
                        if (!sec->present)
                                continue;
                        sec->body =
                            p->app_body[i][k].s ? steal_ptr(&p->app_body[i][k].s) : strdup("");
                        if (!sec->body)
                                return err_set(e, "out of memory");
                        if (k == APP_RUN || k == APP_TEST)
                                own_interpreter(sec->body);
                }
        for (size_t i = 0; i < r->nfiles_from; i++) {
                r->files_from[i].sec.body =
                    p->from_body[i].s ? steal_ptr(&p->from_body[i].s) : strdup("");
                if (!r->files_from[i].sec.body)
                        return err_set(e, "out of memory");
        }
        r->redacted = steal_ptr(&p->redacted.s);
        if (!r->redacted && !(r->redacted = strdup("")))
                return err_set(e, "out of memory");
        return 0;
}

int recipe_parse(const char *text, size_t len, const char *path, struct recipe *r, sing_err_t *e)
{
        struct parser p = {.r = r, .path = path, .cur = -1};
        _cleanup_free_ char *pathcopy = strdup(path);
        const char *s = text, *end = text + len;
        unsigned lineno = 0;
        int rc = -1;

        memset(r, 0, sizeof(*r));
        if (!pathcopy || !(r->path = strdup(path)) || !(r->dir = strdup(dirname(pathcopy)))) {
                err_set(e, "out of memory");
                goto out;
        }
        if (memchr(text, '\0', len)) {
                err_set(e, "%s: not a text file (contains NUL bytes)", path);
                goto out;
        }
        while (s < end) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
                _cleanup_free_ char *line = strndup(s, n);
                lineno++;
                s += n + (nl ? 1 : 0);
                if (!line) {
                        err_set(e, "out of memory");
                        goto out;
                }
                if (n && line[n - 1] == '\r')
                        line[n - 1] = '\0';
                if (line[0] == '%' && isalpha((unsigned char)line[1])) {
                        if (section_line(&p, line, lineno, e) < 0)
                                goto out;
                } else if (p.cur < 0) {
                        if (header_line(&p, line, lineno, e) < 0)
                                goto out;
                } else if (buf_str(cur_buf(&p), line) < 0 || buf_str(cur_buf(&p), "\n") < 0 ||
                           buf_str(&p.redacted, line) < 0 || buf_str(&p.redacted, "\n") < 0) {
                        err_set(e, "out of memory");
                        goto out;
                }
        }
        rc = finish(&p, e);
out:
        for (int i = 0; i < SEC_COUNT; i++)
                free(p.body[i].s);
        for (size_t i = 0; p.from_body && i < r->nfiles_from; i++)
                free(p.from_body[i].s);
        free(p.from_body);
        for (size_t i = 0; p.app_body && i < r->napps; i++)
                for (int k = 0; k < APP_SEC_COUNT; k++)
                        free(p.app_body[i][k].s);
        free(p.app_body);
        free(p.redacted.s);
        if (rc < 0)
                recipe_free(r);
        return rc;
}

int recipe_load(const char *path, struct recipe *r, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        memset(r, 0, sizeof(*r));
        if (read_small_file(path, RECIPE_MAX_BYTES, &text, &len, e) < 0)
                return err_prefix(e, "definition file");
        return recipe_parse(text, len, path, r, e);
}

void recipe_free(struct recipe *r)
{
        free(r->path);
        free(r->dir);
        free(r->redacted);
        free(r->from);
        free(r->registry);
        free(r->namespace_);
        free(r->username);
        if (r->password) {
                /* Do not leave the password lying around in freed memory. */
                explicit_bzero(r->password, strlen(r->password));
                free(r->password);
        }
        for (int i = 0; i < SEC_COUNT; i++)
                free(r->sec[i].body);
        for (size_t i = 0; i < r->nfiles_from; i++) {
                free(r->files_from[i].stage);
                free(r->files_from[i].sec.body);
        }
        free(r->files_from);
        for (size_t i = 0; i < r->napps; i++) {
                free(r->apps[i].name);
                for (int k = 0; k < APP_SEC_COUNT; k++)
                        free(r->apps[i].sec[k].body);
        }
        free(r->apps);
        free(r->stage);
        memset(r, 0, sizeof(*r));
}

const char *recipe_bootstrap_name(enum recipe_bootstrap b)
{
        switch (b) {
        case BOOTSTRAP_DOCKER:
                return "docker";
        case BOOTSTRAP_LOCALIMAGE:
                return "localimage";
        case BOOTSTRAP_DOCKER_ARCHIVE:
                return "docker-archive";
        case BOOTSTRAP_OCI:
                return "oci";
        case BOOTSTRAP_OCI_ARCHIVE:
                return "oci-archive";
        }
        return "?";
}

char *recipe_docker_uri(const struct recipe *r)
{
        const char *from = r->from, *reg = r->registry;
        size_t reglen = reg ? strlen(reg) : 0;
        char *uri = NULL;
        if (!strncmp(from, "docker://", 9))
                from += 9;
        if (reg && !strncmp(reg, "https://", 8))
                reg += 8, reglen -= 8;
        else if (reg && !strncmp(reg, "http://", 7))
                reg += 7, reglen -= 7;
        while (reglen > 0 && reg[reglen - 1] == '/')
                reglen--;
        if (asprintf(&uri, "docker://%.*s%s%s%s%s", (int)reglen, reg ? reg : "", reglen ? "/" : "",
                     r->namespace_ ? r->namespace_ : "", r->namespace_ ? "/" : "", from) < 0)
                return NULL;
        return uri;
}

/* Walk the lines of a section body: blank and "#" lines skipped, each
 * other line split into its first word and the (trimmed) rest. */
typedef int (*line_fn)(void *ctx, char *first, char *rest, unsigned line, sing_err_t *e);

static int each_line_of(const struct recipe_section *sec, line_fn fn, void *ctx, sing_err_t *e)
{
        _cleanup_free_ char *copy = NULL;
        char *save = NULL, *line;
        unsigned lineno = sec->line;
        if (!sec->present)
                return 0;
        if (!(copy = strdup(sec->body)))
                return err_set(e, "out of memory");
        /* strtok_r would skip empty lines and lose the count: split by hand. */
        for (line = copy; line; line = save) {
                char *nl = strchr(line, '\n'), *first, *rest;
                save = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = '\0';
                else if (!*line)
                        break;
                lineno++;
                first = trim(line);
                if (!*first || *first == '#')
                        continue;
                rest = first + strcspn(first, " \t");
                if (*rest)
                        *rest++ = '\0';
                rest = trim(rest);
                if (fn(ctx, first, rest, lineno, e) < 0)
                        return -1;
        }
        return 0;
}

static int each_line(const struct recipe *r, enum recipe_section_id id, line_fn fn, void *ctx,
                     sing_err_t *e)
{
        return each_line_of(&r->sec[id], fn, ctx, e);
}

struct files_ctx {
        const struct recipe *r;
        struct recipe_file *v;
        size_t n;
};

static int add_file(void *ctx, char *first, char *rest, unsigned line, sing_err_t *e)
{
        struct files_ctx *c = ctx;
        struct recipe_file *v, *f;
        strip_comment(rest);
        rest = trim(rest);
        if (strpbrk(rest, " \t"))
                return err_set(e, "%s:%u: %%files takes 'source [destination]', got \"%s %s\"",
                               c->r->path, line, first, rest);
        v = realloc(c->v, (c->n + 1) * sizeof(*v));
        if (!v)
                return err_set(e, "out of memory");
        c->v = v;
        f = &v[c->n];
        f->line = line;
        f->src = strdup(first);
        f->dst = *rest ? strdup(rest) : NULL;
        c->n++;
        if (!f->src || (*rest && !f->dst))
                return err_set(e, "out of memory");
        return 0;
}

int recipe_files(const struct recipe *r, struct recipe_file **v, size_t *n, sing_err_t *e)
{
        struct files_ctx c = {.r = r};
        if (each_line(r, SEC_FILES, add_file, &c, e) < 0) {
                recipe_files_free(c.v, c.n);
                return -1;
        }
        *v = c.v;
        *n = c.n;
        return 0;
}

int recipe_files_from(const struct recipe *r, size_t i, struct recipe_file **v, size_t *n,
                      sing_err_t *e)
{
        struct files_ctx c = {.r = r};
        if (i >= r->nfiles_from)
                return err_set(e, "no %%files from section %zu", i);
        if (each_line_of(&r->files_from[i].sec, add_file, &c, e) < 0) {
                recipe_files_free(c.v, c.n);
                return -1;
        }
        *v = c.v;
        *n = c.n;
        return 0;
}

int recipe_app_files(const struct recipe *r, size_t i, struct recipe_file **v, size_t *n,
                     sing_err_t *e)
{
        struct files_ctx c = {.r = r};
        if (i >= r->napps)
                return err_set(e, "no app %zu", i);
        if (each_line_of(&r->apps[i].sec[APP_FILES], add_file, &c, e) < 0) {
                recipe_files_free(c.v, c.n);
                return -1;
        }
        *v = c.v;
        *n = c.n;
        return 0;
}

void recipe_files_free(struct recipe_file *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].src);
                free(v[i].dst);
        }
        free(v);
}

struct labels_ctx {
        const struct recipe *r;
        struct recipe_label *v;
        size_t n;
};

static int add_label(void *ctx, char *first, char *rest, unsigned line, sing_err_t *e)
{
        struct labels_ctx *c = ctx;
        struct recipe_label *v, *l;
        v = realloc(c->v, (c->n + 1) * sizeof(*v));
        if (!v)
                return err_set(e, "out of memory");
        c->v = v;
        l = &v[c->n];
        l->line = line;
        l->key = strdup(first);
        l->value = strdup(rest);
        c->n++;
        if (!l->key || !l->value)
                return err_set(e, "out of memory");
        return 0;
}

int recipe_labels(const struct recipe *r, struct recipe_label **v, size_t *n, sing_err_t *e)
{
        struct labels_ctx c = {.r = r};
        if (each_line(r, SEC_LABELS, add_label, &c, e) < 0) {
                recipe_labels_free(c.v, c.n);
                return -1;
        }
        *v = c.v;
        *n = c.n;
        return 0;
}

void recipe_labels_free(struct recipe_label *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].key);
                free(v[i].value);
        }
        free(v);
}

int recipe_app_labels(const struct recipe *r, size_t i, struct recipe_label **v, size_t *n,
                      sing_err_t *e)
{
        struct labels_ctx c = {.r = r};
        if (i >= r->napps)
                return err_set(e, "no app %zu", i);
        if (each_line_of(&r->apps[i].sec[APP_LABELS], add_label, &c, e) < 0) {
                recipe_labels_free(c.v, c.n);
                return -1;
        }
        *v = c.v;
        *n = c.n;
        return 0;
}
