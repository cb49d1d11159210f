/*
 * test_host_safetensors.c - safetensors reader/writer: round trips (F32, I64, scalars, empty
 * tensors, metadata), exact F16/BF16/F64/I32/U8 conversion on hand-made bytes, atomic
 * writes (a failed one, a file-size limit included, keeps the old file; the path check made
 * before a long run), and one test per kind of malformed file, each run both from a file on disk
 * (clvit_st_open) and from memory (clvit_st_parse). Files live in a mkdtemp dir under /tmp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len > 0) assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
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

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* u64 LE length field | header | data_len bytes of data (zeros when data is NULL). */
static unsigned char *make_st_bytes(uint64_t len_field, const char *header, size_t hlen,
                                    const void *data, size_t data_len, size_t *size) {
    *size = 8 + hlen + data_len;
    unsigned char *b = calloc(*size + 1, 1);
    assert_non_null(b);
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)(len_field >> (8 * k));
    memcpy(b + 8, header, hlen);
    if (data) memcpy(b + 8 + hlen, data, data_len);
    return b;
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

/* Runs bytes through both entry points and checks status and message. */
static void expect_bad(const char *label, const unsigned char *bytes, size_t size,
                       clvit_status want, const char *msg) {
    char path[256];
    path_in(path, sizeof path, label);
    write_bytes(path, bytes, size);

    clvit_st_file *f = (clvit_st_file *)(uintptr_t)1;
    clvit_clear_error();
    assert_status(clvit_st_open(path, &f), want, label);
    assert_null(f);
    assert_msg_has(path, label);
    if (msg) assert_msg_has(msg, label);

    f = (clvit_st_file *)(uintptr_t)1;
    clvit_clear_error();
    assert_status(clvit_st_parse(bytes, size, label, &f), want, label);
    assert_null(f);
    assert_msg_has(label, label);
    if (msg) assert_msg_has(msg, label);
    unlink(path);
}

static void expect_bad_header(const char *label, const char *header, size_t data_len,
                              clvit_status want, const char *msg) {
    size_t size;
    unsigned char *b = make_st_bytes(strlen(header), header, strlen(header), NULL, data_len, &size);
    expect_bad(label, b, size, want, msg);
    free(b);
}

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/clvit-st-XXXXXX");
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

static void test_round_trip(void **state) {
    (void)state;
    char path[256];
    path_in(path, sizeof path, "rt.safetensors");
    const float w[6] = {1.0f, -2.5f, 3.25f, 1e-30f, -0.0f, 65504.5f};
    const int64_t pos[4] = {-3, 0, 5, (int64_t)1 << 40};
    const float scalar = 2.5f;
    clvit_st_entry e[4] = {
        {"blocks.0.attn.qkv.weight", CLVIT_DT_F32, 2, {2, 3}, w},
        {"pos_ids", CLVIT_DT_I64, 1, {4}, pos},
        {"scalar", CLVIT_DT_F32, 0, {0}, &scalar},
        {"empty", CLVIT_DT_F32, 2, {0, 5}, NULL},
    };
    const char *keys[2] = {"arch", "note"};
    const char *vals[2] = {"vit_tiny_patch16_224",
                           "quote \" backslash \\ newline \n utf8 \xc3\xa9"};
    assert_status(clvit_st_write(path, e, 4, keys, vals, 2), CLVIT_SUCCESS, "write");

    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(file_exists(tmp));

    /* raw layout: header length multiple of 8, __metadata__ first, space padding */
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--)
        hlen = (hlen << 8) | raw[k];
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(size, 8 + hlen + sizeof w + sizeof pos + sizeof scalar);
    assert_memory_equal(raw + 8, "{\"__metadata__\":", 16);
    size_t jend = 8 + (size_t)hlen;
    while (raw[jend - 1] == ' ')
        jend--;
    assert_int_equal(raw[jend - 1], '}');
    assert_true(8 + hlen - jend < 8);
    free(raw);

    clvit_st_file *f = NULL;
    assert_status(clvit_st_open(path, &f), CLVIT_SUCCESS, "open");
    assert_non_null(f);
    assert_int_equal(f->num_tensors, 4);
    assert_int_equal(f->data_size, sizeof w + sizeof pos + sizeof scalar);
    size_t expect_begin = 0;
    for (int i = 0; i < 4; i++) {
        const clvit_st_tensor *t = &f->tensors[i];
        assert_string_equal(t->name, e[i].name);
        assert_int_equal(t->dtype, e[i].dtype);
        assert_int_equal(t->ndim, e[i].ndim);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            assert_int_equal(t->shape[d], e[i].shape[d]);
            numel *= e[i].shape[d];
        }
        assert_int_equal(t->numel, numel);
        assert_int_equal(t->begin, expect_begin); /* contiguous, in the order given */
        expect_begin = t->end;
        assert_ptr_equal(clvit_st_find(f, e[i].name), t);
    }
    assert_null(clvit_st_find(f, "missing"));
    assert_null(clvit_st_find(f, "blocks.0"));

    const clvit_st_tensor *t = clvit_st_find(f, "blocks.0.attn.qkv.weight");
    float got[6];
    assert_status(clvit_st_read_f32(f, t, got), CLVIT_SUCCESS, "read w");
    assert_memory_equal(got, w, sizeof w); /* bit-exact, including -0.0 */
    assert_memory_equal(f->data + t->begin, w, sizeof w);

    t = clvit_st_find(f, "pos_ids");
    int64_t rawpos[4];
    memcpy(rawpos, f->data + t->begin, sizeof rawpos);
    assert_memory_equal(rawpos, pos, sizeof pos);
    float posf[4];
    assert_status(clvit_st_read_f32(f, t, posf), CLVIT_SUCCESS, "read pos");
    for (int i = 0; i < 4; i++)
        assert_true(posf[i] == (float)pos[i]);

    float s = 0;
    assert_status(clvit_st_read_f32(f, clvit_st_find(f, "scalar"), &s), CLVIT_SUCCESS, "scalar");
    assert_true(s == 2.5f);
    t = clvit_st_find(f, "empty");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->begin, t->end);
    assert_status(clvit_st_read_f32(f, t, NULL), CLVIT_SUCCESS, "empty");

    assert_int_equal(f->num_meta, 2);
    assert_string_equal(clvit_st_meta(f, "arch"), vals[0]);
    assert_string_equal(clvit_st_meta(f, "note"), vals[1]);
    assert_null(clvit_st_meta(f, "nope"));
    clvit_st_close(f);

    /* overwriting replaces the file */
    const float w2[1] = {7.0f};
    clvit_st_entry e2 = {"only", CLVIT_DT_F32, 1, {1}, w2};
    assert_status(clvit_st_write(path, &e2, 1, NULL, NULL, 0), CLVIT_SUCCESS, "rewrite");
    assert_status(clvit_st_open(path, &f), CLVIT_SUCCESS, "reopen");
    assert_int_equal(f->num_tensors, 1);
    assert_int_equal(f->num_meta, 0);
    assert_string_equal(f->tensors[0].name, "only");
    assert_false(file_exists(tmp));
    clvit_st_close(f);

    /* a file with no tensors at all is valid */
    assert_status(clvit_st_write(path, NULL, 0, NULL, NULL, 0), CLVIT_SUCCESS, "write empty");
    assert_status(clvit_st_open(path, &f), CLVIT_SUCCESS, "open empty");
    assert_int_equal(f->num_tensors, 0);
    assert_int_equal(f->data_size, 0);
    clvit_st_close(f);
    clvit_st_close(NULL);
}

static void test_writer_failures(void **state) {
    (void)state;
    char path[256], tmp[300];
    path_in(path, sizeof path, "keep.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(path, "old", 3);
    const float w[2] = {1, 2};

    clvit_st_entry bad_dtype = {"w", CLVIT_DT_F16, 1, {2}, w};
    assert_status(clvit_st_write(path, &bad_dtype, 1, NULL, NULL, 0), CLVIT_ERR_INVALID_ARG,
                  "F16 write");
    clvit_st_entry dup[2] = {{"w", CLVIT_DT_F32, 1, {2}, w}, {"w", CLVIT_DT_F32, 1, {2}, w}};
    assert_status(clvit_st_write(path, dup, 2, NULL, NULL, 0), CLVIT_ERR_INVALID_ARG, "dup");
    clvit_st_entry neg = {"w", CLVIT_DT_F32, 1, {-2}, w};
    assert_status(clvit_st_write(path, &neg, 1, NULL, NULL, 0), CLVIT_ERR_INVALID_ARG, "neg");
    clvit_st_entry nodata = {"w", CLVIT_DT_F32, 1, {2}, NULL};
    assert_status(clvit_st_write(path, &nodata, 1, NULL, NULL, 0), CLVIT_ERR_INVALID_ARG, "nodata");
    clvit_st_entry meta = {"__metadata__", CLVIT_DT_F32, 1, {2}, w};
    assert_status(clvit_st_write(path, &meta, 1, NULL, NULL, 0), CLVIT_ERR_INVALID_ARG, "meta");
    const char *k2[2] = {"a", "a"}, *v2[2] = {"1", "2"};
    clvit_st_entry ok = {"w", CLVIT_DT_F32, 1, {2}, w};
    assert_status(clvit_st_write(path, &ok, 1, k2, v2, 2), CLVIT_ERR_INVALID_ARG, "dup meta");
    const char *vnull[1] = {NULL};
    assert_status(clvit_st_write(path, &ok, 1, k2, vnull, 1), CLVIT_ERR_INVALID_ARG, "null meta");

    size_t size;
    unsigned char *b = read_bytes(path, &size);
    assert_int_equal(size, 3);
    assert_memory_equal(b, "old", 3);
    free(b);
    assert_false(file_exists(tmp));

    /* rename over a directory fails late: the tmp file must be removed, the target kept */
    char dir[256], dirtmp[300];
    path_in(dir, sizeof dir, "isadir.safetensors");
    snprintf(dirtmp, sizeof dirtmp, "%s.tmp", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_status(clvit_st_write(dir, &ok, 1, NULL, NULL, 0), CLVIT_ERR_IO, "rename");
    assert_false(file_exists(dirtmp));
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));

    char nodir[256];
    path_in(nodir, sizeof nodir, "no/such/dir.safetensors");
    assert_status(clvit_st_write(nodir, &ok, 1, NULL, NULL, 0), CLVIT_ERR_IO, "no dir");
}

/* A file-size limit (RLIMIT_FSIZE, `ulimit -f`) hit while writing, with SIGXFSZ ignored as
 * the clvit command does: write() fails with EFBIG, the error names the reason, the old file
 * is byte for byte what it was and no temporary file stays. The same path as a full disk
 * (ENOSPC). */
static void test_writer_size_limit(void **state) {
    (void)state;
    char path[256], tmp[300];
    path_in(path, sizeof path, "limited.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const float small[4] = {1, 2, 3, 4};
    clvit_st_entry e = {"w", CLVIT_DT_F32, 1, {4}, small};
    assert_status(clvit_st_write(path, &e, 1, NULL, NULL, 0), CLVIT_SUCCESS, "first write");
    size_t old_size;
    unsigned char *old = read_bytes(path, &old_size);

    enum { N = 1 << 16 }; /* 256 KiB of data, over the 64 KiB limit below */
    float *big = calloc(N, sizeof *big);
    assert_non_null(big);
    clvit_st_entry eb = {"w", CLVIT_DT_F32, 1, {N}, big};
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    const clvit_status st = clvit_st_write(path, &eb, 1, NULL, NULL, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);
    free(big);
    assert_status(st, CLVIT_ERR_IO, "write over the size limit");
    assert_msg_has(strerror(EFBIG), "the error names EFBIG");
    size_t size;
    unsigned char *now = read_bytes(path, &size);
    assert_int_equal(size, old_size);
    assert_memory_equal(now, old, size);
    assert_false(file_exists(tmp));
    free(now);
    free(old);
}

/* clvit_atomic_check: a writable path passes and nothing is left behind (an existing file is
 * not touched); a missing directory, a directory as the path, and a directory that cannot be
 * written each fail with the reason. */
static void test_atomic_check(void **state) {
    (void)state;
    char path[256], tmp[300];
    path_in(path, sizeof path, "check.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_status(clvit_atomic_check(path), CLVIT_SUCCESS, "new file");
    assert_false(file_exists(path));
    assert_false(file_exists(tmp));
    write_bytes(path, "keep", 4);
    assert_status(clvit_atomic_check(path), CLVIT_SUCCESS, "existing file");
    size_t size;
    unsigned char *b = read_bytes(path, &size);
    assert_int_equal(size, 4);
    assert_memory_equal(b, "keep", 4);
    free(b);
    assert_false(file_exists(tmp));

    char nodir[256];
    path_in(nodir, sizeof nodir, "no/such/dir.safetensors");
    assert_status(clvit_atomic_check(nodir), CLVIT_ERR_IO, "missing directory");
    assert_msg_has(strerror(ENOENT), "missing directory: reason");
    char dir[256];
    path_in(dir, sizeof dir, "adir");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_status(clvit_atomic_check(dir), CLVIT_ERR_IO, "a directory");
    assert_msg_has("is a directory", "a directory: reason");
    /* a directory nobody may write: a read-only one (root may write those anyway), else /sys
     * (sysfs refuses new files to root too) */
    char ro[256];
    path_in(ro, sizeof ro, "readonly");
    assert_int_equal(mkdir(ro, 0500), 0);
    char in_ro[300];
    snprintf(in_ro, sizeof in_ro, "%s/ck.safetensors", geteuid() == 0 ? "/sys" : ro);
    assert_status(clvit_atomic_check(in_ro), CLVIT_ERR_IO, "unwritable directory");
    assert_msg_has("cannot create", "unwritable directory: reason");
    assert_int_equal(rmdir(ro), 0);
    assert_status(clvit_atomic_check(""), CLVIT_ERR_INVALID_ARG, "empty path");
}

/* ---------------------------------------------------------------- conversions */

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static void test_conversions(void **state) {
    (void)state;
    static const uint16_t h16[] = {0x3C00, 0xC000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00,
                                   0xFC00, 0x7E00, 0x8000, 0x8001, 0x3555, 0x0200, 0x7C01};
    const float h16_want[] = {1.0f,
                              -2.0f,
                              ldexpf(1.0f, -24),
                              ldexpf(1023.0f, -24),
                              ldexpf(1.0f, -14),
                              65504.0f,
                              INFINITY,
                              -INFINITY,
                              0.0f /* NaN: bits checked below */,
                              -0.0f,
                              -ldexpf(1.0f, -24),
                              0.333251953125f,
                              ldexpf(1.0f, -15),
                              0.0f /* signalling NaN with payload 1 */};
    static const uint16_t b16[] = {0x3F80, 0xC000, 0x0001, 0x807F, 0x7F80,
                                   0xFF80, 0x7FC1, 0x4049, 0x7F7F, 0x8000};
    const double f64[] = {0.1, -3.5, 1e-50, 123456789.0};
    const int32_t i32[] = {-7, 2147483647, 0};
    const uint8_t u8[] = {0, 255, 17};
    enum { N16 = sizeof h16 / 2, NB = sizeof b16 / 2 };

    unsigned char data[256];
    size_t off = 0;
    for (int i = 0; i < N16; i++) {
        data[off++] = (unsigned char)(h16[i] & 0xff);
        data[off++] = (unsigned char)(h16[i] >> 8);
    }
    for (int i = 0; i < NB; i++) {
        data[off++] = (unsigned char)(b16[i] & 0xff);
        data[off++] = (unsigned char)(b16[i] >> 8);
    }
    for (int i = 0; i < 4; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        for (int k = 0; k < 8; k++)
            data[off++] = (unsigned char)(u >> (8 * k));
    }
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++)
            data[off++] = (unsigned char)((uint32_t)i32[i] >> (8 * k));
    for (int i = 0; i < 3; i++)
        data[off++] = u8[i];
    assert_int_equal(off, 28 + 20 + 32 + 12 + 3);

    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[14],\"data_offsets\":[0,28]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,5],\"data_offsets\":[28,48]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[48,80]},"
                      "\"i\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[80,92]},"
                      "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[92,95]}}";
    size_t size;
    unsigned char *file = make_st_bytes(strlen(hdr), hdr, strlen(hdr), data, off, &size);
    clvit_st_file *f = NULL;
    assert_status(clvit_st_parse(file, size, "conv", &f), CLVIT_SUCCESS, "parse");
    free(file);

    float got[16];
    assert_status(clvit_st_read_f32(f, clvit_st_find(f, "h"), got), CLVIT_SUCCESS, "F16");
    for (int i = 0; i < N16; i++) {
        if (i == 8) {
            assert_true(isnan(got[i]));
            assert_int_equal(bits(got[i]), 0x7FC00000u);
        } else if (i == 13) {
            assert_true(isnan(got[i]));
            assert_int_equal(bits(got[i]), 0x7F802000u); /* payload kept, not made quiet */
        } else if (bits(got[i]) != bits(h16_want[i])) {
            fail_msg("F16 0x%04x -> %a (0x%08x), want %a (0x%08x)", h16[i], (double)got[i],
                     bits(got[i]), (double)h16_want[i], bits(h16_want[i]));
        }
    }
    assert_status(clvit_st_read_f32(f, clvit_st_find(f, "b"), got), CLVIT_SUCCESS, "BF16");
    for (int i = 0; i < NB; i++)
        if (bits(got[i]) != (uint32_t)b16[i] << 16)
            fail_msg("BF16 0x%04x -> 0x%08x", b16[i], bits(got[i]));
    assert_true(got[0] == 1.0f && got[2] == ldexpf(1.0f, -133) && isinf(got[4]));
    assert_true(got[7] == 3.140625f && isnan(got[6]) && signbit(got[9]));

    assert_status(clvit_st_read_f32(f, clvit_st_find(f, "d"), got), CLVIT_SUCCESS, "F64");
    for (int i = 0; i < 4; i++)
        assert_int_equal(bits(got[i]), bits((float)f64[i]));
    assert_status(clvit_st_read_f32(f, clvit_st_find(f, "i"), got), CLVIT_SUCCESS, "I32");
    assert_true(got[0] == -7.0f && got[1] == 2147483648.0f && got[2] == 0.0f);
    assert_status(clvit_st_read_f32(f, clvit_st_find(f, "u"), got), CLVIT_SUCCESS, "U8");
    assert_true(got[0] == 0.0f && got[1] == 255.0f && got[2] == 17.0f);

    /* a tensor record that does not describe this file is refused */
    clvit_st_tensor forged = f->tensors[0];
    forged.end = f->data_size + 2;
    assert_status(clvit_st_read_f32(f, &forged, got), CLVIT_ERR_INVALID_ARG, "forged");
    clvit_st_close(f);
}

/* Headers the reader must accept: padding, empty object, scalars, unknown keys, null meta. */
static void test_lenient_valid(void **state) {
    (void)state;
    const char *hdr = "  {\"__metadata__\":null,\"s\":{\"dtype\":\"F32\",\"shape\":[],"
                      "\"data_offsets\":[0,4],\"extra\":1},"
                      "\"z\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[4,4]}}   \n";
    const float one = 1.0f;
    size_t size;
    unsigned char *b = make_st_bytes(strlen(hdr), hdr, strlen(hdr), &one, 4, &size);
    clvit_st_file *f = NULL;
    assert_status(clvit_st_parse(b, size, "lenient", &f), CLVIT_SUCCESS, "lenient");
    assert_int_equal(f->num_tensors, 2);
    assert_int_equal(f->tensors[0].ndim, 0);
    assert_int_equal(f->tensors[0].numel, 1);
    assert_int_equal(f->tensors[1].numel, 0);
    assert_int_equal(f->num_meta, 0);
    clvit_st_close(f);
    free(b);

    b = make_st_bytes(2, "{}", 2, NULL, 0, &size);
    assert_status(clvit_st_parse(b, size, "emptyobj", &f), CLVIT_SUCCESS, "{}");
    assert_int_equal(f->num_tensors, 0);
    clvit_st_close(f);
    free(b);
}

/* ---------------------------------------------------------------- malformed files */

static void test_bad_lengths(void **state) {
    (void)state;
    expect_bad("empty", (const unsigned char *)"", 0, CLVIT_ERR_FORMAT, "too short");
    expect_bad("short5", (const unsigned char *)"\x10\0\0\0\0", 5, CLVIT_ERR_FORMAT, "too short");

    const char *hdr = "{}";
    size_t size;
    unsigned char *b = make_st_bytes(64, hdr, 2, NULL, 0, &size);
    expect_bad("hlen_past_eof", b, size, CLVIT_ERR_FORMAT, "header length 64");
    free(b);
    b = make_st_bytes((uint64_t)1 << 60, hdr, 2, NULL, 0, &size);
    expect_bad("hlen_2e60", b, size, CLVIT_ERR_FORMAT, "header length 1152921504606846976");
    free(b);
    b = make_st_bytes(UINT64_MAX, hdr, 2, NULL, 0, &size);
    expect_bad("hlen_max", b, size, CLVIT_ERR_FORMAT, "header length");
    free(b);
    b = make_st_bytes(0, hdr, 2, NULL, 0, &size);
    expect_bad("hlen_zero", b, size, CLVIT_ERR_FORMAT, "header length 0");
    free(b);

    /* header length within the file but above the cap */
    size_t big = (size_t)101 * 1024 * 1024;
    char *bighdr = malloc(big);
    assert_non_null(bighdr);
    memset(bighdr, ' ', big);
    bighdr[0] = '{';
    bighdr[big - 1] = '}';
    b = make_st_bytes(big, bighdr, big, NULL, 0, &size);
    free(bighdr);
    clvit_st_file *f = NULL;
    assert_status(clvit_st_parse(b, size, "cap", &f), CLVIT_ERR_FORMAT, "cap");
    assert_msg_has("limit", "cap");
    assert_null(f);
    free(b);

    /* header with a NUL byte inside */
    const char nul[] = "{\"a\":\"x\0y\"}";
    b = make_st_bytes(sizeof nul - 1, nul, sizeof nul - 1, NULL, 0, &size);
    expect_bad("nul_in_header", b, size, CLVIT_ERR_FORMAT, "NUL");
    free(b);

    char missing[256];
    path_in(missing, sizeof missing, "does-not-exist.safetensors");
    f = (clvit_st_file *)(uintptr_t)1;
    assert_status(clvit_st_open(missing, &f), CLVIT_ERR_IO, "missing file");
    assert_null(f);
    assert_status(clvit_st_open(tmpdir, &f), CLVIT_ERR_IO, "directory");
    assert_null(f);
}

#define T(body) "{\"w\":{" body "}}"
#define F32_2 "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"

static const struct {
    const char *label, *header;
    size_t data_len;
    clvit_status want;
    const char *msg;
} bad_headers[] = {
    {"not_json", "this is not json", 0, CLVIT_ERR_FORMAT, "not valid JSON"},
    {"json_cut", "{\"w\":{\"dtype\":", 0, CLVIT_ERR_FORMAT, "not valid JSON"},
    {"json_array", "[1, 2, 3]", 0, CLVIT_ERR_FORMAT, "not a JSON object"},
    {"json_string", "\"abc\"", 0, CLVIT_ERR_FORMAT, "not a JSON object"},
    {"trailing_garbage", "{} x", 0, CLVIT_ERR_FORMAT, "after the JSON"},
    {"two_objects", "{}{}", 0, CLVIT_ERR_FORMAT, "after the JSON"},
    {"entry_not_object", "{\"w\":[1,2]}", 0, CLVIT_ERR_FORMAT, "'w': entry is not a JSON object"},
    {"no_dtype", T("\"shape\":[2],\"data_offsets\":[0,8]"), 8, CLVIT_ERR_FORMAT, "'w': no 'dtype'"},
    {"no_shape", T("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, CLVIT_ERR_FORMAT,
     "'w': no 'shape'"},
    {"no_offsets", T("\"dtype\":\"F32\",\"shape\":[2]"), 8, CLVIT_ERR_FORMAT,
     "'w': no 'data_offsets'"},
    {"dtype_number", T("\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]"), 8, CLVIT_ERR_FORMAT,
     "'dtype' is not a string"},
    {"dtype_twice", T(F32_2 ",\"dtype\":\"F16\""), 8, CLVIT_ERR_FORMAT, "'dtype' appears twice"},
    {"shape_string", T("\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "'shape' is not an array"},
    {"shape_object", T("\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "'shape' is not an array"},
    {"shape_fraction", T("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "shape[0] is not a non-negative integer"},
    {"shape_dim_string", T("\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "shape[1] is not a non-negative integer"},
    {"shape_dim_huge", T("\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "shape[0]"},
    {"negative_dim", T("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "'w': negative dimension -2"},
    {"negative_dim_2", T("\"dtype\":\"F32\",\"shape\":[2,-1,-4],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "negative dimension"},
    {"shape_overflow",
     T("\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "'w': shape product overflows"},
    {"bytes_overflow",
     T("\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "'w':"},
    {"rank_9", T("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_UNSUPPORTED, "9 dimensions"},
    {"offsets_string", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0,8\""), 8,
     CLVIT_ERR_FORMAT, "'data_offsets' is not"},
    {"offsets_one", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]"), 8, CLVIT_ERR_FORMAT,
     "'data_offsets' is not"},
    {"offsets_three", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), 8,
     CLVIT_ERR_FORMAT, "'data_offsets' is not"},
    {"offsets_elem_string", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]"), 8,
     CLVIT_ERR_FORMAT, "'data_offsets' is not"},
    {"offsets_negative", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), 8,
     CLVIT_ERR_FORMAT, "'data_offsets' is not"},
    {"offsets_fraction", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7.5]"), 8,
     CLVIT_ERR_FORMAT, "'data_offsets' is not"},
    {"offsets_past_end", T("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]"), 8,
     CLVIT_ERR_FORMAT, "'w': data_offsets [0, 16] past the end of the 8-byte data section"},
    {"offsets_far", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1000000,1000008]"), 8,
     CLVIT_ERR_FORMAT, "past the end"},
    {"end_before_begin", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8,
     CLVIT_ERR_FORMAT, "'w': data_offsets end 0 < begin 8"},
    {"size_mismatch", T("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 12,
     CLVIT_ERR_FORMAT, "'w': data_offsets cover 8 bytes, but 3 elements of F32 need 12"},
    {"size_mismatch_dtype", T("\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_FORMAT, "need 4"},
    {"overlap",
     "{\"a\":{" F32_2 "},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
     CLVIT_ERR_FORMAT, "'b': bytes [4, 12) overlap tensor 'a' [0, 8)"},
    {"overlap_unsorted",
     "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
     "\"c\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
     16, CLVIT_ERR_FORMAT, "overlap"},
    {"overlap_same", "{\"a\":{" F32_2 "},\"b\":{" F32_2 "}}", 8, CLVIT_ERR_FORMAT, "overlap"},
    {"overlap_inside",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
     "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
     16, CLVIT_ERR_FORMAT, "overlap tensor 'a'"},
    {"duplicate_name",
     "{\"w\":{" F32_2 "},\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
     16, CLVIT_ERR_FORMAT, "'w': name appears twice"},
    {"unknown_dtype", T("\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]"), 2,
     CLVIT_ERR_UNSUPPORTED, "tensor 'w': dtype 'F8_E4M3' is not supported"},
    {"unknown_dtype_q4",
     "{\"blocks.3.mlp\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
     CLVIT_ERR_UNSUPPORTED, "'blocks.3.mlp': dtype 'Q4'"},
    {"dtype_lowercase", T("\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8,
     CLVIT_ERR_UNSUPPORTED, "'f32'"},
    {"meta_value_number", "{\"__metadata__\":{\"k\":\"v\",\"depth\":12}}", 0, CLVIT_ERR_FORMAT,
     "__metadata__ value for key 'depth' is not a string"},
    {"meta_value_null", "{\"__metadata__\":{\"k\":null}}", 0, CLVIT_ERR_FORMAT,
     "key 'k' is not a string"},
    {"meta_value_object", "{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", 0, CLVIT_ERR_FORMAT,
     "key 'k' is not a string"},
    {"meta_not_object", "{\"__metadata__\":\"x\"}", 0, CLVIT_ERR_FORMAT,
     "__metadata__ is not a JSON object"},
    {"meta_array", "{\"__metadata__\":[\"a\",\"b\"]}", 0, CLVIT_ERR_FORMAT,
     "__metadata__ is not a JSON object"},
    {"meta_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, CLVIT_ERR_FORMAT,
     "__metadata__ appears twice"},
    {"meta_dup_key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, CLVIT_ERR_FORMAT,
     "key 'k' appears twice"},
};

static void test_bad_headers(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++)
        expect_bad_header(bad_headers[i].label, bad_headers[i].header, bad_headers[i].data_len,
                          bad_headers[i].want, bad_headers[i].msg);
}

/* A valid file cut short anywhere must be refused; the data section covers the file to its
 * end, so even the last byte matters. */
static void test_truncated(void **state) {
    (void)state;
    char path[256];
    path_in(path, sizeof path, "trunc_src.safetensors");
    const float w[5] = {1, 2, 3, 4, 5};
    clvit_st_entry e[2] = {{"a", CLVIT_DT_F32, 1, {5}, w}, {"b", CLVIT_DT_F32, 1, {3}, w}};
    const char *k[1] = {"k"}, *v[1] = {"v"};
    assert_status(clvit_st_write(path, e, 2, k, v, 1), CLVIT_SUCCESS, "write");
    size_t size;
    unsigned char *b = read_bytes(path, &size);
    clvit_st_file *f = NULL;
    assert_status(clvit_st_parse(b, size, "full", &f), CLVIT_SUCCESS, "full");
    clvit_st_close(f);

    expect_bad("truncated_data", b, size - 4, CLVIT_ERR_FORMAT, "'b': data_offsets [20, 32]");
    expect_bad("truncated_one", b, size - 1, CLVIT_ERR_FORMAT, "past the end");
    for (size_t n = 0; n < size; n++) {
        f = (clvit_st_file *)(uintptr_t)1;
        clvit_status st = clvit_st_parse(b, n, "cut", &f);
        if (st != CLVIT_ERR_FORMAT) fail_msg("cut at %zu of %zu: status %d", n, size, st);
        assert_null(f);
    }
    free(b);
}

/* Every single-byte corruption of a valid file either parses into a consistent result or
 * fails cleanly (ASan/UBSan builds catch the rest). */
static void test_corruption(void **state) {
    (void)state;
    char path[256];
    path_in(path, sizeof path, "fuzz.safetensors");
    const float w[6] = {1, 2, 3, 4, 5, 6};
    const int64_t ids[2] = {1, 2};
    clvit_st_entry e[3] = {{"a", CLVIT_DT_F32, 2, {2, 3}, w},
                           {"b", CLVIT_DT_I64, 1, {2}, ids},
                           {"c", CLVIT_DT_F32, 0, {0}, w}};
    const char *k[1] = {"arch"}, *v[1] = {"vit"};
    assert_status(clvit_st_write(path, e, 3, k, v, 1), CLVIT_SUCCESS, "write");
    size_t size;
    unsigned char *b = read_bytes(path, &size);
    static const unsigned char flips[] = {0x01, 0x02, 0x10, 0x20, 0x80, 0xff};
    int accepted = 0, refused = 0;
    for (size_t pos = 0; pos < size; pos++) {
        for (size_t j = 0; j < sizeof flips; j++) {
            b[pos] ^= flips[j];
            clvit_st_file *f = NULL;
            clvit_status st = clvit_st_parse(b, size, "fuzz", &f);
            if (st == CLVIT_SUCCESS) {
                accepted++;
                for (int i = 0; i < f->num_tensors; i++) {
                    const clvit_st_tensor *t = &f->tensors[i];
                    assert_true(t->begin <= t->end && t->end <= f->data_size);
                    float *tmp = malloc((size_t)t->numel * sizeof(float) + 1);
                    assert_non_null(tmp);
                    assert_int_equal(clvit_st_read_f32(f, t, tmp), CLVIT_SUCCESS);
                    free(tmp);
                }
                clvit_st_close(f);
            } else {
                refused++;
                assert_true(st == CLVIT_ERR_FORMAT || st == CLVIT_ERR_UNSUPPORTED);
                assert_null(f);
            }
            b[pos] ^= flips[j];
        }
    }
    assert_true(accepted > 0 && refused > 0);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_writer_failures),
        cmocka_unit_test(test_writer_size_limit), cmocka_unit_test(test_atomic_check),
        cmocka_unit_test(test_conversions),       cmocka_unit_test(test_lenient_valid),
        cmocka_unit_test(test_bad_lengths),       cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_truncated),         cmocka_unit_test(test_corruption),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
