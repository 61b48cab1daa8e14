#include "shell_quote.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "memstream.h"

void shell_put_quoted(FILE *f, const char *s, size_t n)
{
        fputc('\'', f);
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\'')
                        fputs("'\\''", f);
                else
                        fputc(s[i], f);
        }
        fputc('\'', f);
}

void shell_put_quoted_str(FILE *f, const char *s)
{
        shell_put_quoted(f, s, strlen(s));
}

void shell_put_evaluated(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '\\') {
                        /* A pair goes through as it is (the shell decides
                         * what it means inside "..."); a trailing one
                         * would escape the closing quote, so it is doubled. */
                        fputc('\\', f);
                        if (s[1])
                                fputc(*++s, f);
                        else
                                fputc('\\', f);
                } else if (*s == '"') {
                        fputs("\\\"", f);
                } else {
                        fputc(*s, f);
                }
        }
        fputc('"', f);
}

bool shell_is_name(const char *s, size_t n)
{
        if (n == 0 ||
            !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = s[i];
                if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9')))
                        return false;
        }
        return true;
}

void shell_put_export(FILE *f, const char *kv, size_t len)
{
        const char *eq = memchr(kv, '=', len);
        if (!eq) {
                log_warn("ignoring environment entry without '=': %.*s", (int)len, kv);
                return;
        }
        size_t klen = (size_t)(eq - kv);
        if (klen == 0) {
                log_warn("ignoring environment entry with an empty name: %.*s", (int)len, kv);
                return;
        }
        if (!shell_is_name(kv, klen)) {
                log_warn("ignoring environment variable with invalid name: %.*s", (int)klen, kv);
                return;
        }
        if (memchr(kv, '\0', len)) {
                log_warn("ignoring environment variable %.*s: value contains a NUL byte", (int)klen,
                         kv);
                return;
        }
        fputs("export ", f);
        fwrite(kv, 1, klen, f);
        fputc('=', f);
        shell_put_quoted(f, eq + 1, len - klen - 1);
        fputc('\n', f);
}

char *shell_env_script(char *const *kv, size_t n)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++)
                shell_put_export(f, kv[i], strlen(kv[i]));
        return memstream_finish(f, &buf);
}
