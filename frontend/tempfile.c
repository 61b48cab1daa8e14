#include "tempfile.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#define MAX_TEMP 64
/* How long a cleaning child gets for its own cleanup (its temp files and
 * the build tree, which only it may remove when a user namespace owns
 * it): a batch system's grace between SIGTERM and SIGKILL. */
#define CLEANING_WAIT_MS 30000

static const char *volatile paths[MAX_TEMP];
static const char *volatile dirs[8];
static volatile pid_t children[8];
static volatile pid_t cleaning[4];

/* The same signal first, then SIGKILL if it is not gone in time; reaped.
 * waitpid(WNOHANG), nanosleep and kill are async-signal-safe. */
static void stop_cleaning_child(pid_t pid, int sig)
{
        kill(pid, sig);
        for (int ms = 0; ms < CLEANING_WAIT_MS; ms += 10) {
                pid_t got = waitpid(pid, NULL, WNOHANG);
                if (got == pid || (got < 0 && errno != EINTR))
                        return;
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        }
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

static void on_signal(int sig)
{
        for (size_t i = 0; i < sizeof(cleaning) / sizeof(cleaning[0]); i++)
                if (cleaning[i] > 0)
                        stop_cleaning_child(cleaning[i], sig);
        /* Children first, and reaped: a dying mksquashfs must not re-create
         * the file we are about to remove. */
        for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
                if (children[i] > 0) {
                        kill(children[i], SIGKILL);
                        while (waitpid(children[i], NULL, 0) < 0 && errno == EINTR)
                                ;
                }
        for (size_t i = 0; i < MAX_TEMP; i++)
                if (paths[i])
                        unlink(paths[i]);
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                pid_t pid;
                if (!dirs[i] || (pid = fork()) < 0)
                        continue;
                if (pid == 0) {
                        /* In a signal handler: the child only execs (remove_tree
                         * allocates, unsafe in a child forked from a handler).
                         * Its rule, in sh: make our read-only (0555, 000)
                         * directories writable first, or rm cannot empty them. */
                        execl("/bin/sh", "sh", "-c",
                              "chmod -R u+rwX -- \"$1\" 2>/dev/null; exec rm -rf -- \"$1\"", "sh",
                              dirs[i], (char *)NULL);
                        _exit(127);
                }
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        signal(sig, SIG_DFL);
        raise(sig);
}

void tempfile_install_handlers(void)
{
        static int done;
        struct sigaction sa;
        if (done)
                return;
        done = 1;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
}

/* Slots are claimed with signals blocked, so the handler never sees a
 * half-updated table, and under a lock, as the download thread registers
 * its temp blobs while the main thread registers the output. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void with_signals_blocked(void (*fn)(const void *), const void *arg)
{
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_mutex_lock(&table_lock);
        fn(arg);
        pthread_mutex_unlock(&table_lock);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void do_register(const void *p)
{
        for (size_t i = 0; i < MAX_TEMP; i++)
                if (!paths[i]) {
                        paths[i] = p;
                        return;
                }
}

static void do_forget(const void *p)
{
        for (size_t i = 0; i < MAX_TEMP; i++)
                if (paths[i] == p)
                        paths[i] = NULL;
}

void tempfile_register(const char *path)
{
        tempfile_install_handlers();
        with_signals_blocked(do_register, path);
}

void tempfile_forget(const char *path)
{
        with_signals_blocked(do_forget, path);
}

static void do_register_dir(const void *p)
{
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
                if (!dirs[i]) {
                        dirs[i] = p;
                        return;
                }
}

static void do_forget_dir(const void *p)
{
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
                if (dirs[i] == p)
                        dirs[i] = NULL;
}

void tempfile_register_dir(const char *path)
{
        tempfile_install_handlers();
        with_signals_blocked(do_register_dir, path);
}

void tempfile_forget_dir(const char *path)
{
        with_signals_blocked(do_forget_dir, path);
}

void tempfile_block_signals(sigset_t *old)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, old);
}

void tempfile_restore_signals(const sigset_t *old)
{
        pthread_sigmask(SIG_SETMASK, old, NULL);
}

void tempfile_register_child(pid_t pid)
{
        for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
                if (children[i] <= 0) {
                        children[i] = pid;
                        return;
                }
}

void tempfile_forget_child(pid_t pid)
{
        for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
                if (children[i] == pid)
                        children[i] = 0;
        for (size_t i = 0; i < sizeof(cleaning) / sizeof(cleaning[0]); i++)
                if (cleaning[i] == pid)
                        cleaning[i] = 0;
}

void tempfile_register_cleaning_child(pid_t pid)
{
        for (size_t i = 0; i < sizeof(cleaning) / sizeof(cleaning[0]); i++)
                if (cleaning[i] <= 0) {
                        cleaning[i] = pid;
                        return;
                }
        tempfile_register_child(pid); /* no slot left: killed at once, as before */
}
