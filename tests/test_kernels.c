/*
 * test_kernels.c - every forward layer function against the plain C references of
 * tests/ref_layers.h (double accumulators), on odd sizes that are not multiples of any
 * work-group size (rows 37, C 45, out 29, N 19, hd 7, H 3, B 2, a 13x13 image with 4x4
 * patches; attention on N 5 to 197 with hd 6, 7, 8, 16, 64, 80), with every tensor at a
 * non-zero offset in its buffer.
 *
 * Tolerances, |got - ref| <= atol + rtol * |ref|:
 *   copies and permutations (im2col, pooling by token)           exact (0, 0)
 *   elementwise float arithmetic (average2, mean pooling)         atol 1e-6, rtol 1e-6
 *   LayerNorm, attention and everything through a CLBlast GEMM    atol 1e-5, rtol 1e-4
 *   attention: inference (no att) against training path, variants against each other:
 *                                                                 atol 1e-6, rtol 1e-5
 * (inputs are O(1); the measured errors, printed per check, are around 1e-6 and below.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref_layers.h"

#define PAD 3 /* every activation tensor starts PAD floats into its buffer */

/* ---------------------------------------------------------------- LayerNorm */

static void test_layernorm_forward(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int R = 37, C = 45;
    uint64_t rng = 11;
    float *x = ref_uniform((size_t)R * C, &rng, -2.0f, 2.0f);
    for (int r = 0; r < R; r++) /* rows with different means and spreads */
        for (int c = 0; c < C; c++)
            x[(size_t)r * C + c] = x[(size_t)r * C + c] * (1 + r % 4) + r * 0.25f;
    const size_t w_off = 5, b_off = w_off + C + 2;
    float *prm = ref_uniform(b_off + C, &rng, -1.0f, 1.0f);
    for (int c = 0; c < C; c++)
        prm[w_off + c] += 1.0f;
    double *xd = ref_widen(x, (size_t)R * C), *pd = ref_widen(prm, b_off + C);
    double *out = ref_alloc((size_t)R * C), *mean = ref_alloc(R), *rstd = ref_alloc(R);
    ref_layernorm_fwd(out, mean, rstd, xd, pd + w_off, pd + b_off, R, C);

    cl_mem dx = dev_upload(x, (size_t)R * C, PAD), dp = dev_upload(prm, b_off + C, 0);
    cl_mem dout = dev_buffer(PAD + (size_t)R * C), dstat = dev_buffer(2 * PAD + 2 * (size_t)R);
    TU_OK(clvit_layernorm_forward(ctx, CLVIT_T(dout, PAD), CLVIT_T(dstat, PAD),
                                  CLVIT_T(dstat, 2 * PAD + R), CLVIT_T(dx, PAD), CLVIT_T(dp, w_off),
                                  CLVIT_T(dp, b_off), R, C));
    float *got = dev_download(dout, PAD, (size_t)R * C);
    float *gm = dev_download(dstat, PAD, R), *gr = dev_download(dstat, 2 * PAD + R, R);
    int ok = check_f("layernorm out", got, out, (size_t)R * C, 1e-5, 1e-4);
    ok &= check_f("layernorm mean", gm, mean, R, 1e-5, 1e-4);
    ok &= check_f("layernorm rstd", gr, rstd, R, 1e-5, 1e-4);
    assert_true(ok);
    free(x);
    free(prm);
    free(xd);
    free(pd);
    free(out);
    free(mean);
    free(rstd);
    free(got);
    free(gm);
    free(gr);
    clReleaseMemObject(dx);
    clReleaseMemObject(dp);
    clReleaseMemObject(dout);
    clReleaseMemObject(dstat);
}

/* ---------------------------------------------------------------- Linear */

static int linear_forward_case(clvit_epilogue epi, const char *name) {
    clvit_ctx *ctx = tu_ctx();
    const int rows = 37, in = 45, out = 29;
    const size_t nx = (size_t)rows * in, ny = (size_t)rows * out;
    uint64_t rng = 21 + (uint64_t)epi;
    float *x = ref_uniform(nx, &rng, -1.0f, 1.0f), *res = ref_uniform(ny, &rng, -1.0f, 1.0f);
    const size_t w_off = 7, b_off = w_off + (size_t)out * in + 1;
    float *prm = ref_uniform(b_off + out, &rng, -0.3f, 0.3f);
    double *xd = ref_widen(x, nx), *rd = ref_widen(res, ny), *pd = ref_widen(prm, b_off + out);
    double *y = ref_alloc(ny), *pre = ref_alloc(ny);
    ref_linear_fwd(epi, y, pre, xd, pd + w_off, pd + b_off, rd, rows, in, out);

    cl_mem bx = dev_upload(x, nx, PAD), bres = dev_upload(res, ny, PAD);
    cl_mem bp = dev_upload(prm, b_off + out, 0), by = dev_buffer(PAD + ny),
           bpre = dev_buffer(PAD + ny);
    TU_OK(clvit_linear_forward(ctx, name, epi, CLVIT_T(by, PAD),
                               epi == CLVIT_EPI_RESIDUAL ? CLVIT_T(bres, PAD) : CLVIT_T(bpre, PAD),
                               CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), CLVIT_T(bp, b_off), rows, in,
                               out));
    float *gy = dev_download(by, PAD, ny), *gp = dev_download(bpre, PAD, ny);
    char what[64];
    snprintf(what, sizeof what, "linear %s y", name);
    int ok = check_f(what, gy, y, ny, 1e-5, 1e-4);
    if (epi == CLVIT_EPI_GELU || epi == CLVIT_EPI_TANH) {
        snprintf(what, sizeof what, "linear %s pre", name);
        ok &= check_f(what, gp, pre, ny, 1e-5, 1e-4);
    }
    free(x);
    free(res);
    free(prm);
    free(xd);
    free(rd);
    free(pd);
    free(y);
    free(pre);
    free(gy);
    free(gp);
    clReleaseMemObject(bx);
    clReleaseMemObject(bres);
    clReleaseMemObject(bp);
    clReleaseMemObject(by);
    clReleaseMemObject(bpre);
    return ok;
}

static void test_linear_forward(void **state) {
    (void)state;
    int ok = linear_forward_case(CLVIT_EPI_NONE, "none");
    ok &= linear_forward_case(CLVIT_EPI_BIAS, "bias");
    ok &= linear_forward_case(CLVIT_EPI_RESIDUAL, "residual");
    ok &= linear_forward_case(CLVIT_EPI_GELU, "gelu");
    ok &= linear_forward_case(CLVIT_EPI_TANH, "tanh");
    assert_true(ok);
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_case {
    int B, N, H, hd, has_bias;
    float p_drop;
} attn_case;

/* Runs the fused forward with the given variant into out (and att unless NULL), both at PAD
 * and pre-filled with NaN, a SENTINEL tail after each. "rows/n" is the rows variant with n
 * query rows per work-item (CLVIT_ATTENTION_ROWS). */
static void attention_run(const char *variant, cl_mem bo, cl_mem ba, cl_mem bq, cl_mem bp,
                          size_t b_off, const attn_case *c, float scale, const clvit_drop *drop) {
    const size_t nout = (size_t)c->B * c->N * c->H * c->hd,
                 natt = (size_t)c->B * c->H * c->N * c->N;
    const char *slash = strchr(variant, '/');
    if (slash) setenv("CLVIT_ATTENTION_ROWS", slash + 1, 1);
    setenv("CLVIT_ATTENTION", slash ? "rows" : variant, 1);
    dev_set(bo, 0, NAN, PAD + nout);
    if (ba) dev_set(ba, 0, NAN, PAD + natt);
    TU_OK(clvit_attention_forward(tu_ctx(), CLVIT_T(bo, PAD), CLVIT_T(ba, PAD), CLVIT_T(bq, PAD),
                                  CLVIT_T(bp, b_off), c->has_bias, scale, c->B, c->N, c->H, c->hd,
                                  drop));
    unsetenv("CLVIT_ATTENTION");
    unsetenv("CLVIT_ATTENTION_ROWS");
}

/* One case against the double reference, for both variants (rows, with the device's and with
 * 1 and 2 rows per work-item, and tiled), with and without
 * saving att; the inference path (att NULL, online softmax only) against the training path,
 * and the variants against each other: atol 1e-6, rtol 1e-5 (the two paths share their
 * arithmetic and agree exactly; the variants sum in different orders). The tails after out
 * and att and the input qkv must stay untouched. */
static int attention_forward_case(const attn_case *c) {
    const int B = c->B, N = c->N, H = c->H, hd = c->hd, D = H * hd;
    const double scale = 1.0 / sqrt((double)hd);
    const size_t nqkv = (size_t)B * N * 3 * D, nout = (size_t)B * N * D,
                 natt = (size_t)B * H * N * N;
    char tag[64], what[96];
    snprintf(tag, sizeof tag, "attn B%d N%d H%d hd%d%s p%.2g", B, N, H, hd,
             c->has_bias ? " bias" : "", (double)c->p_drop);
    uint64_t rng = 31 + (uint64_t)(N * 7 + hd);
    float *qkv = ref_uniform(nqkv, &rng, -1.5f, 1.5f);
    const size_t b_off = 4;
    float *prm = ref_uniform(b_off + 3 * (size_t)D, &rng, -0.5f, 0.5f);
    const clvit_drop drop = {c->p_drop, 0.0f, 0x5eedu + (uint32_t)N, 16u + 4u * 5u + 3u, 0u};
    double *mask = dev_attention_mask(&drop, natt);
    double *qd = ref_widen(qkv, nqkv), *pd = ref_widen(prm, b_off + 3 * (size_t)D);
    double *out = ref_alloc(nout), *att = ref_alloc(natt);
    ref_attention_fwd(out, att, qd, pd + b_off, c->has_bias, mask, scale, B, N, H, hd);

    cl_mem bq = dev_upload(qkv, nqkv, PAD), bp = dev_upload(prm, b_off + 3 * (size_t)D, 0);
    cl_mem bo = dev_buffer(PAD + nout + 2), ba = dev_buffer(PAD + natt + 2);
    dev_set(bo, PAD + nout, 12345.0f, 2);
    dev_set(ba, PAD + natt, 12345.0f, 2);
    const float fs = (float)scale;
    const clvit_drop *dp = c->p_drop > 0.0f ? &drop : NULL;
    int ok = 1;
    float *first = NULL;
    const char *variants[] = {"rows", "tiled", "rows/1", "rows/2"};
    for (int v = 0; v < 4; v++) {
        /* training: att saved */
        attention_run(variants[v], bo, ba, bq, bp, b_off, c, fs, dp);
        float *go = dev_download(bo, PAD, nout + 2), *ga = dev_download(ba, PAD, natt + 2);
        snprintf(what, sizeof what, "%s %s out", tag, variants[v]);
        ok &= check_f(what, go, out, nout, 1e-5, 1e-4);
        snprintf(what, sizeof what, "%s %s att", tag, variants[v]);
        ok &= check_f(what, ga, att, natt, 1e-5, 1e-4);
        if (go[nout] != 12345.0f || go[nout + 1] != 12345.0f || ga[natt] != 12345.0f ||
            ga[natt + 1] != 12345.0f) {
            printf("  %s %s: wrote past the end of out or att\n", tag, variants[v]);
            ok = 0;
        }
        /* inference: no att */
        attention_run(variants[v], bo, NULL, bq, bp, b_off, c, fs, dp);
        float *gi = dev_download(bo, PAD, nout);
        double *wide = ref_widen(go, nout);
        snprintf(what, sizeof what, "%s %s out (att NULL) vs saved", tag, variants[v]);
        ok &= check_f(what, gi, wide, nout, 1e-6, 1e-5);
        if (!first) {
            first = go;
            go = NULL;
        } else {
            double *wf = ref_widen(first, nout);
            snprintf(what, sizeof what, "%s %s vs rows", tag, variants[v]);
            ok &= check_f(what, gi, wf, nout, 1e-6, 1e-5);
            free(wf);
        }
        free(go);
        free(ga);
        free(gi);
        free(wide);
    }
    float *gq = dev_download(bq, PAD, nqkv);
    snprintf(what, sizeof what, "%s qkv untouched", tag);
    ok &= check_f(what, gq, qd, nqkv, 0.0, 0.0);
    free(gq);
    free(first);
    free(qkv);
    free(prm);
    free(mask);
    free(qd);
    free(pd);
    free(out);
    free(att);
    clReleaseMemObject(bq);
    clReleaseMemObject(bp);
    clReleaseMemObject(bo);
    clReleaseMemObject(ba);
    return ok;
}

static void test_attention_forward(void **state) {
    (void)state;
    /* odd N; hd 8, 16, 64 and 80 (the vector widths 8 and 16), 7 (scalar), 6 (pairs); the
     * keys per chunk (16) divide none of the N; the ViT-B/16 and ViT-H/14 shapes (197, 64) and
     * (257, 80) */
    static const attn_case cases[] = {
        {3, 5, 2, 8, 1, 0.0f},   {3, 5, 2, 8, 0, 0.3f},    {3, 17, 3, 16, 0, 0.0f},
        {3, 17, 3, 16, 1, 0.2f}, {2, 51, 2, 16, 1, 0.1f},  {2, 19, 3, 7, 1, 0.0f},
        {2, 19, 3, 7, 0, 0.25f}, {2, 33, 2, 64, 1, 0.1f},  {1, 13, 2, 80, 1, 0.0f},
        {2, 9, 2, 6, 1, 0.5f},   {1, 197, 1, 64, 1, 0.1f}, {1, 257, 1, 80, 1, 0.1f},
    };
    int ok = 1;
    /* CLVIT_TEST_SMALL (Oclgrind): without the two ViT shapes, which take most of the time */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!tu_small() || cases[i].N <= 64) ok &= attention_forward_case(&cases[i]);
    assert_true(ok);
}

/* ---------------------------------------------------------------- patch embedding */

static int patch_embed_forward_case(int T) {
    clvit_ctx *ctx = tu_ctx();
    /* 13 is not a multiple of the patch: the last row and column of pixels are dropped */
    const int B = 2, C = 3, S = 13, p = 4, D = 45, g = S / p, P = g * g, K = C * p * p;
    const int N = T + P;
    const size_t nimg = (size_t)B * C * S * S, ncols = (size_t)B * P * K, npe = (size_t)B * P * D,
                 nx = (size_t)B * N * D;
    uint64_t rng = 41 + (uint64_t)T;
    float *img = ref_uniform(nimg, &rng, -1.0f, 1.0f);
    const size_t w_off = 2, b_off = w_off + (size_t)D * K, cls_off = b_off + D + 3,
                 dist_off = cls_off + D, np = dist_off + D;
    float *prm = ref_uniform(np, &rng, -0.2f, 0.2f);
    float *pos = ref_uniform((size_t)N * D, &rng, -0.1f, 0.1f);
    double *imgd = ref_widen(img, nimg), *pd = ref_widen(prm, np),
           *posd = ref_widen(pos, (size_t)N * D);
    double *cols = ref_alloc(ncols), *pe = ref_alloc(npe), *x = ref_alloc(nx);
    ref_im2col(cols, imgd, B, C, S, p);
    ref_patch_embed_fwd(x, pe, cols, pd + w_off, pd + b_off, pd + cls_off, pd + dist_off, posd, B,
                        P, K, T, D);

    cl_mem bi = dev_upload(img, nimg, PAD), bp = dev_upload(prm, np, 0),
           bpos = dev_upload(pos, (size_t)N * D, 1);
    cl_mem bx = dev_buffer(PAD + nx), bpe = dev_buffer(PAD + npe), bc = dev_buffer(PAD + ncols);
    TU_OK(clvit_patch_embed_forward(ctx, CLVIT_T(bx, PAD), CLVIT_T(bpe, PAD), CLVIT_T(bc, PAD),
                                    CLVIT_T(bi, PAD), CLVIT_T(bp, w_off), CLVIT_T(bp, b_off),
                                    CLVIT_T(bp, cls_off), CLVIT_T(bp, dist_off), CLVIT_T(bpos, 1),
                                    B, C, S, p, T, D));
    float *gx = dev_download(bx, PAD, nx), *gpe = dev_download(bpe, PAD, npe),
          *gc = dev_download(bc, PAD, ncols);
    char what[64];
    snprintf(what, sizeof what, "patch_embed T=%d cols", T);
    int ok = check_f(what, gc, cols, ncols, 0.0, 0.0);
    snprintf(what, sizeof what, "patch_embed T=%d pe", T);
    ok &= check_f(what, gpe, pe, npe, 1e-5, 1e-4);
    snprintf(what, sizeof what, "patch_embed T=%d x", T);
    ok &= check_f(what, gx, x, nx, 1e-5, 1e-4);
    free(img);
    free(prm);
    free(pos);
    free(imgd);
    free(pd);
    free(posd);
    free(cols);
    free(pe);
    free(x);
    free(gx);
    free(gpe);
    free(gc);
    clReleaseMemObject(bi);
    clReleaseMemObject(bp);
    clReleaseMemObject(bpos);
    clReleaseMemObject(bx);
    clReleaseMemObject(bpe);
    clReleaseMemObject(bc);
    return ok;
}

static void test_patch_embed_forward(void **state) {
    (void)state;
    int ok = patch_embed_forward_case(1);
    ok &= patch_embed_forward_case(2);
    assert_true(ok);
}

/* ---------------------------------------------------------------- head */

static void test_pool_forward(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int B = 2, N = 19, D = 45, T = 2;
    const size_t nx = (size_t)B * N * D, np = (size_t)B * D;
    uint64_t rng = 51;
    float *x = ref_uniform(nx, &rng, -2.0f, 2.0f);
    double *xd = ref_widen(x, nx), *ref = ref_alloc(np);
    cl_mem bx = dev_upload(x, nx, PAD), bpool = dev_buffer(PAD + np);
    const struct {
        int tok, avg;
        const char *what;
        double tol;
    } cases[] = {
        {0, 0, "pool token 0", 0.0}, {1, 0, "pool token 1", 0.0}, {0, 1, "pool avg", 1e-6}};
    int ok = 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ref_pool_fwd(ref, xd, B, N, D, T, cases[c].tok, cases[c].avg);
        TU_OK(clvit_pool_forward(ctx, CLVIT_T(bpool, PAD), CLVIT_T(bx, PAD), B, N, D, T,
                                 cases[c].tok, cases[c].avg));
        float *got = dev_download(bpool, PAD, np);
        ok &= check_f(cases[c].what, got, ref, np, cases[c].tol, cases[c].tol);
        free(got);
    }
    assert_true(ok);
    free(x);
    free(xd);
    free(ref);
    clReleaseMemObject(bx);
    clReleaseMemObject(bpool);
}

static void test_average2(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int n = 37 * 3;
    uint64_t rng = 61;
    float *a = ref_uniform(n, &rng, -5.0f, 5.0f), *b = ref_uniform(n, &rng, -5.0f, 5.0f);
    double *ref = ref_alloc(n);
    for (int i = 0; i < n; i++)
        ref[i] = 0.5 * ((double)a[i] + b[i]);
    cl_mem ba = dev_upload(a, n, PAD), bb = dev_upload(b, n, 1), bo = dev_buffer(PAD + n);
    TU_OK(clvit_average2(ctx, CLVIT_T(bo, PAD), CLVIT_T(ba, PAD), CLVIT_T(bb, 1), n));
    float *got = dev_download(bo, PAD, n);
    assert_true(check_f("average2", got, ref, n, 1e-6, 1e-6));
    free(a);
    free(b);
    free(ref);
    free(got);
    clReleaseMemObject(ba);
    clReleaseMemObject(bb);
    clReleaseMemObject(bo);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_forward), cmocka_unit_test(test_linear_forward),
        cmocka_unit_test(test_attention_forward), cmocka_unit_test(test_patch_embed_forward),
        cmocka_unit_test(test_pool_forward),      cmocka_unit_test(test_average2),
    };
    /* e.g. CLVIT_TEST_FILTER='test_attention*' to run one family under Oclgrind */
    if (getenv("CLVIT_TEST_FILTER")) cmocka_set_test_filter(getenv("CLVIT_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
