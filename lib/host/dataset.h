/*
 * dataset.h - loading labelled 8-bit greyscale image datasets (MNIST, Fashion-MNIST, Kaggle
 * digit-recognizer CSV). Their neighbours: split.h (train/validation splits, shuffles),
 * rng.h (the one splitmix64 generator), augment.h (augmentation, normalisation),
 * submission.h (the Kaggle submission writer).
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

#endif /* CLVIT_DATASET_H */
