/*
 * test_backward.c - every backward of lib/layers.h, three ways, on odd sizes (rows 37,
 * C 45, out 29, N 19, hd 7, H 3, B 2, a 13x13 image with 4x4 patches; attention on N 5 to 51
 * with hd 7 to 80, most with attention dropout, the finite differences through the same
 * mask), every tensor at a non-zero offset:
 *   1. the C reference backward (tests/ref_layers.h, double) against central differences of
 *      the C reference forward in double, for every input element: L = sum(out * R) with a
 *      fixed random R, h = 1e-5; tolerance atol 1e-7, rtol 1e-6;
 *   2. the device backward with beta = 0 (gradient buffers pre-filled with NaN, which must
 *      not leak through) against the C reference: atol 1e-5, rtol 1e-4 (float accumulation
 *      of O(1) terms; copies and scatters are checked exactly); parameter-buffer gaps and
 *      gradients a call must not write keep a sentinel;
 *   3. the accumulate path: beta = 1 onto gradients pre-filled with known values, expecting
 *      prefill + gradient, same tolerance;
 *   4. an empty batch (no rows): beta 0 leaves zeros, beta 1 leaves the gradients alone;
 * and, for the device forward and backward together, central differences on the device in
 * float for a sample of elements of each input: h = 1e-2, atol 1e-3, rtol 2e-2 (float
 * rounding of L over the outputs a perturbation moves, divided by 2h, is ~1e-4; truncation
 * O(h^2)). Tolerances are |got - ref| <= atol + rtol * |ref|; each check prints its max
 * difference and the fraction of the tolerance it used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ref_layers.h"

#define PAD 3
#define SENTINEL 12345.0f

#define REF_H 1e-5
#define REF_ATOL 1e-7
#define REF_RTOL 1e-6
#define DEV_ATOL 1e-5
#define DEV_RTOL 1e-4
#define FD_H 1e-2f
#define FD_ATOL 1e-3
#define FD_RTOL 2e-2

/* ---------------------------------------------------------------- helpers */

static void prefill_nan(cl_mem b, size_t off, size_t n) {
    dev_set(b, off, NAN, n);
}

/* Writes known values into b[off .. off+n) and returns them. */
static float *prefill_known(cl_mem b, size_t off, size_t n, uint64_t *rng) {
    float *a = ref_uniform(n, rng, -1.0f, 1.0f);
    dev_write(b, off, a, n);
    return a;
}

/* a + r, the expected result of an accumulate (beta = 1) call. */
static double *plus(const float *a, const double *r, size_t n) {
    double *s = ref_alloc(n);
    for (size_t i = 0; i < n; i++)
        s[i] = (double)a[i] + r[i];
    return s;
}

/* Downloads b[off .. off+n) and checks it against ref. */
static int check_dev(const char *what, cl_mem b, size_t off, const double *ref, size_t n,
                     double atol, double rtol) {
    float *got = dev_download(b, off, n);
    int ok = check_f(what, got, ref, n, atol, rtol);
    free(got);
    return ok;
}

/* b[off .. off+n) still holds SENTINEL. */
static int check_sentinel(const char *what, cl_mem b, size_t off, size_t n) {
    float *got = dev_download(b, off, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += got[i] != SENTINEL;
    if (bad) printf("  %s: %zu of %zu elements were written, expected untouched\n", what, bad, n);
    free(got);
    return bad == 0;
}

static cl_mem sentinel_buffer(size_t n) {
    cl_mem b = dev_buffer(n);
    dev_set(b, 0, SENTINEL, n);
    return b;
}

static void fmt(char *buf, size_t size, const char *tag, const char *what) {
    snprintf(buf, size, "%s %s", tag, what);
}

/* ---------------------------------------------------------------- column sums */

static void test_colsum(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    /* one partial tile; three tiles with fewer rows than row lanes and a row stride;
     * no rows at all (the sum is empty) */
    const struct { int rows, cols, ld; } cases[] = {{37, 45, 45}, {3, 70, 83}, {0, 5, 5}};
    int ok = 1;
    uint64_t rng = 101;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int rows = cases[c].rows, cols = cases[c].cols, ld = cases[c].ld;
        const size_t nx = (size_t)(rows > 0 ? rows : 1) * ld;
        float *x = ref_uniform(nx, &rng, -1.0f, 1.0f);
        double *ref = ref_alloc(cols);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                ref[j] += x[(size_t)r * ld + j];
        cl_mem bx = dev_upload(x, nx, PAD), bo = sentinel_buffer(PAD + (size_t)cols + 2);
        char what[64];
        prefill_nan(bo, PAD, cols);
        TU_OK(clvit_colsum_strided(ctx, CLVIT_T(bo, PAD), 0.0f, CLVIT_T(bx, PAD), rows, cols, ld));
        snprintf(what, sizeof what, "colsum %dx%d ld %d beta 0", rows, cols, ld);
        ok &= check_dev(what, bo, PAD, ref, cols, 1e-6, 1e-6);
        float *a = prefill_known(bo, PAD, cols, &rng);
        TU_OK(clvit_colsum_strided(ctx, CLVIT_T(bo, PAD), 1.0f, CLVIT_T(bx, PAD), rows, cols, ld));
        double *want = plus(a, ref, cols);
        snprintf(what, sizeof what, "colsum %dx%d ld %d beta 1", rows, cols, ld);
        ok &= check_dev(what, bo, PAD, want, cols, 1e-6, 1e-6);
        ok &= check_sentinel("colsum tail", bo, PAD + (size_t)cols, 2);
        ok &= check_sentinel("colsum head", bo, 0, PAD);
        if (ld == cols) { /* the contiguous form is the same */
            TU_OK(clvit_colsum(ctx, CLVIT_T(bo, PAD), 0.0f, CLVIT_T(bx, PAD), rows, cols));
            snprintf(what, sizeof what, "colsum %dx%d contiguous", rows, cols);
            ok &= check_dev(what, bo, PAD, ref, cols, 1e-6, 1e-6);
        }
        free(x);
        free(ref);
        free(a);
        free(want);
        clReleaseMemObject(bx);
        clReleaseMemObject(bo);
    }
    assert_true(ok);
}

/* ---------------------------------------------------------------- LayerNorm */

typedef struct {
    double *x, *w, *b, *R, *out;
    int rows, C;
} ln_ref;

static double ln_ref_loss(void *s) {
    ln_ref *t = s;
    ref_layernorm_fwd(t->out, NULL, NULL, t->x, t->w, t->b, t->rows, t->C);
    return dot_dd(t->out, t->R, (size_t)t->rows * t->C);
}

typedef struct {
    cl_mem out, stat, x, p;
    size_t w_off, b_off;
    int rows, C;
    const double *R;
    float *tmp;
} ln_dev;

static double ln_dev_loss(void *s) {
    ln_dev *t = s;
    const size_t n = (size_t)t->rows * t->C;
    TU_OK(clvit_layernorm_forward(tu_ctx(), CLVIT_T(t->out, PAD), CLVIT_T(t->stat, 0),
                                  CLVIT_T(t->stat, (size_t)t->rows), CLVIT_T(t->x, PAD),
                                  CLVIT_T(t->p, t->w_off), CLVIT_T(t->p, t->b_off), t->rows, t->C));
    TU_OK(clvit_read(tu_ctx(), t->out, PAD, t->tmp, n));
    return dot_fd(t->tmp, t->R, n);
}

static void test_layernorm_backward(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int R = 37, C = 45;
    const size_t n = (size_t)R * C;
    uint64_t rng = 201;
    float *x = ref_uniform(n, &rng, -2.0f, 2.0f), *dout = ref_uniform(n, &rng, -1.0f, 1.0f);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            x[(size_t)r * C + c] = x[(size_t)r * C + c] * (1 + r % 3) + r * 0.1f;
    const size_t w_off = 4, b_off = w_off + C + 3, np = b_off + C + 2;
    float *prm = ref_uniform(np, &rng, -0.5f, 0.5f);
    for (int c = 0; c < C; c++)
        prm[w_off + c] += 1.0f;

    /* 1. reference backward against double finite differences */
    double *xd = ref_widen(x, n), *pd = ref_widen(prm, np), *Rd = ref_widen(dout, n);
    double *dx = ref_alloc(n), *dw = ref_alloc(C), *db = ref_alloc(C);
    ref_layernorm_bwd(dx, dw, db, Rd, xd, pd + w_off, R, C);
    ln_ref lr = {xd, pd + w_off, pd + b_off, Rd, ref_alloc(n), R, C};
    int ok = fd_check_ref("ref layernorm dx vs fd", ln_ref_loss, &lr, xd, n, dx, REF_H, REF_ATOL,
                          REF_RTOL);
    ok &= fd_check_ref("ref layernorm dw vs fd", ln_ref_loss, &lr, pd + w_off, C, dw, REF_H,
                       REF_ATOL, REF_RTOL);
    ok &= fd_check_ref("ref layernorm db vs fd", ln_ref_loss, &lr, pd + b_off, C, db, REF_H,
                       REF_ATOL, REF_RTOL);

    /* 2. device, beta 0 */
    cl_mem bx = dev_upload(x, n, PAD), bp = dev_upload(prm, np, 0), bdo = dev_upload(dout, n, PAD);
    cl_mem bout = dev_buffer(PAD + n), bstat = dev_buffer(2 * (size_t)R);
    cl_mem bdx = dev_buffer(PAD + n), bg = sentinel_buffer(np);
    TU_OK(clvit_layernorm_forward(ctx, CLVIT_T(bout, PAD), CLVIT_T(bstat, 0), CLVIT_T(bstat, R),
                                  CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), CLVIT_T(bp, b_off), R, C));
    prefill_nan(bdx, PAD, n);
    prefill_nan(bg, w_off, C);
    prefill_nan(bg, b_off, C);
    TU_OK(clvit_layernorm_backward(ctx, CLVIT_T(bdx, PAD), 0.0f, CLVIT_T(bg, w_off),
                                   CLVIT_T(bg, b_off), 0.0f, CLVIT_T(bdo, PAD), CLVIT_T(bx, PAD),
                                   CLVIT_T(bstat, 0), CLVIT_T(bstat, R), CLVIT_T(bp, w_off), R, C));
    float *gdx = dev_download(bdx, PAD, n), *gg = dev_download(bg, 0, np);
    ok &= check_f("layernorm dx", gdx, dx, n, DEV_ATOL, DEV_RTOL);
    ok &= check_f("layernorm dw", gg + w_off, dw, C, DEV_ATOL, DEV_RTOL);
    ok &= check_f("layernorm db", gg + b_off, db, C, DEV_ATOL, DEV_RTOL);
    ok &= check_sentinel("layernorm g gaps", bg, 0, w_off);
    ok &= check_sentinel("layernorm g gaps", bg, w_off + C, b_off - w_off - C);
    ok &= check_sentinel("layernorm g gaps", bg, b_off + C, np - b_off - C);

    /* 3. accumulate */
    float *adx = prefill_known(bdx, PAD, n, &rng), *adw = prefill_known(bg, w_off, C, &rng),
          *adb = prefill_known(bg, b_off, C, &rng);
    TU_OK(clvit_layernorm_backward(ctx, CLVIT_T(bdx, PAD), 1.0f, CLVIT_T(bg, w_off),
                                   CLVIT_T(bg, b_off), 1.0f, CLVIT_T(bdo, PAD), CLVIT_T(bx, PAD),
                                   CLVIT_T(bstat, 0), CLVIT_T(bstat, R), CLVIT_T(bp, w_off), R, C));
    double *wdx = plus(adx, dx, n), *wdw = plus(adw, dw, C), *wdb = plus(adb, db, C);
    ok &= check_dev("layernorm dx beta 1", bdx, PAD, wdx, n, DEV_ATOL, DEV_RTOL);
    ok &= check_dev("layernorm dw beta 1", bg, w_off, wdw, C, DEV_ATOL, DEV_RTOL);
    ok &= check_dev("layernorm db beta 1", bg, b_off, wdb, C, DEV_ATOL, DEV_RTOL);

    /* dx may overwrite dout in place */
    cl_mem bio = dev_upload(dout, n, PAD);
    TU_OK(clvit_layernorm_backward(ctx, CLVIT_T(bio, PAD), 0.0f, CLVIT_T(bg, w_off),
                                   CLVIT_T(bg, b_off), 0.0f, CLVIT_T(bio, PAD), CLVIT_T(bx, PAD),
                                   CLVIT_T(bstat, 0), CLVIT_T(bstat, R), CLVIT_T(bp, w_off), R, C));
    ok &= check_dev("layernorm dx in place of dout", bio, PAD, dx, n, DEV_ATOL, DEV_RTOL);
    ok &= check_dev("layernorm dw (dx in place)", bg, w_off, dw, C, DEV_ATOL, DEV_RTOL);
    ok &= check_dev("layernorm db (dx in place)", bg, b_off, db, C, DEV_ATOL, DEV_RTOL);
    clReleaseMemObject(bio);

    /* device finite differences */
    ln_dev ld = {bout, bstat, bx, bp, w_off, b_off, R, C, Rd, ref_allocf(n)};
    ok &= fd_check_device("layernorm dx vs device fd", ln_dev_loss, &ld, bx, PAD, n, gdx, 10, FD_H,
                          FD_ATOL, FD_RTOL);
    ok &= fd_check_device("layernorm dw vs device fd", ln_dev_loss, &ld, bp, w_off, C, gg + w_off,
                          6, FD_H, FD_ATOL, FD_RTOL);
    ok &= fd_check_device("layernorm db vs device fd", ln_dev_loss, &ld, bp, b_off, C, gg + b_off,
                          6, FD_H, FD_ATOL, FD_RTOL);
    assert_true(ok);

    free(x);
    free(dout);
    free(prm);
    free(xd);
    free(pd);
    free(Rd);
    free(dx);
    free(dw);
    free(db);
    free(lr.out);
    free(gdx);
    free(gg);
    free(adx);
    free(adw);
    free(adb);
    free(wdx);
    free(wdw);
    free(wdb);
    free(ld.tmp);
    clReleaseMemObject(bx);
    clReleaseMemObject(bp);
    clReleaseMemObject(bdo);
    clReleaseMemObject(bout);
    clReleaseMemObject(bstat);
    clReleaseMemObject(bdx);
    clReleaseMemObject(bg);
}

/* ---------------------------------------------------------------- Linear */

typedef struct {
    clvit_epilogue epi;
    double *x, *W, *b, *res, *R, *y;
    int rows, in, out;
} lin_ref;

static double lin_ref_loss(void *s) {
    lin_ref *t = s;
    ref_linear_fwd(t->epi, t->y, NULL, t->x, t->W, t->b, t->res, t->rows, t->in, t->out);
    return dot_dd(t->y, t->R, (size_t)t->rows * t->out);
}

typedef struct {
    clvit_epilogue epi;
    cl_mem y, pre, x, p, res;
    size_t w_off, b_off;
    int rows, in, out;
    const double *R;
    float *tmp;
} lin_dev;

static double lin_dev_loss(void *s) {
    lin_dev *t = s;
    const size_t n = (size_t)t->rows * t->out;
    TU_OK(clvit_linear_forward(tu_ctx(), "fd", t->epi, CLVIT_T(t->y, PAD),
                               t->epi == CLVIT_EPI_RESIDUAL ? CLVIT_T(t->res, PAD)
                                                            : CLVIT_T(t->pre, PAD),
                               CLVIT_T(t->x, PAD), CLVIT_T(t->p, t->w_off), CLVIT_T(t->p, t->b_off),
                               t->rows, t->in, t->out));
    TU_OK(clvit_read(tu_ctx(), t->y, PAD, t->tmp, n));
    return dot_fd(t->tmp, t->R, n);
}

static int linear_backward_case(clvit_epilogue epi, const char *tag) {
    clvit_ctx *ctx = tu_ctx();
    const int rows = 37, in = 45, out = 29;
    const size_t nx = (size_t)rows * in, ny = (size_t)rows * out, nw = (size_t)out * in;
    uint64_t rng = 301 + (uint64_t)epi;
    float *x = ref_uniform(nx, &rng, -1.0f, 1.0f), *res = ref_uniform(ny, &rng, -1.0f, 1.0f);
    float *dy = ref_uniform(ny, &rng, -1.0f, 1.0f);
    const size_t w_off = 5, b_off = w_off + nw + 2, np = b_off + out + 3;
    /* weights large enough that GELU and tanh see their curved parts */
    float *prm = ref_uniform(np, &rng, -0.5f, 0.5f);
    const int has_db = epi != CLVIT_EPI_NONE, is_res = epi == CLVIT_EPI_RESIDUAL;
    char what[96];

    /* 1. reference */
    double *xd = ref_widen(x, nx), *pd = ref_widen(prm, np), *rd = ref_widen(res, ny),
           *Rd = ref_widen(dy, ny);
    double *dx = ref_alloc(nx), *dW = ref_alloc(nw), *db = ref_alloc(out), *dres = ref_alloc(ny);
    ref_linear_bwd(epi, dx, dW, db, dres, Rd, xd, pd + w_off, pd + b_off, rows, in, out);
    lin_ref lr = {epi, xd, pd + w_off, pd + b_off, rd, Rd, ref_alloc(ny), rows, in, out};
    fmt(what, sizeof what, tag, "ref dx vs fd");
    int ok = fd_check_ref(what, lin_ref_loss, &lr, xd, nx, dx, REF_H, REF_ATOL, REF_RTOL);
    fmt(what, sizeof what, tag, "ref dW vs fd");
    ok &= fd_check_ref(what, lin_ref_loss, &lr, pd + w_off, nw, dW, REF_H, REF_ATOL, REF_RTOL);
    if (has_db) {
        fmt(what, sizeof what, tag, "ref db vs fd");
        ok &= fd_check_ref(what, lin_ref_loss, &lr, pd + b_off, out, db, REF_H, REF_ATOL, REF_RTOL);
    }
    if (is_res) {
        fmt(what, sizeof what, tag, "ref dres vs fd");
        ok &= fd_check_ref(what, lin_ref_loss, &lr, rd, ny, dres, REF_H, REF_ATOL, REF_RTOL);
    }

    /* 2. device, beta 0 */
    cl_mem bx = dev_upload(x, nx, PAD), bp = dev_upload(prm, np, 0),
           bres = dev_upload(res, ny, PAD);
    cl_mem bdy = dev_upload(dy, ny, PAD), by = dev_buffer(PAD + ny), bpre = dev_buffer(PAD + ny);
    cl_mem bdx = dev_buffer(PAD + nx), bdpre = dev_buffer(PAD + ny), bg = sentinel_buffer(np);
    cl_mem bdres = sentinel_buffer(PAD + ny);
    TU_OK(clvit_linear_forward(ctx, tag, epi, CLVIT_T(by, PAD),
                               epi == CLVIT_EPI_RESIDUAL ? CLVIT_T(bres, PAD) : CLVIT_T(bpre, PAD),
                               CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), CLVIT_T(bp, b_off), rows, in,
                               out));
    prefill_nan(bdx, PAD, nx);
    prefill_nan(bdpre, PAD, ny);
    prefill_nan(bg, w_off, nw);
    if (has_db) prefill_nan(bg, b_off, out);
    float *ares = is_res ? prefill_known(bdres, PAD, ny, &rng) : NULL;
    TU_OK(clvit_linear_backward(ctx, tag, epi,
                                &(clvit_linear_grads){.dx = CLVIT_T(bdx, PAD),
                                                      .beta_dx = 0.0f,
                                                      .dw = CLVIT_T(bg, w_off),
                                                      .db = CLVIT_T(bg, b_off),
                                                      .beta_w = 0.0f,
                                                      .dres = CLVIT_T(bdres, PAD),
                                                      .dpre = CLVIT_T(bdpre, PAD)},
                                CLVIT_T(bdy, PAD),
                                epi == CLVIT_EPI_TANH ? CLVIT_T(by, PAD) : CLVIT_T(bpre, PAD),
                                CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), rows, in, out));
    float *gdx = dev_download(bdx, PAD, nx), *gg = dev_download(bg, 0, np);
    fmt(what, sizeof what, tag, "dx");
    ok &= check_f(what, gdx, dx, nx, DEV_ATOL, DEV_RTOL);
    fmt(what, sizeof what, tag, "dW");
    ok &= check_f(what, gg + w_off, dW, nw, DEV_ATOL, DEV_RTOL);
    if (has_db) {
        fmt(what, sizeof what, tag, "db");
        ok &= check_f(what, gg + b_off, db, out, DEV_ATOL, DEV_RTOL);
    } else { /* no bias in the forward: db is never written, whatever b_off says */
        fmt(what, sizeof what, tag, "db untouched");
        ok &= check_sentinel(what, bg, b_off, out);
    }
    ok &= check_sentinel("linear g gaps", bg, 0, w_off);
    ok &= check_sentinel("linear g gaps", bg, w_off + nw, b_off - w_off - nw);
    ok &= check_sentinel("linear g gaps", bg, b_off + out, np - b_off - out);
    if (is_res) { /* dres += dy whatever the betas */
        double *want = plus(ares, dres, ny);
        fmt(what, sizeof what, tag, "dres (+= dy)");
        ok &= check_dev(what, bdres, PAD, want, ny, 0.0, 6e-8);
        free(want);
    } else {
        fmt(what, sizeof what, tag, "dres untouched");
        ok &= check_sentinel(what, bdres, 0, PAD + ny);
    }

    /* 3. accumulate */
    float *adx = prefill_known(bdx, PAD, nx, &rng), *adW = prefill_known(bg, w_off, nw, &rng);
    float *adb = has_db ? prefill_known(bg, b_off, out, &rng) : NULL;
    TU_OK(clvit_linear_backward(ctx, tag, epi,
                                &(clvit_linear_grads){.dx = CLVIT_T(bdx, PAD),
                                                      .beta_dx = 1.0f,
                                                      .dw = CLVIT_T(bg, w_off),
                                                      .db = CLVIT_T(bg, b_off),
                                                      .beta_w = 1.0f,
                                                      .dres = CLVIT_T(NULL, 0),
                                                      .dpre = CLVIT_T(bdpre, PAD)},
                                CLVIT_T(bdy, PAD),
                                epi == CLVIT_EPI_TANH ? CLVIT_T(by, PAD) : CLVIT_T(bpre, PAD),
                                CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), rows, in, out));
    double *wdx = plus(adx, dx, nx), *wdW = plus(adW, dW, nw);
    fmt(what, sizeof what, tag, "dx beta 1");
    ok &= check_dev(what, bdx, PAD, wdx, nx, DEV_ATOL, DEV_RTOL);
    fmt(what, sizeof what, tag, "dW beta 1");
    ok &= check_dev(what, bg, w_off, wdW, nw, DEV_ATOL, DEV_RTOL);
    double *wdb = NULL;
    if (has_db) {
        wdb = plus(adb, db, out);
        fmt(what, sizeof what, tag, "db beta 1");
        ok &= check_dev(what, bg, b_off, wdb, out, DEV_ATOL, DEV_RTOL);
    }

    /* no input gradient and no bias gradient: dW overwritten, db and dx left alone */
    TU_OK(clvit_linear_backward(ctx, tag, epi,
                                &(clvit_linear_grads){.dx = CLVIT_T(NULL, 0),
                                                      .beta_dx = 0.0f,
                                                      .dw = CLVIT_T(bg, w_off),
                                                      .db = CLVIT_T(NULL, 0),
                                                      .beta_w = 0.0f,
                                                      .dres = CLVIT_T(NULL, 0),
                                                      .dpre = CLVIT_T(bdpre, PAD)},
                                CLVIT_T(bdy, PAD),
                                epi == CLVIT_EPI_TANH ? CLVIT_T(by, PAD) : CLVIT_T(bpre, PAD),
                                CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), rows, in, out));
    fmt(what, sizeof what, tag, "dW (dx NULL, no db)");
    ok &= check_dev(what, bg, w_off, dW, nw, DEV_ATOL, DEV_RTOL);
    if (has_db) {
        fmt(what, sizeof what, tag, "db kept (b_off SIZE_MAX)");
        ok &= check_dev(what, bg, b_off, wdb, out, DEV_ATOL, DEV_RTOL);
    }
    fmt(what, sizeof what, tag, "dx kept (dx NULL)");
    ok &= check_dev(what, bdx, PAD, wdx, nx, DEV_ATOL, DEV_RTOL);

    /* device finite differences */
    lin_dev ldv = {epi, by, bpre, bx, bp, bres, w_off, b_off, rows, in, out, Rd, ref_allocf(ny)};
    fmt(what, sizeof what, tag, "dx vs device fd");
    ok &= fd_check_device(what, lin_dev_loss, &ldv, bx, PAD, nx, gdx, 8, FD_H, FD_ATOL, FD_RTOL);
    fmt(what, sizeof what, tag, "dW vs device fd");
    ok &= fd_check_device(what, lin_dev_loss, &ldv, bp, w_off, nw, gg + w_off, 8, FD_H, FD_ATOL,
                          FD_RTOL);
    if (has_db) {
        fmt(what, sizeof what, tag, "db vs device fd");
        ok &= fd_check_device(what, lin_dev_loss, &ldv, bp, b_off, out, gg + b_off, 5, FD_H,
                              FD_ATOL, FD_RTOL);
    }
    if (is_res) {
        float *gdres = ref_allocf(ny); /* dL/dres = dy */
        for (size_t i = 0; i < ny; i++)
            gdres[i] = dy[i];
        fmt(what, sizeof what, tag, "dres vs device fd");
        ok &= fd_check_device(what, lin_dev_loss, &ldv, bres, PAD, ny, gdres, 5, FD_H, FD_ATOL,
                              FD_RTOL);
        free(gdres);
    }

    free(x);
    free(res);
    free(dy);
    free(prm);
    free(xd);
    free(pd);
    free(rd);
    free(Rd);
    free(dx);
    free(dW);
    free(db);
    free(dres);
    free(lr.y);
    free(ares);
    free(gdx);
    free(gg);
    free(adx);
    free(adW);
    free(adb);
    free(wdx);
    free(wdW);
    free(wdb);
    free(ldv.tmp);
    clReleaseMemObject(bx);
    clReleaseMemObject(bp);
    clReleaseMemObject(bres);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bpre);
    clReleaseMemObject(bdx);
    clReleaseMemObject(bdpre);
    clReleaseMemObject(bg);
    clReleaseMemObject(bdres);
    return ok;
}

static void test_linear_backward(void **state) {
    (void)state;
    int ok = linear_backward_case(CLVIT_EPI_NONE, "linear none");
    ok &= linear_backward_case(CLVIT_EPI_BIAS, "linear bias");
    ok &= linear_backward_case(CLVIT_EPI_RESIDUAL, "linear residual");
    ok &= linear_backward_case(CLVIT_EPI_GELU, "linear gelu");
    ok &= linear_backward_case(CLVIT_EPI_TANH, "linear tanh");
    assert_true(ok);
}

/* GELU and tanh backward write dpre in place over dy when the caller passes the same tensor. */
static void test_linear_backward_dpre_in_place(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int rows = 37, in = 45, out = 29;
    const size_t nx = (size_t)rows * in, ny = (size_t)rows * out, nw = (size_t)out * in;
    uint64_t rng = 351;
    float *x = ref_uniform(nx, &rng, -1.0f, 1.0f), *dy = ref_uniform(ny, &rng, -1.0f, 1.0f);
    const size_t w_off = 1, b_off = w_off + nw, np = b_off + out;
    float *prm = ref_uniform(np, &rng, -0.5f, 0.5f);
    double *xd = ref_widen(x, nx), *pd = ref_widen(prm, np), *Rd = ref_widen(dy, ny);
    double *dx = ref_alloc(nx), *dW = ref_alloc(nw), *db = ref_alloc(out);
    cl_mem bx = dev_upload(x, nx, PAD), bp = dev_upload(prm, np, 0), by = dev_buffer(PAD + ny);
    cl_mem bpre = dev_buffer(PAD + ny), bdx = dev_buffer(PAD + nx), bg = dev_buffer(np);
    int ok = 1;
    for (clvit_epilogue epi = CLVIT_EPI_GELU; epi <= CLVIT_EPI_TANH; epi++) {
        ref_linear_bwd(epi, dx, dW, db, NULL, Rd, xd, pd + w_off, pd + b_off, rows, in, out);
        cl_mem bdy = dev_upload(dy, ny, PAD);
        TU_OK(clvit_linear_forward(ctx, "inplace", epi, CLVIT_T(by, PAD), CLVIT_T(bpre, PAD),
                                   CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), CLVIT_T(bp, b_off), rows,
                                   in, out));
        TU_OK(clvit_linear_backward(ctx, "inplace", epi,
                                    &(clvit_linear_grads){.dx = CLVIT_T(bdx, PAD),
                                                          .beta_dx = 0.0f,
                                                          .dw = CLVIT_T(bg, w_off),
                                                          .db = CLVIT_T(bg, b_off),
                                                          .beta_w = 0.0f,
                                                          .dres = CLVIT_T(NULL, 0),
                                                          .dpre = CLVIT_T(bdy, PAD)},
                                    CLVIT_T(bdy, PAD),
                                    epi == CLVIT_EPI_TANH ? CLVIT_T(by, PAD) : CLVIT_T(bpre, PAD),
                                    CLVIT_T(bx, PAD), CLVIT_T(bp, w_off), rows, in, out));
        const char *tag = epi == CLVIT_EPI_GELU ? "in place gelu" : "in place tanh";
        char what[64];
        fmt(what, sizeof what, tag, "dx");
        ok &= check_dev(what, bdx, PAD, dx, nx, DEV_ATOL, DEV_RTOL);
        fmt(what, sizeof what, tag, "dW");
        ok &= check_dev(what, bg, w_off, dW, nw, DEV_ATOL, DEV_RTOL);
        fmt(what, sizeof what, tag, "db");
        ok &= check_dev(what, bg, b_off, db, out, DEV_ATOL, DEV_RTOL);
        clReleaseMemObject(bdy);
    }
    assert_true(ok);
    free(x);
    free(dy);
    free(prm);
    free(xd);
    free(pd);
    free(Rd);
    free(dx);
    free(dW);
    free(db);
    clReleaseMemObject(bx);
    clReleaseMemObject(bp);
    clReleaseMemObject(by);
    clReleaseMemObject(bpre);
    clReleaseMemObject(bdx);
    clReleaseMemObject(bg);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    double *qkv, *bias, *R, *out;
    const double *mask;
    int has_bias;
    double scale;
    int B, N, H, hd;
} att_ref;

static double att_ref_loss(void *s) {
    att_ref *t = s;
    ref_attention_fwd(t->out, NULL, t->qkv, t->bias, t->has_bias, t->mask, t->scale, t->B, t->N,
                      t->H, t->hd);
    return dot_dd(t->out, t->R, (size_t)t->B * t->N * t->H * t->hd);
}

typedef struct {
    cl_mem out, qkv, p;
    size_t b_off;
    int has_bias;
    float scale;
    int B, N, H, hd;
    const clvit_drop *drop;
    const double *R;
    float *tmp;
} att_dev;

/* The inference path (no att), with the same dropout mask as the training forward. */
static double att_dev_loss(void *s) {
    att_dev *t = s;
    const size_t n = (size_t)t->B * t->N * t->H * t->hd;
    TU_OK(clvit_attention_forward(tu_ctx(), CLVIT_T(t->out, PAD), CLVIT_T(NULL, 0),
                                  CLVIT_T(t->qkv, PAD), CLVIT_T(t->p, t->b_off), t->has_bias,
                                  t->scale, t->B, t->N, t->H, t->hd, t->drop));
    TU_OK(clvit_read(tu_ctx(), t->out, PAD, t->tmp, n));
    return dot_fd(t->tmp, t->R, n);
}

/* ref_fd: also check the reference backward against double finite differences over every
 * input (affordable on the small cases only). */
static int attention_backward_case(int B, int N, int H, int hd, int has_bias, float p_drop,
                                   int ref_fd) {
    clvit_ctx *ctx = tu_ctx();
    const int D = H * hd;
    const double scale = 1.0 / sqrt((double)hd);
    const size_t nqkv = (size_t)B * N * 3 * D, nout = (size_t)B * N * D,
                 natt = (size_t)B * H * N * N, nb = 3 * (size_t)D;
    char tag[64], what[128];
    snprintf(tag, sizeof tag, "attention B%d N%d H%d hd%d%s p%.2g", B, N, H, hd,
             has_bias ? " bias" : "", (double)p_drop);
    uint64_t rng = 401 + (uint64_t)(N * 13 + hd + has_bias);
    float *qkv = ref_uniform(nqkv, &rng, -1.5f, 1.5f), *dout = ref_uniform(nout, &rng, -1.0f, 1.0f);
    const size_t b_off = 6, np = b_off + nb + 2;
    float *prm = ref_uniform(np, &rng, -0.5f, 0.5f);
    const clvit_drop drop = {p_drop, 0.0f, 0xd00du + (uint32_t)N, 16u + 4u * 2u + 3u, 0u};
    const clvit_drop *dp = p_drop > 0.0f ? &drop : NULL;
    double *mask = dev_attention_mask(&drop, natt);

    /* 1. reference */
    double *qd = ref_widen(qkv, nqkv), *pd = ref_widen(prm, np), *Rd = ref_widen(dout, nout);
    double *dqkv = ref_alloc(nqkv), *dbias = ref_alloc(nb);
    ref_attention_bwd(dqkv, dbias, Rd, qd, pd + b_off, has_bias, mask, scale, B, N, H, hd);
    att_ref ar = {qd, pd + b_off, Rd, ref_alloc(nout), mask, has_bias, scale, B, N, H, hd};
    int ok = 1;
    if (ref_fd) {
        fmt(what, sizeof what, tag, "ref dqkv vs fd");
        ok &= fd_check_ref(what, att_ref_loss, &ar, qd, nqkv, dqkv, REF_H, REF_ATOL, REF_RTOL);
        if (has_bias) {
            fmt(what, sizeof what, tag, "ref dbias vs fd");
            ok &= fd_check_ref(what, att_ref_loss, &ar, pd + b_off, nb, dbias, REF_H, REF_ATOL,
                               REF_RTOL);
        }
    }

    /* 2. device, beta 0; every scratch and output starts as NaN, dqkv with a sentinel tail */
    cl_mem bq = dev_upload(qkv, nqkv, PAD), bp = dev_upload(prm, np, 0),
           bdo = dev_upload(dout, nout, PAD);
    cl_mem bo = dev_buffer(PAD + nout), ba = dev_buffer(PAD + natt);
    cl_mem bdq = sentinel_buffer(PAD + nqkv + 2), bda = dev_buffer(PAD + natt),
           bg = sentinel_buffer(np);
    prefill_nan(bo, 0, PAD + nout);
    prefill_nan(ba, 0, PAD + natt);
    TU_OK(clvit_attention_forward(ctx, CLVIT_T(bo, PAD), CLVIT_T(ba, PAD), CLVIT_T(bq, PAD),
                                  CLVIT_T(bp, b_off), has_bias, (float)scale, B, N, H, hd, dp));
    prefill_nan(bdq, PAD, nqkv);
    prefill_nan(bda, PAD, natt);
    if (has_bias) prefill_nan(bg, b_off, nb);
    TU_OK(clvit_attention_backward(ctx, CLVIT_T(bdq, PAD), CLVIT_T(bg, b_off), 0.0f,
                                   CLVIT_T(bda, PAD), CLVIT_T(ba, PAD), CLVIT_T(bdo, PAD),
                                   CLVIT_T(bq, PAD), CLVIT_T(bp, b_off), has_bias, (float)scale, B,
                                   N, H, hd, dp));
    float *gdq = dev_download(bdq, PAD, nqkv), *gg = dev_download(bg, 0, np);
    fmt(what, sizeof what, tag, "dqkv");
    ok &= check_f(what, gdq, dqkv, nqkv, DEV_ATOL, DEV_RTOL);
    ok &= check_sentinel("attention dqkv head", bdq, 0, PAD);
    ok &= check_sentinel("attention dqkv tail", bdq, PAD + nqkv, 2);
    if (has_bias) {
        fmt(what, sizeof what, tag, "dbias");
        ok &= check_f(what, gg + b_off, dbias, nb, DEV_ATOL, DEV_RTOL);
        ok &= check_sentinel("attention g gaps", bg, 0, b_off);
        ok &= check_sentinel("attention g gaps", bg, b_off + nb, np - b_off - nb);
    } else {
        ok &= check_sentinel("attention g untouched", bg, 0, np);
    }

    /* 3. accumulate: the bias gradient adds, dqkv is always overwritten */
    float *ab = has_bias ? prefill_known(bg, b_off, nb, &rng) : NULL;
    float *aq = prefill_known(bdq, PAD, nqkv, &rng);
    TU_OK(clvit_attention_backward(ctx, CLVIT_T(bdq, PAD), CLVIT_T(bg, b_off), 1.0f,
                                   CLVIT_T(bda, PAD), CLVIT_T(ba, PAD), CLVIT_T(bdo, PAD),
                                   CLVIT_T(bq, PAD), CLVIT_T(bp, b_off), has_bias, (float)scale, B,
                                   N, H, hd, dp));
    fmt(what, sizeof what, tag, "dqkv (overwritten)");
    ok &= check_dev(what, bdq, PAD, dqkv, nqkv, DEV_ATOL, DEV_RTOL);
    double *wb = NULL;
    if (has_bias) {
        wb = plus(ab, dbias, nb);
        fmt(what, sizeof what, tag, "dbias beta 1");
        ok &= check_dev(what, bg, b_off, wb, nb, DEV_ATOL, DEV_RTOL);
    }

    /* one row per work-item (the GPU form) and three (rows past the end on every shape) */
    for (int rows = 1; rows <= 3; rows += 2) {
        char env[8];
        snprintf(env, sizeof env, "%d", rows);
        setenv("CLVIT_ATTENTION_ROWS", env, 1);
        prefill_nan(bdq, PAD, nqkv);
        prefill_nan(bda, PAD, natt);
        TU_OK(clvit_attention_backward(ctx, CLVIT_T(bdq, PAD), CLVIT_T(NULL, 0), 0.0f,
                                       CLVIT_T(bda, PAD), CLVIT_T(ba, PAD), CLVIT_T(bdo, PAD),
                                       CLVIT_T(bq, PAD), CLVIT_T(bp, b_off), has_bias, (float)scale,
                                       B, N, H, hd, dp));
        unsetenv("CLVIT_ATTENTION_ROWS");
        snprintf(what, sizeof what, "%s dqkv, %d row%s per work-item", tag, rows,
                 rows > 1 ? "s" : "");
        ok &= check_dev(what, bdq, PAD, dqkv, nqkv, DEV_ATOL, DEV_RTOL);
        ok &= check_sentinel("attention dqkv tail", bdq, PAD + nqkv, 2);
    }
    if (has_bias) { /* qkv_db_off SIZE_MAX: no bias gradient, g keeps the beta 1 result */
        fmt(what, sizeof what, tag, "dbias kept (SIZE_MAX)");
        ok &= check_dev(what, bg, b_off, wb, nb, DEV_ATOL, DEV_RTOL);
    }

    /* device finite differences, through the same dropout mask */
    att_dev adv = {bo, bq, bp, b_off, has_bias, (float)scale,    B,
                   N,  H,  hd, dp,    Rd,       ref_allocf(nout)};
    fmt(what, sizeof what, tag, "dqkv vs device fd");
    ok &= fd_check_device(what, att_dev_loss, &adv, bq, PAD, nqkv, gdq, 12, FD_H, FD_ATOL, FD_RTOL);
    if (has_bias) {
        fmt(what, sizeof what, tag, "dbias vs device fd");
        ok &= fd_check_device(what, att_dev_loss, &adv, bp, b_off, nb, gg + b_off, 6, FD_H, FD_ATOL,
                              FD_RTOL);
    }

    free(qkv);
    free(dout);
    free(prm);
    free(mask);
    free(qd);
    free(pd);
    free(Rd);
    free(dqkv);
    free(dbias);
    free(ar.out);
    free(gdq);
    free(gg);
    free(ab);
    free(aq);
    free(wb);
    free(adv.tmp);
    cl_mem bufs[] = {bq, bp, bdo, bo, ba, bdq, bda, bg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clReleaseMemObject(bufs[i]);
    return ok;
}

static void test_attention_backward(void **state) {
    (void)state;
    /* dropout on in most cases; the reference checked against finite differences on the
     * small ones */
    int ok = attention_backward_case(3, 5, 2, 8, 1, 0.3f, 1);
    ok &= attention_backward_case(3, 5, 2, 8, 0, 0.0f, 1);
    ok &= attention_backward_case(2, 17, 3, 16, 1, 0.2f, 1);
    ok &= attention_backward_case(2, 19, 3, 7, 0, 0.25f, 1);
    ok &= attention_backward_case(2, 51, 2, 16, 1, 0.1f, 0);
    ok &= attention_backward_case(2, 33, 2, 64, 1, 0.1f, 0);
    ok &= attention_backward_case(1, 13, 2, 80, 0, 0.0f, 0);
    assert_true(ok);
}

/* ---------------------------------------------------------------- patch embedding */

typedef struct {
    double *cols, *W, *b, *cls, *dist, *pos, *R, *x;
    int B, P, K, T, D;
} pe_ref;

static double pe_ref_loss(void *s) {
    pe_ref *t = s;
    ref_patch_embed_fwd(t->x, NULL, t->cols, t->W, t->b, t->cls, t->dist, t->pos, t->B, t->P, t->K,
                        t->T, t->D);
    return dot_dd(t->x, t->R, (size_t)t->B * (t->T + t->P) * t->D);
}

typedef struct {
    cl_mem x, pe, cols, img, p, pos;
    size_t w_off, b_off, cls_off, dist_off, pos_off;
    int B, C, S, patch, T, D, N;
    const double *R;
    float *tmp;
} pe_dev;

static double pe_dev_loss(void *s) {
    pe_dev *t = s;
    const size_t n = (size_t)t->B * t->N * t->D;
    TU_OK(clvit_patch_embed_forward(
        tu_ctx(), CLVIT_T(t->x, PAD), CLVIT_T(t->pe, PAD), CLVIT_T(t->cols, PAD),
        CLVIT_T(t->img, PAD), CLVIT_T(t->p, t->w_off), CLVIT_T(t->p, t->b_off),
        CLVIT_T(t->p, t->cls_off), CLVIT_T(t->p, t->dist_off), CLVIT_T(t->pos, t->pos_off), t->B,
        t->C, t->S, t->patch, t->T, t->D));
    TU_OK(clvit_read(tu_ctx(), t->x, PAD, t->tmp, n));
    return dot_fd(t->tmp, t->R, n);
}

/* T = 2 keeps the position embedding in the parameters (learned, dpos_off given); T = 1 reads
 * it from a separate buffer (fixed, dpos_off = SIZE_MAX) and must leave g's pos rows and the
 * distillation token alone. */
static int patch_embed_backward_case(int T) {
    clvit_ctx *ctx = tu_ctx();
    const int B = 2, C = 3, S = 13, p = 4, D = 45, g = S / p, P = g * g, K = C * p * p;
    const int N = T + P;
    const size_t nimg = (size_t)B * C * S * S, ncols = (size_t)B * P * K, npe = (size_t)B * P * D,
                 nx = (size_t)B * N * D, nw = (size_t)D * K, npos = (size_t)N * D;
    const int learned = T == 2;
    char tag[32], what[96];
    snprintf(tag, sizeof tag, "patch_embed T=%d", T);
    uint64_t rng = 501 + (uint64_t)T;
    float *img = ref_uniform(nimg, &rng, -1.0f, 1.0f), *R = ref_uniform(nx, &rng, -1.0f, 1.0f);
    const size_t w_off = 3, b_off = w_off + nw + 1, cls_off = b_off + D + 2,
                 dist_off = cls_off + D + 1, pos_off = dist_off + D + 1, np = pos_off + npos + 2;
    float *prm = ref_uniform(np, &rng, -0.2f, 0.2f);

    /* 1. reference */
    double *imgd = ref_widen(img, nimg), *pd = ref_widen(prm, np), *Rd = ref_widen(R, nx);
    double *cols = ref_alloc(ncols);
    ref_im2col(cols, imgd, B, C, S, p);
    double *dW = ref_alloc(nw), *db = ref_alloc(D), *dcls = ref_alloc(D), *ddist = ref_alloc(D),
           *dpos = ref_alloc(npos);
    ref_patch_embed_bwd(dW, db, dcls, ddist, dpos, Rd, cols, B, P, K, T, D);
    pe_ref pr = {cols,
                 pd + w_off,
                 pd + b_off,
                 pd + cls_off,
                 pd + dist_off,
                 pd + pos_off,
                 Rd,
                 ref_alloc(nx),
                 B,
                 P,
                 K,
                 T,
                 D};
    fmt(what, sizeof what, tag, "ref dW vs fd");
    int ok = fd_check_ref(what, pe_ref_loss, &pr, pd + w_off, nw, dW, REF_H, REF_ATOL, REF_RTOL);
    fmt(what, sizeof what, tag, "ref db vs fd");
    ok &= fd_check_ref(what, pe_ref_loss, &pr, pd + b_off, D, db, REF_H, REF_ATOL, REF_RTOL);
    fmt(what, sizeof what, tag, "ref dcls vs fd");
    ok &= fd_check_ref(what, pe_ref_loss, &pr, pd + cls_off, D, dcls, REF_H, REF_ATOL, REF_RTOL);
    if (T == 2) {
        fmt(what, sizeof what, tag, "ref ddist vs fd");
        ok &= fd_check_ref(what, pe_ref_loss, &pr, pd + dist_off, D, ddist, REF_H, REF_ATOL,
                           REF_RTOL);
    }
    fmt(what, sizeof what, tag, "ref dpos vs fd");
    ok &= fd_check_ref(what, pe_ref_loss, &pr, pd + pos_off, npos, dpos, REF_H, REF_ATOL, REF_RTOL);

    /* 2. device, beta 0 */
    cl_mem bi = dev_upload(img, nimg, PAD), bp = dev_upload(prm, np, 0),
           bR = dev_upload(R, nx, PAD);
    cl_mem bpos = learned ? bp : dev_upload(prm + pos_off, npos, PAD);
    const size_t pos_at = learned ? pos_off : PAD;
    cl_mem bx = dev_buffer(PAD + nx), bpe = dev_buffer(PAD + npe), bc = dev_buffer(PAD + ncols);
    cl_mem bdpe = dev_buffer(PAD + npe), bg = sentinel_buffer(np);
    TU_OK(clvit_patch_embed_forward(ctx, CLVIT_T(bx, PAD), CLVIT_T(bpe, PAD), CLVIT_T(bc, PAD),
                                    CLVIT_T(bi, PAD), CLVIT_T(bp, w_off), CLVIT_T(bp, b_off),
                                    CLVIT_T(bp, cls_off), CLVIT_T(bp, dist_off),
                                    CLVIT_T(bpos, pos_at), B, C, S, p, T, D));
    prefill_nan(bdpe, PAD, npe);
    prefill_nan(bg, w_off, nw);
    prefill_nan(bg, b_off, D);
    prefill_nan(bg, cls_off, D);
    if (T == 2) prefill_nan(bg, dist_off, D);
    if (learned) prefill_nan(bg, pos_off, npos);
    const size_t dpos_arg = learned ? pos_off : SIZE_MAX;
    TU_OK(clvit_patch_embed_backward(
        ctx, CLVIT_T(bg, w_off), CLVIT_T(bg, b_off), CLVIT_T(bg, cls_off), CLVIT_T(bg, dist_off),
        (dpos_arg == SIZE_MAX ? CLVIT_T(NULL, 0) : CLVIT_T(bg, dpos_arg)), 0.0f, CLVIT_T(bdpe, PAD),
        CLVIT_T(bR, PAD), CLVIT_T(bc, PAD), B, C, S, p, T, D));
    float *gg = dev_download(bg, 0, np);
    fmt(what, sizeof what, tag, "dW");
    ok &= check_f(what, gg + w_off, dW, nw, DEV_ATOL, DEV_RTOL);
    fmt(what, sizeof what, tag, "db");
    ok &= check_f(what, gg + b_off, db, D, DEV_ATOL, DEV_RTOL);
    fmt(what, sizeof what, tag, "dcls");
    ok &= check_f(what, gg + cls_off, dcls, D, DEV_ATOL, DEV_RTOL);
    if (T == 2) {
        fmt(what, sizeof what, tag, "ddist");
        ok &= check_f(what, gg + dist_off, ddist, D, DEV_ATOL, DEV_RTOL);
    } else {
        fmt(what, sizeof what, tag, "ddist untouched");
        ok &= check_sentinel(what, bg, dist_off, D);
    }
    if (learned) {
        fmt(what, sizeof what, tag, "dpos");
        ok &= check_f(what, gg + pos_off, dpos, npos, DEV_ATOL, DEV_RTOL);
    } else {
        fmt(what, sizeof what, tag, "dpos untouched");
        ok &= check_sentinel(what, bg, pos_off, npos);
    }
    const size_t gaps[][2] = {{0, w_off},       {w_off + nw, 1},   {b_off + D, 2},
                              {cls_off + D, 1}, {dist_off + D, 1}, {pos_off + npos, 2}};
    for (size_t i = 0; i < sizeof gaps / sizeof gaps[0]; i++)
        ok &= check_sentinel("patch_embed g gaps", bg, gaps[i][0], gaps[i][1]);

    /* 3. accumulate */
    float *aW = prefill_known(bg, w_off, nw, &rng), *ab = prefill_known(bg, b_off, D, &rng),
          *acls = prefill_known(bg, cls_off, D, &rng);
    float *adist = T == 2 ? prefill_known(bg, dist_off, D, &rng) : NULL;
    float *apos = learned ? prefill_known(bg, pos_off, npos, &rng) : NULL;
    TU_OK(clvit_patch_embed_backward(
        ctx, CLVIT_T(bg, w_off), CLVIT_T(bg, b_off), CLVIT_T(bg, cls_off), CLVIT_T(bg, dist_off),
        (dpos_arg == SIZE_MAX ? CLVIT_T(NULL, 0) : CLVIT_T(bg, dpos_arg)), 1.0f, CLVIT_T(bdpe, PAD),
        CLVIT_T(bR, PAD), CLVIT_T(bc, PAD), B, C, S, p, T, D));
    double *wW = plus(aW, dW, nw), *wb = plus(ab, db, D), *wcls = plus(acls, dcls, D);
    double *wdist = adist ? plus(adist, ddist, D) : NULL,
           *wpos = apos ? plus(apos, dpos, npos) : NULL;
    fmt(what, sizeof what, tag, "dW beta 1");
    ok &= check_dev(what, bg, w_off, wW, nw, DEV_ATOL, DEV_RTOL);
    fmt(what, sizeof what, tag, "db beta 1");
    ok &= check_dev(what, bg, b_off, wb, D, DEV_ATOL, DEV_RTOL);
    fmt(what, sizeof what, tag, "dcls beta 1");
    ok &= check_dev(what, bg, cls_off, wcls, D, DEV_ATOL, DEV_RTOL);
    if (wdist) {
        fmt(what, sizeof what, tag, "ddist beta 1");
        ok &= check_dev(what, bg, dist_off, wdist, D, DEV_ATOL, DEV_RTOL);
    }
    if (wpos) {
        fmt(what, sizeof what, tag, "dpos beta 1");
        ok &= check_dev(what, bg, pos_off, wpos, npos, DEV_ATOL, DEV_RTOL);
    }

    /* device finite differences */
    pe_dev pv = {bx,     bpe, bc, bi, bp, bpos, w_off, b_off, cls_off, dist_off,
                 pos_at, B,   C,  S,  p,  T,    D,     N,     Rd,      ref_allocf(nx)};
    fmt(what, sizeof what, tag, "dW vs device fd");
    ok &= fd_check_device(what, pe_dev_loss, &pv, bp, w_off, nw, gg + w_off, 8, FD_H, FD_ATOL,
                          FD_RTOL);
    fmt(what, sizeof what, tag, "db vs device fd");
    ok &= fd_check_device(what, pe_dev_loss, &pv, bp, b_off, D, gg + b_off, 5, FD_H, FD_ATOL,
                          FD_RTOL);
    fmt(what, sizeof what, tag, "dcls vs device fd");
    ok &= fd_check_device(what, pe_dev_loss, &pv, bp, cls_off, D, gg + cls_off, 5, FD_H, FD_ATOL,
                          FD_RTOL);
    if (T == 2) {
        fmt(what, sizeof what, tag, "ddist vs device fd");
        ok &= fd_check_device(what, pe_dev_loss, &pv, bp, dist_off, D, gg + dist_off, 5, FD_H,
                              FD_ATOL, FD_RTOL);
    }
    if (learned) {
        fmt(what, sizeof what, tag, "dpos vs device fd");
        ok &= fd_check_device(what, pe_dev_loss, &pv, bp, pos_off, npos, gg + pos_off, 8, FD_H,
                              FD_ATOL, FD_RTOL);
    }

    free(img);
    free(R);
    free(prm);
    free(imgd);
    free(pd);
    free(Rd);
    free(cols);
    free(dW);
    free(db);
    free(dcls);
    free(ddist);
    free(dpos);
    free(pr.x);
    free(gg);
    free(aW);
    free(ab);
    free(acls);
    free(adist);
    free(apos);
    free(wW);
    free(wb);
    free(wcls);
    free(wdist);
    free(wpos);
    free(pv.tmp);
    cl_mem bufs[] = {bi, bp, bR, bx, bpe, bc, bdpe, bg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clReleaseMemObject(bufs[i]);
    if (!learned) clReleaseMemObject(bpos);
    return ok;
}

static void test_patch_embed_backward(void **state) {
    (void)state;
    int ok = patch_embed_backward_case(1);
    ok &= patch_embed_backward_case(2);
    assert_true(ok);
}

/* ---------------------------------------------------------------- pooling */

typedef struct {
    double *x, *R, *pooled;
    int B, N, D, T, tok, avg;
} pool_ref;

static double pool_ref_loss(void *s) {
    pool_ref *t = s;
    ref_pool_fwd(t->pooled, t->x, t->B, t->N, t->D, t->T, t->tok, t->avg);
    return dot_dd(t->pooled, t->R, (size_t)t->B * t->D);
}

typedef struct {
    cl_mem pooled, x;
    int B, N, D, T, tok, avg;
    const double *R;
    float *tmp;
} pool_dev;

static double pool_dev_loss(void *s) {
    pool_dev *t = s;
    const size_t n = (size_t)t->B * t->D;
    TU_OK(clvit_pool_forward(tu_ctx(), CLVIT_T(t->pooled, PAD), CLVIT_T(t->x, PAD), t->B, t->N,
                             t->D, t->T, t->tok, t->avg));
    TU_OK(clvit_read(tu_ctx(), t->pooled, PAD, t->tmp, n));
    return dot_fd(t->tmp, t->R, n);
}

static void test_pool_backward(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int B = 2, N = 19, D = 45, T = 2;
    const size_t nx = (size_t)B * N * D, np = (size_t)B * D;
    uint64_t rng = 601;
    float *x = ref_uniform(nx, &rng, -2.0f, 2.0f), *dp = ref_uniform(np, &rng, -1.0f, 1.0f);
    double *xd = ref_widen(x, nx), *Rd = ref_widen(dp, np), *dx = ref_alloc(nx);
    cl_mem bx = dev_upload(x, nx, PAD), bdp = dev_upload(dp, np, PAD), bpool = dev_buffer(PAD + np),
           bdx = sentinel_buffer(PAD + nx + 2);
    const struct {
        int tok, avg;
        const char *tag;
        double tol; /* exact scatter, or one division for the mean */
    } cases[] = {
        {0, 0, "pool token 0", 0.0}, {1, 0, "pool token 1", 0.0}, {0, 1, "pool avg", 1e-7}};
    int ok = 1;
    char what[96];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int tok = cases[c].tok, avg = cases[c].avg;
        const char *tag = cases[c].tag;
        ref_pool_bwd(dx, Rd, B, N, D, T, tok, avg);
        pool_ref prf = {xd, Rd, ref_alloc(np), B, N, D, T, tok, avg};
        fmt(what, sizeof what, tag, "ref dx vs fd");
        ok &= fd_check_ref(what, pool_ref_loss, &prf, xd, nx, dx, REF_H, REF_ATOL, REF_RTOL);
        free(prf.pooled);

        prefill_nan(bdx, PAD, nx);
        TU_OK(clvit_pool_backward(ctx, CLVIT_T(bdx, PAD), 0.0f, CLVIT_T(bdp, PAD), B, N, D, T, tok,
                                  avg));
        float *gdx = dev_download(bdx, PAD, nx);
        fmt(what, sizeof what, tag, "dx");
        ok &= check_f(what, gdx, dx, nx, cases[c].tol, cases[c].tol);
        ok &= check_sentinel("pool dx head", bdx, 0, PAD);
        ok &= check_sentinel("pool dx tail", bdx, PAD + nx, 2);

        float *a = prefill_known(bdx, PAD, nx, &rng);
        TU_OK(clvit_pool_backward(ctx, CLVIT_T(bdx, PAD), 1.0f, CLVIT_T(bdp, PAD), B, N, D, T, tok,
                                  avg));
        double *want = plus(a, dx, nx);
        fmt(what, sizeof what, tag, "dx beta 1");
        ok &= check_dev(what, bdx, PAD, want, nx, 1e-7, 1e-7);

        /* sample the tokens that were pooled (of image 1), elsewhere the gradient is 0 */
        pool_dev pdv = {bpool, bx, B, N, D, T, tok, avg, Rd, ref_allocf(np)};
        const size_t first = (size_t)N + (avg ? T : tok), count = avg ? (size_t)(N - T) : 1;
        fmt(what, sizeof what, tag, "dx vs device fd");
        ok &= fd_check_device(what, pool_dev_loss, &pdv, bx, PAD + first * D, count * D,
                              gdx + first * D, 8, FD_H, FD_ATOL, FD_RTOL);
        free(pdv.tmp);
        free(gdx);
        free(a);
        free(want);
    }
    assert_true(ok);
    free(x);
    free(dp);
    free(xd);
    free(Rd);
    free(dx);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdp);
    clReleaseMemObject(bpool);
    clReleaseMemObject(bdx);
}

/* ---------------------------------------------------------------- empty batch */

/* With no rows every sum is empty: beta 0 leaves zero gradients (NaN prefill gone), beta 1
 * leaves them as they were. */
static void test_empty_batch(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    const int in = 45, out = 29, D = 45, C = 3, S = 13, p = 4, K = C * p * p, T = 2;
    const size_t n = 4096;
    cl_mem g = dev_buffer(n), any = dev_buffer(n), prm = dev_buffer(n);
    TU_OK(clvit_fill(ctx, any, 0, 0.5f, n));
    TU_OK(clvit_fill(ctx, prm, 0, 0.5f, n));
    double *zeros = ref_alloc(n), *ones = ref_alloc(n);
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0;
    /* gradient floats each layer owns from offset 0: W and b; w and b; the qkv bias; W, b,
     * cls, dist and pos (N = T + 9 tokens) */
    const size_t used[] = {(size_t)out * in + out, (size_t)2 * D, (size_t)3 * D,
                           (size_t)D * K + (size_t)(3 + T + 9) * D};
    int ok = 1;
    for (int beta = 0; beta <= 1; beta++) {
        const double *want = beta ? ones : zeros;
        char what[64];
        for (int layer = 0; layer < 4; layer++) {
            TU_OK(clvit_fill(ctx, g, 0, beta ? 1.0f : NAN, n));
            switch (layer) {
            case 0:
                TU_OK(
                    clvit_linear_backward(ctx, "empty", CLVIT_EPI_GELU,
                                          &(clvit_linear_grads){.dx = CLVIT_T(any, 0),
                                                                .beta_dx = (float)beta,
                                                                .dw = CLVIT_T(g, 0),
                                                                .db = CLVIT_T(g, (size_t)out * in),
                                                                .beta_w = (float)beta,
                                                                .dres = CLVIT_T(NULL, 0),
                                                                .dpre = CLVIT_T(any, 0)},
                                          CLVIT_T(any, 0), CLVIT_T(any, 0), CLVIT_T(any, 0),
                                          CLVIT_T(prm, 0), 0, in, out));
                break;
            case 1:
                TU_OK(clvit_layernorm_backward(ctx, CLVIT_T(any, 0), (float)beta, CLVIT_T(g, 0),
                                               CLVIT_T(g, D), (float)beta, CLVIT_T(any, 0),
                                               CLVIT_T(any, 0), CLVIT_T(any, 0), CLVIT_T(any, 0),
                                               CLVIT_T(prm, 0), 0, D));
                break;
            case 2:
                TU_OK(clvit_attention_backward(ctx, CLVIT_T(any, 0), CLVIT_T(g, 0), (float)beta,
                                               CLVIT_T(any, 0), CLVIT_T(any, 0), CLVIT_T(any, 0),
                                               CLVIT_T(any, 0), CLVIT_T(prm, 0), 1, 0.5f, 0, 19, 3,
                                               15, NULL));
                break;
            default:
                TU_OK(clvit_patch_embed_backward(
                    ctx, CLVIT_T(g, 0), CLVIT_T(g, (size_t)D * K), CLVIT_T(g, (size_t)D * K + D),
                    CLVIT_T(g, (size_t)D * K + 2 * D), CLVIT_T(g, (size_t)D * K + 3 * D),
                    (float)beta, CLVIT_T(any, 0), CLVIT_T(any, 0), CLVIT_T(any, 0), 0, C, S, p, T,
                    D));
            }
            static const char *names[] = {"linear", "layernorm", "attention", "patch_embed"};
            snprintf(what, sizeof what, "%s B=0 beta %d", names[layer], beta);
            ok &= check_dev(what, g, 0, want, used[layer], 0.0, 0.0);
        }
    }
    assert_true(ok);
    free(zeros);
    free(ones);
    clReleaseMemObject(g);
    clReleaseMemObject(any);
    clReleaseMemObject(prm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_colsum),
        cmocka_unit_test(test_layernorm_backward),
        cmocka_unit_test(test_linear_backward),
        cmocka_unit_test(test_linear_backward_dpre_in_place),
        cmocka_unit_test(test_attention_backward),
        cmocka_unit_test(test_patch_embed_backward),
        cmocka_unit_test(test_pool_backward),
        cmocka_unit_test(test_empty_batch),
    };
    /* e.g. CLVIT_TEST_FILTER='test_attention*' to run one family under Oclgrind */
    if (getenv("CLVIT_TEST_FILTER")) cmocka_set_test_filter(getenv("CLVIT_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
