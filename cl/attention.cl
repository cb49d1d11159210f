/*
 * attention.cl - the non-GEMM parts of multi-head self-attention.
 *
 *   qkv   (B, N, 3, H, hd)   output of the qkv Linear (3*D = 3*H*hd columns), bias not added
 *   qkvh  (3, B, H, N, hd)   q, k, v split per head, contiguous for strided-batched GEMMs
 *   att   (B, H, N, N)       scores, softmax taken in place along the last dimension
 *   y     (B, H, N, hd)      att @ v
 *   out   (B, N, H*hd)       heads merged back
 *
 * Backward (same layouts, d-prefixed): split_heads is the inverse of merge_heads,
 * softmax_backward turns datt = dP into dS = P * (dP - sum_j dP * P) in place, and
 * qkv_merge is the inverse permutation of qkv_split (the bias gradient is a column sum of
 * its output, done in lib/reduce.c).
 */
#ifndef WGS
#define WGS 64
#endif

/* Adds the qkv bias (when has_bias) while permuting. A 3-D range (hd, 3*H, B*N): the
 * element within the head is the fastest index, so no division per element. */
__kernel void qkv_split(__global float *qkvh, uint qkvh_off, __global const float *qkv,
                        uint qkv_off, __global const float *p, uint bias_off, int has_bias, int B,
                        int N, int H, int hd) {
    const int e = get_global_id(0), wh = get_global_id(1), row = get_global_id(2);
    const int which = wh / H, h = wh % H, n = row % N, b = row / N;
    const int c = wh * hd + e; /* column in (3, H, hd) */
    float v = qkv[qkv_off + (size_t)row * 3 * H * hd + c];
    if (has_bias) v += p[bias_off + c];
    qkvh[qkvh_off + ((((size_t)which * B + b) * H + h) * N + n) * hd + e] = v;
}

/* Row-wise softmax in place: one work-group per row of length N. */
__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void softmax_forward(__global float *att, uint att_off, int N) {
    __local float scratch[WGS];
    const int lid = get_local_id(0);
    __global float *r = att + att_off + (size_t)get_group_id(0) * N;
    float m = -INFINITY;
    for (int i = lid; i < N; i += WGS) m = fmax(m, r[i]);
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WGS / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    for (int i = lid; i < N; i += WGS) {
        float e = exp(r[i] - m);
        r[i] = e;
        sum += e;
    }
    scratch[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WGS / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = 1.0f / scratch[0];
    for (int i = lid; i < N; i += WGS) r[i] *= inv;
}

/* One work-item per output element: out[b, n, h*hd + e] = y[b, h, n, e]. */
__kernel void merge_heads(__global float *out, uint out_off, __global const float *y,
                          uint y_off, int B, int N, int H, int hd) {
    /* 3-D range (hd, H, B*N), as qkv_split */
    const int e = get_global_id(0), h = get_global_id(1), row = get_global_id(2);
    const int n = row % N, b = row / N;
    out[out_off + ((size_t)row * H + h) * hd + e] = y[y_off + (((size_t)b * H + h) * N + n) * hd + e];
}

/* One work-item per element of dout: dy[b, h, n, e] = dout[b, n, h*hd + e]. */
__kernel void split_heads(__global float *dy, uint dy_off, __global const float *dout,
                          uint dout_off, int B, int N, int H, int hd) {
    /* 3-D range (hd, H, B*N), as qkv_split */
    const int e = get_global_id(0), h = get_global_id(1), row = get_global_id(2);
    const int n = row % N, b = row / N;
    dy[dy_off + (((size_t)b * H + h) * N + n) * hd + e] = dout[dout_off + ((size_t)row * H + h) * hd + e];
}

/* Row-wise softmax backward in place on datt: one work-group per row of length N. */
__kernel __attribute__((reqd_work_group_size(WGS, 1, 1)))
void softmax_backward(__global float *datt, uint datt_off, __global const float *att,
                      uint att_off, int N) {
    __local float scratch[WGS];
    const int lid = get_local_id(0);
    const size_t base = (size_t)get_group_id(0) * N;
    __global float *d = datt + datt_off + base;
    __global const float *pr = att + att_off + base;
    float s = 0.0f;
    for (int i = lid; i < N; i += WGS) s += d[i] * pr[i];
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = WGS / 2; k > 0; k >>= 1) {
        if (lid < k) scratch[lid] += scratch[lid + k];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float dot = scratch[0];
    for (int i = lid; i < N; i += WGS) d[i] = pr[i] * (d[i] - dot);
}

/* One work-item per element of dqkv (B, N, 3D): the inverse of qkv_split. */
__kernel void qkv_merge(__global float *dqkv, uint dqkv_off, __global const float *dqkvh,
                        uint dqkvh_off, int B, int N, int H, int hd) {
    const int e = get_global_id(0), wh = get_global_id(1), row = get_global_id(2);
    const int which = wh / H, h = wh % H, n = row % N, b = row / N;
    dqkv[dqkv_off + (size_t)row * 3 * H * hd + wh * hd + e] =
        dqkvh[dqkvh_off + ((((size_t)which * B + b) * H + h) * N + n) * hd + e];
}
