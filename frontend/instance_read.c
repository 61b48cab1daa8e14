#include "instance_read.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"

#define RECORD_MAX 65536

static int get_string(json_object *root, const char *key, char *out, size_t size, sing_err_t *e)
{
        json_object *v;
        if (!json_object_object_get_ex(root, key, &v) || !json_object_is_type(v, json_type_string))
                return err_set(e, "no string \"%s\"", key);
        if ((size_t)json_object_get_string_len(v) >= size)
                return err_set(e, "\"%s\" is too long", key);
        snprintf(out, size, "%s", json_object_get_string(v));
        return 0;
}

static int get_uint(json_object *root, const char *key, unsigned long long max,
                    unsigned long long *out, sing_err_t *e)
{
        json_object *v;
        if (!json_object_object_get_ex(root, key, &v) || !json_object_is_type(v, json_type_int))
                return err_set(e, "no number \"%s\"", key);
        errno = 0;
        uint64_t u = json_object_get_uint64(v);
        if (errno || json_object_get_int64(v) < 0 || u > max)
                return err_set(e, "\"%s\" is out of range", key);
        *out = u;
        return 0;
}

int instance_record_read(const struct instance_paths *p, struct instance_record *r, sing_err_t *e)
{
        _cleanup_close_ int fd = open(p->record, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        unsigned long long pid = 0, ppid = 0;
        struct stat st;
        if (fd < 0)
                return err_errno(e, "%s", p->record);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid())
                return err_set(e, "%s: not a regular file of yours", p->record);
        if (read_all_bounded(fd, RECORD_MAX, &text, &len) < 0)
                return err_errno(e, "reading %s", p->record);
        json_object *root = json_tokener_parse(text);
        memset(r, 0, sizeof(*r));
        int rc = -1;
        if (!root || !json_object_is_type(root, json_type_object))
                err_set(e, "not a JSON object");
        else if (get_uint(root, "pid", 0x3fffffff, &pid, e) == 0 &&
                 get_uint(root, "ppid", 0x3fffffff, &ppid, e) == 0 &&
                 get_uint(root, "startTime", ~0ULL, &r->start_time, e) == 0 &&
                 get_string(root, "name", r->name, sizeof(r->name), e) == 0 &&
                 get_string(root, "image", r->image, sizeof(r->image), e) == 0 &&
                 get_string(root, "logOutPath", r->log_out, sizeof(r->log_out), e) == 0 &&
                 get_string(root, "logErrPath", r->log_err, sizeof(r->log_err), e) == 0)
                rc = 0;
        json_object_put(root);
        r->pid = (pid_t)pid;
        r->ppid = (pid_t)ppid;
        if (rc < 0)
                return err_prefix(e, "instance record %s", p->record);
        return 0;
}

int instance_check(const struct instance_record *r, struct proc_identity *proc,
                   enum instance_state *state, sing_err_t *e)
{
        sing_err_t why;
        if (proc_identity_open(r->pid, r->start_time, getuid(), proc, &why) == 0) {
                *state = INSTANCE_RUNNING;
                return 0;
        }
        /* Gone (ESRCH), or alive with another start time: the recorded
         * process has exited and the pid may have been reused. */
        if (why.code == ESRCH) {
                snprintf(e->msg, sizeof(e->msg), "%s", why.msg);
                *state = INSTANCE_GONE;
                return 0;
        }
        return err_set(e, "instance %s: refusing its record: %s", r->name, why.msg);
}

void instance_record_remove(const struct instance_paths *p)
{
        unlink(p->record);
        rmdir(p->dir);
}
