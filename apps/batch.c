/*
 * batch.c - see batch.h.
 */
#include "batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bilinear sample of a (h, w) float image at (y, x), zero outside. */
static float sample(const float *img, int h, int w, float y, float x) {
    int y0 = (int)floorf(y), x0 = (int)floorf(x);
    float fy = y - y0, fx = x - x0, v = 0.0f;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int yy = y0 + dy, xx = x0 + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            v += img[yy * w + xx] * (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx);
        }
    return v;
}

clvit_status make_batch(const clvit_dataset *ds, const int *idx, int n, const clvit_config *cfg,
                        const augment_opts *aug, uint64_t seed, float *out, int32_t *labels) {
    const int rows = ds->rows, cols = ds->cols, S = cfg->img_size, C = cfg->in_chans;
    float *tmp = malloc((size_t)rows * cols * sizeof *tmp);
    if (!tmp) return CLVIT_ERR_NOMEM;
    clvit_status st = CLVIT_SUCCESS;
    for (int i = 0; i < n && !st; i++) {
        const uint8_t *src = ds->images + (size_t)idx[i] * rows * cols;
        if (aug && (aug->rotate_deg > 0 || aug->shift_px > 0)) {
            uint64_t rng = seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(idx[i] + 1));
            st = clvit_augment(src, rows, cols, aug->rotate_deg, aug->shift_px, &rng, tmp);
        } else {
            for (int k = 0; k < rows * cols; k++)
                tmp[k] = src[k] / 255.0f;
        }
        float *dst = out + (size_t)i * C * S * S;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float v = (S == rows && S == cols)
                              ? tmp[y * cols + x]
                              : sample(tmp, rows, cols, (y + 0.5f) * rows / S - 0.5f,
                                       (x + 0.5f) * cols / S - 0.5f);
                for (int c = 0; c < C; c++) {
                    int cc = c < 3 ? c : 2;
                    dst[((size_t)c * S + y) * S + x] = (v - cfg->mean[cc]) / cfg->std[cc];
                }
            }
        if (labels) labels[i] = ds->labels ? ds->labels[idx[i]] : -1;
    }
    free(tmp);
    return st;
}

int dataset_has_test_split(const char *spec) {
    return !strncmp(spec, "mnist:", 6) || !strncmp(spec, "fashion:", 8);
}
