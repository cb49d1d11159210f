/*
 * gemm_plan.h - the GEMM candidates (lib/gemm.c) and the per-device plan that says which
 * one runs each shape (lib/gemm_plan.c).
 */
#ifndef CLVIT_GEMM_PLAN_H
#define CLVIT_GEMM_PLAN_H

#include "device.h"

enum { GEMM_VN, GEMM_DOT, GEMM_LOCAL, GEMM_PACK_VN, GEMM_CLBLAST };

/* One candidate: a kernel of cl/gemm.cl and its -D parameters, or CLBlast. */
typedef struct clvit_gemm_cand {
    const char *name;
    int kind;
    int mr, vw, nv, nr; /* vn: MR x VW*NV; dot: MR x NR, VW along K; local: WM x WN (mr, nr) */
    int lx, ly, bk;     /* work-group size; local: TX, TY and the K tile BK */
    int quick_cpu, quick_gpu; /* timed at first use on CPUs / GPUs (others: deep tuning only) */
} clvit_gemm_cand;

extern const clvit_gemm_cand clvit_gemm_cands[]; /* ends with a NULL name */
int clvit_gemm_cand_find(const char *name);
/* Writes the build options of candidate c for a product (ta, tb, epi); returns snprintf's. */
int clvit_gemm_cand_options(const clvit_gemm_cand *c, int ta, int tb, int epi, char *buf,
                            size_t size);
/* Whether the device's work-group and local-memory limits allow candidate c. */
int clvit_gemm_cand_fits(const clvit_ctx *ctx, const clvit_gemm_cand *c);
/* Runs op with candidate `cand` (an index into clvit_gemm_cands). */
clvit_status clvit_gemm_launch(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                               int cand);

/* The candidate for op's shape: from the plan, else measured now (then added to the plan
 * and written to disk), else the device class's default. */
clvit_status clvit_gemm_plan_choose(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                                    int *cand);
/* The plan's choice for the LayerNorm after a residual Linear (M, N, K): *fused 1 (one launch,
 * clvit_gemm_ln), 0 (apart) or -1 (not measured yet). */
clvit_status clvit_gemm_plan_ln_get(clvit_ctx *ctx, size_t m, size_t n, size_t k, int *fused);
/* Records that choice: measured (us >= 0: the faster way's microseconds), or not (us < 0: kept
 * for this context only, never written); save: write the plan to disk now. */
clvit_status clvit_gemm_plan_ln_put(clvit_ctx *ctx, size_t m, size_t n, size_t k, int fused,
                                    double us, int save);
/* The tuning mode CLVIT_GEMM_TUNE selects: 0 off, 1 quick, 2 deep. */
clvit_status clvit_gemm_plan_mode(clvit_ctx *ctx, int *mode);
/* Frees the plan (clvit_ctx_free). */
void clvit_gemm_plan_free(clvit_ctx *ctx);
/* Parses the text of a plan file as loading it does, without a device (tests, fuzzing): the
 * number of distinct shapes it holds, or -1 when the whole file would be discarded. */
int clvit_gemm_plan_parse_text(const char *text);

#endif
