/*
 * common.h - internal helpers shared by every file of the library: the last-error record
 * and the CHECK macros that set it and return.
 *
 * Usage:
 *   if (n < 0) return clvit_fail(CLVIT_ERR_SHAPE, "layernorm: n=%d < 0", n);
 *   CLVIT_CHECK(clvit_something(...));        -- propagate a clvit_status
 *   CLVIT_CHECK_CL(clEnqueueWriteBuffer(...)); -- in device files (lib/device.h)
 * clvit_fail() records "file:line: message" and returns the status, so errors are one line.
 */
#ifndef CLVIT_COMMON_H
#define CLVIT_COMMON_H

#include "clvit.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLVIT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLVIT_PRINTF(a, b)
#endif

/* Records the message (printf-style) as the last error and returns status. */
clvit_status clvit_fail_at(clvit_status status, const char *file, int line, const char *fmt, ...)
    CLVIT_PRINTF(4, 5);
#define clvit_fail(status, ...) clvit_fail_at((status), __FILE__, __LINE__, __VA_ARGS__)
void clvit_clear_error(void);

#define CLVIT_CHECK(expr)                                                                          \
    do {                                                                                           \
        clvit_status clvit_check_s_ = (expr);                                                      \
        if (clvit_check_s_ != CLVIT_SUCCESS) return clvit_check_s_;                                \
    } while (0)

/* Like CLVIT_CHECK but jumps to a cleanup label with the status stored in `st`. */
#define CLVIT_TRY(st, expr, label)                                                                 \
    do {                                                                                           \
        (st) = (expr);                                                                             \
        if ((st) != CLVIT_SUCCESS) goto label;                                                     \
    } while (0)

/* File helpers (files.c); they record no error. A whole regular file, NUL-terminated and
 * malloc'ed (*len without the NUL; len may be NULL), or NULL when it cannot be opened or read
 * or is not a regular file. */
char *clvit_read_file(const char *path, size_t *len);
/* mkdir -p: 0 when the directory exists afterwards. */
int clvit_mkdir_p(const char *dir);
/* 64-bit FNV-1a of n bytes, continuing from h (start: 14695981039346656037). */
uint64_t clvit_fnv1a(uint64_t h, const void *data, size_t n);

/* Program-cache files (program.c): a CLVIT_BLOB_HEADER-byte header, "CLVITBIN" then the
 * payload's size and its FNV-1a hash (u64 little-endian each), then the payload (a driver's
 * program binary), so that a truncated or damaged file is never handed to the driver.
 * clvit_blob_header fills the header for a payload; clvit_blob_payload returns the payload of
 * a whole, intact file of `size` bytes and its size in *n, else NULL. */
#define CLVIT_BLOB_HEADER 24
void clvit_blob_header(const void *payload, size_t n, unsigned char *header);
const unsigned char *clvit_blob_payload(const void *file, size_t size, size_t *n);

/* Atomic file replacement (atomic_file.c): open PATH.tmp, write, then commit, which flushes,
 * fsyncs, closes and renames over PATH, or removes the temporary file when write_ok is 0 or
 * anything fails. commit always closes fp and frees tmp. */
clvit_status clvit_atomic_open(const char *path, FILE **fp, char **tmp);
clvit_status clvit_atomic_commit(FILE *fp, char *tmp, const char *path, int write_ok);
/* clvit_atomic_check (clvit.h) tries a path the way these write it. */

/* Overflow-checked size arithmetic: returns 0 on overflow. */
int clvit_mul_size(size_t a, size_t b, size_t *out);

#endif /* CLVIT_COMMON_H */
