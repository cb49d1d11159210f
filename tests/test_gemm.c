/*
 * test_gemm.c - clvit's GEMM kernels (cl/gemm.cl) against a double-precision reference:
 * every candidate the plan may pick, every transpose case, beta 0 and 1, non-zero offsets,
 * odd sizes that are multiples of no tile, batched products, and every fused epilogue; the
 * residual product with its LayerNorm in one launch (gemm_ln), and what it refuses. Then the
 * plan: tuned once and written to disk, reused, rebuilt when corrupt, skipped by
 * CLVIT_GEMM_TUNE=0; and its LayerNorm-fusion lines.
 *
 * Tolerance: |got - ref| <= 1e-4 + 1e-4 |ref| (float accumulation over K <= 70 of products
 * of values in [-1, 1]: the rounding error is below 70 * 2^-24 * max|partial sum| ~ 1e-5).
 */
#include "gemm_plan.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATOL 1e-4
#define RTOL 1e-4

static double gelu_ref(double x) {
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

typedef struct gemm_case {
    int ta, tb, epi;
    size_t m, n, k, batch;
    float alpha, beta;
    int rowsum; /* also S = alpha * row sums of op(A) + beta * S (ta == 1, one batch) */
} gemm_case;

static double dgelu_ref(double x) {
    return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / 2.5066282746310002;
}

/* Runs one case with candidate `cand` (-1: through the plan) and checks C and aux. Unless
 * dense, leading dimensions are padded, so no row starts at a tile boundary. */
static int run_case_ex(clvit_ctx *ctx, const gemm_case *gc, int cand, int dense) {
    const size_t m = gc->m, n = gc->n, k = gc->k, nb = gc->batch ? gc->batch : 1;
    const size_t pad = dense ? 0 : 1;
    const size_t lda = (gc->ta ? m : k) + 3 * pad, ldb = (gc->tb ? k : n) + 2 * pad,
                 ldc = n + 5 * pad;
    const size_t ra = gc->ta ? k : m, rb = gc->tb ? n : k;
    const size_t sa = ra * lda + 7, sb = rb * ldb + 3, sc = m * ldc + 1;
    const size_t a_off = 11, b_off = 5, c_off = 13, bias_off = 3, aux_off = 9;
    const size_t na = a_off + nb * sa, nbf = b_off + nb * sb, nc = c_off + nb * sc,
                 naux = aux_off + nb * sc;
    float *a = malloc(na * sizeof *a), *b = malloc(nbf * sizeof *b), *c = malloc(nc * sizeof *c),
          *bias = malloc((bias_off + n) * sizeof *bias), *aux = malloc(naux * sizeof *aux),
          *got = malloc(nc * sizeof *got), *got_aux = malloc(naux * sizeof *got_aux),
          *rs = malloc((m + 4) * sizeof *rs), *got_rs = malloc((m + 4) * sizeof *got_rs);
    double *ref = malloc(nc * sizeof *ref), *ref_aux = malloc(naux * sizeof *ref_aux),
           *ref_rs = malloc((m + 4) * sizeof *ref_rs);
    uint64_t rng = 42 + m * 131 + n * 7 + k;
    tu_fill_uniform(a, na, &rng, -1.0f, 1.0f);
    tu_fill_uniform(b, nbf, &rng, -1.0f, 1.0f);
    tu_fill_uniform(c, nc, &rng, -1.0f, 1.0f);
    tu_fill_uniform(bias, bias_off + n, &rng, -1.0f, 1.0f);
    tu_fill_uniform(aux, naux, &rng, -1.0f, 1.0f);
    tu_fill_uniform(rs, m + 4, &rng, -1.0f, 1.0f);
    for (size_t i = 0; i < m + 4; i++)
        ref_rs[i] = rs[i];
    for (size_t i = 0; gc->rowsum && i < m; i++) { /* S at offset 4 */
        double t = 0.0;
        for (size_t q = 0; q < k; q++)
            t += a[a_off + q * lda + i];
        ref_rs[4 + i] = gc->alpha * t + gc->beta * rs[4 + i];
    }
    for (size_t i = 0; i < nc; i++)
        ref[i] = c[i];
    for (size_t i = 0; i < naux; i++)
        ref_aux[i] = aux[i];
    for (size_t z = 0; z < nb; z++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double s = 0.0;
                for (size_t q = 0; q < k; q++) {
                    double x =
                        gc->ta ? a[a_off + z * sa + q * lda + i] : a[a_off + z * sa + i * lda + q];
                    double y =
                        gc->tb ? b[b_off + z * sb + j * ldb + q] : b[b_off + z * sb + q * ldb + j];
                    s += x * y;
                }
                const size_t ci = c_off + z * sc + i * ldc + j, ai = aux_off + z * sc + i * ldc + j;
                double v = gc->alpha * s + (gc->beta != 0.0f ? gc->beta * ref[ci] : 0.0);
                if (gc->epi >= CLVIT_EPI_BIAS && gc->epi <= CLVIT_EPI_TANH) v += bias[bias_off + j];
                if (gc->epi == CLVIT_EPI_RESIDUAL) v += aux[ai];
                if (gc->epi == CLVIT_EPI_DGELU) v *= dgelu_ref(aux[ai]);
                if (gc->epi == CLVIT_EPI_GELU || gc->epi == CLVIT_EPI_TANH) {
                    ref_aux[ai] = v;
                    v = gc->epi == CLVIT_EPI_GELU ? gelu_ref(v) : tanh(v);
                }
                ref[ci] = v;
            }
    cl_mem da, db, dc, dbias, daux, drs;
    assert_int_equal(clvit_buffer(ctx, m + 4, &drs), 0);
    assert_int_equal(clvit_write(ctx, drs, 0, rs, m + 4), 0);
    assert_int_equal(clvit_buffer(ctx, na, &da), 0);
    assert_int_equal(clvit_buffer(ctx, nbf, &db), 0);
    assert_int_equal(clvit_buffer(ctx, nc, &dc), 0);
    assert_int_equal(clvit_buffer(ctx, bias_off + n, &dbias), 0);
    assert_int_equal(clvit_buffer(ctx, naux, &daux), 0);
    assert_int_equal(clvit_write(ctx, da, 0, a, na), 0);
    assert_int_equal(clvit_write(ctx, db, 0, b, nbf), 0);
    assert_int_equal(clvit_write(ctx, dc, 0, c, nc), 0);
    assert_int_equal(clvit_write(ctx, dbias, 0, bias, bias_off + n), 0);
    assert_int_equal(clvit_write(ctx, daux, 0, aux, naux), 0);
    const clvit_gemm_op op = {.ta = gc->ta,
                              .tb = gc->tb,
                              .m = m,
                              .n = n,
                              .k = k,
                              .alpha = gc->alpha,
                              .beta = gc->beta,
                              .a = CLVIT_T(da, a_off),
                              .b = CLVIT_T(db, b_off),
                              .c = CLVIT_T(dc, c_off),
                              .lda = lda,
                              .ldb = ldb,
                              .ldc = ldc,
                              .batch = nb,
                              .sa = sa,
                              .sb = sb,
                              .sc = sc,
                              .epi = (clvit_epilogue)gc->epi,
                              .bias = CLVIT_T(dbias, bias_off),
                              .aux = CLVIT_T(daux, aux_off),
                              .ldaux = ldc,
                              .rowsum = CLVIT_T(gc->rowsum ? drs : NULL, 4)};
    clvit_status st =
        cand < 0 ? clvit_gemm_run(ctx, "test", &op) : clvit_gemm_launch(ctx, "test", &op, cand);
    int ok = -1;
    if (cand >= 0 && st == CL_INVALID_WORK_GROUP_SIZE) {
        /* the kernel's own limit, known once it is built, is below the candidate's work-group
         * (rusticl llvmpipe: 32 for every kernel): the tuner skips such a candidate too */
        printf("  skipped: %s\n", clvit_last_error());
    } else {
        if (st) printf("  %s\n", clvit_last_error());
        assert_int_equal(st, 0);
        assert_int_equal(clvit_read(ctx, dc, 0, got, nc), 0);
        assert_int_equal(clvit_read(ctx, daux, 0, got_aux, naux), 0);
        assert_int_equal(clvit_read(ctx, drs, 0, got_rs, m + 4), 0);
        ok = tu_allclose("C", got, ref, nc, ATOL, RTOL) &&
             tu_allclose("aux", got_aux, ref_aux, naux, ATOL, RTOL) &&
             tu_allclose("rowsum", got_rs, ref_rs, m + 4, ATOL, RTOL);
        if (!ok)
            printf("  failed: %s ta=%d tb=%d epi=%d %zux%zux%zu batch %zu alpha %g beta %g\n",
                   cand < 0 ? "plan" : clvit_gemm_cands[cand].name, gc->ta, gc->tb, gc->epi, m, n,
                   k, nb, gc->alpha, gc->beta);
    }
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    clReleaseMemObject(dbias);
    clReleaseMemObject(daux);
    clReleaseMemObject(drs);
    free(rs), free(got_rs), free(ref_rs);
    free(a), free(b), free(c), free(bias), free(aux), free(got), free(got_aux), free(ref),
        free(ref_aux);
    return ok;
}

static int run_case(clvit_ctx *ctx, const gemm_case *gc, int cand) {
    return run_case_ex(ctx, gc, cand, 0);
}

static int run_case_dense(clvit_ctx *ctx, const gemm_case *gc, int cand) {
    return run_case_ex(ctx, gc, cand, 1);
}

/* Every candidate, on odd sizes (edge tiles), padded leading dimensions and offsets: the four
 * transpose cases, each with another epilogue, so that every candidate runs every epilogue
 * and beta 0 and 1; whole tiles; a batched product. Each (candidate, transpose, epilogue) is
 * one program build, so the cases share builds where they can: a cold run builds five
 * programs per candidate. CLBlast has no epilogues of its own (clvit's element-wise kernels
 * finish them) and is run on the plain products. */
static void test_candidates(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    int failures = 0, runs = 0, skipped = 0;
    for (int c = 0; clvit_gemm_cands[c].name; c++) {
        if (!clvit_gemm_cand_fits(ctx, &clvit_gemm_cands[c])) continue;
        const int clblast = clvit_gemm_cands[c].kind == GEMM_CLBLAST;
        const gemm_case cases[] = {
            {0, 0, CLVIT_EPI_NONE, 37, 45, 29, 1, 0.75f, 1.0f, 0},
            {0, 0, CLVIT_EPI_DGELU, 64, 64, 70, 1, 1.0f, 0.0f, 0}, /* whole tiles */
            {0, 1, CLVIT_EPI_GELU, 37, 45, 29, 1, 0.75f, 0.0f, 0},
            {0, 1, CLVIT_EPI_GELU, 17, 19, 16, 3, 0.5f, 0.0f, 0}, /* batched */
            {1, 0, CLVIT_EPI_RESIDUAL, 37, 45, 29, 1, 1.0f, 1.0f, 1},
            {1, 0, CLVIT_EPI_NONE, 40, 36, 33, 1, 1.0f, 0.0f, 1}, /* dW and db, beta 0 */
            {1, 1, CLVIT_EPI_TANH, 37, 45, 29, 1, 1.0f, 0.0f, 0},
            {0, 1, CLVIT_EPI_BIAS, 33, 50, 24, 1, 1.0f, 1.0f, 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            gemm_case gc = cases[i];
            if (clblast) {
                if (gc.epi == CLVIT_EPI_GELU && gc.batch > 1) continue;
                gc.epi = CLVIT_EPI_NONE;
            }
            if (gc.rowsum && gc.alpha != 1.0f) continue;
            const int r = run_case(ctx, &gc, c);
            if (r < 0) {
                skipped++;
                break; /* the same work-group for every case of this candidate */
            }
            failures += !r, runs++;
        }
    }
    /* CLBlast followed by clvit's epilogue kernels (the dense, unbatched case they support) */
    const int cb = clvit_gemm_cand_find("clblast");
    for (int e = CLVIT_EPI_BIAS; e <= CLVIT_EPI_DGELU; e++) {
        gemm_case gc = {0, 1, e, 37, 45, 29, 1, 1.0f, 0.0f, 0};
        failures += run_case_dense(ctx, &gc, cb) != 1, runs++;
    }
    printf("  %d GEMM runs, %d failures, %d candidates skipped for the kernel's work-group limit\n",
           runs, failures, skipped);
    assert_int_equal(failures, 0);
    assert_true(runs >= 40); /* at least the CLBlast cases and four clvit candidates ran */
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void find_plan(const char *dir, char *out, size_t size) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/gemm-plan-*.txt 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    out[0] = '\0';
    if (p) {
        if (fgets(out, (int)size, p)) out[strcspn(out, "\n")] = '\0';
        pclose(p);
    }
}

/* The plan: tuned on first use and written; reused; corrupt files are rebuilt; the variable
 * turns tuning off. Results through the plan are checked like the candidates'. */
static void test_plan(void **state) {
    (void)state;
    char dir[] = "/tmp/clvit_plan_XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("CLVIT_CACHE_DIR", dir, 1);
    unsetenv("CLVIT_GEMM_TUNE");
    clvit_ctx *ctx;
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    gemm_case g1 = {0, 1, CLVIT_EPI_GELU, 40, 24, 16, 1, 1.0f, 0.0f, 0};
    gemm_case g2 = {1, 0, CLVIT_EPI_NONE, 24, 16, 40, 1, 1.0f, 1.0f, 1};
    assert_true(run_case(ctx, &g1, -1));
    assert_true(run_case(ctx, &g2, -1));
    assert_true(run_case(ctx, &g1, -1)); /* same shape: from memory */
    clvit_ctx_free(ctx);
    char path[600];
    find_plan(dir, path, sizeof path);
    assert_true(path[0] != '\0');
    assert_int_equal(count_lines(path), 3); /* header + two shapes */
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    /* reused: a new context neither tunes nor rewrites it */
    sleep(1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    assert_true(run_case(ctx, &g1, -1));
    assert_true(run_case(ctx, &g2, -1));
    clvit_ctx_free(ctx);
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st1.st_mtime == st2.st_mtime);
    /* corrupt: ignored and rebuilt whole */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# clvit GEMM plan 2\n0 1 40 24 16 1 no_such_kernel 3.0 quick\n", f);
    fclose(f);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    assert_true(run_case(ctx, &g1, -1));
    clvit_ctx_free(ctx);
    assert_int_equal(count_lines(path), 2);
    char *text = clvit_read_file(path, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "no_such_kernel"));
    free(text);
    /* CLVIT_GEMM_TUNE=0: a new shape runs on the default kernel and nothing is written */
    setenv("CLVIT_GEMM_TUNE", "0", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    gemm_case g3 = {0, 0, CLVIT_EPI_RESIDUAL, 9, 31, 13, 1, 1.0f, 0.0f, 0};
    assert_true(run_case(ctx, &g3, -1));
    gemm_case g3t = {0, 1, CLVIT_EPI_GELU, 9, 31, 13, 1, 1.0f, 0.0f, 0}; /* NT's default */
    assert_true(run_case(ctx, &g3t, -1));
    gemm_case g3k = {0, 0, CLVIT_EPI_BIAS, 9, 31, 0, 1, 1.0f, 1.0f, 0}; /* K = 0: epi(beta C) */
    assert_true(run_case(ctx, &g3k, -1));
    clvit_ctx_free(ctx);
    assert_int_equal(count_lines(path), 2);
    /* no candidate timed (here: none named): the default kernel runs, nothing is recorded */
    unsetenv("CLVIT_GEMM_TUNE");
    setenv("CLVIT_GEMM_CANDIDATES", "no_such_kernel", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    gemm_case g4 = {1, 0, CLVIT_EPI_NONE, 11, 23, 19, 1, 1.0f, 0.0f, 1};
    assert_true(run_case(ctx, &g4, -1));
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_GEMM_CANDIDATES");
    assert_int_equal(count_lines(path), 2);
    /* a bad value is one clear error */
    setenv("CLVIT_GEMM_TUNE", "sometimes", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    cl_mem buf;
    assert_int_equal(clvit_buffer(ctx, 64, &buf), 0);
    clvit_status st =
        clvit_gemm(ctx, "t", 0, 0, 4, 4, 4, 1.0f, buf, 0, 4, buf, 16, 4, 0.0f, buf, 32, 4);
    assert_int_equal(st, CLVIT_ERR_INVALID_ARG);
    assert_non_null(strstr(clvit_last_error(), "CLVIT_GEMM_TUNE"));
    clReleaseMemObject(buf);
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_GEMM_TUNE");
    remove(path);
    rmdir(dir);
}

/* gemm_ln: C = A B^T + bias + R and L = LayerNorm(C) against double references, with padded
 * rows and non-zero offsets. LayerNorm tolerance: L is C's deviation scaled by rstd, so C's
 * error (above) is multiplied by rstd * |w| (<= about 3 here); 1e-3 absolute and relative. */
static int run_ln_case(clvit_ctx *ctx, size_t m, size_t n, size_t k) {
    const size_t lda = k + 3, ldb = k + 1, ldc = n + 2, ldr = n + 5, ldl = n + 1;
    const size_t ao = 7, bo = 3, co = 5, ro = 2, lo = 9, so = 4, wo = 1, bbo = 1 + n + 2;
    const size_t na = ao + m * lda, nb = bo + n * ldb, nc = co + m * ldc, nr = ro + m * ldr,
                 nl = lo + m * ldl, ns = so + m, np = bbo + n;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *r = malloc(nr * sizeof *r),
          *bias = malloc((n + 1) * sizeof *bias), *p = malloc(np * sizeof *p),
          *c = calloc(nc, sizeof *c), *l = calloc(nl, sizeof *l), *mu = calloc(ns, sizeof *mu),
          *rs = calloc(ns, sizeof *rs);
    double *rc = calloc(m * n, sizeof *rc), *rl = calloc(m * n, sizeof *rl),
           *rmu = calloc(m, sizeof *rmu), *rrs = calloc(m, sizeof *rrs);
    uint64_t rng = 7 + m * 31 + n * 5 + k;
    tu_fill_uniform(a, na, &rng, -1.0f, 1.0f);
    tu_fill_uniform(b, nb, &rng, -1.0f, 1.0f);
    tu_fill_uniform(r, nr, &rng, -1.0f, 1.0f);
    tu_fill_uniform(bias, n + 1, &rng, -1.0f, 1.0f);
    tu_fill_uniform(p, np, &rng, -1.5f, 1.5f);
    for (size_t i = 0; i < m; i++) {
        double s = 0.0, q = 0.0;
        for (size_t j = 0; j < n; j++) {
            double v = bias[1 + j] + r[ro + i * ldr + j];
            for (size_t t = 0; t < k; t++)
                v += (double)a[ao + i * lda + t] * b[bo + j * ldb + t];
            rc[i * n + j] = v;
            s += v;
        }
        rmu[i] = s / (double)n;
        for (size_t j = 0; j < n; j++)
            q += (rc[i * n + j] - rmu[i]) * (rc[i * n + j] - rmu[i]);
        rrs[i] = 1.0 / sqrt(q / (double)n + 1e-6);
        for (size_t j = 0; j < n; j++)
            rl[i * n + j] = (rc[i * n + j] - rmu[i]) * rrs[i] * p[wo + j] + p[bbo + j];
    }
    cl_mem da, db, dr, dbias, dp, dc, dl, ds;
    assert_int_equal(clvit_buffer(ctx, na, &da), 0);
    assert_int_equal(clvit_buffer(ctx, nb, &db), 0);
    assert_int_equal(clvit_buffer(ctx, nr, &dr), 0);
    assert_int_equal(clvit_buffer(ctx, n + 1, &dbias), 0);
    assert_int_equal(clvit_buffer(ctx, np, &dp), 0);
    assert_int_equal(clvit_buffer(ctx, nc, &dc), 0);
    assert_int_equal(clvit_buffer(ctx, nl, &dl), 0);
    assert_int_equal(clvit_buffer(ctx, 2 * ns, &ds), 0); /* mean, then rstd */
    assert_int_equal(clvit_write(ctx, da, 0, a, na), 0);
    assert_int_equal(clvit_write(ctx, db, 0, b, nb), 0);
    assert_int_equal(clvit_write(ctx, dr, 0, r, nr), 0);
    assert_int_equal(clvit_write(ctx, dbias, 0, bias, n + 1), 0);
    assert_int_equal(clvit_write(ctx, dp, 0, p, np), 0);
    assert_int_equal(clvit_write(ctx, dc, 0, c, nc), 0);
    assert_int_equal(clvit_write(ctx, dl, 0, l, nl), 0);
    const clvit_gemm_op op = {.ta = 0,
                              .tb = 1,
                              .m = m,
                              .n = n,
                              .k = k,
                              .alpha = 1.0f,
                              .beta = 0.0f,
                              .a = CLVIT_T(da, ao),
                              .b = CLVIT_T(db, bo),
                              .c = CLVIT_T(dc, co),
                              .lda = lda,
                              .ldb = ldb,
                              .ldc = ldc,
                              .batch = 1,
                              .epi = CLVIT_EPI_RESIDUAL,
                              .bias = CLVIT_T(dbias, 1),
                              .aux = CLVIT_T(dr, ro),
                              .ldaux = ldr};
    const clvit_ln_out ln = {CLVIT_T(dl, lo),
                             CLVIT_T(ds, so),
                             CLVIT_T(ds, ns + so),
                             CLVIT_T(dp, wo),
                             CLVIT_T(dp, bbo),
                             ldl,
                             1e-6f};
    assert_true(clvit_gemm_ln_fits(&op));
    const clvit_status st = clvit_gemm_ln(ctx, "ln", &op, &ln);
    if (st) printf("gemm_ln %zux%zux%zu: %s\n", m, n, k, clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, dc, 0, c, nc), 0);
    assert_int_equal(clvit_read(ctx, dl, 0, l, nl), 0);
    assert_int_equal(clvit_read(ctx, ds, so, mu, m), 0);
    assert_int_equal(clvit_read(ctx, ds, ns + so, rs, m), 0);
    int bad = 0;
    for (size_t i = 0; i < m; i++) {
        bad += !(fabs(mu[i] - rmu[i]) <= 1e-4 + 1e-4 * fabs(rmu[i]));
        bad += !(fabs(rs[i] - rrs[i]) <= 1e-3 * fabs(rrs[i]));
        for (size_t j = 0; j < n; j++) {
            const double ec = rc[i * n + j], el = rl[i * n + j];
            bad += !(fabs(c[co + i * ldc + j] - ec) <= ATOL + RTOL * fabs(ec));
            bad += !(fabs(l[lo + i * ldl + j] - el) <= 1e-3 + 1e-3 * fabs(el));
        }
        /* the padding between rows stays untouched (zero) */
        for (size_t j = n; j < ldc && co + i * ldc + j < nc; j++)
            bad += c[co + i * ldc + j] != 0.0f;
        for (size_t j = n; j < ldl && lo + i * ldl + j < nl; j++)
            bad += l[lo + i * ldl + j] != 0.0f;
    }
    if (bad) printf("gemm_ln %zux%zux%zu: %d values off\n", m, n, k, bad);
    cl_mem all[] = {da, db, dr, dbias, dp, dc, dl, ds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clReleaseMemObject(all[i]);
    free(a), free(b), free(r), free(bias), free(p), free(c), free(l), free(mu), free(rs);
    free(rc), free(rl), free(rmu), free(rrs);
    return bad;
}

static void test_gemm_ln(void **state) {
    (void)state;
    clvit_ctx *ctx = tu_ctx();
    /* row counts around MR (4 for N <= 64, 2 to 128, 1 above), rows that are whole vectors
     * (N a multiple of 16) or not, K below, at and around the vector width 16; five programs
     * (NMAX 16, 64, 112, 128, 256) */
    static const size_t shapes[][3] = {{1, 1, 1},     {5, 3, 7},   {4, 16, 16},   {9, 64, 64},
                                       {50, 64, 128}, {7, 61, 33}, {13, 100, 80}, {3, 128, 40},
                                       {6, 250, 17},  {5, 256, 15}};
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        bad += run_ln_case(ctx, shapes[i][0], shapes[i][1], shapes[i][2]);
    assert_int_equal(bad, 0);
    /* what it refuses: N past the limit, beta, a transposed A, another epilogue */
    clvit_gemm_op op = {.tb = 1,
                        .m = 2,
                        .n = CLVIT_GEMM_LN_NMAX + 1,
                        .k = 4,
                        .alpha = 1.0f,
                        .batch = 1,
                        .epi = CLVIT_EPI_RESIDUAL};
    assert_false(clvit_gemm_ln_fits(&op));
    op.n = 8;
    assert_true(clvit_gemm_ln_fits(&op));
    op.beta = 1.0f;
    assert_false(clvit_gemm_ln_fits(&op));
    op.beta = 0.0f, op.ta = 1;
    assert_false(clvit_gemm_ln_fits(&op));
    op.ta = 0, op.epi = CLVIT_EPI_BIAS;
    assert_false(clvit_gemm_ln_fits(&op));
    cl_mem buf;
    assert_int_equal(clvit_buffer(ctx, 256, &buf), 0);
    op = (clvit_gemm_op){.tb = 1,
                         .m = 2,
                         .n = 300,
                         .k = 4,
                         .alpha = 1.0f,
                         .batch = 1,
                         .epi = CLVIT_EPI_RESIDUAL,
                         .a = CLVIT_T(buf, 0),
                         .b = CLVIT_T(buf, 0),
                         .c = CLVIT_T(buf, 0),
                         .lda = 4,
                         .ldb = 4,
                         .ldc = 300,
                         .bias = CLVIT_T(buf, 0),
                         .aux = CLVIT_T(buf, 0),
                         .ldaux = 300};
    const clvit_ln_out ln = {CLVIT_T(buf, 0),
                             CLVIT_T(buf, 0),
                             CLVIT_T(buf, 0),
                             CLVIT_T(buf, 0),
                             CLVIT_T(buf, 0),
                             300,
                             1e-6f};
    assert_int_equal(clvit_gemm_ln(ctx, "ln", &op, &ln), CLVIT_ERR_INVALID_ARG);
    assert_non_null(strstr(clvit_last_error(), "no fused LayerNorm"));
    clReleaseMemObject(buf);
}

/* The plan's LayerNorm-fusion lines ("ln M N K fused|apart us"): parsed, a malformed one
 * discards the file; a measured choice is written and read back by a new context, an unmeasured
 * one stays in memory. */
static void test_plan_ln(void **state) {
    (void)state;
    const char *head = "# clvit GEMM plan 2\n0 1 40 24 16 1 vn_6x32 3.0 quick\n";
    char text[256];
    snprintf(text, sizeof text, "%sln 5 64 64 fused 3.5\nln 5 64 128 apart 4\n", head);
    assert_int_equal(clvit_gemm_plan_parse_text(text), 3);
    static const char *bad[] = {"ln 5 64 64 maybe 3.5\n", "ln 5 0 64 fused 1\n",
                                "ln 5 64 64 fused\n", "ln 5 64 64 fused -1\n",
                                "ln 5 64 64 fused 1 x\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s", head, bad[i]);
        assert_int_equal(clvit_gemm_plan_parse_text(text), -1);
    }
    char dir[] = "/tmp/clvit_plan_ln_XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("CLVIT_CACHE_DIR", dir, 1);
    unsetenv("CLVIT_GEMM_TUNE");
    clvit_ctx *ctx;
    int fused;
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    assert_int_equal(clvit_gemm_plan_ln_get(ctx, 5, 64, 64, &fused), 0);
    assert_int_equal(fused, -1);
    assert_int_equal(clvit_gemm_plan_ln_put(ctx, 5, 64, 64, 1, 12.0, 1), 0);
    assert_int_equal(clvit_gemm_plan_ln_put(ctx, 7, 64, 64, 0, -1.0, 1), 0);
    assert_int_equal(clvit_gemm_plan_ln_get(ctx, 5, 64, 64, &fused), 0);
    assert_int_equal(fused, 1);
    assert_int_equal(clvit_gemm_plan_ln_get(ctx, 7, 64, 64, &fused), 0);
    assert_int_equal(fused, 0);
    clvit_ctx_free(ctx);
    char path[600];
    find_plan(dir, path, sizeof path);
    char *file = clvit_read_file(path, NULL);
    assert_non_null(file);
    assert_non_null(strstr(file, "\nln 5 64 64 fused 12.0\n"));
    assert_null(strstr(file, "ln 7 "));
    free(file);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), 0);
    assert_int_equal(clvit_gemm_plan_ln_get(ctx, 5, 64, 64, &fused), 0);
    assert_int_equal(fused, 1);
    assert_int_equal(clvit_gemm_plan_ln_get(ctx, 7, 64, 64, &fused), 0);
    assert_int_equal(fused, -1);
    clvit_ctx_free(ctx);
    remove(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_gemm_ln),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_plan_ln),
    };
    /* e.g. CLVIT_TEST_FILTER=test_gemm_ln */
    if (getenv("CLVIT_TEST_FILTER")) cmocka_set_test_filter(getenv("CLVIT_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
