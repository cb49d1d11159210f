/*
 * test_host_npy.c - .npy reader/writer: round trips (N-d, 1-d, scalar, empty) with a check
 * of the written layout (version 1.0, '<f4', data at a multiple of 64), hand-made files in
 * versions 1.0/2.0/3.0 including '<f8' conversion, atomic writes, and one test per kind of
 * malformed file. Files live in a mkdtemp dir under /tmp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "clvit_data.h"
#include "common.h" /* clvit_clear_error */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static unsigned char *read_bytes(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

/* Writes magic (or `magic` when not NULL), version, header length (hlen_field, or the real
 * length when negative), the header text and data_len bytes of data (zeros when NULL). */
static void make_npy(const char *path, const char *magic, int major, int minor, const char *header,
                     long long hlen_field, const void *data, size_t data_len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite(magic ? magic : "\x93NUMPY", 1, 6, fp);
    unsigned char v[2] = {(unsigned char)major, (unsigned char)minor};
    fwrite(v, 1, 2, fp);
    size_t hl = strlen(header);
    uint64_t field = hlen_field < 0 ? hl : (uint64_t)hlen_field;
    unsigned char len[4] = {(unsigned char)field, (unsigned char)(field >> 8),
                            (unsigned char)(field >> 16), (unsigned char)(field >> 24)};
    fwrite(len, 1, major >= 2 ? 4 : 2, fp);
    fwrite(header, 1, hl, fp);
    if (data_len > 0) {
        unsigned char *zeros = NULL;
        if (!data) data = zeros = calloc(data_len, 1);
        assert_non_null(data);
        assert_int_equal(fwrite(data, 1, data_len, fp), data_len);
        free(zeros);
    }
    assert_int_equal(fclose(fp), 0);
}

static void assert_status(clvit_status got, clvit_status want, const char *label) {
    if (got != want)
        fail_msg("%s: status %d (%s), want %d (%s); last error: %s", label, got,
                 clvit_status_string(got), want, clvit_status_string(want), clvit_last_error());
}

static void assert_msg_has(const char *needle, const char *label) {
    if (!strstr(clvit_last_error(), needle))
        fail_msg("%s: error message \"%s\" does not contain \"%s\"", label, clvit_last_error(),
                 needle);
}

static void expect_read_fails(const char *path, clvit_status want, const char *msg,
                              const char *label) {
    float *data = (float *)(uintptr_t)1;
    int64_t shape[CLVIT_NPY_MAX_DIMS];
    int ndim = -1;
    clvit_clear_error();
    assert_status(clvit_npy_read_f32(path, &data, shape, &ndim), want, label);
    assert_null(data);
    assert_int_equal(ndim, 0);
    assert_msg_has(path, label);
    if (msg) assert_msg_has(msg, label);
}

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/clvit-npy-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
    return rmdir(tmpdir);
}

/* ---------------------------------------------------------------- round trip */

static void round_trip(const char *name, const int64_t *shape, int ndim, const char *shape_text) {
    char path[256], tmp[300];
    path_in(path, sizeof path, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    float *x = malloc(n * sizeof(float) + 1);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i * 0.37f - 5.0f;
    assert_status(clvit_npy_write_f32(path, x, shape, ndim), CLVIT_SUCCESS, name);
    assert_false(file_exists(tmp));

    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (size_t)raw[8] | ((size_t)raw[9] << 8);
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(size, 10 + hlen + 4 * n);
    assert_int_equal(raw[10 + hlen - 1], '\n');
    char want[256];
    snprintf(want, sizeof want, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
             shape_text);
    if (memcmp(raw + 10, want, strlen(want)) != 0)
        fail_msg("%s: header \"%.*s\", want \"%s\"", name, (int)hlen, raw + 10, want);
    for (size_t i = 10 + strlen(want); i < 10 + hlen - 1; i++)
        assert_int_equal(raw[i], ' ');
    if (n > 0) assert_memory_equal(raw + 10 + hlen, x, 4 * n);
    free(raw);

    float *y = NULL;
    int64_t got_shape[CLVIT_NPY_MAX_DIMS];
    int got_ndim = -1;
    assert_status(clvit_npy_read_f32(path, &y, got_shape, &got_ndim), CLVIT_SUCCESS, name);
    assert_non_null(y);
    assert_int_equal(got_ndim, ndim);
    for (int d = 0; d < ndim; d++)
        assert_int_equal(got_shape[d], shape[d]);
    if (n > 0) assert_memory_equal(y, x, 4 * n);
    free(y);
    free(x);
}

static void test_round_trip(void **state) {
    (void)state;
    const int64_t s3[3] = {2, 3, 5}, s1[1] = {7}, s0[2] = {0, 3}, s8[8] = {1, 2, 1, 2, 1, 2, 1, 3};
    const int64_t big[2] = {17, 123};
    round_trip("a3.npy", s3, 3, "(2, 3, 5)");
    round_trip("a1.npy", s1, 1, "(7,)");
    round_trip("a0.npy", NULL, 0, "()");
    round_trip("empty.npy", s0, 2, "(0, 3)");
    round_trip("a8.npy", s8, 8, "(1, 2, 1, 2, 1, 2, 1, 3)");
    round_trip("big.npy", big, 2, "(17, 123)");
    round_trip("a3.npy", s1, 1, "(7,)"); /* overwrite */
}

static void test_writer_failures(void **state) {
    (void)state;
    char path[256], tmp[300];
    const float x[4] = {1, 2, 3, 4};
    const int64_t s[1] = {4}, neg[2] = {2, -2};
    path_in(path, sizeof path, "keep.npy");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("old", fp);
    fclose(fp);
    assert_status(clvit_npy_write_f32(path, x, neg, 2), CLVIT_ERR_INVALID_ARG, "neg");
    assert_status(clvit_npy_write_f32(path, x, s, 9), CLVIT_ERR_INVALID_ARG, "ndim 9");
    assert_status(clvit_npy_write_f32(path, x, s, -1), CLVIT_ERR_INVALID_ARG, "ndim -1");
    assert_status(clvit_npy_write_f32(path, NULL, s, 1), CLVIT_ERR_INVALID_ARG, "no data");
    size_t size;
    unsigned char *b = read_bytes(path, &size);
    assert_int_equal(size, 3);
    assert_memory_equal(b, "old", 3);
    free(b);

    path_in(path, sizeof path, "isadir.npy");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_status(clvit_npy_write_f32(path, x, s, 1), CLVIT_ERR_IO, "rename over dir");
    assert_false(file_exists(tmp));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));

    path_in(path, sizeof path, "no/such/dir.npy");
    assert_status(clvit_npy_write_f32(path, x, s, 1), CLVIT_ERR_IO, "no dir");
}

/* ---------------------------------------------------------------- hand-made good files */

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void test_f8_and_versions(void **state) {
    (void)state;
    char path[256];
    float *y = NULL;
    int64_t shape[CLVIT_NPY_MAX_DIMS];
    int ndim = 0;

    /* '<f8', version 1.0, numpy's own padding */
    const double d[6] = {0.1, -2.5, 1e10, 0.0, 1e-50, -123456.789};
    unsigned char le[48];
    for (int i = 0; i < 6; i++) {
        uint64_t u;
        memcpy(&u, &d[i], 8);
        for (int k = 0; k < 8; k++)
            le[8 * i + k] = (unsigned char)(u >> (8 * k));
    }
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%-117s\n",
             "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }");
    assert_int_equal((10 + strlen(hdr)) % 64, 0);
    path_in(path, sizeof path, "f8.npy");
    make_npy(path, NULL, 1, 0, hdr, -1, le, sizeof le);
    assert_status(clvit_npy_read_f32(path, &y, shape, &ndim), CLVIT_SUCCESS, "f8");
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    for (int i = 0; i < 6; i++)
        if (bits(y[i]) != bits((float)d[i]))
            fail_msg("f8[%d]: %a, want %a", i, (double)y[i], (double)(float)d[i]);
    free(y);

    /* versions 2.0 and 3.0 (u32 header length), double quotes, other key order */
    const float f[3] = {1.5f, -0.0f, 3e38f};
    const int majors[2] = {2, 3};
    for (int v = 0; v < 2; v++) {
        path_in(path, sizeof path, majors[v] == 2 ? "v2.npy" : "v3.npy");
        make_npy(path, NULL, majors[v], 0,
                 "{\"shape\": (3,), \"descr\": \"<f4\", \"fortran_order\": False}    \n", -1, f,
                 sizeof f);
        y = NULL;
        assert_status(clvit_npy_read_f32(path, &y, shape, &ndim), CLVIT_SUCCESS, path);
        assert_int_equal(ndim, 1);
        assert_int_equal(shape[0], 3);
        assert_memory_equal(y, f, sizeof f);
        free(y);
    }

    /* Python 2 long suffix, scalar, zero-size */
    path_in(path, sizeof path, "py2.npy");
    make_npy(path, NULL, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }\n", -1,
             f, sizeof f);
    y = NULL;
    assert_status(clvit_npy_read_f32(path, &y, shape, &ndim), CLVIT_SUCCESS, "py2");
    assert_int_equal(ndim, 1);
    assert_int_equal(shape[0], 3);
    free(y);

    path_in(path, sizeof path, "scalar.npy");
    make_npy(path, NULL, 1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}\n", -1, le,
             8);
    y = NULL;
    assert_status(clvit_npy_read_f32(path, &y, shape, &ndim), CLVIT_SUCCESS, "scalar");
    assert_int_equal(ndim, 0);
    assert_true(y[0] == (float)0.1);
    free(y);

    path_in(path, sizeof path, "zero.npy");
    make_npy(path, NULL, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }\n", -1,
             NULL, 0);
    y = NULL;
    assert_status(clvit_npy_read_f32(path, &y, shape, &ndim), CLVIT_SUCCESS, "zero");
    assert_non_null(y);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[1], 0);
    free(y);
}

/* ---------------------------------------------------------------- malformed files */

#define H(descr, fortran, shape)                                                                   \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }\n"

static const struct {
    const char *label, *header;
    size_t data_len;
    clvit_status want;
    const char *msg;
} bad_headers[] = {
    {"fortran", H("<f4", "True", "(2, 3)"), 24, CLVIT_ERR_UNSUPPORTED, "Fortran"},
    {"big_endian", H(">f4", "False", "(2, 3)"), 24, CLVIT_ERR_UNSUPPORTED,
     "big-endian dtype '>f4'"},
    {"big_endian_f8", H(">f8", "False", "(2,)"), 16, CLVIT_ERR_UNSUPPORTED, "big-endian"},
    {"int_dtype", H("<i4", "False", "(2, 3)"), 24, CLVIT_ERR_UNSUPPORTED, "dtype '<i4'"},
    {"int64_dtype", H("<i8", "False", "(3,)"), 24, CLVIT_ERR_UNSUPPORTED, "'<i8'"},
    {"half_dtype", H("<f2", "False", "(4,)"), 8, CLVIT_ERR_UNSUPPORTED, "'<f2'"},
    {"object_dtype", H("|O", "False", "(2,)"), 16, CLVIT_ERR_UNSUPPORTED, "'|O'"},
    {"structured", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8,
     CLVIT_ERR_UNSUPPORTED, "structured"},
    {"truncated", H("<f4", "False", "(4,)"), 12, CLVIT_ERR_FORMAT, "truncated"},
    {"truncated_f8", H("<f8", "False", "(2, 2)"), 31, CLVIT_ERR_FORMAT, "needs 32 data bytes"},
    {"no_data", H("<f4", "False", "(1,)"), 0, CLVIT_ERR_FORMAT, "truncated"},
    {"trailing", H("<f4", "False", "(2,)"), 12, CLVIT_ERR_FORMAT, "trailing"},
    {"shape_overflow", H("<f4", "False", "(4294967296, 4294967296, 4294967296)"), 8,
     CLVIT_ERR_FORMAT, "shape product overflows"},
    {"bytes_overflow", H("<f8", "False", "(4611686018427387904,)"), 8, CLVIT_ERR_FORMAT,
     "data size overflows"},
    {"dim_overflow", H("<f4", "False", "(99999999999999999999999,)"), 8, CLVIT_ERR_FORMAT,
     "dimension overflows"},
    {"negative_dim", H("<f4", "False", "(-1,)"), 0, CLVIT_ERR_FORMAT, "negative"},
    {"float_dim", H("<f4", "False", "(1.5,)"), 4, CLVIT_ERR_FORMAT, "','"},
    {"not_tuple", H("<f4", "False", "(3)"), 12, CLVIT_ERR_FORMAT, "not a tuple"},
    {"shape_list", H("<f4", "False", "[3]"), 12, CLVIT_ERR_FORMAT, "'('"},
    {"rank_9", H("<f4", "False", "(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4, CLVIT_ERR_UNSUPPORTED,
     "more than 8"},
    {"fortran_bad", H("<f4", "0", "(1,)"), 4, CLVIT_ERR_FORMAT, "True or False"},
    {"missing_shape", "{'descr': '<f4', 'fortran_order': False, }\n", 0, CLVIT_ERR_FORMAT,
     "missing 'shape'"},
    {"missing_descr", "{'fortran_order': False, 'shape': (1,), }\n", 4, CLVIT_ERR_FORMAT,
     "missing 'descr'"},
    {"extra_key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", 4,
     CLVIT_ERR_FORMAT, "unexpected key 'x'"},
    {"duplicate_key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}\n",
     4, CLVIT_ERR_FORMAT, "twice"},
    {"not_dict", "['descr', '<f4']\n", 0, CLVIT_ERR_FORMAT, "'{'"},
    {"unterminated_dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)\n", 4,
     CLVIT_ERR_FORMAT, "expected"},
    {"unterminated_string", "{'descr: <f4\n", 0, CLVIT_ERR_FORMAT, "unterminated"},
    {"missing_comma", "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}\n", 4,
     CLVIT_ERR_FORMAT, "expected ',' or '}'"},
    {"after_dict", H("<f4", "False", "(1,)") "x", 4, CLVIT_ERR_FORMAT, "after the closing"},
    {"empty_header", "", 0, CLVIT_ERR_FORMAT, "'{'"},
};

static void test_bad_headers(void **state) {
    (void)state;
    char path[256];
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        path_in(path, sizeof path, bad_headers[i].label);
        make_npy(path, NULL, 1, 0, bad_headers[i].header, -1, NULL, bad_headers[i].data_len);
        expect_read_fails(path, bad_headers[i].want, bad_headers[i].msg, bad_headers[i].label);
        /* the same header as version 2.0 must be judged the same way */
        make_npy(path, NULL, 2, 0, bad_headers[i].header, -1, NULL, bad_headers[i].data_len);
        expect_read_fails(path, bad_headers[i].want, bad_headers[i].msg, bad_headers[i].label);
    }
}

static void test_bad_files(void **state) {
    (void)state;
    char path[256];
    const char *good = H("<f4", "False", "(2,)");

    path_in(path, sizeof path, "bad_magic.npy");
    make_npy(path, "\x93NUMPX", 1, 0, good, -1, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "bad magic", "bad magic");
    make_npy(path, "PK\x03\x04\x00\x00", 1, 0, good, -1, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "bad magic", "zip magic");

    path_in(path, sizeof path, "bad_version.npy");
    make_npy(path, NULL, 4, 0, good, -1, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "version 4.0", "version 4.0");
    make_npy(path, NULL, 1, 1, good, -1, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "version 1.1", "version 1.1");
    make_npy(path, NULL, 0, 0, good, -1, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "version 0.0", "version 0.0");

    path_in(path, sizeof path, "hlen_past_eof.npy");
    make_npy(path, NULL, 1, 0, good, 60000, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "header length 60000 runs past the end",
                      "hlen past eof");
    make_npy(path, NULL, 2, 0, good, 0xFFFFFFFFLL, NULL, 8);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "runs past the end", "hlen u32 max");

    /* header length that fits the file but not the cap */
    path_in(path, sizeof path, "hlen_cap.npy");
    size_t big = (size_t)2 << 20;
    char *bighdr = malloc(big + 1);
    assert_non_null(bighdr);
    memset(bighdr, ' ', big);
    bighdr[big] = '\0';
    memcpy(bighdr, good, strlen(good) - 1);
    make_npy(path, NULL, 2, 0, bighdr, -1, NULL, 8);
    free(bighdr);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "limit", "hlen cap");

    path_in(path, sizeof path, "empty.npy");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fclose(fp);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "too short", "empty file");
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("\x93NUMPY\x01", 1, 7, fp);
    fclose(fp);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "too short", "7 bytes");
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("\x93NUMPY\x02\x00\x10\x00", 1, 10, fp);
    fclose(fp);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "header length", "v2 cut in length");

    path_in(path, sizeof path, "nul.npy");
    const char nulhdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\0\n";
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite("\x93NUMPY\x01\x00", 1, 8, fp);
    unsigned char hl[2] = {(unsigned char)(sizeof nulhdr - 1), 0};
    fwrite(hl, 1, 2, fp);
    fwrite(nulhdr, 1, sizeof nulhdr - 1, fp);
    fwrite("\0\0\0\0\0\0\0\0", 1, 8, fp);
    fclose(fp);
    expect_read_fails(path, CLVIT_ERR_FORMAT, "NUL", "nul in header");

    path_in(path, sizeof path, "missing.npy");
    expect_read_fails(path, CLVIT_ERR_IO, "cannot open", "missing");
    expect_read_fails(tmpdir, CLVIT_ERR_IO, "not a regular file", "directory");

    float *y = NULL;
    int64_t shape[CLVIT_NPY_MAX_DIMS];
    int ndim;
    assert_status(clvit_npy_read_f32(NULL, &y, shape, &ndim), CLVIT_ERR_INVALID_ARG, "null path");
}

/* A valid file cut short anywhere must be refused. */
static void test_truncated_everywhere(void **state) {
    (void)state;
    char path[256], cut[256];
    path_in(path, sizeof path, "trunc_src.npy");
    path_in(cut, sizeof cut, "trunc.npy");
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const int64_t s[2] = {2, 3};
    assert_status(clvit_npy_write_f32(path, x, s, 2), CLVIT_SUCCESS, "write");
    size_t size;
    unsigned char *b = read_bytes(path, &size);
    for (size_t n = 0; n < size; n++) {
        FILE *fp = fopen(cut, "wb");
        assert_non_null(fp);
        if (n > 0) assert_int_equal(fwrite(b, 1, n, fp), n);
        fclose(fp);
        float *y = (float *)(uintptr_t)1;
        int64_t shape[CLVIT_NPY_MAX_DIMS];
        int ndim;
        clvit_status st = clvit_npy_read_f32(cut, &y, shape, &ndim);
        if (st != CLVIT_ERR_FORMAT) fail_msg("cut at %zu of %zu: status %d", n, size, st);
        assert_null(y);
    }
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_writer_failures),
        cmocka_unit_test(test_f8_and_versions), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_files),       cmocka_unit_test(test_truncated_everywhere),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
