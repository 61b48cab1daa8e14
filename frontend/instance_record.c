#include "instance_record.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "mkdir_p.h"
#include "pending_file.h"

int instance_name_check(const char *name, sing_err_t *e)
{
        size_t n = strlen(name);
        if (n == 0 || n > INSTANCE_NAME_MAX || name[0] == '.' || name[0] == '-' ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
                return err_set(e,
                               "instance name \"%s\": use at most %d letters, digits, '.', '_' "
                               "or '-', not starting with '.' or '-'",
                               name, INSTANCE_NAME_MAX);
        return 0;
}

/* Every component below the home directory must be a directory of the
 * user's (mkdir_p_below refuses symlinks on the way); *arg (bool) is set
 * when one is not. */
static int owned_by_user(int fd, const char *prefix, bool last, void *arg)
{
        struct stat st;
        (void)last;
        if (!*prefix)
                return 0; /* the home directory itself */
        if (fstat(fd, &st) < 0)
                return -1;
        if (st.st_uid != getuid()) {
                *(bool *)arg = true;
                errno = EPERM;
                return -1;
        }
        return 0;
}

/* mkdir -p, 0700, every component of `rel` below `base` (which exists). */
static int make_private_dirs(const char *base, const char *rel, sing_err_t *e)
{
        _cleanup_close_ int dir = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return err_errno(e, "%s", base);
        bool not_yours = false;
        _cleanup_close_ int made = mkdir_p_below(dir, rel, 0700, owned_by_user, &not_yours);
        if (made < 0 && not_yours)
                return err_set(e, "%s/%s: a directory on the way is not yours", base, rel);
        if (made < 0)
                return err_errno(e, "creating %s/%s", base, rel);
        return 0;
}

/* snprintf that reports truncation as an error instead of cutting a path. */
static __attribute__((format(printf, 3, 4))) bool fmt_path(char *out, size_t size, const char *fmt,
                                                           ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(out, size, fmt, ap);
        va_end(ap);
        return n >= 0 && (size_t)n < size;
}

int instance_paths_get(const char *name, bool make, struct instance_paths *p, sing_err_t *e)
{
        struct passwd *pw = getpwuid(getuid());
        char host[256] = "localhost", rel_app[PATH_MAX], rel_logs[PATH_MAX], rel_dir[PATH_MAX];
        if (!pw || !pw->pw_dir || pw->pw_dir[0] != '/')
                return err_set(e, "cannot find your home directory in the password database");
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0] || strchr(host, '/') ||
            host[0] == '.')
                snprintf(host, sizeof(host), "localhost");
        if (name && instance_name_check(name, e) < 0)
                return -1;
        const char *h = pw->pw_dir, *n = name ? name : "";
        bool ok = fmt_path(rel_app, sizeof(rel_app), ".singularity/instances/app/%s/%s", host,
                           pw->pw_name) &&
                  fmt_path(rel_logs, sizeof(rel_logs), ".singularity/instances/logs/%s/%s", host,
                           pw->pw_name) &&
                  fmt_path(rel_dir, sizeof(rel_dir), "%s/%s", rel_app, n) &&
                  fmt_path(p->app_dir, sizeof(p->app_dir), "%s/%s", h, rel_app) &&
                  fmt_path(p->dir, sizeof(p->dir), "%s/%s", h, rel_dir) &&
                  fmt_path(p->record, sizeof(p->record), "%s/%s.json", p->dir, n) &&
                  fmt_path(p->log_out, sizeof(p->log_out), "%s/%s/%s.out", h, rel_logs, n) &&
                  fmt_path(p->log_err, sizeof(p->log_err), "%s/%s/%s.err", h, rel_logs, n);
        if (!ok)
                return err_set(e, "%s: path too long for instance records", h);
        if (!make)
                return 0;
        return make_private_dirs(h, rel_dir, e) < 0 || make_private_dirs(h, rel_logs, e) < 0 ? -1
                                                                                             : 0;
}

static void put_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

int instance_record_write(const struct instance_paths *p, const struct instance_record *r,
                          sing_err_t *e)
{
        struct passwd *pw = getpwuid(getuid());
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        /* Composed in memory, so the file is written (and published) whole. */
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return err_set(e, "out of memory");
        fprintf(f, "{\"pid\": %d, \"ppid\": %d, \"startTime\": %llu, \"name\": ", (int)r->pid,
                (int)r->ppid, r->start_time);
        put_json_string(f, r->name);
        fputs(", \"user\": ", f);
        put_json_string(f, pw && pw->pw_name ? pw->pw_name : "");
        fputs(", \"image\": ", f);
        put_json_string(f, r->image);
        fputs(", \"ip\": \"\", \"logOutPath\": ", f);
        put_json_string(f, r->log_out);
        fputs(", \"logErrPath\": ", f);
        put_json_string(f, r->log_err);
        fputs("}\n", f);
        if (fclose(f) != 0)
                return err_set(e, "out of memory");

        return publish_private_file(p->record, text, len, true, e);
}
