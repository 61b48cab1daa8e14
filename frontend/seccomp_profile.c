/* Docker's seccomp profile format, compiled with libseccomp. Runs with the
 * user's rights in the image tool; the result only ever restricts the
 * user's own container, and the kernel verifies the program the starter
 * loads, so nothing here is a trust boundary. Strict all the same: an
 * unknown key or value is an error, never a silently weaker filter. */
#include "seccomp_profile.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cleanup.h"
#include "host_arch.h"
#include "fileio.h"
#include "log.h"

struct compile {
        scmp_filter_ctx ctx;
        const char *path;
        uint32_t default_action;
        int default_errno;
        const char *native_goarch; /* "amd64": Docker's includes.arches names */
        unsigned kernel_major, kernel_minor;
        sing_err_t *e;
};

static void cleanup_json(json_object **o)
{
        if (*o)
                json_object_put(*o);
}

static void cleanup_seccomp(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

static int fail(struct compile *c, const char *what, const char *detail)
{
        return err_set(c->e, "seccomp profile %s: %s%s%s", c->path, what, detail ? ": " : "",
                       detail ? detail : "");
}

static bool only_keys(json_object *o, const char *const *known, const char **bad)
{
        json_object_object_foreach(o, key, val)
        {
                (void)val;
                const char *const *k = known;
                while (*k && strcmp(*k, key) != 0)
                        k++;
                if (!*k) {
                        *bad = key;
                        return false;
                }
        }
        return true;
}

static json_object *get(json_object *o, const char *key, json_type type, bool *bad)
{
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        if (!json_object_is_type(v, type)) {
                *bad = true;
                return NULL;
        }
        return v;
}

/* "SCMP_ACT_ERRNO" and an errno (errnoRet, else the profile's default). */
static int parse_action(struct compile *c, const char *name, int errno_ret, uint32_t *out)
{
        if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
                *out = SCMP_ACT_ALLOW;
        else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
                *out = SCMP_ACT_ERRNO((uint16_t)errno_ret);
        else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
                *out = SCMP_ACT_KILL_THREAD;
        else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
                *out = SCMP_ACT_KILL_PROCESS;
        else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
                *out = SCMP_ACT_TRAP;
        else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
                *out = SCMP_ACT_TRACE((uint16_t)errno_ret);
        else if (strcmp(name, "SCMP_ACT_LOG") == 0)
                *out = SCMP_ACT_LOG;
        else
                return fail(c, "unknown or unsupported action", name);
        return 0;
}

static int parse_errno(struct compile *c, json_object *o, int fallback, int *out)
{
        bool bad = false;
        json_object *v = get(o, "errnoRet", json_type_int, &bad);
        if (bad)
                return fail(c, "errnoRet must be a number", NULL);
        *out = v ? json_object_get_int(v) : fallback;
        if (*out < 0 || *out > 4095)
                return fail(c, "errnoRet out of range", json_object_to_json_string(v));
        return 0;
}

/* Docker names architectures SCMP_ARCH_X86_64; libseccomp says x86_64. */
static int add_arch(struct compile *c, const char *name)
{
        char lower[32];
        size_t n = 0;
        if (strncmp(name, "SCMP_ARCH_", 10) != 0)
                return fail(c, "unknown architecture", name);
        for (const char *p = name + 10; *p && n < sizeof(lower) - 1; p++)
                lower[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        lower[n] = '\0';
        uint32_t arch = seccomp_arch_resolve_name(lower);
        if (arch == 0)
                return fail(c, "unknown architecture", name);
        int rc = seccomp_arch_add(c->ctx, arch);
        if (rc < 0 && rc != -EEXIST)
                return fail(c, "cannot add architecture", name);
        return 0;
}

static int parse_arches(struct compile *c, json_object *root)
{
        bool bad = false;
        json_object *list = get(root, "architectures", json_type_array, &bad);
        json_object *map = get(root, "archMap", json_type_array, &bad);
        if (bad)
                return fail(c, "architectures and archMap must be arrays", NULL);
        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                json_object *a = json_object_array_get_idx(list, i);
                if (!json_object_is_type(a, json_type_string))
                        return fail(c, "architectures: expected strings", NULL);
                if (add_arch(c, json_object_get_string(a)) < 0)
                        return -1;
        }
        /* archMap: only the entry of the architecture we run on counts. */
        for (size_t i = 0; map && i < json_object_array_length(map); i++) {
                json_object *m = json_object_array_get_idx(map, i), *arch, *subs;
                if (!json_object_is_type(m, json_type_object) ||
                    !(arch = get(m, "architecture", json_type_string, &bad)))
                        return fail(c, "archMap: expected {\"architecture\": ...}", NULL);
                subs = get(m, "subArchitectures", json_type_array, &bad);
                if (bad)
                        return fail(c, "archMap: subArchitectures must be an array", NULL);
                const char *name = json_object_get_string(arch);
                char lower[32];
                size_t n = 0;
                for (const char *p = name + (strncmp(name, "SCMP_ARCH_", 10) ? 0 : 10);
                     *p && n < sizeof(lower) - 1; p++)
                        lower[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
                lower[n] = '\0';
                if (seccomp_arch_resolve_name(lower) != seccomp_arch_native())
                        continue;
                for (size_t j = 0; subs && j < json_object_array_length(subs); j++) {
                        json_object *s = json_object_array_get_idx(subs, j);
                        if (!json_object_is_type(s, json_type_string) ||
                            add_arch(c, json_object_get_string(s)) < 0)
                                return c->e->msg[0] ? -1 : fail(c, "archMap: bad entry", NULL);
                }
        }
        return 0;
}

static bool in_string_array(json_object *a, const char *s)
{
        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
                const char *v = json_object_get_string(json_object_array_get_idx(a, i));
                if (v && strcmp(v, s) == 0)
                        return true;
        }
        return false;
}

/* Docker's includes / excludes: does this entry apply to our container? */
static int applies(struct compile *c, json_object *call, bool *yes)
{
        static const char *const filter_keys[] = {"caps", "arches", "minKernel", NULL};
        bool bad = false;
        const char *badkey = NULL;
        json_object *inc = get(call, "includes", json_type_object, &bad);
        json_object *exc = get(call, "excludes", json_type_object, &bad);
        if (bad || (inc && !only_keys(inc, filter_keys, &badkey)) ||
            (exc && !only_keys(exc, filter_keys, &badkey)))
                return fail(c, "bad includes/excludes", badkey);
        *yes = true;
        if (inc) {
                json_object *caps = get(inc, "caps", json_type_array, &bad);
                json_object *arches = get(inc, "arches", json_type_array, &bad);
                json_object *kernel = get(inc, "minKernel", json_type_string, &bad);
                /* The container has no capabilities at all. */
                if (caps && json_object_array_length(caps) > 0)
                        *yes = false;
                if (arches && !in_string_array(arches, c->native_goarch))
                        *yes = false;
                if (kernel) {
                        unsigned major = 0, minor = 0;
                        if (sscanf(json_object_get_string(kernel), "%u.%u", &major, &minor) != 2)
                                return fail(c, "bad minKernel", json_object_get_string(kernel));
                        if (c->kernel_major < major ||
                            (c->kernel_major == major && c->kernel_minor < minor))
                                *yes = false;
                }
        }
        if (exc) {
                json_object *arches = get(exc, "arches", json_type_array, &bad);
                if (arches && in_string_array(arches, c->native_goarch))
                        *yes = false;
                /* excludes.caps: we hold none, so nothing is excluded. */
        }
        if (bad)
                return fail(c, "bad includes/excludes", NULL);
        return 0;
}

static int parse_op(struct compile *c, const char *name, enum scmp_compare *op)
{
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = {
            {"SCMP_CMP_NE", SCMP_CMP_NE},
            {"SCMP_CMP_LT", SCMP_CMP_LT},
            {"SCMP_CMP_LE", SCMP_CMP_LE},
            {"SCMP_CMP_EQ", SCMP_CMP_EQ},
            {"SCMP_CMP_GE", SCMP_CMP_GE},
            {"SCMP_CMP_GT", SCMP_CMP_GT},
            {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
        };
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                if (strcmp(ops[i].name, name) == 0) {
                        *op = ops[i].op;
                        return 0;
                }
        }
        return fail(c, "unknown comparison", name);
}

#define MAX_ARGS 6

static int parse_args(struct compile *c, json_object *args, struct scmp_arg_cmp *cmp, size_t *n)
{
        static const char *const arg_keys[] = {"index", "value", "valueTwo", "op", NULL};
        *n = args ? json_object_array_length(args) : 0;
        if (*n > MAX_ARGS)
                return fail(c, "more than 6 args conditions in one entry", NULL);
        for (size_t i = 0; i < *n; i++) {
                json_object *a = json_object_array_get_idx(args, i), *idx, *val, *val2, *op;
                bool bad = !json_object_is_type(a, json_type_object);
                const char *badkey = NULL;
                if (bad || !only_keys(a, arg_keys, &badkey))
                        return fail(c, "bad args entry", badkey);
                idx = get(a, "index", json_type_int, &bad);
                val = get(a, "value", json_type_int, &bad);
                val2 = get(a, "valueTwo", json_type_int, &bad);
                op = get(a, "op", json_type_string, &bad);
                if (bad || !idx || !op || json_object_get_int(idx) < 0 ||
                    json_object_get_int(idx) >= MAX_ARGS)
                        return fail(c, "args: need index (0-5), op, and numbers", NULL);
                enum scmp_compare cop = SCMP_CMP_EQ;
                if (parse_op(c, json_object_get_string(op), &cop) < 0)
                        return -1;
                cmp[i] = (struct scmp_arg_cmp){
                    .arg = (unsigned)json_object_get_int(idx),
                    .op = cop,
                    .datum_a = val ? (scmp_datum_t)json_object_get_uint64(val) : 0,
                    .datum_b = val2 ? (scmp_datum_t)json_object_get_uint64(val2) : 0,
                };
        }
        return 0;
}

static int add_rule(struct compile *c, const char *name, uint32_t action,
                    const struct scmp_arg_cmp *cmp, size_t n)
{
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
                log_debug("seccomp profile %s: %s: no such system call here, skipped", c->path,
                          name);
                return 0;
        }
        /* Conditions on one argument twice: Docker ORs them, one rule each. */
        bool repeated = false;
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        repeated |= cmp[i].arg == cmp[j].arg;
        int rc = 0;
        if (repeated)
                for (size_t i = 0; i < n && rc == 0; i++)
                        rc = seccomp_rule_add_array(c->ctx, action, nr, 1, &cmp[i]);
        else
                rc = seccomp_rule_add_array(c->ctx, action, nr, (unsigned)n, cmp);
        if (rc < 0) {
                char why[128];
                snprintf(why, sizeof(why), "%s: %s", name, strerror(-rc));
                return fail(c, "cannot add the rule", why);
        }
        return 0;
}

static int parse_syscall(struct compile *c, json_object *call)
{
        static const char *const call_keys[] = {
            "names", "name", "action", "args", "errnoRet", "comment", "includes", "excludes", NULL};
        const char *badkey = NULL;
        bool bad = !json_object_is_type(call, json_type_object), yes = false;
        if (bad || !only_keys(call, call_keys, &badkey))
                return fail(c, "bad syscalls entry", badkey);
        json_object *names = get(call, "names", json_type_array, &bad);
        json_object *name = get(call, "name", json_type_string, &bad);
        json_object *action = get(call, "action", json_type_string, &bad);
        json_object *args = get(call, "args", json_type_array, &bad);
        if (bad || !action || (!names && !name))
                return fail(c, "syscalls entry: need names (array) or name, and an action", NULL);
        if (applies(c, call, &yes) < 0)
                return -1;
        int err_ret = 0;
        uint32_t act = 0;
        struct scmp_arg_cmp cmp[MAX_ARGS];
        size_t ncmp;
        if (parse_errno(c, call, c->default_errno, &err_ret) < 0 ||
            parse_action(c, json_object_get_string(action), err_ret, &act) < 0 ||
            parse_args(c, args, cmp, &ncmp) < 0)
                return -1;
        if (!yes || act == c->default_action) /* libseccomp refuses a rule equal to the default */
                return 0;
        if (name && add_rule(c, json_object_get_string(name), act, cmp, ncmp) < 0)
                return -1;
        for (size_t i = 0; names && i < json_object_array_length(names); i++) {
                json_object *n = json_object_array_get_idx(names, i);
                if (!json_object_is_type(n, json_type_string))
                        return fail(c, "syscalls entry: names must be strings", NULL);
                if (add_rule(c, json_object_get_string(n), act, cmp, ncmp) < 0)
                        return -1;
        }
        return 0;
}

static int parse_profile(struct compile *c, json_object *root)
{
        static const char *const top_keys[] = {"defaultAction",
                                               "defaultErrnoRet",
                                               "architectures",
                                               "archMap",
                                               "syscalls",
                                               "comment",
                                               NULL};
        const char *badkey = NULL;
        bool bad = false;
        if (!json_object_is_type(root, json_type_object))
                return fail(c, "expected a JSON object", NULL);
        if (!only_keys(root, top_keys, &badkey))
                return fail(c, "unknown or unsupported key", badkey);
        json_object *def = get(root, "defaultAction", json_type_string, &bad);
        json_object *def_errno = get(root, "defaultErrnoRet", json_type_int, &bad);
        json_object *calls = get(root, "syscalls", json_type_array, &bad);
        if (bad || !def)
                return fail(c, "defaultAction (a string) is required; syscalls is an array", NULL);
        c->default_errno = def_errno ? json_object_get_int(def_errno) : EPERM;
        if (c->default_errno < 0 || c->default_errno > 4095)
                return fail(c, "defaultErrnoRet out of range", NULL);
        if (parse_action(c, json_object_get_string(def), c->default_errno, &c->default_action) < 0)
                return -1;
        c->ctx = seccomp_init(c->default_action);
        if (!c->ctx)
                return fail(c, "libseccomp could not start a filter", NULL);
        if (parse_arches(c, root) < 0)
                return -1;
        for (size_t i = 0; calls && i < json_object_array_length(calls); i++)
                if (parse_syscall(c, json_object_array_get_idx(calls, i)) < 0)
                        return -1;
        return 0;
}

static int export_bpf(struct compile *c, unsigned char **bpf, size_t *len)
{
        _cleanup_close_ int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
        struct stat st;
        int rc = fd < 0 ? -errno : seccomp_export_bpf(c->ctx, fd);
        if (rc < 0 || fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return fail(c, "exporting the BPF program", strerror(rc < 0 ? -rc : errno));
        if (st.st_size == 0 || st.st_size % 8 != 0 || st.st_size > 4096 * 8)
                return fail(c,
                            "the compiled program is too large for the kernel (4096 "
                            "instructions)",
                            NULL);
        char *data = NULL;
        if (read_all_bounded(fd, (size_t)st.st_size, &data, len) < 0)
                return fail(c, "reading the BPF program", strerror(errno));
        *bpf = (unsigned char *)data;
        return 0;
}

int seccomp_profile_compile(const char *path, unsigned char **bpf, size_t *len, sing_err_t *e)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        __attribute__((cleanup(cleanup_json))) json_object *root = NULL;
        __attribute__((cleanup(cleanup_seccomp))) scmp_filter_ctx ctx = NULL;
        struct utsname uts;
        struct stat st;
        size_t n = 0;
        struct compile c = {.path = path, .e = e};

        if (fd < 0)
                return err_errno(e, "seccomp profile %s", path);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return err_set(e, "seccomp profile %s: not a regular file", path);
        if (read_all_bounded(fd, SECCOMP_PROFILE_MAX_SIZE, &text, &n) < 0)
                return errno == EFBIG ? err_set(e, "seccomp profile %s: larger than %d bytes", path,
                                                SECCOMP_PROFILE_MAX_SIZE)
                                      : err_errno(e, "seccomp profile %s", path);
        json_tokener *tok = json_tokener_new();
        if (!tok)
                return err_set(e, "out of memory");
        root = json_tokener_parse_ex(tok, text, (int)n);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t parsed = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!root || jerr != json_tokener_success)
                return err_set(e, "seccomp profile %s: not valid JSON (%s)", path,
                               json_tokener_error_desc(jerr));
        for (; parsed < n; parsed++)
                if (!strchr(" \t\r\n", text[parsed]))
                        return err_set(e,
                                       "seccomp profile %s: not valid JSON (data after the "
                                       "end)",
                                       path);
        if (uname(&uts) == 0)
                sscanf(uts.release, "%u.%u", &c.kernel_major, &c.kernel_minor);
        c.native_goarch = host_goarch(); /* the one platform source */
        int rc = parse_profile(&c, root);
        ctx = c.ctx;
        if (rc < 0)
                return -1;
        return export_bpf(&c, bpf, len);
}

int cmd_seccomp_compile(int argc, char **argv)
{
        _cleanup_free_ unsigned char *bpf = NULL;
        size_t len = 0;
        sing_err_t e = {0};
        if (argc != 2) {
                log_error("usage: singularity-image seccomp-compile FILE");
                return 255;
        }
        if (seccomp_profile_compile(argv[1], &bpf, &len, &e) < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        log_debug("seccomp: profile %s: %zu instructions", argv[1], len / 8);
        if (write_all(STDOUT_FILENO, bpf, len) < 0) {
                log_error("writing the seccomp program: %s", strerror(errno));
                return 255;
        }
        return 0;
}
