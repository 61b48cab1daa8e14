/* `singularity run|exec|shell`: turn the command line into a request for the
 * setuid starter (see starter/ for the protocol), compute the container's
 * environment (run_env.h), and exec the starter. Nothing privileged happens
 * here; the starter checks everything again against singularity.conf. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "build_config.h"
#include "cache.h"
#include "cleanup.h"
#include "commands.h"
#include "config.h"
#include "cred_options.h"
#include "envopts.h"
#include "action_script.h"
#include "direct_plan.h"
#include "config.h"
#include "gpu_libs.h"
#include "image_tool.h"
#include "log.h"
#include "no_mount.h"
#include "oci_runtime.h"
#include "protocol.h"
#include "run_env.h"
#include "userns_map.h"
#include "workdir.h"

extern char **environ;

#define RUN_OPTIONS                                                                                \
        "      --app NAME         the SCIF app NAME of the image: run its runscript,\n"            \
        "                         test its %apptest, with its environment, bin and lib\n"          \
        "  -B, --bind SPEC        bind a host path into the container; SPEC is\n"                  \
        "                         SRC[:DST[:ro|rw]], several may be given separated by\n"          \
        "                         commas or with repeated -B (also SINGULARITY_BIND)\n"            \
        "                         (a backslash escapes : and , in paths)\n"                        \
        "      --mount SPEC       type=bind,src=SRC,dst=DST[,ro]: a bind, Docker's way\n"          \
        "  -c, --contain          use minimal /dev and empty home and /tmp directories\n"          \
        "                         instead of sharing the host's\n"                                 \
        "  -C, --containall       contain not only file systems but also PID and IPC\n"            \
        "                         namespaces and the environment (-c -e -p -i)\n"                  \
        "  -f, --fakeroot         run as root inside a user namespace: uid 0 is you,\n"            \
        "                         1..N your /etc/subuid and /etc/subgid ranges (set by\n"          \
        "                         newuidmap/newgidmap; without a range only your own\n"            \
        "                         id is mapped); HOME is /root, your home bound there\n"           \
        "  -e, --cleanenv         clean the environment before running the container:\n"           \
        "                         only TERM and the proxy variables pass, LANG=C\n"                \
        "      --env KEY=VALUE    set KEY in the container, over the image's value\n"              \
        "                         (repeatable)\n"                                                  \
        "      --env-file FILE    read KEY=VALUE lines from FILE, as --env\n"                      \
        "      --no-eval          take --env, --env-file and SINGULARITYENV_ values\n"             \
        "                         literally instead of letting the container's shell\n"            \
        "                         evaluate them ($VAR, $(cmd), \\$)\n"                             \
        "  -H, --home SRC[:DST]   use SRC as the home directory, mounted at DST (default\n"        \
        "                         SRC)\n"                                                          \
        "      --no-home          do not mount the home directory\n"                               \
        "  -i, --ipc              run the container in a new IPC namespace\n"                      \
        "  -n, --net              run the container in a new network namespace (with\n"            \
        "                         --network none: only the loopback interface, up)\n"              \
        "      --network NAME     the network for --net; only \"none\" is supported\n"             \
        "      --nv               bind the host's NVIDIA driver libraries (nvliblist.conf,\n"      \
        "                         into /.singularity.d/libs) and /dev/nvidia* devices\n"           \
        "      --rocm             the same for AMD ROCm (rocmliblist.conf, /dev/kfd, /dev/dri)\n"  \
        "      --no-https         reach a docker:// registry over plain HTTP\n"                    \
        "      --disable-cache    a docker:// image is converted into a private\n"                 \
        "                         temporary cache, removed after the run\n"                        \
        "      --docker-login     ask for the docker:// registry's user name and\n"                \
        "                         password on the terminal (for this command only)\n"              \
        "      --authfile FILE    read docker:// registry credentials from the\n"                  \
        "                         Docker-style config FILE (default\n"                             \
        "                         ~/.docker/config.json)\n"                                        \
        "  -S, --scratch DIR      a writable scratch directory DIR in the container\n"             \
        "                         (repeatable, comma-separated): a tmpfs, or\n"                    \
        "                         WORKDIR/scratch/NAME with --workdir\n"                           \
        "  -W, --workdir DIR      host directory for --scratch and, with --contain, for\n"         \
        "                         /tmp, /var/tmp and the home (DIR/tmp, DIR/var_tmp,\n"            \
        "                         DIR/home)\n"                                                     \
        "      --no-mount LIST    do not mount these (comma-separated): proc, sys, dev,\n"         \
        "                         devpts, home, tmp, cwd, hostfs, bind-paths (every\n"             \
        "                         `bind path` of the config) or /DEST (one of them)\n"             \
        "  -o, --overlay DIR[:ro] a writable overlay on the image: changes go to\n"                \
        "                         DIR/upper (DIR/work is its work directory; both made\n"          \
        "                         if missing) and persist; with :ro, DIR is a read-only\n"         \
        "                         layer (repeatable; one writable DIR at most; overlay\n"          \
        "                         image files are not supported)\n"                                \
        "  -p, --pid              run the container in a new PID namespace, under a\n"             \
        "                         minimal init (pid 1: forwards signals, reaps zombies)\n"         \
        "      --no-init          accepted for Apptainer compatibility (the init is\n"             \
        "                         always used with --pid)\n"                                       \
        "      --pwd DIR          initial working directory inside the container\n"                \
        "      --cwd DIR          the same as --pwd\n"                                             \
        "      --security seccomp:FILE\n"                                                          \
        "                         apply the Docker-format seccomp profile FILE (JSON) on\n"        \
        "                         top of the built-in filter (also SINGULARITY_SECURITY;\n"        \
        "                         default: `seccomp profile` in singularity.conf)\n"               \
        "  -u, --userns           run in a user namespace (unprivileged mode) even when\n"         \
        "                         the starter is installed setuid root\n"                          \
        "  -w, --writable         open a sandbox directory image read-write\n"                     \
        "      --writable-tmpfs   make the file system writable through a tmpfs overlay;\n"        \
        "                         changes are lost when the container exits\n"                     \
        "  -h, --help             show this help\n"                                                \
        "\n"                                                                                       \
        "Environment:\n"                                                                           \
        "  SINGULARITYENV_KEY=VALUE (or APPTAINERENV_KEY) sets KEY in the container, over\n"       \
        "  the image's value; --env-file and then --env win over it.\n"                            \
        "  SINGULARITYENV_PREPEND_PATH / SINGULARITYENV_APPEND_PATH add to the image's\n"          \
        "  PATH. Each option also reads SINGULARITY_<OPTION> (or APPTAINER_<OPTION>),\n"           \
        "  e.g. SINGULARITY_BIND, SINGULARITY_CLEANENV=1, SINGULARITY_NO_HOME=yes;\n"              \
        "  SINGULARITY_DISABLE_CACHE and SINGULARITY_NOHTTPS apply to docker:// "                  \
        "images,\n"                                                                                \
        "  and so do SINGULARITY_DOCKER_USERNAME / SINGULARITY_DOCKER_PASSWORD (the\n"             \
        "  registry credentials; --docker-login wins over them).\n" ENVOPTS_BOOL_HELP "\n"         \
        "IMAGE is a SIF file, a squashfs image (also a Singularity 2 .simg), a\n"                  \
        "sandbox directory, or docker://REF (pulled into the cache first).\n"

const char usage_run[] =
    "Usage:\n"
    "  singularity run [run options...] <image> [args...]\n"
    "\n"
    "Description:\n"
    "  Launch a container and execute its runscript (for Docker images, the\n"
    "  image's ENTRYPOINT and CMD). args are passed to the runscript.\n"
    "\n"
    "Options:\n" RUN_OPTIONS "\n"
    "Examples:\n"
    "  $ singularity run ubuntu.sif\n"
    "  $ singularity run --cleanenv --env FOO=bar docker://alpine:3.19 --help\n"
    "  $ singularity run -B /data:/mnt:ro analysis.sif /mnt/input.csv\n"
    "  $ ./ubuntu.sif arg1 arg2        # a SIF file runs itself via run-singularity\n";

const char usage_exec[] =
    "Usage:\n"
    "  singularity exec [exec options...] <image> <command> [args...]\n"
    "\n"
    "Description:\n"
    "  Run a command within a container. The command is looked up in the\n"
    "  container's PATH after the image's environment is applied.\n"
    "\n"
    "Options:\n" RUN_OPTIONS "\n"
    "Examples:\n"
    "  $ singularity exec ubuntu.sif cat /etc/os-release\n"
    "  $ singularity exec docker://alpine:3.19 sh -c 'echo $HOME'\n"
    "  $ singularity exec --containall --bind ./results:/out tools.sif make -C /out\n"
    "  $ SINGULARITYENV_PREPEND_PATH=/opt/bin singularity exec img.sif mytool\n";

const char usage_shell[] =
    "Usage:\n"
    "  singularity shell [shell options...] <image> [shell args...]\n"
    "\n"
    "Description:\n"
    "  Start an interactive shell within a container: $SINGULARITY_SHELL when\n"
    "  set, else /bin/bash, else /bin/sh.\n"
    "\n"
    "Options:\n" RUN_OPTIONS "\n"
    "Examples:\n"
    "  $ singularity shell ubuntu.sif\n"
    "  Singularity> cat /etc/os-release\n"
    "  $ singularity shell --contain --home /tmp/myhome:/home/me docker://debian\n"
    "  $ SINGULARITY_SHELL=/bin/zsh singularity shell devtools.sif\n";

const char usage_test[] =
    "Usage:\n"
    "  singularity test [test options...] <image>\n"
    "\n"
    "Description:\n"
    "  Run the image's test script (the %test section of its definition file)\n"
    "  within a container.\n"
    "\n"
    "Options:\n" RUN_OPTIONS "\n"
    "Examples:\n"
    "  $ singularity test analysis.sif\n";

const char usage_instance[] =
    "Usage:\n"
    "  singularity instance start [run options...] <image> <name> [startscript args...]\n"
    "  singularity instance list [--json] [<name>]\n"
    "  singularity instance stop [--signal SIG] [--timeout S] <name> | --all\n"
    "\n"
    "Description:\n"
    "  An instance runs the image's startscript (%startscript) in the background,\n"
    "  in its own PID namespace, detached from the terminal, until it is stopped\n"
    "  (it keeps running after the startscript ends). Its output goes to\n"
    "  ~/.singularity/instances/logs/HOST/USER/NAME.{out,err}. Join it with\n"
    "  `singularity exec|run|shell instance://NAME ...`.\n"
    "\n"
    "  start takes the options of `singularity run`.\n"
    "  list: name, pid and image of each running instance; --json prints\n"
    "        {\"instances\": [{\"instance\", \"pid\", \"img\", \"ip\", \"logErrPath\",\n"
    "        \"logOutPath\"}]}.\n"
    "  stop: sends SIGTERM (or --signal SIG, a name or number), then SIGKILL\n"
    "        after --timeout seconds (default 10) if the instance is still there.\n"
    "\n"
    "Examples:\n"
    "  $ singularity instance start --bind /data db.sif db1\n"
    "  $ singularity exec instance://db1 psql -c 'select 1'\n"
    "  $ singularity instance stop db1\n";

/* What the command line asks for; const strings point into argv or the
 * environment. */
struct run_request {
        const char *action; /* "run", "exec", "shell", "test" */
        struct strv binds, no_mount, env_flag, env_files, scratch, overlays;
        bool fakeroot;
        char *fakeroot_fd; /* the id-mapping helper's socket (userns_map.h), for the starter */
        bool contain, cleanenv, pid, ipc, net, userns, no_home, writable, writable_tmpfs, no_eval;
        const char *seccomp_profile; /* --security seccomp:FILE, else the config's */
        char *seccomp_bpf;           /* the compiled profile, hex, for the starter */
        char *config_profile;        /* `seccomp profile` from singularity.conf */
        bool nv, rocm, nohttps;
        struct strv gpu_libs, gpu_bins; /* host driver files for --nv / --rocm */
        struct strv tmpfs_scratch;      /* -S destinations without -W: tmpfs mounts */
        const char *home, *pwd, *network, *workdir;
        const char *app;           /* --app NAME */
        char *cwd;                 /* relative bind and home sources are made absolute against it */
        char *home_spec;           /* --home with SRC absolute, for the starter */
        char *home_dest;           /* without --home: the home -W --contain backs */
        struct cache_opts cache;   /* for docker:// images */
        struct cred_options cred;  /* --docker-login, --authfile: for the image tool */
        char *join;                /* instance://: "PID:START" of the instance's process */
        const char *instance_name; /* instance start NAME */
};

static void run_request_free(struct run_request *r)
{
        free(r->cwd);
        free(r->home_spec);
        free(r->home_dest);
        free(r->seccomp_bpf);
        free(r->config_profile);
        free(r->join);
        strv_free(&r->binds);
        strv_free(&r->no_mount);
        strv_free(&r->env_flag);
        strv_free(&r->env_files);
        strv_free(&r->scratch);
        strv_free(&r->overlays);
        free(r->fakeroot_fd);
        strv_free(&r->tmpfs_scratch);
        strv_free(&r->gpu_libs);
        strv_free(&r->gpu_bins);
}

/* Checked here with the starter's own table, so a typo fails before any
 * image is pulled. */
static int no_mount_parse(const char *list, struct strv *out, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;
        unsigned bits = 0;
        if (!copy)
                return err_set(e, "out of memory");
        for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
                if (no_mount_item(it, &bits, e) < 0)
                        return -1;
                if (strv_push(out, it) < 0)
                        return err_set(e, "out of memory");
        }
        return 0;
}

/* --security LIST: comma-separated KIND:VALUE; only seccomp is supported. */
static int security_parse(const char *list, struct run_request *r, sing_err_t *e)
{
        const char *p = list;
        while (*p) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (len > 8 && strncmp(p, "seccomp:", 8) == 0 && !comma)
                        r->seccomp_profile = p + 8;
                else if (len > 8 && strncmp(p, "seccomp:", 8) == 0)
                        return err_set(e,
                                       "--security %s: give seccomp:FILE last (a file name "
                                       "may contain commas)",
                                       list);
                else
                        return err_set(e, "--security %.*s: only seccomp:FILE is supported",
                                       (int)len, p);
                p += len + (comma ? 1 : 0);
        }
        return 0;
}

/* -S/--scratch DIR[,DIR...]: destinations, checked by workdir_prepare(). */
static int scratch_list_parse(const char *list, struct strv *out, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;
        if (!copy)
                return err_set(e, "out of memory");
        for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save))
                if (strv_push(out, it) < 0)
                        return err_set(e, "out of memory");
        return 0;
}

/* SINGULARITY_OVERLAY: comma-separated --overlay values. */
static int overlay_list_parse(const char *list, const char *cwd, struct strv *out, sing_err_t *e)
{
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;
        if (!copy)
                return err_set(e, "out of memory");
        for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save))
                if (overlay_spec_parse(it, cwd, out, e) < 0)
                        return -1;
        return 0;
}

static void set_containall(struct run_request *r)
{
        r->contain = r->cleanenv = r->pid = r->ipc = true;
}

/* Defaults from SINGULARITY_<OPTION> variables (envopts.h); flags add to /
 * override. */
static int options_from_env(struct run_request *r, sing_err_t *e)
{
        const struct {
                const char *name;
                bool *value;
        } flags[] = {
            {"CONTAIN", &r->contain},
            {"CLEANENV", &r->cleanenv},
            {"PID", &r->pid},
            {"IPC", &r->ipc},
            {"NO_HOME", &r->no_home},
            {"WRITABLE", &r->writable},
            {"WRITABLE_TMPFS", &r->writable_tmpfs},
            {"NET", &r->net},
            {"USERNS", &r->userns},
            {"NO_EVAL", &r->no_eval},
            {"NV", &r->nv},
            {"FAKEROOT", &r->fakeroot},
            {"ROCM", &r->rocm},
        };
        bool containall = false, nohttps = false;
        const char *v;
        /* NOHTTPS is the image tool's, checked here too: a bad value is an
         * error even when a cached docker:// image needs no tool. */
        if (cache_opts_from_env(&r->cache, e) < 0 || envopt_bool("NOHTTPS", &nohttps, e) < 0)
                return -1;
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
                if (envopt_bool(flags[i].name, flags[i].value, e) < 0)
                        return -1;
        if (envopt_bool("CONTAINALL", &containall, e) < 0)
                return -1;
        if (containall)
                set_containall(r);
        r->home = envopt_str("HOME");
        r->pwd = envopt_str("PWD");
        r->network = envopt_str("NETWORK");
        if ((v = envopt_str("BIND")) && bind_list_parse(v, r->cwd, &r->binds, e) < 0)
                return err_prefix(e, "%s", envopt_var("BIND"));
        if ((v = envopt_str("NO_MOUNT")) && no_mount_parse(v, &r->no_mount, e) < 0)
                return err_prefix(e, "%s", envopt_var("NO_MOUNT"));
        if ((v = envopt_str("ENV_FILE")) && strv_push(&r->env_files, v) < 0)
                return err_set(e, "out of memory");
        if ((v = envopt_str("SECURITY")) && security_parse(v, r, e) < 0)
                return err_prefix(e, "%s", envopt_var("SECURITY"));
        r->workdir = envopt_str("WORKDIR");
        if ((v = envopt_str("OVERLAY")) && overlay_list_parse(v, r->cwd, &r->overlays, e) < 0)
                return err_prefix(e, "%s", envopt_var("OVERLAY"));
        if ((v = envopt_str("SCRATCH")) && scratch_list_parse(v, &r->scratch, e) < 0)
                return err_prefix(e, "%s", envopt_var("SCRATCH"));
        return 0;
}

enum {
        OPT_ENV = 1000,
        OPT_ENV_FILE,
        OPT_NO_HOME,
        OPT_PWD,
        OPT_WRITABLE_TMPFS,
        OPT_NO_MOUNT,
        OPT_NETWORK,
        OPT_NETWORK_ARGS,
        OPT_MOUNT,
        OPT_NO_EVAL,
        OPT_SECURITY,
        OPT_NO_INIT,
        OPT_NV,
        OPT_NO_HTTPS,
        OPT_DISABLE_CACHE,
        OPT_ROCM,
        OPT_APP,
};

/* --net: a network namespace; of Apptainer's networks only "none" (lo up,
 * no other interface) exists here, and it is the one normal users get. */
static int check_network(struct run_request *r, sing_err_t *e)
{
        if (r->network && !r->net)
                r->net = true; /* --network names the --net network */
        if (!r->net)
                return 0;
        if (!r->network)
                return err_set(e, "--net: the default network (bridge) is not supported; use "
                                  "--net --network none");
        if (strcmp(r->network, "none") != 0)
                return err_set(e, "--network %s: not supported; the only network is \"none\"",
                               r->network);
        return 0;
}

/* Parse options; returns the index of IMAGE, 0 after --help, -1 on error. */
static int parse_options(int argc, char **argv, struct run_request *r, sing_err_t *e)
{
        static const struct option opts[] = {
            {"bind", required_argument, NULL, 'B'},
            {"mount", required_argument, NULL, OPT_MOUNT},
            {"contain", no_argument, NULL, 'c'},
            {"containall", no_argument, NULL, 'C'},
            {"cleanenv", no_argument, NULL, 'e'},
            {"env", required_argument, NULL, OPT_ENV},
            {"env-file", required_argument, NULL, OPT_ENV_FILE},
            {"home", required_argument, NULL, 'H'},
            {"no-home", no_argument, NULL, OPT_NO_HOME},
            {"ipc", no_argument, NULL, 'i'},
            {"pid", no_argument, NULL, 'p'},
            {"pwd", required_argument, NULL, OPT_PWD},
            {"cwd", required_argument, NULL, OPT_PWD},
            {"net", no_argument, NULL, 'n'},
            {"network", required_argument, NULL, OPT_NETWORK},
            {"network-args", required_argument, NULL, OPT_NETWORK_ARGS},
            {"userns", no_argument, NULL, 'u'},
            {"fakeroot", no_argument, NULL, 'f'},
            {"overlay", required_argument, NULL, 'o'},
            {"writable", no_argument, NULL, 'w'},
            {"writable-tmpfs", no_argument, NULL, OPT_WRITABLE_TMPFS},
            {"no-mount", required_argument, NULL, OPT_NO_MOUNT},
            {"no-eval", no_argument, NULL, OPT_NO_EVAL},
            {"security", required_argument, NULL, OPT_SECURITY},
            {"no-init", no_argument, NULL, OPT_NO_INIT},
            {"nv", no_argument, NULL, OPT_NV},
            {"workdir", required_argument, NULL, 'W'},
            {"scratch", required_argument, NULL, 'S'},
            {"no-https", no_argument, NULL, OPT_NO_HTTPS},
            {"nohttps", no_argument, NULL, OPT_NO_HTTPS},
            {"disable-cache", no_argument, NULL, OPT_DISABLE_CACHE},
            {"rocm", no_argument, NULL, OPT_ROCM},
            {"app", required_argument, NULL, OPT_APP},
            {"docker-login", no_argument, NULL, CRED_OPT_DOCKER_LOGIN},
            {"authfile", required_argument, NULL, CRED_OPT_AUTHFILE},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int opt;

        r->cwd = getcwd(NULL, 0); /* NULL (cwd deleted): sources stay relative */
        if (options_from_env(r, e) < 0)
                return -1;
        /* '+': the first non-option (IMAGE) ends our options; the rest are the
         * container command's. */
        while ((opt = getopt_long(argc, argv, "+B:cCefH:ino:puwhW:S:", opts, NULL)) != -1) {
                switch (opt) {
                case 'B':
                        if (bind_list_parse(optarg, r->cwd, &r->binds, e) < 0)
                                return -1;
                        break;
                case OPT_MOUNT:
                        if (mount_spec_parse(optarg, r->cwd, &r->binds, e) < 0)
                                return -1;
                        break;
                case 'c':
                        r->contain = true;
                        break;
                case 'C':
                        set_containall(r);
                        break;
                case 'e':
                        r->cleanenv = true;
                        break;
                case OPT_ENV:
                        if (!strchr(optarg, '='))
                                return err_set(e, "--env %s: expected KEY=VALUE", optarg);
                        if (strv_push(&r->env_flag, optarg) < 0)
                                return err_set(e, "out of memory");
                        break;
                case OPT_ENV_FILE:
                        if (strv_push(&r->env_files, optarg) < 0)
                                return err_set(e, "out of memory");
                        break;
                case 'H':
                        r->home = optarg;
                        break;
                case OPT_NO_HOME:
                        r->no_home = true;
                        break;
                case 'i':
                        r->ipc = true;
                        break;
                case 'p':
                        r->pid = true;
                        break;
                case 'n':
                        r->net = true;
                        break;
                case OPT_NETWORK:
                        r->network = optarg;
                        break;
                case OPT_NETWORK_ARGS:
                        return err_set(e,
                                       "--network-args %s: not supported (the only network, "
                                       "\"none\", takes no arguments)",
                                       optarg);
                case 'u':
                        r->userns = true;
                        break;
                case 'f':
                        r->fakeroot = true;
                        break;
                case 'o':
                        if (overlay_spec_parse(optarg, r->cwd, &r->overlays, e) < 0)
                                return -1;
                        break;
                case OPT_PWD:
                        r->pwd = optarg;
                        break;
                case 'w':
                        r->writable = true;
                        break;
                case OPT_WRITABLE_TMPFS:
                        r->writable_tmpfs = true;
                        break;
                case OPT_NO_EVAL:
                        r->no_eval = true;
                        break;
                case OPT_APP:
                        if (!app_name_valid(optarg))
                                return err_set(e,
                                               "--app %s: not an app name (letters, digits, "
                                               "'_', '-', '.', '+')",
                                               optarg);
                        r->app = optarg;
                        break;
                case OPT_NO_MOUNT:
                        if (no_mount_parse(optarg, &r->no_mount, e) < 0)
                                return -1;
                        break;
                case OPT_SECURITY:
                        if (security_parse(optarg, r, e) < 0)
                                return -1;
                        break;
                case OPT_NO_INIT: /* Apptainer's: our init is small enough to keep */
                        break;
                case OPT_NV:
                        r->nv = true;
                        break;
                case OPT_ROCM:
                        r->rocm = true;
                        break;
                case 'W':
                        r->workdir = optarg;
                        break;
                case 'S':
                        if (scratch_list_parse(optarg, &r->scratch, e) < 0)
                                return -1;
                        break;
                case OPT_DISABLE_CACHE:
                        r->cache.disable = true; /* as SINGULARITY_DISABLE_CACHE */
                        break;
                case OPT_NO_HTTPS:
                        r->nohttps = true;
                        break;
                case CRED_OPT_DOCKER_LOGIN:
                case CRED_OPT_AUTHFILE:
                        cred_options_take(&r->cred, opt, optarg);
                        break;
                case 'h':
                        return 0;
                default: /* getopt printed what was wrong */
                        return err_set(e, "see 'singularity help %s'", r->action);
                }
        }
        if (r->home && r->no_home)
                return err_set(e, "--home and --no-home cannot be used together");
        if (check_network(r, e) < 0)
                return -1;
        if (r->writable && r->writable_tmpfs)
                return err_set(e, "--writable and --writable-tmpfs cannot be used together");
        if (r->writable && r->overlays.n)
                return err_set(e, "--overlay and --writable cannot be used together");
        if (optind >= argc)
                return err_set(e, "missing IMAGE; see 'singularity help %s'", r->action);
        if (strcmp(r->action, "exec") == 0 && optind + 1 >= argc)
                return err_set(e, "exec requires a command after the image");
        if (strcmp(r->action, "start") == 0 && optind + 1 >= argc)
                return err_set(e, "instance start requires an instance name after the image");
        return optind;
}

static bool dev_has_prefix(const char *prefix)
{
        _cleanup_closedir_ DIR *d = opendir("/dev");
        size_t len = strlen(prefix);
        for (struct dirent *de; d && (de = readdir(d));)
                if (strncmp(de->d_name, prefix, len) == 0)
                        return true;
        return false;
}

/* --nv / --rocm: the host's driver files, from the lists in SYSCONFDIR and
 * the linker cache that `ldconfig path` reads. A host without the driver
 * or the device gets a warning and the job runs (site-wide --nv flags). */
static int find_gpu_files(struct run_request *r, sing_err_t *e)
{
        const struct {
                bool on;
                const char *opt, *list, *vendor, *dev_prefix;
        } gpus[] = {
            {r->nv, "--nv", "nvliblist.conf", "NVIDIA", "nvidia"},
            {r->rocm, "--rocm", "rocmliblist.conf", "ROCm", "kfd"},
        };
        struct sing_config cfg;
        sing_err_t ce;
        _cleanup_free_ char *ldconfig = NULL;
        if (!r->nv && !r->rocm)
                return 0;
        /* A broken config is the starter's to report: the default here. */
        if (config_parse_file(SING_CONFIG_PATH, &cfg, &ce) == 0 && cfg.ldconfig_path &&
            cfg.ldconfig_path[0])
                ldconfig = strdup(cfg.ldconfig_path[0]);
        config_free(&cfg);
        for (size_t i = 0; i < sizeof(gpus) / sizeof(gpus[0]); i++) {
                if (!gpus[i].on)
                        continue;
                size_t before = r->gpu_libs.n;
                if (gpu_files_find(gpus[i].list, ldconfig ? ldconfig : "/sbin/ldconfig",
                                   &r->gpu_libs, &r->gpu_bins, e) < 0)
                        return err_prefix(e, "%s", gpus[i].opt);
                if (r->gpu_libs.n == before)
                        log_warn("%s: no %s driver libraries in the host's linker cache",
                                 gpus[i].opt, gpus[i].vendor);
                if (!dev_has_prefix(gpus[i].dev_prefix))
                        log_warn("%s: no %s GPU device (/dev/%s*) on this host", gpus[i].opt,
                                 gpus[i].vendor, gpus[i].dev_prefix);
        }
        return 0;
}

/* --home with SRC made absolute, for the starter (which sets HOME); else,
 * for -W --contain's WORKDIR/home only, the user's home from the password
 * database (where the starter mounts it): the starter looks the user up
 * itself, so no other run pays for a lookup here. */
static int resolve_home(struct run_request *r, sing_err_t *e)
{
        const char *dest;
        struct passwd *pw;
        if (r->home)
                return home_spec_parse(r->home, r->cwd, &r->home_spec, e);
        if (!r->workdir || !r->contain || r->no_home)
                return 0;
        pw = getpwuid(getuid());
        dest = pw && pw->pw_dir ? pw->pw_dir : envopt_plain("HOME");
        if (r->fakeroot && getuid() != 0)
                dest = "/root"; /* where the starter puts a --fakeroot home */
        r->home_dest = strdup(dest ? dest : "/");
        return r->home_dest ? 0 : err_set(e, "out of memory");
}

/* --fakeroot: a helper that maps the starter's user namespace with the
 * subordinate ids once it exists (userns_map.h); without a range, as
 * Apptainer 1.3, the starter maps only the user's own ids. Root is root
 * already. */
static int prepare_fakeroot(struct run_request *r, sing_err_t *e)
{
        struct subid_ranges ranges;
        sing_err_t why;
        int fd;
        if (!r->fakeroot || getuid() == 0)
                return 0;
        if (subid_ranges_get(&ranges, &why) < 0) {
                log_info("--fakeroot: %s: only your own id is mapped (root in the container; "
                         "chown to other ids fails)",
                         why.msg);
                return 0;
        }
        if (fakeroot_helper_start(&ranges, &fd, e) < 0)
                return -1;
        if (asprintf(&r->fakeroot_fd, "%d", fd) < 0) {
                r->fakeroot_fd = NULL;
                return err_set(e, "out of memory");
        }
        return 0;
}

/* The image to hand the starter: docker:// is pulled into the cache (by the
 * image tool, which reads SINGULARITY_NOHTTPS itself; the cache settings
 * are ours, as a disabled cache is ours to remove), a
 * path must exist (the starter checks what it is). Absolute, malloc'd. */
static int resolve_image(struct run_request *r, const char *image, char **path, sing_err_t *e)
{
        if (strncmp(image, "instance://", 11) == 0) {
                if (strcmp(r->action, "start") == 0)
                        return err_set(e, "instance start: an instance is not an image");
                return image_tool_instance_info(image + 11, path, &r->join, e);
        }
        if (strncmp(image, "docker://", 9) == 0)
                return image_tool_cache_sif(image, &r->cache, r->nohttps, &r->cred, path, e);
        if (strstr(image, "://"))
                return err_set(e, "image %s: only docker:// URIs and local images are supported",
                               image);
        *path = realpath(image, NULL);
        if (!*path)
                return err_errno(e, "image %s", image);
        return 0;
}

/* The profile: --security seccomp:FILE, else `seccomp profile` in
 * singularity.conf (a default for users, not a policy: see SECURITY.md; a
 * broken config is the starter's to report). Compiled by the image tool. */
static int resolve_seccomp(struct run_request *r, sing_err_t *e)
{
        if (!r->seccomp_profile) {
                struct sing_config cfg;
                sing_err_t ignored;
                if (config_parse_file(SING_CONFIG_PATH, &cfg, &ignored) == 0 && cfg.seccomp_profile)
                        r->config_profile = strdup(cfg.seccomp_profile);
                config_free(&cfg);
                r->seccomp_profile = r->config_profile;
        }
        if (!r->seccomp_profile)
                return 0;
        return image_tool_seccomp_compile(r->seccomp_profile, &r->seccomp_bpf, e);
}

/* -W / -S: workdir-backed binds go first (a user's -B under /tmp stays
 * visible), tmpfs scratch mounts are the starter's. */
static int apply_workdir(struct run_request *r, sing_err_t *e)
{
        struct workdir_request wr = {.workdir = r->workdir,
                                     .scratch = &r->scratch,
                                     .contain = r->contain,
                                     .home_given = r->home || r->no_home,
                                     .cwd = r->cwd,
                                     .home_dest = r->home_dest};
        struct workdir_plan wp;
        struct strv binds = {0};
        int rc = workdir_prepare(&wr, &wp, e);
        for (size_t i = 0; rc == 0 && i < wp.binds.n + r->binds.n; i++)
                if (strv_push(&binds, i < wp.binds.n ? wp.binds.v[i] : r->binds.v[i - wp.binds.n]) <
                    0)
                        rc = err_set(e, "out of memory");
        for (size_t i = 0; rc == 0 && i < wp.tmpfs.n; i++)
                if (strv_push(&r->tmpfs_scratch, wp.tmpfs.v[i]) < 0)
                        rc = err_set(e, "out of memory");
        if (rc == 0) {
                strv_free(&r->binds);
                r->binds = binds;
                if (wp.home_spec) {
                        free(r->home_spec);
                        r->home_spec = steal_ptr(&wp.home_spec);
                }
        } else {
                strv_free(&binds);
        }
        workdir_plan_free(&wp);
        return rc;
}

/* What the container runs (action_script.h, direct_plan.h), for the
 * starter's --script / --fallback-* options. */
struct container_command {
        char *script;
        struct direct_plan direct;
        char *env_inject, *env_finish; /* exec without a shell (action_env_steps) */
};

static int starter_argv(const struct run_request *r, const char *image,
                        const struct container_command *cc, char **args, struct strv *av,
                        sing_err_t *e)
{
        const bool flags[PROTO_N_FLAGS] = {
            [PROTO_DEBUG] = log_get_level() >= LOG_LVL_DEBUG,
            [PROTO_CONTAIN] = r->contain,
            [PROTO_PID] = r->pid,
            [PROTO_IPC] = r->ipc,
            [PROTO_NET] = r->net,
            [PROTO_USERNS] = r->userns,
            [PROTO_NO_HOME] = r->no_home,
            [PROTO_WRITABLE] = r->writable,
            [PROTO_WRITABLE_TMPFS] = r->writable_tmpfs,
            [PROTO_NV] = r->nv,
            [PROTO_ROCM] = r->rocm,
            [PROTO_FAKEROOT] = r->fakeroot,
        };
        const struct {
                enum proto_opt opt;
                const char *const *v; /* n values */
                size_t n;
        } opts[] = {
            {PROTO_ACTION, &r->action, 1},
            {PROTO_IMAGE, &image, 1},
            {PROTO_INSTANCE, (const char *const *)&r->join, r->join ? 1 : 0},
            {PROTO_BIND, (const char *const *)r->binds.v, r->binds.n},
            {PROTO_HOME, (const char *const *)&r->home_spec, r->home_spec ? 1 : 0},
            {PROTO_PWD, &r->pwd, r->pwd ? 1 : 0},
            {PROTO_SCRATCH, (const char *const *)r->tmpfs_scratch.v, r->tmpfs_scratch.n},
            {PROTO_GPU_LIB, (const char *const *)r->gpu_libs.v, r->gpu_libs.n},
            {PROTO_GPU_BIN, (const char *const *)r->gpu_bins.v, r->gpu_bins.n},
            {PROTO_NO_MOUNT, (const char *const *)r->no_mount.v, r->no_mount.n},
            {PROTO_SCRIPT, (const char *const *)&cc->script, 1},
            {PROTO_FALLBACK_ENV, (const char *const *)cc->direct.set.v, cc->direct.set.n},
            {PROTO_FALLBACK_ARG, (const char *const *)cc->direct.argv.v, cc->direct.argv.n},
            {PROTO_SECCOMP_BPF, (const char *const *)&r->seccomp_bpf, r->seccomp_bpf ? 1 : 0},
            {PROTO_FAKEROOT_FD, (const char *const *)&r->fakeroot_fd, r->fakeroot_fd ? 1 : 0},
            {PROTO_OVERLAY, (const char *const *)r->overlays.v, r->overlays.n},
            {PROTO_ENV_INJECT, (const char *const *)&cc->env_inject, cc->env_inject ? 1 : 0},
            {PROTO_ENV_FINISH, (const char *const *)&cc->env_finish, cc->env_finish ? 1 : 0},
        };
        bool ok = strv_push(av, SING_STARTER_PATH) == 0;
        for (int f = 0; f < PROTO_N_FLAGS; f++)
                if (flags[f])
                        ok = ok && strv_push(av, proto_flag_names[f]) == 0;
        for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++)
                for (size_t i = 0; i < opts[o].n; i++)
                        ok = ok && strv_push(av, proto_opt_names[opts[o].opt]) == 0 &&
                             strv_push(av, opts[o].v[i]) == 0;
        ok = ok && strv_push(av, PROTO_END) == 0;
        for (; ok && *args; args++)
                ok = strv_push(av, *args) == 0;
        return ok ? 0 : err_set(e, "out of memory");
}

static void log_command(char **av)
{
        if (log_get_level() < LOG_LVL_DEBUG)
                return;
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f)
                return;
        for (; *av; av++) {
                size_t n = strlen(*av);
                if (n > 200) /* the compiled seccomp profile: its size says enough */
                        fprintf(f, " [%.32s...(%zu bytes)]", *av, n);
                else
                        fprintf(f, " [%s]", *av);
        }
        if (fclose(f) == 0)
                log_debug("running the starter:%s", line);
}

/* The action script, and the plan for an image without /bin/sh (from the
 * SIF's OCI config; only exec and run can have one). */
static int container_command_build(const struct run_request *r, const struct run_env *env,
                                   const char *image, char **args, struct container_command *cc,
                                   sing_err_t *e)
{
        struct oci_runtime oci = {0};
        int rc;
        cc->script = action_script_app(env, r->action, r->no_eval, r->app);
        if (!cc->script)
                return err_set(e, "out of memory");
        /* An app is found, and its environment applied, by the shell. */
        if (r->app)
                return 0;
        if (strcmp(r->action, "exec") == 0 &&
            action_env_steps(env, r->no_eval, &cc->env_inject, &cc->env_finish) < 0)
                return err_set(e, "out of memory");
        if ((strcmp(r->action, "run") == 0 || strcmp(r->action, "exec") == 0) &&
            oci_runtime_read(image, &oci, e) < 0)
                return -1;
        rc = direct_plan_build(env, &oci, r->action, args, &cc->direct, e);
        oci_runtime_free(&oci);
        return rc;
}

enum prepare_result { PREPARE_FAILED = -1, PREPARE_HELP_SHOWN, PREPARE_READY };

/* Everything up to the exec: fills env (the starter's environment) and av
 * (its argv). */
static enum prepare_result prepare(int argc, char **argv, struct run_request *r,
                                   struct run_env *env, struct strv *av, char **image_out,
                                   sing_err_t *e)
{
        _cleanup_free_ char *image = NULL;
        struct strv env_file_kv = {0};
        struct container_command cc = {0};
        int img_idx = parse_options(argc, argv, r, e);
        enum prepare_result rc = PREPARE_FAILED;

        if (img_idx < 0)
                return PREPARE_FAILED;
        if (img_idx == 0) {
                fputs(strcmp(r->action, "start") == 0   ? usage_instance
                      : strcmp(r->action, "exec") == 0  ? usage_exec
                      : strcmp(r->action, "shell") == 0 ? usage_shell
                      : strcmp(r->action, "test") == 0  ? usage_test
                                                        : usage_run,
                      stdout);
                return PREPARE_HELP_SHOWN;
        }
        for (size_t i = 0; i < r->env_files.n; i++)
                if (env_file_read(r->env_files.v[i], &env_file_kv, e) < 0)
                        goto out;
        if (find_gpu_files(r, e) < 0 || resolve_home(r, e) < 0 || apply_workdir(r, e) < 0 ||
            resolve_seccomp(r, e) < 0 || resolve_image(r, argv[img_idx], &image, e) < 0)
                goto out;
        if (strcmp(r->action, "start") == 0) {
                r->pid = true; /* an instance always has its own pid namespace */
                r->instance_name = argv[++img_idx];
        }
        {
                struct run_env_input in = {
                    .host_env = environ,
                    .cleanenv = r->cleanenv,
                    .action = r->action,
                    .env_file = &env_file_kv,
                    .env_flag = &r->env_flag,
                    .binds = &r->binds,
                    .app = r->app,
                };
                if (run_env_compute(&in, env, e) < 0)
                        goto out;
        }
        if (container_command_build(r, env, image, argv + img_idx + 1, &cc, e) < 0 ||
            prepare_fakeroot(r, e) < 0 ||
            starter_argv(r, image, &cc, argv + img_idx + 1, av, e) < 0)
                goto out;
        *image_out = steal_ptr(&image);
        rc = PREPARE_READY;
out:
        free(cc.script);
        free(cc.env_inject);
        free(cc.env_finish);
        direct_plan_free(&cc.direct);
        strv_free(&env_file_kv);
        return rc;
}

int cmd_run_launch(int argc, char **argv, starter_launch_fn launch)
{
        struct run_request r = {.action = argv[0]};
        struct run_env env = {0};
        struct strv av = {0};
        sing_err_t e = {0};
        _cleanup_free_ char *image = NULL;
        enum prepare_result rc = prepare(argc, argv, &r, &env, &av, &image, &e);
        int status = rc == PREPARE_FAILED ? 255 : 0;

        if (rc == PREPARE_READY && launch) {
                /* instance start: NAME follows IMAGE (parse_options checked). */
                status = launch(r.instance_name, image, av.v, env.pass.v);
        } else if (rc == PREPARE_READY) {
                log_command(av.v);
                fflush(NULL);
                execve(SING_STARTER_PATH, av.v, env.pass.v);
                err_errno(&e, "cannot execute the starter %s", SING_STARTER_PATH);
                rc = PREPARE_FAILED;
                status = 255;
        }
        if (rc == PREPARE_FAILED && e.msg[0]) /* empty: the image tool said why */
                log_error("%s", e.msg);
        strv_free(&av);
        run_env_free(&env);
        run_request_free(&r);
        return status;
}

int cmd_run(int argc, char **argv)
{
        return cmd_run_launch(argc, argv, NULL);
}
