/*
 * files.c - small file helpers shared by the program cache, the GEMM tuning files and the
 * bench: reading a whole file, creating a directory path, the FNV-1a hash that names
 * cache files, and the checked envelope of program-cache files. They record no error
 * themselves; callers say what the file was for.
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *clvit_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    /* regular files only: the "size" of a directory can be LONG_MAX */
    struct stat sb;
    long n = -1;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < LONG_MAX &&
        fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            buf[n] = '\0';
            if (len) *len = (size_t)n;
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

int clvit_mkdir_p(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    return (mkdir(tmp, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

uint64_t clvit_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static const unsigned char blob_magic[8] = {'C', 'L', 'V', 'I', 'T', 'B', 'I', 'N'};

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void clvit_blob_header(const void *payload, size_t n, unsigned char *header) {
    memcpy(header, blob_magic, sizeof blob_magic);
    put_u64(header + 8, (uint64_t)n);
    put_u64(header + 16, clvit_fnv1a(14695981039346656037ULL, payload, n));
}

const unsigned char *clvit_blob_payload(const void *file, size_t size, size_t *n) {
    const unsigned char *b = file;
    if (!b || size < CLVIT_BLOB_HEADER || memcmp(b, blob_magic, sizeof blob_magic)) return NULL;
    const uint64_t len = get_u64(b + 8);
    if (len != (uint64_t)(size - CLVIT_BLOB_HEADER)) return NULL;
    if (get_u64(b + 16) != clvit_fnv1a(14695981039346656037ULL, b + CLVIT_BLOB_HEADER, (size_t)len))
        return NULL;
    *n = (size_t)len;
    return b + CLVIT_BLOB_HEADER;
}
