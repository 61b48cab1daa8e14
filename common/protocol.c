#include "protocol.h"

#include <string.h>

const char *const proto_flag_names[PROTO_N_FLAGS] = {
    [PROTO_DEBUG] = "--debug",
    [PROTO_CONTAIN] = "--contain",
    [PROTO_PID] = "--pid",
    [PROTO_IPC] = "--ipc",
    [PROTO_NET] = "--net",
    [PROTO_USERNS] = "--userns",
    [PROTO_NO_HOME] = "--no-home",
    [PROTO_WRITABLE] = "--writable",
    [PROTO_WRITABLE_TMPFS] = "--writable-tmpfs",
    [PROTO_NV] = "--nv",
    [PROTO_ROCM] = "--rocm",
    [PROTO_FAKEROOT] = "--fakeroot",
};

const char *const proto_opt_names[PROTO_N_OPTS] = {
    [PROTO_ACTION] = "--action",
    [PROTO_IMAGE] = "--image",
    [PROTO_INSTANCE] = "--instance",
    [PROTO_BIND] = "--bind",
    [PROTO_HOME] = "--home",
    [PROTO_PWD] = "--pwd",
    [PROTO_NO_MOUNT] = "--no-mount",
    [PROTO_SCRATCH] = "--scratch",
    [PROTO_GPU_LIB] = "--gpu-lib",
    [PROTO_GPU_BIN] = "--gpu-bin",
    [PROTO_SCRIPT] = "--script",
    [PROTO_FALLBACK_ENV] = "--fallback-env",
    [PROTO_FALLBACK_ARG] = "--fallback-arg",
    [PROTO_SECCOMP_BPF] = "--seccomp-bpf",
    [PROTO_FAKEROOT_FD] = "--fakeroot-fd",
    [PROTO_OVERLAY] = "--overlay",
    [PROTO_ENV_INJECT] = "--env-inject",
    [PROTO_ENV_FINISH] = "--env-finish",
};

const char *const proto_actions[PROTO_N_ACTIONS] = {"exec", "run", "shell", "start", "test"};

static int lookup(const char *const *names, int n, const char *arg)
{
        for (int i = 0; i < n; i++)
                if (strcmp(arg, names[i]) == 0)
                        return i;
        return -1;
}

int proto_flag_lookup(const char *arg)
{
        return lookup(proto_flag_names, PROTO_N_FLAGS, arg);
}

int proto_opt_lookup(const char *arg)
{
        return lookup(proto_opt_names, PROTO_N_OPTS, arg);
}

bool proto_action_valid(const char *action)
{
        return lookup(proto_actions, PROTO_N_ACTIONS, action) >= 0;
}

int proto_home_split(char *spec, char **src, char **dst, sing_err_t *err)
{
        char *colon = strchr(spec, ':');
        if (colon)
                *colon = '\0';
        if (!spec[0] || (colon && strchr(colon + 1, ':'))) {
                if (colon)
                        *colon = ':';
                return err_set(err, "--home %s: expected SRC[:DST]", spec);
        }
        if (colon && colon[1] != '/') {
                *colon = ':';
                return err_set(err, "--home %s: the home directory inside must be an absolute path",
                               spec);
        }
        *src = spec;
        *dst = colon ? colon + 1 : spec;
        return 0;
}

int proto_overlay_split(char *spec, char **dir, bool *ro, sing_err_t *err)
{
        size_t len = strlen(spec);
        *ro = false;
        if (len > 3 && (strcmp(spec + len - 3, ":ro") == 0 || strcmp(spec + len - 3, ":rw") == 0)) {
                *ro = spec[len - 2] == 'r' && spec[len - 1] == 'o';
                spec[len - 3] = '\0';
        }
        if (spec[0] != '/')
                return err_set(err, "--overlay %s: must be an absolute path", spec);
        *dir = spec;
        return 0;
}
