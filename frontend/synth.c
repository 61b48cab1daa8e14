#include "synth.h"

#include <stdlib.h>
#include <string.h>

int synth_add(struct synth_list *l, const char *path, mode_t mode, const void *data, size_t len,
              const char *link)
{
        struct synth_entry *e;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                struct synth_entry *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return -1;
                l->v = v;
                l->cap = cap;
        }
        e = &l->v[l->n];
        memset(e, 0, sizeof(*e));
        e->path = strdup(path);
        e->mode = mode;
        if (data) {
                e->data = malloc(len ? len : 1);
                if (e->data)
                        memcpy(e->data, data, len);
                e->len = len;
        }
        if (link)
                e->link = strdup(link);
        if (!e->path || (data && !e->data) || (link && !e->link)) {
                free(e->path);
                free(e->data);
                free(e->link);
                return -1;
        }
        l->n++;
        return 0;
}

void synth_list_free(struct synth_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].path);
                free(l->v[i].data);
                free(l->v[i].link);
        }
        free(l->v);
        l->v = NULL;
        l->n = l->cap = 0;
}
