/*
 * augment.h - normalisation of 8-bit greyscale images (augment.c, beside clvit_augment, whose
 * contract is in include/clvit_data.h). Images are (rows, cols) row-major; outputs are floats.
 */
#ifndef CLVIT_AUGMENT_H
#define CLVIT_AUGMENT_H

#include "clvit_data.h"
#include "common.h"

/* dst[i] = (src[i] / 255 - mean) / std for i < n. */
clvit_status clvit_normalise(const uint8_t *src, size_t n, float mean, float std, float *dst);
/* In place on [0, 1] floats (clvit_augment's output): x[i] = (x[i] - mean) / std. */
clvit_status clvit_normalise_f(float *x, size_t n, float mean, float std);

#endif /* CLVIT_AUGMENT_H */
