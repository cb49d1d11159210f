/*
 * fuzz_csv.c - the Kaggle digit-recognizer CSV loader (lib/host/dataset.c), plain and gzip'ed,
 * through the "csv:FILE" spec as clvit train and eval open it.
 * Input: byte 0 flags (bit 0: gzip the rest here; a plain file may still hold gzip data of
 * the input's own), then the file.
 * Checks: an accepted set is count x 28 x 28 with every pixel readable, and labels, when
 * present, in [0, 10).
 */
#include "dataset.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int gz = data[0] & 1;
    const char *path = fuzz_path("input.csv");
    fuzz_write(path, data + 1, size - 1, gz);
    char spec[600];
    snprintf(spec, sizeof spec, "csv:%s", path);
    clvit_dataset ds;
    const clvit_status st = clvit_dataset_open(spec, 0, &ds);
    if (st != CLVIT_SUCCESS) {
        FUZZ_CHECK(ds.images == NULL && ds.labels == NULL && ds.count == 0);
        FUZZ_CHECK(clvit_last_error()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(ds.count > 0 && ds.rows == 28 && ds.cols == 28 && ds.num_classes == 10);
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)ds.count * 28 * 28; i++)
        sum += ds.images[i];
    (void)sum;
    for (int i = 0; ds.labels && i < ds.count; i++)
        FUZZ_CHECK(ds.labels[i] >= 0 && ds.labels[i] < 10);
    clvit_dataset_free(&ds);
    return 0;
}
