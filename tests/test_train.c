/*
 * test_train.c - training parity with PyTorch, on the six fixtures of tools/make_fixtures.py:
 *   - loss and the gradient of every parameter (train mode, dropout 0) against the float64
 *     reference: |g - r| <= 1e-5 + 1e-3 |r|;
 *   - the parameters after 3 steps of torch.optim.Adam (lr 1e-2, L2 weight decay 0.01) and
 *     of torch.optim.AdamW (decoupled decay 0.05): |p - r| <= 1e-4 + 1e-4 |r|, with the two
 *     exceptions the fixture README explains (Adam amplifies rounding noise where the true
 *     gradient is 0 or g + wd p cancels): the key-bias slice of qkv.bias, and at most
 *     max(1, numel/1000) elements per tensor, each within lr * steps = 0.03.
 * Plus the learning-rate schedule, the trainer's argument checks, exact resume, and no
 * checkpoint from a diverged state.
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
#include <unistd.h>

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
    for (int b = 0; b < fx->B; b++)
        fx->labels[b] = (int32_t)labf[b];
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
    assert_int_equal(clvit_arena_read(tu_ctx(), &fx.m->params, 0, p, n), CLVIT_SUCCESS);
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
    X(tiny_qkvbias)                                                                                \
    X(tiny_noqkvbias_repr) X(tiny_distilled) X(tiny_heads5) X(tiny_gap_sincos) X(mnist_small)
#define DEFINE(name)                                                                               \
    static void grads_##name(void **s) {                                                           \
        (void)s;                                                                                   \
        check_grads(#name);                                                                        \
    }                                                                                              \
    static void adam_##name(void **s) {                                                            \
        (void)s;                                                                                   \
        check_optimizer(#name, 0);                                                                 \
    }                                                                                              \
    static void adamw_##name(void **s) {                                                           \
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

/* A small model on a depth-2 vit_mnist with dropout and drop-path active. */
static clvit_model *small_model(uint64_t seed) {
    clvit_config cfg;
    assert_int_equal(clvit_preset("vit_mnist", &cfg), CLVIT_SUCCESS);
    cfg.depth = 2;
    cfg.embed_dim = 32;
    clvit_model *m;
    assert_int_equal(clvit_model_create(tu_ctx(), &cfg, seed, &m), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_set_dropout(m, 0.1f, 0.1f, 0.2f), CLVIT_SUCCESS);
    return m;
}

static void small_train_config(clvit_train_config *tc) {
    clvit_train_config_default(tc);
    tc->optimizer = CLVIT_ADAMW;
    tc->weight_decay = 0.05f;
    tc->clip_norm = 1.0f;
    tc->schedule = CLVIT_LR_WARMUP_COSINE;
    tc->warmup_steps = 2;
    tc->total_steps = 10;
    tc->seed = 99;
}

/* N + M steps in one run equal N steps, checkpoint, reload, M steps: bit for bit. */
static void test_resume_exact(void **s) {
    (void)s;
    enum { B = 8, N = 3, M = 2 };
    float x[B * 28 * 28];
    int32_t y[B];
    uint64_t rng = 3;
    tu_fill_uniform(x, sizeof x / sizeof x[0], &rng, -1.0f, 1.0f);
    for (int i = 0; i < B; i++)
        y[i] = (i * 7) % 10;
    clvit_train_config tc;
    small_train_config(&tc);
    clvit_step_result r;

    clvit_model *a = small_model(11);
    clvit_trainer *ta;
    assert_int_equal(clvit_trainer_create(a, &tc, B, &ta), CLVIT_SUCCESS);
    for (int i = 0; i < N + M; i++)
        assert_int_equal(clvit_train_step(ta, x, y, B, &r), CLVIT_SUCCESS);

    clvit_model *b = small_model(11);
    clvit_trainer *tb;
    assert_int_equal(clvit_trainer_create(b, &tc, B, &tb), CLVIT_SUCCESS);
    for (int i = 0; i < N; i++)
        assert_int_equal(clvit_train_step(tb, x, y, B, &r), CLVIT_SUCCESS);
    char path[] = "/tmp/clvit_test_resumeXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *k[] = {"clvit.epoch"}, *v[] = {"0"};
    assert_int_equal(clvit_trainer_save(tb, path, k, v, 1), CLVIT_SUCCESS);
    clvit_trainer_free(tb);
    clvit_model_free(b);

    clvit_model *c;
    assert_int_equal(clvit_model_load(tu_ctx(), path, NULL, 0, &c), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_set_dropout(c, 0.1f, 0.1f, 0.2f), CLVIT_SUCCESS);
    clvit_trainer *tcn;
    assert_int_equal(clvit_trainer_create(c, &tc, B, &tcn), CLVIT_SUCCESS);
    assert_int_equal(clvit_trainer_load_state(tcn, path), CLVIT_SUCCESS);
    assert_int_equal(clvit_trainer_step_count(tcn), N);
    for (int i = 0; i < M; i++)
        assert_int_equal(clvit_train_step(tcn, x, y, B, &r), CLVIT_SUCCESS);

    size_t n = a->num_params;
    float *pa = malloc(n * sizeof *pa), *pc = malloc(n * sizeof *pc);
    assert_int_equal(clvit_arena_read(tu_ctx(), &a->params, 0, pa, n), CLVIT_SUCCESS);
    assert_int_equal(clvit_arena_read(tu_ctx(), &c->params, 0, pc, n), CLVIT_SUCCESS);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += pa[i] != pc[i];
    printf("  resume: %zu of %zu parameters differ\n", differ, n);
    assert_int_equal(differ, 0);
    /* and training really moved them: a fresh model differs */
    clvit_model *fresh = small_model(11);
    assert_int_equal(clvit_arena_read(tu_ctx(), &fresh->params, 0, pc, n), CLVIT_SUCCESS);
    differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += pa[i] != pc[i];
    assert_true(differ > n / 2);
    free(pa);
    free(pc);
    clvit_model_free(fresh);
    clvit_trainer_free(ta);
    clvit_trainer_free(tcn);
    clvit_model_free(a);
    clvit_model_free(c);
    remove(path);
}

static unsigned char *read_file_bytes(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    *size = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)*size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
    return b;
}

/* A diverged step is never saved: an absurd learning rate (1e30) makes a loss NaN or Inf
 * within a few steps; collect names the step with CLVIT_ERR_DIVERGED, through the pipeline
 * (two steps in flight) as through clvit_train_step, and from then on clvit_trainer_save
 * fails and leaves the checkpoint written before as it was. A state holding a NaN that no
 * loss has shown yet (written into the parameters here) is refused as well, naming the
 * tensor. */
static void test_diverged_not_saved(void **s) {
    (void)s;
    enum { B = 8, MAX_STEPS = 20 };
    float x[B * 28 * 28];
    int32_t y[B];
    uint64_t rng = 4;
    tu_fill_uniform(x, sizeof x / sizeof x[0], &rng, -1.0f, 1.0f);
    for (int i = 0; i < B; i++)
        y[i] = (i * 3) % 10;
    char path[] = "/tmp/clvit_test_divergedXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const char *k[] = {"clvit.epoch"}, *v[] = {"0"};
    for (int pipelined = 0; pipelined < 2; pipelined++) {
        clvit_train_config tc;
        clvit_train_config_default(&tc);
        tc.lr = 1e30f;
        clvit_model *m = small_model(21);
        clvit_trainer *t;
        assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
        assert_int_equal(clvit_trainer_save(t, path, k, v, 1), CLVIT_SUCCESS);
        long good_size;
        unsigned char *good = read_file_bytes(path, &good_size);
        clvit_status st = CLVIT_SUCCESS;
        clvit_step_result r;
        int steps = 0;
        while (!st && steps < MAX_STEPS) {
            if (pipelined) { /* the way clvit train runs: results read one step late */
                st = clvit_train_submit(t, x, y, B);
                if (!st && clvit_train_pending(t) > 1) st = clvit_train_collect(t, &r);
            } else {
                st = clvit_train_step(t, x, y, B, &r);
            }
            steps++;
        }
        printf("  lr 1e30%s: %s after %d steps (%s)\n", pipelined ? ", pipelined" : "",
               clvit_status_string(st), steps, clvit_last_error());
        assert_int_equal(st, CLVIT_ERR_DIVERGED);
        assert_non_null(strstr(clvit_last_error(), "at step"));
        /* the save fails, also with a step still in flight, and the file stays */
        assert_int_equal(clvit_trainer_save(t, path, k, v, 1), CLVIT_ERR_DIVERGED);
        long size;
        unsigned char *now = read_file_bytes(path, &size);
        assert_int_equal(size, good_size);
        assert_memory_equal(now, good, (size_t)size);
        free(now);
        free(good);
        clvit_trainer_free(t);
        clvit_model_free(m);
    }

    /* a NaN in the parameters, before any loss saw it */
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    clvit_model *m = small_model(22);
    clvit_trainer *t;
    assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
    const float nan = NAN;
    assert_int_equal(clvit_arena_write(tu_ctx(), &m->params, m->table[3].offset + 1, &nan, 1),
                     CLVIT_SUCCESS);
    assert_int_equal(clvit_trainer_save(t, path, k, v, 1), CLVIT_ERR_DIVERGED);
    char want[96];
    snprintf(want, sizeof want, "%s[1] is nan", m->table[3].name);
    if (!strstr(clvit_last_error(), want))
        fail_msg("error '%s' does not name '%s'", clvit_last_error(), want);
    clvit_trainer_free(t);
    clvit_model_free(m);
    remove(path);
}

/* Dropout is active in training (two seeds give different losses) and absent at inference
 * (logits do not depend on the dropout rates). */
static void test_dropout_modes(void **s) {
    (void)s;
    enum { B = 4 };
    float x[B * 28 * 28], l1[B * 10], l2[B * 10];
    int32_t y[B] = {1, 2, 3, 4};
    uint64_t rng = 5;
    tu_fill_uniform(x, sizeof x / sizeof x[0], &rng, -1.0f, 1.0f);
    clvit_model *m = small_model(1);
    assert_int_equal(clvit_model_forward(m, x, B, l1), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_set_dropout(m, 0.0f, 0.0f, 0.0f), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_forward(m, x, B, l2), CLVIT_SUCCESS);
    assert_memory_equal(l1, l2, sizeof l1);
    assert_int_equal(clvit_model_set_dropout(m, 0.3f, 0.3f, 0.3f), CLVIT_SUCCESS);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    double loss[3];
    for (int i = 0; i < 3; i++) {
        tc.seed = i < 2 ? 7 : 8;
        clvit_trainer *t;
        clvit_step_result r;
        assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
        assert_int_equal(clvit_train_grads(t, x, y, B, &r), CLVIT_SUCCESS);
        loss[i] = r.loss;
        clvit_trainer_free(t);
    }
    printf("  losses with dropout: seed 7 %.6f, %.6f; seed 8 %.6f\n", loss[0], loss[1], loss[2]);
    assert_true(loss[0] == loss[1]); /* same seed: same masks */
    assert_true(loss[0] != loss[2]); /* another seed: other masks */
    clvit_model_free(m);
}

/* A short run on synthetic images (each class a bright square at its own place, plus noise):
 * the loss falls and accuracy ends far above chance (10%). */
static void test_learns_synthetic(void **s) {
    (void)s;
    enum { COUNT = 320, B = 32, EPOCHS = 8 };
    float *x = malloc((size_t)COUNT * 28 * 28 * sizeof *x);
    int32_t *y = malloc(COUNT * sizeof *y);
    uint64_t rng = 42;
    tu_fill_uniform(x, (size_t)COUNT * 28 * 28, &rng, -1.0f, -0.4f); /* noisy dark background */
    for (int i = 0; i < COUNT; i++) {
        int k = i % 10, r0 = 3 + (k / 5) * 12, c0 = 1 + (k % 5) * 5;
        y[i] = k;
        for (int r = r0; r < r0 + 8; r++)
            for (int c = c0; c < c0 + 5; c++)
                x[(size_t)i * 784 + r * 28 + c] = 1.0f;
    }
    clvit_model *m = small_model(3);
    clvit_train_config tc;
    small_train_config(&tc);
    tc.lr = 3e-3f;
    tc.warmup_steps = 10;
    tc.total_steps = EPOCHS * COUNT / B;
    clvit_trainer *t;
    assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
    double first = 0, last = 0;
    for (int e = 0; e < EPOCHS; e++) {
        double loss = 0;
        int correct = 0;
        for (int b = 0; b < COUNT / B; b++) {
            clvit_step_result r;
            assert_int_equal(clvit_train_step(t, x + (size_t)b * B * 784, y + b * B, B, &r),
                             CLVIT_SUCCESS);
            loss += r.loss / (COUNT / B);
            correct += r.correct;
        }
        if (e == 0) first = loss;
        last = loss;
        printf("  epoch %d: loss %.4f acc %.3f\n", e + 1, loss, (double)correct / COUNT);
    }
    float *logits = malloc((size_t)COUNT * 10 * sizeof *logits);
    assert_int_equal(clvit_model_forward(m, x, COUNT, logits), CLVIT_SUCCESS);
    int eval_correct = 0;
    for (int i = 0; i < COUNT; i++) {
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
        eval_correct += best == y[i];
    }
    printf("  eval accuracy %.3f\n", (double)eval_correct / COUNT);
    assert_true(last < 0.5 * first);
    assert_true(eval_correct >= COUNT * 8 / 10);
    free(logits);
    free(x);
    free(y);
    clvit_trainer_free(t);
    clvit_model_free(m);
}

/* Whole-model gradients with every dropout active (element-wise 0.1, attention 0.2, drop-path
 * 0.2) against central finite differences of the loss: the masks depend on (seed, step), and
 * clvit_train_grads does not advance the step, so the loss is a fixed function of the
 * parameters. For the largest-gradient element of several tensors:
 * |g - fd| <= 1e-3 + 5e-2 |g| with h = 1e-2. */
static void test_gradcheck_with_dropout(void **s) {
    (void)s;
    /* the fixture's weights (0.1 randn) make the attention far from uniform, so the query and
     * key gradients are large enough for finite differences to see */
    fixture fx;
    open_fixture("tiny_qkvbias", &fx);
    clvit_model *m = fx.m;
    const int B = fx.B;
    const float *x = fx.input;
    const int32_t *y = fx.labels;
    assert_int_equal(clvit_model_set_dropout(m, 0.1f, 0.2f, 0.2f), CLVIT_SUCCESS);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    tc.seed = 5;
    clvit_trainer *t;
    assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
    clvit_step_result r, r2;
    assert_int_equal(clvit_train_grads(t, x, y, B, &r), CLVIT_SUCCESS);
    assert_int_equal(clvit_train_grads(t, x, y, B, &r2), CLVIT_SUCCESS);
    assert_true(r.loss == r2.loss); /* same masks on every call */
    size_t n = m->num_params;
    float *g = malloc(n * sizeof *g);
    assert_int_equal(clvit_trainer_read_grads(t, g, n), CLVIT_SUCCESS);
    /* tensor, and the part of it searched (thirds of qkv: 0 query, 1 key, 2 value; -1 all):
     * the query and key parts reach the loss only through the softmax backward */
    const struct {
        const char *name;
        int third;
    } picks[] = {{"cls_token", -1},
                 {"pos_embed", -1},
                 {"patch_embed.proj.weight", -1},
                 {"blocks.0.attn.qkv.weight", 0},
                 {"blocks.0.attn.qkv.weight", 1},
                 {"blocks.1.attn.qkv.weight", 0},
                 {"blocks.0.attn.qkv.bias", 0},
                 {"blocks.0.attn.qkv.bias", 2},
                 {"blocks.1.attn.proj.bias", -1},
                 {"blocks.0.mlp.fc1.weight", -1},
                 {"blocks.1.norm2.weight", -1},
                 {"norm.bias", -1},
                 {"head.weight", -1}};
    const float h = 1e-2f;
    int ok = 1;
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        const clvit_param *p = NULL;
        for (int i = 0; i < m->num_table; i++)
            if (!strcmp(m->table[i].name, picks[q].name)) p = &m->table[i];
        assert_non_null(p);
        size_t lo = p->offset, hi = p->offset + p->numel;
        if (picks[q].third >= 0) {
            lo = p->offset + p->numel / 3 * (size_t)picks[q].third;
            hi = lo + p->numel / 3;
        }
        size_t best = lo;
        for (size_t i = lo; i < hi; i++)
            if (fabsf(g[i]) > fabsf(g[best])) best = i;
        float v;
        assert_int_equal(clvit_arena_read(tu_ctx(), &m->params, best, &v, 1), CLVIT_SUCCESS);
        double loss[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float w = v + (sgn ? -h : h);
            assert_int_equal(clvit_arena_write(tu_ctx(), &m->params, best, &w, 1), CLVIT_SUCCESS);
            assert_int_equal(clvit_train_grads(t, x, y, B, &r2), CLVIT_SUCCESS);
            loss[sgn] = r2.loss;
        }
        assert_int_equal(clvit_arena_write(tu_ctx(), &m->params, best, &v, 1), CLVIT_SUCCESS);
        double fd = (loss[0] - loss[1]) / (2.0 * h), gv = g[best];
        int good = fabs(fd - gv) <= 1e-3 + 5e-2 * fabs(gv);
        printf("  %-26s[%zu] grad %+.6f finite difference %+.6f%s\n", picks[q].name,
               best - p->offset, gv, fd, good ? "" : "  MISMATCH");
        ok &= good;
    }
    assert_true(ok);
    free(g);
    clvit_trainer_free(t);
    close_fixture(&fx);
}

/* Fine-tuning head reset: pre-logits and head replaced by a zero Linear with the new class
 * count; every other weight kept; the logits of the new model are exactly zero. */
static void test_reset_head(void **s) {
    (void)s;
    fixture fx;
    open_fixture("tiny_noqkvbias_repr", &fx);
    clvit_model *m = fx.m;
    const clvit_tensor keep = clvit_at(&m->params, m->top.norm_b); /* every model has it */
    const size_t n_keep = (size_t)m->cfg.embed_dim;
    float before[64], after[64];
    assert_true(n_keep <= 64);
    assert_int_equal(clvit_read(tu_ctx(), keep.buf, keep.off, before, n_keep), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_reset_head(&fx.m, 5), CLVIT_SUCCESS);
    m = fx.m;
    const clvit_config *c = clvit_model_config(m);
    assert_int_equal(c->num_classes, 5);
    assert_int_equal(c->representation_size, 0);
    const clvit_tensor kept = clvit_at(&m->params, m->top.norm_b);
    assert_int_equal(clvit_read(tu_ctx(), kept.buf, kept.off, after, n_keep), CLVIT_SUCCESS);
    assert_memory_equal(before, after, n_keep * sizeof *before);
    float logits[16 * 5];
    assert_int_equal(clvit_model_forward(m, fx.input, fx.B, logits), CLVIT_SUCCESS);
    for (int i = 0; i < fx.B * 5; i++)
        assert_true(logits[i] == 0.0f);
    assert_int_equal(clvit_model_reset_head(&fx.m, 0), CLVIT_ERR_INVALID_ARG);
    close_fixture(&fx);
}

int main(void) {
#define ENTRY(name)                                                                                \
    cmocka_unit_test(grads_##name), cmocka_unit_test(adam_##name), cmocka_unit_test(adamw_##name),
    const struct CMUnitTest tests[] = {FIXTURES(ENTRY) cmocka_unit_test(test_lr_schedule),
                                       cmocka_unit_test(test_resume_exact),
                                       cmocka_unit_test(test_diverged_not_saved),
                                       cmocka_unit_test(test_dropout_modes),
                                       cmocka_unit_test(test_gradcheck_with_dropout),
                                       cmocka_unit_test(test_reset_head),
                                       cmocka_unit_test(test_learns_synthetic)};
    /* e.g. CLVIT_TEST_FILTER='*_tiny_qkvbias' (gradients, Adam and AdamW of one model) under
     * Oclgrind, where the whole file takes hours */
    if (getenv("CLVIT_TEST_FILTER")) cmocka_set_test_filter(getenv("CLVIT_TEST_FILTER"));
    if (getenv("CLVIT_TEST_SKIP")) cmocka_set_skip_filter(getenv("CLVIT_TEST_SKIP"));
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
