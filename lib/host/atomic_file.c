/*
 * atomic_file.c - files that are replaced whole or not at all: written to PATH.tmp, flushed
 * and fsync'ed, renamed over PATH, then the directory is fsync'ed. A failure at any point
 * removes the temporary file and leaves PATH as it was (checkpoints, weights, .npy,
 * submissions all go through here).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

clvit_status clvit_atomic_open(const char *path, FILE **fp, char **tmp) {
    size_t size = strlen(path) + 5;
    *fp = NULL;
    *tmp = malloc(size);
    if (!*tmp) return clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory", path);
    snprintf(*tmp, size, "%s.tmp", path);
    *fp = fopen(*tmp, "wb");
    if (!*fp) {
        clvit_status st = clvit_fail(CLVIT_ERR_IO, "%s: cannot create: %s", *tmp, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return st;
    }
    return CLVIT_SUCCESS;
}

static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the data itself was already fsync'ed */
        close(fd);
    }
    free(dir);
}

clvit_status clvit_atomic_commit(FILE *fp, char *tmp, const char *path, int write_ok) {
    clvit_status st = CLVIT_SUCCESS;
    if (!write_ok || fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        st = clvit_fail(CLVIT_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(fp) != 0 && st == CLVIT_SUCCESS)
        st = clvit_fail(CLVIT_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (st == CLVIT_SUCCESS && rename(tmp, path) != 0)
        st = clvit_fail(CLVIT_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp,
                        strerror(errno));
    if (st != CLVIT_SUCCESS)
        remove(tmp);
    else
        fsync_parent_dir(path);
    free(tmp);
    return st;
}
