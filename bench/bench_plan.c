/*
 * bench_plan.c - `clvit-bench --tune`: the deep search of the device's GEMM plan. With
 * CLVIT_GEMM_TUNE=deep (set by --tune before any context exists), every GEMM shape of the
 * models' forward passes at each --batch, and of a training step at --tune-batch, is timed on
 * every candidate that fits the device (clvit's kernels and CLBlast), and the fastest is
 * written to the plan beside the program cache, which clvit then uses (lib/gemm_plan.c).
 */
#include "bench.h"

#include <stdlib.h>

/* One forward at batch b, or one training step when train. */
static clvit_status run_model(clvit_ctx *ctx, const clvit_config *cfg, int b, int train,
                              unsigned long long seed) {
    const size_t img = (size_t)cfg->in_chans * cfg->img_size * cfg->img_size;
    clvit_model *model = NULL;
    clvit_trainer *t = NULL;
    float *images = malloc((size_t)b * img * sizeof *images);
    float *logits = malloc((size_t)b * (size_t)cfg->num_classes * sizeof *logits);
    int32_t *labels = malloc((size_t)b * sizeof *labels);
    clvit_status st = CLVIT_SUCCESS;
    if (!images || !logits || !labels) st = bench_fail(CLVIT_ERR_NOMEM, "batch %d", b);
    if (st == CLVIT_SUCCESS) st = clvit_model_create(ctx, cfg, seed, &model);
    if (st == CLVIT_SUCCESS) {
        bench_random_images(images, (size_t)b * img, seed + (unsigned long long)b);
        for (int i = 0; i < b; i++)
            labels[i] = i % cfg->num_classes;
    }
    if (st == CLVIT_SUCCESS && !train) st = clvit_model_forward(model, images, b, logits);
    if (st == CLVIT_SUCCESS && train) {
        clvit_train_config tc;
        clvit_train_config_default(&tc);
        clvit_step_result res;
        st = clvit_trainer_create(model, &tc, b, &t);
        if (st == CLVIT_SUCCESS) st = clvit_train_step(t, images, labels, b, &res);
    }
    clvit_trainer_free(t);
    clvit_model_free(model);
    free(images);
    free(logits);
    free(labels);
    return st;
}

int bench_plan(bench_env *e) {
    const bench_settings *s = e->s;
    clvit_status st = CLVIT_SUCCESS;
    for (int mi = 0; mi < s->nmodels && st == CLVIT_SUCCESS; mi++) {
        const char *name = s->models[mi];
        clvit_config cfg;
        st = clvit_preset(name, &cfg);
        for (int bi = 0; bi < s->nbatches && st == CLVIT_SUCCESS; bi++) {
            bench_log("tune: %s forward, batch %d", name, s->batches[bi]);
            const double t0 = bench_now();
            st = run_model(e->ctx, &cfg, s->batches[bi], 0, s->seed);
            bench_log("tune: %s forward, batch %d: %.1f s", name, s->batches[bi], bench_now() - t0);
        }
        if (st != CLVIT_SUCCESS) break;
        if (clvit_config_flops(&cfg) > s->train_max_gflop * 1e9) {
            bench_log("tune: %s training step skipped (%.1f GFLOP per image > "
                      "--train-max-gflop %g)",
                      name, clvit_config_flops(&cfg) / 1e9, s->train_max_gflop);
            continue;
        }
        bench_log("tune: %s training step, batch %d", name, s->tune_batch);
        const double t0 = bench_now();
        st = run_model(e->ctx, &cfg, s->tune_batch, 1, s->seed);
        bench_log("tune: %s training step, batch %d: %.1f s", name, s->tune_batch,
                  bench_now() - t0);
    }
    if (st != CLVIT_SUCCESS) bench_log_status("tune", st);
    return st != CLVIT_SUCCESS;
}
