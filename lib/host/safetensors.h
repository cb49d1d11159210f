/*
 * safetensors.h - reader and writer for the safetensors format (what timm and Hugging Face
 * publish). File layout:
 *   u64 little-endian header length L | L bytes of JSON header | data bytes
 * The JSON maps tensor names to {"dtype": "F32"|"F16"|"BF16"|..., "shape": [...],
 * "data_offsets": [begin, end]} (offsets relative to the data section) and may hold a
 * "__metadata__" object of string -> string.
 * The reader treats the file as untrusted: every length, offset, shape and dtype is checked
 * against the file size before use; overlapping tensors are rejected.
 */
#ifndef CLVIT_SAFETENSORS_H
#define CLVIT_SAFETENSORS_H

#include "common.h"

#define CLVIT_ST_MAX_DIMS 8

typedef enum {
    CLVIT_DT_F32,
    CLVIT_DT_F16,
    CLVIT_DT_BF16,
    CLVIT_DT_F64,
    CLVIT_DT_I64,
    CLVIT_DT_I32,
    CLVIT_DT_U8,
} clvit_dtype;

typedef struct clvit_st_tensor {
    char *name;
    clvit_dtype dtype;
    int ndim;
    int64_t shape[CLVIT_ST_MAX_DIMS];
    int64_t numel;
    size_t begin, end; /* byte range inside the data section */
} clvit_st_tensor;

typedef struct clvit_st_file {
    clvit_st_tensor *tensors; /* in header order */
    int num_tensors;
    char **meta_keys, **meta_values; /* __metadata__ entries */
    int num_meta;
    unsigned char *data; /* the data section (owned) */
    size_t data_size;
} clvit_st_file;

clvit_status clvit_st_open(const char *path, clvit_st_file **out);
/* The header only (tensor list, checked against the file's size, and metadata); data is
 * NULL, so clvit_st_read_f32 must not be called on it. */
clvit_status clvit_st_open_header(const char *path, clvit_st_file **out);
/* Same, from a buffer in memory (copied); `what` names it in error messages. */
clvit_status clvit_st_parse(const void *bytes, size_t size, const char *what, clvit_st_file **out);
void clvit_st_close(clvit_st_file *f);
const clvit_st_tensor *clvit_st_find(const clvit_st_file *f, const char *name);
/* NULL when the key is absent. */
const char *clvit_st_meta(const clvit_st_file *f, const char *key);
/* A metadata value that is a whole decimal number (an optional '-', then digits, nothing
 * else) in [min, max]: 1 and *out. 0 when the key is absent or its value is anything else. */
int clvit_st_meta_long(const clvit_st_file *f, const char *key, long min, long max, long *out);
/* Converts F32/F16/BF16/F64 (and integer types) to float32 into dst (numel floats). */
clvit_status clvit_st_read_f32(const clvit_st_file *f, const clvit_st_tensor *t, float *dst);

/* Writer: every tensor is written as F32 (or I64 when dtype says so). */
typedef struct clvit_st_entry {
    const char *name;
    clvit_dtype dtype; /* CLVIT_DT_F32 or CLVIT_DT_I64 */
    int ndim;
    int64_t shape[CLVIT_ST_MAX_DIMS];
    const void *data;
} clvit_st_entry;

/* Writes atomically: PATH.tmp, fsync, rename over PATH; a failure leaves PATH as it was. */
clvit_status clvit_st_write(const char *path, const clvit_st_entry *entries, int num_entries,
                            const char *const *meta_keys, const char *const *meta_values,
                            int num_meta);

#endif
