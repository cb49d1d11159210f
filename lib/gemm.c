/*
 * gemm.c - every matrix product of the model: clvit's own kernels (cl/gemm.cl) with the
 * Linear layers' epilogues fused, or CLBlast. Which one runs a given shape on a given device
 * is decided by measurement (lib/gemm_plan.c); this file holds the candidates, launches one,
 * and keeps profiling (label, FLOPs) and error reporting in one place.
 *
 * A candidate is a kernel of cl/gemm.cl with its -D parameters, or CLBlast (plain products
 * only: an epilogue then runs as one extra element-wise kernel from cl/linear.cl).
 */
#include "gemm_plan.h"
#include "layers.h"

#include <clblast_c.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The candidates. Names are stable: plans on disk refer to them. */
const clvit_gemm_cand clvit_gemm_cands[] = {
    /* vectors along N, one work-item an MR x VW*NV tile: CPUs (AVX-512, AVX2, NEON) */
    {"vn_8x16", GEMM_VN, 8, 16, 1, 0, 8, 1, 0, 0, 0},
    {"vn_4x32", GEMM_VN, 4, 16, 2, 0, 8, 1, 0, 0, 0},
    {"vn_6x32", GEMM_VN, 6, 16, 2, 0, 8, 1, 0, 1, 0},
    {"vn_6x32_wg4x4", GEMM_VN, 6, 16, 2, 0, 4, 4, 0, 1, 0},
    {"vn_8x32", GEMM_VN, 8, 16, 2, 0, 8, 1, 0, 1, 0},
    {"vn_12x32", GEMM_VN, 12, 16, 2, 0, 8, 1, 0, 0, 0},
    {"vn_8x8", GEMM_VN, 8, 8, 1, 0, 8, 1, 0, 0, 0},
    {"vn_2x16_gpu", GEMM_VN, 2, 4, 4, 0, 64, 1, 0, 0, 1},
    /* B (N, K) packed as (K, N) first, then gemm_vn with vector loads: x W^T on CPUs */
    {"pack_vn_8x16", GEMM_PACK_VN, 8, 16, 1, 0, 8, 1, 0, 0, 0},
    {"pack_vn_6x32", GEMM_PACK_VN, 6, 16, 2, 0, 8, 1, 0, 1, 0},
    {"pack_vn_8x32", GEMM_PACK_VN, 8, 16, 2, 0, 8, 1, 0, 0, 0},
    {"pack_vn_12x32", GEMM_PACK_VN, 12, 16, 2, 0, 8, 1, 0, 0, 0},
    {"pack_vn_6x32_wg1x8", GEMM_PACK_VN, 6, 16, 2, 0, 1, 8, 0, 0, 0},
    {"pack_vn_6x32_wg4x4", GEMM_PACK_VN, 6, 16, 2, 0, 4, 4, 0, 1, 0},
    {"pack_vn_8x8", GEMM_PACK_VN, 8, 8, 1, 0, 8, 1, 0, 0, 0},
    /* dot products along K: A (M, K) times B (N, K) rows, the forward Linear's x W^T */
    {"dot_4x4x16", GEMM_DOT, 4, 16, 0, 4, 8, 1, 0, 1, 0},
    {"dot_4x4x8", GEMM_DOT, 4, 8, 0, 4, 8, 1, 0, 0, 0},
    {"dot_3x3x16", GEMM_DOT, 3, 16, 0, 3, 8, 1, 0, 0, 0},
    /* local-memory tiles: GPUs */
    {"local_16x16_4x4", GEMM_LOCAL, 4, 0, 0, 4, 16, 16, 16, 0, 1},
    {"local_16x16_2x2", GEMM_LOCAL, 2, 0, 0, 2, 16, 16, 16, 0, 1},
    {"local_8x8_4x4", GEMM_LOCAL, 4, 0, 0, 4, 8, 8, 16, 0, 1},
    {"local_16x8_8x4", GEMM_LOCAL, 8, 0, 0, 4, 16, 8, 8, 0, 1},
    {"clblast", GEMM_CLBLAST, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};

int clvit_gemm_cand_find(const char *name) {
    for (int i = 0; clvit_gemm_cands[i].name; i++)
        if (!strcmp(clvit_gemm_cands[i].name, name)) return i;
    return -1;
}

/* ---------------------------------------------------------------- CLBlast */

static clvit_status clblast_status(CLBlastStatusCode s, const char *label) {
    if (s == CLBlastSuccess) return CLVIT_SUCCESS;
    return clvit_fail(CLVIT_ERR_CLBLAST, "CLBlast GEMM '%s' failed with status %d", label, (int)s);
}

static clvit_status run_clblast(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                                double flops) {
    const CLBlastTranspose ta = op->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                           tb = op->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_ENQUEUE, "CLBlast GEMM %s", label));
    if (op->batch > 1) {
        cl_event *ev = clvit_prof_slot(ctx, label, 1, flops);
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, op->m, op->n, op->k,
                                       op->alpha, op->a.buf, op->a.off, op->lda, op->sa, op->b.buf,
                                       op->b.off, op->ldb, op->sb, op->beta, op->c.buf, op->c.off,
                                       op->ldc, op->sc, op->batch, &ctx->queue, ev);
        return clblast_status(s, label);
    }
    /* CLBlast's indirect GEMM pads and transposes into a scratch buffer that it would
     * otherwise allocate and free on every call; one buffer per context, grown as needed. */
    size_t need = 0;
    s = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, op->m, op->n, op->k, op->a.off,
                                   op->lda, op->b.off, op->ldb, op->c.off, op->ldc, &ctx->queue,
                                   &need);
    if (s != CLBlastSuccess) return clblast_status(s, label);
    if (need > ctx->gemm_temp_bytes) {
        if (ctx->gemm_temp) clReleaseMemObject(ctx->gemm_temp);
        ctx->gemm_temp = NULL;
        ctx->gemm_temp_bytes = 0;
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_ALLOC, "clCreateBuffer(GEMM scratch)"));
        cl_int e;
        ctx->gemm_temp = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, need, NULL, &e);
        if (e != CL_SUCCESS)
            return clvit_fail(e, "GEMM scratch buffer of %zu bytes: %s", need,
                              clvit_status_string(e));
        clvit_track_buffer(ctx->gemm_temp, need);
        ctx->gemm_temp_bytes = need;
    }
    cl_event *ev = clvit_prof_slot(ctx, label, 1, flops);
    if (need == 0)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, op->m, op->n, op->k, op->alpha, op->a.buf,
                         op->a.off, op->lda, op->b.buf, op->b.off, op->ldb, op->beta, op->c.buf,
                         op->c.off, op->ldc, &ctx->queue, ev);
    else
        s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, op->m, op->n, op->k,
                                       op->alpha, op->a.buf, op->a.off, op->lda, op->b.buf,
                                       op->b.off, op->ldb, op->beta, op->c.buf, op->c.off, op->ldc,
                                       &ctx->queue, ev, ctx->gemm_temp);
    return clblast_status(s, label);
}

/* CLBlast has no epilogues: the product goes to C (or to aux for the activations), then one
 * element-wise kernel of cl/linear.cl finishes the layer. */
static clvit_status clblast_epilogue(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                                     double flops) {
    const int act = op->epi == CLVIT_EPI_GELU || op->epi == CLVIT_EPI_TANH;
    clvit_gemm_op g = *op;
    if (op->epi == CLVIT_EPI_DGELU && op->beta != 0.0f)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: GELU backward epilogue with beta",
                          label);
    if (act) g.c = op->aux, g.ldc = op->ldaux;
    if (act && op->beta != 0.0f)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: activation epilogue with beta", label);
    CLVIT_CHECK(run_clblast(ctx, label, &g, flops));
    if (op->epi == CLVIT_EPI_NONE) return CLVIT_SUCCESS;
    if (op->batch > 1 || op->ldc != op->n || (op->epi != CLVIT_EPI_BIAS && op->ldaux != op->n))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: CLBlast epilogue needs dense rows",
                          label);
    static const char *names[] = {"",          "bias_add",  "bias_residual",
                                  "bias_gelu", "bias_tanh", "gelu_backward"};
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "linear.cl", names[op->epi], NULL, &k));
    cl_ulong yo = op->c.off, ao = op->aux.off, bo = op->bias.off;
    int rows = (int)op->m, cols = (int)op->n;
    if (op->epi == CLVIT_EPI_DGELU) /* dpre = dy * gelu'(pre), in place on C */
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(op->c.buf), CLVIT_A(yo), CLVIT_A(op->c.buf),
                               CLVIT_A(yo), CLVIT_A(op->aux.buf), CLVIT_A(ao), CLVIT_A(rows),
                               CLVIT_A(cols)));
    else if (op->epi == CLVIT_EPI_BIAS)
        CLVIT_CHECK(clvit_args(k, 6, CLVIT_A(op->c.buf), CLVIT_A(yo), CLVIT_A(op->bias.buf),
                               CLVIT_A(bo), CLVIT_A(rows), CLVIT_A(cols)));
    else
        CLVIT_CHECK(clvit_args(k, 8, CLVIT_A(op->c.buf), CLVIT_A(yo), CLVIT_A(op->aux.buf),
                               CLVIT_A(ao), CLVIT_A(op->bias.buf), CLVIT_A(bo), CLVIT_A(rows),
                               CLVIT_A(cols)));
    return clvit_launch(ctx, k, names[op->epi], op->m * op->n, 0);
}

/* ---------------------------------------------------------------- own kernels */

static const char *kernel_names[] = {"gemm_vn", "gemm_dot", "gemm_local", "gemm_vn"};

int clvit_gemm_cand_options(const clvit_gemm_cand *c, int ta, int tb, int epi, char *buf,
                            size_t size) {
    switch (c->kind) {
    case GEMM_PACK_VN: /* runs on the packed B, so as TB == 0 */
        tb = 0;
        /* fall through */
    case GEMM_VN:
        return snprintf(buf, size, "-DKIND=0 -DTA=%d -DTB=%d -DEPI=%d -DMR=%d -DVW=%d -DNV=%d", ta,
                        tb, epi, c->mr, c->vw, c->nv);
    case GEMM_DOT:
        return snprintf(buf, size, "-DKIND=1 -DTA=%d -DTB=%d -DEPI=%d -DMR=%d -DVW=%d -DNR=%d", ta,
                        tb, epi, c->mr, c->vw, c->nr);
    case GEMM_LOCAL:
        return snprintf(buf, size,
                        "-DKIND=2 -DTA=%d -DTB=%d -DEPI=%d -DWM=%d -DWN=%d -DTX=%d -DTY=%d -DBK=%d",
                        ta, tb, epi, c->mr, c->nr, c->lx, c->ly, c->bk);
    default:
        return snprintf(buf, size, "%s", "");
    }
}

/* Whether the device can run candidate c at all (work-group and local-memory limits). */
int clvit_gemm_cand_fits(const clvit_ctx *ctx, const clvit_gemm_cand *c) {
    if (c->kind == GEMM_CLBLAST) return 1;
    const size_t wg = (size_t)c->lx * (size_t)c->ly;
    if (ctx->info.max_work_group_size && wg > ctx->info.max_work_group_size) return 0;
    if (c->kind == GEMM_LOCAL) {
        const size_t bytes =
            (size_t)c->bk * ((size_t)c->ly * c->mr + 1 + (size_t)c->lx * c->nr + 1) * sizeof(float);
        if (ctx->info.local_mem_bytes && bytes > ctx->info.local_mem_bytes) return 0;
    }
    return 1;
}

/* Packs op(B) of a TB == 1 product as (batch, K, N) into ctx->gemm_pack; *packed is op with
 * B pointing there. */
static clvit_status pack_b(clvit_ctx *ctx, const clvit_gemm_op *op, clvit_gemm_op *packed) {
    const size_t batch = op->batch > 1 ? op->batch : 1, need = batch * op->k * op->n;
    CLVIT_CHECK(clvit_grow_buffer(ctx, &ctx->gemm_pack, &ctx->gemm_pack_floats, need));
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "gemm.cl", "transpose", "-DKIND=3", &k));
    int N = (int)op->n, K = (int)op->k, ldb = (int)op->ldb;
    cl_ulong bo = op->b.off, sb = op->sb;
    CLVIT_CHECK(clvit_args(k, 7, CLVIT_A(ctx->gemm_pack), CLVIT_A(N), CLVIT_A(K),
                           CLVIT_A(op->b.buf), CLVIT_A(bo), CLVIT_A(ldb), CLVIT_A(sb)));
    CLVIT_CHECK(clvit_launch3(ctx, k, "gemm_pack", op->k, op->n, batch));
    *packed = *op;
    packed->tb = 0;
    packed->b = CLVIT_T(ctx->gemm_pack, 0);
    packed->ldb = op->n;
    packed->sb = op->k * op->n;
    return CLVIT_SUCCESS;
}

static clvit_status run_own(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                            const clvit_gemm_cand *c, double flops) {
    clvit_gemm_op packed;
    if (c->kind == GEMM_PACK_VN && op->tb) {
        CLVIT_CHECK(pack_b(ctx, op, &packed));
        op = &packed;
    }
    char opts[160];
    clvit_gemm_cand_options(c, op->ta, op->tb, (int)op->epi, opts, sizeof opts);
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "gemm.cl", kernel_names[c->kind], opts, &k));
    if (op->m > INT32_MAX || op->n > INT32_MAX || op->k > INT32_MAX || op->lda > INT32_MAX ||
        op->ldb > INT32_MAX || op->ldc > INT32_MAX || op->ldaux > INT32_MAX)
        return clvit_fail(CLVIT_ERR_SHAPE, "GEMM %s: a dimension exceeds 2^31", label);
    int M = (int)op->m, N = (int)op->n, K = (int)op->k, lda = (int)op->lda, ldb = (int)op->ldb,
        ldc = (int)op->ldc, ldr = (int)op->ldaux;
    cl_ulong ao = op->a.off, bo = op->b.off, co = op->c.off, sa = op->sa, sb = op->sb, sc = op->sc,
             biaso = op->bias.off, ro = op->aux.off, so = op->rowsum.off;
    int dsum = op->rowsum.buf != NULL;
    cl_mem rowsum = dsum ? op->rowsum.buf : op->c.buf;
    /* unused pointer arguments still need a valid buffer */
    cl_mem bias = op->bias.buf ? op->bias.buf : op->c.buf,
           aux = op->aux.buf ? op->aux.buf : op->c.buf;
    float alpha = op->alpha, beta = op->beta;
    CLVIT_CHECK(clvit_args(k, 25, CLVIT_A(M), CLVIT_A(N), CLVIT_A(K), CLVIT_A(alpha), CLVIT_A(beta),
                           CLVIT_A(op->a.buf), CLVIT_A(ao), CLVIT_A(lda), CLVIT_A(sa),
                           CLVIT_A(op->b.buf), CLVIT_A(bo), CLVIT_A(ldb), CLVIT_A(sb),
                           CLVIT_A(op->c.buf), CLVIT_A(co), CLVIT_A(ldc), CLVIT_A(sc),
                           CLVIT_A(bias), CLVIT_A(biaso), CLVIT_A(aux), CLVIT_A(ro), CLVIT_A(ldr),
                           CLVIT_A(rowsum), CLVIT_A(so), CLVIT_A(dsum)));
    size_t g0, g1, local[3] = {(size_t)c->lx, (size_t)c->ly, 1};
    const size_t limit = clvit_local_limit(ctx, k);
    if (local[0] * local[1] > limit)
        return clvit_fail(CL_INVALID_WORK_GROUP_SIZE,
                          "GEMM %s: candidate %s needs work-groups of %zu, the kernel's limit "
                          "here is %zu",
                          label, c->name, local[0] * local[1], limit);
    switch (c->kind) {
    case GEMM_VN:
    case GEMM_PACK_VN:
        g0 = (op->n + (size_t)(c->vw * c->nv) - 1) / (size_t)(c->vw * c->nv);
        g1 = (op->m + (size_t)c->mr - 1) / (size_t)c->mr;
        break;
    case GEMM_DOT:
        g0 = (op->n + (size_t)c->nr - 1) / (size_t)c->nr;
        g1 = (op->m + (size_t)c->mr - 1) / (size_t)c->mr;
        break;
    default: /* GEMM_LOCAL: one work-group per (TY*WM) x (TX*WN) tile */
        g0 = (op->n + (size_t)(c->lx * c->nr) - 1) / (size_t)(c->lx * c->nr) * (size_t)c->lx;
        g1 = (op->m + (size_t)(c->ly * c->mr) - 1) / (size_t)(c->ly * c->mr) * (size_t)c->ly;
        break;
    }
    /* round up to whole work-groups; the kernels ignore items past the matrix */
    g0 = (g0 + local[0] - 1) / local[0] * local[0];
    g1 = (g1 + local[1] - 1) / local[1] * local[1];
    const size_t global[3] = {g0, g1, op->batch > 1 ? op->batch : 1};
    return clvit_enqueue_kernel(ctx, k, label, 3, global, local, 1, flops);
}

clvit_status clvit_gemm_launch(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                               int cand) {
    const double flops = 2.0 * (double)op->m * (double)op->n * (double)op->k *
                         (double)(op->batch > 1 ? op->batch : 1);
    const clvit_gemm_cand *c = &clvit_gemm_cands[cand];
    if (c->kind == GEMM_VN || c->kind == GEMM_PACK_VN || c->kind == GEMM_DOT || !op->rowsum.buf)
        return c->kind == GEMM_CLBLAST ? clblast_epilogue(ctx, label, op, flops)
                                       : run_own(ctx, label, op, c, flops);
    /* kernels without row sums: the product, then a column sum of A (K, M) */
    clvit_gemm_op plain = *op;
    plain.rowsum = CLVIT_T(NULL, 0);
    CLVIT_CHECK(c->kind == GEMM_CLBLAST ? clblast_epilogue(ctx, label, &plain, flops)
                                        : run_own(ctx, label, &plain, c, flops));
    if (op->alpha != 1.0f)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: row sums with alpha != 1 need %s", label,
                          "a kernel that computes them");
    return clvit_colsum_strided(ctx, op->rowsum, op->beta, op->a, (int)op->k, (int)op->m,
                                (int)op->lda);
}

static clvit_status check_op(const char *label, const clvit_gemm_op *op) {
    const size_t ka = op->ta ? op->m : op->k, kb = op->tb ? op->k : op->n;
    if (op->lda < (ka ? ka : 1) || op->ldb < (kb ? kb : 1) || op->ldc < op->n)
        return clvit_fail(CLVIT_ERR_SHAPE, "GEMM %s: leading dimensions %zu/%zu/%zu too small",
                          label, op->lda, op->ldb, op->ldc);
    if (op->epi < CLVIT_EPI_NONE || op->epi > CLVIT_EPI_DGELU)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: bad epilogue %d", label, (int)op->epi);
    if (op->rowsum.buf && (!op->ta || op->batch > 1))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: row sums need A transposed, one batch",
                          label);
    if (op->epi != CLVIT_EPI_NONE && op->epi != CLVIT_EPI_DGELU && !op->bias.buf)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: epilogue without a bias", label);
    if (op->epi >= CLVIT_EPI_RESIDUAL && (!op->aux.buf || op->ldaux < op->n))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: epilogue without its aux tensor", label);
    return CLVIT_SUCCESS;
}

clvit_status clvit_gemm_run(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op) {
    if (op->m == 0 || op->n == 0 || op->batch == 0) return CLVIT_SUCCESS;
    CLVIT_CHECK(check_op(label, op));
    if (op->k == 0) { /* an empty sum: C = epi(beta * C); one element-wise pass of the kernel */
        clvit_gemm_op z = *op;
        z.k = 0;
        return clvit_gemm_launch(ctx, label, &z, clvit_gemm_cand_find("vn_6x32"));
    }
    int cand;
    CLVIT_CHECK(clvit_gemm_plan_choose(ctx, label, op, &cand));
    return clvit_gemm_launch(ctx, label, op, cand);
}

/* ---------------------------------------------------------------- GEMM + LayerNorm */

/* gemm_ln's row width: N rounded up to whole 16-float vectors */
static size_t ln_nmax(size_t n) {
    return (n + 15) / 16 * 16;
}

int clvit_gemm_ln_fits(const clvit_gemm_op *op) {
    return op->ta == 0 && op->tb == 1 && op->epi == CLVIT_EPI_RESIDUAL && op->alpha == 1.0f &&
           op->beta == 0.0f && op->batch <= 1 && op->n >= 1 && op->n <= CLVIT_GEMM_LN_NMAX &&
           op->k >= 1 && !op->rowsum.buf;
}

clvit_status clvit_gemm_ln(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                           const clvit_ln_out *ln) {
    if (op->m == 0) return CLVIT_SUCCESS;
    CLVIT_CHECK(check_op(label, op));
    if (!clvit_gemm_ln_fits(op) || ln->w.buf != ln->b.buf || ln->ldout < op->n)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "GEMM %s: no fused LayerNorm for this product",
                          label);
    if (op->m > INT32_MAX || op->k > INT32_MAX || op->lda > INT32_MAX || op->ldb > INT32_MAX ||
        op->ldc > INT32_MAX || op->ldaux > INT32_MAX || ln->ldout > INT32_MAX)
        return clvit_fail(CLVIT_ERR_SHAPE, "GEMM %s: a dimension exceeds 2^31", label);
    clvit_gemm_op packed; /* W^T as (K, N) rows, for vector loads along N */
    CLVIT_CHECK(pack_b(ctx, op, &packed));
    op = &packed;
    /* MR rows of NMAX floats per work-item, 16-float vectors along N: at most 16 accumulators */
    const size_t nmax = ln_nmax(op->n);
    const int mr = nmax <= 64 ? 4 : nmax <= 128 ? 2 : 1;
    char opts[96];
    snprintf(opts, sizeof opts, "-DKIND=4 -DMR=%d -DVW=16 -DNMAX=%zu", mr, nmax);
    cl_kernel k;
    CLVIT_CHECK(clvit_kernel(ctx, "gemm.cl", "gemm_ln", opts, &k));
    int M = (int)op->m, N = (int)op->n, K = (int)op->k, lda = (int)op->lda, ldb = (int)op->ldb,
        ldc = (int)op->ldc, ldr = (int)op->ldaux, ldl = (int)ln->ldout;
    cl_ulong ao = op->a.off, bo = op->b.off, co = op->c.off, biaso = op->bias.off, ro = op->aux.off,
             lo = ln->out.off, mo = ln->mean.off, so = ln->rstd.off, wo = ln->w.off,
             bo2 = ln->b.off;
    float eps = ln->eps;
    CLVIT_CHECK(clvit_args(k, 28, CLVIT_A(M), CLVIT_A(N), CLVIT_A(K), CLVIT_A(op->a.buf),
                           CLVIT_A(ao), CLVIT_A(lda), CLVIT_A(op->b.buf), CLVIT_A(bo), CLVIT_A(ldb),
                           CLVIT_A(op->c.buf), CLVIT_A(co), CLVIT_A(ldc), CLVIT_A(op->bias.buf),
                           CLVIT_A(biaso), CLVIT_A(op->aux.buf), CLVIT_A(ro), CLVIT_A(ldr),
                           CLVIT_A(ln->out.buf), CLVIT_A(lo), CLVIT_A(ldl), CLVIT_A(ln->mean.buf),
                           CLVIT_A(mo), CLVIT_A(ln->rstd.buf), CLVIT_A(so), CLVIT_A(ln->w.buf),
                           CLVIT_A(wo), CLVIT_A(bo2), CLVIT_A(eps)));
    const size_t items = (op->m + (size_t)mr - 1) / (size_t)mr, limit = clvit_local_limit(ctx, k);
    const size_t local = limit < 8 ? limit : 8;
    const size_t global[3] = {(items + local - 1) / local * local, 1, 1}, lsz[3] = {local, 1, 1};
    return clvit_enqueue_kernel(ctx, k, label, 1, global, lsz, 1,
                                2.0 * (double)op->m * (double)op->n * (double)op->k);
}

/* ---------------------------------------------------------------- plain wrappers */

clvit_status clvit_gemm(clvit_ctx *ctx, const char *label, int trans_a, int trans_b, size_t m,
                        size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                        cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                        size_t ldc) {
    return clvit_gemm_batched(ctx, label, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, 0, b,
                              b_off, ldb, 0, beta, c, c_off, ldc, 0, 1);
}

clvit_status clvit_gemm_batched(clvit_ctx *ctx, const char *label, int trans_a, int trans_b,
                                size_t m, size_t n, size_t k, float alpha, cl_mem a, size_t a_off,
                                size_t lda, size_t a_stride, cl_mem b, size_t b_off, size_t ldb,
                                size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
                                size_t c_stride, size_t batch) {
    const clvit_gemm_op op = {.ta = trans_a,
                              .tb = trans_b,
                              .m = m,
                              .n = n,
                              .k = k,
                              .alpha = alpha,
                              .beta = beta,
                              .a = CLVIT_T(a, a_off),
                              .b = CLVIT_T(b, b_off),
                              .c = CLVIT_T(c, c_off),
                              .lda = lda,
                              .ldb = ldb,
                              .ldc = ldc,
                              .batch = batch,
                              .sa = a_stride,
                              .sb = b_stride,
                              .sc = c_stride};
    return clvit_gemm_run(ctx, label, &op);
}
