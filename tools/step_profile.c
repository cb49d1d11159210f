/*
 * step_profile.c - where a training step's device time goes, per kernel label, on the public
 * API's profiling records (clvit_profile_*): one clvit_train_step (AdamW, clipping 1.0,
 * drop-path 0.1 unless given) after 3 warm-up steps, 5 times; prints each label's launches and
 * median device time with its share of the step's device span, and the LayerNorm total (forward,
 * backward, parameter gradients), the figure behind README's note on LayerNorm fusion:
 *
 *   cc -O2 tools/step_profile.c -Iinclude -Lbuild -lclvit -Wl,-rpath,$PWD/build -lm \
 *      -o /tmp/step_profile
 *   /tmp/step_profile [PRESET (vit_mnist)] [BATCH (128)] [DROP_PATH (0.1)]   # CLVIT_DEVICE
 *
 * (with drop-path 0, as `clvit train`'s default, the residual Linears may run with the
 * LayerNorm after them fused; with drop-path they cannot).
 *
 * Launch gaps (the device idle between kernels) are in the span, not in any label.
 */
#include "clvit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPS 5
#define MAX_LABELS 128

typedef struct {
    char name[64];
    int launches;
    double ms[REPS];
} label_time;

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v) {
    double s[REPS];
    memcpy(s, v, sizeof s);
    qsort(s, REPS, sizeof s[0], cmp_double);
    return s[REPS / 2];
}

static int fail(const char *what) {
    fprintf(stderr, "step_profile: %s: %s\n", what, clvit_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *preset = argc > 1 ? argv[1] : "vit_mnist";
    const int batch = argc > 2 ? atoi(argv[2]) : 128;
    const float drop_path = argc > 3 ? (float)atof(argv[3]) : 0.1f;
    if (batch < 1) {
        fprintf(stderr, "usage: step_profile [PRESET] [BATCH]\n");
        return 2;
    }
    clvit_ctx *ctx;
    clvit_config cfg;
    clvit_model *m;
    clvit_trainer *t;
    if (clvit_ctx_create(&ctx, NULL)) return fail("context");
    if (clvit_preset(preset, &cfg)) return fail("preset");
    if (clvit_model_create(ctx, &cfg, 1, &m)) return fail("model");
    if (clvit_model_set_dropout(m, 0.0f, 0.0f, drop_path)) return fail("dropout");
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    tc.optimizer = CLVIT_ADAMW;
    tc.clip_norm = 1.0f;
    if (clvit_trainer_create(m, &tc, batch, &t)) return fail("trainer");
    const size_t img = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
    float *x = malloc((size_t)batch * img * sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    label_time *lt = calloc(MAX_LABELS, sizeof *lt);
    if (!x || !y || !lt) return 1;
    for (size_t i = 0; i < (size_t)batch * img; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    for (int i = 0; i < batch; i++)
        y[i] = i % cfg.num_classes;
    clvit_step_result r;
    for (int w = 0; w < 3; w++)
        if (clvit_train_step(t, x, y, batch, &r)) return fail("warm-up step");
    int nl = 0, launches = 0;
    double span[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        clvit_ctx_finish(ctx);
        clvit_profile_reset(ctx);
        clvit_profile_enable(ctx, 1);
        if (clvit_train_step(t, x, y, batch, &r) || clvit_ctx_finish(ctx)) return fail("step");
        clvit_profile_enable(ctx, 0);
        double first = NAN, last = NAN;
        launches = clvit_profile_count(ctx);
        for (int i = 0; i < launches; i++) {
            clvit_profile_record rec;
            if (clvit_profile_get(ctx, i, &rec) || isnan(rec.start_ns)) continue;
            if (isnan(first) || rec.start_ns < first) first = rec.start_ns;
            if (isnan(last) || rec.end_ns > last) last = rec.end_ns;
            int k = 0;
            while (k < nl && strcmp(lt[k].name, rec.label))
                k++;
            if (k == nl) {
                if (nl == MAX_LABELS) continue;
                snprintf(lt[nl++].name, sizeof lt[0].name, "%s", rec.label);
            }
            lt[k].ms[rep] += (rec.end_ns - rec.start_ns) * 1e-6;
            if (rep == 0) lt[k].launches++;
        }
        span[rep] = (last - first) * 1e-6;
    }
    const double step = median(span);
    printf("%s, batch %d, %s: step device span %.2f ms (median of %d), %d launches\n", preset,
           batch, clvit_ctx_device(ctx)->name, step, REPS, launches);
    double ln = 0.0;
    int ln_launches = 0;
    for (int k = 0; k < nl; k++) {
        const double med = median(lt[k].ms);
        printf("  %-28s %4d launches %9.3f ms %5.1f%%\n", lt[k].name, lt[k].launches, med,
               100.0 * med / step);
        if (strstr(lt[k].name, "layernorm")) {
            ln += med;
            ln_launches += lt[k].launches;
        }
    }
    printf("LayerNorm: %d of %d launches, %.3f ms = %.1f%% of the step\n", ln_launches, launches,
           ln, 100.0 * ln / step);
    free(x);
    free(y);
    free(lt);
    clvit_trainer_free(t);
    clvit_model_free(m);
    clvit_ctx_free(ctx);
    return 0;
}
