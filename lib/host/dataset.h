/*
 * dataset.h - the loaders behind the public clvit_dataset_open (include/clvit_data.h, which
 * also declares clvit_dataset, its layout and clvit_dataset_free), by file format, for the
 * tests and the fuzz harnesses. Every loader fills a clvit_dataset that clvit_dataset_free()
 * releases; on failure the output is left zeroed and nothing needs freeing.
 */
#ifndef CLVIT_DATASET_H
#define CLVIT_DATASET_H

#include "clvit_data.h"
#include "common.h"

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

#endif /* CLVIT_DATASET_H */
