/*
 * augment.c - see include/clvit_data.h (clvit_augment) and augment.h: random rotation and
 * shift of 8-bit greyscale images (bilinear, 0 outside) and the mean/std normalisation, on
 * (rows, cols) row-major images.
 */
#include "augment.h"

#include <math.h>

clvit_status clvit_augment(const uint8_t *src, int rows, int cols, float max_rot_deg,
                           float max_shift_px, uint64_t *rng, float *dst) {
    if (!src || !dst || !rng) return clvit_fail(CLVIT_ERR_INVALID_ARG, "augment: NULL argument");
    if (rows <= 0 || cols <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "augment: image %d x %d", rows, cols);
    if (!(max_rot_deg >= 0.0f && max_rot_deg <= 360.0f) ||
        !(max_shift_px >= 0.0f && max_shift_px <= 1e6f))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "augment: max_rot_deg %g, max_shift_px %g",
                          (double)max_rot_deg, (double)max_shift_px);
    float u_rot = clvit_rng_uniform(rng), u_dx = clvit_rng_uniform(rng),
          u_dy = clvit_rng_uniform(rng);
    double angle = (2.0 * u_rot - 1.0) * max_rot_deg * (3.14159265358979323846 / 180.0);
    double dx = nearbyint((2.0 * u_dx - 1.0) * max_shift_px);
    double dy = nearbyint((2.0 * u_dy - 1.0) * max_shift_px);
    double cs = cos(angle), sn = sin(angle);
    double cx = 0.5 * (cols - 1), cy = 0.5 * (rows - 1);
    for (int y = 0; y < rows; y++) {
        for (int x = 0; x < cols; x++) {
            /* inverse map: source = R(-angle) (out - centre - shift) + centre; a positive
             * angle turns the picture counter-clockwise on screen (y down) */
            double u = x - cx - dx, v = y - cy - dy;
            double sx = cs * u - sn * v + cx, sy = sn * u + cs * v + cy;
            double fx = floor(sx), fy = floor(sy);
            double ax = sx - fx, ay = sy - fy;
            double acc = 0.0;
            if (fx >= -1.0 && fx < cols && fy >= -1.0 && fy < rows) {
                int x0 = (int)fx, y0 = (int)fy;
                for (int j = 0; j < 2; j++) {
                    int yy = y0 + j;
                    if (yy < 0 || yy >= rows) continue;
                    double wy = j ? ay : 1.0 - ay;
                    for (int i = 0; i < 2; i++) {
                        int xx = x0 + i;
                        if (xx < 0 || xx >= cols) continue;
                        double wx = i ? ax : 1.0 - ax;
                        acc += wx * wy * src[(size_t)yy * (size_t)cols + (size_t)xx];
                    }
                }
            }
            dst[(size_t)y * (size_t)cols + (size_t)x] = (float)(acc / 255.0);
        }
    }
    return CLVIT_SUCCESS;
}

clvit_status clvit_normalise(const uint8_t *src, size_t n, float mean, float std, float *dst) {
    if ((!src || !dst) && n) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: NULL array");
    if (!(std != 0.0f)) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: std %g", (double)std);
    for (size_t i = 0; i < n; i++)
        dst[i] = ((float)src[i] / 255.0f - mean) / std;
    return CLVIT_SUCCESS;
}

clvit_status clvit_normalise_f(float *x, size_t n, float mean, float std) {
    if (!x && n) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: NULL array");
    if (!(std != 0.0f)) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: std %g", (double)std);
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - mean) / std;
    return CLVIT_SUCCESS;
}
