/*
 * attention.cl - fused multi-head self-attention, forward and backward, reading q, k, v
 * straight from the qkv Linear's output and writing the heads merged.
 *
 *   qkv   (B, N, 3, H, HD)  output of the qkv Linear, row stride 3*D (D = H*HD), bias not
 *                           added; the bias p[bias_off + (3, H, HD)] is added here
 *   att   (B, H, N, N)      softmax probabilities P (undropped), saved for the backward
 *   out   (B, N, H, HD)     y = dropout(P) v, heads merged: the proj Linear's input
 *   dout  (B, N, H, HD)     gradient of out
 *   datt  (B, H, N, N)      backward scratch: dS, the gradient of the scores
 *   dqkv  (B, N, 3, H, HD)  gradient of the qkv Linear's output (as qkv)
 *
 * Every kernel runs over a 2-D range (query or key rows rounded up to the work-group size,
 * B*H): a work-group holds consecutive rows of one (image, head), so the rows of k and v it
 * reads are the same for all its work-items. A work-item owns one row, or FR, QR or KR rows
 * (build options; several on CPUs, where one load of a k, v, q or dy row then feeds several
 * rows), and keeps their q, dy and accumulators (HD floats each) in private memory; HD is a
 * build option too. Keys (or query rows, in attention_backward_kv) go in chunks of 16 whose
 * scores, exp, dropout mask and sums are float16 operations.
 *
 * Forward, per query row i (s_ij = scale q_i . k_j): an online softmax over the chunks
 * (running max m and sum l, the accumulator rescaled when m grows), so no row of scores is
 * stored unless att is: y_i = sum_j keep_ij exp(s_ij - m) v_j / l, att_ij = exp(s_ij - m) / l.
 * The k bias adds q_i . b_k to every score of the row and the v bias b_v * sum_j P_ij keep_ij
 * to y_i, so both are added once per row instead of once per key.
 *
 * Backward, with Pd = P * keep (keep: the dropout mask over the flat (B, H, N, N) index, 0 or
 * 1/(1-p), regenerated from the hash of cl/dropout.cl), dy = dout for one head:
 *   attention_backward_q, per query row i:  dP_ij = keep_ij dy_i . v_j,
 *       dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij) into datt,  dq_i = scale sum_j dS_ij k_j
 *   attention_backward_kv, per key row j:   dk_j = scale sum_i dS_ij q_i,
 *       dv_j = sum_i Pd_ij dy_i
 * Each output element is written by one work-item, in a fixed order: deterministic. The
 * biases again enter once per row: dy_i . b_v in dP, b_k sum_j dS_ij in dq_i, b_q sum_i dS_ij
 * in dk_j.
 *
 * Two forward variants: attention_forward_rows reads k and v rows from global memory, the
 * dot products vectorised along HD (best on CPUs: PoCL runs a work-group's work-items one
 * after the other and the rows stay in cache); attention_forward_tiled stages each chunk of
 * k (transposed) and v in local memory and vectorises the scores along the keys (GPUs).
 */
#ifndef HD
#define HD 64
#endif

#include "common.cl"

/* Rows of HD floats are handled as NV vectors of VW floats, VW the widest of 16, 8, 4, 2, 1
 * dividing HD: dot products are VW partial sums added at the end (hsum). */
#if HD % 16 == 0
#define VW 16
typedef float16 vec;
#define VLOAD vload16
#define VSTORE vstore16
#define hsum hsum16
#elif HD % 8 == 0
#define VW 8
typedef float8 vec;
#define VLOAD vload8
#define VSTORE vstore8
#define hsum hsum8
#elif HD % 4 == 0
#define VW 4
typedef float4 vec;
#define VLOAD vload4
#define VSTORE vstore4
#define hsum hsum4
#elif HD % 2 == 0
#define VW 2
typedef float2 vec;
#define VLOAD vload2
#define VSTORE vstore2
#define hsum hsum2
#else
#define VW 1
typedef float vec;
#define VLOAD(i, ptr) ((ptr)[i])
#define VSTORE(v, i, ptr) ((ptr)[i] = (v))
#define hsum hsum1
#endif
#define NV (HD / VW)

/* uniform01 of cl/dropout.cl on 16 indices at once; it must stay the same hash: attention
 * dropout regenerates the masks clvit_dropout_apply would draw over the flat (B, H, N, N)
 * index with per_sample 1 (the tests compare them). */
CLVIT_DEFINE_UNIFORM01(uniform01_16, uint16, float16, convert_float16)

/* keep_scale of cl/dropout.cl with p_path 0: 0 or 1 / (1 - p_drop), per lane. idx0: the
 * flat index of this batch's first probability in the global batch (sample0 * H * N * N
 * modulo 2^32, a data-parallel share's offset; 0 on one device). */
static inline float16 keep16(uint seed, uint site, uint idx0, uint16 i, float p_drop) {
    return select((float16)0.0f, (float16)(1.0f / (1.0f - p_drop)),
                  isgreaterequal(uniform01_16(seed, site, i + idx0), (float16)p_drop));
}

#define LANES (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/* The first n (1..16) floats at x; the other lanes 0. */
static inline float16 load16(__global const float *x, int n) {
    if (n == 16) return vload16(0, x);
    float t[16];
    for (int k = 0; k < 16; k++)
        t[k] = k < n ? x[k] : 0.0f;
    return vload16(0, t);
}

/* The first n (1..16) lanes of v to x. */
static inline void store16(float16 v, __global float *x, int n) {
    if (n == 16) {
        vstore16(v, 0, x);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (int k = 0; k < n; k++)
        x[k] = t[k];
}

/* Row i of (b, h) = bh: pointers to its q, the (b, h) block's k and v at key 0, the biases,
 * its att row and output row; drow is the dropout index of (i, key 0). */
#define ATTENTION_POINTERS()                                                                       \
    const int D = H * HD, bh = get_global_id(1), b = bh / H, h = bh - b * H;                       \
    const ulong ld3 = 3 * (ulong)D;                                                                \
    __global const float *qrow = qkv + qkv_off + ((ulong)b * N + i) * ld3 + (ulong)h * HD;         \
    __global const float *k0 = qkv + qkv_off + (ulong)b * N * ld3 + D + (ulong)h * HD;             \
    __global const float *v0 = k0 + D;                                                             \
    __global const float *bq = p + bias_off + (ulong)h * HD, *bk = bq + D, *bv = bq + 2 * D;       \
    __global float *arow = att + att_off + ((ulong)bh * N + i) * N;                                \
    __global float *orow = out + out_off + ((ulong)b * N + i) * D + (ulong)h * HD;                 \
    const uint drow = (uint)(((ulong)bh * N + i) * N);

/* out_i = (acc + b_v ld) / l into orow, then the saved raw scores of arow become
 * probabilities. */
#define ROW_FINISH(ACC, M, L, LD)                                                                  \
    {                                                                                              \
        const float inv = 1.0f / (L);                                                              \
        _Pragma("unroll") for (int c = 0; c < NV; c++)                                             \
            VSTORE(((ACC)[c] + (has_bias ? VLOAD(c, bv) * (LD) : (vec)0.0f)) * inv, c, orow);      \
        if (save) {                                                                                \
            int j = 0;                                                                             \
            for (; j + 16 <= N; j += 16)                                                           \
                vstore16(exp(vload16(0, arow + j) - (M)) * inv, 0, arow + j);                      \
            for (; j < N; j++)                                                                     \
                arow[j] = exp(arow[j] - (M)) * inv;                                                \
        }                                                                                          \
    }

/* FR query rows per work-item in attention_forward_rows: each k and v row loaded once feeds
 * FR rows. */
#ifndef FR
#define FR 1
#endif

/* FR query rows per work-item, k and v rows read from global memory (the work-group's rows
 * share them through the cache), dot products vectorised along HD. Per chunk of 16 keys: the
 * scores, then exp and the mask on a float16 and one rescale of acc per row. No barriers: a
 * work-item past the last row returns at once, a row past the end computes row N-1 and
 * writes nothing. */
__kernel void attention_forward_rows(__global float *out, ulong out_off, __global float *att,
                                     ulong att_off, int save, __global const float *qkv,
                                     ulong qkv_off, __global const float *p, ulong bias_off,
                                     int has_bias, float scale, int N, int H, float p_drop,
                                     uint seed, uint site, uint idx0) {
    const int i0 = get_global_id(0) * FR;
    if (i0 >= N) return;
    const int D = H * HD, bh = get_global_id(1), b = bh / H, h = bh - b * H;
    const ulong ld3 = 3 * (ulong)D;
    __global const float *k0 = qkv + qkv_off + (ulong)b * N * ld3 + D + (ulong)h * HD;
    __global const float *v0 = k0 + D;
    __global const float *bq = p + bias_off + (ulong)h * HD, *bk = bq + D, *bv = bq + 2 * D;
    /* q = scale (q_i + b_q); qb = q . b_k is added to every score of the row */
    vec q[FR][NV], acc[FR][NV];
    float qb[FR], m[FR], l[FR], ld[FR];
#pragma unroll
    for (int r = 0; r < FR; r++) {
        const int i = min(i0 + r, N - 1);
        __global const float *qrow = qkv + qkv_off + ((ulong)b * N + i) * ld3 + (ulong)h * HD;
        vec t = 0.0f;
#pragma unroll
        for (int c = 0; c < NV; c++) {
            q[r][c] = scale * (VLOAD(c, qrow) + (has_bias ? VLOAD(c, bq) : (vec)0.0f));
            acc[r][c] = 0.0f;
            if (has_bias) t = fma(q[r][c], VLOAD(c, bk), t);
        }
        qb[r] = hsum(t);
        m[r] = -INFINITY;
        l[r] = 0.0f;
        ld[r] = 0.0f;
    }
    const int16 lane = LANES;
    for (int j0 = 0; j0 < N; j0 += 16) {
        const int n = min(16, N - j0);
        float sc[FR][16];
        for (int jj = 0; jj < n; jj++) {
            __global const float *kj = k0 + (ulong)(j0 + jj) * ld3;
            vec t[FR];
#pragma unroll
            for (int r = 0; r < FR; r++)
                t[r] = 0.0f;
#pragma unroll
            for (int c = 0; c < NV; c++) {
                const vec kc = VLOAD(c, kj);
#pragma unroll
                for (int r = 0; r < FR; r++)
                    t[r] = fma(q[r][c], kc, t[r]);
            }
#pragma unroll
            for (int r = 0; r < FR; r++)
                sc[r][jj] = qb[r] + hsum(t[r]);
        }
#pragma unroll
        for (int r = 0; r < FR; r++) {
            const ulong row = (ulong)bh * N + min(i0 + r, N - 1);
            for (int jj = n; jj < 16; jj++)
                sc[r][jj] = -INFINITY;
            const float16 s = vload16(0, sc[r]);
            if (save && i0 + r < N) store16(s, att + att_off + row * N + j0, n);
            const float mnew = fmax(m[r], hmax16(s)), corr = exp(m[r] - mnew);
            m[r] = mnew;
            float16 w = exp(s - mnew);
            l[r] = fma(l[r], corr, hsum16(w));
            if (p_drop > 0.0f)
                w *= keep16(seed, site, idx0, (uint16)((uint)(row * N) + j0) + convert_uint16(lane),
                            p_drop);
            ld[r] = fma(ld[r], corr, hsum16(w));
            vstore16(w, 0, sc[r]);
#pragma unroll
            for (int c = 0; c < NV; c++)
                acc[r][c] *= corr;
        }
        for (int jj = 0; jj < n; jj++) {
            __global const float *vj = v0 + (ulong)(j0 + jj) * ld3;
#pragma unroll
            for (int c = 0; c < NV; c++) {
                const vec vc = VLOAD(c, vj);
#pragma unroll
                for (int r = 0; r < FR; r++)
                    acc[r][c] = fma((vec)sc[r][jj], vc, acc[r][c]);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < FR; r++) {
        const int i = i0 + r;
        if (i >= N) continue;
        __global float *arow = att + att_off + ((ulong)bh * N + i) * N;
        __global float *orow = out + out_off + ((ulong)b * N + i) * D + (ulong)h * HD;
        ROW_FINISH(acc[r], m[r], l[r], ld[r])
    }
}

/* One work-group per (query tile, b, h), one work-item per query row. The group copies each
 * chunk of 16 keys into local memory, k transposed (kt[e][jj], rows padded to 17 floats
 * against bank conflicts) and v as rows, zeros past the last key. Each work-item then takes
 * the 16 scores of its row as one float16 (a broadcast q element times a kt row per e: no
 * horizontal sums), and exp, the mask and the running max and sums on that vector; acc gets
 * the 16 v rows. Every work-item of a group reads the same local addresses. Work-items past
 * the last row compute row N-1 and write nothing. Local memory: (HD * 17 + 16 * HD) floats. */
#define KT 17
__kernel void attention_forward_tiled(__global float *out, ulong out_off, __global float *att,
                                      ulong att_off, int save, __global const float *qkv,
                                      ulong qkv_off, __global const float *p, ulong bias_off,
                                      int has_bias, float scale, int N, int H, float p_drop,
                                      uint seed, uint site, uint idx0) {
    __local float kt[HD * KT], vs[16 * HD];
    const int row = get_global_id(0), lid = get_local_id(0), nl = get_local_size(0);
    const int i = min(row, N - 1);
    save = save && row < N;
    ATTENTION_POINTERS()
    float q[HD], qb = 0.0f;
    vec acc[NV];
#pragma unroll
    for (int e = 0; e < HD; e++)
        q[e] = scale * (qrow[e] + (has_bias ? bq[e] : 0.0f));
    if (has_bias)
        for (int e = 0; e < HD; e++)
            qb = fma(q[e], bk[e], qb);
#pragma unroll
    for (int c = 0; c < NV; c++)
        acc[c] = 0.0f;
    const int16 lane = LANES;
    float m = -INFINITY, l = 0.0f, ld = 0.0f;
    for (int j0 = 0; j0 < N; j0 += 16) {
        const int n = min(16, N - j0);
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous chunk is consumed */
        for (int t = lid; t < 16 * HD; t += nl) {
            const int jj = t / HD, e = t - jj * HD;
            const ulong at = (ulong)(j0 + jj) * ld3 + e;
            kt[e * KT + jj] = jj < n ? k0[at] : 0.0f;
            vs[t] = jj < n ? v0[at] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        float16 s = qb;
#pragma unroll
        for (int e = 0; e < HD; e++)
            s = fma((float16)q[e], vload16(0, kt + e * KT), s);
        s = select(s, (float16)(-INFINITY), lane >= n); /* keys past the last one */
        if (save) store16(s, arow + j0, n);
        const float mnew = fmax(m, hmax16(s)), corr = exp(m - mnew);
        m = mnew;
        float16 w = exp(s - m);
        l = fma(l, corr, hsum16(w));
        if (p_drop > 0.0f)
            w *= keep16(seed, site, idx0, (uint16)(drow + j0) + convert_uint16(lane), p_drop);
        ld = fma(ld, corr, hsum16(w));
        float wv[16];
        vstore16(w, 0, wv);
#pragma unroll
        for (int c = 0; c < NV; c++)
            acc[c] *= corr;
        for (int jj = 0; jj < n; jj++) {
#pragma unroll
            for (int c = 0; c < NV; c++)
                acc[c] = fma((vec)wv[jj], VLOAD(c, vs + jj * HD), acc[c]);
        }
    }
    if (row < N) ROW_FINISH(acc, m, l, ld)
}

/* QR query rows per work-item in attention_backward_q: each v_j and k_j row loaded once
 * feeds QR rows. */
#ifndef QR
#define QR 2
#endif

/* Per query rows i = QR * gid .. QR * gid + QR - 1: dS (into datt) and dq_i (into dqkv's q
 * columns). Keys in chunks of 16: dP_ij = keep_ij (dy_i . v_j + dy_i . b_v) as one float16
 * (mask, products and sums on the vector), kept in datt between the two passes over the row.
 * A row past the end computes row N-1 and stores nothing. */
__kernel void attention_backward_q(__global float *dqkv, ulong dqkv_off, __global float *datt,
                                   ulong datt_off, __global const float *dout, ulong dout_off,
                                   __global const float *att, ulong att_off,
                                   __global const float *qkv, ulong qkv_off,
                                   __global const float *p, ulong bias_off, int has_bias,
                                   float scale, int N, int H, float p_drop, uint seed, uint site,
                                   uint idx0) {
    const int i0 = get_global_id(0) * QR;
    if (i0 >= N) return;
    const int D = H * HD, bh = get_global_id(1), b = bh / H, h = bh - b * H;
    const ulong ld3 = 3 * (ulong)D;
    __global const float *k0 = qkv + qkv_off + (ulong)b * N * ld3 + D + (ulong)h * HD;
    __global const float *v0 = k0 + D;
    __global const float *bk = p + bias_off + D + (ulong)h * HD, *bv = bk + D;
    const int16 lane = LANES;
    vec dy[QR][NV], acc[QR][NV];
    float dyb[QR];
    float16 dotv[QR], sdsv[QR];
#pragma unroll
    for (int r = 0; r < QR; r++) {
        const int i = min(i0 + r, N - 1);
        __global const float *dyrow = dout + dout_off + ((ulong)b * N + i) * D + (ulong)h * HD;
        vec t = 0.0f;
#pragma unroll
        for (int c = 0; c < NV; c++) {
            dy[r][c] = VLOAD(c, dyrow);
            acc[r][c] = 0.0f;
            if (has_bias) t = fma(dy[r][c], VLOAD(c, bv), t);
        }
        dyb[r] = hsum(t);
        dotv[r] = 0.0f;
        sdsv[r] = 0.0f;
    }
    for (int j0 = 0; j0 < N; j0 += 16) {
        const int n = min(16, N - j0);
        float sc[QR][16];
        for (int jj = 0; jj < n; jj++) {
            __global const float *vj = v0 + (ulong)(j0 + jj) * ld3;
            vec t[QR];
#pragma unroll
            for (int r = 0; r < QR; r++)
                t[r] = 0.0f;
#pragma unroll
            for (int c = 0; c < NV; c++) {
                const vec vc = VLOAD(c, vj);
#pragma unroll
                for (int r = 0; r < QR; r++)
                    t[r] = fma(dy[r][c], vc, t[r]);
            }
#pragma unroll
            for (int r = 0; r < QR; r++)
                sc[r][jj] = dyb[r] + hsum(t[r]);
        }
#pragma unroll
        for (int r = 0; r < QR; r++) {
            const int i = min(i0 + r, N - 1);
            const ulong row = (ulong)bh * N + i;
            for (int jj = n; jj < 16; jj++)
                sc[r][jj] = 0.0f;
            float16 dp = vload16(0, sc[r]);
            if (p_drop > 0.0f)
                dp *= keep16(seed, site, idx0,
                             (uint16)((uint)(row * N) + j0) + convert_uint16(lane), p_drop);
            if (i0 + r < N) store16(dp, datt + datt_off + row * N + j0, n);
            dotv[r] = fma(load16(att + att_off + row * N + j0, n), dp, dotv[r]);
        }
    }
    float dot[QR];
#pragma unroll
    for (int r = 0; r < QR; r++)
        dot[r] = hsum16(dotv[r]);
    for (int j0 = 0; j0 < N; j0 += 16) {
        const int n = min(16, N - j0);
        float dv[QR][16];
#pragma unroll
        for (int r = 0; r < QR; r++) {
            const ulong at = ((ulong)bh * N + min(i0 + r, N - 1)) * N + j0;
            const float16 ds =
                load16(att + att_off + at, n) * (load16(datt + datt_off + at, n) - dot[r]);
            if (i0 + r < N) store16(ds, datt + datt_off + at, n);
            sdsv[r] += ds;
            vstore16(ds, 0, dv[r]);
        }
        for (int jj = 0; jj < n; jj++) {
            __global const float *kj = k0 + (ulong)(j0 + jj) * ld3;
#pragma unroll
            for (int c = 0; c < NV; c++) {
                const vec kc = VLOAD(c, kj);
#pragma unroll
                for (int r = 0; r < QR; r++)
                    acc[r][c] = fma((vec)dv[r][jj], kc, acc[r][c]);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < QR; r++) {
        if (i0 + r >= N) continue;
        const float sds = hsum16(sdsv[r]);
        __global float *dq = dqkv + dqkv_off + ((ulong)b * N + i0 + r) * ld3 + (ulong)h * HD;
#pragma unroll
        for (int c = 0; c < NV; c++)
            VSTORE(scale * (acc[r][c] + (has_bias ? VLOAD(c, bk) * sds : (vec)0.0f)), c, dq);
    }
}

/* KR key rows per work-item in attention_backward_kv: each q_i and dy_i row loaded once feeds
 * KR rows' accumulators. */
#ifndef KR
#define KR 2
#endif

/* Per key rows j = KR * gid .. KR * gid + KR - 1: dk_j and dv_j (into dqkv's k and v columns)
 * from columns j of datt (dS) and att (P), read across the work-group's consecutive j; query
 * rows in chunks of 16, the mask on a float16. */
__kernel void
attention_backward_kv(__global float *dqkv, ulong dqkv_off, __global const float *datt,
                      ulong datt_off, __global const float *dout, ulong dout_off,
                      __global const float *att, ulong att_off, __global const float *qkv,
                      ulong qkv_off, __global const float *p, ulong bias_off, int has_bias,
                      float scale, int N, int H, float p_drop, uint seed, uint site, uint idx0) {
    const int j0 = get_global_id(0) * KR;
    if (j0 >= N) return;
    const int D = H * HD, bh = get_global_id(1), b = bh / H, h = bh - b * H;
    const ulong ld3 = 3 * (ulong)D;
    __global const float *q0 = qkv + qkv_off + (ulong)b * N * ld3 + (ulong)h * HD;
    __global const float *bq = p + bias_off + (ulong)h * HD;
    __global const float *dy0 = dout + dout_off + (ulong)b * N * D + (ulong)h * HD;
    __global const float *acol = att + att_off + (ulong)bh * N * N;
    __global const float *dcol = datt + datt_off + (ulong)bh * N * N;
    const uint mbase = (uint)((ulong)bh * N * N);
    const int16 lane = LANES;
    vec dk[KR][NV], dv[KR][NV];
    float16 sdsv[KR];
#pragma unroll
    for (int r = 0; r < KR; r++) {
        sdsv[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < NV; c++) {
            dk[r][c] = 0.0f;
            dv[r][c] = 0.0f;
        }
    }
    for (int i0 = 0; i0 < N; i0 += 16) {
        const int n = min(16, N - i0);
        float ds[KR][16], pd[KR][16];
#pragma unroll
        for (int r = 0; r < KR; r++) {
            const int j = min(j0 + r, N - 1); /* a row past the end computes row N-1, unwritten */
            for (int ii = 0; ii < 16; ii++) {
                const ulong at = (ulong)(i0 + min(ii, n - 1)) * N + j;
                ds[r][ii] = ii < n ? dcol[at] : 0.0f;
                pd[r][ii] = acol[at];
            }
            sdsv[r] += vload16(0, ds[r]);
            if (p_drop > 0.0f) {
                const uint16 idx =
                    (uint16)(mbase + (uint)i0 * (uint)N + (uint)j) + convert_uint16(lane) * (uint)N;
                vstore16(vload16(0, pd[r]) * keep16(seed, site, idx0, idx, p_drop), 0, pd[r]);
            }
        }
        for (int ii = 0; ii < n; ii++) {
            __global const float *qi = q0 + (ulong)(i0 + ii) * ld3;
            __global const float *dyi = dy0 + (ulong)(i0 + ii) * D;
#pragma unroll
            for (int c = 0; c < NV; c++) {
                const vec qc = VLOAD(c, qi), dyc = VLOAD(c, dyi);
#pragma unroll
                for (int r = 0; r < KR; r++) {
                    dk[r][c] = fma((vec)ds[r][ii], qc, dk[r][c]);
                    dv[r][c] = fma((vec)pd[r][ii], dyc, dv[r][c]);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < KR; r++) {
        const int j = j0 + r;
        if (j < N) {
            const float sds = hsum16(sdsv[r]);
            __global float *dkr = dqkv + dqkv_off + ((ulong)b * N + j) * ld3 + D + (ulong)h * HD;
            __global float *dvr = dkr + D;
#pragma unroll
            for (int c = 0; c < NV; c++) {
                VSTORE(scale * (dk[r][c] + (has_bias ? VLOAD(c, bq) * sds : (vec)0.0f)), c, dkr);
                VSTORE(dv[r][c], c, dvr);
            }
        }
    }
}
