/*
 * image.h - image files to model input, with timm's evaluation preprocessing:
 * decode (PNG, JPEG, BMP or GIF, told by their first bytes, through stb_image; the other
 * formats stb_image reads are refused: in Debian 12's stb_image (2.27) the TGA and PNM
 * decoders leave the pixels of a truncated file uninitialised), convert to the model's channel
 * count (grey or RGB), resize the shorter side to img_size / crop_pct with bicubic interpolation,
 * centre-crop img_size x img_size, scale to [0,1], normalise (x - mean[c]) / std[c]. Output is CHW
 * float32.
 */
#ifndef CLVIT_IMAGE_H
#define CLVIT_IMAGE_H

#include "common.h"

/* The largest image read, in pixels (2^27, about 134 megapixels: between Pillow's warning
 * and error limits for decompression bombs); larger ones are refused before decoding. */
#define CLVIT_IMAGE_MAX_PIXELS ((int64_t)1 << 27)

/* out: in_chans * img_size * img_size floats. */
clvit_status clvit_image_load(const char *path, int img_size, int in_chans, float crop_pct,
                              const float *mean, const float *std, float *out);

#endif
