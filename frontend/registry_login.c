/* singularity registry login|logout docker://HOST: keep a registry's
 * credentials in the Docker config file (the one pulls read), as
 * `docker login` does: "auths": {HOST: {"auth": base64(user:password)}}.
 * The file is rewritten atomically, mode 0600; other keys are kept. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json.h>
#include <libgen.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "commands.h"
#include "credentials.h"
#include "envopts.h"
#include "log.h"
#include "pending_file.h"
#include "tty_prompt.h"

#define AUTHFILE_MAX (1 << 20)

const char usage_registry[] =
    "Usage:\n"
    "  singularity registry login [-u USER] [-p PASSWORD | --password-stdin]\n"
    "                             [--authfile FILE] docker://HOST[:PORT]\n"
    "  singularity registry logout [--authfile FILE] docker://HOST[:PORT]\n"
    "\n"
    "Description:\n"
    "  Save (login) or remove (logout) the credentials for a registry in the\n"
    "  Docker config file that pulls read: --authfile FILE, else\n"
    "  $DOCKER_CONFIG/config.json, else ~/.docker/config.json (mode 0600).\n"
    "  The user name and password are asked on the terminal when not given.\n";

/* The "auths" key: Docker Hub's v1 URL (what docker login writes), else
 * host[:port]. NULL when the URI names no host. */
static char *auth_key(const char *uri)
{
        if (strncmp(uri, "docker://", 9) != 0)
                return NULL;
        const char *host = uri + 9;
        size_t n = strcspn(host, "/");
        if (n == 0 || host[n + strspn(host + n, "/")] != '\0')
                return NULL;
        char *key = strndup(host, n);
        if (key && (strcmp(key, "docker.io") == 0 || strcmp(key, "index.docker.io") == 0 ||
                    strcmp(key, "registry-1.docker.io") == 0)) {
                free(key);
                key = strdup("https://index.docker.io/v1/");
        }
        return key;
}

static struct json_object *load_authfile(const char *path, sing_err_t *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 && errno == ENOENT)
                return json_object_new_object();
        if (fd < 0 || fstat(fd, &st) < 0) {
                err_errno(e, "%s", path);
                return NULL;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > AUTHFILE_MAX) {
                err_set(e, "%s: not a regular file of at most %d bytes", path, AUTHFILE_MAX);
                return NULL;
        }
        _cleanup_free_ char *text = calloc(1, (size_t)st.st_size + 1);
        if (!text || read(fd, text, (size_t)st.st_size) != st.st_size) {
                err_errno(e, "reading %s", path);
                return NULL;
        }
        struct json_object *root = json_tokener_parse(text);
        explicit_bzero(text, (size_t)st.st_size);
        if (!root || !json_object_is_type(root, json_type_object)) {
                json_object_put(root);
                err_set(e, "%s: not a JSON object", path);
                return NULL;
        }
        return root;
}

/* Write root to path, replacing it whole: a private file (0600 from its
 * creation, so the credentials are never readable by others). */
static int save_authfile(const char *path, struct json_object *root, sing_err_t *e)
{
        _cleanup_free_ char *dir_buf = strdup(path), *text = NULL;
        if (!dir_buf)
                return err_set(e, "out of memory");
        const char *dir = dirname(dir_buf);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return err_errno(e, "cannot create %s", dir);
        int len =
            asprintf(&text, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
        if (len < 0)
                return err_set(e, "out of memory");
        int rc = publish_private_file(path, text, (size_t)len, true, e);
        explicit_bzero(text, (size_t)len);
        return rc;
}

static int do_login(struct json_object *auths, const char *key, const char *user, const char *pass,
                    bool pass_stdin, sing_err_t *e)
{
        _cleanup_free_ char *asked_user = NULL, *asked_pass = NULL, *plain = NULL, *enc = NULL;
        if (!user)
                user = asked_user = tty_prompt_line("Username: ", false, false);
        if (!pass)
                pass = asked_pass = tty_prompt_line("Password: ", true, pass_stdin);
        if (!user || !*user || !pass || !*pass)
                return err_set(e,
                               "registry login %s: a user name and a password are needed "
                               "(-u, -p or --password-stdin, or a terminal to ask on)",
                               key);
        if (strchr(user, ':'))
                return err_set(e, "registry login: the user name may not contain ':'");
        if (asprintf(&plain, "%s:%s", user, pass) < 0)
                return err_set(e, "out of memory");
        size_t n = strlen(plain);
        enc = malloc(4 * ((n + 2) / 3) + 1);
        if (!enc)
                return err_set(e, "out of memory");
        EVP_EncodeBlock((unsigned char *)enc, (unsigned char *)plain, (int)n);
        credentials_free_secret(steal_ptr(&plain));
        if (asked_pass)
                credentials_free_secret(steal_ptr(&asked_pass));
        struct json_object *entry = json_object_new_object();
        if (!entry || json_object_object_add(entry, "auth", json_object_new_string(enc)) < 0 ||
            json_object_object_add(auths, key, entry) < 0)
                return err_set(e, "out of memory");
        explicit_bzero(enc, strlen(enc));
        return 0;
}

int cmd_registry(int argc, char **argv)
{
        static const struct option opts[] = {
            {"username", required_argument, NULL, 'u'}, {"password", required_argument, NULL, 'p'},
            {"password-stdin", no_argument, NULL, 'S'}, {"authfile", required_argument, NULL, 'A'},
            {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
        };
        const char *user = NULL, *pass = NULL, *authfile = NULL;
        bool pass_stdin = false;
        sing_err_t e = {0};
        int opt;
        if (argc < 2 || (strcmp(argv[1], "login") != 0 && strcmp(argv[1], "logout") != 0)) {
                fputs(usage_registry, argc < 2 ? stdout : stderr);
                return argc < 2 ? 0 : 255;
        }
        bool in = strcmp(argv[1], "login") == 0;
        argc--;
        argv++;
        while ((opt = getopt_long(argc, argv, "+u:p:h", opts, NULL)) != -1) {
                switch (opt) {
                case 'u':
                        user = optarg;
                        break;
                case 'p':
                        pass = optarg;
                        break;
                case 'S':
                        pass_stdin = true;
                        break;
                case 'A':
                        authfile = optarg;
                        break;
                case 'h':
                        fputs(usage_registry, stdout);
                        return 0;
                default:
                        log_error("see 'singularity help registry'");
                        return 255;
                }
        }
        _cleanup_free_ char *key = optind + 1 == argc ? auth_key(argv[optind]) : NULL;
        if (!key) {
                log_error("registry %s: expected one docker://HOST[:PORT]",
                          in ? "login" : "logout");
                return 255;
        }
        struct cred_sources src;
        cred_sources_from_env(&src); /* where pulls look: $DOCKER_CONFIG, ~/.docker */
        _cleanup_free_ char *path = authfile               ? strdup(authfile)
                                    : src.docker_config[0] ? strdup(src.docker_config)
                                                           : NULL;
        if (!path) {
                log_error("registry %s: no home directory for ~/.docker/config.json; use "
                          "--authfile",
                          in ? "login" : "logout");
                return 255;
        }
        struct json_object *root = load_authfile(path, &e), *auths = NULL;
        int rc = root ? 0 : -1;
        if (rc == 0 && !json_object_object_get_ex(root, "auths", &auths)) {
                auths = json_object_new_object();
                if (!auths || json_object_object_add(root, "auths", auths) < 0)
                        rc = err_set(&e, "out of memory");
        }
        if (rc == 0 && !json_object_is_type(auths, json_type_object))
                rc = err_set(&e, "%s: \"auths\" is not an object", path);
        if (rc == 0 && in)
                rc = do_login(auths, key, user, pass, pass_stdin, &e);
        else if (rc == 0 && !json_object_object_get_ex(auths, key, NULL))
                rc = err_set(&e, "registry logout: not logged in to %s (in %s)", key, path);
        else if (rc == 0)
                json_object_object_del(auths, key);
        if (rc == 0)
                rc = save_authfile(path, root, &e);
        json_object_put(root);
        if (rc < 0) {
                log_error("%s", e.msg);
                return 255;
        }
        log_info("%s %s (%s)", in ? "Logged in to" : "Logged out of", key, path);
        return 0;
}
