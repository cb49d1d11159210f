/*
 * test_train_ops.c - the training-only kernels against plain C references in double:
 *   - softmax cross-entropy with label smoothing on logits offset by 1000 (stability):
 *     losses and dlogits within 1e-5 + 1e-4 |r| (loss relative to its size);
 *   - the device gradient norm behind clipping vs a double sum (rtol 1e-5);
 *   - dropout: the kept fraction is 1 - p within 1%, survivors are scaled by 1/(1-p), the
 *     same call regenerates the same mask; drop-path keeps or drops whole images.
 * K and n are not multiples of any work-group size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "train_ops.h"

static void test_xent_smoothing(void **s) {
    (void)s;
    enum { B = 5, K = 13 };
    const float smooth = 0.1f, scale = 1.0f / B;
    float z[B * K], labels[B], losses[B], dz[B * K];
    uint64_t rng = 9;
    tu_fill_uniform(z, B * K, &rng, -20.0f, 20.0f);
    for (int i = 0; i < B * K; i++)
        z[i] += 1000.0f; /* naive exp would overflow */
    for (int b = 0; b < B; b++)
        labels[b] = (float)((b * 5) % K);
    clvit_ctx *ctx = tu_ctx();
    cl_mem buf;
    assert_int_equal(clvit_buffer(ctx, 3 * B * K + 2 * B, &buf), CLVIT_SUCCESS);
    const size_t oz = 1, ol = B * K + 3, oloss = ol + B, odz = oloss + B + 2;
    assert_int_equal(clvit_write(ctx, buf, oz, z, B * K), CLVIT_SUCCESS);
    assert_int_equal(clvit_write(ctx, buf, ol, labels, B), CLVIT_SUCCESS);
    assert_int_equal(clvit_xent_forward_backward(ctx, CLVIT_T(buf, oloss), CLVIT_T(buf, odz),
                                                 CLVIT_T(buf, oz), CLVIT_T(buf, ol), B, K, smooth,
                                                 scale),
                     CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, buf, oloss, losses, B), CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, buf, odz, dz, B * K), CLVIT_SUCCESS);
    double ref_loss[B], ref_dz[B * K];
    for (int b = 0; b < B; b++) {
        const float *r = z + b * K;
        double m = r[0], sum = 0.0, mean_logp = 0.0;
        for (int k = 1; k < K; k++)
            m = fmax(m, r[k]);
        for (int k = 0; k < K; k++)
            sum += exp((double)r[k] - m);
        double lse = m + log(sum);
        int y = (int)labels[b];
        for (int k = 0; k < K; k++) {
            mean_logp += ((double)r[k] - lse) / K;
            double target = smooth / K + (k == y ? 1.0 - smooth : 0.0);
            ref_dz[b * K + k] = scale * (exp((double)r[k] - lse) - target);
        }
        ref_loss[b] = (1.0 - smooth) * (lse - r[y]) - smooth * mean_logp;
    }
    assert_true(tu_allclose("xent loss", losses, ref_loss, B, 1e-4, 1e-4));
    assert_true(tu_allclose("xent dlogits", dz, ref_dz, B * K, 1e-5, 1e-4));
    clReleaseMemObject(buf);
}

static void test_norm2(void **s) {
    (void)s;
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x);
    uint64_t rng = 4;
    tu_fill_uniform(x, N, &rng, -1.0f, 1.0f);
    double ref = 0.0;
    for (int i = 0; i < N; i++)
        ref += (double)x[i] * x[i];
    ref = sqrt(ref);
    clvit_ctx *ctx = tu_ctx();
    cl_mem buf;
    assert_int_equal(clvit_buffer(ctx, N, &buf), CLVIT_SUCCESS);
    assert_int_equal(clvit_write(ctx, buf, 0, x, N), CLVIT_SUCCESS);
    double got;
    assert_int_equal(clvit_norm2(ctx, &got, buf, N), CLVIT_SUCCESS);
    printf("  norm %.8f, reference %.8f\n", got, ref);
    assert_true(fabs(got - ref) <= 1e-5 * ref);
    clReleaseMemObject(buf);
    free(x);
}

static void test_dropout(void **s) {
    (void)s;
    enum { IMAGES = 41, PER = 1001, N = IMAGES * PER };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *y2 = malloc(N * sizeof *y2);
    for (int i = 0; i < N; i++)
        x[i] = 1.0f;
    clvit_ctx *ctx = tu_ctx();
    cl_mem buf;
    assert_int_equal(clvit_buffer(ctx, N, &buf), CLVIT_SUCCESS);
    clvit_drop d = {0.3f, 0.0f, 1234u, 17u, 0u};
    assert_int_equal(clvit_write(ctx, buf, 0, x, N), CLVIT_SUCCESS);
    assert_int_equal(clvit_dropout_apply(ctx, CLVIT_T(buf, 0), N, PER, &d), CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, buf, 0, y, N), CLVIT_SUCCESS);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        if (y[i] != 0.0f) {
            kept++;
            assert_true(fabsf(y[i] - 1.0f / 0.7f) < 1e-6f);
        }
    }
    printf("  dropout p=0.3 kept %.4f\n", (double)kept / N);
    assert_true(fabs((double)kept / N - 0.7) < 0.01);
    /* the same (seed, site) regenerates the same mask; another site gives another */
    assert_int_equal(clvit_write(ctx, buf, 0, x, N), CLVIT_SUCCESS);
    assert_int_equal(clvit_dropout_apply(ctx, CLVIT_T(buf, 0), N, PER, &d), CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, buf, 0, y2, N), CLVIT_SUCCESS);
    assert_memory_equal(y, y2, N * sizeof *y);
    d.site = 18;
    assert_int_equal(clvit_write(ctx, buf, 0, x, N), CLVIT_SUCCESS);
    assert_int_equal(clvit_dropout_apply(ctx, CLVIT_T(buf, 0), N, PER, &d), CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, buf, 0, y2, N), CLVIT_SUCCESS);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += (y[i] == 0.0f) == (y2[i] == 0.0f);
    assert_true(same < N * 0.7); /* independent masks agree on ~58% of elements */
    /* drop-path: each image is kept whole (scaled) or dropped whole */
    clvit_drop dp = {0.0f, 0.5f, 99u, 3u, 0u};
    assert_int_equal(clvit_write(ctx, buf, 0, x, N), CLVIT_SUCCESS);
    assert_int_equal(clvit_dropout_apply(ctx, CLVIT_T(buf, 0), N, PER, &dp), CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, buf, 0, y, N), CLVIT_SUCCESS);
    int images_kept = 0;
    for (int b = 0; b < IMAGES; b++) {
        float v = y[b * PER];
        assert_true(v == 0.0f || fabsf(v - 2.0f) < 1e-6f);
        for (int i = 1; i < PER; i++)
            assert_true(y[b * PER + i] == v);
        images_kept += v != 0.0f;
    }
    printf("  drop-path p=0.5 kept %d of %d images\n", images_kept, IMAGES);
    assert_true(images_kept > 5 && images_kept < IMAGES - 5);
    clReleaseMemObject(buf);
    free(x);
    free(y);
    free(y2);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_xent_smoothing),
                                       cmocka_unit_test(test_norm2),
                                       cmocka_unit_test(test_dropout)};
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
