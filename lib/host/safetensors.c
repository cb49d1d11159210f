/*
 * safetensors.c - safetensors reader and writer (file layout in safetensors.h):
 *   u64 LE header length L | L bytes of JSON (padded with spaces) | data section
 * Reading: L is checked against the file size and a 100 MB cap, the JSON is parsed with
 * cJSON and every entry is validated (dtype, shape, data_offsets inside the data section,
 * end - begin == numel * dtype size, no duplicates, no overlaps) before the data section is
 * read into one owned buffer; every error path frees what was built. Values are decoded
 * byte by byte as little-endian, so the code does not depend on the host's byte order.
 * Writing: __metadata__ first, tensors in the order given with contiguous offsets, header
 * padded to a multiple of 8 bytes; written to PATH.tmp, fsync'ed, renamed over PATH.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024)
/* JSON numbers are doubles in cJSON: integers above 2^53 cannot be represented exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

typedef unsigned long long ull;

static const struct {
    const char *name;
    clvit_dtype dtype;
    size_t size;
} st_dtypes[] = {
    {"F32", CLVIT_DT_F32, 4}, {"F16", CLVIT_DT_F16, 2}, {"BF16", CLVIT_DT_BF16, 2},
    {"F64", CLVIT_DT_F64, 8}, {"I64", CLVIT_DT_I64, 8}, {"I32", CLVIT_DT_I32, 4},
    {"U8", CLVIT_DT_U8, 1},
};
#define ST_NUM_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static size_t dtype_size(clvit_dtype dt) {
    for (size_t i = 0; i < ST_NUM_DTYPES; i++)
        if (st_dtypes[i].dtype == dt) return st_dtypes[i].size;
    return 0;
}

static const char *dtype_name(clvit_dtype dt) {
    for (size_t i = 0; i < ST_NUM_DTYPES; i++)
        if (st_dtypes[i].dtype == dt) return st_dtypes[i].name;
    return "?";
}

static int dtype_from_name(const char *name, clvit_dtype *dt) {
    for (size_t i = 0; i < ST_NUM_DTYPES; i++) {
        if (strcmp(st_dtypes[i].name, name) == 0) {
            *dt = st_dtypes[i].dtype;
            return 1;
        }
    }
    return 0;
}

static uint16_t ld_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t ld_u32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t ld_u64(const unsigned char *p) {
    return (uint64_t)ld_u32(p) | ((uint64_t)ld_u32(p + 4) << 32);
}

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static float f32_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* IEEE half -> float, exact for every input (subnormals, infinities, NaN payloads). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
    /* zero or subnormal: mant * 2^-24, a normal float after renormalising */
    if (mant == 0) return f32_from_bits(sign);
    exp = 113; /* biased float exponent of 2^-14, then shifted down while normalising */
    while (!(mant & 0x400u)) {
        mant <<= 1;
        exp--;
    }
    return f32_from_bits(sign | (exp << 23) | ((mant & 0x3ffu) << 13));
}

static float bf16_to_f32(uint16_t h) {
    return f32_from_bits((uint32_t)h << 16);
}

void clvit_st_close(clvit_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->num_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->num_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->data);
    free(f);
}

/* ---------------------------------------------------------------- header validation */

/* A JSON number holding an integer in [0, 2^53]. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_JSON_INT) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static clvit_status parse_tensor(const cJSON *item, const char *what, size_t data_size,
                                 clvit_st_tensor *t) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", what,
                          name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = item->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (strcmp(c->string, "dtype") == 0)
            slot = &dtype;
        else if (strcmp(c->string, "shape") == 0)
            slot = &shape;
        else if (strcmp(c->string, "data_offsets") == 0)
            slot = &offsets;
        if (!slot) continue; /* unknown keys are ignored, as the reference reader does */
        if (*slot)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': key '%s' appears twice", what,
                              name, c->string);
        *slot = c;
    }

    if (!dtype) return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': no 'dtype'", what, name);
    if (!cJSON_IsString(dtype))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': 'dtype' is not a string", what, name);
    if (!dtype_from_name(dtype->valuestring, &t->dtype))
        return clvit_fail(CLVIT_ERR_UNSUPPORTED,
                          "%s: tensor '%s': dtype '%s' is not supported (F32, F16, BF16, F64, "
                          "I64, I32, U8 are)",
                          what, name, dtype->valuestring);

    if (!shape) return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': no 'shape'", what, name);
    if (!cJSON_IsArray(shape))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': 'shape' is not an array", what, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > CLVIT_ST_MAX_DIMS)
        return clvit_fail(CLVIT_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d)",
                          what, name, ndim, CLVIT_ST_MAX_DIMS);
    t->ndim = ndim;
    int64_t numel = 1;
    int axis = 0;
    for (const cJSON *c = shape->child; c; c = c->next, axis++) {
        uint64_t dim;
        if (cJSON_IsNumber(c) && c->valuedouble < 0)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': negative dimension %g (axis %d)",
                              what, name, c->valuedouble, axis);
        if (!json_uint(c, &dim))
            return clvit_fail(CLVIT_ERR_FORMAT,
                              "%s: tensor '%s': shape[%d] is not a non-negative integer", what,
                              name, axis);
        t->shape[axis] = (int64_t)dim;
        if (dim != 0 && numel > INT64_MAX / (int64_t)dim)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': shape product overflows", what,
                              name);
        numel *= (int64_t)dim;
    }
    t->numel = numel;

    if (!offsets)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': no 'data_offsets'", what, name);
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(offsets->child, &begin) || !json_uint(offsets->child->next, &end))
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: tensor '%s': 'data_offsets' is not [begin, end] with non-negative "
                          "integers",
                          what, name);
    if (end < begin)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': data_offsets end %llu < begin %llu",
                          what, name, (ull)end, (ull)begin);
    if (end > data_size)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the "
                          "%zu-byte data section (truncated file?)",
                          what, name, (ull)begin, (ull)end, data_size);
    size_t nbytes;
    if ((uint64_t)numel > SIZE_MAX || !clvit_mul_size((size_t)numel, dtype_size(t->dtype), &nbytes))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': byte size overflows", what, name);
    if (end - begin != nbytes)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets cover %llu bytes, but %lld elements of "
                          "%s need %zu",
                          what, name, (ull)(end - begin), (long long)numel, dtype_name(t->dtype),
                          nbytes);
    t->begin = (size_t)begin;
    t->end = (size_t)end;
    return CLVIT_SUCCESS;
}

static clvit_status parse_meta(const cJSON *meta, const char *what, clvit_st_file *f) {
    if (cJSON_IsNull(meta)) return CLVIT_SUCCESS;
    if (!cJSON_IsObject(meta))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: __metadata__ is not a JSON object", what);
    int n = cJSON_GetArraySize(meta);
    size_t cap = n > 0 ? (size_t)n : 1;
    f->meta_keys = calloc(cap, sizeof *f->meta_keys);
    f->meta_values = calloc(cap, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for metadata", what);
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return clvit_fail(CLVIT_ERR_FORMAT,
                              "%s: __metadata__ value for key '%s' is not a string", what,
                              c->string);
        char *k = strdup(c->string), *v = strdup(c->valuestring);
        if (!k || !v) {
            free(k);
            free(v);
            return clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for metadata", what);
        }
        f->meta_keys[f->num_meta] = k;
        f->meta_values[f->num_meta] = v;
        f->num_meta++;
    }
    return CLVIT_SUCCESS;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_tensor_name(const void *a, const void *b) {
    const clvit_st_tensor *x = *(const clvit_st_tensor *const *)a;
    const clvit_st_tensor *y = *(const clvit_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_tensor_range(const void *a, const void *b) {
    const clvit_st_tensor *x = *(const clvit_st_tensor *const *)a;
    const clvit_st_tensor *y = *(const clvit_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Duplicate names and overlapping byte ranges, found by sorting (files are untrusted, so no
 * quadratic scans). */
static clvit_status check_tensor_set(const char *what, const clvit_st_file *f) {
    if (f->num_tensors == 0 && f->num_meta == 0) return CLVIT_SUCCESS;
    size_t n = (size_t)f->num_tensors;
    const clvit_st_tensor **order = malloc((n > 0 ? n : 1) * sizeof *order);
    char **keys = malloc((f->num_meta > 0 ? (size_t)f->num_meta : 1) * sizeof *keys);
    clvit_status st = CLVIT_SUCCESS;
    if (!order || !keys) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory checking the header", what);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &f->tensors[i];

    qsort(order, n, sizeof *order, cmp_tensor_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s: tensor '%s': name appears twice", what,
                            order[i]->name);
            goto done;
        }
    }

    qsort(order, n, sizeof *order, cmp_tensor_range);
    const clvit_st_tensor *reach = NULL; /* the tensor that ends furthest so far */
    for (size_t i = 0; i < n; i++) {
        if (reach && order[i]->begin < reach->end) {
            st = clvit_fail(CLVIT_ERR_FORMAT,
                            "%s: tensor '%s': bytes [%zu, %zu) overlap tensor '%s' [%zu, %zu)",
                            what, order[i]->name, order[i]->begin, order[i]->end, reach->name,
                            reach->begin, reach->end);
            goto done;
        }
        if (!reach || order[i]->end >= reach->end) reach = order[i];
    }

    for (int i = 0; i < f->num_meta; i++)
        keys[i] = f->meta_keys[i];
    qsort(keys, (size_t)f->num_meta, sizeof *keys, cmp_str_ptr);
    for (int i = 1; i < f->num_meta; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s: __metadata__ key '%s' appears twice", what,
                            keys[i]);
            goto done;
        }
    }
done:
    free(order);
    free(keys);
    return st;
}

/* Fills f's tensors and metadata from the JSON header; data_size is the size of the data
 * section that follows it. On failure f holds only what clvit_st_close frees. */
static clvit_status parse_header(const char *hdr, size_t hlen, size_t data_size, const char *what,
                                 clvit_st_file *f) {
    if (memchr(hdr, '\0', hlen))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: header holds a NUL byte", what);
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &stop, 0);
    if (!root) {
        long pos = stop && stop >= hdr ? (long)(stop - hdr) : -1;
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: header is not valid JSON (error near byte %ld)",
                          what, pos);
    }
    clvit_status st = CLVIT_SUCCESS;
    for (const char *p = stop; p < hdr + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s: bytes after the JSON header (at byte %ld)", what,
                            (long)(p - hdr));
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: header is not a JSON object", what);
        goto done;
    }
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc(n > 0 ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for %d tensors", what, n);
        goto done;
    }
    int seen_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (seen_meta) {
                st = clvit_fail(CLVIT_ERR_FORMAT, "%s: __metadata__ appears twice", what);
                goto done;
            }
            seen_meta = 1;
            CLVIT_TRY(st, parse_meta(c, what, f), done);
            continue;
        }
        clvit_st_tensor *t = &f->tensors[f->num_tensors];
        memset(t, 0, sizeof *t);
        CLVIT_TRY(st, parse_tensor(c, what, data_size, t), done);
        t->name = strdup(c->string);
        if (!t->name) {
            st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for tensor names", what);
            goto done;
        }
        f->num_tensors++;
    }
    st = check_tensor_set(what, f);
done:
    cJSON_Delete(root);
    return st;
}

/* Header length from the first 8 bytes, checked against the bytes that follow it. */
static clvit_status check_header_len(const unsigned char *prefix, size_t total, const char *what,
                                     size_t *hlen) {
    if (total < 8)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: %zu bytes, too short for a safetensors file (need at least 8)", what,
                          total);
    uint64_t len = ld_u64(prefix);
    if (len > total - 8)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: header length %llu is larger than the %zu bytes after it", what,
                          (ull)len, total - 8);
    if (len > ST_MAX_HEADER)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: header length %llu is above the %llu-byte limit",
                          what, (ull)len, (ull)ST_MAX_HEADER);
    if (len < 2)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: header length %llu is too short for a JSON object",
                          what, (ull)len);
    *hlen = (size_t)len;
    return CLVIT_SUCCESS;
}

clvit_status clvit_st_parse(const void *bytes, size_t size, const char *what, clvit_st_file **out) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_parse: out is NULL");
    *out = NULL;
    if (!what) what = "safetensors buffer";
    if (!bytes && size > 0)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_parse: %s: bytes is NULL", what);
    const unsigned char *b = bytes;
    size_t hlen = 0;
    CLVIT_CHECK(check_header_len(b, size, what, &hlen));
    size_t data_size = size - 8 - hlen;
    clvit_st_file *f = calloc(1, sizeof *f);
    if (!f) return clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory", what);
    clvit_status st;
    CLVIT_TRY(st, parse_header((const char *)b + 8, hlen, data_size, what, f), fail);
    f->data = malloc(data_size > 0 ? data_size : 1);
    if (!f->data) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for %zu data bytes", what, data_size);
        goto fail;
    }
    if (data_size > 0) memcpy(f->data, b + 8 + hlen, data_size);
    f->data_size = data_size;
    *out = f;
    return CLVIT_SUCCESS;
fail:
    clvit_st_close(f);
    return st;
}

/* with_data 0: the header only (f->data stays NULL), for metadata and listings. */
static clvit_status st_open(const char *path, int with_data, clvit_st_file **out) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_open: out is NULL");
    *out = NULL;
    if (!path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_open: path is NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp) return clvit_fail(CLVIT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    clvit_st_file *f = NULL;
    char *hdr = NULL;
    clvit_status st;
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = clvit_fail(CLVIT_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        st = clvit_fail(CLVIT_ERR_UNSUPPORTED, "%s: file too large for this host", path);
        goto done;
    }
    size_t size = (size_t)sb.st_size;
    unsigned char prefix[8] = {0};
    if (size >= 8 && fread(prefix, 1, 8, fp) != 8) {
        st = clvit_fail(CLVIT_ERR_IO, "%s: read failed", path);
        goto done;
    }
    size_t hlen = 0;
    CLVIT_TRY(st, check_header_len(prefix, size, path, &hlen), done);
    hdr = malloc(hlen);
    f = calloc(1, sizeof *f);
    if (!hdr || !f) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for a %zu-byte header", path, hlen);
        goto done;
    }
    if (fread(hdr, 1, hlen, fp) != hlen) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: file ends inside the header", path);
        goto done;
    }
    size_t data_size = size - 8 - hlen;
    CLVIT_TRY(st, parse_header(hdr, hlen, data_size, path, f), done);
    if (!with_data) {
        f->data_size = data_size;
        *out = f;
        f = NULL;
        st = CLVIT_SUCCESS;
        goto done;
    }
    f->data = malloc(data_size > 0 ? data_size : 1);
    if (!f->data) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for %zu data bytes", path, data_size);
        goto done;
    }
    if (fread(f->data, 1, data_size, fp) != data_size) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: file ends inside the data section", path);
        goto done;
    }
    f->data_size = data_size;
    *out = f;
    f = NULL;
    st = CLVIT_SUCCESS;
done:
    clvit_st_close(f);
    free(hdr);
    fclose(fp);
    return st;
}

clvit_status clvit_st_open(const char *path, clvit_st_file **out) {
    return st_open(path, 1, out);
}

clvit_status clvit_st_open_header(const char *path, clvit_st_file **out) {
    return st_open(path, 0, out);
}

const clvit_st_tensor *clvit_st_find(const clvit_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->num_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *clvit_st_meta(const clvit_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->num_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int clvit_st_meta_long(const clvit_st_file *f, const char *key, long min, long max, long *out) {
    const char *v = clvit_st_meta(f, key);
    if (!v) return 0;
    const char *d = v + (*v == '-');
    if (*d < '0' || *d > '9') return 0; /* no spaces, '+' or empty strings, as strtol allows */
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*end || errno == ERANGE || x < min || x > max) return 0;
    *out = x;
    return 1;
}

clvit_status clvit_st_read_f32(const clvit_st_file *f, const clvit_st_tensor *t, float *dst) {
    if (!f || !t || (!dst && t->numel > 0))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_read_f32: NULL argument");
    size_t es = dtype_size(t->dtype), nbytes;
    if (es == 0 || t->numel < 0 || (uint64_t)t->numel > SIZE_MAX ||
        !clvit_mul_size((size_t)t->numel, es, &nbytes) || t->begin > t->end ||
        t->end > f->data_size || t->end - t->begin != nbytes)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "clvit_st_read_f32: tensor '%s' does not describe this file's data",
                          t->name ? t->name : "?");
    if (!f->data)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "clvit_st_read_f32: '%s': the file was opened for its header only",
                          t->name ? t->name : "?");
    const unsigned char *p = f->data + t->begin;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case CLVIT_DT_F32:
        if (host_is_le()) {
            if (n > 0) memcpy(dst, p, nbytes);
        } else {
            for (size_t i = 0; i < n; i++)
                dst[i] = f32_from_bits(ld_u32(p + 4 * i));
        }
        break;
    case CLVIT_DT_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = f16_to_f32(ld_u16(p + 2 * i));
        break;
    case CLVIT_DT_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32(ld_u16(p + 2 * i));
        break;
    case CLVIT_DT_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = ld_u64(p + 8 * i);
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = (float)d;
        }
        break;
    case CLVIT_DT_I64:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int64_t)ld_u64(p + 8 * i);
        break;
    case CLVIT_DT_I32:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int32_t)ld_u32(p + 4 * i);
        break;
    case CLVIT_DT_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)p[i];
        break;
    }
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- writer */

/* Elements of elsize bytes in host order, written little-endian. */
static int write_le(FILE *fp, const unsigned char *src, size_t elsize, size_t count) {
    if (count == 0) return 1;
    if (host_is_le() || elsize == 1) return fwrite(src, elsize, count, fp) == count;
    /* big-endian host: byte-swap one element at a time (stdio buffers the writes) */
    unsigned char le[8] = {0};
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < elsize; j++)
            le[j] = src[i * elsize + (elsize - 1 - j)];
        if (fwrite(le, 1, elsize, fp) != elsize) return 0;
    }
    return 1;
}

static clvit_status check_entries(const clvit_st_entry *entries, int n, size_t *nbytes) {
    for (int i = 0; i < n; i++) {
        const clvit_st_entry *e = &entries[i];
        if (!e->name)
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: entry %d has no name", i);
        if (strcmp(e->name, "__metadata__") == 0)
            return clvit_fail(CLVIT_ERR_INVALID_ARG,
                              "clvit_st_write: '__metadata__' is not a tensor name");
        if (e->dtype != CLVIT_DT_F32 && e->dtype != CLVIT_DT_I64)
            return clvit_fail(CLVIT_ERR_INVALID_ARG,
                              "clvit_st_write: tensor '%s': dtype %s (only F32 and I64 are "
                              "written)",
                              e->name, dtype_name(e->dtype));
        if (e->ndim < 0 || e->ndim > CLVIT_ST_MAX_DIMS)
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: tensor '%s': ndim %d",
                              e->name, e->ndim);
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0 || (uint64_t)e->shape[d] > SIZE_MAX ||
                !clvit_mul_size(numel, (size_t)e->shape[d], &numel))
                return clvit_fail(CLVIT_ERR_INVALID_ARG,
                                  "clvit_st_write: tensor '%s': bad shape[%d] = %lld", e->name, d,
                                  (long long)e->shape[d]);
        }
        if (!clvit_mul_size(numel, dtype_size(e->dtype), &nbytes[i]) ||
            (double)nbytes[i] > ST_MAX_JSON_INT)
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: tensor '%s' is too large",
                              e->name);
        if (nbytes[i] > 0 && !e->data)
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: tensor '%s' has no data",
                              e->name);
    }
    const char **names = malloc((n > 0 ? (size_t)n : 1) * sizeof *names);
    if (!names) return clvit_fail(CLVIT_ERR_NOMEM, "clvit_st_write: out of memory");
    for (int i = 0; i < n; i++)
        names[i] = entries[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
    clvit_status st = CLVIT_SUCCESS;
    for (int i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            st = clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: tensor '%s' appears twice",
                            names[i]);
            break;
        }
    }
    free(names);
    return st;
}

static clvit_status check_meta(const char *const *keys, const char *const *values, int n) {
    if (n < 0 || (n > 0 && (!keys || !values)))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: bad metadata arguments");
    for (int i = 0; i < n; i++)
        if (!keys[i] || !values[i])
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: metadata entry %d is NULL",
                              i);
    const char **sorted = malloc((n > 0 ? (size_t)n : 1) * sizeof *sorted);
    if (!sorted) return clvit_fail(CLVIT_ERR_NOMEM, "clvit_st_write: out of memory");
    if (n > 0) memcpy(sorted, keys, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str_ptr);
    clvit_status st = CLVIT_SUCCESS;
    for (int i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            st = clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: metadata key '%s' twice",
                            sorted[i]);
            break;
        }
    }
    free(sorted);
    return st;
}

/* The JSON header text (unpadded), or NULL when out of memory. */
static char *build_header(const clvit_st_entry *entries, int n, const size_t *nbytes,
                          const char *const *meta_keys, const char *const *meta_values,
                          int num_meta) {
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (num_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        if (!meta) goto done;
        for (int i = 0; i < num_meta; i++)
            if (!cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i])) goto done;
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const clvit_st_entry *e = &entries[i];
        cJSON *obj = cJSON_AddObjectToObject(root, e->name);
        if (!obj || !cJSON_AddStringToObject(obj, "dtype", dtype_name(e->dtype))) goto done;
        cJSON *shape = cJSON_AddArrayToObject(obj, "shape");
        if (!shape) goto done;
        for (int d = 0; d < e->ndim; d++) {
            cJSON *num = cJSON_CreateNumber((double)e->shape[d]);
            if (!num || !cJSON_AddItemToArray(shape, num)) {
                cJSON_Delete(num);
                goto done;
            }
        }
        cJSON *offs = cJSON_AddArrayToObject(obj, "data_offsets");
        if (!offs) goto done;
        double range[2] = {(double)offset, (double)(offset + nbytes[i])};
        for (int k = 0; k < 2; k++) {
            cJSON *num = cJSON_CreateNumber(range[k]);
            if (!num || !cJSON_AddItemToArray(offs, num)) {
                cJSON_Delete(num);
                goto done;
            }
        }
        offset += nbytes[i];
    }
    text = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return text;
}

clvit_status clvit_st_write(const char *path, const clvit_st_entry *entries, int num_entries,
                            const char *const *meta_keys, const char *const *meta_values,
                            int num_meta) {
    if (!path || num_entries < 0 || (num_entries > 0 && !entries))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_st_write: bad arguments");
    CLVIT_CHECK(check_meta(meta_keys, meta_values, num_meta));
    size_t *nbytes = calloc(num_entries > 0 ? (size_t)num_entries : 1, sizeof *nbytes);
    if (!nbytes) return clvit_fail(CLVIT_ERR_NOMEM, "clvit_st_write: out of memory");
    clvit_status st;
    char *json = NULL;
    CLVIT_TRY(st, check_entries(entries, num_entries, nbytes), done);
    size_t total = 0;
    for (int i = 0; i < num_entries; i++) {
        if (nbytes[i] > SIZE_MAX - total || (double)(total + nbytes[i]) > ST_MAX_JSON_INT) {
            st = clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: tensors too large in total", path);
            goto done;
        }
        total += nbytes[i];
    }
    json = build_header(entries, num_entries, nbytes, meta_keys, meta_values, num_meta);
    if (!json) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    size_t jlen = strlen(json);
    size_t hlen = (jlen + 7) & ~(size_t)7;
    unsigned char prefix[8];
    for (int k = 0; k < 8; k++)
        prefix[k] = (unsigned char)((uint64_t)hlen >> (8 * k));

    char *tmp;
    FILE *fp;
    st = clvit_atomic_open(path, &fp, &tmp);
    if (st != CLVIT_SUCCESS) goto done;
    static const char spaces[] = "       "; /* hlen - jlen <= 7 */
    int ok = fwrite(prefix, 1, 8, fp) == 8 && fwrite(json, 1, jlen, fp) == jlen &&
             fwrite(spaces, 1, hlen - jlen, fp) == hlen - jlen;
    for (int i = 0; ok && i < num_entries; i++)
        ok = write_le(fp, entries[i].data, dtype_size(entries[i].dtype),
                      nbytes[i] / dtype_size(entries[i].dtype));
    st = clvit_atomic_commit(fp, tmp, path, ok);
done:
    cJSON_free(json);
    free(nbytes);
    return st;
}
