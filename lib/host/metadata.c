/*
 * metadata.c - the public clvit_metadata_* calls: a safetensors file's __metadata__ (string ->
 * string, in the header's order), read from the header alone, so a large checkpoint's
 * weights are not read to learn its step or settings.
 */
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

struct clvit_metadata {
    clvit_st_file *file; /* header only */
};

clvit_status clvit_metadata_read(const char *path, clvit_metadata **meta) {
    if (!meta) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_metadata_read: meta is NULL");
    *meta = NULL;
    if (!path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_metadata_read: path is NULL");
    clvit_metadata *m = calloc(1, sizeof *m);
    if (!m) return clvit_fail(CLVIT_ERR_NOMEM, "%s: metadata", path);
    clvit_status st = clvit_st_open_header(path, &m->file);
    if (st) {
        free(m);
        return st;
    }
    *meta = m;
    return CLVIT_SUCCESS;
}

int clvit_metadata_count(const clvit_metadata *meta) {
    return meta ? meta->file->num_meta : 0;
}

const char *clvit_metadata_key(const clvit_metadata *meta, int i) {
    return meta && i >= 0 && i < meta->file->num_meta ? meta->file->meta_keys[i] : NULL;
}

const char *clvit_metadata_value(const clvit_metadata *meta, int i) {
    return meta && i >= 0 && i < meta->file->num_meta ? meta->file->meta_values[i] : NULL;
}

const char *clvit_metadata_get(const clvit_metadata *meta, const char *key) {
    return meta && key ? clvit_st_meta(meta->file, key) : NULL;
}

void clvit_metadata_free(clvit_metadata *meta) {
    if (!meta) return;
    clvit_st_close(meta->file);
    free(meta);
}
