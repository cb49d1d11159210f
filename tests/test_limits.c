/*
 * test_limits.c - GPU-sized work on any device through limit emulation (CLVIT_MAX_ALLOC,
 * CLVIT_MAX_WORK_GROUP), each run checked against the same work without limits:
 *   - a ViT-B/16 forward with every allocation at most 64 MiB (the parameters in 6 buffers);
 *     with CLVIT_TEST_SMALL (rusticl, Oclgrind), DeiT-tiny at most 4 MiB;
 *   - training steps of a model whose parameters, gradients, Adam moments, activations and
 *     scratch each need several buffers, with dropout and clipping on, through the
 *     asynchronous submit/collect pipeline with copied uploads, against clvit_train_step with
 *     zero-copy staging; work-groups at most 64, LayerNorm in its work-group form, the tiled
 *     attention;
 *   - 64-bit offsets: a kernel reading and writing beyond byte 2^31 of a buffer where the
 *     device can hold one, and the arena's placement arithmetic beyond 2^32 floats (host).
 * GEMM timing is off (CLVIT_GEMM_TUNE=0), so both sides run the same default kernels.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "layers.h"
#include "model.h"
#include "testutil.h"

/* A context created with the given limit variables set (NULL leaves one unset). */
static clvit_ctx *limited_ctx(const char *max_alloc, const char *max_wg) {
    if (max_alloc) setenv("CLVIT_MAX_ALLOC", max_alloc, 1);
    if (max_wg) setenv("CLVIT_MAX_WORK_GROUP", max_wg, 1);
    clvit_ctx *ctx = NULL;
    const clvit_status st = clvit_ctx_create(&ctx, NULL);
    unsetenv("CLVIT_MAX_ALLOC");
    unsetenv("CLVIT_MAX_WORK_GROUP");
    assert_int_equal(st, CLVIT_SUCCESS);
    return ctx;
}

static size_t largest_chunk(const clvit_arena *a) {
    size_t m = 0;
    for (int i = 0; i < a->n; i++)
        if (a->floats[i] > m) m = a->floats[i];
    return m;
}

static void test_vit_base_forward_64m(void **s) {
    (void)s;
    /* CLVIT_TEST_SMALL (rusticl, Oclgrind: a ViT-B/16 forward takes many minutes there):
     * DeiT-tiny (also 197 tokens, 5.7 M parameters) under 4 MiB, again 6+ parameter buffers */
    const int small = tu_small();
    const unsigned limit_mib = small ? 4 : 64;
    const char *name = small ? "deit_tiny_patch16_224" : "vit_base_patch16_224";
    clvit_config cfg;
    assert_int_equal(clvit_preset(name, &cfg), CLVIT_SUCCESS);
    clvit_ctx *lim = limited_ctx(small ? "4M" : "64M", NULL);
    assert_int_equal(clvit_ctx_device(lim)->max_alloc_bytes, (uint64_t)limit_mib << 20);
    const int B = 1;
    const size_t img = (size_t)3 * 224 * 224;
    float *x = malloc(B * img * sizeof *x), *a = malloc(B * 1000 * sizeof *a),
          *b = malloc(B * 1000 * sizeof *b);
    uint64_t rng = 7;
    tu_fill_uniform(x, B * img, &rng, -1.0f, 1.0f);
    clvit_model *ml, *mu;
    assert_int_equal(clvit_model_create(lim, &cfg, 5, &ml), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_forward(ml, x, B, a), CLVIT_SUCCESS);
    printf("  %s under %u MiB: parameters in %d buffers (largest %.1f MiB), activations in %d\n",
           name, limit_mib, ml->params.n, largest_chunk(&ml->params) * 4.0 / 1048576.0, ml->acts.n);
    assert_true(ml->params.n >= 6);
    assert_true(largest_chunk(&ml->params) * 4 <= ((size_t)limit_mib << 20));
    assert_true(largest_chunk(&ml->acts) * 4 <= ((size_t)limit_mib << 20));
    clvit_model_free(ml);
    clvit_ctx_free(lim);
    assert_int_equal(clvit_model_create(tu_ctx(), &cfg, 5, &mu), CLVIT_SUCCESS);
    assert_int_equal(mu->params.n, 1);
    assert_int_equal(clvit_model_forward(mu, x, B, b), CLVIT_SUCCESS);
    clvit_model_free(mu);
    assert_true(tu_allclose_f("logits, limited vs unlimited", a, b, B * 1000, 1e-5, 1e-4));
    free(x);
    free(a);
    free(b);
}

/* vit_mnist_tiny: 28x28, patch 7, dim 32, depth 2, 2 heads, mlp 2. */
static clvit_model *tiny(clvit_ctx *ctx) {
    clvit_config cfg;
    assert_int_equal(clvit_preset("vit_mnist_tiny", &cfg), CLVIT_SUCCESS);
    clvit_model *m;
    assert_int_equal(clvit_model_create(ctx, &cfg, 3, &m), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_set_dropout(m, 0.1f, 0.1f, 0.2f), CLVIT_SUCCESS);
    return m;
}

static void tiny_config(clvit_train_config *tc) {
    clvit_train_config_default(tc);
    tc->optimizer = CLVIT_ADAMW;
    tc->weight_decay = 0.05f;
    tc->clip_norm = 0.5f;
    tc->schedule = CLVIT_LR_WARMUP_COSINE;
    tc->warmup_steps = 1;
    tc->total_steps = 6;
    tc->seed = 17;
}

#define STEPS 4
#define TB 4

static void test_training_in_many_buffers(void **s) {
    (void)s;
    float x[STEPS][TB * 28 * 28];
    int32_t y[STEPS][TB];
    uint64_t rng = 11;
    for (int i = 0; i < STEPS; i++) {
        tu_fill_uniform(x[i], TB * 28 * 28, &rng, 0.0f, 1.0f);
        for (int b = 0; b < TB; b++)
            y[i][b] = (i * 3 + b * 7) % 10;
    }
    clvit_train_config tc;
    tiny_config(&tc);

    /* limited: 32 KiB per buffer, 64 work-items per group, the GPU forms of the kernels,
     * uploads copied from the staging buffers, two steps in flight */
    clvit_ctx *lim = limited_ctx("32K", "64");
    setenv("CLVIT_ROW_KERNELS", "group", 1);
    setenv("CLVIT_ATTENTION", "tiled", 1);
    setenv("CLVIT_ZERO_COPY", "0", 1);
    clvit_model *ml = tiny(lim);
    clvit_trainer *tl;
    assert_int_equal(clvit_trainer_create(ml, &tc, TB, &tl), CLVIT_SUCCESS);
    char plan[1024];
    clvit_trainer_buffer_plan(tl, plan, sizeof plan);
    printf("%s", plan);
    assert_true(ml->params.n >= 3);
    assert_true(ml->acts.n >= 3);
    assert_true(largest_chunk(&ml->params) <= 8192 && largest_chunk(&ml->acts) <= 8192);
    clvit_step_result rl[STEPS], ru[STEPS];
    for (int i = 0; i < STEPS; i++) {
        assert_int_equal(clvit_train_submit(tl, x[i], y[i], TB), CLVIT_SUCCESS);
        if (i > 0) assert_int_equal(clvit_train_collect(tl, &rl[i - 1]), CLVIT_SUCCESS);
        assert_int_equal(clvit_train_pending(tl), 1);
    }
    /* a third step in flight is refused, and leaves the pipeline intact */
    assert_int_equal(clvit_train_submit(tl, x[0], y[0], TB), CLVIT_SUCCESS);
    assert_int_equal(clvit_train_submit(tl, x[0], y[0], TB), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_train_collect(tl, &rl[STEPS - 1]), CLVIT_SUCCESS);
    clvit_step_result extra;
    assert_int_equal(clvit_train_collect(tl, &extra), CLVIT_SUCCESS);
    assert_int_equal(clvit_train_collect(tl, &extra), CLVIT_ERR_INVALID_ARG);
    const size_t n = ml->num_params;
    float *pl = malloc(n * sizeof *pl), *pu = malloc(n * sizeof *pu);
    unsetenv("CLVIT_ROW_KERNELS");
    unsetenv("CLVIT_ATTENTION");
    unsetenv("CLVIT_ZERO_COPY");

    /* unlimited, one blocking step at a time; the extra step above is repeated */
    clvit_model *mu = tiny(tu_ctx());
    clvit_trainer *tu;
    assert_int_equal(clvit_trainer_create(mu, &tc, TB, &tu), CLVIT_SUCCESS);
    assert_int_equal(mu->params.n, 1);
    for (int i = 0; i < STEPS; i++)
        assert_int_equal(clvit_train_step(tu, x[i], y[i], TB, &ru[i]), CLVIT_SUCCESS);
    clvit_step_result extra_u;
    assert_int_equal(clvit_train_step(tu, x[0], y[0], TB, &extra_u), CLVIT_SUCCESS);
    for (int i = 0; i < STEPS; i++) {
        printf("  step %d: loss %.6f / %.6f, norm %.6f / %.6f, correct %d / %d\n", i, rl[i].loss,
               ru[i].loss, rl[i].grad_norm, ru[i].grad_norm, rl[i].correct, ru[i].correct);
        assert_true(fabs(rl[i].loss - ru[i].loss) <= 1e-5 * (1.0 + fabs(ru[i].loss)));
        assert_true(fabs(rl[i].grad_norm - ru[i].grad_norm) <= 1e-4 * (1.0 + ru[i].grad_norm));
        assert_true(ru[i].grad_norm > 0.0);
        assert_int_equal(rl[i].correct, ru[i].correct);
        assert_true(rl[i].lr == ru[i].lr);
    }
    assert_int_equal(clvit_trainer_step_count(tl), STEPS + 1);
    /* the parameters after every update, gathered from 3+ buffers vs one */
    assert_int_equal(clvit_arena_read(lim, &ml->params, 0, pl, n), CLVIT_SUCCESS);
    assert_int_equal(clvit_arena_read(tu_ctx(), &mu->params, 0, pu, n), CLVIT_SUCCESS);
    assert_true(tu_allclose_f("parameters after 5 steps", pl, pu, n, 1e-6, 1e-4));
    free(pl);
    free(pu);
    clvit_trainer_free(tl);
    clvit_trainer_free(tu);
    clvit_model_free(ml);
    clvit_model_free(mu);
    clvit_ctx_free(lim);
}

/* average2 reading and writing past byte 2^31 (float 2^29) and past float 2^31 where one
 * buffer can be that large; the kernels take 64-bit offsets. */
static void test_offsets_beyond_2g(void **s) {
    (void)s;
    clvit_ctx *ctx = tu_ctx();
    const uint64_t max_alloc = clvit_ctx_device(ctx)->max_alloc_bytes;
    const size_t offs[2] = {((size_t)1 << 29) + 3, ((size_t)1 << 31) + 5};
    int ran = 0;
    for (int i = 0; i < 2; i++) {
        const size_t n = 1000, floats = offs[i] + 3 * n;
        if (floats * 4 > max_alloc || floats * 4 > clvit_ctx_device(ctx)->global_mem_bytes / 2) {
            printf("  offset %zu floats: the device's largest buffer (%.2f GiB) is too small; the "
                   "arithmetic is checked on the host below\n",
                   offs[i], max_alloc / 1073741824.0);
            continue;
        }
        cl_mem buf;
        assert_int_equal(clvit_buffer(ctx, floats, &buf), CLVIT_SUCCESS);
        float a[1000], b[1000], out[1000];
        uint64_t rng = 5;
        tu_fill_uniform(a, n, &rng, -1.0f, 1.0f);
        tu_fill_uniform(b, n, &rng, -1.0f, 1.0f);
        assert_int_equal(clvit_write(ctx, buf, offs[i], a, n), CLVIT_SUCCESS);
        assert_int_equal(clvit_write(ctx, buf, offs[i] + n, b, n), CLVIT_SUCCESS);
        assert_int_equal(clvit_average2(ctx, CLVIT_T(buf, offs[i] + 2 * n), CLVIT_T(buf, offs[i]),
                                        CLVIT_T(buf, offs[i] + n), (int)n),
                         CLVIT_SUCCESS);
        assert_int_equal(clvit_read(ctx, buf, offs[i] + 2 * n, out, n), CLVIT_SUCCESS);
        double ref[1000];
        for (size_t j = 0; j < n; j++)
            ref[j] = 0.5 * ((double)a[j] + b[j]);
        assert_true(tu_allclose("average2 past 2^31 bytes", out, ref, n, 1e-7, 1e-6));
        clReleaseMemObject(buf);
        ran++;
        printf("  offset %zu floats (%.2f GiB in): right\n", offs[i], offs[i] * 4.0 / 1073741824.0);
    }
    (void)ran;
    /* the arena on the host: 5 tensors of 1.5 G floats over a chunk limit of 2^31 - 1 floats */
    clvit_arena a = {0};
    clvit_arena_begin(&a, "test", CLVIT_ARENA_MAX_CHUNK_FLOATS);
    const size_t big = (size_t)3 << 29; /* 1.5 * 2^30 */
    size_t at[5];
    for (int i = 0; i < 5; i++)
        at[i] = clvit_arena_place(&a, big);
    assert_int_equal(a.failed, 0);
    assert_int_equal(a.n, 5); /* two never share a chunk: 3 * 2^30 > 2^31 - 1 */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(at[i] >> CLVIT_ARENA_SHIFT, (size_t)i);
        assert_int_equal(a.first[i], (size_t)i * big);
        /* a dense offset in the fifth tensor (beyond 2^32 floats) maps into its chunk */
        assert_int_equal(clvit_arena_from_dense(&a, (size_t)i * big + 12345),
                         ((size_t)i << CLVIT_ARENA_SHIFT) | 12345);
    }
    assert_int_equal(a.total, 5 * big);
    /* small tensors pack into one chunk until it is full */
    clvit_arena_begin(&a, "test", 100);
    assert_int_equal(clvit_arena_place(&a, 60), 0);
    assert_int_equal(clvit_arena_place(&a, 40), 60);
    assert_int_equal(clvit_arena_place(&a, 1), (size_t)1 << CLVIT_ARENA_SHIFT);
    clvit_arena_keep_together(&a, 100); /* does not fit beside the 1: next chunk */
    assert_int_equal(clvit_arena_place(&a, 50), (size_t)2 << CLVIT_ARENA_SHIFT);
    assert_int_equal(clvit_arena_from_dense(&a, 100), (size_t)1 << CLVIT_ARENA_SHIFT);
    assert_int_equal(clvit_arena_from_dense(&a, 130), ((size_t)2 << CLVIT_ARENA_SHIFT) | 29);
    clvit_arena_place(&a, 101); /* larger than a chunk: the plan fails with a clear error */
    assert_int_equal(clvit_arena_alloc(ctx, &a), CL_INVALID_BUFFER_SIZE);
    printf("  %s\n", clvit_last_error());
    assert_non_null(strstr(clvit_last_error(), "largest allocation"));
    clvit_arena_release(&a);
}

int main(void) {
    setenv("CLVIT_GEMM_TUNE", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_beyond_2g),
        cmocka_unit_test(test_training_in_many_buffers),
        cmocka_unit_test(test_vit_base_forward_64m),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
