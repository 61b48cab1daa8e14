#include "envopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pwd.h>
#include <unistd.h>

#include "cache.h"
#include "credentials.h"
#include "pull.h"

static const char *lookup(const char *prefix, const char *name, char *key, size_t keylen)
{
        const char *v;
        snprintf(key, keylen, "%s_%s", prefix, name);
        v = getenv(key);
        return v && *v ? v : NULL;
}

const char *envopt_str(const char *name)
{
        char key[128];
        const char *v = lookup("APPTAINER", name, key, sizeof(key));
        return v ? v : lookup("SINGULARITY", name, key, sizeof(key));
}

const char *envopt_var(const char *name)
{
        static char key[128];
        if (lookup("APPTAINER", name, key, sizeof(key)))
                return key;
        lookup("SINGULARITY", name, key, sizeof(key));
        return key;
}

int envopt_bool(const char *name, bool *out, sing_err_t *e)
{
        const char *v = envopt_str(name);
        if (!v)
                return 0;
        if (boolval_parse(v, out) < 0)
                return err_set(e, "%s=%s: expected " BOOLVAL_WORDS, envopt_var(name), v);
        return 0;
}

const char *envopt_plain(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

int cache_opts_from_env(struct cache_opts *o, sing_err_t *e)
{
        memset(o, 0, sizeof(*o));
        o->dir = envopt_str("CACHEDIR");
        o->home = envopt_plain("HOME");
        o->tmpdir = envopt_str("TMPDIR");
        if (!o->tmpdir)
                o->tmpdir = envopt_plain("TMPDIR");
        return envopt_bool("DISABLE_CACHE", &o->disable, e);
}

void cred_sources_from_env(struct cred_sources *s)
{
        /* Docker's own pair only when neither of ours is set. */
        const char *prefix =
            envopt_plain("APPTAINER_DOCKER_USERNAME") || envopt_plain("APPTAINER_DOCKER_PASSWORD")
                ? "APPTAINER_"
            : envopt_plain("SINGULARITY_DOCKER_USERNAME") ||
                    envopt_plain("SINGULARITY_DOCKER_PASSWORD") ||
                    !(envopt_plain("DOCKER_USERNAME") || envopt_plain("DOCKER_PASSWORD"))
                ? "SINGULARITY_"
                : "";
        const char *dir = envopt_plain("DOCKER_CONFIG"), *home = envopt_plain("HOME");
        memset(s, 0, sizeof(*s));
        snprintf(s->user_var, sizeof(s->user_var), "%sDOCKER_USERNAME", prefix);
        snprintf(s->pass_var, sizeof(s->pass_var), "%sDOCKER_PASSWORD", prefix);
        s->user = envopt_plain(s->user_var);
        s->pass = envopt_plain(s->pass_var);
        if (dir) {
                snprintf(s->docker_config, sizeof(s->docker_config), "%s/config.json", dir);
                return;
        }
        if (!home) {
                struct passwd *pw = getpwuid(getuid());
                home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
        }
        if (home)
                snprintf(s->docker_config, sizeof(s->docker_config), "%s/.docker/config.json",
                         home);
}

int pull_opts_from_env(struct pull_opts *o, sing_err_t *e)
{
        memset(o, 0, sizeof(*o));
        cred_sources_from_env(&o->creds);
        if (cache_opts_from_env(&o->cache, e) < 0 || envopt_bool("NOHTTPS", &o->nohttps, e) < 0)
                return -1;
        o->ca_file = envopt_plain("SSL_CERT_FILE");
        o->ca_dir = envopt_plain("SSL_CERT_DIR");
        return 0;
}
