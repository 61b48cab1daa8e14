#include "recipe_args.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "convert.h"
#include "log.h"

#define ARGS_FILE_MAX (1u << 20)
#define RECIPE_MAX_BYTES (4u << 20)
#define EXPANDED_MAX (16u << 20)

static bool key_char(char c, bool first)
{
        return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

static bool valid_key(const char *k, size_t n)
{
        if (!n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!key_char(k[i], i == 0))
                        return false;
        return true;
}

static int set_arg(struct build_args *a, const char *k, size_t kn, const char *v, sing_err_t *e)
{
        for (size_t i = 0; i < a->n; i++)
                if (strlen(a->key[i]) == kn && !strncmp(a->key[i], k, kn)) {
                        char *nv = strdup(v);
                        if (!nv)
                                return err_set(e, "out of memory");
                        free(a->val[i]);
                        a->val[i] = nv;
                        return 0;
                }
        char **nk = realloc(a->key, (a->n + 1) * sizeof(char *));
        if (nk)
                a->key = nk;
        char **nv = realloc(a->val, (a->n + 1) * sizeof(char *));
        if (nv)
                a->val = nv;
        bool *nu = realloc(a->used, (a->n + 1) * sizeof(bool));
        if (nu)
                a->used = nu;
        if (!nk || !nv || !nu)
                return err_set(e, "out of memory");
        a->key[a->n] = strndup(k, kn);
        a->val[a->n] = strdup(v);
        a->used[a->n] = false;
        if (!a->key[a->n] || !a->val[a->n]) {
                free(a->key[a->n]);
                free(a->val[a->n]);
                return err_set(e, "out of memory");
        }
        a->n++;
        return 0;
}

/* "KEY=VALUE" with blanks around KEY and VALUE trimmed. */
static int split_kv(const char *kv, const char **k, size_t *kn, char **v)
{
        const char *eq = strchr(kv, '=');
        const char *ks = kv, *ke;
        if (!eq)
                return -1;
        while (*ks == ' ' || *ks == '\t')
                ks++;
        ke = eq;
        while (ke > ks && (ke[-1] == ' ' || ke[-1] == '\t'))
                ke--;
        if (!valid_key(ks, (size_t)(ke - ks)))
                return -1;
        const char *vs = eq + 1;
        while (*vs == ' ' || *vs == '\t')
                vs++;
        size_t vn = strlen(vs);
        while (vn && isspace((unsigned char)vs[vn - 1]))
                vn--;
        *k = ks;
        *kn = (size_t)(ke - ks);
        *v = strndup(vs, vn);
        return *v ? 0 : -1;
}

int build_args_add(struct build_args *a, const char *kv, const char *where, sing_err_t *e)
{
        const char *k;
        size_t kn;
        _cleanup_free_ char *v = NULL;
        if (split_kv(kv, &k, &kn, &v) < 0)
                return err_set(e, "%s: \"%.200s\" is not KEY=VALUE (KEY: letters, digits, _)",
                               where, kv);
        return set_arg(a, k, kn, v, e);
}

int build_args_add_file(struct build_args *a, const char *path, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        unsigned lineno = 0;
        if (read_small_file(path, ARGS_FILE_MAX, &text, &len, e) < 0)
                return err_prefix(e, "--build-arg-file");
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char where[512];
                char *p = line;
                lineno++;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p || *p == '#' || *p == '\r')
                        continue;
                snprintf(where, sizeof(where), "%s:%u", path, lineno);
                if (build_args_add(a, p, where, e) < 0)
                        return -1;
        }
        return 0;
}

void build_args_free(struct build_args *a)
{
        for (size_t i = 0; i < a->n; i++) {
                free(a->key[i]);
                free(a->val[i]);
        }
        free(a->key);
        free(a->val);
        free(a->used);
        memset(a, 0, sizeof(*a));
}

struct out {
        char *s;
        size_t len, cap;
};

static int put(struct out *o, const char *s, size_t n, sing_err_t *e)
{
        if (o->len + n + 1 > EXPANDED_MAX)
                return err_set(e, "the definition file grows past %u bytes with its arguments",
                               EXPANDED_MAX);
        if (o->len + n + 1 > o->cap) {
                size_t cap = o->cap ? o->cap : 4096;
                while (cap < o->len + n + 1)
                        cap *= 2;
                char *p = realloc(o->s, cap);
                if (!p)
                        return err_set(e, "out of memory");
                o->s = p;
                o->cap = cap;
        }
        memcpy(o->s + o->len, s, n);
        o->len += n;
        o->s[o->len] = '\0';
        return 0;
}

/* Is the line (n bytes) a "%name" section line, and is it %arguments? */
static int section_of(const char *line, size_t n, bool *is_args)
{
        size_t w;
        if (n < 2 || line[0] != '%' || !isalpha((unsigned char)line[1]))
                return 0;
        w = 1;
        while (w < n && line[w] != ' ' && line[w] != '\t' && line[w] != '\r')
                w++;
        *is_args = w - 1 == strlen("arguments") && !strncasecmp(line + 1, "arguments", w - 1);
        return 1;
}

static const char *value_of(struct build_args *cli, struct build_args *defs, const char *k,
                            size_t kn)
{
        for (size_t i = 0; cli && i < cli->n; i++)
                if (strlen(cli->key[i]) == kn && !strncmp(cli->key[i], k, kn)) {
                        cli->used[i] = true;
                        return cli->val[i];
                }
        for (size_t i = 0; i < defs->n; i++)
                if (strlen(defs->key[i]) == kn && !strncmp(defs->key[i], k, kn))
                        return defs->val[i];
        return NULL;
}

/* One line with its {{ KEY }} replaced. */
static int expand_line(struct out *o, const char *line, size_t n, const char *path, unsigned lineno,
                       struct build_args *cli, struct build_args *defs, sing_err_t *e)
{
        size_t i = 0;
        while (i < n) {
                const char *open = memmem(line + i, n - i, "{{", 2);
                if (!open)
                        return put(o, line + i, n - i, e);
                size_t at = (size_t)(open - line), k = at + 2, ke;
                if (put(o, line + i, at - i, e) < 0)
                        return -1;
                while (k < n && (line[k] == ' ' || line[k] == '\t'))
                        k++;
                ke = k;
                while (ke < n && key_char(line[ke], ke == k))
                        ke++;
                size_t c = ke;
                while (c < n && (line[c] == ' ' || line[c] == '\t'))
                        c++;
                if (ke == k || c + 1 >= n || line[c] != '}' || line[c + 1] != '}') {
                        /* Not a {{ KEY }}: kept as it is. */
                        if (put(o, "{{", 2, e) < 0)
                                return -1;
                        i = at + 2;
                        continue;
                }
                const char *v = value_of(cli, defs, line + k, ke - k);
                if (!v)
                        return err_set(e,
                                       "%s:%u: build argument \"%.*s\" has no value: give "
                                       "--build-arg %.*s=VALUE or a default in %%arguments",
                                       path, lineno, (int)(ke - k), line + k, (int)(ke - k),
                                       line + k);
                if (put(o, v, strlen(v), e) < 0)
                        return -1;
                i = c + 2;
        }
        return 0;
}

static int read_defaults(const char *text, size_t len, const char *path, struct build_args *defs,
                         sing_err_t *e)
{
        bool in_args = false;
        unsigned lineno = 0;
        for (const char *s = text, *end = text + len; s < end;) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
                bool is_args = false;
                lineno++;
                if (section_of(s, n, &is_args)) {
                        in_args = is_args;
                } else if (in_args) {
                        _cleanup_free_ char *line = strndup(s, n);
                        char *p = line, where[512];
                        if (!line)
                                return err_set(e, "out of memory");
                        while (*p == ' ' || *p == '\t')
                                p++;
                        if (*p && *p != '#' && *p != '\r') {
                                snprintf(where, sizeof(where), "%s:%u: %%arguments", path, lineno);
                                if (build_args_add(defs, p, where, e) < 0)
                                        return -1;
                        }
                }
                s += n + (nl ? 1 : 0);
        }
        return 0;
}

int recipe_expand_args(const char *text, size_t len, const char *path, struct build_args *cli,
                       char **out, size_t *out_len, sing_err_t *e)
{
        struct build_args defs = {0};
        struct out o = {0};
        bool in_args = false;
        unsigned lineno = 0;
        int rc = -1;
        *out = NULL;
        if (memchr(text, '\0', len))
                return err_set(e, "%s: not a text file (contains NUL bytes)", path);
        if (read_defaults(text, len, path, &defs, e) < 0)
                goto done;
        for (const char *s = text, *end = text + len; s < end;) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
                bool is_args = false;
                lineno++;
                if (section_of(s, n, &is_args))
                        in_args = is_args;
                /* %arguments is ours: blanked, so the parser never sees it. */
                if (!in_args && expand_line(&o, s, n, path, lineno, cli, &defs, e) < 0)
                        goto done;
                if (nl && put(&o, "\n", 1, e) < 0)
                        goto done;
                s += n + (nl ? 1 : 0);
        }
        if (!o.s && put(&o, "", 0, e) < 0)
                goto done;
        for (size_t i = 0; cli && i < cli->n; i++)
                if (!cli->used[i])
                        log_warn("build argument %s is not used by %s", cli->key[i], path);
        *out = steal_ptr(&o.s);
        *out_len = o.len;
        rc = 0;
done:
        free(o.s);
        build_args_free(&defs);
        return rc;
}

int recipe_load_with_args(const char *path, struct build_args *a, struct recipe *r, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL, *expanded = NULL;
        size_t len, elen;
        memset(r, 0, sizeof(*r));
        if (read_small_file(path, RECIPE_MAX_BYTES, &text, &len, e) < 0)
                return err_prefix(e, "definition file");
        if (recipe_expand_args(text, len, path, a, &expanded, &elen, e) < 0)
                return -1;
        return recipe_parse(expanded, elen, path, r, e);
}

/* Does the line start with "Bootstrap:" (any case, blanks before)? */
static bool bootstrap_line(const char *s, size_t n)
{
        size_t i = 0, k = strlen("bootstrap");
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
        if (n - i < k || strncasecmp(s + i, "bootstrap", k) != 0)
                return false;
        i += k;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
        return i < n && s[i] == ':';
}

void recipe_stages_free(struct recipe *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                recipe_free(&v[i]);
        free(v);
}

static int check_stages(const struct recipe *v, size_t n, sing_err_t *e)
{
        for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; v[i].stage && j < i; j++)
                        if (v[j].stage && !strcmp(v[i].stage, v[j].stage))
                                return err_set(e, "%s: two stages are called \"%s\"", v[i].path,
                                               v[i].stage);
                for (size_t f = 0; f < v[i].nfiles_from; f++) {
                        const struct recipe_files_from *ff = &v[i].files_from[f];
                        bool found = false;
                        for (size_t j = 0; j < i && !found; j++)
                                found = v[j].stage && !strcmp(v[j].stage, ff->stage);
                        if (!found)
                                return err_set(e,
                                               "%s:%u: %%files from %s: no earlier stage is "
                                               "called \"%s\" (name one with Stage: %s)",
                                               v[i].path, ff->sec.line, ff->stage, ff->stage,
                                               ff->stage);
                }
        }
        return 0;
}

int recipe_parse_stages(const char *text, size_t len, const char *path, struct recipe **out,
                        size_t *n, sing_err_t *e)
{
        size_t starts[RECIPE_MAX_STAGES + 1], lines[RECIPE_MAX_STAGES + 1], ns = 0;
        struct recipe *v = NULL;
        unsigned lineno = 0;
        *out = NULL;
        *n = 0;
        for (const char *s = text, *end = text + len; s < end;) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                size_t ln = nl ? (size_t)(nl - s) : (size_t)(end - s);
                lineno++;
                /* The first stage also holds what comes before its Bootstrap. */
                if (bootstrap_line(s, ln) && ns++ > 0) {
                        if (ns > RECIPE_MAX_STAGES)
                                return err_set(e, "%s:%u: more than %d stages", path, lineno,
                                               RECIPE_MAX_STAGES);
                        starts[ns - 1] = (size_t)(s - text);
                        lines[ns - 1] = lineno;
                }
                s += ln + (nl ? 1 : 0);
        }
        if (ns == 0)
                ns = 1;
        starts[0] = 0;
        lines[0] = 1;
        starts[ns] = len;
        if (!(v = calloc(ns, sizeof(*v))))
                return err_set(e, "out of memory");
        for (size_t i = 0; i < ns; i++) {
                /* Blank lines in front keep the file's line numbers. */
                size_t pad = lines[i] - 1, body = starts[i + 1] - starts[i];
                _cleanup_free_ char *t = malloc(pad + body + 1);
                if (!t) {
                        recipe_stages_free(v, i);
                        return err_set(e, "out of memory");
                }
                memset(t, '\n', pad);
                memcpy(t + pad, text + starts[i], body);
                t[pad + body] = '\0';
                if (recipe_parse(t, pad + body, path, &v[i], e) < 0) {
                        recipe_stages_free(v, i);
                        return -1;
                }
        }
        if (check_stages(v, ns, e) < 0) {
                recipe_stages_free(v, ns);
                return -1;
        }
        *out = v;
        *n = ns;
        return 0;
}

int recipe_load_stages(const char *path, struct build_args *a, struct recipe **v, size_t *n,
                       sing_err_t *e)
{
        _cleanup_free_ char *text = NULL, *expanded = NULL;
        size_t len, elen;
        if (read_small_file(path, RECIPE_MAX_BYTES, &text, &len, e) < 0)
                return err_prefix(e, "definition file");
        if (recipe_expand_args(text, len, path, a, &expanded, &elen, e) < 0)
                return -1;
        return recipe_parse_stages(expanded, elen, path, v, n, e);
}
