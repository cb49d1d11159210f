/*
 * dropout.cl - dropout and drop-path (stochastic depth) from a counter-based hash, so the
 * backward pass regenerates the forward's mask instead of storing it, and a run is
 * reproducible on a device from (seed, step, site).
 *
 *   x     (rows, cols)       scaled in place by keep-mask / (1 - p), element-wise
 *   x     (B, per_sample)    drop_path: one keep decision per image
 *   res   residual input; dropout_residual computes y = res + mask * y
 * `site` tells the dropout locations apart (layer, position in the block). `sample0` is the
 * index of the tensor's first image in the global batch: a data-parallel replica holding
 * images [sample0, sample0 + B) draws the masks one device draws for those images of the whole
 * batch (element index i + sample0 * per_sample, image index i / per_sample + sample0, both
 * modulo 2^32 as the hash takes them).
 */

#include "common.cl"

/* uniform [0, 1) from (seed, site, index) */
CLVIT_DEFINE_UNIFORM01(uniform01, uint, float, convert_float)

/* The scale element i of a (B, per_sample) tensor gets: dropout mask times drop-path mask. */
static inline float keep_scale(uint seed, uint site, uint i, uint per_sample, float p_drop,
                               float p_path, uint sample0) {
    float s = 1.0f;
    if (p_drop > 0.0f)
        s = uniform01(seed, site, i + sample0 * per_sample) >= p_drop ? 1.0f / (1.0f - p_drop)
                                                                      : 0.0f;
    if (p_path > 0.0f)
        s *= uniform01(seed, site + 0x10000u, i / per_sample + sample0) >= p_path
                 ? 1.0f / (1.0f - p_path)
                 : 0.0f;
    return s;
}

/* x *= mask (the same call is the forward and the backward). */
__kernel void dropout_apply(__global float *x, ulong x_off, ulong n, uint per_sample, float p_drop,
                            float p_path, uint seed, uint site, uint sample0) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    x[x_off + i] *= keep_scale(seed, site, (uint)i, per_sample, p_drop, p_path, sample0);
}

/* y = res + mask * y (forward of a dropped residual branch). */
__kernel void dropout_residual(__global float *y, ulong y_off, __global const float *res,
                               ulong res_off, ulong n, uint per_sample, float p_drop, float p_path,
                               uint seed, uint site, uint sample0) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    y[y_off + i] =
        res[res_off + i] +
        keep_scale(seed, site, (uint)i, per_sample, p_drop, p_path, sample0) * y[y_off + i];
}

/* out = mask * dy (backward of a dropped branch, into a separate buffer). */
__kernel void dropout_copy(__global float *out, ulong out_off, __global const float *dy,
                           ulong dy_off, ulong n, uint per_sample, float p_drop, float p_path,
                           uint seed, uint site, uint sample0) {
    const size_t i = get_global_id(0);
    if (i >= n) return;
    out[out_off + i] =
        keep_scale(seed, site, (uint)i, per_sample, p_drop, p_path, sample0) * dy[dy_off + i];
}
