/* Definition files (recipes): a header of `Keyword: value` lines, then
 * %sections whose bodies run until the next %section line.
 *
 *   Bootstrap: docker          # or localimage
 *   From: ubuntu:latest        # text after " #" is a comment
 *   %post
 *       apt-get install -y ...
 *
 * Header keywords are case-insensitive; a "#" starts a comment at the start
 * of a line or after whitespace (so a Password may contain "#"). Every
 * error names FILE:LINE. */
#ifndef SING_RECIPE_H
#define SING_RECIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum recipe_bootstrap {
        BOOTSTRAP_DOCKER,
        BOOTSTRAP_LOCALIMAGE,     /* From: a local SIF, squashfs, .simg or sandbox */
        BOOTSTRAP_DOCKER_ARCHIVE, /* From: FILE[:TAG], a `docker save` tarball */
        BOOTSTRAP_OCI,            /* From: DIR[:TAG], an OCI image layout */
        BOOTSTRAP_OCI_ARCHIVE,    /* From: FILE[:TAG], a tarball of one */
};

/* "docker", "localimage", ... */
const char *recipe_bootstrap_name(enum recipe_bootstrap b);

enum recipe_section_id {
        SEC_SETUP,
        SEC_FILES,
        SEC_POST,
        SEC_ENVIRONMENT,
        SEC_RUNSCRIPT,
        SEC_STARTSCRIPT,
        SEC_TEST,
        SEC_LABELS,
        SEC_HELP,
        SEC_COUNT,
};

struct recipe_section {
        bool present;
        unsigned line; /* of the %name line (first one when repeated) */
        char *body;    /* lines after it, "\n"-terminated; repeats are appended */
};

/* SCIF app sections: "%appinstall NAME" ... (Apptainer's definition files). */
enum recipe_app_section_id {
        APP_INSTALL, /* %appinstall: run in the image after %post, in the app's root */
        APP_RUN,     /* %apprun: scif/runscript */
        APP_ENV,     /* %appenv: scif/env/90-environment.sh */
        APP_LABELS,  /* %applabels: scif/labels.json */
        APP_FILES,   /* %appfiles: host files copied under the app's root */
        APP_HELP,    /* %apphelp: scif/runscript.help */
        APP_TEST,    /* %apptest: scif/test */
        APP_SEC_COUNT,
};

/* One app, in the order the recipe first names it. */
struct recipe_app {
        char *name;
        struct recipe_section sec[APP_SEC_COUNT];
};

/* "%files from STAGE": files copied from an earlier stage's root. */
struct recipe_files_from {
        char *stage;
        struct recipe_section sec;
};

struct recipe {
        char *path;     /* as given, for messages */
        char *dir;      /* directory of the recipe: %files sources are relative to it */
        char *redacted; /* the recipe text with Username/Password values replaced */
        enum recipe_bootstrap bootstrap;
        char *from, *registry, *namespace_;
        bool registry_http; /* Registry: http://...: plain HTTP */
        char *username, *password;
        bool include_cmd, no_token;
        char *stage; /* "Stage: NAME" (multi-stage builds), or NULL */
        struct recipe_section sec[SEC_COUNT];
        struct recipe_files_from *files_from; /* each "%files from STAGE" section */
        size_t nfiles_from;
        struct recipe_app *apps;
        size_t napps;
};

/* One %files line: a source (maybe a glob) and a destination (NULL: the
 * same path as the source, inside the container). */
struct recipe_file {
        char *src, *dst;
        unsigned line;
};

/* One %labels line: KEY VALUE. */
struct recipe_label {
        char *key, *value;
        unsigned line;
};

/* Parse `text` (`len` bytes; NULs rejected). `path` names the file in
 * messages and gives the %files base directory. */
int recipe_parse(const char *text, size_t len, const char *path, struct recipe *r, sing_err_t *e);
/* Read and parse a file. */
int recipe_load(const char *path, struct recipe *r, sing_err_t *e);
void recipe_free(struct recipe *r);

const char *recipe_section_name(enum recipe_section_id id);
/* "appinstall", "apprun", ... */
const char *recipe_app_section_name(enum recipe_app_section_id id);

/* docker://[REGISTRY/][NAMESPACE/]FROM (malloc'd). A From that already
 * names a registry host is used as it is. A scheme in front of Registry
 * ("https://index.docker.io/") is dropped, as Apptainer does. */
char *recipe_docker_uri(const struct recipe *r);

/* The %files and %labels entries, with FILE:LINE errors for bad lines. */
int recipe_files(const struct recipe *r, struct recipe_file **v, size_t *n, sing_err_t *e);
/* The same for the i-th "%files from STAGE" section. */
int recipe_files_from(const struct recipe *r, size_t i, struct recipe_file **v, size_t *n,
                      sing_err_t *e);
/* The same for the %appfiles and %applabels of app i. */
int recipe_app_files(const struct recipe *r, size_t i, struct recipe_file **v, size_t *n,
                     sing_err_t *e);
int recipe_app_labels(const struct recipe *r, size_t i, struct recipe_label **v, size_t *n,
                      sing_err_t *e);
void recipe_files_free(struct recipe_file *v, size_t n);
int recipe_labels(const struct recipe *r, struct recipe_label **v, size_t *n, sing_err_t *e);
void recipe_labels_free(struct recipe_label *v, size_t n);

#endif
