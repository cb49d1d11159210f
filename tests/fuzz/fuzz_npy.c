/*
 * fuzz_npy.c - the .npy reader (lib/host/npy.c): magic, version, header length, the header's
 * Python dict (descr, fortran_order, shape), the data size.
 * Checks, besides the sanitizers: an accepted array's shape multiplies out to the elements
 * read, and it survives a round trip through the writer (same shape, same float32 bits).
 */
#include "fuzz_util.h"
#include "clvit_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("input.npy");
    fuzz_write(path, data, size, 0);
    float *x = NULL;
    int64_t shape[CLVIT_NPY_MAX_DIMS];
    int ndim = -1;
    const clvit_status st = clvit_npy_read_f32(path, &x, shape, &ndim);
    if (st != CLVIT_SUCCESS) {
        FUZZ_CHECK(x == NULL && clvit_last_error()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(x != NULL && ndim >= 0 && ndim <= CLVIT_NPY_MAX_DIMS);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        FUZZ_CHECK(shape[d] >= 0);
        numel *= (size_t)shape[d];
    }
    FUZZ_CHECK(numel <= size); /* every element came from the file (4 or 8 bytes each) */

    const char *out = fuzz_path("round_trip.npy");
    FUZZ_CHECK(clvit_npy_write_f32(out, x, shape, ndim) == CLVIT_SUCCESS);
    float *y = NULL;
    int64_t shape2[CLVIT_NPY_MAX_DIMS];
    int ndim2 = -1;
    FUZZ_CHECK(clvit_npy_read_f32(out, &y, shape2, &ndim2) == CLVIT_SUCCESS);
    FUZZ_CHECK(ndim2 == ndim && !memcmp(shape, shape2, (size_t)ndim * sizeof shape[0]));
    FUZZ_CHECK(numel == 0 || !memcmp(x, y, numel * sizeof *x));
    free(y);
    free(x);
    return 0;
}
