/*
 * test_model.c - whole-model forward parity with PyTorch. For every fixture made by
 * tools/make_fixtures.py (six small configurations: qkv bias or not, qk_scale, pre-logits,
 * distilled, five heads, avg pooling with sine-cosine positions, MNIST-sized), load the
 * weights through clvit_model_load, run the fixture's input batch and require
 *   max |logit - reference| <= 1e-4 * max |reference logit|
 * (the reference was computed in float64), and again with the LayerNorm after each residual
 * Linear forced apart and forced fused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/safetensors.h"
#include "testutil.h"

static void check_fixture(const char *name) {
    char wpath[512], iopath[512];
    snprintf(wpath, sizeof wpath, "%s/tests/fixtures/%s.safetensors", CLVIT_SOURCE_DIR, name);
    snprintf(iopath, sizeof iopath, "%s/tests/fixtures/%s.io.safetensors", CLVIT_SOURCE_DIR, name);
    clvit_model *m = NULL;
    clvit_status st = clvit_model_load(tu_ctx(), wpath, NULL, 0, &m);
    if (st) printf("load %s: %s\n", wpath, clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    clvit_st_file *io;
    assert_int_equal(clvit_st_open(iopath, &io), CLVIT_SUCCESS);
    int64_t n_in, n_out;
    float *input = tu_read_tensor(io, "input", &n_in);
    float *ref = tu_read_tensor(io, "logits", &n_out);
    const clvit_config *c = clvit_model_config(m);
    int B = (int)(n_in / ((int64_t)c->in_chans * c->img_size * c->img_size));
    assert_int_equal(n_out, (int64_t)B * c->num_classes);
    float *got = malloc((size_t)n_out * sizeof *got);
    assert_non_null(got);
    assert_int_equal(clvit_model_forward(m, input, B, got), CLVIT_SUCCESS);
    double maxref = 0.0, maxdiff = 0.0;
    for (int64_t i = 0; i < n_out; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates */
    }
    printf("  %-22s B=%d K=%d max|ref| %.4f max|diff| %.3g (limit %.3g)\n", name, B, c->num_classes,
           maxref, maxdiff, 1e-4 * maxref);
    if (!(maxdiff <= 1e-4 * maxref)) tu_allclose_f(name, got, ref, (size_t)n_out, 1e-4 * maxref, 0);
    assert_true(maxdiff <= 1e-4 * maxref);
    free(got);
    free(ref);
    free(input);
    clvit_st_close(io);
    clvit_model_free(m);
}

static void test_tiny_qkvbias(void **s) {
    (void)s;
    check_fixture("tiny_qkvbias");
}
static void test_tiny_noqkvbias_repr(void **s) {
    (void)s;
    check_fixture("tiny_noqkvbias_repr");
}
static void test_tiny_distilled(void **s) {
    (void)s;
    check_fixture("tiny_distilled");
}
static void test_tiny_heads5(void **s) {
    (void)s;
    check_fixture("tiny_heads5");
}
static void test_tiny_gap_sincos(void **s) {
    (void)s;
    check_fixture("tiny_gap_sincos");
}
static void test_mnist_small(void **s) {
    (void)s;
    check_fixture("mnist_small");
}

/* Both ways of running a residual Linear and the LayerNorm after it (lib/linear.c): forced
 * apart (CLVIT_LN_FUSE=0) and forced into one launch (=1) where the product fits, each at the
 * same tolerance; a bad value is one clear error. Unset, the measured choice runs above. */
static void test_ln_fusion_both_ways(void **s) {
    (void)s;
    static const char *fixtures[] = {"mnist_small", "tiny_distilled", "tiny_gap_sincos"};
    for (int fuse = 0; fuse < 2; fuse++) {
        setenv("CLVIT_LN_FUSE", fuse ? "1" : "0", 1);
        printf("  CLVIT_LN_FUSE=%d\n", fuse);
        for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
            check_fixture(fixtures[i]);
    }
    char wpath[512];
    snprintf(wpath, sizeof wpath, "%s/tests/fixtures/mnist_small.safetensors", CLVIT_SOURCE_DIR);
    clvit_model *m = NULL;
    assert_int_equal(clvit_model_load(tu_ctx(), wpath, NULL, 0, &m), CLVIT_SUCCESS);
    const clvit_config *c = clvit_model_config(m);
    float x[28 * 28] = {0}, logits[16];
    assert_true((size_t)c->in_chans * c->img_size * c->img_size <= sizeof x / sizeof x[0]);
    setenv("CLVIT_LN_FUSE", "yes", 1);
    assert_int_equal(clvit_model_forward(m, x, 1, logits), CLVIT_ERR_INVALID_ARG);
    assert_non_null(strstr(clvit_last_error(), "CLVIT_LN_FUSE='yes'"));
    unsetenv("CLVIT_LN_FUSE");
    assert_int_equal(clvit_model_forward(m, x, 1, logits), CLVIT_SUCCESS);
    clvit_model_free(m);
}

/* The model batch is processed in one pass or in chunks with the same result, and a model
 * saved and loaded again gives identical logits. */
static void test_save_load_roundtrip(void **s) {
    (void)s;
    char wpath[512];
    snprintf(wpath, sizeof wpath, "%s/tests/fixtures/tiny_heads5.safetensors", CLVIT_SOURCE_DIR);
    clvit_model *m = NULL, *m2 = NULL;
    assert_int_equal(clvit_model_load(tu_ctx(), wpath, NULL, 0, &m), CLVIT_SUCCESS);
    char out[] = "/tmp/clvit_test_roundtripXXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    assert_int_equal(clvit_model_save(m, out), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_load(tu_ctx(), out, NULL, 0, &m2), CLVIT_SUCCESS);
    const clvit_config *c = clvit_model_config(m);
    size_t per = (size_t)c->in_chans * c->img_size * c->img_size;
    float x[5 * 3 * 12 * 12], a[5 * 4], b[5 * 4];
    assert_true(per * 5 <= sizeof x / sizeof x[0]);
    uint64_t rng = 7;
    tu_fill_uniform(x, per * 5, &rng, -2.0f, 2.0f);
    assert_int_equal(clvit_model_forward(m, x, 5, a), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_forward(m2, x, 5, b), CLVIT_SUCCESS);
    for (int i = 0; i < 5 * c->num_classes; i++)
        assert_true(a[i] == b[i]);
    /* image 3 alone gives the same logits as within the batch */
    assert_int_equal(clvit_model_forward(m2, x + 3 * per, 1, b), CLVIT_SUCCESS);
    assert_true(
        tu_allclose_f("single", b, a + 3 * c->num_classes, (size_t)c->num_classes, 1e-5, 1e-5));
    clvit_model_free(m);
    clvit_model_free(m2);
    remove(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_qkvbias),        cmocka_unit_test(test_tiny_noqkvbias_repr),
        cmocka_unit_test(test_tiny_distilled),      cmocka_unit_test(test_tiny_heads5),
        cmocka_unit_test(test_tiny_gap_sincos),     cmocka_unit_test(test_mnist_small),
        cmocka_unit_test(test_save_load_roundtrip), cmocka_unit_test(test_ln_fusion_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
