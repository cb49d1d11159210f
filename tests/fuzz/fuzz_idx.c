/*
 * fuzz_idx.c - the IDX loaders (lib/host/dataset.c: MNIST / Fashion-MNIST images and labels),
 * plain and gzip'ed, directly and through a "mnist:DIR" spec (file names with and without
 * .gz, dashed and dotted).
 * Input: byte 0 flags, bytes 1-2 the length L of the images file (little-endian, clamped to
 * what is there), then L bytes of images file, then the labels file.
 *   flags bit 0: gzip the images file here, bit 1: gzip the labels file (a plain file may
 *   still hold gzip data of the input's own, truncated or corrupt), bit 2: no labels file,
 *   bit 3: load through clvit_dataset_open("mnist:DIR") (file names from bits 0, 1 and 4:
 *   .gz when compressed, bit 4: the dotted spelling "train-images.idx3-ubyte").
 * Checks: an accepted set has count, rows, cols >= 0 with every pixel readable, labels in
 * [0, num_classes), and the labels file's count equals the images'.
 */
#include "dataset.h"
#include "fuzz_util.h"

static void check(const clvit_dataset *ds) {
    FUZZ_CHECK(ds->count >= 0 && ds->rows > 0 && ds->cols > 0 && ds->num_classes == 10);
    const size_t n = (size_t)ds->count * (size_t)ds->rows * (size_t)ds->cols;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ds->images[i]; /* every pixel is there (ASan checks) */
    (void)sum;
    for (int i = 0; ds->labels && i < ds->count; i++)
        FUZZ_CHECK(ds->labels[i] >= 0 && ds->labels[i] < ds->num_classes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int flags = data[0];
    size_t len = (size_t)data[1] | ((size_t)data[2] << 8);
    data += 3;
    size -= 3;
    if (len > size) len = size;
    const int gz_img = flags & 1, gz_lab = flags & 2, no_labels = flags & 4;
    const int via_spec = flags & 8, dotted = flags & 16;

    clvit_dataset ds;
    clvit_status st;
    if (via_spec) {
        /* the spec's directory is the harness's own; mnist:DIR finds train-* there */
        char img_name[40], lab_name[40];
        snprintf(img_name, sizeof img_name, "train-images%sidx3-ubyte%s", dotted ? "." : "-",
                 gz_img ? ".gz" : "");
        snprintf(lab_name, sizeof lab_name, "train-labels%sidx1-ubyte%s", dotted ? "." : "-",
                 gz_lab ? ".gz" : "");
        /* only one spelling of each file may exist at a time */
        static const char *const all[] = {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                                          "train-images.idx3-ubyte", "train-images.idx3-ubyte.gz",
                                          "train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz",
                                          "train-labels.idx1-ubyte", "train-labels.idx1-ubyte.gz"};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            unlink(fuzz_path(all[i]));
        fuzz_write(fuzz_path(img_name), data, len, gz_img);
        if (!no_labels) fuzz_write(fuzz_path(lab_name), data + len, size - len, gz_lab);
        const char *img = fuzz_path(img_name);
        char spec[600];
        snprintf(spec, sizeof spec, "mnist:%.*s", (int)(strrchr(img, '/') - img), img);
        st = clvit_dataset_open(spec, 0, &ds);
        if (no_labels) FUZZ_CHECK(st == CLVIT_ERR_IO); /* the labels file is required */
    } else {
        const char *img = fuzz_path("images"), *lab = fuzz_path("labels");
        fuzz_write(img, data, len, gz_img);
        if (!no_labels) fuzz_write(lab, data + len, size - len, gz_lab);
        st = clvit_idx_load(img, no_labels ? NULL : lab, &ds);
    }
    if (st == CLVIT_SUCCESS) {
        check(&ds);
        if (!no_labels) FUZZ_CHECK(ds.labels != NULL);
    } else {
        FUZZ_CHECK(ds.images == NULL && ds.labels == NULL && ds.count == 0);
        FUZZ_CHECK(clvit_last_error()[0] != '\0');
    }
    clvit_dataset_free(&ds);
    return 0;
}
