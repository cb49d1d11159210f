/*
 * eval.c - see eval.h.
 */
#include "eval.h"
#include "batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

clvit_status evaluate(clvit_model *model, const clvit_dataset *ds, const int *idx, int n, int batch,
                      eval_result *res, int32_t *preds, int quiet) {
    (void)quiet;
    const clvit_config *cfg = clvit_model_config(model);
    const int K = cfg->num_classes;
    const size_t per = (size_t)cfg->in_chans * cfg->img_size * cfg->img_size;
    memset(res, 0, sizeof *res);
    res->num_classes = K;
    float *x = malloc((size_t)batch * per * sizeof *x);
    float *logits = malloc((size_t)batch * K * sizeof *logits);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    clvit_status st = x && logits && labels ? CLVIT_SUCCESS : CLVIT_ERR_NOMEM;
    double loss = 0.0;
    for (int b0 = 0; b0 < n && !st; b0 += batch) {
        int nb = n - b0 < batch ? n - b0 : batch;
        st = make_batch(ds, idx + b0, nb, cfg, NULL, 0, x, labels);
        if (!st) st = clvit_model_forward(model, x, nb, logits);
        for (int i = 0; i < nb && !st; i++) {
            const float *z = logits + (size_t)i * K;
            int best = 0;
            double mx = z[0];
            for (int k = 1; k < K; k++) {
                if (z[k] > z[best]) best = k;
                if (z[k] > mx) mx = z[k];
            }
            if (preds) preds[b0 + i] = best;
            int y = labels[i];
            if (y < 0 || y >= K) continue; /* unlabelled */
            double sum = 1.0;              /* the max term, exp(0) */
            for (int k = 0; k < K; k++)
                if (k != best) sum += exp(z[k] - mx);
            loss += mx + log(sum) - z[y];
            res->correct += best == y;
            res->count++;
            if (K <= EVAL_MAX_CLASSES) res->confusion[y][best]++;
        }
    }
    if (res->count) {
        res->loss = loss / res->count;
        res->accuracy = (double)res->correct / res->count;
    }
    free(x);
    free(logits);
    free(labels);
    return st;
}
