/* Command-line parsing for the starter. Hand-written rather than getopt so
 * that nothing in the environment (POSIXLY_CORRECT, locale) changes how the
 * setuid binary reads its arguments. */
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "protocol.h"

/* --home SRC[:DST], both absolute (the frontend made SRC absolute). */
static int parse_home(const char *spec, struct request *req, sing_err_t *err)
{
        req->home_src = strdup(spec);
        if (!req->home_src)
                return err_set(err, "out of memory");
        if (proto_home_split(req->home_src, &req->home_src, &req->home_dst, err) < 0)
                return -1;
        if (req->home_src[0] != '/')
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

static int parse_fd(const char *val, int *fd)
{
        char *end;
        errno = 0;
        long n = strtol(val, &end, 10);
        if (errno || end == val || *end || n < 3 || n > INT_MAX)
                return -1;
        *fd = (int)n;
        return 0;
}

/* A ',' or ':' in a layer would split the overlay's options. */
static int parse_overlay(const char *val, struct request *req, sing_err_t *err)
{
        char *copy = strdup(val), *dir;
        bool ro;
        if (!copy)
                return err_set(err, "out of memory");
        if (req->n_overlays == MAX_OVERLAYS) {
                free(copy);
                return err_set(err, "too many --overlay options (max %d)", MAX_OVERLAYS);
        }
        if (proto_overlay_split(copy, &dir, &ro, err) < 0) {
                free(copy);
                return -1;
        }
        if (strpbrk(dir, ",:") || strcmp(dir, "/") == 0) {
                free(copy);
                return err_set(
                    err, "--overlay %s: / or a directory name with ',' or ':' is not supported",
                    val);
        }
        req->overlays[req->n_overlays].dir = path_clean(dir);
        free(copy);
        if (!req->overlays[req->n_overlays].dir)
                return err_set(err, "out of memory");
        req->overlays[req->n_overlays++].ro = ro;
        return 0;
}

int args_parse(int argc, char **argv, struct request *req, sing_err_t *err)
{
        int i;
        memset(req, 0, sizeof(*req));
        req->fallback_env = calloc((size_t)argc + 1, sizeof(char *));
        req->fallback_argv = calloc((size_t)argc + 1, sizeof(char *));
        if (!req->fallback_env || !req->fallback_argv)
                return err_set(err, "out of memory");
        bool *const flags[PROTO_N_FLAGS] = {
            [PROTO_DEBUG] = &req->debug,
            [PROTO_CONTAIN] = &req->contain,
            [PROTO_PID] = &req->pid,
            [PROTO_IPC] = &req->ipc,
            [PROTO_NET] = &req->net,
            [PROTO_USERNS] = &req->userns,
            [PROTO_NO_HOME] = &req->no_home,
            [PROTO_WRITABLE] = &req->writable,
            [PROTO_WRITABLE_TMPFS] = &req->writable_tmpfs,
            [PROTO_NV] = &req->nv,
            [PROTO_ROCM] = &req->rocm,
            [PROTO_FAKEROOT] = &req->fakeroot,
        };
        req->fakeroot_fd = -1;
        for (i = 1; i < argc && strcmp(argv[i], PROTO_END) != 0; i++) {
                const char *a = argv[i], *val;
                int f = proto_flag_lookup(a), o = proto_opt_lookup(a);
                if (f >= 0) {
                        *flags[f] = true;
                        continue;
                }
                if (o < 0)
                        return err_set(err, "%s: unknown option", a);
                if (i + 1 >= argc)
                        return err_set(err, "%s: missing value", a);
                val = argv[++i];
                switch ((enum proto_opt)o) {
                case PROTO_ACTION:
                        req->action = val;
                        break;
                case PROTO_IMAGE:
                        req->image = val;
                        break;
                case PROTO_SCRIPT:
                        req->script = val;
                        break;
                case PROTO_FALLBACK_ENV:
                        if (!strchr(val, '=') || val[0] == '=')
                                return err_set(err, "--fallback-env %s: expected KEY=VALUE", val);
                        list_add(req->fallback_env, val);
                        break;
                case PROTO_ENV_INJECT:
                        req->env_inject = val;
                        break;
                case PROTO_ENV_FINISH:
                        req->env_finish = val;
                        break;
                case PROTO_FALLBACK_ARG:
                        list_add(req->fallback_argv, val);
                        break;
                case PROTO_PWD:
                        req->pwd = val;
                        break;
                case PROTO_SECCOMP_BPF:
                        req->seccomp_bpf = val;
                        break;
                case PROTO_HOME:
                        if (parse_home(val, req, err) < 0)
                                return -1;
                        break;
                case PROTO_INSTANCE:
                        if (parse_instance(val, req, err) < 0)
                                return -1;
                        break;
                case PROTO_NO_MOUNT:
                        if (parse_no_mount(val, req, err) < 0)
                                return -1;
                        break;
                case PROTO_GPU_LIB:
                case PROTO_GPU_BIN: {
                        bool lib = o == PROTO_GPU_LIB;
                        size_t *n = lib ? &req->n_gpu_libs : &req->n_gpu_bins;
                        if (*n == MAX_GPU_FILES)
                                return err_set(err, "too many %s options (max %d)", a,
                                               MAX_GPU_FILES);
                        (lib ? req->gpu_libs : req->gpu_bins)[(*n)++] = val;
                        break;
                }
                case PROTO_SCRATCH:
                        if (req->n_scratch == MAX_SCRATCH)
                                return err_set(err, "too many --scratch options (max %d)",
                                               MAX_SCRATCH);
                        req->scratch[req->n_scratch++] = val;
                        break;
                case PROTO_BIND:
                        if (req->nbinds == MAX_USER_BINDS)
                                return err_set(err, "too many --bind options (max %d)",
                                               MAX_USER_BINDS);
                        if (bind_spec_parse(val, &req->binds[req->nbinds], err) < 0)
                                return -1;
                        req->nbinds++;
                        break;
                case PROTO_FAKEROOT_FD:
                        if (parse_fd(val, &req->fakeroot_fd) < 0)
                                return err_set(err, "--fakeroot-fd %s: not a file descriptor", val);
                        break;
                case PROTO_OVERLAY:
                        if (parse_overlay(val, req, err) < 0)
                                return -1;
                        break;
                case PROTO_N_OPTS:
                        break;
                }
        }
        req->args = argv + (i < argc ? i + 1 : i);
        if (!req->action || !req->image)
                return err_set(err, "--action and --image are required");
        if (!proto_action_valid(req->action))
                return err_set(err, "--action %s: unknown action", req->action);
        if (req->pwd && req->pwd[0] != '/')
                return err_set(err, "--pwd %s: must be an absolute path", req->pwd);
        return 0;
}
