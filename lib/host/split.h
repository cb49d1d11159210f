/*
 * split.h - train/validation splits and shuffles of index lists (split.c).
 */
#ifndef CLVIT_SPLIT_H
#define CLVIT_SPLIT_H

#include "common.h"

/*
 * Deterministic shuffled split of 0..count-1: nval = round(count * val_fraction) indices go
 * to val, the rest to train; each list is sorted ascending. The same (count, val_fraction,
 * seed) always gives the same split. *train_idx and *val_idx are malloc'ed (never NULL on
 * success, even when empty): free() them. val_fraction must be in [0, 1].
 */
clvit_status clvit_split(int count, double val_fraction, uint64_t seed, int **train_idx,
                         int *ntrain, int **val_idx, int *nval);

/* Fisher-Yates shuffle of idx[0..n). */
void clvit_shuffle(int *idx, int n, uint64_t *state);

#endif /* CLVIT_SPLIT_H */
