/*
 * gemm.cl - clvit's matrix products with fused Linear-layer epilogues.
 *
 *   C (M, N) = epilogue(alpha * op(A) op(B) + beta * C), row-major, offsets in floats
 *
 *            K                   N                   N
 *      +-----------+       +-----------+       +-----------+
 *    M |   op(A)   |  x  K |   op(B)   |  =  M |     C     |
 *      +-----------+       +-----------+       +-----------+
 *
 *   TA 0: A is (M, K), row m at A + m * lda      TA 1: A is (K, M), row k at A + k * lda
 *   TB 0: B is (K, N), row k at B + k * ldb      TB 1: B is (N, K), row n at B + n * ldb
 *
 * Epilogues (EPI), applied to v = alpha * op(A) op(B) + beta * C before C is written:
 *   0 none; 1 v + bias[n]; 2 v + bias[n] + R[m, n] (a residual, row stride ldr);
 *   3 pre = v + bias[n] written to R, C = gelu(pre) (exact erf form);
 *   4 pre = v + bias[n] written to R, C = tanh(pre);
 *   5 C = v * gelu'(R[m, n]): the backward of a GELU whose pre-activation R holds (no bias).
 * Row sums: with dsum != 0, S[m] = alpha * sum_k op(A)[m, k] + beta * S[m] as well (gemm_vn and
 * gemm_dot, one batch): for dW = dy^T x that is the bias gradient, colsum(dy), for free.
 * Batched products: get_global_id(2) is the batch index, strides sa, sb, sc in floats.
 *
 * Three kernels, each correct for every TA/TB, with tunables as -D macros:
 *   gemm_vn     one work-item computes an MR x (VW*NV) tile, vectors along N: B rows are
 *               vector loads when TB == 0, A elements are broadcast. The CPU kernel.
 *   gemm_dot    one work-item computes MR x NR dot products, vectors along K: A and B rows
 *               are vector loads when TA == 0 and TB == 1 (x W^T, the forward Linear).
 *   gemm_local  a work-group of (TX, TY) items stages (BK x TY*WM) and (BK x TX*WN) tiles in
 *               local memory, each item computing WM x WN: the GPU kernel.
 *   transpose   op(B) of a TB == 1 product packed as (K, N) rows, so that gemm_vn runs it with
 *               vector loads (the plan's "pack_" candidates).
 *   gemm_ln     a residual Linear and the LayerNorm after it in one launch (after W is packed
 *               as W^T by transpose): one work-item owns MR whole rows (N <= NMAX) as gemm_vn
 *               does, C = v + bias + R and L = LayerNorm(C) with its mean and rstd.
 * KIND (0 vn, 1 dot, 2 local, 3 transpose, 4 ln) keeps one kernel in the program, since PoCL
 * compiles every kernel of a program when its binary is saved to the program cache; unset, all
 * build.
 */
#ifndef TA
#define TA 0
#endif
#ifndef TB
#define TB 0
#endif
#ifndef EPI
#define EPI 0
#endif
#ifndef MR
#define MR 4
#endif
#ifndef VW
#define VW 8
#endif
#ifndef NV
#define NV 1
#endif
#ifndef NR
#define NR 4
#endif
#ifndef TX
#define TX 8
#endif
#ifndef TY
#define TY 8
#endif
#ifndef WM
#define WM 4
#endif
#ifndef WN
#define WN 4
#endif
#ifndef BK
#define BK 16
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if VW == 1
#define floatV float
#define LOADV(i, p) ((p)[i])
#define STOREV(v, i, p) ((p)[i] = (v))
#else
#define floatV CAT(float, VW)
#define LOADV(i, p) CAT(vload, VW)(i, p)
#define STOREV(v, i, p) CAT(vstore, VW)(v, i, p)
#endif

/* element (row, col) of op(A) and op(B) */
#if TA
#define A_AT(m, k) A[(size_t)(k)*lda + (m)]
#else
#define A_AT(m, k) A[(size_t)(m)*lda + (k)]
#endif
#if TB
#define B_AT(k, n) B[(size_t)(n)*ldb + (k)]
#else
#define B_AT(k, n) B[(size_t)(k)*ldb + (n)]
#endif

#if NR == 1
#define floatR float
#define LOADR(i, p) ((p)[i])
#define STORER(v, i, p) ((p)[i] = (v))
#else
#define floatR CAT(float, NR)
#define LOADR(i, p) CAT(vload, NR)(i, p)
#define STORER(v, i, p) CAT(vstore, NR)(v, i, p)
#endif

#include "common.cl"
/* Phi(x) per stored vector type: the epilogues run on whole vectors (cl/common.cl) */
#define DEFINE_NORMAL_CDF CLVIT_DEFINE_NORMAL_CDF

/* Writes W consecutive elements of row m of C, from column n, through the epilogue;
 * v = alpha * (A B)[m, n .. n + W). */
#if EPI == 2
#define EPI_AUX(T, LOAD, STORE) v += LOAD(0, R + (size_t)m * ldr + n);
#elif EPI == 3
#define EPI_AUX(T, LOAD, STORE)                                                                    \
    STORE(v, 0, R + (size_t)m * ldr + n);                                                          \
    v = v * CAT(normal_cdf_, T)(v);
#elif EPI == 4
#define EPI_AUX(T, LOAD, STORE)                                                                    \
    STORE(v, 0, R + (size_t)m * ldr + n);                                                          \
    v = tanh(v);
#elif EPI == 5 /* gelu'(x) = Phi(x) + x phi(x) */
#define EPI_AUX(T, LOAD, STORE)                                                                    \
    {                                                                                              \
        const T x = LOAD(0, R + (size_t)m * ldr + n);                                              \
        v *= CAT(normal_cdf_, T)(x) + x * exp(-0.5f * x * x) * 0.39894228040143268f;               \
    }
#else
#define EPI_AUX(T, LOAD, STORE)
#endif
#if EPI >= 1 && EPI <= 4
#define EPI_BIAS(LOAD) v += LOAD(0, bias + n);
#else
#define EPI_BIAS(LOAD)
#endif
#define DEFINE_STORE(T, LOAD, STORE)                                                               \
    DEFINE_NORMAL_CDF(T, CAT(normal_cdf_, T))                                                      \
    static inline void CAT(store_, T)(__global float *C, int ldc, __global const float *bias,      \
                                      __global float *R, int ldr, float beta, int m, int n, T v) { \
        const size_t ci = (size_t)m * ldc + n;                                                     \
        if (beta != 0.0f) v += beta * LOAD(0, C + ci);                                             \
        EPI_BIAS(LOAD)                                                                             \
        EPI_AUX(T, LOAD, STORE)                                                                    \
        STORE(v, 0, C + ci);                                                                       \
    }
#define LOAD1(i, p) ((p)[i])
#define STORE1(v, i, p) ((p)[i] = (v))
DEFINE_STORE(float, LOAD1, STORE1)
#if VW > 1
DEFINE_STORE(floatV, LOADV, STOREV)
#endif
#if NR > 1 && NR != VW
DEFINE_STORE(floatR, LOADR, STORER)
#endif
#define store_one store_float
#if VW > 1
#define STORE_V CAT(store_, floatV)
#else
#define STORE_V store_float
#endif
#if NR > 1
#define STORE_R CAT(store_, floatR)
#else
#define STORE_R store_float
#endif

/* S[m0 .. m0 + MR) = alpha * sums + beta * S, rows past M skipped. */
static inline void store_rowsums(__global float *S, int M, int m0, float alpha, float beta,
                                 const float *sums) {
    for (int i = 0; i < MR && m0 + i < M; i++)
        S[m0 + i] = alpha * sums[i] + (beta != 0.0f ? beta * S[m0 + i] : 0.0f);
}

#define GEMM_ARGS                                                                                  \
    int M, int N, int K, float alpha, float beta, __global const float *A, ulong a_off, int lda,   \
        ulong sa, __global const float *B, ulong b_off, int ldb, ulong sb, __global float *C,      \
        ulong c_off, int ldc, ulong sc, __global const float *bias, ulong bias_off,                \
        __global float *R, ulong r_off, int ldr, __global float *S, ulong s_off, int dsum

#define GEMM_POINTERS                                                                              \
    const size_t z = get_global_id(2);                                                             \
    A += a_off + z * sa;                                                                           \
    B += b_off + z * sb;                                                                           \
    C += c_off + z * sc;                                                                           \
    bias += bias_off;                                                                              \
    R += r_off + z * sc;                                                                           \
    S += s_off

/* ---------------------------------------------------------------- gemm_vn */
#if !defined(KIND) || KIND == 0
__kernel void gemm_vn(GEMM_ARGS) {
    const int n0 = (int)get_global_id(0) * (VW * NV), m0 = (int)get_global_id(1) * MR;
    if (m0 >= M || n0 >= N) return;
    GEMM_POINTERS;
    floatV acc[MR][NV];
#pragma unroll
    for (int i = 0; i < MR; i++)
#pragma unroll
        for (int v = 0; v < NV; v++)
            acc[i][v] = (floatV)(0.0f);
    float asum[MR];
#pragma unroll
    for (int i = 0; i < MR; i++)
        asum[i] = 0.0f;
    const int full = m0 + MR <= M && n0 + VW * NV <= N;
    if (full) {
        for (int k = 0; k < K; k++) {
            floatV b[NV];
#pragma unroll
            for (int v = 0; v < NV; v++) {
#if TB
                float t[VW];
#pragma unroll
                for (int j = 0; j < VW; j++)
                    t[j] = B_AT(k, n0 + v * VW + j);
                b[v] = LOADV(0, t);
#else
                b[v] = LOADV(0, B + (size_t)k * ldb + n0 + v * VW);
#endif
            }
#pragma unroll
            for (int i = 0; i < MR; i++) {
                const float a = A_AT(m0 + i, k);
                asum[i] += a;
#pragma unroll
                for (int v = 0; v < NV; v++)
                    acc[i][v] = fma((floatV)(a), b[v], acc[i][v]);
            }
        }
    } else {
        /* edge tile: indices clamped into the matrices, out-of-range results not stored */
        for (int k = 0; k < K; k++) {
            floatV b[NV];
#pragma unroll
            for (int v = 0; v < NV; v++) {
                float t[VW];
#pragma unroll
                for (int j = 0; j < VW; j++)
                    t[j] = B_AT(k, min(n0 + v * VW + j, N - 1));
                b[v] = LOADV(0, t);
            }
#pragma unroll
            for (int i = 0; i < MR; i++) {
                const float a = A_AT(min(m0 + i, M - 1), k);
                asum[i] += a;
#pragma unroll
                for (int v = 0; v < NV; v++)
                    acc[i][v] = fma((floatV)(a), b[v], acc[i][v]);
            }
        }
    }
    if (dsum && n0 == 0) store_rowsums(S, M, m0, alpha, beta, asum);
    if (full) {
#pragma unroll
        for (int i = 0; i < MR; i++)
#pragma unroll
            for (int v = 0; v < NV; v++)
                STORE_V(C, ldc, bias, R, ldr, beta, m0 + i, n0 + v * VW, alpha * acc[i][v]);
        return;
    }
#pragma unroll
    for (int i = 0; i < MR; i++) {
        if (m0 + i >= M) break;
#pragma unroll
        for (int v = 0; v < NV; v++) {
            float t[VW];
            STOREV(alpha * acc[i][v], 0, t);
#pragma unroll
            for (int j = 0; j < VW; j++)
                if (n0 + v * VW + j < N)
                    store_one(C, ldc, bias, R, ldr, beta, m0 + i, n0 + v * VW + j, t[j]);
        }
    }
}

#endif

/* ---------------------------------------------------------------- gemm_dot */
#define hsum CAT(hsum, VW)
#if !defined(KIND) || KIND == 1

__kernel void gemm_dot(GEMM_ARGS) {
    const int n0 = (int)get_global_id(0) * NR, m0 = (int)get_global_id(1) * MR;
    if (m0 >= M || n0 >= N) return;
    GEMM_POINTERS;
    floatV acc[MR][NR];
#pragma unroll
    for (int i = 0; i < MR; i++)
#pragma unroll
        for (int j = 0; j < NR; j++)
            acc[i][j] = (floatV)(0.0f);
    int rows[MR], cols[NR];
#pragma unroll
    for (int i = 0; i < MR; i++)
        rows[i] = min(m0 + i, M - 1);
#pragma unroll
    for (int j = 0; j < NR; j++)
        cols[j] = min(n0 + j, N - 1);
    floatV asumv[MR];
#pragma unroll
    for (int i = 0; i < MR; i++)
        asumv[i] = (floatV)(0.0f);
    const int kv = K / VW * VW;
    for (int k = 0; k < kv; k += VW) {
        floatV a[MR], b[NR];
#pragma unroll
        for (int i = 0; i < MR; i++) {
#if TA
            float t[VW];
#pragma unroll
            for (int q = 0; q < VW; q++)
                t[q] = A_AT(rows[i], k + q);
            a[i] = LOADV(0, t);
#else
            a[i] = LOADV(0, A + (size_t)rows[i] * lda + k);
#endif
        }
#pragma unroll
        for (int j = 0; j < NR; j++) {
#if TB
            b[j] = LOADV(0, B + (size_t)cols[j] * ldb + k);
#else
            float t[VW];
#pragma unroll
            for (int q = 0; q < VW; q++)
                t[q] = B_AT(k + q, cols[j]);
            b[j] = LOADV(0, t);
#endif
        }
#pragma unroll
        for (int i = 0; i < MR; i++) {
            asumv[i] += a[i];
#pragma unroll
            for (int j = 0; j < NR; j++)
                acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
    }
    float s[MR][NR], asum[MR];
#pragma unroll
    for (int i = 0; i < MR; i++)
        asum[i] = hsum(asumv[i]);
#pragma unroll
    for (int i = 0; i < MR; i++)
#pragma unroll
        for (int j = 0; j < NR; j++)
            s[i][j] = hsum(acc[i][j]);
    for (int k = kv; k < K; k++)
#pragma unroll
        for (int i = 0; i < MR; i++) {
            const float a = A_AT(rows[i], k);
            asum[i] += a;
#pragma unroll
            for (int j = 0; j < NR; j++)
                s[i][j] = fma(a, B_AT(k, cols[j]), s[i][j]);
        }
    if (dsum && n0 == 0) store_rowsums(S, M, m0, alpha, beta, asum);
    if (m0 + MR <= M && n0 + NR <= N) {
#pragma unroll
        for (int i = 0; i < MR; i++)
            STORE_R(C, ldc, bias, R, ldr, beta, m0 + i, n0, alpha * LOADR(0, s[i]));
        return;
    }
#pragma unroll
    for (int i = 0; i < MR; i++) {
        if (m0 + i >= M) break;
#pragma unroll
        for (int j = 0; j < NR; j++)
            if (n0 + j < N) store_one(C, ldc, bias, R, ldr, beta, m0 + i, n0 + j, alpha * s[i][j]);
    }
}

#endif

/* ---------------------------------------------------------------- gemm_local */
#if !defined(KIND) || KIND == 2
#define BM (TY * WM)
#define BN (TX * WN)
__kernel __attribute__((reqd_work_group_size(TX, TY, 1))) void gemm_local(GEMM_ARGS) {
    __local float As[BK][BM + 1];
    __local float Bs[BK][BN + 1];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int bn0 = (int)get_group_id(0) * BN, bm0 = (int)get_group_id(1) * BM;
    GEMM_POINTERS;
    float acc[WM][WN];
#pragma unroll
    for (int i = 0; i < WM; i++)
#pragma unroll
        for (int j = 0; j < WN; j++)
            acc[i][j] = 0.0f;
    const int tid = ty * TX + tx;
    for (int k0 = 0; k0 < K; k0 += BK) {
        /* cooperative loads, zero outside the matrices */
        for (int e = tid; e < BK * BM; e += TX * TY) {
#if TA
            const int kk = e / BM, mm = e % BM; /* consecutive items along m: coalesced */
#else
            const int mm = e / BK, kk = e % BK; /* consecutive items along k: coalesced */
#endif
            const int m = bm0 + mm, k = k0 + kk;
            As[kk][mm] = m < M && k < K ? A_AT(m, k) : 0.0f;
        }
        for (int e = tid; e < BK * BN; e += TX * TY) {
#if TB
            const int nn = e / BK, kk = e % BK;
#else
            const int kk = e / BN, nn = e % BN;
#endif
            const int n = bn0 + nn, k = k0 + kk;
            Bs[kk][nn] = n < N && k < K ? B_AT(k, n) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[WM], b[WN];
#pragma unroll
            for (int i = 0; i < WM; i++)
                a[i] = As[kk][ty + i * TY];
#pragma unroll
            for (int j = 0; j < WN; j++)
                b[j] = Bs[kk][tx + j * TX];
#pragma unroll
            for (int i = 0; i < WM; i++)
#pragma unroll
                for (int j = 0; j < WN; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#pragma unroll
    for (int i = 0; i < WM; i++) {
        const int m = bm0 + ty + i * TY;
#pragma unroll
        for (int j = 0; j < WN; j++) {
            const int n = bn0 + tx + j * TX;
            if (m < M && n < N) store_one(C, ldc, bias, R, ldr, beta, m, n, alpha * acc[i][j]);
        }
    }
}
#endif

/* ---------------------------------------------------------------- transpose */
#if !defined(KIND) || KIND == 3
/* out (batch, K, N) = B (batch, N, K) with row stride ldb and batch stride sb. A 3-D range
 * (K, N, batch): consecutive work-items read consecutive elements of a row of B. */
__kernel void transpose(__global float *out, int N, int K, __global const float *B, ulong b_off,
                        int ldb, ulong sb) {
    const int k = get_global_id(0), n = get_global_id(1);
    const size_t z = get_global_id(2);
    if (k >= K || n >= N) return;
    out[(z * K + k) * N + n] = B[b_off + z * sb + (size_t)n * ldb + k];
}
#endif

/* ---------------------------------------------------------------- gemm_ln */
#if !defined(KIND) || KIND == 4
#ifndef NMAX
#define NMAX 64
#endif
#define NVL (NMAX / VW)
/* C (M, N) = A (M, K) B (K, N) + bias[n] + R[m, n] (B: the packed W^T of a Linear); then, per
 * row m of C, with two-pass statistics as cl/layernorm.cl: L[m, n] = (C[m, n] - mean) * rstd *
 * lw[n] + lb[n], mean[m], rstd[m] = 1 / sqrt(biased variance + eps). N <= NMAX, NMAX a multiple
 * of VW. Each work-item owns MR whole rows: vectors along N, A's elements broadcast. */
__kernel void gemm_ln(int M, int N, int K, __global const float *A, ulong a_off, int lda,
                      __global const float *B, ulong b_off, int ldb, __global float *C, ulong c_off,
                      int ldc, __global const float *bias, ulong bias_off, __global const float *R,
                      ulong r_off, int ldr, __global float *L, ulong l_off, int ldl,
                      __global float *mean, ulong mean_off, __global float *rstd, ulong rstd_off,
                      __global const float *lnp, ulong lw_off, ulong lb_off, float eps) {
    const int m0 = (int)get_global_id(0) * MR;
    if (m0 >= M) return;
    A += a_off;
    B += b_off;
    C += c_off;
    bias += bias_off;
    R += r_off;
    L += l_off;
    int rows[MR];
#pragma unroll
    for (int i = 0; i < MR; i++)
        rows[i] = min(m0 + i, M - 1);
    floatV acc[MR][NVL];
#pragma unroll
    for (int i = 0; i < MR; i++)
#pragma unroll
        for (int v = 0; v < NVL; v++)
            acc[i][v] = (floatV)(0.0f);
    const int full = N == NMAX;
    for (int k = 0; k < K; k++) {
        floatV b[NVL];
        __global const float *bk = B + (size_t)k * ldb;
        if (full) {
#pragma unroll
            for (int v = 0; v < NVL; v++)
                b[v] = LOADV(v, bk);
        } else { /* columns past N read as zero */
#pragma unroll
            for (int v = 0; v < NVL; v++) {
                float t[VW];
#pragma unroll
                for (int j = 0; j < VW; j++)
                    t[j] = v * VW + j < N ? bk[v * VW + j] : 0.0f;
                b[v] = LOADV(0, t);
            }
        }
#pragma unroll
        for (int i = 0; i < MR; i++) {
            const float a = A[(size_t)rows[i] * lda + k];
#pragma unroll
            for (int v = 0; v < NVL; v++)
                acc[i][v] = fma((floatV)(a), b[v], acc[i][v]);
        }
    }
    for (int i = 0; i < MR; i++) {
        const int m = m0 + i;
        if (m >= M) break;
        __global const float *r = R + (size_t)m * ldr;
        __global float *c = C + (size_t)m * ldc;
        __global float *l = L + (size_t)m * ldl;
        float mu, rs;
        if (full) { /* whole vectors */
            floatV sv = (floatV)(0.0f);
#pragma unroll
            for (int v = 0; v < NVL; v++) {
                acc[i][v] += LOADV(v, bias) + LOADV(v, r);
                STOREV(acc[i][v], v, c);
                sv += acc[i][v];
            }
            mu = hsum(sv) / N;
            floatV qv = (floatV)(0.0f);
#pragma unroll
            for (int v = 0; v < NVL; v++) {
                const floatV d = acc[i][v] - mu;
                qv = fma(d, d, qv);
            }
            rs = rsqrt(hsum(qv) / N + eps);
#pragma unroll
            for (int v = 0; v < NVL; v++)
                STOREV((acc[i][v] - mu) * rs * LOADV(0, lnp + lw_off + v * VW) +
                           LOADV(0, lnp + lb_off + v * VW),
                       v, l);
        } else {
            float row[NMAX];
#pragma unroll
            for (int v = 0; v < NVL; v++)
                STOREV(acc[i][v], v, row);
            float s = 0.0f;
            for (int n = 0; n < N; n++) {
                const float x = row[n] + bias[n] + r[n];
                c[n] = x;
                row[n] = x;
                s += x;
            }
            mu = s / N;
            float q = 0.0f;
            for (int n = 0; n < N; n++) {
                const float d = row[n] - mu;
                q += d * d;
            }
            rs = rsqrt(q / N + eps);
            for (int n = 0; n < N; n++)
                l[n] = (row[n] - mu) * rs * lnp[lw_off + n] + lnp[lb_off + n];
        }
        mean[mean_off + m] = mu;
        rstd[rstd_off + m] = rs;
    }
}
#endif
