/* `singularity instance start|list|stop`, and the hidden `instance-info`
 * that `exec|run|shell instance://NAME` use (image_tool.h). Records are
 * read back with instance_read.h: nothing is done to a pid that is not
 * proven to be the user's own recorded instance process. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "commands.h"
#include "instance_read.h"
#include "instance_start.h"
#include "log.h"

static int usage_error(const char *what)
{
        log_error("%s; see 'singularity help instance'", what);
        return 255;
}

/* One verified record: 1 running (proc open), 0 stale (removed), -1 refused. */
static int load(const char *name, struct instance_paths *paths, struct instance_record *rec,
                struct proc_identity *proc, bool quiet_missing)
{
        enum instance_state state;
        sing_err_t e = {0};
        if (instance_paths_get(name, false, paths, &e) < 0) {
                log_error("%s", e.msg);
                return -1;
        }
        if (instance_record_read(paths, rec, &e) < 0) {
                if (e.code != ENOENT)
                        log_error("%s", e.msg);
                else if (!quiet_missing)
                        log_error("no instance named %s", name);
                return e.code == ENOENT && quiet_missing ? 0 : -1;
        }
        if (instance_check(rec, proc, &state, &e) < 0) {
                log_error("%s", e.msg);
                return -1;
        }
        if (state == INSTANCE_GONE) {
                log_verbose("instance %s has ended (%s); removing its record", name, e.msg);
                instance_record_remove(paths);
                return 0;
        }
        return 1;
}

/* Names of the records in the user's app directory, sorted. */
static int record_names(char ***names, size_t *n)
{
        struct instance_paths paths;
        sing_err_t e;
        *names = NULL;
        *n = 0;
        if (instance_paths_get(NULL, false, &paths, &e) < 0) {
                log_error("%s", e.msg);
                return -1;
        }
        _cleanup_closedir_ DIR *d = opendir(paths.app_dir);
        for (struct dirent *de; d && (de = readdir(d));) {
                if (instance_name_check(de->d_name, &e) < 0)
                        continue;
                char **grown = realloc(*names, (*n + 1) * sizeof(**names));
                if (!grown || !(grown[*n] = strdup(de->d_name)))
                        return -1;
                *names = grown;
                (*n)++;
        }
        for (size_t i = 1; i < *n; i++)
                for (size_t j = i; j > 0 && strcmp((*names)[j - 1], (*names)[j]) > 0; j--) {
                        char *t = (*names)[j];
                        (*names)[j] = (*names)[j - 1];
                        (*names)[j - 1] = t;
                }
        return 0;
}

static void free_names(char **names, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

static int cmd_list(int argc, char **argv)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
        bool json = false;
        int opt, rc = 0;
        while ((opt = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
                if (opt == 'j')
                        json = true;
                else if (opt == 'h')
                        return fputs(usage_instance, stdout), 0;
                else
                        return usage_error("instance list: bad option");
        }
        if (argc - optind > 1)
                return usage_error("instance list takes at most one name");
        char **names;
        size_t n;
        if (record_names(&names, &n) < 0)
                return 255;
        json_object *list = json_object_new_array();
        if (!json)
                printf("%-16s %-8s %-7s %s\n", "INSTANCE NAME", "PID", "IP", "IMAGE");
        for (size_t i = 0; i < n; i++) {
                struct instance_paths paths;
                struct instance_record rec;
                struct proc_identity proc;
                if (optind < argc && strcmp(names[i], argv[optind]) != 0)
                        continue;
                int r = load(names[i], &paths, &rec, &proc, true);
                if (r < 0)
                        rc = 255;
                if (r <= 0)
                        continue;
                proc_identity_close(&proc);
                if (!json) {
                        printf("%-16s %-8d %-7s %s\n", rec.name, (int)rec.pid, "", rec.image);
                        continue;
                }
                json_object *o = json_object_new_object();
                json_object_object_add(o, "instance", json_object_new_string(rec.name));
                json_object_object_add(o, "pid", json_object_new_int(rec.pid));
                json_object_object_add(o, "img", json_object_new_string(rec.image));
                json_object_object_add(o, "ip", json_object_new_string(""));
                json_object_object_add(o, "logErrPath", json_object_new_string(rec.log_err));
                json_object_object_add(o, "logOutPath", json_object_new_string(rec.log_out));
                json_object_array_add(list, o);
        }
        if (json) {
                json_object *root = json_object_new_object();
                json_object_object_add(root, "instances", list);
                printf("%s\n", json_object_to_json_string_ext(
                                   root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(root);
        } else {
                json_object_put(list);
        }
        free_names(names, n);
        return rc;
}

static int parse_signal(const char *s)
{
        char *end;
        long v = strtol(s, &end, 10);
        if (*s && !*end)
                return v > 0 && v < NSIG ? (int)v : -1;
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (int sig = 1; sig < NSIG; sig++) {
                const char *abbrev = sigabbrev_np(sig);
                if (abbrev && strcasecmp(abbrev, s) == 0)
                        return sig;
        }
        return -1;
}

/* Signal through the pidfd (never a bare pid), wait up to timeout seconds
 * for the process to end, then SIGKILL it (which ends its pid namespace). */
static int stop_one(const char *name, int sig, int timeout, bool all)
{
        struct instance_paths paths;
        struct instance_record rec;
        struct proc_identity proc;
        int r = load(name, &paths, &rec, &proc, all);
        if (r <= 0)
                return r == 0 ? 0 : 255;
        log_info("stopping %s instance of %s (PID=%d)", name, rec.image, (int)rec.pid);
        if (pidfd_send_signal(proc.pidfd, sig, NULL, 0) < 0) {
                log_error("instance %s: sending signal %d: %s", name, sig, strerror(errno));
                proc_identity_close(&proc);
                return 255;
        }
        struct pollfd pfd = {.fd = proc.pidfd, .events = POLLIN};
        int ready;
        while ((ready = poll(&pfd, 1, timeout * 1000)) < 0 && errno == EINTR)
                ;
        if (ready == 0) {
                log_info("instance %s did not stop within %d s: killing it", name, timeout);
                pidfd_send_signal(proc.pidfd, SIGKILL, NULL, 0);
                while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
                        ;
        }
        proc_identity_close(&proc);
        instance_record_remove(&paths);
        return 0;
}

static int cmd_stop(int argc, char **argv)
{
        static const struct option opts[] = {
            {"signal", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, 't'},
            {"all", no_argument, NULL, 'a'},          {"force", no_argument, NULL, 'F'},
            {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
        int opt, sig = SIGTERM, timeout = 10, rc = 0;
        bool all = false;
        char *end;
        while ((opt = getopt_long(argc, argv, "+s:t:aFh", opts, NULL)) != -1) {
                switch (opt) {
                case 's':
                        if ((sig = parse_signal(optarg)) < 0)
                                return usage_error("instance stop --signal: unknown signal");
                        break;
                case 't':
                        timeout = (int)strtol(optarg, &end, 10);
                        if (!*optarg || *end || timeout < 0 || timeout > 86400)
                                return usage_error("instance stop --timeout: expected seconds");
                        break;
                case 'a':
                        all = true;
                        break;
                case 'F':
                        sig = SIGKILL;
                        break;
                case 'h':
                        return fputs(usage_instance, stdout), 0;
                default:
                        return usage_error("instance stop: bad option");
                }
        }
        if (all == (optind < argc) || argc - optind > 1)
                return usage_error("instance stop takes one name, or --all");
        if (!all)
                return stop_one(argv[optind], sig, timeout, false);
        char **names;
        size_t n;
        if (record_names(&names, &n) < 0)
                return 255;
        for (size_t i = 0; i < n; i++)
                if (stop_one(names[i], sig, timeout, true) != 0)
                        rc = 255;
        free_names(names, n);
        return rc;
}

int cmd_instance(int argc, char **argv)
{
        if (argc < 2)
                return usage_error("instance: expected start, list or stop");
        optind = 1;
        if (strcmp(argv[1], "start") == 0)
                return cmd_run_launch(argc - 1, argv + 1, instance_launch);
        if (strcmp(argv[1], "list") == 0)
                return cmd_list(argc - 1, argv + 1);
        if (strcmp(argv[1], "stop") == 0)
                return cmd_stop(argc - 1, argv + 1);
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                return fputs(usage_instance, stdout), 0;
        log_error("instance %s: unknown subcommand; expected start, list or stop", argv[1]);
        return 255;
}

/* `instance-info NAME`: "PID START\nIMAGE\n" for a verified running
 * instance (the starter proves it again, as root cannot trust us). */
int cmd_instance_info(int argc, char **argv)
{
        struct instance_paths paths;
        struct instance_record rec;
        struct proc_identity proc;
        if (argc != 2)
                return usage_error("instance-info NAME");
        int r = load(argv[1], &paths, &rec, &proc, false);
        if (r == 0)
                log_error("instance %s has ended", argv[1]);
        if (r <= 0)
                return 255;
        proc_identity_close(&proc);
        printf("%d %llu\n%s\n", (int)rec.pid, rec.start_time, rec.image);
        return 0;
}
