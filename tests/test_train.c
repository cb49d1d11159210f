/*
 * test_train.c - training parity with PyTorch, on the six fixtures of tools/make_fixtures.py:
 *   - loss and the gradient of every parameter (train mode, dropout 0) against the float64
 *     reference: |g - r| <= 1e-5 + 1e-3 |r|;
 *   - the parameters after 3 steps of torch.optim.Adam (lr 1e-2, L2 weight decay 0.01) and
 *     of torch.optim.AdamW (decoupled decay 0.05): |p - r| <= 1e-4 + 1e-4 |r|, with the two
 *     exceptions the fixture README explains (Adam amplifies rounding noise where the true
 *     gradient is 0 or g + wd p cancels): the key-bias slice of qkv.bias, and at most
 *     max(1, numel/1000) elements per tensor, each within lr * steps = 0.03.
 * Plus the learning-rate schedule and the trainer's argument checks.
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
#include "model.h"
#include "testutil.h"

typedef struct fixture {
    clvit_model *m;
    clvit_st_file *io;
    float *input;
    int32_t labels[16];
    int B;
} fixture;

static void open_fixture(const char *name, fixture *fx) {
    char wpath[512], iopath[512];
    snprintf(wpath, sizeof wpath, "%s/tests/fixtures/%s.safetensors", CLVIT_SOURCE_DIR, name);
    snprintf(iopath, sizeof iopath, "%s/tests/fixtures/%s.io.safetensors", CLVIT_SOURCE_DIR, name);
    clvit_status st = clvit_model_load(tu_ctx(), wpath, NULL, 0, &fx->m);
    if (st) printf("%s\n", clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    assert_int_equal(clvit_st_open(iopath, &fx->io), CLVIT_SUCCESS);
    const clvit_st_tensor *in = clvit_st_find(fx->io, "input");
    const clvit_st_tensor *lab = clvit_st_find(fx->io, "labels");
    assert_non_null(in);
    assert_non_null(lab);
    fx->B = (int)lab->numel;
    assert_true(fx->B <= 16);
    fx->input = malloc((size_t)in->numel * sizeof(float));
    float labf[16];
    assert_int_equal(clvit_st_read_f32(fx->io, in, fx->input), CLVIT_SUCCESS);
    assert_int_equal(clvit_st_read_f32(fx->io, lab, labf), CLVIT_SUCCESS);
    for (int b = 0; b < fx->B; b++) fx->labels[b] = (int32_t)labf[b];
}

static void close_fixture(fixture *fx) {
    free(fx->input);
    clvit_st_close(fx->io);
    clvit_model_free(fx->m);
}

static float *tensor(const clvit_st_file *f, const char *name, size_t want) {
    const clvit_st_tensor *t = clvit_st_find(f, name);
    if (!t) printf("  fixture lacks %s\n", name);
    assert_non_null(t);
    assert_int_equal((size_t)t->numel, want);
    float *x = malloc(want * sizeof *x);
    assert_int_equal(clvit_st_read_f32(f, t, x), CLVIT_SUCCESS);
    return x;
}

static void check_grads(const char *name) {
    fixture fx;
    open_fixture(name, &fx);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    clvit_trainer *t;
    assert_int_equal(clvit_trainer_create(fx.m, &tc, fx.B, &t), CLVIT_SUCCESS);
    clvit_step_result r;
    clvit_status st = clvit_train_grads(t, fx.input, fx.labels, fx.B, &r);
    if (st) printf("%s\n", clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    float *loss = tensor(fx.io, "loss", 1);
    printf("  %-20s loss %.7f (torch %.7f)\n", name, r.loss, loss[0]);
    assert_true(fabs(r.loss - loss[0]) <= 1e-4 + 1e-4 * fabs(loss[0]));
    size_t n = fx.m->num_params;
    float *g = malloc(n * sizeof *g);
    assert_int_equal(clvit_trainer_read_grads(t, g, n), CLVIT_SUCCESS);
    int ok = 1;
    for (int i = 0; i < fx.m->num_table; i++) {
        const clvit_param *p = &fx.m->table[i];
        char key[96];
        snprintf(key, sizeof key, "grad.%s", p->name);
        float *ref = tensor(fx.io, key, p->numel);
        ok &= tu_allclose_f(key, g + p->offset, ref, p->numel, 1e-5, 1e-3);
        free(ref);
    }
    assert_true(ok);
    free(g);
    free(loss);
    clvit_trainer_free(t);
    close_fixture(&fx);
}

/* Counts elements outside atol + rtol |r|; fails on any beyond `slack` (each within 0.03). */
static int optimiser_close(const char *what, const float *got, const float *ref, size_t n,
                           size_t key_lo, size_t key_hi) {
    size_t outside = 0, slack = n / 1000 > 1 ? n / 1000 : 1;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (i >= key_lo && i < key_hi) { /* zero-gradient key bias: within lr * steps */
            if (!(d <= 0.03)) ok = 0;
            continue;
        }
        if (d <= 1e-4 + 1e-4 * fabs(ref[i])) continue;
        outside++;
        if (!(d <= 0.03)) ok = 0;
        if (outside <= 3) printf("  %s[%zu]: got %.7g want %.7g\n", what, i, got[i], ref[i]);
    }
    if (outside > slack) ok = 0;
    if (!ok) printf("  %s: %zu outside tolerance (slack %zu)\n", what, outside, slack);
    return ok;
}

static void check_optimizer(const char *name, int adamw) {
    fixture fx;
    open_fixture(name, &fx);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    tc.optimizer = adamw ? CLVIT_ADAMW : CLVIT_ADAM;
    tc.lr = 1e-2f;
    tc.weight_decay = adamw ? 0.05f : 0.01f;
    clvit_trainer *t;
    assert_int_equal(clvit_trainer_create(fx.m, &tc, fx.B, &t), CLVIT_SUCCESS);
    const char *prefix = adamw ? "adamw" : "adam";
    char key[96];
    snprintf(key, sizeof key, "%s_losses", prefix);
    float *losses = tensor(fx.io, key, 3);
    for (int s = 0; s < 3; s++) {
        clvit_step_result r;
        assert_int_equal(clvit_train_step(t, fx.input, fx.labels, fx.B, &r), CLVIT_SUCCESS);
        assert_true(fabs(r.loss - losses[s]) <= 1e-4 + 1e-4 * fabs(losses[s]));
    }
    size_t n = fx.m->num_params;
    float *p = malloc(n * sizeof *p);
    assert_int_equal(clvit_read(tu_ctx(), fx.m->params, 0, p, n), CLVIT_SUCCESS);
    int ok = 1;
    const size_t D = (size_t)fx.m->cfg.embed_dim;
    for (int i = 0; i < fx.m->num_table; i++) {
        const clvit_param *pr = &fx.m->table[i];
        snprintf(key, sizeof key, "%s.%s", prefix, pr->name);
        float *ref = tensor(fx.io, key, pr->numel);
        int is_qkv_bias = strstr(pr->name, "attn.qkv.bias") != NULL;
        ok &= optimiser_close(key, p + pr->offset, ref, pr->numel, is_qkv_bias ? D : 0,
                              is_qkv_bias ? 2 * D : 0);
        free(ref);
    }
    printf("  %-20s %s: 3 steps match\n", name, prefix);
    assert_true(ok);
    free(p);
    free(losses);
    clvit_trainer_free(t);
    close_fixture(&fx);
}

#define FIXTURES(X)                                                                                \
    X(tiny_qkvbias) X(tiny_noqkvbias_repr) X(tiny_distilled) X(tiny_heads5) X(tiny_gap_sincos)      \
        X(mnist_small)
#define DEFINE(name)                                                                               \
    static void grads_##name(void **s) {                                                          \
        (void)s;                                                                                   \
        check_grads(#name);                                                                        \
    }                                                                                              \
    static void adam_##name(void **s) {                                                           \
        (void)s;                                                                                   \
        check_optimizer(#name, 0);                                                                 \
    }                                                                                              \
    static void adamw_##name(void **s) {                                                          \
        (void)s;                                                                                   \
        check_optimizer(#name, 1);                                                                 \
    }
FIXTURES(DEFINE)

static void test_lr_schedule(void **s) {
    (void)s;
    clvit_config cfg;
    assert_int_equal(clvit_preset("vit_mnist", &cfg), CLVIT_SUCCESS);
    cfg.depth = 1;
    clvit_model *m;
    assert_int_equal(clvit_model_create(tu_ctx(), &cfg, 1, &m), CLVIT_SUCCESS);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    tc.schedule = CLVIT_LR_WARMUP_COSINE;
    tc.lr = 1.0f;
    tc.warmup_steps = 10;
    tc.total_steps = 110;
    clvit_trainer *t;
    assert_int_equal(clvit_trainer_create(m, &tc, 2, &t), CLVIT_SUCCESS);
    assert_true(fabs(clvit_trainer_lr(t, 0) - 0.1) < 1e-6);  /* (0 + 1) / 10 */
    assert_true(fabs(clvit_trainer_lr(t, 9) - 1.0) < 1e-6);  /* end of warm-up */
    assert_true(fabs(clvit_trainer_lr(t, 10) - 1.0) < 1e-6); /* cosine starts at the peak */
    assert_true(fabs(clvit_trainer_lr(t, 60) - 0.5) < 1e-6); /* half way */
    assert_true(fabs(clvit_trainer_lr(t, 110)) < 1e-6);      /* end */
    /* a label out of range is an error, not a crash */
    float img[2 * 28 * 28] = {0};
    int32_t bad[2] = {3, 10};
    clvit_step_result r;
    assert_int_equal(clvit_train_step(t, img, bad, 2, &r), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_train_step(t, img, bad, 3, &r), CLVIT_ERR_INVALID_ARG);
    clvit_trainer_free(t);
    tc.lr = -1.0f;
    assert_int_equal(clvit_trainer_create(m, &tc, 2, &t), CLVIT_ERR_INVALID_ARG);
    clvit_model_free(m);
}

int main(void) {
#define ENTRY(name)                                                                                \
    cmocka_unit_test(grads_##name), cmocka_unit_test(adam_##name), cmocka_unit_test(adamw_##name),
    const struct CMUnitTest tests[] = {FIXTURES(ENTRY) cmocka_unit_test(test_lr_schedule)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
