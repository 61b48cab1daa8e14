#include "cred_options.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credentials.h"
#include "tty_prompt.h"

bool cred_options_take(struct cred_options *c, int opt, const char *arg)
{
        if (opt == CRED_OPT_DOCKER_LOGIN)
                c->docker_login = true;
        else if (opt == CRED_OPT_AUTHFILE)
                c->authfile = arg;
        else
                return false;
        return true;
}

void cred_options_args(const struct cred_options *c, const char **args, size_t *n)
{
        if (c->docker_login)
                args[(*n)++] = "--docker-login";
        if (c->authfile) {
                args[(*n)++] = "--authfile";
                args[(*n)++] = c->authfile;
        }
}

static int use_authfile(const char *path, struct cred_sources *s, sing_err_t *e)
{
        /* Checked now, before anything is pulled: the user named this file.
         * O_NONBLOCK: a FIFO given by mistake is refused (not a
         * regular file) instead of hanging. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return err_errno(e, "--authfile %s", path);
        close(fd);
        if (!*path || strlen(path) >= sizeof(s->docker_config))
                return err_set(e, "--authfile: the path is empty or too long");
        snprintf(s->docker_config, sizeof(s->docker_config), "%s", path);
        s->config_given = true;
        return 0;
}

static int ask(struct cred_options *c, struct cred_sources *s, sing_err_t *e)
{
        c->user = tty_prompt_line("Enter Docker Username: ", false, false);
        if (!c->user && errno != ENODATA)
                return err_set(e, "--docker-login: no terminal to ask for the registry user "
                                  "name and password on (use SINGULARITY_DOCKER_USERNAME and "
                                  "SINGULARITY_DOCKER_PASSWORD instead)");
        if (c->user && *c->user)
                c->pass = tty_prompt_line("Enter Docker Password: ", true, false);
        if (!c->user || !*c->user || !c->pass || !*c->pass)
                return err_set(e, "--docker-login: no user name or password was typed");
        s->user = c->user;
        s->pass = c->pass;
        snprintf(s->user_var, sizeof(s->user_var), "--docker-login");
        snprintf(s->pass_var, sizeof(s->pass_var), "--docker-login");
        return 0;
}

int cred_options_apply(struct cred_options *c, struct cred_sources *s, sing_err_t *e)
{
        if (c->authfile && use_authfile(c->authfile, s, e) < 0)
                return -1;
        if (c->docker_login && ask(c, s, e) < 0)
                return -1;
        return 0;
}

static void wipe(char **s)
{
        if (*s)
                explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
}

void cred_options_free(struct cred_options *c)
{
        wipe(&c->user);
        wipe(&c->pass);
}
