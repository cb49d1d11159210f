/*
 * layernorm.cl - LayerNorm over the last dimension, one work-group of WGS items per row.
 *
 *   x, out      (rows, C)   row r at offset r*C
 *   mean, rstd  (rows)      saved for the backward pass
 *   weight, bias (C)        in the parameter buffer at w_off / b_off
 * Two-pass statistics (mean, then centred variance) for accuracy; biased variance as PyTorch.
 */
#ifndef WGS
#define WGS 64
#endif

/* Sum of v over the work-group; every item gets the result. scratch holds WGS floats. */
inline float group_sum(float v, __local float *scratch) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WGS / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void layernorm_forward(__global float *out, uint out_off, __global float *mean, uint mean_off,
                       __global float *rstd, uint rstd_off, __global const float *x, uint x_off,
                       __global const float *p, uint w_off, uint b_off, int C, float eps) {
    __local float scratch[WGS];
    const int row = get_group_id(0), lid = get_local_id(0);
    __global const float *xr = x + x_off + (size_t)row * C;
    __global float *yr = out + out_off + (size_t)row * C;
    float s = 0.0f;
    for (int i = lid; i < C; i += WGS) s += xr[i];
    const float mu = group_sum(s, scratch) / C;
    float v = 0.0f;
    for (int i = lid; i < C; i += WGS) {
        float d = xr[i] - mu;
        v += d * d;
    }
    const float rs = rsqrt(group_sum(v, scratch) / C + eps);
    for (int i = lid; i < C; i += WGS) yr[i] = (xr[i] - mu) * rs * p[w_off + i] + p[b_off + i];
    if (lid == 0) {
        mean[mean_off + row] = mu;
        rstd[rstd_off + row] = rs;
    }
}
