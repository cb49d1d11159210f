/*
 * attention.c - multi-head self-attention between the qkv and proj Linears, fused: one
 * kernel for the forward (q, k, v read from the qkv Linear's (B, N, 3, H, hd) output with
 * the bias added on the fly, scores, softmax, attention dropout, P v, heads merged into
 * (B, N, D)) and two for the backward (per query row: dS and dq; per key row: dk and dv),
 * writing dqkv in the qkv Linear's layout. Kernels and the math in cl/attention.cl.
 *
 * The head dimension is a build option (-DHD), so each hd gets its own program. Two forward
 * variants compute the same thing: "rows" (k and v from global memory, best on CPUs, where a
 * work-group's rows share them through the cache) and "tiled" (k and v chunks staged in
 * local memory, for GPUs). The variant follows the device type; CLVIT_ATTENTION=rows or
 * tiled overrides it (tests run both). Work-group sizes are checked against the kernel's
 * CL_KERNEL_WORK_GROUP_SIZE and halved until legal; the tiled variant's local arrays
 * (33 * hd floats) against the device's local memory, else the rows variant runs.
 */
#include "train_ops.h"

#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FR_CPU
#define FR_CPU 3
#endif
#ifndef QR_CPU
#define QR_CPU 2
#endif
#ifndef KR_CPU
#define KR_CPU 4
#endif

/* Rows per work-item of the rows forward (FR) and the backward kernels (QR query rows, KR key
 * rows): on CPUs one load of a k, v, q or dy row then feeds several rows' accumulators. Measured
 * on PoCL (2 cores, CPU time): DeiT-tiny batch 8 forward 6.7 -> 5.1 ms with FR 3 (4 no better,
 * and worse on vit_mnist), backward 15 -> 10 ms with KR 4 and QR 2 (QR 4 slower). GPUs keep one
 * row per work-item: the accumulators already fill their registers. CLVIT_ATTENTION_ROWS=n (1
 * to 8) sets all three (tests). */
static int rows_override(void) {
    const char *env = getenv("CLVIT_ATTENTION_ROWS");
    const int n = env ? atoi(env) : 0;
    return n >= 1 && n <= 8 ? n : 0;
}
static int rows_fwd(const clvit_ctx *ctx) {
    return rows_override() ? rows_override() : ctx->info.is_cpu ? FR_CPU : 1;
}
static int rows_q(const clvit_ctx *ctx) {
    return rows_override() ? rows_override() : ctx->info.is_cpu ? QR_CPU : 1;
}
static int rows_kv(const clvit_ctx *ctx) {
    return rows_override() ? rows_override() : ctx->info.is_cpu ? KR_CPU : 1;
}

/* Build options of cl/attention.cl: the head dimension and the rows per work-item. */
static void attention_opts(const clvit_ctx *ctx, char *opts, size_t size, int hd) {
    snprintf(opts, size, "-DHD=%d -DFR=%d -DQR=%d -DKR=%d", hd, rows_fwd(ctx), rows_q(ctx),
             rows_kv(ctx));
}

/* Work-items per group: 16 on CPUs, where the size made no measurable difference (4 to 64 on
 * PoCL) and small groups spread over the cores; on GPUs the smallest power of two >= N up to
 * 64, so short sequences leave few work-items idle. */
static size_t want_wgs(const clvit_ctx *ctx, int N) {
    if (ctx->info.is_cpu) return 16;
    size_t w = 1;
    while (w < (size_t)N && w < 64)
        w <<= 1;
    return w;
}

/* wg halved until the kernel and the device accept it. */
static clvit_status legal_wgs(clvit_ctx *ctx, cl_kernel k, size_t *wg) {
    size_t kmax = 0;
    CLVIT_CHECK_CL(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                            &kmax, NULL));
    if (ctx->info.max_work_group_size && kmax > ctx->info.max_work_group_size)
        kmax = ctx->info.max_work_group_size;
    while (*wg > 1 && *wg > kmax)
        *wg >>= 1;
    return CLVIT_SUCCESS;
}

/* A 2-D launch: rows (rounded up to wg) x bh, work-groups of (wg, 1). */
static clvit_status launch_rows(clvit_ctx *ctx, cl_kernel k, const char *label, size_t rows,
                                size_t bh, size_t wg, double flops) {
    if (rows == 0 || bh == 0) return CLVIT_SUCCESS;
    const size_t global[2] = {(rows + wg - 1) / wg * wg, bh}, local[2] = {wg, 1};
    return clvit_enqueue_kernel(ctx, k, label, 2, global, local, 0, flops);
}

/* The forward's variant: 1 tiled, 0 rows. */
static int use_tiled(const clvit_ctx *ctx) {
    const char *env = getenv("CLVIT_ATTENTION");
    if (env && !strcmp(env, "rows")) return 0;
    if (env && !strcmp(env, "tiled")) return 1;
    return !ctx->info.is_cpu;
}

/* Dropout arguments: p_drop 0 when not dropping. The mask is indexed by the flat (B, H, N, N)
 * position as a 32-bit integer, as clvit_dropout_apply does. */
static clvit_status drop_args(const clvit_drop *drop, int B, int N, int H, float *p_drop,
                              cl_uint *seed, cl_uint *site, cl_uint *idx0) {
    *p_drop = drop && drop->p_drop > 0.0f ? drop->p_drop : 0.0f;
    *seed = drop ? drop->seed : 0u;
    *site = drop ? drop->site : 0u;
    /* the share's first probability in the global batch, modulo 2^32 as the hash takes it */
    *idx0 =
        drop ? (cl_uint)((uint64_t)drop->sample0 * (uint64_t)H * (uint64_t)N * (uint64_t)N) : 0u;
    if (*p_drop > 0.0f && (size_t)B * H * N * N > 0xffffffffu)
        return clvit_fail(CLVIT_ERR_UNSUPPORTED, "attention dropout over %zu probabilities",
                          (size_t)B * H * N * N);
    return CLVIT_SUCCESS;
}

clvit_status clvit_attention_forward(clvit_ctx *ctx, clvit_tensor out_t, clvit_tensor att_t,
                                     clvit_tensor qkv_t, clvit_tensor qkv_b_t, int has_bias,
                                     float scale, int B, int N, int H, int hd,
                                     const clvit_drop *drop) {
    cl_mem out = out_t.buf, att = att_t.buf, qkv = qkv_t.buf, p = qkv_b_t.buf;
    const size_t out_off = out_t.off, att_off = att_t.off, qkv_off = qkv_t.off,
                 qkv_b_off = qkv_b_t.off;
    if (B < 0 || N <= 0 || H <= 0 || hd <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "attention: B=%d N=%d H=%d hd=%d", B, N, H, hd);
    float p_drop;
    cl_uint seed, site, idx0;
    CLVIT_CHECK(drop_args(drop, B, N, H, &p_drop, &seed, &site, &idx0));
    /* the tiled kernel's chunk of 16 keys, k transposed (rows of 17) and v, in local memory */
    const cl_ulong tile_bytes = (cl_ulong)(17 + 16) * hd * sizeof(float);
    int tiled = use_tiled(ctx) && tile_bytes <= ctx->info.local_mem_bytes;
    char opts[64];
    attention_opts(ctx, opts, sizeof opts, hd);
    cl_kernel k;
    if (tiled) {
        CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "attention_forward_tiled", opts, &k));
        cl_ulong lmem = 0; /* as the compiler counts it */
        CLVIT_CHECK_CL(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                                sizeof lmem, &lmem, NULL));
        tiled = lmem <= ctx->info.local_mem_bytes;
    }
    if (!tiled) CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "attention_forward_rows", opts, &k));
    size_t wg = want_wgs(ctx, N);
    CLVIT_CHECK(legal_wgs(ctx, k, &wg));
    /* att is only written when saved; an unused argument still needs a valid buffer */
    const cl_int save = att != NULL;
    cl_mem att_arg = save ? att : qkv;
    const cl_ulong oo = out_off, ao = save ? att_off : 0, qo = qkv_off, bo = qkv_b_off;
    CLVIT_CHECK(clvit_args(k, 17, CLVIT_A(out), CLVIT_A(oo), CLVIT_A(att_arg), CLVIT_A(ao),
                           CLVIT_A(save), CLVIT_A(qkv), CLVIT_A(qo), CLVIT_A(p), CLVIT_A(bo),
                           CLVIT_A(has_bias), CLVIT_A(scale), CLVIT_A(N), CLVIT_A(H),
                           CLVIT_A(p_drop), CLVIT_A(seed), CLVIT_A(site), CLVIT_A(idx0)));
    const double flops = 4.0 * B * H * (double)N * N * hd;
    const size_t per = tiled ? 1 : (size_t)rows_fwd(ctx);
    return launch_rows(ctx, k, "attention_fwd", ((size_t)N + per - 1) / per, (size_t)B * H, wg,
                       flops);
}

clvit_status clvit_attention_backward(clvit_ctx *ctx, clvit_tensor dqkv_t, clvit_tensor qkv_db_t,
                                      float beta_w, clvit_tensor datt_t, clvit_tensor att_t,
                                      clvit_tensor dout_t, clvit_tensor qkv_t, clvit_tensor qkv_b_t,
                                      int has_bias, float scale, int B, int N, int H, int hd,
                                      const clvit_drop *drop) {
    cl_mem dqkv = dqkv_t.buf, g = qkv_db_t.buf, datt = datt_t.buf, att = att_t.buf,
           dout = dout_t.buf, qkv = qkv_t.buf, p = qkv_b_t.buf;
    const size_t dqkv_off = dqkv_t.off, qkv_db_off = qkv_db_t.buf ? qkv_db_t.off : SIZE_MAX,
                 datt_off = datt_t.off, att_off = att_t.off, dout_off = dout_t.off,
                 qkv_off = qkv_t.off, qkv_b_off = qkv_b_t.off;
    if (B < 0 || N <= 0 || H <= 0 || hd <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "attention backward: B=%d N=%d H=%d hd=%d", B, N, H, hd);
    float p_drop;
    cl_uint seed, site, idx0;
    CLVIT_CHECK(drop_args(drop, B, N, H, &p_drop, &seed, &site, &idx0));
    char opts[64];
    attention_opts(ctx, opts, sizeof opts, hd);
    const cl_ulong dqo = dqkv_off, dao = datt_off, doo = dout_off, ao = att_off, qo = qkv_off,
                   bo = qkv_b_off;
    const double flops = 4.0 * B * H * (double)N * N * hd;
    const char *names[2] = {"attention_backward_q", "attention_backward_kv"};
    const char *labels[2] = {"attention_bwd_q", "attention_bwd_kv"};
    for (int pass = 0; pass < 2; pass++) {
        cl_kernel k;
        CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", names[pass], opts, &k));
        size_t wg = want_wgs(ctx, N);
        CLVIT_CHECK(legal_wgs(ctx, k, &wg));
        CLVIT_CHECK(clvit_args(k, 20, CLVIT_A(dqkv), CLVIT_A(dqo), CLVIT_A(datt), CLVIT_A(dao),
                               CLVIT_A(dout), CLVIT_A(doo), CLVIT_A(att), CLVIT_A(ao), CLVIT_A(qkv),
                               CLVIT_A(qo), CLVIT_A(p), CLVIT_A(bo), CLVIT_A(has_bias),
                               CLVIT_A(scale), CLVIT_A(N), CLVIT_A(H), CLVIT_A(p_drop),
                               CLVIT_A(seed), CLVIT_A(site), CLVIT_A(idx0)));
        const size_t per = (size_t)(pass ? rows_kv(ctx) : rows_q(ctx));
        const size_t rows = ((size_t)N + per - 1) / per;
        CLVIT_CHECK(launch_rows(ctx, k, labels[pass], rows, (size_t)B * H, wg, flops));
    }
    /* the forward added the bias to every row, so its gradient is the column sum of dqkv;
     * qkv_db_off == SIZE_MAX leaves it to the caller (the qkv Linear's dW GEMM sums it) */
    if (has_bias && qkv_db_off != SIZE_MAX)
        CLVIT_CHECK(clvit_colsum(ctx, CLVIT_T(g, qkv_db_off), beta_w, CLVIT_T(dqkv, dqkv_off),
                                 B * N, 3 * H * hd));
    return CLVIT_SUCCESS;
}
