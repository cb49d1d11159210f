/*
 * split.c - Fisher-Yates shuffles and the deterministic train/validation split (contract in
 * include/clvit_data.h), both driven by its splitmix64 generator.
 */
#include "clvit_data.h"
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void clvit_shuffle(int *idx, int n, uint64_t *state) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)clvit_rng_below(state, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

clvit_status clvit_split(int count, double val_fraction, uint64_t seed, int **train_idx,
                         int *ntrain, int **val_idx, int *nval) {
    if (!train_idx || !ntrain || !val_idx || !nval)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "split: NULL output");
    *train_idx = *val_idx = NULL;
    *ntrain = *nval = 0;
    if (count < 0) return clvit_fail(CLVIT_ERR_INVALID_ARG, "split: count %d < 0", count);
    if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "split: val_fraction %g not in [0, 1]",
                          val_fraction);
    int nv = (int)floor((double)count * val_fraction + 0.5);
    if (nv > count) nv = count;
    int nt = count - nv;
    int *all = malloc((size_t)(count ? count : 1) * sizeof *all);
    int *tr = malloc((size_t)(nt ? nt : 1) * sizeof *tr);
    int *va = malloc((size_t)(nv ? nv : 1) * sizeof *va);
    if (!all || !tr || !va) {
        free(all);
        free(tr);
        free(va);
        return clvit_fail(CLVIT_ERR_NOMEM, "split: out of memory for %d indices", count);
    }
    for (int i = 0; i < count; i++)
        all[i] = i;
    uint64_t state = seed;
    clvit_shuffle(all, count, &state);
    if (nv) memcpy(va, all, (size_t)nv * sizeof *va);
    if (nt) memcpy(tr, all + nv, (size_t)nt * sizeof *tr);
    free(all);
    qsort(va, (size_t)nv, sizeof *va, cmp_int);
    qsort(tr, (size_t)nt, sizeof *tr, cmp_int);
    *train_idx = tr;
    *val_idx = va;
    *ntrain = nt;
    *nval = nv;
    return CLVIT_SUCCESS;
}
