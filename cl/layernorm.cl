/*
 * layernorm.cl - LayerNorm over the last dimension, one work-group of WGS items per row.
 *
 *   x, out      (rows, C)   row r at offset r*C
 *   mean, rstd  (rows)      saved for the backward pass
 *   weight, bias (C)        in the parameter buffer at w_off / b_off
 * Two-pass statistics (mean, then centred variance) for accuracy; biased variance as PyTorch.
 *
 * Backward, with xhat = (x - mean) * rstd and g = dout * weight:
 *   dx     = rstd * (g - mean_C(g) - xhat * mean_C(g * xhat))   one work-group per row
 *   dweight = sum_rows dout * xhat, dbias = sum_rows dout          one work-group per
 *                                                                  TILE_C columns
 * Gradients take a BLAS-style beta: 0 overwrites (the old value is never read), 1 adds.
 */
#ifndef WGS
#define WGS 64
#endif
#ifndef TILE_C
#define TILE_C 32
#endif
#ifndef LANES
#define LANES 8
#endif

#include "common.cl"

__kernel __attribute__((reqd_work_group_size(WGS, 1, 1))) void
layernorm_forward(__global float *out, ulong out_off, __global float *mean, ulong mean_off,
                  __global float *rstd, ulong rstd_off, __global const float *x, ulong x_off,
                  __global const float *p, ulong w_off, ulong b_off, int C, float eps) {
    __local float scratch[WGS];
    const int row = get_group_id(0), lid = get_local_id(0);
    __global const float *xr = x + x_off + (size_t)row * C;
    __global float *yr = out + out_off + (size_t)row * C;
    float s = 0.0f;
    for (int i = lid; i < C; i += WGS)
        s += xr[i];
    const float mu = group_sum(s, scratch) / C;
    float v = 0.0f;
    for (int i = lid; i < C; i += WGS) {
        float d = xr[i] - mu;
        v += d * d;
    }
    const float rs = rsqrt(group_sum(v, scratch) / C + eps);
    for (int i = lid; i < C; i += WGS)
        yr[i] = (xr[i] - mu) * rs * p[w_off + i] + p[b_off + i];
    if (lid == 0) {
        mean[mean_off + row] = mu;
        rstd[rstd_off + row] = rs;
    }
}

__kernel __attribute__((reqd_work_group_size(WGS, 1, 1))) void
layernorm_backward(__global float *dx, ulong dx_off, float beta, __global const float *dout,
                   ulong dout_off, __global const float *x, ulong x_off, __global const float *mean,
                   ulong mean_off, __global const float *rstd, ulong rstd_off,
                   __global const float *p, ulong w_off, int C) {
    __local float scratch[WGS];
    const int row = get_group_id(0), lid = get_local_id(0);
    const size_t base = (size_t)row * C;
    __global const float *xr = x + x_off + base;
    __global const float *gr = dout + dout_off + base;
    __global float *dr = dx + dx_off + base;
    const float mu = mean[mean_off + row], rs = rstd[rstd_off + row];
    float s1 = 0.0f, s2 = 0.0f;
    for (int i = lid; i < C; i += WGS) {
        const float g = gr[i] * p[w_off + i];
        s1 += g;
        s2 += g * (xr[i] - mu) * rs;
    }
    const float m1 = group_sum(s1, scratch) / C;
    const float m2 = group_sum(s2, scratch) / C;
    for (int i = lid; i < C; i += WGS) {
        const float xhat = (xr[i] - mu) * rs;
        const float v = rs * (gr[i] * p[w_off + i] - m1 - xhat * m2);
        dr[i] = beta == 0.0f ? v : beta * dr[i] + v;
    }
}

/* g[dw_off + c] (+)= sum_r dout[r, c] * xhat[r, c]; g[db_off + c] (+)= sum_r dout[r, c]. */
__kernel __attribute__((reqd_work_group_size(TILE_C * LANES, 1, 1))) void
layernorm_param_backward(__global float *g, ulong dw_off, ulong db_off, float beta,
                         __global const float *dout, ulong dout_off, __global const float *x,
                         ulong x_off, __global const float *mean, ulong mean_off,
                         __global const float *rstd, ulong rstd_off, int rows, int C) {
    __local float part_w[LANES][TILE_C], part_b[LANES][TILE_C];
    const int lid = get_local_id(0), tc = lid % TILE_C, lane = lid / TILE_C;
    const int c = get_group_id(0) * TILE_C + tc;
    float sw = 0.0f, sb = 0.0f;
    if (c < C) {
        for (int r = lane; r < rows; r += LANES) {
            const size_t i = (size_t)r * C + c;
            const float d = dout[dout_off + i];
            sw += d * (x[x_off + i] - mean[mean_off + r]) * rstd[rstd_off + r];
            sb += d;
        }
    }
    part_w[lane][tc] = sw;
    part_b[lane][tc] = sb;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lane != 0 || c >= C) return;
    float tw = 0.0f, tb = 0.0f;
    for (int l = 0; l < LANES; l++) {
        tw += part_w[l][tc];
        tb += part_b[l][tc];
    }
    g[dw_off + c] = beta == 0.0f ? tw : beta * g[dw_off + c] + tw;
    g[db_off + c] = beta == 0.0f ? tb : beta * g[db_off + c] + tb;
}

/* ---------------------------------------------------------------- one work-item per row
 * The same three operations for CPUs, without barriers: a work-item owns a row (forward,
 * dx) or VEC adjacent columns (parameter gradients) and walks it with VEC-wide vectors, so
 * PoCL runs straight vector code instead of looping a work-group around each barrier.
 * Offsets are 64-bit. */
#ifndef VEC
#define VEC 16
#endif
#define LN_CAT_(a, b) a##b
#define LN_CAT(a, b) LN_CAT_(a, b)
#define floatN LN_CAT(float, VEC)
#define loadN LN_CAT(vload, VEC)
#define storeN LN_CAT(vstore, VEC)

#define ln_hsum LN_CAT(hsum, VEC)

__kernel void layernorm_forward_rows(__global float *out, ulong out_off, __global float *mean,
                                     ulong mean_off, __global float *rstd, ulong rstd_off,
                                     __global const float *x, ulong x_off, __global const float *p,
                                     ulong w_off, ulong b_off, int rows, int C, float eps) {
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float *xr = x + x_off + (size_t)row * C;
    __global float *yr = out + out_off + (size_t)row * C;
    __global const float *w = p + w_off, *b = p + b_off;
    const int cv = C / VEC * VEC;
    floatN sv = (floatN)(0.0f);
    for (int i = 0; i < cv; i += VEC)
        sv += loadN(0, xr + i);
    float s = ln_hsum(sv);
    for (int i = cv; i < C; i++)
        s += xr[i];
    const float mu = s / C;
    floatN vv = (floatN)(0.0f);
    for (int i = 0; i < cv; i += VEC) {
        const floatN d = loadN(0, xr + i) - mu;
        vv += d * d;
    }
    float v = ln_hsum(vv);
    for (int i = cv; i < C; i++)
        v += (xr[i] - mu) * (xr[i] - mu);
    const float rs = rsqrt(v / C + eps);
    for (int i = 0; i < cv; i += VEC)
        storeN((loadN(0, xr + i) - mu) * rs * loadN(0, w + i) + loadN(0, b + i), 0, yr + i);
    for (int i = cv; i < C; i++)
        yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
    mean[mean_off + row] = mu;
    rstd[rstd_off + row] = rs;
}

__kernel void layernorm_backward_rows(__global float *dx, ulong dx_off, float beta,
                                      __global const float *dout, ulong dout_off,
                                      __global const float *x, ulong x_off,
                                      __global const float *mean, ulong mean_off,
                                      __global const float *rstd, ulong rstd_off,
                                      __global const float *p, ulong w_off, int rows, int C) {
    const int row = get_global_id(0);
    if (row >= rows) return;
    const size_t base = (size_t)row * C;
    __global const float *xr = x + x_off + base, *gr = dout + dout_off + base, *w = p + w_off;
    __global float *dr = dx + dx_off + base;
    const float mu = mean[mean_off + row], rs = rstd[rstd_off + row];
    const int cv = C / VEC * VEC;
    floatN s1v = (floatN)(0.0f), s2v = (floatN)(0.0f);
    for (int i = 0; i < cv; i += VEC) {
        const floatN g = loadN(0, gr + i) * loadN(0, w + i);
        s1v += g;
        s2v += g * (loadN(0, xr + i) - mu) * rs;
    }
    float s1 = ln_hsum(s1v), s2 = ln_hsum(s2v);
    for (int i = cv; i < C; i++) {
        const float g = gr[i] * w[i];
        s1 += g;
        s2 += g * (xr[i] - mu) * rs;
    }
    const float m1 = s1 / C, m2 = s2 / C;
    for (int i = 0; i < cv; i += VEC) {
        const floatN xhat = (loadN(0, xr + i) - mu) * rs;
        floatN v = rs * (loadN(0, gr + i) * loadN(0, w + i) - m1 - xhat * m2);
        if (beta != 0.0f) v += beta * loadN(0, dr + i);
        storeN(v, 0, dr + i);
    }
    for (int i = cv; i < C; i++) {
        const float xhat = (xr[i] - mu) * rs;
        const float v = rs * (gr[i] * w[i] - m1 - xhat * m2);
        dr[i] = beta == 0.0f ? v : beta * dr[i] + v;
    }
}

/* Work-item (c, lane) sums rows lane, lane + LANES_R, ... of columns c*VEC .. c*VEC+VEC-1 (or
 * one column past the last whole vector) into part (LANES_R, C) x 2; a second launch adds the
 * lanes. Two launches without barriers, deterministic. */
#ifndef LANES_R
#define LANES_R 8
#endif
__kernel void layernorm_param_partial(__global float *part, __global const float *dout,
                                      ulong dout_off, __global const float *x, ulong x_off,
                                      __global const float *mean, ulong mean_off,
                                      __global const float *rstd, ulong rstd_off, int rows, int C) {
    const int cg = get_global_id(0), lane = get_global_id(1);
    const int c0 = cg * VEC;
    if (c0 >= C) return;
    __global float *pw = part + (size_t)lane * 2 * C, *pb = pw + C;
    if (c0 + VEC <= C) {
        floatN sw = (floatN)(0.0f), sb = (floatN)(0.0f);
        for (int r = lane; r < rows; r += LANES_R) {
            const size_t i = (size_t)r * C + c0;
            const floatN d = loadN(0, dout + dout_off + i);
            sw += d * (loadN(0, x + x_off + i) - mean[mean_off + r]) * rstd[rstd_off + r];
            sb += d;
        }
        storeN(sw, 0, pw + c0);
        storeN(sb, 0, pb + c0);
        return;
    }
    for (int c = c0; c < C; c++) {
        float sw = 0.0f, sb = 0.0f;
        for (int r = lane; r < rows; r += LANES_R) {
            const size_t i = (size_t)r * C + c;
            const float d = dout[dout_off + i];
            sw += d * (x[x_off + i] - mean[mean_off + r]) * rstd[rstd_off + r];
            sb += d;
        }
        pw[c] = sw;
        pb[c] = sb;
    }
}

/* g[dw_off + c] = beta * g + sum over lanes; likewise db. One work-item per column. */
__kernel void layernorm_param_finish(__global float *g, ulong dw_off, ulong db_off, float beta,
                                     __global const float *part, int C) {
    const int c = get_global_id(0);
    if (c >= C) return;
    float tw = 0.0f, tb = 0.0f;
    for (int l = 0; l < LANES_R; l++) {
        tw += part[(size_t)l * 2 * C + c];
        tb += part[(size_t)l * 2 * C + C + c];
    }
    g[dw_off + c] = beta == 0.0f ? tw : beta * g[dw_off + c] + tw;
    g[db_off + c] = beta == 0.0f ? tb : beta * g[db_off + c] + tb;
}
