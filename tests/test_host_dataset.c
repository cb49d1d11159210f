/*
 * test_host_dataset.c - dataset loaders, splits, RNG, augmentation and the submission
 * writer. Small IDX files (plain and gzip'ed) and CSVs are written to a temporary directory
 * and read back; each malformed case checks the status and that the last-error message
 * names the file and the record or line. IDX layout written here: big-endian u32 magic,
 * count[, rows, cols], then the bytes. If data/mnist (scripts/fetch_data.sh) is present the
 * real MNIST and Fashion-MNIST sets are loaded too; the synthetic tests carry the coverage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "augment.h"
#include "clvit_data.h"
#include "dataset.h"

#ifndef CLVIT_SOURCE_DIR
#define CLVIT_SOURCE_DIR "."
#endif

static char tmpdir[256];

static const char *path_of(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static int setup(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/clvit_ds_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) return -1;
    return mkdir(path_of("mnist"), 0700) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    static const char *const names[] = {"img.idx",
                                        "lab.idx",
                                        "img.idx.gz",
                                        "lab.idx.gz",
                                        "badmagic.idx",
                                        "trunc.idx",
                                        "trunc.idx.gz",
                                        "trail.idx",
                                        "lab2.idx",
                                        "lab10.idx",
                                        "train.csv",
                                        "test.csv",
                                        "cols.csv",
                                        "alpha.csv",
                                        "v256.csv",
                                        "label10.csv",
                                        "header.csv",
                                        "crlf.csv",
                                        "empty.csv",
                                        "sub.csv",
                                        "mnist/train-images-idx3-ubyte",
                                        "mnist/train-labels-idx1-ubyte",
                                        "mnist/t10k-images-idx3-ubyte.gz",
                                        "mnist/t10k-labels-idx1-ubyte.gz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        remove(path_of(names[i]));
    rmdir(path_of("mnist"));
    return rmdir(tmpdir);
}

/* ---------------------------------------------------------------- writers */

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void write_bytes(const char *path, const void *data, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

/* Image i pixel (r, c) = (i * 31 + r * 7 + c) & 255. extra > 0 appends bytes, < 0 drops. */
static void write_images(const char *path, uint32_t magic, int count, int rows, int cols, int extra,
                         int gz) {
    size_t n = 16 + (size_t)count * rows * cols;
    uint8_t *d = calloc(n + 16, 1);
    assert_non_null(d);
    put32(d, magic);
    put32(d + 4, (uint32_t)count);
    put32(d + 8, (uint32_t)rows);
    put32(d + 12, (uint32_t)cols);
    for (int i = 0; i < count; i++)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                d[16 + ((size_t)i * rows + r) * cols + c] = (uint8_t)((i * 31 + r * 7 + c) & 255);
    write_bytes(path, d, (size_t)((long)n + extra), gz);
    free(d);
}

static void write_labels(const char *path, int count, const uint8_t *labels, int gz) {
    uint8_t *d = malloc(8 + (size_t)count);
    assert_non_null(d);
    put32(d, 0x00000801);
    put32(d + 4, (uint32_t)count);
    memcpy(d + 8, labels, (size_t)count);
    write_bytes(path, d, 8 + (size_t)count, gz);
    free(d);
}

static void write_text(const char *path, const char *text) {
    write_bytes(path, text, strlen(text), 0);
}

static const uint8_t labels5[5] = {3, 0, 9, 1, 7};

static void check_synthetic(const clvit_dataset *ds, int count, int rows, int cols) {
    assert_int_equal(ds->count, count);
    assert_int_equal(ds->rows, rows);
    assert_int_equal(ds->cols, cols);
    assert_int_equal(ds->num_classes, 10);
    for (int i = 0; i < count; i++)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                assert_int_equal(ds->images[((size_t)i * rows + r) * cols + c],
                                 (i * 31 + r * 7 + c) & 255);
}

static void expect_error(clvit_status got, clvit_status want, const char *needle1,
                         const char *needle2) {
    const char *msg = clvit_last_error();
    printf("  expected error: %s\n", msg);
    assert_int_equal(got, want);
    if (needle1 && !strstr(msg, needle1)) fail_msg("'%s' does not mention '%s'", msg, needle1);
    if (needle2 && !strstr(msg, needle2)) fail_msg("'%s' does not mention '%s'", msg, needle2);
}

/* ---------------------------------------------------------------- IDX */

static void test_idx_plain_and_gz(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        const char *img = path_of(gz ? "img.idx.gz" : "img.idx");
        const char *lab = path_of(gz ? "lab.idx.gz" : "lab.idx");
        write_images(img, 0x00000803, 5, 4, 3, 0, gz);
        write_labels(lab, 5, labels5, gz);
        clvit_dataset ds;
        assert_int_equal(clvit_idx_load(img, lab, &ds), CLVIT_SUCCESS);
        check_synthetic(&ds, 5, 4, 3);
        assert_non_null(ds.labels);
        for (int i = 0; i < 5; i++)
            assert_int_equal(ds.labels[i], labels5[i]);
        clvit_dataset_free(&ds);
        assert_null(ds.images);
        assert_int_equal(ds.count, 0);

        /* unlabelled */
        assert_int_equal(clvit_idx_load(img, NULL, &ds), CLVIT_SUCCESS);
        check_synthetic(&ds, 5, 4, 3);
        assert_null(ds.labels);
        clvit_dataset_free(&ds);
    }
    clvit_dataset_free(NULL);
}

static void test_idx_malformed(void **state) {
    (void)state;
    clvit_dataset ds;
    write_labels(path_of("lab.idx"), 5, labels5, 0);

    write_images(path_of("badmagic.idx"), 0x00000801, 5, 4, 3, 0, 0);
    expect_error(clvit_idx_load(path_of("badmagic.idx"), NULL, &ds), CLVIT_ERR_FORMAT,
                 "badmagic.idx", "magic");
    assert_null(ds.images);
    /* a labels file passed as images, and the other way round */
    expect_error(clvit_idx_load(path_of("lab.idx"), NULL, &ds), CLVIT_ERR_FORMAT, "lab.idx",
                 "magic");
    write_images(path_of("img.idx"), 0x00000803, 5, 4, 3, 0, 0);
    expect_error(clvit_idx_load(path_of("img.idx"), path_of("img.idx"), &ds), CLVIT_ERR_FORMAT,
                 "img.idx", "magic");

    write_images(path_of("trunc.idx"), 0x00000803, 5, 4, 3, -7, 0);
    expect_error(clvit_idx_load(path_of("trunc.idx"), NULL, &ds), CLVIT_ERR_FORMAT, "trunc.idx",
                 "truncated");
    write_images(path_of("trunc.idx.gz"), 0x00000803, 5, 4, 3, -1, 1);
    expect_error(clvit_idx_load(path_of("trunc.idx.gz"), NULL, &ds), CLVIT_ERR_FORMAT,
                 "trunc.idx.gz", "truncated");
    /* header only, and less than a header */
    write_images(path_of("trunc.idx"), 0x00000803, 5, 4, 3, -60, 0);
    expect_error(clvit_idx_load(path_of("trunc.idx"), NULL, &ds), CLVIT_ERR_FORMAT, "trunc.idx",
                 "truncated");
    write_images(path_of("trunc.idx"), 0x00000803, 5, 4, 3, -66, 0);
    expect_error(clvit_idx_load(path_of("trunc.idx"), NULL, &ds), CLVIT_ERR_FORMAT, "trunc.idx",
                 "header");
    /* huge claimed dims must not allocate them: checked against the bytes there */
    {
        uint8_t h[16];
        put32(h, 0x00000803);
        put32(h + 4, 0x7fffffff);
        put32(h + 8, 60000);
        put32(h + 12, 60000);
        write_bytes(path_of("trunc.idx"), h, 16, 0);
        expect_error(clvit_idx_load(path_of("trunc.idx"), NULL, &ds), CLVIT_ERR_FORMAT, "trunc.idx",
                     "truncated");
    }
    write_images(path_of("trail.idx"), 0x00000803, 5, 4, 3, 3, 0);
    expect_error(clvit_idx_load(path_of("trail.idx"), NULL, &ds), CLVIT_ERR_FORMAT, "trail.idx",
                 "trailing");

    /* a gzip stream cut in the middle */
    write_images(path_of("img.idx.gz"), 0x00000803, 50, 20, 20, 0, 1);
    {
        struct stat sb;
        assert_int_equal(stat(path_of("img.idx.gz"), &sb), 0);
        assert_int_equal(truncate(path_of("img.idx.gz"), sb.st_size / 2), 0);
        expect_error(clvit_idx_load(path_of("img.idx.gz"), NULL, &ds), CLVIT_ERR_FORMAT,
                     "img.idx.gz", NULL);
    }

    /* count mismatch */
    write_labels(path_of("lab2.idx"), 4, labels5, 0);
    expect_error(clvit_idx_load(path_of("img.idx"), path_of("lab2.idx"), &ds), CLVIT_ERR_FORMAT,
                 "lab2.idx", "4 labels");
    /* label 10 at record 3 */
    const uint8_t bad[5] = {1, 2, 3, 10, 4};
    write_labels(path_of("lab10.idx"), 5, bad, 0);
    expect_error(clvit_idx_load(path_of("img.idx"), path_of("lab10.idx"), &ds), CLVIT_ERR_FORMAT,
                 "lab10.idx", "record 3");
    assert_null(ds.images);
    assert_null(ds.labels);

    expect_error(clvit_idx_load(path_of("nope.idx"), NULL, &ds), CLVIT_ERR_IO, "nope.idx", NULL);
}

static void test_dataset_open(void **state) {
    (void)state;
    const uint8_t lt[3] = {9, 8, 7};
    write_images(path_of("mnist/train-images-idx3-ubyte"), 0x00000803, 5, 28, 28, 0, 0);
    write_labels(path_of("mnist/train-labels-idx1-ubyte"), 5, labels5, 0);
    write_images(path_of("mnist/t10k-images-idx3-ubyte.gz"), 0x00000803, 3, 28, 28, 0, 1);
    write_labels(path_of("mnist/t10k-labels-idx1-ubyte.gz"), 3, lt, 1);
    char spec[600];
    clvit_dataset ds;
    const char *kinds[2] = {"mnist", "fashion"};
    for (int k = 0; k < 2; k++) {
        snprintf(spec, sizeof spec, "%s:%s", kinds[k], path_of("mnist"));
        assert_int_equal(clvit_dataset_open(spec, 0, &ds), CLVIT_SUCCESS);
        check_synthetic(&ds, 5, 28, 28);
        assert_int_equal(ds.labels[4], 7);
        clvit_dataset_free(&ds);
        assert_int_equal(clvit_dataset_open(spec, 1, &ds), CLVIT_SUCCESS);
        check_synthetic(&ds, 3, 28, 28);
        assert_int_equal(ds.labels[0], 9);
        clvit_dataset_free(&ds);
    }
    expect_error(clvit_dataset_open("imagenet:/x", 0, &ds), CLVIT_ERR_INVALID_ARG, "imagenet",
                 NULL);
    expect_error(clvit_dataset_open("/some/dir", 0, &ds), CLVIT_ERR_INVALID_ARG, NULL, NULL);
    snprintf(spec, sizeof spec, "mnist:%s/nothing-here", tmpdir);
    expect_error(clvit_dataset_open(spec, 0, &ds), CLVIT_ERR_IO, "nothing-here",
                 "train-images-idx3-ubyte");
}

/* ---------------------------------------------------------------- CSV */

/* A CSV with a header and rows; row r pixel p = (r * 13 + p) % 256, label r % 10. Line
 * bad_line (1-based, header is 1) gets the replacement text instead when bad is set. */
static char *make_csv(int labelled, int rows, int bad_line, const char *bad, const char *eol) {
    size_t cap = (size_t)(rows + 2) * 785 * 10 + (bad ? strlen(bad) : 0) + 64;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n = 0;
    if (labelled) n += (size_t)sprintf(s + n, "label");
    for (int p = 0; p < 784; p++)
        n += (size_t)sprintf(s + n, "%spixel%d", (labelled || p) ? "," : "", p);
    n += (size_t)sprintf(s + n, "%s", eol);
    for (int r = 0; r < rows; r++) {
        if (bad && r + 2 == bad_line) {
            n += (size_t)sprintf(s + n, "%s%s", bad, eol);
            continue;
        }
        if (labelled) n += (size_t)sprintf(s + n, "%d", r % 10);
        for (int p = 0; p < 784; p++)
            n += (size_t)sprintf(s + n, "%s%d", (labelled || p) ? "," : "", (r * 13 + p) % 256);
        n += (size_t)sprintf(s + n, "%s", eol);
    }
    assert_true(n < cap);
    return s;
}

static void check_csv(const clvit_dataset *ds, int rows, int labelled) {
    assert_int_equal(ds->count, rows);
    assert_int_equal(ds->rows, 28);
    assert_int_equal(ds->cols, 28);
    assert_int_equal(ds->num_classes, 10);
    if (labelled) {
        assert_non_null(ds->labels);
        for (int r = 0; r < rows; r++)
            assert_int_equal(ds->labels[r], r % 10);
    } else {
        assert_null(ds->labels);
    }
    for (int r = 0; r < rows; r++)
        for (int p = 0; p < 784; p++)
            assert_int_equal(ds->images[(size_t)r * 784 + p], (r * 13 + p) % 256);
}

static void test_csv_good(void **state) {
    (void)state;
    clvit_dataset ds;
    char *s = make_csv(1, 12, 0, NULL, "\n");
    write_text(path_of("train.csv"), s);
    free(s);
    assert_int_equal(clvit_csv_load(path_of("train.csv"), &ds), CLVIT_SUCCESS);
    check_csv(&ds, 12, 1);
    clvit_dataset_free(&ds);

    s = make_csv(0, 7, 0, NULL, "\n");
    write_text(path_of("test.csv"), s);
    free(s);
    char spec[600];
    snprintf(spec, sizeof spec, "csv:%s", path_of("test.csv"));
    assert_int_equal(clvit_dataset_open(spec, 1, &ds), CLVIT_SUCCESS);
    check_csv(&ds, 7, 0);
    clvit_dataset_free(&ds);

    /* CRLF line ends, no final newline, a trailing blank line */
    s = make_csv(1, 3, 0, NULL, "\r\n");
    size_t len = strlen(s);
    s[len - 2] = '\0';
    write_text(path_of("crlf.csv"), s);
    assert_int_equal(clvit_csv_load(path_of("crlf.csv"), &ds), CLVIT_SUCCESS);
    check_csv(&ds, 3, 1);
    clvit_dataset_free(&ds);
    s[len - 2] = '\r';
    char *s2 = malloc(len + 8);
    assert_non_null(s2);
    snprintf(s2, len + 8, "%s\r\n", s);
    write_text(path_of("crlf.csv"), s2);
    assert_int_equal(clvit_csv_load(path_of("crlf.csv"), &ds), CLVIT_SUCCESS);
    check_csv(&ds, 3, 1);
    clvit_dataset_free(&ds);
    free(s2);
    free(s);
}

static void test_csv_bad(void **state) {
    (void)state;
    clvit_dataset ds;
    /* line 3 (the second data row) has one column too few */
    char short_row[4096] = "5";
    for (int p = 0; p < 783; p++)
        strcat(short_row, ",0");
    char *s = make_csv(1, 4, 3, short_row, "\n");
    write_text(path_of("cols.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("cols.csv"), &ds), CLVIT_ERR_FORMAT, "cols.csv", "line 3");
    assert_null(ds.images);

    char row[8192];
    /* non-numeric at line 4 */
    snprintf(row, sizeof row, "1");
    for (int p = 0; p < 784; p++)
        strcat(row, p == 100 ? ",x7" : ",1");
    s = make_csv(1, 4, 4, row, "\n");
    write_text(path_of("alpha.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("alpha.csv"), &ds), CLVIT_ERR_FORMAT, "line 4", "x7");

    /* pixel 256 at line 2 */
    snprintf(row, sizeof row, "1");
    for (int p = 0; p < 784; p++)
        strcat(row, p == 783 ? ",256" : ",255");
    s = make_csv(1, 2, 2, row, "\n");
    write_text(path_of("v256.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("v256.csv"), &ds), CLVIT_ERR_FORMAT, "line 2", "256");

    /* label 10 at line 5 */
    snprintf(row, sizeof row, "10");
    for (int p = 0; p < 784; p++)
        strcat(row, ",0");
    s = make_csv(1, 6, 5, row, "\n");
    write_text(path_of("label10.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("label10.csv"), &ds), CLVIT_ERR_FORMAT, "line 5", "label");

    /* negative and empty fields */
    snprintf(row, sizeof row, "1");
    for (int p = 0; p < 784; p++)
        strcat(row, p == 5 ? ",-1" : ",0");
    s = make_csv(1, 2, 3, row, "\n");
    write_text(path_of("v256.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("v256.csv"), &ds), CLVIT_ERR_FORMAT, "line 3", "-1");
    snprintf(row, sizeof row, "1");
    for (int p = 0; p < 784; p++)
        strcat(row, p == 5 ? "," : ",0");
    s = make_csv(1, 2, 2, row, "\n");
    write_text(path_of("v256.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("v256.csv"), &ds), CLVIT_ERR_FORMAT, "line 2", NULL);

    /* header with a wrong column count, empty file, header only */
    write_text(path_of("header.csv"), "label,pixel0,pixel1\n1,2,3\n");
    expect_error(clvit_csv_load(path_of("header.csv"), &ds), CLVIT_ERR_FORMAT, "header.csv",
                 "line 1");
    write_text(path_of("empty.csv"), "");
    expect_error(clvit_csv_load(path_of("empty.csv"), &ds), CLVIT_ERR_FORMAT, "empty.csv", NULL);
    s = make_csv(0, 0, 0, NULL, "\n");
    write_text(path_of("empty.csv"), s);
    free(s);
    expect_error(clvit_csv_load(path_of("empty.csv"), &ds), CLVIT_ERR_FORMAT, "empty.csv",
                 "no data");
    expect_error(clvit_csv_load(path_of("nope.csv"), &ds), CLVIT_ERR_IO, "nope.csv", NULL);
}

/* ---------------------------------------------------------------- RNG and splits */

static void test_rng(void **state) {
    (void)state;
    uint64_t s = 42, s2 = 42;
    for (uint64_t i = 0; i < 100; i++)
        assert_true(clvit_rng_next(&s) == clvit_rng_at(42, i));
    /* splitmix64 reference output for seed 0 */
    s = 0;
    assert_true(clvit_rng_next(&s) == 0xE220A8397B1DCDAFULL);
    s = 7;
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        float u = clvit_rng_uniform(&s);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += u;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.01);
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = clvit_rng_below(&s2, 7);
        assert_true(v < 7);
        hist[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(abs(hist[i] - 10000) < 500);
    assert_int_equal(clvit_rng_below(&s2, 0), 0);

    int idx[100], seen[100] = {0};
    for (int i = 0; i < 100; i++)
        idx[i] = i;
    s = 3;
    clvit_shuffle(idx, 100, &s);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    assert_true(moved > 80);
}

static void test_split(void **state) {
    (void)state;
    int *tr, *va, nt, nv, *tr2, *va2, nt2, nv2;
    assert_int_equal(clvit_split(1000, 0.1, 1234, &tr, &nt, &va, &nv), CLVIT_SUCCESS);
    assert_int_equal(nv, 100);
    assert_int_equal(nt, 900);
    int *mark = calloc(1000, sizeof *mark);
    assert_non_null(mark);
    for (int i = 0; i < nt; i++)
        mark[tr[i]] += 1;
    for (int i = 0; i < nv; i++)
        mark[va[i]] += 2;
    for (int i = 0; i < 1000; i++)
        assert_true(mark[i] == 1 || mark[i] == 2); /* disjoint */
    for (int i = 1; i < nt; i++)
        assert_true(tr[i - 1] < tr[i]);
    for (int i = 1; i < nv; i++)
        assert_true(va[i - 1] < va[i]);
    /* shuffled: the validation set is not a block */
    assert_true(va[nv - 1] - va[0] > 500);

    assert_int_equal(clvit_split(1000, 0.1, 1234, &tr2, &nt2, &va2, &nv2), CLVIT_SUCCESS);
    assert_int_equal(nv2, nv);
    assert_memory_equal(va, va2, (size_t)nv * sizeof *va);
    assert_memory_equal(tr, tr2, (size_t)nt * sizeof *tr);
    free(tr2);
    free(va2);
    assert_int_equal(clvit_split(1000, 0.1, 99, &tr2, &nt2, &va2, &nv2), CLVIT_SUCCESS);
    assert_true(memcmp(va, va2, (size_t)nv * sizeof *va) != 0);
    free(tr2);
    free(va2);
    free(tr);
    free(va);
    free(mark);

    assert_int_equal(clvit_split(7, 0.0, 1, &tr, &nt, &va, &nv), CLVIT_SUCCESS);
    assert_int_equal(nt, 7);
    assert_int_equal(nv, 0);
    assert_non_null(va);
    free(tr);
    free(va);
    assert_int_equal(clvit_split(0, 0.5, 1, &tr, &nt, &va, &nv), CLVIT_SUCCESS);
    assert_int_equal(nt + nv, 0);
    free(tr);
    free(va);
    assert_int_equal(clvit_split(10, 1.5, 1, &tr, &nt, &va, &nv), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_split(10, -0.1, 1, &tr, &nt, &va, &nv), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_split(-1, 0.1, 1, &tr, &nt, &va, &nv), CLVIT_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- augmentation */

static void test_augment_identity(void **state) {
    (void)state;
    uint8_t src[28 * 28];
    for (int i = 0; i < 28 * 28; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    float dst[28 * 28];
    uint64_t rng = 5, ref = 5;
    assert_int_equal(clvit_augment(src, 28, 28, 0.0f, 0.0f, &rng, dst), CLVIT_SUCCESS);
    for (int i = 0; i < 28 * 28; i++)
        assert_true(dst[i] == (float)src[i] / 255.0f);
    for (int i = 0; i < 3; i++)
        clvit_rng_next(&ref);
    assert_true(rng == ref); /* exactly three draws */
}

/* Shift only: the output is the input moved by the whole-pixel (dx, dy) drawn from the
 * same stream, zero where it came from outside. */
static void test_augment_shift(void **state) {
    (void)state;
    enum { R = 9, C = 11 };
    uint8_t src[R * C];
    for (int i = 0; i < R * C; i++)
        src[i] = (uint8_t)(i * 5 + 1);
    float dst[R * C];
    for (uint64_t seed = 1; seed < 20; seed++) {
        uint64_t rng = seed, ref = seed;
        assert_int_equal(clvit_augment(src, R, C, 0.0f, 3.0f, &rng, dst), CLVIT_SUCCESS);
        clvit_rng_uniform(&ref);
        int dx = (int)nearbyint((2.0 * clvit_rng_uniform(&ref) - 1.0) * 3.0);
        int dy = (int)nearbyint((2.0 * clvit_rng_uniform(&ref) - 1.0) * 3.0);
        assert_true(abs(dx) <= 3 && abs(dy) <= 3);
        for (int y = 0; y < R; y++)
            for (int x = 0; x < C; x++) {
                int sx = x - dx, sy = y - dy;
                float want = (sx >= 0 && sx < C && sy >= 0 && sy < R)
                                 ? (float)src[sy * C + sx] / 255.0f
                                 : 0.0f;
                assert_float_equal(dst[y * C + x], want, 1e-6);
            }
    }
}

/* Rotation: a single bright pixel right of the centre must land, as the intensity-weighted
 * centroid of the output, where a counter-clockwise turn (y down on screen) puts it. */
static void test_augment_rotation(void **state) {
    (void)state;
    enum { N = 29 };
    uint8_t src[N * N] = {0};
    const int px = 22, py = 14; /* centre is (14, 14) */
    src[py * N + px] = 255;
    float dst[N * N];
    int tested = 0;
    for (uint64_t seed = 1; seed < 40; seed++) {
        uint64_t rng = seed, ref = seed;
        assert_int_equal(clvit_augment(src, N, N, 90.0f, 0.0f, &rng, dst), CLVIT_SUCCESS);
        double deg = (2.0 * clvit_rng_uniform(&ref) - 1.0) * 90.0;
        double a = deg * 3.14159265358979323846 / 180.0;
        double u = px - 14.0, v = py - 14.0;
        double ex = 14.0 + u * cos(a) + v * sin(a), ey = 14.0 - u * sin(a) + v * cos(a);
        double sw = 0, sx = 0, sy = 0;
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++) {
                sw += dst[y * N + x];
                sx += dst[y * N + x] * x;
                sy += dst[y * N + x] * y;
            }
        assert_true(sw > 0.2); /* bilinear spreads the pixel, it does not vanish */
        if (fabs(sx / sw - ex) > 0.35 || fabs(sy / sw - ey) > 0.35)
            fail_msg("angle %.2f: centroid (%.3f, %.3f), want (%.3f, %.3f)", deg, sx / sw, sy / sw,
                     ex, ey);
        tested += fabs(deg) > 30;
    }
    assert_true(tested > 5);
    uint64_t rng = 1;
    assert_int_equal(clvit_augment(src, N, N, 400.0f, 0.0f, &rng, dst), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_augment(src, 0, N, 1.0f, 0.0f, &rng, dst), CLVIT_ERR_SHAPE);
}

static void test_normalise(void **state) {
    (void)state;
    const uint8_t src[4] = {0, 51, 255, 128};
    float dst[4], f[4];
    assert_int_equal(clvit_normalise(src, 4, 0.1307f, 0.3081f, dst), CLVIT_SUCCESS);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(dst[i], (src[i] / 255.0 - 0.1307) / 0.3081, 1e-6);
        f[i] = src[i] / 255.0f;
    }
    assert_int_equal(clvit_normalise_f(f, 4, 0.1307f, 0.3081f), CLVIT_SUCCESS);
    for (int i = 0; i < 4; i++)
        assert_float_equal(f[i], dst[i], 1e-6);
    assert_int_equal(clvit_normalise(src, 4, 0.5f, 0.0f, dst), CLVIT_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- submission */

static void test_submission(void **state) {
    (void)state;
    const int32_t preds[5] = {2, 0, 9, 9, 3};
    const char *p = path_of("sub.csv");
    write_text(p, "old content that must be replaced\n");
    assert_int_equal(clvit_write_submission(p, preds, 5), CLVIT_SUCCESS);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, "ImageId,Label\n1,2\n2,0\n3,9\n4,9\n5,3\n");
    /* no temporary left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);

    snprintf(tmp, sizeof tmp, "%s/no/such/dir/sub.csv", tmpdir);
    expect_error(clvit_write_submission(tmp, preds, 5), CLVIT_ERR_IO, "sub.csv", NULL);
}

/* ---------------------------------------------------------------- real data */

static void test_real_mnist(void **state) {
    (void)state;
    const char *dir = CLVIT_SOURCE_DIR "/data/mnist";
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        printf("  %s absent (scripts/fetch_data.sh fetches it): skipped\n", dir);
        skip();
    }
    clvit_dataset ds;
    assert_int_equal(clvit_dataset_open("mnist:" CLVIT_SOURCE_DIR "/data/mnist", 0, &ds),
                     CLVIT_SUCCESS);
    assert_int_equal(ds.count, 60000);
    assert_int_equal(ds.rows, 28);
    assert_int_equal(ds.cols, 28);
    const int32_t first[5] = {5, 0, 4, 1, 9};
    for (int i = 0; i < 5; i++)
        assert_int_equal(ds.labels[i], first[i]);
    const int hist_want[10] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
    int hist[10] = {0};
    for (int i = 0; i < ds.count; i++)
        hist[ds.labels[i]]++;
    assert_memory_equal(hist, hist_want, sizeof hist);
    long s = 0;
    for (int i = 0; i < 784; i++)
        s += ds.images[i];
    assert_int_equal(s, 27525);
    clvit_dataset_free(&ds);

    assert_int_equal(clvit_dataset_open("mnist:" CLVIT_SOURCE_DIR "/data/mnist", 1, &ds),
                     CLVIT_SUCCESS);
    assert_int_equal(ds.count, 10000);
    assert_int_equal(ds.labels[0], 7);
    clvit_dataset_free(&ds);

    if (stat(CLVIT_SOURCE_DIR "/data/fashion", &sb) == 0) {
        assert_int_equal(clvit_dataset_open("fashion:" CLVIT_SOURCE_DIR "/data/fashion", 0, &ds),
                         CLVIT_SUCCESS);
        assert_int_equal(ds.count, 60000);
        assert_int_equal(ds.labels[0], 9);
        assert_int_equal(ds.labels[3], 3);
        clvit_dataset_free(&ds);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain_and_gz),
        cmocka_unit_test(test_idx_malformed),
        cmocka_unit_test(test_dataset_open),
        cmocka_unit_test(test_csv_good),
        cmocka_unit_test(test_csv_bad),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_augment_identity),
        cmocka_unit_test(test_augment_shift),
        cmocka_unit_test(test_augment_rotation),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_submission),
        cmocka_unit_test(test_real_mnist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
