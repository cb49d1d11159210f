/*
 * fuzz_util.h - what the harnesses share: the parsers that take a path get the input through
 * a file in a private temporary directory (in /dev/shm when there is one, so nothing touches
 * the disk), optionally gzip-compressed; the directory goes when the process exits.
 * FUZZ_CHECK aborts on a broken invariant, which libFuzzer reports as a crash.
 */
#ifndef CLVIT_FUZZ_UTIL_H
#define CLVIT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char fuzz_dir_[256];
static char fuzz_names_[16][64];
static char fuzz_paths_[16][512];
static int fuzz_num_names_;

static inline void fuzz_cleanup_(void) {
    for (int i = 0; i < fuzz_num_names_; i++)
        unlink(fuzz_paths_[i]);
    rmdir(fuzz_dir_);
}

/* The path of `name` (a plain file name, at most 16 different ones per harness) inside the
 * harness's temporary directory, created on first use. The string stays valid. */
static inline const char *fuzz_path(const char *name) {
    if (!fuzz_dir_[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/clvit-fuzz-XXXXXX",
                 base && *base ? base : "/tmp");
        if (!mkdtemp(fuzz_dir_)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_cleanup_);
    }
    for (int i = 0; i < fuzz_num_names_; i++)
        if (!strcmp(fuzz_names_[i], name)) return fuzz_paths_[i];
    FUZZ_CHECK(fuzz_num_names_ < 16 && strlen(name) < sizeof fuzz_names_[0]);
    const int i = fuzz_num_names_++;
    strcpy(fuzz_names_[i], name);
    snprintf(fuzz_paths_[i], sizeof fuzz_paths_[i], "%s/%s", fuzz_dir_, name);
    return fuzz_paths_[i];
}

/* Writes n bytes to path (replacing it), gzip-compressed when gz is set. Aborts on failure:
 * the harness cannot go on without its file. */
static inline void fuzz_write(const char *path, const void *data, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb1");
        FUZZ_CHECK(f != NULL);
        FUZZ_CHECK(n == 0 || gzwrite(f, data, (unsigned)n) == (int)n);
        FUZZ_CHECK(gzclose(f) == Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(n == 0 || fwrite(data, 1, n, f) == n);
    FUZZ_CHECK(fclose(f) == 0);
}

/* The input as a NUL-terminated string (text parsers read files this way: clvit_read_file
 * adds the NUL, and text after an embedded NUL is not seen). free() it. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
