/*
 * clvit_data.h - public C API of clvit, host side: training data and array files. Nothing
 * here needs an OpenCL device or a clvit_ctx; the functions are in the same library as
 * clvit.h's (libclvit) and follow its conventions (a clvit_status, clvit_last_error() for the
 * detail, no exit or abort on bad input).
 *
 *   - the random number generator clvit's data pipeline draws from (splitmix64);
 *   - labelled 8-bit greyscale image datasets: MNIST, Fashion-MNIST (IDX files) and the Kaggle
 *     digit-recognizer CSV; train/validation splits and shuffles of index lists;
 *   - augmentation of one image, as `clvit train --rotate/--shift` does;
 *   - the Kaggle submission writer;
 *   - numpy .npy files of float32.
 *
 * Layout: dataset images are (count, rows, cols) uint8, row-major, 0 = background, as in the
 * IDX files; augmented images are (rows, cols) float32 in [0, 1]; .npy arrays are C order.
 * Writers are atomic (PATH.tmp, fsync, rename over PATH, as clvit_trainer_save).
 *
 * Thread safety: every function may run on several threads at once on distinct arguments;
 * a clvit_dataset may be read from several threads at once.
 *
 * It is a header of its own because these are a program's data plumbing, not the model:
 * clvit.h stays the device and model API, and a program that only runs models never sees
 * them. Both headers are installed side by side and describe one library.
 */
#ifndef CLVIT_DATA_H
#define CLVIT_DATA_H

#include "clvit.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ---------------------------------------------------------------- random numbers
 * splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * 2014), clvit's one host generator: weight init, dropout seeds, splits, shuffles and
 * augmentation all draw from it. Defined here, inline, so that a program can reproduce
 * clvit's streams (the order `clvit train` visits an epoch in: clvit_shuffle from
 * clvit_rng_at(seed, epoch)); the algorithm and its constants are part of the API.
 *
 * It is counter-based: the state is a counter advanced by a fixed odd constant (the golden
 * ratio times 2^64) and each output is a bijective hash of the counter, so any uint64_t (a
 * seed) is a valid state, and clvit_rng_at(seed, i) gives the i-th output of the stream that
 * starts at seed without stepping through the ones before it. */
#define CLVIT_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL

/* The output hash: a bijection of the 64-bit counter. */
static inline uint64_t clvit_splitmix_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Advances *state and returns the next output. */
static inline uint64_t clvit_rng_next(uint64_t *state) {
    *state += CLVIT_SPLITMIX_GAMMA;
    return clvit_splitmix_mix(*state);
}

/* The i-th output (0-based) of the stream from seed: what the (i+1)-th clvit_rng_next on a
 * state initialised to seed returns. */
static inline uint64_t clvit_rng_at(uint64_t seed, uint64_t i) {
    return clvit_splitmix_mix(seed + (i + 1) * CLVIT_SPLITMIX_GAMMA);
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float clvit_rng_uniform(uint64_t *state) {
    return (float)(clvit_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform in [0, n), unbiased (Lemire's multiply-shift with rejection of the biased low
 * products); 0 when n == 0. */
static inline uint32_t clvit_rng_below(uint64_t *state, uint32_t n) {
    if (n == 0) return 0;
    uint64_t m = (clvit_rng_next(state) >> 32) * (uint64_t)n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (clvit_rng_next(state) >> 32) * (uint64_t)n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* ---------------------------------------------------------------- datasets
 * A labelled (or unlabelled) set of 8-bit greyscale images. The fields are the interface, and
 * stable (a program reads them directly; a change is a new major version): a program may
 * read them, and must not change or free them; clvit_dataset_free releases the arrays. */
typedef struct clvit_dataset {
    int count;       /* images */
    int rows, cols;  /* image height and width in pixels (28 x 28 for every set read today) */
    int num_classes; /* labels are in [0, num_classes) (10 for every set read today) */
    uint8_t *images; /* (count, rows, cols), row-major, 0 = background */
    int32_t *labels; /* (count), or NULL when the set is unlabelled (Kaggle's test.csv) */
} clvit_dataset;

/*
 * Opens a dataset by spec into *out (zeroed first; on failure left zeroed, nothing to free):
 *   "mnist:DIR", "fashion:DIR"  LeCun's IDX files, MNIST or Fashion-MNIST: DIR holds
 *                               {train,t10k}-{images-idx3,labels-idx1}-ubyte, each plain or
 *                               gzip'ed (told from the content; FILE or FILE.gz); split_test = 1
 *                               opens t10k, else train. Labels < 10.
 *   "csv:FILE"                  Kaggle digit-recognizer CSV, plain or gzip'ed: a header line,
 *                               then one image per line; labelled (train.csv) when the header's
 *                               first column is "label" or it has 785 columns, else unlabelled
 *                               (test.csv); rows = cols = 28; split_test is ignored.
 * An unknown prefix is CLVIT_ERR_INVALID_ARG, a missing file CLVIT_ERR_IO, a malformed one
 * CLVIT_ERR_FORMAT naming the file and the record or line.
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
/* Fisher-Yates shuffle of idx[0..n), drawing from the splitmix64 state *state (any value is a
 * valid state; clvit_rng_below for each position from n - 1 down to 1). */
void clvit_shuffle(int *idx, int n, uint64_t *state);

/*
 * Random augmentation of one (rows, cols) uint8 image into (rows, cols) floats in [0, 1]
 * (x / 255): rotation by an angle uniform in [-max_rot_deg, max_rot_deg] degrees
 * (positive is counter-clockwise, as torchvision) about the centre ((cols-1)/2, (rows-1)/2),
 * then a translation by (dx, dy) whole pixels, each rounded from uniform in
 * [-max_shift_px, max_shift_px] (as torchvision RandomAffine). Bilinear sampling, 0 outside.
 * Always draws exactly three numbers from *rng (clvit_rng_uniform: angle, dx, dy), so streams
 * stay aligned whatever the arguments. Rotation 0 and shift 0 give src / 255 exactly.
 */
clvit_status clvit_augment(const uint8_t *src, int rows, int cols, float max_rot_deg,
                           float max_shift_px, uint64_t *rng, float *dst);

/*
 * Kaggle submission CSV: "ImageId,Label" then "i,preds[i-1]" for i = 1..n. Atomic: written to
 * a temporary file beside path, fsync'ed, renamed over path.
 */
clvit_status clvit_write_submission(const char *path, const int32_t *preds, int n);

/* ---------------------------------------------------------------- .npy arrays
 * numpy .npy files (format versions 1.0 to 3.0), C order. The reader takes little-endian
 * float32 ('<f4') and float64 ('<f8', converted to float32); anything else (Fortran order,
 * big-endian, other dtypes, object arrays) is refused with CLVIT_ERR_UNSUPPORTED or
 * CLVIT_ERR_FORMAT and a message saying why. The writer writes version 1.0, '<f4', atomically. */
#define CLVIT_NPY_MAX_DIMS 8

/* *data is malloc'ed (free() it; NULL on failure); shape has room for CLVIT_NPY_MAX_DIMS and
 * receives *ndim sizes (a 0-d array: *ndim = 0 and one element). */
clvit_status clvit_npy_read_f32(const char *path, float **data, int64_t *shape, int *ndim);
/* data: the product of shape[0..ndim) floats, 0 <= ndim <= CLVIT_NPY_MAX_DIMS. */
clvit_status clvit_npy_write_f32(const char *path, const float *data, const int64_t *shape,
                                 int ndim);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* CLVIT_DATA_H */
