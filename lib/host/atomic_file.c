/*
 * atomic_file.c - files that are replaced whole or not at all: written to PATH.tmp, flushed
 * and fsync'ed, renamed over PATH, then the directory is fsync'ed. A failure at any point
 * removes the temporary file and leaves PATH as it was (checkpoints, weights, .npy,
 * submissions all go through here). A process killed at any moment (kill -9, power loss after
 * the commit) leaves PATH whole: the old file or the new one, never a mix; at most a stale
 * PATH.tmp stays behind, which the next write of PATH replaces. A write that fails (disk
 * full, ENOSPC; a file-size limit, EFBIG, when the caller ignores SIGXFSZ) is reported with
 * the system's reason.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
        /* makes the rename durable; not reported, since the rename is done by now and either
         * file, old or new, is whole */
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

clvit_status clvit_atomic_commit(FILE *fp, char *tmp, const char *path, int write_ok) {
    /* the first failure's errno, taken before anything else can change it */
    int err = 0, failed = !write_ok;
    if (failed) {
        err = errno;
    } else if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        failed = 1;
        err = errno;
    }
    clvit_status st = CLVIT_SUCCESS;
    if (failed)
        st = clvit_fail(CLVIT_ERR_IO, "%s: write failed: %s", tmp,
                        err ? strerror(err) : "unknown error");
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

clvit_status clvit_atomic_check(const char *path) {
    if (!path || !*path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "no file name");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return clvit_fail(CLVIT_ERR_IO, "%s: is a directory", path);
    FILE *fp;
    char *tmp;
    CLVIT_CHECK(clvit_atomic_open(path, &fp, &tmp));
    fclose(fp);
    remove(tmp);
    free(tmp);
    return CLVIT_SUCCESS;
}
