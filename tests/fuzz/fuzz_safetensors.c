/*
 * fuzz_safetensors.c - the safetensors reader (lib/host/safetensors.c): header length, JSON
 * header, dtypes, shapes, data offsets, __metadata__.
 * Checks, besides the sanitizers: the reader of buffers (clvit_st_parse) and the reader of
 * files (clvit_st_open, its own code) agree; every tensor of an accepted file can be found by
 * name and converted to float32 inside its data; every metadata entry can be looked up; and
 * the accepted file survives a round trip through the writer (tensors as F32, metadata as is)
 * with the same names, shapes, values and metadata.
 */
#include "fuzz_util.h"
#include "safetensors.h"

static float *read_all_f32(const clvit_st_file *f, size_t *total) {
    size_t n = 0;
    for (int i = 0; i < f->num_tensors; i++)
        n += (size_t)f->tensors[i].numel; /* each <= data_size, so no overflow */
    float *all = malloc((n ? n : 1) * sizeof *all);
    FUZZ_CHECK(all != NULL);
    size_t at = 0;
    for (int i = 0; i < f->num_tensors; i++) {
        const clvit_st_tensor *t = &f->tensors[i];
        FUZZ_CHECK(clvit_st_find(f, t->name) == t); /* names are unique */
        FUZZ_CHECK(t->begin <= t->end && t->end <= f->data_size);
        FUZZ_CHECK(clvit_st_read_f32(f, t, all + at) == CLVIT_SUCCESS);
        at += (size_t)t->numel;
    }
    *total = n;
    return all;
}

static void round_trip(const clvit_st_file *f, const float *values, size_t total) {
    clvit_st_entry *e = calloc((size_t)f->num_tensors + 1, sizeof *e);
    FUZZ_CHECK(e != NULL);
    size_t at = 0;
    for (int i = 0; i < f->num_tensors; i++) {
        const clvit_st_tensor *t = &f->tensors[i];
        e[i].name = t->name;
        e[i].dtype = CLVIT_DT_F32;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        e[i].data = values + at;
        at += (size_t)t->numel;
    }
    const char *path = fuzz_path("round_trip.safetensors");
    clvit_status st = clvit_st_write(path, e, f->num_tensors, (const char *const *)f->meta_keys,
                                     (const char *const *)f->meta_values, f->num_meta);
    /* the writer caps each tensor at 2^53 bytes as F32; the reader checks the same range */
    FUZZ_CHECK(st == CLVIT_SUCCESS);
    clvit_st_file *g = NULL;
    FUZZ_CHECK(clvit_st_open(path, &g) == CLVIT_SUCCESS);
    FUZZ_CHECK(g->num_tensors == f->num_tensors && g->num_meta == f->num_meta);
    size_t total2 = 0;
    float *values2 = read_all_f32(g, &total2);
    FUZZ_CHECK(total2 == total);
    FUZZ_CHECK(total == 0 || memcmp(values, values2, total * sizeof *values) == 0);
    for (int i = 0; i < f->num_tensors; i++) {
        const clvit_st_tensor *a = &f->tensors[i], *b = &g->tensors[i];
        FUZZ_CHECK(!strcmp(a->name, b->name) && b->dtype == CLVIT_DT_F32 && a->ndim == b->ndim);
        FUZZ_CHECK(!memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]));
    }
    for (int i = 0; i < f->num_meta; i++) {
        const char *v = clvit_st_meta(g, f->meta_keys[i]);
        FUZZ_CHECK(v && !strcmp(v, f->meta_values[i]));
    }
    free(values2);
    clvit_st_close(g);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clvit_st_file *f = NULL;
    const clvit_status st = clvit_st_parse(data, size, "fuzz input", &f);
    FUZZ_CHECK((st == CLVIT_SUCCESS) == (f != NULL));
    if (st != CLVIT_SUCCESS) FUZZ_CHECK(clvit_last_error()[0] != '\0');

    const char *path = fuzz_path("input.safetensors");
    fuzz_write(path, data, size, 0);
    clvit_st_file *g = NULL;
    const clvit_status st2 = clvit_st_open(path, &g);
    FUZZ_CHECK(st2 == st);
    if (g) {
        FUZZ_CHECK(g->num_tensors == f->num_tensors && g->num_meta == f->num_meta);
        FUZZ_CHECK(g->data_size == f->data_size);
        FUZZ_CHECK(g->data_size == 0 || !memcmp(g->data, f->data, g->data_size));
        clvit_st_close(g);
    }
    if (!f) return 0;

    for (int i = 0; i < f->num_meta; i++) {
        const char *v = clvit_st_meta(f, f->meta_keys[i]);
        FUZZ_CHECK(v == f->meta_values[i]); /* keys are unique */
        long x;
        if (clvit_st_meta_long(f, f->meta_keys[i], -1000, 1000, &x))
            FUZZ_CHECK(x >= -1000 && x <= 1000);
    }
    size_t total = 0;
    float *values = read_all_f32(f, &total);
    round_trip(f, values, total);
    free(values);
    clvit_st_close(f);
    return 0;
}
