/* Registry credentials from the environment or the Docker config file. */
#include "credentials.h"

#include "cleanup.h"
#include "cred_helper.h"
#include "fileio.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A Docker config holding a few registries is a few KiB. */
#define CONFIG_MAX_SIZE (4 * 1024 * 1024)

void credentials_free_secret(char *s)
{
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

static int set_pair(const char *u, const char *p, char **user, char **pass, sing_err_t *e)
{
        *user = strdup(u);
        *pass = strdup(p);
        if (!*user || !*pass) {
                credentials_free_secret(*user);
                credentials_free_secret(*pass);
                *user = *pass = NULL;
                return err_errno(e, "reading registry credentials");
        }
        return 1;
}

/* The command's pair: both or neither. */
static int from_pair(const struct cred_sources *src, char **user, char **pass, sing_err_t *e)
{
        const char *u = src->user, *p = src->pass;
        if (!u && !p)
                return 0;
        if (!u || !p)
                return err_set(e, "%s is set but %s is not: set both or neither",
                               u ? src->user_var : src->pass_var,
                               u ? src->pass_var : src->user_var);
        return set_pair(u, p, user, pass, e);
}

/* Read the whole file; *out stays NULL when the default file does not
 * exist. given: the user named it (--authfile), so it must be there. */
static int read_config(const char *path, bool given, char **out, sing_err_t *e)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t got = 0;

        *out = NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO: no hang */
        if (fd < 0 && given)
                return err_errno(e, "--authfile %s", path);
        if (fd < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                if (errno == EACCES) { /* a public pull needs none of it */
                        log_warn("cannot read %s (%s): not using its credentials", path,
                                 strerror(errno));
                        return 0;
                }
                return err_errno(e, "opening %s", path);
        }
        if (fstat(fd, &st) < 0)
                return err_errno(e, "reading %s", path);
        if (!S_ISREG(st.st_mode))
                return err_set(e, "%s is not a regular file", path);
        if (read_all_bounded(fd, CONFIG_MAX_SIZE, &buf, &got) < 0) {
                if (errno == EFBIG)
                        return err_set(e, "%s is larger than %d bytes", path, CONFIG_MAX_SIZE);
                return err_errno(e, "reading %s", path);
        }
        *out = steal_ptr(&buf);
        return 0;
}

static int b64_value(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Strict standard base64 (padding optional). Returns a NUL-terminated
 * malloc'd string, or NULL when the input is not base64 or decodes to
 * something holding a NUL byte. */
static char *b64_decode(const char *in)
{
        size_t len = strlen(in), i, n = 0;
        uint32_t acc = 0;
        int bits = 0;
        char *out;

        while (len > 0 && in[len - 1] == '=')
                len--;
        if (strlen(in) - len > 2 || len % 4 == 1)
                return NULL;
        out = malloc(len / 4 * 3 + 3);
        if (!out)
                return NULL;
        for (i = 0; i < len; i++) {
                int v = b64_value(in[i]);
                if (v < 0)
                        goto bad;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n] = (char)((acc >> bits) & 0xff);
                        if (out[n] == '\0')
                                goto bad;
                        n++;
                }
        }
        out[n] = '\0';
        return out;
bad:
        explicit_bzero(out, len / 4 * 3 + 3);
        free(out);
        return NULL;
}

/* "https://host:port/v1/" -> "host:port", lowercase, into buf. Docker Hub's
 * several names all become "index.docker.io". */
static void normalize_host(const char *key, char *buf, size_t size)
{
        size_t n, i;

        if (strncasecmp(key, "https://", 8) == 0)
                key += 8;
        else if (strncasecmp(key, "http://", 7) == 0)
                key += 7;
        n = strcspn(key, "/");
        if (n >= size)
                n = size - 1; /* longer than any host: cannot match anyway */
        for (i = 0; i < n; i++)
                buf[i] = (key[i] >= 'A' && key[i] <= 'Z') ? (char)(key[i] - 'A' + 'a') : key[i];
        buf[n] = '\0';
        if (strcmp(buf, "docker.io") == 0 || strcmp(buf, "registry-1.docker.io") == 0)
                snprintf(buf, size, "index.docker.io");
}

static const char *string_field(struct json_object *o, const char *name)
{
        struct json_object *v;
        if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Credentials of one "auths" entry: 1 found, 0 entry has none, -1 error. */
static int from_entry(const char *path, const char *key, struct json_object *entry, char **user,
                      char **pass, sing_err_t *e)
{
        const char *auth, *u, *p;
        char *decoded, *colon;
        int rc;

        if (!json_object_is_type(entry, json_type_object))
                return 0;
        auth = string_field(entry, "auth");
        if (auth && *auth) {
                decoded = b64_decode(auth);
                colon = decoded ? strchr(decoded, ':') : NULL;
                if (!colon) {
                        credentials_free_secret(decoded);
                        return err_set(e, "%s: \"auth\" for \"%s\" is not base64 of user:password",
                                       path, key);
                }
                *colon = '\0';
                rc = set_pair(decoded, colon + 1, user, pass, e);
                *colon = ':';
                credentials_free_secret(decoded);
                return rc;
        }
        u = string_field(entry, "username");
        p = string_field(entry, "password");
        if (u && *u && p && *p)
                return set_pair(u, p, user, pass, e);
        return 0; /* e.g. {} written when a credential store holds the secret */
}

/* The config's credential helper for this registry: its "credHelpers"
 * entry, else "credsStore"; asked before the "auths" entries, as Docker
 * does. 0 when there is none or it has nothing for this registry. */
static int from_helper(struct json_object *root, const char *registry, const char *want1,
                       const char *want2, char **user, char **pass, sing_err_t *e)
{
        struct json_object *helpers, *store;
        const char *name = NULL;
        char have[256];
        if (json_object_object_get_ex(root, "credHelpers", &helpers) &&
            json_object_is_type(helpers, json_type_object)) {
                json_object_object_foreach(helpers, key, val)
                {
                        normalize_host(key, have, sizeof(have));
                        if ((strcmp(have, want1) == 0 || strcmp(have, want2) == 0) &&
                            json_object_is_type(val, json_type_string))
                                name = json_object_get_string(val);
                }
        }
        if (!name && json_object_object_get_ex(root, "credsStore", &store) &&
            json_object_is_type(store, json_type_string))
                name = json_object_get_string(store);
        if (!name || !*name)
                return 0;
        /* Helpers key Docker Hub by its v1 URL, other registries by host. */
        return cred_helper_get(
            name, strcmp(want1, "index.docker.io") == 0 ? "https://index.docker.io/v1/" : registry,
            user, pass, e);
}

static int from_docker_config(const char *path, bool given, const char *registry,
                              const char *api_host, char **user, char **pass, sing_err_t *e)
{
        char *text = NULL;
        struct json_tokener *tok;
        struct json_object *root, *auths;
        char want1[256], want2[256], have[256];
        int rc = 0;

        if (read_config(path, given, &text, e) < 0)
                return -1;
        if (!text)
                return 0;
        tok = json_tokener_new();
        if (!tok) {
                credentials_free_secret(text);
                return err_errno(e, "parsing %s", path);
        }
        root = json_tokener_parse_ex(tok, text, (int)strlen(text));
        if (!root || json_tokener_get_error(tok) != json_tokener_success) {
                rc = err_set(e, "%s: invalid JSON: %s", path,
                             json_tokener_error_desc(json_tokener_get_error(tok)));
                goto out;
        }
        if (!json_object_is_type(root, json_type_object)) {
                rc = err_set(e, "%s: invalid Docker config: not a JSON object", path);
                goto out;
        }
        normalize_host(registry, want1, sizeof(want1));
        normalize_host(api_host, want2, sizeof(want2));
        rc = from_helper(root, registry, want1, want2, user, pass, e);
        if (rc != 0 || !json_object_object_get_ex(root, "auths", &auths))
                goto out;
        if (!json_object_is_type(auths, json_type_object)) {
                rc = err_set(e, "%s: invalid Docker config: \"auths\" is not an object", path);
                goto out;
        }
        json_object_object_foreach(auths, key, entry)
        {
                normalize_host(key, have, sizeof(have));
                if (strcmp(have, want1) != 0 && strcmp(have, want2) != 0)
                        continue;
                rc = from_entry(path, key, entry, user, pass, e);
                if (rc != 0)
                        break;
        }
out:
        json_object_put(root);
        json_tokener_free(tok);
        credentials_free_secret(text);
        return rc;
}

int credentials_lookup(const struct cred_sources *src, const char *registry_display,
                       const char *api_host, char **user, char **pass, sing_err_t *e)
{
        int rc;

        *user = *pass = NULL;
        rc = from_pair(src, user, pass, e);
        if (rc == 0 && src->docker_config[0])
                rc = from_docker_config(src->docker_config, src->config_given, registry_display,
                                        api_host ? api_host : registry_display, user, pass, e);
        return rc;
}
