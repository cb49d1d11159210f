/*
 * image.h - image files to model input, with timm's evaluation preprocessing:
 * decode (PNG/JPEG/BMP/... through stb_image), convert to the model's channel count
 * (grey or RGB), resize the shorter side to img_size / crop_pct with bicubic
 * interpolation, centre-crop img_size x img_size, scale to [0,1], normalise
 * (x - mean[c]) / std[c]. Output is CHW float32.
 */
#ifndef CLVIT_IMAGE_H
#define CLVIT_IMAGE_H

#include "common.h"

/* out: in_chans * img_size * img_size floats. */
clvit_status clvit_image_load(const char *path, int img_size, int in_chans, float crop_pct,
                              const float *mean, const float *std, float *out);

#endif
