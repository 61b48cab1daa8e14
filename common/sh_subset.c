/* A shell-free evaluator of image environment files in a strict subset of
 * POSIX sh, matching dash 0.5.12 (see sh_subset.h for the subset and why).
 *
 * Shape: a recursive-descent parser that executes as it parses. Branches
 * of an `if` that are not taken are still parsed (with execution off), so
 * a syntax error anywhere gives up as dash would. Every recursion is
 * bounded (${...} words and `if` nesting), every string is capped, and any
 * doubt answers SH_UNSUPPORTED: the caller then runs the real shell. */
#include "sh_subset.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SH_MAX_INPUT (1u << 20)  /* bytes of text */
#define SH_MAX_VALUE (1u << 20)  /* bytes of one word or value */
#define SH_MAX_TOTAL (32u << 20) /* bytes of all values assigned in one run */
#define SH_MAX_WORK (64u << 20)  /* bytes of words built in one run */
#define SH_MAX_NEW_VARS 4096     /* variables one run may create */
#define SH_MAX_IF_DEPTH 16
#define SH_MAX_SUB_DEPTH 16 /* ${A:-${B:-...}} and "..." inside them */

/* dash's PATH when the environment has none (var.c, defpathvar). */
static const char dash_default_path[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---- the variable table ---- */

static bool is_name_start(int c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(int c)
{
        return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Length of the shell name at the start of s (0: none). */
static size_t name_len(const char *s, size_t n)
{
        size_t i = 0;
        if (n == 0 || !is_name_start((unsigned char)s[0]))
                return 0;
        while (i < n && is_name_char((unsigned char)s[i]))
                i++;
        return i;
}

static bool is_name(const char *s)
{
        size_t n = strlen(s);
        return n > 0 && name_len(s, n) == n;
}

static size_t name_hash(const char *name, size_t len)
{
        size_t h = 14695981039346656037u; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char)name[i]) * 1099511628211u;
        return h;
}

static struct sh_var *var_find(const struct sh_vars *vars, const char *name, size_t len)
{
        if (!vars->nslots)
                return NULL;
        for (size_t i = name_hash(name, len) & (vars->nslots - 1);;
             i = (i + 1) & (vars->nslots - 1)) {
                size_t k = vars->slots[i];
                if (!k)
                        return NULL;
                struct sh_var *v = &vars->v[k - 1];
                if (strncmp(v->name, name, len) == 0 && v->name[len] == '\0')
                        return v;
        }
}

/* Put entry k (its index + 1) into slots (nslots a power of two, never full). */
static void slot_put(size_t *slots, size_t nslots, const char *name, size_t k)
{
        size_t i = name_hash(name, strlen(name)) & (nslots - 1);
        while (slots[i])
                i = (i + 1) & (nslots - 1);
        slots[i] = k;
}

/* Room for one more entry in the index, at most half full. */
static int slots_reserve(struct sh_vars *vars)
{
        if ((vars->n + 1) * 2 <= vars->nslots)
                return 0;
        size_t nslots = vars->nslots ? vars->nslots * 2 : 64;
        size_t *slots = calloc(nslots, sizeof(*slots));
        if (!slots)
                return -1;
        for (size_t i = 0; i < vars->n; i++)
                slot_put(slots, nslots, vars->v[i].name, i + 1);
        free(vars->slots);
        vars->slots = slots;
        vars->nslots = nslots;
        return 0;
}

/* The entry for name, created (unset, not exported) if missing. */
static struct sh_var *var_lookup_or_add(struct sh_vars *vars, const char *name, size_t len)
{
        struct sh_var *v = var_find(vars, name, len);
        if (v)
                return v;
        if (slots_reserve(vars) != 0)
                return NULL;
        if (vars->n == vars->cap) {
                size_t cap = vars->cap ? vars->cap * 2 : 32;
                struct sh_var *nv = realloc(vars->v, cap * sizeof(*nv));
                if (!nv)
                        return NULL;
                vars->v = nv;
                vars->cap = cap;
        }
        v = &vars->v[vars->n];
        v->name = strndup(name, len);
        if (!v->name)
                return NULL;
        v->value = NULL;
        v->exported = false;
        vars->n++;
        slot_put(vars->slots, vars->nslots, v->name, vars->n);
        return v;
}

/* Replace v's value by a copy of value (NULL: unset). */
static int var_store(struct sh_var *v, const char *value, size_t len)
{
        char *copy = NULL;
        if (value) {
                copy = malloc(len + 1);
                if (!copy)
                        return -1;
                memcpy(copy, value, len);
                copy[len] = '\0';
        }
        free(v->value);
        v->value = copy;
        return 0;
}

const char *sh_var_get(const struct sh_vars *vars, const char *name)
{
        const struct sh_var *v = var_find(vars, name, strlen(name));
        return v ? v->value : NULL;
}

int sh_var_set(struct sh_vars *vars, const char *name, const char *value, bool exported)
{
        struct sh_var *v = var_lookup_or_add(vars, name, strlen(name));
        if (!v || var_store(v, value, value ? strlen(value) : 0) != 0)
                return -1;
        v->exported = exported;
        return 0;
}

void sh_vars_free(struct sh_vars *vars)
{
        for (size_t i = 0; i < vars->n; i++) {
                free(vars->v[i].name);
                free(vars->v[i].value);
        }
        free(vars->v);
        free(vars->slots);
        vars->v = NULL;
        vars->slots = NULL;
        vars->n = vars->cap = vars->nslots = 0;
}

/* dash's start-up (var.c INIT): environment entries with a valid name are
 * imported and exported; then IFS, OPTIND and PPID get dash's values,
 * keeping the export flag an imported entry gave them. */
int sh_vars_init_like_dash(struct sh_vars *vars, char *const *envp, pid_t ppid)
{
        char ppid_s[24];

        memset(vars, 0, sizeof(*vars));
        for (size_t i = 0; envp && envp[i]; i++) {
                const char *e = envp[i];
                size_t n = name_len(e, strlen(e));
                struct sh_var *v;
                if (n == 0 || e[n] != '=')
                        continue;
                v = var_lookup_or_add(vars, e, n);
                if (!v || var_store(v, e + n + 1, strlen(e + n + 1)) != 0)
                        goto nomem;
                v->exported = true;
        }
        snprintf(ppid_s, sizeof(ppid_s), "%ld", (long)ppid);
        const char *fixed[][2] = {{"IFS", " \t\n"}, {"OPTIND", "1"}, {"PPID", ppid_s}};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
                struct sh_var *v = var_find(vars, fixed[i][0], strlen(fixed[i][0]));
                if (v && var_store(v, fixed[i][1], strlen(fixed[i][1])) != 0)
                        goto nomem;
        }
        if (!var_find(vars, "PATH", 4) && sh_var_set(vars, "PATH", dash_default_path, false) != 0)
                goto nomem;
        return 0;
nomem:
        sh_vars_free(vars);
        return -1;
}

char **sh_vars_environ(const struct sh_vars *vars)
{
        size_t n = 0, k = 0;
        char **env;

        for (size_t i = 0; i < vars->n; i++)
                n += vars->v[i].exported && vars->v[i].value;
        env = calloc(n + 1, sizeof(*env));
        if (!env)
                return NULL;
        for (size_t i = 0; i < vars->n; i++) {
                const struct sh_var *v = &vars->v[i];
                if (!v->exported || !v->value)
                        continue;
                size_t ln = strlen(v->name), lv = strlen(v->value);
                env[k] = malloc(ln + lv + 2);
                if (!env[k]) {
                        sh_environ_free(env);
                        return NULL;
                }
                memcpy(env[k], v->name, ln);
                env[k][ln] = '=';
                memcpy(env[k] + ln + 1, v->value, lv + 1);
                k++;
        }
        return env;
}

void sh_environ_free(char **envp)
{
        for (size_t i = 0; envp && envp[i]; i++)
                free(envp[i]);
        free(envp);
}

/* Variables dash sets itself, whose value we do not model: reading them is
 * unsupported (IFS, OPTIND, PPID, and PS1/PS2/PS4, whose defaults depend
 * on the euid and interactivity). */
static bool read_forbidden(const char *name, size_t len)
{
        static const char *const names[] = {"IFS", "OPTIND", "PPID", "PS1", "PS2", "PS4"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
                        return true;
        }
        return false;
}

/* Assigning IFS changes how dash splits; OPTIND resets getopts; PPID is
 * dash's own. PS1/PS2/PS4 are plain strings to a non-interactive dash. */
static bool assign_forbidden(const char *name)
{
        return strcmp(name, "IFS") == 0 || strcmp(name, "OPTIND") == 0 || strcmp(name, "PPID") == 0;
}

/* dash's VSTRFIXED variables (among those we may assign): `unset` keeps
 * their export flag, so a later assignment is exported again. */
static bool is_fixed_var(const char *name)
{
        static const char *const names[] = {"PATH", "MAIL", "MAILPATH", "PS1", "PS2", "PS4"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strcmp(names[i], name) == 0)
                        return true;
        }
        return false;
}

/* PS1/PS2/PS4 have dash defaults we do not model: without an entry of
 * ours, `export PS1` would export dash's "$ " or "# ". */
static bool has_dash_default(const char *name)
{
        return strcmp(name, "PS1") == 0 || strcmp(name, "PS2") == 0 || strcmp(name, "PS4") == 0;
}

/* ---- the parser ---- */

struct buf {
        char *p;
        size_t n, cap;
};

/* What a word contained, for the rule that the shell must not have split
 * or globbed it (a command word that is not an assignment). */
struct word {
        struct buf val;
        bool unquoted_expansion;
        bool glob;
};

struct parser {
        struct sh_vars *vars;
        const char *s;
        size_t len, pos;
        int sub_depth, if_depth;
        size_t new_vars, total_bytes, work;
};

/* Errors travel as the enum's values; 0 is success. */
#define TRY(expr)                                                                                  \
        do {                                                                                       \
                int r_ = (expr);                                                                   \
                if (r_ != SH_OK)                                                                   \
                        return r_;                                                                 \
        } while (0)

static int buf_add(struct parser *P, struct buf *b, const char *s, size_t n)
{
        if (n > SH_MAX_VALUE || b->n + n > SH_MAX_VALUE)
                return SH_UNSUPPORTED;
        /* Bytes built in all words, used or not: a file of discarded
         * ${U+$BIG$BIG} must not copy gigabytes before giving up. */
        P->work += n;
        if (P->work > SH_MAX_WORK)
                return SH_UNSUPPORTED;
        if (b->n + n + 1 > b->cap || !b->p) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->n + n + 1)
                        cap *= 2;
                char *np = realloc(b->p, cap);
                if (!np)
                        return SH_NOMEM;
                b->p = np;
                b->cap = cap;
        }
        if (n)
                memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
        return SH_OK;
}

static int buf_addc(struct parser *P, struct buf *b, char c)
{
        return buf_add(P, b, &c, 1);
}

static int cur(const struct parser *P)
{
        return P->pos < P->len ? (unsigned char)P->s[P->pos] : -1;
}

static int at(const struct parser *P, size_t off)
{
        return P->pos + off < P->len ? (unsigned char)P->s[P->pos + off] : -1;
}

static bool at_bnl(const struct parser *P)
{
        return cur(P) == '\\' && at(P, 1) == '\n';
}

/* Characters that end an unquoted word (blanks, newline and operators). */
static bool is_delim(int c)
{
        return c == -1 || c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' ||
               c == '(' || c == ')' || c == '<' || c == '>';
}

enum ctx {
        CTX_UNQUOTED, /* a plain word, or the w of an unquoted ${V-w} */
        CTX_DQUOTE,   /* inside "..." */
        CTX_DQ_WORD,  /* the w of a ${V-w} inside "..." */
};

/* The word and command parsers below call each other (a ${...} holds a
 * word, an if holds lists); the depth is bounded by SH_MAX_SUB_DEPTH and
 * SH_MAX_IF_DEPTH, and the starter runs this only after its final drop. */
// NOLINTBEGIN(misc-no-recursion)
static int parse_dollar(struct parser *P, struct word *w, enum ctx ctx, bool in_brace);
static int parse_dquote(struct parser *P, struct word *w, bool in_brace);

/* A `$` that starts no expansion is literal in dash; we accept it only
 * before characters where that was checked to hold. */
static bool literal_dollar_ok(int next, enum ctx ctx)
{
        if (next == '"')
                return ctx == CTX_DQUOTE;
        return next == -1 || next == ' ' || next == '\t' || next == '\n' || next == ';' ||
               next == '/' || next == '.' || next == ',' || next == ':' || next == '=' ||
               next == '%' || next == '+';
}

static int parse_name_ref(struct parser *P, size_t *start, size_t *len)
{
        *start = P->pos;
        *len = name_len(P->s + P->pos, P->len - P->pos);
        P->pos += *len;
        /* dash joins a name across `\`-newline: not worth modelling. */
        if (at_bnl(P))
                return SH_UNSUPPORTED;
        if (read_forbidden(P->s + *start, *len))
                return SH_UNSUPPORTED;
        /* dash always has a PWD; without the caller's, we would read none. */
        if (*len == 3 && memcmp(P->s + *start, "PWD", 3) == 0 && !var_find(P->vars, "PWD", 3))
                return SH_UNSUPPORTED;
        return SH_OK;
}

static const char *lookup(const struct parser *P, size_t start, size_t len)
{
        const struct sh_var *v = var_find(P->vars, P->s + start, len);
        return v ? v->value : NULL;
}

/* The w of ${V-w} inside double quotes: double-quote rules, where `\}`
 * is `}`, a `"` opens a nested quoted string and `}` ends w. */
/* A backslash inside "...": \-newline vanishes; \$ \` \" \\ (and \} inside
 * ${...}) are that character; before anything else it is itself. */
static int dq_backslash(struct parser *P, struct word *w, bool brace)
{
        int n = at(P, 1);
        if (n == '\n') {
                P->pos += 2;
                return SH_OK;
        }
        if (n == '$' || n == '`' || n == '"' || n == '\\' || (brace && n == '}')) {
                P->pos += 2;
                return buf_addc(P, &w->val, (char)n);
        }
        P->pos++;
        return buf_addc(P, &w->val, '\\');
}

static int parse_dq_word(struct parser *P, struct word *w)
{
        for (;;) {
                int c = cur(P);
                if (c == -1 || c == '`')
                        return SH_UNSUPPORTED;
                if (c == '}')
                        return SH_OK;
                if (c == '"') {
                        P->pos++;
                        TRY(parse_dquote(P, w, true));
                        continue;
                }
                if (c == '$') {
                        TRY(parse_dollar(P, w, CTX_DQ_WORD, true));
                        continue;
                }
                if (c == '\\') {
                        TRY(dq_backslash(P, w, true));
                        continue;
                }
                TRY(buf_addc(P, &w->val, (char)c));
                P->pos++;
        }
}

static int parse_unquoted(struct parser *P, struct word *w, bool in_brace);

/* ${NAME}, ${NAME-w}, ${NAME:-w}, ${NAME+w}, ${NAME:+w}; P is after `${`.
 * w is always parsed (a syntax error in it is dash's error too) but only
 * used when the operator selects it. */
static int parse_brace(struct parser *P, struct word *w, enum ctx ctx)
{
        size_t start, len;
        const char *val;
        bool colon = false, use_w;
        int op;

        TRY(parse_name_ref(P, &start, &len));
        if (len == 0)
                return SH_UNSUPPORTED; /* ${#V} ${1} ${@} ... */
        val = lookup(P, start, len);
        if (ctx == CTX_UNQUOTED)
                w->unquoted_expansion = true;
        if (cur(P) == '}') {
                P->pos++;
                return val ? buf_add(P, &w->val, val, strlen(val)) : SH_OK;
        }
        if (cur(P) == ':') {
                colon = true;
                P->pos++;
        }
        op = cur(P);
        if (op != '-' && op != '+')
                return SH_UNSUPPORTED; /* = ? % # and the rest */
        P->pos++;
        if (op == '-')
                use_w = !val || (colon && !*val);
        else
                use_w = val && (!colon || *val);

        if (++P->sub_depth > SH_MAX_SUB_DEPTH)
                return SH_UNSUPPORTED;
        struct word sub = {0};
        int r = ctx == CTX_UNQUOTED ? parse_unquoted(P, &sub, true) : parse_dq_word(P, &sub);
        P->sub_depth--;
        if (r == SH_OK && cur(P) != '}')
                r = SH_UNSUPPORTED;
        if (r == SH_OK) {
                P->pos++;
                w->unquoted_expansion |= sub.unquoted_expansion;
                w->glob |= sub.glob;
                if (use_w)
                        r = sub.val.n ? buf_add(P, &w->val, sub.val.p, sub.val.n) : SH_OK;
                else if (op == '-' && val)
                        r = buf_add(P, &w->val, val, strlen(val));
        }
        free(sub.val.p);
        return r;
}

/* P is at `$`. */
static int parse_dollar(struct parser *P, struct word *w, enum ctx ctx, bool in_brace)
{
        int n = at(P, 1);
        if (n == '{') {
                P->pos += 2;
                return parse_brace(P, w, ctx);
        }
        if (n != -1 && is_name_start(n)) {
                size_t start, len;
                const char *val;
                P->pos++;
                TRY(parse_name_ref(P, &start, &len));
                val = lookup(P, start, len);
                if (ctx == CTX_UNQUOTED)
                        w->unquoted_expansion = true;
                return val ? buf_add(P, &w->val, val, strlen(val)) : SH_OK;
        }
        /* Inside ${V-w}, whether `$}` is literal was not worth checking. */
        if (in_brace || !literal_dollar_ok(n, ctx))
                return SH_UNSUPPORTED;
        P->pos++;
        return buf_addc(P, &w->val, '$');
}

/* P is after the opening `"`; consumes the closing one. in_brace: inside
 * the w of some ${V-w}, where dash also takes `\}` as `}`. */
static int parse_dquote(struct parser *P, struct word *w, bool in_brace)
{
        if (++P->sub_depth > SH_MAX_SUB_DEPTH)
                return SH_UNSUPPORTED;
        for (;;) {
                int c = cur(P);
                if (c == -1 || c == '`')
                        return SH_UNSUPPORTED;
                if (c == '"') {
                        P->pos++;
                        P->sub_depth--;
                        return SH_OK;
                }
                if (c == '$') {
                        TRY(parse_dollar(P, w, CTX_DQUOTE, in_brace));
                        continue;
                }
                if (c == '\\') {
                        TRY(dq_backslash(P, w, in_brace));
                        continue;
                }
                TRY(buf_addc(P, &w->val, (char)c));
                P->pos++;
        }
}

static int parse_squote(struct parser *P, struct word *w)
{
        size_t start = P->pos;
        while (P->pos < P->len && P->s[P->pos] != '\'')
                P->pos++;
        if (P->pos >= P->len)
                return SH_UNSUPPORTED; /* unterminated */
        TRY(buf_add(P, &w->val, P->s + start, P->pos - start));
        P->pos++;
        return SH_OK;
}

/* An unquoted word, or (in_brace) the w of an unquoted ${V-w}, which may
 * hold blanks and ends at `}`. */
static int parse_unquoted(struct parser *P, struct word *w, bool in_brace)
{
        for (;;) {
                int c = cur(P);
                if (in_brace && c == '}')
                        return SH_OK;
                if (c == ' ' || c == '\t') {
                        if (!in_brace)
                                return SH_OK;
                } else if (c == -1 || c == '\n' || c == ';') {
                        return in_brace ? SH_UNSUPPORTED : SH_OK;
                } else if (is_delim(c) || c == '`' || c == '~') {
                        /* & | ( ) < > are operators; ` is command
                         * substitution; ~ would be tilde-expanded. */
                        return SH_UNSUPPORTED;
                }
                switch (c) {
                case '\\':
                        if (at(P, 1) == -1)
                                return SH_UNSUPPORTED;
                        if (at(P, 1) != '\n')
                                TRY(buf_addc(P, &w->val, P->s[P->pos + 1]));
                        P->pos += 2;
                        continue;
                case '\'':
                        P->pos++;
                        TRY(parse_squote(P, w));
                        continue;
                case '"':
                        P->pos++;
                        TRY(parse_dquote(P, w, in_brace));
                        continue;
                case '$':
                        TRY(parse_dollar(P, w, CTX_UNQUOTED, in_brace));
                        continue;
                case '*':
                case '?':
                case '[':
                        w->glob = true;
                        break;
                }
                TRY(buf_addc(P, &w->val, (char)c));
                P->pos++;
        }
}

static int parse_word(struct parser *P, struct word *w)
{
        memset(w, 0, sizeof(*w));
        int r = parse_unquoted(P, w, false);
        if (r == SH_OK && !w->val.p)
                r = buf_add(P, &w->val, "", 0); /* never NULL when OK */
        return r;
}

static void word_free(struct word *w)
{
        free(w->val.p);
        w->val.p = NULL;
}

/* Blanks and `\`-newlines between words; a `#` at the start of a word
 * comments to the end of the line (a `\`-newline does not continue it). */
static void skip_blanks(struct parser *P)
{
        for (;;) {
                int c = cur(P);
                if (c == ' ' || c == '\t') {
                        P->pos++;
                } else if (at_bnl(P)) {
                        P->pos += 2;
                } else if (c == '#') {
                        while (P->pos < P->len && P->s[P->pos] != '\n')
                                P->pos++;
                } else {
                        return;
                }
        }
}

/* Blanks, comments and newlines (the shell grammar's linebreak). */
static void skip_linebreak(struct parser *P)
{
        for (;;) {
                skip_blanks(P);
                if (cur(P) != '\n')
                        return;
                P->pos++;
        }
}

/* The raw text of the next word if it is plain (no quote, backslash or
 * `$`), for reserved words and builtin names, which must be literal. */
static bool next_is(const struct parser *P, const char *word)
{
        size_t n = strlen(word);
        if (P->pos + n > P->len || memcmp(P->s + P->pos, word, n) != 0)
                return false;
        return is_delim(P->pos + n < P->len ? (unsigned char)P->s[P->pos + n] : -1);
}

/* `NAME=` at the start of the raw word: an assignment for the shell. */
static size_t assignment_name_len(const struct parser *P)
{
        size_t n = name_len(P->s + P->pos, P->len - P->pos);
        return n && P->pos + n < P->len && P->s[P->pos + n] == '=' ? n : 0;
}

static bool at_command_end(const struct parser *P)
{
        int c = cur(P);
        return c == -1 || c == '\n' || c == ';';
}

/* Only to be called with SH_UNSUPPORTED checks done on name. */
static int assign(struct parser *P, const char *name, size_t nlen, const char *val, size_t vlen,
                  bool export)
{
        struct sh_var *v = var_find(P->vars, name, nlen);
        if (!v) {
                if (++P->new_vars > SH_MAX_NEW_VARS)
                        return SH_UNSUPPORTED;
                v = var_lookup_or_add(P->vars, name, nlen);
                if (!v)
                        return SH_NOMEM;
        }
        if (val) {
                P->total_bytes += vlen;
                if (P->total_bytes > SH_MAX_TOTAL)
                        return SH_UNSUPPORTED;
                if (var_store(v, val, vlen) != 0)
                        return SH_NOMEM;
        }
        if (export)
                v->exported = true;
        return SH_OK;
}

/* `A=w [B=w]...`: applied left to right (dash: `A=1 B=$A` gives B=1). */
static int cmd_assignments(struct parser *P, bool exec)
{
        while (!at_command_end(P)) {
                size_t nlen = assignment_name_len(P);
                struct word w;
                if (nlen == 0)
                        return SH_UNSUPPORTED; /* A=1 cmd: a prefix assignment */
                /* On the heap: a name may be as long as the file. */
                char *name = strndup(P->s + P->pos, nlen);
                if (!name)
                        return SH_NOMEM;
                if (assign_forbidden(name)) {
                        free(name);
                        return SH_UNSUPPORTED;
                }
                P->pos += nlen + 1;
                int r = parse_word(P, &w);
                if (r == SH_OK && exec)
                        r = assign(P, name, nlen, w.val.p, w.val.n, false);
                word_free(&w);
                free(name);
                TRY(r);
                skip_blanks(P);
        }
        return SH_OK;
}

/* One operand of export: name and value (NULL for `export NAME`). */
struct export_arg {
        char *name;
        struct word w;
        bool has_value;
        size_t value_off;
};

static void export_args_free(struct export_arg *a, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(a[i].name);
                word_free(&a[i].w);
        }
        free(a);
}

/* One word of export. A raw `NAME=w` is a declaration (no splitting or
 * globbing of w); any other word must be one the shell would neither split
 * nor glob, and then export itself finds NAME[=value] in it. */
static int parse_export_arg(struct parser *P, struct export_arg *a)
{
        size_t nlen = assignment_name_len(P);
        if (nlen) {
                a->name = strndup(P->s + P->pos, nlen);
                if (!a->name)
                        return SH_NOMEM;
                P->pos += nlen + 1;
                a->has_value = true;
                return parse_word(P, &a->w);
        }
        TRY(parse_word(P, &a->w));
        if (a->w.unquoted_expansion || a->w.glob)
                return SH_UNSUPPORTED;
        char *eq = memchr(a->w.val.p, '=', a->w.val.n);
        size_t n = eq ? (size_t)(eq - a->w.val.p) : a->w.val.n;
        if (memchr(a->w.val.p, '\0', a->w.val.n))
                return SH_UNSUPPORTED;
        a->name = strndup(a->w.val.p, n);
        if (!a->name)
                return SH_NOMEM;
        a->has_value = eq != NULL;
        a->value_off = eq ? n + 1 : 0;
        return SH_OK;
}

static int export_apply(struct parser *P, const struct export_arg *a)
{
        const char *val = a->has_value ? a->w.val.p + a->value_off : NULL;
        size_t vlen = a->has_value ? a->w.val.n - a->value_off : 0;

        if (!is_name(a->name) || assign_forbidden(a->name))
                return SH_UNSUPPORTED;
        if (!val && has_dash_default(a->name) && !var_find(P->vars, a->name, strlen(a->name)))
                return SH_UNSUPPORTED;
        return assign(P, a->name, strlen(a->name), val, vlen, true);
}

/* `export ARG...`: dash expands every argument before export runs
 * (`export A=5 D=$A` gives D the old A), so parse all, then apply. */
static int cmd_export(struct parser *P, bool exec)
{
        struct export_arg *args = NULL;
        size_t n = 0, cap = 0;
        int r = SH_OK;

        while (r == SH_OK && !at_command_end(P)) {
                if (n == cap) {
                        size_t nc = cap ? cap * 2 : 8;
                        struct export_arg *na = realloc(args, nc * sizeof(*na));
                        if (!na) {
                                r = SH_NOMEM;
                                break;
                        }
                        args = na;
                        cap = nc;
                }
                memset(&args[n], 0, sizeof(args[n]));
                r = parse_export_arg(P, &args[n++]);
                skip_blanks(P);
        }
        if (r == SH_OK && n == 0)
                r = SH_UNSUPPORTED; /* `export` alone prints */
        for (size_t i = 0; r == SH_OK && i < n; i++) {
                if (args[i].name[0] == '-' || (!exec && !is_name(args[i].name)))
                        r = SH_UNSUPPORTED; /* -p, --; a name export refuses */
                else if (exec)
                        r = export_apply(P, &args[i]);
        }
        export_args_free(args, n);
        return r;
}

/* Parse the remaining words of a command that is not an assignment: each
 * must be one the shell would neither split nor glob. Returns the values
 * in *argv (NULL-terminated, *argc of them). */
static int parse_args(struct parser *P, char ***argv, size_t *argc)
{
        size_t cap = 0;
        int r = SH_OK;

        *argv = NULL;
        *argc = 0;
        while (!at_command_end(P)) {
                struct word w;
                if (*argc + 1 >= cap) {
                        size_t nc = cap ? cap * 2 : 8;
                        char **na = realloc(*argv, nc * sizeof(*na));
                        if (!na)
                                return SH_NOMEM;
                        *argv = na;
                        cap = nc;
                }
                r = parse_word(P, &w);
                if (r == SH_OK &&
                    (w.unquoted_expansion || w.glob || memchr(w.val.p, '\0', w.val.n)))
                        r = SH_UNSUPPORTED;
                if (r != SH_OK) {
                        word_free(&w);
                        return r;
                }
                (*argv)[(*argc)++] = w.val.p;
                (*argv)[*argc] = NULL;
                skip_blanks(P);
        }
        return SH_OK;
}

static void args_free(char **argv, size_t argc)
{
        for (size_t i = 0; i < argc; i++)
                free(argv[i]);
        free(argv);
}

static int cmd_unset(struct parser *P, bool exec)
{
        char **argv;
        size_t argc;
        int r = parse_args(P, &argv, &argc);

        if (r == SH_OK && argc == 0)
                r = SH_UNSUPPORTED;
        for (size_t i = 0; r == SH_OK && i < argc; i++) {
                if (!is_name(argv[i]) || assign_forbidden(argv[i]))
                        r = SH_UNSUPPORTED; /* -v -f, bad names */
        }
        for (size_t i = 0; r == SH_OK && exec && i < argc; i++) {
                struct sh_var *v = var_find(P->vars, argv[i], strlen(argv[i]));
                if (!v)
                        continue;
                free(v->value);
                v->value = NULL;
                /* dash frees an ordinary variable, flag and all. */
                if (!is_fixed_var(argv[i]))
                        v->exported = false;
        }
        args_free(argv, argc);
        return r;
}

/* An operand of test that dash's parser could take for an operator (its
 * test is not POSIX's arity table: `[ -z = ]` is a syntax error there). */
static bool risky_operand(const char *s)
{
        return strchr("-!()=<>]", s[0]) && s[0] != '\0';
}

static bool test_file(const char *op, const char *path)
{
        struct stat st;
        if (stat(path, &st) != 0)
                return false;
        if (op[1] == 'f')
                return S_ISREG(st.st_mode);
        if (op[1] == 'd')
                return S_ISDIR(st.st_mode);
        return true; /* -e */
}

/* The unary forms; false when op is none of them. */
static bool test_unary(const char *op, const char *w, bool do_stat, bool *res)
{
        if (strcmp(op, "-z") == 0)
                *res = w[0] == '\0';
        else if (strcmp(op, "-n") == 0)
                *res = w[0] != '\0';
        else if (strcmp(op, "-f") == 0 || strcmp(op, "-d") == 0 || strcmp(op, "-e") == 0)
                *res = do_stat && test_file(op, w);
        else
                return false;
        return true;
}

/* argv without the command name (and `]`); the forms of sh_subset.h. */
static int test_eval(char **a, size_t n, bool do_stat, bool *res)
{
        bool neg = false;
        if (n > 0 && strcmp(a[0], "!") == 0 && n >= 2) {
                neg = true;
                a++;
                n--;
        }
        if (n == 1 && !risky_operand(a[0])) {
                *res = a[0][0] != '\0';
        } else if (n == 2 && !risky_operand(a[1]) && test_unary(a[0], a[1], do_stat, res)) {
                /* done */
        } else if (n == 3 && !risky_operand(a[0]) && !risky_operand(a[2]) &&
                   (strcmp(a[1], "=") == 0 || strcmp(a[1], "!=") == 0)) {
                *res = (strcmp(a[0], a[2]) == 0) == (a[1][0] == '=');
        } else {
                return SH_UNSUPPORTED;
        }
        *res ^= neg;
        return SH_OK;
}

/* `[ ... ]` or `test ...` (P after the command name). Checked even when
 * not executed, so that a malformed test in an untaken branch still gives
 * up; but then nothing is stat'ed. */
static int cmd_test(struct parser *P, bool bracket, bool exec, bool *res)
{
        char **argv;
        size_t argc, n;
        int r = parse_args(P, &argv, &argc);

        n = argc;
        if (r == SH_OK && bracket) {
                if (argc == 0 || strcmp(argv[argc - 1], "]") != 0)
                        r = SH_UNSUPPORTED; /* dash: missing ] */
                n--;
        }
        if (r == SH_OK)
                r = test_eval(argv, n, exec, res);
        args_free(argv, argc);
        return r;
}

enum term { T_EOF, T_THEN, T_ELIF, T_ELSE, T_FI };

static int parse_list(struct parser *P, bool exec, enum term *term, bool need_one);

/* After a command: `;` (but not `;;` or `; ;`), a newline, or the end. */
static int parse_separator(struct parser *P)
{
        skip_blanks(P);
        if (cur(P) == ';') {
                P->pos++;
                skip_blanks(P);
                return cur(P) == ';' ? SH_UNSUPPORTED : SH_OK;
        }
        if (cur(P) == '\n') {
                P->pos++;
                return SH_OK;
        }
        return cur(P) == -1 ? SH_OK : SH_UNSUPPORTED;
}

/* The condition of if/elif: exactly one test command, then `then`. */
static int parse_condition(struct parser *P, bool exec, bool *res)
{
        bool bracket;
        skip_linebreak(P);
        if (next_is(P, "["))
                bracket = true;
        else if (next_is(P, "test"))
                bracket = false;
        else
                return SH_UNSUPPORTED;
        P->pos += bracket ? 1 : 4;
        skip_blanks(P);
        TRY(cmd_test(P, bracket, exec, res));
        TRY(parse_separator(P));
        skip_linebreak(P);
        if (!next_is(P, "then"))
                return SH_UNSUPPORTED;
        P->pos += 4;
        return SH_OK;
}

/* P after `if`. Parses every branch; executes at most the one chosen. */
static int cmd_if(struct parser *P, bool exec)
{
        bool done = false; /* a branch was taken */
        enum term t;

        if (++P->if_depth > SH_MAX_IF_DEPTH)
                return SH_UNSUPPORTED;
        for (;;) {
                bool res = false;
                TRY(parse_condition(P, exec && !done, &res));
                bool take = exec && !done && res;
                TRY(parse_list(P, take, &t, true));
                done |= take;
                if (t == T_ELIF) {
                        P->pos += 4;
                        continue;
                }
                break;
        }
        if (t == T_ELSE) {
                P->pos += 4;
                TRY(parse_list(P, exec && !done, &t, true));
        }
        if (t != T_FI)
                return SH_UNSUPPORTED;
        P->pos += 2;
        P->if_depth--;
        /* `fi fi` and `fi >x` are valid sh; we only take a separator. */
        skip_blanks(P);
        return at_command_end(P) ? SH_OK : SH_UNSUPPORTED;
}

static int parse_command(struct parser *P, bool exec)
{
        if (next_is(P, "if")) {
                P->pos += 2;
                return cmd_if(P, exec);
        }
        if (next_is(P, "export")) {
                P->pos += 6;
                skip_blanks(P);
                return cmd_export(P, exec);
        }
        if (next_is(P, "unset")) {
                P->pos += 5;
                skip_blanks(P);
                return cmd_unset(P, exec);
        }
        if (next_is(P, ":")) {
                char **argv;
                size_t argc;
                P->pos += 1;
                skip_blanks(P);
                int r = parse_args(P, &argv, &argc);
                args_free(argv, argc);
                return r;
        }
        if (assignment_name_len(P))
                return cmd_assignments(P, exec);
        return SH_UNSUPPORTED; /* any other command, [ or test outside if, { } ! ... */
}

/* Commands up to the end of the text or a then/elif/else/fi in command
 * position (left unconsumed, in *term). need_one: the grammar's
 * compound_list, which may not be empty. */
static int parse_list(struct parser *P, bool exec, enum term *term, bool need_one)
{
        static const struct {
                const char *w;
                enum term t;
        } reserved[] = {{"then", T_THEN}, {"elif", T_ELIF}, {"else", T_ELSE}, {"fi", T_FI}};
        size_t count = 0;

        for (;;) {
                skip_linebreak(P);
                if (cur(P) == -1) {
                        *term = T_EOF;
                        break;
                }
                for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
                        if (next_is(P, reserved[i].w)) {
                                *term = reserved[i].t;
                                return count || !need_one ? SH_OK : SH_UNSUPPORTED;
                        }
                }
                TRY(parse_command(P, exec));
                count++;
                TRY(parse_separator(P));
        }
        return count || !need_one ? SH_OK : SH_UNSUPPORTED;
}

enum sh_result sh_subset_run(struct sh_vars *vars, const char *text, size_t len)
{
        struct parser P = {.vars = vars, .s = text, .len = len};
        enum term t;

        if (len > SH_MAX_INPUT || memchr(text, '\0', len))
                return SH_UNSUPPORTED;
        int r = parse_list(&P, true, &t, false);
        if (r == SH_OK && t != T_EOF)
                r = SH_UNSUPPORTED; /* then/elif/else/fi outside an if */
        return (enum sh_result)r;
}
// NOLINTEND(misc-no-recursion)
