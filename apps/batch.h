/*
 * batch.h - dataset images (uint8, rows x cols, grey) to model input batches
 * (B, C, S, S) float32: optional augmentation (the seed's random rotation, plus random
 * shifts), resize when the model's image size differs (bilinear), grey replicated over the
 * model's channels, normalised with the model's mean/std.
 */
#ifndef CLVIT_BATCH_H
#define CLVIT_BATCH_H

#include "clvit.h"
#include "clvit_data.h"

typedef struct augment_opts {
    float rotate_deg; /* 0 = off */
    float shift_px;   /* 0 = off */
} augment_opts;

/* Fills out (n, C, S, S) and labels (n) (labels may be NULL) from ds at idx[0..n).
 * With aug != NULL, image i of the batch uses an RNG seeded from (seed, idx[i]). */
clvit_status make_batch(const clvit_dataset *ds, const int *idx, int n, const clvit_config *cfg,
                        const augment_opts *aug, uint64_t seed, float *out, int32_t *labels);

/* "mnist:DIR" etc. for the held-out set: IDX test files, or NULL for CSV. */
int dataset_has_test_split(const char *spec);

#endif
