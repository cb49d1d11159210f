/*
 * test_dist.c - data-parallel training in one process (lib/dist.c):
 *   - the dropout and drop-path masks of a share equal those rows of the whole batch's masks;
 *   - a group of one replica is the single trainer, bit for bit;
 *   - two replicas (PoCL twice: two contexts on one device; PoCL + Mesa rusticl llvmpipe, when
 *     present) against one device with the same global batch: the summed gradient of the first
 *     step, and the parameters after K steps, within the tolerances below; the replicas' weights
 *     bit-identical; the same run twice bit-identical;
 *   - the share, device-list and epoch-order helpers.
 * vit_mnist_tiny with dropout 0.1, attention dropout 0.1, drop-path 0.2, AdamW with clipping,
 * synthetic images (a seeded generator), so the test needs no data set.
 *
 * Tolerances. One device sums a weight gradient over all B*N rows of the batch in one GEMM
 * reduction; two replicas sum two halves and then add the halves, a different order of float
 * additions (and possibly other GEMM kernels, the plan being per shape). Both are within a few
 * ulp of the true sum times the number of terms' condition, so the gradient check is
 * |g2 - g1| <= 1e-6 max|g1| + 1e-3 |g1| per element (float eps 6e-8 times a few hundred terms
 * of cancelling signs, and 1e-3 relative as CLBlast's own tests use rtol 5e-3).
 * Adam divides by sqrt(v): where the gradient is rounding noise (true value ~0) the update is
 * still ~lr in size, in a direction the noise picks. So after K steps a parameter may differ by
 * up to 2 lr K (both runs moving lr per step, opposite ways); that bounds every element. Most
 * elements must be much closer: the RMS difference must be below 0.1% of the RMS change of the
 * parameters over the K steps (measured: 3e-6 on PoCL x2, 6e-6 on PoCL + rusticl; a wrong
 * loss scale or dropout mask already fails the gradient check by 100%).
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

#include "model.h"
#include "testutil.h"
#include "train_ops.h"

#define GLOBAL_B 12
#define LR 2e-3f

static int steps(void) {
    const char *e = getenv("CLVIT_TEST_DIST_STEPS");
    return e && atoi(e) > 0 ? atoi(e) : 8;
}

static void config(clvit_config *cfg) {
    assert_int_equal(clvit_preset("vit_mnist_tiny", cfg), CLVIT_SUCCESS);
    cfg->drop_rate = 0.1f;
    cfg->attn_drop_rate = 0.1f;
    cfg->drop_path_rate = 0.2f;
}

static void train_config(clvit_train_config *tc) {
    clvit_train_config_default(tc);
    tc->optimizer = CLVIT_ADAMW;
    tc->lr = LR;
    tc->weight_decay = 0.05f;
    tc->clip_norm = 0.5f; /* small enough to clip: the scale of the summed gradient matters */
    tc->seed = 11;
}

/* Batch s of the synthetic data: the same for every run. */
static void batch(int s, float *x, int32_t *y, size_t img) {
    uint64_t st = 0x1234u + 977u * (uint64_t)s;
    tu_fill_uniform(x, (size_t)GLOBAL_B * img, &st, -1.0f, 1.0f);
    for (int b = 0; b < GLOBAL_B; b++)
        y[b] = (int32_t)((s * 7 + b * 3) % 10);
}

typedef struct run {
    float *p0, *p, *g1; /* initial parameters, after K steps, summed gradient of step 1 */
    uint64_t hash;
    size_t n;
} run;

static void run_free(run *r) {
    free(r->p0);
    free(r->p);
    free(r->g1);
}

static float *read_params(clvit_model *m) {
    float *p = malloc(m->num_params * sizeof *p);
    assert_non_null(p);
    assert_int_equal(clvit_arena_read(m->ctx, &m->params, 0, p, m->num_params), CLVIT_SUCCESS);
    return p;
}

static clvit_model *new_model(clvit_ctx *ctx) {
    clvit_config cfg;
    config(&cfg);
    clvit_model *m;
    assert_int_equal(clvit_model_create(ctx, &cfg, 5, &m), CLVIT_SUCCESS);
    return m;
}

#define OK(x)                                                                                      \
    do {                                                                                           \
        clvit_status st_ = (x);                                                                    \
        if (st_) printf("  %s: %s\n", #x, clvit_last_error());                                     \
        assert_int_equal(st_, CLVIT_SUCCESS);                                                      \
    } while (0)

/* K steps on one device with the plain trainer. */
static void one_device(clvit_ctx *ctx, int K, run *out) {
    clvit_model *m = new_model(ctx);
    clvit_train_config tc;
    train_config(&tc);
    clvit_trainer *t;
    OK(clvit_trainer_create(m, &tc, GLOBAL_B, &t));
    const size_t img = 28 * 28;
    float *x = malloc(GLOBAL_B * img * sizeof *x);
    int32_t y[GLOBAL_B];
    out->n = m->num_params;
    out->p0 = read_params(m);
    out->g1 = malloc(out->n * sizeof *out->g1);
    clvit_step_result res;
    for (int s = 0; s < K; s++) {
        batch(s, x, y, img);
        if (s == 0) {
            OK(clvit_train_grads(t, x, y, GLOBAL_B, &res));
            OK(clvit_trainer_read_grads(t, out->g1, out->n));
        }
        OK(clvit_train_step(t, x, y, GLOBAL_B, &res));
    }
    out->p = read_params(m);
    out->hash = 0;
    free(x);
    clvit_trainer_free(t);
    clvit_model_free(m);
}

static int want_early_; /* group() requires a bucket summed during the backward */

/* K steps of a group over ctxs[0..n); overlap_kb: CLVIT_DIST_OVERLAP_KB (the bucket size of
 * the reads overlapped with the backward; "0": read after the backward; NULL: unset, the
 * default, which is off where every device is a CPU). */
static void group(clvit_ctx **ctxs, int n, int K, const char *overlap_kb, run *out) {
    int all_cpu = 1;
    for (int r = 0; r < n; r++)
        all_cpu &= clvit_ctx_device(ctxs[r])->is_cpu;
    if (overlap_kb)
        setenv("CLVIT_DIST_OVERLAP_KB", overlap_kb, 1);
    else
        unsetenv("CLVIT_DIST_OVERLAP_KB");
    const int off = overlap_kb ? !strcmp(overlap_kb, "0") : all_cpu;
    clvit_model *m = new_model(ctxs[0]);
    clvit_train_config tc;
    train_config(&tc);
    clvit_dp *g;
    OK(clvit_dp_create(m, ctxs, n, &tc, GLOBAL_B, &g));
    assert_int_equal(clvit_dp_replicas(g), n);
    int start, count;
    clvit_dp_range(g, GLOBAL_B, &start, &count);
    assert_int_equal(start, 0);
    assert_int_equal(count, GLOBAL_B);
    const size_t img = 28 * 28;
    float *x = malloc(GLOBAL_B * img * sizeof *x);
    int32_t y[GLOBAL_B];
    out->n = m->num_params;
    out->p0 = read_params(m);
    out->g1 = malloc(out->n * sizeof *out->g1);
    for (int s = 0; s < K; s++) {
        batch(s, x, y, img);
        clvit_step_result res;
        OK(clvit_dp_step(g, x, y, GLOBAL_B, &res));
        assert_true(isfinite(res.loss) && res.loss > 0.0);
        assert_true(res.grad_norm > 0.0);
        if (s == 0) OK(clvit_trainer_read_grads(clvit_dp_trainer(g), out->g1, out->n));
    }
    assert_int_equal(clvit_trainer_step_count(clvit_dp_trainer(g)), K);
    OK(clvit_dp_check(g, &out->hash)); /* every replica holds replica 0's bits */
    out->p = read_params(m);
    clvit_dp_times tm;
    clvit_dp_times_get(g, &tm);
    printf("  %d replicas, %d steps, overlap buckets of %s KiB: compute %.3f s, gather+sum %.3f "
           "s, update %.3f s, copy %.3f s; buckets %ld, %ld summed before the end of the "
           "backward\n",
           n, K, overlap_kb ? overlap_kb : "(default)", tm.compute, tm.gather, tm.update,
           tm.broadcast, tm.buckets, tm.early_buckets);
    /* with overlap, a step of several replicas reduces every bucket; without, none */
    if (n > 1 && !off) {
        assert_true(tm.buckets >= K);
        /* some bucket summed while a replica's backward still ran: a timing, so only where
         * the second device is slow (llvmpipe: 15 of 15 every run); PoCL twice gives 0-70% */
        if (want_early_) assert_true(tm.early_buckets > 0);
    }
    if (n == 1 || off) assert_int_equal(tm.buckets, 0);
    free(x);
    clvit_dp_free(g);
    clvit_model_free(m);
}

/* The group against one device, with the tolerances of the file's header. */
static void compare(const run *one, const run *dp, int K) {
    double gmax = 0.0;
    for (size_t i = 0; i < one->n; i++)
        gmax = fmax(gmax, fabs(one->g1[i]));
    assert_true(
        tu_allclose_f("summed gradient of step 1", dp->g1, one->g1, one->n, 1e-6 * gmax, 1e-3));
    double d2 = 0.0, c2 = 0.0, dmax = 0.0;
    for (size_t i = 0; i < one->n; i++) {
        const double d = (double)dp->p[i] - one->p[i], c = (double)one->p[i] - one->p0[i];
        d2 += d * d;
        c2 += c * c;
        dmax = fmax(dmax, fabs(d));
    }
    const double rms_d = sqrt(d2 / one->n), rms_c = sqrt(c2 / one->n);
    printf("  after %d steps: max |dp - one| %.3g (bound 2 lr K = %.3g), rms %.3g = %.2g of the "
           "rms change %.3g\n",
           K, dmax, 2.0 * LR * K, rms_d, rms_d / rms_c, rms_c);
    assert_true(dmax <= 2.0 * LR * K);
    assert_true(rms_d <= 1e-3 * rms_c);
    assert_true(rms_c > 0.0);
}

static clvit_ctx *same_device_again(void) {
    const clvit_device_info *di = clvit_ctx_device(tu_ctx());
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", di->platform_index, di->device_index);
    clvit_ctx *c;
    OK(clvit_ctx_create(&c, spec));
    return c;
}

/* ---------------------------------------------------------------- tests */

/* Rows [s0, s0 + b) of the batch's mask == the mask of a share of b images starting at s0. */
static void test_dropout_share_offset(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int B = 5, per = 37, s0 = 2, b = 3;
    const size_t n = (size_t)B * per;
    float *ones = malloc(n * sizeof *ones), *whole = malloc(n * sizeof *whole);
    float *part = malloc(n * sizeof *part);
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    cl_mem buf;
    OK(clvit_buffer(ctx, n, &buf));
    const clvit_drop kinds[2] = {{0.4f, 0.0f, 77u, 9u, 0u}, {0.0f, 0.5f, 78u, 9u, 0u}};
    for (int k = 0; k < 2; k++) {
        clvit_drop d = kinds[k];
        OK(clvit_write(ctx, buf, 0, ones, n));
        OK(clvit_dropout_apply(ctx, CLVIT_T(buf, 0), n, per, &d));
        OK(clvit_read(ctx, buf, 0, whole, n));
        d.sample0 = s0;
        OK(clvit_write(ctx, buf, 0, ones, (size_t)b * per));
        OK(clvit_dropout_apply(ctx, CLVIT_T(buf, 0), (size_t)b * per, per, &d));
        OK(clvit_read(ctx, buf, 0, part, (size_t)b * per));
        int kept = 0;
        for (size_t i = 0; i < (size_t)b * per; i++)
            kept += part[i] != 0.0f;
        assert_true(kept > 0 && kept < b * per * (k ? 2 : 1)); /* a mask, not all ones */
        assert_memory_equal(part, whole + (size_t)s0 * per, (size_t)b * per * sizeof *part);
    }
    clReleaseMemObject(buf);
    free(ones);
    free(whole);
    free(part);
}

/* The reads the backward enqueues for the overlapped allreduce (one per parameter group, at
 * the point the trainer deems the group's gradients final) hold exactly the gradients read
 * after the whole step: no kernel enqueued later writes into a range already read. A read
 * enqueued too early would hold the previous contents (zeros: the first step). */
static void reads_are_final(clvit_config *cfg) {
    clvit_ctx *ctx = tu_ctx();
    clvit_model *m;
    OK(clvit_model_create(ctx, cfg, 5, &m));
    clvit_train_config tc;
    train_config(&tc);
    clvit_trainer *t;
    OK(clvit_trainer_create(m, &tc, GLOBAL_B, &t));
    const size_t np = m->num_params, img = (size_t)cfg->in_chans * cfg->img_size * cfg->img_size;
    const int ng = cfg->depth + 2;
    size_t *bounds = malloc((size_t)ng * sizeof *bounds);
    clvit_grad_read *reads = calloc((size_t)ng, sizeof *reads);
    float *during = malloc(np * sizeof *during), *after = malloc(np * sizeof *after);
    float *x = malloc(GLOBAL_B * img * sizeof *x);
    int32_t y[GLOBAL_B];
    assert_true(bounds && reads && during && after && x);
    clvit_trainer_grad_groups(t, bounds);
    size_t end = np;
    for (int i = 0; i < ng; i++) { /* decreasing, covering [0, np) */
        assert_true(bounds[i] < end);
        reads[i] = (clvit_grad_read){bounds[i], end - bounds[i], during + bounds[i], NULL};
        end = bounds[i];
    }
    assert_int_equal(end, 0);
    for (size_t i = 0; i < np; i++)
        during[i] = NAN;
    uint64_t r = 99;
    tu_fill_uniform(x, GLOBAL_B * img, &r, -1.0f, 1.0f);
    for (int b = 0; b < GLOBAL_B; b++)
        y[b] = b % cfg->num_classes;
    clvit_trainer_set_grad_reads(t, reads, ng);
    OK(clvit_train_submit_share(t, x, y, GLOBAL_B, 0, GLOBAL_B));
    clvit_trainer_set_grad_reads(t, NULL, 0);
    for (int i = 0; i < ng; i++) {
        assert_non_null(reads[i].done);
        assert_int_equal(clWaitForEvents(1, &reads[i].done), CL_SUCCESS);
        clReleaseEvent(reads[i].done);
    }
    clvit_step_result res;
    OK(clvit_train_collect(t, &res));
    OK(clvit_trainer_read_grads(t, after, np));
    size_t nonzero = 0;
    for (size_t i = 0; i < np; i++)
        nonzero += after[i] != 0.0f;
    assert_true(nonzero > np / 2);
    for (int i = 0; i < ng; i++)
        if (memcmp(during + reads[i].start, after + reads[i].start, reads[i].count * 4))
            printf("  group %d [%zu, +%zu) read before its gradients were final\n", i,
                   reads[i].start, reads[i].count);
    assert_memory_equal(during, after, np * sizeof *during);
    free(bounds);
    free(reads);
    free(during);
    free(after);
    free(x);
    clvit_trainer_free(t);
    clvit_model_free(m);
}

static void test_overlap_reads_are_final(void **state) {
    (void)state;
    clvit_config cfg;
    config(&cfg); /* class token, learned position embedding, dropout */
    reads_are_final(&cfg);
    cfg.distilled = 1; /* distillation token and head */
    cfg.depth = 3;
    reads_are_final(&cfg);
}

static void test_one_replica_is_the_trainer(void **state) {
    (void)state;
    const int K = 3;
    run one, dp;
    clvit_ctx *ctx = tu_ctx();
    one_device(ctx, K, &one);
    group(&ctx, 1, K, "1", &dp);
    assert_memory_equal(dp.g1, one.g1, one.n * sizeof(float));
    assert_memory_equal(dp.p, one.p, one.n * sizeof(float));
    run_free(&one);
    run_free(&dp);
}

static void two_devices(clvit_ctx *second, int K) {
    clvit_ctx *ctxs[2] = {tu_ctx(), second};
    run one, a, b, c;
    one_device(tu_ctx(), K, &one);
    group(ctxs, 2, K, "1", &a); /* a bucket per parameter group, summed during the backward */
    compare(&one, &a, K);
    group(ctxs, 2, K, "1", &b); /* the same run again: the same bits */
    assert_memory_equal(a.g1, b.g1, a.n * sizeof(float));
    assert_memory_equal(a.p, b.p, a.n * sizeof(float));
    assert_true(a.hash == b.hash);
    /* the default: on CPU devices (PoCL, llvmpipe) the gradients are read after the backward
     * (group() checks that no bucket ran); the same additions in the same order, so the same
     * bits */
    group(ctxs, 2, K, NULL, &c);
    assert_memory_equal(a.g1, c.g1, a.n * sizeof(float));
    assert_memory_equal(a.p, c.p, a.n * sizeof(float));
    unsetenv("CLVIT_DIST_OVERLAP_KB");
    run_free(&one);
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

static void test_two_contexts_one_device(void **state) {
    (void)state;
    clvit_ctx *c = same_device_again();
    two_devices(c, steps());
    clvit_ctx_free(c);
}

/* PoCL and rusticl (llvmpipe): two vendors' compilers, one summed gradient, one Adam step on
 * replica 0 and its parameters copied, so both hold the same bits. */
static void test_mixed_vendors(void **state) {
    (void)state;
    clvit_device_info *infos;
    int n;
    OK(clvit_list_devices(&infos, &n));
    const clvit_device_info *mine = clvit_ctx_device(tu_ctx());
    int other = -1;
    for (int i = 0; i < n && other < 0; i++)
        if (strcmp(infos[i].platform_name, mine->platform_name) &&
            (strstr(infos[i].platform_name, "rusticl") ||
             strstr(infos[i].platform_name, "Portable")))
            other = i;
    if (other < 0) {
        printf("  SKIP: no second OpenCL platform (PoCL with rusticl llvmpipe: "
               "RUSTICL_ENABLE=llvmpipe, package mesa-opencl-icd)\n");
        free(infos);
        skip();
    }
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", infos[other].platform_index, infos[other].device_index);
    printf("  %s + %s\n", mine->platform_name, infos[other].platform_name);
    free(infos);
    clvit_ctx *c;
    OK(clvit_ctx_create(&c, spec));
    want_early_ = 1;
    two_devices(c, 5); /* llvmpipe is slow: 5 steps */
    want_early_ = 0;
    clvit_ctx_free(c);
}

static void test_helpers(void **state) {
    (void)state;
    /* shares: contiguous, in order, covering the batch, sizes within one */
    for (int B = 1; B <= 20; B++)
        for (int S = 1; S <= 6; S++) {
            int next = 0, lo = B, hi = 0;
            for (int s = 0; s < S; s++) {
                int st, c;
                clvit_dist_share(B, s, S, &st, &c);
                assert_int_equal(st, next);
                next = st + c;
                lo = c < lo ? c : lo;
                hi = c > hi ? c : hi;
            }
            assert_int_equal(next, B);
            assert_true(hi - lo <= 1);
        }
    char buf[16];
    assert_int_equal(clvit_device_list_count("0:0,1:0,gpu"), 3);
    assert_int_equal(clvit_device_list_count(""), 0);
    OK(clvit_device_list_item("0:0,1:0,gpu", 1, buf, sizeof buf));
    assert_string_equal(buf, "1:0");
    OK(clvit_device_list_item("0:0,1:0,gpu", 2, buf, sizeof buf));
    assert_string_equal(buf, "gpu");
    assert_int_equal(clvit_device_list_item("0:0", 1, buf, sizeof buf), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_device_list_item("0:0,a-very-long-device-name", 1, buf, sizeof buf),
                     CLVIT_ERR_INVALID_ARG);
    /* the epoch order: a permutation, the same for the same (seed, epoch), else another */
    int samples[100], a[100], b[100], c[100], seen[200] = {0};
    for (int i = 0; i < 100; i++)
        samples[i] = 2 * i;
    clvit_dist_epoch_order(samples, 100, 3, 1, a);
    clvit_dist_epoch_order(samples, 100, 3, 1, b);
    clvit_dist_epoch_order(samples, 100, 3, 2, c);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);
    for (int i = 0; i < 100; i++)
        seen[a[i]]++;
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[2 * i], 1);
    /* without mpirun: one process */
    clvit_dist_info info;
    OK(clvit_dist_init(NULL, NULL, &info));
    assert_int_equal(info.nranks, 1);
    assert_int_equal(info.rank, 0);
    double v[2] = {1.5, 2.0};
    OK(clvit_dist_sum(v, 2));
    assert_true(v[0] == 1.5 && v[1] == 2.0);
    int any;
    OK(clvit_dist_any(1, &any));
    assert_int_equal(any, 1);
    assert_int_equal(clvit_dist_agree(CLVIT_ERR_IO), CLVIT_ERR_IO);
    /* argument checks */
    clvit_dp *g;
    clvit_ctx *ctx = tu_ctx();
    clvit_model *m = new_model(ctx);
    clvit_train_config tc;
    train_config(&tc);
    clvit_ctx *two[2] = {ctx, ctx};
    assert_int_equal(clvit_dp_create(m, two, 2, &tc, 1, &g), CLVIT_ERR_INVALID_ARG);
    assert_null(g);
    clvit_model_free(m);
}

int main(void) {
    setenv("RUSTICL_ENABLE", "llvmpipe", 0); /* before the ICD loader reads it */
    setenv("CLVIT_GEMM_TUNE", "0", 0);       /* kernels chosen by rule: runs comparable */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_dropout_share_offset),
        cmocka_unit_test(test_overlap_reads_are_final),
        cmocka_unit_test(test_one_replica_is_the_trainer),
        cmocka_unit_test(test_two_contexts_one_device),
        cmocka_unit_test(test_mixed_vendors),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
