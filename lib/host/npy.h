/*
 * npy.h - numpy .npy files (format versions 1.0-3.0), little-endian float32, C order.
 * The reader also accepts '<f8' (converted to float32); anything else (Fortran order,
 * big-endian, other dtypes, object arrays) is rejected with a clear error.
 */
#ifndef CLVIT_NPY_H
#define CLVIT_NPY_H

#include "common.h"

#define CLVIT_NPY_MAX_DIMS 8

/* *data is malloc'ed (free it); shape has room for CLVIT_NPY_MAX_DIMS. */
clvit_status clvit_npy_read_f32(const char *path, float **data, int64_t *shape, int *ndim);
clvit_status clvit_npy_write_f32(const char *path, const float *data, const int64_t *shape,
                                 int ndim);

#endif
