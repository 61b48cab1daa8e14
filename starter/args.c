/* Command-line parsing for the starter. Hand-written rather than getopt so
 * that nothing in the environment (POSIXLY_CORRECT, locale) changes how the
 * setuid binary reads its arguments. */
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *const actions[] = {"exec", "run", "shell", "test", "start", NULL};

static int parse_home(const char *spec, struct request *req, sing_err_t *err)
{
        char *colon;
        req->home_src = strdup(spec);
        if (!req->home_src)
                return err_set(err, "out of memory");
        colon = strchr(req->home_src, ':');
        if (colon)
                *colon++ = '\0';
        req->home_dst = colon ? colon : req->home_src;
        if (req->home_src[0] != '/' || req->home_dst[0] != '/')
                return err_set(err, "--home %s: paths must be absolute", spec);
        return 0;
}

/* PID:START, both decimal, as the frontend read them from the record. */
static int parse_instance(const char *spec, struct request *req, sing_err_t *err)
{
        char *end;
        errno = 0;
        long pid = strtol(spec, &end, 10);
        if (errno || end == spec || *end != ':' || pid <= 1 || pid > INT_MAX)
                return err_set(err, "--instance %s: expected PID:START", spec);
        const char *start = end + 1;
        unsigned long long v = strtoull(start, &end, 10);
        if (errno || end == start || *end || !v || *start == '-')
                return err_set(err, "--instance %s: expected PID:START", spec);
        req->instance_pid = (pid_t)pid;
        req->instance_start = v;
        return 0;
}

static int parse_no_mount(const char *what, struct request *req, sing_err_t *err)
{
        int r = no_mount_item(what, &req->no_mount, err);
        if (r <= 0)
                return r;
        if (req->n_no_mount_paths == MAX_NO_MOUNT_PATHS)
                return err_set(err, "too many --no-mount paths (max %d)", MAX_NO_MOUNT_PATHS);
        req->no_mount_paths[req->n_no_mount_paths++] = what;
        return 0;
}

/* Append v to a NULL-terminated list with room for argc entries. */
static void list_add(char **list, const char *v)
{
        while (*list)
                list++;
        *list = (char *)v;
}

int args_parse(int argc, char **argv, struct request *req, sing_err_t *err)
{
        int i;
        memset(req, 0, sizeof(*req));
        req->fallback_env = calloc((size_t)argc + 1, sizeof(char *));
        req->fallback_argv = calloc((size_t)argc + 1, sizeof(char *));
        if (!req->fallback_env || !req->fallback_argv)
                return err_set(err, "out of memory");
        const struct {
                const char *name;
                bool *flag;
        } flags[] = {
            {"--debug", &req->debug},
            {"--contain", &req->contain},
            {"--pid", &req->pid},
            {"--ipc", &req->ipc},
            {"--net", &req->net},       /* a network namespace with only lo */
            {"--userns", &req->userns}, /* user-namespace mode even when setuid */
            {"--no-home", &req->no_home},
            {"--writable", &req->writable},
            {"--writable-tmpfs", &req->writable_tmpfs},
            {"--nv", &req->nv},
            {"--rocm", &req->rocm},
        };
        for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
                const char *a = argv[i], *val;
                size_t f;
                for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
                        if (strcmp(a, flags[f].name) == 0)
                                break;
                if (f < sizeof(flags) / sizeof(flags[0])) {
                        *flags[f].flag = true;
                        continue;
                }
                /* Every other option takes the next argument as its value. */
                if (i + 1 >= argc)
                        return err_set(err, "%s: unknown option or missing value", a);
                val = argv[++i];
                if (strcmp(a, "--action") == 0) {
                        req->action = val;
                } else if (strcmp(a, "--image") == 0) {
                        req->image = val;
                } else if (strcmp(a, "--script") == 0) {
                        req->script = val;
                } else if (strcmp(a, "--fallback-env") == 0) {
                        if (!strchr(val, '=') || val[0] == '=')
                                return err_set(err, "--fallback-env %s: expected KEY=VALUE", val);
                        list_add(req->fallback_env, val);
                } else if (strcmp(a, "--fallback-arg") == 0) {
                        list_add(req->fallback_argv, val);
                } else if (strcmp(a, "--pwd") == 0) {
                        req->pwd = val;
                } else if (strcmp(a, "--seccomp-bpf") == 0) {
                        req->seccomp_bpf = val;
                } else if (strcmp(a, "--home") == 0) {
                        if (parse_home(val, req, err) < 0)
                                return -1;
                } else if (strcmp(a, "--instance") == 0) {
                        if (parse_instance(val, req, err) < 0)
                                return -1;
                } else if (strcmp(a, "--no-mount") == 0) {
                        if (parse_no_mount(val, req, err) < 0)
                                return -1;
                } else if (strcmp(a, "--gpu-lib") == 0 || strcmp(a, "--gpu-bin") == 0) {
                        bool lib = strcmp(a, "--gpu-lib") == 0;
                        size_t *n = lib ? &req->n_gpu_libs : &req->n_gpu_bins;
                        if (*n == MAX_GPU_FILES)
                                return err_set(err, "too many %s options (max %d)", a,
                                               MAX_GPU_FILES);
                        (lib ? req->gpu_libs : req->gpu_bins)[(*n)++] = val;
                } else if (strcmp(a, "--scratch") == 0) {
                        if (req->n_scratch == MAX_SCRATCH)
                                return err_set(err, "too many --scratch options (max %d)",
                                               MAX_SCRATCH);
                        req->scratch[req->n_scratch++] = val;
                } else if (strcmp(a, "--bind") == 0) {
                        if (req->nbinds == MAX_USER_BINDS)
                                return err_set(err, "too many --bind options (max %d)",
                                               MAX_USER_BINDS);
                        if (bind_spec_parse(val, &req->binds[req->nbinds], err) < 0)
                                return -1;
                        req->nbinds++;
                } else {
                        return err_set(err, "%s: unknown option", a);
                }
        }
        req->args = argv + (i < argc ? i + 1 : i);
        if (!req->action || !req->image)
                return err_set(err, "--action and --image are required");
        for (i = 0; actions[i]; i++)
                if (strcmp(req->action, actions[i]) == 0)
                        break;
        if (!actions[i])
                return err_set(err, "--action %s: unknown action", req->action);
        if (req->pwd && req->pwd[0] != '/')
                return err_set(err, "--pwd %s: must be an absolute path", req->pwd);
        return 0;
}
