/*
 * augment.h - on-the-fly augmentation and normalisation of 8-bit greyscale images
 * (augment.c). Images are (rows, cols) row-major; outputs are floats.
 */
#ifndef CLVIT_AUGMENT_H
#define CLVIT_AUGMENT_H

#include "common.h"

/*
 * Random augmentation of one (rows, cols) uint8 image into (rows, cols) floats in [0, 1]
 * (x / 255): rotation by an angle uniform in [-max_rot_deg, max_rot_deg] degrees
 * (positive is counter-clockwise, as torchvision) about the centre ((cols-1)/2, (rows-1)/2),
 * then a translation by (dx, dy) whole pixels, each rounded from uniform in
 * [-max_shift_px, max_shift_px] (as torchvision RandomAffine). Bilinear sampling, 0 outside.
 * Always draws exactly three numbers from *rng, so streams stay aligned whatever the
 * arguments. Rotation 0 and shift 0 give src / 255 exactly.
 */
clvit_status clvit_augment(const uint8_t *src, int rows, int cols, float max_rot_deg,
                           float max_shift_px, uint64_t *rng, float *dst);

/* dst[i] = (src[i] / 255 - mean) / std for i < n. */
clvit_status clvit_normalise(const uint8_t *src, size_t n, float mean, float std, float *dst);
/* In place on [0, 1] floats (clvit_augment's output): x[i] = (x[i] - mean) / std. */
clvit_status clvit_normalise_f(float *x, size_t n, float mean, float std);

#endif /* CLVIT_AUGMENT_H */
