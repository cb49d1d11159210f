/*
 * image_list.c - see image_list.h.
 */
#include "image_list.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int push(image_list *l, const char *cmd, const char *path) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **grown = realloc(l->paths, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "clvit %s: out of memory for %d image paths\n", cmd, cap);
            return 1;
        }
        l->paths = grown;
        l->cap = cap;
    }
    size_t len = strlen(path);
    if (!(l->paths[l->n] = malloc(len + 1))) {
        fprintf(stderr, "clvit %s: out of memory\n", cmd);
        return 1;
    }
    memcpy(l->paths[l->n++], path, len + 1);
    return 0;
}

static int has_image_ext(const char *name) {
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_dir(image_list *l, const char *cmd, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "clvit %s: cannot open directory %s: %s\n", cmd, dir, strerror(errno));
        return 1;
    }
    const int first = l->n;
    size_t dlen = strlen(dir);
    const char *sep = dlen && dir[dlen - 1] == '/' ? "" : "/";
    int r = 0;
    for (struct dirent *e; !r && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
        size_t len = dlen + strlen(sep) + strlen(e->d_name) + 1;
        char *p = malloc(len);
        if (!p) {
            fprintf(stderr, "clvit %s: out of memory\n", cmd);
            r = 1;
            break;
        }
        snprintf(p, len, "%s%s%s", dir, sep, e->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) r = push(l, cmd, p);
        free(p);
    }
    closedir(d);
    if (!r && l->n == first) {
        fprintf(stderr, "clvit %s: no .png, .jpg, .jpeg, .bmp or .gif files in directory %s\n", cmd,
                dir);
        return 1;
    }
    if (!r) qsort(l->paths + first, (size_t)(l->n - first), sizeof *l->paths, cmp_str);
    return r;
}

/* A file or a directory (no list files). */
static int add_path(image_list *l, const char *cmd, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "clvit %s: cannot open %s: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) return add_dir(l, cmd, path);
    if (!S_ISREG(sb.st_mode)) {
        fprintf(stderr, "clvit %s: %s is not a regular file or a directory\n", cmd, path);
        return 1;
    }
    return push(l, cmd, path);
}

static int add_list(image_list *l, const char *cmd, const char *list) {
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "clvit %s: cannot open list file %s: %s\n", cmd, list, strerror(errno));
        return 1;
    }
    const int first = l->n;
    char line[4096];
    int r = 0;
    for (long no = 1; !r && fgets(line, sizeof line, f); no++) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            fprintf(stderr, "clvit %s: %s:%ld: line longer than %zu bytes\n", cmd, list, no,
                    sizeof line - 2);
            r = 1;
            break;
        }
        while (len && isspace((unsigned char)line[len - 1]))
            line[--len] = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#') continue;
        r = add_path(l, cmd, p);
    }
    if (!r && ferror(f)) {
        fprintf(stderr, "clvit %s: cannot read list file %s\n", cmd, list);
        r = 1;
    }
    fclose(f);
    if (!r && l->n == first) {
        fprintf(stderr, "clvit %s: list file %s names no images\n", cmd, list);
        r = 1;
    }
    return r;
}

int image_list_add(image_list *l, const char *cmd, const char *arg, int list_file) {
    if (list_file) return add_list(l, cmd, arg);
    if (arg[0] == '@') return add_list(l, cmd, arg + 1);
    return add_path(l, cmd, arg);
}

void image_list_free(image_list *l) {
    for (int i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = l->cap = 0;
}
