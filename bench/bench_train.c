/*
 * bench_train.c - the "train" section: one optimisation step (forward in training mode,
 * softmax cross-entropy, backward through every layer, AdamW over all parameters) per model
 * and batch size, with the usual protocol: check, warm up, time --reps runs, report median,
 * min, max and spread as step latency (ms) and throughput (images/s).
 *
 * Check before timing: the first loss of a fresh model must be finite and near ln(classes)
 * (the seed's init gives near-uniform logits), and a few steps on one fixed batch must lower
 * the loss. A step costs about 3x the forward FLOPs (backward: input and weight gradients).
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct train_job {
    clvit_trainer *t;
    const float *images;
    const int32_t *labels;
    int batch;
    clvit_step_result res;
} train_job;

static clvit_status train_run(void *arg) {
    train_job *j = arg;
    return clvit_train_step(j->t, j->images, j->labels, j->batch, &j->res);
}

/* Fresh-model loss near ln(K), then 5 steps on the same batch lower it. */
static clvit_status check_training(train_job *j, int classes, int *ok, char *note, size_t size) {
    *ok = 0;
    BENCH_CHECK(clvit_train_step(j->t, j->images, j->labels, j->batch, &j->res));
    const double first = j->res.loss, expect = log((double)classes);
    if (!isfinite(first) || fabs(first - expect) > 0.5) {
        snprintf(note, size, "check FAILED: first loss %.4f, expected about ln(%d) = %.4f", first,
                 classes, expect);
        return CLVIT_SUCCESS;
    }
    for (int i = 0; i < 5; i++)
        BENCH_CHECK(clvit_train_step(j->t, j->images, j->labels, j->batch, &j->res));
    if (!(j->res.loss < first)) {
        snprintf(note, size, "check FAILED: loss %.4f after 6 steps on one batch, first %.4f",
                 j->res.loss, first);
        return CLVIT_SUCCESS;
    }
    snprintf(note, size, "checked: loss %.2f->%.2f in 6 steps", first, j->res.loss);
    *ok = 1;
    return CLVIT_SUCCESS;
}

int bench_train(bench_env *e) {
    const bench_settings *s = e->s;
    clvit_status st = CLVIT_SUCCESS;
    double *samples = malloc((size_t)s->reps * sizeof *samples);
    if (!samples) return 1;
    for (int mi = 0; mi < s->nmodels && st == CLVIT_SUCCESS; mi++) {
        const char *name = s->models[mi];
        clvit_config cfg;
        st = clvit_preset(name, &cfg);
        if (st != CLVIT_SUCCESS) break;
        if (clvit_config_flops(&cfg) > s->train_max_gflop * 1e9) {
            bench_log("train: %s skipped (%.1f GFLOP per image > --train-max-gflop %g)", name,
                      clvit_config_flops(&cfg) / 1e9, s->train_max_gflop);
            continue;
        }
        const double flops = 3.0 * clvit_config_flops(&cfg);
        const size_t img = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
        for (int bi = 0; bi < s->nbatches && st == CLVIT_SUCCESS; bi++) {
            const int b = s->batches[bi];
            clvit_model *model = NULL;
            clvit_trainer *t = NULL;
            float *images = malloc((size_t)b * img * sizeof *images);
            int32_t *labels = malloc((size_t)b * sizeof *labels);
            clvit_train_config tc;
            clvit_train_config_default(&tc);
            tc.optimizer = CLVIT_ADAMW;
            tc.weight_decay = 0.05f;
            if (!images || !labels) st = bench_fail(CLVIT_ERR_NOMEM, "batch %d", b);
            if (st == CLVIT_SUCCESS) st = clvit_model_create(e->ctx, &cfg, s->seed, &model);
            if (st == CLVIT_SUCCESS) st = clvit_trainer_create(model, &tc, b, &t);
            if (st == CLVIT_SUCCESS) {
                bench_random_images(images, (size_t)b * img, s->seed + (unsigned long long)b);
                for (int i = 0; i < b; i++)
                    labels[i] = i % cfg.num_classes;
                bench_log("train: %s batch %d", name, b);
                train_job j = {t, images, labels, b, {0, 0, 0.0f, 0.0}};
                char note[96];
                int ok = 0, n = 0;
                st = check_training(&j, cfg.num_classes, &ok, note, sizeof note);
                if (st == CLVIT_SUCCESS && ok) st = bench_time(s, train_run, &j, 1, samples, &n);
                if (st == CLVIT_SUCCESS) {
                    if (!ok) {
                        bench_log("%s batch %d: %s", name, b, note);
                        e->failures++;
                    }
                    char lat_note[160];
                    snprintf(lat_note, sizeof lat_note, "%s; %.1f MiB on device", note,
                             clvit_trainer_device_bytes(t) / 1048576.0);
                    bench_add_rate_rows(e, "train", "step_latency", name, b, flops, samples, n,
                                        lat_note,
                                        "AdamW step: upload, forward, loss, backward, update");
                }
            }
            clvit_trainer_free(t);
            clvit_model_free(model);
            free(images);
            free(labels);
        }
    }
    free(samples);
    if (st != CLVIT_SUCCESS) bench_log_status("train", st);
    return st != CLVIT_SUCCESS;
}
