/*
 * dataset.h - labelled 8-bit greyscale image datasets (MNIST, Fashion-MNIST, Kaggle
 * digit-recognizer CSV), train/validation splits, a small deterministic RNG, on-the-fly
 * augmentation and the Kaggle submission writer.
 *
 * Layout: images are (count, rows, cols) uint8, row-major, 0 = background, as in the IDX
 * files; labels are (count) int32 in [0, num_classes), or NULL for an unlabelled set (the
 * Kaggle test.csv). Every loader fills a clvit_dataset that clvit_dataset_free() releases;
 * on failure the output is left zeroed and nothing needs freeing.
 */
#ifndef CLVIT_DATASET_H
#define CLVIT_DATASET_H

#include "common.h"

typedef struct {
    int count, rows, cols, num_classes;
    uint8_t *images; /* (count, rows, cols) */
    int32_t *labels; /* (count), or NULL when unlabelled */
} clvit_dataset;

/*
 * IDX files (LeCun's MNIST format, also Fashion-MNIST), plain or gzip'ed (detected from
 * the content, not the name): images magic 0x00000803 with big-endian u32 count, rows,
 * cols then count*rows*cols bytes; labels magic 0x00000801 with count then count bytes,
 * each < 10. labels_path may be NULL for an unlabelled set. num_classes is 10.
 */
clvit_status clvit_idx_load(const char *images_path, const char *labels_path, clvit_dataset *out);

/*
 * Kaggle digit-recognizer CSV (plain or gzip'ed): a header line, then one image per line.
 * Labelled (train.csv) when the header's first column is "label" or it has 785 columns:
 * label,pixel0..pixel783; else unlabelled (test.csv): pixel0..pixel783. Values are
 * integers, labels 0..9, pixels 0..255. rows = cols = 28, num_classes = 10. Blank lines are
 * skipped; errors name the file and the 1-based line (the header is line 1).
 */
clvit_status clvit_csv_load(const char *path, clvit_dataset *out);

/*
 * spec: "mnist:DIR" or "fashion:DIR" (DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte,
 * each with or without .gz; split_test = 1 loads t10k, else train), or "csv:FILE"
 * (split_test ignored). An unknown prefix is CLVIT_ERR_INVALID_ARG, a missing file CLVIT_ERR_IO.
 */
clvit_status clvit_dataset_open(const char *spec, int split_test, clvit_dataset *out);

/* Frees the arrays and zeroes *ds; NULL and zeroed datasets are fine. */
void clvit_dataset_free(clvit_dataset *ds);

/*
 * Deterministic shuffled split of 0..count-1: nval = round(count * val_fraction) indices go
 * to val, the rest to train; each list is sorted ascending. The same (count, val_fraction,
 * seed) always gives the same split. *train_idx and *val_idx are malloc'ed (never NULL on
 * success, even when empty): free() them. val_fraction must be in [0, 1].
 */
clvit_status clvit_split(int count, double val_fraction, uint64_t seed, int **train_idx,
                         int *ntrain, int **val_idx, int *nval);

/*
 * RNG: splitmix64, a counter-based generator: *state is a counter advanced by a fixed odd
 * constant and each output is a bijective hash of it, so any uint64_t (a seed) is a valid
 * state and clvit_rng_at(seed, i) gives the i-th output without stepping.
 */
uint64_t clvit_rng_next(uint64_t *state);
uint64_t clvit_rng_at(uint64_t seed, uint64_t i);      /* the i-th output (0-based) from seed */
float clvit_rng_uniform(uint64_t *state);              /* [0, 1), 24 random bits */
uint32_t clvit_rng_below(uint64_t *state, uint32_t n); /* unbiased in [0, n); 0 when n == 0 */
/* Fisher-Yates shuffle of idx[0..n). */
void clvit_shuffle(int *idx, int n, uint64_t *state);

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

/*
 * Kaggle submission CSV: "ImageId,Label" then "i,preds[i-1]" for i = 1..n. Atomic: written
 * to PATH.tmp.PID, fsync'ed, renamed over path.
 */
clvit_status clvit_write_submission(const char *path, const int32_t *preds, int n);

#endif /* CLVIT_DATASET_H */
