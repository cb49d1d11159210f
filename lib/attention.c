/*
 * attention.c - multi-head self-attention core, between the qkv and proj Linears:
 * split into heads (adding the qkv bias), scores = scale * q k^T and y = softmax(scores) v
 * as strided-batched CLBlast GEMMs over the B*H (image, head) pairs, then merge heads.
 * Kernels in cl/attention.cl.
 *
 * Backward, per (image, head) with P = att, dy the split output gradient:
 *   dP = dy V^T,  dV = P^T dy,  dS = P * (dP - rowsum(dP * P)),
 *   dQ = scale dS K,  dK = scale dS^T Q
 * then dq, dk, dv are permuted back to the qkv Linear's (B, N, 3D) layout.
 */
#include "train_ops.h"

#include <stdio.h>

clvit_status clvit_attention_forward(clvit_ctx *ctx, cl_mem out, size_t out_off, cl_mem y,
                                     size_t y_off, cl_mem att, size_t att_off, cl_mem qkvh,
                                     size_t qkvh_off, cl_mem qkv, size_t qkv_off, cl_mem p,
                                     size_t qkv_b_off, int has_bias, float scale, int B, int N,
                                     int H, int hd, const clvit_attn_drop *drop) {
    if (B < 0 || N <= 0 || H <= 0 || hd <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "attention: B=%d N=%d H=%d hd=%d", B, N, H, hd);
    const size_t BH = (size_t)B * H, Nn = (size_t)N;
    const size_t plane = BH * Nn * hd; /* one of q, k, v */
    cl_kernel k;
    cl_uint bo = (cl_uint)qkv_b_off, qo = (cl_uint)qkv_off, ho = (cl_uint)qkvh_off,
            ao = (cl_uint)att_off, yo = (cl_uint)y_off, oo = (cl_uint)out_off;
    CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "qkv_split", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 11, CLVIT_A(qkvh), CLVIT_A(ho), CLVIT_A(qkv), CLVIT_A(qo), CLVIT_A(p),
                           CLVIT_A(bo), CLVIT_A(has_bias), CLVIT_A(B), CLVIT_A(N), CLVIT_A(H),
                           CLVIT_A(hd)));
    CLVIT_CHECK(clvit_launch3(ctx, k, "qkv_split", (size_t)hd, 3 * (size_t)H, (size_t)B * Nn));
    /* scores (N, N) = scale * q (N, hd) k^T */
    CLVIT_CHECK(clvit_gemm_batched(ctx, "attn_scores", 0, 1, Nn, Nn, (size_t)hd, scale, qkvh,
                                   qkvh_off, (size_t)hd, Nn * hd, qkvh, qkvh_off + plane,
                                   (size_t)hd, Nn * hd, 0.0f, att, att_off, Nn, Nn * Nn, BH));
    char opts[32];
    const size_t wgs = clvit_row_wgs(ctx, N, opts, sizeof opts);
    CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "softmax_forward", opts, &k));
    CLVIT_CHECK(clvit_args(k, 3, CLVIT_A(att), CLVIT_A(ao), CLVIT_A(N)));
    CLVIT_CHECK(clvit_launch_rows(ctx, k, "softmax_forward", BH * Nn, wgs));
    /* y (N, hd) = att (N, N) v (N, hd) */
    /* attention dropout: y uses the dropped copy, att keeps the probabilities */
    const int dropping = drop && drop->drop && drop->drop->p_drop > 0.0f;
    if (dropping) {
        CLVIT_CHECK(clvit_dropout_copy(ctx, drop->att_d, drop->att_d_off, att, att_off,
                                       BH * Nn * Nn, 1, drop->drop));
        att = drop->att_d;
        att_off = drop->att_d_off;
    }
    CLVIT_CHECK(clvit_gemm_batched(ctx, "attn_values", 0, 0, Nn, (size_t)hd, Nn, 1.0f, att, att_off,
                                   Nn, Nn * Nn, qkvh, qkvh_off + 2 * plane, (size_t)hd, Nn * hd,
                                   0.0f, y, y_off, (size_t)hd, Nn * hd, BH));
    CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "merge_heads", NULL, &k));
    CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(out), CLVIT_A(oo), CLVIT_A(y), CLVIT_A(yo), CLVIT_A(B),
                           CLVIT_A(N), CLVIT_A(H), CLVIT_A(hd)));
    return clvit_launch3(ctx, k, "merge_heads", (size_t)hd, (size_t)H, (size_t)B * Nn);
}

clvit_status clvit_attention_backward(clvit_ctx *ctx, cl_mem dqkv, size_t dqkv_off, cl_mem g,
                                      size_t qkv_db_off, float beta_w, cl_mem dqkvh,
                                      size_t dqkvh_off, cl_mem datt, size_t datt_off, cl_mem dy,
                                      size_t dy_off, cl_mem dout, size_t dout_off, cl_mem att,
                                      size_t att_off, cl_mem qkvh, size_t qkvh_off, int has_bias,
                                      float scale, int B, int N, int H, int hd,
                                      const clvit_attn_drop *drop) {
    if (B < 0 || N <= 0 || H <= 0 || hd <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "attention backward: B=%d N=%d H=%d hd=%d", B, N, H, hd);
    const size_t D = (size_t)H * hd, BH = (size_t)B * H, Nn = (size_t)N, hdz = (size_t)hd;
    const size_t plane = BH * Nn * hdz, NN = Nn * Nn, Nhd = Nn * hdz;
    const size_t q_off = qkvh_off, k_off = qkvh_off + plane, v_off = qkvh_off + 2 * plane;
    const size_t dq_off = dqkvh_off, dk_off = dqkvh_off + plane, dv_off = dqkvh_off + 2 * plane;
    cl_kernel k;
    cl_uint dyo = (cl_uint)dy_off, doo = (cl_uint)dout_off, dao = (cl_uint)datt_off,
            ao = (cl_uint)att_off, dho = (cl_uint)dqkvh_off, dqo = (cl_uint)dqkv_off;
    CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "split_heads", "-DWGS=64", &k));
    CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(dy), CLVIT_A(dyo), CLVIT_A(dout), CLVIT_A(doo), CLVIT_A(B),
                           CLVIT_A(N), CLVIT_A(H), CLVIT_A(hd)));
    CLVIT_CHECK(clvit_launch3(ctx, k, "split_heads", (size_t)hd, (size_t)H, (size_t)B * Nn));
    /* dP (N, N) = dy (N, hd) V^T */
    CLVIT_CHECK(clvit_gemm_batched(ctx, "attn_dP", 0, 1, Nn, Nn, hdz, 1.0f, dy, dy_off, hdz, Nhd,
                                   qkvh, v_off, hdz, Nhd, 0.0f, datt, datt_off, Nn, NN, BH));
    /* dV (N, hd) = P^T (N, N) dy (N, hd), P as used in the forward (dropped when dropping) */
    const int dropping = drop && drop->drop && drop->drop->p_drop > 0.0f;
    cl_mem p_used = dropping ? drop->att_d : att;
    const size_t p_used_off = dropping ? drop->att_d_off : att_off;
    CLVIT_CHECK(clvit_gemm_batched(ctx, "attn_dV", 1, 0, Nn, hdz, Nn, 1.0f, p_used, p_used_off, Nn,
                                   NN, dy, dy_off, hdz, Nhd, 0.0f, dqkvh, dv_off, hdz, Nhd, BH));
    /* through the dropout: dP = mask * dP_dropped */
    if (dropping) CLVIT_CHECK(clvit_dropout_apply(ctx, datt, datt_off, BH * NN, 1, drop->drop));
    char opts[32];
    const size_t wgs = clvit_row_wgs(ctx, N, opts, sizeof opts);
    CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "softmax_backward", opts, &k));
    CLVIT_CHECK(
        clvit_args(k, 5, CLVIT_A(datt), CLVIT_A(dao), CLVIT_A(att), CLVIT_A(ao), CLVIT_A(N)));
    CLVIT_CHECK(clvit_launch_rows(ctx, k, "softmax_backward", BH * Nn, wgs));
    /* dQ (N, hd) = scale dS (N, N) K (N, hd); dK (N, hd) = scale dS^T Q */
    CLVIT_CHECK(clvit_gemm_batched(ctx, "attn_dQ", 0, 0, Nn, hdz, Nn, scale, datt, datt_off, Nn, NN,
                                   qkvh, k_off, hdz, Nhd, 0.0f, dqkvh, dq_off, hdz, Nhd, BH));
    CLVIT_CHECK(clvit_gemm_batched(ctx, "attn_dK", 1, 0, Nn, hdz, Nn, scale, datt, datt_off, Nn, NN,
                                   qkvh, q_off, hdz, Nhd, 0.0f, dqkvh, dk_off, hdz, Nhd, BH));
    CLVIT_CHECK(clvit_kernel(ctx, "attention.cl", "qkv_merge", "-DWGS=64", &k));
    CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(dqkv), CLVIT_A(dqo), CLVIT_A(dqkvh), CLVIT_A(dho),
                           CLVIT_A(B), CLVIT_A(N), CLVIT_A(H), CLVIT_A(hd)));
    CLVIT_CHECK(clvit_launch3(ctx, k, "qkv_merge", (size_t)hd, 3 * (size_t)H, (size_t)B * Nn));
    /* qkv_split added the bias to every row, so its gradient is the column sum of dqkv */
    if (has_bias)
        CLVIT_CHECK(clvit_colsum(ctx, g, qkv_db_off, beta_w, dqkv, dqkv_off, B * N, (int)(3 * D)));
    return CLVIT_SUCCESS;
}
